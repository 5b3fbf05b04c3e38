//! The lookup (blob) table: one 50-byte entry per stored blob — resource header, part number,
//! reference count, SHA-1 of the uncompressed bytes. Images' metadata resources are the
//! entries flagged `METADATA`, in image order.

use alloc::vec;
use alloc::vec::Vec;

use super::{reshdr_flags, ResourceHeader, WimError, WimHeader, BLOB_TABLE_ENTRY_SIZE};
use crate::block::ReadAt;
use crate::bytes::Fields;

/// Most entries read (a full Windows install image has about 100,000).
pub const MAX_BLOB_ENTRIES: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobEntry {
    pub resource: ResourceHeader,
    pub part_number: u16,
    pub ref_count: u32,
    pub hash: [u8; 20],
}

impl BlobEntry {
    pub fn parse(b: &[u8; BLOB_TABLE_ENTRY_SIZE]) -> BlobEntry {
        BlobEntry {
            resource: ResourceHeader::parse(&b.bytes_at::<0, 24>()),
            part_number: b.le16::<24>(),
            ref_count: b.le32::<26>(),
            hash: b.bytes_at::<30, 20>(),
        }
    }

    pub fn encode(&self) -> [u8; BLOB_TABLE_ENTRY_SIZE] {
        let mut b = [0u8; BLOB_TABLE_ENTRY_SIZE];
        b[..24].copy_from_slice(&self.resource.encode());
        b[24..26].copy_from_slice(&self.part_number.to_le_bytes());
        b[26..30].copy_from_slice(&self.ref_count.to_le_bytes());
        b[30..].copy_from_slice(&self.hash);
        b
    }

    pub fn is_metadata(&self) -> bool {
        self.resource.flags & reshdr_flags::METADATA != 0
    }
}

/// Every entry of the file's lookup table (uncompressed, as every WIM writer stores it).
pub fn read_blob_table<D: ReadAt + ?Sized>(
    dev: &mut D,
    hdr: &WimHeader,
) -> Result<Vec<BlobEntry>, WimError> {
    let t = hdr.blob_table;
    if t.is_compressed() {
        return Err(WimError::BlobTableCompressed);
    }
    let size = dev.size();
    let end = t.end().unwrap_or(u64::MAX);
    if end > size {
        return Err(WimError::Truncated { what: "lookup table", end, size });
    }
    let count = t.size_in_wim / BLOB_TABLE_ENTRY_SIZE as u64;
    if count > MAX_BLOB_ENTRIES as u64 {
        return Err(WimError::BlobTableTooLarge(t.size_in_wim));
    }
    let mut raw = vec![0u8; count as usize * BLOB_TABLE_ENTRY_SIZE];
    dev.read_at(t.offset, &mut raw)?;
    Ok(raw
        .chunks_exact(BLOB_TABLE_ENTRY_SIZE)
        .filter_map(|c| c.try_into().ok().map(BlobEntry::parse))
        .collect())
}

/// The metadata entry of image `index` (1-based).
pub fn metadata_entry(entries: &[BlobEntry], index: u32) -> Option<&BlobEntry> {
    let i = usize::try_from(index.checked_sub(1)?).ok()?;
    entries.iter().filter(|e| e.is_metadata()).nth(i)
}
