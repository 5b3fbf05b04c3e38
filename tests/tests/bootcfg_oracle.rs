//! `polyboot_core::bootcfg::find_boot_entries` on ISOs built with `xorriso -as mkisofs` from
//! the real boot configurations under `crates/polyboot-core/tests/fixtures/bootcfg/` (live-build
//! and debian-installer) plus fake kernels and initrds. The initrd set must be what the
//! configurations load; every record offset we report must hold the file's extent (both-endian)
//! and size, and the extent must be where `xorriso -find / -exec report_lba` says the file is.
//!
//! The tests fail (not skip) when xorriso is missing.

use polyboot_core::block::MemDevice;
use polyboot_core::bootcfg::{self, BootConfigReport, Loader, TreeKind, WarningKind};
use polyboot_core::iso9660;
use polyboot_tests::{pattern, workspace_root, xorriso, xorriso_files};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    workspace_root().join("crates/polyboot-core/tests/fixtures/bootcfg")
}

fn put(root: &Path, path: &str, data: &[u8]) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn copy_fixture(root: &Path, fixture: &str, to: &str) {
    let data = std::fs::read(fixtures().join(fixture)).unwrap();
    put(root, to, &data);
}

fn mkisofs(args: &[&str], src: &Path, iso: &Path) -> MemDevice {
    let mut all = vec!["-as", "mkisofs", "-o", iso.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push(src.to_str().unwrap());
    xorriso(&all);
    MemDevice::from_vec(std::fs::read(iso).unwrap())
}

/// Every record of every initrd holds the file's extent and size, both-endian; the extent
/// is xorriso's and the data is the source file's.
fn check_records(
    dev: &MemDevice,
    report: &BootConfigReport,
    oracle: &BTreeMap<String, (u32, u64)>,
    src: &Path,
    trees: &[TreeKind],
) {
    for f in &report.initrds {
        let want = std::fs::read(src.join(f.path.trim_start_matches('/'))).unwrap();
        let (lba, size) = oracle
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(&f.path))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{} not in xorriso's list {oracle:?}", f.path));
        assert_eq!(f.size, size, "{}", f.path);
        assert_eq!(f.size as usize, want.len());
        let kinds: Vec<TreeKind> = f.records.iter().map(|r| r.tree).collect();
        assert_eq!(kinds, trees, "{}", f.path);
        for r in &f.records {
            assert_eq!(r.lba, lba, "{} {:?}", f.path, r.tree);
            assert_eq!(r.size, size);
            assert_eq!(r.sections.len(), 1);
            let at = (r.record_offset + iso9660::RECORD_EXTENT_FIELD) as usize;
            assert_eq!(
                dev.data[at..at + 16],
                iso9660::extent_fields(lba, size as u32),
                "{} {:?} record at {}",
                f.path,
                r.tree,
                r.record_offset
            );
            let data_at = lba as usize * 2048;
            assert_eq!(&dev.data[data_at..data_at + want.len()], &want[..], "{}", f.path);
        }
    }
}

fn initrd_paths(r: &BootConfigReport) -> Vec<&str> {
    r.initrds.iter().map(|f| f.path.as_str()).collect()
}

