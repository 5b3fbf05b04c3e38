//! The boot plan of an image under one firmware: whether it can boot, and if not why, and how
//! polyboot will start it ([`BootMethod`]). Shared by the boot menus (UEFI and BIOS) and
//! `polyboot check`. Reads only a few sectors per image.

use crate::block::ReadAt;
use crate::config::Firmware;
use crate::eltorito::{self, Emulation};
use crate::exfat::ExFat;
use crate::gpt;
use crate::guid::Guid;
use crate::int13::{DriveKind, EmulatedDrive};
use crate::iso9660::{self, IsoError};
use crate::mbr::{self, Mbr};
use crate::menu::{ImageEntry, ImageKind, Status};
use alloc::format;
use alloc::string::String;

/// Status under `firmware` of an image on an exFAT volume; `None` leaves the menu's own status
/// (e.g. "not bootable yet" for WIM / VHD).
pub fn status<D: ReadAt>(
    fs: &mut ExFat<D>,
    image: &ImageEntry,
    firmware: Firmware,
) -> Option<Status> {
    let mut file = match fs.open_file(&image.path) {
        Ok(f) => f,
        Err(e) => return Some(Status::NotBootable(format!("cannot open the file: {e}"))),
    };
    image_status(image.kind, &mut file, firmware)
}

/// How polyboot starts an image under one firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMethod {
    /// UEFI: the El Torito EFI boot image, the ISO served as a CD.
    EfiEntry,
    /// UEFI: the disk image's EFI system partition.
    EfiSystemPartition,
    /// UEFI: the EFI application itself.
    EfiApplication,
    /// UEFI: a WIM served as a synthetic CD with the boot files from inside it
    /// ([`crate::winpe_medium`]).
    WinPeMedium,
    /// BIOS: El Torito no emulation, the ISO served as a CD drive (2048-byte sectors).
    NoEmulation,
    /// BIOS: El Torito floppy emulation of this size, as floppy drive 0x00.
    FloppyEmulation(Emulation),
    /// BIOS: El Torito hard-disk emulation, as hard disk 0x80.
    HardDiskEmulation,
    /// BIOS: the disk image's MBR, as hard disk 0x80 (its boot code is checked when it boots).
    DiskImageMbr,
}

impl BootMethod {
    /// A stable name for machine-readable output.
    pub fn code(self) -> &'static str {
        match self {
            BootMethod::EfiEntry => "efi_entry",
            BootMethod::EfiSystemPartition => "efi_system_partition",
            BootMethod::EfiApplication => "efi_application",
            BootMethod::WinPeMedium => "winpe_medium",
            BootMethod::NoEmulation => "no_emulation",
            BootMethod::FloppyEmulation(_) => "floppy_emulation",
            BootMethod::HardDiskEmulation => "hard_disk_emulation",
            BootMethod::DiskImageMbr => "disk_image_mbr",
        }
    }

    /// What polyboot will do, for people.
    pub fn describe(self) -> &'static str {
        match self {
            BootMethod::EfiEntry => "El Torito EFI boot image, the ISO served as a CD",
            BootMethod::EfiSystemPartition => "the disk image's EFI system partition",
            BootMethod::EfiApplication => "started as an EFI application",
            BootMethod::WinPeMedium => {
                "served as a virtual CD with the WIM's own Windows boot manager and a BCD that boots it as a ramdisk"
            }
            BootMethod::NoEmulation => "El Torito no-emulation, served as a CD drive",
            BootMethod::FloppyEmulation(Emulation::Floppy12) => {
                "El Torito floppy emulation (1.2 MB), served as floppy drive 0x00"
            }
            BootMethod::FloppyEmulation(Emulation::Floppy288) => {
                "El Torito floppy emulation (2.88 MB), served as floppy drive 0x00"
            }
            BootMethod::FloppyEmulation(_) => {
                "El Torito floppy emulation (1.44 MB), served as floppy drive 0x00"
            }
            BootMethod::HardDiskEmulation => {
                "El Torito hard-disk emulation, served as hard disk 0x80"
            }
            BootMethod::DiskImageMbr => "the disk image's MBR boot code, served as hard disk 0x80",
        }
    }
}

