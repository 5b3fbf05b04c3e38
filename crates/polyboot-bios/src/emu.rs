//! Booting an ISO in BIOS mode: the El Torito BIOS entry from the ISO's own catalog is loaded
//! and started with INT 13h hooked, so the emulated CD (the file's extents on the boot drive,
//! through core's `VirtualMedium`) answers as a drive of its own. Request decoding is here; the
//! translation (sectors → virtual-disk bytes, drive numbers) is core's `int13`.
//!
//! Resident while the image runs: the 16-bit page of stage 1 at the top of conventional
//! memory (or in place, where the EBDA leaves no room) and a copy of the 32-bit part in the
//! heap (`resident.rs`), taken out of the BIOS base memory size and E820.

use crate::bios::{self, HookState, Regs};
use crate::disk::BiosDisk;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use polyboot_core::block::Slice;
use polyboot_core::drive_location::DriveLocation;
use polyboot_core::eltorito::{self, BootEntry, Emulation};
use polyboot_core::exfat::ExFat;
use polyboot_core::int13::{DriveKind, DriveMap, EmulatedDrive, Route};
use polyboot_core::menu::{ImageEntry, ImageKind};
use polyboot_core::session::{LinuxExtras, WindowsOptions};
use polyboot_core::virtual_medium::VirtualMedium;

struct Emulator {
    disk: BiosDisk,
    medium: VirtualMedium,
    drive: EmulatedDrive,
    map: DriveMap,
    /// The El Torito entry booted (none for an IMG).
    entry: Option<BootEntry>,
    last_status: u8,
}

static mut EMU: Option<Emulator> = None;

extern "C" {
    fn int13_hook();
    fn int15_hook();
    fn rm_boot();
    static mut boot_target: u32;
}

/// Boot `image` (an ISO, a WIM or an IMG) from the data volume, Windows Setup with `windows`,
/// a Linux ISO with `linux`;
/// returns only with the reason it cannot.
pub fn boot_image(
    fs: &mut ExFat<Slice<BiosDisk>>,
    location: &DriveLocation,
    image: &ImageEntry,
    boot_drive: u8,
    windows: WindowsOptions,
    linux: &LinuxExtras,
) -> String {
    match prepare(fs, location, image, boot_drive, windows, linux) {
        Ok((load, number)) => start(load, number),
        Err(e) => e,
    }
}

/// What gets loaded and where: the boot image's bytes in the virtual medium, the load segment.
struct Boot {
    offset: u64,
    len: usize,
    segment: u16,
    what: &'static str,
}

