//! The virtual medium the firmware serves for a booted image file: a CD-ROM or hard disk that
//! UEFI exposes as a BlockIo device and BIOS as an INT 13h drive. (Not a VHD: those are
//! `vhd.rs` / `vhdx.rs`.)
//!
//! A virtual medium is the image file's bytes (found on the physical disk through the file's
//! extents on the exFAT data partition), plus optional virtual regions (memory buffers or
//! re-mapped image ranges, typically past the end of the image) and byte overrides (e.g. ISO
//! 9660 directory records redirected to such a region). Nothing is written anywhere.
//!
//! A read of virtual bytes `[offset, offset+len)` is resolved in layers, lowest first:
//! 1. image bytes (`offset < image_len`) mapped through the extents to the physical disk
//!    (`partition_offset + extent.device_offset + ...`); image bytes without an extent (holes,
//!    e.g. past an exFAT file's valid data length) and bytes past the image read as zeros;
//! 2. virtual regions replace whatever is below them;
//! 3. byte overrides are applied last, in the order they were added (later ones win).
//!
//! Pieces that are contiguous on the physical disk are read with one device read, so a large
//! read of a contiguous file costs exactly one read of the underlying device.

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::block::{check_range, IoError, ReadAt};
pub use crate::exfat::Extent;

/// Bytes replaced in the virtual medium after everything else is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteOverride {
    pub at: u64,
    pub bytes: Vec<u8>,
}

/// Where the bytes of a virtual region come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionSource {
    /// A memory buffer; bytes past its end (up to the region length) read as zeros. Shared,
    /// so that one large buffer (polyboot-hook's archive) can back many regions.
    Memory(Arc<[u8]>),
    /// Image bytes starting at this image offset (mapped through the extents).
    Image { offset: u64 },
    /// Another file on the same partition as the image (a replacement served from the data
    /// partition, say), from its start: region byte `i` is file byte `i`, found through these
    /// extents (device offsets relative to the partition, like the image's). Bytes no extent
    /// covers read as zeros. Checked like the image's extents when the region is added; that
    /// they stay inside the partition is the caller's to check, as for the image.
    DriveFile(Arc<[Extent]>),
}

/// A range of the virtual medium served from a [`RegionSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualRegion {
    pub at: u64,
    pub len: u64,
    pub source: RegionSource,
}

impl VirtualRegion {
    fn end(&self) -> u64 {
        self.at + self.len
    }
}

/// Why a virtual medium layout was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualMediumError {
    /// Block size must be a power of two from 512 to 65536.
    BadBlockSize(u32),
    /// Extent `index` starts before the previous one.
    ExtentsUnsorted {
        index: usize,
    },
    /// Extent `index` overlaps the previous one (in image offsets).
    ExtentOverlap {
        index: usize,
    },
    /// Extent `index` reaches past the image length.
    ExtentBeyondImage {
        index: usize,
    },
    /// Extent `index`'s offsets overflow 64 bits.
    ExtentOverflow {
        index: usize,
    },
    EmptyRegion,
    RegionOverlap {
        at: u64,
        len: u64,
    },
    /// A region's image source range reaches past the image.
    RegionSourceBeyondImage {
        offset: u64,
        len: u64,
    },
    /// Extent `index` of a drive-file region is out of order, overlaps the previous one,
    /// reaches past the region or has offsets that overflow.
    RegionExtent {
        index: usize,
        why: &'static str,
    },
    /// A memory region's buffer is longer than the region.
    MemoryTooLong {
        len: u64,
        data: u64,
    },
    OverrideOutOfBounds {
        at: u64,
        len: u64,
        size: u64,
    },
    /// The disk size would overflow 64 bits.
    SizeOverflow,
}

impl fmt::Display for VirtualMediumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VirtualMediumError::BadBlockSize(b) => write!(f, "bad virtual disk block size {b}"),
            VirtualMediumError::ExtentsUnsorted { index } => write!(f, "extent {index} is out of order"),
            VirtualMediumError::ExtentOverlap { index } => write!(f, "extent {index} overlaps the previous one"),
            VirtualMediumError::ExtentBeyondImage { index } => write!(f, "extent {index} reaches past the end of the image"),
            VirtualMediumError::ExtentOverflow { index } => write!(f, "extent {index} has offsets that overflow"),
            VirtualMediumError::EmptyRegion => f.write_str("empty virtual region"),
            VirtualMediumError::RegionOverlap { at, len } => {
                write!(f, "virtual region of {len} bytes at {at} overlaps another region")
            }
            VirtualMediumError::RegionSourceBeyondImage { offset, len } => write!(
                f,
                "virtual region source ({len} bytes at image offset {offset}) reaches past the image"
            ),
            VirtualMediumError::RegionExtent { index, why } => {
                write!(f, "extent {index} of a drive file region {why}")
            }
            VirtualMediumError::MemoryTooLong { len, data } => {
                write!(f, "virtual region of {len} bytes given {data} bytes of data")
            }
            VirtualMediumError::OverrideOutOfBounds { at, len, size } => write!(
                f,
                "override of {len} bytes at {at} reaches past the end of the virtual disk ({size} bytes)"
            ),
            VirtualMediumError::SizeOverflow => f.write_str("virtual disk size overflows"),
        }
    }
}

