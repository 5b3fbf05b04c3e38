//! The partition layout of a polyboot drive: a pure plan computed from the disk's size and
//! the user's options, and the writer that puts its partition table on a device.
//!
//! ```text
//! 0 .. 1 MiB            MBR (boot code 0..440) + primary GPT (GPT only) + BIOS loader gap
//! 1 MiB .. boot start   partition 1: data, exFAT, label e.g. POLYBOOT
//! boot start (1 MiB aligned) .. +32 MiB
//!                       partition 2: boot, FAT (EFI System type)
//! .. end                reserve requested by the user (+ alignment slack), then the backup
//!                       GPT (GPT only)
//! ```
//!
//! Neither MBR partition is marked active: UEFI ignores the flag and the legacy BIOS path runs
//! polyboot's own MBR code, which finds the boot partition by position, not by flag. (Some old
//! BIOSes only offer USB disks that have an active partition; if that turns out to matter,
//! marking partition 2 active is harmless.) The GPT's first usable LBA is the start of
//! partition 1, so partitioning tools never place anything in the BIOS loader gap.
//!
//! Formatting the partitions and installing boot code are done elsewhere.

use alloc::string::{String, ToString};
use alloc::vec;
use core::fmt;
use core::ops::Range;

use crate::block::{IoError, WriteAt};
use crate::bytes::Fields;
use crate::gpt::{self, Gpt, GptError, GptPartition, PartitionName, SectorSize};
use crate::guid::Guid;
use crate::mbr::{self, Mbr, MbrPartition, BOOT_CODE_LEN};

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
pub const TIB: u64 = 1 << 40;

/// Partition starts are multiples of this.
pub const ALIGNMENT_BYTES: u64 = MIB;
/// Where partition 1 starts; everything before is tables and boot code.
pub const DATA_START_BYTES: u64 = MIB;
pub const BOOT_PARTITION_BYTES: u64 = 32 * MIB;
/// Smallest data partition we create: room for a few small images and exFAT metadata.
pub const MIN_DATA_BYTES: u64 = 64 * MIB;
pub const DATA_PARTITION_NUMBER: u32 = 1;
pub const BOOT_PARTITION_NUMBER: u32 = 2;
pub const DEFAULT_DATA_LABEL: &str = "POLYBOOT";
/// GPT name of the boot partition.
pub const BOOT_PARTITION_NAME: &str = "POLYBOOT-EFI";
/// exFAT volume labels hold at most 11 UTF-16 units.
pub const MAX_LABEL_UNITS: usize = 11;
/// MBR entries hold 32-bit LBAs. util-linux (and so most Linux tools) treats a disk as
/// describable only when its sector count itself fits in 32 bits, one sector short of 2 TiB
/// at 512 bytes; follow it so no tool warns about our tables.
const MBR_MAX_SECTORS: u64 = u32::MAX as u64;
/// Bytes 0..440 of LBA 0: the MBR boot code.
pub const MBR_BOOT_CODE: Range<u64> = 0..BOOT_CODE_LEN as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Gpt,
    Mbr,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Gpt => "GPT",
            Scheme::Mbr => "MBR",
        })
    }
}

/// The identifiers a new drive gets. The caller draws them at random (the core has none);
/// the ones the scheme does not use are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub disk_guid: Guid,
    pub data_partition_guid: Guid,
    pub boot_partition_guid: Guid,
    pub mbr_signature: u32,
}

