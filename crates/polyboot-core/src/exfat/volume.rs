//! Opening a volume and everything read-only: FAT chains, directory scanning, path lookup,
//! file reads and extent maps.

use super::bitmap::AllocBitmap;
use super::boot::{self, BootSector, FAT_END_OF_CHAIN, FIRST_CLUSTER, VOLUME_FLAG_DIRTY};
use super::dirent::{
    parse_file_set, FileSet, RawEntry, BENIGN, ENTRY_SIZE, IN_USE, MAX_DIRECTORY_BYTES, SECONDARY,
    TYPE_ALLOCATION_BITMAP, TYPE_END_OF_DIRECTORY, TYPE_FILE, TYPE_UPCASE_TABLE, TYPE_VOLUME_GUID,
    TYPE_VOLUME_LABEL,
};
use super::name::{decode_utf16_lossy, split_path};
use super::time::Timestamp;
use super::upcase::{
    name_hash_upcased, table_checksum_add, UpcaseDecoder, UpcaseTable, MAX_TABLE_BYTES,
};
use super::{attributes, corrupt, Error, MAX_LABEL_UNITS};
use crate::block::ReadAt;
use crate::bytes::{self, Fields};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// A run of file bytes stored contiguously on the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extent {
    /// Offset within the file.
    pub file_offset: u64,
    /// Byte offset within the volume (partition).
    pub device_offset: u64,
    pub len: u64,
}

/// A file or directory as listed in its parent directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The stored name (unpaired surrogates, which exFAT allows, shown as U+FFFD).
    pub name: String,
    /// See [`attributes`](super::attributes).
    pub attributes: u16,
    /// DataLength: the file size in bytes (for directories, the allocated size).
    pub size: u64,
    /// Bytes from the start that hold written data; the rest up to `size` reads as zeros.
    pub valid_data_length: u64,
    pub first_cluster: u32,
    /// The data occupies consecutive clusters without a FAT chain (NoFatChain).
    pub contiguous: bool,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub accessed: Timestamp,
}

impl DirEntry {
    pub fn is_dir(&self) -> bool {
        self.attributes & attributes::DIRECTORY != 0
    }
}

/// What `stat` returns; the same fields as a directory listing entry.
pub type Metadata = DirEntry;

/// A directory listing plus the damaged entry sets that were skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirListing {
    pub entries: Vec<DirEntry>,
    pub corrupt: Vec<CorruptEntrySet>,
}

/// A damaged entry set found while listing a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptEntrySet {
    /// Index of its first 32-byte entry within the directory.
    pub index: u64,
    pub reason: &'static str,
}

/// Where a directory's entries live.
#[derive(Debug, Clone)]
pub(crate) struct DirLoc {
    pub first_cluster: u32,
    pub no_fat_chain: bool,
    /// `None` for the root directory, whose size is the length of its FAT chain.
    pub size: Option<u64>,
    /// The directory's own entry set in its parent (None for the root).
    pub owner: Option<FileSet>,
}

impl DirLoc {
    pub fn of(set: &FileSet) -> DirLoc {
        DirLoc {
            first_cluster: set.stream.first_cluster,
            no_fat_chain: set.stream.no_fat_chain,
            size: Some(set.stream.data_length),
            owner: Some(set.clone()),
        }
    }
}

/// What a path names.
pub(crate) enum Node {
    Root,
    Entry(FileSet),
}

/// One step of a directory scan.
#[derive(Debug)]
pub(crate) enum DirItem {
    File(FileSet),
    /// A deleted or never-used entry.
    Unused {
        index: u64,
    },
    /// The end-of-directory marker: this entry and all after it are free.
    End {
        index: u64,
    },
    /// A valid entry (set) we do not interpret: bitmap, up-case, label, GUID, vendor...
    Other,
    /// A damaged entry set (or stray entry) starting at `index`, skipped.
    Corrupt {
        index: u64,
        reason: &'static str,
    },
}