impl core::error::Error for VirtualMediumError {}

/// Where one piece of a read comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceSource {
    /// Zeros (holes, bytes past the image not covered by a region).
    Zero,
    /// Bytes of the physical disk from this offset.
    Device { offset: u64 },
    /// Bytes of the memory region `region` (index into [`VirtualMedium::regions`]) from `offset`.
    Memory { region: usize, offset: usize },
}

/// One piece of a planned read: `len` bytes of the caller's buffer from `buf_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPiece {
    pub buf_offset: usize,
    pub len: usize,
    pub source: PieceSource,
}

/// Image file + regions + overrides, validated at construction so that reads never panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMedium {
    block_size: u32,
    size: u64,
    image_len: u64,
    extents: Vec<Extent>,
    partition_offset: u64,
    overrides: Vec<ByteOverride>,
    /// Sorted by `at`, non-overlapping.
    regions: Vec<VirtualRegion>,
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    v.checked_add(to - 1).map(|x| x / to * to)
}

impl VirtualMedium {
    /// A disk of `block_size`-byte blocks holding an image file of `image_len` bytes whose
    /// data lies at `extents` (device offsets relative to the partition that starts at
    /// `partition_offset` on the physical disk). Extents must be sorted by file offset, must
    /// not overlap and must lie within the image; empty extents are dropped. The disk size is
    /// the image length rounded up to whole blocks.
    pub fn new(
        block_size: u32,
        image_len: u64,
        partition_offset: u64,
        extents: Vec<Extent>,
    ) -> Result<Self, VirtualMediumError> {
        if !block_size.is_power_of_two() || !(512..=65536).contains(&block_size) {
            return Err(VirtualMediumError::BadBlockSize(block_size));
        }
        let mut kept: Vec<Extent> = Vec::with_capacity(extents.len());
        for (index, e) in extents.into_iter().enumerate() {
            if e.len == 0 {
                continue;
            }
            let end = e
                .file_offset
                .checked_add(e.len)
                .ok_or(VirtualMediumError::ExtentOverflow { index })?;
            partition_offset
                .checked_add(e.device_offset)
                .and_then(|d| d.checked_add(e.len))
                .ok_or(VirtualMediumError::ExtentOverflow { index })?;
            if end > image_len {
                return Err(VirtualMediumError::ExtentBeyondImage { index });
            }
            if let Some(prev) = kept.last() {
                if e.file_offset < prev.file_offset {
                    return Err(VirtualMediumError::ExtentsUnsorted { index });
                }
                if e.file_offset < prev.file_offset + prev.len {
                    return Err(VirtualMediumError::ExtentOverlap { index });
                }
            }
            kept.push(e);
        }
        let size =
            round_up(image_len, u64::from(block_size)).ok_or(VirtualMediumError::SizeOverflow)?;
        Ok(VirtualMedium {
            block_size,
            size,
            image_len,
            extents: kept,
            partition_offset,
            overrides: Vec::new(),
            regions: Vec::new(),
        })
    }

    /// Add a region at `at` (anywhere; it must not overlap another region). The disk grows to
    /// cover it, rounded up to whole blocks.
    pub fn add_region(
        &mut self,
        at: u64,
        len: u64,
        mut source: RegionSource,
    ) -> Result<(), VirtualMediumError> {
        if len == 0 {
            return Err(VirtualMediumError::EmptyRegion);
        }
        let end = at.checked_add(len).ok_or(VirtualMediumError::SizeOverflow)?;
        match &source {
            RegionSource::Memory(data) => {
                if data.len() as u64 > len {
                    return Err(VirtualMediumError::MemoryTooLong { len, data: data.len() as u64 });
                }
            }
            RegionSource::Image { offset } => {
                if offset.checked_add(len).is_none_or(|e| e > self.image_len) {
                    return Err(VirtualMediumError::RegionSourceBeyondImage {
                        offset: *offset,
                        len,
                    });
                }
            }
            RegionSource::DriveFile(extents) => {
                check_region_extents(extents, len, self.partition_offset)?;
                if extents.iter().any(|e| e.len == 0) {
                    // Dropped, as the image's are: lookups rely on non-empty extents.
                    let kept: Vec<Extent> = extents.iter().filter(|e| e.len > 0).cloned().collect();
                    source = RegionSource::DriveFile(kept.into());
                }
            }
        }
        let i = self.regions.partition_point(|r| r.at < at);
        let overlaps_prev = i > 0 && self.regions[i - 1].end() > at;
        let overlaps_next = self.regions.get(i).is_some_and(|r| r.at < end);
        if overlaps_prev || overlaps_next {
            return Err(VirtualMediumError::RegionOverlap { at, len });
        }
        let new_size =
            round_up(end, u64::from(self.block_size)).ok_or(VirtualMediumError::SizeOverflow)?;
        self.size = self.size.max(new_size);
        self.regions.insert(i, VirtualRegion { at, len, source });
        Ok(())
    }

