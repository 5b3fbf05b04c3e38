//! Writes the seed corpora of the fuzz targets: `polyboot-fuzz-seedgen [CORPUS_DIR]`
//! (default: fuzz/corpus). Seeds are built with polyboot's own writers, so they are valid
//! inputs the fuzzer starts mutating from; nothing binary is committed.
//!
//! - gpt: disk images with a protective MBR and a GPT at 512 and 4096-byte sectors: the
//!   drive layout (`layout::plan` + `layout::write_partition_table`) scaled down to a few
//!   hundred KiB, compact tables with a short entry array, a disk with only the backup
//!   copy intact, and an MBR-scheme drive.
//! - mbr: the protective MBR, the MBR-scheme layout with boot code, a four-entry table.
//! - exfat_boot: the start of a formatted and populated exFAT volume (its metadata).
//! - exfat_dir: that volume's root directory cluster.
//! - iso9660, eltorito: a small hand-built ISO (Rock Ridge, Joliet, El Torito BIOS + EFI,
//!   see iso.rs) and variants of it, and the first 256 KiB of Debian's ipxe.iso made a valid
//!   volume when that file is installed (skipped, with a note, when it is not).
//! - config: the polyboot.json / ventoy.json test fixtures and small files for each rule.
//! - vdisk: virtual disk descriptions (see common/vdisk_desc.rs and vdisk_seeds.rs).
//! - bootcfg_edit: see bootcfg_edit_seeds.rs (real boot configurations with parameters).
//! - bootcfg, handoff, initrd_wrap, initramfs: see linux_seeds.rs (real boot configurations,
//!   a small live ISO, encoded hand-off records, wrap descriptions, newc archives plain and
//!   compressed in every format polyboot-hook reads).
//! - tar, template: GNU tar archives in every format, and auto-install templates with
//!   Ventoy's variables (inject_seeds.rs).
//! - fsprobe: the first 4 KiB of mkfs.ext2/3/4, mkfs.xfs and cryptsetup (LUKS1, LUKS2)
//!   images (fsprobe_seeds.rs; each tool that is missing leaves its seeds out).
//! - ntfs: mkntfs volumes with files copied in by ntfscp (ntfs_seeds.rs; needs ntfs-3g).
//! - luks2: cryptsetup LUKS2 volumes with the smallest KDF costs, cut after their first data
//!   sector (luks2_seeds.rs; needs cryptsetup).
//! - udf: hand-built UDF 1.02 and 2.50 (metadata partition) images, and genisoimage / mkudffs
//!   images when those are installed (udf_seeds.rs).
//! - fat: ipxe.iso's EFI image and small mkfs.fat + mtools FAT12 volumes (fat_seeds.rs).
//! - regf: BCD stores and trees written by polyboot, the same edited by hivexsh, bins alone
//!   and recipes (regf_seeds.rs).
//! - bcd: the WinPE ramdisk and Windows To Go stores polyboot writes, a ramdisk device blob
//!   and recipes (regf_seeds.rs, `bcd_seeds`).
//! - authenticode: the certificate tables of Debian's signed shim, MokManager and fallback on
//!   a minimal PE image, and their PKCS#7 blobs bare (authenticode_seeds.rs).
//! - wim: wimcapture WIMs and an xorriso ISO holding one as sources/install.wim;
//!   embedded_hook: a stand-in boot manager with decoy headers (wim_seeds.rs).

#[path = "../../common/eltorito_fixup.rs"]
mod eltorito_fixup;
#[path = "../../common/exfat_fixup.rs"]
mod exfat_fixup;
#[path = "../../common/exfat_image.rs"]
mod exfat_image;
#[path = "../../common/exfat_walk.rs"]
mod exfat_walk;
#[path = "../../common/gpt_fixup.rs"]
mod gpt_fixup;
#[path = "../../common/luks2_fixup.rs"]
mod luks2_fixup;
#[path = "../../common/pe_skeleton.rs"]
mod pe_skeleton;
#[path = "../../common/vdisk_desc.rs"]
mod vdisk_desc;

mod authenticode_seeds;
mod bootcfg_edit_seeds;
mod config_seeds;
mod fat_seeds;
mod fsprobe_seeds;
mod inject_seeds;
mod iso;
mod linux_seeds;
mod luks2_seeds;
mod net_seeds;
mod ntfs_seeds;
mod regf_seeds;
mod udf_seeds;
mod vdisk_seeds;
mod wim_seeds;

use std::fs;
use std::path::{Path, PathBuf};

