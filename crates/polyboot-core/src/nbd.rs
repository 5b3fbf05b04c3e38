//! The NBD protocol (fixed newstyle handshake, simple replies), without I/O: what
//! polyboot-hook sends and reads when it maps an image over the network, and what
//! `polyboot serve` reads from such a client. Both sides' bytes are untrusted: every message is
//! parsed here, through [`crate::bytes`], with a bound on every length.
//!
//! From the protocol document (NetworkBlockDevice/nbd `doc/proto.md`):
//! - Handshake: the server sends `NBDMAGIC`, `IHAVEOPT` and 16 bits of handshake flags; the
//!   client answers with 32 bits of client flags; then options, each `IHAVEOPT`, a 32-bit
//!   option, a 32-bit length and its data; each answered by option replies (a magic, the
//!   option, a 32-bit type, a 32-bit length, data). `NBD_OPT_GO` names the export and asks for
//!   information items; the server sends `NBD_REP_INFO`s (at least `NBD_INFO_EXPORT`: size and
//!   transmission flags) and `NBD_REP_ACK`, then transmission starts.
//! - Transmission: 28-byte requests (magic, command flags, type, cookie, offset, length), each
//!   answered by a 16-byte simple reply (magic, error, cookie), followed by the data for reads.
//!
//! All integers are big-endian.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::bytes::{self, Fields, OutOfBounds};

/// "NBDMAGIC", the server's first 8 bytes.
pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
/// "IHAVEOPT": after NBDMAGIC in the greeting, and before each option.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// The magic of an option reply.
pub const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// The magic of a transmission request.
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// The magic of a simple reply.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

/// Handshake flags (server): fixed newstyle, no zero padding after NBD_OPT_EXPORT_NAME.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1;
pub const FLAG_NO_ZEROES: u16 = 2;
/// Client flags: the same two.
pub const FLAG_C_FIXED_NEWSTYLE: u32 = 1;
pub const FLAG_C_NO_ZEROES: u32 = 2;

/// Options.
pub const OPT_EXPORT_NAME: u32 = 1;
pub const OPT_ABORT: u32 = 2;
pub const OPT_LIST: u32 = 3;
pub const OPT_INFO: u32 = 6;
pub const OPT_GO: u32 = 7;

/// Option reply types; errors have bit 31 set.
pub const REP_ACK: u32 = 1;
pub const REP_SERVER: u32 = 2;
pub const REP_INFO: u32 = 3;
pub const REP_ERR_UNSUP: u32 = 0x8000_0001;
pub const REP_ERR_POLICY: u32 = 0x8000_0002;
pub const REP_ERR_INVALID: u32 = 0x8000_0003;
pub const REP_ERR_UNKNOWN: u32 = 0x8000_0006;

/// Information items.
pub const INFO_EXPORT: u16 = 0;
pub const INFO_BLOCK_SIZE: u16 = 3;

/// Transmission flags.
pub const TFLAG_HAS_FLAGS: u16 = 1;
pub const TFLAG_READ_ONLY: u16 = 2;
pub const TFLAG_SEND_FLUSH: u16 = 4;
pub const TFLAG_CAN_MULTI_CONN: u16 = 1 << 8;

/// Commands.
pub const CMD_READ: u16 = 0;
pub const CMD_WRITE: u16 = 1;
pub const CMD_DISC: u16 = 2;
pub const CMD_FLUSH: u16 = 3;

/// Error values of replies (Linux errno numbers, as the protocol defines them).
pub const EPERM: u32 = 1;
pub const EIO: u32 = 5;
pub const EINVAL: u32 = 22;
pub const ENOTSUP: u32 = 95;

/// The longest option data either side accepts: an export name (the protocol caps it at
/// 4096 bytes) plus its info requests; anything longer is refused unread.
pub const MAX_OPTION_LEN: u32 = 8192;
/// The longest option reply data the client reads.
pub const MAX_OPTION_REPLY_LEN: u32 = 8192;
/// The largest read one request may ask for (the kernel asks for at most its max_sectors;
/// 32 MiB is the reference server's limit).
pub const MAX_READ_LEN: u32 = 32 << 20;

