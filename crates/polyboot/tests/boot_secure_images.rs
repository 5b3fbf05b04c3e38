//! Secure Boot, image verification (issue 15, "verification of every image, never bypass"):
//! OVMF's Secure Boot build with Debian's snakeoil keys enrolled (PK/KEK/db), a drive whose
//! `BOOTX64.EFI` is polyboot signed with the snakeoil key (`polyboot install --no-shim
//! --sb-key --sb-cert`). An unsigned image (Debian's `ipxe.iso`, whose El
//! Torito EFI loader is unsigned) is refused with the reason on the console and the menu comes
//! back and still works; `ipxe.efi` signed with a key not in db is refused naming its signer;
//! `ipxe.efi` signed with the snakeoil key boots.

mod common;
use common::Cli;
use polyboot_tests::{artifacts, fixtures, Disk, Firmware, Vm, VmConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MENU_READY: &str = "polyboot: menu ready:";
const BACK_TO_MENU: &str = "polyboot: back to the menu";
const PRESS_ANY_KEY: &str = "press any key to return to the menu";

/// The console with the firmware's line wrapping (CR LF at the screen's width) undone.
fn unwrapped(text: &str) -> String {
    text.replace(['\r', '\n'], "")
}

/// After a refusal: dismiss the message, wait for the menu to be drawn again, clear the search.
fn back_to_menu(vm: &mut Vm) {
    let mark = vm.serial_len();
    vm.send_serial(b" ").unwrap();
    vm.wait_for_after(BACK_TO_MENU, mark).unwrap();
    vm.wait_for_after("----------", mark).unwrap();
    vm.send_key("esc").unwrap();
    std::thread::sleep(Duration::from_millis(500));
}

/// Type a search on the serial console and press Enter.
fn choose(vm: &mut Vm, search: &str) {
    vm.send_serial(search.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    vm.send_serial(b"\r").unwrap();
}

#[test]
fn unsigned_and_untrusted_images_are_refused_with_the_reason_and_a_signed_one_boots() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = fixtures::snakeoil_key(dir.path()).unwrap();
    let signed_ipxe = dir.path().join("ipxe-signed.efi");
    fixtures::sbsign(&key, &cert, Path::new(artifacts::IPXE_EFI), &signed_ipxe).unwrap();
    // iPXE signed with a key of its own, which this machine's db does not hold.
    let (other_key, other_cert) = (dir.path().join("other.key"), dir.path().join("other.pem"));
    let made = Command::new("openssl")
        .args(["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=polyboot test key not in db", "-keyout"])
        .arg(&other_key)
        .arg("-out")
        .arg(&other_cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
    let untrusted = dir.path().join("untrusted.efi");
    fixtures::sbsign(&other_key, &other_cert, Path::new(artifacts::IPXE_EFI), &untrusted).unwrap();

    let drive: PathBuf = dir.path().join("drive.img");
    let d = drive.to_str().unwrap();
    Cli::booting()
        .args(["install", d, "--size", "256M", "--yes", "--no-shim", "--sb-key"])
        .arg(&key)
        .arg("--sb-cert")
        .arg(&cert)
        .ok();
    Cli::new().args(["add", "-q", d, artifacts::IPXE_ISO]).arg(&signed_ipxe).arg(&untrusted).ok();

    let mut vm = Vm::start(
        VmConfig::new("secure-boot-images", Firmware::Uefi)
            .secure_boot(artifacts::OVMF_VARS_SNAKEOIL)
            .disk(Disk::new(&drive).usb())
            .timeout(Duration::from_secs(300)),
    )
    .unwrap();
    // The firmware started the signed boot manager: Secure Boot let it through.
    vm.wait_for(MENU_READY).unwrap();
    vm.wait_for("----------").unwrap();

    // The unsigned ISO: refused, with the reason, and the menu comes back.
    let mark = vm.serial_len();
    choose(&mut vm, "ipxe.iso");
    vm.wait_for_after("polyboot: booting /ipxe.iso", mark).unwrap();
    vm.wait_for_after(PRESS_ANY_KEY, mark).unwrap();
    let console = unwrapped(&vm.serial_text());
    assert!(
        console.contains("cannot boot /ipxe.iso: its EFI boot loader \\EFI\\BOOT\\BOOTX64.EFI is not signed by a key this machine trusts (Secure Boot is on"),
        "no refusal reason on the console: {console}"
    );
    assert!(!console.contains(artifacts::IPXE_MARKER), "the unsigned iPXE ran: {console}");
    back_to_menu(&mut vm);

    // An EFI application signed with a key the machine does not trust: refused, naming its
    // signer (core's authenticode reader), and the menu comes back.
    let mark = vm.serial_len();
    choose(&mut vm, "untrusted");
    vm.wait_for_after("polyboot: booting /untrusted.efi", mark).unwrap();
    vm.wait_for_after(PRESS_ANY_KEY, mark).unwrap();
    let console = unwrapped(&vm.serial_text());
    assert!(
        console.contains("cannot boot /untrusted.efi: it is not signed by a key this machine trusts (Secure Boot is on"),
        "no refusal reason on the console: {console}"
    );
    assert!(
        console.contains("; it is signed by CN=polyboot test key not in db"),
        "the signer is not named: {console}"
    );
    assert!(!console.contains(artifacts::IPXE_MARKER), "an untrusted iPXE ran: {console}");
    back_to_menu(&mut vm);

    // The menu still works: the signed EFI image boots.
    let mark = vm.serial_len();
    choose(&mut vm, "ipxe-signed");
    vm.wait_for_after("polyboot: starting /ipxe-signed.efi", mark).unwrap();
    let t = vm.wait_for_after(artifacts::IPXE_MARKER, mark).unwrap();
    eprintln!("signed iPXE booted under Secure Boot after {t:?}");
}
