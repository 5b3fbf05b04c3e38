//! `polyboot vm` end to end: drives made by the CLI (`install` + `add` of Debian's ipxe.iso)
//! booted by `polyboot vm` itself under OVMF and SeaBIOS (TCG), the menu read back from the
//! serial console polyboot vm echoes; `--image` typed into the menu; a bare ISO; `--expect`'s
//! exit status. Needs the real boot manager and BIOS code (`cargo xtask build`; `cargo xtask
//! test` sets POLYBOOT_EFI / POLYBOOT_BIOS). One VM at a time; each run bounded by --timeout
//! and a watchdog; logs in target/vm-logs/<test>/.

mod common;

use common::Cli;
use polyboot_tests::{artifacts, workspace_root};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_VM_AT_A_TIME: Mutex<()> = Mutex::new(());

/// polyboot vm's own limit for every run here, and the watchdog's (which kills polyboot).
const VM_TIMEOUT: &str = "180";
const WATCHDOG: Duration = Duration::from_secs(240);

/// A 256 MiB drive image made by the CLI with ipxe.iso on it (BIOS boot code included).
fn drive(dir: &Path) -> PathBuf {
    let img = dir.join("drive.img");
    let d = img.to_str().unwrap();
    for args in
        [&["install", d, "--size", "256M", "--yes"][..], &["add", d, artifacts::IPXE_ISO][..]]
    {
        Cli::booting().args(args).ok();
    }
    img
}

struct Run {
    ok: bool,
    /// What polyboot vm echoed of the serial console.
    console: String,
    stderr: String,
    log_dir: PathBuf,
}

/// `polyboot vm ARGS --serial --timeout 180 --log-dir target/vm-logs/NAME`, one at a time.
fn vm(name: &str, args: &[&str]) -> Run {
    let _one = ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let log_dir = workspace_root().join("target/vm-logs").join(name);
    let _ = std::fs::remove_dir_all(&log_dir);
    std::fs::create_dir_all(&log_dir).unwrap();
    let (out, err) = (log_dir.join("polyboot-vm.stdout"), log_dir.join("polyboot-vm.stderr"));
    let mut child = Cli::booting()
        .arg("vm")
        .args(args)
        .args(["--serial", "--timeout", VM_TIMEOUT, "--log-dir", log_dir.to_str().unwrap()])
        .command()
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "polyboot vm {args:?} still running after {WATCHDOG:?} (logs in {})",
                log_dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    let run = Run { ok: status.success(), console: read(&out), stderr: read(&err), log_dir };
    eprintln!(
        "{name}: polyboot vm {args:?} -> {status} after {:.1} s\n{}",
        started.elapsed().as_secs_f64(),
        run.stderr
    );
    run
}

impl Run {
    fn expect_ok(self) -> Run {
        assert!(
            self.ok,
            "polyboot vm failed:\n{}\n--- console (logs in {}) ---\n{}",
            self.stderr,
            self.log_dir.display(),
            tail(&self.console)
        );
        self
    }
}

fn tail(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(3000)..].iter().collect()
}

#[test]
fn uefi_shows_the_menu_of_a_drive_made_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path());
    // The menu's bottom rule is drawn after the title and the rows.
    let run = vm("vm-uefi-menu", &[img.to_str().unwrap(), "--expect", "----------"]).expect_ok();
    let c = &run.console;
    assert!(c.contains("polyboot: menu ready: 1 images"), "{}", tail(c));
    assert!(c.contains("1 images on POLYBOOT"), "menu title:\n{}", tail(c));
    assert!(c.contains("/ipxe.iso"), "menu row:\n{}", tail(c));
    assert!(
        run.stderr.contains("as a USB stick, UEFI (OVMF)") && run.stderr.contains("snapshot"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("TCG") || run.stderr.contains("KVM"), "{}", run.stderr);
    assert!(run.stderr.contains("menu ready after"), "{}", run.stderr);
    assert!(std::fs::read_to_string(run.log_dir.join("serial.log"))
        .unwrap()
        .contains("polyboot: menu ready"));
}

#[test]
fn bios_shows_the_menu_of_a_drive_made_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path());
    let run = vm(
        "vm-bios-menu",
        &[img.to_str().unwrap(), "--bios", "--expect", "polyboot-bios: menu:   Firmware setup"],
    )
    .expect_ok();
    let c = &run.console;
    assert!(c.contains("polyboot-bios: menu ready: 1 images"), "{}", tail(c));
    assert!(
        c.contains("polyboot-bios: menu: > /ipxe.iso"),
        "the ISO is listed and selected:\n{}",
        tail(c)
    );
    assert!(run.stderr.contains("BIOS (SeaBIOS)"), "{}", run.stderr);
}

#[test]
fn uefi_boots_the_image_picked_with_dash_dash_image() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path());
    let run = vm(
        "vm-uefi-image",
        &[img.to_str().unwrap(), "--image", "ipxe.iso", "--expect", artifacts::IPXE_MARKER],
    )
    .expect_ok();
    assert!(run.stderr.contains("typed \"/ipxe.iso\" and Enter into the menu"), "{}", run.stderr);
    assert!(run.console.contains("polyboot: booting /ipxe.iso"), "{}", tail(&run.console));
    assert!(run.console.contains(artifacts::IPXE_MARKER));
}