impl Identity {
    /// Three version-4 GUIDs and a signature from 52 random bytes.
    pub fn from_random_bytes(bytes: &[u8; 52]) -> Identity {
        let guid = |at: usize| {
            let mut g = [0u8; 16];
            g.copy_from_slice(&bytes[at..at + 16]);
            Guid::from_random_bytes(g)
        };
        let signature = bytes.le32::<48>();
        Identity {
            disk_guid: guid(0),
            data_partition_guid: guid(16),
            boot_partition_guid: guid(32),
            // Zero means "no signature" to Windows, which would then write its own.
            mbr_signature: if signature == 0 { 0x5059_4C50 } else { signature },
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRequest {
    pub disk_bytes: u64,
    pub sector_size: SectorSize,
    pub scheme: Scheme,
    /// Space to leave unpartitioned after the boot partition, in addition to the backup GPT
    /// (rounded up to whole sectors).
    pub reserve_bytes: u64,
    /// exFAT volume label of the data partition, also its GPT partition name.
    pub data_label: String,
    pub identity: Identity,
}

impl LayoutRequest {
    /// A request with no reserve and the default label.
    pub fn new(
        disk_bytes: u64,
        sector_size: SectorSize,
        scheme: Scheme,
        identity: Identity,
    ) -> LayoutRequest {
        LayoutRequest {
            disk_bytes,
            sector_size,
            scheme,
            reserve_bytes: 0,
            data_label: DEFAULT_DATA_LABEL.to_string(),
            identity,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The disk (minus the reserve) cannot hold the layout; sizes in bytes.
    TooSmall { needed: u64, got: u64 },
    /// MBR cannot address a disk this large with this sector size.
    MbrTooLarge { disk_bytes: u64, max_bytes: u64 },
    /// The label is not a valid exFAT volume label.
    BadLabel(&'static str),
    /// A GUID is zero or repeated, or the MBR signature is zero.
    BadIdentity(&'static str),
    /// Building the table failed; cannot happen for a plan this module computed.
    Table(GptError),
}

impl core::error::Error for LayoutError {}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::TooSmall { needed, got } => write!(
                f,
                "the disk is too small: {} ({needed} bytes) needed, {} ({got} bytes) available",
                Size(*needed),
                Size(*got)
            ),
            LayoutError::MbrTooLarge { disk_bytes, max_bytes } => write!(
                f,
                "an MBR cannot address this {} disk (at most {} with this sector size); use GPT",
                Size(*disk_bytes),
                Size(*max_bytes)
            ),
            LayoutError::BadLabel(why) => write!(f, "invalid data partition label: {why}"),
            LayoutError::BadIdentity(why) => write!(f, "invalid disk identity: {why}"),
            LayoutError::Table(e) => write!(f, "partition table: {e}"),
        }
    }
}

impl From<GptError> for LayoutError {
    fn from(e: GptError) -> Self {
        LayoutError::Table(e)
    }
}

/// How a partition is described in the partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Gpt { type_guid: Guid, unique_guid: Guid, name: String },
    Mbr { partition_type: u8, active: bool },
}

/// One planned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    pub number: u32,
    pub first_lba: u64,
    pub sectors: u64,
    pub offset_bytes: u64,
    pub size_bytes: u64,
    pub entry: EntryKind,
}

impl PlannedPartition {
    /// One past the last sector.
    pub fn end_lba(&self) -> u64 {
        self.first_lba.saturating_add(self.sectors)
    }

    pub fn end_bytes(&self) -> u64 {
        self.offset_bytes.saturating_add(self.size_bytes)
    }
}

/// Byte ranges the BIOS boot path may fill with code without touching any table or partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootCodeAreas {
    /// MBR bytes 0..440.
    pub mbr: Range<u64>,
    /// After the MBR (MBR scheme) or the primary GPT entry array, up to partition 1.
    pub loader_gap: Range<u64>,
}

/// The complete layout, ready to print (`--dry-run`) or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub scheme: Scheme,
    pub sector_size: SectorSize,
    pub disk_bytes: u64,
    pub disk_sectors: u64,
    pub data: PlannedPartition,
    pub boot: PlannedPartition,
    pub data_label: String,
    /// exFAT cluster size for the data partition (Microsoft's defaults for its size).
    pub exfat_cluster_bytes: u32,
    pub boot_code: BootCodeAreas,
    /// Unpartitioned bytes between the end of partition 2 and the end of the usable area
    /// (the backup GPT, if any, follows).
    pub tail_gap: Range<u64>,
    /// LBA 0 as written: the real MBR, or the protective MBR for GPT (boot code zero).
    pub mbr: Mbr,
    /// The GPT to write, for the GPT scheme.
    pub gpt: Option<Gpt>,
}

