//! The boot partition (partition 2, FAT): the UEFI boot manager and the version stamp; and
//! the legacy BIOS boot code (MBR bytes 0..440 + stage 1 in the loader gap), see [`BiosCode`].

use super::io::RegionStream;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// FAT volume label of the boot partition.
pub const BOOT_LABEL: &[u8; 11] = b"POLYBOOTEFI";
pub const EFI_BOOT_PATH: &str = "EFI/BOOT/BOOTX64.EFI";
pub const STAMP_PATH: &str = "polyboot/stamp.json";
/// Bumped when the drive layout changes in a way `update` must know about.
pub const LAYOUT_VERSION: u32 = 1;

/// `\polyboot\stamp.json`: what wrote the boot partition. Its JSON form is pinned by a test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub polyboot_version: String,
    pub layout_version: u32,
    /// SHA-256 of `\EFI\BOOT\BOOTX64.EFI` as written.
    pub bootx64_sha256: String,
}

/// The files the boot partition holds, read from the build before anything is written.
pub struct BootFiles {
    pub bootx64: Vec<u8>,
    /// The BIOS boot code, when the build has it (`None`: the drive boots in UEFI only, and
    /// `update` leaves the boot-code areas alone).
    pub bios: Option<BiosCode>,
}

impl BootFiles {
    /// `explicit` (`--efi`), else `$POLYBOOT_EFI`, else the build tree next to this binary.
    pub fn locate(explicit: Option<&Path>) -> Result<BootFiles> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("POLYBOOT_EFI") {
                Some(p) => PathBuf::from(p),
                None => default_efi_path()?,
            },
        };
        let bootx64 = std::fs::read(&path).with_context(|| {
            format!("reading the UEFI boot manager {} (build it with `cargo xtask build`, or pass --efi)", path.display())
        })?;
        if bootx64.len() < 2 || &bootx64[..2] != b"MZ" {
            bail!("{} is not a UEFI (PE) executable", path.display());
        }
        Ok(BootFiles { bootx64, bios: BiosCode::locate()? })
    }

    pub fn stamp(&self) -> Stamp {
        Stamp {
            polyboot_version: polyboot_core::VERSION.to_string(),
            layout_version: LAYOUT_VERSION,
            bootx64_sha256: hex(&Sha256::digest(&self.bootx64)),
        }
    }

    /// `stamp.json` exactly as `install` and `update` write it.
    pub fn stamp_json(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(&self.stamp())?)
    }
}

/// `target/<profile>/polyboot` → `target/firmware/x86_64-unknown-uefi/release/polyboot-efi.efi`;
/// an installed binary looks in `../share/polyboot/BOOTX64.EFI`.
fn default_efi_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the polyboot binary")?;
    let dir = exe.parent().context("binary has no directory")?;
    let candidates = [
        dir.join("../firmware/x86_64-unknown-uefi/release/polyboot-efi.efi"),
        dir.join("../../firmware/x86_64-unknown-uefi/release/polyboot-efi.efi"),
        dir.join("../share/polyboot/BOOTX64.EFI"),
    ];
    Ok(candidates.iter().find(|p| p.is_file()).unwrap_or(&candidates[0]).clone())
}

/// `$POLYBOOT_BIOS` (must exist), else the build tree next to this binary (may be absent).
fn bios_path() -> Result<Option<PathBuf>> {
    if let Some(p) = std::env::var_os("POLYBOOT_BIOS") {
        return Ok(Some(PathBuf::from(p)));
    }
    let exe = std::env::current_exe().context("locating the polyboot binary")?;
    let dir = exe.parent().context("binary has no directory")?;
    let candidates = [
        dir.join("../firmware/polyboot-bios.bin"),
        dir.join("../../firmware/polyboot-bios.bin"),
        dir.join("../share/polyboot/polyboot-bios.bin"),
    ];
    Ok(candidates.into_iter().find(|p| p.is_file()))
}

