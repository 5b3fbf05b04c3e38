//! Our exFAT code checked against exfatprogs, an independent implementation:
//! - images we format and fill must pass `fsck.exfat`, and `dump.exfat` must see what we wrote;
//! - images made by `mkfs.exfat` must be readable and writable by us (fsck still clean);
//! - files created by exfatprogs itself (fsck's lost-cluster rescue) must read back correctly.
//!
//! Images are sparse temp files; nothing is mounted. The tests fail (not skip) when exfatprogs
//! is missing.

use polyboot_core::block::{ReadAt, WriteAt};
use polyboot_core::exfat::{self, ExFat, FormatInfo, FormatOptions, Timestamp};
use polyboot_tests::{find_tool, pattern};
use std::path::Path;
use std::process::Command;

/// A host file as a block device: the CLI's own adaptor.
type HostImage = polyboot::drive::io::FileDevice;

/// Create a sparse image of `size` bytes.
fn create_image(path: &Path, size: u64) -> HostImage {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(size).unwrap();
    HostImage::open_rw(path).unwrap()
}

fn open_image(path: &Path) -> HostImage {
    HostImage::open_rw(path).unwrap()
}

const T: Timestamp = Timestamp::EPOCH;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Run an exfatprogs tool; returns (exit code, stdout + stderr).
fn run(name: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(find_tool(name))
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// `fsck.exfat -n` must exit 0, call the volume clean and report no errors.
fn assert_fsck_clean(image: &Path) {
    let (code, out) = run("fsck.exfat", &["-n", image.to_str().unwrap()]);
    assert!(
        code == 0 && out.contains("clean") && !out.contains("ERROR"),
        "fsck.exfat -n {image:?} (exit {code}):\n{out}"
    );
}

/// fsck's lost-cluster rescue (`-y -s`) must find nothing to fix: no errors, no rescued
/// files, and the same number of free clusters before and after. `fsck -n` alone does not
/// report clusters that are allocated but belong to no file.
fn assert_no_lost_clusters(image: &Path) {
    let free_before = dump_field(image, "Free Clusters:");
    let (_, out) = run("fsck.exfat", &["-y", "-s", image.to_str().unwrap()]);
    assert!(!out.contains("ERROR"), "fsck.exfat -y -s {image:?} repaired something:\n{out}");
    assert_eq!(
        dump_field(image, "Free Clusters:"),
        free_before,
        "fsck changed the allocation:\n{out}"
    );
    let mut fs = ExFat::open(open_image(image)).unwrap();
    match fs.read_dir("/LOST+FOUND") {
        Ok(lost) => assert!(lost.is_empty(), "fsck rescued lost clusters into {lost:?}"),
        Err(exfat::Error::NotFound) => {}
        Err(e) => panic!("reading LOST+FOUND: {e}"),
    }
}

/// A "Name:   value" field from `dump.exfat`.
fn dump_field(image: &Path, field: &str) -> String {
    let (code, out) = run("dump.exfat", &[image.to_str().unwrap()]);
    assert_eq!(code, 0, "dump.exfat {image:?}:\n{out}");
    out.lines()
        .find_map(|line| line.strip_prefix(field))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("dump.exfat printed no {field:?}:\n{out}"))
}

fn format_image(path: &Path, size: u64, opts: &FormatOptions) -> FormatInfo {
    let mut img = create_image(path, size);
    exfat::format(&mut img, opts).unwrap()
}

