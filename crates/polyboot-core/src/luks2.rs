//! LUKS2 volumes as cryptsetup makes them: reading the header and unlocking the volume key with
//! a passphrase, and the data segment's sector encryption (for the host, which fills a backend
//! made by `cryptsetup luksFormat`; in the booted system dm-crypt does the data).
//!
//! Layout (LUKS2 on-disk format, cryptsetup's `docs/on-disk-format-luks2.pdf`): two copies of
//! the header, at 0 and at `hdr_size`, each a 4 KiB binary header (big-endian; magic
//! `LUKS\xba\xbe` / `SKUL\xba\xbe`, version 2, `hdr_size`, `seqid`, label, checksum algorithm,
//! salt, UUID, subsystem, `hdr_offset`, checksum) followed by a NUL-padded JSON area. The
//! checksum (SHA-256) covers the whole copy with its own field zeroed. The JSON holds
//! `keyslots`, `digests`, `segments`, `tokens` and `config`; 64-bit numbers are decimal strings,
//! binary values base64.
//!
//! Unlocking one keyslot (`luks2` type): derive a key from the passphrase with the slot's KDF
//! (PBKDF2 or Argon2i/Argon2id), decrypt the slot's key material area with it
//! (aes-xts-plain64, 512-byte sectors, IVs counted from 0 at the area's start), merge the
//! anti-forensic stripes (LUKS1 AF: XOR and SHA-256 diffusion) into the candidate volume key,
//! and accept it when PBKDF2 of it matches the digest bound to the slot and the data segment.
//!
//! Only what cryptsetup makes by default is supported: aes-xts-plain64 for keyslot areas and
//! the data segment, one `crypt` data segment (id 0), PBKDF2 digests, SHA-256 (or SHA-512)
//! hashes. Anything else is refused by name, never guessed. Every size, count and KDF cost
//! read from the header is bounded before anything is allocated or computed ([`Limits`]).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use aes::cipher::KeyInit;
use aes::{Aes128, Aes256};
use serde_json::{Map, Value};
use xts_mode::Xts128;
use zeroize::Zeroizing;

use crate::block::{IoError, ReadAt};
use crate::bytes::{self, Fields};

/// The primary header's magic; the secondary copy's is [`MAGIC_SECONDARY`].
pub const MAGIC: [u8; 6] = *crate::fsprobe::LUKS_MAGIC;
pub const MAGIC_SECONDARY: [u8; 6] = *b"SKUL\xba\xbe";
/// The binary part of each header copy; the JSON area follows it.
pub const BINARY_HEADER_LEN: usize = 4096;
/// The header copy sizes (binary header + JSON area) the format allows: 16 KiB to 4 MiB.
pub const HEADER_SIZES: [u64; 9] =
    [0x4000, 0x8000, 0x1_0000, 0x2_0000, 0x4_0000, 0x8_0000, 0x10_0000, 0x20_0000, 0x40_0000];
/// dm-crypt's and the keyslot areas' IV unit.
pub const SECTOR: u64 = 512;
/// At most this many keyslots, digests and segments (cryptsetup's LUKS2 limit is 32).
pub const MAX_OBJECTS: usize = 32;
/// AF stripes per keyslot; cryptsetup writes 4000.
pub const MAX_STRIPES: u32 = 65_536;
/// Volume and keyslot keys: AES-128-XTS is 32 bytes, AES-256-XTS 64.
pub const MAX_KEY_LEN: usize = 64;
/// Salts and digests in the JSON (cryptsetup: 32 bytes).
pub const MAX_SALT_LEN: usize = 256;

/// How much work a header may ask for before unlocking refuses it: KDF costs come from the
/// (untrusted) header, and Argon2's memory is allocated at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// PBKDF2 iterations, keyslot KDFs and digests alike.
    pub max_pbkdf2_iterations: u32,
    /// Argon2 memory cost in KiB.
    pub max_argon2_memory_kib: u32,
    /// Argon2 passes.
    pub max_argon2_time: u32,
    /// Argon2 lanes (cryptsetup's `cpus`).
    pub max_argon2_lanes: u32,
}

impl Limits {
    /// What cryptsetup itself can make: PBKDF2 up to 2^31 iterations is a day of work, so a
    /// few hundred million, Argon2 up to 4 GiB and 4 lanes; time is bounded generously.
    pub const DEFAULT: Limits = Limits {
        max_pbkdf2_iterations: 200_000_000,
        max_argon2_memory_kib: 4 * 1024 * 1024,
        max_argon2_time: 10_000,
        max_argon2_lanes: 16,
    };

