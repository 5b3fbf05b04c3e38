//! El Torito (Bootable CD-ROM Format Specification 1.0): the boot record volume descriptor
//! and the boot catalog, and what they say about BIOS / UEFI bootability.
//!
//! ```text
//! boot record VD (any sector of the descriptor set): type 0, "CD001", version 1,
//!     7..39 "EL TORITO SPECIFICATION" + zeros, 71..75 boot catalog LBA (LE)
//! boot catalog: 32-byte entries
//!     validation entry: 0 header id 1, 1 platform id, 4..28 id string,
//!                       28 checksum (the 16 LE words sum to 0), 30 0x55, 31 0xAA
//!     initial/default entry: 0 boot indicator (0x88 bootable, 0x00 not), 1 media type,
//!                       2 load segment, 4 system type, 6 sector count (512-byte virtual
//!                       sectors), 8 load RBA (2048-byte block)
//!     section header: 0 0x90 (more headers follow) / 0x91 (final), 1 platform id,
//!                       2 number of section entries, 4..32 id string
//!     section entry: like the default entry, media type bit 5 = an extension entry
//!                       (0x44, its own bit 5 = another one follows) comes next
//! ```
//!
//! Platform ids: 0 x86 BIOS, 1 PowerPC, 2 Mac, 0xEF EFI. A UEFI firmware boots a CD
//! through the EFI entry, whose image is normally a FAT file system; a sector count of 0 or 1
//! there means "the whole FAT image", whose size is then read from the FAT boot sector.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::block::ReadAt;
use crate::bytes::{self, Fields};
use crate::iso9660::{self, IsoError, SECTOR_SIZE};

/// Most catalog sectors read (64 entries each). Real catalogs use one.
pub const MAX_CATALOG_SECTORS: u32 = 16;
const ENTRY_SIZE: usize = 32;
const ENTRIES_PER_SECTOR: usize = SECTOR_SIZE as usize / ENTRY_SIZE;
const BOOTABLE: u8 = 0x88;
const NOT_BOOTABLE: u8 = 0x00;
const HEADER_MORE: u8 = 0x90;
const HEADER_FINAL: u8 = 0x91;
const EXTENSION: u8 = 0x44;
const CONTINUATION_FOLLOWS: u8 = 0x20;

/// Virtual sector size of El Torito sector counts.
pub const VIRTUAL_SECTOR: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// 0: x86 PC BIOS.
    Bios,
    /// 0xEF: UEFI.
    Efi,
    Other(u8),
}

impl Platform {
    pub fn from_id(id: u8) -> Platform {
        match id {
            0 => Platform::Bios,
            0xEF => Platform::Efi,
            other => Platform::Other(other),
        }
    }
    pub fn id(self) -> u8 {
        match self {
            Platform::Bios => 0,
            Platform::Efi => 0xEF,
            Platform::Other(v) => v,
        }
    }
}

/// Boot media type (low nibble of the media byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emulation {
    NoEmulation,
    Floppy12,
    Floppy144,
    Floppy288,
    HardDisk,
    /// A reserved value (5..15).
    Other(u8),
}

impl Emulation {
    pub fn from_media(media: u8) -> Emulation {
        match media & 0x0F {
            0 => Emulation::NoEmulation,
            1 => Emulation::Floppy12,
            2 => Emulation::Floppy144,
            3 => Emulation::Floppy288,
            4 => Emulation::HardDisk,
            other => Emulation::Other(other),
        }
    }
    /// Size of an emulated floppy image.
    pub fn floppy_bytes(self) -> Option<u64> {
        match self {
            Emulation::Floppy12 => Some(1_228_800),
            Emulation::Floppy144 => Some(1_474_560),
            Emulation::Floppy288 => Some(2_949_120),
            _ => None,
        }
    }
}

/// One boot image of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    /// The validation entry's platform for the default entry, else its section's.
    pub platform: Platform,
    pub bootable: bool,
    pub media: Emulation,
    /// 0 means the BIOS default 0x7C0.
    pub load_segment: u16,
    pub system_type: u8,
    /// Virtual (512-byte) sectors to load.
    pub sector_count: u16,
    /// 2048-byte block of the image.
    pub load_rba: u32,
    /// `true` for the initial/default entry.
    pub default_entry: bool,
    /// Byte position of the entry within the ISO.
    pub catalog_offset: u64,
}