/// Reads a directory's 32-byte entries through a one-block buffer.
pub(crate) struct DirCursor {
    extents: Vec<Extent>,
    len: u64,
    block: [u8; 512],
    block_start: u64,
    block_len: usize,
}

impl DirCursor {
    pub fn new(extents: Vec<Extent>) -> DirCursor {
        let len = extents.iter().map(|e| e.len).sum();
        DirCursor { extents, len, block: [0; 512], block_start: 0, block_len: 0 }
    }

    pub fn entry_count(&self) -> u64 {
        self.len / ENTRY_SIZE
    }

    fn extent_index(&self, pos: u64) -> usize {
        self.extents.partition_point(|e| e.file_offset + e.len <= pos)
    }

    pub fn device_offset(&self, index: u64) -> Option<u64> {
        let pos = index.checked_mul(ENTRY_SIZE)?;
        if pos.checked_add(ENTRY_SIZE)? > self.len {
            return None;
        }
        let e = self.extents.get(self.extent_index(pos))?;
        Some(e.device_offset + (pos - e.file_offset))
    }

    pub fn read_entry<D: ReadAt + ?Sized>(
        &mut self,
        dev: &mut D,
        index: u64,
    ) -> Result<Option<RawEntry>, Error> {
        let Some(pos) = index.checked_mul(ENTRY_SIZE) else {
            return Ok(None);
        };
        if pos.checked_add(ENTRY_SIZE).is_none_or(|end| end > self.len) {
            return Ok(None);
        }
        let block_start = pos & !511;
        if self.block_len == 0 || self.block_start != block_start {
            self.block_len = 0;
            let Some(e) = self.extents.get(self.extent_index(block_start)) else {
                return Ok(None);
            };
            let n = (e.file_offset + e.len - block_start).min(512) as usize;
            dev.read_at(e.device_offset + (block_start - e.file_offset), &mut self.block[..n])?;
            self.block_start = block_start;
            self.block_len = n;
        }
        let at = (pos - block_start) as usize;
        if at + 32 > self.block_len {
            // Only with a hostile size that is not a multiple of the entry size.
            return Ok(None);
        }
        let mut entry = [0u8; 32];
        entry.copy_from_slice(&self.block[at..at + 32]);
        Ok(Some(entry))
    }
}

/// Walks a directory entry set by entry set.
pub(crate) struct DirScanner {
    pub cursor: DirCursor,
    next_index: u64,
    finished: bool,
}

impl DirScanner {
    pub fn new(cursor: DirCursor) -> DirScanner {
        DirScanner { cursor, next_index: 0, finished: false }
    }

    pub fn next<D: ReadAt + ?Sized>(
        &mut self,
        dev: &mut D,
        upcase: &UpcaseTable,
        boot: &BootSector,
    ) -> Result<Option<DirItem>, Error> {
        if self.finished {
            return Ok(None);
        }
        let index = self.next_index;
        let Some(entry) = self.cursor.read_entry(dev, index)? else {
            self.finished = true;
            return Ok(None);
        };
        let entry_type = entry[0];
        if entry_type == TYPE_END_OF_DIRECTORY {
            self.finished = true;
            return Ok(Some(DirItem::End { index }));
        }
        self.next_index += 1;
        if entry_type & IN_USE == 0 {
            return Ok(Some(DirItem::Unused { index }));
        }
        if entry_type & SECONDARY != 0 {
            return Ok(Some(DirItem::Corrupt {
                index,
                reason: "secondary entry without a primary entry",
            }));
        }
        match entry_type {
            TYPE_FILE => self.file_set(dev, upcase, boot, index, entry),
            // Critical primaries without secondary entries.
            TYPE_ALLOCATION_BITMAP | TYPE_UPCASE_TABLE | TYPE_VOLUME_LABEL => {
                Ok(Some(DirItem::Other))
            }
            _ if entry_type & BENIGN != 0 => {
                // Benign primaries (Volume GUID, TexFAT padding, ...) have a SecondaryCount.
                let secondaries = self.count_secondaries(dev, index + 1, entry[1])?;
                self.next_index += secondaries;
                Ok(Some(DirItem::Other))
            }
            // Unknown critical primary: keep it, but we cannot tell its extent.
            _ => Ok(Some(DirItem::Other)),
        }
    }

