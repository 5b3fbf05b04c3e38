//! DHCPv4 messages (RFC 2131 / 2132) with the PXE (RFC 4578) and iPXE options.
//!
//! Layout of the fixed BOOTP header:
//!
//! | offset | size | field                         |
//! |--------|------|-------------------------------|
//! | 0      | 1    | op (1 request, 2 reply)       |
//! | 1      | 1    | htype (1 Ethernet)            |
//! | 2      | 1    | hlen (6)                      |
//! | 3      | 1    | hops                          |
//! | 4      | 4    | xid                           |
//! | 8      | 2    | secs                          |
//! | 10     | 2    | flags (0x8000 broadcast)      |
//! | 12     | 4    | ciaddr                        |
//! | 16     | 4    | yiaddr                        |
//! | 20     | 4    | siaddr (next server)          |
//! | 24     | 4    | giaddr                        |
//! | 28     | 16   | chaddr                        |
//! | 44     | 64   | sname                         |
//! | 108    | 128  | file                          |
//! | 236    | 4    | magic cookie 99.130.83.99     |
//! | 240    | ...  | options (code, length, value) |
//!
//! Options keep their order of first appearance; an option that occurs several times is the
//! concatenation of its parts (RFC 3396), and one longer than 255 bytes is split again when
//! encoded. Option overload (52) is not honoured: `sname` and `file` are kept as raw bytes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::bytes::{self, Fields, OutOfBounds};

/// Size of the fixed header up to and including the magic cookie.
pub const HEADER_LEN: usize = 240;
/// The magic cookie that starts the options.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Largest datagram polyboot accepts or sends (an Ethernet frame's worth).
pub const MAX_MESSAGE_LEN: usize = 1500;
/// The broadcast bit of `flags`.
pub const FLAG_BROADCAST: u16 = 0x8000;

pub const OP_REQUEST: u8 = 1;
pub const OP_REPLY: u8 = 2;

/// Option codes polyboot reads or writes.
pub mod opt {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const VENDOR_SPECIFIC: u8 = 43;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_LIST: u8 = 55;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const TFTP_SERVER: u8 = 66;
    pub const BOOTFILE: u8 = 67;
    pub const USER_CLASS: u8 = 77;
    pub const CLIENT_ARCH: u8 = 93;
    pub const CLIENT_NDI: u8 = 94;
    pub const CLIENT_UUID: u8 = 97;
    pub const IPXE_ENCAP: u8 = 175;
    pub const END: u8 = 255;
}

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
    Other(u8),
}

impl MessageType {
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            v => Self::Other(v),
        }
    }
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Discover => 1,
            Self::Offer => 2,
            Self::Request => 3,
            Self::Decline => 4,
            Self::Ack => 5,
            Self::Nak => 6,
            Self::Release => 7,
            Self::Inform => 8,
            Self::Other(v) => v,
        }
    }
}

/// Client system architecture (option 93, RFC 4578 and the IANA registry), as far as the
/// first stage polyboot hands out depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientArch {
    /// 0: x86 BIOS.
    Bios,
    /// 7 or 9: x64 UEFI (PXE over TFTP).
    UefiX64,
    /// 16: x64 UEFI HTTP Boot (the boot file is a URL).
    UefiX64Http,
    /// Anything else (ARM, IA32 UEFI, ...): not served in this version.
    Other(u16),
}

impl ClientArch {
    pub fn from_u16(v: u16) -> Self {
        match v {
            0 => Self::Bios,
            7 | 9 => Self::UefiX64,
            16 => Self::UefiX64Http,
            v => Self::Other(v),
        }
    }
    /// Short name for logs and JSON events.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bios => "bios",
            Self::UefiX64 => "uefi-x64",
            Self::UefiX64Http => "uefi-x64-http",
            Self::Other(_) => "other",
        }
    }
}

