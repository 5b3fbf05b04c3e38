//! Ventoy's `$$VT_…$$` variables in auto-install templates (preseed, kickstart, autoyast,
//! cloud-init), expanded from the disks the booted Linux sees, so one template can name "the
//! first disk that is not the USB stick" without knowing whether that is `sda` or `sdb`.
//!
//! The variables and their meaning are those of Ventoy's `vtoyexpand` (VtoyTool/vtoyexpand.c),
//! the Linux side of its `auto_install` plugin:
//!
//! | variable                               | expands to                                          |
//! |----------------------------------------|-----------------------------------------------------|
//! | `VT_LINUX_DISK_SDX_1ST_NONVTOY`        | the first `sd*` disk that is not the boot drive      |
//! | `VT_LINUX_DISK_SDX_1ST_NONUSB`         | the first `sd*` disk that is not on USB              |
//! | `VT_LINUX_DISK_MAX_SIZE`               | the largest disk (the boot drive included)           |
//! | `VT_LINUX_DISK_CLOSEST_<N>`            | the disk whose size is closest to N GiB              |
//! | `VT_LINUX_DISK_NONVTOY_CLOSEST_<N>`    | the same, leaving out the boot drive                 |
//!
//! Values are kernel names without `/dev/` (`sdb`, `nvme0n1`), as Ventoy writes them (templates
//! say `/dev/$$VT_LINUX_DISK_MAX_SIZE$$`). Disks of size 0 (empty card readers) never match.
//! "First" is in name order (`sda` before `sdb`; Ventoy sorts the `sd*` names the same way).
//! Ties in size go to the first disk in the order given.
//!
//! A variable is `$$VT_` up to the next `$$` on the same line. One that is unknown, or that no
//! disk matches, is left as it was and reported, as Ventoy leaves it. Unlike Ventoy, which
//! expands only the first variable of each line, every variable of a line is expanded.
//! Works on bytes: a template need not be UTF-8.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// What the hook knows about one disk (from `/sys/block`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFact {
    /// Kernel name (`sda`, `nvme0n1`).
    pub name: String,
    pub size: u64,
    /// Attached through USB (its sysfs path goes through a USB device), as Ventoy tells.
    pub usb: bool,
    /// The polyboot drive itself (Ventoy's "vtoy" disk).
    pub is_boot_drive: bool,
}

/// How one variable of the template fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarUse {
    /// `name` (without the `$$`) became `value`.
    Expanded { name: String, value: String },
    /// Not a variable Ventoy knows: left as it was.
    Unknown { name: String },
    /// Known, but no disk fits: left as it was.
    NoDisk { name: String },
}

impl fmt::Display for VarUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarUse::Expanded { name, value } => write!(f, "$${name}$$ = {value}"),
            VarUse::Unknown { name } => write!(f, "$${name}$$ left as it is (unknown variable)"),
            VarUse::NoDisk { name } => write!(f, "$${name}$$ left as it is (no disk fits)"),
        }
    }
}

const GIB: u64 = 1 << 30;

/// `N` of a `…_CLOSEST_N` suffix: decimal digits only (Ventoy's `strtoul` also took `12abc`
/// as 12 and `abc` as 0; such names are treated as unknown here).
fn gib(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Saturating: "closest to more bytes than exist" is the largest disk, not an error.
    Some(digits.bytes().fold(0u64, |v, d| v.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// The disk of `disks` (size > 0, passing `keep`) whose size is closest to `target` bytes.
fn closest(disks: &[DiskFact], target: u64, keep: impl Fn(&DiskFact) -> bool) -> Option<&DiskFact> {
    let mut best: Option<(&DiskFact, u64)> = None;
    for d in disks.iter().filter(|d| d.size > 0 && keep(d)) {
        let delta = d.size.abs_diff(target);
        if best.is_none_or(|(_, b)| delta < b) {
            best = Some((d, delta));
        }
    }
    best.map(|(d, _)| d)
}

/// The value of variable `name`; `Err(true)` for a variable no disk fits, `Err(false)` for
/// an unknown one.
pub fn value_of<'a>(name: &str, disks: &'a [DiskFact]) -> Result<&'a str, bool> {
    let first_sd = |keep: &dyn Fn(&DiskFact) -> bool| {
        disks
            .iter()
            .filter(|d| d.size > 0 && d.name.starts_with("sd") && keep(d))
            .min_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()))
    };
    let found = match name {
        "VT_LINUX_DISK_SDX_1ST_NONVTOY" => first_sd(&|d| !d.is_boot_drive),
        "VT_LINUX_DISK_SDX_1ST_NONUSB" => first_sd(&|d| !d.usb),
        "VT_LINUX_DISK_MAX_SIZE" => {
            let mut best: Option<&DiskFact> = None;
            for d in disks.iter().filter(|d| d.size > 0) {
                if best.is_none_or(|b| d.size > b.size) {
                    best = Some(d);
                }
            }
            best
        }
        _ => {
            if let Some(n) = name.strip_prefix("VT_LINUX_DISK_NONVTOY_CLOSEST_").and_then(gib) {
                closest(disks, n.saturating_mul(GIB), |d| !d.is_boot_drive)
            } else if let Some(n) = name.strip_prefix("VT_LINUX_DISK_CLOSEST_").and_then(gib) {
                closest(disks, n.saturating_mul(GIB), |_| true)
            } else {
                return Err(false);
            }
        }
    };
    found.map(|d| d.name.as_str()).ok_or(true)
}