use polyboot_core::block::{MemDevice, WriteAt};
use polyboot_core::config::{self, Firmware};
use polyboot_core::eltorito::{self, Platform};
use polyboot_core::exfat::ExFat;
use polyboot_core::gpt::{self, Gpt, GptPartition, PartitionName, SectorSize};
use polyboot_core::guid::Guid;
use polyboot_core::iso9660::{self, NameMode};
use polyboot_core::layout::{self, BootCode, Identity, LayoutRequest, Scheme, MIB};
use polyboot_core::mbr::{types, Mbr, MbrPartition};
use polyboot_core::virtual_medium::{Extent, VirtualMedium};

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus"));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let dir = dir.canonicalize().unwrap_or(dir);
    let mut count = 0;
    let mut put = |target: &str, name: &str, bytes: &[u8]| {
        check_fixups_keep_valid_input(target, name, bytes);
        let d = dir.join(target);
        fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        let path = d.join(format!("seed-{name}"));
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        count += 1;
    };

    for ss in [SectorSize::B512, SectorSize::B4096] {
        let disk = scaled_layout_image(ss);
        put("gpt", &format!("layout-{ss}"), &disk);
        let compact = compact_image(ss);
        put("gpt", &format!("compact-{ss}"), &compact);
        // Primary header gone: only the backup at the end is usable.
        let mut backup_only = compact.clone();
        let n = ss.bytes() as usize;
        backup_only[n..2 * n].fill(0);
        put("gpt", &format!("backup-only-{ss}"), &backup_only);
        put("mbr", &format!("protective-{ss}"), &disk[..512]);
    }
    let mbr_disk = mbr_layout_lba0();
    put("gpt", "mbr-scheme", &mbr_disk);
    put("mbr", "layout", &mbr_disk[..512]);
    put("mbr", "four-entries", &four_entry_mbr().to_bytes());

    let image = exfat_image::build();
    check_exfat_image(&image);
    // Everything up to the end of the root directory: boot regions, FAT, bitmap, up-case
    // table and root (the exfat_boot target zero-extends its input to 1 MiB).
    let metadata_end = image.root_offset + image.cluster_bytes;
    put("exfat_boot", "formatted", &image.bytes[..metadata_end]);
    put("exfat_dir", "root", image.root_cluster());
    // An empty root (no bitmap / up-case entries): a volume that must fail to open.
    put("exfat_dir", "end-of-directory", &[0u8; 32]);

    check_fixups_repair(&image);

    let hand = iso::hand_built();
    check_hand_built_iso(&hand);
    let plain = iso::without_rock_ridge(&hand);
    check_plain_iso(&plain);
    let bios_only = iso::bios_only(&hand);
    check_bios_only(&bios_only);
    for (name, img) in [("hand-built", &hand), ("no-rock-ridge", &plain), ("bios-only", &bios_only)]
    {
        put("iso9660", name, img);
        put("eltorito", name, img);
    }
    match iso::ipxe_head(Path::new(iso::IPXE_ISO)) {
        Ok(head) => {
            check_ipxe_head(&head);
            put("iso9660", "ipxe-head", &head);
            put("eltorito", "ipxe-head", &head);
        }
        Err(why) => println!("seedgen: no ipxe.iso seed ({why}); the hand-built ISO seeds only"),
    }
    // fat: the El Torito EFI image (a small FAT12 volume) of Debian's ipxe.iso.
    match std::fs::read(iso::IPXE_ISO) {
        Ok(bytes) => {
            let mut dev = polyboot_core::block::MemDevice::from_vec(bytes);
            let catalog = polyboot_core::eltorito::read_catalog(&mut dev)
                .expect("ipxe.iso has a boot catalog");
            let entry = catalog.efi_entry().expect("ipxe.iso has an EFI boot image").clone();
            let at = entry.image_offset();
            let len = polyboot_core::eltorito::fat_image_size(&mut dev, at)
                .expect("its EFI image is FAT");
            let image = dev.data[at as usize..(at + len) as usize].to_vec();
            let mut fat = polyboot_core::fat::Fat::open(polyboot_core::block::MemDevice::from_vec(
                image.clone(),
            ))
            .expect("our FAT reader opens ipxe.iso's EFI image");
            assert!(fat
                .read_file("/EFI/BOOT/BOOTX64.EFI", 4 << 20)
                .is_ok_and(|b| b.starts_with(b"MZ")));
            put("fat", "ipxe-efi-image", &fat_seeds::head(&image));
        }
        Err(why) => println!("seedgen: no FAT seed from ipxe.iso ({why})"),
    }
    match fat_seeds::seeds() {
        Ok(seeds) => seeds.iter().for_each(|(name, bytes)| put("fat", name, bytes)),
        Err(why) => println!("seedgen: no mkfs.fat seeds ({why}); needs dosfstools and mtools"),
    }

    for (name, bytes) in config_seeds::seeds() {
        check_config_seed(name, &bytes);
        put("config", name, &bytes);
    }
    // The menu target: each ventoy.json seed with the fixtures' image paths and a key walk
    // (down, enter, a letter, '/', a search, escape, F3 tree view, F5, a tick).
    let menu_paths = b"/ISO/debian-12.5.0-amd64-netinst.iso\n/ISO/ubuntu-24.04-desktop-amd64.iso\n\
/ISO/Office/office2019.iso\n/ISO/Win11_23H2_English_x64.iso\n/ISO/Windows/Server/2022.iso\n\
/ISO/Linux/arch.iso\n/ISO/Legacy/freedos.img\n/tools/shell.efi\n/a.iso\n/secret/b.iso\n";
    let menu_keys =
        [1u8, 1, 6, b'u', 9, b'i', b's', b'o', 7, 12, 6, 6, 1, 8, 14, 20, 6, b'1', b'2', b'3', 6];
    for (name, bytes) in config_seeds::seeds() {
        let mut seed = bytes.clone();
        seed.push(0);
        seed.extend_from_slice(menu_paths);
        seed.push(0);
        seed.extend_from_slice(&menu_keys);
        put("menu", name, &seed);
    }
    put(
        "menu",
        "passwords-and-tree",
        &[
            &br#"{"control": [{"VTOY_DEFAULT_MENU_MODE": "1"}], "password": {"bootpwd": "txt#123", "isopwd": "md5#e10adc3949ba59abbe56e057f20f883e", "menupwd": [{"parent": "/secret", "pwd": "pbkdf2-sha256#2#00#0000000000000000000000000000000000000000000000000000000000000000"}]}, "menu_alias": [{"dir": "/ISO", "alias": "Images"}]}"#[..],
            b"\0",
            menu_paths,
            b"\0",
            &[b'1', b'2', b'3', 6, 6, 6, b'1', b'2', b'3', 6, 6, b'x', 6, 7, 12, 6, 6, b'1', b'2', b'3', b'4', b'5', b'6', 6],
        ]
        .concat(),
    );

    for (name, desc) in vdisk_seeds::seeds() {
        let bytes = vdisk_desc::encode(&desc);
        assert_eq!(vdisk_desc::decode(&bytes), desc, "vdisk seed {name} does not round-trip");
        check_vdisk_seed(name, &desc);
        put("vdisk", name, &bytes);
    }

    for (name, bytes) in linux_seeds::bootcfg_seeds() {
        check_bootcfg_seed(name, &bytes);
        let is_iso = bytes.len() >= 0x8006 && &bytes[0x8001..0x8006] == b"CD001";
        put(if is_iso { "bootcfg_iso" } else { "bootcfg" }, name, &bytes);
    }
    for (name, bytes) in bootcfg_edit_seeds::seeds() {
        put("bootcfg_edit", name, &bytes);
    }
    for (name, bytes) in linux_seeds::handoff_seeds() {
        polyboot_core::handoff::Handoff::decode(&bytes)
            .unwrap_or_else(|e| panic!("handoff seed {name}: {e}"));
        put("handoff", name, &bytes);
    }
    for (name, bytes) in linux_seeds::initrd_wrap_seeds() {
        put("initrd_wrap", name, &bytes);
    }
    for (name, bytes) in linux_seeds::initramfs_seeds() {
        check_initramfs_seed(&name, &bytes);
        put("initramfs", &name, &bytes);
    }
    match inject_seeds::tar_seeds() {
        Ok(seeds) => seeds.iter().for_each(|(name, bytes)| {
            polyboot_core::tar::parse(bytes, &Default::default())
                .unwrap_or_else(|e| panic!("tar seed {name}: {e}"));
            put("tar", name, bytes)
        }),
        Err(why) => println!("seedgen: no tar seeds ({why})"),
    }
    for (name, bytes) in inject_seeds::template_seeds() {
        put("template", name, &bytes);
    }

    for (name, bytes) in udf_seeds::hand_built() {
        put("udf", &name, &bytes);
    }
    match udf_seeds::tool_seeds() {
        Ok(seeds) => seeds.iter().for_each(|(name, bytes)| put("udf", name, bytes)),
        Err(why) => println!(
            "seedgen: no genisoimage / mkudffs seeds for udf ({why}); the hand-built ones only"
        ),
    }

    let (fsprobe, missing) = fsprobe_seeds::seeds();
    fsprobe.iter().for_each(|(name, bytes)| put("fsprobe", name, bytes));
    for why in missing {
        println!("seedgen: an fsprobe seed left out ({why})");
    }

    match ntfs_seeds::seeds() {
        Ok(seeds) => seeds.iter().for_each(|(name, bytes)| put("ntfs", name, bytes)),
        Err(why) => {
            println!("seedgen: no ntfs seeds ({why}); polyboot has no NTFS writer of its own")
        }
    }

    match luks2_seeds::seeds() {
        Ok(seeds) => seeds.iter().for_each(|(name, bytes)| put("luks2", name, bytes)),
        Err(why) => {
            println!("seedgen: no luks2 seeds ({why}); polyboot makes no LUKS2 headers itself")
        }
    }

    let (regf, note) = regf_seeds::seeds();
    regf.iter().for_each(|(name, bytes)| put("regf", name, bytes));
    if let Some(why) = note {
        println!("seedgen: no hivex-edited regf seeds ({why}); polyboot's own hives only");
    }
    regf_seeds::bcd_seeds().iter().for_each(|(name, bytes)| put("bcd", name, bytes));
    match wim_seeds::wim_seeds() {
        Ok(seeds) => seeds.iter().for_each(|(name, bytes)| put("wim", name, bytes)),
        Err(why) => println!("seedgen: no wim seeds ({why}); needs wimtools and xorriso"),
    }
    match wim_seeds::winpe_seeds() {
        Ok(seeds) => seeds.iter().for_each(|(name, bytes)| put("wim_patch", name, bytes)),
        Err(why) => println!("seedgen: no wim_patch seeds ({why}); needs wimtools"),
    }
    match wim_seeds::winpe_medium_seeds() {
        Ok(seeds) => seeds.iter().for_each(|(name, bytes)| put("winpe_medium", name, bytes)),
        Err(why) => println!("seedgen: no winpe_medium seeds ({why}); needs wimtools"),
    }
    for (name, bytes) in wim_seeds::embedded_hook_seeds() {
        assert!(
            polyboot_core::embedded_hook::find_embedded_hook(&bytes).is_some(),
            "embedded_hook seed {name}"
        );
        put("embedded_hook", &name, &bytes);
    }

    let (seeds, note) = authenticode_seeds::seeds();
    seeds.iter().for_each(|(name, bytes)| put("authenticode", name, bytes));
    if let Some(why) = note {
        println!("seedgen: fewer authenticode seeds ({why})");
    }

    for (name, bytes) in net_seeds::dhcp() {
        put("dhcp", &name, &bytes);
    }
    for (name, bytes) in net_seeds::tftp() {
        put("tftp", &name, &bytes);
    }
    for (name, bytes) in net_seeds::rules() {
        put("serve_rules", &name, &bytes);
    }

    println!("seedgen: wrote {count} seeds under {}", dir.display());
}