/// Sizes of the fixed parts.
pub const GREETING_LEN: usize = 18;
pub const OPTION_HEADER_LEN: usize = 16;
pub const OPTION_REPLY_HEADER_LEN: usize = 20;
pub const REQUEST_LEN: usize = 28;
pub const SIMPLE_REPLY_LEN: usize = 16;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NbdError {
    /// A magic number that is not the one the protocol has there.
    BadMagic { what: &'static str, got: u64 },
    /// A length over this side's bound.
    TooLong { what: &'static str, len: u64, max: u64 },
    /// Data shorter than its own fields say.
    Truncated(&'static str),
    /// The peer does not speak fixed newstyle.
    NotFixedNewstyle,
    /// An option reply for another option than the one asked.
    UnexpectedOption { asked: u32, got: u32 },
    /// The server refused an option (an `NBD_REP_ERR_*`), with its message.
    Refused { option: u32, kind: u32, message: String },
    /// The server never said how large the export is.
    NoExportInfo,
}

impl fmt::Display for NbdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NbdError::BadMagic { what, got } => write!(f, "bad {what} magic {got:#x}"),
            NbdError::TooLong { what, len, max } => {
                write!(f, "{what} of {len} bytes is over the {max} allowed")
            }
            NbdError::Truncated(what) => write!(f, "{what} is truncated"),
            NbdError::NotFixedNewstyle => f.write_str("the server does not offer fixed newstyle"),
            NbdError::UnexpectedOption { asked, got } => {
                write!(f, "a reply to option {got} where option {asked} was asked")
            }
            NbdError::Refused { option, kind, message } => {
                write!(f, "option {option} refused ({})", reply_name(*kind))?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            NbdError::NoExportInfo => f.write_str("the server sent no export size"),
        }
    }
}

impl core::error::Error for NbdError {}

fn truncated(what: &'static str) -> impl Fn(OutOfBounds) -> NbdError {
    move |_| NbdError::Truncated(what)
}

/// A reply type's protocol name.
pub fn reply_name(kind: u32) -> &'static str {
    match kind {
        REP_ACK => "NBD_REP_ACK",
        REP_SERVER => "NBD_REP_SERVER",
        REP_INFO => "NBD_REP_INFO",
        REP_ERR_UNSUP => "NBD_REP_ERR_UNSUP",
        REP_ERR_POLICY => "NBD_REP_ERR_POLICY",
        REP_ERR_INVALID => "NBD_REP_ERR_INVALID",
        0x8000_0004 => "NBD_REP_ERR_PLATFORM",
        0x8000_0005 => "NBD_REP_ERR_TLS_REQD",
        REP_ERR_UNKNOWN => "NBD_REP_ERR_UNKNOWN",
        0x8000_0007 => "NBD_REP_ERR_SHUTDOWN",
        0x8000_0008 => "NBD_REP_ERR_BLOCK_SIZE_REQD",
        0x8000_0009 => "NBD_REP_ERR_TOO_BIG",
        k if k & 0x8000_0000 != 0 => "an error",
        _ => "unknown",
    }
}

// ---- handshake ----

/// The server's greeting: fixed newstyle, no zeroes.
pub fn greeting() -> [u8; GREETING_LEN] {
    let mut g = [0u8; GREETING_LEN];
    g[..8].copy_from_slice(&NBDMAGIC.to_be_bytes());
    g[8..16].copy_from_slice(&IHAVEOPT.to_be_bytes());
    g[16..].copy_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    g
}

/// The handshake flags of a server's greeting; refused unless it offers fixed newstyle.
pub fn parse_greeting(g: &[u8; GREETING_LEN]) -> Result<u16, NbdError> {
    let magic = g.be64::<0>();
    if magic != NBDMAGIC {
        return Err(NbdError::BadMagic { what: "greeting", got: magic });
    }
    let opt = g.be64::<8>();
    if opt != IHAVEOPT {
        // An oldstyle server (size right after NBDMAGIC): not spoken here.
        return Err(NbdError::BadMagic { what: "newstyle", got: opt });
    }
    let flags = g.be16::<16>();
    if flags & FLAG_FIXED_NEWSTYLE == 0 {
        return Err(NbdError::NotFixedNewstyle);
    }
    Ok(flags)
}

/// The client flags a client answers a greeting with.
pub fn client_flags(server_flags: u16) -> u32 {
    let mut c = FLAG_C_FIXED_NEWSTYLE;
    if server_flags & FLAG_NO_ZEROES != 0 {
        c |= FLAG_C_NO_ZEROES;
    }
    c
}

/// An option's header, as the server reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionHeader {
    pub option: u32,
    pub len: u32,
}

/// An option header; its data length is bounded by [`MAX_OPTION_LEN`].
pub fn parse_option_header(h: &[u8; OPTION_HEADER_LEN]) -> Result<OptionHeader, NbdError> {
    let magic = h.be64::<0>();
    if magic != IHAVEOPT {
        return Err(NbdError::BadMagic { what: "option", got: magic });
    }
    let (option, len) = (h.be32::<8>(), h.be32::<12>());
    if len > MAX_OPTION_LEN {
        return Err(NbdError::TooLong {
            what: "option data",
            len: len.into(),
            max: MAX_OPTION_LEN.into(),
        });
    }
    Ok(OptionHeader { option, len })
}

