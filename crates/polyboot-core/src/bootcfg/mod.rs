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

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::block::ReadAt;
use crate::iso9660::{self, IsoEntry, IsoError, Section, Tree};

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
            let w = Warning {
                kind,
                file: String::from(file),
                line,
                detail,
            };
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
    }
    fn push_entry(&mut self, e: BootEntry, file: &str) -> Option<usize> {
        if self.entries.len() >= MAX_ENTRIES {
            self.warn(
                WarningKind::Limit,
                file,
                0,
                format!("more than {MAX_ENTRIES} entries"),
            );
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
    let p = strip_device(p);
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split(['/', '\\']) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::new();
    for c in parts {
        out.push('/');
        out.push_str(c);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
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

fn join(dir: &str, p: &str) -> String {
    let p = strip_device(p);
    if p.starts_with('/') || p.starts_with('\\') {
        normalize_path(p)
    } else {
        let mut s = String::from(dir);
        s.push('/');
        s.push_str(p);
        normalize_path(&s)
    }
}

fn parent_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => String::from("/"),
        Some(i) => String::from(&p[..i]),
    }
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

impl<L: FnMut(&str) -> Option<Vec<u8>>> Reader<'_, L> {
    /// Load `path` for inclusion from `from:line`; warns and returns `None` on loops,
    /// limits and missing files.
    fn open(&mut self, out: &mut Parsed, path: &str, from: &str, line: usize) -> Option<String> {
        if self.stack.iter().any(|p| p == path) {
            out.warn(
                WarningKind::IncludeLoop,
                from,
                line,
                format!("{path} includes itself"),
            );
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
            out.warn(
                WarningKind::MissingFile,
                from,
                line,
                format!("{path} not found"),
            );
            return None;
        };
        self.files_read += 1;
        if data.len() as u64 > MAX_FILE_SIZE {
            out.warn(
                WarningKind::Limit,
                path,
                0,
                format!("larger than {MAX_FILE_SIZE} bytes"),
            );
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

// ---------------------------------------------------------------------------------------
// GRUB
// ---------------------------------------------------------------------------------------

/// One word of a GRUB command as written: its text with quotes removed, plus the names of
/// the variables it refers to (expanded later, once assignments are known).
#[derive(Debug, Clone, Default)]
struct Word {
    /// Pieces: literal text or a variable reference.
    pieces: Vec<Piece>,
    /// The word is an unquoted `{` or `}` on its own.
    brace: Option<char>,
    /// Some part of the word was quoted.
    quoted: bool,
    /// Fully literal (no variables).
    raw: String,
}

#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    Var(String),
}

impl Word {
    fn push_char(&mut self, c: char) {
        self.raw.push(c);
        match self.pieces.last_mut() {
            Some(Piece::Lit(s)) => s.push(c),
            _ => self.pieces.push(Piece::Lit(String::from(c))),
        }
    }
    fn push_var(&mut self, name: String) {
        self.raw.push_str("${");
        self.raw.push_str(&name);
        self.raw.push('}');
        self.pieces.push(Piece::Var(name));
    }
    fn has_vars(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Var(_)))
    }
}

/// One command: its words and the line it starts on.
#[derive(Debug, Clone)]
struct Command {
    words: Vec<Word>,
    line: usize,
}

fn is_var_start(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '?' || c == '#' || c == '@' || c == '*'
}

/// Split GRUB script text into commands. Separators: newline and `;` outside quotes, and
/// unquoted `{` / `}` words (which also become commands of their own).
fn grub_commands(text: &str) -> Vec<Command> {
    let mut cmds = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut cur: Option<Word> = None;
    let mut line = 1usize;
    let mut cmd_line = 1usize;
    let mut chars = text.chars().peekable();

    fn end_word(words: &mut Vec<Word>, cur: &mut Option<Word>) {
        if let Some(mut w) = cur.take() {
            if !w.quoted && w.pieces.len() == 1 && (w.raw == "{" || w.raw == "}") {
                w.brace = w.raw.chars().next();
            }
            words.push(w);
        }
    }
    fn end_cmd(cmds: &mut Vec<Command>, words: &mut Vec<Word>, line: usize) {
        // `{` and `}` words split commands: `menuentry x {` -> [menuentry x] [{].
        let mut current = Vec::new();
        for w in words.drain(..) {
            if w.brace.is_some() {
                if !current.is_empty() {
                    cmds.push(Command {
                        words: core::mem::take(&mut current),
                        line,
                    });
                }
                cmds.push(Command {
                    words: alloc::vec![w],
                    line,
                });
            } else {
                current.push(w);
            }
        }
        if !current.is_empty() {
            cmds.push(Command {
                words: current,
                line,
            });
        }
    }

    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                end_word(&mut words, &mut cur);
                end_cmd(&mut cmds, &mut words, cmd_line);
                line += 1;
                cmd_line = line;
            }
            ';' => {
                end_word(&mut words, &mut cur);
                end_cmd(&mut cmds, &mut words, cmd_line);
                cmd_line = line;
            }
            ' ' | '\t' | '\r' => end_word(&mut words, &mut cur),
            '#' if cur.is_none() => {
                // Comment to the end of the line.
                while let Some(&n) = chars.peek() {
                    if n == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '\\' => match chars.next() {
                Some('\n') => line += 1, // line continuation
                Some(n) => cur.get_or_insert_with(Word::default).push_char(n),
                None => {}
            },
            '\'' => {
                let w = cur.get_or_insert_with(Word::default);
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                    if n == '\n' {
                        line += 1;
                    }
                    if w.raw.len() < MAX_WORD {
                        w.push_char(n);
                    }
                }
                w.quoted = true;
            }
            '"' => {
                let w = cur.get_or_insert_with(Word::default);
                w.quoted = true;
                while let Some(n) = chars.next() {
                    match n {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&e @ ('"' | '\\' | '$')) => {
                                chars.next();
                                w.push_char(e);
                            }
                            Some('\n') => {
                                chars.next();
                                line += 1;
                            }
                            _ => w.push_char('\\'),
                        },
                        '$' => read_var(&mut chars, w),
                        '\n' => {
                            line += 1;
                            w.push_char(n);
                        }
                        n => {
                            if w.raw.len() < MAX_WORD {
                                w.push_char(n)
                            }
                        }
                    }
                }
            }
            '$' => {
                let w = cur.get_or_insert_with(Word::default);
                read_var(&mut chars, w);
            }
            c => {
                let w = cur.get_or_insert_with(Word::default);
                if w.raw.len() < MAX_WORD {
                    w.push_char(c);
                }
            }
        }
    }
    end_word(&mut words, &mut cur);
    end_cmd(&mut cmds, &mut words, cmd_line);
    cmds
}