/// Compute the layout. Pure: same request, same plan.
pub fn plan(req: &LayoutRequest) -> Result<Plan, LayoutError> {
    check_label(&req.data_label)?;
    check_identity(req)?;

    let ss = req.sector_size.bytes();
    let disk_sectors = req.disk_bytes / ss;
    let mib = MIB / ss;
    // Sectors the backup GPT needs at the very end: entry array + header.
    let backup_gpt_sectors = match req.scheme {
        Scheme::Gpt => req.sector_size.standard_entry_array_sectors() + 1,
        Scheme::Mbr => 0,
    };
    if req.scheme == Scheme::Mbr && disk_sectors > MBR_MAX_SECTORS {
        return Err(LayoutError::MbrTooLarge {
            disk_bytes: req.disk_bytes,
            max_bytes: MBR_MAX_SECTORS * ss,
        });
    }

    let reserve_sectors = req.reserve_bytes.div_ceil(ss);
    let layout_sectors = (DATA_START_BYTES + MIN_DATA_BYTES + BOOT_PARTITION_BYTES) / ss;
    let needed_sectors =
        layout_sectors.saturating_add(backup_gpt_sectors).saturating_add(reserve_sectors);
    if disk_sectors < needed_sectors {
        return Err(LayoutError::TooSmall {
            needed: needed_sectors.saturating_mul(ss),
            got: req.disk_bytes,
        });
    }

    // End (exclusive) of the space partitions may use, then partition 2 as late as alignment
    // allows, and partition 1 filling everything between.
    let usable_end = disk_sectors - backup_gpt_sectors;
    let partitions_end = usable_end - reserve_sectors;
    let boot_sectors = BOOT_PARTITION_BYTES / ss;
    let boot_first = (partitions_end - boot_sectors) / mib * mib;
    let data_first = DATA_START_BYTES / ss;
    let data_sectors = boot_first - data_first;

    let id = &req.identity;
    let (data_entry, boot_entry) = match req.scheme {
        Scheme::Gpt => (
            EntryKind::Gpt {
                type_guid: Guid::MICROSOFT_BASIC_DATA,
                unique_guid: id.data_partition_guid,
                name: req.data_label.clone(),
            },
            EntryKind::Gpt {
                type_guid: Guid::EFI_SYSTEM,
                unique_guid: id.boot_partition_guid,
                name: BOOT_PARTITION_NAME.to_string(),
            },
        ),
        Scheme::Mbr => (
            EntryKind::Mbr { partition_type: mbr::types::EXFAT_NTFS, active: false },
            EntryKind::Mbr { partition_type: mbr::types::EFI_SYSTEM, active: false },
        ),
    };
    let planned = |number, first_lba: u64, sectors: u64, entry| PlannedPartition {
        number,
        first_lba,
        sectors,
        offset_bytes: first_lba * ss,
        size_bytes: sectors * ss,
        entry,
    };
    let data = planned(DATA_PARTITION_NUMBER, data_first, data_sectors, data_entry);
    let boot = planned(BOOT_PARTITION_NUMBER, boot_first, boot_sectors, boot_entry);

    let loader_gap_start = match req.scheme {
        Scheme::Gpt => (2 + req.sector_size.standard_entry_array_sectors()) * ss,
        Scheme::Mbr => ss,
    };
    let (mbr, gpt) = match req.scheme {
        Scheme::Gpt => {
            (Mbr::protective(disk_sectors), Some(build_gpt(req, disk_sectors, &data, &boot)?))
        }
        Scheme::Mbr => (build_mbr(id.mbr_signature, &data, &boot), None),
    };

    Ok(Plan {
        scheme: req.scheme,
        sector_size: req.sector_size,
        disk_bytes: req.disk_bytes,
        disk_sectors,
        exfat_cluster_bytes: exfat_cluster_bytes(data.size_bytes),
        boot_code: BootCodeAreas {
            mbr: MBR_BOOT_CODE,
            loader_gap: loader_gap_start..data.offset_bytes,
        },
        tail_gap: boot.end_bytes()..usable_end * ss,
        data,
        boot,
        data_label: req.data_label.clone(),
        mbr,
        gpt,
    })
}

/// Microsoft's default exFAT cluster size for a volume of `volume_bytes`.
pub fn exfat_cluster_bytes(volume_bytes: u64) -> u32 {
    if volume_bytes <= 256 * MIB {
        4 * KIB as u32
    } else if volume_bytes <= 32 * GIB {
        32 * KIB as u32
    } else {
        128 * KIB as u32
    }
}

/// exFAT volume label rules: at most 11 UTF-16 units, none of the characters exFAT forbids in
/// file names.
fn check_label(label: &str) -> Result<(), LayoutError> {
    if label.encode_utf16().count() > MAX_LABEL_UNITS {
        return Err(LayoutError::BadLabel("longer than 11 characters"));
    }
    if label.chars().any(|c| c < ' ' || "\"*/:<>?\\|".contains(c)) {
        return Err(LayoutError::BadLabel(
            "contains a control character or one of \" * / : < > ? \\ |",
        ));
    }
    Ok(())
}

fn check_identity(req: &LayoutRequest) -> Result<(), LayoutError> {
    let id = &req.identity;
    match req.scheme {
        Scheme::Gpt => {
            let guids = [id.disk_guid, id.data_partition_guid, id.boot_partition_guid];
            if guids.iter().any(Guid::is_zero) {
                return Err(LayoutError::BadIdentity("a GUID is zero"));
            }
            if guids[0] == guids[1] || guids[0] == guids[2] || guids[1] == guids[2] {
                return Err(LayoutError::BadIdentity("the disk and partition GUIDs must differ"));
            }
        }
        Scheme::Mbr if id.mbr_signature == 0 => {
            return Err(LayoutError::BadIdentity("the MBR disk signature is zero"));
        }
        Scheme::Mbr => {}
    }
    Ok(())
}

fn build_gpt(
    req: &LayoutRequest,
    disk_sectors: u64,
    data: &PlannedPartition,
    boot: &PlannedPartition,
) -> Result<Gpt, GptError> {
    let mut table = Gpt::new(req.sector_size, disk_sectors, req.identity.disk_guid)?;
    // Keep the BIOS loader gap out of the usable area.
    table.first_usable_lba = data.first_lba;
    for p in [data, boot] {
        if let EntryKind::Gpt { type_guid, unique_guid, name } = &p.entry {
            let entry = GptPartition {
                type_guid: *type_guid,
                unique_guid: *unique_guid,
                first_lba: p.first_lba,
                last_lba: p.end_lba() - 1,
                attributes: 0,
                name: PartitionName::new(name)?,
            };
            table.set_partition(p.number, entry)?;
        }
    }
    table.validate()?;
    Ok(table)
}

/// Partitions of an MBR plan fit in 32 bits: `plan` refuses disks of 2^32 sectors or more.
fn build_mbr(signature: u32, data: &PlannedPartition, boot: &PlannedPartition) -> Mbr {
    let mut table = Mbr::empty(signature);
    for p in [data, boot] {
        if let EntryKind::Mbr { partition_type, active } = p.entry {
            table.partitions[(p.number - 1) as usize] = Some(MbrPartition {
                active,
                partition_type,
                first_lba: p.first_lba as u32,
                sector_count: p.sectors as u32,
            });
        }
    }
    table
}

