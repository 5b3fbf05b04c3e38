//! A read-only FAT12 / FAT16 / FAT32 reader, for the small FAT images ISOs carry as their El
//! Torito EFI boot image (`efiboot.img`): enough to list directories and read files by path,
//! long names included. The host (`polyboot check`) reads an ISO's systemd-boot entries and
//! GRUB configuration there; the firmware reads the same image through its own FAT driver.
//!
//! Untrusted input: every field is checked before use, cluster chains are bounded by the
//! cluster count (a loop is an error, not a hang), directories by [`MAX_DIR_ENTRIES`], paths
//! by [`MAX_DEPTH`] components, and reads by the caller's limit.

use alloc::string::String;
use alloc::vec::Vec;

use super::dirent;
use super::geometry::{Geometry, BOOT_SECTOR_LEN};
use super::{FatError, FatType};
use crate::block::ReadAt;
use crate::bytes::Fields;

/// Most directory entries (32-byte slots) read from one directory.
pub const MAX_DIR_ENTRIES: usize = 65536;
/// Most path components followed by [`Fat::lookup`].
pub const MAX_DEPTH: usize = 32;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatEntry {
    /// The long name when there is a valid one, else the 8.3 name (with its case flags).
    pub name: String,
    pub is_dir: bool,
    pub size: u32,
    pub first_cluster: u32,
}

/// Where a directory's entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirLoc {
    /// FAT12/16's fixed root directory: byte offset and length.
    FixedRoot {
        offset: u64,
        len: u64,
    },
    Chain(u32),
}

pub struct Fat<D> {
    dev: D,
    pub fat_type: FatType,
    cluster_bytes: u64,
    fat_offset: u64,
    data_offset: u64,
    /// Clusters 2 .. 2 + cluster_count are data clusters.
    cluster_count: u32,
    root: DirLoc,
}

impl<D: ReadAt> Fat<D> {
    /// Read the boot sector of the volume that fills `dev`.
    pub fn open(mut dev: D) -> Result<Fat<D>, FatError> {
        let mut bs = [0u8; BOOT_SECTOR_LEN];
        dev.read_at(0, &mut bs)?;
        let g = Geometry::parse(&bs)?;
        let root = match g.fat_type {
            FatType::Fat32 => DirLoc::Chain(g.root_cluster),
            _ => DirLoc::FixedRoot { offset: g.root_dir_offset(), len: g.root_dir_bytes() },
        };
        if g.data_end() > dev.size() {
            return Err(FatError::NotFat("the volume is larger than its image"));
        }
        Ok(Fat {
            dev,
            fat_type: g.fat_type,
            cluster_bytes: g.cluster_bytes(),
            fat_offset: g.fat_offset(0),
            data_offset: g.data_offset(),
            cluster_count: g.cluster_count,
            root,
        })
    }

    fn is_data_cluster(&self, c: u32) -> bool {
        c >= 2 && c - 2 < self.cluster_count
    }

    /// The FAT entry of cluster `c`.
    fn next(&mut self, c: u32) -> Result<u32, FatError> {
        let (at, width, end) = match self.fat_type {
            FatType::Fat12 => (u64::from(c) * 3 / 2, 2, 0xFF8),
            FatType::Fat16 => (u64::from(c) * 2, 2, 0xFFF8),
            FatType::Fat32 => (u64::from(c) * 4, 4, 0x0FFF_FFF8),
        };
        let mut b = [0u8; 4];
        self.dev.read_at(self.fat_offset + at, &mut b[..width])?;
        let v = match self.fat_type {
            FatType::Fat12 => {
                let w = u32::from(b.le16::<0>());
                if c & 1 == 1 {
                    w >> 4
                } else {
                    w & 0xFFF
                }
            }
            FatType::Fat16 => u32::from(b.le16::<0>()),
            FatType::Fat32 => b.le32::<0>() & 0x0FFF_FFFF,
        };
        Ok(if v >= end { u32::MAX } else { v })
    }

