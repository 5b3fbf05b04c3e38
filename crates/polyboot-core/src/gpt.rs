//! GUID Partition Table (UEFI spec, chapter 5.3): parse, validate, build and write.
//!
//! On disk, for a disk of N logical sectors with the standard 128 × 128-byte entry array
//! (16 KiB: 32 sectors of 512 bytes, 4 sectors of 4096 bytes):
//!
//! ```text
//! LBA 0            protective MBR (see crate::mbr; not written by this module)
//! LBA 1            primary header
//! LBA 2..          primary entry array
//! first..=last     usable area
//! N-1-E..N-1       backup entry array (E = entry array sectors)
//! LBA N-1          backup header
//! ```
//!
//! Header layout (little-endian): 0 signature "EFI PART", 8 revision, 12 header size,
//! 16 header CRC32, 20 reserved, 24 my LBA, 32 alternate LBA, 40 first usable LBA,
//! 48 last usable LBA, 56 disk GUID, 72 entry array LBA, 80 entry count, 84 entry size,
//! 88 entry array CRC32. Entry layout: 0 type GUID, 16 unique GUID, 32 first LBA,
//! 40 last LBA (inclusive), 48 attributes, 56 name (36 UTF-16LE units).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::block::{IoError, ReadAt, WriteAt};
use crate::bytes::{self, Fields};
use crate::crc32::crc32;
use crate::guid::Guid;

pub const SIGNATURE: [u8; 8] = *b"EFI PART";
/// Revision 1.0, the only one defined.
pub const REVISION_1_0: u32 = 0x0001_0000;
pub const HEADER_SIZE: u32 = 92;
/// Entry size and count of tables we build.
pub const ENTRY_SIZE: u32 = 128;
pub const ENTRY_COUNT: u32 = 128;
/// Partition names hold up to 36 UTF-16 code units.
pub const NAME_UNITS: usize = 36;
/// Largest entry array the parser accepts. Real tables use 16 KiB; the cap keeps a hostile
/// entry count from making us allocate (or read) gigabytes.
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 1 << 20;

const PRIMARY_HEADER_LBA: u64 = 1;
const PRIMARY_ENTRIES_LBA: u64 = 2;

/// Partition attribute bits defined by the UEFI spec.
pub mod attributes {
    /// The platform needs this partition to function; do not delete it.
    pub const REQUIRED_PARTITION: u64 = 1 << 0;
    /// Firmware must not produce a BlockIo for it.
    pub const NO_BLOCK_IO_PROTOCOL: u64 = 1 << 1;
    /// Legacy BIOS bootable (used by some BIOS boot loaders on GPT).
    pub const LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;
}

/// Logical sector sizes polyboot handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectorSize {
    B512,
    B4096,
}

impl SectorSize {
    pub const fn bytes(self) -> u64 {
        match self {
            SectorSize::B512 => 512,
            SectorSize::B4096 => 4096,
        }
    }

    pub fn from_bytes(bytes: u64) -> Option<SectorSize> {
        match bytes {
            512 => Some(SectorSize::B512),
            4096 => Some(SectorSize::B4096),
            _ => None,
        }
    }

    /// Sectors of the standard 16 KiB entry array.
    pub const fn standard_entry_array_sectors(self) -> u64 {
        (ENTRY_COUNT as u64 * ENTRY_SIZE as u64).div_ceil(self.bytes())
    }
}

impl fmt::Display for SectorSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bytes())
    }
}

/// Which of the two headers something came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    Primary,
    Backup,
}

impl fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderKind::Primary => "primary",
            HeaderKind::Backup => "backup",
        })
    }
}

/// Everything that can be wrong with a GPT or with a request to build one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GptError {
    Io(IoError),
    /// The disk cannot hold two headers, two entry arrays and one usable sector.
    DiskTooSmall {
        sectors: u64,
    },
    /// The device's size in sectors is not the one the table was built for.
    DeviceSizeMismatch {
        table_sectors: u64,
        device_sectors: u64,
    },
    BadSignature,
    UnsupportedRevision(u32),
    BadHeaderSize(u32),
    HeaderCrcMismatch {
        stored: u32,
        computed: u32,
    },
    /// A header found somewhere it does not claim to be.
    WrongMyLba {
        expected: u64,
        found: u64,
    },
    BadAlternateLba(u64),
    BadUsableRange {
        first: u64,
        last: u64,
    },
    /// Entry size not 128 × 2^n, zero entries, or an array larger than [`MAX_ENTRY_ARRAY_BYTES`].
    BadEntryGeometry {
        count: u32,
        size: u32,
    },
    /// The entry array is off the disk or overlaps a header or the usable area.
    EntryArrayMisplaced {
        lba: u64,
        sectors: u64,
    },
    EntryArrayCrcMismatch {
        stored: u32,
        computed: u32,
    },
    /// Partition numbers are 1-based slot numbers.
    PartitionOutOfRange {
        number: u32,
        first_lba: u64,
        last_lba: u64,
    },
    PartitionsOverlap {
        first: u32,
        second: u32,
    },
    /// A slot number that does not exist in the entry array.
    NoSuchSlot(u32),
    /// A partition's unique GUID (or the disk GUID, number 0) is zero or used twice.
    BadUniqueGuid {
        number: u32,
    },
    /// The partition name is longer than 36 UTF-16 units or contains NUL.
    BadName,
    /// Both headers exist but disagree (disk GUID, usable range, entry array).
    HeadersDisagree,
    /// Neither header is usable.
    NoValidTable {
        primary: Box<GptError>,
        backup: Box<GptError>,
    },
}

crate::block::error_with_io!(GptError);