fn read_all(fs: &mut ExFat<HostImage>, path: &str) -> Vec<u8> {
    fs.read_to_vec(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn our_format_passes_fsck_and_dump_sees_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (64 * MIB, 512, 0, "POLYBOOT"),
        (GIB, 4096, 0, "PB4K"),
        (GIB, 512, 128 << 10, "Ünïcödé"),
        (64 * MIB, 4096, 4096, ""),
    ];
    for (i, (size, bps, cluster_size, label)) in cases.into_iter().enumerate() {
        let image = dir.path().join(format!("format-{i}.img"));
        let opts = FormatOptions {
            bytes_per_sector: bps,
            cluster_size,
            label: label.into(),
            volume_serial: 0xA1B2_C3D4 + i as u32,
            ..Default::default()
        };
        let info = format_image(&image, size, &opts);
        let expected_cluster =
            if cluster_size == 0 { exfat::recommended_cluster_size(size) } else { cluster_size };
        assert_eq!(info.cluster_size, expected_cluster);

        assert_fsck_clean(&image);
        if !label.is_empty() {
            assert_eq!(dump_field(&image, "Volume label:"), label);
        }
        assert_eq!(dump_field(&image, "Cluster size:"), info.cluster_size.to_string());
        assert_eq!(dump_field(&image, "Sector Size Bits:"), bps.trailing_zeros().to_string());
        assert_eq!(dump_field(&image, "Total Clusters:"), info.cluster_count.to_string());
        assert_eq!(dump_field(&image, "Free Clusters:"), info.free_clusters.to_string());
        assert_eq!(dump_field(&image, "Volume Serial:"), format!("{:#x}", opts.volume_serial));

        let mut fs = ExFat::open(open_image(&image)).unwrap();
        assert_eq!(fs.label(), label);
        assert_eq!(fs.free_clusters().unwrap(), info.free_clusters);
        assert_no_lost_clusters(&image);
    }
}

#[test]
fn volume_guid_entry_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("guid.img");
    let guid = *b"polyboot-guid-01";
    format_image(
        &image,
        64 * MIB,
        &FormatOptions { label: "GUID".into(), volume_guid: Some(guid), ..Default::default() },
    );
    // exfatprogs before 1.2.1 does not know the (valid, benign) Volume GUID entry type 0xA0
    // and prints an error for it while still calling the volume clean; anything else is a
    // real problem.
    let (code, out) = run("fsck.exfat", &["-n", image.to_str().unwrap()]);
    let other_errors: Vec<&str> =
        out.lines().filter(|l| l.contains("ERROR") && !l.contains("0xa0")).collect();
    assert!(
        code == 0 && out.contains("clean") && other_errors.is_empty(),
        "fsck.exfat -n (exit {code}):\n{out}"
    );
    let fs = ExFat::open(open_image(&image)).unwrap();
    assert_eq!(fs.volume_guid(), Some(guid));
    assert_eq!(fs.label(), "GUID");
}

/// Names in several scripts, surrogate pairs and lengths up to the 255-unit limit.
fn file_name(i: usize) -> String {
    match i % 5 {
        0 => format!("Ünïcödé-日本語-{i}.iso"),
        1 => format!("{i:03}-{}", "long-name-".repeat(22)),
        2 => format!("😀emoji-𝄞-{i}.img"),
        3 => format!("{i}-{}", "x".repeat(250)),
        _ => format!("file {i} (copy).bin"),
    }
}