/// What to put in MBR bytes 0..440 when writing the table.
#[derive(Debug, Clone, Copy)]
pub enum BootCode<'a> {
    /// Keep whatever the device has (e.g. polyboot's boot code on `update`).
    Keep,
    /// Zeros.
    Clear,
    Install(&'a [u8; BOOT_CODE_LEN]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    Io(IoError),
    Gpt(GptError),
    /// The device does not have the number of sectors the plan was made for.
    DeviceSizeMismatch {
        plan_sectors: u64,
        device_sectors: u64,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Io(e) => write!(f, "{e}"),
            WriteError::Gpt(e) => write!(f, "{e}"),
            WriteError::DeviceSizeMismatch { plan_sectors, device_sectors } => write!(
                f,
                "the plan is for {plan_sectors} sectors but the device has {device_sectors}"
            ),
        }
    }
}

crate::block::error_with_io!(WriteError);

impl From<GptError> for WriteError {
    fn from(e: GptError) -> Self {
        WriteError::Gpt(e)
    }
}

/// Write the plan's partition table: stale GPT signatures are erased, then the GPT (primary
/// and backup) if any, then LBA 0 (MBR + zeros to the end of the sector).
pub fn write_partition_table<D: WriteAt + ?Sized>(
    plan: &Plan,
    dev: &mut D,
    boot_code: BootCode<'_>,
) -> Result<(), WriteError> {
    let ss = plan.sector_size.bytes();
    let device_sectors = dev.size() / ss;
    if device_sectors != plan.disk_sectors {
        return Err(WriteError::DeviceSizeMismatch {
            plan_sectors: plan.disk_sectors,
            device_sectors,
        });
    }
    let mut mbr = plan.mbr.clone();
    match boot_code {
        BootCode::Keep => dev.read_at(0, &mut mbr.boot_code)?,
        BootCode::Clear => mbr.boot_code = [0; BOOT_CODE_LEN],
        BootCode::Install(code) => mbr.boot_code = *code,
    }

    erase_stale_gpt_signatures(dev)?;
    if let Some(table) = &plan.gpt {
        gpt::write(dev, table)?;
    }
    let mut sector0 = vec![0u8; ss as usize];
    sector0[..mbr::MBR_SIZE].copy_from_slice(&mbr.to_bytes());
    dev.write_at(0, &sector0)?;
    dev.flush()?;
    Ok(())
}

/// A GPT left over from an earlier layout (either sector size, primary or backup) would
/// confuse tools and firmware; the new table overwrites its own header locations afterwards.
fn erase_stale_gpt_signatures<D: WriteAt + ?Sized>(dev: &mut D) -> Result<(), IoError> {
    let size = dev.size();
    let candidates = [512, 4096, size.saturating_sub(512), size.saturating_sub(4096)];
    for offset in candidates {
        if offset < 512 || offset + 8 > size {
            continue;
        }
        let mut signature = [0u8; 8];
        dev.read_at(offset, &mut signature)?;
        if signature == gpt::SIGNATURE {
            dev.write_at(offset, &[0u8; 8])?;
        }
    }
    Ok(())
}

/// Human-readable size: exact unit when it divides, else two decimals.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(TIB, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")];
        for (unit, name) in units {
            if self.0 >= unit {
                if self.0 % unit == 0 {
                    return write!(f, "{} {name}", self.0 / unit);
                }
                let hundredths = (self.0 as u128 * 100 / unit as u128) as u64;
                return write!(f, "{}.{:02} {name}", hundredths / 100, hundredths % 100);
            }
        }
        write!(f, "{} B", self.0)
    }
}

