//! A polyboot drive on the host: its layout, the boot partition and the exFAT data partition.

pub mod bootcode;
pub mod bootpart;
pub mod install;
pub mod io;
pub mod signing;
pub mod update;

use anyhow::{anyhow, Context, Result};
use io::FileDevice;
use polyboot_core::block::{ReadAt, Slice};
use polyboot_core::drive_location::{self, LocateError, PartitionSpan};
use polyboot_core::exfat::ExFat;
use polyboot_core::gpt::SectorSize;
use polyboot_core::layout::Scheme;
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

/// Find partitions 1 (data) and 2 (boot) of a drive laid out by `install`: core's
/// [`drive_location::locate`], the same lookup the boot managers make.
pub fn read_layout(dev: &mut FileDevice) -> Result<DriveLayout> {
    let disk_bytes = dev.size();
    let location = drive_location::locate(dev, None).map_err(|e| match e {
        LocateError::NotPolyboot(why) => anyhow!("{why}: not a polyboot drive"),
        e => anyhow!(e),
    })?;
    let range =
        |p: PartitionSpan| PartitionRange { number: p.number, offset: p.offset, size: p.size };
    Ok(DriveLayout {
        scheme: location.scheme,
        sector_size: location.sector_size,
        disk_bytes,
        data: range(location.data),
        boot: range(location.boot),
        disk_guid: location.disk_guid.map(|g| g.to_string()),
        mbr_signature: location.mbr_signature,
    })
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
