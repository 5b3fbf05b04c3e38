//! A whole FAT12 volume built in memory from a few files: El Torito EFI boot images (the
//! `efisys.bin` of a synthetic CD). Long names get long-name entries; short names are what
//! Windows derives ([`dirent::generate_short_name`]).
//!
//! ```text
//! sector 0          boot sector (512-byte sectors, 1 reserved sector, 2 FATs, media 0xF8)
//! 1..               FAT 1, FAT 2 (12-bit entries)
//! ..                root directory (ROOT_ENTRIES entries)
//! ..                data: every directory and file in one contiguous run of clusters
//! ```
//!
//! The cluster size is the smallest power of two that keeps the volume under FAT12's 4,085
//! clusters.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::dirent::{self, DosTimestamp, RawEntry, ATTR, ATTR_DIRECTORY, ENTRY_SIZE, NAME_LEN};

const SECTOR: usize = 512;
/// Root directory entries of the fixed root area.
pub const ROOT_ENTRIES: usize = 224;
const FAT12_MAX_CLUSTERS: usize = 4084;
const MAX_SPC: usize = 64;
/// Most files and directories in one image.
pub const MAX_ENTRIES: usize = 256;

/// Why no image was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FatImageError {
    /// Empty, duplicate, or a file used as a directory.
    BadPath(String),
    /// More than FAT12 with 32 KiB clusters holds, or a file of 4 GiB.
    TooLarge,
    TooManyEntries,
}

impl fmt::Display for FatImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FatImageError::BadPath(p) => write!(f, "cannot place {p:?} in a FAT image"),
            FatImageError::TooLarge => f.write_str("the files do not fit a FAT12 image"),
            FatImageError::TooManyEntries => f.write_str("too many files for a FAT image"),
        }
    }
}

impl core::error::Error for FatImageError {}

struct Node {
    name: String,
    parent: usize,
    /// `None` for a directory.
    data: Option<usize>,
    children: Vec<usize>,
    first_cluster: u32,
    clusters: usize,
}

/// The directory entries (long-name entries + short entry) for `children` of a directory.
fn entries_of(
    nodes: &[Node],
    children: &[usize],
    at: DosTimestamp,
    files: &[(&str, &[u8])],
) -> Vec<RawEntry> {
    let mut out: Vec<RawEntry> = Vec::new();
    let mut shorts: Vec<[u8; NAME_LEN]> = Vec::new();
    for &c in children {
        let n = &nodes[c];
        let short = dirent::generate_short_name(&n.name, |s| shorts.contains(s))
            .unwrap_or([b'_'; NAME_LEN]);
        shorts.push(short);
        if dirent::short_name_text(&short, 0) != n.name {
            out.extend(dirent::lfn_entries(&n.name, &short));
        }
        let size = n.data.map_or(0, |i| files[i].1.len() as u32);
        let mut e = dirent::file_entry(&short, n.first_cluster, size, at);
        if n.data.is_none() {
            e[ATTR] = ATTR_DIRECTORY;
        }
        out.push(e);
    }
    out
}

