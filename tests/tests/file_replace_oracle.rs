//! Files of an ISO served with other bytes (`polyboot_core::file_replace`, what `conf_replace`
//! and boot configurations with added kernel parameters use), checked with independent
//! readers on the whole virtual medium written out as a file:
//! - an ISO mastered by `xorriso -as mkisofs -R -J` (Rock Ridge + Joliet): xorriso reads the
//!   new content and size through each tree (`-read_fs any | norock | ecma119`) and
//!   `isoinfo` through each (`-R`, `-J`, plain ISO 9660 names), for a shorter replacement (in
//!   memory) and a longer one (a fragmented file on the "drive", served from its extents);
//! - a UDF bridge mastered by `genisoimage -udf -R -J`: 7-Zip's UDF reader (`7z -tudf`) and
//!   core's UDF reader see the same, `udfinfo` accepts the volume (its partition grown, the
//!   anchor copied to the last block);
//! - every other file reads as before through every tree.
//!
//! The tests fail (not skip) when a tool is missing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use polyboot_core::block::MemDevice;
use polyboot_core::file_replace::{self, NewBytes, Replacement};
use polyboot_core::udf;
use polyboot_core::virtual_medium::{Extent, VirtualMedium};
use polyboot_tests::{find_tool, pattern, run_tool, xorriso, xorriso_files};

fn run(cmd: &mut Command) -> String {
    run_tool(cmd).unwrap()
}

const GRUB_CFG: &str = "set timeout=5\nmenuentry 'Live' {\n  linux /live/vmlinuz boot=live quiet\n  initrd /live/initrd.img\n}\n";
const NEW_GRUB_CFG: &[u8] = b"menuentry 'x' {\n  linux /live/vmlinuz p\n}\n";
const LONG_NAME: &str = "EFI/BOOT/Long-Name Config.cfg";

/// The tree mastered: a GRUB configuration, an isolinux one, a long mixed-case name and
/// other files that must stay as they are.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("boot/grub/grub.cfg".to_string(), GRUB_CFG.as_bytes().to_vec());
    files.insert(
        "isolinux/isolinux.cfg".to_string(),
        b"default live\nlabel live\n  kernel /live/vmlinuz\n  append boot=live\n".to_vec(),
    );
    files.insert(LONG_NAME.to_string(), b"configfile /boot/grub/grub.cfg\n".to_vec());
    files.insert("live/vmlinuz".to_string(), pattern(1, 300_000));
    files.insert("live/initrd.img".to_string(), pattern(2, 200_000));
    files.insert("README.txt".to_string(), b"hello\n".to_vec());
    for (p, d) in &files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, d).unwrap();
    }
    files
}

/// The "drive": the ISO at partition offset 0, then the new isolinux.cfg split in two
/// fragments stored in the wrong order; and its extents.
fn drive(iso: &[u8], new: &[u8]) -> (Vec<u8>, Arc<[Extent]>) {
    let mut phys = iso.to_vec();
    let base = (phys.len() as u64).div_ceil(4096) * 4096 + 4096;
    let cut = 3000;
    phys.resize(base as usize, 0xAA);
    phys.extend_from_slice(&new[cut..]);
    phys.resize(phys.len() + 777, 0xBB);
    let second = phys.len() as u64;
    phys.extend_from_slice(&new[..cut]);
    let extents = vec![
        Extent { file_offset: 0, device_offset: second, len: cut as u64 },
        Extent { file_offset: cut as u64, device_offset: base, len: (new.len() - cut) as u64 },
    ];
    (phys, extents.into())
}

/// Plan and apply the two replacements; the whole virtual medium.
fn serve(
    iso: &[u8],
    new_isolinux: &[u8],
    isolinux_path: &str,
) -> (Vec<u8>, file_replace::ReplacePlan) {
    let (phys, extents) = drive(iso, new_isolinux);
    let mut dev = MemDevice::from_vec(phys);
    let len = iso.len() as u64;
    let mut medium =
        VirtualMedium::new(2048, len, 0, vec![Extent { file_offset: 0, device_offset: 0, len }])
            .unwrap();
    let files = [
        Replacement {
            path: "/boot/grub/grub.cfg".into(),
            bytes: NewBytes::Memory(Arc::from(NEW_GRUB_CFG)),
        },
        Replacement {
            path: isolinux_path.into(),
            bytes: NewBytes::DriveFile { size: new_isolinux.len() as u64, extents },
        },
    ];
    let plan = file_replace::plan(&mut medium.reader(&mut dev), medium.size(), &files).unwrap();
    assert!(plan.failed.is_empty(), "{:?}", plan.failed);
    plan.apply(&mut medium).unwrap();
    let mut out = vec![0u8; medium.size() as usize];
    medium.read(&mut dev, 0, &mut out).unwrap();
    (out, plan)
}

