//! exFAT: formatter, reader, writer (in progress).
