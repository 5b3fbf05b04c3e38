//! The Windows Boot Configuration Data (BCD) store, written as a registry hive ([`crate::regf`]).
//!
//! A store is a hive whose root holds `Description` (`KeyName` = `BCD00000000`, and
//! `System` / `TreatAsSystem` = 1 for the store the firmware boots) and `Objects`. Each object
//! is `Objects\{guid}` with `Description\Type` (REG_DWORD: application / inherit / device
//! class and kind) and `Elements\<8 hex digits>\Element`, whose registry type follows the
//! element type's format (bits 24-27): device = REG_BINARY blob, string = REG_SZ, object =
//! REG_SZ `{guid}`, object list = REG_MULTI_SZ, integer = REG_BINARY (8 bytes LE), boolean =
//! REG_BINARY (1 byte), integer list = REG_BINARY.
//!
//! [`build_store`] writes what `bcdboot` would for one Windows installation: the Windows Boot
//! Manager and one Windows Boot Loader whose `device` / `osdevice` name the Windows partition.
//!
//! # Device elements
//!
//! A partition device element (`REG_BINARY`, 0x58 bytes), as Windows stores it (documented by
//! observation: mistyprojects' BCDEdit notes, and dumps of bcdedit-made stores):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x00 | 16 | additional options object GUID (zero) |
//! | 0x10 | 4 | device type: 5 = boot, 6 = partition, 8 = locate |
//! | 0x14 | 4 | flags (0) |
//! | 0x18 | 4 | length of the descriptor from 0x10 (0x48) |
//! | 0x1C | 4 | 0 |
//! | 0x20 | 16 | GPT: the partition's unique GUID; MBR: its byte offset (u64 LE) |
//! | 0x30 | 4 | disk kind (0 = hard disk) |
//! | 0x34 | 4 | partition style in the boot library's numbering: 0 = GPT, 1 = MBR |
//! | 0x38 | 16 | GPT: the disk GUID; MBR: the disk signature (u32 LE) |
//! | 0x48 | 16 | 0 |
//!
//! (WMI's `BcdDeviceQualifiedPartitionData.PartitionStyle` numbers the styles the other way
//! round, 0 = MBR and 1 = GPT; [`PartitionStyle`] gives both.)
//!
//! # WinPE ramdisk stores
//!
//! [`winpe`] reads and writes the other kind of store polyboot meets: a Windows installer
//! ISO's `\boot\bcd` / `\efi\microsoft\boot\bcd`, whose loader boots a WIM loaded into a
//! ramdisk (`ramdisk=[boot]\sources\boot.wim,{ramdiskoptions}`); the ramdisk device element's
//! layout is documented there.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::bytes;
use crate::guid::Guid;
use crate::regf::{self, Hive, HiveBuilder, KeyNode, RegfError, Value};

pub mod winpe;
pub use winpe::{
    build_winpe_store, decode_ramdisk, encode_ramdisk, winpe_store_tree, winpe_wim_paths, BcdError,
    RamdiskDevice, WinPeEntry, WinPeStoreConfig,
};

/// `{bootmgr}`: the Windows Boot Manager object.
pub const BOOTMGR: Guid = Guid::from_text("9dea862c-5cdd-4e70-acc1-f32b344d4795");

/// Object types (`Description\Type`).
pub const TYPE_BOOT_MANAGER: u32 = 0x1010_0002;
pub const TYPE_OS_LOADER: u32 = 0x1020_0003;
/// A device object (`{ramdiskoptions}` and other device options): class 3, nothing else set.
pub const TYPE_DEVICE_OPTIONS: u32 = 0x3000_0000;

/// Element types used here.
pub const ELEM_DEVICE: u32 = 0x1100_0001; // library: application device
pub const ELEM_PATH: u32 = 0x1200_0002; // library: application path
pub const ELEM_DESCRIPTION: u32 = 0x1200_0004;
pub const ELEM_LOCALE: u32 = 0x1200_0005;
pub const ELEM_RECOVERY_ENABLED: u32 = 0x1600_0009;
pub const ELEM_DISPLAY_ORDER: u32 = 0x2400_0001; // bootmgr
pub const ELEM_DEFAULT: u32 = 0x2300_0003; // bootmgr
pub const ELEM_TIMEOUT: u32 = 0x2500_0004; // bootmgr
pub const ELEM_OS_DEVICE: u32 = 0x2100_0001; // osloader
pub const ELEM_SYSTEM_ROOT: u32 = 0x2200_0002; // osloader
pub const ELEM_NX: u32 = 0x2500_0020; // osloader: 0 = OptIn
pub const ELEM_BOOT_MENU_POLICY: u32 = 0x2500_00C2; // osloader: 1 = Standard

