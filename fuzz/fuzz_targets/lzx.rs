//! WIM LZX chunk decompression (`compress::lzx`) on arbitrary bytes, two ways:
//!
//! - input = window order (15 + byte % 7), a 3-byte output size, then the chunk:
//!   `decompress` must fill the buffer or return an error, never panic. The size is at most
//!   64 KiB unless the size's last byte is 0xF0 or more (then up to the window, 2 MiB), so
//!   most executions stay cheap;
//! - the bytes after the header, E8-translated as wimlib's compressor does and stored as a
//!   run of uncompressed blocks (sizes from the data; the default-size bit and 24-bit sizes
//!   of large windows included): `decompress` must give back exactly those bytes;
//! - the same bytes as a script of literals, explicit-offset and repeated-offset matches,
//!   encoded here into verbatim and aligned offset blocks (canonical codes of two lengths,
//!   changing from block to block so the lengths' delta coding is exercised; no E8 bytes, so
//!   E8 translation leaves it alone): `decompress` must give back the script's output.
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

    // The script's first 4 KiB (up to 16 KiB of output): the encoder here is bit by bit.
    let (stream, expected) = compressed_blocks(&rest[..rest.len().min(4096)], order);
    let mut out = vec![0u8; expected.len()];
    if let Err(e) = lzx::decompress(&stream, &mut out, window) {
        panic!("compressed round trip of {} bytes: {e}", expected.len());
    }
    assert!(out == expected, "compressed round trip of {} bytes differs", expected.len());
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
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, v: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.acc = (self.acc << 1) | ((v >> i) & 1);
            self.n += 1;
            if self.n == 16 {
                self.out.extend_from_slice(&(self.acc as u16).to_le_bytes());
                (self.acc, self.n) = (0, 0);
            }
        }
    }

    fn code(&mut self, c: (u32, u32)) {
        self.put(c.0, c.1);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.put(0, 16 - self.n);
        }
        self.out
    }
}

fn header_words(fields: &[(u32, u32)]) -> Vec<u8> {
    let mut b = Bits::default();
    for &(v, bits) in fields {
        b.put(v, bits);
    }
    b.finish()
}

/// Offset slot bases and extra bits (the LZX tables, slot 3 onwards: slots 0..=2 are R0..R2).
const SLOT_BASE: [u32; 51] = [
    0, 0, 0, 1, 2, 4, 6, 10, 14, 22, 30, 46, 62, 94, 126, 190, 254, 382, 510, 766, 1022, 1534,
    2046, 3070, 4094, 6142, 8190, 12286, 16382, 24574, 32766, 49150, 65534, 98302, 131070, 196606,
    262142, 393214, 524286, 655358, 786430, 917502, 1048574, 1179646, 1310718, 1441790, 1572862,
    1703934, 1835006, 1966078, 2097150,
];
const EXTRA_BITS: [u32; 50] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13, 14, 14, 15, 15, 16, 16, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17,
];
const NUM_SLOTS: [usize; 7] = [30, 32, 34, 36, 38, 42, 50];

/// A complete code over `n` symbols with lengths L - 1 and L (2^L ≥ n): `2^L - n` symbols,
/// chosen by `rot`, get the shorter length. Returns the lengths and (codeword, length).
fn two_length_code(n: usize, rot: usize) -> (Vec<u8>, Vec<(u32, u32)>) {
    let l = usize::BITS - (n - 1).leading_zeros();
    let short = (1usize << l) - n;
    let lens: Vec<u8> =
        (0..n).map(|s| if (s + rot) % n < short { l as u8 - 1 } else { l as u8 }).collect();
    // Canonical: by length, then symbol.
    let mut codes = vec![(0, 0); n];
    let mut next = 0u32;
    for len in [l - 1, l] {
        for s in 0..n {
            if u32::from(lens[s]) == len {
                codes[s] = (next, len);
                next += 1;
            }
        }
        next <<= 1;
    }
    (lens, codes)
}

/// A pretree (symbols 0..=11 in 4 bits, 12..=19 in 5), then each length as its delta.
fn write_lens(b: &mut Bits, old: &[u8], new: &[u8]) {
    for s in 0..20 {
        b.put(if s < 12 { 4 } else { 5 }, 4);
    }
    for (&o, &n) in old.iter().zip(new) {
        let p = (u32::from(o) + 17 - u32::from(n)) % 17;
        if p < 12 {
            b.put(p, 4);
        } else {
            b.put(24 + p - 12, 5);
        }
    }
}

