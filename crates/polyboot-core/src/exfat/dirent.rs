//! 32-byte directory entries and file entry sets (File + Stream Extension + File Name...).

use super::attributes;
use super::time::Timestamp;
use super::upcase::UpcaseTable;
use crate::bytes::{self, Fields};
use alloc::vec::Vec;

pub(crate) const ENTRY_SIZE: u64 = 32;
pub(crate) type RawEntry = [u8; 32];

pub(crate) const TYPE_END_OF_DIRECTORY: u8 = 0x00;
pub(crate) const TYPE_ALLOCATION_BITMAP: u8 = 0x81;
pub(crate) const TYPE_UPCASE_TABLE: u8 = 0x82;
pub(crate) const TYPE_VOLUME_LABEL: u8 = 0x83;
pub(crate) const TYPE_FILE: u8 = 0x85;
pub(crate) const TYPE_VOLUME_GUID: u8 = 0xA0;
pub(crate) const TYPE_STREAM_EXTENSION: u8 = 0xC0;
pub(crate) const TYPE_FILE_NAME: u8 = 0xC1;

/// EntryType bits.
pub(crate) const IN_USE: u8 = 0x80;
pub(crate) const SECONDARY: u8 = 0x40;
pub(crate) const BENIGN: u8 = 0x20;

/// GeneralSecondaryFlags bits of the Stream Extension.
pub(crate) const FLAG_ALLOCATION_POSSIBLE: u8 = 0x01;
pub(crate) const FLAG_NO_FAT_CHAIN: u8 = 0x02;

pub(crate) const NAME_UNITS_PER_ENTRY: usize = 15;
/// exFAT limits directories to 256 MiB.
pub(crate) const MAX_DIRECTORY_BYTES: u64 = 256 << 20;

/// Where a file's data lives, as recorded in its Stream Extension entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    pub first_cluster: u32,
    pub data_length: u64,
    pub valid_data_length: u64,
    pub no_fat_chain: bool,
}

/// A parsed, checksum-verified file entry set and where it sits on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileSet {
    /// Index of the File entry within its directory.
    pub index: u64,
    pub entries: Vec<RawEntry>,
    /// Device offset of each entry in `entries`.
    pub offsets: Vec<u64>,
    pub name: Vec<u16>,
    pub name_hash: u16,
    pub attributes: u16,
    pub stream: StreamInfo,
}

impl FileSet {
    pub fn is_dir(&self) -> bool {
        self.attributes & attributes::DIRECTORY != 0
    }

    /// Timestamps (created, modified, accessed) from the File entry.
    pub fn times(&self) -> (Timestamp, Timestamp, Timestamp) {
        let e = &self.entries[0];
        (
            Timestamp::decode(e.le32::<8>(), e[20], e[22]),
            Timestamp::decode(e.le32::<12>(), e[21], e[23]),
            Timestamp::decode(e.le32::<16>(), 0, e[24]),
        )
    }

    /// Rewrite the Stream Extension fields in `entries` and recompute the set checksum.
    pub fn set_stream(&mut self, stream: StreamInfo) {
        encode_stream(&mut self.entries[1], &stream);
        self.stream = stream;
        seal(&mut self.entries);
    }
}

/// The SetChecksum over all entries of a set, skipping the checksum field itself.
pub(crate) fn set_checksum(entries: &[RawEntry]) -> u16 {
    let mut sum = 0u16;
    for (n, entry) in entries.iter().enumerate() {
        for (i, &byte) in entry.iter().enumerate() {
            if n == 0 && (i == 2 || i == 3) {
                continue;
            }
            sum = sum.rotate_right(1).wrapping_add(u16::from(byte));
        }
    }
    sum
}

/// Store the set checksum in the primary entry.
pub(crate) fn seal(entries: &mut [RawEntry]) {
    let sum = set_checksum(entries);
    entries[0][2..4].copy_from_slice(&sum.to_le_bytes());
}

pub(crate) fn name_entry_count(name_units: usize) -> usize {
    name_units.div_ceil(NAME_UNITS_PER_ENTRY)
}

fn encode_stream(e: &mut RawEntry, s: &StreamInfo) {
    let mut flags = FLAG_ALLOCATION_POSSIBLE;
    if s.no_fat_chain {
        flags |= FLAG_NO_FAT_CHAIN;
    }
    e[1] = flags;
    e[8..16].copy_from_slice(&s.valid_data_length.to_le_bytes());
    e[20..24].copy_from_slice(&s.first_cluster.to_le_bytes());
    e[24..32].copy_from_slice(&s.data_length.to_le_bytes());
}