/// Length of the device blobs written here.
pub const DEVICE_BLOB_LEN: usize = 0x58;
const DEVICE_BOOT: u32 = 5;
const DEVICE_PARTITION: u32 = 6;

/// How an element's data is stored, from bits 24-27 of its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementFormat {
    Device,
    String,
    Object,
    ObjectList,
    Integer,
    Boolean,
    IntegerList,
    Unknown(u8),
}

impl ElementFormat {
    pub fn of(element_type: u32) -> ElementFormat {
        match (element_type >> 24) & 0xF {
            1 => ElementFormat::Device,
            2 => ElementFormat::String,
            3 => ElementFormat::Object,
            4 => ElementFormat::ObjectList,
            5 => ElementFormat::Integer,
            6 => ElementFormat::Boolean,
            7 => ElementFormat::IntegerList,
            n => ElementFormat::Unknown(n as u8),
        }
    }
}

/// Partition style, as the device blob numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionStyle {
    Gpt,
    Mbr,
}

impl PartitionStyle {
    /// The number in the device blob (boot library: 0 = GPT, 1 = MBR).
    pub fn blob_code(self) -> u32 {
        match self {
            PartitionStyle::Gpt => 0,
            PartitionStyle::Mbr => 1,
        }
    }
    /// The number WMI's BCD classes use (0 = MBR, 1 = GPT).
    pub fn wmi_code(self) -> u32 {
        match self {
            PartitionStyle::Gpt => 1,
            PartitionStyle::Mbr => 0,
        }
    }
}

/// A partition as BCD identifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// GPT: the disk GUID and the partition's unique GUID.
    Gpt { disk: Guid, partition: Guid },
    /// MBR: the disk signature (MBR offset 0x1B8) and the partition's start in bytes.
    Mbr { signature: u32, offset: u64 },
}

impl Partition {
    pub fn style(&self) -> PartitionStyle {
        match self {
            Partition::Gpt { .. } => PartitionStyle::Gpt,
            Partition::Mbr { .. } => PartitionStyle::Mbr,
        }
    }
}

/// A decoded device element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// `boot`: the partition the boot manager was loaded from.
    Boot,
    Partition(Partition),
    /// Another device type (locate, ramdisk, VHD file, ...): its type code, not decoded.
    Other(u32),
}

/// Why a device blob could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError {
    /// Shorter than the header, or than the length it declares.
    Truncated { len: usize },
    /// A partition device whose style is neither GPT nor MBR.
    UnknownStyle(u32),
    /// A ramdisk device whose file path descriptor has a path type other than 5.
    UnknownPathType(u32),
}

impl core::error::Error for DeviceError {}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::Truncated { len } => {
                write!(f, "BCD device element of {len} bytes is truncated")
            }
            DeviceError::UnknownStyle(s) => {
                write!(f, "BCD partition device has unknown partition style {s}")
            }
            DeviceError::UnknownPathType(t) => {
                write!(f, "BCD ramdisk device has unknown file path type {t}")
            }
        }
    }
}

/// The REG_BINARY blob of a device element.
pub fn encode_device(device: &Device) -> Vec<u8> {
    let mut b = alloc::vec![0u8; DEVICE_BLOB_LEN];
    let kind = match device {
        Device::Boot => DEVICE_BOOT,
        Device::Partition(_) => DEVICE_PARTITION,
        Device::Other(t) => *t,
    };
    b[0x10..0x14].copy_from_slice(&kind.to_le_bytes());
    b[0x18..0x1C].copy_from_slice(&((DEVICE_BLOB_LEN - 0x10) as u32).to_le_bytes());
    if let Device::Partition(p) = device {
        b[0x34..0x38].copy_from_slice(&p.style().blob_code().to_le_bytes());
        match p {
            Partition::Gpt { disk, partition } => {
                b[0x20..0x30].copy_from_slice(&partition.to_bytes());
                b[0x38..0x48].copy_from_slice(&disk.to_bytes());
            }
            Partition::Mbr { signature, offset } => {
                b[0x20..0x28].copy_from_slice(&offset.to_le_bytes());
                b[0x38..0x3C].copy_from_slice(&signature.to_le_bytes());
            }
        }
    }
    b
}

