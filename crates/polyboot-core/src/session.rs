//! One boot session, for both firmware adapters: everything the boot manager decides between
//! "here is the boot drive" and "serve this virtual medium".
//!
//! [`BootSession::open`] locates the polyboot partitions on the drive (any [`ReadAt`]: UEFI
//! BlockIo, BIOS INT 13h, a file in tests), opens the exFAT data volume, loads the
//! configuration, scans for images and builds the menu for the firmware it runs under
//! (statuses, default image, countdown). [`virtual_medium`] turns a menu image into the
//! [`VirtualMedium`] the firmware serves, with its bounds check; [`wrap_initrds`] wraps a Linux
//! ISO's initrds into it (boot configuration → hand-off record → polyboot-hook → plan → apply).
//!
//! The adapters (`polyboot-efi`, `polyboot-bios`) keep only firmware I/O and printing: every
//! line is handed to their [`Log`] callback without a prefix ("config: ...", "linux: ..."),
//! and they print it behind their own ("polyboot:", "polyboot-bios:").

use crate::block::{ReadAt, Slice};
use crate::boot_plan;
use crate::config::{self, BootConfig};
use crate::drive_location::{self, DriveLocation, PartitionSpan};
use crate::embedded_hook;
use crate::exfat::{ExFat, Extent};
use crate::fat::Fat;
use crate::gpt::SectorSize;
use crate::handoff::{self, Handoff};
use crate::initrd_wrap::{self, WrapPlan};
use crate::menu::{self, ImageEntry, ImageKind, Menu};
use crate::virtual_medium::VirtualMedium;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

pub use crate::config::Firmware;

