//! `polyboot check`: explain, before anyone reaches the firmware, whether each image will boot
//! and what it needs — boot modes, the initrds its boot configuration loads, the init family
//! that will look for its medium, and polyboot's verdict.

use crate::drive::io::FileDevice;
use crate::drive::Drive;
use crate::isofiles::IsoTrees;
use anyhow::{Context, Result};
use polyboot_core::block::{ReadAt, Slice};
use polyboot_core::boot_plan;
use polyboot_core::bootcfg::{self, WarningKind};
use polyboot_core::config;
use polyboot_core::eltorito;
use polyboot_core::esp_wrap;
use polyboot_core::fat::{Fat, FatError};
use polyboot_core::initfamily::{self, InitFamily};
use polyboot_core::initrd_wrap;
use polyboot_core::menu::{self, ImageKind, Status};
use polyboot_core::session::{self, ConfigProblem};
use polyboot_core::wim::{self, resource::MAX_RESOURCE_BYTES};
use polyboot_core::{windows_iso, winpe_medium};
use serde::Serialize;
use std::path::Path;

pub mod linux_extras;
mod secure_boot;
pub use linux_extras::ExtraCheck;
pub use secure_boot::{SecureBootCheck, Signer as SecureBootSigner};

#[derive(Debug, Serialize)]
pub struct ImageCheck {
    pub path: String,
    pub size: u64,
    pub kind: &'static str,
    pub uefi: bool,
    pub bios: bool,
    /// Why UEFI cannot boot it, when it cannot.
    pub problem: Option<String>,
    /// What polyboot will do under UEFI firmware (the boot manager's own probe).
    pub uefi_verdict: ModeVerdict,
    /// What polyboot will do under legacy BIOS (the BIOS boot code's own probe).
    pub bios_verdict: ModeVerdict,
    pub kernels: Vec<String>,
    pub initrds: Vec<String>,
    /// Initrds the boot manager will not wrap, with the reason.
    pub unwrapped_initrds: Vec<String>,
    pub init_family: Option<String>,
    /// Will it work with this polyboot, and if not what is missing.
    pub expected_to_work: bool,
    pub verdict: String,
    pub warnings: Vec<String>,
    /// A Windows Setup or Windows PE medium, when the ISO is one.
    pub windows: Option<WindowsMedia>,
    /// The Secure Boot outlook of the EFI loader the image starts from (the EFI application,
    /// an ISO's El Torito EFI image's or a disk image's ESP's `/EFI/BOOT/BOOTX64.EFI`), when
    /// it has one: signed or not, by whom, and whether it boots with Secure Boot on.
    pub secure_boot: Option<SecureBootCheck>,
    /// Persistence, auto-install, injection, conf_replace, driver update disks: what the
    /// drive's configuration names for the image and whether polyboot can do it (issue 18).
    pub extras: Vec<ExtraCheck>,
}

/// What polyboot does with an image under one firmware ([`boot_plan::plan`]).
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct ModeVerdict {
    /// `true` when it boots, `false` when it cannot, `null` when it is only known on boot.
    pub boots: Option<bool>,
    /// How it is started: `efi_entry`, `efi_system_partition`, `efi_application`,
    /// `no_emulation`, `floppy_emulation`, `hard_disk_emulation`, `disk_image_mbr`.
    pub method: Option<&'static str>,
    /// For people: how it is started, or why it cannot be.
    pub detail: String,
}

impl ModeVerdict {
    fn new(status: &Status, method: Option<boot_plan::BootMethod>) -> ModeVerdict {
        let (boots, detail) = match (status, method) {
            (Status::Bootable { .. }, Some(m)) => (Some(true), m.describe().to_string()),
            (Status::Bootable { .. }, None) => (Some(true), String::from("bootable")),
            (Status::NotBootable(reason), _) => (Some(false), reason.clone()),
            (Status::Unknown, Some(boot_plan::BootMethod::EfiSystemPartition)) => (
                None,
                String::from(
                    "no EFI system partition found in its partition table: the firmware will try",
                ),
            ),
            (Status::Unknown, Some(m)) => (None, m.describe().to_string()),
            (Status::Unknown, None) => (None, String::from("not checked")),
        };
        ModeVerdict {
            boots,
            method: method.filter(|_| boots != Some(false)).map(|m| m.code()),
            detail,
        }
    }

