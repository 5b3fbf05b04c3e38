//! ISO 9660 (ECMA-119) reading: volume descriptors, directory records, Joliet and Rock Ridge
//! names, path lookup and bounded tree walks.
//!
//! The device is the ISO image itself (offset 0 = start of the image), e.g. a file on the
//! exFAT data partition seen through its extents. Everything read from it is untrusted:
//! every loop is bounded, every offset checked, and malformed structures give an
//! [`IsoError`], never a panic.
//!
//! Layout reminders (ECMA-119, all "both-endian" fields are read from their little-endian
//! half, as Linux and most readers do):
//!
//! ```text
//! sectors 0..16      system area (MBR / GPT of hybrid images), ignored here
//! sector 16..        volume descriptor set: 0 boot record, 1 primary (PVD),
//!                    2 supplementary (Joliet when its escape sequence is %/@ %/C %/E),
//!                    255 terminator; each starts with type, "CD001", version
//! PVD  40..72 volume id, 80 volume space size (blocks), 128 logical block size,
//!      156..190 root directory record
//! directory record: 0 length, 1 extended attribute record length, 2 extent LBA (LE+BE),
//!      10 data length (LE+BE), 18 date, 25 flags, 32 identifier length, 33 identifier,
//!      a pad byte when the identifier length is even, then the System Use area (SUSP /
//!      Rock Ridge entries)
//! ```
//!
//! Directory records never cross a logical sector: a zero length byte means "the rest of
//! this sector is unused". Identifier 0x00 is the directory itself, 0x01 its parent.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::block::{IoError, ReadAt};
use crate::bytes::{self, Fields};

/// ISO 9660 logical sector (and logical block) size; the only block size accepted.
pub const SECTOR_SIZE: u64 = 2048;
/// The volume descriptor set starts at sector 16, after the system area.
pub const FIRST_DESCRIPTOR_SECTOR: u32 = 16;
/// Longest volume descriptor set read (real images have 3 to 6 descriptors).
pub const MAX_DESCRIPTORS: u32 = 64;
/// Largest directory accepted (bytes). Real directories are far smaller.
pub const MAX_DIR_SIZE: u32 = 64 << 20;
/// Most records read from one directory.
pub const MAX_DIR_ENTRIES: usize = 1 << 20;
/// Deepest path [`lookup`] follows and default depth limit of [`walk`].
pub const MAX_DEPTH: usize = 64;
/// Most entries a [`walk`] visits in total.
pub const MAX_WALK_ENTRIES: usize = 1 << 21;
/// Most SUSP continuation areas (CE) followed for one record.
pub const MAX_SUSP_CONTINUATIONS: usize = 8;
/// Longest Rock Ridge name accepted (bytes); longer NM data is cut.
pub const MAX_RR_NAME: usize = 1024;

/// Offset of the extent location field (LE u32, then BE u32, then the data length LE + BE)
/// within a directory record: overriding these 16 bytes redirects a file.
pub const RECORD_EXTENT_FIELD: u64 = 2;

/// Directory record flag bits (ECMA-119 9.1.6).
pub mod flags {
    /// "Existence": hide the file from the user.
    pub const HIDDEN: u8 = 0x01;
    pub const DIRECTORY: u8 = 0x02;
    pub const ASSOCIATED: u8 = 0x04;
    pub const RECORD: u8 = 0x08;
    pub const PROTECTION: u8 = 0x10;
    /// Not the final record of a file split over several extents (files of 4 GiB and more).
    pub const MULTI_EXTENT: u8 = 0x80;
}

const STANDARD_ID: &[u8; 5] = b"CD001";
const MIN_RECORD_LEN: usize = 34;
const DESC_BOOT: u8 = 0;
const DESC_PRIMARY: u8 = 1;
const DESC_SUPPLEMENTARY: u8 = 2;
const DESC_TERMINATOR: u8 = 255;
/// Boot system identifier of an El Torito boot record volume descriptor.
pub const EL_TORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";

/// Why an image could not be read as ISO 9660.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsoError {
    Io(IoError),
    /// Too small to hold the system area and a volume descriptor.
    TooSmall {
        size: u64,
    },
    /// No "CD001" volume descriptor at sector 16.
    NotIso,
    /// The descriptor set has no primary volume descriptor.
    NoPrimaryDescriptor,
    BadDescriptor {
        sector: u32,
        reason: &'static str,
    },
    /// Logical block size other than 2048.
    UnsupportedBlockSize(u16),
    /// The volume is larger than the image: an incomplete download or copy.
    Truncated {
        needed: u64,
        have: u64,
    },
    BadRootDirectory(&'static str),
    /// A malformed directory record at this byte offset of the image.
    BadRecord {
        offset: u64,
        reason: &'static str,
    },
    DirectoryTooLarge {
        offset: u64,
        size: u32,
    },
    TooManyEntries,
    TooDeep,
    NotFound,
    NotADirectory,
    IsADirectory,
}

impl fmt::Display for IsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsoError::Io(e) => write!(f, "{e}"),
            IsoError::TooSmall { size } => write!(
                f,
                "too small for an ISO 9660 image ({size} bytes; the first volume descriptor ends at {} bytes)",
                (FIRST_DESCRIPTOR_SECTOR as u64 + 1) * SECTOR_SIZE
            ),
            IsoError::NotIso => f.write_str("not an ISO 9660 image: no CD001 volume descriptor at sector 16"),
            IsoError::NoPrimaryDescriptor => f.write_str("no ISO 9660 primary volume descriptor"),
            IsoError::BadDescriptor { sector, reason } => {
                write!(f, "bad volume descriptor at sector {sector}: {reason}")
            }
            IsoError::UnsupportedBlockSize(n) => {
                write!(f, "unsupported ISO 9660 logical block size {n} (only 2048 is supported)")
            }
            IsoError::Truncated { needed, have } => write!(
                f,
                "the ISO image is truncated: its volume is {needed} bytes but the file has {have} bytes ({} missing)",
                needed - have.min(needed)
            ),
            IsoError::BadRootDirectory(reason) => write!(f, "bad root directory: {reason}"),
            IsoError::BadRecord { offset, reason } => {
                write!(f, "bad directory record at byte {offset}: {reason}")
            }
            IsoError::DirectoryTooLarge { offset, size } => write!(
                f,
                "directory at byte {offset} is too large ({size} bytes, limit {MAX_DIR_SIZE})"
            ),
            IsoError::TooManyEntries => f.write_str("too many directory entries"),
            IsoError::TooDeep => f.write_str("directory tree too deep (or looping)"),
            IsoError::NotFound => f.write_str("no such file or directory in the ISO image"),
            IsoError::NotADirectory => f.write_str("not a directory"),
            IsoError::IsADirectory => f.write_str("is a directory"),
        }
    }
}

crate::block::error_with_io!(IsoError);

/// How names are decoded in a directory tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameMode {
    /// Plain ISO 9660 identifiers (d-characters, `;1` version stripped).
    Plain,
    /// ISO 9660 with Rock Ridge (SUSP): NM names when present; `skip` is SUSP's LEN_SKP.
    RockRidge { skip: u8 },
    /// Joliet: UCS-2 big-endian identifiers.
    Joliet,
}

/// One directory hierarchy of the image: the primary one or the Joliet one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub mode: NameMode,
    pub root: DirRecord,
}

/// What kind of record a directory record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Identifier 0x00: the directory itself (".").
    Current,
    /// Identifier 0x01: the parent directory ("..").
    Parent,
    Named,
}

/// One parsed directory record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRecord {
    /// Byte position of the record within the image (overrides patch records here).
    pub record_offset: u64,
    pub record_len: u8,
    /// Extent location (logical block); file data starts `ext_attr_len` blocks later.
    pub extent_lba: u32,
    pub ext_attr_len: u8,
    /// Bytes of this extent (of this section, for multi-extent files).
    pub data_len: u32,
    /// See [`flags`].
    pub flags: u8,
    pub kind: RecordKind,
    /// The name to show and match: Rock Ridge NM when present, else the identifier.
    pub name: String,
    /// The decoded identifier with the `;N` version (and a trailing dot) removed.
    pub iso_name: String,
    /// `name` came from a Rock Ridge NM entry.
    pub rr_name: bool,
    /// Rock Ridge RE: a relocated directory, listed instead through its CL placeholder.
    pub relocated: bool,
    /// Rock Ridge CL: the placeholder of a relocated directory whose extent is here.
    pub child_link: Option<u32>,
}

