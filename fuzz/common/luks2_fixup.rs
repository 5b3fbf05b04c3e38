//! LUKS2 header checksums recomputed (the `luks2` target and its seeds): each copy with a
//! LUKS2 magic and a header size that fits the input gets the SHA-256 of its `hdr_size`
//! bytes, checksum field zeroed, stored. Secondary copies are looked for at every allowed
//! header size, as the reader probes for them.

use polyboot_core::luks2::{HEADER_SIZES, MAGIC, MAGIC_SECONDARY};
use polyboot_core::sha256::Sha256;

/// Repair every copy's checksum in place.
pub fn fix_checksums(data: &mut [u8]) {
    fix_copy(data, 0, &MAGIC);
    for at in HEADER_SIZES {
        fix_copy(data, at as usize, &MAGIC_SECONDARY);
    }
}

fn fix_copy(data: &mut [u8], at: usize, magic: &[u8; 6]) {
    let Some(bin) = data.get(at..at + 512) else { return };
    if &bin[..6] != magic {
        return;
    }
    let size = u64::from_be_bytes(bin[8..16].try_into().unwrap());
    if !HEADER_SIZES.contains(&size) {
        return;
    }
    let Some(copy) = data.get_mut(at..at + size as usize) else { return };
    copy[448..512].fill(0);
    let sum = Sha256::digest(copy);
    copy[448..480].copy_from_slice(&sum);
}
