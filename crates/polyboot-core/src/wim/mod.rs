//! Windows imaging files (WIM, ESD, split SWM): the 208-byte header and the XML description
//! of the images, read from untrusted bytes through [`ReadAt`].
//!
//! Only what is needed to list editions and to check a file before handing it to wimlib:
//! resources (file data, metadata, lookup table) are never decompressed here.
//!
//! ```text
//! header (little-endian, 208 bytes at offset 0)
//!   0 magic "MSWIM\0\0\0" (wimlib's pipable WIMs: "WLPWM\0\0\0")   8 header size (208)
//!  12 version: 0x10d00, or 0xe00 for solid resources (ESD)        16 flags   20 chunk size
//!  24 GUID[16]   40 part number (u16)   42 total parts (u16)   44 image count
//!  48 lookup (blob) table   72 XML data   96 boot metadata   (resource headers, 24 bytes)
//! 120 boot index   124 integrity table (resource header)   148..208 unused
//! resource header: u56 size in the file + u8 flags, u64 offset, u64 uncompressed size
//! ```
//!
//! The XML data is UTF-16LE with a byte-order mark, never compressed:
//! `<WIM><TOTALBYTES>..</TOTALBYTES><IMAGE INDEX="1"><NAME>..</NAME><WINDOWS><ARCH>9</ARCH>
//! <EDITIONID>Professional</EDITIONID><VERSION><MAJOR>10</MAJOR>..</VERSION></WINDOWS>
//! </IMAGE>..</WIM>`. It is read with a small, bounded scanner (no DTDs, no recursion): the
//! elements we need are plain text children at known paths.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::block::{check_range, IoError, ReadAt};
use crate::bytes::{self, Fields};
use crate::iso9660::{self, IsoEntry, IsoError};

pub mod blob_table;
pub mod metadata;
pub mod patch;
pub mod resource;

/// Size of the on-disk header; the only size wimlib (and we) accept.
pub const HEADER_SIZE: usize = 208;
pub const MAGIC: &[u8; 8] = b"MSWIM\0\0\0";
/// wimlib's pipable WIM format (same header layout).
pub const PIPABLE_MAGIC: &[u8; 8] = b"WLPWM\0\0\0";
/// Every blob compressed on its own (XPRESS / LZX / LZMS).
pub const VERSION_DEFAULT: u32 = 0x10d00;
/// Solid resources allowed (several blobs compressed together, usually LZMS): ESD files and
/// `wimcapture --solid`.
pub const VERSION_SOLID: u32 = 0xe00;
/// Largest XML description read. Real ones are tens of KiB (a few KiB per edition).
pub const MAX_XML_BYTES: u64 = 8 << 20;
/// Most images accepted in one file (real install images have up to a few dozen).
pub const MAX_IMAGES: usize = 1024;
/// Deepest XML nesting followed (real documents nest 5 levels).
pub const MAX_XML_DEPTH: usize = 32;
/// Longest text kept for one field (characters); longer values are cut.
pub const MAX_FIELD_CHARS: usize = 1024;

/// Header flags (`WIM_HDR_FLAG_*`).
pub mod flags {
    pub const COMPRESSION: u32 = 0x0000_0002;
    pub const READONLY: u32 = 0x0000_0004;
    pub const SPANNED: u32 = 0x0000_0008;
    pub const RESOURCE_ONLY: u32 = 0x0000_0010;
    pub const METADATA_ONLY: u32 = 0x0000_0020;
    pub const WRITE_IN_PROGRESS: u32 = 0x0000_0040;
    pub const RP_FIX: u32 = 0x0000_0080;
    pub const COMPRESS_XPRESS: u32 = 0x0002_0000;
    pub const COMPRESS_LZX: u32 = 0x0004_0000;
    pub const COMPRESS_LZMS: u32 = 0x0008_0000;
    /// Seen in the wild but not supported by wimlib either.
    pub const COMPRESS_XPRESS_2: u32 = 0x0020_0000;
}

/// Resource header flags (`WIM_RESHDR_FLAG_*`).
pub mod reshdr_flags {
    pub const FREE: u8 = 0x01;
    pub const METADATA: u8 = 0x02;
    pub const COMPRESSED: u8 = 0x04;
    pub const SPANNED: u8 = 0x08;
    pub const SOLID: u8 = 0x10;
}

/// Windows processor architecture codes (`WINDOWS/ARCH`).
pub mod arch {
    pub const X86: u32 = 0;
    pub const ARM: u32 = 5;
    pub const IA64: u32 = 6;
    pub const X64: u32 = 9;
    pub const ARM64: u32 = 12;
}

/// The name of an architecture code, as Windows' setup shows it.
pub fn arch_name(code: u32) -> Option<&'static str> {
    match code {
        arch::X86 => Some("x86"),
        arch::ARM => Some("arm"),
        arch::IA64 => Some("ia64"),
        arch::X64 => Some("x64"),
        arch::ARM64 => Some("arm64"),
        _ => None,
    }
}

