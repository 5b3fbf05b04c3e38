//! The partition layout of a Windows To Go drive (`polyboot wtg create`): a pure plan, apart
//! from polyboot's own drive layout ([`crate::layout`]), written with the same GPT / MBR code.
//!
//! - GPT (default, UEFI): 1 ESP (FAT32, 260 MiB — enough clusters for FAT32 with 4 KiB
//!   sectors, what Microsoft recommends), 2 MSR (128 MiB), 3 Windows (NTFS, the rest).
//! - MBR (`--mbr`, BIOS and UEFI): 1 Windows (NTFS, type 0x07, active), 2 a small ESP
//!   (FAT32, type 0xEF) at the end.
//!
//! Partitions start on 1 MiB boundaries. The Windows partition must hold the image's
//! `TOTALBYTES` plus a margin ([`required_windows_bytes`]); a disk that is too small is refused
//! before anything is written.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::bcd::Partition;
use crate::block::WriteAt;
use crate::bytes::Fields;
use crate::gpt::{self, Gpt, GptError, GptPartition, PartitionName, SectorSize};
use crate::guid::Guid;
use crate::mbr::{self, Mbr, MbrPartition};

pub const MIB: u64 = 1 << 20;
/// Where the first partition starts.
pub const FIRST_PARTITION_BYTES: u64 = MIB;
/// The GPT layout's ESP.
pub const ESP_BYTES: u64 = 260 * MIB;
/// The MBR layout's ESP: FAT32 needs 65525 clusters; 100 MiB has them with 512-byte sectors
/// and clusters, 260 MiB is needed with 4 KiB sectors.
pub const MBR_ESP_BYTES_512: u64 = 100 * MIB;
pub const MSR_BYTES: u64 = 128 * MIB;
/// The smallest Windows partition accepted, whatever the image says.
pub const MIN_WINDOWS_BYTES: u64 = 64 * MIB;

/// Microsoft Reserved Partition.
pub const MSR_TYPE: Guid = Guid::from_text("E3C9E316-0B5C-4DB8-817D-F92DF00215AE");

/// GPT attribute bit 63 (basic data / ESP): "do not assign a drive letter", what Windows sets
/// on the ESP it creates so it is not mounted when the drive is plugged into another PC.
pub const ATTR_NO_DRIVE_LETTER: u64 = 1 << 63;

/// Bytes the Windows partition needs for an image of `image_bytes` (the WIM XML's
/// `TOTALBYTES`): the files plus 10 % (NTFS metadata, MFT, short names, cluster slack) plus
/// 64 MiB (log file, first boot), and never less than [`MIN_WINDOWS_BYTES`].
pub fn required_windows_bytes(image_bytes: u64) -> u64 {
    image_bytes.saturating_add(image_bytes / 10).saturating_add(64 * MIB).max(MIN_WINDOWS_BYTES)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WtgScheme {
    Gpt,
    Mbr,
}

/// What role a partition has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Esp,
    Msr,
    Windows,
}

/// Random identifiers, drawn by the caller (the core has no randomness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WtgIdentity {
    pub disk_guid: Guid,
    pub esp_guid: Guid,
    pub msr_guid: Guid,
    pub windows_guid: Guid,
    /// MBR disk signature (never 0: Windows replaces a zero signature on first sight).
    pub mbr_signature: u32,
}

