//! `polyboot wtg`: editions of synthetic Windows images made with wimlib's own tools
//! (wimcapture / wimappend / wimsplit, XPRESS, LZX, LZMS and solid), bare and inside xorriso
//! ISOs, checked against `wiminfo`; and the wimlib apply in NTFS-3G mode into an image file
//! formatted with `mkntfs`, read back with `ntfsls` / `ntfscat`. ISOs shaped like Microsoft's
//! (genisoimage UDF bridge whose ISO 9660 tree does not list the install image) are read
//! through their UDF tree.

mod common;
use common::run as polyboot;
use polyboot::wtg::{self, source};
use polyboot_tests::fixtures::windows_shaped_iso;
use polyboot_tests::{artifacts, find_tool, host_paths, ntfs_paths, pattern, run_tool};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

fn editions_json(image: &Path) -> Value {
    let (ok, out, err) = polyboot(&["wtg", "editions", image.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn editions_error(args: &[&str]) -> String {
    let mut a = vec!["wtg", "editions"];
    a.extend_from_slice(args);
    let (ok, out, err) = polyboot(&a);
    assert!(!ok, "expected a failure, got:\n{out}");
    err
}

/// A small tree shaped like an installed Windows: the boot files the BCD step will copy, a
/// SYSTEM hive stand-in, a 1 MiB pseudo-random file (several chunks, so progress moves), an
/// empty file and a hard link.
fn fake_windows_tree(dir: &Path) -> PathBuf {
    let root = dir.join("tree");
    let files: [(&str, Vec<u8>); 7] = [
        ("Windows/System32/ntoskrnl.exe", pattern(1, 1 << 20)),
        ("Windows/System32/winload.efi", pattern(2, 40_000)),
        ("Windows/System32/winload.exe", pattern(3, 30_000)),
        ("Windows/System32/config/SYSTEM", pattern(4, 65_536)),
        ("Windows/Boot/EFI/bootmgfw.efi", pattern(5, 50_000)),
        ("Users/Public/readme.txt", b"portable workspace\n".to_vec()),
        ("Windows/Temp/empty.log", Vec::new()),
    ];
    for (path, data) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    std::fs::create_dir_all(root.join("ProgramData")).unwrap();
    std::fs::hard_link(
        root.join("Windows/System32/winload.efi"),
        root.join("Windows/Boot/EFI/winload.efi"),
    )
    .unwrap();
    root
}

/// `(name, edition id, arch code, build)` of each image to capture.
const IMAGES: [(&str, &str, u32, u32); 3] = [
    ("Windows 10 Home", "Core", 9, 19045),
    ("Windows 10 Pro", "Professional", 9, 19045),
    ("Windows 11 Pro ARM", "Professional", 12, 22631),
];

fn props(edition: &str, arch: u32, build: u32) -> Vec<String> {
    [
        format!("WINDOWS/EDITIONID={edition}"),
        format!("WINDOWS/ARCH={arch}"),
        "WINDOWS/VERSION/MAJOR=10".into(),
        "WINDOWS/VERSION/MINOR=0".into(),
        format!("WINDOWS/VERSION/BUILD={build}"),
        "WINDOWS/VERSION/SPBUILD=1".into(),
        format!("DISPLAYNAME=Display {edition}"),
    ]
    .into_iter()
    .flat_map(|p| ["--image-property".to_string(), p])
    .collect()
}

/// A WIM of `IMAGES` (the first captured, the rest appended), `compress` = none / XPRESS /
/// LZX / LZMS, `solid` for `--solid` (an ESD-like file).
fn make_wim(dir: &Path, tree: &Path, file: &str, compress: &str, solid: bool) -> PathBuf {
    let wim = dir.join(file);
    for (i, (name, edition, arch, build)) in IMAGES.iter().enumerate() {
        let mut cmd = Command::new(find_tool(if i == 0 { "wimcapture" } else { "wimappend" }));
        cmd.arg(tree)
            .arg(&wim)
            .arg(name)
            .arg(format!("{name} description"))
            .args(props(edition, *arch, *build));
        if i == 0 {
            cmd.arg(format!("--compress={compress}"));
            if solid {
                cmd.arg("--solid");
            }
        }
        run_tool(&mut cmd).unwrap();
    }
    wim
}

/// `wiminfo`'s per-image fields: index -> (label -> value).
fn wiminfo_images(wim: &Path) -> BTreeMap<u32, BTreeMap<String, String>> {
    let out = run_tool(Command::new(find_tool("wiminfo")).arg(wim)).unwrap();
    let mut images = BTreeMap::new();
    let mut current: Option<(u32, BTreeMap<String, String>)> = None;
    for line in out.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        if k == "Index" {
            images.extend(current.take());
            current = Some((v.parse().unwrap(), BTreeMap::new()));
        } else if let Some((_, map)) = current.as_mut() {
            map.insert(k, v);
        }
    }
    images.extend(current);
    images
}

fn wiminfo_field(wim: &Path, label: &str) -> String {
    let out = run_tool(Command::new(find_tool("wiminfo")).arg(wim)).unwrap();
    out.lines()
        .find_map(|l| l.strip_prefix(label).map(|v| v.trim_start_matches(':').trim().to_string()))
        .unwrap()
}

/// Our JSON against wiminfo, image by image.
fn assert_matches_wiminfo(report: &Value, wim: &Path) {
    let oracle = wiminfo_images(wim);
    let eds = report["editions"].as_array().unwrap();
    assert_eq!(eds.len(), oracle.len(), "{report}");
    assert_eq!(eds.len(), IMAGES.len());
    for (e, (index, w)) in eds.iter().zip(&oracle) {
        assert_eq!(e["index"], *index);
        assert_eq!(e["name"].as_str(), Some(w["Name"].as_str()));
        assert_eq!(e["display_name"].as_str(), w.get("Display Name").map(String::as_str));
        assert_eq!(e["description"].as_str(), w.get("Description").map(String::as_str));
        assert_eq!(e["edition"].as_str(), w.get("Edition ID").map(String::as_str));
        assert_eq!(e["total_bytes"].as_u64().unwrap().to_string(), w["Total Bytes"]);
        assert_eq!(e["dir_count"].as_u64().unwrap().to_string(), w["Directory Count"]);
        assert_eq!(e["file_count"].as_u64().unwrap().to_string(), w["File Count"]);
        let arch = match w["Architecture"].as_str() {
            "x86_64" => "x64",
            "ARM64" => "arm64",
            other => other,
        };
        assert_eq!(e["arch"].as_str(), Some(arch));
        let version = format!(
            "{}.{}.{}.{}",
            w["Major Version"], w["Minor Version"], w["Build"], w["Service Pack Build"]
        );
        assert_eq!(e["version"].as_str(), Some(version.as_str()));
        assert_eq!(e["build"].as_u64().unwrap().to_string(), w["Build"]);
    }
    let compression = wiminfo_field(wim, "Compression");
    assert_eq!(
        report["compression"].as_str().unwrap().to_lowercase(),
        compression.to_lowercase(),
        "{report}"
    );
}

fn iso_of(dir: &Path, name: &str, files: &[(&str, &Path)]) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("sources")).unwrap();
    std::fs::write(root.join("setup.exe"), b"MZ").unwrap();
    for (to, from) in files {
        std::fs::copy(from, root.join(to)).unwrap();
    }
    let iso = dir.join(name);
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
fn editions_match_wiminfo_for_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    for (compress, solid, format) in [
        ("none", false, "WIM"),
        ("XPRESS", false, "WIM"),
        ("LZX", false, "WIM"),
        ("LZMS", false, "WIM"),
        ("LZMS", true, "ESD"),
    ] {
        let wim = make_wim(dir.path(), &tree, &format!("{compress}-{solid}.wim"), compress, solid);
        let report = editions_json(&wim);
        assert_matches_wiminfo(&report, &wim);
        assert_eq!(report["format"], format, "{compress} {solid}");
        assert_eq!(report["solid"], solid);
        assert_eq!(report["parts"], 1);
        assert_eq!(report["file_bytes"], std::fs::metadata(&wim).unwrap().len());
        let (ok, out, err) = polyboot(&["wtg", "editions", wim.to_str().unwrap()]);
        assert!(ok, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].contains(&format!("{format} (")), "{out}");
        assert!(lines[1].starts_with("INDEX  EDITION"), "{out}");
        assert!(
            lines[2].contains("1  Core")
                && lines[2].contains("x64")
                && lines[2].contains("10.0.19045.1"),
            "{out}"
        );
        assert!(
            lines[4].contains("Professional")
                && lines[4].contains("arm64")
                && lines[4].ends_with("Display Professional"),
            "{out}"
        );
    }
}

