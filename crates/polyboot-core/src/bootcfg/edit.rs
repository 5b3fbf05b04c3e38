//! Kernel parameters added to every kernel line of a boot configuration file, for the boot
//! manager to serve the edited file in place of the ISO's own ([`crate::file_replace`]):
//! persistence, auto-install and driver-update parameters that an init system or installer
//! only takes from the kernel command line.
//!
//! Kernel lines, as the parsers of this module read them:
//! - GRUB: `linux` / `linuxefi` / `linux16` commands naming a kernel (one command may span
//!   lines or share one with others). A parameter with characters GRUB's shell reads
//!   specially (`;` in `ds=nocloud;s=...`, `$`, ...) is single-quoted; GRUB passes it to the
//!   kernel unquoted. A command ending inside an unclosed quote is left alone.
//! - syslinux / isolinux: per `LABEL` that boots a Linux kernel (`KERNEL` / `LINUX` not naming
//!   a COM32 module, boot sector or PXE image): its last `APPEND` line; else its `KERNEL`
//!   line with arguments; else the last global `APPEND` (which such a label inherits); else
//!   its `KERNEL` line. An `APPEND -` (no options at all) becomes the
//!   parameters. An old-style `DEFAULT kernel args` line (its first word no label of the file,
//!   arguments present) is a kernel line too.
//! - systemd-boot entries: an entry with a `linux` line: its last `options` line (the first
//!   one with a separator, if any), or a new `options` line after `linux`.
//!
//! In every format the parameters go before the first `--` / `---` word after the kernel
//! (the kernel hands what follows `--` to init; the Debian installer copies what follows
//! `---` into the installed system's boot loader), else after the line's last word.
//!
//! A parameter already on the line (as a word) is not added again, so editing an edited file
//! changes nothing. Everything else stays byte for byte: comments, line endings, invalid
//! UTF-8. The result stays within [`MAX_FILE_SIZE`] (what the reader reads).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::grub::strip_keywords;
use super::grub_lexer::grub_commands;
use super::{split_kw, BootConfigReport, Loader, MAX_ENTRIES, MAX_FILE_SIZE};

/// Longest parameter taken.
pub const MAX_PARAM_LEN: usize = 1024;
/// Most bytes of parameters (separators included) added to one line.
pub const MAX_PARAMS_LEN: usize = 4096;
/// Lines of a systemd-boot entry its parser reads.
const SD_MAX_LINES: usize = 10_000;

/// Why parameters cannot be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// Empty, too long, a `--` / `---` separator, or with a character that is not printable
    /// ASCII or that a boot loader reads differently (quotes, backslash).
    BadParam(String),
    /// More than [`MAX_PARAMS_LEN`] bytes of parameters.
    TooManyParams,
    /// The file, or the file with the parameters, is larger than [`MAX_FILE_SIZE`].
    TooLarge,
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::BadParam(p) => write!(f, "kernel parameter {p:?} cannot be added"),
            EditError::TooManyParams => {
                write!(f, "more than {MAX_PARAMS_LEN} bytes of kernel parameters")
            }
            EditError::TooLarge => {
                write!(f, "the configuration would be larger than {MAX_FILE_SIZE} bytes")
            }
        }
    }
}

/// What adding parameters to one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The new text (the old one when nothing changed).
    pub bytes: Vec<u8>,
    /// Kernel lines found.
    pub kernel_lines: usize,
    /// Lines changed (a global `APPEND` shared by several labels counts once).
    pub changed: usize,
    /// Kernel lines left alone because an edit could change their meaning (a GRUB command
    /// ending inside an unclosed quote).
    pub skipped: usize,
}

/// `params` checked: each non-empty, at most [`MAX_PARAM_LEN`] bytes of printable ASCII
/// without quotes or backslash, not a separator; together at most [`MAX_PARAMS_LEN`].
pub fn check_params(params: &[&str]) -> Result<(), EditError> {
    let mut total = 0usize;
    for p in params {
        let ok = !p.is_empty()
            && p.len() <= MAX_PARAM_LEN
            && *p != "--"
            && *p != "---"
            && p.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'\'' | b'"' | b'\\'));
        if !ok {
            return Err(EditError::BadParam(String::from(*p)));
        }
        total += p.len() + 1;
    }
    if total > MAX_PARAMS_LEN {
        return Err(EditError::TooManyParams);
    }
    Ok(())
}