#[test]
fn our_writer_output_passes_fsck() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("writer.img");
    let info = format_image(
        &image,
        6 * GIB,
        &FormatOptions { label: "WRITER".into(), ..Default::default() },
    );
    assert_eq!(info.cluster_size, 32 << 10);
    let mut fs = ExFat::open(open_image(&image)).unwrap();

    let dirs = [
        "/ISO/Linux/Ubuntu",
        "/ISO/Windows",
        "/Ünïcödé/日本語/каталог",
        "/deep/1/2/3/4/5/6/7/8",
        "/many",
    ];
    for d in dirs {
        fs.create_dir_all(d, T).unwrap();
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..200 {
        // Two thirds go to /many, whose ~1300 entries then outgrow one 32 KiB cluster while the
        // clusters after it are taken by file data: it must switch to a FAT chain.
        let parent = if i % 3 != 0 { "/many" } else { dirs[i % 4] };
        let path = format!("{parent}/{}", file_name(i));
        let data = pattern(i as u64, (i * 7919) % 100_000);
        fs.write_file(&path, &data, Timestamp::from_unix(1_700_000_000 + i as i64)).unwrap();
        files.push((path, data));
    }
    let many = fs.metadata("/many").unwrap();
    assert!(many.size > u64::from(info.cluster_size) && !many.contiguous, "{many:?}");

    // A 5 GiB sparse file: all clusters allocated, only the ends written.
    fs.create_dir("/persistence", T).unwrap();
    let big_size = 5 * GIB;
    let head = pattern(1000, MIB as usize);
    let tail = pattern(1001, MIB as usize);
    let mut w = fs.create_file("/persistence/casper-rw", big_size, T).unwrap();
    w.write_at(0, &head).unwrap();
    w.write_at(big_size - MIB, &tail).unwrap();
    assert_eq!(w.extents().len(), 1);

    // Remove some files and a subtree, and empty files too.
    for i in (0..200).step_by(10) {
        fs.remove(&files[i].0).unwrap();
    }
    files = files.into_iter().enumerate().filter(|(i, _)| i % 10 != 0).map(|(_, f)| f).collect();
    fs.remove_dir_all("/deep/1/2/3").unwrap();
    files.retain(|(path, _)| !path.starts_with("/deep/1/2/3/"));
    fs.write_file("/empty.txt", b"", T).unwrap();

    // Everything reads back after reopening.
    let free = fs.free_clusters().unwrap();
    drop(fs);
    let mut fs = ExFat::open(open_image(&image)).unwrap();
    assert_eq!(fs.free_clusters().unwrap(), free);
    for (path, data) in &files {
        assert_eq!(&read_all(&mut fs, path), data, "{path}");
    }
    let big = fs.metadata("/persistence/casper-rw").unwrap();
    assert_eq!((big.size, big.valid_data_length, big.contiguous), (big_size, big_size, true));
    let extents = fs.extents("/persistence/casper-rw").unwrap();
    assert_eq!(extents.len(), 1);
    assert_eq!(extents[0].len, big_size);
    let mut buf = vec![0u8; MIB as usize];
    fs.read_file("/persistence/casper-rw", 0, &mut buf).unwrap();
    assert_eq!(buf, head);
    fs.read_file("/persistence/casper-rw", big_size - MIB, &mut buf).unwrap();
    assert_eq!(buf, tail);
    fs.read_file("/persistence/casper-rw", 2 * GIB, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0), "unwritten part of a sparse image reads as zeros");
    assert_eq!(fs.metadata("/deep/1/2").unwrap().name, "2");
    assert_eq!(fs.metadata("/deep/1/2/3"), Err(exfat::Error::NotFound));

    assert_fsck_clean(&image);
    assert_eq!(dump_field(&image, "Free Clusters:"), free.to_string());
    assert_no_lost_clusters(&image);
}

#[test]
fn fragmented_files_pass_fsck() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("fragmented.img");
    format_image(
        &image,
        64 * MIB,
        &FormatOptions { label: "FRAG".into(), cluster_size: 4096, ..Default::default() },
    );
    let mut fs = ExFat::open(open_image(&image)).unwrap();
    // Fill the volume with 256 KiB files (allocated, content left sparse), then punch holes.
    fs.create_dir("/fill", T).unwrap();
    let mut count = 0;
    loop {
        match fs.create_file(&format!("/fill/{count:04}"), 256 << 10, T) {
            Ok(_) => count += 1,
            Err(exfat::Error::NoSpace) => break,
            Err(e) => panic!("{e}"),
        }
    }
    for i in (0..count).step_by(2) {
        fs.remove(&format!("/fill/{i:04}")).unwrap();
    }
    let data = pattern(42, 3 * 1024 * 1024 + 5);
    fs.write_file("/fragmented.iso", &data, T).unwrap();
    let extents = fs.extents("/fragmented.iso").unwrap();
    assert!(extents.len() > 10, "{} extents", extents.len());
    assert!(!fs.metadata("/fragmented.iso").unwrap().contiguous);
    // A directory that grows into the holes as well.
    fs.create_dir("/names", T).unwrap();
    for i in 0..100 {
        fs.write_file(&format!("/names/{}", file_name(i)), &pattern(i as u64, 10_000), T).unwrap();
    }
    drop(fs);

    let mut fs = ExFat::open(open_image(&image)).unwrap();
    assert_eq!(read_all(&mut fs, "/fragmented.iso"), data);
    for i in 0..100 {
        assert_eq!(
            read_all(&mut fs, &format!("/names/{}", file_name(i))),
            pattern(i as u64, 10_000)
        );
    }
    assert_fsck_clean(&image);
    assert_no_lost_clusters(&image);
}

