//! `polyboot check` on real and mastered ISOs, on the host and on a drive.

mod common;
use common::run as polyboot;
use polyboot_tests::fixtures::windows_shaped_iso_with;
use polyboot_tests::run_tool;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn check_json(args: &[&str]) -> Vec<Value> {
    let mut a = vec!["check"];
    a.extend_from_slice(args);
    a.push("--json");
    let (ok, out, err) = polyboot(&a);
    assert!(ok, "{err}");
    serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone()
}

/// A live ISO's shape: a GRUB config loading a kernel and an initrd with `cmdline`, and an El
/// Torito EFI image (FAT, made with mtools) so UEFI can boot it; mastered with xorriso.
fn live_like_iso(dir: &Path, name: &str, cmdline: &str) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("live")).unwrap();
    std::fs::create_dir_all(root.join("boot/grub")).unwrap();
    std::fs::write(
        root.join("boot/grub/grub.cfg"),
        format!("set timeout=1\nmenuentry \"Live\" {{\n  linux /live/vmlinuz {cmdline}\n  initrd /live/initrd.img\n}}\n"),
    )
    .unwrap();
    std::fs::write(root.join("live/vmlinuz"), vec![1u8; 100_000]).unwrap();
    std::fs::write(root.join("live/initrd.img"), vec![2u8; 200_000]).unwrap();
    let efi = root.join("efi.img");
    std::fs::File::create(&efi).unwrap().set_len(2 << 20).unwrap();
    let e = efi.to_str().unwrap();
    run_tool(Command::new("mformat").args(["-i", e, "::"])).unwrap();
    run_tool(Command::new("mmd").args(["-i", e, "::/EFI", "::/EFI/BOOT"])).unwrap();
    run_tool(Command::new("mcopy").args(["-i", e, "/usr/lib/ipxe/ipxe.efi", "::/EFI/BOOT/BOOTX64.EFI"])).unwrap();
    let iso = dir.join(format!("{name}.iso"));
    run_tool(Command::new("xorriso").args(["-as", "mkisofs", "-quiet", "-R", "-J", "-o"]).arg(&iso).args(["-e", "efi.img", "-no-emul-boot"]).arg(&root))
        .unwrap();
    iso
}

#[test]
fn ipxe_iso_is_expected_to_boot() {
    let r = &check_json(&["/usr/lib/ipxe/ipxe.iso"])[0];
    assert_eq!((r["uefi"].as_bool(), r["bios"].as_bool()), (Some(true), Some(true)), "{r}");
    assert_eq!(r["expected_to_work"], true, "{r}");
    assert_eq!(r["initrds"].as_array().unwrap().len(), 0);
    assert_eq!(r["init_family"], "none needed (no Linux initrd)");
}

#[test]
fn truncated_iso_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let iso = std::fs::read("/usr/lib/ipxe/ipxe.iso").unwrap();
    let broken = dir.path().join("broken.iso");
    std::fs::write(&broken, &iso[..iso.len() / 3]).unwrap();
    let r = &check_json(&[broken.to_str().unwrap()])[0];
    assert_eq!(r["expected_to_work"], false);
    assert!(r["problem"].as_str().unwrap().contains("truncated"), "{r}");
    let (ok, out, _) = polyboot(&["check", broken.to_str().unwrap()]);
    assert!(ok && out.contains("PROBLEM: will not boot in UEFI: truncated"), "{out}");
}

#[test]
fn live_isos_report_their_initrds_and_init_family() {
    let dir = tempfile::tempdir().unwrap();
    // (name, command line, family, expected to work, what the verdict says)
    let cases = [
        ("debian-live", "boot=live components quiet", "live-boot (initramfs-tools)", true, "LIVE_MEDIA"),
        ("fedora-live", "root=live:CDLABEL=Fedora-Live rd.live.image quiet", "dracut dmsquash-live", true, "by label"),
        ("ubuntu", "boot=casper quiet splash ---", "casper (initramfs-tools)", true, "not yet verified"),
        ("installer", "vga=788 --- quiet", "other / custom init (e.g. an installer)", false, "uncertain"),
    ];
    for (name, cmdline, family, works, says) in cases {
        let iso = live_like_iso(dir.path(), name, cmdline);
        let r = &check_json(&[iso.to_str().unwrap()])[0];
        assert_eq!(r["uefi"], true, "{r}");
        assert_eq!(r["initrds"], serde_json::json!(["/live/initrd.img"]), "{r}");
        assert_eq!(r["kernels"], serde_json::json!(["/live/vmlinuz"]), "{r}");
        assert_eq!(r["init_family"], family, "{r}");
        assert_eq!(r["unwrapped_initrds"], serde_json::json!([]), "{r}");
        assert_eq!(r["expected_to_work"], works, "{r}");
        assert!(r["verdict"].as_str().unwrap().contains(says), "{r}");
    }
}

