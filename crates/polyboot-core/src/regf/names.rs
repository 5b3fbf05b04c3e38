//! Key and value names: compared and hashed as Windows does (upper-cased unit by unit),
//! checked against the format's limits, stored as Latin-1 when they fit or else UTF-16LE.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::{KeyNode, RegfError, MAX_KEY_NAME, MAX_VALUE_NAME};

/// Upper-case one UTF-16 code unit the way key names are compared: simple one-to-one
/// mappings only (Windows' table has no multi-character expansions either).
fn upcase_unit(u: u16) -> u16 {
    if u < 0x80 {
        return (u as u8).to_ascii_uppercase() as u16;
    }
    match char::from_u32(u as u32) {
        Some(c) => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(x), None) if (x as u32) <= 0xFFFF => x as u16,
                _ => u,
            }
        }
        None => u,
    }
}

// ASCII names (nearly all of them) take the short ways below: an ASCII string's UTF-16 units
// are its bytes, and `upcase_unit` of an ASCII unit is its ASCII upper case. Non-ASCII names
// must take the general way even against an ASCII one: some non-ASCII characters upper-case
// to ASCII letters (U+0131 'ı' to 'I', U+017F 'ſ' to 'S').

/// No byte above 0x7F. (`<[u8]>::is_ascii` is built for long texts: on names, under the fuzzers'
/// instrumentation, it costs several times this loop.)
fn ascii(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b < 0x80)
}

pub(super) fn folded(name: &str) -> Vec<u16> {
    if ascii(name.as_bytes()) {
        return name.bytes().map(|b| u16::from(b.to_ascii_uppercase())).collect();
    }
    name.encode_utf16().map(upcase_unit).collect()
}

/// Names equal as Windows compares them (case-insensitively, unit by unit).
pub fn names_equal(a: &str, b: &str) -> bool {
    // Equal bytes are equal characters so far. At the first bytes that differ, when both are
    // ASCII they start a character each, and their upper cases are the next units to compare
    // (else the general way); when one name ends, the other has more units exactly when it
    // has more bytes.
    for (&x, &y) in a.as_bytes().iter().zip(b.as_bytes()) {
        if x == y {
            continue;
        }
        if !(x.is_ascii() && y.is_ascii()) {
            return a.encode_utf16().map(upcase_unit).eq(b.encode_utf16().map(upcase_unit));
        }
        if !x.eq_ignore_ascii_case(&y) {
            return false;
        }
    }
    a.len() == b.len()
}

/// `folded(a) < folded(b)`, without building them (the same short way as [`names_equal`]).
pub(super) fn folded_less(a: &str, b: &str) -> bool {
    for (&x, &y) in a.as_bytes().iter().zip(b.as_bytes()) {
        if x == y {
            continue;
        }
        if !(x.is_ascii() && y.is_ascii()) {
            return a.encode_utf16().map(upcase_unit).lt(b.encode_utf16().map(upcase_unit));
        }
        let (x, y) = (x.to_ascii_uppercase(), y.to_ascii_uppercase());
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// Subkeys already in the order the writer puts them (and Windows and hivex keep them in),
/// strictly: then no two of them have names equal ignoring case.
pub(super) fn in_folded_order(subkeys: &[KeyNode]) -> bool {
    subkeys.windows(2).all(|w| folded_less(&w[0].name, &w[1].name))
}

/// The `lh` hash of a key name: h = h * 37 + upcase(unit), over its UTF-16 units.
pub fn lh_hash(name: &str) -> u32 {
    let step = |h: u32, u: u16| h.wrapping_mul(37).wrapping_add(u32::from(u));
    if ascii(name.as_bytes()) {
        return name.bytes().fold(0, |h, b| step(h, u16::from(b.to_ascii_uppercase())));
    }
    name.encode_utf16().fold(0, |h, u| step(h, upcase_unit(u)))
}

/// Length of a name in UTF-16 code units (never more than its length in UTF-8 bytes).
pub(super) fn utf16_len(name: &str) -> usize {
    if ascii(name.as_bytes()) {
        name.len()
    } else {
        name.encode_utf16().count()
    }
}

pub(super) fn check_key_name(name: &str, root: bool) -> Result<(), RegfError> {
    let bad = |reason| Err(RegfError::BadName { name: name.into(), reason });
    if name.len() > MAX_KEY_NAME && utf16_len(name) > MAX_KEY_NAME {
        return bad("a key name has at most 255 characters");
    }
    if !root && name.is_empty() {
        return bad("a key name cannot be empty");
    }
    if !root && name.contains('\\') {
        return bad("a key name cannot contain a backslash");
    }
    Ok(())
}

pub(super) fn check_value_name(name: &str) -> Result<(), RegfError> {
    if name.len() > MAX_VALUE_NAME && utf16_len(name) > MAX_VALUE_NAME {
        return Err(RegfError::BadName {
            name: name.into(),
            reason: "a value name has at most 16383 characters",
        });
    }
    Ok(())
}

pub(super) fn utf16z(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    v.extend([0, 0]);
    v
}

pub(super) fn utf16_units(b: &[u8]) -> Vec<u16> {
    crate::bytes::utf16le_units(b).collect()
}

pub(super) fn decode_utf16_lossy(units: &[u16]) -> String {
    char::decode_utf16(units.iter().copied())
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// A stored name: Latin-1 bytes when `compressed`, else UTF-16LE.
pub(super) fn decode_name(raw: &[u8], compressed: bool) -> String {
    // ASCII (most names) reads the same either way as Latin-1 and as UTF-8.
    if compressed && ascii(raw) {
        if let Ok(name) = core::str::from_utf8(raw) {
            return name.into();
        }
    }
    if compressed {
        raw.iter().map(|&b| b as char).collect()
    } else {
        decode_utf16_lossy(&utf16_units(raw))
    }
}

/// (bytes, compressed) to store a name: Latin-1 when every character fits, as Windows does.
pub(super) fn encode_name(name: &str) -> (Vec<u8>, bool) {
    if ascii(name.as_bytes()) {
        (name.as_bytes().to_vec(), true)
    } else if name.chars().all(|c| (c as u32) <= 0xFF) {
        (name.chars().map(|c| c as u8).collect(), true)
    } else {
        (name.encode_utf16().flat_map(u16::to_le_bytes).collect(), false)
    }
}

/// Every key's subkeys have distinct names (ignoring case). Iterative: trees may be deep.
pub(super) fn check_subkey_names(root: &KeyNode) -> Result<(), RegfError> {
    let mut stack = vec![root];
    while let Some(k) = stack.pop() {
        stack.extend(k.subkeys.iter());
        if in_folded_order(&k.subkeys) {
            continue;
        }
        let mut names: Vec<(Vec<u16>, &str)> =
            k.subkeys.iter().map(|s| (folded(&s.name), s.name.as_str())).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(RegfError::DuplicateKey { name: w[1].1.into() });
        }
    }
    Ok(())
}
