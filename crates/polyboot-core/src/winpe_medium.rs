//! A bare `.wim` (WinPE, a rescue WIM) served as a synthetic virtual CD: Windows' boot
//! manager boots the WIM as a ramdisk, with the boot files taken from inside the WIM itself
//! (nothing of Microsoft's is shipped) and BCD stores made by [`bcd::build_winpe_store`].
//!
//! The files read from the WIM's boot image (the image the header marks bootable, else 1),
//! where WinPE keeps them (the ADK's `Windows\Boot` tree, also what Windows installs in
//! `%windir%\Boot`):
//!
//! | file in the WIM | on the CD | firmware |
//! |---|---|---|
//! | `Windows\Boot\EFI\bootmgfw.efi` | `\EFI\BOOT\BOOTX64.EFI` in the EFI boot image | UEFI |
//! | `Windows\Boot\DVD\PCAT\etfsboot.com` | El Torito BIOS entry (no emulation), `\boot\etfsboot.com` | BIOS |
//! | `Windows\Boot\PCAT\bootmgr` | `\bootmgr` | BIOS |
//! | `Windows\Boot\DVD\PCAT\boot.sdi` (else `Windows\Boot\DVD\EFI\boot.sdi`) | `\boot\boot.sdi` | both |
//!
//! and the built ones: `\boot\bcd` (BIOS store, `winload.exe`), `\EFI\Microsoft\Boot\BCD`
//! (UEFI store, `winload.efi`; also inside the EFI boot image, next to `BOOTX64.EFI`), the
//! EFI boot image itself (`\EFI\Microsoft\Boot\efisys.bin`, a FAT12 volume, the El Torito EFI
//! entry), and `\sources\boot.wim`: the WIM, mapped from the file (never copied), which both
//! stores name as `ramdisk=[boot]\sources\boot.wim,{ramdiskoptions}`.
//!
//! A firmware whose files are missing is not offered (a WIM with only the EFI files boots
//! UEFI only); without `boot.sdi`, or without the files of either, the WIM is refused.
//!
//! The medium, from byte 0: the ISO 9660 metadata ([`iso9660_write`]: system area, PVD, boot
//! record, Joliet, catalog, path tables, directories), the boot files, the FAT image (one
//! memory region), then the WIM (2048-aligned, a region of the image file). The virtual
//! medium's "image" is the WIM file itself.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::bcd::{self, BcdError, BcdFirmware, WinPeStoreConfig};
use crate::block::{ReadAt, Slice};
use crate::fat::dirent::DosTimestamp;
use crate::fat::image::{self as fat_image, FatImageError};
use crate::guid::Guid;
use crate::iso9660_write::{self as isow, BootSpec, FileSpec, IsoWriteError};
use crate::virtual_medium::{RegionSource, VirtualMedium, VirtualMediumError, VirtualRegion};
use crate::wim::blob_table::{metadata_entry, read_blob_table};
use crate::wim::metadata::find_file;
use crate::wim::resource::read_resource;
use crate::wim::{read_header, WimError};

pub const SECTOR: u64 = 2048;
/// UEFI boot manager in the WIM.
pub const WIM_BOOTMGFW: &str = "/Windows/Boot/EFI/bootmgfw.efi";
/// BIOS CD boot sector in the WIM.
pub const WIM_ETFSBOOT: &str = "/Windows/Boot/DVD/PCAT/etfsboot.com";
/// BIOS boot manager in the WIM.
pub const WIM_BOOTMGR: &str = "/Windows/Boot/PCAT/bootmgr";
/// The ramdisk's SDI file in the WIM, in the order looked for.
pub const WIM_BOOT_SDI: [&str; 2] =
    ["/Windows/Boot/DVD/PCAT/boot.sdi", "/Windows/Boot/DVD/EFI/boot.sdi"];
