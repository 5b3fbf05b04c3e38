//! polyboot-efi: the UEFI boot manager.
//!
//! Finds the drive it was loaded from, reads the exFAT data partition through the firmware's
//! BlockIO with polyboot-core's reader, lists the images on it in a menu, and boots the chosen
//! one straight from the file: ISO as a virtual CD-ROM, IMG as a virtual hard disk, `.efi`
//! from memory. Anything that goes wrong comes back to the menu with the reason.
#![no_std]
#![no_main]

extern crate alloc;

/// Like `uefi::println!`, but a console that fails (a serial port timing out, a broken GOP)
/// must not bring the boot manager down: write errors are ignored.
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console_line(format_args!($($arg)*))
    };
}

mod bench;
mod clock;
mod disk;
mod efifs;
mod image;
mod linux;
mod localboot;
mod sbat;
mod secureboot;
mod ui;
mod vblock;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use disk::FirmwareDisk;
use polyboot_core::config::Choices;
use polyboot_core::menu::choice::{self, ChoiceKind, ChoiceMenu};
use polyboot_core::menu::{self, Action, ImageEntry, ImageKind};
use polyboot_core::session::{self, BootSession, Firmware, HookSource};
use uefi::boot;
use uefi::prelude::*;
use uefi::proto::device_path::text::{AllowShortcuts, DisplayOnly};
use uefi::proto::device_path::{DevicePath, DeviceSubType, DeviceType};
use uefi::proto::loaded_image::LoadedImage;

/// polyboot-hook's archive for wrapping an ISO's initrds, or why there is none.
type HookArchive = Result<Arc<[u8]>, String>;

/// What `boot` returns when Esc in a template / backend menu went back to the main menu.
const CHOICE_BACK: &str = "back to the menu from a choice menu";

/// polyboot never exits boot services itself, so the console is always there to try.
pub(crate) fn console_line(args: core::fmt::Arguments) {
    uefi::system::with_stdout(|out| {
        let _ = out.write_fmt(args);
        let _ = out.write_str("\r\n");
    });
}

#[entry]
fn main() -> Status {
    if uefi::helpers::init().is_err() {
        return Status::ABORTED;
    }
    clock::init();
    println!("polyboot {}", polyboot_core::VERSION);
    match boot_device_description() {
        Ok(desc) => {
            println!("polyboot: loaded from {}", desc.partition);
            println!("polyboot: disk {}", desc.disk);
        }
        Err(msg) => println!("polyboot: cannot identify the boot device: {msg}"),
    }
    println!("polyboot: {}", secureboot::describe());
    match Session::open() {
        Ok(mut session) => session.run(),
        Err(msg) => {
            println!("polyboot: error: {msg}");
            ui::pause("polyboot cannot show its menu", 10);
        }
    }
    println!("polyboot: returning to firmware");
    Status::SUCCESS
}

/// Where core's boot session logs: the console, behind our prefix.
fn log(args: core::fmt::Arguments<'_>) {
    println!("polyboot: {args}");
}

/// The drive, core's boot session on it (data volume, configuration, menu) and the title.
struct Session {
    disk_handle: Handle,
    boot: BootSession<FirmwareDisk>,
    title: String,
    colors: ui::Colors,
    /// Distinguishes the device paths of successive virtual devices.
    boots: u8,
}

impl Session {
    fn open() -> Result<Session, String> {
        let disk_handle = disk::find_boot_disk()?;
        let drive = FirmwareDisk::open(disk_handle)?;
        let sector_bytes = drive.block_size();
        let mut boot = BootSession::open(drive, sector_bytes, Firmware::Uefi, &mut log)?;
        let stats = boot.fs.device().inner();
        println!(
            "polyboot: menu ready: {} images, {} ms, {} sectors read in {} reads",
            boot.menu.image_count(),
            clock::now_ms(),
            stats.sectors_read,
            stats.read_calls
        );
        if let Some(path) = &boot.config.read_benchmark {
            bench::read_benchmark(&mut boot.fs, disk_handle, &boot.location, path);
        }
        if let Some((w, h)) = boot.config.theme.resolution {
            match ui::set_text_mode_for(w, h) {
                Some((cols, rows)) => println!("polyboot: theme: {w}x{h}: text mode {cols}x{rows}"),
                None => {
                    println!("polyboot: theme: no text mode fits {w}x{h}; keeping the current one")
                }
            }
        }
        let colors = ui::Colors {
            title: boot.config.theme.title_color.map(|c| c.0),
            tip: boot.config.tip_color.map(|c| c.0),
        };
        let title = boot.title();
        Ok(Session { disk_handle, boot, title, colors, boots: 0 })
    }

