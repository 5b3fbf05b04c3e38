//! Serving a file of an ISO image with other bytes, without writing anything: `conf_replace`
//! (a file on the drive in place of one inside the ISO) and boot configurations with kernel
//! parameters added ([`crate::bootcfg::edit`]).
//!
//! Each replacement gets a region past the end of the image (memory bytes, or another file's
//! extents on the data partition: [`RegionSource::DriveFile`]), and every entry of the path is
//! pointed at it with byte overrides:
//! - its directory records in the primary tree (whose records carry the Rock Ridge names) and
//!   in the Joliet tree: extent and size, as [`crate::initrd_wrap`] does for initrds;
//! - its UDF file entry, when the image is a UDF bridge: new allocation descriptors and length
//!   ([`crate::udf::redirect`], as for a Windows ISO's `boot.wim`), the partition grown to
//!   cover the new extents, and a copy of the anchor in the medium's last block (strict UDF
//!   readers look for one there).
//!
//! So GRUB and isolinux (ISO 9660, with or without Rock Ridge / Joliet) and UDF readers all
//! read the new bytes; everything else reads as before.
//!
//! Paths are matched as the boot configuration reader reads files
//! ([`crate::bootcfg::find_boot_entries`]): in the tree an operating system shows (Rock Ridge,
//! else Joliet, else plain ISO 9660), then in the primary tree; an exact name first, else
//! without case (shown name or ISO 9660 identifier). The other tree's record is the one with
//! the same name and data, or, failing the name (8.3-mangled primary names), the one with the
//! same data.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::block::ReadAt;
use crate::iso9660::{self, IsoEntry, IsoError, Tree, RECORD_EXTENT_FIELD, SECTOR_SIZE};
use crate::udf::{
    self,
    redirect::{redirect, relocated_anchor},
};
use crate::virtual_medium::{
    ByteOverride, Extent, RegionSource, VirtualMedium, VirtualMediumError, VirtualRegion,
};

/// Most replacements planned for one image (each costs a region and a few overrides; a
/// configuration must not make us plan thousands).
pub const MAX_REPLACEMENTS: usize = 256;

/// Where the new bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewBytes {
    /// In memory (an edited boot configuration).
    Memory(Arc<[u8]>),
    /// A file of `size` bytes on the image's partition, through its extents (device offsets
    /// relative to the partition, as the image's; checked to lie inside the partition by the
    /// caller, as for the image).
    DriveFile { size: u64, extents: Arc<[Extent]> },
}

impl NewBytes {
    pub fn len(&self) -> u64 {
        match self {
            NewBytes::Memory(m) => m.len() as u64,
            NewBytes::DriveFile { size, .. } => *size,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn source(&self) -> RegionSource {
        match self {
            NewBytes::Memory(m) => RegionSource::Memory(m.clone()),
            NewBytes::DriveFile { extents, .. } => RegionSource::DriveFile(extents.clone()),
        }
    }
}

/// One file to serve with other bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// Path inside the ISO (`/boot/grub/grub.cfg`; `\` works as `/`).
    pub path: String,
    pub bytes: NewBytes,
}

/// Why one file cannot be replaced (the others still are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceError {
    /// The path is in no tree of the ISO.
    NotFound,
    IsADirectory,
    /// The file is stored in several sections (4 GiB and more): its records cannot be
    /// pointed at one new extent.
    MultiExtent,
    /// The new bytes do not fit a directory record (4 GiB and more), or would lie past what
    /// 32-bit block numbers reach.
    TooLarge,
    /// A directory record lies past the end of the image (truncated ISO?).
    OutsideImage,
    /// The same file is already replaced by an earlier entry of the list.
    Duplicate,
    /// The UDF tree could not be pointed at the new bytes; the text says why.
    Udf(String),
    /// More than [`MAX_REPLACEMENTS`] files.
    TooMany,
    /// Reading the ISO failed.
    Iso(IsoError),
}

