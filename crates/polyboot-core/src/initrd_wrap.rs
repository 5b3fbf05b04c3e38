//! Wrapping a Linux ISO's initrds virtually, so that polyboot-hook runs before the
//! distribution's own `/init` and can make the image findable as a block device.
//!
//! For every initrd the ISO's boot configuration loads (found by [`crate::bootcfg`]), the
//! virtual medium serves a new file past the end of the image,
//!
//! ```text
//! [hook archive: polyboot/  polyboot/initrds/  init (= polyboot-hook)  polyboot/handoff.bin  TRAILER]
//! [original archive: header of polyboot/initrds/NNNN | the original initrd's bytes | TRAILER]
//! ```
//!
//! and overrides each of the initrd's directory records (primary / Rock Ridge and Joliet
//! trees) so that its extent and size name that file. The bootloader loads the wrapped file;
//! the kernel unpacks both archives into its rootfs and runs our `/init`, which unpacks
//! `polyboot/initrds/*` in name order over `/` and execs the original `/init`.
//!
//! The hook archive is identical for every initrd of one boot (same hook, same hand-off
//! record), so all wrapped files share one buffer; the original bytes are served from the
//! image through its extents. Nothing is copied to memory but headers, and nothing is
//! written to the drive.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::bootcfg::InitrdFile;
use crate::cpio::{self, CpioError, CpioLayout, CpioWriter};
use crate::handoff::{embedded_file_name, EMBEDDED_FILES_DIR, HANDOFF_PATH, ORIGINAL_INITRDS_DIR};
use crate::iso9660::{self, RECORD_EXTENT_FIELD, SECTOR_SIZE};
use crate::virtual_medium::{
    ByteOverride, RegionSource, VirtualMedium, VirtualMediumError, VirtualRegion,
};

/// At most this many distinct initrds are wrapped per image; each costs a few hundred bytes
/// of headers and one override per record, but a hostile configuration must not make us
/// build thousands.
pub const MAX_WRAPPED: usize = 64;

/// The archive every wrapped initrd starts with: `/init` is polyboot-hook and
/// [`HANDOFF_PATH`] the hand-off record. Padded to 4 bytes, so the next archive is aligned.
pub fn hook_archive(hook: &[u8], handoff: &[u8]) -> Result<Vec<u8>, CpioError> {
    hook_archive_with(hook, handoff, &[])
}

/// [`hook_archive`] also carrying the bytes of hand-off files the boot manager embeds (an
/// answer file for an installer whose initrd cannot read the drive): `(index in the record's
/// files, bytes)`, each as [`embedded_file_name`]`(index)`.
pub fn hook_archive_with(
    hook: &[u8],
    handoff: &[u8],
    embedded: &[(usize, &[u8])],
) -> Result<Vec<u8>, CpioError> {
    let mut w = CpioWriter::new();
    w.dir("polyboot", 0o755)?;
    w.dir(ORIGINAL_INITRDS_DIR, 0o755)?;
    w.file("init", 0o755, hook)?;
    w.file(HANDOFF_PATH, 0o444, handoff)?;
    if !embedded.is_empty() {
        w.dir(EMBEDDED_FILES_DIR, 0o755)?;
        for (index, bytes) in embedded {
            w.file(&embedded_file_name(*index), 0o444, bytes)?;
        }
    }
    Ok(w.finish_bytes(4))
}

/// Name of the `index`-th original initrd inside the wrapped files.
pub fn original_name(index: usize) -> String {
    format!("{ORIGINAL_INITRDS_DIR}/{index:04}")
}

/// The archive that carries one original initrd of `size` bytes as
/// [`original_name`]`(index)`; its only external payload (index 0) is the initrd.
pub fn original_archive(index: usize, size: u64) -> Result<CpioLayout, CpioError> {
    let (layout, _) = cpio::wrap_initrd(CpioWriter::new(), &original_name(index), size)?;
    Ok(layout)
}

