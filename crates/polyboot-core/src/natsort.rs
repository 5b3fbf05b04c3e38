//! Natural ordering of file names: `disk2.iso` before `disk10.iso`, `Alpha` next to `alpha`.
//!
//! [`natural_cmp`] is a total order (it returns `Equal` only for identical strings), so it can
//! be used with any sort and gives the same menu on every boot. It compares in three passes,
//! each one deciding only when the previous ones found the names equal:
//!
//! 1. Names are split into runs of ASCII digits and single characters. Digit runs compare by
//!    numeric value (any length: no overflow, `000123` is `123`); other characters compare
//!    case-insensitively (Unicode lower case, so `É` sorts with `é`). A digit run sorts as if it
//!    were the character `0`: after space, `-`, `.` and `_`... that are below `0` in ASCII, before
//!    letters. A name that is a prefix of another sorts first.
//! 2. Equal values written with different leading zeros: the first run that differs decides,
//!    fewer zeros first (`a1` < `a01` < `a001`).
//! 3. Everything else equal (only case differs): plain byte order, so `ISO` < `Iso` < `iso`.
//!
//! No allocation: the comparison walks both strings once per pass.

use core::cmp::Ordering;
use core::str::Chars;

/// Compare two names naturally; see the module documentation for the exact rules.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    primary(a, b).then_with(|| leading_zeros(a, b)).then_with(|| a.cmp(b))
}

/// `natural_cmp(a, b) == Less`; handy for `is_sorted_by`-style checks.
pub fn natural_lt(a: &str, b: &str) -> bool {
    natural_cmp(a, b) == Ordering::Less
}

/// One unit of comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// A maximal run of ASCII digits, as written (leading zeros included).
    Num(&'a str),
    /// One lower-cased character (a character may lower-case to several).
    Ch(char),
}

struct Tokens<'a> {
    rest: &'a str,
    /// Remaining characters of a multi-character lower-case mapping.
    pending: Option<core::char::ToLowercase>,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Self {
        Tokens { rest: s, pending: None }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if let Some(pending) = &mut self.pending {
            if let Some(c) = pending.next() {
                return Some(Token::Ch(c));
            }
            self.pending = None;
        }
        let bytes = self.rest.as_bytes();
        if bytes.first().is_some_and(u8::is_ascii_digit) {
            // ASCII digits are one byte each, and the first non-digit byte starts a character,
            // so the split is always on a character boundary.
            let end = bytes.iter().position(|b| !b.is_ascii_digit()).unwrap_or(bytes.len());
            let (digits, rest) = self.rest.split_at_checked(end)?;
            self.rest = rest;
            return Some(Token::Num(digits));
        }
        let mut chars: Chars<'a> = self.rest.chars();
        let c = chars.next()?;
        self.rest = chars.as_str();
        let mut lower = c.to_lowercase();
        // `to_lowercase` always yields at least one character; fall back to `c` regardless.
        let first = lower.next().unwrap_or(c);
        self.pending = Some(lower);
        Some(Token::Ch(first))
    }
}

/// Strip leading zeros: the numeric value of a digit run, as a string.
fn significant(digits: &str) -> &str {
    digits.trim_start_matches('0')
}

