//! Bare WinPE WIMs served as a synthetic virtual CD (`polyboot_core::winpe_medium`), checked
//! by independent tools. A WinPE-shaped tree with stand-ins at the real paths
//! (`Windows/Boot/EFI/bootmgfw.efi` = iPXE's EFI binary, a valid PE; `bootmgr`,
//! `etfsboot.com`, `boot.sdi` = pattern bytes) is captured by `wimcapture --boot` (XPRESS and
//! LZX), planned, applied to a virtual medium whose image is the WIM, and the whole medium is
//! read through `VirtualMedium::read` into a file; then:
//! - `xorriso -find` lists exactly the planned files (Rock Ridge-less primary tree and Joliet)
//!   and `xorriso -extract` / `isoinfo -x` give every file byte-identical (the WIM identical
//!   to the source WIM, the boot files identical to the stand-ins);
//! - `isoinfo -d` sees the Joliet descriptor and the El Torito boot record, `isoinfo -l` the
//!   ISO 9660 names;
//! - `xorriso -report_el_torito plain` shows a BIOS no-emulation entry at etfsboot.com and an
//!   UEFI entry at the FAT image;
//! - mtools (`mdir`, `mcopy`) read the EFI image: `EFI/BOOT/BOOTX64.EFI` is the stand-in,
//!   `EFI/Microsoft/Boot/BCD` the ISO's BCD;
//! - `hivexsh` reads both BCDs: the loader's device and osdevice name `\sources\boot.wim`,
//!   its path is winload.efi / winload.exe, and the ramdisk options name `\boot\boot.sdi`;
//! - a WIM without the EFI files boots BIOS only (and vice versa), one with neither is
//!   refused with the reason.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use polyboot_core::block::MemDevice;
use polyboot_core::virtual_medium::{Extent, VirtualMedium};
use polyboot_core::winpe_medium::{self, WinPeMedium, WinPeMediumOptions};
use polyboot_tests::{find_tool, pattern, run_tool, xorriso};

const EFI_STAND_IN: &str = "/usr/lib/ipxe/ipxe.efi";

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Full,
    EfiOnly,
    BiosOnly,
    Neither,
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    wim: PathBuf,
    bootmgfw: Vec<u8>,
    bootmgr: Vec<u8>,
    etfsboot: Vec<u8>,
    sdi: Vec<u8>,
}

fn capture(shape: Shape, compress: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pe");
    let bootmgfw = std::fs::read(EFI_STAND_IN).expect("ipxe (Debian package) provides ipxe.efi");
    let bootmgr = pattern(21, 400_000);
    let etfsboot = pattern(22, 4096);
    let sdi = pattern(23, 3 * 1024 * 1024);
    let mut files: Vec<(&str, &[u8])> = vec![
        ("Windows/Boot/DVD/PCAT/boot.sdi", &sdi),
        ("Windows/System32/winpeshl.exe", b"MZ shell stand-in"),
    ];
    if matches!(shape, Shape::Full | Shape::EfiOnly) {
        files.push(("Windows/Boot/EFI/bootmgfw.efi", &bootmgfw));
    }
    if matches!(shape, Shape::Full | Shape::BiosOnly) {
        files.push(("Windows/Boot/PCAT/bootmgr", &bootmgr));
        files.push(("Windows/Boot/DVD/PCAT/etfsboot.com", &etfsboot));
    }
    for (p, b) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    }
    let wim = dir.path().join("winpe.wim");
    run_tool(
        Command::new(find_tool("wimcapture"))
            .arg(&root)
            .arg(&wim)
            .arg("Microsoft Windows PE (amd64)")
            .arg(format!("--compress={compress}"))
            .arg("--boot"),
    )
    .unwrap();
    let d = dir.path().to_path_buf();
    Fixture { _dir: dir, dir: d, wim, bootmgfw, bootmgr, etfsboot, sdi }
}

