//! polyboot's legacy BIOS boot code on a drive: stage 0 in the MBR's boot-code area (bytes
//! 0..440) and stage 1 in one of two slots of the loader gap (between the partition table and
//! partition 1). [`BiosCode`] is the artefact and how stage 0 is patched; [`BootCodeAreas`]
//! is what `update` finds on a drive and its crash-safe switch to the new code.
//!
//! # Stage 1 larger than stage 0's load area: the tail
//!
//! Stage 0 loads stage 1 into real-mode memory, 0x8000..0x80000 ([`LOAD_AREA`] bytes). A larger
//! stage 1 (up to [`STAGE1_MAX`]) is split: its first [`LOAD_AREA`] bytes (the head: the 16-bit
//! page and the beginning of the 32-bit part) go into the gap slot and are what stage 0 loads;
//! the rest (the tail) goes into a contiguous file of the boot partition,
//! `\polyboot\stage1-a.bin` or `stage1-b.bin` ([`TAIL_NAMES`]), and the head's header (see
//! crates/polyboot-bios/src/stage1.s) is patched with the tail's first sector and CRC-32. The
//! loader in stage 1's 16-bit page reads the tail to its link addresses, checks the CRC, and
//! only then runs the 32-bit part.
//!
//! Why a file and not the gap: the gap ends where partition 1 starts, 1 MiB into the drive
//! (core's layout, `DATA_START_BYTES`), and `update` needs room for two copies of stage 1 in
//! it (old and new side by side): about 500 KiB each. Drives made by every earlier version
//! have that gap with the user's data right after it, so it can never grow on them; a larger
//! gap for new drives only would still leave those drives stuck at 500 KiB. The boot partition
//! (32 MiB) has room for two tails on every drive, `update` already writes it crash-safely,
//! and the loader does not care where the tail is (`tail_lba`), so moving it elsewhere later
//! changes only this file. A file's sectors are only reliable while nothing moves it: the CRC
//! check turns a tail that was moved or changed behind polyboot's back (FAT defragmenters,
//! copying the partition file by file) into a message asking for `polyboot update`, never
//! into running half-loaded code.
//!
//! The two names play the part of the gap's two slots: `update` writes the new tail under the
//! name the current head does not load, switches stage 0 (one sector write) to the new head
//! that loads it, and only then removes the old tail; a tail no head loads is a leftover.

use super::io::FileDevice;
use anyhow::{bail, ensure, Context, Result};
use polyboot_core::block::WriteAt;
use polyboot_core::bytes;
use polyboot_core::crc32::crc32;
use polyboot_core::fat::write::{Dir, Fat16Writer};
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
/// Stage 1's header (crates/polyboot-bios/src/stage1.s), offsets in stage 1: the bytes of its
/// 32-bit part (as linked), then what the host patches: how much of it stage 0 loads (0: all),
/// the tail's first sector and CRC-32, the sector size.
const S1_HIGH_BYTES_AT: usize = 8;
const S1_HEAD_BYTES_AT: usize = 12;
const S1_TAIL_LBA_AT: usize = 16;
const S1_TAIL_CRC_AT: usize = 24;
const S1_SECTOR_SIZE_AT: usize = 28;
const S1_HEADER_END: usize = 32;
/// Stage 1's 16-bit page, which precedes its 32-bit part.
const S1_PAGE: usize = 4096;
/// Stage 0 loads stage 1 to 0x8000; its 16-bit page runs from 0x80000 (crates/polyboot-bios/
/// link.ld), so the load area ends there: the most of stage 1 that stage 0 loads. A larger
/// stage 1 has this much in the gap (its head) and the rest in a file (its tail).
pub const LOAD_AREA: usize = 0x80000 - 0x8000;
/// The largest stage 1: its 32-bit part runs from 1 MiB and must end, with its .bss, by 4 MiB
/// (link.ld; what the resident hooks' page table maps), which the link checks exactly.
pub const STAGE1_MAX: usize = S1_PAGE + (3 << 20);

/// Where stage 1's tail lives on the boot partition: the directory, and its two names.
pub const TAIL_DIR: &[&str] = &["polyboot"];
pub const TAIL_NAMES: [TailName; 2] = [
    TailName { long: "stage1-a.bin", short: *b"STAGE1-ABIN" },
    TailName { long: "stage1-b.bin", short: *b"STAGE1-BBIN" },
];

