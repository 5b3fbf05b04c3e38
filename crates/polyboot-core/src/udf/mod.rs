//! A read-only UDF (ECMA-167 / OSTA UDF 1.02–2.60) reader: enough to find a file by path and
//! say where its bytes are in the image.
//!
//! Why: Windows ISOs keep their files (`sources/install.wim`, often over 4 GiB) only in the UDF
//! tree; the ISO 9660 tree holds a README. polyboot finds the file here and hands exactly its
//! byte extents to wimlib, so every file's data is resolved to [`ByteExtent`]s of the image.
//!
//! Layout reminders (byte offsets inside each descriptor; every descriptor starts with a
//! 16-byte tag: 0 identifier, 2 version, 4 checksum, 8 CRC, 10 CRC length, 12 location):
//!
//! ```text
//! byte 32768..      volume recognition sequence: BEA01, NSR02 / NSR03, TEA01 (2048-byte units)
//! block 256, N-256, N-1   anchor (tag 2): 16 main VDS extent, 24 reserve VDS extent
//! VDS               1 primary, 3 pointer (20: next extent), 5 partition (22 number,
//!                   188 start, 192 length), 6 logical volume (84 identifier, 212 block size,
//!                   216 domain regid, 248 FSD long_ad, 264 map table length, 268 map count,
//!                   440 maps), 8 terminator
//! partition-relative blocks:
//!   256 file set (400: root ICB long_ad)
//!   261 file entry / 266 extended file entry: 16 ICB tag (4 strategy, 11 file type,
//!       18 flags: bits 0-2 allocation descriptor type), 56 information length,
//!       FE: 168 L_EA, 172 L_AD, 176 EAs then ADs; EFE: 208 L_EA, 212 L_AD, 216 ...
//!   258 allocation extent: 20 L_AD, 24 ADs
//!   257 file identifier: 18 characteristics, 19 L_FI, 20 ICB long_ad, 36 L_IU, 38 ...
//! ```
//!
//! Supported: physical partitions (type 1 maps) and the UDF 2.50+ metadata partition (type 2,
//! "*UDF Metadata Partition", read through the metadata file, or its mirror when the main copy
//! is unreadable). Virtual (VAT) and sparable partitions — write-once and rewritable disc
//! formats, never used by ISO images — give [`UdfError::Unsupported`], as does ICB strategy
//! 4096.
//!
//! Untrusted input: every descriptor's tag checksum, CRC and location are checked; descriptor
//! sequences, allocation extent chains ([`MAX_CONTINUATIONS`], each block once), extents per
//! file ([`MAX_EXTENTS`]), directory sizes ([`MAX_DIR_BYTES`]) and paths ([`MAX_DEPTH`]) are
//! bounded; every extent of recorded data must lie inside its partition and the image.

use alloc::borrow::Borrow;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::block::{check_range, IoError, ReadAt};
use crate::bytes::{le16, le32, le64, OutOfBounds};

pub mod redirect;

/// Unit of the volume recognition sequence (which starts at sector 16).
pub const SECTOR: u64 = 2048;
/// Most volume recognition descriptors scanned.
pub const MAX_VRS_DESCRIPTORS: u64 = 64;
/// Most descriptors read from one volume descriptor sequence (pointers included).
pub const MAX_VDS_DESCRIPTORS: u32 = 1024;
/// Most volume descriptor pointers followed in one sequence.
pub const MAX_VDS_POINTERS: u32 = 16;
/// Most partition maps in a logical volume descriptor.
pub const MAX_PARTITION_MAPS: u32 = 64;
/// Most allocation extent descriptors followed for one file.
pub const MAX_CONTINUATIONS: usize = 4096;
/// Most extents one file may have.
pub const MAX_EXTENTS: usize = 1 << 20;
/// Largest directory read (bytes); real directories are far smaller.
pub const MAX_DIR_BYTES: u64 = 64 << 20;
/// Most entries read from one directory.
pub const MAX_DIR_ENTRIES: usize = 1 << 20;
/// Most path components followed by [`UdfVolume::lookup`].
pub const MAX_DEPTH: usize = 64;

/// Block sizes tried for the anchor, most common first (ISOs use 2048; hard-disk images made
/// by mkudffs 512 or 4096).
const BLOCK_SIZES: [u32; 4] = [2048, 512, 1024, 4096];

const TAG_AVDP: u16 = 2;
const TAG_VDP: u16 = 3;
const TAG_PD: u16 = 5;
const TAG_LVD: u16 = 6;
const TAG_TD: u16 = 8;
const TAG_FSD: u16 = 256;
const TAG_FID: u16 = 257;
const TAG_AED: u16 = 258;
const TAG_FE: u16 = 261;
const TAG_EFE: u16 = 266;

/// ICB file types (ECMA-167 4/14.6.6, UDF 2.50 2.2.13).
const FT_DIRECTORY: u8 = 4;
const FT_FILE: u8 = 5;
const FT_SYMLINK: u8 = 12;
const FT_METADATA: u8 = 0xFA;
const FT_METADATA_MIRROR: u8 = 0xFB;

/// File identifier characteristics.
const FID_DELETED: u8 = 0x04;
const FID_PARENT: u8 = 0x08;

/// Why a UDF volume or one of its files could not be read.
#[derive(Debug)]
pub enum UdfError {
    Io(IoError),
    /// No NSR02 / NSR03 descriptor in the volume recognition sequence.
    NotUdf,
    /// A structure is malformed; the text says which and how.
    Corrupt(String),
    /// A well-formed structure this reader does not handle; the text says which.
    Unsupported(String),
    NotFound,
    NotADirectory,
    IsADirectory,
}

impl fmt::Display for UdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdfError::Io(e) => write!(f, "{e}"),
            UdfError::NotUdf => {
                f.write_str("not a UDF volume (no NSR02/NSR03 descriptor after sector 16)")
            }
            UdfError::Corrupt(why) => write!(f, "corrupt UDF structure: {why}"),
            UdfError::Unsupported(what) => write!(f, "unsupported UDF feature: {what}"),
            UdfError::NotFound => f.write_str("no such file or directory"),
            UdfError::NotADirectory => f.write_str("not a directory"),
            UdfError::IsADirectory => f.write_str("is a directory"),
        }
    }
}

crate::block::error_with_io!(UdfError);

fn corrupt(why: impl Into<String>) -> UdfError {
    UdfError::Corrupt(why.into())
}

/// What an ICB describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdfKind {
    Directory,
    File,
    Symlink,
    /// Devices, FIFOs, sockets, stream directories, ...
    Other,
}

/// One piece of a file's data in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteExtent {
    /// Bytes from the start of the image (0 when not recorded).
    pub offset: u64,
    pub len: u64,
    /// False for allocated-not-recorded and unallocated extents: they read as zeros.
    pub recorded: bool,
}

/// Where a file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdfData {
    /// Data embedded in the ICB itself (small files and directories).
    Inline(Vec<u8>),
    /// In logical order, cut to the file's size.
    Extents(Vec<ByteExtent>),
}

/// A file or directory: its name in the parent, what its ICB says, and where its data is.
#[derive(Debug, Clone)]
pub struct UdfEntry {
    pub name: String,
    pub kind: UdfKind,
    /// Information length (bytes).
    pub size: u64,
    pub data: UdfData,
    /// Partition reference number and logical block of the (extended) file entry.
    icb: (u16, u32),
    /// Size of the image it was read from: [`UdfEntry::contiguous_range`] stays inside it.
    image_size: u64,
}

impl UdfEntry {
    pub fn is_dir(&self) -> bool {
        self.kind == UdfKind::Directory
    }

    /// Partition reference number and logical block number of the file entry: identifies the
    /// file (two names with the same ICB are hard links).
    pub fn icb(&self) -> (u16, u32) {
        self.icb
    }

    /// The single byte range [offset, offset+size) of the image holding the whole file when
    /// its recorded extents are adjacent and cover `size` (the usual case: writers lay files
    /// out contiguously, and UDF splits files over 1 GiB into several adjacent extents). None
    /// for inline data, holes, fragments, empty files and files the image cuts short.
    pub fn contiguous_range(&self) -> Option<(u64, u64)> {
        let UdfData::Extents(extents) = &self.data else {
            return None;
        };
        let first = extents.first()?;
        let mut end = first.offset;
        for e in extents {
            if !e.recorded || e.offset != end {
                return None;
            }
            end = end.checked_add(e.len)?;
        }
        (end - first.offset == self.size && self.size > 0 && end <= self.image_size)
            .then_some((first.offset, self.size))
    }
}

/// One entry of the partition map table, indexed by partition reference number.
#[derive(Debug, Clone)]
enum Partition {
    /// A type 1 map: blocks of the partition descriptor's range.
    Physical { number: u16, start: u64, len: u64 },
    /// The UDF 2.50 metadata partition: its blocks are the bytes of the metadata file.
    Metadata { extents: Vec<ByteExtent>, size: u64 },
    /// A metadata map not resolved yet (only while probing).
    PendingMetadata,
}

/// A probed UDF volume: what is needed to map blocks and find the root.
#[derive(Debug, Clone)]
pub struct UdfVolume {
    /// Logical block size (bytes).
    pub block_size: u32,
    /// The logical volume identifier (what `udfinfo` calls the label).
    pub volume_id: String,
    /// UDF revision from the domain identifier of the logical volume descriptor (e.g. 0x0102,
    /// 0x0250); None when the domain is not "*OSTA UDF Compliant".
    pub udf_revision: Option<u16>,
    partitions: Vec<Partition>,
    root_icb: (u16, u32),
    /// Image size at probe time: recorded extents must lie inside it.
    dev_size: u64,
    /// The main and reserve volume descriptor sequences (length, block), for [`redirect`].
    vds_extents: [(u32, u32); 2],
}