/// The image must really hold what the exFAT targets are meant to exercise, and the
/// targets' walker must accept it (no false alarms on a valid volume).
fn check_exfat_image(image: &exfat_image::Image) {
    let mut dev = MemDevice::from_vec(image.bytes.clone());
    let mut fs = ExFat::open(&mut dev).expect("open the seed volume");
    let names = |fs: &mut ExFat<&mut MemDevice>, path: &str| -> Vec<String> {
        fs.read_dir(path).expect("list").into_iter().map(|e| e.name).collect()
    };
    let root = names(&mut fs, "/");
    for expected in ["boot", "iso", "README.TXT", "empty", "sparse.img"] {
        assert!(root.iter().any(|n| n == expected), "{expected} missing from {root:?}");
    }
    let mut iso = names(&mut fs, "/iso");
    iso.sort();
    assert_eq!(iso, ["fragmented.bin", "part0.bin", "part2.bin"]);
    let fragmented = fs.metadata("/iso/fragmented.bin").unwrap();
    assert!(!fragmented.contiguous, "fragmented.bin should use a FAT chain");
    assert!(
        fs.file_extents(&fragmented).unwrap().len() >= 2,
        "fragmented.bin should have several extents"
    );
    let sparse = fs.metadata("/sparse.img").unwrap();
    assert!(sparse.valid_data_length < sparse.size);
    assert_eq!(fs.read_to_vec("/boot/grub/grub.cfg").unwrap()[..9], *b"menuentry");
    exfat_walk::walk(&mut fs);
}