/// Why an initrd is served as it is, unwrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Stored in several sections (4 GiB and more): not an initrd anyone boots.
    MultiExtent,
    /// Its data or one of its directory records lies beyond the end of the image file.
    OutsideImage,
    /// The wrapped file would not fit a directory record's 32-bit size.
    TooLarge,
    /// More than [`MAX_WRAPPED`] distinct initrds.
    TooMany,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::MultiExtent => "it is stored in several extents",
            SkipReason::OutsideImage => "it lies beyond the end of the image (truncated ISO?)",
            SkipReason::TooLarge => "the wrapped file would reach 4 GiB",
            SkipReason::TooMany => "the image names too many initrds",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: SkipReason,
}

/// One wrapped initrd: where its original data is and where the wrapped file is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedInitrd {
    /// Every configuration path whose records now point at the wrapped file (usually one;
    /// several when two paths name the same data).
    pub paths: Vec<String>,
    /// Name of the original inside the wrapped file ([`original_name`]).
    pub name: String,
    /// Byte offset and size of the original data in the image.
    pub original_offset: u64,
    pub original_size: u64,
    /// Byte offset of the wrapped file on the virtual medium (a multiple of 2048) and its size.
    pub at: u64,
    pub len: u64,
}

impl WrappedInitrd {
    /// The logical block the overridden records name.
    pub fn lba(&self) -> u32 {
        (self.at / SECTOR_SIZE) as u32
    }
}

/// What to add to an image's virtual medium: regions past its end and record overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrapPlan {
    pub wrapped: Vec<WrappedInitrd>,
    pub skipped: Vec<Skipped>,
    /// Sorted by offset, non-overlapping, all at or after the plan's start.
    pub regions: Vec<VirtualRegion>,
    pub overrides: Vec<ByteOverride>,
}

/// Plan the wrapping of `initrds` in an image of `image_len` bytes, placing the wrapped files
/// from byte `start` on (rounded up to a 2048-byte block; normally the virtual medium's size).
/// `hook_archive` is [`hook_archive`]'s output.
pub fn plan(
    initrds: &[InitrdFile],
    image_len: u64,
    start: u64,
    hook_archive: Arc<[u8]>,
) -> WrapPlan {
    let mut plan = WrapPlan::default();
    let hook_len = hook_archive.len() as u64;
    let Some(mut at) = round_up(start.max(image_len), SECTOR_SIZE) else {
        return plan;
    };
    for file in initrds {
        let skip = |reason| Skipped { path: file.path.clone(), reason };
        let Some(first) = file.records.first() else { continue };
        if file.records.iter().any(|r| r.sections.len() > 1) {
            plan.skipped.push(skip(SkipReason::MultiExtent));
            continue;
        }
        let original_offset = u64::from(first.lba) * SECTOR_SIZE;
        let original_size = first.size;
        let data_inside =
            original_offset.checked_add(original_size).is_some_and(|end| end <= image_len);
        // The override covers the record's extended-attribute length byte and its extent and
        // size fields.
        let records_inside = file.records.iter().all(|r| {
            r.record_offset
                .checked_add(RECORD_EXTENT_FIELD + 16)
                .is_some_and(|end| end <= image_len)
        });
        if !data_inside || !records_inside {
            plan.skipped.push(skip(SkipReason::OutsideImage));
            continue;
        }
        // The same data under another name: point these records at the same wrapped file.
        let existing = plan
            .wrapped
            .iter()
            .position(|w| w.original_offset == original_offset && w.original_size == original_size);
        let index = match existing {
            Some(i) => i,
            None => {
                if plan.wrapped.len() >= MAX_WRAPPED {
                    plan.skipped.push(skip(SkipReason::TooMany));
                    continue;
                }
                let index = plan.wrapped.len();
                let Ok(archive) = original_archive(index, original_size) else {
                    plan.skipped.push(skip(SkipReason::TooLarge));
                    continue;
                };
                let len = hook_len + archive.len();
                let next = at.checked_add(len).and_then(|end| round_up(end, SECTOR_SIZE));
                let (Ok(_), Some(next)) = (u32::try_from(len), next) else {
                    plan.skipped.push(skip(SkipReason::TooLarge));
                    continue;
                };
                if u32::try_from(at / SECTOR_SIZE).is_err() {
                    plan.skipped.push(skip(SkipReason::TooLarge));
                    continue;
                }
                if hook_len > 0 {
                    plan.regions.push(VirtualRegion {
                        at,
                        len: hook_len,
                        source: RegionSource::Memory(hook_archive.clone()),
                    });
                }
                plan.regions.extend(archive.regions(at + hook_len, |_| original_offset));
                plan.wrapped.push(WrappedInitrd {
                    paths: Vec::new(),
                    name: original_name(index),
                    original_offset,
                    original_size,
                    at,
                    len,
                });
                at = next;
                index
            }
        };
        let w = &mut plan.wrapped[index];
        w.paths.push(file.path.clone());
        for r in &file.records {
            let mut bytes = Vec::with_capacity(17);
            bytes.push(0); // no extended attribute record in front of the new extent
            bytes.extend_from_slice(&iso9660::extent_fields(w.lba(), w.len as u32));
            plan.overrides
                .push(ByteOverride { at: r.record_offset + RECORD_EXTENT_FIELD - 1, bytes });
        }
    }
    plan
}

