//! A read-only NTFS reader: enough to find a file by path and read its unnamed `$DATA`.
//!
//! Used by the Windows To Go BIOS loader (`polyboot-wtg-bios`) to read `\bootmgr` from the
//! NTFS partition, and by the host to check what it wrote. It reads the boot sector (BPB), MFT
//! records (with their update-sequence fixups checked), resident and non-resident attributes
//! (runlists, sparse runs), and directories (`$INDEX_ROOT` + `$INDEX_ALLOCATION` INDX records,
//! also fixed up). Names compare case-insensitively for ASCII and exactly otherwise (no
//! `$UpCase`). Not supported, with a clear error: `$ATTRIBUTE_LIST` (an attribute that lives in
//! another MFT record), compressed and encrypted data.
//!
//! Untrusted input: every field is checked before use; runlists are bounded by
//! [`MAX_RUNS`], directory walks by [`MAX_INDEX_ENTRIES`] entries and [`MAX_INDEX_BLOCKS`]
//! INDX records (each visited once, so a loop in the B-tree is an error, not a hang), paths by
//! [`MAX_DEPTH`] components, and whole-file reads by the caller's limit.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::block::{IoError, ReadAt};
use crate::bytes::{le16, le32, le64, OutOfBounds};

/// Most runs accepted in one runlist.
pub const MAX_RUNS: usize = 65536;
/// Most index entries read from one directory.
pub const MAX_INDEX_ENTRIES: usize = 200_000;
/// Most INDX records visited in one directory walk.
pub const MAX_INDEX_BLOCKS: usize = 65536;
/// Highest virtual cluster number accepted (2^40 clusters of at most 2 MiB: byte offsets of
/// attribute data never overflow).
pub const MAX_VCN: u64 = 1 << 40;
/// Most path components followed by [`Ntfs::lookup`].
pub const MAX_DEPTH: usize = 32;

/// MFT record number of `$MFT` itself.
pub const MFT_RECORD: u64 = 0;
/// MFT record number of the root directory.
pub const ROOT_RECORD: u64 = 5;

const AT_ATTRIBUTE_LIST: u32 = 0x20;
const AT_FILE_NAME: u32 = 0x30;
const AT_DATA: u32 = 0x80;
const AT_INDEX_ROOT: u32 = 0x90;
const AT_INDEX_ALLOCATION: u32 = 0xA0;
const AT_END: u32 = 0xFFFF_FFFF;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NtfsError {
    Io(IoError),
    /// The boot sector does not describe a usable NTFS volume; the text says which field.
    NotNtfs(&'static str),
    /// An MFT record, INDX record, attribute or runlist is malformed; the text says how.
    Corrupt(&'static str),
    /// A well-formed structure this reader does not handle (`$ATTRIBUTE_LIST`, compression,
    /// encryption).
    Unsupported(&'static str),
    NotFound,
    NotADirectory,
    IsADirectory,
    TooLarge {
        size: u64,
        limit: u64,
    },
}

impl fmt::Display for NtfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NtfsError::Io(e) => write!(f, "{e}"),
            NtfsError::NotNtfs(why) => write!(f, "not an NTFS file system: {why}"),
            NtfsError::Corrupt(why) => write!(f, "corrupt NTFS structure: {why}"),
            NtfsError::Unsupported(what) => write!(f, "unsupported NTFS feature: {what}"),
            NtfsError::NotFound => f.write_str("no such file or directory"),
            NtfsError::NotADirectory => f.write_str("not a directory"),
            NtfsError::IsADirectory => f.write_str("is a directory"),
            NtfsError::TooLarge { size, limit } => {
                write!(f, "file of {size} bytes is larger than the limit of {limit}")
            }
        }
    }
}

crate::block::error_with_io!(NtfsError);

impl From<OutOfBounds> for NtfsError {
    fn from(_: OutOfBounds) -> Self {
        NtfsError::Corrupt("field beyond its structure")
    }
}

/// The boot sector fields this reader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootSector {
    pub bytes_per_sector: u32,
    pub cluster_size: u32,
    pub total_sectors: u64,
    pub mft_lcn: u64,
    pub mft_mirror_lcn: u64,
    pub mft_record_size: u32,
    pub index_record_size: u32,
    pub serial: u64,
}

/// Decode "clusters per record" (a positive cluster count, or a negative n for 2^-n bytes).
fn record_size(raw: u8, cluster_size: u32) -> Result<u32, ()> {
    let v = raw as i8;
    let size = if v > 0 {
        u64::from(v as u8) * u64::from(cluster_size)
    } else if (-31..=-1).contains(&v) {
        1u64 << (-(v as i32))
    } else {
        return Err(());
    };
    if !size.is_power_of_two() || !(256..=65536).contains(&size) {
        return Err(());
    }
    Ok(size as u32)
}

