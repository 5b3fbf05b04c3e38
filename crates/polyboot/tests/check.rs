//! `polyboot check` on real and mastered ISOs, on the host and on a drive.

mod common;
use common::run as polyboot;
use polyboot_tests::fixtures::{self, windows_shaped_iso_with};
use polyboot_tests::{artifacts, run_tool};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `check ... --json`: the array of checked images. The exit status says whether all of them
/// are expected to work (none of the targets checked this way holds a skipped image).
fn check_json(args: &[&str]) -> Vec<Value> {
    let mut a = vec!["check"];
    a.extend_from_slice(args);
    a.push("--json");
    let (ok, out, err) = polyboot(&a);
    let results = serde_json::from_str::<Value>(&out)
        .unwrap_or_else(|e| panic!("{e}: {out} {err}"))
        .as_array()
        .unwrap()
        .clone();
    let all_work = results.iter().all(|r| r["expected_to_work"] == true);
    assert_eq!(ok, all_work, "exit status vs verdicts: {out} {err}");
    results
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
    run_tool(Command::new("mcopy").args(["-i", e, artifacts::IPXE_EFI, "::/EFI/BOOT/BOOTX64.EFI"]))
        .unwrap();
    let iso = dir.join(format!("{name}.iso"));
    run_tool(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-o"])
            .arg(&iso)
            .args(["-e", "efi.img", "-no-emul-boot"])
            .arg(&root),
    )
    .unwrap();
    iso
}

#[test]
fn ipxe_iso_is_expected_to_boot() {
    let r = &check_json(&[artifacts::IPXE_ISO])[0];
    assert_eq!((r["uefi"].as_bool(), r["bios"].as_bool()), (Some(true), Some(true)), "{r}");
    assert_eq!(r["expected_to_work"], true, "{r}");
    assert_eq!(r["initrds"].as_array().unwrap().len(), 0);
    assert_eq!(r["init_family"], "none needed (no Linux initrd)");
}

/// `check`'s verdict for one firmware: (boots, method).
fn mode(r: &Value, firmware: &str) -> (Value, Value) {
    let v = &r[format!("{firmware}_verdict")];
    (v["boots"].clone(), v["method"].clone())
}

/// `check FILE` (text): the `UEFI:` and `BIOS:` lines and the overall line (`OK` with exit
/// status 0, `PROBLEM` with 1).
fn mode_lines(file: &Path) -> [String; 3] {
    let (ok, out, err) = polyboot(&["check", file.to_str().unwrap()]);
    let find = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line: {out}{err}"))
            .to_string()
    };
    let overall = if ok { find("  OK: ") } else { find("  PROBLEM: ") };
    eprintln!("{out}");
    [find("  UEFI: "), find("  BIOS: "), overall]
}