fn read_var(chars: &mut core::iter::Peekable<core::str::Chars<'_>>, w: &mut Word) {
    match chars.peek() {
        Some('{') => {
            chars.next();
            let mut name = String::new();
            for n in chars.by_ref() {
                if n == '}' {
                    break;
                }
                if name.len() < 256 {
                    name.push(n);
                }
            }
            w.push_var(name);
        }
        Some(&c) if is_var_start(c) => {
            let mut name = String::new();
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphanumeric() || n == '_' {
                    name.push(n);
                    chars.next();
                    if name.len() >= 256 {
                        break;
                    }
                } else {
                    if name.is_empty() {
                        name.push(n);
                        chars.next();
                    }
                    break;
                }
            }
            w.push_var(name);
        }
        _ => w.push_char('$'),
    }
}

/// Variable values collected from `set` commands: a name with one distinct value is
/// expandable; a name set to several values (or to something with variables we could not
/// resolve) is not.
#[derive(Debug, Default, Clone)]
struct Vars {
    map: BTreeMap<String, Option<String>>,
    /// Values known before the configuration runs (`prefix`, `root`): used only for names
    /// the configuration never sets.
    defaults: BTreeMap<String, String>,
}

impl Vars {
    fn set(&mut self, name: &str, value: Option<String>) {
        match self.map.get(name) {
            None => {
                self.map.insert(String::from(name), value);
            }
            Some(Some(old)) if Some(old) == value.as_ref() => {}
            Some(_) => {
                self.map.insert(String::from(name), None);
            }
        }
    }
    fn get(&self, name: &str) -> Option<&str> {
        match self.map.get(name) {
            Some(v) => v.as_deref(),
            None => self.defaults.get(name).map(String::as_str),
        }
    }
}

/// Expand a word; unresolved variables stay as `${name}` and are returned.
fn expand(w: &Word, vars: &Vars) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut unresolved = Vec::new();
    for p in &w.pieces {
        match p {
            Piece::Lit(s) => out.push_str(s),
            Piece::Var(name) => match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                    unresolved.push(name.clone());
                }
            },
        }
        if out.len() > MAX_WORD {
            let mut end = MAX_WORD;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            break;
        }
    }
    (out, unresolved)
}