impl DirRecord {
    pub fn is_dir(&self) -> bool {
        self.flags & flags::DIRECTORY != 0
    }
    pub fn is_hidden(&self) -> bool {
        self.flags & flags::HIDDEN != 0
    }
    pub fn is_multi_extent(&self) -> bool {
        self.flags & flags::MULTI_EXTENT != 0
    }
    /// Byte offset of the data within the image (after any extended attribute record).
    pub fn data_offset(&self) -> u64 {
        (u64::from(self.extent_lba) + u64::from(self.ext_attr_len)) * SECTOR_SIZE
    }
}

/// One extent of a file: usually the only one; files of 4 GiB and more have several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// Byte position of the directory record describing this section.
    pub record_offset: u64,
    /// Byte offset of the section's data in the image.
    pub offset: u64,
    pub len: u32,
}

/// A file or directory: its (first) record plus all its sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoEntry {
    pub record: DirRecord,
    /// Total size in bytes over all sections.
    pub size: u64,
    /// Sections in file order; never empty.
    pub sections: Vec<Section>,
}

impl IsoEntry {
    fn single(record: DirRecord) -> IsoEntry {
        let section = Section {
            record_offset: record.record_offset,
            offset: record.data_offset(),
            len: record.data_len,
        };
        IsoEntry { size: u64::from(record.data_len), sections: vec![section], record }
    }
    pub fn name(&self) -> &str {
        &self.record.name
    }
    pub fn is_dir(&self) -> bool {
        self.record.is_dir()
    }
    /// Byte position of the (first) directory record within the image.
    pub fn record_offset(&self) -> u64 {
        self.record.record_offset
    }
    /// First logical block of the data.
    pub fn lba(&self) -> u32 {
        self.record.extent_lba.saturating_add(u32::from(self.record.ext_attr_len))
    }
    /// `(offset, len)` byte ranges of the data in the image, in file order.
    pub fn byte_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.sections.iter().map(|s| (s.offset, u64::from(s.len)))
    }
}

/// Joliet supplementary volume descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JolietInfo {
    /// 1, 2 or 3 (escape sequence %/@, %/C, %/E).
    pub level: u8,
    pub sector: u32,
    pub volume_id: String,
    pub tree: Tree,
}

/// What [`probe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoInfo {
    pub system_id: String,
    pub volume_id: String,
    /// Volume space size in logical blocks of 2048 bytes.
    pub volume_space_size: u32,
    /// Size of the image the volume was read from.
    pub image_size: u64,
    /// Sector of the primary volume descriptor.
    pub pvd_sector: u32,
    /// The primary tree (Plain or RockRidge names).
    pub primary: Tree,
    pub joliet: Option<JolietInfo>,
    /// Boot catalog LBA of an El Torito boot record, when the image has one.
    pub el_torito_catalog: Option<u32>,
}

impl IsoInfo {
    /// Bytes of the volume.
    pub fn volume_bytes(&self) -> u64 {
        u64::from(self.volume_space_size) * SECTOR_SIZE
    }
    pub fn rock_ridge(&self) -> bool {
        matches!(self.primary.mode, NameMode::RockRidge { .. })
    }
    /// The tree an operating system would show: Rock Ridge when present, else Joliet when
    /// present, else plain ISO 9660 (the order Linux uses).
    pub fn preferred_tree(&self) -> &Tree {
        match (&self.primary.mode, &self.joliet) {
            (NameMode::RockRidge { .. }, _) | (_, None) => &self.primary,
            (_, Some(j)) => &j.tree,
        }
    }
}

/// The 16-byte extent location + data length fields (both-endian) of a directory record,
/// to be written at `record_offset + RECORD_EXTENT_FIELD` to redirect a record.
pub fn extent_fields(lba: u32, len: u32) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[0..4].copy_from_slice(&lba.to_le_bytes());
    out[4..8].copy_from_slice(&lba.to_be_bytes());
    out[8..12].copy_from_slice(&len.to_le_bytes());
    out[12..16].copy_from_slice(&len.to_be_bytes());
    out
}

