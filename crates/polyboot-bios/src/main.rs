//! polyboot's legacy BIOS boot code.
//!
//! - **Stage 0** (`stage0.s`): the 440 bytes of MBR boot code. Loads stage 1 from the loader
//!   gap before partition 1 with INT 13h AH=42h and jumps to it.
//! - **Stage 1**: `stage1.s` enters 32-bit protected mode and provides a thunk back to real
//!   mode for BIOS calls; the rest is Rust: a bump heap over E820 memory, the boot drive as a
//!   `ReadAt` over INT 13h, and the same core logic as the UEFI boot manager (drive location,
//!   exFAT, configuration, scanning, menu model), shown on VGA text mode and COM1.
//!
//! The flat binary `xtask` makes from this is `[stage 0: 440 bytes][zeros to 512][stage 1]`;
//! `polyboot install` patches stage 0 with the position of stage 1 and writes both.
//!
//! Host builds (`cargo test`) compile only the pure modules.

#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]

extern crate alloc;

pub mod heap;

#[cfg(not(test))]
mod firmware {
    core::arch::global_asm!(include_str!("stage0.s"), options(att_syntax));
    core::arch::global_asm!(include_str!("stage1.s"), options(att_syntax));
}

#[cfg(not(test))]
#[macro_use]
mod console;
#[cfg(not(test))]
mod bios;
#[cfg(not(test))]
mod disk;
#[cfg(not(test))]
mod emu;
#[cfg(not(test))]
mod linux;
#[cfg(not(test))]
mod ui;

#[cfg(not(test))]
mod stage1 {
    use crate::disk::BiosDisk;
    use crate::{bios, console, emu, heap, ui};
    use alloc::string::String;
    use alloc::vec::Vec;
    use polyboot_core::block::Slice;
    use polyboot_core::config::{self, Firmware};
    use polyboot_core::exfat::ExFat;
    use polyboot_core::gpt::SectorSize;
    use polyboot_core::menu::{self, Action, ImageEntry, ImageKind, Menu, MenuItem, Status};

    /// At most this much heap (the rest of memory is the booted system's).
    const MAX_HEAP: u64 = 32 << 20;

    #[no_mangle]
    extern "C" fn stage1_main(drive: u32) -> ! {
        console::serial_init();
        println!("polyboot-bios {}: stage 1 running in protected mode, boot drive {:#04x}", polyboot_core::VERSION, drive);
        let mut map = [(0u64, 0u64, 0u32); 32];
        let n = bios::e820(&mut map);
        match heap::choose_region(&map[..n], MAX_HEAP) {
            Some((start, end)) => {
                heap::init(start, end);
                println!("polyboot-bios: heap {start:#x}..{end:#x} ({n} E820 entries)");
            }
            None => fail("no usable memory above 1 MiB in the E820 map"),
        }
        match run(drive as u8) {
            Ok(()) => fail("the menu returned"),
            Err(e) => fail(&e),
        }
    }

    fn fail(message: &str) -> ! {
        println!("polyboot-bios: error: {message}");
        console::vga_line(0, "polyboot: error", console::TITLE);
        console::vga_line(1, message, console::NORMAL);
        loop {
            bios::idle();
        }
    }

    type DataVolume = ExFat<Slice<BiosDisk>>;

