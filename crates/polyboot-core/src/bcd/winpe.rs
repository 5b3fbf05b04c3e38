//! WinPE ramdisk stores: what a Windows installer ISO's `\boot\bcd` (BIOS) and
//! `\efi\microsoft\boot\bcd` (UEFI) hold, and what polyboot writes to boot a bare `.wim`.
//!
//! Such a store's Windows Boot Loader has `device` and `osdevice` elements that are *ramdisk*
//! devices, `ramdisk=[boot]\sources\boot.wim,{ramdiskoptions}` in bcdedit's words: the WIM is
//! read into memory and booted from there, with `winpe` (0x26000022) and `detecthal`
//! (0x26000010) set. The ramdisk's options live in a device object, usually
//! `{ramdiskoptions}` ([`RAMDISK_OPTIONS`], type [`TYPE_DEVICE_OPTIONS`]): `ramdisksdidevice`
//! (0x31000003, a device element, `boot`) and `ramdisksdipath` (0x32000004, `\boot\boot.sdi`).
//!
//! [`winpe_wim_paths`] reads a store (untrusted: errors, never panics, work linear in the
//! hive) and lists each object with a ramdisk device; [`build_winpe_store`] writes one.
//!
//! # The ramdisk device element
//!
//! No Microsoft document gives the blob. The layout below is the boot library's device
//! descriptor as ReactOS's boot environment headers (`boot/environ/include/bl.h`:
//! `BL_DEVICE_DESCRIPTOR`, `BL_LOCAL_DEVICE`, `BL_FILE_PATH_DESCRIPTOR`) name its parts,
//! with the values a1ive's ntloader (`bcd.c`, `bcd_patch_dp`, which rewrites the ramdisk
//! elements of a Windows store to boot a WIM) writes into them:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x00 | 16 | the options object's GUID (`{ramdiskoptions}`) |
//! | 0x10 | 4 | device type 0: a disk (`DiskDevice`; not 4, which is UDP / PXE) |
//! | 0x14 | 4 | flags: 1 |
//! | 0x18 | 4 | length of the descriptor from 0x10 (blob length - 0x10) |
//! | 0x1C | 4 | 0 |
//! | 0x20 | 4 | local device type 3 = ramdisk (`RamDiskDevice`) |
//! | 0x24 | 8 | image base (0 in a store) |
//! | 0x2C | 8 | image size (0) |
//! | 0x34 | 4 | image offset (0) |
//! | 0x38 | 4 | file path descriptor: version 1 |
//! | 0x3C | 4 | its length from 0x38 (blob length - 0x38) |
//! | 0x40 | 4 | path type 5: a device descriptor followed by a path on it |
//! | 0x44 | n | the device holding the file: a descriptor as in a device element after its GUID (n = its length field at 0x4C, 0x48 for `boot` (type 5) and partitions (type 6)) |
//! | 0x44 + n | | the file's path, UTF-16LE, NUL-terminated (`\sources\boot.wim`) |
//!
//! So `[boot]\sources\boot.wim` is a 0xB0-byte blob. A blob whose device type is 0 and local
//! device type 3 is taken as a ramdisk; [`decode_ramdisk`] says `None` for every other device.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::{
    boolean_element, decode_device, device_element, element, encode_device, guid_key,
    integer_element, objects_tree, read_store, string_element, BcdFirmware, Device, DeviceError,
    Object, StoreObject, BOOTMGR, ELEM_DEFAULT, ELEM_DESCRIPTION, ELEM_DEVICE, ELEM_DISPLAY_ORDER,
    ELEM_LOCALE, ELEM_OS_DEVICE, ELEM_PATH, ELEM_SYSTEM_ROOT, ELEM_TIMEOUT, TYPE_BOOT_MANAGER,
    TYPE_DEVICE_OPTIONS, TYPE_OS_LOADER,
};
use crate::bytes;
use crate::guid::Guid;
use crate::regf::{self, Hive, HiveBuilder, KeyNode, RegfError, Value};

