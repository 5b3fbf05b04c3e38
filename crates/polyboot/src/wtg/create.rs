//! `polyboot wtg create`: a Windows To Go drive (or image file, VHD, VHDX) from a Windows image.
//!
//! Steps, in this order:
//! 1. refusals (image, edition, target safety, size) — nothing written yet;
//! 2. the start and end of the disk are zeroed: any old partition table is gone;
//! 3. the Windows partition is formatted (mkntfs, through a loop device over the partition,
//!    with its start sector as hidden sectors) and the image applied (wimlib, NTFS-3G mode);
//! 4. through an ntfs-3g mount: boot files checked, SYSTEM hive policy, unattend, drivers, and
//!    for MBR the BIOS boot manager and `\Boot\BCD`;
//! 5. the ESP formatted (mkfs.fat -F 32) and filled (`\EFI\Microsoft\Boot\*` and BCD,
//!    `\EFI\Boot\bootx64.efi`);
//! 6. the partition table, last; then the VHD footer / the VHDX conversion and rename.
//!
//! Why this order: a run cancelled (Ctrl-C) or failed anywhere before step 6 leaves a disk with
//! *no partition table at all* (step 2 removed the old one, GPT backup included), so nothing
//! — no firmware, no OS, no `polyboot` — sees a half-applied Windows as a bootable drive. VHD
//! and VHDX targets are built under a `.partial` name and renamed only when complete, and the
//! partial files are removed on failure.

use super::esp;
use super::loopdev::LoopDevice;
use super::mount::{create_dir_ci, find_ci, NtfsMount};
use super::select::{self, Edition, Selection};
use super::source::{self, ImageSource};
use crate::device::{self, format_size, Policy, SystemView, Target};
use crate::drive::bootcode::BiosCode;
use crate::drive::io::FileDevice;
use anyhow::{bail, ensure, Context, Result};
use polyboot_core::bcd::{self, BcdFirmware, StoreConfig};
use polyboot_core::gpt::SectorSize;
use polyboot_core::guid::Guid;
use polyboot_core::regf::{self, Hive};
use polyboot_core::vhd;
use polyboot_core::wtglayout::{self, WtgIdentity, WtgPlan, WtgRequest, WtgScheme};
use polyboot_wimlib::{Phase, Progress};
use serde::Serialize;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The container of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// A whole disk or a raw image file.
    Raw,
    /// A fixed VHD: the raw disk plus a 512-byte footer.
    Vhd,
    /// A dynamic VHDX.
    Vhdx,
}

#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub image: PathBuf,
    pub target: PathBuf,
    pub selection: Option<Selection>,
    pub scheme: WtgScheme,
    /// Size of a new image file / VHD / VHDX.
    pub size: Option<u64>,
    pub container: Container,
    pub unattend: Option<PathBuf>,
    pub drivers: Option<PathBuf>,
    pub internal_disks_offline: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub force: bool,
}

#[derive(Debug, Serialize)]
pub struct PartitionReport {
    pub number: u32,
    pub role: &'static str,
    pub offset: u64,
    pub size: u64,
    /// GPT unique partition GUID.
    pub guid: Option<String>,
}

/// What `wtg create` did (or would do, with `--dry-run`).
#[derive(Debug, Serialize)]
pub struct CreateReport {
    pub image: String,
    pub edition: Edition,
    pub target: String,
    pub container: Container,
    pub scheme: &'static str,
    pub disk_bytes: u64,
    pub disk_guid: Option<String>,
    pub mbr_signature: Option<String>,
    pub partitions: Vec<PartitionReport>,
    /// What the Windows partition must hold (image bytes + margin).
    pub required_windows_bytes: u64,
    /// "uefi", and "bios" for MBR.
    pub firmware: Vec<&'static str>,
    pub written: bool,
    pub applied_bytes: u64,
    pub apply_seconds: f64,
    pub notes: Vec<String>,
}

/// Boot files the BCD step needs, relative to the Windows partition's root.
pub const BOOTMGFW: &str = "Windows/Boot/EFI/bootmgfw.efi";
pub const BOOT_EFI_DIR: &str = "Windows/Boot/EFI";
pub const BOOT_FONTS_DIR: &str = "Windows/Boot/Fonts";
pub const BOOT_PCAT_DIR: &str = "Windows/Boot/PCAT";
pub const BOOTMGR_PCAT: &str = "Windows/Boot/PCAT/bootmgr";
pub const WINLOAD_EFI: &str = "Windows/System32/winload.efi";
pub const WINLOAD_EXE: &str = "Windows/System32/winload.exe";
pub const SYSTEM_HIVE: &str = "Windows/System32/config/SYSTEM";
pub const SOFTWARE_HIVE: &str = "Windows/System32/config/SOFTWARE";
pub const UNATTEND_DIR: &str = "Windows/Panther";
/// Where `--drivers` go: a folder named in the SOFTWARE hive's `DevicePath`, which Plug and
/// Play searches (with its subfolders) for a driver when it installs a new device.
pub const DRIVERS_DIR: &str = "Windows/polyboot-drivers";