impl From<OutOfBounds> for UdfError {
    fn from(_: OutOfBounds) -> Self {
        corrupt("field beyond its descriptor")
    }
}

/// CRC-ITU-T (CCITT): polynomial 0x1021, MSB first, initial value 0, no final XOR.
static CRC_TABLE: [u16; 256] = crc_table();

const fn crc_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000 != 0 { (c << 1) ^ 0x1021 } else { c << 1 };
            bit += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// The descriptor CRC of ECMA-167 7.2.6.
pub fn crc_itu(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc = (crc << 8) ^ CRC_TABLE[usize::from((crc >> 8) as u8 ^ b)];
    }
    crc
}

/// The tag checksum: bytes 0..16 except the checksum byte itself, summed mod 256.
pub fn tag_checksum(tag: &[u8]) -> u8 {
    tag[..16].iter().enumerate().filter(|&(i, _)| i != 4).fold(0u8, |s, (_, &b)| s.wrapping_add(b))
}

/// Fill in the tag of descriptor `d` (the whole descriptor, at least 16 bytes): identifier
/// `id`, version 2, location `loc`, the CRC over the rest of `d`, the checksum. The reader never
/// writes; this is for the builders of test images and fuzz seeds.
pub fn seal_tag(d: &mut [u8], id: u16, loc: u32) {
    d[0..2].copy_from_slice(&id.to_le_bytes());
    d[2..4].copy_from_slice(&2u16.to_le_bytes());
    d[12..16].copy_from_slice(&loc.to_le_bytes());
    let crc_len = u16::try_from(d.len() - 16).unwrap_or(u16::MAX);
    d[10..12].copy_from_slice(&crc_len.to_le_bytes());
    let crc = crc_itu(&d[16..16 + usize::from(crc_len)]);
    d[8..10].copy_from_slice(&crc.to_le_bytes());
    d[4] = tag_checksum(d);
}

/// Check a descriptor tag: checksum, version, identifier (one of `ids`), location (when
/// given) and the CRC when its length fits in `buf`. Returns the identifier.
fn check_tag(buf: &[u8], ids: &[u16], location: Option<u32>, what: &str) -> Result<u16, UdfError> {
    if buf.len() < 16 {
        return Err(corrupt(format!("{what}: shorter than a descriptor tag")));
    }
    if tag_checksum(buf) != buf[4] {
        return Err(corrupt(format!("{what}: bad tag checksum")));
    }
    let id = le16(buf, 0)?;
    let version = le16(buf, 2)?;
    if !ids.contains(&id) {
        return Err(corrupt(format!("{what}: unexpected descriptor (tag identifier {id})")));
    }
    if version != 2 && version != 3 {
        return Err(corrupt(format!("{what}: descriptor version {version}")));
    }
    if let Some(loc) = location {
        let got = le32(buf, 12)?;
        if got != loc {
            return Err(corrupt(format!("{what}: tag says block {got}, found at block {loc}")));
        }
    }
    let crc_len = usize::from(le16(buf, 10)?);
    if let Some(body) = buf.get(16..16 + crc_len) {
        if crc_itu(body) != le16(buf, 8)? {
            return Err(corrupt(format!("{what}: bad descriptor CRC")));
        }
    }
    Ok(id)
}

/// Decode OSTA compressed unicode (compression id then characters). None for an unknown
/// compression id or an odd number of 16-bit bytes.
fn decode_cs0(b: &[u8]) -> Option<String> {
    let Some((&id, rest)) = b.split_first() else {
        return Some(String::new());
    };
    match id {
        8 | 254 => Some(rest.iter().map(|&c| char::from(c)).collect()),
        16 | 255 => {
            if rest.len() % 2 != 0 {
                return None;
            }
            let units = crate::bytes::utf16be_units(rest);
            Some(
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
            )
        }
        _ => None,
    }
}

/// A dstring field: characters up to the length in its last byte (lossy when malformed).
fn decode_dstring(field: &[u8]) -> String {
    let Some((&len, body)) = field.split_last() else {
        return String::new();
    };
    let used = &body[..usize::from(len).min(body.len())];
    decode_cs0(used).unwrap_or_else(|| used.iter().skip(1).map(|&c| char::from(c)).collect())
}

/// Does the volume recognition sequence hold an NSR descriptor, with descriptors `stride`
/// bytes apart?
fn has_nsr<R: ReadAt>(dev: &mut R, stride: u64) -> Result<bool, UdfError> {
    let mut d = [0u8; 7];
    for i in 0..MAX_VRS_DESCRIPTORS {
        let at = 16 * SECTOR + i * stride;
        if at.checked_add(7).is_none_or(|e| e > dev.size()) {
            return Ok(false);
        }
        dev.read_at(at, &mut d)?;
        match &d[1..6] {
            b"NSR02" | b"NSR03" => return Ok(true),
            b"BEA01" | b"CD001" | b"CDW02" | b"BOOT2" => {}
            // TEA01 ends the extended area; anything else ends the sequence.
            _ => return Ok(false),
        }
    }
    Ok(false)
}

/// An extent_ad: (length in bytes, first block).
fn extent_ad(b: &[u8], at: usize) -> Result<(u32, u32), UdfError> {
    Ok((le32(b, at)?, le32(b, at + 4)?))
}

fn read_block<R: ReadAt>(dev: &mut R, bs: u32, block: u64) -> Result<Vec<u8>, UdfError> {
    let mut buf = vec![0u8; bs as usize];
    let at = block.checked_mul(u64::from(bs)).ok_or_else(|| corrupt("block number"))?;
    dev.read_at(at, &mut buf)?;
    Ok(buf)
}

/// Find an anchor volume descriptor pointer: block size and the main / reserve VDS extents.
fn find_anchor<R: ReadAt>(dev: &mut R) -> Result<(u32, [(u32, u32); 2]), UdfError> {
    let size = dev.size();
    for bs in BLOCK_SIZES {
        let blocks = size / u64::from(bs);
        let candidates = [Some(256u64), blocks.checked_sub(256), blocks.checked_sub(1)];
        for (i, block) in candidates.into_iter().enumerate() {
            // Skip blocks outside the image and ones already tried.
            let Some(block) =
                block.filter(|&b| b > 0 && b < blocks && !candidates[..i].contains(&Some(b)))
            else {
                continue;
            };
            let Ok(b) = read_block(dev, bs, block) else {
                continue;
            };
            if check_tag(&b, &[TAG_AVDP], Some(block as u32), "anchor").is_ok() {
                return Ok((bs, [extent_ad(&b, 16)?, extent_ad(&b, 24)?]));
            }
        }
    }
    Err(corrupt(
        "no anchor volume descriptor pointer at block 256, N-256 or N-1 (block sizes 512 to 4096)",
    ))
}

/// What a volume descriptor sequence says (the newest copy of each descriptor).
#[derive(Default)]
struct Vds {
    /// (sequence number, descriptor)
    lvd: Option<(u32, Vec<u8>)>,
    /// partition number -> (sequence number, start block, length in blocks, descriptor block)
    pds: Vec<(u16, u32, u32, u32, u32)>,
}

fn read_vds<R: ReadAt>(dev: &mut R, bs: u32, extent: (u32, u32)) -> Result<Vds, UdfError> {
    let mut vds = Vds::default();
    let (mut len, mut block) = extent;
    let mut read = 0u32;
    let mut pointers = 0u32;
    'sequence: loop {
        let count = len.div_ceil(bs);
        for i in 0..count {
            read += 1;
            if read > MAX_VDS_DESCRIPTORS {
                return Err(corrupt("volume descriptor sequence too long"));
            }
            let Some(at) = block.checked_add(i) else {
                break 'sequence;
            };
            let Ok(d) = read_block(dev, bs, u64::from(at)) else {
                break 'sequence;
            };
            // An unreadable descriptor ends the sequence (like an unrecorded block).
            let Ok(id) = check_tag(&d, &[1, 3, 4, 5, 6, 7, 8], Some(at), "volume descriptor")
            else {
                break 'sequence;
            };
            let seq = le32(&d, 16)?;
            match id {
                TAG_TD => break 'sequence,
                TAG_VDP => {
                    pointers += 1;
                    if pointers > MAX_VDS_POINTERS {
                        return Err(corrupt("too many volume descriptor pointers"));
                    }
                    (len, block) = extent_ad(&d, 20)?;
                    continue 'sequence;
                }
                TAG_PD => {
                    let number = le16(&d, 22)?;
                    let start = le32(&d, 188)?;
                    let blocks = le32(&d, 192)?;
                    match vds.pds.iter_mut().find(|p| p.0 == number) {
                        Some(p) if p.1 > seq => {}
                        Some(p) => *p = (number, seq, start, blocks, at),
                        None => vds.pds.push((number, seq, start, blocks, at)),
                    }
                }
                // The copy with the highest sequence number wins.
                TAG_LVD if vds.lvd.as_ref().is_none_or(|(s, _)| seq >= *s) => {
                    vds.lvd = Some((seq, d))
                }
                // Primary, implementation use, unallocated space: nothing this reader needs.
                _ => {}
            }
        }
        break;
    }
    Ok(vds)
}

