//! Windows installer ISOs (`polyboot_core::windows_iso`): a test ISO shaped like Microsoft's
//! (`genisoimage -udf`, the UDF bridge; a WinPE-shaped `boot.wim` captured by `wimcapture`
//! with XPRESS and with LZX; BCD stores made by core's writer whose ramdisk device names the
//! WIM at a path other than the default), planned and served as the boot manager serves it,
//! written out as a file and read by independent implementations:
//! - the BCD's WIM path is the one used (the default `/sources/boot.wim` does not exist);
//! - 7-Zip's UDF reader (`7z -tudf`) and xorriso's ISO 9660 reader extract the new `boot.wim`,
//!   and core's UDF reader reads it from the virtual medium; all three give the same bytes;
//! - `udfinfo` reads the volume (its partition grown to cover the virtual WIM);
//! - `wiminfo` / `wimverify` accept that `boot.wim`, and `wimapply` shows the jump program in
//!   place of the shell of the boot image, the original shell carried inside it byte for byte,
//!   every other file byte-identical;
//! - every other file of the ISO reads the same through both trees.

use std::path::{Path, PathBuf};
use std::process::Command;

use polyboot_core::bcd::winpe::{build_winpe_store, WinPeStoreConfig};
use polyboot_core::bcd::BcdFirmware;
use polyboot_core::block::{MemDevice, ReadAt};
use polyboot_core::guid::Guid;
use polyboot_core::udf;
use polyboot_core::virtual_medium::{Extent, VirtualMedium};
use polyboot_core::windows_iso::{self, WimSource};
use polyboot_tests::{find_tool, pattern};

fn run(cmd: &mut Command) -> String {
    polyboot_tests::run_tool(cmd).unwrap()
}

const WIM_PATH: &str = "x64/sources/boot.wim";

fn store(firmware: BcdFirmware) -> Vec<u8> {
    build_winpe_store(&WinPeStoreConfig {
        firmware,
        loader: Guid::from_text("7619dcc9-fafe-11d9-b411-000476eba25f"),
        description: "Windows Setup".into(),
        wim_path: format!("\\{}", WIM_PATH.replace('/', "\\")),
        sdi_path: "\\boot\\boot.sdi".into(),
        locale: "en-US".into(),
        timeout: 30,
        timestamp: 0x01d9_0000_0000_0000,
    })
    .unwrap()
}