/// Each El Torito shape gets a verdict per firmware from the probe the boot menus use: the
/// method each firmware's boot code will use, or why it cannot; an image that boots in one
/// mode is expected to work, and the verdict says in which.
#[test]
fn el_torito_shapes_get_a_verdict_per_firmware() {
    let (t, f) = (Value::Bool(true), Value::Bool(false));
    let s = |m: &str| Value::String(m.to_string());

    // iPXE: hybrid, no-emulation BIOS entry.
    let ipxe = Path::new(artifacts::IPXE_ISO);
    let r = &check_json(&[ipxe.to_str().unwrap()])[0];
    assert_eq!(mode(r, "uefi"), (t.clone(), s("efi_entry")), "{r}");
    assert_eq!(mode(r, "bios"), (t.clone(), s("no_emulation")), "{r}");
    assert_eq!(
        mode_lines(ipxe),
        [
            "  UEFI: OK: El Torito EFI boot image, the ISO served as a CD",
            "  BIOS: OK: El Torito no-emulation, served as a CD drive",
            "  OK: expected to boot in UEFI and BIOS",
        ]
    );

    // Debian's GRUB rescue CD: BIOS only. Its sample grub.cfg boots kernels from (hd0,msdos1),
    // which the ISO does not hold: they say nothing about this ISO's init.
    let rescue = Path::new(artifacts::GRUB_RESCUE_ISO);
    assert!(rescue.is_file(), "{} is missing (Debian package grub-rescue-pc)", rescue.display());
    let r = &check_json(&[rescue.to_str().unwrap()])[0];
    assert_eq!(mode(r, "uefi"), (f.clone(), Value::Null), "{r}");
    assert_eq!(mode(r, "bios"), (t.clone(), s("no_emulation")), "{r}");
    assert_eq!((&r["uefi"], &r["bios"], &r["expected_to_work"]), (&f, &t, &t), "{r}");
    assert_eq!(
        mode_lines(rescue),
        [
            "  UEFI: will not boot: BIOS only: no EFI boot entry in the El Torito catalog",
            "  BIOS: OK: El Torito no-emulation, served as a CD drive",
            "  OK: expected to boot in BIOS only",
        ]
    );

    // Debian's memtest86+: a 1.44 MB floppy-emulation BIOS entry and an EFI entry.
    let memtest = Path::new(artifacts::MEMTEST_ISO);
    assert!(memtest.is_file(), "{} is missing (Debian package memtest86+)", memtest.display());
    let r = &check_json(&[memtest.to_str().unwrap()])[0];
    assert_eq!(mode(r, "uefi"), (t.clone(), s("efi_entry")), "{r}");
    assert_eq!(mode(r, "bios"), (t.clone(), s("floppy_emulation")), "{r}");
    assert_eq!(
        mode_lines(memtest)[1],
        "  BIOS: OK: El Torito floppy emulation (1.44 MB), served as floppy drive 0x00"
    );

    // grub-mkrescue: GRUB's eltorito.img (no-emulation) and an EFI entry.
    let dir = tempfile::tempdir().unwrap();
    let mkrescue = fixtures::grub_mkrescue_iso(dir.path(), "POLYBOOT-CHECK").unwrap();
    let r = &check_json(&[mkrescue.to_str().unwrap()])[0];
    assert_eq!(mode(r, "uefi"), (t.clone(), s("efi_entry")), "{r}");
    assert_eq!(mode(r, "bios"), (t.clone(), s("no_emulation")), "{r}");
    assert_eq!(r["verdict"], "expected to boot in UEFI and BIOS", "{r}");

    // Hard-disk emulation, BIOS only.
    let hd = fixtures::emulated_iso(
        dir.path(),
        "hd",
        &fixtures::hard_disk_image("m"),
        &["-hard-disk-boot"],
    )
    .unwrap();
    let r = &check_json(&[hd.to_str().unwrap()])[0];
    assert_eq!(mode(r, "uefi"), (f.clone(), Value::Null), "{r}");
    assert_eq!(mode(r, "bios"), (t.clone(), s("hard_disk_emulation")), "{r}");
    assert_eq!(
        mode_lines(&hd)[1..],
        [
            "  BIOS: OK: El Torito hard-disk emulation, served as hard disk 0x80",
            "  OK: expected to boot in BIOS only",
        ]
    );

    // Floppy emulation mastered by xorriso (no EFI entry): BIOS only.
    let floppy =
        fixtures::emulated_iso(dir.path(), "fd", &fixtures::floppy_image("m"), &[]).unwrap();
    let r = &check_json(&[floppy.to_str().unwrap()])[0];
    assert_eq!(mode(r, "bios"), (t.clone(), s("floppy_emulation")), "{r}");
    assert_eq!(r["verdict"], "expected to boot in BIOS only", "{r}");

    // ISOLINUX with its isohybrid MBR (the ISO's own MBR does not make it a disk image), and a
    // no-emulation image that loads the rest of itself: BIOS only, as a CD drive.
    for iso in [
        fixtures::isolinux_hybrid_iso(dir.path(), "m").unwrap(),
        fixtures::no_emulation_loader_iso(dir.path()).unwrap(),
    ] {
        let r = &check_json(&[iso.to_str().unwrap()])[0];
        assert_eq!(mode(r, "uefi"), (f.clone(), Value::Null), "{r}");
        assert_eq!(mode(r, "bios"), (t.clone(), s("no_emulation")), "{r}");
        assert_eq!(r["verdict"], "expected to boot in BIOS only", "{r}");
    }
}

#[test]
fn truncated_iso_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let iso = std::fs::read(artifacts::IPXE_ISO).unwrap();
    let broken = dir.path().join("broken.iso");
    std::fs::write(&broken, &iso[..iso.len() / 3]).unwrap();
    let r = &check_json(&[broken.to_str().unwrap()])[0];
    assert_eq!(r["expected_to_work"], false);
    assert!(r["problem"].as_str().unwrap().contains("truncated"), "{r}");
    let (ok, out, _) = polyboot(&["check", broken.to_str().unwrap()]);
    assert!(!ok && out.contains("PROBLEM: will not boot in UEFI nor BIOS: truncated"), "{out}");
}

