//! Issue 18 without a VM: what the boot managers serve for a Linux ISO with persistence,
//! an auto-install template, an injection archive and conf_replace, written out by
//! `polyboot debug virtual` (the same core session code the firmware runs) and read back with
//! xorriso: the boot configuration the loader sees, and the hand-off record inside the wrapped
//! initrd, the files it hands over (embedded beside it) and the backend's extents on the drive.

mod common;
use common::Cli;
use polyboot_core::handoff::{embedded_file_name, FileAction, Handoff, HANDOFF_PATH};
use polyboot_tests::{find_tool, run_tool};
use std::path::{Path, PathBuf};
use std::process::Command;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An ISO 9660 + Rock Ridge + Joliet image of `files` (path, content) made by xorriso.
fn iso(dir: &Path, name: &str, label: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    for (path, bytes) in files {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let out = dir.join(format!("{name}.iso"));
    run_tool(
        Command::new(find_tool("xorriso"))
            .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-V", label, "-o"])
            .arg(&out)
            .arg(&root),
    )
    .unwrap();
    out
}

fn extract(iso: &Path, path: &str, to: &Path) -> Vec<u8> {
    run_tool(
        Command::new(find_tool("xorriso"))
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", path])
            .arg(to),
    )
    .unwrap();
    std::fs::read(to).unwrap()
}

/// The data of `name` in the first newc archive of `bytes`.
fn cpio_file<'a>(bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let hex = |b: &[u8]| usize::from_str_radix(std::str::from_utf8(b).unwrap(), 16).unwrap();
    let mut at = 0;
    while at + 110 <= bytes.len() && &bytes[at..at + 6] == b"070701" {
        let size = hex(&bytes[at + 54..at + 62]);
        let namesize = hex(&bytes[at + 94..at + 102]);
        let n = &bytes[at + 110..at + 110 + namesize - 1];
        let data = (at + 110 + namesize).next_multiple_of(4);
        if n == name.as_bytes() {
            return Some(&bytes[data..data + size]);
        }
        if n == b"TRAILER!!!" {
            return None;
        }
        at = (data + size).next_multiple_of(4);
    }
    None
}

/// The bytes a hand-off file's extents name on the drive image.
fn bytes_on_drive(
    drive: &[u8],
    size: u64,
    extents: &[polyboot_core::handoff::DiskExtent],
) -> Vec<u8> {
    let mut out = Vec::new();
    for e in extents {
        let at = e.disk_offset as usize;
        out.extend_from_slice(&drive[at..at + e.len as usize]);
    }
    out.truncate(size as usize);
    out
}

