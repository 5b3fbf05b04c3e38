//! Windows installer ISOs under OVMF (issue 16). No Windows image can be had on these machines,
//! so a stand-in takes the place of Windows' boot manager: the ISO's El Torito EFI image holds
//! a GRUB (`grub-mkstandalone`) that, started by polyboot from the virtual CD, reads
//! `\x64\sources\boot.wim` through the firmware's block device — the virtual boot.wim polyboot
//! serves — and prints its SHA-256 on the serial console. That hash must be the one of the
//! boot.wim in the medium `polyboot debug virtual` writes, and that boot.wim must carry the
//! jump program (with the original shell and parameters naming this drive and ISO) in place
//! of WinPE's shell: the firmware serves exactly what the debug command shows.
//!
//! Under SeaBIOS the same holds for polyboot's INT 13h emulation: the ISO's El Torito BIOS
//! image is a GRUB (`grub-mkimage -O i386-pc-eltorito`, standing in for `etfsboot.com`) that
//! hashes the boot.wim it reads from the emulated CD.

mod common;
use common::{choose, Cli};
use polyboot_core::bcd::winpe::{build_winpe_store, WinPeStoreConfig};
use polyboot_core::bcd::BcdFirmware;
use polyboot_core::guid::Guid;
use polyboot_core::winpe_jump::split_carrier;
use polyboot_tests::{
    artifacts, find_tool, fixtures, pattern, run_tool, Disk, Firmware, Vm, VmConfig,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WIM: &str = "x64/sources/boot.wim";
const HASHED: &str = "POLYBOOT-WIM-HASHED";
/// A stand-in answer file (its bytes are what counts).
const UNATTEND: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"><!-- polyboot test --></unattend>\n";

/// The GRUB script both hashers run: find the CD holding `/{wim}`, print its SHA-256 on the
/// serial console, then [`HASHED`], and wait. `preamble` comes first (module loading).
fn hasher_script(preamble: &str, wim: &str) -> String {
    format!(
        "serial --unit=0 --speed=115200\nterminal_output serial\n{preamble}\
         search --no-floppy --file --set=root /{wim}\necho POLYBOOT-WIM-ROOT $root\n\
         sha256sum /{wim}\necho {HASHED}\nsleep 600\n"
    )
}

/// GRUB for x86_64 EFI that hashes `/{wim}` from the CD it was started from.
fn grub_hasher(dir: &Path, wim: &str) -> PathBuf {
    let efi = dir.join("grubx64-hasher.efi");
    fixtures::grub_standalone_efi(&hasher_script("insmod iso9660\n", wim), &efi).unwrap();
    efi
}

/// GRUB's El Torito BIOS image (`eltorito.img`: cdboot + core, no-emulation, it reads the rest
/// of itself through INT 13h) that hashes `/{wim}` from the CD it was started from. Its
/// configuration is embedded and its modules built in: nothing is read from the CD but
/// the WIM.
fn grub_bios_hasher(dir: &Path, wim: &str) -> PathBuf {
    let cfg = dir.join("grub-bios.cfg");
    // Its modules are built in: nothing to load.
    std::fs::write(&cfg, hasher_script("", wim)).unwrap();
    let img = dir.join("etfsboot.com");
    run_tool(
        Command::new(find_tool("grub-mkimage"))
            .args(["-O", "i386-pc-eltorito", "-p", "/boot/grub", "-c"])
            .arg(&cfg)
            .arg("-o")
            .arg(&img)
            .args(["biosdisk", "iso9660", "search", "search_fs_file", "hashsum", "gcry_sha256"])
            .args(["serial", "terminal", "echo", "sleep"]),
    )
    .unwrap();
    img
}

/// A FAT El Torito EFI image holding `efi` as `\EFI\BOOT\BOOTX64.EFI`.
fn efi_boot_image(dir: &Path, efi: &Path) -> PathBuf {
    let img = dir.join("efisys.bin");
    let s = img.to_str().unwrap();
    run_tool(Command::new(find_tool("mkfs.fat")).args(["-C", s, "32768"])).unwrap();
    run_tool(Command::new(find_tool("mmd")).args(["-i", s, "::/EFI", "::/EFI/BOOT"])).unwrap();
    run_tool(
        Command::new(find_tool("mcopy")).args(["-i", s]).arg(efi).arg("::/EFI/BOOT/BOOTX64.EFI"),
    )
    .unwrap();
    img
}

/// A WinPE-shaped boot.wim whose shell is `shell`; with `x86`, a 32-bit one (a PE32
/// `kernel32.dll`, from which wimlib writes the image's ARCH as x86).
fn winpe_wim(dir: &Path, shell: &[u8], x86: bool) -> PathBuf {
    let tree = dir.join("pe");
    let sys = tree.join("Windows/System32");
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::write(sys.join("winpeshl.exe"), shell).unwrap();
    if x86 {
        std::fs::copy(artifacts::winpe_programs_x86().1, sys.join("kernel32.dll")).unwrap();
    }
    std::fs::write(sys.join("setup.dll"), pattern(22, 300_000)).unwrap();
    let wim = dir.join("boot.wim");
    run_tool(Command::new(find_tool("wimcapture")).arg(&tree).arg(&wim).args([
        "Microsoft Windows Setup (x64)",
        "--compress=LZX",
        "--boot",
    ]))
    .unwrap();
    wim
}

#[test]
fn the_virtual_boot_wim_reads_through_the_firmware_as_the_debug_command_writes_it() {
    virtual_boot_wim_reads_as_written(Firmware::Uefi);
}

/// The same Windows-shaped ISO booted by SeaBIOS: polyboot's BIOS boot code prepares the same
/// virtual medium (core's session) and its INT 13h emulation serves the virtual boot.wim.
#[test]
fn seabios_reads_the_virtual_boot_wim_as_the_debug_command_writes_it() {
    virtual_boot_wim_reads_as_written(Firmware::Bios);
}

/// A Windows-shaped ISO whose boot files (for `firmware`) are the GRUB hasher, on a drive:
/// the boot.wim `polyboot debug virtual --firmware ...` writes carries the jump program for
/// this drive and ISO, and the firmware, booting it from the menu, reads the same bytes.
fn virtual_boot_wim_reads_as_written(firmware: Firmware) {
    let bios = firmware == Firmware::Bios;
    let dir = tempfile::tempdir().unwrap();
    let shell = {
        let mut s = b"MZ".to_vec();
        s.extend(pattern(21, 120_000));
        s
    };
    // BIOS: a 32-bit WinPE, served with the x86 jump program.
    let wim = winpe_wim(dir.path(), &shell, bios);
    // The BCD names the WIM (not at the default /sources/boot.wim); BIOS reads /boot/bcd.
    let bcd = dir.path().join("bcd");
    std::fs::write(
        &bcd,
        build_winpe_store(&WinPeStoreConfig {
            firmware: if bios { BcdFirmware::Bios } else { BcdFirmware::Uefi },
            loader: Guid::from_text("7619dcc9-fafe-11d9-b411-000476eba25f"),
            description: "Windows Setup".into(),
            wim_path: format!("/{WIM}"),
            sdi_path: "/boot/boot.sdi".into(),
            locale: "en-US".into(),
            timeout: 30,
            timestamp: 0x01d9_0000_0000_0000,
        })
        .unwrap(),
    )
    .unwrap();
    // Both trees list every file here: GRUB reads the ISO 9660 tree (the UDF-only shape of
    // Microsoft's ISOs is `windows_iso_oracle`'s).
    let (boot_files, bcd_path, args): (Vec<(&str, PathBuf)>, &str, Vec<&str>) = if bios {
        (
            vec![("boot/etfsboot.com", grub_bios_hasher(dir.path(), WIM))],
            "boot/bcd",
            vec!["-J", "-b", "boot/etfsboot.com", "-c", "boot/boot.cat", "-no-emul-boot"]
                .into_iter()
                .chain(["-boot-load-size", "4", "-boot-info-table"])
                .collect(),
        )
    } else {
        (
            vec![(
                "efi/microsoft/boot/efisys.bin",
                efi_boot_image(dir.path(), &grub_hasher(dir.path(), WIM)),
            )],
            "efi/microsoft/boot/bcd",
            vec!["-J", "-e", "efi/microsoft/boot/efisys.bin", "-no-emul-boot"],
        )
    };
    let mut visible: Vec<(&str, &Path)> = vec![(WIM, &wim), (bcd_path, &bcd)];
    visible.extend(boot_files.iter().map(|(to, from)| (*to, from.as_path())));
    let iso = polyboot_tests::fixtures::windows_shaped_iso_with(
        dir.path(),
        "win.iso",
        &[],
        &visible,
        &args,
    )
    .unwrap();

    let drive = dir.path().join("drive.img");
    let d = drive.to_str().unwrap();
    Cli::booting().args(["install", d, "--size", "256M", "--yes"]).ok();
    Cli::new().args(["add", "-q", d, "--to", "/ISO"]).arg(&iso).ok();
    if bios {
        // Windows Setup options from both configuration files (UEFI: none, both off).
        let cfg = dir.path().join("cfg");
        std::fs::create_dir_all(&cfg).unwrap();
        // And an answer file from Ventoy's auto_install plugin.
        std::fs::write(
            cfg.join("ventoy.json"),
            r#"{"control": [{"VTOY_WIN11_BYPASS_CHECK": "1"}, {"VTOY_WIN11_BYPASS_NRO": "0"}],
                "auto_install": [{"image": "/ISO/win.iso", "template": "/ventoy/unattend.xml", "autosel": 1}]}"#,
        )
        .unwrap();
        std::fs::write(cfg.join("unattend.xml"), UNATTEND).unwrap();
        Cli::new().args(["add", "-q", d, "--to", "/ventoy"]).arg(cfg.join("unattend.xml")).ok();
        std::fs::write(cfg.join("polyboot.json"), r#"{"windows": {"bypass_nro": true}}"#).unwrap();
        Cli::new().args(["add", "-q", d, "--to", "/ventoy"]).arg(cfg.join("ventoy.json")).ok();
        Cli::new().args(["add", "-q", d, "--to", "/polyboot"]).arg(cfg.join("polyboot.json")).ok();
    }

    // What the boot manager will serve, written by the debug command.
    let served = dir.path().join("served.iso");
    let report = Cli::booting()
        .args(["debug", "virtual", d, "ISO/win.iso", "--json", "--firmware"])
        .arg(if bios { "bios" } else { "uefi" })
        .arg("-o")
        .arg(&served)
        .ok();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let log: Vec<&str> =
        report["log"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let arch = if bios { "x86" } else { "x64" };
    let named = format!(
        "windows: /{WIM} (named by /{bcd_path}) served with polyboot's jump program ({arch})"
    );
    assert!(log.iter().any(|l| l.starts_with(&named)), "{log:?}");
    let handed = format!(
        "windows: answer file /ventoy/unattend.xml ({} bytes) handed to Setup as autounattend.xml",
        UNATTEND.len()
    );
    assert_eq!(log.iter().any(|l| *l == handed), bios, "{log:?}");
    let extracted = dir.path().join("served-boot.wim");
    run_tool(
        Command::new(find_tool("xorriso"))
            .args(["-osirrox", "on", "-indev"])
            .arg(&served)
            .args(["-extract", &format!("/{WIM}")])
            .arg(&extracted),
    )
    .unwrap();
    let want = hex(&Sha256::digest(std::fs::read(&extracted).unwrap()));

    // The served boot.wim: the jump program carrying the original shell, for this ISO.
    let applied = dir.path().join("applied");
    run_tool(Command::new(find_tool("wimapply")).arg(&extracted).arg("1").arg(&applied)).unwrap();
    let carrier = std::fs::read(applied.join("Windows/System32/winpeshl.exe")).unwrap();
    let built = if bios { artifacts::winpe_programs_x86() } else { artifacts::winpe_programs() };
    let jump = std::fs::read(built.0).unwrap();
    assert!(carrier.starts_with(&jump), "winpeshl.exe does not start with the {arch} jump program");
    let parts = split_carrier(&carrier).unwrap();
    assert!(parts.original_shell == shell.as_slice(), "the original shell is not carried intact");
    let params = parts.params.unwrap();
    assert_eq!(params.iso_path, "\\ISO\\win.iso");
    assert_eq!(
        (params.flags.bypass_requirements(), params.flags.bypass_nro()),
        (bios, bios),
        "the configured Windows Setup options"
    );
    let unattend: &[u8] = if bios { UNATTEND.as_bytes() } else { b"" };
    assert!(params.unattend == unattend, "the answer file in the parameter block");
    let info: serde_json::Value =
        serde_json::from_str(&Cli::new().args(["info", d, "--json"]).ok()).unwrap();
    assert_eq!(params.partition_offset, info["layout"]["data"]["offset"].as_u64().unwrap());

    // The firmware reads the same bytes.
    let (name, expect) = if bios {
        ("windows-virtual-boot-wim-bios", "polyboot-bios: windows: ")
    } else {
        ("windows-virtual-boot-wim", "polyboot: windows: ")
    };
    let search = if bios { "ISO/win.iso" } else { "win.iso" };
    let got = boot_and_hash(firmware, &drive, name, search, expect);
    assert_eq!(got, want, "the firmware served another boot.wim than the debug command wrote");
}

/// Start a VM under `firmware` on `drive` and boot `search` from polyboot's menu: the VM and
/// where its console stood when the image was chosen.
fn boot_from_menu(firmware: Firmware, drive: &Path, name: &str, search: &str) -> (Vm, usize) {
    let mut vm = Vm::start(
        VmConfig::new(name, firmware)
            .disk(Disk::new(drive).usb())
            .memory_mib(512)
            .timeout(Duration::from_secs(420)),
    )
    .unwrap();
    if firmware == Firmware::Bios {
        // The only image on the drive is selected: Enter boots it.
        vm.wait_for("polyboot-bios: menu ready: 1 images").unwrap();
        vm.wait_for(&format!("polyboot-bios: menu: > /{search}")).unwrap();
        let mark = vm.serial_len();
        std::thread::sleep(Duration::from_millis(500));
        vm.send_serial(b"\r").unwrap();
        (vm, mark)
    } else {
        vm.wait_for("polyboot: menu ready:").unwrap();
        vm.wait_for("----------").unwrap();
        let mark = vm.serial_len();
        choose(&mut vm, search);
        (vm, mark)
    }
}

/// Boot `search` from the drive's menu (UEFI: a search text; BIOS: the path of the only
/// image) and return the SHA-256 the GRUB hasher prints, after the boot manager printed
/// `expect`.
fn boot_and_hash(
    firmware: Firmware,
    drive: &Path,
    name: &str,
    search: &str,
    expect: &str,
) -> String {
    let (mut vm, mark) = boot_from_menu(firmware, drive, name, search);
    vm.wait_for_after(expect, mark).unwrap();
    vm.wait_for_after(HASHED, mark).unwrap();
    let text = vm.serial_text();
    let after = &text[mark.min(text.len())..];
    // GRUB's `sha256sum` prints the digest, then the file name (on the next line at this
    // console width).
    let got = after
        .split(|c: char| c.is_whitespace())
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no SHA-256 from GRUB:\n{after}"))
        .to_string();
    eprintln!("{name}: GRUB read through the firmware: sha256 {got}");
    got
}

/// A bare WinPE `.wim` (issue 16, item 4): polyboot serves a synthetic CD with the WIM's own
/// boot manager (here the GRUB hasher standing in for `Windows\Boot\EFI\bootmgfw.efi`),
/// BCD stores naming `\sources\boot.wim` as a ramdisk, and the WIM itself mapped from the
/// drive: started from the El Torito EFI image, the stand-in reads `\sources\boot.wim`
/// through the firmware and its SHA-256 is the WIM file's.
#[test]
fn a_bare_wim_is_served_as_a_cd_whose_boot_manager_reads_the_wim() {
    let dir = tempfile::tempdir().unwrap();
    let bootmgfw = std::fs::read(grub_hasher(dir.path(), "sources/boot.wim")).unwrap();
    let (wim, drive, report) = rescue_wim_on_a_drive(dir.path(), &[("EFI/bootmgfw.efi", bootmgfw)]);
    let want = hex(&Sha256::digest(std::fs::read(&wim).unwrap()));
    assert_eq!(report["uefi"], true, "{report}");

    let got = boot_and_hash(
        Firmware::Uefi,
        &drive,
        "windows-bare-wim",
        "rescue.wim",
        "polyboot: windows: WIM image 1 served as a virtual CD",
    );
    assert_eq!(got, want, "the synthetic CD's \\sources\\boot.wim is not the WIM file");
}

/// A bare WinPE `.wim` under SeaBIOS: the synthetic CD's El Torito BIOS entry is the WIM's
/// `Windows\Boot\DVD\PCAT\etfsboot.com`, loaded whole (it is at most 64 KiB, so no GRUB fits:
/// the stand-in is a boot sector that prints a marker on COM1). What the CD holds is the
/// UEFI test's and core's `winpe_medium` tests'; this one shows the BIOS boot code serves it.
#[test]
fn seabios_boots_a_bare_wims_etfsboot_from_its_synthetic_cd() {
    const MARKER: &str = "POLYBOOT-TEST-ETFSBOOT-STAND-IN";
    let dir = tempfile::tempdir().unwrap();
    let sector = polyboot_tests::fixtures::floppy_image(MARKER)[..2048].to_vec();
    let boot_files = [("DVD/PCAT/etfsboot.com", sector), ("PCAT/bootmgr", pattern(32, 400_000))];
    let (_, drive, report) = rescue_wim_on_a_drive(dir.path(), &boot_files);
    assert_eq!(report["bios"], true, "{report}");

    let (mut vm, mark) =
        boot_from_menu(Firmware::Bios, &drive, "windows-bare-wim-bios", "WIM/rescue.wim");
    vm.wait_for_after("polyboot-bios: windows: WIM image 1 served as a virtual CD", mark).unwrap();
    vm.wait_for_after("El Torito no-emulation, as CD drive", mark).unwrap();
    vm.wait_for_after(MARKER, mark).unwrap();
}

/// A rescue WIM (`wimcapture --boot`, XPRESS) holding `boot.sdi`, a shell and `boot_files`
/// (paths under `Windows\Boot`), added to a new drive: the WIM, the drive and `check --json`'s
/// report on the WIM.
fn rescue_wim_on_a_drive(
    dir: &Path,
    boot_files: &[(&str, Vec<u8>)],
) -> (PathBuf, PathBuf, serde_json::Value) {
    let tree = dir.join("pe");
    let boot = tree.join("Windows/Boot");
    for (path, bytes) in boot_files {
        let to = boot.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    std::fs::create_dir_all(boot.join("DVD/PCAT")).unwrap();
    std::fs::write(boot.join("DVD/PCAT/boot.sdi"), pattern(31, 3 << 20)).unwrap();
    std::fs::create_dir_all(tree.join("Windows/System32")).unwrap();
    std::fs::write(tree.join("Windows/System32/winpeshl.exe"), b"MZ shell").unwrap();
    let wim = dir.join("rescue.wim");
    run_tool(Command::new(find_tool("wimcapture")).arg(&tree).arg(&wim).args([
        "Rescue PE",
        "--compress=XPRESS",
        "--boot",
    ]))
    .unwrap();
    let drive = dir.join("drive.img");
    let d = drive.to_str().unwrap();
    Cli::booting().args(["install", d, "--size", "256M", "--yes"]).ok();
    Cli::new().args(["add", "-q", d, "--to", "/WIM"]).arg(&wim).ok();
    let report: serde_json::Value =
        serde_json::from_str(&Cli::new().args(["check", "--json"]).arg(&wim).run().1).unwrap();
    let report = report.as_array().map_or(&report, |a| &a[0]).clone();
    (wim, drive, report)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
