//! polyboot-core's read-only NTFS reader against volumes made by `mkntfs -F` and filled through
//! an ntfs-3g mount of a loop device (cluster sizes 512, 4096 and 65536 bytes): resident,
//! empty, large non-resident, sparse and fragmented files (fragmented by filling the volume and
//! deleting every other file), nested directories, non-ASCII names, and a directory with
//! hundreds of entries (a multi-level `$INDEX_ALLOCATION` B-tree). Everything written must read
//! back byte for byte, and directory listings must equal what the mount lists.
//!
//! Needs root, losetup and /dev/fuse (like `wtg create`); skipped with a note otherwise.

use polyboot_core::block::MemDevice;
use polyboot_core::ntfs::{AttrValue, Ntfs, NtfsError};
use polyboot_tests::{find_tool, pattern, run_tool};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Filling NTFS images through ntfs-3g needs root, losetup and /dev/fuse: fail, naming what
/// is missing, rather than pass without having run.
fn require_mount() {
    polyboot_tests::require_root("losetup and ntfs-3g mounts");
    assert!(Path::new("/dev/fuse").exists(), "/dev/fuse is missing: ntfs-3g cannot mount");
    assert!(
        Command::new("losetup").arg("--version").output().is_ok(),
        "losetup is missing (util-linux)"
    );
}

struct Loop(String);
impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
        let _ = Command::new("losetup").args(["-d", &self.0]).output();
    }
}

/// Files written (relative path -> contents) and directories listed by the mount.
type Expected = (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<String>>);

fn fill(mnt: &Path) -> Expected {
    let mut files = BTreeMap::new();
    let put = |files: &mut BTreeMap<String, Vec<u8>>, rel: &str, data: Vec<u8>| {
        std::fs::write(mnt.join(rel), &data).unwrap();
        files.insert(rel.to_string(), data);
    };
    std::fs::create_dir_all(mnt.join("Boot/Fonts")).unwrap();
    std::fs::create_dir_all(mnt.join("many")).unwrap();
    std::fs::create_dir_all(mnt.join("fill")).unwrap();
    put(&mut files, "bootmgr", pattern(1, 400_000));
    put(&mut files, "Boot/BCD", pattern(2, 24_576));
    put(&mut files, "Boot/Fonts/tiny.ttf", b"resident".to_vec());
    put(&mut files, "empty", Vec::new());
    put(&mut files, "Ünïcødé ファイル.txt", pattern(3, 3000));
    for i in 0..600 {
        put(
            &mut files,
            &format!("many/entry number {i:04} with a fairly long name.txt"),
            format!("entry {i}\n").into_bytes(),
        );
    }
    // Sparse: 1 MiB hole, 5000 bytes of data, hole to 3 MiB.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(mnt.join("sparse.bin")).unwrap();
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        let d = pattern(4, 5000);
        f.write_all(&d).unwrap();
        f.set_len(3 << 20).unwrap();
        let mut all = vec![0u8; 3 << 20];
        all[1 << 20..(1 << 20) + 5000].copy_from_slice(&d);
        files.insert("sparse.bin".into(), all);
    }
    // Fragment: fill the volume with 96 KiB files, delete every other one, then write a file
    // larger than any hole.
    let chunk = pattern(5, 96 << 10);
    let mut n = 0;
    while std::fs::write(mnt.join(format!("fill/{n}")), &chunk).is_ok() {
        n += 1;
    }
    let _ = std::fs::remove_file(mnt.join(format!("fill/{n}")));
    for i in (0..n).step_by(2) {
        std::fs::remove_file(mnt.join(format!("fill/{i}"))).unwrap();
    }
    for i in (1..n).step_by(2) {
        files.insert(format!("fill/{i}"), chunk.clone());
    }
    put(&mut files, "fragmented.bin", pattern(6, (n / 2 - 2).max(2) * (96 << 10) * 3 / 4));
    let mut dirs = BTreeMap::new();
    for d in ["", "Boot", "Boot/Fonts", "many", "fill"] {
        let mut names: Vec<String> = std::fs::read_dir(mnt.join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        dirs.insert(d.to_string(), names);
    }
    (files, dirs)
}

