//! INT 13h disk emulation for the legacy BIOS boot path, as pure logic (issue 6).
//!
//! When the BIOS loader boots an image file, it hooks INT 13h and answers requests for an
//! *emulated drive* (the ISO as a CD, an El Torito floppy or hard-disk image, or an IMG as the
//! first hard disk) from the file's [`VirtualMedium`] — extents on the real drive, virtual
//! regions and overrides (the same initrd wrapping as under UEFI) — and passes everything
//! else to the original handler, with drive numbers shifted when the emulated drive takes a
//! real one's number. This module decides all of that; the real-mode code only moves bytes:
//!
//! - [`EmulatedDrive`]: sector size, where the emulated medium starts in the virtual medium, its
//!   length and CHS geometry; turns a request (LBA or CHS, count) into a virtual-disk byte
//!   range, or the INT 13h status to return.
//! - [`sector_reads`]: a byte range of the real drive as reads of whole real sectors (512 or
//!   4096 bytes) through a bounce buffer of limited size, for the original handler's AH=42h.
//! - [`DriveMap`]: which BIOS drive number is emulated and where the real drives moved.

use crate::eltorito::{BootEntry, Emulation};
use crate::iso9660::SECTOR_SIZE as CD_SECTOR;

/// INT 13h status codes (AH on return) that emulation produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0x01: bad command or parameters (e.g. a zero sector number in CHS).
    BadCommand = 0x01,
    /// 0x04: sector not found (outside the medium).
    SectorNotFound = 0x04,
    /// 0x03: write protected (every emulated medium is read-only).
    WriteProtected = 0x03,
}

/// CHS geometry of an emulated floppy or hard disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub cylinders: u32,
    pub heads: u32,
    pub sectors_per_track: u32,
}

impl Geometry {
    /// The geometry of an El Torito floppy emulation type.
    pub fn floppy(media: Emulation) -> Option<Geometry> {
        let spt = match media {
            Emulation::Floppy12 => 15,
            Emulation::Floppy144 => 18,
            Emulation::Floppy288 => 36,
            _ => return None,
        };
        Some(Geometry { cylinders: 80, heads: 2, sectors_per_track: spt })
    }

    /// A hard disk's geometry from its MBR (the first partition entry's end head / sector, as
    /// the El Torito specification says to derive it), else the usual 255 heads × 63 sectors.
    pub fn from_mbr(mbr: &[u8; 512], sectors: u64) -> Geometry {
        let entry = &mbr[446..462];
        let (end_head, end_sector) = (u32::from(entry[5]), u32::from(entry[6] & 0x3F));
        let (heads, spt) = if mbr[510..512] == [0x55, 0xAA] && end_sector > 0 {
            (end_head + 1, end_sector)
        } else {
            (255, 63)
        };
        let cylinders = (sectors / u64::from(heads * spt)).clamp(1, 1024) as u32;
        Geometry { cylinders, heads, sectors_per_track: spt }
    }

    /// The LBA of cylinder / head / sector (sector counted from 1), or `None` off the geometry.
    pub fn lba(&self, c: u32, h: u32, s: u32) -> Option<u64> {
        if s == 0 || s > self.sectors_per_track || h >= self.heads || c >= self.cylinders {
            return None;
        }
        Some(
            (u64::from(c) * u64::from(self.heads) + u64::from(h))
                * u64::from(self.sectors_per_track)
                + u64::from(s - 1),
        )
    }
}

/// Cylinder, head and sector from the registers of AH=02h: CH = cylinder bits 0..7, CL bits
/// 6..7 = cylinder bits 8..9, CL bits 0..5 = sector, DH = head.
pub fn chs_from_registers(cx: u16, dh: u8) -> (u32, u32, u32) {
    let [cl, ch] = cx.to_le_bytes();
    let cylinder = u32::from(ch) | (u32::from(cl & 0xC0) << 2);
    (cylinder, u32::from(dh), u32::from(cl & 0x3F))
}

/// What kind of drive the BIOS sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveKind {
    /// El Torito no-emulation: a CD drive with 2048-byte sectors (LBA only).
    Cdrom,
    Floppy,
    HardDisk,
}

