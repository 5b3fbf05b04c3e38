//! The read-only FAT reader (`polyboot_core::fat`) on arbitrary images: must never panic or
//! hang. Beyond that: a volume that opens lists its root; every listed file reads back with
//! exactly its recorded size (or an error), never more than the limit; a name found by listing
//! is found again by `lookup` (the first entry of that name, compared without case) with the
//! same cluster and size (the first 32 such names: a look-up re-reads every directory on its
//! path); the walk is bounded (depth 4, 200 entries).
//!
//! The input is the start of the volume: the device reads as zeros from the input's end to
//! the end its boot sector describes, so the seeds are only the volumes' first 64 KiB (boot
//! sector, FATs, directories) and libFuzzer mutates metadata, not file contents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::{IoError, ReadAt};
use polyboot_core::fat::{Fat, FatError, Geometry};

const READ_LIMIT: u64 = 64 << 10;

/// `data`, then zeros up to `size` bytes: read in place, never copied.
struct ZeroExtended<'a> {
    data: &'a [u8],
    size: u64,
}

impl ReadAt for ZeroExtended<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let len = buf.len() as u64;
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(IoError::OutOfBounds { offset, len, size: self.size });
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.data.len());
        let have = (self.data.len() - start).min(buf.len());
        buf[..have].copy_from_slice(&self.data[start..start + have]);
        buf[have..].fill(0);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let described =
        data.first_chunk().and_then(|bs| Geometry::parse(bs).ok()).map_or(0, |g| g.data_end());
    let dev = ZeroExtended { data, size: described.max(data.len() as u64) };
    let Ok(mut fat) = Fat::open(dev) else { return };
    let mut budget = 200usize;
    let mut lookups = 32usize;
    let mut stack: Vec<(String, usize)> = vec![(String::from("/"), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fat.read_dir(&dir) else { continue };
        for (i, e) in entries.iter().enumerate() {
            if budget == 0 {
                return;
            }
            budget -= 1;
            if e.name.is_empty() || e.name.contains(['/', '\\']) || e.name == "." || e.name == ".."
            {
                continue;
            }
            let path =
                if dir == "/" { format!("/{}", e.name) } else { format!("{dir}/{}", e.name) };
            let first = entries.iter().position(|o| o.name.eq_ignore_ascii_case(&e.name)).unwrap();
            if first == i && lookups > 0 {
                lookups -= 1;
                match fat.lookup(&path) {
                    Ok(found) => assert_eq!(
                        (found.first_cluster, found.size, found.is_dir),
                        (e.first_cluster, e.size, e.is_dir),
                        "{path}"
                    ),
                    // Only an I/O or chain error on the way can make a listed name vanish.
                    Err(FatError::NotFound) | Err(FatError::NotADirectory) => {
                        panic!("{path} listed but not found")
                    }
                    Err(_) => {}
                }
            }
            if e.is_dir {
                if depth < 4 {
                    stack.push((path, depth + 1));
                }
            } else if first == i {
                match fat.read_file(&path, READ_LIMIT) {
                    Ok(bytes) => assert_eq!(bytes.len() as u64, u64::from(e.size), "{path}"),
                    Err(FatError::TooLarge { size, limit }) => {
                        assert!(size > limit && limit == READ_LIMIT)
                    }
                    Err(_) => {}
                }
            }
        }
    }
});
