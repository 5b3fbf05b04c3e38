//! A drive made by `polyboot install` boots the boot manager in real firmware (OVMF).

mod common;
use common::Cli;
use polyboot_tests::{Disk, Firmware, Vm, VmConfig};
use std::time::Duration;

fn boots(name: &str, sector_size: u32, scheme: &str, usb: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let img = dir.path().join("drive.img");
    let (ok, _, err) = Cli::booting()
        .args([
            "install",
            img.to_str().unwrap(),
            "--size",
            "256M",
            scheme,
            "--sector-size",
            &sector_size.to_string(),
        ])
        .run();
    anyhow::ensure!(ok, "install failed: {err}");

    let mut disk = Disk::new(&img).block_size(sector_size);
    if usb {
        disk = disk.usb();
    }
    let mut vm =
        Vm::start(VmConfig::new(name, Firmware::Uefi).disk(disk).timeout(Duration::from_secs(60)))?;
    let t = vm.wait_for(&format!("polyboot {}", env!("CARGO_PKG_VERSION")))?;
    vm.wait_for("polyboot: menu ready")?;
    let console = vm.serial_text();
    let part = if scheme == "--gpt" { "HD(2,GPT," } else { "HD(2,MBR," };
    assert!(console.contains(part), "loaded from partition 2:\n{console}");
    eprintln!("{name}: banner after {t:?}");
    Ok(())
}

#[test]
fn ovmf_boots_installed_gpt_usb_stick_512() -> anyhow::Result<()> {
    boots("installed-gpt-usb-512", 512, "--gpt", true)
}

#[test]
fn ovmf_boots_installed_mbr_disk_4096() -> anyhow::Result<()> {
    boots("installed-mbr-4096", 4096, "--mbr", false)
}
