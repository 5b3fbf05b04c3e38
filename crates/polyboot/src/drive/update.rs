//! `polyboot update`: replace the boot files of an existing polyboot drive without ever leaving
//! it unbootable.
//!
//! What it writes: `\EFI\BOOT\BOOTX64.EFI` and `\polyboot\stamp.json` on partition 2 (FAT16)
//! (and the other files a build has there: the WinPE jump programs, a signed drive's chain, the
//! BIOS stage 1's tail) and the boot-code areas (MBR bytes 0..440, the gap before partition 1).
//! What it never writes: partition 1 (the user's exFAT data), the partition table entries, the
//! disk GUID or MBR signature, the partition GUIDs.
//!
//! # Crash safety
//!
//! Model: power can fail between any two sector writes; a single sector write lands whole or
//! not at all; writes issued since the last `sync` (fsync, which also flushes the device's
//! cache) may land in any subset. So wherever order matters we sync in between.
//!
//! Partition 2 is written with core's ordered FAT16 writer ([`polyboot_core::fat::write`],
//! which writes only what it is told), not with the `fatfs` crate, because the order of writes
//! is the whole point (and `fatfs` frees a removed file's clusters *before* unlinking it, and
//! marks the volume dirty while it works). The order and the syncs are this module's. Each
//! file is replaced in three steps, the stamp after everything else:
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
//! Boot code (legacy BIOS, see [`super::bootcode`]): the MBR's stage 0 loads stage 1 from
//! one of two slots in the loader gap. The new stage 1 goes into the slot the current stage 0
//! does not load (only sectors that differ are written; sync), then sector 0 is rewritten in
//! ONE write that carries its bytes 440.. (disk signature, partition table) back exactly as
//! read and switches stage 0 to the new slot (sync); only then is the rest of the gap (the
//! old slot, anything else) zeroed. A power cut leaves the old or the new boot code whole.
//! A build without the BIOS artefact has no boot code: both areas become zeros, as its
//! `install` leaves them.
//!
//! A stage 1 larger than stage 0's load area has its tail in a file on partition 2
//! (`\polyboot\stage1-a.bin` or `stage1-b.bin`, one contiguous run of clusters, read by
//! sector), which the head in the slot points at. The two names work like the two slots: the
//! new tail is written under the name the current head does not load, first thing after the
//! clean-up (while partition 2 has its largest free runs): data, FATs, sync, then its entries
//! in one directory-sector write, sync. It belongs to no head until stage 0 switches; after the
//! switch the old tail is removed like an old file (unlinked, sync, clusters freed, sync). A
//! tail file the current boot code does not load is a leftover, removed by the clean-up.
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

use super::bootcode::{self, BootCodeAreas, TailFile, TAIL_DIR, TAIL_NAMES};
use super::bootpart::{self, BootFiles, Stamp, LAYOUT_VERSION, LAYOUT_VERSION_SIGNED};
use super::io::FileDevice;
use super::signing::{Chain, KeySource, Signer};
use super::Drive;
use crate::device::{self, Policy, SystemView, Target};
use anyhow::{bail, ensure, Context, Result};
use polyboot_core::block::Slice;
use polyboot_core::fat::dirent::{self, DosTimestamp};
use polyboot_core::fat::listing::{EntrySet, Listing};
use polyboot_core::fat::write::{Dir, Fat16Writer, SlotEdit, FAT16_FREE};
use polyboot_core::fat::FatError;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

pub const FAILPOINT_ENV: &str = "POLYBOOT_FAILPOINT";
pub const FAILPOINT_EXIT_CODE: i32 = 86;
/// Step boundaries, in the order a full update reaches them. `fsck.fat -n` passes at each.
pub const STEP_FAILPOINTS: &[&str] = &[
    "cleaned",
    "bios-tail-written",
    "efi-new-written",
    "efi-switched",
    "efi-old-removed",
    "boot-code-written",
    "bios-tail-old-removed",
    "stamp-new-written",
    "stamp-switched",
    "stamp-old-removed",
];
/// Step boundaries of a signed drive's other files, reached before "efi-new-written", in
/// this order (a signed drive's update reaches these and then every [`STEP_FAILPOINTS`]).
pub const SIGNED_STEP_FAILPOINTS: &[&str] = &[
    "cert-new-written",
    "cert-switched",
    "cert-old-removed",
    "mm-new-written",
    "mm-switched",
    "mm-old-removed",
    "loader-new-written",
    "loader-switched",
    "loader-old-removed",
];
/// Between two writes of the BIOS tail's steps (reached only when the update writes a tail, or
/// removes one after the switch): the drive boots, fsck may report unowned clusters.
pub const BIOS_TAIL_TORN_FAILPOINTS: &[&str] = &[
    "bios-tail-new-data",
    "bios-tail-new-fat1",
    "bios-tail-new-fat",
    "bios-tail-old-unlinked",
    "bios-tail-old-fat1",
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
    /// The key of a signed drive (`None`: the user's own key).
    pub key: Option<KeySource>,
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

/// Shim's second stage: the signed boot manager (shim chain).
const LOADER_FILE: Managed = Managed {
    tag: "loader",
    dir: &["EFI", "BOOT"],
    display: "\\EFI\\BOOT\\grubx64.efi",
    long: "grubx64.efi",
    short: *b"GRUBX64 EFI",
    temp_long: "grubx64.new",
    temp_short: *b"GRUBX64 NEW",
    old_short: *b"GRUBX64 OLD",
};

const MM_FILE: Managed = Managed {
    tag: "mm",
    dir: &["EFI", "BOOT"],
    display: "\\EFI\\BOOT\\mmx64.efi",
    long: "mmx64.efi",
    short: *b"MMX64   EFI",
    temp_long: "mmx64.new",
    temp_short: *b"MMX64   NEW",
    old_short: *b"MMX64   OLD",
};

const CERT_FILE: Managed = Managed {
    tag: "cert",
    dir: &[],
    display: "\\ENROLL-THIS-KEY.cer",
    long: "ENROLL-THIS-KEY.cer",
    short: *b"ENROLL~1CER",
    temp_long: "ENROLL-THIS-KEY.new",
    temp_short: *b"ENROLL~1NEW",
    old_short: *b"ENROLL~1OLD",
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

/// The WinPE jump program.
const WINPE_FILE: Managed = Managed {
    tag: "winpe",
    dir: &["polyboot"],
    display: "\\polyboot\\winpe-x64.exe",
    long: "winpe-x64.exe",
    short: *b"WINPE-~1EXE",
    temp_long: "winpe-x64.new",
    temp_short: *b"WINPE-~1NEW",
    old_short: *b"WINPE-~1OLD",
};

/// The WinPE jump program for 32-bit Windows PE. Written after winpe-x64.exe, so FAT
/// implementations name it WINPE-~2.EXE (an old entry's short name is kept in any case).
const WINPE_X86_FILE: Managed = Managed {
    tag: "winpe-x86",
    dir: &["polyboot"],
    display: "\\polyboot\\winpe-x86.exe",
    long: "winpe-x86.exe",
    short: *b"WINPE-~2EXE",
    temp_long: "winpe-x86.new",
    temp_short: *b"WINPE-~2NEW",
    old_short: *b"WINPE-~2OLD",
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
            if !STEP_FAILPOINTS.contains(&name)
                && !TORN_FAILPOINTS.contains(&name)
                && !SIGNED_STEP_FAILPOINTS.contains(&name)
                && !BIOS_TAIL_TORN_FAILPOINTS.contains(&name)
            {
                bail!(
                    "{FAILPOINT_ENV}={value}: no such failpoint (known: {})",
                    STEP_FAILPOINTS.join(", ")
                );
            }
            return Ok(Failpoints(Some(name.to_string())));
        }
        Ok(Failpoints(None))
    }

    fn hit(&self, name: &str) {
        if self.0.as_deref() == Some(name) {
            eprintln!(
                "polyboot: failpoint update:{name} reached: stopping as if the power had been cut"
            );
            std::process::exit(FAILPOINT_EXIT_CODE);
        }
    }
}