/// Parse one allocation descriptor: (raw extent length, block, partition reference).
fn parse_ad(b: &[u8], ad_type: u16, icb_part: u16) -> Result<(u32, u32, u16), UdfError> {
    Ok(match ad_type {
        0 => (le32(b, 0)?, le32(b, 4)?, icb_part),
        1 => (le32(b, 0)?, le32(b, 4)?, le16(b, 8)?),
        _ => (le32(b, 0)?, le32(b, 12)?, le16(b, 16)?),
    })
}

/// Keep only the first `size` bytes of an extent list.
fn cut_to_size(extents: &mut Vec<ByteExtent>, size: u64) {
    let mut acc = 0u64;
    let mut keep = extents.len();
    for (i, e) in extents.iter_mut().enumerate() {
        if acc >= size {
            keep = i;
            break;
        }
        e.len = e.len.min(size - acc);
        acc += e.len;
    }
    extents.truncate(keep);
}

/// Read `buf` from logical `offset` of an extent list (`starts[i]`: logical offset of
/// extent i). Unrecorded extents read as zeros; past the last extent is an error.
fn read_extents<R: ReadAt>(
    dev: &mut R,
    extents: &[ByteExtent],
    starts: Option<&[u64]>,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), UdfError> {
    let mut done = 0usize;
    // First extent that may hold `offset`.
    let (mut i, mut start) = match starts {
        Some(s) => {
            let i = s.partition_point(|&x| x <= offset).saturating_sub(1);
            (i, s.get(i).copied().unwrap_or(0))
        }
        None => (0, 0),
    };
    while done < buf.len() {
        let pos = offset + done as u64;
        let Some(e) = extents.get(i) else {
            return Err(corrupt("file data beyond its allocation descriptors"));
        };
        let end = start + e.len;
        if pos >= end {
            start = end;
            i += 1;
            continue;
        }
        let n = (end - pos).min((buf.len() - done) as u64) as usize;
        let out = &mut buf[done..done + n];
        if e.recorded {
            dev.read_at(e.offset + (pos - start), out)?;
        } else {
            out.fill(0);
        }
        done += n;
    }
    Ok(())
}

