//! Linux ISOs in BIOS mode: the same initrd wrapping as the UEFI boot manager's `linux.rs`
//! (core's `bootcfg` + `initrd_wrap` + the hand-off record), applied to the virtual disk the
//! INT 13h hook serves, so ISOLINUX / GRUB read wrapped initrds through the emulated CD and
//! polyboot-hook maps the ISO in the guest.
//!
//! polyboot-hook is not in the (small) BIOS boot code: it is read from the UEFI boot manager,
//! `\EFI\BOOT\BOOTX64.EFI` on the boot partition, which carries it behind core's
//! `embedded_hook` header, so `update`'s single-file switch covers the hook in both modes.
//!
//! Memory: BOOTX64.EFI (~2 MiB) is read once and dropped after the hook is copied into its
//! archive (~2 MiB); the archive, shared by the wrapped initrds' virtual regions, lives in the
//! virtual disk the emulator keeps until the OS runs (the heap is hidden from E820 then).

use crate::disk::BiosDisk;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use polyboot_core::block::{ReadAt, Slice};
use polyboot_core::bootcfg;
use polyboot_core::drive::DriveLocation;
use polyboot_core::embedded_hook;
use polyboot_core::fat::Fat;
use polyboot_core::handoff::{Handoff, ImageKind};
use polyboot_core::initrd_wrap;
use polyboot_core::vdisk::VirtualDisk;

/// Where the UEFI boot manager (and with it polyboot-hook) is on the boot partition.
const BOOT_MANAGER: &str = "EFI/BOOT/BOOTX64.EFI";
/// Larger than any boot manager we build; a bound on what a corrupt entry makes us allocate.
const MAX_BOOT_MANAGER: u64 = 16 << 20;

/// The hand-off record for an ISO served by `layout` from the data partition of `location`.
fn handoff(location: &DriveLocation, disk_size: u64, layout: &VirtualDisk) -> Result<Handoff, String> {
    Handoff::for_image(location, disk_size, ImageKind::Iso, layout.image_len(), layout.extents())
        .map_err(|e| format!("hand-off record: {e}"))
}

/// polyboot-hook's archive with `handoff` inside: BOOTX64.EFI is read from the boot
/// partition, the hook found in it and copied into the archive, and the file dropped.
fn hook_archive(disk: &mut BiosDisk, location: &DriveLocation, handoff: &[u8]) -> Result<Vec<u8>, String> {
    let efi = {
        let part = Slice::new(&mut *disk, location.boot.offset, location.boot.size)
            .map_err(|e| format!("the boot partition lies outside the drive: {e}"))?;
        let mut fat = Fat::open(part).map_err(|e| format!("the boot partition is not readable FAT: {e}"))?;
        fat.read_file(BOOT_MANAGER, MAX_BOOT_MANAGER).map_err(|e| format!("reading \\EFI\\BOOT\\BOOTX64.EFI: {e}"))?
    };
    let hook = embedded_hook::find_embedded_hook(&efi)
        .ok_or_else(|| String::from("\\EFI\\BOOT\\BOOTX64.EFI carries no polyboot-hook (built without it)"))?;
    println!("polyboot-bios: linux: polyboot-hook ({} bytes) from \\EFI\\BOOT\\BOOTX64.EFI ({} bytes)", hook.len(), efi.len());
    let archive = initrd_wrap::hook_archive(hook, handoff).map_err(|e| format!("{e}"));
    // The file's bytes are freed here; the bump heap reclaims them only when they are its
    // most recent block, which the archive is not, so they stay allocated (2 MiB of 32).
    drop(efi);
    archive
}

/// Wrap the initrds of the ISO served by `layout`. Problems are printed and leave the image
/// as it is: an unwrapped live ISO still boots its kernel, and says itself what it misses.
pub fn wrap_initrds(layout: &mut VirtualDisk, disk: &mut BiosDisk, location: &DriveLocation) {
    let disk_size = disk.size();
    let report = match bootcfg::find_boot_entries(&mut layout.reader(&mut *disk)) {
        Ok(r) => r,
        Err(e) => {
            println!("polyboot-bios: linux: cannot read the ISO's boot configuration: {e}");
            return;
        }
    };
    if report.initrds.is_empty() {
        println!("polyboot-bios: linux: no initrd in the boot configuration ({} files read)", report.files.len());
        return;
    }
    let h = match handoff(location, disk_size, layout) {
        Ok(h) => h,
        Err(e) => {
            println!("polyboot-bios: linux: initrds not wrapped: {e}");
            return;
        }
    };
    let archive: Arc<[u8]> = match hook_archive(disk, location, &h.encode()) {
        Ok(a) => a.into(),
        Err(e) => {
            println!("polyboot-bios: linux: initrds not wrapped: {e}");
            return;
        }
    };
    let plan = initrd_wrap::plan(&report.initrds, layout.image_len(), layout.size(), archive);
    if let Err(e) = initrd_wrap::apply(&plan, layout) {
        // `plan` places everything past the image, where nothing else is: a bug, not input.
        println!("polyboot-bios: linux: initrds not wrapped: {e}");
        return;
    }
    for w in &plan.wrapped {
        println!(
            "polyboot-bios: linux: wrapped initrd {} ({} bytes) as {} bytes at block {}",
            w.paths.join(", "),
            w.original_size,
            w.len,
            w.lba()
        );
    }
    for s in &plan.skipped {
        println!("polyboot-bios: linux: initrd {} not wrapped: {}", s.path, s.reason);
    }
    let (used, cap) = crate::heap::stats();
    println!("polyboot-bios: linux: heap {} KiB of {} KiB in use", used / 1024, cap / 1024);
}
