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
    let layout = plan_layout(dev.size(), opts)?;
    // Invalidate any previous file system first, so a half-finished format is not mistaken
    // for a valid one.
    dev.write_at(0, &vec![0u8; layout.info.bytes_per_sector as usize])?;
    write_fat(dev, &layout)?;
    write_bitmap(dev, &layout)?;
    write_upcase_table(dev, &layout)?;
    let root = root_directory_entries(&layout, opts.volume_guid.as_ref());
    write_root_directory(dev, &layout, &root)?;
    // Boot regions last: the backup first, then the main one that makes the volume valid.
    write_boot_region(dev, &layout.boot, BACKUP_BOOT_REGION_SECTOR)?;
    write_boot_region(dev, &layout.boot, 0)?;
    dev.flush()?;
    Ok(layout.info)
}

/// Everything `format` writes, decided before it writes anything.
struct Layout {
    info: FormatInfo,
    boot: BootSector,
    /// The volume label in UTF-16.
    label: Vec<u16>,
    upcase_table: Vec<u8>,
    /// The allocation bitmap's length: one bit a cluster.
    bitmap_bytes: u64,
    bitmap_clusters: u32,
    upcase_clusters: u32,
    /// Bitmap, up-case table and root directory: the first clusters of the heap.
    system_clusters: u32,
}

impl Layout {
    fn cluster_bytes(&self) -> u64 {
        u64::from(self.info.cluster_size)
    }

    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.boot.heap_start() + u64::from(cluster - FIRST_CLUSTER) * self.cluster_bytes()
    }
}

/// Where the FAT and the cluster heap go on a volume, in sectors.
struct Regions {
    volume_sectors: u64,
    fat_offset: u32,
    fat_length: u32,
    heap_offset: u32,
    cluster_count: u32,
}

fn too_small() -> Error {
    Error::InvalidArgument("volume too small for this cluster size")
}

/// Checks the options against a device of `device_bytes` and lays the volume out.
fn plan_layout(device_bytes: u64, opts: &FormatOptions) -> Result<Layout, Error> {
    let (bps, cluster_size) = sector_and_cluster_size(device_bytes, opts)?;
    let label = validate_label(&opts.label)?;
    let regions = place_regions(device_bytes, bps, cluster_size)?;
    let cluster_count = regions.cluster_count;

    // The heap starts with the bitmap, then the up-case table, then the root directory.
    let cs = u64::from(cluster_size);
    let bitmap_bytes = u64::from(cluster_count).div_ceil(8);
    let bitmap_clusters = bitmap_bytes.div_ceil(cs) as u32;
    let upcase_table = generate_table();
    let upcase_clusters = (upcase_table.len() as u64).div_ceil(cs) as u32;
    let system_clusters = bitmap_clusters + upcase_clusters + 1;
    if cluster_count <= system_clusters {
        return Err(too_small());
    }
    let bitmap_cluster = FIRST_CLUSTER;
    let upcase_cluster = bitmap_cluster + bitmap_clusters;
    let root_cluster = upcase_cluster + upcase_clusters;

    let boot = BootSector {
        partition_offset: opts.partition_offset_sectors,
        volume_length: regions.volume_sectors,
        fat_offset: regions.fat_offset,
        fat_length: regions.fat_length,
        cluster_heap_offset: regions.heap_offset,
        cluster_count,
        root_cluster,
        volume_serial: opts.volume_serial,
        volume_flags: 0,
        bytes_per_sector_shift: bps.trailing_zeros() as u8,
        sectors_per_cluster_shift: (cluster_size / bps).trailing_zeros() as u8,
        number_of_fats: 1,
        percent_in_use: (u64::from(system_clusters) * 100 / u64::from(cluster_count)) as u8,
    };
    let info = FormatInfo {
        bytes_per_sector: bps,
        cluster_size,
        volume_length_sectors: regions.volume_sectors,
        fat_offset_sectors: regions.fat_offset,
        fat_length_sectors: regions.fat_length,
        cluster_heap_offset_sectors: regions.heap_offset,
        cluster_count,
        bitmap_cluster,
        upcase_cluster,
        root_cluster,
        free_clusters: cluster_count - system_clusters,
    };
    Ok(Layout {
        info,
        boot,
        label,
        upcase_table,
        bitmap_bytes,
        bitmap_clusters,
        upcase_clusters,
        system_clusters,
    })
}

/// The sector size asked for and the cluster size asked for (or recommended), checked.
fn sector_and_cluster_size(device_bytes: u64, opts: &FormatOptions) -> Result<(u32, u32), Error> {
    let bps = opts.bytes_per_sector;
    if !bps.is_power_of_two() || !(512..=4096).contains(&bps) {
        return Err(Error::InvalidArgument("bytes per sector must be 512, 1024, 2048 or 4096"));
    }
    let cluster_size = match opts.cluster_size {
        0 => recommended_cluster_size(device_bytes).max(bps),
        size => size,
    };
    if !cluster_size.is_power_of_two() || cluster_size < bps || cluster_size > MAX_CLUSTER_SIZE {
        return Err(Error::InvalidArgument(
            "cluster size must be a power of two between the sector size and 32 MiB",
        ));
    }
    Ok((bps, cluster_size))
}

