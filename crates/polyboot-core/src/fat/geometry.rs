//! Where the parts of a FAT volume are: the boot sector's BIOS parameter block, checked, and
//! the offsets (from the start of the volume) of the FATs, the fixed root directory and each
//! data cluster.

use super::{FatError, FatType};
use crate::bytes::Fields;

/// Bytes of the boot sector that [`Geometry::parse`] reads.
pub const BOOT_SECTOR_LEN: usize = 512;

/// BIOS parameter block fields (byte offsets in the boot sector).
pub const BYTES_PER_SECTOR: usize = 11;
pub const SECTORS_PER_CLUSTER: usize = 13;
pub const RESERVED_SECTORS: usize = 14;
pub const FAT_COUNT: usize = 16;
pub const ROOT_ENTRIES: usize = 17;
pub const TOTAL_SECTORS_16: usize = 19;
pub const FAT_SECTORS_16: usize = 22;
pub const TOTAL_SECTORS_32: usize = 32;
pub const FAT32_FAT_SECTORS: usize = 36;
pub const FAT32_ROOT_CLUSTER: usize = 44;
/// The "reserved" byte Windows and fsck.fat use for the volume's dirty flag (bit 0).
pub const FAT16_DIRTY_FLAGS: usize = 0x25;
pub const FAT32_DIRTY_FLAGS: usize = 0x41;
/// Bit 0 of the dirty-flags byte: the volume was not unmounted cleanly.
pub const DIRTY: u8 = 0x01;

/// Fewer data clusters than this make a volume FAT12, fewer than [`FAT32_MIN_CLUSTERS`] FAT16.
pub const FAT16_MIN_CLUSTERS: u64 = 4085;
pub const FAT32_MIN_CLUSTERS: u64 = 65525;

/// A FAT volume's layout, from its boot sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub fat_type: FatType,
    pub bytes_per_sector: u32,
    pub sectors_per_cluster: u32,
    pub reserved_sectors: u32,
    pub fat_count: u32,
    /// Slots of the fixed root directory (FAT12/16; 0 on a well-formed FAT32).
    pub root_entries: u32,
    pub total_sectors: u32,
    /// Sectors of one FAT.
    pub fat_sectors: u32,
    /// The root directory's first cluster (FAT32); 0 on FAT12/16.
    pub root_cluster: u32,
    /// Clusters 2 .. 2 + cluster_count are data clusters.
    pub cluster_count: u32,
}