fn prepare(
    fs: &mut ExFat<Slice<BiosDisk>>,
    location: &DriveLocation,
    image: &ImageEntry,
    boot_drive: u8,
    windows: WindowsOptions,
    linux: &LinuxExtras,
) -> Result<(u32, u8), String> {
    let mut medium = polyboot_core::session::virtual_medium(fs, &location.data, image)?;
    let is_img = image.kind == ImageKind::Img;
    let mut disk = BiosDisk::open(boot_drive)?;
    // Before the drive's size is taken: wrapped initrds and a virtual boot.wim lie past the
    // ISO's end, and a WIM's synthetic CD is larger than the WIM.
    match image.kind {
        ImageKind::Iso => crate::prepare::prepare_iso(
            &mut medium,
            &mut disk,
            location,
            &image.path,
            windows,
            linux,
        ),
        ImageKind::Wim => crate::prepare::prepare_wim(&mut medium, &mut disk)?,
        _ => {}
    }
    let (drive, entry, boot) = if is_img {
        // An IMG is the first hard disk: its MBR boots as a BIOS would boot it.
        let mut mbr = [0u8; 512];
        medium.read(&mut disk, 0, &mut mbr).map_err(|e| format!("{e}"))?;
        if let Some(why) = polyboot_core::boot_plan::missing_bios_boot_code(&mbr) {
            return Err(String::from(why));
        }
        let drive = EmulatedDrive::disk_image(medium.image_len(), &mbr);
        (
            drive,
            None,
            Boot { offset: 0, len: 512, segment: 0x7C0, what: "disk image, as hard disk" },
        )
    } else {
        let catalog = eltorito::read_catalog(&mut medium.reader(&mut disk))
            .map_err(|e| format!("no El Torito boot catalog: {e}"))?;
        let entry = catalog
            .bios_entry()
            .ok_or_else(|| {
                String::from("no BIOS El Torito boot entry: this ISO boots in UEFI mode only")
            })?
            .clone();
        let mut first = [0u8; 512];
        medium.read(&mut disk, entry.image_offset(), &mut first).map_err(|e| format!("{e}"))?;
        let drive =
            EmulatedDrive::from_boot_entry(&entry, medium.size(), &first).ok_or_else(|| {
                format!("the BIOS boot entry ({:?}) lies outside the ISO", entry.media)
            })?;
        let what = match drive.kind {
            DriveKind::Cdrom => "El Torito no-emulation, as CD drive",
            DriveKind::Floppy => "El Torito floppy emulation, as floppy drive",
            DriveKind::HardDisk => "El Torito hard-disk emulation, as hard disk",
        };
        let segment = if entry.load_segment == 0 { 0x7C0 } else { entry.load_segment };
        let boot = Boot {
            offset: entry.image_offset(),
            len: usize::from(entry.sector_count.max(1)) * 512,
            segment,
            what,
        };
        (drive, Some(entry), boot)
    };
    let (map, route) = match drive.kind {
        DriveKind::Cdrom => {
            // The first CD number the BIOS does not answer for.
            let used: Vec<u8> = (0xE0..=0xEFu8)
                .filter(|&n| {
                    let mut r =
                        Regs { eax: 0x4100, ebx: 0x55AA, edx: u32::from(n), ..Regs::default() };
                    bios::int(0x13, &mut r);
                    !r.carry()
                })
                .collect();
            let map = DriveMap::new(DriveKind::Cdrom, &used);
            (map, (map.emulated, map.emulated))
        }
        // Drive 0x00; the real floppy drives move up one number (El Torito: the BIOS "shall
        // re-map" drive A: when it emulates one), at most four in all.
        DriveKind::Floppy => {
            let real = floppy_count();
            if real > 0 {
                println!(
                    "polyboot-bios: the real floppy drive 0x00 moves to 0x01 while the image runs"
                );
            }
            (DriveMap::new(DriveKind::Floppy, &[]), (0x00, real.min(3)))
        }
        // Drive 0x80; the real hard disks move up one number (the polyboot drive is 0x81).
        DriveKind::HardDisk => (DriveMap::new(DriveKind::HardDisk, &[]), (0x80, 0xDF)),
    };

    let plan = crate::resident::plan();
    if plan.in_place() {
        println!(
            "polyboot-bios: no room below the EBDA for the hooks: they stay at {:#x}",
            plan.base
        );
    }
    let load = u32::from(boot.segment) * 16;
    if load < 0x500 || load as usize + boot.len > crate::resident::page_link() {
        return Err(format!(
            "the boot image ({} bytes at {:04X}:0000) would overwrite the BIOS data or polyboot",
            boot.len, boot.segment
        ));
    }
    let mut code = vec![0u8; boot.len];
    medium
        .read(&mut disk, boot.offset, &mut code)
        .map_err(|e| format!("reading the boot image: {e}"))?;
    println!(
        "polyboot-bios: booting {}: {} {:#04x}, {} bytes at {:04X}:0000",
        image.path, boot.what, map.emulated, boot.len, boot.segment
    );

    // SAFETY: single-threaded; nothing else uses EMU until the hook is installed below.
    unsafe {
        *addr_of_mut!(EMU) = Some(Emulator { disk, medium, drive, map, entry, last_status: 0 });
    }
    install_hooks(route, plan);
    match drive.kind {
        DriveKind::Floppy => set_floppy_count((floppy_count() + 1).min(4)),
        DriveKind::HardDisk => {
            // SAFETY: BIOS data area: the hard-disk count.
            unsafe {
                let count = 0x475 as *mut u8;
                write_volatile(
                    count,
                    map.adjusted_count(DriveKind::HardDisk, read_volatile(count)),
                );
            }
        }
        DriveKind::Cdrom => {}
    }
    // SAFETY: conventional memory below stage 1's 16-bit page, checked above: the load area,
    // nothing of ours lives there any more.
    unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), load as *mut u8, boot.len) };
    crate::resident::relocate(plan);
    Ok((load, map.emulated))
}