/// Why a file is not a usable WIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WimError {
    Io(IoError),
    /// Smaller than a header, or no WIM magic: not a Windows image at all.
    NotWim,
    BadHeaderSize(u32),
    UnknownVersion(u32),
    /// Compression flags that name no (or more than one) known format.
    UnknownCompression(u32),
    BadChunkSize(u32),
    BadPart {
        part: u16,
        total: u16,
    },
    TooManyImages(u32),
    /// A resource reaches past the end of the file (e.g. a file cut short, or an image over
    /// 4 GiB seen through an ISO 9660 tree that cannot describe it).
    Truncated {
        what: &'static str,
        end: u64,
        size: u64,
    },
    NoXml,
    XmlTooLarge(u64),
    BlobTableCompressed,
    BlobTableTooLarge(u64),
    XmlCompressed,
    /// The XML text is malformed; the text says where.
    BadXml(&'static str),
    /// The header and the XML disagree on the images.
    ImageMismatch {
        header: u32,
        xml: usize,
    },
    BadImageIndex,
    /// A resource that is larger (uncompressed) than what polyboot reads into memory.
    ResourceTooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// A compressed chunk that does not decompress; the text says why.
    BadChunk(&'static str),
    /// The image's metadata (directory tree) is malformed; the text says where.
    BadMetadata(&'static str),
    /// A path that is not a file in the image.
    NotInImage(String),
    /// No lookup table entry for a blob the image names.
    MissingBlob,
    /// A WIM polyboot cannot rewrite, and why (LZMS, solid, split, pipable).
    CannotPatch(&'static str),
}

impl fmt::Display for WimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WimError::Io(e) => write!(f, "{e}"),
            WimError::NotWim => f.write_str("not a Windows image (no WIM header)"),
            WimError::BadHeaderSize(n) => {
                write!(f, "corrupt WIM header: header size {n}, expected 208")
            }
            WimError::UnknownVersion(v) => write!(f, "unsupported WIM version {v:#x}"),
            WimError::UnknownCompression(fl) => {
                write!(f, "corrupt WIM header: unknown compression flags {fl:#x}")
            }
            WimError::BadChunkSize(n) => write!(f, "corrupt WIM header: chunk size {n}"),
            WimError::BadPart { part, total } => {
                write!(f, "corrupt WIM header: part {part} of {total}")
            }
            WimError::TooManyImages(n) => write!(f, "corrupt WIM header: {n} images"),
            WimError::Truncated { what, end, size } => write!(
                f,
                "truncated WIM: the {what} ends at byte {end} but the file has {size} bytes"
            ),
            WimError::NoXml => f.write_str("corrupt WIM: no XML description of the images"),
            WimError::XmlTooLarge(n) => write!(f, "WIM XML description of {n} bytes is too large"),
            WimError::BlobTableCompressed => f.write_str("corrupt WIM: compressed lookup table"),
            WimError::BlobTableTooLarge(n) => {
                write!(f, "WIM lookup table of {n} bytes is too large")
            }
            WimError::XmlCompressed => f.write_str("corrupt WIM: compressed XML description"),
            WimError::BadXml(why) => write!(f, "corrupt WIM XML description: {why}"),
            WimError::ImageMismatch { header, xml } => write!(
                f,
                "corrupt WIM: the header counts {header} images but the XML describes {xml}"
            ),
            WimError::BadImageIndex => {
                f.write_str("corrupt WIM XML description: image indexes are not 1, 2, 3, ...")
            }
            WimError::ResourceTooLarge { what, size, limit } => {
                write!(f, "the WIM's {what} of {size} bytes is larger than the limit of {limit}")
            }
            WimError::BadChunk(why) => write!(f, "corrupt WIM: a compressed chunk {why}"),
            WimError::BadMetadata(why) => write!(f, "corrupt WIM image metadata: {why}"),
            WimError::NotInImage(path) => write!(f, "{path} is not a file in the WIM image"),
            WimError::MissingBlob => {
                f.write_str("corrupt WIM: a file's data is not in the lookup table")
            }
            WimError::CannotPatch(why) => write!(f, "polyboot cannot rewrite this WIM: {why}"),
        }
    }
}

crate::block::error_with_io!(WimError);

/// Where a resource lies in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceHeader {
    /// Bytes in the file (56 bits on disk).
    pub size_in_wim: u64,
    /// See [`reshdr_flags`].
    pub flags: u8,
    pub offset: u64,
    pub original_size: u64,
}

impl ResourceHeader {
    pub fn parse(b: &[u8; 24]) -> ResourceHeader {
        let raw = b.le64::<0>();
        ResourceHeader {
            size_in_wim: raw & 0x00ff_ffff_ffff_ffff,
            flags: (raw >> 56) as u8,
            offset: b.le64::<8>(),
            original_size: b.le64::<16>(),
        }
    }
    /// The 24 bytes on disk (the size keeps its low 56 bits).
    pub fn encode(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        let raw = (self.size_in_wim & 0x00ff_ffff_ffff_ffff) | (u64::from(self.flags) << 56);
        b[..8].copy_from_slice(&raw.to_le_bytes());
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b[16..].copy_from_slice(&self.original_size.to_le_bytes());
        b
    }
    pub fn is_empty(&self) -> bool {
        self.size_in_wim == 0
    }
    pub fn is_compressed(&self) -> bool {
        self.flags & reshdr_flags::COMPRESSED != 0
    }
    pub fn is_solid(&self) -> bool {
        self.flags & reshdr_flags::SOLID != 0
    }
    /// End offset in the file, `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.size_in_wim)
    }
}

/// The compression format named by the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xpress,
    Lzx,
    Lzms,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Xpress => "XPRESS",
            Compression::Lzx => "LZX",
            Compression::Lzms => "LZMS",
        }
    }
}

/// A parsed, checked WIM header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WimHeader {
    pub pipable: bool,
    pub version: u32,
    /// See [`flags`].
    pub flags: u32,
    pub compression: Compression,
    pub chunk_size: u32,
    pub guid: [u8; 16],
    /// 1-based part number of a split (.swm) set; 1 of 1 for a whole file.
    pub part_number: u16,
    pub total_parts: u16,
    pub image_count: u32,
    pub blob_table: ResourceHeader,
    pub xml: ResourceHeader,
    pub boot_metadata: ResourceHeader,
    /// 1-based index of the bootable image (WinPE's boot.wim), 0 for none.
    pub boot_index: u32,
    pub integrity: ResourceHeader,
}

