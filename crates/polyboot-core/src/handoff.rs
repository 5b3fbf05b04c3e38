//! The hand-off record: what the boot manager tells `polyboot-hook` (running as `/init` inside
//! the booted Linux) about the drive, the image it booted, and what else to do before the
//! image's own init runs (persistence, files to place in the initramfs).
//!
//! The record travels inside the wrapped initrd as the file [`HANDOFF_PATH`]; the original
//! initrds travel beside it in [`ORIGINAL_INITRDS_DIR`] (see `initrd_wrap`). All integers
//! little-endian.
//!
//! | offset | size | field                                                            |
//! |--------|------|------------------------------------------------------------------|
//! | 0      | 9    | magic `PBHANDOFF`                                                |
//! | 9      | 1    | version (2; version 1 records, which have no sections, are read too) |
//! | 10     | 2    | header length (72)                                               |
//! | 12     | 4    | total record length in bytes, sections included                  |
//! | 16     | 4    | CRC-32 of the whole record with this field zero                  |
//! | 20     | 1    | identity kind: 1 = GPT disk GUID, 2 = MBR disk signature          |
//! | 21     | 1    | image kind: 1 = ISO, 2 = IMG (raw disk image)                     |
//! | 22     | 2    | reserved, 0                                                      |
//! | 24     | 16   | GPT disk GUID (on-disk bytes), or MBR signature in bytes 0..4     |
//! | 40     | 8    | disk size in bytes                                               |
//! | 48     | 4    | logical sector size in bytes (512 or 4096)                       |
//! | 52     | 4    | number of image extents                                          |
//! | 56     | 8    | byte offset of the data partition on the disk                     |
//! | 64     | 8    | image size in bytes                                              |
//! | 72     | 24·n | extents: file offset, disk byte offset, length (each u64)         |
//!
//! Extent disk offsets are absolute bytes from the start of the *disk* (the partition offset
//! already added), so the hook can build a device-mapper table without more arithmetic.
//! Extents are listed in file order, contiguous from file offset 0 (the last one may run on
//! to the end of its cluster). They may cover less than the image size: an exFAT file's bytes
//! past its valid data length are not stored and read as zeros. Offsets are multiples of 512
//! so they map onto device-mapper sectors.
//!
//! ## Sections (version 2)
//!
//! After the image extents and up to the total length: zero or more sections
//! `[u32 type][u32 payload length][payload]`, back to back. A reader skips types it does not
//! know (at most [`MAX_SECTIONS`] sections in all), so a later writer can add some without a
//! new version. Strings are UTF-8 with a `u16` byte length in front.
//!
//! - type 1, **Persistence** (at most one): `u8 flags` (bit 0: LUKS2-encrypted; other bits
//!   must be 0), 3 reserved bytes, `u64 size`, `u32 n`, n × 24-byte extents (as above), the
//!   backend's path on the drive (for messages). The extents must cover the whole size (the
//!   device is written to, so no tail may read as zeros) and overlap neither each other nor
//!   the image's; the hook maps `size / 512` sectors read-write.
//! - type 2, **AddedParams** (at most one): the kernel parameters the boot manager added to the
//!   image's boot configuration, for the hook's log.
//! - type 3, **File** (at most [`MAX_FILES`]): `u8 action` (1 Copy, 2 Template, 3 Inject), 3
//!   reserved bytes, `u64 size`, `u32 n`, n × 24-byte extents (as the image's: they may stop
//!   before the size, the rest reads as zeros; none at all with a size above 0: the bytes are in
//!   the wrapped initrd as `polyboot/files/NNNN`, NNNN the file's index), the target path inside the initramfs (absolute
//!   and normalised; empty for Inject, whose archive is extracted over `/`), the source path on
//!   the drive (for messages).
//!
//! A known section's payload has exactly the length its fields need.

use crate::bytes::{self, Fields};
use crate::crc32::crc32;
use crate::drive_location::DriveLocation;
use crate::exfat::Extent;
use crate::guid::Guid;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Path of the record inside the wrapped initrd (relative to `/`).
pub const HANDOFF_PATH: &str = "polyboot/handoff.bin";
/// Directory of the original initrds, each stored as one file inside its wrapped initrd and
/// named by its position in the boot configuration (`0000`, `0001`, ...): a boot entry that
/// loads several initrds (early microcode first) gets each wrapped, and the hook unpacks them
/// in name order.
pub const ORIGINAL_INITRDS_DIR: &str = "polyboot/initrds";
/// Directory of the bytes of [`HandoffFile`]s that have no extents but a size: the boot
/// manager put them into the wrapped initrd itself ([`embedded_file_name`]), because the
/// booted initrd may have no driver for the drive (Debian's netboot installer has none for
/// USB storage) and an answer file must be there all the same.
pub const EMBEDDED_FILES_DIR: &str = "polyboot/files";

/// Where the bytes of the `index`-th file of the record are when it has no extents.
pub fn embedded_file_name(index: usize) -> String {
    alloc::format!("{EMBEDDED_FILES_DIR}/{index:04}")
}

pub const MAGIC: [u8; 9] = *b"PBHANDOFF";
/// The version this build writes.
pub const VERSION: u8 = 2;
/// The first version: no sections. Still read (bytes after its extents are ignored).
pub const VERSION_1: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 72;
pub const EXTENT_LEN: usize = 24;
/// A fragmented multi-GB image on small clusters stays far below this; anything above it is
/// hostile or corrupt, and refusing it bounds the allocation `decode` makes. It bounds the
/// persistence backend's and each file's extents too.
pub const MAX_EXTENTS: u32 = 1 << 20;
/// Section header: type and payload length.
pub const SECTION_HEADER_LEN: usize = 8;
pub const SECTION_PERSISTENCE: u32 = 1;
pub const SECTION_ADDED_PARAMS: u32 = 2;
pub const SECTION_FILE: u32 = 3;
/// More sections than this (known or not) is not a record any writer makes.
pub const MAX_SECTIONS: usize = 4096;
/// Files the boot manager may hand over (templates, an injection archive, ...).
pub const MAX_FILES: usize = 64;
/// The hook reads each file into memory: refuse more than this per file.
pub const MAX_FILE_SIZE: u64 = 256 << 20;
/// Longest target path inside the initramfs (Linux's PATH_MAX less the NUL).
pub const MAX_TARGET_LEN: usize = 4095;
/// Fixed part of the Persistence and File payloads (flags / action, reserved, size, count).
const SECTION_FIXED_LEN: usize = 16;
const FLAG_ENCRYPTED: u8 = 1;

/// How the hook recognises the drive, besides its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveIdentity {
    /// GPT disk GUID (from the primary header).
    Gpt(Guid),
    /// The 32-bit disk signature at byte 440 of the MBR.
    Mbr(u32),
}

/// What the booted image is, so the hook can name and map it suitably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Iso,
    Img,
}

impl ImageKind {
    fn code(self) -> u8 {
        match self {
            ImageKind::Iso => 1,
            ImageKind::Img => 2,
        }
    }
    fn from_code(c: u8) -> Option<ImageKind> {
        match c {
            1 => Some(ImageKind::Iso),
            2 => Some(ImageKind::Img),
            _ => None,
        }
    }
}

/// One contiguous run of a file on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskExtent {
    /// Offset within the file.
    pub file_offset: u64,
    /// Absolute byte offset on the disk.
    pub disk_offset: u64,
    pub len: u64,
}

