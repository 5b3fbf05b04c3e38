//! The WinPE jump program's carrier: what the boot manager appends to `polyboot-winpe.exe`
//! before serving it in a virtual `boot.wim` as `Windows\System32\winpeshl.exe`.
//!
//! When a Windows installer ISO boots from polyboot's virtual CD, Windows' own drivers take
//! over and the virtual CD is gone, so Setup cannot find `install.wim`. The jump program runs
//! in its place as WinPE's shell: it reads its own file, finds the polyboot data partition
//! (GPT disk GUID or MBR signature + partition byte offset), attaches the ISO file as a
//! virtual CD (Windows' virtual disk API), applies the options below, then writes the original
//! shell out and runs it. Whatever fails, the original shell still runs.
//!
//! A carrier file is
//!
//! ```text
//! [jump program (a PE file)][original shell (a PE file)][parameter block][trailer: 40 bytes]
//! ```
//!
//! All integers little-endian. The **trailer** (the last 40 bytes of the file):
//!
//! | offset | size | field                                                              |
//! |--------|------|--------------------------------------------------------------------|
//! | 0      | 8    | magic `PBWPEJMP`                                                   |
//! | 8      | 2    | version (1)                                                        |
//! | 10     | 2    | trailer length (40)                                                |
//! | 12     | 4    | trailer flags: bit 0 = no UI (no message boxes); others 0          |
//! | 16     | 8    | jump program length (= offset of the original shell in the file)   |
//! | 24     | 4    | original shell length (≥ 2, starts with `MZ`)                      |
//! | 28     | 4    | parameter block length (≤ [`MAX_PARAMS_LEN`])                      |
//! | 32     | 4    | CRC-32 of the original shell                                       |
//! | 36     | 4    | CRC-32 of trailer bytes 0..36                                      |
//!
//! The four parts add up to the file length exactly. The "no UI" flag lives in the trailer
//! so that it still holds when the parameter block is unreadable.
//!
//! The **parameter block** (version 1):
//!
//! | offset | size | field                                                              |
//! |--------|------|--------------------------------------------------------------------|
//! | 0      | 8    | magic `PBWPEPRM`                                                   |
//! | 8      | 1    | version (1)                                                        |
//! | 9      | 1    | identity kind: 0 = none (test mode only), 1 = GPT disk GUID, 2 = MBR signature |
//! | 10     | 2    | header length (64)                                                 |
//! | 12     | 4    | block length (header + strings + unattend)                         |
//! | 16     | 4    | CRC-32 of the whole block with this field zero                     |
//! | 20     | 4    | flags, see [`Flags`]; unknown bits are refused                     |
//! | 24     | 16   | GPT disk GUID (on-disk bytes), or MBR signature in bytes 0..4, rest 0 |
//! | 40     | 8    | byte offset of the data partition on the disk                      |
//! | 48     | 2    | length of the ISO path                                             |
//! | 50     | 2    | length of the log path                                             |
//! | 52     | 2    | length of the original shell's output path                         |
//! | 54     | 2    | length of the unattend output path                                 |
//! | 56     | 4    | length of the unattend file contents                               |
//! | 60     | 4    | seconds to wait for the data partition and the CD's drive letter   |
//! | 64     | …    | the four paths (UTF-8, no terminator, in that order), then the unattend bytes |
//!
//! Paths are Windows paths. The ISO path is relative to the data partition's root
//! (`\ISO\Win11.iso`); in test mode it is a complete path used as it is. An empty log,
//! shell or unattend output path means the default: `%SystemDrive%\polyboot.log`,
//! `winpeshl-polyboot.exe` beside the jump program, `%SystemDrive%\autounattend.xml`
//! (WinPE's `%SystemDrive%` is `X:`). No unattend contents: no unattend file is written.
//! Each path is at most [`MAX_PATH_LEN`] bytes, has no NUL, and the ISO path is not empty.

use crate::bytes::{self, Fields};
use crate::crc32::crc32;
use crate::guid::Guid;
use crate::handoff::DriveIdentity;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub const TRAILER_MAGIC: [u8; 8] = *b"PBWPEJMP";
pub const TRAILER_VERSION: u16 = 1;
pub const TRAILER_LEN: usize = 40;
/// Trailer flag: never show a message box (tests, unattended runs).
pub const TRAILER_NO_UI: u32 = 1;

