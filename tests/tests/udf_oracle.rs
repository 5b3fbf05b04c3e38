//! polyboot-core's read-only UDF reader against images made by independent writers, with
//! udftools' `udfinfo` as a second reader:
//!
//! - `genisoimage -udf -R -J` (the UDF 1.02 bridge format of Windows ISOs) of a tree with
//!   nested directories, an empty file, small and multi-block files of pattern data, a
//!   non-ASCII name and a directory of 300 entries: every file reads back byte for byte (also
//!   straight from the image at its `contiguous_range`), listings equal the tree, and block
//!   size, label and UDF revision equal what `udfinfo` says;
//! - a file a little over 1 GiB (sparse on the host, pattern bytes at known offsets), which
//!   UDF splits into several adjacent extents: still one contiguous range, markers in place;
//! - `mkudffs` empty volumes (UDF 1.02 and 2.01 at 512 and 2048-byte blocks; 2.50 and 2.60,
//!   which mkudffs only writes for write-once media, must be refused as `Unsupported`).
//!
//! Needs the Debian packages `genisoimage` and `udftools` (`cargo xtask deps` installs them).

use polyboot_core::block::{MemDevice, ReadAt};
use polyboot_core::udf::{self, UdfData, UdfError, UdfFile, UdfVolume};
use polyboot_tests::{find_tool, host_paths, pattern, run_tool};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

type FileDevice = polyboot::drive::io::FileDevice;

/// The tools' paths; a missing one fails the test naming its Debian package (an oracle test
/// must not pass without its oracle).
fn tools(names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|n| find_tool(n)).collect()
}

/// `udfinfo IMAGE` as key -> value.
fn udfinfo(udfinfo: &Path, img: &Path) -> BTreeMap<String, String> {
    let out = run_tool(Command::new(udfinfo).arg(img).env("LC_ALL", "C.UTF-8")).unwrap();
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// "1.02" -> 0x0102
fn revision(s: &str) -> u16 {
    let (major, minor) = s.split_once('.').unwrap();
    (major.parse::<u16>().unwrap() << 8) | u16::from_str_radix(minor, 16).unwrap()
}

fn check_against_udfinfo(vol: &UdfVolume, info: &BTreeMap<String, String>) {
    assert_eq!(vol.block_size.to_string(), info["blocksize"], "block size");
    assert_eq!(vol.volume_id, info["lvid"], "logical volume identifier");
    assert_eq!(vol.volume_id, info["label"], "label");
    assert_eq!(vol.udf_revision, Some(revision(&info["udfrev"])), "UDF revision");
}

/// Every path of the volume (`/a`, `/a/b`, ...), listed directory by directory.
fn udf_paths(vol: &UdfVolume, dev: &mut MemDevice) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![(vol.root(dev).unwrap(), String::new())];
    while let Some((dir, path)) = stack.pop() {
        for e in vol.read_dir(dev, &dir).unwrap() {
            let p = format!("{path}/{}", e.name);
            assert!(out.insert(p.clone()), "{p} listed twice");
            if e.is_dir() {
                stack.push((e, p));
            }
        }
    }
    out
}

fn genisoimage(tools: &[PathBuf], tree: &Path, iso: &Path, label: &str) {
    run_tool(
        Command::new(&tools[0])
            .args(["-quiet", "-input-charset", "utf-8", "-udf", "-R", "-J", "-V", label, "-o"])
            .arg(iso)
            .arg(tree),
    )
    .unwrap();
}

