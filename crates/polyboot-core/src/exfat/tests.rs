//! Unit tests on in-memory volumes. Independent checks against exfatprogs live in
//! tests/tests/exfat_oracle.rs.

use super::boot::boot_checksum_add;
use super::dirent::{set_checksum, ENTRY_SIZE};
use super::upcase::{generate_table, name_hash_upcased, table_checksum_add, UpcaseDecoder};
use super::*;
use crate::block::{MemDevice, ReadAt, WriteAt};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

const T0: Timestamp = Timestamp::EPOCH;

fn options(label: &str, cluster_size: u32) -> FormatOptions {
    FormatOptions {
        cluster_size,
        label: label.to_string(),
        volume_serial: 0xC0FF_EE00,
        ..Default::default()
    }
}

fn new_volume(size: usize, cluster_size: u32) -> ExFat<MemDevice> {
    let mut dev = MemDevice::new(size);
    format(&mut dev, &options("TEST", cluster_size)).unwrap();
    ExFat::open(dev).unwrap()
}

/// Deterministic content that differs per file and per offset.
fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

use crate::testutil::Rng;

fn read_all<D: ReadAt>(fs: &mut ExFat<D>, path: &str) -> Vec<u8> {
    fs.read_to_vec(path).unwrap()
}

/// Recompute the main boot region checksum after editing boot sector fields.
fn reseal_boot_region(dev: &mut MemDevice, bps: usize) {
    let mut sum = 0;
    for i in 0..11 {
        sum = boot_checksum_add(sum, &dev.data[i * bps..(i + 1) * bps], i == 0);
    }
    for word in dev.data[11 * bps..12 * bps].chunks_exact_mut(4) {
        word.copy_from_slice(&sum.to_le_bytes());
    }
}

#[test]
fn format_then_open_reports_layout() {
    let mut dev = MemDevice::new(32 << 20);
    let opts = FormatOptions {
        label: "Ventoy-ish".to_string(),
        volume_guid: Some(*b"0123456789abcdef"),
        partition_offset_sectors: 2048,
        ..options("", 0)
    };
    let info = format(&mut dev, &opts).unwrap();
    assert_eq!(info.cluster_size, 4096, "recommended size for 32 MiB");
    assert_eq!(
        info.cluster_heap_offset_sectors % (info.cluster_size / 512),
        0,
        "heap aligned to clusters"
    );
    assert_eq!(
        u64::from(info.cluster_heap_offset_sectors) * 512 % (1 << 20),
        0,
        "heap aligned to 1 MiB"
    );
    assert!(u64::from(info.fat_length_sectors) * 512 >= (u64::from(info.cluster_count) + 2) * 4);

    let mut fs = ExFat::open(dev).unwrap();
    assert_eq!(fs.label(), "Ventoy-ish");
    assert_eq!(fs.volume_serial(), 0xC0FF_EE00);
    assert_eq!(fs.volume_guid(), Some(*b"0123456789abcdef"));
    assert_eq!(fs.cluster_size(), 4096);
    assert_eq!(fs.bytes_per_sector(), 512);
    assert_eq!(fs.cluster_count(), info.cluster_count);
    assert_eq!(fs.free_clusters().unwrap(), info.free_clusters);
    assert!(!fs.is_dirty());
    assert!(fs.read_dir("/").unwrap().is_empty());
    let root = fs.metadata("/").unwrap();
    assert!(root.is_dir());
    assert_eq!(root.size, 4096);
    assert_eq!(crate::bytes::le64(&fs.device().data, 64).unwrap(), 2048, "PartitionOffset");
}

#[test]
fn format_with_4k_sectors_and_big_clusters() {
    for (bps, cluster) in [(4096, 4096), (4096, 65536), (512, 512), (512, 1 << 20)] {
        let mut dev = MemDevice::new(24 << 20);
        let opts = FormatOptions { bytes_per_sector: bps, ..options("B", cluster) };
        let info = format(&mut dev, &opts).unwrap();
        let mut fs = ExFat::open(dev).unwrap();
        assert_eq!(fs.bytes_per_sector(), bps);
        assert_eq!(fs.cluster_size(), cluster);
        assert_eq!(fs.free_clusters().unwrap(), info.free_clusters);
        let data = pattern(bps ^ cluster, 3 * cluster as usize / 2 + 7);
        fs.create_dir_all("/a/b", T0).unwrap();
        fs.write_file("/a/b/f.bin", &data, T0).unwrap();
        assert_eq!(read_all(&mut fs, "/a/b/f.bin"), data);
    }
}

#[test]
fn format_rejects_bad_options() {
    let mut dev = MemDevice::new(8 << 20);
    let bad = [
        FormatOptions { bytes_per_sector: 300, ..options("", 4096) },
        FormatOptions { bytes_per_sector: 8192, ..options("", 8192) },
        options("", 3000),
        FormatOptions { bytes_per_sector: 4096, ..options("", 2048) },
        options("", 64 << 20),
        options("TWELVE CHARS", 4096),
        options("A*B", 4096),
    ];
    for opts in bad {
        assert!(format(&mut dev, &opts).is_err(), "{opts:?}");
    }
    let mut tiny = MemDevice::new(512 << 10);
    assert!(matches!(format(&mut tiny, &options("", 4096)), Err(Error::InvalidArgument(_))));
    // A 1 MiB volume with huge clusters has no room for the system structures.
    let mut small = MemDevice::new(1 << 20);
    assert!(format(&mut small, &options("", 256 << 10)).is_err());
    assert!(format(&mut small, &options("", 4096)).is_ok());
}

