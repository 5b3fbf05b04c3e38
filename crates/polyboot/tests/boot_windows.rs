//! Windows installer ISOs under OVMF (issue 16). No Windows image can be had on these machines,
//! so a stand-in takes the place of Windows' boot manager: the ISO's El Torito EFI image holds
//! a GRUB (`grub-mkstandalone`) that, started by polyboot from the virtual CD, reads
//! `\x64\sources\boot.wim` through the firmware's block device — the virtual boot.wim polyboot
//! serves — and prints its SHA-256 on the serial console. That hash must be the one of the
//! boot.wim in the medium `polyboot debug virtual` writes, and that boot.wim must carry the
//! jump program (with the original shell and parameters naming this drive and ISO) in place
//! of WinPE's shell: the firmware serves exactly what the debug command shows.

mod common;
use common::{choose, Cli};
use polyboot_core::bcd::winpe::{build_winpe_store, WinPeStoreConfig};
use polyboot_core::bcd::BcdFirmware;
use polyboot_core::guid::Guid;
use polyboot_core::winpe_jump::split_carrier;
use polyboot_tests::{artifacts, find_tool, pattern, run_tool, Disk, Firmware, Vm, VmConfig};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WIM: &str = "x64/sources/boot.wim";
const HASHED: &str = "POLYBOOT-WIM-HASHED";

