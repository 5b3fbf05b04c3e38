//! GRUB configurations: pass 1 reads every file reachable through `source` / `configfile` /
//! `.` and collects variable assignments; pass 2 walks the commands with the final values and
//! turns `menuentry` blocks with `linux` / `initrd` commands into [`BootEntry`]s.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::grub_lexer::{grub_commands, Command, Piece, Word};
use super::{join, normalize_path, BootEntry, Loader, Parsed, Reader, WarningKind, MAX_WORD};

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

const GRUB_KEYWORDS: &[&str] =
    &["if", "then", "else", "elif", "fi", "while", "until", "do", "done", "!"];

/// Parse a GRUB configuration starting at `path` (absolute within the ISO), following
/// `source`, `configfile` and `.` through `load`. `initial` are variables known before the
/// file runs (e.g. `prefix`); a `set` in the files replaces them.
pub fn parse_grub<L>(path: &str, initial: &[(&str, &str)], mut load: L) -> Parsed
where
    L: FnMut(&str) -> Option<Vec<u8>>,
{
    let mut out = Parsed::default();
    let mut reader = Reader::new(&mut load);
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

pub(super) fn strip_keywords(words: &[Word]) -> &[Word] {
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
                let at = CommandSite { file, line: cmd.line, vars, blocks: &blocks };
                if let Some(entry) = linux_command(out, &at, &words[1..]) {
                    current = entry;
                }
            }
            "initrd" | "initrdefi" | "initrd16" => {
                let at = CommandSite { file, line: cmd.line, vars, blocks: &blocks };
                if let Some(entry) = initrd_command(out, &at, &words[1..], current) {
                    current = entry;
                }
            }
            _ => {}
        }
    }
}

/// Where a `linux` / `initrd` command stands: its file and line, the variables set so far
/// and the enclosing blocks' titles.
#[derive(Clone, Copy)]
struct CommandSite<'a> {
    file: &'a str,
    line: usize,
    vars: &'a Vars,
    blocks: &'a [Option<String>],
}

/// The title of the innermost enclosing `menuentry` / `submenu`.
fn innermost_title(blocks: &[Option<String>]) -> Option<String> {
    blocks.iter().rev().flatten().next().cloned()
}

/// A `linux` command: a new entry with its kernel and command line. `None` when the
/// command names no kernel (the current entry stays); else the new entry's index (`None`
/// inside when the entry limit was reached).
fn linux_command(out: &mut Parsed, at: &CommandSite, args: &[Word]) -> Option<Option<usize>> {
    let CommandSite { file, line, vars, blocks } = *at;
    let mut expanded = Vec::new();
    for w in args {
        // The kernel (first non-option word) may carry a device prefix.
        let is_path = expanded.iter().all(|(a, _): &(String, Vec<String>)| a.starts_with("--"));
        expanded.push(if is_path { expand_path(w, vars) } else { expand(w, vars) });
    }
    let ki = expanded.iter().position(|(a, _)| !a.starts_with("--"))?;
    let (kpath, kun) = &expanded[ki];
    if !kun.is_empty() {
        out.warn(WarningKind::UnresolvedVariable, file, line, format!("kernel path {kpath}"));
    }
    let mut cmdline = String::new();
    for (a, un) in &expanded[ki + 1..] {
        if !un.is_empty() {
            out.warn(
                WarningKind::UnresolvedVariable,
                file,
                line,
                format!("${{{}}} in the command line of {kpath}", un.join("}, ${")),
            );
        }
        if !cmdline.is_empty() {
            cmdline.push(' ');
        }
        cmdline.push_str(a);
    }
    let entry = grub_entry(file, blocks, Some(normalize_path(kpath)), cmdline);
    Some(out.push_entry(entry, file))
}

/// A GRUB entry from `file` titled by the innermost `menuentry` of `blocks`, without initrds.
fn grub_entry(
    file: &str,
    blocks: &[Option<String>],
    kernel: Option<String>,
    cmdline: String,
) -> BootEntry {
    BootEntry {
        loader: Loader::Grub,
        title: innermost_title(blocks),
        kernel,
        initrds: Vec::new(),
        cmdline,
        source: String::from(file),
    }
}

/// An `initrd` command: its paths go to the `current` entry, or to a new entry without a
/// kernel when there is none. `None` when the command names no path (nothing changes);
/// else the index of the entry that got them.
fn initrd_command(
    out: &mut Parsed,
    at: &CommandSite,
    args: &[Word],
    current: Option<usize>,
) -> Option<Option<usize>> {
    let CommandSite { file, line, vars, blocks } = *at;
    let mut paths = Vec::new();
    for w in args {
        let (s, unresolved) = expand_path(w, vars);
        if s.starts_with("--") {
            continue;
        }
        if !unresolved.is_empty() {
            out.warn(WarningKind::UnresolvedVariable, file, line, format!("initrd path {s}"));
        }
        paths.push(normalize_path(&s));
    }
    if paths.is_empty() {
        return None;
    }
    let idx = match current {
        Some(i) => Some(i),
        _ => out.push_entry(grub_entry(file, blocks, None, String::new()), file),
    };
    if let Some(i) = idx {
        out.entries[i].initrds = paths;
    }
    Some(idx)
}
