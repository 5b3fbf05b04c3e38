//! Initramfs images made by the real tools (GNU cpio, gzip, xz, lzma, zstd, lz4 -l, bzip2),
//! unpacked by our code into temp dirs and compared with the source tree.

use polyboot_hook::cpio::{unpack_initramfs, RootedFs};
use polyboot_hook::decompress::Format;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn run(cmd: &str, args: &[&str], dir: Option<&Path>, input: &[u8]) -> Vec<u8> {
    let mut c = Command::new(cmd);
    c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let mut child = c.spawn().unwrap_or_else(|e| {
        panic!("{cmd} is needed for this test (Debian: cpio gzip xz-utils zstd lz4 bzip2): {e}")
    });
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A small root: dirs, an executable, a symlink, a hard link pair, a larger compressible file
/// and a larger incompressible one (several lz4 blocks would need > 8 MiB; this keeps the test
/// fast and still crosses every decoder's internal buffers).
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("lib/modules/6.1.0/kernel")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("init"), "#!/bin/sh\necho original init\n").unwrap();
    std::fs::set_permissions(root.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("etc/fstab"), "").unwrap();
    std::os::unix::fs::symlink("../init", root.join("bin/init-link")).unwrap();
    std::fs::write(root.join("bin/busybox"), b"ELF".repeat(50_000)).unwrap();
    std::fs::hard_link(root.join("bin/busybox"), root.join("bin/sh")).unwrap();
    let mut x = 0x1234_5678u32;
    let noise: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(root.join("lib/modules/6.1.0/kernel/noise.ko"), noise).unwrap();
    std::fs::write(root.join("lib/modules/6.1.0/modules.dep"), "kernel/noise.ko:\n").unwrap();
}

fn cpio_of(root: &Path, format: &str) -> Vec<u8> {
    let list = run("sh", &["-c", "find . | LC_ALL=C sort"], Some(root), b"");
    run("cpio", &["-o", "--quiet", "-H", format], Some(root), &list)
}

fn microcode_archive() -> Vec<u8> {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("kernel/x86/microcode");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("GenuineIntel.bin"), b"\x01\x00\x00\x00microcode blob").unwrap();
    cpio_of(t.path(), "newc")
}

fn compress(tool: &str, data: &[u8]) -> Vec<u8> {
    match tool {
        "gzip" => run("gzip", &["-9", "-c"], None, data),
        "xz" => run("xz", &["--check=crc32", "-c"], None, data),
        "xz-crc64" => run("xz", &["--check=crc64", "-c"], None, data),
        "lzma" => run("lzma", &["-c"], None, data),
        "zstd" => run("zstd", &["-q", "-c", "-19"], None, data),
        "lz4" => run("lz4", &["-l", "-q", "-c"], None, data),
        "bzip2" => run("bzip2", &["-c"], None, data),
        "none" => data.to_vec(),
        _ => unreachable!(),
    }
}

fn check_tree(out: &Path) {
    assert_eq!(
        std::fs::read_to_string(out.join("init")).unwrap(),
        "#!/bin/sh\necho original init\n"
    );
    assert_eq!(std::fs::metadata(out.join("init")).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(std::fs::read_link(out.join("bin/init-link")).unwrap(), Path::new("../init"));
    assert_eq!(std::fs::read(out.join("bin/sh")).unwrap(), b"ELF".repeat(50_000));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(out.join("bin/sh")).unwrap().ino(),
        std::fs::metadata(out.join("bin/busybox")).unwrap().ino()
    );
    assert_eq!(
        std::fs::metadata(out.join("lib/modules/6.1.0/kernel/noise.ko")).unwrap().len(),
        300_000
    );
    assert_eq!(std::fs::read(out.join("etc/fstab")).unwrap(), b"");
    assert_eq!(
        std::fs::read(out.join("kernel/x86/microcode/GenuineIntel.bin")).unwrap(),
        b"\x01\x00\x00\x00microcode blob"
    );
}

fn unpack(image: &[u8]) -> (tempfile::TempDir, polyboot_hook::cpio::Report) {
    let out = tempfile::tempdir().unwrap();
    let mut fs = RootedFs { root: out.path().to_path_buf(), chown: false };
    let report = unpack_initramfs(image, &mut fs, 1 << 30).unwrap_or_else(|e| panic!("{e}"));
    (out, report)
}

#[test]
fn every_compression_after_an_uncompressed_microcode_archive() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let ucode = microcode_archive();
    for fmt in ["newc", "crc"] {
        let main = cpio_of(src.path(), fmt);
        for (tool, want) in [
            ("gzip", Some(Format::Gzip)),
            ("xz", Some(Format::Xz)),
            ("xz-crc64", Some(Format::Xz)),
            ("lzma", Some(Format::Lzma)),
            ("zstd", Some(Format::Zstd)),
            ("lz4", Some(Format::Lz4Legacy)),
            ("bzip2", Some(Format::Bzip2)),
            ("none", None),
        ] {
            let mut image = ucode.clone();
            image.extend_from_slice(&compress(tool, &main));
            let (out, report) = unpack(&image);
            check_tree(out.path());
            assert_eq!(report.streams, want.into_iter().collect::<Vec<_>>(), "{tool} {fmt}");
            assert_eq!(report.archives, 2, "{tool} {fmt}");
            assert!(report.warnings.is_empty(), "{tool} {fmt}: {:?}", report.warnings);
        }
    }
}