/// Where a session's lines go: one call per line, without the adapter's prefix.
pub type Log<'a> = &'a mut dyn FnMut(fmt::Arguments<'_>);

/// The exFAT data partition of the boot drive.
pub type DataVolume<D> = ExFat<Slice<D>>;

/// The drive, its data volume, the configuration and the menu built from them.
pub struct BootSession<D: ReadAt> {
    pub firmware: Firmware,
    pub location: DriveLocation,
    pub fs: DataVolume<D>,
    pub config: BootConfig,
    pub menu: Menu,
}

impl<D: ReadAt> BootSession<D> {
    /// Open the session on the boot drive `drive` of `sector_bytes`-byte logical sectors
    /// (probed when that is not 512 or 4096). Errors say why there can be no menu.
    pub fn open(
        mut drive: D,
        sector_bytes: u64,
        firmware: Firmware,
        log: Log<'_>,
    ) -> Result<Self, String> {
        let location = drive_location::locate(&mut drive, SectorSize::from_bytes(sector_bytes))
            .map_err(|e| e.to_string())?;
        log(format_args!(
            "{} drive, {}-byte sectors, data partition at {} ({} bytes)",
            location.scheme, location.sector_size, location.data.offset, location.data.size
        ));
        let mut fs = open_data_volume(drive, &location.data)?;
        log(format_args!("data volume \"{}\"", fs.label()));
        let config = load_config(&mut fs, firmware, log);
        let menu = build_menu(&mut fs, &config, firmware, log);
        Ok(BootSession { firmware, location, fs, config, menu })
    }

    /// The menu's title line.
    pub fn title(&self) -> String {
        let firmware = match self.firmware {
            Firmware::Uefi => "",
            Firmware::Bios => " (BIOS)",
        };
        format!(
            "polyboot {}{firmware}  -  {} images on {}",
            crate::VERSION,
            self.menu.image_count(),
            self.fs.label()
        )
    }

    /// What Windows Setup gets when `image` boots: the configured options
    /// ([`WindowsOptions::from_config`]) and the answer file chosen among Ventoy's
    /// `auto_install` templates (`choices.template`, from the menu or `autosel`: the same
    /// choice a Linux installer gets), read from the data partition (at most
    /// [`MAX_UNATTEND_BYTES`]). Why a chosen one is not used is logged.
    pub fn windows_options(
        &mut self,
        image: &str,
        choices: &LinuxChoices,
        log: Log<'_>,
    ) -> WindowsOptions {
        let mut options = WindowsOptions::from_config(&self.config);
        let chosen = self
            .config
            .auto_install_choices(image)
            .and_then(|c| choices.template.and_then(|i| c.options.get(i).cloned()));
        if let Some(path) = chosen {
            let read = match self.fs.metadata(&path) {
                Ok(m) if m.size > MAX_UNATTEND_BYTES => {
                    Err(format!("{} bytes, more than {MAX_UNATTEND_BYTES}", m.size))
                }
                Ok(_) => self.fs.read_to_vec(&path).map_err(|e| format!("{e}")),
                Err(e) => Err(format!("{e}")),
            };
            match read {
                Ok(bytes) => options.unattend = Some(Unattend { path, bytes }),
                Err(e) => {
                    log(format_args!("auto_install: {image}: answer file {path} not used: {e}"))
                }
            }
        }
        options
    }

    /// Check menu image `index` against its `.sha256` sidecar (F5, `verify_before_boot`),
    /// the outcome logged.
    pub fn verify(
        &mut self,
        index: usize,
        progress: &mut dyn FnMut(u64, u64),
        log: Log<'_>,
    ) -> VerifyOutcome {
        let Some(image) = self.menu.items().get(index).and_then(|i| i.image()).cloned() else {
            return VerifyOutcome::Failed(String::from("not an image"));
        };
        let outcome = image_tools::verify_image(&mut self.fs, &image, progress);
        log(format_args!("verify: {}", outcome.describe(&image.path)));
        outcome
    }

    /// The details screen of menu image `index` (F2).
    pub fn details(&mut self, index: usize) -> Vec<String> {
        match self.menu.items().get(index).and_then(|i| i.image()).cloned() {
            Some(image) => image_tools::image_details(&mut self.fs, &image),
            None => Vec::new(),
        }
    }

    /// `image` as the virtual medium the firmware serves (see [`virtual_medium`]).
    pub fn virtual_medium(&mut self, image: &ImageEntry) -> Result<VirtualMedium, String> {
        virtual_medium(&mut self.fs, &self.location.data, image)
    }
}

/// The exFAT file system on the data partition `data` of `drive`.
pub fn open_data_volume<D: ReadAt>(
    drive: D,
    data: &PartitionSpan,
) -> Result<DataVolume<D>, String> {
    let part = Slice::new(drive, data.offset, data.size).map_err(|e| e.to_string())?;
    ExFat::open(part).map_err(|e| format!("the data partition is not readable exFAT: {e}"))
}

/// What reading the configuration files met: each is logged by the boot managers and
/// reported by `polyboot check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// The file is larger than [`config::MAX_CONFIG_BYTES`]: it is ignored.
    TooLarge(&'static str),
    /// The file does not parse: it is ignored.
    Unreadable(config::FileError),
    /// A setting that is used differently or not at all.
    Warning(String),
}

/// Read `/polyboot/polyboot.json` and `/ventoy/ventoy.json` (with the key suffixes of
/// `firmware`) as the boot managers do: the configuration (defaults where a file is missing
/// or ignored) and what was wrong.
pub fn read_config<D: ReadAt>(
    fs: &mut ExFat<D>,
    firmware: Firmware,
) -> (BootConfig, Vec<ConfigProblem>) {
    let mut problems = Vec::new();
    let mut read = |path: &'static str| -> Option<Vec<u8>> {
        match fs.metadata(path) {
            Ok(m) if m.size > config::MAX_CONFIG_BYTES as u64 => {
                problems.push(ConfigProblem::TooLarge(path));
                None
            }
            Ok(_) => fs.read_to_vec(path).ok(),
            Err(_) => None,
        }
    };
    let ours = read(config::POLYBOOT_JSON);
    let ventoy = read(config::VENTOY_JSON);
    let (cfg, errors) = config::load(ours.as_deref(), ventoy.as_deref(), firmware);
    problems.extend(errors.into_iter().map(ConfigProblem::Unreadable));
    problems.extend(cfg.warnings.iter().cloned().map(ConfigProblem::Warning));
    (cfg, problems)
}

/// [`read_config`], its problems logged.
pub fn load_config<D: ReadAt>(fs: &mut ExFat<D>, firmware: Firmware, log: Log<'_>) -> BootConfig {
    let (cfg, problems) = read_config(fs, firmware);
    for p in &problems {
        match p {
            ConfigProblem::TooLarge(path) => log(format_args!(
                "config: {path} is larger than {} bytes; ignored",
                config::MAX_CONFIG_BYTES
            )),
            ConfigProblem::Unreadable(e) => log(format_args!("config: {e}")),
            ConfigProblem::Warning(w) => log(format_args!("config: {w}")),
        }
    }
    cfg
}

