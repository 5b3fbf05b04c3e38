//! mbr (in progress).