/// `path` extracted by xorriso from `iso` through the tree `read_fs` names.
fn xorriso_extract(iso: &Path, read_fs: &str, path: &str, out: &Path) -> Vec<u8> {
    let _ = std::fs::remove_file(out);
    xorriso(&[
        "-osirrox",
        "on",
        "-read_fs",
        read_fs,
        "-indev",
        iso.to_str().unwrap(),
        "-extract",
        path,
        out.to_str().unwrap(),
    ]);
    std::fs::read(out).unwrap()
}

fn isoinfo_extract(iso: &Path, mode: &[&str], path: &str) -> Vec<u8> {
    let out = Command::new(find_tool("isoinfo"))
        .arg("-i")
        .arg(iso)
        .args(mode)
        .args(["-x", path])
        .output()
        .unwrap();
    assert!(out.status.success(), "isoinfo {mode:?} -x {path}");
    out.stdout
}

/// What xorriso lists in one tree: path -> size.
fn sizes(iso: &Path, read_fs: &str) -> BTreeMap<String, u64> {
    xorriso_files(iso, &["-read_fs", read_fs]).into_iter().map(|(p, (_, s))| (p, s)).collect()
}

/// The ISO 9660 (plain) path xorriso gives to a path of the Rock Ridge tree: the same file
/// (same data LBA) in the `ecma119` listing.
fn plain_name(iso: &Path, rr_path: &str) -> String {
    let rr = xorriso_files(iso, &["-read_fs", "any"]);
    let plain = xorriso_files(iso, &["-read_fs", "ecma119"]);
    let lba = rr[rr_path].0;
    plain.iter().find(|(_, (l, _))| *l == lba).map(|(p, _)| p.clone()).unwrap()
}

/// Every tree shows the new files with their new sizes and the other files unchanged.
fn check_iso9660(
    dir: &Path,
    original: &Path,
    virt: &Path,
    new_isolinux: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
) {
    let want = |p: &str| -> Vec<u8> {
        match p {
            "boot/grub/grub.cfg" => NEW_GRUB_CFG.to_vec(),
            "isolinux/isolinux.cfg" => new_isolinux.to_vec(),
            _ => files[p].clone(),
        }
    };
    let out = dir.join("extracted");
    for read_fs in ["any", "norock"] {
        let before = sizes(original, read_fs);
        let after = sizes(virt, read_fs);
        assert_eq!(before.len(), after.len(), "{read_fs}");
        for p in files.keys() {
            let got = xorriso_extract(virt, read_fs, &format!("/{p}"), &out);
            assert_eq!(got, want(p), "xorriso -read_fs {read_fs}: /{p}");
            assert_eq!(after[&format!("/{p}")], want(p).len() as u64, "{read_fs}: /{p}");
        }
        let mode: &[&str] = if read_fs == "norock" { &["-J"] } else { &["-R"] };
        for p in ["boot/grub/grub.cfg", "isolinux/isolinux.cfg", "README.txt"] {
            assert_eq!(
                isoinfo_extract(virt, mode, &format!("/{p}")),
                want(p),
                "isoinfo {mode:?} /{p}"
            );
        }
    }
    // Plain ISO 9660 names (what a reader without Rock Ridge and Joliet sees).
    for p in ["boot/grub/grub.cfg", "isolinux/isolinux.cfg", "live/initrd.img"] {
        let name = plain_name(original, &format!("/{p}"));
        assert_eq!(plain_name(virt, &format!("/{p}")), name);
        let got = xorriso_extract(virt, "ecma119", &name, &out);
        assert_eq!(got, want(p), "xorriso ecma119 {name}");
        let got = isoinfo_extract(virt, &[], &format!("{name};1"));
        assert_eq!(got, want(p), "isoinfo {name};1");
    }
}