/// Scan the volume as `config` says and build the menu: each image's status under
/// `firmware` ([`boot_plan::status`]), the default image and the countdown.
pub fn build_menu<D: ReadAt>(
    fs: &mut ExFat<D>,
    config: &BootConfig,
    firmware: Firmware,
    log: Log<'_>,
) -> Menu {
    let report = menu::scan(fs, &config.scan_options());
    for err in &report.errors {
        log(format_args!("scan: {err}"));
    }
    if report.limit.is_some() {
        log(format_args!(
            "scan stopped at a limit ({:?}); not every image is listed",
            report.limit
        ));
    }
    let (images, left_out) = image_tools::select_images(config, &report.images);
    if left_out > 0 {
        log(format_args!(
            "config: {left_out} image(s) left out by image_list / image_blacklist / VTOY_FILE_FLT_*"
        ));
    }
    let statuses: Vec<_> =
        images.iter().map(|image| boot_plan::status(fs, image, firmware)).collect();
    let mut menu = Menu::with_config(images, config);
    for (index, status) in statuses.into_iter().enumerate() {
        if let Some(status) = status {
            menu.set_status(index, status);
        }
    }
    if let Some(default) = &config.default_image {
        if menu.set_default(default).is_none() {
            log(format_args!("config: default image {default} is not on the drive"));
        }
    }
    if let Some(secs) = config.timeout_secs {
        menu.start_countdown(secs);
    }
    menu
}

/// `image` on the data volume `fs` (the partition `data` of the drive) as the virtual medium
/// the firmware serves: an ISO as a CD-ROM (2048-byte blocks), anything else as a hard disk
/// (512-byte sectors), read from the file's extents on the drive.
pub fn virtual_medium<D: ReadAt>(
    fs: &mut ExFat<D>,
    data: &PartitionSpan,
    image: &ImageEntry,
) -> Result<VirtualMedium, String> {
    let meta = fs.metadata(&image.path).map_err(|e| format!("{e}"))?;
    let extents = fs.extents(&image.path).map_err(|e| format!("mapping the file: {e}"))?;
    check_inside_partition(&extents, data.size)?;
    let block_size = if image.kind == ImageKind::Img { 512 } else { 2048 };
    VirtualMedium::new(block_size, meta.size, data.offset, extents)
        .map_err(|e| format!("the file's layout is inconsistent: {e}"))
}

/// The extents must stay inside the partition: a corrupt volume must not make the virtual
/// device read someone else's sectors. (`VirtualMedium::new` checks them against the file.)
fn check_inside_partition(extents: &[Extent], partition_size: u64) -> Result<(), String> {
    if extents
        .iter()
        .any(|e| e.device_offset.checked_add(e.len).is_none_or(|end| end > partition_size))
    {
        return Err(String::from(
            "the file's clusters lie outside the data partition (corrupt file system)",
        ));
    }
    Ok(())
}

/// Where polyboot-hook comes from.
#[derive(Debug, Clone, Copy)]
pub enum HookSource<'a> {
    /// In memory: the UEFI boot manager carries it (empty when built without it).
    Embedded(&'a [u8]),
    /// Read from the UEFI boot manager [`BOOT_MANAGER`] on the boot partition (the small BIOS
    /// boot code has no room for it), so one file switch updates the hook for both firmware.
    BootManager,
}

/// Where the UEFI boot manager (and with it polyboot-hook) is on the boot partition: first
/// `BOOTX64.EFI`, then, on a drive whose `BOOTX64.EFI` is shim (Secure Boot), shim's second
/// stage `grubx64.efi`, which is polyboot signed.
pub const BOOT_MANAGER: &str = "EFI/BOOT/BOOTX64.EFI";
pub const BOOT_MANAGER_BEHIND_SHIM: &str = "EFI/BOOT/grubx64.efi";
/// Larger than any boot manager we build; a bound on what a corrupt entry makes us allocate.
const MAX_BOOT_MANAGER: u64 = 16 << 20;

/// The hand-off record for the ISO served by `layout` from the data partition of `location`
/// on a drive of `disk_size` bytes.
fn handoff(
    location: &DriveLocation,
    disk_size: u64,
    layout: &VirtualMedium,
) -> Result<Handoff, String> {
    Handoff::for_image(
        location,
        disk_size,
        handoff::ImageKind::Iso,
        layout.image_len(),
        layout.extents(),
    )
    .map_err(|e| format!("hand-off record: {e}"))
}

/// What the wrapped initrds carry besides polyboot-hook: the hand-off record and the bytes of
/// the files it embeds (`(index in its files, bytes)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookPayload {
    pub handoff: Handoff,
    pub embedded: Vec<(usize, Arc<[u8]>)>,
}

impl HookPayload {
    /// polyboot-hook's archive with this payload (core `initrd_wrap::hook_archive_with`).
    pub fn archive(&self, hook: &[u8]) -> Result<Vec<u8>, String> {
        let embedded: Vec<(usize, &[u8])> =
            self.embedded.iter().map(|(i, b)| (*i, &b[..])).collect();
        initrd_wrap::hook_archive_with(hook, &self.handoff.encode(), &embedded)
            .map_err(|e| format!("{e}"))
    }
}