impl BootSector {
    /// Parse an NTFS boot sector (the first 512 bytes of the volume).
    pub fn parse(bs: &[u8]) -> Result<BootSector, NtfsError> {
        if bs.len() < 512 {
            return Err(NtfsError::NotNtfs("boot sector shorter than 512 bytes"));
        }
        if &bs[3..11] != b"NTFS    " {
            return Err(NtfsError::NotNtfs("no \"NTFS    \" OEM identifier"));
        }
        let bps = u32::from(le16(bs, 0x0B)?);
        if !bps.is_power_of_two() || !(256..=4096).contains(&bps) {
            return Err(NtfsError::NotNtfs("bytes per sector"));
        }
        let spc_raw = bs[0x0D];
        let spc: u64 = if spc_raw <= 0x80 {
            u64::from(spc_raw)
        } else {
            // Large clusters: 2^(256 - value) sectors.
            let shift = 256 - u32::from(spc_raw);
            if shift > 20 {
                return Err(NtfsError::NotNtfs("sectors per cluster"));
            }
            1 << shift
        };
        if spc == 0 || !spc.is_power_of_two() {
            return Err(NtfsError::NotNtfs("sectors per cluster"));
        }
        let cluster_size = spc * u64::from(bps);
        if cluster_size > 2 << 20 {
            return Err(NtfsError::NotNtfs("cluster size above 2 MiB"));
        }
        let cluster_size = cluster_size as u32;
        let total_sectors = le64(bs, 0x28)?;
        let mft_lcn = le64(bs, 0x30)?;
        let mft_mirror_lcn = le64(bs, 0x38)?;
        let mft_record_size = record_size(bs[0x40], cluster_size)
            .map_err(|_| NtfsError::NotNtfs("MFT record size"))?;
        let index_record_size = record_size(bs[0x44], cluster_size)
            .map_err(|_| NtfsError::NotNtfs("index record size"))?;
        if total_sectors == 0 {
            return Err(NtfsError::NotNtfs("total sectors is zero"));
        }
        let clusters = total_sectors / spc;
        if mft_lcn >= clusters.max(1) {
            return Err(NtfsError::NotNtfs("MFT outside the volume"));
        }
        Ok(BootSector {
            bytes_per_sector: bps,
            cluster_size,
            total_sectors,
            mft_lcn,
            mft_mirror_lcn,
            mft_record_size,
            index_record_size,
            serial: le64(bs, 0x48)?,
        })
    }
}

/// Apply the update-sequence fixups of a multi-sector record in place (`FILE` / `INDX`):
/// each 512-byte stride must end with the update sequence number, which is replaced by the
/// saved bytes. A mismatch means a torn write or corruption.
pub fn apply_fixups(rec: &mut [u8], magic: &[u8; 4]) -> Result<(), NtfsError> {
    if rec.len() < 512 || rec.len() % 512 != 0 {
        return Err(NtfsError::Corrupt("record size is not a multiple of 512"));
    }
    if &rec[0..4] != magic {
        return Err(NtfsError::Corrupt(if magic == b"FILE" {
            "MFT record without FILE magic"
        } else {
            "index record without INDX magic"
        }));
    }
    let usa_ofs = usize::from(le16(rec, 4)?);
    let usa_count = usize::from(le16(rec, 6)?);
    let strides = rec.len() / 512;
    if usa_count != strides + 1
        || usa_ofs % 2 != 0
        || usa_ofs < 8
        || usa_ofs + 2 * usa_count > 512 - 2
    {
        return Err(NtfsError::Corrupt("update sequence array"));
    }
    let usn = [rec[usa_ofs], rec[usa_ofs + 1]];
    for i in 0..strides {
        let end = (i + 1) * 512 - 2;
        if rec[end..end + 2] != usn {
            return Err(NtfsError::Corrupt("update sequence mismatch (torn or corrupt record)"));
        }
        let saved = usa_ofs + 2 * (i + 1);
        rec[end] = rec[saved];
        rec[end + 1] = rec[saved + 1];
    }
    Ok(())
}

/// One run of a non-resident attribute: `len` clusters starting at virtual cluster `vcn`,
/// stored at logical cluster `lcn` (`None`: sparse, reads as zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub vcn: u64,
    pub len: u64,
    pub lcn: Option<u64>,
}

