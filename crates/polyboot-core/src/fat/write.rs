//! A FAT16 volume opened for writes whose order the caller controls: polyboot's crash-safe
//! `update` of the boot partition (the host's transaction decides what is written when, and
//! makes it durable in between; this module only does what it is told, in as few device
//! writes as it says).
//!
//! FAT 1 is held in memory: [`Fat16Writer::set_entry`] changes only that copy, and
//! [`Fat16Writer::write_fat_copy`] writes it to one FAT on the device (the sectors that
//! differ). Every other write goes to the device at once. Nothing here flushes: durability
//! points are the caller's.
//!
//! The volume is checked before it is trusted: chains must stay inside the volume, end
//! properly and not loop; no cluster may belong to two files ([`Fat16Writer::reachable`]).

use alloc::vec;
use alloc::vec::Vec;

use super::dirent::{self, RawEntry, ENTRY_SIZE};
use super::geometry::{Geometry, BOOT_SECTOR_LEN, DIRTY};
use super::listing::{EntrySet, Listing};
use super::{FatError, FatType};
use crate::block::WriteAt;

/// FAT16 entry values.
pub const FAT16_FREE: u16 = 0;
pub const FAT16_BAD: u16 = 0xFFF7;
/// Values from this one up end a chain.
pub const FAT16_EOC_MIN: u16 = 0xFFF8;
/// The end-of-chain value written.
pub const FAT16_EOC: u16 = 0xFFFF;

/// A directory of the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// The fixed root directory area of FAT12/16.
    Root,
    Cluster(u32),
}

/// A directory slot to write: byte position on the volume, new content.
pub type SlotEdit = (u64, RawEntry);

/// What a tidy would repair: [`Fat16Writer::free_lost_clusters`], FAT 1 written to every
/// copy, [`Fat16Writer::clear_dirty`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Untidiness {
    /// Clusters allocated in FAT 1 that no file reaches.
    pub lost_clusters: usize,
    /// FAT copies (0-based, so 1 = FAT 2) that differ from FAT 1.
    pub differing_fats: Vec<u32>,
    /// The volume's dirty flag is set.
    pub dirty: bool,
}

impl Untidiness {
    pub fn is_tidy(&self) -> bool {
        self.lost_clusters == 0 && self.differing_fats.is_empty() && !self.dirty
    }
}

pub struct Fat16Writer<D> {
    dev: D,
    geometry: Geometry,
    /// FAT 1 as it will be written.
    fat: Vec<u8>,
}

fn inconsistent(what: &'static str, cluster: u32) -> FatError {
    FatError::Inconsistent { what, cluster }
}