    /// How many of the (up to `max`) entries from `from` are in-use secondary entries.
    fn count_secondaries<D: ReadAt + ?Sized>(
        &mut self,
        dev: &mut D,
        from: u64,
        max: u8,
    ) -> Result<u64, Error> {
        let mut n = 0;
        while n < u64::from(max) {
            match self.cursor.read_entry(dev, from + n)? {
                Some(e) if e[0] & (IN_USE | SECONDARY) == IN_USE | SECONDARY => n += 1,
                _ => break,
            }
        }
        Ok(n)
    }

    fn file_set<D: ReadAt + ?Sized>(
        &mut self,
        dev: &mut D,
        upcase: &UpcaseTable,
        boot: &BootSector,
        index: u64,
        primary: RawEntry,
    ) -> Result<Option<DirItem>, Error> {
        let secondary_count = primary[1];
        if secondary_count < 2 {
            return Ok(Some(DirItem::Corrupt {
                index,
                reason: "file entry with fewer than 2 secondary entries",
            }));
        }
        let present = self.count_secondaries(dev, index + 1, secondary_count)?;
        if present < u64::from(secondary_count) {
            // A truncated set: skip what belongs to it and resynchronise after.
            self.next_index += present;
            return Ok(Some(DirItem::Corrupt {
                index,
                reason: "file entry set is missing secondary entries",
            }));
        }
        let count = 1 + u64::from(secondary_count);
        let mut entries = Vec::with_capacity(count as usize);
        let mut offsets = Vec::with_capacity(count as usize);
        for i in index..index + count {
            let Some(e) = self.cursor.read_entry(dev, i)? else {
                return Err(corrupt!("directory entry {i} vanished while reading"));
            };
            let Some(offset) = self.cursor.device_offset(i) else {
                return Err(corrupt!("directory entry {i} has no location"));
            };
            entries.push(e);
            offsets.push(offset);
        }
        self.next_index = index + count;
        match parse_file_set(&entries, upcase, boot.cluster_count, boot.cluster_shift()) {
            Ok(parsed) => Ok(Some(DirItem::File(FileSet {
                index,
                entries,
                offsets,
                name: parsed.name,
                name_hash: parsed.name_hash,
                attributes: parsed.attributes,
                stream: parsed.stream,
            }))),
            Err(reason) => Ok(Some(DirItem::Corrupt { index, reason })),
        }
    }
}

/// One cached 512-byte block of the FAT; chains are mostly sequential.
#[derive(Debug)]
pub(crate) struct FatCache {
    pub block_offset: u64,
    pub data: [u8; 512],
    pub valid: bool,
}

/// An exFAT volume on a device.
pub struct ExFat<D> {
    pub(crate) dev: D,
    pub(crate) boot: BootSector,
    pub(crate) upcase: UpcaseTable,
    label: String,
    volume_guid: Option<[u8; 16]>,
    /// The part of the allocation bitmap that covers `cluster_count` bits.
    pub(crate) bitmap_extents: Vec<Extent>,
    pub(crate) fat_cache: FatCache,
    /// The writer's in-memory copy of the allocation bitmap, loaded on the first change.
    pub(crate) alloc: Option<AllocBitmap>,
    /// The main boot region was damaged and the backup was used; writing is refused.
    pub(crate) opened_from_backup: bool,
    /// VolumeDirty was already set when opened; we then never clear it.
    pub(crate) dirty_at_open: bool,
}

impl<D> ExFat<D> {
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn volume_guid(&self) -> Option<[u8; 16]> {
        self.volume_guid
    }

    pub fn volume_serial(&self) -> u32 {
        self.boot.volume_serial
    }

