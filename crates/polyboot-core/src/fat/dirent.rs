//! FAT directory entries: the 32-byte short (8.3) entry, the long-name (LFN) entries stored in
//! front of it and their checksum, short-name generation, and FAT's date and time encoding.
//!
//! The field offsets and marker bytes are named here once; the reader, the ordered writer and
//! the host's fix-ups of `fatfs` output all use these names instead of raw numbers.

use alloc::string::String;
use alloc::vec::Vec;

use crate::bytes::{self, Fields};

/// Bytes in one directory slot.
pub const ENTRY_SIZE: usize = 32;
/// One directory slot, short or long-name.
pub type RawEntry = [u8; ENTRY_SIZE];

/// First name byte of the end-of-directory slot: it and every slot after it are unused.
pub const END_OF_DIR: u8 = 0x00;
/// First name byte of a deleted entry, free for reuse.
pub const DELETED: u8 = 0xE5;
/// A first name byte of 0x05 stands for a real 0xE5 (which would read as "deleted").
pub const ESCAPED_E5: u8 = 0x05;

/// Attribute bits (byte [`ATTR`]).
pub const ATTR_READ_ONLY: u8 = 0x01;
pub const ATTR_HIDDEN: u8 = 0x02;
pub const ATTR_SYSTEM: u8 = 0x04;
pub const ATTR_VOLUME_ID: u8 = 0x08;
pub const ATTR_DIRECTORY: u8 = 0x10;
pub const ATTR_ARCHIVE: u8 = 0x20;
/// The attribute value of a long-name entry (read-only, hidden, system and volume together).
pub const ATTR_LFN: u8 = 0x0F;
/// The attribute bits compared with [`ATTR_LFN`] (the top two are reserved).
pub const ATTR_LFN_MASK: u8 = 0x3F;

/// Field offsets of a short entry.
pub const NAME: usize = 0;
pub const NAME_LEN: usize = 11;
pub const ATTR: usize = 11;
/// Windows NT case flags: [`CASE_LOWER_BASE`], [`CASE_LOWER_EXT`].
pub const NT_CASE: usize = 12;
pub const CREATE_TIME: usize = 14;
pub const CREATE_DATE: usize = 16;
pub const ACCESS_DATE: usize = 18;
/// High 16 bits of the first cluster (FAT32 only; zero on FAT12/16).
pub const CLUSTER_HIGH: usize = 20;
pub const WRITE_TIME: usize = 22;
pub const WRITE_DATE: usize = 24;
/// Low 16 bits of the first cluster.
pub const CLUSTER_LOW: usize = 26;
pub const FILE_SIZE: usize = 28;

/// The 8.3 base name is shown in lower case.
pub const CASE_LOWER_BASE: u8 = 0x08;
/// The 8.3 extension is shown in lower case.
pub const CASE_LOWER_EXT: u8 = 0x10;

/// Field offsets and values of a long-name entry.
pub const LFN_ORDER: usize = 0;
/// Set in the order byte of the entry holding the last part of the name (stored first).
pub const LFN_LAST: u8 = 0x40;
/// The part number (1-based) in the order byte.
pub const LFN_ORDER_MASK: u8 = 0x1F;
pub const LFN_CHECKSUM: usize = 13;
/// UTF-16 units of the name in one long-name entry.
pub const LFN_UNITS: usize = 13;
/// Byte offsets of those units inside the entry (three runs around the fixed fields).
pub const LFN_UNIT_OFFSETS: [usize; LFN_UNITS] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
/// A long name has at most 255 units: 20 entries.
pub const LFN_MAX_ENTRIES: usize = 20;

/// The 32-byte slots of a directory's bytes.
pub fn slots(dir: &[u8]) -> impl Iterator<Item = &RawEntry> {
    dir.chunks_exact(ENTRY_SIZE).filter_map(|s| s.try_into().ok())
}

