//! Our ISO 9660 / El Torito readers checked against xorriso, an independent implementation:
//! images made with `xorriso -as mkisofs` (plain, Rock Ridge, Joliet, relocated deep
//! directories, El Torito BIOS + EFI entries with FAT images made by mtools / dosfstools) and
//! Debian's real `/usr/lib/ipxe/ipxe.iso`. Paths, sizes and extent LBAs are compared with
//! `xorriso -find / -exec report_lba`, boot catalogs with `-report_el_torito plain`, volume
//! sizes with util-linux `isosize -x`. Hostile variants (truncated copies, broken catalogs)
//! must give errors, never panics.
//!
//! The tests fail (not skip) when a tool is missing.

use polyboot_core::block::{MemDevice, ReadAt, Slice};
use polyboot_core::eltorito::{self, ElToritoError, Emulation, Platform};
use polyboot_core::exfat::{self, ExFat, FormatOptions, Timestamp};
use polyboot_core::iso9660::{self, IsoError, IsoInfo, NameMode, Tree};
use polyboot_core::virtual_medium::{RegionSource, VirtualMedium};
use polyboot_tests::artifacts::IPXE_ISO;
use polyboot_tests::{find_tool, pattern, run_tool, xorriso, xorriso_files};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

type FileDevice = polyboot::drive::io::FileDevice;

/// Every directory path (except `/`), from `xorriso -find / -type d`.
fn xorriso_dirs(iso: &Path, pre: &[&str]) -> Vec<String> {
    let mut args = pre.to_vec();
    args.extend(["-indev", iso.to_str().unwrap(), "-find", "/", "-type", "d"]);
    let mut dirs: Vec<String> = xorriso(&args)
        .lines()
        .filter(|l| l.starts_with('\''))
        .map(|l| l.trim_matches('\'').to_string())
        .filter(|p| p != "/")
        .collect();
    dirs.sort();
    dirs
}

/// One line of `-report_el_torito plain`.
#[derive(Debug, PartialEq, Eq)]
struct OracleEntry {
    platform: Platform,
    bootable: bool,
    media: Emulation,
    load_segment: u16,
    sector_count: u16,
    load_rba: u32,
}

/// What `xorriso -report_el_torito plain` says.
struct OracleCatalog {
    lba: Option<u32>,
    /// The catalog's own file, when it has one in the tree.
    path: Option<String>,
    entries: Vec<OracleEntry>,
}

fn xorriso_catalog(iso: &Path) -> OracleCatalog {
    let out = xorriso(&["-indev", iso.to_str().unwrap(), "-report_el_torito", "plain"]);
    let mut catalog = None;
    let mut path = None;
    let mut entries = Vec::new();
    for line in out.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let f: Vec<&str> = value.split_whitespace().collect();
        match key.trim() {
            "El Torito catalog" => catalog = Some(f[0].parse().unwrap()),
            "El Torito cat path" => path = Some(value.trim().to_string()),
            "El Torito boot img" => {
                assert_eq!(f.len(), 8, "{line}");
                let platform = match f[1] {
                    "BIOS" => Platform::Bios,
                    "UEFI" => Platform::Efi,
                    "PPC" => Platform::Other(1),
                    "Mac" => Platform::Other(2),
                    other => Platform::Other(
                        u8::from_str_radix(other.trim_start_matches("0x"), 16).unwrap(),
                    ),
                };
                let media = match f[3] {
                    "none" => Emulation::NoEmulation,
                    "fd1.2" => Emulation::Floppy12,
                    "fd1.4" | "fd1.44" => Emulation::Floppy144,
                    "fd2.8" | "fd2.88" => Emulation::Floppy288,
                    "hd" => Emulation::HardDisk,
                    other => panic!("unknown emulation {other} in {line}"),
                };
                entries.push(OracleEntry {
                    platform,
                    bootable: f[2] == "y",
                    media,
                    load_segment: u16::from_str_radix(f[4].trim_start_matches("0x"), 16).unwrap(),
                    sector_count: f[6].parse().unwrap(),
                    load_rba: f[7].parse().unwrap(),
                });
            }
            _ => {}
        }
    }
    OracleCatalog { lba: catalog, path, entries }
}