#[test]
fn editions_inside_an_iso_wim_esd_and_split() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "lzx.wim", "LZX", false);
    let iso = iso_of(dir.path(), "win.iso", &[("sources/install.wim", &wim)]);
    let report = editions_json(&iso);
    assert_matches_wiminfo(&report, &wim);
    assert_eq!(report["iso_path"], "sources/install.wim");
    assert_eq!(report["image"], iso.to_str().unwrap());

    let esd = make_wim(dir.path(), &tree, "install.esd", "LZMS", true);
    let iso = iso_of(dir.path(), "esd.iso", &[("sources/install.esd", &esd)]);
    let report = editions_json(&iso);
    assert_matches_wiminfo(&report, &esd);
    assert_eq!(
        (report["iso_path"].as_str(), report["format"].as_str()),
        (Some("sources/install.esd"), Some("ESD"))
    );

    let parts = split(dir.path(), &wim);
    let files = under_sources(&parts);
    let files: Vec<(&str, &Path)> = files.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    let iso = iso_of(dir.path(), "split.iso", &files);
    let report = editions_json(&iso);
    assert_matches_wiminfo(&report, &wim);
    assert_eq!(
        (report["format"].as_str(), report["parts"].as_u64()),
        (Some("SWM"), Some(parts.len() as u64))
    );

    // An ISO whose install image's split set lacks a part.
    let iso = iso_of(dir.path(), "broken-split.iso", &files[..files.len() - 1]);
    let err = editions_error(&[iso.to_str().unwrap()]);
    assert!(
        err.contains("split image incomplete") && err.contains(&format!("part {}", parts.len())),
        "{err}"
    );
}