/// Size of the MBR boot code area.
pub const STAGE0_LEN: usize = 440;
/// Where stage 0 sits in the BIOS artefact, and where stage 1 starts.
const STAGE1_AT: usize = 512;
/// Stage 0's patch area (see crates/polyboot-bios/src/stage0.s): magic, sector size,
/// stage-1 sector count, and the LBA inside its INT 13h disk address packet.
const STAGE0_MAGIC_AT: usize = 416;
const STAGE0_MAGIC: &[u8; 4] = b"PBS0";
const STAGE0_SECTOR_SIZE_AT: usize = 420;
const STAGE0_COUNT_AT: usize = 422;
const STAGE0_LBA_AT: usize = 432;
const STAGE1_MAGIC: &[u8; 4] = b"PBS1";
/// Stage 0 loads stage 1 to 0x40000; real-mode memory below the EBDA ends at 0x9F000.
pub const STAGE1_MAX: usize = 0x9F000 - 0x40000;

/// Where stage 0 loads stage 1 from, as patched into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage1Location {
    pub sector_size: u32,
    pub lba: u64,
    pub sectors: u16,
}

/// polyboot's BIOS boot code as built by `cargo xtask build` (`polyboot-bios.bin`):
/// `[stage 0: 440 bytes][zeros to 512][stage 1]`.
///
/// Stage 1 goes into one of two slots in the loader gap (the gap's first and second half):
/// `install` uses the first; `update` writes the new stage 1 into the slot the current MBR
/// does not load, and only then switches the MBR to it with one sector-0 write, so a power
/// cut leaves either the old or the new boot code complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiosCode {
    stage0: [u8; STAGE0_LEN],
    stage1: Vec<u8>,
}

impl BiosCode {
    fn locate() -> Result<Option<BiosCode>> {
        let Some(path) = bios_path()? else { return Ok(None) };
        let bytes = std::fs::read(&path).with_context(|| {
            format!("reading the BIOS boot code {} (build it with `cargo xtask build`)", path.display())
        })?;
        BiosCode::parse(&bytes).map(Some).with_context(|| format!("{} is not polyboot's BIOS boot code", path.display()))
    }

    pub fn parse(bin: &[u8]) -> Result<BiosCode> {
        if bin.len() <= STAGE1_AT + 8 || &bin[STAGE0_MAGIC_AT..STAGE0_MAGIC_AT + 4] != STAGE0_MAGIC {
            bail!("no stage 0 (magic {:?} at offset {STAGE0_MAGIC_AT})", std::str::from_utf8(STAGE0_MAGIC).unwrap());
        }
        if &bin[STAGE1_AT + 2..STAGE1_AT + 6] != STAGE1_MAGIC {
            bail!("no stage 1 (magic {:?} at offset {})", std::str::from_utf8(STAGE1_MAGIC).unwrap(), STAGE1_AT + 2);
        }
        let stage1 = bin[STAGE1_AT..].to_vec();
        if stage1.len() > STAGE1_MAX {
            bail!("stage 1 is {} bytes; real-mode memory holds at most {STAGE1_MAX}", stage1.len());
        }
        Ok(BiosCode { stage0: bin[..STAGE0_LEN].try_into().unwrap(), stage1 })
    }

    pub fn stage1(&self) -> &[u8] {
        &self.stage1
    }

    /// Stage 1 padded with zeros to whole sectors, as written to the gap.
    pub fn stage1_sectors(&self, sector_size: u64) -> Vec<u8> {
        let mut v = self.stage1.clone();
        v.resize((v.len() as u64).div_ceil(sector_size) as usize * sector_size as usize, 0);
        v
    }

