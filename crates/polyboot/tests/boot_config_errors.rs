//! Broken configuration files in the boot managers (issue 17): a truncated ventoy.json and a
//! polyboot.json nested far too deep must not stop the menu. The boot managers name the file and the line / column and carry on with
//! the defaults; an image still boots from the menu. OVMF and SeaBIOS, markers on serial.

mod common;
use common::{choose, polyboot};
use polyboot_tests::{artifacts, Disk, Firmware, Vm, VmConfig};
use std::path::Path;
use std::time::Duration;

/// A drive with ipxe.iso and both configuration files broken.
fn broken_drive(dir: &Path) -> std::path::PathBuf {
    let image = dir.join("drive.img");
    let img = image.to_str().unwrap();
    polyboot(&["install", img, "--size", "256M"]);
    polyboot(&["add", "-q", img, "--to", "/", artifacts::IPXE_ISO]);
    // Cut in the middle of the control array: a syntax error on line 3.
    let ventoy = dir.join("ventoy.json");
    std::fs::write(&ventoy, "{\n  \"control\": [\n    { \"VTOY_MENU_TIMEOUT\": \"1").unwrap();
    // 100,000 levels of arrays in a 200 KB file: refused before serde_json sees it.
    let ours = dir.join("polyboot.json");
    std::fs::write(&ours, format!("{{\"menu\": {}", "[".repeat(100_000))).unwrap();
    polyboot(&["add", "-q", img, "--to", "/ventoy", ventoy.to_str().unwrap()]);
    polyboot(&["add", "-q", img, "--to", "/polyboot", ours.to_str().unwrap()]);
    image
}

fn vm(name: &str, firmware: Firmware, drive: &Path) -> Vm {
    Vm::start(
        VmConfig::new(name, firmware)
            .disk(Disk::new(drive).usb())
            .timeout(Duration::from_secs(180)),
    )
    .unwrap()
}

#[test]
fn ovmf_reports_broken_configuration_files_and_still_boots() {
    let dir = tempfile::tempdir().unwrap();
    let drive = broken_drive(dir.path());
    let mut vm = vm("config-errors-uefi", Firmware::Uefi, &drive);
    vm.wait_for("polyboot: config: /polyboot/polyboot.json: line 1, column 41: nested more than")
        .unwrap();
    vm.wait_for("polyboot: config: /ventoy/ventoy.json: line 3, column").unwrap();
    vm.wait_for("polyboot: menu ready: 1 images").unwrap();
    vm.wait_for("----------").unwrap();
    choose(&mut vm, "ipxe");
    vm.wait_for("polyboot: booting /ipxe.iso").unwrap();
    vm.wait_for(artifacts::IPXE_MARKER).unwrap();
}

#[test]
fn seabios_reports_broken_configuration_files_and_still_boots() {
    let dir = tempfile::tempdir().unwrap();
    let drive = broken_drive(dir.path());
    let mut vm = vm("config-errors-bios", Firmware::Bios, &drive);
    vm.wait_for(
        "polyboot-bios: config: /polyboot/polyboot.json: line 1, column 41: nested more than",
    )
    .unwrap();
    vm.wait_for("polyboot-bios: config: /ventoy/ventoy.json: line 3, column").unwrap();
    vm.wait_for("polyboot-bios: menu ready: 1 images").unwrap();
    vm.wait_for("polyboot-bios: menu: > /ipxe.iso").unwrap();
    // Escape typed on the serial console: alone (taken after a short pause), and followed at
    // once by another key (both count).
    let mark = vm.serial_len();
    vm.send_serial(b"/ipx").unwrap();
    vm.wait_for_after("polyboot-bios: menu: search: ipx_", mark).unwrap();
    let mark = vm.serial_len();
    vm.send_serial(b"\x1b").unwrap();
    vm.wait_for_after("polyboot-bios: menu: letters jump, / searches", mark).unwrap();
    // "/i", ESC, "/" in one burst (drawn once): the search typed "i" is ended by the ESC and
    // a new, empty one started by the "/" that came right behind it (lost, the menu would be
    // out of the search; taken as part of an escape sequence, "i" would still be there).
    let mark = vm.serial_len();
    vm.send_serial(b"/i\x1b/").unwrap();
    vm.wait_for_after("polyboot-bios: menu: search: _", mark).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let text = vm.serial_text();
    let last_header = text[mark.min(text.len())..]
        .lines()
        .rfind(|l| l.contains("menu: search:") || l.contains("menu: letters jump"))
        .unwrap_or_default()
        .to_string();
    assert!(last_header.contains("menu: search: _"), "{last_header}");
    std::thread::sleep(Duration::from_millis(300));
    vm.send_serial(b"\r").unwrap();
    vm.wait_for("polyboot-bios: booting /ipxe.iso").unwrap();
}
