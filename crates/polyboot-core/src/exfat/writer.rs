//! Changing a volume: cluster allocation, directory entry sets, the write API.
//!
//! Every change first checks everything that can be checked (names, duplicates, free space,
//! chains of what will be freed) and only then writes, between setting and clearing
//! VolumeDirty. Write order favours what fsck repairs easily: clusters are marked in the
//! bitmap before entries point at them, and entries are marked unused before their clusters
//! are freed.

use super::bitmap::AllocBitmap;
use super::boot::{
    FAT_END_OF_CHAIN, OFFSET_PERCENT_IN_USE, OFFSET_VOLUME_FLAGS, VOLUME_FLAG_DIRTY,
};
use super::dirent::{
    build_file_set, name_entry_count, FileSet, RawEntry, StreamInfo, ENTRY_SIZE, IN_USE,
    MAX_DIRECTORY_BYTES,
};
use super::name::{split_path, validate_name};
use super::time::Timestamp;
use super::upcase::name_hash_upcased;
use super::volume::{DirCursor, DirItem, DirLoc, ExFat, Extent, Node};
use super::{attributes, corrupt, Error};
use crate::block::WriteAt;
use alloc::vec;
use alloc::vec::Vec;

/// Deeper than any sane tree; stops recursion on directory loops in damaged volumes.
const MAX_TREE_DEPTH: u32 = 1024;

/// Write `data` at `offset` of a file laid out as `extents`; the range must be covered.
fn write_mapped<D: WriteAt + ?Sized>(
    dev: &mut D,
    extents: &[Extent],
    offset: u64,
    data: &[u8],
) -> Result<(), Error> {
    let end = offset + data.len() as u64;
    let first = extents.partition_point(|e| e.file_offset + e.len <= offset);
    let mut covered = offset;
    for e in &extents[first..] {
        if e.file_offset >= end {
            break;
        }
        let from = offset.max(e.file_offset);
        let to = end.min(e.file_offset + e.len);
        if from < to {
            let src = &data[(from - offset) as usize..(to - offset) as usize];
            dev.write_at(e.device_offset + (from - e.file_offset), src)?;
            covered = to;
        }
    }
    if covered < end && !data.is_empty() {
        return Err(corrupt!("write at {offset} not covered by the file's clusters"));
    }
    Ok(())
}

/// What to create.
#[derive(Clone, Copy)]
enum NewEntry {
    File { size: u64 },
    Dir,
}

/// Where a new entry set will go in its parent directory.
struct InsertPlan {
    name_hash: u16,
    /// Entries the set needs.
    need: u64,
    /// A run of free entries already in the directory.
    slot: Option<u64>,
    /// Clusters to add to the directory when there is no such run.
    growth_clusters: u32,
    /// Entries in the directory before growing.
    entry_count: u64,
    /// Free entries at the very end of the directory, usable together with new clusters.
    tail_free: u64,
    /// Index of the end-of-directory marker, if any.
    end_marker: Option<u64>,
}

/// Streams data into a file whose clusters were allocated by [`ExFat::create_file`] (or
/// [`ExFat::open_file_writer`]). Writes go straight to the device; nothing is buffered.
pub struct FileWriter<'a, D: WriteAt> {
    fs: &'a mut ExFat<D>,
    set: FileSet,
    extents: Vec<Extent>,
    position: u64,
}