/// One of the tail file's names: the long name and the short name FAT derives from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailName {
    pub long: &'static str,
    pub short: [u8; 11],
}

/// Where stage 0 loads stage 1 from, as patched into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage1Location {
    pub sector_size: u32,
    pub lba: u64,
    pub sectors: u16,
}

/// What a head's header says about the tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailRef {
    /// Bytes of stage 1 in the head (stage 1's tail starts there).
    pub head_bytes: u32,
    /// Bytes of stage 1 in all (the 16-bit page and the 32-bit part).
    pub stage1_bytes: u64,
    pub lba: u64,
    pub crc: u32,
    pub sector_size: u16,
}

/// A tail file as found on the boot partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailFile {
    /// Its first sector on the drive; `None` when its clusters are not one contiguous run (the
    /// loader reads sectors, not the FAT: no head may load such a file).
    pub lba: Option<u64>,
    pub data: Vec<u8>,
}

/// polyboot's BIOS boot code as built by `cargo xtask build` (`polyboot-bios.bin`):
/// `[stage 0: 440 bytes][zeros to 512][stage 1]`.
///
/// Stage 1 (its head, see the module comment) goes into one of two slots in the loader gap
/// (the gap's first and second half): `install` uses the first; `update` writes the new stage
/// 1 into the slot the current MBR does not load, and only then switches the MBR to it with
/// one sector-0 write, so a power cut leaves either the old or the new boot code complete.
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
                "stage 1 is {} bytes; its 32-bit part runs from 1 MiB to at most 4 MiB, so it may be {STAGE1_MAX} at most",
                stage1.len()
            );
        }
        // The loader reads the tail up to the end of the 32-bit part as linked: the artefact
        // must end there too.
        let high = bytes::le32(&stage1, S1_HIGH_BYTES_AT).ok().map(u64::from);
        if stage1.len() < S1_PAGE || high != Some((stage1.len() - S1_PAGE) as u64) {
            bail!(
                "stage 1 is {} bytes, but its header says its 32-bit part has {high:?} after the {S1_PAGE}-byte page",
                stage1.len()
            );
        }
        if bytes::le32(&stage1, S1_HEAD_BYTES_AT).ok() != Some(0) {
            bail!("stage 1's header is already patched");
        }
        Ok(BiosCode { stage0: bin[..STAGE0_LEN].try_into().unwrap(), stage1 })
    }

    /// Stage 1 as built (its header not patched).
    pub fn stage1(&self) -> &[u8] {
        &self.stage1
    }

    /// The bytes of stage 1 that stage 0 loads (all of it, up to [`LOAD_AREA`]).
    fn head_bytes(&self) -> &[u8] {
        &self.stage1[..self.stage1.len().min(LOAD_AREA)]
    }

    /// The part of stage 1 beyond stage 0's load area, which goes into a file of the boot
    /// partition; `None` when stage 0 loads all of it.
    pub fn tail(&self) -> Option<&[u8]> {
        (self.stage1.len() > LOAD_AREA).then(|| &self.stage1[LOAD_AREA..])
    }

    /// The head as written to the gap: padded with zeros to whole sectors, its header patched
    /// with the tail's first sector `tail_lba` (which a stage 1 with a tail needs, and one
    /// without must not get).
    pub fn head(&self, sector_size: u64, tail_lba: Option<u64>) -> Result<Vec<u8>> {
        let mut v = self.head_bytes().to_vec();
        match (self.tail(), tail_lba) {
            (None, None) => {}
            (Some(tail), Some(lba)) => {
                ensure!(
                    matches!(sector_size, 512 | 4096),
                    "unsupported sector size {sector_size}"
                );
                let head = v.len() as u32;
                v[S1_HEAD_BYTES_AT..S1_HEAD_BYTES_AT + 4].copy_from_slice(&head.to_le_bytes());
                v[S1_TAIL_LBA_AT..S1_TAIL_LBA_AT + 8].copy_from_slice(&lba.to_le_bytes());
                v[S1_TAIL_CRC_AT..S1_TAIL_CRC_AT + 4].copy_from_slice(&crc32(tail).to_le_bytes());
                v[S1_SECTOR_SIZE_AT..S1_SECTOR_SIZE_AT + 2]
                    .copy_from_slice(&(sector_size as u16).to_le_bytes());
            }
            (Some(_), None) => bail!(
                "internal: stage 1 ({} bytes) is larger than stage 0's load area ({LOAD_AREA} bytes), and no tail location was given",
                self.stage1.len()
            ),
            (None, Some(_)) => bail!("internal: a tail location for a stage 1 without a tail"),
        }
        v.resize(v.len().div_ceil(sector_size as usize) * sector_size as usize, 0);
        Ok(v)
    }

    /// Bytes the head takes in the gap, padded to whole sectors.
    pub fn head_len(&self, sector_size: u64) -> u64 {
        (self.head_bytes().len() as u64).div_ceil(sector_size) * sector_size
    }

    /// Byte offsets of the two stage-1 slots in `gap` (each half of it, sector-aligned).
    pub fn slots(&self, gap: &std::ops::Range<u64>, sector_size: u64) -> Result<[u64; 2]> {
        let start = gap.start.div_ceil(sector_size) * sector_size;
        let half = (gap.end.saturating_sub(start) / 2) / sector_size * sector_size;
        let need = self.head_len(sector_size);
        if need > half {
            bail!(
                "the BIOS stage 1 ({} bytes in the gap) does not fit half of the loader gap ({} bytes at {}..{})",
                self.head_bytes().len(),
                half,
                gap.start,
                gap.end
            );
        }
        Ok([start, start + half])
    }

    /// Stage 0 patched to load stage 1 (its head) from byte offset `at` of a drive with
    /// `sector_size`.
    pub fn stage0_for(&self, sector_size: u64, at: u64) -> Result<[u8; STAGE0_LEN]> {
        if !matches!(sector_size, 512 | 4096) || at % sector_size != 0 {
            bail!("stage 1 at byte {at} is not on a {sector_size}-byte sector boundary");
        }
        let sectors =
            u16::try_from(self.head_len(sector_size) / sector_size).context("stage 1 too large")?;
        let mut code = self.stage0;
        code[STAGE0_SECTOR_SIZE_AT..STAGE0_SECTOR_SIZE_AT + 2]
            .copy_from_slice(&(sector_size as u16).to_le_bytes());
        code[STAGE0_COUNT_AT..STAGE0_COUNT_AT + 2].copy_from_slice(&sectors.to_le_bytes());
        code[STAGE0_LBA_AT..STAGE0_LBA_AT + 8].copy_from_slice(&(at / sector_size).to_le_bytes());
        Ok(code)
    }

    /// Whether `loaded` (what [`load_stage1`] found on a drive) is this stage 1: the same
    /// bytes, apart from the header fields the host patches.
    pub fn is_loaded(&self, loaded: &[u8]) -> bool {
        let skip = S1_HEAD_BYTES_AT..S1_HEADER_END;
        loaded.len() == self.stage1.len()
            && loaded[..skip.start] == self.stage1[..skip.start]
            && loaded[skip.end..] == self.stage1[skip.end..]
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

/// The tail a head (stage 1's first sectors, as in the gap) loads; `None` when it has none
/// (stage 0 loads all of stage 1) or is not polyboot's stage 1.
pub fn tail_ref(head: &[u8]) -> Option<TailRef> {
    if head.get(2..6) != Some(STAGE1_MAGIC.as_slice()) {
        return None;
    }
    let head_bytes = bytes::le32(head, S1_HEAD_BYTES_AT).ok()?;
    if head_bytes == 0 {
        return None;
    }
    Some(TailRef {
        head_bytes,
        stage1_bytes: S1_PAGE as u64 + u64::from(bytes::le32(head, S1_HIGH_BYTES_AT).ok()?),
        lba: bytes::le64(head, S1_TAIL_LBA_AT).ok()?,
        crc: bytes::le32(head, S1_TAIL_CRC_AT).ok()?,
        sector_size: bytes::le16(head, S1_SECTOR_SIZE_AT).ok()?,
    })
}

/// Stage 1 as the BIOS would load it from the drive `file`: stage 0's location in sector 0,
/// the head from there, the tail from where the head says, its CRC checked, as stage 0 and
/// the loader in stage 1 do. Errors say what the BIOS would stop at.
pub fn load_stage1(file: &File) -> Result<Vec<u8>> {
    let mut code = [0u8; STAGE0_LEN];
    file.read_exact_at(&mut code, 0).context("reading sector 0")?;
    let loc = stage1_location(&code).context("the MBR boot code is not polyboot's stage 0")?;
    let ss = u64::from(loc.sector_size);
    ensure!(matches!(ss, 512 | 4096), "stage 0 has sector size {ss}");
    let len = u64::from(loc.sectors) * ss;
    ensure!(len as usize <= LOAD_AREA, "stage 0 loads {len} bytes, more than its load area");
    let mut head = vec![0u8; len as usize];
    file.read_exact_at(&mut head, loc.lba * ss).context("reading stage 1")?;
    ensure!(head.get(2..6) == Some(STAGE1_MAGIC.as_slice()), "no stage 1 where stage 0 loads");
    let high = u64::from(bytes::le32(&head, S1_HIGH_BYTES_AT).map_err(anyhow::Error::msg)?);
    let Some(t) = tail_ref(&head) else {
        let total = (S1_PAGE as u64 + high) as usize;
        ensure!(total <= head.len(), "stage 0 loads {len} bytes of a {total}-byte stage 1");
        head.truncate(total);
        return Ok(head);
    };
    ensure!(u64::from(t.sector_size) == ss, "the head's sector size is {}", t.sector_size);
    let head_bytes = t.head_bytes as usize;
    ensure!(
        head_bytes >= S1_PAGE && head_bytes <= head.len() && (head_bytes as u64) < t.stage1_bytes,
        "the head's header says {head_bytes} of {} bytes are in the head",
        t.stage1_bytes
    );
    let tail_len = (t.stage1_bytes - head_bytes as u64) as usize;
    let mut tail = vec![0u8; tail_len];
    file.read_exact_at(&mut tail, t.lba * ss).context("reading stage 1's tail")?;
    ensure!(
        crc32(&tail) == t.crc,
        "stage 1's tail at LBA {} does not have the CRC-32 its head expects",
        t.lba
    );
    head.truncate(head_bytes);
    head.extend_from_slice(&tail);
    Ok(head)
}

/// The tail files in `\polyboot\` of the FAT16 boot partition `fat`, which starts at byte
/// `part_offset` of a drive with `sector_size`-byte sectors; `None` for a name not there.
pub fn find_tails<D: WriteAt>(
    fat: &mut Fat16Writer<D>,
    part_offset: u64,
    sector_size: u64,
) -> Result<[Option<TailFile>; 2]> {
    let part2 = |e| anyhow::anyhow!("partition 2: {e}");
    let mut dir = Dir::Root;
    for name in TAIL_DIR {
        match fat.subdir(dir, name).map_err(part2)? {
            Some(d) => dir = d,
            None => return Ok([None, None]),
        }
    }
    let listing = fat.list(dir).map_err(part2)?;
    let mut found = [None, None];
    for (slot, name) in found.iter_mut().zip(&TAIL_NAMES) {
        let Some(set) = listing.find(name.long).map_err(part2)? else { continue };
        if listing.is_dir(set) {
            continue;
        }
        let data = fat.read_file(&listing, set).map_err(part2)?;
        let first = listing.first_cluster(set);
        let chain = if data.is_empty() { Vec::new() } else { fat.chain(first).map_err(part2)? };
        let contiguous = !chain.is_empty() && chain.windows(2).all(|w| w[1] == w[0] + 1);
        let offset = part_offset + fat.geometry().cluster_offset(first.max(2));
        let lba = (contiguous && offset % sector_size == 0).then_some(offset / sector_size);
        *slot = Some(TailFile { lba, data });
    }
    Ok(found)
}

/// The boot-code areas as found, and whether they differ from the current build's.
pub(super) struct BootCodeAreas {
    sector_size: u64,
    sector0: Vec<u8>,
    /// Byte range of the loader gap (empty when it cannot be established safely).
    gap: std::ops::Range<u64>,
    /// What to write: the build's code (`None`: a build without BIOS code, whose boot code is
    /// zeros) and the byte offset of the slot its head goes to. `None`: nothing to write.
    plan: Option<(Option<BiosCode>, u64)>,
    pub(super) stale: bool,
    /// The tail file (index into [`TAIL_NAMES`]) the current boot code loads, if any: the one
    /// tail file that is no leftover.
    pub(super) live_tail: Option<usize>,
}

impl BootCodeAreas {
    /// Read the areas of the drive `dev` (`file`: the same drive) partitioned with `scheme`
    /// and `sector_size`-byte sectors, whose partition 1 starts at byte `data_start`; `tails`
    /// are the tail files on its boot partition ([`find_tails`]).
    pub(super) fn read(
        dev: &mut FileDevice,
        file: &File,
        scheme: Scheme,
        sector_size: u32,
        data_start: u64,
        bios: Option<&BiosCode>,
        tails: &[Option<TailFile>; 2],
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
        let live_tail = live_tail(file, &sector0, ss, tails);
        let read_gap = || -> Result<Vec<u8>> {
            let mut buf = vec![0u8; (gap.end - gap.start) as usize];
            file.read_exact_at(&mut buf, gap.start).context("reading the loader gap")?;
            Ok(buf)
        };
        let unchanged = |gap, live_tail| BootCodeAreas {
            sector_size: ss,
            sector0: sector0.clone(),
            gap,
            plan: None,
            stale: false,
            live_tail,
        };
        let bios = match bios {
            // The gap cannot be located safely: leave the boot code alone.
            Some(_) if gap.is_empty() => return Ok(unchanged(gap, live_tail)),
            Some(bios) => bios,
            // A build without BIOS boot code: the current boot code is none (zeros), as
            // `install` writes it.
            None => {
                let stale = sector0[..BOOT_CODE_LEN].iter().any(|&b| b != 0)
                    || read_gap()?.iter().any(|&b| b != 0);
                return Ok(BootCodeAreas {
                    plan: Some((None, gap.start)),
                    stale,
                    ..unchanged(gap, live_tail)
                });
            }
        };
        let slots = bios.slots(&gap, ss)?;
        // The slot the current stage 0 loads, if it is ours and points at one of them.
        let current = stage1_location(&sector0[..BOOT_CODE_LEN])
            .filter(|l| u64::from(l.sector_size) == ss)
            .and_then(|l| slots.iter().position(|&s| s == l.lba * ss));
        // Where the current head should say the tail is: the live tail file, if it is this
        // build's tail (`Err`: it is not, so the boot code is stale).
        let tail_lba = match bios.tail() {
            None => Ok(None),
            Some(want) => live_tail
                .and_then(|k| tails[k].as_ref())
                .filter(|t| t.data == want)
                .and_then(|t| t.lba)
                .map(Some)
                .ok_or(()),
        };
        // Up to date: stage 0 is the new one for that slot, the slot holds the new head (for
        // the live tail, which holds the new tail), and the rest of the gap is zeros.
        let mut stale = true;
        if let (Some(i), Ok(tail_lba)) = (current, tail_lba) {
            if sector0[..BOOT_CODE_LEN] == bios.stage0_for(ss, slots[i])? {
                let head = bios.head(ss, tail_lba)?;
                let buf = read_gap()?;
                let at = (slots[i] - gap.start) as usize;
                stale = buf[at..at + head.len()] != head[..]
                    || buf[..at].iter().chain(&buf[at + head.len()..]).any(|&b| b != 0);
            }
        }
        let target = slots[match current {
            Some(0) => 1,
            _ => 0,
        }];
        Ok(BootCodeAreas {
            plan: Some((Some(bios.clone()), target)),
            stale,
            ..unchanged(gap, live_tail)
        })
    }

    /// Whether `update` writes the boot-code areas (when they are stale): `false` when the gap
    /// cannot be located safely.
    pub(super) fn manages_code(&self) -> bool {
        self.plan.is_some()
    }

    /// The tail the new boot code needs on the boot partition, when it is written.
    pub(super) fn new_tail(&self) -> Option<&[u8]> {
        match &self.plan {
            Some((Some(bios), _)) if self.stale => bios.tail(),
            _ => None,
        }
    }

    /// The name the new tail goes under: the one the current boot code does not load.
    pub(super) fn new_tail_name(&self) -> usize {
        match self.live_tail {
            Some(0) => 1,
            _ => 0,
        }
    }

    /// New stage 1 (its head, which loads its tail from `tail_lba`: see [`BiosCode::head`])
    /// into the free slot, then stage 0 in one write of sector 0, then the rest of the gap
    /// zeroed (see the module comment).
    pub(super) fn write(&self, file: &File, tail_lba: Option<u64>) -> Result<()> {
        let Some((bios, slot)) = &self.plan else { return Ok(()) };
        let (stage0, stage1) = match bios {
            Some(bios) => {
                (bios.stage0_for(self.sector_size, *slot)?, bios.head(self.sector_size, tail_lba)?)
            }
            None => ([0u8; BOOT_CODE_LEN], Vec::new()),
        };
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
        write_differing(*slot, &stage1)?;
        sync()?;
        let mut sector0 = vec![0u8; ss as usize];
        file.read_exact_at(&mut sector0, 0)?;
        ensure!(sector0 == self.sector0, "sector 0 changed while polyboot was running");
        sector0[..BOOT_CODE_LEN].copy_from_slice(&stage0);
        file.write_all_at(&sector0, 0).context("writing the MBR boot code")?;
        sync()?;
        let end = slot + stage1.len() as u64;
        write_differing(self.gap.start, &vec![0u8; (slot - self.gap.start) as usize])?;
        write_differing(end, &vec![0u8; (self.gap.end - end) as usize])?;
        sync()
    }
}

/// Which of `tails` the boot code in `sector0` loads (through the head it loads), if any.
fn live_tail(file: &File, sector0: &[u8], ss: u64, tails: &[Option<TailFile>; 2]) -> Option<usize> {
    let loc = stage1_location(&sector0[..BOOT_CODE_LEN])?;
    let len = (u64::from(loc.sectors) * ss).min(LOAD_AREA as u64);
    let mut head = vec![0u8; len.max(S1_HEADER_END as u64) as usize];
    file.read_exact_at(&mut head, loc.lba.checked_mul(ss)?).ok()?;
    let lba = tail_ref(&head)?.lba;
    tails.iter().position(|t| t.as_ref().is_some_and(|t| t.lba == Some(lba)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BIOS artefact shaped like the real one: stage 0 with its patch area, stage 1 magic
    /// and header.
    pub(crate) fn fake_bios(stage1_len: usize) -> Vec<u8> {
        let mut bin = vec![0u8; STAGE1_AT + stage1_len];
        bin[..16].copy_from_slice(&[0xFA; 16]);
        bin[STAGE0_MAGIC_AT..STAGE0_MAGIC_AT + 4].copy_from_slice(STAGE0_MAGIC);
        bin[STAGE0_SECTOR_SIZE_AT..STAGE0_SECTOR_SIZE_AT + 2]
            .copy_from_slice(&512u16.to_le_bytes());
        bin[424] = 16; // the disk address packet's size byte, which patching must keep
        for (i, b) in bin[STAGE1_AT..].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        bin[STAGE1_AT + 2..STAGE1_AT + 6].copy_from_slice(STAGE1_MAGIC);
        let s1 = &mut bin[STAGE1_AT..];
        s1[S1_HIGH_BYTES_AT..S1_HEADER_END].fill(0);
        s1[S1_HIGH_BYTES_AT..S1_HIGH_BYTES_AT + 4]
            .copy_from_slice(&((stage1_len - S1_PAGE) as u32).to_le_bytes());
        bin
    }

    #[test]
    fn bios_code_is_checked() {
        assert!(BiosCode::parse(&fake_bios(4096)).is_ok());
        assert!(BiosCode::parse(&fake_bios(STAGE1_MAX)).is_ok());
        assert!(BiosCode::parse(&[0u8; 4096]).is_err(), "no magic");
        let mut no_stage1 = fake_bios(4096);
        no_stage1[STAGE1_AT + 2] = b'X';
        assert!(BiosCode::parse(&no_stage1).is_err());
        assert!(
            BiosCode::parse(&fake_bios(STAGE1_MAX + 512)).is_err(),
            "past the 4 MiB the 32-bit part may reach"
        );
        // The header must say how long the 32-bit part is, and not be patched already.
        let mut truncated = fake_bios(100_000);
        truncated.truncate(truncated.len() - 512);
        let err = format!("{:#}", BiosCode::parse(&truncated).unwrap_err());
        assert!(err.contains("header"), "{err}");
        let mut patched = fake_bios(100_000);
        patched[STAGE1_AT + S1_HEAD_BYTES_AT] = 1;
        assert!(BiosCode::parse(&patched).is_err());
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
        let head = code.head(4096, None).unwrap();
        assert_eq!(head.len(), 25 * 4096);
        assert_eq!(&head[..100_000], code.stage1());
        assert!(code.tail().is_none() && tail_ref(&head).is_none(), "all of it in the head");
        assert!(code.head(4096, Some(5)).is_err(), "no tail to point at");
    }

    #[test]
    fn a_stage1_larger_than_the_load_area_is_split_into_head_and_tail() {
        let len = 2 << 20;
        let code = BiosCode::parse(&fake_bios(len)).unwrap();
        let tail = code.tail().unwrap();
        assert_eq!(tail, &code.stage1()[LOAD_AREA..]);
        assert!(code.head(512, None).is_err(), "the tail's place is needed");
        for ss in [512u64, 4096] {
            let head = code.head(ss, Some(123_456)).unwrap();
            assert_eq!(head.len(), LOAD_AREA, "the load area is whole 4 KiB sectors");
            let s0 = code.stage0_for(ss, 1 << 16).unwrap();
            assert_eq!(
                stage1_location(&s0).unwrap().sectors as usize,
                LOAD_AREA / ss as usize,
                "stage 0 loads the head only"
            );
            assert_eq!(
                tail_ref(&head),
                Some(TailRef {
                    head_bytes: LOAD_AREA as u32,
                    stage1_bytes: len as u64,
                    lba: 123_456,
                    crc: crc32(tail),
                    sector_size: ss as u16,
                })
            );
            // Only the header differs from the artefact.
            assert!(code.is_loaded(&[head.as_slice(), tail].concat()));
            let mut other = [head.as_slice(), tail].concat();
            other[LOAD_AREA + 7] ^= 1;
            assert!(!code.is_loaded(&other));
            // Two slots of the head fit a 1 MiB gap, whatever the tail's size.
            assert!(code.slots(&(17_408..1 << 20), ss.max(512)).is_ok());
        }
    }

    /// A drive image holding `code` as `install` lays it out: stage 0, the head at 64 KiB, the
    /// tail at 1 MiB; [`load_stage1`] reads it back as the BIOS would.
    #[test]
    fn load_stage1_follows_stage0_and_the_head_to_the_tail() {
        let code = BiosCode::parse(&fake_bios(LOAD_AREA + 100_000)).unwrap();
        let f = tempfile::tempfile().unwrap();
        f.set_len(4 << 20).unwrap();
        let write = |at: u64, b: &[u8]| f.write_all_at(b, at).unwrap();
        write(0, &code.stage0_for(512, 64 << 10).unwrap());
        write(64 << 10, &code.head(512, Some(2048)).unwrap());
        write(1 << 20, code.tail().unwrap());
        let loaded = load_stage1(&f).unwrap();
        assert!(code.is_loaded(&loaded));
        // A changed tail is refused, as the loader's CRC check refuses it.
        write((1 << 20) + 99_999, &[0xEE]);
        let err = format!("{:#}", load_stage1(&f).unwrap_err());
        assert!(err.contains("CRC"), "{err}");
        // Without a tail: the head is all of stage 1.
        let small = BiosCode::parse(&fake_bios(100_000)).unwrap();
        write(0, &small.stage0_for(512, 64 << 10).unwrap());
        write(64 << 10, &small.head(512, None).unwrap());
        assert_eq!(load_stage1(&f).unwrap(), small.stage1());
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

    #[test]
    fn tail_names_are_the_short_names_fat_derives() {
        for n in TAIL_NAMES {
            assert_eq!(
                polyboot_core::fat::dirent::generate_short_name(n.long, |_| false),
                Some(n.short)
            );
        }
    }
}
