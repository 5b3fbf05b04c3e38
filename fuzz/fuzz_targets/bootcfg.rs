//! The ISO boot configuration parsers (`bootcfg`): GRUB, isolinux / syslinux and
//! systemd-boot entries. Must never panic. (`find_boot_entries` on whole ISO images is the
//! `bootcfg_iso` target's: configuration files are small, ISOs are not, and one target for both
//! kept every input large and slow.)
//!
//! The input is a set of configuration files separated by NUL bytes: a file whose text starts
//! with `/` is named by its first line, the others by their position (`/boot/grub/grub.cfg`,
//! `/isolinux/isolinux.cfg`, `/boot/grub/loopback.cfg`, ...; see `NAMES`), so `source`,
//! `configfile`, `INCLUDE` and `MENU INCLUDE` reach the other fuzzed files. `/big.cfg`, when
//! no file has that name, is served once per parse as a file of `MAX_FILE_SIZE + 1` bytes.
//! The first file is parsed as GRUB (with `prefix` and `root` set as `find_boot_entries`
//! does) and as syslinux (base directory: its parent), the first 32 files as systemd-boot
//! entries.
//!
//! Checked for every parse:
//! - the loader is only asked for normalised absolute paths; `files` lists only files it
//!   served, the first file first, at most `MAX_FILES`, each at most `MAX_FILE_SIZE` bytes
//!   and `MAX_TOTAL_BYTES` together; a missing first file gives nothing but one warning;
//! - at most `MAX_ENTRIES` entries and `MAX_WARNINGS` distinct warnings, each naming a file
//!   read (or none) and a line inside it;
//! - kernels and initrds are normalised absolute paths (`normalize_path` is idempotent on
//!   them), entries come from files read, `initrd_paths` is the distinct union in order;
//! - keyword gates: no `linux` in the GRUB files (quotes and backslashes removed) means no
//!   kernel, no `initrd` means no initrd-only entries and no initrds; syslinux needs
//!   `kernel` / `linux` / `default` for any entry and `initrd` for any initrd; systemd-boot
//!   needs `linux` or `initrd` for an entry, keeps at most 64 initrds.
//!
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use polyboot_core::bootcfg::{
    self, normalize_path, Loader, Parsed, WarningKind, MAX_ENTRIES, MAX_FILES, MAX_FILE_SIZE,
    MAX_TOTAL_BYTES, MAX_WARNINGS,
};

/// Names of the files by position (unless a file names itself).
const NAMES: &[&str] = &[
    "/boot/grub/grub.cfg",
    "/isolinux/isolinux.cfg",
    "/boot/grub/loopback.cfg",
    "/isolinux/menu.cfg",
    "/isolinux/txt.cfg",
    "/boot/grub/x86_64-efi/grub.cfg",
    "/isolinux/stdmenu.cfg",
    "/boot/grub/config.cfg",
    "/loader/entries/a.conf",
];
const BIG: &str = "/big.cfg";
/// Files taken from one input.
const MAX_INPUT_FILES: usize = 300;
/// Bytes the loader serves in one parse after the first file; beyond it, files are "not
/// found". Without it one input that `source`s its own large files over and over makes each
/// parse read up to `MAX_TOTAL_BYTES` (8 MiB, a bound core's unit tests check) and runs at a
/// few executions per second; 256 KiB still lets every file of an input be read several times.
const SERVE_BUDGET: usize = 256 << 10;