/// The ISO tree and the shell the WIM carries.
fn iso_tree(root: &Path, compress: &str) -> Vec<u8> {
    let pe = root.with_extension("pe");
    let sys = pe.join("Windows/System32");
    std::fs::create_dir_all(&sys).unwrap();
    let shell = pattern(11, 90_000);
    std::fs::write(sys.join("winpeshl.exe"), &shell).unwrap();
    std::fs::write(sys.join("setup.dll"), pattern(12, 200_000)).unwrap();
    let wim = root.join(WIM_PATH);
    std::fs::create_dir_all(wim.parent().unwrap()).unwrap();
    run(Command::new(find_tool("wimcapture"))
        .arg(&pe)
        .arg(&wim)
        .arg("Microsoft Windows Setup (x64)")
        .arg(format!("--compress={compress}"))
        .arg("--boot"));
    for (path, bytes) in [
        ("efi/microsoft/boot/bcd", store(BcdFirmware::Uefi)),
        ("boot/bcd", store(BcdFirmware::Bios)),
        ("boot/boot.sdi", pattern(13, 3 * 1024 * 1024)),
        ("sources/install.txt", b"not the WinPE image\n".to_vec()),
        ("setup.exe", pattern(14, 70_000)),
    ] {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    shell
}

/// The whole virtual medium, read through core's reader.
fn serve(iso: &[u8], compress: &str) -> (Vec<u8>, windows_iso::WindowsIsoPlan) {
    let mut dev = MemDevice::from_vec(iso.to_vec());
    let len = iso.len() as u64;
    let jump = |_, shell: &[u8]| {
        let mut j = b"MZ polyboot jump program stand-in ".to_vec();
        j.extend_from_slice(shell);
        j
    };
    let plan = windows_iso::plan(&mut dev, len, 64 << 20, jump).unwrap();
    assert_eq!(plan.wim_path, format!("/{WIM_PATH}"), "{compress}");
    assert_eq!(plan.source, WimSource::Bcd("/efi/microsoft/boot/bcd".into()));
    assert!(plan.udf_redirected, "{compress}: the UDF tree was not redirected");
    assert_eq!(plan.iso9660_records, 2, "{compress}: primary and Joliet records");
    let mut medium =
        VirtualMedium::new(2048, len, 0, vec![Extent { file_offset: 0, device_offset: 0, len }])
            .unwrap();
    plan.apply(&mut medium).unwrap();
    let mut out = vec![0u8; medium.size() as usize];
    medium.read(&mut dev, 0, &mut out).unwrap();
    (out, plan)
}

fn check(compress: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("iso");
    let shell = iso_tree(&root, compress);
    let iso = dir.path().join("win.iso");
    run(Command::new(find_tool("genisoimage"))
        .args(["-quiet", "-input-charset", "utf-8", "-udf", "-J", "-V", "CCCOMA_X64FRE", "-o"])
        .arg(&iso)
        .arg(&root));
    let original = std::fs::read(&iso).unwrap();
    let (served, plan) = serve(&original, compress);
    let virt = dir.path().join("virtual.iso");
    std::fs::write(&virt, &served).unwrap();
    std::fs::write(format!("/tmp/keep-{compress}.iso"), &served).unwrap();
    let want_wim = {
        let mut w =
            original[plan.wim_offset as usize..][..plan.patch.original_size as usize].to_vec();
        w[..208].copy_from_slice(&plan.patch.header);
        w.extend_from_slice(&plan.patch.appended);
        w
    };

    // Three readers, one file.
    let by_7z = dir.path().join("7z");
    run(Command::new(find_tool("7z"))
        .args(["x", "-tudf", "-y"])
        .arg(format!("-o{}", by_7z.display()))
        .arg(&virt));
    let by_xorriso = dir.path().join("xorriso");
    run(Command::new(find_tool("xorriso"))
        .args(["-osirrox", "on", "-indev"])
        .arg(&virt)
        .args(["-extract", "/"])
        .arg(&by_xorriso));
    let mut dev = MemDevice::from_vec(served.clone());
    let vol = udf::probe(&mut dev).unwrap();
    let e = vol.lookup(&mut dev, WIM_PATH).unwrap();
    let mut by_core = vec![0u8; e.size as usize];
    vol.read_file(&mut dev, &e, 0, &mut by_core).unwrap();
    let udf_wim = std::fs::read(by_7z.join(WIM_PATH)).unwrap();
    let iso_wim = std::fs::read(by_xorriso.join(WIM_PATH)).unwrap();
    assert!(udf_wim == want_wim, "{compress}: 7-Zip's UDF boot.wim differs");
    assert!(iso_wim == want_wim, "{compress}: xorriso's ISO 9660 boot.wim differs");
    assert!(by_core == want_wim, "{compress}: core's UDF boot.wim differs");
    // Every other file is untouched in both trees.
    for f in walk(&root) {
        let rel = f.strip_prefix(&root).unwrap();
        if rel == Path::new(WIM_PATH) {
            continue;
        }
        let want = std::fs::read(&f).unwrap();
        assert!(std::fs::read(by_7z.join(rel)).unwrap() == want, "{compress}: UDF {rel:?}");
        assert!(std::fs::read(by_xorriso.join(rel)).unwrap() == want, "{compress}: {rel:?}");
    }
    let info = run(Command::new(find_tool("udfinfo")).arg(&virt));
    assert!(info.contains("label=CCCOMA_X64FRE"), "{info}");

    // wimlib on the served boot.wim.
    let wim = by_7z.join(WIM_PATH);
    run(Command::new(find_tool("wimverify")).arg(&wim));
    let applied = dir.path().join("applied");
    run(Command::new(find_tool("wimapply")).arg(&wim).arg("1").arg(&applied));
    let got = std::fs::read(applied.join("Windows/System32/winpeshl.exe")).unwrap();
    let mut jump = b"MZ polyboot jump program stand-in ".to_vec();
    jump.extend_from_slice(&shell);
    assert!(got == jump, "{compress}: the shell is not the jump program carrying the original");
    let dll = std::fs::read(applied.join("Windows/System32/setup.dll")).unwrap();
    assert!(dll == pattern(12, 200_000), "{compress}: setup.dll differs");
    eprintln!(
        "{compress}: boot.wim {} -> {} bytes at byte {} of the medium ({} overrides)",
        plan.patch.original_size,
        plan.patch.size(),
        plan.at,
        plan.overrides.len()
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn an_xpress_boot_wim_is_served_with_the_jump_program_through_udf_and_iso9660() {
    check("XPRESS");
}

#[test]
fn an_lzx_boot_wim_is_served_with_the_jump_program_through_udf_and_iso9660() {
    check("LZX");
}

#[test]
fn without_a_bcd_the_default_wim_is_used_and_a_missing_one_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("iso");
    std::fs::create_dir_all(root.join("sources")).unwrap();
    std::fs::write(root.join("sources/readme.txt"), b"no boot.wim here").unwrap();
    let iso = dir.path().join("nowim.iso");
    run(Command::new(find_tool("genisoimage"))
        .args(["-quiet", "-input-charset", "utf-8", "-udf", "-J", "-o"])
        .arg(&iso)
        .arg(&root));
    let mut dev = MemDevice::from_vec(std::fs::read(&iso).unwrap());
    assert_eq!(windows_iso::find_wim(&mut dev), ("/sources/boot.wim".into(), WimSource::Default));
    let size = dev.size();
    let err = windows_iso::plan(&mut dev, size, 64 << 20, |_, s| s.to_vec()).unwrap_err();
    assert_eq!(err.to_string(), "no WinPE image: /sources/boot.wim is not on the ISO");
}

/// The boot files of a Microsoft ISO that make its CD boot programs prompt "Press any key to
/// boot from CD or DVD" (stand-ins: only their places matter), and genisoimage's arguments for
/// its El Torito BIOS and EFI entries.
fn prompting_boot_files(root: &Path, noprompt: bool) -> Vec<&'static str> {
    let mut files = vec![
        ("boot/etfsboot.com", pattern(21, 2048)),
        ("efi/microsoft/boot/efisys.bin", pattern(22, 64 * 1024)),
    ];
    if noprompt {
        files.push(("boot/bootfix.bin", pattern(23, 1024)));
        // Not a multiple of 512: the sector count rounds up.
        files.push(("efi/microsoft/boot/efisys_noprompt.bin", pattern(24, 96 * 1024 + 100)));
    }
    for (path, bytes) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    vec![
        "-b",
        "boot/etfsboot.com",
        "-no-emul-boot",
        "-boot-load-size",
        "8",
        "-eltorito-alt-boot",
        "-e",
        "efi/microsoft/boot/efisys.bin",
        "-no-emul-boot",
    ]
}

/// `(platform, load size, LBA)` of each boot image, as xorriso reports them.
fn el_torito_images(iso: &Path) -> Vec<(String, u32, u32)> {
    let out = run(Command::new(find_tool("xorriso"))
        .args(["-indev"])
        .arg(iso)
        .args(["-report_el_torito", "plain"]));
    out.lines()
        .filter_map(|l| l.strip_prefix("El Torito boot img :"))
        .map(|l| {
            // N Pltf B Emul Ld_seg Hdpt Ldsiz LBA
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].to_string(), f[6].parse().unwrap(), f[7].parse().unwrap())
        })
        .collect()
}