/// An emulated drive: `sectors` sectors of `sector_size` bytes starting at byte `base` of the
/// image's virtual medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmulatedDrive {
    pub kind: DriveKind,
    pub sector_size: u32,
    pub base: u64,
    pub sectors: u64,
    pub geometry: Option<Geometry>,
}

impl EmulatedDrive {
    /// The whole ISO (its virtual medium of `disk_size` bytes, wrapped initrds included) as a CD.
    pub fn cdrom(disk_size: u64) -> EmulatedDrive {
        EmulatedDrive {
            kind: DriveKind::Cdrom,
            sector_size: CD_SECTOR as u32,
            base: 0,
            sectors: disk_size / CD_SECTOR,
            geometry: None,
        }
    }

    /// An IMG file as a hard disk of 512-byte sectors; `mbr` is its first sector.
    pub fn disk_image(image_len: u64, mbr: &[u8; 512]) -> EmulatedDrive {
        let sectors = image_len / 512;
        EmulatedDrive {
            kind: DriveKind::HardDisk,
            sector_size: 512,
            base: 0,
            sectors,
            geometry: Some(Geometry::from_mbr(mbr, sectors)),
        }
    }

    /// The drive an El Torito BIOS boot entry asks for, in an image of `image_len` bytes
    /// (`first_sector`: the boot image's first 512 bytes, for a hard-disk image's geometry).
    /// `None` when the entry's image lies outside the file or the media type is unknown.
    pub fn from_boot_entry(
        entry: &BootEntry,
        image_len: u64,
        first_sector: &[u8; 512],
    ) -> Option<EmulatedDrive> {
        let base = entry.image_offset();
        let available = image_len.checked_sub(base)?;
        match entry.media {
            Emulation::NoEmulation => {
                Some(EmulatedDrive::cdrom(image_len.next_multiple_of(CD_SECTOR)))
            }
            Emulation::Floppy12 | Emulation::Floppy144 | Emulation::Floppy288 => {
                let bytes = entry.media.floppy_bytes()?;
                (available >= bytes).then(|| EmulatedDrive {
                    kind: DriveKind::Floppy,
                    sector_size: 512,
                    base,
                    sectors: bytes / 512,
                    geometry: Geometry::floppy(entry.media),
                })
            }
            Emulation::HardDisk => {
                // The emulated disk runs to the end of the file: its partition says how much
                // it uses, the catalog's sector count covers only what the BIOS loads first.
                let sectors = available / 512;
                (sectors > 0).then(|| EmulatedDrive {
                    kind: DriveKind::HardDisk,
                    sector_size: 512,
                    base,
                    sectors,
                    geometry: Some(Geometry::from_mbr(first_sector, sectors)),
                })
            }
            Emulation::Other(_) => None,
        }
    }

    /// The virtual-disk byte range of `count` sectors from `lba`.
    pub fn range(&self, lba: u64, count: u32) -> Result<(u64, usize), Status> {
        let end = lba.checked_add(u64::from(count)).ok_or(Status::SectorNotFound)?;
        if count == 0 || end > self.sectors {
            return Err(Status::SectorNotFound);
        }
        let offset = self.base + lba * u64::from(self.sector_size);
        Ok((offset, count as usize * self.sector_size as usize))
    }

    /// The byte range of an AH=02h request (CHS registers, AL = count).
    pub fn range_chs(&self, cx: u16, dh: u8, count: u8) -> Result<(u64, usize), Status> {
        let geometry = self.geometry.ok_or(Status::BadCommand)?;
        let (c, h, s) = chs_from_registers(cx, dh);
        let lba = geometry.lba(c, h, s).ok_or(Status::SectorNotFound)?;
        self.range(lba, u32::from(count))
    }
}

/// One read of whole real-drive sectors through the bounce buffer: `sectors` from `lba`, of
/// which bytes `[skip, skip + len)` go to the caller's buffer at `buf_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectorRead {
    pub lba: u64,
    pub sectors: u32,
    pub skip: usize,
    pub len: usize,
    pub buf_offset: usize,
}

