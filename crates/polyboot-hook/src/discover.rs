//! Finding the polyboot drive among the kernel's block devices: `/sys/block/*` (the root is
//! injectable so tests run on fake trees) gives each disk's size and `major:minor`; the disk
//! is the one whose size equals the hand-off record's and whose first sectors carry its GPT
//! disk GUID or MBR signature.

use polyboot_core::block::{check_range, IoError, ReadAt};
use polyboot_core::gpt::{GptHeader, SectorSize};
use polyboot_core::handoff::{DriveIdentity, Handoff};
use polyboot_core::mbr::Mbr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A whole disk as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDisk {
    /// Kernel name (`sda`).
    pub name: String,
    pub major: u32,
    pub minor: u32,
    pub size_bytes: u64,
    pub logical_block_size: u32,
}

/// List whole disks under `sys_block` (normally `/sys/block`). Entries that cannot be read
/// are skipped; so are loop, ram, device-mapper and zram devices, which cannot be our USB drive.
pub fn list_disks(sys_block: &Path) -> Vec<BlockDisk> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(sys_block) else { return out };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ["loop", "ram", "dm-", "zram", "md"].iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let dir = e.path();
        let read =
            |f: &str| std::fs::read_to_string(dir.join(f)).ok().map(|s| s.trim().to_string());
        let Some((major, minor)) = read("dev").and_then(|d| {
            let (a, b) = d.split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        }) else {
            continue;
        };
        // /sys/block/X/size counts 512-byte units whatever the logical block size.
        let Some(sectors) = read("size").and_then(|s| s.parse::<u64>().ok()) else { continue };
        let lbs = read("queue/logical_block_size").and_then(|s| s.parse().ok()).unwrap_or(512);
        out.push(BlockDisk {
            name,
            major,
            minor,
            size_bytes: sectors.saturating_mul(512),
            logical_block_size: lbs,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A readable block device (or image file) for the identity check.
pub struct FileDev {
    file: File,
    size: u64,
}

impl FileDev {
    pub fn open(path: &Path, size: u64) -> std::io::Result<FileDev> {
        Ok(FileDev { file: File::open(path)?, size })
    }
}

impl ReadAt for FileDev {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.size)?;
        self.file.seek(SeekFrom::Start(offset)).map_err(|e| IoError::Device(e.to_string()))?;
        self.file.read_exact(buf).map_err(|e| IoError::Device(e.to_string()))
    }
}

/// Does the device carry the identity from the hand-off record?
pub fn identity_matches<D: ReadAt + ?Sized>(
    dev: &mut D,
    handoff: &Handoff,
) -> Result<bool, IoError> {
    match handoff.identity {
        DriveIdentity::Gpt(guid) => {
            let Some(ss) = SectorSize::from_bytes(handoff.sector_size as u64) else {
                return Ok(false);
            };
            let mut sector = vec![0u8; ss.bytes() as usize];
            dev.read_at(ss.bytes(), &mut sector)?;
            Ok(GptHeader::parse(&sector).is_ok_and(|h| h.disk_guid == guid))
        }
        DriveIdentity::Mbr(sig) => {
            let mut sector = [0u8; 512];
            dev.read_at(0, &mut sector)?;
            Ok(Mbr::parse(&sector).is_ok_and(|m| m.disk_signature == sig))
        }
    }
}

/// Why a candidate was not taken, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub name: String,
    pub why: String,
}

/// Find the disk described by `handoff`. `dev_dir` holds the device nodes (`/dev`);
/// `open` lets tests map a disk name to an image file.
pub fn find_disk(
    sys_block: &Path,
    handoff: &Handoff,
    mut open: impl FnMut(&BlockDisk) -> std::io::Result<Box<dyn ReadAt>>,
) -> (Option<BlockDisk>, Vec<Rejected>) {
    let mut rejected = Vec::new();
    for d in list_disks(sys_block) {
        let reject = |why: String| Rejected { name: d.name.clone(), why };
        if d.size_bytes != handoff.disk_size {
            rejected.push(reject(format!("size {} is not {}", d.size_bytes, handoff.disk_size)));
            continue;
        }
        match open(&d) {
            Err(e) => rejected.push(reject(format!("cannot open: {e}"))),
            Ok(mut dev) => match identity_matches(&mut *dev, handoff) {
                Ok(true) => return (Some(d), rejected),
                Ok(false) => rejected.push(reject("identity does not match".into())),
                Err(e) => rejected.push(reject(format!("cannot read: {e}"))),
            },
        }
    }
    (None, rejected)
}

