//! FAT12 / FAT16 / FAT32: every piece of FAT polyboot writes itself lives here.
//!
//! - [`read`]: the read-only reader for untrusted images (an ISO's El Torito `efiboot.img`,
//!   the boot partition as firmware sees it).
//!
//! Formatting a new volume is left to the `fatfs` crate and `mkfs.fat` on the host.

pub mod read;

pub use read::{Fat, FatEntry, FatError, FatType, MAX_DEPTH, MAX_DIR_ENTRIES};