/// Add `params` to every kernel line of one configuration file of `loader`'s format. `None`
/// when the file has no kernel line.
pub fn add_kernel_params(
    loader: Loader,
    text: &[u8],
    params: &[&str],
) -> Result<Option<Edited>, EditError> {
    check_params(params)?;
    if text.len() as u64 > MAX_FILE_SIZE {
        return Err(EditError::TooLarge);
    }
    let mut counts = Counts::default();
    let splices = match loader {
        Loader::Grub => grub_splices(text, params, &mut counts),
        Loader::Syslinux => syslinux_splices(text, params, &mut counts),
        Loader::SystemdBoot => systemd_boot_splices(text, params, &mut counts),
    };
    if counts.kernel_lines == 0 {
        return Ok(None);
    }
    let bytes = apply(text, splices)?;
    Ok(Some(Edited {
        bytes,
        kernel_lines: counts.kernel_lines,
        changed: counts.changed,
        skipped: counts.skipped,
    }))
}

/// One configuration file of an ISO with parameters added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEdit {
    /// Path inside the ISO, as the report names it.
    pub path: String,
    pub loader: Loader,
    pub bytes: Vec<u8>,
    /// Lines changed.
    pub changed: usize,
    /// Kernel lines left alone (see [`Edited::skipped`]).
    pub skipped: usize,
}

/// The configuration files of an ISO that need editing for `params`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigEdits {
    /// Files whose text changes: serve these bytes in place of the ISO's.
    pub edits: Vec<ConfigEdit>,
    /// Files with kernel lines that already had every parameter.
    pub unchanged: Vec<String>,
    /// Files that could not be read or edited, and why.
    pub problems: Vec<(String, String)>,
}

/// Every configuration file holding a kernel line of the report's entries (the file an
/// entry's `linux` / `KERNEL` line or systemd-boot entry is in), read with `read` (paths as
/// in the report) and given `params`. Fails only on bad parameters.
pub fn edit_boot_configs<L>(
    report: &BootConfigReport,
    mut read: L,
    params: &[&str],
) -> Result<ConfigEdits, EditError>
where
    L: FnMut(&str) -> Option<Vec<u8>>,
{
    check_params(params)?;
    let mut files: Vec<(&str, Loader)> = Vec::new();
    for e in &report.entries {
        if e.kernel.is_some() && !files.iter().any(|(p, _)| *p == e.source) {
            files.push((e.source.as_str(), e.loader));
        }
    }
    let mut out = ConfigEdits::default();
    for (path, loader) in files {
        let Some(text) = read(path) else {
            out.problems.push((String::from(path), String::from("cannot be read")));
            continue;
        };
        match add_kernel_params(loader, &text, params) {
            Ok(Some(e)) if e.changed > 0 => out.edits.push(ConfigEdit {
                path: String::from(path),
                loader,
                bytes: e.bytes,
                changed: e.changed,
                skipped: e.skipped,
            }),
            Ok(Some(_)) => out.unchanged.push(String::from(path)),
            Ok(None) => {
                out.problems.push((String::from(path), String::from("no kernel line found")))
            }
            Err(e) => out.problems.push((String::from(path), format!("{e}"))),
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Counts {
    kernel_lines: usize,
    changed: usize,
    skipped: usize,
}

/// Bytes `[start, end)` of the text replaced by `with`.
struct Splice {
    start: usize,
    end: usize,
    with: String,
}

fn apply(text: &[u8], mut splices: Vec<Splice>) -> Result<Vec<u8>, EditError> {
    splices.sort_by_key(|s| (s.start, s.end));
    let added: usize = splices.iter().map(|s| s.with.len()).sum();
    if (text.len() + added) as u64 > MAX_FILE_SIZE {
        return Err(EditError::TooLarge);
    }
    let mut out = Vec::with_capacity(text.len() + added);
    let mut at = 0usize;
    for s in splices {
        // Splices never overlap (one per line or command); a stray one is dropped.
        if s.start < at || s.end < s.start || s.end > text.len() {
            continue;
        }
        out.extend_from_slice(&text[at..s.start]);
        out.extend_from_slice(s.with.as_bytes());
        at = s.end;
    }
    out.extend_from_slice(&text[at..]);
    Ok(out)
}

/// The parameters of `params` not in `words`.
fn missing<'p, W: AsRef<str>>(params: &[&'p str], words: &[W]) -> Vec<&'p str> {
    params.iter().filter(|p| !words.iter().any(|w| w.as_ref() == **p)).copied().collect()
}

