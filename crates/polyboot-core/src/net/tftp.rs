//! TFTP packets (RFC 1350) with option negotiation (RFC 2347: OACK; RFC 2348 blksize;
//! RFC 2349 timeout and tsize).
//!
//! | opcode | packet | body                                               |
//! |--------|--------|----------------------------------------------------|
//! | 1      | RRQ    | filename NUL mode NUL (option NUL value NUL)*      |
//! | 2      | WRQ    | same as RRQ                                        |
//! | 3      | DATA   | block (u16 BE), 0..blksize bytes                   |
//! | 4      | ACK    | block (u16 BE)                                     |
//! | 5      | ERROR  | code (u16 BE), message NUL                         |
//! | 6      | OACK   | (option NUL value NUL)*                            |
//!
//! Strings must be UTF-8 (in practice ASCII); option names are compared case-insensitively.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::bytes;

/// Default block size (RFC 1350).
pub const DEFAULT_BLKSIZE: u16 = 512;
/// Smallest and largest block size a client may ask for (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;
pub const MAX_BLKSIZE: u16 = 65464;
/// Largest request polyboot decodes (a request packet is small; anything more is hostile).
pub const MAX_REQUEST_LEN: usize = 1024;
/// Largest packet of any kind: 4 bytes of header and the largest block.
pub const MAX_PACKET_LEN: usize = 4 + MAX_BLKSIZE as usize;

/// TFTP error codes.
pub mod err {
    pub const NOT_DEFINED: u16 = 0;
    pub const FILE_NOT_FOUND: u16 = 1;
    pub const ACCESS_VIOLATION: u16 = 2;
    pub const ILLEGAL_OPERATION: u16 = 4;
    pub const UNKNOWN_TID: u16 = 5;
    pub const OPTION_REFUSED: u16 = 8;
}

/// One TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Read request.
    Rrq(Request),
    /// Write request (decoded so it can be refused).
    Wrq(Request),
    Data {
        block: u16,
        data: Vec<u8>,
    },
    Ack {
        block: u16,
    },
    Error {
        code: u16,
        message: String,
    },
    /// Option acknowledgement: the options the server accepted, in order.
    Oack {
        options: Vec<(String, String)>,
    },
}

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub filename: String,
    /// "octet" or "netascii" (compare case-insensitively).
    pub mode: String,
    /// Options in the order sent.
    pub options: Vec<(String, String)>,
}

impl Request {
    /// The value of an option, its name compared case-insensitively.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The requested block size when it is a number; clamped to `MIN_BLKSIZE..=max`.
    /// `None` when absent or not a number (the option is then left out of the OACK).
    pub fn blksize(&self, max: u16) -> Option<u16> {
        let v: u32 = parse_decimal(self.option("blksize")?)?;
        Some(v.clamp(u32::from(MIN_BLKSIZE), u32::from(max.max(MIN_BLKSIZE))) as u16)
    }

    /// Whether the client asked for the transfer size (it sends "tsize" with value 0).
    pub fn wants_tsize(&self) -> bool {
        self.option("tsize").is_some()
    }

    /// The requested retransmission timeout in seconds (1..=255 per RFC 2349).
    pub fn timeout(&self) -> Option<u8> {
        let v: u32 = parse_decimal(self.option("timeout")?)?;
        u8::try_from(v).ok().filter(|&t| t >= 1)
    }

    /// Whether the mode is "octet" (binary), the only one polyboot serves.
    pub fn is_octet(&self) -> bool {
        self.mode.eq_ignore_ascii_case("octet")
    }
}

/// A decimal number of at most 10 digits.
fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Why a datagram is not a TFTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TftpError {
    TooShort {
        len: usize,
    },
    TooLong {
        len: usize,
    },
    UnknownOpcode(u16),
    /// A string is not NUL-terminated.
    Unterminated,
    /// A string is not UTF-8.
    NotUtf8,
    /// A request without a file name, or an option without a value.
    Malformed,
}

impl fmt::Display for TftpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(f, "TFTP packet of {len} bytes is too short"),
            Self::TooLong { len } => write!(f, "TFTP packet of {len} bytes is too long"),
            Self::UnknownOpcode(op) => write!(f, "unknown TFTP opcode {op}"),
            Self::Unterminated => f.write_str("TFTP string without its terminating NUL"),
            Self::NotUtf8 => f.write_str("TFTP string is not UTF-8"),
            Self::Malformed => f.write_str("malformed TFTP request"),
        }
    }
}

impl core::error::Error for TftpError {}