/// A live-build image: GRUB (grub-pc templates + loopback.cfg) and isolinux, Rock Ridge +
/// Joliet.
#[test]
fn live_build_iso() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for f in
        ["grub.cfg", "config.cfg", "theme.cfg", "install.cfg", "install_start.cfg", "loopback.cfg"]
    {
        copy_fixture(&src, &format!("live-build/{f}"), &format!("boot/grub/{f}"));
    }
    for f in
        ["isolinux.cfg", "menu.cfg", "live.cfg", "install_text.cfg", "utilities.cfg", "stdmenu.cfg"]
    {
        copy_fixture(&src, &format!("live-build/{f}"), &format!("isolinux/{f}"));
    }
    put(&src, "live/vmlinuz-6.1.0-27-amd64", &pattern(1, 5000));
    put(&src, "live/initrd.img-6.1.0-27-amd64", &pattern(2, 12345));
    put(&src, "install/vmlinuz", &pattern(3, 3000));
    put(&src, "install/initrd.gz", &pattern(4, 7777));
    put(&src, "live/filesystem.squashfs", &pattern(5, 100));
    let iso = tmp.path().join("live.iso");
    let mut dev = mkisofs(&["-R", "-J", "-V", "LIVE"], &src, &iso);

    let report = bootcfg::find_boot_entries(&mut dev).unwrap();
    assert_eq!(initrd_paths(&report), ["/live/initrd.img-6.1.0-27-amd64", "/install/initrd.gz"]);
    assert!(report.files.contains(&"/boot/grub/loopback.cfg".to_string()), "{:?}", report.files);
    assert!(report.files.contains(&"/isolinux/live.cfg".to_string()), "{:?}", report.files);
    let live = report
        .entries
        .iter()
        .find(|e| e.loader == Loader::Grub && e.title.as_deref() == Some("Live system (amd64)"))
        .unwrap();
    assert!(live.cmdline.starts_with("boot=live components"));
    let sys = report.entries.iter().find(|e| e.loader == Loader::Syslinux).unwrap();
    assert_eq!(sys.kernel.as_deref(), Some("/live/vmlinuz-6.1.0-27-amd64"));
    // No kernel or initrd is missing; memtest.cfg is.
    assert!(
        !report.warnings.iter().any(|w| w.kind == WarningKind::MissingFile
            && (w.detail.contains("kernel") || w.detail.contains("initrd"))),
        "{:#?}",
        report.warnings
    );
    assert!(report.warnings.iter().any(|w| w.detail.contains("memtest.cfg")));

    let oracle = xorriso_files(&iso, &[]);
    check_records(&dev, &report, &oracle, &src, &[TreeKind::Primary, TreeKind::Joliet]);
    // The Joliet records are where xorriso's Joliet view says too.
    let joliet = xorriso_files(&iso, &["-read_fs", "norock"]);
    for f in &report.initrds {
        assert_eq!(joliet[&f.path].0, f.records[1].lba);
    }
}

/// debian-installer's GRUB configuration, reached through `/EFI/boot/grub.cfg` (which sources
/// `/boot/grub/grub.cfg`), Rock Ridge only; plus a systemd-boot loader entry and a missing
/// initrd.
#[test]
fn debian_installer_iso_with_loader_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy_fixture(&src, "debian-installer-12/grub.cfg", "boot/grub/grub.cfg");
    copy_fixture(&src, "debian-installer-12/efi-grub.cfg", "EFI/boot/grub.cfg");
    put(&src, "debian-installer/amd64/linux", &pattern(6, 4000));
    put(&src, "debian-installer/amd64/initrd.gz", &pattern(7, 9000));
    put(
        &src,
        "loader/entries/01-live.conf",
        b"title Live\nlinux /arch/vmlinuz\ninitrd /arch/ucode.img\ninitrd /arch/initramfs.img\noptions archisolabel=X\n",
    );
    put(&src, "arch/vmlinuz", &pattern(8, 10));
    put(&src, "arch/ucode.img", &pattern(9, 2049));
    let iso = tmp.path().join("di.iso");
    let mut dev = mkisofs(&["-R", "-V", "DI"], &src, &iso);

    let report = bootcfg::find_boot_entries(&mut dev).unwrap();
    assert_eq!(initrd_paths(&report), ["/debian-installer/amd64/initrd.gz", "/arch/ucode.img"]);
    // /boot/grub/grub.cfg read directly and through /EFI/BOOT/grub.cfg: entries deduplicated.
    assert_eq!(report.entries.iter().filter(|e| e.loader == Loader::Grub).count(), 26);
    let sd = report.entries.iter().find(|e| e.loader == Loader::SystemdBoot).unwrap();
    assert_eq!(sd.cmdline, "archisolabel=X");
    assert_eq!(sd.source, "/loader/entries/01-live.conf");
    assert!(report
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::MissingFile && w.detail.contains("/arch/initramfs.img")));
    let oracle = xorriso_files(&iso, &[]);
    check_records(&dev, &report, &oracle, &src, &[TreeKind::Primary]);
}