impl Geometry {
    /// Check the boot sector of a volume: every field is validated before use, so hostile
    /// bytes give [`FatError::NotFat`] (naming the field), never a panic. Whether the volume
    /// fits its device is the caller's check ([`Geometry::data_end`]).
    pub fn parse(bs: &[u8; BOOT_SECTOR_LEN]) -> Result<Geometry, FatError> {
        let bytes_per_sector = u32::from(bs.le16::<BYTES_PER_SECTOR>());
        if !bytes_per_sector.is_power_of_two() || !(512..=4096).contains(&bytes_per_sector) {
            return Err(FatError::NotFat("bytes per sector"));
        }
        let spc = u32::from(bs[SECTORS_PER_CLUSTER]);
        if !spc.is_power_of_two() || spc > 128 {
            return Err(FatError::NotFat("sectors per cluster"));
        }
        let reserved = u32::from(bs.le16::<RESERVED_SECTORS>());
        let fats = u32::from(bs[FAT_COUNT]);
        let root_entries = u32::from(bs.le16::<ROOT_ENTRIES>());
        let total = match bs.le16::<TOTAL_SECTORS_16>() {
            0 => bs.le32::<TOTAL_SECTORS_32>(),
            n => u32::from(n),
        };
        let fat_sectors = match bs.le16::<FAT_SECTORS_16>() {
            0 => bs.le32::<FAT32_FAT_SECTORS>(),
            n => u32::from(n),
        };
        if reserved == 0 || fats == 0 || fat_sectors == 0 || total == 0 {
            return Err(FatError::NotFat(
                "reserved sectors, FAT count, FAT size or total size is zero",
            ));
        }
        let ss = u64::from(bytes_per_sector);
        let root_sectors = (u64::from(root_entries) * 32).div_ceil(ss);
        let meta = u64::from(reserved) + u64::from(fats) * u64::from(fat_sectors) + root_sectors;
        if meta >= u64::from(total) {
            return Err(FatError::NotFat("no room for data"));
        }
        let clusters = (u64::from(total) - meta) / u64::from(spc);
        let fat_type = if clusters < FAT16_MIN_CLUSTERS {
            FatType::Fat12
        } else if clusters < FAT32_MIN_CLUSTERS {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        // The FAT must be able to describe every cluster.
        let fat_bits = match fat_type {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        };
        if (clusters + 2) * fat_bits > u64::from(fat_sectors) * ss * 8 {
            return Err(FatError::NotFat("FAT too small for the cluster count"));
        }
        let root_cluster = match fat_type {
            FatType::Fat32 => bs.le32::<FAT32_ROOT_CLUSTER>() & 0x0FFF_FFFF,
            _ if root_entries == 0 => return Err(FatError::NotFat("no root directory")),
            _ => 0,
        };
        let g = Geometry {
            fat_type,
            bytes_per_sector,
            sectors_per_cluster: spc,
            reserved_sectors: reserved,
            fat_count: fats,
            root_entries,
            total_sectors: total,
            fat_sectors,
            root_cluster,
            cluster_count: clusters as u32,
        };
        if fat_type == FatType::Fat32 && !g.is_data_cluster(root_cluster) {
            return Err(FatError::NotFat("root cluster"));
        }
        Ok(g)
    }

    pub fn sector_bytes(&self) -> u64 {
        u64::from(self.bytes_per_sector)
    }

    pub fn cluster_bytes(&self) -> u64 {
        self.sector_bytes() * u64::from(self.sectors_per_cluster)
    }

    /// Offset of FAT `copy` (0 = FAT 1).
    pub fn fat_offset(&self, copy: u32) -> u64 {
        (u64::from(self.reserved_sectors) + u64::from(copy) * u64::from(self.fat_sectors))
            * self.sector_bytes()
    }

    /// Bytes of one FAT.
    pub fn fat_bytes(&self) -> u64 {
        u64::from(self.fat_sectors) * self.sector_bytes()
    }

    /// Offset of the fixed root directory of FAT12/16 (on FAT32: where the data area starts).
    pub fn root_dir_offset(&self) -> u64 {
        self.fat_offset(self.fat_count)
    }

    /// Bytes of the fixed root directory.
    pub fn root_dir_bytes(&self) -> u64 {
        u64::from(self.root_entries) * 32
    }

    pub fn data_offset(&self) -> u64 {
        self.root_dir_offset()
            + self.root_dir_bytes().div_ceil(self.sector_bytes()) * self.sector_bytes()
    }

    /// Where the data area's last cluster ends: the volume needs a device at least this large.
    pub fn data_end(&self) -> u64 {
        self.data_offset() + u64::from(self.cluster_count) * self.cluster_bytes()
    }

    /// Bytes the boot sector claims for the whole volume.
    pub fn volume_bytes(&self) -> u64 {
        u64::from(self.total_sectors) * self.sector_bytes()
    }

    pub fn is_data_cluster(&self, c: u32) -> bool {
        c >= 2 && c - 2 < self.cluster_count
    }

    /// The highest data cluster number.
    pub fn max_cluster(&self) -> u32 {
        self.cluster_count + 1
    }

    /// Offset of data cluster `c` (a data cluster: `c >= 2`).
    pub fn cluster_offset(&self, c: u32) -> u64 {
        self.data_offset() + u64::from(c - 2) * self.cluster_bytes()
    }

    /// Offset of the byte holding the dirty flag ([`DIRTY`]).
    pub fn dirty_flags_offset(&self) -> u64 {
        match self.fat_type {
            FatType::Fat32 => FAT32_DIRTY_FLAGS as u64,
            _ => FAT16_DIRTY_FLAGS as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FAT16 as `install` lays out its 32 MiB boot partition with 512-byte sectors.
    fn fat16_boot_sector() -> [u8; 512] {
        let mut bs = [0u8; 512];
        bs[BYTES_PER_SECTOR..BYTES_PER_SECTOR + 2].copy_from_slice(&512u16.to_le_bytes());
        bs[SECTORS_PER_CLUSTER] = 4;
        bs[RESERVED_SECTORS] = 4;
        bs[FAT_COUNT] = 2;
        bs[ROOT_ENTRIES..ROOT_ENTRIES + 2].copy_from_slice(&512u16.to_le_bytes());
        bs[TOTAL_SECTORS_16..TOTAL_SECTORS_16 + 2].copy_from_slice(&0u16.to_le_bytes());
        bs[TOTAL_SECTORS_32..TOTAL_SECTORS_32 + 4].copy_from_slice(&65536u32.to_le_bytes());
        bs[FAT_SECTORS_16..FAT_SECTORS_16 + 2].copy_from_slice(&64u16.to_le_bytes());
        bs
    }

    #[test]
    fn offsets_follow_the_parameter_block() {
        let g = Geometry::parse(&fat16_boot_sector()).unwrap();
        assert_eq!(g.fat_type, FatType::Fat16);
        assert_eq!((g.fat_offset(0), g.fat_offset(1), g.fat_bytes()), (2048, 2048 + 32768, 32768));
        assert_eq!((g.root_dir_offset(), g.root_dir_bytes()), (2048 + 2 * 32768, 16384));
        assert_eq!(g.data_offset(), 2048 + 2 * 32768 + 16384);
        assert_eq!(g.cluster_count, (65536 - 4 - 128 - 32) / 4);
        assert_eq!(g.cluster_offset(2), g.data_offset());
        assert_eq!(g.cluster_offset(3), g.data_offset() + 2048);
        assert!(
            g.is_data_cluster(g.max_cluster())
                && !g.is_data_cluster(g.max_cluster() + 1)
                && !g.is_data_cluster(1)
        );
        assert!(g.data_end() <= g.volume_bytes());
        assert_eq!(g.dirty_flags_offset(), 0x25);
    }

    #[test]
    fn bad_fields_are_named() {
        for (at, v, why) in [
            (BYTES_PER_SECTOR, 100u8, "bytes per sector"),
            (SECTORS_PER_CLUSTER, 3, "sectors per cluster"),
            (FAT_COUNT, 0, "reserved sectors, FAT count, FAT size or total size is zero"),
            (FAT_SECTORS_16, 1, "FAT too small for the cluster count"),
        ] {
            let mut bs = fat16_boot_sector();
            bs[at] = v;
            if at == BYTES_PER_SECTOR {
                bs[at + 1] = 0;
            }
            if at == FAT_SECTORS_16 {
                bs[at + 1] = 0;
            }
            assert_eq!(Geometry::parse(&bs), Err(FatError::NotFat(why)));
        }
        let mut bs = fat16_boot_sector();
        bs[ROOT_ENTRIES..ROOT_ENTRIES + 2].fill(0);
        assert_eq!(Geometry::parse(&bs), Err(FatError::NotFat("no root directory")));
    }
}
