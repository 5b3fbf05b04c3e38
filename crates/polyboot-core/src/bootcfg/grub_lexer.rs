//! GRUB script as words and commands: quotes removed, `$name` / `${name}` references kept as
//! variable pieces (expanded later by `grub`, once every assignment is known), comments and
//! line continuations dropped. No evaluation happens here.

use alloc::string::String;
use alloc::vec::Vec;

use super::MAX_WORD;

/// One word of a GRUB command as written: its text with quotes removed, plus the names of
/// the variables it refers to (expanded later, once assignments are known).
#[derive(Debug, Clone, Default)]
pub(super) struct Word {
    /// Pieces: literal text or a variable reference.
    pub(super) pieces: Vec<Piece>,
    /// The word is an unquoted `{` or `}` on its own.
    pub(super) brace: Option<char>,
    /// Some part of the word was quoted.
    pub(super) quoted: bool,
    /// Fully literal (no variables).
    pub(super) raw: String,
    /// Byte range of the word in the text (quotes included), for editing it in place.
    pub(super) start: usize,
    pub(super) end: usize,
    /// A quote or `${` opened in the word is never closed (the text ends inside it).
    pub(super) unterminated: bool,
}

#[derive(Debug, Clone)]
pub(super) enum Piece {
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
    /// Append literal text while the word is below `MAX_WORD` (the same cut as pushing its
    /// characters one by one, without doing so: the lexer's cost is per character).
    fn push_lit(&mut self, run: &str) {
        if run.is_empty() {
            return;
        }
        if self.raw.len() + run.len() <= MAX_WORD {
            self.raw.push_str(run);
            match self.pieces.last_mut() {
                Some(Piece::Lit(s)) => s.push_str(run),
                _ => self.pieces.push(Piece::Lit(String::from(run))),
            }
        } else {
            for c in run.chars() {
                if self.raw.len() >= MAX_WORD {
                    break;
                }
                self.push_char(c);
            }
        }
    }
    fn push_var(&mut self, name: String) {
        self.raw.push_str("${");
        self.raw.push_str(&name);
        self.raw.push('}');
        self.pieces.push(Piece::Var(name));
    }
    pub(super) fn has_vars(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Var(_)))
    }
}

/// One command: its words and the line it starts on.
#[derive(Debug, Clone)]
pub(super) struct Command {
    pub(super) words: Vec<Word>,
    pub(super) line: usize,
}

fn is_var_start(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '?' || c == '#' || c == '@' || c == '*'
}

/// Bytes that end a run of plain characters: in a word outside quotes, inside `"..."`,
/// inside `'...'`. All ASCII, so a run always ends on a character boundary.
const WORD_STOPS: [bool; 256] = stop_table(b"\n; \t\r\\'\"$");
const DOUBLE_QUOTED_STOPS: [bool; 256] = stop_table(b"\"\\$\n");
const SINGLE_QUOTED_STOPS: [bool; 256] = stop_table(b"'\n");
/// Where a comment ends.
const COMMENT_STOPS: [bool; 256] = stop_table(b"\n");

const fn stop_table(stops: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < stops.len() {
        t[stops[i] as usize] = true;
        i += 1;
    }
    t
}

/// The text still to read.
struct Cursor<'t> {
    rest: &'t str,
}

impl<'t> Cursor<'t> {
    fn next(&mut self) -> Option<char> {
        let c = self.rest.chars().next()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }
    /// The longest prefix without a byte of `stops`, consumed (possibly empty).
    fn take_run(&mut self, stops: &[bool; 256]) -> &'t str {
        let end = self.rest.bytes().position(|b| stops[usize::from(b)]).unwrap_or(self.rest.len());
        let (run, rest) = self.rest.split_at(end);
        self.rest = rest;
        run
    }
}

