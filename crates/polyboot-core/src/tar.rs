//! Reading tar archives: POSIX ustar, pax (`x` extended headers) and GNU (`L` / `K` long
//! names, base-256 numbers), and the old v7 headers GNU tar still reads. Used for Ventoy's
//! `injection` archives, which polyboot-hook extracts over the initramfs root (the hook
//! decompresses `.tar.gz` / `.tar.xz` first).
//!
//! The whole archive is read before anything is extracted, so a bad one changes nothing.
//! Refused with an error: absolute paths, `..` components, entries that would be written
//! through a symbolic link the archive made earlier (`a -> /etc`, then `a/passwd`), hard links
//! to anything but an earlier file of the archive, GNU sparse and multi-volume members, and
//! anything past the [`Limits`]. Devices, FIFOs and other types that make no sense in an
//! injected initramfs are skipped with a warning; unknown types are regular files (POSIX).
//!
//! Header (512 bytes): name 0..100, mode 100, uid 108, gid 116, size 124 (12), mtime 136,
//! checksum 148 (8), type 156, link name 157..257, magic 257 (`ustar\0` + `00` POSIX,
//! `ustar ` + ` \0` GNU), prefix 345..500 (POSIX only). Numbers are octal text, or base-256
//! big-endian when the first byte has its top bit set (GNU, for values that do not fit). Data
//! follows in 512-byte blocks; two zero blocks end the archive (the end of the input is
//! accepted too).

use crate::bytes;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

const BLOCK: usize = 512;
/// A pax extended header larger than this is not one any tar writes for one file.
const MAX_PAX_LEN: u64 = 1 << 20;

/// Bounds on what an archive may make the reader produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Headers read (entries, skipped members and long-name / pax headers alike).
    pub max_entries: usize,
    /// Longest path or link target, in bytes.
    pub max_name_len: usize,
    /// Sum of the regular files' sizes.
    pub max_total_size: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_entries: 100_000, max_name_len: 4095, max_total_size: 1 << 30 }
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// A regular file and its bytes (borrowed from the archive).
    File(&'a [u8]),
    Dir,
    /// A symbolic link and its target, as stored (it may be absolute: it is the link's
    /// content, not a place the reader writes to).
    Symlink(String),
    /// Another name of an earlier [`EntryKind::File`] entry of the archive (its normalised
    /// path).
    HardLink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Normalised relative path: no leading `/` or `./`, no empty, `.` or `..` components.
    pub path: String,
    pub kind: EntryKind<'a>,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// A parsed archive: its entries in order (a later entry for a path replaces an earlier one,
/// as when extracting), and per-entry problems that did not stop the reading.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Archive<'a> {
    pub entries: Vec<Entry<'a>>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarError {
    /// A header or a member's data runs past the end of the input (byte offset of its header).
    Truncated {
        at: u64,
    },
    /// The header at `at` has a wrong checksum (at byte 0: this is not a tar archive).
    BadChecksum {
        at: u64,
    },
    /// A numeric field that is not a number.
    BadField {
        at: u64,
        field: &'static str,
    },
    /// A malformed pax extended header.
    BadPax {
        at: u64,
        why: &'static str,
    },
    /// A name that would write outside the extraction root.
    UnsafePath {
        at: u64,
        path: String,
        why: &'static str,
    },
    /// A name or link target that is not UTF-8.
    NotUtf8 {
        at: u64,
    },
    NameTooLong {
        at: u64,
        len: usize,
    },
    TooManyEntries {
        limit: usize,
    },
    TooLarge {
        limit: u64,
    },
    /// A member this reader cannot extract faithfully.
    Unsupported {
        at: u64,
        what: &'static str,
    },
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TarError::Truncated { at } => write!(f, "tar member at byte {at} is truncated"),
            TarError::BadChecksum { at: 0 } => {
                f.write_str("not a tar archive (no valid header at byte 0)")
            }
            TarError::BadChecksum { at } => write!(f, "tar header at byte {at}: bad checksum"),
            TarError::BadField { at, field } => write!(f, "tar header at byte {at}: bad {field}"),
            TarError::BadPax { at, why } => write!(f, "pax header at byte {at}: {why}"),
            TarError::UnsafePath { at, path, why } => {
                write!(f, "tar member at byte {at}: {path:?} {why}; refusing the archive")
            }
            TarError::NotUtf8 { at } => write!(f, "tar member at byte {at}: name is not UTF-8"),
            TarError::NameTooLong { at, len } => {
                write!(f, "tar member at byte {at}: name of {len} bytes is too long")
            }
            TarError::TooManyEntries { limit } => {
                write!(f, "tar archive has more than {limit} members")
            }
            TarError::TooLarge { limit } => {
                write!(f, "tar archive's files add up to more than {limit} bytes")
            }
            TarError::Unsupported { at, what } => {
                write!(f, "tar member at byte {at}: {what} are not supported")
            }
        }
    }
}