/// Run `update`. Progress lines go to `out` (pass `std::io::sink()` for JSON output).
pub fn update(
    view: &SystemView,
    opts: &UpdateOptions,
    out: &mut impl Write,
) -> Result<UpdateReport> {
    let (failpoints, files, mut drive) = open_target(view, opts)?;
    let layout = drive.layout.clone();
    let file = drive.device().file().try_clone().context("duplicating the device handle")?;
    let mut fat = BootFat::open(drive.device().try_clone()?, &file, &layout)?;
    let files = resign(files, &drive, &mut fat, opts, out)?;

    // Everything is read and checked before the first write.
    let plan = UpdatePlan::read(&mut fat, &mut drive, &file, &files)?;
    let actions = plan.actions();
    print_versions(out, &drive, &plan)?;
    let mut report = UpdateReport {
        target: opts.target.display().to_string(),
        old: drive.stamp.clone(),
        old_bootx64_sha256_on_drive: plan.old_efi_hash.clone(),
        new: plan.new_stamp.clone(),
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
    plan.write(&mut fat, &files, &file, &failpoints, out)?;
    plan.read_back(&mut drive, &file, &files)?;
    writeln!(out, "updated {}", opts.target.display())?;
    Ok(report)
}

/// The refusals, then the drive opened (writable unless `--dry-run`) with the files to put on
/// it and the failpoints asked for.
fn open_target(view: &SystemView, opts: &UpdateOptions) -> Result<(Failpoints, BootFiles, Drive)> {
    // An existing polyboot drive is recognised by its stamp, so fixed disks are allowed (that
    // is what `--force` guards at install time); mounted, in-use, read-only and system disks,
    // and partitions, are refused.
    let target = device::check_erasable(view, &opts.target, &Policy { force: true, min_size: 0 })?;
    if let Target::ImageFile { exists: false, path, .. } = &target {
        bail!("{} does not exist", path.display());
    }
    let failpoints = Failpoints::from_env()?;
    let files = BootFiles::locate(opts.efi.as_deref())?;
    let drive = Drive::open(&opts.target, !opts.dry_run)?;
    let signed = drive.stamp.secure_boot.is_some();
    let known = if signed { LAYOUT_VERSION_SIGNED } else { LAYOUT_VERSION };
    if drive.stamp.layout_version != known {
        bail!(
            "{} has drive layout {}; this polyboot ({}) knows layouts {LAYOUT_VERSION} (unsigned) and {LAYOUT_VERSION_SIGNED} (signed) only: update it with a matching polyboot, or reinstall",
            opts.target.display(),
            drive.stamp.layout_version,
            polyboot_core::VERSION
        );
    }
    Ok((failpoints, files, drive))
}

/// A signed drive keeps its chain and its key: the build's boot manager signed again with
/// the key whose certificate the stamp records (the signed file on the drive is kept when it
/// is already this build's, signed with that key). An unsigned drive stays unsigned.
fn resign(
    files: BootFiles,
    drive: &Drive,
    fat: &mut BootFat<'_>,
    opts: &UpdateOptions,
    out: &mut impl Write,
) -> Result<BootFiles> {
    let Some(sb) = drive.stamp.secure_boot.clone() else {
        return Ok(files);
    };
    let key = opts.key.clone().unwrap_or(KeySource::User);
    let signer = Signer::open(&key).with_context(|| {
        format!(
            "{} is signed with {} (sha256 {}): update needs that key (--sb-key/--sb-cert, or your own key in {})",
            drive.path.display(),
            sb.cert.subject,
            sb.cert.sha256,
            super::signing::user_key_dir().map(|d| d.display().to_string()).unwrap_or_default()
        )
    })?;
    ensure!(
        signer.cert.sha256 == sb.cert.sha256,
        "{} is signed with {} (sha256 {}), not with the key given ({}, sha256 {}): pass that drive's key with --sb-key/--sb-cert, or reinstall to change keys",
        drive.path.display(),
        sb.cert.subject,
        sb.cert.sha256,
        signer.cert.subject,
        signer.cert.sha256
    );
    let m = match sb.chain {
        Chain::Shim => &LOADER_FILE,
        Chain::Polyboot => &EFI_FILE,
    };
    let dir = fat.lookup_dir(m.dir)?;
    let on_drive = fat.read_managed(dir, m)?;
    let unsigned = bootpart::hex(&Sha256::digest(&files.bootx64));
    let reuse = on_drive.filter(|b| {
        unsigned == sb.polyboot_unsigned_sha256
            && bootpart::hex(&Sha256::digest(b)) == sb.polyboot_signed_sha256
    });
    if reuse.is_none() {
        writeln!(
            out,
            "signing the boot manager with {} (sha256 {})",
            sb.cert.subject, sb.cert.sha256
        )?;
    }
    files.signed(sb.chain, &signer, reuse)
}

/// The files besides BOOTX64.EFI and the stamp — the WinPE jump program and a signed drive's
/// files — in the order they are replaced (before BOOTX64.EFI, so that a shim on the drive
/// always finds its loader, and the boot manager its jump program).
fn signed_files(files: &BootFiles) -> Vec<(&'static Managed, &[u8])> {
    let mut v: Vec<(&'static Managed, &[u8])> = Vec::new();
    if let Some(jump) = &files.winpe_jump {
        v.push((&WINPE_FILE, jump));
    }
    if let Some(jump) = &files.winpe_jump_x86 {
        v.push((&WINPE_X86_FILE, jump));
    }
    if let Some(sb) = &files.secure_boot {
        v.push((&CERT_FILE, &sb.cert_der));
        if let Some(mm) = &sb.mok_manager {
            v.push((&MM_FILE, mm));
        }
        if let Some(loader) = &sb.loader {
            v.push((&LOADER_FILE, loader));
        }
    }
    v
}

/// One of the signed drive's other files, as planned.
struct ExtraFile {
    m: &'static Managed,
    dir: Dir,
    stale: bool,
}

/// What the drive holds against what this build puts there: read and checked before the first
/// write, so that a refusal leaves the drive untouched.
struct UpdatePlan {
    new_stamp: Stamp,
    new_stamp_json: Vec<u8>,
    efi_dir: Dir,
    stamp_dir: Dir,
    /// SHA-256 of BOOTX64.EFI as found on the drive (`None`: missing).
    old_efi_hash: Option<String>,
    /// Temporary or old copies an interrupted update left.
    leftovers: bool,
    /// What tidying partition 2 would repair.
    untidy: Option<String>,
    efi_stale: bool,
    stamp_stale: bool,
    boot_code: BootCodeAreas,
    /// `\polyboot`, where the BIOS stage 1's tail files are.
    tail_dir: Dir,
    /// The tail files the current boot code does not load ([`TAIL_NAMES`] indices).
    leftover_tails: Vec<usize>,
    /// A signed drive's other files (empty for an unsigned drive).
    extra: Vec<ExtraFile>,
}

impl UpdatePlan {
    fn read(
        fat: &mut BootFat<'_>,
        drive: &mut Drive,
        file: &File,
        files: &BootFiles,
    ) -> Result<Self> {
        let layout = drive.layout.clone();
        let new_stamp = files.stamp();
        let new_stamp_json = files.stamp_json()?;
        let efi_dir = fat.lookup_dir(EFI_FILE.dir)?;
        let stamp_dir = fat.lookup_dir(STAMP_FILE.dir)?;
        let old_efi = fat.read_managed(efi_dir, &EFI_FILE)?;
        let old_stamp_bytes = fat.read_managed(stamp_dir, &STAMP_FILE)?;
        let old_efi_hash = old_efi.as_ref().map(|b| bootpart::hex(&Sha256::digest(b)));
        let mut leftovers =
            fat.has_leftovers(efi_dir, &EFI_FILE)? || fat.has_leftovers(stamp_dir, &STAMP_FILE)?;
        let mut extra = Vec::new();
        for (m, data) in signed_files(files) {
            let dir = fat.lookup_dir(m.dir)?;
            leftovers |= fat.has_leftovers(dir, m)?;
            let stale = fat.read_managed(dir, m)?.as_deref() != Some(data);
            if stale {
                fat.check_switchable(dir, m)?;
            }
            extra.push(ExtraFile { m, dir, stale });
        }
        let untidy = fat.untidy().context("checking partition 2 before writing")?;
        let efi_stale = old_efi.as_deref() != Some(files.bootx64.as_slice());
        let stamp_stale = old_stamp_bytes.as_deref() != Some(new_stamp_json.as_slice());
        let tail_dir = fat.lookup_dir(TAIL_DIR)?;
        let tails = fat.tails()?;
        let boot_code = BootCodeAreas::read(
            drive.device(),
            file,
            layout.scheme,
            layout.sector_size,
            layout.data.offset,
            files.bios.as_ref(),
            &tails,
        )?;
        let leftover_tails: Vec<usize> = (0..TAIL_NAMES.len())
            .filter(|&k| tails[k].is_some() && boot_code.live_tail != Some(k))
            .collect();
        leftovers |= !leftover_tails.is_empty();
        if let Some(tail) = boot_code.new_tail() {
            fat.check_tail_room(tail_dir, boot_code.new_tail_name(), tail.len(), &leftover_tails)?;
        }
        if efi_stale {
            fat.check_switchable(efi_dir, &EFI_FILE)?;
        }
        if stamp_stale {
            fat.check_switchable(stamp_dir, &STAMP_FILE)?;
        }
        Ok(UpdatePlan {
            new_stamp,
            new_stamp_json,
            efi_dir,
            stamp_dir,
            old_efi_hash,
            leftovers,
            untidy,
            efi_stale,
            stamp_stale,
            boot_code,
            tail_dir,
            leftover_tails,
            extra,
        })
    }

    /// What needs doing, in the order it is done; empty when the drive is up to date.
    fn actions(&self) -> Vec<String> {
        let mut actions = Vec::new();
        if self.leftovers {
            actions.push("remove the leftovers of an interrupted update".to_string());
        }
        if let Some(why) = &self.untidy {
            actions.push(format!("tidy partition 2 ({why})"));
        }
        for x in self.extra.iter().filter(|x| x.stale) {
            actions.push(format!("replace {}", x.m.display));
        }
        if self.efi_stale {
            actions.push(format!("replace {}", EFI_FILE.display));
        }
        if self.boot_code.stale {
            let mut what = "rewrite the boot code (MBR bytes 0..440, loader gap".to_string();
            if self.boot_code.new_tail().is_some() {
                what +=
                    &format!(", \\polyboot\\{}", TAIL_NAMES[self.boot_code.new_tail_name()].long);
            }
            actions.push(what + ")");
        }
        if self.stamp_stale {
            actions.push(format!("replace {}", STAMP_FILE.display));
        }
        actions
    }

    /// The writes, in the order of the module comment; what is already current is not
    /// written.
    fn write(
        &self,
        fat: &mut BootFat<'_>,
        files: &BootFiles,
        file: &File,
        failpoints: &Failpoints,
        out: &mut impl Write,
    ) -> Result<()> {
        fat.remove_leftovers(self.efi_dir, &EFI_FILE, failpoints)?;
        fat.remove_leftovers(self.stamp_dir, &STAMP_FILE, failpoints)?;
        for x in &self.extra {
            fat.remove_leftovers(x.dir, x.m, failpoints)?;
        }
        for &k in &self.leftover_tails {
            fat.remove_tail(self.tail_dir, k, failpoints, None)?;
        }
        fat.tidy()?;
        failpoints.hit("cleaned");

        // The new BIOS stage 1's tail, which no boot code loads yet.
        let tail_lba = match self.boot_code.new_tail() {
            Some(tail) => {
                let k = self.boot_code.new_tail_name();
                let lba = fat.create_tail(self.tail_dir, k, tail, failpoints)?;
                writeln!(out, "  wrote \\polyboot\\{}", TAIL_NAMES[k].long)?;
                Some(lba)
            }
            None => None,
        };
        failpoints.hit("bios-tail-written");

        for (x, (_, data)) in self.extra.iter().zip(signed_files(files)) {
            fat.replace_if_stale(x.stale, x.dir, x.m, data, failpoints, out)?;
        }

        let (efi, stamp) = (&files.bootx64, &self.new_stamp_json);
        fat.replace_if_stale(self.efi_stale, self.efi_dir, &EFI_FILE, efi, failpoints, out)?;
        if self.boot_code.stale {
            self.boot_code.write(file, tail_lba)?;
            writeln!(out, "  rewrote the boot code")?;
        }
        failpoints.hit("boot-code-written");
        // The old tail: no boot code loads it any more.
        if let Some(k) = self.boot_code.live_tail.filter(|_| self.boot_code.stale) {
            fat.remove_tail(self.tail_dir, k, failpoints, Some("bios-tail-old"))?;
        }
        failpoints.hit("bios-tail-old-removed");
        let stale = self.stamp_stale;
        fat.replace_if_stale(stale, self.stamp_dir, &STAMP_FILE, stamp, failpoints, out)?;
        fat.tidy()
    }

    /// Reads back what the drive now holds, through a fresh look at partition 2.
    fn read_back(&self, drive: &mut Drive, file: &File, files: &BootFiles) -> Result<()> {
        let layout = drive.layout.clone();
        let mut fat = BootFat::open(drive.device().try_clone()?, file, &layout)?;
        ensure!(
            fat.read_managed(self.efi_dir, &EFI_FILE)?.as_deref() == Some(files.bootx64.as_slice()),
            "BOOTX64.EFI reads back wrong after the update"
        );
        for (x, (_, data)) in self.extra.iter().zip(signed_files(files)) {
            ensure!(
                fat.read_managed(x.dir, x.m)?.as_deref() == Some(data),
                "{} reads back wrong after the update",
                x.m.display
            );
        }
        ensure!(
            fat.read_managed(self.stamp_dir, &STAMP_FILE)?.as_deref()
                == Some(self.new_stamp_json.as_slice()),
            "stamp.json reads back wrong after the update"
        );
        ensure!(fat.untidy()?.is_none(), "partition 2 is not tidy after the update");
        if let Some(bios) = files.bios.as_ref().filter(|_| self.boot_code.manages_code()) {
            let loaded = bootcode::load_stage1(file).context(
                "after the update, the BIOS boot code does not load as the BIOS loads it",
            )?;
            ensure!(bios.is_loaded(&loaded), "the BIOS stage 1 reads back wrong after the update");
            let tails = fat.tails()?;
            ensure!(
                tails.iter().filter(|t| t.is_some()).count() == usize::from(bios.tail().is_some()),
                "partition 2 holds a BIOS stage 1 tail no boot code loads after the update"
            );
        }
        let stamp = bootpart::read_stamp(file, layout.boot.offset, layout.boot.size)?;
        ensure!(
            stamp.as_ref() == Some(&self.new_stamp),
            "the stamp does not read back through the FAT driver"
        );
        Ok(())
    }
}

/// The drive, what is installed on it and what this build would install.
fn print_versions(out: &mut impl Write, drive: &Drive, plan: &UpdatePlan) -> Result<()> {
    let layout = &drive.layout;
    let old = &drive.stamp;
    writeln!(
        out,
        "{}: polyboot drive ({}, {}-byte sectors)",
        drive.path.display(),
        layout.scheme,
        layout.sector_size
    )?;
    writeln!(
        out,
        "  installed: polyboot {} (layout {}), BOOTX64.EFI sha256 {}",
        old.polyboot_version, old.layout_version, old.bootx64_sha256
    )?;
    match &plan.old_efi_hash {
        Some(h) if *h != old.bootx64_sha256 => writeln!(
            out,
            "             BOOTX64.EFI on the drive: sha256 {h} (not what the stamp records)"
        )?,
        None => writeln!(out, "             BOOTX64.EFI is missing from the drive")?,
        _ => {}
    }
    let n = &plan.new_stamp;
    writeln!(
        out,
        "  new:       polyboot {} (layout {}), BOOTX64.EFI sha256 {}",
        n.polyboot_version, n.layout_version, n.bootx64_sha256
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Partition 2 through core's ordered FAT16 writer; the order of writes and syncs is decided
// here, the FAT logic is in `polyboot_core::fat`.

/// Local time in FAT's date and time formats.
fn dos_now() -> DosTimestamp {
    // SAFETY: time(NULL) and localtime_r with valid pointers.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return DosTimestamp::EPOCH;
        }
        tm
    };
    DosTimestamp::new(
        tm.tm_year + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
    )
}

/// An error of core's FAT code, said about partition 2.
fn part2(e: FatError) -> anyhow::Error {
    anyhow::anyhow!("partition 2: {e}")
}

/// Our temporary or old copies of `m` in `listing`.
fn leftovers<'a>(listing: &'a Listing, m: &'a Managed) -> impl Iterator<Item = &'a EntrySet> + 'a {
    listing.sets.iter().filter(move |s| {
        let short = listing.short_name(s);
        short == m.temp_short
            || short == m.old_short
            || s.long.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(m.temp_long))
    })
}