/// Microsoft's ISOs list install.wim only in their UDF tree: found there, for a whole WIM and
/// for a split set, and reported as such.
#[test]
fn editions_inside_a_windows_shaped_udf_iso() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "lzx.wim", "LZX", false);
    let iso = windows_shaped_iso(dir.path(), "win.iso", &[("sources/install.wim", &wim)]).unwrap();
    let report = editions_json(&iso);
    assert_matches_wiminfo(&report, &wim);
    assert_eq!(
        (report["iso_path"].as_str(), report["iso_tree"].as_str()),
        (Some("sources/install.wim"), Some("UDF"))
    );
    let (ok, out, err) = polyboot(&["wtg", "editions", iso.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.starts_with("sources/install.wim (UDF) in "), "{out}");

    // UDF only, no ISO 9660 volume at all (what `oscdimg -u2` writes): the recognition
    // sequence moved to sector 16, the ISO 9660 descriptors gone; isoinfo no longer reads it.
    let udf_only = dir.path().join("udf-only.iso");
    let mut bytes = std::fs::read(&iso).unwrap();
    let sector = |n: usize| n * 2048..(n + 1) * 2048;
    let vrs: Vec<usize> = (16..32)
        .filter(|&n| [&b"BEA01"[..], b"NSR02", b"TEA01"].contains(&&bytes[sector(n)][1..6]))
        .collect();
    assert_eq!(vrs.len(), 3, "{vrs:?}");
    for n in 16..vrs[2] + 1 {
        let src = vrs.get(n - 16).map(|&s| bytes[sector(s)].to_vec()).unwrap_or(vec![0; 2048]);
        bytes[sector(n)].copy_from_slice(&src);
    }
    std::fs::write(&udf_only, &bytes).unwrap();
    assert!(run_tool(Command::new(find_tool("isoinfo")).arg("-d").arg("-i").arg(&udf_only))
        .map_or(true, |o| o.contains("NOT in ISO 9660")));
    let report = editions_json(&udf_only);
    assert_matches_wiminfo(&report, &wim);
    assert_eq!(report["iso_tree"], "UDF");

    let parts = split(dir.path(), &wim);
    let files = under_sources(&parts);
    let files: Vec<(&str, &Path)> = files.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    let iso = windows_shaped_iso(dir.path(), "split.iso", &files).unwrap();
    let report = editions_json(&iso);
    assert_matches_wiminfo(&report, &wim);
    assert_eq!(
        (report["format"].as_str(), report["parts"].as_u64(), report["iso_tree"].as_str()),
        (Some("SWM"), Some(parts.len() as u64), Some("UDF"))
    );
}

