//! guid (in progress).
