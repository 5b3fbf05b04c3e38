//! An image's metadata resource (decompressed): security data, then the directory tree as
//! on-disk dentries. Only what the shell replacement needs: find a file by path and say where
//! its data stream's SHA-1 and its hard-link group lie, so that they can be rewritten in place
//! (the dentry keeps its length, so nothing else in the tree moves).
//!
//! ```text
//! security data: u32 total length (8-aligned), u32 entries, u64 sizes[entries], descriptors
//! dentry (little-endian, 102 bytes + names, padded to 8; `length` excludes stream entries)
//!   0 length (u64; 0 = end of a directory's list)   8 attributes   12 security id
//!  16 subdir offset (u64; first child, from the resource's start)   24, 32 unused
//!  40, 48, 56 times   64 SHA-1 of the unnamed data stream   84 reserved
//!  88 reparse tag + reserved (reparse points) | hard-link group id (u64, other files)
//!  96 extra stream entries (u16)   98 short name bytes (u16)   100 name bytes (u16)
//! 102 name (UTF-16LE) + NUL, short name + NUL, then (newer WIMs) tagged items
//! extra stream entry: u64 length, u64 reserved, SHA-1 at 16, u16 name bytes at 36, name
//! ```
//!
//! An unnamed data stream lives either in the dentry's hash (no extra streams) or, when the
//! file has named streams too, in an extra stream entry with an empty name.

use alloc::string::String;
use alloc::vec::Vec;

use super::WimError;
use crate::bytes;

pub const DENTRY_FIXED_LEN: usize = 102;
const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
const HASH_AT: usize = 64;
const HARD_LINK_AT: usize = 88;
const EXTRA_STREAM_FIXED_LEN: usize = 38;
/// Most path components followed, and most dentries looked at in one directory.
pub const MAX_PATH_DEPTH: usize = 64;
pub const MAX_DIR_ENTRIES: usize = 1 << 20;
/// Most extra stream entries read from one dentry.
const MAX_EXTRA_STREAMS: usize = 4096;

fn bad(why: &'static str) -> WimError {
    WimError::BadMetadata(why)
}

/// A file found in the tree: where to rewrite it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// Offset of its dentry in the metadata resource.
    pub dentry_offset: usize,
    /// Offset of the 20-byte SHA-1 naming its unnamed data stream.
    pub hash_offset: usize,
    pub hash: [u8; 20],
    /// Offset of the u64 hard-link group id (zero it to take the file out of its group),
    /// `None` for reparse points (the field holds the reparse tag there).
    pub hard_link_offset: Option<usize>,
    pub hard_link_group: u64,
}

/// One dentry's fields we use.
#[derive(Debug, Clone)]
struct Dentry {
    offset: usize,
    /// Offset of the next dentry in the same directory.
    next: usize,
    attributes: u32,
    subdir_offset: u64,
    name: Vec<u16>,
    num_extra_streams: u16,
    /// Where the extra stream entries start.
    streams_at: usize,
}

fn align8(n: usize) -> Option<usize> {
    n.checked_add(7).map(|v| v & !7)
}

/// Where the root dentry starts: after the security data, 8-aligned.
pub fn root_offset(meta: &[u8]) -> Result<usize, WimError> {
    let total = bytes::le32(meta, 0).map_err(|_| bad("no security data"))? as usize;
    // Windows writes total length 8 for "no descriptors" ; never less than the two u32s.
    let start = align8(total.max(8)).ok_or(bad("security data length"))?;
    if start > meta.len() {
        return Err(bad("the security data is longer than the metadata"));
    }
    Ok(start)
}

fn read_dentry(meta: &[u8], offset: usize) -> Result<Option<Dentry>, WimError> {
    let length = bytes::le64(meta, offset).map_err(|_| bad("dentry beyond the metadata"))?;
    if length == 0 {
        return Ok(None);
    }
    let length = usize::try_from(length).map_err(|_| bad("dentry length"))?;
    if length < DENTRY_FIXED_LEN {
        return Err(bad("dentry shorter than its fixed fields"));
    }
    let end = offset.checked_add(length).ok_or(bad("dentry length"))?;
    let d = bytes::slice(meta, offset, length).map_err(|_| bad("dentry beyond the metadata"))?;
    let field = |r: Result<u64, bytes::OutOfBounds>| r.map_err(|_| bad("dentry field"));
    let attributes = field(bytes::le32(d, 8).map(u64::from))? as u32;
    let subdir_offset = field(bytes::le64(d, 16))?;
    let num_extra_streams = field(bytes::le16(d, 96).map(u64::from))? as u16;
    let name_len = field(bytes::le16(d, 100).map(u64::from))? as usize;
    if name_len % 2 != 0 {
        return Err(bad("odd file name length"));
    }
    let raw = bytes::slice(d, DENTRY_FIXED_LEN, name_len).map_err(|_| bad("file name"))?;
    let name = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let streams_at = align8(end).ok_or(bad("dentry length"))?;
    let next = if num_extra_streams == 0 {
        streams_at
    } else {
        if usize::from(num_extra_streams) > MAX_EXTRA_STREAMS {
            return Err(bad("too many extra streams"));
        }
        let mut at = streams_at;
        for _ in 0..num_extra_streams {
            let len = bytes::le64(meta, at).map_err(|_| bad("stream entry beyond the metadata"))?;
            let len = usize::try_from(len).map_err(|_| bad("stream entry length"))?;
            if len < EXTRA_STREAM_FIXED_LEN {
                return Err(bad("stream entry shorter than its fixed fields"));
            }
            at = at.checked_add(len).and_then(align8).ok_or(bad("stream entry length"))?;
            if at > meta.len() {
                return Err(bad("stream entry beyond the metadata"));
            }
        }
        at
    };
    Ok(Some(Dentry {
        offset,
        next,
        attributes,
        subdir_offset,
        name,
        num_extra_streams,
        streams_at,
    }))
}

