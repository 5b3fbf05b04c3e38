//! The session's Windows step: a Windows installer / WinPE ISO is served with a virtual
//! `boot.wim` whose shell is polyboot's jump program ([`crate::windows_iso`]), carrying the
//! original shell and a parameter block that names this drive, the data partition and the
//! ISO ([`crate::winpe_jump`]). The jump program itself is a file on the boot partition,
//! put there by `polyboot install` / `update`, read by both firmware adapters.

use alloc::string::String;
use alloc::vec::Vec;

use super::Log;
use crate::block::{ReadAt, Slice};
use crate::drive_location::DriveLocation;
use crate::fat::Fat;
use crate::handoff::DriveIdentity;
use crate::virtual_medium::VirtualMedium;
use crate::windows_iso::{self, JumpArch, WimSource, WindowsIsoPlan};
use crate::winpe_jump::{build_carrier, Flags, Params};

/// The jump program for 64-bit WinPE on the boot partition.
pub const WINPE_JUMP_X64: &str = "polyboot/winpe-x64.exe";
/// The jump program for 32-bit WinPE on the boot partition.
pub const WINPE_JUMP_X86: &str = "polyboot/winpe-x86.exe";

/// The boot partition's jump program for `arch`.
pub fn jump_program_file(arch: JumpArch) -> &'static str {
    match arch {
        JumpArch::X64 => WINPE_JUMP_X64,
        JumpArch::X86 => WINPE_JUMP_X86,
    }
}
/// A bound on what a corrupt boot partition makes us allocate.
const MAX_JUMP_PROGRAM: u64 = 16 << 20;
/// How long the jump program waits for the drive and for the ISO's drive letter.
const WAIT_SECONDS: u32 = 60;

/// The largest answer file handed to Setup (real ones are a few tens of KiB; the jump
/// program's parameter block holds at most 1 MiB).
pub const MAX_UNATTEND_BYTES: u64 = 512 << 10;

/// An answer file for Windows Setup, read from the data partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unattend {
    /// Where it was read (absolute path on the data partition).
    pub path: String,
    pub bytes: Vec<u8>,
}

/// What the configuration asks of Windows Setup, and what the firmware's memory allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsOptions {
    /// Windows 11's TPM / Secure Boot / RAM / storage / CPU checks skipped (`LabConfig`).
    pub bypass_requirements: bool,
    /// Setup's network requirement skipped (`BypassNRO`).
    pub bypass_nro: bool,
    /// Largest WIM image metadata read (it is held twice in memory while the virtual WIM is
    /// served); the BIOS boot code sets it from its heap.
    pub max_metadata: u64,
    /// The answer file Setup gets as `autounattend.xml` (Ventoy's `auto_install`).
    pub unattend: Option<Unattend>,
}

impl Default for WindowsOptions {
    fn default() -> Self {
        WindowsOptions {
            bypass_requirements: false,
            bypass_nro: false,
            max_metadata: crate::wim::resource::MAX_RESOURCE_BYTES,
            unattend: None,
        }
    }
}

impl WindowsOptions {
    /// What the boot configuration asks (`windows.*` in polyboot.json, Ventoy's
    /// `VTOY_WIN11_BYPASS_*`), with the default metadata bound and no answer file (see
    /// [`super::BootSession::windows_options`]).
    pub fn from_config(config: &crate::config::BootConfig) -> Self {
        WindowsOptions {
            bypass_requirements: config.win11_bypass_requirements,
            bypass_nro: config.win11_bypass_nro,
            ..WindowsOptions::default()
        }
    }
}

/// A file of the boot partition of `location` on `disk`, at most `max` bytes.
pub fn read_boot_file<D: ReadAt>(
    disk: &mut D,
    location: &DriveLocation,
    path: &str,
    max: u64,
) -> Result<Vec<u8>, String> {
    let part = Slice::new(&mut *disk, location.boot.offset, location.boot.size)
        .map_err(|e| alloc::format!("the boot partition lies outside the drive: {e}"))?;
    let mut fat = Fat::open(part)
        .map_err(|e| alloc::format!("the boot partition is not readable FAT: {e}"))?;
    fat.read_file(path, max).map_err(|e| alloc::format!("reading {path}: {e}"))
}