    /// Add a region at the current end of the disk (block aligned); returns its offset.
    pub fn append_region(
        &mut self,
        len: u64,
        source: RegionSource,
    ) -> Result<u64, VirtualMediumError> {
        let at = self.size;
        self.add_region(at, len, source)?;
        Ok(at)
    }

    /// Replace `bytes.len()` bytes at `at` (within the disk) on every read.
    pub fn add_override(&mut self, at: u64, bytes: Vec<u8>) -> Result<(), VirtualMediumError> {
        let len = bytes.len() as u64;
        if at.checked_add(len).is_none_or(|e| e > self.size) {
            return Err(VirtualMediumError::OverrideOutOfBounds { at, len, size: self.size });
        }
        if !bytes.is_empty() {
            self.overrides.push(ByteOverride { at, bytes });
        }
        Ok(())
    }

    pub fn block_size(&self) -> u32 {
        self.block_size
    }
    /// Size of the virtual medium in bytes (a whole number of blocks).
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn block_count(&self) -> u64 {
        self.size / u64::from(self.block_size)
    }
    /// Length of the image file.
    pub fn image_len(&self) -> u64 {
        self.image_len
    }
    pub fn partition_offset(&self) -> u64 {
        self.partition_offset
    }
    pub fn extents(&self) -> &[Extent] {
        &self.extents
    }
    pub fn regions(&self) -> &[VirtualRegion] {
        &self.regions
    }
    pub fn overrides(&self) -> &[ByteOverride] {
        &self.overrides
    }

    /// Where a read of `len` bytes at `offset` comes from, with pieces that are contiguous on
    /// the physical disk (or both zero) merged. Fails if the range is outside the disk.
    pub fn plan_read(&self, offset: u64, len: usize) -> Result<ReadPlan<'_>, IoError> {
        check_range(offset, len, self.size)?;
        Ok(ReadPlan { disk: self, start: offset, pos: offset, end: offset + len as u64 })
    }

    /// Read virtual bytes. `dev` is the whole physical disk.
    pub fn read<D: ReadAt + ?Sized>(
        &self,
        dev: &mut D,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), IoError> {
        for piece in self.plan_read(offset, buf.len())? {
            let out = &mut buf[piece.buf_offset..piece.buf_offset + piece.len];
            match piece.source {
                PieceSource::Zero => out.fill(0),
                PieceSource::Device { offset } => dev.read_at(offset, out)?,
                PieceSource::Memory { region, offset } => {
                    let data = match self.regions.get(region).map(|r| &r.source) {
                        Some(RegionSource::Memory(d)) => d.get(offset..offset + out.len()),
                        _ => None,
                    };
                    match data {
                        Some(d) => out.copy_from_slice(d),
                        None => out.fill(0),
                    }
                }
            }
        }
        self.apply_overrides(offset, buf);
        Ok(())
    }

    /// Read whole blocks starting at block `lba`; `buf` must be a multiple of the block size.
    pub fn read_blocks<D: ReadAt + ?Sized>(
        &self,
        dev: &mut D,
        lba: u64,
        buf: &mut [u8],
    ) -> Result<(), IoError> {
        let bs = u64::from(self.block_size);
        if buf.len() as u64 % bs != 0 {
            return Err(IoError::Device(format!(
                "read of {} bytes is not a multiple of the {bs}-byte block size",
                buf.len()
            )));
        }
        let offset = lba.checked_mul(bs).ok_or(IoError::OutOfBounds {
            offset: u64::MAX,
            len: buf.len() as u64,
            size: self.size,
        })?;
        self.read(dev, offset, buf)
    }

    /// The virtual medium as a byte-addressed device (e.g. to parse the ISO it presents).
    pub fn reader<D: ReadAt>(&self, dev: D) -> MediumReader<'_, D> {
        MediumReader { disk: self, dev }
    }

    /// Apply the byte overrides to `buf`, which holds the bytes at `offset` (for callers that
    /// carry out [`plan_read`](Self::plan_read) themselves, like the BIOS INT 13h handler).
    pub fn apply_overrides(&self, offset: u64, buf: &mut [u8]) {
        let end = offset + buf.len() as u64;
        for o in &self.overrides {
            let o_end = o.at + o.bytes.len() as u64;
            let lo = o.at.max(offset);
            let hi = o_end.min(end);
            if lo < hi {
                let src = &o.bytes[(lo - o.at) as usize..(hi - o.at) as usize];
                buf[(lo - offset) as usize..(hi - offset) as usize].copy_from_slice(src);
            }
        }
    }

    /// The unmerged source of the bytes at `p` (< `end` <= size): its length and source.
    fn raw_piece(&self, p: u64, end: u64) -> (u64, PieceSource) {
        let i = self.regions.partition_point(|r| r.at <= p);
        if i > 0 {
            let r = &self.regions[i - 1];
            if p < r.end() {
                let limit = end.min(r.end()) - p;
                let within = p - r.at;
                return match &r.source {
                    RegionSource::Memory(data) => {
                        let have = data.len() as u64;
                        if within < have {
                            let source =
                                PieceSource::Memory { region: i - 1, offset: within as usize };
                            (limit.min(have - within), source)
                        } else {
                            (limit, PieceSource::Zero)
                        }
                    }
                    RegionSource::Image { offset } => self.map_image(offset + within, limit),
                    RegionSource::DriveFile(extents) => {
                        map_extents(extents, self.partition_offset, within, limit)
                    }
                };
            }
        }
        let limit = end.min(self.regions.get(i).map_or(u64::MAX, |r| r.at));
        if p < self.image_len {
            self.map_image(p, limit.min(self.image_len) - p)
        } else {
            (limit - p, PieceSource::Zero)
        }
    }

    /// Image bytes from image offset `q`, at most `n` (> 0) of them.
    fn map_image(&self, q: u64, n: u64) -> (u64, PieceSource) {
        map_extents(&self.extents, self.partition_offset, q, n)
    }
}

