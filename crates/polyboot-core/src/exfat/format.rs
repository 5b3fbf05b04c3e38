//! The formatter: writes boot regions, FAT, allocation bitmap, up-case table and root directory.
//! Only these metadata regions are written, so formatting a sparse multi-GB image is cheap.

use super::boot::{
    write_boot_region, BootSector, BACKUP_BOOT_REGION_SECTOR, FAT_END_OF_CHAIN, FIRST_CLUSTER,
    MAX_CLUSTER_COUNT, MIN_FAT_OFFSET,
};
use super::dirent::{
    build_volume_guid_entry, TYPE_ALLOCATION_BITMAP, TYPE_UPCASE_TABLE, TYPE_VOLUME_LABEL,
};
use super::name::validate_label;
use super::upcase::{generate_table, table_checksum_add};
use super::Error;
use crate::block::WriteAt;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// FAT entry 0: media type F8h in the low byte, the rest all ones.
const FAT_MEDIA_ENTRY: u32 = 0xFFFF_FFF8;
const MAX_CLUSTER_SIZE: u32 = 32 << 20;
/// Regions are aligned to at least this much on volumes big enough to afford it, which keeps
/// the cluster heap aligned to flash erase blocks as well as to the cluster size.
const PREFERRED_ALIGNMENT: u64 = 1 << 20;

/// How to format a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatOptions {
    /// 512, 1024, 2048 or 4096; should match the device's logical sector size.
    pub bytes_per_sector: u32,
    /// A power of two from the sector size up to 32 MiB; 0 picks
    /// [`recommended_cluster_size`] for the device size.
    pub cluster_size: u32,
    /// Up to 11 UTF-16 code units; may be empty.
    pub label: String,
    pub volume_serial: u32,
    /// Stored in a Volume GUID entry when given (bytes as they appear on disk).
    pub volume_guid: Option<[u8; 16]>,
    /// Where the partition starts on its disk, in sectors (0 if unknown).
    pub partition_offset_sectors: u64,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            bytes_per_sector: 512,
            cluster_size: 0,
            label: String::new(),
            volume_serial: 0,
            volume_guid: None,
            partition_offset_sectors: 0,
        }
    }
}

/// The layout `format` chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatInfo {
    pub bytes_per_sector: u32,
    pub cluster_size: u32,
    pub volume_length_sectors: u64,
    pub fat_offset_sectors: u32,
    pub fat_length_sectors: u32,
    pub cluster_heap_offset_sectors: u32,
    pub cluster_count: u32,
    pub bitmap_cluster: u32,
    pub upcase_cluster: u32,
    pub root_cluster: u32,
    /// Clusters left free for files.
    pub free_clusters: u32,
}

/// Microsoft's default cluster size for a volume of this many bytes.
pub fn recommended_cluster_size(volume_bytes: u64) -> u32 {
    if volume_bytes <= 256 << 20 {
        4 << 10
    } else if volume_bytes <= 32 << 30 {
        32 << 10
    } else {
        128 << 10
    }
}