/// Split GRUB script text into commands. Separators: newline and `;` outside quotes, and
/// unquoted `{` / `}` words (which also become commands of their own).
pub(super) fn grub_commands(text: &str) -> Vec<Command> {
    let mut cmds = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut cur: Option<Word> = None;
    let mut line = 1usize;
    let mut cmd_line = 1usize;
    let mut chars = Cursor { rest: text };

    loop {
        // Where `c` starts: a word starting here starts at `pos`, one ending here ends there.
        let pos = text.len() - chars.rest.len();
        let Some(c) = chars.next() else { break };
        let in_word = match c {
            '\n' => {
                end_word(&mut words, &mut cur);
                end_command(&mut cmds, &mut words, cmd_line);
                line += 1;
                cmd_line = line;
                false
            }
            ';' => {
                end_word(&mut words, &mut cur);
                end_command(&mut cmds, &mut words, cmd_line);
                cmd_line = line;
                false
            }
            ' ' | '\t' | '\r' => {
                end_word(&mut words, &mut cur);
                false
            }
            '#' if cur.is_none() => {
                // Comment to the end of the line.
                let _ = chars.take_run(&COMMENT_STOPS);
                false
            }
            '\\' => match chars.next() {
                Some('\n') => {
                    line += 1; // line continuation
                    false
                }
                Some(n) => {
                    word_at(&mut cur, pos).push_char(n);
                    true
                }
                None => false,
            },
            '\'' => {
                let w = word_at(&mut cur, pos);
                line += read_single_quoted(&mut chars, w);
                true
            }
            '"' => {
                let w = word_at(&mut cur, pos);
                line += read_double_quoted(&mut chars, w);
                true
            }
            '$' => {
                let w = word_at(&mut cur, pos);
                read_var(&mut chars, w);
                true
            }
            c => {
                // `c` and the plain characters after it (`#` is plain inside a word).
                let w = word_at(&mut cur, pos);
                let mut buf = [0u8; 4];
                w.push_lit(c.encode_utf8(&mut buf));
                w.push_lit(chars.take_run(&WORD_STOPS));
                true
            }
        };
        // A word's bytes end after the last character read into it (not at a dangling `\`
        // or a continuation), so that text inserted there stays a word of its own.
        if in_word {
            if let Some(w) = cur.as_mut() {
                w.end = text.len() - chars.rest.len();
            }
        }
    }
    end_word(&mut words, &mut cur);
    end_command(&mut cmds, &mut words, cmd_line);
    cmds
}

/// The word being read, or a new one starting at byte `pos`.
fn word_at(cur: &mut Option<Word>, pos: usize) -> &mut Word {
    cur.get_or_insert_with(|| Word { start: pos, end: pos, ..Word::default() })
}

/// Finish the word being read, if any; an unquoted lone `{` / `}` becomes a brace word.
fn end_word(words: &mut Vec<Word>, cur: &mut Option<Word>) {
    if let Some(mut w) = cur.take() {
        if !w.quoted && w.pieces.len() == 1 && (w.raw == "{" || w.raw == "}") {
            w.brace = w.raw.chars().next();
        }
        words.push(w);
    }
}

/// Finish the command being read. `{` and `}` words split commands:
/// `menuentry x {` -> [menuentry x] [{].
fn end_command(cmds: &mut Vec<Command>, words: &mut Vec<Word>, line: usize) {
    let mut current = Vec::new();
    for w in words.drain(..) {
        if w.brace.is_some() {
            if !current.is_empty() {
                cmds.push(Command { words: core::mem::take(&mut current), line });
            }
            cmds.push(Command { words: alloc::vec![w], line });
        } else {
            current.push(w);
        }
    }
    if !current.is_empty() {
        cmds.push(Command { words: current, line });
    }
}

/// The rest of a `'...'` string (after the opening quote), taken literally. Returns the
/// number of newlines inside it.
fn read_single_quoted(chars: &mut Cursor<'_>, w: &mut Word) -> usize {
    let mut newlines = 0;
    w.quoted = true;
    loop {
        w.push_lit(chars.take_run(&SINGLE_QUOTED_STOPS));
        match chars.next() {
            Some('\n') => {
                newlines += 1;
                w.push_lit("\n");
            }
            Some(_) => return newlines,
            None => {
                w.unterminated = true;
                return newlines;
            }
        }
    }
}

/// The rest of a `"..."` string (after the opening quote): `\"`, `\\` and `\$` escaped,
/// `\` + newline a continuation, variables kept as references. Returns the number of
/// newlines consumed.
fn read_double_quoted(chars: &mut Cursor<'_>, w: &mut Word) -> usize {
    let mut newlines = 0;
    w.quoted = true;
    loop {
        w.push_lit(chars.take_run(&DOUBLE_QUOTED_STOPS));
        match chars.next() {
            None => {
                w.unterminated = true;
                return newlines;
            }
            Some('"') => return newlines,
            Some('\\') => match chars.peek() {
                Some(e @ ('"' | '\\' | '$')) => {
                    chars.next();
                    w.push_char(e);
                }
                Some('\n') => {
                    chars.next();
                    newlines += 1;
                }
                _ => w.push_char('\\'),
            },
            Some('$') => read_var(chars, w),
            Some(n) => {
                // A newline: kept in the word (whatever the length, as before).
                newlines += 1;
                w.push_char(n);
            }
        }
    }
}

fn read_var(chars: &mut Cursor<'_>, w: &mut Word) {
    match chars.peek() {
        Some('{') => {
            chars.next();
            let mut name = String::new();
            let mut closed = false;
            while let Some(n) = chars.next() {
                if n == '}' {
                    closed = true;
                    break;
                }
                if name.len() < 256 {
                    name.push(n);
                }
            }
            // `${` never closed takes the rest of the text, as an open quote does.
            w.unterminated |= !closed;
            w.push_var(name);
        }
        Some(c) if is_var_start(c) => {
            let mut name = String::new();
            while let Some(n) = chars.peek() {
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