impl WimHeader {
    /// Parse and check the first [`HEADER_SIZE`] bytes of a file.
    pub fn parse(b: &[u8]) -> Result<WimHeader, WimError> {
        let b = bytes::chunk::<HEADER_SIZE>(b, 0).map_err(|_| WimError::NotWim)?;
        let pipable = match &b[..8] {
            m if m == MAGIC => false,
            m if m == PIPABLE_MAGIC => true,
            _ => return Err(WimError::NotWim),
        };
        let header_size = b.le32::<8>();
        if header_size as usize != HEADER_SIZE {
            return Err(WimError::BadHeaderSize(header_size));
        }
        let version = b.le32::<12>();
        if version != VERSION_DEFAULT && version != VERSION_SOLID {
            return Err(WimError::UnknownVersion(version));
        }
        let hdr_flags = b.le32::<16>();
        let compression = if hdr_flags & flags::COMPRESSION == 0 {
            Compression::None
        } else {
            let known = hdr_flags
                & (flags::COMPRESS_XPRESS
                    | flags::COMPRESS_LZX
                    | flags::COMPRESS_LZMS
                    | flags::COMPRESS_XPRESS_2);
            match known {
                flags::COMPRESS_XPRESS => Compression::Xpress,
                flags::COMPRESS_LZX => Compression::Lzx,
                flags::COMPRESS_LZMS => Compression::Lzms,
                _ => return Err(WimError::UnknownCompression(hdr_flags)),
            }
        };
        let chunk_size = b.le32::<20>();
        // wimlib's limits: a power of two from 4 KiB (XPRESS) to 1 GiB (LZMS); 0 is allowed
        // (and ignored) in uncompressed files.
        let chunk_ok = chunk_size.is_power_of_two() && (1 << 12..=1 << 30).contains(&chunk_size);
        if compression != Compression::None && !chunk_ok {
            return Err(WimError::BadChunkSize(chunk_size));
        }
        let guid = b.bytes_at::<24, 16>();
        let part_number = b.le16::<40>();
        let total_parts = b.le16::<42>();
        if total_parts == 0 || part_number == 0 || part_number > total_parts {
            return Err(WimError::BadPart { part: part_number, total: total_parts });
        }
        let image_count = b.le32::<44>();
        if image_count as usize > MAX_IMAGES {
            return Err(WimError::TooManyImages(image_count));
        }
        Ok(WimHeader {
            pipable,
            version,
            flags: hdr_flags,
            compression,
            chunk_size,
            guid,
            part_number,
            total_parts,
            image_count,
            blob_table: ResourceHeader::parse(&b.bytes_at::<48, 24>()),
            xml: ResourceHeader::parse(&b.bytes_at::<72, 24>()),
            boot_metadata: ResourceHeader::parse(&b.bytes_at::<96, 24>()),
            boot_index: b.le32::<120>(),
            integrity: ResourceHeader::parse(&b.bytes_at::<124, 24>()),
        })
    }

    /// The version that allows solid resources and LZMS (ESD files, but also plain LZMS
    /// WIMs): whether any resource is solid takes [`has_solid_resources`].
    pub fn solid_version(&self) -> bool {
        self.version == VERSION_SOLID
    }
    /// One part of a split (.swm) set.
    pub fn is_split(&self) -> bool {
        self.total_parts > 1
    }
    pub fn has_integrity_table(&self) -> bool {
        !self.integrity.is_empty()
    }
    /// A capture was interrupted while writing this file.
    pub fn write_in_progress(&self) -> bool {
        self.flags & flags::WRITE_IN_PROGRESS != 0
    }
    /// The GUID as wimlib prints it (32 hex digits, bytes in file order).
    pub fn guid_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        for b in self.guid {
            let _ = fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
        }
        s
    }
}

/// Read and check the header of the file on `dev`.
pub fn read_header<D: ReadAt + ?Sized>(dev: &mut D) -> Result<WimHeader, WimError> {
    if dev.size() < HEADER_SIZE as u64 {
        return Err(WimError::NotWim);
    }
    let mut b = [0u8; HEADER_SIZE];
    dev.read_at(0, &mut b)?;
    WimHeader::parse(&b)
}

/// Bytes of one lookup (blob) table entry: resource header, part number, reference count,
/// SHA-1.
pub const BLOB_TABLE_ENTRY_SIZE: usize = 50;
/// Largest lookup table scanned (a full Windows install image has about 5 MiB).
pub const MAX_BLOB_TABLE_BYTES: u64 = 256 << 20;

/// Whether any resource is solid (several blobs compressed together, as in ESD files and
/// `wimcapture --solid`). Only files of the solid version can have them; for those the
/// lookup table (never compressed) is scanned in bounded chunks.
pub fn has_solid_resources<D: ReadAt + ?Sized>(
    dev: &mut D,
    hdr: &WimHeader,
) -> Result<bool, WimError> {
    let t = hdr.blob_table;
    if !hdr.solid_version() || t.is_empty() {
        return Ok(false);
    }
    if t.is_compressed() {
        return Err(WimError::BlobTableCompressed);
    }
    if t.size_in_wim > MAX_BLOB_TABLE_BYTES {
        return Err(WimError::BlobTableTooLarge(t.size_in_wim));
    }
    let size = dev.size();
    let end = t.end().unwrap_or(u64::MAX);
    if end > size {
        return Err(WimError::Truncated { what: "lookup table", end, size });
    }
    let entries = t.size_in_wim / BLOB_TABLE_ENTRY_SIZE as u64;
    let mut buf = vec![0u8; BLOB_TABLE_ENTRY_SIZE * 1024];
    let mut done = 0u64;
    while done < entries {
        let n = (entries - done).min(1024) as usize;
        let chunk = &mut buf[..n * BLOB_TABLE_ENTRY_SIZE];
        dev.read_at(t.offset + done * BLOB_TABLE_ENTRY_SIZE as u64, chunk)?;
        // Byte 7 of each entry is its resource header's flags.
        if chunk.chunks_exact(BLOB_TABLE_ENTRY_SIZE).any(|e| e[7] & reshdr_flags::SOLID != 0) {
            return Ok(true);
        }
        done += n as u64;
    }
    Ok(false)
}

