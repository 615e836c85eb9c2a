//! The operator SIGKILLed in the middle of a delete-backup and of a restore on create.