/// Decode a runlist (mapping pairs) starting at VCN `first_vcn`. Every run must lie inside a
/// volume of `total_clusters` clusters.
pub fn decode_runlist(
    b: &[u8],
    first_vcn: u64,
    total_clusters: u64,
) -> Result<Vec<Run>, NtfsError> {
    let mut runs = Vec::new();
    let mut pos = 0usize;
    if first_vcn > MAX_VCN {
        return Err(NtfsError::Corrupt("runs beyond the highest VCN"));
    }
    let mut vcn = first_vcn;
    let mut lcn: i64 = 0;
    loop {
        let Some(&head) = b.get(pos) else {
            return Err(NtfsError::Corrupt("runlist without terminator"));
        };
        if head == 0 {
            break;
        }
        if runs.len() >= MAX_RUNS {
            return Err(NtfsError::Corrupt("too many runs"));
        }
        let len_size = usize::from(head & 0x0F);
        let off_size = usize::from(head >> 4);
        if len_size == 0 || len_size > 8 || off_size > 8 {
            return Err(NtfsError::Corrupt("runlist field size"));
        }
        pos += 1;
        let field = b
            .get(pos..pos + len_size + off_size)
            .ok_or(NtfsError::Corrupt("runlist beyond its attribute"))?;
        let mut len: u64 = 0;
        for (i, &x) in field[..len_size].iter().enumerate() {
            len |= u64::from(x) << (8 * i);
        }
        if len == 0 || len >> 62 != 0 {
            return Err(NtfsError::Corrupt("run length"));
        }
        let run_lcn = if off_size == 0 {
            None
        } else {
            let mut d: u64 = 0;
            for (i, &x) in field[len_size..].iter().enumerate() {
                d |= u64::from(x) << (8 * i);
            }
            // Sign-extend.
            let shift = 64 - 8 * off_size as u32;
            let d = if shift == 0 { d as i64 } else { ((d << shift) as i64) >> shift };
            lcn = lcn.checked_add(d).ok_or(NtfsError::Corrupt("run offset"))?;
            if lcn < 0 {
                return Err(NtfsError::Corrupt("run before the start of the volume"));
            }
            let start = lcn as u64;
            match start.checked_add(len) {
                Some(end) if end <= total_clusters => {}
                _ => return Err(NtfsError::Corrupt("run beyond the end of the volume")),
            }
            Some(start)
        };
        runs.push(Run { vcn, len, lcn: run_lcn });
        vcn = vcn
            .checked_add(len)
            .filter(|&v| v <= MAX_VCN)
            .ok_or(NtfsError::Corrupt("runs beyond the highest VCN"))?;
        pos += len_size + off_size;
    }
    Ok(runs)
}

/// An attribute's value: resident bytes, or runs on the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    Resident(Vec<u8>),
    NonResident {
        runs: Vec<Run>,
        /// Bytes in the value.
        size: u64,
        /// Bytes written so far; reads past this (and below `size`) give zeros.
        initialized: u64,
    },
    /// One extent of a non-resident attribute whose other extents live in other MFT records
    /// (listed by `$ATTRIBUTE_LIST`, which this reader does not follow).
    Extent,
}

impl AttrValue {
    pub fn size(&self) -> u64 {
        match self {
            AttrValue::Resident(v) => v.len() as u64,
            AttrValue::NonResident { size, .. } => *size,
            AttrValue::Extent => 0,
        }
    }
}

/// One attribute of an MFT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub ty: u32,
    /// UTF-16 name (empty for the unnamed attribute).
    pub name: Vec<u16>,
    pub flags: u16,
    pub value: AttrValue,
}

/// A parsed (fixed-up) MFT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MftRecord {
    pub number: u64,
    pub sequence: u16,
    pub is_dir: bool,
    pub attributes: Vec<Attribute>,
    /// The record holds an `$ATTRIBUTE_LIST`: some attributes may live in other records.
    pub has_attribute_list: bool,
}

impl MftRecord {
    fn find(&self, ty: u32, name: &[u16]) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.ty == ty && a.name == name)
    }
}

