//! Which init system a Linux ISO's initrd runs, read from the kernel command lines its boot
//! configuration passes: that decides how the booted system searches for its medium.

use crate::bootcfg::BootConfigReport;
use alloc::string::String;
use core::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitFamily {
    /// Debian live-boot on initramfs-tools (`boot=live`).
    LiveBoot,
    /// Ubuntu's casper on initramfs-tools (`boot=casper`).
    Casper,
    /// dracut's dmsquash-live (`root=live:…`, `rd.live.image`): Fedora, openSUSE, RHEL family.
    DracutLive,
    /// Arch's mkinitcpio archiso hooks (`archisobasedir=`, `archisolabel=`, `archisosearchuuid=`).
    Archiso,
    /// An initrd with a command line none of the above recognise (installers, custom inits).
    Other,
    /// No Linux kernel with an initrd: nothing to find a medium (iPXE, memtest, EFI tools).
    NoneNeeded,
}

impl InitFamily {
    pub fn describe(self) -> &'static str {
        match self {
            InitFamily::LiveBoot => "live-boot (initramfs-tools)",
            InitFamily::Casper => "casper (initramfs-tools)",
            InitFamily::DracutLive => "dracut dmsquash-live",
            InitFamily::Archiso => "archiso (mkinitcpio)",
            InitFamily::Other => "other / custom init (e.g. an installer)",
            InitFamily::NoneNeeded => "none needed (no Linux initrd)",
        }
    }

    /// Whether polyboot can make this family keep its changes in a persistence backend: the
    /// hook maps the backend and writes the hints live-boot, casper, dracut and archiso read.
    pub fn supports_persistence(self) -> bool {
        matches!(
            self,
            InitFamily::LiveBoot
                | InitFamily::Casper
                | InitFamily::DracutLive
                | InitFamily::Archiso
        )
    }

    /// Whether files can be put into the booted initramfs (`injection`, auto-install
    /// templates, driver update disks): the hook does it in every Linux initrd polyboot
    /// wraps, whatever init runs after it.
    pub fn supports_injection(self) -> bool {
        self != InitFamily::NoneNeeded
    }
}

impl fmt::Display for InitFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Where polyboot-hook maps the persistence backend (plain, or decrypted when it is LUKS2).
pub const PERSISTENCE_DEVICE: &str = "/dev/mapper/polyboot-persist";

/// The kernel parameters the boot manager must add to the image's boot configuration for the
/// family to use the persistence backend: `None` when polyboot has no persistence for the
/// family, `Some("")` when the hook's hints are enough.
///
/// They are enough for all four families, so nothing is added to any boot configuration.
/// Each family reads a file of the initramfs after (or instead of) its command line, and the
/// hook writes there (polyboot-hook's `hints.rs` documents the scripts and lines):
/// live-boot `/conf/param.conf` (`PERSISTENCE=true`), casper `/etc/casper.conf`
/// (`PERSISTENT=Yes`), dracut `/etc/cmdline.d/*.conf` (`rd.live.overlay=`), archiso `/config`
/// (`cow_device=`). Each still gives way to what the user typed (`nopersistence`, another
/// `rd.live.overlay=` / `cow_label=`, ...), which a parameter added to the boot configuration
/// would not always do.
pub fn persistence_params(family: InitFamily) -> Option<String> {
    family.supports_persistence().then(String::new)
}

/// The file system label `polyboot persistence create` gives a backend meant for `family`.
/// casper finds its backend only by label (`/dev/disk/by-label/writable`, else `casper-rw`:
/// casper-rw works with every casper release, and is Ventoy's default); live-boot looks for the
/// label `persistence` (the hook tells it another label if the backend has one); dracut and
/// archiso are given the device itself, so any label does.
pub fn persistence_label(family: InitFamily) -> &'static str {
    match family {
        InitFamily::Casper => "casper-rw",
        _ => "persistence",
    }
}

/// The family of the first recognisable entry that loads an initrd.
pub fn detect(report: &BootConfigReport) -> InitFamily {
    let mut any_initrd = false;
    for entry in report.entries.iter().filter(|e| !e.initrds.is_empty()) {
        any_initrd = true;
        if let Some(family) = family_of_cmdline(&entry.cmdline) {
            return family;
        }
    }
    if any_initrd {
        InitFamily::Other
    } else {
        InitFamily::NoneNeeded
    }
}

/// Recognise a family from one kernel command line.
pub fn family_of_cmdline(cmdline: &str) -> Option<InitFamily> {
    for arg in cmdline.split_whitespace() {
        let (key, value) = arg.split_once('=').unwrap_or((arg, ""));
        match key {
            "boot" if value == "live" => return Some(InitFamily::LiveBoot),
            "boot" if value == "casper" => return Some(InitFamily::Casper),
            "root" if value.starts_with("live:") => return Some(InitFamily::DracutLive),
            "rd.live.image" => return Some(InitFamily::DracutLive),
            "archisobasedir" | "archisolabel" | "archisosearchuuid" | "archisodevice" => {
                return Some(InitFamily::Archiso)
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistence_needs_no_kernel_parameter_and_casper_its_own_label() {
        use InitFamily::*;
        for f in [LiveBoot, Casper, DracutLive, Archiso] {
            assert_eq!(persistence_params(f).as_deref(), Some(""), "{f}");
        }
        assert_eq!(persistence_params(Other), None);
        assert_eq!(persistence_params(NoneNeeded), None);
        assert_eq!(persistence_label(Casper), "casper-rw");
        assert_eq!(persistence_label(LiveBoot), "persistence");
        assert_eq!(persistence_label(DracutLive), "persistence");
        assert_eq!(persistence_label(Archiso), "persistence");
    }

    #[test]
    fn what_each_family_supports() {
        use InitFamily::*;
        for f in [LiveBoot, Casper, DracutLive, Archiso] {
            assert!(f.supports_persistence() && f.supports_injection(), "{f}");
        }
        assert!(!Other.supports_persistence() && Other.supports_injection());
        assert!(!NoneNeeded.supports_persistence() && !NoneNeeded.supports_injection());
    }

    #[test]
    fn command_lines_of_real_distributions() {
        let cases = [
            ("boot=live components quiet splash findiso=${iso_path}", Some(InitFamily::LiveBoot)),
            (
                "file=/cdrom/preseed/ubuntu.seed boot=casper quiet splash ---",
                Some(InitFamily::Casper),
            ),
            (
                "root=live:CDLABEL=Fedora-WS-Live-40 rd.live.image quiet",
                Some(InitFamily::DracutLive),
            ),
            ("rd.live.image root=live:LABEL=x", Some(InitFamily::DracutLive)),
            (
                "archisobasedir=arch archisosearchuuid=2024-01-01-00-00-00-00",
                Some(InitFamily::Archiso),
            ),
            ("vga=788 --- quiet", None),
            ("", None),
        ];
        for (cmdline, want) in cases {
            assert_eq!(family_of_cmdline(cmdline), want, "{cmdline}");
        }
    }
}
