//! The synthetic WinPE CD (`winpe_medium::plan`) on arbitrary WIM bytes: must never panic.
//! When it plans a medium, the medium (applied to a virtual medium whose image is the input)
//! reads back through core's readers: `iso9660::probe` finds both trees, each lists exactly
//! the planned files (every one read back with its planned length, `/sources/boot.wim`
//! identical to the input), the El Torito catalog offers exactly the planned firmware (the
//! BIOS entry at `etfsboot.com`, the EFI entry at the FAT image), and the FAT image opens
//! with `EFI/Microsoft/Boot/BCD` identical to the ISO's and a BCD naming the WIM.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::bcd;
use polyboot_core::block::MemDevice;
use polyboot_core::eltorito;
use polyboot_core::fat::read::Fat;
use polyboot_core::iso9660;
use polyboot_core::virtual_medium::{Extent, VirtualMedium};
use polyboot_core::winpe_medium::{plan, WinPeMediumOptions};

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let mut wim = MemDevice::from_vec(data.to_vec());
    let Ok(medium) = plan(&mut wim, len, &WinPeMediumOptions::default()) else { return };
    assert!(medium.bios || medium.uefi);
    let mut vm =
        VirtualMedium::new(2048, len, 0, vec![Extent { file_offset: 0, device_offset: 0, len }])
            .expect("the medium's image is the input");
    medium.apply(&mut vm).expect("the plan applies");
    assert_eq!(vm.size(), medium.size);
    let mut bytes = vec![0u8; vm.size() as usize];
    vm.read(&mut wim, 0, &mut bytes).expect("the medium reads");
    let mut dev = MemDevice::from_vec(bytes);

    let info = iso9660::probe(&mut dev).expect("the medium is ISO 9660");
    let joliet = info.joliet.clone().expect("with a Joliet tree").tree;
    for tree in [&info.primary, &joliet] {
        let mut seen = 0usize;
        iso9660::walk(&mut dev, tree, 8, |_, e| {
            seen += usize::from(!e.is_dir());
            true
        })
        .expect("the tree walks");
        assert_eq!(seen, medium.files.len());
        for f in &medium.files {
            let e = iso9660::lookup(&mut dev, tree, &f.path).expect("a planned file is listed");
            assert_eq!(e.size, f.len, "{}", f.path);
            let got = iso9660::read_to_vec(&mut dev, &e, 1 << 30).expect("a file reads");
            if f.path == "/sources/boot.wim" {
                assert!(got == data, "the WIM reads back as the input");
            }
        }
    }

    let cat = eltorito::read_catalog(&mut dev).expect("the catalog reads");
    assert_eq!(cat.can_boot_bios(), medium.bios);
    assert_eq!(cat.can_boot_uefi(), medium.uefi);
    if let Some(b) = cat.bios_entry() {
        let etfs = medium.file("/boot/etfsboot.com").expect("etfsboot.com is listed");
        assert_eq!(b.image_offset(), u64::from(etfs.lba) * 2048);
    }
    if medium.uefi {
        let (at, len) = cat.efi_image_range(&mut dev).expect("the EFI image is inside");
        let efi = dev.data[at as usize..(at + len) as usize].to_vec();
        let mut fat = Fat::open(MemDevice::from_vec(efi)).expect("the EFI image is FAT");
        let store = fat.read_file("EFI/Microsoft/Boot/BCD", 1 << 24).expect("the BCD is there");
        let e = iso9660::lookup(&mut dev, &joliet, "/EFI/Microsoft/Boot/BCD").expect("listed");
        assert_eq!(iso9660::read_to_vec(&mut dev, &e, 1 << 24).expect("reads"), store);
        let entries = bcd::winpe_wim_paths(&store).expect("the store reads");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].wim_path.replace('\\', "/"), "/sources/boot.wim");
    }
});