impl WtgIdentity {
    pub fn from_random_bytes(b: &[u8; 68]) -> WtgIdentity {
        let g = |i: usize| {
            let mut x = [0u8; 16];
            x.copy_from_slice(&b[i * 16..i * 16 + 16]);
            Guid::from_random_bytes(x)
        };
        let sig = b.le32::<64>();
        WtgIdentity {
            disk_guid: g(0),
            esp_guid: g(1),
            msr_guid: g(2),
            windows_guid: g(3),
            mbr_signature: if sig == 0 { 0x5742_4F50 } else { sig },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WtgRequest {
    pub disk_bytes: u64,
    pub sector_size: SectorSize,
    pub scheme: WtgScheme,
    /// `TOTALBYTES` of the chosen image (0 when unknown: only the minimum is checked).
    pub image_bytes: u64,
    pub identity: WtgIdentity,
}

/// One planned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WtgPartition {
    pub role: Role,
    /// 1-based partition number.
    pub number: u32,
    pub first_lba: u64,
    pub sectors: u64,
    pub offset_bytes: u64,
    pub size_bytes: u64,
    /// GPT type GUID (GPT) — MBR: see `mbr_type`.
    pub type_guid: Guid,
    pub unique_guid: Guid,
    pub attributes: u64,
    pub name: &'static str,
    pub mbr_type: u8,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WtgPlan {
    pub scheme: WtgScheme,
    pub sector_size: SectorSize,
    pub disk_bytes: u64,
    pub disk_sectors: u64,
    pub identity: WtgIdentity,
    /// In partition-number order.
    pub partitions: Vec<WtgPartition>,
    /// What the Windows partition needs ([`required_windows_bytes`]).
    pub required_windows_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WtgLayoutError {
    /// The disk cannot hold the layout with a Windows partition large enough for the image.
    TooSmall {
        disk_bytes: u64,
        needed_disk_bytes: u64,
        windows_bytes: u64,
        required_windows_bytes: u64,
    },
    Gpt(GptError),
}

impl fmt::Display for WtgLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WtgLayoutError::TooSmall {
                disk_bytes,
                needed_disk_bytes,
                windows_bytes,
                required_windows_bytes,
            } => write!(
                f,
                "too small for this image: the disk has {} MiB, the Windows partition would get {} MiB \
                 but the image needs {} MiB (its total bytes + 10 % + 64 MiB): at least {} MiB are needed",
                disk_bytes / MIB,
                windows_bytes / MIB,
                required_windows_bytes.div_ceil(MIB),
                needed_disk_bytes.div_ceil(MIB)
            ),
            WtgLayoutError::Gpt(e) => write!(f, "GPT: {e}"),
        }
    }
}

impl core::error::Error for WtgLayoutError {}

fn align_down(v: u64, a: u64) -> u64 {
    v / a * a
}

/// Plan the layout (pure).
pub fn plan(req: &WtgRequest) -> Result<WtgPlan, WtgLayoutError> {
    let ss = req.sector_size.bytes();
    let disk_sectors = req.disk_bytes / ss;
    let required = required_windows_bytes(req.image_bytes);
    let id = &req.identity;
    let part = |role, number, first_lba: u64, sectors: u64| WtgPartition {
        role,
        number,
        first_lba,
        sectors,
        offset_bytes: first_lba * ss,
        size_bytes: sectors * ss,
        type_guid: match role {
            Role::Esp => Guid::EFI_SYSTEM,
            Role::Msr => MSR_TYPE,
            Role::Windows => Guid::MICROSOFT_BASIC_DATA,
        },
        unique_guid: match role {
            Role::Esp => id.esp_guid,
            Role::Msr => id.msr_guid,
            Role::Windows => id.windows_guid,
        },
        attributes: match role {
            Role::Esp => ATTR_NO_DRIVE_LETTER,
            _ => 0,
        },
        name: match role {
            Role::Esp => "EFI system partition",
            Role::Msr => "Microsoft reserved partition",
            Role::Windows => "Basic data partition",
        },
        mbr_type: match role {
            Role::Esp => mbr::types::EFI_SYSTEM,
            _ => mbr::types::EXFAT_NTFS,
        },
        active: role == Role::Windows,
    };
    let first = FIRST_PARTITION_BYTES / ss;
    let (partitions, windows_bytes, fixed_bytes) = match req.scheme {
        WtgScheme::Gpt => {
            let esp_s = ESP_BYTES / ss;
            let msr_s = MSR_BYTES / ss;
            let win_first = first + esp_s + msr_s;
            // The backup entry array (16 KiB) and header sit at the end.
            let array = req.sector_size.standard_entry_array_sectors();
            let last_usable = disk_sectors.saturating_sub(array + 2);
            let win_end = align_down(last_usable + 1, MIB / ss);
            let win_s = win_end.saturating_sub(win_first);
            (
                alloc::vec![
                    part(Role::Esp, 1, first, esp_s),
                    part(Role::Msr, 2, first + esp_s, msr_s),
                    part(Role::Windows, 3, win_first, win_s),
                ],
                win_s * ss,
                FIRST_PARTITION_BYTES + ESP_BYTES + MSR_BYTES + 2 * MIB,
            )
        }
        WtgScheme::Mbr => {
            let esp_bytes = if ss == 512 { MBR_ESP_BYTES_512 } else { ESP_BYTES };
            let esp_s = esp_bytes / ss;
            // MBR addresses 2^32 sectors at most: a larger disk keeps its tail unused.
            let usable = disk_sectors.min(u32::MAX as u64);
            let esp_first = align_down(usable.saturating_sub(esp_s), MIB / ss);
            let win_s = esp_first.saturating_sub(first);
            (
                alloc::vec![
                    part(Role::Windows, 1, first, win_s),
                    part(Role::Esp, 2, esp_first, esp_s),
                ],
                win_s * ss,
                FIRST_PARTITION_BYTES + esp_bytes + MIB,
            )
        }
    };
    if windows_bytes < required || disk_sectors == 0 {
        return Err(WtgLayoutError::TooSmall {
            disk_bytes: req.disk_bytes,
            needed_disk_bytes: fixed_bytes + required,
            windows_bytes,
            required_windows_bytes: required,
        });
    }
    let plan = WtgPlan {
        scheme: req.scheme,
        sector_size: req.sector_size,
        disk_bytes: req.disk_bytes,
        disk_sectors,
        identity: req.identity,
        partitions,
        required_windows_bytes: required,
    };
    if plan.scheme == WtgScheme::Gpt {
        plan.gpt()?.validate().map_err(WtgLayoutError::Gpt)?;
    }
    Ok(plan)
}

impl From<GptError> for WtgLayoutError {
    fn from(e: GptError) -> Self {
        WtgLayoutError::Gpt(e)
    }
}

impl WtgPlan {
    pub fn get(&self, role: Role) -> Option<&WtgPartition> {
        self.partitions.iter().find(|p| p.role == role)
    }
    pub fn esp(&self) -> &WtgPartition {
        self.get(Role::Esp).expect("every plan has an ESP")
    }
    pub fn windows(&self) -> &WtgPartition {
        self.get(Role::Windows).expect("every plan has a Windows partition")
    }

