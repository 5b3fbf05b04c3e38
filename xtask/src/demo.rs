//! `cargo xtask demo`: the main job on the embedded default — `polyboot install` a drive image,
//! `polyboot add` a sample image (Debian's ipxe.iso) onto it, and boot it in QEMU (OVMF).

use anyhow::{Context, Result};
use polyboot_tests::{artifacts, Disk, Firmware, Vm, VmConfig};
use std::process::Command;
use std::time::Duration;

pub fn run(_args: &[String]) -> Result<()> {
    let root = crate::root();
    let out = root.join("target/demo");
    std::fs::create_dir_all(&out)?;
    let drive = out.join("drive.img");
    let _ = std::fs::remove_file(&drive);
    let polyboot = crate::polyboot_binary(&root);
    let efi = crate::efi_artifact(&root);
    let step = |args: &[&str]| -> Result<()> {
        eprintln!("xtask: polyboot {}", args.join(" "));
        crate::run(Command::new(&polyboot).args(args).env("POLYBOOT_EFI", &efi))
    };
    let d = drive.to_str().context("non-UTF-8 path")?;
    step(&["install", d, "--size", "4G", "--yes"])?;
    step(&["add", d, artifacts::IPXE_ISO, "--to", "samples"])?;
    step(&["info", d])?;
    eprintln!("xtask: booting {d} as a USB stick in QEMU (OVMF, TCG)");

    let mut vm = Vm::start(
        VmConfig::new("demo", Firmware::Uefi).disk(Disk::new(&drive).usb()).timeout(Duration::from_secs(120)),
    )?;
    let menu = vm.wait_for_echo("polyboot: menu ready", &mut std::io::stdout())?;
    vm.wait_for("----------")?;
    // Pick the sample in the menu the way a user would: type to search, press Enter.
    vm.send_serial(b"ipxe.iso")?;
    std::thread::sleep(Duration::from_millis(500));
    vm.send_serial(b"\r")?;
    let booted = vm.wait_for_echo(artifacts::IPXE_MARKER, &mut std::io::stdout())?;
    println!();
    eprintln!(
        "xtask: demo OK: menu after {:.1} s; ipxe.iso booted from the exFAT drive after {:.1} s (serial log in {})",
        menu.as_secs_f64(),
        booted.as_secs_f64(),
        vm.log_dir().display()
    );
    Ok(())
}