/// An option with its data, as the client sends it.
pub fn encode_option(option: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(OPTION_HEADER_LEN + data.len());
    out.extend_from_slice(&IHAVEOPT.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// The data of `NBD_OPT_GO` / `NBD_OPT_INFO`: an export name and the information asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoRequest {
    pub name: Vec<u8>,
    pub info: Vec<u16>,
}

/// Parse `NBD_OPT_GO` / `NBD_OPT_INFO` data.
pub fn parse_go(data: &[u8]) -> Result<GoRequest, NbdError> {
    let t = truncated("NBD_OPT_GO data");
    let name_len = bytes::be32(data, 0).map_err(&t)? as usize;
    let name = bytes::slice(data, 4, name_len).map_err(&t)?.to_vec();
    let at = 4 + name_len;
    let n = bytes::be16(data, at).map_err(&t)? as usize;
    let mut info = Vec::new();
    for i in 0..n {
        info.push(bytes::be16(data, at + 2 + 2 * i).map_err(&t)?);
    }
    if data.len() != at + 2 + 2 * n {
        return Err(NbdError::Truncated("NBD_OPT_GO data (trailing bytes)"));
    }
    Ok(GoRequest { name, info })
}

/// `NBD_OPT_GO` data for export `name`, asking for block sizes too.
pub fn encode_go(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + name.len());
    out.extend_from_slice(&(name.len() as u32).to_be_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
    out
}

/// An option reply's header, as the client reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionReplyHeader {
    pub option: u32,
    pub kind: u32,
    pub len: u32,
}

/// An option reply header; its data length is bounded by [`MAX_OPTION_REPLY_LEN`].
pub fn parse_option_reply_header(
    h: &[u8; OPTION_REPLY_HEADER_LEN],
) -> Result<OptionReplyHeader, NbdError> {
    let magic = h.be64::<0>();
    if magic != OPTION_REPLY_MAGIC {
        return Err(NbdError::BadMagic { what: "option reply", got: magic });
    }
    let r = OptionReplyHeader { option: h.be32::<8>(), kind: h.be32::<12>(), len: h.be32::<16>() };
    if r.len > MAX_OPTION_REPLY_LEN {
        return Err(NbdError::TooLong {
            what: "option reply data",
            len: r.len.into(),
            max: MAX_OPTION_REPLY_LEN.into(),
        });
    }
    Ok(r)
}

/// An option reply, as the server sends it.
pub fn encode_option_reply(option: u32, kind: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(OPTION_REPLY_HEADER_LEN + data.len());
    out.extend_from_slice(&OPTION_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// An information item of an `NBD_REP_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Info {
    Export {
        size: u64,
        flags: u16,
    },
    BlockSize {
        min: u32,
        preferred: u32,
        max: u32,
    },
    /// An item this side does not use (name, description, ...).
    Other(u16),
}

/// Parse the data of an `NBD_REP_INFO`.
pub fn parse_info(data: &[u8]) -> Result<Info, NbdError> {
    let t = truncated("NBD_REP_INFO data");
    let kind = bytes::be16(data, 0).map_err(&t)?;
    let exact = |len: usize| {
        if data.len() == len {
            Ok(())
        } else {
            Err(NbdError::Truncated("NBD_REP_INFO data (wrong length)"))
        }
    };
    Ok(match kind {
        INFO_EXPORT => {
            exact(12)?;
            Info::Export {
                size: bytes::be64(data, 2).map_err(&t)?,
                flags: bytes::be16(data, 10).map_err(&t)?,
            }
        }
        INFO_BLOCK_SIZE => {
            exact(14)?;
            Info::BlockSize {
                min: bytes::be32(data, 2).map_err(&t)?,
                preferred: bytes::be32(data, 6).map_err(&t)?,
                max: bytes::be32(data, 10).map_err(&t)?,
            }
        }
        other => Info::Other(other),
    })
}

/// The data of an `NBD_REP_INFO` carrying `info` (not [`Info::Other`], which encodes as its
/// bare type).
pub fn encode_info(info: Info) -> Vec<u8> {
    let mut out = Vec::with_capacity(14);
    match info {
        Info::Export { size, flags } => {
            out.extend_from_slice(&INFO_EXPORT.to_be_bytes());
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(&flags.to_be_bytes());
        }
        Info::BlockSize { min, preferred, max } => {
            out.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
            out.extend_from_slice(&min.to_be_bytes());
            out.extend_from_slice(&preferred.to_be_bytes());
            out.extend_from_slice(&max.to_be_bytes());
        }
        Info::Other(kind) => out.extend_from_slice(&kind.to_be_bytes()),
    }
    out
}

/// What a client learnt from the replies to its `NBD_OPT_GO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportFacts {
    pub size: Option<u64>,
    pub flags: u16,
    pub block_size: Option<(u32, u32, u32)>,
}