/// The raw XML resource (UTF-16LE), checked against the file's size and [`MAX_XML_BYTES`].
pub fn read_xml_bytes<D: ReadAt + ?Sized>(
    dev: &mut D,
    hdr: &WimHeader,
) -> Result<Vec<u8>, WimError> {
    let x = hdr.xml;
    if x.is_empty() {
        return Err(WimError::NoXml);
    }
    if x.is_compressed() {
        return Err(WimError::XmlCompressed);
    }
    if x.size_in_wim > MAX_XML_BYTES {
        return Err(WimError::XmlTooLarge(x.size_in_wim));
    }
    let size = dev.size();
    let end = x.end().unwrap_or(u64::MAX);
    if end > size {
        return Err(WimError::Truncated { what: "XML description", end, size });
    }
    let mut buf = vec![0u8; x.size_in_wim as usize];
    dev.read_at(x.offset, &mut buf)?;
    Ok(buf)
}

/// `WINDOWS/VERSION` of an image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowsVersion {
    pub major: Option<u64>,
    pub minor: Option<u64>,
    pub build: Option<u64>,
    pub spbuild: Option<u64>,
}

impl fmt::Display for WindowsVersion {
    /// `10.0.19041.1`, as far as the fields are known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [self.major, self.minor, self.build, self.spbuild];
        let mut first = true;
        for p in parts.into_iter().map_while(|p| p) {
            if !first {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
            first = false;
        }
        Ok(())
    }
}

/// What the XML says about one image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// The `INDEX` attribute (1-based).
    pub index: u32,
    pub name: Option<String>,
    pub description: Option<String>,
    pub display_name: Option<String>,
    pub display_description: Option<String>,
    /// `FLAGS` (usually the edition, e.g. "Professional").
    pub flags: Option<String>,
    pub edition_id: Option<String>,
    pub installation_type: Option<String>,
    pub product_name: Option<String>,
    /// `WINDOWS/ARCH`; see [`arch_name`].
    pub arch: Option<u32>,
    pub version: Option<WindowsVersion>,
    pub default_language: Option<String>,
    pub total_bytes: Option<u64>,
    pub dir_count: Option<u64>,
    pub file_count: Option<u64>,
}

impl ImageInfo {
    pub fn arch_name(&self) -> Option<&'static str> {
        self.arch.and_then(arch_name)
    }
    /// The edition to show and match: `EDITIONID`, else `FLAGS`.
    pub fn edition(&self) -> Option<&str> {
        self.edition_id.as_deref().or(self.flags.as_deref())
    }
}

/// The XML description of a WIM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WimXml {
    /// Sorted by index.
    pub images: Vec<ImageInfo>,
    /// Top-level `TOTALBYTES`: the size of the file (of this part of a split set).
    pub total_bytes: Option<u64>,
}

/// A header and its XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WimInfo {
    pub header: WimHeader,
    pub xml: WimXml,
    /// Some resources are solid ([`has_solid_resources`]).
    pub solid: bool,
}

/// Header + XML of the file on `dev`; the image list must match the header's count with
/// indexes 1..=count (as wimlib requires).
pub fn read_info<D: ReadAt + ?Sized>(dev: &mut D) -> Result<WimInfo, WimError> {
    let header = read_header(dev)?;
    let bytes = read_xml_bytes(dev, &header)?;
    let xml = parse_xml(&bytes)?;
    if xml.images.len() != header.image_count as usize {
        return Err(WimError::ImageMismatch { header: header.image_count, xml: xml.images.len() });
    }
    if xml.images.iter().enumerate().any(|(i, im)| im.index as usize != i + 1) {
        return Err(WimError::BadImageIndex);
    }
    let solid = has_solid_resources(dev, &header)?;
    Ok(WimInfo { header, xml, solid })
}

/// Decode UTF-16LE (with or without a byte-order mark); unpaired surrogates become U+FFFD.
pub fn decode_utf16le(bytes: &[u8]) -> Result<String, WimError> {
    if bytes.len() % 2 != 0 {
        return Err(WimError::BadXml("odd number of bytes in UTF-16 text"));
    }
    let units = crate::bytes::utf16le_units(bytes);
    let mut s: String =
        char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
    if s.starts_with('\u{feff}') {
        s.remove(0);
    }
    Ok(s)
}

/// Parse the XML resource bytes (UTF-16LE). Elements and attributes we do not know are
/// skipped; images are returned sorted by index. Duplicate or missing indexes are errors.
pub fn parse_xml(bytes: &[u8]) -> Result<WimXml, WimError> {
    if bytes.len() as u64 > MAX_XML_BYTES {
        return Err(WimError::XmlTooLarge(bytes.len() as u64));
    }
    let text = decode_utf16le(bytes)?;
    parse_xml_str(&text)
}