/// Volume space size in 2048-byte sectors, from util-linux `isosize -x`.
fn isosize_sectors(iso: &Path) -> u32 {
    let out = run_tool(Command::new(find_tool("isosize")).arg("-x").arg(iso)).unwrap();
    // "sector count: 845, sector size: 2048"
    let count = out.split("sector count:").nth(1).unwrap().split(',').next().unwrap().trim();
    assert!(out.contains("sector size: 2048"), "{out}");
    count.parse().unwrap()
}

/// `xorriso -pvd_info`'s Volume Id.
fn xorriso_volume_id(iso: &Path) -> String {
    let out = xorriso(&["-indev", iso.to_str().unwrap(), "-pvd_info"]);
    let line = out.lines().find(|l| l.starts_with("Volume Id")).unwrap();
    line.split_once(':').unwrap().1.trim().to_string()
}

/// Every file of `tree` as `path -> (lba, size)`, plus the directories, by our walk.
fn our_tree<D: ReadAt>(dev: &mut D, tree: &Tree) -> (BTreeMap<String, (u32, u64)>, Vec<String>) {
    let mut files = BTreeMap::new();
    let mut dirs = Vec::new();
    iso9660::walk(dev, tree, iso9660::MAX_DEPTH, |path, e| {
        if e.is_dir() {
            dirs.push(path.to_string());
        } else {
            assert!(files.insert(path.to_string(), (e.lba(), e.size)).is_none(), "{path} twice");
        }
        true
    })
    .unwrap();
    dirs.sort();
    (files, dirs)
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// A source tree exercising names, sizes and directory shapes.
fn make_tree(src: &Path) {
    write(&src.join("README.TXT"), b"hello from polyboot\n");
    write(&src.join("empty.dat"), b"");
    write(&src.join("big.bin"), &pattern(1, 3 << 20));
    write(&src.join("Mixed Case Name With Spaces.txt"), b"mixed\n");
    write(&src.join("gr\u{fc}\u{df}e-\u{65e5}\u{672c}.txt"), "unicode\n".as_bytes());
    write(&src.join("boot/grub/grub.cfg"), b"set timeout=5\n");
    write(&src.join("casper/initrd.gz"), &pattern(2, 70_000));
    write(&src.join("deep/a/b/c/d/e/f/g/h/i/j/file.txt"), b"deep\n");
    for i in 0..300 {
        write(
            &src.join(format!("many/file-{i:04}-with-a-longish-name.txt")),
            format!("{i}\n").as_bytes(),
        );
    }
}

fn mkisofs(args: &[&str], iso: &Path, src: &Path) {
    let mut all = vec!["-as", "mkisofs", "-o", iso.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push(src.to_str().unwrap());
    xorriso(&all);
}

fn open(iso: &Path) -> FileDevice {
    FileDevice::open(iso).unwrap()
}

/// Our walk of `tree` must list exactly xorriso's files (path, lba, size) and directories,
/// every file's content must equal the source file and its record must hold its extent.
fn check_tree_against(
    dev: &mut FileDevice,
    tree: &Tree,
    oracle_files: &BTreeMap<String, (u32, u64)>,
    oracle_dirs: &[String],
    src: Option<&Path>,
) {
    let (files, dirs) = our_tree(dev, tree);
    assert_eq!(&files, oracle_files);
    assert_eq!(dirs, oracle_dirs);
    for (path, &(lba, size)) in &files {
        let e = iso9660::lookup(dev, tree, path).unwrap();
        assert_eq!((e.lba(), e.size), (lba, size), "{path}");
        // Case-insensitive lookup finds the same record.
        let upper = iso9660::lookup(dev, tree, &path.to_ascii_uppercase())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(upper.record_offset(), e.record_offset(), "{path}");
        // The record's own bytes hold the extent (needed to override records later).
        let mut raw = [0u8; 16];
        dev.read_at(e.record_offset() + iso9660::RECORD_EXTENT_FIELD, &mut raw).unwrap();
        assert_eq!(raw, iso9660::extent_fields(e.record.extent_lba, e.record.data_len), "{path}");
        if let Some(src) = src {
            let data = iso9660::read_to_vec(dev, &e, 64 << 20).unwrap();
            let want = std::fs::read(src.join(path.trim_start_matches('/'))).unwrap();
            assert!(data == want, "content of {path}");
        }
    }
}

#[test]
fn plain_rock_ridge_iso_matches_xorriso() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src);
    let iso = tmp.path().join("plain.iso");
    mkisofs(&["-V", "PLAIN_VOL"], &iso, &src);

    let mut dev = open(&iso);
    let info = iso9660::probe(&mut dev).unwrap();
    assert_eq!(info.volume_id, xorriso_volume_id(&iso));
    assert_eq!(info.volume_id, "PLAIN_VOL");
    assert_eq!(info.volume_space_size, isosize_sectors(&iso));
    assert!(info.rock_ridge(), "xorriso writes Rock Ridge by default");
    assert!(info.joliet.is_none());
    assert_eq!(info.el_torito_catalog, None);

    // Rock Ridge names.
    let files = xorriso_files(&iso, &[]);
    assert_eq!(files.len(), 308);
    let tree = info.preferred_tree().clone();
    check_tree_against(&mut dev, &tree, &files, &xorriso_dirs(&iso, &[]), Some(&src));
    // The 300-file directory spans several sectors.
    let many = iso9660::lookup(&mut dev, &tree, "/many").unwrap();
    assert!(many.size > 4 * 2048, "{}", many.size);

    // Plain ISO 9660 names of the same volume.
    let plain = Tree { mode: NameMode::Plain, root: info.primary.root.clone() };
    let files = xorriso_files(&iso, &["-read_fs", "ecma119"]);
    check_tree_against(
        &mut dev,
        &plain,
        &files,
        &xorriso_dirs(&iso, &["-read_fs", "ecma119"]),
        None,
    );

    // Not bootable.
    let cat = eltorito::read_catalog(&mut dev);
    assert_eq!(cat, Err(ElToritoError::NoBootRecord));
    assert_eq!(eltorito::uefi_boot_reason(&cat).unwrap(), "no El Torito boot record");
}

