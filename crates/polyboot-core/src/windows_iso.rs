//! A Windows installer (or WinPE) ISO served so that Setup finds its medium: the boot manager
//! serves a virtual `boot.wim` in which WinPE's shell is polyboot's jump program (which mounts
//! the ISO file in WinPE and then runs the original shell).
//!
//! 1. Which WIM: the ramdisk device of the ISO's BCD (`/efi/microsoft/boot/bcd`, then
//!    `/boot/bcd`), read from the UDF tree (Microsoft's ISOs keep their files only there) or
//!    the ISO 9660 tree; `/sources/boot.wim` when neither names one.
//! 2. The virtual WIM ([`wim::patch`]) with the jump program in place of WinPE's shell (the
//!    program the image's `Setup\CmdLine` names, else `winpeshl.exe`: [`shell`]), placed past the end of the image: the original WIM's
//!    bytes (mapped from the image) with the new header over its first 208 bytes, then the
//!    appended bytes.
//! 3. The file's entries point at it: its UDF file entry (and the partition, grown to cover
//!    it) and its ISO 9660 records (primary and Joliet), as byte overrides.
//!
//! 4. The "Press any key to boot from CD or DVD" prompt is skipped ([`prompt`]): the El Torito
//!    EFI entry loads `efisys_noprompt.bin`, and `\boot\bootfix.bin` is hidden from BIOS'
//!    `etfsboot.com`.
//!
//! Pure planning: the result is regions and overrides for the virtual medium; nothing is
//! written.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::bcd;
use crate::block::{ReadAt, Slice};
use crate::iso9660::{self, RECORD_EXTENT_FIELD};
use crate::udf::{
    self,
    redirect::{redirect, relocated_anchor},
};
use crate::virtual_medium::{
    ByteOverride, RegionSource, VirtualMedium, VirtualMediumError, VirtualRegion,
};
use crate::wim::patch::{replace_chosen_file, WimPatch};
use crate::wim::WimError;

pub mod prompt;
pub mod shell;
pub use prompt::Prompt;
pub use shell::Shell;

pub const SECTOR: u64 = 2048;
/// The BCD stores a Windows ISO boots from: UEFI's, then BIOS'.
pub const BCD_PATHS: [&str; 2] = ["/efi/microsoft/boot/bcd", "/boot/bcd"];
/// Where Setup's WinPE image is when no BCD names one.
pub const DEFAULT_WIM: &str = "/sources/boot.wim";
/// Largest BCD store read.
const MAX_BCD_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowsIsoError {
    /// The WIM named by the BCD (or the default) is in neither tree.
    NoWim(String),
    /// The WIM is not one contiguous range of the image (fragmented UDF extents, several ISO
    /// 9660 sections): the virtual file could not map it.
    Fragmented(String),
    Wim(WimError),
    /// The UDF tree could not be pointed at the virtual WIM; the text says why.
    Udf(String),
    /// The virtual file lies past what ISO 9660 and UDF can address (4 GiB sizes, 2^32
    /// blocks).
    TooLarge,
    /// The WinPE image is for a processor polyboot has no jump program for (ARM, Itanium).
    UnsupportedArch(&'static str),
    Medium(VirtualMediumError),
}

impl fmt::Display for WindowsIsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowsIsoError::NoWim(p) => write!(f, "no WinPE image: {p} is not on the ISO"),
            WindowsIsoError::Fragmented(p) => {
                write!(f, "{p} is not stored in one piece on the ISO")
            }
            WindowsIsoError::Wim(e) => write!(f, "{e}"),
            WindowsIsoError::Udf(why) => write!(f, "cannot redirect the UDF file entry: {why}"),
            WindowsIsoError::TooLarge => f.write_str("the virtual WIM would be too large"),
            WindowsIsoError::UnsupportedArch(arch) => write!(
                f,
                "its Windows PE is {arch}: polyboot's jump program runs in x64 and x86 Windows PE only"
            ),
            WindowsIsoError::Medium(e) => write!(f, "{e}"),
        }
    }
}

impl From<WimError> for WindowsIsoError {
    fn from(e: WimError) -> Self {
        WindowsIsoError::Wim(e)
    }
}

/// Which jump program a WinPE image needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JumpArch {
    X64,
    X86,
}

impl JumpArch {
    pub fn name(self) -> &'static str {
        match self {
            JumpArch::X64 => "x64",
            JumpArch::X86 => "x86",
        }
    }
}

/// The jump program the boot image of the WIM in `wim` needs, from its XML's `ARCH`: x64 when
/// the XML says nothing (or cannot be read: the patch then says what is wrong).
fn boot_image_arch<W: ReadAt>(wim: &mut W) -> Result<JumpArch, WindowsIsoError> {
    let Ok(info) = crate::wim::read_info(wim) else { return Ok(JumpArch::X64) };
    let boot = info.header.boot_index.max(1) as usize;
    match info.xml.images.get(boot - 1).and_then(|i| i.arch) {
        None | Some(crate::wim::arch::X64) => Ok(JumpArch::X64),
        Some(crate::wim::arch::X86) => Ok(JumpArch::X86),
        Some(a) => {
            Err(WindowsIsoError::UnsupportedArch(crate::wim::arch_name(a).unwrap_or("unknown")))
        }
    }
}