impl fmt::Display for GptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GptError::Io(e) => write!(f, "{e}"),
            GptError::DiskTooSmall { sectors } => {
                write!(f, "disk of {sectors} sectors is too small for a GPT")
            }
            GptError::DeviceSizeMismatch { table_sectors, device_sectors } => write!(
                f,
                "partition table is for {table_sectors} sectors but the device has {device_sectors}"
            ),
            GptError::BadSignature => f.write_str("no \"EFI PART\" signature"),
            GptError::UnsupportedRevision(r) => write!(f, "unsupported GPT revision 0x{r:08X}"),
            GptError::BadHeaderSize(s) => write!(f, "invalid GPT header size {s}"),
            GptError::HeaderCrcMismatch { stored, computed } => {
                write!(f, "GPT header CRC is 0x{stored:08X}, expected 0x{computed:08X}")
            }
            GptError::WrongMyLba { expected, found } => {
                write!(f, "GPT header at LBA {expected} says it is at LBA {found}")
            }
            GptError::BadAlternateLba(lba) => {
                write!(f, "GPT alternate header LBA {lba} is invalid")
            }
            GptError::BadUsableRange { first, last } => {
                write!(f, "GPT usable range {first}..={last} is invalid")
            }
            GptError::BadEntryGeometry { count, size } => {
                write!(f, "GPT entry array of {count} entries of {size} bytes is not acceptable")
            }
            GptError::EntryArrayMisplaced { lba, sectors } => {
                write!(f, "GPT entry array at LBA {lba} ({sectors} sectors) is misplaced")
            }
            GptError::EntryArrayCrcMismatch { stored, computed } => {
                write!(f, "GPT entry array CRC is 0x{stored:08X}, expected 0x{computed:08X}")
            }
            GptError::PartitionOutOfRange { number, first_lba, last_lba } => write!(
                f,
                "GPT partition {number} ({first_lba}..={last_lba}) is outside the usable area"
            ),
            GptError::PartitionsOverlap { first, second } => {
                write!(f, "GPT partitions {first} and {second} overlap")
            }
            GptError::NoSuchSlot(n) => write!(f, "GPT has no partition slot {n}"),
            GptError::BadUniqueGuid { number: 0 } => f.write_str("GPT disk GUID is zero"),
            GptError::BadUniqueGuid { number } => {
                write!(f, "GPT partition {number} has a zero or duplicate GUID")
            }
            GptError::BadName => {
                f.write_str("partition name must be at most 36 UTF-16 units without NUL")
            }
            GptError::HeadersDisagree => f.write_str("primary and backup GPT headers disagree"),
            GptError::NoValidTable { primary, backup } => {
                write!(f, "no valid GPT: primary: {primary}; backup: {backup}")
            }
        }
    }
}

/// A partition name: 36 UTF-16 units, NUL-padded. Kept raw so foreign names round-trip exactly.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionName([u16; NAME_UNITS]);

impl PartitionName {
    pub const EMPTY: PartitionName = PartitionName([0; NAME_UNITS]);

    pub fn new(name: &str) -> Result<PartitionName, GptError> {
        let mut units = [0u16; NAME_UNITS];
        for (i, unit) in name.encode_utf16().enumerate() {
            if unit == 0 || i == NAME_UNITS {
                return Err(GptError::BadName);
            }
            units[i] = unit;
        }
        Ok(PartitionName(units))
    }

    pub fn from_units(units: [u16; NAME_UNITS]) -> PartitionName {
        PartitionName(units)
    }

    /// The units up to the first NUL.
    pub fn units(&self) -> &[u16] {
        let len = self.0.iter().position(|&u| u == 0).unwrap_or(NAME_UNITS);
        &self.0[..len]
    }

    /// The name as text; unpaired surrogates become U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        char::decode_utf16(self.units().iter().copied())
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
}

impl fmt::Display for PartitionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in char::decode_utf16(self.units().iter().copied()) {
            fmt::Write::write_char(f, c.unwrap_or(char::REPLACEMENT_CHARACTER))?;
        }
        Ok(())
    }
}

impl fmt::Debug for PartitionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

/// One used partition entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptPartition {
    pub type_guid: Guid,
    pub unique_guid: Guid,
    pub first_lba: u64,
    /// Inclusive.
    pub last_lba: u64,
    pub attributes: u64,
    pub name: PartitionName,
}

impl GptPartition {
    /// Number of sectors (0 for an inverted, invalid entry).
    pub fn sectors(&self) -> u64 {
        if self.last_lba < self.first_lba {
            0
        } else {
            self.last_lba - self.first_lba + 1
        }
    }

    /// Decode one entry (the first 128 bytes of its slot in the entry array); `None` for an
    /// unused entry (zero type GUID).
    fn decode(raw: &[u8; ENTRY_SIZE as usize]) -> Option<GptPartition> {
        let type_guid = Guid(raw.bytes_at::<0, 16>());
        if type_guid.is_zero() {
            return None;
        }
        let mut name = [0u16; NAME_UNITS];
        let name_bytes: [u8; 2 * NAME_UNITS] = raw.bytes_at::<56, { 2 * NAME_UNITS }>();
        for (unit, v) in name.iter_mut().zip(bytes::utf16le_units(&name_bytes)) {
            *unit = v;
        }
        Some(GptPartition {
            type_guid,
            unique_guid: Guid(raw.bytes_at::<16, 16>()),
            first_lba: raw.le64::<32>(),
            last_lba: raw.le64::<40>(),
            attributes: raw.le64::<48>(),
            name: PartitionName(name),
        })
    }

    fn encode(&self, out: &mut [u8]) {
        out[0..16].copy_from_slice(&self.type_guid.0);
        out[16..32].copy_from_slice(&self.unique_guid.0);
        out[32..40].copy_from_slice(&self.first_lba.to_le_bytes());
        out[40..48].copy_from_slice(&self.last_lba.to_le_bytes());
        out[48..56].copy_from_slice(&self.attributes.to_le_bytes());
        for (i, unit) in self.name.0.iter().enumerate() {
            out[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
        }
    }
}

/// A GPT header as stored. The header CRC is not kept: it is checked on parse and computed on
/// encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptHeader {
    pub revision: u32,
    pub header_size: u32,
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    pub disk_guid: Guid,
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
    pub entries_crc32: u32,
}