#[test]
fn joliet_iso_matches_xorriso() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src);
    for (name, extra) in [("rr-joliet.iso", &[][..]), ("joliet-only.iso", &["--norock"][..])] {
        let iso = tmp.path().join(name);
        let mut args = vec!["-J", "-joliet-long", "-V", "JOLIET_VOL"];
        args.extend_from_slice(extra);
        mkisofs(&args, &iso, &src);
        let mut dev = open(&iso);
        let info = iso9660::probe(&mut dev).unwrap();
        let joliet = info.joliet.as_ref().expect("Joliet descriptor");
        assert!(matches!(joliet.level, 1..=3));
        assert_eq!(info.rock_ridge(), extra.is_empty(), "{name}");
        if extra.is_empty() {
            assert_eq!(info.preferred_tree(), &info.primary);
        } else {
            assert_eq!(info.preferred_tree(), &joliet.tree);
        }
        let files = xorriso_files(&iso, &["-read_fs", "norock"]);
        assert!(files.contains_key("/gr\u{fc}\u{df}e-\u{65e5}\u{672c}.txt"), "{files:?}");
        let dirs = xorriso_dirs(&iso, &["-read_fs", "norock"]);
        check_tree_against(&mut dev, &joliet.tree.clone(), &files, &dirs, Some(&src));
    }
}