impl BootEntry {
    /// Byte offset of the boot image in the ISO.
    pub fn image_offset(&self) -> u64 {
        u64::from(self.load_rba) * SECTOR_SIZE
    }
    /// Bytes the entry itself says to load (a floppy's full size for floppy emulation).
    pub fn declared_len(&self) -> u64 {
        self.media.floppy_bytes().unwrap_or(u64::from(self.sector_count) * VIRTUAL_SECTOR)
    }
}

/// The parsed boot catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootCatalog {
    pub catalog_lba: u32,
    /// Platform of the validation entry (and of the default entry).
    pub platform: Platform,
    /// The validation entry's manufacturer / developer id string.
    pub id_string: String,
    /// The default entry first, then section entries in catalog order.
    pub entries: Vec<BootEntry>,
}

/// Why a boot catalog could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElToritoError {
    Iso(IsoError),
    /// The volume descriptor set has no El Torito boot record.
    NoBootRecord,
    /// The catalog (or one of its sectors) lies beyond the end of the image.
    CatalogOutOfBounds {
        lba: u32,
        size: u64,
    },
    BadValidationEntry(&'static str),
    BadChecksum {
        sum: u16,
    },
    /// A malformed entry (index in 32-byte entries from the catalog start).
    BadEntry {
        index: usize,
        reason: &'static str,
    },
    /// A bootable entry's image reaches past the end of the image.
    EntryOutOfBounds {
        index: usize,
        start: u64,
        end: u64,
        size: u64,
    },
    /// More than [`MAX_CATALOG_SECTORS`] of entries (e.g. an endless chain of sections).
    CatalogTooLong,
}

impl fmt::Display for ElToritoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElToritoError::Iso(e) => write!(f, "{e}"),
            ElToritoError::NoBootRecord => f.write_str("no El Torito boot record"),
            ElToritoError::CatalogOutOfBounds { lba, size } => write!(
                f,
                "El Torito boot catalog at block {lba} lies beyond the end of the image ({size} bytes)"
            ),
            ElToritoError::BadValidationEntry(r) => write!(f, "bad El Torito validation entry: {r}"),
            ElToritoError::BadChecksum { sum } => {
                write!(f, "bad El Torito validation entry checksum (words sum to {sum:#06x}, not 0)")
            }
            ElToritoError::BadEntry { index, reason } => {
                write!(f, "bad El Torito catalog entry {index}: {reason}")
            }
            ElToritoError::EntryOutOfBounds { index, start, end, size } => write!(
                f,
                "El Torito boot image of entry {index} (bytes {start}..{end}) reaches past the end of the image ({size} bytes)"
            ),
            ElToritoError::CatalogTooLong => write!(
                f,
                "El Torito boot catalog longer than {MAX_CATALOG_SECTORS} sectors (endless section chain?)"
            ),
        }
    }
}

crate::block::error_with_io!(ElToritoError, |e| ElToritoError::Iso(IsoError::Io(e)));

impl From<IsoError> for ElToritoError {
    fn from(e: IsoError) -> Self {
        ElToritoError::Iso(e)
    }
}

/// The boot catalog LBA from the El Torito boot record volume descriptor.
pub fn find_boot_record<D: ReadAt + ?Sized>(dev: &mut D) -> Result<u32, ElToritoError> {
    let mut found = None;
    iso9660::for_each_volume_descriptor(dev, |_, d| {
        found = iso9660::el_torito_catalog_lba(d);
        Ok(found.is_none())
    })?;
    found.ok_or(ElToritoError::NoBootRecord)
}

/// Find the boot record and parse the catalog it points at.
pub fn read_catalog<D: ReadAt + ?Sized>(dev: &mut D) -> Result<BootCatalog, ElToritoError> {
    let lba = find_boot_record(dev)?;
    parse_catalog(dev, lba)
}