/// Where the stores say the WIM and the SDI file are, on the boot device.
pub const BCD_WIM_PATH: &str = "\\sources\\boot.wim";
pub const BCD_SDI_PATH: &str = "\\boot\\boot.sdi";
/// Largest boot file read from the WIM (bootmgfw.efi is about 2.5 MiB, boot.sdi 3 MiB).
pub const MAX_BOOT_FILE: u64 = 16 << 20;
/// Largest CD boot sector accepted (etfsboot.com is 4 KiB; it is loaded below 640 KiB).
pub const MAX_ETFSBOOT: u64 = 64 << 10;
/// The El Torito sector count of the EFI entry is 16 bits of 512-byte sectors.
const MAX_EFI_IMAGE: u64 = 0xFFFF * 512;

/// How the stores are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinPeMediumOptions {
    /// The loader object's GUID (the core has no randomness of its own).
    pub loader: Guid,
    pub description: String,
    pub locale: String,
    pub timeout: u64,
    /// FILETIME of the stores' keys.
    pub timestamp: u64,
    /// The ISO 9660 volume id.
    pub volume_id: String,
}

impl Default for WinPeMediumOptions {
    fn default() -> Self {
        WinPeMediumOptions {
            loader: Guid::from_text("5ac1f3c6-4e0b-4c1a-9d34-706f6c79626f"),
            description: "Windows PE (polyboot)".into(),
            locale: "en-US".into(),
            timeout: 30,
            timestamp: 0x01DA_3C5B_2A00_0000,
            volume_id: "POLYBOOT_WINPE".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WinPeMediumError {
    Wim(WimError),
    /// Neither firmware can boot it; the text names what is missing.
    NotBootable(String),
    Bcd(BcdError),
    Fat(FatImageError),
    Iso(IsoWriteError),
    /// The WIM is too large for one ISO 9660 extent (4 GiB).
    TooLarge,
}

impl fmt::Display for WinPeMediumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WinPeMediumError::Wim(e) => write!(f, "{e}"),
            WinPeMediumError::NotBootable(why) => write!(f, "the WIM cannot boot: {why}"),
            WinPeMediumError::Bcd(e) => write!(f, "{e}"),
            WinPeMediumError::Fat(e) => write!(f, "{e}"),
            WinPeMediumError::Iso(e) => write!(f, "{e}"),
            WinPeMediumError::TooLarge => {
                f.write_str("the WIM is 4 GiB or larger: too large for a virtual CD")
            }
        }
    }
}

impl core::error::Error for WinPeMediumError {}

impl From<WimError> for WinPeMediumError {
    fn from(e: WimError) -> Self {
        WinPeMediumError::Wim(e)
    }
}

/// A file of the virtual CD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediumFile {
    /// `/`-separated, as Joliet shows it.
    pub path: String,
    pub lba: u32,
    pub len: u64,
}

/// A boot file the WIM does not have (or cannot serve), and the firmware that needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub wim_path: &'static str,
    pub firmware: &'static str,
    /// Why, when the file is there but not usable (too large).
    pub reason: Option<&'static str>,
}

/// The planned virtual CD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinPeMedium {
    /// The 1-based image the boot files came from.
    pub image: u32,
    pub uefi: bool,
    pub bios: bool,
    pub missing: Vec<Missing>,
    /// Where the SDI file came from in the WIM.
    pub sdi_source: &'static str,
    /// The WIM path both stores name (`\sources\boot.wim`).
    pub bcd_wim_path: &'static str,
    /// Every file of the ISO 9660 tree, in layout order (the WIM last).
    pub files: Vec<MediumFile>,
    /// Where the WIM starts on the medium (a multiple of 2048).
    pub wim_at: u64,
    /// Medium size in bytes (whole 2048-byte sectors).
    pub size: u64,
    pub regions: Vec<VirtualRegion>,
}

impl WinPeMedium {
    /// Add the plan to a virtual medium whose image is the WIM file.
    pub fn apply(&self, medium: &mut VirtualMedium) -> Result<(), VirtualMediumError> {
        for r in &self.regions {
            medium.add_region(r.at, r.len, r.source.clone())?;
        }
        Ok(())
    }

    /// The file at `path` (as in [`WinPeMedium::files`]).
    pub fn file(&self, path: &str) -> Option<&MediumFile> {
        self.files.iter().find(|f| f.path.eq_ignore_ascii_case(path))
    }
}