impl Packet {
    /// Decode a datagram. Requests longer than [`MAX_REQUEST_LEN`] and packets longer than
    /// [`MAX_PACKET_LEN`] are refused.
    pub fn decode(b: &[u8]) -> Result<Self, TftpError> {
        if b.len() > MAX_PACKET_LEN {
            return Err(TftpError::TooLong { len: b.len() });
        }
        let op = bytes::be16(b, 0).map_err(|_| TftpError::TooShort { len: b.len() })?;
        let body = b.get(2..).unwrap_or_default();
        match op {
            1 | 2 => {
                if b.len() > MAX_REQUEST_LEN {
                    return Err(TftpError::TooLong { len: b.len() });
                }
                let mut strings = Strings(body);
                let filename = strings.next_string()?.ok_or(TftpError::Malformed)?;
                let mode = strings.next_string()?.ok_or(TftpError::Malformed)?;
                if filename.is_empty() {
                    return Err(TftpError::Malformed);
                }
                let options = strings.pairs()?;
                let r = Request { filename, mode, options };
                Ok(if op == 1 { Self::Rrq(r) } else { Self::Wrq(r) })
            }
            3 => {
                let block = bytes::be16(b, 2).map_err(|_| TftpError::TooShort { len: b.len() })?;
                Ok(Self::Data { block, data: b.get(4..).unwrap_or_default().to_vec() })
            }
            4 => {
                let block = bytes::be16(b, 2).map_err(|_| TftpError::TooShort { len: b.len() })?;
                if b.len() != 4 {
                    return Err(TftpError::Malformed);
                }
                Ok(Self::Ack { block })
            }
            5 => {
                let code = bytes::be16(b, 2).map_err(|_| TftpError::TooShort { len: b.len() })?;
                let mut strings = Strings(b.get(4..).unwrap_or_default());
                let message = strings.next_string()?.ok_or(TftpError::Unterminated)?;
                Ok(Self::Error { code, message })
            }
            6 => {
                if b.len() > MAX_REQUEST_LEN {
                    return Err(TftpError::TooLong { len: b.len() });
                }
                Ok(Self::Oack { options: Strings(body).pairs()? })
            }
            op => Err(TftpError::UnknownOpcode(op)),
        }
    }

    /// Encode as a datagram. Strings are written as they are: a NUL inside one would not
    /// survive, so the server only encodes strings it made or decoded.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Rrq(r) | Self::Wrq(r) => {
                out.extend_from_slice(
                    &(if matches!(self, Self::Rrq(_)) { 1u16 } else { 2 }).to_be_bytes(),
                );
                put_string(&mut out, &r.filename);
                put_string(&mut out, &r.mode);
                for (n, v) in &r.options {
                    put_string(&mut out, n);
                    put_string(&mut out, v);
                }
            }
            Self::Data { block, data } => {
                out.reserve(4 + data.len());
                out.extend_from_slice(&3u16.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(data);
            }
            Self::Ack { block } => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
            }
            Self::Error { code, message } => {
                out.extend_from_slice(&5u16.to_be_bytes());
                out.extend_from_slice(&code.to_be_bytes());
                put_string(&mut out, message);
            }
            Self::Oack { options } => {
                out.extend_from_slice(&6u16.to_be_bytes());
                for (n, v) in options {
                    put_string(&mut out, n);
                    put_string(&mut out, v);
                }
            }
        }
        out
    }

    /// An ERROR packet.
    pub fn error(code: u16, message: &str) -> Self {
        Self::Error { code, message: message.to_string() }
    }
}

