//! Dynamic VHDX files ([MS-VHDX] 1.0), the structures only: the caller streams the payload.
//!
//! File layout written here (every region 1 MiB aligned, as the spec requires):
//!
//! | offset | what |
//! |---|---|
//! | 0 | file type identifier (`vhdxfile`, creator) |
//! | 64 KiB, 128 KiB | headers 1 and 2 (`head`, CRC-32C) |
//! | 192 KiB, 256 KiB | region tables 1 and 2 (`regi`: BAT and metadata regions) |
//! | 1 MiB | log (1 MiB, empty: the headers' log GUID is zero, nothing to replay) |
//! | 2 MiB | metadata region (1 MiB): file parameters, virtual disk size and id, sector sizes |
//! | 3 MiB | BAT (one 8-byte entry per payload block, a sector-bitmap entry after every chunk) |
//! | after | payload blocks, only those holding non-zero data (state FULLY_PRESENT) |
//!
//! Blocks that are all zero are left out (state NOT_PRESENT, read as zeros by a
//! non-differencing disk), so the file is dynamic: as large as the data.

use alloc::vec::Vec;

use crate::bytes;
use crate::guid::Guid;

pub const MIB: u64 = 1 << 20;
/// Payload block size. Hyper-V defaults to 32 MiB; 2 MiB (the spec allows 1 to 256 MiB)
/// keeps a freshly written, mostly empty Windows To Go disk small.
pub const BLOCK_SIZE: u64 = 2 * MIB;
pub const LOG_OFFSET: u64 = MIB;
pub const LOG_LENGTH: u64 = MIB;
pub const METADATA_OFFSET: u64 = 2 * MIB;
pub const METADATA_LENGTH: u64 = MIB;
pub const BAT_OFFSET: u64 = 3 * MIB;

pub const BAT_REGION: Guid = Guid::from_text("2DC27766-F623-4200-9D64-115E9BFD4A08");
pub const METADATA_REGION: Guid = Guid::from_text("8B7CA206-4790-4B9A-B8FE-575F050F886E");
pub const FILE_PARAMETERS: Guid = Guid::from_text("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
pub const VIRTUAL_DISK_SIZE: Guid = Guid::from_text("2FA54224-CD1B-4876-B211-5DBED83BF4B8");
pub const VIRTUAL_DISK_ID: Guid = Guid::from_text("BECA12AB-B2E6-4523-93EF-C309E000C746");
pub const LOGICAL_SECTOR_SIZE: Guid = Guid::from_text("8141BF1D-A96F-4709-BA47-F233A8FAAB5F");
pub const PHYSICAL_SECTOR_SIZE: Guid = Guid::from_text("CDA348C7-445D-4471-9CC9-E9885251C556");

/// BAT entry states.
pub const PAYLOAD_BLOCK_NOT_PRESENT: u64 = 0;
pub const PAYLOAD_BLOCK_FULLY_PRESENT: u64 = 6;

/// CRC-32C (Castagnoli), as VHDX checksums its headers and tables.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// The geometry of a dynamic VHDX of `virtual_size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhdxGeometry {
    pub virtual_size: u64,
    pub logical_sector: u32,
    pub block_size: u64,
}

impl VhdxGeometry {
    pub fn new(virtual_size: u64, logical_sector: u32) -> VhdxGeometry {
        VhdxGeometry { virtual_size, logical_sector, block_size: BLOCK_SIZE }
    }
    /// Payload blocks per sector-bitmap block.
    pub fn chunk_ratio(&self) -> u64 {
        ((1u64 << 23) * self.logical_sector as u64) / self.block_size
    }
    pub fn data_blocks(&self) -> u64 {
        self.virtual_size.div_ceil(self.block_size)
    }
    /// BAT entries (payload + interleaved sector bitmap entries).
    pub fn bat_entries(&self) -> u64 {
        let d = self.data_blocks();
        d + d.saturating_sub(1) / self.chunk_ratio()
    }
    pub fn bat_length(&self) -> u64 {
        (self.bat_entries() * 8).div_ceil(MIB).max(1) * MIB
    }
    /// Index in the BAT of payload block `i`.
    pub fn bat_index(&self, block: u64) -> u64 {
        block + block / self.chunk_ratio()
    }
    /// Where the first payload block goes.
    pub fn payload_offset(&self) -> u64 {
        BAT_OFFSET + self.bat_length()
    }
}

/// A BAT entry for a block at `file_offset` (a multiple of 1 MiB) with `state`.
pub fn bat_entry(state: u64, file_offset: u64) -> u64 {
    state | ((file_offset / MIB) << 20)
}