fn served(drive: &Path, image: &str, firmware: &str, out: &Path) -> Vec<String> {
    let report = Cli::booting()
        .args(["debug", "virtual", s(drive), image, "--json", "--firmware", firmware, "-o"])
        .arg(out)
        .ok();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    report["log"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

const DI_GRUB: &str = "set timeout=1\nmenuentry 'Install' {\n    linux /install.amd/vmlinuz vga=788 --- quiet\n    initrd /install.amd/initrd.gz\n}\n";
const PRESEED: &str = "d-i preseed/early_command string echo POLYBOOT-PRESEED > /dev/ttyS0\n";

#[test]
fn a_debian_installer_iso_gets_its_preseed_and_parameters_and_a_replaced_grub_cfg() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = vec![0x4du8; 8192];
    let initrd = vec![0x1fu8; 4096];
    let iso = iso(
        dir.path(),
        "di",
        "DEBIAN_12",
        &[
            ("/boot/grub/grub.cfg", DI_GRUB.as_bytes()),
            ("/install.amd/vmlinuz", &kernel),
            ("/install.amd/initrd.gz", &initrd),
        ],
    );
    let drive = dir.path().join("drive.img");
    Cli::booting().args(["install", s(&drive), "--size", "256M", "--yes"]).ok();
    Cli::new().args(["add", "-q", s(&drive), "--to", "/ISO"]).arg(&iso).ok();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("preseed.cfg"), PRESEED).unwrap();
    // conf_replace: a grub.cfg that adds a parameter of its own; the preseed parameters are
    // then added to the replaced file.
    let replaced = DI_GRUB.replace("--- quiet", "--- quiet polyboot.replaced=1");
    std::fs::write(cfg.join("grub.cfg"), &replaced).unwrap();
    std::fs::write(
        cfg.join("ventoy.json"),
        r#"{"auto_install": [{"image": "/ISO/di.iso", "template": "/ventoy/preseed.cfg", "autosel": 1}],
            "conf_replace": [{"iso": "/ISO/di.iso", "org": "/boot/grub/grub.cfg", "new": "/ventoy/grub.cfg"}]}"#,
    )
    .unwrap();
    for f in ["preseed.cfg", "grub.cfg", "ventoy.json"] {
        Cli::new().args(["add", "-q", s(&drive), "--to", "/ventoy"]).arg(cfg.join(f)).ok();
    }

    let out = dir.path().join("served.iso");
    let log = served(&drive, "ISO/di.iso", "uefi", &out);
    let has = |prefix: &str| log.iter().any(|l| l.starts_with(prefix));
    assert!(has("conf_replace: /boot/grub/grub.cfg ("), "{log:#?}");
    assert!(
        has("auto_install: /ventoy/preseed.cfg as /preseed.cfg for the Debian installer"),
        "{log:#?}"
    );
    assert!(
        has("linux: /boot/grub/grub.cfg: \"auto=true priority=critical\" added to 1 kernel lines"),
        "{log:#?}"
    );

    // The loader sees the replaced file with the installer's parameters after the ---.
    let grub =
        String::from_utf8(extract(&out, "/boot/grub/grub.cfg", &dir.path().join("g.cfg"))).unwrap();
    let linux = grub.lines().find(|l| l.trim_start().starts_with("linux ")).unwrap();
    assert!(
        linux.contains("polyboot.replaced=1") && linux.contains("auto=true priority=critical"),
        "{grub}"
    );
    // The installer's own parameters go before the ---, which starts the installed system's.
    assert!(linux.find("auto=true").unwrap() < linux.find("---").unwrap(), "{linux}");

    // The wrapped initrd's hand-off record names the template's bytes on the drive.
    let wrapped = extract(&out, "/install.amd/initrd.gz", &dir.path().join("initrd"));
    let record =
        cpio_file(&wrapped, HANDOFF_PATH).expect("no hand-off record in the wrapped initrd");
    let h = Handoff::decode(record).unwrap();
    assert!(h.added_params.contains("auto=true"), "{}", h.added_params);
    assert_eq!(h.files.len(), 1, "{:?}", h.files);
    let f = &h.files[0];
    assert_eq!(
        (f.action, f.target.as_str(), f.source.as_str()),
        (FileAction::Template, "/preseed.cfg", "/ventoy/preseed.cfg")
    );
    // Small files travel inside the wrapped initrd (the netboot installer's initrd has no USB
    // storage driver to read the drive with): no extents, the bytes as polyboot/files/0000.
    assert!(f.extents.is_empty(), "{f:?}");
    assert_eq!(cpio_file(&wrapped, &embedded_file_name(0)), Some(PRESEED.as_bytes()));
    // The original initrd follows, untouched.
    assert!(wrapped.windows(initrd.len()).any(|w| w == initrd));
}

const LIVE_GRUB: &str = "set timeout=1\nmenuentry 'Live' {\n    linux /live/vmlinuz boot=live components console=ttyS0\n    initrd /live/initrd.img\n}\n";

