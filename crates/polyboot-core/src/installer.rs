//! Which installer an ISO boots, read from its boot entries ([`crate::bootcfg`]), and what an
//! `auto_install` template or a driver update disk needs to reach it: where the file goes in
//! the initramfs (polyboot-hook puts it there before the distribution's `/init` runs) and
//! which kernel parameters point the installer at it (added to the ISO's boot configuration
//! by [`crate::bootcfg::edit`]).
//!
//! What each installer honours (checked against its sources):
//! - Debian installer: the `initrd-preseed` step loads `/preseed.cfg` from the initrd on its
//!   own (`S30initrd-preseed` in Debian 12's netboot initrd), early enough that `auto=true
//!   priority=critical` asks no question the file answers. `file=/preseed.cfg` is not added:
//!   `file-preseed` (and `cdrom-preseed`) would load the same file a second time and run its
//!   `preseed/early_command` twice.
//! - Anaconda: `inst.ks=file:/ks.cfg` reads the kickstart from the initramfs (what
//!   `virt-install --initrd-inject` relies on). Driver update disks: dracut's
//!   `parse-anaconda-dd.sh` writes a plain `inst.dd=/path` to `/tmp/dd_disk`, and
//!   `driver-updates-genrules.sh` processes a path that exists in the initramfs (`[ -f $dd ]`)
//!   at once, without waiting for a device; several `inst.dd=` are all taken.
//! - AutoYaST (linuxrc): `autoyast=file:///autoinst.xml`, a file of the initrd's root, where
//!   linuxrc runs.
//! - Ubuntu's subiquity: cloud-init's NoCloud data source with a local seed,
//!   `ds=nocloud;s=/run/polyboot-nocloud/` (NoCloud accepts seeds starting with `/` or
//!   `file://`), needing `user-data` and a `meta-data` (empty is fine), and `autoinstall` so
//!   that subiquity does not ask for confirmation. GRUB must not see the `;` as a command
//!   separator: the edit quotes that word for GRUB (`'ds=nocloud;s=/run/polyboot-nocloud/'`);
//!   syslinux and systemd-boot pass it as it is. cloud-init runs in the live system after
//!   casper's `switch_root`, where the initramfs is gone but its `/run` is not (initramfs-tools
//!   moves it onto the new root): the seed's targets are under [`RUN_DIR`], which polyboot-hook
//!   carries into the initramfs' `/run` once the init has mounted it (Ventoy builds a CIDATA
//!   disk image instead).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::bootcfg::{BootConfigReport, BootEntry};

/// An installer polyboot knows how to point at an `auto_install` template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Installer {
    /// Red Hat's installer (Fedora, RHEL, CentOS, Rocky, Alma ...).
    Anaconda,
    /// SUSE's linuxrc + YaST with AutoYaST.
    AutoYast,
    /// Ubuntu's server installer (cloud-init autoinstall).
    Subiquity,
    /// debian-installer (Debian, and Ubuntu before 20.04).
    DebianInstaller,
    /// No installer polyboot recognises (a live system, a rescue disk ...).
    Unknown,
}

impl fmt::Display for Installer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Installer::Anaconda => "Anaconda",
            Installer::AutoYast => "AutoYaST",
            Installer::Subiquity => "subiquity (cloud-init autoinstall)",
            Installer::DebianInstaller => "the Debian installer",
            Installer::Unknown => "no known installer",
        })
    }
}

/// A file for the installer: where it goes in the initramfs and the kernel parameters that
/// point the installer at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallerFile {
    /// Absolute path inside the initramfs.
    pub target: String,
    pub params: Vec<String>,
    /// Empty files the installer also needs beside it (cloud-init's `meta-data`).
    pub empty_files: Vec<String>,
}

/// Where the driver update disks go (`N.<ext>` inside).
pub const DUD_DIR: &str = "/polyboot-dud";

/// Targets under this directory are for the booted system's `/run`, not the initramfs root:
/// the init mounts a fresh tmpfs there, so polyboot-hook keeps them aside and copies them in
/// once it is mounted (before the switch to the real root, which keeps it).
pub const RUN_DIR: &str = "/run/";

impl Installer {
    /// Where an `auto_install` template goes and how the installer is pointed at it; `None`
    /// for [`Installer::Unknown`].
    pub fn auto_install(self) -> Option<InstallerFile> {
        let (target, params, empty): (&str, &[&str], &[&str]) = match self {
            Installer::DebianInstaller => {
                ("/preseed.cfg", &["auto=true", "priority=critical"], &[])
            }
            Installer::Anaconda => ("/ks.cfg", &["inst.ks=file:/ks.cfg"], &[]),
            Installer::AutoYast => ("/autoinst.xml", &["autoyast=file:///autoinst.xml"], &[]),
            Installer::Subiquity => (
                "/run/polyboot-nocloud/user-data",
                &["autoinstall", "ds=nocloud;s=/run/polyboot-nocloud/"],
                &["/run/polyboot-nocloud/meta-data"],
            ),
            Installer::Unknown => return None,
        };
        Some(InstallerFile {
            target: String::from(target),
            params: params.iter().map(|p| String::from(*p)).collect(),
            empty_files: empty.iter().map(|p| String::from(*p)).collect(),
        })
    }

