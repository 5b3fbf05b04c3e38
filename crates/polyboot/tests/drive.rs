//! `install`, `info`, `add`, `ls`, `rm`, `verify` on image files, checked with independent
//! tools: sfdisk / fdisk, fsck.exfat / dump.exfat, mtools / fsck.fat.

mod common;
use common::Cli;
use polyboot_tests::{artifacts, pattern, run_tool};
use serde_json::Value;
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

fn info(img: &Path) -> Value {
    serde_json::from_str(&ok(&["info", img.to_str().unwrap(), "--json"])).unwrap()
}

/// Copy one partition out of the image (sparse) so the fsck tools can read it.
fn extract(img: &Path, part: &Value, out: &Path) {
    let (off, size) = (part["offset"].as_u64().unwrap(), part["size"].as_u64().unwrap());
    run_tool(
        Command::new("dd")
            .arg(format!("if={}", img.display()))
            .arg(format!("of={}", out.display()))
            .args([
                "bs=1M",
                &format!("skip={}", off >> 20),
                &format!("count={}", size >> 20),
                "conv=sparse",
                "status=none",
            ]),
    )
    .unwrap();
}

fn fsck_exfat(img: &Path) {
    let info = info(img);
    let p1 = img.with_extension("p1");
    extract(img, &info["layout"]["data"], &p1);
    let out = run_tool(Command::new("fsck.exfat").arg("-n").arg(&p1)).unwrap();
    assert!(out.contains("clean") && !out.contains("ERROR"), "fsck.exfat:\n{out}");
    let dump = run_tool(Command::new("dump.exfat").arg(&p1)).unwrap();
    let label = info["label"].as_str().unwrap();
    assert!(
        dump.lines().any(|l| l.starts_with("Volume label:") && l.trim_end().ends_with(label)),
        "{dump}"
    );
    let cluster = info["cluster_size"].as_u64().unwrap();
    assert!(dump.lines().any(|l| l.starts_with("Cluster size:") && l.trim_end().ends_with(&cluster.to_string())), "{dump}");
    std::fs::remove_file(p1).unwrap();
}

fn check_boot_partition(img: &Path) {
    let info = info(img);
    let p2 = img.with_extension("p2");
    extract(img, &info["layout"]["boot"], &p2);
    run_tool(Command::new("fsck.fat").arg("-n").arg(&p2)).unwrap();
    let listing =
        run_tool(Command::new("mdir").args(["-b", "-i"]).arg(&p2).arg("::/EFI/BOOT")).unwrap();
    assert!(listing.contains("BOOTX64.EFI"), "{listing}");
    let copied = img.with_extension("efi");
    run_tool(
        Command::new("mcopy")
            .arg("-n")
            .arg("-i")
            .arg(&p2)
            .arg("::/EFI/BOOT/BOOTX64.EFI")
            .arg(&copied),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&copied).unwrap(),
        std::fs::read(artifacts::efi_app_or_stand_in()).unwrap()
    );
    // The WinPE jump programs the boot manager serves in Windows ISOs' boot.wim (64- and
    // 32-bit Windows PE).
    for (on_drive, built) in [
        ("winpe-x64.exe", artifacts::winpe_programs().0),
        ("winpe-x86.exe", artifacts::winpe_programs_x86().0),
    ] {
        let jump = img.with_extension(on_drive);
        run_tool(
            Command::new("mcopy")
                .arg("-n")
                .arg("-i")
                .arg(&p2)
                .arg(format!("::/polyboot/{on_drive}"))
                .arg(&jump),
        )
        .unwrap();
        assert!(
            std::fs::read(&jump).unwrap() == std::fs::read(built).unwrap(),
            "\\polyboot\\{on_drive} is not the built jump program"
        );
    }
    std::fs::remove_file(p2).unwrap();
}