#[test]
fn xorriso_rock_ridge_joliet_shorter_and_longer() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let files = tree(&root);
    let iso = dir.path().join("orig.iso");
    xorriso(&[
        "-as",
        "mkisofs",
        "-quiet",
        "-R",
        "-J",
        "-V",
        "REPLACE_TEST",
        "-o",
        iso.to_str().unwrap(),
        root.to_str().unwrap(),
    ]);
    let original = std::fs::read(&iso).unwrap();
    // Longer than the original and than one block; the other one shorter.
    let new_isolinux =
        [b"label x\n  kernel /live/vmlinuz\n  append boot=live p\n".as_slice(), &pattern(9, 6000)]
            .concat();
    assert!(NEW_GRUB_CFG.len() < GRUB_CFG.len());
    // Found without regard to case, as the boot configuration reader finds files.
    let (served, plan) = serve(&original, &new_isolinux, "/ISOLINUX/Isolinux.CFG");
    assert_eq!(plan.replaced.len(), 2);
    for r in &plan.replaced {
        assert_eq!(r.iso9660_records, 2, "{r:?}: primary and Joliet");
        assert!(!r.udf);
        assert!(r.at >= original.len() as u64 && r.at % 2048 == 0);
    }
    assert_eq!(plan.replaced[1].new_size, new_isolinux.len() as u64);
    let virt = dir.path().join("virtual.iso");
    std::fs::write(&virt, &served).unwrap();
    check_iso9660(dir.path(), &iso, &virt, &new_isolinux, &files);
    // The long Joliet / Rock Ridge name is found too.
    let (served, plan) = serve(&original, &new_isolinux, &format!("/{LONG_NAME}"));
    assert_eq!(plan.replaced[1].iso9660_records, 2);
    std::fs::write(&virt, &served).unwrap();
    for read_fs in ["any", "norock"] {
        let got = xorriso_extract(&virt, read_fs, &format!("/{LONG_NAME}"), &dir.path().join("x"));
        assert_eq!(got, new_isolinux, "{read_fs}");
    }
}

#[test]
fn genisoimage_udf_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let files = tree(&root);
    let iso = dir.path().join("orig.iso");
    run(Command::new(find_tool("genisoimage"))
        .args(["-quiet", "-input-charset", "utf-8", "-udf", "-R", "-J", "-V", "UDF_REPLACE", "-o"])
        .arg(&iso)
        .arg(&root));
    let original = std::fs::read(&iso).unwrap();
    let new_isolinux =
        [b"label x\n  kernel /live/vmlinuz\n".as_slice(), &pattern(10, 5000)].concat();
    let (served, plan) = serve(&original, &new_isolinux, "/isolinux/isolinux.cfg");
    for r in &plan.replaced {
        assert!(r.udf, "{r:?}: the UDF file entry was not redirected");
        assert_eq!(r.iso9660_records, 2);
    }
    let virt = dir.path().join("virtual.iso");
    std::fs::write(&virt, &served).unwrap();
    check_iso9660(dir.path(), &iso, &virt, &new_isolinux, &files);

    // UDF: 7-Zip and core's reader.
    let by_7z = dir.path().join("7z");
    run(Command::new(find_tool("7z"))
        .args(["x", "-tudf", "-y"])
        .arg(format!("-o{}", by_7z.display()))
        .arg(&virt));
    let mut dev = MemDevice::from_vec(served.clone());
    let vol = udf::probe(&mut dev).unwrap();
    for (p, data) in &files {
        let want = match p.as_str() {
            "boot/grub/grub.cfg" => NEW_GRUB_CFG.to_vec(),
            "isolinux/isolinux.cfg" => new_isolinux.clone(),
            _ => data.clone(),
        };
        assert_eq!(std::fs::read(by_7z.join(p)).unwrap(), want, "7z -tudf: {p}");
        let e = vol.lookup(&mut dev, p).unwrap();
        let mut got = vec![0u8; e.size as usize];
        vol.read_file(&mut dev, &e, 0, &mut got).unwrap();
        assert_eq!(got, want, "core UDF: {p}");
    }
    // udfinfo reads the volume, the anchor in its last block.
    let info = run(Command::new(find_tool("udfinfo")).arg(&virt));
    assert!(info.contains("label=UDF_REPLACE"), "{info}");
    let blocks = served.len() as u64 / 2048;
    assert!(info.contains(&format!("blocks={blocks}")), "udfinfo sees {blocks} blocks: {info}");
}
