//! El Torito on an arbitrary image: `read_catalog`, then every query on what it accepted.
//! Must never panic; an accepted catalog must agree with its own queries (bootable entries
//! inside the image, the reasons `None` exactly when booting is possible, the EFI image range
//! inside the image and starting at the EFI entry's image).
//!
//! Each input is read as it is and, when that differs, with the validation entry checksum
//! repaired (see common/eltorito_fixup.rs).
#![no_main]

#[path = "../common/eltorito_fixup.rs"]
mod eltorito_fixup;

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::{MemDevice, ReadAt};
use polyboot_core::eltorito::{self, BootCatalog, Emulation, Platform, VIRTUAL_SECTOR};

thread_local! {
    /// Reused for every input: no image-sized allocation per run.
    static DEVICE: RefCell<MemDevice> = RefCell::new(MemDevice::default());
}

fuzz_target!(|data: &[u8]| {
    DEVICE.with_borrow_mut(|dev| {
        dev.data.clear();
        dev.data.extend_from_slice(data);
        check(dev);
        eltorito_fixup::fix_validation_checksum(&mut dev.data);
        if dev.data != data {
            check(dev);
        }
    });
});

fn check(dev: &mut MemDevice) {
    let size = dev.size();
    let result = eltorito::read_catalog(&mut *dev);
    let reason = eltorito::uefi_boot_reason(&result);
    let catalog = match result {
        Ok(catalog) => catalog,
        Err(e) => {
            assert_eq!(reason, Some(e.to_string()));
            return;
        }
    };
    assert_eq!(eltorito::find_boot_record(&mut *dev).ok(), Some(catalog.catalog_lba));
    assert_eq!(reason.is_none(), catalog.can_boot_uefi());
    check_catalog(&catalog, size);

    assert_eq!(catalog.can_boot_bios(), catalog.bios_entry().is_some());
    assert_eq!(catalog.bios_reason().is_none(), catalog.can_boot_bios());
    assert_eq!(catalog.can_boot_uefi(), catalog.efi_entry().is_some());
    assert_eq!(catalog.uefi_reason().is_none(), catalog.can_boot_uefi());
    if let Some(e) = catalog.bios_entry() {
        assert!(e.bootable && e.platform == Platform::Bios);
        assert!(!matches!(e.media, Emulation::Other(_)));
    }

    let range = catalog.efi_image_range(&mut *dev);
    match (catalog.efi_entry(), range) {
        (Some(e), Some((start, len))) => {
            assert_eq!(start, e.image_offset());
            assert!(start < size && start + len <= size, "EFI image {start}+{len} in {size}");
            // Never shorter than the sectors the entry declares (when they fit).
            let declared = u64::from(e.sector_count) * VIRTUAL_SECTOR;
            assert!(len >= declared.min(size - start));
        }
        (Some(e), None) => assert!(e.image_offset() >= size),
        (None, range) => assert_eq!(range, None),
    }

    for e in &catalog.entries {
        if let Some(fat) = eltorito::fat_image_size(&mut *dev, e.image_offset()) {
            assert!(fat > 0 && fat % 512 == 0);
        }
        let _ = (e.declared_len(), e.media.floppy_bytes(), e.platform.id());
    }
    let _ = format!("{catalog:?}");
}

/// The structure `parse_catalog` promises.
fn check_catalog(catalog: &BootCatalog, size: u64) {
    let base = u64::from(catalog.catalog_lba) * 2048;
    let (first, rest) = catalog.entries.split_first().expect("no default entry");
    assert!(first.default_entry && first.platform == catalog.platform);
    assert_eq!(first.catalog_offset, base + 32);
    let mut last = first.catalog_offset;
    for e in rest {
        assert!(!e.default_entry);
        assert!(e.catalog_offset > last && (e.catalog_offset - base) % 32 == 0);
        last = e.catalog_offset;
    }
    assert!(last + 32 <= size, "catalog entry at {last} past the image ({size})");
    for e in catalog.entries.iter().filter(|e| e.bootable) {
        let end = e.image_offset() + e.declared_len().max(VIRTUAL_SECTOR);
        assert!(end <= size, "bootable image {}..{end} past the image ({size})", e.image_offset());
    }
    assert!(catalog.id_string.len() <= 24 * 3);
}