/// Hook INT 13h (for drives `route`, inclusive) and INT 15h, and take our memory out of the
/// BIOS's base memory size: from the low copy of `plan` up.
fn install_hooks(route: (u8, u8), plan: crate::resident::Plan) {
    let (heap_start, heap_end) = crate::heap::region();
    let (res_low, seg) = (plan.base as u32, plan.segment());
    // SAFETY: the IVT and BIOS data area are identity-mapped; interrupts are off.
    unsafe {
        // The real-mode interrupt vector table: vector N is the u32 at physical address 4 * N.
        let ivt = |vector: usize| (vector * 4) as *mut u32;
        let orig13 = read_volatile(ivt(0x13));
        bios::set_disk_vector(orig13);
        bios::hook_state_ptr().write_volatile(HookState {
            orig13,
            orig15: read_volatile(ivt(0x15)),
            res_low,
            res_high: heap_start as u32,
            res_high_end: heap_end as u32,
            route_lo: route.0,
            route_hi: route.1,
            _pad: [0; 2],
        });
        write_volatile(ivt(0x13), vector_in(seg, int13_hook as *const () as usize));
        write_volatile(ivt(0x15), vector_in(seg, int15_hook as *const () as usize));
        let base_kib = 0x413 as *mut u16;
        let ours = (res_low / 1024) as u16;
        if read_volatile(base_kib) > ours {
            write_volatile(base_kib, ours);
        }
    }
}

/// Floppy drives in the BIOS equipment word (0040:0010: bit 0 = any, bits 6..7 = count - 1).
fn floppy_count() -> u8 {
    // SAFETY: BIOS data area, identity-mapped.
    let w = unsafe { read_volatile(0x410 as *const u16) };
    if w & 1 == 0 {
        0
    } else {
        ((w >> 6) & 3) as u8 + 1
    }
}

fn set_floppy_count(n: u8) {
    // SAFETY: as above.
    unsafe {
        let p = 0x410 as *mut u16;
        let w = read_volatile(p) & !0xC1;
        write_volatile(p, if n == 0 { w } else { w | 1 | (u16::from(n - 1) << 6) });
    }
}

/// A far pointer to 16-bit code of stage1.s, which runs with CS = its page's link address / 16.
fn vector(addr: usize) -> u32 {
    vector_in((crate::resident::page_link() >> 4) as u16, addr)
}

/// The same code in the copy of stage 1's 16-bit page at segment `seg`.
fn vector_in(seg: u16, addr: usize) -> u32 {
    u32::from(seg) << 16 | (addr - crate::resident::page_link()) as u32
}

/// Jump to the boot image at `load` (a multiple of 16, below stage 1's 16-bit page) in real
/// mode with DL = `number`: the emulated drive, or for local boot (`localboot.rs`, no hooks
/// installed) a real one.
pub(crate) fn start(load: u32, number: u8) -> String {
    let mut r = Regs { edx: u32::from(number), ..Regs::default() };
    // SAFETY: rm_boot's far pointer; single-threaded.
    unsafe { addr_of_mut!(boot_target).write_volatile((load >> 4) << 16) };
    // The boot image never returns; if it does, report it.
    bios::call_vector(vector(rm_boot as *const () as usize), &mut r);
    String::from("the boot image returned")
}

fn set_ah(regs: &mut Regs, ah: u8) {
    regs.eax = (regs.eax & !0xFF00) | (u32::from(ah) << 8);
}

/// The caller's DS:SI, as the hook code reaches it.
fn ds_si(regs: &Regs) -> usize {
    crate::resident::low(usize::from(regs.ds) * 16 + (regs.esi & 0xFFFF) as usize)
}

/// The INT 13h hook's request for the emulated drive (called from stage1.s in protected mode).
#[no_mangle]
extern "C" fn int13_emulate(regs: &mut Regs) {
    // SAFETY: single-threaded; the hook runs with interrupts off.
    let Some(emu) = (unsafe { (*addr_of_mut!(EMU)).as_mut() }) else {
        set_ah(regs, 0x01);
        regs.eflags |= 1;
        return;
    };
    let dl = regs.edx as u8;
    if let Route::Real(real) = emu.map.route(dl) {
        passthrough(emu, regs, dl, real);
        return;
    }
    match request(emu, regs) {
        Ok(ah) => {
            emu.last_status = 0;
            set_ah(regs, ah.unwrap_or(0));
            regs.eflags &= !1;
        }
        Err(status) => {
            emu.last_status = status;
            set_ah(regs, status);
            regs.eflags |= 1;
        }
    }
}

/// A request for a real drive whose number the emulation moved: the original handler, with
/// the drive's real number; counts of drives it returns include the emulated one.
fn passthrough(emu: &Emulator, regs: &mut Regs, dl: u8, real: u8) {
    let ah = regs.ah();
    let mut r = *regs;
    r.edx = (r.edx & !0xFF) | u32::from(real);
    // SAFETY: reads the original vector saved in the hook state.
    let orig13 = unsafe { bios::hook_state_ptr().read_volatile().orig13 };
    bios::call_vector(orig13, &mut r);
    *regs = r;
    match ah {
        // DL = number of drives of that kind.
        0x08 if !r.carry() => {
            let kind = if dl < 0x80 { DriveKind::Floppy } else { DriveKind::HardDisk };
            regs.edx = (regs.edx & !0xFF) | u32::from(emu.map.adjusted_count(kind, r.edx as u8));
        }
        // CX:DX = sector count.
        0x15 => {}
        _ => regs.edx = (regs.edx & !0xFF) | u32::from(dl),
    }
}