/// [`parse_xml`] on decoded text.
pub fn parse_xml_str(text: &str) -> Result<WimXml, WimError> {
    let mut out = WimXml::default();
    let mut stack: Vec<&str> = Vec::new();
    let mut current: Option<ImageInfo> = None;
    let mut saw_root = false;
    let mut scanner = Scanner { s: text, pos: 0 };
    while let Some(tok) = scanner.next()? {
        match tok {
            Token::Start { name, attrs, empty } => {
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(WimError::BadXml("nested too deeply"));
                }
                if stack.is_empty() {
                    if saw_root || name != "WIM" {
                        return Err(WimError::BadXml("the root element is not <WIM>"));
                    }
                    saw_root = true;
                }
                if stack.len() == 1 && name == "IMAGE" {
                    if out.images.len() >= MAX_IMAGES {
                        return Err(WimError::TooManyImages(out.images.len() as u32 + 1));
                    }
                    let index = attr(attrs, "INDEX")?
                        .and_then(|v| parse_number(&v))
                        .and_then(|v| u32::try_from(v).ok())
                        .filter(|&v| v != 0)
                        .ok_or(WimError::BadXml("<IMAGE> without a valid INDEX"))?;
                    current = Some(ImageInfo { index, ..ImageInfo::default() });
                    if empty {
                        out.images.extend(current.take());
                    }
                }
                if !empty {
                    stack.push(name);
                }
            }
            Token::End { name } => {
                match stack.pop() {
                    Some(open) if open == name => {}
                    _ => return Err(WimError::BadXml("mismatched end tag")),
                }
                if stack.len() == 1 && name == "IMAGE" {
                    out.images.extend(current.take());
                }
            }
            Token::Text(raw) => {
                if stack.is_empty() {
                    if raw.trim().is_empty() {
                        continue;
                    }
                    return Err(WimError::BadXml("text outside the root element"));
                }
                let value = unescape(raw)?;
                let value = value.trim();
                if value.is_empty() {
                    continue;
                }
                if stack.len() == 2 && stack[1] == "TOTALBYTES" {
                    out.total_bytes = parse_number(value);
                } else if let (Some(img), true) =
                    (current.as_mut(), stack.len() >= 3 && stack[1] == "IMAGE")
                {
                    set_image_field(img, &stack[2..], value);
                }
            }
        }
    }
    if !stack.is_empty() || !saw_root {
        return Err(WimError::BadXml("unexpected end of the document"));
    }
    out.images.sort_by_key(|i| i.index);
    if out.images.windows(2).any(|w| w[0].index == w[1].index) {
        return Err(WimError::BadXml("two images with the same INDEX"));
    }
    Ok(out)
}

fn set_image_field(img: &mut ImageInfo, path: &[&str], value: &str) {
    let text = || Some(value.chars().take(MAX_FIELD_CHARS).collect::<String>());
    fn version(img: &mut ImageInfo) -> &mut WindowsVersion {
        img.version.get_or_insert_with(WindowsVersion::default)
    }
    match path {
        ["NAME"] => img.name = text(),
        ["DESCRIPTION"] => img.description = text(),
        ["DISPLAYNAME"] => img.display_name = text(),
        ["DISPLAYDESCRIPTION"] => img.display_description = text(),
        ["FLAGS"] => img.flags = text(),
        ["TOTALBYTES"] => img.total_bytes = parse_number(value),
        ["DIRCOUNT"] => img.dir_count = parse_number(value),
        ["FILECOUNT"] => img.file_count = parse_number(value),
        ["WINDOWS", "ARCH"] => img.arch = parse_number(value).and_then(|v| u32::try_from(v).ok()),
        ["WINDOWS", "EDITIONID"] => img.edition_id = text(),
        ["WINDOWS", "INSTALLATIONTYPE"] => img.installation_type = text(),
        ["WINDOWS", "PRODUCTNAME"] => img.product_name = text(),
        ["WINDOWS", "LANGUAGES", "DEFAULT"] => img.default_language = text(),
        ["WINDOWS", "VERSION", "MAJOR"] => version(img).major = parse_number(value),
        ["WINDOWS", "VERSION", "MINOR"] => version(img).minor = parse_number(value),
        ["WINDOWS", "VERSION", "BUILD"] => version(img).build = parse_number(value),
        ["WINDOWS", "VERSION", "SPBUILD"] => version(img).spbuild = parse_number(value),
        _ => {}
    }
}

/// Decimal, or hexadecimal with `0x` (the XML uses both).
fn parse_number(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.len() <= 16 => u64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        None => None,
    }
}

/// The value of attribute `want` in a start tag's attribute text.
fn attr(attrs: &str, want: &str) -> Result<Option<String>, WimError> {
    let mut rest = attrs;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest == "/" {
            return Ok(None);
        }
        let eq = rest.find('=').ok_or(WimError::BadXml("attribute without a value"))?;
        let name = rest[..eq].trim();
        rest = rest[eq + 1..].trim_start();
        let quote = rest
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or(WimError::BadXml("unquoted attribute"))?;
        rest = &rest[1..];
        let close = rest.find(quote).ok_or(WimError::BadXml("unterminated attribute"))?;
        if name == want {
            return unescape(&rest[..close]).map(Some);
        }
        rest = &rest[close + 1..];
    }
}

/// Replace the five predefined entities and character references.
fn unescape(s: &str) -> Result<String, WimError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp + 1..];
        let semi =
            rest.find(';').filter(|&i| i <= 10).ok_or(WimError::BadXml("unterminated entity"))?;
        let ent = &rest[..semi];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code =
                    if let Some(h) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = ent.strip_prefix('#') {
                        d.parse::<u32>().ok()
                    } else {
                        None
                    };
                code.and_then(char::from_u32).ok_or(WimError::BadXml("unknown entity"))?
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