/// The ISO's WinPE image: its path, where the path came from, its entries in the trees, and
/// where its bytes are (in one piece, or an error).
struct WimOnIso {
    path: String,
    source: WimSource,
    found: Located,
    offset: u64,
    size: u64,
}

fn wim_on_iso<D: ReadAt>(dev: &mut D) -> Result<WimOnIso, WindowsIsoError> {
    let (path, source) = find_wim(dev);
    let found = locate(dev, &path);
    let range = match (&found.udf, found.iso.first()) {
        (Some((_, e)), _) => e.contiguous_range(),
        (None, Some(e)) if e.sections.len() == 1 => Some((e.sections[0].offset, e.size)),
        (None, Some(_)) => None,
        (None, None) => return Err(WindowsIsoError::NoWim(path)),
    };
    let (offset, size) = range.ok_or_else(|| WindowsIsoError::Fragmented(path.clone()))?;
    Ok(WimOnIso { path, source, found, offset, size })
}

/// The jump program the ISO's WinPE image needs (what [`plan`] will ask `jump` for).
pub fn winpe_arch<D: ReadAt>(dev: &mut D) -> Result<JumpArch, WindowsIsoError> {
    let on_iso = wim_on_iso(dev)?;
    let mut wim = Slice::new(&mut *dev, on_iso.offset, on_iso.size)
        .map_err(|e| WindowsIsoError::Wim(WimError::Io(e)))?;
    boot_image_arch(&mut wim)
}

/// Where the WIM's name came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WimSource {
    /// The ramdisk device of the BCD store at this path.
    Bcd(String),
    Default,
}

/// The plan for one ISO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsIsoPlan {
    pub wim_path: String,
    pub source: WimSource,
    /// Where the WIM is in the image (bytes).
    pub wim_offset: u64,
    pub patch: WimPatch,
    /// Where the virtual WIM starts on the medium (a multiple of 2048).
    pub at: u64,
    /// Which trees were pointed at it.
    pub udf_redirected: bool,
    pub iso9660_records: usize,
    /// The jump program's architecture (the boot image's).
    pub arch: JumpArch,
    /// WinPE's shell, replaced by the jump program: `Setup\CmdLine`'s program or
    /// `winpeshl.exe`.
    pub shell: Shell,
    /// The "Press any key to boot from CD or DVD" prompt in UEFI and in BIOS.
    pub uefi_prompt: Prompt,
    pub bios_prompt: Prompt,
    pub regions: Vec<VirtualRegion>,
    pub overrides: Vec<ByteOverride>,
}

impl WindowsIsoPlan {
    /// Add the plan to a virtual medium of the image.
    pub fn apply(&self, medium: &mut VirtualMedium) -> Result<(), VirtualMediumError> {
        for r in &self.regions {
            medium.add_region(r.at, r.len, r.source.clone())?;
        }
        for o in &self.overrides {
            medium.add_override(o.at, o.bytes.clone())?;
        }
        Ok(())
    }
}

/// A file of the ISO found in the UDF and/or ISO 9660 tree.
struct Located {
    udf: Option<(udf::UdfVolume, udf::UdfEntry)>,
    iso: Vec<iso9660::IsoEntry>,
}

fn locate<D: ReadAt>(dev: &mut D, path: &str) -> Located {
    let udf = udf::probe(dev)
        .ok()
        .and_then(|vol| vol.lookup(dev, path).ok().filter(|e| !e.is_dir()).map(|e| (vol, e)));
    let mut iso = Vec::new();
    if let Ok(info) = iso9660::probe(dev) {
        let trees = core::iter::once(info.primary.clone()).chain(info.joliet.map(|j| j.tree));
        for tree in trees {
            if let Ok(e) = iso9660::lookup(dev, &tree, path) {
                if !e.is_dir() {
                    iso.push(e);
                }
            }
        }
    }
    Located { udf, iso }
}

/// The bytes of `path` (at most `limit`), from whichever tree has it.
fn read_small<D: ReadAt>(dev: &mut D, path: &str, limit: u64) -> Option<Vec<u8>> {
    let found = locate(dev, path);
    if let Some((vol, e)) = &found.udf {
        if e.size <= limit {
            let mut buf = alloc::vec![0u8; e.size as usize];
            if vol.read_file(dev, e, 0, &mut buf).is_ok() {
                return Some(buf);
            }
        }
    }
    let e = found.iso.first()?;
    if e.size > limit {
        return None;
    }
    let mut buf = alloc::vec![0u8; e.size as usize];
    iso9660::read_file(dev, e, 0, &mut buf).ok()?;
    Some(buf)
}

/// Whether the ISO is Windows Setup or WinPE media: a BCD store with a ramdisk entry, or the
/// default WIM.
pub fn is_windows_iso<D: ReadAt>(dev: &mut D) -> bool {
    let (path, _) = find_wim(dev);
    let found = locate(dev, &path);
    found.udf.is_some() || !found.iso.is_empty()
}