/// Byte range `[offset, offset + len)` of a drive with `sector_size`-byte sectors as reads of
/// at most `max_bytes` (the bounce buffer; at least one sector) each, in order.
pub fn sector_reads(
    offset: u64,
    len: usize,
    sector_size: u32,
    max_bytes: usize,
) -> impl Iterator<Item = SectorRead> {
    let ss = u64::from(sector_size.max(1));
    let max_sectors = (max_bytes as u64 / ss).max(1);
    let mut pos = offset;
    let end = offset + len as u64;
    core::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let lba = pos / ss;
        let skip = (pos % ss) as usize;
        let sectors = (end - lba * ss).div_ceil(ss).min(max_sectors);
        let take = (sectors * ss - skip as u64).min(end - pos);
        let read = SectorRead {
            lba,
            sectors: sectors as u32,
            skip,
            len: take as usize,
            buf_offset: (pos - offset) as usize,
        };
        pos += take;
        Some(read)
    })
}

/// Where a request for BIOS drive `dl` goes once an emulated drive is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Emulated,
    /// The original handler, for this (possibly shifted) drive number.
    Real(u8),
}

/// The drive numbers while an image boots: a CD takes the first free CD number (0xE0 up);
/// an emulated floppy becomes 0x00 and an emulated hard disk 0x80, each shifting the real
/// drives of its kind up by one (so the polyboot drive itself stays reachable, as 0x81 when it
/// was 0x80).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriveMap {
    pub emulated: u8,
    kind: DriveKind,
}

impl DriveMap {
    /// `used_cd_numbers`: CD drive numbers the BIOS already answers for.
    pub fn new(kind: DriveKind, used_cd_numbers: &[u8]) -> DriveMap {
        let emulated = match kind {
            DriveKind::Cdrom => {
                (0xE0..=0xFF).find(|n| !used_cd_numbers.contains(n)).unwrap_or(0xFF)
            }
            DriveKind::Floppy => 0x00,
            DriveKind::HardDisk => 0x80,
        };
        DriveMap { emulated, kind }
    }

    pub fn route(&self, dl: u8) -> Route {
        if dl == self.emulated {
            return Route::Emulated;
        }
        let shifted = match self.kind {
            DriveKind::Cdrom => dl,
            // The real drive now called `dl` was `dl - 1` before.
            DriveKind::Floppy if dl < 0x80 => dl - 1,
            DriveKind::HardDisk if (0x81..0xE0).contains(&dl) => dl - 1,
            _ => dl,
        };
        Route::Real(shifted)
    }