/// A truncated ISO (an interrupted download) still lists install.wim in its UDF tree; the
/// error says the ISO is truncated, for the whole image and for a later part of a split set.
#[test]
fn a_truncated_udf_iso_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "x.wim", "LZX", false);
    let iso = windows_shaped_iso(dir.path(), "win.iso", &[("sources/install.wim", &wim)]).unwrap();
    let cut = |iso: &Path, keep: u64| {
        let f = std::fs::OpenOptions::new().write(true).open(iso).unwrap();
        f.set_len(keep).unwrap();
    };
    let len = std::fs::metadata(&iso).unwrap().len();
    cut(&iso, len - 450 * 1024); // genisoimage pads 300 KiB at the end
    let err = editions_error(&[iso.to_str().unwrap()]);
    assert!(
        err.contains("sources/install.wim (UDF) in ") && err.contains("the ISO is truncated"),
        "{err}"
    );
    let parts = split(dir.path(), &wim);
    let files = under_sources(&parts);
    let files: Vec<(&str, &Path)> = files.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    let iso = windows_shaped_iso(dir.path(), "split.iso", &files).unwrap();
    let len = std::fs::metadata(&iso).unwrap().len();
    cut(&iso, len - 450 * 1024); // genisoimage pads 300 KiB at the end
    let err = editions_error(&[iso.to_str().unwrap()]);
    assert!(err.contains("the ISO is truncated"), "{err}");
}

/// Overwrite the tags of the UDF anchors (tag identifier 2 at sector 256, N - 256 or N - 1 of
/// a 2048-byte-sector image), leaving the volume recognition sequence: a UDF volume that
/// cannot be read.
fn break_udf_anchor(iso: &Path) {
    let mut bytes = std::fs::read(iso).unwrap();
    let n = bytes.len() / 2048;
    let mut broken = 0;
    for s in [256, n - 256, n - 1] {
        let at = s * 2048;
        if bytes[at..at + 2] == [2, 0] {
            bytes[at..at + 16].fill(0xEE);
            broken += 1;
        }
    }
    assert!(broken > 0, "no UDF anchor found in {}", iso.display());
    std::fs::write(iso, &bytes).unwrap();
}

/// A damaged UDF tree: the ISO 9660 tree is used when it lists the image; when it does not,
/// the error says what was wrong with the UDF tree.
#[test]
fn a_damaged_udf_tree_falls_back_or_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "x.wim", "XPRESS", false);
    let root = dir.path().join("bridge-root");
    std::fs::create_dir_all(root.join("sources")).unwrap();
    std::fs::copy(&wim, root.join("sources/install.wim")).unwrap();
    let bridge = dir.path().join("bridge.iso");
    run_tool(
        Command::new(find_tool("genisoimage"))
            .args(["-quiet", "-udf", "-R", "-J", "-o"])
            .arg(&bridge)
            .arg(&root),
    )
    .unwrap();
    assert_eq!(editions_json(&bridge)["iso_tree"], "UDF");
    break_udf_anchor(&bridge);
    let report = editions_json(&bridge);
    assert_matches_wiminfo(&report, &wim);
    assert_eq!(report["iso_tree"], "ISO 9660");

    let iso = windows_shaped_iso(dir.path(), "win.iso", &[("sources/install.wim", &wim)]).unwrap();
    break_udf_anchor(&iso);
    let err = editions_error(&[iso.to_str().unwrap()]);
    assert!(
        err.contains("no Windows install image in this ISO")
            && err.contains("UDF tree could not be read"),
        "{err}"
    );
}