// ---- GRUB ----

/// `p` as one GRUB word: bare when it has only characters GRUB's shell takes literally,
/// else single-quoted (checked parameters have no quote or backslash).
fn grub_word(p: &str) -> String {
    if p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/:=,+@%^~-".contains(&b)) {
        String::from(p)
    } else {
        format!("'{p}'")
    }
}

/// The text with every byte at the same offset: non-ASCII bytes (never GRUB syntax) as
/// 0x01 (a plain word character that no parameter has, so a word with one never equals a
/// parameter, as with the parser's text), a leading byte order mark as spaces.
fn ascii_copy(text: &[u8]) -> String {
    let mut bytes: Vec<u8> = text.iter().map(|&b| if b.is_ascii() { b } else { 1 }).collect();
    if text.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes[..3].fill(b' ');
    }
    // Only ASCII bytes are left.
    String::from_utf8(bytes).unwrap_or_default()
}

fn grub_splices(text: &[u8], params: &[&str], counts: &mut Counts) -> Vec<Splice> {
    let ascii = ascii_copy(text);
    let mut splices = Vec::new();
    for cmd in grub_commands(&ascii) {
        let words = strip_keywords(&cmd.words);
        let Some(first) = words.first() else { continue };
        if first.has_vars()
            || first.brace.is_some()
            || !matches!(first.raw.as_str(), "linux" | "linuxefi" | "linux16")
        {
            continue;
        }
        let args = &words[1..];
        // The kernel: the first word that is not an option (the parser's rule).
        let Some(k) = args.iter().position(|w| !w.raw.starts_with("--")) else { continue };
        counts.kernel_lines += 1;
        // The command line: the words after the kernel.
        let raws: Vec<&str> = args[k + 1..].iter().map(|w| w.raw.as_str()).collect();
        let add = missing(params, &raws);
        if add.is_empty() {
            continue;
        }
        if cmd.words.iter().any(|w| w.unterminated) {
            counts.skipped += 1;
            continue;
        }
        let added: Vec<String> = add.iter().map(|p| grub_word(p)).collect();
        let added = added.join(" ");
        // A kernel word with variables may expand to an option, making a later word the
        // kernel: then only the end is surely after it.
        let separator = if args[k].has_vars() {
            None
        } else {
            args[k + 1..].iter().find(|w| w.raw == "--" || w.raw == "---")
        };
        let splice = match separator {
            Some(sep) => Splice { start: sep.start, end: sep.start, with: format!("{added} ") },
            None => {
                let end = args.last().map_or(first.end, |w| w.end);
                Splice { start: end, end, with: format!(" {added}") }
            }
        };
        splices.push(splice);
        counts.changed += 1;
    }
    splices
}

// ---- line-based formats ----

/// One line of the text: byte range without its line ending, and its text (lossy, the
/// byte order mark dropped), as the parsers read it.
struct Line {
    start: usize,
    /// End of the content (before `\r\n` / `\n`).
    end: usize,
    /// Whether a `\n` follows.
    newline: bool,
    /// `\r\n` ends it.
    crlf: bool,
    text: String,
}

fn lines_of(text: &[u8]) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = 0usize;
    while start < text.len() {
        let nl = text[start..].iter().position(|&b| b == b'\n').map(|i| start + i);
        let line_end = nl.unwrap_or(text.len());
        let crlf = line_end > start && text[line_end - 1] == b'\r';
        let end = if crlf { line_end - 1 } else { line_end };
        let mut content = &text[start..end];
        if start == 0 {
            content = content.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(content);
        }
        let text_of_line = String::from_utf8_lossy(content).into_owned();
        out.push(Line { start, end, newline: nl.is_some(), crlf, text: text_of_line });
        start = line_end + 1;
    }
    out
}