/// What polyboot will do with an image under one firmware: the menu's status (`None` leaves
/// the menu's own) and, when it can boot or may, how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub status: Option<Status>,
    pub method: Option<BootMethod>,
}

/// Status under `firmware` of an image of `kind` read from `file` (a file on the drive, or on
/// the host).
pub fn image_status<R: ReadAt>(
    kind: ImageKind,
    file: &mut R,
    firmware: Firmware,
) -> Option<Status> {
    plan(kind, file, firmware).status
}

/// [`image_status`] and how the image will be started: the one answer of the boot menus and
/// `polyboot check`, per firmware.
pub fn plan<R: ReadAt>(kind: ImageKind, file: &mut R, firmware: Firmware) -> Plan {
    let (status, method) = match (kind, firmware) {
        (ImageKind::Iso, _) => {
            let (status, method) = iso_plan(file, firmware);
            (Some(status), method)
        }
        (ImageKind::Img, Firmware::Uefi) => {
            let status = disk_image_status(file);
            let method = (!matches!(status, Status::NotBootable(_)))
                .then_some(BootMethod::EfiSystemPartition);
            (Some(status), method)
        }
        (ImageKind::Img, Firmware::Bios) => {
            let status = disk_image_bios_status(file);
            let method =
                matches!(status, Status::Bootable { .. }).then_some(BootMethod::DiskImageMbr);
            (Some(status), method)
        }
        (ImageKind::Efi, Firmware::Uefi) => {
            let status = efi_status(file);
            let method =
                matches!(status, Status::Bootable { .. }).then_some(BootMethod::EfiApplication);
            (Some(status), method)
        }
        (ImageKind::Efi, Firmware::Bios) => (
            Some(Status::NotBootable(String::from("an EFI application needs UEFI firmware"))),
            None,
        ),
        // Served as a synthetic CD (`winpe_medium`), planned when it boots: reading the WIM's
        // boot files is too much for building the menu.
        (ImageKind::Wim, _) => (None, Some(BootMethod::WinPeMedium)),
        _ => (None, None),
    };
    Plan { status, method }
}

/// Status of an ISO under `firmware`: a damaged or truncated copy is reported the same under
/// both; then the El Torito catalog must have an entry for this firmware.
pub fn iso_status<R: ReadAt>(file: &mut R, firmware: Firmware) -> Status {
    iso_plan(file, firmware).0
}

fn iso_plan<R: ReadAt>(file: &mut R, firmware: Firmware) -> (Status, Option<BootMethod>) {
    match iso9660::probe(file) {
        Ok(_) => {}
        Err(IsoError::Truncated { needed, have }) => {
            return (Status::NotBootable(format!(
                "truncated: the ISO needs {needed} bytes but the file has {have} (incomplete copy or download?)"
            )), None)
        }
        Err(e) => return (Status::NotBootable(format!("not a valid ISO: {e}")), None),
    }
    let catalog = match eltorito::read_catalog(file) {
        Ok(c) => c,
        Err(e) => return (Status::NotBootable(format!("not bootable: {e}")), None),
    };
    match (firmware, catalog.uefi_reason()) {
        (Firmware::Uefi, None) => (
            Status::Bootable { bios: catalog.can_boot_bios(), uefi: true },
            Some(BootMethod::EfiEntry),
        ),
        (Firmware::Uefi, Some(reason)) if catalog.can_boot_bios() => {
            (Status::NotBootable(format!("BIOS only: {reason}")), None)
        }
        (Firmware::Uefi, Some(reason)) => (Status::NotBootable(String::from(reason)), None),
        (Firmware::Bios, uefi) => match bios_drive(file, &catalog) {
            Ok(kind) => (
                Status::Bootable { bios: true, uefi: uefi.is_none() },
                Some(match kind {
                    (DriveKind::Cdrom, _) => BootMethod::NoEmulation,
                    (DriveKind::Floppy, media) => BootMethod::FloppyEmulation(media),
                    (DriveKind::HardDisk, _) => BootMethod::HardDiskEmulation,
                }),
            ),
            Err(reason) => (Status::NotBootable(reason), None),
        },
    }
}