/// The one entry named `name` in `listing`.
fn find<'a>(listing: &'a Listing, name: &str) -> Result<Option<&'a EntrySet>> {
    listing.find(name).map_err(|_| {
        anyhow::anyhow!("partition 2 has two entries named {name}: check it with fsck.fat")
    })
}

fn short_text(short: &[u8; 11]) -> String {
    dirent::short_name_text(short, 0)
}

/// Partition 2 as `update` writes it: core's writer (which writes only what it is told, and
/// holds FAT 1 in memory until told to write it) plus the syncs and failpoints.
struct BootFat<'f> {
    fat: Fat16Writer<Slice<FileDevice>>,
    /// The drive, for syncs.
    file: &'f File,
    /// Where partition 2 starts on the drive, and the drive's sector size.
    offset: u64,
    sector_size: u64,
}

impl<'f> BootFat<'f> {
    fn open(dev: FileDevice, file: &'f File, layout: &super::DriveLayout) -> Result<BootFat<'f>> {
        let part = Slice::new(dev, layout.boot.offset, layout.boot.size)
            .map_err(|e| anyhow::anyhow!("partition 2 lies outside the disk: {e}"))?;
        let fat = Fat16Writer::open(part)
            .map_err(|e| anyhow::anyhow!("partition 2 does not hold the FAT16 file system polyboot writes (reinstall the drive): {e}"))?;
        ensure!(
            fat.geometry().bytes_per_sector == layout.sector_size,
            "partition 2 does not hold the FAT16 file system polyboot writes (reinstall the drive): its sectors are not the drive's"
        );
        Ok(BootFat {
            fat,
            file,
            offset: layout.boot.offset,
            sector_size: u64::from(layout.sector_size),
        })
    }

    /// The BIOS stage 1's tail files ([`bootcode::find_tails`]).
    fn tails(&mut self) -> Result<[Option<TailFile>; 2]> {
        bootcode::find_tails(&mut self.fat, self.offset, self.sector_size)
    }

    /// The first of a run of `n` clusters that are free, or in `also_free`.
    fn contiguous_run(&self, n: usize, also_free: &[u32]) -> Option<u32> {
        let mut run = 0;
        for c in 2..=self.fat.geometry().max_cluster() {
            if self.fat.entry(c) == FAT16_FREE || also_free.contains(&c) {
                run += 1;
                if run == n {
                    return Some(c + 1 - n as u32);
                }
            } else {
                run = 0;
            }
        }
        None
    }

    /// The directory slots for a new file `long` / `short` in `dir`: the first run of free
    /// slots (or `also_free` ones) in one sector.
    fn new_entry_slots(
        &self,
        listing: &Listing,
        long: &str,
        short: &[u8; 11],
        also_free: &[usize],
    ) -> Result<usize> {
        ensure!(
            listing.sets.iter().all(|s| {
                also_free.contains(&s.sfn)
                    || (listing.short_name(s) != *short
                        && !s.long.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(long)))
            }),
            "partition 2 holds another file named {long}: remove it"
        );
        let n = dirent::lfn_count(long) + 1;
        let mut sectors: Vec<u64> =
            listing.slots.iter().map(|(p, _)| self.fat.sector_of(*p)).collect();
        sectors.dedup();
        sectors
            .into_iter()
            .find_map(|s| listing.free_run_in_sector(s, self.sector_bytes(), n, also_free))
            .with_context(|| format!("the directory of {long} on partition 2 is full"))
    }

