//! The virtual medium model against a byte-by-byte reference. The input is a small description
//! (block size, image length, extents, regions, overrides, then reads; see
//! common/vdisk_desc.rs) of a virtual medium over a physical disk (a `MemDevice` of at most
//! 768 KiB with a fixed pattern).
//!
//! Construction may refuse the layout, but exactly when the reference says it is invalid.
//! Every read is compared with the reference written here from the module's documentation
//! (image bytes through the extents, holes and the tail as zeros, regions over that (memory,
//! image ranges, other files through their own extents),
//! overrides last with later ones winning; an error exactly when the range leaves the disk or
//! some byte needs a physical read past the device), and its plan must cover the buffer with
//! maximally merged pieces, one device read per device piece.
#![no_main]

#[path = "../common/vdisk_desc.rs"]
mod vdisk_desc;

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::{IoError, MemDevice, ReadAt};
use polyboot_core::virtual_medium::{Extent, PieceSource, RegionSource, VirtualMedium};
use vdisk_desc::{Desc, ReadDesc, SourceDesc};

thread_local! {
    /// The physical disk, grown or cut to each input's length (the pattern never changes).
    static DEVICE: RefCell<MemDevice> = RefCell::new(MemDevice::default());
}

fuzz_target!(|data: &[u8]| {
    let desc = vdisk_desc::decode(data);
    DEVICE.with_borrow_mut(|dev| {
        let len = desc.device_len as usize;
        dev.data.truncate(len);
        while dev.data.len() < len {
            let i = dev.data.len() as u64;
            dev.data.push(vdisk_desc::device_byte(i));
        }
        run(&desc, dev);
    });
});

/// A physical disk that counts its reads.
struct Counting<'a> {
    dev: &'a mut MemDevice,
    reads: usize,
}

impl ReadAt for Counting<'_> {
    fn size(&self) -> u64 {
        self.dev.size()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.reads += 1;
        self.dev.read_at(offset, buf)
    }
}

enum Src {
    Memory(Vec<u8>),
    Image(u64),
    /// Another file on the partition: its extents.
    DriveFile(Vec<Extent>),
}

/// What the disk should be, kept independently of `VirtualMedium`.
struct Model {
    bs: u64,
    image_len: u64,
    partition_offset: u64,
    extents: Vec<Extent>,
    /// Insertion order (the model does not need them sorted).
    regions: Vec<(u64, u64, Src)>,
    overrides: Vec<(u64, Vec<u8>)>,
    size: u64,
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    Some(v.checked_add(to - 1)? / to * to)
}

impl Model {
    /// `None` exactly when the layout is invalid.
    fn new(bs: u32, image_len: u64, partition_offset: u64, extents: &[Extent]) -> Option<Model> {
        if !bs.is_power_of_two() || !(512..=65536).contains(&bs) {
            return None;
        }
        let mut kept: Vec<Extent> = Vec::new();
        for e in extents.iter().filter(|e| e.len > 0) {
            let end = e.file_offset.checked_add(e.len)?;
            partition_offset.checked_add(e.device_offset)?.checked_add(e.len)?;
            if end > image_len {
                return None;
            }
            if let Some(prev) = kept.last() {
                // Sorted and disjoint: each starts at or after the previous one's end.
                if e.file_offset < prev.file_offset + prev.len {
                    return None;
                }
            }
            kept.push(*e);
        }
        Some(Model {
            bs: u64::from(bs),
            image_len,
            partition_offset,
            extents: kept,
            regions: Vec::new(),
            overrides: Vec::new(),
            size: round_up(image_len, u64::from(bs))?,
        })
    }

    /// Whether `add_region(at, len, src)` must be accepted (then applies it).
    fn add_region(&mut self, at: u64, len: u64, src: Src) -> bool {
        if len == 0 {
            return false;
        }
        let Some(end) = at.checked_add(len) else {
            return false;
        };
        let source_ok = match &src {
            Src::Memory(data) => data.len() as u64 <= len,
            Src::Image(offset) => offset.checked_add(len).is_some_and(|e| e <= self.image_len),
            Src::DriveFile(extents) => self.file_extents_ok(extents, len),
        };
        let overlaps = self.regions.iter().any(|&(a, l, _)| a < end && at < a + l);
        let Some(new_size) = round_up(end, self.bs) else {
            return false;
        };
        if !source_ok || overlaps {
            return false;
        }
        self.size = self.size.max(new_size);
        self.regions.push((at, len, src));
        true
    }

    fn add_override(&mut self, at: u64, bytes: Vec<u8>) -> bool {
        if at.checked_add(bytes.len() as u64).is_none_or(|e| e > self.size) {
            return false;
        }
        if !bytes.is_empty() {
            self.overrides.push((at, bytes));
        }
        true
    }

