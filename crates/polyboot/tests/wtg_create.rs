//! `polyboot wtg create`: synthetic Windows images (wimcapture: XPRESS, LZX, LZMS, solid) of a
//! fake Windows tree are written to image-file targets (GPT, MBR, VHD, VHDX), then checked
//! with independent tools only: `sfdisk` / `sgdisk` (layout), `fsck.fat` and mtools (ESP),
//! `ntfsls` / `ntfscat` (every file of the Windows partition), `hivexsh` / `hivexget` (BCD
//! objects, device blobs, SYSTEM policy), `wimverify`, `qemu-img` (VHD / VHDX).
//!
//! No Windows is booted: that needs a real Windows image. These tests need root (loop
//! devices, ntfs-3g FUSE mounts) and skip otherwise.

mod common;
use common::{run as polyboot, Cli};
use polyboot::device::SystemView;
use polyboot::wtg::create::{self, Container, CreateOptions};
use polyboot_core::bcd::{self, Device, Partition};
use polyboot_core::guid::Guid;
use polyboot_core::regf::{HiveBuilder, KeyNode, Value};
use polyboot_core::wtglayout::WtgScheme;
use polyboot_tests::fixtures::windows_shaped_iso;
use polyboot_tests::{find_tool, host_paths, ntfs_paths, pattern, run_tool};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

const MIB: u64 = 1 << 20;

/// A SYSTEM hive as Windows Setup leaves it, reduced to what the policy step touches.
fn system_hive() -> Vec<u8> {
    let mut root = KeyNode::new("ROOT");
    let sel = root.create_path("Select", 0).unwrap();
    sel.set_value(Value::dword("Current", 1));
    sel.set_value(Value::dword("Default", 1));
    root.create_path(r"ControlSet001\Control", 0)
        .unwrap()
        .set_value(Value::sz("SystemBootDevice", "multi(0)disk(0)rdisk(0)partition(1)"));
    root.create_path(r"ControlSet001\Services\partmgr\Parameters", 0).unwrap();
    HiveBuilder::new(root).build().unwrap()
}

fn software_hive() -> Vec<u8> {
    let mut root = KeyNode::new("ROOT");
    root.create_path(r"Microsoft\Windows\CurrentVersion", 0)
        .unwrap()
        .set_value(Value::expand_sz("DevicePath", r"%SystemRoot%\inf"));
    HiveBuilder::new(root).build().unwrap()
}

/// A fake installed Windows: the boot files the BCD step copies, a SYSTEM hive, a 1 MiB
/// pseudo-random file, an empty file, a hard link. `omit` leaves one file out.
fn fake_windows_tree(dir: &Path, omit: Option<&str>, software: bool) -> PathBuf {
    let root = dir.join("tree");
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("Windows/System32/ntoskrnl.exe", pattern(1, 1 << 20)),
        ("Windows/System32/winload.efi", pattern(2, 40_000)),
        ("Windows/System32/winload.exe", pattern(3, 30_000)),
        ("Windows/System32/config/SYSTEM", system_hive()),
        ("Windows/Boot/EFI/bootmgfw.efi", pattern(5, 50_000)),
        ("Windows/Boot/EFI/bootmgr.efi", pattern(6, 20_000)),
        ("Windows/Boot/EFI/en-US/bootmgfw.efi.mui", pattern(7, 3_000)),
        ("Windows/Boot/PCAT/bootmgr", pattern(8, 45_000)),
        ("Windows/Boot/PCAT/en-US/bootmgr.exe.mui", pattern(9, 2_000)),
        ("Windows/Boot/Fonts/wgl4_boot.ttf", pattern(10, 5_000)),
        ("Users/Public/readme.txt", b"portable workspace\n".to_vec()),
        ("Windows/Temp/empty.log", Vec::new()),
    ];
    if software {
        files.push(("Windows/System32/config/SOFTWARE", software_hive()));
    }
    for (path, data) in files {
        if Some(path) == omit {
            continue;
        }
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    std::fs::create_dir_all(root.join("ProgramData")).unwrap();
    if omit != Some("Windows/System32/winload.efi") {
        std::fs::hard_link(
            root.join("Windows/System32/winload.efi"),
            root.join("Windows/System32/winload-link.efi"),
        )
        .unwrap();
    }
    root
}

/// A one-image WIM of `tree`; `windows` adds the WINDOWS element an install.wim has.
fn make_wim(
    dir: &Path,
    tree: &Path,
    name: &str,
    compress: &str,
    solid: bool,
    windows: bool,
) -> PathBuf {
    let wim = dir.join(name);
    let mut cmd = Command::new(find_tool("wimcapture"));
    cmd.arg(tree).arg(&wim).arg("Windows 10 Pro").arg(format!("--compress={compress}"));
    if windows {
        for p in [
            "WINDOWS/EDITIONID=Professional",
            "WINDOWS/ARCH=9",
            "WINDOWS/VERSION/MAJOR=10",
            "WINDOWS/VERSION/MINOR=0",
            "WINDOWS/VERSION/BUILD=19045",
            "WINDOWS/LANGUAGES/DEFAULT=en-US",
        ] {
            cmd.args(["--image-property", p]);
        }
    }
    if solid {
        cmd.arg("--solid");
    }
    run_tool(&mut cmd).unwrap();
    run_tool(Command::new(find_tool("wimverify")).arg(&wim)).unwrap();
    wim
}

fn create_ok(args: &[&str]) -> Json {
    create_ok_with(Cli::new(), args)
}