impl<D: WriteAt> Fat16Writer<D> {
    /// Open the FAT16 volume that fills `dev` and read FAT 1.
    pub fn open(mut dev: D) -> Result<Fat16Writer<D>, FatError> {
        let mut bs = [0u8; BOOT_SECTOR_LEN];
        dev.read_at(0, &mut bs)?;
        let geometry = Geometry::parse(&bs)?;
        if geometry.fat_type != FatType::Fat16 {
            return Err(FatError::NotFat("not FAT16"));
        }
        if geometry.volume_bytes() > dev.size() {
            return Err(FatError::NotFat("the volume is larger than its partition"));
        }
        let mut fat = vec![0u8; geometry.fat_bytes() as usize];
        dev.read_at(geometry.fat_offset(0), &mut fat)?;
        Ok(Fat16Writer { dev, geometry, fat })
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub fn device(&mut self) -> &mut D {
        &mut self.dev
    }

    /// FAT 1's entry for cluster `c` (as held in memory).
    pub fn entry(&self, c: u32) -> u16 {
        let i = 2 * c as usize;
        u16::from_le_bytes([self.fat[i], self.fat[i + 1]])
    }

    /// Change FAT 1 in memory; [`Fat16Writer::write_fat_copy`] writes it.
    pub fn set_entry(&mut self, c: u32, v: u16) {
        let i = 2 * c as usize;
        self.fat[i..i + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn data_clusters(&self) -> core::ops::RangeInclusive<u32> {
        2..=self.geometry.max_cluster()
    }

    /// The clusters of the chain from `first`, checked: inside the volume, no loop, no free or
    /// bad cluster on the way, a proper end.
    pub fn chain(&self, first: u32) -> Result<Vec<u32>, FatError> {
        let mut chain = Vec::new();
        let mut c = first;
        loop {
            if !self.data_clusters().contains(&c) {
                return Err(inconsistent("a cluster chain leaves the volume", c));
            }
            if chain.len() >= self.geometry.max_cluster() as usize {
                return Err(inconsistent("a cluster chain loops", c));
            }
            chain.push(c);
            match self.entry(c) {
                FAT16_FREE => {
                    return Err(inconsistent("a cluster chain runs into a free cluster", c))
                }
                FAT16_BAD => {
                    return Err(inconsistent("a cluster chain runs into a bad cluster", c))
                }
                n if n >= FAT16_EOC_MIN => return Ok(chain),
                n => c = u32::from(n),
            }
        }
    }

    /// The first `n` free clusters (fewer when the volume has fewer).
    pub fn free_clusters(&self, n: usize) -> Vec<u32> {
        self.data_clusters().filter(|&c| self.entry(c) == FAT16_FREE).take(n).collect()
    }

    /// Link `clusters` into one chain in FAT 1 (in memory).
    pub fn link_chain(&mut self, clusters: &[u32]) {
        for (i, &c) in clusters.iter().enumerate() {
            let next = clusters.get(i + 1).map_or(FAT16_EOC, |&n| n as u16);
            self.set_entry(c, next);
        }
    }

    /// Mark `clusters` free in FAT 1 (in memory).
    pub fn free_chain(&mut self, clusters: &[u32]) {
        for &c in clusters {
            self.set_entry(c, FAT16_FREE);
        }
    }

    /// Write `data` into `clusters`, in order, one device write per cluster, the last one
    /// padded with zeros.
    pub fn write_clusters(&mut self, clusters: &[u32], data: &[u8]) -> Result<(), FatError> {
        let cluster_bytes = self.geometry.cluster_bytes() as usize;
        if clusters.len() * cluster_bytes < data.len() {
            return Err(FatError::NoSpace);
        }
        let mut buf = vec![0u8; cluster_bytes];
        for (chunk, &c) in data.chunks(cluster_bytes).zip(clusters) {
            buf.fill(0);
            buf[..chunk.len()].copy_from_slice(chunk);
            self.dev.write_at(self.geometry.cluster_offset(c), &buf)?;
        }
        Ok(())
    }

    /// The slots of directory `dir`.
    pub fn list(&mut self, dir: Dir) -> Result<Listing, FatError> {
        let areas: Vec<(u64, u64)> = match dir {
            Dir::Root => vec![(self.geometry.root_dir_offset(), self.geometry.root_dir_bytes())],
            Dir::Cluster(first) => {
                let bytes = self.geometry.cluster_bytes();
                self.chain(first)?
                    .into_iter()
                    .map(|c| (self.geometry.cluster_offset(c), bytes))
                    .collect()
            }
        };
        let mut slots = Vec::new();
        for (at, len) in areas {
            let mut buf = vec![0u8; len as usize];
            self.dev.read_at(at, &mut buf)?;
            slots.extend(
                dirent::slots(&buf).enumerate().map(|(i, e)| (at + (i * ENTRY_SIZE) as u64, *e)),
            );
        }
        Ok(Listing::new(slots))
    }

    /// The subdirectory `name` of `dir`; `None` when there is none (or it is a file).
    pub fn subdir(&mut self, dir: Dir, name: &str) -> Result<Option<Dir>, FatError> {
        let listing = self.list(dir)?;
        let Some(set) = listing.find(name)?.filter(|s| listing.is_dir(s)) else {
            return Ok(None);
        };
        let first = listing.first_cluster(set);
        if first < 2 {
            return Err(inconsistent("a directory has no cluster", first));
        }
        Ok(Some(Dir::Cluster(first)))
    }

    /// The contents of the file `set` of `listing`.
    pub fn read_file(&mut self, listing: &Listing, set: &EntrySet) -> Result<Vec<u8>, FatError> {
        let size = u64::from(listing.size(set));
        if size == 0 {
            return Ok(Vec::new());
        }
        let first = listing.first_cluster(set);
        let chain = self.chain(first)?;
        let cluster_bytes = self.geometry.cluster_bytes();
        if (chain.len() as u64) * cluster_bytes < size {
            return Err(inconsistent("a file is shorter than its size says", first));
        }
        let mut data = vec![0u8; size as usize];
        for (chunk, &c) in data.chunks_mut(cluster_bytes as usize).zip(&chain) {
            self.dev.read_at(self.geometry.cluster_offset(c), chunk)?;
        }
        Ok(data)
    }

    /// The start of the sector holding volume byte `pos`.
    pub fn sector_of(&self, pos: u64) -> u64 {
        pos - pos % self.geometry.sector_bytes()
    }

    /// Apply `edits`, which must all lie in one sector, with ONE device write of that sector.
    pub fn write_slots(&mut self, edits: &[SlotEdit]) -> Result<(), FatError> {
        let Some(&(first, _)) = edits.first() else { return Ok(()) };
        let sector = self.sector_of(first);
        if edits.iter().any(|(pos, _)| self.sector_of(*pos) != sector) {
            return Err(FatError::EditsSpanSectors);
        }
        let mut buf = vec![0u8; self.geometry.sector_bytes() as usize];
        self.dev.read_at(sector, &mut buf)?;
        for (pos, e) in edits {
            let o = (pos - sector) as usize;
            buf[o..o + ENTRY_SIZE].copy_from_slice(e);
        }
        self.dev.write_at(sector, &buf)?;
        Ok(())
    }

    /// Write the in-memory FAT 1 over FAT `copy` (0 = FAT 1): only the sectors that differ.
    pub fn write_fat_copy(&mut self, copy: u32) -> Result<(), FatError> {
        let at = self.geometry.fat_offset(copy);
        let mut disk = vec![0u8; self.fat.len()];
        self.dev.read_at(at, &mut disk)?;
        let bps = self.geometry.sector_bytes() as usize;
        for (i, (want, have)) in self.fat.chunks(bps).zip(disk.chunks(bps)).enumerate() {
            if want != have {
                self.dev.write_at(at + (i * bps) as u64, want)?;
            }
        }
        Ok(())
    }

    /// Clusters reachable from the directory tree (indexed by cluster number); an error when
    /// the tree is inconsistent (a chain into free space, a loop, a cluster used twice).
    pub fn reachable(&mut self) -> Result<Vec<bool>, FatError> {
        let mut used = vec![false; self.geometry.max_cluster() as usize + 1];
        let mut dirs = vec![Dir::Root];
        while let Some(dir) = dirs.pop() {
            let listing = self.list(dir)?;
            for set in &listing.sets {
                let first = listing.first_cluster(set);
                if first == 0 {
                    continue;
                }
                for c in self.chain(first)? {
                    if used[c as usize] {
                        return Err(inconsistent("a cluster belongs to two files", c));
                    }
                    used[c as usize] = true;
                }
                if listing.is_dir(set) {
                    dirs.push(Dir::Cluster(first));
                }
            }
        }
        Ok(used)
    }

    /// Clusters allocated in FAT 1 (neither free nor bad) that `used` does not mark.
    fn lost_clusters<'a>(&'a self, used: &'a [bool]) -> impl Iterator<Item = u32> + 'a {
        self.data_clusters()
            .filter(move |&c| !used[c as usize] && !matches!(self.entry(c), FAT16_FREE | FAT16_BAD))
    }

    /// What a tidy would repair; an error when the volume is inconsistent beyond that.
    pub fn untidiness(&mut self) -> Result<Untidiness, FatError> {
        let used = self.reachable()?;
        let lost_clusters = self.lost_clusters(&used).count();
        let mut differing_fats = Vec::new();
        let mut copy = vec![0u8; self.fat.len()];
        for i in 1..self.geometry.fat_count {
            self.dev.read_at(self.geometry.fat_offset(i), &mut copy)?;
            if copy != self.fat {
                differing_fats.push(i);
            }
        }
        Ok(Untidiness { lost_clusters, differing_fats, dirty: self.dirty()? })
    }

    /// Free, in FAT 1 in memory, the clusters no file reaches.
    pub fn free_lost_clusters(&mut self) -> Result<(), FatError> {
        let used = self.reachable()?;
        let lost: Vec<u32> = self.lost_clusters(&used).collect();
        self.free_chain(&lost);
        Ok(())
    }

    pub fn dirty(&mut self) -> Result<bool, FatError> {
        let mut b = [0u8; 1];
        self.dev.read_at(self.geometry.dirty_flags_offset(), &mut b)?;
        Ok(b[0] & DIRTY != 0)
    }

    /// Clear the dirty flag with one write of the boot sector.
    pub fn clear_dirty(&mut self) -> Result<(), FatError> {
        let mut sector = vec![0u8; self.geometry.sector_bytes() as usize];
        self.dev.read_at(0, &mut sector)?;
        sector[self.geometry.dirty_flags_offset() as usize] &= !DIRTY;
        self.dev.write_at(0, &sector)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{IoError, MemDevice, ReadAt};
    use crate::fat::dirent::{file_entry, lfn_entries, DosTimestamp, ATTR_DIRECTORY};
    use crate::fat::geometry::*;
    use crate::fat::read::Fat;

    /// A FAT16 volume by hand: 512-byte sectors, 1 sector per cluster, 1 reserved sector,
    /// 2 FATs of 17 sectors, 32 root entries (2 sectors), 4200 data clusters.
    fn fat16() -> MemDevice {
        let total = 1 + 2 * 17 + 2 + 4200u32;
        let mut dev = MemDevice::new(total as usize * 512);
        let bs = &mut dev.data;
        bs[BYTES_PER_SECTOR..BYTES_PER_SECTOR + 2].copy_from_slice(&512u16.to_le_bytes());
        bs[SECTORS_PER_CLUSTER] = 1;
        bs[RESERVED_SECTORS] = 1;
        bs[FAT_COUNT] = 2;
        bs[ROOT_ENTRIES..ROOT_ENTRIES + 2].copy_from_slice(&32u16.to_le_bytes());
        bs[TOTAL_SECTORS_16..TOTAL_SECTORS_16 + 2].copy_from_slice(&(total as u16).to_le_bytes());
        bs[FAT_SECTORS_16..FAT_SECTORS_16 + 2].copy_from_slice(&17u16.to_le_bytes());
        for fat in [512, 512 + 17 * 512] {
            bs[fat..fat + 4].copy_from_slice(&[0xF8, 0xFF, 0xFF, 0xFF]);
        }
        dev
    }

    /// Write a file the way `update` does: data, chain in both FATs, then its entries.
    fn add_file(
        w: &mut Fat16Writer<&mut MemDevice>,
        dir: Dir,
        name: &str,
        short: &[u8; 11],
        data: &[u8],
    ) {
        let n = data.len().div_ceil(w.geometry().cluster_bytes() as usize);
        let clusters = w.free_clusters(n);
        assert_eq!(clusters.len(), n);
        w.write_clusters(&clusters, data).unwrap();
        w.link_chain(&clusters);
        w.write_fat_copy(0).unwrap();
        w.write_fat_copy(1).unwrap();
        let listing = w.list(dir).unwrap();
        let mut entries = lfn_entries(name, short);
        entries.push(file_entry(
            short,
            clusters.first().copied().unwrap_or(0),
            data.len() as u32,
            DosTimestamp::EPOCH,
        ));
        let at = listing.free_run_in_sector(listing.slots[0].0, 512, entries.len(), &[]).unwrap();
        let edits: Vec<SlotEdit> =
            entries.into_iter().enumerate().map(|(k, e)| (listing.slots[at + k].0, e)).collect();
        w.write_slots(&edits).unwrap();
    }

    #[test]
    fn files_written_read_back_here_and_through_the_reader() {
        let mut dev = fat16();
        let big: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        {
            let mut w = Fat16Writer::open(&mut dev).unwrap();
            assert_eq!(w.geometry().cluster_count, 4200);
            // A subdirectory: one cluster holding "." and "..".
            let c = w.free_clusters(1)[0];
            let mut dot = file_entry(b".          ", c, 0, DosTimestamp::EPOCH);
            dot[dirent::ATTR] = ATTR_DIRECTORY;
            let mut dotdot = file_entry(b"..         ", 0, 0, DosTimestamp::EPOCH);
            dotdot[dirent::ATTR] = ATTR_DIRECTORY;
            let mut cluster = dot.to_vec();
            cluster.extend_from_slice(&dotdot);
            w.write_clusters(&[c], &cluster).unwrap();
            w.link_chain(&[c]);
            let mut sub = file_entry(b"POLYBOOT   ", c, 0, DosTimestamp::EPOCH);
            sub[dirent::ATTR] = ATTR_DIRECTORY;
            w.write_fat_copy(0).unwrap();
            w.write_fat_copy(1).unwrap();
            let root = w.list(Dir::Root).unwrap();
            w.write_slots(&[(root.slots[0].0, sub)]).unwrap();
            let polyboot = w.subdir(Dir::Root, "polyboot").unwrap().unwrap();
            assert_eq!(polyboot, Dir::Cluster(c));
            add_file(&mut w, polyboot, "stamp.json", b"STAMP~1 JSO", b"{}");
            add_file(&mut w, Dir::Root, "a long file name.bin", b"ALONGF~1BIN", &big);
            assert_eq!(w.subdir(Dir::Root, "nope").unwrap(), None);
            let listing = w.list(Dir::Root).unwrap();
            let set = listing.find("A LONG FILE NAME.BIN").unwrap().unwrap();
            assert_eq!(w.read_file(&listing, set).unwrap(), big);
            assert_eq!(w.chain(listing.first_cluster(set)).unwrap().len(), 6);
            assert!(w.untidiness().unwrap().is_tidy());
        }
        let mut fat = Fat::open(&mut dev).unwrap();
        assert_eq!(fat.read_file("/polyboot/stamp.json", 100).unwrap(), b"{}");
        assert_eq!(fat.read_file("/a long file name.bin", 1 << 20).unwrap(), big);
    }

    #[test]
    fn untidy_volumes_are_found_and_tidied() {
        let mut dev = fat16();
        let mut w = Fat16Writer::open(&mut dev).unwrap();
        add_file(&mut w, Dir::Root, "keep.txt", b"KEEP    TXT", b"keep");
        // Clusters allocated to no file, in FAT 1 only; and the dirty flag.
        w.link_chain(&[40, 41]);
        w.write_fat_copy(0).unwrap();
        w.device().data[FAT16_DIRTY_FLAGS] |= DIRTY;
        let mut w = Fat16Writer::open(&mut dev).unwrap();
        assert_eq!(
            w.untidiness().unwrap(),
            Untidiness { lost_clusters: 2, differing_fats: vec![1], dirty: true }
        );
        w.free_lost_clusters().unwrap();
        w.write_fat_copy(0).unwrap();
        w.write_fat_copy(1).unwrap();
        w.clear_dirty().unwrap();
        assert!(w.untidiness().unwrap().is_tidy());
        let listing = w.list(Dir::Root).unwrap();
        assert_eq!(w.read_file(&listing, &listing.sets[0]).unwrap(), b"keep");
    }

    #[test]
    fn broken_chains_and_stray_edits_are_errors() {
        let mut dev = fat16();
        let mut w = Fat16Writer::open(&mut dev).unwrap();
        add_file(&mut w, Dir::Root, "a.bin", b"A       BIN", &[7u8; 1500]);
        let first = w.free_clusters(1)[0] - 3;
        let loops = |w: &Fat16Writer<&mut MemDevice>| {
            matches!(w.chain(first), Err(FatError::Inconsistent { .. }))
        };
        w.set_entry(first + 2, first as u16);
        assert!(loops(&w), "a loop");
        w.set_entry(first + 2, FAT16_FREE);
        assert!(loops(&w), "into a free cluster");
        w.set_entry(first + 2, 9000);
        assert!(loops(&w), "out of the volume");
        w.set_entry(first + 2, FAT16_EOC);
        assert_eq!(w.chain(first).unwrap(), [first, first + 1, first + 2]);
        // A second file sharing the first one's clusters.
        let root = w.list(Dir::Root).unwrap();
        let twin = file_entry(b"B       BIN", first + 1, 1000, DosTimestamp::EPOCH);
        w.write_slots(&[(root.slots[root.end].0, twin)]).unwrap();
        assert!(matches!(
            w.reachable(),
            Err(FatError::Inconsistent { what: "a cluster belongs to two files", .. })
        ));
        assert_eq!(
            w.write_slots(&[(root.slots[0].0, twin), (root.slots[16].0, twin)]),
            Err(FatError::EditsSpanSectors)
        );
        // Not FAT16, or larger than its device: refused.
        let mut small = fat16();
        small.data.truncate(100 * 512);
        assert!(matches!(Fat16Writer::open(&mut small).err(), Some(FatError::NotFat(_))));
        struct Failing;
        impl ReadAt for Failing {
            fn size(&self) -> u64 {
                1 << 20
            }
            fn read_at(&mut self, _: u64, _: &mut [u8]) -> Result<(), IoError> {
                Err(IoError::Device("gone".into()))
            }
        }
        impl WriteAt for Failing {
            fn write_at(&mut self, _: u64, _: &[u8]) -> Result<(), IoError> {
                Err(IoError::ReadOnly)
            }
        }
        assert!(matches!(Fat16Writer::open(Failing).err(), Some(FatError::Io(_))));
    }
}