/// polyboot-hook's archive with `payload` (what [`prepare_iso`] returned): the front of every
/// wrapped initrd, also of those the UEFI boot manager wraps inside the El Torito image.
pub fn hook_archive(
    hook: &[u8],
    payload: &Result<HookPayload, String>,
) -> Result<Arc<[u8]>, String> {
    if hook.is_empty() {
        return Err(String::from("this build has no polyboot-hook"));
    }
    payload.as_ref().map_err(Clone::clone)?.archive(hook).map(Into::into)
}

/// The boot manager on the boot partition of `location` that carries polyboot-hook:
/// [`BOOT_MANAGER`], or [`BOOT_MANAGER_BEHIND_SHIM`] when the first is shim; its bytes and
/// its name as Windows writes it.
pub fn boot_manager_with_hook<D: ReadAt>(
    disk: &mut D,
    location: &DriveLocation,
) -> Result<(Vec<u8>, &'static str), String> {
    let part = Slice::new(&mut *disk, location.boot.offset, location.boot.size)
        .map_err(|e| format!("the boot partition lies outside the drive: {e}"))?;
    let mut fat =
        Fat::open(part).map_err(|e| format!("the boot partition is not readable FAT: {e}"))?;
    let efi = fat
        .read_file(BOOT_MANAGER, MAX_BOOT_MANAGER)
        .map_err(|e| format!("reading \\EFI\\BOOT\\BOOTX64.EFI: {e}"))?;
    if embedded_hook::find_embedded_hook(&efi).is_some() {
        return Ok((efi, "\\EFI\\BOOT\\BOOTX64.EFI"));
    }
    drop(efi);
    match fat.read_file(BOOT_MANAGER_BEHIND_SHIM, MAX_BOOT_MANAGER) {
        Ok(loader) if embedded_hook::find_embedded_hook(&loader).is_some() => {
            Ok((loader, "\\EFI\\BOOT\\grubx64.efi"))
        }
        _ => Err(String::from(
            "neither \\EFI\\BOOT\\BOOTX64.EFI nor grubx64.efi carries polyboot-hook (built without it)",
        )),
    }
}

/// polyboot-hook's archive with `handoff` inside, the hook read from [`BOOT_MANAGER`] on the
/// boot partition of `location`; the file's bytes are dropped once the hook is copied.
fn boot_manager_hook_archive<D: ReadAt>(
    disk: &mut D,
    location: &DriveLocation,
    payload: &HookPayload,
    log: Log<'_>,
) -> Result<Vec<u8>, String> {
    let (efi, name) = boot_manager_with_hook(disk, location)?;
    let hook = embedded_hook::find_embedded_hook(&efi).unwrap_or_default();
    log(format_args!(
        "linux: polyboot-hook ({} bytes) from {name} ({} bytes)",
        hook.len(),
        efi.len()
    ));
    let archive = payload.archive(hook);
    // Freed only now: a bump heap reclaims a block only when it is its most recent one.
    drop(efi);
    archive
}

/// Wrap the initrds of the Linux ISO served by `layout` (read through `disk`, the boot drive
/// of `location`) so that polyboot-hook runs first and maps the ISO in the booted system,
/// after applying `extras` ([`linux::apply_linux_extras`]: replaced files, added kernel
/// parameters, what the hand-off record tells the hook). Returns the applied plan and the
/// hand-off record; problems are logged and leave the image as it is (no plan): an unwrapped
/// live ISO still boots its kernel, and says itself what it misses.
pub fn wrap_initrds<D: ReadAt>(
    layout: &mut VirtualMedium,
    disk: &mut D,
    location: &DriveLocation,
    hook: HookSource<'_>,
    extras: &LinuxExtras,
    log: Log<'_>,
) -> (Option<WrapPlan>, Result<HookPayload, String>) {
    let disk_size = disk.size();
    let (report, applied) = linux::apply_linux_extras(layout, disk, location, extras, log);
    let handoff = handoff(location, disk_size, layout).and_then(|mut h| {
        applied.fill(&mut h);
        h.validate().map_err(|e| format!("hand-off record: {e}"))?;
        Ok(HookPayload { handoff: h, embedded: applied.embedded.clone() })
    });
    let Some(report) = report else {
        return (None, handoff);
    };
    if report.initrds.is_empty() {
        log(format_args!(
            "linux: no initrd in the boot configuration ({} files read)",
            report.files.len()
        ));
        return (None, handoff);
    }
    if matches!(hook, HookSource::Embedded(h) if h.is_empty()) {
        log(format_args!("linux: this build has no polyboot-hook; initrds are not wrapped"));
        return (None, handoff);
    }
    let archive = handoff.as_ref().map_err(Clone::clone).and_then(|p| match hook {
        HookSource::Embedded(bytes) => p.archive(bytes),
        HookSource::BootManager => boot_manager_hook_archive(disk, location, p, log),
    });
    let archive: Arc<[u8]> = match archive {
        Ok(a) => a.into(),
        Err(e) => {
            log(format_args!("linux: initrds not wrapped: {e}"));
            return (None, handoff);
        }
    };
    let plan = initrd_wrap::plan(&report.initrds, layout.image_len(), layout.size(), archive);
    if let Err(e) = initrd_wrap::apply(&plan, layout) {
        // `plan` places everything past the image, where nothing else is: a bug, not input.
        log(format_args!("linux: initrds not wrapped: {e}"));
        return (None, handoff);
    }
    for w in &plan.wrapped {
        log(format_args!(
            "linux: wrapped initrd {} ({} bytes) as {} bytes at block {}",
            w.paths.join(", "),
            w.original_size,
            w.len,
            w.lba()
        ));
    }
    for s in &plan.skipped {
        log(format_args!("linux: initrd {} not wrapped: {}", s.path, s.reason));
    }
    (Some(plan), handoff)
}

