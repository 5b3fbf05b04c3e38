//! Checked reads of integer fields from untrusted bytes: the one place the parsers of this
//! crate turn on-disk bytes into numbers.
//!
//! Two ways in, neither with a panic path:
//! - [`le16`], [`le32`], [`le64`], [`be16`], [`be32`], [`be64`], [`u8_at`], [`array`],
//!   [`chunk`] and [`slice`] take an offset known at run time and return [`OutOfBounds`] when
//!   the field does not lie inside the bytes (offset overflow included). Each parser maps
//!   `OutOfBounds` to its own error (a `From` impl, so `?` works), or uses `.ok()` where it
//!   returns `Option`.
//! - [`Fields`] reads a field at a constant offset of a fixed-size record (`[u8; N]`, typically
//!   obtained once with [`chunk`] after the length check): `sector.le32::<8>()` cannot fail,
//!   and a field past the end of the record (`.le32::<90>()` on a `[u8; 92]`) does not build.
//!
//! ISO 9660's both-endian fields are read from their little-endian half ([`le16`] / [`le32`]
//! at the field's offset), as every reader does.

use core::fmt;

/// A field that does not lie inside the bytes it was to be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds;

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field beyond the end of its structure")
    }
}

impl core::error::Error for OutOfBounds {}

/// `len` bytes at `at`.
#[inline]
pub fn slice(b: &[u8], at: usize, len: usize) -> Result<&[u8], OutOfBounds> {
    let end = at.checked_add(len).ok_or(OutOfBounds)?;
    b.get(at..end).ok_or(OutOfBounds)
}

/// The `N` bytes at `at`, borrowed as an array (for [`Fields`]).
#[inline]
pub fn chunk<const N: usize>(b: &[u8], at: usize) -> Result<&[u8; N], OutOfBounds> {
    slice(b, at, N)?.try_into().map_err(|_| OutOfBounds)
}

/// The `N` bytes at `at`, copied.
#[inline]
pub fn array<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], OutOfBounds> {
    chunk::<N>(b, at).copied()
}

#[inline]
pub fn u8_at(b: &[u8], at: usize) -> Result<u8, OutOfBounds> {
    b.get(at).copied().ok_or(OutOfBounds)
}

#[inline]
pub fn le16(b: &[u8], at: usize) -> Result<u16, OutOfBounds> {
    array(b, at).map(u16::from_le_bytes)
}

#[inline]
pub fn le32(b: &[u8], at: usize) -> Result<u32, OutOfBounds> {
    array(b, at).map(u32::from_le_bytes)
}

#[inline]
pub fn le64(b: &[u8], at: usize) -> Result<u64, OutOfBounds> {
    array(b, at).map(u64::from_le_bytes)
}

#[inline]
pub fn be16(b: &[u8], at: usize) -> Result<u16, OutOfBounds> {
    array(b, at).map(u16::from_be_bytes)
}

#[inline]
pub fn be32(b: &[u8], at: usize) -> Result<u32, OutOfBounds> {
    array(b, at).map(u32::from_be_bytes)
}

#[inline]
pub fn be64(b: &[u8], at: usize) -> Result<u64, OutOfBounds> {
    array(b, at).map(u64::from_be_bytes)
}

/// UTF-16LE code units of `b` (a trailing odd byte is ignored).
pub fn utf16le_units(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]))
}

