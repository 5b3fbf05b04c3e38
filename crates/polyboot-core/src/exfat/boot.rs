//! The boot sector and the 12-sector boot regions (main at sector 0, backup at sector 12).

use super::{corrupt, Error};
use crate::block::{ReadAt, WriteAt};
use crate::bytes::Fields;
use alloc::vec;

pub(crate) const FS_NAME: &[u8; 8] = b"EXFAT   ";
/// Sectors in one boot region: boot sector, 8 extended boot sectors, OEM parameters,
/// reserved, checksum.
pub(crate) const BOOT_REGION_SECTORS: u64 = 12;
pub(crate) const BACKUP_BOOT_REGION_SECTOR: u64 = 12;
/// First sector the FAT may start at (both boot regions come before it).
pub(crate) const MIN_FAT_OFFSET: u32 = 24;
pub(crate) const MAX_CLUSTER_COUNT: u32 = 0xFFFF_FFF5;
/// Cluster numbers start at 2: FAT entries 0 and 1 are reserved.
pub(crate) const FIRST_CLUSTER: u32 = 2;
pub(crate) const FAT_END_OF_CHAIN: u32 = 0xFFFF_FFFF;

pub(crate) const VOLUME_FLAG_ACTIVE_FAT: u16 = 0x0001;
pub(crate) const VOLUME_FLAG_DIRTY: u16 = 0x0002;
/// Byte offsets of the two fields excluded from the boot checksum; they change at run time.
pub(crate) const OFFSET_VOLUME_FLAGS: usize = 106;
pub(crate) const OFFSET_PERCENT_IN_USE: usize = 112;

const BOOT_CODE_OFFSET: usize = 120;
const BOOT_CODE_LEN: usize = 390;

/// The fields of the main boot sector that the file system uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BootSector {
    pub partition_offset: u64,
    /// In sectors.
    pub volume_length: u64,
    /// In sectors from the start of the volume.
    pub fat_offset: u32,
    /// In sectors.
    pub fat_length: u32,
    /// In sectors from the start of the volume.
    pub cluster_heap_offset: u32,
    pub cluster_count: u32,
    pub root_cluster: u32,
    pub volume_serial: u32,
    pub volume_flags: u16,
    pub bytes_per_sector_shift: u8,
    pub sectors_per_cluster_shift: u8,
    pub number_of_fats: u8,
    pub percent_in_use: u8,
}

impl BootSector {
    pub fn bytes_per_sector(&self) -> u64 {
        1 << self.bytes_per_sector_shift
    }

