//! polyboot's legacy BIOS boot code on a drive: stage 0 in the MBR's boot-code area (bytes
//! 0..440) and stage 1 in one of two slots of the loader gap (between the partition table and
//! partition 1). [`BiosCode`] is the artefact and how stage 0 is patched; [`BootCodeAreas`]
//! is what `update` finds on a drive and its crash-safe switch to the new code.

use super::io::FileDevice;
use anyhow::{bail, ensure, Context, Result};
use polyboot_core::bytes;
use polyboot_core::gpt::{self, HeaderKind, SectorSize};
use polyboot_core::layout::Scheme;
use polyboot_core::mbr::BOOT_CODE_LEN;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

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
/// Stage 0 loads stage 1 to 0x8000; its 16-bit page runs from 0x80000 (crates/polyboot-bios/
/// link.ld), so the load area ends there.
pub const STAGE1_MAX: usize = 0x80000 - 0x8000;

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
    pub(super) fn locate() -> Result<Option<BiosCode>> {
        let Some(path) = bios_path()? else { return Ok(None) };
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "reading the BIOS boot code {} (build it with `cargo xtask build`)",
                path.display()
            )
        })?;
        BiosCode::parse(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not polyboot's BIOS boot code", path.display()))
    }

    pub fn parse(bin: &[u8]) -> Result<BiosCode> {
        if bin.len() <= STAGE1_AT + 8 || &bin[STAGE0_MAGIC_AT..STAGE0_MAGIC_AT + 4] != STAGE0_MAGIC
        {
            bail!(
                "no stage 0 (magic {:?} at offset {STAGE0_MAGIC_AT})",
                std::str::from_utf8(STAGE0_MAGIC).unwrap()
            );
        }
        if &bin[STAGE1_AT + 2..STAGE1_AT + 6] != STAGE1_MAGIC {
            bail!(
                "no stage 1 (magic {:?} at offset {})",
                std::str::from_utf8(STAGE1_MAGIC).unwrap(),
                STAGE1_AT + 2
            );
        }
        let stage1 = bin[STAGE1_AT..].to_vec();
        if stage1.len() > STAGE1_MAX {
            bail!(
                "stage 1 is {} bytes; its load area (0x8000..0x80000) holds at most {STAGE1_MAX}",
                stage1.len()
            );
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
        let sectors = u16::try_from((self.stage1.len() as u64).div_ceil(sector_size))
            .context("stage 1 too large")?;
        let mut code = self.stage0;
        code[STAGE0_SECTOR_SIZE_AT..STAGE0_SECTOR_SIZE_AT + 2]
            .copy_from_slice(&(sector_size as u16).to_le_bytes());
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
    Some(Stage1Location {
        sector_size: u32::from(bytes::le16(code, STAGE0_SECTOR_SIZE_AT).ok()?),
        lba: bytes::le64(code, STAGE0_LBA_AT).ok()?,
        sectors: bytes::le16(code, STAGE0_COUNT_AT).ok()?,
    })
}

/// The boot-code areas as found, and whether they differ from the current build's.
pub(super) struct BootCodeAreas {
    sector_size: u64,
    sector0: Vec<u8>,
    /// Byte range of the loader gap (empty when it cannot be established safely).
    gap: std::ops::Range<u64>,
    /// What to write: stage 0 for the target slot, stage 1 padded to whole sectors, and the
    /// slot's byte offset. `None`: nothing to write.
    plan: Option<([u8; BOOT_CODE_LEN], Vec<u8>, u64)>,
    pub(super) stale: bool,
}

impl BootCodeAreas {
    /// Read the areas of the drive `dev` (`file`: the same drive) partitioned with `scheme`
    /// and `sector_size`-byte sectors, whose partition 1 starts at byte `data_start`.
    pub(super) fn read(
        dev: &mut FileDevice,
        file: &File,
        scheme: Scheme,
        sector_size: u32,
        data_start: u64,
        bios: Option<&BiosCode>,
    ) -> Result<BootCodeAreas> {
        let ss = u64::from(sector_size);
        let gap_start = match scheme {
            Scheme::Mbr => ss,
            Scheme::Gpt => {
                let sector_size = SectorSize::from_bytes(ss)
                    .with_context(|| format!("unsupported sector size {ss} (512 or 4096)"))?;
                let read = gpt::read(dev, sector_size)
                    .map_err(|e| anyhow::anyhow!("the GPT is unreadable: {e}"))?;
                // Only behind a primary table we could read: otherwise we do not know for
                // sure where its entry array ends, and leave the gap alone.
                if read.source == HeaderKind::Primary
                    && read.primary_problem.is_none()
                    && read.header.entries_lba >= 2
                {
                    let array = (read.header.entry_count as u64 * read.header.entry_size as u64)
                        .div_ceil(ss);
                    (read.header.entries_lba + array) * ss
                } else {
                    data_start
                }
            }
        };
        let mut sector0 = vec![0u8; ss as usize];
        file.read_exact_at(&mut sector0, 0).context("reading sector 0")?;
        let gap = gap_start.min(data_start)..data_start;
        let read_gap = || -> Result<Vec<u8>> {
            let mut buf = vec![0u8; (gap.end - gap.start) as usize];
            file.read_exact_at(&mut buf, gap.start).context("reading the loader gap")?;
            Ok(buf)
        };
        let bios = match bios {
            // The gap cannot be located safely: leave the boot code alone.
            Some(_) if gap.is_empty() => {
                return Ok(BootCodeAreas {
                    sector_size: ss,
                    sector0,
                    gap,
                    plan: None,
                    stale: false,
                });
            }
            Some(bios) => bios,
            // A build without BIOS boot code: the current boot code is none (zeros), as
            // `install` writes it.
            None => {
                let stale = sector0[..BOOT_CODE_LEN].iter().any(|&b| b != 0)
                    || read_gap()?.iter().any(|&b| b != 0);
                let plan = Some(([0u8; BOOT_CODE_LEN], Vec::new(), gap.start));
                return Ok(BootCodeAreas { sector_size: ss, sector0, gap, plan, stale });
            }
        };
        let slots = bios.slots(&gap, ss)?;
        let stage1 = bios.stage1_sectors(ss);
        // The slot the current stage 0 loads, if it is ours and points at one of them.
        let current = stage1_location(&sector0[..BOOT_CODE_LEN])
            .filter(|l| u64::from(l.sector_size) == ss)
            .and_then(|l| slots.iter().position(|&s| s == l.lba * ss));
        // Up to date: stage 0 is the new one for that slot, the slot holds the new stage 1,
        // and the rest of the gap is zeros.
        let mut stale = true;
        if let Some(i) = current {
            if sector0[..BOOT_CODE_LEN] == bios.stage0_for(ss, slots[i])? {
                let buf = read_gap()?;
                let at = (slots[i] - gap.start) as usize;
                stale = buf[at..at + stage1.len()] != stage1[..]
                    || buf[..at].iter().chain(&buf[at + stage1.len()..]).any(|&b| b != 0);
            }
        }
        let target = slots[match current {
            Some(0) => 1,
            _ => 0,
        }];
        let plan = Some((bios.stage0_for(ss, target)?, stage1, target));
        Ok(BootCodeAreas { sector_size: ss, sector0, gap, plan, stale })
    }

    /// New stage 1 into the free slot, then stage 0 in one write of sector 0, then the rest of
    /// the gap zeroed (see the module comment).
    pub(super) fn write(&self, file: &File) -> Result<()> {
        let Some((stage0, stage1, slot)) = &self.plan else { return Ok(()) };
        let sync = || file.sync_all().context("flushing the target to stable storage");
        let ss = self.sector_size;
        let write_differing = |at: u64, want: &[u8]| -> Result<()> {
            let mut have = vec![0u8; ss as usize];
            for (i, chunk) in want.chunks(ss as usize).enumerate() {
                let pos = at + i as u64 * ss;
                file.read_exact_at(&mut have, pos)?;
                if have != chunk {
                    file.write_all_at(chunk, pos).context("writing the loader gap")?;
                }
            }
            Ok(())
        };
        write_differing(*slot, stage1)?;
        sync()?;
        let mut sector0 = vec![0u8; ss as usize];
        file.read_exact_at(&mut sector0, 0)?;
        ensure!(sector0 == self.sector0, "sector 0 changed while polyboot was running");
        sector0[..BOOT_CODE_LEN].copy_from_slice(stage0);
        file.write_all_at(&sector0, 0).context("writing the MBR boot code")?;
        sync()?;
        let end = slot + stage1.len() as u64;
        write_differing(self.gap.start, &vec![0u8; (slot - self.gap.start) as usize])?;
        write_differing(end, &vec![0u8; (self.gap.end - end) as usize])?;
        sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BIOS artefact shaped like the real one: stage 0 with its patch area, stage 1 magic.
    fn fake_bios(stage1_len: usize) -> Vec<u8> {
        let mut bin = vec![0u8; STAGE1_AT + stage1_len];
        bin[..16].copy_from_slice(&[0xFA; 16]);
        bin[STAGE0_MAGIC_AT..STAGE0_MAGIC_AT + 4].copy_from_slice(STAGE0_MAGIC);
        bin[STAGE0_SECTOR_SIZE_AT..STAGE0_SECTOR_SIZE_AT + 2]
            .copy_from_slice(&512u16.to_le_bytes());
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
        assert!(
            BiosCode::parse(&fake_bios(STAGE1_MAX + 1)).is_err(),
            "larger than real-mode memory"
        );
    }

    #[test]
    fn stage0_is_patched_with_the_stage1_location() {
        let code = BiosCode::parse(&fake_bios(100_000)).unwrap();
        let s0 = code.stage0_for(512, 17_408).unwrap();
        assert_eq!(s0[..16], [0xFA; 16], "code untouched");
        assert_eq!(s0[424], 16);
        assert_eq!(
            stage1_location(&s0),
            Some(Stage1Location { sector_size: 512, lba: 34, sectors: 196 })
        );
        let s0 = code.stage0_for(4096, 1 << 19).unwrap();
        assert_eq!(
            stage1_location(&s0),
            Some(Stage1Location { sector_size: 4096, lba: 128, sectors: 25 })
        );
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
