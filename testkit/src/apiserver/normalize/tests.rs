//! One test per kind: what a real server stored for what was sent (transcript 15 where it has the kind).