    /// The clusters of the chain from `first`: at most `max` of them (and never more than
    /// the volume has, so a loop ends as an error).
    fn chain(&mut self, first: u32, max: u64) -> Result<Vec<u32>, FatError> {
        let mut out = Vec::new();
        let mut c = first;
        while c != u32::MAX && (out.len() as u64) < max {
            if !self.is_data_cluster(c) || out.len() as u64 >= u64::from(self.cluster_count) {
                return Err(FatError::BadChain(c));
            }
            out.push(c);
            c = self.next(c)?;
        }
        // A chain that visits a cluster twice loops (or is cross-linked with itself).
        let mut sorted = out.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(FatError::BadChain(w[0]));
        }
        Ok(out)
    }

    fn cluster_offset(&self, c: u32) -> u64 {
        self.data_offset + u64::from(c - 2) * self.cluster_bytes
    }

    fn dir_bytes(&mut self, loc: DirLoc) -> Result<Vec<u8>, FatError> {
        let max = (MAX_DIR_ENTRIES * 32) as u64;
        match loc {
            DirLoc::FixedRoot { offset, len } => {
                let mut b = alloc::vec![0u8; len.min(max) as usize];
                self.dev.read_at(offset, &mut b)?;
                Ok(b)
            }
            DirLoc::Chain(first) => {
                let clusters = self.chain(first, max.div_ceil(self.cluster_bytes))?;
                let mut b = alloc::vec![0u8; clusters.len() * self.cluster_bytes as usize];
                for (i, c) in clusters.iter().enumerate() {
                    let at = i * self.cluster_bytes as usize;
                    let off = self.cluster_offset(*c);
                    self.dev.read_at(off, &mut b[at..at + self.cluster_bytes as usize])?;
                }
                Ok(b)
            }
        }
    }

    fn list(&mut self, loc: DirLoc) -> Result<Vec<FatEntry>, FatError> {
        let bytes = self.dir_bytes(loc)?;
        Ok(parse_dir(&bytes))
    }

    /// The entries of the root directory.
    pub fn root_dir(&mut self) -> Result<Vec<FatEntry>, FatError> {
        self.list(self.root)
    }

    /// The entry at `path` (`/` or `\` separated, case-insensitive); the root is not an entry.
    pub fn lookup(&mut self, path: &str) -> Result<FatEntry, FatError> {
        let mut loc = self.root;
        let mut found: Option<FatEntry> = None;
        let parts: Vec<&str> =
            path.split(['/', '\\']).filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.is_empty() || parts.len() > MAX_DEPTH {
            return Err(FatError::NotFound);
        }
        for part in parts {
            if let Some(e) = &found {
                if !e.is_dir {
                    return Err(FatError::NotADirectory);
                }
                loc = self.dir_loc(e);
            }
            let entries = self.list(loc)?;
            found = Some(
                entries
                    .into_iter()
                    .find(|e| names_equal(&e.name, part))
                    .ok_or(FatError::NotFound)?,
            );
        }
        found.ok_or(FatError::NotFound)
    }

    fn dir_loc(&self, e: &FatEntry) -> DirLoc {
        // ".." of a first-level directory names cluster 0: the root.
        if e.first_cluster == 0 {
            self.root
        } else {
            DirLoc::Chain(e.first_cluster)
        }
    }

    /// The entries of the directory at `path` (`"/"` for the root).
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<FatEntry>, FatError> {
        if path.split(['/', '\\']).all(|p| p.is_empty() || p == ".") {
            return self.root_dir();
        }
        let e = self.lookup(path)?;
        if !e.is_dir {
            return Err(FatError::NotADirectory);
        }
        let loc = self.dir_loc(&e);
        self.list(loc)
    }

    /// The contents of the file at `path`, refused when larger than `limit` bytes.
    pub fn read_file(&mut self, path: &str, limit: u64) -> Result<Vec<u8>, FatError> {
        let e = self.lookup(path)?;
        if e.is_dir {
            return Err(FatError::NotFound);
        }
        let size = u64::from(e.size);
        if size > limit {
            return Err(FatError::TooLarge { size, limit });
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let need = size.div_ceil(self.cluster_bytes);
        let clusters = self.chain(e.first_cluster, need)?;
        if (clusters.len() as u64) < need {
            return Err(FatError::BadChain(e.first_cluster));
        }
        let mut out = alloc::vec![0u8; size as usize];
        for (i, c) in clusters.iter().enumerate() {
            let at = i as u64 * self.cluster_bytes;
            let n = (size - at).min(self.cluster_bytes) as usize;
            let off = self.cluster_offset(*c);
            self.dev.read_at(off, &mut out[at as usize..at as usize + n])?;
        }
        Ok(out)
    }
}