    pub fn bytes_per_sector(&self) -> u32 {
        self.boot.bytes_per_sector() as u32
    }

    pub fn cluster_size(&self) -> u32 {
        self.boot.cluster_size() as u32
    }

    /// Total clusters in the cluster heap.
    pub fn cluster_count(&self) -> u32 {
        self.boot.cluster_count
    }

    /// Byte offset of cluster 2 within the volume.
    pub fn cluster_heap_offset(&self) -> u64 {
        self.boot.heap_start()
    }

    /// VolumeDirty is set: the volume was not cleanly unmounted (or we are mid-update).
    pub fn is_dirty(&self) -> bool {
        self.boot.volume_flags & VOLUME_FLAG_DIRTY != 0
    }

    /// The volume was opened from the backup boot region because the main one is damaged.
    pub fn opened_from_backup(&self) -> bool {
        self.opened_from_backup
    }

    pub fn device(&self) -> &D {
        &self.dev
    }

    pub fn into_inner(self) -> D {
        self.dev
    }

    pub(crate) fn valid_cluster(&self, cluster: u32) -> bool {
        cluster >= FIRST_CLUSTER && u64::from(cluster) <= u64::from(self.boot.cluster_count) + 1
    }

    pub(crate) fn cluster_offset(&self, cluster: u32) -> u64 {
        self.boot.heap_start() + (u64::from(cluster - FIRST_CLUSTER) << self.boot.cluster_shift())
    }

    pub(crate) fn root_loc(&self) -> DirLoc {
        DirLoc {
            first_cluster: self.boot.root_cluster,
            no_fat_chain: false,
            size: None,
            owner: None,
        }
    }

    /// Extents for cluster runs, cut at `len` bytes.
    pub(crate) fn runs_to_extents(&self, runs: &[(u32, u32)], len: u64) -> Vec<Extent> {
        let shift = self.boot.cluster_shift();
        let mut extents: Vec<Extent> = Vec::with_capacity(runs.len());
        let mut file_offset = 0u64;
        for &(first, count) in runs {
            if file_offset >= len {
                break;
            }
            let run_len = (u64::from(count) << shift).min(len - file_offset);
            let device_offset = self.cluster_offset(first);
            match extents.last_mut() {
                Some(last) if last.device_offset + last.len == device_offset => last.len += run_len,
                _ => extents.push(Extent { file_offset, device_offset, len: run_len }),
            }
            file_offset += run_len;
        }
        extents
    }

    fn dir_entry(&self, set: &FileSet) -> DirEntry {
        let (created, modified, accessed) = set.times();
        DirEntry {
            name: decode_utf16_lossy(&set.name),
            attributes: set.attributes,
            size: set.stream.data_length,
            valid_data_length: set.stream.valid_data_length,
            first_cluster: set.stream.first_cluster,
            contiguous: set.stream.no_fat_chain,
            created,
            modified,
            accessed,
        }
    }
}

impl<D: ReadAt> ExFat<D> {
    /// Open the exFAT volume that fills `dev` (or its first part): verify the boot region
    /// (falling back to the backup), then load the up-case table and locate the bitmap.
    pub fn open(mut dev: D) -> Result<Self, Error> {
        let (boot, opened_from_backup) = boot::read_boot_regions(&mut dev)?;
        let dirty_at_open = boot.volume_flags & VOLUME_FLAG_DIRTY != 0;
        let mut fs = ExFat {
            dev,
            boot,
            upcase: UpcaseDecoder::default().finish(),
            label: String::new(),
            volume_guid: None,
            bitmap_extents: Vec::new(),
            fat_cache: FatCache { block_offset: 0, data: [0; 512], valid: false },
            alloc: None,
            opened_from_backup,
            dirty_at_open,
        };
        fs.load_root_metadata()?;
        Ok(fs)
    }