/// `{ramdiskoptions}`: the ramdisk options object Windows' own stores use.
pub const RAMDISK_OPTIONS: Guid = Guid::from_text("ae5534e0-a924-466c-b836-758539a3ee3a");

/// osloader: detect the HAL and kernel (`detecthal`).
pub const ELEM_DETECT_HAL: u32 = 0x2600_0010;
/// osloader: boot as Windows PE (`winpe`).
pub const ELEM_WINPE: u32 = 0x2600_0022;
/// Device options: the device holding the SDI file (`ramdisksdidevice`).
pub const ELEM_SDI_DEVICE: u32 = 0x3100_0003;
/// Device options: the SDI file's path (`ramdisksdipath`).
pub const ELEM_SDI_PATH: u32 = 0x3200_0004;

/// Device type of a ramdisk's descriptor (`DiskDevice`) and its local device type.
const DEVICE_DISK: u32 = 0;
const LOCAL_RAMDISK: u32 = 3;
const RAMDISK_FLAGS: u32 = 1;
const FILE_PATH_VERSION: u32 = 1;
/// File path type: a device descriptor, then the path on that device.
const PATH_DEVICE_AND_FILE: u32 = 5;
/// Where the file path descriptor and the parent device's descriptor start.
const FILE_PATH_AT: usize = 0x38;
const PARENT_AT: usize = 0x44;
/// Longest WIM / SDI path written, in UTF-16 units (Windows' paths stay far below).
pub const MAX_PATH_UNITS: usize = 1024;

/// A decoded ramdisk device element: `ramdisk=[parent]path,{options}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamdiskDevice {
    /// The device options object (`{ramdiskoptions}`).
    pub options: Guid,
    /// The device the image file is on (`[boot]` = [`Device::Boot`]).
    pub parent: Device,
    /// The image file's path as stored (`\sources\boot.wim`).
    pub path: String,
}

/// The REG_BINARY blob of a ramdisk device element (see the module docs).
pub fn encode_ramdisk(d: &RamdiskDevice) -> Vec<u8> {
    let parent = encode_device(&d.parent);
    let parent = parent.get(0x10..).unwrap_or_default();
    let mut b = Vec::with_capacity(PARENT_AT + parent.len() + 2 * d.path.len() + 2);
    b.extend(d.options.to_bytes());
    b.resize(PARENT_AT, 0);
    b.extend(parent);
    b.extend(d.path.encode_utf16().flat_map(u16::to_le_bytes));
    b.extend([0, 0]);
    let len = b.len() as u32;
    let mut put = |at: usize, v: u32| {
        if let Some(dst) = b.get_mut(at..at + 4) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    };
    put(0x10, DEVICE_DISK);
    put(0x14, RAMDISK_FLAGS);
    put(0x18, len - 0x10);
    put(0x20, LOCAL_RAMDISK);
    put(FILE_PATH_AT, FILE_PATH_VERSION);
    put(FILE_PATH_AT + 4, len - FILE_PATH_AT as u32);
    put(FILE_PATH_AT + 8, PATH_DEVICE_AND_FILE);
    b
}

