//! fat seeds: small FAT12 volumes made by `mkfs.fat` (512- and 4096-byte sectors) and filled
//! by mtools (`mmd`, `mcopy`: long and short names, nested directories, an empty and a
//! multi-cluster file, one fragmented by deleting its neighbour), as the `fat_oracle` test
//! builds larger ones. FAT16 and FAT32 need thousands of clusters (megabytes), too large for
//! a seed; ipxe.iso's EFI image is the other seed. Each seed is a volume's first 64 KiB
//! ([`head`]).

use std::path::Path;
use std::process::Command;

use polyboot_core::block::MemDevice;
use polyboot_core::fat::Fat;

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

fn mtools(tool: &str, img: &Path, args: &[&str]) -> Result<(), String> {
    run(Command::new(tool).env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(img).args(args))
}

fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("/loader/entries/arch.conf", b"title Arch\nlinux /vmlinuz\n".to_vec()),
        ("/EFI/BOOT/BOOTX64.EFI", (0..9000u32).map(|i| (i * 13) as u8).collect()),
        ("/a file with a rather long name.txt", b"long".to_vec()),
        ("/UPPER.TXT", b"short".to_vec()),
        ("/empty", Vec::new()),
    ]
}

fn volume(dir: &Path, sector: u32, kib: u64) -> Result<Vec<u8>, String> {
    let img = dir.join(format!("fat12-{sector}.img"));
    std::fs::write(&img, vec![0u8; (kib * 1024) as usize]).map_err(|e| e.to_string())?;
    run(Command::new("mkfs.fat")
        .args(["-F", "12", "-S", &sector.to_string(), "-n", "SEED"])
        .arg(&img))?;
    mtools("mmd", &img, &["::/loader", "::/loader/entries", "::/EFI", "::/EFI/BOOT", "::/frag"])?;
    let src = dir.join("src.bin");
    for (name, data) in [("/frag/a", vec![1u8; 3000]), ("/frag/b", vec![2u8; 3000])] {
        std::fs::write(&src, &data).map_err(|e| e.to_string())?;
        mtools("mcopy", &img, &["-o", src.to_str().unwrap(), &format!("::{name}")])?;
    }
    mtools("mdel", &img, &["::/frag/a"])?;
    for (name, data) in files() {
        std::fs::write(&src, &data).map_err(|e| e.to_string())?;
        mtools("mcopy", &img, &["-o", src.to_str().unwrap(), &format!("::{name}")])?;
    }
    std::fs::read(&img).map_err(|e| e.to_string())
}

/// The fat target's input for `image`: its first 64 KiB (boot sector, FATs, root directory
/// and the first clusters, where mtools puts the subdirectories) without trailing zeros; the
/// target reads zeros beyond it. Panics when the head does not list the same root directory.
pub fn head(image: &[u8]) -> Vec<u8> {
    let mut head = image[..image.len().min(64 << 10)].to_vec();
    while head.len() > 512 && head.last() == Some(&0) {
        head.pop();
    }
    let mut padded = head.clone();
    padded.resize(image.len(), 0);
    let names = |bytes: Vec<u8>| -> Vec<String> {
        let mut fat = Fat::open(MemDevice::from_vec(bytes)).expect("FAT seed opens");
        fat.root_dir().expect("FAT seed lists its root").into_iter().map(|e| e.name).collect()
    };
    assert_eq!(names(padded), names(image.to_vec()), "the 64 KiB head of a FAT seed");
    head
}

/// `(name, image)` seeds, every file read back by our reader; Err(why) without the tools.
pub fn seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = std::env::temp_dir().join(format!("polyboot-fat-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = [(512u32, 160u64), (4096, 256)]
        .iter()
        .map(|&(sector, kib)| {
            volume(&dir, sector, kib).map(|v| (format!("mkfs-fat12-{sector}"), v))
        })
        .collect::<Result<Vec<_>, String>>();
    let _ = std::fs::remove_dir_all(&dir);
    let seeds = result?;
    for (name, bytes) in &seeds {
        let mut fat = Fat::open(MemDevice::from_vec(bytes.clone()))
            .unwrap_or_else(|e| panic!("fat seed {name}: our reader refuses it: {e:?}"));
        for (path, want) in files() {
            assert_eq!(fat.read_file(path, 1 << 20).ok(), Some(want), "fat seed {name}: {path}");
        }
    }
    Ok(seeds.into_iter().map(|(name, bytes)| (name, head(&bytes))).collect())
}