/// `(sources/NAME, part)` for each part of a split set: where an ISO keeps them.
fn under_sources(parts: &[PathBuf]) -> Vec<(String, &Path)> {
    parts
        .iter()
        .map(|p| (format!("sources/{}", p.file_name().unwrap().to_str().unwrap()), p.as_path()))
        .collect()
}

/// wimsplit into `install.swm`, `install2.swm`, ... (parts of at most 1 MiB: at least 2).
fn split(dir: &Path, wim: &Path) -> Vec<PathBuf> {
    let out = dir.join("split");
    std::fs::create_dir_all(&out).unwrap();
    run_tool(Command::new(find_tool("wimsplit")).arg(wim).arg(out.join("install.swm")).arg("1"))
        .unwrap();
    let mut parts = vec![out.join("install.swm")];
    for n in 2.. {
        let p = out.join(format!("install{n}.swm"));
        if !p.exists() {
            break;
        }
        parts.push(p);
    }
    assert!(parts.len() >= 2, "{parts:?}");
    parts
}

#[test]
fn split_sets_on_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "x.wim", "XPRESS", false);
    let parts = split(dir.path(), &wim);
    let report = editions_json(&parts[0]);
    assert_matches_wiminfo(&report, &wim);
    assert_eq!(report["parts"], parts.len());
    let total: u64 = parts.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    assert_eq!(report["file_bytes"], total);

    let err = editions_error(&[parts[1].to_str().unwrap()]);
    assert!(
        err.contains(&format!("part 2 of {} of a split image: give the first part", parts.len())),
        "{err}"
    );
    // A part of another set (same name, different GUID) is refused.
    let other = make_wim(dir.path(), &tree, "other.wim", "XPRESS", false);
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    run_tool(
        Command::new(find_tool("wimsplit")).arg(&other).arg(other_dir.join("install.swm")).arg("1"),
    )
    .unwrap();
    std::fs::copy(other_dir.join("install2.swm"), &parts[1]).unwrap();
    let err = editions_error(&[parts[0].to_str().unwrap()]);
    assert!(err.contains("not part 2 of"), "{err}");
    std::fs::remove_file(&parts[1]).unwrap();
    let err = editions_error(&[parts[0].to_str().unwrap()]);
    assert!(err.contains("split image incomplete: part 2 of"), "{err}");
}