    /// A drive file's extents for a region of `len` bytes: no offset overflows, every
    /// extent inside the region, the non-empty ones in order and disjoint.
    fn file_extents_ok(&self, extents: &[Extent], len: u64) -> bool {
        let mut prev_end = 0u64;
        for e in extents {
            let Some(end) = e.file_offset.checked_add(e.len) else { return false };
            let device_end = self
                .partition_offset
                .checked_add(e.device_offset)
                .and_then(|d| d.checked_add(e.len));
            if device_end.is_none() || end > len {
                return false;
            }
            if e.len > 0 {
                if e.file_offset < prev_end {
                    return false;
                }
                prev_end = end;
            }
        }
        true
    }

    /// Image byte `q`: `Err` when it needs a physical read past the device.
    fn image_byte(&self, dev: &[u8], q: u64) -> Result<u8, ()> {
        self.file_byte(&self.extents, dev, q)
    }

    /// Byte `q` of a file with these extents (zero where none covers it).
    fn file_byte(&self, extents: &[Extent], dev: &[u8], q: u64) -> Result<u8, ()> {
        for e in extents {
            if e.file_offset <= q && q < e.file_offset + e.len {
                let at = self.partition_offset + e.device_offset + (q - e.file_offset);
                return dev.get(at as usize).copied().filter(|_| at < dev.len() as u64).ok_or(());
            }
        }
        Ok(0)
    }

    /// Byte `p` (< size) before overrides.
    fn base_byte(&self, dev: &[u8], p: u64) -> Result<u8, ()> {
        for (at, len, src) in &self.regions {
            if *at <= p && p < at + len {
                let within = p - at;
                return match src {
                    Src::Memory(data) => Ok(data.get(within as usize).copied().unwrap_or(0)),
                    Src::Image(offset) => self.image_byte(dev, offset + within),
                    Src::DriveFile(extents) => self.file_byte(extents, dev, within),
                };
            }
        }
        if p < self.image_len {
            self.image_byte(dev, p)
        } else {
            Ok(0)
        }
    }

    fn read(&self, dev: &[u8], offset: u64, len: usize) -> Result<Vec<u8>, ()> {
        if offset.checked_add(len as u64).is_none_or(|e| e > self.size) {
            return Err(());
        }
        let mut out = Vec::with_capacity(len);
        for i in 0..len as u64 {
            out.push(self.base_byte(dev, offset + i)?);
        }
        for (at, bytes) in &self.overrides {
            for (i, &b) in bytes.iter().enumerate() {
                let p = at + i as u64;
                if p >= offset && p < offset + len as u64 {
                    out[(p - offset) as usize] = b;
                }
            }
        }
        Ok(out)
    }
}

/// Extents from their descriptions (relative ones start after the previous one's end).
fn file_extents(descs: &[vdisk_desc::ExtentDesc]) -> Vec<Extent> {
    let mut extents = Vec::new();
    let mut prev_end = 0u64;
    for e in descs {
        let file_offset = if e.absolute { e.offset } else { prev_end.saturating_add(e.offset) };
        prev_end = file_offset.saturating_add(e.len);
        extents.push(Extent { file_offset, device_offset: e.device_offset, len: e.len });
    }
    extents
}