#[test]
fn reads_what_ntfs3g_wrote() {
    require_mount();
    for (cluster, mib) in [(4096u32, 48u64), (512, 32), (65536, 96)] {
        let tmp = tempfile::tempdir().unwrap();
        let img = tmp.path().join("ntfs.img");
        std::fs::File::create(&img).unwrap().set_len(mib << 20).unwrap();
        run_tool(
            Command::new(find_tool("mkntfs"))
                .args(["-F", "-f", "-q", "-L", "WTGTEST", "-c", &cluster.to_string()])
                .arg(&img),
        )
        .unwrap();
        let dev = run_tool(Command::new("losetup").args(["-f", "--show"]).arg(&img))
            .unwrap()
            .trim()
            .to_string();
        let lo = Loop(dev.clone());
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        run_tool(Command::new(find_tool("ntfs-3g")).arg(&dev).arg(&mnt)).unwrap();
        let (files, dirs) = fill(&mnt);
        run_tool(Command::new("umount").arg(&mnt)).unwrap();
        drop(lo);

        let bytes = std::fs::read(&img).unwrap();
        let mut fs = Ntfs::open(MemDevice::from_vec(bytes)).unwrap();
        assert_eq!(fs.boot.cluster_size, cluster);
        for (path, data) in &files {
            let got = fs
                .read_file(path, 64 << 20)
                .unwrap_or_else(|e| panic!("cluster {cluster}: {path}: {e}"));
            assert!(got == *data, "cluster {cluster}: {path}: contents differ");
            if path.is_ascii() {
                // ASCII names compare without case, with either separator.
                let upper = path.to_uppercase().replace('/', "\\");
                assert!(
                    fs.read_file(&upper, 64 << 20).unwrap() == *data,
                    "cluster {cluster}: {upper}"
                );
            }
        }
        for (dir, want) in &dirs {
            // The root also lists the metadata files ($MFT, ...) and itself as ".".
            let mut got: Vec<String> = fs
                .read_dir(dir)
                .unwrap()
                .into_iter()
                .filter(|e| {
                    !(dir.is_empty() && (e.record < 16 || e.name == "." || e.name == "$Extend"))
                })
                .map(|e| e.name)
                .collect();
            got.sort();
            assert_eq!(&got, want, "cluster {cluster}: listing of /{dir}");
        }
        // The big directory really is an $INDEX_ALLOCATION B-tree, and the fragmented file has
        // several runs.
        let many = fs.lookup_record("many").unwrap();
        assert!(
            many.attributes.iter().any(|a| a.ty == 0xA0),
            "cluster {cluster}: /many has no $INDEX_ALLOCATION"
        );
        let frag = fs.lookup_record("fragmented.bin").unwrap();
        match fs.data(&frag).unwrap() {
            AttrValue::NonResident { runs, .. } => {
                assert!(
                    runs.len() > 1,
                    "cluster {cluster}: fragmented.bin has {} run(s)",
                    runs.len()
                )
            }
            v => panic!("fragmented.bin is {v:?}"),
        }
        let e = fs.lookup("/Boot/Fonts").unwrap();
        assert!(e.is_dir);
        assert_eq!(fs.read_file("/Boot", 1 << 20), Err(NtfsError::IsADirectory));
        assert_eq!(fs.read_file("/nope", 1 << 20), Err(NtfsError::NotFound));
        assert_eq!(fs.read_file("/bootmgr/x", 1 << 20), Err(NtfsError::NotADirectory));
        assert!(matches!(
            fs.read_file("/bootmgr", 1000),
            Err(NtfsError::TooLarge { size: 400_000, limit: 1000 })
        ));
        eprintln!("cluster {cluster}: {} files, {} directories read back", files.len(), dirs.len());
    }
}