/// Identifiers drawn by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhdxIds {
    pub file_write: Guid,
    pub data_write: Guid,
    pub disk_id: Guid,
}

fn put_guid(b: &mut [u8], at: usize, g: &Guid) {
    b[at..at + 16].copy_from_slice(&g.to_bytes());
}

/// Everything but the payload and the BAT contents: (file offset, bytes) pieces.
pub fn structures(g: &VhdxGeometry, ids: &VhdxIds) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    // File type identifier.
    let mut ident = alloc::vec![0u8; 64 * 1024];
    ident[..8].copy_from_slice(b"vhdxfile");
    for (i, u) in "polyboot".encode_utf16().enumerate() {
        ident[8 + 2 * i..10 + 2 * i].copy_from_slice(&u.to_le_bytes());
    }
    out.push((0, ident));
    // Headers: both valid, header 2 current (higher sequence number).
    for (n, seq) in [(1u64, 1u64), (2, 2)] {
        let mut h = alloc::vec![0u8; 4096];
        h[..4].copy_from_slice(b"head");
        h[8..16].copy_from_slice(&seq.to_le_bytes());
        put_guid(&mut h, 16, &ids.file_write);
        put_guid(&mut h, 32, &ids.data_write);
        // 48: log GUID zero = no log to replay; 64: log version 0.
        h[66..68].copy_from_slice(&1u16.to_le_bytes());
        h[68..72].copy_from_slice(&(LOG_LENGTH as u32).to_le_bytes());
        h[72..80].copy_from_slice(&LOG_OFFSET.to_le_bytes());
        let c = crc32c(&h);
        h[4..8].copy_from_slice(&c.to_le_bytes());
        out.push((n * 64 * 1024, h));
    }
    // Region tables.
    let mut r = alloc::vec![0u8; 64 * 1024];
    r[..4].copy_from_slice(b"regi");
    r[8..12].copy_from_slice(&2u32.to_le_bytes());
    let regions = [
        (BAT_REGION, BAT_OFFSET, g.bat_length()),
        (METADATA_REGION, METADATA_OFFSET, METADATA_LENGTH),
    ];
    for (i, (guid, off, len)) in regions.iter().enumerate() {
        let at = 16 + i * 32;
        put_guid(&mut r, at, guid);
        r[at + 16..at + 24].copy_from_slice(&off.to_le_bytes());
        r[at + 24..at + 28].copy_from_slice(&(*len as u32).to_le_bytes());
        r[at + 28..at + 32].copy_from_slice(&1u32.to_le_bytes()); // required
    }
    let c = crc32c(&r);
    r[4..8].copy_from_slice(&c.to_le_bytes());
    out.push((192 * 1024, r.clone()));
    out.push((256 * 1024, r));
    // Log: zeros.
    out.push((LOG_OFFSET, alloc::vec![0u8; LOG_LENGTH as usize]));
    // Metadata region.
    let mut m = alloc::vec![0u8; METADATA_LENGTH as usize];
    m[..8].copy_from_slice(b"metadata");
    const IS_VIRTUAL_DISK: u32 = 2;
    const IS_REQUIRED: u32 = 4;
    let mut items: Vec<(Guid, Vec<u8>, u32)> = Vec::new();
    let mut fp = Vec::new();
    fp.extend_from_slice(&(g.block_size as u32).to_le_bytes());
    fp.extend_from_slice(&0u32.to_le_bytes()); // no LeaveBlocksAllocated, no parent
    items.push((FILE_PARAMETERS, fp, IS_REQUIRED));
    items.push((
        VIRTUAL_DISK_SIZE,
        g.virtual_size.to_le_bytes().to_vec(),
        IS_VIRTUAL_DISK | IS_REQUIRED,
    ));
    items.push((VIRTUAL_DISK_ID, ids.disk_id.to_bytes().to_vec(), IS_VIRTUAL_DISK | IS_REQUIRED));
    items.push((
        LOGICAL_SECTOR_SIZE,
        g.logical_sector.to_le_bytes().to_vec(),
        IS_VIRTUAL_DISK | IS_REQUIRED,
    ));
    items.push((
        PHYSICAL_SECTOR_SIZE,
        4096u32.to_le_bytes().to_vec(),
        IS_VIRTUAL_DISK | IS_REQUIRED,
    ));
    m[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
    let mut data_at = 64 * 1024usize;
    for (i, (guid, data, flags)) in items.iter().enumerate() {
        let at = 32 + i * 32;
        put_guid(&mut m, at, guid);
        m[at + 16..at + 20].copy_from_slice(&(data_at as u32).to_le_bytes());
        m[at + 20..at + 24].copy_from_slice(&(data.len() as u32).to_le_bytes());
        m[at + 24..at + 28].copy_from_slice(&flags.to_le_bytes());
        m[data_at..data_at + data.len()].copy_from_slice(data);
        data_at += data.len().div_ceil(8) * 8;
    }
    out.push((METADATA_OFFSET, m));
    out
}

