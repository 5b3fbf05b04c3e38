//! Linux live ISOs booted from a polyboot drive (issue 5's end-to-end tests): the boot
//! manager wraps the initrds the ISO's GRUB loads, polyboot-hook maps the ISO file as
//! `/dev/mapper/polyboot`, and the distribution's own init finds its medium there.
//!
//! The ISOs are the repository's fixtures (`tests/fixtures/live/`), built on first use and
//! cached outside the repository keyed by the build script's hash. Each guest prints a
//! marker line naming the device its live medium is mounted from.

mod common;
use common::{polyboot, Cli};
use polyboot_tests::{artifacts, fixtures, secure_boot, Disk, Firmware, Vm, VmConfig};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// One TCG guest at a time: these boots take a minute or more each on two cores.
static ONE_VM: Mutex<()> = Mutex::new(());

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// The whole line of the serial console that contains `needle` (waiting for its end).
fn line_with(vm: &Vm, needle: &str) -> String {
    for _ in 0..100 {
        let text = vm.serial_text();
        if let Some(at) = text.find(needle) {
            if let Some(end) = text[at..].find('\n') {
                return text[at..at + end].trim_end().to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no complete line with {needle:?}");
}

/// Install a drive, add the fixture ISO, boot it from the menu and return the marker line.
fn boot_live_iso(script: &str, marker: &str, name: &str) -> String {
    boot_live_iso_with(script, marker, name, Firmware::Uefi).0
}

/// Secure Boot on: OVMF's secboot build with the variable store `vars`, the drive installed
/// with `polyboot install --sb-key KEY --sb-cert CERT` (shim, then polyboot signed with it).
struct SecureBoot<'a> {
    vars: &'a Path,
    mok: &'a secure_boot::Mok,
}

/// The same under `firmware`: OVMF (the UEFI boot manager) or SeaBIOS (BIOS stage 1, which
/// serves the ISO as an INT 13h CD with the same wrapped initrds). Returns the marker line and
/// the whole serial console.
fn boot_live_iso_with(
    script: &str,
    marker: &str,
    name: &str,
    firmware: Firmware,
) -> (String, String) {
    boot_live_iso_on(script, marker, name, firmware, None)
}

fn boot_live_iso_on(
    script: &str,
    marker: &str,
    name: &str,
    firmware: Firmware,
    secure: Option<SecureBoot>,
) -> (String, String) {
    let iso = fixtures::live_iso(script).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = dir.path().join("drive.img");
    let drive_s = drive.to_str().unwrap();
    let mut install = Cli::booting().args(["install", drive_s, "--size", "1G", "--yes"]);
    if let Some(sb) = &secure {
        install = install
            .args(["--secure-boot", "shim", "--sb-key"])
            .arg(&sb.mok.key)
            .arg("--sb-cert")
            .arg(&sb.mok.cert);
    }
    install.ok();
    polyboot(&["add", "-q", drive_s, "--to", "/live", iso.to_str().unwrap()]);
    let file_name = iso.file_name().unwrap().to_str().unwrap();

    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let bios = firmware == Firmware::Bios;
    let mut config = VmConfig::new(name, firmware)
        .disk(Disk::new(Path::new(&drive)).usb())
        .memory_mib(1024)
        .timeout(Duration::from_secs(480));
    if let Some(sb) = secure.as_ref().filter(|_| firmware == Firmware::Uefi) {
        config = config.secure_boot(sb.vars);
    }
    let mut vm = Vm::start(config).unwrap();
    if bios {
        // The only image on the drive is selected: Enter boots it.
        vm.wait_for("polyboot-bios: menu ready: 1 images").unwrap();
        vm.wait_for(&format!("polyboot-bios: menu: > /live/{file_name}")).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        vm.send_serial(b"\r").unwrap();
        vm.wait_for("polyboot-bios: linux: wrapped initrd").unwrap();
        vm.wait_for(&format!(
            "polyboot-bios: booting /live/{file_name}: El Torito no-emulation, as CD drive"
        ))
        .unwrap();
    } else {
        vm.wait_for("polyboot: menu ready:").unwrap();
        vm.wait_for("----------").unwrap();
        vm.send_serial(b"/").unwrap(); // "/" starts the search
        vm.send_serial(file_name.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        vm.send_serial(b"\r").unwrap();
        vm.wait_for(&format!("polyboot: booting /live/{file_name}")).unwrap();
        vm.wait_for("polyboot: linux: wrapped initrd").unwrap();
    }
    let needle = format!("{marker} medium=");
    let (which, t) = vm.wait_for_any(&[&needle, INITRAMFS_TOOLS_SHELL, DRACUT_SHELL]).unwrap();
    if which != 0 {
        panic!(
            "{name}: the guest's initramfs gave up and started a shell; what it saw:\n{}",
            shell_diagnostics(&mut vm)
        );
    }
    let line = line_with(&vm, &format!("{marker} medium="));
    eprintln!("{name}: booted to the marker in {t:?}: {line}");
    let console = vm.serial_text();
    for l in console.lines().filter(|l| {
        (l.contains("polyboot:") || l.contains("polyboot-bios:")) && !l.contains('\x1b')
    }) {
        eprintln!("  {l}");
    }
    (line, console)
}

/// Emergency shell prompts: the medium was not found.
const INITRAMFS_TOOLS_SHELL: &str = "(initramfs) ";
const DRACUT_SHELL: &str = ":/#";

/// Ask the emergency shell what it sees (mounts, block devices, labels, the boot log).
fn shell_diagnostics(vm: &mut Vm) -> String {
    let mark = vm.serial_len();
    let script = "echo DIAG-BEGIN; cat /proc/mounts; ls -l /dev/mapper /dev/disk/by-label /dev/disk/by-uuid; \
        blkid; cat /proc/cmdline; tail -n 40 /boot.log; tail -n 80 /run/initramfs/rdsosreport.txt; echo DIAG-$((40+2))-END\r";
    std::thread::sleep(Duration::from_secs(2));
    let _ = vm.send_serial(script.as_bytes());
    // The shell computes the end marker, so its echo of the command line does not match.
    let _ = vm.wait_for_after("DIAG-42-END", mark);
    let text = vm.serial_text();
    text[mark.min(text.len())..].to_string()
}

/// The live medium is polyboot's device-mapper device, holding the ISO's file system.
fn assert_polyboot_medium(line: &str, medium: &str) {
    assert_eq!(field(line, "medium"), Some(medium), "{line}");
    assert_eq!(field(line, "dm"), Some("polyboot"), "the medium is not polyboot's device: {line}");
    let device = field(line, "device").unwrap_or_default();
    assert!(device.starts_with("/dev/dm-") || device == "/dev/mapper/polyboot", "{line}");
    assert_eq!(field(line, "fstype"), Some("iso9660"), "{line}");
}

#[test]
fn live_build_iso_finds_its_medium_on_the_polyboot_drive_under_ovmf() {
    let line =
        boot_live_iso("build-live-build.sh", "POLYBOOT-LIVE-MARKER", "live-build-from-drive-uefi");
    assert_polyboot_medium(&line, "/run/live/medium");
}

/// Issue 15: the same ISO, which carries Debian's Secure Boot chain (Microsoft-signed shim,
/// Debian-signed GRUB and kernel), from a drive made by `polyboot install --sb-key/--sb-cert`
/// on OVMF with Secure Boot on, Microsoft's keys and that key enrolled as MOK: shim starts
/// polyboot, polyboot starts the ISO's shim through `LoadImage` (verified, never bypassed), the
/// ISO's shim its GRUB, GRUB the kernel verified through shim; the unsigned initrd polyboot
/// wrapped is loaded as before and the hook maps the medium.
#[test]
fn live_build_iso_boots_through_polyboot_with_secure_boot_on() {
    // The fixture really carries the Microsoft-signed chain (what `check` predicts).
    let iso = fixtures::live_iso("build-live-build.sh").unwrap();
    let report = Cli::new().args(["check", "--json"]).arg(&iso).ok();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let report = report.as_array().map_or(&report, |a| &a[0]);
    let sb = &report["secure_boot"];
    assert_eq!(sb["verdict"], "boots", "{sb}");
    assert!(sb["signers"][0]["issuer"].as_str().unwrap().contains("Microsoft"), "{sb}");

    let dir = tempfile::tempdir().unwrap();
    let mok = secure_boot::new_mok(dir.path(), "polyboot live test MOK").unwrap();
    let vars = dir.path().join("OVMF_VARS_MS_MOK.fd");
    secure_boot::ovmf_vars_with_mok(artifacts::OVMF_VARS_MS, &mok.der, &vars).unwrap();
    let (line, console) = boot_live_iso_on(
        "build-live-build.sh",
        "POLYBOOT-LIVE-MARKER",
        "live-build-secure-boot",
        Firmware::Uefi,
        Some(SecureBoot { vars: &vars, mok: &mok }),
    );
    assert_polyboot_medium(&line, "/run/live/medium");
    assert!(
        console
            .contains("polyboot: Secure Boot is on; started through shim (SHIM_LOCK is installed)"),
        "polyboot did not start through shim with Secure Boot on"
    );
    // The kernel itself saw Secure Boot on (its EFI stub was verified by the ISO's shim).
    assert!(console.contains("Secure boot enabled"), "the kernel does not report Secure Boot on");
}

/// The same ISO from a signed drive (shim as `BOOTX64.EFI`, polyboot as `grubx64.efi`: what
/// `polyboot install` makes by default) under SeaBIOS: the BIOS boot code finds polyboot-hook
/// in `grubx64.efi`, since `BOOTX64.EFI` is shim.
#[test]
fn live_build_iso_from_a_signed_drive_under_seabios() {
    let dir = tempfile::tempdir().unwrap();
    let mok = secure_boot::new_mok(dir.path(), "polyboot live test MOK").unwrap();
    let (line, console) = boot_live_iso_on(
        "build-live-build.sh",
        "POLYBOOT-LIVE-MARKER",
        "live-build-signed-drive-bios",
        Firmware::Bios,
        Some(SecureBoot { vars: Path::new("unused under SeaBIOS"), mok: &mok }),
    );
    assert_polyboot_medium(&line, "/run/live/medium");
    assert!(
        console.contains("linux: polyboot-hook (")
            && console.contains("from \\EFI\\BOOT\\grubx64.efi"),
        "the hook was not read from grubx64.efi"
    );
}

#[test]
fn dracut_iso_finds_its_medium_on_the_polyboot_drive_under_ovmf() {
    let line = boot_live_iso("build-dracut.sh", "POLYBOOT-DRACUT-MARKER", "dracut-from-drive-uefi");
    assert_polyboot_medium(&line, "/run/initramfs/live");
}

/// Issue 6: the same live-build ISO from the same kind of drive under SeaBIOS. Stage 1 reads
/// polyboot-hook out of BOOTX64.EFI on the boot partition, wraps the initrd ISOLINUX loads
/// in the virtual disk the INT 13h CD emulation serves, and the hook maps the ISO in Linux.
#[test]
fn live_build_iso_finds_its_medium_on_the_polyboot_drive_under_seabios() {
    let line = boot_live_iso_with(
        "build-live-build.sh",
        "POLYBOOT-LIVE-MARKER",
        "live-build-from-drive-bios",
        Firmware::Bios,
    )
    .0;
    assert_polyboot_medium(&line, "/run/live/medium");
}

/// Issue 13: the dracut ISO (grub-mkrescue: GRUB's El Torito `eltorito.img` in BIOS mode) from
/// a USB stick under SeaBIOS; GRUB reads its modules, kernel and the wrapped initrd through
/// the INT 13h CD emulation, and dracut's dmsquash-live finds the medium the hook mapped.
#[test]
fn dracut_iso_finds_its_medium_on_the_polyboot_drive_under_seabios() {
    let line = boot_live_iso_with(
        "build-dracut.sh",
        "POLYBOOT-DRACUT-MARKER",
        "dracut-from-drive-bios",
        Firmware::Bios,
    )
    .0;
    assert_polyboot_medium(&line, "/run/initramfs/live");
}
