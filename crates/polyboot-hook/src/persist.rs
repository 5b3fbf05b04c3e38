//! The persistence backend as a read-write device-mapper device, `/dev/mapper/polyboot-persist`
//! (its table is pure and unit-tested; creating it and looking inside it is guest only).
//!
//! - Plain backend: one dm-linear device [`PERSIST_NAME`] over the backend file's extents.
//! - LUKS2 backend: the same table as `polyboot-persist-raw` ([`crate::crypt::RAW_NAME`]),
//!   then [`crate::crypt::open_luks`] asks the passphrase and maps the decrypted file system
//!   as `polyboot-persist`.
//!
//! Then the file system on it is identified (core `fsprobe`: its label decides what some
//! families are told), and for dracut the two directories its overlay needs are made
//! ([`ensure_overlay_dirs`]).

use crate::dm::{LinearTarget, Table};
use polyboot_core::handoff::PersistenceBackend;
use std::path::Path;

/// `/dev/mapper/polyboot-persist`: what every init family is pointed at.
pub const PERSIST_NAME: &str = "polyboot-persist";

/// The backend's table on the device `major:minor` that starts at byte `base` of the disk:
/// `size / 512` sectors (a tail that is not a whole sector is left out: device-mapper cannot
/// map it, and the extents' last cluster may go on past the file), extents adjacent on the
/// disk merged. The record has been validated ([`polyboot_core::handoff::Handoff::decode`]):
/// the extents are aligned, in order, within the partition, and cover the size.
pub fn backend_table(p: &PersistenceBackend, major: u32, minor: u32, base: u64) -> Table {
    let total = p.size / 512;
    let mut targets: Vec<LinearTarget> = Vec::new();
    for e in &p.extents {
        let start = e.file_offset / 512;
        if start >= total {
            break;
        }
        let length = (e.len / 512).min(total - start);
        if length == 0 {
            break;
        }
        let disk_sector = e.disk_offset.saturating_sub(base) / 512;
        match targets.last_mut() {
            Some(t)
                if t.start + t.length == start
                    && t.disk_sector.map(|d| d + t.length) == Some(disk_sector) =>
            {
                t.length += length
            }
            _ => targets.push(LinearTarget { start, length, disk_sector: Some(disk_sector) }),
        }
    }
    Table { major, minor, targets }
}

/// Whether every extent of the backend lies in `[start, start + size)` of the disk (the data
/// partition, when the kernel lists it: then the table goes through the partition).
pub fn within(p: &PersistenceBackend, start: u64, size: u64) -> bool {
    p.extents.iter().all(|e| {
        e.disk_offset >= start
            && e.disk_offset.saturating_add(e.len.next_multiple_of(512))
                <= start.saturating_add(size)
    })
}

/// Make `/overlayfs` and `/ovlwork` on the backend's file system, which dracut's
/// dmsquash-live-root needs to use it as an overlayfs overlay (`rd.live.overlay=DEV:/overlayfs`
/// and the sibling `../ovlwork`, dmsquash-live-root lines 187-195 in the dracut fixture; it
/// does not make them, and without them it falls back to a RAM overlay after a prompt that
/// waits for Enter). Mounts `device` (type `fstype`, loading its module from the initrd's
/// tree when the kernel does not know it) on `mnt`, creates what is missing, unmounts.
/// Returns what it did.
pub fn ensure_overlay_dirs(
    device: &Path,
    fstype: &str,
    mnt: &Path,
    proc: &Path,
    kernel_release: &str,
) -> Result<String, String> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let known = |fs: &str| {
        std::fs::read_to_string(proc.join("filesystems"))
            .map(|t| t.lines().any(|l| l.split_whitespace().last() == Some(fs)))
            .unwrap_or(false)
    };
    let mut loaded = String::new();
    if !known(fstype) {
        if let Some(dir) = crate::modules::module_dir(Path::new("/"), kernel_release) {
            loaded = crate::modules::load_all(&dir, &[fstype]).join("; ");
        }
    }
    std::fs::create_dir_all(mnt).map_err(|e| format!("{}: {e}", mnt.display()))?;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|e| e.to_string());
    let (src, target, fs) = (c(device)?, c(mnt)?, CString::new(fstype).map_err(|e| e.to_string())?);
    // SAFETY: valid NUL-terminated strings; no data argument.
    let r = unsafe {
        libc::mount(src.as_ptr(), target.as_ptr(), fs.as_ptr(), libc::MS_NOATIME, std::ptr::null())
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        let _ = std::fs::remove_dir(mnt);
        return Err(format!(
            "mount {} ({fstype}): {e}{}",
            device.display(),
            if loaded.is_empty() { String::new() } else { format!(" (modules: {loaded})") }
        ));
    }
    let made = make_overlay_dirs(mnt);
    // SAFETY: valid NUL-terminated path.
    let u = unsafe { libc::umount2(target.as_ptr(), 0) };
    let unmount = (u != 0).then(std::io::Error::last_os_error);
    let _ = std::fs::remove_dir(mnt);
    match (made, unmount) {
        (Ok(m), None) => Ok(m),
        (Ok(_), Some(e)) => Err(format!("unmounting {}: {e}", mnt.display())),
        (Err(e), _) => Err(e),
    }
}