/// Places the FAT and the cluster heap, aligned, and counts the clusters that fit.
fn place_regions(device_bytes: u64, bps: u32, cluster_size: u32) -> Result<Regions, Error> {
    let bps64 = u64::from(bps);
    let volume_sectors = device_bytes / bps64;
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
    let max_clusters =
        volume_sectors.checked_sub(fat_offset).ok_or_else(too_small)? / sectors_per_cluster;
    let fat_length_upper = ((max_clusters + 2) * 4).div_ceil(bps64);
    let heap_offset = align_up(fat_offset + fat_length_upper, alignment);
    let cluster_count =
        volume_sectors.checked_sub(heap_offset).ok_or_else(too_small)? / sectors_per_cluster;
    if cluster_count > u64::from(MAX_CLUSTER_COUNT) {
        return Err(Error::InvalidArgument("too many clusters: choose a larger cluster size"));
    }
    let fat_length = ((cluster_count + 2) * 4).div_ceil(bps64);
    let (Ok(fat_offset), Ok(fat_length), Ok(heap_offset)) =
        (u32::try_from(fat_offset), u32::try_from(fat_length), u32::try_from(heap_offset))
    else {
        return Err(Error::InvalidArgument("volume too large for this sector size"));
    };
    Ok(Regions {
        volume_sectors,
        fat_offset,
        fat_length,
        heap_offset,
        cluster_count: cluster_count as u32,
    })
}

/// FAT: all free except the reserved entries and the chains of the system structures.
fn write_fat<D: WriteAt + ?Sized>(dev: &mut D, layout: &Layout) -> Result<(), Error> {
    let info = &layout.info;
    let bps64 = u64::from(info.bytes_per_sector);
    let fat_start = u64::from(info.fat_offset_sectors) * bps64;
    write_zeros(dev, fat_start, u64::from(info.fat_length_sectors) * bps64)?;
    let mut fat: Vec<u32> = vec![FAT_MEDIA_ENTRY, FAT_END_OF_CHAIN];
    for (first, count) in [
        (info.bitmap_cluster, layout.bitmap_clusters),
        (info.upcase_cluster, layout.upcase_clusters),
        (info.root_cluster, 1),
    ] {
        for c in first..first + count {
            fat.push(if c == first + count - 1 { FAT_END_OF_CHAIN } else { c + 1 });
        }
    }
    let fat_bytes: Vec<u8> = fat.iter().flat_map(|e| e.to_le_bytes()).collect();
    dev.write_at(fat_start, &fat_bytes)?;
    Ok(())
}

/// Allocation bitmap: the system clusters are the first clusters of the heap.
fn write_bitmap<D: WriteAt + ?Sized>(dev: &mut D, layout: &Layout) -> Result<(), Error> {
    let bitmap_start = layout.cluster_offset(layout.info.bitmap_cluster);
    write_zeros(dev, bitmap_start, u64::from(layout.bitmap_clusters) * layout.cluster_bytes())?;
    let mut used_bits = vec![0u8; layout.system_clusters.div_ceil(8) as usize];
    for i in 0..layout.system_clusters {
        used_bits[(i / 8) as usize] |= 1 << (i % 8);
    }
    dev.write_at(bitmap_start, &used_bits)?;
    Ok(())
}

/// Up-case table, padded to whole clusters.
fn write_upcase_table<D: WriteAt + ?Sized>(dev: &mut D, layout: &Layout) -> Result<(), Error> {
    let upcase_start = layout.cluster_offset(layout.info.upcase_cluster);
    write_zeros(dev, upcase_start, u64::from(layout.upcase_clusters) * layout.cluster_bytes())?;
    dev.write_at(upcase_start, &layout.upcase_table)?;
    Ok(())
}

/// Root directory: label, bitmap, up-case table and optional GUID.
fn root_directory_entries(layout: &Layout, volume_guid: Option<&[u8; 16]>) -> Vec<[u8; 32]> {
    let mut entries: Vec<[u8; 32]> = Vec::new();
    let mut label_entry = [0u8; 32];
    label_entry[0] = TYPE_VOLUME_LABEL;
    label_entry[1] = layout.label.len() as u8;
    for (i, unit) in layout.label.iter().enumerate() {
        label_entry[2 + 2 * i..4 + 2 * i].copy_from_slice(&unit.to_le_bytes());
    }
    entries.push(label_entry);
    let mut bitmap_entry = [0u8; 32];
    bitmap_entry[0] = TYPE_ALLOCATION_BITMAP;
    bitmap_entry[20..24].copy_from_slice(&layout.info.bitmap_cluster.to_le_bytes());
    bitmap_entry[24..32].copy_from_slice(&layout.bitmap_bytes.to_le_bytes());
    entries.push(bitmap_entry);
    let upcase_table = &layout.upcase_table;
    let mut upcase_entry = [0u8; 32];
    upcase_entry[0] = TYPE_UPCASE_TABLE;
    upcase_entry[4..8].copy_from_slice(&table_checksum_add(0, upcase_table).to_le_bytes());
    upcase_entry[20..24].copy_from_slice(&layout.info.upcase_cluster.to_le_bytes());
    upcase_entry[24..32].copy_from_slice(&(upcase_table.len() as u64).to_le_bytes());
    entries.push(upcase_entry);
    if let Some(guid) = volume_guid {
        entries.push(build_volume_guid_entry(guid));
    }
    entries
}

/// The root directory's one cluster: its entries, then end-of-directory (zeros).
fn write_root_directory<D: WriteAt + ?Sized>(
    dev: &mut D,
    layout: &Layout,
    entries: &[[u8; 32]],
) -> Result<(), Error> {
    let root_start = layout.cluster_offset(layout.info.root_cluster);
    write_zeros(dev, root_start, layout.cluster_bytes())?;
    let root_bytes: Vec<u8> = entries.iter().flatten().copied().collect();
    dev.write_at(root_start, &root_bytes)?;
    Ok(())
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