/// Decode a device element's blob (untrusted: errors, never panics).
pub fn decode_device(blob: &[u8]) -> Result<Device, DeviceError> {
    let truncated = DeviceError::Truncated { len: blob.len() };
    let u32_at = |at: usize| bytes::le32(blob, at).map_err(|_| truncated);
    let kind = u32_at(0x10)?;
    let declared = u32_at(0x18)? as usize;
    if blob.len() - 0x10 < declared {
        return Err(truncated);
    }
    match kind {
        DEVICE_BOOT => Ok(Device::Boot),
        DEVICE_PARTITION => {
            if blob.len() < 0x48 {
                return Err(truncated);
            }
            let guid_at = |at: usize| bytes::array(blob, at).map(Guid).map_err(|_| truncated);
            match u32_at(0x34)? {
                0 => Ok(Device::Partition(Partition::Gpt {
                    partition: guid_at(0x20)?,
                    disk: guid_at(0x38)?,
                })),
                1 => Ok(Device::Partition(Partition::Mbr {
                    offset: bytes::le64(blob, 0x20).map_err(|_| truncated)?,
                    signature: u32_at(0x38)?,
                })),
                s => Err(DeviceError::UnknownStyle(s)),
            }
        }
        t => Ok(Device::Other(t)),
    }
}

/// Which firmware the store is for: decides the loader file and the boot manager's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BcdFirmware {
    Uefi,
    Bios,
}

/// What [`build_store`] needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub firmware: BcdFirmware,
    /// Where the boot manager lives: the ESP (UEFI), or the active partition (BIOS).
    pub boot_partition: Partition,
    /// The NTFS partition holding `\Windows`.
    pub windows_partition: Partition,
    /// The OS loader object's GUID (random; the core has no randomness of its own).
    pub loader: Guid,
    /// The boot menu's name for the installation.
    pub description: String,
    /// e.g. `en-US`.
    pub locale: String,
    /// Boot manager menu timeout in seconds.
    pub timeout: u64,
    /// Last-written time for every key (FILETIME).
    pub timestamp: u64,
}

/// `{9dea862c-...}`: lower case with braces, as BCD names its object keys.
pub fn guid_key(g: &Guid) -> String {
    format!("{{{}}}", format!("{g}").to_ascii_lowercase())
}

/// `Objects\{guid}\Elements\<type>` key name for an element type (8 hex digits, lower case).
pub fn element_key(element_type: u32) -> String {
    format!("{element_type:08x}")
}

/// A BCD object being built: its type and elements in order.
struct Object {
    id: Guid,
    kind: u32,
    elements: Vec<(u32, Value)>,
}

fn element(element_type: u32, kind: u32, data: Vec<u8>) -> (u32, Value) {
    (element_type, Value::raw("Element", kind, data))
}
fn string_element(t: u32, s: &str) -> (u32, Value) {
    (t, Value::sz("Element", s))
}
fn device_element(t: u32, d: &Device) -> (u32, Value) {
    element(t, regf::REG_BINARY, encode_device(d))
}
fn integer_element(t: u32, v: u64) -> (u32, Value) {
    element(t, regf::REG_BINARY, v.to_le_bytes().to_vec())
}
fn boolean_element(t: u32, v: bool) -> (u32, Value) {
    element(t, regf::REG_BINARY, alloc::vec![u8::from(v)])
}