/// Decode a device element's blob as a ramdisk: `Ok(None)` when it is another kind of device,
/// or too short to say (untrusted: errors, never panics). A blob that says it is a ramdisk
/// (device type 0, local type 3) and does not hold one is an error.
pub fn decode_ramdisk(blob: &[u8]) -> Result<Option<RamdiskDevice>, DeviceError> {
    let truncated = DeviceError::Truncated { len: blob.len() };
    let u32_at = |at: usize| bytes::le32(blob, at).map_err(|_| truncated);
    if u32_at(0x10) != Ok(DEVICE_DISK) || u32_at(0x20) != Ok(LOCAL_RAMDISK) {
        return Ok(None);
    }
    let options = Guid(bytes::array(blob, 0).map_err(|_| truncated)?);
    // Both lengths (from `at`, stored at `field`) must lie inside the blob; the path ends
    // where the shorter one ends.
    let end = |at: usize, field: usize| -> Result<usize, DeviceError> {
        let n = u32_at(field)? as usize;
        let e = at.checked_add(n).ok_or(truncated)?;
        if e > blob.len() {
            return Err(truncated);
        }
        Ok(e)
    };
    let end = end(0x10, 0x18)?.min(end(FILE_PATH_AT, FILE_PATH_AT + 4)?);
    match u32_at(FILE_PATH_AT + 8)? {
        PATH_DEVICE_AND_FILE => {}
        t => return Err(DeviceError::UnknownPathType(t)),
    }
    let parent_len = u32_at(PARENT_AT + 8)? as usize;
    let parent_end = PARENT_AT.checked_add(parent_len).ok_or(truncated)?;
    if parent_end > end || parent_len < 0x10 {
        return Err(truncated);
    }
    let parent_blob = blob.get(PARENT_AT..parent_end).ok_or(truncated)?;
    let mut wrapped = alloc::vec![0u8; 0x10];
    wrapped.extend_from_slice(parent_blob);
    let parent = decode_device(&wrapped)?;
    let path_bytes = blob.get(parent_end..end).ok_or(truncated)?;
    let units: Vec<u16> = bytes::utf16le_units(path_bytes).take_while(|&u| u != 0).collect();
    let path =
        char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
    Ok(Some(RamdiskDevice { options, parent, path }))
}

/// Why a WinPE store could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BcdError {
    /// The hive itself (or its `Objects` key).
    Hive(RegfError),
    /// A device element of an object that could not be decoded.
    Device { object: String, element: u32, error: DeviceError },
    /// A path in a device or element (or given to the writer) that cannot name a file: empty,
    /// with `..` or a NUL, or too long.
    BadPath { object: String, path: String },
}

impl From<RegfError> for BcdError {
    fn from(e: RegfError) -> BcdError {
        BcdError::Hive(e)
    }
}

impl core::error::Error for BcdError {}

impl fmt::Display for BcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BcdError::Hive(e) => write!(f, "BCD store: {e}"),
            BcdError::Device { object, element, error } => {
                write!(f, "BCD object {object}, element {element:08x}: {error}")
            }
            BcdError::BadPath { object, path } => {
                write!(f, "BCD object {object}: {path:?} is not a usable file path")
            }
        }
    }
}

/// One object of a store that boots a WIM from a ramdisk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinPeEntry {
    /// The object's key name (`{guid}`), as stored, and its GUID when the name is one.
    pub key: String,
    pub id: Option<Guid>,
    /// `description` (0x12000004), when it is a string.
    pub description: Option<String>,
    /// The device holding the WIM ([`Device::Boot`] for `[boot]`: the device the boot manager
    /// was loaded from).
    pub wim_device: Device,
    /// The WIM's path on that device, normalised: `/sources/boot.wim`.
    pub wim_path: String,
    /// The ramdisk options object the device names.
    pub options: Guid,
    /// From the options object, when the store has it: `ramdisksdidevice` and
    /// `ramdisksdipath` (normalised like `wim_path`).
    pub sdi_device: Option<Device>,
    pub sdi_path: Option<String>,
}

/// A stored path (`\sources\boot.wim`, either separator) as `/sources/boot.wim`; `None` for
/// the root, `..`, NULs and paths that come out longer than [`MAX_PATH_UNITS`].
fn normalise(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len() + 1);
    for part in crate::path::components(path) {
        if part == ".." || part.contains('\0') {
            return None;
        }
        out.push('/');
        out.push_str(part);
    }
    (!out.is_empty() && out.encode_utf16().count() <= MAX_PATH_UNITS).then_some(out)
}