    /// [`Limits::DEFAULT`] with Argon2's memory capped at `kib` (e.g. from the memory the
    /// system has available).
    pub fn with_memory_kib(kib: u32) -> Limits {
        Limits { max_argon2_memory_kib: kib, ..Limits::DEFAULT }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LuksError {
    Io(IoError),
    /// Neither header copy starts with a LUKS magic.
    NotLuks,
    /// A LUKS header of another version (1 is LUKS1).
    Version(u16),
    /// A header copy that is not well formed; the text says where.
    Header(String),
    /// A well-formed header using what polyboot does not implement.
    Unsupported(String),
    /// A keyslot or digest asks for more work or memory than [`Limits`] allow.
    TooCostly(String),
    /// No keyslot accepted the passphrase.
    WrongPassphrase,
    /// No keyslot could be tried at all; the text says why for each.
    NoUsableKeyslot(String),
    /// A caller's request that does not fit the segment (buffer not whole sectors, ...).
    Request(String),
}

impl fmt::Display for LuksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LuksError::Io(e) => write!(f, "reading the LUKS2 volume: {e}"),
            LuksError::NotLuks => f.write_str("not a LUKS volume (no LUKS header)"),
            LuksError::Version(v) => {
                write!(f, "LUKS version {v} header; polyboot reads LUKS2 only")
            }
            LuksError::Header(m) => write!(f, "bad LUKS2 header: {m}"),
            LuksError::Unsupported(m) => write!(f, "unsupported LUKS2 volume: {m}"),
            LuksError::TooCostly(m) => write!(f, "LUKS2 key derivation too costly: {m}"),
            LuksError::WrongPassphrase => f.write_str("no key slot accepts this passphrase"),
            LuksError::NoUsableKeyslot(m) => write!(f, "no usable LUKS2 key slot: {m}"),
            LuksError::Request(m) => write!(f, "LUKS2: {m}"),
        }
    }
}

crate::block::error_with_io!(LuksError);

impl From<bytes::OutOfBounds> for LuksError {
    fn from(_: bytes::OutOfBounds) -> Self {
        LuksError::Header("field beyond the end of the header".to_string())
    }
}

fn bad(msg: impl Into<String>) -> LuksError {
    LuksError::Header(msg.into())
}

/// The hash of a PBKDF2 KDF, an AF diffusion or a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn parse(name: &str) -> Option<Hash> {
        match name {
            "sha256" => Some(Hash::Sha256),
            "sha512" => Some(Hash::Sha512),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "sha256",
            Hash::Sha512 => "sha512",
        }
    }
    fn pbkdf2(self, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
        match self {
            Hash::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out),
            Hash::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, out),
        }
    }
}

/// A keyslot's key derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kdf {
    Pbkdf2 {
        hash: Hash,
        iterations: u32,
        salt: Vec<u8>,
    },
    /// `argon2id` when `id`, else `argon2i`.
    Argon2 {
        id: bool,
        time: u32,
        memory_kib: u32,
        lanes: u32,
        salt: Vec<u8>,
    },
}

impl Kdf {
    /// Why `limits` refuse this KDF, if they do.
    fn over(&self, limits: &Limits) -> Option<String> {
        match self {
            Kdf::Pbkdf2 { iterations, .. } if *iterations > limits.max_pbkdf2_iterations => {
                Some(format!(
                    "PBKDF2 with {iterations} iterations (limit {})",
                    limits.max_pbkdf2_iterations
                ))
            }
            Kdf::Argon2 { memory_kib, .. } if *memory_kib > limits.max_argon2_memory_kib => {
                Some(format!(
                    "Argon2 needs {memory_kib} KiB of memory, more than the {} KiB allowed here",
                    limits.max_argon2_memory_kib
                ))
            }
            Kdf::Argon2 { time, .. } if *time > limits.max_argon2_time => {
                Some(format!("Argon2 with {time} passes (limit {})", limits.max_argon2_time))
            }
            Kdf::Argon2 { lanes, .. } if *lanes > limits.max_argon2_lanes => {
                Some(format!("Argon2 with {lanes} lanes (limit {})", limits.max_argon2_lanes))
            }
            _ => None,
        }
    }

    fn derive(&self, passphrase: &[u8], out: &mut [u8]) -> Result<(), LuksError> {
        match self {
            Kdf::Pbkdf2 { hash, iterations, salt } => {
                hash.pbkdf2(passphrase, salt, *iterations, out);
                Ok(())
            }
            Kdf::Argon2 { id, time, memory_kib, lanes, salt } => {
                let params = argon2::Params::new(*memory_kib, *time, *lanes, Some(out.len()))
                    .map_err(|e| LuksError::Unsupported(format!("Argon2 parameters: {e}")))?;
                let algorithm =
                    if *id { argon2::Algorithm::Argon2id } else { argon2::Algorithm::Argon2i };
                argon2::Argon2::new(algorithm, argon2::Version::V0x13, params)
                    .hash_password_into(passphrase, salt, out)
                    .map_err(|e| LuksError::Unsupported(format!("Argon2: {e}")))
            }
        }
    }
}

/// A `luks2` keyslot: where its key material lies and how to get at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyslot {
    pub id: u32,
    /// The volume key's length in bytes.
    pub key_size: usize,
    /// 0 = ignored unless asked for by number, 1 = normal, 2 = preferred.
    pub priority: u8,
    /// Byte offset and size of the key material area on the device.
    pub area_offset: u64,
    pub area_size: u64,
    /// The area's aes-xts-plain64 key length in bytes.
    pub area_key_size: usize,
    pub stripes: u32,
    pub af_hash: Hash,
    pub kdf: Kdf,
}

impl Keyslot {
    /// Bytes of key material: the AF-split key, whole 512-byte sectors.
    pub fn material_len(&self) -> u64 {
        (self.key_size as u64 * u64::from(self.stripes)).div_ceil(SECTOR) * SECTOR
    }
}

/// A `pbkdf2` digest: the check value of a volume key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub id: u32,
    pub keyslots: Vec<u32>,
    pub segments: Vec<u32>,
    pub hash: Hash,
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub digest: Vec<u8>,
}