/// Parse a fixed-up MFT record. `total_clusters` bounds runlists; `cluster_size` checks that a
/// non-resident attribute's runs cover its allocation.
pub fn parse_record(
    number: u64,
    rec: &[u8],
    total_clusters: u64,
    cluster_size: u32,
) -> Result<MftRecord, NtfsError> {
    let flags = le16(rec, 0x16)?;
    if flags & 1 == 0 {
        return Err(NtfsError::Corrupt("MFT record not in use"));
    }
    let sequence = le16(rec, 0x10)?;
    let used = le32(rec, 0x18)? as usize;
    if used > rec.len() {
        return Err(NtfsError::Corrupt("MFT record bytes in use beyond its size"));
    }
    let rec = &rec[..used];
    let mut pos = usize::from(le16(rec, 0x14)?);
    let mut attributes = Vec::new();
    let mut has_attribute_list = false;
    loop {
        let ty = le32(rec, pos)?;
        if ty == AT_END {
            break;
        }
        let len = le32(rec, pos + 4)? as usize;
        if len < 24 || len % 8 != 0 || pos + len > rec.len() {
            return Err(NtfsError::Corrupt("attribute length"));
        }
        let a = &rec[pos..pos + len];
        let non_resident = a[8];
        let name_len = usize::from(a[9]);
        let name_ofs = usize::from(le16(a, 0x0A)?);
        let aflags = le16(a, 0x0C)?;
        let name_bytes =
            a.get(name_ofs..name_ofs + 2 * name_len).ok_or(NtfsError::Corrupt("attribute name"))?;
        let name: Vec<u16> = crate::bytes::utf16le_units(name_bytes).collect();
        if ty == AT_ATTRIBUTE_LIST {
            has_attribute_list = true;
        }
        let value = match non_resident {
            0 => {
                let vlen = le32(a, 0x10)? as usize;
                let vofs = usize::from(le16(a, 0x14)?);
                let v = a
                    .get(vofs..vofs.checked_add(vlen).ok_or(NtfsError::Corrupt("resident value"))?);
                AttrValue::Resident(
                    v.ok_or(NtfsError::Corrupt("resident value beyond its attribute"))?.to_vec(),
                )
            }
            1 => {
                let lowest = le64(a, 0x10)?;
                let highest = le64(a, 0x18)?;
                let mp = usize::from(le16(a, 0x20)?);
                let alloc = le64(a, 0x28)?;
                let size = le64(a, 0x30)?;
                let initialized = le64(a, 0x38)?;
                if mp > len {
                    return Err(NtfsError::Corrupt("mapping pairs offset"));
                }
                if size > alloc || initialized > size {
                    return Err(NtfsError::Corrupt("non-resident sizes"));
                }
                // Only the first extent of a multi-record attribute can be used without the
                // attribute list; recognised below when the runs do not cover the allocation.
                let runs = decode_runlist(&a[mp..], lowest, total_clusters)?;
                let end_vcn = runs.last().map_or(lowest, |r| r.vcn + r.len);
                let need = alloc.div_ceil(u64::from(cluster_size));
                if highest.checked_add(1).is_some_and(|h| h < lowest) && !runs.is_empty() {
                    return Err(NtfsError::Corrupt("attribute VCN range"));
                }
                if lowest != 0 || end_vcn < need {
                    if !has_attribute_list {
                        return Err(NtfsError::Corrupt(
                            "runlist does not cover the attribute's allocation",
                        ));
                    }
                    // One extent of an attribute spread over several records.
                    attributes.push(Attribute {
                        ty,
                        name,
                        flags: aflags,
                        value: AttrValue::Extent,
                    });
                    pos += len;
                    continue;
                }
                AttrValue::NonResident { runs, size, initialized }
            }
            _ => return Err(NtfsError::Corrupt("non-resident flag")),
        };
        attributes.push(Attribute { ty, name, flags: aflags, value });
        pos += len;
    }
    Ok(MftRecord { number, sequence, is_dir: flags & 2 != 0, attributes, has_attribute_list })
}

/// One directory entry (from the directory's index; sizes there may lag behind the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtfsEntry {
    pub name: String,
    /// MFT record number (low 48 bits of the file reference).
    pub record: u64,
    /// Sequence number from the file reference.
    pub sequence: u16,
    pub is_dir: bool,
    /// Data size recorded in the index's copy of `$FILE_NAME`.
    pub size_hint: u64,
    /// `$FILE_NAME` namespace: 0 POSIX, 1 Win32, 2 DOS, 3 Win32 & DOS.
    pub namespace: u8,
}

pub struct Ntfs<D> {
    dev: D,
    pub boot: BootSector,
    total_clusters: u64,
    /// `$MFT`'s `$DATA`.
    mft: AttrValue,
}