enum Token<'a> {
    Start { name: &'a str, attrs: &'a str, empty: bool },
    End { name: &'a str },
    Text(&'a str),
}

/// A forward-only tokenizer: every call consumes at least one byte, so the scan is linear.
struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn next(&mut self) -> Result<Option<Token<'a>>, WimError> {
        loop {
            let rest = &self.s[self.pos..];
            if rest.is_empty() {
                return Ok(None);
            }
            if !rest.starts_with('<') {
                let end = rest.find('<').unwrap_or(rest.len());
                self.pos += end;
                return Ok(Some(Token::Text(&rest[..end])));
            }
            // Declarations, comments, processing instructions, CDATA and DOCTYPE: skipped
            // (wimlib never writes them; a DOCTYPE's internal subset is not followed).
            let markup = [("<?", "?>"), ("<!--", "-->"), ("<![CDATA[", "]]>"), ("<!", ">")]
                .into_iter()
                .find_map(|(open, close)| rest.strip_prefix(open).map(|body| (open, body, close)));
            if let Some((open, body, close)) = markup {
                let end = body.find(close).ok_or(WimError::BadXml("unterminated markup"))?;
                self.pos += open.len() + end + close.len();
                continue;
            }
            let end = rest.find('>').ok_or(WimError::BadXml("unterminated tag"))?;
            let inner = &rest[1..end];
            self.pos += end + 1;
            if let Some(name) = inner.strip_prefix('/') {
                return Ok(Some(Token::End { name: name.trim_end() }));
            }
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(i) => (i, true),
                None => (inner, false),
            };
            let name_end = inner.find(|c: char| c.is_whitespace()).unwrap_or(inner.len());
            let name = &inner[..name_end];
            if name.is_empty() {
                return Err(WimError::BadXml("empty tag name"));
            }
            return Ok(Some(Token::Start { name, attrs: &inner[name_end..], empty }));
        }
    }
}

/// The names Windows setup media use for the install image, in the order setup tries them
/// (under `sources/`). A `.swm` is the first part of a split set.
pub const INSTALL_IMAGE_NAMES: [&str; 3] = ["install.wim", "install.esd", "install.swm"];

/// File name of part `part` (1-based) of a split set whose first part is `first`:
/// `install.swm` -> `install2.swm`, as wimsplit and Windows name them.
pub fn split_part_name(first: &str, part: u16) -> String {
    if part <= 1 {
        return String::from(first);
    }
    let (stem, ext) = match first.rfind('.') {
        Some(dot) => (&first[..dot], &first[dot..]),
        None => (first, ""),
    };
    alloc::format!("{stem}{part}{ext}")
}

/// One file of an ISO 9660 image as a device of its own (offset 0 = the file's first byte),
/// so a WIM can be read straight out of an ISO.
pub struct IsoFile<D> {
    dev: D,
    entry: IsoEntry,
}

impl<D: ReadAt> IsoFile<D> {
    pub fn new(dev: D, entry: IsoEntry) -> Result<IsoFile<D>, IsoError> {
        if entry.is_dir() {
            return Err(IsoError::IsADirectory);
        }
        Ok(IsoFile { dev, entry })
    }
    pub fn entry(&self) -> &IsoEntry {
        &self.entry
    }
    pub fn into_inner(self) -> D {
        self.dev
    }
}

