//! polyboot's legacy BIOS boot code.
//!
//! - **Stage 0** (`stage0.s`): the 440 bytes of MBR boot code. Loads stage 1 from the loader
//!   gap before partition 1 with INT 13h AH=42h and jumps to it: all of it, or its first
//!   480 KiB when it is larger (the loader in its 16-bit page then reads the rest from the boot
//!   partition, `stage1.s`).
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
mod localboot;
#[cfg(not(test))]
mod prepare;
#[cfg(not(test))]
mod resident;
#[cfg(not(test))]
mod ui;

/// Test builds only (feature `test-padding`): stage 1 padded past its load area.
#[cfg(all(not(test), feature = "test-padding"))]
mod test_padding;

#[cfg(not(test))]
mod stage1 {
    use crate::disk::BiosDisk;
    use crate::{bios, console, emu, heap, localboot, ui};
    use alloc::string::String;
    use polyboot_core::config::Choices;
    use polyboot_core::menu::choice::{self, ChoiceKind, ChoiceMenu};
    use polyboot_core::menu::{Action, ImageKind, MenuItem, Status};
    use polyboot_core::session::{self, BootSession, Firmware};

    /// At most this much heap (the rest of memory is the booted system's).
    const MAX_HEAP: u64 = 32 << 20;

    #[no_mangle]
    extern "C" fn stage1_main(drive: u32) -> ! {
        console::serial_init();
        println!(
            "polyboot-bios {}: stage 1 running in protected mode, boot drive {:#04x}",
            polyboot_core::VERSION,
            drive
        );
        #[cfg(feature = "test-padding")]
        crate::test_padding::report();
        let mut map = [(0u64, 0u64, 0u32); 32];
        let n = bios::e820(&mut map);
        match heap::choose_above_stage1(&map[..n], MAX_HEAP) {
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

    /// Where core's boot session logs: the console, behind our prefix.
    pub(crate) fn log(args: core::fmt::Arguments<'_>) {
        println!("polyboot-bios: {args}");
    }

    fn run(drive: u8) -> Result<(), String> {
        let disk = BiosDisk::open(drive)?;
        let sector_bytes = u64::from(disk.sector_size());
        let mut session = BootSession::open(disk, sector_bytes, Firmware::Bios, &mut log)?;
        let (used, cap) = heap::stats();
        println!(
            "polyboot-bios: menu ready: {} images ({} disk reads, heap {} KiB of {} KiB)",
            session.menu.image_count(),
            session.fs.device().inner().read_calls,
            used / 1024,
            cap / 1024
        );
        let title = session.title();
        let colors = ui::Colors::from_config(&session.config);
        if let Some((w, h)) = session.config.theme.resolution {
            println!("polyboot-bios: theme: gfxmode {w}x{h} not used: BIOS text mode is 80x25");
        }
        loop {
            match ui::run(&mut session.menu, &title, colors) {
                Action::Boot(index) => boot_index(&mut session, index, drive),
                Action::Verify { index, then_boot } => {
                    let Some(image) =
                        session.menu.items().get(index).and_then(MenuItem::image).cloned()
                    else {
                        continue;
                    };
                    console::vga_clear();
                    let mut last = u64::MAX;
                    let outcome = session.verify(
                        index,
                        &mut |done, total| {
                            let line = session::progress_line(&image, done, total);
                            console::vga_line(0, &line, console::NORMAL);
                            // A line per tenth on the serial console.
                            let tenth = (done * 10).checked_div(total).unwrap_or(10);
                            if tenth != last {
                                last = tenth;
                                println!("polyboot-bios: {line}");
                            }
                        },
                        &mut log,
                    );
                    if then_boot && outcome.is_match() {
                        boot_index(&mut session, index, drive);
                    } else {
                        let refused =
                            if then_boot { "; not booting it (verify_before_boot)" } else { "" };
                        ui::pause(&alloc::format!("{}{refused}", outcome.describe(&image.path)));
                    }
                }
                Action::Details(index) => {
                    let lines = session.details(index);
                    ui::show_lines(&lines);
                }
                Action::LocalBoot => {
                    let why = localboot::boot_next_drive(drive);
                    ui::pause(&alloc::format!("cannot boot the local disk: {why}"));
                }
                other => ui::act(&mut session.menu, other),
            }
        }
    }

    /// Boot menu image `index` (coming back only when it cannot).
    fn boot_index(session: &mut BootSession<BiosDisk>, index: usize, drive: u8) {
        if let Some(MenuItem::Image { image, status }) = session.menu.items().get(index).cloned() {
            if matches!(image.kind, ImageKind::Iso | ImageKind::Img | ImageKind::Wim)
                && !matches!(status, Status::NotBootable(_))
            {
                // Ventoy's template / backend menus (templates first; ISOs only, as under
                // UEFI); Esc goes back.
                let mut choices = session::LinuxChoices::default();
                if image.kind == ImageKind::Iso {
                    let (templates, backends) = session.linux_choices(&image.path);
                    let colors = ui::Colors::from_config(&session.config);
                    let ask = |kind, choices: Option<Choices>| {
                        let run = &mut |m: &mut ChoiceMenu| ui::run_choice(m, colors);
                        choice::choose(kind, &image.path, choices.as_ref(), run, &mut log)
                    };
                    let Some(template) = ask(ChoiceKind::AutoInstall, templates) else { return };
                    let Some(persistence) = ask(ChoiceKind::Persistence, backends) else {
                        return;
                    };
                    choices = session::LinuxChoices { template, persistence };
                }
                let windows = session.windows_options(&image.path, &choices, &mut log);
                let extras = session.linux_extras(&image.path, &choices, &mut log);
                let why = emu::boot_image(
                    &mut session.fs,
                    &session.location,
                    &image,
                    drive,
                    windows,
                    &extras,
                );
                ui::pause(&alloc::format!("{} cannot boot: {why}", image.path));
                return;
            }
        }
        ui::act(&mut session.menu, Action::Boot(index));
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        println!("polyboot-bios: panic: {info}");
        loop {
            bios::idle();
        }
    }
}