/// The data segment: aes-xts-plain64 from `offset` on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: u32,
    /// Byte offset on the device (a multiple of 512).
    pub offset: u64,
    /// Bytes, or `None` for `dynamic` (up to the end of the device).
    pub size: Option<u64>,
    /// Added to every IV (in 512-byte units), as dm-crypt's `iv_offset`.
    pub iv_tweak: u64,
    /// 512, 1024, 2048 or 4096. IVs still count 512-byte units (LUKS2 never sets dm-crypt's
    /// `iv_large_sectors`).
    pub sector_size: u32,
}

impl Segment {
    /// The segment's length on a device of `device_size` bytes, in whole segment sectors;
    /// `None` when the device is too small to hold it.
    pub fn len_on(&self, device_size: u64) -> Option<u64> {
        let len = match self.size {
            Some(s) => {
                if self.offset.checked_add(s)? > device_size {
                    return None;
                }
                s
            }
            None => device_size.checked_sub(self.offset)?,
        };
        Some(len - len % u64::from(self.sector_size))
    }
}

/// A parsed, checksum-verified LUKS2 header (the newer of the two copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub seqid: u64,
    /// Size of one header copy (binary header + JSON area).
    pub header_size: u64,
    pub label: String,
    pub uuid: String,
    /// Whether this came from the secondary copy (the primary being damaged or older).
    pub from_secondary: bool,
    /// Size of the keyslots area that follows the two header copies.
    pub keyslots_size: u64,
    /// The `luks2` keyslots polyboot can open, by id.
    pub keyslots: Vec<Keyslot>,
    /// Keyslots present but not usable here, with the reason (e.g. `"3: cipher serpent-xts-plain64"`).
    pub skipped_keyslots: Vec<String>,
    pub digests: Vec<Digest>,
    /// The data segment (id 0).
    pub segment: Segment,
}

/// The unlocked volume key. Wiped from memory when dropped.
pub struct VolumeKey(Zeroizing<Vec<u8>>);

impl VolumeKey {
    /// A key from its bytes (e.g. in tests); 32 or 64 bytes for aes-xts.
    pub fn from_bytes(b: &[u8]) -> VolumeKey {
        VolumeKey(Zeroizing::new(b.to_vec()))
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// Lowercase hex, as a dm-crypt table takes it (wiped when dropped).
    pub fn to_hex(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(self.0.len() * 2));
        for b in self.0.iter() {
            for n in [b >> 4, b & 15] {
                s.push(char::from(b"0123456789abcdef"[usize::from(n)]));
            }
        }
        s
    }
}

impl fmt::Debug for VolumeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VolumeKey({} bytes)", self.0.len())
    }
}

// ------------------------------------------------------------------------------------------
// Header
// ------------------------------------------------------------------------------------------

/// Read the LUKS2 header of `dev`: both copies, checksums checked; the valid one with the
/// higher sequence id wins (the primary on a tie), as cryptsetup does.
pub fn read_header<R: ReadAt + ?Sized>(dev: &mut R) -> Result<Header, LuksError> {
    let primary = read_copy(dev, 0, false);
    let secondary_at: Vec<u64> = match &primary {
        Ok(h) => vec![h.header_size],
        // Damaged primary: the secondary sits at one of the allowed sizes.
        Err(_) => HEADER_SIZES.to_vec(),
    };
    let mut secondary = Err(LuksError::NotLuks);
    for at in secondary_at {
        match read_copy(dev, at, true) {
            Ok(h) => {
                secondary = Ok(h);
                break;
            }
            // Probing finds nothing (or the device's end) at most sizes: keep what a copy
            // that was there said.
            Err(LuksError::NotLuks | LuksError::Io(_)) => {}
            Err(e) => {
                if matches!(secondary, Err(LuksError::NotLuks)) {
                    secondary = Err(e);
                }
            }
        }
    }
    match (primary, secondary) {
        (Ok(p), Ok(s)) => Ok(if s.seqid > p.seqid { s } else { p }),
        (Ok(p), Err(_)) => Ok(p),
        (Err(_), Ok(s)) => Ok(s),
        // Name the primary's problem unless it simply was not there.
        (Err(LuksError::NotLuks), Err(e)) => Err(e),
        (Err(e), Err(_)) => Err(e),
    }
}

fn read_copy<R: ReadAt + ?Sized>(
    dev: &mut R,
    offset: u64,
    secondary: bool,
) -> Result<Header, LuksError> {
    let mut bin = [0u8; BINARY_HEADER_LEN];
    dev.read_at(offset, &mut bin)?;
    let hdr_size = check_binary(&bin, offset, secondary)?;
    // hdr_size is one of HEADER_SIZES (at most 4 MiB).
    let mut copy = vec![0u8; hdr_size as usize];
    dev.read_at(offset, &mut copy)?;
    parse_copy(&copy, offset, secondary)
}