#[test]
fn relocated_deep_directories_follow_rock_ridge() {
    // xorriso's native mode with deep_paths_off moves directories deeper than 8 levels to
    // /RR_MOVED and leaves Rock Ridge CL / RE / PL entries: the RR tree must still look deep.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(&src.join("a/b/c/d/e/f/g/h/i/j/file.txt"), b"deep\n");
    write(&src.join("top.txt"), b"top\n");
    let iso = tmp.path().join("reloc.iso");
    xorriso(&[
        "-outdev",
        iso.to_str().unwrap(),
        "-compliance",
        "deep_paths_off",
        "-rr_reloc_dir",
        "RR_MOVED",
        "-map",
        src.to_str().unwrap(),
        "/",
    ]);
    let mut dev = open(&iso);
    let info = iso9660::probe(&mut dev).unwrap();
    assert!(info.rock_ridge());
    let tree = info.preferred_tree().clone();
    let files = xorriso_files(&iso, &[]);
    assert!(files.contains_key("/a/b/c/d/e/f/g/h/i/j/file.txt"));
    let (ours, dirs) = our_tree(&mut dev, &tree);
    assert_eq!(ours, files);
    // xorriso hides the relocation directory in the Rock Ridge view; we show it (it is a
    // real directory without an RE entry), so compare without it.
    let dirs: Vec<String> = dirs.into_iter().filter(|d| !d.starts_with("/RR_MOVED")).collect();
    assert_eq!(dirs, xorriso_dirs(&iso, &[]));
    let deep = iso9660::lookup(&mut dev, &tree, "/a/b/c/d/e/f/g/h/i/j/file.txt").unwrap();
    assert_eq!(iso9660::read_to_vec(&mut dev, &deep, 100).unwrap(), b"deep\n");
    // The plain ISO 9660 view has it under RR_MOVED.
    let plain = Tree { mode: NameMode::Plain, root: info.primary.root.clone() };
    let moved = iso9660::lookup(&mut dev, &plain, "/RR_MOVED/H/I/J/FILE.TXT").unwrap();
    assert_eq!(moved.lba(), deep.lba());
}

/// A FAT image made by mtools (`mformat -C`), `kib` KiB.
fn mformat_image(path: &Path, kib: u32) {
    let sectors = (kib * 2).to_string();
    run_tool(Command::new(find_tool("mformat")).args([
        "-C",
        "-i",
        path.to_str().unwrap(),
        "-T",
        &sectors,
        "-h",
        "2",
        "-s",
        "16",
        "::",
    ]))
    .unwrap();
}

/// A FAT image made by dosfstools (`mkfs.fat -C`), `kib` KiB.
fn mkfs_fat_image(path: &Path, kib: u32) {
    run_tool(Command::new(find_tool("mkfs.fat")).arg("-C").arg(path).arg(kib.to_string())).unwrap();
}

/// Compare our catalog with xorriso's report, entry by entry.
fn check_catalog(iso: &Path, cat: &eltorito::BootCatalog) {
    let oracle = xorriso_catalog(iso);
    assert_eq!(Some(cat.catalog_lba), oracle.lba);
    let ours: Vec<OracleEntry> = cat
        .entries
        .iter()
        .map(|e| OracleEntry {
            platform: e.platform,
            bootable: e.bootable,
            media: e.media,
            load_segment: e.load_segment,
            sector_count: e.sector_count,
            load_rba: e.load_rba,
        })
        .collect();
    assert_eq!(ours, oracle.entries);
}

#[test]
fn bios_and_efi_el_torito_entries_match_xorriso() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src);
    write(&src.join("boot/bios.bin"), &pattern(3, 2048));
    mformat_image(&src.join("boot/efi.img"), 1440);
    let iso = tmp.path().join("boot.iso");
    mkisofs(
        &[
            "-V",
            "BOOT_VOL",
            "-b",
            "boot/bios.bin",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-eltorito-alt-boot",
            "-e",
            "boot/efi.img",
            "-no-emul-boot",
        ],
        &iso,
        &src,
    );
    let mut dev = open(&iso);
    let info = iso9660::probe(&mut dev).unwrap();
    let cat = eltorito::read_catalog(&mut dev).unwrap();
    assert_eq!(info.el_torito_catalog, Some(cat.catalog_lba));
    check_catalog(&iso, &cat);
    assert!(cat.can_boot_bios() && cat.can_boot_uefi());
    assert_eq!(cat.uefi_reason(), None);
    let files = xorriso_files(&iso, &[]);
    let (efi_lba, efi_size) = files["/boot/efi.img"];
    assert_eq!(efi_size, 1440 * 1024);
    assert_eq!(cat.efi_image_range(&mut dev), Some((u64::from(efi_lba) * 2048, efi_size)));
    let bios = cat.bios_entry().unwrap();
    assert_eq!(bios.load_rba, files["/boot/bios.bin"].0);

    // The same image with the EFI entry's sector count patched to 0 and to 1: the FAT boot
    // sector gives the size.
    let mut bytes = std::fs::read(&iso).unwrap();
    let efi = cat.efi_entry().unwrap().catalog_offset as usize;
    for count in [0u16, 1] {
        bytes[efi + 6..efi + 8].copy_from_slice(&count.to_le_bytes());
        let mut mem = MemDevice::from_vec(bytes.clone());
        let c = eltorito::read_catalog(&mut mem).unwrap();
        assert_eq!(c.efi_entry().unwrap().sector_count, count);
        assert_eq!(c.efi_image_range(&mut mem), Some((u64::from(efi_lba) * 2048, efi_size)));
    }
}