/// Lazily loaded catalog sectors.
struct CatalogReader {
    lba: u32,
    data: Vec<u8>,
    /// No further sectors: the image ends.
    ended: bool,
}

impl CatalogReader {
    /// Entry `index`, `None` when the image ends before it; `CatalogTooLong` past the cap.
    fn entry<D: ReadAt + ?Sized>(
        &mut self,
        dev: &mut D,
        index: usize,
    ) -> Result<Option<[u8; ENTRY_SIZE]>, ElToritoError> {
        if index >= MAX_CATALOG_SECTORS as usize * ENTRIES_PER_SECTOR {
            return Err(ElToritoError::CatalogTooLong);
        }
        while (index + 1) * ENTRY_SIZE > self.data.len() {
            if self.ended {
                return Ok(None);
            }
            let sector = u64::from(self.lba) + (self.data.len() as u64 / SECTOR_SIZE);
            let at = sector * SECTOR_SIZE;
            if at + SECTOR_SIZE > dev.size() {
                self.ended = true;
                return Ok(None);
            }
            let old = self.data.len();
            self.data.resize(old + SECTOR_SIZE as usize, 0);
            dev.read_at(at, &mut self.data[old..])?;
        }
        let mut e = [0u8; ENTRY_SIZE];
        e.copy_from_slice(&self.data[index * ENTRY_SIZE..(index + 1) * ENTRY_SIZE]);
        Ok(Some(e))
    }
}

fn entry_id(e: &[u8]) -> String {
    let end = e.iter().rposition(|&c| c != 0 && c != b' ').map_or(0, |p| p + 1);
    String::from_utf8_lossy(&e[..end]).into_owned()
}

fn parse_boot_entry(
    e: &[u8; ENTRY_SIZE],
    index: usize,
    platform: Platform,
    default_entry: bool,
    catalog_offset: u64,
) -> Result<BootEntry, ElToritoError> {
    let bootable = match e[0] {
        BOOTABLE => true,
        NOT_BOOTABLE => false,
        _ => {
            return Err(ElToritoError::BadEntry {
                index,
                reason: "boot indicator is neither 0x88 nor 0x00",
            })
        }
    };
    Ok(BootEntry {
        platform,
        bootable,
        media: Emulation::from_media(e[1]),
        load_segment: e.le16::<2>(),
        system_type: e[4],
        sector_count: e.le16::<6>(),
        load_rba: e.le32::<8>(),
        default_entry,
        catalog_offset,
    })
}

/// Parse the boot catalog at block `catalog_lba` and check that every bootable entry's image
/// lies inside the image.
pub fn parse_catalog<D: ReadAt + ?Sized>(
    dev: &mut D,
    catalog_lba: u32,
) -> Result<BootCatalog, ElToritoError> {
    let size = dev.size();
    let base = u64::from(catalog_lba) * SECTOR_SIZE;
    let mut r = CatalogReader { lba: catalog_lba, data: Vec::new(), ended: false };
    let out_of_bounds = ElToritoError::CatalogOutOfBounds { lba: catalog_lba, size };
    let v = r.entry(dev, 0)?.ok_or_else(|| out_of_bounds.clone())?;
    if v[0] != 1 {
        return Err(ElToritoError::BadValidationEntry("header id is not 1"));
    }
    if v[30] != 0x55 || v[31] != 0xAA {
        return Err(ElToritoError::BadValidationEntry("key bytes are not 55 AA"));
    }
    let sum = bytes::utf16le_units(&v).fold(0u16, u16::wrapping_add);
    if sum != 0 {
        return Err(ElToritoError::BadChecksum { sum });
    }
    let platform = Platform::from_id(v[1]);
    let offset_of = |index: usize| base + (index * ENTRY_SIZE) as u64;
    let d = r.entry(dev, 1)?.ok_or(out_of_bounds)?;
    let mut entries = vec![parse_boot_entry(&d, 1, platform, true, offset_of(1))?];

    let mut index = 2usize;
    while let Some(h) = r.entry(dev, index)? {
        if h[0] != HEADER_MORE && h[0] != HEADER_FINAL {
            // End of the catalog (unused entries are zero).
            break;
        }
        let section_platform = Platform::from_id(h[1]);
        let count = h.le16::<2>();
        index += 1;
        for _ in 0..count {
            let e = r.entry(dev, index)?.ok_or(ElToritoError::BadEntry {
                index,
                reason: "section entry lies past the end of the image",
            })?;
            entries.push(parse_boot_entry(&e, index, section_platform, false, offset_of(index))?);
            index += 1;
            let mut more = e[1] & CONTINUATION_FOLLOWS != 0;
            while more {
                let x = r.entry(dev, index)?.ok_or(ElToritoError::BadEntry {
                    index,
                    reason: "section entry extension lies past the end of the image",
                })?;
                if x[0] != EXTENSION {
                    return Err(ElToritoError::BadEntry {
                        index,
                        reason: "missing section entry extension (0x44)",
                    });
                }
                more = x[1] & CONTINUATION_FOLLOWS != 0;
                index += 1;
            }
        }
        if h[0] == HEADER_FINAL {
            break;
        }
    }

    for e in entries.iter().filter(|e| e.bootable) {
        let start = e.image_offset();
        let end = start + e.declared_len().max(VIRTUAL_SECTOR);
        if end > size {
            let index = ((e.catalog_offset - base) / ENTRY_SIZE as u64) as usize;
            return Err(ElToritoError::EntryOutOfBounds { index, start, end, size });
        }
    }

    Ok(BootCatalog { catalog_lba, platform, id_string: entry_id(&v[4..28]), entries })
}