    /// How BCD names a partition of this plan.
    pub fn bcd_partition(&self, p: &WtgPartition) -> Partition {
        match self.scheme {
            WtgScheme::Gpt => {
                Partition::Gpt { disk: self.identity.disk_guid, partition: p.unique_guid }
            }
            WtgScheme::Mbr => {
                Partition::Mbr { signature: self.identity.mbr_signature, offset: p.offset_bytes }
            }
        }
    }

    /// The GPT of a GPT plan.
    pub fn gpt(&self) -> Result<Gpt, GptError> {
        let mut gpt = Gpt::new(self.sector_size, self.disk_sectors, self.identity.disk_guid)?;
        for p in &self.partitions {
            gpt.set_partition(
                p.number,
                GptPartition {
                    type_guid: p.type_guid,
                    unique_guid: p.unique_guid,
                    first_lba: p.first_lba,
                    last_lba: p.first_lba + p.sectors - 1,
                    attributes: p.attributes,
                    name: PartitionName::new(p.name)?,
                },
            )?;
        }
        Ok(gpt)
    }

    /// The MBR sector: a protective MBR (GPT), or the real table (MBR), with zero boot code;
    /// `wtg create --mbr` then writes polyboot's own BIOS loader (`polyboot-wtg-bios`: stage 0
    /// here, stage 1 in the gap), which starts `\bootmgr` as an NT6 boot record would.
    pub fn mbr(&self) -> Mbr {
        match self.scheme {
            WtgScheme::Gpt => Mbr::protective(self.disk_sectors),
            WtgScheme::Mbr => {
                let mut m = Mbr::empty(self.identity.mbr_signature);
                for p in &self.partitions {
                    m.partitions[p.number as usize - 1] = Some(MbrPartition {
                        active: p.active,
                        partition_type: p.mbr_type,
                        first_lba: p.first_lba as u32,
                        sector_count: p.sectors as u32,
                    });
                }
                m
            }
        }
    }