#[test]
fn recommended_cluster_sizes_follow_microsoft_defaults() {
    assert_eq!(recommended_cluster_size(64 << 20), 4096);
    assert_eq!(recommended_cluster_size(256 << 20), 4096);
    assert_eq!(recommended_cluster_size((256 << 20) + 1), 32 << 10);
    assert_eq!(recommended_cluster_size(32 << 30), 32 << 10);
    assert_eq!(recommended_cluster_size(64 << 30), 128 << 10);
}

#[test]
fn boot_checksum_skips_flags_and_detects_damage() {
    let mut dev = MemDevice::new(8 << 20);
    format(&mut dev, &options("CHK", 4096)).unwrap();
    // The checksum ignores VolumeFlags and PercentInUse.
    let mut edited = dev.clone();
    edited.data[106] = 0x02;
    edited.data[112] = 55;
    assert!(ExFat::open(edited).unwrap().is_dirty());

    // Damage in the main region: the backup is used and writing is refused.
    let mut damaged = dev.clone();
    damaged.data[3 * 512 + 17] ^= 0x40;
    let mut fs = ExFat::open(damaged).unwrap();
    assert!(fs.opened_from_backup());
    assert_eq!(fs.label(), "CHK");
    assert!(matches!(fs.create_dir("/x", T0), Err(Error::Corrupt(_))));

    // Damage in both regions: the volume does not open.
    let mut both = dev.clone();
    both.data[3 * 512 + 17] ^= 0x40;
    both.data[15 * 512 + 17] ^= 0x40;
    assert!(matches!(ExFat::open(both), Err(Error::Corrupt(_))));

    // The stored checksum is the documented rotate-and-add over sectors 0..=10.
    let mut sum = 0u32;
    for (i, &b) in dev.data[..11 * 512].iter().enumerate() {
        if i != 106 && i != 107 && i != 112 {
            sum = (if sum & 1 != 0 { 0x8000_0000 } else { 0 }) + (sum >> 1) + u32::from(b);
        }
    }
    assert_eq!(crate::bytes::le32(&dev.data, 11 * 512).unwrap(), sum);
    assert_eq!(crate::bytes::le32(&dev.data, 12 * 512 - 4).unwrap(), sum);
    // The backup region is identical.
    assert_eq!(dev.data[..12 * 512], dev.data[12 * 512..24 * 512]);
}

#[test]
fn hostile_boot_sector_fields_are_rejected() {
    let mut good = MemDevice::new(8 << 20);
    format(&mut good, &options("H", 4096)).unwrap();
    type Edit = fn(&mut [u8]);
    let edits: &[(&str, Edit)] = &[
        ("signature", |s| s[511] = 0),
        ("name", |s| s[3] = b'N'),
        ("must be zero", |s| s[40] = 1),
        ("revision", |s| s[105] = 2),
        ("sector shift low", |s| s[108] = 8),
        ("sector shift high", |s| s[108] = 13),
        ("cluster shift", |s| s[109] = 17),
        ("fat count", |s| s[110] = 3),
        ("volume length past device", |s| s[72..80].copy_from_slice(&u64::MAX.to_le_bytes())),
        ("tiny volume", |s| s[72..80].copy_from_slice(&16u64.to_le_bytes())),
        ("fat offset", |s| s[80..84].copy_from_slice(&3u32.to_le_bytes())),
        ("fat length", |s| s[84..88].copy_from_slice(&1u32.to_le_bytes())),
        ("fat over heap", |s| s[84..88].copy_from_slice(&u32::MAX.to_le_bytes())),
        ("heap past volume", |s| s[92..96].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes())),
        ("zero clusters", |s| s[92..96].copy_from_slice(&0u32.to_le_bytes())),
        ("root cluster", |s| s[96..100].copy_from_slice(&1u32.to_le_bytes())),
        ("root cluster high", |s| s[96..100].copy_from_slice(&u32::MAX.to_le_bytes())),
    ];
    for (what, edit) in edits {
        let mut dev = good.clone();
        edit(&mut dev.data[..512]);
        // Break the backup too so the checks on the main sector are what we see.
        dev.data[12 * 512] = 0;
        reseal_boot_region(&mut dev, 512);
        assert!(matches!(ExFat::open(dev), Err(Error::Corrupt(_))), "{what} accepted");
    }
}

#[test]
fn upcase_table_round_trips_and_checksums() {
    let table = generate_table();
    assert_eq!(table.len() % 2, 0);
    let values: Vec<u16> =
        table.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    // 0xFFFF only ever appears as a compression marker, followed by a run length.
    let mut i = 0;
    let mut covered = 0u32;
    while i < values.len() {
        if values[i] == 0xFFFF {
            covered += u32::from(values[i + 1]);
            i += 2;
        } else {
            covered += 1;
            i += 1;
        }
    }
    assert_eq!(covered, 0x10000, "the table describes every code unit");

    let mut decoder = UpcaseDecoder::default();
    values.iter().for_each(|&v| decoder.push(v));
    let upcase = decoder.finish();
    for (c, upper) in
        (0u16..128).map(|c| (c, if (0x61..=0x7A).contains(&c) { c - 0x20 } else { c }))
    {
        assert_eq!(upcase.upcase(c), upper, "mandatory mapping of {c:#x}");
    }
    assert_eq!(upcase.upcase(0xE9), 0xC9, "é");
    assert_eq!(upcase.upcase(0xFF), 0x178, "ÿ");
    assert_eq!(upcase.upcase(0xDF), 0xDF, "ß has no single upper-case letter");
    assert_eq!(upcase.upcase(0x3B1), 0x391, "α");
    assert_eq!(upcase.upcase(0xFF41), 0xFF21, "fullwidth a");
    assert_eq!(upcase.upcase(0xD83D), 0xD83D, "surrogates map to themselves");
    assert!(upcase.mapping_count() > 900);

    // The stored TableChecksum matches the table written to disk.
    let mut fs = new_volume(8 << 20, 4096);
    let root = fs.cluster_offset(fs.boot.root_cluster) as usize;
    let data = &fs.device().data;
    let entry =
        (0..8).map(|i| &data[root + 32 * i..root + 32 * i + 32]).find(|e| e[0] == 0x82).unwrap();
    let (cluster, len) =
        (crate::bytes::le32(entry, 20).unwrap(), crate::bytes::le64(entry, 24).unwrap() as usize);
    let at = fs.cluster_offset(cluster) as usize;
    assert_eq!(&data[at..at + len], &table[..]);
    assert_eq!(crate::bytes::le32(entry, 4).unwrap(), table_checksum_add(0, &table));
    let mut by_hand = 0u32;
    for &b in &table {
        by_hand = (if by_hand & 1 != 0 { 0x8000_0000 } else { 0 }) + (by_hand >> 1) + u32::from(b);
    }
    assert_eq!(by_hand, table_checksum_add(0, &table));
    fs.create_dir("/x", T0).unwrap();
}

