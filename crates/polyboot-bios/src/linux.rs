//! Linux ISOs in BIOS mode: the same initrd wrapping as the UEFI boot manager (core's
//! `session::wrap_initrds`: boot configuration, hand-off record, polyboot-hook, plan), applied
//! to the virtual medium the INT 13h hook serves, so ISOLINUX / GRUB read wrapped initrds
//! through the emulated CD and polyboot-hook maps the ISO in the guest.
//!
//! polyboot-hook is not in the (small) BIOS boot code: it is read from the UEFI boot manager,
//! `\EFI\BOOT\BOOTX64.EFI` on the boot partition, which carries it behind core's
//! `embedded_hook` header, so `update`'s single-file switch covers the hook in both modes.
//!
//! Memory: BOOTX64.EFI (~2 MiB) is read once and dropped after the hook is copied into its
//! archive (~2 MiB); the archive, shared by the wrapped initrds' virtual regions, lives in the
//! virtual medium the emulator keeps until the OS runs (the heap is hidden from E820 then).

use crate::disk::BiosDisk;
use polyboot_core::drive_location::DriveLocation;
use polyboot_core::session::{self, HookSource};
use polyboot_core::virtual_medium::VirtualMedium;

/// Wrap the initrds of the ISO served by `layout`, polyboot-hook read from the boot manager on
/// the boot partition. Problems are printed and leave the image as it is.
pub fn wrap_initrds(layout: &mut VirtualMedium, disk: &mut BiosDisk, location: &DriveLocation) {
    session::wrap_initrds(layout, disk, location, HookSource::BootManager, &mut crate::stage1::log);
    let (used, cap) = crate::heap::stats();
    println!("polyboot-bios: linux: heap {} KiB of {} KiB in use", used / 1024, cap / 1024);
}