#[test]
fn a_live_iso_gets_its_persistence_backend_and_injection_archive_under_both_firmware() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = vec![0x4du8; 8192];
    let initrd = vec![0x1fu8; 4096];
    let iso = iso(
        dir.path(),
        "live",
        "LIVE",
        &[
            ("/boot/grub/grub.cfg", LIVE_GRUB.as_bytes()),
            ("/live/vmlinuz", &kernel),
            ("/live/initrd.img", &initrd),
        ],
    );
    let drive = dir.path().join("drive.img");
    Cli::booting().args(["install", s(&drive), "--size", "256M", "--yes"]).ok();
    Cli::new().args(["add", "-q", s(&drive), "--to", "/ISO"]).arg(&iso).ok();
    // The backend, registered for the image in polyboot.json by the CLI.
    Cli::new()
        .args([
            "persistence",
            "create",
            s(&drive),
            "live",
            "--size",
            "32M",
            "--image",
            "/ISO/live.iso",
            "--yes",
        ])
        .ok();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(cfg.join("tree/etc")).unwrap();
    std::fs::write(cfg.join("tree/etc/injected"), "POLYBOOT-INJECTED\n").unwrap();
    run_tool(
        Command::new(find_tool("tar"))
            .arg("-C")
            .arg(cfg.join("tree"))
            .arg("-czf")
            .arg(cfg.join("inject.tar.gz"))
            .arg("etc"),
    )
    .unwrap();
    std::fs::write(
        cfg.join("ventoy.json"),
        r#"{"injection": [{"parent": "/ISO", "archive": "/ventoy/inject.tar.gz"}]}"#,
    )
    .unwrap();
    for f in ["inject.tar.gz", "ventoy.json"] {
        Cli::new().args(["add", "-q", s(&drive), "--to", "/ventoy"]).arg(cfg.join(f)).ok();
    }
    let disk = std::fs::read(&drive).unwrap();

    for firmware in ["uefi", "bios"] {
        let out = dir.path().join(format!("served-{firmware}.iso"));
        let log = served(&drive, "ISO/live.iso", firmware, &out);
        let has = |prefix: &str| log.iter().any(|l| l.starts_with(prefix));
        assert!(has("persistence: /persistence/live.dat ("), "{firmware}: {log:#?}");
        assert!(
            has("injection: /ventoy/inject.tar.gz extracted over / before init"),
            "{firmware}: {log:#?}"
        );
        // live-boot needs no parameter: the hook's hints tell it (nothing edited).
        let grub =
            extract(&out, "/boot/grub/grub.cfg", &dir.path().join(format!("{firmware}.cfg")));
        assert_eq!(grub, LIVE_GRUB.as_bytes());

        let wrapped =
            extract(&out, "/live/initrd.img", &dir.path().join(format!("{firmware}.initrd")));
        let h = Handoff::decode(cpio_file(&wrapped, HANDOFF_PATH).unwrap()).unwrap();
        let p = h.persistence.as_ref().expect("no persistence backend in the hand-off record");
        assert_eq!(
            (p.path.as_str(), p.size, p.encrypted),
            ("/persistence/live.dat", 32 << 20, false)
        );
        // The backend's first 2 KiB on the drive is an ext4 file system labelled persistence.
        let backend = bytes_on_drive(&disk, 4096, &p.extents);
        assert_eq!(&backend[1024 + 56..1024 + 58], &[0x53, 0xef], "no ext4 superblock");
        assert_eq!(&backend[1024 + 120..1024 + 131], b"persistence");
        let f = &h.files[0];
        assert_eq!((f.action, f.target.as_str()), (FileAction::Inject, ""));
        let archive = std::fs::read(cfg.join("inject.tar.gz")).unwrap();
        assert!(f.extents.is_empty() && f.size == archive.len() as u64, "{f:?}");
        assert_eq!(cpio_file(&wrapped, &embedded_file_name(0)), Some(&archive[..]));
    }
}

const FEDORA_GRUB: &str = "set timeout=1\nmenuentry 'Install Fedora' {\n    linuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Fedora-E-dvd quiet\n    initrdefi /images/pxeboot/initrd.img\n}\n";

