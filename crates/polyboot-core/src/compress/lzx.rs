//! LZX as WIM stores it (wimlib's reading of Microsoft's format): each chunk is decompressed on
//! its own with a window of the chunk size (32 KiB by default, 2^15..2^21 bytes), with no LZX
//! header: E8 call translation is always on, with the magic file size 12000000, and the
//! repeated offsets R0, R1, R2 start at 1 in every chunk.
//!
//! A chunk is a sequence of blocks (verbatim, aligned offset or uncompressed), each with a
//! 3-bit type and a size (one bit for the default 32768, else 16 bits, or 24 bits when the
//! window is 64 KiB or larger). The main and length codes' lengths are delta-coded against
//! the previous block's (zero at the start of the chunk) through a 20-symbol pretree.

use super::{lz_copy, BitReader, DecompressError, Huffman};

const NUM_CHARS: usize = 256;
const MIN_MATCH_LEN: usize = 2;
const NUM_PRIMARY_LENS: usize = 7;
const LENCODE_SYMBOLS: usize = 249;
const PRECODE_SYMBOLS: usize = 20;
const ALIGNED_SYMBOLS: usize = 8;
/// Offset slots from this one on read their low 3 bits through the aligned offset code.
const MIN_ALIGNED_OFFSET_SLOT: usize = 8;
const DEFAULT_BLOCK_SIZE: usize = 32768;
const MAX_WINDOW_ORDER: u32 = 21;
const MIN_WINDOW_ORDER: u32 = 15;
/// The file size E8 translation assumes in every WIM chunk.
const E8_FILE_SIZE: i32 = 12_000_000;

const MAX_MAIN_CODEWORD_LEN: u32 = 16;
const MAX_LEN_CODEWORD_LEN: u32 = 16;
const MAX_PRE_CODEWORD_LEN: u32 = 15;
const MAX_ALIGNED_CODEWORD_LEN: u32 = 7;

const BLOCK_VERBATIM: u32 = 1;
const BLOCK_ALIGNED: u32 = 2;
const BLOCK_UNCOMPRESSED: u32 = 3;

/// The first match offset of each offset slot (slots 0..=2 are the repeated offsets), and
/// one past the last slot.
const SLOT_BASE: [u32; 51] = [
    0, 0, 0, 1, 2, 4, 6, 10, 14, 22, 30, 46, 62, 94, 126, 190, 254, 382, 510, 766, 1022, 1534,
    2046, 3070, 4094, 6142, 8190, 12286, 16382, 24574, 32766, 49150, 65534, 98302, 131070, 196606,
    262142, 393214, 524286, 655358, 786430, 917502, 1048574, 1179646, 1310718, 1441790, 1572862,
    1703934, 1835006, 1966078, 2097150,
];

/// Extra offset bits of each offset slot.
const EXTRA_BITS: [u8; 50] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13, 14, 14, 15, 15, 16, 16, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17,
];

/// log2 of the window for a chunk size: rounded up, at least 2^15; `None` outside 1..=2 MiB.
fn window_order(window_size: usize) -> Option<u32> {
    if window_size == 0 || window_size > 1 << MAX_WINDOW_ORDER {
        return None;
    }
    let order = usize::BITS - (window_size - 1).leading_zeros();
    Some(order.max(MIN_WINDOW_ORDER))
}

/// Main code symbols: the literals, then 8 length headers per offset slot. The largest
/// offset is the window size minus 3 (hence the slot count: 30 for 32 KiB ... 50 for 2 MiB).
fn num_main_syms(order: u32) -> usize {
    let max_offset = (1u32 << order) - 4;
    let mut slots = 30;
    while SLOT_BASE.get(slots).is_some_and(|&b| max_offset >= b) {
        slots += 1;
    }
    NUM_CHARS + slots * 8
}

