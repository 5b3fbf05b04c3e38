//! One directory as the writer sees it: every 32-byte slot with its position on the volume,
//! and the files in it as entry sets (the slots of a file's long name and its short entry).
//! Stricter than the reader: a long name counts only when its parts are complete, strictly
//! numbered and carry the short name's checksum; otherwise the set has no long name and its
//! stray parts are left alone.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::dirent::{self, RawEntry, NAME_LEN};
use super::FatError;

/// A file or directory: its valid long-name slots and its short entry (indices into
/// [`Listing::slots`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySet {
    pub lfn: Vec<usize>,
    pub sfn: usize,
    pub long: Option<String>,
}

impl EntrySet {
    /// Every slot of the set: long-name parts, then the short entry.
    pub fn slot_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.lfn.iter().copied().chain([self.sfn])
    }
}

/// A directory's slots, read from the volume.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Byte position (on the volume) and content of each slot, in order.
    pub slots: Vec<(u64, RawEntry)>,
    /// Index of the first end-of-directory slot, or `slots.len()`.
    pub end: usize,
    /// Whether every slot from `end` on is zero, so slots past the end may be used.
    pub tail_clean: bool,
    /// The files and directories, without `.`, `..` and the volume label.
    pub sets: Vec<EntrySet>,
}

impl Listing {
    /// Group `slots` (a whole directory, in order) into entry sets.
    pub fn new(slots: Vec<(u64, RawEntry)>) -> Listing {
        let end = slots
            .iter()
            .position(|(_, e)| e[dirent::NAME] == dirent::END_OF_DIR)
            .unwrap_or(slots.len());
        let tail_clean = slots[end..].iter().all(|(_, e)| e.iter().all(|&b| b == 0));
        let mut sets = Vec::new();
        let mut pending: Vec<usize> = Vec::new();
        for (i, (_, e)) in slots[..end].iter().enumerate() {
            if e[dirent::NAME] == dirent::DELETED {
                pending.clear();
            } else if dirent::is_lfn(e) {
                if e[dirent::LFN_ORDER] & dirent::LFN_LAST != 0 {
                    pending.clear();
                }
                pending.push(i);
            } else {
                let lfn = core::mem::take(&mut pending);
                if e[dirent::ATTR] & dirent::ATTR_VOLUME_ID != 0 || dirent::is_dot(e) {
                    continue;
                }
                let raw: Vec<RawEntry> = lfn.iter().map(|&j| slots[j].1).collect();
                let long = dirent::decode_lfn(&raw, &dirent::short_name(e));
                let lfn = if long.is_some() { lfn } else { Vec::new() };
                sets.push(EntrySet { lfn, sfn: i, long });
            }
        }
        Listing { slots, end, tail_clean, sets }
    }

    pub fn short_entry(&self, set: &EntrySet) -> &RawEntry {
        &self.slots[set.sfn].1
    }

    pub fn short_name(&self, set: &EntrySet) -> [u8; NAME_LEN] {
        dirent::short_name(self.short_entry(set))
    }

    /// The first cluster (FAT16: the low word only).
    pub fn first_cluster(&self, set: &EntrySet) -> u32 {
        dirent::first_cluster(self.short_entry(set), false)
    }

    pub fn size(&self, set: &EntrySet) -> u32 {
        dirent::file_size(self.short_entry(set))
    }

    pub fn is_dir(&self, set: &EntrySet) -> bool {
        self.short_entry(set)[dirent::ATTR] & dirent::ATTR_DIRECTORY != 0
    }