/// The drive the BIOS boot code will emulate for the catalog's BIOS entry: the same
/// [`EmulatedDrive::from_boot_entry`] it boots with.
fn bios_drive<R: ReadAt>(
    file: &mut R,
    catalog: &eltorito::BootCatalog,
) -> Result<(DriveKind, Emulation), String> {
    let entry = catalog.bios_entry().ok_or_else(|| {
        String::from("no BIOS El Torito boot entry: this ISO boots in UEFI mode only")
    })?;
    let mut first = [0u8; 512];
    file.read_at(entry.image_offset(), &mut first)
        .map_err(|_| format!("the BIOS boot entry ({:?}) lies outside the ISO", entry.media))?;
    EmulatedDrive::from_boot_entry(entry, file.size(), &first)
        .map(|d| (d.kind, entry.media))
        .ok_or_else(|| format!("the BIOS boot entry ({:?}) lies outside the ISO", entry.media))
}

/// A raw disk image boots in UEFI through an EFI system partition.
fn disk_image_status<R: ReadAt>(file: &mut R) -> Status {
    if let Ok(Some(ss)) = gpt::detect_sector_size(file) {
        return match gpt::read(file, ss) {
            Ok(read) if read.gpt.partitions().any(|(_, p)| p.type_guid == Guid::EFI_SYSTEM) => {
                Status::Bootable { bios: false, uefi: true }
            }
            Ok(_) => {
                Status::NotBootable(String::from("the disk image has no EFI system partition"))
            }
            Err(e) => Status::NotBootable(format!("the disk image's GPT is unreadable: {e}")),
        };
    }
    let mut sector = [0u8; 512];
    if file.read_at(0, &mut sector).is_err() {
        return Status::NotBootable(String::from("the file is too small to be a disk image"));
    }
    match Mbr::parse(&sector) {
        Ok(table) if table.used().any(|(_, p)| p.partition_type == mbr::types::EFI_SYSTEM) => {
            Status::Bootable { bios: false, uefi: true }
        }
        // Plenty of images (Windows media written raw, old distributions) put the ESP in a
        // FAT partition of another type: let the firmware try.
        Ok(_) => Status::Unknown,
        Err(_) => Status::NotBootable(String::from("no partition table (not a disk image)")),
    }
}

/// Under BIOS a disk image boots from its MBR as hard disk 0x80, as a BIOS boots a disk: the
/// MBR needs the boot signature and some boot code (whether that code works shows when it runs).
fn disk_image_bios_status<R: ReadAt>(file: &mut R) -> Status {
    let mut mbr = [0u8; 512];
    if file.read_at(0, &mut mbr).is_err() {
        return Status::NotBootable(String::from("the file is too small to be a disk image"));
    }
    match missing_bios_boot_code(&mbr) {
        Some(why) => Status::NotBootable(String::from(why)),
        None => Status::Bootable {
            bios: true,
            uefi: matches!(disk_image_status(file), Status::Bootable { uefi: true, .. }),
        },
    }
}

/// Why a disk's first sector cannot start in BIOS (no boot signature, or no code before the
/// partition table), or `None` when a BIOS would run it: the one test of the `check`
/// verdict and of the BIOS boot code before it jumps.
pub fn missing_bios_boot_code(mbr: &[u8; 512]) -> Option<&'static str> {
    if mbr[510..512] != mbr::BOOT_SIGNATURE || mbr[..440].iter().all(|&b| b == 0) {
        Some("the disk image has no BIOS boot code in its MBR (it may boot in UEFI mode only)")
    } else {
        None
    }
}