    /// Refuse (before anything is written) when tail file `k` (`len` bytes) would not fit in
    /// one run of clusters of `dir`'s volume once the `leftovers` are removed.
    fn check_tail_room(
        &mut self,
        dir: Dir,
        k: usize,
        len: usize,
        leftovers: &[usize],
    ) -> Result<()> {
        let listing = self.list(dir)?;
        let (mut clusters, mut slots) = (Vec::new(), Vec::new());
        for &j in leftovers {
            if let Some(set) = find(&listing, TAIL_NAMES[j].long)? {
                slots.extend(set.slot_indices());
                let first = listing.first_cluster(set);
                if first >= 2 {
                    clusters.extend(self.fat.chain(first).unwrap_or_default());
                }
            }
        }
        let name = &TAIL_NAMES[k];
        self.new_entry_slots(&listing, name.long, &name.short, &slots)?;
        let n = (len as u64).div_ceil(self.fat.geometry().cluster_bytes()) as usize;
        ensure!(
            self.contiguous_run(n, &clusters).is_some(),
            "partition 2 has no {len} contiguous free bytes for the BIOS stage 1's tail \\polyboot\\{} (refusing to update, nothing written): move other files off partition 2, or reinstall",
            name.long
        );
        Ok(())
    }

    /// Write tail file `k` of the BIOS stage 1 into one run of clusters of `dir` (data, FATs,
    /// sync, then its entries in one sector write, sync; see the module comment). Returns its
    /// first sector on the drive, which the new head is patched with.
    fn create_tail(
        &mut self,
        dir: Dir,
        k: usize,
        data: &[u8],
        failpoints: &Failpoints,
    ) -> Result<u64> {
        let name = &TAIL_NAMES[k];
        let listing = self.list(dir)?;
        let first_slot = self.new_entry_slots(&listing, name.long, &name.short, &[])?;
        let geometry = *self.fat.geometry();
        let n = (data.len() as u64).div_ceil(geometry.cluster_bytes()) as usize;
        let first = self.contiguous_run(n, &[]).with_context(|| {
            format!("partition 2 has no {} contiguous free bytes for {}", data.len(), name.long)
        })?;
        let clusters: Vec<u32> = (first..first + n as u32).collect();
        self.fat
            .write_clusters(&clusters, data)
            .map_err(part2)
            .with_context(|| format!("writing \\polyboot\\{}", name.long))?;
        failpoints.hit("bios-tail-new-data");
        self.fat.link_chain(&clusters);
        self.commit_fat(failpoints, Some("bios-tail-new-fat1"))?;
        self.sync()?;
        failpoints.hit("bios-tail-new-fat");
        let mut entries = dirent::lfn_entries(name.long, &name.short);
        entries.push(dirent::file_entry(&name.short, first, data.len() as u32, dos_now()));
        let edits: Vec<SlotEdit> = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| (listing.slots[first_slot + i].0, e))
            .collect();
        self.write_sector(&edits)?;
        self.sync()?;
        let at = self.offset + geometry.cluster_offset(first);
        ensure!(at % self.sector_size == 0, "internal: a cluster off the sector grid");
        Ok(at / self.sector_size)
    }

    /// Remove tail file `k` of `dir`, if it is there (see [`BootFat::remove`]).
    fn remove_tail(
        &mut self,
        dir: Dir,
        k: usize,
        failpoints: &Failpoints,
        torn: Option<&str>,
    ) -> Result<()> {
        let listing = self.list(dir)?;
        if let Some(set) = find(&listing, TAIL_NAMES[k].long)? {
            self.remove(&listing, set, failpoints, torn)?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.file.sync_all().context("flushing the target to stable storage")
    }

    fn list(&mut self, dir: Dir) -> Result<Listing> {
        self.fat.list(dir).map_err(part2)
    }

    fn sector_bytes(&self) -> u64 {
        self.fat.geometry().sector_bytes()
    }

    /// Write the in-memory FAT 1 to every FAT copy (only sectors that differ), FAT 1 first.
    fn commit_fat(&mut self, failpoints: &Failpoints, after_fat1: Option<&str>) -> Result<()> {
        for copy in 0..self.fat.geometry().fat_count {
            self.fat.write_fat_copy(copy).map_err(part2).context("writing a FAT of partition 2")?;
            if copy == 0 {
                if let Some(name) = after_fat1 {
                    failpoints.hit(name);
                }
            }
        }
        Ok(())
    }

    fn lookup_dir(&mut self, path: &[&str]) -> Result<Dir> {
        let mut dir = Dir::Root;
        for (depth, name) in path.iter().enumerate() {
            let listing = self.list(dir)?;
            let Some(set) = find(&listing, name)?.filter(|s| listing.is_dir(s)) else {
                bail!(
                    "partition 2 has no directory \\{}: reinstall the drive",
                    path[..=depth].join("\\")
                );
            };
            let first = listing.first_cluster(set);
            ensure!(
                first >= 2,
                "directory \\{} of partition 2 has no cluster",
                path[..=depth].join("\\")
            );
            dir = Dir::Cluster(first);
        }
        Ok(dir)
    }

    /// The content of `m` on the drive; `None` when it is missing.
    fn read_managed(&mut self, dir: Dir, m: &Managed) -> Result<Option<Vec<u8>>> {
        let listing = self.list(dir)?;
        match find(&listing, m.long)? {
            Some(set) if listing.is_dir(set) => {
                bail!("{} on partition 2 is a directory", m.display)
            }
            Some(set) => Ok(Some(
                self.fat
                    .read_file(&listing, set)
                    .map_err(part2)
                    .context("reading a file of partition 2")?,
            )),
            None => Ok(None),
        }
    }

    fn has_leftovers(&mut self, dir: Dir, m: &Managed) -> Result<bool> {
        Ok(leftovers(&self.list(dir)?, m).next().is_some())
    }

    /// What [`BootFat::tidy`] would repair (`None`: nothing). Errors when the file system is
    /// inconsistent beyond that, which `update` does not try to fix.
    fn untidy(&mut self) -> Result<Option<String>> {
        let u = self
            .fat
            .untidiness()
            .map_err(part2)
            .context("partition 2 is inconsistent: check it with `fsck.fat`")?;
        let mut problems = Vec::new();
        if u.lost_clusters > 0 {
            problems.push(format!("{} cluster(s) allocated to no file", u.lost_clusters));
        }
        for i in &u.differing_fats {
            problems.push(format!("FAT {} differs from FAT 1", i + 1));
        }
        if u.dirty {
            problems.push("dirty flag set".to_string());
        }
        Ok((!problems.is_empty()).then(|| problems.join(", ")))
    }

    /// Free clusters no file reaches, bring every FAT copy in line with FAT 1, clear the
    /// dirty flag. Each of these writes is harmless in any order: no file refers to what
    /// changes.
    fn tidy(&mut self) -> Result<()> {
        self.fat
            .free_lost_clusters()
            .map_err(part2)
            .context("partition 2 is inconsistent: check it with `fsck.fat`")?;
        self.commit_fat(&Failpoints(None), None)?;
        self.sync()?;
        if self.fat.dirty().map_err(part2)? {
            self.fat
                .clear_dirty()
                .map_err(part2)
                .context("clearing the dirty flag of partition 2")?;
            self.sync()?;
        }
        Ok(())
    }

    /// Apply `edits` that lie in one sector with ONE write.
    fn write_sector(&mut self, edits: &[SlotEdit]) -> Result<()> {
        match self.fat.write_slots(edits) {
            Err(FatError::EditsSpanSectors) => bail!("internal: directory edits span two sectors"),
            r => r.map_err(part2).context("writing a directory sector of partition 2"),
        }
    }

    /// Refuse (before anything is written) when `m` cannot be switched with one sector write.
    fn check_switchable(&mut self, dir: Dir, m: &Managed) -> Result<()> {
        let listing = self.list(dir)?;
        let leftover_slots: Vec<usize> =
            leftovers(&listing, m).flat_map(|s| s.slot_indices()).collect();
        self.temp_slots(&listing, m, &leftover_slots).map(|_| ())
    }

    /// Where the temporary entries of `m` go: the first slot of a free run, in the sector of
    /// the old entry set when there is one, else in any one sector of the directory.
    fn temp_slots(&self, listing: &Listing, m: &Managed, also_free: &[usize]) -> Result<usize> {
        ensure!(
            dirent::lfn_count(m.temp_long) == dirent::lfn_count(m.long),
            "internal: temporary and final names need the same number of LFN entries"
        );
        let n = dirent::lfn_count(m.temp_long) + 1;
        let where_ = m.dir.join("\\");
        let bps = self.sector_bytes();
        for short in [m.temp_short, m.old_short] {
            ensure!(
                listing.with_short(&short).all(|s| also_free.contains(&s.sfn)),
                "\\{where_} on partition 2 holds a file whose short name is {} (reserved for updates): remove it",
                short_text(&short)
            );
        }
        match find(listing, m.long)? {
            Some(old) => {
                let sector = self.fat.sector_of(listing.slots[old.sfn].0);
                let straddles =
                    old.slot_indices().any(|i| self.fat.sector_of(listing.slots[i].0) != sector);
                ensure!(
                    !straddles,
                    "{}'s directory entries straddle two sectors of \\{where_}, so they cannot be switched in one write; \
                     refusing to update (nothing written): move other files out of \\{where_} on partition 2, or reinstall",
                    m.display
                );
                listing.free_run_in_sector(sector, bps, n, also_free).with_context(|| {
                    format!(
                        "the directory sector of {} has no {n} free slots for the new file's entries, so the switch \
                         could not be one write; refusing to update (nothing written): move other files out of \\{where_} \
                         on partition 2, or reinstall",
                        m.display
                    )
                })
            }
            None => {
                ensure!(
                    listing.with_short(&m.short).next().is_none(),
                    "\\{where_} holds another file named {}",
                    short_text(&m.short)
                );
                let mut sectors: Vec<u64> =
                    listing.slots.iter().map(|(p, _)| self.fat.sector_of(*p)).collect();
                sectors.dedup();
                sectors
                    .into_iter()
                    .find_map(|s| listing.free_run_in_sector(s, bps, n, also_free))
                    .with_context(|| format!("\\{where_} on partition 2 is full"))
            }
        }
    }

    /// Unlink an entry set (LFN-only sectors first, then the sector of the short entry), then
    /// free its clusters. `torn` names the failpoints between those writes.
    fn remove(
        &mut self,
        listing: &Listing,
        set: &EntrySet,
        failpoints: &Failpoints,
        torn: Option<&str>,
    ) -> Result<()> {
        let first = listing.first_cluster(set);
        // A leftover's chain may be cut short by an earlier power cut: free what is reachable,
        // tidy takes the rest.
        let chain = if first >= 2 { self.fat.chain(first).unwrap_or_default() } else { Vec::new() };
        let sfn_sector = self.fat.sector_of(listing.slots[set.sfn].0);
        let deleted = |i: usize| {
            let mut e = listing.slots[i].1;
            e[dirent::NAME] = dirent::DELETED;
            (listing.slots[i].0, e)
        };
        let mut by_sector: Vec<(u64, Vec<SlotEdit>)> = Vec::new();
        for i in set.slot_indices() {
            let s = self.fat.sector_of(listing.slots[i].0);
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
        self.fat.free_chain(&chain);
        self.commit_fat(failpoints, torn.map(|t| format!("{t}-fat1")).as_deref())?;
        self.sync()
    }

    fn remove_leftovers(&mut self, dir: Dir, m: &Managed, failpoints: &Failpoints) -> Result<()> {
        loop {
            let listing = self.list(dir)?;
            let Some(set) = leftovers(&listing, m).next() else {
                return Ok(());
            };
            self.remove(&listing, set, failpoints, None)?;
        }
    }

    /// [`BootFat::replace`] when `stale`. Otherwise nothing is written, but the failpoints of
    /// the steps' boundaries are still reached, so that each names the same point of every
    /// update.
    fn replace_if_stale(
        &mut self,
        stale: bool,
        dir: Dir,
        m: &Managed,
        data: &[u8],
        failpoints: &Failpoints,
        out: &mut impl Write,
    ) -> Result<()> {
        if stale {
            self.replace(dir, m, data, failpoints)?;
            writeln!(out, "  replaced {}", m.display)?;
        } else {
            for step in ["new-written", "switched", "old-removed"] {
                failpoints.hit(&format!("{}-{step}", m.tag));
            }
        }
        Ok(())
    }

    /// Steps 1–3 of the module comment for one file.
    fn replace(
        &mut self,
        dir: Dir,
        m: &Managed,
        data: &[u8],
        failpoints: &Failpoints,
    ) -> Result<()> {
        let tag = m.tag;
        // 1. The new file under its temporary name.
        let listing = self.list(dir)?;
        let first_slot = self.temp_slots(&listing, m, &[])?;
        let count = (data.len() as u64).div_ceil(self.fat.geometry().cluster_bytes()) as usize;
        let clusters = self.fat.free_clusters(count);
        ensure!(
            clusters.len() == count,
            "partition 2 has no room for the new {} ({} bytes)",
            m.display,
            data.len()
        );
        self.fat
            .write_clusters(&clusters, data)
            .map_err(part2)
            .with_context(|| format!("writing the new {}", m.display))?;
        failpoints.hit(&format!("{tag}-new-data"));
        self.fat.link_chain(&clusters);
        self.commit_fat(failpoints, Some(format!("{tag}-new-fat1").as_str()))?;
        self.sync()?;
        failpoints.hit(&format!("{tag}-new-fat"));
        let first_cluster = clusters.first().copied().unwrap_or(0);
        let mut entries = dirent::lfn_entries(m.temp_long, &m.temp_short);
        entries.push(dirent::file_entry(
            &m.temp_short,
            first_cluster,
            data.len() as u32,
            dos_now(),
        ));
        let edits: Vec<SlotEdit> = entries
            .into_iter()
            .enumerate()
            .map(|(k, e)| (listing.slots[first_slot + k].0, e))
            .collect();
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
        let old = find(&listing, m.long)?;
        let final_short = old.map_or(m.short, |o| listing.short_name(o));
        let mut edits = Vec::new();
        if let Some(old) = old {
            for &i in &old.lfn {
                let mut e = listing.slots[i].1;
                e[dirent::NAME] = dirent::DELETED;
                edits.push((listing.slots[i].0, e));
            }
            let mut e = listing.slots[old.sfn].1;
            e[..dirent::NAME_LEN].copy_from_slice(&m.old_short);
            edits.push((listing.slots[old.sfn].0, e));
        }
        let lfn = dirent::lfn_entries(m.long, &final_short);
        ensure!(lfn.len() == temp.lfn.len(), "internal: LFN slot count mismatch");
        for (&i, e) in temp.lfn.iter().zip(lfn) {
            edits.push((listing.slots[i].0, e));
        }
        let mut e = listing.slots[temp.sfn].1;
        e[..dirent::NAME_LEN].copy_from_slice(&final_short);
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
    fn temporary_names_need_as_many_lfn_entries_as_final_names() {
        for m in [&EFI_FILE, &STAMP_FILE, &LOADER_FILE, &MM_FILE, &CERT_FILE] {
            assert_eq!(dirent::lfn_count(m.temp_long), dirent::lfn_count(m.long), "{}", m.long);
            // The temporary short name is the temporary long name, where that fits 8.3
            // (ENROLL-THIS-KEY.new does not: its short name is ENROLL~1.NEW).
            if m.temp_long.len() <= 12 {
                assert_eq!(
                    short_text(&m.temp_short).to_ascii_lowercase(),
                    m.temp_long.to_ascii_lowercase()
                );
            }
            // The short names are the ones FAT implementations derive from the long names.
            for (long, short) in [(m.long, m.short), (m.temp_long, m.temp_short)] {
                assert_eq!(dirent::generate_short_name(long, |_| false), Some(short), "{long}");
            }
        }
    }

    /// A fake USB stick (sysfs / proc tree as `device::inspect` reads it) whose node is an
    /// image file; `mounted` adds a mount of its partition 1.
    fn fake_usb_stick(
        root: &std::path::Path,
        sectors: u64,
        mounted: bool,
    ) -> (SystemView, PathBuf) {
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
        for (name, value) in [
            ("size", sectors.to_string()),
            ("removable", "1".into()),
            ("ro", "0".into()),
            ("queue/logical_block_size", "512".into()),
        ] {
            put(disk.join(name), &value);
        }
        for (name, value) in [("partition", "1"), ("start", "2048"), ("size", "1000")] {
            put(disk.join("sdb1").join(name), value);
        }
        let mut mountinfo =
            "28 1 259:9 / / rw,relatime shared:1 - ext4 /dev/nvme9n1p2 rw\n".to_string();
        if mounted {
            mountinfo +=
                "100 28 8:17 / /media/user/POLYBOOT rw,relatime shared:100 - exfat /dev/sdb1 rw\n";
        }
        put(root.join("proc/self/mountinfo"), mountinfo.trim_end());
        put(root.join("proc/swaps"), "Filename\tType\tSize\tUsed\tPriority");
        let node = root.join("dev/sdb");
        std::fs::create_dir_all(node.parent().unwrap()).unwrap();
        std::fs::File::create(&node).unwrap().set_len(sectors * 512).unwrap();
        let mut fake_block_devices = std::collections::BTreeMap::new();
        fake_block_devices.insert(node.canonicalize().unwrap(), crate::device::DevNum::new(8, 16));
        let view = SystemView {
            sys_root: root.join("sys"),
            proc_root: root.join("proc"),
            dev_root: root.join("dev"),
            fake_block_devices,
        };
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
            scheme: polyboot_core::layout::Scheme::Gpt,
            reserve: 0,
            label: "POLYBOOT".into(),
            sector_size: None,
            dry_run: false,
            yes: true,
            force: false,
            efi: Some(old_efi),
            secure_boot: crate::drive::install::SecureBoot::Off,
        };
        crate::drive::install::install(
            &view,
            &install,
            false,
            &mut std::io::empty(),
            &mut std::io::sink(),
        )
        .unwrap();
        let opts = UpdateOptions {
            target: node.clone(),
            dry_run: false,
            efi: Some(new_efi.clone()),
            key: None,
        };

        // The same stick with its data partition mounted: refused, nothing written.
        let (mounted_view, mounted_node) =
            fake_usb_stick(&tmp.path().join("mounted"), sectors, true);
        std::fs::copy(&node, &mounted_node).unwrap();
        let before = std::fs::read(&mounted_node).unwrap();
        let err = update(
            &mounted_view,
            &UpdateOptions { target: mounted_node.clone(), ..opts.clone() },
            &mut std::io::sink(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("/media/user/POLYBOOT"), "{err:#}");
        assert!(std::fs::read(&mounted_node).unwrap() == before, "a refused update wrote");

        let report = update(&view, &opts, &mut std::io::sink()).unwrap();
        assert!(report.written);
        assert_eq!(
            report.new.bootx64_sha256,
            bootpart::hex(&Sha256::digest(std::fs::read(&new_efi).unwrap()))
        );
        let again = update(&view, &opts, &mut std::io::sink()).unwrap();
        assert!(!again.written && again.actions.is_empty(), "{:?}", again.actions);
    }

    #[test]
    fn every_failpoint_name_is_distinct() {
        let mut all: Vec<&str> = STEP_FAILPOINTS
            .iter()
            .chain(TORN_FAILPOINTS)
            .chain(SIGNED_STEP_FAILPOINTS)
            .chain(BIOS_TAIL_TORN_FAILPOINTS)
            .copied()
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(
            all.len(),
            STEP_FAILPOINTS.len()
                + TORN_FAILPOINTS.len()
                + SIGNED_STEP_FAILPOINTS.len()
                + BIOS_TAIL_TORN_FAILPOINTS.len()
        );
    }
}
