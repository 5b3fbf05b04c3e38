//! Secure Boot, image verification (issue 15, "verification of every image, never bypass"):
//! OVMF's Secure Boot build with Debian's snakeoil keys enrolled (PK/KEK/db), a drive whose
//! `BOOTX64.EFI` is polyboot signed with the snakeoil key (`polyboot install --no-shim
//! --sb-key --sb-cert`). An unsigned image (Debian's `ipxe.iso`, whose El
//! Torito EFI loader is unsigned) is refused with the reason on the console and the menu comes
//! back and still works; `ipxe.efi` signed with a key not in db is refused naming its signer;
//! `ipxe.efi` signed with the snakeoil key boots.
//!
//! And the shim chain: OVMF with Microsoft's keys and a MOK enrolled beforehand (written into a
//! copy of the variable store, as MokManager would after "Enroll key from disk"), a drive from
//! `polyboot install --sb-key/--sb-cert` (Debian's Microsoft-signed shim 16, then polyboot
//! signed with the MOK key): a distribution-shaped ISO (Debian's shim, then a second stage)
//! starts, and its second stage sees only its own shim's SHIM_LOCK (polyboot sets its shim's
//! aside while the ISO's loader runs, and puts it back); shim's `LoadImage` hook refuses the
//! unsigned ISO's loader and starts iPXE signed with the MOK key — images verified by MOK load
//! through plain LoadImage.

mod common;
use common::{back_to_menu, choose, Cli};
use polyboot_tests::{artifacts, find_tool, fixtures, secure_boot, Disk, Firmware, Vm, VmConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MENU_READY: &str = "polyboot: menu ready:";
const PRESS_ANY_KEY: &str = "press any key to return to the menu";

/// The console with the firmware's line wrapping (CR LF at the screen's width) undone.
fn unwrapped(text: &str) -> String {
    text.replace(['\r', '\n'], "")
}

#[test]
fn unsigned_and_untrusted_images_are_refused_with_the_reason_and_a_signed_one_boots() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = fixtures::snakeoil_key(dir.path()).unwrap();
    let signed_ipxe = dir.path().join("ipxe-signed.efi");
    fixtures::sbsign(&key, &cert, Path::new(artifacts::IPXE_EFI), &signed_ipxe).unwrap();
    // iPXE signed with a key of its own, which this machine's db does not hold.
    let other = secure_boot::new_mok(dir.path(), "polyboot test key not in db").unwrap();
    let untrusted = dir.path().join("untrusted.efi");
    fixtures::sbsign(&other.key, &other.cert, Path::new(artifacts::IPXE_EFI), &untrusted).unwrap();

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
            .timeout(Duration::from_secs(600)),
    )
    .unwrap();
    // The firmware started the signed boot manager: Secure Boot let it through.
    vm.wait_for(MENU_READY).unwrap();
    vm.wait_for("----------").unwrap();
    let console = vm.serial_text();
    assert!(
        console.contains("polyboot: Secure Boot is on; no shim: the firmware's db and dbx decide"),
        "{console}"
    );

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

