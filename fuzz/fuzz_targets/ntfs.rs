//! The read-only NTFS reader (`polyboot_core::ntfs`) on arbitrary volumes: must never panic
//! or hang. Beyond that: a volume that opens lists its root; every listed file reads back with
//! exactly the size of its unnamed `$DATA` (or an error), never more than the limit; a name
//! found by listing is found again by `lookup` (the first entry of that name, ASCII case
//! folded) with the same record; the walk is bounded (depth 4, 200 entries).
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::MemDevice;
use polyboot_core::ntfs::{Ntfs, NtfsError};

const READ_LIMIT: u64 = 64 << 10;

fn fold(s: &str) -> String {
    s.chars().map(|c| c.to_ascii_uppercase()).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut fs) = Ntfs::open(MemDevice::from_vec(data.to_vec())) else { return };
    let mut budget = 200usize;
    let mut stack: Vec<(String, usize)> = vec![(String::from("/"), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs.read_dir(&dir) else { continue };
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
            let first = entries.iter().position(|o| fold(&o.name) == fold(&e.name)).unwrap();
            if first == i {
                match fs.lookup(&path) {
                    Ok(found) => {
                        assert_eq!((found.record, found.sequence), (e.record, e.sequence), "{path}")
                    }
                    // Only a corrupt structure on the way can make a listed name vanish.
                    Err(NtfsError::NotFound) | Err(NtfsError::NotADirectory) => {
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
                let size =
                    fs.lookup_record(&path).ok().and_then(|r| fs.data(&r).ok()).map(|v| v.size());
                match fs.read_file(&path, READ_LIMIT) {
                    Ok(bytes) => assert_eq!(Some(bytes.len() as u64), size, "{path}"),
                    Err(NtfsError::TooLarge { size: s, limit }) => {
                        assert!(s > limit && limit == READ_LIMIT && Some(s) == size)
                    }
                    Err(_) => {}
                }
            }
        }
    }
});