/// Size in bytes of the FAT file system whose boot sector is at `offset`, if the sector
/// looks like a FAT boot sector (sane BPB, and a jump instruction or the 55 AA signature).
pub fn fat_image_size<D: ReadAt + ?Sized>(dev: &mut D, offset: u64) -> Option<u64> {
    let mut bs = [0u8; 512];
    dev.read_at(offset, &mut bs).ok()?;
    let bytes_per_sector = bs.le16::<11>();
    let sectors_per_cluster = bs[13];
    let reserved = bs.le16::<14>();
    let fats = bs[16];
    let total16 = bs.le16::<19>();
    let total32 = bs.le32::<32>();
    let jump = bs[0] == 0xEB || bs[0] == 0xE9;
    let signature = bs[510] == 0x55 && bs[511] == 0xAA;
    let sane = matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
        && sectors_per_cluster.is_power_of_two()
        && reserved >= 1
        && fats >= 1
        && (jump || signature);
    let total = if total16 != 0 { u32::from(total16) } else { total32 };
    (sane && total != 0).then(|| u64::from(total) * u64::from(bytes_per_sector))
}

impl BootCatalog {
    fn bootable(&self, platform: Platform) -> impl Iterator<Item = &BootEntry> {
        self.entries.iter().filter(move |e| e.bootable && e.platform == platform)
    }

    /// A bootable x86 BIOS entry with a known media type.
    pub fn bios_entry(&self) -> Option<&BootEntry> {
        self.bootable(Platform::Bios).find(|e| !matches!(e.media, Emulation::Other(_)))
    }

    /// The first bootable EFI entry.
    pub fn efi_entry(&self) -> Option<&BootEntry> {
        self.bootable(Platform::Efi).next()
    }

    pub fn can_boot_bios(&self) -> bool {
        self.bios_entry().is_some()
    }

    pub fn can_boot_uefi(&self) -> bool {
        self.efi_entry().is_some()
    }