/// Format the whole of `dev` (one partition) as exFAT.
pub fn format<D: WriteAt + ?Sized>(dev: &mut D, opts: &FormatOptions) -> Result<FormatInfo, Error> {
    let bps = opts.bytes_per_sector;
    if !bps.is_power_of_two() || !(512..=4096).contains(&bps) {
        return Err(Error::InvalidArgument("bytes per sector must be 512, 1024, 2048 or 4096"));
    }
    let cluster_size = match opts.cluster_size {
        0 => recommended_cluster_size(dev.size()).max(bps),
        size => size,
    };
    if !cluster_size.is_power_of_two() || cluster_size < bps || cluster_size > MAX_CLUSTER_SIZE {
        return Err(Error::InvalidArgument(
            "cluster size must be a power of two between the sector size and 32 MiB",
        ));
    }
    let label = validate_label(&opts.label)?;

    let bps64 = u64::from(bps);
    let volume_sectors = dev.size() / bps64;
    if volume_sectors * bps64 < 1 << 20 {
        return Err(Error::InvalidArgument("an exFAT volume must be at least 1 MiB"));
    }
    let sectors_per_cluster = u64::from(cluster_size / bps);
    let alignment_bytes = if volume_sectors * bps64 >= 16 * PREFERRED_ALIGNMENT {
        PREFERRED_ALIGNMENT.max(u64::from(cluster_size))
    } else {
        u64::from(cluster_size)
    };
    let alignment = alignment_bytes / bps64;

    // The FAT size depends on the cluster count, which depends on where the heap starts:
    // size the FAT for the most clusters possible, then count the clusters that fit.
    let fat_offset = align_up(u64::from(MIN_FAT_OFFSET), alignment);
    let too_small = Error::InvalidArgument("volume too small for this cluster size");
    let max_clusters =
        volume_sectors.checked_sub(fat_offset).ok_or(too_small.clone())? / sectors_per_cluster;
    let fat_length_upper = ((max_clusters + 2) * 4).div_ceil(bps64);
    let heap_offset = align_up(fat_offset + fat_length_upper, alignment);
    let cluster_count =
        volume_sectors.checked_sub(heap_offset).ok_or(too_small.clone())? / sectors_per_cluster;
    if cluster_count > u64::from(MAX_CLUSTER_COUNT) {
        return Err(Error::InvalidArgument("too many clusters: choose a larger cluster size"));
    }
    let fat_length = ((cluster_count + 2) * 4).div_ceil(bps64);
    let (Ok(fat_offset), Ok(fat_length), Ok(heap_offset)) =
        (u32::try_from(fat_offset), u32::try_from(fat_length), u32::try_from(heap_offset))
    else {
        return Err(Error::InvalidArgument("volume too large for this sector size"));
    };
    let cluster_count = cluster_count as u32;

    // The heap starts with the bitmap, then the up-case table, then the root directory.
    let cs = u64::from(cluster_size);
    let bitmap_bytes = u64::from(cluster_count).div_ceil(8);
    let bitmap_clusters = bitmap_bytes.div_ceil(cs) as u32;
    let upcase_table = generate_table();
    let upcase_clusters = (upcase_table.len() as u64).div_ceil(cs) as u32;
    let system_clusters = bitmap_clusters + upcase_clusters + 1;
    if cluster_count <= system_clusters {
        return Err(too_small);
    }
    let bitmap_cluster = FIRST_CLUSTER;
    let upcase_cluster = bitmap_cluster + bitmap_clusters;
    let root_cluster = upcase_cluster + upcase_clusters;

    let boot = BootSector {
        partition_offset: opts.partition_offset_sectors,
        volume_length: volume_sectors,
        fat_offset,
        fat_length,
        cluster_heap_offset: heap_offset,
        cluster_count,
        root_cluster,
        volume_serial: opts.volume_serial,
        volume_flags: 0,
        bytes_per_sector_shift: bps.trailing_zeros() as u8,
        sectors_per_cluster_shift: (cluster_size / bps).trailing_zeros() as u8,
        number_of_fats: 1,
        percent_in_use: (u64::from(system_clusters) * 100 / u64::from(cluster_count)) as u8,
    };
    let cluster_offset = |cluster: u32| boot.heap_start() + u64::from(cluster - FIRST_CLUSTER) * cs;

    // Invalidate any previous file system first, so a half-finished format is not mistaken
    // for a valid one.
    dev.write_at(0, &vec![0u8; bps as usize])?;

    // FAT: all free except the reserved entries and the chains of the system structures.
    let fat_start = u64::from(fat_offset) * bps64;
    write_zeros(dev, fat_start, u64::from(fat_length) * bps64)?;
    let mut fat: Vec<u32> = vec![FAT_MEDIA_ENTRY, FAT_END_OF_CHAIN];
    for (first, count) in
        [(bitmap_cluster, bitmap_clusters), (upcase_cluster, upcase_clusters), (root_cluster, 1)]
    {
        for c in first..first + count {
            fat.push(if c == first + count - 1 { FAT_END_OF_CHAIN } else { c + 1 });
        }
    }
    let fat_bytes: Vec<u8> = fat.iter().flat_map(|e| e.to_le_bytes()).collect();
    dev.write_at(fat_start, &fat_bytes)?;

    // Allocation bitmap: the system clusters are the first clusters of the heap.
    let bitmap_start = cluster_offset(bitmap_cluster);
    write_zeros(dev, bitmap_start, u64::from(bitmap_clusters) * cs)?;
    let mut used_bits = vec![0u8; system_clusters.div_ceil(8) as usize];
    for i in 0..system_clusters {
        used_bits[(i / 8) as usize] |= 1 << (i % 8);
    }
    dev.write_at(bitmap_start, &used_bits)?;

    // Up-case table, padded to whole clusters.
    let upcase_start = cluster_offset(upcase_cluster);
    write_zeros(dev, upcase_start, u64::from(upcase_clusters) * cs)?;
    dev.write_at(upcase_start, &upcase_table)?;

    // Root directory: label, bitmap, up-case table and optional GUID; the rest end-of-directory.
    let mut entries: Vec<[u8; 32]> = Vec::new();
    let mut label_entry = [0u8; 32];
    label_entry[0] = TYPE_VOLUME_LABEL;
    label_entry[1] = label.len() as u8;
    for (i, unit) in label.iter().enumerate() {
        label_entry[2 + 2 * i..4 + 2 * i].copy_from_slice(&unit.to_le_bytes());
    }
    entries.push(label_entry);
    let mut bitmap_entry = [0u8; 32];
    bitmap_entry[0] = TYPE_ALLOCATION_BITMAP;
    bitmap_entry[20..24].copy_from_slice(&bitmap_cluster.to_le_bytes());
    bitmap_entry[24..32].copy_from_slice(&bitmap_bytes.to_le_bytes());
    entries.push(bitmap_entry);
    let mut upcase_entry = [0u8; 32];
    upcase_entry[0] = TYPE_UPCASE_TABLE;
    upcase_entry[4..8].copy_from_slice(&table_checksum_add(0, &upcase_table).to_le_bytes());
    upcase_entry[20..24].copy_from_slice(&upcase_cluster.to_le_bytes());
    upcase_entry[24..32].copy_from_slice(&(upcase_table.len() as u64).to_le_bytes());
    entries.push(upcase_entry);
    if let Some(guid) = &opts.volume_guid {
        entries.push(build_volume_guid_entry(guid));
    }
    let root_start = cluster_offset(root_cluster);
    write_zeros(dev, root_start, cs)?;
    let root_bytes: Vec<u8> = entries.iter().flatten().copied().collect();
    dev.write_at(root_start, &root_bytes)?;

    // Boot regions last: the backup first, then the main one that makes the volume valid.
    write_boot_region(dev, &boot, BACKUP_BOOT_REGION_SECTOR)?;
    write_boot_region(dev, &boot, 0)?;
    dev.flush()?;

    Ok(FormatInfo {
        bytes_per_sector: bps,
        cluster_size,
        volume_length_sectors: volume_sectors,
        fat_offset_sectors: fat_offset,
        fat_length_sectors: fat_length,
        cluster_heap_offset_sectors: heap_offset,
        cluster_count,
        bitmap_cluster,
        upcase_cluster,
        root_cluster,
        free_clusters: cluster_count - system_clusters,
    })
}

fn align_up(value: u64, alignment: u64) -> u64 {
    value.div_ceil(alignment) * alignment
}

fn write_zeros<D: WriteAt + ?Sized>(dev: &mut D, offset: u64, len: u64) -> Result<(), Error> {
    let zeros = vec![0u8; len.min(64 << 10) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(zeros.len() as u64) as usize;
        dev.write_at(offset + done, &zeros[..n])?;
        done += n as u64;
    }
    Ok(())
}