fn create_ok_with(cli: Cli, args: &[&str]) -> Json {
    let mut a = vec!["wtg", "create"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--yes", "--json"]);
    let (ok, out, err) = cli.args(&a).run();
    assert!(ok, "wtg create {args:?} failed:\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn create_err(args: &[&str]) -> String {
    let mut a = vec!["wtg", "create"];
    a.extend_from_slice(args);
    a.push("--yes");
    let (ok, out, err) = polyboot(&a);
    assert!(!ok, "expected a failure, got:\n{out}");
    err
}

/// Bytes `[offset, offset + len)` of `img` copied to a new file (ntfs-3g tools and fsck.fat
/// take a whole file system).
fn extract(img: &Path, offset: u64, len: u64, out: &Path) -> PathBuf {
    let src = std::fs::File::open(img).unwrap();
    let dst = std::fs::File::create(out).unwrap();
    dst.set_len(len).unwrap();
    let mut buf = vec![0u8; 4 << 20];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        src.read_exact_at(&mut buf[..n], offset + at).unwrap();
        if buf[..n].iter().any(|&b| b != 0) {
            dst.write_all_at(&buf[..n], at).unwrap();
        }
        at += n as u64;
    }
    out.to_path_buf()
}

fn partition(report: &Json, role: &str) -> (u64, u64, Option<String>) {
    let p = report["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == role)
        .unwrap_or_else(|| panic!("no {role} partition in {report}"));
    (
        p["offset"].as_u64().unwrap(),
        p["size"].as_u64().unwrap(),
        p["guid"].as_str().map(str::to_string),
    )
}

fn ntfscat(img: &Path, path: &str) -> Vec<u8> {
    let out = Command::new(find_tool("ntfscat")).arg(img).arg(path).output().unwrap();
    assert!(out.status.success(), "ntfscat {path}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// [`polyboot_tests::hivexget`] without the trailing newline.
fn hivexget(hive: &Path, key: &str, value: &str) -> String {
    polyboot_tests::hivexget(hive, key, value).trim().to_string()
}

/// The `Element` value of one BCD element, as `hivexsh lsval` prints it (`hex(3):aa,bb,..`
/// or `"text"`).
fn bcd_element(hive: &Path, object: &str, element: u32) -> String {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s");
    std::fs::write(&script, format!("cd \\Objects\\{object}\\Elements\\{element:08x}\nlsval\n"))
        .unwrap();
    let out =
        run_tool(Command::new(find_tool("hivexsh")).arg("-f").arg(&script).arg(hive)).unwrap();
    out.lines()
        .find_map(|l| l.strip_prefix("\"Element\"="))
        .unwrap_or_else(|| panic!("no Element in {out}"))
        .to_string()
}

fn bcd_device(hive: &Path, object: &str, element: u32) -> Device {
    let shown = bcd_element(hive, object, element);
    let hex = shown.strip_prefix("hex(3):").unwrap_or_else(|| panic!("{shown}"));
    let blob: Vec<u8> = hex.split(',').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
    bcd::decode_device(&blob).unwrap()
}

/// The object keys under `\Objects` (hivexsh `ls`).
fn bcd_objects(hive: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s");
    std::fs::write(&script, "cd \\Objects\nls\n").unwrap();
    run_tool(Command::new(find_tool("hivexsh")).arg("-f").arg(&script).arg(hive))
        .unwrap()
        .lines()
        .map(str::to_string)
        .filter(|l| l.starts_with('{'))
        .collect()
}

const BOOTMGR_KEY: &str = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";

/// Check a BCD store read with hivex: two objects, their types, paths and devices.
fn check_bcd(store: &Path, boot: Partition, windows: Partition, uefi: bool) {
    let objects = bcd_objects(store);
    assert_eq!(objects.len(), 2, "{objects:?}");
    assert!(objects.iter().any(|o| o == BOOTMGR_KEY), "{objects:?}");
    let loader = objects.iter().find(|o| *o != BOOTMGR_KEY).unwrap().clone();
    assert_eq!(
        hivexget(store, &format!("\\Objects\\{BOOTMGR_KEY}\\Description"), "Type"),
        format!("{}", bcd::TYPE_BOOT_MANAGER)
    );
    assert_eq!(
        hivexget(store, &format!("\\Objects\\{loader}\\Description"), "Type"),
        format!("{}", bcd::TYPE_OS_LOADER)
    );
    assert_eq!(bcd_device(store, BOOTMGR_KEY, bcd::ELEM_DEVICE), Device::Partition(boot));
    assert_eq!(bcd_device(store, &loader, bcd::ELEM_DEVICE), Device::Partition(windows));
    assert_eq!(bcd_device(store, &loader, bcd::ELEM_OS_DEVICE), Device::Partition(windows));
    let winload = if uefi {
        r#""\\Windows\\system32\\winload.efi""#
    } else {
        r#""\\Windows\\system32\\winload.exe""#
    };
    assert_eq!(bcd_element(store, &loader, bcd::ELEM_PATH), winload);
    assert_eq!(bcd_element(store, &loader, bcd::ELEM_SYSTEM_ROOT), r#""\\Windows""#);
    // Recovery disabled.
    assert_eq!(bcd_element(store, &loader, bcd::ELEM_RECOVERY_ENABLED), "hex(3):00");
}

/// Everything about a written GPT or MBR target, from the raw disk image `img`.
fn check_target(dir: &Path, img: &Path, report: &Json, tree: &Path, mbr: bool, offline: bool) {
    // Layout, as sfdisk sees it.
    let sf: Json = serde_json::from_str(
        &run_tool(Command::new(find_tool("sfdisk")).arg("--json").arg(img)).unwrap(),
    )
    .unwrap();
    let table = &sf["partitiontable"];
    let parts = table["partitions"].as_array().unwrap();
    let (esp_off, esp_len, esp_guid) = partition(report, "esp");
    let (win_off, win_len, win_guid) = partition(report, "windows");
    let windows_part;
    let esp_part;
    if mbr {
        assert_eq!(table["label"], "dos");
        let sig = report["mbr_signature"].as_str().unwrap();
        assert_eq!(table["id"].as_str().unwrap(), format!("0x{sig}"));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0]["type"], "7");
        assert_eq!(parts[0]["bootable"], true);
        assert_eq!(parts[0]["start"].as_u64().unwrap() * 512, win_off);
        assert_eq!(parts[0]["size"].as_u64().unwrap() * 512, win_len);
        assert_eq!(parts[1]["type"], "ef");
        assert_eq!(parts[1]["start"].as_u64().unwrap() * 512, esp_off);
        let signature = u32::from_str_radix(sig, 16).unwrap();
        windows_part = Partition::Mbr { signature, offset: win_off };
        esp_part = Partition::Mbr { signature, offset: esp_off };
    } else {
        assert_eq!(table["label"], "gpt");
        let disk_guid = report["disk_guid"].as_str().unwrap();
        assert!(table["id"].as_str().unwrap().eq_ignore_ascii_case(disk_guid));
        assert_eq!(parts.len(), 3);
        let types = [
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "E3C9E316-0B5C-4DB8-817D-F92DF00215AE",
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
        ];
        for (p, t) in parts.iter().zip(types) {
            assert!(p["type"].as_str().unwrap().eq_ignore_ascii_case(t), "{p}");
        }
        assert_eq!(parts[0]["start"].as_u64().unwrap(), 2048);
        assert_eq!(parts[0]["size"].as_u64().unwrap() * 512, 260 * MIB);
        assert_eq!(parts[1]["size"].as_u64().unwrap() * 512, 128 * MIB);
        assert_eq!(parts[2]["start"].as_u64().unwrap() * 512, win_off);
        assert!(parts[2]["uuid"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(win_guid.as_deref().unwrap()));
        assert!(parts[0]["uuid"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(esp_guid.as_deref().unwrap()));
        // sgdisk: the ESP's "no drive letter" attribute and a clean table.
        let info = run_tool(Command::new(find_tool("sgdisk")).args(["-i", "1"]).arg(img)).unwrap();
        assert!(info.contains("Attribute flags: 8000000000000000"), "{info}");
        assert!(info.contains("EFI system partition"), "{info}");
        let verify = run_tool(Command::new(find_tool("sgdisk")).arg("-v").arg(img)).unwrap();
        assert!(verify.contains("No problems found"), "{verify}");
        let disk = Guid::parse(disk_guid).unwrap();
        windows_part =
            Partition::Gpt { disk, partition: Guid::parse(win_guid.as_deref().unwrap()).unwrap() };
        esp_part =
            Partition::Gpt { disk, partition: Guid::parse(esp_guid.as_deref().unwrap()).unwrap() };
    }

    // The ESP: a clean FAT32 (fsck.fat), and the boot files (mtools on the disk image).
    let esp = extract(img, esp_off, esp_len, &dir.join("esp.fat"));
    let fsck = run_tool(Command::new(find_tool("fsck.fat")).arg("-n").arg(&esp)).unwrap();
    assert!(!fsck.contains("differ") && !fsck.contains("Dirty"), "{fsck}");
    let mut bs = [0u8; 512];
    std::fs::File::open(&esp).unwrap().read_exact_at(&mut bs, 0).unwrap();
    assert_eq!(&bs[82..87], b"FAT32");
    assert_eq!(
        u32::from_le_bytes(bs[28..32].try_into().unwrap()) as u64,
        esp_off / 512,
        "ESP hidden sectors"
    );
    let at = format!("{}@@{esp_off}", img.display());
    let mdir =
        run_tool(Command::new(find_tool("mdir")).args(["-i", &at, "-/", "-b", "::/"])).unwrap();
    for f in [
        "::/EFI/Boot/BOOTX64.EFI",
        "::/EFI/Microsoft/Boot/BCD",
        "::/EFI/Microsoft/Boot/bootmgfw.efi",
        "::/EFI/Microsoft/Boot/en-US/bootmgfw.efi.mui",
        "::/EFI/Microsoft/Boot/Fonts/wgl4_boot.ttf",
    ] {
        assert!(mdir.lines().any(|l| l.eq_ignore_ascii_case(f)), "{f} not in\n{mdir}");
    }
    let mtype = |path: &str| {
        let out = Command::new(find_tool("mtype")).args(["-i", &at, path]).output().unwrap();
        assert!(out.status.success());
        out.stdout
    };
    assert_eq!(mtype("::/EFI/Boot/BOOTX64.EFI"), pattern(5, 50_000));
    assert_eq!(mtype("::/EFI/Microsoft/Boot/bootmgfw.efi"), pattern(5, 50_000));
    assert_eq!(mtype("::/EFI/Microsoft/Boot/bootmgr.efi"), pattern(6, 20_000));
    let bcd_uefi = dir.join("BCD.uefi");
    run_tool(
        Command::new(find_tool("mcopy"))
            .args(["-n", "-i", &at, "::/EFI/Microsoft/Boot/BCD"])
            .arg(&bcd_uefi),
    )
    .unwrap();
    check_bcd(&bcd_uefi, esp_part, windows_part, true);

    // The Windows partition: NTFS whose boot sector knows where it starts, holding the
    // tree file for file (ntfsls / ntfscat), plus what wtg create adds.
    let ntfs = extract(img, win_off, win_len, &dir.join("windows.ntfs"));
    let mut bs = [0u8; 512];
    std::fs::File::open(&ntfs).unwrap().read_exact_at(&mut bs, 0).unwrap();
    assert_eq!(&bs[3..11], b"NTFS    ");
    assert_eq!(
        u32::from_le_bytes(bs[28..32].try_into().unwrap()) as u64,
        win_off / 512,
        "NTFS hidden sectors"
    );
    let mut expected = host_paths(tree);
    if mbr {
        for p in [
            "/bootmgr",
            "/Boot",
            "/Boot/BCD",
            "/Boot/en-US",
            "/Boot/en-US/bootmgr.exe.mui",
            "/Boot/Fonts",
            "/Boot/Fonts/wgl4_boot.ttf",
        ] {
            expected.insert(p.to_string());
        }
    }
    let extra: BTreeSet<String> = ntfs_paths(&ntfs).difference(&expected).cloned().collect();
    let missing: BTreeSet<String> = expected.difference(&ntfs_paths(&ntfs)).cloned().collect();
    let extra: BTreeSet<String> = extra
        .into_iter()
        .filter(|p| {
            !p.starts_with("/Windows/Panther") && !p.starts_with("/Windows/polyboot-drivers")
        })
        .collect();
    assert!(extra.is_empty() && missing.is_empty(), "extra {extra:?}, missing {missing:?}");
    for p in host_paths(tree) {
        let host = tree.join(p.trim_start_matches('/'));
        if host.is_file() && !p.ends_with("config/SYSTEM") && !p.ends_with("config/SOFTWARE") {
            assert_eq!(ntfscat(&ntfs, &p), std::fs::read(&host).unwrap(), "{p}");
        }
    }
    let info = run_tool(
        Command::new(find_tool("ntfsinfo"))
            .args(["-F", "/Windows/System32/winload.efi"])
            .arg(&ntfs),
    )
    .unwrap();
    assert!(info.contains("Number of Hard Links:\t 2 (0x2)"), "hard link lost:\n{info}");

    // The SYSTEM hive: the Windows To Go policy, read by hivex.
    let system = dir.join("SYSTEM");
    std::fs::write(&system, ntfscat(&ntfs, "/Windows/System32/config/SYSTEM")).unwrap();
    assert_eq!(hivexget(&system, r"\ControlSet001\Control", "PortableOperatingSystem"), "1");
    let san = Command::new(find_tool("hivexget"))
        .arg(&system)
        .arg(r"\ControlSet001\Services\partmgr\Parameters")
        .arg("SanPolicy")
        .output()
        .unwrap();
    if offline {
        assert_eq!(String::from_utf8_lossy(&san.stdout).trim(), "4");
    } else {
        assert!(
            String::from_utf8_lossy(&san.stdout).trim().is_empty(),
            "SanPolicy set with --no-internal-disks-offline"
        );
    }
    // What was there stays.
    assert_eq!(
        hivexget(&system, r"\ControlSet001\Control", "SystemBootDevice"),
        "multi(0)disk(0)rdisk(0)partition(1)"
    );

    if mbr {
        assert_eq!(ntfscat(&ntfs, "/bootmgr"), pattern(8, 45_000));
        let bcd_bios = dir.join("BCD.bios");
        std::fs::write(&bcd_bios, ntfscat(&ntfs, "/Boot/BCD")).unwrap();
        check_bcd(&bcd_bios, windows_part, windows_part, false);
        // No Microsoft boot code is shipped: the MBR holds polyboot's stage 0, patched to load
        // the Windows To Go loader's stage 1 from LBA 1, when the loader was built; else zeros.
        let mut head = vec![0u8; 1024];
        std::fs::File::open(img).unwrap().read_exact_at(&mut head, 0).unwrap();
        let notes = report["notes"].to_string();
        if &head[416..420] == b"PBS0" {
            assert_eq!(u16::from_le_bytes([head[420], head[421]]), 512, "stage 0 sector size");
            assert_eq!(u64::from_le_bytes(head[432..440].try_into().unwrap()), 1, "stage 1 LBA");
            assert_eq!(&head[514..518], b"PBS1", "stage 1 in LBA 1");
            assert!(notes.contains("polyboot's own loader"), "{notes}");
        } else {
            assert!(head[..440].iter().all(|&b| b == 0));
            assert!(notes.contains("was not found"), "{notes}");
        }
    }
}

fn setup(compress: &str, solid: bool) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path(), None, false);
    let wim = make_wim(dir.path(), &tree, "install.wim", compress, solid, true);
    (dir, tree, wim)
}

#[test]
fn gpt_image_file_for_every_compression() {
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    for (compress, solid) in [("XPRESS", false), ("LZX", false), ("LZMS", false), ("LZMS", true)] {
        let (dir, tree, wim) = setup(compress, solid);
        let img = dir.path().join("wtg.img");
        let report = create_ok(&[
            wim.to_str().unwrap(),
            img.to_str().unwrap(),
            "--size",
            "512M",
            "--index",
            "1",
        ]);
        assert_eq!(report["written"], true);
        assert_eq!(report["scheme"], "gpt");
        assert!(report["applied_bytes"].as_u64().unwrap() > 1 << 20, "{report}");
        check_target(dir.path(), &img, &report, &tree, false, true);
        // wimlib agrees the source is intact.
        run_tool(Command::new(find_tool("wimverify")).arg(&wim)).unwrap();
    }
}

#[test]
fn mbr_image_file_bios_and_uefi() {
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    let (dir, tree, wim) = setup("XPRESS", false);
    let img = dir.path().join("wtg-mbr.img");
    // One edition: no --index needed.
    let report =
        create_ok(&[wim.to_str().unwrap(), img.to_str().unwrap(), "--size", "300M", "--mbr"]);
    assert_eq!(report["scheme"], "mbr");
    assert_eq!(report["firmware"], serde_json::json!(["uefi", "bios"]));
    assert!(report["notes"].to_string().contains("BIOS boot"), "{report}");
    check_target(dir.path(), &img, &report, &tree, true, true);
}

/// A 16-bit stand-in for BOOTMGR: checks that it runs at 2000:0000 with DL = 80h and an NTFS
/// boot sector at 0000:7C00 (the OEM ID "NTFS" at 7C03h), then prints a marker to COM1.
fn bootmgr_standin() -> Vec<u8> {
    let mut code: Vec<u8> = vec![
        0xFA, // 00 cli
        0x8C, 0xC8, // 01 mov ax, cs
        0x3D, 0x00, 0x20, // 03 cmp ax, 2000h
        0x75, 0x29, // 06 jne bad
        0xE8, 0x00, 0x00, // 08 call next
        0x58, // 0B next: pop ax (= 000Bh when loaded at offset 0)
        0x3D, 0x0B, 0x00, // 0C cmp ax, 000Bh
        0x75, 0x20, // 0F jne bad
        0x80, 0xFA, 0x80, // 11 cmp dl, 80h
        0x75, 0x1B, // 14 jne bad
        0x31, 0xC0, // 16 xor ax, ax
        0x8E, 0xC0, // 18 mov es, ax
        0x26, 0x81, 0x3E, 0x03, 0x7C, b'N', b'T', // 1A cmp word es:[7C03h], "NT"
        0x75, 0x0E, // 21 jne bad
        0x26, 0x81, 0x3E, 0x05, 0x7C, b'F', b'S', // 23 cmp word es:[7C05h], "FS"
        0x75, 0x05, // 2A jne bad
        0xBE, 0x46, 0x00, // 2C mov si, ok
        0xEB, 0x03, // 2F jmp print
        0xBE, 0x00, 0x00, // 31 bad: mov si, bad_msg (patched below)
        0x8C, 0xC8, // 34 print: mov ax, cs
        0x8E, 0xD8, // 36 mov ds, ax
        0xBA, 0xF8, 0x03, // 38 mov dx, 3F8h
        0xAC, // 3B next: lodsb
        0x84, 0xC0, // 3C test al, al
        0x74, 0x03, // 3E jz done
        0xEE, // 40 out dx, al
        0xEB, 0xF8, // 41 jmp next
        0xF4, // 43 done: hlt
        0xEB, 0xFD, // 44 jmp done
    ];
    assert_eq!(code.len(), 0x46);
    code.extend_from_slice(BOOTMGR_OK.as_bytes());
    code.extend_from_slice(b"\r\n\0");
    let bad = code.len() as u16;
    code[0x32..0x34].copy_from_slice(&bad.to_le_bytes());
    code.extend_from_slice(b"BOOTMGR-STANDIN: wrong load address, drive or boot sector\r\n\0");
    // Pad like a real bootmgr (hundreds of KiB, several NTFS runs) so the loader's whole-file
    // read and the copy to 2000:0000 over stage 1 are exercised.
    code.extend(pattern(11, 300_000));
    code
}

const BOOTMGR_OK: &str = "BOOTMGR-STANDIN dl=80 bpb=NTFS";

/// `wtg create --mbr` onto an image file, booted under SeaBIOS (TCG): polyboot's stage 0 →
/// the Windows To Go loader in the gap → `\bootmgr` from the NTFS partition at 2000:0000 with
/// DL = 80h and the partition's boot sector at 0000:7C00.
#[test]
fn mbr_image_starts_bootmgr_under_seabios() {
    use polyboot_tests::{Disk, Firmware, Vm, VmConfig};
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path(), None, false);
    std::fs::write(tree.join("Windows/Boot/PCAT/bootmgr"), bootmgr_standin()).unwrap();
    let wim = make_wim(dir.path(), &tree, "install.wim", "XPRESS", false, true);
    let img = dir.path().join("wtg-bios.img");
    // The built loader (artifacts::wtg_bios_code; the test fails when it is missing).
    let report = create_ok_with(
        Cli::new().wtg_bios(),
        &[wim.to_str().unwrap(), img.to_str().unwrap(), "--size", "300M", "--mbr"],
    );
    assert!(report["notes"].to_string().contains("polyboot's own loader"), "{report}");
    let mut vm = Vm::start(
        VmConfig::new("wtg-bios", Firmware::Bios)
            .disk(Disk::new(&img))
            .timeout(std::time::Duration::from_secs(240)),
    )
    .unwrap();
    vm.wait_for("polyboot-wtg-bios: starting \\bootmgr").unwrap();
    let t = vm.wait_for(BOOTMGR_OK).unwrap();
    eprintln!("wtg-bios: bootmgr stand-in ran after {t:?}\n{}", vm.serial_text());
}

#[test]
fn unattend_drivers_and_internal_disks_online() {
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path(), None, true);
    let wim = make_wim(dir.path(), &tree, "install.wim", "LZX", false, true);
    let unattend = dir.path().join("my-unattend.xml");
    std::fs::write(&unattend, b"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"/>\n")
        .unwrap();
    let drivers = dir.path().join("drivers");
    std::fs::create_dir_all(drivers.join("net")).unwrap();
    std::fs::write(drivers.join("net/e1000.inf"), b"[Version]\n").unwrap();
    std::fs::write(drivers.join("net/e1000.sys"), pattern(11, 9_000)).unwrap();
    let img = dir.path().join("wtg.img");
    let report = create_ok(&[
        wim.to_str().unwrap(),
        img.to_str().unwrap(),
        "--size",
        "512M",
        "--unattend",
        unattend.to_str().unwrap(),
        "--drivers",
        drivers.to_str().unwrap(),
        "--no-internal-disks-offline",
    ]);
    check_target(dir.path(), &img, &report, &tree, false, false);
    let (off, len, _) = partition(&report, "windows");
    let ntfs = extract(&img, off, len, &dir.path().join("w.ntfs"));
    assert_eq!(ntfscat(&ntfs, "/Windows/Panther/unattend.xml"), std::fs::read(&unattend).unwrap());
    assert_eq!(ntfscat(&ntfs, "/Windows/polyboot-drivers/net/e1000.inf"), b"[Version]\n");
    assert_eq!(ntfscat(&ntfs, "/Windows/polyboot-drivers/net/e1000.sys"), pattern(11, 9_000));
    let software = dir.path().join("SOFTWARE");
    std::fs::write(&software, ntfscat(&ntfs, "/Windows/System32/config/SOFTWARE")).unwrap();
    assert_eq!(
        hivexget(&software, r"\Microsoft\Windows\CurrentVersion", "DevicePath"),
        r"%SystemRoot%\inf;%SystemRoot%\polyboot-drivers"
    );
}

fn qemu_img(args: &[&str]) -> String {
    run_tool(Command::new(find_tool("qemu-img")).args(args)).unwrap()
}

#[test]
fn vhd_target() {
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    let (dir, tree, wim) = setup("LZX", false);
    let vhd = dir.path().join("wtg.vhd");
    let report =
        create_ok(&[wim.to_str().unwrap(), vhd.to_str().unwrap(), "--vhd", "--size", "512M"]);
    assert_eq!(report["container"], "vhd");
    // The size is rounded down to the CHS geometry's, so every VHD reader agrees on it.
    let disk = polyboot_core::vhd::chs_rounded_size(512 * MIB);
    assert!(disk <= 512 * MIB && disk > 511 * MIB);
    assert_eq!(report["disk_bytes"], disk);
    assert_eq!(std::fs::metadata(&vhd).unwrap().len(), disk + 512);
    assert!(!dir.path().join("wtg.vhd.partial").exists());
    let mut footer = [0u8; 512];
    std::fs::File::open(&vhd).unwrap().read_exact_at(&mut footer, disk).unwrap();
    let f = polyboot_core::vhd::parse_footer(&footer).unwrap();
    assert_eq!((f.current_size, f.disk_type), (disk, 2));
    // qemu-img reads it as a VHD ("vpc") whose data is the disk, whichever way it sizes it:
    // by the CHS geometry (its default for an unknown creator, as Virtual PC) or by the
    // footer's current size (as Windows and Hyper-V). It only probes VHDs with a header copy
    // at the start (dynamic ones), hence the explicit driver.
    let raw = extract(&vhd, 0, disk, &dir.path().join("from-vhd.img"));
    for calc in ["chs", "current_size"] {
        let opts = format!("driver=vpc,force_size_calc={calc},file.filename={}", vhd.display());
        let info: Json =
            serde_json::from_str(&qemu_img(&["info", "--output=json", "--image-opts", &opts]))
                .unwrap();
        assert_eq!(info["format"], "vpc");
        assert_eq!(info["virtual-size"], disk, "{calc}");
        let converted = dir.path().join("qemu-from-vhd.img");
        qemu_img(&["convert", "--image-opts", &opts, "-O", "raw", converted.to_str().unwrap()]);
        qemu_img(&[
            "compare",
            "-f",
            "raw",
            "-F",
            "raw",
            converted.to_str().unwrap(),
            raw.to_str().unwrap(),
        ]);
    }
    // And with no hint at all.
    let info: Json = serde_json::from_str(&qemu_img(&[
        "info",
        "-f",
        "vpc",
        "--output=json",
        vhd.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(info["virtual-size"], disk);
    check_target(dir.path(), &raw, &report, &tree, false, true);
}

#[test]
fn vhdx_target() {
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    let (dir, tree, wim) = setup("LZMS", true);
    let vhdx = dir.path().join("wtg.vhdx");
    let report = create_ok(&[
        wim.to_str().unwrap(),
        vhdx.to_str().unwrap(),
        "--vhdx",
        "--size",
        "520M",
        "--mbr",
    ]);
    assert_eq!(report["container"], "vhdx");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    qemu_img(&["check", "-f", "vhdx", vhdx.to_str().unwrap()]);
    let info: Json =
        serde_json::from_str(&qemu_img(&["info", "--output=json", vhdx.to_str().unwrap()]))
            .unwrap();
    assert_eq!(info["format"], "vhdx");
    assert_eq!(info["virtual-size"], 520 * MIB);
    // Dynamic: far smaller than the disk.
    let len = std::fs::metadata(&vhdx).unwrap().len();
    assert!(len < 100 * MIB, "{len}");
    let raw = dir.path().join("from-vhdx.img");
    qemu_img(&[
        "convert",
        "-f",
        "vhdx",
        "-O",
        "raw",
        vhdx.to_str().unwrap(),
        raw.to_str().unwrap(),
    ]);
    check_target(dir.path(), &raw, &report, &tree, true, true);
}

/// Our converter against qemu: a raw image with data, zero blocks, a partial last block.
#[test]
fn vhdx_conversion_matches_the_raw_image() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.img");
    let size = 200 * MIB + 3 * 512;
    let f = std::fs::File::create(&raw).unwrap();
    f.set_len(size).unwrap();
    f.write_all_at(&pattern(1, 3 << 20), 0).unwrap();
    f.write_all_at(&pattern(2, 1000), 70 * MIB + 17).unwrap();
    f.write_all_at(&pattern(3, 1536), size - 1536).unwrap();
    drop(f);
    let out = dir.path().join("out.vhdx");
    polyboot::wtg::vhdxfile::convert(&raw, &out, [5; 48]).unwrap();
    qemu_img(&["check", "-f", "vhdx", out.to_str().unwrap()]);
    qemu_img(&["compare", "-f", "raw", "-F", "vhdx", raw.to_str().unwrap(), out.to_str().unwrap()]);
    let info: Json =
        serde_json::from_str(&qemu_img(&["info", "--output=json", out.to_str().unwrap()])).unwrap();
    assert_eq!(info["virtual-size"], size);
    // Four data blocks of 2 MiB (two for the first 3 MiB) + 4 MiB of structures.
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 4 * MIB + 4 * 2 * MIB);
}

#[test]
fn clear_errors_change_nothing() {
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path(), None, false);
    let wim = make_wim(dir.path(), &tree, "install.wim", "XPRESS", false, true);
    let w = wim.to_str().unwrap();
    let img = dir.path().join("t.img");
    let t = img.to_str().unwrap();

    // Too small: TOTALBYTES + margin do not fit; nothing created.
    let e = create_err(&[w, t, "--size", "400M"]);
    assert!(e.contains("too small for this image"), "{e}");
    assert!(!img.exists());
    // An existing file keeps its bytes.
    std::fs::write(&img, pattern(9, 4096)).unwrap();
    let e = create_err(&[w, t]);
    assert!(e.contains("too small"), "{e}");
    assert_eq!(std::fs::read(&img).unwrap(), pattern(9, 4096));
    std::fs::remove_file(&img).unwrap();

    // Index out of range.
    let e = create_err(&[w, t, "--size", "512M", "--index", "3"]);
    assert!(e.contains("index 3 out of range: the image has 1 edition"), "{e}");
    assert!(!img.exists());
    // No size for a new file.
    let e = create_err(&[w, t]);
    assert!(e.contains("--size"), "{e}");

    // Not a Windows image: no WINDOWS element in the XML.
    let plain = make_wim(dir.path(), &tree, "plain.wim", "XPRESS", false, false);
    let e = create_err(&[plain.to_str().unwrap(), t, "--size", "512M"]);
    assert!(e.contains("is not a Windows image"), "{e}");
    assert!(!img.exists());

    // Errors found only after the apply, on an existing, complete Windows To Go image: it is
    // left without any partition table (nothing claims a complete drive).
    let done = dir.path().join("done.img");
    create_ok(&[w, done.to_str().unwrap(), "--size", "512M"]);
    let complete_target = || {
        run_tool(Command::new("cp").arg("--sparse=always").arg(&done).arg(&img)).unwrap();
        assert!(run_tool(Command::new(find_tool("sfdisk")).arg("-d").arg(&img))
            .unwrap()
            .contains("label: gpt"));
    };

    // A WINDOWS element but no Windows\System32 in the tree.
    let d3 = dir.path().join("nowindows");
    std::fs::create_dir_all(d3.join("tree/Users/Public")).unwrap();
    std::fs::write(d3.join("tree/Users/Public/a.txt"), b"a").unwrap();
    let w3 = make_wim(&d3, &d3.join("tree"), "install.wim", "XPRESS", false, true);
    complete_target();
    let e = create_err(&[w3.to_str().unwrap(), t]);
    assert!(e.contains(r"has no Windows\System32"), "{e}");
    assert_no_table(&img);
    std::fs::remove_file(&img).unwrap();

    // A dirty SYSTEM hive (changes only in its logs) is refused, not half-edited.
    let d4 = dir.path().join("dirty");
    std::fs::create_dir(&d4).unwrap();
    let t4 = fake_windows_tree(&d4, None, false);
    let mut hive = system_hive();
    let seq = u32::from_le_bytes(hive[4..8].try_into().unwrap());
    hive[4..8].copy_from_slice(&(seq + 1).to_le_bytes());
    let sum = polyboot_core::regf::base_block_checksum(&hive[..512]);
    hive[508..512].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(t4.join("Windows/System32/config/SYSTEM"), &hive).unwrap();
    let w4 = make_wim(&d4, &t4, "install.wim", "XPRESS", false, true);
    complete_target();
    let e = create_err(&[w4.to_str().unwrap(), t]);
    assert!(e.contains("SYSTEM is dirty") && e.contains("transaction logs"), "{e}");
    assert_no_table(&img);
    std::fs::remove_file(&img).unwrap();

    // Several editions and no choice.
    let two = dir.path().join("two.wim");
    std::fs::copy(&wim, &two).unwrap();
    run_tool(
        Command::new(find_tool("wimappend"))
            .arg(&tree)
            .arg(&two)
            .arg("Second")
            .args(["--image-property", "WINDOWS/ARCH=9"]),
    )
    .unwrap();
    let e = create_err(&[two.to_str().unwrap(), t, "--size", "512M"]);
    assert!(e.contains("--index N or --edition NAME"), "{e}");

    // Missing boot files: named; a new target file is not left behind, an existing one has
    // no partition table afterwards.
    let d2 = dir.path().join("nobootmgfw");
    std::fs::create_dir(&d2).unwrap();
    let t2 = fake_windows_tree(&d2, Some("Windows/Boot/EFI/bootmgfw.efi"), false);
    let w2 = make_wim(&d2, &t2, "install.wim", "XPRESS", false, true);
    let e = create_err(&[w2.to_str().unwrap(), t, "--size", "512M"]);
    assert!(e.contains(r"Windows\Boot\EFI\bootmgfw.efi"), "{e}");
    assert!(e.contains("was not created"), "{e}");
    assert!(!img.exists());
    complete_target();
    let e = create_err(&[w2.to_str().unwrap(), t]);
    assert!(e.contains(r"Windows\Boot\EFI\bootmgfw.efi"), "{e}");
    assert!(e.contains("left without a partition table"), "{e}");
    assert_no_table(&img);
    std::fs::remove_file(&img).unwrap();
    let e = create_err(&[w2.to_str().unwrap(), t, "--size", "512M", "--mbr", "--vhd"]);
    assert!(e.contains(r"Windows\Boot\EFI\bootmgfw.efi"), "{e}");
    assert!(!img.exists() && !dir.path().join("t.img.partial").exists());

    // The image itself as the target.
    let e = create_err(&[w, w, "--size", "512M"]);
    assert!(e.contains("is the Windows image itself"), "{e}");
    run_tool(Command::new(find_tool("wimverify")).arg(&wim)).unwrap();

    // --vhd needs a size.
    let e = create_err(&[w, t, "--vhd"]);
    assert!(e.contains("--size"), "{e}");
}

/// No MBR signature, no GPT header at the start or end: nothing claims a layout.
fn assert_no_table(img: &Path) {
    let f = std::fs::File::open(img).unwrap();
    let len = f.metadata().unwrap().len();
    let mut head = vec![0u8; 34 * 512];
    f.read_exact_at(&mut head, 0).unwrap();
    assert!(head.iter().all(|&b| b == 0), "the start of the disk is not blank");
    let mut tail = vec![0u8; 33 * 512];
    f.read_exact_at(&mut tail, len - 33 * 512).unwrap();
    assert!(tail.iter().all(|&b| b == 0), "the end of the disk is not blank");
    let out = Command::new(find_tool("sfdisk")).arg("--json").arg(img).output().unwrap();
    assert!(
        !out.status.success() || out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn dry_run_writes_nothing() {
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    let (dir, _tree, wim) = setup("XPRESS", false);
    let img = dir.path().join("dry.img");
    let (ok, out, err) = polyboot(&[
        "wtg",
        "create",
        wim.to_str().unwrap(),
        img.to_str().unwrap(),
        "--size",
        "512M",
        "--dry-run",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("GPT layout") && out.contains("dry run: nothing written"), "{out}");
    assert!(!img.exists());
    let (ok, out, _) = polyboot(&[
        "wtg",
        "create",
        wim.to_str().unwrap(),
        img.to_str().unwrap(),
        "--size",
        "512M",
        "--dry-run",
        "--json",
        "--mbr",
    ]);
    assert!(ok);
    let j: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(j["written"], false);
    assert_eq!(j["scheme"], "mbr");
    assert!(!img.exists());
    std::fs::write(&img, b"keep").unwrap();
    let (ok, _, _) = polyboot(&[
        "wtg",
        "create",
        wim.to_str().unwrap(),
        img.to_str().unwrap(),
        "--size",
        "512M",
        "--dry-run",
    ]);
    assert!(ok);
    assert_eq!(std::fs::read(&img).unwrap(), b"keep");
}

/// Cancelling in the middle of the apply (what Ctrl-C does) fails the run and leaves the
/// image without a partition table; a VHD is not created at all.
#[test]
fn cancel_leaves_no_complete_looking_target() {
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    let (dir, _tree, wim) = setup("LZX", false);
    // An existing, complete Windows To Go image: a cancelled run over it must not leave its
    // old (or a new) partition table behind.
    let existing = dir.path().join("existing.img");
    create_ok(&[wim.to_str().unwrap(), existing.to_str().unwrap(), "--size", "512M"]);
    assert!(run_tool(Command::new(find_tool("sfdisk")).arg("-d").arg(&existing))
        .unwrap()
        .contains("label: gpt"));
    let cases = [
        (Container::Raw, existing.clone(), None),
        (Container::Raw, dir.path().join("new.img"), Some(512 * MIB)),
        (Container::Vhd, dir.path().join("new.vhd"), Some(512 * MIB)),
        (Container::Vhdx, dir.path().join("new.vhdx"), Some(512 * MIB)),
    ];
    for (container, target, size) in cases {
        let opts = CreateOptions {
            image: wim.clone(),
            target: target.clone(),
            selection: None,
            scheme: WtgScheme::Gpt,
            size,
            container,
            unattend: None,
            drivers: None,
            internal_disks_offline: true,
            dry_run: false,
            yes: true,
            force: false,
        };
        let cancel = AtomicBool::new(false);
        let mut reports = 0;
        let err = create::create(
            &SystemView::host(),
            &opts,
            Some(&cancel),
            &mut |_| {
                reports += 1;
                cancel.store(true, Ordering::Relaxed);
            },
            false,
            &mut std::io::empty(),
            &mut std::io::sink(),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("cancelled"), "{msg}");
        assert!(reports >= 1);
        if size.is_none() {
            assert!(msg.contains("left without a partition table"), "{msg}");
            assert_no_table(&target);
        } else {
            // A new file is not left behind at all, nor any partial file.
            assert!(msg.contains("was not created"), "{msg}");
            assert!(!target.exists(), "{}", target.display());
            let partial: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("partial"))
                .collect();
            assert!(partial.is_empty(), "{partial:?}");
        }
    }
    // No loop device of ours is left behind, hence no ntfs-3g mount either: a mounted loop
    // device stays listed (with its backing file in `dir`) until it is unmounted. (Mounts are
    // not looked for by name: the other tests of this file mount theirs at the same time.)
    let loops = run_tool(Command::new(find_tool("losetup")).arg("-a")).unwrap();
    assert!(!loops.contains(dir.path().to_str().unwrap()), "{loops}");
}

#[test]
fn help_has_examples() {
    let (ok, out, _) = polyboot(&["wtg", "create", "--help"]);
    assert!(ok && out.contains("Examples:") && out.contains("polyboot wtg create"), "{out}");
    for flag in [
        "--index",
        "--edition",
        "--mbr",
        "--size",
        "--vhd",
        "--vhdx",
        "--unattend",
        "--drivers",
        "--no-internal-disks-offline",
        "--dry-run",
        "--yes",
        "--force",
        "--json",
    ] {
        assert!(out.contains(flag), "{flag} missing from\n{out}");
    }
}

/// The install image read in place from an ISO shaped like Microsoft's (sources/install.esd,
/// solid LZMS, listed only in the UDF tree), chosen by edition name.
#[test]
fn from_an_iso_by_edition() {
    polyboot_tests::require_root("wtg create: loop devices, ntfs-3g");
    let (dir, tree, wim) = setup("LZMS", true);
    let iso = windows_shaped_iso(dir.path(), "win.iso", &[("sources/install.esd", &wim)]).unwrap();
    let img = dir.path().join("wtg.img");
    let report = create_ok(&[
        iso.to_str().unwrap(),
        img.to_str().unwrap(),
        "--size",
        "512M",
        "--edition",
        "professional",
    ]);
    assert!(
        report["image"].as_str().unwrap().starts_with("sources/install.esd (UDF) in "),
        "{report}"
    );
    assert_eq!(report["edition"]["edition"], "Professional");
    check_target(dir.path(), &img, &report, &tree, false, true);
    let loops = run_tool(Command::new(find_tool("losetup")).arg("-a")).unwrap();
    assert!(!loops.contains(iso.to_str().unwrap()), "{loops}");
}