    /// Why UEFI cannot boot this catalog, or `None` when it can.
    pub fn uefi_reason(&self) -> Option<&'static str> {
        if self.can_boot_uefi() {
            None
        } else if self.entries.iter().any(|e| e.platform == Platform::Efi) {
            Some("the EFI entry of the El Torito catalog is marked not bootable")
        } else {
            Some("no EFI boot entry in the El Torito catalog")
        }
    }

    /// Why legacy BIOS cannot boot this catalog, or `None` when it can.
    pub fn bios_reason(&self) -> Option<&'static str> {
        if self.can_boot_bios() {
            None
        } else if self.entries.iter().any(|e| e.platform == Platform::Bios) {
            Some("the x86 BIOS entry of the El Torito catalog is not bootable")
        } else {
            Some("no x86 BIOS boot entry in the El Torito catalog")
        }
    }

    /// Byte range `(offset, len)` of the EFI boot image (normally a FAT file system) in the
    /// ISO. The length is the FAT file system's size when the image has a FAT boot sector
    /// (or the declared sector count when larger); without one, a sector count of 0 or 1 means
    /// "up to the end of the image". The range is clipped to the image.
    pub fn efi_image_range<D: ReadAt + ?Sized>(&self, dev: &mut D) -> Option<(u64, u64)> {
        let e = self.efi_entry()?;
        let size = dev.size();
        let start = e.image_offset();
        if start >= size {
            return None;
        }
        let declared = u64::from(e.sector_count) * VIRTUAL_SECTOR;
        let len = match fat_image_size(dev, start) {
            Some(fat) => fat.max(declared),
            None if e.sector_count > 1 => declared,
            None => size - start,
        };
        Some((start, len.min(size - start)))
    }
}