/// The children of the directory whose list starts at `first`.
fn children(meta: &[u8], first: u64) -> Result<Vec<Dentry>, WimError> {
    let mut at = usize::try_from(first).map_err(|_| bad("subdirectory offset"))?;
    let mut out = Vec::new();
    while let Some(d) = read_dentry(meta, at)? {
        if out.len() >= MAX_DIR_ENTRIES {
            return Err(bad("too many entries in one directory"));
        }
        // Dentries only move forward: a list cannot loop.
        if d.next <= at {
            return Err(bad("dentry list goes backwards"));
        }
        at = d.next;
        out.push(d);
    }
    Ok(out)
}

/// Compare a UTF-16 name with an ASCII-insensitive UTF-8 one (Windows' case folding beyond
/// ASCII is not needed for the paths we look up).
fn name_matches(name: &[u16], want: &str) -> bool {
    let mut units = want.encode_utf16();
    for &u in name {
        match units.next() {
            Some(w) if fold(w) == fold(u) => {}
            _ => return false,
        }
    }
    units.next().is_none()
}

fn fold(u: u16) -> u16 {
    if (u16::from(b'a')..=u16::from(b'z')).contains(&u) {
        u - 32
    } else {
        u
    }
}

/// The file at `path` (`/`-separated, case-insensitive) in the metadata resource `meta`.
pub fn find_file(meta: &[u8], path: &str) -> Result<FoundFile, WimError> {
    let root_at = root_offset(meta)?;
    let root = read_dentry(meta, root_at)?.ok_or(bad("no root directory"))?;
    let mut dir = root;
    let parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || parts.len() > MAX_PATH_DEPTH {
        return Err(WimError::NotInImage(String::from(path)));
    }
    for (i, part) in parts.iter().enumerate() {
        if dir.attributes & FILE_ATTRIBUTE_DIRECTORY == 0 || dir.subdir_offset == 0 {
            return Err(WimError::NotInImage(String::from(path)));
        }
        let found = children(meta, dir.subdir_offset)?
            .into_iter()
            .find(|d| name_matches(&d.name, part))
            .ok_or_else(|| WimError::NotInImage(String::from(path)))?;
        if i + 1 == parts.len() {
            if found.attributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
                return Err(WimError::NotInImage(String::from(path)));
            }
            return located(meta, &found);
        }
        dir = found;
    }
    Err(WimError::NotInImage(String::from(path)))
}

fn located(meta: &[u8], d: &Dentry) -> Result<FoundFile, WimError> {
    let mut hash_offset = d.offset + HASH_AT;
    if d.num_extra_streams > 0 {
        // The unnamed stream may be an extra entry with an empty name.
        let mut at = d.streams_at;
        for _ in 0..d.num_extra_streams {
            let len = bytes::le64(meta, at).map_err(|_| bad("stream entry"))? as usize;
            let name_len = bytes::le16(meta, at + 36).map_err(|_| bad("stream entry"))?;
            if name_len == 0 {
                hash_offset = at + 16;
                break;
            }
            at = at.checked_add(len).and_then(align8).ok_or(bad("stream entry length"))?;
        }
    }
    let hash = bytes::array::<20>(meta, hash_offset).map_err(|_| bad("stream hash"))?;
    let reparse = d.attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0;
    let link_at = d.offset + HARD_LINK_AT;
    let group = bytes::le64(meta, link_at).map_err(|_| bad("hard-link group"))?;
    Ok(FoundFile {
        dentry_offset: d.offset,
        hash_offset,
        hash,
        hard_link_offset: (!reparse).then_some(link_at),
        hard_link_group: if reparse { 0 } else { group },
    })
}

/// Every file path below the root with its unnamed stream's hash, depth first, bounded by
/// `max` entries (for tests and `check`).
pub fn list_files(meta: &[u8], max: usize) -> Result<Vec<(String, [u8; 20])>, WimError> {
    let root = read_dentry(meta, root_offset(meta)?)?.ok_or(bad("no root directory"))?;
    let mut out = Vec::new();
    let mut stack: Vec<(String, u64, usize)> = Vec::new();
    if root.subdir_offset != 0 {
        stack.push((String::new(), root.subdir_offset, 0));
    }
    let mut seen = 0usize;
    while let Some((prefix, first, depth)) = stack.pop() {
        for d in children(meta, first)? {
            seen += 1;
            if seen > max {
                return Err(bad("more files than the listing allows"));
            }
            let name = String::from_utf16_lossy(&d.name);
            let path = alloc::format!("{prefix}/{name}");
            if d.attributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
                if d.subdir_offset != 0 && depth < MAX_PATH_DEPTH {
                    stack.push((path, d.subdir_offset, depth + 1));
                }
            } else {
                let f = located(meta, &d)?;
                out.push((path, f.hash));
            }
        }
    }
    Ok(out)
}