/// The first block of `path` as xorriso's ISO 9660 reader sees it.
fn xorriso_lba(iso: &Path, path: &str) -> u32 {
    let out = run(Command::new(find_tool("xorriso")).args(["-indev"]).arg(iso).args([
        "-find",
        path,
        "-exec",
        "report_lba",
    ]));
    // "Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path"
    // "File data lba:  0 ,      37 ,       49 ,   100452 , '/efi/...'"
    let line = out.lines().find(|l| l.starts_with("File data lba:")).unwrap_or_else(|| {
        panic!("xorriso reports no data of {path}:\n{out}");
    });
    line.split(',').nth(1).unwrap().trim().parse().unwrap()
}

fn make_iso(dir: &Path, root: &Path, name: &str, eltorito: &[&str]) -> PathBuf {
    let iso = dir.join(name);
    run(Command::new(find_tool("genisoimage"))
        .args(["-quiet", "-input-charset", "utf-8", "-udf", "-J", "-V", "CCCOMA_X64FRE"])
        .args(eltorito)
        .arg("-o")
        .arg(&iso)
        .arg(root));
    iso
}

/// Capture `root`'s boot.wim again from the WinPE tree [`iso_tree`] left beside it
/// (`root.pe`), after a test changed that tree.
fn recapture_boot_wim(root: &Path, name: &str, compress: &str) {
    let wim = root.join(WIM_PATH);
    std::fs::remove_file(&wim).unwrap();
    run(Command::new(find_tool("wimcapture"))
        .arg(root.with_extension("pe"))
        .arg(&wim)
        .arg(name)
        .arg(format!("--compress={compress}"))
        .arg("--boot"));
}

