//! The read-only FAT reader (`polyboot_core::fat`) on arbitrary images: must never panic or
//! hang. Beyond that: a volume that opens lists its root; every listed file reads back with
//! exactly its recorded size (or an error), never more than the limit; a name found by listing
//! is found again by `lookup` (the first entry of that name, compared without case) with the
//! same cluster and size (the first 32 such names: a look-up re-reads every directory on its
//! path); the walk is bounded (depth 4, 200 entries).
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::MemDevice;
use polyboot_core::fat::{Fat, FatError};

const READ_LIMIT: u64 = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let Ok(mut fat) = Fat::open(MemDevice::from_vec(data.to_vec())) else { return };
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