    fn run(&mut self) {
        loop {
            match ui::run(&mut self.boot.menu, &self.title, self.colors) {
                Action::Boot(index) => self.boot_index(index),
                Action::Verify { index, then_boot } => {
                    clear_screen();
                    let mut last = u64::MAX;
                    let Some(image) =
                        self.boot.menu.items().get(index).and_then(|i| i.image()).cloned()
                    else {
                        continue;
                    };
                    let outcome = self.boot.verify(
                        index,
                        &mut |done, total| {
                            // A line per tenth: readable on a serial console too.
                            let tenth = (done * 10).checked_div(total).unwrap_or(10);
                            if tenth != last {
                                last = tenth;
                                println!(
                                    "polyboot: {}",
                                    session::progress_line(&image, done, total)
                                );
                            }
                        },
                        &mut log,
                    );
                    if then_boot && outcome.is_match() {
                        self.boot_index(index);
                    } else {
                        let refused =
                            if then_boot { "; not booting it (verify_before_boot)" } else { "" };
                        ui::pause(
                            &format!("polyboot: {}{refused}", outcome.describe(&image.path)),
                            30,
                        );
                        println!("polyboot: back to the menu");
                    }
                }
                Action::Details(index) => {
                    let lines = self.boot.details(index);
                    ui::show_lines(&lines, 60);
                    println!("polyboot: back to the menu");
                }
                Action::LocalBoot => {
                    clear_screen();
                    let why = localboot::boot_local_disk(self.disk_handle);
                    ui::pause(&format!("polyboot: cannot boot the local disk: {why}"), 10);
                    println!("polyboot: back to the menu");
                }
                Action::ShowReason(index) => {
                    let line = self.boot.menu.info_line(index);
                    clear_screen();
                    ui::pause(&format!("polyboot: {line}"), 10);
                    println!("polyboot: back to the menu");
                }
                Action::Reboot => ui::reboot(),
                Action::PowerOff => ui::power_off(),
                Action::FirmwareSetup => {
                    let msg = ui::firmware_setup();
                    clear_screen();
                    ui::pause(&format!("polyboot: {msg}"), 10);
                }
                Action::None | Action::Redraw => {}
            }
        }
    }

    /// Boot menu image `index` and come back to the menu with what happened.
    fn boot_index(&mut self, index: usize) {
        let Some(image) = self.boot.menu.items().get(index).and_then(|i| i.image()).cloned() else {
            return;
        };
        clear_screen();
        println!("polyboot: booting {}", image.path);
        let message = match self.boot(&image) {
            Ok(status) => format!("polyboot: {} returned {status:?}", image.path),
            // Esc in a template / backend menu: nothing was booted, nothing to say.
            Err(msg) if msg == CHOICE_BACK => {
                println!("polyboot: back to the menu");
                return;
            }
            Err(msg) => format!("polyboot: cannot boot {}: {msg}", image.path),
        };
        ui::pause(&message, 10);
        println!("polyboot: back to the menu");
    }

    fn boot(&mut self, image: &ImageEntry) -> Result<Status, String> {
        match image.kind {
            ImageKind::Efi => {
                let bytes = self
                    .boot
                    .fs
                    .read_to_vec(&image.path)
                    .map_err(|e| format!("reading the file: {e}"))?;
                // Secure Boot: LoadImage (the firmware's, or shim's hook) is the only gate.
                let loaded = secureboot::load_image(secureboot::Source::Buffer(&bytes)).map_err(
                    |status| {
                        if secureboot::is_on() && secureboot::is_refusal(status) {
                            secureboot::refusal_reason("it", status, Some(&bytes))
                        } else {
                            format!("the firmware refused to load it ({status:?})")
                        }
                    },
                )?;
                let is_shim = secureboot::is_shim(&bytes);
                drop(bytes);
                println!("polyboot: starting {}", image.path);
                Ok(secureboot::start_image(loaded, is_shim))
            }
            ImageKind::Iso | ImageKind::Img | ImageKind::Wim => {
                let (media, hook_archive) = self.virtual_media(image)?;
                self.boots = self.boots.wrapping_add(1);
                let device = vblock::Installed::install(media, self.boots, true)?;
                // Initrds inside the El Torito EFI image, read through the firmware's FAT driver.
                let esp =
                    hook_archive.map(|a| efifs::wrap_eltorito_initrds(&device.file_systems(), &a));
                let status = device.boot();
                // The real file systems go back before the device is disconnected.
                drop(esp);
                status
            }
            other => Err(menu::not_bootable_yet_reason(other)),
        }
    }