#[test]
fn concatenated_compressed_archives_with_padding_between() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let main = cpio_of(src.path(), "newc");
    // A second archive that overrides /init, appended in each format after each other format.
    let over = tempfile::tempdir().unwrap();
    std::fs::write(over.path().join("init"), "override\n").unwrap();
    let over = cpio_of(over.path(), "newc");
    let tools = ["gzip", "xz", "lzma", "zstd", "lz4", "bzip2", "none"];
    for first in tools {
        for second in tools {
            let mut image = microcode_archive();
            image.extend_from_slice(&compress(first, &main));
            // Zero padding to a 4-byte boundary plus a few extra words, as mkinitramfs / dracut
            // and `cat` of aligned files produce.
            while image.len() % 4 != 0 {
                image.push(0);
            }
            image.extend_from_slice(&[0; 16]);
            image.extend_from_slice(&compress(second, &over));
            let (out, report) = unpack(&image);
            assert_eq!(
                std::fs::read_to_string(out.path().join("init")).unwrap(),
                "override\n",
                "{first} then {second}"
            );
            assert_eq!(std::fs::read(out.path().join("bin/sh")).unwrap().len(), 150_000);
            assert_eq!(report.archives, 3, "{first} then {second}");
        }
    }
}

#[test]
fn truncated_compressed_streams_fail_cleanly() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let main = cpio_of(src.path(), "newc");
    for tool in ["gzip", "xz", "lzma", "zstd", "lz4", "bzip2"] {
        let c = compress(tool, &main);
        for cut in [c.len() / 2, c.len() - 1] {
            let out = tempfile::tempdir().unwrap();
            let mut fs = RootedFs { root: out.path().to_path_buf(), chown: false };
            assert!(unpack_initramfs(&c[..cut], &mut fs, 1 << 30).is_err(), "{tool} cut at {cut}");
        }
    }
}

#[test]
fn lz4_legacy_frames_of_several_blocks_followed_by_more_archives() {
    // > 8 MiB of content: `lz4 -l` splits it into several blocks.
    let src = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..9u32 << 20).map(|i| (i % 251) as u8 ^ (i >> 16) as u8).collect();
    std::fs::write(src.path().join("big"), &big).unwrap();
    let main = cpio_of(src.path(), "newc");
    let c = compress("lz4", &main);
    let blocks = {
        let mut n = 0;
        let mut at = 4;
        while at + 4 <= c.len() {
            let size = u32::from_le_bytes(c[at..at + 4].try_into().unwrap()) as usize;
            at += 4 + size;
            n += 1;
        }
        n
    };
    assert!(blocks >= 2, "lz4 -l wrote {blocks} block(s)");
    let over = tempfile::tempdir().unwrap();
    std::fs::write(over.path().join("after"), "after\n").unwrap();
    for next in ["gzip", "none", "xz"] {
        let mut image = c.clone();
        image.extend_from_slice(&compress(next, &cpio_of(over.path(), "newc")));
        let (out, report) = unpack(&image);
        assert!(std::fs::read(out.path().join("big")).unwrap() == big, "lz4 then {next}");
        assert_eq!(std::fs::read_to_string(out.path().join("after")).unwrap(), "after\n");
        assert_eq!(report.streams[0], Format::Lz4Legacy);
    }
}

/// Debian's own initrd (initramfs-tools, zstd) when one is installed: every regular file and
/// symlink `unmkinitramfs` finds is there with the same size / target.
#[test]
fn real_debian_initrd_matches_unmkinitramfs() {
    let Some(initrd) = std::fs::read_dir("/boot").ok().and_then(|d| {
        d.flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("initrd.img-"))
            .max()
    }) else {
        panic!("no /boot/initrd.img-*: install linux-image-amd64 and initramfs-tools (cargo xtask deps)");
    };
    assert!(
        Command::new("unmkinitramfs").arg("--help").output().is_ok(),
        "no unmkinitramfs: install initramfs-tools-core (cargo xtask deps)"
    );
    let theirs = tempfile::tempdir().unwrap();
    let st = Command::new("unmkinitramfs").arg(&initrd).arg(theirs.path()).status().unwrap();
    assert!(st.success());
    let (ours, report) = unpack(&std::fs::read(&initrd).unwrap());
    assert!(report.entries > 100, "{report:?}");
    // unmkinitramfs puts archives after the first into early/, early2/..., main/ when there
    // are several; all of them land in one root for the kernel (and for us).
    let mut roots = vec![theirs.path().to_path_buf()];
    if theirs.path().join("main").is_dir() {
        roots = std::fs::read_dir(theirs.path()).unwrap().flatten().map(|e| e.path()).collect();
    }
    let mut checked = 0;
    for root in roots {
        let list = run("find", &[".", "-type", "f", "-o", "-type", "l"], Some(&root), b"");
        for rel in String::from_utf8(list).unwrap().lines() {
            let (a, b) = (root.join(rel), ours.path().join(rel));
            let ma = std::fs::symlink_metadata(&a).unwrap();
            let mb = std::fs::symlink_metadata(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
            if ma.file_type().is_symlink() {
                assert_eq!(
                    std::fs::read_link(&a).unwrap(),
                    std::fs::read_link(&b).unwrap(),
                    "{rel}"
                );
            } else {
                assert_eq!(ma.len(), mb.len(), "{rel}");
            }
            checked += 1;
        }
    }
    assert!(checked > 100);
    eprintln!("{} checked {checked} files; streams {:?}", initrd.display(), report.streams);
}