/// Why a datagram is not a DHCP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpError {
    /// Shorter than the fixed header.
    TooShort { len: usize },
    /// Longer than [`MAX_MESSAGE_LEN`].
    TooLong { len: usize },
    /// The magic cookie is missing.
    BadCookie,
    /// `op` is neither request nor reply.
    BadOp(u8),
    /// An option's length runs past the end of the datagram.
    Truncated { code: u8 },
}

impl fmt::Display for DhcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => {
                write!(f, "DHCP message of {len} bytes is shorter than its header")
            }
            Self::TooLong { len } => write!(f, "DHCP message of {len} bytes is too long"),
            Self::BadCookie => f.write_str("DHCP magic cookie missing"),
            Self::BadOp(op) => write!(f, "BOOTP op {op} is neither request nor reply"),
            Self::Truncated { code } => {
                write!(f, "DHCP option {code} runs past the end of the message")
            }
        }
    }
}

impl core::error::Error for DhcpError {}

impl From<OutOfBounds> for DhcpError {
    fn from(_: OutOfBounds) -> Self {
        Self::TooShort { len: 0 }
    }
}

/// A DHCPv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpMessage {
    pub op: u8,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: [u8; 4],
    pub yiaddr: [u8; 4],
    pub siaddr: [u8; 4],
    pub giaddr: [u8; 4],
    pub chaddr: [u8; 16],
    pub sname: [u8; 64],
    pub file: [u8; 128],
    /// Options in order of first appearance, each code once, pad and end left out.
    pub options: Vec<(u8, Vec<u8>)>,
}

impl DhcpMessage {
    /// An empty message: Ethernet, no addresses, no options.
    pub fn new(op: u8, xid: u32) -> Self {
        Self {
            op,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid,
            secs: 0,
            flags: 0,
            ciaddr: [0; 4],
            yiaddr: [0; 4],
            siaddr: [0; 4],
            giaddr: [0; 4],
            chaddr: [0; 16],
            sname: [0; 64],
            file: [0; 128],
            options: Vec::new(),
        }
    }

    /// Decode a datagram.
    pub fn decode(b: &[u8]) -> Result<Self, DhcpError> {
        if b.len() < HEADER_LEN {
            return Err(DhcpError::TooShort { len: b.len() });
        }
        if b.len() > MAX_MESSAGE_LEN {
            return Err(DhcpError::TooLong { len: b.len() });
        }
        let h = bytes::chunk::<HEADER_LEN>(b, 0)?;
        if h.bytes_at::<236, 4>() != MAGIC_COOKIE {
            return Err(DhcpError::BadCookie);
        }
        let op = h.bytes_at::<0, 1>()[0];
        if op != OP_REQUEST && op != OP_REPLY {
            return Err(DhcpError::BadOp(op));
        }
        let mut m = Self {
            op,
            htype: h.bytes_at::<1, 1>()[0],
            hlen: h.bytes_at::<2, 1>()[0],
            hops: h.bytes_at::<3, 1>()[0],
            xid: h.be32::<4>(),
            secs: h.be16::<8>(),
            flags: h.be16::<10>(),
            ciaddr: h.bytes_at::<12, 4>(),
            yiaddr: h.bytes_at::<16, 4>(),
            siaddr: h.bytes_at::<20, 4>(),
            giaddr: h.bytes_at::<24, 4>(),
            chaddr: h.bytes_at::<28, 16>(),
            sname: h.bytes_at::<44, 64>(),
            file: h.bytes_at::<108, 128>(),
            options: Vec::new(),
        };
        let mut at = HEADER_LEN;
        while at < b.len() {
            let code = bytes::u8_at(b, at)?;
            at += 1;
            match code {
                opt::PAD => continue,
                opt::END => break,
                _ => {}
            }
            let len = bytes::u8_at(b, at).map_err(|_| DhcpError::Truncated { code })? as usize;
            at += 1;
            let value = bytes::slice(b, at, len).map_err(|_| DhcpError::Truncated { code })?;
            at += len;
            m.append_option(code, value);
        }
        Ok(m)
    }