/// The persistence backend file the hook maps read-write as `/dev/mapper/polyboot-persist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceBackend {
    /// A LUKS2 container: the hook asks for the passphrase and maps it with dm-crypt.
    pub encrypted: bool,
    pub size: u64,
    pub extents: Vec<DiskExtent>,
    /// Its path on the drive's data partition, for messages.
    pub path: String,
}

/// What the hook does with a [`HandoffFile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// Write the bytes to the target path.
    Copy,
    /// Expand Ventoy's `$$VT_…$$` variables (`autoinstall_vars`), then write to the target.
    Template,
    /// A tar archive (plain, gzip or xz) extracted over `/`.
    Inject,
}

impl FileAction {
    fn code(self) -> u8 {
        match self {
            FileAction::Copy => 1,
            FileAction::Template => 2,
            FileAction::Inject => 3,
        }
    }
    fn from_code(c: u8) -> Option<FileAction> {
        match c {
            1 => Some(FileAction::Copy),
            2 => Some(FileAction::Template),
            3 => Some(FileAction::Inject),
            _ => None,
        }
    }
}

impl fmt::Display for FileAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileAction::Copy => "copy",
            FileAction::Template => "template",
            FileAction::Inject => "inject",
        })
    }
}

/// A file on the drive the hook reads and places in the initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffFile {
    pub action: FileAction,
    pub size: u64,
    pub extents: Vec<DiskExtent>,
    /// Absolute, normalised path inside the initramfs; empty for [`FileAction::Inject`].
    pub target: String,
    /// Its path on the drive's data partition, for messages.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub identity: DriveIdentity,
    pub disk_size: u64,
    pub sector_size: u32,
    pub partition_offset: u64,
    pub image_kind: ImageKind,
    pub image_size: u64,
    pub extents: Vec<DiskExtent>,
    pub persistence: Option<PersistenceBackend>,
    /// Kernel parameters the boot manager added (for the log); empty when none.
    pub added_params: String,
    pub files: Vec<HandoffFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffError {
    /// Fewer bytes than the header or than the record claims.
    Truncated {
        need: u64,
        have: u64,
    },
    BadMagic,
    UnsupportedVersion(u8),
    BadHeaderLength(u16),
    BadTotalLength(u32),
    CrcMismatch {
        stored: u32,
        computed: u32,
    },
    UnknownIdentityKind(u8),
    UnknownImageKind(u8),
    BadSectorSize(u32),
    TooManyExtents(u32),
    NoExtents,
    /// Extent `index` is empty, unaligned, out of order, or reaches past the disk.
    BadExtent {
        index: u32,
        why: &'static str,
    },
    /// The data partition starts past the end of the disk.
    BadPartitionOffset(u64),
    /// The drive has neither a GPT disk GUID nor an MBR signature to be recognised by.
    NoIdentity,
    /// The section starting at byte `at` of the record is malformed.
    BadSection {
        at: u32,
        why: &'static str,
    },
    /// A section type that may appear once appears again.
    DuplicateSection(u32),
    /// A string is not UTF-8, or too long for its length field.
    BadText(&'static str),
    UnknownFileAction(u8),
    TooManyFiles(usize),
    /// The persistence backend cannot be mapped read-write safely.
    BadPersistence(&'static str),
    BadPersistenceExtent {
        index: u32,
        why: &'static str,
    },
    /// File `file` (index in [`Handoff::files`]) has a bad target path or size.
    BadFile {
        file: u32,
        why: &'static str,
    },
    BadFileExtent {
        file: u32,
        index: u32,
        why: &'static str,
    },
    /// The record would be longer than its 32-bit length field can say.
    TooLong(u64),
}

impl fmt::Display for HandoffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HandoffError::*;
        match self {
            Truncated { need, have } => {
                write!(f, "hand-off record truncated: need {need} bytes, have {have}")
            }
            BadMagic => f.write_str("not a hand-off record (bad magic)"),
            UnsupportedVersion(v) => write!(
                f,
                "hand-off record version {v} is not supported (this build reads {VERSION_1} and {VERSION})"
            ),
            BadHeaderLength(l) => write!(f, "hand-off header length {l} is invalid"),
            BadTotalLength(l) => write!(f, "hand-off record length {l} is invalid"),
            CrcMismatch { stored, computed } => {
                write!(f, "hand-off record CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            UnknownIdentityKind(k) => write!(f, "unknown drive identity kind {k}"),
            UnknownImageKind(k) => write!(f, "unknown image kind {k}"),
            BadSectorSize(s) => write!(f, "sector size {s} is not 512 or 4096"),
            TooManyExtents(n) => write!(f, "{n} extents is more than the limit of {MAX_EXTENTS}"),
            NoExtents => f.write_str("the image has no extents"),
            BadExtent { index, why } => write!(f, "extent {index}: {why}"),
            BadPartitionOffset(o) => write!(f, "partition offset {o} is past the end of the disk"),
            NoIdentity => f.write_str("the drive has neither a GPT disk GUID nor an MBR signature"),
            BadSection { at, why } => write!(f, "hand-off section at byte {at}: {why}"),
            DuplicateSection(t) => write!(f, "hand-off section type {t} appears twice"),
            BadText(what) => write!(f, "{what}: not UTF-8 or too long"),
            UnknownFileAction(a) => write!(f, "unknown file action {a}"),
            TooManyFiles(n) => write!(f, "{n} files is more than the limit of {MAX_FILES}"),
            BadPersistence(why) => write!(f, "persistence backend: {why}"),
            BadPersistenceExtent { index, why } => {
                write!(f, "persistence backend extent {index}: {why}")
            }
            BadFile { file, why } => write!(f, "file {file}: {why}"),
            BadFileExtent { file, index, why } => write!(f, "file {file}, extent {index}: {why}"),
            TooLong(n) => write!(f, "hand-off record of {n} bytes is too long"),
        }
    }
}

impl core::error::Error for HandoffError {}

/// exFAT extents (offsets within the data partition) as absolute disk extents.
fn disk_extents(location: &DriveLocation, extents: &[Extent]) -> Vec<DiskExtent> {
    let part = location.data.offset;
    extents
        .iter()
        .map(|e| DiskExtent {
            file_offset: e.file_offset,
            disk_offset: part.saturating_add(e.device_offset),
            len: e.len,
        })
        .collect()
}

/// The rules every extent list follows (see the module documentation); the error is the index
/// of the first bad extent and why. Returns the file length the extents cover.
fn check_extents(
    extents: &[DiskExtent],
    disk_size: u64,
    partition_offset: u64,
) -> Result<u64, (u32, &'static str)> {
    if extents.len() > MAX_EXTENTS as usize {
        return Err((MAX_EXTENTS, "too many extents"));
    }
    let mut next = 0u64;
    for (i, e) in extents.iter().enumerate() {
        let bad = |why| Err((i as u32, why));
        if e.len == 0 {
            return bad("empty");
        }
        if e.file_offset != next {
            return bad("not contiguous with the previous extent");
        }
        if e.disk_offset % 512 != 0 || e.file_offset % 512 != 0 {
            return bad("offset is not a multiple of 512");
        }
        // Device-mapper maps whole sectors: the rounded-up length must still fit.
        let Some(end) =
            e.len.checked_add(511).map(|l| l & !511).and_then(|l| e.disk_offset.checked_add(l))
        else {
            return bad("overflows");
        };
        if end > disk_size {
            return bad("reaches past the end of the disk");
        }
        if e.disk_offset < partition_offset {
            return bad("starts before the data partition");
        }
        match next.checked_add(e.len) {
            Some(n) => next = n,
            None => return bad("overflows"),
        }
        // Only the last extent may have a length that is not whole sectors.
        if e.len % 512 != 0 && i + 1 != extents.len() {
            return bad("length is not a multiple of 512");
        }
    }
    Ok(next)
}

/// Disk byte ranges `[start, end)` of extents (lengths rounded up to sectors, as mapped).
/// Only called on extents `check_extents` accepted, so nothing overflows.
fn disk_ranges(extents: &[DiskExtent]) -> impl Iterator<Item = (u64, u64)> + '_ {
    extents.iter().map(|e| (e.disk_offset, e.disk_offset + e.len.next_multiple_of(512)))
}

/// Is `path` an absolute, normalised path other than `/` (no empty, `.` or `..` components,
/// no trailing slash, no NUL)? The reason when not.
pub fn check_target_path(path: &str) -> Result<(), &'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("target path is not absolute");
    };
    if path.len() > MAX_TARGET_LEN {
        return Err("target path is too long");
    }
    if path.contains('\0') {
        return Err("target path contains NUL");
    }
    if rest.is_empty() {
        return Err("target path is the root directory");
    }
    for c in rest.split('/') {
        match c {
            "" => return Err("target path has an empty component or a trailing slash"),
            "." | ".." => return Err("target path has a '.' or '..' component"),
            _ => {}
        }
    }
    Ok(())
}