    fn run(drive: u8) -> Result<(), String> {
        let mut disk = BiosDisk::open(drive)?;
        let sector_size = SectorSize::from_bytes(u64::from(disk.sector_size()));
        let location = polyboot_core::drive::locate(&mut disk, sector_size).map_err(|e| alloc::format!("{e}"))?;
        println!(
            "polyboot-bios: {} drive, {}-byte sectors, data partition at {} ({} bytes)",
            location.scheme, location.sector_size, location.data.offset, location.data.size
        );
        let part = Slice::new(disk, location.data.offset, location.data.size).map_err(|e| alloc::format!("{e}"))?;
        let mut fs = ExFat::open(part).map_err(|e| alloc::format!("the data partition is not readable exFAT: {e}"))?;
        println!("polyboot-bios: data volume \"{}\"", fs.label());
        let config = load_config(&mut fs);
        let report = menu::scan(&mut fs, &config.scan_options());
        for err in &report.errors {
            println!("polyboot-bios: scan: {err}");
        }
        let mut menu = Menu::new(report.images.clone());
        for (index, image) in report.images.iter().enumerate() {
            if let Some(status) = bios_status(&mut fs, image) {
                menu.set_status(index, status);
            }
        }
        if let Some(default) = &config.default_image {
            if menu.set_default(default).is_none() {
                println!("polyboot-bios: config: default image {default} is not on the drive");
            }
        }
        if let Some(secs) = config.timeout_secs {
            menu.start_countdown(secs);
        }
        let (used, cap) = heap::stats();
        println!(
            "polyboot-bios: menu ready: {} images ({} disk reads, heap {} KiB of {} KiB)",
            menu.image_count(),
            fs.device().inner().read_calls,
            used / 1024,
            cap / 1024
        );
        let title = alloc::format!("polyboot {} (BIOS)  -  {} images on {}", polyboot_core::VERSION, menu.image_count(), fs.label());
        loop {
            let action = ui::run(&mut menu, &title);
            if let Action::Boot(index) = action {
                if let Some(MenuItem::Image { image, status }) = menu.items().get(index).cloned() {
                    if matches!(image.kind, ImageKind::Iso | ImageKind::Img) && !matches!(status, Status::NotBootable(_)) {
                        let why = emu::boot_image(&mut fs, &location, &image, drive);
                        ui::pause(&alloc::format!("{} cannot boot: {why}", image.path));
                        continue;
                    }
                }
            }
            ui::act(&mut menu, action);
        }
    }

    /// Whether `image` can boot here, in BIOS mode (core's `probe` answers for UEFI).
    fn bios_status(fs: &mut DataVolume, image: &ImageEntry) -> Option<Status> {
        use polyboot_core::{eltorito, iso9660, probe};
        match image.kind {
            ImageKind::Iso => {
                let mut file = match fs.open_file(&image.path) {
                    Ok(f) => f,
                    Err(e) => return Some(Status::NotBootable(alloc::format!("cannot open the file: {e}"))),
                };
                if iso9660::probe(&mut file).is_err() {
                    // The same wording as under UEFI (truncated copies, not an ISO).
                    return Some(probe::iso_status(&mut file, Firmware::Bios));
                }
                Some(match eltorito::read_catalog(&mut file) {
                    Ok(catalog) if catalog.can_boot_bios() => Status::Bootable { bios: true, uefi: catalog.uefi_reason().is_none() },
                    Ok(_) => Status::NotBootable(String::from("no BIOS El Torito boot entry: this ISO boots in UEFI mode only")),
                    Err(e) => Status::NotBootable(alloc::format!("not bootable: {e}")),
                })
            }
            ImageKind::Efi => Some(Status::NotBootable(String::from("an EFI application needs UEFI firmware"))),
            _ => None,
        }
    }

    /// `/polyboot/polyboot.json` and `/ventoy/ventoy.json` (keys with `_legacy` apply here).
    fn load_config(fs: &mut DataVolume) -> config::BootConfig {
        let mut read = |path: &str| -> Option<Vec<u8>> {
            match fs.metadata(path) {
                Ok(m) if m.size as usize > config::MAX_CONFIG_BYTES => {
                    println!("polyboot-bios: config: {path} is larger than {} bytes; ignored", config::MAX_CONFIG_BYTES);
                    None
                }
                Ok(_) => fs.read_to_vec(path).ok(),
                Err(_) => None,
            }
        };
        let ours = read(config::POLYBOOT_JSON);
        let ventoy = read(config::VENTOY_JSON);
        let (cfg, errors) = config::load(ours.as_deref(), ventoy.as_deref(), Firmware::Bios);
        for e in &errors {
            println!("polyboot-bios: config: {e}");
        }
        for w in &cfg.warnings {
            println!("polyboot-bios: config: {w}");
        }
        cfg
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        println!("polyboot-bios: panic: {info}");
        loop {
            bios::idle();
        }
    }
}