/// Add the plan's regions and overrides to `disk` (built for the same image).
pub fn apply(plan: &WrapPlan, disk: &mut VirtualMedium) -> Result<(), VirtualMediumError> {
    for r in &plan.regions {
        disk.add_region(r.at, r.len, r.source.clone())?;
    }
    for o in &plan.overrides {
        disk.add_override(o.at, o.bytes.clone())?;
    }
    Ok(())
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    v.checked_add(to - 1).map(|x| x / to * to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{MemDevice, ReadAt};
    use crate::bootcfg::{FileRecord, TreeKind};
    use crate::iso9660::test_image::*;
    use crate::iso9660::Section;
    use crate::virtual_medium::Extent;
    use alloc::vec;

    /// The sample ISO (40 sectors) with `/BOOT/VMLINUZ` standing in for an initrd (100 bytes
    /// at LBA 36) and `/DATA.BIN` (5000 bytes at LBA 33) as a second one, in both trees.
    fn sample_disk() -> (Vec<u8>, VirtualMedium) {
        let img = sample().data;
        let len = img.len() as u64;
        let disk = VirtualMedium::new(
            2048,
            len,
            0,
            vec![Extent { file_offset: 0, device_offset: 0, len }],
        )
        .unwrap();
        (img, disk)
    }

    fn initrd_file(iso: &mut MemDevice, path: &str) -> InitrdFile {
        let info = iso9660::probe(iso).unwrap();
        let mut records = Vec::new();
        let mut size = 0;
        for (kind, tree) in [
            (TreeKind::Primary, Some(info.primary.clone())),
            (TreeKind::Joliet, info.joliet.clone().map(|j| j.tree)),
        ] {
            let Some(tree) = tree else { continue };
            if let Ok(e) = iso9660::lookup(iso, &tree, path) {
                size = e.size;
                records.push(FileRecord {
                    tree: kind,
                    record_offset: e.record_offset(),
                    lba: e.lba(),
                    size: e.size,
                    sections: e.sections.clone(),
                });
            }
        }
        InitrdFile { path: String::from(path), size, records }
    }

    /// Split concatenated newc archives into (name, data) entries, trailers included.
    fn newc_entries(mut b: &[u8]) -> Vec<(String, Vec<u8>)> {
        let field = |h: &[u8], i: usize| {
            u32::from_str_radix(core::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                .unwrap() as usize
        };
        let pad = |n: usize| (4 - n % 4) % 4;
        let mut out = Vec::new();
        while !b.is_empty() {
            if b[0] == 0 {
                b = &b[1..];
                continue;
            }
            assert_eq!(&b[..6], b"070701");
            let (size, namesize) = (field(b, 6), field(b, 11));
            let name = String::from(core::str::from_utf8(&b[110..110 + namesize - 1]).unwrap());
            let data_at = 110 + namesize + pad(110 + namesize);
            out.push((name, b[data_at..data_at + size].to_vec()));
            let next = data_at + size + pad(data_at + size);
            b = &b[next.min(b.len())..];
        }
        out
    }

    #[test]
    fn wrapped_initrd_is_the_hook_archive_then_the_original_byte_for_byte() {
        let (img, mut disk) = sample_disk();
        let mut iso = MemDevice::from_vec(img.clone());
        let vmlinuz = initrd_file(&mut iso, "/boot/vmlinuz");
        assert_eq!(vmlinuz.records.len(), 1, "only the primary tree has /BOOT");
        let hook = vec![0xEEu8; 1001];
        let archive: Arc<[u8]> = hook_archive(&hook, b"HANDOFF").unwrap().into();
        assert_eq!(archive.len() % 4, 0);

        let plan = plan(&[vmlinuz], img.len() as u64, disk.size(), archive.clone());
        assert!(plan.skipped.is_empty());
        let w = &plan.wrapped[0];
        assert_eq!((w.original_offset, w.original_size), (36 * 2048, 100));
        assert_eq!(w.at, 40 * 2048, "right after the image, block aligned");
        assert_eq!(w.name, "polyboot/initrds/0000");
        apply(&plan, &mut disk).unwrap();

        // Read through the virtual medium: the record now names the wrapped file.
        let mut dev = MemDevice::from_vec(img.clone());
        let mut reader = disk.reader(&mut dev);
        let info = iso9660::probe(&mut reader).unwrap();
        let e = iso9660::lookup(&mut reader, &info.primary, "/boot/vmlinuz").unwrap();
        assert_eq!((e.lba(), e.size), (40, w.len));
        let data = iso9660::read_to_vec(&mut reader, &e, 1 << 20).unwrap();
        assert_eq!(&data[..archive.len()], &archive[..]);

        let entries = newc_entries(&data);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "polyboot",
                "polyboot/initrds",
                "init",
                "polyboot/handoff.bin",
                "TRAILER!!!",
                "polyboot/initrds/0000",
                "TRAILER!!!"
            ]
        );
        assert_eq!(entries[2].1, hook);
        assert_eq!(entries[3].1, b"HANDOFF");
        assert_eq!(entries[5].1, [0x4B; 100], "the original bytes, from the image");
        // The rest of the image is untouched.
        let mut whole = vec![0u8; img.len()];
        disk.reader(&mut dev).read_at(0, &mut whole).unwrap();
        let differing: Vec<usize> = (0..img.len()).filter(|&i| whole[i] != img[i]).collect();
        let rec = vmlinuz_record_offset(&img) as usize;
        assert!(differing.iter().all(|&i| (rec + 1..rec + 18).contains(&i)), "{differing:?}");
    }

    fn vmlinuz_record_offset(img: &[u8]) -> u64 {
        let mut iso = MemDevice::from_vec(img.to_vec());
        initrd_file(&mut iso, "/boot/vmlinuz").records[0].record_offset
    }

    #[test]
    fn override_math_both_trees_both_endians() {
        let (img, _) = sample_disk();
        let mut iso = MemDevice::from_vec(img.clone());
        let data = initrd_file(&mut iso, "/data.bin");
        assert_eq!(data.records.len(), 2, "primary and Joliet");
        let archive: Arc<[u8]> = vec![1u8; 8].into();
        let p = plan(core::slice::from_ref(&data), img.len() as u64, 0, archive);
        let w = &p.wrapped[0];
        assert_eq!(p.overrides.len(), 2);
        for (o, r) in p.overrides.iter().zip(&data.records) {
            assert_eq!(o.at, r.record_offset + 1);
            let b = &o.bytes;
            assert_eq!(b[0], 0);
            assert_eq!(u32::from_le_bytes(b[1..5].try_into().unwrap()), 40);
            assert_eq!(u32::from_be_bytes(b[5..9].try_into().unwrap()), 40);
            assert_eq!(u32::from_le_bytes(b[9..13].try_into().unwrap()) as u64, w.len);
            assert_eq!(u32::from_be_bytes(b[13..17].try_into().unwrap()) as u64, w.len);
        }
        // 8 (hook) + 110 + 22 ("polyboot/initrds/0000\0", no padding) + 5000 + 124 (trailer, padded)
        assert_eq!(w.len, 8 + 132 + 5000 + 124);
        // The header names the original size.
        let header = match &p.regions[1].source {
            RegionSource::Memory(m) => m.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(&header[54..62], b"00001388");
        assert_eq!(p.regions[2].source, RegionSource::Image { offset: 33 * 2048 });
    }

    #[test]
    fn regions_are_sorted_aligned_and_shared() {
        let (img, mut disk) = sample_disk();
        let mut iso = MemDevice::from_vec(img.clone());
        let a = initrd_file(&mut iso, "/boot/vmlinuz");
        let b = initrd_file(&mut iso, "/data.bin");
        let mut alias = a.clone();
        alias.path = String::from("/alias");
        let archive: Arc<[u8]> = vec![9u8; 3000].into();
        let p = plan(&[a, b, alias], img.len() as u64, disk.size(), archive.clone());
        assert_eq!(p.wrapped.len(), 2, "the alias shares the first wrapped file");
        assert_eq!(p.wrapped[0].paths, ["/boot/vmlinuz", "/alias"]);
        assert_eq!(p.wrapped[1].name, "polyboot/initrds/0001");
        assert_eq!(p.wrapped[1].at % 2048, 0);
        assert!(p.wrapped[1].at >= p.wrapped[0].at + p.wrapped[0].len);
        for pair in p.regions.windows(2) {
            assert!(pair[0].at + pair[0].len <= pair[1].at);
        }
        let shared = p
            .regions
            .iter()
            .filter(|r| matches!(&r.source, RegionSource::Memory(m) if Arc::ptr_eq(m, &archive)))
            .count();
        assert_eq!(shared, 2);
        apply(&p, &mut disk).unwrap();
        let end = p.wrapped[1].at + p.wrapped[1].len;
        assert_eq!(disk.size(), end.div_ceil(2048) * 2048);
    }

    fn fake(path: &str, lba: u32, size: u64, record_offset: u64, sections: usize) -> InitrdFile {
        let section = Section { record_offset, offset: u64::from(lba) * 2048, len: size as u32 };
        InitrdFile {
            path: String::from(path),
            size,
            records: vec![FileRecord {
                tree: TreeKind::Primary,
                record_offset,
                lba,
                size,
                sections: vec![section; sections],
            }],
        }
    }

    #[test]
    fn hostile_or_odd_initrds_are_skipped_with_a_reason() {
        let image_len = 100 * 2048;
        let archive: Arc<[u8]> = vec![0u8; 4].into();
        let files = [
            fake("/truncated", 90, 40 * 2048, 20 * 2048, 1),
            fake("/record-past-end", 10, 10, image_len - 5, 1),
            fake("/split", 10, 10, 20 * 2048, 2),
            fake("/ok", 10, 10, 20 * 2048, 1),
            fake("/far", 10, 10, 20 * 2048 + 34, 1),
        ];
        let p = plan(&files, image_len, 0, archive.clone());
        let reasons: Vec<(&str, SkipReason)> =
            p.skipped.iter().map(|s| (s.path.as_str(), s.reason)).collect();
        assert_eq!(
            reasons,
            [
                ("/truncated", SkipReason::OutsideImage),
                ("/record-past-end", SkipReason::OutsideImage),
                ("/split", SkipReason::MultiExtent)
            ]
        );
        assert_eq!(p.wrapped.len(), 1, "/far has the same data as /ok");

        // A start so far out that the LBA would not fit 32 bits.
        let p = plan(&files[3..4], image_len, (u64::from(u32::MAX) + 1) * 2048, archive.clone());
        assert_eq!(p.skipped[0].reason, SkipReason::TooLarge);
        assert!(p.regions.is_empty() && p.overrides.is_empty());

        // Too many distinct initrds.
        let many: Vec<InitrdFile> =
            (0..MAX_WRAPPED as u32 + 3).map(|i| fake("/x", i, 1, 0, 1)).collect();
        let p = plan(&many, image_len, 0, archive);
        assert_eq!(p.wrapped.len(), MAX_WRAPPED);
        assert_eq!(p.skipped.len(), 3);
        assert!(p.skipped.iter().all(|s| s.reason == SkipReason::TooMany));
    }
}