impl<D: ReadAt> ReadAt for IsoFile<D> {
    fn size(&self) -> u64 {
        self.entry.size
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.entry.size)?;
        let n =
            iso9660::read_file(&mut self.dev, &self.entry, offset, buf).map_err(|e| match e {
                IsoError::Io(io) => io,
                other => IoError::Device(alloc::format!("{other}")),
            })?;
        if n != buf.len() {
            // Sections shorter than the recorded size: report it as the end of the file.
            return Err(IoError::OutOfBounds {
                offset,
                len: buf.len() as u64,
                size: offset + n as u64,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use alloc::string::ToString;
    use std::format;

    fn utf16(s: &str) -> Vec<u8> {
        let mut v = vec![0xff, 0xfe];
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    }

    const XML: &str = "<WIM><TOTALBYTES>12345</TOTALBYTES>\
        <IMAGE INDEX=\"2\"><NAME>Windows 11 Pro</NAME><DESCRIPTION>Pro &amp; more</DESCRIPTION>\
        <DISPLAYNAME>Windows 11 Pro</DISPLAYNAME><TOTALBYTES>5000</TOTALBYTES><DIRCOUNT>10</DIRCOUNT>\
        <FILECOUNT>20</FILECOUNT><WINDOWS><ARCH>9</ARCH><EDITIONID>Professional</EDITIONID>\
        <VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>22621</BUILD><SPBUILD>525</SPBUILD></VERSION>\
        <LANGUAGES><LANGUAGE>en-US</LANGUAGE><DEFAULT>en-US</DEFAULT></LANGUAGES></WINDOWS></IMAGE>\
        <IMAGE INDEX='1'><NAME>Windows 11 Home</NAME><FLAGS>Core</FLAGS><WINDOWS><ARCH>12</ARCH></WINDOWS>\
        <CREATIONTIME><HIGHPART>0x01D9</HIGHPART></CREATIONTIME></IMAGE></WIM>";

    /// A minimal header + XML file, as wimlib lays it out (XML at the end).
    fn wim(image_count: u32, xml: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; HEADER_SIZE];
        v[..8].copy_from_slice(MAGIC);
        v[8..12].copy_from_slice(&208u32.to_le_bytes());
        v[12..16].copy_from_slice(&VERSION_DEFAULT.to_le_bytes());
        v[16..20].copy_from_slice(&(flags::COMPRESSION | flags::COMPRESS_LZX).to_le_bytes());
        v[20..24].copy_from_slice(&32768u32.to_le_bytes());
        v[40..42].copy_from_slice(&1u16.to_le_bytes());
        v[42..44].copy_from_slice(&1u16.to_le_bytes());
        v[44..48].copy_from_slice(&image_count.to_le_bytes());
        let off = v.len() as u64;
        v[72..80].copy_from_slice(
            &((xml.len() as u64) | (u64::from(reshdr_flags::METADATA) << 56)).to_le_bytes(),
        );
        v[80..88].copy_from_slice(&off.to_le_bytes());
        v[88..96].copy_from_slice(&(xml.len() as u64).to_le_bytes());
        v.extend_from_slice(xml);
        v
    }

    #[test]
    fn reads_header_and_images() {
        let mut dev = MemDevice::from_vec(wim(2, &utf16(XML)));
        let info = read_info(&mut dev).unwrap();
        assert_eq!(info.header.compression, Compression::Lzx);
        assert_eq!((info.header.part_number, info.header.total_parts), (1, 1));
        assert!(!info.header.solid_version() && !info.header.is_split() && !info.solid);
        assert_eq!(info.xml.total_bytes, Some(12345));
        let [home, pro] = &info.xml.images[..] else { panic!() };
        assert_eq!(
            (home.index, home.name.as_deref(), home.edition()),
            (1, Some("Windows 11 Home"), Some("Core"))
        );
        assert_eq!(home.arch_name(), Some("arm64"));
        assert_eq!(home.version, None);
        assert_eq!(pro.description.as_deref(), Some("Pro & more"));
        assert_eq!(pro.edition(), Some("Professional"));
        assert_eq!(pro.arch_name(), Some("x64"));
        assert_eq!(pro.version.unwrap().to_string(), "10.0.22621.525");
        assert_eq!(
            (pro.total_bytes, pro.dir_count, pro.file_count),
            (Some(5000), Some(10), Some(20))
        );
        assert_eq!(pro.default_language.as_deref(), Some("en-US"));
    }

    #[test]
    fn hostile_headers_are_errors() {
        let good = wim(2, &utf16(XML));
        let check = |patch: &dyn Fn(&mut Vec<u8>), want: &dyn Fn(&WimError) -> bool| {
            let mut v = good.clone();
            patch(&mut v);
            let e = read_info(&mut MemDevice::from_vec(v)).unwrap_err();
            assert!(want(&e), "{e:?}");
            let _ = format!("{e}");
        };
        check(&|v| v.truncate(100), &|e| *e == WimError::NotWim);
        check(&|v| v[0] = b'X', &|e| *e == WimError::NotWim);
        check(&|v| v[8] = 200, &|e| matches!(e, WimError::BadHeaderSize(200)));
        check(&|v| v[13] = 0x0b, &|e| matches!(e, WimError::UnknownVersion(_)));
        check(&|v| v[18] |= 0x02, &|e| matches!(e, WimError::UnknownCompression(_)));
        check(&|v| v[18] = 0, &|e| matches!(e, WimError::UnknownCompression(_)));
        check(&|v| v[20..24].copy_from_slice(&1000u32.to_le_bytes()), &|e| {
            matches!(e, WimError::BadChunkSize(1000))
        });
        check(&|v| v[40] = 3, &|e| matches!(e, WimError::BadPart { part: 3, total: 1 }));
        check(&|v| v[42] = 0, &|e| matches!(e, WimError::BadPart { .. }));
        check(&|v| v[44..48].copy_from_slice(&u32::MAX.to_le_bytes()), &|e| {
            matches!(e, WimError::TooManyImages(_))
        });
        check(&|v| v[44] = 3, &|e| matches!(e, WimError::ImageMismatch { header: 3, xml: 2 }));
        check(&|v| v.truncate(v.len() - 2), &|e| matches!(e, WimError::Truncated { .. }));
        check(&|v| v[80..88].copy_from_slice(&u64::MAX.to_le_bytes()), &|e| {
            matches!(e, WimError::Truncated { .. })
        });
        check(&|v| v[72..80].fill(0), &|e| *e == WimError::NoXml);
        check(&|v| v[79] |= reshdr_flags::COMPRESSED, &|e| *e == WimError::XmlCompressed);
        check(&|v| v[72..79].copy_from_slice(&[0xff; 7]), &|e| {
            matches!(e, WimError::XmlTooLarge(_))
        });
    }

    #[test]
    fn uncompressed_solid_split_and_pipable_headers() {
        let mut v = wim(2, &utf16(XML));
        v[16..24].fill(0);
        v[12..16].copy_from_slice(&VERSION_SOLID.to_le_bytes());
        v[40] = 2;
        v[42] = 3;
        let h = read_header(&mut MemDevice::from_vec(v.clone())).unwrap();
        assert_eq!(
            (h.compression, h.solid_version(), h.is_split(), h.chunk_size),
            (Compression::None, true, true, 0)
        );
        v[..8].copy_from_slice(PIPABLE_MAGIC);
        assert!(read_header(&mut MemDevice::from_vec(v)).unwrap().pipable);
    }

    #[test]
    fn hostile_xml_is_an_error_not_a_panic() {
        for bad in [
            "",
            "<IMAGE INDEX=\"1\"></IMAGE>",
            "<WIM><IMAGE></IMAGE></WIM>",
            "<WIM><IMAGE INDEX=\"0\"></IMAGE></WIM>",
            "<WIM><IMAGE INDEX=\"x\"></IMAGE></WIM>",
            "<WIM><IMAGE INDEX=1></IMAGE></WIM>",
            "<WIM><IMAGE INDEX=\"1\"></WIM>",
            "<WIM><IMAGE INDEX=\"1\"/><IMAGE INDEX=\"1\"/></WIM>",
            "<WIM><NAME>a &bogus; b</NAME></WIM>",
            "<WIM><NAME>a &#xD800; b</NAME></WIM>",
            "<WIM><NAME>&amp</NAME></WIM>",
            "<WIM><!-- never closed",
            "<WIM></WIM><WIM></WIM>",
            "<WIM></WIM>trailing",
            "<WIM><",
            "<WIM><>",
        ] {
            assert!(parse_xml_str(bad).is_err(), "{bad:?}");
        }
        let deep = "<WIM>".to_string() + &"<A>".repeat(MAX_XML_DEPTH + 1);
        assert_eq!(parse_xml_str(&deep), Err(WimError::BadXml("nested too deeply")));
        let many: String =
            (1..=MAX_IMAGES + 1).map(|i| format!("<IMAGE INDEX=\"{i}\"/>")).collect();
        assert!(matches!(
            parse_xml_str(&format!("<WIM>{many}</WIM>")),
            Err(WimError::TooManyImages(_))
        ));
        assert!(parse_xml(&[0xff, 0xfe, b'<']).is_err());
        // Unpaired surrogates decode to U+FFFD instead of failing.
        let mut lone = utf16("<WIM><NAME>");
        lone.extend_from_slice(&0xd800u16.to_le_bytes());
        lone.extend_from_slice(&utf16("</NAME></WIM>")[2..]);
        assert!(parse_xml(&lone).is_ok());
    }

    #[test]
    fn xml_tolerates_declarations_comments_and_unknown_fields() {
        let x = "<?xml version=\"1.0\"?><!-- c --><WIM>\n <IMAGE INDEX=\"0x1\" OTHER='a&gt;b'>\
                 <NAME><![CDATA[skipped]]>Win &#x41;&#66;</NAME><UNKNOWN><NAME>no</NAME></UNKNOWN>\
                 <WINDOWS><ARCH>77</ARCH><VERSION><BUILD>notanumber</BUILD></VERSION></WINDOWS>\
                 <TOTALBYTES>99999999999999999999999</TOTALBYTES></IMAGE></WIM>";
        let xml = parse_xml_str(x).unwrap();
        let im = &xml.images[0];
        assert_eq!((im.index, im.name.as_deref()), (1, Some("Win AB")));
        assert_eq!((im.arch, im.arch_name()), (Some(77), None));
        assert_eq!(im.version.unwrap().build, None);
        assert_eq!(im.total_bytes, None);
        let long =
            format!("<WIM><IMAGE INDEX=\"1\"><NAME>{}</NAME></IMAGE></WIM>", "x".repeat(5000));
        assert_eq!(
            parse_xml_str(&long).unwrap().images[0].name.as_ref().unwrap().len(),
            MAX_FIELD_CHARS
        );
    }

    #[test]
    fn solid_resources_are_found_in_the_lookup_table() {
        let xml = utf16(XML);
        let mut v = wim(2, &xml);
        v[12..16].copy_from_slice(&VERSION_SOLID.to_le_bytes());
        // Three entries after the XML; the last one is solid.
        let table_at = v.len() as u64;
        let mut table = vec![0u8; 3 * BLOB_TABLE_ENTRY_SIZE];
        table[2 * BLOB_TABLE_ENTRY_SIZE + 7] = reshdr_flags::SOLID | reshdr_flags::COMPRESSED;
        v.extend_from_slice(&table);
        v[48..56].copy_from_slice(
            &((table.len() as u64) | (u64::from(reshdr_flags::METADATA) << 56)).to_le_bytes(),
        );
        v[56..64].copy_from_slice(&table_at.to_le_bytes());
        assert!(read_info(&mut MemDevice::from_vec(v.clone())).unwrap().solid);
        let mut plain = v.clone();
        plain[table_at as usize + 2 * BLOB_TABLE_ENTRY_SIZE + 7] = reshdr_flags::COMPRESSED;
        assert!(!read_info(&mut MemDevice::from_vec(plain)).unwrap().solid);
        let mut cut = v.clone();
        cut.truncate(cut.len() - 1);
        assert!(matches!(
            read_info(&mut MemDevice::from_vec(cut)),
            Err(WimError::Truncated { what: "lookup table", .. })
        ));
        let mut packed = v.clone();
        packed[55] |= reshdr_flags::COMPRESSED;
        assert_eq!(read_info(&mut MemDevice::from_vec(packed)), Err(WimError::BlobTableCompressed));
        // The default version never has solid resources: the table is not even read.
        v[12..16].copy_from_slice(&VERSION_DEFAULT.to_le_bytes());
        v[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(!read_info(&mut MemDevice::from_vec(v)).unwrap().solid);
    }

    #[test]
    fn split_names() {
        assert_eq!(split_part_name("install.swm", 1), "install.swm");
        assert_eq!(split_part_name("install.swm", 12), "install12.swm");
        assert_eq!(split_part_name("noext", 2), "noext2");
    }

    #[test]
    fn iso_file_reads_across_sections() {
        use crate::iso9660::{DirRecord, RecordKind, Section};
        let mut dev = MemDevice::from_vec((0..=255u8).cycle().take(8192).collect());
        let record = DirRecord {
            record_offset: 0,
            record_len: 34,
            extent_lba: 1,
            ext_attr_len: 0,
            data_len: 10,
            flags: 0,
            kind: RecordKind::Named,
            name: "install.wim".into(),
            iso_name: "INSTALL.WIM".into(),
            rr_name: false,
            relocated: false,
            child_link: None,
        };
        let entry = IsoEntry {
            record,
            size: 20,
            sections: vec![
                Section { record_offset: 0, offset: 2048, len: 10 },
                Section { record_offset: 0, offset: 6144, len: 10 },
            ],
        };
        let mut f = IsoFile::new(&mut dev, entry).unwrap();
        assert_eq!(f.size(), 20);
        let mut buf = [0u8; 4];
        f.read_at(8, &mut buf).unwrap();
        assert_eq!(buf, [8, 9, 0, 1]); // 2048 % 256 == 0 and 6144 % 256 == 0
        assert!(f.read_at(17, &mut buf).is_err());
        assert!(f.read_at(u64::MAX, &mut buf).is_err());
    }
}
