//! The boot manager boots in real firmware (OVMF) from a GPT disk built by independent tools,
//! and reports itself and the disk it was loaded from.

use polyboot_tests::{artifacts, fixtures, Disk, Firmware, Vm, VmConfig};
use std::time::Duration;

#[test]
fn ovmf_boots_polyboot_efi_and_it_names_its_disk() -> anyhow::Result<()> {
    let efi = artifacts::efi_app()?;
    let dir = tempfile::tempdir()?;
    let disk = dir.path().join("esp-disk.img");
    fixtures::esp_disk(&disk, &efi)?;

    let mut vm = Vm::start(
        VmConfig::new("ovmf-boots-polyboot-efi", Firmware::Uefi)
            .disk(Disk::new(&disk))
            .timeout(Duration::from_secs(60)),
    )?;
    let banner = format!("polyboot {}", env!("CARGO_PKG_VERSION"));
    let t = vm.wait_for(&banner)?;
    vm.wait_for("polyboot: returning to firmware")?;
    let console = vm.serial_text();
    eprintln!("banner {banner:?} after {t:?}");

    let loaded_from =
        line_after(&console, "polyboot: loaded from ").expect("no 'loaded from' line");
    let disk_path = line_after(&console, "polyboot: disk ").expect("no 'disk' line");
    eprintln!("loaded from: {loaded_from}\ndisk: {disk_path}");
    // The app was loaded from partition 1 of a GPT disk: its path ends in a GPT hard-drive
    // node, and the disk path is that path without it.
    assert!(loaded_from.contains("HD(1,GPT,"), "{loaded_from}");
    assert!(disk_path.starts_with("PciRoot("), "{disk_path}");
    assert!(!disk_path.contains("HD("), "{disk_path}");
    assert!(
        loaded_from.starts_with(&format!("{disk_path}/HD(1,GPT,")),
        "{loaded_from} vs {disk_path}"
    );
    assert!(t < Duration::from_secs(30), "banner took {t:?}");
    Ok(())
}

fn line_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.find(prefix).map(|i| l[i + prefix.len()..].trim_end()))
}
