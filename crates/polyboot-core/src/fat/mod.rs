//! FAT12 / FAT16 / FAT32: every piece of FAT polyboot writes itself lives here.
//!
//! - [`read`]: the read-only reader for untrusted images (an ISO's El Torito `efiboot.img`,
//!   the boot partition as firmware sees it).
//! - [`geometry`]: the boot sector's parameters, checked, and where the FATs, the root
//!   directory and each cluster are.
//! - [`dirent`]: directory entries (short, long-name and their checksum), short-name
//!   generation, timestamps; the named offsets code elsewhere uses instead of raw numbers.
//! - [`listing`]: one directory's slots grouped into entry sets (long-name parts + short entry).
//! - [`write`]: a FAT16 volume for writes whose order the caller controls (the host's
//!   crash-safe `update`): cluster chains, one-sector directory edits, FAT copies.
//!
//! Formatting a new volume is left to the `fatfs` crate and `mkfs.fat` on the host.

use core::fmt;

use crate::block::IoError;

pub mod dirent;
pub mod geometry;
pub mod image;
pub mod listing;
pub mod read;
pub mod write;

pub use geometry::Geometry;
pub use read::{Fat, FatEntry, MAX_DEPTH, MAX_DIR_ENTRIES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FatError {
    Io(IoError),
    /// The boot sector does not describe a usable FAT volume; the text says which field.
    NotFat(&'static str),
    /// A cluster chain leaves the volume, loops, or ends before the file does.
    BadChain(u32),
    NotFound,
    NotADirectory,
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// The volume contradicts itself (found by the writer, which checks before it writes).
    Inconsistent {
        what: &'static str,
        cluster: u32,
    },
    /// Two entries of one directory answer to the same name.
    DuplicateName(alloc::string::String),
    /// Not enough free clusters, or no free directory slots where they are needed.
    NoSpace,
    /// Directory edits meant for one sector write lie in two sectors (a caller's mistake).
    EditsSpanSectors,
}

impl fmt::Display for FatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FatError::Io(e) => write!(f, "{e}"),
            FatError::NotFat(why) => write!(f, "not a FAT file system: {why}"),
            FatError::BadChain(c) => write!(f, "broken cluster chain at cluster {c}"),
            FatError::NotFound => f.write_str("no such file or directory"),
            FatError::NotADirectory => f.write_str("not a directory"),
            FatError::TooLarge { size, limit } => {
                write!(f, "file of {size} bytes is larger than the limit of {limit}")
            }
            FatError::Inconsistent { what, cluster } => write!(f, "{what} (cluster {cluster})"),
            FatError::DuplicateName(name) => write!(f, "two entries are named {name}"),
            FatError::NoSpace => f.write_str("no free space"),
            FatError::EditsSpanSectors => f.write_str("directory edits span two sectors"),
        }
    }
}

crate::block::error_with_io!(FatError);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatType {
    Fat12,
    Fat16,
    Fat32,
}