/// A FAT12 image holding `files` (`/`-separated paths, e.g. `EFI/BOOT/BOOTX64.EFI`), every
/// entry dated `at`.
pub fn build(
    files: &[(&str, &[u8])],
    label: &[u8; 11],
    at: DosTimestamp,
) -> Result<Vec<u8>, FatImageError> {
    if files.len() > MAX_ENTRIES {
        return Err(FatImageError::TooManyEntries);
    }
    let mut nodes = vec![Node {
        name: String::new(),
        parent: 0,
        data: None,
        children: Vec::new(),
        first_cluster: 0,
        clusters: 0,
    }];
    for (i, (path, data)) in files.iter().enumerate() {
        let bad = || FatImageError::BadPath(String::from(*path));
        if data.len() as u64 > u64::from(u32::MAX) {
            return Err(FatImageError::TooLarge);
        }
        let parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            return Err(bad());
        }
        let mut dir = 0usize;
        for (k, p) in parts.iter().enumerate() {
            let is_leaf = k + 1 == parts.len();
            let found = nodes[dir]
                .children
                .iter()
                .copied()
                .find(|&c| nodes[c].name.eq_ignore_ascii_case(p));
            match found {
                Some(_) if is_leaf => return Err(bad()),
                Some(c) if nodes[c].data.is_some() => return Err(bad()),
                Some(c) => dir = c,
                None => {
                    if nodes.len() > MAX_ENTRIES {
                        return Err(FatImageError::TooManyEntries);
                    }
                    nodes.push(Node {
                        name: String::from(*p),
                        parent: dir,
                        data: is_leaf.then_some(i),
                        children: Vec::new(),
                        first_cluster: 0,
                        clusters: 0,
                    });
                    let c = nodes.len() - 1;
                    nodes[dir].children.push(c);
                    dir = c;
                }
            }
        }
    }
    if entries_of(&nodes, &nodes[0].children, at, files).len() > ROOT_ENTRIES {
        return Err(FatImageError::TooManyEntries);
    }
    // Sizes in bytes of every node's cluster chain (directories: ".", ".." and children).
    let need: Vec<usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| match n.data {
            Some(d) => files[d].1.len(),
            None if i == 0 => 0,
            None => (2 + entries_of(&nodes, &n.children, at, files).len()) * ENTRY_SIZE,
        })
        .collect();
    let mut spc = 1usize;
    let total_clusters = loop {
        let cs = spc * SECTOR;
        let t: usize = need.iter().map(|n| n.div_ceil(cs)).sum();
        if t <= FAT12_MAX_CLUSTERS {
            break t.max(1);
        }
        if spc == MAX_SPC {
            return Err(FatImageError::TooLarge);
        }
        spc *= 2;
    };
    let cs = spc * SECTOR;
    let mut next = 2u32;
    for (n, len) in nodes.iter_mut().zip(&need) {
        n.clusters = len.div_ceil(cs);
        if n.clusters > 0 {
            n.first_cluster = next;
            next += n.clusters as u32;
        }
    }
    let fat_sectors = ((total_clusters + 2) * 3).div_ceil(2).div_ceil(SECTOR);
    let root_sectors = (ROOT_ENTRIES * ENTRY_SIZE).div_ceil(SECTOR);
    let data_start = 1 + 2 * fat_sectors + root_sectors;
    let total_sectors = data_start + total_clusters * spc;
    let mut img = vec![0u8; total_sectors * SECTOR];

    // Boot sector.
    let bs = &mut img[..SECTOR];
    bs[..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    bs[3..11].copy_from_slice(b"POLYBOOT");
    bs[11..13].copy_from_slice(&(SECTOR as u16).to_le_bytes());
    bs[13] = spc as u8;
    bs[14..16].copy_from_slice(&1u16.to_le_bytes());
    bs[16] = 2;
    bs[17..19].copy_from_slice(&(ROOT_ENTRIES as u16).to_le_bytes());
    if let Ok(t) = u16::try_from(total_sectors) {
        bs[19..21].copy_from_slice(&t.to_le_bytes());
    } else {
        bs[32..36].copy_from_slice(&(total_sectors as u32).to_le_bytes());
    }
    bs[21] = 0xF8;
    bs[22..24].copy_from_slice(&(fat_sectors as u16).to_le_bytes());
    bs[24..26].copy_from_slice(&32u16.to_le_bytes());
    bs[26..28].copy_from_slice(&64u16.to_le_bytes());
    bs[36] = 0x80;
    bs[38] = 0x29;
    bs[39..43].copy_from_slice(&0x504F_4C59u32.to_le_bytes());
    bs[43..54].copy_from_slice(label);
    bs[54..62].copy_from_slice(b"FAT12   ");
    bs[510] = 0x55;
    bs[511] = 0xAA;

    // FATs.
    let mut fat = vec![0u8; fat_sectors * SECTOR];
    let mut set = |c: usize, v: u16| {
        let at = c * 3 / 2;
        let (lo, hi) = (fat[at], fat[at + 1]);
        let pair = u16::from_le_bytes([lo, hi]);
        let pair = if c % 2 == 0 { (pair & 0xF000) | v } else { (pair & 0x000F) | (v << 4) };
        fat[at..at + 2].copy_from_slice(&pair.to_le_bytes());
    };
    set(0, 0xFF8);
    set(1, 0xFFF);
    for n in &nodes {
        let first = n.first_cluster as usize;
        for k in 0..n.clusters {
            let c = first + k;
            set(c, if k + 1 == n.clusters { 0xFFF } else { (c + 1) as u16 });
        }
    }
    for copy in 0..2 {
        let at = (1 + copy * fat_sectors) * SECTOR;
        img[at..at + fat.len()].copy_from_slice(&fat);
    }

    // Directories and files.
    let cluster_at = |c: u32| (data_start + (c as usize - 2) * spc) * SECTOR;
    for (i, n) in nodes.iter().enumerate() {
        let bytes: Vec<u8> = match n.data {
            Some(d) => files[d].1.to_vec(),
            None => {
                let mut entries = Vec::new();
                if i != 0 {
                    let parent = n.parent;
                    let mut dot = dirent::file_entry(b".          ", n.first_cluster, 0, at);
                    dot[ATTR] = ATTR_DIRECTORY;
                    let mut dotdot =
                        dirent::file_entry(b"..         ", nodes[parent].first_cluster, 0, at);
                    dotdot[ATTR] = ATTR_DIRECTORY;
                    entries.push(dot);
                    entries.push(dotdot);
                }
                entries.extend(entries_of(&nodes, &n.children, at, files));
                entries.concat()
            }
        };
        let at = if i == 0 && n.data.is_none() {
            (1 + 2 * fat_sectors) * SECTOR
        } else if n.clusters > 0 {
            cluster_at(n.first_cluster)
        } else {
            continue;
        };
        img[at..at + bytes.len()].copy_from_slice(&bytes);
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use crate::fat::read::Fat;

    #[test]
    fn files_read_back_through_the_fat_reader() {
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let files: [(&str, &[u8]); 4] = [
            ("EFI/BOOT/BOOTX64.EFI", &big),
            ("EFI/Microsoft/Boot/BCD", b"regf hive"),
            ("empty.txt", b""),
            ("a long file name.text", b"x"),
        ];
        let img = build(&files, b"EFISECTOR  ", DosTimestamp::EPOCH).unwrap();
        let mut fat = Fat::open(MemDevice::from_vec(img)).unwrap();
        for (p, b) in files {
            assert_eq!(fat.read_file(p, 1 << 24).unwrap(), b, "{p}");
        }
    }

    #[test]
    fn bad_trees_are_refused() {
        let one: &[u8] = b"1";
        assert!(build(&[("a", one), ("A", one)], b"X          ", DosTimestamp::EPOCH).is_err());
        assert!(build(&[("a", one), ("a/b", one)], b"X          ", DosTimestamp::EPOCH).is_err());
        assert!(build(&[("", one)], b"X          ", DosTimestamp::EPOCH).is_err());
    }
}