/// Decompresses one LZX chunk into exactly `out.len()` bytes. `window_size` is the WIM's chunk
/// size (the window wimlib's compressor used), at least `out.len()`.
pub fn decompress(input: &[u8], out: &mut [u8], window_size: usize) -> Result<(), DecompressError> {
    let order = window_order(window_size).ok_or(DecompressError::BadWindowSize)?;
    if out.len() > window_size {
        return Err(DecompressError::BadWindowSize);
    }
    let mut d = Decoder {
        r: BitReader::new(input),
        main_lens: alloc::vec![0; num_main_syms(order)],
        len_lens: [0; LENCODE_SYMBOLS],
        pre: Huffman::new(MAX_PRE_CODEWORD_LEN),
        main: Huffman::new(MAX_MAIN_CODEWORD_LEN),
        lens: Huffman::new(MAX_LEN_CODEWORD_LEN),
        aligned: Huffman::new(MAX_ALIGNED_CODEWORD_LEN),
        recent: [1; 3],
    };
    let end = out.len();
    let mut pos = 0usize;
    while pos < end {
        let (block_type, size) = d.read_block_header(order)?;
        if size == 0 {
            return Err(DecompressError::BadBlockHeader);
        }
        if size > end - pos {
            return Err(DecompressError::TooMuchOutput);
        }
        let block_end = pos + size;
        if block_type == BLOCK_UNCOMPRESSED {
            let data = d.r.read_bytes(size)?;
            out.get_mut(pos..block_end)
                .ok_or(DecompressError::TooMuchOutput)?
                .copy_from_slice(data);
            // Odd sizes are padded back to 16 bits; the reference decoder tolerates its absence.
            if size % 2 == 1 {
                let _ = d.r.read_u8();
            }
        } else {
            d.decode_block(block_type == BLOCK_ALIGNED, out, pos, block_end)?;
        }
        pos = block_end;
    }
    d.r.check()?;
    undo_e8_translation(out);
    Ok(())
}

struct Decoder<'a> {
    r: BitReader<'a>,
    main_lens: alloc::vec::Vec<u8>,
    len_lens: [u8; LENCODE_SYMBOLS],
    pre: Huffman,
    main: Huffman,
    lens: Huffman,
    aligned: Huffman,
    recent: [u32; 3],
}

impl Decoder<'_> {
    /// The block type and size; reads the codeword lengths (or, for an uncompressed block,
    /// the repeated offsets) that follow.
    fn read_block_header(&mut self, order: u32) -> Result<(u32, usize), DecompressError> {
        let r = &mut self.r;
        r.ensure(4);
        let block_type = r.peek(3);
        r.remove(3);
        let default = r.peek(1);
        r.remove(1);
        let size = if default == 1 {
            DEFAULT_BLOCK_SIZE
        } else {
            let mut s = r.read_bits(16) as usize;
            if order >= 16 {
                s = (s << 8) | r.read_bits(8) as usize;
            }
            s
        };
        r.check()?;
        match block_type {
            BLOCK_VERBATIM | BLOCK_ALIGNED => {
                if block_type == BLOCK_ALIGNED {
                    let mut lens = [0u8; ALIGNED_SYMBOLS];
                    for l in &mut lens {
                        *l = self.r.read_bits(3) as u8;
                    }
                    self.aligned.build(&lens)?;
                }
                let n = self.main_lens.len();
                read_lens(&mut self.r, &mut self.pre, &mut self.main_lens, 0, NUM_CHARS)?;
                read_lens(&mut self.r, &mut self.pre, &mut self.main_lens, NUM_CHARS, n)?;
                read_lens(&mut self.r, &mut self.pre, &mut self.len_lens, 0, LENCODE_SYMBOLS)?;
                self.main.build(&self.main_lens)?;
                self.lens.build(&self.len_lens)?;
            }
            BLOCK_UNCOMPRESSED => {
                // The offsets start at the next 16-bit boundary: the buffered bits are
                // dropped, and a whole word when none is buffered (a quirk of the format).
                r.ensure(1);
                r.align();
                for slot in &mut self.recent {
                    *slot = r.read_le32()?;
                }
                if self.recent.contains(&0) {
                    return Err(DecompressError::BadBlockHeader);
                }
            }
            _ => return Err(DecompressError::BadBlockHeader),
        }
        Ok((block_type, size))
    }

    /// Literals and matches of a verbatim or aligned offset block, into `out[pos..end]`.
    fn decode_block(
        &mut self,
        aligned: bool,
        out: &mut [u8],
        mut pos: usize,
        end: usize,
    ) -> Result<(), DecompressError> {
        let min_aligned_slot = if aligned { MIN_ALIGNED_OFFSET_SLOT } else { usize::MAX };
        while pos < end {
            let sym = usize::from(self.main.decode(&mut self.r)?);
            if let Ok(lit) = u8::try_from(sym) {
                if let Some(o) = out.get_mut(pos) {
                    *o = lit;
                }
                pos += 1;
                self.r.check()?;
                continue;
            }
            let header = sym - NUM_CHARS;
            let mut len = header % 8;
            let slot = header / 8;
            if len == NUM_PRIMARY_LENS {
                len += usize::from(self.lens.decode(&mut self.r)?);
            }
            len += MIN_MATCH_LEN;

            let offset = if let Some(&rep) = self.recent.get(slot) {
                // A repeated offset swaps with R0 (not a true LRU queue).
                self.recent[slot] = self.recent[0];
                rep
            } else {
                let extra = u32::from(EXTRA_BITS.get(slot).copied().unwrap_or(0));
                let base = SLOT_BASE.get(slot).copied().unwrap_or(0);
                let bits = if slot >= min_aligned_slot {
                    let high = self.r.read_bits(extra.saturating_sub(3));
                    (high << 3) | u32::from(self.aligned.decode(&mut self.r)?)
                } else {
                    self.r.read_bits(extra)
                };
                self.recent[2] = self.recent[1];
                self.recent[1] = self.recent[0];
                base + bits
            };
            self.recent[0] = offset;
            self.r.check()?;
            let offset = usize::try_from(offset).unwrap_or(usize::MAX);
            lz_copy(out, pos, offset, len, end)?;
            pos += len;
        }
        Ok(())
    }
}