    /// The text line's form: `OK: ...`, `will not boot: ...`, `not certain: ...`.
    pub fn line(&self) -> String {
        let word = match self.boots {
            Some(true) => "OK",
            Some(false) => "will not boot",
            None => "not certain",
        };
        format!("{word}: {}", self.detail)
    }
}

/// A Windows medium, recognised by its `sources/boot.wim` (in the UDF tree of Microsoft's ISOs,
/// or the ISO 9660 tree of others).
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct WindowsMedia {
    /// "setup" when an install image is present too, "pe" for a boot.wim alone.
    pub kind: &'static str,
    /// `sources/boot.wim (UDF)`.
    pub boot_wim: String,
    /// `sources/install.wim (UDF)`, on Setup media.
    pub install_image: Option<String>,
    /// What the UEFI boot manager serves: the WIM it rewrites and where its name came from
    /// (`/sources/boot.wim (named by /efi/microsoft/boot/bcd)`), or why it cannot.
    pub jump_program: Result<String, String>,
    /// Whether "Press any key to boot from CD or DVD" is skipped when the WIM is served
    /// (UEFI: the El Torito EFI entry loads `efisys_noprompt.bin`; BIOS: `\boot\bootfix.bin`
    /// hidden), or why not; None when the WIM cannot be served.
    pub uefi_prompt: Option<String>,
    pub bios_prompt: Option<String>,
    /// The program of the WIM the jump program replaces (`Setup\CmdLine`'s, else
    /// `winpeshl.exe`) and why `CmdLine`'s is not, when it is not; None when the WIM cannot be
    /// served.
    pub shell: Option<String>,
}

/// Look for `sources/boot.wim` and an install image in the ISO's trees (UDF first).
fn windows_media<R: ReadAt>(iso: &mut R) -> Option<WindowsMedia> {
    let trees = IsoTrees::open(&mut *iso).ok()??;
    let boot = trees.find_first(&mut *iso, &["sources/boot.wim"]).ok()??;
    let install: Vec<String> =
        wim::INSTALL_IMAGE_NAMES.iter().map(|n| format!("sources/{n}")).collect();
    let install = trees.find_first(&mut *iso, &install).ok().flatten();
    let describe = |path: &str, tree: crate::isofiles::IsoTree| format!("{path} ({})", tree.name());
    // The boot manager's own plan, with a stand-in for the jump program (its bytes do not
    // change whether the WIM can be served).
    let size = iso.size();
    let plan = windows_iso::plan(&mut *iso, size, MAX_RESOURCE_BYTES, |_, s| s.to_vec());
    let (uefi_prompt, bios_prompt) = match &plan {
        Ok(p) => (Some(p.uefi_prompt.to_string()), Some(p.bios_prompt.to_string())),
        Err(_) => (None, None),
    };
    let shell = plan.as_ref().ok().map(|p| describe_shell(&p.shell));
    let jump_program = plan
        .map(|p| {
            let source = match &p.source {
                windows_iso::WimSource::Bcd(bcd) => format!("named by {bcd}"),
                windows_iso::WimSource::Default => String::from("the default"),
            };
            format!(
                "{} ({source}), image {}, the {} jump program",
                p.wim_path,
                p.patch.image,
                p.arch.name()
            )
        })
        .map_err(|e| e.to_string());
    Some(WindowsMedia {
        kind: if install.is_some() { "setup" } else { "pe" },
        boot_wim: describe(&boot.path, boot.member.tree()),
        install_image: install.map(|f| describe(&f.path, f.member.tree())),
        jump_program,
        uefi_prompt,
        bios_prompt,
        shell,
    })
}

/// `\Windows\System32\pecmd.exe (Setup\CmdLine: ...)`, `... winpeshl.exe`, with the reason
/// when `CmdLine` names another program.
fn describe_shell(shell: &windows_iso::Shell) -> String {
    let path = shell.path.replace('/', "\\");
    match (&shell.cmdline, &shell.note) {
        (Some(c), None) => format!("{path} (Setup\\CmdLine: {c})"),
        (Some(c), Some(why)) => format!("{path} (Setup\\CmdLine {c:?} not used: {why})"),
        (None, Some(why)) => format!("{path} ({why})"),
        (None, None) => path,
    }
}

