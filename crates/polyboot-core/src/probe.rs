//! Whether an image can boot, and if not why: shared by the boot menu and `polyboot check`.
//! Reads only a few sectors per image.

use alloc::format;
use alloc::string::String;
use crate::block::ReadAt;
use crate::eltorito;
use crate::exfat::ExFat;
use crate::gpt;
use crate::guid::Guid;
use crate::iso9660::{self, IsoError};
use crate::mbr::{self, Mbr};
use crate::menu::{ImageEntry, ImageKind, Status};

/// Status of an image on an exFAT volume; `None` leaves the menu's own status (e.g. "not
/// bootable yet" for WIM / VHD).
pub fn status<D: ReadAt>(fs: &mut ExFat<D>, image: &ImageEntry) -> Option<Status> {
    let mut file = match fs.open_file(&image.path) {
        Ok(f) => f,
        Err(e) => return Some(Status::NotBootable(format!("cannot open the file: {e}"))),
    };
    image_status(image.kind, &mut file)
}

/// Status of an image of `kind` read from `file` (a file on the drive, or on the host).
pub fn image_status<R: ReadAt>(kind: ImageKind, file: &mut R) -> Option<Status> {
    Some(match kind {
        ImageKind::Iso => iso_status(file),
        ImageKind::Img => disk_image_status(file),
        ImageKind::Efi => efi_status(file),
        _ => return None,
    })
}

pub fn iso_status<R: ReadAt>(file: &mut R) -> Status {
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
        Ok(catalog) => match catalog.uefi_reason() {
            None => Status::Bootable { bios: catalog.can_boot_bios(), uefi: true },
            Some(reason) if catalog.can_boot_bios() => Status::NotBootable(format!("BIOS only: {reason}")),
            Some(reason) => Status::NotBootable(String::from(reason)),
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
            Ok(_) => Status::NotBootable(String::from("the disk image has no EFI system partition")),
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
