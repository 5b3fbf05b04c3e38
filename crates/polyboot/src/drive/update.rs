//! `polyboot update`: replace the boot files of an existing polyboot drive without ever leaving
//! it unbootable.
//!
//! What it writes: `\EFI\BOOT\BOOTX64.EFI` and `\polyboot\stamp.json` on partition 2 (FAT16)
//! and the boot-code areas (MBR bytes 0..440, the gap before partition 1). What it never
//! writes: partition 1 (the user's exFAT data), the partition table entries, the disk GUID or
//! MBR signature, the partition GUIDs.
//!
//! # Crash safety
//!
//! Model: power can fail between any two sector writes; a single sector write lands whole or
//! not at all; writes issued since the last `sync` (fsync, which also flushes the device's
//! cache) may land in any subset. So wherever order matters we sync in between.
//!
//! Partition 2 is written with a few raw FAT16 operations here, not with the `fatfs` crate,
//! because the order of writes is the whole point (and `fatfs` frees a removed file's clusters
//! *before* unlinking it, and marks the volume dirty while it works). Each file is replaced in
//! three steps, the stamp after everything else:
//!
//! 1. **Write the new file under a temporary name** (`BOOTX64.NEW`): data into free clusters,
//!    the cluster chain into FAT 1 then FAT 2, sync; then its directory entries (one long-name
//!    (LFN) entry + the short entry) in ONE sector write into free slots of the directory
//!    sector that holds the old file's entries; sync. Until that entry write the new clusters
//!    belong to no file, and the old file is never touched.
//! 2. **Switch** — ONE sector write of that same directory sector: the old short entry is
//!    renamed `BOOTX64.OLD` and its LFN entry marked deleted; the temporary short entry takes
//!    the old short name and its LFN slot is rewritten with the final long name and the
//!    checksum of that short name (an LFN's checksum depends on the short name, so a renamed
//!    short entry can never keep a stale LFN). Before the write the directory names the old
//!    file `BOOTX64.EFI`, after it the new one; there is no state in between.
//! 3. **Remove the old file**: its entries are marked deleted (sync), then its clusters are
//!    freed in FAT 1 and FAT 2 (sync). Unlinking first means no file ever points at a free
//!    cluster.
//!
//! Same sector, by construction: the temporary entries are not placed where a FAT
//! implementation would put them but in free slots of the sector holding the old entry set,
//! so the switch touches one sector. If that sector has no room (someone filled `\EFI\BOOT`
//! with other files), or the old entry set straddles two sectors, `update` refuses before
//! writing anything: there would be no atomic switch. (Our own directories hold five or six
//! entries; a 512-byte sector has sixteen slots.) The temporary long names have as many LFN
//! entries as the final ones (`BOOTX64.NEW` / `BOOTX64.EFI`, `stamp.new` / `stamp.json`: one
//! each), so the switch rewrites slots in place.
//!
//! Boot code (legacy BIOS, see [`bootpart::BiosCode`]): the MBR's stage 0 loads stage 1 from
//! one of two slots in the loader gap. The new stage 1 goes into the slot the current stage 0
//! does not load (only sectors that differ are written; sync), then sector 0 is rewritten in
//! ONE write that carries its bytes 440.. (disk signature, partition table) back exactly as
//! read and switches stage 0 to the new slot (sync); only then is the rest of the gap (the
//! old slot, anything else) zeroed. A power cut leaves the old or the new boot code whole.
//! A build without the BIOS artefact has no boot code: both areas become zeros, as its
//! `install` leaves them.
//!
//! The stamp goes last: a stamp naming the new build means everything before it is done.
//!
//! What `fsck.fat -n` sees: at every step boundary (the failpoints below) the file system is
//! clean — every cluster belongs to exactly one file, both FATs agree, no orphan LFN, no
//! dirty flag. Inside a step, a power cut can at worst leave clusters allocated to no file or
//! FAT 2 lagging FAT 1 in such clusters; no file ever points at wrong or free clusters, the
//! drive boots, and the next `update` repairs it first ("tidy": free clusters no file
//! reaches, copy FAT 1 over the other FATs, clear the dirty flag).
//!
//! # Failpoints
//!
//! `POLYBOOT_FAILPOINT=update:<name>` makes `update` exit (status [`FAILPOINT_EXIT_CODE`])
//! right there, with everything before it synced, as if the power had been cut:
//! [`STEP_FAILPOINTS`] at step boundaries, [`TORN_FAILPOINTS`] between the writes of a step.
//! Unset, they do nothing.

use super::bootpart::{self, BootFiles, Stamp, LAYOUT_VERSION};
use super::Drive;
use crate::device::{self, Policy, SystemView, Target};
use anyhow::{bail, ensure, Context, Result};
use polyboot_core::gpt::{self, HeaderKind};
use polyboot_core::layout::Scheme;
use polyboot_core::mbr::BOOT_CODE_LEN;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

pub const FAILPOINT_ENV: &str = "POLYBOOT_FAILPOINT";
pub const FAILPOINT_EXIT_CODE: i32 = 86;
/// Step boundaries, in the order a full update reaches them. `fsck.fat -n` passes at each.
pub const STEP_FAILPOINTS: &[&str] = &[
    "cleaned",
    "efi-new-written",
    "efi-switched",
    "efi-old-removed",
    "boot-code-written",
    "stamp-new-written",
    "stamp-switched",
    "stamp-old-removed",
];
/// Between two writes inside a step: the drive boots, fsck may report unowned clusters.
pub const TORN_FAILPOINTS: &[&str] = &[
    "efi-new-data",
    "efi-new-fat1",
    "efi-new-fat",
    "efi-old-unlinked",
    "efi-old-fat1",
    "stamp-new-data",
    "stamp-new-fat1",
    "stamp-new-fat",
    "stamp-old-unlinked",
    "stamp-old-fat1",
];

#[derive(Debug, Clone)]
pub struct UpdateOptions {
    pub target: PathBuf,
    pub dry_run: bool,
    pub efi: Option<PathBuf>,
}

/// What `update` found and did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    pub target: String,
    /// The drive's stamp before the update.
    pub old: Stamp,
    /// SHA-256 of `\EFI\BOOT\BOOTX64.EFI` as found on the drive (`None`: missing).
    pub old_bootx64_sha256_on_drive: Option<String>,
    pub new: Stamp,
    /// What needed doing, in order; empty when the drive was up to date.
    pub actions: Vec<String>,
    pub dry_run: bool,
    /// Whether anything was written.
    pub written: bool,
}

/// One of the files `update` replaces.
struct Managed {
    tag: &'static str,
    dir: &'static [&'static str],
    /// Shown to users.
    display: &'static str,
    long: &'static str,
    /// Short name when the drive has no old file to take it from.
    short: [u8; 11],
    temp_long: &'static str,
    temp_short: [u8; 11],
    old_short: [u8; 11],
}