/// Joliet without Rock Ridge: the primary tree has xorriso's mangled ISO 9660 names
/// (`debian-installer` is no d-character name), so its initrd record is found by extent.
#[test]
fn joliet_only_iso_records_found_by_extent() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy_fixture(&src, "debian-installer-12/grub.cfg", "boot/grub/grub.cfg");
    put(&src, "debian-installer/amd64/linux", &pattern(6, 4000));
    put(&src, "debian-installer/amd64/initrd.gz", &pattern(7, 9000));
    let iso = tmp.path().join("joliet.iso");
    let mut dev = mkisofs(&["-J", "-V", "JOLIET"], &src, &iso);
    let report = bootcfg::find_boot_entries(&mut dev).unwrap();
    assert_eq!(initrd_paths(&report), ["/debian-installer/amd64/initrd.gz"]);
    let oracle = xorriso_files(&iso, &[]);
    check_records(&dev, &report, &oracle, &src, &[TreeKind::Primary, TreeKind::Joliet]);
    // The primary record really is under another name.
    let ecma = xorriso_files(&iso, &["-read_fs", "ecma119"]);
    let (name, _) = ecma.iter().find(|(_, v)| v.0 == report.initrds[0].records[0].lba).unwrap();
    assert!(!name.eq_ignore_ascii_case("/debian-installer/amd64/initrd.gz"), "{name}");
}

/// A plain ISO 9660 image (no Rock Ridge, no Joliet: upper-case names) with an isolinux
/// configuration using mixed-case paths: found through the case-insensitive lookup.
#[test]
fn plain_iso9660_case_insensitive() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    put(
        &src,
        "ISOLINUX/ISOLINUX.CFG",
        b"DEFAULT live\nLABEL live\n  KERNEL /boot/vmlinuz\n  APPEND initrd=/boot/initrd.gz,/boot/extra.img root=live:CDLABEL=PLAIN\n",
    );
    put(&src, "BOOT/VMLINUZ", &pattern(10, 100));
    put(&src, "BOOT/INITRD.GZ", &pattern(11, 4096));
    put(&src, "BOOT/EXTRA.IMG", &pattern(12, 1));
    let iso = tmp.path().join("plain.iso");
    let mut dev = mkisofs(&["-V", "PLAIN"], &src, &iso);
    let report = bootcfg::find_boot_entries(&mut dev).unwrap();
    assert_eq!(initrd_paths(&report), ["/boot/initrd.gz", "/boot/extra.img"]);
    assert_eq!(report.entries.len(), 1);
    assert_eq!(
        report.entries[0].cmdline,
        "initrd=/boot/initrd.gz,/boot/extra.img root=live:CDLABEL=PLAIN"
    );
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    let src_lower = tmp.path().join("lower");
    for (name, seed, len) in [("boot/initrd.gz", 11, 4096), ("boot/extra.img", 12, 1)] {
        put(&src_lower, name, &pattern(seed, len));
    }
    let oracle = xorriso_files(&iso, &[]);
    check_records(&dev, &report, &oracle, &src_lower, &[TreeKind::Primary]);
}

/// Found by the `bootcfg` fuzz target: one "kernel ... is not in the ISO" warning per entry
/// used to escape the warning limit.
#[test]
fn missing_kernels_respect_the_warning_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let cfg: String =
        (0..300).map(|i| format!("menuentry \"k{i}\" {{\n  linux /k{i}\n}}\n")).collect();
    put(&src, "boot/grub/grub.cfg", cfg.as_bytes());
    let mut dev = mkisofs(&["-R", "-V", "MANY"], &src, &tmp.path().join("many.iso"));
    let report = bootcfg::find_boot_entries(&mut dev).unwrap();
    assert_eq!(report.entries.len(), 300);
    assert_eq!(report.warnings.len(), bootcfg::MAX_WARNINGS);
    assert!(report.warnings.iter().all(|w| w.kind == WarningKind::MissingFile));
}