impl fmt::Display for ReplaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplaceError::NotFound => f.write_str("it is not in the ISO"),
            ReplaceError::IsADirectory => f.write_str("it is a directory"),
            ReplaceError::MultiExtent => f.write_str("it is stored in several extents"),
            ReplaceError::TooLarge => f.write_str("the new file is too large for the ISO"),
            ReplaceError::OutsideImage => {
                f.write_str("its directory record lies past the end of the image (truncated ISO?)")
            }
            ReplaceError::Duplicate => f.write_str("it is already replaced by another entry"),
            ReplaceError::Udf(why) => write!(f, "cannot redirect its UDF file entry: {why}"),
            ReplaceError::TooMany => {
                write!(f, "more than {MAX_REPLACEMENTS} files to replace in one image")
            }
            ReplaceError::Iso(e) => write!(f, "reading the ISO: {e}"),
        }
    }
}

/// A file served with new bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    pub path: String,
    pub old_size: u64,
    pub new_size: u64,
    /// Byte offset of the new bytes on the virtual medium (a multiple of 2048).
    pub at: u64,
    /// ISO 9660 directory records pointed at them (primary and Joliet).
    pub iso9660_records: usize,
    /// Whether the UDF file entry was pointed at them too.
    pub udf: bool,
}

/// What to add to an image's virtual medium.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplacePlan {
    pub replaced: Vec<Replaced>,
    /// Files left as they are, and why.
    pub failed: Vec<(String, ReplaceError)>,
    /// Sorted by offset, non-overlapping, past the image.
    pub regions: Vec<VirtualRegion>,
    pub overrides: Vec<ByteOverride>,
}

impl ReplacePlan {
    /// Add the plan's regions and overrides to `medium` (built for the same image, at the size
    /// the plan was made for).
    pub fn apply(&self, medium: &mut VirtualMedium) -> Result<(), VirtualMediumError> {
        for r in &self.regions {
            medium.add_region(r.at, r.len, r.source.clone())?;
        }
        for o in &self.overrides {
            medium.add_override(o.at, o.bytes.clone())?;
        }
        Ok(())
    }
}

/// One file found: its entry in the tree the path was found in, and every ISO 9660 record
/// of its data.
struct Found {
    entry: IsoEntry,
    /// Record offsets (primary first, then Joliet).
    records: Vec<u64>,
}