/// The directories dracut's overlayfs persistence expects at the root of the file system
/// mounted at `root`; what was made, for the log.
pub fn make_overlay_dirs(root: &Path) -> Result<String, String> {
    use std::os::unix::fs::DirBuilderExt;
    let mut made = Vec::new();
    for d in ["overlayfs", "ovlwork"] {
        let p = root.join(d);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("/{d} on the backend is not a directory")),
            Err(_) => {
                std::fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&p)
                    .map_err(|e| format!("making /{d} on the backend: {e}"))?;
                made.push(format!("/{d}"));
            }
        }
    }
    Ok(if made.is_empty() {
        String::from("/overlayfs and /ovlwork already there")
    } else {
        format!("made {}", made.join(" and "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyboot_core::handoff::DiskExtent;

    fn backend(size: u64, extents: &[(u64, u64, u64)]) -> PersistenceBackend {
        PersistenceBackend {
            encrypted: false,
            size,
            extents: extents
                .iter()
                .map(|&(file_offset, disk_offset, len)| DiskExtent {
                    file_offset,
                    disk_offset,
                    len,
                })
                .collect(),
            path: "/persistence/live.dat".into(),
        }
    }

    #[test]
    fn the_backend_maps_whole_sectors_read_write_and_merges_neighbours() {
        // Three extents, the first two adjacent on the disk; the last cluster runs on past
        // the file's 3 MiB + 1000 bytes.
        let p = backend(
            (3 << 20) + 1000,
            &[(0, 16 << 20, 1 << 20), (1 << 20, 17 << 20, 1 << 20), (2 << 20, 40 << 20, 2 << 20)],
        );
        let t = backend_table(&p, 8, 1, 1 << 20);
        assert_eq!(t.to_string(), "0 4096 linear 8:1 30720\n4096 2049 linear 8:1 79872\n");
        assert_eq!(t.sectors(), ((3 << 20) + 1000) / 512);
        // On the whole disk, sectors count from its start; no zero target ever.
        let t = backend_table(&p, 8, 0, 0);
        assert!(t.targets.iter().all(|x| x.disk_sector.is_some()));
        assert_eq!(t.targets[0].disk_sector, Some((16 << 20) / 512));
        // A size that ends inside the first extent.
        let t = backend_table(&backend(4096, &[(0, 1 << 20, 1 << 20)]), 8, 0, 0);
        assert_eq!(t.to_string(), "0 8 linear 8:0 2048\n");
    }

    #[test]
    fn within_the_partition_or_not() {
        let p = backend(1 << 20, &[(0, 16 << 20, 1 << 20)]);
        assert!(within(&p, 1 << 20, 100 << 20));
        assert!(within(&p, 1 << 20, 16 << 20), "ends exactly at the partition end");
        assert!(!within(&p, 1 << 20, (16 << 20) - 512));
        assert!(!within(&p, 32 << 20, 100 << 20));
    }

    #[test]
    fn overlay_dirs_are_made_once() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(make_overlay_dirs(d.path()).unwrap(), "made /overlayfs and /ovlwork");
        assert!(d.path().join("overlayfs").is_dir() && d.path().join("ovlwork").is_dir());
        assert_eq!(make_overlay_dirs(d.path()).unwrap(), "/overlayfs and /ovlwork already there");
        std::fs::remove_dir(d.path().join("ovlwork")).unwrap();
        assert_eq!(make_overlay_dirs(d.path()).unwrap(), "made /ovlwork");
        std::fs::remove_dir(d.path().join("ovlwork")).unwrap();
        std::fs::write(d.path().join("ovlwork"), b"x").unwrap();
        assert!(make_overlay_dirs(d.path()).unwrap_err().contains("not a directory"));
    }
}