/// Bytes of a file from file offset `q`, at most `n` (> 0) of them, through its `extents`
/// (sorted, non-overlapping, offsets checked not to overflow) on the partition at
/// `partition_offset`.
fn map_extents(extents: &[Extent], partition_offset: u64, q: u64, n: u64) -> (u64, PieceSource) {
    let i = extents.partition_point(|e| e.file_offset <= q);
    if i > 0 {
        let e = &extents[i - 1];
        let e_end = e.file_offset + e.len;
        if q < e_end {
            let offset = partition_offset + e.device_offset + (q - e.file_offset);
            return ((e_end - q).min(n), PieceSource::Device { offset });
        }
    }
    let next = extents.get(i).map_or(u64::MAX, |e| e.file_offset);
    ((next - q).min(n), PieceSource::Zero)
}

/// The extents of a drive-file region of `len` bytes: sorted by file offset, not
/// overlapping, inside the region, device offsets that do not overflow past the partition
/// start (the same rules as the image's extents; reads rely on them). Empty extents are not
/// checked (they are dropped).
fn check_region_extents(
    extents: &[Extent],
    len: u64,
    partition_offset: u64,
) -> Result<(), VirtualMediumError> {
    let mut prev_end = 0u64;
    for (index, e) in extents.iter().enumerate() {
        let bad = |why| Err(VirtualMediumError::RegionExtent { index, why });
        let Some(end) = e.file_offset.checked_add(e.len) else {
            return bad("has offsets that overflow");
        };
        if partition_offset
            .checked_add(e.device_offset)
            .and_then(|d| d.checked_add(e.len))
            .is_none()
        {
            return bad("has offsets that overflow");
        }
        if end > len {
            return bad("reaches past the region");
        }
        if e.len == 0 {
            continue;
        }
        if e.file_offset < prev_end {
            return bad("is out of order or overlaps the previous one");
        }
        prev_end = end;
    }
    Ok(())
}

/// Iterator over the pieces of a read (see [`VirtualMedium::plan_read`]).
pub struct ReadPlan<'a> {
    disk: &'a VirtualMedium,
    start: u64,
    pos: u64,
    end: u64,
}

fn merge(a: PieceSource, a_len: u64, b: PieceSource) -> bool {
    match (a, b) {
        (PieceSource::Zero, PieceSource::Zero) => true,
        (PieceSource::Device { offset: x }, PieceSource::Device { offset: y }) => {
            x.checked_add(a_len) == Some(y)
        }
        (
            PieceSource::Memory { region: r, offset: x },
            PieceSource::Memory { region: s, offset: y },
        ) => r == s && x as u64 + a_len == y as u64,
        _ => false,
    }
}

impl Iterator for ReadPlan<'_> {
    type Item = ReadPiece;

    fn next(&mut self) -> Option<ReadPiece> {
        if self.pos >= self.end {
            return None;
        }
        let (mut len, source) = self.disk.raw_piece(self.pos, self.end);
        while self.pos + len < self.end {
            let (more, next) = self.disk.raw_piece(self.pos + len, self.end);
            if !merge(source, len, next) {
                break;
            }
            len += more;
        }
        let piece =
            ReadPiece { buf_offset: (self.pos - self.start) as usize, len: len as usize, source };
        self.pos += len;
        Some(piece)
    }
}

/// A [`VirtualMedium`] over its physical disk, as a [`ReadAt`] device.
pub struct MediumReader<'a, D> {
    disk: &'a VirtualMedium,
    dev: D,
}

impl<D> MediumReader<'_, D> {
    pub fn into_inner(self) -> D {
        self.dev
    }
}