const EFI_FILE: Managed = Managed {
    tag: "efi",
    dir: &["EFI", "BOOT"],
    display: "\\EFI\\BOOT\\BOOTX64.EFI",
    long: "BOOTX64.EFI",
    short: *b"BOOTX64 EFI",
    temp_long: "BOOTX64.NEW",
    temp_short: *b"BOOTX64 NEW",
    old_short: *b"BOOTX64 OLD",
};

const STAMP_FILE: Managed = Managed {
    tag: "stamp",
    dir: &["polyboot"],
    display: "\\polyboot\\stamp.json",
    long: "stamp.json",
    short: *b"STAMP~1 JSO",
    temp_long: "stamp.new",
    temp_short: *b"STAMP   NEW",
    old_short: *b"STAMP   OLD",
};

/// `POLYBOOT_FAILPOINT`, checked once.
struct Failpoints(Option<String>);

impl Failpoints {
    fn from_env() -> Result<Failpoints> {
        let Some(value) = std::env::var_os(FAILPOINT_ENV) else {
            return Ok(Failpoints(None));
        };
        let value = value.to_string_lossy().into_owned();
        if let Some(name) = value.strip_prefix("update:") {
            if !STEP_FAILPOINTS.contains(&name) && !TORN_FAILPOINTS.contains(&name) {
                bail!("{FAILPOINT_ENV}={value}: no such failpoint (known: {})", STEP_FAILPOINTS.join(", "));
            }
            return Ok(Failpoints(Some(name.to_string())));
        }
        Ok(Failpoints(None))
    }

    fn hit(&self, name: &str) {
        if self.0.as_deref() == Some(name) {
            eprintln!("polyboot: failpoint update:{name} reached: stopping as if the power had been cut");
            std::process::exit(FAILPOINT_EXIT_CODE);
        }
    }
}

/// Run `update`. Progress lines go to `out` (pass `std::io::sink()` for JSON output).
pub fn update(view: &SystemView, opts: &UpdateOptions, out: &mut impl Write) -> Result<UpdateReport> {
    // Refusals first. An existing polyboot drive is recognised by its stamp, so fixed disks are
    // allowed (that is what `--force` guards at install time); mounted, in-use, read-only and
    // system disks, and partitions, are refused.
    let target = device::check_erasable(view, &opts.target, &Policy { force: true, min_size: 0 })?;
    if let Target::ImageFile { exists: false, path, .. } = &target {
        bail!("{} does not exist", path.display());
    }
    let failpoints = Failpoints::from_env()?;
    let files = BootFiles::locate(opts.efi.as_deref())?;
    let mut drive = Drive::open(&opts.target, !opts.dry_run)?;
    if drive.stamp.layout_version != LAYOUT_VERSION {
        bail!(
            "{} has drive layout {}; this polyboot ({}) knows layout {LAYOUT_VERSION} only: update it with a matching polyboot, or reinstall",
            opts.target.display(),
            drive.stamp.layout_version,
            polyboot_core::VERSION
        );
    }
    let layout = drive.layout.clone();
    let file = drive.device().file().try_clone().context("duplicating the device handle")?;
    let mut fat = Fat::open(&file, layout.boot.offset, layout.boot.size, layout.sector_size)?;

    // Everything is read and checked before the first write.
    let new_stamp = files.stamp();
    let new_stamp_json = files.stamp_json()?;
    let efi_dir = fat.lookup_dir(EFI_FILE.dir)?;
    let stamp_dir = fat.lookup_dir(STAMP_FILE.dir)?;
    let old_efi = fat.read_managed(efi_dir, &EFI_FILE)?;
    let old_stamp_bytes = fat.read_managed(stamp_dir, &STAMP_FILE)?;
    let old_efi_hash = old_efi.as_ref().map(|b| bootpart::hex(&Sha256::digest(b)));
    let leftovers = fat.has_leftovers(efi_dir, &EFI_FILE)? || fat.has_leftovers(stamp_dir, &STAMP_FILE)?;
    let untidy = fat.untidy().context("checking partition 2 before writing")?;
    let efi_stale = old_efi.as_deref() != Some(files.bootx64.as_slice());
    let stamp_stale = old_stamp_bytes.as_deref() != Some(new_stamp_json.as_slice());
    let boot_code = BootCodeAreas::read(&mut drive, &file, files.bios.as_ref())?;
    if efi_stale {
        fat.check_switchable(efi_dir, &EFI_FILE)?;
    }
    if stamp_stale {
        fat.check_switchable(stamp_dir, &STAMP_FILE)?;
    }

    let mut actions = Vec::new();
    if leftovers {
        actions.push("remove the leftovers of an interrupted update".to_string());
    }
    if let Some(why) = &untidy {
        actions.push(format!("tidy partition 2 ({why})"));
    }
    if efi_stale {
        actions.push(format!("replace {}", EFI_FILE.display));
    }
    if boot_code.stale {
        actions.push("rewrite the boot code (MBR bytes 0..440, loader gap)".to_string());
    }
    if stamp_stale {
        actions.push(format!("replace {}", STAMP_FILE.display));
    }

    let old = drive.stamp.clone();
    writeln!(out, "{}: polyboot drive ({}, {}-byte sectors)", opts.target.display(), layout.scheme, layout.sector_size)?;
    writeln!(out, "  installed: polyboot {} (layout {}), BOOTX64.EFI sha256 {}", old.polyboot_version, old.layout_version, old.bootx64_sha256)?;
    match &old_efi_hash {
        Some(h) if *h != old.bootx64_sha256 => writeln!(out, "             BOOTX64.EFI on the drive: sha256 {h} (not what the stamp records)")?,
        None => writeln!(out, "             BOOTX64.EFI is missing from the drive")?,
        _ => {}
    }
    let n = &new_stamp;
    writeln!(out, "  new:       polyboot {} (layout {}), BOOTX64.EFI sha256 {}", n.polyboot_version, n.layout_version, n.bootx64_sha256)?;
    let mut report = UpdateReport {
        target: opts.target.display().to_string(),
        old,
        old_bootx64_sha256_on_drive: old_efi_hash,
        new: new_stamp,
        actions: actions.clone(),
        dry_run: opts.dry_run,
        written: false,
    };
    if actions.is_empty() {
        writeln!(out, "already up to date: nothing written")?;
        return Ok(report);
    }
    for a in &actions {
        writeln!(out, "  - {a}")?;
    }
    if opts.dry_run {
        writeln!(out, "dry run: nothing written")?;
        return Ok(report);
    }

    report.written = true;
    fat.remove_leftovers(efi_dir, &EFI_FILE, &failpoints)?;
    fat.remove_leftovers(stamp_dir, &STAMP_FILE, &failpoints)?;
    fat.tidy()?;
    failpoints.hit("cleaned");

    if efi_stale {
        fat.replace(efi_dir, &EFI_FILE, &files.bootx64, &failpoints)?;
        writeln!(out, "  replaced {}", EFI_FILE.display)?;
    } else {
        failpoints.hit("efi-new-written");
        failpoints.hit("efi-switched");
        failpoints.hit("efi-old-removed");
    }
    if boot_code.stale {
        boot_code.write(&file)?;
        writeln!(out, "  rewrote the boot code")?;
    }
    failpoints.hit("boot-code-written");
    if stamp_stale {
        fat.replace(stamp_dir, &STAMP_FILE, &new_stamp_json, &failpoints)?;
        writeln!(out, "  replaced {}", STAMP_FILE.display)?;
    } else {
        failpoints.hit("stamp-new-written");
        failpoints.hit("stamp-switched");
        failpoints.hit("stamp-old-removed");
    }
    fat.tidy()?;

    // Read back what the drive now holds.
    let fat = Fat::open(&file, layout.boot.offset, layout.boot.size, layout.sector_size)?;
    ensure!(fat.read_managed(efi_dir, &EFI_FILE)?.as_deref() == Some(files.bootx64.as_slice()), "BOOTX64.EFI reads back wrong after the update");
    ensure!(fat.read_managed(stamp_dir, &STAMP_FILE)?.as_deref() == Some(new_stamp_json.as_slice()), "stamp.json reads back wrong after the update");
    ensure!(fat.untidy()?.is_none(), "partition 2 is not tidy after the update");
    let stamp = bootpart::read_stamp(&file, layout.boot.offset, layout.boot.size)?;
    ensure!(stamp.as_ref() == Some(&report.new), "the stamp does not read back through the FAT driver");
    writeln!(out, "updated {}", opts.target.display())?;
    Ok(report)
}