    /// The image as a virtual device's medium, and for an ISO polyboot-hook's archive for
    /// wrapping initrds (or why there is none).
    fn virtual_media(
        &mut self,
        image: &ImageEntry,
    ) -> Result<(Box<dyn vblock::VirtualMedia>, Option<HookArchive>), String> {
        let mut layout = self.boot.virtual_medium(image)?;
        let mut hook_archive = None;
        if image.kind == ImageKind::Wim {
            let mut disk = FirmwareDisk::open(self.disk_handle)?;
            session::prepare_wim(&mut layout, &mut disk, &mut log)?;
        }
        if image.kind == ImageKind::Iso {
            // Ventoy's template / backend menus (templates first); Esc goes back.
            let (templates, backends) = self.boot.linux_choices(&image.path);
            let colors = self.colors;
            let ask = |kind, choices: Option<Choices>| {
                let run = &mut |m: &mut ChoiceMenu| ui::run_choice(m, colors);
                choice::choose(kind, &image.path, choices.as_ref(), run, &mut log)
                    .ok_or_else(|| String::from(CHOICE_BACK))
            };
            let template = ask(ChoiceKind::AutoInstall, templates)?;
            let persistence = ask(ChoiceKind::Persistence, backends)?;
            let choices = session::LinuxChoices { template, persistence };
            let windows = self.boot.windows_options(&image.path, &choices, &mut log);
            let extras = self.boot.linux_extras(&image.path, &choices, &mut log);
            let mut disk = FirmwareDisk::open(self.disk_handle)?;
            let location = &self.boot.location;
            let handoff = session::prepare_iso(
                &mut layout,
                &mut disk,
                location,
                HookSource::Embedded(linux::hook()),
                &image.path,
                Some(windows),
                &extras,
                &mut log,
            );
            hook_archive = Some(session::hook_archive(linux::hook(), &handoff));
        }
        Ok((
            Box::new(image::DiskImage { disk: FirmwareDisk::open(self.disk_handle)?, layout }),
            hook_archive,
        ))
    }
}

fn clear_screen() {
    uefi::system::with_stdout(|out| {
        let _ = out.clear();
    });
}

struct BootDevice {
    /// Full text of the device path of the volume this image was loaded from.
    partition: String,
    /// The same path cut before the first hard-drive / CD-ROM media node: the whole disk.
    disk: String,
}

fn boot_device_description() -> Result<BootDevice, &'static str> {
    let loaded = boot::open_protocol_exclusive::<LoadedImage>(boot::image_handle())
        .map_err(|_| "no LoadedImage protocol")?;
    let device = loaded.device().ok_or("the loaded image has no device handle")?;
    let path = boot::open_protocol_exclusive::<DevicePath>(device)
        .map_err(|_| "the boot device has no device path")?;

    let mut disk_nodes: Vec<String> = Vec::new();
    let mut all_nodes: Vec<String> = Vec::new();
    let mut in_disk = true;
    for node in path.node_iter() {
        let text = node
            .to_string16(DisplayOnly(false), AllowShortcuts(false))
            .map_err(|_| "the firmware cannot print device paths")?;
        let mut s = String::new();
        let _ = write!(s, "{text}");
        let is_partition_node = node.device_type() == DeviceType::MEDIA
            && (node.sub_type() == DeviceSubType::MEDIA_HARD_DRIVE
                || node.sub_type() == DeviceSubType::MEDIA_CD_ROM);
        if is_partition_node {
            in_disk = false;
        }
        if in_disk {
            disk_nodes.push(s.clone());
        }
        all_nodes.push(s);
    }
    Ok(BootDevice { partition: all_nodes.join("/"), disk: disk_nodes.join("/") })
}