/// The first `--` / `---` word of line `l` after its first `skip` words (space or tab
/// separated): its byte offset.
fn separator_in_line(text: &[u8], l: &Line, skip: usize) -> Option<usize> {
    let bytes = &text[l.start..l.end];
    let ws = |b: u8| b == b' ' || b == b'\t';
    let mut i = 0usize;
    let mut word = 0usize;
    while i < bytes.len() {
        if ws(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !ws(bytes[i]) {
            i += 1;
        }
        if word >= skip && matches!(&bytes[start..i], b"--" | b"---") {
            return Some(l.start + start);
        }
        word += 1;
    }
    None
}

/// Add `add` to line `l`: before its first `--` / `---` word after the first `skip` words
/// (see the GRUB rule), else at the end of its content.
fn add_to_line(text: &[u8], l: &Line, skip: usize, add: &[&str]) -> Splice {
    match separator_in_line(text, l, skip) {
        Some(at) => Splice { start: at, end: at, with: format!("{} ", add.join(" ")) },
        None => Splice { start: l.end, end: l.end, with: format!(" {}", add.join(" ")) },
    }
}

// ---- syslinux ----

#[derive(Default)]
struct SysLabel {
    name: String,
    /// Line of its (last) KERNEL / LINUX and the kernel.
    kernel: Option<(usize, String)>,
    /// Its first KERNEL / LINUX line with arguments: the command line when it has no
    /// APPEND (the parser's rule).
    kernel_args: Option<usize>,
    /// Line of its last APPEND.
    append: Option<usize>,
}

/// Not a Linux kernel: COM32 modules, boot sectors, PXE images, memdisk (the parser's rule).
fn boots_linux(kernel: &str) -> bool {
    let lower = kernel.to_ascii_lowercase();
    let file_name = lower.rsplit('/').next().unwrap_or("");
    ![".c32", ".com", ".cbt", ".0", ".bss", ".bs"].iter().any(|s| lower.ends_with(s))
        && file_name != "memdisk"
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

/// The value after the keyword of a line (`split_kw` of the trimmed text).
fn value_of(l: &Line) -> &str {
    split_kw(l.text.trim()).1
}

fn syslinux_splices(text: &[u8], params: &[&str], counts: &mut Counts) -> Vec<Splice> {
    let lines = lines_of(text);
    let mut labels: Vec<SysLabel> = Vec::new();
    let mut current: Option<usize> = None;
    let mut global_append: Option<usize> = None;
    let mut defaults: Vec<usize> = Vec::new();
    let mut in_text = false;
    for (i, l) in lines.iter().enumerate() {
        let line = l.text.trim();
        if in_text {
            if line.eq_ignore_ascii_case("endtext") {
                in_text = false;
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kw, rest) = split_kw(line);
        match kw.to_ascii_lowercase().as_str() {
            "label" => {
                // The parser's bound: past it, lines belong to no label.
                if labels.len() < MAX_ENTRIES {
                    labels.push(SysLabel { name: String::from(rest), ..SysLabel::default() });
                    current = Some(labels.len() - 1);
                } else {
                    current = None;
                }
            }
            "kernel" | "linux" => {
                if let Some(lb) = current.and_then(|c| labels.get_mut(c)) {
                    let k = first_word(rest);
                    lb.kernel = Some((i, String::from(k)));
                    if lb.kernel_args.is_none() && !rest[k.len()..].trim().is_empty() {
                        lb.kernel_args = Some(i);
                    }
                }
            }
            "append" => match current.and_then(|c| labels.get_mut(c)) {
                Some(lb) => lb.append = Some(i),
                None => global_append = Some(i),
            },
            "default" => defaults.push(i),
            "text" => in_text = first_word(rest).eq_ignore_ascii_case("help"),
            "menu" => {
                let (sub, _) = split_kw(rest);
                if sub.eq_ignore_ascii_case("begin") || sub.eq_ignore_ascii_case("end") {
                    current = None;
                }
            }
            _ => {}
        }
    }

    let mut splices = Vec::new();
    let mut edited: Vec<usize> = Vec::new();
    // `skip`: words before the command line (the keyword; the kernel too on kernel lines).
    let mut edit = |line: usize, words_of: &dyn Fn(&Line) -> Vec<String>, skip: usize| {
        let l = &lines[line];
        let add = missing(params, &words_of(l));
        if add.is_empty() || edited.contains(&line) {
            return;
        }
        edited.push(line);
        if skip == 1 && value_of(l) == "-" {
            // `APPEND -`: no options at all; the parameters take its place.
            if let Some(dash) = text[l.start..l.end].iter().rposition(|&b| b == b'-') {
                let at = l.start + dash;
                splices.push(Splice { start: at, end: at + 1, with: add.join(" ") });
                return;
            }
        }
        splices.push(add_to_line(text, l, skip, &add));
    };
    let value_words = |l: &Line| -> Vec<String> {
        let v = value_of(l);
        if v == "-" {
            return Vec::new();
        }
        v.split_whitespace().map(String::from).collect()
    };
    let kernel_args = |l: &Line| -> Vec<String> {
        let v = value_of(l);
        v[first_word(v).len()..].split_whitespace().map(String::from).collect()
    };
    for lb in &labels {
        let Some((kline, kernel)) = &lb.kernel else { continue };
        if !boots_linux(kernel) {
            continue;
        }
        counts.kernel_lines += 1;
        if kernel.is_empty() {
            // `KERNEL` alone: words added to it would become the kernel.
            counts.skipped += 1;
            continue;
        }
        match (lb.append, lb.kernel_args, global_append) {
            (Some(a), _, _) => edit(a, &value_words, 1),
            (None, Some(k), _) => edit(k, &kernel_args, 2),
            (None, None, Some(g)) => edit(g, &value_words, 1),
            (None, None, None) => edit(*kline, &kernel_args, 2),
        }
    }
    // Old-style `DEFAULT kernel args`.
    for &d in &defaults {
        let value = value_of(&lines[d]);
        let k = first_word(value);
        let has_args = !value[k.len()..].trim().is_empty();
        if k.is_empty() || !has_args || labels.iter().any(|l| l.name.eq_ignore_ascii_case(k)) {
            continue;
        }
        if boots_linux(k) {
            counts.kernel_lines += 1;
            edit(d, &kernel_args, 2);
        }
    }
    counts.changed += edited.len();
    splices
}

// ---- systemd-boot ----

fn systemd_boot_splices(text: &[u8], params: &[&str], counts: &mut Counts) -> Vec<Splice> {
    let lines = lines_of(text);
    let mut linux: Option<usize> = None;
    // The last `options` line, and the first with a separator.
    let mut options: Option<usize> = None;
    let mut separated: Option<usize> = None;
    let mut words: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate().take(SD_MAX_LINES) {
        let line = l.text.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = split_kw(line);
        match key {
            "linux" => linux = Some(i),
            "options" => {
                options = Some(i);
                if separated.is_none() && separator_in_line(text, l, 1).is_some() {
                    separated = Some(i);
                }
                words.extend(value.split_whitespace().map(String::from));
            }
            _ => {}
        }
    }
    let Some(linux) = linux else { return Vec::new() };
    counts.kernel_lines += 1;
    let add = missing(params, &words);
    if add.is_empty() {
        return Vec::new();
    }
    let splice = match separated.or(options) {
        Some(o) => add_to_line(text, &lines[o], 1, &add),
        // A new line after the parser's last one would not be read.
        None if linux + 1 >= SD_MAX_LINES => {
            counts.skipped += 1;
            return Vec::new();
        }
        None => {
            // A new `options` line after `linux`, with the file's line ending.
            let l = &lines[linux];
            let eol = if lines.iter().any(|l| l.crlf) { "\r\n" } else { "\n" };
            let line = format!("options {}", add.join(" "));
            if l.newline {
                let at = l.end + if l.crlf { 2 } else { 1 };
                Splice { start: at, end: at, with: format!("{line}{eol}") }
            } else {
                Splice { start: l.end, end: l.end, with: format!("{eol}{line}") }
            }
        }
    };
    counts.changed += 1;
    alloc::vec![splice]
}

#[cfg(test)]
mod tests;