/// Every object of the store (`hive_bytes`, a BCD hive file) whose `device` or `osdevice` is
/// a ramdisk, in key order, with the WIM it boots. The `device` element is read when it is a
/// ramdisk, else `osdevice`. A store without such objects gives an empty list; a hive that
/// does not parse, has no `Objects`, or a ramdisk element or SDI element that does not
/// decode, an error.
pub fn winpe_wim_paths(hive_bytes: &[u8]) -> Result<Vec<WinPeEntry>, BcdError> {
    let hive = Hive::parse(hive_bytes)?;
    let objects = read_store(&hive)?;
    let by_id: BTreeMap<[u8; 16], &StoreObject> =
        objects.iter().filter_map(|o| Some((o.id?.to_bytes(), o))).collect();
    let mut out = Vec::new();
    for o in &objects {
        let device_error = |element: u32, error: DeviceError| BcdError::Device {
            object: o.key.clone(),
            element,
            error,
        };
        let mut ramdisk = None;
        for el in [ELEM_DEVICE, ELEM_OS_DEVICE] {
            if let Some(v) = o.element(el) {
                if let Some(r) = decode_ramdisk(&v.data).map_err(|e| device_error(el, e))? {
                    ramdisk = Some(r);
                    break;
                }
            }
        }
        let Some(r) = ramdisk else { continue };
        let bad_path = |path: &str| BcdError::BadPath { object: o.key.clone(), path: path.into() };
        let wim_path = normalise(&r.path).ok_or_else(|| bad_path(&r.path))?;
        let (mut sdi_device, mut sdi_path) = (None, None);
        if let Some(opts) = by_id.get(&r.options.to_bytes()) {
            if let Some(v) = opts.element(ELEM_SDI_DEVICE) {
                let d = decode_device(&v.data).map_err(|error| BcdError::Device {
                    object: opts.key.clone(),
                    element: ELEM_SDI_DEVICE,
                    error,
                })?;
                sdi_device = Some(d);
            }
            if let Some(p) = opts.element(ELEM_SDI_PATH).and_then(Value::as_string) {
                let n = normalise(&p)
                    .ok_or_else(|| BcdError::BadPath { object: opts.key.clone(), path: p })?;
                sdi_path = Some(n);
            }
        }
        out.push(WinPeEntry {
            key: o.key.clone(),
            id: o.id,
            description: o.element(ELEM_DESCRIPTION).and_then(Value::as_string),
            wim_device: r.parent,
            wim_path,
            options: r.options,
            sdi_device,
            sdi_path,
        });
    }
    Ok(out)
}

/// What [`build_winpe_store`] needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinPeStoreConfig {
    /// Decides the loader: `winload.efi` (UEFI) or `winload.exe` (BIOS).
    pub firmware: BcdFirmware,
    /// The Windows Boot Loader object's GUID (random; the core has no randomness of its own).
    pub loader: Guid,
    /// The boot menu's name for it (`Windows Setup`).
    pub description: String,
    /// The WIM on the boot device, `/`- or `\`-separated (`/sources/boot.wim`).
    pub wim_path: String,
    /// The SDI file on the boot device (`/boot/boot.sdi`).
    pub sdi_path: String,
    /// e.g. `en-US`.
    pub locale: String,
    /// Boot manager menu timeout in seconds.
    pub timeout: u64,
    /// Last-written time for every key (FILETIME).
    pub timestamp: u64,
}

/// `/sources/boot.wim` → `\sources\boot.wim`, refusing what [`normalise`] refuses.
fn stored_path(object: &Guid, path: &str) -> Result<String, BcdError> {
    let bad = || BcdError::BadPath { object: guid_key(object), path: path.into() };
    Ok(normalise(path).ok_or_else(bad)?.replace('/', "\\"))
}