/// Expand a path word: a leading `(device)` prefix (which may hold variables, as in
/// `($root)/x`) is dropped without expanding it, then the rest is expanded.
fn expand_path(w: &Word, vars: &Vars) -> (String, Vec<String>) {
    if let Some(Piece::Lit(first)) = w.pieces.first() {
        if first.starts_with('(') {
            for (i, p) in w.pieces.iter().enumerate() {
                if let Piece::Lit(s) = p {
                    if let Some(end) = s.find(')') {
                        let mut rest = w.clone();
                        rest.pieces.drain(..i);
                        rest.pieces[0] = Piece::Lit(String::from(&s[end + 1..]));
                        return expand(&rest, vars);
                    }
                }
            }
        }
    }
    expand(w, vars)
}

/// A `name=value` assignment word (GRUB allows bare assignments too).
fn assignment(w: &Word) -> Option<(String, &Word)> {
    let Some(Piece::Lit(first)) = w.pieces.first() else {
        return None;
    };
    let eq = first.find('=')?;
    let name = &first[..eq];
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    Some((String::from(name), w))
}

fn assignment_value(w: &Word, vars: &Vars) -> Option<String> {
    let mut v = w.clone();
    if let Some(Piece::Lit(first)) = v.pieces.first_mut() {
        let eq = first.find('=')?;
        *first = String::from(&first[eq + 1..]);
    }
    let (s, unresolved) = expand(&v, vars);
    if unresolved.is_empty() {
        Some(s)
    } else {
        None
    }
}

const GRUB_KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "while", "until", "do", "done", "!",
];

/// Parse a GRUB configuration starting at `path` (absolute within the ISO), following
/// `source`, `configfile` and `.` through `load`. `initial` are variables known before the
/// file runs (e.g. `prefix`); a `set` in the files replaces them.
pub fn parse_grub<L>(path: &str, initial: &[(&str, &str)], mut load: L) -> Parsed
where
    L: FnMut(&str) -> Option<Vec<u8>>,
{
    let mut out = Parsed::default();
    let mut reader = Reader {
        load: &mut load,
        stack: Vec::new(),
        files_read: 0,
        bytes_read: 0,
    };
    // Pass 1: read every file reachable (includes resolved with the variables known so
    // far), collecting commands and assignments.
    let mut vars = Vars::default();
    for (k, v) in initial {
        vars.defaults.insert(String::from(*k), String::from(*v));
    }
    let mut files: Vec<(String, Vec<Command>)> = Vec::new();
    let path = normalize_path(path);
    grub_read(&mut reader, &mut out, &path, "", 0, &mut vars, &mut files);
    // Pass 2: walk the commands in file order with the final variable values.
    for (file, cmds) in &files {
        grub_entries(&mut out, file, cmds, &vars);
    }
    out
}

fn grub_read<L: FnMut(&str) -> Option<Vec<u8>>>(
    reader: &mut Reader<'_, L>,
    out: &mut Parsed,
    path: &str,
    from: &str,
    from_line: usize,
    vars: &mut Vars,
    files: &mut Vec<(String, Vec<Command>)>,
) {
    let Some(text) = reader.open(out, path, from, from_line) else {
        return;
    };
    reader.stack.push(String::from(path));
    let cmds = grub_commands(&text);
    let index = files.len();
    files.push((String::from(path), Vec::new()));
    for cmd in &cmds {
        let words = strip_keywords(&cmd.words);
        let Some(first) = words.first() else { continue };
        if words.len() == 1 {
            if let Some((name, w)) = assignment(first) {
                let v = assignment_value(w, vars);
                vars.set(&name, v);
                continue;
            }
        }
        if first.has_vars() {
            continue;
        }
        match first.raw.as_str() {
            "set" => {
                for w in &words[1..] {
                    if let Some((name, w)) = assignment(w) {
                        let v = assignment_value(w, vars);
                        vars.set(&name, v);
                    }
                }
            }
            "source" | "configfile" | "." => {
                if let Some(arg) = words.get(1) {
                    let (p, unresolved) = expand_path(arg, vars);
                    if !unresolved.is_empty() {
                        out.warn(
                            WarningKind::UnresolvedVariable,
                            path,
                            cmd.line,
                            format!(
                                "{} {}: ${{{}}} has no simple value; not followed",
                                first.raw,
                                p,
                                unresolved.join("}, ${")
                            ),
                        );
                        continue;
                    }
                    let target = join("/", &p);
                    grub_read(reader, out, &target, path, cmd.line, vars, files);
                }
            }
            _ => {}
        }
    }
    files[index].1 = cmds;
    reader.stack.pop();
}

