//! polyboot's legacy BIOS loader for Windows To Go drives (`polyboot-wtg-bios`).
//!
//! Windows boots in BIOS mode from an MBR disk as MBR code → the active partition's NT6
//! boot record (the NTFS boot sector and the BOOTMGR loader in the sectors after it) →
//! `\bootmgr`. polyboot may ship no Microsoft code and mkntfs's boot sector loads NTLDR, so
//! this replaces the NT6 boot record by an MBR + gap loader: polyboot's stage 0 (the same
//! 440 bytes as `polyboot-bios`, patched the same way by the host) loads this stage 1 from the
//! gap before the NTFS partition, and stage 1 does what the NT6 boot record would: finds the
//! active NTFS partition in the MBR, reads `\bootmgr` with polyboot-core's NTFS reader, copies
//! the partition's NTFS boot sector to 0000:7C00 (BOOTMGR reads the BPB there: sector size,
//! hidden sectors = where the partition starts), loads BOOTMGR at 2000:0000 and jumps to it in
//! real mode with DL = the boot drive (`wtg_handoff.s`). Doing it from the MBR keeps the NTFS
//! boot sector mkntfs wrote (and Windows maintains) untouched, and puts a real file system
//! reader (fragmented `\bootmgr`, any cluster size) where the NT6 loader has 8 sectors.
//!
//! No hooks are installed: BOOTMGR sees the BIOS's own INT 13h and memory map.

#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]
#![allow(dead_code)]

extern crate alloc;

pub mod heap;

#[cfg(not(test))]
mod firmware {
    core::arch::global_asm!(include_str!("stage0.s"), options(att_syntax));
    core::arch::global_asm!(include_str!("stage1.s"), options(att_syntax));
    core::arch::global_asm!(include_str!("wtg_handoff.s"), options(att_syntax));
}

#[cfg(not(test))]
#[macro_use]
mod console;
#[cfg(not(test))]
mod bios;
#[cfg(not(test))]
mod disk;

#[cfg(not(test))]
mod stage1 {
    use crate::bios::{self, Regs};
    use crate::disk::BiosDisk;
    use crate::{console, heap};
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;
    use polyboot_core::block::{ReadAt, Slice};
    use polyboot_core::mbr::{types, Mbr};
    use polyboot_core::ntfs::{BootSector, Ntfs};

    const MAX_HEAP: u64 = 32 << 20;
    /// Where BOOTMGR is loaded (2000:0000), as by the NT6 boot record.
    const BOOTMGR_AT: usize = 0x20000;
    /// Where the partition's boot sector goes (0000:7C00).
    const BOOT_SECTOR_AT: usize = 0x7C00;

    extern "C" {
        fn wtg_handoff(source: u32, length: u32, drive: u32) -> !;
    }

    #[no_mangle]
    extern "C" fn stage1_main(drive: u32) -> ! {
        console::serial_init();
        println!(
            "polyboot-wtg-bios {}: stage 1 running, boot drive {:#04x}",
            polyboot_core::VERSION,
            drive
        );
        let mut map = [(0u64, 0u64, 0u32); 32];
        let n = bios::e820(&mut map);
        match heap::choose_above_stage1(&map[..n], MAX_HEAP) {
            Some((start, end)) => heap::init(start, end),
            None => fail("no usable memory above 1 MiB in the E820 map"),
        }
        let e = run(drive as u8);
        fail(&e)
    }

    fn fail(message: &str) -> ! {
        println!("polyboot-wtg-bios: error: {message}");
        console::vga_line(0, "polyboot (Windows To Go): cannot start Windows", console::TITLE);
        console::vga_line(1, message, console::NORMAL);
        loop {
            bios::idle();
        }
    }

    /// Top of conventional memory (BIOS data area 0040:0013, in KiB), at most 640 KiB.
    fn low_memory_top() -> usize {
        // SAFETY: BIOS data area, identity-mapped.
        let kib = unsafe { core::ptr::read_volatile(0x413 as *const u16) };
        (usize::from(kib) * 1024).min(0xA0000)
    }