#[test]
fn name_hash_and_set_checksum_match_the_spec_algorithm() {
    // "a" up-cases to 0x0041: bytes 41 00. hash = ror(0)+0x41 = 0x41; ror(0x41)+0 = 0x8020.
    assert_eq!(name_hash_upcased([0x41u16].into_iter()), 0x8020);
    let fs = new_volume(8 << 20, 4096);
    assert_eq!(fs.upcase.name_hash(&[0x61]), 0x8020);
    assert_eq!(fs.upcase.name_hash(&[0x41]), 0x8020);
    let name: Vec<u16> = "Ünïcödé".encode_utf16().collect();
    let upper: Vec<u16> = "ÜNÏCÖDÉ".encode_utf16().collect();
    assert_eq!(fs.upcase.name_hash(&name), fs.upcase.name_hash(&upper));

    let mut set = [[0u8; 32]; 3];
    set[0][0] = 0x85;
    set[0][1] = 2;
    set[0][2] = 0xAB; // the checksum field itself is skipped
    set[1][0] = 0xC0;
    set[2][0] = 0xC1;
    let mut by_hand = 0u16;
    for (n, e) in set.iter().enumerate() {
        for (i, &b) in e.iter().enumerate() {
            if n == 0 && (i == 2 || i == 3) {
                continue;
            }
            by_hand = (if by_hand & 1 != 0 { 0x8000 } else { 0 }) + (by_hand >> 1) + u16::from(b);
        }
    }
    assert_eq!(set_checksum(&set), by_hand);
}

#[test]
fn timestamps_encode_and_decode() {
    let t = Timestamp::from_unix(1_700_000_000);
    assert_eq!((t.year, t.month, t.day, t.hour, t.minute, t.second), (2023, 11, 14, 22, 13, 20));
    assert_eq!(t.to_unix(), 1_700_000_000);
    let odd = Timestamp { second: 59, centiseconds: 42, utc_offset_minutes: Some(-330), ..t };
    let (field, inc, utc) = odd.encode();
    assert_eq!(
        Timestamp::decode(field, inc, utc),
        Timestamp { utc_offset_minutes: Some(-330), ..odd }
    );
    assert_eq!(Timestamp::decode(field, inc, 0).utc_offset_minutes, None);
    assert_eq!(Timestamp::from_unix(0), Timestamp::EPOCH, "clamped to 1980");
    assert_eq!(Timestamp::from_unix(i64::MAX / 2).year, 2107);
    assert_eq!(Timestamp::from_unix(951_782_400).day, 29, "2000-02-29");
}