impl<D: WriteAt> FileWriter<'_, D> {
    /// The file size (all of it is allocated).
    pub fn size(&self) -> u64 {
        self.set.stream.data_length
    }

    /// Where the file's bytes are on the volume.
    pub fn extents(&self) -> &[Extent] {
        &self.extents
    }

    /// Offset of the next sequential [`write`](Self::write).
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn seek(&mut self, position: u64) {
        self.position = position;
    }

    /// Write `data` at `offset`; the range must lie within the file size.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Error> {
        match offset.checked_add(data.len() as u64) {
            Some(end) if end <= self.size() => {
                write_mapped(&mut self.fs.dev, &self.extents, offset, data)
            }
            _ => Err(Error::InvalidArgument("write past the end of the preallocated file")),
        }
    }

    /// Write `data` at the current position and advance it.
    pub fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.write_at(self.position, data)?;
        self.position += data.len() as u64;
        Ok(())
    }

    /// Declare that only the first `len` bytes hold data: readers then return zeros after it
    /// without reading the (possibly stale) clusters. New files start fully valid.
    pub fn set_valid_data_length(&mut self, len: u64) -> Result<(), Error> {
        if len > self.size() {
            return Err(Error::InvalidArgument("valid data length beyond the file size"));
        }
        let mut set = self.set.clone();
        set.set_stream(StreamInfo { valid_data_length: len, ..set.stream });
        self.fs.update(|fs| fs.write_entries(&set.offsets[..2], &set.entries[..2]))?;
        self.set = set;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), Error> {
        self.fs.dev.flush()?;
        Ok(())
    }
}

impl<D: WriteAt> ExFat<D> {
    /// Create an empty directory; its parent must exist.
    pub fn create_dir(&mut self, path: &str, time: Timestamp) -> Result<(), Error> {
        let (mut parent, name) = self.parent_and_name(path)?;
        self.create_in(&mut parent, &name, NewEntry::Dir, &time)?;
        Ok(())
    }

    /// Create a directory and any missing parents. Existing directories are fine; the space
    /// for all missing ones is checked before the first is created.
    pub fn create_dir_all(&mut self, path: &str, time: Timestamp) -> Result<(), Error> {
        let parts = split_path(path)?;
        let names = parts.iter().map(|p| validate_name(p)).collect::<Result<Vec<_>, _>>()?;
        let mut dir = self.root_loc();
        let mut existing = 0;
        while existing < names.len() {
            match self.find_in_dir(&dir, &names[existing])? {
                Some(set) if set.is_dir() => dir = DirLoc::of(&set),
                Some(_) => return Err(Error::NotADirectory),
                None => break,
            }
            existing += 1;
        }
        if existing == names.len() {
            return Ok(());
        }
        self.ensure_writable()?;
        // One cluster per new directory, plus growth of the existing parent, plus growth of a
        // fresh one-cluster directory when a child's entry set does not fit in it.
        let plan = self.plan_insert(&dir, &names[existing])?;
        let cluster_size = self.boot.cluster_size();
        let mut needed = u64::from(plan.growth_clusters) + 1;
        for name in &names[existing + 1..] {
            let set_bytes = (2 + name_entry_count(name.len()) as u64) * ENTRY_SIZE;
            needed += 1 + set_bytes.saturating_sub(cluster_size).div_ceil(cluster_size);
        }
        if needed > u64::from(self.free_count()?) {
            return Err(Error::NoSpace);
        }
        for name in &names[existing..] {
            let set = self.create_in(&mut dir, name, NewEntry::Dir, &time)?;
            dir = DirLoc::of(&set);
        }
        Ok(())
    }