/// Text of a fixed-width a-/d-character field: trailing spaces and NULs removed.
fn field_text(b: &[u8]) -> String {
    let end = b.iter().rposition(|&c| c != b' ' && c != 0).map_or(0, |p| p + 1);
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Text of a UCS-2 big-endian field (Joliet), trailing spaces and NULs removed.
fn ucs2_text(b: &[u8]) -> String {
    let units = bytes::utf16be_units(b);
    let s: String = char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')).collect();
    String::from(s.trim_end_matches([' ', '\0']))
}

/// Remove a `;N` file version suffix, then trailing dots ("NAME.;1" -> "NAME").
fn strip_version(mut name: String, is_dir: bool) -> String {
    if let Some(p) = name.rfind(';') {
        if name[p + 1..].bytes().all(|c| c.is_ascii_digit()) {
            name.truncate(p);
        }
    }
    if !is_dir {
        while name.len() > 1 && name.ends_with('.') {
            name.pop();
        }
    }
    name
}

/// Visit the volume descriptor set: `f(sector, descriptor)` for each descriptor up to the
/// terminator; `f` returns `false` to stop early. Fails with `TooSmall` / `NotIso` when
/// sector 16 is missing or not a descriptor; a set that just stops (end of the image,
/// missing terminator) ends the visit without error.
pub fn for_each_volume_descriptor<D, F>(dev: &mut D, mut f: F) -> Result<(), IsoError>
where
    D: ReadAt + ?Sized,
    F: FnMut(u32, &[u8]) -> Result<bool, IsoError>,
{
    let size = dev.size();
    let mut buf = vec![0u8; SECTOR_SIZE as usize];
    for i in 0..MAX_DESCRIPTORS {
        let sector = FIRST_DESCRIPTOR_SECTOR + i;
        let offset = u64::from(sector) * SECTOR_SIZE;
        if offset + SECTOR_SIZE > size {
            if i == 0 {
                return Err(IsoError::TooSmall { size });
            }
            return Ok(());
        }
        dev.read_at(offset, &mut buf)?;
        if &buf[1..6] != STANDARD_ID {
            if i == 0 {
                return Err(IsoError::NotIso);
            }
            return Ok(());
        }
        if buf[0] == DESC_TERMINATOR || !f(sector, &buf)? {
            return Ok(());
        }
    }
    Ok(())
}

/// The boot catalog LBA if `desc` is an El Torito boot record volume descriptor.
pub fn el_torito_catalog_lba(desc: &[u8]) -> Option<u32> {
    if desc.len() < 75 || desc[0] != DESC_BOOT || &desc[1..6] != STANDARD_ID {
        return None;
    }
    let id = &desc[7..39];
    let ok = id.starts_with(EL_TORITO_ID) && id[EL_TORITO_ID.len()..].iter().all(|&c| c == 0);
    ok.then(|| bytes::le32(desc, 71).ok()).flatten()
}

fn joliet_level(desc: &[u8]) -> Option<u8> {
    // Escape sequences field: bytes 88..120; Joliet puts %/@, %/C or %/E at its start.
    match &desc[88..91] {
        b"%/@" => Some(1),
        b"%/C" => Some(2),
        b"%/E" => Some(3),
        _ => None,
    }
}

/// Read the volume descriptors and the root directories and check that the image is a
/// complete ISO 9660 volume. The error says why it is not.
pub fn probe<D: ReadAt + ?Sized>(dev: &mut D) -> Result<IsoInfo, IsoError> {
    let image_size = dev.size();
    let mut pvd: Option<(u32, Vec<u8>)> = None;
    let mut svd: Option<(u32, u8, Vec<u8>)> = None;
    let mut catalog = None;
    for_each_volume_descriptor(dev, |sector, d| {
        match d[0] {
            DESC_PRIMARY if pvd.is_none() => pvd = Some((sector, d.to_vec())),
            DESC_SUPPLEMENTARY if svd.is_none() => {
                if let Some(level) = joliet_level(d) {
                    svd = Some((sector, level, d.to_vec()));
                }
            }
            DESC_BOOT if catalog.is_none() => catalog = el_torito_catalog_lba(d),
            _ => {}
        }
        Ok(true)
    })?;
    let (pvd_sector, d) = pvd.ok_or(IsoError::NoPrimaryDescriptor)?;
    // Descriptors are whole sectors (for_each_volume_descriptor).
    let short = |_| IsoError::BadDescriptor {
        sector: pvd_sector,
        reason: "descriptor shorter than a sector",
    };
    let block_size = bytes::le16(&d, 128).map_err(short)?;
    if u64::from(block_size) != SECTOR_SIZE {
        return Err(IsoError::UnsupportedBlockSize(block_size));
    }
    let volume_space_size = bytes::le32(&d, 80).map_err(short)?;
    if volume_space_size <= FIRST_DESCRIPTOR_SECTOR {
        return Err(IsoError::BadDescriptor {
            sector: pvd_sector,
            reason: "volume space size is smaller than the volume descriptor area",
        });
    }
    let needed = u64::from(volume_space_size) * SECTOR_SIZE;
    if needed > image_size {
        return Err(IsoError::Truncated { needed, have: image_size });
    }
    let base = u64::from(pvd_sector) * SECTOR_SIZE;
    let root = parse_root_record(&d, base, false)?;
    check_root(dev, &root, needed)?;
    let mode = match rock_ridge_skip(dev, &root)? {
        Some(skip) => NameMode::RockRidge { skip },
        None => NameMode::Plain,
    };
    let joliet = match svd {
        Some((sector, level, s)) => {
            let base = u64::from(sector) * SECTOR_SIZE;
            // A broken Joliet tree does not make the volume unusable: drop it.
            parse_root_record(&s, base, true)
                .ok()
                .filter(|root| check_root(dev, root, needed).is_ok())
                .map(|root| JolietInfo {
                    level,
                    sector,
                    volume_id: ucs2_text(&s[40..72]),
                    tree: Tree { mode: NameMode::Joliet, root },
                })
        }
        None => None,
    };
    Ok(IsoInfo {
        system_id: field_text(&d[8..40]),
        volume_id: field_text(&d[40..72]),
        volume_space_size,
        image_size,
        pvd_sector,
        primary: Tree { mode, root },
        joliet,
        el_torito_catalog: catalog,
    })
}

fn parse_root_record(desc: &[u8], desc_offset: u64, joliet: bool) -> Result<DirRecord, IsoError> {
    let bytes = &desc[156..190];
    if usize::from(bytes[0]) != MIN_RECORD_LEN {
        return Err(IsoError::BadRootDirectory("root directory record is not 34 bytes long"));
    }
    let mode = if joliet { NameMode::Joliet } else { NameMode::Plain };
    let (mut rec, _) = parse_record(bytes, desc_offset + 156, mode)
        .map_err(|_| IsoError::BadRootDirectory("malformed root directory record"))?;
    if rec.kind != RecordKind::Current {
        return Err(IsoError::BadRootDirectory("root directory record identifier is not 0x00"));
    }
    rec.name = String::new();
    rec.iso_name = String::new();
    Ok(rec)
}

fn check_root<D: ReadAt + ?Sized>(
    dev: &mut D,
    root: &DirRecord,
    volume_bytes: u64,
) -> Result<(), IsoError> {
    if !root.is_dir() {
        return Err(IsoError::BadRootDirectory("root record is not flagged as a directory"));
    }
    if root.data_len == 0 {
        return Err(IsoError::BadRootDirectory("root directory is empty"));
    }
    let start = root.data_offset();
    if start < u64::from(FIRST_DESCRIPTOR_SECTOR + 1) * SECTOR_SIZE
        || start + u64::from(root.data_len) > volume_bytes
    {
        return Err(IsoError::BadRootDirectory("root directory lies outside the volume"));
    }
    let mut first = [0u8; MIN_RECORD_LEN];
    dev.read_at(start, &mut first)?;
    if usize::from(first[0]) < MIN_RECORD_LEN || first[32] != 1 || first[33] != 0 {
        return Err(IsoError::BadRootDirectory(
            "root directory does not start with its \".\" record",
        ));
    }
    Ok(())
}

/// SUSP: the root's "." record starts its System Use area with an SP entry (check bytes
/// BE EF, then LEN_SKP) when the tree uses SUSP (Rock Ridge).
fn rock_ridge_skip<D: ReadAt + ?Sized>(
    dev: &mut D,
    root: &DirRecord,
) -> Result<Option<u8>, IsoError> {
    let mut buf = [0u8; 255];
    let start = root.data_offset();
    let n = (u64::from(root.data_len).min(255)).min(dev.size().saturating_sub(start)) as usize;
    dev.read_at(start, &mut buf[..n])?;
    let len = usize::from(buf[0]).min(n);
    if len < MIN_RECORD_LEN {
        return Ok(None);
    }
    let su = &buf[34..len];
    if su.len() >= 7 && &su[0..2] == b"SP" && su[2] >= 7 && su[4] == 0xBE && su[5] == 0xEF {
        return Ok(Some(su[6]));
    }
    Ok(None)
}

/// What the System Use area of a record says (Rock Ridge).
#[derive(Default)]
struct Susp {
    name: Vec<u8>,
    has_name: bool,
    relocated: bool,
    child_link: Option<u32>,
    continuation: Option<(u32, u32, u32)>,
}

impl Susp {
    /// Parse one System Use area (or continuation area). Malformed entries end the area.
    fn parse_area(&mut self, area: &[u8]) {
        self.continuation = None;
        let mut p = 0usize;
        while area.len() - p >= 4 {
            let e = &area[p..];
            let len = usize::from(e[2]);
            if len < 4 || len > e.len() {
                break;
            }
            let e = &e[..len];
            match &e[0..2] {
                // Flags: bit 1 CURRENT, bit 2 PARENT (no name data); bit 0 CONTINUE.
                b"NM" if len >= 5 && e[4] & 0x06 == 0 => {
                    let room = MAX_RR_NAME.saturating_sub(self.name.len());
                    let data = &e[5..];
                    self.name.extend_from_slice(&data[..data.len().min(room)]);
                    self.has_name = true;
                }
                b"CE" if len >= 28 => {
                    if let Ok(ce) = bytes::chunk::<28>(e, 0) {
                        self.continuation =
                            Some((ce.le32::<4>(), ce.le32::<12>(), ce.le32::<20>()));
                    }
                }
                b"RE" => self.relocated = true,
                b"CL" if len >= 12 => {
                    if let Ok(lba) = bytes::le32(e, 4) {
                        self.child_link = Some(lba);
                    }
                }
                b"ST" => break,
                _ => {}
            }
            p += len;
        }
    }
}

/// Parse the fixed part and identifier of one record; returns the record and the System Use
/// area's range within `bytes`.
fn parse_record(
    bytes: &[u8],
    offset: u64,
    mode: NameMode,
) -> Result<(DirRecord, (usize, usize)), IsoError> {
    let bad = |reason| IsoError::BadRecord { offset, reason };
    let len = usize::from(*bytes.first().unwrap_or(&0));
    if len < MIN_RECORD_LEN {
        return Err(bad("record shorter than 34 bytes"));
    }
    if len > bytes.len() {
        return Err(bad("record runs past the end of its sector"));
    }
    let b = &bytes[..len];
    let id_len = usize::from(b[32]);
    if id_len == 0 {
        return Err(bad("empty file identifier"));
    }
    if 33 + id_len > len {
        return Err(bad("file identifier longer than the record"));
    }
    let id = &b[33..33 + id_len];
    let rec_flags = b[25];
    let is_dir = rec_flags & flags::DIRECTORY != 0;
    let kind = match id {
        [0] => RecordKind::Current,
        [1] => RecordKind::Parent,
        _ => RecordKind::Named,
    };
    let iso_name = match kind {
        RecordKind::Current => String::from("."),
        RecordKind::Parent => String::from(".."),
        RecordKind::Named => match mode {
            NameMode::Joliet => strip_version(ucs2_text(id), is_dir),
            _ => strip_version(String::from_utf8_lossy(id).into_owned(), is_dir),
        },
    };
    let fixed =
        bytes::chunk::<MIN_RECORD_LEN>(b, 0).map_err(|_| bad("record shorter than 34 bytes"))?;
    let su_start = (33 + id_len + usize::from(id_len % 2 == 0)).min(len);
    let rec = DirRecord {
        record_offset: offset,
        record_len: b[0],
        extent_lba: fixed.le32::<2>(),
        ext_attr_len: b[1],
        data_len: fixed.le32::<10>(),
        flags: rec_flags,
        kind,
        name: iso_name.clone(),
        iso_name,
        rr_name: false,
        relocated: false,
        child_link: None,
    };
    Ok((rec, (su_start, len)))
}

/// Streams the records of one directory, sector by sector.
pub struct DirReader<'d, D: ReadAt + ?Sized> {
    dev: &'d mut D,
    mode: NameMode,
    start: u64,
    len: u64,
    pos: u64,
    buf: Vec<u8>,
    loaded: Option<u64>,
    count: usize,
}

