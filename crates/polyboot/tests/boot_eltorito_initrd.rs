//! An ISO whose UEFI boot is systemd-boot inside the El Torito EFI image, with the kernel and
//! initrd stored in that FAT image (as archiso does), booted from a polyboot drive under
//! OVMF: the boot manager serves the initrd wrapped through the firmware's file protocol,
//! polyboot-hook maps the ISO file as `/dev/mapper/polyboot`, and the original `/init`
//! reports it.
//!
//! Built here with independent tools: `mkfs.fat` + mtools for the FAT image, xorriso for the
//! ISO; systemd-boot from Debian's `systemd-boot-efi`, the kernel from `linux-image-amd64`,
//! busybox from `busybox-static`.

mod common;
use common::polyboot;
use polyboot_tests::{artifacts, find_tool, fixtures, run_tool, Disk, Firmware, Vm, VmConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SYSTEMD_BOOT: &str = artifacts::SYSTEMD_BOOT_EFI;
const MARKER: &str = "ELTORITO-INIT";

/// The newest `/boot/vmlinuz-*` whose modules are installed, and its release.
fn kernel() -> (PathBuf, String) {
    fixtures::host_kernel()
        .expect("no /boot/vmlinuz-* with modules: install linux-image-amd64 (cargo xtask deps)")
}

/// The original initrd: busybox, an `/init` that reports whether polyboot's device-mapper
/// device exists (and that it holds the ISO), and the modules polyboot-hook loads to see a
/// USB stick (xhci-pci, usb-storage, uas, sd_mod) and to map it (dm-mod), with their
/// dependencies.
fn original_initrd(release: &str, work: &Path) -> Vec<u8> {
    let root = work.join("initrd-root");
    for d in ["bin", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    let init = format!(
        r#"#!/bin/sh
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
if [ -b /dev/mapper/polyboot ]; then mapped=yes; else mapped=no; fi
size=$(busybox blockdev --getsize64 /dev/mapper/polyboot 2>/dev/null)
magic=$(busybox dd if=/dev/mapper/polyboot bs=1 skip=32769 count=5 2>/dev/null)
echo "{MARKER} mapped=$mapped size=$size magic=$magic"
busybox sleep 1
busybox poweroff -f
"#
    );
    std::fs::write(root.join("init"), init).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();

    let sys = Path::new("/lib/modules").join(release);
    let dep = std::fs::read_to_string(sys.join("modules.dep")).unwrap();
    let wanted = ["dm-mod.ko", "xhci-pci.ko", "usb-storage.ko", "uas.ko", "sd_mod.ko"];
    let mdir = root.join("lib/modules").join(release);
    let mut out_dep = String::new();
    let mut listed: Vec<String> = Vec::new();
    let mut needed: Vec<String> = Vec::new();
    for line in dep.lines() {
        let Some((m, deps)) = line.split_once(':') else { continue };
        // Modules may be stored compressed (`.ko.xz`); match the base name.
        let base = m.rsplit('/').next().unwrap_or(m);
        if !wanted
            .iter()
            .any(|w| base == *w || base.strip_prefix(*w).is_some_and(|rest| rest.starts_with('.')))
        {
            continue;
        }
        let all: Vec<&str> = std::iter::once(m).chain(deps.split_whitespace()).collect();
        for p in &all {
            let dst = mdir.join(p);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(sys.join(p), dst).unwrap();
        }
        out_dep.push_str(line);
        out_dep.push('\n');
        listed.push(m.to_string());
        needed.extend(all[1..].iter().map(|s| s.to_string()));
    }
    assert!(listed.len() >= 4, "the kernel's modules.dep lacks what a USB stick needs: {listed:?}");
    needed.sort();
    needed.dedup();
    for d in needed.iter().filter(|d| !listed.contains(d)) {
        // Their own dependencies, from the system's list.
        let line =
            dep.lines().find(|l| l.split_once(':').is_some_and(|(m, _)| m == d)).unwrap_or("");
        let deps = line.split_once(':').map(|(_, x)| x.trim()).unwrap_or("");
        for p in deps.split_whitespace() {
            let dst = mdir.join(p);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(sys.join(p), dst).unwrap();
        }
        out_dep.push_str(&format!("{d}: {deps}\n"));
    }
    std::fs::write(mdir.join("modules.dep"), out_dep).unwrap();
    let cpio = fixtures::cpio_newc(&root);
    fixtures::pipe("gzip", &["-n", "-6"], &cpio)
}

/// The ISO: an El Torito EFI image (FAT) holding `loader` (systemd-boot) as the
/// removable-media loader, systemd-boot's configuration, the kernel and the initrd.
fn eltorito_iso(work: &Path, loader: &Path) -> PathBuf {
    assert!(
        Path::new(SYSTEMD_BOOT).is_file(),
        "{SYSTEMD_BOOT} is missing: install the Debian package systemd-boot-efi (cargo xtask deps)"
    );
    assert!(
        Path::new("/usr/bin/busybox").exists(),
        "no /usr/bin/busybox: install busybox-static (cargo xtask deps)"
    );
    let (vmlinuz, release) = kernel();
    let initrd = work.join("initrd.img");
    std::fs::write(&initrd, original_initrd(&release, work)).unwrap();
    let files = work.join("fat-files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("loader.conf"), "default test.conf\ntimeout 0\n").unwrap();
    std::fs::write(
        files.join("test.conf"),
        "title polyboot El Torito initrd test\nlinux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0 loglevel=6\n",
    )
    .unwrap();

    let needed =
        std::fs::metadata(&vmlinuz).unwrap().len() + std::fs::metadata(&initrd).unwrap().len();
    let kib = (needed / 1024 + 4096).div_ceil(1024) * 1024;
    let fat = work.join("iso-root/efiboot.img");
    std::fs::create_dir_all(fat.parent().unwrap()).unwrap();
    run_tool(
        Command::new(find_tool("mkfs.fat"))
            .args(["-C", "-n", "POLYTEST"])
            .arg(&fat)
            .arg(kib.to_string()),
    )
    .unwrap();
    let img = fat.to_str().unwrap();
    run_tool(Command::new(find_tool("mmd")).args([
        "-i",
        img,
        "::/EFI",
        "::/EFI/BOOT",
        "::/loader",
        "::/loader/entries",
    ]))
    .unwrap();
    let copy = |from: &Path, to: &str| {
        run_tool(Command::new(find_tool("mcopy")).args(["-i", img]).arg(from).arg(to)).unwrap();
    };
    copy(loader, "::/EFI/BOOT/BOOTX64.EFI");
    copy(&files.join("loader.conf"), "::/loader/loader.conf");
    copy(&files.join("test.conf"), "::/loader/entries/test.conf");
    copy(&vmlinuz, "::/vmlinuz");
    copy(&initrd, "::/initrd.img");
    std::fs::write(work.join("iso-root/README.TXT"), "polyboot El Torito initrd test\n").unwrap();

    let iso = work.join("eltorito-initrd.iso");
    polyboot_tests::xorriso(&[
        "-as",
        "mkisofs",
        "-quiet",
        "-V",
        "ELTORITO_TEST",
        "-R",
        "-J",
        "-e",
        "efiboot.img",
        "-no-emul-boot",
        "-o",
        iso.to_str().unwrap(),
        work.join("iso-root").to_str().unwrap(),
    ]);
    iso
}

/// A polyboot drive holding `iso` as `/live/eltorito-initrd.iso`, booted as a USB stick
/// under OVMF up to the menu.
fn boot_drive(work: &Path, iso: &Path, name: &str) -> Vm {
    let drive = work.join("drive.img");
    let drive_s = drive.to_str().unwrap();
    polyboot(&["install", drive_s, "--size", "256M"]);
    polyboot(&["add", "-q", drive_s, "--to", "/live", iso.to_str().unwrap()]);
    let mut vm = Vm::start(
        VmConfig::new(name, Firmware::Uefi)
            .disk(Disk::new(&drive).usb())
            .memory_mib(1024)
            .timeout(Duration::from_secs(480)),
    )
    .unwrap();
    vm.wait_for("polyboot: menu ready:").unwrap();
    vm.wait_for("----------").unwrap();
    vm
}

/// Choose the ISO in the menu (searching by name, unless the search is still there from the
/// last boot) and wait until its initrd is wrapped.
fn choose_iso(vm: &mut Vm, from: usize, search: bool) {
    if search {
        vm.send_serial(b"/eltorito-initrd").unwrap(); // "/" starts the search
        std::thread::sleep(Duration::from_millis(500));
    }
    vm.send_serial(b"\r").unwrap();
    vm.wait_for_after("polyboot: booting /live/eltorito-initrd.iso", from).unwrap();
    vm.wait_for_after("polyboot: linux: wrapped initrd /initrd.img in the El Torito image", from)
        .unwrap();
}

#[test]
fn initrd_inside_the_eltorito_image_is_served_wrapped_under_ovmf() {
    let work = tempfile::tempdir().unwrap();
    let iso = eltorito_iso(work.path(), Path::new(SYSTEMD_BOOT));
    let iso_size = std::fs::metadata(&iso).unwrap().len();
    let mut vm = boot_drive(work.path(), &iso, "eltorito-initrd-uefi");
    choose_iso(&mut vm, 0, true);
    let (which, t) = vm
        .wait_for_any(&[&format!("{MARKER} mapped="), "Kernel panic", "polyboot: back to the menu"])
        .unwrap();
    let console = vm.serial_text();
    for l in console.lines().filter(|l| l.contains("polyboot") && !l.contains('\x1b')) {
        eprintln!("  {l}");
    }
    assert_eq!(which, 0, "the guest did not reach the original init:\n{console}");
    // The whole marker line.
    let mut line = String::new();
    for _ in 0..50 {
        let text = vm.serial_text();
        if let Some(at) = text.find(&format!("{MARKER} mapped=")) {
            if let Some(end) = text[at..].find('\n') {
                line = text[at..at + end].trim_end().to_string();
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("booted to the original init in {t:?}: {line}");
    assert!(
        console.contains("polyboot: linux: serving /initrd.img wrapped"),
        "the loader did not read the wrapped initrd"
    );
    assert!(line.contains("mapped=yes"), "polyboot-hook did not map the ISO: {line}");
    assert!(
        line.contains(&format!("size={iso_size} ")),
        "the mapped device is not the ISO's size ({iso_size}): {line}"
    );
    assert!(line.ends_with("magic=CD001"), "the mapped device does not hold the ISO: {line}");
}

/// A loader in the El Torito image that returns (polyboot's own boot manager, which finds no
/// polyboot drive there): the boot manager puts the real file system back before it
/// disconnects the virtual device, comes back to its menu, and the same ISO boots again.
#[test]
fn the_real_file_system_is_restored_when_the_loader_returns() {
    let work = tempfile::tempdir().unwrap();
    let iso = eltorito_iso(work.path(), &artifacts::efi_app().unwrap());
    let mut vm = boot_drive(work.path(), &iso, "eltorito-initrd-return-uefi");
    for round in 0..2 {
        let from = vm.serial_len();
        choose_iso(&mut vm, from, round == 0);
        vm.wait_for_after("polyboot: starting \\EFI\\BOOT\\BOOTX64.EFI", from).unwrap();
        // The nested boot manager was read through the filter and gives up on its drive.
        vm.wait_for_after("polyboot: error:", from).unwrap();
        vm.wait_for_after("/live/eltorito-initrd.iso returned", from).unwrap();
        vm.wait_for_after("polyboot: back to the menu", from).unwrap();
        let text = vm.serial_text();
        let tail = &text[from.min(text.len())..];
        assert!(
            !tail.contains("cannot restore the El Torito file system"),
            "round {round}:\n{tail}"
        );
        vm.wait_for_after("----------", from).unwrap();
    }
}