impl PersistenceBackend {
    /// The backend file `path` of `size` bytes stored at `extents` (offsets within the data
    /// partition, as the exFAT reader gives them) on the drive at `location`.
    pub fn on_drive(
        location: &DriveLocation,
        path: &str,
        size: u64,
        extents: &[Extent],
        encrypted: bool,
    ) -> PersistenceBackend {
        PersistenceBackend {
            encrypted,
            size,
            extents: disk_extents(location, extents),
            path: String::from(path),
        }
    }

    fn payload_len(&self) -> u64 {
        (SECTION_FIXED_LEN + EXTENT_LEN * self.extents.len() + 2 + self.path.len()) as u64
    }
}

impl HandoffFile {
    /// The file `source` of `size` bytes stored at `extents` (offsets within the data
    /// partition) on the drive at `location`, to be placed at `target` (empty for Inject).
    pub fn on_drive(
        location: &DriveLocation,
        action: FileAction,
        target: &str,
        source: &str,
        size: u64,
        extents: &[Extent],
    ) -> HandoffFile {
        HandoffFile {
            action,
            size,
            extents: disk_extents(location, extents),
            target: String::from(target),
            source: String::from(source),
        }
    }

    fn payload_len(&self) -> u64 {
        (SECTION_FIXED_LEN
            + EXTENT_LEN * self.extents.len()
            + 2
            + self.target.len()
            + 2
            + self.source.len()) as u64
    }
}

fn put_extents(out: &mut Vec<u8>, extents: &[DiskExtent]) {
    for e in extents {
        out.extend_from_slice(&e.file_offset.to_le_bytes());
        out.extend_from_slice(&e.disk_offset.to_le_bytes());
        out.extend_from_slice(&e.len.to_le_bytes());
    }
}

/// A `u16`-length-prefixed string (validated lengths fit).
fn put_text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_section_header(out: &mut Vec<u8>, kind: u32, len: u64) {
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

/// `n` extents from `b` (already checked to hold them).
fn read_extents(b: &[u8]) -> Vec<DiskExtent> {
    b.chunks_exact(EXTENT_LEN)
        .filter_map(|c| <&[u8; EXTENT_LEN]>::try_from(c).ok())
        .map(|c| DiskExtent {
            file_offset: c.le64::<0>(),
            disk_offset: c.le64::<8>(),
            len: c.le64::<16>(),
        })
        .collect()
}

/// A reader over one section's payload; `at` is the payload's offset in the record, for errors.
struct Payload<'a> {
    b: &'a [u8],
    pos: usize,
    at: u32,
}

impl<'a> Payload<'a> {
    fn bad(&self, why: &'static str) -> HandoffError {
        HandoffError::BadSection { at: self.at, why }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], HandoffError> {
        let s = bytes::slice(self.b, self.pos, n)
            .map_err(|_| self.bad("payload shorter than its fields"))?;
        self.pos += n;
        Ok(s)
    }
    /// The fixed part: flags / action, size, extent count.
    fn fixed(&mut self) -> Result<(u8, u64, u32), HandoffError> {
        let f = bytes::chunk::<SECTION_FIXED_LEN>(self.take(SECTION_FIXED_LEN)?, 0)
            .map_err(|_| self.bad("payload shorter than its fields"))?;
        Ok((f[0], f.le64::<4>(), f.le32::<12>()))
    }
    fn extents(&mut self, n: u32) -> Result<Vec<DiskExtent>, HandoffError> {
        if n > MAX_EXTENTS {
            return Err(HandoffError::TooManyExtents(n));
        }
        // Checked against the payload before anything is allocated.
        let len = (n as usize).checked_mul(EXTENT_LEN).ok_or(self.bad("extent count"))?;
        Ok(read_extents(self.take(len)?))
    }
    fn text(&mut self, what: &'static str) -> Result<String, HandoffError> {
        let len = bytes::le16(self.take(2)?, 0).map_err(|_| self.bad("string length"))?;
        let s = self.take(len as usize)?;
        core::str::from_utf8(s).map(String::from).map_err(|_| HandoffError::BadText(what))
    }
    fn end(&self) -> Result<(), HandoffError> {
        if self.pos != self.b.len() {
            return Err(self.bad("payload longer than its fields"));
        }
        Ok(())
    }
}

impl Handoff {
    /// The record for an image file of `image_size` bytes stored at `extents` (offsets within
    /// the data partition, as the exFAT reader gives them) on the drive at `location`, whose
    /// whole-disk size is `disk_size`: what both boot managers (UEFI and BIOS) hand over.
    /// No persistence, added parameters or files: set those fields, then [`Handoff::validate`].
    pub fn for_image(
        location: &DriveLocation,
        disk_size: u64,
        image_kind: ImageKind,
        image_size: u64,
        extents: &[Extent],
    ) -> Result<Handoff, HandoffError> {
        let identity = match (location.disk_guid, location.mbr_signature) {
            (Some(guid), _) => DriveIdentity::Gpt(guid),
            (None, Some(sig)) => DriveIdentity::Mbr(sig),
            (None, None) => return Err(HandoffError::NoIdentity),
        };
        let h = Handoff {
            identity,
            disk_size,
            sector_size: location.sector_size,
            partition_offset: location.data.offset,
            image_kind,
            image_size,
            extents: disk_extents(location, extents),
            persistence: None,
            added_params: String::new(),
            files: Vec::new(),
        };
        h.validate()?;
        Ok(h)
    }

    /// Length of [`Handoff::encode`]'s output (in 64 bits: a hostile value may not fit in 32).
    pub fn encoded_len(&self) -> u64 {
        let mut n = (HEADER_LEN + EXTENT_LEN * self.extents.len()) as u64;
        if let Some(p) = &self.persistence {
            n += SECTION_HEADER_LEN as u64 + p.payload_len();
        }
        if !self.added_params.is_empty() {
            n += (SECTION_HEADER_LEN + self.added_params.len()) as u64;
        }
        for f in &self.files {
            n += SECTION_HEADER_LEN as u64 + f.payload_len();
        }
        n
    }