/// The up-case table of the exFAT seed volume.
fn exfat_upcase() -> exfat_fixup::Upcase {
    exfat_fixup::Upcase::from_volume(&exfat_image::build().bytes)
}

/// The targets' checksum repair must not change a valid input (else it repairs wrongly).
fn check_fixups_keep_valid_input(target: &str, name: &str, bytes: &[u8]) {
    let mut fixed = bytes.to_vec();
    match (target, name) {
        ("gpt", _) => {
            for ss in [512, 4096] {
                gpt_fixup::fix_crcs(&mut fixed, ss);
            }
        }
        ("exfat_boot", _) => {
            let root = exfat_fixup::root_cluster_range(&fixed).expect("root cluster of the seed");
            let upcase = exfat_fixup::Upcase::from_volume(&fixed);
            exfat_fixup::fix_entry_sets(&mut fixed[root], &upcase);
            exfat_fixup::fix_boot_checksums(&mut fixed);
        }
        ("exfat_dir", _) => exfat_fixup::fix_entry_sets(&mut fixed, &exfat_upcase()),
        ("eltorito", _) => eltorito_fixup::fix_validation_checksum(&mut fixed),
        ("luks2", _) => luks2_fixup::fix_checksums(&mut fixed),
        _ => {}
    }
    assert!(fixed == bytes, "checksum repair changed the valid {target} seed {name}");
}