#[test]
fn large_efi_image_has_sector_count_zero() {
    // FAT images over 32 MiB do not fit the 16-bit sector count: xorriso writes 0.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(&src.join("readme.txt"), b"efi only\n");
    mkfs_fat_image(&src.join("efi.img"), 40_000);
    let iso = tmp.path().join("efi-only.iso");
    mkisofs(&["-e", "efi.img", "-no-emul-boot"], &iso, &src);
    let mut dev = open(&iso);
    let cat = eltorito::read_catalog(&mut dev).unwrap();
    check_catalog(&iso, &cat);
    assert_eq!(cat.platform, Platform::Efi);
    let efi = cat.efi_entry().unwrap();
    assert!(efi.default_entry);
    assert_eq!(efi.sector_count, 0);
    assert!(cat.can_boot_uefi() && !cat.can_boot_bios());
    assert_eq!(cat.bios_reason(), Some("no x86 BIOS boot entry in the El Torito catalog"));
    let (lba, size) = xorriso_files(&iso, &[])["/efi.img"];
    assert_eq!(size, 40_000 * 1024);
    assert_eq!(cat.efi_image_range(&mut dev), Some((u64::from(lba) * 2048, size)));
}

#[test]
fn bios_only_iso_explains_why_uefi_cannot_boot() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(&src.join("isolinux.bin"), &pattern(4, 4096));
    let iso = tmp.path().join("bios.iso");
    mkisofs(&["-b", "isolinux.bin", "-no-emul-boot", "-boot-load-size", "4"], &iso, &src);
    let mut dev = open(&iso);
    let cat = eltorito::read_catalog(&mut dev);
    check_catalog(&iso, cat.as_ref().unwrap());
    assert_eq!(
        eltorito::uefi_boot_reason(&cat).unwrap(),
        "no EFI boot entry in the El Torito catalog"
    );
    assert_eq!(cat.unwrap().efi_image_range(&mut dev), None);
}

fn ipxe() -> PathBuf {
    let p = PathBuf::from(IPXE_ISO);
    assert!(
        p.is_file(),
        "{IPXE_ISO} missing: install the Debian package ipxe (`cargo xtask deps`)"
    );
    p
}

fn check_ipxe<D: ReadAt>(dev: &mut D, iso: &Path) -> IsoInfo {
    let info = iso9660::probe(dev).unwrap();
    assert_eq!(info.volume_id, xorriso_volume_id(iso));
    assert_eq!(info.volume_space_size, isosize_sectors(iso));
    let cat = eltorito::read_catalog(dev).unwrap();
    check_catalog(iso, &cat);
    assert!(cat.can_boot_bios(), "ipxe.iso boots from BIOS");
    assert!(cat.can_boot_uefi(), "ipxe.iso boots from UEFI");
    assert_eq!(eltorito::uefi_boot_reason(&Ok(cat.clone())), None);
    let files = xorriso_files(iso, &[]);
    let (efi_lba, efi_size) = files["/efi.img"];
    let (offset, len) = cat.efi_image_range(dev).unwrap();
    assert_eq!((offset, len), (u64::from(efi_lba) * 2048, efi_size));
    // It points at a FAT boot sector.
    let mut bs = [0u8; 512];
    dev.read_at(offset, &mut bs).unwrap();
    assert_eq!(bs[510..], [0x55, 0xAA]);
    assert!(bs[54..59] == *b"FAT12" || bs[54..59] == *b"FAT16" || bs[82..87] == *b"FAT32");
    assert_eq!(eltorito::fat_image_size(dev, offset), Some(efi_size));
    let tree = info.preferred_tree().clone();
    let (mut ours, _) = our_tree(dev, &tree);
    // xorriso does not report the boot catalog's file as file data: check it here.
    let cat_path = xorriso_catalog(iso).path.expect("ipxe.iso has /boot.cat");
    assert_eq!(ours.remove(&cat_path), Some((cat.catalog_lba, 2048)));
    assert_eq!(ours, files);
    info
}