#[test]
fn uefi_boots_a_bare_iso_as_a_cdrom() {
    let run =
        vm("vm-bare-iso", &[artifacts::IPXE_ISO, "--expect", artifacts::IPXE_MARKER]).expect_ok();
    assert!(run.stderr.contains("(ISO image) as a CD-ROM"), "{}", run.stderr);
    assert!(!run.console.contains("polyboot: menu ready"), "no polyboot menu in between");
}

#[test]
fn expect_that_never_comes_exits_1_at_the_timeout() {
    let _one = ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = Cli::booting()
        .args([
            "vm",
            artifacts::IPXE_ISO,
            "--serial",
            "--expect",
            "text no firmware prints",
            "--timeout",
            "3",
        ])
        .command()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not appear within 3 s"), "{stderr}");
}

/// No VM: what --dry-run plans for a drive, and the errors that come before any boot.
#[test]
fn dry_run_and_early_errors() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path());
    let d = img.to_str().unwrap();
    let out =
        Cli::booting().args(["vm", d, "--image", "ipxe", "--bios", "--dry-run", "--json"]).ok();
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["target_kind"], "polyboot drive");
    assert_eq!(plan["firmware"], "bios");
    assert_eq!(plan["snapshot"], true);
    assert_eq!(plan["preselect"]["image"], "/ipxe.iso");
    let qemu: Vec<&str> =
        plan["qemu"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(qemu[0], "qemu-system-x86_64");
    assert!(qemu.contains(&"-snapshot"));
    assert!(qemu.iter().any(|a| a.starts_with("usb-storage,bus=xhci.0")), "{qemu:?}");

    let (ok, _, err) = common::run(&["vm", d, "--image", "nothere.iso", "--dry-run"]);
    assert!(
        !ok && err.contains("no such image in the drive's menu (it lists: /ipxe.iso)"),
        "{err}"
    );
    let (ok, _, err) = common::run(&["vm", artifacts::IPXE_ISO, "--image", "x", "--dry-run"]);
    assert!(!ok && err.contains("not a polyboot drive"), "{err}");
    let (ok, _, err) = common::run(&["vm", "/nonexistent.img", "--dry-run"]);
    assert!(!ok && err.contains("/nonexistent.img"), "{err}");
}

/// `--secure-boot --sb-vars snakeoil`: OVMF's Secure Boot build starts a drive signed with the
/// snakeoil key (install --no-shim --sb-key/--sb-cert) and polyboot refuses the unsigned
/// ipxe.iso picked with --image, saying why. No VM for --dry-run: the plan and its JSON.
#[test]
fn secure_boot_starts_a_signed_drive_and_the_menu_refuses_an_unsigned_image() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = polyboot_tests::fixtures::snakeoil_key(dir.path()).unwrap();
    let img = dir.path().join("drive.img");
    let d = img.to_str().unwrap();
    Cli::booting()
        .args(["install", d, "--size", "256M", "--yes", "--no-shim", "--sb-key"])
        .arg(&key)
        .arg("--sb-cert")
        .arg(&cert)
        .ok();
    Cli::booting().args(["add", d, artifacts::IPXE_ISO]).ok();

    let out = Cli::booting()
        .args(["vm", d, "--secure-boot", "--sb-vars", "snakeoil", "--dry-run", "--json"])
        .ok();
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["secure_boot"], serde_json::json!({"kind": "snakeoil"}), "{plan}");
    assert_eq!(plan["ovmf_vars"], "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd", "{plan}");
    let qemu = plan["qemu"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string());
    let qemu = qemu.collect::<Vec<_>>().join(" ");
    assert!(qemu.contains("-machine q35,smm=on"), "{qemu}");
    assert!(qemu.contains("-global driver=cfi.pflash01,property=secure,value=on"), "{qemu}");
    assert!(qemu.contains("file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"), "{qemu}");
    let text = Cli::booting().args(["vm", d, "--secure-boot", "--dry-run"]).ok();
    assert!(text.contains("with Secure Boot on (Microsoft's keys)"), "{text}");
    let (ok, _, err) = common::run(&["vm", d, "--secure-boot", "--bios", "--dry-run"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, _, err) = common::run(&["vm", d, "--sb-vars", "snakeoil", "--dry-run"]);
    assert!(!ok && err.contains("--secure-boot"), "{err}");

    let run = vm(
        "vm-secure-boot",
        &[
            d,
            "--secure-boot",
            "--sb-vars",
            "snakeoil",
            "--image",
            "ipxe.iso",
            "--expect",
            "not signed by a key this machine trusts",
        ],
    )
    .expect_ok();
    assert!(
        run.stderr.contains("UEFI (OVMF) with Secure Boot on (Debian's snakeoil keys)"),
        "{}",
        run.stderr
    );
    assert!(run.console.contains("polyboot: booting /ipxe.iso"), "{}", tail(&run.console));
    assert!(!run.console.contains(artifacts::IPXE_MARKER), "{}", tail(&run.console));
}
