//! F4 "boot from the local disk": hand the machine to the next BIOS drive's boot code.
//!
//! The hard disks the BIOS counts (0040:0075) are drives 0x80, 0x81, ...; the polyboot drive
//! is left out. Sector 0 of each other disk, in that order, is read with INT 13h (extended
//! read, or CHS where the BIOS has no extensions for the disk); the first that holds boot code
//! (the 0x55AA signature, and not only zeros where the code goes) is copied to 0000:7C00 and
//! started as a BIOS starts a boot sector: real mode, DL = the drive, entered at 07C0:0000
//! (the same linear address as 0000:7C00; as for an image's boot sector), the stack below it:
//! `rm_boot` in stage1.s, the hand-over [`crate::emu::start`] uses for images.
//!
//! Unlike an image's boot, nothing is hooked: no INT 13h emulation, no INT 15h memory
//! reservation, no drive renumbering. The disk boots as itself, with the drive number the BIOS
//! gave it — so when polyboot was booted as 0x80, the local disk runs as 0x81. That is what
//! Ventoy's local boot does on BIOS (it chainloads the next disk's MBR with its own drive
//! number, as GRUB's `chainloader +1` does) and what a BIOS does when that disk comes second
//! in its boot order. Boot code that assumes it is drive 0x80 rather than reading DL (some
//! older boot managers) does not find its system that way: boot it with the polyboot drive
//! removed, or with the disk first in the BIOS boot order.

use crate::bios::{self, Regs};
use crate::disk::BiosDisk;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::read_volatile;
use polyboot_core::block::ReadAt;

/// Where a BIOS loads a boot sector.
const BOOT_SECTOR: u32 = 0x7C00;

/// Boot the first hard disk that is not the polyboot drive `drive` and holds boot code.
/// Returns only with the reason it cannot.
pub fn boot_next_drive(drive: u8) -> String {
    // SAFETY: BIOS data area, identity-mapped: the number of hard disks.
    let count = unsafe { read_volatile(0x475 as *const u8) };
    let others: Vec<u8> =
        (0x80..0x80u8.saturating_add(count.min(0x7F))).filter(|&d| d != drive).collect();
    if others.is_empty() {
        return format!(
            "the BIOS reports no hard disk other than the polyboot drive ({count} in all; \
             polyboot is drive {drive:#04x})"
        );
    }
    let mut reasons: Vec<String> = Vec::new();
    for d in others {
        match boot_sector(d) {
            Ok(sector) => {
                println!("polyboot-bios: local boot: drive {d:#04x}");
                let why = hand_over(d, &sector);
                return format!("drive {d:#04x}: {why}");
            }
            Err(why) => {
                println!("polyboot-bios: local boot: drive {d:#04x} skipped: {why}");
                reasons.push(format!("drive {d:#04x}: {why}"));
            }
        }
    }
    reasons.join("; ")
}

/// Sector 0 of `drive`, if it holds boot code; else why not.
fn boot_sector(drive: u8) -> Result<[u8; 512], String> {
    let sector = match BiosDisk::open(drive) {
        Ok(mut disk) => {
            let mut sector = [0u8; 512];
            disk.read_at(0, &mut sector).map_err(|e| format!("cannot read sector 0: {e}"))?;
            sector
        }
        // No extensions (or an odd sector size): what a BIOS itself uses, CHS.
        Err(_) => chs_sector0(drive)?,
    };
    if sector[510..512] != [0x55, 0xAA] {
        return Err(String::from("sector 0 has no boot signature (0x55AA): not a boot disk"));
    }
    if sector[..440].iter().all(|&b| b == 0) {
        return Err(String::from(
            "sector 0 has a partition table but no boot code (a disk that boots in UEFI mode only?)",
        ));
    }
    Ok(sector)
}

/// Sector 0 by INT 13h AH=02h (cylinder 0, head 0, sector 1), read where a BIOS reads it:
/// 0000:7C00, which nothing of polyboot's uses once stage 1 runs (link.ld). Tried three
/// times, with a drive reset (AH=00h) in between, as boot code does.
fn chs_sector0(drive: u8) -> Result<[u8; 512], String> {
    let mut status = 0;
    for _ in 0..3 {
        let mut r = Regs {
            eax: 0x0201,
            ebx: BOOT_SECTOR,
            ecx: 0x0001,
            edx: u32::from(drive),
            es: 0,
            ..Regs::default()
        };
        bios::disk_int(&mut r);
        if !r.carry() {
            let mut sector = [0u8; 512];
            // SAFETY: conventional memory the BIOS just wrote, identity-mapped.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    BOOT_SECTOR as *const u8,
                    sector.as_mut_ptr(),
                    sector.len(),
                )
            };
            return Ok(sector);
        }
        status = r.ah();
        let mut reset = Regs { edx: u32::from(drive), ..Regs::default() };
        bios::disk_int(&mut reset);
    }
    Err(format!("cannot read sector 0 (INT 13h AH=02h: status {status:#04x})"))
}

/// Clean text screen, sector at 0000:7C00, real mode, DL = `drive`: a BIOS's boot. Returns
/// only if the boot code does.
fn hand_over(drive: u8, sector: &[u8; 512]) -> String {
    // Text mode 3 again (clears the screen, shows the cursor), one line saying what boots,
    // the cursor below it.
    bios::int(0x10, &mut Regs { eax: 0x0003, ..Regs::default() });
    crate::console::vga_line(
        0,
        &format!("polyboot: local boot: drive {drive:#04x}"),
        crate::console::NORMAL,
    );
    bios::int(0x10, &mut Regs { eax: 0x0200, edx: 0x0100, ..Regs::default() });
    // SAFETY: 0000:7C00 is free conventional memory once stage 1 runs (link.ld): below the
    // 16-bit page, above the BIOS data area.
    unsafe {
        core::ptr::copy_nonoverlapping(sector.as_ptr(), BOOT_SECTOR as *mut u8, sector.len())
    };
    crate::emu::start(BOOT_SECTOR, drive)
}