    /// Byte offsets of the two stage-1 slots in `gap` (each half of it, sector-aligned).
    pub fn slots(&self, gap: &std::ops::Range<u64>, sector_size: u64) -> Result<[u64; 2]> {
        let start = gap.start.div_ceil(sector_size) * sector_size;
        let half = (gap.end.saturating_sub(start) / 2) / sector_size * sector_size;
        let need = self.stage1_sectors(sector_size).len() as u64;
        if need > half {
            bail!(
                "the BIOS stage 1 ({} bytes) does not fit half of the loader gap ({} bytes at {}..{})",
                self.stage1.len(),
                half,
                gap.start,
                gap.end
            );
        }
        Ok([start, start + half])
    }

    /// Stage 0 patched to load stage 1 from byte offset `at` of a drive with `sector_size`.
    pub fn stage0_for(&self, sector_size: u64, at: u64) -> Result<[u8; STAGE0_LEN]> {
        if !matches!(sector_size, 512 | 4096) || at % sector_size != 0 {
            bail!("stage 1 at byte {at} is not on a {sector_size}-byte sector boundary");
        }
        let sectors = u16::try_from((self.stage1.len() as u64).div_ceil(sector_size)).context("stage 1 too large")?;
        let mut code = self.stage0;
        code[STAGE0_SECTOR_SIZE_AT..STAGE0_SECTOR_SIZE_AT + 2].copy_from_slice(&(sector_size as u16).to_le_bytes());
        code[STAGE0_COUNT_AT..STAGE0_COUNT_AT + 2].copy_from_slice(&sectors.to_le_bytes());
        code[STAGE0_LBA_AT..STAGE0_LBA_AT + 8].copy_from_slice(&(at / sector_size).to_le_bytes());
        Ok(code)
    }
}

