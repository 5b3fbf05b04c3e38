//! Open an exFAT volume from arbitrary bytes (boot regions, FAT, bitmap, up-case table and
//! root directory are all input), then walk whatever opened. Must never panic.
//!
//! The input is the start of the volume; the device is zero-extended to 1 MiB, the smallest
//! exFAT volume, so short inputs can still describe a volume the device holds. Each input
//! is tried as it is and, when that differs, with its boot region checksums, root directory
//! name hashes and entry set checksums repaired (see common/exfat_fixup.rs).
#![no_main]

#[path = "../common/exfat_fixup.rs"]
mod exfat_fixup;
#[path = "../common/exfat_walk.rs"]
mod exfat_walk;

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::MemDevice;
use polyboot_core::exfat::ExFat;

const MIN_DEVICE: usize = 1 << 20;

thread_local! {
    /// Two reusable volumes (as given, repaired): no 1 MiB allocation per input.
    static DEVICES: RefCell<(MemDevice, MemDevice)> =
        RefCell::new((MemDevice::new(MIN_DEVICE), MemDevice::new(MIN_DEVICE)));
}

fuzz_target!(|data: &[u8]| {
    DEVICES.with_borrow_mut(|(raw, fixed)| {
        raw.data.clear();
        raw.data.extend_from_slice(data);
        raw.data.resize(data.len().max(MIN_DEVICE), 0);
        open_and_walk(raw);

        fixed.data.clear();
        fixed.data.extend_from_slice(&raw.data);
        if let Some(root) = exfat_fixup::root_cluster_range(&fixed.data) {
            let upcase = exfat_fixup::Upcase::from_volume(&fixed.data);
            exfat_fixup::fix_entry_sets(&mut fixed.data[root], &upcase);
        }
        exfat_fixup::fix_boot_checksums(&mut fixed.data);
        if fixed.data != raw.data {
            open_and_walk(fixed);
        }
    });
});

fn open_and_walk(dev: &mut MemDevice) {
    match ExFat::open(dev) {
        Ok(mut fs) => exfat_walk::walk(&mut fs),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