impl<'d, D: ReadAt + ?Sized> DirReader<'d, D> {
    /// Records of the directory `dir` (which must be flagged as a directory).
    pub fn new(dev: &'d mut D, mode: NameMode, dir: &DirRecord) -> Result<Self, IsoError> {
        if !dir.is_dir() {
            return Err(IsoError::NotADirectory);
        }
        if dir.data_len > MAX_DIR_SIZE {
            return Err(IsoError::DirectoryTooLarge {
                offset: dir.record_offset,
                size: dir.data_len,
            });
        }
        Ok(DirReader {
            dev,
            mode,
            start: dir.data_offset(),
            len: u64::from(dir.data_len),
            pos: 0,
            buf: vec![0u8; SECTOR_SIZE as usize],
            loaded: None,
            count: 0,
        })
    }

    /// The next record (including "." and ".."), or `None` at the end of the directory.
    pub fn next_record(&mut self) -> Result<Option<DirRecord>, IsoError> {
        loop {
            if self.pos >= self.len {
                return Ok(None);
            }
            let sector = self.pos / SECTOR_SIZE;
            let in_sector = (self.pos % SECTOR_SIZE) as usize;
            let sector_start = sector * SECTOR_SIZE;
            // Bytes of this sector that belong to the directory.
            let avail = (self.len - sector_start).min(SECTOR_SIZE) as usize;
            if self.loaded != Some(sector) {
                let at = self.start + sector_start;
                self.dev.read_at(at, &mut self.buf[..avail])?;
                self.loaded = Some(sector);
            }
            let rec_len = usize::from(self.buf[in_sector]);
            if rec_len == 0 {
                // Rest of the sector unused.
                self.pos = sector_start + SECTOR_SIZE;
                continue;
            }
            let offset = self.start + self.pos;
            if in_sector + rec_len > avail {
                let reason = if in_sector + rec_len > SECTOR_SIZE as usize {
                    "record crosses the end of its sector"
                } else {
                    "record runs past the end of the directory"
                };
                return Err(IsoError::BadRecord { offset, reason });
            }
            self.count += 1;
            if self.count > MAX_DIR_ENTRIES {
                return Err(IsoError::TooManyEntries);
            }
            let bytes = &self.buf[in_sector..in_sector + rec_len];
            let (mut rec, (su_start, su_end)) = parse_record(bytes, offset, self.mode)?;
            self.pos += rec_len as u64;
            if let NameMode::RockRidge { skip } = self.mode {
                let su_start = (su_start + usize::from(skip)).min(su_end);
                let area = bytes[su_start..su_end].to_vec();
                self.apply_rock_ridge(&mut rec, &area);
            }
            return Ok(Some(rec));
        }
    }

    fn apply_rock_ridge(&mut self, rec: &mut DirRecord, area: &[u8]) {
        let mut susp = Susp::default();
        susp.parse_area(area);
        let mut hops = 0;
        while let Some((lba, off, len)) = susp.continuation {
            hops += 1;
            if hops > MAX_SUSP_CONTINUATIONS
                || off >= SECTOR_SIZE as u32
                || len as u64 > SECTOR_SIZE
            {
                break;
            }
            let mut cont = vec![0u8; len as usize];
            let at = u64::from(lba) * SECTOR_SIZE + u64::from(off);
            if self.dev.read_at(at, &mut cont).is_err() {
                break;
            }
            susp.parse_area(&cont);
        }
        if susp.has_name && rec.kind == RecordKind::Named && !susp.name.is_empty() {
            rec.name = String::from_utf8_lossy(&susp.name).into_owned();
            rec.rr_name = true;
        }
        rec.relocated = susp.relocated;
        rec.child_link = susp.child_link;
    }
}

/// Streams the entries of one directory as [`IsoEntry`]s: "." and ".." left out, Rock
/// Ridge relocated directories hidden and their placeholders resolved, multi-extent files
/// merged into one entry.
pub struct Entries<'d, D: ReadAt + ?Sized> {
    reader: DirReader<'d, D>,
    pending: Option<DirRecord>,
}

impl<'d, D: ReadAt + ?Sized> Entries<'d, D> {
    pub fn new(dev: &'d mut D, tree: &Tree, dir: &DirRecord) -> Result<Self, IsoError> {
        Ok(Entries { reader: DirReader::new(dev, tree.mode, dir)?, pending: None })
    }

    fn next_named(&mut self) -> Result<Option<DirRecord>, IsoError> {
        if let Some(r) = self.pending.take() {
            return Ok(Some(r));
        }
        loop {
            match self.reader.next_record()? {
                None => return Ok(None),
                Some(r) if r.kind != RecordKind::Named || r.relocated => continue,
                Some(r) => return Ok(Some(r)),
            }
        }
    }

    /// The next entry, or `None` at the end of the directory.
    pub fn next_entry(&mut self) -> Result<Option<IsoEntry>, IsoError> {
        let Some(mut first) = self.next_named()? else {
            return Ok(None);
        };
        if let Some(lba) = first.child_link {
            self.resolve_child_link(&mut first, lba)?;
        }
        let mut entry = IsoEntry::single(first);
        let mut more = entry.record.is_multi_extent();
        while more {
            let Some(next) = self.next_named()? else {
                break;
            };
            if next.iso_name != entry.record.iso_name || next.is_dir() {
                self.pending = Some(next);
                break;
            }
            more = next.is_multi_extent();
            entry.size += u64::from(next.data_len);
            entry.sections.push(Section {
                record_offset: next.record_offset,
                offset: next.data_offset(),
                len: next.data_len,
            });
        }
        Ok(Some(entry))
    }

    /// A CL placeholder stands for the directory at `lba`: its size is in that directory's
    /// own "." record.
    fn resolve_child_link(&mut self, rec: &mut DirRecord, lba: u32) -> Result<(), IsoError> {
        let mut first = [0u8; MIN_RECORD_LEN];
        let at = u64::from(lba) * SECTOR_SIZE;
        self.reader.dev.read_at(at, &mut first)?;
        if usize::from(first[0]) < MIN_RECORD_LEN || first[32] != 1 || first[33] != 0 {
            return Err(IsoError::BadRecord {
                offset: rec.record_offset,
                reason: "Rock Ridge child link does not point at a directory",
            });
        }
        rec.extent_lba = lba;
        rec.ext_attr_len = first[1];
        rec.data_len = first.le32::<10>();
        rec.flags |= flags::DIRECTORY;
        Ok(())
    }
}

impl<D: ReadAt + ?Sized> Iterator for Entries<'_, D> {
    type Item = Result<IsoEntry, IsoError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                // Stop after the first error.
                self.pending = None;
                self.reader.pos = self.reader.len;
                Some(Err(e))
            }
        }
    }
}

/// All entries of a directory (see [`Entries`]).
pub fn read_dir<D: ReadAt + ?Sized>(
    dev: &mut D,
    tree: &Tree,
    dir: &DirRecord,
) -> Result<Vec<IsoEntry>, IsoError> {
    Entries::new(dev, tree, dir)?.collect()
}