/// Check the binary header's fixed fields; returns `hdr_size`.
fn check_binary(bin: &[u8], offset: u64, secondary: bool) -> Result<u64, LuksError> {
    let b: &[u8; 512] = bytes::chunk(bin, 0)?;
    let magic = if secondary { MAGIC_SECONDARY } else { MAGIC };
    if b.bytes_at::<0, 6>() != magic {
        return Err(LuksError::NotLuks);
    }
    let version = b.be16::<6>();
    if version != 2 {
        return Err(LuksError::Version(version));
    }
    let hdr_size = b.be64::<8>();
    if !HEADER_SIZES.contains(&hdr_size) {
        return Err(bad(format!("header size {hdr_size} is not one LUKS2 allows")));
    }
    let hdr_offset = b.be64::<256>();
    if hdr_offset != offset {
        return Err(bad(format!("header copy at {offset} says it is at {hdr_offset}")));
    }
    Ok(hdr_size)
}

/// A NUL-terminated string field of the binary header.
fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or_default()).into_owned()
}

/// Parse one header copy (`hdr_size` bytes read at `offset`).
pub fn parse_copy(copy: &[u8], offset: u64, secondary: bool) -> Result<Header, LuksError> {
    let hdr_size = check_binary(copy, offset, secondary)?;
    if copy.len() as u64 != hdr_size {
        return Err(bad(format!("header copy of {} bytes, expected {hdr_size}", copy.len())));
    }
    let b: &[u8; 512] = bytes::chunk(copy, 0)?;
    let algorithm = c_string(&b.bytes_at::<72, 32>());
    if algorithm != "sha256" {
        return Err(LuksError::Unsupported(format!("header checksum algorithm {algorithm:?}")));
    }
    let stored: [u8; 32] = b.bytes_at::<448, 32>();
    let mut h = crate::sha256::Sha256::new();
    h.update(bytes::slice(copy, 0, 448)?);
    h.update(&[0u8; 64]);
    h.update(bytes::slice(copy, 512, copy.len() - 512)?);
    if h.finalize() != stored {
        return Err(bad(format!(
            "{} header checksum mismatch",
            if secondary { "secondary" } else { "primary" }
        )));
    }
    let area = bytes::slice(copy, BINARY_HEADER_LEN, copy.len() - BINARY_HEADER_LEN)?;
    let end = area.iter().position(|&c| c == 0).unwrap_or(area.len());
    let text = core::str::from_utf8(area.get(..end).unwrap_or_default())
        .map_err(|_| bad("JSON area is not UTF-8"))?;
    let json: Value = serde_json::from_str(text).map_err(|e| bad(format!("JSON area: {e}")))?;
    let json = json.as_object().ok_or_else(|| bad("JSON area is not an object"))?;
    let mut header = parse_json(json, hdr_size)?;
    header.seqid = b.be64::<16>();
    header.label = c_string(&b.bytes_at::<24, 48>());
    header.uuid = c_string(&b.bytes_at::<168, 40>());
    header.from_secondary = secondary;
    Ok(header)
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, LuksError> {
    v.as_object().ok_or_else(|| bad(format!("{what} is not an object")))
}

fn field<'a>(o: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a Value, LuksError> {
    o.get(key).ok_or_else(|| bad(format!("{what} has no {key:?}")))
}

fn str_field<'a>(o: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str, LuksError> {
    field(o, key, what)?.as_str().ok_or_else(|| bad(format!("{what}: {key:?} is not a string")))
}

/// A 64-bit number, which LUKS2 stores as a decimal string.
fn u64_field(o: &Map<String, Value>, key: &str, what: &str) -> Result<u64, LuksError> {
    parse_u64(str_field(o, key, what)?)
        .ok_or_else(|| bad(format!("{what}: {key:?} is not a decimal number")))
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A JSON integer field that fits a u32.
fn u32_field(o: &Map<String, Value>, key: &str, what: &str) -> Result<u32, LuksError> {
    field(o, key, what)?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad(format!("{what}: {key:?} is not a 32-bit integer")))
}

fn b64_field(o: &Map<String, Value>, key: &str, what: &str) -> Result<Vec<u8>, LuksError> {
    let v = base64(str_field(o, key, what)?)
        .ok_or_else(|| bad(format!("{what}: {key:?} is not base64")))?;
    if v.len() > MAX_SALT_LEN {
        return Err(bad(format!("{what}: {key:?} is longer than {MAX_SALT_LEN} bytes")));
    }
    Ok(v)
}

/// An object id: a decimal string below [`MAX_OBJECTS`].
fn object_id(s: &str, what: &str) -> Result<u32, LuksError> {
    parse_u64(s)
        .filter(|&n| n < MAX_OBJECTS as u64)
        .map(|n| n as u32)
        .ok_or_else(|| bad(format!("{what} id {s:?} is not a number below {MAX_OBJECTS}")))
}

/// A list of ids (`"keyslots": ["0", "1"]`).
fn id_list(o: &Map<String, Value>, key: &str, what: &str) -> Result<Vec<u32>, LuksError> {
    let list = field(o, key, what)?
        .as_array()
        .ok_or_else(|| bad(format!("{what}: {key:?} is not an array")))?;
    if list.len() > MAX_OBJECTS {
        return Err(bad(format!("{what}: {key:?} lists more than {MAX_OBJECTS} ids")));
    }
    list.iter().map(|v| object_id(v.as_str().unwrap_or("?"), what)).collect()
}

/// The objects of a JSON section by id.
type Members<'a> = Vec<(u32, &'a Map<String, Value>)>;

