//! `cargo xtask demo`: the main job on the embedded default — make a drive image and boot it
//! in QEMU (OVMF), showing the guest's serial console.

use anyhow::{Context, Result};
use polyboot_tests::{fixtures, Disk, Firmware, Vm, VmConfig};
use std::time::Duration;

pub fn run(_args: &[String]) -> Result<()> {
    let root = crate::root();
    let out = root.join("target/demo");
    std::fs::create_dir_all(&out)?;
    let drive = out.join("drive.img");
    let efi = crate::efi_artifact(&root);
    fixtures::esp_disk(&drive, &efi).context("making the demo drive")?;
    eprintln!("xtask: drive image {} ready; booting it in QEMU (OVMF, TCG)", drive.display());

    let mut vm = Vm::start(
        VmConfig::new("demo", Firmware::Uefi).disk(Disk::new(&drive).usb()).timeout(Duration::from_secs(120)),
    )?;
    let took = vm.wait_for_echo("polyboot: returning to firmware", &mut std::io::stdout())?;
    println!();
    eprintln!("xtask: demo OK: polyboot booted in {:.1} s (serial log in {})", took.as_secs_f64(), vm.log_dir().display());
    Ok(())
}
