//! polyboot-efi: the UEFI boot manager.
//!
//! Finds the drive it was loaded from, reads the exFAT data partition through the firmware's
//! BlockIO with polyboot-core's reader, lists the images on it, and (next) boots the chosen one.
#![no_std]
#![no_main]

extern crate alloc;

mod disk;
mod image;
mod vblock;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use polyboot_core::block::{ReadAt, Slice};
use polyboot_core::exfat::ExFat;
use polyboot_core::gpt::SectorSize;
use core::fmt::Write;
use uefi::prelude::*;
use uefi::proto::device_path::text::{AllowShortcuts, DisplayOnly};
use uefi::proto::device_path::{DevicePath, DeviceSubType, DeviceType};
use uefi::proto::loaded_image::LoadedImage;
use uefi::{boot, println};

#[entry]
fn main() -> Status {
    if uefi::helpers::init().is_err() {
        return Status::ABORTED;
    }
    println!("polyboot {}", polyboot_core::VERSION);
    match boot_device_description() {
        Ok(desc) => {
            println!("polyboot: loaded from {}", desc.partition);
            println!("polyboot: disk {}", desc.disk);
        }
        Err(msg) => println!("polyboot: cannot identify the boot device: {msg}"),
    }
    if let Err(msg) = run() {
        println!("polyboot: error: {msg}");
    }
    println!("polyboot: returning to firmware");
    Status::SUCCESS
}

fn run() -> Result<(), String> {
    let started = uefi::runtime::get_time().ok();
    let handle = disk::find_boot_disk()?;
    let mut drive = disk::FirmwareDisk::open(handle)?;
    let sector_size = SectorSize::from_bytes(drive.block_size());
    let loc = polyboot_core::drive::locate(&mut drive, sector_size).map_err(|e| e.to_string())?;
    println!(
        "polyboot: {} drive, {}-byte sectors, data partition at {} ({} bytes)",
        loc.scheme, loc.sector_size, loc.data.offset, loc.data.size
    );
    let part = Slice::new(&mut drive, loc.data.offset, loc.data.size).map_err(|e| e.to_string())?;
    let mut fs = ExFat::open(part).map_err(|e| format!("the data partition is not readable exFAT: {e}"))?;
    println!("polyboot: data volume \"{}\"", fs.label());
    let mut images = Vec::new();
    list_images(&mut fs, String::from("/"), 0, &mut images);
    for (path, size) in &images {
        println!("polyboot: image {path} ({size} bytes)");
    }
    // Interim chooser until the menu lands: a digit picks an image.
    let extents: Vec<_> = images.iter().map(|(p, _)| fs.extents(p).unwrap_or_default()).collect();
    drop(fs);
    let _ = started;
    println!("polyboot: {} images, {} sectors read in {} reads", images.len(), drive.sectors_read, drive.read_calls);
    for (i, (path, _)) in images.iter().enumerate() {
        println!("  {}) {path}", i + 1);
    }
    println!("polyboot: press a digit to boot");
    let Some(choice) = read_digit() else { return Ok(()) };
    let Some((path, size)) = images.get(choice.wrapping_sub(1)) else { return Ok(()) };
    println!("polyboot: booting {path}");
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".efi") {
        return boot_efi_file(handle, &loc, path);
    }
    let media = image::ExtentFile {
        disk: disk::FirmwareDisk::open(handle)?,
        partition_offset: loc.data.offset,
        extents: extents[choice - 1].clone(),
        file_size: *size,
        // An ISO is a CD-ROM (2048-byte blocks); an IMG is a hard disk (512-byte sectors).
        block_size: if lower.ends_with(".img") { 512 } else { 2048 },
    };
    let dev = vblock::Installed::install(alloc::boxed::Box::new(media), choice as u8)?;
    match dev.boot() {
        Ok(status) => println!("polyboot: the image returned {status:?}"),
        Err(msg) => println!("polyboot: cannot boot {path}: {msg}"),
    }
    Ok(())
}

/// A bare EFI application on the data partition: load it from memory and start it.
fn boot_efi_file(handle: uefi::Handle, loc: &polyboot_core::drive::DriveLocation, path: &str) -> Result<(), String> {
    let mut drive = disk::FirmwareDisk::open(handle)?;
    let part = Slice::new(&mut drive, loc.data.offset, loc.data.size).map_err(|e| e.to_string())?;
    let mut fs = ExFat::open(part).map_err(|e| e.to_string())?;
    let bytes = fs.read_to_vec(path).map_err(|e| format!("reading {path}: {e}"))?;
    let image = boot::load_image(
        boot::image_handle(),
        boot::LoadImageSource::FromBuffer { buffer: &bytes, file_path: None },
    )
    .map_err(|e| format!("LoadImage({path}) failed: {:?}", e.status()))?;
    drop(bytes);
    println!("polyboot: starting {path}");
    let status = match boot::start_image(image) {
        Ok(()) => Status::SUCCESS,
        Err(e) => e.status(),
    };
    println!("polyboot: the image returned {status:?}");
    Ok(())
}

fn read_digit() -> Option<usize> {
    loop {
        let key = uefi::system::with_stdin(|stdin| stdin.read_key().ok().flatten());
        if let Some(uefi::proto::console::text::Key::Printable(c)) = key {
            let c = char::from(c);
            if let Some(d) = c.to_digit(10) {
                return Some(d as usize);
            }
        }
        boot::stall(core::time::Duration::from_millis(20));
    }
}

fn list_images<D: ReadAt>(fs: &mut ExFat<D>, dir: String, depth: u32, out: &mut Vec<(String, u64)>) {
    let Ok(entries) = fs.read_dir(&dir) else { return };
    for e in entries {
        let path = if dir == "/" { format!("/{}", e.name) } else { format!("{dir}/{}", e.name) };
        if e.is_dir() {
            if depth < 10 {
                list_images(fs, path, depth + 1, out);
            }
        } else if [".iso", ".img", ".efi"].iter().any(|x| e.name.to_ascii_lowercase().ends_with(x)) {
            out.push((path, e.size));
        }
    }
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