/// ... and must make a field change that breaks only a checksum acceptable again.
fn check_fixups_repair(image: &exfat_image::Image) {
    let ss = SectorSize::B512;
    let mut disk = compact_image(ss);
    disk[2 * 512 + 56] = b'D'; // first letter of partition 1's name in the primary array
    assert!(gpt::read(&mut MemDevice::from_vec(disk.clone()), ss)
        .unwrap()
        .primary_problem
        .is_some());
    gpt_fixup::fix_crcs(&mut disk, 512);
    let read = gpt::read(&mut MemDevice::from_vec(disk), ss).unwrap();
    assert!(read.primary_problem.is_none(), "GPT CRC repair");
    assert_eq!(read.gpt.partition(1).unwrap().name.to_string_lossy(), "Data");

    let mut vol = image.bytes.clone();
    vol[100] ^= 0xFF; // volume serial
    assert!(ExFat::open(MemDevice::from_vec(vol.clone())).unwrap().opened_from_backup());
    exfat_fixup::fix_boot_checksums(&mut vol);
    let fs = ExFat::open(MemDevice::from_vec(vol)).unwrap();
    assert!(
        !fs.opened_from_backup() && fs.volume_serial() == 0x5059_4C42 ^ 0xFF,
        "boot checksum repair"
    );

    let mut vol = image.bytes.clone();
    let upcase = exfat_fixup::Upcase::from_volume(&vol);
    let root = &mut vol[image.root_offset..image.root_offset + image.cluster_bytes];
    let at = root
        .windows(20)
        .position(|w| {
            w == "README"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .chain([b'.', 0, b'T', 0, b'X', 0, b'T', 0])
                .collect::<Vec<u8>>()
        })
        .unwrap();
    root[at] = b'Q';
    // A non-ASCII letter: its hash needs the volume's own up-case table (ï -> Ï, ö -> Ö).
    let at = root.windows(2).position(|w| w == 0xEFu16.to_le_bytes()).unwrap();
    root[at] = 0xF6;
    exfat_fixup::fix_entry_sets(root, &upcase);
    let mut fs = ExFat::open(MemDevice::from_vec(vol)).unwrap();
    let listing = fs.read_dir_report("/").unwrap();
    assert!(listing.corrupt.is_empty(), "entry set repair left {:?}", listing.corrupt);
    let names: Vec<String> = listing.entries.into_iter().map(|e| e.name).collect();
    assert!(names.iter().any(|n| n == "QEADME.TXT"), "entry set checksum repair: {names:?}");
    assert!(names.iter().any(|n| n.starts_with("Ünöcødé")), "name hash repair: {names:?}");
}

fn identity() -> Identity {
    let mut bytes = [0u8; 52];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    Identity::from_random_bytes(&bytes)
}

/// The layout polyboot writes, planned for the smallest disk it accepts, then with every
/// LBA divided so the whole image is 256 KiB (512-byte sectors) or 512 KiB (4096): same
/// GUIDs, types, names, attributes and protective MBR shape, written by
/// `layout::write_partition_table`.
fn scaled_layout_image(ss: SectorSize) -> Vec<u8> {
    let req = LayoutRequest::new(128 * MIB, ss, Scheme::Gpt, identity());
    let mut plan = layout::plan(&req).expect("plan the layout");
    let big = plan.gpt.clone().expect("a GPT plan has a table");

    let small_sectors = match ss {
        SectorSize::B512 => 512,
        SectorSize::B4096 => 128,
    };
    let mut small = Gpt::new(ss, small_sectors, big.disk_guid).expect("small GPT geometry");
    let (first, last) = (small.first_usable_lba, small.last_usable_lba);
    // Keep the plan's proportions inside the small usable area.
    let scale = |lba: u64| {
        first
            + (lba - big.first_usable_lba) * (last - first)
                / (big.last_usable_lba - big.first_usable_lba)
    };
    for (number, p) in big.partitions() {
        // Scale [first, last + 1) so partitions that touch keep touching without overlapping.
        let (a, end) = (scale(p.first_lba), scale(p.last_lba + 1));
        let scaled = GptPartition { first_lba: a, last_lba: (end - 1).max(a), ..*p };
        small.set_partition(number, scaled).expect("scaled partition fits");
    }
    small.validate().expect("scaled table is valid");

    plan.disk_sectors = small_sectors;
    plan.disk_bytes = small_sectors * ss.bytes();
    plan.mbr = Mbr::protective(small_sectors);
    plan.gpt = Some(small);
    let mut dev = MemDevice::new(plan.disk_bytes as usize);
    let boot_code = boot_code();
    layout::write_partition_table(&plan, &mut dev, BootCode::Install(&boot_code))
        .expect("write the layout");
    let read = gpt::read(&mut dev, ss).expect("the seed reads back");
    assert!(read.backup_problem.is_none());
    dev.data
}