#[test]
fn clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not an image\n".repeat(300)).unwrap();
    let err = editions_error(&[text.to_str().unwrap()]);
    assert!(err.contains("not a Windows image"), "{err}");

    let err = editions_error(&[artifacts::IPXE_ISO]);
    assert!(err.contains("no Windows install image in this ISO"), "{err}");

    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "x.wim", "LZX", false);
    let mut bytes = std::fs::read(&wim).unwrap();
    let good = bytes.clone();
    bytes[8] = 100; // header size
    std::fs::write(&wim, &bytes).unwrap();
    let err = editions_error(&[wim.to_str().unwrap()]);
    assert!(err.contains("corrupt") && err.contains("header size 100"), "{err}");
    std::fs::write(&wim, &good[..good.len() - 10]).unwrap(); // the XML is at the end
    let err = editions_error(&[wim.to_str().unwrap()]);
    assert!(err.contains("truncated WIM"), "{err}");
    std::fs::write(&wim, &good).unwrap();

    let w = wim.to_str().unwrap();
    let err = editions_error(&[w, "--index", "7"]);
    assert!(
        err.contains("index 7 out of range: the image has 3 editions: 1 Display Core (Core), 2 Display Professional (Professional)"),
        "{err}"
    );
    let err = editions_error(&[w, "--edition", "professional"]);
    assert!(err.contains("matches several editions") && err.contains("--index"), "{err}");
    let err = editions_error(&[w, "--edition", "Enterprise"]);
    assert!(err.contains("no edition named \"Enterprise\""), "{err}");
    let (ok, out, err) = polyboot(&["wtg", "editions", w, "--edition", "core", "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["editions"].as_array().unwrap().len(), 1);
    assert_eq!(v["editions"][0]["index"], 1);
    let (ok, out, _) = polyboot(&["wtg", "editions", "--help"]);
    assert!(ok && out.contains("Examples:") && out.contains("polyboot wtg editions"), "{out}");
}

/// A file holding a bare NTFS filesystem (what wimlib's NTFS-3G mode writes into).
fn ntfs_image(dir: &Path, name: &str) -> PathBuf {
    let img = dir.join(name);
    std::fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
    run_tool(Command::new(find_tool("mkntfs")).args(["-F", "-Q", "-q", "-L", "WTG"]).arg(&img))
        .unwrap();
    img
}

/// The applied volume holds exactly the tree, byte for byte (`ntfscat`).
fn assert_applied(img: &Path, tree: &Path) {
    let expected = host_paths(tree);
    assert_eq!(ntfs_paths(img), expected);
    for p in expected.iter().filter(|p| tree.join(&p[1..]).is_file()) {
        let out = Command::new(find_tool("ntfscat")).arg(img).arg(p).output().unwrap();
        assert!(out.status.success(), "ntfscat {p}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout == std::fs::read(tree.join(&p[1..])).unwrap(), "{p} differs");
    }
}

fn apply_and_check(image: &Path, index: u32, tree: &Path, dir: &Path, name: &str) {
    let src = source::open(image).unwrap();
    let img = ntfs_image(dir, name);
    let mut last = None;
    let mut data_reports = 0;
    wtg::apply(&src, index, &img, None, &mut |p| {
        if p.phase == polyboot_wimlib::Phase::Data {
            data_reports += 1;
            assert!(p.done <= p.total, "{p:?}");
            last = Some(p);
        }
    })
    .unwrap();
    let last = last.expect("no data progress reported");
    assert_eq!(last.done, last.total);
    assert!(data_reports >= 2, "{data_reports}");
    assert_applied(&img, tree);
    // wimlib_verify_wim through the binding (all parts, in place in the ISO), and wimverify
    // on whole files it can open itself.
    let mut verified = 0;
    wtg::verify(&src, None, &mut |p| verified = p.done).unwrap();
    assert!(verified > 0);
    if src.parts.len() == 1 && !src.in_iso() {
        run_tool(Command::new(find_tool("wimverify")).arg(image)).unwrap();
    }
}

#[test]
fn apply_to_ntfs_reads_back_with_ntfs3g_tools() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    for (compress, solid) in [("XPRESS", false), ("LZX", false), ("LZMS", false), ("LZMS", true)] {
        let wim = make_wim(dir.path(), &tree, &format!("{compress}-{solid}.wim"), compress, solid);
        apply_and_check(&wim, 2, &tree, dir.path(), &format!("{compress}-{solid}.ntfs"));
    }
    let wim = make_wim(dir.path(), &tree, "split-src.wim", "LZX", false);
    let parts = split(dir.path(), &wim);
    apply_and_check(&parts[0], 3, &tree, dir.path(), "split.ntfs");
}

/// The WIM inside the ISO is applied through a read-only loop device over its bytes: nothing
/// is extracted. Loop devices need root.
#[test]
fn apply_straight_out_of_an_iso() {
    polyboot_tests::require_root("loop devices");
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "install.wim", "LZX", false);
    let iso = iso_of(dir.path(), "win.iso", &[("sources/install.wim", &wim)]);
    apply_and_check(&iso, 1, &tree, dir.path(), "iso.ntfs");

    let parts = split(dir.path(), &wim);
    let files = under_sources(&parts);
    let files: Vec<(&str, &Path)> = files.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    let iso = iso_of(dir.path(), "split.iso", &files);
    apply_and_check(&iso, 2, &tree, dir.path(), "iso-split.ntfs");

    // Through the UDF tree of a Microsoft-shaped ISO, whole and split.
    let iso = windows_shaped_iso(dir.path(), "udf.iso", &[("sources/install.wim", &wim)]).unwrap();
    apply_and_check(&iso, 3, &tree, dir.path(), "udf.ntfs");
    let iso = windows_shaped_iso(dir.path(), "udf-split.iso", &files).unwrap();
    apply_and_check(&iso, 1, &tree, dir.path(), "udf-split.ntfs");
}