/// Reads a pretree, then codeword lengths `lens[start..stop]` as deltas from their old values.
/// Runs may overshoot `stop` (into the following lengths, as the reference decoder does);
/// past the end of `lens` they are dropped.
fn read_lens(
    r: &mut BitReader<'_>,
    pre: &mut Huffman,
    lens: &mut [u8],
    start: usize,
    stop: usize,
) -> Result<(), DecompressError> {
    let mut pre_lens = [0u8; PRECODE_SYMBOLS];
    for l in &mut pre_lens {
        *l = r.read_bits(4) as u8;
    }
    pre.build(&pre_lens)?;
    let delta = |old: u8, presym: u16| ((u16::from(old) + 17 - presym % 17) % 17) as u8;
    let mut i = start;
    while i < stop {
        let presym = pre.decode(r)?;
        let old = lens.get(i).copied().unwrap_or(0);
        let (run, len) = match presym {
            0..=16 => (1, delta(old, presym)),
            17 => (4 + r.read_bits(4) as usize, 0),
            18 => (20 + r.read_bits(5) as usize, 0),
            _ => {
                let run = 4 + r.read_bits(1) as usize;
                let same = pre.decode(r)?;
                if same > 17 {
                    return Err(DecompressError::BadHuffmanTable);
                }
                (run, delta(old, same))
            }
        };
        for _ in 0..run {
            if let Some(l) = lens.get_mut(i) {
                *l = len;
            }
            i += 1;
        }
    }
    r.check()
}

