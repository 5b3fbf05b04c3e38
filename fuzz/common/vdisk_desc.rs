//! The byte encoding of a virtual medium description for the `vdisk` target, with an encoder
//! for the seed generator (`#[path]` include in both, so they agree on the format).
//!
//! A description is read front to back; bytes past the end of the input read as zero, so
//! every input decodes to something. Numbers are [`Reader::num`]: a tag byte, then either
//! three bytes (a value reduced modulo `limit + 1`, so small and in range), eight raw bytes
//! (tag 0xFF: any `u64`, to reach the overflow checks) or two bytes below `u64::MAX` (tag
//! 0xFE).
//!
//! ```text
//! block size    u8: < 0xF0 -> 512 << (b % 8); else a raw u32 (usually refused)
//! image_len     num(MAX_IMAGE)
//! partition     num(MAX_PARTITION_OFFSET)      partition offset on the physical disk
//! device        num(MAX_DEVICE)                length of the physical disk (MemDevice)
//! extents       u8 count % 9, each:
//!                 u8 flags: bit 0 absolute file offset, else previous end + gap
//!                 num(MAX_IMAGE) file offset or gap, num(MAX_EXTENT) len,
//!                 num(MAX_DEVICE) device offset (relative to the partition)
//! regions       u8 count % 5, each:
//!                 u8 flags: bit 0 append_region (else add_region at num(MAX_REGION_AT)),
//!                           bit 1 image source (else memory)
//!                 [at] num(MAX_REGION_LEN) len,
//!                 image: num(MAX_IMAGE) source offset
//!                 memory: u16 data length (may exceed len: refused), u8 fill seed
//! overrides     u8 count % 6, each: Offset, u16 % 4097 len, u8 fill seed
//! reads         until the input ends (at most MAX_READS): u8 kind % 3
//!                 0 read(Offset, u16 % (MAX_READ + 1) len)
//!                 1 read_blocks(num(..) lba, u8: (b & 0x7F) % 5 blocks, bit 7 one byte short)
//!                 2 MediumReader::read_at(Offset, u16 % (MAX_READ + 1) len)
//! Offset        u8 mode % 3: 0 num(MAX_VIRTUAL) (mostly inside), 1 size - u16 (across the
//!               end), 2 num(u64::MAX) (anywhere, overflow)
//! ```
#![allow(dead_code)] // the target decodes, the seed generator encodes