#[test]
fn install_gpt_and_mbr_at_512_and_4096_validate_with_independent_tools() {
    let dir = tempfile::tempdir().unwrap();
    for (scheme, ss) in [("--gpt", "512"), ("--gpt", "4096"), ("--mbr", "512"), ("--mbr", "4096")] {
        let img = dir.path().join(format!("d{scheme}{ss}.img"));
        let s = img.to_str().unwrap();
        ok(&["install", s, "--size", "300M", scheme, "--sector-size", ss, "--label", "MYDRIVE"]);
        let info = info(&img);
        assert_eq!(info["layout"]["sector_size"].as_u64().unwrap().to_string(), ss);
        assert_eq!(info["layout"]["scheme"], if scheme == "--gpt" { "GPT" } else { "MBR" });
        assert_eq!(info["label"], "MYDRIVE");
        assert_eq!(info["layout"]["data"]["offset"], 1 << 20);
        // Partition table read by util-linux, at the sector size we wrote.
        let dump = run_tool(Command::new("fdisk").args(["-l", "-b", ss]).arg(&img)).unwrap();
        let label = if scheme == "--gpt" { "Disklabel type: gpt" } else { "Disklabel type: dos" };
        assert!(dump.contains(label), "{dump}");
        assert!(dump.contains(&format!("Sector size (logical/physical): {ss} bytes")), "{dump}");
        if scheme == "--gpt" && ss == "512" {
            let v = run_tool(Command::new("sgdisk").arg("-v").arg(&img)).unwrap();
            assert!(v.contains("No problems found"), "{v}");
            let json: Value = serde_json::from_str(
                &run_tool(Command::new("sfdisk").arg("--json").arg(&img)).unwrap(),
            )
            .unwrap();
            let parts = json["partitiontable"]["partitions"].as_array().unwrap();
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0]["type"], "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
            assert_eq!(parts[1]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        }
        fsck_exfat(&img);
        check_boot_partition(&img);
    }
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("new.img");
    let out = ok(&["install", img.to_str().unwrap(), "--size", "8G", "--dry-run"]);
    assert!(
        out.contains("partition 1 (data)") && out.contains("dry run: nothing written"),
        "{out}"
    );
    assert!(!img.exists());
    let err = fails(&["install", img.to_str().unwrap()]);
    assert!(err.contains("--size"), "{err}");
    let err = fails(&["install", img.to_str().unwrap(), "--size", "50M"]);
    assert!(err.contains("too small") || err.contains("needs"), "{err}");
    assert!(!img.exists(), "a refused install must not create the file");
}

#[test]
fn refuses_directories_character_devices_and_non_drives() {
    let dir = tempfile::tempdir().unwrap();
    fails(&["install", dir.path().to_str().unwrap(), "--size", "1G"]);
    fails(&["install", "/dev/null", "--yes"]);
    let plain = dir.path().join("plain.img");
    std::fs::write(&plain, vec![0u8; 1 << 20]).unwrap();
    let err = fails(&["add", plain.to_str().unwrap(), "/etc/hostname"]);
    assert!(err.contains("not a polyboot drive"), "{err}");
    let err = fails(&["info", plain.to_str().unwrap()]);
    assert!(err.contains("not a polyboot drive"), "{err}");
}

#[test]
fn add_ls_rm_verify_200_files_unicode_long_names_sparse_5g() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("drive.img");
    let s = img.to_str().unwrap();
    ok(&["install", s, "--size", "8G"]);
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();

    // 200 files over nested directories, with Unicode and long names.
    let long = "a-very-long-name-".repeat(12);
    let mut added_paths = Vec::new();
    for d in 0..10 {
        let batch = src.join(format!("batch{d}"));
        std::fs::create_dir(&batch).unwrap();
        let mut names = Vec::new();
        for i in 0..20 {
            let name = match i % 4 {
                0 => format!("Ünïcödé-日本語-{d}-{i}.iso"),
                1 => format!("{long}{d}-{i}.img"),
                2 => format!("plain {d} {i}.efi"),
                _ => format!("data-{d}-{i}.bin"),
            };
            let content = pattern((d * 100 + i) as u64, 1000 + (d * 20 + i) * 3000);
            let p = batch.join(&name);
            std::fs::write(&p, &content).unwrap();
            names.push(p.to_str().unwrap().to_string());
            added_paths.push(format!("nested/level-{d}/deeper/{name}"));
        }
        let to = format!("nested/level-{d}/deeper");
        let mut args = vec!["add", "-q", s, "--to", &to];
        args.extend(names.iter().map(|n| n.as_str()));
        ok(&args);
    }
    let listing: Value =
        serde_json::from_str(&ok(&["ls", s, "nested/level-3/deeper", "--json"])).unwrap();
    assert_eq!(listing.as_array().unwrap().len(), 40, "20 images + 20 .sha256 files");
    assert!(listing.as_array().unwrap().iter().any(|e| e["name"] == "Ünïcödé-日本語-3-0.iso"));

    // Removal: every other file of one batch.
    for path in added_paths.iter().filter(|p| p.contains("level-1/")).step_by(2) {
        ok(&["rm", s, path]);
    }
    let big = pattern(7, 3_000_000);
    let big_path = src.join("big.iso");
    std::fs::write(&big_path, &big).unwrap();

    // A sparse 5 GiB image.
    let sparse_path = src.join("sparse-5g.iso");
    let f = std::fs::File::create(&sparse_path).unwrap();
    f.set_len(5 << 30).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"CD001 header-ish", 32768 + 1).unwrap();
    drop(f);
    ok(&["add", "-q", s, big_path.to_str().unwrap(), sparse_path.to_str().unwrap()]);
    let verify: Value = serde_json::from_str(&ok(&["verify", s, "--json"])).unwrap();
    let results = verify.as_array().unwrap();
    assert!(results.len() > 100);
    assert!(
        results
            .iter()
            .all(|r| r["status"] == "ok" || r["path"].as_str().unwrap().ends_with(".bin")),
        "{verify}"
    );
    fsck_exfat(&img);
    let info = info(&img);
    // 150 images (every fourth file is .bin), 10 removed, 2 added.
    assert_eq!(info["image_count"].as_u64().unwrap(), 142, "{info}");

    // The big file reads back with the hash recorded while adding it.
    let sidecar = ok(&["ls", s, "/", "--json"]);
    assert!(sidecar.contains("big.iso.sha256"), "{sidecar}");
    let verified: Value = serde_json::from_str(&ok(&["verify", s, "/big.iso", "--json"])).unwrap();
    assert_eq!(verified[0]["status"], "ok");
}