/// Undoes the E8 preprocessing: the 32-bit operand after each E8 byte (not in the last 10
/// bytes, and not inside an operand already translated) goes back from an absolute target to
/// a relative one.
fn undo_e8_translation(out: &mut [u8]) {
    let Some(limit) = out.len().checked_sub(10) else {
        return;
    };
    let mut i = 0usize;
    while i < limit {
        if out.get(i) != Some(&0xE8) {
            i += 1;
            continue;
        }
        if let Some(operand) = out.get_mut(i + 1..i + 5) {
            let mut b = [0u8; 4];
            b.copy_from_slice(operand);
            let abs = i32::from_le_bytes(b);
            // Chunks are at most 2 MiB, so positions fit in i32.
            let here = i32::try_from(i).unwrap_or(i32::MAX);
            let rel = if abs >= 0 {
                (abs < E8_FILE_SIZE).then(|| abs - here)
            } else {
                (abs >= -here).then(|| abs + E8_FILE_SIZE)
            };
            if let Some(rel) = rel {
                operand.copy_from_slice(&rel.to_le_bytes());
            }
        }
        i += 5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Bits most significant first into 16-bit little-endian words.
    #[derive(Default)]
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }

    impl Bits {
        fn put(&mut self, v: u32, n: u32) {
            for i in (0..n).rev() {
                self.acc = (self.acc << 1) | ((v >> i) & 1);
                self.n += 1;
                if self.n == 16 {
                    self.out.extend_from_slice(&(self.acc as u16).to_le_bytes());
                    (self.acc, self.n) = (0, 0);
                }
            }
        }
        fn finish(mut self) -> Vec<u8> {
            if self.n > 0 {
                self.put(0, 16 - self.n);
            }
            self.out
        }
        /// A pretree (symbols 0..=11 in 4 bits, 12..=19 in 5), then `lens` from all zeros.
        fn lens(&mut self, lens: &[u8]) {
            for s in 0..20 {
                self.put(if s < 12 { 4 } else { 5 }, 4);
            }
            fn pre(b: &mut Bits, p: u32) {
                if p < 12 {
                    b.put(p, 4)
                } else {
                    b.put(24 + p - 12, 5)
                }
            }
            let mut i = 0;
            while i < lens.len() {
                let zeros = lens[i..].iter().take_while(|&&l| l == 0).count().min(51);
                if zeros >= 20 {
                    pre(self, 18);
                    self.put((zeros - 20) as u32, 5);
                    i += zeros;
                } else {
                    pre(self, (17 - u32::from(lens[i])) % 17);
                    i += 1;
                }
            }
        }
        /// A verbatim (or aligned) block header with the given main code lengths.
        fn block(&mut self, aligned: Option<[u8; 8]>, size: u32, main: &[(usize, u8)]) {
            self.put(if aligned.is_some() { 2 } else { 1 }, 3);
            self.put(0, 1);
            self.put(size, 16);
            if let Some(a) = aligned {
                for l in a {
                    self.put(u32::from(l), 3);
                }
            }
            let mut lens = vec![0u8; num_main_syms(15)];
            for &(s, l) in main {
                lens[s] = l;
            }
            self.lens(&lens[..256]);
            self.lens(&lens[256..]);
            self.lens(&[0; LENCODE_SYMBOLS]);
        }
    }

    fn uncompressed(order16: bool, data: &[u8], recent: [u32; 3]) -> Vec<u8> {
        let mut b = Bits::default();
        b.put(3, 3);
        b.put(0, 1);
        if order16 {
            b.put(data.len() as u32 >> 8, 16);
            b.put(data.len() as u32 & 0xFF, 8);
        } else {
            b.put(data.len() as u32, 16);
        }
        let mut v = b.finish();
        for r in recent {
            v.extend_from_slice(&r.to_le_bytes());
        }
        v.extend_from_slice(data);
        if data.len() % 2 == 1 {
            v.push(0);
        }
        v
    }

    #[test]
    fn window_sizes() {
        assert_eq!(window_order(32768), Some(15));
        assert_eq!(window_order(1000), Some(15));
        assert_eq!(window_order(65536), Some(16));
        assert_eq!(window_order(65537), Some(17));
        assert_eq!(window_order(1 << 21), Some(21));
        assert_eq!(window_order(0), None);
        assert_eq!(window_order((1 << 21) + 1), None);
        assert_eq!(num_main_syms(15), 256 + 30 * 8);
        assert_eq!(num_main_syms(16), 256 + 32 * 8);
        assert_eq!(num_main_syms(17), 256 + 34 * 8);
        assert_eq!(num_main_syms(20), 256 + 42 * 8);
        assert_eq!(num_main_syms(21), 256 + 50 * 8);
    }

    #[test]
    fn uncompressed_blocks() {
        let mut out = [0u8; 5];
        decompress(&uncompressed(false, b"hello", [1, 1, 1]), &mut out, 32768).unwrap();
        assert_eq!(&out, b"hello");
        // The 24-bit block size of windows of 64 KiB and more.
        decompress(&uncompressed(true, b"world", [1, 2, 3]), &mut out, 65536).unwrap();
        assert_eq!(&out, b"world");
        // The default size bit.
        let data: Vec<u8> = (0..32768u32).map(|i| (i % 251) as u8).collect();
        let mut b = Bits::default();
        b.put(0b0111, 4);
        let mut v = b.finish();
        v.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
        v.extend_from_slice(&data);
        let mut out = vec![0u8; 32768];
        decompress(&v, &mut out, 32768).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn e8_translation_is_undone() {
        let mut data = vec![0x90, 0x90, 0xE8, 0x10, 0, 0, 0, 0xE8, 0xFF, 0xFF, 0xFF, 0xFF];
        data.extend_from_slice(&[0xE8, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut out = vec![0u8; data.len()];
        decompress(&uncompressed(false, &data, [1, 1, 1]), &mut out, 32768).unwrap();
        let mut want = data.clone();
        // 16 at position 2 → 14; -1 at position 7 → -1 + 12000000; position 12 is too late.
        want[3..7].copy_from_slice(&14i32.to_le_bytes());
        want[8..12].copy_from_slice(&11_999_999i32.to_le_bytes());
        assert_eq!(out, want);
    }

    #[test]
    fn verbatim_block_with_a_repeated_offset() {
        // 'a' = 0, 'b' = 10, match header 259 (R0, length 3 + 2) = 11.
        let mut b = Bits::default();
        b.block(None, 8, &[(97, 1), (98, 2), (259, 2)]);
        b.put(0b01_0110, 6); // 0 10 11 0
        let mut out = [0u8; 8];
        decompress(&b.finish(), &mut out, 32768).unwrap();
        assert_eq!(&out, b"abbbbbba");
    }

    #[test]
    fn aligned_block_with_an_explicit_offset() {
        // Slot 8 (base 14, 3 extra bits, all from the aligned code), length 2: main symbol
        // 256 + 64. Aligned code: 8 symbols of 3 bits, symbol = codeword.
        let mut b = Bits::default();
        b.block(Some([3; 8]), 18, &[(97, 1), (98, 2), (320, 2)]);
        for _ in 0..8 {
            b.put(0b010, 3); // 0 10
        }
        b.put(0b11, 2);
        b.put(1, 3); // offset 14 + 1
        let mut out = [0u8; 18];
        decompress(&b.finish(), &mut out, 32768).unwrap();
        assert_eq!(&out, b"ababababababababba");
    }

    #[test]
    fn errors_not_panics() {
        let ok = uncompressed(false, b"hello", [1, 1, 1]);
        let mut out = [0u8; 5];
        assert_eq!(decompress(&ok, &mut out, 0), Err(DecompressError::BadWindowSize));
        assert_eq!(decompress(&ok, &mut out, 4), Err(DecompressError::BadWindowSize));
        assert_eq!(decompress(&ok, &mut out, (1 << 21) + 1), Err(DecompressError::BadWindowSize));
        assert_eq!(decompress(&[], &mut out, 32768), Err(DecompressError::Truncated));
        assert_eq!(
            decompress(&ok[..ok.len() - 3], &mut out, 32768),
            Err(DecompressError::Truncated)
        );
        assert_eq!(decompress(&ok[..10], &mut out, 32768), Err(DecompressError::Truncated));
        // Block type 0 and 7.
        assert_eq!(
            decompress(&[0, 0x10, 0, 0], &mut out, 32768),
            Err(DecompressError::BadBlockHeader)
        );
        assert_eq!(
            decompress(&[0, 0xF0, 0, 0], &mut out, 32768),
            Err(DecompressError::BadBlockHeader)
        );
        // Block larger than the output, of size 0, with a zero repeated offset.
        assert_eq!(decompress(&ok, &mut [0u8; 4], 32768), Err(DecompressError::TooMuchOutput));
        let empty = uncompressed(false, b"", [1, 1, 1]);
        assert_eq!(decompress(&empty, &mut out, 32768), Err(DecompressError::BadBlockHeader));
        let zero = uncompressed(false, b"hello", [1, 0, 1]);
        assert_eq!(decompress(&zero, &mut out, 32768), Err(DecompressError::BadBlockHeader));
        // Pretree over-subscribed (every symbol of length 1).
        let mut b = Bits::default();
        b.put(1, 3);
        b.put(0, 1);
        b.put(5, 16);
        for _ in 0..20 {
            b.put(1, 4);
        }
        assert_eq!(decompress(&b.finish(), &mut out, 32768), Err(DecompressError::BadHuffmanTable));
        // A match first (R0 = 1 with nothing before it).
        let mut b = Bits::default();
        b.block(None, 5, &[(97, 1), (259, 1)]);
        b.put(1, 1);
        assert_eq!(
            decompress(&b.finish(), &mut out, 32768),
            Err(DecompressError::MatchBeforeStart)
        );
        // A match running past the block.
        let mut b = Bits::default();
        b.block(None, 5, &[(97, 1), (259, 1)]);
        b.put(0b01, 2);
        assert_eq!(
            decompress(&b.finish(), &mut [0u8; 5], 32768),
            Err(DecompressError::TooMuchOutput)
        );
        // Symbols running out.
        let mut b = Bits::default();
        b.block(None, 5, &[(97, 1), (259, 1)]);
        let mut s = b.finish();
        s.truncate(s.len() - 1);
        assert_eq!(decompress(&s, &mut out, 32768), Err(DecompressError::Truncated));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 0x9E37_79B9;
        for n in 0..400 {
            let mut input = vec![0u8; n % 300];
            for b in &mut input {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            // A verbatim block type, so the code-length reading gets exercised.
            if let Some(b) = input.get_mut(1) {
                *b = (*b & 0x1F) | 0x20;
            }
            let window = 1usize << (15 + n % 7);
            let mut out = vec![0u8; n * 13 % 4000];
            let _ = decompress(&input, &mut out, window);
        }
    }
}