/// Where the MBR boot code `code` loads stage 1 from, if it is polyboot's stage 0.
pub fn stage1_location(code: &[u8]) -> Option<Stage1Location> {
    if code.len() < STAGE0_LEN || &code[STAGE0_MAGIC_AT..STAGE0_MAGIC_AT + 4] != STAGE0_MAGIC {
        return None;
    }
    let u16_at = |i: usize| u16::from_le_bytes([code[i], code[i + 1]]);
    Some(Stage1Location {
        sector_size: u32::from(u16_at(STAGE0_SECTOR_SIZE_AT)),
        lba: u64::from_le_bytes(code[STAGE0_LBA_AT..STAGE0_LBA_AT + 8].try_into().unwrap()),
        sectors: u16_at(STAGE0_COUNT_AT),
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Format the boot partition `[offset, offset+len)` of `file` as FAT and write the boot files.
pub fn write_boot_partition(file: &File, offset: u64, len: u64, sector_size: u32, files: &BootFiles) -> Result<()> {
    let opts = fatfs::FormatVolumeOptions::new()
        .bytes_per_sector(sector_size as u16)
        .total_sectors((len / sector_size as u64) as u32)
        .volume_label(*BOOT_LABEL);
    fatfs::format_volume(RegionStream::new(file, offset, len), opts).context("formatting the boot partition (FAT)")?;
    let fs = fatfs::FileSystem::new(RegionStream::new(file, offset, len), fatfs::FsOptions::new())
        .context("opening the new boot partition")?;
    {
        let root = fs.root_dir();
        root.create_dir("EFI")?;
        root.create_dir("EFI/BOOT")?;
        root.create_dir("polyboot")?;
        write_fat_file(&root, EFI_BOOT_PATH, &files.bootx64)?;
        write_fat_file(&root, STAMP_PATH, &files.stamp_json()?)?;
    }
    fs.unmount().context("closing the boot partition")?;
    repair_dot_entries(file, offset, len, sector_size)?;
    Ok(())
}

/// The `fatfs` crate (0.3.6) writes a long-name entry in front of each new directory's "."
/// and ".." entries; fsck.fat (rightly) wants "." and ".." in the first two slots. Move them
/// there and mark the two freed slots deleted. Our directories are small, so only their first
/// cluster holds these entries.
fn repair_dot_entries(file: &File, offset: u64, len: u64, sector_size: u32) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let fat = super::update::FatGeometry::read(file, offset, len, sector_size)?;
    let (root_at, root_entries, cluster_bytes) = (fat.root_at, fat.root_entries, fat.cluster_bytes);
    let cluster_at = |c: u64| fat.cluster_at(c as u32);

    // Breadth-first over directories: (position, length in bytes) of each directory's entries.
    let mut queue = vec![(root_at, root_entries * 32, true)];
    while let Some((at, size, is_root)) = queue.pop() {
        let mut buf = vec![0u8; size as usize];
        file.read_exact_at(&mut buf, at)?;
        if !is_root && move_dot_entries_first(&mut buf) {
            file.write_all_at(&buf[..128], at)?;
        }
        for entry in buf.chunks_exact(32) {
            if entry[0] == 0 {
                break;
            }
            let is_subdir = entry[11] & 0x10 != 0 && entry[11] != 0x0F && entry[0] != 0xE5 && entry[0] != b'.';
            if is_subdir {
                let cluster = u16::from_le_bytes([entry[26], entry[27]]) as u64;
                let pos = cluster_at(cluster.max(2));
                if cluster >= 2 && pos + cluster_bytes <= offset + len {
                    queue.push((pos, cluster_bytes, false));
                }
            }
        }
    }
    Ok(())
}

/// In the first bytes of a directory `fatfs` wrote (long-name entry, ".", long-name entry,
/// ".."), move "." and ".." to the first two slots and mark the two slots after them deleted.
/// Returns whether `dir[..128]` changed (and must be written back).
pub(crate) fn move_dot_entries_first(dir: &mut [u8]) -> bool {
    let fatfs_shape =
        dir.len() >= 128 && dir[11] == 0x0F && dir[32] == b'.' && dir[64 + 11] == 0x0F && &dir[96..98] == b"..";
    if !fatfs_shape {
        return false;
    }
    dir.copy_within(32..64, 0);
    dir.copy_within(96..128, 32);
    dir[64..128].fill(0);
    dir[64] = 0xE5;
    dir[96] = 0xE5;
    true
}

fn write_fat_file<T: fatfs::ReadWriteSeek>(root: &fatfs::Dir<'_, T>, path: &str, data: &[u8]) -> Result<()> {
    let mut f = root.create_file(path).with_context(|| format!("creating {path} on the boot partition"))?;
    f.truncate()?;
    f.write_all(data).with_context(|| format!("writing {path} on the boot partition"))?;
    f.flush()?;
    Ok(())
}

/// Read the stamp of a boot partition; `None` when the partition is not ours.
pub fn read_stamp(file: &File, offset: u64, len: u64) -> Result<Option<Stamp>> {
    let Ok(fs) = fatfs::FileSystem::new(RegionStream::new(file, offset, len), fatfs::FsOptions::new()) else {
        return Ok(None);
    };
    let root = fs.root_dir();
    let Ok(mut f) = root.open_file(STAMP_PATH) else {
        return Ok(None);
    };
    let mut text = Vec::new();
    f.read_to_end(&mut text).context("reading the boot partition's stamp")?;
    let stamp = serde_json::from_slice(&text).context("the boot partition's stamp.json is malformed")?;
    Ok(Some(stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The on-disk JSON is an interface between versions: pin it.
    #[test]
    fn stamp_json_is_pinned() {
        let stamp = Stamp {
            polyboot_version: "0.1.0".into(),
            layout_version: 1,
            bootx64_sha256: "ab".repeat(32),
        };
        let fixture = include_str!("../../tests/fixtures/stamp-v1.json");
        assert_eq!(serde_json::to_string_pretty(&stamp).unwrap(), fixture.trim_end());
        assert_eq!(serde_json::from_str::<Stamp>(fixture).unwrap(), stamp);
    }

    #[test]
    fn boot_partition_round_trip_512_and_4096() {
        for ss in [512u32, 4096] {
            let tmp = tempfile::tempfile().unwrap();
            tmp.set_len(40 << 20).unwrap();
            let files = BootFiles { bootx64: b"MZ fake efi".to_vec(), bios: None };
            write_boot_partition(&tmp, 1 << 20, 32 << 20, ss, &files).unwrap();
            let stamp = read_stamp(&tmp, 1 << 20, 32 << 20).unwrap().unwrap();
            assert_eq!(stamp, files.stamp());
            assert!(read_stamp(&tmp, 0, 1 << 20).unwrap().is_none());
        }
    }

    /// A BIOS artefact shaped like the real one: stage 0 with its patch area, stage 1 magic.
    fn fake_bios(stage1_len: usize) -> Vec<u8> {
        let mut bin = vec![0u8; STAGE1_AT + stage1_len];
        bin[..16].copy_from_slice(&[0xFA; 16]);
        bin[STAGE0_MAGIC_AT..STAGE0_MAGIC_AT + 4].copy_from_slice(STAGE0_MAGIC);
        bin[STAGE0_SECTOR_SIZE_AT..STAGE0_SECTOR_SIZE_AT + 2].copy_from_slice(&512u16.to_le_bytes());
        bin[424] = 16; // the disk address packet's size byte, which patching must keep
        bin[STAGE1_AT + 2..STAGE1_AT + 6].copy_from_slice(STAGE1_MAGIC);
        for (i, b) in bin[STAGE1_AT + 6..].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        bin
    }

    #[test]
    fn bios_code_is_checked() {
        assert!(BiosCode::parse(&fake_bios(4096)).is_ok());
        assert!(BiosCode::parse(&[0u8; 4096]).is_err(), "no magic");
        let mut no_stage1 = fake_bios(4096);
        no_stage1[STAGE1_AT + 2] = b'X';
        assert!(BiosCode::parse(&no_stage1).is_err());
        assert!(BiosCode::parse(&fake_bios(STAGE1_MAX + 1)).is_err(), "larger than real-mode memory");
    }

    #[test]
    fn stage0_is_patched_with_the_stage1_location() {
        let code = BiosCode::parse(&fake_bios(100_000)).unwrap();
        let s0 = code.stage0_for(512, 17_408).unwrap();
        assert_eq!(s0[..16], [0xFA; 16], "code untouched");
        assert_eq!(s0[424], 16);
        assert_eq!(stage1_location(&s0), Some(Stage1Location { sector_size: 512, lba: 34, sectors: 196 }));
        let s0 = code.stage0_for(4096, 1 << 19).unwrap();
        assert_eq!(stage1_location(&s0), Some(Stage1Location { sector_size: 4096, lba: 128, sectors: 25 }));
        assert!(code.stage0_for(4096, 512).is_err(), "not sector-aligned");
        assert!(stage1_location(&[0u8; 440]).is_none(), "not ours");
        assert_eq!(code.stage1_sectors(4096).len(), 25 * 4096);
        assert_eq!(&code.stage1_sectors(4096)[..100_000], code.stage1());
    }

    #[test]
    fn stage1_slots_split_the_loader_gap() {
        let code = BiosCode::parse(&fake_bios(100_000)).unwrap();
        // GPT, 512-byte sectors: the gap starts after the 32-sector entry array.
        assert_eq!(code.slots(&(17_408..1 << 20), 512).unwrap(), [17_408, 17_408 + 515_584]);
        // GPT, 4096: 6 sectors; MBR, 512: right after sector 0.
        assert_eq!(code.slots(&(24_576..1 << 20), 4096).unwrap(), [24_576, 24_576 + 512_000]);
        assert_eq!(code.slots(&(512..1 << 20), 512).unwrap(), [512, 512 + 523_776]);
        // A gap start off the sector grid is rounded up.
        assert_eq!(code.slots(&(4_000..1 << 20), 4096).unwrap()[0], 4096);
        // Too small for two copies: refused, with the sizes.
        let err = code.slots(&(512..150_000), 512).unwrap_err().to_string();
        assert!(err.contains("does not fit") && err.contains("100000"), "{err}");
    }
}
