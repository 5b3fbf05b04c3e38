//! The FAT32 EFI system partition of a Windows To Go drive: formatted with `mkfs.fat -F 32`
//! (dosfstools) on a loop device over the partition (so the boot sector carries the right
//! hidden-sector count), then filled with the `fatfs` crate.

use crate::drive::io::RegionStream;
use anyhow::{bail, ensure, Context, Result};
use polyboot_core::fat::geometry::BOOT_SECTOR_LEN;
use polyboot_core::fat::{dirent, FatType, Geometry};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

/// Format `dev` (a loop device over exactly the partition) as FAT32.
pub fn format(dev: &Path, sector_size: u64, hidden_sectors: u64, label: &str) -> Result<()> {
    let out = Command::new("mkfs.fat")
        .args(["-F", "32", "-I", "-n", label, "-S"])
        .arg(sector_size.to_string())
        .arg("-h")
        .arg(hidden_sectors.to_string())
        .arg(dev)
        .output()
        .context("running mkfs.fat (dosfstools) to format the ESP")?;
    if !out.status.success() {
        bail!(
            "mkfs.fat could not format the ESP on {}: {}",
            dev.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Files to write: (path with '/' separators, contents).
pub type FileList = Vec<(String, Vec<u8>)>;

/// Write `files` into the FAT file system on `dev` (whole device = the file system),
/// creating directories as needed.
pub fn write_files(dev: &Path, files: &FileList) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .with_context(|| format!("opening {} (ESP)", dev.display()))?;
    let len = std::fs::metadata(dev)
        .map(|m| m.len())
        .ok()
        .filter(|&l| l > 0)
        .map_or_else(|| device_len(&file), Ok)?;
    {
        let fs = fatfs::FileSystem::new(RegionStream::new(&file, 0, len), fatfs::FsOptions::new())
            .context("opening the new ESP (FAT32)")?;
        write_all(&fs.root_dir(), files)?;
        fs.unmount().context("closing the ESP")?;
    }
    repair_dot_entries(&file)?;
    file.sync_all().context("syncing the ESP")?;
    Ok(())
}

fn write_all<T: fatfs::ReadWriteSeek>(root: &fatfs::Dir<'_, T>, files: &FileList) -> Result<()> {
    {
        for (path, data) in files {
            let parts: Vec<&str> = path.split('/').collect();
            let mut dir = String::new();
            for p in &parts[..parts.len() - 1] {
                dir = if dir.is_empty() { p.to_string() } else { format!("{dir}/{p}") };
                if root.open_dir(&dir).is_err() {
                    root.create_dir(&dir).with_context(|| format!("creating {dir} on the ESP"))?;
                }
            }
            let mut f =
                root.create_file(path).with_context(|| format!("creating {path} on the ESP"))?;
            f.truncate()?;
            f.write_all(data).with_context(|| format!("writing {path} on the ESP"))?;
            f.flush()?;
        }
    }
    Ok(())
}

fn device_len(file: &File) -> Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::End(0)).context("sizing the ESP device")
}

/// The `fatfs` crate (0.3.6) writes a long-name entry in front of each new directory's "."
/// and ".." entries; fsck.fat wants "." and ".." in the first two slots. Move them there
/// ([`dirent::move_dot_entries_first`], as for the boot partition, here over FAT32's
/// cluster-chain directories).
fn repair_dot_entries(file: &File) -> Result<()> {
    let mut bs = [0u8; BOOT_SECTOR_LEN];
    file.read_exact_at(&mut bs, 0).context("reading the ESP's boot sector")?;
    let g = Geometry::parse(&bs)
        .ok()
        .filter(|g| g.fat_type == FatType::Fat32)
        .context("the ESP is not the FAT32 file system mkfs.fat wrote")?;
    let cluster_bytes = g.cluster_bytes();
    let next = |c: u32| -> Result<u32> {
        let mut e = [0u8; 4];
        file.read_exact_at(&mut e, g.fat_offset(0) + u64::from(c) * 4)?;
        Ok(u32::from_le_bytes(e) & 0x0FFF_FFFF)
    };
    const E: usize = dirent::ENTRY_SIZE;
    let mut queue = vec![(g.root_cluster, true, false)];
    let mut seen = 0usize;
    while let Some((first, is_root, parent_is_root)) = queue.pop() {
        seen += 1;
        ensure!(seen < 100_000, "ESP directory tree too large or looping");
        let mut c = first;
        let mut first_cluster = true;
        let mut steps = 0;
        while g.is_data_cluster(c) && steps < 65_536 {
            steps += 1;
            let at = g.cluster_offset(c);
            let mut buf = vec![0u8; cluster_bytes as usize];
            file.read_exact_at(&mut buf, at)?;
            if first_cluster && !is_root && dirent::move_dot_entries_first(&mut buf) {
                file.write_all_at(&buf[..4 * E], at)?;
            }
            // On FAT32 a ".." that leads to the root directory holds cluster 0, not the
            // root's cluster (fatfs writes the latter; fsck.fat rejects it).
            if first_cluster
                && parent_is_root
                && buf.len() >= 2 * E
                && &buf[E..E + 2] == b".."
                && buf[E + dirent::ATTR] & dirent::ATTR_DIRECTORY != 0
            {
                buf[E + dirent::CLUSTER_HIGH..E + dirent::CLUSTER_HIGH + 2].fill(0);
                buf[E + dirent::CLUSTER_LOW..E + dirent::CLUSTER_LOW + 2].fill(0);
                file.write_all_at(&buf[E..2 * E], at + E as u64)?;
            }
            first_cluster = false;
            let mut end = false;
            for e in dirent::slots(&buf) {
                if e[dirent::NAME] == dirent::END_OF_DIR {
                    end = true;
                    break;
                }
                if dirent::is_subdirectory(e) {
                    let cl = dirent::first_cluster(e, true);
                    if cl >= 2 {
                        queue.push((cl, false, is_root));
                    }
                }
            }
            if end {
                break;
            }
            c = next(c)?;
        }
    }
    Ok(())
}