/// The key tree of a WinPE ramdisk store: `{bootmgr}` (device `boot`, default and display
/// order = the loader), the loader (device and osdevice `ramdisk=[boot]<wim>,{ramdiskoptions}`,
/// path `\windows\system32\boot\winload.efi` / `.exe`, systemroot `\windows`, detecthal and
/// winpe set), and `{ramdiskoptions}` (SDI device `boot`, SDI path).
pub fn winpe_store_tree(cfg: &WinPeStoreConfig) -> Result<KeyNode, BcdError> {
    let wim = stored_path(&cfg.loader, &cfg.wim_path)?;
    let sdi = stored_path(&RAMDISK_OPTIONS, &cfg.sdi_path)?;
    let loader_key = guid_key(&cfg.loader);

    let mut bootmgr = Object { id: BOOTMGR, kind: TYPE_BOOT_MANAGER, elements: Vec::new() };
    bootmgr.elements.push(device_element(ELEM_DEVICE, &Device::Boot));
    bootmgr.elements.push(string_element(ELEM_DESCRIPTION, "Windows Boot Manager"));
    bootmgr.elements.push(string_element(ELEM_LOCALE, &cfg.locale));
    bootmgr.elements.push((ELEM_DISPLAY_ORDER, Value::multi_sz("Element", &[&loader_key])));
    bootmgr.elements.push(string_element(ELEM_DEFAULT, &loader_key));
    bootmgr.elements.push(integer_element(ELEM_TIMEOUT, cfg.timeout));

    let ramdisk = encode_ramdisk(&RamdiskDevice {
        options: RAMDISK_OPTIONS,
        parent: Device::Boot,
        path: wim,
    });
    let winload = match cfg.firmware {
        BcdFirmware::Uefi => r"\windows\system32\boot\winload.efi",
        BcdFirmware::Bios => r"\windows\system32\boot\winload.exe",
    };
    let mut loader = Object { id: cfg.loader, kind: TYPE_OS_LOADER, elements: Vec::new() };
    loader.elements.push(element(ELEM_DEVICE, regf::REG_BINARY, ramdisk.clone()));
    loader.elements.push(string_element(ELEM_PATH, winload));
    loader.elements.push(string_element(ELEM_DESCRIPTION, &cfg.description));
    loader.elements.push(string_element(ELEM_LOCALE, &cfg.locale));
    loader.elements.push(element(ELEM_OS_DEVICE, regf::REG_BINARY, ramdisk));
    loader.elements.push(string_element(ELEM_SYSTEM_ROOT, r"\windows"));
    loader.elements.push(boolean_element(ELEM_DETECT_HAL, true));
    loader.elements.push(boolean_element(ELEM_WINPE, true));

    let mut options =
        Object { id: RAMDISK_OPTIONS, kind: TYPE_DEVICE_OPTIONS, elements: Vec::new() };
    options.elements.push(string_element(ELEM_DESCRIPTION, "Ramdisk Options"));
    options.elements.push(device_element(ELEM_SDI_DEVICE, &Device::Boot));
    options.elements.push(string_element(ELEM_SDI_PATH, &sdi));

    Ok(objects_tree(alloc::vec![bootmgr, loader, options], cfg.timestamp)?)
}

/// The BCD hive file of a WinPE ramdisk store ([`winpe_store_tree`]).
pub fn build_winpe_store(cfg: &WinPeStoreConfig) -> Result<Vec<u8>, BcdError> {
    Ok(HiveBuilder::new(winpe_store_tree(cfg)?).timestamp(cfg.timestamp).build()?)
}

#[cfg(test)]
mod tests {
    use super::super::{Partition, ELEM_DEFAULT};
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    const LOADER: Guid = Guid::from_text("7619dcc9-fafe-11d9-b411-000476eba25f");

    fn config(firmware: BcdFirmware) -> WinPeStoreConfig {
        WinPeStoreConfig {
            firmware,
            loader: LOADER,
            description: "Windows Setup".into(),
            wim_path: "/sources/boot.wim".into(),
            sdi_path: "/boot/boot.sdi".into(),
            locale: "en-US".into(),
            timeout: 30,
            timestamp: 0x01DA_0000_0000_0000,
        }
    }