/// Check one image read from `file`, with the drive's configuration under each firmware
/// (none for a file on this machine).
pub fn check_image<R: ReadAt>(
    path: &str,
    kind: ImageKind,
    file: &mut R,
    configs: &[(config::Firmware, &config::BootConfig)],
) -> ImageCheck {
    let size = file.size();
    // Each firmware's own answer, as its menu computes it.
    let mut mode = |firmware| {
        let plan = boot_plan::plan(kind, &mut *file, firmware);
        let status = match plan.status {
            Some(s) => s,
            None if !kind.is_bootable_yet() => {
                Status::NotBootable(menu::not_bootable_yet_reason(kind))
            }
            None => Status::Unknown,
        };
        let verdict = ModeVerdict::new(&status, plan.method);
        (status, verdict)
    };
    let (mut status, mut uefi_verdict) = mode(config::Firmware::Uefi);
    let (mut bios_status, mut bios_verdict) = mode(config::Firmware::Bios);
    if kind == ImageKind::Wim {
        // What the boot managers plan when the WIM boots (not when the menu is built): one
        // synthetic CD, with each firmware's boot files or without them.
        let len = file.size();
        let medium = winpe_medium::plan(&mut *file, len, &Default::default());
        let for_firmware = |name: &str, has: fn(&winpe_medium::WinPeMedium) -> bool| match &medium {
            Ok(m) if has(m) => Status::Bootable { uefi: name == "UEFI", bios: name == "BIOS" },
            Ok(m) => Status::NotBootable(format!(
                "the WIM has no {name} boot files ({})",
                m.missing
                    .iter()
                    .filter(|x| x.firmware == name)
                    .map(|x| x.wim_path)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Err(e) => Status::NotBootable(e.to_string()),
        };
        status = for_firmware("UEFI", |m| m.uefi);
        bios_status = for_firmware("BIOS", |m| m.bios);
        uefi_verdict = ModeVerdict::new(&status, Some(boot_plan::BootMethod::WinPeMedium));
        bios_verdict = ModeVerdict::new(&bios_status, Some(boot_plan::BootMethod::WinPeMedium));
    }
    let uefi = matches!(status, Status::Bootable { uefi: true, .. });
    let bios = matches!(bios_status, Status::Bootable { bios: true, .. });
    let problem = match &status {
        Status::NotBootable(reason) => Some(reason.clone()),
        _ => None,
    };
    let mut check = ImageCheck {
        path: path.to_string(),
        size,
        kind: kind.label(),
        uefi,
        bios,
        problem,
        uefi_verdict,
        bios_verdict,
        kernels: Vec::new(),
        initrds: Vec::new(),
        unwrapped_initrds: Vec::new(),
        init_family: None,
        expected_to_work: false,
        verdict: String::new(),
        warnings: Vec::new(),
        windows: None,
        secure_boot: None,
        extras: Vec::new(),
    };
    check.secure_boot = secure_boot::outlook(kind, file);
    let mut family = InitFamily::NoneNeeded;
    let mut boot_report = None;
    let boots_somewhere =
        check.uefi_verdict.boots == Some(true) || check.bios_verdict.boots == Some(true);
    if kind == ImageKind::Iso && boots_somewhere {
        match bootcfg::find_boot_entries(file) {
            Ok(report) => {
                // Entries whose kernel the ISO does not hold boot another disk's system: the
                // init family and the initrds are those of the entries that boot this ISO.
                let report = bootcfg::BootConfigReport {
                    entries: report
                        .entries
                        .iter()
                        .filter(|e| {
                            e.kernel.as_ref().is_none_or(|k| !report.missing_kernels.contains(k))
                        })
                        .cloned()
                        .collect(),
                    ..report.clone()
                };
                family = initfamily::detect(&report);
                check.kernels = dedup(report.entries.iter().filter_map(|e| e.kernel.clone()));
                check.initrds = report.initrds.iter().map(|i| i.path.clone()).collect();
                check.warnings = report.warnings.iter().map(|w| w.to_string()).collect();
                // The boot manager's own plan (the hook's size does not change which are wrapped).
                let plan = initrd_wrap::plan(&report.initrds, size, size, Vec::new().into());
                check.unwrapped_initrds =
                    plan.skipped.iter().map(|s| format!("{}: {}", s.path, s.reason)).collect();
                // Initrds in the El Torito EFI image (systemd-boot entries, e.g. archiso): the
                // boot manager serves those wrapped through the firmware's file system.
                let esp = eltorito_esp_config(file, &mut check.warnings).unwrap_or_default();
                check.initrds.extend(esp.initrds.iter().map(|i| format!("{i} (El Torito image)")));
                check.kernels.extend(
                    esp.entries
                        .iter()
                        .filter_map(|e| e.kernel.as_ref())
                        .map(|k| format!("{k} (El Torito image)")),
                );
                if matches!(family, InitFamily::NoneNeeded | InitFamily::Other) {
                    let esp_report = bootcfg::BootConfigReport {
                        entries: esp.entries.clone(),
                        ..Default::default()
                    };
                    let esp_family = initfamily::detect(&esp_report);
                    if esp_family != InitFamily::NoneNeeded {
                        family = esp_family;
                    }
                }
                // Initrds the ISO 9660 entries name that are in neither place are not wrapped.
                for e in &report.entries {
                    for i in &e.initrds {
                        let known = report.initrds.iter().any(|f| &f.path == i)
                            || esp.initrds.iter().any(|f| esp_wrap::same_path(f, i));
                        let line = format!("{i}: not in the ISO 9660 file tree");
                        if !known && !check.unwrapped_initrds.contains(&line) {
                            check.unwrapped_initrds.push(line);
                        }
                    }
                }
                check.init_family = Some(family.to_string());
                boot_report = Some(report);
            }
            Err(e) => check.warnings.push(format!("boot configuration unreadable: {e}")),
        }
    }
    (check.expected_to_work, check.verdict) =
        verdict(&check.uefi_verdict, &check.bios_verdict, family, &check.unwrapped_initrds);
    if kind == ImageKind::Iso {
        check.windows = windows_media(file);
        if let (Some(w), true) = (&check.windows, boots_somewhere) {
            (check.expected_to_work, check.verdict) = windows_verdict(w);
        }
    }
    let facts = linux_extras::ImageFacts {
        path,
        kind,
        family: check.init_family.is_some().then_some(family),
        report: boot_report.as_ref(),
        windows: check.windows.is_some(),
        unwrapped_initrds: check.unwrapped_initrds.len(),
    };
    check.extras = linux_extras::check(&facts, file, configs);
    check
}

/// Windows media start their boot manager from the El Torito image, but what runs next looks
/// for the medium again once Windows' own drivers have replaced the firmware's: the ISO that
/// polyboot serves through the firmware is gone by then.
fn windows_verdict(w: &WindowsMedia) -> (bool, String) {
    let what = match &w.install_image {
        Some(install) => {
            format!("Windows Setup medium (Setup looks for {install} once Windows runs)")
        }
        None => String::from("Windows PE medium"),
    };
    match &w.jump_program {
        Ok(served) => (
            true,
            format!(
                "{what}: in UEFI and BIOS mode polyboot serves {served}, in place of Windows PE's shell; \
                 in Windows PE it attaches this ISO as a DVD drive, then runs the original shell, so Setup finds its \
                 medium. Verified up to the WIM the firmware serves and the jump program under Wine, not with a real \
                 Windows (none can be had on the machines polyboot is tested on)"
            ),
        ),
        Err(why) => (
            false,
            format!(
                "{what}: its boot manager and Windows PE ({}) can start from the drive, but polyboot cannot serve its \
                 WIM with the jump program ({why}), so Setup is expected to stop asking for a media driver. For a \
                 portable Windows installed from this ISO, use `polyboot wtg create`",
                w.boot_wim
            ),
        ),
    }
}

/// The overall verdict: an image is expected to work when it boots in at least one mode (and
/// its init will find its medium); the text says in which.
fn verdict(
    uefi: &ModeVerdict,
    bios: &ModeVerdict,
    family: InitFamily,
    unwrapped: &[String],
) -> (bool, String) {
    let uefi_maybe;
    let modes = match (uefi.boots, bios.boots) {
        (Some(true), Some(true)) => "in UEFI and BIOS",
        (Some(true), Some(false)) => "in UEFI only",
        (Some(true), _) => "in UEFI",
        (None, Some(true)) => {
            let why = uefi.detail.replace(": the firmware will try", "");
            uefi_maybe = format!("in BIOS (in UEFI not certain: {why})");
            &uefi_maybe
        }
        (_, Some(true)) => "in BIOS only",
        (None, _) => {
            return (
                false,
                format!(
                    "UEFI boot not certain: {}",
                    uefi.detail.replace(": the firmware will try", "")
                ),
            )
        }
        (Some(false), None) => {
            return (
                false,
                format!("will not boot in UEFI: {}; BIOS: {}", uefi.detail, bios.detail),
            )
        }
        (Some(false), Some(false)) if uefi.detail == bios.detail => {
            return (false, format!("will not boot in UEFI nor BIOS: {}", uefi.detail))
        }
        (Some(false), Some(false)) => {
            return (
                false,
                format!("will not boot in UEFI ({}) nor in BIOS ({})", uefi.detail, bios.detail),
            )
        }
    };
    let how = match family {
        InitFamily::NoneNeeded => return (true, format!("expected to boot {modes}")),
        _ if !unwrapped.is_empty() => {
            return (
                false,
                format!(
                    "boots its kernel {modes}, but {family} will look for its medium and {} of its initrds cannot be \
                     wrapped with polyboot's hook ({}), so the medium may not be found",
                    unwrapped.len(),
                    unwrapped.join("; ")
                ),
            )
        }
        InitFamily::LiveBoot => "live-boot is pointed at it (LIVE_MEDIA), as it skips device-mapper devices when probing",
        InitFamily::DracutLive => "dracut finds it by label through polyboot's udev rule",
        InitFamily::Casper | InitFamily::Archiso => {
            "it should be found by label / UUID through polyboot's udev rule (not yet verified with this family)"
        }
        InitFamily::Other => {
            return (
                false,
                format!(
                    "boots its kernel {modes}; polyboot maps the ISO as /dev/mapper/polyboot, but {family} is not a \
                     family polyboot knows, so whether it looks there is uncertain"
                ),
            )
        }
    };
    (true, format!("expected to boot {modes}: polyboot wraps its initrds so that its hook maps the ISO as /dev/mapper/polyboot; {how}"))
}

/// The boot configuration inside the ISO's El Torito EFI image, when it is a readable FAT
/// volume with one; problems reading it become warnings.
fn eltorito_esp_config<R: ReadAt>(
    iso: &mut R,
    warnings: &mut Vec<String>,
) -> Option<esp_wrap::EspConfig> {
    let catalog = eltorito::read_catalog(&mut *iso).ok()?;
    let entry = catalog.efi_entry()?.clone();
    let at = entry.image_offset();
    let len = eltorito::fat_image_size(&mut *iso, at)?;
    let mut fat = match Slice::new(&mut *iso, at, len).map_err(FatError::Io).and_then(Fat::open) {
        Ok(f) => f,
        Err(e) => {
            warnings.push(format!("El Torito EFI image: {e}"));
            return None;
        }
    };
    let names: Vec<String> = fat
        .read_dir(bootcfg::LOADER_ENTRIES_DIR)
        .map(|v| v.into_iter().filter(|e| !e.is_dir).map(|e| e.name).collect())
        .unwrap_or_default();
    let config = esp_wrap::find_initrds(&names, |p| fat.read_file(p, bootcfg::MAX_FILE_SIZE).ok());
    // Keep only initrds that exist in the image, as the boot manager does.
    let mut config = config;
    config.initrds.retain(|p| fat.lookup(p).is_ok_and(|e| !e.is_dir));
    // The image's GRUB usually searches for the ISO and reads the ISO's own grub.cfg, which
    // from inside the image looks like a loop or a missing file: only report real trouble.
    for w in config
        .warnings
        .iter()
        .filter(|w| matches!(w.kind, WarningKind::ReadError | WarningKind::Limit))
    {
        warnings.push(format!("El Torito EFI image: {w}"));
    }
    (!config.files.is_empty()).then_some(config)
}

fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// A file or directory on the drive that the boot menu does not list, and why (core's scan
/// decides; see [`menu::SkipReason`]).
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    /// `too_small`, `dot_underscore`, `ignore_marker`, `system_directory`, `too_deep`,
    /// `unknown_extension` ([`menu::SkipReason::code`]) or `unreadable` (a directory the scan
    /// could not list).
    pub reason: &'static str,
    /// The reason for people.
    pub detail: String,
    /// An image the menu will not show although it was meant to be one (too small or
    /// truncated): makes `check` exit with status 1.
    pub problem: bool,
}

/// What `check` found on a drive (or about one image file).
#[derive(Debug, Serialize, Default)]
pub struct CheckReport {
    /// The images the menu lists (or the one asked about), checked.
    pub images: Vec<ImageCheck>,
    /// Everything else the boot manager's scan met and left out.
    pub skipped: Vec<Skipped>,
    /// The scan's other findings: boot configuration errors and warnings, limits reached.
    pub notes: Vec<String>,
}

impl CheckReport {
    /// Whether any image it reports is expected not to boot (`check` exits with status 1).
    pub fn has_problem(&self) -> bool {
        self.images.iter().any(|i| !i.expected_to_work) || self.skipped.iter().any(|s| s.problem)
    }
}

/// The boot configuration as the UEFI boot manager reads it (core's
/// [`session::read_config`]); problems are added to `notes`, with what the menu does.
fn drive_config<D: ReadAt>(
    fs: &mut polyboot_core::exfat::ExFat<D>,
    notes: &mut Vec<String>,
) -> config::BootConfig {
    let (cfg, problems) = session::read_config(fs, config::Firmware::Uefi);
    notes.extend(problems.iter().map(|p| match p {
        ConfigProblem::TooLarge(path) => format!(
            "config: {path} is larger than {} bytes; the boot menu ignores it",
            config::MAX_CONFIG_BYTES
        ),
        ConfigProblem::Unreadable(e) => format!("config: {e}; the boot menu ignores the file"),
        ConfigProblem::Warning(w) => format!("config: {w}"),
    }));
    cfg
}

/// Every image on a drive and every file the menu skips, or the one image at `image`.
pub fn check_drive(drive: &mut Drive, image: Option<&str>) -> Result<CheckReport> {
    let mut fs = drive.data()?;
    let mut report = CheckReport::default();
    // The configuration as each boot manager reads it (problems said once, for UEFI).
    let cfg = drive_config(&mut fs, &mut report.notes);
    let bios_cfg = session::read_config(&mut fs, config::Firmware::Bios).0;
    let configs = [(config::Firmware::Uefi, &cfg), (config::Firmware::Bios, &bios_cfg)];
    let images: Vec<(String, ImageKind)> = match image {
        Some(p) => {
            let path = polyboot_core::path::clean(p);
            let kind = ImageKind::from_name(&path)
                .with_context(|| format!("{path}: not an image file polyboot lists"))?;
            vec![(path, kind)]
        }
        None => {
            // The boot manager's own scan, with the drive's configuration.
            let scan = menu::scan(&mut fs, &cfg.scan_options());
            report.skipped = scan
                .skipped
                .iter()
                .map(|(path, why)| Skipped {
                    path: path.clone(),
                    reason: why.code(),
                    detail: why.to_string(),
                    problem: why.is_problem(),
                })
                .collect();
            report.skipped.extend(scan.errors.iter().map(|e| Skipped {
                path: e.path.clone(),
                reason: "unreadable",
                detail: format!("cannot be read: {}", e.message),
                problem: false,
            }));
            if scan.skipped_not_recorded > 0 {
                report.notes.push(format!(
                    "{} more skipped files and directories are not listed",
                    scan.skipped_not_recorded
                ));
            }
            if let Some(limit) = scan.limit {
                let what = match limit {
                    menu::ScanLimit::Images => "images",
                    menu::ScanLimit::Directories => "directories",
                };
                report.notes.push(format!(
                    "the scan stopped at its limit of {what}: not every image is listed"
                ));
            }
            scan.images.into_iter().map(|i| (i.path, i.kind)).collect()
        }
    };
    for (path, kind) in images {
        let mut file = fs.open_file(&path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        report.images.push(check_image(&path, kind, &mut file, &configs));
    }
    Ok(report)
}

/// An image file on the host, before it is copied to a drive.
pub fn check_host_file(path: &Path) -> Result<ImageCheck> {
    let name = path.to_string_lossy();
    let kind = ImageKind::from_name(&name).with_context(|| {
        format!(
            "{name}: not a polyboot drive nor an image file (.iso, .img, .efi, .wim, .vhd, .vhdx)"
        )
    })?;
    let mut dev = FileDevice::open(path)?;
    Ok(check_image(&name, kind, &mut dev, &[]))
}