fuzz_target!(|data: &[u8]| {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (i, chunk) in data.split(|&b| b == 0).take(MAX_INPUT_FILES).enumerate() {
        let (name, body) = if chunk.first() == Some(&b'/') {
            let end = chunk.iter().position(|&b| b == b'\n').unwrap_or(chunk.len());
            let name = normalize_path(&String::from_utf8_lossy(&chunk[..end]));
            (name, &chunk[(end + 1).min(chunk.len())..])
        } else {
            let name = NAMES.get(i).map_or_else(|| format!("/f{i}.cfg"), |n| String::from(*n));
            (name, chunk)
        };
        if !files.contains_key(&name) {
            files.insert(name.clone(), body.to_vec());
            order.push(name);
        }
    }
    let top = order[0].clone();
    let parent = parent_dir(&top);
    let mut grub_calls: Vec<String> = Vec::new();
    let grub = bootcfg::parse_grub(
        &top,
        &[("prefix", parent.as_str()), ("root", "cd0")],
        loader(&files, &mut grub_calls),
    );
    let mut sys_calls: Vec<String> = Vec::new();
    let sys = bootcfg::parse_syslinux(&top, &parent, loader(&files, &mut sys_calls));

    // Facts of the files the parses read or warn about only (an input has up to 300 files;
    // working them out is per-byte work libFuzzer traces).
    let mut facts: BTreeMap<&str, FileFacts> = BTreeMap::new();
    for p in [&grub, &sys] {
        let named = p.files.iter().chain(p.warnings.iter().map(|w| &w.file));
        for name in named {
            if let Some((k, data)) = files.get_key_value(name) {
                facts.entry(k.as_str()).or_insert_with(|| FileFacts::of(data));
            }
        }
    }
    check_parsed(&grub, Loader::Grub, &files, &facts, &top, &grub_calls);
    check_parsed(&sys, Loader::Syslinux, &files, &facts, &top, &sys_calls);

    // systemd-boot entries are parsed one file at a time: the first 32 files show every path
    // through that parser (an input has up to 300).
    for name in order.iter().take(32) {
        check_systemd_boot(name, &files[name]);
    }
});

fn parent_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => String::from("/"),
        Some(i) => String::from(&p[..i]),
    }
}

fn loader<'a>(
    files: &'a BTreeMap<String, Vec<u8>>,
    calls: &'a mut Vec<String>,
) -> impl FnMut(&str) -> Option<Vec<u8>> + 'a {
    let mut big_served = false;
    let mut served = 0usize;
    move |p: &str| {
        check_path(p, "path asked of the loader");
        calls.push(String::from(p));
        if let Some(d) = files.get(p) {
            // The first file always; then a read budget (see SERVE_BUDGET).
            if served > 0 && served + d.len() > SERVE_BUDGET {
                return None;
            }
            served += d.len();
            return Some(d.clone());
        }
        if p == BIG && !big_served {
            big_served = true;
            return Some(vec![b'#'; MAX_FILE_SIZE as usize + 1]);
        }
        None
    }
}

fn check_path(p: &str, what: &str) {
    assert!(p.starts_with('/'), "{what} {p:?} is not absolute");
    assert_eq!(normalize_path(p), p, "{what} {p:?} is not normalised");
}

/// The text the parsers see (byte order mark dropped, invalid UTF-8 replaced).
fn text_of(data: &[u8]) -> String {
    let data = data.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(data);
    String::from_utf8_lossy(data).into_owned()
}

/// GRUB text with what a word's characters may be separated by removed: quotes,
/// backslashes and backslash-newline continuations.
fn grub_joined(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
            }
            '"' | '\'' => {}
            c => out.push(c),
        }
    }
    out
}

/// What the checks need of one input file, worked out once per input (not once per parse
/// and warning: these loops are the harness's own, and libFuzzer traces every comparison).
struct FileFacts {
    lines: usize,
    /// In the GRUB text with quotes and backslashes removed.
    grub_linux: bool,
    grub_initrd: bool,
    /// In the lower-cased text.
    sys_kernel_linux_or_default: bool,
    sys_initrd: bool,
}

impl FileFacts {
    fn of(data: &[u8]) -> FileFacts {
        let text = text_of(data);
        let joined = grub_joined(&text);
        let lower = text.to_ascii_lowercase();
        FileFacts {
            lines: data.iter().filter(|&&b| b == b'\n').count() + 1,
            grub_linux: joined.contains("linux"),
            grub_initrd: joined.contains("initrd"),
            sys_kernel_linux_or_default: ["kernel", "linux", "default"]
                .iter()
                .any(|w| lower.contains(w)),
            sys_initrd: lower.contains("initrd"),
        }
    }
}

