//! ISO 9660 on an arbitrary image: `probe`, then on what it accepted a bounded walk of every
//! tree (the preferred one, the primary one and Joliet), path lookups, and reads of small
//! files. Must never panic; beyond that:
//!
//! - the volume fits in the image, the preferred tree is the one the documented rule picks,
//!   and the El Torito catalog found by `probe` is the one `eltorito::find_boot_record` finds;
//! - every entry's size is the sum of its sections;
//! - a file's data (`read_to_vec`, `read_file` at a few offsets) is exactly its sections'
//!   bytes in the image, and reading fails exactly when a section leaves the image;
//! - a path the walk reached through first-of-their-name entries looks up to that entry.
#![no_main]

use std::cell::RefCell;
use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::MemDevice;
use polyboot_core::eltorito;
use polyboot_core::iso9660::{self, DirRecord, IsoEntry, IsoInfo, NameMode, Tree};

/// Depth passed to `walk` (a hostile tree can loop back to the root).
const WALK_DEPTH: usize = 8;
/// Entries visited per tree before the visitor stops the walk.
const WALK_ENTRIES: usize = 400;
/// Files read per tree, and the largest read whole.
const FILES_READ: usize = 24;
const READ_CAP: u64 = 64 << 10;
/// Paths looked up per tree (each re-reads every directory on the way).
const LOOKUPS: usize = 24;
/// Directories listed per tree by the target's own traversal.
const MAX_DIRS: usize = 64;

thread_local! {
    /// Reused for every input: no image-sized allocation per run.
    static DEVICE: RefCell<MemDevice> = RefCell::new(MemDevice::default());
}

fuzz_target!(|data: &[u8]| {
    DEVICE.with_borrow_mut(|dev| {
        dev.data.clear();
        dev.data.extend_from_slice(data);
        match iso9660::probe(&mut *dev) {
            Ok(info) => check(dev, &info),
            Err(e) => {
                let _ = e.to_string();
            }
        }
        assert_eq!(dev.data, data, "reading changed the device");
    });
});

fn check(dev: &mut MemDevice, info: &IsoInfo) {
    let size = dev.data.len() as u64;
    assert_eq!(info.image_size, size);
    assert!(info.volume_bytes() <= size && info.volume_space_size > 16);
    assert!(!matches!(info.primary.mode, NameMode::Joliet));
    let preferred = info.preferred_tree();
    match (&info.primary.mode, &info.joliet) {
        (NameMode::RockRidge { .. }, _) | (_, None) => assert_eq!(preferred, &info.primary),
        (_, Some(j)) => assert_eq!(preferred, &j.tree),
    }
    assert_eq!(info.rock_ridge(), matches!(info.primary.mode, NameMode::RockRidge { .. }));
    if let Some(j) = &info.joliet {
        assert!((1..=3).contains(&j.level));
        assert_eq!(j.tree.mode, NameMode::Joliet);
    }
    assert_eq!(info.el_torito_catalog, eltorito::find_boot_record(&mut *dev).ok());
    let _ = (info.system_id.len(), info.volume_id.len(), info.pvd_sector);

    // The preferred tree is one of these two, walked either way.
    check_tree(dev, &info.primary);
    if let Some(j) = &info.joliet {
        check_tree(dev, &j.tree);
    }

    for path in [
        "/",
        "",
        "/boot/grub/grub.cfg",
        "/EFI/BOOT/BOOTX64.EFI",
        "\\isolinux\\isolinux.cfg",
        "/a/./b/../c",
    ] {
        if let Ok(e) = iso9660::lookup(&mut *dev, preferred, path) {
            check_entry(dev, &e);
        }
    }
}

fn check_tree(dev: &mut MemDevice, tree: &Tree) {
    let mut walked: Vec<(String, u64)> = Vec::new();
    let mut files = 0;
    let result = iso9660::walk(&mut *dev, tree, WALK_DEPTH, |path, entry| {
        check_sections(entry);
        walked.push((path.to_string(), entry.record_offset()));
        walked.len() < WALK_ENTRIES
    });
    if let Err(e) = &result {
        let _ = e.to_string();
    }

    let mut t = Traversal { nodes: Vec::new(), dirs: 0, complete: true };
    t.list(dev, tree, &tree.root, "", 0, true);
    // Both saw the whole tree: the same entries at the same paths.
    if result.is_ok() && walked.len() < WALK_ENTRIES && t.complete {
        let mut ours: Vec<(String, u64)> =
            t.nodes.iter().map(|n| (n.path.clone(), n.entry.record_offset())).collect();
        ours.sort();
        walked.sort();
        assert!(ours == walked, "walk visited {walked:?}, listing every directory gives {ours:?}");
    }

    let mut lookups = 0;
    for node in &t.nodes {
        if !node.entry.is_dir() && files < FILES_READ {
            files += 1;
            check_entry(dev, &node.entry);
        }
        if node.canonical && lookups < LOOKUPS {
            lookups += 1;
            match iso9660::lookup(&mut *dev, tree, &node.path) {
                Ok(found) => assert_eq!(
                    found.record_offset(),
                    node.entry.record_offset(),
                    "lookup({:?}) found another entry",
                    node.path
                ),
                Err(e) => panic!("lookup({:?}) of a listed entry failed: {e}", node.path),
            }
        }
    }
}