    /// Find the allocation bitmap, up-case table, label and GUID entries in the root directory.
    fn load_root_metadata(&mut self) -> Result<(), Error> {
        let root = self.root_loc();
        let extents = self.dir_extents(&root)?;
        let mut cursor = DirCursor::new(extents);
        let active_fat = self.boot.active_fat_index();
        let mut bitmap = None;
        let mut upcase = None;
        let mut index = 0;
        while let Some(e) = cursor.read_entry(&mut self.dev, index)? {
            index += 1;
            match e[0] {
                TYPE_END_OF_DIRECTORY => break,
                TYPE_ALLOCATION_BITMAP if bitmap.is_none() && e[1] & 1 == active_fat => {
                    bitmap = Some((e.le32::<20>(), e.le64::<24>()));
                }
                TYPE_UPCASE_TABLE if upcase.is_none() => {
                    upcase = Some((e.le32::<20>(), e.le64::<24>(), e.le32::<4>()))
                }
                TYPE_VOLUME_LABEL => {
                    // A label longer than allowed is cut rather than making the volume unreadable.
                    let count = usize::from(e[1]).min(MAX_LABEL_UNITS);
                    let units: Vec<u16> = bytes::utf16le_units(&e[2..]).take(count).collect();
                    self.label = decode_utf16_lossy(&units);
                }
                TYPE_VOLUME_GUID if super::dirent::set_checksum(&[e]) == e.le16::<2>() => {
                    let mut guid = [0u8; 16];
                    guid.copy_from_slice(&e[6..22]);
                    self.volume_guid = Some(guid);
                }
                _ => {}
            }
        }

        let (bitmap_cluster, bitmap_len) =
            bitmap.ok_or_else(|| corrupt!("allocation bitmap entry missing"))?;
        let needed = u64::from(self.boot.cluster_count).div_ceil(8);
        if bitmap_len < needed {
            return Err(corrupt!(
                "allocation bitmap too short ({bitmap_len} bytes, need {needed})"
            ));
        }
        let runs = self.cluster_runs(bitmap_cluster, false, Some(needed))?;
        self.bitmap_extents = self.runs_to_extents(&runs, needed);

        let (table_cluster, table_len, table_checksum) =
            upcase.ok_or_else(|| corrupt!("up-case table entry missing"))?;
        if table_len == 0 || table_len > MAX_TABLE_BYTES || table_len % 2 != 0 {
            return Err(corrupt!("up-case table size {table_len} invalid"));
        }
        let runs = self.cluster_runs(table_cluster, false, Some(table_len))?;
        let extents = self.runs_to_extents(&runs, table_len);
        let mut decoder = UpcaseDecoder::default();
        let mut sum = 0u32;
        let mut chunk = [0u8; 512];
        let mut pending_low_byte: Option<u8> = None;
        for e in &extents {
            let mut done = 0;
            while done < e.len {
                let n = (e.len - done).min(512) as usize;
                self.dev.read_at(e.device_offset + done, &mut chunk[..n])?;
                sum = table_checksum_add(sum, &chunk[..n]);
                for &byte in &chunk[..n] {
                    match pending_low_byte.take() {
                        Some(low) => decoder.push(u16::from_le_bytes([low, byte])),
                        None => pending_low_byte = Some(byte),
                    }
                }
                done += n as u64;
            }
        }
        if sum != table_checksum {
            return Err(corrupt!("up-case table checksum mismatch"));
        }
        self.upcase = decoder.finish();
        Ok(())
    }

    /// Number of clusters marked free in the allocation bitmap.
    pub fn free_clusters(&mut self) -> Result<u32, Error> {
        if let Some(alloc) = &self.alloc {
            return Ok(alloc.free_count());
        }
        let mut bits_left = u64::from(self.boot.cluster_count);
        let mut used = 0u64;
        let mut chunk = [0u8; 512];
        for i in 0..self.bitmap_extents.len() {
            let e = self.bitmap_extents[i];
            let mut done = 0;
            while done < e.len {
                let n = (e.len - done).min(512) as usize;
                self.dev.read_at(e.device_offset + done, &mut chunk[..n])?;
                for &byte in &chunk[..n] {
                    let bits = bits_left.min(8);
                    let mask = if bits == 8 { 0xFF } else { (1u8 << bits) - 1 };
                    used += u64::from((byte & mask).count_ones());
                    bits_left -= bits;
                }
                done += n as u64;
            }
        }
        Ok(self.boot.cluster_count - used as u32)
    }