impl GptHeader {
    /// Decode and check what a header can check about itself: signature, revision, size, CRC.
    /// `sector` is one logical sector.
    pub fn parse(sector: &[u8]) -> Result<GptHeader, GptError> {
        let Ok(h) = bytes::chunk::<{ HEADER_SIZE as usize }>(sector, 0) else {
            return Err(GptError::BadHeaderSize(sector.len() as u32));
        };
        if h[..8] != SIGNATURE {
            return Err(GptError::BadSignature);
        }
        let revision = h.le32::<8>();
        if revision >> 16 != 1 {
            return Err(GptError::UnsupportedRevision(revision));
        }
        let header_size = h.le32::<12>();
        if header_size < HEADER_SIZE || header_size as usize > sector.len() {
            return Err(GptError::BadHeaderSize(header_size));
        }
        let stored = h.le32::<16>();
        let mut copy = Vec::from(&sector[..header_size as usize]);
        copy[16..20].fill(0);
        let computed = crc32(&copy);
        if stored != computed {
            return Err(GptError::HeaderCrcMismatch { stored, computed });
        }
        Ok(GptHeader {
            revision,
            header_size,
            my_lba: h.le64::<24>(),
            alternate_lba: h.le64::<32>(),
            first_usable_lba: h.le64::<40>(),
            last_usable_lba: h.le64::<48>(),
            disk_guid: Guid(h.bytes_at::<56, 16>()),
            entries_lba: h.le64::<72>(),
            entry_count: h.le32::<80>(),
            entry_size: h.le32::<84>(),
            entries_crc32: h.le32::<88>(),
        })
    }