/// An install image over 1 GiB: UDF records it as several extents (at most 1 GiB each), which
/// must still be handed to wimlib as one loop device over adjacent bytes. The WIM is stored
/// uncompressed around a sparse 1.1 GiB file with pattern bytes at its start, at 1 GiB and at
/// its end, so it really is that large; wimlib verifies every resource's SHA-1 (the big
/// file's spans the extents) through the loop device.
#[test]
fn an_install_image_over_1_gib_in_a_udf_iso() {
    polyboot_tests::require_root("loop devices");
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let big = tree.join("Windows/big.bin");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(1100 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    for (i, at) in [0u64, 1 << 30, (1100 << 20) - 4096].into_iter().enumerate() {
        file.write_all_at(&pattern(i as u64, 4096), at).unwrap();
    }
    drop(file);
    let wim = make_wim(dir.path(), &tree, "big.wim", "none", false);
    std::fs::remove_file(&big).unwrap();
    let size = std::fs::metadata(&wim).unwrap().len();
    assert!(size > 1100 << 20, "{size}");
    let iso = windows_shaped_iso(dir.path(), "big.iso", &[("sources/install.wim", &wim)]).unwrap();
    std::fs::remove_file(&wim).unwrap();

    let src = source::open(&iso).unwrap();
    let Some(polyboot::isofiles::IsoMember::Udf(_, entry)) = &src.first().iso_member else {
        panic!("not found in the UDF tree: {:?}", src.first());
    };
    let polyboot_core::udf::UdfData::Extents(extents) = &entry.data else {
        panic!("{entry:?}");
    };
    assert!(extents.len() >= 2, "{extents:?}");
    assert_eq!(src.first().host_range().unwrap().1, size);
    let mut verified = 0;
    wtg::verify(&src, None, &mut |p| verified = p.done).unwrap();
    assert!(verified >= size / 2, "{verified} of {size}");
}

#[test]
fn cancel_stops_the_apply_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "x.wim", "LZX", false);
    let src = source::open(&wim).unwrap();
    let img = ntfs_image(dir.path(), "cancel.ntfs");
    let cancel = AtomicBool::new(false);
    let mut reports = 0;
    let err = wtg::apply(&src, 1, &img, Some(&cancel), &mut |_| {
        reports += 1;
        cancel.store(true, Ordering::Relaxed);
    })
    .unwrap_err();
    assert_eq!(reports, 1, "the first report after the cancel aborts");
    let cancelled = err
        .chain()
        .any(|e| matches!(e.downcast_ref(), Some(polyboot_wimlib::Error::Cancelled { .. })));
    assert!(cancelled, "{err:#}");
    assert!(format!("{err:#}").contains("cancelled"), "{err:#}");
    // The same WIM still applies in full afterwards (nothing left registered or open).
    apply_and_check(&wim, 1, &tree, dir.path(), "after-cancel.ntfs");
}

#[test]
fn index_out_of_range_is_refused_by_the_binding() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "x.wim", "XPRESS", false);
    let src = source::open(&wim).unwrap();
    let img = ntfs_image(dir.path(), "x.ntfs");
    let err = wtg::apply(&src, 4, &img, None, &mut |_| {}).unwrap_err();
    assert!(format!("{err:#}").contains("image 4 does not exist: the WIM has 3 images"), "{err:#}");
    // Not an NTFS volume: wimlib's own error text comes through.
    let plain = dir.path().join("zeros.img");
    std::fs::File::create(&plain).unwrap().set_len(8 << 20).unwrap();
    let err = wtg::apply(&src, 1, &plain, None, &mut |_| {}).unwrap_err();
    assert!(format!("{err:#}").contains("wimlib error"), "{err:#}");
}

/// A panic in the progress closure never unwinds through wimlib: it is caught in the
/// callback, the apply aborted, and the panic resumed once wimlib has returned.
#[test]
fn a_panicking_progress_closure_is_resumed_after_wimlib_returns() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fake_windows_tree(dir.path());
    let wim = make_wim(dir.path(), &tree, "x.wim", "XPRESS", false);
    let src = source::open(&wim).unwrap();
    let img = ntfs_image(dir.path(), "panic.ntfs");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = wtg::apply(&src, 1, &img, None, &mut |_| panic!("closure panicked"));
    }))
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"closure panicked"));
}
