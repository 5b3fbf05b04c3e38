//! Decompressors for the chunk formats of WIM resources: XPRESS Huffman ([`xpress`], MS-XCA
//! §2.1–2.2) and WIM's LZX variant ([`lzx`]). Each chunk is decompressed on its own into a
//! buffer of exactly its uncompressed size.
//!
//! Both formats share the bit reader and the canonical Huffman decoder below. The bit reader
//! follows the reference decoders (wimlib, Microsoft's) word for word: 16-bit little-endian
//! words read lazily, most significant bit first, and zero bits once the input runs out. That
//! laziness matters: where an LZX uncompressed block starts, and where XPRESS reads its length
//! bytes, depends on how many words the decoder has already pulled in.
//!
//! Hostile input gives a [`DecompressError`], never a panic: every read is checked, every
//! symbol writes at least one byte into a buffer of fixed size (bounded work), and the only
//! memory used is a few small decode tables per chunk.

use core::fmt;

pub mod lzx;
pub mod xpress;

/// Why a chunk could not be decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecompressError {
    /// The input ends before the output is complete (or a header is cut short).
    Truncated,
    /// A Huffman code's lengths over-subscribe the code space, or leave it incomplete.
    BadHuffmanTable,
    /// The bits name a codeword that the (incomplete) code does not use.
    BadCodeword,
    /// A match reaches back before the start of the output (or has offset 0).
    MatchBeforeStart,
    /// A match or block would write past the end of the output.
    TooMuchOutput,
    /// An LZX block header is invalid (unknown type, size 0, a zero repeated offset).
    BadBlockHeader,
    /// The LZX window size is outside 1..=2 MiB, or smaller than the output.
    BadWindowSize,
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecompressError::Truncated => "compressed data truncated",
            DecompressError::BadHuffmanTable => "invalid Huffman code lengths",
            DecompressError::BadCodeword => "unused Huffman codeword in compressed data",
            DecompressError::MatchBeforeStart => "match refers to data before the start of output",
            DecompressError::TooMuchOutput => {
                "compressed data decodes to more than the output size"
            }
            DecompressError::BadBlockHeader => "invalid LZX block header",
            DecompressError::BadWindowSize => "invalid LZX window size",
        })
    }
}

impl core::error::Error for DecompressError {}