/// Plan, apply, and read the whole medium into `medium.iso`.
fn serve(f: &Fixture) -> Result<(WinPeMedium, PathBuf), String> {
    let wim = std::fs::read(&f.wim).unwrap();
    let len = wim.len() as u64;
    let mut dev = MemDevice::from_vec(wim);
    let plan = winpe_medium::plan(&mut dev, len, &WinPeMediumOptions::default())
        .map_err(|e| e.to_string())?;
    let mut medium =
        VirtualMedium::new(2048, len, 0, vec![Extent { file_offset: 0, device_offset: 0, len }])
            .unwrap();
    plan.apply(&mut medium).unwrap();
    let mut out = vec![0u8; medium.size() as usize];
    medium.read(&mut dev, 0, &mut out).unwrap();
    let iso = f.dir.join("medium.iso");
    std::fs::write(&iso, out).unwrap();
    Ok((plan, iso))
}

/// Every data file xorriso lists in the tree it reads after `pre`.
fn listed(iso: &Path, pre: &[&str]) -> BTreeSet<String> {
    let mut args = pre.to_vec();
    args.extend(["-indev", iso.to_str().unwrap(), "-find", "/", "-type", "f"]);
    xorriso(&args)
        .lines()
        .map(|l| l.trim().trim_matches('\'').to_string())
        .filter(|l| l.starts_with('/'))
        .collect()
}

fn extract_all(iso: &Path, out: &Path, pre: &[&str]) {
    let mut args = pre.to_vec();
    args.extend(["-osirrox", "on", "-indev", iso.to_str().unwrap(), "-extract", "/"]);
    args.push(out.to_str().unwrap());
    xorriso(&args);
}