#[test]
fn mkfs_images_are_read_and_extended() {
    let dir = tempfile::tempdir().unwrap();
    let variants: [(&str, &[&str]); 3] = [("4K", &[]), ("64K", &[]), ("32K", &["--pack-bitmap"])];
    for (cluster, extra) in variants {
        let image = dir.path().join(format!("mkfs-{cluster}.img"));
        drop(create_image(&image, 256 * MIB));
        let mut args = vec!["-c", cluster, "-L", "MKFSLBL"];
        args.extend_from_slice(extra);
        args.push(image.to_str().unwrap());
        let (code, out) = run("mkfs.exfat", &args);
        assert_eq!(code, 0, "mkfs.exfat {args:?}:\n{out}");

        let mut fs = ExFat::open(open_image(&image)).unwrap();
        assert_eq!(fs.label(), "MKFSLBL");
        assert_eq!(fs.cluster_size().to_string(), dump_field(&image, "Cluster size:"));
        assert_eq!(fs.free_clusters().unwrap().to_string(), dump_field(&image, "Free Clusters:"));
        assert!(fs.read_dir("/").unwrap().is_empty());
        assert!(fs.metadata("/").unwrap().is_dir());

        let mut files = Vec::new();
        fs.create_dir_all("/boot/grub/i386-pc", T).unwrap();
        for i in 0..40 {
            let parent = ["/", "/boot", "/boot/grub/i386-pc"][i % 3];
            let path = format!("{}/{}", parent.trim_end_matches('/'), file_name(i));
            let data = pattern(i as u64 + 500, (i * 31_337) % 200_000);
            fs.write_file(&path, &data, T).unwrap();
            files.push((path, data));
        }
        let big = pattern(7, 20 * MIB as usize + 3);
        fs.write_file("/big.iso", &big, T).unwrap();
        fs.remove(&files[5].0).unwrap();
        files.remove(5);
        drop(fs);

        let mut fs = ExFat::open(open_image(&image)).unwrap();
        for (path, data) in &files {
            assert_eq!(&read_all(&mut fs, path), data, "{path}");
        }
        assert_eq!(read_all(&mut fs, "/BIG.ISO"), big);
        let free = fs.free_clusters().unwrap();
        assert_fsck_clean(&image);
        assert_eq!(dump_field(&image, "Free Clusters:"), free.to_string());
        assert_eq!(dump_field(&image, "Volume label:"), "MKFSLBL");
        assert_no_lost_clusters(&image);
    }
}

/// Boot sector fields, parsed here independently of the code under test.
struct Geometry {
    sector_shift: u32,
    cluster_shift: u32,
    fat_offset: u64,
    heap_offset: u64,
    cluster_count: u32,
    root_cluster: u32,
}

impl Geometry {
    fn read(img: &mut HostImage) -> Geometry {
        let mut bs = [0u8; 512];
        img.read_at(0, &mut bs).unwrap();
        let u32_at = |at: usize| u32::from_le_bytes(bs[at..at + 4].try_into().unwrap());
        let sector_shift = u32::from(bs[108]);
        Geometry {
            sector_shift,
            cluster_shift: sector_shift + u32::from(bs[109]),
            fat_offset: u64::from(u32_at(80)) << sector_shift,
            heap_offset: u64::from(u32_at(88)) << sector_shift,
            cluster_count: u32_at(92),
            root_cluster: u32_at(96),
        }
    }
    fn cluster(&self, c: u32) -> u64 {
        self.heap_offset + (u64::from(c - 2) << self.cluster_shift)
    }
}

