use super::*;
use alloc::boxed::Box;
use alloc::vec;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory under the system's temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("polyboot-tar-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run GNU tar with `args` in `dir`; its stdout (the archive).
fn gnu_tar(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("tar")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("GNU tar must be installed for these tests");
    assert!(out.status.success(), "tar {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

const LONG_DIR: &str = "a-directory-name-that-is-long-enough/to-need-more-than-the-hundred-bytes/of-the-ustar-name-field";
const LONG_FILE: &str = "a-file-name-of-more-than-one-hundred-bytes-which-only-gnu-long-names-or-pax-path-records-can-hold.txt";

/// The tree every format is tested with: what `parse` must give back for it.
fn make_tree(root: &Path, long_component: bool) -> Vec<(String, Expect)> {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let mut want = Vec::new();
    let w = |p: &str, data: &[u8], mode: u32| {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, data).unwrap();
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    std::fs::create_dir_all(root.join("etc/conf.d")).unwrap();
    w("etc/conf.d/polyboot.conf", b"marker=injected\n", 0o644);
    want.push(("etc".into(), Expect::Dir));
    want.push(("etc/conf.d".into(), Expect::Dir));
    want.push((
        "etc/conf.d/polyboot.conf".into(),
        Expect::File(b"marker=injected\n".to_vec(), 0o644),
    ));
    w("empty", b"", 0o600);
    want.push(("empty".into(), Expect::File(vec![], 0o600)));
    let big: Vec<u8> = (0..(1 << 20) + 3).map(|i: u32| (i * 7 + i / 251) as u8).collect();
    w("bin/hello", &big, 0o755);
    want.push(("bin".into(), Expect::Dir));
    want.push(("bin/hello".into(), Expect::File(big, 0o755)));
    w("ünïcode.txt", "grüße".as_bytes(), 0o644);
    want.push(("ünïcode.txt".into(), Expect::File("grüße".as_bytes().to_vec(), 0o644)));
    symlink("etc/conf.d/polyboot.conf", root.join("link")).unwrap();
    want.push(("link".into(), Expect::Symlink("etc/conf.d/polyboot.conf".into())));
    symlink("/etc/passwd", root.join("absolute-link")).unwrap();
    want.push(("absolute-link".into(), Expect::Symlink("/etc/passwd".into())));
    std::fs::hard_link(root.join("etc/conf.d/polyboot.conf"), root.join("hard")).unwrap();
    // Which of the two names carries the data depends on the order tar walks the tree.
    want.push(("hard".into(), Expect::EitherHardLink("etc/conf.d/polyboot.conf".into())));
    w(&format!("{LONG_DIR}/x"), b"deep", 0o644);
    let mut d = String::new();
    for c in LONG_DIR.split('/') {
        if !d.is_empty() {
            d.push('/');
        }
        d.push_str(c);
        want.push((d.clone(), Expect::Dir));
    }
    want.push((format!("{LONG_DIR}/x"), Expect::File(b"deep".to_vec(), 0o644)));
    if long_component {
        w(LONG_FILE, b"long", 0o644);
        want.push((LONG_FILE.into(), Expect::File(b"long".to_vec(), 0o644)));
    }
    want
}

#[derive(Debug)]
enum Expect {
    Dir,
    File(Vec<u8>, u32),
    Symlink(String),
    /// A hard link with this other name: either entry may be the link, the other the file.
    EitherHardLink(String),
}

fn check_against(archive: &Archive, want: &[(String, Expect)], what: &str) {
    let find = |p: &str| archive.entries.iter().rfind(|e| e.path == p);
    for (path, expect) in want {
        let e = find(path).unwrap_or_else(|| panic!("{what}: {path} missing"));
        match expect {
            Expect::Dir => assert_eq!(e.kind, EntryKind::Dir, "{what}: {path}"),
            Expect::File(data, mode) => {
                match &e.kind {
                    EntryKind::File(d) => assert!(d == data, "{what}: {path} content"),
                    // the other name of a hard-linked pair
                    EntryKind::HardLink(t) => {
                        let EntryKind::File(d) = &find(t).unwrap().kind else { panic!() };
                        assert!(d == data, "{what}: {path} via {t}");
                    }
                    k => panic!("{what}: {path} is {k:?}"),
                }
                assert_eq!(e.mode, *mode, "{what}: {path} mode");
            }
            Expect::Symlink(t) => assert_eq!(e.kind, EntryKind::Symlink(t.clone()), "{what}"),
            Expect::EitherHardLink(other) => match &e.kind {
                EntryKind::HardLink(t) => assert_eq!(t, other, "{what}"),
                EntryKind::File(_) => assert_eq!(
                    find(other).unwrap().kind,
                    EntryKind::HardLink(path.clone()),
                    "{what}"
                ),
                k => panic!("{what}: {path} is {k:?}"),
            },
        }
    }
    assert!(archive.warnings.is_empty(), "{what}: {:?}", archive.warnings);
}

#[test]
fn reads_what_gnu_tar_writes_in_every_format() {
    for (format, long_component) in [("gnu", true), ("pax", true), ("ustar", false)] {
        let s = Scratch::new(format);
        let want = make_tree(&s.0, long_component);
        for (how, args) in [
            ("./ names", vec!["-cf", "-", "."]),
            ("plain names", {
                let mut v = vec!["-cf", "-"];
                let mut names: Vec<String> = std::fs::read_dir(&s.0)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect();
                names.sort();
                v.extend(names.into_iter().map(|n| &*Box::leak(n.into_boxed_str())));
                v
            }),
        ] {
            let format_arg = format!("--format={format}");
            let mut all =
                vec![format_arg.as_str(), "--owner=1234", "--group=5678", "--numeric-owner"];
            all.extend(args);
            let bytes = gnu_tar(&s.0, &all);
            let what = format!("{format}, {how}");
            let archive =
                parse(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
            check_against(&archive, &want, &what);
            assert!(archive.entries.iter().all(|e| e.uid == 1234 && e.gid == 5678), "{what}");
            // './' itself is not an entry; nothing else is there.
            assert!(archive.entries.iter().all(|e| !e.path.is_empty() && !e.path.starts_with('.')));
        }
    }
}

#[test]
fn large_owner_ids_in_base_256_and_pax() {
    // 3,000,000 does not fit the 7 octal digits of the uid field: GNU writes base-256, pax a
    // uid record.
    let s = Scratch::new("ids");
    std::fs::write(s.0.join("f"), b"x").unwrap();
    for format in ["gnu", "pax"] {
        let f = format!("--format={format}");
        let bytes = gnu_tar(
            &s.0,
            &[&f, "--owner=3000000", "--group=4000000", "--numeric-owner", "-cf", "-", "f"],
        );
        if format == "gnu" {
            assert_eq!(bytes[108] & 0x80, 0x80, "base-256 uid");
        }
        let a = parse(&bytes, &Limits::default()).unwrap();
        assert_eq!((a.entries[0].uid, a.entries[0].gid), (3_000_000, 4_000_000), "{format}");
    }
}

#[test]
fn compressed_and_appended_archives_are_not_taken_for_tar() {
    let s = Scratch::new("gz");
    std::fs::write(s.0.join("f"), b"x").unwrap();
    let gz = gnu_tar(&s.0, &["-czf", "-", "f"]);
    assert_eq!(parse(&gz, &Limits::default()), Err(TarError::BadChecksum { at: 0 }));
    assert_eq!(
        TarError::BadChecksum { at: 0 }.to_string(),
        "not a tar archive (no valid header at byte 0)"
    );
}

#[test]
fn absolute_and_parent_paths_refuse_the_archive() {
    let s = Scratch::new("unsafe");
    std::fs::write(s.0.join("evil"), b"x").unwrap();
    let abs = s.0.join("evil");
    let abs = abs.to_str().unwrap();
    let bytes = gnu_tar(&s.0, &["-P", "-cf", "-", abs]);
    let e = parse(&bytes, &Limits::default()).unwrap_err();
    assert!(matches!(&e, TarError::UnsafePath { why: "is an absolute path", .. }), "{e:?}");
    assert!(e.to_string().contains("absolute"), "{e}");
    let bytes = gnu_tar(&s.0, &["-P", "--transform=s,^,../../,", "-cf", "-", "evil"]);
    let e = parse(&bytes, &Limits::default()).unwrap_err();
    assert!(matches!(&e, TarError::UnsafePath { why: "has a '..' component", .. }), "{e:?}");
    assert!(e.to_string().contains("../../evil"), "{e}");
    let bytes = gnu_tar(&s.0, &["-P", "--transform=s,^,a/../,", "-cf", "-", "evil"]);
    assert!(matches!(parse(&bytes, &Limits::default()), Err(TarError::UnsafePath { .. })));
    // A hard link whose target leaves the root.
    std::fs::hard_link(s.0.join("evil"), s.0.join("twin")).unwrap();
    let bytes = gnu_tar(&s.0, &["-P", "--transform=s,^evil,../evil,", "-cf", "-", "evil", "twin"]);
    assert!(matches!(parse(&bytes, &Limits::default()), Err(TarError::UnsafePath { .. })));
}

#[test]
fn nothing_is_written_through_a_symlink_of_the_archive() {
    use std::os::unix::fs::symlink;
    let s = Scratch::new("through");
    std::fs::create_dir_all(s.0.join("one")).unwrap();
    std::fs::create_dir_all(s.0.join("two/a")).unwrap();
    symlink("/etc", s.0.join("one/a")).unwrap();
    std::fs::write(s.0.join("two/a/passwd"), b"root::0:0::/:/bin/sh\n").unwrap();
    let bytes = gnu_tar(&s.0, &["-cf", "-", "-C", "one", "a", "-C", "../two", "a/passwd"]);
    let e = parse(&bytes, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            &e,
            TarError::UnsafePath { why: "goes through a symbolic link of the archive", .. }
        ),
        "{e:?}"
    );
    // A directory entry replacing the link first makes it a directory again: fine.
    let bytes = gnu_tar(&s.0, &["-cf", "-", "-C", "one", "a", "-C", "../two", "a", "a/passwd"]);
    let a = parse(&bytes, &Limits::default()).unwrap();
    assert_eq!(
        a.entries.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["a", "a", "a/passwd", "a/passwd"]
    );
}

// ---- hand-made headers ----

/// A header with `name`, type, size and an optional link name; checksum filled in.
fn header(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    sign(&mut h);
    h
}

fn sign(h: &mut [u8; 512]) {
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// Members: (header, data); data padded to blocks; two zero blocks at the end.
fn archive(members: &[([u8; 512], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (h, d) in members {
        out.extend_from_slice(h);
        out.extend_from_slice(d);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // The length counts itself: try lengths until the digits agree.
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while format!("{len}").len() + body != len {
        len += 1;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

#[test]
fn pax_headers_override_the_next_member_only() {
    let long = "p/".repeat(150) + "file";
    let mut x = pax_record("path", long.as_bytes());
    x.extend(pax_record("mtime", b"1700000000.5"));
    x.extend(pax_record("uid", b"77"));
    x.extend(pax_record("size", b"5"));
    let bytes = archive(&[
        (header(b"PaxHeaders/x", b'x', x.len() as u64, b""), &x),
        // The header says 3 bytes; pax says 5, and 5 are there.
        (header(b"short-name", b'0', 3, b""), b"hello"),
        (header(b"next", b'0', 2, b""), b"ok"),
    ]);
    let a = parse(&bytes, &Limits::default()).unwrap();
    assert_eq!(a.entries.len(), 2);
    assert_eq!(a.entries[0].path, long);
    assert_eq!((a.entries[0].uid, &a.entries[0].kind), (77, &EntryKind::File(b"hello")));
    assert_eq!((a.entries[1].path.as_str(), a.entries[1].uid), ("next", 0));
    // An empty value removes the keyword: the header's name applies.
    let x = pax_record("path", b"");
    let bytes = archive(&[
        (header(b"PaxHeaders/x", b'x', x.len() as u64, b""), &x),
        (header(b"plain", b'0', 0, b""), b""),
    ]);
    assert_eq!(parse(&bytes, &Limits::default()).unwrap().entries[0].path, "plain");
}

#[test]
fn malformed_pax_records_are_errors() {
    let cases: [&[u8]; 8] = [
        b"x path=a\n",
        b"9999 path=a\n",
        b"3 \n",
        b"12 path=abc",
        b"11 pathabc\n",
        b"11 size=1x\n",
        b"99999999999999999999999 a=b\n",
        b"30 GNU.sparse.major=1\n        ",
    ];
    for x in cases {
        let bytes = archive(&[
            (header(b"h", b'x', x.len() as u64, b""), x),
            (header(b"f", b'0', 0, b""), b""),
        ]);
        let e = parse(&bytes, &Limits::default()).unwrap_err();
        assert!(
            matches!(e, TarError::BadPax { .. } | TarError::Unsupported { .. }),
            "{x:?}: {e:?}"
        );
    }
    // The sparse keyword with a correct length.
    let x = pax_record("GNU.sparse.major", b"1");
    let bytes = archive(&[
        (header(b"h", b'x', x.len() as u64, b""), &x),
        (header(b"f", b'0', 0, b""), b""),
    ]);
    assert!(matches!(parse(&bytes, &Limits::default()), Err(TarError::Unsupported { .. })));
    // Records padded with NULs are fine.
    let mut x = pax_record("path", b"padded");
    x.extend_from_slice(&[0; 7]);
    let bytes = archive(&[
        (header(b"h", b'x', x.len() as u64, b""), &x),
        (header(b"f", b'0', 0, b""), b""),
    ]);
    assert_eq!(parse(&bytes, &Limits::default()).unwrap().entries[0].path, "padded");
}

#[test]
fn limits_bound_entries_names_and_sizes() {
    let files: Vec<[u8; 512]> =
        (0..5).map(|i| header(format!("f{i}").as_bytes(), b'0', 4, b"")).collect();
    let members: Vec<([u8; 512], &[u8])> = files.iter().map(|h| (*h, &b"data"[..])).collect();
    let bytes = archive(&members);
    assert_eq!(parse(&bytes, &Limits::default()).unwrap().entries.len(), 5);
    let tight = Limits { max_entries: 4, ..Limits::default() };
    assert_eq!(parse(&bytes, &tight), Err(TarError::TooManyEntries { limit: 4 }));
    let tight = Limits { max_total_size: 19, ..Limits::default() };
    assert_eq!(parse(&bytes, &tight), Err(TarError::TooLarge { limit: 19 }));
    let tight = Limits { max_name_len: 1, ..Limits::default() };
    assert!(matches!(parse(&bytes, &tight), Err(TarError::NameTooLong { .. })));
    // A GNU long name longer than the limit is refused before it is kept.
    let long = vec![b'n'; 5000];
    let bytes = archive(&[
        (header(b"././@LongLink", b'L', 5000, b""), &long),
        (header(b"x", b'0', 0, b""), b""),
    ]);
    assert!(matches!(
        parse(&bytes, &Limits::default()),
        Err(TarError::NameTooLong { len: 5000, .. })
    ));
    let x = vec![b'9'; 2 << 20];
    let bytes = archive(&[(header(b"h", b'x', x.len() as u64, b""), &x)]);
    assert!(matches!(
        parse(&bytes, &Limits::default()),
        Err(TarError::BadPax { why: "too large", .. })
    ));
}

#[test]
fn types_that_do_not_belong_in_an_initramfs_are_skipped_or_refused() {
    let bytes = archive(&[
        (header(b"dev/null", b'3', 0, b""), b""),
        (header(b"dev/sda", b'4', 0, b""), b""),
        (header(b"fifo", b'6', 0, b""), b""),
        (header(b"weird", b'Z', 2, b""), b"zz"),
        (header(b"orphan", b'1', 0, b"not-there"), b""),
        (header(b"olddir/", b'0', 0, b""), b""),
        (header(b"./", b'5', 0, b""), b""),
    ]);
    let a = parse(&bytes, &Limits::default()).unwrap();
    let got: Vec<(&str, &EntryKind)> =
        a.entries.iter().map(|e| (e.path.as_str(), &e.kind)).collect();
    assert_eq!(got, [("weird", &EntryKind::File(b"zz")), ("olddir", &EntryKind::Dir)]);
    assert_eq!(a.warnings.len(), 5, "{:?}", a.warnings);
    assert!(a.warnings[4].contains("not an earlier file"), "{:?}", a.warnings);
    for t in [b'S', b'M'] {
        let bytes = archive(&[(header(b"s", t, 0, b""), b"")]);
        assert!(matches!(parse(&bytes, &Limits::default()), Err(TarError::Unsupported { .. })));
    }
}

#[test]
fn numbers_octal_and_base_256() {
    assert_eq!(number(b"0000644\0"), Some(0o644));
    assert_eq!(number(b"   644 \0"), Some(0o644));
    assert_eq!(number(b"\0\0\0\0"), Some(0));
    assert_eq!(number(b"64 4"), None);
    assert_eq!(number(b"0009"), None);
    assert_eq!(number(b"77777777777777777777777"), None, "overflow");
    assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
    assert_eq!(number(&[0xff, 0xff, 0xff, 0xff]), None, "negative");
    assert_eq!(number(&[0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None, "too large for u64");
}

#[test]
fn truncations_bit_flips_and_noise_are_errors_or_fewer_entries_never_panics() {
    let s = Scratch::new("noise");
    let _ = make_tree(&s.0, true);
    let bytes = gnu_tar(&s.0, &["--format=pax", "-cf", "-", "."]);
    let full = parse(&bytes, &Limits::default()).unwrap();
    // Truncated at a block boundary: fewer entries (no end blocks needed) or an error;
    // anywhere else: an error unless only padding was lost.
    for n in (0..bytes.len()).step_by(97).chain((0..bytes.len()).step_by(512)) {
        if let Ok(a) = parse(&bytes[..n], &Limits::default()) {
            assert!(a.entries.len() <= full.entries.len());
        }
    }
    let mut rng = crate::testutil::Rng(0x7a11_5eed);
    for _ in 0..3000 {
        let mut b = bytes[..bytes.len().min(8192)].to_vec();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(b.len() as u64) as usize;
            b[i] ^= 1 << rng.below(8);
        }
        // Re-sign the header the flip landed in, half the time, to get past the checksum.
        if rng.below(2) == 0 {
            for h in b.chunks_exact_mut(512) {
                let h: &mut [u8; 512] = h.try_into().unwrap();
                if h.iter().any(|&x| x != 0) && checksum_ok(h) {
                    continue;
                }
                if h[257..262] == *b"ustar" {
                    sign(h);
                }
            }
        }
        if let Ok(a) = parse(&b, &Limits::default()) {
            for e in &a.entries {
                assert!(!e.path.is_empty() && !e.path.starts_with('/'));
                assert!(e.path.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
            }
        }
    }
}