pub const PARAMS_MAGIC: [u8; 8] = *b"PBWPEPRM";
pub const PARAMS_VERSION: u8 = 1;
pub const PARAMS_HEADER_LEN: usize = 64;
/// The largest parameter block accepted (an unattend file is a few tens of KiB).
pub const MAX_PARAMS_LEN: u32 = 1 << 20;
/// The longest path accepted, in bytes of UTF-8.
pub const MAX_PATH_LEN: usize = 1024;
/// The longest wait accepted, in seconds.
pub const MAX_WAIT_SECONDS: u32 = 3600;

/// Option bits of the parameter block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(pub u32);

impl Flags {
    /// The ISO path is a complete Windows path and is used as it is: no partition search, no
    /// virtual disk (the program's test stand-ins replace both).
    pub const TEST_MODE: u32 = 1 << 0;
    /// Set `HKLM\SYSTEM\Setup\LabConfig` `BypassTPMCheck`, `BypassSecureBootCheck`,
    /// `BypassRAMCheck`, `BypassStorageCheck`, `BypassCPUCheck` = 1 (Windows 11 requirements).
    pub const BYPASS_REQUIREMENTS: u32 = 1 << 1;
    /// Set `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\OOBE` `BypassNRO` = 1.
    pub const BYPASS_NRO: u32 = 1 << 2;
    /// Every bit version 1 defines.
    pub const KNOWN: u32 = Self::TEST_MODE | Self::BYPASS_REQUIREMENTS | Self::BYPASS_NRO;

    pub fn test_mode(self) -> bool {
        self.0 & Self::TEST_MODE != 0
    }
    pub fn bypass_requirements(self) -> bool {
        self.0 & Self::BYPASS_REQUIREMENTS != 0
    }
    pub fn bypass_nro(self) -> bool {
        self.0 & Self::BYPASS_NRO != 0
    }
}

/// What the jump program is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub flags: Flags,
    /// The drive holding the data partition; `None` only in test mode.
    pub identity: Option<DriveIdentity>,
    /// Byte offset of the data partition on that drive.
    pub partition_offset: u64,
    /// The ISO file, relative to the data partition's root (`\ISO\Win11.iso`).
    pub iso_path: String,
    /// Where to log (empty: `%SystemDrive%\polyboot.log`).
    pub log_path: String,
    /// Where to write the original shell (empty: `winpeshl-polyboot.exe` beside the program).
    pub shell_path: String,
    /// Where to write the unattend file (empty: `%SystemDrive%\autounattend.xml`).
    pub unattend_path: String,
    /// The unattend file's contents; empty: none is written.
    pub unattend: Vec<u8>,
    /// How long to wait for the data partition and for the CD's drive letter.
    pub wait_seconds: u32,
}

/// Why a carrier or a parameter block was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JumpError {
    /// Fewer bytes than the structure needs.
    Truncated {
        need: u64,
        have: u64,
    },
    /// No trailer magic at the end of the file: not a carrier (a bare jump program, say).
    NoTrailer,
    UnsupportedTrailerVersion(u16),
    BadTrailerLength(u16),
    TrailerCrcMismatch {
        stored: u32,
        computed: u32,
    },
    UnknownTrailerFlags(u32),
    /// The program, shell, block and trailer lengths do not add up to the file length.
    LengthsDisagree {
        sum: u128,
        file: u64,
    },
    /// The original shell is not a PE file (no `MZ`).
    ShellNotAnExe,
    ShellCrcMismatch {
        stored: u32,
        computed: u32,
    },
    BadParamsMagic,
    UnsupportedParamsVersion(u8),
    BadParamsHeaderLength(u16),
    /// The block length field disagrees with the bytes given, or exceeds the limit.
    BadParamsLength(u32),
    ParamsCrcMismatch {
        stored: u32,
        computed: u32,
    },
    UnknownFlags(u32),
    UnknownIdentityKind(u8),
    /// Identity kind 0 outside test mode.
    NoIdentity,
    /// Bytes of an unused identity field, or a reserved field, are not zero.
    NonZeroReserved,
    /// A path is too long, not UTF-8, contains NUL, or (the ISO path) is empty.
    BadPath {
        which: &'static str,
        why: &'static str,
    },
    BadWait(u32),
    /// The lengths in the header do not add up to the block length.
    ParamsLengthsDisagree {
        sum: u64,
        block: u32,
    },
}