fn cmp_num(a: &str, b: &str) -> Ordering {
    let (a, b) = (significant(a), significant(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A digit run takes the place of `'0'` among characters; no `Ch` token is an ASCII digit.
fn cmp_num_ch(c: char) -> Ordering {
    if c < '0' {
        Ordering::Greater
    } else {
        Ordering::Less
    }
}

fn cmp_token(a: Token<'_>, b: Token<'_>) -> Ordering {
    match (a, b) {
        (Token::Num(x), Token::Num(y)) => cmp_num(x, y),
        (Token::Ch(x), Token::Ch(y)) => x.cmp(&y),
        (Token::Num(_), Token::Ch(c)) => cmp_num_ch(c),
        (Token::Ch(c), Token::Num(_)) => cmp_num_ch(c).reverse(),
    }
}

/// Pass 1: numeric values and case-folded characters.
fn primary(a: &str, b: &str) -> Ordering {
    let (mut ta, mut tb) = (Tokens::new(a), Tokens::new(b));
    loop {
        match (ta.next(), tb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match cmp_token(x, y) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

/// Pass 2 (only reached when pass 1 found the names equal, so the token streams line up):
/// the first digit run written with a different number of leading zeros decides.
fn leading_zeros(a: &str, b: &str) -> Ordering {
    for (x, y) in Tokens::new(a).zip(Tokens::new(b)) {
        if let (Token::Num(x), Token::Num(y)) = (x, y) {
            match x.len().cmp(&y.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn table() {
        use Ordering::*;
        let cases: &[(&str, &str, Ordering)] = &[
            ("disk2.iso", "disk10.iso", Less),
            ("disk10.iso", "disk2.iso", Greater),
            ("disk2.iso", "disk2.iso", Equal),
            ("", "", Equal),
            ("", "a", Less),
            ("a", "B", Less),
            ("B", "a", Greater),
            ("alpha", "Alpha", Greater), // case only: byte order, 'A' < 'a'
            ("Alpha", "alpha", Less),
            ("ALPHA.iso", "alpha2.iso", Less),
            ("file", "file1", Less),
            ("file1", "file", Greater),
            ("a1", "a01", Less),
            ("a01", "a001", Less),
            ("a01b2", "a1b02", Greater), // first differing zero run decides
            ("a01", "a2", Less),
            ("x007", "x7z", Less),
            ("1.iso", "a.iso", Less),
            ("10.iso", "9.iso", Greater),
            ("-x", "1x", Less),    // '-' < '0'
            ("_x", "1x", Greater), // '_' > '9'
            ("a b", "a1", Less),   // ' ' < digits
            ("ubuntu-22.04.iso", "Ubuntu-24.04.iso", Less),
            ("ubuntu-22.04.1.iso", "ubuntu-22.04.iso", Less), // '1' run vs 'i'
            ("v1.10", "v1.9", Greater),
            ("99999999999999999999999", "100000000000000000000000", Less),
            ("18446744073709551616", "18446744073709551615", Greater), // past u64
            ("000", "0", Greater),
            ("0", "00", Less),
            ("Éclair", "éclair", Less),
            ("éclair", "ÉCLAIR2", Less),
            ("z", "é", Less),
            ("İ", "i", Greater),
        ];
        for &(a, b, want) in cases {
            assert_eq!(natural_cmp(a, b), want, "natural_cmp({a:?}, {b:?})");
            assert_eq!(natural_cmp(b, a), want.reverse(), "natural_cmp({b:?}, {a:?})");
        }
    }

    #[test]
    fn sorts_a_listing() {
        let mut names = [
            "disk10.iso",
            "Disk1.iso",
            "disk2.iso",
            "disk1.iso",
            "README.txt",
            "debian-12.5.0-amd64-netinst.iso",
            "debian-12.10.0-amd64-netinst.iso",
            "debian-9.13.0-amd64-netinst.iso",
            "archlinux-2024.01.01-x86_64.iso",
            "Windows",
            "windows11.iso",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "archlinux-2024.01.01-x86_64.iso",
                "debian-9.13.0-amd64-netinst.iso",
                "debian-12.5.0-amd64-netinst.iso",
                "debian-12.10.0-amd64-netinst.iso",
                "Disk1.iso",
                "disk1.iso",
                "disk2.iso",
                "disk10.iso",
                "README.txt",
                "Windows",
                "windows11.iso",
            ]
        );
    }

    /// Total order: antisymmetric, transitive, Equal only for equal strings.
    #[test]
    fn total_order_on_a_mixed_set() {
        let set: Vec<&str> = alloc::vec![
            "",
            "0",
            "00",
            "1",
            "01",
            "10",
            "a",
            "A",
            "a0",
            "a00",
            "a1",
            "A1",
            "a01",
            "a10",
            "ab",
            "aB",
            "a b",
            "a-b",
            "a_b",
            "a.b",
            "b",
            "É",
            "é",
            "e",
            "ß",
            "ss",
            "x9y",
            "x09y",
            "x9Y",
            "x10y",
            "9",
            "99999999999999999999",
            "100000000000000000000",
            "İ",
            "i̇",
        ];
        for a in &set {
            for b in &set {
                let ab = natural_cmp(a, b);
                assert_eq!(ab, natural_cmp(b, a).reverse(), "{a:?} {b:?}");
                assert_eq!(ab == Ordering::Equal, a == b, "{a:?} {b:?}");
                for c in &set {
                    if ab != Ordering::Greater && natural_cmp(b, c) != Ordering::Greater {
                        assert_ne!(natural_cmp(a, c), Ordering::Greater, "{a:?} {b:?} {c:?}");
                    }
                }
            }
        }
        let mut sorted = set.clone();
        sorted.sort_by(|a, b| natural_cmp(a, b));
        assert!(sorted.windows(2).all(|w| natural_lt(w[0], w[1])));
    }

    #[test]
    fn long_and_odd_input_does_not_panic() {
        let long_digits: alloc::string::String = core::iter::repeat_n('7', 10_000).collect();
        let other: alloc::string::String = core::iter::repeat_n('7', 9_999).collect();
        assert_eq!(natural_cmp(&long_digits, &other), Ordering::Greater);
        assert_eq!(natural_cmp("\u{0}", "\u{10FFFF}"), Ordering::Less);
        assert_eq!(natural_cmp("\u{FFFD}1", "\u{FFFD}01"), Ordering::Less);
    }
}