#[test]
fn check_every_image_on_a_drive_or_one() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("drive.img");
    let s = img.to_str().unwrap();
    let (ok, _, err) = polyboot(&["install", s, "--size", "256M"]);
    assert!(ok, "{err}");
    let live = live_like_iso(dir.path(), "debian-live", "boot=live");
    let wim = dir.path().join("install.wim");
    std::fs::write(&wim, vec![0u8; 64 << 10]).unwrap();
    let (ok, _, err) = polyboot(&["add", "-q", s, "/usr/lib/ipxe/ipxe.iso", live.to_str().unwrap(), wim.to_str().unwrap(), "--to", "isos"]);
    assert!(ok, "{err}");
    let all = check_json(&[s]);
    let paths: Vec<&str> = all.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/isos/debian-live.iso", "/isos/install.wim", "/isos/ipxe.iso"]);
    assert!(all[1]["verdict"].as_str().unwrap().contains("not bootable yet"), "{}", all[1]);
    let one = check_json(&[s, "isos/ipxe.iso"]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["expected_to_work"], true);
    let (ok, _, err) = polyboot(&["check", s, "isos/missing.iso"]);
    assert!(!ok && err.contains("missing.iso"), "{err}");
}

#[test]
fn a_file_that_is_neither_drive_nor_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.txt");
    std::fs::write(&f, b"hello").unwrap();
    let (ok, _, err) = polyboot(&["check", f.to_str().unwrap()]);
    assert!(!ok && err.contains("not a polyboot drive"), "{err}");
}

/// archiso's shape: the UEFI boot is systemd-boot inside the El Torito image, with the kernel
/// and initrd stored there too. `check` reads that FAT image with core's reader and reports the
/// initrd the boot manager serves wrapped from it.
#[test]
fn initrds_inside_the_eltorito_image_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("arch-root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("README"), b"archiso-like").unwrap();
    let efi = root.join("efiboot.img");
    std::fs::File::create(&efi).unwrap().set_len(4 << 20).unwrap();
    let e = efi.to_str().unwrap();
    run_tool(Command::new("mformat").args(["-i", e, "::"])).unwrap();
    for d in ["::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries", "::/arch", "::/arch/boot", "::/arch/boot/x86_64"] {
        run_tool(Command::new("mmd").args(["-i", e, d])).unwrap();
    }
    let put = |name: &str, data: &[u8], to: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        run_tool(Command::new("mcopy").args(["-i", e]).arg(&p).arg(to)).unwrap();
    };
    put("boot.efi", b"MZ systemd-boot stand-in", "::/EFI/BOOT/BOOTX64.EFI");
    put(
        "entry.conf",
        b"title Arch Linux install medium\nlinux /arch/boot/x86_64/vmlinuz-linux\ninitrd /arch/boot/x86_64/initramfs-linux.img\noptions archisobasedir=arch archisosearchuuid=2024-01-01-00-00-00-00\n",
        "::/loader/entries/01-archiso-x86_64-linux.conf",
    );
    put("vmlinuz", &[1u8; 50_000], "::/arch/boot/x86_64/vmlinuz-linux");
    put("initramfs", &[2u8; 80_000], "::/arch/boot/x86_64/initramfs-linux.img");
    let iso = dir.path().join("arch.iso");
    run_tool(Command::new("xorriso").args(["-as", "mkisofs", "-quiet", "-R", "-J", "-o"]).arg(&iso).args(["-e", "efiboot.img", "-no-emul-boot"]).arg(&root))
        .unwrap();
    let r = &check_json(&[iso.to_str().unwrap()])[0];
    assert_eq!(r["initrds"], serde_json::json!(["/arch/boot/x86_64/initramfs-linux.img (El Torito image)"]), "{r}");
    assert_eq!(r["kernels"], serde_json::json!(["/arch/boot/x86_64/vmlinuz-linux (El Torito image)"]), "{r}");
    assert_eq!(r["init_family"], "archiso (mkinitcpio)", "{r}");
    assert_eq!(r["unwrapped_initrds"], serde_json::json!([]), "{r}");
    assert_eq!(r["expected_to_work"], true, "{r}");
}