fn utf16_to_string(u: &[u16]) -> String {
    char::decode_utf16(u.iter().copied())
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Compare a UTF-16 name with a path component: ASCII letters without case, the rest exactly.
fn name_eq(u: &[u16], s: &str) -> bool {
    let mut it = s.encode_utf16();
    for &c in u {
        let Some(d) = it.next() else { return false };
        let fold = |x: u16| if (b'a' as u16..=b'z' as u16).contains(&x) { x - 32 } else { x };
        if fold(c) != fold(d) {
            return false;
        }
    }
    it.next().is_none()
}

impl<D: ReadAt> Ntfs<D> {
    /// Read the boot sector and `$MFT`'s record of the volume that fills `dev`.
    pub fn open(mut dev: D) -> Result<Ntfs<D>, NtfsError> {
        let mut bs = [0u8; 512];
        dev.read_at(0, &mut bs)?;
        let boot = BootSector::parse(&bs)?;
        let spc = u64::from(boot.cluster_size / boot.bytes_per_sector);
        let total_clusters =
            (boot.total_sectors / spc).min(dev.size() / u64::from(boot.cluster_size));
        let mut rec = vec![0u8; boot.mft_record_size as usize];
        let at = boot
            .mft_lcn
            .checked_mul(u64::from(boot.cluster_size))
            .ok_or(NtfsError::NotNtfs("MFT location"))?;
        dev.read_at(at, &mut rec)?;
        apply_fixups(&mut rec, b"FILE")?;
        let r = parse_record(MFT_RECORD, &rec, total_clusters, boot.cluster_size)?;
        let mft = match r.find(AT_DATA, &[]) {
            Some(Attribute { value: v @ AttrValue::NonResident { .. }, .. }) => v.clone(),
            _ if r.has_attribute_list => {
                return Err(NtfsError::Unsupported("$MFT described by an $ATTRIBUTE_LIST"))
            }
            _ => return Err(NtfsError::Corrupt("$MFT has no non-resident $DATA")),
        };
        Ok(Ntfs { dev, boot, total_clusters, mft })
    }

    pub fn into_inner(self) -> D {
        self.dev
    }

    /// Read `buf.len()` bytes at `offset` of an attribute value (zeros for sparse runs and past
    /// the initialized size). Fails if the range reaches past the value's size.
    pub fn read_value(
        &mut self,
        v: &AttrValue,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), NtfsError> {
        let size = v.size();
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= size => {}
            _ => return Err(NtfsError::Corrupt("read beyond the end of an attribute")),
        }
        let (runs, initialized) = match v {
            AttrValue::Resident(bytes) => {
                buf.copy_from_slice(&bytes[offset as usize..offset as usize + buf.len()]);
                return Ok(());
            }
            AttrValue::NonResident { runs, initialized, .. } => (runs, *initialized),
            AttrValue::Extent => {
                return Err(NtfsError::Unsupported(
                    "attribute spread over records by an $ATTRIBUTE_LIST",
                ))
            }
        };
        let cs = u64::from(self.boot.cluster_size);
        let mut done = 0usize;
        // First run that may hold `offset` (runs are in VCN order).
        let mut ri = runs.partition_point(|r| (r.vcn + r.len) * cs <= offset);
        while done < buf.len() {
            let pos = offset + done as u64;
            let out = &mut buf[done..];
            if pos >= initialized {
                out.fill(0);
                return Ok(());
            }
            let r = runs.get(ri).ok_or(NtfsError::Corrupt("attribute data beyond its runlist"))?;
            let run_start = r.vcn * cs;
            let run_end = (r.vcn + r.len) * cs;
            if pos < run_start {
                return Err(NtfsError::Corrupt("hole in runlist"));
            }
            let n = (run_end - pos).min(out.len() as u64).min(initialized - pos) as usize;
            match r.lcn {
                None => out[..n].fill(0),
                Some(lcn) => self.dev.read_at(lcn * cs + (pos - run_start), &mut out[..n])?,
            }
            done += n;
            if pos + n as u64 >= run_end {
                ri += 1;
            }
        }
        Ok(())
    }

    /// Read and parse MFT record `number`.
    pub fn record(&mut self, number: u64) -> Result<MftRecord, NtfsError> {
        let rs = u64::from(self.boot.mft_record_size);
        let mut rec = vec![0u8; rs as usize];
        let at = number.checked_mul(rs).ok_or(NtfsError::NotFound)?;
        if at.checked_add(rs).is_none_or(|e| e > self.mft.size()) {
            return Err(NtfsError::Corrupt("MFT record number beyond $MFT"));
        }
        let mft = core::mem::replace(&mut self.mft, AttrValue::Resident(Vec::new()));
        let r = self.read_value(&mft, at, &mut rec);
        self.mft = mft;
        r?;
        apply_fixups(&mut rec, b"FILE")?;
        parse_record(number, &rec, self.total_clusters, self.boot.cluster_size)
    }

    fn record_checked(&mut self, number: u64, sequence: u16) -> Result<MftRecord, NtfsError> {
        let r = self.record(number)?;
        if sequence != 0 && r.sequence != sequence {
            return Err(NtfsError::Corrupt("stale file reference (sequence number mismatch)"));
        }
        Ok(r)
    }

    /// Every entry of a directory record's index (DOS-only names left out), in index order.
    pub fn read_dir_record(&mut self, dir: &MftRecord) -> Result<Vec<NtfsEntry>, NtfsError> {
        let i30: [u16; 4] = [b'$' as u16, b'I' as u16, b'3' as u16, b'0' as u16];
        let root = match dir.find(AT_INDEX_ROOT, &i30) {
            Some(Attribute { value: AttrValue::Resident(v), .. }) => v.clone(),
            Some(_) => return Err(NtfsError::Corrupt("non-resident $INDEX_ROOT")),
            None if dir.has_attribute_list => {
                return Err(NtfsError::Unsupported("directory index in an $ATTRIBUTE_LIST"))
            }
            None => return Err(NtfsError::NotADirectory),
        };
        if le32(&root, 0)? != AT_FILE_NAME {
            return Err(NtfsError::Corrupt("$I30 does not index file names"));
        }
        let block_size = le32(&root, 8)?;
        let alloc = match dir.find(AT_INDEX_ALLOCATION, &i30) {
            Some(Attribute { value: AttrValue::Extent, .. }) => {
                return Err(NtfsError::Unsupported("directory index in an $ATTRIBUTE_LIST"))
            }
            a => a.map(|a| a.value.clone()),
        };
        let mut out = Vec::new();
        let mut visited = alloc::collections::BTreeSet::new();
        // Index nodes still to read: the root's entries first, then subnodes by VCN.
        let mut pending: Vec<u64> = Vec::new();
        let header =
            root.get(0x10..).ok_or(NtfsError::Corrupt("$INDEX_ROOT shorter than its header"))?;
        self.index_entries(header, &mut out, &mut pending)?;
        while let Some(vcn) = pending.pop() {
            let Some(alloc) = &alloc else {
                return Err(NtfsError::Corrupt("index subnode without $INDEX_ALLOCATION"));
            };
            if !visited.insert(vcn) {
                return Err(NtfsError::Corrupt("loop in directory index"));
            }
            if visited.len() >= MAX_INDEX_BLOCKS {
                return Err(NtfsError::Corrupt("too many index records"));
            }
            if !block_size.is_power_of_two() || !(512..=65536).contains(&block_size) {
                return Err(NtfsError::Corrupt("index record size"));
            }
            // Subnode VCNs count clusters, or 512-byte units when records are smaller than a cluster.
            let unit = if block_size >= self.boot.cluster_size {
                u64::from(self.boot.cluster_size)
            } else {
                512
            };
            let at = vcn.checked_mul(unit).ok_or(NtfsError::Corrupt("index VCN"))?;
            let mut blk = vec![0u8; block_size as usize];
            self.read_value(alloc, at, &mut blk)?;
            apply_fixups(&mut blk, b"INDX")?;
            if le64(&blk, 0x10)? != vcn {
                return Err(NtfsError::Corrupt("index record at the wrong VCN"));
            }
            self.index_entries(&blk[0x18..], &mut out, &mut pending)?;
        }
        Ok(out)
    }

    /// Decode the entries after an index header (`h` starts at the header).
    fn index_entries(
        &mut self,
        h: &[u8],
        out: &mut Vec<NtfsEntry>,
        pending: &mut Vec<u64>,
    ) -> Result<(), NtfsError> {
        let first = le32(h, 0)? as usize;
        let end = le32(h, 4)? as usize;
        if end > h.len() || first > end {
            return Err(NtfsError::Corrupt("index header"));
        }
        let mut pos = first;
        loop {
            if pos + 16 > end {
                return Err(NtfsError::Corrupt("index entries without a last entry"));
            }
            let len = usize::from(le16(h, pos + 8)?);
            let key_len = usize::from(le16(h, pos + 10)?);
            let flags = le16(h, pos + 12)?;
            if len < 16 || len % 8 != 0 || pos + len > end {
                return Err(NtfsError::Corrupt("index entry length"));
            }
            let e = &h[pos..pos + len];
            if flags & 1 != 0 {
                if len < 24 {
                    return Err(NtfsError::Corrupt("index entry length"));
                }
                pending.push(le64(e, len - 8)?);
            }
            if flags & 2 != 0 {
                break;
            }
            if out.len() >= MAX_INDEX_ENTRIES {
                return Err(NtfsError::Corrupt("too many directory entries"));
            }
            let key =
                e.get(16..16 + key_len).ok_or(NtfsError::Corrupt("index key beyond its entry"))?;
            let (name_len, namespace) = match key.get(0x40..0x42) {
                Some(b) => (usize::from(b[0]), b[1]),
                None => return Err(NtfsError::Corrupt("$FILE_NAME key")),
            };
            let name =
                key.get(0x42..0x42 + 2 * name_len).ok_or(NtfsError::Corrupt("$FILE_NAME name"))?;
            let name: Vec<u16> = crate::bytes::utf16le_units(name).collect();
            let fref = le64(e, 0)?;
            let fflags = le32(key, 0x38)?;
            if namespace != 2 {
                out.push(NtfsEntry {
                    name: utf16_to_string(&name),
                    record: fref & 0xFFFF_FFFF_FFFF,
                    sequence: (fref >> 48) as u16,
                    is_dir: fflags & 0x1000_0000 != 0,
                    size_hint: le64(key, 0x30)?,
                    namespace,
                });
            }
            pos += len;
        }
        Ok(())
    }

    fn find_in(&mut self, dir: &MftRecord, component: &str) -> Result<NtfsEntry, NtfsError> {
        let entries = self.read_dir_record(dir)?;
        let mut utf16: Vec<u16> = Vec::new();
        entries
            .into_iter()
            .find(|e| {
                utf16.clear();
                utf16.extend(e.name.encode_utf16());
                name_eq(&utf16, component)
            })
            .ok_or(NtfsError::NotFound)
    }

    /// The MFT record a path names (`/` or `\` separated; empty components ignored).
    pub fn lookup_record(&mut self, path: &str) -> Result<MftRecord, NtfsError> {
        let mut rec = self.record(ROOT_RECORD)?;
        if !rec.is_dir {
            return Err(NtfsError::Corrupt("root directory record is not a directory"));
        }
        for (depth, comp) in path.split(['/', '\\']).filter(|c| !c.is_empty()).enumerate() {
            if depth >= MAX_DEPTH {
                return Err(NtfsError::NotFound);
            }
            if !rec.is_dir {
                return Err(NtfsError::NotADirectory);
            }
            let e = self.find_in(&rec, comp)?;
            rec = self.record_checked(e.record, e.sequence)?;
        }
        Ok(rec)
    }

    /// The directory entry a path names.
    pub fn lookup(&mut self, path: &str) -> Result<NtfsEntry, NtfsError> {
        let mut parts: Vec<&str> = path.split(['/', '\\']).filter(|c| !c.is_empty()).collect();
        let Some(last) = parts.pop() else { return Err(NtfsError::NotFound) };
        let mut dir = String::new();
        for p in parts {
            dir.push('/');
            dir.push_str(p);
        }
        let d = self.lookup_record(&dir)?;
        if !d.is_dir {
            return Err(NtfsError::NotADirectory);
        }
        self.find_in(&d, last)
    }

    /// A directory's entries, DOS-only short names left out.
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<NtfsEntry>, NtfsError> {
        let rec = self.lookup_record(path)?;
        if !rec.is_dir {
            return Err(NtfsError::NotADirectory);
        }
        self.read_dir_record(&rec)
    }

    /// A file record's unnamed `$DATA`.
    pub fn data(&self, rec: &MftRecord) -> Result<AttrValue, NtfsError> {
        match rec.find(AT_DATA, &[]) {
            Some(a) if a.flags & 0x0001 != 0 => Err(NtfsError::Unsupported("compressed $DATA")),
            Some(a) if a.flags & 0x4000 != 0 => Err(NtfsError::Unsupported("encrypted $DATA")),
            Some(Attribute { value: AttrValue::Extent, .. }) => {
                Err(NtfsError::Unsupported("$DATA spread over records by an $ATTRIBUTE_LIST"))
            }
            Some(a) => Ok(a.value.clone()),
            None if rec.has_attribute_list => {
                Err(NtfsError::Unsupported("$DATA in an $ATTRIBUTE_LIST"))
            }
            None if rec.is_dir => Err(NtfsError::IsADirectory),
            None => Err(NtfsError::Corrupt("file without unnamed $DATA")),
        }
    }

    /// A whole file, refused when larger than `limit` bytes.
    pub fn read_file(&mut self, path: &str, limit: u64) -> Result<Vec<u8>, NtfsError> {
        let rec = self.lookup_record(path)?;
        let v = self.data(&rec)?;
        let size = v.size();
        if size > limit {
            return Err(NtfsError::TooLarge { size, limit });
        }
        let mut out = vec![0u8; size as usize];
        self.read_value(&v, 0, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runlist_decoding() {
        // 0x21: 1-byte length, 2-byte offset. Run of 0x18 clusters at 0x5634, then a sparse run
        // of 4, then 0x10 clusters at 0x5634 - 0x34 (negative delta).
        let rl = [0x21, 0x18, 0x34, 0x56, 0x01, 0x04, 0x11, 0x10, 0xCC, 0x00];
        let runs = decode_runlist(&rl, 0, 1 << 20).unwrap();
        assert_eq!(
            runs,
            [
                Run { vcn: 0, len: 0x18, lcn: Some(0x5634) },
                Run { vcn: 0x18, len: 4, lcn: None },
                Run { vcn: 0x1C, len: 0x10, lcn: Some(0x5634 - 0x34) },
            ]
        );
        assert!(decode_runlist(&rl, 0, 0x5000).is_err(), "beyond the volume");
        assert!(decode_runlist(&[0x21, 0x18], 0, 1 << 20).is_err(), "truncated");
        assert!(decode_runlist(&[0x11, 0x01, 0xFF, 0x00], 0, 1 << 20).is_err(), "negative LCN");
        assert!(decode_runlist(&[0x01, 0x00, 0x00], 0, 1 << 20).is_err(), "zero length");
        // A sparse run needs no room on the volume, but VCNs stay bounded.
        let huge = [0x08, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00];
        assert!(decode_runlist(&huge, 0, 1 << 20).is_err(), "sparse run past MAX_VCN");
        assert!(decode_runlist(&[0x00], MAX_VCN + 1, 1 << 20).is_err(), "first VCN past MAX_VCN");
    }

    #[test]
    fn fixups() {
        let mut rec = vec![0u8; 1024];
        rec[0..4].copy_from_slice(b"FILE");
        rec[4..6].copy_from_slice(&0x30u16.to_le_bytes());
        rec[6..8].copy_from_slice(&3u16.to_le_bytes());
        rec[0x30..0x32].copy_from_slice(&[0x07, 0x00]);
        rec[0x32..0x34].copy_from_slice(&[0xAA, 0xBB]);
        rec[0x34..0x36].copy_from_slice(&[0xCC, 0xDD]);
        rec[510..512].copy_from_slice(&[0x07, 0x00]);
        rec[1022..1024].copy_from_slice(&[0x07, 0x00]);
        let mut ok = rec.clone();
        apply_fixups(&mut ok, b"FILE").unwrap();
        assert_eq!(&ok[510..512], &[0xAA, 0xBB]);
        assert_eq!(&ok[1022..1024], &[0xCC, 0xDD]);
        let mut torn = rec.clone();
        torn[1022] = 9;
        assert!(matches!(apply_fixups(&mut torn, b"FILE"), Err(NtfsError::Corrupt(_))));
        assert!(apply_fixups(&mut rec.clone(), b"INDX").is_err());
    }

    #[test]
    fn boot_sector_checks() {
        let mut bs = [0u8; 512];
        bs[3..11].copy_from_slice(b"NTFS    ");
        bs[0x0B..0x0D].copy_from_slice(&512u16.to_le_bytes());
        bs[0x0D] = 8;
        bs[0x28..0x30].copy_from_slice(&100_000u64.to_le_bytes());
        bs[0x30..0x38].copy_from_slice(&4u64.to_le_bytes());
        bs[0x40] = 0xF6; // 2^10 = 1024
        bs[0x44] = 1; // one cluster = 4096
        let b = BootSector::parse(&bs).unwrap();
        assert_eq!((b.cluster_size, b.mft_record_size, b.index_record_size), (4096, 1024, 4096));
        let mut bad = bs;
        bad[0x0D] = 3;
        assert!(BootSector::parse(&bad).is_err());
        let mut bad = bs;
        bad[0x40] = 0x80;
        assert!(BootSector::parse(&bad).is_err());
        let mut bad = bs;
        bad[3] = b'X';
        assert!(BootSector::parse(&bad).is_err());
        let mut bad = bs;
        bad[0x30..0x38].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(BootSector::parse(&bad).is_err());
    }

    #[test]
    fn names_fold_ascii_only() {
        let u: Vec<u16> = "BootMgr".encode_utf16().collect();
        assert!(name_eq(&u, "bootmgr"));
        assert!(name_eq(&u, "BOOTMGR"));
        assert!(!name_eq(&u, "bootmg"));
        assert!(!name_eq(&u, "bootmgrx"));
        let u: Vec<u16> = "É".encode_utf16().collect();
        assert!(!name_eq(&u, "é"));
    }
}