    /// Where the `index`-th (0-based) driver update disk, a file on the drive named `path`,
    /// goes and the parameter that loads it: only Anaconda takes them. The extension is kept
    /// (`.iso`, `.img`, `.rpm` are handled differently by Anaconda); anything odd becomes
    /// `.iso`.
    pub fn driver_update(self, index: usize, path: &str) -> Option<InstallerFile> {
        if self != Installer::Anaconda {
            return None;
        }
        let name = path.rsplit(['/', '\\']).next().unwrap_or("");
        let ext = match name.rsplit_once('.') {
            Some((stem, ext))
                if !stem.is_empty()
                    && (1..=8).contains(&ext.len())
                    && ext.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                ext.to_ascii_lowercase()
            }
            _ => String::from("iso"),
        };
        let target = format!("{DUD_DIR}/{index}.{ext}");
        Some(InstallerFile {
            params: alloc::vec![format!("inst.dd={target}")],
            target,
            empty_files: Vec::new(),
        })
    }
}

/// The installer and what gave it away (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub installer: Installer,
    /// The entry and cue that decided (empty for [`Installer::Unknown`]).
    pub cue: String,
}

/// The installer the ISO of `report` boots.
pub fn detect(report: &BootConfigReport) -> Installer {
    detect_entries(&report.entries).installer
}

/// The installer most of `entries` boot (ties: Anaconda, AutoYaST, subiquity, then the
/// Debian installer, the most specific cues first); live and rescue entries count for none.
pub fn detect_entries(entries: &[BootEntry]) -> Detection {
    let mut votes: Vec<(Installer, usize, String)> = Vec::new();
    for e in entries {
        if let Some((installer, cue)) = entry_installer(e) {
            match votes.iter_mut().find(|(i, _, _)| *i == installer) {
                Some(v) => v.1 += 1,
                None => {
                    let title = e.title.as_deref().unwrap_or("an entry");
                    votes.push((installer, 1, format!("{title:?}: {cue}")));
                }
            }
        }
    }
    votes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    match votes.into_iter().next() {
        Some((installer, _, cue)) => Detection { installer, cue },
        None => Detection { installer: Installer::Unknown, cue: String::new() },
    }
}

/// What one entry boots, and why.
fn entry_installer(e: &BootEntry) -> Option<(Installer, String)> {
    let kernel = e.kernel.as_deref()?.to_ascii_lowercase();
    let words: Vec<&str> = e.cmdline.split_whitespace().collect();
    let word = |pred: &dyn Fn(&str) -> bool| words.iter().find(|w| pred(w)).copied();
    let title = e.title.as_deref().unwrap_or("").to_ascii_lowercase();
    let dirs: Vec<&str> = kernel.split('/').filter(|c| !c.is_empty()).collect();
    let in_dir = |pred: &dyn Fn(&str) -> bool| {
        dirs.iter().take(dirs.len().saturating_sub(1)).find(|d| pred(d)).copied()
    };
    // Live systems (dracut's live image, kiwi) boot no installer of their own.
    let live = word(&|w| w.starts_with("root=live:") || w == "rd.live.image" || w == "boot=live");
    let casper = in_dir(&|d| d == "casper").is_some() || word(&|w| w == "boot=casper").is_some();

    if let Some(w) = word(&|w| w.starts_with("inst.") || w == "ks" || w.starts_with("ks=")) {
        return Some((Installer::Anaconda, format!("parameter {w}")));
    }
    // linuxrc's kernel; an openSUSE live system has the same path with a live root.
    let linuxrc = word(&|w| {
        ["install=", "instsys=", "autoyast=", "autoyast2=", "linuxrc"]
            .iter()
            .any(|c| w.starts_with(c))
    });
    if let Some(w) = linuxrc {
        return Some((Installer::AutoYast, format!("parameter {w}")));
    }
    if live.is_none() && dirs.len() >= 3 && dirs[dirs.len() - 2] == "loader" && dirs[0] == "boot" {
        return Some((Installer::AutoYast, format!("kernel {kernel}")));
    }
    if casper {
        if let Some(w) = word(&|w| {
            w == "autoinstall" || w.starts_with("subiquity") || w.starts_with("ds=nocloud")
        }) {
            return Some((Installer::Subiquity, format!("parameter {w}")));
        }
        if title.contains("server") {
            return Some((Installer::Subiquity, format!("casper entry {title:?}")));
        }
        // A desktop live system (ubiquity takes preseeds of its own, not these).
        return None;
    }
    if let Some(d) = in_dir(&|d| d.starts_with("install.") || d == "debian-installer") {
        return Some((Installer::DebianInstaller, format!("kernel in {d}/")));
    }
    // live-build's installer entries: /install/vmlinuz, /install/gtk/vmlinuz.
    if dirs.first() == Some(&"install") && dirs.len() >= 2 {
        return Some((Installer::DebianInstaller, format!("kernel {kernel}")));
    }
    if live.is_none() {
        let di = word(&|w| {
            w.starts_with("priority=")
                || w.starts_with("preseed/")
                || w.starts_with("debian-installer/")
                || w == "auto=true"
        });
        if let Some(w) = di {
            return Some((Installer::DebianInstaller, format!("parameter {w}")));
        }
    }
    None
}

#[cfg(test)]
mod tests;
