//! crc32 (in progress).
