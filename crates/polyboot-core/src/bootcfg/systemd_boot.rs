//! systemd-boot loader entries (`loader/entries/*.conf`).

use alloc::string::String;
use alloc::vec::Vec;

use super::{normalize_path, split_kw, text_of, BootEntry, Loader};

/// Parse one systemd-boot loader entry (`loader/entries/*.conf`): `title`, `linux`,
/// `initrd` (repeatable), `options` (repeatable, joined with spaces). `None` when the entry
/// starts no Linux kernel.
pub fn parse_systemd_boot_entry(path: &str, data: &[u8]) -> Option<BootEntry> {
    let text = text_of(data);
    let mut e = BootEntry {
        loader: Loader::SystemdBoot,
        title: None,
        kernel: None,
        initrds: Vec::new(),
        cmdline: String::new(),
        source: normalize_path(path),
    };
    for line in text.lines().take(10_000) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = split_kw(line);
        match key {
            "title" => e.title = Some(String::from(value)),
            "linux" => e.kernel = Some(normalize_path(value)),
            "initrd" => {
                for p in value.split_whitespace() {
                    if e.initrds.len() < 64 {
                        e.initrds.push(normalize_path(p));
                    }
                }
            }
            "options" => {
                if !e.cmdline.is_empty() {
                    e.cmdline.push(' ');
                }
                e.cmdline.push_str(value);
            }
            _ => {}
        }
    }
    if e.kernel.is_some() || !e.initrds.is_empty() {
        Some(e)
    } else {
        None
    }
}