/// The key tree of a store for one Windows installation.
pub fn store_tree(cfg: &StoreConfig) -> Result<KeyNode, RegfError> {
    let loader_key = guid_key(&cfg.loader);
    let boot = Device::Partition(cfg.boot_partition);
    let windows = Device::Partition(cfg.windows_partition);

    let mut bootmgr = Object { id: BOOTMGR, kind: TYPE_BOOT_MANAGER, elements: Vec::new() };
    bootmgr.elements.push(device_element(ELEM_DEVICE, &boot));
    if cfg.firmware == BcdFirmware::Uefi {
        bootmgr.elements.push(string_element(ELEM_PATH, r"\EFI\Microsoft\Boot\bootmgfw.efi"));
    }
    bootmgr.elements.push(string_element(ELEM_DESCRIPTION, "Windows Boot Manager"));
    bootmgr.elements.push(string_element(ELEM_LOCALE, &cfg.locale));
    bootmgr.elements.push((ELEM_DISPLAY_ORDER, Value::multi_sz("Element", &[&loader_key])));
    bootmgr.elements.push(string_element(ELEM_DEFAULT, &loader_key));
    bootmgr.elements.push(integer_element(ELEM_TIMEOUT, cfg.timeout));

    let winload = match cfg.firmware {
        BcdFirmware::Uefi => r"\Windows\system32\winload.efi",
        BcdFirmware::Bios => r"\Windows\system32\winload.exe",
    };
    let mut loader = Object { id: cfg.loader, kind: TYPE_OS_LOADER, elements: Vec::new() };
    loader.elements.push(device_element(ELEM_DEVICE, &windows));
    loader.elements.push(string_element(ELEM_PATH, winload));
    loader.elements.push(string_element(ELEM_DESCRIPTION, &cfg.description));
    loader.elements.push(string_element(ELEM_LOCALE, &cfg.locale));
    loader.elements.push(boolean_element(ELEM_RECOVERY_ENABLED, false));
    loader.elements.push(device_element(ELEM_OS_DEVICE, &windows));
    loader.elements.push(string_element(ELEM_SYSTEM_ROOT, r"\Windows"));
    loader.elements.push(integer_element(ELEM_NX, 0));
    loader.elements.push(integer_element(ELEM_BOOT_MENU_POLICY, 1));

    objects_tree(alloc::vec![bootmgr, loader], cfg.timestamp)
}

/// A store's key tree holding these objects.
fn objects_tree(objects: Vec<Object>, t: u64) -> Result<KeyNode, RegfError> {
    let mut root = KeyNode::new("NewStoreRoot");
    root.timestamp = t;
    let desc = root.create_path("Description", t)?;
    desc.set_value(Value::sz("KeyName", "BCD00000000"));
    // The firmware's own store: Windows marks it so bcdedit opens it as {current} store.
    desc.set_value(Value::dword("System", 1));
    desc.set_value(Value::dword("TreatAsSystem", 1));
    root.create_path("Objects", t)?;
    for obj in objects {
        let base = format!("Objects\\{}", guid_key(&obj.id));
        root.create_path(&format!("{base}\\Description"), t)?
            .set_value(Value::dword("Type", obj.kind));
        root.create_path(&format!("{base}\\Elements"), t)?;
        for (etype, value) in obj.elements {
            root.create_path(&format!("{base}\\Elements\\{}", element_key(etype)), t)?
                .set_value(value);
        }
    }
    Ok(root)
}

/// The BCD hive file (`\EFI\Microsoft\Boot\BCD` or `\Boot\BCD`).
pub fn build_store(cfg: &StoreConfig) -> Result<Vec<u8>, RegfError> {
    HiveBuilder::new(store_tree(cfg)?).timestamp(cfg.timestamp).build()
}

/// One object read back from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreObject {
    /// The object's key name (`{guid}`), as stored.
    pub key: String,
    pub id: Option<Guid>,
    pub kind: Option<u32>,
    /// (element type, its `Element` value), in key order.
    pub elements: Vec<(u32, Value)>,
}

impl StoreObject {
    pub fn element(&self, element_type: u32) -> Option<&Value> {
        self.elements.iter().find(|(t, _)| *t == element_type).map(|(_, v)| v)
    }
    /// A device element, decoded.
    pub fn device(&self, element_type: u32) -> Option<Result<Device, DeviceError>> {
        self.element(element_type).map(|v| decode_device(&v.data))
    }
}