/// Read `path` of the image from the WIM; `Ok(None)` when the image has no such file (or an
/// empty one).
fn read_wim_file<D: ReadAt + ?Sized>(
    wim: &mut D,
    hdr: &crate::wim::WimHeader,
    entries: &[crate::wim::blob_table::BlobEntry],
    meta: &[u8],
    path: &str,
) -> Result<Option<Vec<u8>>, WimError> {
    let found = match find_file(meta, path) {
        Ok(f) => f,
        Err(WimError::NotInImage(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if found.hash == [0; 20] {
        return Ok(None);
    }
    let entry = entries
        .iter()
        .find(|e| e.hash == found.hash && !e.is_metadata())
        .ok_or(WimError::MissingBlob)?;
    let data = read_resource(wim, hdr, &entry.resource, "boot file", MAX_BOOT_FILE)?;
    Ok((!data.is_empty()).then_some(data))
}

/// The EFI removable-media name of a PE image's machine (`BOOTX64.EFI` when unknown).
fn efi_boot_name(pe: &[u8]) -> &'static str {
    let machine = crate::bytes::le32(pe, 0x3C)
        .ok()
        .and_then(|at| crate::bytes::le16(pe, (at as usize).checked_add(4)?).ok());
    match machine {
        Some(0x014C) => "BOOTIA32.EFI",
        Some(0xAA64) => "BOOTAA64.EFI",
        Some(0x01C4) => "BOOTARM.EFI",
        _ => "BOOTX64.EFI",
    }
}

/// Plan the virtual CD for the WIM of `wim_len` bytes on `wim`.
pub fn plan(
    wim: &mut impl ReadAt,
    wim_len: u64,
    opts: &WinPeMediumOptions,
) -> Result<WinPeMedium, WinPeMediumError> {
    let mut wim = Slice::new(wim, 0, wim_len).map_err(WimError::Io)?;
    let hdr = read_header(&mut wim)?;
    if hdr.pipable {
        return Err(WimError::CannotPatch("pipable WIMs (wimlib's streaming format)").into());
    }
    if hdr.is_split() {
        return Err(WimError::CannotPatch("split WIMs (.swm)").into());
    }
    if wim_len > u64::from(u32::MAX) {
        return Err(WinPeMediumError::TooLarge);
    }
    let image = if hdr.boot_index != 0 { hdr.boot_index } else { 1 };
    if image > hdr.image_count {
        return Err(WimError::BadImageIndex.into());
    }
    let entries = read_blob_table(&mut wim, &hdr)?;
    let meta_entry = *metadata_entry(&entries, image).ok_or(WimError::BadImageIndex)?;
    let limit = crate::wim::resource::MAX_RESOURCE_BYTES;
    let meta = read_resource(&mut wim, &hdr, &meta_entry.resource, "image metadata", limit)?;
    let mut read = |path| read_wim_file(&mut wim, &hdr, &entries, &meta, path);

    let mut missing = Vec::new();
    let mut need = |found: Option<Vec<u8>>, wim_path, firmware| {
        if found.is_none() {
            missing.push(Missing { wim_path, firmware, reason: None });
        }
        found
    };
    let bootmgfw = need(read(WIM_BOOTMGFW)?, WIM_BOOTMGFW, "UEFI");
    let mut etfsboot = need(read(WIM_ETFSBOOT)?, WIM_ETFSBOOT, "BIOS");
    let bootmgr = need(read(WIM_BOOTMGR)?, WIM_BOOTMGR, "BIOS");
    if etfsboot.as_ref().is_some_and(|e| e.len() as u64 > MAX_ETFSBOOT) {
        etfsboot = None;
        let reason = Some("larger than a CD boot sector can be (64 KiB)");
        missing.push(Missing { wim_path: WIM_ETFSBOOT, firmware: "BIOS", reason });
    }
    let mut sdi = None;
    for path in WIM_BOOT_SDI {
        if let Some(b) = read(path)? {
            sdi = Some((path, b));
            break;
        }
    }
    let Some((sdi_source, sdi)) = sdi else {
        return Err(WinPeMediumError::NotBootable(alloc::format!(
            "no {} (nor {}) in image {image}: Windows' boot manager needs it to boot a WIM",
            WIM_BOOT_SDI[0],
            WIM_BOOT_SDI[1]
        )));
    };
    let bios = etfsboot.is_some() && bootmgr.is_some();
    let uefi = bootmgfw.is_some();
    if !bios && !uefi {
        let names: Vec<&str> = missing.iter().map(|m| m.wim_path).collect();
        return Err(WinPeMediumError::NotBootable(alloc::format!(
            "image {image} has neither the UEFI boot files nor the BIOS ones (missing: {})",
            names.join(", ")
        )));
    }

    let store = |firmware| {
        bcd::build_winpe_store(&WinPeStoreConfig {
            firmware,
            loader: opts.loader,
            description: opts.description.clone(),
            wim_path: BCD_WIM_PATH.into(),
            sdi_path: BCD_SDI_PATH.into(),
            locale: opts.locale.clone(),
            timeout: opts.timeout,
            timestamp: opts.timestamp,
        })
        .map_err(WinPeMediumError::Bcd)
    };

    // Memory files in layout order; the WIM follows them.
    let mut mem: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut boot: Vec<BootSpec> = Vec::new();
    if let (Some(etfs), Some(mgr)) = (etfsboot, bootmgr) {
        mem.push(("/boot/etfsboot.com", etfs));
        mem.push(("/bootmgr", mgr));
        mem.push(("/boot/bcd", store(BcdFirmware::Bios)?));
    }
    mem.push(("/boot/boot.sdi", sdi));
    if let Some(mgfw) = bootmgfw {
        let bcd_store = store(BcdFirmware::Uefi)?;
        let name = alloc::format!("EFI/BOOT/{}", efi_boot_name(&mgfw));
        let fat = fat_image::build(
            &[(&name, &mgfw), ("EFI/Microsoft/Boot/BCD", &bcd_store)],
            b"EFISECTOR  ",
            DosTimestamp::new(2024, 1, 1, 0, 0, 0),
        )
        .map_err(WinPeMediumError::Fat)?;
        if fat.len() as u64 > MAX_EFI_IMAGE {
            return Err(WinPeMediumError::Fat(FatImageError::TooLarge));
        }
        mem.push(("/EFI/Microsoft/Boot/BCD", bcd_store));
        mem.push(("/EFI/Microsoft/Boot/efisys.bin", fat));
    }
    let mut specs: Vec<FileSpec> =
        mem.iter().map(|(p, b)| FileSpec { path: (*p).into(), len: b.len() as u64 }).collect();
    specs.push(FileSpec { path: "/sources/boot.wim".into(), len: wim_len });
    let index = |p: &str| mem.iter().position(|(q, _)| *q == p);
    let sectors = |i: usize| u16::try_from(mem[i].1.len().div_ceil(512)).unwrap_or(u16::MAX);
    if let Some(i) = index("/boot/etfsboot.com") {
        boot.push(BootSpec { platform: isow::PLATFORM_BIOS, file: i, sectors: sectors(i) });
    }
    if let Some(i) = index("/EFI/Microsoft/Boot/efisys.bin") {
        boot.push(BootSpec { platform: isow::PLATFORM_EFI, file: i, sectors: sectors(i) });
    }
    let layout = isow::layout(&opts.volume_id, &specs, &boot).map_err(WinPeMediumError::Iso)?;

    let wim_lba = *layout.file_lbas.last().ok_or(WinPeMediumError::TooLarge)?;
    let wim_at = u64::from(wim_lba) * SECTOR;
    let mut buf = layout.head;
    for (i, (_, bytes)) in mem.iter().enumerate() {
        let at = layout.file_lbas[i] as usize * SECTOR as usize;
        buf.resize(at, 0);
        buf.extend_from_slice(bytes);
    }
    let files = specs
        .iter()
        .zip(&layout.file_lbas)
        .map(|(s, &lba)| MediumFile { path: s.path.clone(), lba, len: s.len })
        .collect();
    let mut regions = alloc::vec![VirtualRegion {
        at: 0,
        len: wim_at,
        source: RegionSource::Memory(Arc::from(buf.as_slice())),
    }];
    if wim_len > 0 {
        regions.push(VirtualRegion {
            at: wim_at,
            len: wim_len,
            source: RegionSource::Image { offset: 0 },
        });
    }
    Ok(WinPeMedium {
        image,
        uefi,
        bios,
        missing,
        sdi_source,
        bcd_wim_path: BCD_WIM_PATH,
        files,
        wim_at,
        size: u64::from(layout.volume_sectors) * SECTOR,
        regions,
    })
}

#[cfg(test)]
pub(crate) mod test_wim {
    //! A tiny uncompressed WIM (one image, marked bootable) holding the given files.
    use alloc::vec;
    use alloc::vec::Vec;

    use crate::sha1::sha1;

    fn dentry(name: &str, dir: bool, hash: [u8; 20]) -> Vec<u8> {
        let units: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let len = (104 + units.len()).div_ceil(8) * 8;
        let mut d = vec![0u8; len];
        d[..8].copy_from_slice(&(len as u64).to_le_bytes());
        d[8..12].copy_from_slice(&(if dir { 0x10u32 } else { 0x80 }).to_le_bytes());
        d[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        d[64..84].copy_from_slice(&hash);
        d[100..102].copy_from_slice(&(units.len() as u16).to_le_bytes());
        d[102..102 + units.len()].copy_from_slice(&units);
        d
    }

    /// Children of the directory `prefix` (`""` = root): (name, is_dir).
    fn children<'a>(files: &[(&'a str, &[u8])], prefix: &str) -> Vec<(&'a str, bool)> {
        let mut out: Vec<(&str, bool)> = Vec::new();
        for (p, _) in files {
            let Some(rest) = p.strip_prefix(prefix) else { continue };
            let rest = rest.trim_start_matches('/');
            if rest.is_empty() || (!prefix.is_empty() && !p[prefix.len()..].starts_with('/')) {
                continue;
            }
            let (name, dir) = match rest.find('/') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, dir));
            }
        }
        out
    }

    fn emit(meta: &mut Vec<u8>, files: &[(&str, &[u8])], prefix: &str) -> usize {
        let first = meta.len();
        let kids = children(files, prefix);
        let mut offsets = Vec::new();
        for (name, dir) in &kids {
            let path = if prefix.is_empty() {
                alloc::string::String::from(*name)
            } else {
                alloc::format!("{prefix}/{name}")
            };
            let hash = files.iter().find(|(p, _)| *p == path).map_or([0; 20], |(_, b)| sha1(b));
            offsets.push((meta.len(), path, *dir));
            meta.extend(dentry(name, *dir, hash));
        }
        meta.extend([0u8; 8]);
        for (at, path, dir) in offsets {
            if dir {
                let sub = emit(meta, files, &path);
                meta[at + 16..at + 24].copy_from_slice(&(sub as u64).to_le_bytes());
            }
        }
        first
    }

    fn reshdr(size: u64, flags: u8, offset: u64) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&(size | (u64::from(flags) << 56)).to_le_bytes());
        b[8..16].copy_from_slice(&offset.to_le_bytes());
        b[16..].copy_from_slice(&size.to_le_bytes());
        b
    }

    /// The WIM bytes; `files` are paths without a leading `/` (`Windows/Boot/...`).
    pub fn build(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut meta = vec![8, 0, 0, 0, 0, 0, 0, 0];
        let root_at = meta.len();
        meta.extend(dentry("", true, [0; 20]));
        meta.extend([0u8; 8]);
        let sub = emit(&mut meta, files, "");
        meta[root_at + 16..root_at + 24].copy_from_slice(&(sub as u64).to_le_bytes());

        let mut wim = vec![0u8; 208];
        let mut table = Vec::new();
        for (_, b) in files {
            let at = wim.len() as u64;
            wim.extend_from_slice(b);
            table.extend(reshdr(b.len() as u64, 0, at));
            table.extend(1u16.to_le_bytes());
            table.extend(1u32.to_le_bytes());
            table.extend(sha1(b));
        }
        let meta_at = wim.len() as u64;
        wim.extend_from_slice(&meta);
        let meta_hdr = reshdr(meta.len() as u64, 2, meta_at);
        table.extend(meta_hdr);
        table.extend(1u16.to_le_bytes());
        table.extend(1u32.to_le_bytes());
        table.extend(sha1(&meta));
        let table_at = wim.len() as u64;
        wim.extend_from_slice(&table);
        wim[..8].copy_from_slice(b"MSWIM\0\0\0");
        wim[8..12].copy_from_slice(&208u32.to_le_bytes());
        wim[12..16].copy_from_slice(&0x10d00u32.to_le_bytes());
        wim[40..42].copy_from_slice(&1u16.to_le_bytes());
        wim[42..44].copy_from_slice(&1u16.to_le_bytes());
        wim[44..48].copy_from_slice(&1u32.to_le_bytes());
        wim[48..72].copy_from_slice(&reshdr(table.len() as u64, 0, table_at));
        wim[96..120].copy_from_slice(&meta_hdr);
        wim[120..124].copy_from_slice(&1u32.to_le_bytes());
        wim
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use crate::fat::read::Fat;
    use crate::virtual_medium::Extent;
    use crate::{eltorito, iso9660};
    use alloc::vec;

    fn pat(seed: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    struct Served {
        medium: WinPeMedium,
        bytes: Vec<u8>,
        wim: Vec<u8>,
    }

    fn serve(files: &[(&str, &[u8])]) -> Result<Served, WinPeMediumError> {
        let wim = test_wim::build(files);
        let len = wim.len() as u64;
        let mut dev = MemDevice::from_vec(wim.clone());
        let medium = plan(&mut dev, len, &WinPeMediumOptions::default())?;
        let mut vm = VirtualMedium::new(
            2048,
            len,
            0,
            vec![Extent { file_offset: 0, device_offset: 0, len }],
        )
        .unwrap();
        medium.apply(&mut vm).unwrap();
        assert_eq!(vm.size(), medium.size);
        let mut bytes = vec![0u8; vm.size() as usize];
        vm.read(&mut dev, 0, &mut bytes).unwrap();
        Ok(Served { medium, bytes, wim })
    }

    fn all_files() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("Windows/Boot/EFI/bootmgfw.efi", pat(1, 70_000)),
            ("Windows/Boot/DVD/PCAT/etfsboot.com", pat(2, 4096)),
            ("Windows/Boot/PCAT/bootmgr", pat(3, 30_000)),
            ("Windows/Boot/DVD/PCAT/boot.sdi", pat(4, 20_000)),
            ("Windows/System32/winpeshl.exe", pat(5, 1000)),
        ]
    }

    fn refs<'a>(v: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
        v.iter().map(|(p, b)| (*p, b.as_slice())).collect()
    }

    #[test]
    fn a_full_winpe_boots_both_ways_and_reads_back() {
        let files = all_files();
        let s = serve(&refs(&files)).unwrap();
        assert!(s.medium.uefi && s.medium.bios, "{:?}", s.medium.missing);
        assert!(s.medium.missing.is_empty());
        assert_eq!(s.medium.wim_at % 2048, 0);
        let mut dev = MemDevice::from_vec(s.bytes);
        let info = iso9660::probe(&mut dev).unwrap();
        let joliet = info.joliet.clone().unwrap().tree;
        for tree in [&info.primary, &joliet] {
            for f in &s.medium.files {
                let e = iso9660::lookup(&mut dev, tree, &f.path).unwrap();
                let data = iso9660::read_to_vec(&mut dev, &e, 1 << 30).unwrap();
                assert_eq!(data.len() as u64, f.len, "{}", f.path);
            }
            let e = iso9660::lookup(&mut dev, tree, "/sources/boot.wim").unwrap();
            assert_eq!(iso9660::read_to_vec(&mut dev, &e, 1 << 30).unwrap(), s.wim);
            let e = iso9660::lookup(&mut dev, tree, "/bootmgr").unwrap();
            assert_eq!(iso9660::read_to_vec(&mut dev, &e, 1 << 30).unwrap(), files[2].1);
            let e = iso9660::lookup(&mut dev, tree, "/boot/boot.sdi").unwrap();
            assert_eq!(iso9660::read_to_vec(&mut dev, &e, 1 << 30).unwrap(), files[3].1);
        }
        let cat = eltorito::read_catalog(&mut dev).unwrap();
        assert!(cat.can_boot_bios() && cat.can_boot_uefi());
        let bios = cat.bios_entry().unwrap();
        let etfs = s.medium.file("/boot/etfsboot.com").unwrap();
        assert_eq!(bios.image_offset(), u64::from(etfs.lba) * 2048);
        let (efi_at, efi_len) = cat.efi_image_range(&mut dev).unwrap();
        let efi = dev.data[efi_at as usize..(efi_at + efi_len) as usize].to_vec();
        let mut fat = Fat::open(MemDevice::from_vec(efi)).unwrap();
        assert_eq!(fat.read_file("EFI/BOOT/BOOTX64.EFI", 1 << 24).unwrap(), files[0].1);
        let store = fat.read_file("EFI/Microsoft/Boot/BCD", 1 << 24).unwrap();
        let entries = bcd::winpe_wim_paths(&store).unwrap();
        assert_eq!(entries[0].wim_path.replace('\\', "/"), "/sources/boot.wim");
        assert_eq!(
            entries[0].sdi_path.as_deref().map(|p| p.replace('\\', "/")).as_deref(),
            Some("/boot/boot.sdi")
        );
    }

    #[test]
    fn missing_files_drop_one_firmware() {
        let files = all_files();
        let efi_only: Vec<_> = refs(&files)
            .into_iter()
            .filter(|(p, _)| !p.contains("PCAT/b") && !p.contains("etfs"))
            .collect();
        // boot.sdi from the EFI directory instead.
        let mut efi_only = efi_only;
        efi_only.push(("Windows/Boot/DVD/EFI/boot.sdi", &files[3].1));
        let s = serve(&efi_only).unwrap();
        assert!(s.medium.uefi && !s.medium.bios);
        assert_eq!(s.medium.sdi_source, WIM_BOOT_SDI[1]);
        let missing: Vec<_> = s.medium.missing.iter().map(|m| m.wim_path).collect();
        assert_eq!(missing, [WIM_ETFSBOOT, WIM_BOOTMGR]);
        assert!(s.medium.file("/bootmgr").is_none());

        let bios_only: Vec<_> =
            refs(&files).into_iter().filter(|(p, _)| !p.contains("bootmgfw")).collect();
        let s = serve(&bios_only).unwrap();
        assert!(!s.medium.uefi && s.medium.bios);
        assert!(s.medium.file("/EFI/Microsoft/Boot/BCD").is_none());
        let mut dev = MemDevice::from_vec(s.bytes);
        let cat = eltorito::read_catalog(&mut dev).unwrap();
        assert!(cat.can_boot_bios() && !cat.can_boot_uefi());
    }

    #[test]
    fn unbootable_wims_are_refused_with_a_reason() {
        let files = all_files();
        let none: Vec<_> = refs(&files)
            .into_iter()
            .filter(|(p, _)| p.contains("boot.sdi") || p.contains("System32"))
            .collect();
        let e = serve(&none).err().unwrap();
        let text = alloc::format!("{e}");
        assert!(text.contains("neither") && text.contains("bootmgfw.efi"), "{text}");
        let no_sdi: Vec<_> =
            refs(&files).into_iter().filter(|(p, _)| !p.contains("boot.sdi")).collect();
        let text = alloc::format!("{}", serve(&no_sdi).err().unwrap());
        assert!(text.contains("boot.sdi"), "{text}");
        let mut dev = MemDevice::from_vec(vec![0u8; 4096]);
        assert!(matches!(
            plan(&mut dev, 4096, &WinPeMediumOptions::default()),
            Err(WinPeMediumError::Wim(_))
        ));
        let mut dev = MemDevice::from_vec(vec![0u8; 10]);
        assert!(plan(&mut dev, 4096, &WinPeMediumOptions::default()).is_err());
    }
}
