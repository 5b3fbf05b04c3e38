//! `polyboot_core::cpio` archives read by GNU cpio (Debian package `cpio`), an independent
//! implementation: `cpio -t` lists exactly our entries, `cpio -idm` extracts them with the
//! contents, permissions, symlink targets and mtimes we wrote; an initrd wrapped as an
//! external payload comes out byte-identical; a second archive appended after ours (the
//! kernel's concatenated-initramfs rule) starts at our layout's end and is itself readable.
//!
//! The tests fail (not skip) when cpio is missing.

use polyboot_core::cpio::{self, CpioWriter, LayoutPart};
use polyboot_tests::{pattern, run_tool};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn cpio_bin() -> PathBuf {
    ["/usr/bin/cpio", "/bin/cpio"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("GNU cpio not found: apt-get install cpio")
}

/// Run cpio with `args` in `dir`, `input` on stdin; its stdout (file list) and stderr.
fn cpio(dir: &Path, args: &[&str], input: &[u8]) -> (String, String) {
    let mut child = Command::new(cpio_bin())
        .args(args)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cpio {args:?} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Name, contents, permission bits.
type SampleFile = (&'static str, Vec<u8>, u32);

fn sample() -> (CpioWriter, Vec<SampleFile>) {
    let mut w = CpioWriter::new();
    w.set_mtime(1_700_000_000);
    w.dir("polyboot", 0o755).unwrap();
    w.dir("/polyboot/sub", 0o700).unwrap();
    let mut files = Vec::new();
    // Sizes around every alignment case, and names of every length mod 4.
    for (i, (name, len)) in [
        ("init", 1000usize),
        ("polyboot/a", 0),
        ("polyboot/ab", 1),
        ("polyboot/abc", 2),
        ("polyboot/abcd", 3),
        ("polyboot/sub/e", 4),
        ("polyboot/sub/ef", 5),
        ("polyboot/handoff.bin", 512),
    ]
    .into_iter()
    .enumerate()
    {
        let data = pattern(100 + i as u64, len);
        let perm = if name == "init" { 0o755 } else { 0o644 };
        w.file(name, perm, &data).unwrap();
        files.push((name, data, perm));
    }
    w.symlink("polyboot/link", "../init").unwrap();
    (w, files)
}

#[test]
fn gnu_cpio_lists_and_extracts_our_archive() {
    let (w, files) = sample();
    let bytes = w.finish_bytes(512);
    assert_eq!(bytes.len() % 512, 0);
    let tmp = tempfile::tempdir().unwrap();

    let (list, _) = cpio(tmp.path(), &["-t"], &bytes);
    let mut want: Vec<&str> = vec!["polyboot", "polyboot/sub"];
    want.extend(files.iter().map(|f| f.0));
    want.push("polyboot/link");
    assert_eq!(list.lines().collect::<Vec<_>>(), want);

    // The verbose listing shows the modes.
    let (verbose, _) = cpio(tmp.path(), &["-tv"], &bytes);
    assert!(
        verbose
            .lines()
            .any(|l| l.starts_with("lrwxrwxrwx") && l.ends_with("polyboot/link -> ../init")),
        "{verbose}"
    );
    assert!(
        verbose.lines().any(|l| l.starts_with("drwx------") && l.ends_with("polyboot/sub")),
        "{verbose}"
    );

    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    cpio(&out, &["-idm", "--no-absolute-filenames"], &bytes);
    for (name, data, perm) in &files {
        let p = out.join(name);
        assert_eq!(&std::fs::read(&p).unwrap(), data, "{name}");
        let md = std::fs::metadata(&p).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, *perm, "{name}");
        assert_eq!(md.mtime(), 1_700_000_000, "{name}");
    }
    assert_eq!(
        std::fs::metadata(out.join("polyboot/sub")).unwrap().permissions().mode() & 0o7777,
        0o700
    );
    assert_eq!(std::fs::read_link(out.join("polyboot/link")).unwrap(), Path::new("../init"));
}

/// The wrapper layout: our entries, then the original initrd as an external payload. Built
/// from the layout's parts (memory + the initrd's bytes), GNU cpio extracts the initrd
/// byte-identical; and an archive appended after ours is at our layout's end.
#[test]
fn wrapped_initrd_comes_out_identical_and_concatenation_works() {
    let tmp = tempfile::tempdir().unwrap();
    // A real newc initrd made by GNU cpio, compressed with gzip: an opaque blob to us.
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("scripts")).unwrap();
    std::fs::write(tree.join("init"), b"#!/bin/sh\necho original\n").unwrap();
    std::fs::write(tree.join("scripts/live"), pattern(7, 3333)).unwrap();
    let (orig_cpio, _) = {
        let out = Command::new(cpio_bin())
            .args(["-o", "-H", "newc"])
            .current_dir(&tree)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(b"init\nscripts\nscripts/live\n")?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success());
        (out.stdout, ())
    };
    let gz_path = tmp.path().join("initrd.cpio");
    std::fs::write(&gz_path, &orig_cpio).unwrap();
    run_tool(Command::new("gzip").args(["-9", "-n", "-k"]).arg(&gz_path)).unwrap();
    let initrd = std::fs::read(tmp.path().join("initrd.cpio.gz")).unwrap();
    assert_eq!(&initrd[..2], b"\x1f\x8b");

    let (w, files) = sample();
    let (layout, index) =
        cpio::wrap_initrd(w, "polyboot/initrd.orig", initrd.len() as u64).unwrap();
    assert!(matches!(layout.parts[1], LayoutPart::External { index: 0, .. }));
    let off = layout.external_offset(index).unwrap();
    let archive = layout.to_bytes(|_| Some(&initrd[..])).unwrap();
    assert_eq!(&archive[off as usize..off as usize + initrd.len()], &initrd[..]);
    assert_eq!(archive.len() % 4, 0);

    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    cpio(&out, &["-idm"], &archive);
    assert_eq!(std::fs::read(out.join("polyboot/initrd.orig")).unwrap(), initrd);
    assert_eq!(std::fs::read(out.join("init")).unwrap(), files[0].1);

    // Concatenation: ours, then GNU cpio's uncompressed archive. cpio reads ours up to our
    // trailer; the second archive starts right at our layout's length (4-byte aligned, as
    // the kernel requires) and lists on its own.
    let mut both = archive.clone();
    both.extend_from_slice(&orig_cpio);
    let (first, _) = cpio(tmp.path(), &["-t"], &both);
    assert!(first.lines().any(|l| l == "polyboot/initrd.orig"));
    assert!(!first.lines().any(|l| l == "scripts/live"));
    let (second, _) = cpio(tmp.path(), &["-t"], &both[layout.len() as usize..]);
    assert_eq!(second.lines().collect::<Vec<_>>(), ["init", "scripts", "scripts/live"]);
    let out2 = tmp.path().join("out2");
    std::fs::create_dir(&out2).unwrap();
    cpio(&out2, &["-idm"], &both[layout.len() as usize..]);
    assert_eq!(std::fs::read(out2.join("scripts/live")).unwrap(), pattern(7, 3333));
}
