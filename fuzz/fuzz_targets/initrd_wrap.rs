//! `initrd_wrap::plan` / `apply` on initrd lists built from the input: an image of at most
//! 64 KiB (1 MiB with mode bit 4), a start offset (usually small, sometimes anything), a hook archive (arbitrary bytes
//! or a real `hook_archive`), and up to 80 `InitrdFile`s whose records, sizes and sections
//! may be sane, aliased (same data under two names), outside the image or split. Must never
//! panic; beyond that:
//!
//! - every input initrd with records is listed exactly once, either among a wrapped file's
//!   `paths` or in `skipped`; `MultiExtent` / `OutsideImage` exactly when its records say so,
//!   `TooMany` only past `MAX_WRAPPED`, `TooLarge` only when a size or LBA would not fit
//!   32 bits; wrapped files are numbered `original_name(0..)`, their data lies inside the
//!   image, and two paths share a wrapped file exactly when they name the same data;
//! - regions are non-empty, sorted, non-overlapping, at or after `max(start, image_len)`
//!   rounded up to 2048, and tile each wrapped file exactly (hook archive, then the original
//!   archive's memory and image parts); every wrapped file starts on a 2048-byte boundary
//!   and its length and LBA fit 32 bits;
//! - the overrides are, in file order, one per record of each wrapped path: 17 bytes at the
//!   record's extended-attribute byte, inside the image, `0` then the wrapped file's LBA and
//!   length both-endian;
//! - `apply` onto `VirtualMedium::new(2048, image_len, 0, [whole image])` succeeds, the disk
//!   ends where the last region does; read through the disk over a `MemDevice`, the image
//!   is itself with the overrides applied (in order), and each wrapped file is the hook
//!   archive, a newc header naming `polyboot/initrds/NNNN` with the original's size, the
//!   original bytes, padding and a `TRAILER!!!` entry, nothing more.
#![no_main]

#[path = "../common/input_bytes.rs"]
mod input_bytes;
use input_bytes::Bytes;
use std::cell::RefCell;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::{MemDevice, ReadAt};
use polyboot_core::bootcfg::{FileRecord, InitrdFile, TreeKind};
use polyboot_core::initrd_wrap::{
    self, original_archive, original_name, SkipReason, WrapPlan, MAX_WRAPPED,
};
use polyboot_core::iso9660::Section;
use polyboot_core::virtual_medium::{Extent, RegionSource, VirtualMedium};

const SECTOR: u64 = 2048;
const MAX_IMAGE: u64 = 1 << 20;

thread_local! {
    /// The image, grown or cut to each input's length (the pattern never changes).
    static IMAGE: RefCell<MemDevice> = RefCell::new(MemDevice::default());
}

fn image_byte(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9) >> 13) as u8 ^ (i as u8)
}

struct Input {
    image_len: u64,
    start: u64,
    hook: Arc<[u8]>,
    initrds: Vec<InitrdFile>,
}