/// The boot-code areas as found, and whether they differ from the current build's.
struct BootCodeAreas {
    sector_size: u64,
    sector0: Vec<u8>,
    /// Byte range of the loader gap (empty when it cannot be established safely).
    gap: std::ops::Range<u64>,
    /// What to write: stage 0 for the target slot, stage 1 padded to whole sectors, and the
    /// slot's byte offset. `None`: nothing to write.
    plan: Option<([u8; BOOT_CODE_LEN], Vec<u8>, u64)>,
    stale: bool,
}

impl BootCodeAreas {
    fn read(drive: &mut Drive, file: &File, bios: Option<&bootpart::BiosCode>) -> Result<BootCodeAreas> {
        let ss = drive.layout.sector_size as u64;
        let data_start = drive.layout.data.offset;
        let gap_start = match drive.layout.scheme {
            Scheme::Mbr => ss,
            Scheme::Gpt => {
                let sector_size = super::sector_size_of(ss as u32)?;
                let read = gpt::read(drive.device(), sector_size).map_err(|e| anyhow::anyhow!("the GPT is unreadable: {e}"))?;
                // Only behind a primary table we could read: otherwise we do not know for
                // sure where its entry array ends, and leave the gap alone.
                if read.source == HeaderKind::Primary && read.primary_problem.is_none() && read.header.entries_lba >= 2 {
                    let array = (read.header.entry_count as u64 * read.header.entry_size as u64).div_ceil(ss);
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
                return Ok(BootCodeAreas { sector_size: ss, sector0, gap, plan: None, stale: false });
            }
            Some(bios) => bios,
            // A build without BIOS boot code: the current boot code is none (zeros), as
            // `install` writes it.
            None => {
                let stale = sector0[..BOOT_CODE_LEN].iter().any(|&b| b != 0) || read_gap()?.iter().any(|&b| b != 0);
                let plan = Some(([0u8; BOOT_CODE_LEN], Vec::new(), gap.start));
                return Ok(BootCodeAreas { sector_size: ss, sector0, gap, plan, stale });
            }
        };
        let slots = bios.slots(&gap, ss)?;
        let stage1 = bios.stage1_sectors(ss);
        // The slot the current stage 0 loads, if it is ours and points at one of them.
        let current = bootpart::stage1_location(&sector0[..BOOT_CODE_LEN])
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
    fn write(&self, file: &File) -> Result<()> {
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

// ---------------------------------------------------------------------------------------
// Raw FAT16: just what update needs, with the write order under our control.

const ENTRY: u64 = 32;
const ATTR_LFN: u8 = 0x0F;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_DIR: u8 = 0x10;
const DELETED: u8 = 0xE5;
const FAT16_BAD: u16 = 0xFFF7;
const FAT16_EOC: u16 = 0xFFFF;
const LFN_UNITS: usize = 13;

/// A directory slot to write: absolute byte position in the device, new content.
type Edit = (u64, [u8; 32]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// The fixed root directory area of FAT12/16.
    Root,
    Cluster(u32),
}

/// A directory's slots, read from the disk.
struct Listing {
    /// Absolute byte position (in the file) and content of each 32-byte slot, in order.
    slots: Vec<(u64, [u8; 32])>,
    /// Index of the first end-of-directory slot (first byte 0), or `slots.len()`.
    end: usize,
    /// Whether every slot from `end` on is zero, so slots past the end may be used.
    tail_clean: bool,
    sets: Vec<EntrySet>,
}

/// A file or directory: its valid LFN slots and its short entry (indices into the listing).
struct EntrySet {
    lfn: Vec<usize>,
    sfn: usize,
    long: Option<String>,
}

impl Listing {
    fn sfn(&self, set: &EntrySet) -> &[u8; 32] {
        &self.slots[set.sfn].1
    }

    fn short_name(&self, set: &EntrySet) -> [u8; 11] {
        self.sfn(set)[..11].try_into().unwrap()
    }

    fn first_cluster(&self, set: &EntrySet) -> u32 {
        let e = self.sfn(set);
        u16::from_le_bytes([e[26], e[27]]) as u32
    }

    fn size(&self, set: &EntrySet) -> u32 {
        let e = self.sfn(set);
        u32::from_le_bytes(e[28..32].try_into().unwrap())
    }

    fn is_dir(&self, set: &EntrySet) -> bool {
        self.sfn(set)[11] & ATTR_DIR != 0
    }

    /// Sets named `name` (long name, or short name when there is no long one), ignoring case.
    fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a EntrySet> + 'a {
        let name = name.to_string();
        self.sets.iter().filter(move |s| match &s.long {
            Some(long) => long.eq_ignore_ascii_case(&name),
            None => display_short(&self.short_name(s)).eq_ignore_ascii_case(&name),
        })
    }

    fn find(&self, name: &str) -> Result<Option<&EntrySet>> {
        let mut it = self.named(name);
        let first = it.next();
        if first.is_some() && it.next().is_some() {
            bail!("partition 2 has two entries named {name}: check it with fsck.fat");
        }
        Ok(first)
    }

    fn with_short(&self, short: &[u8; 11]) -> impl Iterator<Item = &EntrySet> + '_ {
        let short = *short;
        self.sets.iter().filter(move |s| self.short_name(s) == short)
    }

    /// Our temporary or old copies of `m`.
    fn leftovers<'a>(&'a self, m: &'a Managed) -> impl Iterator<Item = &'a EntrySet> + 'a {
        self.sets.iter().filter(move |s| {
            let short = self.short_name(s);
            short == m.temp_short
                || short == m.old_short
                || s.long.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(m.temp_long))
        })
    }