#[test]
fn debian_ipxe_iso_is_bios_and_uefi_bootable() {
    let iso = ipxe();
    let mut dev = open(&iso);
    let info = check_ipxe(&mut dev, &iso);
    assert!(info.image_size >= info.volume_bytes());
}

#[test]
fn ipxe_iso_through_a_fragmented_virtual_disk() {
    // Put ipxe.iso on our exFAT (partition at 1 MiB of a "physical disk"), fragmented by
    // filler files, then read it back through the virtual disk built from its extents.
    let iso = ipxe();
    let content = std::fs::read(&iso).unwrap();
    let part = 1u64 << 20;
    // A 4 MiB volume: after the fillers and the holes, the 2 MiB ISO cannot be contiguous.
    let mut phys = MemDevice::new(6 << 20);
    let path = "/iso/ipxe.iso";
    let extents = {
        let vol = Slice::new(&mut phys, part, 4 << 20).unwrap();
        let mut vol = vol;
        exfat::format(
            &mut vol,
            &FormatOptions { label: "POLYBOOT".into(), cluster_size: 4096, ..Default::default() },
        )
        .unwrap();
        let mut fs = ExFat::open(vol).unwrap();
        let t = Timestamp::EPOCH;
        fs.create_dir_all("/iso", t).unwrap();
        for i in 0..8 {
            fs.write_file(&format!("/fill{i}"), &pattern(10 + i, 300_000), t).unwrap();
        }
        for i in (0..8).step_by(2) {
            fs.remove(&format!("/fill{i}")).unwrap();
        }
        fs.write_file(path, &content, t).unwrap();
        fs.extents(path).unwrap()
    };
    assert!(extents.len() > 1, "the file should be fragmented: {extents:?}");
    let mut disk = VirtualMedium::new(2048, content.len() as u64, part, extents).unwrap();
    let mut whole = vec![0u8; content.len()];
    disk.read(&mut phys, 0, &mut whole).unwrap();
    assert!(whole == content);
    let info = check_ipxe(&mut disk.reader(&mut phys), &iso);
    // A redirected file: the record of /isolinux.cfg now points at a region past the end.
    let tree = info.preferred_tree().clone();
    let cfg = iso9660::lookup(&mut disk.reader(&mut phys), &tree, "/isolinux.cfg").unwrap();
    let new = b"DEFAULT polyboot\n".to_vec();
    let at = disk.append_region(2048, RegionSource::Memory(new.clone().into())).unwrap();
    let fields = iso9660::extent_fields((at / 2048) as u32, new.len() as u32);
    disk.add_override(cfg.record_offset() + iso9660::RECORD_EXTENT_FIELD, fields.to_vec()).unwrap();
    let mut r = disk.reader(&mut phys);
    let cfg = iso9660::lookup(&mut r, &tree, "/isolinux.cfg").unwrap();
    assert_eq!(iso9660::read_to_vec(&mut r, &cfg, 4096).unwrap(), new);
    assert!(eltorito::read_catalog(&mut r).unwrap().can_boot_uefi());
}

