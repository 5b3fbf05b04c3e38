//! A read-only loop device over one byte range of a file, detached on drop.
//!
//! wimlib opens WIMs by path only (no read callback), so a WIM inside an ISO is handed to it as
//! `/dev/loopN` mapping exactly the file's bytes: wimlib reads block devices like files (tested
//! with wiminfo / wimapply / wimverify). Needs root (loop devices), like writing a target disk.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct LoopDevice {
    path: PathBuf,
}

impl LoopDevice {
    /// Map `[offset, offset + len)` of `file`. The kernel sizes loop devices in 512-byte
    /// sectors and would cut a partial last sector (and with it the WIM's XML at the end), so
    /// the length is rounded up: the few extra bytes come from the ISO's sector padding and
    /// wimlib ignores them.
    pub fn map(file: &Path, offset: u64, len: u64) -> Result<LoopDevice> {
        Self::map_with(file, offset, len, true)
    }

    /// Map `[offset, offset + len)` of `file` (an image file or a whole disk) read-write: how
    /// `wtg create` hands one partition to mkntfs, wimlib and ntfs-3g before any partition
    /// table exists. `len` must be a multiple of 512.
    pub fn map_rw(file: &Path, offset: u64, len: u64) -> Result<LoopDevice> {
        if len % 512 != 0 {
            bail!("{}: length {len} is not a multiple of 512", file.display());
        }
        Self::map_with(file, offset, len, false)
    }

    fn map_with(file: &Path, offset: u64, len: u64, read_only: bool) -> Result<LoopDevice> {
        if offset % 512 != 0 {
            bail!(
                "{}: offset {offset} is not a multiple of 512, cannot map it as a loop device",
                file.display()
            );
        }
        let sizelimit = len.div_ceil(512) * 512;
        let mut cmd = Command::new("losetup");
        if read_only {
            cmd.arg("--read-only");
        }
        let out = cmd
            .args(["--find", "--show", "--offset"])
            .arg(offset.to_string())
            .arg("--sizelimit")
            .arg(sizelimit.to_string())
            .arg(file)
            .output()
            .context("running losetup (util-linux)")?;
        if !out.status.success() {
            bail!(
                "losetup could not map {} (offset {offset}, {sizelimit} bytes; loop devices need root): {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if !path.starts_with("/dev/") {
            bail!("losetup printed no device: {:?}", String::from_utf8_lossy(&out.stdout));
        }
        Ok(LoopDevice { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A detached loop device that is still open (e.g. by an ntfs-3g process exiting after its
    /// unmount) goes away only at its last close: wait for that, up to 5 s, so the device is
    /// really free when we return.
    fn wait_gone(&self) {
        let Some(name) = self.path.file_name() else {
            return;
        };
        let backing = Path::new("/sys/block").join(name).join("loop/backing_file");
        for _ in 0..50 {
            if !backing.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        // Best effort: a failure leaves a read-only loop device behind, named in the message.
        match Command::new("losetup").arg("--detach").arg(&self.path).status() {
            Ok(s) if s.success() => self.wait_gone(),
            _ => eprintln!("polyboot: warning: could not detach {}", self.path.display()),
        }
    }
}
