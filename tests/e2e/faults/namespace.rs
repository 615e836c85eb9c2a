//! The namespace deleted with an instance in it, and re-created.