/// A multi-line report for `--dry-run`. Ranges are `start..end` with `end` exclusive.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ss = self.sector_size.bytes();
        writeln!(f, "polyboot layout (ranges are start..end, end exclusive)")?;
        writeln!(
            f,
            "disk: {} ({} bytes), {} sectors of {} bytes",
            Size(self.disk_bytes),
            self.disk_bytes,
            self.disk_sectors,
            ss
        )?;
        match &self.gpt {
            Some(table) => writeln!(
                f,
                "partition table: GPT, disk GUID {}, usable LBA {}..={}",
                table.disk_guid, table.first_usable_lba, table.last_usable_lba
            )?,
            None => writeln!(
                f,
                "partition table: MBR, disk signature 0x{:08X}",
                self.mbr.disk_signature
            )?,
        }
        for (p, role) in [(&self.data, "data"), (&self.boot, "boot")] {
            writeln!(
                f,
                "partition {} ({role}): bytes {}..{} ({}), LBA {}..{} ({} sectors)",
                p.number,
                p.offset_bytes,
                p.end_bytes(),
                Size(p.size_bytes),
                p.first_lba,
                p.end_lba(),
                p.sectors
            )?;
            match &p.entry {
                EntryKind::Gpt { type_guid, unique_guid, name } => writeln!(
                    f,
                    "    type {type_guid} ({}), GUID {unique_guid}, name \"{name}\"",
                    gpt_type_name(type_guid)
                )?,
                EntryKind::Mbr { partition_type, active } => writeln!(
                    f,
                    "    type 0x{partition_type:02X} ({}), {}",
                    mbr_type_name(*partition_type),
                    if *active { "active" } else { "not active" }
                )?,
            }
            if p.number == DATA_PARTITION_NUMBER {
                writeln!(
                    f,
                    "    filesystem exFAT, label \"{}\", cluster {}",
                    self.data_label,
                    Size(self.exfat_cluster_bytes as u64)
                )?;
            } else {
                writeln!(f, "    filesystem FAT")?;
            }
        }
        let gap = &self.boot_code.loader_gap;
        writeln!(
            f,
            "boot code: MBR bytes {}..{}; loader gap bytes {}..{} (LBA {}..{}, {})",
            self.boot_code.mbr.start,
            self.boot_code.mbr.end,
            gap.start,
            gap.end,
            gap.start / ss,
            gap.end / ss,
            Size(gap.end.saturating_sub(gap.start))
        )?;
        let tail = &self.tail_gap;
        write!(
            f,
            "unpartitioned after partition 2: bytes {}..{} ({})",
            tail.start,
            tail.end,
            Size(tail.end.saturating_sub(tail.start))
        )?;
        if let Some(table) = &self.gpt {
            write!(f, "\nbackup GPT: LBA {}..{}", table.backup_entries_lba(), table.disk_sectors)?;
        }
        Ok(())
    }
}

fn gpt_type_name(guid: &Guid) -> &'static str {
    match *guid {
        Guid::EFI_SYSTEM => "EFI System",
        Guid::MICROSOFT_BASIC_DATA => "Microsoft basic data",
        Guid::BIOS_BOOT => "BIOS boot",
        _ => "unknown",
    }
}