/// Probe `dev` for a UDF volume: recognition sequence, anchor, volume descriptors, partition
/// maps and file set descriptor.
pub fn probe<R: ReadAt>(dev: &mut R) -> Result<UdfVolume, UdfError> {
    if !has_nsr(dev, SECTOR)? && !has_nsr(dev, 4096)? {
        return Err(UdfError::NotUdf);
    }
    let (bs, [main, reserve]) = find_anchor(dev)?;
    let mut last_err = None;
    for extent in [main, reserve] {
        match read_vds(dev, bs, extent).and_then(|vds| UdfVolume::from_vds(dev, bs, &vds)) {
            Ok(v) => return Ok(UdfVolume { vds_extents: [main, reserve], ..v }),
            // Well-formed but unsupported: the reserve copy says the same.
            Err(e @ UdfError::Unsupported(_)) => return Err(e),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or(UdfError::NotUdf))
}

impl UdfVolume {
    fn from_vds<R: ReadAt>(dev: &mut R, bs: u32, vds: &Vds) -> Result<UdfVolume, UdfError> {
        let Some((_, lvd)) = &vds.lvd else {
            return Err(corrupt("no logical volume descriptor"));
        };
        let lvd_bs = le32(lvd, 212)?;
        if lvd_bs != bs {
            return Err(corrupt(format!(
                "logical block size {lvd_bs} differs from the anchor's {bs}"
            )));
        }
        let volume_id = decode_dstring(&lvd[84..212]);
        let udf_revision = match &lvd[217..236] == b"*OSTA UDF Compliant" {
            true => Some(le16(lvd, 240)?),
            false => None,
        };
        let fsd = (le32(lvd, 252)?, le16(lvd, 256)?);
        let table_len = le32(lvd, 264)? as usize;
        let count = le32(lvd, 268)?;
        if count == 0 || count > MAX_PARTITION_MAPS {
            return Err(corrupt(format!("{count} partition maps")));
        }
        let table = lvd
            .get(440..440usize.saturating_add(table_len))
            .ok_or_else(|| corrupt("partition map table beyond its descriptor"))?;
        let mut partitions = Vec::new();
        // (index of the metadata map, physical partition number, file, mirror)
        let mut metadata = Vec::new();
        let mut pos = 0usize;
        for _ in 0..count {
            let ty = *table.get(pos).ok_or_else(|| corrupt("partition map beyond its table"))?;
            let len = usize::from(
                *table.get(pos + 1).ok_or_else(|| corrupt("partition map beyond its table"))?,
            );
            let m = table
                .get(pos..pos + len)
                .filter(|_| len >= 2)
                .ok_or_else(|| corrupt("partition map length"))?;
            match ty {
                1 => {
                    if len != 6 {
                        return Err(corrupt("type 1 partition map length"));
                    }
                    let number = le16(m, 4)?;
                    let &(_, _, start, blocks, _) =
                        vds.pds.iter().find(|p| p.0 == number).ok_or_else(|| {
                            corrupt(format!("no partition descriptor for partition {number}"))
                        })?;
                    let start = u64::from(start) * u64::from(bs);
                    partitions.push(Partition::Physical {
                        number,
                        start,
                        len: u64::from(blocks) * u64::from(bs),
                    });
                }
                2 => {
                    if len != 64 {
                        return Err(corrupt("type 2 partition map length"));
                    }
                    let ident = &m[5..28];
                    let ident_str = || -> String {
                        String::from_utf8_lossy(ident).trim_end_matches('\0').into()
                    };
                    if ident.starts_with(b"*UDF Metadata Partition") {
                        metadata.push((partitions.len(), le16(m, 38)?, le32(m, 40)?, le32(m, 44)?));
                        partitions.push(Partition::PendingMetadata);
                    } else if ident.starts_with(b"*UDF Virtual Partition") {
                        return Err(UdfError::Unsupported(
                            "virtual partition (VAT) of write-once media (CD-R / DVD-R / BD-R)"
                                .into(),
                        ));
                    } else if ident.starts_with(b"*UDF Sparable Partition") {
                        return Err(UdfError::Unsupported(
                            "sparable partition of rewritable media (CD-RW / DVD-RW)".into(),
                        ));
                    } else {
                        return Err(UdfError::Unsupported(format!(
                            "partition map \"{}\"",
                            ident_str()
                        )));
                    }
                }
                _ => return Err(corrupt(format!("partition map type {ty}"))),
            }
            pos += len;
        }
        let mut vol = UdfVolume {
            block_size: bs,
            volume_id,
            udf_revision,
            partitions,
            root_icb: (0, 0),
            dev_size: dev.size(),
            vds_extents: [(0, 0); 2],
        };
        for (index, number, file, mirror) in metadata {
            let phys = vol
                .partitions
                .iter()
                .position(|p| matches!(p, Partition::Physical { number: n, .. } if *n == number))
                .ok_or_else(|| {
                    corrupt(format!("metadata partition on missing partition {number}"))
                })?;
            let phys = phys as u16;
            let main = vol.metadata_file(dev, phys, file, FT_METADATA);
            let resolved = match main {
                Ok(p) => p,
                Err(e) if mirror == u32::MAX || mirror == file => return Err(e),
                Err(_) => vol.metadata_file(dev, phys, mirror, FT_METADATA_MIRROR)?,
            };
            vol.partitions[index] = resolved;
        }
        // The file set descriptor: the root directory's ICB.
        let b = vol.read_block(dev, fsd.1, fsd.0)?;
        check_tag(&b, &[TAG_FSD], Some(fsd.0), "file set descriptor")?;
        vol.root_icb = (le16(&b, 408)?, le32(&b, 404)?);
        Ok(vol)
    }

    /// Read the metadata (or mirror) file of a metadata partition from physical partition
    /// `phys`.
    fn metadata_file<R: ReadAt>(
        &self,
        dev: &mut R,
        phys: u16,
        lbn: u32,
        want: u8,
    ) -> Result<Partition, UdfError> {
        let (e, file_type) = self.read_icb(dev, phys, lbn, String::new())?;
        if file_type != want {
            return Err(corrupt(format!("metadata file has ICB file type {file_type}")));
        }
        match e.data {
            UdfData::Extents(extents) => {
                let covered: u64 = extents.iter().map(|x| x.len).sum();
                if covered < e.size || extents.iter().any(|x| !x.recorded) {
                    return Err(corrupt("metadata file with holes"));
                }
                Ok(Partition::Metadata { extents, size: e.size })
            }
            UdfData::Inline(_) => Err(corrupt("metadata file with embedded data")),
        }
    }

    /// Image byte extents of `len` bytes from block `lbn` of partition reference `part`,
    /// appended to `out`. Everything must lie inside the partition; whether it lies inside the
    /// image is checked when it is read (a truncated image still lists every file, and only the
    /// files it cuts fail to read).
    fn map(
        &self,
        part: u16,
        lbn: u32,
        len: u64,
        out: &mut Vec<ByteExtent>,
    ) -> Result<(), UdfError> {
        let p = self
            .partitions
            .get(usize::from(part))
            .ok_or_else(|| corrupt(format!("partition reference {part}")))?;
        let off = u64::from(lbn) * u64::from(self.block_size);
        match p {
            Partition::Physical { start, len: plen, .. } => {
                if off.checked_add(len).is_none_or(|e| e > *plen) {
                    return Err(corrupt(format!(
                        "extent at block {lbn} ({len} bytes) beyond its partition"
                    )));
                }
                let abs = start + off;
                out.push(ByteExtent { offset: abs, len, recorded: true });
            }
            Partition::Metadata { extents, size } => {
                if off.checked_add(len).is_none_or(|e| e > *size) {
                    return Err(corrupt(format!(
                        "extent at block {lbn} beyond the metadata partition"
                    )));
                }
                // Pieces of the metadata file covering [off, off + len).
                let mut start = 0u64;
                let mut pos = off;
                let end = off + len;
                for e in extents {
                    if pos >= end {
                        break;
                    }
                    let e_end = start + e.len;
                    if pos < e_end {
                        let n = (e_end - pos).min(end - pos);
                        if out.len() >= MAX_EXTENTS {
                            return Err(corrupt("too many extents"));
                        }
                        out.push(ByteExtent {
                            offset: e.offset + (pos - start),
                            len: n,
                            recorded: true,
                        });
                        pos += n;
                    }
                    start = e_end;
                }
                if pos < end {
                    return Err(corrupt("metadata partition shorter than its file"));
                }
            }
            Partition::PendingMetadata => {
                return Err(corrupt("metadata partition used to find itself"))
            }
        }
        Ok(())
    }

    /// Read logical block `lbn` of partition reference `part`.
    fn read_block<R: ReadAt>(&self, dev: &mut R, part: u16, lbn: u32) -> Result<Vec<u8>, UdfError> {
        let mut pieces = Vec::new();
        self.map(part, lbn, u64::from(self.block_size), &mut pieces)?;
        check_in_image(&pieces, self.dev_size, "descriptor")?;
        let mut buf = vec![0u8; self.block_size as usize];
        read_extents(dev, &pieces, None, 0, &mut buf)?;
        Ok(buf)
    }

    /// Read the (extended) file entry at `lbn` of `part`, resolving its data.
    fn read_icb<R: ReadAt>(
        &self,
        dev: &mut R,
        part: u16,
        lbn: u32,
        name: String,
    ) -> Result<(UdfEntry, u8), UdfError> {
        let b = self.read_block(dev, part, lbn)?;
        let id = check_tag(&b, &[TAG_FE, TAG_EFE], Some(lbn), "file entry")?;
        let strategy = le16(&b, 20)?;
        if strategy != 4 {
            return Err(UdfError::Unsupported(format!("ICB strategy type {strategy}")));
        }
        let file_type = b[27];
        let flags = le16(&b, 34)?;
        let size = le64(&b, 56)?;
        let (l_ea, l_ad, base) = if id == TAG_FE {
            (le32(&b, 168)?, le32(&b, 172)?, 176usize)
        } else {
            (le32(&b, 208)?, le32(&b, 212)?, 216usize)
        };
        let ad_start =
            base.checked_add(l_ea as usize).ok_or_else(|| corrupt("extended attributes length"))?;
        let ads = ad_start
            .checked_add(l_ad as usize)
            .and_then(|end| b.get(ad_start..end))
            .ok_or_else(|| corrupt("allocation descriptors beyond their file entry"))?;
        let kind = match file_type {
            FT_DIRECTORY => UdfKind::Directory,
            FT_FILE => UdfKind::File,
            FT_SYMLINK => UdfKind::Symlink,
            _ => UdfKind::Other,
        };
        let ad_type = flags & 7;
        let data = match ad_type {
            3 => {
                let inline = usize::try_from(size).ok().and_then(|n| ads.get(..n));
                UdfData::Inline(
                    inline.ok_or_else(|| corrupt("embedded data shorter than the file"))?.to_vec(),
                )
            }
            0..=2 => UdfData::Extents(self.extents(dev, ads, ad_type, part, size)?),
            _ => return Err(corrupt(format!("allocation descriptor type {ad_type}"))),
        };
        Ok((
            UdfEntry { name, kind, size, data, icb: (part, lbn), image_size: self.dev_size },
            file_type,
        ))
    }

    /// The extents of a file: its allocation descriptors, then those of each allocation
    /// extent descriptor they continue into; stops once `size` bytes are covered.
    fn extents<R: ReadAt>(
        &self,
        dev: &mut R,
        ads: &[u8],
        ad_type: u16,
        icb_part: u16,
        size: u64,
    ) -> Result<Vec<ByteExtent>, UdfError> {
        let ad_len = [8usize, 16, 20][usize::from(ad_type)];
        let mut out = Vec::new();
        let mut logical = 0u64;
        let mut cur = ads.to_vec();
        let mut visited = BTreeSet::new();
        'chain: loop {
            let mut next = None;
            for ad in cur.chunks_exact(ad_len) {
                let (raw, lbn, part) = parse_ad(ad, ad_type, icb_part)?;
                let (ty, len) = (raw >> 30, u64::from(raw & 0x3FFF_FFFF));
                if len == 0 {
                    break;
                }
                if ty == 3 {
                    next = Some((part, lbn, len));
                    break;
                }
                if logical >= size {
                    break 'chain;
                }
                if out.len() >= MAX_EXTENTS {
                    return Err(corrupt("too many extents"));
                }
                if ty == 0 {
                    self.map(part, lbn, len, &mut out)?;
                } else {
                    out.push(ByteExtent { offset: 0, len, recorded: false });
                }
                logical += len;
            }
            let Some((part, lbn, len)) = next else { break };
            if logical >= size {
                break;
            }
            if visited.len() >= MAX_CONTINUATIONS {
                return Err(corrupt("too many allocation extent descriptors"));
            }
            if !visited.insert((part, lbn)) {
                return Err(corrupt("loop in allocation extent descriptors"));
            }
            let b = self.read_block(dev, part, lbn)?;
            check_tag(&b, &[TAG_AED], Some(lbn), "allocation extent descriptor")?;
            let l_ad = le32(&b, 20)? as usize;
            let end =
                24usize.checked_add(l_ad).filter(|&e| e <= b.len() && e as u64 <= len.max(24));
            cur =
                b[24..end.ok_or_else(|| corrupt("allocation extent descriptor length"))?].to_vec();
        }
        cut_to_size(&mut out, size);
        Ok(out)
    }

    /// The root directory.
    pub fn root<R: ReadAt>(&self, dev: &mut R) -> Result<UdfEntry, UdfError> {
        let (e, _) = self.read_icb(dev, self.root_icb.0, self.root_icb.1, String::new())?;
        if !e.is_dir() {
            return Err(corrupt("root ICB is not a directory"));
        }
        Ok(e)
    }

    /// A directory's entries in on-disk order, without the parent entry and deleted entries.
    pub fn read_dir<R: ReadAt>(
        &self,
        dev: &mut R,
        dir: &UdfEntry,
    ) -> Result<Vec<UdfEntry>, UdfError> {
        if !dir.is_dir() {
            return Err(UdfError::NotADirectory);
        }
        if dir.size > MAX_DIR_BYTES {
            return Err(corrupt(format!("directory of {} bytes", dir.size)));
        }
        let mut data = vec![0u8; dir.size as usize];
        self.read_file(dev, dir, 0, &mut data)?;
        let mut out = Vec::new();
        let mut pos = 0usize;
        let mut seen = 0usize;
        while pos < data.len() {
            seen += 1;
            if seen > MAX_DIR_ENTRIES {
                return Err(corrupt("too many directory entries"));
            }
            let rest = &data[pos..];
            if rest.len() < 38 {
                return Err(corrupt("file identifier descriptor cut by the end of its directory"));
            }
            check_tag(rest, &[TAG_FID], None, "file identifier descriptor")?;
            let characteristics = rest[18];
            let l_fi = usize::from(rest[19]);
            let lbn = le32(rest, 24)?;
            let part = le16(rest, 28)?;
            let l_iu = usize::from(le16(rest, 36)?);
            let total = 38 + l_iu + l_fi;
            let name = rest
                .get(38 + l_iu..total)
                .ok_or_else(|| corrupt("file identifier beyond its directory"))?;
            pos += ((total + 3) & !3).min(rest.len());
            if characteristics & (FID_DELETED | FID_PARENT) != 0 {
                continue;
            }
            let name = decode_cs0(name)
                .ok_or_else(|| corrupt("file identifier in an unknown character encoding"))?;
            let (entry, _) = self.read_icb(dev, part, lbn, name.clone()).map_err(|e| match e {
                UdfError::Corrupt(why) => corrupt(format!("{name:?}: {why}")),
                e => e,
            })?;
            out.push(entry);
        }
        Ok(out)
    }

    /// Find `path` ('/'-separated, relative to the root; "" or "/" is the root). Each
    /// component matches exactly first, else without ASCII case.
    pub fn lookup<R: ReadAt>(&self, dev: &mut R, path: &str) -> Result<UdfEntry, UdfError> {
        let mut cur = self.root(dev)?;
        for (depth, comp) in path.split('/').filter(|c| !c.is_empty()).enumerate() {
            if depth >= MAX_DEPTH {
                return Err(UdfError::NotFound);
            }
            if !cur.is_dir() {
                return Err(UdfError::NotADirectory);
            }
            let entries = self.read_dir(dev, &cur)?;
            let found = match entries.iter().position(|e| e.name == comp) {
                Some(i) => Some(i),
                None => entries.iter().position(|e| e.name.eq_ignore_ascii_case(comp)),
            };
            let Some(i) = found else {
                return Err(UdfError::NotFound);
            };
            cur = entries.into_iter().nth(i).ok_or(UdfError::NotFound)?;
        }
        Ok(cur)
    }

    /// Fill `buf` from `offset` of the file; fails if the range passes the file's size, or
    /// reaches data its allocation descriptors do not cover.
    pub fn read_file<R: ReadAt>(
        &self,
        dev: &mut R,
        entry: &UdfEntry,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), UdfError> {
        read_entry(dev, entry, None, offset, buf)
    }
}