#[test]
fn truncated_ipxe_iso_reports_numbers() {
    let iso = ipxe();
    let content = std::fs::read(&iso).unwrap();
    let needed = u64::from(isosize_sectors(&iso)) * 2048;
    let tmp = tempfile::tempdir().unwrap();
    for cut in [1_000_000usize, needed as usize - 1, 17 * 2048 + 5, 40 * 2048] {
        let path = tmp.path().join("cut.iso");
        std::fs::write(&path, &content[..cut]).unwrap();
        let err = iso9660::probe(&mut open(&path)).unwrap_err();
        assert_eq!(err, IsoError::Truncated { needed, have: cut as u64 });
        let msg = err.to_string();
        assert!(msg.contains(&needed.to_string()) && msg.contains(&cut.to_string()), "{msg}");
    }
    // Too short for even the first volume descriptor.
    let err =
        iso9660::probe(&mut MemDevice::from_vec(content[..16 * 2048 + 100].to_vec())).unwrap_err();
    assert_eq!(err, IsoError::TooSmall { size: 16 * 2048 + 100 });
    // Exactly the volume: fine.
    assert!(iso9660::probe(&mut MemDevice::from_vec(content[..needed as usize].to_vec())).is_ok());
    // Not an ISO at all.
    let err = iso9660::probe(&mut MemDevice::from_vec(pattern(5, 1 << 20))).unwrap_err();
    assert_eq!(err, IsoError::NotIso);
}

#[test]
fn hostile_catalogs_in_a_real_iso() {
    let iso = ipxe();
    let content = std::fs::read(&iso).unwrap();
    let cat = eltorito::read_catalog(&mut MemDevice::from_vec(content.clone())).unwrap();
    let base = cat.catalog_lba as usize * 2048;
    let efi = cat.efi_entry().unwrap().catalog_offset as usize;
    let parse = |bytes: &[u8]| eltorito::read_catalog(&mut MemDevice::from_vec(bytes.to_vec()));

    // Checksum wrong.
    let mut b = content.clone();
    b[base + 4] ^= 0x40;
    assert!(matches!(parse(&b), Err(ElToritoError::BadChecksum { .. })));
    // EFI entry pointing past the end.
    let mut b = content.clone();
    b[efi + 8..efi + 12].copy_from_slice(&(content.len() as u32 / 2048 + 1).to_le_bytes());
    assert!(matches!(parse(&b), Err(ElToritoError::EntryOutOfBounds { .. })));
    // EFI entry whose sector count reaches past the end.
    let mut b = content.clone();
    let last = content.len() as u32 / 2048 - 1;
    b[efi + 8..efi + 12].copy_from_slice(&last.to_le_bytes());
    b[efi + 6..efi + 8].copy_from_slice(&5u16.to_le_bytes());
    assert!(matches!(parse(&b), Err(ElToritoError::EntryOutOfBounds { .. })));
    // Catalog pointer past the end of the image.
    let mut b = content.clone();
    let brvd =
        (16..32).map(|s| s * 2048).find(|&o| b[o] == 0 && &b[o + 1..o + 6] == b"CD001").unwrap();
    b[brvd + 71..brvd + 75].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
    assert!(matches!(parse(&b), Err(ElToritoError::CatalogOutOfBounds { .. })));
    // An endless chain of "more sections follow" headers.
    let mut b = content.clone();
    let mut header = [0u8; 32];
    header[0] = 0x90;
    for i in 2..(eltorito::MAX_CATALOG_SECTORS as usize * 64 + 64) {
        let at = base + i * 32;
        b[at..at + 32].copy_from_slice(&header);
    }
    assert_eq!(parse(&b), Err(ElToritoError::CatalogTooLong));
    // Random garbage over the catalog: errors or a catalog, never a panic.
    let noise = pattern(6, 200 * 64);
    for round in 0..200 {
        let mut b = content.clone();
        b[base..base + 64].copy_from_slice(&noise[round * 64..round * 64 + 64]);
        if round % 2 == 0 {
            // Keep the validation entry intact so the rest gets parsed.
            b[base..base + 32].copy_from_slice(&content[base..base + 32]);
            b[base + 64..base + 128].copy_from_slice(&noise[round * 64..round * 64 + 64]);
        }
        let mut mem = MemDevice::from_vec(b);
        if let Ok(c) = eltorito::read_catalog(&mut mem) {
            let _ = c.efi_image_range(&mut mem);
        }
    }
}
