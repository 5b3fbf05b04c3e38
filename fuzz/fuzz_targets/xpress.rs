//! XPRESS Huffman chunk decompression (`compress::xpress`) on arbitrary bytes, two ways:
//!
//! - input = u16 output size (LE), then the chunk: `decompress` must fill the buffer or return
//!   an error, never panic (every size up to 64 KiB, WIM's largest XPRESS chunk);
//! - the bytes after the size as a script of literals and matches, encoded here with a flat
//!   table (all 512 symbols 9 bits) and MS-XCA's bit writer (two reserved words, length
//!   bytes in between): `decompress` must give back exactly the script's output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::compress::xpress;

const MAX_OUT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let out_len = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let rest = &data[2..];
    let mut out = vec![0u8; out_len];
    if let Err(e) = xpress::decompress(rest, &mut out) {
        let _ = e.to_string();
    }

    let (stream, expected) = encode_script(rest);
    let mut out = vec![0u8; expected.len()];
    if let Err(e) = xpress::decompress(&stream, &mut out) {
        panic!("round trip of {} bytes: {e}", expected.len());
    }
    assert!(out == expected, "round trip of {} bytes differs", expected.len());
});

/// MS-XCA's bit writer: 16-bit words filled most significant bit first; the word being
/// filled and the next one are reserved in the output, and bytes written meanwhile (match
/// lengths) go after them — where the decoder, which has read both words by then, looks.
struct Writer {
    out: Vec<u8>,
    slot1: usize,
    slot2: usize,
    acc: u32,
    free: u32,
}

impl Writer {
    fn new() -> Self {
        let mut out = vec![0x99u8; 256]; // every symbol 9 bits: codeword = symbol
        out.extend_from_slice(&[0; 4]);
        Writer { out, slot1: 256, slot2: 258, acc: 0, free: 16 }
    }

    fn put(&mut self, bits: u32, n: u32) {
        if n <= self.free {
            self.acc = (self.acc << n) | bits;
            self.free -= n;
        } else {
            let over = n - self.free;
            let word = (self.acc << self.free) | (bits >> over);
            self.out[self.slot1..self.slot1 + 2].copy_from_slice(&(word as u16).to_le_bytes());
            self.slot1 = self.slot2;
            self.slot2 = self.out.len();
            self.out.extend_from_slice(&[0, 0]);
            self.acc = bits & ((1 << over) - 1);
            self.free = 16 - over;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        let word = self.acc << self.free;
        self.out[self.slot1..self.slot1 + 2].copy_from_slice(&(word as u16).to_le_bytes());
        self.out
    }
}

/// Each script byte is a literal, or (low two bits set, once there is output) a match whose
/// offset comes from the next two bytes and whose length from the byte's high bits (short,
/// one extra length byte, or a 16-bit length).
fn encode_script(script: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut w = Writer::new();
    let mut expected = Vec::new();
    let mut i = 0;
    while i < script.len() {
        let op = script[i];
        i += 1;
        if op & 3 != 3 || expected.is_empty() || i + 2 > script.len() {
            if expected.len() == MAX_OUT {
                break;
            }
            w.put(u32::from(op), 9);
            expected.push(op);
            continue;
        }
        let sel = usize::from(u16::from_le_bytes([script[i], script[i + 1]]));
        i += 2;
        let offset = 1 + sel % expected.len().min(65535);
        let class = usize::from(op >> 2);
        let len = match class {
            0..=47 => 3 + class % 20,
            48..=55 => 18 + (class - 48) * 35 + sel % 30,
            _ => 273 + (class - 56) * 700 + sel % 1000,
        };
        if expected.len() + len > MAX_OUT {
            break;
        }
        let l = len - 3;
        let log2 = usize::BITS - 1 - offset.leading_zeros();
        w.put(256 + (log2 << 4) + l.min(15) as u32, 9);
        if l >= 15 {
            if l - 15 < 255 {
                w.out.push((l - 15) as u8);
            } else {
                w.out.push(255);
                w.out.extend_from_slice(&(l as u16).to_le_bytes());
            }
        }
        w.put((offset - (1 << log2)) as u32, log2);
        for _ in 0..len {
            expected.push(expected[expected.len() - offset]);
        }
    }
    (w.finish(), expected)
}