/// The 11 name bytes of a short entry.
pub fn short_name(e: &RawEntry) -> [u8; NAME_LEN] {
    let mut n = [0u8; NAME_LEN];
    n.copy_from_slice(&e[NAME..NAME + NAME_LEN]);
    n
}

pub fn is_lfn(e: &RawEntry) -> bool {
    e[ATTR] & ATTR_LFN_MASK == ATTR_LFN
}

/// `.` or `..`.
pub fn is_dot(e: &RawEntry) -> bool {
    e[NAME] == b'.'
}

/// A live subdirectory entry: a directory that is not a long-name part, deleted, or `.`/`..`.
pub fn is_subdirectory(e: &RawEntry) -> bool {
    e[ATTR] & ATTR_DIRECTORY != 0 && e[ATTR] != ATTR_LFN && e[NAME] != DELETED && !is_dot(e)
}

/// The first cluster. FAT12/16 keep only the low 16 bits (the high field may hold other
/// things there), so callers pass whether the volume is FAT32.
pub fn first_cluster(e: &RawEntry, fat32: bool) -> u32 {
    let low = u32::from(e.le16::<CLUSTER_LOW>());
    if fat32 {
        (u32::from(e.le16::<CLUSTER_HIGH>()) << 16 | low) & 0x0FFF_FFFF
    } else {
        low
    }
}

pub fn set_first_cluster(e: &mut RawEntry, c: u32) {
    e[CLUSTER_HIGH..CLUSTER_HIGH + 2].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
    e[CLUSTER_LOW..CLUSTER_LOW + 2].copy_from_slice(&(c as u16).to_le_bytes());
}

pub fn file_size(e: &RawEntry) -> u32 {
    e.le32::<FILE_SIZE>()
}

/// The short name as text ("NAME.EXT"), lower-cased where the NT `case` flags say so.
pub fn short_name_text(name: &[u8; NAME_LEN], case: u8) -> String {
    let part = |b: &[u8], lower: bool| -> String {
        let end = b.iter().rposition(|&c| c != b' ').map_or(0, |p| p + 1);
        b[..end]
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let c = if i == 0 && c == ESCAPED_E5 { DELETED } else { c };
                let ch = if c.is_ascii() { c as char } else { '\u{FFFD}' };
                if lower {
                    ch.to_ascii_lowercase()
                } else {
                    ch
                }
            })
            .collect()
    };
    let base = part(&name[..8], case & CASE_LOWER_BASE != 0);
    let ext = part(&name[8..], case & CASE_LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        alloc::format!("{base}.{ext}")
    }
}

