//! Seeds of the `vdisk` target: virtual disk descriptions (common/vdisk_desc.rs) like the
//! ones the boot manager builds (a contiguous ISO, a fragmented one with a relocated
//! directory region and record overrides, a sparse IMG) plus layouts that must be refused.

use crate::vdisk_desc::{
    Desc, ExtentDesc, OffsetDesc, OverrideDesc, ReadDesc, RegionDesc, SourceDesc,
};

fn extent(gap: u64, len: u64, device_offset: u64) -> ExtentDesc {
    ExtentDesc { absolute: false, offset: gap, len, device_offset }
}

fn read(at: u64, len: u16) -> ReadDesc {
    ReadDesc::Read { at: OffsetDesc::Value(at), len }
}

pub fn seeds() -> Vec<(&'static str, Desc)> {
    let contiguous = Desc {
        block_size: 2048,
        image_len: 300_000,
        partition_offset: 65536,
        device_len: 512 << 10,
        extents: vec![extent(0, 300_000, 4096)],
        regions: vec![],
        overrides: vec![],
        reads: vec![
            read(0, 8192),
            read(32768, 2048),
            ReadDesc::Reader { at: OffsetDesc::FromEnd(3000), len: 4096 },
            ReadDesc::Blocks { lba: 16, blocks: 4, short: false },
            ReadDesc::Blocks { lba: 146, blocks: 2, short: true },
        ],
    };
    // Three extents with holes between them, an image length that is not a whole number of
    // blocks, a memory region appended after the image (a rebuilt directory), an image region
    // mirroring the start, and overrides redirecting records (the later one wins).
    let fragmented = Desc {
        block_size: 512,
        image_len: 100_001,
        partition_offset: 1 << 20 >> 2,
        device_len: 400 << 10,
        extents: vec![
            extent(0, 40_000, 0),
            extent(1000, 20_000, 90_000),
            extent(5000, 30_001, 50_000),
        ],
        regions: vec![
            RegionDesc {
                at: None,
                len: 4096,
                source: SourceDesc::Memory { len: 3000, fill: 0x41 },
            },
            RegionDesc {
                at: Some(200_000),
                len: 8192,
                source: SourceDesc::Image { offset: 39_000 },
            },
        ],
        overrides: vec![
            OverrideDesc { at: OffsetDesc::Value(39_990), len: 34, fill: 0x10 },
            OverrideDesc { at: OffsetDesc::Value(40_000), len: 16, fill: 0x80 },
            OverrideDesc { at: OffsetDesc::FromEnd(100), len: 100, fill: 0xC0 },
        ],
        reads: vec![
            read(38_000, 8192),
            read(59_000, 8192),
            read(96_000, 8192),
            read(100_352, 4096),
            read(199_000, 8192),
            ReadDesc::Reader { at: OffsetDesc::Value(0), len: 8192 },
            ReadDesc::Blocks { lba: 390, blocks: 4, short: false },
        ],
    };
    // A 4096-byte-block IMG whose data stops early (the rest reads as zeros), an extent
    // reaching past the physical disk, and a region far past the image.
    let sparse = Desc {
        block_size: 4096,
        image_len: 64 << 10,
        partition_offset: 0,
        device_len: 40 << 10,
        extents: vec![extent(0, 16 << 10, 8192), extent(0, 16 << 10, 32 << 10)],
        regions: vec![RegionDesc {
            at: Some(512 << 10),
            len: 1,
            source: SourceDesc::Memory { len: 1, fill: 0xAA },
        }],
        overrides: vec![OverrideDesc { at: OffsetDesc::Value(0), len: 512, fill: 0x55 }],
        reads: vec![
            read(0, 8192),
            read(12 << 10, 8192),
            read(30 << 10, 4096),
            ReadDesc::Reader { at: OffsetDesc::FromEnd(1), len: 1 },
            ReadDesc::Read { at: OffsetDesc::Raw(u64::MAX - 10), len: 100 },
        ],
    };
    // Refused: extents out of order.
    let unsorted = Desc {
        extents: vec![
            extent(4096, 4096, 0),
            ExtentDesc { absolute: true, offset: 0, len: 4096, device_offset: 8192 },
        ],
        ..contiguous.clone()
    };
    // Refused regions (overlapping, empty, memory larger than the region, image source past
    // the image) and an override past the end; the disk itself is fine.
    let refused_parts = Desc {
        regions: vec![
            RegionDesc {
                at: Some(300_000),
                len: 10_000,
                source: SourceDesc::Memory { len: 0, fill: 0 },
            },
            RegionDesc {
                at: Some(305_000),
                len: 100,
                source: SourceDesc::Memory { len: 10, fill: 1 },
            },
            RegionDesc { at: None, len: 0, source: SourceDesc::Memory { len: 0, fill: 0 } },
            RegionDesc { at: None, len: 10, source: SourceDesc::Memory { len: 11, fill: 0 } },
        ],
        overrides: vec![OverrideDesc { at: OffsetDesc::FromEnd(10), len: 11, fill: 0 }],
        ..contiguous.clone()
    };
    // A replacement file on the drive served past the image (conf_replace): two fragments
    // stored in the other order, a hole, an empty extent; and a refused one whose extents
    // overlap.
    let drive_file = Desc {
        regions: vec![
            RegionDesc {
                at: None,
                len: 9000,
                source: SourceDesc::DriveFile {
                    extents: vec![
                        extent(0, 3000, 400_000),
                        extent(500, 0, 0),
                        extent(0, 4000, 320_000),
                    ],
                },
            },
            RegionDesc {
                at: None,
                len: 100,
                source: SourceDesc::DriveFile {
                    extents: vec![
                        extent(0, 60, 0),
                        ExtentDesc { absolute: true, offset: 50, len: 10, device_offset: 0 },
                    ],
                },
            },
        ],
        reads: vec![read(299_000, 8192), read(301_000, 8192), read(307_000, 4096)],
        ..contiguous.clone()
    };
    // 64-bit edges: an image length whose rounding overflows.
    let overflow =
        Desc { image_len: u64::MAX - 100, extents: vec![], reads: vec![], ..contiguous.clone() };
    vec![
        ("contiguous-iso", contiguous),
        ("fragmented", fragmented),
        ("sparse-img", sparse),
        ("unsorted-extents", unsorted),
        ("refused-regions", refused_parts),
        ("drive-file-region", drive_file),
        ("size-overflow", overflow),
    ]
}