#[test]
fn live_isos_report_their_initrds_and_init_family() {
    let dir = tempfile::tempdir().unwrap();
    // (name, command line, family, expected to work, what the verdict says)
    let cases = [
        (
            "debian-live",
            "boot=live components quiet",
            "live-boot (initramfs-tools)",
            true,
            "LIVE_MEDIA",
        ),
        (
            "fedora-live",
            "root=live:CDLABEL=Fedora-Live rd.live.image quiet",
            "dracut dmsquash-live",
            true,
            "by label",
        ),
        (
            "ubuntu",
            "boot=casper quiet splash ---",
            "casper (initramfs-tools)",
            true,
            "not yet verified",
        ),
        (
            "installer",
            "vga=788 --- quiet",
            "other / custom init (e.g. an installer)",
            false,
            "uncertain",
        ),
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
    let (ok, _, err) = polyboot(&[
        "add",
        "-q",
        s,
        artifacts::IPXE_ISO,
        live.to_str().unwrap(),
        wim.to_str().unwrap(),
        "--to",
        "isos",
    ]);
    assert!(ok, "{err}");
    let all = check_json(&[s]);
    let paths: Vec<&str> = all.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/isos/debian-live.iso", "/isos/install.wim", "/isos/ipxe.iso"]);
    assert!(all[1]["verdict"].as_str().unwrap().contains("not a Windows image"), "{}", all[1]);
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
    for d in [
        "::/EFI",
        "::/EFI/BOOT",
        "::/loader",
        "::/loader/entries",
        "::/arch",
        "::/arch/boot",
        "::/arch/boot/x86_64",
    ] {
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
    run_tool(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-o"])
            .arg(&iso)
            .args(["-e", "efiboot.img", "-no-emul-boot"])
            .arg(&root),
    )
    .unwrap();
    let r = &check_json(&[iso.to_str().unwrap()])[0];
    assert_eq!(
        r["initrds"],
        serde_json::json!(["/arch/boot/x86_64/initramfs-linux.img (El Torito image)"]),
        "{r}"
    );
    assert_eq!(
        r["kernels"],
        serde_json::json!(["/arch/boot/x86_64/vmlinuz-linux (El Torito image)"]),
        "{r}"
    );
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
    run_tool(Command::new("mcopy").args(["-i", e, artifacts::IPXE_EFI, "::/EFI/BOOT/BOOTX64.EFI"]))
        .unwrap();
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
        serde_json::json!({"kind": "setup", "boot_wim": "sources/boot.wim (UDF)", "install_image": "sources/install.esd (UDF)",
            "jump_program": {"Err": "not a Windows image (no WIM header)"},
            "uefi_prompt": null, "bios_prompt": null, "shell": null}),
        "{r}"
    );
    assert_eq!(r["expected_to_work"], false, "{r}");
    let verdict = r["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("Windows Setup medium") && verdict.contains("polyboot wtg create"),
        "{verdict}"
    );
    let (ok, out, err) = polyboot(&["check", iso.to_str().unwrap()]);
    assert!(!ok, "a PROBLEM verdict is exit status 1: {out} {err}");
    assert!(out.contains("  windows: setup medium, sources/boot.wim (UDF), install image sources/install.esd (UDF)"), "{out}");
    assert!(out.contains("  PROBLEM: Windows Setup medium"), "{out}");

    let iso = windows_shaped_iso_with(dir.path(), "pe.iso", &files[..1], &visible, &args).unwrap();
    let r = &check_json(&[iso.to_str().unwrap()])[0];
    assert_eq!(r["windows"]["kind"], "pe", "{r}");
    assert_eq!(r["windows"]["install_image"], Value::Null, "{r}");
    assert!(r["verdict"].as_str().unwrap().starts_with("Windows PE medium"), "{r}");

    // A real WinPE WIM (wimcapture): the boot manager serves it with the jump program.
    let pe = dir.path().join("pe-tree/Windows/System32");
    std::fs::create_dir_all(&pe).unwrap();
    std::fs::write(pe.join("winpeshl.exe"), b"MZ shell").unwrap();
    let real = dir.path().join("boot.wim");
    run_tool(Command::new("wimcapture").arg(dir.path().join("pe-tree")).arg(&real).args([
        "WinPE",
        "--compress=XPRESS",
        "--boot",
    ]))
    .unwrap();
    let files = [("sources/boot.wim", real.as_path()), ("sources/install.esd", wim.as_path())];
    let iso = windows_shaped_iso_with(dir.path(), "real.iso", &files, &visible, &args).unwrap();
    let r = &check_json(&[iso.to_str().unwrap()])[0];
    assert_eq!(
        r["windows"]["jump_program"]["Ok"],
        "/sources/boot.wim (the default), image 1, the x64 jump program",
        "{r}"
    );
    assert_eq!(r["windows"]["shell"], "\\Windows\\System32\\winpeshl.exe", "{r}");
    // efisys.bin (cdboot.efi) without efisys_noprompt.bin: the prompt stays, and check says so.
    let prompt = r["windows"]["uefi_prompt"].as_str().unwrap();
    assert!(prompt.contains("will be shown") && prompt.contains("efisys_noprompt.bin"), "{r}");
    assert_eq!(
        r["windows"]["bios_prompt"], "no \"Press any key\" prompt (no \\boot\\bootfix.bin)",
        "{r}"
    );
    assert_eq!(r["expected_to_work"], true, "{r}");
    let verdict = r["verdict"].as_str().unwrap();
    assert!(
        verdict.contains(
            "in UEFI and BIOS mode polyboot serves /sources/boot.wim (the default), image 1, \
             the x64 jump program, in place of Windows PE's shell"
        ) && verdict.contains("not with a real Windows"),
        "{verdict}"
    );

    // Not Windows: no `windows` entry.
    let r = &check_json(&[artifacts::IPXE_ISO])[0];
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
    let (ok, out, err) = polyboot(&[
        "add",
        "--json",
        s,
        artifacts::IPXE_ISO,
        wim.to_str().unwrap(),
        notes.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let added: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(added[0]["expected_to_work"], true, "{}", added[0]);
    assert_eq!(added[1]["expected_to_work"], false, "{}", added[1]);
    assert!(added[1]["verdict"].as_str().unwrap().contains("not a Windows image"), "{}", added[1]);
    assert_eq!(
        (&added[2]["expected_to_work"], &added[2]["verdict"]),
        (&Value::Null, &Value::Null),
        "{}",
        added[2]
    );
    // The verdict is check's own.
    let checked = check_json(&[s, "install.wim"]);
    assert_eq!(added[1]["verdict"], checked[0]["verdict"]);

    let (ok, out, err) = polyboot(&["add", s, wim.to_str().unwrap(), "--to", "again"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("added /again/install.wim"), "{out}");
    assert!(
        lines[1].starts_with("  PROBLEM: ") && lines[1].contains("not a Windows image"),
        "{out}"
    );
}

fn new_drive(dir: &Path) -> String {
    let img = dir.join("drive.img");
    let s = img.to_str().unwrap().to_string();
    let (ok, _, err) = polyboot(&["install", &s, "--size", "128M"]);
    assert!(ok, "{err}");
    s
}

/// Copy `name` (written with `data`) to `to` on the drive.
fn add_file(drive: &str, dir: &Path, name: &str, data: &[u8], to: &str) -> (bool, String, String) {
    let host = dir.join("files").join(to.trim_start_matches('/')).join(name);
    std::fs::create_dir_all(host.parent().unwrap()).unwrap();
    std::fs::write(&host, data).unwrap();
    polyboot(&["add", "-q", drive, host.to_str().unwrap(), "--to", to])
}

/// `check DRIVE` lists what the menu shows and every candidate the boot manager's scan skips,
/// each with its reason, under the drive's own configuration (here a search depth of 1); it
/// exits with status 1 while an image file is left out as too small, 0 once it is gone.
#[test]
fn check_lists_every_skipped_file_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_drive(dir.path());
    let ipxe = std::fs::read(artifacts::IPXE_ISO).unwrap();
    let files: [(&str, &[u8], &str); 10] = [
        ("ipxe.iso", &ipxe, "/isos"),
        ("junk.iso", &[7u8; 5000], "/"),
        ("junk.bin", b"not an image", "/"),
        ("._ipxe.iso", &ipxe, "/isos"),
        ("old.iso", &ipxe, "/.Trash-1000"),
        ("old.iso", &ipxe, "/$RECYCLE.BIN"),
        ("x.iso", &ipxe, "/System Volume Information"),
        (".ventoyignore", b"", "/office"),
        ("office.iso", &ipxe, "/office"),
        ("deep.iso", &ipxe, "/isos/older"),
    ];
    for (name, data, to) in files {
        let (ok, _, err) = add_file(&s, dir.path(), name, data, to);
        assert!(ok, "{name}: {err}");
    }
    let (ok, _, err) =
        add_file(&s, dir.path(), "polyboot.json", br#"{"search": {"max_depth": 1}}"#, "/polyboot");
    assert!(ok && err.is_empty(), "{err}");

    let (ok, out, err) = polyboot(&["check", &s]);
    assert!(!ok, "junk.iso is an image the menu leaves out: exit status 1\n{out}{err}");
    assert!(out.starts_with("/isos/ipxe.iso (ISO, 2.0 MiB): boot modes UEFI+BIOS\n"), "{out}");
    let skipped: Vec<&str> = out.lines().filter(|l| l.starts_with("skipped ")).collect();
    assert_eq!(
        skipped,
        [
            "skipped /$RECYCLE.BIN: ignored directory: trash or Windows system directory (nothing below it is listed)",
            "skipped /.Trash-1000: ignored directory: trash or Windows system directory (nothing below it is listed)",
            "skipped /isos/._ipxe.iso: macOS metadata file (._*)",
            "skipped /isos/older: deeper than the search depth (nothing below it is listed)",
            "skipped /junk.bin: unknown extension (images end in .iso, .img, .efi, .wim, .vhd or .vhdx)",
            "skipped /junk.iso: too small or truncated: 4.9 KiB is under the 32.0 KiB an image needs (PROBLEM)",
            "skipped /office: ignored directory: it holds a .polybootignore / .ventoyignore file (nothing below it is listed)",
            "skipped /System Volume Information: ignored directory: trash or Windows system directory (nothing below it is listed)",
        ],
        "{out}"
    );
    // Only the images the menu lists are checked.
    assert_eq!(out.lines().filter(|l| l.contains("boot modes")).count(), 1, "{out}");

    // --json keeps its array of checked images; --with-skipped adds the rest.
    let (ok, out, err) = polyboot(&["check", &s, "--json"]);
    assert!(!ok, "{err}");
    let images: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!((images.len(), &images[0]["path"]), (1, &Value::from("/isos/ipxe.iso")), "{out}");
    let (ok, out, err) = polyboot(&["check", &s, "--json", "--with-skipped"]);
    assert!(!ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["images"][0]["path"], "/isos/ipxe.iso", "{report}");
    let reasons: Vec<(&str, &str, bool)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap(),
                s["reason"].as_str().unwrap(),
                s["problem"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("/$RECYCLE.BIN", "system_directory", false),
            ("/.Trash-1000", "system_directory", false),
            ("/isos/._ipxe.iso", "dot_underscore", false),
            ("/isos/older", "too_deep", false),
            ("/junk.bin", "unknown_extension", false),
            ("/junk.iso", "too_small", true),
            ("/office", "ignore_marker", false),
            ("/System Volume Information", "system_directory", false),
        ]
    );
    assert_eq!(report["notes"], serde_json::json!([]), "{report}");

    // Without the too-small image nothing reported is a problem: exit status 0, and the
    // deliberate skips are still listed.
    let (ok, _, err) = polyboot(&["rm", &s, "junk.iso"]);
    assert!(ok, "{err}");
    let (ok, out, err) = polyboot(&["check", &s]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("\nskipped /junk.bin: unknown extension"), "{out}");
    assert!(!out.contains("junk.iso") && !out.contains("PROBLEM"), "{out}");
}

/// `add` of a ventoy.json the boot manager's parser refuses: the same line / column error the
/// boot menu would print, the file copied all the same, and `check` says the menu ignores it.
#[test]
fn add_of_a_broken_ventoy_json_says_where_and_copies_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_drive(dir.path());
    let broken = b"{\n  \"control\": [\n    {\"VTOY_MENU_TIMEOUT\": \"5\"},\n  ]\n}\n";
    let (ok, out, err) = add_file(&s, dir.path(), "ventoy.json", broken, "ventoy");
    assert!(ok, "{err}");
    assert_eq!(
        err.trim_end(),
        "warning: /ventoy/ventoy.json: line 4, column 3: trailing comma; copied anyway, the boot menu will ignore it",
        "{out}"
    );
    let (ok, listing, err) = polyboot(&["ls", &s, "ventoy"]);
    assert!(ok && listing.contains("ventoy.json"), "{listing}{err}");

    // --json carries it too (the boot manager looks the path up ignoring case); a valid
    // polyboot.json has no error.
    let (ok, _, err) = polyboot(&["rm", &s, "ventoy/ventoy.json"]);
    assert!(ok, "{err}");
    let host = dir.path().join("files/ventoy/ventoy.json");
    let (ok, out, err) =
        polyboot(&["add", "--json", &s, host.to_str().unwrap(), "--to", "/Ventoy"]);
    assert!(ok, "{err}");
    let added: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(added[0]["config_error"], "line 4, column 3: trailing comma", "{out}");
    let (ok, out, err) = add_file(
        &s,
        dir.path(),
        "polyboot.json",
        br#"{"menu": {"timeout": 5}, "colour": 1}"#,
        "polyboot",
    );
    assert!(ok && out.starts_with("added /polyboot/polyboot.json"), "{out}{err}");
    assert!(
        !err.contains("warning:")
            && err.contains("note: /polyboot/polyboot.json: ")
            && err.contains("colour"),
        "{err}"
    );
    let (ok, out, _) = add_file(&s, dir.path(), "notes.json", b"{", "ventoy");
    assert!(ok && !out.contains("warning"), "only the configuration files are parsed: {out}");

    // check reads the drive's configuration as the boot manager does.
    let (ok, out, err) = polyboot(&["check", &s]);
    assert!(ok, "no image, nothing expected not to boot: {out}{err}");
    assert!(out.contains("note: config: /ventoy/ventoy.json: line 4, column 3: trailing comma; the boot menu ignores the file"), "{out}");
}

/// A disk image under BIOS boots from its MBR as hard disk 0x80 when the MBR has boot code and
/// the boot signature (what a BIOS needs, and what the BIOS boot code checks before it jumps);
/// otherwise `check` says it will not boot in BIOS, before the firmware does.
#[test]
fn disk_images_get_a_bios_verdict_from_their_mbr() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, code: bool, signature: bool| {
        let mut img = vec![0u8; 1 << 20];
        if code {
            img[..3].copy_from_slice(&[0xFA, 0xF4, 0xEB]);
        }
        if signature {
            img[510..512].copy_from_slice(&[0x55, 0xAA]);
        }
        let path = dir.path().join(name);
        std::fs::write(&path, img).unwrap();
        path
    };
    let bootable = write("bootable.img", true, true);
    let r = &check_json(&[bootable.to_str().unwrap()])[0];
    assert_eq!(r["bios_verdict"]["boots"], true, "{r}");
    assert_eq!(r["bios_verdict"]["method"], "disk_image_mbr", "{r}");
    assert_eq!(
        r["verdict"],
        "expected to boot in BIOS (in UEFI not certain: no EFI system partition found in its \
         partition table)",
        "{r}"
    );
    let no_code = "the disk image has no BIOS boot code in its MBR (it may boot in UEFI mode only)";
    for (name, code, signature) in [("empty.img", false, true), ("unsigned.img", true, false)] {
        let path = write(name, code, signature);
        let r = &check_json(&[path.to_str().unwrap()])[0];
        assert_eq!(r["bios_verdict"]["boots"], false, "{name}: {r}");
        assert_eq!(r["bios_verdict"]["method"], Value::Null, "{name}: {r}");
        assert_eq!(r["bios_verdict"]["detail"], no_code, "{name}: {r}");
        assert_eq!(r["expected_to_work"], false, "{name}: {r}");
    }
    // The ESP disk that boots in UEFI: no BIOS code, so UEFI only.
    let esp = dir.path().join("esp.img");
    fixtures::esp_disk(&esp, &artifacts::efi_app().unwrap()).unwrap();
    let r = &check_json(&[esp.to_str().unwrap()])[0];
    assert_eq!(r["uefi_verdict"]["boots"], true, "{r}");
    assert_eq!(r["bios_verdict"]["boots"], false, "{r}");
    assert_eq!(r["verdict"], "expected to boot in UEFI only", "{r}");
}

/// `check`'s Secure Boot outlook (issue 15): the EFI loader each image starts from, signed or
/// not, by whom, and the verdict, from the file alone.
#[test]
fn secure_boot_outlook_of_unsigned_signed_and_shim_images() {
    let dir = tempfile::tempdir().unwrap();
    let sb = |path: &Path| check_json(&[path.to_str().unwrap()])[0]["secure_boot"].clone();

    // iPXE's ISO: its El Torito EFI image's BOOTX64.EFI is unsigned.
    let r = sb(Path::new(artifacts::IPXE_ISO));
    assert_eq!(r["file"], "/EFI/BOOT/BOOTX64.EFI in the El Torito EFI image", "{r}");
    assert_eq!(r["signed"], false, "{r}");
    assert_eq!(r["digest"], "unsigned", "{r}");
    assert_eq!(r["verdict"], "needs_enrollment", "{r}");
    assert_eq!(r["signers"].as_array().unwrap().len(), 0, "{r}");

    // iPXE signed with sbsign by OVMF's snakeoil key: signed, intact, not a key PCs trust.
    let (key, cert) = fixtures::snakeoil_key(dir.path()).unwrap();
    let signed = dir.path().join("ipxe-signed.efi");
    fixtures::sbsign(&key, &cert, Path::new(artifacts::IPXE_EFI), &signed).unwrap();
    let r = sb(&signed);
    assert_eq!(r["file"], "the EFI application", "{r}");
    assert_eq!(r["signed"], true, "{r}");
    assert_eq!(r["digest"], "matches", "{r}");
    assert_eq!(r["verdict"], "needs_enrollment", "{r}");
    let snakeoil = "O=SnakeOil, L=Fort Collins, ST=Colorado, C=US";
    assert_eq!(r["signers"][0]["subject"], snakeoil, "{r}");
    assert_eq!(r["signers"][0]["issuer"], snakeoil, "{r}");
    assert_eq!(r["signers"][0]["digest_algorithm"], "SHA256", "{r}");
    let (ok, out, err) = polyboot(&["check", signed.to_str().unwrap()]);
    assert!(ok, "{out} {err}");
    assert!(
        out.contains("  Secure Boot: needs its hash or key enrolled (MOK): signed by O=SnakeOil"),
        "{out}"
    );
    assert!(out.contains(&format!("    signed by {snakeoil} (issuer {snakeoil})")), "{out}");

    // The same file altered by one byte after signing: refused.
    let mut bytes = std::fs::read(&signed).unwrap();
    bytes[0x1000] ^= 1;
    let altered = dir.path().join("ipxe-altered.efi");
    std::fs::write(&altered, &bytes).unwrap();
    let r = sb(&altered);
    assert_eq!(
        (r["digest"].as_str(), r["verdict"].as_str()),
        (Some("altered"), Some("refused")),
        "{r}"
    );

    // Debian's shim, signed by Microsoft's UEFI CA (2011 and 2023): boots with Secure Boot on.
    let shim = dir.path().join("shimx64.efi");
    std::fs::copy("/usr/lib/shim/shimx64.efi.signed", &shim).unwrap();
    let r = sb(&shim);
    assert_eq!(
        (r["digest"].as_str(), r["verdict"].as_str()),
        (Some("matches"), Some("boots")),
        "{r}"
    );
    let issuers: Vec<&str> =
        r["signers"].as_array().unwrap().iter().map(|s| s["issuer"].as_str().unwrap()).collect();
    assert_eq!(
        issuers,
        [
            "CN=Microsoft Corporation UEFI CA 2011, O=Microsoft Corporation, L=Redmond, ST=Washington, C=US",
            "CN=Microsoft UEFI CA 2023, O=Microsoft Corporation, C=US",
        ],
        "{r}"
    );
    // Debian's MokManager, signed by Debian's key: through Debian's shim.
    let mm = dir.path().join("mmx64.efi");
    std::fs::copy("/usr/lib/shim/mmx64.efi.signed", &mm).unwrap();
    let r = sb(&mm);
    assert_eq!(r["verdict"], "boots", "{r}");
    assert_eq!(r["signers"][0]["subject"], "CN=Debian Secure Boot Signer 2022 - shim", "{r}");
    assert!(r["detail"].as_str().unwrap().contains("Debian's shim"), "{r}");

    // A disk image whose ESP starts the shim.
    let disk = dir.path().join("shim-esp.img");
    fixtures::esp_disk(&disk, &shim).unwrap();
    let r = sb(&disk);
    assert_eq!(r["file"], "/EFI/BOOT/BOOTX64.EFI on the EFI system partition", "{r}");
    assert_eq!(r["verdict"], "boots", "{r}");
}

/// Signers are recognised by their issuer's name (the file alone cannot prove who signed):
/// a certificate issued by a CA named like Microsoft's Windows CA gives "boots", one named
/// like Ubuntu's shim CA "needs enrollment" (polyboot starts from Debian's shim).
#[test]
fn secure_boot_verdict_follows_the_issuer_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let openssl =
        |args: &[&str]| run_tool(Command::new("openssl").current_dir(d).args(args)).unwrap();
    for (i, (ca, verdict)) in [
        ("Microsoft Windows Production PCA 2011", "boots"),
        ("Canonical Ltd. Master Certificate Authority", "needs_enrollment"),
    ]
    .into_iter()
    .enumerate()
    {
        let (ca_key, ca_pem) = (format!("ca{i}.key"), format!("ca{i}.pem"));
        let (key, csr, pem) =
            (format!("leaf{i}.key"), format!("leaf{i}.csr"), format!("leaf{i}.pem"));
        let subj = format!("/CN={ca}");
        openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", &subj,
            "-keyout", &ca_key, "-out", &ca_pem,
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=test leaf",
            "-keyout",
            &key,
            "-out",
            &csr,
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-set_serial",
            "7",
            "-days",
            "30",
            "-out",
            &pem,
        ]);
        let signed = d.join(format!("signed{i}.efi"));
        fixtures::sbsign(&d.join(&key), &d.join(&pem), Path::new(artifacts::IPXE_EFI), &signed)
            .unwrap();
        let r = check_json(&[signed.to_str().unwrap()])[0]["secure_boot"].clone();
        assert_eq!(r["verdict"], verdict, "{r}");
        assert_eq!(r["signers"][0]["subject"], "CN=test leaf", "{r}");
        assert_eq!(r["signers"][0]["issuer"], format!("CN={ca}"), "{r}");
        assert_eq!(r["signers"][0]["serial"], "07", "{r}");
    }
}