fn decode(data: &[u8]) -> Input {
    let mut b = Bytes(data);
    let mode = b.u8();
    // Small images (<= 64 KiB) keep most inputs fast; mode bit 4 allows up to 1 MiB.
    let image_len = if mode & 0x10 != 0 { b.u64(3) % (MAX_IMAGE + 1) } else { b.u64(2) };
    let start = match mode & 3 {
        0 => 0,
        1 => b.u64(3),
        2 => image_len + b.u64(2),
        _ => b.u64(8),
    };
    let hook: Arc<[u8]> = if mode & 4 != 0 {
        let n = usize::from(b.u8() % 64);
        let hook = b.take(n);
        let n = usize::from(b.u8() % 16);
        let handoff = b.take(n);
        initrd_wrap::hook_archive(&hook, &handoff).expect("hook archive").into()
    } else {
        let n = usize::from(b.u8());
        b.take(n).into()
    };
    let count = usize::from(b.u8()) % if mode & 8 != 0 { 80 } else { 9 };
    let blocks = image_len / SECTOR + 2;
    let mut initrds: Vec<InitrdFile> = Vec::with_capacity(count);
    for i in 0..count {
        let flags = b.u8();
        // Same data as an earlier initrd (another name for it), or new.
        let (lba, size) = match initrds.get(usize::from(b.u8())).filter(|_| flags & 4 != 0) {
            Some(prev) => (prev.records[0].lba, prev.records[0].size),
            None => {
                let lba =
                    if flags & 0x80 != 0 { b.u64(4) as u32 } else { (b.u64(2) % blocks) as u32 };
                let size = match (flags >> 3) & 3 {
                    0 => b.u64(2),
                    1 => b.u64(3),
                    2 => image_len.saturating_sub(u64::from(lba) * SECTOR),
                    _ => b.u64(8),
                };
                (lba, size)
            }
        };
        // Always at least one record when the input has bytes left, so that "no records"
        // (which plan() ignores) is only a small part of the inputs.
        let nrec = usize::from(flags % 4).max(usize::from(!b.0.is_empty()));
        let mut records = Vec::new();
        for r in 0..nrec {
            let rf = b.u8();
            let record_offset = if rf & 0x80 != 0 { b.u64(8) } else { b.u64(3) % (image_len + 64) };
            let (rlba, rsize) =
                if r > 0 && rf & 0x40 != 0 { (b.u64(2) as u32, b.u64(2)) } else { (lba, size) };
            let section =
                Section { record_offset, offset: u64::from(rlba) * SECTOR, len: rsize as u32 };
            let sections = if rf % 8 == 0 { vec![section, section] } else { vec![section] };
            records.push(FileRecord {
                tree: if rf & 0x20 != 0 { TreeKind::Joliet } else { TreeKind::Primary },
                record_offset,
                lba: rlba,
                size: rsize,
                sections,
            });
        }
        initrds.push(InitrdFile { path: format!("/i{i}"), size, records });
    }
    Input { image_len, start, hook, initrds }
}

fuzz_target!(|data: &[u8]| {
    let input = decode(data);
    let plan = initrd_wrap::plan(&input.initrds, input.image_len, input.start, input.hook.clone());
    check_plan(&input, &plan);
    IMAGE.with_borrow_mut(|dev| {
        let len = input.image_len as usize;
        dev.data.truncate(len);
        while dev.data.len() < len {
            let i = dev.data.len() as u64;
            dev.data.push(image_byte(i));
        }
        check_apply(&input, &plan, dev);
    });
});

fn round_up(v: u64) -> Option<u64> {
    v.checked_add(SECTOR - 1).map(|x| x / SECTOR * SECTOR)
}

