//! A polyboot drive on the host: its layout, the boot partition and the exFAT data partition.

pub mod bootcode;
pub mod bootpart;
pub mod install;
pub mod io;
pub mod update;

use anyhow::{bail, Context, Result};
use io::FileDevice;
use polyboot_core::block::{ReadAt, Slice};
use polyboot_core::exfat::ExFat;
use polyboot_core::gpt::{self, SectorSize};
use polyboot_core::guid::Guid;
use polyboot_core::layout::Scheme;
use polyboot_core::mbr::{self, Mbr};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PartitionRange {
    pub number: u32,
    pub offset: u64,
    pub size: u64,
}

/// What the partition table of a polyboot drive says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriveLayout {
    #[serde(serialize_with = "serialize_display")]
    pub scheme: Scheme,
    pub sector_size: u32,
    pub disk_bytes: u64,
    pub data: PartitionRange,
    pub boot: PartitionRange,
    /// GPT disk GUID (GPT) — with the MBR signature, how the boot side recognises the drive.
    pub disk_guid: Option<String>,
    pub mbr_signature: Option<u32>,
}

fn serialize_display<S: serde::Serializer, T: std::fmt::Display>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Find partitions 1 (data) and 2 (boot) of a drive laid out by `install`.
pub fn read_layout(dev: &mut FileDevice) -> Result<DriveLayout> {
    let disk_bytes = dev.size();
    if let Some(ss) = gpt::detect_sector_size(dev).context("reading the partition table")? {
        let read = gpt::read(dev, ss).map_err(|e| anyhow::anyhow!("the GPT is unreadable: {e}"))?;
        let g = &read.gpt;
        let part = |n: u32, want: Guid, what: &str| -> Result<PartitionRange> {
            let p = g
                .partition(n)
                .with_context(|| format!("no partition {n} ({what}): not a polyboot drive"))?;
            if p.type_guid != want {
                bail!(
                    "partition {n} has type {} instead of {what}: not a polyboot drive",
                    p.type_guid
                );
            }
            Ok(PartitionRange {
                number: n,
                offset: p.first_lba * ss.bytes(),
                size: p.sectors() * ss.bytes(),
            })
        };
        return Ok(DriveLayout {
            scheme: Scheme::Gpt,
            sector_size: ss.bytes() as u32,
            disk_bytes,
            data: part(1, Guid::MICROSOFT_BASIC_DATA, "Microsoft basic data")?,
            boot: part(2, Guid::EFI_SYSTEM, "EFI system")?,
            disk_guid: Some(g.disk_guid.to_string()),
            mbr_signature: None,
        });
    }
    let mut sector = [0u8; 512];
    dev.read_at(0, &mut sector).context("reading the MBR")?;
    let table = Mbr::parse(&sector).map_err(|e| anyhow::anyhow!("no GPT and no valid MBR: {e}"))?;
    let (Some(data), Some(boot)) = (table.partitions[0], table.partitions[1]) else {
        bail!("the MBR does not have partitions 1 and 2: not a polyboot drive");
    };
    if data.partition_type != mbr::types::EXFAT_NTFS
        || boot.partition_type != mbr::types::EFI_SYSTEM
    {
        bail!("MBR partition types are not exFAT (0x07) + EFI (0xEF): not a polyboot drive");
    }
    // MBR does not record the sector size: take the one at which partition 1 holds exFAT.
    for ss in [512u64, 4096] {
        let mut boot_sector = [0u8; 11];
        let at = data.first_lba as u64 * ss;
        if at + 512 <= disk_bytes
            && dev.read_at(at, &mut boot_sector).is_ok()
            && &boot_sector[3..11] == b"EXFAT   "
        {
            return Ok(DriveLayout {
                scheme: Scheme::Mbr,
                sector_size: ss as u32,
                disk_bytes,
                data: PartitionRange { number: 1, offset: at, size: data.sector_count as u64 * ss },
                boot: PartitionRange {
                    number: 2,
                    offset: boot.first_lba as u64 * ss,
                    size: boot.sector_count as u64 * ss,
                },
                disk_guid: None,
                mbr_signature: Some(table.disk_signature),
            });
        }
    }
    bail!("partition 1 holds no exFAT file system: not a polyboot drive")
}

/// An existing polyboot drive, opened for reading or writing.
pub struct Drive {
    pub path: PathBuf,
    pub layout: DriveLayout,
    pub stamp: bootpart::Stamp,
    dev: FileDevice,
}

impl Drive {
    pub fn open(path: &Path, writable: bool) -> Result<Drive> {
        let mut dev = if writable { FileDevice::open_rw(path)? } else { FileDevice::open(path)? };
        let layout = read_layout(&mut dev)
            .with_context(|| format!("{} is not a polyboot drive", path.display()))?;
        let stamp = bootpart::read_stamp(dev.file(), layout.boot.offset, layout.boot.size)?
            .with_context(|| {
                format!(
                    "{}: partition 2 has no polyboot stamp: not a polyboot drive",
                    path.display()
                )
            })?;
        Ok(Drive { path: path.to_path_buf(), layout, stamp, dev })
    }

    /// The exFAT data partition.
    pub fn data(&mut self) -> Result<ExFat<Slice<&mut FileDevice>>> {
        let part = Slice::new(&mut self.dev, self.layout.data.offset, self.layout.data.size)
            .map_err(|e| anyhow::anyhow!("partition 1 lies outside the disk: {e}"))?;
        ExFat::open(part).map_err(|e| anyhow::anyhow!("cannot open the exFAT data partition: {e}"))
    }

    pub fn device(&mut self) -> &mut FileDevice {
        &mut self.dev
    }

    pub fn sync(&self) -> Result<()> {
        self.dev.sync()
    }
}

pub fn sector_size_of(bytes: u32) -> Result<SectorSize> {
    SectorSize::from_bytes(bytes as u64)
        .with_context(|| format!("unsupported sector size {bytes} (512 or 4096)"))
}