/// Ok(None): success, AH = 0; Ok(Some(ah)): success with that AH; Err(status): CF set, AH = status.
fn request(emu: &mut Emulator, regs: &mut Regs) -> Result<Option<u8>, u8> {
    match regs.ah() {
        0x00 | 0x0D | 0x10 | 0x11 | 0x44 | 0x47 | 0x45 | 0x46 | 0x49 => Ok(None),
        0x01 => Ok(Some(emu.last_status)),
        0x03 | 0x43 | 0x05 => Err(0x03),
        0x02 => chs_read(emu, regs),
        0x08 if emu.drive.kind != DriveKind::Cdrom => drive_parameters(emu, regs),
        0x15 => {
            // Drive type: 1 = floppy without change line, 3 = hard disk (CX:DX = sectors).
            let kind = match emu.drive.kind {
                DriveKind::Floppy => 1,
                DriveKind::HardDisk => {
                    regs.ecx = (regs.ecx & !0xFFFF) | ((emu.drive.sectors >> 16) as u32 & 0xFFFF);
                    regs.edx = (regs.edx & !0xFFFF) | (emu.drive.sectors as u32 & 0xFFFF);
                    3
                }
                DriveKind::Cdrom => return Err(0x01),
            };
            Ok(Some(kind))
        }
        0x41 => {
            if regs.ebx & 0xFFFF != 0x55AA {
                return Err(0x01);
            }
            regs.ebx = (regs.ebx & !0xFFFF) | 0xAA55;
            regs.ecx = (regs.ecx & !0xFFFF) | 0x0001; // packet access (AH=42h..44h, 47h, 48h)
            Ok(Some(0x30))
        }
        0x42 => extended_read(emu, regs),
        0x48 => edd_parameters(emu, regs),
        0x4B => emulation_status(emu, regs),
        _ => Err(0x01),
    }
}

/// AH=02h: read sectors by CHS into ES:BX.
fn chs_read(emu: &mut Emulator, regs: &mut Regs) -> Result<Option<u8>, u8> {
    let count = regs.eax as u8;
    let (offset, len) =
        emu.drive.range_chs(regs.ecx as u16, (regs.edx >> 8) as u8, count).map_err(|s| s as u8)?;
    let dest = crate::resident::low(usize::from(regs.es) * 16 + (regs.ebx & 0xFFFF) as usize);
    // SAFETY: the caller's ES:BX buffer of `count` sectors, identity-mapped.
    let buf = unsafe { core::slice::from_raw_parts_mut(dest as *mut u8, len) };
    emu.medium.read(&mut emu.disk, offset, buf).map_err(|e| {
        println!("polyboot-bios: emulated CHS read of {count} sectors: {e}");
        0x20
    })?;
    regs.eax = (regs.eax & !0xFF) | u32::from(count);
    Ok(None)
}

/// AH=08h: the geometry (and, for a floppy, its type and parameter table); not for a CD.
fn drive_parameters(emu: &mut Emulator, regs: &mut Regs) -> Result<Option<u8>, u8> {
    let g = emu.drive.geometry.ok_or(0x01u8)?;
    let max_c = g.cylinders - 1;
    regs.ecx = (regs.ecx & !0xFFFF)
        | ((max_c & 0xFF) << 8)
        | ((max_c >> 2) & 0xC0)
        | (g.sectors_per_track & 0x3F);
    let drives = if emu.drive.kind == DriveKind::Floppy { u32::from(floppy_count()) } else { 1 };
    regs.edx = (regs.edx & !0xFFFF) | ((g.heads - 1) << 8) | drives;
    if emu.drive.kind == DriveKind::Floppy {
        // BL = drive type; ES:DI = the diskette parameter table the BIOS points INT 1Eh at.
        let kind = match g.sectors_per_track {
            15 => 2,
            36 => 5,
            _ => 4,
        };
        regs.ebx = (regs.ebx & !0xFF) | kind;
        // SAFETY: the IVT, identity-mapped.
        let table = unsafe { read_volatile((0x1E * 4) as *const u32) };
        regs.es = (table >> 16) as u16;
        regs.edi = (regs.edi & !0xFFFF) | (table & 0xFFFF);
    }
    regs.eax &= !0xFF;
    Ok(None)
}