/// GRUB for x86_64 EFI that hashes `/{wim}` from the CD it was started from.
fn grub_hasher(dir: &Path, wim: &str) -> PathBuf {
    let cfg = dir.join("grub.cfg");
    std::fs::write(
        &cfg,
        format!(
            "serial --unit=0 --speed=115200\nterminal_output serial\ninsmod iso9660\n\
             search --no-floppy --file --set=root /{wim}\necho POLYBOOT-WIM-ROOT $root\n\
             sha256sum /{wim}\necho {HASHED}\nsleep 600\n"
        ),
    )
    .unwrap();
    let efi = dir.join("grubx64-hasher.efi");
    run_tool(
        Command::new(find_tool("grub-mkstandalone"))
            .args(["-O", "x86_64-efi", "-o"])
            .arg(&efi)
            .arg(format!("boot/grub/grub.cfg={}", cfg.display())),
    )
    .unwrap();
    efi
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

/// A WinPE-shaped boot.wim whose shell is `shell`.
fn winpe_wim(dir: &Path, shell: &[u8]) -> PathBuf {
    let tree = dir.join("pe");
    let sys = tree.join("Windows/System32");
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::write(sys.join("winpeshl.exe"), shell).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let shell = {
        let mut s = b"MZ".to_vec();
        s.extend(pattern(21, 120_000));
        s
    };
    let wim = winpe_wim(dir.path(), &shell);
    let efisys = efi_boot_image(dir.path(), &grub_hasher(dir.path(), WIM));
    // The BCD names the WIM (not at the default /sources/boot.wim).
    let bcd = dir.path().join("bcd");
    std::fs::write(
        &bcd,
        build_winpe_store(&WinPeStoreConfig {
            firmware: BcdFirmware::Uefi,
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
    let iso = polyboot_tests::fixtures::windows_shaped_iso_with(
        dir.path(),
        "win.iso",
        &[],
        &[
            (WIM, &wim),
            ("efi/microsoft/boot/efisys.bin", &efisys),
            ("efi/microsoft/boot/bcd", &bcd),
        ],
        &["-J", "-e", "efi/microsoft/boot/efisys.bin", "-no-emul-boot"],
    )
    .unwrap();

    let drive = dir.path().join("drive.img");
    let d = drive.to_str().unwrap();
    Cli::booting().args(["install", d, "--size", "256M", "--yes"]).ok();
    Cli::new().args(["add", "-q", d, "--to", "/ISO"]).arg(&iso).ok();

    // What the boot manager will serve, written by the debug command.
    let served = dir.path().join("served.iso");
    let report = Cli::booting()
        .args(["debug", "virtual", d, "ISO/win.iso", "--json", "-o"])
        .arg(&served)
        .ok();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let log: Vec<&str> =
        report["log"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let named = format!(
        "windows: /{WIM} (named by /efi/microsoft/boot/bcd) served with polyboot's jump program"
    );
    assert!(log.iter().any(|l| l.starts_with(&named)), "{log:?}");
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
    let jump = std::fs::read(artifacts::winpe_programs().0).unwrap();
    assert!(carrier.starts_with(&jump), "winpeshl.exe does not start with the jump program");
    let parts = split_carrier(&carrier).unwrap();
    assert!(parts.original_shell == shell.as_slice(), "the original shell is not carried intact");
    let params = parts.params.unwrap();
    assert_eq!(params.iso_path, "\\ISO\\win.iso");
    let info: serde_json::Value =
        serde_json::from_str(&Cli::new().args(["info", d, "--json"]).ok()).unwrap();
    assert_eq!(params.partition_offset, info["layout"]["data"]["offset"].as_u64().unwrap());

    // The firmware reads the same bytes.
    let got = boot_and_hash(&drive, "windows-virtual-boot-wim", "win.iso", "polyboot: windows: ");
    assert_eq!(got, want, "the firmware served another boot.wim than the debug command wrote");
}

/// Boot `search` from the drive's menu under OVMF and return the SHA-256 the GRUB hasher
/// prints, after the boot manager printed `expect`.
fn boot_and_hash(drive: &Path, name: &str, search: &str, expect: &str) -> String {
    let mut vm = Vm::start(
        VmConfig::new(name, Firmware::Uefi)
            .disk(Disk::new(drive).usb())
            .memory_mib(512)
            .timeout(Duration::from_secs(420)),
    )
    .unwrap();
    vm.wait_for("polyboot: menu ready:").unwrap();
    vm.wait_for("----------").unwrap();
    let mark = vm.serial_len();
    choose(&mut vm, search);
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
    let tree = dir.path().join("pe");
    let boot = tree.join("Windows/Boot");
    for d in ["EFI", "DVD/PCAT", "PCAT"] {
        std::fs::create_dir_all(boot.join(d)).unwrap();
    }
    std::fs::copy(grub_hasher(dir.path(), "sources/boot.wim"), boot.join("EFI/bootmgfw.efi"))
        .unwrap();
    std::fs::write(boot.join("DVD/PCAT/boot.sdi"), pattern(31, 3 << 20)).unwrap();
    std::fs::create_dir_all(tree.join("Windows/System32")).unwrap();
    std::fs::write(tree.join("Windows/System32/winpeshl.exe"), b"MZ shell").unwrap();
    let wim = dir.path().join("rescue.wim");
    run_tool(Command::new(find_tool("wimcapture")).arg(&tree).arg(&wim).args([
        "Rescue PE",
        "--compress=XPRESS",
        "--boot",
    ]))
    .unwrap();
    let want = hex(&Sha256::digest(std::fs::read(&wim).unwrap()));

    let drive = dir.path().join("drive.img");
    let d = drive.to_str().unwrap();
    Cli::booting().args(["install", d, "--size", "256M", "--yes"]).ok();
    Cli::new().args(["add", "-q", d, "--to", "/WIM"]).arg(&wim).ok();
    let report: serde_json::Value =
        serde_json::from_str(&Cli::new().args(["check", "--json"]).arg(&wim).run().1).unwrap();
    let report = report.as_array().map_or(&report, |a| &a[0]);
    assert_eq!(report["uefi"], true, "{report}");

    let got = boot_and_hash(
        &drive,
        "windows-bare-wim",
        "rescue.wim",
        "polyboot: windows: WIM image 1 served as a virtual CD",
    );
    assert_eq!(got, want, "the synthetic CD's \\sources\\boot.wim is not the WIM file");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