fn check_parsed(
    p: &Parsed,
    loader: Loader,
    files: &BTreeMap<String, Vec<u8>>,
    facts: &BTreeMap<&str, FileFacts>,
    top: &str,
    calls: &[String],
) {
    // Files read.
    assert!(p.files.len() <= MAX_FILES, "{} files", p.files.len());
    let mut total = 0u64;
    for f in &p.files {
        let data = files.get(f).unwrap_or_else(|| panic!("{f:?} listed but never served"));
        assert!(calls.contains(f));
        assert!(data.len() as u64 <= MAX_FILE_SIZE);
        total += data.len() as u64;
    }
    assert!(total <= MAX_TOTAL_BYTES, "{total} bytes of configuration");
    if files.contains_key(top) {
        assert_eq!(p.files.first().map(String::as_str), Some(top));
    } else {
        assert!(p.files.is_empty() && p.entries.is_empty());
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.warnings[0].kind, WarningKind::MissingFile);
    }

    // Warnings.
    assert!(p.warnings.len() <= MAX_WARNINGS, "{} warnings", p.warnings.len());
    for (i, w) in p.warnings.iter().enumerate() {
        assert!(!p.warnings[..i].contains(w), "duplicate warning {w:?}");
        assert!(!w.to_string().is_empty());
        if !w.file.is_empty() {
            check_path(&w.file, "warning file");
        }
        if let Some(f) = facts.get(w.file.as_str()) {
            assert!(w.line <= f.lines, "{w:?}: file has {} lines", f.lines);
        } else if w.file != BIG {
            // Only the top file's own "not found" names no file read.
            assert!(w.file.is_empty() && w.line == 0, "{w:?}");
        }
    }

    // Entries.
    assert!(p.entries.len() <= MAX_ENTRIES, "{} entries", p.entries.len());
    for e in &p.entries {
        assert_eq!(e.loader, loader);
        if let Some(k) = &e.kernel {
            check_path(k, "kernel");
        }
        for i in &e.initrds {
            check_path(i, "initrd");
        }
        assert!(p.files.contains(&e.source), "entry from {:?}, not read", e.source);
        match loader {
            Loader::Grub => {
                if e.kernel.is_none() {
                    assert!(e.cmdline.is_empty() && !e.initrds.is_empty(), "{e:?}");
                }
            }
            Loader::Syslinux => assert!(e.title.is_some() && e.kernel.is_some(), "{e:?}"),
            Loader::SystemdBoot => unreachable!(),
        }
    }
    let mut union: Vec<String> = Vec::new();
    for e in &p.entries {
        for i in &e.initrds {
            if !union.contains(i) {
                union.push(i.clone());
            }
        }
    }
    assert_eq!(p.initrd_paths(), union);

    // Keyword gates on the text of the files read.
    let any = |fact: fn(&FileFacts) -> bool| p.files.iter().any(|f| fact(&facts[f.as_str()]));
    match loader {
        Loader::Grub => {
            if !any(|f| f.grub_linux) {
                assert!(p.entries.iter().all(|e| e.kernel.is_none()), "a kernel without `linux`");
            }
            if !any(|f| f.grub_initrd) {
                assert!(
                    p.entries.iter().all(|e| e.kernel.is_some() && e.initrds.is_empty()),
                    "an initrd without `initrd`"
                );
            }
        }
        Loader::Syslinux => {
            if !any(|f| f.sys_kernel_linux_or_default) {
                assert!(p.entries.is_empty(), "an entry without kernel / linux / default");
            }
            if !any(|f| f.sys_initrd) {
                assert!(p.entries.iter().all(|e| e.initrds.is_empty()));
            }
        }
        Loader::SystemdBoot => unreachable!(),
    }
}

fn check_systemd_boot(name: &str, data: &[u8]) {
    let e = bootcfg::parse_systemd_boot_entry(name, data);
    let has = |w: &[u8]| data.windows(w.len()).any(|x| x == w);
    let Some(e) = e else { return };
    assert!(has(b"linux") || has(b"initrd"), "an entry without `linux` / `initrd`");
    assert_eq!(e.loader, Loader::SystemdBoot);
    assert_eq!(e.source, normalize_path(name));
    assert!(e.kernel.is_some() || !e.initrds.is_empty());
    if let Some(k) = &e.kernel {
        check_path(k, "systemd-boot kernel");
    }
    assert!(e.initrds.len() <= 64);
    for i in &e.initrds {
        check_path(i, "systemd-boot initrd");
    }
}