fn strip_keywords(words: &[Word]) -> &[Word] {
    let mut w = words;
    while let Some(first) = w.first() {
        if !first.has_vars() && first.brace.is_none() && GRUB_KEYWORDS.contains(&first.raw.as_str())
        {
            w = &w[1..];
        } else {
            break;
        }
    }
    w
}

/// Options of `menuentry` / `submenu` that take a value.
const MENUENTRY_VALUE_OPTS: &[&str] = &["--class", "--users", "--hotkey", "--id", "--source"];

fn menu_title(words: &[Word], vars: &Vars) -> Option<String> {
    let mut i = 1;
    while i < words.len() {
        let (w, _) = expand(&words[i], vars);
        if w.starts_with("--") {
            if MENUENTRY_VALUE_OPTS.contains(&w.as_str()) {
                i += 1;
            }
            i += 1;
            continue;
        }
        return Some(w);
    }
    None
}

fn grub_entries(out: &mut Parsed, file: &str, cmds: &[Command], vars: &Vars) {
    // Stack of open blocks: Some(title) for menuentry/submenu, None for others.
    let mut blocks: Vec<Option<String>> = Vec::new();
    let mut pending_title: Option<Option<String>> = None;
    let mut current: Option<usize> = None;
    for cmd in cmds {
        if let Some(b) = cmd.words.first().and_then(|w| w.brace) {
            if b == '{' {
                blocks.push(pending_title.take().unwrap_or(None));
                current = None;
            } else {
                blocks.pop();
                current = None;
            }
            continue;
        }
        pending_title = None;
        let words = strip_keywords(&cmd.words);
        let Some(first) = words.first() else { continue };
        if first.has_vars() {
            continue;
        }
        let name = first.raw.as_str();
        match name {
            "menuentry" | "submenu" => {
                pending_title = Some(menu_title(words, vars));
            }
            "function" => pending_title = Some(None),
            "linux" | "linuxefi" | "linux16" => {
                let mut args = Vec::new();
                for w in &words[1..] {
                    // The kernel (first non-option word) may carry a device prefix.
                    let is_path = args
                        .iter()
                        .all(|(a, _): &(String, Vec<String>)| a.starts_with("--"));
                    args.push(if is_path {
                        expand_path(w, vars)
                    } else {
                        expand(w, vars)
                    });
                }
                let Some(ki) = args.iter().position(|(a, _)| !a.starts_with("--")) else {
                    continue;
                };
                let (kpath, kun) = &args[ki];
                if !kun.is_empty() {
                    out.warn(
                        WarningKind::UnresolvedVariable,
                        file,
                        cmd.line,
                        format!("kernel path {kpath}"),
                    );
                }
                let mut cmdline = String::new();
                for (a, un) in &args[ki + 1..] {
                    if !un.is_empty() {
                        out.warn(
                            WarningKind::UnresolvedVariable,
                            file,
                            cmd.line,
                            format!("${{{}}} in the command line of {kpath}", un.join("}, ${")),
                        );
                    }
                    if !cmdline.is_empty() {
                        cmdline.push(' ');
                    }
                    cmdline.push_str(a);
                }
                let title = blocks.iter().rev().flatten().next().cloned();
                current = out.push_entry(
                    BootEntry {
                        loader: Loader::Grub,
                        title,
                        kernel: Some(normalize_path(kpath)),
                        initrds: Vec::new(),
                        cmdline,
                        source: String::from(file),
                    },
                    file,
                );
            }
            "initrd" | "initrdefi" | "initrd16" => {
                let mut paths = Vec::new();
                for w in &words[1..] {
                    let (s, unresolved) = expand_path(w, vars);
                    if s.starts_with("--") {
                        continue;
                    }
                    if !unresolved.is_empty() {
                        out.warn(
                            WarningKind::UnresolvedVariable,
                            file,
                            cmd.line,
                            format!("initrd path {s}"),
                        );
                    }
                    paths.push(normalize_path(&s));
                }
                if paths.is_empty() {
                    continue;
                }
                let idx = match current {
                    Some(i) => Some(i),
                    _ => {
                        let title = blocks.iter().rev().flatten().next().cloned();
                        out.push_entry(
                            BootEntry {
                                loader: Loader::Grub,
                                title,
                                kernel: None,
                                initrds: Vec::new(),
                                cmdline: String::new(),
                                source: String::from(file),
                            },
                            file,
                        )
                    }
                };
                if let Some(i) = idx {
                    out.entries[i].initrds = paths;
                }
                current = idx;
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// isolinux / syslinux
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct SysLabel {
    name: String,
    menu_label: Option<String>,
    kernel: Option<String>,
    append: Option<String>,
    initrd: Option<String>,
    source: String,
    line: usize,
}

struct SysState {
    labels: Vec<SysLabel>,
    /// The label the following KERNEL / APPEND / MENU LABEL lines belong to.
    current: Option<usize>,
    global_append: Option<String>,
    defaults: Vec<(String, String, usize)>,
}

/// Parse an isolinux / syslinux / extlinux / pxelinux configuration. Relative paths are
/// resolved against `base_dir` (isolinux's working directory: the directory holding
/// `isolinux.cfg`), as are `INCLUDE` / `CONFIG` files.
pub fn parse_syslinux<L>(path: &str, base_dir: &str, mut load: L) -> Parsed
where
    L: FnMut(&str) -> Option<Vec<u8>>,
{
    let mut out = Parsed::default();
    let mut reader = Reader {
        load: &mut load,
        stack: Vec::new(),
        files_read: 0,
        bytes_read: 0,
    };
    let mut st = SysState {
        labels: Vec::new(),
        current: None,
        global_append: None,
        defaults: Vec::new(),
    };
    let base = normalize_path(base_dir);
    sys_read(
        &mut reader,
        &mut out,
        &normalize_path(path),
        "",
        0,
        &base,
        &mut st,
    );

    // `DEFAULT` naming no label is a kernel command line (old-style configurations).
    for (value, file, line) in &st.defaults {
        let first = value.split_whitespace().next().unwrap_or("");
        if first.is_empty() || st.labels.iter().any(|l| l.name.eq_ignore_ascii_case(first)) {
            continue;
        }
        let rest = value[value.find(first).unwrap_or(0) + first.len()..].trim();
        st.labels.push(SysLabel {
            name: String::from(first),
            kernel: Some(String::from(first)),
            append: if rest.is_empty() {
                None
            } else {
                Some(String::from(rest))
            },
            source: file.clone(),
            line: *line,
            ..SysLabel::default()
        });
    }

    for l in st.labels {
        let Some(kernel) = l.kernel else { continue };
        let lower = kernel.to_ascii_lowercase();
        // COM32 modules, boot sectors and PXE images are not Linux kernels.
        let file_name = lower.rsplit('/').next().unwrap_or("");
        if [".c32", ".com", ".cbt", ".0", ".bss", ".bs"]
            .iter()
            .any(|s| lower.ends_with(s))
            || file_name == "memdisk"
        {
            continue;
        }
        let append = l
            .append
            .or_else(|| st.global_append.clone())
            .unwrap_or_default();
        let mut initrds = Vec::new();
        let mut from_append = false;
        for word in append.split_whitespace() {
            if let Some(v) = word.strip_prefix("initrd=") {
                from_append = true;
                initrds.clear(); // the last initrd= wins
                for p in v.split(',').filter(|p| !p.is_empty()) {
                    initrds.push(join(&base, p));
                }
            }
        }
        if !from_append {
            if let Some(i) = &l.initrd {
                for p in i.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
                    initrds.push(join(&base, p));
                }
            }
        }
        if append.contains('$') {
            out.warn(
                WarningKind::UnresolvedVariable,
                &l.source,
                l.line,
                format!("label {}: {append}", l.name),
            );
        }
        let title = l
            .menu_label
            .map(|m| m.replace('^', ""))
            .or_else(|| Some(l.name.clone()));
        out.push_entry(
            BootEntry {
                loader: Loader::Syslinux,
                title,
                kernel: Some(join(&base, &kernel)),
                initrds,
                cmdline: append,
                source: l.source,
            },
            "",
        );
    }
    out
}

fn sys_read<L: FnMut(&str) -> Option<Vec<u8>>>(
    reader: &mut Reader<'_, L>,
    out: &mut Parsed,
    path: &str,
    from: &str,
    from_line: usize,
    base: &str,
    st: &mut SysState,
) {
    let Some(text) = reader.open(out, path, from, from_line) else {
        return;
    };
    reader.stack.push(String::from(path));
    let mut in_text = false;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
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
        let kw = kw.to_ascii_lowercase();
        match kw.as_str() {
            "label" => {
                if st.labels.len() < MAX_ENTRIES {
                    st.labels.push(SysLabel {
                        name: String::from(rest),
                        source: String::from(path),
                        line: line_no,
                        ..SysLabel::default()
                    });
                    st.current = Some(st.labels.len() - 1);
                } else {
                    st.current = None;
                }
            }
            "kernel" | "linux" => {
                if let Some(l) = st.current.and_then(|i| st.labels.get_mut(i)) {
                    l.kernel = Some(String::from(first_word(rest)));
                    let extra = rest[first_word(rest).len()..].trim();
                    if !extra.is_empty() && l.append.is_none() {
                        l.append = Some(String::from(extra));
                    }
                    l.source = String::from(path);
                    l.line = line_no;
                }
            }
            "append" => match st.current.and_then(|i| st.labels.get_mut(i)) {
                Some(l) => l.append = Some(String::from(rest)),
                None => st.global_append = Some(String::from(rest)),
            },
            "initrd" => {
                if let Some(l) = st.current.and_then(|i| st.labels.get_mut(i)) {
                    l.initrd = Some(String::from(rest));
                }
            }
            "default" => st
                .defaults
                .push((String::from(rest), String::from(path), line_no)),
            "text" => in_text = first_word(rest).eq_ignore_ascii_case("help"),
            "include" | "config" => {
                let target = join(base, first_word(rest));
                sys_read(reader, out, &target, path, line_no, base, st);
            }
            "menu" => {
                let (sub, arg) = split_kw(rest);
                if sub.eq_ignore_ascii_case("label") {
                    if let Some(l) = st.current.and_then(|i| st.labels.get_mut(i)) {
                        l.menu_label = Some(String::from(arg));
                    }
                } else if sub.eq_ignore_ascii_case("begin") || sub.eq_ignore_ascii_case("end") {
                    st.current = None;
                } else if sub.eq_ignore_ascii_case("include") {
                    let target = join(base, first_word(arg));
                    sys_read(reader, out, &target, path, line_no, base, st);
                }
            }
            _ => {}
        }
    }
    reader.stack.pop();
}

fn split_kw(line: &str) -> (&str, &str) {
    match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    }
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

// ---------------------------------------------------------------------------------------
// systemd-boot
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// On an ISO image
// ---------------------------------------------------------------------------------------

/// Which directory tree of the ISO a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    /// The primary ISO 9660 tree (whose records also carry the Rock Ridge names).
    Primary,
    Joliet,
}

/// Where a file's directory record and data are in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub tree: TreeKind,
    /// Byte offset of the (first) directory record in the image; the extent and size
    /// fields are at `record_offset + iso9660::RECORD_EXTENT_FIELD`.
    pub record_offset: u64,
    /// First logical block of the data.
    pub lba: u32,
    pub size: u64,
    /// Every section (one per directory record; several only for files of 4 GiB and more).
    pub sections: Vec<Section>,
}