struct Node {
    path: String,
    entry: IsoEntry,
    /// Reached from the root through entries that are each the first of their exact name in
    /// their directory, with names that are one path component: `lookup(path)` finds it.
    canonical: bool,
}

/// The tree listed directory by directory with `Entries`, independently of `walk`.
struct Traversal {
    nodes: Vec<Node>,
    dirs: usize,
    /// Every directory listed without error, none too deep, within the budgets.
    complete: bool,
}

impl Traversal {
    fn list(
        &mut self,
        dev: &mut MemDevice,
        tree: &Tree,
        dir: &DirRecord,
        path: &str,
        depth: usize,
        canonical: bool,
    ) {
        self.dirs += 1;
        if self.dirs > MAX_DIRS {
            self.complete = false;
            return;
        }
        let mut listing = Vec::new();
        match iso9660::Entries::new(&mut *dev, tree, dir) {
            Ok(entries) => {
                for e in entries {
                    match e {
                        Ok(e) => listing.push(e),
                        Err(e) => {
                            let _ = e.to_string();
                            self.complete = false;
                        }
                    }
                    if self.nodes.len() + listing.len() >= WALK_ENTRIES {
                        self.complete = false;
                        break;
                    }
                }
            }
            Err(e) => {
                let _ = e.to_string();
                self.complete = false;
            }
        }
        let mut names = HashSet::new();
        let mut subdirs = Vec::new();
        for entry in listing {
            check_sections(&entry);
            let name = entry.name().to_string();
            let plain = !name.is_empty() && name != "." && !name.contains(['/', '\\']);
            let first = names.insert(name.clone());
            let child = format!("{path}/{name}");
            let node_canonical = canonical && first && plain;
            if entry.is_dir() {
                if depth + 1 > WALK_DEPTH {
                    self.complete = false;
                } else {
                    subdirs.push((child.clone(), entry.record.clone(), node_canonical));
                }
            }
            self.nodes.push(Node { path: child, entry, canonical: node_canonical });
        }
        for (child, record, node_canonical) in subdirs {
            self.list(dev, tree, &record, &child, depth + 1, node_canonical);
        }
    }
}

fn check_sections(entry: &IsoEntry) {
    assert!(!entry.sections.is_empty());
    let total: u64 = entry.sections.iter().map(|s| u64::from(s.len)).sum();
    assert_eq!(entry.size, total);
    assert_eq!(entry.sections[0].record_offset, entry.record_offset());
    let _ = (entry.lba(), entry.name(), entry.record.is_hidden());
}

/// The file's bytes as its sections say, `None` when a section leaves the image.
fn reference(image: &[u8], entry: &IsoEntry) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (offset, len) in entry.byte_ranges() {
        if len == 0 {
            continue;
        }
        let end = offset.checked_add(len)?;
        out.extend_from_slice(image.get(offset as usize..usize::try_from(end).ok()?)?);
    }
    Some(out)
}

fn check_entry(dev: &mut MemDevice, entry: &IsoEntry) {
    check_sections(entry);
    if entry.is_dir() {
        assert!(matches!(
            iso9660::read_to_vec(&mut *dev, entry, READ_CAP),
            Err(iso9660::IsoError::IsADirectory) | Err(iso9660::IsoError::Io(_))
        ));
        return;
    }
    let got = iso9660::read_to_vec(&mut *dev, entry, READ_CAP);
    if entry.size > READ_CAP {
        assert!(got.is_err());
    } else {
        let expect = reference(&dev.data, entry);
        match (got, expect) {
            (Ok(got), Some(expect)) => {
                assert!(got == expect, "read_to_vec differs from the sections")
            }
            (Err(_), None) => {}
            (got, expect) => panic!(
                "read_to_vec gave {:?}, the sections are {}",
                got.map(|v| v.len()),
                if expect.is_some() { "inside the image" } else { "outside the image" }
            ),
        }
    }

    // Windows at the start, across the first section's end and at the end of the file.
    let first_len = entry.sections[0].len as u64;
    for offset in [0, first_len.saturating_sub(100), entry.size.saturating_sub(300), entry.size] {
        let mut buf = [0u8; 512];
        let n = entry.size.saturating_sub(offset).min(512) as usize;
        let expect = window(&dev.data, entry, offset, n);
        match iso9660::read_file(&mut *dev, entry, offset, &mut buf) {
            Ok(got) => {
                assert_eq!(got, n, "read_file at {offset} of a {}-byte file", entry.size);
                let expect = expect.expect("read_file succeeded on sections outside the image");
                assert!(buf[..n] == expect[..], "read_file at {offset} differs from the sections");
            }
            Err(e) => {
                assert!(expect.is_none(), "read_file at {offset} failed inside the image: {e}");
            }
        }
    }
}

/// `n` bytes of the file from `offset` by walking its sections (`None` when outside the image).
fn window(image: &[u8], entry: &IsoEntry, offset: u64, n: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0u64;
    for (at, len) in entry.byte_ranges() {
        let end = start + len;
        let from = offset + out.len() as u64;
        if out.len() < n && from >= start && from < end {
            let take = (end - from).min((n - out.len()) as u64);
            let a = at.checked_add(from - start)?;
            out.extend_from_slice(image.get(a as usize..usize::try_from(a + take).ok()?)?);
        }
        start = end;
    }
    (out.len() == n).then_some(out)
}