/// 16-bit little-endian words, read most significant bit first, refilled one word at a time
/// only when a read needs more bits than are buffered (as the reference decoders do).
pub(crate) struct BitReader<'a> {
    input: &'a [u8],
    /// Next unread byte of `input`.
    pos: usize,
    /// Buffered bits, the next one in bit 31.
    buf: u32,
    /// How many bits of `buf` are buffered (real or, past the end, zero).
    left: u32,
    /// Bits taken from `input` into the buffer, and bits consumed: consuming more than was
    /// fed means the stream relied on bits past its end.
    fed: u64,
    consumed: u64,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        BitReader { input, pos: 0, buf: 0, left: 0, fed: 0, consumed: 0 }
    }

    fn next_word(&mut self) -> Option<u32> {
        let w = crate::bytes::le16(self.input, self.pos).ok()?;
        self.pos += 2;
        self.fed += 16;
        Some(u32::from(w))
    }

    /// Makes at least `n` (≤ 17) bits available. Past the end of the input the buffer is
    /// topped up with zeros to 32 bits.
    pub(crate) fn ensure(&mut self, n: u32) {
        if self.left >= n {
            return;
        }
        // left < n ≤ 17, so left ≤ 16 and the shift is in range.
        let Some(w) = self.next_word() else {
            self.left = 32;
            return;
        };
        self.buf |= w << (16 - self.left);
        self.left += 16;
        if n == 17 && self.left == 16 {
            if let Some(w) = self.next_word() {
                self.buf |= w;
            }
            self.left = 32;
        }
    }

    /// The next `n` (≤ 17) buffered bits, without consuming them.
    #[inline]
    pub(crate) fn peek(&self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            self.buf >> (32 - n.min(32))
        }
    }

    #[inline]
    pub(crate) fn remove(&mut self, n: u32) {
        let n = n.min(self.left);
        self.buf = self.buf.checked_shl(n).unwrap_or(0);
        self.left -= n;
        self.consumed += u64::from(n);
    }

    pub(crate) fn read_bits(&mut self, n: u32) -> u32 {
        self.ensure(n);
        let v = self.peek(n);
        self.remove(n);
        v
    }

    /// Whether the bits consumed so far all came from the input.
    pub(crate) fn check(&self) -> Result<(), DecompressError> {
        if self.consumed > self.fed {
            Err(DecompressError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Drops the buffered bits: the byte stream continues after the last word read.
    pub(crate) fn align(&mut self) {
        self.buf = 0;
        self.left = 0;
        self.consumed = self.consumed.max(self.fed);
    }

    pub(crate) fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], DecompressError> {
        let s =
            crate::bytes::slice(self.input, self.pos, n).map_err(|_| DecompressError::Truncated)?;
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn read_u8(&mut self) -> Result<u8, DecompressError> {
        Ok(self.read_bytes(1)?.first().copied().unwrap_or(0))
    }

    pub(crate) fn read_le16(&mut self) -> Result<u16, DecompressError> {
        let b = self.read_bytes(2)?;
        crate::bytes::le16(b, 0).map_err(|_| DecompressError::Truncated)
    }

    pub(crate) fn read_le32(&mut self) -> Result<u32, DecompressError> {
        let b = self.read_bytes(4)?;
        crate::bytes::le32(b, 0).map_err(|_| DecompressError::Truncated)
    }
}

/// Bits indexing the direct lookup table; longer codewords take the canonical slow path.
const TABLE_BITS: u32 = 10;
/// The longest codeword any of the formats allows.
const MAX_LEN: usize = 16;

/// A canonical Huffman code (codewords assigned in order of length, then symbol).
pub(crate) struct Huffman {
    /// `symbol << 5 | length` for codewords of at most `table_bits` bits; 0 otherwise.
    table: alloc::vec::Vec<u16>,
    table_bits: u32,
    /// Bits to have buffered before decoding: the format's longest codeword.
    max_len: u32,
    counts: [u16; MAX_LEN + 1],
    /// Symbols sorted by (length, symbol).
    sorted: alloc::vec::Vec<u16>,
}

impl Huffman {
    pub(crate) fn new(max_len: u32) -> Self {
        let table_bits = TABLE_BITS.min(max_len);
        Huffman {
            table: alloc::vec![0; 1 << table_bits],
            table_bits,
            max_len,
            counts: [0; MAX_LEN + 1],
            sorted: alloc::vec::Vec::new(),
        }
    }

    /// Builds the code from its codeword lengths (0 = unused). Accepted, as by wimlib: a
    /// complete code, an empty one, and a single codeword of length 1.
    pub(crate) fn build(&mut self, lens: &[u8]) -> Result<(), DecompressError> {
        let max = self.max_len as usize;
        let mut counts = [0u16; MAX_LEN + 1];
        for &l in lens {
            let c = counts.get_mut(usize::from(l)).filter(|_| usize::from(l) <= max);
            let c = c.ok_or(DecompressError::BadHuffmanTable)?;
            *c = c.saturating_add(1);
        }
        counts[0] = 0;
        let mut remainder: i64 = 1;
        for &c in &counts[1..=max] {
            remainder = remainder * 2 - i64::from(c);
            if remainder < 0 {
                return Err(DecompressError::BadHuffmanTable);
            }
        }
        if remainder != 0
            && remainder != 1 << max
            && !(remainder == 1 << (max - 1) && counts[1] == 1)
        {
            return Err(DecompressError::BadHuffmanTable);
        }
        self.counts = counts;

        // Offsets of each length's first symbol in `sorted`.
        let mut offs = [0usize; MAX_LEN + 2];
        for l in 1..=max {
            offs[l + 1] = offs[l] + usize::from(counts[l]);
        }
        self.sorted.clear();
        self.sorted.resize(offs[max + 1], 0);
        let mut next = offs;
        for (sym, &l) in lens.iter().enumerate() {
            if l != 0 {
                let slot = &mut next[usize::from(l)];
                if let Some(s) = self.sorted.get_mut(*slot) {
                    *s = sym as u16;
                }
                *slot += 1;
            }
        }

        // The direct table: the codewords of at most `table_bits` bits, in canonical order.
        self.table.fill(0);
        let tb = self.table_bits;
        let mut code: u32 = 0;
        let mut i = 0usize;
        for len in 1..=tb {
            for _ in 0..counts[len as usize] {
                let sym = self.sorted.get(i).copied().unwrap_or(0);
                let shift = tb - len;
                let start = (code << shift) as usize;
                let end = ((code + 1) << shift) as usize;
                if let Some(t) = self.table.get_mut(start..end) {
                    t.fill((sym << 5) | len as u16);
                }
                code += 1;
                i += 1;
            }
            code <<= 1;
        }
        Ok(())
    }

    /// The next symbol.
    pub(crate) fn decode(&self, r: &mut BitReader<'_>) -> Result<u16, DecompressError> {
        r.ensure(self.max_len);
        let e = self.table.get(r.peek(self.table_bits) as usize).copied().unwrap_or(0);
        let len = u32::from(e & 31);
        if len != 0 {
            r.remove(len);
            return Ok(e >> 5);
        }
        // Longer codeword (or an unused one): walk the code length by length.
        let bits = r.peek(self.max_len);
        let (mut code, mut first, mut index) = (0u32, 0u32, 0usize);
        for len in 1..=self.max_len {
            code |= (bits >> (self.max_len - len)) & 1;
            let count = u32::from(self.counts.get(len as usize).copied().unwrap_or(0));
            if code < first + count {
                r.remove(len);
                let at = index + (code - first) as usize;
                return self.sorted.get(at).copied().ok_or(DecompressError::BadCodeword);
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(DecompressError::BadCodeword)
    }
}

/// Copies a match of `len` bytes from `offset` bytes back to `out[pos..]`, within
/// `out[..end]`.
pub(crate) fn lz_copy(
    out: &mut [u8],
    pos: usize,
    offset: usize,
    len: usize,
    end: usize,
) -> Result<(), DecompressError> {
    if offset == 0 || offset > pos {
        return Err(DecompressError::MatchBeforeStart);
    }
    let stop = pos.checked_add(len).ok_or(DecompressError::TooMuchOutput)?;
    if stop > end || end > out.len() {
        return Err(DecompressError::TooMuchOutput);
    }
    // Overlapping matches repeat their first `offset` bytes: copy ever longer runs of whole
    // periods from the match's source (never overlapping their destination).
    let src = pos - offset;
    let mut at = pos;
    while at < stop {
        let n = (at - src).min(stop - at);
        out.copy_within(src..src + n, at);
        at += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversubscribed_and_incomplete_codes_are_refused() {
        let mut h = Huffman::new(15);
        assert_eq!(h.build(&[1, 1, 1]), Err(DecompressError::BadHuffmanTable));
        assert_eq!(h.build(&[1, 2]), Err(DecompressError::BadHuffmanTable));
        assert_eq!(h.build(&[2, 2, 0, 0]), Err(DecompressError::BadHuffmanTable));
        assert_eq!(h.build(&[16]), Err(DecompressError::BadHuffmanTable));
        assert_eq!(h.build(&[0, 0]), Ok(()));
        assert_eq!(h.build(&[0, 1]), Ok(()));
        assert_eq!(h.build(&[1, 2, 2]), Ok(()));
    }

    #[test]
    fn long_codewords_decode_through_the_slow_path() {
        // Lengths 1, 2, ..., 14, 15, 15: a complete code with codewords up to 15 bits.
        let mut lens: alloc::vec::Vec<u8> = (1..=15).collect();
        lens.push(15);
        let mut h = Huffman::new(15);
        h.build(&lens).unwrap();
        // Symbol 15 (the second 15-bit codeword) is all ones; symbol 11 is 11 ones and a 0.
        let bits: u32 = (0x7FFF << 17) | (0xFFE << 5);
        let bytes = [(bits >> 16) as u8, (bits >> 24) as u8, bits as u8, (bits >> 8) as u8];
        let mut r = BitReader::new(&bytes);
        assert_eq!(h.decode(&mut r), Ok(15));
        assert_eq!(h.decode(&mut r), Ok(11));
    }

    #[test]
    fn unused_codeword_of_a_one_symbol_code() {
        let mut h = Huffman::new(15);
        h.build(&[0, 1]).unwrap();
        let mut r = BitReader::new(&[0x00, 0x80]);
        assert_eq!(h.decode(&mut r), Err(DecompressError::BadCodeword));
        let mut r = BitReader::new(&[0x00, 0x00]);
        assert_eq!(h.decode(&mut r), Ok(1));
    }

    #[test]
    fn overlapping_copies_repeat_the_period() {
        let mut out = *b"abc\0\0\0\0\0\0\0";
        lz_copy(&mut out, 3, 3, 7, 10).unwrap();
        assert_eq!(&out, b"abcabcabca");
        let mut out = [0u8; 4];
        assert_eq!(lz_copy(&mut out, 1, 2, 1, 4), Err(DecompressError::MatchBeforeStart));
        assert_eq!(lz_copy(&mut out, 1, 0, 1, 4), Err(DecompressError::MatchBeforeStart));
        assert_eq!(lz_copy(&mut out, 1, 1, 4, 4), Err(DecompressError::TooMuchOutput));
        assert_eq!(lz_copy(&mut out, 1, 1, usize::MAX, 4), Err(DecompressError::TooMuchOutput));
    }

    #[test]
    fn bits_past_the_end_are_zero_but_count_as_truncation() {
        let mut r = BitReader::new(&[0x34, 0x12]);
        assert_eq!(r.read_bits(16), 0x1234);
        assert_eq!(r.check(), Ok(()));
        assert_eq!(r.read_bits(1), 0);
        assert_eq!(r.check(), Err(DecompressError::Truncated));
        assert_eq!(r.read_u8(), Err(DecompressError::Truncated));
    }
}
