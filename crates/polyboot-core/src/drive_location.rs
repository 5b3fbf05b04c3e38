//! Finding the partitions of a polyboot drive: the data partition (1) and the boot
//! partition (2), from GPT or MBR. Shared by the host CLI and the boot manager.

use crate::block::{IoError, ReadAt};
use crate::gpt::{self, GptError, SectorSize};
use crate::guid::Guid;
use crate::layout::Scheme;
use crate::mbr::{self, Mbr};
use alloc::string::String;
use core::fmt;

/// Byte range of a partition on its disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSpan {
    pub number: u32,
    pub offset: u64,
    pub size: u64,
}

/// Where a polyboot drive keeps its partitions, and how the drive identifies itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveLocation {
    pub scheme: Scheme,
    pub sector_size: u32,
    pub data: PartitionSpan,
    pub boot: PartitionSpan,
    pub disk_guid: Option<Guid>,
    pub mbr_signature: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocateError {
    Io(IoError),
    BadGpt(GptError),
    /// Readable, but not laid out by polyboot; the text says what is missing.
    NotPolyboot(String),
}

impl fmt::Display for LocateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocateError::Io(e) => write!(f, "reading the partition table: {e}"),
            LocateError::BadGpt(e) => write!(f, "the GPT is unreadable: {e}"),
            LocateError::NotPolyboot(why) => write!(f, "not a polyboot drive: {why}"),
        }
    }
}

crate::block::error_with_io!(LocateError);

fn not_polyboot(why: impl Into<String>) -> LocateError {
    LocateError::NotPolyboot(why.into())
}

/// Locate partitions 1 and 2. `sector_size` is the device's logical sector size when the
/// caller knows it (firmware, block devices); image files are probed.
pub fn locate<D: ReadAt + ?Sized>(
    dev: &mut D,
    sector_size: Option<SectorSize>,
) -> Result<DriveLocation, LocateError> {
    let gpt_size = match sector_size {
        Some(ss) => {
            let mut sig = [0u8; 8];
            dev.read_at(ss.bytes(), &mut sig)?;
            (&sig == b"EFI PART")
                .then_some(ss)
                .or(gpt::detect_sector_size(dev)?.filter(|d| *d == ss))
        }
        None => gpt::detect_sector_size(dev)?,
    };
    if let Some(ss) = gpt_size {
        let read = gpt::read(dev, ss).map_err(LocateError::BadGpt)?;
        let g = &read.gpt;
        let part = |n: u32, want: Guid, what: &str| -> Result<PartitionSpan, LocateError> {
            let p = g
                .partition(n)
                .ok_or_else(|| not_polyboot(alloc::format!("no partition {n} ({what})")))?;
            if p.type_guid != want {
                return Err(not_polyboot(alloc::format!(
                    "partition {n} has type {} instead of {what}",
                    p.type_guid
                )));
            }
            Ok(PartitionSpan {
                number: n,
                offset: p.first_lba * ss.bytes(),
                size: p.sectors() * ss.bytes(),
            })
        };
        return Ok(DriveLocation {
            scheme: Scheme::Gpt,
            sector_size: ss.bytes() as u32,
            data: part(1, Guid::MICROSOFT_BASIC_DATA, "Microsoft basic data")?,
            boot: part(2, Guid::EFI_SYSTEM, "EFI system")?,
            disk_guid: Some(g.disk_guid),
            mbr_signature: None,
        });
    }
    let mut sector = [0u8; 512];
    dev.read_at(0, &mut sector)?;
    let table = Mbr::parse(&sector)
        .map_err(|e| not_polyboot(alloc::format!("no GPT and no valid MBR ({e})")))?;
    let (Some(data), Some(boot)) = (table.partitions[0], table.partitions[1]) else {
        return Err(not_polyboot("the MBR does not have partitions 1 and 2"));
    };
    if data.partition_type != mbr::types::EXFAT_NTFS
        || boot.partition_type != mbr::types::EFI_SYSTEM
    {
        return Err(not_polyboot("MBR partition types are not exFAT (0x07) + EFI (0xEF)"));
    }
    // MBR does not record the sector size: use the known one, or the one at which partition 1
    // holds an exFAT boot sector.
    let candidates: &[u64] = match sector_size {
        Some(ss) => &[ss.bytes()][..],
        None => &[512, 4096],
    };
    let size = dev.size();
    for &ss in candidates {
        let at = data.first_lba as u64 * ss;
        let mut name = [0u8; 11];
        if at.checked_add(512).is_some_and(|end| end <= size) {
            dev.read_at(at, &mut name)?;
            if &name[3..11] == b"EXFAT   " {
                return Ok(DriveLocation {
                    scheme: Scheme::Mbr,
                    sector_size: ss as u32,
                    data: PartitionSpan {
                        number: 1,
                        offset: at,
                        size: data.sector_count as u64 * ss,
                    },
                    boot: PartitionSpan {
                        number: 2,
                        offset: boot.first_lba as u64 * ss,
                        size: boot.sector_count as u64 * ss,
                    },
                    disk_guid: None,
                    mbr_signature: Some(table.disk_signature),
                });
            }
        }
    }
    Err(not_polyboot("partition 1 holds no exFAT file system"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use crate::layout::{plan, write_partition_table, BootCode, Identity, LayoutRequest};

    fn drive(scheme: Scheme, ss: SectorSize) -> (MemDevice, crate::layout::Plan) {
        let req = LayoutRequest::new(
            128 << 20,
            ss,
            scheme,
            Identity::from_random_bytes(&core::array::from_fn(|i| {
                (i as u8).wrapping_mul(7).wrapping_add(1)
            })),
        );
        let p = plan(&req).unwrap();
        let mut dev = MemDevice::new(128 << 20);
        write_partition_table(&p, &mut dev, BootCode::Clear).unwrap();
        // Just enough of an exFAT boot sector for the MBR probe.
        dev.data[p.data.offset_bytes as usize + 3..p.data.offset_bytes as usize + 11]
            .copy_from_slice(b"EXFAT   ");
        (dev, p)
    }

    #[test]
    fn finds_both_partitions_for_every_scheme_and_sector_size() {
        for scheme in [Scheme::Gpt, Scheme::Mbr] {
            for ss in [SectorSize::B512, SectorSize::B4096] {
                let (mut dev, p) = drive(scheme, ss);
                for hint in [None, Some(ss)] {
                    let loc = locate(&mut dev, hint).unwrap();
                    assert_eq!(loc.scheme, scheme);
                    assert_eq!(loc.sector_size as u64, ss.bytes());
                    assert_eq!(
                        (loc.data.offset, loc.data.size),
                        (p.data.offset_bytes, p.data.size_bytes)
                    );
                    assert_eq!(
                        (loc.boot.offset, loc.boot.size),
                        (p.boot.offset_bytes, p.boot.size_bytes)
                    );
                }
            }
        }
    }

    #[test]
    fn foreign_disks_are_not_polyboot() {
        assert!(matches!(
            locate(&mut MemDevice::new(1 << 20), None),
            Err(LocateError::NotPolyboot(_))
        ));
        let (mut dev, p) = drive(Scheme::Mbr, SectorSize::B512);
        dev.data[p.data.offset_bytes as usize + 3] = b'X';
        assert!(matches!(locate(&mut dev, None), Err(LocateError::NotPolyboot(_))));
        assert!(locate(&mut MemDevice::new(100), None).is_err());
    }
}