/// AH=42h: read through the disk address packet at DS:SI (ES:BX-style buffer, or the
/// 64-bit flat address of a 24-byte packet).
fn extended_read(emu: &mut Emulator, regs: &mut Regs) -> Result<Option<u8>, u8> {
    let dap = ds_si(regs) as *mut u8;
    // SAFETY: the caller's packet, identity-mapped real-mode memory.
    let (count, dest, lba) = unsafe {
        let mut raw = [0u8; 24];
        core::ptr::copy_nonoverlapping(dap, raw.as_mut_ptr(), 16);
        if raw[0] >= 0x18 {
            core::ptr::copy_nonoverlapping(dap.add(16), raw.as_mut_ptr().add(16), 8);
        }
        let count = u16::from_le_bytes([raw[2], raw[3]]);
        let off = u16::from_le_bytes([raw[4], raw[5]]);
        let seg = u16::from_le_bytes([raw[6], raw[7]]);
        let dest = if off == 0xFFFF && seg == 0xFFFF && raw[0] >= 0x18 {
            u64::from_le_bytes(raw[16..24].try_into().unwrap()) as usize
        } else {
            usize::from(seg) * 16 + usize::from(off)
        };
        let dest = crate::resident::low(dest);
        (count, dest, u64::from_le_bytes(raw[8..16].try_into().unwrap()))
    };
    let fail = |dap: *mut u8, s: u8| {
        // SAFETY: as above: no sectors transferred.
        unsafe { dap.add(2).cast::<u16>().write_unaligned(0) };
        Err(s)
    };
    let (offset, len) = match emu.drive.range(lba, u32::from(count)) {
        Ok(r) => r,
        Err(s) => return fail(dap, s as u8),
    };
    // SAFETY: the caller's buffer of `count` sectors, identity-mapped.
    let buf = unsafe { core::slice::from_raw_parts_mut(dest as *mut u8, len) };
    match emu.medium.read(&mut emu.disk, offset, buf) {
        Ok(()) => Ok(None),
        Err(e) => {
            println!("polyboot-bios: emulated read of {count} sectors at {lba}: {e}");
            fail(dap, 0x20)
        }
    }
}

/// AH=48h: the EDD drive parameters at DS:SI.
fn edd_parameters(emu: &mut Emulator, regs: &mut Regs) -> Result<Option<u8>, u8> {
    let p = ds_si(regs) as *mut u8;
    // SAFETY: the caller's result buffer (at least 0x1A bytes, as it says at offset 0).
    unsafe {
        let size = p.cast::<u16>().read_unaligned();
        if size < 0x1A {
            return Err(0x01);
        }
        let mut out = [0u8; 0x1E];
        out[0..2].copy_from_slice(&(if size >= 0x1E { 0x1Eu16 } else { 0x1A }).to_le_bytes());
        out[2..4].copy_from_slice(&0x0074u16.to_le_bytes()); // removable, change line, lockable
        out[16..24].copy_from_slice(&emu.drive.sectors.to_le_bytes());
        out[24..26].copy_from_slice(&(emu.drive.sector_size as u16).to_le_bytes());
        out[26..30].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes()); // no DPTE
        core::ptr::copy_nonoverlapping(out.as_ptr(), p, usize::from(size.min(0x1E)));
    }
    Ok(None)
}

/// AX=4B00h/4B01h: El Torito terminate / get status: the specification packet at DS:SI.
fn emulation_status(emu: &mut Emulator, regs: &mut Regs) -> Result<Option<u8>, u8> {
    // El Torito "get status" (AL=1) and "terminate" (AL=0): the specification packet.
    let p = ds_si(regs) as *mut u8;
    let Some(e) = &emu.entry else { return Err(0x01) };
    let mut out = [0u8; 0x13];
    out[0] = 0x13;
    out[1] = match e.media {
        Emulation::Floppy12 => 1,
        Emulation::Floppy144 => 2,
        Emulation::Floppy288 => 3,
        Emulation::HardDisk => 4,
        _ => 0,
    };
    out[2] = emu.map.emulated;
    out[4..8].copy_from_slice(&e.load_rba.to_le_bytes());
    out[12..14].copy_from_slice(&e.load_segment.to_le_bytes());
    out[14..16].copy_from_slice(&e.sector_count.to_le_bytes());
    // SAFETY: the caller's 0x13-byte packet.
    unsafe { core::ptr::copy_nonoverlapping(out.as_ptr(), p, out.len()) };
    Ok(None)
}