impl core::error::Error for TarError {}

/// A numeric field: octal text (leading spaces, then digits, then a space or NUL and nothing
/// but spaces / NULs) or GNU base-256. All spaces / NULs reads as 0, as GNU tar does.
fn number(field: &[u8]) -> Option<u64> {
    let (&first, rest) = field.split_first()?;
    if first & 0x80 != 0 {
        // Base-256, big-endian, two's complement: a negative value (0xff first) is invalid.
        if first & 0x40 != 0 {
            return None;
        }
        let mut v = u64::from(first & 0x3f);
        for &b in rest {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let mut i = 0;
    while i < field.len() && field[i] == b' ' {
        i += 1;
    }
    let mut v = 0u64;
    while i < field.len() && (b'0'..=b'7').contains(&field[i]) {
        v = v.checked_mul(8)?.checked_add(u64::from(field[i] - b'0'))?;
        i += 1;
    }
    field[i..].iter().all(|&b| b == b' ' || b == 0).then_some(v)
}

/// Bytes up to the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

/// The checksum rule: the sum of the header's bytes with the checksum field as spaces, taken
/// as unsigned bytes (POSIX) or signed (some old tars).
fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let Some(stored) = number(&h[148..156]) else { return false };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// `raw` as a safe relative path (see [`Entry::path`]); `Ok(None)` for the root itself.
fn safe_path(raw: &str) -> Result<Option<String>, &'static str> {
    if raw.starts_with('/') {
        return Err("is an absolute path");
    }
    let mut out = String::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("has a '..' component"),
            c => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(c);
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// What a pax extended header overrides in the next member.
#[derive(Default)]
struct Pax {
    path: Option<String>,
    linkpath: Option<String>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

/// Parse pax records `"<len> <key>=<value>\n"` (`len` counts the whole record).
fn parse_pax(data: &[u8], at: u64) -> Result<Pax, TarError> {
    let bad = |why| TarError::BadPax { at, why };
    let mut pax = Pax::default();
    let mut rest = data;
    // Trailing NUL padding (some writers) ends the records.
    while !rest.is_empty() && rest[0] != 0 {
        let sp = rest.iter().take(21).position(|&b| b == b' ').ok_or(bad("no record length"))?;
        let digits = &rest[..sp];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad("record length is not a number"));
        }
        let len = digits.iter().try_fold(0usize, |v, &d| {
            v.checked_mul(10).and_then(|v| v.checked_add(usize::from(d - b'0')))
        });
        let len = len.ok_or(bad("record length is too large"))?;
        if len < sp + 3 || len > rest.len() {
            return Err(bad("record length out of range"));
        }
        let record = &rest[sp + 1..len];
        rest = &rest[len..];
        let Some((b'\n', kv)) = record.split_last() else {
            return Err(bad("record does not end with a newline"));
        };
        let eq = kv.iter().position(|&b| b == b'=').ok_or(bad("record has no '='"))?;
        let (key, value) = (&kv[..eq], &kv[eq + 1..]);
        let text = || core::str::from_utf8(value).map_err(|_| TarError::NotUtf8 { at });
        let num = || {
            core::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(bad("numeric value is not a number"))
        };
        // An empty value removes the keyword: the header's field applies again.
        match key {
            b"path" => {
                pax.path = (!value.is_empty()).then(|| text().map(String::from)).transpose()?
            }
            b"linkpath" => {
                pax.linkpath = (!value.is_empty()).then(|| text().map(String::from)).transpose()?
            }
            b"size" => pax.size = (!value.is_empty()).then(num).transpose()?,
            b"uid" => pax.uid = (!value.is_empty()).then(num).transpose()?,
            b"gid" => pax.gid = (!value.is_empty()).then(num).transpose()?,
            k if k.starts_with(b"GNU.sparse.") => {
                return Err(TarError::Unsupported { at, what: "GNU sparse files" })
            }
            _ => {} // times, owner names, charset, vendor keys: nothing to extract by
        }
    }
    Ok(pax)
}

/// Read the whole archive in `data` within `limits`.
pub fn parse<'a>(data: &'a [u8], limits: &Limits) -> Result<Archive<'a>, TarError> {
    let mut out = Archive::default();
    let mut at = 0usize;
    let mut headers = 0usize;
    let mut total = 0u64;
    // Pending long name / link name (GNU L / K) and pax overrides for the next member.
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    let mut pax: Option<Pax> = None;
    // Regular files (for hard links) and symbolic links (not to be written through) so far.
    let mut files: BTreeSet<String> = BTreeSet::new();
    let mut symlinks: BTreeSet<String> = BTreeSet::new();
    loop {
        if at >= data.len() {
            break; // no end-of-archive blocks: accepted, as GNU tar does
        }
        let pos = at as u64;
        let Ok(h) = bytes::chunk::<BLOCK>(data, at) else {
            // Less than a header left: not a tar archive at all when nothing came before.
            if data[at..].iter().all(|&b| b == 0) {
                break;
            }
            return Err(if at == 0 {
                TarError::BadChecksum { at: 0 }
            } else {
                TarError::Truncated { at: pos }
            });
        };
        if h.iter().all(|&b| b == 0) {
            break;
        }
        if !checksum_ok(h) {
            return Err(TarError::BadChecksum { at: pos });
        }
        headers += 1;
        if headers > limits.max_entries {
            return Err(TarError::TooManyEntries { limit: limits.max_entries });
        }
        let field = |r: core::ops::Range<usize>, name| {
            number(&h[r]).ok_or(TarError::BadField { at: pos, field: name })
        };
        let typeflag = h[156];
        let header_size = field(124..136, "size")?;
        // Long names and pax headers are not members: a pending pax size is for the next one.
        let meta = matches!(typeflag, b'L' | b'K' | b'x' | b'g' | b'V');
        let size = match &pax {
            Some(Pax { size: Some(s), .. }) if !meta => *s,
            _ => header_size,
        };
        // Types without data blocks, whatever their size field says (as Python's tarfile).
        let data_len = if matches!(typeflag, b'1'..=b'6') { 0 } else { size };
        let data_start = at + BLOCK;
        let body = usize::try_from(data_len)
            .ok()
            .and_then(|n| bytes::slice(data, data_start, n).ok())
            .ok_or(TarError::Truncated { at: pos })?;
        // Whole blocks; the last one may be short at the very end of the input.
        at = data_start.saturating_add(body.len().next_multiple_of(BLOCK));

        let name_text = |raw: &[u8], at: u64| -> Result<String, TarError> {
            if raw.len() > limits.max_name_len {
                return Err(TarError::NameTooLong { at, len: raw.len() });
            }
            core::str::from_utf8(raw).map(String::from).map_err(|_| TarError::NotUtf8 { at })
        };
        match typeflag {
            b'L' | b'K' => {
                if data_len > limits.max_name_len as u64 + 1 {
                    return Err(TarError::NameTooLong { at: pos, len: body.len() });
                }
                let name = name_text(cstr(body), pos)?;
                if typeflag == b'L' {
                    long_name = Some(name);
                } else {
                    long_link = Some(name);
                }
                continue;
            }
            b'x' => {
                if data_len > MAX_PAX_LEN {
                    return Err(TarError::BadPax { at: pos, why: "too large" });
                }
                pax = Some(parse_pax(body, pos)?);
                continue;
            }
            // Global pax headers: nothing in them changes what is extracted.
            b'g' => continue,
            b'V' => continue, // GNU volume label
            _ => {}
        }

        // A member: take its name and link name, then forget the pending overrides.
        let ustar = &h[257..263] == b"ustar\0";
        let mut name = match (pax.as_mut().and_then(|p| p.path.take()), long_name.take()) {
            (Some(p), _) => p,
            (None, Some(l)) => l,
            (None, None) => {
                let n = cstr(&h[..100]);
                let prefix = if ustar { cstr(&h[345..500]) } else { &[][..] };
                let mut raw = Vec::from(prefix);
                if !prefix.is_empty() {
                    raw.push(b'/');
                }
                raw.extend_from_slice(n);
                name_text(&raw, pos)?
            }
        };
        if name.len() > limits.max_name_len {
            return Err(TarError::NameTooLong { at: pos, len: name.len() });
        }
        let link = match (pax.as_mut().and_then(|p| p.linkpath.take()), long_link.take()) {
            (Some(p), _) => p,
            (None, Some(l)) => l,
            (None, None) => name_text(cstr(&h[157..257]), pos)?,
        };
        if link.len() > limits.max_name_len {
            return Err(TarError::NameTooLong { at: pos, len: link.len() });
        }
        let uid = pax.as_ref().and_then(|p| p.uid).map_or_else(|| field(108..116, "uid"), Ok)?;
        let gid = pax.as_ref().and_then(|p| p.gid).map_or_else(|| field(116..124, "gid"), Ok)?;
        pax = None;
        let mode = (field(100..108, "mode")? & 0o7777) as u32;

        // Old tars mark directories only by a trailing slash on a regular-file header.
        let typeflag = match typeflag {
            0 | b'0' if name.ends_with('/') => b'5',
            t => t,
        };
        if typeflag == b'5' || typeflag == b'D' {
            while name.ends_with('/') && name.len() > 1 {
                name.pop();
            }
        }
        let unsafe_path =
            |path: &str, why| TarError::UnsafePath { at: pos, path: path.to_string(), why };
        let Some(path) = safe_path(&name).map_err(|why| unsafe_path(&name, why))? else {
            if !matches!(typeflag, b'5' | b'D') {
                out.warnings.push(format!("skipped a member named {name:?} (no file name)"));
            }
            continue;
        };
        // Written through a symbolic link made by this archive: somewhere we did not check.
        let mut prefix_end = path.find('/');
        while let Some(end) = prefix_end {
            if symlinks.contains(&path[..end]) {
                return Err(unsafe_path(&name, "goes through a symbolic link of the archive"));
            }
            prefix_end = path[end + 1..].find('/').map(|n| end + 1 + n);
        }

        let kind = match typeflag {
            b'0' | 0 | b'7' => EntryKind::File(body),
            b'5' | b'D' => EntryKind::Dir,
            b'2' => EntryKind::Symlink(link),
            b'1' => {
                let Some(target) = safe_path(&link).map_err(|why| unsafe_path(&link, why))? else {
                    return Err(unsafe_path(&link, "is not a file"));
                };
                if !files.contains(&target) {
                    out.warnings.push(format!(
                        "skipped {path}: hard link to {target}, which is not an earlier file of the archive"
                    ));
                    continue;
                }
                EntryKind::HardLink(target)
            }
            b'3' | b'4' | b'6' => {
                let what = match typeflag {
                    b'3' => "character device",
                    b'4' => "block device",
                    _ => "FIFO",
                };
                out.warnings.push(format!("skipped {path}: {what}"));
                continue;
            }
            b'S' => return Err(TarError::Unsupported { at: pos, what: "GNU sparse files" }),
            b'M' => {
                return Err(TarError::Unsupported { at: pos, what: "multi-volume continuations" })
            }
            b'N' => {
                out.warnings.push(format!("skipped {path}: old GNU long-name script"));
                continue;
            }
            other => {
                out.warnings.push(format!(
                    "{path}: unknown type {:?}, extracted as a regular file",
                    char::from(other)
                ));
                EntryKind::File(body)
            }
        };
        match &kind {
            EntryKind::File(b) => {
                total = total.saturating_add(b.len() as u64);
                if total > limits.max_total_size {
                    return Err(TarError::TooLarge { limit: limits.max_total_size });
                }
                files.insert(path.clone());
                symlinks.remove(&path);
            }
            EntryKind::HardLink(_) => {
                files.insert(path.clone());
                symlinks.remove(&path);
            }
            EntryKind::Symlink(_) => {
                files.remove(&path);
                symlinks.insert(path.clone());
            }
            EntryKind::Dir => {
                files.remove(&path);
                symlinks.remove(&path);
            }
        }
        out.entries.push(Entry { path, kind, mode, uid, gid });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
