//! Checksum repair for El Torito inputs, written from the El Torito specification.
//!
//! The validation entry (the first 32 bytes of the boot catalog) carries a checksum word
//! chosen so that its sixteen little-endian words sum to zero; a mutation of it almost never
//! keeps that, and the reader then stops before looking at any boot entry. The `eltorito`
//! target also tries each input with that word recomputed.

const SECTOR: usize = 2048;
/// Volume descriptors are looked for from sector 16 on, at most this many.
const MAX_DESCRIPTORS: usize = 64;

/// The boot catalog LBA of the first El Torito boot record in the descriptor set.
pub fn catalog_lba(img: &[u8]) -> Option<u32> {
    for i in 0..MAX_DESCRIPTORS {
        let d = img.get((16 + i) * SECTOR..(17 + i) * SECTOR)?;
        if &d[1..6] != b"CD001" || d[0] == 255 {
            return None;
        }
        let id = b"EL TORITO SPECIFICATION";
        if d[0] == 0 && d[7..7 + id.len()] == id[..] && d[7 + id.len()..39].iter().all(|&b| b == 0)
        {
            return Some(u32::from_le_bytes(d[71..75].try_into().unwrap()));
        }
    }
    None
}

/// Recompute the validation entry's checksum (bytes 28..30) of the catalog the boot record
/// points at. Nothing changes when there is no boot record or the catalog is outside `img`.
pub fn fix_validation_checksum(img: &mut [u8]) {
    let Some(lba) = catalog_lba(img) else { return };
    let at = lba as usize * SECTOR;
    let Some(entry) = img.get_mut(at..at + 32) else {
        return;
    };
    entry[28..30].fill(0);
    let sum = entry
        .chunks_exact(2)
        .fold(0u16, |acc, w| acc.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
    entry[28..30].copy_from_slice(&sum.wrapping_neg().to_le_bytes());
}