#[test]
fn many_files_unicode_long_names_and_nested_dirs_read_back() {
    let mut fs = new_volume(16 << 20, 4096);
    let cs = 4096usize;
    let long_ascii: String = "x".repeat(255);
    // 127 emoji are 254 UTF-16 units (surrogate pairs), plus one more unit.
    let long_emoji: String = core::iter::repeat_n('😀', 127).chain(core::iter::once('z')).collect();
    let dirs =
        ["/iso", "/iso/linux", "/iso/windows/11", "/Ünïcödé/日本語/каталог", "/deep/a/b/c/d/e/f/g"];
    for d in dirs {
        fs.create_dir_all(d, T0).unwrap();
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let sizes = [0, 1, 31, cs - 1, cs, cs + 1, 3 * cs + 17, 70_000];
    for (i, dir) in dirs.iter().enumerate() {
        for (j, &size) in sizes.iter().enumerate() {
            let path = alloc::format!("{dir}/file-{i}-{j}-Ünïcödé-日本語.iso");
            files.push((path, pattern((i * 100 + j) as u32, size)));
        }
    }
    files.push((alloc::format!("/iso/{long_ascii}"), pattern(7, 5000)));
    files.push((alloc::format!("/iso/{long_emoji}"), pattern(8, 123)));
    for (path, data) in &files {
        let time = Timestamp::from_unix(1_600_000_000);
        let mut w = fs.create_file(path, data.len() as u64, time).unwrap();
        // Write in uneven pieces to exercise the streaming writer across cluster edges.
        for chunk in data.chunks(1000) {
            w.write(chunk).unwrap();
        }
    }
    for (path, data) in &files {
        assert_eq!(&read_all(&mut fs, path), data, "{path}");
        let meta = fs.metadata(path).unwrap();
        assert_eq!(meta.size, data.len() as u64);
        assert_eq!(meta.modified, Timestamp::from_unix(1_600_000_000));
    }
    // Listings contain exactly what was created, names intact.
    let listing = fs.read_dir("/iso").unwrap();
    let names: Vec<&str> = listing.iter().map(|e| e.name.as_str()).collect();
    assert!(names.contains(&long_ascii.as_str()));
    assert!(names.contains(&long_emoji.as_str()));
    assert!(names.contains(&"linux"));
    assert_eq!(listing.len(), 2 + sizes.len() + 2, "linux, windows, files, long names");
    assert_eq!(fs.read_dir("/Ünïcödé/日本語").unwrap()[0].name, "каталог");
    // Lookups are case-insensitive through the up-case table, and both separators work.
    let upper = "/ISO/LINUX/FILE-1-2-ÜNÏCÖDÉ-日本語.ISO";
    assert_eq!(read_all(&mut fs, upper), files[sizes.len() + 2].1);
    assert_eq!(fs.metadata("\\iso\\linux").unwrap().name, "linux");
    assert_eq!(fs.metadata("/ünïcödé/日本語/КАТАЛОГ").unwrap().name, "каталог");
    // Partial reads at odd offsets and past the end.
    let (path, data) = &files[6];
    let mut buf = vec![0u8; 10_000];
    assert_eq!(data.len(), 3 * cs + 17);
    assert_eq!(fs.read_file(path, 4000, &mut buf).unwrap(), data.len() - 4000);
    assert_eq!(&buf[..data.len() - 4000], &data[4000..]);
    assert_eq!(fs.read_file(path, 4095, &mut buf[..2]).unwrap(), 2);
    assert_eq!(&buf[..2], &data[4095..4097]);
    assert_eq!(fs.read_file(path, 1 << 40, &mut buf).unwrap(), 0);
    // Reopening from the raw device gives the same view.
    let dev = fs.into_inner();
    let mut fs = ExFat::open(dev).unwrap();
    for (path, data) in &files {
        assert_eq!(&read_all(&mut fs, path), data, "{path} after reopen");
    }
    assert!(!fs.is_dirty());
}

#[test]
fn fragmented_file_gets_a_fat_chain_and_reads_back() {
    let mut fs = new_volume(4 << 20, 4096);
    let cs = 4096u64;
    let chunk = pattern(1, 8 * cs as usize);
    let mut created = 0;
    loop {
        match fs.write_file(&alloc::format!("/fill{created:03}"), &chunk, T0) {
            Ok(()) => created += 1,
            Err(Error::NoSpace) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(created > 50);
    for i in (0..created).step_by(2) {
        fs.remove(&alloc::format!("/fill{i:03}")).unwrap();
    }
    let free = fs.free_clusters().unwrap();
    let big_clusters = free.min(30);
    assert!(big_clusters > 8, "larger than any hole");
    let data = pattern(99, (u64::from(big_clusters) * cs - 123) as usize);
    let mut w = fs.create_file("/big.iso", data.len() as u64, T0).unwrap();
    assert!(w.extents().len() > 1, "fragmented");
    w.write_at(0, &data).unwrap();
    let meta = fs.metadata("/big.iso").unwrap();
    assert!(!meta.contiguous);
    let extents = fs.extents("/big.iso").unwrap();
    assert!(extents.len() > 1);
    assert_eq!(extents.iter().map(|e| e.len).sum::<u64>(), data.len() as u64);
    let mut expected_offset = 0;
    for e in &extents {
        assert_eq!(e.file_offset, expected_offset);
        assert_eq!(e.device_offset % cs, fs.cluster_heap_offset() % cs);
        let mut on_disk = vec![0u8; e.len as usize];
        fs.device().clone().read_at(e.device_offset, &mut on_disk).unwrap();
        assert_eq!(on_disk, data[e.file_offset as usize..(e.file_offset + e.len) as usize]);
        expected_offset += e.len;
    }
    assert_eq!(read_all(&mut fs, "/big.iso"), data);
    // The remaining files are untouched.
    for i in (1..created).step_by(2) {
        assert_eq!(read_all(&mut fs, &alloc::format!("/fill{i:03}")), chunk);
    }
    // Freeing the fragmented file returns its clusters.
    fs.remove("/big.iso").unwrap();
    assert_eq!(fs.free_clusters().unwrap(), free);
    let dev = fs.into_inner();
    assert_eq!(ExFat::open(dev).unwrap().free_clusters().unwrap(), free);
}

#[test]
fn directory_grows_in_place_while_contiguous() {
    let mut fs = new_volume(8 << 20, 4096);
    fs.create_dir("/d", T0).unwrap();
    // Empty files take no clusters, so the cluster after the directory stays free.
    // Short names take 3 entries: 42 sets per 4 KiB cluster (128 entries).
    let per_cluster = 4096 / 32 / 3;
    for i in 0..per_cluster * 3 {
        fs.write_file(&alloc::format!("/d/e{i:03}"), &[], T0).unwrap();
    }
    let meta = fs.metadata("/d").unwrap();
    assert!(meta.contiguous);
    assert_eq!(meta.size, 3 * 4096);
    assert_eq!(fs.read_dir("/d").unwrap().len(), per_cluster * 3);
    assert!(fs.metadata("/d/E100").unwrap().size == 0);
}

#[test]
fn contiguous_directory_converts_to_fat_chain_when_blocked() {
    let mut fs = new_volume(8 << 20, 4096);
    fs.create_dir("/d", T0).unwrap();
    // Each file takes the cluster right after the directory, so growth must go elsewhere.
    let mut files = Vec::new();
    for i in 0..200 {
        let path = alloc::format!("/d/file-{i:03}-with-a-longer-name.txt");
        let data = pattern(i, 100 + i as usize);
        fs.write_file(&path, &data, T0).unwrap();
        files.push((path, data));
    }
    let meta = fs.metadata("/d").unwrap();
    assert!(!meta.contiguous, "directory got a FAT chain");
    assert!(meta.size > 4096);
    assert_eq!(fs.read_dir("/d").unwrap().len(), 200);
    for (path, data) in &files {
        assert_eq!(&read_all(&mut fs, path), data);
    }
    // The root grows through its FAT chain as well.
    for i in 0..150 {
        fs.write_file(&alloc::format!("/root-file-{i:03}"), b"r", T0).unwrap();
    }
    assert!(fs.metadata("/").unwrap().size > 4096);
    assert_eq!(fs.read_dir("/").unwrap().len(), 151);
    assert_eq!(read_all(&mut fs, "/root-file-149"), b"r");
}

#[test]
fn remove_files_and_directories() {
    let mut fs = new_volume(8 << 20, 4096);
    let initial_free = fs.free_clusters().unwrap();
    fs.create_dir_all("/a/b/c", T0).unwrap();
    fs.write_file("/a/b/c/f1", &pattern(1, 10_000), T0).unwrap();
    fs.write_file("/a/b/f2", &pattern(2, 100), T0).unwrap();
    fs.write_file("/a/f3", &[], T0).unwrap();
    fs.write_file("/top", &pattern(3, 9000), T0).unwrap();

    assert_eq!(fs.remove("/a/b"), Err(Error::DirectoryNotEmpty));
    assert_eq!(fs.remove("/"), Err(Error::InvalidArgument("cannot remove the root directory")));
    assert_eq!(fs.remove("/nope"), Err(Error::NotFound));
    fs.remove("/a/b/c/f1").unwrap();
    assert_eq!(fs.metadata("/a/b/c/f1"), Err(Error::NotFound));
    fs.remove("/a/b/c").unwrap();
    assert_eq!(fs.read_dir("/a/b").unwrap().len(), 1);
    fs.remove_dir_all("/a").unwrap();
    assert_eq!(fs.metadata("/a"), Err(Error::NotFound));
    fs.remove("/top").unwrap();
    assert_eq!(fs.free_clusters().unwrap(), initial_free);
    assert!(fs.read_dir("/").unwrap().is_empty());
    // Names are reusable, and deleted slots are reused.
    fs.write_file("/top", b"again", T0).unwrap();
    assert_eq!(read_all(&mut fs, "/top"), b"again");
    assert_eq!(fs.metadata("/").unwrap().size, 4096);
}

#[test]
fn full_disk_fails_before_changing_anything() {
    let mut fs = new_volume(4 << 20, 4096);
    let free = fs.free_clusters().unwrap();
    fs.write_file("/most", &pattern(5, (free as usize - 3) * 4096), T0).unwrap();
    let before = fs.device().data.clone();
    assert_eq!(fs.create_file("/too-big", 5 * 4096, T0).err(), Some(Error::NoSpace));
    assert_eq!(fs.create_dir_all("/x/y/z/w", T0), Err(Error::NoSpace));
    assert!(fs.device().data == before, "nothing written on NoSpace");
    // What still fits, fits exactly.
    fs.write_file("/rest", &pattern(6, 3 * 4096), T0).unwrap();
    assert_eq!(fs.free_clusters().unwrap(), 0);
    let before = fs.device().data.clone();
    assert_eq!(fs.create_dir("/d", T0), Err(Error::NoSpace));
    assert_eq!(fs.create_file("/one-byte", 1, T0).err(), Some(Error::NoSpace));
    assert!(fs.device().data == before);
    // Empty files need no clusters while the root has free entries.
    fs.write_file("/empty", &[], T0).unwrap();
    assert!(!fs.is_dirty());
}

#[test]
fn names_are_validated_and_duplicates_rejected() {
    let mut fs = new_volume(8 << 20, 4096);
    for bad in ["/a*b", "/a:b", "/a?b", "/a<b", "/a>b", "/a|b", "/a\"b", "/tab\there", "/a/.."] {
        assert!(matches!(fs.write_file(bad, b"x", T0), Err(Error::InvalidName(_))), "{bad}");
    }
    let too_long: String = "y".repeat(256);
    assert!(matches!(fs.create_dir(&too_long, T0), Err(Error::InvalidName(_))));
    let too_long_emoji: String = "😀".repeat(128);
    assert!(matches!(fs.create_dir(&too_long_emoji, T0), Err(Error::InvalidName(_))));

    fs.write_file("/Foo.txt", b"1", T0).unwrap();
    assert_eq!(fs.write_file("/FOO.TXT", b"2", T0), Err(Error::AlreadyExists));
    assert_eq!(fs.create_dir("/foo.txt", T0), Err(Error::AlreadyExists));
    fs.create_dir("/Ü", T0).unwrap();
    assert_eq!(fs.create_dir("/ü", T0), Err(Error::AlreadyExists));
    fs.create_dir_all("/ü/sub", T0).unwrap();
    assert_eq!(fs.create_dir_all("/Foo.txt/sub", T0), Err(Error::NotADirectory));
    assert_eq!(fs.write_file("/Foo.txt/x", b"", T0), Err(Error::NotADirectory));
    assert_eq!(fs.write_file("/missing/x", b"", T0), Err(Error::NotFound));
    assert_eq!(fs.read_dir("/Foo.txt"), Err(Error::NotADirectory));
    assert_eq!(fs.read_file("/Ü", 0, &mut [0; 4]), Err(Error::IsADirectory));
    assert_eq!(fs.extents("/Ü"), Err(Error::IsADirectory));
    assert_eq!(fs.create_dir("/", T0), Err(Error::AlreadyExists));
    assert_eq!(read_all(&mut fs, "/foo.TXT"), b"1");
}

#[test]
fn valid_data_length_limits_what_is_read() {
    let mut fs = new_volume(8 << 20, 4096);
    let size = 10 * 4096;
    let mut w = fs.create_file("/persist.dat", size, T0).unwrap();
    let extent = w.extents()[0];
    assert_eq!(w.extents().len(), 1, "contiguous");
    w.write_at(0, &pattern(1, 100)).unwrap();
    w.set_valid_data_length(100).unwrap();
    assert!(w.write_at(size - 1, b"xx").is_err(), "cannot write past the end");
    // Stale bytes in the clusters after the valid length must not show through.
    fs.dev.write_at(extent.device_offset + 100, &[0xEE; 5000]).unwrap();
    let meta = fs.metadata("/persist.dat").unwrap();
    assert_eq!((meta.size, meta.valid_data_length, meta.contiguous), (size, 100, true));
    let data = read_all(&mut fs, "/persist.dat");
    assert_eq!(&data[..100], &pattern(1, 100)[..]);
    assert!(data[100..].iter().all(|&b| b == 0));
    let mut buf = [0xAAu8; 50];
    assert_eq!(fs.read_file("/persist.dat", 5000, &mut buf).unwrap(), 50);
    assert_eq!(buf, [0; 50]);
    assert_eq!(fs.extents("/persist.dat").unwrap(), vec![Extent { len: 100, ..extent }]);
    // Reopening an existing file for writing in place.
    let mut w = fs.open_file_writer("/persist.dat").unwrap();
    w.set_valid_data_length(size).unwrap();
    w.write_at(size - 3, b"end").unwrap();
    let mut tail = [0u8; 3];
    fs.read_file("/persist.dat", size - 3, &mut tail).unwrap();
    assert_eq!(&tail, b"end");
}

#[test]
fn corrupt_entry_sets_are_skipped_and_reported() {
    let mut fs = new_volume(8 << 20, 4096);
    for name in ["/one", "/two", "/three"] {
        fs.write_file(name, name.as_bytes(), T0).unwrap();
    }
    let root = fs.cluster_offset(fs.boot.root_cluster) as usize;
    let find = |data: &[u8], name: &str| {
        let units: Vec<u16> = name.encode_utf16().collect();
        (0..128)
            .map(|i| root + 32 * i)
            .find(|&at| {
                data[at] == 0xC1
                    && crate::bytes::le16(data, at + 2).unwrap() == units[0]
                    && crate::bytes::le16(data, at + 4).unwrap() == units[1]
            })
            .unwrap()
    };
    // A changed name byte breaks the set checksum.
    let mut dev = fs.into_inner();
    let at = find(&dev.data, "two");
    dev.data[at + 4] ^= 1;
    let mut fs = ExFat::open(dev).unwrap();
    let listing = fs.read_dir_report("/").unwrap();
    assert_eq!(listing.entries.len(), 2);
    assert_eq!(listing.corrupt.len(), 1);
    assert_eq!(listing.corrupt[0].reason, "entry set checksum mismatch");
    assert_eq!(fs.metadata("/two"), Err(Error::NotFound));
    assert_eq!(read_all(&mut fs, "/three"), b"/three");

    // A consistent checksum but a wrong name hash is caught too.
    let mut dev = fs.into_inner();
    let at = find(&dev.data, "three");
    let set_start = at - 64;
    dev.data[set_start + 32 + 4] ^= 0x10;
    let mut set: Vec<[u8; 32]> = (0..3)
        .map(|i| dev.data[set_start + 32 * i..set_start + 32 * i + 32].try_into().unwrap())
        .collect();
    super::dirent::seal(&mut set);
    dev.data[set_start + 2..set_start + 4].copy_from_slice(&set[0][2..4]);
    let mut fs = ExFat::open(dev).unwrap();
    let listing = fs.read_dir_report("/").unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert!(listing.corrupt.iter().any(|c| c.reason == "name hash mismatch"));
    // Creating next to damaged sets neither overwrites nor duplicates them.
    fs.write_file("/four", b"4", T0).unwrap();
    assert_eq!(fs.read_dir_report("/").unwrap().corrupt.len(), 2);
    assert_eq!(read_all(&mut fs, "/one"), b"/one");
}

#[test]
fn fat_loops_and_bad_chains_are_errors() {
    let mut fs = new_volume(4 << 20, 4096);
    // Make a fragmented file: holes of one cluster between small files.
    for i in 0..20 {
        fs.write_file(&alloc::format!("/s{i:02}"), b"s", T0).unwrap();
    }
    for i in (0..20).step_by(2) {
        fs.remove(&alloc::format!("/s{i:02}")).unwrap();
    }
    let free = fs.free_clusters().unwrap() as usize;
    fs.write_file("/frag", &pattern(3, (free - 2) * 4096), T0).unwrap();
    let meta = fs.metadata("/frag").unwrap();
    assert!(!meta.contiguous);
    let fat = fs.boot.active_fat_start() as usize;
    let second =
        crate::bytes::le32(&fs.device().data, fat + 4 * meta.first_cluster as usize).unwrap();

    // Loop: the second cluster points back at the first.
    let mut dev = fs.device().clone();
    dev.data[fat + 4 * second as usize..][..4].copy_from_slice(&meta.first_cluster.to_le_bytes());
    let mut looped = ExFat::open(dev).unwrap();
    assert!(matches!(looped.read_to_vec("/frag"), Err(Error::Corrupt(_))));
    assert!(matches!(looped.extents("/frag"), Err(Error::Corrupt(_))));
    assert!(matches!(looped.remove("/frag"), Err(Error::Corrupt(_))));
    assert!(!looped.is_dirty(), "nothing changed");

    // Chain ending early, and pointing outside the heap.
    for bad in [0xFFFF_FFFFu32, 0, 1, 0xFFFF_FFF7, 0x0FFF_FFFF] {
        let mut dev = fs.device().clone();
        dev.data[fat + 4 * second as usize..][..4].copy_from_slice(&bad.to_le_bytes());
        let mut broken = ExFat::open(dev).unwrap();
        assert!(matches!(broken.read_to_vec("/frag"), Err(Error::Corrupt(_))), "{bad:#x}");
    }

    // A looped root directory chain is found when opening.
    let mut dev = fs.device().clone();
    let root = fs.boot.root_cluster as usize;
    dev.data[fat + 4 * root..][..4].copy_from_slice(&(root as u32).to_le_bytes());
    assert!(matches!(ExFat::open(dev), Err(Error::Corrupt(_))));
}

/// Walk everything reachable, reading all files; errors are fine, panics are not.
fn exercise<D: WriteAt>(fs: &mut ExFat<D>, rng: &mut Rng) {
    let _ = fs.free_clusters();
    let mut dirs = vec![String::from("/")];
    let mut visited = 0;
    while let Some(dir) = dirs.pop() {
        visited += 1;
        if visited > 50 {
            break;
        }
        let Ok(listing) = fs.read_dir_report(&dir) else {
            continue;
        };
        for entry in listing.entries {
            let path = alloc::format!("{}/{}", dir.trim_end_matches('/'), entry.name);
            if entry.is_dir() {
                dirs.push(path);
            } else {
                let _ = fs.extents(&path);
                let mut buf = [0u8; 8192];
                let _ = fs.read_file(&path, rng.below(20_000), &mut buf);
            }
        }
    }
    let _ = fs.write_file("/new-file", &[1, 2, 3], T0);
    let _ = fs.create_dir_all("/n1/n2", T0);
    let _ = fs.remove_dir_all("/d1");
    let _ = fs.remove("/f0");
    let _ = fs.read_dir("/");
}

#[test]
fn random_damage_never_panics() {
    let mut fs = new_volume(2 << 20, 512);
    fs.create_dir_all("/d1/d2", T0).unwrap();
    for i in 0..12 {
        let dir = ["/", "/d1", "/d1/d2"][i % 3];
        fs.write_file(&alloc::format!("{dir}/f{i}"), &pattern(i as u32, 700 * i), T0).unwrap();
    }
    // Fragment one file so that FAT entries are in play.
    fs.remove("/f3").unwrap();
    fs.remove("/f6").unwrap();
    fs.write_file("/frag", &pattern(77, 5000), T0).unwrap();
    let pristine = fs.into_inner();
    let heap = {
        let fs = ExFat::open(pristine.clone()).unwrap();
        fs.cluster_heap_offset() as usize
    };
    // Damage lands in the boot region, FAT, and the start of the heap (bitmap, up-case
    // table, root and the first directories and files).
    let targets = [(0usize, 24 * 512), (24 * 512, heap), (heap, heap + 64 * 512)];
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    for round in 0..400 {
        let mut dev = pristine.clone();
        let (lo, hi) = targets[round % targets.len()];
        for _ in 0..1 + rng.below(8) {
            let at = lo + rng.below((hi - lo) as u64) as usize;
            dev.data[at] = match rng.below(4) {
                0 => 0,
                1 => 0xFF,
                _ => rng.next() as u8,
            };
        }
        // Damage past the checksum would only exercise the backup; keep the main region
        // "valid" half of the time so the field checks and later stages run.
        if round % 2 == 0 {
            reseal_boot_region(&mut dev, 512);
        }
        if let Ok(mut fs) = ExFat::open(dev) {
            exercise(&mut fs, &mut rng);
        }
    }
}

#[test]
fn entry_sets_may_span_clusters() {
    // 512-byte clusters hold 16 entries; a 255-unit name needs a 19-entry set.
    let mut fs = new_volume(4 << 20, 512);
    let names: Vec<String> =
        (0..6u8).map(|i| core::iter::repeat_n((b'a' + i) as char, 255).collect()).collect();
    fs.create_dir("/d", T0).unwrap();
    for (i, name) in names.iter().enumerate() {
        fs.write_file(&alloc::format!("/d/{name}"), &pattern(i as u32, 1000), T0).unwrap();
    }
    fs.create_dir_all(&alloc::format!("/{}/{}", names[0], names[1]), T0).unwrap();
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            read_all(&mut fs, &alloc::format!("/d/{}", name.to_uppercase())),
            pattern(i as u32, 1000)
        );
    }
    assert_eq!(fs.read_dir("/d").unwrap().len(), 6);
    assert!(fs.metadata("/d").unwrap().size >= 6 * 19 * ENTRY_SIZE);
}

#[test]
fn file_reader_reads_a_file_as_a_device() {
    use crate::block::ReadAt;
    let mut dev = MemDevice::new(8 << 20);
    format(
        &mut dev,
        &FormatOptions { bytes_per_sector: 512, cluster_size: 4096, ..FormatOptions::default() },
    )
    .unwrap();
    let mut fs = ExFat::open(dev).unwrap();
    let data = pattern(9, 20_000);
    fs.write_file("/f.bin", &data, Timestamp::EPOCH).unwrap();
    let mut file = fs.open_file("/f.bin").unwrap();
    assert_eq!(file.size(), 20_000);
    let mut buf = [0u8; 5000];
    file.read_at(4000, &mut buf).unwrap();
    assert_eq!(&buf[..], &data[4000..9000]);
    assert!(file.read_at(19_000, &mut buf).is_err());
    assert!(fs.open_file("/").is_err());
}

/// The file's extents (up to its valid data length) and entry, read back from a freshly
/// opened volume.
fn reopened_extents(fs: &ExFat<MemDevice>, path: &str) -> (Vec<Extent>, DirEntry) {
    let mut again = ExFat::open(fs.device().clone()).unwrap();
    let meta = again.metadata(path).unwrap();
    (again.extents(path).unwrap(), meta)
}

#[test]
fn extend_file_in_place_keeps_a_contiguous_file_contiguous() {
    let mut fs = new_volume(8 << 20, 4096);
    let data = pattern(7, 10_000);
    fs.write_file("/p.dat", &data, T0).unwrap();
    let free = fs.free_clusters().unwrap();
    let w = fs.extend_file("/p.dat", 40_000).unwrap();
    assert_eq!(w.size(), 40_000);
    assert_eq!(w.extents().len(), 1);
    let (extents, meta) = reopened_extents(&fs, "/p.dat");
    assert_eq!(extents.len(), 1, "grown in place");
    assert!(meta.contiguous);
    assert_eq!((meta.size, meta.valid_data_length), (40_000, 10_000));
    // 3 clusters before, 10 after.
    assert_eq!(fs.free_clusters().unwrap(), free - 7);
    let mut expected = data.clone();
    expected.resize(40_000, 0);
    assert_eq!(read_all(&mut fs, "/p.dat"), expected, "new bytes read as zeros");
    // Written through the returned writer after the valid data length is moved.
    let mut w = fs.open_file_writer("/p.dat").unwrap();
    w.write_at(39_990, b"0123456789").unwrap();
    w.set_valid_data_length(40_000).unwrap();
    assert_eq!(&read_all(&mut fs, "/p.dat")[39_990..], b"0123456789");
    // Same size: nothing to allocate; smaller: refused.
    fs.extend_file("/p.dat", 40_000).unwrap();
    assert_eq!(fs.free_clusters().unwrap(), free - 7);
    assert_eq!(
        fs.extend_file("/p.dat", 100).err(),
        Some(Error::InvalidArgument("extend_file cannot shrink a file"))
    );
    fs.create_dir("/d", T0).unwrap();
    assert_eq!(fs.extend_file("/d", 100_000).err(), Some(Error::IsADirectory));
    assert_eq!(fs.extend_file("/absent", 1).err(), Some(Error::NotFound));
    assert!(!fs.is_dirty());
}

#[test]
fn extend_file_blocked_by_a_neighbour_chains_elsewhere() {
    let mut fs = new_volume(8 << 20, 4096);
    let first = pattern(1, 3 * 4096);
    fs.write_file("/a.dat", &first, T0).unwrap();
    fs.write_file("/b", &pattern(2, 4096), T0).unwrap();
    let free = fs.free_clusters().unwrap();
    let mut w = fs.extend_file("/a.dat", 8 * 4096).unwrap();
    assert_eq!(w.extents().len(), 2);
    w.set_valid_data_length(8 * 4096).unwrap();
    let (extents, meta) = reopened_extents(&fs, "/a.dat");
    assert!(!meta.contiguous, "the FAT now describes it");
    assert_eq!(extents.len(), 2, "old run + one new run: {extents:?}");
    assert_eq!(extents[1].len, 5 * 4096);
    assert_eq!(fs.free_clusters().unwrap(), free - 5);
    let mut expected = first.clone();
    expected.resize(8 * 4096, 0);
    assert_eq!(read_all(&mut fs, "/a.dat"), expected);
    assert_eq!(read_all(&mut fs, "/b"), pattern(2, 4096));
    // A chained file grows again (in place after its last run here), and shrinks back to
    // the free count it started from when removed.
    let mut w = fs.extend_file("/a.dat", 9 * 4096 + 1).unwrap();
    w.write_at(9 * 4096, b"z").unwrap();
    w.set_valid_data_length(9 * 4096 + 1).unwrap();
    let (extents, meta) = reopened_extents(&fs, "/a.dat");
    assert_eq!(extents.len(), 2, "{extents:?}");
    assert_eq!(meta.size, 9 * 4096 + 1);
    let all = read_all(&mut fs, "/a.dat");
    assert_eq!((&all[..3 * 4096], all[9 * 4096]), (&first[..], b'z'));
    fs.remove("/a.dat").unwrap();
    assert_eq!(fs.free_clusters().unwrap(), free + 3);
}

#[test]
fn extend_file_fragments_when_no_run_is_long_enough() {
    let mut fs = new_volume(4 << 20, 4096);
    let chunk = pattern(3, 4 * 4096);
    let mut created = 0;
    while fs.write_file(&alloc::format!("/fill{created:03}"), &chunk, T0).is_ok() {
        created += 1;
    }
    // Holes of 4 clusters; the empty file starts without clusters.
    for i in (0..created).step_by(2) {
        fs.remove(&alloc::format!("/fill{i:03}")).unwrap();
    }
    fs.write_file("/empty.dat", &[], T0).unwrap();
    let free = fs.free_clusters().unwrap();
    let w = fs.extend_file("/empty.dat", 10 * 4096).unwrap();
    let extents = w.extents().to_vec();
    assert!(extents.len() >= 3, "{extents:?}");
    assert_eq!(extents.iter().map(|e| e.len).sum::<u64>(), 10 * 4096);
    let (_, meta) = reopened_extents(&fs, "/empty.dat");
    assert!(!meta.contiguous && meta.size == 10 * 4096 && meta.valid_data_length == 0);
    // The freed clusters still hold the old files' bytes; past the valid data length they
    // read as zeros.
    assert!(read_all(&mut fs, "/empty.dat") == vec![0u8; 10 * 4096]);
    assert_eq!(fs.free_clusters().unwrap(), free - 10);
    // More than is free: refused with nothing written.
    let before = fs.device().data.clone();
    let too_much = u64::from(fs.free_clusters().unwrap() + 11) * 4096;
    assert_eq!(fs.extend_file("/empty.dat", too_much).err(), Some(Error::NoSpace));
    assert!(fs.device().data == before);
    for i in (1..created).step_by(2) {
        assert_eq!(read_all(&mut fs, &alloc::format!("/fill{i:03}")), chunk);
    }
}