#[test]
fn reads_genisoimage_udf_trees() {
    let tools = tools(&["genisoimage", "udfinfo"]);
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut put = |rel: &str, data: Vec<u8>| {
        let p = tree.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &data).unwrap();
        files.insert(rel.to_string(), data);
    };
    put(
        "README.TXT",
        b"This disc holds the Windows installation files in its UDF tree.\n".to_vec(),
    );
    put("sources/install.wim", pattern(1, 3_000_001));
    put("sources/boot.wim", pattern(2, 2048 * 7));
    put("boot/grub/grub.cfg", b"set timeout=5\n".to_vec());
    put("empty", Vec::new());
    put("a/b/c/d/e/deep.txt", pattern(3, 77));
    put("Ünïcødé ファイル.txt", pattern(4, 4097));
    for i in 0..300 {
        put(
            &format!("many/entry number {i:03} with a long name.txt"),
            pattern(100 + i, (i as usize * 37) % 5000),
        );
    }
    std::fs::create_dir_all(tree.join("empty dir")).unwrap();
    let iso = tmp.path().join("tree.iso");
    genisoimage(&tools, &tree, &iso, "POLYBOOT_UDF");
    let image = std::fs::read(&iso).unwrap();
    let mut dev = MemDevice::from_vec(image.clone());
    let vol = udf::probe(&mut dev).unwrap();
    assert_eq!(vol.block_size, 2048);
    assert_eq!(vol.volume_id, "POLYBOOT_UDF");
    assert_eq!(vol.udf_revision, Some(0x0102));
    check_against_udfinfo(&vol, &udfinfo(&tools[1], &iso));

    assert_eq!(udf_paths(&vol, &mut dev), host_paths(&tree), "listing");
    let many = vol.lookup(&mut dev, "many").unwrap();
    assert_eq!(vol.read_dir(&mut dev, &many).unwrap().len(), 300);

    for (path, want) in &files {
        let e = vol.lookup(&mut dev, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!e.is_dir());
        assert_eq!(e.size, want.len() as u64, "{path}");
        let mut got = vec![0u8; want.len()];
        vol.read_file(&mut dev, &e, 0, &mut got).unwrap();
        assert!(got == *want, "{path}: contents differ");
        match e.contiguous_range() {
            Some((off, len)) => {
                assert_eq!(len, want.len() as u64);
                assert!(
                    image[off as usize..(off + len) as usize] == want[..],
                    "{path}: range holds other bytes"
                );
            }
            None => assert!(want.is_empty(), "{path}: genisoimage writes files contiguously"),
        }
        // Through the ReadAt adaptor, at an odd offset.
        let mut f = UdfFile::new(&mut dev, &vol, &e).unwrap();
        assert_eq!(f.size(), want.len() as u64);
        if want.len() > 10 {
            let mut part = vec![0u8; want.len() - 7];
            f.read_at(7, &mut part).unwrap();
            assert!(part == want[7..], "{path}: UdfFile");
        }
        assert!(f.read_at(want.len() as u64, &mut [0u8]).is_err());
    }
    // Case-insensitive fallback, leading slash, directories.
    assert_eq!(vol.lookup(&mut dev, "/SOURCES/Install.WIM").unwrap().size, 3_000_001);
    assert!(vol.lookup(&mut dev, "a/b/c").unwrap().is_dir());
    assert!(matches!(vol.lookup(&mut dev, "sources/nope.wim"), Err(UdfError::NotFound)));
    assert!(matches!(vol.lookup(&mut dev, "README.TXT/x"), Err(UdfError::NotADirectory)));

    // Cut copies: errors, never panics, and never a wrong byte.
    for cut in [image.len() / 2, image.len() - 2048, 300 * 2048, 257 * 2048, 40_000] {
        let mut d = MemDevice::from_vec(image[..cut].to_vec());
        if let Ok(v) = udf::probe(&mut d) {
            if let Ok(e) = v.lookup(&mut d, "sources/install.wim") {
                let mut got = vec![0u8; e.size as usize];
                if v.read_file(&mut d, &e, 0, &mut got).is_ok() {
                    assert!(got == files["sources/install.wim"]);
                }
            }
        }
    }
}