impl<D: ReadAt> ReadAt for MediumReader<'_, D> {
    fn size(&self) -> u64 {
        self.disk.size()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.disk.read(&mut self.dev, offset, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use alloc::vec;

    use crate::testutil::Rng;

    /// Counts device reads.
    struct Counting {
        inner: MemDevice,
        reads: Vec<(u64, usize)>,
    }
    impl ReadAt for Counting {
        fn size(&self) -> u64 {
            self.inner.size()
        }
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
            self.reads.push((offset, buf.len()));
            self.inner.read_at(offset, buf)
        }
    }

    fn ext(file_offset: u64, device_offset: u64, len: u64) -> Extent {
        Extent { file_offset, device_offset, len }
    }

    /// The byte at virtual offset `p`, computed the slow obvious way.
    fn naive_byte(disk: &VirtualMedium, phys: &[u8], p: u64) -> u8 {
        if let Some(o) =
            disk.overrides().iter().rev().find(|o| p >= o.at && p < o.at + o.bytes.len() as u64)
        {
            return o.bytes[(p - o.at) as usize];
        }
        let file_byte = |extents: &[Extent], q: u64| -> u8 {
            for e in extents {
                if q >= e.file_offset && q < e.file_offset + e.len {
                    return phys
                        [(disk.partition_offset() + e.device_offset + q - e.file_offset) as usize];
                }
            }
            0
        };
        let image_byte = |q: u64| file_byte(disk.extents(), q);
        for r in disk.regions() {
            if p >= r.at && p < r.at + r.len {
                return match &r.source {
                    RegionSource::Memory(d) => d.get((p - r.at) as usize).copied().unwrap_or(0),
                    RegionSource::Image { offset } => image_byte(offset + p - r.at),
                    RegionSource::DriveFile(extents) => file_byte(extents, p - r.at),
                };
            }
        }
        if p < disk.image_len() {
            image_byte(p)
        } else {
            0
        }
    }

    fn naive(disk: &VirtualMedium, phys: &[u8], offset: u64, len: usize) -> Vec<u8> {
        (offset..offset + len as u64).map(|p| naive_byte(disk, phys, p)).collect()
    }

    /// A random layout over a random physical disk.
    fn random_layout(rng: &mut Rng) -> (VirtualMedium, MemDevice) {
        let phys_len = 16384 + rng.below(16384) as usize;
        let phys: Vec<u8> = (0..phys_len).map(|_| rng.next() as u8).collect();
        let partition_offset = rng.below(2048);
        let block_size = [512u32, 2048, 4096][rng.below(3) as usize];
        let image_len = rng.below(6000);
        let mut extents: Vec<Extent> = Vec::new();
        let mut pos = 0u64;
        while pos < image_len {
            let gap = if rng.below(4) == 0 { rng.below(300) } else { 0 };
            pos += gap;
            if pos >= image_len {
                break;
            }
            let len = (1 + rng.below(1500)).min(image_len - pos);
            // Often continue contiguously on the device after the previous extent.
            let dev_off = match extents.last() {
                Some(last) if gap == 0 && rng.below(3) == 0 => last.device_offset + last.len,
                _ => rng.below(phys_len as u64 - partition_offset - 1600),
            };
            let dev_off = dev_off.min(phys_len as u64 - partition_offset - len);
            extents.push(ext(pos, dev_off, len));
            pos += len;
        }
        let mut disk =
            VirtualMedium::new(block_size, image_len, partition_offset, extents).unwrap();
        for _ in 0..rng.below(4) {
            let len = 1 + rng.below(3000);
            let source = if rng.below(3) == 0 {
                // Another file on the partition: fragments with holes, some empty.
                let mut file = Vec::new();
                let mut pos = rng.below(100);
                while pos < len {
                    let n = rng.below(700).min(len - pos);
                    let dev_off = rng.below(phys_len as u64 - partition_offset - n);
                    file.push(ext(pos, dev_off, n));
                    pos += n + if rng.below(3) == 0 { rng.below(200) } else { 0 };
                }
                RegionSource::DriveFile(file.into())
            } else if rng.below(2) == 0 || image_len < len {
                let data_len = rng.below(len + 1) as usize;
                RegionSource::Memory(
                    (0..data_len).map(|_| rng.next() as u8).collect::<Vec<u8>>().into(),
                )
            } else {
                RegionSource::Image { offset: rng.below(image_len - len + 1) }
            };
            if rng.below(3) == 0 {
                // Somewhere inside the disk; may be refused for overlapping.
                let at = rng.below(disk.size() + 1);
                let _ = disk.add_region(at, len, source);
            } else {
                disk.append_region(len, source).unwrap();
            }
        }
        for _ in 0..rng.below(5) {
            let len = 1 + rng.below(200).min(disk.size().saturating_sub(1));
            if disk.size() >= len {
                let at = rng.below(disk.size() - len + 1);
                disk.add_override(at, (0..len).map(|_| rng.next() as u8).collect()).unwrap();
            }
        }
        (disk, MemDevice::from_vec(phys))
    }

    #[test]
    fn random_layouts_match_the_naive_reference() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut cases = 0;
        for layout in 0..300 {
            let (disk, mut dev) = random_layout(&mut rng);
            let phys = dev.data.clone();
            let size = disk.size();
            assert_eq!(size % u64::from(disk.block_size()), 0);
            assert!(size >= disk.image_len());
            // The whole disk.
            let mut all = vec![0u8; size as usize];
            disk.read(&mut dev, 0, &mut all).unwrap();
            assert_eq!(all, naive(&disk, &phys, 0, size as usize), "layout {layout}: whole disk");
            // Random ranges: every piece must equal the matching slice of the whole.
            for _ in 0..20 {
                let offset = rng.below(size + 1);
                let len = rng.below(size - offset + 1) as usize;
                let mut buf = vec![0xEEu8; len];
                disk.read(&mut dev, offset, &mut buf).unwrap();
                assert_eq!(
                    buf[..],
                    all[offset as usize..offset as usize + len],
                    "layout {layout}: {offset}+{len}"
                );
                cases += 1;
            }
            // Every offset with short lengths, for some layouts.
            if layout % 25 == 0 {
                for offset in 0..size {
                    let len = (1 + (offset % 7) as usize * 97).min((size - offset) as usize);
                    let mut buf = vec![0u8; len];
                    disk.read(&mut dev, offset, &mut buf).unwrap();
                    assert_eq!(buf[..], all[offset as usize..offset as usize + len]);
                    cases += 1;
                }
            }
            // Whole blocks.
            let bs = disk.block_size() as usize;
            if disk.block_count() > 0 {
                let lba = rng.below(disk.block_count());
                let n = 1 + rng.below(disk.block_count() - lba) as usize;
                let mut buf = vec![0u8; n * bs];
                disk.read_blocks(&mut dev, lba, &mut buf).unwrap();
                assert_eq!(buf[..], all[lba as usize * bs..(lba as usize + n) * bs]);
            }
            // Out of range.
            let mut one = [0u8; 1];
            assert!(matches!(
                disk.read(&mut dev, size, &mut one),
                Err(IoError::OutOfBounds { .. })
            ));
            assert!(matches!(
                disk.read(&mut dev, u64::MAX, &mut one),
                Err(IoError::OutOfBounds { .. })
            ));
            assert!(disk.read(&mut dev, size, &mut []).is_ok());
            assert!(disk.read_blocks(&mut dev, u64::MAX / 2, &mut vec![0u8; bs]).is_err());
            assert!(disk.read_blocks(&mut dev, 0, &mut vec![0u8; bs + 1]).is_err());
            // Pieces tile the buffer exactly, and no two neighbours could have been merged.
            let pieces: Vec<ReadPiece> = disk.plan_read(0, size as usize).unwrap().collect();
            let mut at = 0;
            for (i, p) in pieces.iter().enumerate() {
                assert_eq!(p.buf_offset, at);
                assert!(p.len > 0);
                at += p.len;
                if i > 0 {
                    assert!(!merge(pieces[i - 1].source, pieces[i - 1].len as u64, p.source));
                }
            }
            assert_eq!(at, size as usize);
        }
        assert!(cases > 5000, "{cases}");
    }

    #[test]
    fn contiguous_reads_are_one_device_read() {
        let mib = 1u64 << 20;
        let phys = MemDevice::new(8 << 20);
        let mut dev = Counting { inner: phys, reads: Vec::new() };
        // A 4 MiB file in one extent, and the same file split in two adjacent extents.
        for extents in [
            vec![ext(0, mib, 4 * mib)],
            vec![ext(0, mib, mib + 512), ext(mib + 512, 2 * mib + 512, 3 * mib - 512)],
        ] {
            let disk = VirtualMedium::new(2048, 4 * mib, 4096, extents).unwrap();
            dev.reads.clear();
            let mut buf = vec![0u8; mib as usize];
            disk.read(&mut dev, 3 * 2048, &mut buf).unwrap();
            assert_eq!(dev.reads, [(4096 + mib + 3 * 2048, mib as usize)]);
            assert_eq!(disk.plan_read(0, 4 * mib as usize).unwrap().count(), 1);
        }
        // Fragmented: one read per fragment; a hole costs no read.
        let disk = VirtualMedium::new(
            512,
            3000,
            0,
            vec![ext(0, 5000, 1000), ext(1000, 100, 1000), ext(2500, 9000, 500)],
        )
        .unwrap();
        dev.reads.clear();
        let mut buf = vec![0xAAu8; 3000];
        disk.read(&mut dev, 0, &mut buf).unwrap();
        assert_eq!(dev.reads, [(5000, 1000), (100, 1000), (9000, 500)]);
        assert!(buf[2000..2500].iter().all(|&b| b == 0));
        // Two image regions that continue each other on the device merge into one read.
        let mut disk = VirtualMedium::new(2048, 4096, 0, vec![ext(0, 10_000, 4096)]).unwrap();
        disk.add_region(4096, 2048, RegionSource::Image { offset: 0 }).unwrap();
        disk.add_region(6144, 2048, RegionSource::Image { offset: 2048 }).unwrap();
        dev.reads.clear();
        let mut buf = vec![0u8; 8192];
        disk.read(&mut dev, 0, &mut buf).unwrap();
        assert_eq!(dev.reads, [(10_000, 4096), (10_000, 4096)]);
        assert_eq!(buf[..4096], buf[4096..]);
    }

    #[test]
    fn layers_holes_regions_overrides() {
        let phys: Vec<u8> = (0..10_000u32).map(|i| (i % 256) as u8).collect();
        let mut dev = MemDevice::from_vec(phys);
        // Image of 3000 bytes: [0,1000) at device 1000, hole [1000,1500), [1500,2600) at
        // device 5000, hole [2600,3000) (valid data length); partition at 100.
        let mut disk =
            VirtualMedium::new(512, 3000, 100, vec![ext(0, 1000, 1000), ext(1500, 5000, 1100)])
                .unwrap();
        assert_eq!((disk.size(), disk.block_count()), (3072, 6));
        let at = disk.append_region(1000, RegionSource::Memory(vec![7; 600].into())).unwrap();
        assert_eq!(at, 3072);
        assert_eq!(disk.size(), 4096);
        let at2 = disk.append_region(100, RegionSource::Image { offset: 10 }).unwrap();
        assert_eq!(at2, 4096);
        assert_eq!(disk.size(), 4608);
        // Override spanning the end of the first extent, the hole and the next extent.
        disk.add_override(990, vec![1; 600]).unwrap();
        // Override spanning the end of the image and the start of the memory region.
        disk.add_override(3070, vec![2; 4]).unwrap();
        disk.add_override(3071, vec![3]).unwrap();
        let mut all = vec![0u8; 4608];
        disk.read(&mut dev, 0, &mut all).unwrap();
        assert_eq!(all[0], ((1100) % 256) as u8);
        assert_eq!(all[989], ((1100 + 989) % 256) as u8);
        assert!(all[990..1590].iter().all(|&b| b == 1));
        assert_eq!(all[1590], ((5100 + 90) % 256) as u8);
        assert!(all[2600..3070].iter().all(|&b| b == 0));
        assert_eq!(all[3070..3074], [2, 3, 2, 2]);
        assert!(all[3074..3672].iter().all(|&b| b == 7));
        assert!(all[3672..4096].iter().all(|&b| b == 0));
        assert_eq!(all[4096], ((1100 + 10) % 256) as u8);
        assert!(all[4196..].iter().all(|&b| b == 0));
    }

    #[test]
    fn drive_file_region_reads_another_file_through_its_extents() {
        let phys: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut dev = Counting { inner: MemDevice::from_vec(phys.clone()), reads: Vec::new() };
        // Image: 4096 bytes at partition offset 0 (partition at 1000). The other file: 3000
        // bytes, [0,1000) at 8000, [1000,1500) at 9000 (continues the first on the device),
        // hole [1500,2000), [2000,3000) at 500.
        let mut disk = VirtualMedium::new(2048, 4096, 1000, vec![ext(0, 0, 4096)]).unwrap();
        let file = vec![
            ext(0, 8000, 1000),
            ext(1200, 0, 0), // empty: dropped
            ext(1000, 9000, 500),
            ext(2000, 500, 1000),
        ];
        let at = disk.append_region(3000, RegionSource::DriveFile(file.into())).unwrap();
        match &disk.regions()[0].source {
            RegionSource::DriveFile(e) => assert_eq!(e.len(), 3),
            other => panic!("{other:?}"),
        }
        assert_eq!((at, disk.size()), (4096, 8192));
        let mut buf = vec![0xEEu8; 4096];
        dev.reads.clear();
        disk.read(&mut dev, at, &mut buf).unwrap();
        assert_eq!(dev.reads, [(9000, 1500), (1500, 1000)], "adjacent extents: one read");
        assert_eq!(buf[..1500], phys[9000..10_500]);
        assert!(buf[1500..2000].iter().all(|&b| b == 0));
        assert_eq!(buf[2000..3000], phys[1500..2500]);
        assert!(buf[3000..].iter().all(|&b| b == 0), "past the region: zeros");
    }

    #[test]
    fn construction_is_validated() {
        assert_eq!(
            VirtualMedium::new(1000, 10, 0, vec![]),
            Err(VirtualMediumError::BadBlockSize(1000))
        );
        assert_eq!(
            VirtualMedium::new(256, 10, 0, vec![]),
            Err(VirtualMediumError::BadBlockSize(256))
        );
        assert_eq!(
            VirtualMedium::new(512, 100, 0, vec![ext(50, 0, 10), ext(10, 0, 10)]),
            Err(VirtualMediumError::ExtentsUnsorted { index: 1 })
        );
        assert_eq!(
            VirtualMedium::new(512, 100, 0, vec![ext(0, 0, 10), ext(9, 0, 10)]),
            Err(VirtualMediumError::ExtentOverlap { index: 1 })
        );
        assert_eq!(
            VirtualMedium::new(512, 100, 0, vec![ext(95, 0, 10)]),
            Err(VirtualMediumError::ExtentBeyondImage { index: 0 })
        );
        assert_eq!(
            VirtualMedium::new(512, 100, 0, vec![ext(u64::MAX, 0, 10)]),
            Err(VirtualMediumError::ExtentOverflow { index: 0 })
        );
        assert_eq!(
            VirtualMedium::new(512, 100, u64::MAX - 5, vec![ext(0, 0, 10)]),
            Err(VirtualMediumError::ExtentOverflow { index: 0 })
        );
        assert_eq!(
            VirtualMedium::new(512, u64::MAX, 0, vec![]),
            Err(VirtualMediumError::SizeOverflow)
        );
        // Empty extents are dropped.
        let d = VirtualMedium::new(512, 100, 0, vec![ext(0, 0, 0), ext(0, 0, 10)]).unwrap();
        assert_eq!(d.extents().len(), 1);
        let mut d = VirtualMedium::new(512, 1000, 0, vec![ext(0, 0, 1000)]).unwrap();
        assert_eq!(
            d.add_region(0, 0, RegionSource::Memory(vec![].into())),
            Err(VirtualMediumError::EmptyRegion)
        );
        assert_eq!(
            d.add_region(0, 4, RegionSource::Memory(vec![1; 5].into())),
            Err(VirtualMediumError::MemoryTooLong { len: 4, data: 5 })
        );
        assert!(matches!(
            d.add_region(2000, 10, RegionSource::Image { offset: 995 }),
            Err(VirtualMediumError::RegionSourceBeyondImage { .. })
        ));
        assert!(matches!(
            d.add_region(2000, 10, RegionSource::Image { offset: u64::MAX }),
            Err(VirtualMediumError::RegionSourceBeyondImage { .. })
        ));
        assert_eq!(
            d.add_region(u64::MAX, 2, RegionSource::Memory(vec![].into())),
            Err(VirtualMediumError::SizeOverflow)
        );
        let order = "is out of order or overlaps the previous one";
        for (extents, index, why) in [
            (vec![ext(0, 0, 10), ext(5, 0, 10)], 1, order),
            (vec![ext(20, 0, 5), ext(10, 0, 10)], 1, order),
            (vec![ext(0, 0, 10), ext(95, 0, 10)], 1, "reaches past the region"),
            (vec![ext(u64::MAX, 0, 2)], 0, "has offsets that overflow"),
            (vec![ext(0, u64::MAX, 2)], 0, "has offsets that overflow"),
        ] {
            assert_eq!(
                d.add_region(2000, 100, RegionSource::DriveFile(extents.into())),
                Err(VirtualMediumError::RegionExtent { index, why }),
            );
        }
        assert!(d.regions().is_empty());
        d.add_region(2000, 100, RegionSource::Memory(vec![].into())).unwrap();
        assert!(matches!(
            d.add_region(2099, 10, RegionSource::Memory(vec![].into())),
            Err(VirtualMediumError::RegionOverlap { .. })
        ));
        assert!(matches!(
            d.add_region(1950, 51, RegionSource::Memory(vec![].into())),
            Err(VirtualMediumError::RegionOverlap { .. })
        ));
        d.add_region(1950, 50, RegionSource::Memory(vec![].into())).unwrap();
        d.add_region(2100, 1, RegionSource::Memory(vec![].into())).unwrap();
        assert_eq!(d.regions().iter().map(|r| r.at).collect::<Vec<_>>(), [1950, 2000, 2100]);
        assert_eq!(d.size(), 2560);
        assert!(matches!(
            d.add_override(2559, vec![0, 0]),
            Err(VirtualMediumError::OverrideOutOfBounds { .. })
        ));
        assert!(matches!(
            d.add_override(u64::MAX, vec![0]),
            Err(VirtualMediumError::OverrideOutOfBounds { .. })
        ));
        d.add_override(2558, vec![0, 0]).unwrap();
    }

    #[test]
    fn iso_through_a_virtual_disk_with_a_redirected_file() {
        use crate::iso9660::{self, test_image::sample, RECORD_EXTENT_FIELD};
        // Scatter the sample ISO over a "physical disk" in 3 fragments, partition at 1 MiB.
        let iso = sample().data;
        let part = 1u64 << 20;
        let mut phys = vec![0u8; (part as usize) + 4 * iso.len()];
        let frags = [
            (0u64, 3 * iso.len() as u64, 30_000u64),
            (30_000, 0, 20_000),
            (50_000, iso.len() as u64, iso.len() as u64 - 50_000),
        ];
        let mut extents = Vec::new();
        for (fo, dof, len) in frags {
            let at = (part + dof) as usize;
            phys[at..at + len as usize].copy_from_slice(&iso[fo as usize..(fo + len) as usize]);
            extents.push(ext(fo, dof, len));
        }
        let mut dev = MemDevice::from_vec(phys);
        let mut disk = VirtualMedium::new(2048, iso.len() as u64, part, extents).unwrap();
        let info = iso9660::probe(&mut disk.reader(&mut dev)).unwrap();
        assert_eq!(info.volume_id, "SAMPLE_VOL");
        let cfg = iso9660::lookup(&mut disk.reader(&mut dev), &info.primary, "/boot/grub/grub.cfg")
            .unwrap();
        // Redirect grub.cfg to new content in a region past the end of the ISO.
        let new = b"menuentry polyboot {}\n".to_vec();
        let at = disk.append_region(2048, RegionSource::Memory(new.clone().into())).unwrap();
        let lba = (at / 2048) as u32;
        disk.add_override(
            cfg.record_offset() + RECORD_EXTENT_FIELD,
            iso9660::extent_fields(lba, new.len() as u32).to_vec(),
        )
        .unwrap();
        let mut r = disk.reader(&mut dev);
        let info = iso9660::probe(&mut r).unwrap();
        let cfg2 = iso9660::lookup(&mut r, &info.primary, "/boot/grub/grub.cfg").unwrap();
        assert_eq!(cfg2.record_offset(), cfg.record_offset());
        assert_eq!(iso9660::read_to_vec(&mut r, &cfg2, 4096).unwrap(), new);
        let other = iso9660::lookup(&mut r, &info.primary, "/readme.txt").unwrap();
        assert_eq!(iso9660::read_to_vec(&mut r, &other, 4096).unwrap(), b"hello iso\n");
    }
}