/// The checksum of a short name that each of its long-name entries carries.
pub fn lfn_checksum(short: &[u8; NAME_LEN]) -> u8 {
    short.iter().fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// Long-name entries `name` needs.
pub fn lfn_count(name: &str) -> usize {
    name.encode_utf16().count().div_ceil(LFN_UNITS)
}

/// The 13 UTF-16 units of a long-name entry.
pub fn lfn_units(e: &RawEntry) -> [u16; LFN_UNITS] {
    let mut units = [0u16; LFN_UNITS];
    // Every offset lies inside the 32-byte entry, so each read succeeds.
    for (u, &at) in units.iter_mut().zip(&LFN_UNIT_OFFSETS) {
        if let Ok(v) = bytes::le16(e, at) {
            *u = v;
        }
    }
    units
}

/// The long-name entries for `name`, in on-disk order (last part first), for the short name
/// `short`. The name ends with a 0 unit, then 0xFFFF padding, as Windows writes it.
pub fn lfn_entries(name: &str, short: &[u8; NAME_LEN]) -> Vec<RawEntry> {
    let units: Vec<u16> = name.encode_utf16().collect();
    let n = units.len().div_ceil(LFN_UNITS);
    let checksum = lfn_checksum(short);
    (1..=n)
        .rev()
        .map(|k| {
            let mut e = [0u8; ENTRY_SIZE];
            e[LFN_ORDER] = k as u8 | if k == n { LFN_LAST } else { 0 };
            e[ATTR] = ATTR_LFN;
            e[LFN_CHECKSUM] = checksum;
            let chunk = &units[(k - 1) * LFN_UNITS..(k * LFN_UNITS).min(units.len())];
            let mut part = [0xFFFFu16; LFN_UNITS];
            part[..chunk.len()].copy_from_slice(chunk);
            if chunk.len() < LFN_UNITS {
                part[chunk.len()] = 0;
            }
            for (u, &at) in part.iter().zip(&LFN_UNIT_OFFSETS) {
                e[at..at + 2].copy_from_slice(&u.to_le_bytes());
            }
            e
        })
        .collect()
}

/// The long name spelled by `lfn` (on-disk order) if they form one complete, strictly
/// numbered set for `short` with its checksum; `None` otherwise (or if not valid UTF-16).
pub fn decode_lfn(lfn: &[RawEntry], short: &[u8; NAME_LEN]) -> Option<String> {
    let n = lfn.len();
    if n == 0 || n > LFN_MAX_ENTRIES {
        return None;
    }
    let checksum = lfn_checksum(short);
    for (i, e) in lfn.iter().enumerate() {
        let order = (n - i) as u8 | if i == 0 { LFN_LAST } else { 0 };
        if e[LFN_ORDER] != order || e[LFN_CHECKSUM] != checksum {
            return None;
        }
    }
    let mut units = Vec::new();
    for e in lfn.iter().rev() {
        units.extend(lfn_units(e).into_iter().take_while(|&u| u != 0));
    }
    String::from_utf16(&units).ok()
}

/// A short entry of a file (archive bit set) with all three timestamps `at`.
pub fn file_entry(
    short: &[u8; NAME_LEN],
    first_cluster: u32,
    size: u32,
    at: DosTimestamp,
) -> RawEntry {
    let mut e = [0u8; ENTRY_SIZE];
    e[NAME..NAME + NAME_LEN].copy_from_slice(short);
    e[ATTR] = ATTR_ARCHIVE;
    e[CREATE_TIME..CREATE_TIME + 2].copy_from_slice(&at.time.to_le_bytes());
    e[CREATE_DATE..CREATE_DATE + 2].copy_from_slice(&at.date.to_le_bytes());
    e[ACCESS_DATE..ACCESS_DATE + 2].copy_from_slice(&at.date.to_le_bytes());
    e[WRITE_TIME..WRITE_TIME + 2].copy_from_slice(&at.time.to_le_bytes());
    e[WRITE_DATE..WRITE_DATE + 2].copy_from_slice(&at.date.to_le_bytes());
    set_first_cluster(&mut e, first_cluster);
    e[FILE_SIZE..FILE_SIZE + 4].copy_from_slice(&size.to_le_bytes());
    e
}

/// FAT's local date and time: 2-second resolution, years 1980..=2107.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosTimestamp {
    pub time: u16,
    pub date: u16,
}

impl DosTimestamp {
    /// 1980-01-01 00:00:00, FAT's epoch.
    pub const EPOCH: DosTimestamp = DosTimestamp { time: 0, date: (1 << 5) | 1 };

    /// Encode a calendar time; the year is clamped to what FAT can hold.
    pub fn new(
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
    ) -> DosTimestamp {
        let year = (year.clamp(1980, 2107) - 1980) as u16;
        let date = (year << 9) | ((month as u16 & 0xF) << 5) | (day as u16 & 0x1F);
        let time = ((hour as u16 & 0x1F) << 11)
            | ((minute as u16 & 0x3F) << 5)
            | ((second as u16 / 2) & 0x1F);
        DosTimestamp { time, date }
    }
}