/// Prepare the virtual medium of the ISO at `iso_path` for booting: with `windows`, a Windows
/// ISO gets its virtual `boot.wim` ([`serve_windows`]); any other ISO gets its initrds wrapped
/// ([`wrap_initrds`]). Both boot managers and `polyboot debug virtual` call this, so what the
/// debug command writes is what the firmware serves (`windows` = `None` wraps initrds only).
/// A Linux ISO gets `linux` too. Returns the hand-off record the wrapped initrds carry (or
/// why there is none), for initrds the UEFI boot manager wraps itself ([`hook_archive`]).
#[allow(clippy::too_many_arguments)]
pub fn prepare_iso<D: ReadAt>(
    layout: &mut VirtualMedium,
    disk: &mut D,
    location: &DriveLocation,
    hook: HookSource<'_>,
    iso_path: &str,
    windows: Option<WindowsOptions>,
    linux: &LinuxExtras,
    log: Log<'_>,
) -> Result<HookPayload, String> {
    match windows {
        Some(options) if is_windows_iso(layout, disk) => {
            serve_windows(layout, disk, location, iso_path, options, log);
            Err(String::from("a Windows ISO has no Linux initrds"))
        }
        _ => wrap_initrds(layout, disk, location, hook, linux, log).1,
    }
}

/// The virtual CD the firmware serves for the WIM file served by `layout` (whose image is the
/// WIM): its own boot files and BCD stores ([`crate::winpe_medium`]). Errors say why it cannot
/// boot.
pub fn prepare_wim<D: ReadAt>(
    layout: &mut VirtualMedium,
    disk: &mut D,
    log: Log<'_>,
) -> Result<crate::winpe_medium::WinPeMedium, String> {
    let len = layout.image_len();
    let opts = crate::winpe_medium::WinPeMediumOptions::default();
    let medium = crate::winpe_medium::plan(&mut layout.reader(&mut *disk), len, &opts)
        .map_err(|e| format!("{e}"))?;
    medium.apply(layout).map_err(|e| format!("{e}"))?;
    let firmware = match (medium.uefi, medium.bios) {
        (true, true) => "UEFI and BIOS",
        (true, false) => "UEFI",
        _ => "BIOS",
    };
    log(format_args!(
        "windows: WIM image {} served as a virtual CD ({} bytes; boot files for {firmware}; the WIM at block {})",
        medium.image,
        medium.size,
        medium.wim_at / crate::winpe_medium::SECTOR
    ));
    for m in &medium.missing {
        log(format_args!("windows: no {} in the WIM ({})", m.wim_path, m.firmware));
    }
    Ok(medium)
}

mod image_tools;
pub use image_tools::{
    expected_digest, image_details, progress_line, select_images, sidecar_path, verify_image,
    VerifyOutcome,
};
mod linux;
pub use linux::{apply_linux_extras, DriveFile, LinuxApplied, LinuxChoices, LinuxExtras};
mod windows;
pub use windows::{
    is_windows_iso, jump_params, jump_program_file, read_boot_file, serve_windows, Unattend,
    WindowsOptions, MAX_UNATTEND_BYTES, WINPE_JUMP_X64, WINPE_JUMP_X86,
};

#[cfg(test)]
mod tests;
