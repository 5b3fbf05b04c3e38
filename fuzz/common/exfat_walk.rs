//! Everything the reader offers, applied to an opened (possibly hostile) volume: list every
//! directory recursively, look each entry up by path, read every file and ask for its
//! extents, and check that the two views of a file agree. The volume is opened on a borrowed
//! `MemDevice` so targets can reuse one buffer instead of allocating a volume per input. Work is bounded so a hostile
//! volume (directory loops, huge sizes) cannot make one input run for long.

use polyboot_core::block::{MemDevice, ReadAt};
use polyboot_core::exfat::{DirEntry, ExFat, Extent};

/// A hostile directory can point back at the root: bound the tree walked per input.
const MAX_DEPTH: usize = 8;
const MAX_ENTRIES: usize = 256;
/// Path lookups re-scan every directory from the root; only do them near the top.
const MAX_LOOKUP_DEPTH: usize = 3;
/// Bytes read from each of a file's start and end.
const READ_WINDOW: usize = 16 << 10;

pub fn walk(fs: &mut ExFat<&mut MemDevice>) {
    let _ = (fs.label().len(), fs.volume_guid(), fs.volume_serial(), fs.is_dirty());
    let _ = fs.opened_from_backup();
    let (cluster_size, heap) = (fs.cluster_size() as u64, fs.cluster_heap_offset());
    assert!(cluster_size.is_power_of_two());
    let size = fs.device().size();
    let heap_end = heap + fs.cluster_count() as u64 * cluster_size;
    assert!(heap_end <= size, "cluster heap ends at {heap_end}, past the device ({size})");
    if let Ok(free) = fs.free_clusters() {
        assert!(free <= fs.cluster_count());
    }
    let _ = fs.metadata("/");
    let mut budget = MAX_ENTRIES;
    walk_dir(fs, "", 0, &mut budget);
}

fn walk_dir(fs: &mut ExFat<&mut MemDevice>, path: &str, depth: usize, budget: &mut usize) {
    let dir_path = if path.is_empty() { "/" } else { path };
    let listing = match fs.read_dir_report(dir_path) {
        Ok(listing) => listing,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for c in &listing.corrupt {
        assert!(!c.reason.is_empty());
    }
    for entry in listing.entries {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let child = format!("{path}/{}", entry.name);
        // Look it up by path too (names may be unreachable: '/', U+FFFD, duplicates).
        if depth < MAX_LOOKUP_DEPTH {
            let _ = fs.metadata(&child);
        }
        if entry.is_dir() {
            if depth < MAX_DEPTH {
                walk_dir(fs, &child, depth + 1, budget);
            }
        } else {
            check_file(fs, &entry);
        }
    }
}

fn check_file(fs: &mut ExFat<&mut MemDevice>, file: &DirEntry) {
    let _ = file.created.to_unix() ^ file.modified.to_unix() ^ file.accessed.to_unix();
    let dev_size = fs.device().size();
    let extents = fs.file_extents(file).ok();
    if let Some(extents) = &extents {
        let mut expect_offset = 0u64;
        for e in extents {
            assert_eq!(e.file_offset, expect_offset, "extents are not consecutive: {extents:?}");
            assert!(e.len > 0, "empty extent: {extents:?}");
            let end = e.device_offset.checked_add(e.len).expect("extent end overflows");
            assert!(end <= dev_size, "extent {e:?} reaches past the device ({dev_size} bytes)");
            expect_offset += e.len;
        }
        let valid = file.valid_data_length.min(file.size);
        assert_eq!(
            expect_offset, valid,
            "extents cover {expect_offset} bytes, valid data is {valid}"
        );
    }

    let mut buf = vec![0u8; READ_WINDOW];
    let tail = file.size.saturating_sub(READ_WINDOW as u64);
    for offset in [0, tail, file.valid_data_length.saturating_sub(1)] {
        match fs.read_at(file, offset, &mut buf) {
            Ok(n) => {
                let expect = (READ_WINDOW as u64).min(file.size.saturating_sub(offset)) as usize;
                assert_eq!(
                    n, expect,
                    "read_at({offset}) of a {}-byte file returned {n}",
                    file.size
                );
                if let Some(extents) = &extents {
                    compare_with_extents(fs, file, extents, offset, &buf[..n]);
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

/// What `read_at` returned must be what the extents point at, zeros past the valid length.
fn compare_with_extents(
    fs: &ExFat<&mut MemDevice>,
    file: &DirEntry,
    extents: &[Extent],
    offset: u64,
    data: &[u8],
) {
    let valid = file.valid_data_length.min(file.size);
    let mut expect = vec![0u8; data.len()];
    for e in extents {
        let from = offset.max(e.file_offset);
        let to = (offset + data.len() as u64).min(e.file_offset + e.len).min(valid);
        if from < to {
            let dst = &mut expect[(from - offset) as usize..(to - offset) as usize];
            let at = (e.device_offset + (from - e.file_offset)) as usize;
            dst.copy_from_slice(&fs.device().data[at..at + dst.len()]);
        }
    }
    assert!(expect == data, "read_at and file_extents disagree for {:?} at {offset}", file.name);
}