impl FileRecord {
    fn of(tree: TreeKind, e: &IsoEntry) -> FileRecord {
        FileRecord {
            tree,
            record_offset: e.record_offset(),
            lba: e.lba(),
            size: e.size,
            sections: e.sections.clone(),
        }
    }
}

/// An initrd some entry loads, as found in the ISO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitrdFile {
    /// Path as the configuration names it (normalised).
    pub path: String,
    pub size: u64,
    /// The file's records: the primary tree's first, then Joliet's when the image has one.
    pub records: Vec<FileRecord>,
}

/// What [`find_boot_entries`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootConfigReport {
    /// Distinct entries from every configuration read.
    pub entries: Vec<BootEntry>,
    /// Distinct initrds that exist in the ISO, in first-seen order.
    pub initrds: Vec<InitrdFile>,
    pub warnings: Vec<Warning>,
    /// Configuration files read.
    pub files: Vec<String>,
}

/// GRUB configurations looked for, with the `prefix` GRUB would have.
pub const GRUB_CONFIGS: &[&str] = &[
    "/boot/grub/grub.cfg",
    "/boot/grub/x86_64-efi/grub.cfg",
    "/boot/grub/loopback.cfg",
    "/EFI/BOOT/grub.cfg",
    "/boot/grub2/grub.cfg",
];
/// isolinux / syslinux configurations looked for.
pub const SYSLINUX_CONFIGS: &[&str] = &[
    "/isolinux/isolinux.cfg",
    "/boot/isolinux/isolinux.cfg",
    "/isolinux.cfg",
    "/syslinux/syslinux.cfg",
    "/boot/syslinux/syslinux.cfg",
    "/syslinux.cfg",
];
/// Directory of systemd-boot loader entries.
pub const LOADER_ENTRIES_DIR: &str = "/loader/entries";