    fn fat_entry(&mut self, cluster: u32) -> Result<u32, Error> {
        let offset = self.boot.active_fat_start() + u64::from(cluster) * 4;
        let block_offset = offset & !511;
        if !self.fat_cache.valid || self.fat_cache.block_offset != block_offset {
            self.fat_cache.valid = false;
            self.dev.read_at(block_offset, &mut self.fat_cache.data)?;
            self.fat_cache.block_offset = block_offset;
            self.fat_cache.valid = true;
        }
        // 4-byte aligned inside the 512-byte block: the FAT starts on a sector boundary.
        bytes::le32(&self.fat_cache.data, (offset - block_offset) as usize)
            .map_err(|_| corrupt!("FAT entry beyond its block"))
    }

    /// The cluster after `cluster` in its FAT chain, or None at the end of the chain.
    pub(crate) fn next_cluster(&mut self, cluster: u32) -> Result<Option<u32>, Error> {
        let next = self.fat_entry(cluster)?;
        if next == FAT_END_OF_CHAIN {
            Ok(None)
        } else if self.valid_cluster(next) {
            Ok(Some(next))
        } else {
            Err(corrupt!("FAT entry of cluster {cluster} is invalid ({next:#x})"))
        }
    }

    /// The clusters of a file or directory as runs of (first cluster, count).
    ///
    /// `size`: bytes the data must cover; `None` (root directory only) follows the FAT to the end
    /// of its chain. Chains that end early, leave the heap, loop or cross themselves are errors.
    pub(crate) fn cluster_runs(
        &mut self,
        first: u32,
        no_fat_chain: bool,
        size: Option<u64>,
    ) -> Result<Vec<(u32, u32)>, Error> {
        self.cluster_runs_upto(first, no_fat_chain, size, u64::MAX)
    }

    /// Like [`cluster_runs`](Self::cluster_runs) but stops once `upto` bytes are covered.
    fn cluster_runs_upto(
        &mut self,
        first: u32,
        no_fat_chain: bool,
        size: Option<u64>,
        upto: u64,
    ) -> Result<Vec<(u32, u32)>, Error> {
        let shift = self.boot.cluster_shift();
        let cluster_count = u64::from(self.boot.cluster_count);
        let needed = size.map(|s| s.div_ceil(1 << shift));
        if needed == Some(0) || upto == 0 {
            return Ok(Vec::new());
        }
        if needed.is_some_and(|n| n > cluster_count) {
            return Err(corrupt!("data larger than the cluster heap"));
        }
        if !self.valid_cluster(first) {
            return Err(corrupt!("first cluster {first} out of range"));
        }
        let upto_clusters = upto.div_ceil(1 << shift);
        if let (true, Some(n)) = (no_fat_chain, needed) {
            let n = n.min(upto_clusters);
            if u64::from(first) + n - 1 > cluster_count + 1 {
                return Err(corrupt!(
                    "contiguous data at cluster {first} runs past the cluster heap"
                ));
            }
            return Ok(vec![(first, n as u32)]);
        }
        // Directories are at most 256 MiB, which bounds the walk of the root chain.
        let limit = match needed {
            Some(n) => n.min(upto_clusters),
            None => cluster_count.min((MAX_DIRECTORY_BYTES >> shift).max(1)),
        };
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut cluster = first;
        let mut walked = 0u64;
        loop {
            match runs.last_mut() {
                Some((start, n)) if u64::from(*start) + u64::from(*n) == u64::from(cluster) => {
                    *n += 1
                }
                _ => runs.push((cluster, 1)),
            }
            walked += 1;
            if needed.is_some() && walked == limit {
                break;
            }
            match self.next_cluster(cluster)? {
                Some(next) if walked < limit => cluster = next,
                Some(_) => return Err(corrupt!("directory cluster chain too long or looped")),
                None if needed.is_some() => {
                    return Err(corrupt!(
                        "cluster chain from {first} ends before the end of the data"
                    ))
                }
                None => break,
            }
        }
        check_runs_disjoint(&runs)?;
        Ok(runs)
    }