/// The EFI fallback loader name for a WIM architecture name.
fn efi_fallback_name(arch: Option<&str>) -> &'static str {
    match arch {
        Some("x86") => "BOOTIA32.EFI",
        Some("arm64") => "BOOTAA64.EFI",
        Some("arm") => "BOOTARM.EFI",
        _ => "BOOTX64.EFI",
    }
}

/// FILETIME now.
fn filetime_now() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (unix + 11_644_473_600) * 10_000_000
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    Ok(b)
}

/// Pick the edition: the selection, or the only one.
fn choose(source: &ImageSource, sel: Option<&Selection>) -> Result<Edition> {
    let editions: Vec<Edition> = source.info.xml.images.iter().map(Edition::from).collect();
    let e = match sel {
        Some(s) => select::select(&editions, s)?.clone(),
        None if editions.len() == 1 => editions[0].clone(),
        None => bail!(
            "the image has {} editions: choose one with --index N or --edition NAME (see `polyboot wtg editions {}`)",
            editions.len(),
            source.first().host_path.display()
        ),
    };
    let info = source
        .info
        .xml
        .images
        .iter()
        .find(|i| i.index == e.index)
        .context("the chosen edition is missing from the image's XML")?;
    // install.wim images carry a WINDOWS element (arch, version, edition ID); an image
    // captured from anything else does not.
    if info.arch.is_none() && info.version.is_none() && info.edition().is_none() {
        bail!(
            "image {} ({}) of {} is not a Windows image: its XML has no WINDOWS element (architecture, version, edition)",
            e.index,
            e.label(),
            source.first().describe()
        );
    }
    Ok(e)
}