/// FAT compares names case-insensitively (ASCII here; enough for boot configurations).
fn names_equal(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The entries of a directory's raw bytes: long names assembled (and checked against the
/// short entry's checksum), deleted entries, volume labels, `.` and `..` left out.
fn parse_dir(bytes: &[u8]) -> Vec<FatEntry> {
    let mut out = Vec::new();
    // Pending long-name parts: (sequence number, 13 UTF-16 units), and their checksum.
    let mut lfn: Vec<(u8, [u16; dirent::LFN_UNITS])> = Vec::new();
    let mut lfn_sum: Option<u8> = None;
    for slot in dirent::slots(bytes).take(MAX_DIR_ENTRIES) {
        match slot[dirent::NAME] {
            dirent::END_OF_DIR => break,
            dirent::DELETED => {
                lfn.clear();
                continue;
            }
            _ => {}
        }
        let attr = slot[dirent::ATTR];
        if dirent::is_lfn(slot) {
            let seq = slot[dirent::LFN_ORDER];
            if seq & dirent::LFN_LAST != 0 {
                lfn.clear();
                lfn_sum = Some(slot[dirent::LFN_CHECKSUM]);
            } else if lfn_sum != Some(slot[dirent::LFN_CHECKSUM]) {
                lfn.clear();
                lfn_sum = None;
            }
            lfn.push((seq & dirent::LFN_ORDER_MASK, dirent::lfn_units(slot)));
            continue;
        }
        let short = dirent::short_name(slot);
        let long = take_long_name(&mut lfn, lfn_sum.take(), &short);
        if attr & dirent::ATTR_VOLUME_ID != 0 {
            continue;
        }
        let short = dirent::short_name_text(&short, slot[dirent::NT_CASE]);
        if short == "." || short == ".." {
            continue;
        }
        out.push(FatEntry {
            name: long.unwrap_or(short),
            is_dir: attr & dirent::ATTR_DIRECTORY != 0,
            size: dirent::file_size(slot),
            // The high word counts on FAT12/16 too: a reader of hostile images takes the
            // field as written (the chain checks bound it).
            first_cluster: dirent::first_cluster(slot, true),
        });
    }
    out
}

/// The long name collected for the short entry `name11`, if its parts are complete
/// (numbered n..1) and their checksum matches.
fn take_long_name(
    parts: &mut Vec<(u8, [u16; dirent::LFN_UNITS])>,
    sum: Option<u8>,
    name11: &[u8; 11],
) -> Option<String> {
    let parts = core::mem::take(parts);
    let sum = sum?;
    if dirent::lfn_checksum(name11) != sum || parts.is_empty() {
        return None;
    }
    // Stored last part first: sequence numbers must run n, n-1, ..., 1.
    let n = parts.len();
    if parts.iter().enumerate().any(|(i, (seq, _))| usize::from(*seq) != n - i) {
        return None;
    }
    let mut units: Vec<u16> = Vec::with_capacity(n * dirent::LFN_UNITS);
    for (_, u) in parts.iter().rev() {
        units.extend_from_slice(u);
    }
    let end = units.iter().position(|&u| u == 0 || u == 0xFFFF).unwrap_or(units.len());
    let name: String =
        char::decode_utf16(units[..end].iter().copied()).map(|r| r.unwrap_or('\u{FFFD}')).collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use alloc::vec;

    /// A FAT12 image by hand: 512-byte sectors, 1 sector per cluster, 1 reserved sector,
    /// 2 FATs of 1 sector, 16 root entries (1 sector), 64 sectors.
    fn fat12() -> Vec<u8> {
        let mut img = vec![0u8; 64 * 512];
        img[11..13].copy_from_slice(&512u16.to_le_bytes());
        img[13] = 1;
        img[14..16].copy_from_slice(&1u16.to_le_bytes());
        img[16] = 2;
        img[17..19].copy_from_slice(&16u16.to_le_bytes());
        img[19..21].copy_from_slice(&64u16.to_le_bytes());
        img[22..24].copy_from_slice(&1u16.to_le_bytes());
        img
    }

    fn set_fat12(img: &mut [u8], c: usize, v: u16) {
        for fat in [512, 1024] {
            let at = fat + c * 3 / 2;
            let w = u16::from_le_bytes([img[at], img[at + 1]]);
            let w = if c & 1 == 1 { (w & 0x000F) | (v << 4) } else { (w & 0xF000) | (v & 0xFFF) };
            img[at..at + 2].copy_from_slice(&w.to_le_bytes());
        }
    }

    fn short(img: &mut [u8], at: usize, name: &[u8; 11], attr: u8, cluster: u16, size: u32) {
        img[at..at + 11].copy_from_slice(name);
        img[at + 11] = attr;
        img[at + 26..at + 28].copy_from_slice(&cluster.to_le_bytes());
        img[at + 28..at + 32].copy_from_slice(&size.to_le_bytes());
    }

    const ROOT: usize = 3 * 512;
    const DATA: usize = 4 * 512; // cluster 2

    #[test]
    fn reads_short_names_chains_and_subdirectories() {
        let mut img = fat12();
        short(&mut img, ROOT, b"LOADER     ", 0x10, 2, 0);
        short(&mut img, ROOT + 32, b"README  TXT", 0x20, 3, 700);
        set_fat12(&mut img, 2, 0xFFF);
        set_fat12(&mut img, 3, 5); // README: clusters 3 -> 5
        set_fat12(&mut img, 5, 0xFFF);
        short(&mut img, DATA, b".          ", 0x10, 2, 0);
        short(&mut img, DATA + 32, b"..         ", 0x10, 0, 0);
        short(&mut img, DATA + 64, b"LOADER  CON", 0x20, 0, 0);
        img[DATA + 64 + 12] = 0x18; // lower-case base and extension
        for i in 0..700 {
            let at = if i < 512 { DATA + 512 + i } else { DATA + 3 * 512 + i - 512 };
            img[at] = (i % 251) as u8;
        }
        let mut fat = Fat::open(MemDevice::from_vec(img)).unwrap();
        assert_eq!(fat.fat_type, FatType::Fat12);
        let root = fat.root_dir().unwrap();
        assert_eq!(
            root.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["LOADER", "README.TXT"]
        );
        assert_eq!(fat.read_dir("/loader").unwrap()[0].name, "loader.con");
        assert_eq!(fat.read_file("/Loader/LOADER.CON", 10).unwrap(), b"");
        let data = fat.read_file("\\readme.txt", 1000).unwrap();
        assert_eq!(data, (0..700).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        assert_eq!(
            fat.read_file("/readme.txt", 699),
            Err(FatError::TooLarge { size: 700, limit: 699 })
        );
        assert_eq!(fat.read_file("/nope", 10), Err(FatError::NotFound));
        assert_eq!(fat.read_dir("/readme.txt"), Err(FatError::NotADirectory));
        // ".." from a subdirectory leads back to the root.
        assert_eq!(
            fat.lookup("/loader/../readme.txt").map(|e| e.size),
            Err(FatError::NotFound),
            "'..' is not listed"
        );
    }

    #[test]
    fn long_names_need_a_matching_checksum() {
        let mut img = fat12();
        let name11 = b"ARCH-L~1CON";
        let mut sum: u8 = 0;
        for b in name11 {
            sum = sum.rotate_right(1).wrapping_add(*b);
        }
        let long: Vec<u16> = "arch-linux.conf".encode_utf16().collect();
        // Two parts, stored last first: seq 0x42 (units 13..), then 0x01 (units 0..13).
        for (slot, seq, from) in [(0usize, 0x42u8, 13usize), (1, 0x01, 0)] {
            let at = ROOT + slot * 32;
            img[at] = seq;
            img[at + 11] = 0x0F;
            img[at + 13] = sum;
            let mut units = [0xFFFFu16; 13];
            for (i, u) in units.iter_mut().enumerate() {
                if from + i < long.len() {
                    *u = long[from + i];
                } else if from + i == long.len() {
                    *u = 0;
                }
            }
            for (i, off) in [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30].iter().enumerate() {
                img[at + off..at + off + 2].copy_from_slice(&units[i].to_le_bytes());
            }
        }
        short(&mut img, ROOT + 64, name11, 0x20, 0, 0);
        let mut fat = Fat::open(MemDevice::from_vec(img.clone())).unwrap();
        assert_eq!(fat.root_dir().unwrap()[0].name, "arch-linux.conf");
        // A wrong checksum falls back to the short name.
        img[ROOT + 13] ^= 1;
        img[ROOT + 32 + 13] ^= 1;
        let mut fat = Fat::open(MemDevice::from_vec(img)).unwrap();
        assert_eq!(fat.root_dir().unwrap()[0].name, "ARCH-L~1.CON");
    }

    #[test]
    fn hostile_volumes_are_errors() {
        let mut img = fat12();
        short(&mut img, ROOT, b"LOOP    BIN", 0x20, 2, 5000);
        set_fat12(&mut img, 2, 3);
        set_fat12(&mut img, 3, 2); // 2 -> 3 -> 2 ...
        let mut fat = Fat::open(MemDevice::from_vec(img.clone())).unwrap();
        assert!(matches!(fat.read_file("/loop.bin", 1 << 20), Err(FatError::BadChain(_))));
        // A chain that ends early.
        set_fat12(&mut img, 3, 0xFFF);
        let mut fat = Fat::open(MemDevice::from_vec(img.clone())).unwrap();
        assert!(matches!(fat.read_file("/loop.bin", 1 << 20), Err(FatError::BadChain(_))));
        // A cluster number past the volume.
        set_fat12(&mut img, 2, 0xF00);
        let mut fat = Fat::open(MemDevice::from_vec(img.clone())).unwrap();
        assert!(matches!(fat.read_file("/loop.bin", 1 << 20), Err(FatError::BadChain(0xF00))));
        // Boot sectors that describe nothing usable.
        for (at, v) in [(11usize, 100u8), (13, 3), (16, 0), (22, 0)] {
            let mut bad = fat12();
            bad[at] = v;
            if at == 11 {
                bad[12] = 0;
            }
            assert!(
                matches!(Fat::open(MemDevice::from_vec(bad)), Err(FatError::NotFat(_))),
                "byte {at}"
            );
        }
        let mut short_img = fat12();
        short_img.truncate(32 * 512);
        assert!(matches!(Fat::open(MemDevice::from_vec(short_img)), Err(FatError::NotFat(_))));
    }
}