    fn slot_free(&self, i: usize, also_free: &[usize]) -> bool {
        self.slots[i].1[0] == DELETED || (i >= self.end && self.tail_clean) || also_free.contains(&i)
    }

    /// The first run of `n` free slots inside the sector starting at `sector` (absolute).
    fn free_run_in_sector(&self, sector: u64, bps: u64, n: usize, also_free: &[usize]) -> Option<usize> {
        let in_sector: Vec<usize> =
            (0..self.slots.len()).filter(|&i| self.slots[i].0 >= sector && self.slots[i].0 < sector + bps).collect();
        // A run may reach past the end marker but not start behind it: entries after the end
        // marker are invisible.
        in_sector.windows(n).find(|w| w[0] <= self.end && w.iter().all(|&i| self.slot_free(i, also_free))).map(|w| w[0])
    }
}

fn display_short(short: &[u8; 11]) -> String {
    let base = String::from_utf8_lossy(&short[..8]).trim_end().to_string();
    let ext = String::from_utf8_lossy(&short[8..]).trim_end().to_string();
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

fn lfn_checksum(short: &[u8; 11]) -> u8 {
    short.iter().fold(0u8, |sum, &b| ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(b))
}

fn lfn_count(name: &str) -> usize {
    name.encode_utf16().count().div_ceil(LFN_UNITS)
}

/// Byte offsets of the 13 UTF-16 units inside an LFN entry.
fn lfn_unit_offset(j: usize) -> usize {
    match j {
        0..=4 => 1 + 2 * j,
        5..=10 => 14 + 2 * (j - 5),
        _ => 28 + 2 * (j - 11),
    }
}

/// The LFN entries for `name`, in on-disk order (last part first), for the short name `short`.
fn lfn_entries(name: &str, short: &[u8; 11]) -> Vec<[u8; 32]> {
    let units: Vec<u16> = name.encode_utf16().collect();
    let n = units.len().div_ceil(LFN_UNITS);
    let checksum = lfn_checksum(short);
    (1..=n)
        .rev()
        .map(|k| {
            let mut e = [0u8; 32];
            e[0] = k as u8 | if k == n { 0x40 } else { 0 };
            e[11] = ATTR_LFN;
            e[13] = checksum;
            let chunk = &units[(k - 1) * LFN_UNITS..(k * LFN_UNITS).min(units.len())];
            let mut part = [0xFFFFu16; LFN_UNITS];
            part[..chunk.len()].copy_from_slice(chunk);
            if chunk.len() < LFN_UNITS {
                part[chunk.len()] = 0;
            }
            for (j, u) in part.iter().enumerate() {
                let o = lfn_unit_offset(j);
                e[o..o + 2].copy_from_slice(&u.to_le_bytes());
            }
            e
        })
        .collect()
}

/// The long name spelled by `lfn` (on-disk order) if they form a valid set for `short`.
fn decode_lfn(lfn: &[[u8; 32]], short: &[u8; 11]) -> Option<String> {
    let n = lfn.len();
    if n == 0 || n > 20 {
        return None;
    }
    let checksum = lfn_checksum(short);
    let mut units = Vec::new();
    for (i, e) in lfn.iter().enumerate() {
        let order = (n - i) as u8 | if i == 0 { 0x40 } else { 0 };
        if e[0] != order || e[13] != checksum {
            return None;
        }
    }
    for e in lfn.iter().rev() {
        for j in 0..LFN_UNITS {
            let o = lfn_unit_offset(j);
            let u = u16::from_le_bytes([e[o], e[o + 1]]);
            if u == 0 {
                break;
            }
            units.push(u);
        }
    }
    String::from_utf16(&units).ok()
}

/// Local time in FAT's date and time formats.
fn dos_now() -> (u16, u16) {
    // SAFETY: time(NULL) and localtime_r with valid pointers.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return (0, (1 << 5) | 1);
        }
        tm
    };
    let year = (tm.tm_year + 1900).clamp(1980, 2107) as u16;
    let date = ((year - 1980) << 9) | (((tm.tm_mon + 1) as u16) << 5) | tm.tm_mday as u16;
    let time = ((tm.tm_hour as u16) << 11) | ((tm.tm_min as u16) << 5) | (tm.tm_sec as u16 / 2);
    (time, date)
}

fn short_entry(short: &[u8; 11], first_cluster: u32, size: u32) -> [u8; 32] {
    let (time, date) = dos_now();
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(short);
    e[11] = 0x20; // archive
    e[14..16].copy_from_slice(&time.to_le_bytes());
    e[16..18].copy_from_slice(&date.to_le_bytes());
    e[18..20].copy_from_slice(&date.to_le_bytes());
    e[22..24].copy_from_slice(&time.to_le_bytes());
    e[24..26].copy_from_slice(&date.to_le_bytes());
    e[26..28].copy_from_slice(&(first_cluster as u16).to_le_bytes());
    e[28..32].copy_from_slice(&size.to_le_bytes());
    e
}

/// Partition 2, opened raw. Holds FAT 1 in memory; [`Fat::commit_fat`] writes it out.
struct Fat<'f> {
    file: &'f File,
    base: u64,
    bps: u64,
    cluster_bytes: u64,
    fats: u64,
    fat_bytes: u64,
    fat_at: u64,
    root_at: u64,
    root_entries: u64,
    data_at: u64,
    /// Highest valid cluster number.
    max_cluster: u32,
    fat: Vec<u8>,
}

/// Where the parts of polyboot's FAT16 boot partition are, read from its boot sector and
/// checked; shared with the writer's fix-up pass in `bootpart`.
pub(super) struct FatGeometry {
    pub bps: u64,
    pub cluster_bytes: u64,
    pub fats: u64,
    pub fat_sectors: u64,
    pub fat_at: u64,
    pub root_at: u64,
    pub root_entries: u64,
    pub data_at: u64,
    /// Highest valid cluster number.
    pub max_cluster: u32,
}