/// Read back the fields a test wants from the first 3 MiB of a VHDX (untrusted bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhdxSummary {
    pub virtual_size: u64,
    pub block_size: u32,
    pub logical_sector: u32,
    pub bat_offset: u64,
}

pub fn parse_summary(head: &[u8]) -> Option<VhdxSummary> {
    if head.get(..8)? != b"vhdxfile" {
        return None;
    }
    let mut h = head.get(64 * 1024..64 * 1024 + 4096)?.to_vec();
    let stored = bytes::le32(&h, 4).ok()?;
    h[4..8].fill(0);
    if &h[..4] != b"head" || crc32c(&h) != stored {
        return None;
    }
    let mut r = head.get(192 * 1024..256 * 1024)?.to_vec();
    let stored = bytes::le32(&r, 4).ok()?;
    r[4..8].fill(0);
    if &r[..4] != b"regi" || crc32c(&r) != stored {
        return None;
    }
    let mut bat = None;
    let mut meta = None;
    for i in 0..bytes::le32(&r, 8).ok()?.min(2047) as usize {
        let at = 16 + i * 32;
        let g = r.get(at..at + 16)?;
        if g == BAT_REGION.to_bytes() {
            bat = bytes::le64(&r, at + 16).ok();
        } else if g == METADATA_REGION.to_bytes() {
            meta = bytes::le64(&r, at + 16).ok();
        }
    }
    // Checked: a hostile offset near u64::MAX must not overflow the range.
    let m = bytes::slice(head, usize::try_from(meta?).ok()?, METADATA_LENGTH as usize).ok()?;
    if &m[..8] != b"metadata" {
        return None;
    }
    let n = bytes::le16(m, 10).ok()? as usize;
    let (mut size, mut block, mut sector) = (None, None, None);
    for i in 0..n.min(2047) {
        let at = 32 + i * 32;
        let g = m.get(at..at + 16)?;
        let off = bytes::le32(m, at + 16).ok()? as usize;
        if g == VIRTUAL_DISK_SIZE.to_bytes() {
            size = bytes::le64(m, off).ok();
        } else if g == FILE_PARAMETERS.to_bytes() {
            block = bytes::le32(m, off).ok();
        } else if g == LOGICAL_SECTOR_SIZE.to_bytes() {
            sector = bytes::le32(m, off).ok();
        }
    }
    Some(VhdxSummary {
        virtual_size: size?,
        block_size: block?,
        logical_sector: sector?,
        bat_offset: bat?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn geometry() {
        let g = VhdxGeometry::new(512 * MIB, 512);
        assert_eq!(g.chunk_ratio(), 2048);
        assert_eq!(g.data_blocks(), 256);
        assert_eq!(g.bat_entries(), 256);
        assert_eq!(g.payload_offset(), 4 * MIB);
        let big = VhdxGeometry::new(2049 * 2 * MIB + 1, 512);
        assert_eq!(big.data_blocks(), 2050);
        assert_eq!(big.bat_entries(), 2051);
        assert_eq!(big.bat_index(2048), 2049);
        // 64 GiB: 32768 blocks + 15 bitmap entries, 256 KiB of BAT in a 1 MiB region.
        let g = VhdxGeometry::new(64 << 30, 512);
        assert_eq!(g.bat_entries(), 32768 + 15);
        assert_eq!(g.bat_length(), MIB);
        assert_eq!(bat_entry(PAYLOAD_BLOCK_FULLY_PRESENT, 5 * MIB), 6 | (5 << 20));
    }

    #[test]
    fn structures_parse_back() {
        let g = VhdxGeometry::new(300 * MIB, 512);
        let ids = VhdxIds {
            file_write: Guid::from_random_bytes([1; 16]),
            data_write: Guid::from_random_bytes([2; 16]),
            disk_id: Guid::from_random_bytes([3; 16]),
        };
        let mut file = alloc::vec![0u8; 4 * MIB as usize];
        for (at, b) in structures(&g, &ids) {
            file[at as usize..at as usize + b.len()].copy_from_slice(&b);
        }
        let s = parse_summary(&file).unwrap();
        assert_eq!(
            s,
            VhdxSummary {
                virtual_size: 300 * MIB,
                block_size: 2 << 20,
                logical_sector: 512,
                bat_offset: BAT_OFFSET
            }
        );
        file[64 * 1024 + 100] ^= 1;
        assert!(parse_summary(&file).is_none());
    }
}