/// A tiny disk with a short entry array (one sector's worth of entries), three partitions
/// with attributes and a non-ASCII name: 8 KiB at 512-byte sectors, 64 KiB at 4096.
fn compact_image(ss: SectorSize) -> Vec<u8> {
    let sectors = 16;
    let entries = (ss.bytes() / 128) as usize;
    let mut table = Gpt {
        sector_size: ss,
        disk_sectors: sectors,
        disk_guid: guid(1),
        first_usable_lba: 3,
        last_usable_lba: sectors - 4,
        entries: vec![None; entries],
    };
    let part = |n: u8, type_guid, first, last, attributes, name: &str| GptPartition {
        type_guid,
        unique_guid: guid(n),
        first_lba: first,
        last_lba: last,
        attributes,
        name: PartitionName::new(name).unwrap(),
    };
    table.set_partition(1, part(2, Guid::MICROSOFT_BASIC_DATA, 3, 6, 0, "data")).unwrap();
    table
        .set_partition(
            2,
            part(3, Guid::EFI_SYSTEM, 7, 9, gpt::attributes::REQUIRED_PARTITION, "ESP-é"),
        )
        .unwrap();
    table
        .set_partition(
            entries as u32,
            part(4, guid(9), 10, 12, 1 << 63 | gpt::attributes::LEGACY_BIOS_BOOTABLE, ""),
        )
        .unwrap();
    let mut dev = MemDevice::new((sectors * ss.bytes()) as usize);
    gpt::write(&mut dev, &table).expect("write the compact table");
    dev.write_at(0, &Mbr::protective(sectors).to_bytes()).unwrap();
    let read = gpt::read(&mut dev, ss).expect("the seed reads back");
    assert_eq!(read.gpt, table);
    dev.data
}

/// LBA 0 and a little more of an MBR-scheme drive (no GPT at all).
fn mbr_layout_lba0() -> Vec<u8> {
    let req = LayoutRequest::new(128 * MIB, SectorSize::B512, Scheme::Mbr, identity());
    let plan = layout::plan(&req).expect("plan the MBR layout");
    let mut mbr = plan.mbr.clone();
    mbr.boot_code = boot_code();
    let mut out = vec![0u8; 4096];
    out[..512].copy_from_slice(&mbr.to_bytes());
    out
}

fn four_entry_mbr() -> Mbr {
    let mut mbr = Mbr::empty(0x1234_5678);
    mbr.boot_code = boot_code();
    let entries = [
        (true, types::EXFAT_NTFS, 2048, 4096),
        (false, types::EFI_SYSTEM, 6144, 2048),
        (false, 0x83, 8192, 0xFFFF_0000),
        (false, 0x05, 1, 2047),
    ];
    for (slot, (active, partition_type, first_lba, sector_count)) in entries.into_iter().enumerate()
    {
        mbr.partitions[slot] =
            Some(MbrPartition { active, partition_type, first_lba, sector_count });
    }
    assert_eq!(Mbr::parse(&mbr.to_bytes()).as_ref(), Ok(&mbr));
    mbr
}

fn boot_code() -> [u8; 440] {
    let mut code = [0u8; 440];
    code[..3].copy_from_slice(&[0xEB, 0x63, 0x90]);
    for (i, b) in code.iter_mut().enumerate().skip(3) {
        *b = (i % 251) as u8;
    }
    code
}

fn guid(n: u8) -> Guid {
    Guid::from_random_bytes([n.wrapping_mul(29).wrapping_add(1); 16])
}

