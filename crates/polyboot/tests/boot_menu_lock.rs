//! The boot password (ventoy.json `password.bootpwd`, in polyboot's PBKDF2 form made by
//! `polyboot config password`) and the F2 details screen, under OVMF and SeaBIOS (issue 17):
//! nothing is listed until the password is typed, a wrong one is refused with the count of
//! tries, the right one opens the menu; F2 then shows ipxe.iso's size, fragments, boot method
//! per firmware, El Torito entries and init family; ventoy.json's theme picks the UEFI text
//! mode and the title's colour. Markers are what the guest printed.

mod common;
use common::polyboot;
use polyboot_tests::{artifacts, Disk, Firmware, Vm, VmConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "correct horse";

/// `polyboot config password` fed `password` on standard input.
fn pbkdf2_string(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyboot"))
        .args(["config", "password", "--iterations", "50000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(text.starts_with("pbkdf2-sha256#50000#"), "{text}");
    text
}

/// A drive with ipxe.iso and a ventoy.json whose boot password is [`PASSWORD`].
fn locked_drive(dir: &Path) -> PathBuf {
    let image = dir.join("drive.img");
    let img = image.to_str().unwrap();
    polyboot(&["install", img, "--size", "256M"]);
    polyboot(&["add", "-q", img, "--to", "/", artifacts::IPXE_ISO]);
    let config = dir.join("ventoy.json");
    let json = serde_json::json!({
        "password": { "bootpwd": pbkdf2_string(PASSWORD) },
        "theme": { "gfxmode": "1024x768", "ventoy_color": "#00ff00" }
    });
    std::fs::write(&config, json.to_string()).unwrap();
    polyboot(&["add", "-q", img, "--to", "/ventoy", config.to_str().unwrap()]);
    image
}

fn unlock_then_details(firmware: Firmware, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let drive = locked_drive(dir.path());
    let mut vm = Vm::start(
        VmConfig::new(name, firmware)
            .disk(Disk::new(&drive).usb())
            .timeout(Duration::from_secs(180)),
    )
    .unwrap();
    let (prefix, row) = match firmware {
        Firmware::Uefi => ("polyboot: ", "/ipxe.iso"),
        Firmware::Bios => ("polyboot-bios: ", "polyboot-bios: menu: > /ipxe.iso"),
    };
    vm.wait_for(&format!("{prefix}menu ready: 1 images")).unwrap();
    // The theme: UEFI switches to the largest text mode that fits gfxmode and draws the title
    // in ventoy_color (#00ff00: green, OVMF's terminal writes ESC [32m); BIOS text mode is
    // 80x25, which the log says.
    match firmware {
        Firmware::Uefi => {
            vm.wait_for("polyboot: theme: 1024x768: text mode ").unwrap();
            vm.wait_for("\x1b[32m\x1b[40mpolyboot ").unwrap();
        }
        Firmware::Bios => {
            vm.wait_for("polyboot-bios: theme: gfxmode 1024x768 not used: BIOS text mode is 80x25")
                .unwrap();
        }
    }
    vm.wait_for("boot password: _").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // Locked: no row of the menu was drawn.
    let console = vm.serial_text();
    let locked = &console[console.find("menu ready").unwrap()..];
    assert!(!locked.contains("ipxe.iso"), "the locked menu lists images:\n{locked}");

    let mark = vm.serial_len();
    vm.send_serial(b"horse\r").unwrap();
    vm.wait_for_after("wrong password (1 of 3 tries)", mark).unwrap();
    let mark = vm.serial_len();
    vm.send_serial(format!("{PASSWORD}\r").as_bytes()).unwrap();
    vm.wait_for_after(row, mark).unwrap();
    // The password itself never reaches the console.
    assert!(!vm.serial_text().contains(PASSWORD));

    std::thread::sleep(Duration::from_millis(500));
    let mark = vm.serial_len();
    vm.send_key("f2").unwrap();
    for line in [
        "kind ISO, 2.0 MiB",
        "1 fragment on the data partition",
        "UEFI: El Torito EFI boot image, the ISO served as a CD",
        "BIOS: El Torito no-emulation, served as a CD drive",
        "El Torito entry 0: Bios, NoEmulation",
        "Linux init: none needed (no Linux initrd)",
    ] {
        vm.wait_for_after(&format!("{prefix}{line}"), mark).unwrap();
    }
}

#[test]
fn ovmf_boot_password_then_details() {
    unlock_then_details(Firmware::Uefi, "menu-lock-uefi");
}

#[test]
fn seabios_boot_password_then_details() {
    unlock_then_details(Firmware::Bios, "menu-lock-bios");
}