/// Case-insensitive (Unicode simple lower-case) comparison.
fn eq_fold(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

/// Find `path` (components separated by `/` or `\`) in `tree`. An exact match of the shown
/// name wins; otherwise the first case-insensitive match of the shown name or of the ISO
/// 9660 identifier (so `/BOOT/GRUB/GRUB.CFG` and `/boot/grub/grub.cfg` both work on plain
/// images). `/` (or an empty path) is the root.
pub fn lookup<D: ReadAt + ?Sized>(
    dev: &mut D,
    tree: &Tree,
    path: &str,
) -> Result<IsoEntry, IsoError> {
    let mut current = IsoEntry::single(tree.root.clone());
    let mut depth = 0usize;
    for component in path.split(['/', '\\']).filter(|c| !c.is_empty() && *c != ".") {
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(IsoError::TooDeep);
        }
        if !current.is_dir() {
            return Err(IsoError::NotADirectory);
        }
        let mut entries = Entries::new(&mut *dev, tree, &current.record)?;
        let mut folded = None;
        let mut exact = None;
        while let Some(e) = entries.next_entry()? {
            if e.record.name == component {
                exact = Some(e);
                break;
            }
            if folded.is_none()
                && (eq_fold(&e.record.name, component) || eq_fold(&e.record.iso_name, component))
            {
                folded = Some(e);
            }
        }
        current = exact.or(folded).ok_or(IsoError::NotFound)?;
    }
    Ok(current)
}

/// Read up to `buf.len()` bytes of a file's data starting at `offset` within the file;
/// returns the number of bytes read (short at the end of the file).
pub fn read_file<D: ReadAt + ?Sized>(
    dev: &mut D,
    entry: &IsoEntry,
    offset: u64,
    buf: &mut [u8],
) -> Result<usize, IsoError> {
    if entry.is_dir() {
        return Err(IsoError::IsADirectory);
    }
    let mut done = 0usize;
    let mut section_start = 0u64;
    for s in &entry.sections {
        let section_end = section_start + u64::from(s.len);
        let pos = offset.saturating_add(done as u64);
        if done < buf.len() && pos < section_end && pos >= section_start {
            let within = pos - section_start;
            let n = (section_end - pos).min((buf.len() - done) as u64) as usize;
            dev.read_at(s.offset + within, &mut buf[done..done + n])?;
            done += n;
        }
        section_start = section_end;
    }
    Ok(done)
}

/// A whole file's data, refusing files larger than `max` bytes.
pub fn read_to_vec<D: ReadAt + ?Sized>(
    dev: &mut D,
    entry: &IsoEntry,
    max: u64,
) -> Result<Vec<u8>, IsoError> {
    if entry.size > max {
        return Err(IsoError::Io(IoError::Device(alloc::format!(
            "file of {} bytes is larger than the {} byte limit",
            entry.size,
            max
        ))));
    }
    let mut data = vec![0u8; entry.size as usize];
    let n = read_file(dev, entry, 0, &mut data)?;
    data.truncate(n);
    Ok(data)
}

