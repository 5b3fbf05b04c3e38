//! Seeds of the `authenticode` target: the certificate tables of Debian's signed shim
//! (Microsoft's two entries), MokManager and fallback (Debian's key), each as the table of the
//! minimal PE skeleton (common/pe_skeleton.rs) and as a bare PKCS#7 blob (the target wraps
//! those itself); the skeleton unsigned, and signed with a table of two entries.

use crate::pe_skeleton;
use polyboot_core::authenticode;

const SIGNED: [(&str, &str); 3] = [
    ("shimx64", "/usr/lib/shim/shimx64.efi.signed"),
    ("mmx64", "/usr/lib/shim/mmx64.efi.signed"),
    ("fbx64", "/usr/lib/shim/fbx64.efi.signed"),
];

/// (name, bytes) of every seed, and a note when the signed files are missing.
pub fn seeds() -> (Vec<(String, Vec<u8>)>, Option<String>) {
    let mut out = vec![("unsigned".to_string(), pe_skeleton::image())];
    let mut missing = Vec::new();
    let mut blobs = Vec::new();
    for (name, path) in SIGNED {
        let Ok(bytes) = std::fs::read(path) else {
            missing.push(path);
            continue;
        };
        let s = authenticode::read(&bytes).expect("Debian's signed binaries read");
        let (at, size) = s.layout.cert_table.expect("signed");
        let table = &bytes[at..at + size];
        out.push((format!("{name}-table"), pe_skeleton::with_table(table)));
        // Each entry's PKCS#7 blob, bare.
        let mut off = 0;
        let mut i = 0;
        while off + 8 <= table.len() {
            let len = u32::from_le_bytes(table[off..off + 4].try_into().unwrap()) as usize;
            let blob = &table[off + 8..off + len];
            out.push((format!("{name}-pkcs7-{i}"), blob.to_vec()));
            blobs.push(blob.to_vec());
            off += len.div_ceil(8) * 8;
            i += 1;
        }
    }
    if blobs.len() >= 2 {
        let table = [pe_skeleton::entry(&blobs[0]), pe_skeleton::entry(&blobs[blobs.len() - 1])];
        out.push(("two-entries".to_string(), pe_skeleton::with_table(&table.concat())));
    }
    for (name, bytes) in &out {
        if bytes.starts_with(b"MZ") {
            let s = authenticode::read(bytes).unwrap_or_else(|e| panic!("seed {name}: {e}"));
            assert!(s.error.is_none(), "seed {name}: {:?}", s.error);
        }
    }
    let note = (!missing.is_empty())
        .then(|| format!("missing {} (Debian package shim-signed)", missing.join(", ")));
    (out, note)
}
