//! `polyboot install`: lay out a disk or image file as a polyboot drive.
//!
//! Order of writes: data partition (exFAT), boot partition (FAT + boot files), partition
//! table last — an install interrupted early leaves nothing that claims to be a polyboot drive.

use super::bootcode;
use super::bootpart::{self, BootFiles};
use super::io::FileDevice;
use super::sector_size_of;
use super::signing::{self, Chain, KeySource, Signer};
use crate::device::{self, Policy, SystemView, Target};
use anyhow::{bail, Context, Result};
use polyboot_core::block::{Slice, WriteAt};
use polyboot_core::exfat;
use polyboot_core::fat::write::Fat16Writer;
use polyboot_core::layout::{self, BootCode, Identity, LayoutRequest, Plan, Scheme};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub target: PathBuf,
    /// Size of a new image file (required when it does not exist; resizes an existing one).
    pub size: Option<u64>,
    pub scheme: Scheme,
    pub reserve: u64,
    pub label: String,
    /// Logical sector size of an image file (block devices report their own).
    pub sector_size: Option<u32>,
    pub dry_run: bool,
    pub yes: bool,
    pub force: bool,
    pub efi: Option<PathBuf>,
    pub secure_boot: SecureBoot,
}

/// How the boot partition is signed.
#[derive(Debug, Clone)]
pub enum SecureBoot {
    /// Unsigned polyboot as BOOTX64.EFI (the layout before issue 15).
    Off,
    /// Signed `chain`, with the key from `key`.
    Sign { chain: Chain, key: KeySource },
}

impl SecureBoot {
    /// One line for the plan.
    pub fn describe(&self) -> String {
        match self {
            SecureBoot::Off => "Secure Boot: unsigned (starts only with Secure Boot off)".into(),
            SecureBoot::Sign { chain, key } => {
                let key = match key {
                    KeySource::User => match signing::user_key_dir() {
                        Ok(d) => format!("your key in {}", d.display()),
                        Err(_) => "your key".into(),
                    },
                    KeySource::Given { cert, .. } => format!("the key of {}", cert.display()),
                };
                format!("Secure Boot: {chain}, signed with {key}")
            }
        }
    }
}

/// The boot files for `choice`: signed now (making the user's key on first use) or as built.
pub fn sign_boot_files(
    files: BootFiles,
    choice: &SecureBoot,
    output: &mut impl Write,
) -> Result<BootFiles> {
    let SecureBoot::Sign { chain, key } = choice else {
        return Ok(files);
    };
    if let KeySource::User = key {
        let (_, cert, created) = signing::ensure_user_key()?;
        if created {
            writeln!(output, "made your Secure Boot signing key: {}", cert.display())?;
        }
    }
    let signer = Signer::open(key)?;
    let files = files.signed(*chain, &signer, None)?;
    let c = &signer.cert;
    writeln!(output, "signed with {} (sha256 {})", c.subject, c.sha256)?;
    Ok(files)
}

/// What `install` did (or, with `--dry-run`, would do).
pub struct InstallOutcome {
    pub target: Target,
    pub plan: Plan,
    pub written: bool,
}

/// Draw the drive's identity from the kernel's random source.
pub fn random_identity() -> Result<(Identity, u32)> {
    let mut bytes = [0u8; 56];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    let id: [u8; 52] = bytes[..52].try_into().unwrap();
    let serial = u32::from_le_bytes(bytes[52..56].try_into().unwrap());
    Ok((Identity::from_random_bytes(&id), serial))
}

/// Disk size and sector size the plan is made for.
fn geometry(target: &Target, opts: &InstallOptions) -> Result<(u64, u32)> {
    match target {
        Target::ImageFile { exists, size, path } => {
            let bytes = match (opts.size, exists) {
                (Some(s), _) => s,
                (None, true) => *size,
                (None, false) => bail!(
                    "{} does not exist: give its size with --size (e.g. --size 8G)",
                    path.display()
                ),
            };
            Ok((bytes, opts.sector_size.unwrap_or(512)))
        }
        Target::BlockDevice(disk) => {
            if opts.size.is_some() {
                bail!(
                    "--size applies to image files only; {} is {} bytes",
                    disk.path.display(),
                    disk.size_bytes
                );
            }
            if let Some(ss) = opts.sector_size {
                if ss != disk.logical_sector_size {
                    bail!(
                        "{} has {}-byte sectors; --sector-size {ss} cannot change that",
                        disk.path.display(),
                        disk.logical_sector_size
                    );
                }
            }
            Ok((disk.size_bytes, disk.logical_sector_size))
        }
    }
}

pub fn plan_for(target: &Target, opts: &InstallOptions, identity: Identity) -> Result<Plan> {
    let (disk_bytes, ss) = geometry(target, opts)?;
    let request = LayoutRequest {
        disk_bytes,
        sector_size: sector_size_of(ss)?,
        scheme: opts.scheme,
        reserve_bytes: opts.reserve,
        data_label: opts.label.clone(),
        identity,
    };
    layout::plan(&request).map_err(|e| anyhow::anyhow!("{}: {e}", target.path().display()))
}