fn members<'a>(json: &'a Map<String, Value>, key: &str) -> Result<Members<'a>, LuksError> {
    let o = obj(field(json, key, "the JSON area")?, key)?;
    if o.len() > MAX_OBJECTS {
        return Err(bad(format!("more than {MAX_OBJECTS} {key}")));
    }
    let mut out = Vec::with_capacity(o.len());
    for (k, v) in o {
        let what = format!("{key} {k}");
        out.push((object_id(k, key)?, obj(v, &what)?));
    }
    out.sort_by_key(|(id, _)| *id);
    Ok(out)
}

/// The only cipher here: `aes-xts-plain64` with a 32- or 64-byte key.
fn check_cipher(name: &str, key_size: usize, what: &str) -> Result<(), String> {
    if name != "aes-xts-plain64" {
        return Err(format!("{what}: cipher {name} (polyboot supports aes-xts-plain64)"));
    }
    if key_size != 32 && key_size != 64 {
        return Err(format!("{what}: aes-xts-plain64 key of {key_size} bytes (32 or 64)"));
    }
    Ok(())
}

fn parse_json(json: &Map<String, Value>, hdr_size: u64) -> Result<Header, LuksError> {
    let config = obj(field(json, "config", "the JSON area")?, "config")?;
    let json_size = u64_field(config, "json_size", "config")?;
    if json_size != hdr_size - BINARY_HEADER_LEN as u64 {
        return Err(bad(format!(
            "config json_size {json_size} does not match the header size {hdr_size}"
        )));
    }
    let keyslots_size = u64_field(config, "keyslots_size", "config")?;
    if let Some(req) = config.get("requirements") {
        let mandatory = req.get("mandatory").and_then(Value::as_array);
        if let Some(m) = mandatory.filter(|m| !m.is_empty()) {
            let names: Vec<String> =
                m.iter().map(|v| v.as_str().unwrap_or("?").to_string()).collect();
            return Err(LuksError::Unsupported(format!(
                "mandatory requirements {} (e.g. a re-encryption in progress)",
                names.join(", ")
            )));
        }
    }
    // The keyslots area lies after both header copies.
    let area_start = 2 * hdr_size;
    let area_end =
        area_start.checked_add(keyslots_size).ok_or_else(|| bad("keyslots_size overflows"))?;

    let mut keyslots = Vec::new();
    let mut skipped_keyslots = Vec::new();
    for (id, ks) in members(json, "keyslots")? {
        match parse_keyslot(id, ks, area_start, area_end)? {
            Ok(k) => keyslots.push(k),
            Err(why) => skipped_keyslots.push(format!("{id}: {why}")),
        }
    }

    let mut digests = Vec::new();
    for (id, d) in members(json, "digests")? {
        let what = format!("digest {id}");
        let kind = str_field(d, "type", &what)?;
        if kind != "pbkdf2" {
            // Unusable for checking a key, harmless otherwise.
            continue;
        }
        let Some(hash) = Hash::parse(str_field(d, "hash", &what)?) else {
            // Likewise: its keyslots will say they have no digest.
            continue;
        };
        let digest = b64_field(d, "digest", &what)?;
        if digest.is_empty() || digest.len() > MAX_KEY_LEN {
            return Err(bad(format!("{what}: digest of {} bytes", digest.len())));
        }
        digests.push(Digest {
            id,
            keyslots: id_list(d, "keyslots", &what)?,
            segments: id_list(d, "segments", &what)?,
            hash,
            iterations: u32_field(d, "iterations", &what)?,
            salt: b64_field(d, "salt", &what)?,
            digest,
        });
    }

    let segments = members(json, "segments")?;
    let [(0, s)] = segments.as_slice() else {
        return Err(LuksError::Unsupported(format!(
            "{} data segments (polyboot maps one, id 0)",
            segments.len()
        )));
    };
    let segment = parse_segment(s)?;

    Ok(Header {
        seqid: 0,
        header_size: hdr_size,
        label: String::new(),
        uuid: String::new(),
        from_secondary: false,
        keyslots_size,
        keyslots,
        skipped_keyslots,
        digests,
        segment,
    })
}

