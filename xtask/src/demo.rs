//! `cargo xtask demo`: what a user would type — `polyboot install` a drive image, `polyboot add`
//! a sample image (Debian's ipxe.iso) onto it, and `polyboot vm` it: OVMF, the drive as a USB
//! stick, ipxe.iso typed into the menu's search, done when iPXE prints its banner.

use anyhow::{Context, Result};
use std::process::Command;
use std::time::Instant;

const IPXE_ISO: &str = "/usr/lib/ipxe/ipxe.iso";
const IPXE_MARKER: &str = "iPXE initialising devices";

pub fn run(_args: &[String]) -> Result<()> {
    let root = crate::root();
    let out = root.join("target/demo");
    std::fs::create_dir_all(&out)?;
    let drive = out.join("drive.img");
    let _ = std::fs::remove_file(&drive);
    let logs = root.join("target/vm-logs/demo");
    let polyboot = crate::polyboot_binary(&root);
    let step = |args: &[&str]| -> Result<()> {
        eprintln!("xtask: polyboot {}", args.join(" "));
        crate::run(
            Command::new(&polyboot)
                .args(args)
                .env("POLYBOOT_EFI", crate::efi_artifact(&root))
                .env("POLYBOOT_BIOS", crate::bios_artifact(&root)),
        )
    };
    let d = drive.to_str().context("non-UTF-8 path")?;
    let l = logs.to_str().context("non-UTF-8 path")?;
    step(&["install", d, "--size", "4G", "--yes"])?;
    step(&["add", d, IPXE_ISO, "--to", "samples"])?;
    step(&["info", d])?;
    let started = Instant::now();
    step(&[
        "vm",
        d,
        "--serial",
        "--image",
        "ipxe.iso",
        "--expect",
        IPXE_MARKER,
        "--timeout",
        "180",
        "--log-dir",
        l,
    ])?;
    eprintln!(
        "xtask: demo OK: ipxe.iso picked from polyboot's menu and booted from the exFAT drive; polyboot vm took {:.1} s (serial log in {l})",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