/// Visit every entry below the root of `tree`, depth first, with its full path
/// (`/DIR/FILE`). `visit` returns `false` to stop. Directories deeper than `max_depth`
/// levels give `TooDeep` (a looping hostile tree ends there); more than
/// [`MAX_WALK_ENTRIES`] entries give `TooManyEntries`.
pub fn walk<D, F>(dev: &mut D, tree: &Tree, max_depth: usize, mut visit: F) -> Result<(), IsoError>
where
    D: ReadAt + ?Sized,
    F: FnMut(&str, &IsoEntry) -> bool,
{
    let mut stack: Vec<(String, DirRecord, usize)> = vec![(String::new(), tree.root.clone(), 0)];
    let mut total = 0usize;
    while let Some((path, dir, depth)) = stack.pop() {
        let mut subdirs = Vec::new();
        for entry in Entries::new(&mut *dev, tree, &dir)? {
            let entry = entry?;
            total += 1;
            if total > MAX_WALK_ENTRIES {
                return Err(IsoError::TooManyEntries);
            }
            let mut child = path.clone();
            child.push('/');
            child.push_str(&entry.record.name);
            if !visit(&child, &entry) {
                return Ok(());
            }
            if entry.is_dir() {
                if depth + 1 > max_depth {
                    return Err(IsoError::TooDeep);
                }
                subdirs.push((child, entry.record, depth + 1));
            }
        }
        // Reverse so that the first subdirectory is walked first.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// Hand-made ISO images for the unit tests of this module and of `eltorito` / `virtual_medium`.
#[cfg(test)]
pub(crate) mod test_image {
    use super::*;

    /// A sparse in-memory image built sector by sector.
    pub struct Img {
        pub data: Vec<u8>,
    }

    impl Img {
        pub fn new(sectors: u32) -> Img {
            Img { data: vec![0u8; sectors as usize * SECTOR_SIZE as usize] }
        }
        pub fn put(&mut self, lba: u32, offset: usize, bytes: &[u8]) {
            let at = lba as usize * SECTOR_SIZE as usize + offset;
            self.data[at..at + bytes.len()].copy_from_slice(bytes);
        }
        /// Primary volume descriptor at `sector`.
        pub fn pvd(
            &mut self,
            sector: u32,
            volume_id: &str,
            space: u32,
            root_lba: u32,
            root_len: u32,
        ) {
            let mut d = descriptor(DESC_PRIMARY);
            d[8..40].fill(b' ');
            d[8..8 + 5].copy_from_slice(b"LINUX");
            d[40..72].fill(b' ');
            d[40..40 + volume_id.len()].copy_from_slice(volume_id.as_bytes());
            both32(&mut d[80..88], space);
            both16(&mut d[120..124], 1);
            both16(&mut d[124..128], 1);
            both16(&mut d[128..132], 2048);
            d[156..190].copy_from_slice(&record(&[0], root_lba, root_len, flags::DIRECTORY, &[]));
            d[881] = 1;
            self.put(sector, 0, &d);
        }
        /// Joliet supplementary volume descriptor at `sector`.
        pub fn joliet_svd(
            &mut self,
            sector: u32,
            volume_id: &str,
            space: u32,
            root_lba: u32,
            root_len: u32,
        ) {
            let mut d = descriptor(DESC_SUPPLEMENTARY);
            let vid = ucs2(volume_id);
            d[40..40 + vid.len()].copy_from_slice(&vid);
            both32(&mut d[80..88], space);
            d[88..91].copy_from_slice(b"%/E");
            both16(&mut d[128..132], 2048);
            d[156..190].copy_from_slice(&record(&[0], root_lba, root_len, flags::DIRECTORY, &[]));
            self.put(sector, 0, &d);
        }
        pub fn boot_record(&mut self, sector: u32, catalog_lba: u32) {
            let mut d = descriptor(DESC_BOOT);
            d[7..7 + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
            d[71..75].copy_from_slice(&catalog_lba.to_le_bytes());
            self.put(sector, 0, &d);
        }
        pub fn terminator(&mut self, sector: u32) {
            self.put(sector, 0, &descriptor(DESC_TERMINATOR));
        }
        /// Write directory records one after the other from the start of `lba`, moving to
        /// the next sector when a record would not fit.
        pub fn dir(&mut self, lba: u32, records: &[Vec<u8>]) {
            let (mut sector, mut pos) = (lba, 0usize);
            for r in records {
                if pos + r.len() > SECTOR_SIZE as usize {
                    sector += 1;
                    pos = 0;
                }
                self.put(sector, pos, r);
                pos += r.len();
            }
        }
    }

    fn descriptor(kind: u8) -> Vec<u8> {
        let mut d = vec![0u8; SECTOR_SIZE as usize];
        d[0] = kind;
        d[1..6].copy_from_slice(STANDARD_ID);
        d[6] = 1;
        d
    }

    pub fn both16(out: &mut [u8], v: u16) {
        out[0..2].copy_from_slice(&v.to_le_bytes());
        out[2..4].copy_from_slice(&v.to_be_bytes());
    }

    pub fn both32(out: &mut [u8], v: u32) {
        out[0..4].copy_from_slice(&v.to_le_bytes());
        out[4..8].copy_from_slice(&v.to_be_bytes());
    }

    pub fn ucs2(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
    }

    /// One directory record with identifier `id` and System Use bytes `su`.
    pub fn record(id: &[u8], lba: u32, len: u32, rec_flags: u8, su: &[u8]) -> Vec<u8> {
        let pad = usize::from(id.len() % 2 == 0);
        let total = 33 + id.len() + pad + su.len();
        let total = total + total % 2;
        assert!(total <= 255);
        let mut r = vec![0u8; total];
        r[0] = total as u8;
        both32(&mut r[2..10], lba);
        both32(&mut r[10..18], len);
        r[18..25].copy_from_slice(&[124, 1, 2, 3, 4, 5, 0]);
        r[25] = rec_flags;
        both16(&mut r[28..32], 1);
        r[32] = id.len() as u8;
        r[33..33 + id.len()].copy_from_slice(id);
        r[33 + id.len() + pad..33 + id.len() + pad + su.len()].copy_from_slice(su);
        r
    }

    pub fn file(id: &str, lba: u32, len: u32) -> Vec<u8> {
        record(id.as_bytes(), lba, len, 0, &[])
    }

    pub fn subdir(id: &str, lba: u32, len: u32) -> Vec<u8> {
        record(id.as_bytes(), lba, len, flags::DIRECTORY, &[])
    }

    pub fn dot(lba: u32, len: u32) -> Vec<u8> {
        record(&[0], lba, len, flags::DIRECTORY, &[])
    }

    pub fn dotdot(lba: u32, len: u32) -> Vec<u8> {
        record(&[1], lba, len, flags::DIRECTORY, &[])
    }

    /// A SUSP NM entry.
    pub fn nm(name: &str, continues: bool) -> Vec<u8> {
        let mut e = vec![b'N', b'M', (5 + name.len()) as u8, 1, u8::from(continues)];
        e.extend_from_slice(name.as_bytes());
        e
    }

    /// A SUSP CE entry.
    pub fn ce(lba: u32, offset: u32, len: u32) -> Vec<u8> {
        let mut e = vec![b'C', b'E', 28, 1];
        let mut f = [0u8; 24];
        both32(&mut f[0..8], lba);
        both32(&mut f[8..16], offset);
        both32(&mut f[16..24], len);
        e.extend_from_slice(&f);
        e
    }

    /// The SUSP SP entry of the root's "." record.
    pub fn sp() -> Vec<u8> {
        vec![b'S', b'P', 7, 1, 0xBE, 0xEF, 0]
    }

    /// The primary tree of a hand-made Linux live ISO, for the tests of `bootcfg` and the
    /// boot session; the volume descriptors (from sector 16, root at [`LIVE_ROOT`]) and
    /// anything else are the caller's. Sectors: 20 root, 21 /BOOT, 22 /BOOT/GRUB, 23 /LIVE,
    /// 25 /BOOT/GRUB/GRUB.CFG (`grub_cfg`), 26 /LIVE/INITRD.GZ (5 bytes, gzip's magic first),
    /// 27 /LIVE/VMLINUZ (3 bytes).
    pub fn live_tree(img: &mut Img, grub_cfg: &[u8]) {
        img.dir(
            20,
            &[dot(20, 2048), dotdot(20, 2048), subdir("BOOT", 21, 2048), subdir("LIVE", 23, 2048)],
        );
        img.dir(21, &[dot(21, 2048), dotdot(20, 2048), subdir("GRUB", 22, 2048)]);
        img.dir(
            22,
            &[dot(22, 2048), dotdot(21, 2048), file("GRUB.CFG;1", 25, grub_cfg.len() as u32)],
        );
        img.dir(
            23,
            &[
                dot(23, 2048),
                dotdot(20, 2048),
                file("INITRD.GZ;1", 26, 5),
                file("VMLINUZ.;1", 27, 3),
            ],
        );
        img.put(25, 0, grub_cfg);
        img.put(26, 0, b"\x1f\x8bxyz");
        img.put(27, 0, b"krn");
    }

    /// The root directory's sector in [`live_tree`].
    pub const LIVE_ROOT: u32 = 20;

    /// Sector layout of [`sample`]:
    /// 16 PVD, 17 boot record (catalog at 30), 18 Joliet SVD, 19 terminator,
    /// 20 root, 21 /BOOT, 22 /BOOT/GRUB, 24 Joliet root, 30 boot catalog (left empty),
    /// 32 README.TXT (10 bytes), 33..36 DATA.BIN (5000 bytes), 36 /BOOT/VMLINUZ (100 bytes),
    /// 37 /BOOT/GRUB/GRUB.CFG (20 bytes); 40 sectors in all.
    pub const SAMPLE_SECTORS: u32 = 40;

    pub fn sample() -> Img {
        let mut img = Img::new(SAMPLE_SECTORS);
        img.pvd(16, "SAMPLE_VOL", SAMPLE_SECTORS, 20, 2048);
        img.boot_record(17, 30);
        img.joliet_svd(18, "Sample Vol", SAMPLE_SECTORS, 24, 2048);
        img.terminator(19);
        img.dir(
            20,
            &[
                dot(20, 2048),
                dotdot(20, 2048),
                subdir("BOOT", 21, 2048),
                file("DATA.BIN;1", 33, 5000),
                file("README.TXT;1", 32, 10),
            ],
        );
        img.dir(
            21,
            &[
                dot(21, 2048),
                dotdot(20, 2048),
                subdir("GRUB", 22, 2048),
                file("VMLINUZ.;1", 36, 100),
            ],
        );
        img.dir(22, &[dot(22, 2048), dotdot(21, 2048), file("GRUB.CFG;1", 37, 20)]);
        img.dir(
            24,
            &[
                dot(24, 2048),
                dotdot(24, 2048),
                record(&ucs2("Read Me.txt;1"), 32, 10, 0, &[]),
                record(&ucs2("data.bin;1"), 33, 5000, 0, &[]),
            ],
        );
        img.put(32, 0, b"hello iso\n");
        for i in 0..5000u32 {
            let at = 33 * SECTOR_SIZE as usize + i as usize;
            img.data[at] = (i % 251) as u8;
        }
        img.put(36, 0, &[0x4B; 100]);
        img.put(37, 0, b"set timeout=5\nmenu\n\n");
        img
    }
}

#[cfg(test)]
mod tests {
    use super::test_image::*;
    use super::*;
    use crate::block::MemDevice;
    use alloc::string::ToString;

    fn dev(img: &Img) -> MemDevice {
        MemDevice::from_vec(img.data.clone())
    }

    #[test]
    fn probe_reads_descriptors_and_trees() {
        let mut d = dev(&sample());
        let info = probe(&mut d).unwrap();
        assert_eq!(info.volume_id, "SAMPLE_VOL");
        assert_eq!(info.system_id, "LINUX");
        assert_eq!(info.volume_space_size, SAMPLE_SECTORS);
        assert_eq!(info.volume_bytes(), 40 * 2048);
        assert_eq!(info.pvd_sector, 16);
        assert_eq!(info.el_torito_catalog, Some(30));
        assert_eq!(info.primary.mode, NameMode::Plain);
        assert_eq!(info.primary.root.extent_lba, 20);
        assert_eq!(info.primary.root.record_offset, 16 * 2048 + 156);
        let j = info.joliet.as_ref().unwrap();
        assert_eq!((j.level, j.sector, j.volume_id.as_str()), (3, 18, "Sample Vol"));
        assert_eq!(info.preferred_tree().mode, NameMode::Joliet);
    }

    #[test]
    fn lookup_is_case_insensitive_and_strips_versions() {
        let mut d = dev(&sample());
        let info = probe(&mut d).unwrap();
        let t = &info.primary;
        for path in [
            "/BOOT/GRUB/GRUB.CFG",
            "boot/grub/grub.cfg",
            "\\Boot\\Grub\\Grub.Cfg",
            "//boot/./grub//grub.cfg",
        ] {
            let e = lookup(&mut d, t, path).unwrap();
            assert_eq!(e.name(), "GRUB.CFG");
            assert_eq!((e.lba(), e.size), (37, 20));
            // The record's own position: third record of sector 22 (34 + 34 bytes before it).
            assert_eq!(e.record_offset(), 22 * 2048 + 68);
            let mut raw = [0u8; 16];
            d.read_at(e.record_offset() + RECORD_EXTENT_FIELD, &mut raw).unwrap();
            assert_eq!(raw, extent_fields(37, 20));
        }
        let k = lookup(&mut d, t, "/boot/vmlinuz").unwrap();
        assert_eq!(k.name(), "VMLINUZ");
        assert_eq!(lookup(&mut d, t, "/boot").unwrap().record.extent_lba, 21);
        assert!(lookup(&mut d, t, "/").unwrap().is_dir());
        assert_eq!(lookup(&mut d, t, "/nope"), Err(IsoError::NotFound));
        assert_eq!(lookup(&mut d, t, "/README.TXT/x"), Err(IsoError::NotADirectory));
        let f = lookup(&mut d, t, "/readme.txt").unwrap();
        assert_eq!(read_to_vec(&mut d, &f, 1 << 20).unwrap(), b"hello iso\n");
        let data = lookup(&mut d, t, "/DATA.BIN").unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(read_file(&mut d, &data, 4995, &mut buf).unwrap(), 5);
        assert_eq!(
            buf[..5],
            [4995 % 251, 4996 % 251, 4997 % 251, 4998 % 251, 4999 % 251].map(|v| v as u8)
        );
    }

    #[test]
    fn joliet_tree_names() {
        let mut d = dev(&sample());
        let info = probe(&mut d).unwrap();
        let t = &info.joliet.as_ref().unwrap().tree;
        let names: Vec<String> =
            read_dir(&mut d, t, &t.root).unwrap().into_iter().map(|e| e.record.name).collect();
        assert_eq!(names, ["Read Me.txt", "data.bin"]);
        let e = lookup(&mut d, t, "/read me.TXT").unwrap();
        assert_eq!((e.lba(), e.size), (32, 10));
    }

    #[test]
    fn walk_lists_everything_with_paths() {
        let mut d = dev(&sample());
        let info = probe(&mut d).unwrap();
        let mut seen = Vec::new();
        walk(&mut d, &info.primary, MAX_DEPTH, |p, e| {
            seen.push((p.to_string(), e.is_dir(), e.lba(), e.size));
            true
        })
        .unwrap();
        let expect = [
            ("/BOOT", true, 21, 2048),
            ("/DATA.BIN", false, 33, 5000),
            ("/README.TXT", false, 32, 10),
            ("/BOOT/GRUB", true, 22, 2048),
            ("/BOOT/VMLINUZ", false, 36, 100),
            ("/BOOT/GRUB/GRUB.CFG", false, 37, 20),
        ];
        let expect: Vec<_> =
            expect.iter().map(|(p, d, l, s)| (p.to_string(), *d, *l, *s)).collect();
        assert_eq!(seen, expect);
        // Depth limit.
        assert_eq!(walk(&mut d, &info.primary, 1, |_, _| true), Err(IsoError::TooDeep));
        // Early stop.
        let mut n = 0;
        walk(&mut d, &info.primary, MAX_DEPTH, |_, _| {
            n += 1;
            n < 2
        })
        .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn probe_explains_non_isos() {
        assert_eq!(probe(&mut MemDevice::new(1000)), Err(IsoError::TooSmall { size: 1000 }));
        assert_eq!(probe(&mut MemDevice::new(40 * 2048)), Err(IsoError::NotIso));
        let img = sample();
        let mut short = MemDevice::from_vec(img.data[..30 * 2048].to_vec());
        assert_eq!(
            probe(&mut short),
            Err(IsoError::Truncated { needed: 40 * 2048, have: 30 * 2048 })
        );
        let msg = probe(&mut short).unwrap_err().to_string();
        assert!(msg.contains("truncated") && msg.contains("20480 missing"), "{msg}");
        // Only a boot record and a terminator.
        let mut img = Img::new(20);
        img.boot_record(16, 18);
        img.terminator(17);
        assert_eq!(probe(&mut dev(&img)), Err(IsoError::NoPrimaryDescriptor));
        // Block size 512.
        let mut img = sample();
        img.put(16, 128, &[0, 2, 2, 0]);
        assert_eq!(probe(&mut dev(&img)), Err(IsoError::UnsupportedBlockSize(512)));
        // Root directory pointing past the volume.
        let mut img = sample();
        img.put(16, 156 + 2, &extent_fields(39, 4096));
        assert!(matches!(probe(&mut dev(&img)), Err(IsoError::BadRootDirectory(_))));
        // Root directory not starting with ".".
        let mut img = sample();
        img.put(20, 0, &[0u8; 64]);
        assert!(matches!(probe(&mut dev(&img)), Err(IsoError::BadRootDirectory(_))));
        // Tiny volume space size.
        let mut img = sample();
        img.put(16, 80, &[3, 0, 0, 0]);
        assert!(matches!(probe(&mut dev(&img)), Err(IsoError::BadDescriptor { sector: 16, .. })));
        // A broken Joliet tree is dropped, the primary tree still works.
        let mut img = sample();
        img.put(24, 0, &[0u8; 64]);
        let info = probe(&mut dev(&img)).unwrap();
        assert!(info.joliet.is_none());
        // Extra bytes after the volume (isohybrid padding) are fine.
        let mut img = sample();
        img.data.extend_from_slice(&[0u8; 4096]);
        assert!(probe(&mut dev(&img)).is_ok());
    }

    #[test]
    fn rock_ridge_names_with_continuations() {
        let mut img = Img::new(30);
        img.pvd(16, "RR", 30, 20, 2048);
        img.terminator(17);
        let mut root_dot_su = sp();
        root_dot_su.extend_from_slice(&nm("ignored", false));
        // Long name split over two NM entries, the second one in a continuation area.
        let mut long_su = nm("a-Long-", true);
        long_su.extend_from_slice(&ce(25, 100, 40));
        let mut cont = nm("Name.tar.gz", false);
        cont.extend_from_slice(b"ST\x04\x01");
        img.put(25, 100, &cont);
        img.dir(
            20,
            &[
                record(&[0], 20, 2048, flags::DIRECTORY, &root_dot_su),
                record(&[1], 20, 2048, flags::DIRECTORY, &[]),
                record(b"A_LONG_N.TAR;1", 26, 7, 0, &long_su),
                record(b"BOOT", 22, 2048, flags::DIRECTORY, &nm("boot", false)),
                record(b"PLAIN.TXT;1", 27, 3, 0, &[]),
                // Hostile: CE pointing past the end; keeps the ISO name.
                record(b"BADCE.TXT;1", 27, 3, 0, &ce(9999, 0, 100)),
                // Hostile: CE chain looping on itself.
                record(b"LOOP.TXT;1", 27, 3, 0, &ce(25, 200, 28)),
            ],
        );
        img.put(25, 200, &ce(25, 200, 28));
        img.dir(
            22,
            &[
                record(&[0], 22, 2048, flags::DIRECTORY, &[]),
                record(&[1], 20, 2048, flags::DIRECTORY, &[]),
                record(b"INITRD.GZ;1", 28, 9, 0, &nm("initrd.gz", false)),
            ],
        );
        let mut d = dev(&img);
        let info = probe(&mut d).unwrap();
        assert_eq!(info.primary.mode, NameMode::RockRidge { skip: 0 });
        assert!(info.rock_ridge());
        let t = info.preferred_tree().clone();
        let names: Vec<(String, String, bool)> = read_dir(&mut d, &t, &t.root)
            .unwrap()
            .into_iter()
            .map(|e| (e.record.name.clone(), e.record.iso_name.clone(), e.record.rr_name))
            .collect();
        let expect = [
            ("a-Long-Name.tar.gz", "A_LONG_N.TAR", true),
            ("boot", "BOOT", true),
            ("PLAIN.TXT", "PLAIN.TXT", false),
            ("BADCE.TXT", "BADCE.TXT", false),
            ("LOOP.TXT", "LOOP.TXT", false),
        ];
        let expect: Vec<_> =
            expect.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), *c)).collect();
        assert_eq!(names, expect);
        // Exact RR match, and the ISO name as a fallback.
        assert_eq!(lookup(&mut d, &t, "/boot/initrd.gz").unwrap().lba(), 28);
        assert_eq!(lookup(&mut d, &t, "/BOOT/INITRD.GZ").unwrap().lba(), 28);
        assert_eq!(lookup(&mut d, &t, "/a_long_n.tar").unwrap().lba(), 26);
    }

    #[test]
    fn directory_spanning_sectors_with_padding() {
        let mut img = Img::new(30);
        img.pvd(16, "BIG", 30, 20, 3 * 2048);
        img.terminator(17);
        let mut recs = vec![dot(20, 3 * 2048), dotdot(20, 3 * 2048)];
        let names: Vec<String> = (0..120).map(|i| alloc::format!("FILE{i:04}.DAT;1")).collect();
        for (i, n) in names.iter().enumerate() {
            recs.push(file(n, 25, i as u32));
        }
        img.dir(20, &recs);
        let mut d = dev(&img);
        let info = probe(&mut d).unwrap();
        let list = read_dir(&mut d, &info.primary, &info.primary.root).unwrap();
        assert_eq!(list.len(), 120);
        for (i, e) in list.iter().enumerate() {
            assert_eq!(e.name(), alloc::format!("FILE{i:04}.DAT"));
            assert_eq!(e.size, i as u64);
        }
        // The records straddle sectors: the ones in the 2nd sector start at its beginning.
        assert!(list.iter().any(|e| e.record_offset() == 21 * 2048));
        assert_eq!(lookup(&mut d, &info.primary, "/file0119.dat").unwrap().size, 119);
    }

    #[test]
    fn multi_extent_files_are_merged() {
        let mut img = Img::new(40);
        img.pvd(16, "ME", 40, 20, 2048);
        img.terminator(17);
        img.dir(
            20,
            &[
                dot(20, 2048),
                dotdot(20, 2048),
                record(b"BIG.IMG;1", 30, 4096, flags::MULTI_EXTENT, &[]),
                record(b"BIG.IMG;1", 32, 4096, flags::MULTI_EXTENT, &[]),
                record(b"BIG.IMG;1", 34, 100, 0, &[]),
                file("NEXT.TXT;1", 36, 5),
            ],
        );
        for (lba, v) in [(30u32, 1u8), (32, 2), (34, 3)] {
            img.put(lba, 0, &[v; 4096]);
        }
        let mut d = dev(&img);
        let info = probe(&mut d).unwrap();
        let list = read_dir(&mut d, &info.primary, &info.primary.root).unwrap();
        assert_eq!(list.len(), 2);
        let big = &list[0];
        assert_eq!(big.size, 4096 + 4096 + 100);
        let ranges: Vec<_> = big.byte_ranges().collect();
        assert_eq!(ranges, [(30 * 2048, 4096), (32 * 2048, 4096), (34 * 2048, 100)]);
        assert_eq!(
            big.sections[2].record_offset,
            big.record_offset() + 2 * big.record.record_len as u64
        );
        let data = read_to_vec(&mut d, big, 1 << 20).unwrap();
        assert_eq!(data.len(), 8292);
        assert!(data[..4096].iter().all(|&b| b == 1) && data[4096..8192].iter().all(|&b| b == 2));
        assert!(data[8192..].iter().all(|&b| b == 3));
        assert!(read_to_vec(&mut d, big, 100).is_err());
        let mut buf = [0u8; 8];
        assert_eq!(read_file(&mut d, big, u64::MAX - 3, &mut buf).unwrap(), 0);
        assert_eq!(read_file(&mut d, big, 8290, &mut buf).unwrap(), 2);
        assert_eq!(read_file(&mut d, big, 4090, &mut buf).unwrap(), 8);
        assert_eq!(buf, [1, 1, 1, 1, 1, 1, 2, 2]);
        assert_eq!(list[1].name(), "NEXT.TXT");
    }

    #[test]
    fn hostile_records_give_errors() {
        let base = || {
            let mut img = Img::new(30);
            img.pvd(16, "H", 30, 20, 2048);
            img.terminator(17);
            img.dir(20, &[dot(20, 2048), dotdot(20, 2048)]);
            img
        };
        let list_err = |img: &Img| {
            let mut d = dev(img);
            let info = probe(&mut d).unwrap();
            read_dir(&mut d, &info.primary, &info.primary.root).unwrap_err()
        };
        // Record crossing the sector end.
        let mut img = base();
        let mut at = 68;
        while at + 40 <= 2030 {
            let r = file("F.TXT;1", 25, 1);
            img.put(20, at, &r);
            at += r.len();
        }
        img.put(20, at, &[60]);
        assert!(matches!(
            list_err(&img),
            IsoError::BadRecord { reason: "record crosses the end of its sector", .. }
        ));
        // Too-short record.
        let mut img = base();
        img.put(20, 68, &[20]);
        assert!(matches!(
            list_err(&img),
            IsoError::BadRecord { reason: "record shorter than 34 bytes", .. }
        ));
        // Identifier longer than the record.
        let mut img = base();
        let mut r = file("X.TXT;1", 25, 1);
        r[32] = 200;
        img.put(20, 68, &r);
        assert!(matches!(list_err(&img), IsoError::BadRecord { .. }));
        // Directory extent past the end of the image.
        let mut img = base();
        img.dir(20, &[dot(20, 2048), dotdot(20, 2048), subdir("D", 5000, 2048)]);
        let mut d = dev(&img);
        let info = probe(&mut d).unwrap();
        assert!(matches!(
            lookup(&mut d, &info.primary, "/D/X"),
            Err(IsoError::Io(IoError::OutOfBounds { .. }))
        ));
        // Huge directory.
        let mut img = base();
        img.dir(20, &[dot(20, 2048), dotdot(20, 2048), subdir("D", 21, u32::MAX)]);
        let mut d = dev(&img);
        let info = probe(&mut d).unwrap();
        assert!(matches!(
            lookup(&mut d, &info.primary, "/D/X"),
            Err(IsoError::DirectoryTooLarge { .. })
        ));
        // A directory that contains itself: walks stop at the depth limit, lookups of deep
        // paths at MAX_DEPTH.
        let mut img = base();
        img.dir(20, &[dot(20, 2048), dotdot(20, 2048), subdir("LOOP", 20, 2048)]);
        let mut d = dev(&img);
        let info = probe(&mut d).unwrap();
        assert_eq!(walk(&mut d, &info.primary, MAX_DEPTH, |_, _| true), Err(IsoError::TooDeep));
        let deep: String = (0..MAX_DEPTH + 1).map(|_| "/loop").collect();
        assert_eq!(lookup(&mut d, &info.primary, &deep), Err(IsoError::TooDeep));
        let ok: String = (0..MAX_DEPTH).map(|_| "/loop").collect();
        assert!(lookup(&mut d, &info.primary, &ok).is_ok());
    }

    #[test]
    fn never_panics_on_garbage() {
        // Flip bytes all over the metadata sectors of the sample and make sure everything
        // still returns (errors are fine).
        let img = sample();
        let mut rng = crate::testutil::Rng(0x1234_5678_9abc_def0u64);
        let mut next = move || rng.next();
        for _ in 0..400 {
            let mut data = img.data.clone();
            for _ in 0..1 + next() % 8 {
                let sector = 16 + next() % 10;
                let at = (sector * 2048 + next() % 256) as usize;
                data[at] = next() as u8;
            }
            let mut d = MemDevice::from_vec(data);
            if let Ok(info) = probe(&mut d) {
                let mut trees = vec![info.primary.clone()];
                trees.extend(info.joliet.map(|j| j.tree));
                for t in &trees {
                    let _ = walk(&mut d, t, MAX_DEPTH, |_, _| true);
                    let _ = lookup(&mut d, t, "/boot/grub/grub.cfg");
                }
            }
        }
    }

    #[test]
    fn name_helpers() {
        assert_eq!(strip_version("A.TXT;1".into(), false), "A.TXT");
        assert_eq!(strip_version("NOEXT.;1".into(), false), "NOEXT");
        assert_eq!(strip_version("DIR".into(), true), "DIR");
        assert_eq!(strip_version("A;B".into(), false), "A;B");
        assert_eq!(strip_version(".".into(), false), ".");
        assert_eq!(ucs2_text(&ucs2("Grüße  ")), "Grüße");
        assert_eq!(ucs2_text(&[0xD8, 0x00, 0x00, 0x41]), "\u{FFFD}A");
        assert!(eq_fold("GRÜSSE.txt", "grüsse.TXT"));
        assert_eq!(field_text(b"VOL   \0\0"), "VOL");
    }
}
