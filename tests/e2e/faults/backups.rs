//! Faults during a backup: mysqld killed while it dumps, the backup volume full.
