//! Issue 18 in the VMs: Linux images beyond booting, from a drive made by `polyboot install`,
//! with markers the guests print on ttyS0.
//!
//! - Persistence: `polyboot persistence create --image` makes the backend; the first boot of
//!   the live fixture writes a probe file into its root overlay, the second boot from the same
//!   drive finds it; the overlay's upper directory lives on polyboot's `polyboot-persist`
//!   device. Afterwards `fsck.exfat` is clean on the data partition and `e2fsck -fn` on the
//!   backend (decrypted with core's LUKS2 code when encrypted).
//! - An encrypted backend: the hook asks for the passphrase on the console; the test types it.
//! - Auto-install: a Debian-installer ISO (Debian's netboot kernel + initrd) with a preseed
//!   template whose early_command prints a marker, picked up with no keystroke.
//! - conf_replace + injection + kickstart in one dracut boot: a replaced grub.cfg adds
//!   `inst.stage2=` (so polyboot takes the ISO for Anaconda) and a parameter of its own; the
//!   kickstart template lands at /ks.cfg with `inst.ks=file:/ks.cfg` added; an injected
//!   archive's dracut hook prints the injected file and checks /ks.cfg from inside the
//!   initramfs.
//! - Ubuntu's subiquity seed, in the live-build fixture (initramfs-tools, like casper): an
//!   isolinux configuration replaced by conf_replace (under SeaBIOS) makes it look like an
//!   Ubuntu Server entry (`boot=casper autoinstall`, then `boot=live` so that live-boot still
//!   boots it); polyboot adds `ds=nocloud;s=/run/polyboot-nocloud/` and the hook carries the
//!   user-data template and an empty meta-data into the initramfs' `/run`, which the init
//!   moves onto the live root: the booted system finds the seed where the parameter says.