impl FatGeometry {
    pub(super) fn read(file: &File, base: u64, len: u64, sector_size: u32) -> Result<FatGeometry> {
        let mut bpb = [0u8; 64];
        file.read_exact_at(&mut bpb, base).context("reading the boot partition's boot sector")?;
        let u16_at = |o: usize| u16::from_le_bytes([bpb[o], bpb[o + 1]]) as u64;
        let bps = u16_at(11);
        let spc = bpb[13] as u64;
        let reserved = u16_at(14);
        let fats = bpb[16] as u64;
        let root_entries = u16_at(17);
        let total = match u16_at(19) {
            0 => u32::from_le_bytes(bpb[32..36].try_into().unwrap()) as u64,
            n => n,
        };
        let fat_sectors = u16_at(22);
        ensure!(
            bps == sector_size as u64 && spc.is_power_of_two() && reserved >= 1 && fats >= 1 && fat_sectors > 0 && root_entries > 0,
            "partition 2 does not hold the FAT16 file system polyboot writes (reinstall the drive)"
        );
        ensure!(total * bps <= len, "partition 2's file system is larger than the partition");
        let root_sectors = (root_entries * ENTRY).div_ceil(bps);
        let first_data = reserved + fats * fat_sectors + root_sectors;
        ensure!(total > first_data, "partition 2's file system has no data area");
        let clusters = (total - first_data) / spc;
        ensure!((4085..65525).contains(&clusters), "partition 2 is not FAT16 ({clusters} clusters)");
        ensure!(fat_sectors * bps >= (clusters + 2) * 2, "partition 2's FAT is too small for its clusters");
        Ok(FatGeometry {
            bps,
            cluster_bytes: bps * spc,
            fats,
            fat_sectors,
            fat_at: base + reserved * bps,
            root_at: base + (reserved + fats * fat_sectors) * bps,
            root_entries,
            data_at: base + first_data * bps,
            max_cluster: (clusters + 1) as u32,
        })
    }

    pub(super) fn cluster_at(&self, c: u32) -> u64 {
        self.data_at + (c as u64 - 2) * self.cluster_bytes
    }
}