    /// The byte extents of a directory's entries.
    pub(crate) fn dir_extents(&mut self, dir: &DirLoc) -> Result<Vec<Extent>, Error> {
        let runs = self.cluster_runs(dir.first_cluster, dir.no_fat_chain, dir.size)?;
        let len = match dir.size {
            Some(size) => size,
            None => {
                runs.iter().map(|&(_, n)| u64::from(n)).sum::<u64>() << self.boot.cluster_shift()
            }
        };
        Ok(self.runs_to_extents(&runs, len))
    }

    pub(crate) fn open_dir(&mut self, dir: &DirLoc) -> Result<DirScanner, Error> {
        Ok(DirScanner::new(DirCursor::new(self.dir_extents(dir)?)))
    }

    pub(crate) fn scan_next(&mut self, scanner: &mut DirScanner) -> Result<Option<DirItem>, Error> {
        scanner.next(&mut self.dev, &self.upcase, &self.boot)
    }

    /// Find `name` (compared case-insensitively through the up-case table) in `dir`.
    pub(crate) fn find_in_dir(
        &mut self,
        dir: &DirLoc,
        name: &[u16],
    ) -> Result<Option<FileSet>, Error> {
        let upcased = self.upcase.upcase_name(name);
        let hash = name_hash_upcased(upcased.iter().copied());
        let mut scanner = self.open_dir(dir)?;
        while let Some(item) = self.scan_next(&mut scanner)? {
            if let DirItem::File(set) = item {
                if set.name_hash == hash && self.upcase.equals_upcased(&set.name, &upcased) {
                    return Ok(Some(set));
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn resolve(&mut self, path: &str) -> Result<Node, Error> {
        let mut node = Node::Root;
        for part in split_path(path)? {
            let dir = match &node {
                Node::Root => self.root_loc(),
                Node::Entry(set) if set.is_dir() => DirLoc::of(set),
                Node::Entry(_) => return Err(Error::NotADirectory),
            };
            let units: Vec<u16> = part.encode_utf16().collect();
            node = Node::Entry(self.find_in_dir(&dir, &units)?.ok_or(Error::NotFound)?);
        }
        Ok(node)
    }

    pub(crate) fn resolve_dir(&mut self, path: &str) -> Result<DirLoc, Error> {
        match self.resolve(path)? {
            Node::Root => Ok(self.root_loc()),
            Node::Entry(set) if set.is_dir() => Ok(DirLoc::of(&set)),
            Node::Entry(_) => Err(Error::NotADirectory),
        }
    }

    /// List a directory, skipping damaged entry sets.
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, Error> {
        Ok(self.read_dir_report(path)?.entries)
    }

    /// List a directory and count the damaged entry sets that were skipped.
    pub fn read_dir_report(&mut self, path: &str) -> Result<DirListing, Error> {
        let dir = self.resolve_dir(path)?;
        let mut listing = DirListing::default();
        let mut scanner = self.open_dir(&dir)?;
        while let Some(item) = self.scan_next(&mut scanner)? {
            match item {
                DirItem::File(set) => listing.entries.push(self.dir_entry(&set)),
                DirItem::Corrupt { index, reason } => {
                    listing.corrupt.push(CorruptEntrySet { index, reason })
                }
                _ => {}
            }
        }
        Ok(listing)
    }

    /// Attributes, sizes, times and location of `path` ("/" is the root directory).
    pub fn metadata(&mut self, path: &str) -> Result<Metadata, Error> {
        match self.resolve(path)? {
            Node::Entry(set) => Ok(self.dir_entry(&set)),
            Node::Root => {
                let root = self.root_loc();
                let len: u64 = self.dir_extents(&root)?.iter().map(|e| e.len).sum();
                Ok(DirEntry {
                    name: String::new(),
                    attributes: attributes::DIRECTORY,
                    size: len,
                    valid_data_length: len,
                    first_cluster: root.first_cluster,
                    contiguous: false,
                    created: Timestamp::EPOCH,
                    modified: Timestamp::EPOCH,
                    accessed: Timestamp::EPOCH,
                })
            }
        }
    }

    /// Read from a file found by [`metadata`](Self::metadata) or [`read_dir`](Self::read_dir).
    /// Returns the bytes read: fewer than `buf.len()` only at the end of the file. Bytes past
    /// the valid data length read as zeros.
    pub fn read_at(
        &mut self,
        file: &DirEntry,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        if file.is_dir() {
            return Err(Error::IsADirectory);
        }
        if offset >= file.size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(file.size - offset) as usize;
        let end = offset + n as u64;
        let valid_end = end.min(file.valid_data_length);
        let buf = &mut buf[..n];
        if valid_end < end {
            let zero_from = valid_end.max(offset);
            buf[(zero_from - offset) as usize..].fill(0);
        }
        if offset >= valid_end {
            return Ok(n);
        }
        let runs = self.cluster_runs_upto(
            file.first_cluster,
            file.contiguous,
            Some(file.size),
            valid_end,
        )?;
        for e in self.runs_to_extents(&runs, valid_end) {
            let from = offset.max(e.file_offset);
            let to = valid_end.min(e.file_offset + e.len);
            if from < to {
                let dst = &mut buf[(from - offset) as usize..(to - offset) as usize];
                self.dev.read_at(e.device_offset + (from - e.file_offset), dst)?;
            }
        }
        Ok(n)
    }

    /// Read from the file at `path`; see [`read_at`](Self::read_at).
    pub fn read_file(&mut self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let file = self.metadata(path)?;
        self.read_at(&file, offset, buf)
    }

    /// Read a whole (small) file into memory.
    pub fn read_to_vec(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        let file = self.metadata(path)?;
        if file.is_dir() {
            return Err(Error::IsADirectory);
        }
        let len = usize::try_from(file.size)
            .map_err(|_| Error::InvalidArgument("file too large for memory"))?;
        let mut data = vec![0u8; len];
        self.read_at(&file, 0, &mut data)?;
        Ok(data)
    }

    /// Where the bytes of `file` lie on the volume: extents covering the file from offset 0 up
    /// to its valid data length, adjacent clusters merged. Bytes from the valid data length up
    /// to `file.size` are not stored and read as zeros.
    pub fn file_extents(&mut self, file: &DirEntry) -> Result<Vec<Extent>, Error> {
        if file.is_dir() {
            return Err(Error::IsADirectory);
        }
        let valid = file.valid_data_length.min(file.size);
        let runs =
            self.cluster_runs_upto(file.first_cluster, file.contiguous, Some(file.size), valid)?;
        Ok(self.runs_to_extents(&runs, valid))
    }

    /// [`file_extents`](Self::file_extents) of the file at `path`.
    pub fn extents(&mut self, path: &str) -> Result<Vec<Extent>, Error> {
        let file = self.metadata(path)?;
        self.file_extents(&file)
    }
}

/// A chain that visits a cluster twice loops or is cross-linked with itself.
fn check_runs_disjoint(runs: &[(u32, u32)]) -> Result<(), Error> {
    if runs.len() < 2 {
        return Ok(());
    }
    let mut sorted: Vec<(u32, u32)> = runs.to_vec();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        if u64::from(pair[0].0) + u64::from(pair[0].1) > u64::from(pair[1].0) {
            return Err(corrupt!("cluster chain loops or crosses itself at cluster {}", pair[1].0));
        }
    }
    Ok(())
}