    /// The BIOS's hard-disk count (0040:0075) or floppy count once the drive is installed.
    pub fn adjusted_count(&self, kind: DriveKind, count: u8) -> u8 {
        if kind == self.kind && kind != DriveKind::Cdrom {
            count.saturating_add(1)
        } else {
            count
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{MemDevice, ReadAt};
    use crate::eltorito::Platform;
    use crate::virtual_medium::{Extent, RegionSource, VirtualMedium};
    use alloc::vec;
    use alloc::vec::Vec;

    fn entry(media: Emulation, rba: u32) -> BootEntry {
        BootEntry {
            platform: Platform::Bios,
            bootable: true,
            media,
            load_segment: 0,
            system_type: 0,
            sector_count: 4,
            load_rba: rba,
            default_entry: true,
            catalog_offset: 0,
        }
    }

    /// A physical disk whose byte `i` is `i * 7 % 251`, and a 64 KiB image file stored on it in
    /// three extents out of order (one straddling no sector boundary of a 4096-byte disk).
    fn setup() -> (MemDevice, VirtualMedium) {
        let disk: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
        let extents = vec![
            Extent { file_offset: 0, device_offset: 0x8_0000, len: 0x4000 },
            Extent { file_offset: 0x4000, device_offset: 0x1_0200, len: 0x6000 },
            Extent { file_offset: 0xA000, device_offset: 0x2_0000, len: 0x6000 },
        ];
        let vd = VirtualMedium::new(2048, 0x1_0000, 0x1000, extents).unwrap();
        (MemDevice::from_vec(disk), vd)
    }

    /// What the real-mode handler does: sector reads through a bounce buffer, then overrides.
    fn serve(
        vd: &VirtualMedium,
        disk: &mut MemDevice,
        offset: u64,
        len: usize,
        ss: u32,
        bounce: usize,
    ) -> Vec<u8> {
        let mut out = vec![0u8; len];
        for piece in vd.plan_read(offset, len).unwrap() {
            let dst = &mut out[piece.buf_offset..piece.buf_offset + piece.len];
            match piece.source {
                crate::virtual_medium::PieceSource::Zero => dst.fill(0),
                crate::virtual_medium::PieceSource::Memory { region, offset } => {
                    match &vd.regions()[region].source {
                        RegionSource::Memory(m) => {
                            dst.copy_from_slice(&m[offset..offset + dst.len()])
                        }
                        _ => unreachable!(),
                    }
                }
                crate::virtual_medium::PieceSource::Device { offset } => {
                    for r in sector_reads(offset, dst.len(), ss, bounce) {
                        assert!(r.sectors as usize * ss as usize <= bounce.max(ss as usize));
                        let mut sectors = vec![0u8; r.sectors as usize * ss as usize];
                        disk.read_at(r.lba * u64::from(ss), &mut sectors).unwrap();
                        dst[r.buf_offset..r.buf_offset + r.len]
                            .copy_from_slice(&sectors[r.skip..r.skip + r.len]);
                    }
                }
            }
        }
        vd.apply_overrides(offset, &mut out);
        out
    }

    #[test]
    fn cd_sectors_map_through_extents_on_512_and_4096_byte_drives() {
        let (mut disk, mut vd) = setup();
        vd.add_override(0x3FF0, vec![0xEE; 0x20]).unwrap(); // across the first extent's end
        vd.append_region(3000, RegionSource::Memory(vec![0x42; 3000].into())).unwrap();
        let cd = EmulatedDrive::cdrom(vd.size());
        assert_eq!(cd.sectors, 0x1_0000 / 2048 + 2);
        for (ss, bounce) in [(512, 4096), (512, 512), (4096, 4096), (4096, 65536)] {
            for lba in 0..cd.sectors {
                for count in 1..=(cd.sectors - lba).min(5) as u32 {
                    let (offset, len) = cd.range(lba, count).unwrap();
                    let mut want = vec![0u8; len];
                    vd.read(&mut disk, offset, &mut want).unwrap();
                    assert_eq!(
                        serve(&vd, &mut disk, offset, len, ss, bounce),
                        want,
                        "lba {lba} count {count} ss {ss}"
                    );
                }
            }
        }
        assert_eq!(cd.range(cd.sectors - 1, 2), Err(Status::SectorNotFound));
        assert_eq!(cd.range(0, 0), Err(Status::SectorNotFound));
        assert_eq!(cd.range(u64::MAX, 2), Err(Status::SectorNotFound));
    }

    #[test]
    fn sector_reads_split_on_the_bounce_buffer_and_skip_into_the_first_sector() {
        let reads: Vec<SectorRead> = sector_reads(4096 + 100, 10_000, 4096, 8192).collect();
        assert_eq!(
            reads,
            [
                SectorRead { lba: 1, sectors: 2, skip: 100, len: 8092, buf_offset: 0 },
                SectorRead { lba: 3, sectors: 1, skip: 0, len: 1908, buf_offset: 8092 },
            ]
        );
        // A bounce buffer smaller than a sector still makes progress one sector at a time.
        assert_eq!(sector_reads(0, 1024, 512, 100).count(), 2);
        assert_eq!(sector_reads(0, 0, 512, 4096).count(), 0);
    }

    #[test]
    fn floppy_emulation_chs_and_lba() {
        let e = entry(Emulation::Floppy144, 30);
        let image_len = 30 * 2048 + 1_474_560;
        let d = EmulatedDrive::from_boot_entry(&e, image_len, &[0; 512]).unwrap();
        assert_eq!(
            (d.kind, d.sector_size, d.base, d.sectors),
            (DriveKind::Floppy, 512, 30 * 2048, 2880)
        );
        let g = d.geometry.unwrap();
        assert_eq!(g.lba(0, 0, 1), Some(0));
        assert_eq!(g.lba(0, 1, 1), Some(18));
        assert_eq!(g.lba(1, 0, 1), Some(36));
        assert_eq!(g.lba(79, 1, 18), Some(2879));
        assert_eq!(g.lba(0, 0, 0), None, "sectors count from 1");
        assert_eq!(g.lba(0, 2, 1), None);
        assert_eq!(g.lba(80, 0, 1), None);
        // AH=02h, cylinder 1, head 1, sector 3: CX = 0x0103, DH = 1.
        assert_eq!(chs_from_registers(0x0103, 1), (1, 1, 3));
        assert_eq!(d.range_chs(0x0103, 1, 2), Ok((30 * 2048 + (36 + 18 + 2) * 512, 1024)));
        // Cylinder bits 8..9 come from CL's top bits.
        assert_eq!(chs_from_registers(0x02C5, 0), (0x302, 0, 5));
        assert_eq!(d.range_chs(0x0100, 0, 1), Err(Status::SectorNotFound));
        // The image must hold the whole floppy.
        assert_eq!(EmulatedDrive::from_boot_entry(&e, image_len - 1, &[0; 512]), None);
    }

    #[test]
    fn hard_disk_emulation_takes_its_geometry_from_the_mbr() {
        let mut mbr = [0u8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        mbr[446 + 5] = 15; // end head
        mbr[446 + 6] = 32 | 0xC0; // end sector 32 (cylinder high bits set)
        let e = entry(Emulation::HardDisk, 10);
        let d = EmulatedDrive::from_boot_entry(&e, 10 * 2048 + 16 * 32 * 512 * 20, &mbr).unwrap();
        assert_eq!(d.geometry, Some(Geometry { cylinders: 20, heads: 16, sectors_per_track: 32 }));
        assert_eq!(d.range(1, 1), Ok((10 * 2048 + 512, 512)));
        // No signature: the usual 255 x 63.
        let g = Geometry::from_mbr(&[0; 512], 1 << 21);
        assert_eq!((g.heads, g.sectors_per_track, g.cylinders), (255, 63, 130));
        // Outside the file, or an unknown media type: no drive.
        assert_eq!(EmulatedDrive::from_boot_entry(&e, 10 * 2048, &mbr), None);
        assert_eq!(
            EmulatedDrive::from_boot_entry(&entry(Emulation::Other(9), 0), 1 << 20, &mbr),
            None
        );
        assert_eq!(
            EmulatedDrive::from_boot_entry(&entry(Emulation::NoEmulation, 0), 5000, &mbr)
                .unwrap()
                .sectors,
            3
        );
    }

    #[test]
    fn drive_numbers_shift_so_the_real_drives_stay_reachable() {
        let hd = DriveMap::new(DriveKind::HardDisk, &[]);
        assert_eq!(hd.route(0x80), Route::Emulated);
        assert_eq!(hd.route(0x81), Route::Real(0x80), "the polyboot drive, moved up by one");
        assert_eq!(hd.route(0x82), Route::Real(0x81));
        assert_eq!(hd.route(0x00), Route::Real(0x00));
        assert_eq!(hd.route(0xE0), Route::Real(0xE0), "CD numbers do not move");
        assert_eq!(hd.adjusted_count(DriveKind::HardDisk, 1), 2);
        assert_eq!(hd.adjusted_count(DriveKind::Floppy, 1), 1);

        let fd = DriveMap::new(DriveKind::Floppy, &[]);
        assert_eq!(
            (fd.route(0x00), fd.route(0x01), fd.route(0x80)),
            (Route::Emulated, Route::Real(0x00), Route::Real(0x80))
        );

        let cd = DriveMap::new(DriveKind::Cdrom, &[0xE0]);
        assert_eq!(cd.emulated, 0xE1, "the next free CD number");
        assert_eq!(
            (cd.route(0xE1), cd.route(0xE0), cd.route(0x80)),
            (Route::Emulated, Route::Real(0xE0), Route::Real(0x80))
        );
        assert_eq!(cd.adjusted_count(DriveKind::HardDisk, 1), 1);
    }
}