/// UTF-16BE (UCS-2BE, as Joliet and UDF's OSTA CS0 16-bit form store it) code units of `b`
/// (a trailing odd byte is ignored).
pub fn utf16be_units(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

/// Fields at constant offsets of a fixed-size record. The offset is checked when the program
/// is built (a field past the end is a compile error), so these reads have no failure path.
pub trait Fields {
    /// The `W` bytes at `AT`.
    fn bytes_at<const AT: usize, const W: usize>(&self) -> [u8; W];
    fn le16<const AT: usize>(&self) -> u16 {
        u16::from_le_bytes(self.bytes_at::<AT, 2>())
    }
    fn le32<const AT: usize>(&self) -> u32 {
        u32::from_le_bytes(self.bytes_at::<AT, 4>())
    }
    fn le64<const AT: usize>(&self) -> u64 {
        u64::from_le_bytes(self.bytes_at::<AT, 8>())
    }
    fn be16<const AT: usize>(&self) -> u16 {
        u16::from_be_bytes(self.bytes_at::<AT, 2>())
    }
    fn be32<const AT: usize>(&self) -> u32 {
        u32::from_be_bytes(self.bytes_at::<AT, 4>())
    }
    fn be64<const AT: usize>(&self) -> u64 {
        u64::from_be_bytes(self.bytes_at::<AT, 8>())
    }
}

impl<const N: usize> Fields for [u8; N] {
    #[inline]
    fn bytes_at<const AT: usize, const W: usize>(&self) -> [u8; W] {
        const {
            assert!(AT <= N && W <= N - AT, "field beyond the end of its record");
        }
        let mut out = [0u8; W];
        // In bounds: the assertion above holds for every instance that builds.
        out.copy_from_slice(&self[AT..AT + W]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const B: [u8; 10] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A];

    #[test]
    fn little_and_big_endian() {
        assert_eq!(le16(&B, 0), Ok(0x0201));
        assert_eq!(le32(&B, 1), Ok(0x0504_0302));
        assert_eq!(le64(&B, 2), Ok(0x0A09_0807_0605_0403));
        assert_eq!(be16(&B, 0), Ok(0x0102));
        assert_eq!(be32(&B, 1), Ok(0x0203_0405));
        assert_eq!(be64(&B, 2), Ok(0x0304_0506_0708_090A));
        assert_eq!(u8_at(&B, 9), Ok(0x0A));
    }

    #[test]
    fn fields_at_the_very_end_and_past_it() {
        assert_eq!(le16(&B, 8), Ok(0x0A09));
        assert_eq!(le16(&B, 9), Err(OutOfBounds));
        assert_eq!(le32(&B, 6), Ok(0x0A09_0807));
        assert_eq!(le32(&B, 7), Err(OutOfBounds));
        assert_eq!(le64(&B, 3), Err(OutOfBounds));
        assert_eq!(be32(&B, 10), Err(OutOfBounds));
        assert_eq!(u8_at(&B, 10), Err(OutOfBounds));
        assert_eq!(le16(&[], 0), Err(OutOfBounds));
        assert_eq!(slice(&B, 10, 0), Ok(&[][..]));
        assert_eq!(slice(&B, 11, 0), Err(OutOfBounds));
    }

    #[test]
    fn offsets_near_usize_max_do_not_overflow() {
        assert_eq!(le32(&B, usize::MAX), Err(OutOfBounds));
        assert_eq!(le64(&B, usize::MAX - 3), Err(OutOfBounds));
        assert_eq!(slice(&B, 1, usize::MAX), Err(OutOfBounds));
        assert_eq!(array::<4>(&B, usize::MAX - 1), Err(OutOfBounds));
    }

    #[test]
    fn chunks_and_arrays() {
        assert_eq!(chunk::<3>(&B, 7), Ok(&[0x08, 0x09, 0x0A]));
        assert_eq!(chunk::<3>(&B, 8), Err(OutOfBounds));
        assert_eq!(array::<2>(&B, 4), Ok([0x05, 0x06]));
        assert_eq!(slice(&B, 2, 3), Ok(&[0x03, 0x04, 0x05][..]));
    }

    #[test]
    fn fixed_records() {
        assert_eq!(B.le16::<8>(), 0x0A09);
        assert_eq!(B.le32::<0>(), 0x0403_0201);
        assert_eq!(B.le64::<2>(), 0x0A09_0807_0605_0403);
        assert_eq!(B.be16::<0>(), 0x0102);
        assert_eq!(B.be32::<6>(), 0x0708_090A);
        assert_eq!(B.be64::<0>(), 0x0102_0304_0506_0708);
        assert_eq!(B.bytes_at::<9, 1>(), [0x0A]);
        let rec = chunk::<4>(&B, 6).unwrap();
        assert_eq!(rec.le32::<0>(), 0x0A09_0807);
    }

    #[test]
    fn utf16_units() {
        let le: Vec<u16> = utf16le_units(b"a\0b\0c").collect();
        assert_eq!(le, [u16::from(b'a'), u16::from(b'b')]);
        let be: Vec<u16> = utf16be_units(b"\0a\0b").collect();
        assert_eq!(be, [u16::from(b'a'), u16::from(b'b')]);
        assert_eq!(utf16le_units(b"").count(), 0);
    }
}