/// Plan serving `files` with their new bytes on the ISO read through `dev` (the image, or the
/// virtual medium built so far: then its earlier overrides are seen), placing the new bytes
/// from byte `start` on (rounded up to 2048; at least the end of `dev`; normally the medium's
/// size). Fails only when `dev` is not a readable ISO 9660 volume; files that cannot be
/// replaced are listed in [`ReplacePlan::failed`] and left alone.
pub fn plan<D: ReadAt>(
    dev: &mut D,
    start: u64,
    files: &[Replacement],
) -> Result<ReplacePlan, IsoError> {
    let info = iso9660::probe(&mut *dev)?;
    let dev_size = dev.size();
    let preferred = info.preferred_tree().clone();
    let mut trees: Vec<Tree> = alloc::vec![info.primary.clone()];
    if let Some(j) = &info.joliet {
        trees.push(j.tree.clone());
    }
    let udf_volume = udf::probe(&mut *dev).ok();

    let mut plan = ReplacePlan::default();
    let mut at = start.max(dev_size).div_ceil(SECTOR_SIZE).checked_mul(SECTOR_SIZE);
    // Records already pointed somewhere, and the UDF patches (the partition descriptor may be
    // patched once per file: the last, largest, wins).
    let mut taken: Vec<u64> = Vec::new();
    let mut udf_patches: Vec<(u64, Vec<u8>)> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let fail =
            |plan: &mut ReplacePlan, e: ReplaceError| plan.failed.push((file.path.clone(), e));
        if i >= MAX_REPLACEMENTS {
            fail(&mut plan, ReplaceError::TooMany);
            continue;
        }
        let found = match find(&mut *dev, &preferred, &info.primary, &trees, &file.path) {
            Ok(f) => f,
            Err(e) => {
                fail(&mut plan, e);
                continue;
            }
        };
        if found.entry.sections.len() > 1 {
            fail(&mut plan, ReplaceError::MultiExtent);
            continue;
        }
        if found.records.iter().any(|r| r.checked_add(34).is_none_or(|end| end > dev_size)) {
            fail(&mut plan, ReplaceError::OutsideImage);
            continue;
        }
        if found.records.iter().any(|r| taken.contains(r)) {
            fail(&mut plan, ReplaceError::Duplicate);
            continue;
        }
        let size = file.bytes.len();
        let Some(here) = at else {
            fail(&mut plan, ReplaceError::TooLarge);
            continue;
        };
        let (Ok(lba), Ok(len32)) = (u32::try_from(here / SECTOR_SIZE), u32::try_from(size)) else {
            fail(&mut plan, ReplaceError::TooLarge);
            continue;
        };
        let Some(next) =
            here.checked_add(size).and_then(|e| e.checked_next_multiple_of(SECTOR_SIZE))
        else {
            fail(&mut plan, ReplaceError::TooLarge);
            continue;
        };
        // The UDF entry of the same path, when the image has a UDF tree holding it.
        let mut udf = false;
        let mut patches = Vec::new();
        if let Some(vol) = &udf_volume {
            match vol.lookup(&mut *dev, &file.path.replace('\\', "/")) {
                Ok(e) if !e.is_dir() => match redirect(vol, &mut *dev, &e, here, size) {
                    Ok(p) => {
                        patches = p;
                        udf = true;
                    }
                    Err(e) => {
                        fail(&mut plan, ReplaceError::Udf(format!("{e}")));
                        continue;
                    }
                },
                // A UDF tree without the file (a bridge whose trees differ) keeps its own.
                _ => {}
            }
        }
        for (o, bytes) in patches {
            udf_patches.retain(|(a, _)| *a != o);
            udf_patches.push((o, bytes));
        }
        if size > 0 {
            plan.regions.push(VirtualRegion { at: here, len: size, source: file.bytes.source() });
        }
        for &r in &found.records {
            let mut bytes = Vec::with_capacity(17);
            bytes.push(0); // no extended attribute record in front of the new extent
            bytes.extend_from_slice(&iso9660::extent_fields(lba, len32));
            plan.overrides.push(ByteOverride { at: r + RECORD_EXTENT_FIELD - 1, bytes });
            taken.push(r);
        }
        plan.replaced.push(Replaced {
            path: file.path.clone(),
            old_size: found.entry.size,
            new_size: size,
            at: here,
            iso9660_records: found.records.len(),
            udf,
        });
        at = Some(next);
    }
    if !udf_patches.is_empty() {
        plan.overrides
            .extend(udf_patches.into_iter().map(|(at, bytes)| ByteOverride { at, bytes }));
        // The medium's last block is an anchor again, after the new bytes.
        if let (Some(vol), Some(end)) = (&udf_volume, at) {
            // Without it, block 256's anchor still stands; only the strictest readers miss it.
            let block = u32::try_from(end / SECTOR_SIZE).ok();
            if let Some(Ok(anchor)) = block.map(|b| relocated_anchor(vol, &mut *dev, b)) {
                plan.regions.push(VirtualRegion {
                    at: end,
                    len: anchor.len() as u64,
                    source: RegionSource::Memory(Arc::from(anchor.as_slice())),
                });
            }
        }
    }
    Ok(plan)
}