/// Persistence, auto-install, injection, conf_replace and driver update disks (issue 18):
/// `check DRIVE` says per image what the drive's ventoy.json names for it (per firmware when
/// `_uefi` / `_legacy` keys differ) and whether polyboot can do it there: a live-boot ISO
/// takes persistence and injection, an Anaconda installer ISO auto-install templates and
/// driver update disks but no persistence, a conf_replace file the ISO does not hold is
/// named, iPXE gets no lines. `check FILE` (no configuration) says what an image could use.
#[test]
fn check_says_which_linux_extras_apply_and_are_supported() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_drive(dir.path());
    let live = live_like_iso(dir.path(), "debian-live", "boot=live components quiet");
    let fedora_iso = live_like_iso(
        dir.path(),
        "fedora-netinst",
        "inst.stage2=hd:LABEL=Fedora-E-dvd-x86_64-40 quiet",
    );
    let (ok, _, err) = polyboot(&[
        "add",
        "-q",
        &s,
        artifacts::IPXE_ISO,
        live.to_str().unwrap(),
        fedora_iso.to_str().unwrap(),
        "--to",
        "isos",
    ]);
    assert!(ok, "{err}");
    for (name, to) in [
        ("live.dat", "/persistence"),
        ("uefi.dat", "/persistence"),
        ("inject.tar.gz", "/ventoy"),
        ("grub.cfg", "/ventoy"),
        ("ks.cfg", "/ventoy"),
        ("dd.rpm", "/ventoy"),
    ] {
        let (ok, _, err) = add_file(&s, dir.path(), name, b"some bytes", to);
        assert!(ok, "{name}: {err}");
    }
    let ventoy = br#"{
        "persistence": [
            { "image": "/isos/debian-live.iso", "backend": "/persistence/live.dat", "autosel": 1 },
            { "image": "/isos/fedora-netinst.iso", "backend": "/persistence/live.dat" }
        ],
        "persistence_uefi": [
            { "image": "/isos/debian-live.iso", "backend": ["/persistence/live.dat", "/persistence/uefi.dat"], "autosel": 2, "timeout": 5 }
        ],
        "auto_install": [ { "image": "/isos/fedora-netinst.iso", "template": "/ventoy/ks.cfg", "autosel": 1 } ],
        "injection": [ { "parent": "/isos", "archive": "/ventoy/inject.tar.gz" } ],
        "conf_replace": [
            { "iso": "/isos/debian-live.iso", "org": "/boot/grub/grub.cfg", "new": "/ventoy/grub.cfg" },
            { "iso": "/isos/debian-live.iso", "org": "/isolinux/txt.cfg", "new": "/ventoy/grub.cfg" }
        ],
        "dud": [ { "image": "/isos/fedora-netinst.iso", "dud": "/ventoy/dd.rpm" } ]
    }"#;
    let (ok, _, err) = add_file(&s, dir.path(), "ventoy.json", ventoy, "/ventoy");
    assert!(ok, "{err}");

    let (ok, out, err) = polyboot(&["check", &s]);
    assert!(!ok, "the installer-like ISO's init is not one polyboot knows: {out}{err}");
    let block = |path: &str| -> Vec<String> {
        let start = out.find(&format!("{path} (ISO")).unwrap_or_else(|| panic!("{out}"));
        out[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter(|l| {
                ["persistence", "auto_install", "injection", "conf_replace", "dud", "also ", "not "]
                    .iter()
                    .any(|p| l[2..].starts_with(p))
            })
            .map(String::from)
            .collect()
    };
    // live-boot: persistence (the UEFI and BIOS entries differ), injection, conf_replace.
    assert_eq!(
        block("/isos/debian-live.iso"),
        [
            "  persistence [UEFI]: /persistence/live.dat, /persistence/uefi.dat: a menu for 5 s, then /persistence/uefi.dat -> supported: polyboot's hook maps the backend and tells live-boot (initramfs-tools) to use it",
            "  persistence [BIOS]: /persistence/live.dat (no menu) -> supported: polyboot's hook maps the backend and tells live-boot (initramfs-tools) to use it",
            "  injection: /ventoy/inject.tar.gz -> supported: polyboot's hook extracts it over / before the image's own /init starts",
            "  conf_replace: /boot/grub/grub.cfg <- /ventoy/grub.cfg, /isolinux/txt.cfg <- /ventoy/grub.cfg -> supported: served from the drive in the ISO's ISO 9660 / Joliet / UDF trees; not in the ISO, so not replaced: /isolinux/txt.cfg",
            "  not possible: auto_install (installer not detected); dud (only Anaconda takes driver update disks; installer not detected)",
        ],
        "{out}"
    );
    // Anaconda: the template and the driver disk with their parameters; no persistence.
    assert_eq!(
        block("/isos/fedora-netinst.iso"),
        [
            "  persistence [BIOS]: /persistence/live.dat: a menu waits for a choice -> NOT SUPPORTED: other / custom init (e.g. an installer): polyboot sets persistence up for live-boot, casper, dracut and archiso only",
            "  auto_install: /ventoy/ks.cfg (no menu) -> supported: Anaconda: the template goes to /ks.cfg in the initramfs, with inst.ks=file:/ks.cfg",
            "  injection: /ventoy/inject.tar.gz -> supported: polyboot's hook extracts it over / before the image's own /init starts",
            "  dud: /ventoy/dd.rpm -> supported: Anaconda: each disk is copied to /polyboot-dud/N.<ext> in the initramfs, with inst.dd=",
            "  also possible: conf_replace",
        ],
        "{out}"
    );
    // iPXE has no initrd: the injection its directory's entry names cannot apply.
    assert_eq!(
        block("/isos/ipxe.iso")[0],
        "  injection: /ventoy/inject.tar.gz -> NOT SUPPORTED: no Linux initrd to put it in",
        "{out}"
    );

    // --json: every feature of every ISO, with what is configured and whether it works.
    let all = check_json_ignoring_status(&[&s]);
    let feature = |r: &Value, name: &str, firmware: Value| -> Value {
        r["extras"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["feature"] == name && e["firmware"] == firmware)
            .unwrap_or_else(|| panic!("no {name} in {r}"))
            .clone()
    };
    let live = all.iter().find(|r| r["path"] == "/isos/debian-live.iso").unwrap();
    let fedora = all.iter().find(|r| r["path"] == "/isos/fedora-netinst.iso").unwrap();
    let ipxe = all.iter().find(|r| r["path"] == "/isos/ipxe.iso").unwrap();
    assert_eq!(live["extras"].as_array().unwrap().len(), 6, "{live}");
    assert_eq!(
        feature(live, "persistence", "UEFI".into()),
        serde_json::json!({
            "feature": "persistence", "firmware": "UEFI",
            "configured": ["/persistence/live.dat", "/persistence/uefi.dat"],
            "menu": "/persistence/live.dat, /persistence/uefi.dat: a menu for 5 s, then /persistence/uefi.dat",
            "supported": true,
            "detail": "polyboot's hook maps the backend and tells live-boot (initramfs-tools) to use it",
        })
    );
    assert_eq!(feature(live, "auto_install", Value::Null)["supported"], false);
    assert_eq!(
        feature(fedora, "dud", Value::Null)["configured"],
        serde_json::json!(["/ventoy/dd.rpm"])
    );
    assert_eq!(feature(fedora, "persistence", "UEFI".into())["configured"], serde_json::json!([]));
    assert_eq!(feature(ipxe, "conf_replace", Value::Null)["supported"], true);
    assert_eq!(feature(ipxe, "persistence", Value::Null)["detail"], "no Linux initrd");

    // One image on the drive: the same, from the drive's configuration.
    let one = check_json_ignoring_status(&[&s, "isos/fedora-netinst.iso"]);
    assert_eq!(
        feature(&one[0], "auto_install", Value::Null),
        feature(fedora, "auto_install", Value::Null)
    );

    // A file on this machine: no configuration, what it could use.
    let (_, out, err) = polyboot(&["check", fedora_iso.to_str().unwrap()]);
    let lines: Vec<&str> =
        out.lines().filter(|l| l.starts_with("  also ") || l.starts_with("  not ")).collect();
    assert_eq!(
        lines,
        [
            "  also possible: auto_install, injection, conf_replace, dud",
            "  not possible: persistence (other / custom init (e.g. an installer): polyboot sets persistence up for live-boot, casper, dracut and archiso only)",
        ],
        "{out}{err}"
    );
    let (_, out, _) = polyboot(&["check", artifacts::IPXE_ISO]);
    assert!(!out.contains("possible"), "nothing to say about iPXE: {out}");
}

/// `check ... --json` whatever the exit status says.
fn check_json_ignoring_status(args: &[&str]) -> Vec<Value> {
    let mut a = vec!["check"];
    a.extend_from_slice(args);
    a.push("--json");
    let (_, out, err) = polyboot(&a);
    serde_json::from_str::<Value>(&out)
        .unwrap_or_else(|e| panic!("{e}: {out} {err}"))
        .as_array()
        .unwrap()
        .clone()
}