/// The WinPE image the ISO boots: the first WIM a BCD's ramdisk device names, else the default.
pub fn find_wim<D: ReadAt>(dev: &mut D) -> (String, WimSource) {
    for bcd_path in BCD_PATHS {
        let Some(hive) = read_small(dev, bcd_path, MAX_BCD_BYTES) else { continue };
        if let Ok(entries) = bcd::winpe_wim_paths(&hive) {
            if let Some(e) = entries.into_iter().next() {
                return (e.wim_path, WimSource::Bcd(String::from(bcd_path)));
            }
        }
    }
    (String::from(DEFAULT_WIM), WimSource::Default)
}

/// Plan the virtual medium changes for the ISO on `dev`, the virtual WIM placed from byte
/// `start` on (rounded up to 2048; normally the medium's current size). `jump` makes the jump
/// program for the boot image's architecture ([`winpe_arch`]) from the original shell's bytes;
/// the WIM image's metadata is read up to `max_metadata` bytes ([`replace_chosen_file`]).
pub fn plan<D: ReadAt>(
    dev: &mut D,
    start: u64,
    max_metadata: u64,
    jump: impl FnOnce(JumpArch, &[u8]) -> Vec<u8>,
) -> Result<WindowsIsoPlan, WindowsIsoError> {
    let WimOnIso { path: wim_path, source, found, offset: wim_offset, size: wim_size } =
        wim_on_iso(dev)?;
    let mut shell = None;
    let (patch, arch) = {
        let mut wim = Slice::new(&mut *dev, wim_offset, wim_size)
            .map_err(|e| WindowsIsoError::Wim(WimError::Io(e)))?;
        // The jump program must be built for the WinPE's processor.
        let arch = boot_image_arch(&mut wim)?;
        let patch = replace_chosen_file(
            &mut wim,
            0,
            |read| {
                let chosen = shell::choose_shell(read, max_metadata);
                let path = chosen.path.clone();
                shell = Some(chosen);
                path
            },
            max_metadata,
            |original| jump(arch, original),
        )?;
        (patch, arch)
    };
    let shell =
        shell.unwrap_or_else(|| Shell { path: patch.path.clone(), cmdline: None, note: None });
    let at = start
        .max(dev.size())
        .div_ceil(SECTOR)
        .checked_mul(SECTOR)
        .ok_or(WindowsIsoError::TooLarge)?;
    let size = patch.size();
    let mut regions = alloc::vec![
        VirtualRegion {
            at,
            len: patch.original_size,
            source: RegionSource::Image { offset: wim_offset }
        },
        VirtualRegion {
            at: at + patch.original_size,
            len: patch.appended.len() as u64,
            source: RegionSource::Memory(Arc::from(patch.appended.as_slice())),
        },
    ];
    let mut overrides = alloc::vec![ByteOverride { at, bytes: patch.header.to_vec() }];

    let udf_redirected = match &found.udf {
        Some((vol, e)) => {
            let udf_err = |e: udf::UdfError| WindowsIsoError::Udf(alloc::format!("{e}"));
            let patches = redirect(vol, dev, e, at, size).map_err(udf_err)?;
            overrides.extend(patches.into_iter().map(|(at, bytes)| ByteOverride { at, bytes }));
            // The medium's last block is an anchor again (after the virtual WIM).
            let end = (at + size).div_ceil(SECTOR) * SECTOR;
            let block = u32::try_from(end / SECTOR).map_err(|_| WindowsIsoError::TooLarge)?;
            let anchor = relocated_anchor(vol, dev, block).map_err(udf_err)?;
            regions.push(VirtualRegion {
                at: end,
                len: anchor.len() as u64,
                source: RegionSource::Memory(Arc::from(anchor.as_slice())),
            });
            true
        }
        None => false,
    };
    let lba = u32::try_from(at / SECTOR).ok();
    let len = u32::try_from(size).ok();
    let mut iso9660_records = 0;
    for e in found.iso.iter().filter(|e| e.sections.len() == 1) {
        // A file over 4 GiB or past 2^32 blocks keeps its ISO 9660 record (UDF still works).
        let (Some(lba), Some(len)) = (lba, len) else { break };
        let mut bytes = alloc::vec![0u8]; // no extended attribute record before the extent
        bytes.extend_from_slice(&iso9660::extent_fields(lba, len));
        overrides.push(ByteOverride { at: e.record_offset() + RECORD_EXTENT_FIELD - 1, bytes });
        iso9660_records += 1;
    }
    if !udf_redirected && iso9660_records == 0 {
        return Err(WindowsIsoError::TooLarge);
    }
    let (uefi_prompt, more) = prompt::skip_uefi_prompt(dev);
    overrides.extend(more);
    let (bios_prompt, more) = prompt::skip_bios_prompt(dev);
    overrides.extend(more);
    Ok(WindowsIsoPlan {
        wim_path,
        source,
        wim_offset,
        patch,
        at,
        udf_redirected,
        iso9660_records,
        arch,
        shell,
        uefi_prompt,
        bios_prompt,
        regions,
        overrides,
    })
}