/// The file at `path` (as the boot configuration reader finds it) and its records in every
/// tree.
fn find<D: ReadAt>(
    dev: &mut D,
    preferred: &Tree,
    primary: &Tree,
    trees: &[Tree],
    path: &str,
) -> Result<Found, ReplaceError> {
    let entry = match iso9660::lookup(&mut *dev, preferred, path) {
        Err(IsoError::NotFound) | Err(IsoError::NotADirectory) if preferred != primary => {
            iso9660::lookup(&mut *dev, primary, path)
        }
        r => r,
    };
    let entry = match entry {
        Ok(e) => e,
        Err(IsoError::NotFound) | Err(IsoError::NotADirectory) => {
            return Err(ReplaceError::NotFound)
        }
        Err(e) => return Err(ReplaceError::Iso(e)),
    };
    if entry.is_dir() {
        return Err(ReplaceError::IsADirectory);
    }
    let same_data = |e: &IsoEntry| !e.is_dir() && e.lba() == entry.lba() && e.size == entry.size;
    let mut records = Vec::new();
    for tree in trees {
        let by_name = match iso9660::lookup(&mut *dev, tree, path) {
            Ok(e) if same_data(&e) => Some(e.record_offset()),
            _ => None,
        };
        let record = match by_name {
            Some(r) => Some(r),
            // Empty files may share their (meaningless) extent: no guessing by data.
            None if entry.size == 0 => None,
            None => {
                // Not under this name here (8.3-mangled primary names of a Joliet-only
                // image): the record with the same data.
                let mut found = None;
                let walked = iso9660::walk(&mut *dev, tree, iso9660::MAX_DEPTH, |_, e| {
                    if same_data(e) {
                        found = Some(e.record_offset());
                    }
                    found.is_none()
                });
                walked.map_err(ReplaceError::Iso)?;
                found
            }
        };
        records.extend(record);
    }
    Ok(Found { entry, records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use crate::iso9660::test_image::sample;
    use alloc::string::ToString;
    use alloc::vec;

    fn medium(img: &[u8]) -> VirtualMedium {
        let len = img.len() as u64;
        VirtualMedium::new(2048, len, 0, vec![Extent { file_offset: 0, device_offset: 0, len }])
            .unwrap()
    }

    /// The file at `path` read through the medium's ISO 9660 trees: (primary, Joliet).
    fn read_both(disk: &VirtualMedium, dev: &mut MemDevice, path: &str) -> Vec<Vec<u8>> {
        let mut r = disk.reader(&mut *dev);
        let info = iso9660::probe(&mut r).unwrap();
        let mut out = Vec::new();
        for tree in core::iter::once(info.primary.clone()).chain(info.joliet.map(|j| j.tree)) {
            if let Ok(e) = iso9660::lookup(&mut r, &tree, path) {
                out.push(iso9660::read_to_vec(&mut r, &e, 1 << 20).unwrap());
            }
        }
        out
    }

    #[test]
    fn both_trees_serve_the_new_bytes_shorter_and_longer() {
        let img = sample().data;
        let mut dev = MemDevice::from_vec(img.clone());
        let mut disk = medium(&img);
        let before = read_both(&disk, &mut dev, "/data.bin");
        assert_eq!(before.len(), 2, "the sample has /DATA.BIN in both trees");
        let short: Arc<[u8]> = Arc::from(&b"short\n"[..]);
        let long: Arc<[u8]> = (0..9000u32).map(|i| (i % 253) as u8).collect::<Vec<u8>>().into();
        let files = [
            Replacement { path: "/DATA.BIN".into(), bytes: NewBytes::Memory(short.clone()) },
            Replacement { path: "/readme.txt".into(), bytes: NewBytes::Memory(long.clone()) },
        ];
        let p = plan(&mut disk.reader(&mut dev), disk.size(), &files).unwrap();
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        assert_eq!(p.replaced.len(), 2);
        assert_eq!((p.replaced[0].old_size, p.replaced[0].new_size), (5000, 6));
        assert_eq!(p.replaced[0].iso9660_records, 2);
        assert_eq!(p.replaced[0].at, img.len() as u64);
        assert_eq!(p.replaced[1].at, img.len() as u64 + 2048, "block aligned, in order");
        assert!(!p.replaced[0].udf, "no UDF tree in the sample");
        p.apply(&mut disk).unwrap();
        for got in read_both(&disk, &mut dev, "/data.bin") {
            assert_eq!(got, &short[..]);
        }
        // The Joliet record of README.TXT is "Read Me.txt", found by its data.
        for path in ["/README.TXT", "/Read Me.txt"] {
            let got = read_both(&disk, &mut dev, path);
            assert_eq!(got, [long.to_vec()], "{path}");
        }
        // Everything else is as it was.
        let mut all = vec![0u8; img.len()];
        disk.reader(&mut dev).read_at(0, &mut all).unwrap();
        let changed: Vec<usize> = (0..img.len()).filter(|&i| all[i] != img[i]).collect();
        let records: Vec<u64> = p.overrides.iter().map(|o| o.at).collect();
        assert!(
            changed.iter().all(|&i| records.iter().any(|&r| (r..r + 17).contains(&(i as u64)))),
            "{changed:?}"
        );
    }

    #[test]
    fn drive_file_bytes_and_an_empty_file() {
        let img = sample().data;
        // The "drive": the image at partition offset 0, then a file in two fragments.
        let mut phys = img.clone();
        let base = phys.len() as u64;
        phys.extend((0..5000u32).map(|i| (i % 7) as u8 + b'a'));
        let mut dev = MemDevice::from_vec(phys.clone());
        let mut disk = medium(&img);
        let extents: Arc<[Extent]> = vec![
            Extent { file_offset: 0, device_offset: base + 3000, len: 2000 },
            Extent { file_offset: 2000, device_offset: base, len: 1000 },
        ]
        .into();
        let files = [
            Replacement {
                path: "/boot/grub/grub.cfg".into(),
                bytes: NewBytes::DriveFile { size: 3000, extents },
            },
            Replacement { path: "/readme.txt".into(), bytes: NewBytes::Memory(Arc::from(&[][..])) },
        ];
        let p = plan(&mut disk.reader(&mut dev), disk.size(), &files).unwrap();
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        assert_eq!(p.regions.len(), 1, "an empty file needs no region");
        p.apply(&mut disk).unwrap();
        let got = read_both(&disk, &mut dev, "/boot/grub/grub.cfg");
        assert_eq!(got.len(), 1, "only the primary tree has /BOOT");
        let want =
            [&phys[base as usize + 3000..base as usize + 5000], &phys[base as usize..][..1000]]
                .concat();
        assert_eq!(got[0], want);
        for got in read_both(&disk, &mut dev, "/readme.txt") {
            assert!(got.is_empty());
        }
    }

    #[test]
    fn refusals_name_the_file_and_leave_the_others() {
        let img = sample().data;
        let mut dev = MemDevice::from_vec(img.clone());
        let disk = medium(&img);
        let m = |b: &[u8]| NewBytes::Memory(Arc::from(b));
        let files = [
            Replacement { path: "/no/such.cfg".into(), bytes: m(b"x") },
            Replacement { path: "/boot".into(), bytes: m(b"x") },
            Replacement { path: "/data.bin".into(), bytes: m(b"x") },
            Replacement { path: "/DATA.BIN".into(), bytes: m(b"y") },
            Replacement {
                path: "/readme.txt".into(),
                bytes: NewBytes::DriveFile { size: 1 << 32, extents: Arc::from(&[][..]) },
            },
        ];
        let p = plan(&mut disk.reader(&mut dev), disk.size(), &files).unwrap();
        let failed: Vec<(&str, &ReplaceError)> =
            p.failed.iter().map(|(p, e)| (p.as_str(), e)).collect();
        assert_eq!(
            failed,
            [
                ("/no/such.cfg", &ReplaceError::NotFound),
                ("/boot", &ReplaceError::IsADirectory),
                ("/DATA.BIN", &ReplaceError::Duplicate),
                ("/readme.txt", &ReplaceError::TooLarge),
            ]
        );
        assert_eq!(p.replaced.len(), 1);
        for (_, e) in &p.failed {
            assert!(!e.to_string().is_empty());
        }
        // A start past 32-bit block numbers: too large, nothing planned.
        let p = plan(&mut disk.reader(&mut dev), (1u64 << 32) * 2048, &files[2..3]).unwrap();
        assert_eq!(p.failed[0].1, ReplaceError::TooLarge);
        assert!(p.regions.is_empty() && p.overrides.is_empty());
        // Not an ISO at all.
        let mut junk = MemDevice::from_vec(vec![0u8; 64 * 2048]);
        assert!(plan(&mut junk, 0, &files).is_err());
    }
}
