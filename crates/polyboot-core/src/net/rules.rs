//! Per-MAC boot rules for `polyboot serve --rules FILE`: which machine boots what, without
//! the menu.
//!
//! ```text
//! # comments and blank lines are ignored
//! group lab  52:54:00:00:00:01 52:54:00:00:00:02
//! 52:54:00:c0:ff:ee  /ISO/debian live.iso  once
//! @lab               /tools/memtest.efi
//! *                  menu
//! ```
//!
//! - `group NAME MAC...` names a set of machines (more `group` lines with the same name add
//!   to it). MACs are six hex pairs separated by `:` or `-`, any case.
//! - A rule is `WHO TARGET [once|always]`: WHO is a MAC, `@NAME` or `*` (everyone); TARGET
//!   is the absolute path of an image as the menu lists it (spaces allowed: everything up to
//!   the optional last word), `menu` (the menu as usual) or `local` (leave iPXE: the next boot
//!   device). `always` is the default; a `once` rule applies until that machine has been
//!   handed its target one time (kept in the server's memory, so a restart re-arms it).
//! - The first rule that applies to a machine wins, in file order.
//! - Bounds: at most [`MAX_BYTES`] bytes, [`MAX_RULES`] rules and groups, [`MAX_NAME`]-byte
//!   group names; a line that breaks a rule is an error with its line number.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Largest rules file read.
pub const MAX_BYTES: usize = 1 << 20;
/// Most rules (and most group lines).
pub const MAX_RULES: usize = 10_000;
/// Longest group name.
pub const MAX_NAME: usize = 64;

/// Which machines a rule is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Mac([u8; 6]),
    Group(String),
    Any,
}

/// What they boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An image, by its absolute path on the served directory.
    Image(String),
    Menu,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Once,
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub who: Who,
    pub target: Target,
    pub when: When,
    /// 1-based line in the file.
    pub line: usize,
}

/// A parsed rules file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rules {
    pub groups: Vec<(String, Vec<[u8; 6]>)>,
    pub rules: Vec<Rule>,
}

/// Why a rules file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// 1-based; 0 for the file as a whole.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl core::error::Error for RuleError {}

fn err(line: usize, message: &str) -> RuleError {
    RuleError { line, message: message.to_string() }
}

/// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`, any case.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut out = [0u8; 6];
    let mut parts = s.split(sep);
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_NAME
        && n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
}