/// A partition of a disk as the kernel lists it (`/sys/block/sda/sda1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPartition {
    pub name: String,
    pub major: u32,
    pub minor: u32,
    /// Byte offset on the disk and size.
    pub start: u64,
    pub size: u64,
}

/// The partition of `disk` that starts at byte `offset` (the data partition, from the
/// hand-off record), if the kernel lists it.
pub fn find_partition(sys_block: &Path, disk: &BlockDisk, offset: u64) -> Option<BlockPartition> {
    let rd = std::fs::read_dir(sys_block.join(&disk.name)).ok()?;
    for e in rd.flatten() {
        let dir = e.path();
        let read =
            |f: &str| std::fs::read_to_string(dir.join(f)).ok().map(|s| s.trim().to_string());
        // Partitions are the subdirectories with a `partition` file; sizes count 512 bytes.
        if read("partition").is_none() {
            continue;
        }
        let (Some(start), Some(size)) = (
            read("start").and_then(|s| s.parse::<u64>().ok()),
            read("size").and_then(|s| s.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let Some((major, minor)) = read("dev").and_then(|d| {
            let (a, b) = d.split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        }) else {
            continue;
        };
        if start.checked_mul(512) == Some(offset) {
            let name = e.file_name().to_string_lossy().into_owned();
            return Some(BlockPartition {
                name,
                major,
                minor,
                start: offset,
                size: size.saturating_mul(512),
            });
        }
    }
    None
}

/// Open `/dev/NAME`, creating a node under `dev_dir` from `major:minor` if devtmpfs has
/// not made one (yet).
pub fn open_disk_node(dev_dir: &Path, d: &BlockDisk) -> std::io::Result<Box<dyn ReadAt>> {
    let p = node_path(dev_dir, d)?;
    Ok(Box::new(FileDev::open(&p, d.size_bytes)?))
}

/// The path of a device node for `d`, made with mknod when missing.
pub fn node_path(dev_dir: &Path, d: &BlockDisk) -> std::io::Result<PathBuf> {
    let p = dev_dir.join(&d.name);
    if !p.exists() {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(p.as_os_str().as_bytes())?;
        // SAFETY: valid NUL-terminated path.
        if unsafe {
            libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(d.major, d.minor))
        } != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyboot_core::block::MemDevice;
    use polyboot_core::guid::Guid;
    use polyboot_core::handoff::{DiskExtent, ImageKind};
    use polyboot_core::layout::{
        plan, write_partition_table, BootCode, Identity, LayoutRequest, Scheme,
    };

    const SIZE: u64 = 128 << 20;

    fn disk(scheme: Scheme, seed: u8) -> (MemDevice, DriveIdentity) {
        let req = LayoutRequest::new(
            SIZE,
            SectorSize::B512,
            scheme,
            Identity::from_random_bytes(&core::array::from_fn(|i| {
                (i as u8).wrapping_mul(seed).wrapping_add(1)
            })),
        );
        let p = plan(&req).unwrap();
        let mut dev = MemDevice::new(SIZE as usize);
        write_partition_table(&p, &mut dev, BootCode::Clear).unwrap();
        let id = match scheme {
            Scheme::Gpt => DriveIdentity::Gpt(
                polyboot_core::gpt::read(&mut dev, SectorSize::B512).unwrap().gpt.disk_guid,
            ),
            Scheme::Mbr => DriveIdentity::Mbr(Mbr::parse(&dev.data[..512]).unwrap().disk_signature),
        };
        (dev, id)
    }

    fn handoff(identity: DriveIdentity) -> Handoff {
        Handoff {
            identity,
            disk_size: SIZE,
            sector_size: 512,
            partition_offset: 1 << 20,
            image_kind: ImageKind::Iso,
            image_size: 4096,
            extents: vec![DiskExtent { file_offset: 0, disk_offset: 2 << 20, len: 4096 }],
            persistence: None,
            added_params: String::new(),
            files: Vec::new(),
        }
    }

    fn fake_sys(root: &Path, name: &str, dev: &str, sectors: u64) {
        let d = root.join(name);
        std::fs::create_dir_all(d.join("queue")).unwrap();
        std::fs::write(d.join("dev"), format!("{dev}\n")).unwrap();
        std::fs::write(d.join("size"), format!("{sectors}\n")).unwrap();
        std::fs::write(d.join("queue/logical_block_size"), "512\n").unwrap();
    }

    #[test]
    fn lists_disks_from_a_fake_sys_tree() {
        let t = tempfile::tempdir().unwrap();
        fake_sys(t.path(), "sda", "8:0", 1000);
        fake_sys(t.path(), "loop0", "7:0", 1000);
        fake_sys(t.path(), "vdb", "254:16", 2048);
        std::fs::create_dir(t.path().join("broken")).unwrap();
        let l = list_disks(t.path());
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0],
            BlockDisk {
                name: "sda".into(),
                major: 8,
                minor: 0,
                size_bytes: 512_000,
                logical_block_size: 512
            }
        );
        assert_eq!(l[1].name, "vdb");
        assert!(list_disks(&t.path().join("missing")).is_empty());
    }

    #[test]
    fn finds_the_disk_by_size_and_identity() {
        for scheme in [Scheme::Gpt, Scheme::Mbr] {
            let (ours, id) = disk(scheme, 7);
            let (other_same_size, _) = disk(scheme, 9);
            let t = tempfile::tempdir().unwrap();
            fake_sys(t.path(), "sda", "8:0", 4096); // wrong size
            fake_sys(t.path(), "sdb", "8:16", SIZE / 512); // right size, other identity
            fake_sys(t.path(), "sdc", "8:32", SIZE / 512); // ours
            let h = handoff(id);
            let (found, rejected) = find_disk(t.path(), &h, |d| {
                Ok(Box::new(match d.name.as_str() {
                    "sdb" => other_same_size.clone(),
                    "sdc" => ours.clone(),
                    _ => MemDevice::new(4096 * 512),
                }) as Box<dyn ReadAt>)
            });
            assert_eq!(found.unwrap().name, "sdc", "{scheme:?}");
            assert_eq!(rejected.len(), 2);
            assert!(rejected[0].why.contains("size"));
            assert!(rejected[1].why.contains("identity"));

            let h = handoff(match scheme {
                Scheme::Gpt => DriveIdentity::Gpt(Guid([0x55; 16])),
                Scheme::Mbr => DriveIdentity::Mbr(0x1234_5678),
            });
            let (found, _) =
                find_disk(t.path(), &h, |_| Ok(Box::new(ours.clone()) as Box<dyn ReadAt>));
            assert!(found.is_none());
        }
    }

    #[test]
    fn finds_the_data_partition_by_its_start() {
        let t = tempfile::tempdir().unwrap();
        fake_sys(t.path(), "sda", "8:0", SIZE / 512);
        for (name, dev, start, size) in
            [("sda1", "8:1", 2048u64, 1000u64), ("sda2", "8:2", 4096, 500)]
        {
            let d = t.path().join("sda").join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("partition"), "1\n").unwrap();
            std::fs::write(d.join("dev"), format!("{dev}\n")).unwrap();
            std::fs::write(d.join("start"), format!("{start}\n")).unwrap();
            std::fs::write(d.join("size"), format!("{size}\n")).unwrap();
        }
        let disk = list_disks(t.path()).remove(0);
        let p = find_partition(t.path(), &disk, 1 << 20).unwrap();
        assert_eq!(
            p,
            BlockPartition {
                name: "sda1".into(),
                major: 8,
                minor: 1,
                start: 1 << 20,
                size: 1000 * 512
            }
        );
        assert_eq!(find_partition(t.path(), &disk, 4096 * 512).unwrap().name, "sda2");
        assert_eq!(find_partition(t.path(), &disk, 12345), None);
    }

    #[test]
    fn reads_image_files_through_filedev() {
        let (ours, id) = disk(Scheme::Gpt, 3);
        let t = tempfile::tempdir().unwrap();
        let img = t.path().join("disk.img");
        std::fs::write(&img, &ours.data).unwrap();
        let mut f = FileDev::open(&img, SIZE).unwrap();
        assert!(identity_matches(&mut f, &handoff(id)).unwrap());
        let mut buf = [0u8; 4];
        assert!(f.read_at(SIZE - 2, &mut buf).is_err());
    }
}
