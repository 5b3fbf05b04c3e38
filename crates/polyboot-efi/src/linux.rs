//! Linux ISOs: wrap the initrds their boot configuration loads so that polyboot-hook runs as
//! `/init` first and maps the image as a block device the distribution can find.
//!
//! The planning (which records, which regions) is core's `initrd_wrap`; here we gather what
//! only the firmware knows (the drive's identity and size, the file's place on it) into the
//! hand-off record and report what was done on the console.

use crate::disk::FirmwareDisk;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use polyboot_core::block::ReadAt;
use polyboot_core::bootcfg;
use polyboot_core::drive::DriveLocation;
use polyboot_core::exfat::Extent;
use polyboot_core::handoff::{Handoff, ImageKind};
use polyboot_core::initrd_wrap;
use polyboot_core::vdisk::VirtualDisk;

/// polyboot-hook, static and stripped, embedded by `build.rs` behind core's `embedded_hook`
/// header (which BIOS stage 1 looks for in this file); empty when built without it.
static EMBEDDED_HOOK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/polyboot-hook.bin"));

/// The hook's bytes (empty when this build has none).
fn hook() -> &'static [u8] {
    polyboot_core::embedded_hook::find_embedded_hook(EMBEDDED_HOOK).unwrap_or(&[])
}

/// The hand-off record for an ISO whose data lies at `extents` of the data partition.
fn handoff(location: &DriveLocation, disk_size: u64, image_size: u64, extents: &[Extent]) -> Result<Handoff, String> {
    Handoff::for_image(location, disk_size, ImageKind::Iso, image_size, extents).map_err(|e| format!("hand-off record: {e}"))
}

/// polyboot-hook's archive (core `initrd_wrap::hook_archive`) with the hand-off record of an
/// ISO of `image_size` bytes at `extents`: the front of every wrapped initrd, also those read
/// from the El Torito image (`efifs`).
pub fn hook_archive(location: &DriveLocation, disk_size: u64, image_size: u64, extents: &[Extent]) -> Result<Arc<[u8]>, String> {
    if hook().is_empty() {
        return Err(String::from("this build has no polyboot-hook"));
    }
    let h = handoff(location, disk_size, image_size, extents)?;
    initrd_wrap::hook_archive(hook(), &h.encode()).map(Into::into).map_err(|e| format!("{e}"))
}

/// Wrap the initrds of the ISO served by `layout`. Problems are printed and leave the image as
/// it is: an unwrapped live ISO still boots its kernel, and says itself what it misses.
pub fn wrap_initrds(layout: &mut VirtualDisk, disk: FirmwareDisk, location: &DriveLocation, extents: &[Extent]) {
    let disk_size = disk.size();
    let report = match bootcfg::find_boot_entries(&mut layout.reader(disk)) {
        Ok(r) => r,
        Err(e) => {
            println!("polyboot: linux: cannot read the ISO's boot configuration: {e}");
            return;
        }
    };
    if report.initrds.is_empty() {
        println!("polyboot: linux: no initrd in the boot configuration ({} files read)", report.files.len());
        return;
    }
    if hook().is_empty() {
        println!("polyboot: linux: this build has no polyboot-hook; initrds are not wrapped");
        return;
    }
    let h = match handoff(location, disk_size, layout.image_len(), extents) {
        Ok(h) => h,
        Err(e) => {
            println!("polyboot: linux: initrds not wrapped: {e}");
            return;
        }
    };
    let archive: Arc<[u8]> = match initrd_wrap::hook_archive(hook(), &h.encode()) {
        Ok(a) => a.into(),
        Err(e) => {
            println!("polyboot: linux: initrds not wrapped: {e}");
            return;
        }
    };
    let plan = initrd_wrap::plan(&report.initrds, layout.image_len(), layout.size(), archive);
    if let Err(e) = initrd_wrap::apply(&plan, layout) {
        // `plan` places everything past the image, where nothing else is: a bug, not input.
        println!("polyboot: linux: initrds not wrapped: {e}");
        return;
    }
    for w in &plan.wrapped {
        println!(
            "polyboot: linux: wrapped initrd {} ({} bytes) as {} bytes at block {}",
            w.paths.join(", "),
            w.original_size,
            w.len,
            w.lba()
        );
    }
    for s in &plan.skipped {
        println!("polyboot: linux: initrd {} not wrapped: {}", s.path, s.reason);
    }
}