impl<'f> Fat<'f> {
    fn open(file: &'f File, base: u64, len: u64, sector_size: u32) -> Result<Fat<'f>> {
        let g = FatGeometry::read(file, base, len, sector_size)?;
        let mut fat = vec![0u8; (g.fat_sectors * g.bps) as usize];
        file.read_exact_at(&mut fat, g.fat_at).context("reading the FAT of partition 2")?;
        Ok(Fat {
            file,
            base,
            bps: g.bps,
            cluster_bytes: g.cluster_bytes,
            fats: g.fats,
            fat_bytes: g.fat_sectors * g.bps,
            fat_at: g.fat_at,
            root_at: g.root_at,
            root_entries: g.root_entries,
            data_at: g.data_at,
            max_cluster: g.max_cluster,
            fat,
        })
    }

    fn get(&self, c: u32) -> u16 {
        let i = 2 * c as usize;
        u16::from_le_bytes([self.fat[i], self.fat[i + 1]])
    }

    fn set(&mut self, c: u32, v: u16) {
        let i = 2 * c as usize;
        self.fat[i..i + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn cluster_at(&self, c: u32) -> u64 {
        self.data_at + (c as u64 - 2) * self.cluster_bytes
    }

    fn sync(&self) -> Result<()> {
        self.file.sync_all().context("flushing the target to stable storage")
    }

    fn chain(&self, first: u32) -> Result<Vec<u32>> {
        let mut chain = Vec::new();
        let mut c = first;
        loop {
            ensure!((2..=self.max_cluster).contains(&c), "a cluster chain of partition 2 leaves the volume (cluster {c})");
            ensure!(chain.len() < self.max_cluster as usize, "a cluster chain of partition 2 loops");
            chain.push(c);
            match self.get(c) {
                0 => bail!("a cluster chain of partition 2 runs into free cluster {c}"),
                FAT16_BAD => bail!("a cluster chain of partition 2 runs into a bad cluster"),
                n if n >= 0xFFF8 => return Ok(chain),
                n => c = n as u32,
            }
        }
    }

    fn list(&self, dir: Dir) -> Result<Listing> {
        let positions: Vec<u64> = match dir {
            Dir::Root => (0..self.root_entries).map(|i| self.root_at + i * ENTRY).collect(),
            Dir::Cluster(first) => {
                let per_cluster = self.cluster_bytes / ENTRY;
                let chain = self.chain(first)?;
                chain.into_iter().flat_map(|c| (0..per_cluster).map(move |i| self.cluster_at(c) + i * ENTRY)).collect()
            }
        };
        let mut slots = Vec::with_capacity(positions.len());
        for pos in positions {
            let mut e = [0u8; 32];
            self.file.read_exact_at(&mut e, pos).context("reading a directory of partition 2")?;
            slots.push((pos, e));
        }
        let end = slots.iter().position(|(_, e)| e[0] == 0).unwrap_or(slots.len());
        let tail_clean = slots[end..].iter().all(|(_, e)| e.iter().all(|&b| b == 0));
        let mut sets = Vec::new();
        let mut pending: Vec<usize> = Vec::new();
        for (i, (_, e)) in slots[..end].iter().enumerate() {
            if e[0] == DELETED {
                pending.clear();
            } else if e[11] & 0x3F == ATTR_LFN {
                if e[0] & 0x40 != 0 {
                    pending.clear();
                }
                pending.push(i);
            } else {
                let lfn = std::mem::take(&mut pending);
                let short: [u8; 11] = e[..11].try_into().unwrap();
                if e[11] & ATTR_VOLUME != 0 || short[0] == b'.' {
                    continue;
                }
                let raw: Vec<[u8; 32]> = lfn.iter().map(|&j| slots[j].1).collect();
                let long = decode_lfn(&raw, &short);
                let lfn = if long.is_some() { lfn } else { Vec::new() };
                sets.push(EntrySet { lfn, sfn: i, long });
            }
        }
        Ok(Listing { slots, end, tail_clean, sets })
    }

    fn lookup_dir(&self, path: &[&str]) -> Result<Dir> {
        let mut dir = Dir::Root;
        for (depth, name) in path.iter().enumerate() {
            let listing = self.list(dir)?;
            let Some(set) = listing.find(name)?.filter(|s| listing.is_dir(s)) else {
                bail!("partition 2 has no directory \\{}: reinstall the drive", path[..=depth].join("\\"));
            };
            let first = listing.first_cluster(set);
            ensure!(first >= 2, "directory \\{} of partition 2 has no cluster", path[..=depth].join("\\"));
            dir = Dir::Cluster(first);
        }
        Ok(dir)
    }

    fn read_set(&self, listing: &Listing, set: &EntrySet) -> Result<Vec<u8>> {
        let size = listing.size(set) as u64;
        let first = listing.first_cluster(set);
        if size == 0 {
            return Ok(Vec::new());
        }
        let chain = self.chain(first)?;
        ensure!(chain.len() as u64 * self.cluster_bytes >= size, "a file on partition 2 is shorter than its size says");
        let mut data = vec![0u8; size as usize];
        for (i, chunk) in data.chunks_mut(self.cluster_bytes as usize).enumerate() {
            self.file.read_exact_at(chunk, self.cluster_at(chain[i])).context("reading a file of partition 2")?;
        }
        Ok(data)
    }

    /// The content of `m` on the drive; `None` when it is missing.
    fn read_managed(&self, dir: Dir, m: &Managed) -> Result<Option<Vec<u8>>> {
        let listing = self.list(dir)?;
        match listing.find(m.long)? {
            Some(set) if listing.is_dir(set) => bail!("{} on partition 2 is a directory", m.display),
            Some(set) => Ok(Some(self.read_set(&listing, set)?)),
            None => Ok(None),
        }
    }

    fn has_leftovers(&self, dir: Dir, m: &Managed) -> Result<bool> {
        Ok(self.list(dir)?.leftovers(m).next().is_some())
    }

    /// Refuse (before anything is written) when `m` cannot be switched with one sector write.
    fn check_switchable(&self, dir: Dir, m: &Managed) -> Result<()> {
        let listing = self.list(dir)?;
        let leftover_slots: Vec<usize> = listing.leftovers(m).flat_map(|s| s.lfn.iter().copied().chain([s.sfn])).collect();
        self.temp_slots(&listing, m, &leftover_slots).map(|_| ())
    }

    /// Where the temporary entries of `m` go: the first slot of a free run, in the sector of
    /// the old entry set when there is one, else in any one sector of the directory.
    fn temp_slots(&self, listing: &Listing, m: &Managed, also_free: &[usize]) -> Result<usize> {
        ensure!(lfn_count(m.temp_long) == lfn_count(m.long), "internal: temporary and final names need the same number of LFN entries");
        let n = lfn_count(m.temp_long) + 1;
        let where_ = m.dir.join("\\");
        for short in [m.temp_short, m.old_short] {
            ensure!(
                listing.with_short(&short).all(|s| also_free.contains(&s.sfn)),
                "\\{where_} on partition 2 holds a file whose short name is {} (reserved for updates): remove it",
                display_short(&short)
            );
        }
        match listing.find(m.long)? {
            Some(old) => {
                let sector = self.sector_of(listing.slots[old.sfn].0);
                let old_slots = old.lfn.iter().chain([&old.sfn]);
                let straddles = old_slots.into_iter().any(|&i| self.sector_of(listing.slots[i].0) != sector);
                ensure!(
                    !straddles,
                    "{}'s directory entries straddle two sectors of \\{where_}, so they cannot be switched in one write; \
                     refusing to update (nothing written): move other files out of \\{where_} on partition 2, or reinstall",
                    m.display
                );
                listing.free_run_in_sector(sector, self.bps, n, also_free).with_context(|| {
                    format!(
                        "the directory sector of {} has no {n} free slots for the new file's entries, so the switch \
                         could not be one write; refusing to update (nothing written): move other files out of \\{where_} \
                         on partition 2, or reinstall",
                        m.display
                    )
                })
            }
            None => {
                ensure!(listing.with_short(&m.short).next().is_none(), "\\{where_} holds another file named {}", display_short(&m.short));
                let mut sectors: Vec<u64> = listing.slots.iter().map(|(p, _)| self.sector_of(*p)).collect();
                sectors.dedup();
                sectors
                    .into_iter()
                    .find_map(|s| listing.free_run_in_sector(s, self.bps, n, also_free))
                    .with_context(|| format!("\\{where_} on partition 2 is full"))
            }
        }
    }

    fn sector_of(&self, pos: u64) -> u64 {
        pos - (pos - self.base) % self.bps
    }

    /// Apply `edits` (absolute slot position, new content) that lie in one sector with ONE write.
    fn write_sector(&self, edits: &[Edit]) -> Result<()> {
        let sector = self.sector_of(edits[0].0);
        let mut buf = vec![0u8; self.bps as usize];
        self.file.read_exact_at(&mut buf, sector).context("reading a directory sector of partition 2")?;
        for (pos, e) in edits {
            ensure!(self.sector_of(*pos) == sector, "internal: directory edits span two sectors");
            let o = (pos - sector) as usize;
            buf[o..o + 32].copy_from_slice(e);
        }
        self.file.write_all_at(&buf, sector).context("writing a directory sector of partition 2")
    }

    /// Write the in-memory FAT 1 to every FAT copy (only sectors that differ), FAT 1 first.
    fn commit_fat(&self, failpoints: &Failpoints, after_fat1: Option<&str>) -> Result<()> {
        let mut disk = vec![0u8; self.fat_bytes as usize];
        for copy in 0..self.fats {
            let at = self.fat_at + copy * self.fat_bytes;
            self.file.read_exact_at(&mut disk, at).context("reading a FAT of partition 2")?;
            let bps = self.bps as usize;
            for (i, (want, have)) in self.fat.chunks(bps).zip(disk.chunks(bps)).enumerate() {
                if want != have {
                    self.file.write_all_at(want, at + (i * bps) as u64).context("writing a FAT of partition 2")?;
                }
            }
            if copy == 0 {
                if let Some(name) = after_fat1 {
                    failpoints.hit(name);
                }
            }
        }
        Ok(())
    }

    /// Clusters reachable from the directory tree; `Err` when the tree is inconsistent
    /// (a chain into free space, a loop, a cluster used twice).
    fn reachable(&self) -> Result<Vec<bool>> {
        let mut used = vec![false; self.max_cluster as usize + 1];
        let mut dirs = vec![Dir::Root];
        while let Some(dir) = dirs.pop() {
            let listing = self.list(dir)?;
            for set in &listing.sets {
                let first = listing.first_cluster(set);
                if first == 0 {
                    continue;
                }
                for c in self.chain(first)? {
                    ensure!(!used[c as usize], "cluster {c} of partition 2 belongs to two files");
                    used[c as usize] = true;
                }
                if listing.is_dir(set) {
                    dirs.push(Dir::Cluster(first));
                }
            }
        }
        Ok(used)
    }

    /// What [`Fat::tidy`] would repair (`None`: nothing). Errors when the file system is
    /// inconsistent beyond that, which `update` does not try to fix.
    fn untidy(&self) -> Result<Option<String>> {
        let used = self.reachable().context("partition 2 is inconsistent: check it with `fsck.fat`")?;
        let mut problems = Vec::new();
        let lost = (2..=self.max_cluster).filter(|&c| !used[c as usize] && !matches!(self.get(c), 0 | FAT16_BAD)).count();
        if lost > 0 {
            problems.push(format!("{lost} cluster(s) allocated to no file"));
        }
        let mut copy = vec![0u8; self.fat_bytes as usize];
        for i in 1..self.fats {
            self.file.read_exact_at(&mut copy, self.fat_at + i * self.fat_bytes)?;
            if copy != self.fat {
                problems.push(format!("FAT {} differs from FAT 1", i + 1));
            }
        }
        if self.dirty_flag()? {
            problems.push("dirty flag set".to_string());
        }
        Ok((!problems.is_empty()).then(|| problems.join(", ")))
    }

    fn dirty_flag(&self) -> Result<bool> {
        let mut b = [0u8; 1];
        self.file.read_exact_at(&mut b, self.base + 0x25)?;
        Ok(b[0] & 1 != 0)
    }

    /// Free clusters no file reaches, bring every FAT copy in line with FAT 1, clear the
    /// dirty flag. Each of these writes is harmless in any order: no file refers to what
    /// changes.
    fn tidy(&mut self) -> Result<()> {
        let used = self.reachable().context("partition 2 is inconsistent: check it with `fsck.fat`")?;
        for c in 2..=self.max_cluster {
            if !used[c as usize] && !matches!(self.get(c), 0 | FAT16_BAD) {
                self.set(c, 0);
            }
        }
        self.commit_fat(&Failpoints(None), None)?;
        self.sync()?;
        if self.dirty_flag()? {
            let mut sector = vec![0u8; self.bps as usize];
            self.file.read_exact_at(&mut sector, self.base)?;
            sector[0x25] &= !1;
            self.file.write_all_at(&sector, self.base).context("clearing the dirty flag of partition 2")?;
            self.sync()?;
        }
        Ok(())
    }

    /// Unlink an entry set (LFN-only sectors first, then the sector of the short entry), then
    /// free its clusters. `torn` names the failpoints between those writes.
    fn remove(&mut self, listing: &Listing, set: &EntrySet, failpoints: &Failpoints, torn: Option<&str>) -> Result<()> {
        let first = listing.first_cluster(set);
        // A leftover's chain may be cut short by an earlier power cut: free what is reachable,
        // tidy takes the rest.
        let chain = if first >= 2 { self.chain(first).unwrap_or_default() } else { Vec::new() };
        let sfn_sector = self.sector_of(listing.slots[set.sfn].0);
        let deleted = |i: usize| {
            let mut e = listing.slots[i].1;
            e[0] = DELETED;
            (listing.slots[i].0, e)
        };
        let mut by_sector: Vec<(u64, Vec<Edit>)> = Vec::new();
        for &i in set.lfn.iter().chain([&set.sfn]) {
            let s = self.sector_of(listing.slots[i].0);
            match by_sector.iter_mut().find(|(x, _)| *x == s) {
                Some((_, edits)) => edits.push(deleted(i)),
                None => by_sector.push((s, vec![deleted(i)])),
            }
        }
        by_sector.sort_by_key(|(s, _)| *s == sfn_sector);
        for (_, edits) in &by_sector {
            self.write_sector(edits)?;
            self.sync()?;
        }
        if let Some(t) = torn {
            failpoints.hit(&format!("{t}-unlinked"));
        }
        for c in chain {
            self.set(c, 0);
        }
        self.commit_fat(failpoints, torn.map(|t| format!("{t}-fat1")).as_deref())?;
        self.sync()
    }

    fn remove_leftovers(&mut self, dir: Dir, m: &Managed, failpoints: &Failpoints) -> Result<()> {
        loop {
            let listing = self.list(dir)?;
            let Some(set) = listing.leftovers(m).next() else {
                return Ok(());
            };
            self.remove(&listing, set, failpoints, None)?;
        }
    }

    /// Steps 1–3 of the module comment for one file.
    fn replace(&mut self, dir: Dir, m: &Managed, data: &[u8], failpoints: &Failpoints) -> Result<()> {
        let tag = m.tag;
        // 1. The new file under its temporary name.
        let listing = self.list(dir)?;
        let first_slot = self.temp_slots(&listing, m, &[])?;
        let count = (data.len() as u64).div_ceil(self.cluster_bytes) as usize;
        let clusters: Vec<u32> = (2..=self.max_cluster).filter(|&c| self.get(c) == 0).take(count).collect();
        ensure!(clusters.len() == count, "partition 2 has no room for the new {} ({} bytes)", m.display, data.len());
        let mut buf = vec![0u8; self.cluster_bytes as usize];
        for (chunk, &c) in data.chunks(self.cluster_bytes as usize).zip(&clusters) {
            buf.fill(0);
            buf[..chunk.len()].copy_from_slice(chunk);
            self.file.write_all_at(&buf, self.cluster_at(c)).with_context(|| format!("writing the new {}", m.display))?;
        }
        failpoints.hit(&format!("{tag}-new-data"));
        for (i, &c) in clusters.iter().enumerate() {
            let next = clusters.get(i + 1).map_or(FAT16_EOC, |&n| n as u16);
            self.set(c, next);
        }
        self.commit_fat(failpoints, Some(format!("{tag}-new-fat1").as_str()))?;
        self.sync()?;
        failpoints.hit(&format!("{tag}-new-fat"));
        let first_cluster = clusters.first().copied().unwrap_or(0);
        let mut entries = lfn_entries(m.temp_long, &m.temp_short);
        entries.push(short_entry(&m.temp_short, first_cluster, data.len() as u32));
        let edits: Vec<Edit> = entries.into_iter().enumerate().map(|(k, e)| (listing.slots[first_slot + k].0, e)).collect();
        self.write_sector(&edits)?;
        self.sync()?;
        failpoints.hit(&format!("{tag}-new-written"));

        // 2. The switch: one sector write.
        let listing = self.list(dir)?;
        let temp = listing
            .with_short(&m.temp_short)
            .next()
            .filter(|s| s.long.as_deref() == Some(m.temp_long))
            .with_context(|| format!("the new {} is not where it was written", m.display))?;
        let old = listing.find(m.long)?;
        let final_short = old.map_or(m.short, |o| listing.short_name(o));
        let mut edits = Vec::new();
        if let Some(old) = old {
            for &i in &old.lfn {
                let mut e = listing.slots[i].1;
                e[0] = DELETED;
                edits.push((listing.slots[i].0, e));
            }
            let mut e = listing.slots[old.sfn].1;
            e[..11].copy_from_slice(&m.old_short);
            edits.push((listing.slots[old.sfn].0, e));
        }
        let lfn = lfn_entries(m.long, &final_short);
        ensure!(lfn.len() == temp.lfn.len(), "internal: LFN slot count mismatch");
        for (&i, e) in temp.lfn.iter().zip(lfn) {
            edits.push((listing.slots[i].0, e));
        }
        let mut e = listing.slots[temp.sfn].1;
        e[..11].copy_from_slice(&final_short);
        edits.push((listing.slots[temp.sfn].0, e));
        self.write_sector(&edits)?; // checks that every edit lies in the one sector
        self.sync()?;
        failpoints.hit(&format!("{tag}-switched"));

        // 3. The old file goes.
        let listing = self.list(dir)?;
        if let Some(set) = listing.with_short(&m.old_short).next() {
            self.remove(&listing, set, failpoints, Some(&format!("{tag}-old")))?;
        }
        failpoints.hit(&format!("{tag}-old-removed"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfn_entries_match_what_fatfs_writes_and_decode_back() {
        // fatfs 0.3.6 writes this entry in front of BOOTX64.EFI (taken from an installed drive).
        let e = &lfn_entries("BOOTX64.EFI", b"BOOTX64 EFI")[0];
        assert_eq!(e[0], 0x41);
        assert_eq!(e[11], 0x0F);
        assert_eq!(e[13], 29);
        assert_eq!(&e[28..32], &[0, 0, 0xFF, 0xFF]);
        let long = "a long name that needs two or three entries.json";
        let entries = lfn_entries(long, b"ALONGN~1JSO");
        assert_eq!(entries.len(), lfn_count(long));
        assert_eq!(decode_lfn(&entries, b"ALONGN~1JSO").as_deref(), Some(long));
        assert_eq!(decode_lfn(&entries, b"ALONGN~2JSO"), None, "checksum of another short name");
        assert_eq!(lfn_checksum(b"STAMP~1 JSO"), 161);
    }

    #[test]
    fn temporary_names_need_as_many_lfn_entries_as_final_names() {
        for m in [&EFI_FILE, &STAMP_FILE] {
            assert_eq!(lfn_count(m.temp_long), lfn_count(m.long), "{}", m.long);
            assert_eq!(display_short(&m.temp_short).to_ascii_lowercase(), m.temp_long.to_ascii_lowercase());
        }
    }

    /// A fake USB stick (sysfs / proc tree as `device::inspect` reads it) whose node is an
    /// image file; `mounted` adds a mount of its partition 1.
    fn fake_usb_stick(root: &std::path::Path, sectors: u64, mounted: bool) -> (SystemView, PathBuf) {
        use std::os::unix::fs::symlink;
        let put = |path: PathBuf, value: &str| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, format!("{value}\n")).unwrap();
        };
        let disk = root.join("sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb");
        for (dir, devnum) in [(disk.clone(), "8:16"), (disk.join("sdb1"), "8:17")] {
            std::fs::create_dir_all(dir.join("holders")).unwrap();
            put(dir.join("dev"), devnum);
            std::fs::create_dir_all(root.join("sys/dev/block")).unwrap();
            symlink(&dir, root.join("sys/dev/block").join(devnum)).unwrap();
        }
        symlink("../..", disk.join("device")).unwrap();
        for (name, value) in [("size", sectors.to_string()), ("removable", "1".into()), ("ro", "0".into()), ("queue/logical_block_size", "512".into())] {
            put(disk.join(name), &value);
        }
        for (name, value) in [("partition", "1"), ("start", "2048"), ("size", "1000")] {
            put(disk.join("sdb1").join(name), value);
        }
        let mut mountinfo = "28 1 259:9 / / rw,relatime shared:1 - ext4 /dev/nvme9n1p2 rw\n".to_string();
        if mounted {
            mountinfo += "100 28 8:17 / /media/user/POLYBOOT rw,relatime shared:100 - exfat /dev/sdb1 rw\n";
        }
        put(root.join("proc/self/mountinfo"), mountinfo.trim_end());
        put(root.join("proc/swaps"), "Filename\tType\tSize\tUsed\tPriority");
        let node = root.join("dev/sdb");
        std::fs::create_dir_all(node.parent().unwrap()).unwrap();
        std::fs::File::create(&node).unwrap().set_len(sectors * 512).unwrap();
        let mut fake_block_devices = std::collections::BTreeMap::new();
        fake_block_devices.insert(node.canonicalize().unwrap(), crate::device::DevNum::new(8, 16));
        let view = SystemView { sys_root: root.join("sys"), proc_root: root.join("proc"), dev_root: root.join("dev"), fake_block_devices };
        (view, node)
    }

    #[test]
    fn update_refuses_a_mounted_stick_and_updates_it_once_unmounted() {
        let tmp = tempfile::tempdir().unwrap();
        let (old_efi, new_efi) = (tmp.path().join("old.efi"), tmp.path().join("new.efi"));
        std::fs::write(&old_efi, b"MZ old boot manager").unwrap();
        std::fs::write(&new_efi, b"MZ new boot manager, a little longer").unwrap();
        let sectors = 128 << 11;
        let unmounted = tmp.path().join("unmounted");
        let (view, node) = fake_usb_stick(&unmounted, sectors, false);
        let install = crate::drive::install::InstallOptions {
            target: node.clone(),
            size: None,
            scheme: Scheme::Gpt,
            reserve: 0,
            label: "POLYBOOT".into(),
            sector_size: None,
            dry_run: false,
            yes: true,
            force: false,
            efi: Some(old_efi),
        };
        crate::drive::install::install(&view, &install, false, &mut std::io::empty(), &mut std::io::sink()).unwrap();
        let opts = UpdateOptions { target: node.clone(), dry_run: false, efi: Some(new_efi.clone()) };

        // The same stick with its data partition mounted: refused, nothing written.
        let (mounted_view, mounted_node) = fake_usb_stick(&tmp.path().join("mounted"), sectors, true);
        std::fs::copy(&node, &mounted_node).unwrap();
        let before = std::fs::read(&mounted_node).unwrap();
        let err = update(&mounted_view, &UpdateOptions { target: mounted_node.clone(), ..opts.clone() }, &mut std::io::sink()).unwrap_err();
        assert!(format!("{err:#}").contains("/media/user/POLYBOOT"), "{err:#}");
        assert!(std::fs::read(&mounted_node).unwrap() == before, "a refused update wrote");

        let report = update(&view, &opts, &mut std::io::sink()).unwrap();
        assert!(report.written);
        assert_eq!(report.new.bootx64_sha256, bootpart::hex(&Sha256::digest(std::fs::read(&new_efi).unwrap())));
        let again = update(&view, &opts, &mut std::io::sink()).unwrap();
        assert!(!again.written && again.actions.is_empty(), "{:?}", again.actions);
    }

    #[test]
    fn every_failpoint_name_is_distinct() {
        let mut all: Vec<&str> = STEP_FAILPOINTS.iter().chain(TORN_FAILPOINTS).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), STEP_FAILPOINTS.len() + TORN_FAILPOINTS.len());
    }
}