/// Every recorded extent of `pieces` inside an image of `dev_size` bytes.
fn check_in_image(pieces: &[ByteExtent], dev_size: u64, what: &str) -> Result<(), UdfError> {
    for e in pieces.iter().filter(|e| e.recorded) {
        if e.offset.checked_add(e.len).is_none_or(|end| end > dev_size) {
            return Err(corrupt(format!(
                "{what} at byte {} ({} bytes) beyond the end of the image ({dev_size} bytes; truncated?)",
                e.offset, e.len
            )));
        }
    }
    Ok(())
}

fn read_entry<R: ReadAt>(
    dev: &mut R,
    entry: &UdfEntry,
    starts: Option<&[u64]>,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), UdfError> {
    check_range(offset, buf.len(), entry.size)?;
    match &entry.data {
        UdfData::Inline(bytes) => {
            let at = offset as usize;
            let src = bytes
                .get(at..at + buf.len())
                .ok_or_else(|| corrupt("embedded data shorter than the file"))?;
            buf.copy_from_slice(src);
            Ok(())
        }
        UdfData::Extents(extents) => read_extents(dev, extents, starts, offset, buf),
    }
}

/// A file of a UDF volume as a [`ReadAt`] device of `entry.size` bytes, e.g. `install.wim`
/// for wimlib.
pub struct UdfFile<D> {
    dev: D,
    entry: UdfEntry,
    /// Logical offset of each extent (binary search per read).
    starts: Vec<u64>,
}

impl<D: ReadAt> UdfFile<D> {
    /// `vol` and `entry` may be given by value or by reference. Directories give
    /// [`UdfError::IsADirectory`].
    pub fn new<V: Borrow<UdfVolume>, E: Borrow<UdfEntry>>(
        dev: D,
        vol: V,
        entry: E,
    ) -> Result<Self, UdfError> {
        let _ = vol.borrow();
        let entry = entry.borrow().clone();
        if entry.is_dir() {
            return Err(UdfError::IsADirectory);
        }
        let mut starts = Vec::new();
        if let UdfData::Extents(extents) = &entry.data {
            let mut acc = 0u64;
            for e in extents {
                starts.push(acc);
                acc = acc.saturating_add(e.len);
            }
        }
        Ok(UdfFile { dev, entry, starts })
    }

    pub fn entry(&self) -> &UdfEntry {
        &self.entry
    }

    pub fn into_inner(self) -> D {
        self.dev
    }
}

