//! polyboot-core's XPRESS and LZX chunk decompressors against wimlib (Debian package
//! wimtools): `wimcapture` packs a directory of varied files (text, zeros, pseudo-random data,
//! files of several chunks, x86 code for LZX's E8 translation) with each compression format
//! and chunk size; we take the WIM apart ourselves (`polyboot_tests::wim_chunks`), decompress
//! every chunk of every blob with our code, and each blob must equal one of the files (and
//! every non-empty file must be found). The metadata resource must decompress to its size
//! and start with a plausible security data length.
//!
//! The test fails (not skips) when wimcapture is missing.

use polyboot_core::compress::{lzx, xpress};
use polyboot_tests::wim_chunks::{
    self, Resource, HDR_LZX, HDR_XPRESS, RES_COMPRESSED, RES_METADATA,
};
use polyboot_tests::{find_tool, pattern, run_tool};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The source tree: name → contents.
fn sources() -> BTreeMap<&'static str, Vec<u8>> {
    let mut files = BTreeMap::new();
    let text: String = (0..3000)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog {}\n", i % 17))
        .collect();
    files.insert("text.txt", text.into_bytes());
    files.insert("zeros.bin", vec![0u8; 200_000]);
    files.insert("random.bin", pattern(1, 70_000));
    files.insert("small.txt", b"hello, wim\n".to_vec());
    files.insert("empty", Vec::new());
    // Exactly one 32 KiB chunk, and a mix of runs, text and noise over several 64 KiB chunks.
    files.insert("chunk.bin", (0..32768u32).map(|i| (i / 7 % 50) as u8 + b' ').collect());
    let mut mixed = Vec::new();
    for i in 0..40u64 {
        mixed.extend(pattern(i, 1000 + (i as usize * 37) % 500));
        mixed.extend(std::iter::repeat_n(i as u8, 3000));
        mixed.extend(format!("record {i} {}\n", "abcdefgh".repeat(i as usize % 9)).bytes());
    }
    files.insert("mixed.bin", mixed);
    // x86 code: E8 call instructions for LZX's translation.
    let efi = std::fs::read("/usr/lib/ipxe/ipxe.efi")
        .expect("/usr/lib/ipxe/ipxe.efi (Debian package ipxe) is needed for x86 code");
    assert!(efi.windows(1).filter(|w| w[0] == 0xE8).count() > 100);
    files.insert("ipxe.efi", efi);
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    files.insert("exe.bin", exe[..exe.len().min(1 << 20)].to_vec());
    files
}

/// Decompresses a whole resource.
fn unpack(wim: &[u8], res: &Resource, flags: u32, chunk_size: usize, stats: &mut Stats) -> Vec<u8> {
    if res.flags & RES_COMPRESSED == 0 {
        stats.stored += 1;
        return res.bytes(wim).to_vec();
    }
    let mut out = Vec::with_capacity(res.original_size as usize);
    for (i, c) in wim_chunks::chunks(wim, res, chunk_size).iter().enumerate() {
        if c.is_raw() {
            stats.raw += 1;
            out.extend_from_slice(c.stored);
            continue;
        }
        let mut buf = vec![0u8; c.size];
        let r = if flags & HDR_LZX != 0 {
            lzx::decompress(c.stored, &mut buf, chunk_size)
        } else {
            assert!(flags & HDR_XPRESS != 0, "header flags {flags:#x}");
            xpress::decompress(c.stored, &mut buf)
        };
        r.unwrap_or_else(|e| panic!("chunk {i} ({} -> {} bytes): {e}", c.stored.len(), c.size));
        stats.compressed += 1;
        out.extend_from_slice(&buf);
    }
    assert_eq!(out.len() as u64, res.original_size);
    out
}

#[derive(Default, Debug)]
struct Stats {
    /// Chunks decompressed, chunks stored raw, resources stored uncompressed.
    compressed: usize,
    raw: usize,
    stored: usize,
}

fn check(dir: &Path, files: &BTreeMap<&str, Vec<u8>>, compress: &str, chunk_size: Option<u32>) {
    let wim_path = dir.join(format!("{compress}-{}.wim", chunk_size.unwrap_or(0)));
    let mut cmd = Command::new(find_tool("wimcapture"));
    cmd.arg(dir.join("src")).arg(&wim_path).arg(format!("--compress={compress}"));
    if let Some(n) = chunk_size {
        cmd.arg(format!("--chunk-size={n}"));
    }
    run_tool(&mut cmd).unwrap();
    let bytes = std::fs::read(&wim_path).unwrap();
    let wim = wim_chunks::read(&bytes);
    assert_eq!(wim.chunk_size, chunk_size.unwrap_or(32768) as usize, "{compress}");

    let mut stats = Stats::default();
    let mut found = std::collections::BTreeSet::new();
    let mut metadata = 0;
    for res in &wim.resources {
        let data = unpack(&bytes, res, wim.flags, wim.chunk_size, &mut stats);
        if res.flags & RES_METADATA != 0 {
            // The security data comes first: its total length (u32), 8-aligned, inside.
            let sd_len = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
            assert!(sd_len >= 8 && sd_len <= data.len() && sd_len % 8 == 0, "{sd_len}");
            metadata += 1;
            continue;
        }
        let names: Vec<&str> = files.iter().filter(|(_, c)| **c == data).map(|(n, _)| *n).collect();
        assert!(!names.is_empty(), "{compress}: a blob of {} bytes matches no file", data.len());
        found.extend(names);
    }
    assert_eq!(metadata, 1, "{compress}: metadata resources");
    for (name, contents) in files {
        assert!(contents.is_empty() || found.contains(name), "{compress}: {name} not found");
    }
    // The chunks must really go through the decompressor (wimlib stores incompressible
    // chunks, or whole resources like random.bin's, raw).
    assert!(stats.compressed >= 5, "{compress} {chunk_size:?}: {stats:?}");
    eprintln!("{compress} chunk size {}: {stats:?}", wim.chunk_size);
}

#[test]
fn wimlib_chunks_decompress_to_the_source_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = sources();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for (name, contents) in &files {
        std::fs::write(src.join(name), contents).unwrap();
    }
    check(dir.path(), &files, "XPRESS", None);
    check(dir.path(), &files, "XPRESS", Some(65536));
    check(dir.path(), &files, "LZX", None);
    check(dir.path(), &files, "LZX", Some(65536));
    check(dir.path(), &files, "LZX", Some(1 << 21));
}