    /// Encode as a datagram (at least 300 bytes, the BOOTP minimum some clients insist on).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(576);
        out.push(self.op);
        out.push(self.htype);
        out.push(self.hlen);
        out.push(self.hops);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.ciaddr);
        out.extend_from_slice(&self.yiaddr);
        out.extend_from_slice(&self.siaddr);
        out.extend_from_slice(&self.giaddr);
        out.extend_from_slice(&self.chaddr);
        out.extend_from_slice(&self.sname);
        out.extend_from_slice(&self.file);
        out.extend_from_slice(&MAGIC_COOKIE);
        for (code, value) in &self.options {
            if *code == opt::PAD || *code == opt::END {
                continue;
            }
            if value.is_empty() {
                out.push(*code);
                out.push(0);
            }
            for part in value.chunks(255) {
                out.push(*code);
                out.push(part.len() as u8);
                out.extend_from_slice(part);
            }
        }
        out.push(opt::END);
        if out.len() < 300 {
            out.resize(300, 0);
        }
        out
    }

    /// Length of the encoded message, for bounds checks before sending.
    pub fn encoded_len(&self) -> usize {
        let opts: usize = self
            .options
            .iter()
            .filter(|(c, _)| *c != opt::PAD && *c != opt::END)
            .map(|(_, v)| v.len() + 2 * v.len().div_ceil(255).max(1))
            .sum();
        (HEADER_LEN + opts + 1).max(300)
    }

    /// The value of an option, if present.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options.iter().find(|(c, _)| *c == code).map(|(_, v)| v.as_slice())
    }

    /// Set an option, replacing any earlier value (its position is kept).
    pub fn set_option(&mut self, code: u8, value: &[u8]) {
        if let Some((_, v)) = self.options.iter_mut().find(|(c, _)| *c == code) {
            *v = value.to_vec();
        } else {
            self.options.push((code, value.to_vec()));
        }
    }

    /// Append to an option (RFC 3396 concatenation), adding it if absent.
    fn append_option(&mut self, code: u8, value: &[u8]) {
        if let Some((_, v)) = self.options.iter_mut().find(|(c, _)| *c == code) {
            v.extend_from_slice(value);
        } else {
            self.options.push((code, value.to_vec()));
        }
    }

    /// Option 53.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.option(opt::MESSAGE_TYPE)? {
            [v] => Some(MessageType::from_u8(*v)),
            _ => None,
        }
    }

    /// The client's hardware address, when it is Ethernet (htype 1, hlen 6).
    pub fn mac(&self) -> Option<[u8; 6]> {
        if self.htype != 1 || self.hlen != 6 {
            return None;
        }
        bytes::array::<6>(&self.chaddr, 0).ok()
    }

    /// Option 54, the server identifier.
    pub fn server_id(&self) -> Option<[u8; 4]> {
        ipv4(self.option(opt::SERVER_ID)?)
    }

    /// Option 50, the address a client asks for.
    pub fn requested_ip(&self) -> Option<[u8; 4]> {
        ipv4(self.option(opt::REQUESTED_IP)?)
    }

    /// Option 60.
    pub fn vendor_class(&self) -> Option<&[u8]> {
        self.option(opt::VENDOR_CLASS)
    }

    /// Whether the vendor class says PXE ("PXEClient", usually followed by ":Arch:...").
    pub fn is_pxe_client(&self) -> bool {
        self.vendor_class().is_some_and(|v| v.starts_with(b"PXEClient"))
    }

    /// Whether the vendor class says UEFI HTTP Boot ("HTTPClient:Arch:00016:...").
    pub fn is_http_client(&self) -> bool {
        self.vendor_class().is_some_and(|v| v.starts_with(b"HTTPClient"))
    }

    /// Option 93: the first architecture the client lists.
    pub fn client_arch(&self) -> Option<ClientArch> {
        let v = self.option(opt::CLIENT_ARCH)?;
        bytes::be16(v, 0).ok().map(ClientArch::from_u16)
    }

    /// Option 97: the client machine identifier (type 0 followed by a 16-byte GUID).
    pub fn client_uuid(&self) -> Option<[u8; 16]> {
        match self.option(opt::CLIENT_UUID)? {
            [0, rest @ ..] => bytes::array::<16>(rest, 0).ok().filter(|_| rest.len() == 16),
            _ => None,
        }
    }

    /// Whether option 77 names `class`: either the whole value (as iPXE sends "iPXE") or one
    /// of its RFC 3004 length-prefixed items.
    pub fn has_user_class(&self, class: &[u8]) -> bool {
        let Some(v) = self.option(opt::USER_CLASS) else {
            return false;
        };
        if v == class {
            return true;
        }
        let mut at = 0;
        while at < v.len() {
            let Ok(len) = bytes::u8_at(v, at) else { return false };
            let Ok(item) = bytes::slice(v, at + 1, len as usize) else {
                return false;
            };
            if item == class {
                return true;
            }
            at += 1 + len as usize;
        }
        false
    }

    /// The boot file name: option 67 when present, else the `file` field, up to its first NUL.
    pub fn bootfile(&self) -> Option<String> {
        let raw = match self.option(opt::BOOTFILE) {
            Some(v) => v,
            None => &self.file[..],
        };
        let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
        let s = core::str::from_utf8(raw.get(..end)?).ok()?;
        (!s.is_empty()).then(|| String::from(s))
    }

    /// Put `name` in the `file` field (when it fits) and in option 67.
    pub fn set_bootfile(&mut self, name: &str) {
        self.file = [0; 128];
        if name.len() < self.file.len() {
            self.file[..name.len()].copy_from_slice(name.as_bytes());
        }
        self.set_option(opt::BOOTFILE, name.as_bytes());
    }

    /// Put `name` (a TFTP server name or address) in the `sname` field and option 66.
    pub fn set_tftp_server(&mut self, name: &str) {
        self.sname = [0; 64];
        if name.len() < self.sname.len() {
            self.sname[..name.len()].copy_from_slice(name.as_bytes());
        }
        self.set_option(opt::TFTP_SERVER, name.as_bytes());
    }

    /// A reply to `request` of the given type, from `server`: same xid, flags, giaddr and
    /// chaddr; option 53 and 54 set. For PXE clients it also echoes option 60 "PXEClient" and
    /// the client UUID (97), which PXE ROMs expect back.
    pub fn reply_to(request: &Self, kind: MessageType, server: [u8; 4]) -> Self {
        let mut r = Self::new(OP_REPLY, request.xid);
        r.htype = request.htype;
        r.hlen = request.hlen;
        r.flags = request.flags;
        r.giaddr = request.giaddr;
        r.chaddr = request.chaddr;
        r.siaddr = server;
        r.set_option(opt::MESSAGE_TYPE, &[kind.to_u8()]);
        r.set_option(opt::SERVER_ID, &server);
        if request.is_pxe_client() {
            r.set_option(opt::VENDOR_CLASS, b"PXEClient");
            if let Some(uuid) = request.option(opt::CLIENT_UUID) {
                r.set_option(opt::CLIENT_UUID, uuid);
            }
        }
        r
    }
}

