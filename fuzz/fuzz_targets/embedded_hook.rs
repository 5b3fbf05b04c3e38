//! `embedded_hook::find_embedded_hook` (the BIOS stage 1 runs it over BOOTX64.EFI read from
//! the boot partition) on arbitrary bytes: never panics; a hook it returns lies inside the
//! input right after a complete header whose length is the hook's, starts like an ELF file,
//! and no earlier header in the input is complete and valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::embedded_hook::{find_embedded_hook, HEADER_LEN, MAGIC};

fn valid_at(data: &[u8], at: usize) -> bool {
    let Some(len) = data
        .get(at + MAGIC.len()..at + HEADER_LEN)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    else {
        return false;
    };
    data[at..].starts_with(&MAGIC)
        && data
            .get(at + HEADER_LEN..)
            .is_some_and(|rest| rest.len() >= len && rest[..len].starts_with(b"\x7fELF"))
}

fuzz_target!(|data: &[u8]| {
    let found = find_embedded_hook(data);
    let first_valid = (0..data.len()).find(|&at| valid_at(data, at));
    match (found, first_valid) {
        (None, None) => {}
        (Some(hook), Some(at)) => {
            let start = hook.as_ptr() as usize - data.as_ptr() as usize;
            assert_eq!(start, at + HEADER_LEN);
            let len =
                u32::from_le_bytes(data[at + MAGIC.len()..at + HEADER_LEN].try_into().unwrap())
                    as usize;
            assert_eq!(hook.len(), len);
            assert!(hook.starts_with(b"\x7fELF"));
        }
        (found, first) => {
            panic!("found {:?}, first valid header at {first:?}", found.map(|h| h.len()))
        }
    }
});