    /// Create a file of `size` bytes, all clusters allocated up front: one contiguous run
    /// (NoFatChain) when the volume has one, otherwise free runs linked by a FAT chain. The
    /// content is not written (a sparse image reads zeros there); the valid data length is
    /// the full size unless [`FileWriter::set_valid_data_length`] says otherwise.
    pub fn create_file(
        &mut self,
        path: &str,
        size: u64,
        time: Timestamp,
    ) -> Result<FileWriter<'_, D>, Error> {
        let (mut parent, name) = self.parent_and_name(path)?;
        let set = self.create_in(&mut parent, &name, NewEntry::File { size }, &time)?;
        self.writer_for(set)
    }

    /// A writer over the clusters of an existing file's entry set.
    fn writer_for(&mut self, set: FileSet) -> Result<FileWriter<'_, D>, Error> {
        let size = set.stream.data_length;
        let runs =
            self.cluster_runs(set.stream.first_cluster, set.stream.no_fat_chain, Some(size))?;
        let extents = self.runs_to_extents(&runs, size);
        Ok(FileWriter { fs: self, set, extents, position: 0 })
    }

    /// Create a file holding `data`.
    pub fn write_file(&mut self, path: &str, data: &[u8], time: Timestamp) -> Result<(), Error> {
        let mut writer = self.create_file(path, data.len() as u64, time)?;
        writer.write_at(0, data)
    }

    /// Overwrite parts of an existing file in place (its size does not change).
    pub fn open_file_writer(&mut self, path: &str) -> Result<FileWriter<'_, D>, Error> {
        let set = match self.resolve(path)? {
            Node::Entry(set) if !set.is_dir() => set,
            _ => return Err(Error::IsADirectory),
        };
        self.ensure_writable()?;
        self.writer_for(set)
    }

    /// Grow a file to `new_size` bytes by appending clusters: right after its last cluster
    /// when those are free (a contiguous file stays contiguous), otherwise one free run if the
    /// volume has one, otherwise several, linked by the FAT. The valid data length does not
    /// change, so the new bytes read as zeros until written. Free space is checked before
    /// anything is written. Returns a writer over the whole file.
    pub fn extend_file(&mut self, path: &str, new_size: u64) -> Result<FileWriter<'_, D>, Error> {
        let set = match self.resolve(path)? {
            Node::Entry(set) if !set.is_dir() => set,
            _ => return Err(Error::IsADirectory),
        };
        let old_size = set.stream.data_length;
        if new_size < old_size {
            return Err(Error::InvalidArgument("extend_file cannot shrink a file"));
        }
        self.ensure_writable()?;
        let shift = self.boot.cluster_shift();
        let runs =
            self.cluster_runs(set.stream.first_cluster, set.stream.no_fat_chain, Some(old_size))?;
        let have = old_size.div_ceil(1 << shift);
        let add = new_size.div_ceil(1 << shift) - have;
        if add > u64::from(self.free_count()?) {
            return Err(Error::NoSpace);
        }
        let add = add as u32; // at most the free count
        let set = self.update(|fs| {
            let mut stream = set.stream;
            if add > 0 {
                let last = runs.last().map(|&(start, n)| start + n - 1);
                let in_place = match last {
                    Some(last) => fs.alloc_mut()?.range_free(last + 1, add),
                    None => false,
                };
                let new_runs = match (in_place, last) {
                    (true, Some(last)) => vec![(last + 1, add)],
                    _ => fs.alloc_mut()?.plan(add).ok_or(Error::NoSpace)?,
                };
                // Bitmap first, then the FAT, then the entry that makes them part of the file.
                fs.mark_runs(&new_runs, true)?;
                match last {
                    None => {
                        stream.first_cluster = new_runs[0].0;
                        stream.no_fat_chain = new_runs.len() == 1;
                        if !stream.no_fat_chain {
                            fs.write_fat_chain(&new_runs, FAT_END_OF_CHAIN)?;
                        }
                    }
                    Some(_) if in_place && stream.no_fat_chain => {}
                    Some(last) => {
                        if stream.no_fat_chain {
                            // The FAT never described this file; chain its clusters first.
                            fs.write_fat_chain(&runs, new_runs[0].0)?;
                        } else {
                            fs.write_fat_chain(&[(last, 1)], new_runs[0].0)?;
                        }
                        fs.write_fat_chain(&new_runs, FAT_END_OF_CHAIN)?;
                        stream.no_fat_chain = false;
                    }
                }
            }
            stream.data_length = new_size;
            let mut set = set.clone();
            set.set_stream(stream);
            fs.write_entries(&set.offsets[..2], &set.entries[..2])?;
            Ok(set)
        })?;
        self.writer_for(set)
    }

    /// Remove a file or an empty directory.
    pub fn remove(&mut self, path: &str) -> Result<(), Error> {
        let set = match self.resolve(path)? {
            Node::Root => return Err(Error::InvalidArgument("cannot remove the root directory")),
            Node::Entry(set) => set,
        };
        if set.is_dir() && !self.dir_is_empty(&DirLoc::of(&set))? {
            return Err(Error::DirectoryNotEmpty);
        }
        self.ensure_writable()?;
        let runs = self.cluster_runs(
            set.stream.first_cluster,
            set.stream.no_fat_chain,
            Some(set.stream.data_length),
        )?;
        self.update(|fs| fs.delete_set(&set, &runs))
    }

    /// Remove a file, or a directory with everything in it.
    pub fn remove_dir_all(&mut self, path: &str) -> Result<(), Error> {
        let set = match self.resolve(path)? {
            Node::Root => return Err(Error::InvalidArgument("cannot remove the root directory")),
            Node::Entry(set) => set,
        };
        self.ensure_writable()?;
        // Walk and validate the whole tree before changing anything.
        let mut doomed = Vec::new();
        self.collect_tree(set, 0, &mut doomed)?;
        self.update(|fs| {
            for (set, runs) in &doomed {
                fs.delete_set(set, runs)?;
            }
            Ok(())
        })
    }

    /// Make previous writes durable.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.dev.flush()?;
        Ok(())
    }

    fn free_count(&mut self) -> Result<u32, Error> {
        self.ensure_writable()?;
        Ok(self.alloc.as_ref().map_or(0, |a| a.free_count()))
    }

    fn alloc_mut(&mut self) -> Result<&mut AllocBitmap, Error> {
        self.alloc.as_mut().ok_or_else(|| corrupt!("allocation bitmap not loaded"))
    }

    /// Refuse to write through a damaged main boot region; load the bitmap on first use.
    fn ensure_writable(&mut self) -> Result<(), Error> {
        if self.opened_from_backup {
            return Err(corrupt!(
                "main boot region is damaged; repair the volume before writing to it"
            ));
        }
        if self.alloc.is_some() {
            return Ok(());
        }
        let len = self.boot.cluster_count.div_ceil(8) as usize;
        let mut bytes = vec![0u8; len];
        for e in &self.bitmap_extents {
            let at = e.file_offset as usize;
            self.dev.read_at(e.device_offset, &mut bytes[at..at + e.len as usize])?;
        }
        self.alloc = Some(AllocBitmap::new(bytes, self.boot.cluster_count));
        Ok(())
    }

    /// Run `change` with VolumeDirty set. It stays set if `change` fails half-way.
    pub(crate) fn update<T>(
        &mut self,
        change: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.boot.volume_flags & VOLUME_FLAG_DIRTY == 0 {
            self.boot.volume_flags |= VOLUME_FLAG_DIRTY;
            self.dev.write_at(OFFSET_VOLUME_FLAGS as u64, &self.boot.volume_flags.to_le_bytes())?;
            self.dev.flush()?;
        }
        let result = match change(self) {
            Ok(result) => result,
            Err(e) => {
                // The in-memory bitmap may now differ from the disk: reload it next time.
                self.alloc = None;
                self.fat_cache.valid = false;
                return Err(e);
            }
        };
        if let Some(alloc) = &self.alloc {
            let percent =
                (u64::from(alloc.used_count()) * 100 / u64::from(self.boot.cluster_count)) as u8;
            if percent != self.boot.percent_in_use {
                self.boot.percent_in_use = percent;
                self.dev.write_at(OFFSET_PERCENT_IN_USE as u64, &[percent])?;
            }
        }
        self.dev.flush()?;
        if !self.dirty_at_open {
            self.boot.volume_flags &= !VOLUME_FLAG_DIRTY;
            self.dev.write_at(OFFSET_VOLUME_FLAGS as u64, &self.boot.volume_flags.to_le_bytes())?;
        }
        Ok(result)
    }

    fn parent_and_name(&mut self, path: &str) -> Result<(DirLoc, Vec<u16>), Error> {
        let parts = split_path(path)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(Error::AlreadyExists); // the root directory
        };
        let name = validate_name(name)?;
        let mut dir = self.root_loc();
        for part in parents {
            let units: Vec<u16> = part.encode_utf16().collect();
            dir = match self.find_in_dir(&dir, &units)? {
                Some(set) if set.is_dir() => DirLoc::of(&set),
                Some(_) => return Err(Error::NotADirectory),
                None => return Err(Error::NotFound),
            };
        }
        Ok((dir, name))
    }

    /// Scan `dir` for a duplicate of `name` and for room for its entry set.
    fn plan_insert(&mut self, dir: &DirLoc, name: &[u16]) -> Result<InsertPlan, Error> {
        let upcased = self.upcase.upcase_name(name);
        let name_hash = name_hash_upcased(upcased.iter().copied());
        let need = 2 + name_entry_count(name.len()) as u64;
        let mut scanner = self.open_dir(dir)?;
        let entry_count = scanner.cursor.entry_count();
        let (mut run_start, mut run_len) = (0u64, 0u64);
        let mut slot = None;
        let mut end_marker = None;
        while let Some(item) = self.scan_next(&mut scanner)? {
            match item {
                DirItem::File(set) => {
                    if set.name_hash == name_hash && self.upcase.equals_upcased(&set.name, &upcased)
                    {
                        return Err(Error::AlreadyExists);
                    }
                    run_len = 0;
                }
                DirItem::Unused { index } | DirItem::End { index } => {
                    if run_len == 0 {
                        run_start = index;
                    }
                    if matches!(item, DirItem::End { .. }) {
                        end_marker = Some(index);
                        run_len += entry_count - index;
                    } else {
                        run_len += 1;
                    }
                    if slot.is_none() && run_len >= need {
                        slot = Some(run_start);
                    }
                }
                DirItem::Other | DirItem::Corrupt { .. } => run_len = 0,
            }
        }
        let mut growth_clusters = 0;
        if slot.is_none() {
            let cluster_size = self.boot.cluster_size();
            let clusters = ((need - run_len) * ENTRY_SIZE).div_ceil(cluster_size);
            if entry_count * ENTRY_SIZE + clusters * cluster_size > MAX_DIRECTORY_BYTES {
                return Err(Error::DirectoryFull);
            }
            growth_clusters = clusters as u32;
        }
        Ok(InsertPlan {
            name_hash,
            need,
            slot,
            growth_clusters,
            entry_count,
            tail_free: run_len,
            end_marker,
        })
    }

    /// Create `name` in `parent`: checks first, then allocates and writes the entry set.
    fn create_in(
        &mut self,
        parent: &mut DirLoc,
        name: &[u16],
        kind: NewEntry,
        time: &Timestamp,
    ) -> Result<FileSet, Error> {
        self.ensure_writable()?;
        let plan = self.plan_insert(parent, name)?;
        let cluster_size = self.boot.cluster_size();
        let (data_length, data_clusters) = match kind {
            NewEntry::File { size } => (size, size.div_ceil(cluster_size)),
            NewEntry::Dir => (cluster_size, 1),
        };
        if u64::from(plan.growth_clusters) + data_clusters > u64::from(self.free_count()?) {
            return Err(Error::NoSpace);
        }
        let data_clusters = data_clusters as u32; // at most the free count, so it fits
        self.update(|fs| {
            let slot = match plan.slot {
                Some(slot) => slot,
                None => {
                    fs.grow_dir(parent, plan.growth_clusters)?;
                    plan.entry_count - plan.tail_free
                }
            };
            let runs = fs.allocate(data_clusters)?;
            if let NewEntry::Dir = kind {
                fs.zero_clusters(&runs)?;
            }
            let stream = StreamInfo {
                first_cluster: runs.first().map_or(0, |r| r.0),
                data_length,
                valid_data_length: data_length,
                no_fat_chain: runs.len() == 1,
            };
            let attributes = match kind {
                NewEntry::File { .. } => attributes::ARCHIVE,
                NewEntry::Dir => attributes::DIRECTORY,
            };
            let entries = build_file_set(name, plan.name_hash, attributes, time, &stream);
            let mut cursor = DirCursor::new(fs.dir_extents(parent)?);
            let offsets = (slot..slot + plan.need)
                .map(|i| {
                    cursor
                        .device_offset(i)
                        .ok_or_else(|| corrupt!("directory entry {i} out of range"))
                })
                .collect::<Result<Vec<u64>, Error>>()?;
            fs.write_entries(&offsets, &entries)?;
            // Entries after the end marker count as free whatever they hold; if our set covered
            // the marker, the entry after it must become the new marker.
            if plan.end_marker.is_some_and(|marker| slot + plan.need > marker) {
                let next = slot + plan.need;
                if let (Some(entry), Some(offset)) =
                    (cursor.read_entry(&mut fs.dev, next)?, cursor.device_offset(next))
                {
                    if entry[0] != 0 {
                        fs.dev.write_at(offset, &[0u8; 32])?;
                    }
                }
            }
            Ok(FileSet {
                index: slot,
                entries,
                offsets,
                name: name.to_vec(),
                name_hash: plan.name_hash,
                attributes,
                stream,
            })
        })
    }

    /// Allocate `count` clusters: mark them in the bitmap and chain them in the FAT unless they
    /// form one run (then the owner gets NoFatChain).
    fn allocate(&mut self, count: u32) -> Result<Vec<(u32, u32)>, Error> {
        let runs = self.alloc_mut()?.plan(count).ok_or(Error::NoSpace)?;
        self.mark_runs(&runs, true)?;
        if runs.len() > 1 {
            self.write_fat_chain(&runs, FAT_END_OF_CHAIN)?;
        }
        Ok(runs)
    }

    /// Add `clusters` zeroed clusters to a directory, keeping it contiguous when the clusters
    /// right after it are free; otherwise give it a FAT chain.
    fn grow_dir(&mut self, dir: &mut DirLoc, clusters: u32) -> Result<(), Error> {
        let runs = self.cluster_runs(dir.first_cluster, dir.no_fat_chain, dir.size)?;
        let last = runs.last().map(|&(start, n)| start + n - 1);
        let is_root = dir.size.is_none();
        let extend_in_place = match last {
            Some(last) if dir.no_fat_chain && !is_root => {
                self.alloc_mut()?.range_free(last + 1, clusters)
            }
            _ => false,
        };
        let new_runs = if let (true, Some(last)) = (extend_in_place, last) {
            vec![(last + 1, clusters)]
        } else {
            self.alloc_mut()?.plan(clusters).ok_or(Error::NoSpace)?
        };
        self.mark_runs(&new_runs, true)?;
        self.zero_clusters(&new_runs)?;
        match last {
            None => {
                // An empty directory without clusters gets its first ones.
                dir.first_cluster = new_runs[0].0;
                dir.no_fat_chain = new_runs.len() == 1 && !is_root;
                if !dir.no_fat_chain {
                    self.write_fat_chain(&new_runs, FAT_END_OF_CHAIN)?;
                }
            }
            Some(_) if extend_in_place => {}
            Some(last) => {
                if dir.no_fat_chain {
                    // The FAT never described this directory; chain its clusters first.
                    self.write_fat_chain(&runs, new_runs[0].0)?;
                } else {
                    self.write_fat_chain(&[(last, 1)], new_runs[0].0)?;
                }
                self.write_fat_chain(&new_runs, FAT_END_OF_CHAIN)?;
                dir.no_fat_chain = false;
            }
        }
        if let Some(size) = dir.size {
            let new_size = size + (u64::from(clusters) << self.boot.cluster_shift());
            dir.size = Some(new_size);
            if let Some(owner) = dir.owner.as_mut() {
                owner.set_stream(StreamInfo {
                    first_cluster: dir.first_cluster,
                    data_length: new_size,
                    valid_data_length: new_size,
                    no_fat_chain: dir.no_fat_chain,
                });
                let (offsets, entries) = (owner.offsets[..2].to_vec(), owner.entries[..2].to_vec());
                self.write_entries(&offsets, &entries)?;
            }
        }
        Ok(())
    }

    fn dir_is_empty(&mut self, dir: &DirLoc) -> Result<bool, Error> {
        let mut scanner = self.open_dir(dir)?;
        while let Some(item) = self.scan_next(&mut scanner)? {
            if !matches!(item, DirItem::Unused { .. } | DirItem::End { .. }) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Collect `set` and everything below it, children before parents, with their clusters.
    fn collect_tree(
        &mut self,
        set: FileSet,
        depth: u32,
        out: &mut Vec<(FileSet, Vec<(u32, u32)>)>,
    ) -> Result<(), Error> {
        if depth > MAX_TREE_DEPTH {
            return Err(corrupt!(
                "directory tree deeper than {MAX_TREE_DEPTH} levels (a directory loop?)"
            ));
        }
        let runs = self.cluster_runs(
            set.stream.first_cluster,
            set.stream.no_fat_chain,
            Some(set.stream.data_length),
        )?;
        if set.is_dir() {
            let mut children = Vec::new();
            let mut scanner = self.open_dir(&DirLoc::of(&set))?;
            while let Some(item) = self.scan_next(&mut scanner)? {
                if let DirItem::File(child) = item {
                    children.push(child);
                }
            }
            for child in children {
                self.collect_tree(child, depth + 1, out)?;
            }
        }
        out.push((set, runs));
        Ok(())
    }

    /// Mark an entry set unused, then free its clusters.
    fn delete_set(&mut self, set: &FileSet, runs: &[(u32, u32)]) -> Result<(), Error> {
        for (entry, &offset) in set.entries.iter().zip(&set.offsets) {
            self.dev.write_at(offset, &[entry[0] & !IN_USE])?;
        }
        if !set.stream.no_fat_chain {
            for &(start, count) in runs {
                self.write_fat_run(start, count, |_| 0)?;
            }
        }
        self.mark_runs(runs, false)
    }

    fn write_entries(&mut self, offsets: &[u64], entries: &[RawEntry]) -> Result<(), Error> {
        let mut i = 0;
        while i < offsets.len() {
            // Entries are usually consecutive; write each consecutive group at once.
            let mut j = i + 1;
            while j < offsets.len() && offsets[j] == offsets[j - 1] + ENTRY_SIZE {
                j += 1;
            }
            let bytes: Vec<u8> = entries[i..j].iter().flatten().copied().collect();
            self.dev.write_at(offsets[i], &bytes)?;
            i = j;
        }
        Ok(())
    }

    fn mark_runs(&mut self, runs: &[(u32, u32)], used: bool) -> Result<(), Error> {
        for &(start, count) in runs {
            let alloc = self.alloc_mut()?;
            alloc.set_range(start, count, used);
            let (byte_offset, bytes) = alloc.bytes_for(start, count);
            let bytes = bytes.to_vec();
            write_mapped(&mut self.dev, &self.bitmap_extents, byte_offset, &bytes)?;
        }
        Ok(())
    }

    /// Link `runs` in order in the FAT; the last cluster gets `last_value`.
    fn write_fat_chain(&mut self, runs: &[(u32, u32)], last_value: u32) -> Result<(), Error> {
        for (i, &(start, count)) in runs.iter().enumerate() {
            let after = runs.get(i + 1).map_or(last_value, |r| r.0);
            let last = start + count - 1;
            self.write_fat_run(start, count, |c| if c == last { after } else { c + 1 })?;
        }
        Ok(())
    }

    /// Write the FAT entries of clusters `start..start+count`, in blocks.
    fn write_fat_run(
        &mut self,
        start: u32,
        count: u32,
        value_of: impl Fn(u32) -> u32,
    ) -> Result<(), Error> {
        self.fat_cache.valid = false;
        const BLOCK_ENTRIES: u32 = 1024;
        let mut buf = Vec::with_capacity(count.min(BLOCK_ENTRIES) as usize * 4);
        let mut done = 0;
        while done < count {
            let n = (count - done).min(BLOCK_ENTRIES);
            buf.clear();
            for c in start + done..start + done + n {
                buf.extend_from_slice(&value_of(c).to_le_bytes());
            }
            let offset = self.boot.active_fat_start() + u64::from(start + done) * 4;
            self.dev.write_at(offset, &buf)?;
            done += n;
        }
        Ok(())
    }

    fn zero_clusters(&mut self, runs: &[(u32, u32)]) -> Result<(), Error> {
        let shift = self.boot.cluster_shift();
        let zeros = vec![0u8; (1usize << shift).min(64 << 10)];
        for &(start, count) in runs {
            let mut offset = self.cluster_offset(start);
            let end = offset + (u64::from(count) << shift);
            while offset < end {
                let n = ((end - offset) as usize).min(zeros.len());
                self.dev.write_at(offset, &zeros[..n])?;
                offset += n as u64;
            }
        }
        Ok(())
    }
}
