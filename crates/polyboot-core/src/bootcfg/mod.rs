//! Which kernels and initrds an ISO's own boot loaders load: GRUB (`grub.cfg`, the files it
//! `source`s / `configfile`s, `loopback.cfg`), isolinux / syslinux and systemd-boot loader
//! entries.
//!
//! This is not an interpreter: conditions are not evaluated (every branch counts), loops
//! and functions are not run. It reads enough to list the `linux` / `initrd` commands and
//! their arguments, which is what initrd wrapping needs (every initrd any menu entry may
//! load gets wrapped). Variables set with `set name=value` (or `name=value`) anywhere in the
//! files read are expanded when they have one simple value; others are kept literally and
//! reported as [`WarningKind::UnresolvedVariable`].
//!
//! Files are read through a caller-provided loader (`FnMut(&str) -> Option<Vec<u8>>`, paths
//! absolute within the ISO); includes are bounded in depth ([`MAX_INCLUDE_DEPTH`]) and
//! number ([`MAX_FILES`]), and everything read is untrusted: no panics, bounded work.
//! [`find_boot_entries`] does all of it on an ISO image through [`crate::iso9660`].
//!
//! Where things are: this file holds what every loader shares (entries, warnings, limits,
//! paths, include bookkeeping); `grub_lexer` splits GRUB script into words and commands,
//! `grub` follows includes and variables and collects the entries, `syslinux` and
//! `systemd_boot` read their loaders' formats, and `iso` drives them all over an ISO image.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::path;

pub mod edit;
mod grub;
mod grub_lexer;
mod iso;
mod syslinux;
mod systemd_boot;

pub use grub::parse_grub;
pub use iso::{
    find_boot_entries, read_config_file, BootConfigReport, FileRecord, InitrdFile, TreeKind,
    GRUB_CONFIGS, LOADER_ENTRIES_DIR, SYSLINUX_CONFIGS,
};
pub use syslinux::parse_syslinux;
pub use systemd_boot::parse_systemd_boot_entry;

/// Deepest chain of includes followed.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Most configuration files read by one parse (includes counted).
pub const MAX_FILES: usize = 128;
/// Largest configuration file read (bytes).
pub const MAX_FILE_SIZE: u64 = 1 << 20;
/// Most entries collected by one parse.
pub const MAX_ENTRIES: usize = 4096;
/// Most bytes of configuration read by one parse (includes counted).
pub const MAX_TOTAL_BYTES: u64 = 8 << 20;
/// Most warnings kept.
pub const MAX_WARNINGS: usize = 256;
/// Longest expansion of one word (bytes).
const MAX_WORD: usize = 4096;

/// Which boot loader a configuration belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Loader {
    Grub,
    Syslinux,
    SystemdBoot,
}

/// One way the ISO's boot loader can start Linux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    pub loader: Loader,
    /// Menu title (GRUB `menuentry`, syslinux `MENU LABEL` or `LABEL`, systemd-boot `title`).
    pub title: Option<String>,
    /// Kernel path (absolute within the ISO), when the entry has one.
    pub kernel: Option<String>,
    /// Initrd paths in load order (absolute within the ISO).
    pub initrds: Vec<String>,
    /// Kernel command line as written (variables expanded where possible).
    pub cmdline: String,
    /// The configuration file the kernel (or first initrd) line is in.
    pub source: String,
}

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// A `$var` / `${var}` with no simple value; kept literally.
    UnresolvedVariable,
    /// An included file, kernel or initrd that is not in the ISO.
    MissingFile,
    /// A file that includes itself (directly or not); not followed again.
    IncludeLoop,
    /// Include depth, file count, file size or entry count limit reached.
    Limit,
    /// The ISO could not be read at this path.
    ReadError,
}

/// Something that may make the list of initrds incomplete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarningKind,
    /// The configuration file concerned (empty when none).
    pub file: String,
    /// 1-based line number, 0 when not known.
    pub line: usize,
    pub detail: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            WarningKind::UnresolvedVariable => "unresolved variable",
            WarningKind::MissingFile => "missing file",
            WarningKind::IncludeLoop => "include loop",
            WarningKind::Limit => "limit reached",
            WarningKind::ReadError => "read error",
        };
        if self.file.is_empty() {
            write!(f, "{what}: {}", self.detail)
        } else if self.line == 0 {
            write!(f, "{}: {what}: {}", self.file, self.detail)
        } else {
            write!(f, "{}:{}: {what}: {}", self.file, self.line, self.detail)
        }
    }
}