/// Why UEFI cannot boot an ISO, from the result of [`read_catalog`]; `None` when it can.
pub fn uefi_boot_reason(catalog: &Result<BootCatalog, ElToritoError>) -> Option<String> {
    match catalog {
        Ok(c) => c.uefi_reason().map(String::from),
        Err(e) => Some(e.to_string()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::block::MemDevice;
    use crate::iso9660::test_image::{sample, Img};

    pub(crate) fn validation(platform: u8) -> [u8; 32] {
        let mut v = [0u8; 32];
        v[0] = 1;
        v[1] = platform;
        v[4..12].copy_from_slice(b"POLYTEST");
        v[30] = 0x55;
        v[31] = 0xAA;
        let sum =
            v.chunks_exact(2).fold(0u16, |a, w| a.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
        v[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        v
    }

    pub(crate) fn entry(bootable: bool, media: u8, count: u16, rba: u32) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = if bootable { 0x88 } else { 0 };
        e[1] = media;
        e[6..8].copy_from_slice(&count.to_le_bytes());
        e[8..12].copy_from_slice(&rba.to_le_bytes());
        e
    }

    pub(crate) fn header(id: u8, platform: u8, count: u16) -> [u8; 32] {
        let mut h = [0u8; 32];
        h[0] = id;
        h[1] = platform;
        h[2..4].copy_from_slice(&count.to_le_bytes());
        h
    }

    /// A FAT12 boot sector of `sectors` 512-byte sectors.
    fn fat_boot_sector(sectors: u16) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0] = 0xEB;
        b[1] = 0x3C;
        b[2] = 0x90;
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 1;
        b[14] = 1;
        b[16] = 2;
        b[19..21].copy_from_slice(&sectors.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    /// The sample ISO (catalog at 30) with these catalog entries and a FAT boot sector of an
    /// 8-sector (4 KiB) FAT image at block 34; block 38 serves as the BIOS image.
    pub(crate) fn with_catalog(entries: &[[u8; 32]]) -> MemDevice {
        let mut img: Img = sample();
        for (i, e) in entries.iter().enumerate() {
            img.put(30, i * 32, e);
        }
        img.put(34, 0, &fat_boot_sector(8));
        MemDevice::from_vec(img.data)
    }

    fn hybrid() -> Vec<[u8; 32]> {
        vec![validation(0), entry(true, 0, 4, 38), header(0x91, 0xEF, 1), entry(true, 0, 0, 34)]
    }

    #[test]
    fn bios_and_efi_catalog() {
        let mut dev = with_catalog(&hybrid());
        let info = crate::iso9660::probe(&mut dev).unwrap();
        assert_eq!(info.el_torito_catalog, Some(30));
        let cat = read_catalog(&mut dev).unwrap();
        assert_eq!(cat.catalog_lba, 30);
        assert_eq!(cat.platform, Platform::Bios);
        assert_eq!(cat.id_string, "POLYTEST");
        assert_eq!(cat.entries.len(), 2);
        let b = &cat.entries[0];
        assert_eq!(
            (b.platform, b.bootable, b.media, b.sector_count, b.load_rba, b.default_entry),
            (Platform::Bios, true, Emulation::NoEmulation, 4, 38, true)
        );
        assert_eq!(b.catalog_offset, 30 * 2048 + 32);
        let e = &cat.entries[1];
        assert_eq!(
            (e.platform, e.bootable, e.load_rba, e.default_entry),
            (Platform::Efi, true, 34, false)
        );
        assert!(cat.can_boot_bios() && cat.can_boot_uefi());
        assert_eq!(cat.uefi_reason(), None);
        assert_eq!(cat.bios_reason(), None);
        // Sector count 0: the FAT image's own size (8 sectors).
        assert_eq!(cat.efi_image_range(&mut dev), Some((34 * 2048, 8 * 512)));
        assert_eq!(uefi_boot_reason(&Ok(cat)), None);
    }

    #[test]
    fn efi_image_length_rules() {
        // Declared count larger than the FAT size wins.
        let mut cat = hybrid();
        cat[3] = entry(true, 0, 12, 34);
        let mut dev = with_catalog(&cat);
        let c = read_catalog(&mut dev).unwrap();
        assert_eq!(c.efi_image_range(&mut dev), Some((34 * 2048, 12 * 512)));
        // Count 1 and no FAT boot sector: up to the end of the image.
        let mut cat = hybrid();
        cat[3] = entry(true, 0, 1, 36);
        let mut dev = with_catalog(&cat);
        let c = read_catalog(&mut dev).unwrap();
        assert_eq!(c.efi_image_range(&mut dev), Some((36 * 2048, 4 * 2048)));
        // Count > 1 and no FAT: the declared size.
        let mut cat = hybrid();
        cat[3] = entry(true, 0, 3, 36);
        let mut dev = with_catalog(&cat);
        let c = read_catalog(&mut dev).unwrap();
        assert_eq!(c.efi_image_range(&mut dev), Some((36 * 2048, 1536)));
        // A FAT claiming to be larger than the image is clipped.
        let mut cat = hybrid();
        cat[3] = entry(true, 0, 0, 34);
        let mut dev = with_catalog(&cat);
        dev.data[34 * 2048 + 19..34 * 2048 + 21].copy_from_slice(&60000u16.to_le_bytes());
        let c = read_catalog(&mut dev).unwrap();
        assert_eq!(c.efi_image_range(&mut dev), Some((34 * 2048, 6 * 2048)));
        assert_eq!(fat_image_size(&mut dev, 34 * 2048), Some(60000 * 512));
        assert_eq!(fat_image_size(&mut dev, 33 * 2048), None);
        assert_eq!(fat_image_size(&mut dev, u64::MAX - 10), None);
    }

    #[test]
    fn efi_only_and_bios_only_catalogs() {
        // EFI in the validation entry: the default entry is the EFI one.
        let mut dev = with_catalog(&[validation(0xEF), entry(true, 0, 0, 34)]);
        let c = read_catalog(&mut dev).unwrap();
        assert!(c.can_boot_uefi() && !c.can_boot_bios());
        assert_eq!(c.bios_reason(), Some("no x86 BIOS boot entry in the El Torito catalog"));
        let mut dev = with_catalog(&[validation(0), entry(true, 0, 4, 38)]);
        let c = read_catalog(&mut dev).unwrap();
        assert!(!c.can_boot_uefi() && c.can_boot_bios());
        assert_eq!(c.uefi_reason(), Some("no EFI boot entry in the El Torito catalog"));
        let r = Ok(c);
        assert_eq!(uefi_boot_reason(&r).unwrap(), "no EFI boot entry in the El Torito catalog");
        // EFI entry present but not bootable.
        let mut cat = hybrid();
        cat[3] = entry(false, 0, 0, 34);
        let c = read_catalog(&mut with_catalog(&cat)).unwrap();
        assert_eq!(
            c.uefi_reason(),
            Some("the EFI entry of the El Torito catalog is marked not bootable")
        );
        assert_eq!(c.efi_image_range(&mut with_catalog(&cat)), None);
    }

    #[test]
    fn no_boot_record() {
        let mut img = sample();
        img.put(17, 7, b"SOMETHING ELSE");
        let mut dev = MemDevice::from_vec(img.data);
        let r = read_catalog(&mut dev);
        assert_eq!(r, Err(ElToritoError::NoBootRecord));
        assert_eq!(uefi_boot_reason(&r).unwrap(), "no El Torito boot record");
        assert!(matches!(
            read_catalog(&mut MemDevice::new(100)),
            Err(ElToritoError::Iso(IsoError::TooSmall { .. }))
        ));
        assert!(matches!(
            read_catalog(&mut MemDevice::new(40 * 2048)),
            Err(ElToritoError::Iso(IsoError::NotIso))
        ));
    }

    #[test]
    fn several_sections_and_extensions() {
        let mut ext = [0u8; 32];
        ext[0] = 0x44;
        ext[1] = 0x20; // another extension follows
        let mut ext2 = [0u8; 32];
        ext2[0] = 0x44;
        let cat = [
            validation(0),
            entry(false, 0, 0, 0),
            header(0x90, 2, 2),
            entry(true, 0x20, 4, 38), // Mac entry with two extensions
            ext,
            ext2,
            entry(false, 2, 1, 38),
            header(0x90, 0xEF, 1),
            entry(true, 0, 8, 34),
            header(0x91, 0, 1),
            entry(true, 4, 1, 38),
        ];
        let mut dev = with_catalog(&cat);
        let c = read_catalog(&mut dev).unwrap();
        let summary: Vec<_> = c.entries.iter().map(|e| (e.platform, e.bootable, e.media)).collect();
        assert_eq!(
            summary,
            [
                (Platform::Bios, false, Emulation::NoEmulation),
                (Platform::Other(2), true, Emulation::NoEmulation),
                (Platform::Other(2), false, Emulation::Floppy144),
                (Platform::Efi, true, Emulation::NoEmulation),
                (Platform::Bios, true, Emulation::HardDisk),
            ]
        );
        assert_eq!(c.entries[3].catalog_offset, 30 * 2048 + 8 * 32);
        assert!(c.can_boot_bios() && c.can_boot_uefi());
    }

    #[test]
    fn hostile_catalogs() {
        // Checksum wrong.
        let mut cat = hybrid();
        cat[0][5] ^= 1;
        assert!(matches!(
            read_catalog(&mut with_catalog(&cat)),
            Err(ElToritoError::BadChecksum { .. })
        ));
        // Key bytes / header id.
        let mut cat = hybrid();
        cat[0][31] = 0;
        assert!(matches!(
            read_catalog(&mut with_catalog(&cat)),
            Err(ElToritoError::BadValidationEntry(_))
        ));
        let mut cat = hybrid();
        cat[0][0] = 2;
        assert!(matches!(
            read_catalog(&mut with_catalog(&cat)),
            Err(ElToritoError::BadValidationEntry(_))
        ));
        // Bootable entry past the end of the image.
        let mut cat = hybrid();
        cat[1] = entry(true, 0, 4, 1_000_000);
        let e = read_catalog(&mut with_catalog(&cat)).unwrap_err();
        assert_eq!(
            e,
            ElToritoError::EntryOutOfBounds {
                index: 1,
                start: 1_000_000 * 2048,
                end: 1_000_000 * 2048 + 2048,
                size: 40 * 2048
            }
        );
        // Sector count reaching past the end.
        let mut cat = hybrid();
        cat[3] = entry(true, 0, 40, 36);
        assert!(matches!(
            read_catalog(&mut with_catalog(&cat)),
            Err(ElToritoError::EntryOutOfBounds { index: 3, .. })
        ));
        // Floppy emulation image larger than the ISO.
        let mut cat = hybrid();
        cat[1] = entry(true, 2, 1, 38);
        assert!(matches!(
            read_catalog(&mut with_catalog(&cat)),
            Err(ElToritoError::EntryOutOfBounds { index: 1, .. })
        ));
        // Garbage boot indicator.
        let mut cat = hybrid();
        cat[3][0] = 0x42;
        assert!(matches!(
            read_catalog(&mut with_catalog(&cat)),
            Err(ElToritoError::BadEntry { index: 3, .. })
        ));
        // Missing extension.
        let mut cat = hybrid();
        cat[3][1] = 0x20;
        assert!(matches!(
            read_catalog(&mut with_catalog(&cat)),
            Err(ElToritoError::BadEntry { index: 4, .. })
        ));
        // Catalog pointer past the end.
        let mut img = sample();
        img.boot_record(17, 5000);
        let mut dev = MemDevice::from_vec(img.data);
        assert!(matches!(
            read_catalog(&mut dev),
            Err(ElToritoError::CatalogOutOfBounds { lba: 5000, .. })
        ));
        assert!(matches!(
            parse_catalog(&mut dev, u32::MAX),
            Err(ElToritoError::CatalogOutOfBounds { .. })
        ));
        // Catalog in the last sector: a 0x90 header with its entries past the end.
        let mut img = sample();
        let mut tail = Vec::new();
        for e in [validation(0), entry(true, 0, 4, 38)] {
            tail.extend_from_slice(&e);
        }
        for _ in 0..62 {
            tail.extend_from_slice(&header(0x90, 0, 0));
        }
        img.put(39, 0, &tail);
        img.boot_record(17, 39);
        let mut dev = MemDevice::from_vec(img.data.clone());
        let c = read_catalog(&mut dev).unwrap();
        assert_eq!(c.entries.len(), 1);
        img.put(39, 2016, &header(0x91, 0, 3));
        let mut dev = MemDevice::from_vec(img.data);
        assert!(matches!(read_catalog(&mut dev), Err(ElToritoError::BadEntry { index: 64, .. })));
    }

    #[test]
    fn endless_section_chain_is_cut() {
        // A catalog whose every entry is a "more sections follow" header with no entries,
        // over more sectors than the cap.
        let mut img = Img::new(60);
        let src = sample();
        img.data[..40 * 2048].copy_from_slice(&src.data);
        img.put(16, 80, &[60, 0, 0, 0, 0, 0, 0, 60]);
        let mut cat = vec![validation(0), entry(true, 0, 4, 38)];
        cat.extend(core::iter::repeat_n(header(0x90, 0, 0), 64 * 20));
        for (i, e) in cat.iter().enumerate() {
            let at = 39 * 2048 + i * 32;
            if at + 32 <= img.data.len() {
                img.data[at..at + 32].copy_from_slice(e);
            }
        }
        img.boot_record(17, 39);
        let mut dev = MemDevice::from_vec(img.data);
        assert_eq!(read_catalog(&mut dev), Err(ElToritoError::CatalogTooLong));
    }

    #[test]
    fn random_catalogs_never_panic() {
        let mut rng = crate::testutil::Rng(0x9E37_79B9_7F4A_7C15u64);
        let mut next = move || rng.next();
        for round in 0..2000 {
            let mut cat = hybrid();
            if round % 2 == 0 {
                cat.extend([
                    header(0x90, 0xEF, 3),
                    entry(true, 0x20, 1, 34),
                    entry(true, 0, 1, 36),
                ]);
            }
            let mut img = sample();
            for (i, e) in cat.iter().enumerate() {
                img.put(30, i * 32, e);
            }
            for _ in 0..1 + next() % 6 {
                let at = 30 * 2048 + (next() % 256) as usize;
                img.data[at] = next() as u8;
            }
            // Keep the checksum valid half of the time so parsing goes further.
            if round % 2 == 1 {
                let v: [u8; 32] = img.data[30 * 2048..30 * 2048 + 32].try_into().unwrap();
                let mut v2 = v;
                v2[28] = 0;
                v2[29] = 0;
                let sum = v2
                    .chunks_exact(2)
                    .fold(0u16, |a, w| a.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
                img.put(30, 28, &0u16.wrapping_sub(sum).to_le_bytes());
            }
            let mut dev = MemDevice::from_vec(img.data);
            let r = read_catalog(&mut dev);
            let _ = uefi_boot_reason(&r);
            if let Ok(c) = r {
                let _ = c.efi_image_range(&mut dev);
                let _ = (c.can_boot_bios(), c.bios_reason());
            }
        }
    }
}