/// A keyslot: `Ok(Ok(slot))`, `Ok(Err(why))` when it is of a kind polyboot cannot open (the
/// others may still do), `Err` when it is malformed.
fn parse_keyslot(
    id: u32,
    ks: &Map<String, Value>,
    area_start: u64,
    area_end: u64,
) -> Result<Result<Keyslot, String>, LuksError> {
    let what = format!("keyslot {id}");
    let kind = str_field(ks, "type", &what)?;
    if kind != "luks2" {
        return Ok(Err(format!("type {kind}")));
    }
    let key_size = u32_field(ks, "key_size", &what)? as usize;
    if key_size == 0 || key_size > MAX_KEY_LEN {
        return Ok(Err(format!("{key_size}-byte key")));
    }
    let priority = match ks.get("priority") {
        None => 1,
        Some(p) => match p.as_u64() {
            Some(n @ 0..=2) => n as u8,
            _ => return Err(bad(format!("{what}: priority is not 0, 1 or 2"))),
        },
    };

    let area = obj(field(ks, "area", &what)?, &what)?;
    let area_kind = str_field(area, "type", &what)?;
    if area_kind != "raw" {
        return Ok(Err(format!("area type {area_kind}")));
    }
    let area_offset = u64_field(area, "offset", &what)?;
    let area_size = u64_field(area, "size", &what)?;
    let area_key_size = u32_field(area, "key_size", &what)? as usize;
    if let Err(why) = check_cipher(str_field(area, "encryption", &what)?, area_key_size, "area") {
        return Ok(Err(why));
    }
    let area_fits = area_offset % SECTOR == 0
        && area_offset >= area_start
        && area_offset.checked_add(area_size).is_some_and(|end| end <= area_end);
    if !area_fits {
        return Err(bad(format!(
            "{what}: area {area_offset}+{area_size} is not inside the keyslots area"
        )));
    }

    let af = obj(field(ks, "af", &what)?, &what)?;
    let af_kind = str_field(af, "type", &what)?;
    if af_kind != "luks1" {
        return Ok(Err(format!("AF type {af_kind}")));
    }
    let stripes = u32_field(af, "stripes", &what)?;
    if stripes == 0 || stripes > MAX_STRIPES {
        return Err(bad(format!("{what}: {stripes} AF stripes (1 to {MAX_STRIPES})")));
    }
    let af_hash_name = str_field(af, "hash", &what)?;
    let Some(af_hash) = Hash::parse(af_hash_name) else {
        return Ok(Err(format!("AF hash {af_hash_name}")));
    };

    let kdf = obj(field(ks, "kdf", &what)?, &what)?;
    let kdf = match str_field(kdf, "type", &what)? {
        "pbkdf2" => {
            let hash_name = str_field(kdf, "hash", &what)?;
            let Some(hash) = Hash::parse(hash_name) else {
                return Ok(Err(format!("PBKDF2 hash {hash_name}")));
            };
            let iterations = u32_field(kdf, "iterations", &what)?;
            if iterations == 0 {
                return Err(bad(format!("{what}: PBKDF2 with 0 iterations")));
            }
            Kdf::Pbkdf2 { hash, iterations, salt: b64_field(kdf, "salt", &what)? }
        }
        k @ ("argon2i" | "argon2id") => Kdf::Argon2 {
            id: k == "argon2id",
            time: u32_field(kdf, "time", &what)?,
            memory_kib: u32_field(kdf, "memory", &what)?,
            lanes: u32_field(kdf, "cpus", &what)?,
            salt: b64_field(kdf, "salt", &what)?,
        },
        other => return Ok(Err(format!("KDF {other}"))),
    };

    let slot = Keyslot {
        id,
        key_size,
        priority,
        area_offset,
        area_size,
        area_key_size,
        stripes,
        af_hash,
        kdf,
    };
    if slot.material_len() > area_size {
        return Err(bad(format!(
            "{what}: {} bytes of key material do not fit its {area_size}-byte area",
            slot.material_len()
        )));
    }
    Ok(Ok(slot))
}

fn parse_segment(s: &Map<String, Value>) -> Result<Segment, LuksError> {
    let what = "segment 0";
    let kind = str_field(s, "type", what)?;
    if kind != "crypt" {
        return Err(LuksError::Unsupported(format!("{what} of type {kind}")));
    }
    if s.contains_key("integrity") {
        return Err(LuksError::Unsupported(format!("{what} with integrity protection")));
    }
    let offset = u64_field(s, "offset", what)?;
    let size = match str_field(s, "size", what)? {
        "dynamic" => None,
        n => Some(parse_u64(n).ok_or_else(|| bad(format!("{what}: size {n:?}")))?),
    };
    let iv_tweak = u64_field(s, "iv_tweak", what)?;
    let sector_size = u32_field(s, "sector_size", what)?;
    if !matches!(sector_size, 512 | 1024 | 2048 | 4096) {
        return Err(bad(format!("{what}: sector size {sector_size}")));
    }
    if offset % SECTOR != 0 || size.is_some_and(|n| n % u64::from(sector_size) != 0) {
        return Err(bad(format!("{what}: offset or size not in whole sectors")));
    }
    // The segment's key is the volume key; its length is checked against the keyslots' when
    // unlocking (cryptsetup keeps no separate key size here).
    let encryption = str_field(s, "encryption", what)?;
    if encryption != "aes-xts-plain64" {
        return Err(LuksError::Unsupported(format!(
            "{what}: cipher {encryption} (polyboot supports aes-xts-plain64)"
        )));
    }
    Ok(Segment { id: 0, offset, size, iv_tweak, sector_size })
}

/// Standard base64 with padding (what cryptsetup's json-c writes). Whitespace is not allowed.
pub fn base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let t = text.as_bytes();
    if t.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(t.len() / 4 * 3);
    for (i, quad) in t.chunks_exact(4).enumerate() {
        let last = (i + 1) * 4 == t.len();
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    Some(out)
}

// ------------------------------------------------------------------------------------------
// Unlocking
// ------------------------------------------------------------------------------------------

/// The digest that checks keyslot `slot`'s key for the data segment.
fn digest_for(h: &Header, slot: u32) -> Option<&Digest> {
    h.digests.iter().find(|d| d.keyslots.contains(&slot) && d.segments.contains(&h.segment.id))
}