fn efi_status<R: ReadAt>(file: &mut R) -> Status {
    let mut mz = [0u8; 2];
    match file.read_at(0, &mut mz) {
        Ok(()) if &mz == b"MZ" => Status::Bootable { bios: false, uefi: true },
        _ => Status::NotBootable(String::from("not an EFI executable (no PE header)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eltorito::tests::{entry, header, validation, with_catalog};

    fn both(entries: &[[u8; 32]]) -> (Plan, Plan) {
        let mut dev = with_catalog(entries);
        (
            plan(ImageKind::Iso, &mut dev, Firmware::Uefi),
            plan(ImageKind::Iso, &mut dev, Firmware::Bios),
        )
    }

    #[test]
    fn probe_plans_each_el_torito_shape_per_firmware() {
        let hybrid =
            [validation(0), entry(true, 0, 4, 38), header(0x91, 0xEF, 1), entry(true, 0, 0, 34)];
        let (uefi, bios) = both(&hybrid);
        let ok = Some(Status::Bootable { bios: true, uefi: true });
        assert_eq!(uefi, Plan { status: ok.clone(), method: Some(BootMethod::EfiEntry) });
        assert_eq!(bios, Plan { status: ok, method: Some(BootMethod::NoEmulation) });

        // BIOS only, hard-disk emulation (the emulated disk runs to the end of the ISO).
        let (uefi, bios) = both(&[validation(0), entry(true, 4, 1, 38)]);
        assert_eq!(
            uefi.status,
            Some(Status::NotBootable(
                "BIOS only: no EFI boot entry in the El Torito catalog".into()
            ))
        );
        assert_eq!(uefi.method, None);
        assert_eq!(bios.method, Some(BootMethod::HardDiskEmulation));
        assert_eq!(bios.status, Some(Status::Bootable { bios: true, uefi: false }));

        // A 1.44 MB floppy image does not fit in the small sample ISO: refused in both modes
        // (the catalog reader already sees it), before Enter.
        let (uefi, bios) = both(&[validation(0), entry(true, 2, 1, 38)]);
        for p in [uefi, bios] {
            assert!(
                matches!(&p.status, Some(Status::NotBootable(r)) if r.contains("reaches past the end")),
                "{p:?}"
            );
            assert_eq!(p.method, None);
        }

        // UEFI only.
        let (uefi, bios) = both(&[validation(0xEF), entry(true, 0, 0, 34)]);
        assert_eq!(uefi.method, Some(BootMethod::EfiEntry));
        assert_eq!(
            bios.status,
            Some(Status::NotBootable(
                "no BIOS El Torito boot entry: this ISO boots in UEFI mode only".into()
            ))
        );
    }

    #[test]
    fn probe_plans_other_kinds() {
        let mut efi = crate::block::MemDevice::from_vec(b"MZ rest of a PE file".to_vec());
        let p = plan(ImageKind::Efi, &mut efi, Firmware::Uefi);
        assert_eq!(p.method, Some(BootMethod::EfiApplication));
        let p = plan(ImageKind::Efi, &mut efi, Firmware::Bios);
        assert!(matches!(p.status, Some(Status::NotBootable(_))) && p.method.is_none());
        // A disk image under BIOS: its MBR must carry boot code and the boot signature.
        let p = plan(ImageKind::Img, &mut efi, Firmware::Bios);
        let small = Status::NotBootable("the file is too small to be a disk image".into());
        assert_eq!(p, Plan { status: Some(small), method: None });
        let no_code =
            "the disk image has no BIOS boot code in its MBR (it may boot in UEFI mode only)";
        let mut disk = alloc::vec![0u8; 4096];
        disk[510..512].copy_from_slice(&mbr::BOOT_SIGNATURE);
        let mut blank = crate::block::MemDevice::from_vec(disk.clone());
        let p = plan(ImageKind::Img, &mut blank, Firmware::Bios);
        assert_eq!(p.status, Some(Status::NotBootable(no_code.into())), "signature, no code");
        disk[0] = 0xFA;
        let mut bootable = crate::block::MemDevice::from_vec(disk.clone());
        let p = plan(ImageKind::Img, &mut bootable, Firmware::Bios);
        let bios_only = Some(Status::Bootable { bios: true, uefi: false });
        assert_eq!(p, Plan { status: bios_only, method: Some(BootMethod::DiskImageMbr) });
        disk[510] = 0;
        let mut unsigned = crate::block::MemDevice::from_vec(disk);
        let p = plan(ImageKind::Img, &mut unsigned, Firmware::Bios);
        assert_eq!(p.status, Some(Status::NotBootable(no_code.into())), "code, no signature");
        // A WIM is judged when it boots (its boot files decide), in either firmware.
        for firmware in [Firmware::Uefi, Firmware::Bios] {
            assert_eq!(
                plan(ImageKind::Wim, &mut efi, firmware),
                Plan { status: None, method: Some(BootMethod::WinPeMedium) }
            );
        }
        assert_eq!(
            plan(ImageKind::Vhd, &mut efi, Firmware::Uefi),
            Plan { status: None, method: None }
        );
    }
}
