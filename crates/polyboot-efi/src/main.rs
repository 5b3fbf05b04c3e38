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
mod ui;
mod vblock;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use disk::FirmwareDisk;
use polyboot_core::block::Slice;
use polyboot_core::config::{self, Firmware};
use polyboot_core::drive::DriveLocation;
use polyboot_core::exfat::{self, ExFat};
use polyboot_core::gpt::SectorSize;
use polyboot_core::menu::{self, Action, ImageEntry, ImageKind, Menu};
use polyboot_core::vdisk::VirtualDisk;
use uefi::prelude::*;
use uefi::proto::device_path::text::{AllowShortcuts, DisplayOnly};
use uefi::proto::device_path::{DevicePath, DeviceSubType, DeviceType};
use uefi::proto::loaded_image::LoadedImage;
use uefi::boot;

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

type DataVolume = ExFat<Slice<FirmwareDisk>>;

/// The drive, its data volume and the menu built from it.
struct Session {
    disk_handle: Handle,
    location: DriveLocation,
    fs: DataVolume,
    menu: Menu,
    title: String,
    /// Distinguishes the device paths of successive virtual devices.
    boots: u8,
}

impl Session {
    fn open() -> Result<Session, String> {
        let disk_handle = disk::find_boot_disk()?;
        let mut drive = FirmwareDisk::open(disk_handle)?;
        let sector_size = SectorSize::from_bytes(drive.block_size());
        let location = polyboot_core::drive::locate(&mut drive, sector_size).map_err(|e| e.to_string())?;
        println!(
            "polyboot: {} drive, {}-byte sectors, data partition at {} ({} bytes)",
            location.scheme, location.sector_size, location.data.offset, location.data.size
        );
        let part = Slice::new(drive, location.data.offset, location.data.size).map_err(|e| e.to_string())?;
        let mut fs = ExFat::open(part).map_err(|e| format!("the data partition is not readable exFAT: {e}"))?;
        println!("polyboot: data volume \"{}\"", fs.label());

        let config = load_config(&mut fs);
        let report = menu::scan(&mut fs, &config.scan_options());
        for err in &report.errors {
            println!("polyboot: scan: {err}");
        }
        if report.limit.is_some() {
            println!("polyboot: scan stopped at a limit ({:?}); not every image is listed", report.limit);
        }
        let mut menu = Menu::new(report.images.clone());
        for (index, image) in report.images.iter().enumerate() {
            if let Some(status) = polyboot_core::probe::status(&mut fs, image) {
                menu.set_status(index, status);
            }
        }
        if let Some(default) = &config.default_image {
            if menu.set_default(default).is_none() {
                println!("polyboot: config: default image {default} is not on the drive");
            }
        }
        if let Some(secs) = config.timeout_secs {
            menu.start_countdown(secs);
        }
        let stats = fs.device().inner();
        println!(
            "polyboot: menu ready: {} images, {} ms, {} sectors read in {} reads",
            menu.image_count(),
            clock::now_ms(),
            stats.sectors_read,
            stats.read_calls
        );
        if let Some(path) = &config.read_benchmark {
            bench::read_benchmark(&mut fs, disk_handle, &location, path);
        }
        let title = format!("polyboot {}  -  {} images on {}", polyboot_core::VERSION, menu.image_count(), fs.label());
        Ok(Session { disk_handle, location, fs, menu, title, boots: 0 })
    }