    /// Sets named `name` (long name, or short name when there is no long one), ignoring case.
    pub fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a EntrySet> + 'a {
        let name = name.to_string();
        self.sets.iter().filter(move |s| match &s.long {
            Some(long) => long.eq_ignore_ascii_case(&name),
            None => dirent::short_name_text(&self.short_name(s), 0).eq_ignore_ascii_case(&name),
        })
    }

    /// The one set named `name`; two of them is an error (the volume needs fsck).
    pub fn find(&self, name: &str) -> Result<Option<&EntrySet>, FatError> {
        let mut it = self.named(name);
        let first = it.next();
        if first.is_some() && it.next().is_some() {
            return Err(FatError::DuplicateName(name.to_string()));
        }
        Ok(first)
    }

    pub fn with_short(&self, short: &[u8; NAME_LEN]) -> impl Iterator<Item = &EntrySet> + '_ {
        let short = *short;
        self.sets.iter().filter(move |s| self.short_name(s) == short)
    }

    /// Whether slot `i` may be written: deleted, in the clean tail, or in `also_free` (slots
    /// the caller is about to free).
    pub fn slot_free(&self, i: usize, also_free: &[usize]) -> bool {
        self.slots[i].1[dirent::NAME] == dirent::DELETED
            || (i >= self.end && self.tail_clean)
            || also_free.contains(&i)
    }

    /// The first run of `n` free slots inside the sector `[sector, sector + sector_bytes)`.
    pub fn free_run_in_sector(
        &self,
        sector: u64,
        sector_bytes: u64,
        n: usize,
        also_free: &[usize],
    ) -> Option<usize> {
        let in_sector: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].0 >= sector && self.slots[i].0 < sector + sector_bytes)
            .collect();
        // A run may reach past the end marker but not start behind it: entries after the end
        // marker are invisible.
        in_sector
            .windows(n)
            .find(|w| w[0] <= self.end && w.iter().all(|&i| self.slot_free(i, also_free)))
            .map(|w| w[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fat::dirent::{
        file_entry, lfn_entries, DosTimestamp, ATTR_DIRECTORY, ATTR_VOLUME_ID, DELETED,
    };
    use alloc::vec;

    fn listing(entries: &[RawEntry], slots: usize) -> Listing {
        let mut all: Vec<(u64, RawEntry)> =
            (0..slots).map(|i| (1000 + 32 * i as u64, [0u8; 32])).collect();
        for (slot, e) in all.iter_mut().zip(entries) {
            slot.1 = *e;
        }
        Listing::new(all)
    }

    #[test]
    fn entry_sets_take_valid_long_names_only() {
        let at = DosTimestamp::EPOCH;
        let mut label = file_entry(b"POLYBOOTEFI", 0, 0, at);
        label[dirent::ATTR] = ATTR_VOLUME_ID;
        let mut dir = file_entry(b"EFI        ", 3, 0, at);
        dir[dirent::ATTR] = ATTR_DIRECTORY;
        let mut stray = lfn_entries("stamp.json", b"OTHER   TXT")[0];
        stray[dirent::LFN_CHECKSUM] ^= 1;
        let mut deleted = file_entry(b"GONE    TXT", 9, 1, at);
        deleted[0] = DELETED;
        let mut entries = vec![label, dir];
        entries.extend(lfn_entries("BOOTX64.EFI", b"BOOTX64 EFI"));
        entries.push(file_entry(b"BOOTX64 EFI", 5, 1234, at));
        entries.push(stray);
        entries.push(file_entry(b"STAMP~1 JSO", 7, 10, at));
        entries.push(deleted);
        let l = listing(&entries, 16);
        assert_eq!((l.end, l.tail_clean), (7, true));
        assert_eq!(l.sets.len(), 3, "label and deleted entry are not files");
        let efi = l.find("bootx64.efi").unwrap().unwrap();
        assert_eq!(
            (efi.lfn.clone(), efi.sfn, efi.long.as_deref()),
            (vec![2], 3, Some("BOOTX64.EFI"))
        );
        assert_eq!((l.first_cluster(efi), l.size(efi), l.is_dir(efi)), (5, 1234, false));
        let stamp = l.find("STAMP~1.JSO").unwrap().expect("a bad checksum leaves the short name");
        assert!(stamp.lfn.is_empty() && stamp.long.is_none());
        assert!(l.is_dir(l.find("efi").unwrap().unwrap()));
        assert_eq!(l.with_short(b"BOOTX64 EFI").count(), 1);
        assert_eq!(efi.slot_indices().collect::<Vec<_>>(), [2, 3]);
        // Free slots: the deleted one (6) and the clean tail from 7.
        assert!(
            l.slot_free(6, &[])
                && l.slot_free(7, &[])
                && !l.slot_free(5, &[])
                && l.slot_free(5, &[5])
        );
        assert_eq!(l.free_run_in_sector(1000, 512, 2, &[]), Some(6));
        assert_eq!(l.free_run_in_sector(1000, 512, 2, &[4, 5]), Some(4));
        assert_eq!(
            l.free_run_in_sector(1000, 256, 3, &[]),
            None,
            "the sector holds slots 0..8: only 6 and 7 are free"
        );
    }

    #[test]
    fn two_entries_of_one_name_are_an_error() {
        let at = DosTimestamp::EPOCH;
        let mut entries = lfn_entries("readme", b"README~1   ");
        entries.push(file_entry(b"README~1   ", 3, 1, at));
        entries.push(file_entry(b"README     ", 4, 1, at));
        let l = listing(&entries, 4);
        assert_eq!(l.find("README").unwrap_err(), FatError::DuplicateName("README".into()));
    }
}
