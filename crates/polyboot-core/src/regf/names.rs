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

pub(super) fn folded(name: &str) -> Vec<u16> {
    name.encode_utf16().map(upcase_unit).collect()
}

/// Names equal as Windows compares them (case-insensitively, unit by unit).
pub fn names_equal(a: &str, b: &str) -> bool {
    a.encode_utf16().map(upcase_unit).eq(b.encode_utf16().map(upcase_unit))
}

/// The `lh` hash of a key name: h = h * 37 + upcase(unit), over its UTF-16 units.
pub fn lh_hash(name: &str) -> u32 {
    name.encode_utf16().fold(0u32, |h, u| h.wrapping_mul(37).wrapping_add(upcase_unit(u) as u32))
}

pub(super) fn check_key_name(name: &str, root: bool) -> Result<(), RegfError> {
    let bad = |reason| Err(RegfError::BadName { name: name.into(), reason });
    if name.encode_utf16().count() > MAX_KEY_NAME {
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
    if name.encode_utf16().count() > MAX_VALUE_NAME {
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
    if compressed {
        raw.iter().map(|&b| b as char).collect()
    } else {
        decode_utf16_lossy(&utf16_units(raw))
    }
}

/// (bytes, compressed) to store a name: Latin-1 when every character fits, as Windows does.
pub(super) fn encode_name(name: &str) -> (Vec<u8>, bool) {
    if name.chars().all(|c| (c as u32) <= 0xFF) {
        (name.chars().map(|c| c as u8).collect(), true)
    } else {
        (name.encode_utf16().flat_map(u16::to_le_bytes).collect(), false)
    }
}

/// Every key's subkeys have distinct names (ignoring case). Iterative: trees may be deep.
pub(super) fn check_subkey_names(root: &KeyNode) -> Result<(), RegfError> {
    let mut stack = vec![root];
    while let Some(k) = stack.pop() {
        let mut names: Vec<(Vec<u16>, &str)> =
            k.subkeys.iter().map(|s| (folded(&s.name), s.name.as_str())).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(RegfError::DuplicateKey { name: w[1].1.into() });
        }
        stack.extend(k.subkeys.iter());
    }
    Ok(())
}