#[test]
fn files_created_by_exfatprogs_are_read() {
    // fsck.exfat's rescue mode turns allocated clusters that belong to no file into files in
    // /LOST+FOUND: entry sets, name hashes and checksums all written by exfatprogs.
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("rescue.img");
    drop(create_image(&image, 64 * MIB));
    let (code, out) = run("mkfs.exfat", &["-c", "4K", "-L", "RESCUE", image.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");

    let mut img = open_image(&image);
    let geo = Geometry::read(&mut img);
    assert_eq!(geo.sector_shift, 9);
    let cluster_size = 1usize << geo.cluster_shift;
    // Find the allocation bitmap through the root directory.
    let mut root = vec![0u8; cluster_size];
    img.read_at(geo.cluster(geo.root_cluster), &mut root).unwrap();
    let bitmap_entry = root.chunks(32).find(|e| e[0] == 0x81).expect("bitmap entry");
    let bitmap_cluster = u32::from_le_bytes(bitmap_entry[20..24].try_into().unwrap());
    // Orphan clusters near the end of the heap: data, FAT chain, bitmap bits.
    let first = geo.cluster_count - 20;
    let orphan: Vec<u32> = (first..first + 3).collect();
    let data = pattern(99, 3 * cluster_size);
    for (n, &c) in orphan.iter().enumerate() {
        img.write_at(geo.cluster(c), &data[n * cluster_size..(n + 1) * cluster_size]).unwrap();
        let next = orphan.get(n + 1).copied().unwrap_or(0xFFFF_FFFF);
        img.write_at(geo.fat_offset + 4 * u64::from(c), &next.to_le_bytes()).unwrap();
        let bit = c - 2;
        let at = geo.cluster(bitmap_cluster) + u64::from(bit / 8);
        let mut byte = [0u8];
        img.read_at(at, &mut byte).unwrap();
        byte[0] |= 1 << (bit % 8);
        img.write_at(at, &byte).unwrap();
    }
    drop(img);
    let (_, out) = run("fsck.exfat", &["-y", "-s", image.to_str().unwrap()]);

    let mut fs = ExFat::open(open_image(&image)).unwrap();
    assert_eq!(fs.label(), "RESCUE");
    let root = fs.read_dir("/").unwrap();
    let lost_dir = root
        .iter()
        .find(|e| e.is_dir())
        .unwrap_or_else(|| panic!("no rescue directory; fsck said:\n{out}"));
    let listing = fs.read_dir_report(&format!("/{}", lost_dir.name)).unwrap();
    assert!(listing.corrupt.is_empty(), "{:?}", listing.corrupt);
    assert_eq!(listing.entries.len(), 1, "{listing:?}\nfsck said:\n{out}");
    let rescued = &listing.entries[0];
    let path = format!("/{}/{}", lost_dir.name.to_lowercase(), rescued.name.to_lowercase());
    assert_eq!(rescued.size, data.len() as u64);
    assert_eq!(read_all(&mut fs, &path), data);
    let extents = fs.extents(&path).unwrap();
    assert_eq!(extents.len(), 1, "adjacent clusters merge into one extent");
    assert_eq!(extents[0].device_offset, geo.cluster(first));

    // And we can keep writing next to exfatprogs' entries.
    fs.write_file(&format!("/{}/ours.txt", lost_dir.name), b"written by polyboot", T).unwrap();
    assert_eq!(
        fs.write_file(&format!("/{}/{}", lost_dir.name, rescued.name.to_uppercase()), b"", T),
        Err(exfat::Error::AlreadyExists)
    );
    drop(fs);
    assert_fsck_clean(&image);
}