impl Rules {
    /// Parse a rules file.
    pub fn parse(bytes: &[u8]) -> Result<Rules, RuleError> {
        if bytes.len() > MAX_BYTES {
            return Err(err(0, "the rules file is larger than 1 MiB"));
        }
        let text = core::str::from_utf8(bytes).map_err(|e| {
            let line = bytes
                .get(..e.valid_up_to())
                .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
                + 1;
            err(line, "not UTF-8")
        })?;
        let mut rules = Rules::default();
        let mut group_lines = 0usize;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut words = l.split_whitespace();
            let first = words.next().unwrap_or_default();
            if first == "group" {
                group_lines += 1;
                if group_lines > MAX_RULES {
                    return Err(err(line, "too many group lines"));
                }
                let name = words.next().ok_or_else(|| err(line, "group without a name"))?;
                if !valid_name(name) {
                    return Err(err(line, "a group name is 1-64 letters, digits, '-', '_' or '.'"));
                }
                let mut macs = Vec::new();
                for w in words {
                    macs.push(parse_mac(w).ok_or_else(|| err(line, "not a MAC address"))?);
                }
                match rules.groups.iter_mut().find(|(n, _)| n == name) {
                    Some((_, m)) => {
                        if m.len().saturating_add(macs.len()) > MAX_RULES {
                            return Err(err(line, "group too large"));
                        }
                        m.extend(macs)
                    }
                    None => rules.groups.push((name.to_string(), macs)),
                }
                continue;
            }
            if rules.rules.len() >= MAX_RULES {
                return Err(err(line, "too many rules"));
            }
            let who = if first == "*" {
                Who::Any
            } else if let Some(name) = first.strip_prefix('@') {
                if !valid_name(name) {
                    return Err(err(line, "a group name is 1-64 letters, digits, '-', '_' or '.'"));
                }
                Who::Group(name.to_string())
            } else {
                Who::Mac(
                    parse_mac(first).ok_or_else(|| {
                        err(line, "a rule starts with a MAC address, @group or *")
                    })?,
                )
            };
            let rest = l[first.len()..].trim();
            let (target, when) = match rest.rsplit_once(char::is_whitespace) {
                Some((t, "once")) => (t.trim(), When::Once),
                Some((t, "always")) => (t.trim(), When::Always),
                _ => (rest, When::Always),
            };
            let target = match target {
                "" => return Err(err(line, "a rule needs a target: an image path, menu or local")),
                "menu" => Target::Menu,
                "local" => Target::Local,
                t if t.starts_with('/') => Target::Image(t.to_string()),
                _ => return Err(err(line, "the target is an absolute image path, menu or local")),
            };
            rules.rules.push(Rule { who, target, when, line });
        }
        for r in &rules.rules {
            if let Who::Group(g) = &r.who {
                if !rules.groups.iter().any(|(n, _)| n == g) {
                    return Err(err(r.line, "no such group"));
                }
            }
        }
        Ok(rules)
    }

    /// Whether `rule` names `mac`.
    pub fn applies(&self, rule: &Rule, mac: [u8; 6]) -> bool {
        match &rule.who {
            Who::Any => true,
            Who::Mac(m) => *m == mac,
            Who::Group(g) => self.groups.iter().any(|(n, macs)| n == g && macs.contains(&mac)),
        }
    }

    /// The first rule for `mac` that is still in force (`spent(index)` says whether a
    /// `once` rule was already used by this machine), with its index.
    pub fn decide(&self, mac: [u8; 6], spent: impl Fn(usize) -> bool) -> Option<(usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(i, r)| self.applies(r, mac) && !(r.when == When::Once && spent(*i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# lab machines
group lab 52:54:00:00:00:01 52-54-00-00-00-02
group lab 52:54:00:00:00:03
52:54:00:C0:FF:EE  /ISO/debian live.iso  once
@lab /tools/memtest.efi
*    menu
";

    #[test]
    fn parses_and_decides() {
        let r = Rules::parse(FILE.as_bytes()).unwrap();
        assert_eq!(r.groups.len(), 1);
        assert_eq!(r.groups[0].1.len(), 3);
        assert_eq!(r.rules.len(), 3);
        assert_eq!(r.rules[0].target, Target::Image("/ISO/debian live.iso".into()));
        assert_eq!(r.rules[0].when, When::Once);
        assert_eq!(r.rules[0].line, 4);
        let me = [0x52, 0x54, 0, 0xc0, 0xff, 0xee];
        assert_eq!(r.decide(me, |_| false).unwrap().0, 0);
        // Once spent, the next rule for everyone applies.
        assert_eq!(r.decide(me, |i| i == 0).unwrap().1.target, Target::Menu);
        let lab = [0x52, 0x54, 0, 0, 0, 2];
        assert_eq!(
            r.decide(lab, |_| false).unwrap().1.target,
            Target::Image("/tools/memtest.efi".into())
        );
        let other = [1, 2, 3, 4, 5, 6];
        assert_eq!(r.decide(other, |_| false).unwrap().1.target, Target::Menu);
        assert!(Rules::parse(b"").unwrap().decide(other, |_| false).is_none());
    }

    #[test]
    fn errors_name_their_line() {
        let bad: &[(&str, usize, &str)] = &[
            ("52:54:00:00:00\t/a.iso", 1, "a rule starts"),
            ("\n@nobody /a.iso", 2, "no such group"),
            ("* relative.iso", 1, "absolute image path"),
            ("*", 1, "needs a target"),
            ("* once", 1, "absolute image path"),
            ("group", 1, "without a name"),
            ("group a/b", 1, "group name"),
            ("group x zz:zz:zz:zz:zz:zz", 1, "not a MAC"),
        ];
        for (text, line, msg) in bad {
            let e = Rules::parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.line, *line, "{text}: {e}");
            assert!(e.to_string().contains(msg), "{text}: {e}");
        }
        assert_eq!(Rules::parse(b"# ok\n\xff").unwrap_err().line, 2);
        assert_eq!(Rules::parse(&alloc::vec![b'#'; MAX_BYTES + 1]).unwrap_err().line, 0);
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("aa:BB:cc:dd:ee:ff"), Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]));
        assert_eq!(parse_mac("aa-bb-cc-dd-ee-ff"), Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]));
        for bad in [
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "a:bb:cc:dd:ee:ff",
            "+a:bb:cc:dd:ee:ff",
            "aa:bb-cc:dd:ee:ff",
            "",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
