//! `polyboot persistence create | extend | ls` on drive image files made by `polyboot
//! install`, checked with independent tools: fsck.exfat on the data partition after every
//! case, e2fsck / debugfs / blkid / xfs_repair on the backend's bytes (read through
//! polyboot's exFAT reader, the same extents the boot side maps), sha256 of the whole image
//! for the refusals (they change nothing).

mod common;
use common::Cli;
use polyboot::drive::Drive;
use polyboot_tests::{find_tool, run_tool};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

#[track_caller]
fn ok(args: &[&str]) -> String {
    Cli::new().args(args).ok()
}

#[track_caller]
fn fails(args: &[&str]) -> String {
    Cli::new().args(args).fails()
}

#[track_caller]
fn json(args: &[&str]) -> Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A fresh drive image of `size` in `dir`.
fn drive(dir: &Path, size: &str) -> PathBuf {
    let img = dir.join("disk.img");
    ok(&["install", img.to_str().unwrap(), "--size", size]);
    img
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sha256(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h).unwrap();
    format!("{:x}", h.finalize())
}

/// The backend's bytes as the boot side maps them: its extents on the data partition, which
/// cover the whole file (valid data length = size). Returns the file and its fragment count.
fn extract(img: &Path, path: &str, out: &Path) -> usize {
    let mut drive = Drive::open(img, false).unwrap();
    let mut fs = drive.data().unwrap();
    let meta = fs.metadata(path).unwrap();
    assert_eq!(meta.valid_data_length, meta.size, "{path}: the whole file holds data");
    let extents = fs.file_extents(&meta).unwrap();
    assert_eq!(extents.iter().map(|e| e.len).sum::<u64>(), meta.size);
    let bytes = fs.read_to_vec(path).unwrap();
    drop(fs);
    // The same bytes read straight from the image at the extents' disk offsets.
    let base = drive.layout.data.offset;
    let raw = std::fs::File::open(img).unwrap();
    for e in &extents {
        let mut buf = vec![0u8; e.len as usize];
        std::os::unix::fs::FileExt::read_exact_at(&raw, &mut buf, base + e.device_offset).unwrap();
        let at = e.file_offset as usize;
        assert!(buf == bytes[at..at + buf.len()], "{path}: extent at {} differs", e.file_offset);
    }
    std::fs::write(out, &bytes).unwrap();
    extents.len()
}

#[track_caller]
fn e2fsck_clean(file: &Path) {
    let out = Command::new(find_tool("e2fsck")).arg("-fn").arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "e2fsck -fn {}: {}\n{}{}",
        file.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// blkid's TYPE, LABEL and UUID of a file (an independent reader of the superblocks).
fn blkid(file: &Path) -> (String, String, String) {
    let out =
        run_tool(Command::new(find_tool("blkid")).args(["-p", "-o", "export"]).arg(file)).unwrap();
    let get = |k: &str| {
        out.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or_default().to_string()
    };
    (get("TYPE"), get("LABEL"), get("UUID"))
}

/// The file system's size from dumpe2fs (block count × block size).
fn ext_size(file: &Path) -> u64 {
    let out = run_tool(Command::new(find_tool("dumpe2fs")).arg("-h").arg(file)).unwrap();
    let field = |k: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("{k} in {out}"))
            .trim()
            .parse()
            .unwrap()
    };
    field("Block count:") * field("Block size:")
}

fn debugfs_cat(file: &Path, path: &str) -> String {
    run_tool(Command::new(find_tool("debugfs")).args(["-R", &format!("cat {path}")]).arg(file))
        .unwrap()
}

/// A small ISO whose grub.cfg boots a kernel with `cmdline` (enough for the init family).
fn live_iso(dir: &Path, name: &str, cmdline: &str) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("live")).unwrap();
    std::fs::create_dir_all(root.join("boot/grub")).unwrap();
    std::fs::write(
        root.join("boot/grub/grub.cfg"),
        format!("menuentry \"Live\" {{\n  linux /live/vmlinuz {cmdline}\n  initrd /live/initrd.img\n}}\n"),
    )
    .unwrap();
    std::fs::write(root.join("live/vmlinuz"), vec![1u8; 10_000]).unwrap();
    std::fs::write(root.join("live/initrd.img"), vec![2u8; 10_000]).unwrap();
    let iso = dir.join(format!("{name}.iso"));
    run_tool(
        Command::new(find_tool("xorriso"))
            .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-o"])
            .arg(&iso)
            .arg(&root),
    )
    .unwrap();
    iso
}