fn mbr_type_name(partition_type: u8) -> &'static str {
    match partition_type {
        mbr::types::EXFAT_NTFS => "exFAT/NTFS",
        mbr::types::EFI_SYSTEM => "EFI System",
        mbr::types::GPT_PROTECTIVE => "GPT protective",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{MemDevice, ReadAt};
    use std::format;

    fn identity() -> Identity {
        let mut bytes = [0u8; 52];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        Identity::from_random_bytes(&bytes)
    }

    fn request(disk_bytes: u64, ss: SectorSize, scheme: Scheme) -> LayoutRequest {
        LayoutRequest::new(disk_bytes, ss, scheme, identity())
    }

    fn ok(disk_bytes: u64, ss: SectorSize, scheme: Scheme) -> Plan {
        plan(&request(disk_bytes, ss, scheme)).unwrap()
    }

    #[test]
    fn gpt_8_gib_at_512() {
        let p = ok(8 * GIB, SectorSize::B512, Scheme::Gpt);
        assert_eq!(p.disk_sectors, 16_777_216);
        assert_eq!((p.data.first_lba, p.data.sectors), (2048, 16_707_584));
        // The backup GPT takes the last 33 sectors, so aligning partition 2 down leaves it
        // ending 1 MiB before the end of the disk.
        assert_eq!((p.boot.first_lba, p.boot.sectors), (16_709_632, 65_536));
        assert_eq!(p.boot.end_bytes(), 8 * GIB - MIB);
        assert_eq!(p.data.end_lba(), p.boot.first_lba);
        assert_eq!(p.exfat_cluster_bytes, 32 * 1024);
        assert_eq!(p.boot_code.mbr, 0..440);
        assert_eq!(p.boot_code.loader_gap, 17_408..MIB);
        assert_eq!(p.tail_gap, (8 * GIB - MIB)..(16_777_216 - 33) * 512);
        let table = p.gpt.as_ref().unwrap();
        assert_eq!((table.first_usable_lba, table.last_usable_lba), (2048, 16_777_182));
        assert_eq!(table.partition(2).unwrap().type_guid, Guid::EFI_SYSTEM);
        assert_eq!(table.partition(2).unwrap().name.to_string(), "POLYBOOT-EFI");
        assert_eq!(table.partition(1).unwrap().type_guid, Guid::MICROSOFT_BASIC_DATA);
        assert_eq!(table.partition(1).unwrap().name.to_string(), "POLYBOOT");
        assert_eq!(table.partition(1).unwrap().last_lba, 16_709_631);
        assert_eq!(p.mbr.partitions[0].unwrap().partition_type, 0xEE);
        assert_eq!(p.mbr.partitions[0].unwrap().sector_count, 16_777_215);
    }

    #[test]
    fn gpt_4096_sectors() {
        let p = ok(8 * GIB, SectorSize::B4096, Scheme::Gpt);
        assert_eq!(p.disk_sectors, 2_097_152);
        assert_eq!((p.data.first_lba, p.data.sectors), (256, 2_088_448));
        assert_eq!((p.boot.first_lba, p.boot.sectors), (2_088_704, 8192));
        assert_eq!(p.boot_code.loader_gap, 6 * 4096..MIB);
        let table = p.gpt.as_ref().unwrap();
        assert_eq!((table.first_usable_lba, table.last_usable_lba), (256, 2_097_146));
    }

    #[test]
    fn mbr_layouts() {
        let p = ok(128 * MIB, SectorSize::B512, Scheme::Mbr);
        // No backup GPT: partition 2 ends exactly at the end of the disk.
        assert_eq!((p.data.first_lba, p.data.sectors), (2048, 194_560));
        assert_eq!((p.boot.first_lba, p.boot.sectors), (196_608, 65_536));
        assert_eq!(p.boot.end_bytes(), 128 * MIB);
        assert_eq!(p.tail_gap, 128 * MIB..128 * MIB);
        assert_eq!(p.boot_code.loader_gap, 512..MIB);
        assert_eq!(p.exfat_cluster_bytes, 4096);
        assert!(p.gpt.is_none());
        assert_eq!(p.mbr.disk_signature, identity().mbr_signature);
        assert_eq!(
            p.mbr.partitions,
            [
                Some(MbrPartition {
                    active: false,
                    partition_type: 0x07,
                    first_lba: 2048,
                    sector_count: 194_560
                }),
                Some(MbrPartition {
                    active: false,
                    partition_type: 0xEF,
                    first_lba: 196_608,
                    sector_count: 65_536
                }),
                None,
                None
            ]
        );

        // The largest MBR disks: 2^32 - 1 sectors, i.e. 2 TiB - 512 at 512, 16 TiB - 4096 at 4096.
        let p = ok(2 * TIB - 512, SectorSize::B512, Scheme::Mbr);
        assert_eq!((p.data.first_lba, p.data.sectors), (2048, 4_294_897_664));
        assert_eq!((p.boot.first_lba, p.boot.sectors), (4_294_899_712, 65_536));
        assert_eq!(p.mbr.partitions[1].unwrap().first_lba, 4_294_899_712);
        let p = ok(16 * TIB - 4096, SectorSize::B4096, Scheme::Mbr);
        assert_eq!(p.boot.end_lba(), (1 << 32) - 256);
        assert_eq!(p.exfat_cluster_bytes, 128 * 1024);
    }

    #[test]
    fn mbr_beyond_its_limit_is_refused() {
        assert_eq!(
            plan(&request(2 * TIB, SectorSize::B512, Scheme::Mbr)),
            Err(LayoutError::MbrTooLarge { disk_bytes: 2 * TIB, max_bytes: 2 * TIB - 512 })
        );
        assert_eq!(
            plan(&request(3 * TIB, SectorSize::B512, Scheme::Mbr)),
            Err(LayoutError::MbrTooLarge { disk_bytes: 3 * TIB, max_bytes: 2 * TIB - 512 })
        );
        // A partial last sector does not count.
        assert!(plan(&request(2 * TIB - 1, SectorSize::B512, Scheme::Mbr)).is_ok());
        assert!(plan(&request(3 * TIB, SectorSize::B4096, Scheme::Mbr)).is_ok());
        assert_eq!(
            plan(&request(16 * TIB, SectorSize::B4096, Scheme::Mbr)),
            Err(LayoutError::MbrTooLarge { disk_bytes: 16 * TIB, max_bytes: 16 * TIB - 4096 })
        );
        // GPT has no such limit.
        let p = ok(3 * TIB, SectorSize::B512, Scheme::Gpt);
        assert_eq!(p.mbr.partitions[0].unwrap().sector_count, u32::MAX);
        assert_eq!(p.boot.end_bytes(), 3 * TIB - MIB);
    }

    #[test]
    fn minimum_size() {
        // GPT at 512: 97 MiB + 33 sectors of backup GPT.
        let needed = 97 * MIB + 33 * 512;
        let p = ok(needed, SectorSize::B512, Scheme::Gpt);
        assert_eq!(p.data.size_bytes, MIN_DATA_BYTES);
        assert_eq!(p.boot.first_lba, 65 * 2048);
        assert_eq!(
            plan(&request(needed - 1, SectorSize::B512, Scheme::Gpt)),
            Err(LayoutError::TooSmall { needed, got: needed - 1 })
        );
        assert_eq!(
            plan(&request(0, SectorSize::B512, Scheme::Gpt)),
            Err(LayoutError::TooSmall { needed, got: 0 })
        );
        // GPT at 4096: 5 sectors of backup GPT.
        let needed = 97 * MIB + 5 * 4096;
        assert_eq!(ok(needed, SectorSize::B4096, Scheme::Gpt).data.size_bytes, MIN_DATA_BYTES);
        assert_eq!(
            plan(&request(needed - 4096, SectorSize::B4096, Scheme::Gpt)),
            Err(LayoutError::TooSmall { needed, got: needed - 4096 })
        );
        // MBR: exactly 97 MiB.
        assert_eq!(ok(97 * MIB, SectorSize::B512, Scheme::Mbr).data.size_bytes, MIN_DATA_BYTES);
        assert_eq!(
            plan(&request(97 * MIB - 1, SectorSize::B512, Scheme::Mbr)),
            Err(LayoutError::TooSmall { needed: 97 * MIB, got: 97 * MIB - 1 })
        );
    }

    #[test]
    fn reserve_is_left_after_the_boot_partition() {
        let mut req = request(8 * GIB, SectorSize::B512, Scheme::Gpt);
        req.reserve_bytes = GIB;
        let p = plan(&req).unwrap();
        let table = p.gpt.as_ref().unwrap();
        // 1 GiB + the backup GPT, rounded down to the 1 MiB boundary before it.
        assert_eq!(p.boot.end_bytes(), 7 * GIB - MIB);
        assert!((table.last_usable_lba + 1) * 512 - p.boot.end_bytes() >= GIB);
        assert_eq!(p.tail_gap, (7 * GIB - MIB)..(16_777_216 - 33) * 512);

        // An unaligned reserve in MBR: rounded up to sectors, then the boot start aligned down.
        let mut req = request(8 * GIB, SectorSize::B512, Scheme::Mbr);
        req.reserve_bytes = 100 * MIB + 1;
        let p = plan(&req).unwrap();
        assert_eq!(p.boot.end_bytes(), 8 * GIB - 101 * MIB);
        assert_eq!(p.tail_gap, (8 * GIB - 101 * MIB)..8 * GIB);

        // The reserve counts towards the minimum, and huge values do not overflow.
        req.reserve_bytes = 8 * GIB - 97 * MIB + 1;
        assert_eq!(plan(&req), Err(LayoutError::TooSmall { needed: 8 * GIB + 512, got: 8 * GIB }));
        req.reserve_bytes = u64::MAX;
        assert!(matches!(plan(&req), Err(LayoutError::TooSmall { needed: u64::MAX, .. })));
    }

    #[test]
    fn partition_starts_are_aligned_for_odd_disk_sizes() {
        for disk_bytes in
            [100 * MIB + 12_345, 7_999_999_999, 32 * GIB - 1, 123_456_789_012, 4 * TIB + 511]
        {
            for ss in [SectorSize::B512, SectorSize::B4096] {
                for scheme in [Scheme::Gpt, Scheme::Mbr] {
                    if scheme == Scheme::Mbr && disk_bytes / ss.bytes() > u32::MAX as u64 {
                        continue;
                    }
                    let p = ok(disk_bytes, ss, scheme);
                    assert_eq!(p.data.offset_bytes, MIB);
                    assert_eq!(p.boot.offset_bytes % MIB, 0);
                    assert_eq!(p.boot.size_bytes, 32 * MIB);
                    assert_eq!(p.data.end_bytes(), p.boot.offset_bytes);
                    assert!(p.boot.end_bytes() <= p.tail_gap.end);
                    assert!(p.tail_gap.end - p.boot.end_bytes() < MIB);
                    if let Some(table) = &p.gpt {
                        assert!(p.boot.end_lba() <= table.last_usable_lba + 1);
                        assert!(table.validate().is_ok());
                    }
                }
            }
        }
    }

    #[test]
    fn cluster_sizes_follow_microsoft_defaults() {
        assert_eq!(exfat_cluster_bytes(64 * MIB), 4096);
        assert_eq!(exfat_cluster_bytes(256 * MIB), 4096);
        assert_eq!(exfat_cluster_bytes(256 * MIB + 1), 32_768);
        assert_eq!(exfat_cluster_bytes(32 * GIB), 32_768);
        assert_eq!(exfat_cluster_bytes(32 * GIB + 1), 131_072);
        // Through the planner: the data partition of a 32 GiB disk is just under 32 GiB.
        assert_eq!(ok(32 * GIB, SectorSize::B512, Scheme::Gpt).exfat_cluster_bytes, 32_768);
        assert_eq!(ok(33 * GIB, SectorSize::B512, Scheme::Gpt).exfat_cluster_bytes, 131_072);
        assert_eq!(ok(289 * MIB, SectorSize::B512, Scheme::Mbr).exfat_cluster_bytes, 4096);
        assert_eq!(ok(290 * MIB, SectorSize::B512, Scheme::Mbr).exfat_cluster_bytes, 32_768);
    }

    #[test]
    fn labels_and_identities_are_checked() {
        let mut req = request(GIB, SectorSize::B512, Scheme::Gpt);
        req.data_label = "ÉTIQUETTE11".into();
        assert_eq!(
            plan(&req).unwrap().gpt.unwrap().partition(1).unwrap().name.to_string(),
            "ÉTIQUETTE11"
        );
        req.data_label = "TWELVE_CHARS".into();
        assert!(matches!(plan(&req), Err(LayoutError::BadLabel(_))));
        req.data_label = "A/B".into();
        assert!(matches!(plan(&req), Err(LayoutError::BadLabel(_))));
        req.data_label = "A\tB".into();
        assert!(matches!(plan(&req), Err(LayoutError::BadLabel(_))));
        req.data_label = String::new();
        assert!(plan(&req).is_ok());

        let mut req = request(GIB, SectorSize::B512, Scheme::Gpt);
        req.identity.boot_partition_guid = req.identity.data_partition_guid;
        assert!(matches!(plan(&req), Err(LayoutError::BadIdentity(_))));
        req.identity.boot_partition_guid = Guid::ZERO;
        assert!(matches!(plan(&req), Err(LayoutError::BadIdentity(_))));
        // GUIDs do not matter for MBR, the signature does.
        req.scheme = Scheme::Mbr;
        assert!(plan(&req).is_ok());
        req.identity.mbr_signature = 0;
        assert!(matches!(plan(&req), Err(LayoutError::BadIdentity(_))));
        assert_ne!(Identity::from_random_bytes(&[0; 52]).mbr_signature, 0);
    }

    #[test]
    fn written_gpt_reads_back() {
        for ss in [SectorSize::B512, SectorSize::B4096] {
            let p = ok(128 * MIB, ss, Scheme::Gpt);
            let mut dev = MemDevice::new((128 * MIB) as usize);
            dev.data[..440].fill(0xAA);
            write_partition_table(&p, &mut dev, BootCode::Keep).unwrap();
            assert_eq!(dev.data[..440], [0xAA; 440]);
            let got = gpt::read(&mut dev, ss).unwrap();
            assert_eq!(Some(got.gpt), p.gpt);
            assert_eq!(got.backup_problem, None);
            let mbr = Mbr::parse(&dev.data[..512]).unwrap();
            assert!(mbr.has_gpt_protective());
            assert_eq!(gpt::detect_sector_size(&mut dev), Ok(Some(ss)));

            write_partition_table(&p, &mut dev, BootCode::Clear).unwrap();
            assert_eq!(dev.data[..440], [0; 440]);
            write_partition_table(&p, &mut dev, BootCode::Install(&[0x90; 440])).unwrap();
            assert_eq!(dev.data[..440], [0x90; 440]);
        }
    }

    #[test]
    fn mbr_over_an_old_gpt_erases_its_headers() {
        let gpt_plan = ok(128 * MIB, SectorSize::B512, Scheme::Gpt);
        let mut dev = MemDevice::new((128 * MIB) as usize);
        write_partition_table(&gpt_plan, &mut dev, BootCode::Clear).unwrap();
        let mbr_plan = ok(128 * MIB, SectorSize::B512, Scheme::Mbr);
        write_partition_table(&mbr_plan, &mut dev, BootCode::Keep).unwrap();
        assert_eq!(gpt::detect_sector_size(&mut dev), Ok(None));
        assert!(gpt::read(&mut dev, SectorSize::B512).is_err());
        let mbr = Mbr::parse(&dev.data[..512]).unwrap();
        assert_eq!(mbr, mbr_plan.mbr);
        assert_eq!(mbr.check_fits(dev.size() / 512), Ok(()));

        // And a 512-byte GPT does not survive a 4096-byte layout either.
        write_partition_table(&gpt_plan, &mut dev, BootCode::Clear).unwrap();
        let p4k = ok(128 * MIB, SectorSize::B4096, Scheme::Gpt);
        write_partition_table(&p4k, &mut dev, BootCode::Clear).unwrap();
        assert!(gpt::read(&mut dev, SectorSize::B512).is_err());
        assert_eq!(gpt::detect_sector_size(&mut dev), Ok(Some(SectorSize::B4096)));
    }

    #[test]
    fn writing_onto_the_wrong_device_is_refused() {
        let p = ok(128 * MIB, SectorSize::B512, Scheme::Gpt);
        let mut dev = MemDevice::new((128 * MIB + 512) as usize);
        assert_eq!(
            write_partition_table(&p, &mut dev, BootCode::Clear),
            Err(WriteError::DeviceSizeMismatch { plan_sectors: 262_144, device_sectors: 262_145 })
        );
        assert!(dev.data.iter().all(|&b| b == 0), "nothing written");
    }

    #[test]
    fn display_shows_offsets_sectors_and_guids() {
        let p = ok(8 * GIB, SectorSize::B512, Scheme::Gpt);
        let text = format!("{p}");
        std::println!("{text}");
        assert!(text.contains("disk: 8 GiB (8589934592 bytes), 16777216 sectors of 512 bytes"));
        assert!(text.contains(&format!("disk GUID {}", identity().disk_guid)));
        assert!(text.contains("partition 1 (data): bytes 1048576..8555331584 (7.96 GiB), LBA 2048..16709632 (16707584 sectors)"));
        assert!(text.contains("type C12A7328-F81F-11D2-BA4B-00A0C93EC93B (EFI System)"));
        assert!(text.contains("name \"POLYBOOT-EFI\""));
        assert!(text.contains("label \"POLYBOOT\", cluster 32 KiB"));
        assert!(text.contains("loader gap bytes 17408..1048576 (LBA 34..2048"));
        let text = format!("{}", ok(128 * MIB, SectorSize::B512, Scheme::Mbr));
        std::println!("{text}");
        assert!(text.contains("MBR, disk signature 0x34333231"));
        assert!(text.contains("type 0xEF (EFI System), not active"));
    }
}
