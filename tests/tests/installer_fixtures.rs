//! Baseline for issue 18: the Debian-installer fixture (`tests/fixtures/installer/`, Debian's
//! own `debian-installer-12-netboot-amd64` kernel and initrd on a netinst-shaped ISO) boots
//! straight from QEMU's CD-ROM — no polyboot involved — under OVMF and under SeaBIOS, and d-i
//! runs the `preseed/early_command` of a `/preseed.cfg` found in its initrd, with the ISO's
//! own kernel command line (`vga=788 --- quiet console=ttyS0,115200n8`: no `file=`, no
//! `auto=true`, no `priority=critical`) and no key pressed. The preseed travels as a second
//! gzip'd cpio appended to the ISO's `initrd.gz`, the way polyboot hands templates to the
//! initramfs.
//!
//! Ignored by default like `live_fixtures` (the first run builds the ISO, about a minute, and
//! each boot takes a minute or two under TCG). Run them with
//! `cargo test -p polyboot-tests --test installer_fixtures -- --ignored --test-threads 1`.

use polyboot_tests::{fixtures, Firmware, Vm, VmConfig};
use std::sync::Mutex;
use std::time::Duration;

/// One TCG guest at a time (two cores).
static ONE_VM: Mutex<()> = Mutex::new(());

fn preseed_runs_without_keys(name: &str, firmware: Firmware) -> anyhow::Result<()> {
    let iso = fixtures::debian_installer_iso()?;
    let dir = tempfile::tempdir()?;

    // The ISO's kernel command line asks for nothing preseed-related.
    let cfg = String::from_utf8(fixtures::iso_file(&iso, "/boot/grub/grub.cfg")?)?;
    let linux = cfg.lines().find(|l| l.trim_start().starts_with("linux ")).unwrap_or_default();
    assert_eq!(linux.trim(), "linux /install.amd/vmlinuz vga=788 --- quiet console=ttyS0,115200n8");

    let mut initrd = fixtures::iso_file(&iso, "/install.amd/initrd.gz")?;
    let preseed = fixtures::preseed_with_marker(name);
    initrd.extend(fixtures::initrd_overlay(&[("preseed.cfg", preseed.as_bytes())]));
    let copy = dir.path().join("d-i-preseeded.iso");
    fixtures::iso_with_files(&iso, &copy, &[("/install.amd/initrd.gz", &initrd)])?;
    assert_eq!(fixtures::iso_file(&copy, "/install.amd/initrd.gz")?, initrd);

    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let mut vm = Vm::start(
        VmConfig::new(name, firmware)
            .cdrom(&copy)
            .memory_mib(1024)
            .timeout(Duration::from_secs(360)),
    )?;
    let t = vm.wait_for(&fixtures::preseed_marker(name))?;
    eprintln!("{name}: d-i ran the preseed's early_command after {t:?}");
    Ok(())
}

#[test]
#[ignore = "downloads debian-installer-12-netboot-amd64 on first use and boots d-i under TCG (~1 min)"]
fn debian_installer_runs_an_initrd_preseed_under_ovmf() -> anyhow::Result<()> {
    preseed_runs_without_keys("d-i-preseed-uefi", Firmware::Uefi)
}

#[test]
#[ignore = "downloads debian-installer-12-netboot-amd64 on first use and boots d-i under TCG (~1 min)"]
fn debian_installer_runs_an_initrd_preseed_under_seabios() -> anyhow::Result<()> {
    preseed_runs_without_keys("d-i-preseed-bios", Firmware::Bios)
}

/// The kickstart check fixture (`fixtures::kickstart_check_iso`), here given the parameter
/// and the file itself (what polyboot adds when booting it with a kickstart template): its
/// cmdline hook in the booted initramfs reports `inst.ks=file:/ks.cfg` and the file's first
/// line; the copy's GRUB entry carries the `inst.stage2=` that makes it an Anaconda ISO.
#[test]
#[ignore = "builds the dracut ISO on first use (~8 min as root) and boots it under TCG (~1 min)"]
fn kickstart_check_reports_parameter_and_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ks = "# POLYBOOT-KS-baseline\ntext\n";
    let iso = fixtures::kickstart_check_iso(
        dir.path(),
        "inst.ks=file:/ks.cfg",
        &[("ks.cfg", ks.as_bytes())],
    )?;
    let cfg = String::from_utf8(fixtures::iso_file(&iso, "/boot/grub/grub.cfg")?)?;
    assert!(cfg.contains(" inst.stage2=hd:LABEL=POLYBOOT_DRACUT inst.ks=file:/ks.cfg\n"), "{cfg}");

    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let mut vm = Vm::start(
        VmConfig::new("kickstart-check-bios", Firmware::Bios)
            .cdrom(&iso)
            .memory_mib(1024)
            .timeout(Duration::from_secs(360)),
    )?;
    vm.wait_for(fixtures::KICKSTART_CHECK_MARKER)?;
    let want = "POLYBOOT-KS-CHECK inst.ks=file:/ks.cfg found=yes first=# POLYBOOT-KS-baseline";
    let t = vm.wait_for(want)?;
    eprintln!("kickstart check after {t:?}: {want}");
    // The live system boots on as usual (the medium found by its label).
    vm.wait_for("POLYBOOT-DRACUT-MARKER medium=/run/initramfs/live")?;
    Ok(())
}