#[test]
fn the_press_any_key_prompt_is_skipped_in_uefi_and_bios() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("iso");
    iso_tree(&root, "XPRESS");
    let eltorito = prompting_boot_files(&root, true);
    let iso = make_iso(dir.path(), &root, "prompt.iso", &eltorito);
    let original = std::fs::read(&iso).unwrap();
    let before = el_torito_images(&iso);
    let efisys = xorriso_lba(&iso, "/efi/microsoft/boot/efisys.bin");
    let noprompt = xorriso_lba(&iso, "/efi/microsoft/boot/efisys_noprompt.bin");
    let uefi_before = before.iter().find(|i| i.0 == "UEFI").unwrap();
    assert_eq!(uefi_before.2, efisys, "genisoimage's EFI entry: {before:?}");

    let (served, plan) = serve(&original, "XPRESS");
    assert!(matches!(&plan.uefi_prompt, windows_iso::Prompt::Skipped(_)), "{:?}", plan.uefi_prompt);
    assert!(matches!(&plan.bios_prompt, windows_iso::Prompt::Skipped(_)), "{:?}", plan.bios_prompt);
    eprintln!("UEFI: {}\nBIOS: {}", plan.uefi_prompt, plan.bios_prompt);
    let virt = dir.path().join("virtual.iso");
    std::fs::write(&virt, &served).unwrap();

    // UEFI: the EFI entry loads efisys_noprompt.bin, its whole size in 512-byte sectors; the
    // BIOS entry is unchanged.
    let after = el_torito_images(&virt);
    eprintln!("El Torito before {before:?}, after {after:?}");
    let uefi = after.iter().find(|i| i.0 == "UEFI").unwrap();
    assert_eq!(uefi.2, noprompt, "the EFI entry after: {after:?}");
    assert_eq!(uefi.1, (96 * 1024 + 100u32).div_ceil(512), "{after:?}");
    assert_eq!(xorriso_lba(&virt, "/efi/microsoft/boot/efisys_noprompt.bin"), noprompt);
    let bios_before = before.iter().find(|i| i.0 == "BIOS").unwrap();
    assert_eq!(after.iter().find(|i| i.0 == "BIOS").unwrap(), bios_before);

    // BIOS: bootfix.bin is under its name in no tree; its bytes are still there as bootfix.off.
    for (tree, args) in [("ISO 9660", &["-f"][..]), ("Joliet", &["-J", "-f"][..])] {
        let listing = run(Command::new(find_tool("isoinfo")).args(args).arg("-i").arg(&virt));
        let lower = listing.to_ascii_lowercase();
        assert!(!lower.contains("bootfix.bin"), "{tree}: bootfix.bin still listed:\n{listing}");
        assert!(lower.contains("/boot/bootfix.off"), "{tree}: no bootfix.off:\n{listing}");
        assert!(lower.contains("/boot/etfsboot.com"), "{tree}:\n{listing}");
    }
    let by_7z = dir.path().join("7z");
    run(Command::new(find_tool("7z"))
        .args(["x", "-tudf", "-y"])
        .arg(format!("-o{}", by_7z.display()))
        .arg(&virt));
    assert!(!by_7z.join("boot/bootfix.bin").exists(), "UDF: bootfix.bin still there");
    assert_eq!(std::fs::read(by_7z.join("boot/bootfix.off")).unwrap(), pattern(23, 1024));
    let by_xorriso = dir.path().join("xorriso");
    run(Command::new(find_tool("xorriso"))
        .args(["-osirrox", "on", "-indev"])
        .arg(&virt)
        .args(["-extract", "/boot"])
        .arg(&by_xorriso));
    assert!(!by_xorriso.join("bootfix.bin").exists());
    assert_eq!(std::fs::read(by_xorriso.join("bootfix.off")).unwrap(), pattern(23, 1024));
    let mut dev = MemDevice::from_vec(served.clone());
    let vol = udf::probe(&mut dev).unwrap();
    assert!(vol.lookup(&mut dev, "boot/bootfix.bin").is_err(), "core's UDF reader finds it");
    assert!(vol.lookup(&mut dev, "boot/bootfix.off").is_ok());
    let info = run(Command::new(find_tool("udfinfo")).arg(&virt));
    assert!(info.contains("label=CCCOMA_X64FRE"), "{info}");
}

