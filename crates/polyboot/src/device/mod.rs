//! Target inspection and safety checks for destructive commands.
//!
//! `polyboot install` (and later `wtg`) erase their TARGET. Before touching it they call
//! [`check_erasable`], which works out what TARGET is — an image file or a whole block
//! device — reads what the kernel knows about it from sysfs and `/proc`, and refuses anything
//! that could be the wrong disk: partitions, mounted or in-use disks, the disk holding `/`,
//! and, unless `--force`, fixed internal disks. Then [`confirm_erase`] shows the user what
//! is about to be destroyed and asks for a typed "yes".
//!
//! Every filesystem root is injectable through [`SystemView`], so tests run against fake
//! sysfs / proc / dev trees built in temporary directories.

mod confirm;
mod inspect;
mod mounts;
mod safety;
mod size;

#[cfg(test)]
mod fake;

pub use confirm::{confirm, confirm_erase};
pub use inspect::{inspect_target, DiskInfo, MountInfo, PartitionInfo, Target};
pub use safety::{check_erasable, check_policy, DiskLabel, HeldBy, Policy, SafetyError};
pub use size::{format_size, parse_size, ParseSizeError};

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A block device number, as in `/sys/dev/block/MAJ:MIN` and the mountinfo `maj:min` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevNum {
    pub major: u32,
    pub minor: u32,
}

impl DevNum {
    pub const fn new(major: u32, minor: u32) -> Self {
        DevNum { major, minor }
    }

    /// Splits a Linux `dev_t` (glibc/kernel userspace encoding, as in `major(3)`/`minor(3)`).
    pub fn from_dev_t(dev: u64) -> Self {
        DevNum {
            major: (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32,
            minor: ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32,
        }
    }
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

impl FromStr for DevNum {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (major, minor) = text.trim().split_once(':').ok_or(())?;
        Ok(DevNum { major: major.parse().map_err(|_| ())?, minor: minor.parse().map_err(|_| ())? })
    }
}

/// Serialized as `"8:16"`, the way `lsblk` and sysfs write it.
impl serde::Serialize for DevNum {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where the inspection code finds the kernel's view of the system.
#[derive(Debug, Clone)]
pub struct SystemView {
    /// sysfs, normally `/sys`.
    pub sys_root: PathBuf,
    /// procfs, normally `/proc` (`self/mountinfo` and `swaps` are read).
    pub proc_root: PathBuf,
    /// Device nodes, normally `/dev`: used to name a partition's disk in errors and to
    /// resolve `/dev/...` mount and swap sources.
    pub dev_root: PathBuf,
    /// TEST ONLY — always empty on a real system. Tests cannot create device nodes, so they
    /// create ordinary files and list them here (by canonical path) with the device number
    /// they stand in for. Any path not listed is classified by its real file type and rdev.
    pub fake_block_devices: BTreeMap<PathBuf, DevNum>,
}

impl Default for SystemView {
    fn default() -> Self {
        Self::host()
    }
}

impl SystemView {
    /// The running system: `/sys`, `/proc`, `/dev`.
    pub fn host() -> Self {
        SystemView {
            sys_root: PathBuf::from("/sys"),
            proc_root: PathBuf::from("/proc"),
            dev_root: PathBuf::from("/dev"),
            fake_block_devices: BTreeMap::new(),
        }
    }

    /// If `path` (symlinks followed) is a block device, its device number; `None` for any
    /// other kind of file. Errors if `path` cannot be resolved or stat'ed.
    pub fn block_device_number(&self, path: &Path) -> io::Result<Option<DevNum>> {
        if !self.fake_block_devices.is_empty() {
            if let Some(devnum) = self.fake_block_devices.get(&path.canonicalize()?) {
                return Ok(Some(*devnum));
            }
        }
        real_block_device_number(path)
    }
}

#[cfg(unix)]
fn real_block_device_number(path: &Path) -> io::Result<Option<DevNum>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let metadata = std::fs::metadata(path)?;
    Ok(metadata.file_type().is_block_device().then(|| DevNum::from_dev_t(metadata.rdev())))
}

#[cfg(not(unix))]
fn real_block_device_number(path: &Path) -> io::Result<Option<DevNum>> {
    std::fs::metadata(path).map(|_| None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devnum_parses_prints_and_decodes_dev_t() {
        assert_eq!("8:17\n".parse(), Ok(DevNum::new(8, 17)));
        assert_eq!("259:0".parse::<DevNum>().unwrap().to_string(), "259:0");
        assert!("8".parse::<DevNum>().is_err());
        assert!("a:b".parse::<DevNum>().is_err());
        // makedev(8, 17) and makedev(259, 65536) in the kernel's userspace encoding.
        assert_eq!(DevNum::from_dev_t(0x811), DevNum::new(8, 17));
        assert_eq!(DevNum::from_dev_t(0x1001_0300), DevNum::new(259, 65536));
        assert_eq!(serde_json::to_string(&DevNum::new(8, 16)).unwrap(), "\"8:16\"");
    }

    #[cfg(unix)]
    #[test]
    fn real_probe_says_regular_files_and_directories_are_not_block_devices() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk.img");
        std::fs::write(&file, b"x").unwrap();
        let view = SystemView::host();
        assert_eq!(view.block_device_number(&file).unwrap(), None);
        assert_eq!(view.block_device_number(dir.path()).unwrap(), None);
        assert!(view.block_device_number(&dir.path().join("absent")).is_err());
    }
}