/// Entries and warnings from parsing one configuration (with its includes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub entries: Vec<BootEntry>,
    pub warnings: Vec<Warning>,
    /// Every configuration file read, in order (includes too).
    pub files: Vec<String>,
}

impl Parsed {
    fn warn(&mut self, kind: WarningKind, file: &str, line: usize, detail: String) {
        if self.warnings.len() < MAX_WARNINGS {
            let w = Warning { kind, file: String::from(file), line, detail };
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
    }
    fn push_entry(&mut self, e: BootEntry, file: &str) -> Option<usize> {
        if self.entries.len() >= MAX_ENTRIES {
            self.warn(WarningKind::Limit, file, 0, format!("more than {MAX_ENTRIES} entries"));
            return None;
        }
        self.entries.push(e);
        Some(self.entries.len() - 1)
    }
    /// The distinct initrd paths of all entries, in first-seen order.
    pub fn initrd_paths(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.entries {
            for i in &e.initrds {
                if !out.contains(i) {
                    out.push(i.clone());
                }
            }
        }
        out
    }
}

/// Normalise a path inside the ISO: a `(device)` prefix removed, `\` as `/`, leading `/`,
/// no empty or `.` components, `..` resolved (never above the root).
pub fn normalize_path(p: &str) -> String {
    path::normalize_clamped(strip_device(p))
}

/// `(hd0,1)/boot/x` -> `/boot/x`; `($root)/x` -> `/x`; anything else unchanged.
fn strip_device(p: &str) -> &str {
    if let Some(rest) = p.strip_prefix('(') {
        if let Some(end) = rest.find(')') {
            return &rest[end + 1..];
        }
    }
    p
}

/// `p` (a `(device)` prefix removed) opened from the directory `dir`.
fn join(dir: &str, p: &str) -> String {
    path::resolve(dir, strip_device(p))
}

fn text_of(data: &[u8]) -> String {
    // Drop a UTF-8 byte order mark; invalid bytes become U+FFFD.
    let data = data.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(data);
    String::from_utf8_lossy(data).into_owned()
}

/// Shared include bookkeeping.
struct Reader<'l, L: FnMut(&str) -> Option<Vec<u8>>> {
    load: &'l mut L,
    stack: Vec<String>,
    files_read: usize,
    bytes_read: u64,
}

impl<'l, L: FnMut(&str) -> Option<Vec<u8>>> Reader<'l, L> {
    /// A reader that has read nothing yet.
    fn new(load: &'l mut L) -> Self {
        Reader { load, stack: Vec::new(), files_read: 0, bytes_read: 0 }
    }

    /// Load `path` for inclusion from `from:line`; warns and returns `None` on loops,
    /// limits and missing files.
    fn open(&mut self, out: &mut Parsed, path: &str, from: &str, line: usize) -> Option<String> {
        if self.stack.iter().any(|p| p == path) {
            out.warn(WarningKind::IncludeLoop, from, line, format!("{path} includes itself"));
            return None;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            out.warn(
                WarningKind::Limit,
                from,
                line,
                format!("{path}: includes nested deeper than {MAX_INCLUDE_DEPTH}"),
            );
            return None;
        }
        if self.files_read >= MAX_FILES {
            out.warn(
                WarningKind::Limit,
                from,
                line,
                format!("{path}: more than {MAX_FILES} files read"),
            );
            return None;
        }
        let Some(data) = (self.load)(path) else {
            out.warn(WarningKind::MissingFile, from, line, format!("{path} not found"));
            return None;
        };
        self.files_read += 1;
        if data.len() as u64 > MAX_FILE_SIZE {
            out.warn(WarningKind::Limit, path, 0, format!("larger than {MAX_FILE_SIZE} bytes"));
            return None;
        }
        self.bytes_read += data.len() as u64;
        if self.bytes_read > MAX_TOTAL_BYTES {
            out.warn(
                WarningKind::Limit,
                from,
                line,
                format!("{path}: more than {MAX_TOTAL_BYTES} bytes of configuration"),
            );
            return None;
        }
        out.files.push(String::from(path));
        Some(text_of(&data))
    }
}

/// A line's first word (its keyword) and the rest, trimmed.
fn split_kw(line: &str) -> (&str, &str) {
    match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    }
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

#[cfg(test)]
mod tests;
