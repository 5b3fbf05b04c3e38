//! Whether an image can boot, and if not why: shared by the boot menus (UEFI and BIOS) and
//! `polyboot check`. Reads only a few sectors per image.

use crate::block::ReadAt;
use crate::config::Firmware;
use crate::eltorito;
use crate::exfat::ExFat;
use crate::gpt;
use crate::guid::Guid;
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

/// Status under `firmware` of an image of `kind` read from `file` (a file on the drive, or on
/// the host). Under BIOS a disk image is left to the menu (its MBR is checked when it boots).
pub fn image_status<R: ReadAt>(
    kind: ImageKind,
    file: &mut R,
    firmware: Firmware,
) -> Option<Status> {
    Some(match (kind, firmware) {
        (ImageKind::Iso, _) => iso_status(file, firmware),
        (ImageKind::Img, Firmware::Uefi) => disk_image_status(file),
        (ImageKind::Efi, Firmware::Uefi) => efi_status(file),
        (ImageKind::Efi, Firmware::Bios) => {
            Status::NotBootable(String::from("an EFI application needs UEFI firmware"))
        }
        _ => return None,
    })
}

/// Status of an ISO under `firmware`: a damaged or truncated copy is reported the same under
/// both; then the El Torito catalog must have an entry for this firmware.
pub fn iso_status<R: ReadAt>(file: &mut R, firmware: Firmware) -> Status {
    match iso9660::probe(file) {
        Ok(_) => {}
        Err(IsoError::Truncated { needed, have }) => {
            return Status::NotBootable(format!(
                "truncated: the ISO needs {needed} bytes but the file has {have} (incomplete copy or download?)"
            ))
        }
        Err(e) => return Status::NotBootable(format!("not a valid ISO: {e}")),
    }
    match eltorito::read_catalog(file) {
        Ok(catalog) => match (firmware, catalog.uefi_reason()) {
            (Firmware::Uefi, None) => {
                Status::Bootable { bios: catalog.can_boot_bios(), uefi: true }
            }
            (Firmware::Uefi, Some(reason)) if catalog.can_boot_bios() => {
                Status::NotBootable(format!("BIOS only: {reason}"))
            }
            (Firmware::Uefi, Some(reason)) => Status::NotBootable(String::from(reason)),
            (Firmware::Bios, uefi) if catalog.can_boot_bios() => {
                Status::Bootable { bios: true, uefi: uefi.is_none() }
            }
            (Firmware::Bios, _) => Status::NotBootable(String::from(
                "no BIOS El Torito boot entry: this ISO boots in UEFI mode only",
            )),
        },
        Err(e) => Status::NotBootable(format!("not bootable: {e}")),
    }
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

fn efi_status<R: ReadAt>(file: &mut R) -> Status {
    let mut mz = [0u8; 2];
    match file.read_at(0, &mut mz) {
        Ok(()) if &mz == b"MZ" => Status::Bootable { bios: false, uefi: true },
        _ => Status::NotBootable(String::from("not an EFI executable (no PE header)")),
    }
}