    pub fn cluster_shift(&self) -> u32 {
        u32::from(self.bytes_per_sector_shift) + u32::from(self.sectors_per_cluster_shift)
    }

    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_shift()
    }

    /// Byte offset of cluster 2, the first cluster of the heap.
    pub fn heap_start(&self) -> u64 {
        u64::from(self.cluster_heap_offset) << self.bytes_per_sector_shift
    }

    /// Byte offset of the FAT in use (the second one only on TexFAT volumes that switched).
    pub fn active_fat_start(&self) -> u64 {
        let index = if self.number_of_fats == 2 && self.volume_flags & VOLUME_FLAG_ACTIVE_FAT != 0 {
            1
        } else {
            0
        };
        (u64::from(self.fat_offset) + index * u64::from(self.fat_length))
            << self.bytes_per_sector_shift
    }

    pub fn active_fat_index(&self) -> u8 {
        (self.number_of_fats == 2 && self.volume_flags & VOLUME_FLAG_ACTIVE_FAT != 0) as u8
    }

    /// Parse and range-check the first 512 bytes of a boot sector. Checks that need the device
    /// size are in [`BootSector::check_fits`].
    pub fn parse(s: &[u8; 512]) -> Result<Self, Error> {
        if s[510] != 0x55 || s[511] != 0xAA {
            return Err(corrupt!("boot sector signature 0xAA55 missing"));
        }
        if &s[3..11] != FS_NAME {
            return Err(corrupt!("not an exFAT volume (file system name is not \"EXFAT   \")"));
        }
        if s[11..64].iter().any(|&b| b != 0) {
            return Err(corrupt!("boot sector MustBeZero field is not zero"));
        }
        let (minor, major) = (s[104], s[105]);
        if major != 1 {
            return Err(corrupt!("unsupported exFAT revision {major}.{minor:02}"));
        }
        let b = BootSector {
            partition_offset: s.le64::<64>(),
            volume_length: s.le64::<72>(),
            fat_offset: s.le32::<80>(),
            fat_length: s.le32::<84>(),
            cluster_heap_offset: s.le32::<88>(),
            cluster_count: s.le32::<92>(),
            root_cluster: s.le32::<96>(),
            volume_serial: s.le32::<100>(),
            volume_flags: s.le16::<OFFSET_VOLUME_FLAGS>(),
            bytes_per_sector_shift: s[108],
            sectors_per_cluster_shift: s[109],
            number_of_fats: s[110],
            percent_in_use: s[OFFSET_PERCENT_IN_USE],
        };
        if !(9..=12).contains(&b.bytes_per_sector_shift) {
            return Err(corrupt!(
                "BytesPerSectorShift {} outside 9..=12",
                b.bytes_per_sector_shift
            ));
        }
        if b.cluster_shift() > 25 {
            return Err(corrupt!("cluster size above the 32 MiB limit"));
        }
        if b.number_of_fats != 1 && b.number_of_fats != 2 {
            return Err(corrupt!("NumberOfFats {} is neither 1 nor 2", b.number_of_fats));
        }
        if b.volume_length < (1u64 << 20) >> b.bytes_per_sector_shift {
            return Err(corrupt!("volume shorter than 1 MiB"));
        }
        if b.fat_offset < MIN_FAT_OFFSET {
            return Err(corrupt!("FAT offset {} overlaps the boot regions", b.fat_offset));
        }
        let fats_end =
            u64::from(b.fat_offset) + u64::from(b.fat_length) * u64::from(b.number_of_fats);
        if fats_end > u64::from(b.cluster_heap_offset) {
            return Err(corrupt!("FAT overlaps the cluster heap"));
        }
        if b.cluster_count == 0 || b.cluster_count > MAX_CLUSTER_COUNT {
            return Err(corrupt!("cluster count {} out of range", b.cluster_count));
        }
        let fat_bytes_needed = (u64::from(b.cluster_count) + 2) * 4;
        if u64::from(b.fat_length) << b.bytes_per_sector_shift < fat_bytes_needed {
            return Err(corrupt!("FAT too short for {} clusters", b.cluster_count));
        }
        let heap_end = u64::from(b.cluster_heap_offset)
            + (u64::from(b.cluster_count) << b.sectors_per_cluster_shift);
        if heap_end > b.volume_length {
            return Err(corrupt!("cluster heap extends past the end of the volume"));
        }
        if b.root_cluster < 2 || b.root_cluster > b.cluster_count + 1 {
            return Err(corrupt!("root directory cluster {} out of range", b.root_cluster));
        }
        Ok(b)
    }

    /// The volume must fit inside the device it was opened on.
    pub fn check_fits(&self, device_size: u64) -> Result<(), Error> {
        let bytes = self.volume_length.checked_mul(self.bytes_per_sector());
        match bytes {
            Some(bytes) if bytes <= device_size => Ok(()),
            _ => Err(corrupt!(
                "volume length ({} sectors) exceeds the device ({device_size} bytes)",
                self.volume_length
            )),
        }
    }

    /// Encode into the first 512 bytes of `sector` (which the caller zeroed).
    pub fn encode(&self, sector: &mut [u8]) {
        let s = &mut sector[..512];
        s[0..3].copy_from_slice(&[0xEB, 0x76, 0x90]);
        s[3..11].copy_from_slice(FS_NAME);
        s[64..72].copy_from_slice(&self.partition_offset.to_le_bytes());
        s[72..80].copy_from_slice(&self.volume_length.to_le_bytes());
        s[80..84].copy_from_slice(&self.fat_offset.to_le_bytes());
        s[84..88].copy_from_slice(&self.fat_length.to_le_bytes());
        s[88..92].copy_from_slice(&self.cluster_heap_offset.to_le_bytes());
        s[92..96].copy_from_slice(&self.cluster_count.to_le_bytes());
        s[96..100].copy_from_slice(&self.root_cluster.to_le_bytes());
        s[100..104].copy_from_slice(&self.volume_serial.to_le_bytes());
        s[104..106].copy_from_slice(&0x0100u16.to_le_bytes());
        s[106..108].copy_from_slice(&self.volume_flags.to_le_bytes());
        s[108] = self.bytes_per_sector_shift;
        s[109] = self.sectors_per_cluster_shift;
        s[110] = self.number_of_fats;
        s[111] = 0x80; // DriveSelect: first fixed disk, the conventional value
        s[112] = self.percent_in_use;
        // No boot code: HLT, so booting the volume directly stops instead of running garbage.
        s[BOOT_CODE_OFFSET..BOOT_CODE_OFFSET + BOOT_CODE_LEN].fill(0xF4);
        s[510] = 0x55;
        s[511] = 0xAA;
    }
}

