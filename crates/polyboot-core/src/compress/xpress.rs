//! XPRESS Huffman (MS-XCA §2.1–2.2) as WIM stores it: each chunk on its own, starting with a
//! 256-byte table of 512 4-bit codeword lengths (symbol `2i` in the low nibble of byte `i`,
//! `2i + 1` in the high nibble), then the bitstream.
//!
//! Symbols 0..=255 are literals. Symbol `256 + (k << 4 | l)` is a match: the offset is
//! `1 << k` plus the next `k` bits; the length is `l + 3`, where `l == 15` continues in the byte
//! stream (one byte added to 15, or after a byte of 255 a 16-bit length on its own).

use super::{lz_copy, BitReader, DecompressError, Huffman};

/// Bytes of the codeword-length table at the start of a chunk.
pub const TABLE_SIZE: usize = 256;
/// The longest codeword.
const MAX_CODEWORD_LEN: u32 = 15;

/// Decompresses one XPRESS Huffman chunk into exactly `out.len()` bytes.
pub fn decompress(input: &[u8], out: &mut [u8]) -> Result<(), DecompressError> {
    let table =
        crate::bytes::slice(input, 0, TABLE_SIZE).map_err(|_| DecompressError::Truncated)?;
    let mut lens = [0u8; 2 * TABLE_SIZE];
    for (pair, &b) in lens.chunks_exact_mut(2).zip(table) {
        pair.copy_from_slice(&[b & 0xF, b >> 4]);
    }
    let mut code = Huffman::new(MAX_CODEWORD_LEN);
    code.build(&lens)?;

    let mut r = BitReader::new(input.get(TABLE_SIZE..).unwrap_or(&[]));
    let end = out.len();
    let mut pos = 0usize;
    while pos < end {
        let sym = code.decode(&mut r)?;
        if let Ok(lit) = u8::try_from(sym) {
            if let Some(o) = out.get_mut(pos) {
                *o = lit;
            }
            pos += 1;
        } else {
            let sym = u32::from(sym) - 256;
            let log2_offset = (sym >> 4) & 0xF;
            let mut len = (sym & 0xF) as usize;
            r.ensure(16);
            let offset = (1usize << log2_offset) | r.peek(log2_offset) as usize;
            r.remove(log2_offset);
            if len == 0xF {
                len += usize::from(r.read_u8()?);
                if len == 0xF + 0xFF {
                    len = usize::from(r.read_le16()?);
                }
            }
            len += 3;
            r.check()?;
            lz_copy(out, pos, offset, len, end)?;
            pos += len;
        }
        r.check()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// The trivial encoding: every literal an 8-bit codeword equal to its value (a flat
    /// table), two per 16-bit word.
    fn all_literals(data: &[u8]) -> Vec<u8> {
        let mut v = vec![0x88u8; 128];
        v.resize(TABLE_SIZE, 0);
        for pair in data.chunks(2) {
            let w = (u16::from(pair[0]) << 8) | u16::from(pair.get(1).copied().unwrap_or(0));
            v.extend_from_slice(&w.to_le_bytes());
        }
        v
    }

    /// A table with literal 'a' and match symbol `sym` (each a 1-bit codeword: 'a' = 0).
    fn a_and(sym: usize, bits: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; TABLE_SIZE];
        v[usize::from(b'a') / 2] |= 1 << (4 * (usize::from(b'a') % 2));
        v[sym / 2] |= 1 << (4 * (sym % 2));
        v.extend_from_slice(bits);
        v
    }

    #[test]
    fn literals_round_trip() {
        let data = b"Hello, XPRESS Huffman! \x00\xff\xe8 odd";
        let mut out = vec![0u8; data.len()];
        decompress(&all_literals(data), &mut out).unwrap();
        assert_eq!(&out, data);
        decompress(&all_literals(b""), &mut []).unwrap();
    }

    #[test]
    fn matches_with_short_and_long_lengths() {
        // 'a', then a match at offset 1 of length 2 + 3: bits "0 1".
        let s = a_and(256 + 2, &[0x00, 0x40]);
        let mut out = [0u8; 6];
        decompress(&s, &mut out).unwrap();
        assert_eq!(&out, b"aaaaaa");

        // Length nibble 15: one more byte (here 10) gives 15 + 10 + 3 = 28. The byte comes
        // after the next word of bits, which the decoder has already taken in by then.
        let s = a_and(256 + 15, &[0x00, 0x40, 0x00, 0x00, 10]);
        let mut out = [0u8; 29];
        decompress(&s, &mut out).unwrap();
        assert_eq!(out, [b'a'; 29]);

        // 15 + 255: a 16-bit length follows (300 + 3).
        let s = a_and(256 + 15, &[0x00, 0x40, 0x00, 0x00, 255, 0x2C, 0x01]);
        let mut out = vec![0u8; 304];
        decompress(&s, &mut out).unwrap();
        assert!(out.iter().all(|&b| b == b'a'));

        // Offset bits: symbol 256 + (2 << 4) + 0: offset 4 + next 2 bits. "a" x4 by literals,
        // then a match at offset 4 | 0b00 of length 3: bits 0000 1 00.
        let s = a_and(256 + 32, &[0x00, 0x08]);
        let mut out = [0u8; 7];
        decompress(&s, &mut out).unwrap();
        assert_eq!(&out, b"aaaaaaa");
    }

    #[test]
    fn errors_not_panics() {
        let mut out = [0u8; 10];
        assert_eq!(decompress(&[0x88; 100], &mut out), Err(DecompressError::Truncated));
        // Stream of 2 literals where 10 are needed.
        assert_eq!(decompress(&all_literals(b"ab"), &mut out), Err(DecompressError::Truncated));
        // Every symbol of length 1: over-subscribed.
        assert_eq!(decompress(&[0x11; 260], &mut out), Err(DecompressError::BadHuffmanTable));
        // Literals of length 8 and one more codeword: over-subscribed.
        let mut t = all_literals(b"abcdefghij");
        t[200] = 0x01;
        assert_eq!(decompress(&t, &mut out), Err(DecompressError::BadHuffmanTable));
        // A match first: nothing to copy from.
        let s = a_and(256 + 2, &[0x00, 0x80]);
        assert_eq!(decompress(&s, &mut out), Err(DecompressError::MatchBeforeStart));
        // 'a' then a match of 5 into 3 bytes.
        let s = a_and(256 + 2, &[0x00, 0x40]);
        assert_eq!(decompress(&s, &mut [0u8; 3]), Err(DecompressError::TooMuchOutput));
        // The length byte is missing.
        let s = a_and(256 + 15, &[0x00, 0x40, 0x00, 0x00]);
        assert_eq!(decompress(&s, &mut out), Err(DecompressError::Truncated));
        // The empty code decodes nothing.
        assert_eq!(decompress(&[0; 260], &mut out), Err(DecompressError::BadCodeword));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 0x1234_5678;
        for n in 0..300 {
            let mut input = vec![0u8; 256 + n % 64];
            for b in &mut input {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            // Half the time a valid flat table, so the bitstream gets decoded.
            if n % 2 == 0 {
                input[..256].copy_from_slice(&[0x99; 256]);
            }
            let mut out = vec![0u8; n * 7 % 5000];
            let _ = decompress(&input, &mut out);
        }
    }
}