fn run(desc: &Desc, dev: &mut MemDevice) {
    let extents = file_extents(&desc.extents);
    let model = Model::new(desc.block_size, desc.image_len, desc.partition_offset, &extents);
    let disk = VirtualMedium::new(desc.block_size, desc.image_len, desc.partition_offset, extents);
    let (mut disk, mut model) = match (disk, model) {
        (Ok(disk), Some(model)) => (disk, model),
        (Err(e), None) => {
            let _ = e.to_string();
            return;
        }
        (disk, model) => panic!(
            "VirtualMedium::new gave {:?} for a layout the reference finds {}",
            disk.map(|_| ()),
            if model.is_some() { "valid" } else { "invalid" }
        ),
    };
    assert_eq!(disk.extents(), &model.extents[..]);
    assert_eq!(disk.size(), model.size);

    for r in &desc.regions {
        let (source, src) = match r.source {
            SourceDesc::Memory { len, fill } => {
                let data: Vec<u8> =
                    (0..len as usize).map(|i| vdisk_desc::fill_byte(fill, i)).collect();
                (RegionSource::Memory(data.as_slice().into()), Src::Memory(data))
            }
            SourceDesc::Image { offset } => (RegionSource::Image { offset }, Src::Image(offset)),
            SourceDesc::DriveFile { ref extents } => {
                let extents = file_extents(extents);
                (RegionSource::DriveFile(extents.clone().into()), Src::DriveFile(extents))
            }
        };
        let at = r.at.unwrap_or(model.size);
        let expect = model.add_region(at, r.len, src);
        let got = match r.at {
            Some(at) => disk.add_region(at, r.len, source).map(|()| at),
            None => disk.append_region(r.len, source),
        };
        match got {
            Ok(placed) => {
                assert!(expect, "region of {} bytes at {at} accepted", r.len);
                assert_eq!(placed, at);
            }
            Err(e) => {
                assert!(!expect, "region of {} bytes at {at} refused: {e}", r.len);
            }
        }
        assert_eq!(disk.size(), model.size);
    }
    let regions = disk.regions();
    assert_eq!(regions.len(), model.regions.len());
    assert!(regions.windows(2).all(|w| w[0].at + w[0].len <= w[1].at));

    for o in &desc.overrides {
        let at = o.at.resolve(model.size);
        let bytes: Vec<u8> =
            (0..o.len as usize).map(|i| vdisk_desc::fill_byte(o.fill, i)).collect();
        let expect = model.add_override(at, bytes.clone());
        match disk.add_override(at, bytes) {
            Ok(()) => assert!(expect, "override of {} bytes at {at} accepted", o.len),
            Err(e) => assert!(!expect, "override of {} bytes at {at} refused: {e}", o.len),
        }
    }
    assert_eq!(disk.overrides().len(), model.overrides.len());

    let bs = disk.block_size();
    assert_eq!(u64::from(bs), model.bs);
    assert_eq!(disk.size() % model.bs, 0);
    assert_eq!(disk.block_count() * model.bs, disk.size());
    assert_eq!(disk.image_len(), desc.image_len);
    assert_eq!(disk.partition_offset(), desc.partition_offset);

    for read in &desc.reads {
        match *read {
            ReadDesc::Read { at, len } => {
                let offset = at.resolve(model.size);
                check_read(&disk, &model, dev, offset, len as usize);
            }
            ReadDesc::Blocks { lba, blocks, short } => {
                // At most 16 KiB (one block when blocks are larger): the reference is slow.
                let blocks = u64::from(blocks).min((16384 / model.bs).max(1));
                let len = (blocks * model.bs) as usize - usize::from(short && blocks > 0);
                let mut buf = vec![0u8; len];
                let got = disk.read_blocks(&mut *dev, lba, &mut buf);
                if len as u64 % model.bs != 0 {
                    assert!(got.is_err(), "read_blocks of {len} bytes accepted");
                    continue;
                }
                let expect = lba
                    .checked_mul(model.bs)
                    .ok_or(())
                    .and_then(|offset| model.read(&dev.data, offset, len));
                compare(got.map(|()| buf), expect, "read_blocks", lba, len);
            }
            ReadDesc::Reader { at, len } => {
                let offset = at.resolve(model.size);
                let mut reader = disk.reader(&mut *dev);
                assert_eq!(reader.size(), model.size);
                let mut buf = vec![0u8; len as usize];
                let got = reader.read_at(offset, &mut buf).map(|()| buf);
                let expect = model.read(&dev.data, offset, len as usize);
                compare(got, expect, "MediumReader::read_at", offset, len as usize);
            }
        }
    }
}

fn check_read(disk: &VirtualMedium, model: &Model, dev: &mut MemDevice, offset: u64, len: usize) {
    let expect = model.read(&dev.data, offset, len);
    let mut counting = Counting { dev, reads: 0 };
    let mut buf = vec![0u8; len];
    let got = disk.read(&mut counting, offset, &mut buf).map(|()| buf);
    let reads = counting.reads;
    let ok = got.is_ok();
    compare(got, expect, "read", offset, len);

    match disk.plan_read(offset, len) {
        Err(e) => {
            assert!(!ok);
            let _ = e.to_string();
        }
        Ok(plan) => {
            let pieces: Vec<_> = plan.collect();
            let mut pos = 0usize;
            for p in &pieces {
                assert_eq!(p.buf_offset, pos, "pieces must be consecutive: {pieces:?}");
                assert!(p.len > 0, "empty piece: {pieces:?}");
                pos += p.len;
            }
            assert_eq!(pos, len, "pieces must cover the read: {pieces:?}");
            for w in pieces.windows(2) {
                let mergeable = match (w[0].source, w[1].source) {
                    (PieceSource::Zero, PieceSource::Zero) => true,
                    (PieceSource::Device { offset: a }, PieceSource::Device { offset: b }) => {
                        a + w[0].len as u64 == b
                    }
                    (
                        PieceSource::Memory { region: r, offset: a },
                        PieceSource::Memory { region: s, offset: b },
                    ) => r == s && a + w[0].len == b,
                    _ => false,
                };
                assert!(!mergeable, "pieces left unmerged: {pieces:?}");
            }
            let device_pieces =
                pieces.iter().filter(|p| matches!(p.source, PieceSource::Device { .. })).count();
            if ok {
                assert_eq!(reads, device_pieces, "device reads for {pieces:?}");
            }
        }
    }
}

fn compare(
    got: Result<Vec<u8>, IoError>,
    expect: Result<Vec<u8>, ()>,
    what: &str,
    at: u64,
    len: usize,
) {
    match (got, expect) {
        (Ok(got), Ok(expect)) => {
            if got != expect {
                let i = got.iter().zip(&expect).position(|(a, b)| a != b).unwrap();
                panic!(
                    "{what} of {len} bytes at {at}: byte {i} (disk offset {}) is {:#04x}, the reference says {:#04x}",
                    at + i as u64,
                    got[i],
                    expect[i]
                );
            }
        }
        (Err(e), Err(())) => {
            let _ = e.to_string();
        }
        (got, expect) => panic!(
            "{what} of {len} bytes at {at}: got {:?}, the reference says {}",
            got.map(|_| ()),
            if expect.is_ok() { "Ok" } else { "an error" }
        ),
    }
}