    /// `ramdisk=[boot]\sources\boot.wim,{ramdiskoptions}` byte by byte, as the module docs
    /// lay it out.
    fn boot_wim_blob() -> Vec<u8> {
        let mut b = vec![0u8; 0x8C];
        b[..16].copy_from_slice(&RAMDISK_OPTIONS.to_bytes());
        b[0x14] = 1;
        b[0x18] = 0xA0; // 0xB0 - 0x10
        b[0x20] = 3;
        b[0x38] = 1;
        b[0x3C] = 0x78; // 0xB0 - 0x38
        b[0x40] = 5;
        b[0x44] = 5; // boot
        b[0x4C] = 0x48;
        b.extend(r"\sources\boot.wim".encode_utf16().flat_map(u16::to_le_bytes));
        b.extend([0, 0]);
        assert_eq!(b.len(), 0xB0);
        b
    }

    #[test]
    fn ramdisk_blob_layout() {
        let r = RamdiskDevice {
            options: RAMDISK_OPTIONS,
            parent: Device::Boot,
            path: r"\sources\boot.wim".into(),
        };
        assert_eq!(encode_ramdisk(&r), boot_wim_blob());
        assert_eq!(decode_ramdisk(&boot_wim_blob()), Ok(Some(r)));
        // The options GUID as Windows stores it (mixed-endian).
        assert_eq!(&boot_wim_blob()[..4], &[0xe0, 0x34, 0x55, 0xae]);
    }

    #[test]
    fn ramdisk_round_trips_on_partitions_and_odd_paths() {
        let disk = Guid::from_text("11112222-3333-4444-5566-778899aabbcc");
        let part = Guid::from_text("a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90");
        for parent in [
            Device::Boot,
            Device::Partition(Partition::Gpt { disk, partition: part }),
            Device::Partition(Partition::Mbr { signature: 0xDEAD_BEEF, offset: 1 << 20 }),
        ] {
            for path in ["", r"\a.wim", r"\Ünïcode\ファイル.wim", r"\x\y\z\boot.wim"] {
                let r = RamdiskDevice { options: LOADER, parent, path: path.into() };
                let blob = encode_ramdisk(&r);
                assert_eq!(decode_ramdisk(&blob), Ok(Some(r)), "{path}");
                // Bytes after the declared lengths are not read.
                let mut longer = blob.clone();
                longer.extend([0x41, 0]);
                assert_eq!(decode_ramdisk(&longer).unwrap().unwrap().path, path);
            }
        }
    }

    #[test]
    fn other_devices_are_not_ramdisks() {
        let part = Device::Partition(Partition::Mbr { signature: 1, offset: 2 });
        assert_eq!(decode_ramdisk(&encode_device(&part)), Ok(None));
        assert_eq!(decode_ramdisk(&encode_device(&Device::Boot)), Ok(None));
        // The common decoder leaves it undecoded (device type 0).
        assert_eq!(decode_device(&boot_wim_blob()), Ok(Device::Other(0)));
    }

    #[test]
    fn ramdisk_decode_errors() {
        let good = boot_wim_blob();
        for len in 0..0x24 {
            assert_eq!(decode_ramdisk(&good[..len]), Ok(None), "{len}");
        }
        for len in 0x24..0xB0 {
            assert!(decode_ramdisk(&good[..len]).is_err(), "{len}");
        }
        let mut b = good.clone();
        b[0x40] = 4;
        assert_eq!(decode_ramdisk(&b), Err(DeviceError::UnknownPathType(4)));
        for at in [0x18, 0x3C, 0x4C] {
            let mut b = good.clone();
            b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            assert!(decode_ramdisk(&b).is_err(), "{at:#x}");
        }
        // A parent shorter than a descriptor header.
        let mut b = good.clone();
        b[0x4C] = 4;
        assert!(decode_ramdisk(&b).is_err());
        // A partition parent with a bad style.
        let mut b = good.clone();
        b[0x44] = 6;
        b[0x44 + 0x24] = 9;
        assert_eq!(decode_ramdisk(&b), Err(DeviceError::UnknownStyle(9)));
        assert!(DeviceError::UnknownPathType(4).to_string().contains('4'));
    }