/// Read an ISO image's boot configurations and list the kernels and initrds its boot
/// loaders may load, with the directory records of every initrd (for overriding). Fails
/// only when the image is not a readable ISO 9660 volume; everything else is a warning.
pub fn find_boot_entries<D: ReadAt + ?Sized>(iso: &mut D) -> Result<BootConfigReport, IsoError> {
    let info = iso9660::probe(iso)?;
    let tree = info.preferred_tree().clone();
    let mut report = BootConfigReport::default();
    let mut read_errors: Vec<Warning> = Vec::new();

    let primary = info.primary.clone();
    let mut load = |p: &str| -> Option<Vec<u8>> {
        let found = match iso9660::lookup(&mut *iso, &tree, p) {
            Err(IsoError::NotFound) | Err(IsoError::NotADirectory) if tree != primary => {
                iso9660::lookup(&mut *iso, &primary, p)
            }
            r => r,
        };
        match found {
            Ok(e) if !e.is_dir() => match iso9660::read_to_vec(&mut *iso, &e, MAX_FILE_SIZE) {
                Ok(d) => Some(d),
                Err(err) => {
                    read_errors.push(Warning {
                        kind: WarningKind::ReadError,
                        file: String::from(p),
                        line: 0,
                        detail: err.to_string(),
                    });
                    None
                }
            },
            Ok(_) | Err(IsoError::NotFound) | Err(IsoError::NotADirectory) => None,
            Err(err) => {
                read_errors.push(Warning {
                    kind: WarningKind::ReadError,
                    file: String::from(p),
                    line: 0,
                    detail: err.to_string(),
                });
                None
            }
        }
    };

    let mut parsed: Vec<Parsed> = Vec::new();
    for cfg in GRUB_CONFIGS {
        // Only top-level files that exist (missing ones are not a problem).
        let Some(first) = load(cfg) else { continue };
        let prefix = parent_dir(cfg);
        let mut first = Some(first);
        let p = parse_grub(cfg, &[("prefix", prefix.as_str()), ("root", "cd0")], |q| {
            if q.eq_ignore_ascii_case(cfg) {
                if let Some(d) = first.take() {
                    return Some(d);
                }
            }
            load(q)
        });
        parsed.push(p);
    }
    for cfg in SYSLINUX_CONFIGS {
        let Some(first) = load(cfg) else { continue };
        let base = parent_dir(cfg);
        let mut first = Some(first);
        let p = parse_syslinux(cfg, &base, |q| {
            if q.eq_ignore_ascii_case(cfg) {
                if let Some(d) = first.take() {
                    return Some(d);
                }
            }
            load(q)
        });
        parsed.push(p);
    }

    // systemd-boot entries.
    let mut sd = Parsed::default();
    let found = [&tree, &info.primary].into_iter().find_map(|t| {
        match iso9660::lookup(&mut *iso, t, LOADER_ENTRIES_DIR) {
            Ok(d) if d.is_dir() => Some((t.clone(), d)),
            _ => None,
        }
    });
    if let Some((dir_tree, dir)) = found {
        {
            match iso9660::read_dir(&mut *iso, &dir_tree, &dir.record) {
                Ok(list) => {
                    let mut list: Vec<IsoEntry> = list
                        .into_iter()
                        .filter(|e| !e.is_dir() && e.name().to_ascii_lowercase().ends_with(".conf"))
                        .collect();
                    list.sort_by(|a, b| a.name().cmp(b.name()));
                    for e in list.iter().take(MAX_FILES) {
                        let path = format!("{LOADER_ENTRIES_DIR}/{}", e.name());
                        match iso9660::read_to_vec(&mut *iso, e, MAX_FILE_SIZE) {
                            Ok(d) => {
                                sd.files.push(path.clone());
                                if let Some(entry) = parse_systemd_boot_entry(&path, &d) {
                                    sd.entries.push(entry);
                                }
                            }
                            Err(err) => sd.warn(WarningKind::ReadError, &path, 0, err.to_string()),
                        }
                    }
                }
                Err(err) => sd.warn(
                    WarningKind::ReadError,
                    LOADER_ENTRIES_DIR,
                    0,
                    err.to_string(),
                ),
            }
        }
    }
    parsed.push(sd);

    for p in parsed {
        for e in p.entries {
            let dup = report.entries.iter().any(|o| {
                o.loader == e.loader
                    && o.kernel == e.kernel
                    && o.initrds == e.initrds
                    && o.cmdline == e.cmdline
            });
            if !dup && report.entries.len() < MAX_ENTRIES {
                report.entries.push(e);
            }
        }
        for w in p.warnings {
            if !report.warnings.contains(&w) && report.warnings.len() < MAX_WARNINGS {
                report.warnings.push(w);
            }
        }
        for f in p.files {
            if !report.files.contains(&f) {
                report.files.push(f);
            }
        }
    }
    for w in read_errors {
        if !report.warnings.contains(&w) && report.warnings.len() < MAX_WARNINGS {
            report.warnings.push(w);
        }
    }

    // Kernels and initrds that are missing; records of the initrds.
    let mut trees: Vec<(TreeKind, Tree)> = alloc::vec![(TreeKind::Primary, info.primary.clone())];
    if let Some(j) = &info.joliet {
        trees.push((TreeKind::Joliet, j.tree.clone()));
    }
    let mut checked_kernels: Vec<String> = Vec::new();
    for i in 0..report.entries.len() {
        let e = report.entries[i].clone();
        if let Some(k) = &e.kernel {
            if !k.contains('$') && !checked_kernels.contains(k) {
                checked_kernels.push(k.clone());
                let found = trees
                    .iter()
                    .any(|(_, t)| matches!(iso9660::lookup(&mut *iso, t, k), Ok(f) if !f.is_dir()));
                if !found {
                    let w = Warning {
                        kind: WarningKind::MissingFile,
                        file: e.source.clone(),
                        line: 0,
                        detail: format!("kernel {k} is not in the ISO"),
                    };
                    if report.warnings.len() < MAX_WARNINGS && !report.warnings.contains(&w) {
                        report.warnings.push(w);
                    }
                }
            }
        }
        for path in &e.initrds {
            if report.initrds.iter().any(|f| &f.path == path) {
                continue;
            }
            let mut records = Vec::new();
            if !path.contains('$') {
                for (kind, t) in &trees {
                    if let Ok(f) = iso9660::lookup(&mut *iso, t, path) {
                        if !f.is_dir() {
                            records.push(FileRecord::of(*kind, &f));
                        }
                    }
                }
            }
            if records.is_empty() {
                let w = Warning {
                    kind: WarningKind::MissingFile,
                    file: e.source.clone(),
                    line: 0,
                    detail: format!("initrd {path} is not in the ISO"),
                };
                if !report.warnings.contains(&w) && report.warnings.len() < MAX_WARNINGS {
                    report.warnings.push(w);
                }
                continue;
            }
            report.initrds.push(InitrdFile {
                path: path.clone(),
                size: records[0].size,
                records,
            });
        }
    }

    // A tree where a name was not found (e.g. the primary tree's mangled 8.3 names of a
    // Joliet-only image) still has a record for the same data: find it by extent.
    for (kind, t) in &trees {
        let missing: Vec<usize> = (0..report.initrds.len())
            .filter(|&i| !report.initrds[i].records.iter().any(|r| r.tree == *kind))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let mut found: Vec<(usize, FileRecord)> = Vec::new();
        let walked = iso9660::walk(&mut *iso, t, iso9660::MAX_DEPTH, |_, e| {
            if !e.is_dir() {
                for &i in &missing {
                    let f = &report.initrds[i];
                    let r = &f.records[0];
                    if e.lba() == r.lba && e.size == f.size && !found.iter().any(|(j, _)| *j == i) {
                        found.push((i, FileRecord::of(*kind, e)));
                    }
                }
            }
            found.len() < missing.len()
        });
        if let Err(err) = walked {
            let w = Warning {
                kind: WarningKind::ReadError,
                file: String::new(),
                line: 0,
                detail: format!("walking the {kind:?} tree: {err}"),
            };
            if report.warnings.len() < MAX_WARNINGS {
                report.warnings.push(w);
            }
        }
        for (i, r) in found {
            let recs = &mut report.initrds[i].records;
            recs.push(r);
            recs.sort_by_key(|r| r.tree != TreeKind::Primary);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
