//! File names and paths.

use super::{Error, MAX_LABEL_UNITS, MAX_NAME_UNITS};
use alloc::string::String;
use alloc::vec::Vec;

/// Characters exFAT forbids in file names, besides the control characters U+0000..=U+001F.
const FORBIDDEN: &[char] = &['"', '*', '/', ':', '<', '>', '?', '\\', '|'];

/// Check `name` and encode it as UTF-16.
pub(crate) fn validate_name(name: &str) -> Result<Vec<u16>, Error> {
    if name.is_empty() {
        return Err(Error::InvalidName("empty file name"));
    }
    if name == "." || name == ".." {
        return Err(Error::InvalidName("\".\" and \"..\" are not file names on exFAT"));
    }
    check_characters(name)?;
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > MAX_NAME_UNITS {
        return Err(Error::InvalidName("longer than 255 UTF-16 code units"));
    }
    Ok(units)
}

/// Check a volume label and encode it as UTF-16 (empty is allowed: no label).
pub(crate) fn validate_label(label: &str) -> Result<Vec<u16>, Error> {
    check_characters(label)?;
    let units: Vec<u16> = label.encode_utf16().collect();
    if units.len() > MAX_LABEL_UNITS {
        return Err(Error::InvalidName("volume label longer than 11 UTF-16 code units"));
    }
    Ok(units)
}

fn check_characters(name: &str) -> Result<(), Error> {
    if name.chars().any(|c| (c as u32) < 0x20) {
        return Err(Error::InvalidName("control characters are not allowed"));
    }
    if name.chars().any(|c| FORBIDDEN.contains(&c)) {
        return Err(Error::InvalidName("characters \" * / : < > ? \\ | are not allowed"));
    }
    Ok(())
}

/// Split a path into components. Both '/' and '\' separate (neither can be part of a name);
/// empty components and "." are skipped. ".." is rejected: exFAT has no parent links and the
/// callers work on absolute paths.
pub(crate) fn split_path(path: &str) -> Result<Vec<&str>, Error> {
    let mut parts = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(Error::InvalidName("\"..\" is not supported in paths")),
            _ => parts.push(part),
        }
    }
    Ok(parts)
}

/// UTF-16 to a `String`; unpaired surrogates (possible on disk) become U+FFFD.
pub(crate) fn decode_utf16_lossy(units: &[u16]) -> String {
    char::decode_utf16(units.iter().copied())
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}