/// Build a complete, sealed file entry set. `name` must already be validated.
pub(crate) fn build_file_set(
    name: &[u16],
    name_hash: u16,
    attributes: u16,
    time: &Timestamp,
    stream: &StreamInfo,
) -> Vec<RawEntry> {
    let name_entries = name_entry_count(name.len());
    let mut set = alloc::vec![[0u8; 32]; 2 + name_entries];

    let (stamp, increment, utc) = time.encode();
    let file = &mut set[0];
    file[0] = TYPE_FILE;
    file[1] = (1 + name_entries) as u8;
    file[4..6].copy_from_slice(&attributes.to_le_bytes());
    for at in [8, 12, 16] {
        file[at..at + 4].copy_from_slice(&stamp.to_le_bytes());
    }
    file[20] = increment;
    file[21] = increment;
    file[22] = utc;
    file[23] = utc;
    file[24] = utc;

    let stream_entry = &mut set[1];
    stream_entry[0] = TYPE_STREAM_EXTENSION;
    stream_entry[3] = name.len() as u8;
    stream_entry[4..6].copy_from_slice(&name_hash.to_le_bytes());
    encode_stream(stream_entry, stream);

    for (chunk, entry) in name.chunks(NAME_UNITS_PER_ENTRY).zip(set[2..].iter_mut()) {
        entry[0] = TYPE_FILE_NAME;
        for (i, unit) in chunk.iter().enumerate() {
            entry[2 + 2 * i..4 + 2 * i].copy_from_slice(&unit.to_le_bytes());
        }
    }
    seal(&mut set);
    set
}

/// The fields of a file entry set, once verified.
pub(crate) struct ParsedSet {
    pub name: Vec<u16>,
    pub name_hash: u16,
    pub attributes: u16,
    pub stream: StreamInfo,
}

/// Verify a file entry set read from disk (`entries[0]` is the File entry and `entries.len()`
/// is 1 + its SecondaryCount, every entry an in-use secondary after the first).
pub(crate) fn parse_file_set(
    entries: &[RawEntry],
    upcase: &UpcaseTable,
    cluster_count: u32,
    cluster_shift: u32,
) -> Result<ParsedSet, &'static str> {
    if entries.len() < 3 {
        return Err("file entry set too short");
    }
    if entries[0].le16::<2>() != set_checksum(entries) {
        return Err("entry set checksum mismatch");
    }
    let stream_entry = &entries[1];
    if stream_entry[0] != TYPE_STREAM_EXTENSION {
        return Err("file entry not followed by a stream extension");
    }
    let name_len = usize::from(stream_entry[3]);
    if name_len == 0 {
        return Err("empty file name");
    }
    let name_entries = name_entry_count(name_len);
    if entries.len() < 2 + name_entries {
        return Err("secondary count too small for the file name");
    }
    let mut name = Vec::with_capacity(name_len);
    for entry in &entries[2..2 + name_entries] {
        if entry[0] != TYPE_FILE_NAME {
            return Err("missing file name entry");
        }
        for unit in bytes::utf16le_units(&entry[2..]).take(NAME_UNITS_PER_ENTRY) {
            if name.len() < name_len {
                name.push(unit);
            }
        }
    }
    // Entries after the name must be benign (vendor extensions): unknown critical secondary
    // entries make the set unusable per the specification.
    if entries[2 + name_entries..].iter().any(|e| e[0] & BENIGN == 0) {
        return Err("unknown critical secondary entry");
    }
    let name_hash = stream_entry.le16::<4>();
    if upcase.name_hash(&name) != name_hash {
        return Err("name hash mismatch");
    }
    let stream = StreamInfo {
        first_cluster: stream_entry.le32::<20>(),
        data_length: stream_entry.le64::<24>(),
        valid_data_length: stream_entry.le64::<8>(),
        no_fat_chain: stream_entry[1] & FLAG_NO_FAT_CHAIN != 0,
    };
    if stream.valid_data_length > stream.data_length {
        return Err("valid data length exceeds data length");
    }
    let max_bytes = u64::from(cluster_count) << cluster_shift;
    if stream.data_length > max_bytes {
        return Err("data length exceeds the cluster heap");
    }
    if stream.data_length > 0 {
        let last_valid = u64::from(cluster_count) + 1;
        if stream.first_cluster < 2 || u64::from(stream.first_cluster) > last_valid {
            return Err("first cluster out of range");
        }
        if stream.no_fat_chain {
            let clusters = stream.data_length.div_ceil(1 << cluster_shift);
            if u64::from(stream.first_cluster) + clusters - 1 > last_valid {
                return Err("contiguous file runs past the end of the cluster heap");
            }
        }
    }
    let attributes = entries[0].le16::<4>();
    if attributes & attributes::DIRECTORY != 0 && stream.data_length > MAX_DIRECTORY_BYTES {
        return Err("directory larger than 256 MiB");
    }
    Ok(ParsedSet { name, name_hash, attributes, stream })
}

/// A one-entry set (Volume GUID) with its checksum.
pub(crate) fn build_volume_guid_entry(guid: &[u8; 16]) -> RawEntry {
    let mut e = [0u8; 32];
    e[0] = TYPE_VOLUME_GUID;
    e[6..22].copy_from_slice(guid);
    let mut set = [e];
    seal(&mut set);
    set[0]
}