/// The jump program's parameters for the ISO at `iso_path` on the data partition.
pub fn jump_params(
    location: &DriveLocation,
    iso_path: &str,
    options: &WindowsOptions,
) -> Result<Params, String> {
    let identity = match (location.disk_guid, location.mbr_signature) {
        (Some(guid), _) => DriveIdentity::Gpt(guid),
        (None, Some(sig)) => DriveIdentity::Mbr(sig),
        (None, None) => {
            return Err(String::from("the drive has neither a GPT GUID nor an MBR signature"))
        }
    };
    let mut flags = 0;
    if options.bypass_requirements {
        flags |= Flags::BYPASS_REQUIREMENTS;
    }
    if options.bypass_nro {
        flags |= Flags::BYPASS_NRO;
    }
    let params = Params {
        flags: Flags(flags),
        identity: Some(identity),
        partition_offset: location.data.offset,
        iso_path: iso_path.replace('/', "\\"),
        log_path: String::new(),
        shell_path: String::new(),
        unattend_path: String::new(),
        unattend: options.unattend.as_ref().map(|u| u.bytes.clone()).unwrap_or_default(),
        wait_seconds: WAIT_SECONDS,
    };
    params.validate().map_err(|e| alloc::format!("{e}"))?;
    Ok(params)
}

/// Whether the ISO served by `layout` is Windows Setup or WinPE media: a BCD store with a
/// ramdisk entry, or `/sources/boot.wim`.
pub fn is_windows_iso<D: ReadAt>(layout: &VirtualMedium, disk: &mut D) -> bool {
    windows_iso::is_windows_iso(&mut layout.reader(&mut *disk))
}

/// Serve the Windows ISO at `iso_path` (served by `layout`, read through `disk`, the boot
/// drive of `location`) with the jump program from the boot partition in place of WinPE's
/// shell. Returns the applied plan; problems are logged and leave the image as it is (`None`):
/// WinPE still starts, and Setup then says itself that it misses its medium.
pub fn serve_windows<D: ReadAt>(
    layout: &mut VirtualMedium,
    disk: &mut D,
    location: &DriveLocation,
    iso_path: &str,
    options: WindowsOptions,
    log: Log<'_>,
) -> Option<WindowsIsoPlan> {
    let arch = match windows_iso::winpe_arch(&mut layout.reader(&mut *disk)) {
        Ok(a) => a,
        Err(e) => {
            log(format_args!("windows: boot.wim not served with the jump program: {e}"));
            return None;
        }
    };
    let file = jump_program_file(arch);
    let program = match read_boot_file(disk, location, file, MAX_JUMP_PROGRAM) {
        Ok(p) => p,
        Err(e) => {
            log(format_args!(
                "windows: no {} jump program ({e}); Setup will not find its medium",
                arch.name()
            ));
            return None;
        }
    };
    let params = match jump_params(location, iso_path, &options) {
        Ok(p) => p,
        Err(e) => {
            log(format_args!("windows: {e}; Setup will not find its medium"));
            return None;
        }
    };
    let start = layout.size();
    let plan = windows_iso::plan(
        &mut layout.reader(&mut *disk),
        start,
        options.max_metadata,
        // `arch` again: the same WIM read the same way.
        |_, shell| build_carrier(&program, shell, &params),
    );
    let plan = match plan {
        Ok(p) => p,
        Err(e) => {
            log(format_args!("windows: boot.wim not served with the jump program: {e}"));
            return None;
        }
    };
    if let Err(e) = plan.apply(layout) {
        // The plan places everything past the image, where nothing else is: a bug, not input.
        log(format_args!("windows: boot.wim not served with the jump program: {e}"));
        return None;
    }
    let named_by = match &plan.source {
        WimSource::Bcd(path) => alloc::format!("named by {path}"),
        WimSource::Default => String::from("the default"),
    };
    log(format_args!(
        "windows: {} ({named_by}) served with polyboot's jump program ({}) as image {}: {} -> {} bytes at block {}",
        plan.wim_path,
        arch.name(),
        plan.patch.image,
        plan.patch.original_size,
        plan.patch.size(),
        plan.at / windows_iso::SECTOR
    ));
    if let Some(u) = &options.unattend {
        log(format_args!(
            "windows: answer file {} ({} bytes) handed to Setup as autounattend.xml",
            u.path,
            u.bytes.len()
        ));
    }
    Some(plan)
}