pub const MAX_IMAGE: u64 = 512 << 10;
pub const MAX_PARTITION_OFFSET: u64 = 256 << 10;
pub const MAX_DEVICE: u64 = 768 << 10;
pub const MAX_EXTENT: u64 = 128 << 10;
pub const MAX_REGION_AT: u64 = 1 << 20;
pub const MAX_REGION_LEN: u64 = 128 << 10;
pub const MAX_VIRTUAL: u64 = 1 << 20;
pub const MAX_READ: u64 = 8 << 10;
pub const MAX_READS: usize = 8;
pub const MAX_OVERRIDE: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentDesc {
    pub absolute: bool,
    /// Absolute file offset, or the gap after the previous extent's end.
    pub offset: u64,
    pub len: u64,
    pub device_offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceDesc {
    /// `len` bytes (may exceed the region: refused), byte i = fill + 7 i.
    Memory {
        len: u16,
        fill: u8,
    },
    Image {
        offset: u64,
    },
    /// Another file on the partition, through these extents (`RegionSource::DriveFile`).
    DriveFile {
        extents: Vec<ExtentDesc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionDesc {
    /// `None`: `append_region`.
    pub at: Option<u64>,
    pub len: u64,
    pub source: SourceDesc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetDesc {
    Value(u64),
    /// `size - n` (saturating).
    FromEnd(u16),
    Raw(u64),
}

impl OffsetDesc {
    pub fn resolve(self, size: u64) -> u64 {
        match self {
            OffsetDesc::Value(v) | OffsetDesc::Raw(v) => v,
            OffsetDesc::FromEnd(n) => size.saturating_sub(u64::from(n)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideDesc {
    pub at: OffsetDesc,
    pub len: u16,
    pub fill: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadDesc {
    Read {
        at: OffsetDesc,
        len: u16,
    },
    /// `blocks` whole blocks at `lba`, one byte short when `short`.
    Blocks {
        lba: u64,
        blocks: u8,
        short: bool,
    },
    Reader {
        at: OffsetDesc,
        len: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desc {
    pub block_size: u32,
    pub image_len: u64,
    pub partition_offset: u64,
    pub device_len: u64,
    pub extents: Vec<ExtentDesc>,
    pub regions: Vec<RegionDesc>,
    pub overrides: Vec<OverrideDesc>,
    pub reads: Vec<ReadDesc>,
}

/// Bytes `i` of a memory region or override with fill seed `fill`.
pub fn fill_byte(fill: u8, i: usize) -> u8 {
    fill.wrapping_add((i as u8).wrapping_mul(7))
}

/// Byte `i` of the physical disk: distinct enough that a wrong mapping shows.
pub fn device_byte(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 ^ (i as u8)
}

pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }
    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    pub fn uint(&mut self, bytes: usize) -> u64 {
        (0..bytes).fold(0u64, |v, i| v | u64::from(self.u8()) << (8 * i))
    }
    pub fn u16(&mut self) -> u16 {
        self.uint(2) as u16
    }
    pub fn num(&mut self, limit: u64) -> u64 {
        match self.u8() {
            0xFF => self.uint(8),
            0xFE => u64::MAX - self.uint(2),
            _ => match limit.checked_add(1) {
                Some(m) => self.uint(3) % m,
                None => self.uint(3),
            },
        }
    }
    fn offset(&mut self) -> OffsetDesc {
        match self.u8() % 3 {
            0 => OffsetDesc::Value(self.num(MAX_VIRTUAL)),
            1 => OffsetDesc::FromEnd(self.u16()),
            _ => OffsetDesc::Raw(self.num(u64::MAX)),
        }
    }
}

fn extent(r: &mut Reader) -> ExtentDesc {
    let absolute = r.u8() & 1 != 0;
    ExtentDesc {
        absolute,
        offset: r.num(MAX_IMAGE),
        len: r.num(MAX_EXTENT),
        device_offset: r.num(MAX_DEVICE),
    }
}

pub fn decode(data: &[u8]) -> Desc {
    let mut r = Reader::new(data);
    let b = r.u8();
    let block_size = if b < 0xF0 { 512 << (b % 8) } else { r.uint(4) as u32 };
    let image_len = r.num(MAX_IMAGE);
    let partition_offset = r.num(MAX_PARTITION_OFFSET);
    let device_len = r.num(MAX_DEVICE).min(MAX_DEVICE);
    let extents = (0..r.u8() % 9).map(|_| extent(&mut r)).collect();
    let regions = (0..r.u8() % 5)
        .map(|_| {
            let flags = r.u8();
            let at = (flags & 1 == 0).then(|| r.num(MAX_REGION_AT));
            let len = r.num(MAX_REGION_LEN);
            let source = if flags & 4 != 0 {
                let extents = (0..r.u8() % 5).map(|_| extent(&mut r)).collect();
                SourceDesc::DriveFile { extents }
            } else if flags & 2 != 0 {
                SourceDesc::Image { offset: r.num(MAX_IMAGE) }
            } else {
                SourceDesc::Memory { len: r.u16(), fill: r.u8() }
            };
            RegionDesc { at, len, source }
        })
        .collect();
    let overrides = (0..r.u8() % 6)
        .map(|_| OverrideDesc {
            at: r.offset(),
            len: r.u16() % (MAX_OVERRIDE as u16 + 1),
            fill: r.u8(),
        })
        .collect();
    let mut reads = Vec::new();
    while !r.at_end() && reads.len() < MAX_READS {
        let read_len = |r: &mut Reader| r.u16() % (MAX_READ as u16 + 1);
        reads.push(match r.u8() % 3 {
            0 => ReadDesc::Read { at: r.offset(), len: read_len(&mut r) },
            1 => {
                let lba = r.num(MAX_VIRTUAL / 512);
                let b = r.u8();
                ReadDesc::Blocks { lba, blocks: (b & 0x7F) % 5, short: b & 0x80 != 0 }
            }
            _ => ReadDesc::Reader { at: r.offset(), len: read_len(&mut r) },
        });
    }
    Desc { block_size, image_len, partition_offset, device_len, extents, regions, overrides, reads }
}

/// The inverse of [`decode`] for descriptions whose values are in range (seeds).
/// A number as `Reader::num` reads it.
fn put_num(out: &mut Vec<u8>, v: u64, limit: u64) {
    if v <= limit && v < 1 << 24 {
        out.push(0);
        out.extend_from_slice(&v.to_le_bytes()[..3]);
    } else {
        out.push(0xFF);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_extent(out: &mut Vec<u8>, e: &ExtentDesc) {
    out.push(u8::from(e.absolute));
    put_num(out, e.offset, MAX_IMAGE);
    put_num(out, e.len, MAX_EXTENT);
    put_num(out, e.device_offset, MAX_DEVICE);
}

pub fn encode(d: &Desc) -> Vec<u8> {
    let mut out = Vec::new();
    let num = put_num;
    let offset = |out: &mut Vec<u8>, o: OffsetDesc| match o {
        OffsetDesc::Value(v) => {
            out.push(0);
            num(out, v, MAX_VIRTUAL);
        }
        OffsetDesc::FromEnd(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_le_bytes());
        }
        OffsetDesc::Raw(v) => {
            out.push(2);
            num(out, v, u64::MAX);
        }
    };
    let shift = d.block_size.trailing_zeros();
    if d.block_size.is_power_of_two() && (9..=16).contains(&shift) {
        out.push((shift - 9) as u8);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&d.block_size.to_le_bytes());
    }
    num(&mut out, d.image_len, MAX_IMAGE);
    num(&mut out, d.partition_offset, MAX_PARTITION_OFFSET);
    num(&mut out, d.device_len, MAX_DEVICE);
    assert!(d.extents.len() < 9 && d.regions.len() < 5 && d.overrides.len() < 6);
    out.push(d.extents.len() as u8);
    for e in &d.extents {
        put_extent(&mut out, e);
    }
    out.push(d.regions.len() as u8);
    for region in &d.regions {
        let image = matches!(region.source, SourceDesc::Image { .. });
        let file = matches!(region.source, SourceDesc::DriveFile { .. });
        out.push(u8::from(region.at.is_none()) | u8::from(image) << 1 | u8::from(file) << 2);
        if let Some(at) = region.at {
            num(&mut out, at, MAX_REGION_AT);
        }
        num(&mut out, region.len, MAX_REGION_LEN);
        match &region.source {
            SourceDesc::DriveFile { extents } => {
                assert!(extents.len() < 5);
                out.push(extents.len() as u8);
                for e in extents {
                    put_extent(&mut out, e);
                }
            }
            SourceDesc::Image { offset } => num(&mut out, *offset, MAX_IMAGE),
            SourceDesc::Memory { len, fill } => {
                out.extend_from_slice(&len.to_le_bytes());
                out.push(*fill);
            }
        }
    }
    out.push(d.overrides.len() as u8);
    for o in &d.overrides {
        offset(&mut out, o.at);
        out.extend_from_slice(&o.len.to_le_bytes());
        out.push(o.fill);
    }
    for read in &d.reads {
        match *read {
            ReadDesc::Read { at, len } => {
                out.push(0);
                offset(&mut out, at);
                out.extend_from_slice(&len.to_le_bytes());
            }
            ReadDesc::Blocks { lba, blocks, short } => {
                out.push(1);
                num(&mut out, lba, MAX_VIRTUAL / 512);
                out.push(blocks | if short { 0x80 } else { 0 });
            }
            ReadDesc::Reader { at, len } => {
                out.push(2);
                offset(&mut out, at);
                out.extend_from_slice(&len.to_le_bytes());
            }
        }
    }
    out
}