    /// Check the semantic rules (see the module documentation). `decode` runs this; encoders
    /// should run it too before writing a record.
    pub fn validate(&self) -> Result<(), HandoffError> {
        if self.sector_size != 512 && self.sector_size != 4096 {
            return Err(HandoffError::BadSectorSize(self.sector_size));
        }
        if self.partition_offset >= self.disk_size {
            return Err(HandoffError::BadPartitionOffset(self.partition_offset));
        }
        if self.extents.is_empty() {
            return Err(HandoffError::NoExtents);
        }
        if self.extents.len() > MAX_EXTENTS as usize {
            return Err(HandoffError::TooManyExtents(self.extents.len() as u32));
        }
        check_extents(&self.extents, self.disk_size, self.partition_offset)
            .map_err(|(index, why)| HandoffError::BadExtent { index, why })?;
        if let Some(p) = &self.persistence {
            self.validate_persistence(p)?;
        }
        if self.added_params.len() > u16::MAX as usize {
            return Err(HandoffError::BadText("added parameters"));
        }
        if self.files.len() > MAX_FILES {
            return Err(HandoffError::TooManyFiles(self.files.len()));
        }
        for (i, f) in self.files.iter().enumerate() {
            let file = i as u32;
            let bad = |why| HandoffError::BadFile { file, why };
            match f.action {
                FileAction::Inject if !f.target.is_empty() => {
                    return Err(bad("an archive to inject has no target path"))
                }
                FileAction::Inject => {}
                FileAction::Copy | FileAction::Template => {
                    check_target_path(&f.target).map_err(bad)?
                }
            }
            if f.source.len() > u16::MAX as usize {
                return Err(HandoffError::BadText("file source path"));
            }
            if f.size > MAX_FILE_SIZE {
                return Err(bad("larger than the limit of 256 MiB"));
            }
            // Extents may stop short of the size (zeros past the valid data length); the hook
            // reads no more than the size.
            check_extents(&f.extents, self.disk_size, self.partition_offset)
                .map_err(|(index, why)| HandoffError::BadFileExtent { file, index, why })?;
        }
        let len = self.encoded_len();
        if len > u32::MAX as u64 {
            return Err(HandoffError::TooLong(len));
        }
        Ok(())
    }

    fn validate_persistence(&self, p: &PersistenceBackend) -> Result<(), HandoffError> {
        if p.extents.is_empty() {
            return Err(HandoffError::BadPersistence("no extents"));
        }
        if p.extents.len() > MAX_EXTENTS as usize {
            return Err(HandoffError::TooManyExtents(p.extents.len() as u32));
        }
        let covered = check_extents(&p.extents, self.disk_size, self.partition_offset)
            .map_err(|(index, why)| HandoffError::BadPersistenceExtent { index, why })?;
        if p.size < 512 {
            return Err(HandoffError::BadPersistence("smaller than one sector"));
        }
        // Written through device-mapper: a tail without extents would be a zero target that
        // swallows writes (an exFAT file whose valid data length is short of its size).
        if covered < p.size {
            return Err(HandoffError::BadPersistence("extents do not cover its size"));
        }
        if p.path.len() > u16::MAX as usize {
            return Err(HandoffError::BadText("persistence path"));
        }
        // Mapped read-write: it must not share a sector with the image or with itself.
        let mut ranges: Vec<(u64, u64, bool)> = disk_ranges(&p.extents)
            .map(|(s, e)| (s, e, true))
            .chain(disk_ranges(&self.extents).map(|(s, e)| (s, e, false)))
            .collect();
        ranges.sort_unstable();
        // Sorted by start, a range overlaps an earlier one exactly when it starts before the
        // furthest end so far. The image may overlap itself (read-only), so ends are kept
        // apart: the backend's against everything, the image's against the backend's.
        let (mut any_end, mut backend_end) = (0u64, 0u64);
        for &(start, end, backend) in &ranges {
            if start < backend_end || (backend && start < any_end) {
                return Err(HandoffError::BadPersistence(
                    "its extents overlap each other or the image",
                ));
            }
            any_end = any_end.max(end);
            if backend {
                backend_end = backend_end.max(end);
            }
        }
        Ok(())
    }

