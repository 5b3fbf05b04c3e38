//! The read-only UDF reader (`polyboot_core::udf`) on arbitrary images: must never panic or
//! hang. Each input is tried as is and with every descriptor tag repaired (checksum and CRC),
//! since a mutation would otherwise almost always stop at the first tag. On a volume that
//! probes, a bounded walk (depth 8, 500 entries) checks:
//!
//! - extents add up to at most the size; when a recorded one holding some of the first 64 KiB
//!   leaves the image (a truncated image lists its files all the same), reading them fails;
//! - `contiguous_range`, when Some, is `(offset, size)` inside the image, and the first
//!   64 KiB of the file read through `read_file` are exactly those bytes of the image;
//! - `UdfFile` has the entry's size and reads what `read_file` reads; reading past the size
//!   fails;
//! - a path the walk reached through first-of-their-name entries `lookup`s to an entry with
//!   the same ICB, kind and size (listing is deterministic, so it must be found); the first
//!   32 such paths are checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::{MemDevice, ReadAt};
use polyboot_core::udf::{self, UdfData, UdfEntry, UdfFile, UdfKind};

const MAX_DEPTH: usize = 8;
const MAX_ENTRIES: usize = 500;
const READ_CAP: u64 = 64 << 10;
/// Paths looked up per input (each re-reads every directory on its way).
const LOOKUPS: usize = 32;

/// Recompute the checksum and CRC of everything that looks like a descriptor tag: at each
/// 512-byte boundary (volume descriptors, file entries, ...) and, for file identifier
/// descriptors (which sit anywhere in a directory), at each 4-byte boundary.
fn repair_tags(data: &mut [u8]) {
    let mut at = 0;
    while at + 16 <= data.len() {
        let id = u16::from_le_bytes([data[at], data[at + 1]]);
        let version = u16::from_le_bytes([data[at + 2], data[at + 3]]);
        let plausible = matches!(id, 1..=9 | 256..=266) && (version == 2 || version == 3);
        if plausible && (at % 512 == 0 || id == 257) {
            let crc_len = usize::from(u16::from_le_bytes([data[at + 10], data[at + 11]]));
            if let Some(body) = data.get(at + 16..at + 16 + crc_len) {
                let crc = udf::crc_itu(body);
                data[at + 8..at + 10].copy_from_slice(&crc.to_le_bytes());
            }
            data[at + 4] = udf::tag_checksum(&data[at..at + 16]);
        }
        at += 4;
    }
}

fn check_entry(vol: &udf::UdfVolume, dev: &mut MemDevice, e: &UdfEntry) {
    let size = dev.size();
    let n = e.size.min(READ_CAP) as usize;
    // Does a recorded extent holding some of the first `n` bytes leave the image (a truncated
    // image)? Then reading them must fail.
    let mut cut_in_head = false;
    if let UdfData::Extents(x) = &e.data {
        let mut total = 0u64;
        for ext in x {
            assert!(ext.len > 0, "{}: empty extent", e.name);
            let outside = ext.offset.checked_add(ext.len).is_none_or(|end| end > size);
            if ext.recorded && outside && total < n as u64 {
                cut_in_head = true;
            }
            total += ext.len;
        }
        assert!(total <= e.size, "{}: extents beyond the size", e.name);
    }
    let range = e.contiguous_range();
    if let Some((off, len)) = range {
        assert_eq!(len, e.size);
        assert!(off.checked_add(len).is_some_and(|end| end <= size), "{}: range outside", e.name);
        assert!(matches!(e.data, UdfData::Extents(_)));
    }
    if e.kind == UdfKind::Directory {
        assert!(UdfFile::new(&mut *dev, vol, e).is_err());
        return;
    }
    let mut buf = vec![0u8; n];
    let read = vol.read_file(dev, e, 0, &mut buf);
    if cut_in_head {
        assert!(read.is_err(), "{}: read bytes from beyond the image", e.name);
    }
    if let Some((off, _)) = range {
        read.as_ref().expect("a contiguous file reads");
        assert!(
            buf[..] == dev.data[off as usize..off as usize + n],
            "{}: range holds other bytes",
            e.name
        );
    }
    assert!(vol.read_file(dev, e, e.size, &mut [0u8; 1]).is_err(), "read past the size");
    let mut file = UdfFile::new(&mut *dev, vol, e).expect("a file opens");
    assert_eq!(file.size(), e.size);
    if n > 0 {
        let at = (n / 2) as u64;
        let mut again = vec![0u8; n - n / 2];
        let r = file.read_at(at, &mut again);
        if read.is_ok() {
            r.expect("UdfFile reads what read_file read");
            assert!(again[..] == buf[n / 2..], "{}: UdfFile differs", e.name);
        }
    }
    assert!(file.read_at(e.size, &mut [0u8; 1]).is_err());
}

fn run(data: Vec<u8>) {
    let mut dev = MemDevice::from_vec(data);
    let Ok(vol) = udf::probe(&mut dev) else {
        return;
    };
    let Ok(root) = vol.root(&mut dev) else { return };
    assert!(root.is_dir());
    assert!(vol.lookup(&mut dev, "/").is_ok());
    let mut budget = MAX_ENTRIES;
    let mut lookups = LOOKUPS;
    // (directory, its path, depth, reached through first-of-their-name entries only)
    let mut stack = vec![(root, String::new(), 0usize, true)];
    while let Some((dir, path, depth, canonical)) = stack.pop() {
        let Ok(entries) = vol.read_dir(&mut dev, &dir) else {
            continue;
        };
        for (i, e) in entries.iter().enumerate() {
            if budget == 0 {
                return;
            }
            budget -= 1;
            let child = format!("{path}/{}", e.name);
            let usable = !e.name.is_empty() && !e.name.contains('/');
            let first = entries.iter().position(|o| o.name == e.name) == Some(i);
            if usable && first && canonical && lookups > 0 {
                lookups -= 1;
                match vol.lookup(&mut dev, &child) {
                    Ok(found) => {
                        assert_eq!(
                            (found.icb(), found.kind, found.size),
                            (e.icb(), e.kind, e.size),
                            "{child}"
                        )
                    }
                    Err(err) => panic!("{child} listed but lookup fails: {err}"),
                }
            }
            check_entry(&vol, &mut dev, e);
            if e.is_dir() && depth < MAX_DEPTH {
                stack.push((e.clone(), child, depth + 1, canonical && usable && first));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(data.to_vec());
    let mut fixed = data.to_vec();
    repair_tags(&mut fixed);
    if fixed != data {
        run(fixed);
    }
});