/// The short name Windows derives from `long` when no other entry takes it: upper case, the
/// characters 8.3 cannot hold replaced by `_`, truncated to 8 + 3; a numeric tail (`~1`,
/// `~2`, ...) when anything was lost, the first that `taken` does not report. `None` when
/// every tail up to `~999999` is taken.
pub fn generate_short_name(
    long: &str,
    taken: impl Fn(&[u8; NAME_LEN]) -> bool,
) -> Option<[u8; NAME_LEN]> {
    let mut lossy = false;
    let mut convert = |s: &str, max: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for ch in s.chars().filter(|&c| c != ' ' && c != '.') {
            let up = ch.to_ascii_uppercase();
            let b = if up.is_ascii() && is_short_name_byte(up as u8) { up as u8 } else { b'_' };
            lossy |= b == b'_' && ch != '_';
            if out.len() == max {
                lossy = true;
                break;
            }
            out.push(b);
        }
        out
    };
    let trimmed = long.trim_start_matches('.');
    let (base_src, ext_src) = match trimmed.rfind('.') {
        Some(dot) => (&trimmed[..dot], &trimmed[dot + 1..]),
        None => (trimmed, ""),
    };
    let base = convert(base_src, 8);
    let ext = convert(ext_src, 3);
    // Spaces and extra dots dropped, or leading dots, also lose information.
    lossy |= base_src.contains([' ', '.']) || ext_src.contains(' ') || trimmed.len() != long.len();
    let mut name = [b' '; NAME_LEN];
    name[8..8 + ext.len()].copy_from_slice(&ext);
    if !lossy && !base.is_empty() {
        name[..base.len()].copy_from_slice(&base);
        if !taken(&name) {
            return Some(name);
        }
    }
    let base = if base.is_empty() { alloc::vec![b'_'] } else { base };
    for n in 1..=999_999u32 {
        let tail = alloc::format!("~{n}");
        let keep = base.len().min(8 - tail.len());
        name[..8].fill(b' ');
        name[..keep].copy_from_slice(&base[..keep]);
        name[keep..keep + tail.len()].copy_from_slice(tail.as_bytes());
        if !taken(&name) {
            return Some(name);
        }
    }
    None
}

/// Bytes allowed in a short name besides letters and digits.
fn is_short_name_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b"!#$%&'()-@^_`{}~".contains(&b)
}