#[test]
fn file_over_one_gib_is_one_contiguous_range() {
    let tools = tools(&["genisoimage", "udfinfo"]);
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("sources")).unwrap();
    let size: u64 = (1 << 30) + 5 * 2048 + 123;
    let markers: Vec<(u64, Vec<u8>)> =
        [0, 4095, 1 << 29, (1 << 30) - 40, 1 << 30, (1 << 30) + 2048 * 3 + 1, size - 16]
            .iter()
            .enumerate()
            .map(|(i, &at)| (at, pattern(50 + i as u64, 16)))
            .collect();
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(tree.join("sources/install.wim")).unwrap();
        f.set_len(size).unwrap();
        for (at, bytes) in &markers {
            f.write_all_at(bytes, *at).unwrap();
        }
    }
    let iso = tmp.path().join("big.iso");
    genisoimage(&tools, &tree, &iso, "BIG");
    let mut dev = FileDevice::open(&iso).unwrap();
    let vol = udf::probe(&mut dev).unwrap();
    check_against_udfinfo(&vol, &udfinfo(&tools[1], &iso));
    let e = vol.lookup(&mut dev, "sources/install.wim").unwrap();
    assert_eq!(e.size, size);
    let UdfData::Extents(extents) = &e.data else { panic!("not extents") };
    assert!(extents.len() > 1, "UDF splits files over 1 GiB: {extents:?}");
    let (off, len) = e.contiguous_range().expect("adjacent extents");
    assert_eq!(len, size);
    let mut buf = [0u8; 16];
    for (at, bytes) in &markers {
        vol.read_file(&mut dev, &e, *at, &mut buf).unwrap();
        assert_eq!(&buf, &bytes[..], "marker at {at}");
        dev.read_at(off + at, &mut buf).unwrap();
        assert_eq!(&buf, &bytes[..], "marker at {at}, straight from the image");
    }
    let mut f = UdfFile::new(&mut dev, &vol, e).unwrap();
    f.read_at(size - 16, &mut buf).unwrap();
    assert_eq!(&buf, &markers.last().unwrap().1[..]);
    drop(f);
    std::fs::remove_file(&iso).unwrap();
}

#[test]
fn reads_mkudffs_volumes() {
    let tools = tools(&["mkudffs", "udfinfo"]);
    let tmp = tempfile::tempdir().unwrap();
    for rev in ["1.02", "2.01"] {
        for bs in [512u32, 2048, 4096] {
            let img = tmp.path().join(format!("udf-{rev}-{bs}.img"));
            std::fs::File::create(&img).unwrap().set_len(8 << 20).unwrap();
            let label = format!("PB{}B{bs}", rev.replace('.', ""));
            run_tool(
                Command::new(&tools[0])
                    .args([
                        "--media-type=hd",
                        &format!("--blocksize={bs}"),
                        &format!("--udfrev={rev}"),
                    ])
                    .arg(format!("--label={label}"))
                    .arg(&img),
            )
            .unwrap();
            let info = udfinfo(&tools[1], &img);
            let mut dev = MemDevice::from_vec(std::fs::read(&img).unwrap());
            let vol = udf::probe(&mut dev).unwrap_or_else(|e| panic!("{rev} at {bs}: {e}"));
            assert_eq!(vol.block_size, bs);
            assert_eq!(vol.volume_id, label);
            assert_eq!(vol.udf_revision, Some(revision(rev)));
            check_against_udfinfo(&vol, &info);
            // udfinfo counts the root among the directories.
            let root = vol.root(&mut dev).unwrap();
            let n: usize = info["numfiles"].parse::<usize>().unwrap()
                + info["numdirs"].parse::<usize>().unwrap()
                - 1;
            assert_eq!(vol.read_dir(&mut dev, &root).unwrap().len(), n, "{rev} at {bs}");
            assert!(vol.lookup(&mut dev, "/").unwrap().is_dir());
        }
    }
    // mkudffs writes UDF 2.50 / 2.60 only for write-once media, with a virtual partition.
    for rev in ["2.50", "2.60"] {
        let img = tmp.path().join(format!("udf-{rev}.img"));
        std::fs::File::create(&img).unwrap().set_len(8 << 20).unwrap();
        run_tool(
            Command::new(&tools[0])
                .args(["--media-type=bdr", &format!("--udfrev={rev}"), "--label=BDR"])
                .arg(&img),
        )
        .unwrap();
        let err = udf::probe(&mut MemDevice::from_vec(std::fs::read(&img).unwrap())).unwrap_err();
        assert!(matches!(&err, UdfError::Unsupported(why) if why.contains("VAT")), "{rev}: {err}");
    }
}
