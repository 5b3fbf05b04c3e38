//! An ntfs-3g (FUSE) mount of the applied Windows partition, for the few files `wtg create`
//! reads and writes after the apply (SYSTEM hive, boot files, unattend, drivers). Unmounted on
//! drop; [`NtfsMount::unmount`] reports errors. `fuseblk` mounts of a block device are
//! unmounted synchronously: when `umount` returns, ntfs-3g has written everything.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct NtfsMount {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl NtfsMount {
    pub fn mount(dev: &Path) -> Result<NtfsMount> {
        let dir = tempfile::Builder::new()
            .prefix("polyboot-wtg-")
            .tempdir()
            .context("creating a mount point")?;
        let out = Command::new("ntfs-3g")
            .arg(dev)
            .arg(dir.path())
            .output()
            .context("running ntfs-3g to mount the Windows partition")?;
        if !out.status.success() {
            bail!(
                "ntfs-3g could not mount {} (needs root and /dev/fuse): {}",
                dev.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let path = dir.path().to_path_buf();
        Ok(NtfsMount { dir: Some(dir), path })
    }

    pub fn root(&self) -> &Path {
        &self.path
    }

    pub fn unmount(mut self) -> Result<()> {
        let r = umount(&self.path);
        if r.is_ok() {
            self.dir.take();
        }
        r
    }
}

fn umount(path: &Path) -> Result<()> {
    let out = Command::new("umount").arg(path).output().context("running umount")?;
    if !out.status.success() {
        bail!(
            "could not unmount {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Drop for NtfsMount {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if let Err(e) = umount(&self.path) {
                eprintln!("polyboot: warning: {e:#}");
                // Keep the directory: removing a mounted tree's contents would be a disaster.
                let _ = dir.keep();
            }
        }
    }
}

/// `rel` ("Windows/System32/config/SYSTEM") under `root`, each component matched ignoring
/// ASCII case as Windows does (ntfs-3g looks names up case-sensitively).
pub fn find_ci(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut p = root.to_path_buf();
    for comp in rel.split('/').filter(|c| !c.is_empty()) {
        let exact = p.join(comp);
        if exact.symlink_metadata().is_ok() {
            p = exact;
            continue;
        }
        let found = std::fs::read_dir(&p)
            .ok()?
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_str().is_some_and(|n| n.eq_ignore_ascii_case(comp)))?;
        p = found.path();
    }
    Some(p)
}

/// Create `rel` (directories) under `root`, reusing existing components whatever their case.
pub fn create_dir_ci(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut p = root.to_path_buf();
    for comp in rel.split('/').filter(|c| !c.is_empty()) {
        p = match find_ci(&p, comp) {
            Some(x) => x,
            None => {
                let x = p.join(comp);
                std::fs::create_dir(&x).with_context(|| format!("creating {}", x.display()))?;
                x
            }
        };
    }
    Ok(p)
}
