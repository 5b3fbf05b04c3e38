//! WIM LZX chunk decompression (`compress::lzx`) on arbitrary bytes, two ways:
//!
//! - input = window order (15 + byte % 7), a 3-byte output size, then the chunk:
//!   `decompress` must fill the buffer or return an error, never panic. The size is at most
//!   64 KiB unless the size's last byte is 0xF0 or more (then up to the window, 2 MiB), so
//!   most executions stay cheap;
//! - the bytes after the header, E8-translated as wimlib's compressor does and stored as a
//!   run of uncompressed blocks (sizes from the data; the default-size bit and 24-bit sizes
//!   of large windows included): `decompress` must give back exactly those bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::compress::lzx;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let order = 15 + u32::from(data[0] % 7);
    let window = 1usize << order;
    let size = if data[3] < 0xF0 {
        usize::from(u16::from_le_bytes([data[1], data[2]]))
    } else {
        u32::from_le_bytes([data[1], data[2], data[3], 0]) as usize
    };
    let out_len = size % (window + 1);
    let rest = &data[4..];
    let mut out = vec![0u8; out_len];
    if let Err(e) = lzx::decompress(rest, &mut out, window) {
        let _ = e.to_string();
    }

    let original = &rest[..rest.len().min(window)];
    if original.is_empty() {
        return;
    }
    let stream = uncompressed_blocks(original, order);
    let mut out = vec![0u8; original.len()];
    if let Err(e) = lzx::decompress(&stream, &mut out, window) {
        panic!("round trip of {} bytes: {e}", original.len());
    }
    assert!(out == original, "round trip of {} bytes differs", original.len());
});

/// wimlib's E8 preprocessing: relative call targets made absolute (chunk-relative positions,
/// file size 12000000), skipping the 4 bytes after each E8 and the last 10 bytes.
fn e8_translate(data: &mut [u8]) {
    if data.len() <= 10 {
        return;
    }
    let mut i = 0;
    while i < data.len() - 10 {
        if data[i] != 0xE8 {
            i += 1;
            continue;
        }
        let pos = i as i32;
        let rel = i32::from_le_bytes(data[i + 1..i + 5].try_into().unwrap());
        if rel >= -pos && rel < 12_000_000 {
            let abs = if rel < 12_000_000 - pos { rel + pos } else { rel - 12_000_000 };
            data[i + 1..i + 5].copy_from_slice(&abs.to_le_bytes());
        }
        i += 5;
    }
}

/// Bits most significant first into 16-bit little-endian words, padded to a word.
fn header_words(fields: &[(u32, u32)]) -> Vec<u8> {
    let (mut acc, mut n, mut out) = (0u32, 0u32, Vec::new());
    for &(v, bits) in fields {
        for i in (0..bits).rev() {
            acc = (acc << 1) | ((v >> i) & 1);
            n += 1;
            if n == 16 {
                out.extend_from_slice(&(acc as u16).to_le_bytes());
                (acc, n) = (0, 0);
            }
        }
    }
    if n > 0 {
        out.extend_from_slice(&((acc << (16 - n)) as u16).to_le_bytes());
    }
    out
}

fn uncompressed_blocks(original: &[u8], order: u32) -> Vec<u8> {
    let mut data = original.to_vec();
    e8_translate(&mut data);
    let mut stream = Vec::new();
    let mut at = 0;
    let mut k = 0usize;
    while at < data.len() {
        let sel = usize::from(original[k % original.len()]);
        k += 1;
        let left = data.len() - at;
        // None of these headers ends on a word boundary (4, 20 or 28 bits), so the repeated
        // offsets start right after the header's words.
        let (size, header) = if left >= 32768 && sel % 2 == 1 {
            (32768, header_words(&[(3, 3), (1, 1)]))
        } else {
            let size = (1 + sel * 131 + k * 977 % 5000).min(left) as u32;
            if order >= 16 {
                (size as usize, header_words(&[(3, 3), (0, 1), (size >> 8, 16), (size & 0xFF, 8)]))
            } else {
                (size as usize, header_words(&[(3, 3), (0, 1), (size, 16)]))
            }
        };
        stream.extend_from_slice(&header);
        for r in [1 + sel as u32, 2, 0x7FFF_FFFF] {
            stream.extend_from_slice(&r.to_le_bytes());
        }
        stream.extend_from_slice(&data[at..at + size]);
        if size % 2 == 1 {
            stream.push(0);
        }
        at += size;
    }
    stream
}