    /// Byte ranges an old partition table may occupy (start and end of the disk): cleared
    /// before anything else is written, so an interrupted run leaves no table at all.
    pub fn table_areas(&self) -> [(u64, u64); 2] {
        let ss = self.sector_size.bytes();
        let tail = (self.sector_size.standard_entry_array_sectors() + 1) * ss;
        [
            (0, FIRST_PARTITION_BYTES.min(self.disk_bytes)),
            (
                self.disk_sectors * ss - tail.min(self.disk_sectors * ss),
                tail.min(self.disk_sectors * ss),
            ),
        ]
    }

    /// Write the partition table: the last step of `wtg create`.
    pub fn write_table<D: WriteAt + ?Sized>(&self, dev: &mut D) -> Result<(), GptError> {
        let ss = self.sector_size.bytes();
        if self.scheme == WtgScheme::Gpt {
            gpt::write(dev, &self.gpt()?)?;
        }
        let mut sector = alloc::vec![0u8; ss as usize];
        sector[..mbr::MBR_SIZE].copy_from_slice(&self.mbr().to_bytes());
        dev.write_at(0, &sector)?;
        dev.flush()?;
        Ok(())
    }
}

impl fmt::Display for WtgPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ss = self.sector_size.bytes();
        writeln!(
            f,
            "{} layout, {} bytes ({}-byte sectors)",
            match self.scheme {
                WtgScheme::Gpt => "GPT",
                WtgScheme::Mbr => "MBR",
            },
            self.disk_bytes,
            ss
        )?;
        for p in &self.partitions {
            let what: String = match p.role {
                Role::Esp => "ESP (FAT32)".into(),
                Role::Msr => "MSR".into(),
                Role::Windows => "Windows (NTFS)".into(),
            };
            writeln!(
                f,
                "  {}: {what:<15} start {:>12}  size {:>10} MiB{}",
                p.number,
                p.offset_bytes,
                p.size_bytes / MIB,
                if self.scheme == WtgScheme::Mbr && p.active { "  active" } else { "" }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpt::SectorSize;
    use alloc::format;

    fn id() -> WtgIdentity {
        WtgIdentity::from_random_bytes(&core::array::from_fn(|i| (i * 7 + 1) as u8))
    }

    fn req(disk: u64, scheme: WtgScheme, image: u64) -> WtgRequest {
        WtgRequest {
            disk_bytes: disk,
            sector_size: SectorSize::B512,
            scheme,
            image_bytes: image,
            identity: id(),
        }
    }

    #[test]
    fn gpt_layout() {
        let p = plan(&req(32 << 30, WtgScheme::Gpt, 16 << 30)).unwrap();
        assert_eq!(p.partitions.len(), 3);
        let esp = &p.partitions[0];
        assert_eq!(
            (esp.role, esp.number, esp.first_lba, esp.size_bytes),
            (Role::Esp, 1, 2048, 260 * MIB)
        );
        assert_eq!(esp.type_guid, Guid::EFI_SYSTEM);
        assert_eq!(esp.attributes, 1 << 63);
        let msr = &p.partitions[1];
        assert_eq!((msr.role, msr.offset_bytes, msr.size_bytes), (Role::Msr, 261 * MIB, 128 * MIB));
        assert_eq!(
            format!("{}", msr.type_guid).to_ascii_uppercase(),
            "E3C9E316-0B5C-4DB8-817D-F92DF00215AE"
        );
        let win = &p.partitions[2];
        assert_eq!(win.offset_bytes, 389 * MIB);
        assert_eq!(win.type_guid, Guid::MICROSOFT_BASIC_DATA);
        assert_eq!(win.offset_bytes % MIB, 0);
        assert_eq!((win.offset_bytes + win.size_bytes) % MIB, 0);
        let gpt = p.gpt().unwrap();
        gpt.validate().unwrap();
        assert!(win.first_lba + win.sectors - 1 <= gpt.last_usable_lba);
        assert_eq!(
            p.bcd_partition(win),
            Partition::Gpt { disk: id().disk_guid, partition: id().windows_guid }
        );
        assert!(p.mbr().has_gpt_protective());
    }

    #[test]
    fn mbr_layout() {
        let p = plan(&req(16 << 30, WtgScheme::Mbr, 8 << 30)).unwrap();
        let win = &p.partitions[0];
        assert_eq!(
            (win.role, win.number, win.first_lba, win.active, win.mbr_type),
            (Role::Windows, 1, 2048, true, 0x07)
        );
        let esp = &p.partitions[1];
        assert_eq!((esp.role, esp.number, esp.active, esp.mbr_type), (Role::Esp, 2, false, 0xEF));
        assert_eq!(esp.size_bytes, 100 * MIB);
        assert_eq!(win.offset_bytes + win.size_bytes, esp.offset_bytes);
        assert!(esp.offset_bytes + esp.size_bytes <= 16 << 30);
        let m = p.mbr();
        assert_eq!(m.disk_signature, id().mbr_signature);
        m.check_fits(p.disk_sectors).unwrap();
        assert_eq!(
            p.bcd_partition(win),
            Partition::Mbr { signature: id().mbr_signature, offset: MIB }
        );
        // 4 KiB sectors: a 260 MiB ESP.
        let mut r = req(16 << 30, WtgScheme::Mbr, 0);
        r.sector_size = SectorSize::B4096;
        let p = plan(&r).unwrap();
        assert_eq!(p.esp().size_bytes, 260 * MIB);
        assert_eq!(p.windows().first_lba, 256);
    }

    #[test]
    fn too_small_is_refused_with_numbers() {
        let e = plan(&req(8 << 30, WtgScheme::Gpt, 16 << 30)).unwrap_err();
        let WtgLayoutError::TooSmall { required_windows_bytes, needed_disk_bytes, .. } = e.clone()
        else {
            panic!("{e}")
        };
        assert_eq!(required_windows_bytes, required_windows_bytes_for(16 << 30));
        assert!(needed_disk_bytes > 16 << 30);
        assert!(format!("{e}").starts_with("too small for this image"), "{e}");
        // The minimum applies to tiny images; a tiny disk is refused, not panicked on.
        assert!(plan(&req(400 * MIB, WtgScheme::Gpt, 0)).is_err());
        assert!(plan(&req(0, WtgScheme::Mbr, 0)).is_err());
        assert!(plan(&req(4096, WtgScheme::Gpt, 0)).is_err());
        assert!(plan(&req(512 * MIB, WtgScheme::Gpt, 1 << 20)).is_ok());
        assert!(plan(&req(200 * MIB, WtgScheme::Mbr, 1 << 20)).is_ok());
    }

    fn required_windows_bytes_for(b: u64) -> u64 {
        b + b / 10 + 64 * MIB
    }

    #[test]
    fn mbr_is_capped_at_2_tib() {
        let p = plan(&req(4 << 40, WtgScheme::Mbr, 0)).unwrap();
        let esp = p.esp();
        assert!(esp.first_lba + esp.sectors <= u32::MAX as u64 + 1);
        p.mbr().check_fits(p.disk_sectors).unwrap();
    }

    #[test]
    fn table_write_round_trips() {
        use crate::block::MemDevice;
        let p = plan(&req(512 * MIB, WtgScheme::Gpt, 0)).unwrap();
        let mut d = MemDevice::new(512 * MIB as usize);
        p.write_table(&mut d).unwrap();
        let read = gpt::read(&mut d, SectorSize::B512).unwrap();
        assert_eq!(read.gpt, p.gpt().unwrap());
        let areas = p.table_areas();
        assert_eq!(areas[0], (0, MIB));
        assert_eq!(areas[1].0 + areas[1].1, 512 * MIB);
    }
}
