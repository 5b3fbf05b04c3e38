//! polyboot-efi: the UEFI boot manager.
//!
//! Stage 1 (foundation): identify itself and the disk it was loaded from, then return to the
//! firmware. The menu and the virtual-disk boot path build on this.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
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
    println!("polyboot: returning to firmware");
    Status::SUCCESS
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