#[test]
fn create_ext4_with_label_persistence_writes_persistence_conf() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "256M");
    let r = json(&[
        "persistence",
        "create",
        s(&img),
        "debian",
        "--size",
        "40M",
        "--label",
        "persistence",
        "--json",
    ]);
    assert_eq!(r["path"], "/persistence/debian.dat", "{r}");
    assert_eq!((r["dat_added"].as_bool(), r["size"].as_u64()), (Some(true), Some(40 << 20)));
    assert_eq!(
        (r["filesystem"].as_str(), r["label"].as_str()),
        (Some("ext4"), Some("persistence"))
    );
    assert_eq!((r["fragments"].as_u64(), r["dry_run"].as_bool()), (Some(1), Some(false)));
    assert_eq!(r["label_source"], "--label");
    common::fsck_exfat_data(&img);
    let file = dir.path().join("debian.dat");
    assert_eq!(extract(&img, "/persistence/debian.dat", &file), 1, "contiguous");
    e2fsck_clean(&file);
    assert_eq!(debugfs_cat(&file, "/persistence.conf"), "/ union\n");
    let (ty, label, uuid) = blkid(&file);
    assert_eq!((ty.as_str(), label.as_str()), ("ext4", "persistence"));
    assert_eq!(r["uuid"], uuid.as_str());
    assert_eq!(ext_size(&file), 40 << 20, "the file system fills the file");
    // The root directory is world-readable (live-boot's union mount sits on it).
    let stat =
        run_tool(Command::new(find_tool("debugfs")).args(["-R", "stat /"]).arg(&file)).unwrap();
    assert!(stat.contains("Mode:  0755") || stat.contains("Mode:  040755"), "{stat}");

    // The same name given with .dat, in another directory, label casper-rw: no .dat added
    // and no persistence.conf.
    let out =
        ok(&["persistence", "create", s(&img), "Ubuntu.DAT", "--size", "20M", "--dir", "casper"]);
    assert!(
        out.contains("/casper/Ubuntu.DAT") && out.contains("label casper-rw (the default"),
        "{out}"
    );
    assert!(!out.contains(".dat\" added"), "{out}");
    common::fsck_exfat_data(&img);
    let file = dir.path().join("ubuntu.dat");
    extract(&img, "/casper/Ubuntu.DAT", &file);
    e2fsck_clean(&file);
    assert_eq!(blkid(&file).1, "casper-rw");
    let out = Command::new(find_tool("debugfs"))
        .args(["-R", "stat /persistence.conf"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"), "{out:?}");
}

#[test]
fn create_for_an_image_picks_its_label_and_registers_it_in_polyboot_json() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "256M");
    let ubuntu = live_iso(dir.path(), "ubuntu", "boot=casper quiet splash ---");
    let debian = live_iso(dir.path(), "debian-live", "boot=live components");
    ok(&["add", "-q", s(&img), s(&ubuntu), s(&debian), "--to", "ISO"]);
    // A polyboot.json with settings of its own, which must survive.
    let pj = dir.path().join("polyboot.json");
    std::fs::write(&pj, r#"{"version": 1, "search": {"max_depth": 7}, "_comment": "mine"}"#)
        .unwrap();
    ok(&["add", "-q", s(&img), s(&pj), "--to", "polyboot"]);

    let r = json(&[
        "persistence",
        "create",
        s(&img),
        "ubuntu",
        "--size",
        "20M",
        "--image",
        "/ISO/ubuntu.iso",
        "--json",
    ]);
    assert_eq!(
        (r["label"].as_str(), r["registered"].as_bool()),
        (Some("casper-rw"), Some(true)),
        "{r}"
    );
    assert!(r["label_source"].as_str().unwrap().contains("casper"), "{r}");
    let r = json(&[
        "persistence",
        "create",
        s(&img),
        "debian",
        "--size",
        "20M",
        "--image",
        "ISO/debian-live.iso",
        "--json",
    ]);
    assert_eq!(r["label"], "persistence", "{r}");
    // A second backend for the same image, named in another case (exFAT matches names
    // without regard to case; polyboot.json gets the drive's spelling), with the label given:
    // the entry becomes a list of two.
    let out = ok(&[
        "persistence",
        "create",
        s(&img),
        "ubuntu-2",
        "--size",
        "20M",
        "--image",
        "iso/Ubuntu.ISO",
        "--label",
        "casper-rw",
    ]);
    assert!(out.contains("created /persistence/ubuntu-2.dat"), "{out}");
    common::fsck_exfat_data(&img);

    let got = dir.path().join("got.json");
    let mut drive = Drive::open(&img, false).unwrap();
    std::fs::write(&got, drive.data().unwrap().read_to_vec("/polyboot/polyboot.json").unwrap())
        .unwrap();
    drop(drive);
    let v: Value = serde_json::from_slice(&std::fs::read(&got).unwrap()).unwrap();
    assert_eq!(
        (v["search"]["max_depth"].as_u64(), v["_comment"].as_str()),
        (Some(7), Some("mine")),
        "{v}"
    );
    assert_eq!(
        v["persistence"],
        serde_json::json!([
            {"image": "/ISO/ubuntu.iso", "backend": ["/persistence/ubuntu.dat", "/persistence/ubuntu-2.dat"], "autosel": 1},
            {"image": "/ISO/debian-live.iso", "backend": "/persistence/debian.dat", "autosel": 1}
        ])
    );
    // The boot manager's parser reads it without a warning.
    let check = ok(&["config", "check", s(&img)]);
    assert!(check.contains(" 0 errors, 0 warnings"), "{check}");

    // ls: every backend, its file system read from the superblock, and its images.
    let list = json(&["persistence", "ls", s(&img), "--json"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    let find =
        |p: &str| list.iter().find(|b| b["path"] == p).unwrap_or_else(|| panic!("{p}: {list:?}"));
    let u = find("/persistence/ubuntu.dat");
    assert_eq!((u["filesystem"].as_str(), u["label"].as_str()), (Some("ext4"), Some("casper-rw")));
    assert_eq!((u["size"].as_u64(), u["fragments"].as_u64()), (Some(20 << 20), Some(1)));
    assert_eq!((u["encrypted"].as_bool(), u["exists"].as_bool()), (Some(false), Some(true)));
    assert_eq!(u["images"], serde_json::json!(["/ISO/ubuntu.iso"]));
    assert_eq!(find("/persistence/ubuntu-2.dat")["images"], serde_json::json!(["/ISO/ubuntu.iso"]));
    let d = find("/persistence/debian.dat");
    assert_eq!(d["images"], serde_json::json!(["/ISO/debian-live.iso"]));
    let file = dir.path().join("debian.dat");
    extract(&img, "/persistence/debian.dat", &file);
    e2fsck_clean(&file);
    let (ty, label, uuid) = blkid(&file);
    assert_eq!(
        (d["filesystem"].as_str(), d["label"].as_str()),
        (Some(ty.as_str()), Some(label.as_str()))
    );
    assert_eq!(d["uuid"], uuid.as_str());
    assert_eq!(d["filesystem_size"].as_u64(), Some(ext_size(&file)));
    let text = ok(&["persistence", "ls", s(&img)]);
    assert!(
        text.contains("/persistence/ubuntu.dat  ext4 \"casper-rw\"")
            && text.contains("used by /ISO/ubuntu.iso"),
        "{text}"
    );
}

#[test]
fn ls_shows_backends_the_configuration_names_elsewhere_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "128M");
    let iso = live_iso(dir.path(), "live", "boot=live");
    ok(&["add", "-q", s(&img), s(&iso), "--to", "ISO"]);
    ok(&[
        "persistence",
        "create",
        s(&img),
        "elsewhere",
        "--size",
        "16M",
        "--dir",
        "/other",
        "--label",
        "persistence",
    ]);
    let vj = dir.path().join("ventoy.json");
    std::fs::write(
        &vj,
        r#"{"persistence": [{"image": "/ISO/live.iso", "backend": ["/other/elsewhere.dat", "/gone.dat"]}]}"#,
    )
    .unwrap();
    ok(&["add", "-q", s(&img), s(&vj), "--to", "ventoy"]);
    let list = json(&["persistence", "ls", s(&img), "--json"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let e = list.iter().find(|b| b["path"] == "/other/elsewhere.dat").unwrap();
    assert_eq!(
        (e["label"].as_str(), e["images"][0].as_str()),
        (Some("persistence"), Some("/ISO/live.iso"))
    );
    let g = list.iter().find(|b| b["path"] == "/gone.dat").unwrap();
    assert_eq!((g["exists"].as_bool(), g["filesystem"].as_str()), (Some(false), None), "{g}");
    assert!(g["problems"][0].as_str().unwrap().contains("not on the drive"), "{g}");
    // Nothing at all: an empty list, said in words without --json.
    let img2 = dir.path().join("empty.img");
    ok(&["install", s(&img2), "--size", "128M"]);
    assert_eq!(json(&["persistence", "ls", s(&img2), "--json"]), serde_json::json!([]));
    assert!(ok(&["persistence", "ls", s(&img2)]).contains("no persistence files"));
    common::fsck_exfat_data(&img);
}

#[test]
fn extend_grows_file_and_file_system_in_place_and_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "256M");
    ok(&["persistence", "create", s(&img), "grow", "--size", "32M", "--label", "persistence"]);
    // A file right after it, so the first growth cannot stay in place.
    let neighbour = dir.path().join("neighbour.bin");
    std::fs::write(&neighbour, vec![0x5a; 100_000]).unwrap();
    ok(&["add", "-q", s(&img), s(&neighbour), "--to", "persistence"]);

    let r = json(&["persistence", "extend", s(&img), "grow", "--size", "+16M", "--json"]);
    assert_eq!(
        (r["old_size"].as_u64(), r["new_size"].as_u64()),
        (Some(32 << 20), Some(48 << 20)),
        "{r}"
    );
    assert_eq!(
        (r["path"].as_str(), r["fragments"].as_u64()),
        (Some("/persistence/grow.dat"), Some(2))
    );
    assert!(r["repaired"].is_null(), "{r}");
    common::fsck_exfat_data(&img);
    let file = dir.path().join("grow.dat");
    assert_eq!(extract(&img, "/persistence/grow.dat", &file), 2);
    e2fsck_clean(&file);
    assert_eq!(ext_size(&file), 48 << 20);
    assert_eq!(debugfs_cat(&file, "/persistence.conf"), "/ union\n", "content kept");
    let uuid = blkid(&file).2;

    // To a total size, by path; the tail run grows in place.
    let out = ok(&["persistence", "extend", s(&img), "/persistence/grow.dat", "--size", "64M"]);
    assert!(
        out.contains("grew /persistence/grow.dat to 64.0 MiB") && out.contains("2 fragments"),
        "{out}"
    );
    common::fsck_exfat_data(&img);
    assert_eq!(extract(&img, "/persistence/grow.dat", &file), 2);
    e2fsck_clean(&file);
    assert_eq!(ext_size(&file), 64 << 20);
    assert_eq!(blkid(&file).2, uuid, "the same file system");
    let list = json(&["persistence", "ls", s(&img), "--json"]);
    let g = list.as_array().unwrap().iter().find(|b| b["path"] == "/persistence/grow.dat").unwrap();
    assert_eq!(
        (g["size"].as_u64(), g["filesystem_size"].as_u64()),
        (Some(64 << 20), Some(64 << 20))
    );
    assert_eq!(g["problems"], serde_json::json!([]));
}

