//! exFAT: formatter, reader and writer.
//!
//! Everything goes through [`ReadAt`](crate::block::ReadAt) / [`WriteAt`](crate::block::WriteAt)
//! on the volume itself (a partition [`Slice`](crate::block::Slice)); device offsets in
//! [`Extent`] are bytes from the start of that volume.
//!
//! Memory use is kept small because the firmware boot manager uses the same reader: it keeps
//! only the non-identity mappings of the up-case table, one FAT block and one directory block.
//! The writer additionally keeps the allocation bitmap in memory (one bit per cluster).
//!
//! ```
//! use polyboot_core::block::MemDevice;
//! use polyboot_core::exfat::{format, ExFat, FormatOptions, Timestamp};
//!
//! let mut dev = MemDevice::new(8 << 20);
//! format(&mut dev, &FormatOptions { label: "POLYBOOT".into(), ..Default::default() }).unwrap();
//! let mut fs = ExFat::open(dev).unwrap();
//! let now = Timestamp::from_unix(1_700_000_000);
//! fs.create_dir_all("/iso/linux", now).unwrap();
//! let mut file = fs.create_file("/iso/linux/distro.iso", 100_000, now).unwrap();
//! file.write(&[0xAB; 100_000]).unwrap(); // or stream it in pieces
//! let extents = fs.extents("/iso/linux/distro.iso").unwrap();
//! assert_eq!(extents.len(), 1); // contiguous: one run of bytes on the volume
//! assert_eq!(fs.read_dir("/iso/linux").unwrap()[0].name, "distro.iso");
//! ```
//!
//! Layout of the code:
//! - `boot`: boot sector fields, boot region checksum, main/backup boot region I/O.
//! - `upcase`: up-case table generation, decoding, name hash.
//! - `dirent`: 32-byte directory entries, entry sets and their checksums.
//! - `name`: file name validation, path splitting, UTF-16 decoding.
//! - `time`: exFAT timestamps.
//! - `volume`: opening a volume, FAT chains, directory scanning, the read API.
//! - `bitmap`: the allocation bitmap (which clusters are in use), kept by the writer.
//! - `writer`: allocation, directory updates, the write API.
//! - `format`: the formatter.

mod bitmap;
mod boot;
mod dirent;
mod file;
mod format;
mod name;
mod time;
mod upcase;
mod volume;
mod writer;

#[cfg(test)]
mod tests;

use crate::block::IoError;
use alloc::string::String;
use core::fmt;

pub use file::FileReader;
pub use format::{format, recommended_cluster_size, FormatInfo, FormatOptions};
pub use time::Timestamp;
pub use volume::{CorruptEntrySet, DirEntry, DirListing, ExFat, Extent, Metadata};
pub use writer::FileWriter;

/// File attribute bits (the `FileAttributes` field of a File directory entry).
pub mod attributes {
    pub const READ_ONLY: u16 = 0x01;
    pub const HIDDEN: u16 = 0x02;
    pub const SYSTEM: u16 = 0x04;
    pub const DIRECTORY: u16 = 0x10;
    pub const ARCHIVE: u16 = 0x20;
}

/// Longest file name exFAT can store, in UTF-16 code units.
pub const MAX_NAME_UNITS: usize = 255;
/// Longest volume label, in UTF-16 code units.
pub const MAX_LABEL_UNITS: usize = 11;

/// Everything that can go wrong in the exFAT code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The device failed.
    Io(IoError),
    /// The on-disk structures are inconsistent; the text says what was found.
    Corrupt(String),
    /// A path component does not exist.
    NotFound,
    /// Not enough free clusters; nothing was modified.
    NoSpace,
    /// A directory reached the 256 MiB size limit of exFAT directories.
    DirectoryFull,
    /// A file name or label exFAT cannot store; the text says why.
    InvalidName(&'static str),
    /// A request that cannot be honoured (bad format options, write past the end of a file, ...).
    InvalidArgument(&'static str),
    /// A file or directory with that name (compared case-insensitively) already exists.
    AlreadyExists,
    /// A path component that must be a directory is a file.
    NotADirectory,
    /// The operation needs a file but the path names a directory.
    IsADirectory,
    /// `remove` on a directory that still has entries.
    DirectoryNotEmpty,
}

crate::block::error_with_io!(Error);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Corrupt(what) => write!(f, "corrupt exFAT file system: {what}"),
            Error::NotFound => f.write_str("no such file or directory"),
            Error::NoSpace => f.write_str("not enough free space on the exFAT volume"),
            Error::DirectoryFull => f.write_str("directory reached the exFAT limit of 256 MiB"),
            Error::InvalidName(why) => write!(f, "invalid exFAT name: {why}"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::AlreadyExists => {
                f.write_str("a file or directory with that name already exists")
            }
            Error::NotADirectory => f.write_str("not a directory"),
            Error::IsADirectory => f.write_str("is a directory"),
            Error::DirectoryNotEmpty => f.write_str("directory is not empty"),
        }
    }
}

/// Shorthand for building [`Error::Corrupt`] with a formatted message.
macro_rules! corrupt {
    ($($arg:tt)*) => {
        $crate::exfat::Error::Corrupt(alloc::format!($($arg)*))
    };
}
pub(crate) use corrupt;