impl fmt::Display for JumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use JumpError::*;
        match self {
            Truncated { need, have } => write!(f, "truncated: need {need} bytes, have {have}"),
            NoTrailer => f.write_str("no polyboot trailer at the end of the program file"),
            UnsupportedTrailerVersion(v) => write!(
                f,
                "trailer version {v} is not supported (this build reads {TRAILER_VERSION})"
            ),
            BadTrailerLength(l) => write!(f, "trailer length {l} is not {TRAILER_LEN}"),
            TrailerCrcMismatch { stored, computed } => {
                write!(f, "trailer CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            UnknownTrailerFlags(x) => write!(f, "unknown trailer flags {x:#x}"),
            LengthsDisagree { sum, file } => write!(
                f,
                "program + shell + parameters + trailer = {sum} bytes, but the file has {file}"
            ),
            ShellNotAnExe => f.write_str("the original shell is not a Windows program (no MZ)"),
            ShellCrcMismatch { stored, computed } => write!(
                f,
                "original shell CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            BadParamsMagic => f.write_str("not a parameter block (bad magic)"),
            UnsupportedParamsVersion(v) => write!(
                f,
                "parameter block version {v} is not supported (this build reads {PARAMS_VERSION})"
            ),
            BadParamsHeaderLength(l) => write!(f, "parameter block header length {l} is invalid"),
            BadParamsLength(l) => write!(f, "parameter block length {l} is invalid"),
            ParamsCrcMismatch { stored, computed } => write!(
                f,
                "parameter block CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            UnknownFlags(x) => write!(f, "unknown parameter flags {x:#x}"),
            UnknownIdentityKind(k) => write!(f, "unknown drive identity kind {k}"),
            NoIdentity => f.write_str("no drive identity (allowed in test mode only)"),
            NonZeroReserved => f.write_str("a reserved or unused field is not zero"),
            BadPath { which, why } => write!(f, "{which} path: {why}"),
            BadWait(s) => write!(f, "wait of {s} s is more than the limit of {MAX_WAIT_SECONDS}"),
            ParamsLengthsDisagree { sum, block } => {
                write!(f, "header + paths + unattend = {sum} bytes, but the block has {block}")
            }
        }
    }
}

impl core::error::Error for JumpError {}

impl From<bytes::OutOfBounds> for JumpError {
    fn from(_: bytes::OutOfBounds) -> JumpError {
        // Every read below is preceded by a length check; this is the belt to those braces.
        JumpError::Truncated { need: 0, have: 0 }
    }
}

const PATH_NAMES: [&str; 4] = ["ISO", "log", "shell output", "unattend output"];

fn check_path(which: &'static str, s: &str, may_be_empty: bool) -> Result<(), JumpError> {
    let bad = |why| Err(JumpError::BadPath { which, why });
    if s.len() > MAX_PATH_LEN {
        return bad("longer than 1024 bytes");
    }
    if s.contains('\0') {
        return bad("contains NUL");
    }
    if s.is_empty() && !may_be_empty {
        return bad("empty");
    }
    Ok(())
}

impl Params {
    /// Check the rules of the module documentation. `decode` runs this; `encode` expects it.
    pub fn validate(&self) -> Result<(), JumpError> {
        if self.flags.0 & !Flags::KNOWN != 0 {
            return Err(JumpError::UnknownFlags(self.flags.0 & !Flags::KNOWN));
        }
        if self.identity.is_none() && !self.flags.test_mode() {
            return Err(JumpError::NoIdentity);
        }
        for (i, p) in self.paths().iter().enumerate() {
            check_path(PATH_NAMES[i], p, i != 0)?;
        }
        if self.wait_seconds > MAX_WAIT_SECONDS {
            return Err(JumpError::BadWait(self.wait_seconds));
        }
        let len = self.encoded_len();
        if len > MAX_PARAMS_LEN as u64 {
            return Err(JumpError::BadParamsLength(len.min(u32::MAX as u64) as u32));
        }
        Ok(())
    }

    fn paths(&self) -> [&str; 4] {
        [&self.iso_path, &self.log_path, &self.shell_path, &self.unattend_path]
    }

    fn encoded_len(&self) -> u64 {
        PARAMS_HEADER_LEN as u64
            + self.paths().iter().map(|p| p.len() as u64).sum::<u64>()
            + self.unattend.len() as u64
    }

    /// Encode as a version 1 block. Panics if [`validate`](Self::validate) fails: encoders
    /// hold values they built themselves.
    pub fn encode(&self) -> Vec<u8> {
        if let Err(e) = self.validate() {
            panic!("encoding invalid WinPE jump parameters: {e}");
        }
        let total = self.encoded_len() as usize;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&PARAMS_MAGIC);
        out.push(PARAMS_VERSION);
        let (kind, id) = match self.identity {
            None => (0u8, [0u8; 16]),
            Some(DriveIdentity::Gpt(g)) => (1, g.0),
            Some(DriveIdentity::Mbr(sig)) => {
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&sig.to_le_bytes());
                (2, id)
            }
        };
        out.push(kind);
        out.extend_from_slice(&(PARAMS_HEADER_LEN as u16).to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]); // CRC, below
        out.extend_from_slice(&self.flags.0.to_le_bytes());
        out.extend_from_slice(&id);
        out.extend_from_slice(&self.partition_offset.to_le_bytes());
        for p in self.paths() {
            out.extend_from_slice(&(p.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(&(self.unattend.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.wait_seconds.to_le_bytes());
        debug_assert_eq!(out.len(), PARAMS_HEADER_LEN);
        for p in self.paths() {
            out.extend_from_slice(p.as_bytes());
        }
        out.extend_from_slice(&self.unattend);
        let crc = crc32(&out);
        out[16..20].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decode and validate a block. `bytes` must be the block exactly (the trailer gives its
    /// length).
    pub fn decode(bytes: &[u8]) -> Result<Params, JumpError> {
        let have = bytes.len() as u64;
        if bytes.len() >= 8 && bytes[..8] != PARAMS_MAGIC {
            return Err(JumpError::BadParamsMagic);
        }
        let Ok(head) = bytes::chunk::<PARAMS_HEADER_LEN>(bytes, 0) else {
            return Err(JumpError::Truncated { need: PARAMS_HEADER_LEN as u64, have });
        };
        if head[8] != PARAMS_VERSION {
            return Err(JumpError::UnsupportedParamsVersion(head[8]));
        }
        let header_len = head.le16::<10>();
        if header_len as usize != PARAMS_HEADER_LEN {
            return Err(JumpError::BadParamsHeaderLength(header_len));
        }
        let total = head.le32::<12>();
        if total as u64 != have || total > MAX_PARAMS_LEN {
            return Err(JumpError::BadParamsLength(total));
        }
        let stored = head.le32::<16>();
        let mut copy = Vec::from(bytes);
        copy[16..20].fill(0);
        let computed = crc32(&copy);
        if stored != computed {
            return Err(JumpError::ParamsCrcMismatch { stored, computed });
        }
        let flags = Flags(head.le32::<20>());
        if flags.0 & !Flags::KNOWN != 0 {
            return Err(JumpError::UnknownFlags(flags.0 & !Flags::KNOWN));
        }
        let id: [u8; 16] = head.bytes_at::<24, 16>();
        let identity = match head[9] {
            0 => {
                if id != [0; 16] {
                    return Err(JumpError::NonZeroReserved);
                }
                None
            }
            1 => Some(DriveIdentity::Gpt(Guid(id))),
            2 => {
                if id[4..] != [0; 12] {
                    return Err(JumpError::NonZeroReserved);
                }
                Some(DriveIdentity::Mbr(head.le32::<24>()))
            }
            k => return Err(JumpError::UnknownIdentityKind(k)),
        };
        let lens = [
            head.le16::<48>() as usize,
            head.le16::<50>() as usize,
            head.le16::<52>() as usize,
            head.le16::<54>() as usize,
        ];
        let unattend_len = head.le32::<56>() as usize;
        let sum = PARAMS_HEADER_LEN as u64
            + lens.iter().map(|&l| l as u64).sum::<u64>()
            + unattend_len as u64;
        if sum != total as u64 {
            return Err(JumpError::ParamsLengthsDisagree { sum, block: total });
        }
        let mut at = PARAMS_HEADER_LEN;
        let mut paths: [String; 4] = Default::default();
        for (i, &len) in lens.iter().enumerate() {
            let raw = bytes::slice(bytes, at, len)?;
            let s = core::str::from_utf8(raw)
                .map_err(|_| JumpError::BadPath { which: PATH_NAMES[i], why: "not UTF-8" })?;
            paths[i] = String::from(s);
            at += len;
        }
        let unattend = Vec::from(bytes::slice(bytes, at, unattend_len)?);
        let [iso_path, log_path, shell_path, unattend_path] = paths;
        let p = Params {
            flags,
            identity,
            partition_offset: head.le64::<40>(),
            iso_path,
            log_path,
            shell_path,
            unattend_path,
            unattend,
            wait_seconds: head.le32::<60>(),
        };
        p.validate()?;
        Ok(p)
    }
}

/// A jump program file taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier<'a> {
    /// Length of the jump program itself (the file's first bytes).
    pub program_len: u64,
    /// The original shell, checked against its CRC.
    pub original_shell: &'a [u8],
    /// The trailer's flags ([`TRAILER_NO_UI`]).
    pub trailer_flags: u32,
    /// The raw parameter block.
    pub params_bytes: &'a [u8],
    /// The decoded block: an unreadable block still leaves the original shell runnable.
    pub params: Result<Params, JumpError>,
}

impl Carrier<'_> {
    /// Whether message boxes are off (the trailer's flag).
    pub fn no_ui(&self) -> bool {
        self.trailer_flags & TRAILER_NO_UI != 0
    }
}

/// The trailer of `file`, checked on its own (magic, version, length, flags, CRC).
fn trailer(file: &[u8]) -> Result<&[u8; TRAILER_LEN], JumpError> {
    let have = file.len() as u64;
    if file.len() < TRAILER_LEN {
        return Err(JumpError::Truncated { need: TRAILER_LEN as u64, have });
    }
    let t = bytes::chunk::<TRAILER_LEN>(file, file.len() - TRAILER_LEN)?;
    if t[..8] != TRAILER_MAGIC {
        return Err(JumpError::NoTrailer);
    }
    let version = t.le16::<8>();
    if version != TRAILER_VERSION {
        return Err(JumpError::UnsupportedTrailerVersion(version));
    }
    let len = t.le16::<10>();
    if len as usize != TRAILER_LEN {
        return Err(JumpError::BadTrailerLength(len));
    }
    let stored = t.le32::<36>();
    let computed = crc32(&t[..36]);
    if stored != computed {
        return Err(JumpError::TrailerCrcMismatch { stored, computed });
    }
    let flags = t.le32::<12>();
    if flags & !TRAILER_NO_UI != 0 {
        return Err(JumpError::UnknownTrailerFlags(flags & !TRAILER_NO_UI));
    }
    Ok(t)
}

/// Take a complete jump program file apart. An error means the original shell cannot be
/// found (there is nothing to run); a bad parameter block is reported in
/// [`Carrier::params`] instead.
pub fn split_carrier(file: &[u8]) -> Result<Carrier<'_>, JumpError> {
    let t = trailer(file)?;
    let program_len = t.le64::<16>();
    let shell_len = t.le32::<24>();
    let params_len = t.le32::<28>();
    let sum = program_len as u128 + shell_len as u128 + params_len as u128 + TRAILER_LEN as u128;
    if sum != file.len() as u128 {
        return Err(JumpError::LengthsDisagree { sum, file: file.len() as u64 });
    }
    // The sum equals the file length, so each part lies inside the file.
    let program_len_usize = program_len as usize;
    let shell = bytes::slice(file, program_len_usize, shell_len as usize)?;
    if shell.len() < 2 || shell[..2] != *b"MZ" {
        return Err(JumpError::ShellNotAnExe);
    }
    let stored = t.le32::<32>();
    let computed = crc32(shell);
    if stored != computed {
        return Err(JumpError::ShellCrcMismatch { stored, computed });
    }
    let params_bytes = bytes::slice(file, program_len_usize + shell.len(), params_len as usize)?;
    let params = if params_len > MAX_PARAMS_LEN {
        Err(JumpError::BadParamsLength(params_len))
    } else {
        Params::decode(params_bytes)
    };
    Ok(Carrier {
        program_len,
        original_shell: shell,
        trailer_flags: t.le32::<12>(),
        params_bytes,
        params,
    })
}

/// The trailer for the given parts.
fn encode_trailer(program_len: u64, shell: &[u8], params_len: u32, flags: u32) -> Vec<u8> {
    let mut t = Vec::with_capacity(TRAILER_LEN);
    t.extend_from_slice(&TRAILER_MAGIC);
    t.extend_from_slice(&TRAILER_VERSION.to_le_bytes());
    t.extend_from_slice(&(TRAILER_LEN as u16).to_le_bytes());
    t.extend_from_slice(&flags.to_le_bytes());
    t.extend_from_slice(&program_len.to_le_bytes());
    t.extend_from_slice(&(shell.len() as u32).to_le_bytes());
    t.extend_from_slice(&params_len.to_le_bytes());
    t.extend_from_slice(&crc32(shell).to_le_bytes());
    let crc = crc32(&t);
    t.extend_from_slice(&crc.to_le_bytes());
    t
}

/// A jump program file: `program` with `original_shell`, the encoded `params` and the
/// trailer appended. The trailer's "no UI" flag is `no_ui`. Panics if the shell is longer
/// than 4 GiB or `params` is invalid (values the caller built).
pub fn build_carrier_with(
    program: &[u8],
    original_shell: &[u8],
    params_bytes: &[u8],
    no_ui: bool,
) -> Vec<u8> {
    assert!(u32::try_from(original_shell.len()).is_ok(), "original shell over 4 GiB");
    let params_len = u32::try_from(params_bytes.len()).expect("parameter block over 4 GiB");
    let mut out =
        Vec::with_capacity(program.len() + original_shell.len() + params_bytes.len() + TRAILER_LEN);
    out.extend_from_slice(program);
    out.extend_from_slice(original_shell);
    out.extend_from_slice(params_bytes);
    out.extend_from_slice(&encode_trailer(
        program.len() as u64,
        original_shell,
        params_len,
        if no_ui { TRAILER_NO_UI } else { 0 },
    ));
    out
}

/// A jump program file for `params`, message boxes on unless `params` is in test mode.
pub fn build_carrier(program: &[u8], original_shell: &[u8], params: &Params) -> Vec<u8> {
    build_carrier_with(program, original_shell, &params.encode(), params.flags.test_mode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn sample() -> Params {
        Params {
            flags: Flags(Flags::BYPASS_REQUIREMENTS | Flags::BYPASS_NRO),
            identity: Some(DriveIdentity::Gpt(Guid(core::array::from_fn(|i| i as u8 * 7 + 1)))),
            partition_offset: 1 << 20,
            iso_path: "\\ISO\\Win11 23H2 (x64).iso".to_string(),
            log_path: String::new(),
            shell_path: "X:\\Windows\\System32\\winpeshl-polyboot.exe".to_string(),
            unattend_path: String::new(),
            unattend: b"<?xml version=\"1.0\"?><unattend/>".to_vec(),
            wait_seconds: 30,
        }
    }

    fn shell() -> Vec<u8> {
        let mut s = b"MZ".to_vec();
        s.extend((0..300u32).map(|i| (i * 31 % 251) as u8));
        s
    }

    const PROGRAM: &[u8] = b"MZ this stands for polyboot-winpe.exe";

    #[test]
    fn params_round_trip() {
        let p = sample();
        let b = p.encode();
        assert_eq!(&b[..8], b"PBWPEPRM");
        assert_eq!(b.len(), PARAMS_HEADER_LEN + 25 + 41 + 32);
        assert_eq!(Params::decode(&b), Ok(p.clone()));
        let mbr = Params {
            identity: Some(DriveIdentity::Mbr(0xDEAD_BEEF)),
            unattend: vec![],
            shell_path: String::new(),
            flags: Flags(0),
            ..p.clone()
        };
        assert_eq!(Params::decode(&mbr.encode()), Ok(mbr));
        let test = Params {
            identity: None,
            flags: Flags(Flags::TEST_MODE),
            iso_path: "P:\\ISO\\t.iso".to_string(),
            log_path: "P:\\log.txt".to_string(),
            ..p
        };
        assert_eq!(Params::decode(&test.encode()), Ok(test));
    }

    #[test]
    fn carrier_round_trip() {
        let p = sample();
        let sh = shell();
        let file = build_carrier(PROGRAM, &sh, &p);
        assert_eq!(&file[..PROGRAM.len()], PROGRAM);
        assert_eq!(&file[file.len() - TRAILER_LEN..][..8], b"PBWPEJMP");
        let c = split_carrier(&file).unwrap();
        assert_eq!(c.program_len, PROGRAM.len() as u64);
        assert_eq!(c.original_shell, &sh[..]);
        assert_eq!(c.params, Ok(p.clone()));
        assert!(!c.no_ui());
        let test = Params { identity: None, flags: Flags(Flags::TEST_MODE), ..p };
        let c2 = build_carrier(PROGRAM, &sh, &test);
        assert!(split_carrier(&c2).unwrap().no_ui());
        // An empty program is allowed (the format does not care what runs it).
        let c3 = build_carrier(&[], &sh, &test);
        assert_eq!(split_carrier(&c3).unwrap().program_len, 0);
    }

    #[test]
    fn every_params_truncation_and_bit_flip_is_an_error() {
        let b = sample().encode();
        for n in 0..b.len() {
            assert!(Params::decode(&b[..n]).is_err(), "truncated to {n}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(Params::decode(&longer).is_err());
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut c = b.clone();
                c[i] ^= 1 << bit;
                assert!(Params::decode(&c).is_err(), "flip byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn every_carrier_truncation_and_shell_or_trailer_flip_is_an_error() {
        let file = build_carrier(PROGRAM, &shell(), &sample());
        for n in 0..file.len() {
            assert!(split_carrier(&file[..n]).is_err(), "truncated to {n}");
        }
        let shell_start = PROGRAM.len();
        let params_start = shell_start + shell().len();
        let trailer_start = file.len() - TRAILER_LEN;
        for i in shell_start..file.len() {
            for bit in 0..8 {
                let mut c = file.clone();
                c[i] ^= 1 << bit;
                match split_carrier(&c) {
                    Err(_) => assert!(
                        !(params_start..trailer_start).contains(&i),
                        "a bad block must leave the shell runnable (byte {i})"
                    ),
                    Ok(carrier) => {
                        assert!((params_start..trailer_start).contains(&i), "flip at {i}");
                        assert!(carrier.params.is_err(), "flip at {i}");
                        assert_eq!(carrier.original_shell, &shell()[..]);
                    }
                }
            }
        }
        // Bytes of the program itself are not checked: it is the file that is running.
        let mut c = file.clone();
        c[3] ^= 0xFF;
        assert!(split_carrier(&c).is_ok());
        // One byte more or less in front of the trailer breaks the sum.
        let mut c = file.clone();
        c.insert(0, b'M');
        assert!(matches!(split_carrier(&c), Err(JumpError::LengthsDisagree { .. })));
        assert_eq!(split_carrier(&[b'M'; 100]), Err(JumpError::NoTrailer));
        assert!(matches!(split_carrier(PROGRAM), Err(JumpError::Truncated { .. })));
    }

    /// Re-sign a block after tampering, so the checks behind the CRC are reached.
    fn resign(mut b: Vec<u8>) -> Vec<u8> {
        b[16..20].fill(0);
        let c = crc32(&b);
        b[16..20].copy_from_slice(&c.to_le_bytes());
        b
    }

    #[test]
    fn hostile_but_correctly_signed_blocks_are_refused() {
        let good = sample().encode();
        type Case = (usize, &'static [u8], fn(&JumpError) -> bool);
        let cases: Vec<Case> = vec![
            (8, &[2], |e| matches!(e, JumpError::UnsupportedParamsVersion(2))),
            (9, &[3], |e| matches!(e, JumpError::UnknownIdentityKind(3))),
            (9, &[0], |e| matches!(e, JumpError::NonZeroReserved)),
            (9, &[2], |e| matches!(e, JumpError::NonZeroReserved)),
            (10, &[65, 0], |e| matches!(e, JumpError::BadParamsHeaderLength(65))),
            (12, &[0xFF, 0xFF, 0xFF, 0x7F], |e| matches!(e, JumpError::BadParamsLength(_))),
            (20, &[0, 0, 0, 0x80], |e| matches!(e, JumpError::UnknownFlags(_))),
            (48, &[0, 0], |e| matches!(e, JumpError::ParamsLengthsDisagree { .. })),
            (56, &[0xFF, 0xFF, 0, 0], |e| matches!(e, JumpError::ParamsLengthsDisagree { .. })),
            (60, &[0xFF, 0xFF, 0, 0], |e| matches!(e, JumpError::BadWait(0xFFFF))),
            (64, &[0xC3, 0x28], |e| matches!(e, JumpError::BadPath { which: "ISO", .. })),
            (65, &[0], |e| matches!(e, JumpError::BadPath { why: "contains NUL", .. })),
        ];
        for (at, patch, want) in cases {
            let mut b = good.clone();
            b[at..at + patch.len()].copy_from_slice(patch);
            let err = Params::decode(&resign(b)).unwrap_err();
            assert!(want(&err), "patch at {at}: got {err:?}");
            assert!(!err.to_string().is_empty());
        }
        // Test mode off and no identity.
        let mut b = good.clone();
        b[9] = 0;
        b[24..40].fill(0);
        assert_eq!(Params::decode(&resign(b)), Err(JumpError::NoIdentity));
        // An empty ISO path (its bytes moved to the log path).
        let mut b = good.clone();
        b[48..52].copy_from_slice(&[0, 0, 25, 0]);
        assert!(matches!(
            Params::decode(&resign(b)),
            Err(JumpError::BadPath { which: "ISO", why: "empty" })
        ));
    }

    #[test]
    fn hostile_but_correctly_signed_trailers_are_refused() {
        let file = build_carrier(PROGRAM, &shell(), &sample());
        let t0 = file.len() - TRAILER_LEN;
        let resign_t = |mut f: Vec<u8>| {
            let crc = crc32(&f[t0..t0 + 36]);
            f[t0 + 36..].copy_from_slice(&crc.to_le_bytes());
            f
        };
        type Case = (usize, &'static [u8], fn(&JumpError) -> bool);
        let cases: Vec<Case> = vec![
            (8, &[2, 0], |e| matches!(e, JumpError::UnsupportedTrailerVersion(2))),
            (10, &[41, 0], |e| matches!(e, JumpError::BadTrailerLength(41))),
            (12, &[2, 0, 0, 0], |e| matches!(e, JumpError::UnknownTrailerFlags(2))),
            (16, &[0xFF; 8], |e| matches!(e, JumpError::LengthsDisagree { .. })),
            (24, &[0xFF; 4], |e| matches!(e, JumpError::LengthsDisagree { .. })),
            (32, &[0; 4], |e| matches!(e, JumpError::ShellCrcMismatch { .. })),
        ];
        for (at, patch, want) in cases {
            let mut f = file.clone();
            f[t0 + at..t0 + at + patch.len()].copy_from_slice(patch);
            let err = split_carrier(&resign_t(f)).unwrap_err();
            assert!(want(&err), "patch at {at}: got {err:?}");
            assert!(!err.to_string().is_empty());
        }
        // Lengths that still add up but move the shell off its MZ.
        let mut f = file.clone();
        f[t0 + 16..t0 + 24].copy_from_slice(&(PROGRAM.len() as u64 + 1).to_le_bytes());
        f[t0 + 24..t0 + 28].copy_from_slice(&(shell().len() as u32 - 1).to_le_bytes());
        assert_eq!(split_carrier(&resign_t(f)), Err(JumpError::ShellNotAnExe));
        // A block over the limit: refused without being read, the shell still there.
        let big = vec![0; MAX_PARAMS_LEN as usize + 1];
        let f = build_carrier_with(&[], &shell(), &big, false);
        let c = split_carrier(&f).unwrap();
        assert_eq!(c.params, Err(JumpError::BadParamsLength(MAX_PARAMS_LEN + 1)));
        assert_eq!(c.original_shell, &shell()[..]);
    }

    #[test]
    fn invalid_values_are_refused_by_validate() {
        let p = sample();
        let long = "a".repeat(MAX_PATH_LEN + 1);
        assert!(Params { iso_path: String::new(), ..p.clone() }.validate().is_err());
        assert!(Params { log_path: long, ..p.clone() }.validate().is_err());
        assert!(Params { identity: None, ..p.clone() }.validate().is_err());
        assert!(Params { flags: Flags(1 << 9), ..p.clone() }.validate().is_err());
        assert!(Params { wait_seconds: MAX_WAIT_SECONDS + 1, ..p.clone() }.validate().is_err());
        let huge = vec![b'x'; MAX_PARAMS_LEN as usize];
        assert!(Params { unattend: huge, ..p }.validate().is_err());
    }

    #[test]
    fn pseudo_random_bytes_never_panic() {
        let mut x = 0x9abc_def0_1234_5678u64;
        let file = build_carrier(PROGRAM, &shell(), &sample());
        let block = sample().encode();
        for round in 0..3000u32 {
            let mut b = if round % 2 == 0 { file.clone() } else { block.clone() };
            for byte in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x % 64 == 0 {
                    *byte = x as u8;
                }
            }
            let _ = split_carrier(&b);
            let _ = Params::decode(&resign(b.clone()));
            let _ = Params::decode(&b);
        }
    }
}