mod common;
use common::Cli;
use polyboot::drive::Drive;
use polyboot_tests::fixtures::{self, marker_cmdline, marker_field};
use polyboot_tests::{find_tool, Disk, Firmware, Vm, VmConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// One TCG guest at a time: each boot takes a minute or more on two cores.
static ONE_VM: Mutex<()> = Mutex::new(());

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A drive image with `iso` under /live.
fn drive_with(dir: &Path, iso: &Path) -> PathBuf {
    let drive = dir.join("drive.img");
    Cli::booting().args(["install", s(&drive), "--size", "1G", "--yes"]).ok();
    Cli::new().args(["add", "-q", s(&drive), "--to", "/live"]).arg(iso).ok();
    drive
}

/// Put `bytes` on the drive as `to_dir/name`.
fn put(dir: &Path, drive: &Path, to_dir: &str, name: &str, bytes: &[u8]) {
    let tmp = dir.join("put");
    std::fs::create_dir_all(&tmp).unwrap();
    let file = tmp.join(name);
    std::fs::write(&file, bytes).unwrap();
    Cli::new().args(["add", "-q", s(drive), "--to", to_dir]).arg(&file).ok();
    std::fs::remove_file(file).unwrap();
}

/// The whole serial line containing `needle`, once complete.
fn line_with(vm: &Vm, needle: &str, from: usize) -> String {
    for _ in 0..100 {
        let text = vm.serial_text();
        let text = &text[from.min(text.len())..];
        if let Some(at) = text.find(needle) {
            if let Some(end) = text[at..].find('\n') {
                return text[at..at + end].trim_end().to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no complete line with {needle:?}");
}

/// One boot of the only image on `drive` (`iso_name` under /live) under `firmware`: picks it
/// in the menu, runs `during` (which may answer prompts) and returns the console.
fn boot(
    drive: &Path,
    iso_name: &str,
    firmware: Firmware,
    name: &str,
    during: impl FnOnce(&mut Vm),
) -> String {
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let config = VmConfig::new(name, firmware)
        .disk(Disk::new(drive).usb())
        .memory_mib(1024)
        .timeout(Duration::from_secs(600));
    let mut vm = Vm::start(config).unwrap();
    if firmware == Firmware::Bios {
        vm.wait_for("polyboot-bios: menu ready: 1 images").unwrap();
        vm.wait_for(&format!("polyboot-bios: menu: > /live/{iso_name}")).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        vm.send_serial(b"\r").unwrap();
    } else {
        vm.wait_for("polyboot: menu ready:").unwrap();
        vm.wait_for("----------").unwrap();
        vm.send_serial(b"/").unwrap();
        vm.send_serial(iso_name.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        vm.send_serial(b"\r").unwrap();
    }
    during(&mut vm);
    let console = vm.serial_text();
    eprintln!("{name}: polyboot's lines:");
    for l in console.lines().filter(|l| l.contains("polyboot") && !l.contains('\x1b')) {
        eprintln!("  {l}");
    }
    console
}

/// Wait for a live fixture's marker line, then power the guest off through the fixture
/// (which freezes the persistence file system first) and wait for QEMU to exit.
fn marker_then_poweroff(vm: &mut Vm, marker: &str) -> String {
    let from = vm.serial_len();
    vm.wait_for(&format!("{marker} medium=")).unwrap();
    let line = line_with(vm, &format!("{marker} medium="), from);
    eprintln!("marker: {line}");
    vm.send_serial(fixtures::POWEROFF_COMMAND).unwrap();
    vm.wait_for(fixtures::POWEROFF_MARKER).unwrap();
    vm.wait_exit().unwrap();
    line
}

/// `e2fsck -fn` on the backend's bytes (decrypted with `passphrase` when given).
fn e2fsck_backend(img: &Path, path: &str, passphrase: Option<&str>, out: &Path) {
    let mut drive = Drive::open(img, false).unwrap();
    let bytes = drive.data().unwrap().read_to_vec(path).unwrap();
    drop(drive);
    let plain = match passphrase {
        None => bytes,
        Some(p) => {
            // With core's LUKS2 code (checked against cryptsetup in luks2_oracle).
            use polyboot_core::luks2;
            let mut dev = polyboot_core::block::MemDevice::from_vec(bytes.clone());
            let h = luks2::read_header(&mut dev).unwrap();
            let key = luks2::unlock(&h, &mut dev, p.as_bytes(), &luks2::Limits::default()).unwrap();
            let at = h.segment.offset as usize;
            let len = h.segment.len_on(bytes.len() as u64).unwrap() as usize;
            let mut data = bytes[at..at + len].to_vec();
            luks2::decrypt_sectors(&key, &h.segment, 0, &mut data).unwrap();
            data
        }
    };
    std::fs::write(out, plain).unwrap();
    let r = Command::new(find_tool("e2fsck")).arg("-fn").arg(out).output().unwrap();
    let text = String::from_utf8_lossy(&r.stdout).to_string() + &String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "e2fsck -fn {path}:\n{text}");
}

/// Two boots of the live fixture `script` with a backend made by `persistence create`: the
/// probe written by the first is found by the second, on polyboot's persistence device.
fn persistence_across_two_boots(script: &str, marker: &str, firmware: Firmware, encrypt: bool) {
    let iso = fixtures::live_iso(script).unwrap();
    let iso_name = iso.file_name().unwrap().to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let drive = drive_with(dir.path(), &iso);
    const PASSPHRASE: &str = "correct horse battery";
    let mut create = Cli::new().args(["persistence", "create", s(&drive), "live", "--size"]);
    create = create.args(["128M", "--image", &format!("/live/{iso_name}"), "--yes"]);
    if encrypt {
        let pf = dir.path().join("passphrase");
        std::fs::write(&pf, PASSPHRASE).unwrap();
        // A cheap key derivation: the guest unlocks it under TCG in seconds.
        create = create.args(["--encrypt", "--kdf-memory", "8M", "--kdf-time", "200"]);
        create = create.arg("--passphrase-file").arg(&pf);
    }
    create.ok();
    let tag = if firmware == Firmware::Bios { "bios" } else { "uefi" };
    let mut lines = Vec::new();
    for n in 1..=2 {
        let name = format!(
            "persist-{}-{tag}-{n}{}",
            &script[6..script.len() - 3],
            if encrypt { "-luks" } else { "" }
        );
        let console = boot(&drive, &iso_name, firmware, &name, |vm| {
            if encrypt {
                vm.wait_for("polyboot: passphrase for persistence backend /persistence/live.dat: ")
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
                vm.send_serial(format!("{PASSPHRASE}\r").as_bytes()).unwrap();
            }
            lines.push(marker_then_poweroff(vm, marker));
        });
        // The hook's kmsg line for the backend (on the console: the kernel logs to ttyS0).
        let mapped = if encrypt {
            "decrypted as /dev/mapper/polyboot-persist"
        } else {
            "read-write as /dev/mapper/polyboot-persist"
        };
        assert!(
            console.lines().any(|l| l.contains("polyboot: ") && l.contains(mapped)),
            "{name}: the hook did not say the backend is {mapped}"
        );
        common::fsck_exfat_data(&drive);
        e2fsck_backend(
            &drive,
            "/persistence/live.dat",
            encrypt.then_some(PASSPHRASE),
            &dir.path().join("backend.img"),
        );
    }
    for (line, probe) in lines.iter().zip(["new", "found"]) {
        assert_eq!(marker_field(line, "probe"), Some(probe), "{line}");
        assert_eq!(marker_field(line, "persistdm"), Some("polyboot-persist"), "{line}");
    }
    assert_eq!(marker_field(&lines[1], "boots"), Some("2"), "{}", lines[1]);
}

#[test]
fn persistence_with_live_boot_survives_a_reboot_under_ovmf() {
    persistence_across_two_boots(
        "build-live-build.sh",
        "POLYBOOT-LIVE-MARKER",
        Firmware::Uefi,
        false,
    );
}

#[test]
fn persistence_with_dracut_survives_a_reboot_under_seabios() {
    persistence_across_two_boots(
        "build-dracut.sh",
        "POLYBOOT-DRACUT-MARKER",
        Firmware::Bios,
        false,
    );
}

#[test]
fn encrypted_persistence_asks_for_its_passphrase_under_seabios() {
    persistence_across_two_boots(
        "build-live-build.sh",
        "POLYBOOT-LIVE-MARKER",
        Firmware::Bios,
        true,
    );
}

/// The Debian installer picks up the preseed template (autosel 1) without a keystroke.
#[test]
fn debian_installer_runs_the_preseed_template_under_ovmf() {
    let iso = fixtures::debian_installer_iso().unwrap();
    let iso_name = iso.file_name().unwrap().to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let drive = drive_with(dir.path(), &iso);
    put(
        dir.path(),
        &drive,
        "/ventoy",
        "preseed.cfg",
        fixtures::preseed_with_marker("one").as_bytes(),
    );
    let json = format!(
        r#"{{"auto_install": [{{"image": "/live/{iso_name}", "template": "/ventoy/preseed.cfg", "autosel": 1}}]}}"#
    );
    put(dir.path(), &drive, "/ventoy", "ventoy.json", json.as_bytes());
    let console = boot(&drive, &iso_name, Firmware::Uefi, "preseed-uefi", |vm| {
        vm.wait_for(&fixtures::preseed_marker("one")).unwrap();
    });
    assert!(console
        .contains("auto_install: /ventoy/preseed.cfg as /preseed.cfg for the Debian installer"));
}

/// conf_replace, injection and a kickstart template in one boot of the dracut fixture.
#[test]
fn conf_replace_injection_and_kickstart_in_the_dracut_fixture_under_ovmf() {
    let dir = tempfile::tempdir().unwrap();
    // The dracut fixture whose initrd reports inst.ks and the file it names from inside the
    // initramfs; its grub.cfg already carries inst.stage2= (polyboot takes it for Anaconda).
    let iso = fixtures::kickstart_check_iso(dir.path(), "", &[]).unwrap();
    let iso_name = iso.file_name().unwrap().to_str().unwrap().to_string();
    let drive = drive_with(dir.path(), &iso);
    let cfg = String::from_utf8(fixtures::iso_file(&iso, "/boot/grub/grub.cfg").unwrap()).unwrap();
    let cfg = fixtures::add_kernel_param(&cfg, "polyboot.replaced=yes");
    put(dir.path(), &drive, "/ventoy", "grub.cfg", cfg.as_bytes());
    put(dir.path(), &drive, "/ventoy", "ks.cfg", b"# polyboot kickstart template\ntext\n");
    put(dir.path(), &drive, "/ventoy", "inject.tar.gz", &fixtures::injection_archive("INJ-OK"));
    let json = format!(
        r#"{{"conf_replace": [{{"iso": "/live/{iso_name}", "org": "/boot/grub/grub.cfg", "new": "/ventoy/grub.cfg"}}],
            "auto_install": [{{"image": "/live/{iso_name}", "template": "/ventoy/ks.cfg", "autosel": 1}}],
            "injection": [{{"image": "/live/{iso_name}", "archive": "/ventoy/inject.tar.gz"}}]}}"#
    );
    put(dir.path(), &drive, "/ventoy", "ventoy.json", json.as_bytes());
    let mut injected = String::new();
    let mut ks = String::new();
    let mut line = String::new();
    let console = boot(&drive, &iso_name, Firmware::Uefi, "extras-dracut-uefi", |vm| {
        let from = vm.serial_len();
        vm.wait_for(&fixtures::injection_marker_line("INJ-OK")).unwrap();
        injected = line_with(vm, fixtures::INJECTED_MARKER, from);
        vm.wait_for(fixtures::KICKSTART_CHECK_MARKER).unwrap();
        ks = line_with(vm, fixtures::KICKSTART_CHECK_MARKER, from);
        line = marker_then_poweroff(vm, "POLYBOOT-DRACUT-MARKER");
    });
    assert!(injected.ends_with("init=dracut"), "{injected}");
    // From inside the booted initramfs: the parameter and the file it names, with our bytes.
    assert_eq!(
        ks,
        "POLYBOOT-KS-CHECK inst.ks=file:/ks.cfg found=yes first=# polyboot kickstart template"
    );
    let cmdline = marker_cmdline(&line).unwrap();
    for want in
        ["polyboot.replaced=yes", "inst.ks=file:/ks.cfg", "inst.stage2=hd:LABEL=POLYBOOT_DRACUT"]
    {
        assert!(cmdline.split_whitespace().any(|w| w == want), "{want} not in {cmdline}");
    }
    assert!(console.contains("conf_replace: /boot/grub/grub.cfg"), "no conf_replace line");
    assert!(
        console.contains("auto_install: /ventoy/ks.cfg as /ks.cfg for Anaconda"),
        "no kickstart line"
    );
    // The hook placed the template before dracut's init ran (its own log line).
    assert!(
        console.lines().any(|l| l.contains("polyboot: ") && l.contains("/ks.cfg")),
        "no hook line for /ks.cfg"
    );
}

/// Two preseed templates and no autosel: the boot manager's menu offers both (and "boot
/// without"); the test picks the second with Down + Enter and the installer runs that one.
#[test]
fn debian_installer_runs_the_template_chosen_in_the_menu_under_seabios() {
    let iso = fixtures::debian_installer_iso().unwrap();
    let iso_name = iso.file_name().unwrap().to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let drive = drive_with(dir.path(), &iso);
    for name in ["one", "two"] {
        let preseed = fixtures::preseed_with_marker(name);
        put(dir.path(), &drive, "/ventoy", &format!("{name}.cfg"), preseed.as_bytes());
    }
    let json = format!(
        r#"{{"auto_install": [{{"image": "/live/{iso_name}", "template": ["/ventoy/one.cfg", "/ventoy/two.cfg"]}}]}}"#
    );
    put(dir.path(), &drive, "/ventoy", "ventoy.json", json.as_bytes());
    let console = boot(&drive, &iso_name, Firmware::Bios, "preseed-menu-bios", |vm| {
        vm.wait_for("polyboot-bios: auto_install menu: 3 rows").unwrap();
        vm.wait_for("polyboot-bios: choice: > Boot with /ventoy/one.cfg").unwrap();
        let from = vm.serial_len();
        vm.send_key("down").unwrap();
        vm.wait_for_after("polyboot-bios: choice: > Boot with /ventoy/two.cfg", from).unwrap();
        vm.send_key("ret").unwrap();
        vm.wait_for(&fixtures::preseed_marker("two")).unwrap();
    });
    assert!(console.contains("auto_install: chosen /ventoy/two.cfg (menu)"));
    assert!(!console.contains(&fixtures::preseed_marker("one")));
}

/// The NoCloud seed for Ubuntu's installer reaches the booted system's /run (where cloud-init
/// reads it after switch_root), through an isolinux configuration served by conf_replace.
#[test]
fn nocloud_seed_reaches_the_live_system_through_a_replaced_isolinux_config_under_seabios() {
    let iso = fixtures::live_iso("build-live-build.sh").unwrap();
    let iso_name = iso.file_name().unwrap().to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let drive = drive_with(dir.path(), &iso);
    let cfg = String::from_utf8(fixtures::iso_file(&iso, "/isolinux/live.cfg").unwrap()).unwrap();
    assert!(cfg.contains("boot=live"), "{cfg}");
    // Ubuntu Server's words first; live-boot's `boot=live` last, the one initramfs-tools keeps.
    let cfg =
        fixtures::add_kernel_param(&cfg, "polyboot.replaced=yes boot=casper autoinstall boot=live");
    put(dir.path(), &drive, "/ventoy", "live.cfg", cfg.as_bytes());
    let user_data =
        b"#cloud-config\nautoinstall:\n  version: 1\n  identity: {hostname: polyboot}\n";
    put(dir.path(), &drive, "/ventoy", "user-data", user_data);
    let json = format!(
        r#"{{"conf_replace": [{{"iso": "/live/{iso_name}", "org": "/isolinux/live.cfg", "new": "/ventoy/live.cfg"}}],
            "auto_install": [{{"image": "/live/{iso_name}", "template": "/ventoy/user-data", "autosel": 1}}]}}"#
    );
    put(dir.path(), &drive, "/ventoy", "ventoy.json", json.as_bytes());
    let mut line = String::new();
    let console = boot(&drive, &iso_name, Firmware::Bios, "nocloud-live-bios", |vm| {
        line = marker_then_poweroff(vm, "POLYBOOT-LIVE-MARKER");
    });
    let digest = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(user_data);
        d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(marker_field(&line, "nocloud"), Some("/run/polyboot-nocloud/"), "{line}");
    assert_eq!(marker_field(&line, "seed"), Some(digest.as_str()), "{line}");
    assert_eq!(marker_field(&line, "meta"), Some("present"), "{line}");
    let cmdline = marker_cmdline(&line).unwrap();
    for want in ["polyboot.replaced=yes", "autoinstall", "ds=nocloud;s=/run/polyboot-nocloud/"] {
        assert!(cmdline.split_whitespace().any(|w| w == want), "{want} not in {cmdline}");
    }
    assert!(console.contains("conf_replace: /isolinux/live.cfg"), "no conf_replace line");
    assert!(
        console.lines().any(|l| l.contains(
            "for /run: /run/polyboot-nocloud/meta-data, \
            /run/polyboot-nocloud/user-data by initramfs-tools' init-bottom"
        )),
        "no hook line for the seed"
    );
}