enum Op {
    Literal(u8),
    /// Main symbol slot (0..=2 repeated, else explicit), offset, length.
    Match(usize, u32, usize),
}

fn compressed_blocks(script: &[u8], order: u32) -> (Vec<u8>, Vec<u8>) {
    let window = 1usize << order;
    let limit = window.min(1 << 14);
    let num_slots = NUM_SLOTS[order as usize - 15];
    let num_main = 256 + 8 * num_slots;
    let mut expected: Vec<u8> = Vec::new();
    let mut recent = [1u32; 3];
    let mut blocks: Vec<(usize, Vec<Op>)> = Vec::new();
    let mut i = 0;
    // Blocks of at least 512 bytes, at most 16 of them: each costs a header of ~750 code
    // lengths here and three decode tables in the decompressor.
    while i < script.len() && expected.len() < limit && blocks.len() < 16 {
        let target = 512 + usize::from(script[i]) * 61 % 8192;
        let start = expected.len();
        let mut ops = Vec::new();
        while i < script.len() && expected.len() - start < target {
            let op = script[i];
            i += 1;
            let can_match = op & 3 == 3 && i + 2 <= script.len() && !expected.is_empty();
            if !can_match {
                if expected.len() == limit {
                    break;
                }
                let lit = if op == 0xE8 { 0xE9 } else { op };
                expected.push(lit);
                ops.push(Op::Literal(lit));
                continue;
            }
            let (a, c) = (script[i], script[i + 1]);
            i += 2;
            let class = usize::from(op >> 2);
            let len = if class < 48 { 2 + class % 20 } else { (9 + usize::from(c)).min(257) };
            if expected.len() + len > limit {
                break;
            }
            let kind = usize::from(a % 4);
            let (slot, offset) = if kind < 3 && recent[kind] as usize <= expected.len() {
                let off = recent[kind];
                recent[kind] = recent[0];
                (kind, off)
            } else {
                let sel = u32::from(u16::from_le_bytes([a, c])) * 37;
                let max = (expected.len() as u32).min(SLOT_BASE[num_slots] - 1);
                let off = 1 + sel % max;
                let slot = (3..num_slots).rev().find(|&s| SLOT_BASE[s] <= off).unwrap();
                recent[2] = recent[1];
                recent[1] = recent[0];
                (slot, off)
            };
            recent[0] = offset;
            for _ in 0..len {
                expected.push(expected[expected.len() - offset as usize]);
            }
            ops.push(Op::Match(slot, offset, len));
        }
        if expected.len() > start {
            blocks.push((expected.len() - start, ops));
        }
    }

    let mut b = Bits::default();
    let mut main_old = vec![0u8; num_main];
    let mut len_old = vec![0u8; 249];
    for (k, (size, ops)) in blocks.iter().enumerate() {
        let aligned = (k + script.len()) % 2 == 1;
        b.put(if aligned { 2 } else { 1 }, 3);
        b.put(0, 1);
        if order >= 16 {
            b.put((*size >> 8) as u32, 16);
            b.put((*size & 0xFF) as u32, 8);
        } else {
            b.put(*size as u32, 16);
        }
        if aligned {
            for _ in 0..8 {
                b.put(3, 3); // a flat aligned code: symbol = codeword
            }
        }
        let (main_lens, main) = two_length_code(num_main, k * 37);
        let (len_lens, lens) = two_length_code(249, k * 11);
        write_lens(&mut b, &main_old[..256], &main_lens[..256]);
        write_lens(&mut b, &main_old[256..], &main_lens[256..]);
        write_lens(&mut b, &len_old, &len_lens);
        (main_old, len_old) = (main_lens, len_lens);
        for op in ops {
            match *op {
                Op::Literal(l) => b.code(main[usize::from(l)]),
                Op::Match(slot, offset, len) => {
                    let header = (len - 2).min(7);
                    b.code(main[256 + slot * 8 + header]);
                    if header == 7 {
                        b.code(lens[len - 9]);
                    }
                    if slot >= 3 {
                        let extra = offset - SLOT_BASE[slot];
                        let bits = EXTRA_BITS[slot];
                        if aligned && slot >= 8 {
                            b.put(extra >> 3, bits - 3);
                            b.put(extra & 7, 3);
                        } else {
                            b.put(extra, bits);
                        }
                    }
                }
            }
        }
    }
    (b.finish(), expected)
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
