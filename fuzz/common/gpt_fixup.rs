//! CRC repair for GPT inputs. A mutated header or entry almost never keeps its CRC-32, so
//! the reader would stop at the CRC check; the `gpt` target also tries each input with the
//! entry-array and header CRCs recomputed (from the fields as stored), so mutated fields
//! reach the placement and partition checks.

use polyboot_core::crc32::crc32;

/// The parser refuses larger entry arrays; don't hash more than that either.
const MAX_ARRAY_BYTES: u64 = 1 << 20;

/// Recompute, for the primary header (LBA 1) and the header in the last sector at a
/// sector size of `ss` bytes, the CRC of the entry array it points at and then its own
/// CRC. Headers without the "EFI PART" signature are left alone.
pub fn fix_crcs(img: &mut [u8], ss: usize) {
    let sectors = img.len() / ss;
    for lba in [1, sectors.saturating_sub(1)] {
        if lba == 0 || lba >= sectors {
            continue;
        }
        let h = lba * ss;
        if img[h..h + 8] != *b"EFI PART" {
            continue;
        }
        let le32 = |img: &[u8], at: usize| u32::from_le_bytes(img[at..at + 4].try_into().unwrap());
        let entries_lba = u64::from_le_bytes(img[h + 72..h + 80].try_into().unwrap());
        let array_bytes = u64::from(le32(img, h + 80)) * u64::from(le32(img, h + 84));
        let array_start = entries_lba.checked_mul(ss as u64);
        if let Some(start) = array_start.filter(|_| array_bytes <= MAX_ARRAY_BYTES) {
            if start + array_bytes <= img.len() as u64 {
                let (start, end) = (start as usize, (start + array_bytes) as usize);
                let crc = crc32(&img[start..end]);
                img[h + 88..h + 92].copy_from_slice(&crc.to_le_bytes());
            }
        }
        let header_size = le32(img, h + 12) as usize;
        if (92..=ss).contains(&header_size) {
            img[h + 16..h + 20].fill(0);
            let crc = crc32(&img[h..h + header_size]);
            img[h + 16..h + 20].copy_from_slice(&crc.to_le_bytes());
        }
    }
}