/// The hand-built ISO reads as built: both trees, Rock Ridge names (one continued in a CE
/// area), the relocated directory, the two-extent file, and both boot entries.
fn check_hand_built_iso(img: &[u8]) {
    let mut dev = MemDevice::from_vec(img.to_vec());
    let info = iso9660::probe(&mut dev).expect("probe the hand-built ISO");
    assert!(info.rock_ridge(), "Rock Ridge");
    assert_eq!(info.volume_id, "POLYBOOT_SEED");
    let joliet = info.joliet.clone().expect("Joliet tree");
    assert_eq!((joliet.level, joliet.volume_id.as_str()), (3, "polyboot seed"));
    assert_eq!(info.preferred_tree(), &info.primary);
    assert_eq!(info.el_torito_catalog, Some(30));

    for tree in [&info.primary, &joliet.tree] {
        let cfg = iso9660::lookup(&mut dev, tree, "/boot/grub/grub.cfg").expect("grub.cfg");
        assert_eq!(iso9660::read_to_vec(&mut dev, &cfg, 1 << 20).unwrap(), iso::GRUB_CFG_TEXT);
        let big = iso9660::lookup(&mut dev, tree, "/big.bin").expect("big.bin");
        assert_eq!(big.sections.len(), 2, "big.bin has two extents");
        let data = iso9660::read_to_vec(&mut dev, &big, 1 << 20).unwrap();
        assert_eq!(data.len(), iso::SECTOR + iso::BIG_TAIL);
        assert!(data.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        let readme = iso9660::lookup(&mut dev, tree, "/ReadMe.txt").expect("ReadMe.txt");
        assert_eq!(readme.name(), "ReadMe.txt");
        assert_eq!(iso9660::read_to_vec(&mut dev, &readme, 1 << 20).unwrap(), iso::README_TEXT);
    }
    // Rock Ridge: the CL placeholder is the directory, its RE original is hidden.
    let note = iso9660::lookup(&mut dev, &info.primary, "/deep/note.txt").expect("relocated dir");
    assert_eq!(iso9660::read_to_vec(&mut dev, &note, 1 << 20).unwrap(), iso::NOTE_TEXT);
    let rr_moved = iso9660::lookup(&mut dev, &info.primary, "/rr_moved").unwrap();
    let moved = iso9660::read_dir(&mut dev, &info.primary, &rr_moved.record).unwrap();
    assert!(moved.is_empty(), "relocated original listed: {moved:?}");
    let mut paths = Vec::new();
    iso9660::walk(&mut dev, &info.primary, 8, |path, _| {
        paths.push(path.to_string());
        true
    })
    .unwrap();
    paths.sort();
    let expected = [
        "/ReadMe.txt",
        "/big.bin",
        "/boot",
        "/boot.catalog",
        "/boot/grub",
        "/boot/grub/grub.cfg",
        "/deep",
        "/deep/note.txt",
        "/efi.img",
        "/eltorito.img",
        "/rr_moved",
    ];
    assert_eq!(paths, expected);

    let catalog = eltorito::read_catalog(&mut dev).expect("boot catalog");
    assert_eq!(catalog.entries.len(), 2);
    assert!(catalog.can_boot_bios() && catalog.can_boot_uefi());
    assert_eq!(catalog.efi_entry().unwrap().platform, Platform::Efi);
    assert_eq!(catalog.efi_image_range(&mut dev), Some((33 * 2048, 4096)));
}

fn check_plain_iso(img: &[u8]) {
    let mut dev = MemDevice::from_vec(img.to_vec());
    let info = iso9660::probe(&mut dev).expect("probe the ISO without Rock Ridge");
    assert_eq!(info.primary.mode, NameMode::Plain);
    assert_eq!(info.preferred_tree().mode, NameMode::Joliet);
    let cfg = iso9660::lookup(&mut dev, &info.primary, "/BOOT/GRUB/GRUB.CFG").unwrap();
    assert_eq!(cfg.name(), "GRUB.CFG");
}

fn check_bios_only(img: &[u8]) {
    let mut dev = MemDevice::from_vec(img.to_vec());
    let catalog = eltorito::read_catalog(&mut dev).expect("BIOS-only catalog");
    assert!(catalog.can_boot_bios() && !catalog.can_boot_uefi());
    assert!(eltorito::uefi_boot_reason(&Ok(catalog)).is_some());
}

/// The ipxe.iso head is a valid volume whose El Torito entries lie inside it.
fn check_ipxe_head(img: &[u8]) {
    let mut dev = MemDevice::from_vec(img.to_vec());
    let info = iso9660::probe(&mut dev).expect("probe the ipxe.iso head");
    assert_eq!(info.volume_bytes(), iso::IPXE_HEAD as u64);
    let mut entries = 0;
    iso9660::walk(&mut dev, info.preferred_tree(), 8, |_, _| {
        entries += 1;
        true
    })
    .expect("walk the ipxe.iso head");
    assert!(entries > 0);
    let catalog = eltorito::read_catalog(&mut dev).expect("ipxe.iso head boot catalog");
    assert!(catalog.can_boot_bios() || catalog.can_boot_uefi());
}

fn check_config_seed(name: &str, bytes: &[u8]) {
    // Every seed must at least be read without panicking; the valid ones must parse.
    let valid = !matches!(name, "utf16" | "not-object" | "syntax" | "nesting-33")
        && !name.starts_with("pair");
    for firmware in [Firmware::Uefi, Firmware::Bios] {
        let p = config::parse_polyboot(bytes, firmware);
        let v = config::parse_ventoy(bytes, firmware);
        if valid {
            assert!(p.is_ok() && v.is_ok(), "config seed {name}: {p:?} {v:?}");
        }
    }
    if name == "ventoy-fixture" {
        let (c, errors) = config::load(None, Some(bytes), Firmware::Bios);
        assert!(errors.is_empty());
        assert_eq!(c.timeout_secs, Some(20), "control_legacy applies under BIOS");
    }
}

/// A description meant to build a disk does (and one meant to be refused is refused).
fn check_vdisk_seed(name: &str, desc: &vdisk_desc::Desc) {
    let mut prev_end = 0u64;
    let extents = desc
        .extents
        .iter()
        .map(|e| {
            let file_offset = if e.absolute { e.offset } else { prev_end + e.offset };
            prev_end = file_offset + e.len;
            Extent { file_offset, device_offset: e.device_offset, len: e.len }
        })
        .collect();
    let disk = VirtualMedium::new(desc.block_size, desc.image_len, desc.partition_offset, extents);
    let refused = matches!(name, "unsorted-extents" | "size-overflow");
    assert_eq!(disk.is_err(), refused, "vdisk seed {name}: {disk:?}");
}

/// The live ISO seeds must be read as built: every configuration found, both initrds with a
/// record in each tree.
fn check_bootcfg_seed(name: &str, bytes: &[u8]) {
    use polyboot_core::bootcfg;
    if !name.starts_with("iso") {
        assert!(bytes.starts_with(b"/") || name == "positional" || name == "grub-quoting");
        return;
    }
    let mut dev = MemDevice::from_vec(bytes.to_vec());
    let r = bootcfg::find_boot_entries(&mut dev).expect("live ISO seed");
    let paths: Vec<&str> = r.initrds.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["/live/ucode.img", "/live/initrd.img"], "bootcfg seed {name}: {r:#?}");
    let trees = if name == "iso" { 2 } else { 1 };
    assert!(r.initrds.iter().all(|i| i.records.len() == trees), "bootcfg seed {name}: {r:#?}");
    for f in [
        "/boot/grub/grub.cfg",
        "/boot/grub/vars.cfg",
        "/boot/grub/loopback.cfg",
        "/isolinux/isolinux.cfg",
        "/isolinux/live.cfg",
        "/loader/entries/live.conf",
    ] {
        // (Without Joliet or Rock Ridge, entries are named from the primary tree: LIVE.CONF.)
        assert!(
            r.files.iter().any(|x| x.eq_ignore_ascii_case(f)),
            "bootcfg seed {name}: {f} not read: {r:#?}"
        );
    }
    assert!(
        r.warnings.iter().all(|w| w.kind != bootcfg::WarningKind::MissingFile),
        "bootcfg seed {name}: {:#?}",
        r.warnings
    );
}