/// One step of a client reading the replies to its `NBD_OPT_GO` (`asked`): `Ok(true)` once
/// `NBD_REP_ACK` ends them (transmission begins), `Ok(false)` to read the next reply.
pub fn take_go_reply(
    asked: u32,
    header: &OptionReplyHeader,
    data: &[u8],
    facts: &mut ExportFacts,
) -> Result<bool, NbdError> {
    if header.option != asked {
        return Err(NbdError::UnexpectedOption { asked, got: header.option });
    }
    match header.kind {
        REP_ACK => {
            if facts.size.is_none() {
                return Err(NbdError::NoExportInfo);
            }
            Ok(true)
        }
        REP_INFO => {
            match parse_info(data)? {
                Info::Export { size, flags } => {
                    facts.size = Some(size);
                    facts.flags = flags;
                }
                Info::BlockSize { min, preferred, max } => {
                    facts.block_size = Some((min, preferred, max))
                }
                Info::Other(_) => {}
            }
            Ok(false)
        }
        kind if kind & 0x8000_0000 != 0 => Err(NbdError::Refused {
            option: asked,
            kind,
            message: String::from_utf8_lossy(data).chars().take(200).collect(),
        }),
        // Unknown non-error replies are to be ignored.
        _ => Ok(false),
    }
}

// ---- transmission ----

/// A transmission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub command: u16,
    pub cookie: u64,
    pub offset: u64,
    pub len: u32,
}

pub fn parse_request(r: &[u8; REQUEST_LEN]) -> Result<Request, NbdError> {
    let magic = r.be32::<0>();
    if magic != REQUEST_MAGIC {
        return Err(NbdError::BadMagic { what: "request", got: magic.into() });
    }
    Ok(Request {
        flags: r.be16::<4>(),
        command: r.be16::<6>(),
        cookie: r.be64::<8>(),
        offset: r.be64::<16>(),
        len: r.be32::<24>(),
    })
}

pub fn encode_request(r: &Request) -> [u8; REQUEST_LEN] {
    let mut out = [0u8; REQUEST_LEN];
    out[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
    out[4..6].copy_from_slice(&r.flags.to_be_bytes());
    out[6..8].copy_from_slice(&r.command.to_be_bytes());
    out[8..16].copy_from_slice(&r.cookie.to_be_bytes());
    out[16..24].copy_from_slice(&r.offset.to_be_bytes());
    out[24..].copy_from_slice(&r.len.to_be_bytes());
    out
}

/// How a read-only server answers `r` on an export of `size` bytes: `Ok(())` for a read it
/// serves, or the error value for the reply.
pub fn check_read(r: &Request, size: u64) -> Result<(), u32> {
    match r.command {
        CMD_READ => {
            if r.len > MAX_READ_LEN {
                return Err(EINVAL);
            }
            match r.offset.checked_add(r.len.into()) {
                Some(end) if end <= size => Ok(()),
                _ => Err(EINVAL),
            }
        }
        CMD_WRITE => Err(EPERM),
        CMD_FLUSH => Ok(()),
        _ => Err(ENOTSUP),
    }
}

/// A simple reply's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleReply {
    pub error: u32,
    pub cookie: u64,
}

pub fn parse_simple_reply(r: &[u8; SIMPLE_REPLY_LEN]) -> Result<SimpleReply, NbdError> {
    let magic = r.be32::<0>();
    if magic != SIMPLE_REPLY_MAGIC {
        return Err(NbdError::BadMagic { what: "reply", got: magic.into() });
    }
    Ok(SimpleReply { error: r.be32::<4>(), cookie: r.be64::<8>() })
}

pub fn encode_simple_reply(error: u32, cookie: u64) -> [u8; SIMPLE_REPLY_LEN] {
    let mut out = [0u8; SIMPLE_REPLY_LEN];
    out[..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    out[4..8].copy_from_slice(&error.to_be_bytes());
    out[8..].copy_from_slice(&cookie.to_be_bytes());
    out
}

#[cfg(test)]
mod tests;