fn partial_path(target: &Path, suffix: &str) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Removes these files when dropped: the partial files of a VHD / VHDX (gone already after a
/// successful rename), the VHDX's raw image, and a new raw image file unless the run
/// completed (then it is taken off the list).
struct Cleanup(Vec<PathBuf>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Run `wtg create`. `cancel` aborts the apply (Ctrl-C); `progress` sees the apply's reports.
pub fn create(
    view: &SystemView,
    opts: &CreateOptions,
    cancel: Option<&AtomicBool>,
    progress: &mut dyn FnMut(Progress),
    interactive: bool,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> Result<CreateReport> {
    // 1. Refusals: nothing is written until the plan is made and confirmed.
    let Planned { source, edition, plan, target, disk_bytes, mut report } =
        plan_create(view, opts, output)?;
    if opts.dry_run {
        writeln!(output, "dry run: nothing written")?;
        return Ok(report);
    }
    if let Some(t) = &target {
        if !device::confirm_erase(t, opts.yes, interactive, input, output)? {
            bail!("not confirmed: nothing written");
        }
    }

    // The file the raw disk is built in.
    let mut cleanup = Cleanup(Vec::new());
    let new_file = matches!(target, Some(Target::ImageFile { exists: false, .. }));
    let work = prepare_work_file(opts, target.as_ref(), disk_bytes, &mut cleanup)?;

    // 2. No partition table from here until the end.
    clear_partition_table(&plan, &work)?;

    // 3. + 4. The Windows partition.
    let (applied, seconds) = build_windows_partition(
        &source,
        &edition,
        opts,
        &plan,
        &work,
        cancel,
        progress,
        &mut report,
    )
    .map_err(|e| unfinished(e, opts, new_file))?;
    report.applied_bytes = applied;
    report.apply_seconds = seconds;

    // 5. The ESP.
    check_cancel(cancel)
        .and_then(|()| build_esp(&plan, &edition, &work, &mut report))
        .map_err(|e| unfinished(e, opts, new_file))?;

    // 6. The partition table, then the container.
    check_cancel(cancel).map_err(|e| unfinished(e, opts, new_file))?;
    {
        let mut dev = FileDevice::open_rw(&work)?;
        plan.write_table(&mut dev)
            .map_err(|e| anyhow::anyhow!("writing the partition table: {e}"))?;
        if plan.scheme == WtgScheme::Mbr {
            install_bios_loader(&plan, &dev, &mut report)
                .map_err(|e| unfinished(e, opts, new_file))?;
        }
        dev.sync()?;
    }
    finish_container(opts, target.as_ref(), disk_bytes, &work, &mut cleanup)?;
    cleanup.0.retain(|p| p != &opts.target);
    report.written = true;
    writeln!(output, "Windows To Go written to {}", opts.target.display())?;
    Ok(report)
}

/// What step 1 decided: the image and edition, the layout, the target, the report so far.
struct Planned {
    source: ImageSource,
    edition: Edition,
    plan: WtgPlan,
    /// The checked target; `None` for a VHD / VHDX (a new file).
    target: Option<Target>,
    disk_bytes: u64,
    report: CreateReport,
}

/// Step 1: open the image, choose the edition, check the target and the customizations, make
/// the layout and show it. Nothing is written.
fn plan_create(
    view: &SystemView,
    opts: &CreateOptions,
    output: &mut impl Write,
) -> Result<Planned> {
    let source = source::open(&opts.image)?;
    let edition = choose(&source, opts.selection.as_ref())?;
    let (disk_bytes, sector_size, target) = target_disk(view, opts)?;
    refuse_image_as_target(&source, opts)?;
    let plan = plan_layout(opts, &edition, disk_bytes, sector_size)?;
    check_customizations(opts)?;
    let mut report = report_for(&source, &edition, opts, &plan);
    if opts.container == Container::Vhd && opts.size != Some(disk_bytes) {
        report.notes.push(format!(
            "VHD size rounded down to its CHS geometry: {disk_bytes} bytes (every VHD reader then agrees on it)"
        ));
    }
    if edition.total_bytes.is_none() {
        report
            .notes
            .push("the image's XML has no TOTALBYTES: only the minimum size was checked".into());
    }
    writeln!(
        output,
        "Windows To Go: {} (index {}) from {}\n{plan}",
        edition.label(),
        edition.index,
        source.first().describe()
    )?;
    Ok(Planned { source, edition, plan, target, disk_bytes, report })
}

/// The disk's size and sector size, and the checked target (`None` for a VHD / VHDX).
fn target_disk(view: &SystemView, opts: &CreateOptions) -> Result<(u64, u64, Option<Target>)> {
    Ok(match opts.container {
        Container::Raw => {
            let target = device::check_erasable(
                view,
                &opts.target,
                &Policy { force: opts.force, min_size: 0 },
            )?;
            let (bytes, ss) = match &target {
                Target::ImageFile { exists, size, path } => match (opts.size, exists) {
                    (Some(s), _) => (s, 512),
                    (None, true) => (*size, 512),
                    (None, false) => bail!(
                        "{} does not exist: give its size with --size (e.g. --size 32G)",
                        path.display()
                    ),
                },
                Target::BlockDevice(d) => {
                    if opts.size.is_some() {
                        bail!(
                            "--size applies to image files only; {} is {} bytes",
                            d.path.display(),
                            d.size_bytes
                        );
                    }
                    (d.size_bytes, d.logical_sector_size as u64)
                }
            };
            (bytes, ss, Some(target))
        }
        Container::Vhd | Container::Vhdx => {
            let what = if opts.container == Container::Vhd { "--vhd" } else { "--vhdx" };
            if view.block_device_number(&opts.target).ok().flatten().is_some() {
                bail!("{what} writes a file: {} is a block device", opts.target.display());
            }
            let Some(size) = opts.size else {
                bail!("{what}: give the virtual disk's size with --size (e.g. --size 32G)");
            };
            let size = match opts.container {
                Container::Vhd => vhd::chs_rounded_size(size),
                _ => size,
            };
            (size, 512, None)
        }
    })
}

/// The target must not be (a part of) the image it is made from.
fn refuse_image_as_target(source: &ImageSource, opts: &CreateOptions) -> Result<()> {
    if let Ok(t) = opts.target.canonicalize() {
        for part in &source.parts {
            if part.host_path.canonicalize().is_ok_and(|p| p == t) {
                bail!(
                    "{} is the Windows image itself: choose another target",
                    opts.target.display()
                );
            }
        }
    }
    Ok(())
}

/// The partition layout for this disk, with new random identifiers.
fn plan_layout(
    opts: &CreateOptions,
    edition: &Edition,
    disk_bytes: u64,
    sector_size: u64,
) -> Result<WtgPlan> {
    let sector = SectorSize::from_bytes(sector_size).with_context(|| {
        format!("{}: {sector_size}-byte sectors are not supported", opts.target.display())
    })?;
    if disk_bytes % sector_size != 0 {
        bail!("the disk size {disk_bytes} is not a multiple of the {sector_size}-byte sector size");
    }
    let identity = WtgIdentity::from_random_bytes(&random_bytes::<68>()?);
    wtglayout::plan(&WtgRequest {
        disk_bytes,
        sector_size: sector,
        scheme: opts.scheme,
        image_bytes: edition.total_bytes.unwrap_or(0),
        identity,
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", opts.target.display()))
}

/// `--unattend` is a readable file, `--drivers` a readable directory.
fn check_customizations(opts: &CreateOptions) -> Result<()> {
    for p in [&opts.unattend, &opts.drivers].into_iter().flatten() {
        std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
    }
    if let Some(u) = &opts.unattend {
        if !u.is_file() {
            bail!("--unattend {}: not a file", u.display());
        }
    }
    if let Some(d) = &opts.drivers {
        if !d.is_dir() {
            bail!("--drivers {}: not a directory", d.display());
        }
    }
    Ok(())
}

/// The path the raw disk is built at (the target itself, or a `.partial` file for a VHD /
/// VHDX), created and sized when it is a file; files to remove on failure go to `cleanup`.
fn prepare_work_file(
    opts: &CreateOptions,
    target: Option<&Target>,
    disk_bytes: u64,
    cleanup: &mut Cleanup,
) -> Result<PathBuf> {
    let work = match opts.container {
        Container::Raw => opts.target.clone(),
        Container::Vhd => partial_path(&opts.target, ".partial"),
        Container::Vhdx => partial_path(&opts.target, ".raw.partial"),
    };
    let is_file = !matches!(target, Some(Target::BlockDevice(_)));
    let new_file = matches!(target, Some(Target::ImageFile { exists: false, .. }));
    if is_file {
        if opts.container != Container::Raw {
            cleanup.0.push(work.clone());
            let _ = std::fs::remove_file(&work);
        } else if new_file {
            // A new image file is removed again if the run does not complete; an existing
            // one is left without a partition table.
            cleanup.0.push(work.clone());
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&work)
            .with_context(|| format!("creating {}", work.display()))?;
        f.set_len(disk_bytes).with_context(|| format!("sizing {}", work.display()))?;
    }
    Ok(work)
}

/// Step 2: zero the areas any partition table of the disk lives in (GPT backup included).
fn clear_partition_table(plan: &WtgPlan, work: &Path) -> Result<()> {
    let dev = FileDevice::open_rw(work)?;
    for (at, len) in plan.table_areas() {
        dev.file()
            .write_all_at_ctx(&vec![0u8; len as usize], at)
            .with_context(|| format!("clearing the old partition table of {}", work.display()))?;
    }
    dev.sync()?;
    Ok(())
}

/// After the table: tell the kernel about a block device's partitions, or turn the raw file
/// into the VHD (footer) / VHDX (conversion) and give it its final name.
fn finish_container(
    opts: &CreateOptions,
    target: Option<&Target>,
    disk_bytes: u64,
    work: &Path,
    cleanup: &mut Cleanup,
) -> Result<()> {
    match opts.container {
        Container::Raw => {
            if let Some(Target::BlockDevice(d)) = target {
                // Best effort: the kernel learns the new partitions (a loop device without
                // partition scanning refuses; the table is on the disk either way).
                let _ = Command::new("blockdev")
                    .arg("--rereadpt")
                    .arg(&d.path)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
        Container::Vhd => {
            let footer = vhd::fixed_footer(
                disk_bytes,
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                random_bytes::<16>()?,
            );
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(work)
                .with_context(|| format!("opening {}", work.display()))?;
            f.write_all_at_ctx(&footer, disk_bytes)
                .with_context(|| format!("writing the VHD footer of {}", work.display()))?;
            f.sync_all().context("syncing the VHD")?;
            std::fs::rename(work, &opts.target).with_context(|| {
                format!("renaming {} to {}", work.display(), opts.target.display())
            })?;
        }
        Container::Vhdx => {
            let out = partial_path(&opts.target, ".partial");
            cleanup.0.push(out.clone());
            super::vhdxfile::convert(work, &out, random_bytes::<48>()?)?;
            std::fs::rename(&out, &opts.target).with_context(|| {
                format!("renaming {} to {}", out.display(), opts.target.display())
            })?;
        }
    }
    Ok(())
}

/// `$POLYBOOT_WTG_BIOS` (must exist), else the build tree or install next to this binary.
fn wtg_bios_path() -> Result<Option<PathBuf>> {
    if let Some(p) = std::env::var_os("POLYBOOT_WTG_BIOS") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("POLYBOOT_WTG_BIOS={}: no such file", p.display());
        }
        return Ok(Some(p));
    }
    let exe = std::env::current_exe().context("locating the polyboot binary")?;
    let dir = exe.parent().context("binary has no directory")?;
    let candidates = [
        dir.join("../firmware/polyboot-wtg-bios.bin"),
        dir.join("../../firmware/polyboot-wtg-bios.bin"),
        dir.join("../share/polyboot/polyboot-wtg-bios.bin"),
    ];
    Ok(candidates.into_iter().find(|p| p.is_file()))
}

/// BIOS boot for the MBR layout: Windows' own chain is MBR code → the NT6 boot record of the
/// active NTFS partition (boot sector + BOOTMGR loader) → `\bootmgr`. polyboot ships no
/// Microsoft code and mkntfs's boot sector loads NTLDR, so the NT6 boot record is replaced by
/// an MBR + gap loader of our own (crates/polyboot-bios, `polyboot-wtg-bios`): polyboot's
/// stage 0 in the MBR (patched as `install` patches it) loads a stage 1 from the gap before
/// the first partition, which reads `\bootmgr` from the active NTFS partition, puts that
/// partition's boot sector at 0000:7C00 and starts BOOTMGR at 2000:0000 with DL = the boot
/// drive, as the NT6 boot record would. The NTFS boot sector itself is left as mkntfs wrote it.
fn install_bios_loader(plan: &WtgPlan, dev: &FileDevice, report: &mut CreateReport) -> Result<()> {
    let Some(path) = wtg_bios_path()? else {
        report.notes.push(
            "BIOS boot: polyboot's Windows To Go BIOS loader (polyboot-wtg-bios.bin) was not found \
             (build it with `cargo xtask build`, or set POLYBOOT_WTG_BIOS): the MBR boot code is left zero, \
             so this disk boots in UEFI mode only"
                .into(),
        );
        return Ok(());
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let code = BiosCode::parse(&bytes)
        .with_context(|| format!("{} is not polyboot's BIOS boot code", path.display()))?;
    let ss = plan.sector_size.bytes();
    // Stage 1 right after sector 0, in the gap before the first partition; a stage 1 larger
    // than stage 0's load area with its tail right after its head (there is no second slot
    // here: this is no update).
    let at = ss;
    let tail = code.tail().map(|t| {
        let mut t = t.to_vec();
        t.resize((t.len() as u64).div_ceil(ss) as usize * ss as usize, 0);
        t
    });
    let tail_lba = tail.as_ref().map(|_| (at + code.head_len(ss)) / ss);
    let stage1 = [code.head(ss, tail_lba)?, tail.unwrap_or_default()].concat();
    let first = plan.partitions.iter().map(|p| p.offset_bytes).min().unwrap_or(0);
    if at + stage1.len() as u64 > first {
        bail!(
            "the Windows To Go BIOS loader ({} bytes) does not fit the {} bytes before the first partition",
            stage1.len(),
            first.saturating_sub(at)
        );
    }
    let stage0 = code.stage0_for(ss, at)?;
    dev.file().write_all_at_ctx(&stage1, at).context("writing the BIOS loader's stage 1")?;
    dev.file().write_all_at_ctx(&stage0, 0).context("writing the MBR boot code")?;
    let loaded = crate::drive::bootcode::load_stage1(dev.file())
        .context("the BIOS loader does not read back as the BIOS loads it")?;
    ensure!(code.is_loaded(&loaded), "the BIOS loader reads back wrong");
    report.notes.push(format!(
        "BIOS boot: polyboot's own loader (no Microsoft code) is in the MBR and the {} bytes after it; \
         it starts \\bootmgr from the active NTFS partition in place of Windows' NT6 boot record",
        stage1.len()
    ));
    Ok(())
}

/// Ctrl-C after the apply: stop before the next step (the target still has no table).
fn check_cancel(cancel: Option<&AtomicBool>) -> Result<()> {
    if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
        bail!("cancelled");
    }
    Ok(())
}

/// An error after the old table was cleared: say what state the target is in.
fn unfinished(e: anyhow::Error, opts: &CreateOptions, new_file: bool) -> anyhow::Error {
    let state = match opts.container {
        Container::Raw if new_file => format!("{} was not created", opts.target.display()),
        Container::Raw => format!(
            "{} was left without a partition table (nothing on it claims to be a Windows To Go drive)",
            opts.target.display()
        ),
        Container::Vhd | Container::Vhdx => format!("{} was not created", opts.target.display()),
    };
    e.context(format!("wtg create stopped: {state}"))
}

trait WriteAllAt {
    fn write_all_at_ctx(&self, buf: &[u8], at: u64) -> std::io::Result<()>;
}
impl WriteAllAt for std::fs::File {
    fn write_all_at_ctx(&self, buf: &[u8], at: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, buf, at)
    }
}

fn report_for(
    source: &ImageSource,
    edition: &Edition,
    opts: &CreateOptions,
    plan: &WtgPlan,
) -> CreateReport {
    let gpt = plan.scheme == WtgScheme::Gpt;
    CreateReport {
        image: source.first().describe(),
        edition: edition.clone(),
        target: opts.target.display().to_string(),
        container: opts.container,
        scheme: if gpt { "gpt" } else { "mbr" },
        disk_bytes: plan.disk_bytes,
        disk_guid: gpt.then(|| plan.identity.disk_guid.to_string()),
        mbr_signature: (!gpt).then(|| format!("{:08x}", plan.identity.mbr_signature)),
        partitions: plan
            .partitions
            .iter()
            .map(|p| PartitionReport {
                number: p.number,
                role: match p.role {
                    wtglayout::Role::Esp => "esp",
                    wtglayout::Role::Msr => "msr",
                    wtglayout::Role::Windows => "windows",
                },
                offset: p.offset_bytes,
                size: p.size_bytes,
                guid: gpt.then(|| p.unique_guid.to_string()),
            })
            .collect(),
        required_windows_bytes: plan.required_windows_bytes,
        firmware: if gpt { vec!["uefi"] } else { vec!["uefi", "bios"] },
        written: false,
        applied_bytes: 0,
        apply_seconds: 0.0,
        notes: Vec::new(),
    }
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Format the Windows partition, apply the image and customize it. Returns the bytes applied
/// and the seconds the apply itself took (wimlib, from opening the WIM to unmounting NTFS).
#[allow(clippy::too_many_arguments)]
fn build_windows_partition(
    source: &ImageSource,
    edition: &Edition,
    opts: &CreateOptions,
    plan: &WtgPlan,
    work: &Path,
    cancel: Option<&AtomicBool>,
    progress: &mut dyn FnMut(Progress),
    report: &mut CreateReport,
) -> Result<(u64, f64)> {
    let win = plan.windows();
    let lo = LoopDevice::map_rw(work, win.offset_bytes, win.size_bytes)
        .context("mapping the Windows partition")?;
    let (applied, seconds) = format_and_apply(source, edition, plan, &lo, cancel, progress)?;

    let m = NtfsMount::mount(lo.path())?;
    let root = m.root();
    check_boot_files(root, edition, plan)?;
    let ts = filetime_now();
    set_system_policy(root, opts, ts)?;
    if let Some(u) = &opts.unattend {
        let dir = create_dir_ci(root, UNATTEND_DIR)?;
        std::fs::copy(u, dir.join("unattend.xml")).with_context(|| {
            format!("copying {} to Windows\\Panther\\unattend.xml", u.display())
        })?;
    }
    if let Some(d) = &opts.drivers {
        add_drivers(root, d, ts, report)?;
    }
    if plan.scheme == WtgScheme::Mbr {
        install_bios_boot_files(root, plan, edition, ts)?;
    }
    m.unmount()?;
    drop(lo);
    Ok((applied, seconds))
}

/// mkntfs on the Windows partition, then the image applied to it. Returns the bytes applied
/// and the seconds the apply took.
fn format_and_apply(
    source: &ImageSource,
    edition: &Edition,
    plan: &WtgPlan,
    lo: &LoopDevice,
    cancel: Option<&AtomicBool>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(u64, f64)> {
    let win = plan.windows();
    let ss = plan.sector_size.bytes();
    // The partition start (hidden sectors) and a geometry go into the NTFS boot sector:
    // Windows' NTFS boot code needs them to find bootmgr when booting from BIOS.
    run_tool(
        Command::new("mkntfs")
            .args(["-F", "-Q", "-q", "-L", "Windows", "-s"])
            .arg(ss.to_string())
            .arg("-p")
            .arg(win.first_lba.to_string())
            .args(["-H", "255", "-S", "63"])
            .arg(lo.path()),
        "mkntfs (ntfs-3g) on the Windows partition",
    )?;
    let mut applied = 0u64;
    let started = Instant::now();
    super::apply(source, edition.index, lo.path(), cancel, &mut |p: Progress| {
        if p.phase == Phase::Data {
            applied = p.done;
        }
        progress(p)
    })?;
    Ok((applied, started.elapsed().as_secs_f64()))
}

/// The applied image is Windows and has the boot files this layout's firmware needs.
fn check_boot_files(root: &Path, edition: &Edition, plan: &WtgPlan) -> Result<()> {
    let uefi_needed = [BOOTMGFW, WINLOAD_EFI];
    let bios_needed = [BOOTMGR_PCAT, WINLOAD_EXE];
    if find_ci(root, "Windows/System32").is_none() {
        bail!(
            "image {} ({}) is not a Windows image: it has no Windows\\System32",
            edition.index,
            edition.label()
        );
    }
    let mut missing: Vec<&str> = uefi_needed
        .iter()
        .chain(if plan.scheme == WtgScheme::Mbr { &bios_needed[..] } else { &[] })
        .chain(std::iter::once(&SYSTEM_HIVE))
        .copied()
        .filter(|f| find_ci(root, f).is_none())
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        bail!(
            "the image lacks the boot files polyboot needs: {} (nothing marks the target as bootable; it has no partition table)",
            missing.iter().map(|f| f.replace('/', "\\")).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// The portable-workspace policy in the SYSTEM hive. A dirty hive (changes only in
/// SYSTEM.LOG1/LOG2) is refused: writing the primary file alone would throw those changes
/// away and leave a hive that no longer matches its logs.
fn set_system_policy(root: &Path, opts: &CreateOptions, ts: u64) -> Result<()> {
    let sys_path = find_ci(root, SYSTEM_HIVE).expect("checked above");
    let bytes = std::fs::read(&sys_path).with_context(|| format!("reading {}", SYSTEM_HIVE))?;
    let mut hive = Hive::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("Windows\\System32\\config\\SYSTEM: {e}"))?;
    if hive.dirty {
        bail!("Windows\\System32\\config\\SYSTEM is dirty (it has changes only in its transaction logs, SYSTEM.LOG1/LOG2): polyboot does not replay hive logs, refusing to edit it");
    }
    regf::set_portable_workspace_policy(&mut hive, opts.internal_disks_offline, ts)
        .map_err(|e| anyhow::anyhow!("setting the portable-workspace policy: {e}"))?;
    let new = hive.to_bytes().map_err(|e| anyhow::anyhow!("writing the SYSTEM hive: {e}"))?;
    std::fs::write(&sys_path, new).with_context(|| format!("writing {SYSTEM_HIVE}"))?;
    Ok(())
}

/// `--drivers`: the folder copied to [`DRIVERS_DIR`] and named in the SOFTWARE hive's
/// `DevicePath` (when the image has that hive).
fn add_drivers(root: &Path, d: &Path, ts: u64, report: &mut CreateReport) -> Result<()> {
    let dest = create_dir_ci(root, DRIVERS_DIR)?;
    let n = copy_tree(d, &dest)?;
    let infs = count_inf(d);
    if infs == 0 {
        report.notes.push(format!("--drivers {}: no .inf file found", d.display()));
    }
    match find_ci(root, SOFTWARE_HIVE) {
        Some(p) => {
            let bytes = std::fs::read(&p).context("reading the SOFTWARE hive")?;
            let mut sw = Hive::parse(&bytes).map_err(|e| anyhow::anyhow!("Windows\\System32\\config\\SOFTWARE: {e}"))?;
            if sw.dirty {
                bail!("Windows\\System32\\config\\SOFTWARE is dirty (changes only in its logs): refusing to edit it for --drivers");
            }
            let key = sw
                .root
                .create_path(r"Microsoft\Windows\CurrentVersion", ts)
                .map_err(|e| anyhow::anyhow!("SOFTWARE hive: {e}"))?;
            let current = key
                .value("DevicePath")
                .and_then(|v| v.as_string())
                .unwrap_or_else(|| r"%SystemRoot%\inf".into());
            let ours = r"%SystemRoot%\polyboot-drivers";
            if !current.split(';').any(|p| p.eq_ignore_ascii_case(ours)) {
                key.set_value(regf::Value::expand_sz("DevicePath", &format!("{current};{ours}")));
            }
            std::fs::write(&p, sw.to_bytes().map_err(|e| anyhow::anyhow!("SOFTWARE hive: {e}"))?)
                .context("writing the SOFTWARE hive")?;
            report.notes.push(format!(
                "{n} driver files copied to Windows\\polyboot-drivers, added to DevicePath: Plug and Play installs them when it finds a matching device (signed drivers only on x64)"
            ));
        }
        None => report.notes.push(format!(
            "{n} driver files copied to Windows\\polyboot-drivers; the image has no SOFTWARE hive, so DevicePath was not updated"
        )),
    }
    Ok(())
}

/// BIOS (MBR layout): bootmgr at the root of the active partition, its resources in \Boot,
/// and \Boot\BCD naming this partition.
fn install_bios_boot_files(root: &Path, plan: &WtgPlan, edition: &Edition, ts: u64) -> Result<()> {
    let pcat = find_ci(root, BOOT_PCAT_DIR).expect("checked above");
    let boot = create_dir_ci(root, "Boot")?;
    copy_tree(&pcat, &boot)?;
    // bootmgr (and bootnxt, in Windows 10 and later) live at the root of the partition.
    for name in ["bootmgr", "bootnxt"] {
        if let Some(found) = find_name_ci(&boot, name) {
            std::fs::rename(boot.join(&found), root.join(&found))
                .with_context(|| format!("moving {found} to the root of the Windows partition"))?;
        }
    }
    if let Some(fonts) = find_ci(root, BOOT_FONTS_DIR) {
        copy_tree(&fonts, &create_dir_ci(&boot, "Fonts")?)?;
    }
    let store = bcd::build_store(&store_config(plan, edition, BcdFirmware::Bios, ts)?)
        .map_err(|e| anyhow::anyhow!("building the BIOS BCD store: {e}"))?;
    std::fs::write(boot.join("BCD"), store).context("writing \\Boot\\BCD")?;
    Ok(())
}

fn find_name_ci(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|n| n.eq_ignore_ascii_case(name))
}

fn count_inf(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("inf")) {
                n += 1;
            }
        }
    }
    n
}

/// Copy the tree `from` into the existing directory `to`. Returns the number of files.
fn copy_tree(from: &Path, to: &Path) -> Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let p = e.path();
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            match std::fs::create_dir(&dest) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => {
                    return Err(err).with_context(|| format!("creating {}", dest.display()))
                }
            }
            n += copy_tree(&p, &dest)?;
        } else {
            std::fs::copy(&p, &dest)
                .with_context(|| format!("copying {} to {}", p.display(), dest.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Every file under `dir` as (relative path with '/', contents).
fn read_tree(dir: &Path, prefix: &str, out: &mut esp::FileList) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}/{name}");
        if e.file_type()?.is_dir() {
            read_tree(&e.path(), &rel, out)?;
        } else {
            out.push((
                rel,
                std::fs::read(e.path())
                    .with_context(|| format!("reading {}", e.path().display()))?,
            ));
        }
    }
    Ok(())
}

fn store_config(
    plan: &WtgPlan,
    edition: &Edition,
    fw: BcdFirmware,
    ts: u64,
) -> Result<StoreConfig> {
    let boot = match fw {
        BcdFirmware::Uefi => plan.esp(),
        BcdFirmware::Bios => plan.windows(),
    };
    Ok(StoreConfig {
        firmware: fw,
        boot_partition: plan.bcd_partition(boot),
        windows_partition: plan.bcd_partition(plan.windows()),
        loader: Guid::from_random_bytes(random_bytes::<16>()?),
        description: format!("Windows To Go ({})", edition.label()),
        locale: edition.language.clone().unwrap_or_else(|| "en-US".into()),
        timeout: 0,
        timestamp: ts,
    })
}

/// Format the ESP and write the UEFI boot files, read back from the applied Windows partition.
fn build_esp(
    plan: &WtgPlan,
    edition: &Edition,
    work: &Path,
    report: &mut CreateReport,
) -> Result<()> {
    let win = plan.windows();
    let mut files: esp::FileList = Vec::new();
    {
        let lo = LoopDevice::map_rw(work, win.offset_bytes, win.size_bytes)
            .context("mapping the Windows partition")?;
        let m = NtfsMount::mount(lo.path())?;
        let efi = find_ci(m.root(), BOOT_EFI_DIR).context("Windows\\Boot\\EFI disappeared")?;
        read_tree(&efi, "EFI/Microsoft/Boot", &mut files)?;
        if let Some(fonts) = find_ci(m.root(), BOOT_FONTS_DIR) {
            if find_ci(&efi, "Fonts").is_none() {
                read_tree(&fonts, "EFI/Microsoft/Boot/Fonts", &mut files)?;
            }
        }
        m.unmount()?;
    }
    let bootmgfw = files
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case("EFI/Microsoft/Boot/bootmgfw.efi"))
        .map(|(_, d)| d.clone())
        .context("bootmgfw.efi missing from Windows\\Boot\\EFI")?;
    files.push((format!("EFI/Boot/{}", efi_fallback_name(edition.arch.as_deref())), bootmgfw));
    let store = bcd::build_store(&store_config(plan, edition, BcdFirmware::Uefi, filetime_now())?)
        .map_err(|e| anyhow::anyhow!("building the UEFI BCD store: {e}"))?;
    files.push(("EFI/Microsoft/Boot/BCD".into(), store));

    let e = plan.esp();
    let lo = LoopDevice::map_rw(work, e.offset_bytes, e.size_bytes).context("mapping the ESP")?;
    esp::format(lo.path(), plan.sector_size.bytes(), e.first_lba, "SYSTEM")?;
    esp::write_files(lo.path(), &files)?;
    report.notes.push(format!("{} files written to the ESP", files.len()));
    Ok(())
}