#[test]
fn without_efisys_noprompt_the_efi_entry_is_kept_and_the_prompt_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("iso");
    iso_tree(&root, "XPRESS");
    let eltorito = prompting_boot_files(&root, false);
    let iso = make_iso(dir.path(), &root, "prompt.iso", &eltorito);
    let original = std::fs::read(&iso).unwrap();
    let (served, plan) = serve(&original, "XPRESS");
    assert!(matches!(&plan.uefi_prompt, windows_iso::Prompt::Shown(_)), "{:?}", plan.uefi_prompt);
    assert!(
        matches!(&plan.bios_prompt, windows_iso::Prompt::NotPresent(_)),
        "{:?}",
        plan.bios_prompt
    );
    let virt = dir.path().join("virtual.iso");
    std::fs::write(&virt, &served).unwrap();
    assert_eq!(el_torito_images(&virt), el_torito_images(&iso));
}

/// A SYSTEM hive (core's writer) whose `Setup\CmdLine` is `cmdline`.
fn system_hive(cmdline: &str) -> Vec<u8> {
    use polyboot_core::regf::{Hive, Value};
    let mut hive = Hive::new("ROOT");
    let setup = hive.root.create_path("Setup", 0x01d9_0000_0000_0000).unwrap();
    setup.set_value(Value::sz("CmdLine", cmdline));
    setup.set_value(Value::dword("SetupType", 0));
    hive.root.create_path("ControlSet001\\Control", 0).unwrap();
    hive.to_bytes().unwrap()
}

#[test]
fn a_pe_whose_setup_cmdline_runs_pecmd_gets_the_jump_program_in_pecmd() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("iso");
    let shell = iso_tree(&root, "LZX");
    // The same tree again, with a SYSTEM hive naming pecmd.exe and pecmd.exe itself.
    let pe = root.with_extension("pe");
    let sys = pe.join("Windows/System32");
    let pecmd = pattern(31, 150_000);
    std::fs::write(sys.join("pecmd.exe"), &pecmd).unwrap();
    let cmdline = "X:\\Windows\\System32\\pecmd.exe X:\\pecmd.ini";
    let hive = system_hive(cmdline);
    std::fs::create_dir_all(sys.join("config")).unwrap();
    std::fs::write(sys.join("config/SYSTEM"), &hive).unwrap();
    // hivexget (libhivex) reads the value from core's hive.
    let got = run(Command::new(find_tool("hivexget"))
        .arg(sys.join("config/SYSTEM"))
        .arg("\\Setup")
        .arg("CmdLine"));
    assert_eq!(got.trim(), cmdline);
    recapture_boot_wim(&root, "Custom PE (x64)", "LZX");
    let iso = make_iso(dir.path(), &root, "pecmd.iso", &[]);
    let (served, plan) = serve(&std::fs::read(&iso).unwrap(), "LZX");
    assert_eq!(plan.shell.path, "/Windows/System32/pecmd.exe", "{:?}", plan.shell);
    assert_eq!(plan.shell.cmdline.as_deref(), Some(cmdline));
    assert_eq!(plan.shell.note, None);
    assert_eq!(plan.patch.original_file, pecmd);

    let virt = dir.path().join("virtual.iso");
    std::fs::write(&virt, &served).unwrap();
    let by_7z = dir.path().join("7z");
    run(Command::new(find_tool("7z"))
        .args(["x", "-tudf", "-y"])
        .arg(format!("-o{}", by_7z.display()))
        .arg(&virt));
    let wim = by_7z.join(WIM_PATH);
    run(Command::new(find_tool("wimverify")).arg(&wim));
    let applied = dir.path().join("applied");
    run(Command::new(find_tool("wimapply")).arg(&wim).arg("1").arg(&applied));
    let mut jump = b"MZ polyboot jump program stand-in ".to_vec();
    jump.extend_from_slice(&pecmd);
    let sys = applied.join("Windows/System32");
    assert!(std::fs::read(sys.join("pecmd.exe")).unwrap() == jump, "pecmd.exe is not the carrier");
    assert!(std::fs::read(sys.join("winpeshl.exe")).unwrap() == shell, "winpeshl.exe changed");
    assert!(std::fs::read(sys.join("config/SYSTEM")).unwrap() == hive, "the hive changed");
    // wimextract agrees on the one file.
    let out = dir.path().join("extracted");
    run(Command::new(find_tool("wimextract"))
        .arg(&wim)
        .arg("1")
        .arg("/Windows/System32/pecmd.exe")
        .arg(format!("--dest-dir={}", out.display())));
    assert!(std::fs::read(out.join("pecmd.exe")).unwrap() == jump);
}