/// Run `install`. `input`/`output` carry the confirmation dialogue.
pub fn install(
    view: &SystemView,
    opts: &InstallOptions,
    interactive: bool,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> Result<InstallOutcome> {
    // Refusals first: nothing is read from or written to a disk we may not touch.
    let target =
        device::check_erasable(view, &opts.target, &Policy { force: opts.force, min_size: 0 })?;
    let boot_files = BootFiles::locate(opts.efi.as_deref())?;
    let (identity, serial) = random_identity()?;
    let plan = plan_for(&target, opts, identity)?;
    writeln!(output, "{plan}")?;
    writeln!(output, "{}", opts.secure_boot.describe())?;
    if opts.dry_run {
        writeln!(output, "dry run: nothing written")?;
        return Ok(InstallOutcome { target, plan, written: false });
    }
    // Signed before the confirmation: a wrong passphrase or a missing tool stops here.
    let boot_files = sign_boot_files(boot_files, &opts.secure_boot, output)?;
    // Partition 2 must hold the files, twice over for a later `update` (old and new side
    // by side), with room to spare.
    let need = boot_files.total_bytes() * 2 + (1 << 20);
    if need > plan.boot.size_bytes {
        bail!(
            "the boot files ({} bytes) do not fit twice in the {}-byte boot partition",
            boot_files.total_bytes(),
            plan.boot.size_bytes
        );
    }
    if !device::confirm_erase(&target, opts.yes, interactive, input, output)? {
        bail!("not confirmed: nothing written");
    }
    if let Target::ImageFile { path, .. } = &target {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        // Sparse: only metadata is written, so an 8 GiB image costs a few MiB.
        file.set_len(plan.disk_bytes).with_context(|| format!("sizing {}", path.display()))?;
    }
    let mut dev = FileDevice::open_rw(&opts.target)?;
    write_drive(&mut dev, &plan, serial, &boot_files)?;
    writeln!(output, "polyboot installed on {}", opts.target.display())?;
    Ok(InstallOutcome { target, plan, written: true })
}

/// Carry out a plan on an opened device.
pub fn write_drive(
    dev: &mut FileDevice,
    plan: &Plan,
    volume_serial: u32,
    boot_files: &BootFiles,
) -> Result<()> {
    let ss = plan.sector_size.bytes();
    // Any old table goes first, so a crash mid-install cannot leave an old layout pointing at
    // half-written new file systems.
    let zeros = vec![0u8; ss as usize * 2];
    dev.write_at(0, &zeros).context("clearing the old partition table")?;

    let mut data = Slice::new(&mut *dev, plan.data.offset_bytes, plan.data.size_bytes)
        .map_err(|e| anyhow::anyhow!("data partition outside the disk: {e}"))?;
    exfat::format(
        &mut data,
        &exfat::FormatOptions {
            bytes_per_sector: ss as u32,
            cluster_size: plan.exfat_cluster_bytes,
            label: plan.data_label.clone(),
            volume_serial,
            // exfatprogs (1.2) reports the optional Volume GUID entry as unknown: leave it out.
            volume_guid: None,
            partition_offset_sectors: plan.data.first_lba,
        },
    )
    .map_err(|e| anyhow::anyhow!("formatting the data partition (exFAT): {e}"))?;

    bootpart::write_boot_partition(
        dev.file(),
        plan.boot.offset_bytes,
        plan.boot.size_bytes,
        ss as u32,
        boot_files,
    )?;
    // BIOS boot code: stage 1 (its head, which loads its tail from the boot partition when it
    // has one) into the loader gap's first slot, stage 0 with the table.
    let stage0 = match &boot_files.bios {
        Some(bios) => {
            let tail_lba = match bios.tail() {
                None => None,
                Some(tail) => Some(tail_lba_on_boot_partition(dev, plan, tail)?),
            };
            let [slot, _] = bios.slots(&plan.boot_code.loader_gap, ss)?;
            dev.write_at(slot, &bios.head(ss, tail_lba)?)
                .context("writing the BIOS loader into the loader gap")?;
            Some(bios.stage0_for(ss, slot)?)
        }
        None => None,
    };
    dev.sync()?;
    let boot_code = match &stage0 {
        Some(code) => BootCode::Install(code),
        None => BootCode::Clear,
    };
    layout::write_partition_table(plan, dev, boot_code)
        .map_err(|e| anyhow::anyhow!("writing the partition table: {e}"))?;
    dev.sync()?;
    if let Some(bios) = &boot_files.bios {
        let loaded = bootcode::load_stage1(dev.file())
            .context("the BIOS boot code does not read back as the BIOS loads it")?;
        anyhow::ensure!(bios.is_loaded(&loaded), "the BIOS stage 1 reads back wrong");
    }
    Ok(())
}

/// Where the BIOS stage 1's tail (written to the boot partition by
/// [`bootpart::write_boot_partition`]) starts: its first sector on the drive. It must be there
/// whole, in one run of clusters (the BIOS reads it by sector).
fn tail_lba_on_boot_partition(dev: &mut FileDevice, plan: &Plan, tail: &[u8]) -> Result<u64> {
    let ss = plan.sector_size.bytes();
    let part = Slice::new(&mut *dev, plan.boot.offset_bytes, plan.boot.size_bytes)
        .map_err(|e| anyhow::anyhow!("boot partition outside the disk: {e}"))?;
    let mut fat = Fat16Writer::open(part)
        .map_err(|e| anyhow::anyhow!("reading the new boot partition: {e}"))?;
    let [first, _] = bootcode::find_tails(&mut fat, plan.boot.offset_bytes, ss)?;
    let first = first
        .filter(|t| t.data == tail)
        .context("the BIOS stage 1's tail is not on the new boot partition as written")?;
    first.lba.context("the BIOS stage 1's tail is not in one run of clusters on the boot partition")
}