/// Expand every `$$VT_…$$` variable of `text`; returns the new text and, in order, what
/// happened to each variable.
pub fn expand(text: &[u8], disks: &[DiskFact]) -> (Vec<u8>, Vec<VarUse>) {
    let mut out = Vec::with_capacity(text.len());
    let mut uses = Vec::new();
    let mut rest = text;
    while let Some(start) = find(rest, b"$$VT_") {
        // The closing `$$`, which must be on the same line. One scan that stops at the first
        // `$$` or newline keeps the whole expansion linear in the text.
        let mut i = start + 5;
        let close = loop {
            match rest.get(i) {
                Some(b'$') if rest.get(i + 1) == Some(&b'$') => break Some(i),
                Some(b'\n') | None => break None,
                Some(_) => i += 1,
            }
        };
        let Some(close) = close else {
            // No variable here: copy up to the end of the line and go on from there.
            out.extend_from_slice(&rest[..i]);
            rest = &rest[i..];
            continue;
        };
        out.extend_from_slice(&rest[..start]);
        let raw = &rest[start + 2..close];
        let name = String::from_utf8_lossy(raw).into_owned();
        let whole = &rest[start..close + 2];
        match core::str::from_utf8(raw).map_err(|_| false).and_then(|n| value_of(n, disks)) {
            Ok(value) => {
                out.extend_from_slice(value.as_bytes());
                uses.push(VarUse::Expanded { name, value: String::from(value) });
            }
            Err(known) => {
                out.extend_from_slice(whole);
                uses.push(if known { VarUse::NoDisk { name } } else { VarUse::Unknown { name } });
            }
        }
        rest = &rest[close + 2..];
    }
    out.extend_from_slice(rest);
    (out, uses)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn disk(name: &str, gib: u64, usb: bool, boot: bool) -> DiskFact {
        DiskFact { name: name.to_string(), size: gib * GIB, usb, is_boot_drive: boot }
    }

    /// A laptop: NVMe and SATA disks, the polyboot stick and a second stick, an empty reader.
    fn machine() -> Vec<DiskFact> {
        vec![
            disk("nvme0n1", 512, false, false),
            disk("sda", 32, true, true),
            disk("sdb", 1000, false, false),
            disk("sdc", 64, true, false),
            disk("sdd", 0, true, false),
        ]
    }

    fn expand_str(text: &str, disks: &[DiskFact]) -> (String, Vec<VarUse>) {
        let (out, uses) = expand(text.as_bytes(), disks);
        (String::from_utf8(out).unwrap(), uses)
    }

    #[test]
    fn every_ventoy_variable() {
        let m = machine();
        let cases = [
            ("VT_LINUX_DISK_SDX_1ST_NONVTOY", "sdb"),
            ("VT_LINUX_DISK_SDX_1ST_NONUSB", "sdb"),
            ("VT_LINUX_DISK_MAX_SIZE", "sdb"),
            ("VT_LINUX_DISK_CLOSEST_500", "nvme0n1"),
            ("VT_LINUX_DISK_CLOSEST_30", "sda"),
            ("VT_LINUX_DISK_NONVTOY_CLOSEST_30", "sdc"),
            ("VT_LINUX_DISK_CLOSEST_0", "sda"),
            ("VT_LINUX_DISK_CLOSEST_99999999999999999999999", "sdb"),
        ];
        for (var, want) in cases {
            assert_eq!(value_of(var, &m), Ok(want), "{var}");
        }
    }

    #[test]
    fn sdx_variables_take_names_in_order_and_skip_what_does_not_fit() {
        // Listed out of order; the boot drive is sdb; sda is USB.
        let m = vec![
            disk("sdc", 100, false, false),
            disk("sda", 100, true, false),
            disk("sdb", 16, true, true),
            disk("vda", 100, false, false),
        ];
        assert_eq!(value_of("VT_LINUX_DISK_SDX_1ST_NONVTOY", &m), Ok("sda"));
        assert_eq!(value_of("VT_LINUX_DISK_SDX_1ST_NONUSB", &m), Ok("sdc"));
        // Equal sizes: the first listed.
        assert_eq!(value_of("VT_LINUX_DISK_MAX_SIZE", &m), Ok("sdc"));
        // Only virtio and NVMe disks: no sd* disk fits.
        let v = vec![disk("vda", 20, false, false), disk("sda", 8, true, true)];
        assert_eq!(value_of("VT_LINUX_DISK_SDX_1ST_NONVTOY", &v), Err(true));
        assert_eq!(value_of("VT_LINUX_DISK_NONVTOY_CLOSEST_8", &v), Ok("vda"));
        assert_eq!(value_of("VT_LINUX_DISK_MAX_SIZE", &[]), Err(true));
        assert_eq!(value_of("VT_LINUX_DISK_MAX_SIZE", &[disk("sdz", 0, false, false)]), Err(true));
    }

    #[test]
    fn names_ventoy_does_not_know_are_unknown() {
        let m = machine();
        for var in [
            "VT_LINUX_DISK_1ST_NONVTOY",
            "VT_LINUX_DISK_1ST_NONUSB",
            "VT_LINUX_DISK_1ST_NONVTOY_SIZE",
            "VT_WINDOWS_DISK_1ST_NONVTOY",
            "VT_LINUX_DISK_CLOSEST_",
            "VT_LINUX_DISK_CLOSEST_12abc",
            "VT_LINUX_DISK_CLOSEST_-1",
            "VT_",
            "vt_linux_disk_max_size",
        ] {
            assert_eq!(value_of(var, &m), Err(false), "{var}");
        }
    }

    #[test]
    fn a_preseed_template() {
        let t = "d-i partman-auto/disk string /dev/$$VT_LINUX_DISK_SDX_1ST_NONVTOY$$\n\
                 d-i grub-installer/bootdev string /dev/$$VT_LINUX_DISK_MAX_SIZE$$ $$VT_LINUX_DISK_CLOSEST_500$$\n\
                 # $$VT_LINUX_DISK_1ST_NONVTOY$$ and $$VT_LINUX_DISK_SDX_1ST_NONUSB$$\n\
                 d-i passwd/root-password password pa$$word\n";
        let (out, uses) = expand_str(t, &machine());
        assert_eq!(
            out,
            "d-i partman-auto/disk string /dev/sdb\n\
             d-i grub-installer/bootdev string /dev/sdb nvme0n1\n\
             # $$VT_LINUX_DISK_1ST_NONVTOY$$ and sdb\n\
             d-i passwd/root-password password pa$$word\n"
        );
        assert_eq!(uses.len(), 5);
        assert_eq!(uses[3], VarUse::Unknown { name: "VT_LINUX_DISK_1ST_NONVTOY".into() });
        assert_eq!(
            uses[0].to_string(),
            "$$VT_LINUX_DISK_SDX_1ST_NONVTOY$$ = sdb",
            "reported as the hook logs it"
        );
        assert!(uses[3].to_string().contains("unknown"));
    }

    #[test]
    fn variables_do_not_span_lines_and_unclosed_ones_stay() {
        let m = machine();
        let (out, uses) = expand_str("a $$VT_LINUX_DISK_MAX\n_SIZE$$ b", &m);
        assert_eq!(out, "a $$VT_LINUX_DISK_MAX\n_SIZE$$ b");
        assert!(uses.is_empty());
        let (out, uses) = expand_str("$$VT_$$VT_LINUX_DISK_MAX_SIZE$$", &m);
        // `$$VT_$$` is the first (unknown) variable; the rest is text.
        assert_eq!(out, "$$VT_$$VT_LINUX_DISK_MAX_SIZE$$");
        assert_eq!(uses, [VarUse::Unknown { name: "VT_".into() }]);
        let (out, _) = expand_str("$$VT_LINUX_DISK_MAX_SIZE$$$$VT_LINUX_DISK_MAX_SIZE$$", &m);
        assert_eq!(out, "sdbsdb");
        let (out, uses) = expand_str("no variables at all $$ $VT_ $$vt_", &m);
        assert_eq!((out.as_str(), uses.len()), ("no variables at all $$ $VT_ $$vt_", 0));
        let (out, uses) = expand_str("$$VT_LINUX_DISK_SDX_1ST_NONVTOY$$", &[]);
        assert_eq!(out, "$$VT_LINUX_DISK_SDX_1ST_NONVTOY$$");
        assert!(matches!(&uses[0], VarUse::NoDisk { .. }));
    }

    #[test]
    fn long_lines_and_many_openings_take_linear_time() {
        // Quadratic scanning would take minutes on these in a debug build.
        let m = machine();
        let mut t = b"$$VT_\n".repeat(400_000);
        t.extend_from_slice(b"$$");
        let (out, uses) = expand(&t, &m);
        assert_eq!((out.len(), uses.len()), (t.len(), 0));
        let t = b"$$VT_x".repeat(400_000);
        assert_eq!(expand(&t, &m).0, t);
        let t = b"$$VT_LINUX_DISK_MAX_SIZE$$".repeat(100_000);
        let (out, uses) = expand(&t, &m);
        assert_eq!((out.len(), uses.len()), (300_000, 100_000));
    }

    #[test]
    fn bytes_that_are_not_utf8_pass_through() {
        let t = b"\xff\xfe $$VT_LINUX_DISK_MAX_SIZE$$ \xc3 $$VT_\xff$$\r\n";
        let (out, uses) = expand(t, &machine());
        assert_eq!(out, b"\xff\xfe sdb \xc3 $$VT_\xff$$\r\n");
        assert_eq!(uses.len(), 2);
        assert!(matches!(&uses[1], VarUse::Unknown { name } if name == "VT_\u{fffd}"));
    }
}