#[test]
fn refusals_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "128M");
    ok(&["persistence", "create", s(&img), "one", "--size", "32M"]);
    let before = sha256(&img);
    let unchanged = |what: &str| {
        assert_eq!(sha256(&img), before, "{what} changed the image");
    };

    let err = fails(&["persistence", "create", s(&img), "one", "--size", "16M"]);
    assert!(
        err.contains("/persistence/one.dat already exists") && err.contains("--force"),
        "{err}"
    );
    unchanged("an existing name");
    let err = fails(&["persistence", "create", s(&img), "big", "--size", "1G"]);
    assert!(err.contains("larger than the whole data partition"), "{err}");
    unchanged("--size 1G");
    // The data partition of a 128 MiB drive holds 92 MiB; 60 MiB are free.
    let err = fails(&["persistence", "create", s(&img), "big", "--size", "80M"]);
    assert!(err.contains("not enough free space") && err.contains("MiB is free"), "{err}");
    unchanged("--size 80M");
    let err = fails(&["persistence", "create", s(&img), "tiny", "--size", "8M"]);
    assert!(err.contains("at least 16.0 MiB"), "{err}");
    let err = fails(&["persistence", "create", s(&img), "bad", "--size", "4X"]);
    assert!(err.contains("invalid size"), "{err}");
    let err = fails(&["persistence", "create", s(&img), "a/b", "--size", "16M"]);
    assert!(err.contains("--dir"), "{err}");
    let err = fails(&[
        "persistence",
        "create",
        s(&img),
        "lbl",
        "--size",
        "16M",
        "--label",
        "far-too-long-a-label",
    ]);
    assert!(err.contains("1 to 16 bytes"), "{err}");
    let err = fails(&[
        "persistence",
        "create",
        s(&img),
        "x",
        "--size",
        "400M",
        "--fs",
        "xfs",
        "--label",
        "persistence",
    ]);
    assert!(err.contains("--fs ext4"), "{err}");
    let err = fails(&["persistence", "create", s(&img), "enc", "--size", "20M", "--encrypt"]);
    assert!(err.contains("an encrypted ext4 persistence file needs at least 32.0 MiB"), "{err}");
    let err = fails(&[
        "persistence",
        "create",
        s(&img),
        "enc",
        "--size",
        "40M",
        "--passphrase-file",
        "p",
    ]);
    assert!(err.contains("--encrypt"), "{err}");
    let err = fails(&[
        "persistence",
        "create",
        s(&img),
        "enc",
        "--size",
        "40M",
        "--encrypt",
        "--kdf-memory",
        "2M",
    ]);
    assert!(err.contains("--kdf-memory 2.0 MiB: 8 MiB to 1 GiB"), "{err}");
    let err = fails(&[
        "persistence",
        "create",
        s(&img),
        "img",
        "--size",
        "16M",
        "--image",
        "/ISO/none.iso",
    ]);
    assert!(err.contains("/ISO/none.iso"), "{err}");
    unchanged("refused options");
    // A dry run says what it would do and writes nothing.
    let r =
        json(&["persistence", "create", s(&img), "dry", "--size", "16M", "--dry-run", "--json"]);
    assert_eq!(
        (r["dry_run"].as_bool(), r["path"].as_str()),
        (Some(true), Some("/persistence/dry.dat"))
    );
    unchanged("--dry-run");

    let err = fails(&["persistence", "extend", s(&img), "one", "--size", "16M"]);
    assert!(err.contains("only grow"), "{err}");
    let err = fails(&["persistence", "extend", s(&img), "one", "--size", "+1G"]);
    assert!(err.contains("not enough free space"), "{err}");
    let err = fails(&["persistence", "extend", s(&img), "none", "--size", "+1M"]);
    assert!(err.contains("no persistence file /persistence/none"), "{err}");
    let r =
        json(&["persistence", "extend", s(&img), "one", "--size", "+8M", "--dry-run", "--json"]);
    assert_eq!((r["dry_run"].as_bool(), r["new_size"].as_u64()), (Some(true), Some(40 << 20)));
    unchanged("extend refusals");

    // --force replaces the file; the drive stays clean.
    let r = json(&["persistence", "create", s(&img), "one", "--size", "20M", "--force", "--json"]);
    assert_eq!((r["replaced"].as_bool(), r["size"].as_u64()), (Some(true), Some(20 << 20)), "{r}");
    common::fsck_exfat_data(&img);
    let file = dir.path().join("one.dat");
    extract(&img, "/persistence/one.dat", &file);
    e2fsck_clean(&file);
    // Not a polyboot drive, no drive at all.
    let plain = dir.path().join("plain.img");
    std::fs::write(&plain, vec![0u8; 1 << 20]).unwrap();
    assert!(fails(&["persistence", "create", s(&plain), "x", "--size", "16M"])
        .contains("not a polyboot drive"));
    assert!(fails(&["persistence", "ls", s(&dir.path().join("absent.img"))]).contains("absent.img"));
}

