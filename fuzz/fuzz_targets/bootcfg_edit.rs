//! Kernel parameters added to a boot configuration file (`bootcfg::edit`). Must never panic.
//!
//! Input: one byte choosing the format (GRUB, syslinux, systemd-boot: its value mod 3), then
//! the parameters (space-separated, up to the first newline), then the file's bytes.
//!
//! Checked:
//! - bad parameters are refused exactly when `check_params` refuses them, before anything;
//! - the result is at most `MAX_FILE_SIZE` bytes, `changed` and `skipped` at most the kernel
//!   lines, nothing changed means the same bytes;
//! - the old text is in the new one, in order (only insertions; syslinux may replace the `-`
//!   of an `APPEND -`, so there the old text's dashes are left out of the check);
//! - editing the result again changes nothing and finds the same kernel lines;
//! - the result parses: the same number of entries as the original, and, when no kernel line
//!   was skipped, every entry with a kernel has every parameter as a word of its command line
//!   (syslinux: unless a `DEFAULT` line makes an entry of its own).
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::bootcfg::edit::{add_kernel_params, check_params, EditError};
use polyboot_core::bootcfg::{self, BootEntry, Loader, MAX_FILE_SIZE};

const PATH: &str = "/boot/grub/grub.cfg";

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let loader = [Loader::Grub, Loader::Syslinux, Loader::SystemdBoot][usize::from(sel % 3)];
    let nl = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let params_text = String::from_utf8_lossy(&rest[..nl]).into_owned();
    let text = &rest[(nl + 1).min(rest.len())..];
    let params: Vec<&str> = params_text.split(' ').filter(|p| !p.is_empty()).take(16).collect();

    let result = add_kernel_params(loader, text, &params);
    if let Err(e) = check_params(&params) {
        assert_eq!(result, Err(e));
        return;
    }
    let edited = match result {
        Err(EditError::TooLarge) => return,
        Err(e) => panic!("checked parameters refused: {e}"),
        Ok(None) => {
            // No kernel line: nothing to do, and the parsers agree there is no kernel.
            let entries = parse(loader, text);
            if loader != Loader::Syslinux {
                assert!(entries.iter().all(|e| e.kernel.is_none()), "{entries:?}");
            }
            return;
        }
        Ok(Some(e)) => e,
    };
    assert!(edited.bytes.len() as u64 <= MAX_FILE_SIZE);
    assert!(edited.changed <= edited.kernel_lines && edited.skipped <= edited.kernel_lines);
    if edited.changed == 0 {
        assert_eq!(edited.bytes, text);
    }
    assert!(
        contains_in_order(&edited.bytes, text, loader == Loader::Syslinux),
        "the old text is not kept"
    );

    let again = add_kernel_params(loader, &edited.bytes, &params)
        .expect("the edited text is refused")
        .expect("the edited text has no kernel line");
    assert_eq!(again.changed, 0, "a second edit changed {} lines", again.changed);
    assert_eq!(again.bytes, edited.bytes);
    assert_eq!(again.kernel_lines, edited.kernel_lines);

    let before = parse(loader, text);
    let after = parse(loader, &edited.bytes);
    assert_eq!(before.len(), after.len(), "entries before and after");
    let defaults =
        loader == Loader::Syslinux && text.windows(7).any(|w| w.eq_ignore_ascii_case(b"default"));
    if edited.skipped == 0 && !defaults {
        for e in after.iter().filter(|e| e.kernel.is_some()) {
            for p in &params {
                assert!(
                    e.cmdline.split_whitespace().any(|w| w == *p),
                    "{p:?} not in {:?}",
                    e.cmdline
                );
            }
        }
    }
});

/// The file parsed on its own (includes are not found).
fn parse(loader: Loader, data: &[u8]) -> Vec<BootEntry> {
    let one = |p: &str| (p == PATH).then(|| data.to_vec());
    match loader {
        Loader::Grub => bootcfg::parse_grub(PATH, &[("prefix", "/boot/grub")], one).entries,
        Loader::Syslinux => bootcfg::parse_syslinux(PATH, "/boot/grub", one).entries,
        Loader::SystemdBoot => bootcfg::parse_systemd_boot_entry(PATH, data).into_iter().collect(),
    }
}

/// `old` is a subsequence of `new` (with `skip_dash`, `old` without its `-` bytes: an
/// `APPEND -` loses its dash).
fn contains_in_order(new: &[u8], old: &[u8], skip_dash: bool) -> bool {
    let mut j = 0usize;
    for &b in old.iter().filter(|&&b| !(skip_dash && b == b'-')) {
        match new[j..].iter().position(|&c| c == b) {
            Some(i) => j += i + 1,
            None => return false,
        }
    }
    true
}