#[test]
fn files_that_end_up_fragmented_pass_fsck_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("frag.img");
    let s = img.to_str().unwrap();
    ok(&["install", s, "--size", "128M"]);
    // Fill the volume with 1 MiB files, free every other one, then add a file larger than any
    // hole: it can only be stored in pieces.
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let free = info(&img)["free_bytes"].as_u64().unwrap();
    let count = (free >> 20) as usize - 2;
    let files: Vec<PathBuf> = (0..count)
        .map(|i| {
            let p = src.join(format!("fill{i:03}.bin"));
            std::fs::write(&p, pattern(i as u64, 1 << 20)).unwrap();
            p
        })
        .collect();
    let mut args = vec!["add", "-q", s, "--to", "fill"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    ok(&args);
    for i in (0..count).step_by(2) {
        ok(&["rm", s, &format!("/fill/fill{i:03}.bin")]);
    }
    let big = src.join("pieces.iso");
    std::fs::write(&big, pattern(99, 10 << 20)).unwrap();
    ok(&["add", "-q", s, big.to_str().unwrap()]);
    let listing: Value = serde_json::from_str(&ok(&["ls", s, "/", "--json"])).unwrap();
    let entry =
        listing.as_array().unwrap().iter().find(|e| e["name"] == "pieces.iso").unwrap().clone();
    assert!(entry["fragments"].as_u64().unwrap() >= 10, "stored in pieces: {entry}");
    let verified: Value =
        serde_json::from_str(&ok(&["verify", s, "/pieces.iso", "--json"])).unwrap();
    assert_eq!(verified[0]["status"], "ok", "every byte reads back through our reader");
    fsck_exfat(&img);
}

#[test]
fn verify_detects_corruption_and_full_drive_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("small.img");
    let s = img.to_str().unwrap();
    ok(&["install", s, "--size", "128M"]);
    let file = dir.path().join("x.iso");
    std::fs::write(&file, pattern(1, 200_000)).unwrap();
    let added: Value =
        serde_json::from_str(&ok(&["add", s, file.to_str().unwrap(), "--json"])).unwrap();
    let sums = run_tool(Command::new("sha256sum").arg(&file)).unwrap();
    assert_eq!(
        added[0]["sha256"].as_str().unwrap(),
        sums.split_whitespace().next().unwrap(),
        "recorded hash = sha256sum"
    );
    ok(&["verify", s]);

    // Flip one byte of the file's data behind the file system's back.
    let needle = pattern(1, 200_000)[1000..1032].to_vec();
    let mut disk = std::fs::read(&img).unwrap();
    let at = disk.windows(32).position(|w| w == needle.as_slice()).expect("file data on disk");
    disk[at] ^= 0xFF;
    std::fs::write(&img, &disk).unwrap();
    let (ok, out, _) = common::run(&["verify", s]);
    assert!(!ok);
    assert!(out.contains("FAILED"));

    // Larger than the free space: refused before anything is written.
    let huge = dir.path().join("huge.iso");
    std::fs::File::create(&huge).unwrap().set_len(200 << 20).unwrap();
    let before = info(&img)["free_bytes"].as_u64().unwrap();
    let err = fails(&["add", s, huge.to_str().unwrap()]);
    assert!(err.contains("not enough space"), "{err}");
    assert_eq!(info(&img)["free_bytes"].as_u64().unwrap(), before);
    fsck_exfat(&img);
}