#[test]
fn create_xfs() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "512M");
    find_tool("mkfs.xfs");
    let fedora = live_iso(dir.path(), "fedora", "root=live:CDLABEL=Fedora rd.live.image quiet");
    ok(&["add", "-q", s(&img), s(&fedora), "--to", "ISO"]);
    // For a dracut image: core's label for dracut (the hook hands it the device), and no
    // persistence.conf, so XFS is fine with label persistence.
    let r = json(&[
        "persistence",
        "create",
        s(&img),
        "fedora",
        "--size",
        "300M",
        "--fs",
        "xfs",
        "--image",
        "/ISO/fedora.iso",
        "--json",
    ]);
    assert_eq!(
        (r["filesystem"].as_str(), r["label"].as_str()),
        (Some("xfs"), Some("persistence")),
        "{r}"
    );
    assert!(r["label_source"].as_str().unwrap().contains("dracut"), "{r}");
    common::fsck_exfat_data(&img);
    let file = dir.path().join("fedora.dat");
    assert_eq!(extract(&img, "/persistence/fedora.dat", &file), 1);
    run_tool(Command::new(find_tool("xfs_repair")).args(["-n", "-f"]).arg(&file)).unwrap();
    let (ty, label, uuid) = blkid(&file);
    assert_eq!((ty.as_str(), label.as_str()), ("xfs", "persistence"));
    // ext4 for the same image: no persistence.conf either; another label given.
    ok(&["persistence", "create", s(&img), "f2", "--size", "16M", "--image", "/ISO/fedora.iso"]);
    common::fsck_exfat_data(&img);
    let f2 = dir.path().join("f2.dat");
    extract(&img, "/persistence/f2.dat", &f2);
    e2fsck_clean(&f2);
    assert_eq!(blkid(&f2).1, "persistence");
    let out = Command::new(find_tool("debugfs"))
        .args(["-R", "stat /persistence.conf"])
        .arg(&f2)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"), "{out:?}");

    let list = json(&["persistence", "ls", s(&img), "--json"]);
    let x =
        list.as_array().unwrap().iter().find(|b| b["path"] == "/persistence/fedora.dat").unwrap();
    assert_eq!((x["filesystem"].as_str(), x["uuid"].as_str()), (Some("xfs"), Some(uuid.as_str())));
    assert_eq!(x["filesystem_size"], 300 << 20);
    assert_eq!(x["images"], serde_json::json!(["/ISO/fedora.iso"]));
    // XFS grows only mounted: refused, with nothing written.
    let before = sha256(&img);
    let err = fails(&["persistence", "extend", s(&img), "fedora", "--size", "+16M"]);
    assert!(err.contains("xfs_growfs"), "{err}");
    assert_eq!(sha256(&img), before);
    // Below mkfs.xfs's minimum.
    assert!(fails(&["persistence", "create", s(&img), "small", "--size", "100M", "--fs", "xfs"])
        .contains("300.0 MiB"));
}