/// Unlock the volume key with `passphrase`: every usable keyslot (priority 2 first, priority
/// 0 never) until one's key matches its digest. `dev` is the LUKS2 device (the keyslot areas
/// are read from it). KDF costs beyond `limits` are not attempted.
pub fn unlock<R: ReadAt + ?Sized>(
    h: &Header,
    dev: &mut R,
    passphrase: &[u8],
    limits: &Limits,
) -> Result<VolumeKey, LuksError> {
    let mut order: Vec<&Keyslot> = h.keyslots.iter().filter(|k| k.priority > 0).collect();
    order.sort_by_key(|k| core::cmp::Reverse(k.priority));
    let mut skipped: Vec<String> = h.skipped_keyslots.clone();
    let mut tried = 0usize;
    let mut costly = None;
    for slot in order {
        let Some(digest) = digest_for(h, slot.id) else {
            skipped.push(format!("{}: no digest for the data segment", slot.id));
            continue;
        };
        let cost = slot.kdf.over(limits).or_else(|| {
            (digest.iterations > limits.max_pbkdf2_iterations).then(|| {
                format!(
                    "digest with {} PBKDF2 iterations (limit {})",
                    digest.iterations, limits.max_pbkdf2_iterations
                )
            })
        });
        if let Some(why) = cost {
            let why = format!("keyslot {}: {why}", slot.id);
            skipped.push(why.clone());
            costly.get_or_insert(why);
            continue;
        }
        match open_keyslot(slot, digest, dev, passphrase) {
            Ok(Some(key)) => return Ok(key),
            Ok(None) => tried += 1,
            // Parameters the KDF refuses (an Argon2 salt under 8 bytes, ...): the next slot
            // may still do.
            Err(LuksError::Unsupported(why)) => skipped.push(format!("{}: {why}", slot.id)),
            Err(e) => return Err(e),
        }
    }
    if tried > 0 {
        return Err(LuksError::WrongPassphrase);
    }
    if let Some(why) = costly {
        return Err(LuksError::TooCostly(why));
    }
    Err(LuksError::NoUsableKeyslot(if skipped.is_empty() {
        "the header has no keyslot".to_string()
    } else {
        skipped.join("; ")
    }))
}

/// One keyslot: `Ok(None)` when the passphrase does not open it.
fn open_keyslot<R: ReadAt + ?Sized>(
    slot: &Keyslot,
    digest: &Digest,
    dev: &mut R,
    passphrase: &[u8],
) -> Result<Option<VolumeKey>, LuksError> {
    let mut area_key = Zeroizing::new(vec![0u8; slot.area_key_size]);
    slot.kdf.derive(passphrase, &mut area_key)?;
    // At most MAX_KEY_LEN * MAX_STRIPES (4 MiB), checked against the area when parsed.
    let mut material = Zeroizing::new(vec![0u8; slot.material_len() as usize]);
    dev.read_at(slot.area_offset, &mut material)?;
    let xts = Xts::new(&area_key).map_err(LuksError::Unsupported)?;
    xts.crypt(&mut material, 512, 0, 1, false);
    let material = material.get(..slot.key_size * slot.stripes as usize).unwrap_or_default();
    let key = af_merge(material, slot.key_size, slot.af_hash);
    let mut check = Zeroizing::new(vec![0u8; digest.digest.len()]);
    digest.hash.pbkdf2(&key, &digest.salt, digest.iterations, &mut check);
    Ok(same(&check, &digest.digest).then(|| VolumeKey(key)))
}

/// Comparison whose time does not depend on where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// LUKS1 anti-forensic merge: `material` is `stripes` blocks of `key_size` bytes; XOR each
/// block but the last into a buffer, diffusing the buffer after each, then XOR the last.
pub fn af_merge(material: &[u8], key_size: usize, hash: Hash) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(vec![0u8; key_size]);
    if key_size == 0 {
        return buf;
    }
    let blocks: Vec<&[u8]> = material.chunks_exact(key_size).collect();
    let Some((last, rest)) = blocks.split_last() else {
        return buf;
    };
    for block in rest {
        xor_into(&mut buf, block);
        diffuse(&mut buf, hash);
    }
    xor_into(&mut buf, last);
    buf
}

fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

/// AF diffusion: each digest-sized chunk `i` of `buf` (the last one possibly shorter)
/// becomes the first bytes of H(be32(i) || chunk).
fn diffuse(buf: &mut [u8], hash: Hash) {
    use sha2::Digest as _;
    let size = match hash {
        Hash::Sha256 => 32,
        Hash::Sha512 => 64,
    };
    for (i, chunk) in buf.chunks_mut(size).enumerate() {
        let iv = (i as u32).to_be_bytes();
        let mut d: Zeroizing<[u8; 64]> = Zeroizing::new([0; 64]);
        match hash {
            Hash::Sha256 => {
                let out = sha2::Sha256::new().chain_update(iv).chain_update(&*chunk).finalize();
                d[..32].copy_from_slice(&out);
            }
            Hash::Sha512 => {
                let out = sha2::Sha512::new().chain_update(iv).chain_update(&*chunk).finalize();
                d.copy_from_slice(&out);
            }
        }
        let n = chunk.len();
        chunk.copy_from_slice(&d[..n]);
    }
}

// ------------------------------------------------------------------------------------------
// aes-xts-plain64
// ------------------------------------------------------------------------------------------

/// aes-xts with the key split in two halves (data key, tweak key), as dm-crypt does.
enum Xts {
    Aes128(Box<Xts128<Aes128>>),
    Aes256(Box<Xts128<Aes256>>),
}