    /// One sector holding this header (with a fresh CRC) followed by zeros. Always writes the
    /// 92-byte revision 1.0 header.
    pub fn encode(&self, sector_size: SectorSize) -> Vec<u8> {
        let mut s = vec![0u8; sector_size.bytes() as usize];
        s[..8].copy_from_slice(&SIGNATURE);
        s[8..12].copy_from_slice(&REVISION_1_0.to_le_bytes());
        s[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        s[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        s[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        s[40..48].copy_from_slice(&self.first_usable_lba.to_le_bytes());
        s[48..56].copy_from_slice(&self.last_usable_lba.to_le_bytes());
        s[56..72].copy_from_slice(&self.disk_guid.0);
        s[72..80].copy_from_slice(&self.entries_lba.to_le_bytes());
        s[80..84].copy_from_slice(&self.entry_count.to_le_bytes());
        s[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        s[88..92].copy_from_slice(&self.entries_crc32.to_le_bytes());
        let crc = crc32(&s[..HEADER_SIZE as usize]);
        s[16..20].copy_from_slice(&crc.to_le_bytes());
        s
    }

    /// Bytes of the entry array, if its geometry is acceptable.
    fn entry_array_bytes(&self) -> Result<u64, GptError> {
        let bad = GptError::BadEntryGeometry { count: self.entry_count, size: self.entry_size };
        let size_ok = self.entry_size >= ENTRY_SIZE && self.entry_size.is_power_of_two();
        let bytes = self.entry_count as u64 * self.entry_size as u64;
        if !size_ok || self.entry_count == 0 || bytes > MAX_ENTRY_ARRAY_BYTES {
            return Err(bad);
        }
        Ok(bytes)
    }

    /// Check the header's LBAs against a disk of `disk_sectors` and the LBA it was read from.
    /// Returns the entry array size in bytes.
    fn check_placement(
        &self,
        read_from_lba: u64,
        disk_sectors: u64,
        sector_size: SectorSize,
    ) -> Result<u64, GptError> {
        if self.my_lba != read_from_lba {
            return Err(GptError::WrongMyLba { expected: read_from_lba, found: self.my_lba });
        }
        if self.alternate_lba == 0
            || self.alternate_lba == self.my_lba
            || self.alternate_lba >= disk_sectors
        {
            return Err(GptError::BadAlternateLba(self.alternate_lba));
        }
        let (first, last) = (self.first_usable_lba, self.last_usable_lba);
        let headers_inside = |lba: u64| first <= lba && lba <= last;
        if first == 0
            || first > last
            || last >= disk_sectors
            || headers_inside(self.my_lba)
            || headers_inside(self.alternate_lba)
        {
            return Err(GptError::BadUsableRange { first, last });
        }
        let bytes = self.entry_array_bytes()?;
        let sectors = bytes.div_ceil(sector_size.bytes());
        let misplaced = GptError::EntryArrayMisplaced { lba: self.entries_lba, sectors };
        let end = self.entries_lba.checked_add(sectors).ok_or(misplaced.clone())?;
        let contains = |lba: u64| self.entries_lba <= lba && lba < end;
        if self.entries_lba == 0
            || end > disk_sectors
            || contains(self.my_lba)
            || contains(self.alternate_lba)
            || (self.entries_lba <= last && first < end)
        {
            return Err(misplaced);
        }
        Ok(bytes)
    }
}

/// A partition table: geometry plus entry slots. Slot `i` is partition number `i + 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    pub sector_size: SectorSize,
    /// Size of the disk in logical sectors; the backup header sits in the last one.
    pub disk_sectors: u64,
    pub disk_guid: Guid,
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    /// `None` is an unused slot. Written as 128-byte entries.
    pub entries: Vec<Option<GptPartition>>,
}

impl Gpt {
    /// An empty table with the standard geometry: 128 entries, usable area from right after
    /// the primary entry array to right before the backup entry array.
    pub fn new(
        sector_size: SectorSize,
        disk_sectors: u64,
        disk_guid: Guid,
    ) -> Result<Gpt, GptError> {
        let array = sector_size.standard_entry_array_sectors();
        let first_usable_lba = PRIMARY_ENTRIES_LBA + array;
        // Last usable sits before the backup array and the backup header.
        let last_usable_lba = disk_sectors
            .checked_sub(array + 2)
            .filter(|&last| last >= first_usable_lba)
            .ok_or(GptError::DiskTooSmall { sectors: disk_sectors })?;
        Ok(Gpt {
            sector_size,
            disk_sectors,
            disk_guid,
            first_usable_lba,
            last_usable_lba,
            entries: vec![None; ENTRY_COUNT as usize],
        })
    }

    /// Sectors of the entry array as this table writes it.
    pub fn entry_array_sectors(&self) -> u64 {
        (self.entries.len() as u64 * ENTRY_SIZE as u64).div_ceil(self.sector_size.bytes())
    }

    pub fn backup_header_lba(&self) -> u64 {
        self.disk_sectors.saturating_sub(1)
    }

    pub fn backup_entries_lba(&self) -> u64 {
        self.backup_header_lba().saturating_sub(self.entry_array_sectors())
    }

    /// Used partitions with their numbers.
    pub fn partitions(&self) -> impl Iterator<Item = (u32, &GptPartition)> {
        self.entries.iter().enumerate().filter_map(|(i, p)| p.as_ref().map(|p| (i as u32 + 1, p)))
    }

    pub fn partition(&self, number: u32) -> Option<&GptPartition> {
        let index = (number as usize).checked_sub(1)?;
        self.entries.get(index)?.as_ref()
    }

    /// Put `partition` into slot `number` (1-based), refusing anything that would make the
    /// table invalid.
    pub fn set_partition(&mut self, number: u32, partition: GptPartition) -> Result<(), GptError> {
        let index = (number as usize)
            .checked_sub(1)
            .filter(|&i| i < self.entries.len())
            .ok_or(GptError::NoSuchSlot(number))?;
        let previous = self.entries[index].replace(partition);
        let result = self.check_partitions();
        if result.is_err() {
            self.entries[index] = previous;
        }
        result
    }

    /// Every used entry is non-empty, inside the usable area, and disjoint from the others.
    pub fn check_partitions(&self) -> Result<(), GptError> {
        let mut spans: Vec<(u64, u64, u32)> = Vec::new();
        for (number, p) in self.partitions() {
            if p.first_lba > p.last_lba
                || p.first_lba < self.first_usable_lba
                || p.last_lba > self.last_usable_lba
            {
                return Err(GptError::PartitionOutOfRange {
                    number,
                    first_lba: p.first_lba,
                    last_lba: p.last_lba,
                });
            }
            spans.push((p.first_lba, p.last_lba, number));
        }
        // Sorted by start, any overlap shows up between neighbours.
        spans.sort_unstable();
        for pair in spans.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.0 <= a.1 {
                let (first, second) = if a.2 < b.2 { (a.2, b.2) } else { (b.2, a.2) };
                return Err(GptError::PartitionsOverlap { first, second });
            }
        }
        Ok(())
    }

    /// Everything [`write`] needs: geometry that fits the disk, partitions valid, GUIDs
    /// non-zero and unique.
    pub fn validate(&self) -> Result<(), GptError> {
        let count = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        if count == 0 || count as u64 * ENTRY_SIZE as u64 > MAX_ENTRY_ARRAY_BYTES {
            return Err(GptError::BadEntryGeometry { count, size: ENTRY_SIZE });
        }
        let array = self.entry_array_sectors();
        if self.disk_sectors.checked_mul(self.sector_size.bytes()).is_none()
            || self.disk_sectors < 2 * (array + 1) + 2
        {
            return Err(GptError::DiskTooSmall { sectors: self.disk_sectors });
        }
        let (first, last) = (self.first_usable_lba, self.last_usable_lba);
        if first < PRIMARY_ENTRIES_LBA + array || last >= self.backup_entries_lba() || first > last
        {
            return Err(GptError::BadUsableRange { first, last });
        }
        self.check_partitions()?;
        if self.disk_guid.is_zero() {
            return Err(GptError::BadUniqueGuid { number: 0 });
        }
        let mut guids: Vec<(Guid, u32)> =
            self.partitions().map(|(n, p)| (p.unique_guid, n)).collect();
        guids.sort_unstable();
        for (i, &(guid, number)) in guids.iter().enumerate() {
            if guid.is_zero() || guid == self.disk_guid || (i > 0 && guids[i - 1].0 == guid) {
                return Err(GptError::BadUniqueGuid { number });
            }
        }
        Ok(())
    }

    /// The entry array as written: 128-byte entries padded to whole sectors.
    pub fn encode_entries(&self) -> Vec<u8> {
        let mut out = vec![0u8; (self.entry_array_sectors() * self.sector_size.bytes()) as usize];
        for (i, slot) in self.entries.iter().enumerate() {
            if let Some(p) = slot {
                let at = i * ENTRY_SIZE as usize;
                p.encode(&mut out[at..at + ENTRY_SIZE as usize]);
            }
        }
        out
    }

    /// CRC of the entry array (the entries only, not the sector padding).
    pub fn entries_crc32(&self) -> u32 {
        let bytes = self.encode_entries();
        crc32(&bytes[..self.entries.len() * ENTRY_SIZE as usize])
    }

    /// The primary or backup header describing this table.
    pub fn header(&self, kind: HeaderKind) -> GptHeader {
        let (my_lba, alternate_lba, entries_lba) = match kind {
            HeaderKind::Primary => {
                (PRIMARY_HEADER_LBA, self.backup_header_lba(), PRIMARY_ENTRIES_LBA)
            }
            HeaderKind::Backup => {
                (self.backup_header_lba(), PRIMARY_HEADER_LBA, self.backup_entries_lba())
            }
        };
        GptHeader {
            revision: REVISION_1_0,
            header_size: HEADER_SIZE,
            my_lba,
            alternate_lba,
            first_usable_lba: self.first_usable_lba,
            last_usable_lba: self.last_usable_lba,
            disk_guid: self.disk_guid,
            entries_lba,
            entry_count: self.entries.len() as u32,
            entry_size: ENTRY_SIZE,
            entries_crc32: self.entries_crc32(),
        }
    }
}

/// Write primary and backup headers and entry arrays (not the protective MBR). The device
/// must have exactly `gpt.disk_sectors` sectors so the backup lands at its real end.
pub fn write<D: WriteAt + ?Sized>(dev: &mut D, gpt: &Gpt) -> Result<(), GptError> {
    gpt.validate()?;
    let ss = gpt.sector_size.bytes();
    let device_sectors = dev.size() / ss;
    if device_sectors != gpt.disk_sectors {
        return Err(GptError::DeviceSizeMismatch {
            table_sectors: gpt.disk_sectors,
            device_sectors,
        });
    }
    let entries = gpt.encode_entries();
    // Backup first: if we are interrupted, the old primary or the new backup is intact.
    dev.write_at(gpt.backup_entries_lba() * ss, &entries)?;
    dev.write_at(
        gpt.backup_header_lba() * ss,
        &gpt.header(HeaderKind::Backup).encode(gpt.sector_size),
    )?;
    dev.write_at(PRIMARY_ENTRIES_LBA * ss, &entries)?;
    dev.write_at(
        PRIMARY_HEADER_LBA * ss,
        &gpt.header(HeaderKind::Primary).encode(gpt.sector_size),
    )?;
    dev.flush()?;
    Ok(())
}

/// The outcome of [`read`]: the table, where it came from, and what is wrong with the other
/// copy (a caller may offer to repair it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptRead {
    pub gpt: Gpt,
    /// The header the table was taken from.
    pub header: GptHeader,
    pub source: HeaderKind,
    /// `Some` when the primary copy is unusable (then `source` is `Backup`).
    pub primary_problem: Option<GptError>,
    /// `Some` when the backup copy is unusable or disagrees with the primary.
    pub backup_problem: Option<GptError>,
}

/// Read and validate the GPT of `dev`, whose logical sectors are `sector_size` bytes. Uses
/// the primary copy when valid, else the backup in the last sector.
pub fn read<D: ReadAt + ?Sized>(dev: &mut D, sector_size: SectorSize) -> Result<GptRead, GptError> {
    let disk_sectors = dev.size() / sector_size.bytes();
    if disk_sectors < 2 * (1 + 1) + 2 {
        return Err(GptError::DiskTooSmall { sectors: disk_sectors });
    }
    match read_copy(dev, sector_size, PRIMARY_HEADER_LBA, disk_sectors) {
        Ok((header, gpt)) => {
            let backup = read_copy(dev, sector_size, header.alternate_lba, disk_sectors).and_then(
                |(backup, _)| {
                    if copies_agree(&header, &backup) {
                        Ok(())
                    } else {
                        Err(GptError::HeadersDisagree)
                    }
                },
            );
            Ok(GptRead {
                gpt,
                header,
                source: HeaderKind::Primary,
                primary_problem: None,
                backup_problem: backup.err(),
            })
        }
        Err(primary) => match read_copy(dev, sector_size, disk_sectors - 1, disk_sectors) {
            Ok((header, gpt)) => Ok(GptRead {
                gpt,
                header,
                source: HeaderKind::Backup,
                primary_problem: Some(primary),
                backup_problem: None,
            }),
            Err(backup) => {
                Err(GptError::NoValidTable { primary: Box::new(primary), backup: Box::new(backup) })
            }
        },
    }
}

fn copies_agree(primary: &GptHeader, backup: &GptHeader) -> bool {
    backup.alternate_lba == primary.my_lba
        && backup.disk_guid == primary.disk_guid
        && backup.first_usable_lba == primary.first_usable_lba
        && backup.last_usable_lba == primary.last_usable_lba
        && backup.entry_count == primary.entry_count
        && backup.entry_size == primary.entry_size
        && backup.entries_crc32 == primary.entries_crc32
}

/// Read one header at `lba` and its entry array, checking everything.
fn read_copy<D: ReadAt + ?Sized>(
    dev: &mut D,
    sector_size: SectorSize,
    lba: u64,
    disk_sectors: u64,
) -> Result<(GptHeader, Gpt), GptError> {
    let ss = sector_size.bytes();
    if lba >= disk_sectors {
        return Err(GptError::BadAlternateLba(lba));
    }
    let mut sector = vec![0u8; ss as usize];
    dev.read_at(lba * ss, &mut sector)?;
    let header = GptHeader::parse(&sector)?;
    let array_bytes = header.check_placement(lba, disk_sectors, sector_size)?;

    // Bounded by MAX_ENTRY_ARRAY_BYTES in check_placement.
    let mut array = vec![0u8; array_bytes as usize];
    dev.read_at(header.entries_lba * ss, &mut array)?;
    let computed = crc32(&array);
    if computed != header.entries_crc32 {
        return Err(GptError::EntryArrayCrcMismatch { stored: header.entries_crc32, computed });
    }
    let entries = array
        .chunks_exact(header.entry_size as usize)
        // Every slot holds an entry: entry_size >= ENTRY_SIZE (check_placement).
        .map(|slot| bytes::chunk(slot, 0).ok().and_then(GptPartition::decode))
        .collect();
    let gpt = Gpt {
        sector_size,
        disk_sectors,
        disk_guid: header.disk_guid,
        first_usable_lba: header.first_usable_lba,
        last_usable_lba: header.last_usable_lba,
        entries,
    };
    gpt.check_partitions()?;
    Ok((header, gpt))
}

/// Guess the logical sector size of a device holding a GPT: a valid header at LBA 1 (or in the
/// last sector) for 512 or 4096 bytes, else a bare "EFI PART" signature at byte 512 or 4096.
/// `None` when there is no GPT at all.
pub fn detect_sector_size<D: ReadAt + ?Sized>(dev: &mut D) -> Result<Option<SectorSize>, IoError> {
    let size = dev.size();
    let candidates = [SectorSize::B512, SectorSize::B4096];
    for ss in candidates {
        let sectors = size / ss.bytes();
        for lba in [PRIMARY_HEADER_LBA, sectors.saturating_sub(1)] {
            if lba == 0 || lba >= sectors {
                continue;
            }
            let mut sector = vec![0u8; ss.bytes() as usize];
            dev.read_at(lba * ss.bytes(), &mut sector)?;
            if GptHeader::parse(&sector).is_ok_and(|h| h.my_lba == lba) {
                return Ok(Some(ss));
            }
        }
    }
    for ss in candidates {
        let mut signature = [0u8; 8];
        if ss.bytes() + 8 <= size {
            dev.read_at(ss.bytes(), &mut signature)?;
            if signature == SIGNATURE {
                return Ok(Some(ss));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use crate::bytes::{le32, le64};
    use std::string::ToString;

    const MIB: u64 = 1 << 20;

    fn guid(n: u8) -> Guid {
        Guid::from_random_bytes([n; 16])
    }

    fn part(type_guid: Guid, n: u8, first: u64, last: u64, name: &str) -> GptPartition {
        GptPartition {
            type_guid,
            unique_guid: guid(n),
            first_lba: first,
            last_lba: last,
            attributes: 0,
            name: PartitionName::new(name).unwrap(),
        }
    }

    /// A 64 MiB disk with two partitions, written to memory.
    fn sample(ss: SectorSize) -> (MemDevice, Gpt) {
        let sectors = 64 * MIB / ss.bytes();
        let mib = MIB / ss.bytes();
        let mut gpt = Gpt::new(ss, sectors, guid(1)).unwrap();
        gpt.set_partition(1, part(Guid::MICROSOFT_BASIC_DATA, 2, mib, 31 * mib - 1, "POLYBOOT"))
            .unwrap();
        let mut boot = part(Guid::EFI_SYSTEM, 3, 31 * mib, 63 * mib - 1, "POLYBOOT-EFI");
        boot.attributes = attributes::REQUIRED_PARTITION;
        gpt.set_partition(2, boot).unwrap();
        let mut dev = MemDevice::new((64 * MIB) as usize);
        write(&mut dev, &gpt).unwrap();
        (dev, gpt)
    }

    #[test]
    fn standard_geometry() {
        let g = Gpt::new(SectorSize::B512, 131_072, guid(1)).unwrap();
        assert_eq!((g.first_usable_lba, g.last_usable_lba), (34, 131_038));
        assert_eq!((g.backup_entries_lba(), g.backup_header_lba()), (131_039, 131_071));
        let g = Gpt::new(SectorSize::B4096, 16_384, guid(1)).unwrap();
        assert_eq!((g.first_usable_lba, g.last_usable_lba), (6, 16_378));
        assert_eq!((g.backup_entries_lba(), g.backup_header_lba()), (16_379, 16_383));
        assert_eq!(Gpt::new(SectorSize::B512, 68, guid(1)).unwrap().last_usable_lba, 34);
        assert_eq!(
            Gpt::new(SectorSize::B512, 67, guid(1)),
            Err(GptError::DiskTooSmall { sectors: 67 })
        );
        assert_eq!(
            Gpt::new(SectorSize::B4096, 0, guid(1)),
            Err(GptError::DiskTooSmall { sectors: 0 })
        );
    }

    #[test]
    fn round_trip_512_and_4096() {
        for ss in [SectorSize::B512, SectorSize::B4096] {
            let (mut dev, gpt) = sample(ss);
            let got = read(&mut dev, ss).unwrap();
            assert_eq!(got.gpt, gpt);
            assert_eq!(got.source, HeaderKind::Primary);
            assert_eq!((got.primary_problem, got.backup_problem), (None, None));
            assert_eq!(got.header.entries_lba, 2);
            assert_eq!(got.header.alternate_lba, gpt.disk_sectors - 1);
            assert_eq!(gpt.partition(2).unwrap().name.to_string(), "POLYBOOT-EFI");
            assert_eq!(detect_sector_size(&mut dev), Ok(Some(ss)));
            // Reading with the wrong sector size finds nothing.
            let other = if ss == SectorSize::B512 { SectorSize::B4096 } else { SectorSize::B512 };
            assert!(matches!(read(&mut dev, other), Err(GptError::NoValidTable { .. })));
        }
    }

    #[test]
    fn on_disk_bytes_at_512() {
        let (dev, gpt) = sample(SectorSize::B512);
        let h = &dev.data[512..1024];
        assert_eq!(&h[..8], b"EFI PART");
        assert_eq!(&h[8..16], &[0, 0, 1, 0, 92, 0, 0, 0]);
        assert_eq!(le64(h, 24).unwrap(), 1);
        assert_eq!(le64(h, 32).unwrap(), 131_071);
        assert_eq!(le64(h, 72).unwrap(), 2);
        assert_eq!((le32(h, 80).unwrap(), le32(h, 84).unwrap()), (128, 128));
        // Entry 2 at byte 1024 + 128: type GUID in mixed-endian order.
        assert_eq!(&dev.data[1152..1156], &[0x28, 0x73, 0x2A, 0xC1]);
        assert_eq!(&dev.data[1152 + 56..1152 + 62], &[b'P', 0, b'O', 0, b'L', 0]);
        // Backup entries and header at the end.
        let backup = &dev.data[131_071 * 512..];
        assert_eq!(&backup[..8], b"EFI PART");
        assert_eq!(
            (le64(backup, 24).unwrap(), le64(backup, 32).unwrap(), le64(backup, 72).unwrap()),
            (131_071, 1, 131_039)
        );
        assert_eq!(dev.data[131_039 * 512..131_039 * 512 + 16384], dev.data[1024..1024 + 16384]);
        assert_eq!(
            gpt.header(HeaderKind::Primary).entries_crc32,
            crc32(&dev.data[1024..1024 + 16384])
        );
    }

    #[test]
    fn corrupt_primary_falls_back_to_backup() {
        for ss in [SectorSize::B512, SectorSize::B4096] {
            let (mut dev, gpt) = sample(ss);
            let at = ss.bytes() as usize + 40; // first usable LBA inside the primary header
            dev.data[at] ^= 1;
            let got = read(&mut dev, ss).unwrap();
            assert_eq!(got.source, HeaderKind::Backup);
            assert!(matches!(got.primary_problem, Some(GptError::HeaderCrcMismatch { .. })));
            assert_eq!(got.gpt, gpt);
            assert_eq!(got.header.my_lba, gpt.disk_sectors - 1);
        }
    }

    #[test]
    fn corrupt_primary_entries_fall_back_and_corrupt_backup_is_reported() {
        let (mut dev, gpt) = sample(SectorSize::B512);
        dev.data[1024 + 300] ^= 0x10;
        let got = read(&mut dev, SectorSize::B512).unwrap();
        assert_eq!(got.source, HeaderKind::Backup);
        assert!(matches!(got.primary_problem, Some(GptError::EntryArrayCrcMismatch { .. })));
        assert_eq!(got.gpt, gpt);

        let (mut dev, _) = sample(SectorSize::B512);
        let last = dev.data.len() - 512;
        dev.data[last] = b'X';
        let got = read(&mut dev, SectorSize::B512).unwrap();
        assert_eq!(got.source, HeaderKind::Primary);
        assert_eq!(got.backup_problem, Some(GptError::BadSignature));

        dev.data[512] = b'X';
        assert_eq!(
            read(&mut dev, SectorSize::B512),
            Err(GptError::NoValidTable {
                primary: Box::new(GptError::BadSignature),
                backup: Box::new(GptError::BadSignature)
            })
        );
    }

    /// Rewrite the primary header at 512-byte LBA 1 with `edit` applied and a valid CRC, so the
    /// checks past the CRC are exercised.
    fn with_primary(edit: impl Fn(&mut [u8])) -> MemDevice {
        let (mut dev, _) = sample(SectorSize::B512);
        let h = &mut dev.data[512..1024];
        edit(h);
        h[16..20].fill(0);
        let size = (le32(h, 12).unwrap() as usize).clamp(92, 512);
        let crc = crc32(&h[..size]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        dev
    }

    fn primary_error(edit: impl Fn(&mut [u8])) -> GptError {
        let mut dev = with_primary(edit);
        let got = read(&mut dev, SectorSize::B512).unwrap();
        assert_eq!(got.source, HeaderKind::Backup);
        got.primary_problem.unwrap()
    }

    fn put32(h: &mut [u8], at: usize, v: u32) {
        h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put64(h: &mut [u8], at: usize, v: u64) {
        h[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn hostile_headers_are_rejected() {
        use GptError::*;
        assert_eq!(primary_error(|h| put32(h, 8, 0x0002_0000)), UnsupportedRevision(0x0002_0000));
        assert_eq!(primary_error(|h| put32(h, 12, 91)), BadHeaderSize(91));
        assert_eq!(primary_error(|h| put32(h, 12, 513)), BadHeaderSize(513));
        assert_eq!(primary_error(|h| put32(h, 12, u32::MAX)), BadHeaderSize(u32::MAX));
        assert_eq!(primary_error(|h| put64(h, 24, 5)), WrongMyLba { expected: 1, found: 5 });
        assert_eq!(primary_error(|h| put64(h, 32, u64::MAX)), BadAlternateLba(u64::MAX));
        assert_eq!(primary_error(|h| put64(h, 32, 1)), BadAlternateLba(1));
        assert_eq!(primary_error(|h| put64(h, 40, 0)), BadUsableRange { first: 0, last: 131_038 });
        assert_eq!(
            primary_error(|h| put64(h, 48, 131_072)),
            BadUsableRange { first: 34, last: 131_072 }
        );
        assert_eq!(
            primary_error(|h| put64(h, 40, 131_039)),
            BadUsableRange { first: 131_039, last: 131_038 }
        );
        // Usable area covering a header.
        assert_eq!(
            primary_error(|h| put64(h, 48, 131_071)),
            BadUsableRange { first: 34, last: 131_071 }
        );
        assert_eq!(
            primary_error(|h| put32(h, 80, u32::MAX)),
            BadEntryGeometry { count: u32::MAX, size: 128 }
        );
        assert_eq!(primary_error(|h| put32(h, 80, 0)), BadEntryGeometry { count: 0, size: 128 });
        assert_eq!(primary_error(|h| put32(h, 84, 0)), BadEntryGeometry { count: 128, size: 0 });
        assert_eq!(
            primary_error(|h| put32(h, 84, 129)),
            BadEntryGeometry { count: 128, size: 129 }
        );
        assert_eq!(primary_error(|h| put32(h, 84, 64)), BadEntryGeometry { count: 128, size: 64 });
        assert_eq!(
            primary_error(|h| put32(h, 84, u32::MAX / 2 + 1)),
            BadEntryGeometry { count: 128, size: u32::MAX / 2 + 1 }
        );
        assert_eq!(primary_error(|h| put64(h, 72, 0)), EntryArrayMisplaced { lba: 0, sectors: 32 });
        assert_eq!(primary_error(|h| put64(h, 72, 1)), EntryArrayMisplaced { lba: 1, sectors: 32 });
        assert_eq!(
            primary_error(|h| put64(h, 72, 20)),
            EntryArrayMisplaced { lba: 20, sectors: 32 }
        );
        assert_eq!(
            primary_error(|h| put64(h, 72, u64::MAX - 3)),
            EntryArrayMisplaced { lba: u64::MAX - 3, sectors: 32 }
        );
        assert_eq!(
            primary_error(|h| put64(h, 72, 131_050)),
            EntryArrayMisplaced { lba: 131_050, sectors: 32 }
        );
        // A bigger (valid-geometry) array now overlaps the usable area.
        assert_eq!(
            primary_error(|h| put32(h, 80, 256)),
            EntryArrayMisplaced { lba: 2, sectors: 64 }
        );
        // A header claiming the entries CRC of something else.
        assert!(matches!(
            primary_error(|h| put32(h, 88, 0)),
            EntryArrayCrcMismatch { stored: 0, .. }
        ));
    }

    /// Rewrite entry `index` of both arrays with `edit` applied and fix all CRCs.
    fn with_entry(index: usize, edit: impl Fn(&mut [u8])) -> MemDevice {
        let (mut dev, gpt) = sample(SectorSize::B512);
        let mut entries = gpt.encode_entries();
        edit(&mut entries[index * 128..index * 128 + 128]);
        let crc = crc32(&entries);
        for (header_lba, entries_lba) in
            [(1u64, 2u64), (gpt.backup_header_lba(), gpt.backup_entries_lba())]
        {
            let at = (entries_lba * 512) as usize;
            dev.data[at..at + entries.len()].copy_from_slice(&entries);
            let mut header =
                gpt.header(if header_lba == 1 { HeaderKind::Primary } else { HeaderKind::Backup });
            header.entries_crc32 = crc;
            let at = (header_lba * 512) as usize;
            dev.data[at..at + 512].copy_from_slice(&header.encode(SectorSize::B512));
        }
        dev
    }

    fn entry_error(index: usize, edit: impl Fn(&mut [u8])) -> GptError {
        match read(&mut with_entry(index, edit), SectorSize::B512) {
            Err(GptError::NoValidTable { primary, backup }) => {
                assert_eq!(primary, backup);
                *primary
            }
            other => panic!("expected both copies rejected, got {other:?}"),
        }
    }

    #[test]
    fn hostile_entries_are_rejected() {
        use GptError::*;
        // Partition 1 spans 2048..=63487, partition 2 63488..=129023, usable 34..=131038.
        assert_eq!(
            entry_error(0, |e| put64(e, 32, 33)),
            PartitionOutOfRange { number: 1, first_lba: 33, last_lba: 63_487 }
        );
        assert_eq!(
            entry_error(1, |e| put64(e, 40, 131_039)),
            PartitionOutOfRange { number: 2, first_lba: 63_488, last_lba: 131_039 }
        );
        assert_eq!(
            entry_error(1, |e| put64(e, 40, u64::MAX)),
            PartitionOutOfRange { number: 2, first_lba: 63_488, last_lba: u64::MAX }
        );
        assert_eq!(
            entry_error(0, |e| put64(e, 32, 63_488)),
            PartitionOutOfRange { number: 1, first_lba: 63_488, last_lba: 63_487 }
        );
        assert_eq!(
            entry_error(1, |e| put64(e, 32, 63_487)),
            PartitionsOverlap { first: 1, second: 2 }
        );
        // A copy of partition 1 in slot 100 overlaps it.
        let (_, gpt) = sample(SectorSize::B512);
        let p1 = gpt.encode_entries()[..128].to_vec();
        assert_eq!(
            entry_error(99, |e| e.copy_from_slice(&p1)),
            PartitionsOverlap { first: 1, second: 100 }
        );
        // An entry whose type GUID is zero is unused whatever else it holds.
        let mut dev = with_entry(5, |e| e[16..].fill(0xAB));
        assert_eq!(read(&mut dev, SectorSize::B512).unwrap().gpt.partitions().count(), 2);
    }

    #[test]
    fn tiny_and_odd_devices_do_not_panic() {
        for size in [0usize, 1, 511, 512, 1024, 4095, 4096, 8191, 8192, 33 * 512, 70 * 512] {
            let mut dev = MemDevice::new(size);
            assert!(read(&mut dev, SectorSize::B512).is_err());
            assert!(read(&mut dev, SectorSize::B4096).is_err());
            assert_eq!(detect_sector_size(&mut dev), Ok(None));
        }
        // Random-looking garbage everywhere, including a signature with a broken header.
        let mut dev =
            MemDevice::from_vec((0..2 * MIB as usize).map(|i| (i * 31 % 251) as u8).collect());
        dev.data[512..520].copy_from_slice(b"EFI PART");
        assert!(read(&mut dev, SectorSize::B512).is_err());
        assert_eq!(detect_sector_size(&mut dev), Ok(Some(SectorSize::B512)));
    }

    #[test]
    fn detect_prefers_valid_header_and_finds_backup_only_tables() {
        let (mut dev, gpt) = sample(SectorSize::B4096);
        // A stale 512-byte signature inside LBA 0 must not win over the valid 4K header.
        dev.data[512..520].copy_from_slice(b"EFI PART");
        assert_eq!(detect_sector_size(&mut dev), Ok(Some(SectorSize::B4096)));
        dev.data[4096..8192].fill(0);
        assert_eq!(detect_sector_size(&mut dev), Ok(Some(SectorSize::B4096)));
        assert_eq!(read(&mut dev, SectorSize::B4096).unwrap().gpt, gpt);
    }

    #[test]
    fn building_refuses_invalid_tables() {
        let mut gpt = Gpt::new(SectorSize::B512, 131_072, guid(1)).unwrap();
        assert_eq!(
            gpt.set_partition(1, part(Guid::EFI_SYSTEM, 2, 10, 100, "x")),
            Err(GptError::PartitionOutOfRange { number: 1, first_lba: 10, last_lba: 100 })
        );
        assert_eq!(gpt.partitions().count(), 0, "a refused partition is not kept");
        gpt.set_partition(1, part(Guid::EFI_SYSTEM, 2, 2048, 4095, "x")).unwrap();
        assert_eq!(
            gpt.set_partition(3, part(Guid::EFI_SYSTEM, 3, 4095, 5000, "y")),
            Err(GptError::PartitionsOverlap { first: 1, second: 3 })
        );
        assert_eq!(
            gpt.set_partition(0, part(Guid::EFI_SYSTEM, 3, 5000, 6000, "y")),
            Err(GptError::NoSuchSlot(0))
        );
        assert_eq!(
            gpt.set_partition(129, part(Guid::EFI_SYSTEM, 3, 5000, 6000, "y")),
            Err(GptError::NoSuchSlot(129))
        );
        gpt.set_partition(2, part(Guid::EFI_SYSTEM, 2, 5000, 6000, "dup")).unwrap();
        let mut dev = MemDevice::new(131_072 * 512);
        assert_eq!(write(&mut dev, &gpt), Err(GptError::BadUniqueGuid { number: 2 }));
        gpt.entries[1].as_mut().unwrap().unique_guid = guid(9);
        let mut small = MemDevice::new(131_071 * 512);
        assert_eq!(
            write(&mut small, &gpt),
            Err(GptError::DeviceSizeMismatch { table_sectors: 131_072, device_sectors: 131_071 })
        );
        assert_eq!(write(&mut dev, &gpt), Ok(()));
        gpt.disk_guid = Guid::ZERO;
        assert_eq!(write(&mut dev, &gpt), Err(GptError::BadUniqueGuid { number: 0 }));
    }

    #[test]
    fn partition_names() {
        assert_eq!(PartitionName::new("").unwrap().units(), &[] as &[u16]);
        let long = "x".repeat(36);
        assert_eq!(PartitionName::new(&long).unwrap().to_string(), long);
        assert_eq!(PartitionName::new(&"x".repeat(37)), Err(GptError::BadName));
        assert_eq!(PartitionName::new("a\0b"), Err(GptError::BadName));
        // Characters outside the BMP take two units.
        assert_eq!(PartitionName::new(&"\u{1F600}".repeat(18)).unwrap().units().len(), 36);
        assert_eq!(PartitionName::new(&"\u{1F600}".repeat(19)), Err(GptError::BadName));
        let mut units = [0u16; NAME_UNITS];
        units[0] = 0xD800; // unpaired surrogate
        units[1] = u16::from(b'A');
        assert_eq!(PartitionName::from_units(units).to_string(), "\u{FFFD}A");
    }
}
