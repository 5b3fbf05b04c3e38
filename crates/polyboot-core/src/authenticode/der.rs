//! A minimal DER reader, enough for PKCS#7 SignedData and X.509 certificates: single-byte
//! tags, definite lengths of at most four bytes, every read bounds-checked through
//! [`crate::bytes`]. What it does not read (BER's indefinite lengths, high tag numbers) is an
//! error, never a guess.

use super::AuthenticodeError;
use crate::bytes;
use alloc::string::String;
use core::fmt::Write;

pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
/// `[n]` constructed, context-specific (EXPLICIT, or IMPLICIT of a constructed type).
pub const fn context(n: u8) -> u8 {
    0xA0 | n
}

/// One element: its tag and its contents.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// The elements of one constructed value, read in order.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { rest: b }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, AuthenticodeError> {
        let b = self.rest;
        let tag = bytes::u8_at(b, 0).map_err(|_| AuthenticodeError::Der("truncated element"))?;
        if tag & 0x1F == 0x1F {
            return Err(AuthenticodeError::Der("multi-byte tag"));
        }
        let first = bytes::u8_at(b, 1).map_err(|_| AuthenticodeError::Der("truncated length"))?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 {
                return Err(AuthenticodeError::Der("indefinite length (BER, not DER)"));
            }
            if n > 4 {
                return Err(AuthenticodeError::Der("length of more than four bytes"));
            }
            let raw =
                bytes::slice(b, 2, n).map_err(|_| AuthenticodeError::Der("truncated length"))?;
            let len = raw.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
            (len, 2 + n)
        };
        let value = bytes::slice(b, header, len)
            .map_err(|_| AuthenticodeError::Der("element longer than its parent"))?;
        self.rest = b.get(header + len..).unwrap_or(&[]);
        Ok(Tlv { tag, value })
    }

    /// The next element, which must carry `tag`; its contents.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], AuthenticodeError> {
        let t = self.any().map_err(|_| AuthenticodeError::Der(what))?;
        if t.tag != tag {
            return Err(AuthenticodeError::Der(what));
        }
        Ok(t.value)
    }

    /// The next element's contents when it carries `tag`, else `None` (nothing consumed).
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, AuthenticodeError> {
        if self.peek_tag() == Some(tag) {
            Ok(Some(self.any()?.value))
        } else {
            Ok(None)
        }
    }

    /// The next element with its tag and length bytes (to compare encodings, e.g. names).
    pub fn raw(&mut self) -> Result<&'a [u8], AuthenticodeError> {
        let before = self.rest;
        self.any()?;
        let used = before.len() - self.rest.len();
        before.get(..used).ok_or(AuthenticodeError::Der("element longer than its parent"))
    }
}

/// The dotted form of an OBJECT IDENTIFIER's contents (`1.2.840.113549.1.7.2`).
pub fn oid_string(oid: &[u8]) -> String {
    let mut out = String::new();
    let mut acc: u64 = 0;
    let mut first = true;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7F);
        if b & 0x80 != 0 {
            if acc > u64::MAX >> 8 {
                return String::from("(malformed OID)");
            }
            continue;
        }
        if first {
            let (x, y) = if acc < 40 {
                (0, acc)
            } else if acc < 80 {
                (1, acc - 40)
            } else {
                (2, acc - 80)
            };
            let _ = write!(out, "{x}.{y}");
            first = false;
        } else {
            let _ = write!(out, ".{acc}");
        }
        acc = 0;
    }
    out
}

/// Contents bytes as upper-case hex (serial numbers, digests).
pub fn hex_upper(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02X}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths() {
        let mut r = Reader::new(&[0x04, 0x02, 0xAA, 0xBB, 0x30, 0x81, 0x01, 0x05]);
        let t = r.any().unwrap();
        assert_eq!((t.tag, t.value), (0x04, &[0xAA, 0xBB][..]));
        assert_eq!(r.expect(SEQUENCE, "seq").unwrap(), &[0x05]);
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_lengths_are_errors() {
        for bad in [
            &[0x30, 0x80, 0x00, 0x00][..],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x30, 0x03, 0x00],
            &[0x1F, 0x01, 0x00],
            &[0x30],
            &[],
        ] {
            assert!(Reader::new(bad).any().is_err(), "{bad:x?}");
        }
    }

    #[test]
    fn oids() {
        assert_eq!(
            oid_string(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02]),
            "1.2.840.113549.1.7.2"
        );
        assert_eq!(oid_string(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(hex_upper(&[0x0A, 0xFF]), "0AFF");
    }
}