    #[test]
    fn store_round_trips() {
        for fw in [BcdFirmware::Uefi, BcdFirmware::Bios] {
            let bytes = build_winpe_store(&config(fw)).unwrap();
            let found = winpe_wim_paths(&bytes).unwrap();
            assert_eq!(
                found,
                [WinPeEntry {
                    key: guid_key(&LOADER),
                    id: Some(LOADER),
                    description: Some("Windows Setup".into()),
                    wim_device: Device::Boot,
                    wim_path: "/sources/boot.wim".into(),
                    options: RAMDISK_OPTIONS,
                    sdi_device: Some(Device::Boot),
                    sdi_path: Some("/boot/boot.sdi".into()),
                }]
            );
            let hive = Hive::parse(&bytes).unwrap();
            let objects = read_store(&hive).unwrap();
            assert_eq!(objects.len(), 3);
            let kind = |g: Guid| objects.iter().find(|o| o.id == Some(g)).unwrap().kind;
            assert_eq!(kind(BOOTMGR), Some(TYPE_BOOT_MANAGER));
            assert_eq!(kind(LOADER), Some(TYPE_OS_LOADER));
            assert_eq!(kind(RAMDISK_OPTIONS), Some(TYPE_DEVICE_OPTIONS));
            let ldr = objects.iter().find(|o| o.id == Some(LOADER)).unwrap();
            let winload = match fw {
                BcdFirmware::Uefi => r"\windows\system32\boot\winload.efi",
                BcdFirmware::Bios => r"\windows\system32\boot\winload.exe",
            };
            assert_eq!(ldr.element(ELEM_PATH).unwrap().as_string().unwrap(), winload);
            assert_eq!(ldr.element(ELEM_SYSTEM_ROOT).unwrap().as_string().unwrap(), r"\windows");
            assert_eq!(ldr.element(ELEM_WINPE).unwrap().data, [1]);
            assert_eq!(ldr.element(ELEM_DETECT_HAL).unwrap().data, [1]);
            assert_eq!(ldr.element(ELEM_DEVICE), ldr.element(ELEM_OS_DEVICE));
            let mgr = objects.iter().find(|o| o.id == Some(BOOTMGR)).unwrap();
            assert_eq!(mgr.element(ELEM_DEFAULT).unwrap().as_string().unwrap(), guid_key(&LOADER));
        }
    }

    #[test]
    fn writer_paths() {
        let mut cfg = config(BcdFirmware::Uefi);
        cfg.wim_path = r"sources\\x\.\Boot.WIM".into();
        let found = winpe_wim_paths(&build_winpe_store(&cfg).unwrap()).unwrap();
        assert_eq!(found[0].wim_path, "/sources/x/Boot.WIM");
        // The limit is on the stored path: `a...` is stored as `\a...`.
        cfg.wim_path = "a".repeat(MAX_PATH_UNITS - 1);
        assert!(build_winpe_store(&cfg).is_ok());
        for bad in ["", "/", "\\..\\boot.wim", "/a\0b", &"a".repeat(MAX_PATH_UNITS)] {
            cfg.wim_path = bad.into();
            assert!(matches!(build_winpe_store(&cfg), Err(BcdError::BadPath { .. })), "{bad:?}");
        }
        let mut cfg = config(BcdFirmware::Bios);
        cfg.sdi_path = "..".into();
        let e = build_winpe_store(&cfg).unwrap_err();
        assert!(e.to_string().contains("{ae5534e0-"), "{e}");
    }

