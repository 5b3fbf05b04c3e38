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
    let jump = |shell: &[u8]| {
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
    let err = windows_iso::plan(&mut dev, size, 64 << 20, |s| s.to_vec()).unwrap_err();
    assert_eq!(err.to_string(), "no WinPE image: /sources/boot.wim is not on the ISO");
}