impl Xts {
    fn new(key: &[u8]) -> Result<Xts, String> {
        let half = key.len() / 2;
        let (k1, k2) = key.split_at(half);
        match key.len() {
            32 => Ok(Xts::Aes128(Box::new(Xts128::new(
                Aes128::new_from_slice(k1).map_err(|e| e.to_string())?,
                Aes128::new_from_slice(k2).map_err(|e| e.to_string())?,
            )))),
            64 => Ok(Xts::Aes256(Box::new(Xts128::new(
                Aes256::new_from_slice(k1).map_err(|e| e.to_string())?,
                Aes256::new_from_slice(k2).map_err(|e| e.to_string())?,
            )))),
            n => Err(format!("aes-xts-plain64 key of {n} bytes (32 or 64)")),
        }
    }

    /// En- or decrypt `buf` in `sector_size` units; the first gets IV `first_iv`, each next
    /// one `iv_step` more (plain64: the IV is the 64-bit little-endian sector number).
    /// `buf` is whole sectors of at least 16 bytes (checked by the callers).
    fn crypt(&self, buf: &mut [u8], sector_size: usize, first_iv: u64, iv_step: u64, enc: bool) {
        let mut iv = first_iv;
        for sector in buf.chunks_exact_mut(sector_size) {
            let mut tweak = [0u8; 16];
            tweak[..8].copy_from_slice(&iv.to_le_bytes());
            match (self, enc) {
                (Xts::Aes128(x), false) => x.decrypt_sector(sector, tweak),
                (Xts::Aes128(x), true) => x.encrypt_sector(sector, tweak),
                (Xts::Aes256(x), false) => x.decrypt_sector(sector, tweak),
                (Xts::Aes256(x), true) => x.encrypt_sector(sector, tweak),
            }
            // plain64 wraps at 2^64, as dm-crypt's does.
            iv = iv.wrapping_add(iv_step);
        }
    }
}

fn segment_crypt(
    key: &VolumeKey,
    segment: &Segment,
    first_sector: u64,
    buf: &mut [u8],
    enc: bool,
) -> Result<(), LuksError> {
    let ss = segment.sector_size as usize;
    if !matches!(ss, 512 | 1024 | 2048 | 4096) || buf.len() % ss != 0 {
        return Err(LuksError::Request(format!(
            "{} bytes are not whole {ss}-byte sectors",
            buf.len()
        )));
    }
    let step = u64::from(segment.sector_size) / SECTOR;
    let first_iv =
        first_sector
            .checked_mul(step)
            .and_then(|iv| iv.checked_add(segment.iv_tweak))
            .ok_or_else(|| LuksError::Request(format!("sector {first_sector} out of range")))?;
    let xts = Xts::new(key.as_bytes()).map_err(LuksError::Request)?;
    xts.crypt(buf, ss, first_iv, step, enc);
    Ok(())
}

/// Encrypt `buf` (whole segment sectors) as the data segment's sectors from `first_sector`
/// (counted in `segment.sector_size` units from the segment's start) on, as dm-crypt writes
/// them.
pub fn encrypt_sectors(
    key: &VolumeKey,
    segment: &Segment,
    first_sector: u64,
    buf: &mut [u8],
) -> Result<(), LuksError> {
    segment_crypt(key, segment, first_sector, buf, true)
}

/// The inverse of [`encrypt_sectors`].
pub fn decrypt_sectors(
    key: &VolumeKey,
    segment: &Segment,
    first_sector: u64,
    buf: &mut [u8],
) -> Result<(), LuksError> {
    segment_crypt(key, segment, first_sector, buf, false)
}

/// The dm-crypt target of the data segment: `sectors` (512-byte units) from 0, type `crypt`,
/// parameters `aes-xts-plain64 <hex key> <iv_tweak> <major:minor> <offset sectors>` plus
/// `1 sector_size:N` when the segment's sectors are larger than 512 bytes. Holds the key:
/// wiped when dropped.
pub struct DmCrypt {
    pub sectors: u64,
    pub params: Zeroizing<String>,
}

impl DmCrypt {
    /// The `dmsetup` table line, `0 <sectors> crypt <params>`.
    pub fn line(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("0 {} crypt {}", self.sectors, self.params.as_str()))
    }
}

impl fmt::Debug for DmCrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DmCrypt({} sectors)", self.sectors)
    }
}

/// [`DmCrypt`] over device `major:minor` of `device_size` bytes (the whole LUKS2 volume).
pub fn dm_crypt_table(
    h: &Header,
    key: &VolumeKey,
    major: u32,
    minor: u32,
    device_size: u64,
) -> Result<DmCrypt, LuksError> {
    let s = &h.segment;
    let len = s.len_on(device_size).filter(|&n| n > 0).ok_or_else(|| {
        LuksError::Request(format!(
            "the device ({device_size} bytes) ends before the data segment (offset {})",
            s.offset
        ))
    })?;
    Xts::new(key.as_bytes()).map_err(LuksError::Request)?;
    let mut params = Zeroizing::new(format!(
        "aes-xts-plain64 {} {} {major}:{minor} {}",
        key.to_hex().as_str(),
        s.iv_tweak,
        s.offset / SECTOR
    ));
    if s.sector_size != 512 {
        params.push_str(&format!(" 1 sector_size:{}", s.sector_size));
    }
    Ok(DmCrypt { sectors: len / SECTOR, params })
}

#[cfg(test)]
mod tests;
