//! polyboot-core's read-only FAT reader against FAT images made by `mkfs.fat` (FAT12, FAT16,
//! FAT32; 512- and 4096-byte sectors) and filled by mtools (`mmd`, `mcopy`): long and short
//! names, nested directories, empty and multi-cluster files, a file fragmented by deleting its
//! neighbours. Everything mtools lists must read back byte for byte.

use polyboot_core::block::MemDevice;
use polyboot_core::fat::{Fat, FatType};
use polyboot_tests::{find_tool, pattern, run_tool};
use std::path::Path;
use std::process::Command;

fn mkfs(img: &Path, fat_bits: u32, sector: u32, kib: u64) {
    std::fs::write(img, vec![0u8; (kib * 1024) as usize]).unwrap();
    run_tool(
        Command::new(find_tool("mkfs.fat"))
            .args(["-F", &fat_bits.to_string(), "-S", &sector.to_string(), "-n", "ESPTEST"])
            .arg(img),
    )
    .unwrap();
}

fn mtools(tool: &str, img: &Path, args: &[&str]) {
    run_tool(
        Command::new(find_tool(tool)).env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(img).args(args),
    )
    .unwrap();
}

fn put(img: &Path, tmp: &Path, path: &str, data: &[u8]) {
    let src = tmp.join("src.bin");
    std::fs::write(&src, data).unwrap();
    mtools("mcopy", img, &["-o", src.to_str().unwrap(), &format!("::{path}")]);
}

#[test]
fn reads_what_mtools_wrote() {
    for (bits, sector, kib, want) in [
        (12, 512, 1440, FatType::Fat12),
        (16, 512, 32 * 1024, FatType::Fat16),
        (32, 512, 64 * 1024, FatType::Fat32),
        (16, 4096, 64 * 1024, FatType::Fat16),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let img = tmp.path().join("esp.img");
        mkfs(&img, bits, sector, kib);
        mtools(
            "mmd",
            &img,
            &["::/loader", "::/loader/entries", "::/EFI", "::/EFI/BOOT", "::/arch", "::/arch/boot"],
        );
        let mut files: Vec<(String, Vec<u8>)> = vec![
            ("/loader/loader.conf".into(), b"timeout 3\ndefault arch.conf\n".to_vec()),
            (
                "/loader/entries/archiso-x86_64-linux.conf".into(),
                b"title Arch\nlinux /arch/boot/vmlinuz-linux\n".to_vec(),
            ),
            ("/EFI/BOOT/BOOTX64.EFI".into(), pattern(1, 70_000)),
            ("/arch/boot/empty".into(), Vec::new()),
            ("/UPPER.TXT".into(), b"short name".to_vec()),
            ("/a file with spaces and a rather long name.txt".into(), pattern(2, 5000)),
        ];
        // Fragment: write three files, delete the middle one, then write a big one.
        put(&img, tmp.path(), "/arch/boot/a", &pattern(3, 20_000));
        put(&img, tmp.path(), "/arch/boot/b", &pattern(4, 20_000));
        put(&img, tmp.path(), "/arch/boot/c", &pattern(5, 20_000));
        mtools("mdel", &img, &["::/arch/boot/b"]);
        files.push(("/arch/boot/initramfs-linux.img".into(), pattern(6, 300_000)));
        files.push(("/arch/boot/a".into(), pattern(3, 20_000)));
        files.push(("/arch/boot/c".into(), pattern(5, 20_000)));
        for (path, data) in &files {
            if !path.ends_with("/a") && !path.ends_with("/c") {
                put(&img, tmp.path(), path, data);
            }
        }

        let mut fat = Fat::open(MemDevice::from_vec(std::fs::read(&img).unwrap())).unwrap();
        assert_eq!(fat.fat_type, want, "FAT{bits}");
        for (path, data) in &files {
            assert_eq!(&fat.read_file(path, 1 << 20).unwrap(), data, "FAT{bits} {path}");
            // FAT names compare without case.
            assert_eq!(
                &fat.read_file(&path.to_uppercase(), 1 << 20).unwrap(),
                data,
                "FAT{bits} {path}"
            );
        }
        let names = |v: Vec<polyboot_core::fat::FatEntry>| {
            let mut n: Vec<String> = v.into_iter().map(|e| e.name).collect();
            n.sort();
            n
        };
        assert_eq!(names(fat.read_dir("/loader/entries").unwrap()), ["archiso-x86_64-linux.conf"]);
        assert_eq!(
            names(fat.read_dir("/").unwrap()),
            ["EFI", "UPPER.TXT", "a file with spaces and a rather long name.txt", "arch", "loader"]
        );
        assert_eq!(
            names(fat.read_dir("/arch/boot").unwrap()),
            ["a", "c", "empty", "initramfs-linux.img"]
        );
    }
}