fn check_plan(input: &Input, plan: &WrapPlan) {
    let hook_len = input.hook.len() as u64;
    let Some(base) = round_up(input.start.max(input.image_len)) else {
        assert_eq!(plan, &WrapPlan::default(), "start {} cannot be rounded", input.start);
        return;
    };

    // Each initrd once, with the right verdict.
    let mut wrapped_of: Vec<Option<usize>> = Vec::new();
    for f in &input.initrds {
        let in_wrapped: Vec<usize> =
            (0..plan.wrapped.len()).filter(|&i| plan.wrapped[i].paths.contains(&f.path)).collect();
        let skipped: Vec<SkipReason> =
            plan.skipped.iter().filter(|s| s.path == f.path).map(|s| s.reason).collect();
        for i in &in_wrapped {
            assert_eq!(plan.wrapped[*i].paths.iter().filter(|p| **p == f.path).count(), 1);
        }
        if f.records.is_empty() {
            // Nothing to redirect: plan() leaves such an entry out entirely.
            assert!(in_wrapped.is_empty() && skipped.is_empty(), "{}", f.path);
            wrapped_of.push(None);
            continue;
        }
        assert_eq!(
            in_wrapped.len() + skipped.len(),
            1,
            "{} wrapped in {in_wrapped:?}, skipped {skipped:?}",
            f.path
        );
        let first = &f.records[0];
        let offset = u64::from(first.lba) * SECTOR;
        let multi = f.records.iter().any(|r| r.sections.len() > 1);
        let outside = offset.checked_add(first.size).is_none_or(|e| e > input.image_len)
            || f.records
                .iter()
                .any(|r| r.record_offset.checked_add(18).is_none_or(|e| e > input.image_len));
        match (skipped.first(), in_wrapped.first()) {
            (Some(&reason), None) => {
                let expect = if multi {
                    Some(SkipReason::MultiExtent)
                } else if outside {
                    Some(SkipReason::OutsideImage)
                } else {
                    None
                };
                match expect {
                    Some(e) => assert_eq!(reason, e, "{}", f.path),
                    None => {
                        assert!(
                            matches!(reason, SkipReason::TooMany | SkipReason::TooLarge),
                            "{}: {reason:?}",
                            f.path
                        );
                        // Never skipped when another path already wraps the same data.
                        assert!(!plan
                            .wrapped
                            .iter()
                            .any(|w| w.original_offset == offset && w.original_size == first.size));
                        if reason == SkipReason::TooMany {
                            assert_eq!(plan.wrapped.len(), MAX_WRAPPED);
                        } else {
                            // Too large: the original (<= 1 MiB, inside the image) with the
                            // hook archive cannot reach 4 GiB, so the wrapped file's LBA (at
                            // most MAX_WRAPPED files of ~1 MiB past the base) must not fit.
                            let lba_limit = (u64::from(u32::MAX) + 1) * SECTOR;
                            let reach = MAX_WRAPPED as u64 * (MAX_IMAGE + 2 * SECTOR + 4096);
                            assert!(
                                base.saturating_add(reach) >= lba_limit,
                                "{} too large at base {base}",
                                f.path
                            );
                        }
                    }
                }
                wrapped_of.push(None);
            }
            (None, Some(&i)) => {
                assert!(
                    !multi && !outside,
                    "{} wrapped but multi {multi} outside {outside}",
                    f.path
                );
                let w = &plan.wrapped[i];
                assert_eq!((w.original_offset, w.original_size), (offset, first.size));
                wrapped_of.push(Some(i));
            }
            _ => unreachable!(),
        }
    }
    // Nothing else listed.
    let listed: usize =
        plan.wrapped.iter().map(|w| w.paths.len()).sum::<usize>() + plan.skipped.len();
    let expected = input.initrds.iter().filter(|f| !f.records.is_empty()).count();
    assert_eq!(listed, expected);
    assert!(plan.wrapped.len() <= MAX_WRAPPED);

    // Wrapped files: numbered, distinct data, aligned, in order, 32-bit sizes.
    let mut prev_end = base;
    for (i, w) in plan.wrapped.iter().enumerate() {
        assert!(!w.paths.is_empty());
        assert_eq!(w.name, original_name(i));
        assert_eq!(w.original_offset % SECTOR, 0);
        assert!(w.original_offset + w.original_size <= input.image_len);
        for v in &plan.wrapped[..i] {
            assert!((v.original_offset, v.original_size) != (w.original_offset, w.original_size));
        }
        assert_eq!(w.at % SECTOR, 0);
        assert!(w.at >= prev_end, "wrapped file {i} at {} before {prev_end}", w.at);
        assert!(w.len <= u64::from(u32::MAX));
        assert!(w.at / SECTOR <= u64::from(u32::MAX));
        assert_eq!(u64::from(w.lba()), w.at / SECTOR);
        let archive = original_archive(i, w.original_size).expect("original archive");
        assert_eq!(w.len, hook_len + archive.len());
        prev_end = w.at + w.len;
    }

    // Regions: sorted, disjoint, non-empty, after the base, tiling the wrapped files.
    for r in &plan.regions {
        assert!(r.len > 0 && r.at >= base);
    }
    for pair in plan.regions.windows(2) {
        assert!(pair[0].at + pair[0].len <= pair[1].at, "{:?} {:?}", pair[0].at, pair[1].at);
    }
    let mut regions = plan.regions.iter().peekable();
    for w in &plan.wrapped {
        let mut at = w.at;
        let end = w.at + w.len;
        let mut image_parts = 0;
        while at < end {
            let r = regions.next().expect("a region for every byte of a wrapped file");
            assert_eq!(r.at, at, "regions of {} not contiguous", w.name);
            if at == w.at && hook_len > 0 {
                match &r.source {
                    RegionSource::Memory(m) => assert!(Arc::ptr_eq(m, &input.hook)),
                    other => panic!("first region of {} is {other:?}", w.name),
                }
                assert_eq!(r.len, hook_len);
            } else if let RegionSource::Image { offset } = r.source {
                assert_eq!((offset, r.len), (w.original_offset, w.original_size));
                image_parts += 1;
            }
            at += r.len;
        }
        assert_eq!(at, end, "regions overrun {}", w.name);
        assert_eq!(image_parts, usize::from(w.original_size > 0));
    }
    assert!(regions.next().is_none(), "a region outside every wrapped file");

    // Overrides: one per record of every wrapped path, in file order.
    let mut expect = Vec::new();
    for (f, w) in input.initrds.iter().zip(&wrapped_of) {
        let Some(w) = w.map(|i| &plan.wrapped[i]) else { continue };
        for r in &f.records {
            let lba = w.lba();
            let len = w.len as u32;
            let mut bytes = vec![0u8];
            bytes.extend_from_slice(&lba.to_le_bytes());
            bytes.extend_from_slice(&lba.to_be_bytes());
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(&len.to_be_bytes());
            expect.push((r.record_offset + 1, bytes));
        }
    }
    let got: Vec<(u64, Vec<u8>)> = plan.overrides.iter().map(|o| (o.at, o.bytes.clone())).collect();
    assert_eq!(got, expect);
    for o in &plan.overrides {
        assert!(o.at + 17 <= input.image_len);
    }
}