/// An ISO whose El Torito EFI image holds Debian's signed shim as `\EFI\BOOT\BOOTX64.EFI`
/// and `second_stage` as `grubx64.efi` (mkfs.fat + mtools + xorriso).
fn nested_shim_iso(dir: &Path, second_stage: &Path) -> PathBuf {
    let tree = dir.join("nested");
    std::fs::create_dir_all(&tree).unwrap();
    let esp = tree.join("esp.img");
    let esp_str = esp.to_str().unwrap();
    let iso = dir.join("nested.iso");
    let steps: Vec<Vec<String>> = vec![
        vec!["mkfs.fat".into(), "-C".into(), esp_str.into(), "8192".into()],
        vec!["mmd".into(), "-i".into(), esp_str.into(), "::/EFI".into(), "::/EFI/BOOT".into()],
        vec![
            "mcopy".into(),
            "-i".into(),
            esp_str.into(),
            "/usr/lib/shim/shimx64.efi.signed".into(),
            "::/EFI/BOOT/BOOTX64.EFI".into(),
        ],
        vec![
            "mcopy".into(),
            "-i".into(),
            esp_str.into(),
            second_stage.to_str().unwrap().into(),
            "::/EFI/BOOT/grubx64.efi".into(),
        ],
        vec![
            "xorriso".into(),
            "-as".into(),
            "mkisofs".into(),
            "-quiet".into(),
            "-V".into(),
            "NESTED".into(),
            "-e".into(),
            "esp.img".into(),
            "-no-emul-boot".into(),
            "-o".into(),
            iso.to_str().unwrap().into(),
            tree.to_str().unwrap().into(),
        ],
    ];
    for step in steps {
        let out = Command::new(find_tool(&step[0])).args(&step[1..]).output().unwrap();
        assert!(out.status.success(), "{step:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    iso
}

#[test]
fn under_shim_an_unsigned_iso_is_refused_and_an_image_signed_with_a_mok_boots() {
    let dir = tempfile::tempdir().unwrap();
    let mok = secure_boot::new_mok(dir.path(), "polyboot test MOK").unwrap();
    let (key, cert) = (&mok.key, &mok.cert);
    let vars = dir.path().join("OVMF_VARS_MS_MOK.fd");
    secure_boot::ovmf_vars_with_mok(artifacts::OVMF_VARS_MS, &mok.der, &vars).unwrap();
    let mok_ipxe = dir.path().join("ipxe-mok.efi");
    fixtures::sbsign(key, cert, Path::new(artifacts::IPXE_EFI), &mok_ipxe).unwrap();
    // A distribution-shaped ISO: Debian's Microsoft-signed shim as its El Torito image's
    // BOOTX64.EFI, its second stage (grubx64.efi) polyboot signed with the MOK (it prints how
    // many SHIM_LOCK protocols it finds, then, on a CD that is no polyboot drive, returns).
    let inner = dir.path().join("inner.efi");
    fixtures::sbsign(key, cert, &artifacts::efi_app().unwrap(), &inner).unwrap();
    let nested = nested_shim_iso(dir.path(), &inner);

    let drive: PathBuf = dir.path().join("drive.img");
    let d = drive.to_str().unwrap();
    Cli::booting()
        .args(["install", d, "--size", "256M", "--yes", "--secure-boot", "shim", "--sb-key"])
        .arg(key)
        .arg("--sb-cert")
        .arg(cert)
        .ok();
    let inner_app = dir.path().join("inner-app.efi");
    std::fs::copy(&inner, &inner_app).unwrap();
    Cli::new()
        .args(["add", "-q", d, artifacts::IPXE_ISO])
        .arg(&mok_ipxe)
        .arg(&nested)
        .arg(&inner_app)
        .ok();

    let mut vm = Vm::start(
        VmConfig::new("secure-boot-shim-mok", Firmware::Uefi)
            .secure_boot(&vars)
            .disk(Disk::new(&drive).usb())
            .timeout(Duration::from_secs(600)),
    )
    .unwrap();
    // shim (db: Microsoft) started polyboot (MOK).
    vm.wait_for(MENU_READY).unwrap();
    vm.wait_for("----------").unwrap();
    let console = vm.serial_text();
    assert!(
        console
            .contains("polyboot: Secure Boot is on; started through shim (SHIM_LOCK is installed)"),
        "{console}"
    );

    // The ISO's shim, started by polyboot through shim's LoadImage, finds no other shim's
    // SHIM_LOCK (polyboot set its own shim's aside): its second stage sees exactly one.
    let mark = vm.serial_len();
    choose(&mut vm, "nested");
    vm.wait_for_after("polyboot: loaded from VenHw(", mark).unwrap();
    vm.wait_for_after("polyboot cannot show its menu", mark).unwrap();
    vm.send_serial(b" ").unwrap();
    vm.wait_for_after("polyboot: /nested.iso returned", mark).unwrap();
    let text = vm.serial_text();
    let inner_start = text.rfind("polyboot: loaded from VenHw(").unwrap();
    let inner_log = &text[inner_start..];
    assert!(
        inner_log
            .contains("polyboot: Secure Boot is on; started through shim (SHIM_LOCK is installed)"),
        "the ISO's second stage does not see exactly its own shim: {inner_log}"
    );
    back_to_menu(&mut vm);

    // An image that is no shim keeps polyboot's shim's SHIM_LOCK while it runs (a MOK-signed
    // GRUB verifies kernels with it): the same second stage, started as an .efi, sees it.
    let mark = vm.serial_len();
    choose(&mut vm, "inner-app");
    vm.wait_for_after("polyboot: starting /inner-app.efi", mark).unwrap();
    vm.wait_for_after("polyboot cannot show its menu", mark).unwrap();
    vm.send_serial(b" ").unwrap();
    vm.wait_for_after("polyboot: /inner-app.efi returned", mark).unwrap();
    let text = vm.serial_text();
    let app_log = &text[text.rfind("polyboot: starting /inner-app.efi").unwrap()..];
    assert!(
        app_log
            .contains("polyboot: Secure Boot is on; started through shim (SHIM_LOCK is installed)"),
        "an image that is no shim lost shim's protocol: {app_log}"
    );
    back_to_menu(&mut vm);

    // shim's SHIM_LOCK is back for polyboot: its verdict is part of the reason.
    let mark = vm.serial_len();
    choose(&mut vm, "ipxe.iso");
    vm.wait_for_after("polyboot: booting /ipxe.iso", mark).unwrap();
    vm.wait_for_after(PRESS_ANY_KEY, mark).unwrap();
    let console = unwrapped(&vm.serial_text());
    assert!(
        console.contains("cannot boot /ipxe.iso: its EFI boot loader \\EFI\\BOOT\\BOOTX64.EFI is not signed by a key this machine trusts (Secure Boot is on"),
        "no refusal reason on the console: {console}"
    );
    assert!(console.contains("shim (MOK) refuses it too"), "no shim verdict: {console}");
    assert!(!console.contains(artifacts::IPXE_MARKER), "the unsigned iPXE ran: {console}");
    back_to_menu(&mut vm);

    let mark = vm.serial_len();
    choose(&mut vm, "ipxe-mok");
    vm.wait_for_after("polyboot: starting /ipxe-mok.efi", mark).unwrap();
    let t = vm.wait_for_after(artifacts::IPXE_MARKER, mark).unwrap();
    eprintln!("MOK-signed iPXE booted through shim's LoadImage after {t:?}");
}