/// Repair what the `fatfs` crate (0.3.6) writes at the start of each new directory: a
/// long-name entry in front of "." and another in front of "..". fsck.fat (rightly) wants
/// "." and ".." in the first two slots: move them there and mark the two slots after them
/// deleted. Returns whether `dir[..4 * ENTRY_SIZE]` changed (and must be written back).
pub fn move_dot_entries_first(dir: &mut [u8]) -> bool {
    const E: usize = ENTRY_SIZE;
    let fatfs_shape = dir.len() >= 4 * E
        && dir[ATTR] == ATTR_LFN
        && dir[E] == b'.'
        && dir[2 * E + ATTR] == ATTR_LFN
        && &dir[3 * E..3 * E + 2] == b"..";
    if !fatfs_shape {
        return false;
    }
    dir.copy_within(E..2 * E, 0);
    dir.copy_within(3 * E..4 * E, E);
    dir[2 * E..4 * E].fill(0);
    dir[2 * E] = DELETED;
    dir[3 * E] = DELETED;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfn_entries_match_what_fatfs_writes_and_decode_back() {
        // fatfs 0.3.6 writes this entry in front of BOOTX64.EFI (taken from an installed drive).
        let e = &lfn_entries("BOOTX64.EFI", b"BOOTX64 EFI")[0];
        assert_eq!(e[0], 0x41);
        assert_eq!(e[11], 0x0F);
        assert_eq!(e[13], 29);
        assert_eq!(&e[28..32], &[0, 0, 0xFF, 0xFF]);
        let long = "a long name that needs two or three entries.json";
        let entries = lfn_entries(long, b"ALONGN~1JSO");
        assert_eq!(entries.len(), lfn_count(long));
        assert_eq!(decode_lfn(&entries, b"ALONGN~1JSO").as_deref(), Some(long));
        assert_eq!(decode_lfn(&entries, b"ALONGN~2JSO"), None, "checksum of another short name");
        assert_eq!(decode_lfn(&entries[1..], b"ALONGN~1JSO"), None, "a part missing");
        assert_eq!(lfn_checksum(b"STAMP~1 JSO"), 161);
        assert_eq!(
            lfn_units(&entries[entries.len() - 1])[..3],
            [u16::from(b'a'), u16::from(b' '), u16::from(b'l')]
        );
    }

    #[test]
    fn short_entries_round_trip_their_fields() {
        let at = DosTimestamp::new(2024, 2, 29, 23, 59, 58);
        assert_eq!(
            at,
            DosTimestamp { time: (23 << 11) | (59 << 5) | 29, date: (44 << 9) | (2 << 5) | 29 }
        );
        assert_eq!(
            DosTimestamp::new(1970, 1, 1, 0, 0, 0),
            DosTimestamp::EPOCH,
            "before 1980 is clamped"
        );
        let e = file_entry(b"STAMP   NEW", 0x0012_3456, 700, at);
        assert_eq!(short_name(&e), *b"STAMP   NEW");
        assert_eq!((e[ATTR], file_size(&e)), (ATTR_ARCHIVE, 700));
        assert_eq!(first_cluster(&e, true), 0x0012_3456);
        assert_eq!(first_cluster(&e, false), 0x3456, "FAT16 ignores the high word");
        assert!(!is_lfn(&e) && !is_dot(&e) && !is_subdirectory(&e));
        let mut d = e;
        d[ATTR] = ATTR_DIRECTORY;
        assert!(is_subdirectory(&d));
        d[NAME] = DELETED;
        assert!(!is_subdirectory(&d));
        assert_eq!(short_name_text(b"LOADER  CON", CASE_LOWER_BASE | CASE_LOWER_EXT), "loader.con");
        assert_eq!(short_name_text(b"\x05BC     TXT", 0), "\u{FFFD}BC.TXT", "0x05 stands for 0xE5");
        assert_eq!(short_name_text(b"EFI        ", 0), "EFI");
    }

    #[test]
    fn short_names_are_generated_as_windows_and_fatfs_do() {
        let free = |_: &[u8; 11]| false;
        assert_eq!(&generate_short_name("BOOTX64.EFI", free).unwrap(), b"BOOTX64 EFI");
        assert_eq!(&generate_short_name("stamp.json", free).unwrap(), b"STAMP~1 JSO");
        assert_eq!(&generate_short_name("stamp.new", free).unwrap(), b"STAMP   NEW");
        assert_eq!(&generate_short_name("a long name.txt", free).unwrap(), b"ALONGN~1TXT");
        assert_eq!(&generate_short_name("a+b", free).unwrap(), b"A_B~1      ");
        assert_eq!(&generate_short_name(".bashrc", free).unwrap(), b"BASHRC~1   ");
        let taken = |n: &[u8; 11]| n == b"STAMP~1 JSO" || n == b"STAMP~2 JSO";
        assert_eq!(&generate_short_name("stamp.json", taken).unwrap(), b"STAMP~3 JSO");
        assert_eq!(
            &generate_short_name("README.TXT", |n| n == b"README  TXT").unwrap(),
            b"README~1TXT"
        );
        assert_eq!(generate_short_name("x", |_| true), None);
    }

    #[test]
    fn dot_entries_move_to_the_front() {
        let mut dir = [0u8; 5 * ENTRY_SIZE];
        dir[ATTR] = ATTR_LFN;
        dir[32..43].copy_from_slice(b".          ");
        dir[64 + ATTR] = ATTR_LFN;
        dir[96..107].copy_from_slice(b"..         ");
        dir[128..139].copy_from_slice(b"FILE    TXT");
        assert!(move_dot_entries_first(&mut dir));
        assert_eq!(&dir[..11], b".          ");
        assert_eq!(&dir[32..43], b"..         ");
        assert_eq!((dir[64], dir[96]), (DELETED, DELETED));
        assert_eq!(&dir[128..139], b"FILE    TXT", "later entries untouched");
        assert!(!move_dot_entries_first(&mut dir), "already repaired");
    }
}