    fn run(&mut self) {
        loop {
            match ui::run(&mut self.menu, &self.title) {
                Action::Boot(index) => {
                    let Some(image) = self.menu.items().get(index).and_then(|i| i.image()).cloned() else { continue };
                    clear_screen();
                    println!("polyboot: booting {}", image.path);
                    let message = match self.boot(&image) {
                        Ok(status) => format!("polyboot: {} returned {status:?}", image.path),
                        Err(msg) => format!("polyboot: cannot boot {}: {msg}", image.path),
                    };
                    ui::pause(&message, 10);
                    println!("polyboot: back to the menu");
                }
                Action::ShowReason(index) => {
                    let line = self.menu.info_line(index);
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

    fn boot(&mut self, image: &ImageEntry) -> Result<Status, String> {
        match image.kind {
            ImageKind::Efi => {
                let bytes = self.fs.read_to_vec(&image.path).map_err(|e| format!("reading the file: {e}"))?;
                let loaded = boot::load_image(
                    boot::image_handle(),
                    boot::LoadImageSource::FromBuffer { buffer: &bytes, file_path: None },
                )
                .map_err(|e| format!("the firmware refused to load it ({:?})", e.status()))?;
                drop(bytes);
                println!("polyboot: starting {}", image.path);
                Ok(match boot::start_image(loaded) {
                    Ok(()) => Status::SUCCESS,
                    Err(e) => e.status(),
                })
            }
            ImageKind::Iso | ImageKind::Img => {
                let (media, hook_archive) = self.virtual_media(image)?;
                self.boots = self.boots.wrapping_add(1);
                let device = vblock::Installed::install(media, self.boots, true)?;
                // Initrds inside the El Torito EFI image, read through the firmware's FAT driver.
                let esp = hook_archive.map(|a| efifs::wrap_eltorito_initrds(&device.file_systems(), &a));
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
    fn virtual_media(&mut self, image: &ImageEntry) -> Result<(Box<dyn vblock::VirtualMedia>, Option<Result<Arc<[u8]>, String>>), String> {
        let meta = self.fs.metadata(&image.path).map_err(|e| format!("{e}"))?;
        let extents = self.fs.extents(&image.path).map_err(|e| format!("mapping the file: {e}"))?;
        check_inside_partition(&extents, self.location.data.size)?;
        // An ISO is a CD-ROM (2048-byte blocks); an IMG is a hard disk (512-byte sectors).
        let block_size = if image.kind == ImageKind::Img { 512 } else { 2048 };
        let mut layout = VirtualDisk::new(block_size, meta.size, self.location.data.offset, extents.clone())
            .map_err(|e| format!("the file's layout is inconsistent: {e}"))?;
        let mut hook_archive = None;
        if image.kind == ImageKind::Iso {
            let disk = FirmwareDisk::open(self.disk_handle)?;
            hook_archive = Some(linux::hook_archive(&self.location, polyboot_core::block::ReadAt::size(&disk), layout.image_len(), &extents));
            linux::wrap_initrds(&mut layout, disk, &self.location, &extents);
        }
        Ok((Box::new(image::DiskImage { disk: FirmwareDisk::open(self.disk_handle)?, layout }), hook_archive))
    }
}

/// The extents must stay inside the partition: a corrupt volume must not make the virtual
/// device read someone else's sectors. (`VirtualDisk::new` checks them against the file.)
fn check_inside_partition(extents: &[exfat::Extent], partition_size: u64) -> Result<(), String> {
    for e in extents {
        if e.device_offset.checked_add(e.len).is_none_or(|end| end > partition_size) {
            return Err("the file's clusters lie outside the data partition (corrupt file system)".to_string());
        }
    }
    Ok(())
}

fn clear_screen() {
    uefi::system::with_stdout(|out| {
        let _ = out.clear();
    });
}

/// Read `/polyboot/polyboot.json` and `/ventoy/ventoy.json`; problems are reported, defaults used.
fn load_config(fs: &mut DataVolume) -> config::BootConfig {
    let mut read = |path: &str| -> Option<Vec<u8>> {
        match fs.metadata(path) {
            Ok(m) if m.size as usize > config::MAX_CONFIG_BYTES => {
                println!("polyboot: config: {path} is larger than {} bytes; ignored", config::MAX_CONFIG_BYTES);
                None
            }
            Ok(_) => fs.read_to_vec(path).ok(),
            Err(_) => None,
        }
    };
    let ours = read(config::POLYBOOT_JSON);
    let ventoy = read(config::VENTOY_JSON);
    let (cfg, errors) = config::load(ours.as_deref(), ventoy.as_deref(), Firmware::Uefi);
    for e in &errors {
        println!("polyboot: config: {e}");
    }
    for w in &cfg.warnings {
        println!("polyboot: config: {w}");
    }
    cfg
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