/// Print a progress report for humans (indicatif bar on a terminal).
pub fn progress_bar(quiet: bool) -> impl FnMut(Progress) {
    let bar = (!quiet).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    });
    move |p: Progress| {
        let Some(b) = &bar else { return };
        match p.phase {
            Phase::FileStructure => b.set_message("files"),
            Phase::Data => {
                b.set_message("applying");
                b.set_length(p.total);
                b.set_position(p.done);
            }
            Phase::Metadata => b.set_message("metadata"),
            Phase::Done => b.finish_with_message("applied"),
            Phase::Verify => {}
        }
    }
}

/// Human summary after a run.
pub fn print_summary(r: &CreateReport) {
    if r.written && r.apply_seconds > 0.0 {
        println!(
            "applied {} in {:.1} s ({}/s)",
            format_size(r.applied_bytes),
            r.apply_seconds,
            format_size((r.applied_bytes as f64 / r.apply_seconds) as u64)
        );
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_loader_names() {
        assert_eq!(efi_fallback_name(Some("x64")), "BOOTX64.EFI");
        assert_eq!(efi_fallback_name(None), "BOOTX64.EFI");
        assert_eq!(efi_fallback_name(Some("arm64")), "BOOTAA64.EFI");
        assert_eq!(efi_fallback_name(Some("x86")), "BOOTIA32.EFI");
    }

    #[test]
    fn partial_names_sit_beside_the_target() {
        assert_eq!(
            partial_path(Path::new("/a/w.vhdx"), ".raw.partial"),
            Path::new("/a/w.vhdx.raw.partial")
        );
    }

    #[test]
    fn filetime_is_after_2020() {
        // 2020-01-01 as FILETIME.
        assert!(filetime_now() > 132_223_104_000_000_000);
    }

    #[test]
    fn cancel_flag_stops_between_steps() {
        let c = AtomicBool::new(false);
        assert!(check_cancel(Some(&c)).is_ok());
        assert!(check_cancel(None).is_ok());
        c.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(check_cancel(Some(&c)).unwrap_err().to_string().contains("cancelled"));
    }
}