impl<D: ReadAt> ReadAt for UdfFile<D> {
    fn size(&self) -> u64 {
        self.entry.size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        match read_entry(&mut self.dev, &self.entry, Some(&self.starts), offset, buf) {
            Ok(()) => Ok(()),
            Err(UdfError::Io(e)) => Err(e),
            Err(e) => Err(IoError::Device(format!("{e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use crate::testutil::Rng;
    use alloc::string::ToString;

    /// First block of the physical partition in the built images, and its length.
    const PART: u32 = 300;
    const PART_LEN: u32 = 200;

    fn pat(seed: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
    }

    use super::seal_tag as seal;

    fn short_ad(len: u32, ty: u32, lbn: u32) -> Vec<u8> {
        [(ty << 30 | len).to_le_bytes(), lbn.to_le_bytes()].concat()
    }
    fn long_ad(len: u32, ty: u32, lbn: u32, part: u16) -> Vec<u8> {
        let mut v = short_ad(len, ty, lbn);
        v.extend_from_slice(&part.to_le_bytes());
        v.extend_from_slice(&[0; 6]);
        v
    }
    fn ext_ad(len: u32, ty: u32, lbn: u32, part: u16) -> Vec<u8> {
        let mut v = vec![0u8; 20];
        v[0..4].copy_from_slice(&(ty << 30 | len).to_le_bytes());
        v[4..8].copy_from_slice(&len.to_le_bytes());
        v[8..12].copy_from_slice(&len.to_le_bytes());
        v[12..16].copy_from_slice(&lbn.to_le_bytes());
        v[16..18].copy_from_slice(&part.to_le_bytes());
        v
    }

    /// A file entry (or extended file entry) at block `loc` of its partition.
    fn fe(loc: u32, file_type: u8, size: u64, ad_type: u16, ads: &[u8], extended: bool) -> Vec<u8> {
        let base = if extended { 216 } else { 176 };
        let mut d = vec![0u8; base + ads.len()];
        d[20..22].copy_from_slice(&4u16.to_le_bytes());
        d[27] = file_type;
        d[34..36].copy_from_slice(&ad_type.to_le_bytes());
        d[56..64].copy_from_slice(&size.to_le_bytes());
        let l_ad = (ads.len() as u32).to_le_bytes();
        d[base - 4..base].copy_from_slice(&l_ad);
        d[base..].copy_from_slice(ads);
        seal(&mut d, if extended { TAG_EFE } else { TAG_FE }, loc);
        d
    }

    /// A file identifier descriptor (Latin-1 names with compression id 8, others UCS-2).
    fn fid(name: &str, characteristics: u8, lbn: u32, part: u16) -> Vec<u8> {
        let mut id = Vec::new();
        if !name.is_empty() {
            if name.chars().all(|c| (c as u32) < 256) {
                id.push(8);
                id.extend(name.chars().map(|c| c as u8));
            } else {
                id.push(16);
                id.extend(name.encode_utf16().flat_map(u16::to_be_bytes));
            }
        }
        let total = (38 + id.len() + 3) & !3;
        let mut d = vec![0u8; total];
        d[18] = characteristics;
        d[19] = id.len() as u8;
        d[20..36].copy_from_slice(&long_ad(2048, 0, lbn, part));
        d[38..38 + id.len()].copy_from_slice(&id);
        seal(&mut d, TAG_FID, 0);
        d
    }

    /// A file identifier descriptor with `iu` bytes of implementation use before the name.
    fn fid_iu(name: &str, lbn: u32, part: u16, iu: usize) -> Vec<u8> {
        let plain = fid(name, 0, lbn, part);
        let total = (38 + iu + 1 + name.len() + 3) & !3;
        let mut d = vec![0u8; total];
        d[..38].copy_from_slice(&plain[..38]);
        d[36..38].copy_from_slice(&(iu as u16).to_le_bytes());
        d[38 + iu..38 + iu + 1 + name.len()].copy_from_slice(&plain[38..39 + name.len()]);
        seal(&mut d, TAG_FID, 0);
        d
    }

    fn aed(loc: u32, ads: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 24 + ads.len()];
        d[20..24].copy_from_slice(&(ads.len() as u32).to_le_bytes());
        d[24..].copy_from_slice(ads);
        seal(&mut d, TAG_AED, loc);
        d
    }

    fn dstring(s: &str, len: usize) -> Vec<u8> {
        let mut d = vec![0u8; len];
        d[0] = 8;
        d[1..1 + s.len()].copy_from_slice(s.as_bytes());
        d[len - 1] = (s.len() + 1) as u8;
        d
    }

    fn type1_map(number: u16) -> Vec<u8> {
        let mut m = vec![1u8, 6, 1, 0, 0, 0];
        m[4..6].copy_from_slice(&number.to_le_bytes());
        m
    }
    fn type2_map(ident: &str, number: u16, file: u32, mirror: u32) -> Vec<u8> {
        let mut m = vec![0u8; 64];
        m[0] = 2;
        m[1] = 64;
        m[5..5 + ident.len()].copy_from_slice(ident.as_bytes());
        m[38..40].copy_from_slice(&number.to_le_bytes());
        m[40..44].copy_from_slice(&file.to_le_bytes());
        m[44..48].copy_from_slice(&mirror.to_le_bytes());
        m[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
        m
    }

    struct Img {
        bs: usize,
        data: Vec<u8>,
    }

    impl Img {
        /// VRS, anchor at 256, main VDS at 257 and reserve at 261 (PVD, PD, LVD, TD).
        fn new(bs: usize, maps: &[Vec<u8>], rev: u16, fsd: (u32, u16)) -> Img {
            let blocks = PART as usize + PART_LEN as usize;
            let mut img = Img { bs, data: vec![0u8; blocks * bs] };
            for (i, id) in [b"BEA01", b"NSR02", b"TEA01"].iter().enumerate() {
                let at = 32768 + i * 2048;
                img.data[at + 1..at + 6].copy_from_slice(*id);
                img.data[at + 6] = 1;
            }
            let mut a = vec![0u8; 512];
            a[16..20].copy_from_slice(&(4 * bs as u32).to_le_bytes());
            a[20..24].copy_from_slice(&257u32.to_le_bytes());
            a[24..28].copy_from_slice(&(4 * bs as u32).to_le_bytes());
            a[28..32].copy_from_slice(&261u32.to_le_bytes());
            seal(&mut a, TAG_AVDP, 256);
            img.put(256, &a);
            for start in [257, 261] {
                let mut pvd = vec![0u8; 512];
                seal(&mut pvd, 1, start);
                img.put(start, &pvd);
                let mut pd = vec![0u8; 512];
                pd[188..192].copy_from_slice(&PART.to_le_bytes());
                pd[192..196].copy_from_slice(&PART_LEN.to_le_bytes());
                seal(&mut pd, TAG_PD, start + 1);
                img.put(start + 1, &pd);
                let table: Vec<u8> = maps.concat();
                let mut lvd = vec![0u8; 440 + table.len()];
                lvd[84..212].copy_from_slice(&dstring("POLYBOOT", 128));
                lvd[212..216].copy_from_slice(&(bs as u32).to_le_bytes());
                lvd[217..236].copy_from_slice(b"*OSTA UDF Compliant");
                lvd[240..242].copy_from_slice(&rev.to_le_bytes());
                lvd[248..264].copy_from_slice(&long_ad(bs as u32, 0, fsd.0, fsd.1));
                lvd[264..268].copy_from_slice(&(table.len() as u32).to_le_bytes());
                lvd[268..272].copy_from_slice(&(maps.len() as u32).to_le_bytes());
                lvd[440..].copy_from_slice(&table);
                seal(&mut lvd, TAG_LVD, start + 2);
                img.put(start + 2, &lvd);
                let mut td = vec![0u8; 512];
                seal(&mut td, TAG_TD, start + 3);
                img.put(start + 3, &td);
            }
            img
        }

        fn put(&mut self, block: u32, bytes: &[u8]) {
            let at = block as usize * self.bs;
            self.data[at..at + bytes.len()].copy_from_slice(bytes);
        }

        /// Block `lbn` of the physical partition.
        fn put_lbn(&mut self, lbn: u32, bytes: &[u8]) {
            self.put(PART + lbn, bytes);
        }

        fn fsd(&mut self, lbn: u32, put: impl FnOnce(&mut Img, u32, &[u8]), root: (u32, u16)) {
            let mut d = vec![0u8; 512];
            d[400..416].copy_from_slice(&long_ad(self.bs as u32, 0, root.0, root.1));
            seal(&mut d, TAG_FSD, lbn);
            put(self, lbn, &d);
        }
    }

    /// What the sample volume holds: path -> contents.
    type Files = Vec<(&'static str, Vec<u8>)>;

    /// A UDF 1.02 volume with one physical partition and files in every allocation form.
    fn sample(bs: usize) -> (Vec<u8>, Files) {
        let b = bs as u32;
        let mut img = Img::new(bs, &[type1_map(0)], 0x0102, (0, 0));
        img.fsd(0, |i, l, d| i.put_lbn(l, d), (2, 0));
        let mut files: Files = Vec::new();
        let mut dir = fid("", FID_PARENT | 2, 2, 0);
        let add = |img: &mut Img,
                   files: &mut Files,
                   dir: &mut Vec<u8>,
                   name: &'static str,
                   fe_lbn: u32,
                   fe_bytes: Vec<u8>,
                   content: Option<Vec<u8>>| {
            img.put_lbn(fe_lbn, &fe_bytes);
            dir.extend(fid(name, if content.is_none() { 2 } else { 0 }, fe_lbn, 0));
            if let Some(c) = content {
                files.push((name, c));
            }
        };
        // short_ad, one block, size below the block.
        let short = pat(1, 100);
        img.put_lbn(20, &short);
        add(
            &mut img,
            &mut files,
            &mut dir,
            "short.txt",
            5,
            fe(5, FT_FILE, 100, 0, &short_ad(100, 0, 20), false),
            Some(short),
        );
        // long_ad in an extended file entry, 2.5 blocks.
        let long = pat(2, 5 * bs / 2);
        img.put_lbn(21, &long);
        add(
            &mut img,
            &mut files,
            &mut dir,
            "long.bin",
            6,
            fe(6, FT_FILE, long.len() as u64, 1, &long_ad(3 * b, 0, 21, 0), true),
            Some(long),
        );
        let inline = b"embedded in the ICB".to_vec();
        add(
            &mut img,
            &mut files,
            &mut dir,
            "inline.txt",
            7,
            fe(7, FT_FILE, inline.len() as u64, 3, &inline, false),
            Some(inline.clone()),
        );
        // Two blocks far apart.
        let frag = pat(3, 2 * bs);
        img.put_lbn(30, &frag[..bs]);
        img.put_lbn(40, &frag[bs..]);
        let ads = [short_ad(b, 0, 30), short_ad(b, 0, 40)].concat();
        add(
            &mut img,
            &mut files,
            &mut dir,
            "frag.bin",
            8,
            fe(8, FT_FILE, 2 * b as u64, 0, &ads, false),
            Some(frag),
        );
        // Two adjacent extents (how UDF splits files over 1 GiB), the last one padded.
        let adjacent = pat(4, 2 * bs - 10);
        img.put_lbn(50, &adjacent);
        let ads = [short_ad(b, 0, 50), short_ad(b, 0, 51)].concat();
        add(
            &mut img,
            &mut files,
            &mut dir,
            "adjacent.bin",
            9,
            fe(9, FT_FILE, adjacent.len() as u64, 0, &ads, false),
            Some(adjacent),
        );
        // One extent, then a continuation into an allocation extent descriptor with two more.
        let cont = pat(5, 3 * bs);
        img.put_lbn(60, &cont);
        let ads = [short_ad(b, 0, 60), short_ad(b, 3, 11)].concat();
        add(
            &mut img,
            &mut files,
            &mut dir,
            "cont.bin",
            10,
            fe(10, FT_FILE, 3 * b as u64, 0, &ads, false),
            Some(cont),
        );
        img.put_lbn(11, &aed(11, &[short_ad(b, 0, 61), short_ad(b, 0, 62)].concat()));
        // A hole (allocated, not recorded) between two recorded blocks.
        let mut hole = pat(6, 3 * bs);
        hole[bs..2 * bs].fill(0);
        img.put_lbn(70, &hole[..bs]);
        img.put_lbn(72, &hole[2 * bs..]);
        let ads = [short_ad(b, 0, 70), short_ad(b, 1, 71), short_ad(b, 0, 72)].concat();
        add(
            &mut img,
            &mut files,
            &mut dir,
            "hole.bin",
            12,
            fe(12, FT_FILE, 3 * b as u64, 0, &ads, false),
            Some(hole),
        );
        // A subdirectory with embedded FIDs.
        let nested = b"nested".to_vec();
        img.put_lbn(14, &fe(14, FT_FILE, 6, 3, &nested, false));
        files.push(("sub/nested.txt", nested));
        let sub = [fid("", FID_PARENT | 2, 2, 0), fid("nested.txt", 0, 14, 0)].concat();
        add(
            &mut img,
            &mut files,
            &mut dir,
            "sub",
            13,
            fe(13, FT_DIRECTORY, sub.len() as u64, 3, &sub, false),
            None,
        );
        let uni = pat(7, 5);
        img.put_lbn(80, &uni);
        add(
            &mut img,
            &mut files,
            &mut dir,
            "Ünïcødé ファイル.txt",
            15,
            fe(15, FT_FILE, 5, 0, &short_ad(5, 0, 80), false),
            Some(uni),
        );
        // A deleted entry: skipped.
        dir.extend(fid("gone.txt", FID_DELETED, 5, 0));
        let ext = pat(8, 1000);
        img.put_lbn(90, &ext);
        add(
            &mut img,
            &mut files,
            &mut dir,
            "ext.bin",
            17,
            fe(17, FT_FILE, 1000, 2, &ext_ad(1000, 0, 90, 0), false),
            Some(ext),
        );
        add(
            &mut img,
            &mut files,
            &mut dir,
            "Mixed",
            18,
            fe(18, FT_FILE, 5, 3, b"Mixed", false),
            Some(b"Mixed".to_vec()),
        );
        add(
            &mut img,
            &mut files,
            &mut dir,
            "MIXED",
            19,
            fe(19, FT_FILE, 5, 3, b"MIXED", false),
            Some(b"MIXED".to_vec()),
        );
        add(
            &mut img,
            &mut files,
            &mut dir,
            "empty",
            16,
            fe(16, FT_FILE, 0, 0, &[], false),
            Some(Vec::new()),
        );
        // Enough hard links to short.txt that the directory spans blocks and FIDs cross them.
        const LINKS: [&str; 40] = [
            "link00", "link01", "link02", "link03", "link04", "link05", "link06", "link07",
            "link08", "link09", "link10", "link11", "link12", "link13", "link14", "link15",
            "link16", "link17", "link18", "link19", "link20", "link21", "link22", "link23",
            "link24", "link25", "link26", "link27", "link28", "link29", "link30", "link31",
            "link32", "link33", "link34", "link35", "link36", "link37", "link38", "link39",
        ];
        for name in LINKS {
            dir.extend(fid(name, 0, 5, 0));
            files.push((name, pat(1, 100)));
        }
        assert!(dir.len() > bs && dir.len() % bs != 0);
        let blocks = dir.len().div_ceil(bs) as u32;
        img.put_lbn(100, &dir);
        img.put_lbn(
            2,
            &fe(2, FT_DIRECTORY, dir.len() as u64, 0, &short_ad(blocks * b, 0, 100), false),
        );
        (img.data, files)
    }

    fn check_all(img: Vec<u8>, files: &Files, bs: u32) -> (UdfVolume, MemDevice) {
        let mut dev = MemDevice::from_vec(img);
        let vol = probe(&mut dev).unwrap();
        assert_eq!(vol.block_size, bs);
        assert_eq!(vol.volume_id, "POLYBOOT");
        for (path, content) in files {
            let e = vol.lookup(&mut dev, path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(e.size, content.len() as u64, "{path}");
            let mut got = vec![0u8; content.len()];
            vol.read_file(&mut dev, &e, 0, &mut got).unwrap();
            assert!(got == *content, "{path}: contents");
            let mut file = UdfFile::new(&mut dev, &vol, &e).unwrap();
            assert_eq!(file.size(), content.len() as u64);
            if content.len() > 3 {
                let mut tail = [0u8; 3];
                file.read_at(content.len() as u64 - 3, &mut tail).unwrap();
                assert_eq!(tail, content[content.len() - 3..]);
            }
            assert!(file.read_at(content.len() as u64, &mut [0u8; 1]).is_err());
            if let Some((off, len)) = e.contiguous_range() {
                assert_eq!(
                    dev.data[off as usize..(off + len) as usize],
                    content[..],
                    "{path}: range"
                );
            }
        }
        (vol, dev)
    }

    #[test]
    fn reads_every_allocation_form() {
        for bs in [2048usize, 512] {
            let (img, files) = sample(bs);
            let (vol, mut dev) = check_all(img, &files, bs as u32);
            assert_eq!(vol.udf_revision, Some(0x0102));
            let root = vol.root(&mut dev).unwrap();
            let names: Vec<String> =
                vol.read_dir(&mut dev, &root).unwrap().into_iter().map(|e| e.name).collect();
            assert_eq!(names.len(), 13 + 40);
            assert!(!names.iter().any(|n| n == "gone.txt" || n.is_empty()));
            let e = |p: &str, dev: &mut MemDevice| vol.lookup(dev, p).unwrap();
            assert!(e("adjacent.bin", &mut dev).contiguous_range().is_some());
            assert!(
                e("cont.bin", &mut dev).contiguous_range().is_some(),
                "continuation keeps adjacency"
            );
            assert!(e("frag.bin", &mut dev).contiguous_range().is_none());
            assert!(e("hole.bin", &mut dev).contiguous_range().is_none());
            assert!(e("inline.txt", &mut dev).contiguous_range().is_none());
            assert!(e("empty", &mut dev).contiguous_range().is_none());
            let UdfData::Extents(x) = e("adjacent.bin", &mut dev).data else { panic!() };
            assert_eq!(x.len(), 2);
            assert_eq!(x[1].len, bs as u64 - 10, "cut to the size");
            // Exact name first, then without ASCII case.
            let mut buf = [0u8; 5];
            for (path, want) in [("Mixed", b"Mixed"), ("MIXED", b"MIXED"), ("mixed", b"Mixed")] {
                let m = e(path, &mut dev);
                vol.read_file(&mut dev, &m, 0, &mut buf).unwrap();
                assert_eq!(&buf, want);
            }
            assert_eq!(e("/SUB//Nested.TXT", &mut dev).size, 6);
            assert!(e("/", &mut dev).is_dir() && e("", &mut dev).is_dir());
            assert!(matches!(vol.lookup(&mut dev, "nope"), Err(UdfError::NotFound)));
            assert!(matches!(vol.lookup(&mut dev, "short.txt/x"), Err(UdfError::NotADirectory)));
            let sub = e("sub", &mut dev);
            assert!(matches!(
                UdfFile::new(&mut dev, vol.clone(), sub),
                Err(UdfError::IsADirectory)
            ));
            let f = e("short.txt", &mut dev);
            assert!(matches!(vol.read_dir(&mut dev, &f), Err(UdfError::NotADirectory)));
            assert!(vol.read_file(&mut dev, &f, u64::MAX, &mut buf).is_err());
        }
    }

    #[test]
    fn reserve_sequence_and_backup_anchor() {
        let (mut img, files) = sample(2048);
        // Main LVD broken: the reserve sequence is used.
        img[259 * 2048 + 100] ^= 1;
        let (_, dev) = check_all(img, &files, 2048);
        // Anchor at 256 gone, a copy at the last block.
        let mut img = dev.data;
        let anchor = img[256 * 2048..257 * 2048].to_vec();
        img[256 * 2048..257 * 2048].fill(0);
        assert!(matches!(probe(&mut MemDevice::from_vec(img.clone())), Err(UdfError::Corrupt(_))));
        let n = img.len() / 2048;
        let mut last = anchor;
        last[12..16].copy_from_slice(&((n - 1) as u32).to_le_bytes());
        last[4] = tag_checksum(&last);
        img[(n - 1) * 2048..].copy_from_slice(&last);
        check_all(img, &files, 2048);
    }

    /// UDF 2.50: the file set and ICBs in a metadata partition (mapped by a metadata file with
    /// two extents), file data in the physical partition through long_ad.
    fn metadata_image(break_main: bool) -> (Vec<u8>, Files) {
        let bs = 2048usize;
        let b = bs as u32;
        let maps = [type1_map(0), type2_map("*UDF Metadata Partition", 0, 150, 151)];
        let mut img = Img::new(bs, &maps, 0x0250, (0, 1));
        // Metadata blocks 0..4 at physical 160.., 4..8 at physical 170...
        let ads = [short_ad(4 * b, 0, 160), short_ad(4 * b, 0, 170)].concat();
        let main = fe(150, FT_METADATA, 8 * b as u64, 0, &ads, true);
        img.put_lbn(150, &main);
        if break_main {
            img.data[(PART + 150) as usize * bs + 60] ^= 1;
        }
        img.put_lbn(151, &fe(151, FT_METADATA_MIRROR, 8 * b as u64, 0, &ads, true));
        let meta = |m: u32| if m < 4 { 160 + m } else { 170 + m - 4 };
        img.fsd(0, |i, l, d| i.put_lbn(meta(l), d), (2, 1));
        let data = pat(9, 3000);
        img.put_lbn(20, &data);
        img.put_lbn(meta(5), &fe(5, FT_FILE, 3000, 1, &long_ad(2 * b, 0, 20, 0), true));
        let small = b"small".to_vec();
        img.put_lbn(meta(6), &fe(6, FT_FILE, 5, 3, &small, true));
        // Root directory data in metadata blocks 3 and 4 (the two metadata extents): a long
        // implementation-use field makes the second FID cross from one to the other.
        let dir = [
            fid("", FID_PARENT | 2, 2, 1),
            fid_iu("data.bin", 5, 1, 2000),
            fid("small.txt", 0, 6, 1),
        ]
        .concat();
        assert!(dir.len() > bs);
        img.put_lbn(meta(3), &dir[..bs]);
        img.put_lbn(meta(4), &dir[bs..]);
        img.put_lbn(
            meta(2),
            &fe(2, FT_DIRECTORY, dir.len() as u64, 0, &short_ad(dir.len() as u32, 0, 3), true),
        );
        (img.data, vec![("data.bin", data), ("small.txt", small)])
    }

    #[test]
    fn metadata_partition_and_mirror() {
        for broken in [false, true] {
            let (img, files) = metadata_image(broken);
            let (vol, mut dev) = check_all(img, &files, 2048);
            assert_eq!(vol.udf_revision, Some(0x0250));
            let e = vol.lookup(&mut dev, "data.bin").unwrap();
            assert_eq!(e.contiguous_range(), Some(((PART as u64 + 20) * 2048, 3000)));
            assert_eq!(e.icb(), (1, 5));
        }
    }

    #[test]
    fn unsupported_partition_maps() {
        for ident in ["*UDF Virtual Partition", "*UDF Sparable Partition", "*Something Else"] {
            let maps = [type1_map(0), type2_map(ident, 0, 1, 1)];
            let img = Img::new(2048, &maps, 0x0201, (0, 0));
            let err = probe(&mut MemDevice::from_vec(img.data)).unwrap_err();
            assert!(matches!(err, UdfError::Unsupported(_)), "{ident}: {err}");
        }
    }

    #[test]
    fn not_udf() {
        let err = probe(&mut MemDevice::new(1 << 20)).unwrap_err();
        assert!(matches!(err, UdfError::NotUdf));
        assert_eq!(err.to_string(), "not a UDF volume (no NSR02/NSR03 descriptor after sector 16)");
        assert!(matches!(probe(&mut MemDevice::new(100)), Err(UdfError::NotUdf)));
    }

    /// A directory whose entry points at itself and one that points at its parent: listing
    /// works, lookups stay bounded by the path.
    #[test]
    fn directory_loops_stay_bounded() {
        let bs = 2048u32;
        let mut img = Img::new(2048, &[type1_map(0)], 0x0102, (0, 0));
        img.fsd(0, |i, l, d| i.put_lbn(l, d), (2, 0));
        let dir =
            [fid("", FID_PARENT | 2, 2, 0), fid("self", 2, 2, 0), fid("loop", 2, 3, 0)].concat();
        img.put_lbn(10, &dir);
        img.put_lbn(2, &fe(2, FT_DIRECTORY, dir.len() as u64, 0, &short_ad(bs, 0, 10), false));
        let sub = [fid("", FID_PARENT | 2, 2, 0), fid("up", 2, 2, 0)].concat();
        img.put_lbn(3, &fe(3, FT_DIRECTORY, sub.len() as u64, 3, &sub, false));
        let mut dev = MemDevice::from_vec(img.data);
        let vol = probe(&mut dev).unwrap();
        let deep = "self/".repeat(40) + "loop/up/loop/up";
        assert!(vol.lookup(&mut dev, &deep).unwrap().is_dir());
        let deeper = "self/".repeat(MAX_DEPTH + 1);
        assert!(matches!(vol.lookup(&mut dev, &deeper), Err(UdfError::NotFound)));
    }

    #[test]
    fn redirect_targets_need_32_bit_block_numbers() {
        let bs = 2048u64;
        let mut img = Img::new(2048, &[type1_map(0)], 0x0102, (0, 0));
        img.fsd(0, |i, l, d| i.put_lbn(l, d), (2, 0));
        let dir = [fid("", FID_PARENT | 2, 2, 0), fid("f", 0, 5, 0)].concat();
        img.put_lbn(2, &fe(2, FT_DIRECTORY, dir.len() as u64, 3, &dir, false));
        img.put_lbn(20, b"data");
        img.put_lbn(5, &fe(5, FT_FILE, 4, 0, &short_ad(4, 0, 20), false));
        let mut dev = MemDevice::from_vec(img.data);
        let vol = probe(&mut dev).unwrap();
        let e = vol.lookup(&mut dev, "f").unwrap();
        let start = u64::from(PART) * bs;
        // Its last block is the last 32-bit block number: accepted.
        let last = start + (u64::from(u32::MAX) - 4) * bs;
        let r = redirect::redirect(&vol, &mut dev, &e, last, 4 * bs);
        assert!(r.is_ok(), "{r:?}");
        // One block further: refused, not truncated to a block near the start.
        for (at, size) in [(last + bs, 4 * bs), (last, 5 * bs), (start + (1 << 44), bs)] {
            let r = redirect::redirect(&vol, &mut dev, &e, at, size);
            assert!(matches!(r, Err(UdfError::Corrupt(_))), "{at:#x} + {size}: {r:?}");
        }
    }

    #[test]
    fn redirect_embedded_data_becomes_short_descriptors() {
        let bs = 2048u64;
        let mut img = Img::new(2048, &[type1_map(0)], 0x0102, (0, 0));
        img.fsd(0, |i, l, d| i.put_lbn(l, d), (2, 0));
        let dir = [fid("", FID_PARENT | 2, 2, 0), fid("grub.cfg", 0, 5, 0)].concat();
        img.put_lbn(2, &fe(2, FT_DIRECTORY, dir.len() as u64, 3, &dir, false));
        img.put_lbn(5, &fe(5, FT_FILE, 19, 3, b"embedded in the ICB", true));
        let new = pat(9, 3000);
        img.put_lbn(100, &new);
        let mut dev = MemDevice::from_vec(img.data);
        let vol = probe(&mut dev).unwrap();
        let e = vol.lookup(&mut dev, "grub.cfg").unwrap();
        assert!(matches!(e.data, UdfData::Inline(_)));
        let at = (u64::from(PART) + 100) * bs;
        let patches = redirect::redirect(&vol, &mut dev, &e, at, new.len() as u64).unwrap();
        assert_eq!(patches.len(), 1, "inside the partition: only the file entry");
        for (at, bytes) in patches {
            dev.data[at as usize..at as usize + bytes.len()].copy_from_slice(&bytes);
        }
        // Read again from the patched bytes: checksums and CRC hold, the data is the new one.
        let vol = probe(&mut dev).unwrap();
        let e = vol.lookup(&mut dev, "grub.cfg").unwrap();
        assert_eq!(e.size, 3000);
        assert_eq!(e.contiguous_range(), Some((at, 3000)));
        let mut buf = vec![0u8; 3000];
        vol.read_file(&mut dev, &e, 0, &mut buf).unwrap();
        assert_eq!(buf, new);
    }

    #[test]
    fn hostile_extents_and_lengths() {
        let bs = 2048u32;
        let build = |ads: Vec<u8>, size: u64, ad_type: u16| {
            let mut img = Img::new(2048, &[type1_map(0)], 0x0102, (0, 0));
            img.fsd(0, |i, l, d| i.put_lbn(l, d), (2, 0));
            let dir = [fid("", FID_PARENT | 2, 2, 0), fid("f", 0, 5, 0)].concat();
            img.put_lbn(2, &fe(2, FT_DIRECTORY, dir.len() as u64, 3, &dir, false));
            img.put_lbn(5, &fe(5, FT_FILE, size, ad_type, &ads, false));
            MemDevice::from_vec(img.data)
        };
        let lookup = |mut dev: MemDevice| {
            let vol = probe(&mut dev).unwrap();
            vol.lookup(&mut dev, "f").map(|e| (vol, dev, e))
        };
        // Past the partition, past the image, a huge length with nothing behind it.
        assert!(lookup(build(short_ad(2 * bs, 0, PART_LEN - 1), 4096, 0)).is_err());
        // A truncated image still lists the file; reading it fails, and it has no range.
        let mut dev = build(short_ad(bs, 0, 100), 2048, 0);
        dev.data.truncate((PART as usize + 50) * 2048);
        let (vol, mut dev, e) = lookup(dev).expect("listed although cut off");
        assert!(e.contiguous_range().is_none());
        let mut one = [0u8; 1];
        assert!(
            matches!(vol.read_file(&mut dev, &e, 0, &mut one), Err(UdfError::Io(_))),
            "extent beyond the end of a truncated image"
        );
        let (vol, mut dev, e) = lookup(build(short_ad(bs, 0, 20), u64::MAX, 0)).unwrap();
        let mut buf = [0u8; 16];
        assert!(vol.read_file(&mut dev, &e, 0, &mut buf).is_ok());
        assert!(
            matches!(vol.read_file(&mut dev, &e, 4096, &mut buf), Err(UdfError::Corrupt(_))),
            "beyond the extents"
        );
        assert!(e.contiguous_range().is_none());
        // Embedded data shorter than the size; an unknown allocation descriptor type.
        assert!(lookup(build(b"abc".to_vec(), 10, 3)).is_err());
        assert!(lookup(build(b"abc".to_vec(), 3, 5)).is_err());
        // A continuation that points at itself.
        let mut img = build(short_ad(bs, 3, 11), 1 << 30, 0).data;
        let own = aed(11, &short_ad(bs, 3, 11));
        let at = (PART as usize + 11) * 2048;
        img[at..at + own.len()].copy_from_slice(&own);
        assert!(matches!(lookup(MemDevice::from_vec(img)), Err(UdfError::Corrupt(_))));
        // Not-recorded extents of any length read as zeros without touching the device.
        let (vol, mut dev, e) = lookup(build(short_ad(0x3FFF_F800, 2, 0), 0x3FFF_F800, 0)).unwrap();
        vol.read_file(&mut dev, &e, 0x3000_0000, &mut buf).unwrap();
        assert_eq!(buf, [0; 16]);
        // Strategy 4096.
        let mut img = build(short_ad(bs, 0, 20), 10, 0).data;
        let at = (PART as usize + 5) * 2048;
        img[at + 20..at + 22].copy_from_slice(&4096u16.to_le_bytes());
        let len = usize::from(u16::from_le_bytes([img[at + 10], img[at + 11]]));
        let crc = crc_itu(&img[at + 16..at + 16 + len]);
        img[at + 8..at + 10].copy_from_slice(&crc.to_le_bytes());
        img[at + 4] = tag_checksum(&img[at..at + 16]);
        assert!(matches!(lookup(MemDevice::from_vec(img)), Err(UdfError::Unsupported(_))));
    }

    #[test]
    fn bad_checksums_and_crcs() {
        let (img, _) = sample(2048);
        let tag = 260 * 2048; // main terminator: main sequence still fine without it
        let mut bad = img.clone();
        bad[tag + 4] ^= 1;
        assert!(probe(&mut MemDevice::from_vec(bad)).is_ok());
        // The root FE: its checksum, then its CRC.
        for at in [(PART as usize + 2) * 2048 + 4, (PART as usize + 2) * 2048 + 40] {
            let mut bad = img.clone();
            bad[at] ^= 1;
            let mut dev = MemDevice::from_vec(bad);
            let vol = probe(&mut dev).unwrap();
            assert!(matches!(vol.root(&mut dev), Err(UdfError::Corrupt(_))));
        }
        let crc = [0x00u8, 0x00];
        assert_eq!(crc_itu(&crc), 0);
        assert_eq!(crc_itu(b"123456789"), 0x31C3, "CRC-16/XMODEM check value");
    }

    /// Walk a volume the way the fuzz target does, asserting nothing but termination.
    fn walk(dev: &mut MemDevice) {
        let Ok(vol) = probe(dev) else { return };
        let Ok(root) = vol.root(dev) else { return };
        let mut stack = vec![(root, 0)];
        let mut budget = 200;
        while let Some((d, depth)) = stack.pop() {
            let Ok(list) = vol.read_dir(dev, &d) else {
                continue;
            };
            for e in list {
                budget -= 1;
                if budget == 0 {
                    return;
                }
                let mut buf = vec![0u8; e.size.min(8192) as usize];
                let _ = vol.read_file(dev, &e, 0, &mut buf);
                let _ = e.contiguous_range();
                if e.is_dir() && depth < 4 {
                    stack.push((e, depth + 1));
                }
            }
        }
    }

    #[test]
    fn truncated_and_mutated_images_never_panic() {
        let (img, _) = sample(512);
        for cut in (0..img.len()).step_by(4096).chain([img.len() - 1]) {
            walk(&mut MemDevice::from_vec(img[..cut].to_vec()));
        }
        let (meta, _) = metadata_image(false);
        let mut rng = Rng(0x5544_4646);
        for round in 0..1500 {
            let base = if round % 2 == 0 { &img } else { &meta };
            let mut m = base.clone();
            for _ in 0..1 + rng.below(8) {
                // Mostly in the descriptors and the partition's metadata blocks.
                let at = if rng.below(2) == 0 {
                    256 * 512 + rng.below(8 * 512)
                } else {
                    rng.below(m.len() as u64)
                };
                let at = (at as usize).min(m.len() - 1);
                m[at] = rng.next() as u8;
            }
            walk(&mut MemDevice::from_vec(m));
        }
    }
}