    /// Stores edited by hand: the SDI elements and the options object are optional; a
    /// ramdisk only in `osdevice` is found; a bad ramdisk blob or path is an error naming
    /// the object; stores without ramdisks list nothing.
    #[test]
    fn hostile_and_partial_stores() {
        let base = winpe_store_tree(&config(BcdFirmware::Uefi)).unwrap();
        let build = |root: KeyNode| HiveBuilder::new(root).build().unwrap();
        let ldr = guid_key(&LOADER);
        let opts = guid_key(&RAMDISK_OPTIONS);
        let el = |obj: &str, t: &str| alloc::format!("Objects\\{obj}\\Elements\\{t}");

        // No options object.
        let mut root = base.clone();
        root.subkey_mut("Objects").unwrap().subkeys.retain(|k| k.name != opts);
        let found = winpe_wim_paths(&build(root)).unwrap();
        assert_eq!((found[0].sdi_device, found[0].sdi_path.as_deref()), (None, None));

        // Ramdisk only in osdevice: device is a partition.
        let mut root = base.clone();
        let dev = root.create_path(&el(&ldr, "11000001"), 0).unwrap();
        dev.set_value(Value::binary("Element", &encode_device(&Device::Boot)));
        let found = winpe_wim_paths(&build(root)).unwrap();
        assert_eq!(found[0].wim_path, "/sources/boot.wim");

        // A truncated ramdisk blob.
        let mut root = base.clone();
        let dev = root.create_path(&el(&ldr, "11000001"), 0).unwrap();
        dev.set_value(Value::binary("Element", &boot_wim_blob()[..0x90]));
        let e = winpe_wim_paths(&build(root)).unwrap_err();
        assert!(
            matches!(&e, BcdError::Device { object, element: ELEM_DEVICE, .. } if *object == ldr),
            "{e:?}"
        );

        // A `..` in the WIM path.
        let mut root = base.clone();
        let r = RamdiskDevice {
            options: RAMDISK_OPTIONS,
            parent: Device::Boot,
            path: r"\..\x.wim".into(),
        };
        let dev = root.create_path(&el(&ldr, "21000001"), 0).unwrap();
        dev.set_value(Value::binary("Element", &encode_ramdisk(&r)));
        let dev = root.create_path(&el(&ldr, "11000001"), 0).unwrap();
        dev.set_value(Value::binary("Element", &[]));
        let e = winpe_wim_paths(&build(root)).unwrap_err();
        assert!(matches!(&e, BcdError::BadPath { path, .. } if path == r"\..\x.wim"), "{e:?}");

        // A bad SDI device.
        let mut root = base.clone();
        let dev = root.create_path(&el(&opts, "31000003"), 0).unwrap();
        dev.set_value(Value::binary("Element", &[1, 2, 3]));
        let e = winpe_wim_paths(&build(root)).unwrap_err();
        assert!(e.to_string().contains("31000003"), "{e}");

        // A Windows To Go store has no ramdisk; a hive without Objects is an error.
        let p = Partition::Mbr { signature: 1, offset: 1 << 20 };
        let wtg = super::super::build_store(&super::super::StoreConfig {
            firmware: BcdFirmware::Bios,
            boot_partition: p,
            windows_partition: p,
            loader: LOADER,
            description: "Windows To Go".into(),
            locale: "en-US".into(),
            timeout: 30,
            timestamp: 0,
        })
        .unwrap();
        assert_eq!(winpe_wim_paths(&wtg), Ok(vec![]));
        let mut root = base.clone();
        root.subkeys.retain(|k| k.name != "Objects");
        assert!(matches!(winpe_wim_paths(&build(root)), Err(BcdError::Hive(_))));
        assert!(matches!(winpe_wim_paths(b"regf"), Err(BcdError::Hive(_))));
    }
}