#[test]
fn a_cmdline_naming_the_default_or_a_missing_program_keeps_winpeshl() {
    for (cmdline, note) in [
        ("winpeshl.exe", false),
        ("X:\\sources\\setup.exe", false),
        ("X:\\Windows\\System32\\missing.exe /x", true),
        ("cmd.exe /c X:\\start.cmd", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("iso");
        iso_tree(&root, "XPRESS");
        let pe = root.with_extension("pe");
        let config = pe.join("Windows/System32/config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("SYSTEM"), system_hive(cmdline)).unwrap();
        recapture_boot_wim(&root, "PE", "XPRESS");
        let iso = make_iso(dir.path(), &root, "pe.iso", &[]);
        let (_, plan) = serve(&std::fs::read(&iso).unwrap(), "XPRESS");
        assert_eq!(plan.shell.path, "/Windows/System32/winpeshl.exe", "{cmdline}");
        assert_eq!(plan.shell.cmdline.as_deref(), Some(cmdline));
        assert_eq!(plan.shell.note.is_some(), note, "{cmdline}: {:?}", plan.shell.note);
    }
}

/// A PE header stub whose machine field is `machine`: what wimlib reads from
/// `Windows\System32\kernel32.dll` to write the image's `ARCH`.
fn kernel32_stub(machine: u16) -> Vec<u8> {
    let mut b = vec![0u8; 1024];
    b[..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    b[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
    b
}

#[test]
fn a_32_bit_winpe_gets_the_x86_jump_program_and_an_arm_one_a_clear_error() {
    for (machine, arch) in [(0x014c_u16, "x86"), (0xaa64, "arm64")] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("iso");
        iso_tree(&root, "XPRESS");
        let pe = root.with_extension("pe");
        std::fs::write(pe.join("Windows/System32/kernel32.dll"), kernel32_stub(machine)).unwrap();
        recapture_boot_wim(&root, "Microsoft Windows PE", "XPRESS");
        let wim = root.join(WIM_PATH);
        // wimlib's own reading of the architecture it wrote.
        let info = run(Command::new(find_tool("wiminfo")).arg(&wim).arg("1"));
        assert!(
            info.lines().any(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words.len() == 2
                    && words[0] == "Architecture:"
                    && words[1].eq_ignore_ascii_case(arch)
            }),
            "{info}"
        );
        let iso = make_iso(dir.path(), &root, "pe.iso", &[]);
        let mut dev = MemDevice::from_vec(std::fs::read(&iso).unwrap());
        let size = dev.size();
        let mut asked = None;
        let plan = windows_iso::plan(&mut dev, size, 64 << 20, |a, s| {
            asked = Some(a);
            s.to_vec()
        });
        match arch {
            "x86" => {
                let plan = plan.unwrap();
                assert_eq!(plan.arch, windows_iso::JumpArch::X86);
                assert_eq!(asked, Some(windows_iso::JumpArch::X86));
                assert_eq!(windows_iso::winpe_arch(&mut dev).unwrap(), windows_iso::JumpArch::X86);
            }
            _ => {
                let err = plan.unwrap_err().to_string();
                assert_eq!(
                    err,
                    "its Windows PE is arm64: polyboot's jump program runs in x64 and x86 Windows PE only"
                );
                assert_eq!(asked, None, "no jump program is made for arm64");
            }
        }
    }
}