/// The objects of a parsed store (for `check` and tests). Keys that are not objects or
/// elements in the expected shape are skipped.
pub fn read_store(hive: &Hive) -> Result<Vec<StoreObject>, RegfError> {
    let objects = hive
        .root
        .subkey("Objects")
        .ok_or_else(|| RegfError::NotFound { path: "Objects".into() })?;
    let mut out = Vec::new();
    for o in &objects.subkeys {
        let kind = o.get("Description").and_then(|d| d.value("Type")).and_then(Value::as_dword);
        let mut elements = Vec::new();
        if let Some(els) = o.subkey("Elements") {
            for e in &els.subkeys {
                let (Ok(t), Some(v)) = (u32::from_str_radix(&e.name, 16), e.value("Element"))
                else {
                    continue;
                };
                if e.name.len() == 8 {
                    elements.push((t, v.clone()));
                }
            }
        }
        out.push(StoreObject {
            key: o.name.clone(),
            id: Guid::parse(&o.name).ok(),
            kind,
            elements,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    const DISK: Guid = Guid::from_fields(
        0x1111_2222,
        0x3333,
        0x4444,
        [0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC],
    );
    const PART: Guid = Guid::from_fields(
        0xA1B2_C3D4,
        0xE5F6,
        0x0718,
        [0x29, 0x3A, 0x4B, 0x5C, 0x6D, 0x7E, 0x8F, 0x90],
    );
    const ESP: Guid =
        Guid::from_fields(0x0102_0304, 0x0506, 0x0708, [9, 10, 11, 12, 13, 14, 15, 16]);
    const LOADER: Guid = Guid::from_fields(
        0xCAFE_F00D,
        0x1234,
        0x4567,
        [0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67],
    );

    /// A partition=C: element of a Windows 8.1 store on an MBR disk, as published by
    /// mistyprojects' BCDEdit notes: offset 0x15f00000, signature 0xb3eba8f1.
    fn published_mbr_blob() -> Vec<u8> {
        let mut b = vec![0u8; 0x58];
        b[0x10] = 6;
        b[0x18] = 0x48;
        b[0x22] = 0xf0;
        b[0x23] = 0x15;
        b[0x34] = 1;
        b[0x38..0x3C].copy_from_slice(&[0xf1, 0xa8, 0xeb, 0xb3]);
        b
    }

    #[test]
    fn decodes_published_mbr_element() {
        assert_eq!(
            decode_device(&published_mbr_blob()),
            Ok(Device::Partition(Partition::Mbr { signature: 0xb3eb_a8f1, offset: 0x15f0_0000 }))
        );
        let p = Device::Partition(Partition::Mbr { signature: 0xb3eb_a8f1, offset: 0x15f0_0000 });
        assert_eq!(encode_device(&p), published_mbr_blob());
    }

    #[test]
    fn device_round_trips() {
        for d in [
            Device::Partition(Partition::Gpt { disk: DISK, partition: PART }),
            Device::Partition(Partition::Mbr { signature: 0x1234_5678, offset: 1 << 20 }),
            Device::Partition(Partition::Mbr { signature: 0, offset: u64::MAX }),
            Device::Boot,
            Device::Other(8),
        ] {
            let blob = encode_device(&d);
            assert_eq!(blob.len(), DEVICE_BLOB_LEN);
            assert_eq!(decode_device(&blob), Ok(d));
        }
        let gpt = encode_device(&Device::Partition(Partition::Gpt { disk: DISK, partition: PART }));
        assert_eq!(&gpt[0x20..0x30], &PART.to_bytes());
        assert_eq!(&gpt[0x38..0x48], &DISK.to_bytes());
        assert_eq!(&gpt[0x30..0x38], &[0; 8]);
    }

    #[test]
    fn device_decode_errors() {
        let good = published_mbr_blob();
        for len in 0..0x48 {
            assert!(
                matches!(decode_device(&good[..len]), Err(DeviceError::Truncated { .. })),
                "{len}"
            );
        }
        let mut b = good.clone();
        b[0x34] = 7;
        assert_eq!(decode_device(&b), Err(DeviceError::UnknownStyle(7)));
        let mut b = good.clone();
        b[0x18..0x1C].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_device(&b).is_err());
        assert!(DeviceError::UnknownStyle(7).to_string().contains('7'));
        assert_eq!(PartitionStyle::Gpt.wmi_code(), 1);
        assert_eq!(PartitionStyle::Mbr.blob_code(), 1);
    }

    fn config(firmware: BcdFirmware) -> StoreConfig {
        let (boot, windows) = match firmware {
            BcdFirmware::Uefi => (
                Partition::Gpt { disk: DISK, partition: ESP },
                Partition::Gpt { disk: DISK, partition: PART },
            ),
            BcdFirmware::Bios => {
                let p = Partition::Mbr { signature: 0xDEAD_BEEF, offset: 0x0010_0000 };
                (p, p)
            }
        };
        StoreConfig {
            firmware,
            boot_partition: boot,
            windows_partition: windows,
            loader: LOADER,
            description: "Windows To Go".into(),
            locale: "en-US".into(),
            timeout: 30,
            timestamp: 0x01DA_0000_0000_0000,
        }
    }

    #[test]
    fn names() {
        assert_eq!(guid_key(&BOOTMGR), "{9dea862c-5cdd-4e70-acc1-f32b344d4795}");
        assert_eq!(element_key(ELEM_BOOT_MENU_POLICY), "250000c2");
        assert_eq!(ElementFormat::of(ELEM_OS_DEVICE), ElementFormat::Device);
        assert_eq!(ElementFormat::of(ELEM_RECOVERY_ENABLED), ElementFormat::Boolean);
        assert_eq!(ElementFormat::of(ELEM_DISPLAY_ORDER), ElementFormat::ObjectList);
        assert_eq!(ElementFormat::of(ELEM_DEFAULT), ElementFormat::Object);
        assert_eq!(ElementFormat::of(ELEM_TIMEOUT), ElementFormat::Integer);
    }

    #[test]
    fn store_reads_back() {
        for fw in [BcdFirmware::Uefi, BcdFirmware::Bios] {
            let cfg = config(fw);
            let hive = Hive::parse(&build_store(&cfg).unwrap()).unwrap();
            let d = hive.root.get("Description").unwrap();
            assert_eq!(d.value("KeyName").unwrap().as_string().unwrap(), "BCD00000000");
            assert_eq!(d.value("System").unwrap().as_dword(), Some(1));
            assert_eq!(d.value("TreatAsSystem").unwrap().as_dword(), Some(1));
            let objects = read_store(&hive).unwrap();
            assert_eq!(objects.len(), 2);
            let mgr = objects.iter().find(|o| o.id == Some(BOOTMGR)).unwrap();
            let ldr = objects.iter().find(|o| o.id == Some(LOADER)).unwrap();
            assert_eq!(mgr.kind, Some(TYPE_BOOT_MANAGER));
            assert_eq!(ldr.kind, Some(TYPE_OS_LOADER));
            // Each element's registry type follows its format.
            for o in [mgr, ldr] {
                for (t, v) in &o.elements {
                    let expect = match ElementFormat::of(*t) {
                        ElementFormat::String | ElementFormat::Object => regf::REG_SZ,
                        ElementFormat::ObjectList => regf::REG_MULTI_SZ,
                        _ => regf::REG_BINARY,
                    };
                    assert_eq!(v.kind, expect, "{t:08x}");
                }
            }
            assert_eq!(mgr.device(ELEM_DEVICE), Some(Ok(Device::Partition(cfg.boot_partition))));
            assert_eq!(ldr.device(ELEM_DEVICE), Some(Ok(Device::Partition(cfg.windows_partition))));
            assert_eq!(
                ldr.device(ELEM_OS_DEVICE),
                Some(Ok(Device::Partition(cfg.windows_partition)))
            );
            let loader_key = guid_key(&LOADER);
            assert_eq!(mgr.element(ELEM_DEFAULT).unwrap().as_string().unwrap(), loader_key);
            assert_eq!(
                mgr.element(ELEM_DISPLAY_ORDER).unwrap().as_multi_sz().unwrap(),
                [loader_key]
            );
            assert_eq!(mgr.element(ELEM_TIMEOUT).unwrap().data, 30u64.to_le_bytes());
            assert_eq!(ldr.element(ELEM_RECOVERY_ENABLED).unwrap().data, [0]);
            assert_eq!(ldr.element(ELEM_SYSTEM_ROOT).unwrap().as_string().unwrap(), r"\Windows");
            let (winload, mgr_path) = match fw {
                BcdFirmware::Uefi => {
                    (r"\Windows\system32\winload.efi", Some(r"\EFI\Microsoft\Boot\bootmgfw.efi"))
                }
                BcdFirmware::Bios => (r"\Windows\system32\winload.exe", None),
            };
            assert_eq!(ldr.element(ELEM_PATH).unwrap().as_string().unwrap(), winload);
            assert_eq!(mgr.element(ELEM_PATH).and_then(Value::as_string).as_deref(), mgr_path);
            assert_eq!(
                ldr.element(ELEM_DESCRIPTION).unwrap().as_string().unwrap(),
                "Windows To Go"
            );
        }
    }
}