/// Encode the DATA packet header for `block` followed by `data` into `out` (reused buffer).
pub fn encode_data_into(out: &mut Vec<u8>, block: u16, data: &[u8]) {
    out.clear();
    out.extend_from_slice(&3u16.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(data);
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// NUL-terminated strings one after another.
struct Strings<'a>(&'a [u8]);

impl Strings<'_> {
    /// The next string; `None` at the end of the bytes.
    fn next_string(&mut self) -> Result<Option<String>, TftpError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let nul = self.0.iter().position(|&c| c == 0).ok_or(TftpError::Unterminated)?;
        let s = core::str::from_utf8(self.0.get(..nul).unwrap_or_default())
            .map_err(|_| TftpError::NotUtf8)?;
        self.0 = self.0.get(nul + 1..).unwrap_or_default();
        Ok(Some(String::from(s)))
    }

    /// The remaining strings as (name, value) pairs.
    fn pairs(&mut self) -> Result<Vec<(String, String)>, TftpError> {
        let mut out = Vec::new();
        while let Some(name) = self.next_string()? {
            let value = self.next_string()?.ok_or(TftpError::Malformed)?;
            out.push((name, value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn rrq_bytes() -> Vec<u8> {
        b"\x00\x01undionly.kpxe\x00octet\x00blksize\x001432\x00TSIZE\x000\x00timeout\x003\x00"
            .to_vec()
    }

    #[test]
    fn decodes_rrq_with_options() {
        let Packet::Rrq(r) = Packet::decode(&rrq_bytes()).unwrap() else { panic!() };
        assert_eq!(r.filename, "undionly.kpxe");
        assert!(r.is_octet());
        assert_eq!(r.blksize(1468), Some(1432));
        assert_eq!(r.blksize(1024), Some(1024));
        assert!(r.wants_tsize());
        assert_eq!(r.timeout(), Some(3));
        assert_eq!(Packet::Rrq(r.clone()).encode(), rrq_bytes());
    }

    #[test]
    fn option_values_out_of_range() {
        let r = |opts: &[(&str, &str)]| Request {
            filename: "f".into(),
            mode: "octet".into(),
            options: opts.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        };
        assert_eq!(r(&[("blksize", "1")]).blksize(1468), Some(MIN_BLKSIZE));
        assert_eq!(r(&[("blksize", "99999999999")]).blksize(1468), None);
        assert_eq!(r(&[("blksize", "-5")]).blksize(1468), None);
        assert_eq!(r(&[("blksize", "")]).blksize(1468), None);
        assert_eq!(r(&[("timeout", "0")]).timeout(), None);
        assert_eq!(r(&[("timeout", "256")]).timeout(), None);
        assert_eq!(r(&[]).blksize(1468), None);
        assert!(!r(&[]).wants_tsize());
    }

    #[test]
    fn round_trips_every_kind() {
        for p in [
            Packet::Data { block: 7, data: vec![1, 2, 3] },
            Packet::Data { block: 0, data: vec![] },
            Packet::Ack { block: 65535 },
            Packet::error(err::FILE_NOT_FOUND, "no such file"),
            Packet::Oack {
                options: vec![("blksize".into(), "1432".into()), ("tsize".into(), "12345".into())],
            },
            Packet::Oack { options: vec![] },
            Packet::Wrq(Request { filename: "x".into(), mode: "netascii".into(), options: vec![] }),
        ] {
            assert_eq!(Packet::decode(&p.encode()).unwrap(), p);
        }
        let mut buf = Vec::new();
        encode_data_into(&mut buf, 3, b"abc");
        assert_eq!(buf, Packet::Data { block: 3, data: b"abc".to_vec() }.encode());
    }

    #[test]
    fn rejects_hostile_datagrams() {
        assert_eq!(Packet::decode(&[]), Err(TftpError::TooShort { len: 0 }));
        assert_eq!(Packet::decode(&[0]), Err(TftpError::TooShort { len: 1 }));
        assert_eq!(Packet::decode(&[0, 9]), Err(TftpError::UnknownOpcode(9)));
        assert_eq!(Packet::decode(&[0, 3, 1]), Err(TftpError::TooShort { len: 3 }));
        assert_eq!(Packet::decode(&[0, 4, 0, 1, 0]), Err(TftpError::Malformed));
        assert_eq!(Packet::decode(b"\x00\x01file"), Err(TftpError::Unterminated));
        assert_eq!(Packet::decode(b"\x00\x01file\x00"), Err(TftpError::Malformed));
        assert_eq!(Packet::decode(b"\x00\x01\x00octet\x00"), Err(TftpError::Malformed));
        assert_eq!(Packet::decode(b"\x00\x01f\xff\x00octet\x00"), Err(TftpError::NotUtf8));
        assert_eq!(Packet::decode(b"\x00\x01f\x00octet\x00blksize\x00"), Err(TftpError::Malformed));
        assert_eq!(Packet::decode(b"\x00\x05\x00\x01oops"), Err(TftpError::Unterminated));
        let mut long = b"\x00\x01".to_vec();
        long.extend(vec![b'a'; MAX_REQUEST_LEN]);
        assert_eq!(Packet::decode(&long), Err(TftpError::TooLong { len: MAX_REQUEST_LEN + 2 }));
        let huge = vec![0u8; MAX_PACKET_LEN + 1];
        assert_eq!(Packet::decode(&huge), Err(TftpError::TooLong { len: MAX_PACKET_LEN + 1 }));
    }
}