/// Add `sector` to a running boot region checksum. In the boot sector itself VolumeFlags and
/// PercentInUse are skipped so that updating them does not invalidate the checksum.
pub(crate) fn boot_checksum_add(mut sum: u32, sector: &[u8], is_boot_sector: bool) -> u32 {
    for (i, &byte) in sector.iter().enumerate() {
        if is_boot_sector
            && (i == OFFSET_VOLUME_FLAGS
                || i == OFFSET_VOLUME_FLAGS + 1
                || i == OFFSET_PERCENT_IN_USE)
        {
            continue;
        }
        sum = sum.rotate_right(1).wrapping_add(u32::from(byte));
    }
    sum
}

/// Build the 12 sectors of a boot region for `boot`.
pub(crate) fn build_boot_region(boot: &BootSector) -> alloc::vec::Vec<u8> {
    let bps = boot.bytes_per_sector() as usize;
    let mut region = vec![0u8; bps * BOOT_REGION_SECTORS as usize];
    boot.encode(&mut region[..bps]);
    // Extended boot sectors 1..=8 end with the signature AA550000h.
    for i in 1..=8 {
        let end = (i + 1) * bps;
        region[end - 4..end].copy_from_slice(&0xAA55_0000u32.to_le_bytes());
    }
    // Sectors 9 (OEM parameters) and 10 (reserved) stay zero.
    let mut sum = 0;
    for i in 0..11 {
        sum = boot_checksum_add(sum, &region[i * bps..(i + 1) * bps], i == 0);
    }
    for word in region[11 * bps..].chunks_exact_mut(4) {
        word.copy_from_slice(&sum.to_le_bytes());
    }
    region
}

pub(crate) fn write_boot_region<D: WriteAt + ?Sized>(
    dev: &mut D,
    boot: &BootSector,
    first_sector: u64,
) -> Result<(), Error> {
    let region = build_boot_region(boot);
    dev.write_at(first_sector * boot.bytes_per_sector(), &region)?;
    Ok(())
}

/// Read and verify the boot region starting at `first_sector` of size `2^bps_shift` (when
/// known). The sector size comes from the boot sector itself; for the backup region the caller
/// must guess it and we require the boot sector to agree.
fn read_boot_region_at<D: ReadAt + ?Sized>(
    dev: &mut D,
    first_sector: u64,
    assumed_bps_shift: Option<u8>,
) -> Result<BootSector, Error> {
    let base = first_sector << assumed_bps_shift.unwrap_or(0);
    let mut head = [0u8; 512];
    dev.read_at(base, &mut head)?;
    let boot = BootSector::parse(&head)?;
    if let Some(shift) = assumed_bps_shift {
        if shift != boot.bytes_per_sector_shift {
            return Err(corrupt!("backup boot sector disagrees about the sector size"));
        }
    }
    boot.check_fits(dev.size())?;
    let bps = boot.bytes_per_sector() as usize;
    let mut sector = vec![0u8; bps];
    let mut sum = 0u32;
    for i in 0..11u64 {
        dev.read_at(base + i * bps as u64, &mut sector)?;
        sum = boot_checksum_add(sum, &sector, i == 0);
    }
    dev.read_at(base + 11 * bps as u64, &mut sector)?;
    if sector.chunks_exact(4).any(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) != sum) {
        return Err(corrupt!("boot region checksum mismatch"));
    }
    Ok(boot)
}

/// Read the main boot region, falling back to the backup one. Returns whether the backup was
/// used (then the main region is damaged and must not be trusted for writing).
pub(crate) fn read_boot_regions<D: ReadAt + ?Sized>(
    dev: &mut D,
) -> Result<(BootSector, bool), Error> {
    let main_err = match read_boot_region_at(dev, 0, None) {
        Ok(boot) => return Ok((boot, false)),
        Err(e) => e,
    };
    for shift in 9..=12u8 {
        if let Ok(boot) = read_boot_region_at(dev, BACKUP_BOOT_REGION_SECTOR, Some(shift)) {
            return Ok((boot, true));
        }
    }
    Err(main_err)
}
