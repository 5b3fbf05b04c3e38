//! The persistence file probe (ext2/3/4, XFS, LUKS superblocks) on arbitrary bytes. It must
//! never panic; what it reports is bounded by the fields it reads and depends only on the
//! first PROBE_BYTES.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::fsprobe::{probe, FsKind, PROBE_BYTES};

fuzz_target!(|data: &[u8]| {
    let Some(info) = probe(data) else {
        return;
    };
    let _ = format!("{} {:?}", info.kind, info);
    let head = &data[..data.len().min(PROBE_BYTES)];
    assert_eq!(probe(head).as_ref(), Some(&info), "bytes past PROBE_BYTES changed the answer");
    match info.kind {
        FsKind::Luks1 | FsKind::Luks2 => {
            assert!(info.size.is_none());
            assert!(info.uuid.chars().count() <= 40 && info.label.chars().count() <= 48);
            assert!(info.kind == FsKind::Luks2 || info.label.is_empty());
        }
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 | FsKind::Xfs => {
            assert_eq!(info.uuid.len(), 36);
            assert!(info.label.chars().count() <= 16);
            if let Some(size) = info.size {
                assert!(size % 512 == 0, "size {size} is not whole blocks");
            }
        }
    }
});