/// Every initramfs seed unpacks with polyboot-hook, with the streams it was built from.
fn check_initramfs_seed(name: &str, bytes: &[u8]) {
    use polyboot_hook::cpio::{unpack_initramfs, Fs};
    use std::io;
    struct Null;
    impl Fs for Null {
        fn mkdir(&mut self, _: &Path, _: u32) -> io::Result<()> {
            Ok(())
        }
        fn write_file(&mut self, _: &Path, _: u32, _: &[u8]) -> io::Result<()> {
            Ok(())
        }
        fn symlink(&mut self, _: &[u8], _: &Path) -> io::Result<()> {
            Ok(())
        }
        fn mknod(&mut self, _: &Path, _: u32, _: u32, _: u32) -> io::Result<()> {
            Ok(())
        }
        fn hard_link(&mut self, _: &Path, _: &Path) -> io::Result<()> {
            Ok(())
        }
        fn set_owner(&mut self, _: &Path, _: u32, _: u32) -> io::Result<()> {
            Ok(())
        }
    }
    let r = unpack_initramfs(bytes, &mut Null, 1 << 30)
        .unwrap_or_else(|e| panic!("initramfs seed {name}: {e}"));
    let want_streams = match name {
        "gzip-zstd" => 2,
        n if n.starts_with("microcode-") => 1,
        _ => 0,
    };
    assert_eq!(r.streams.len(), want_streams, "initramfs seed {name}: {r:?}");
    assert!(r.entries > 0, "initramfs seed {name}");
    let refused = r.warnings.iter().filter(|w| w.contains("leaves the root")).count();
    let want_refused = if name == "odd-entries" || name.starts_with("microcode-") { 1 } else { 0 };
    assert_eq!(refused, want_refused, "initramfs seed {name}: {:?}", r.warnings);
}
