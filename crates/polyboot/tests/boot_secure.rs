//! Secure Boot, end to end (issue 15): drives signed by `polyboot install`, booted in OVMF's
//! Secure Boot build (q35 + SMM, secure pflash, TCG) with Debian's snakeoil keys or with
//! Microsoft's keys enrolled; the signatures checked by `sbverify` on the host first.

mod common;
use common::Cli;
use polyboot_tests::{artifacts, run_tool, Disk, Firmware, Vm, VmConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MENU_READY: &str = "polyboot: menu ready";
/// Where partition 2 of a 256 MiB GPT drive made by `install` starts (LBA 456704).
const BOOT_PART_LBA: u64 = 456_704;
const BOOT_PART_SECTORS: u64 = 65_536;

fn install(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let image = dir.join(name);
    Cli::booting()
        .signed(&dir.join("config"))
        .args(["install", image.to_str().unwrap(), "--size", "256M", "--yes"])
        .args(args)
        .env("POLYBOOT_SB_KEY_PASS", "snakeoil")
        .ok();
    image
}

/// Partition 2 of `image` as a file of its own, for mtools.
fn boot_partition(image: &Path) -> PathBuf {
    let out = image.with_extension("p2");
    run_tool(
        Command::new("dd")
            .arg(format!("if={}", image.display()))
            .arg(format!("of={}", out.display()))
            .args([
                "bs=512",
                &format!("skip={BOOT_PART_LBA}"),
                &format!("count={BOOT_PART_SECTORS}"),
            ])
            .arg("status=none"),
    )
    .unwrap();
    out
}

fn read_file(part: &Path, path: &str) -> Vec<u8> {
    let out = Command::new("mtype").arg("-i").arg(part).arg(format!("::{path}")).output().unwrap();
    assert!(out.status.success(), "mtype {path}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `sbverify --cert CERT` on `efi` (bytes): whether the signature verifies.
fn sbverify(efi: &[u8], cert_pem: &Path, dir: &Path) -> bool {
    let f = dir.join("verify.efi");
    std::fs::write(&f, efi).unwrap();
    Command::new("sbverify").arg("--cert").arg(cert_pem).arg(&f).status().unwrap().success()
}

fn der_to_pem(der: &[u8], dir: &Path) -> PathBuf {
    let (d, p) = (dir.join("cert.der"), dir.join("cert.pem"));
    std::fs::write(&d, der).unwrap();
    run_tool(
        Command::new("openssl").args(["x509", "-inform", "DER", "-in"]).arg(&d).arg("-out").arg(&p),
    )
    .unwrap();
    p
}

fn boot(name: &str, image: &Path, vars: &str, secs: u64) -> Vm {
    Vm::start(
        VmConfig::new(name, Firmware::Uefi)
            .secure_boot(vars)
            .memory_mib(1024)
            .disk(Disk::new(image).usb())
            .timeout(Duration::from_secs(secs)),
    )
    .unwrap()
}

/// Signed with Debian's snakeoil key (in OVMF's snakeoil db), no shim: the firmware starts
/// polyboot straight away. The same drive unsigned (the layout of `--no-secure-boot`) is
/// refused by the firmware.
#[test]
fn snakeoil_signed_polyboot_boots_and_unsigned_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let signed = install(
        tmp.path(),
        "signed.img",
        &["--sb-key", artifacts::SNAKEOIL_KEY, "--sb-cert", artifacts::SNAKEOIL_CERT, "--no-shim"],
    );
    let part = boot_partition(&signed);
    let bootx64 = read_file(&part, "/EFI/BOOT/BOOTX64.EFI");
    assert!(sbverify(&bootx64, Path::new(artifacts::SNAKEOIL_CERT), tmp.path()));
    let info = Cli::new().args(["info", signed.to_str().unwrap(), "--json"]).ok();
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["secure_boot"]["chain"], "polyboot", "{info}");
    let mut vm = boot("secure-snakeoil-signed", &signed, artifacts::OVMF_VARS_SNAKEOIL, 240);
    vm.wait_for(MENU_READY).unwrap();
    drop(vm);

    let unsigned = install(tmp.path(), "unsigned.img", &["--no-secure-boot"]);
    let mut vm = boot("secure-snakeoil-unsigned", &unsigned, artifacts::OVMF_VARS_SNAKEOIL, 120);
    let (which, _) = vm
        .wait_for_any(&["Access Denied", "Security Violation", MENU_READY])
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_ne!(which, 2, "the firmware started an unsigned polyboot with Secure Boot on");
}

/// The default chain under Microsoft's keys: the host side (shim is Debian's signed shim,
/// MokManager beside it, no fallback, polyboot signed with the user's key as grubx64.efi,
/// the certificate as ENROLL-THIS-KEY.cer, `info`), then the boot: shim cannot verify the
/// user's key and starts MokManager.
#[test]
fn default_install_is_shim_then_mok_manager() {
    let tmp = tempfile::tempdir().unwrap();
    let image = install(tmp.path(), "default.img", &[]);
    let part = boot_partition(&image);
    assert!(
        read_file(&part, "/EFI/BOOT/BOOTX64.EFI")
            == std::fs::read("/usr/lib/shim/shimx64.efi.signed").unwrap(),
        "BOOTX64.EFI is not Debian's signed shim"
    );
    assert!(
        read_file(&part, "/EFI/BOOT/mmx64.efi")
            == std::fs::read("/usr/lib/shim/mmx64.efi.signed").unwrap(),
        "mmx64.efi is not Debian's signed MokManager"
    );
    let listing =
        run_tool(Command::new("mdir").args(["-b", "-i"]).arg(&part).arg("::/EFI/BOOT")).unwrap();
    assert!(!listing.to_ascii_lowercase().contains("fbx64"), "{listing}");
    let cert = der_to_pem(&read_file(&part, "/ENROLL-THIS-KEY.cer"), tmp.path());
    assert!(sbverify(&read_file(&part, "/EFI/BOOT/grubx64.efi"), &cert, tmp.path()));
    // The key: made for this user, in the config directory given, private.
    let key = tmp.path().join("config/polyboot/secure-boot/polyboot-sb.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let info = Cli::new().args(["info", image.to_str().unwrap()]).ok();
    assert!(info.contains("Secure Boot: shim (Microsoft-signed) → polyboot"), "{info}");
    assert!(info.contains("polyboot Secure Boot key of"), "{info}");

    let mut vm = boot("secure-ms-default", &image, artifacts::OVMF_VARS_MS, 240);
    vm.wait_for("Verification failed").unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_for_screen("Security Violation").unwrap_or_else(|e| panic!("{e:#}"));
    vm.send_key("ret").unwrap();
    vm.wait_for("Press any key to perform MOK management").unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!vm.serial_text().contains(MENU_READY));
}

/// The default (shim) drive on a PC with Secure Boot off, as many users have it: shim does
/// not verify and starts polyboot (grubx64.efi) without MokManager.
#[test]
fn default_drive_boots_with_secure_boot_off() {
    let tmp = tempfile::tempdir().unwrap();
    let image = install(tmp.path(), "default-off.img", &[]);
    let mut vm = Vm::start(
        VmConfig::new("secure-off-default", Firmware::Uefi)
            .memory_mib(1024)
            .disk(Disk::new(&image).usb())
            .timeout(Duration::from_secs(240)),
    )
    .unwrap();
    vm.wait_for(MENU_READY).unwrap_or_else(|e| panic!("{e:#}"));
    let console = vm.serial_text();
    assert!(!console.contains("Press any key to perform MOK management"), "{console}");
}

/// Write `data` as `path` into partition 2 of `image` (mtools on a copy, then back).
fn put_file(image: &Path, path: &str, data: &[u8]) {
    let part = boot_partition(image);
    let f = image.with_extension("put");
    std::fs::write(&f, data).unwrap();
    run_tool(Command::new("mcopy").args(["-o", "-i"]).arg(&part).arg(&f).arg(format!("::{path}")))
        .unwrap();
    run_tool(
        Command::new("dd")
            .arg(format!("if={}", part.display()))
            .arg(format!("of={}", image.display()))
            .args(["bs=512", &format!("seek={BOOT_PART_LBA}"), "conv=notrunc", "status=none"]),
    )
    .unwrap();
}

const ENTER: &[u8] = b"\r";
const DOWN: &[u8] = b"\x1b[B";

/// One key on the serial console, then time for the firmware to act on it.
fn key(vm: &mut Vm, bytes: &[u8]) {
    vm.send_serial(bytes).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
}

/// Wait for `expect` on the serial console after byte `from`, log the screen's OCR (the
/// GOP screen MokManager draws), and return where the console has got to.
fn step(vm: &mut Vm, from: usize, name: &str, expect: &str) -> usize {
    vm.wait_for_after(expect, from).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    // Let the drawing finish before the screen is read and the next key is sent.
    std::thread::sleep(Duration::from_millis(1500));
    match vm.screen_text(&format!("step-{}", name.replace([' ', '\'', '?'], "-"))) {
        Ok(text) => eprintln!("--- {name} (screen) ---\n{}", text.trim()),
        Err(e) => eprintln!("--- {name}: no OCR: {e:#}"),
    }
    vm.serial_len()
}

/// Microsoft's keys: the default drive goes shim → (error box) → MokManager; the key is
/// enrolled from the drive by keystrokes ("Enroll key from disk" → the volume →
/// ENROLL-THIS-KEY.cer → Continue → Yes → Reboot; no password is asked when enrolling from
/// disk), then polyboot's menu appears. With that enrolled NVRAM, the same drive with one
/// byte of polyboot altered after signing is refused by shim.
#[test]
fn mok_enrollment_by_keystrokes_then_menu_and_altered_loader_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let image = install(tmp.path(), "mok.img", &[]);
    let mut vm = boot("secure-ms-enroll", &image, artifacts::OVMF_VARS_MS, 600);
    // shim: "Verification failed: (0x1A) Security Violation" in an alert box with OK.
    // MokManager draws boxes on the GOP screen, mirrored by OVMF on the serial console: each
    // step waits for its text on the serial console (dependable) and logs the screen's OCR.
    // Keys go in on the serial console too (OVMF's terminal input, part of ConIn): a PS/2 key
    // held for QEMU's sendkey can repeat under TCG, and one Enter too many picks "Continue
    // boot".
    let mut from = step(&mut vm, 0, "shim's alert", "Verification failed");
    key(&mut vm, ENTER);
    // MokManager's 10-second countdown: any key (a letter: ignored by the menu after it).
    // The key goes in at once (no OCR first): the countdown is 10 seconds.
    vm.wait_for_after("Press any key to perform MOK management", from)
        .unwrap_or_else(|e| panic!("countdown: {e:#}"));
    key(&mut vm, b"a");
    from = step(&mut vm, from, "MokManager menu", "Enroll key from disk");
    key(&mut vm, DOWN);
    key(&mut vm, ENTER);
    // The volume list: the boot partition (label POLYBOOTEFI) is the only FAT volume.
    from = step(&mut vm, from, "volumes", "POLYBOOTEFI");
    key(&mut vm, ENTER);
    // The top directory: ENROLL-THIS-KEY.cer is written first, so it is the first entry.
    from = step(&mut vm, from, "files", "ENROLL-THIS-KEY.cer");
    key(&mut vm, ENTER);
    // [Enroll MOK]: "View key 0", "Continue".
    from = step(&mut vm, from, "enroll MOK", "Continue");
    key(&mut vm, DOWN);
    key(&mut vm, ENTER);
    // "Enroll the key(s)?": "No", "Yes".
    from = step(&mut vm, from, "enroll the keys?", "Enroll the key");
    key(&mut vm, DOWN);
    key(&mut vm, ENTER);
    // Back in the menu, whose first entry is now "Reboot".
    from = step(&mut vm, from, "after enrolling", "Reboot");
    key(&mut vm, ENTER);
    vm.wait_for_after(MENU_READY, from).unwrap_or_else(|e| panic!("{e:#}"));
    vm.kill();
    let enrolled = tmp.path().join("enrolled-vars.fd");
    std::fs::copy(vm.vars_file(), &enrolled).unwrap();
    drop(vm);

    // One byte of the signed polyboot altered: shim refuses it (and starts MokManager).
    let part = boot_partition(&image);
    let mut loader = read_file(&part, "/EFI/BOOT/grubx64.efi");
    let at = loader.len() / 2;
    loader[at] ^= 0x01;
    put_file(&image, "/EFI/BOOT/grubx64.efi", &loader);
    let mut vm = boot("secure-ms-altered", &image, enrolled.to_str().unwrap(), 240);
    step(&mut vm, 0, "altered", "Verification failed");
    assert!(!vm.serial_text().contains(MENU_READY));
}