    /// Encode as a version 2 record (run [`Handoff::validate`] first: lengths that do not fit
    /// their fields are cut, not reported, here).
    pub fn encode(&self) -> Vec<u8> {
        let total = self.encoded_len();
        let mut out = Vec::with_capacity(total as usize);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]); // CRC, filled below
        let (kind, id) = match self.identity {
            DriveIdentity::Gpt(g) => (1u8, g.0),
            DriveIdentity::Mbr(sig) => {
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&sig.to_le_bytes());
                (2u8, id)
            }
        };
        out.push(kind);
        out.push(self.image_kind.code());
        out.extend_from_slice(&[0; 2]);
        out.extend_from_slice(&id);
        out.extend_from_slice(&self.disk_size.to_le_bytes());
        out.extend_from_slice(&self.sector_size.to_le_bytes());
        out.extend_from_slice(&(self.extents.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.partition_offset.to_le_bytes());
        out.extend_from_slice(&self.image_size.to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_LEN);
        put_extents(&mut out, &self.extents);
        if let Some(p) = &self.persistence {
            put_section_header(&mut out, SECTION_PERSISTENCE, p.payload_len());
            out.push(if p.encrypted { FLAG_ENCRYPTED } else { 0 });
            out.extend_from_slice(&[0; 3]);
            out.extend_from_slice(&p.size.to_le_bytes());
            out.extend_from_slice(&(p.extents.len() as u32).to_le_bytes());
            put_extents(&mut out, &p.extents);
            put_text(&mut out, &p.path);
        }
        if !self.added_params.is_empty() {
            put_section_header(&mut out, SECTION_ADDED_PARAMS, self.added_params.len() as u64);
            out.extend_from_slice(self.added_params.as_bytes());
        }
        for f in &self.files {
            put_section_header(&mut out, SECTION_FILE, f.payload_len());
            out.push(f.action.code());
            out.extend_from_slice(&[0; 3]);
            out.extend_from_slice(&f.size.to_le_bytes());
            out.extend_from_slice(&(f.extents.len() as u32).to_le_bytes());
            put_extents(&mut out, &f.extents);
            put_text(&mut out, &f.target);
            put_text(&mut out, &f.source);
        }
        debug_assert_eq!(out.len() as u64, total);
        let crc = crc32(&out);
        out[16..20].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decode and validate a record. `bytes` may be longer than the record (a file padded to
    /// a sector, say); bytes past the record's total length are ignored.
    pub fn decode(bytes: &[u8]) -> Result<Handoff, HandoffError> {
        let have = bytes.len() as u64;
        let Ok(head) = bytes::chunk::<20>(bytes, 0) else {
            return Err(if bytes.len() >= 9 && bytes[..9] != MAGIC {
                HandoffError::BadMagic
            } else {
                HandoffError::Truncated { need: HEADER_LEN as u64, have }
            });
        };
        if head[..9] != MAGIC {
            return Err(HandoffError::BadMagic);
        }
        let version = head[9];
        if version != VERSION && version != VERSION_1 {
            return Err(HandoffError::UnsupportedVersion(version));
        }
        let header_len = head.le16::<10>();
        if (header_len as usize) < HEADER_LEN {
            return Err(HandoffError::BadHeaderLength(header_len));
        }
        let total = head.le32::<12>();
        if (total as u64) < header_len as u64 {
            return Err(HandoffError::BadTotalLength(total));
        }
        if (total as u64) > have {
            return Err(HandoffError::Truncated { need: total as u64, have });
        }
        let rec = &bytes[..total as usize];
        // At least the fixed header: total >= header_len >= HEADER_LEN.
        let fixed =
            bytes::chunk::<HEADER_LEN>(rec, 0).map_err(|_| HandoffError::BadTotalLength(total))?;
        let stored = fixed.le32::<16>();
        let mut copy = Vec::from(rec);
        copy[16..20].fill(0);
        let computed = crc32(&copy);
        if stored != computed {
            return Err(HandoffError::CrcMismatch { stored, computed });
        }
        let identity = match fixed[20] {
            1 => DriveIdentity::Gpt(Guid(fixed.bytes_at::<24, 16>())),
            2 => DriveIdentity::Mbr(fixed.le32::<24>()),
            k => return Err(HandoffError::UnknownIdentityKind(k)),
        };
        let image_kind =
            ImageKind::from_code(fixed[21]).ok_or(HandoffError::UnknownImageKind(fixed[21]))?;
        let count = fixed.le32::<52>();
        if count > MAX_EXTENTS {
            return Err(HandoffError::TooManyExtents(count));
        }
        let ext_start = header_len as usize;
        let ext_end = ext_start as u64 + count as u64 * EXTENT_LEN as u64;
        if ext_end > total as u64 {
            return Err(HandoffError::Truncated { need: ext_end, have: total as u64 });
        }
        let extents = read_extents(&rec[ext_start..ext_end as usize]);
        let mut h = Handoff {
            identity,
            disk_size: fixed.le64::<40>(),
            sector_size: fixed.le32::<48>(),
            partition_offset: fixed.le64::<56>(),
            image_kind,
            image_size: fixed.le64::<64>(),
            extents,
            persistence: None,
            added_params: String::new(),
            files: Vec::new(),
        };
        if version != VERSION_1 {
            h.decode_sections(rec, ext_end as usize)?;
        }
        h.validate()?;
        Ok(h)
    }

    /// Read the sections of `rec` from byte `at` to its end into `self`.
    fn decode_sections(&mut self, rec: &[u8], mut at: usize) -> Result<(), HandoffError> {
        let mut sections = 0usize;
        let mut added_params = false;
        while at < rec.len() {
            let here = at as u32;
            let bad = |why| HandoffError::BadSection { at: here, why };
            sections += 1;
            if sections > MAX_SECTIONS {
                return Err(bad("too many sections"));
            }
            let head = bytes::chunk::<SECTION_HEADER_LEN>(rec, at)
                .map_err(|_| bad("truncated section header"))?;
            let (kind, len) = (head.le32::<0>(), head.le32::<4>());
            let start = at + SECTION_HEADER_LEN;
            let b = bytes::slice(rec, start, len as usize)
                .map_err(|_| bad("section runs past the end of the record"))?;
            at = start + len as usize;
            let mut p = Payload { b, pos: 0, at: here };
            match kind {
                SECTION_PERSISTENCE => {
                    if self.persistence.is_some() {
                        return Err(HandoffError::DuplicateSection(kind));
                    }
                    let (flags, size, n) = p.fixed()?;
                    if flags & !FLAG_ENCRYPTED != 0 {
                        return Err(bad("unknown persistence flags"));
                    }
                    let extents = p.extents(n)?;
                    let path = p.text("persistence path")?;
                    p.end()?;
                    self.persistence = Some(PersistenceBackend {
                        encrypted: flags & FLAG_ENCRYPTED != 0,
                        size,
                        extents,
                        path,
                    });
                }
                SECTION_ADDED_PARAMS => {
                    if added_params {
                        return Err(HandoffError::DuplicateSection(kind));
                    }
                    added_params = true;
                    self.added_params = core::str::from_utf8(b)
                        .map(String::from)
                        .map_err(|_| HandoffError::BadText("added parameters"))?;
                }
                SECTION_FILE => {
                    let (code, size, n) = p.fixed()?;
                    let action =
                        FileAction::from_code(code).ok_or(HandoffError::UnknownFileAction(code))?;
                    let extents = p.extents(n)?;
                    let target = p.text("file target path")?;
                    let source = p.text("file source path")?;
                    p.end()?;
                    self.files.push(HandoffFile { action, size, extents, target, source });
                    // Checked here too, so a hostile record cannot make us collect thousands.
                    if self.files.len() > MAX_FILES {
                        return Err(HandoffError::TooManyFiles(self.files.len()));
                    }
                }
                _ => {} // a later writer's section
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> Handoff {
        Handoff {
            identity: DriveIdentity::Gpt(Guid(core::array::from_fn(|i| i as u8 * 3 + 1))),
            disk_size: 8 << 30,
            sector_size: 512,
            partition_offset: 1 << 20,
            image_kind: ImageKind::Iso,
            image_size: 3 * 4096 + 100,
            extents: vec![
                DiskExtent { file_offset: 0, disk_offset: (1 << 20) + 65536, len: 8192 },
                DiskExtent { file_offset: 8192, disk_offset: (1 << 20) + 4 * 65536, len: 8192 },
            ],
            persistence: None,
            added_params: String::new(),
            files: Vec::new(),
        }
    }

    #[test]
    fn built_for_an_image_on_a_drive() {
        use crate::drive_location::{DriveLocation, PartitionSpan};
        use crate::layout::Scheme;
        let span = |number, offset, size| PartitionSpan { number, offset, size };
        let mut loc = DriveLocation {
            scheme: Scheme::Gpt,
            sector_size: 512,
            data: span(1, 1 << 20, 100 << 20),
            boot: span(2, 101 << 20, 32 << 20),
            disk_guid: Some(Guid([7; 16])),
            mbr_signature: Some(0x1234_5678),
        };
        let extents = [
            Extent { file_offset: 0, device_offset: 0x1_0000, len: 0x2000 },
            Extent { file_offset: 0x2000, device_offset: 0x8_0000, len: 0x1000 },
        ];
        let h = Handoff::for_image(&loc, 200 << 20, ImageKind::Iso, 0x2800, &extents).unwrap();
        assert_eq!(h.identity, DriveIdentity::Gpt(Guid([7; 16])), "the GPT GUID wins");
        assert_eq!(
            h.extents[1],
            DiskExtent { file_offset: 0x2000, disk_offset: (1 << 20) + 0x8_0000, len: 0x1000 }
        );
        assert_eq!(h.partition_offset, 1 << 20);
        loc.disk_guid = None;
        let h = Handoff::for_image(&loc, 200 << 20, ImageKind::Img, 0x2800, &extents).unwrap();
        assert_eq!(h.identity, DriveIdentity::Mbr(0x1234_5678));
        loc.mbr_signature = None;
        assert_eq!(
            Handoff::for_image(&loc, 200 << 20, ImageKind::Iso, 0x2800, &extents),
            Err(HandoffError::NoIdentity)
        );
        // The record's own rules still apply: here an extent past the disk.
        let loc = DriveLocation { disk_guid: Some(Guid([7; 16])), ..loc };
        assert!(matches!(
            Handoff::for_image(&loc, (1 << 20) + 0x4_0000, ImageKind::Iso, 0x2800, &extents),
            Err(HandoffError::BadExtent { index: 1, .. })
        ));
    }

    #[test]
    fn extents_may_stop_before_the_image_end() {
        // An exFAT file whose valid data length is 8 KiB of a 1 MiB image: the rest is zeros.
        let h = Handoff { image_size: 1 << 20, ..sample() };
        assert_eq!(Handoff::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn round_trips() {
        let h = sample();
        let bytes = h.encode();
        assert_eq!(bytes.len(), HEADER_LEN + 2 * EXTENT_LEN);
        assert_eq!(&bytes[..9], b"PBHANDOFF");
        assert_eq!(Handoff::decode(&bytes).unwrap(), h);
        let mbr = Handoff {
            identity: DriveIdentity::Mbr(0xDEAD_BEEF),
            image_kind: ImageKind::Img,
            sector_size: 4096,
            ..h
        };
        let mut padded = mbr.encode();
        padded.resize(512, 0xAA); // trailing bytes beyond the record are ignored
        assert_eq!(Handoff::decode(&padded).unwrap(), mbr);
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_an_error_not_a_panic() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(Handoff::decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(Handoff::decode(&b).is_err(), "flip byte {i} bit {bit}");
            }
        }
    }

    /// Re-sign a record after tampering, so the semantic checks behind the CRC are reached.
    fn resign(mut b: Vec<u8>) -> Vec<u8> {
        b[16..20].fill(0);
        let c = crc32(&b);
        b[16..20].copy_from_slice(&c.to_le_bytes());
        b
    }

    #[test]
    fn hostile_but_correctly_signed_records_are_refused() {
        let good = sample().encode();
        type Case = (usize, &'static [u8], fn(&HandoffError) -> bool);
        let cases: Vec<Case> = vec![
            (9, &[3], |e| matches!(e, HandoffError::UnsupportedVersion(3))),
            (10, &[10, 0], |e| matches!(e, HandoffError::BadHeaderLength(10))),
            (12, &[0xFF, 0xFF, 0xFF, 0x7F], |e| matches!(e, HandoffError::Truncated { .. })),
            (20, &[9], |e| matches!(e, HandoffError::UnknownIdentityKind(9))),
            (21, &[0], |e| matches!(e, HandoffError::UnknownImageKind(0))),
            (48, &[0, 1, 0, 0], |e| matches!(e, HandoffError::BadSectorSize(256))),
            (52, &[0xFF, 0xFF, 0xFF, 0xFF], |e| matches!(e, HandoffError::TooManyExtents(_))),
            (52, &[3, 0, 0, 0], |e| matches!(e, HandoffError::Truncated { .. })),
            (52, &[0, 0, 0, 0], |e| matches!(e, HandoffError::NoExtents)),
            (56, &[0xFF; 8], |e| matches!(e, HandoffError::BadPartitionOffset(_))),
            // second extent: wrong file offset, unaligned, past the disk, overflowing length
            (72 + 24, &[1, 0x20], |e| matches!(e, HandoffError::BadExtent { index: 1, .. })),
            (72 + 24 + 8, &[7], |e| matches!(e, HandoffError::BadExtent { index: 1, .. })),
            (72 + 24 + 15, &[0x7F], |e| matches!(e, HandoffError::BadExtent { index: 1, .. })),
            (72 + 24 + 16, &[0xFF; 8], |e| matches!(e, HandoffError::BadExtent { index: 1, .. })),
            (72 + 16, &[0, 0, 0, 0, 0, 0, 0, 0], |e| {
                matches!(e, HandoffError::BadExtent { index: 0, .. })
            }),
            (72 + 16, &[1, 2], |e| matches!(e, HandoffError::BadExtent { index: 0, .. })),
        ];
        for (at, patch, want) in cases {
            let mut b = good.clone();
            b[at..at + patch.len()].copy_from_slice(patch);
            let err = Handoff::decode(&resign(b)).unwrap_err();
            assert!(want(&err), "patch at {at}: got {err:?}");
        }
    }

    #[test]
    fn pseudo_random_bytes_never_panic() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let good = sample().encode();
        for round in 0..2000 {
            let mut b = if round % 2 == 0 { good.clone() } else { vec![0; (round % 300) as usize] };
            for byte in b.iter_mut().skip(if round % 2 == 0 { 20 } else { 0 }) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if round % 2 == 1 || x % 16 == 0 {
                    *byte = x as u8;
                }
            }
            if round % 2 == 1 && b.len() >= 9 {
                b[..9].copy_from_slice(&MAGIC);
                if b.len() > 9 {
                    b[9] = VERSION;
                }
            }
            let _ = Handoff::decode(&resign_if_long(b));
        }
    }

    // ---- version 2: sections ----

    fn ext(file_offset: u64, disk_offset: u64, len: u64) -> DiskExtent {
        DiskExtent { file_offset, disk_offset, len }
    }

    /// `sample()` with a persistence backend, added parameters and one file of each action.
    fn sample_v2() -> Handoff {
        Handoff {
            persistence: Some(PersistenceBackend {
                encrypted: true,
                size: 3 << 20,
                extents: vec![ext(0, 16 << 20, 1 << 20), ext(1 << 20, 32 << 20, 2 << 20)],
                path: String::from("/persistence/ubuntu.dat"),
            }),
            added_params: String::from("persistence persistence-label=persistence"),
            files: vec![
                HandoffFile {
                    action: FileAction::Template,
                    size: 1000,
                    extents: vec![ext(0, 48 << 20, 4096)],
                    target: String::from("/preseed.cfg"),
                    source: String::from("/ventoy/script/debian.cfg"),
                },
                HandoffFile {
                    action: FileAction::Copy,
                    size: 0,
                    extents: vec![],
                    target: String::from("/etc/empty"),
                    source: String::from("/empty"),
                },
                HandoffFile {
                    action: FileAction::Inject,
                    size: 70_000,
                    extents: vec![ext(0, 50 << 20, 65536), ext(65536, 60 << 20, 4464)],
                    target: String::new(),
                    source: String::from("/ventoy/inject.tar.gz"),
                },
            ],
            ..sample()
        }
    }

    /// Append a section to an encoded record and fix its total length and CRC.
    fn with_section(mut b: Vec<u8>, kind: u32, payload: &[u8]) -> Vec<u8> {
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend_from_slice(payload);
        let total = b.len() as u32;
        b[12..16].copy_from_slice(&total.to_le_bytes());
        resign(b)
    }

    /// A File payload (action, size, extents, target, source).
    fn file_payload(action: u8, extents: &[DiskExtent], target: &[u8], source: &[u8]) -> Vec<u8> {
        let mut p = vec![action, 0, 0, 0];
        p.extend_from_slice(&100u64.to_le_bytes());
        p.extend_from_slice(&(extents.len() as u32).to_le_bytes());
        put_extents(&mut p, extents);
        p.extend_from_slice(&(target.len() as u16).to_le_bytes());
        p.extend_from_slice(target);
        p.extend_from_slice(&(source.len() as u16).to_le_bytes());
        p.extend_from_slice(source);
        p
    }

    #[test]
    fn version_2_round_trips_with_every_section() {
        let h = sample_v2();
        h.validate().unwrap();
        let b = h.encode();
        assert_eq!(b[9], 2);
        assert_eq!(b.len() as u64, h.encoded_len());
        assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize, b.len());
        assert_eq!(Handoff::decode(&b).unwrap(), h);
        // The first section follows the image extents: Persistence, flags bit 0 set.
        let s = HEADER_LEN + 2 * EXTENT_LEN;
        assert_eq!(&b[s..s + 4], &1u32.to_le_bytes());
        let len = 16 + 2 * 24 + 2 + "/persistence/ubuntu.dat".len();
        assert_eq!(&b[s + 4..s + 8], &(len as u32).to_le_bytes());
        assert_eq!(b[s + 8], 1, "encrypted");
        assert_eq!(&b[s + 12..s + 20], &(3u64 << 20).to_le_bytes());
        assert_eq!(&b[s + 20..s + 24], &2u32.to_le_bytes());
        // Then AddedParams, then the files in order.
        let a = s + 8 + len;
        assert_eq!(&b[a..a + 4], &2u32.to_le_bytes());
        assert_eq!(&b[a + 8..a + 8 + h.added_params.len()], h.added_params.as_bytes());
        let f = a + 8 + h.added_params.len();
        assert_eq!(&b[f..f + 4], &3u32.to_le_bytes());
        assert_eq!(b[f + 8], 2, "template");
        // Every piece alone round-trips too; an empty AddedParams is no section at all.
        let p = Handoff { files: vec![], added_params: String::new(), ..sample_v2() };
        assert_eq!(Handoff::decode(&p.encode()).unwrap(), p);
        let f = Handoff { persistence: None, ..sample_v2() };
        assert_eq!(Handoff::decode(&f.encode()).unwrap(), f);
        assert_eq!(sample().encode().len(), HEADER_LEN + 2 * EXTENT_LEN);
    }

    #[test]
    fn backends_and_files_built_from_exfat_extents() {
        use crate::drive_location::{DriveLocation, PartitionSpan};
        use crate::layout::Scheme;
        let span = |number, offset, size| PartitionSpan { number, offset, size };
        let loc = DriveLocation {
            scheme: Scheme::Mbr,
            sector_size: 512,
            data: span(1, 1 << 20, 100 << 20),
            boot: span(2, 101 << 20, 32 << 20),
            disk_guid: None,
            mbr_signature: Some(0x1234_5678),
        };
        let image = [Extent { file_offset: 0, device_offset: 0x1_0000, len: 0x2000 }];
        let mut h = Handoff::for_image(&loc, 200 << 20, ImageKind::Iso, 0x2000, &image).unwrap();
        assert_eq!((h.persistence.as_ref(), h.files.len(), h.added_params.as_str()), (None, 0, ""));
        let backend = [
            Extent { file_offset: 0, device_offset: 0x10_0000, len: 0x8_0000 },
            Extent { file_offset: 0x8_0000, device_offset: 0x40_0000, len: 0x8_0000 },
        ];
        let p = PersistenceBackend::on_drive(&loc, "/p.dat", 0x10_0000, &backend, false);
        assert_eq!(p.extents[1], ext(0x8_0000, (1 << 20) + 0x40_0000, 0x8_0000));
        h.persistence = Some(p);
        let tpl = [Extent { file_offset: 0, device_offset: 0x50_0000, len: 0x1000 }];
        let f = HandoffFile::on_drive(&loc, FileAction::Template, "/ks.cfg", "/ks.cfg", 300, &tpl);
        assert_eq!(f.extents, [ext(0, (1 << 20) + 0x50_0000, 0x1000)]);
        h.files.push(f);
        h.validate().unwrap();
        assert_eq!(Handoff::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn version_1_records_are_still_read() {
        let mut b = sample().encode();
        b[9] = 1;
        assert_eq!(Handoff::decode(&resign(b.clone())).unwrap(), sample());
        // Version 1 ignores what follows its extents within the record; version 2 would read
        // these bytes as a section and refuse them.
        b.extend_from_slice(&[0xCD; 12]);
        let total = b.len() as u32;
        b[12..16].copy_from_slice(&total.to_le_bytes());
        assert_eq!(Handoff::decode(&resign(b.clone())).unwrap(), sample());
        b[9] = 2;
        assert!(matches!(
            Handoff::decode(&resign(b)),
            Err(HandoffError::BadSection { why: "section runs past the end of the record", .. })
        ));
    }

    #[test]
    fn unknown_sections_are_skipped() {
        let h = sample_v2();
        let plain = Handoff { files: vec![], ..h.clone() };
        let b = with_section(plain.encode(), 0x7777, b"a later writer's section");
        let b = with_section(b, 99, &[]);
        let f = &h.files[0];
        let payload = file_payload(2, &f.extents, f.target.as_bytes(), f.source.as_bytes());
        let b = with_section(b, SECTION_FILE, &payload);
        let got = Handoff::decode(&b).unwrap();
        assert_eq!(got.files.len(), 1);
        assert_eq!(got.files[0], HandoffFile { size: 100, ..f.clone() });
        assert_eq!(got.persistence, h.persistence);
        // ...but not without bound.
        let mut many = sample().encode();
        for _ in 0..MAX_SECTIONS {
            many = with_section(many, 50, &[]);
        }
        assert!(Handoff::decode(&many).is_ok());
        assert!(matches!(
            Handoff::decode(&with_section(many, 50, &[])),
            Err(HandoffError::BadSection { why: "too many sections", .. })
        ));
    }

    #[test]
    fn every_truncation_and_every_bit_flip_of_a_v2_record_is_an_error() {
        let bytes = sample_v2().encode();
        for n in 0..bytes.len() {
            assert!(Handoff::decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(Handoff::decode(&b).is_err(), "flip byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn hostile_sections_are_refused() {
        let base = sample().encode();
        let ok_file = file_payload(1, &[ext(0, 48 << 20, 512)], b"/x", b"/src");
        type Check = fn(&HandoffError) -> bool;
        let mut cases: Vec<(&str, Vec<u8>, Check)> = vec![
            (
                "truncated section header",
                {
                    let mut b = base.clone();
                    b.extend_from_slice(&[1, 0, 0]);
                    let t = b.len() as u32;
                    b[12..16].copy_from_slice(&t.to_le_bytes());
                    resign(b)
                },
                |e| matches!(e, HandoffError::BadSection { why: "truncated section header", .. }),
            ),
            (
                "length past the record",
                {
                    let mut b = with_section(base.clone(), SECTION_FILE, &ok_file);
                    let at = HEADER_LEN + 2 * EXTENT_LEN + 4;
                    b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
                    resign(b)
                },
                |e| matches!(e, HandoffError::BadSection { .. }),
            ),
            (
                "huge extent count",
                {
                    let mut p = ok_file.clone();
                    p[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
                    with_section(base.clone(), SECTION_FILE, &p)
                },
                |e| matches!(e, HandoffError::TooManyExtents(u32::MAX)),
            ),
            (
                "count larger than the payload",
                {
                    let mut p = ok_file.clone();
                    p[12..16].copy_from_slice(&1000u32.to_le_bytes());
                    with_section(base.clone(), SECTION_FILE, &p)
                },
                |e| {
                    matches!(
                        e,
                        HandoffError::BadSection { why: "payload shorter than its fields", .. }
                    )
                },
            ),
            (
                "payload longer than its fields",
                {
                    let mut p = ok_file.clone();
                    p.push(0);
                    with_section(base.clone(), SECTION_FILE, &p)
                },
                |e| {
                    matches!(
                        e,
                        HandoffError::BadSection { why: "payload longer than its fields", .. }
                    )
                },
            ),
            (
                "truncated string",
                with_section(base.clone(), SECTION_FILE, &ok_file[..ok_file.len() - 1]),
                |e| matches!(e, HandoffError::BadSection { .. }),
            ),
            (
                "unknown action",
                with_section(base.clone(), SECTION_FILE, &file_payload(9, &[], b"/x", b"")),
                |e| matches!(e, HandoffError::UnknownFileAction(9)),
            ),
            (
                "not UTF-8",
                with_section(base.clone(), SECTION_FILE, &file_payload(1, &[], b"/\xff", b"")),
                |e| matches!(e, HandoffError::BadText("file target path")),
            ),
            (
                "params not UTF-8",
                with_section(base.clone(), SECTION_ADDED_PARAMS, b"quiet \xc3"),
                |e| matches!(e, HandoffError::BadText("added parameters")),
            ),
            ("two AddedParams", with_section(with_section(base.clone(), 2, b"a"), 2, b"b"), |e| {
                matches!(e, HandoffError::DuplicateSection(2))
            }),
            (
                "'..' in the target",
                with_section(base.clone(), SECTION_FILE, &file_payload(1, &[], b"/etc/../x", b"")),
                |e| {
                    matches!(
                        e,
                        HandoffError::BadFile {
                            file: 0,
                            why: "target path has a '.' or '..' component"
                        }
                    )
                },
            ),
            (
                "relative target",
                with_section(base.clone(), SECTION_FILE, &file_payload(2, &[], b"x", b"")),
                |e| matches!(e, HandoffError::BadFile { why: "target path is not absolute", .. }),
            ),
            (
                "file extent past the disk",
                with_section(
                    base.clone(),
                    SECTION_FILE,
                    &file_payload(1, &[ext(0, 16 << 30, 512)], b"/x", b""),
                ),
                |e| matches!(e, HandoffError::BadFileExtent { file: 0, index: 0, .. }),
            ),
        ];
        // Persistence: two sections, unknown flags, and a backend over the image.
        let p = sample_v2().persistence.unwrap();
        let mut pp = vec![0u8, 0, 0, 0];
        pp.extend_from_slice(&p.size.to_le_bytes());
        pp.extend_from_slice(&(p.extents.len() as u32).to_le_bytes());
        put_extents(&mut pp, &p.extents);
        put_text(&mut pp, &p.path);
        assert!(Handoff::decode(&with_section(base.clone(), 1, &pp)).is_ok());
        cases.push((
            "two Persistence",
            with_section(with_section(base.clone(), 1, &pp), 1, &pp),
            |e| matches!(e, HandoffError::DuplicateSection(1)),
        ));
        let mut flags = pp.clone();
        flags[0] = 3;
        cases.push(("unknown flags", with_section(base.clone(), 1, &flags), |e| {
            matches!(e, HandoffError::BadSection { why: "unknown persistence flags", .. })
        }));
        let mut over = pp.clone();
        over[16 + 8..16 + 16].copy_from_slice(&((1u64 << 20) + 65536 + 4096).to_le_bytes());
        cases.push(("over the image", with_section(base.clone(), 1, &over), |e| {
            matches!(e, HandoffError::BadPersistence(_))
        }));
        let mut files = base.clone();
        for _ in 0..=MAX_FILES {
            files = with_section(files, SECTION_FILE, &ok_file);
        }
        cases.push(("65 files", files, |e| matches!(e, HandoffError::TooManyFiles(65))));
        for (name, b, want) in cases {
            let err = Handoff::decode(&b).unwrap_err();
            assert!(want(&err), "{name}: got {err:?}");
            assert!(!alloc::format!("{err}").is_empty());
        }
    }

    #[test]
    fn target_paths_must_be_absolute_and_normalised() {
        for ok in ["/preseed.cfg", "/etc/cloud/user-data", "/a b/ü", "/.hidden", "/a..b"] {
            assert_eq!(check_target_path(ok), Ok(()), "{ok}");
        }
        for bad in ["", "/", "x", "./x", "/a//b", "/a/", "/a/./b", "/a/../b", "/..", "/a\0b"] {
            assert!(check_target_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_target_path(&alloc::format!("/{}", "a".repeat(MAX_TARGET_LEN))).is_err());
        let with_file = |action, target: &str| Handoff {
            files: vec![HandoffFile {
                action,
                size: 10,
                extents: vec![],
                target: String::from(target),
                source: String::new(),
            }],
            ..sample()
        };
        assert!(with_file(FileAction::Inject, "").validate().is_ok());
        assert!(with_file(FileAction::Inject, "/x").validate().is_err(), "inject has no target");
        assert!(with_file(FileAction::Copy, "").validate().is_err());
        assert!(with_file(FileAction::Template, "/x").validate().is_ok());
        let big = Handoff {
            files: vec![HandoffFile {
                size: MAX_FILE_SIZE + 1,
                ..with_file(FileAction::Copy, "/x").files[0].clone()
            }],
            ..sample()
        };
        assert!(matches!(big.validate(), Err(HandoffError::BadFile { .. })));
    }

    #[test]
    fn persistence_backends_that_cannot_be_written_safely_are_refused() {
        let with = |f: fn(&mut PersistenceBackend)| {
            let mut h = sample_v2();
            f(h.persistence.as_mut().unwrap());
            h.validate()
        };
        assert_eq!(with(|_| {}), Ok(()));
        assert!(matches!(with(|p| p.extents.clear()), Err(HandoffError::BadPersistence(_))));
        assert!(matches!(with(|p| p.size = 100), Err(HandoffError::BadPersistence(_))));
        // A valid data length short of the size: the tail would swallow writes.
        assert!(matches!(with(|p| p.size += 512), Err(HandoffError::BadPersistence(_))));
        assert!(matches!(
            with(|p| p.extents[1].disk_offset = (16 << 20) + 4096),
            Err(HandoffError::BadPersistence("its extents overlap each other or the image"))
        ));
        assert!(matches!(
            with(|p| p.extents[0].disk_offset = (1 << 20) + 65536 + 512),
            Err(HandoffError::BadPersistence(_))
        ));
        assert!(matches!(
            with(|p| p.extents[0].disk_offset = 4096),
            Err(HandoffError::BadPersistenceExtent {
                index: 0,
                why: "starts before the data partition"
            })
        ));
        // Inside a long image extent that an image extent starting later does not reach.
        let mut h = sample_v2();
        h.extents = vec![ext(0, 1 << 20, 64 << 20), ext(64 << 20, (1 << 20) + 4096, 4096)];
        h.persistence.as_mut().unwrap().extents[0].disk_offset = 2 << 20;
        h.files.clear();
        assert!(matches!(h.validate(), Err(HandoffError::BadPersistence(_))));
        // Extents longer than the size are fine (the cluster tail is not mapped).
        assert_eq!(with(|p| p.size -= 4096), Ok(()));
    }

    fn resign_if_long(b: Vec<u8>) -> Vec<u8> {
        if b.len() >= 20 {
            resign(b)
        } else {
            b
        }
    }
}
