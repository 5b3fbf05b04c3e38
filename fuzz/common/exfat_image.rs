//! The small exFAT volume the `exfat_dir` target mutates and the `exfat_boot` seeds start
//! from: formatted in memory by polyboot's own formatter, then filled through its writer
//! with nested directories, a FAT-chained (fragmented) file, a sparse file (valid data
//! length < size), an empty file, a non-ASCII long name and a deleted entry set.
//!
//! Shared by the fuzz targets and the seed generator (`#[path]` include), so both agree on
//! the image byte for byte.

use polyboot_core::block::MemDevice;
use polyboot_core::exfat::{self, ExFat, FormatOptions, Timestamp};

/// Smallest volume the formatter accepts.
pub const VOLUME_BYTES: usize = 1 << 20;
/// One root directory cluster is the `exfat_dir` input: 128 directory entries.
pub const CLUSTER_BYTES: u32 = 4096;

pub struct Image {
    pub bytes: Vec<u8>,
    /// Byte offset of the root directory's first cluster within the volume.
    pub root_offset: usize,
    pub cluster_bytes: usize,
}

impl Image {
    /// The root directory cluster as formatted: the `exfat_dir` seed.
    #[allow(dead_code)] // used by the seed generator only
    pub fn root_cluster(&self) -> &[u8] {
        &self.bytes[self.root_offset..self.root_offset + self.cluster_bytes]
    }
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

pub fn build() -> Image {
    let mut dev = MemDevice::new(VOLUME_BYTES);
    let opts = FormatOptions {
        bytes_per_sector: 512,
        cluster_size: CLUSTER_BYTES,
        label: "POLYBOOT".into(),
        volume_serial: 0x5059_4C42,
        volume_guid: Some(*b"polyboot-fuzz-01"),
        partition_offset_sectors: 2048,
    };
    let info = exfat::format(&mut dev, &opts).expect("format the fuzz image");
    {
        let mut fs = ExFat::open(&mut dev).expect("open the freshly formatted image");
        let t = Timestamp::from_unix(1_700_000_000);
        fs.create_dir_all("/boot/grub", t).unwrap();
        fs.write_file("/boot/grub/grub.cfg", b"menuentry \"polyboot\" { chainloader /x }\n", t)
            .unwrap();
        fs.create_dir("/iso", t).unwrap();
        // Three clusters each (8 KiB + a little).
        for i in 0..4u8 {
            let name = format!("/iso/part{i}.bin");
            fs.write_file(&name, &pattern(i, 8192 + 100 * i as usize), t).unwrap();
        }
        // Fill the volume, punch two holes, and make a file that can only be stored as a
        // FAT chain across them; then free the filler again.
        let free = fs.free_clusters().unwrap();
        let filler_bytes = u64::from(free.saturating_sub(1)) * u64::from(CLUSTER_BYTES);
        drop(fs.create_file("/filler.bin", filler_bytes, t).unwrap());
        fs.remove("/iso/part1.bin").unwrap();
        fs.remove("/iso/part3.bin").unwrap();
        fs.write_file("/iso/fragmented.bin", &pattern(7, 6 * CLUSTER_BYTES as usize + 10), t)
            .unwrap();
        fs.remove("/filler.bin").unwrap();

        fs.write_file("/README.TXT", b"polyboot fuzz image\n", t).unwrap();
        fs.write_file("/Ünïcødé – a rather long file name.text", &pattern(9, 300), t).unwrap();
        fs.write_file("/empty", b"", t).unwrap();
        {
            let mut sparse = fs.create_file("/sparse.img", 5 * CLUSTER_BYTES as u64, t).unwrap();
            sparse.write_at(0, &pattern(3, 5000)).unwrap();
            sparse.set_valid_data_length(5000).unwrap();
        }
        fs.flush().unwrap();
    }
    let root_offset = info.cluster_heap_offset_sectors as usize * info.bytes_per_sector as usize
        + (info.root_cluster as usize - 2) * info.cluster_size as usize;
    Image { bytes: dev.data, root_offset, cluster_bytes: info.cluster_size as usize }
}