#[test]
fn help_has_examples_for_every_subcommand() {
    for sub in ["create", "extend", "ls"] {
        let out = ok(&["persistence", sub, "--help"]);
        assert!(
            out.contains("Examples:") && out.contains(&format!("polyboot persistence {sub}")),
            "{out}"
        );
    }
    let out = ok(&["persistence", "create", "--help"]);
    for opt in [
        "--size",
        "--label",
        "--fs",
        "--encrypt",
        "--dir",
        "--image",
        "--dry-run",
        "--json",
        "--force",
        "--yes",
    ] {
        assert!(out.contains(opt), "{opt}: {out}");
    }
}

#[test]
fn create_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "256M");
    // polyboot drops one trailing newline, as typed at a prompt; cryptsetup's key file is
    // taken whole.
    let typed = dir.path().join("typed.txt");
    std::fs::write(&typed, "correct horse battery\n").unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "correct horse battery").unwrap();
    let r = json(&[
        "persistence",
        "create",
        s(&img),
        "secret",
        "--size",
        "48M",
        "--encrypt",
        "--passphrase-file",
        s(&typed),
        // Cheap to unlock in a debug build on a busy machine.
        "--kdf-memory",
        "8M",
        "--kdf-time",
        "100",
        "--label",
        "persistence",
        "--json",
    ]);
    assert_eq!(
        (r["encrypted"].as_bool(), r["filesystem"].as_str()),
        (Some(true), Some("ext4")),
        "{r}"
    );
    assert_eq!((r["size"].as_u64(), r["fragments"].as_u64()), (Some(48 << 20), Some(1)));
    common::fsck_exfat_data(&img);
    let file = dir.path().join("secret.dat");
    extract(&img, "/persistence/secret.dat", &file);
    let (ty, _, uuid) = blkid(&file);
    assert_eq!(ty, "crypto_LUKS");
    assert_eq!(r["uuid"], uuid.as_str());
    let cryptsetup = find_tool("cryptsetup");
    let dump = run_tool(Command::new(&cryptsetup).arg("luksDump").arg(&file)).unwrap();
    assert!(dump.contains(&uuid) && dump.contains("0: luks2"), "{dump}");
    run_tool(
        Command::new(&cryptsetup)
            .args(["open", "--test-passphrase", "--key-file"])
            .arg(&key_file)
            .arg(&file),
    )
    .unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "correct horse battery\n").unwrap();
    let refused = Command::new(&cryptsetup)
        .args(["open", "--test-passphrase", "--key-file"])
        .arg(&wrong)
        .arg(&file)
        .output()
        .unwrap();
    assert!(!refused.status.success(), "the newline is not part of the passphrase");

    // The file system inside, decrypted with the passphrase: ext4, clean, filling the rest.
    use polyboot_core::block::MemDevice;
    use polyboot_core::luks2;
    let bytes = std::fs::read(&file).unwrap();
    let mut dev = MemDevice::from_vec(bytes.clone());
    let header = luks2::read_header(&mut dev).unwrap();
    let key = luks2::unlock(&header, &mut dev, b"correct horse battery", &luks2::Limits::DEFAULT)
        .unwrap();
    match &header.keyslots[0].kdf {
        luks2::Kdf::Argon2 { id: true, memory_kib, .. } => assert_eq!(*memory_kib, 8192),
        k => panic!("{k:?}"),
    }
    let offset = header.segment.offset as usize;
    assert_eq!(offset, 16 << 20);
    let mut plain = bytes[offset..].to_vec();
    luks2::decrypt_sectors(&key, &header.segment, 0, &mut plain).unwrap();
    let inner = dir.path().join("inner.img");
    std::fs::write(&inner, &plain).unwrap();
    e2fsck_clean(&inner);
    assert_eq!(blkid(&inner).1, "persistence");
    assert_eq!(debugfs_cat(&inner, "/persistence.conf"), "/ union\n");
    assert_eq!(ext_size(&inner), 32 << 20);

    let list = json(&["persistence", "ls", s(&img), "--json"]);
    let b = &list[0];
    assert_eq!(
        (b["filesystem"].as_str(), b["encrypted"].as_bool()),
        (Some("crypto_LUKS"), Some(true))
    );
    assert_eq!(b["uuid"], uuid.as_str());
    assert!(ok(&["persistence", "ls", s(&img)]).contains("crypto_LUKS encrypted"));
    // Growing an encrypted file is not done (yet): refused, nothing written.
    let before = sha256(&img);
    let err = fails(&["persistence", "extend", s(&img), "secret", "--size", "+16M"]);
    assert!(err.contains("encrypted"), "{err}");
    assert_eq!(sha256(&img), before);
}