/// A value's bytes as `hivexsh lsval` prints `hex(N):aa,bb,...`.
fn hex_value(line: &str) -> Vec<u8> {
    let (_, hex) = line.split_once("):").unwrap_or_else(|| panic!("not hex: {line}"));
    hex.split(',').filter(|b| !b.is_empty()).map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

fn hivexsh(hive: &Path, script: &str) -> String {
    let file = hive.with_extension("hivexsh");
    std::fs::write(&file, script).unwrap();
    run_tool(Command::new(find_tool("hivexsh")).arg("-f").arg(&file).arg(hive)).unwrap()
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The loader object of a WinPE store, read by hivexsh: its device and osdevice name the
/// WIM, its path is `winload`, and the ramdisk options name the SDI file.
fn check_bcd(hive: &Path, winload: &str) {
    let keys = hivexsh(hive, "cd \\Objects\nls\n");
    let loader = keys
        .lines()
        .map(str::trim)
        .find(|k| {
            !k.is_empty()
                && !k.eq_ignore_ascii_case("{9dea862c-5cdd-4e70-acc1-f32b344d4795}")
                && !k.eq_ignore_ascii_case("{ae5534e0-a924-466c-b836-758539a3ee3a}")
        })
        .unwrap_or_else(|| panic!("no loader object in {keys}"));
    let element = |object: &str, id: &str| {
        let out = hivexsh(hive, &format!("cd \\Objects\\{object}\\Elements\\{id}\nlsval\n"));
        out.lines()
            .find_map(|l| l.strip_prefix("\"Element\"="))
            .unwrap_or_else(|| panic!("no element {id} of {object}: {out}"))
            .to_string()
    };
    for id in ["11000001", "21000001"] {
        let blob = hex_value(&element(loader, id));
        assert!(contains(&blob, &utf16("\\sources\\boot.wim")), "{id}: {blob:02x?}");
        // The {ramdiskoptions} GUID in its on-disk byte order leads the blob.
        assert_eq!(&blob[..4], &[0xe0, 0x34, 0x55, 0xae]);
    }
    let path = element(loader, "12000002");
    assert!(path.to_ascii_lowercase().contains(winload), "{path}");
    let sdi = element("{ae5534e0-a924-466c-b836-758539a3ee3a}", "32000004");
    assert!(sdi.contains("\\\\boot\\\\boot.sdi") || sdi.contains("\\boot\\boot.sdi"), "{sdi}");
}

fn check(compress: &str) {
    let f = capture(Shape::Full, compress);
    let (plan, iso) = serve(&f).unwrap();
    assert!(plan.uefi && plan.bios, "{compress}: {:?}", plan.missing);
    assert_eq!(plan.bcd_wim_path, "\\sources\\boot.wim");
    assert_eq!(plan.sdi_source, "/Windows/Boot/DVD/PCAT/boot.sdi");

    // The files, as planned, in both trees.
    let want: BTreeSet<String> = plan.files.iter().map(|f| f.path.to_ascii_lowercase()).collect();
    let joliet: BTreeSet<String> =
        listed(&iso, &["-read_fs", "norock"]).into_iter().map(|p| p.to_ascii_lowercase()).collect();
    assert_eq!(joliet, want, "{compress}: Joliet tree");
    let primary = listed(&iso, &["-read_fs", "ecma119"]);
    let primary: BTreeSet<String> = primary
        .into_iter()
        .map(|p| p.trim_end_matches(";1").trim_end_matches('.').to_ascii_lowercase())
        .collect();
    assert_eq!(primary, want, "{compress}: ISO 9660 tree");

    // Every file byte-identical, through xorriso's extraction (Joliet names).
    let out = f.dir.join("x");
    extract_all(&iso, &out, &["-read_fs", "norock"]);
    let read = |p: &str| std::fs::read(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let wim = std::fs::read(&f.wim).unwrap();
    assert!(read("sources/boot.wim") == wim, "{compress}: the WIM differs");
    assert_eq!(read("bootmgr"), f.bootmgr);
    assert_eq!(read("boot/etfsboot.com"), f.etfsboot);
    assert_eq!(read("boot/boot.sdi"), f.sdi);
    for file in &plan.files {
        let got = read(file.path.trim_start_matches('/'));
        assert_eq!(got.len() as u64, file.len, "{}", file.path);
    }

    // isoinfo: descriptors, names, extraction through the primary tree.
    let isoinfo = |args: &[&str]| {
        run_tool(Command::new(find_tool("isoinfo")).args(args).arg("-i").arg(&iso)).unwrap()
    };
    let d = isoinfo(&["-d"]);
    assert!(d.contains("Joliet with UCS level 3 found"), "{d}");
    assert!(d.contains("El Torito VD version 1 found"), "{d}");
    let l = isoinfo(&["-l"]);
    for name in
        ["BOOTMGR.;1", "BCD.;1", "BOOT.SDI;1", "ETFSBOOT.COM;1", "BOOT.WIM;1", "EFISYS.BIN;1"]
    {
        assert!(l.contains(name), "{name} not in isoinfo -l:\n{l}");
    }
    for (path, bytes) in [("/BOOTMGR.;1", &f.bootmgr), ("/BOOT/BOOT.SDI;1", &f.sdi)] {
        let out = Command::new(find_tool("isoinfo")).args(["-x", path, "-i"]).arg(&iso).output();
        assert!(&out.unwrap().stdout == bytes, "isoinfo -x {path}");
    }
    let joliet_wim = Command::new(find_tool("isoinfo"))
        .args(["-J", "-x", "/sources/boot.wim", "-i"])
        .arg(&iso)
        .output()
        .unwrap();
    assert!(joliet_wim.stdout == wim, "isoinfo -J -x boot.wim");

    // El Torito.
    let report = xorriso(&["-indev", iso.to_str().unwrap(), "-report_el_torito", "plain"]);
    let imgs: Vec<&str> =
        report.lines().filter(|l| l.starts_with("El Torito boot img :")).collect();
    assert_eq!(imgs.len(), 2, "{report}");
    assert!(imgs[0].contains("BIOS") && imgs[0].contains(" none "), "{report}");
    assert!(imgs[1].contains("UEFI") && imgs[1].contains(" none "), "{report}");
    let etfs_lba = plan.file("/boot/etfsboot.com").unwrap().lba;
    let efi = plan.file("/EFI/Microsoft/Boot/efisys.bin").unwrap();
    // Load sizes: etfsboot.com's 8 sectors, the whole FAT image.
    assert!(imgs[0].contains(" 8 "), "{report}");
    assert!(imgs[1].contains(&format!(" {} ", efi.len.div_ceil(512))), "{report}");
    assert!(report.contains("El Torito img path :   1  /boot/etfsboot.com"), "{report}");
    assert!(
        report.contains("El Torito img path :   2  /EFI/Microsoft/Boot/efisys.bin"),
        "{report}"
    );
    let lbas: Vec<&str> =
        report.lines().filter(|l| l.starts_with("El Torito boot img :")).collect();
    assert!(lbas[0].trim_end().ends_with(&format!(" {etfs_lba}")), "{report}");
    assert!(lbas[1].trim_end().ends_with(&format!(" {}", efi.lba)), "{report}");

    // The EFI image through mtools.
    let fat = out.join("EFI/Microsoft/Boot/efisys.bin");
    let mdir = run_tool(
        Command::new(find_tool("mdir"))
            .arg("-i")
            .arg(&fat)
            .arg("::/EFI/BOOT")
            .env("MTOOLS_SKIP_CHECK", "1"),
    )
    .unwrap();
    assert!(mdir.contains("BOOTX64  EFI") || mdir.contains("BOOTX64.EFI"), "{mdir}");
    let mcopy = |from: &str, to: &Path| {
        run_tool(
            Command::new(find_tool("mcopy"))
                .arg("-n")
                .arg("-i")
                .arg(&fat)
                .arg(from)
                .arg(to)
                .env("MTOOLS_SKIP_CHECK", "1"),
        )
        .unwrap();
        std::fs::read(to).unwrap()
    };
    assert_eq!(mcopy("::/EFI/BOOT/BOOTX64.EFI", &f.dir.join("bootx64.efi")), f.bootmgfw);
    let fat_bcd = mcopy("::/EFI/Microsoft/Boot/BCD", &f.dir.join("fat-bcd"));
    assert_eq!(fat_bcd, read("EFI/Microsoft/Boot/BCD"));

    // The stores, through hivexsh.
    check_bcd(&f.dir.join("fat-bcd"), "winload.efi");
    check_bcd(&out.join("boot/bcd"), "winload.exe");
}

#[test]
fn an_xpress_winpe_wim_is_served_as_a_cd_that_independent_tools_read() {
    check("XPRESS");
}

#[test]
fn an_lzx_winpe_wim_is_served_as_a_cd_that_independent_tools_read() {
    check("LZX");
}

#[test]
fn missing_boot_files_drop_that_firmware_and_none_is_refused() {
    for (shape, bios, uefi) in [(Shape::EfiOnly, false, true), (Shape::BiosOnly, true, false)] {
        let f = capture(shape, "XPRESS");
        let (plan, iso) = serve(&f).unwrap();
        assert_eq!((plan.bios, plan.uefi), (bios, uefi));
        let report = xorriso(&["-indev", iso.to_str().unwrap(), "-report_el_torito", "plain"]);
        let imgs: Vec<&str> =
            report.lines().filter(|l| l.starts_with("El Torito boot img :")).collect();
        assert_eq!(imgs.len(), 1, "{report}");
        assert!(imgs[0].contains(if bios { "BIOS" } else { "UEFI" }), "{report}");
        let names: Vec<&str> = plan.missing.iter().map(|m| m.wim_path).collect();
        let files = listed(&iso, &["-read_fs", "norock"]);
        if bios {
            assert_eq!(names, ["/Windows/Boot/EFI/bootmgfw.efi"]);
            assert!(files.contains("/bootmgr") && !files.iter().any(|p| p.contains("efisys")));
        } else {
            assert_eq!(
                names,
                ["/Windows/Boot/DVD/PCAT/etfsboot.com", "/Windows/Boot/PCAT/bootmgr"]
            );
            assert!(!files.contains("/bootmgr") && files.iter().any(|p| p.contains("efisys")));
        }
        let out = f.dir.join("x");
        extract_all(&iso, &out, &["-read_fs", "norock"]);
        assert!(
            std::fs::read(out.join("sources/boot.wim")).unwrap() == std::fs::read(&f.wim).unwrap()
        );
    }
    let f = capture(Shape::Neither, "LZX");
    let err = serve(&f).map(|(p, _)| p).expect_err("a WIM without boot files is refused");
    assert!(
        err.contains("neither the UEFI boot files nor the BIOS ones")
            && err.contains("/Windows/Boot/EFI/bootmgfw.efi")
            && err.contains("/Windows/Boot/PCAT/bootmgr"),
        "{err}"
    );
}