    fn run(drive: u8) -> String {
        match load(drive) {
            Ok((boot_sector, bootmgr)) => {
                println!(
                    "polyboot-wtg-bios: starting \\bootmgr ({} bytes) at 2000:0000, DL = {drive:#04x}",
                    bootmgr.len()
                );
                // SAFETY: 0000:7C00 is free (stage 0 is done); the hand-off copies BOOTMGR
                // below the top of conventional memory (checked by `load`) and never returns.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        boot_sector.as_ptr(),
                        BOOT_SECTOR_AT as *mut u8,
                        512,
                    );
                    wtg_handoff(bootmgr.as_ptr() as u32, bootmgr.len() as u32, u32::from(drive))
                }
            }
            Err(e) => e,
        }
    }

    /// The active NTFS partition's boot sector (hidden sectors made right) and `\bootmgr`.
    fn load(drive: u8) -> Result<([u8; 512], Vec<u8>), String> {
        let mut disk = BiosDisk::open(drive)?;
        let ss = u64::from(disk.sector_size());
        let mut lba0 = [0u8; 512];
        disk.read_at(0, &mut lba0).map_err(|e| format!("reading the MBR: {e}"))?;
        let mbr = Mbr::parse(&lba0).map_err(|e| format!("the MBR: {e}"))?;
        let ntfs = |p: &polyboot_core::mbr::MbrPartition| p.partition_type == types::EXFAT_NTFS;
        let part = mbr
            .used()
            .map(|(_, p)| *p)
            .find(|p| p.active && ntfs(p))
            .or_else(|| mbr.used().map(|(_, p)| *p).find(ntfs))
            .ok_or_else(|| String::from("no NTFS partition (type 07h) in the MBR"))?;
        println!(
            "polyboot-wtg-bios: NTFS partition at sector {} ({} sectors{})",
            part.first_lba,
            part.sector_count,
            if part.active { ", active" } else { "" }
        );
        let vol =
            Slice::new(disk, u64::from(part.first_lba) * ss, u64::from(part.sector_count) * ss)
                .map_err(|e| format!("the NTFS partition: {e}"))?;
        let mut fs = Ntfs::open(vol).map_err(|e| format!("the NTFS partition: {e}"))?;
        let limit = (low_memory_top() - BOOTMGR_AT) as u64;
        let bootmgr = fs.read_file("/bootmgr", limit).map_err(|e| format!("\\bootmgr: {e}"))?;
        let mut vol = fs.into_inner();
        let mut bs = [0u8; 512];
        vol.read_at(0, &mut bs).map_err(|e| format!("the NTFS boot sector: {e}"))?;
        BootSector::parse(&bs).map_err(|e| format!("the NTFS boot sector: {e}"))?;
        // BOOTMGR finds its partition through the BPB's hidden sectors.
        let hidden = u32::from_le_bytes([bs[0x1C], bs[0x1D], bs[0x1E], bs[0x1F]]);
        if hidden != part.first_lba {
            println!("polyboot-wtg-bios: note: BPB hidden sectors {hidden} != partition start {}; corrected in memory", part.first_lba);
            bs[0x1C..0x20].copy_from_slice(&part.first_lba.to_le_bytes());
        }
        if bs[0x24] != drive {
            bs[0x24] = drive; // the BPB's physical drive number, as a boot record would see it
        }
        Ok((bs, bootmgr))
    }

    /// stage1.s's INT 13h hook calls this; the Windows To Go loader never installs the hook.
    #[no_mangle]
    extern "C" fn int13_emulate(regs: &mut Regs) {
        regs.eax = (regs.eax & !0xFF00) | 0x0100;
        regs.eflags |= 1;
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        println!("polyboot-wtg-bios: panic: {info}");
        loop {
            bios::idle();
        }
    }
}