/// `update` on a signed drive: the chain stays, the new boot manager is signed with the
/// drive's key (the user's key of the config directory), an interrupted update at a signed
/// file's step leaves a clean FAT and completes when run again, and a different key is
/// refused before anything is written.
#[test]
fn update_keeps_the_chain_and_resigns_with_the_drives_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let image = install(tmp.path(), "update.img", &[]);
    let path = image.to_str().unwrap();
    let info = |image: &str| -> serde_json::Value {
        serde_json::from_str(&Cli::new().args(["info", image, "--json"]).ok()).unwrap()
    };
    let before = info(path);
    assert_eq!(before["secure_boot"]["chain"], "shim");
    assert_eq!(before["layout_version"], 2);

    // A "new build": Debian's iPXE stands in for another boot manager.
    let update = |extra: &[&str]| {
        Cli::booting()
            .signed(&config)
            .args(["update", path, "--efi", artifacts::IPXE_EFI])
            .args(extra)
    };
    update(&[]).failpoint("loader-switched").fails();
    let part = boot_partition(&image);
    run_tool(Command::new("fsck.fat").arg("-n").arg(&part)).unwrap();
    let out = update(&[]).ok();
    assert!(out.contains("replace \\EFI\\BOOT\\grubx64.efi") || out.contains("replaced"), "{out}");
    let after = info(path);
    assert_eq!(after["secure_boot"]["chain"], "shim");
    assert_eq!(after["secure_boot"]["cert"], before["secure_boot"]["cert"]);
    let part = boot_partition(&image);
    run_tool(Command::new("fsck.fat").arg("-n").arg(&part)).unwrap();
    let cert = der_to_pem(&read_file(&part, "/ENROLL-THIS-KEY.cer"), tmp.path());
    let loader = read_file(&part, "/EFI/BOOT/grubx64.efi");
    assert!(sbverify(&loader, &cert, tmp.path()));
    let ipxe = std::fs::read(artifacts::IPXE_EFI).unwrap();
    assert!(loader.len() > ipxe.len() && loader[..0x40] == ipxe[..0x40], "not iPXE, signed");
    assert!(
        read_file(&part, "/EFI/BOOT/BOOTX64.EFI")
            == std::fs::read("/usr/lib/shim/shimx64.efi.signed").unwrap()
    );
    assert!(update(&[]).ok().contains("already up to date"));

    // Another user's key: refused, nothing written.
    let bytes = std::fs::read(&image).unwrap();
    let err = Cli::booting()
        .signed(&tmp.path().join("other-config"))
        .args(["update", path, "--efi", artifacts::IPXE_EFI])
        .fails();
    assert!(err.contains("update needs that key"), "{err}");
    let err = Cli::booting()
        .signed(&config)
        .args(["update", path, "--sb-key", artifacts::SNAKEOIL_KEY])
        .args(["--sb-cert", artifacts::SNAKEOIL_CERT])
        .env("POLYBOOT_SB_KEY_PASS", "snakeoil")
        .fails();
    assert!(err.contains("not with the key given"), "{err}");
    assert!(std::fs::read(&image).unwrap() == bytes, "a refused update wrote");
}