#[test]
fn an_anaconda_iso_gets_its_kickstart_and_driver_disks_small_ones_embedded_large_ones_from_the_drive(
) {
    let dir = tempfile::tempdir().unwrap();
    let kernel = vec![0x4du8; 8192];
    let initrd = vec![0x1fu8; 4096];
    let iso = iso(
        dir.path(),
        "fedora",
        "Fedora-E-dvd",
        &[
            ("/boot/grub2/grub.cfg", FEDORA_GRUB.as_bytes()),
            ("/EFI/BOOT/grub.cfg", FEDORA_GRUB.as_bytes()),
            ("/images/pxeboot/vmlinuz", &kernel),
            ("/images/pxeboot/initrd.img", &initrd),
        ],
    );
    let drive = dir.path().join("drive.img");
    Cli::booting().args(["install", s(&drive), "--size", "256M", "--yes"]).ok();
    Cli::new().args(["add", "-q", s(&drive), "--to", "/ISO"]).arg(&iso).ok();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    let ks = b"text\nreboot\n".to_vec();
    std::fs::write(cfg.join("ks.cfg"), &ks).unwrap();
    std::fs::write(cfg.join("small.rpm"), vec![0xedu8; 3000]).unwrap();
    // Over the embedding limit (8 MiB): the hook reads it from the drive.
    let large: Vec<u8> =
        (0..9u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    std::fs::write(cfg.join("large.iso"), &large).unwrap();
    std::fs::write(
        cfg.join("ventoy.json"),
        r#"{"auto_install": [{"image": "/ISO/fedora.iso", "template": "/ventoy/ks.cfg", "autosel": 1}],
            "dud": [{"image": "/ISO/fedora.iso", "dud": ["/ventoy/small.rpm", "/ventoy/large.iso"]}]}"#,
    )
    .unwrap();
    for f in ["ks.cfg", "small.rpm", "large.iso", "ventoy.json"] {
        Cli::new().args(["add", "-q", s(&drive), "--to", "/ventoy"]).arg(cfg.join(f)).ok();
    }

    let out = dir.path().join("served.iso");
    let log = served(&drive, "ISO/fedora.iso", "uefi", &out);
    let has = |line: &str| log.iter().any(|l| l == line);
    assert!(has("auto_install: /ventoy/ks.cfg as /ks.cfg for Anaconda"), "{log:#?}");
    assert!(has("dud: /ventoy/small.rpm as /polyboot-dud/0.rpm"), "{log:#?}");
    assert!(has("dud: /ventoy/large.iso as /polyboot-dud/1.iso"), "{log:#?}");
    let grub = extract(&out, "/EFI/BOOT/grub.cfg", &dir.path().join("g.cfg"));
    let grub = String::from_utf8(grub).unwrap();
    let linux = grub.lines().find(|l| l.trim_start().starts_with("linuxefi ")).unwrap();
    for want in
        ["inst.ks=file:/ks.cfg", "inst.dd=/polyboot-dud/0.rpm", "inst.dd=/polyboot-dud/1.iso"]
    {
        assert!(linux.split_whitespace().any(|w| w == want), "{want} not in {linux}");
    }

    let wrapped = extract(&out, "/images/pxeboot/initrd.img", &dir.path().join("initrd"));
    let h = Handoff::decode(cpio_file(&wrapped, HANDOFF_PATH).unwrap()).unwrap();
    let targets: Vec<(FileAction, &str, bool)> =
        h.files.iter().map(|f| (f.action, f.target.as_str(), f.extents.is_empty())).collect();
    assert_eq!(
        targets,
        [
            (FileAction::Template, "/ks.cfg", true),
            (FileAction::Copy, "/polyboot-dud/0.rpm", true),
            (FileAction::Copy, "/polyboot-dud/1.iso", false),
        ]
    );
    assert_eq!(cpio_file(&wrapped, &embedded_file_name(0)), Some(&ks[..]));
    assert_eq!(cpio_file(&wrapped, &embedded_file_name(1)).map(|b| b.len()), Some(3000));
    assert_eq!(cpio_file(&wrapped, &embedded_file_name(2)), None);
    let disk = std::fs::read(&drive).unwrap();
    assert!(bytes_on_drive(&disk, h.files[2].size, &h.files[2].extents) == large);
}
