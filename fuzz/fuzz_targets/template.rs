//! Ventoy's `$$VT_…$$` template variables (`autoinstall_vars::expand`). Must never panic;
//! beyond that the expansion equals a reference written here from the module documentation
//! (lines split first, then each line scanned; values chosen by sorting, not by a running
//! best), and what it reports matches: one use per variable, an expanded value is the name of
//! a disk of the list, text without `$$VT_` comes back unchanged.
//!
//! Input: one byte for the number of disks (0 to 5), then per disk a name byte, a size mode,
//! a size byte (8 bytes in mode 2) and flags; the rest is the template.
#![no_main]

#[path = "../common/input_bytes.rs"]
mod input_bytes;
use input_bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use polyboot_core::autoinstall_vars::{expand, DiskFact, VarUse};

const GIB: u64 = 1 << 30;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let n = usize::from(b.u8() % 6);
    let disks: Vec<DiskFact> = (0..n)
        .map(|_| {
            let c = b.u8();
            let name = match c % 4 {
                0 => format!("sd{}", char::from(b'a' + c / 4 % 26)),
                1 => format!("nvme{}n1", c / 4 % 3),
                2 => format!("vd{}", char::from(b'a' + c / 4 % 3)),
                _ => format!("sd{}", char::from(b'a' + c / 4 % 3)),
            };
            let size = match b.u8() % 4 {
                0 => {
                    b.u8();
                    0
                }
                1 => u64::from(b.u8()) * GIB,
                2 => b.u64(8),
                _ => u64::from(b.u8() % 4) * 500 * GIB,
            };
            let f = b.u8();
            DiskFact { name, size, usb: f & 1 != 0, is_boot_drive: f & 2 != 0 }
        })
        .collect();
    let text = b.0;
    let (out, uses) = expand(text, &disks);
    let (want, want_uses) = reference(text, &disks);
    assert_eq!(out, want);
    assert_eq!(uses, want_uses);
    for u in &uses {
        if let VarUse::Expanded { value, .. } = u {
            assert!(disks.iter().any(|d| &d.name == value));
        }
        assert!(!u.to_string().is_empty());
    }
    if !text.windows(5).any(|w| w == b"$$VT_") {
        assert_eq!(out, text);
        assert!(uses.is_empty());
    }
});

fn reference(text: &[u8], disks: &[DiskFact]) -> (Vec<u8>, Vec<VarUse>) {
    let mut out = Vec::new();
    let mut uses = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        let mut pos = 0;
        loop {
            let Some(s) =
                (pos..line.len().saturating_sub(4)).find(|&k| &line[k..k + 5] == b"$$VT_")
            else {
                out.extend_from_slice(&line[pos..]);
                break;
            };
            let Some(e) = (s + 5..line.len().saturating_sub(1)).find(|&k| &line[k..k + 2] == b"$$")
            else {
                out.extend_from_slice(&line[pos..]);
                break;
            };
            out.extend_from_slice(&line[pos..s]);
            let raw = &line[s + 2..e];
            let name = String::from_utf8_lossy(raw).into_owned();
            match std::str::from_utf8(raw).ok().map(|n| ref_value(n, disks)) {
                Some(Some(Some(v))) => {
                    out.extend_from_slice(v.as_bytes());
                    uses.push(VarUse::Expanded { name, value: v });
                }
                Some(Some(None)) => {
                    out.extend_from_slice(&line[s..e + 2]);
                    uses.push(VarUse::NoDisk { name });
                }
                _ => {
                    out.extend_from_slice(&line[s..e + 2]);
                    uses.push(VarUse::Unknown { name });
                }
            }
            pos = e + 2;
        }
    }
    (out, uses)
}

/// None: unknown variable; Some(None): no disk; Some(Some(name)).
fn ref_value(name: &str, disks: &[DiskFact]) -> Option<Option<String>> {
    let sized: Vec<(usize, &DiskFact)> =
        disks.iter().enumerate().filter(|(_, d)| d.size > 0).collect();
    let first_sd = |keep: &dyn Fn(&DiskFact) -> bool| {
        let mut sd: Vec<&DiskFact> =
            sized.iter().map(|&(_, d)| d).filter(|d| d.name.starts_with("sd") && keep(d)).collect();
        sd.sort_by(|a, b| a.name.cmp(&b.name));
        sd.first().map(|d| d.name.clone())
    };
    // Smallest key, earliest index on ties.
    let pick = |key: &dyn Fn(&DiskFact) -> u128, keep: &dyn Fn(&DiskFact) -> bool| {
        let mut v: Vec<(u128, usize, &DiskFact)> =
            sized.iter().filter(|(_, d)| keep(d)).map(|&(i, d)| (key(d), i, d)).collect();
        v.sort_by_key(|&(k, i, _)| (k, i));
        v.first().map(|(_, _, d)| d.name.clone())
    };
    let n_gib = |rest: &str| -> Option<u128> {
        if rest.is_empty() || !rest.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        // Saturating at u64::MAX bytes, as the documentation says.
        let n: u128 = rest.parse().unwrap_or(u128::MAX);
        Some((n.saturating_mul(GIB as u128)).min(u64::MAX as u128))
    };
    Some(match name {
        "VT_LINUX_DISK_SDX_1ST_NONVTOY" => first_sd(&|d| !d.is_boot_drive),
        "VT_LINUX_DISK_SDX_1ST_NONUSB" => first_sd(&|d| !d.usb),
        "VT_LINUX_DISK_MAX_SIZE" => pick(&|d| u128::from(u64::MAX - d.size), &|_| true),
        _ => {
            if let Some(t) = name.strip_prefix("VT_LINUX_DISK_NONVTOY_CLOSEST_").and_then(n_gib) {
                pick(&|d| (u128::from(d.size)).abs_diff(t), &|d| !d.is_boot_drive)
            } else if let Some(t) = name.strip_prefix("VT_LINUX_DISK_CLOSEST_").and_then(n_gib) {
                pick(&|d| (u128::from(d.size)).abs_diff(t), &|_| true)
            } else {
                return None;
            }
        }
    })
}