fn hex_field(h: &[u8], i: usize) -> u64 {
    let s = std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).expect("ASCII header field");
    u64::from_str_radix(s, 16).expect("hex header field")
}

/// One newc entry at `b[at..]` (offsets relative to the archive start `base`): name, size,
/// mode, data range, and the offset of the next entry.
fn newc_entry(b: &[u8], base: usize, at: usize) -> (String, u64, u64, usize, usize) {
    let h = &b[at..at + 110];
    assert_eq!(&h[..6], b"070701");
    let mode = hex_field(h, 1);
    let size = hex_field(h, 6);
    let namesize = hex_field(h, 11) as usize;
    assert!(namesize >= 1);
    let name = &b[at + 110..at + 110 + namesize];
    assert_eq!(name[namesize - 1], 0);
    let name = String::from_utf8(name[..namesize - 1].to_vec()).expect("UTF-8 name");
    let pad = |n: usize| (n - base).div_ceil(4) * 4 + base;
    let data_at = pad(at + 110 + namesize);
    assert!(b[at + 110 + namesize..data_at].iter().all(|&c| c == 0));
    let next = pad(data_at + size as usize);
    assert!(b[data_at + size as usize..next].iter().all(|&c| c == 0));
    (name, size, mode, data_at, next)
}

fn check_apply(input: &Input, plan: &WrapPlan, dev: &mut MemDevice) {
    let image_len = input.image_len;
    let mut disk = VirtualMedium::new(
        2048,
        image_len,
        0,
        vec![Extent { file_offset: 0, device_offset: 0, len: image_len }],
    )
    .expect("a whole-image virtual medium");
    initrd_wrap::apply(plan, &mut disk).expect("apply");
    let end = plan.regions.last().map_or(0, |r| r.at + r.len);
    assert_eq!(disk.size(), round_up(image_len.max(end)).unwrap());

    // The image: itself with the overrides applied, later ones winning.
    let mut expect = dev.data.clone();
    for o in &plan.overrides {
        expect[o.at as usize..o.at as usize + o.bytes.len()].copy_from_slice(&o.bytes);
    }
    let mut got = vec![0u8; image_len as usize];
    disk.reader(&mut *dev).read_at(0, &mut got).expect("read the image");
    assert!(got == expect, "the image through the disk is not the image with its overrides");

    // The wrapped files (a few, to bound the work per input).
    let mut budget = 4u64 << 20;
    for w in &plan.wrapped {
        if w.len > budget {
            break;
        }
        budget -= w.len;
        let mut file = vec![0u8; w.len as usize];
        disk.reader(&mut *dev).read_at(w.at, &mut file).expect("read a wrapped file");
        let hook_len = input.hook.len();
        assert!(file[..hook_len] == input.hook[..], "{}: hook archive", w.name);
        let (name, size, mode, data_at, next) = newc_entry(&file, hook_len, hook_len);
        assert_eq!(name, w.name);
        assert_eq!(size, w.original_size);
        assert_eq!(mode & 0o170000, 0o100000, "a regular file");
        let off = w.original_offset as usize;
        assert!(
            file[data_at..data_at + size as usize] == dev.data[off..off + size as usize],
            "{}: original bytes",
            w.name
        );
        let (name, size, _, _, next) = newc_entry(&file, hook_len, next);
        assert_eq!((name.as_str(), size), ("TRAILER!!!", 0));
        assert_eq!(next, file.len(), "{}: bytes after the trailer", w.name);
    }
}