/// PXE vendor options (option 43) telling a PXE ROM to skip boot server discovery and boot
/// the file named in the offer (PXE_DISCOVERY_CONTROL, sub-option 6, = 8).
pub fn pxe_vendor_options_boot_file_directly() -> Vec<u8> {
    alloc::vec![6, 1, 8, 255]
}

/// A 4-byte option value as an IPv4 address.
fn ipv4(v: &[u8]) -> Option<[u8; 4]> {
    match v {
        [a, b, c, d] => Some([*a, *b, *c, *d]),
        _ => None,
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    /// A DHCPDISCOVER as OVMF's PXE driver sends it (options 53, 57, 55, 93, 94, 97, 60).
    fn ovmf_discover() -> Vec<u8> {
        let mut m = DhcpMessage::new(OP_REQUEST, 0x1234_5678);
        m.flags = FLAG_BROADCAST;
        m.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        m.set_option(opt::MESSAGE_TYPE, &[1]);
        m.set_option(opt::MAX_MESSAGE_SIZE, &[5, 0xc0]);
        m.set_option(opt::PARAMETER_LIST, &[1, 3, 6, 43, 60, 66, 67, 97]);
        m.set_option(opt::CLIENT_ARCH, &[0, 7]);
        m.set_option(opt::CLIENT_NDI, &[1, 3, 0]);
        let mut uuid = vec![0u8];
        uuid.extend_from_slice(&[0xab; 16]);
        m.set_option(opt::CLIENT_UUID, &uuid);
        m.set_option(opt::VENDOR_CLASS, b"PXEClient:Arch:00007:UNDI:003000");
        m.encode()
    }

    #[test]
    fn decodes_a_pxe_discover() {
        let m = DhcpMessage::decode(&ovmf_discover()).unwrap();
        assert_eq!(m.message_type(), Some(MessageType::Discover));
        assert_eq!(m.mac(), Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        assert_eq!(format_mac(&m.mac().unwrap()), "52:54:00:12:34:56");
        assert!(m.is_pxe_client());
        assert_eq!(m.client_arch(), Some(ClientArch::UefiX64));
        assert_eq!(m.client_uuid(), Some([0xab; 16]));
        assert!(!m.has_user_class(b"iPXE"));
        assert!(!m.is_http_client());
        assert_eq!(m.bootfile(), None);
        assert_eq!(m.xid, 0x1234_5678);
        assert_eq!(m.flags, FLAG_BROADCAST);
    }

    #[test]
    fn arch_values() {
        assert_eq!(ClientArch::from_u16(0), ClientArch::Bios);
        assert_eq!(ClientArch::from_u16(9), ClientArch::UefiX64);
        assert_eq!(ClientArch::from_u16(16), ClientArch::UefiX64Http);
        assert_eq!(ClientArch::from_u16(11), ClientArch::Other(11));
    }

    #[test]
    fn user_class_raw_and_rfc3004() {
        let mut m = DhcpMessage::new(OP_REQUEST, 1);
        m.set_option(opt::USER_CLASS, b"iPXE");
        assert!(m.has_user_class(b"iPXE"));
        m.set_option(opt::USER_CLASS, b"\x03abc\x04iPXE");
        assert!(m.has_user_class(b"iPXE"));
        assert!(m.has_user_class(b"abc"));
        // An item whose length runs past the end: no match, no panic.
        m.set_option(opt::USER_CLASS, b"\x09iPXE");
        assert!(!m.has_user_class(b"iPXE"));
    }

    #[test]
    fn reply_round_trips_and_splits_long_options() {
        let req = DhcpMessage::decode(&ovmf_discover()).unwrap();
        let mut r = DhcpMessage::reply_to(&req, MessageType::Offer, [192, 0, 2, 1]);
        r.yiaddr = [192, 0, 2, 100];
        r.set_option(opt::SUBNET_MASK, &[255, 255, 255, 0]);
        r.set_option(opt::VENDOR_SPECIFIC, &pxe_vendor_options_boot_file_directly());
        r.set_tftp_server("192.0.2.1");
        r.set_bootfile("ipxe.efi");
        let long = vec![b'x'; 600];
        r.set_option(opt::HOST_NAME, &long);
        let bytes = r.encode();
        assert_eq!(bytes.len(), r.encoded_len());
        let back = DhcpMessage::decode(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.message_type(), Some(MessageType::Offer));
        assert_eq!(back.server_id(), Some([192, 0, 2, 1]));
        assert_eq!(back.bootfile().as_deref(), Some("ipxe.efi"));
        assert_eq!(back.option(opt::VENDOR_CLASS), Some(&b"PXEClient"[..]));
        assert_eq!(back.option(opt::CLIENT_UUID), req.option(opt::CLIENT_UUID));
        assert_eq!(back.option(opt::HOST_NAME).unwrap().len(), 600);
        assert_eq!(back.xid, req.xid);
        assert_eq!(back.chaddr, req.chaddr);
    }

    #[test]
    fn bootfile_from_file_field_and_bad_utf8() {
        let mut m = DhcpMessage::new(OP_REPLY, 1);
        m.file[..8].copy_from_slice(b"boot.pxe");
        assert_eq!(m.bootfile().as_deref(), Some("boot.pxe"));
        m.set_option(opt::BOOTFILE, &[0xff, 0xfe]);
        assert_eq!(m.bootfile(), None);
        // A name too long for `file` is only in option 67.
        let long = "http://192.0.2.1:8080/".to_string() + &"a".repeat(200);
        m.set_bootfile(&long);
        assert_eq!(m.file, [0; 128]);
        assert_eq!(m.bootfile().as_deref(), Some(long.as_str()));
    }

    #[test]
    fn rejects_hostile_datagrams() {
        assert_eq!(DhcpMessage::decode(&[1; 10]), Err(DhcpError::TooShort { len: 10 }));
        assert_eq!(DhcpMessage::decode(&vec![0; 2000]), Err(DhcpError::TooLong { len: 2000 }));
        let mut b = ovmf_discover();
        b[236] = 0;
        assert_eq!(DhcpMessage::decode(&b), Err(DhcpError::BadCookie));
        let mut b = ovmf_discover();
        b[0] = 9;
        assert_eq!(DhcpMessage::decode(&b), Err(DhcpError::BadOp(9)));
        // An option whose length runs past the end.
        let mut b = ovmf_discover()[..HEADER_LEN].to_vec();
        b.extend_from_slice(&[opt::VENDOR_CLASS, 40, b'P']);
        assert_eq!(DhcpMessage::decode(&b), Err(DhcpError::Truncated { code: 60 }));
        // A code with no length byte.
        let mut b = ovmf_discover()[..HEADER_LEN].to_vec();
        b.push(opt::VENDOR_CLASS);
        assert_eq!(DhcpMessage::decode(&b), Err(DhcpError::Truncated { code: 60 }));
        // No end option, only pads: fine.
        let mut b = ovmf_discover()[..HEADER_LEN].to_vec();
        b.extend_from_slice(&[0, 0, 0]);
        assert!(DhcpMessage::decode(&b).unwrap().options.is_empty());
        // Malformed typed options read as absent.
        let mut m = DhcpMessage::new(OP_REQUEST, 1);
        m.set_option(opt::MESSAGE_TYPE, &[1, 2]);
        m.set_option(opt::CLIENT_ARCH, &[7]);
        m.set_option(opt::CLIENT_UUID, &[0, 1, 2]);
        m.set_option(opt::SERVER_ID, &[1, 2, 3]);
        assert_eq!(m.message_type(), None);
        assert_eq!(m.client_arch(), None);
        assert_eq!(m.client_uuid(), None);
        assert_eq!(m.server_id(), None);
        m.htype = 6;
        assert_eq!(m.mac(), None);
    }

    #[test]
    fn repeated_options_concatenate() {
        let mut b = ovmf_discover()[..HEADER_LEN].to_vec();
        b.extend_from_slice(&[67, 3, b'a', b'b', b'c', 53, 1, 3, 67, 2, b'd', b'e', 255]);
        let m = DhcpMessage::decode(&b).unwrap();
        assert_eq!(m.bootfile().as_deref(), Some("abcde"));
        assert_eq!(m.message_type(), Some(MessageType::Request));
        assert_eq!(m.options[0].0, 67);
    }
}