/// Windows media (UDF-only `sources/boot.wim`, as in Microsoft's ISOs, and an El Torito EFI
/// image) are recognised through their UDF tree and get a verdict that says what will go wrong.
#[test]
fn windows_media_are_recognised_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let efi = dir.path().join("efisys.bin");
    std::fs::File::create(&efi).unwrap().set_len(1440 << 10).unwrap();
    let e = efi.to_str().unwrap();
    run_tool(Command::new("mformat").args(["-i", e, "-f", "1440", "::"])).unwrap();
    run_tool(Command::new("mmd").args(["-i", e, "::/EFI", "::/EFI/BOOT"])).unwrap();
    run_tool(Command::new("mcopy").args(["-i", e, "/usr/lib/ipxe/ipxe.efi", "::/EFI/BOOT/BOOTX64.EFI"])).unwrap();
    let wim = dir.path().join("any.wim");
    std::fs::write(&wim, b"MSWIM\0\0\0 stand-in").unwrap();
    let visible = [("efi/microsoft/boot/efisys.bin", efi.as_path())];
    let args = ["-e", "efi/microsoft/boot/efisys.bin", "-no-emul-boot"];

    let files = [("sources/boot.wim", wim.as_path()), ("sources/install.esd", wim.as_path())];
    let iso = windows_shaped_iso_with(dir.path(), "setup.iso", &files, &visible, &args).unwrap();
    let r = &check_json(&[iso.to_str().unwrap()])[0];
    assert_eq!(r["uefi"], true, "{r}");
    assert_eq!(
        r["windows"],
        serde_json::json!({"kind": "setup", "boot_wim": "sources/boot.wim (UDF)", "install_image": "sources/install.esd (UDF)"}),
        "{r}"
    );
    assert_eq!(r["expected_to_work"], false, "{r}");
    let verdict = r["verdict"].as_str().unwrap();
    assert!(verdict.starts_with("Windows Setup medium") && verdict.contains("polyboot wtg create"), "{verdict}");
    let (ok, out, err) = polyboot(&["check", iso.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("  windows: setup medium, sources/boot.wim (UDF), install image sources/install.esd (UDF)"), "{out}");
    assert!(out.contains("  PROBLEM: Windows Setup medium"), "{out}");

    let iso = windows_shaped_iso_with(dir.path(), "pe.iso", &files[..1], &visible, &args).unwrap();
    let r = &check_json(&[iso.to_str().unwrap()])[0];
    assert_eq!(r["windows"]["kind"], "pe", "{r}");
    assert_eq!(r["windows"]["install_image"], Value::Null, "{r}");
    assert!(r["verdict"].as_str().unwrap().starts_with("Windows PE medium"), "{r}");

    // Not Windows: no `windows` entry.
    let r = &check_json(&["/usr/lib/ipxe/ipxe.iso"])[0];
    assert_eq!(r["windows"], Value::Null, "{r}");
}

/// `add` answers `check`'s question as it copies: a problem is known before anyone reaches
/// the firmware. Files the menu does not list get no verdict.
#[test]
fn add_says_which_images_will_not_boot() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("drive.img");
    let s = img.to_str().unwrap();
    let (ok, _, err) = polyboot(&["install", s, "--size", "128M"]);
    assert!(ok, "{err}");
    let wim = dir.path().join("install.wim");
    std::fs::write(&wim, vec![0u8; 64 << 10]).unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, b"not an image\n").unwrap();
    let (ok, out, err) = polyboot(&["add", "--json", s, "/usr/lib/ipxe/ipxe.iso", wim.to_str().unwrap(), notes.to_str().unwrap()]);
    assert!(ok, "{err}");
    let added: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(added[0]["expected_to_work"], true, "{}", added[0]);
    assert_eq!(added[1]["expected_to_work"], false, "{}", added[1]);
    assert!(added[1]["verdict"].as_str().unwrap().contains("not bootable yet"), "{}", added[1]);
    assert_eq!((&added[2]["expected_to_work"], &added[2]["verdict"]), (&Value::Null, &Value::Null), "{}", added[2]);
    // The verdict is check's own.
    let checked = check_json(&[s, "install.wim"]);
    assert_eq!(added[1]["verdict"], checked[0]["verdict"]);

    let (ok, out, err) = polyboot(&["add", s, wim.to_str().unwrap(), "--to", "again"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("added /again/install.wim"), "{out}");
    assert!(lines[1].starts_with("  PROBLEM: ") && lines[1].contains("not bootable yet"), "{out}");
}
