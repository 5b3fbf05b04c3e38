//! ISOs and WIM files in BIOS mode: the same preparation of the virtual medium as the UEFI
//! boot manager (core's `session::prepare_iso` / `prepare_wim`), applied to the medium the
//! INT 13h hook serves:
//! - a Linux ISO gets its initrds wrapped (boot configuration, hand-off record, polyboot-hook),
//!   so ISOLINUX / GRUB read wrapped initrds through the emulated CD and polyboot-hook maps the
//!   ISO in the guest;
//! - a Windows ISO gets its virtual `boot.wim` with the jump program in place of WinPE's
//!   shell, so Setup finds its medium;
//! - a WIM file is served as a synthetic CD with its own boot files (El Torito BIOS entry:
//!   the WIM's `etfsboot.com`).
//!
//! polyboot-hook and the jump program are not in the BIOS boot code: the hook is read from the
//! UEFI boot manager, `\EFI\BOOT\BOOTX64.EFI` on the boot partition, which carries it behind
//! core's `embedded_hook` header; the jump programs are `\polyboot\winpe-x64.exe` and
//! `winpe-x86.exe` there. So `update`'s file switch covers both modes.
//!
//! Memory: everything lives in the heap, which the emulator keeps until the OS runs (hidden
//! from E820 then). BOOTX64.EFI (~2 MiB) is read once and dropped after the hook is copied into
//! its archive (~2 MiB); a Windows image's metadata is held twice while the virtual WIM is
//! built, so its size is bounded by what the heap has left.

use crate::disk::BiosDisk;
use alloc::string::String;
use polyboot_core::drive_location::DriveLocation;
use polyboot_core::session::{self, HookSource, LinuxExtras, WindowsOptions};
use polyboot_core::virtual_medium::VirtualMedium;

/// Prepare the virtual medium of the ISO at `iso_path` served by `layout`, Windows Setup
/// with `windows` (from the boot configuration). Problems are printed and leave the image as
/// it is.
pub fn prepare_iso(
    layout: &mut VirtualMedium,
    disk: &mut BiosDisk,
    location: &DriveLocation,
    iso_path: &str,
    windows: WindowsOptions,
    linux: &LinuxExtras,
) {
    let (used, cap) = crate::heap::stats();
    // The metadata twice, its compressed form and the decompressor's state: a quarter of what
    // is left.
    let options = WindowsOptions { max_metadata: (cap.saturating_sub(used) / 4) as u64, ..windows };
    // BIOS boots the ISO's own El Torito image, whose loader reads the initrds through the
    // ISO 9660 tree wrapped here: the hand-off record needs no second use.
    let _handoff = session::prepare_iso(
        layout,
        disk,
        location,
        HookSource::BootManager,
        iso_path,
        Some(options),
        linux,
        &mut crate::stage1::log,
    );
    report_heap();
}

/// Serve the WIM file served by `layout` as a synthetic CD; errors say why it cannot boot.
pub fn prepare_wim(layout: &mut VirtualMedium, disk: &mut BiosDisk) -> Result<(), String> {
    let medium = session::prepare_wim(layout, disk, &mut crate::stage1::log)?;
    report_heap();
    if !medium.bios {
        return Err(String::from(
            "the WIM has no BIOS boot files (Windows\\Boot\\DVD\\PCAT\\etfsboot.com and \
             Windows\\Boot\\PCAT\\bootmgr): it boots in UEFI mode only",
        ));
    }
    Ok(())
}

fn report_heap() {
    let (used, cap) = crate::heap::stats();
    println!("polyboot-bios: heap {} KiB of {} KiB in use", used / 1024, cap / 1024);
}
