//! Windows registry hive files ("regf"): a reader for untrusted bytes and a writer.
//!
//! Used for the BCD store ([`crate::bcd`]) and for the policy values Windows To Go needs in an
//! applied image's `SYSTEM` hive. A hive is parsed into an in-memory tree of [`KeyNode`]s,
//! edited there, and written back as a whole new hive: keys keep their names, classes,
//! timestamps, flags, security descriptors and values; the layout (cells, lists, free space)
//! is ours. Transaction logs (`.LOG1` / `.LOG2`) are not replayed; a hive whose sequence
//! numbers differ is still read ([`Hive::dirty`] says so), as its primary file stands. A
//! rewritten hive is clean, with a sequence number one past the newest it was read with, so
//! that a log left beside it is older than it (removing such logs is the caller's business).
//!
//! # Format (as written)
//!
//! A 4096-byte base block (`regf`, sequence numbers, version 1.5, root cell offset, length of
//! the hive bins, XOR checksum of its first 508 bytes), then hive bins (`hbin`, multiples of
//! 4096 bytes) holding cells: a signed 32-bit size (negative = allocated, multiple of 8) and
//! the cell's data. Cell offsets count from the first hbin. Keys are `nk` cells, values `vk`
//! cells with their data inline (≤ 4 bytes), in a data cell, or as big data (`db`, segments of
//! 16344 bytes) above 16344 bytes; security descriptors live in shared `sk` cells on a
//! circular list; subkeys in `lh` lists sorted by upper-cased name (with the name hash),
//! split under an `ri` index above [`MAX_LEAF_ENTRIES`] so that a list fits a 4 KiB bin as
//! Windows keeps it. The reader also accepts `lf` and `li` lists.
//!
//! # Bounded effort on hostile input
//!
//! [`Hive::parse`] first walks the hbins linearly and records where each cell starts; every
//! offset read afterwards must be the start of an allocated cell, so cells cannot overlap and
//! no offset leaves the file. Every cell except `sk` may be used once only (a second use —
//! a cycle in the key tree or subkey lists, or two keys sharing a value — is an error), and
//! security descriptors are decoded once per `sk` cell and shared. Counts are checked against
//! the cells that hold them before anything is allocated for them. So parsing does work and
//! allocates memory linear in the input's length, nesting is limited to [`MAX_DEPTH`] keys and
//! the walk uses no recursion. Errors, never panics.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Length of the base block and the granularity of hive bins.
pub const BLOCK: usize = 4096;
/// Largest piece of value data in one cell; longer data is split into big-data segments.
pub const BIG_DATA_SEGMENT: usize = 16344;
/// Deepest key nesting accepted and written (Windows' own limit is 512 levels).
pub const MAX_DEPTH: usize = 512;
/// Subkeys per `lh` leaf we write before splitting under an `ri` index (Windows keeps a
/// leaf within one 4 KiB bin: (4096 - 32 - 8) / 8 = 507 entries).
pub const MAX_LEAF_ENTRIES: usize = 500;
/// Longest key name, in UTF-16 code units.
pub const MAX_KEY_NAME: usize = 255;
/// Longest value name, in UTF-16 code units.
pub const MAX_VALUE_NAME: usize = 16383;

pub const REG_NONE: u32 = 0;
pub const REG_SZ: u32 = 1;
pub const REG_EXPAND_SZ: u32 = 2;
pub const REG_BINARY: u32 = 3;
pub const REG_DWORD: u32 = 4;
pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
pub const REG_LINK: u32 = 6;
pub const REG_MULTI_SZ: u32 = 7;
pub const REG_QWORD: u32 = 11;

// nk flags.
const KEY_VOLATILE: u16 = 0x0001;
const KEY_HIVE_EXIT: u16 = 0x0002;
const KEY_HIVE_ENTRY: u16 = 0x0004;
const KEY_NO_DELETE: u16 = 0x0008;
const KEY_COMP_NAME: u16 = 0x0020;
/// Flags the writer computes itself rather than copying from a [`KeyNode`].
const KEY_COMPUTED_FLAGS: u16 = KEY_VOLATILE | KEY_HIVE_EXIT | KEY_HIVE_ENTRY | KEY_COMP_NAME;
// vk flags.
const VALUE_COMP_NAME: u16 = 0x0001;

const NONE: u32 = 0xFFFF_FFFF;
const HBIN_HEADER: usize = 32;
const NK_FIXED: usize = 0x4C;
const VK_FIXED: usize = 0x14;
const SK_FIXED: usize = 0x14;

/// Why a hive could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegfError {
    /// The file ends before the named structure does.
    Truncated { what: &'static str },
    /// A structure lacks its signature (`regf`, `hbin`, `nk`, `vk`, ...).
    BadSignature { what: &'static str, offset: u32 },
    /// The base block's checksum does not match its contents.
    BadChecksum { stored: u32, computed: u32 },
    /// Not a version 1 hive.
    UnsupportedVersion { major: u32, minor: u32 },
    /// A hive bin header or cell layout that is not valid at this file offset.
    BadHbin { offset: u32 },
    /// An offset that is not the start of an allocated cell, or a cell too small for what
    /// it should hold.
    BadCell { what: &'static str, offset: u32 },
    /// A cell used twice: a cycle in the key tree, or structures sharing a cell.
    CellReused { offset: u32 },
    /// A count that disagrees with the cells that should hold it.
    BadCount { what: &'static str, offset: u32 },
    /// Keys nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A key or value name that a hive cannot hold.
    BadName { name: String, reason: &'static str },
    /// Two subkeys of one key whose names are equal ignoring case.
    DuplicateKey { name: String },
    /// Something too large for the format (data, counts, the whole hive).
    TooLarge { what: &'static str },
    /// A key path that does not exist.
    NotFound { path: String },
    /// A value whose type or length is not what was asked for.
    WrongType {
        name: String,
        expected: &'static str,
    },
}

impl core::error::Error for RegfError {}

impl fmt::Display for RegfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegfError::Truncated { what } => write!(f, "hive truncated: {what} runs past the end"),
            RegfError::BadSignature { what, offset } => {
                write!(f, "hive: no {what} signature at offset {offset:#x}")
            }
            RegfError::BadChecksum { stored, computed } => write!(
                f,
                "hive base block checksum is {stored:#010x}, its contents give {computed:#010x}"
            ),
            RegfError::UnsupportedVersion { major, minor } => {
                write!(f, "hive format version {major}.{minor} is not supported")
            }
            RegfError::BadHbin { offset } => {
                write!(f, "hive bin at file offset {offset:#x} is malformed")
            }
            RegfError::BadCell { what, offset } => {
                write!(
                    f,
                    "hive: {what} at cell offset {offset:#x} is not a valid cell"
                )
            }
            RegfError::CellReused { offset } => write!(
                f,
                "hive: cell {offset:#x} is used twice (a cycle or shared structure)"
            ),
            RegfError::BadCount { what, offset } => {
                write!(
                    f,
                    "hive: the {what} count of cell {offset:#x} does not match its cells"
                )
            }
            RegfError::TooDeep => write!(f, "hive: keys nested deeper than {MAX_DEPTH} levels"),
            RegfError::BadName { name, reason } => write!(f, "registry name {name:?}: {reason}"),
            RegfError::DuplicateKey { name } => {
                write!(f, "registry key {name:?} appears twice under one parent")
            }
            RegfError::TooLarge { what } => write!(f, "hive: {what} too large for the format"),
            RegfError::NotFound { path } => write!(f, "registry key {path:?} not found"),
            RegfError::WrongType { name, expected } => {
                write!(f, "registry value {name:?} is not {expected}")
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// The tree.

/// A registry value: name (empty = the key's default value), type code and raw data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub name: String,
    /// `REG_*` code; any 32-bit code is kept (BCD uses the standard ones).
    pub kind: u32,
    pub data: Vec<u8>,
}

impl Value {
    /// A value of any type code with raw data.
    pub fn raw(name: &str, kind: u32, data: Vec<u8>) -> Value {
        Value {
            name: name.into(),
            kind,
            data,
        }
    }
    pub fn sz(name: &str, text: &str) -> Value {
        Value::raw(name, REG_SZ, utf16z(text))
    }
    pub fn expand_sz(name: &str, text: &str) -> Value {
        Value::raw(name, REG_EXPAND_SZ, utf16z(text))
    }
    pub fn binary(name: &str, data: &[u8]) -> Value {
        Value::raw(name, REG_BINARY, data.to_vec())
    }
    pub fn dword(name: &str, v: u32) -> Value {
        Value::raw(name, REG_DWORD, v.to_le_bytes().to_vec())
    }
    pub fn qword(name: &str, v: u64) -> Value {
        Value::raw(name, REG_QWORD, v.to_le_bytes().to_vec())
    }
    /// `REG_MULTI_SZ`: each string NUL-terminated, then one more NUL.
    pub fn multi_sz(name: &str, items: &[&str]) -> Value {
        let mut data = Vec::new();
        for s in items {
            data.extend(utf16z(s));
        }
        data.extend([0, 0]);
        Value::raw(name, REG_MULTI_SZ, data)
    }

    /// The data as a DWORD (`REG_DWORD`, 4 bytes).
    pub fn as_dword(&self) -> Option<u32> {
        match (self.kind, self.data.as_slice()) {
            (REG_DWORD, [a, b, c, d]) => Some(u32::from_le_bytes([*a, *b, *c, *d])),
            _ => None,
        }
    }
    /// The data as a QWORD (`REG_QWORD`, 8 bytes).
    pub fn as_qword(&self) -> Option<u64> {
        match self.kind {
            REG_QWORD => Some(u64::from_le_bytes(self.data.as_slice().try_into().ok()?)),
            _ => None,
        }
    }
    /// A `REG_SZ` / `REG_EXPAND_SZ` / `REG_LINK` string, up to its first NUL (lossy UTF-16).
    pub fn as_string(&self) -> Option<String> {
        match self.kind {
            REG_SZ | REG_EXPAND_SZ | REG_LINK => {
                let units = utf16_units(&self.data);
                let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
                Some(decode_utf16_lossy(&units[..end]))
            }
            _ => None,
        }
    }
    /// The strings of a `REG_MULTI_SZ` (an empty string ends the list, as Windows reads it).
    pub fn as_multi_sz(&self) -> Option<Vec<String>> {
        if self.kind != REG_MULTI_SZ {
            return None;
        }
        let units = utf16_units(&self.data);
        let mut out = Vec::new();
        for part in units.split(|&u| u == 0) {
            if part.is_empty() {
                break;
            }
            out.push(decode_utf16_lossy(part));
        }
        Some(out)
    }
}

/// One key: its name, metadata, values and subkeys (in the order read or added; the writer
/// sorts subkeys as Windows requires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNode {
    pub name: String,
    /// Class name, raw UTF-16LE bytes as stored (most keys have none).
    pub class: Option<Vec<u8>>,
    /// Self-relative security descriptor; `None` gets [`default_security_descriptor`].
    pub security: Option<Arc<[u8]>>,
    /// Last-written time, Windows FILETIME (100 ns since 1601).
    pub timestamp: u64,
    /// nk flags other than those the writer computes (e.g. `KEY_SYM_LINK` = 0x10,
    /// `KEY_NO_DELETE` = 0x08).
    pub flags: u16,
    pub values: Vec<Value>,
    pub subkeys: Vec<KeyNode>,
}

impl KeyNode {
    pub fn new(name: &str) -> KeyNode {
        KeyNode {
            name: name.into(),
            class: None,
            security: None,
            timestamp: 0,
            flags: 0,
            values: Vec::new(),
            subkeys: Vec::new(),
        }
    }

    /// The direct subkey with this name, compared as Windows does (case-insensitive).
    pub fn subkey(&self, name: &str) -> Option<&KeyNode> {
        self.subkeys.iter().find(|k| names_equal(&k.name, name))
    }
    pub fn subkey_mut(&mut self, name: &str) -> Option<&mut KeyNode> {
        self.subkeys.iter_mut().find(|k| names_equal(&k.name, name))
    }

    /// The key at a `\`-separated path below this one (empty components ignored).
    pub fn get(&self, path: &str) -> Option<&KeyNode> {
        path.split('\\')
            .filter(|c| !c.is_empty())
            .try_fold(self, |k, c| k.subkey(c))
    }
    pub fn get_mut(&mut self, path: &str) -> Option<&mut KeyNode> {
        let mut key = self;
        for c in path.split('\\').filter(|c| !c.is_empty()) {
            key = key.subkey_mut(c)?;
        }
        Some(key)
    }

    /// The key at `path`, creating missing keys along it (new keys get `timestamp`).
    pub fn create_path(&mut self, path: &str, timestamp: u64) -> Result<&mut KeyNode, RegfError> {
        let mut key = self;
        for c in path.split('\\').filter(|c| !c.is_empty()) {
            check_key_name(c, false)?;
            let i = match key.subkeys.iter().position(|k| names_equal(&k.name, c)) {
                Some(i) => i,
                None => {
                    let mut k = KeyNode::new(c);
                    k.timestamp = timestamp;
                    key.subkeys.push(k);
                    key.subkeys.len() - 1
                }
            };
            key = &mut key.subkeys[i];
        }
        Ok(key)
    }

    /// Add a subkey (fails when one of that name exists) and return it.
    pub fn add_subkey(&mut self, key: KeyNode) -> Result<&mut KeyNode, RegfError> {
        check_key_name(&key.name, false)?;
        if self.subkey(&key.name).is_some() {
            return Err(RegfError::DuplicateKey { name: key.name });
        }
        self.subkeys.push(key);
        Ok(self.subkeys.last_mut().unwrap())
    }

    /// The value with this name (case-insensitive; "" = default value).
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|v| names_equal(&v.name, name))
    }

    /// Set a value, replacing one of the same name (case-insensitive) in place.
    pub fn set_value(&mut self, value: Value) {
        match self
            .values
            .iter_mut()
            .find(|v| names_equal(&v.name, &value.name))
        {
            Some(v) => *v = value,
            None => self.values.push(value),
        }
    }

    /// Remove a value; true when it existed.
    pub fn remove_value(&mut self, name: &str) -> bool {
        let before = self.values.len();
        self.values.retain(|v| !names_equal(&v.name, name));
        self.values.len() != before
    }
}

/// A parsed hive: the key tree and the base block fields worth keeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hive {
    pub root: KeyNode,
    /// The base block's file name field (often a path such as `\SystemRoot\...\SYSTEM`).
    pub file_name: String,
    /// The base block's last-written time.
    pub timestamp: u64,
    /// The format's minor version as read (the writer always writes 1.5).
    pub minor_version: u32,
    /// The higher of the base block's two sequence numbers.
    pub sequence: u32,
    /// Primary and secondary sequence numbers differ: the hive has changes only in its log.
    pub dirty: bool,
}

impl Hive {
    /// A new empty hive with a root key of this name.
    pub fn new(root_name: &str) -> Hive {
        let mut root = KeyNode::new(root_name);
        root.flags = KEY_NO_DELETE;
        Hive {
            root,
            file_name: String::new(),
            timestamp: 0,
            minor_version: 5,
            sequence: 0,
            dirty: false,
        }
    }

    /// Read a hive file from untrusted bytes (see the module docs for the limits).
    pub fn parse(bytes: &[u8]) -> Result<Hive, RegfError> {
        Parser::new(bytes)?.run()
    }

    /// Write the whole hive anew: clean, with sequence number [`Hive::sequence`] + 1.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RegfError> {
        let sequence = self.sequence.wrapping_add(1).max(1);
        write_hive(&self.root, &self.file_name, self.timestamp, sequence)
    }

    /// `ControlSetNNN` as `Select\Current` of a `SYSTEM` hive names it.
    pub fn current_control_set(&self) -> Result<String, RegfError> {
        let select = self.root.get("Select").ok_or_else(|| RegfError::NotFound {
            path: "Select".into(),
        })?;
        let current = select.value("Current").ok_or_else(|| RegfError::NotFound {
            path: "Select\\Current".into(),
        })?;
        let n = current.as_dword().ok_or_else(|| RegfError::WrongType {
            name: "Select\\Current".into(),
            expected: "a REG_DWORD",
        })?;
        let name = alloc::format!("ControlSet{n:03}");
        if self.root.subkey(&name).is_none() {
            return Err(RegfError::NotFound { path: name });
        }
        Ok(name)
    }
}

/// The Windows To Go policy in an applied image's `SYSTEM` hive: `Control\
/// PortableOperatingSystem` = 1 and, when `internal_disks_offline`, `Services\partmgr\
/// Parameters\SanPolicy` = 4 (internal disks offline), in the current control set.
pub fn set_portable_workspace_policy(
    system: &mut Hive,
    internal_disks_offline: bool,
    timestamp: u64,
) -> Result<(), RegfError> {
    let set = system.current_control_set()?;
    let control = system
        .root
        .create_path(&alloc::format!("{set}\\Control"), timestamp)?;
    control.set_value(Value::dword("PortableOperatingSystem", 1));
    if internal_disks_offline {
        let params = system.root.create_path(
            &alloc::format!("{set}\\Services\\partmgr\\Parameters"),
            timestamp,
        )?;
        params.set_value(Value::dword("SanPolicy", 4));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Names.

/// Upper-case one UTF-16 code unit the way key names are compared: simple one-to-one
/// mappings only (Windows' table has no multi-character expansions either).
fn upcase_unit(u: u16) -> u16 {
    if u < 0x80 {
        return (u as u8).to_ascii_uppercase() as u16;
    }
    match char::from_u32(u as u32) {
        Some(c) => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(x), None) if (x as u32) <= 0xFFFF => x as u16,
                _ => u,
            }
        }
        None => u,
    }
}

fn folded(name: &str) -> Vec<u16> {
    name.encode_utf16().map(upcase_unit).collect()
}

/// Names equal as Windows compares them (case-insensitively, unit by unit).
pub fn names_equal(a: &str, b: &str) -> bool {
    a.encode_utf16()
        .map(upcase_unit)
        .eq(b.encode_utf16().map(upcase_unit))
}

/// The `lh` hash of a key name: h = h * 37 + upcase(unit), over its UTF-16 units.
pub fn lh_hash(name: &str) -> u32 {
    name.encode_utf16().fold(0u32, |h, u| {
        h.wrapping_mul(37).wrapping_add(upcase_unit(u) as u32)
    })
}

fn check_key_name(name: &str, root: bool) -> Result<(), RegfError> {
    let bad = |reason| {
        Err(RegfError::BadName {
            name: name.into(),
            reason,
        })
    };
    if name.encode_utf16().count() > MAX_KEY_NAME {
        return bad("a key name has at most 255 characters");
    }
    if !root && name.is_empty() {
        return bad("a key name cannot be empty");
    }
    if !root && name.contains('\\') {
        return bad("a key name cannot contain a backslash");
    }
    Ok(())
}

fn check_value_name(name: &str) -> Result<(), RegfError> {
    if name.encode_utf16().count() > MAX_VALUE_NAME {
        return Err(RegfError::BadName {
            name: name.into(),
            reason: "a value name has at most 16383 characters",
        });
    }
    Ok(())
}

fn utf16z(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    v.extend([0, 0]);
    v
}

fn utf16_units(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn decode_utf16_lossy(units: &[u16]) -> String {
    char::decode_utf16(units.iter().copied())
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// A stored name: Latin-1 bytes when `compressed`, else UTF-16LE.
fn decode_name(raw: &[u8], compressed: bool) -> String {
    if compressed {
        raw.iter().map(|&b| b as char).collect()
    } else {
        decode_utf16_lossy(&utf16_units(raw))
    }
}

/// (bytes, compressed) to store a name: Latin-1 when every character fits, as Windows does.
fn encode_name(name: &str) -> (Vec<u8>, bool) {
    if name.chars().all(|c| (c as u32) <= 0xFF) {
        (name.chars().map(|c| c as u8).collect(), true)
    } else {
        (
            name.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            false,
        )
    }
}

// ------------------------------------------------------------------------------------------
// Little-endian helpers on slices that have been bounds-checked by the caller's `get`.

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// XOR of the base block's first 127 dwords, with 0 and -1 mapped away as Windows does.
pub fn base_block_checksum(block: &[u8]) -> u32 {
    let x = block[..508].chunks_exact(4).fold(0u32, |x, c| {
        x ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]])
    });
    match x {
        0xFFFF_FFFF => 0xFFFF_FFFE,
        0 => 1,
        x => x,
    }
}

// ------------------------------------------------------------------------------------------
// Reader.

struct Parser<'a> {
    /// The hive bins (file bytes from 0x1000 to the end of the last bin).
    bins: &'a [u8],
    /// One bit per 8-byte slot: an allocated cell starts here.
    starts: Vec<u64>,
    /// One bit per 8-byte slot: this cell has been used.
    used: Vec<u64>,
    security: BTreeMap<u32, Arc<[u8]>>,
    file_name: String,
    timestamp: u64,
    minor: u32,
    sequence: u32,
    dirty: bool,
    root_offset: u32,
}

fn bit(set: &[u64], i: usize) -> bool {
    set.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// What a subkey list entry leads to.
struct PendingKey {
    offset: u32,
    depth: usize,
    /// Index path of the parent in the tree being built (empty for the root).
    parent: Vec<usize>,
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Result<Parser<'a>, RegfError> {
        let base = bytes
            .get(..BLOCK)
            .ok_or(RegfError::Truncated { what: "base block" })?;
        if &base[..4] != b"regf" {
            return Err(RegfError::BadSignature {
                what: "regf",
                offset: 0,
            });
        }
        let stored = le32(base, 0x1FC).unwrap_or(0);
        let computed = base_block_checksum(base);
        if stored != computed {
            return Err(RegfError::BadChecksum { stored, computed });
        }
        let (major, minor) = (le32(base, 0x14).unwrap_or(0), le32(base, 0x18).unwrap_or(0));
        if major != 1 || minor > 6 {
            return Err(RegfError::UnsupportedVersion { major, minor });
        }
        let data_len = le32(base, 0x28).unwrap_or(0) as usize;
        if data_len == 0 || data_len % BLOCK != 0 {
            return Err(RegfError::BadHbin {
                offset: BLOCK as u32,
            });
        }
        let bins = bytes
            .get(BLOCK..BLOCK.saturating_add(data_len))
            .ok_or(RegfError::Truncated { what: "hive bins" })?;
        let name_raw = &base[0x30..0x70];
        let units = utf16_units(name_raw);
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        let slots = bins.len() / 8;
        let mut p = Parser {
            bins,
            starts: vec![0; slots.div_ceil(64)],
            used: vec![0; slots.div_ceil(64)],
            security: BTreeMap::new(),
            file_name: decode_utf16_lossy(&units[..end]),
            timestamp: le64(base, 0x0C).unwrap_or(0),
            minor,
            sequence: le32(base, 4).max(le32(base, 8)).unwrap_or(0),
            dirty: le32(base, 4) != le32(base, 8),
            root_offset: le32(base, 0x24).unwrap_or(NONE),
        };
        p.scan_bins()?;
        Ok(p)
    }

    /// Walk every hbin and its cells once, recording where allocated cells start.
    fn scan_bins(&mut self) -> Result<(), RegfError> {
        let mut at = 0usize;
        while at < self.bins.len() {
            let file_off = (at + BLOCK) as u32;
            let hdr = self
                .bins
                .get(at..at + HBIN_HEADER)
                .ok_or(RegfError::BadHbin { offset: file_off })?;
            if &hdr[..4] != b"hbin" {
                return Err(RegfError::BadSignature {
                    what: "hbin",
                    offset: file_off,
                });
            }
            let size = le32(hdr, 8).unwrap_or(0) as usize;
            if le32(hdr, 4) != Some(at as u32)
                || size == 0
                || size % BLOCK != 0
                || size > self.bins.len() - at
            {
                return Err(RegfError::BadHbin { offset: file_off });
            }
            let end = at + size;
            let mut cell = at + HBIN_HEADER;
            while cell < end {
                let raw =
                    le32(self.bins, cell).ok_or(RegfError::BadHbin { offset: file_off })? as i32;
                let len = raw.unsigned_abs() as usize;
                if len < 8 || len % 8 != 0 || len > end - cell {
                    return Err(RegfError::BadHbin { offset: file_off });
                }
                if raw < 0 {
                    self.starts[cell / 512] |= 1 << ((cell / 8) % 64);
                }
                cell += len;
            }
            at = end;
        }
        Ok(())
    }

    /// The data of the allocated cell at `offset` (after its size field).
    fn cell(&self, offset: u32, what: &'static str) -> Result<&'a [u8], RegfError> {
        let o = offset as usize;
        if o % 8 != 0 || !bit(&self.starts, o / 8) {
            return Err(RegfError::BadCell { what, offset });
        }
        // A recorded start has a valid negative size inside its bin.
        let len = (le32(self.bins, o).unwrap_or(0) as i32).unsigned_abs() as usize;
        self.bins
            .get(o + 4..o + len)
            .ok_or(RegfError::BadCell { what, offset })
    }

    /// The cell, marking it used: a cell may hold one structure only.
    fn claim(&mut self, offset: u32, what: &'static str) -> Result<&'a [u8], RegfError> {
        let data = self.cell(offset, what)?;
        let i = offset as usize / 8;
        if bit(&self.used, i) {
            return Err(RegfError::CellReused { offset });
        }
        self.used[i / 64] |= 1 << (i % 64);
        Ok(data)
    }

    fn run(mut self) -> Result<Hive, RegfError> {
        let root_offset = self.root_offset;
        let mut root: Option<KeyNode> = None;
        let mut stack = vec![PendingKey {
            offset: root_offset,
            depth: 1,
            parent: Vec::new(),
        }];
        while let Some(p) = stack.pop() {
            if p.depth > MAX_DEPTH {
                return Err(RegfError::TooDeep);
            }
            let (node, children) =
                self.read_key(p.offset, p.parent.is_empty() && root.is_none())?;
            // Place the node: children are pushed in reverse so they are built in list order.
            let index_path = match root.as_mut() {
                None => {
                    root = Some(node);
                    Vec::new()
                }
                Some(r) => {
                    let parent = walk_mut(r, &p.parent);
                    parent.subkeys.push(node);
                    let mut path = p.parent.clone();
                    path.push(parent.subkeys.len() - 1);
                    path
                }
            };
            for &c in children.iter().rev() {
                stack.push(PendingKey {
                    offset: c,
                    depth: p.depth + 1,
                    parent: index_path.clone(),
                });
            }
        }
        let root = root.ok_or(RegfError::BadCell {
            what: "root key",
            offset: root_offset,
        })?;
        check_subkey_names(&root)?;
        Ok(Hive {
            root,
            file_name: self.file_name,
            timestamp: self.timestamp,
            minor_version: self.minor,
            sequence: self.sequence,
            dirty: self.dirty,
        })
    }

    /// One nk cell: the node without subkeys, and its subkeys' cell offsets in list order.
    fn read_key(&mut self, offset: u32, is_root: bool) -> Result<(KeyNode, Vec<u32>), RegfError> {
        let nk = self.claim(offset, "key")?;
        if nk.len() < NK_FIXED || &nk[..2] != b"nk" {
            return Err(RegfError::BadSignature { what: "nk", offset });
        }
        let r32 = |at| le32(nk, at).unwrap_or(0);
        let flags = le16(nk, 2).unwrap_or(0);
        let name_len = le16(nk, 0x48).unwrap_or(0) as usize;
        let class_len = le16(nk, 0x4A).unwrap_or(0) as usize;
        let raw_name = nk
            .get(NK_FIXED..NK_FIXED + name_len)
            .ok_or(RegfError::BadCell {
                what: "key name",
                offset,
            })?;
        let name = decode_name(raw_name, flags & KEY_COMP_NAME != 0);
        check_key_name(&name, is_root)?;
        let mut node = KeyNode::new(&name);
        node.timestamp = le64(nk, 4).unwrap_or(0);
        node.flags = flags & !KEY_COMPUTED_FLAGS;

        if class_len > 0 {
            let at = r32(0x30);
            let c = self.claim(at, "class name")?;
            node.class = Some(
                c.get(..class_len)
                    .ok_or(RegfError::BadCell {
                        what: "class name",
                        offset: at,
                    })?
                    .to_vec(),
            );
        }
        let sk = r32(0x2C);
        if sk != NONE {
            node.security = Some(self.security(sk)?);
        }

        let n_values = r32(0x24) as usize;
        if n_values > 0 {
            let list_at = r32(0x28);
            let list = self.claim(list_at, "value list")?;
            if n_values > list.len() / 4 {
                return Err(RegfError::BadCount {
                    what: "value",
                    offset,
                });
            }
            node.values.reserve(n_values);
            for i in 0..n_values {
                let vk = le32(list, i * 4).unwrap_or(NONE);
                node.values.push(self.read_value(vk)?);
            }
        }

        let n_subkeys = r32(0x14) as usize;
        let mut children = Vec::new();
        if n_subkeys > 0 {
            let list_at = r32(0x1C);
            self.read_subkey_list(list_at, &mut children, true)?;
            if children.len() != n_subkeys {
                return Err(RegfError::BadCount {
                    what: "subkey",
                    offset,
                });
            }
        }
        Ok((node, children))
    }

    /// Append the nk offsets of an lf / lh / li list (or, at the top, an ri index of them).
    fn read_subkey_list(
        &mut self,
        at: u32,
        out: &mut Vec<u32>,
        allow_ri: bool,
    ) -> Result<(), RegfError> {
        let list = self.claim(at, "subkey list")?;
        if list.len() < 4 {
            return Err(RegfError::BadCell {
                what: "subkey list",
                offset: at,
            });
        }
        let count = le16(list, 2).unwrap_or(0) as usize;
        let (stride, ri) = match &list[..2] {
            b"lf" | b"lh" => (8, false),
            b"li" => (4, false),
            b"ri" if allow_ri => (4, true),
            _ => {
                return Err(RegfError::BadSignature {
                    what: "subkey list",
                    offset: at,
                })
            }
        };
        if count > (list.len() - 4) / stride {
            return Err(RegfError::BadCount {
                what: "subkey list",
                offset: at,
            });
        }
        for i in 0..count {
            let entry = le32(list, 4 + i * stride).unwrap_or(NONE);
            if ri {
                self.read_subkey_list(entry, out, false)?;
            } else {
                out.push(entry);
            }
        }
        Ok(())
    }

    fn read_value(&mut self, offset: u32) -> Result<Value, RegfError> {
        let vk = self.claim(offset, "value")?;
        if vk.len() < VK_FIXED || &vk[..2] != b"vk" {
            return Err(RegfError::BadSignature { what: "vk", offset });
        }
        let name_len = le16(vk, 2).unwrap_or(0) as usize;
        let size_raw = le32(vk, 4).unwrap_or(0);
        let data_at = le32(vk, 8).unwrap_or(NONE);
        let kind = le32(vk, 0x0C).unwrap_or(0);
        let flags = le16(vk, 0x10).unwrap_or(0);
        let raw_name = vk
            .get(VK_FIXED..VK_FIXED + name_len)
            .ok_or(RegfError::BadCell {
                what: "value name",
                offset,
            })?;
        let name = decode_name(raw_name, flags & VALUE_COMP_NAME != 0);
        check_value_name(&name)?;
        let size = (size_raw & 0x7FFF_FFFF) as usize;
        let data = if size_raw & 0x8000_0000 != 0 {
            // Small data lives in the offset field itself.
            if size > 4 {
                return Err(RegfError::BadCell {
                    what: "inline value data",
                    offset,
                });
            }
            data_at.to_le_bytes()[..size].to_vec()
        } else if size == 0 {
            Vec::new()
        } else {
            let cell = self.claim(data_at, "value data")?;
            if size > BIG_DATA_SEGMENT
                && cell.len() < size
                && cell.len() >= 8
                && &cell[..2] == b"db"
            {
                self.read_big_data(data_at, cell, size)?
            } else {
                cell.get(..size)
                    .ok_or(RegfError::BadCell {
                        what: "value data",
                        offset: data_at,
                    })?
                    .to_vec()
            }
        };
        Ok(Value { name, kind, data })
    }

    /// Big data: a `db` cell naming a list of segment cells of 16344 bytes each.
    fn read_big_data(&mut self, at: u32, db: &[u8], size: usize) -> Result<Vec<u8>, RegfError> {
        let count = le16(db, 2).unwrap_or(0) as usize;
        let list_at = le32(db, 4).unwrap_or(NONE);
        let list = self.claim(list_at, "big data segment list")?;
        if count > list.len() / 4 || count.saturating_mul(BIG_DATA_SEGMENT) < size {
            return Err(RegfError::BadCount {
                what: "big data segment",
                offset: at,
            });
        }
        let mut data = Vec::with_capacity(size);
        for i in 0..count {
            let want = (size - data.len()).min(BIG_DATA_SEGMENT);
            let seg_at = le32(list, i * 4).unwrap_or(NONE);
            let seg = self.claim(seg_at, "big data segment")?;
            let piece = seg.get(..want).ok_or(RegfError::BadCell {
                what: "big data segment",
                offset: seg_at,
            })?;
            data.extend_from_slice(piece);
        }
        if data.len() != size {
            return Err(RegfError::BadCount {
                what: "big data segment",
                offset: at,
            });
        }
        Ok(data)
    }

    /// The descriptor of an sk cell, decoded once and shared by every key using it.
    fn security(&mut self, at: u32) -> Result<Arc<[u8]>, RegfError> {
        if let Some(sd) = self.security.get(&at) {
            return Ok(sd.clone());
        }
        let sk = self.cell(at, "security")?;
        if sk.len() < SK_FIXED || &sk[..2] != b"sk" {
            return Err(RegfError::BadSignature {
                what: "sk",
                offset: at,
            });
        }
        let len = le32(sk, 0x10).unwrap_or(0) as usize;
        let sd: Arc<[u8]> = sk
            .get(SK_FIXED..SK_FIXED.saturating_add(len))
            .ok_or(RegfError::BadCell {
                what: "security descriptor",
                offset: at,
            })?
            .into();
        self.security.insert(at, sd.clone());
        Ok(sd)
    }
}

fn walk_mut<'k>(mut k: &'k mut KeyNode, path: &[usize]) -> &'k mut KeyNode {
    for &i in path {
        k = &mut k.subkeys[i];
    }
    k
}

/// Every key's subkeys have distinct names (ignoring case). Iterative: trees may be deep.
fn check_subkey_names(root: &KeyNode) -> Result<(), RegfError> {
    let mut stack = vec![root];
    while let Some(k) = stack.pop() {
        let mut names: Vec<(Vec<u16>, &str)> = k
            .subkeys
            .iter()
            .map(|s| (folded(&s.name), s.name.as_str()))
            .collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(RegfError::DuplicateKey {
                name: w[1].1.into(),
            });
        }
        stack.extend(k.subkeys.iter());
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Writer.

/// A sane default for keys without a descriptor: owner Administrators, group SYSTEM, DACL
/// (inherited by subkeys) granting full control to SYSTEM and Administrators and read access
/// to Users.
pub fn default_security_descriptor() -> Vec<u8> {
    fn sid(sub: &[u32]) -> Vec<u8> {
        // S-1-5-...: revision 1, NT authority (5, big-endian 48-bit).
        let mut v = vec![1, sub.len() as u8, 0, 0, 0, 0, 0, 5];
        for s in sub {
            v.extend(s.to_le_bytes());
        }
        v
    }
    const KEY_ALL_ACCESS: u32 = 0x000F_003F;
    const KEY_READ: u32 = 0x0002_0019;
    const CONTAINER_INHERIT: u8 = 0x02;
    let admins = sid(&[32, 544]);
    let system = sid(&[18]);
    let users = sid(&[32, 545]);
    let mut aces = Vec::new();
    for (mask, s) in [
        (KEY_ALL_ACCESS, &system),
        (KEY_ALL_ACCESS, &admins),
        (KEY_READ, &users),
    ] {
        aces.extend([0u8, CONTAINER_INHERIT]); // ACCESS_ALLOWED_ACE_TYPE
        aces.extend(((8 + s.len()) as u16).to_le_bytes());
        aces.extend(mask.to_le_bytes());
        aces.extend_from_slice(s);
    }
    let mut acl = vec![2u8, 0];
    acl.extend(((8 + aces.len()) as u16).to_le_bytes());
    acl.extend(3u16.to_le_bytes());
    acl.extend([0, 0]);
    acl.extend(aces);

    // Header: revision 1, control = SELF_RELATIVE | DACL_PRESENT, then offsets.
    let owner_at = 20u32;
    let group_at = owner_at + admins.len() as u32;
    let dacl_at = group_at + system.len() as u32;
    let mut sd = vec![1u8, 0];
    sd.extend((0x8004u16).to_le_bytes());
    sd.extend(owner_at.to_le_bytes());
    sd.extend(group_at.to_le_bytes());
    sd.extend(0u32.to_le_bytes());
    sd.extend(dacl_at.to_le_bytes());
    sd.extend(admins);
    sd.extend(system);
    sd.extend(acl);
    sd
}

/// Writes a fresh hive file from a key tree.
#[derive(Debug, Clone)]
pub struct HiveBuilder {
    root: KeyNode,
    file_name: String,
    timestamp: u64,
    sequence: u32,
}

impl HiveBuilder {
    pub fn new(root: KeyNode) -> HiveBuilder {
        HiveBuilder {
            root,
            file_name: String::new(),
            timestamp: 0,
            sequence: 1,
        }
    }
    /// Both sequence numbers of the base block (1 by default).
    pub fn sequence(mut self, n: u32) -> HiveBuilder {
        self.sequence = n;
        self
    }
    /// The base block's file name field (its first 32 UTF-16 units, 64 bytes, are kept).
    pub fn file_name(mut self, name: &str) -> HiveBuilder {
        self.file_name = name.into();
        self
    }
    /// The base block's and the first bin's last-written time (FILETIME).
    pub fn timestamp(mut self, t: u64) -> HiveBuilder {
        self.timestamp = t;
        self
    }

    pub fn build(&self) -> Result<Vec<u8>, RegfError> {
        write_hive(&self.root, &self.file_name, self.timestamp, self.sequence)
    }
}

fn write_hive(
    root: &KeyNode,
    file_name: &str,
    timestamp: u64,
    sequence: u32,
) -> Result<Vec<u8>, RegfError> {
    validate_tree(root)?;
    let mut w = Writer {
        bins: Vec::new(),
        bin_start: 0,
        next: 0,
        sk_cells: Vec::new(),
        sk_by_content: BTreeMap::new(),
        sk_by_ptr: BTreeMap::new(),
        default_sd: default_security_descriptor().into(),
    };
    w.new_bin(0);
    // Root first (offset 0x20, where Windows puts it), then the descriptors it and the
    // other keys share, then everything else.
    let root_at = w.alloc(NK_FIXED + encode_name(&root.name).0.len());
    w.alloc_security(root);
    w.write_key(root, root_at, NONE, true)?;
    w.close_bin();
    w.link_security();

    let data_len = u32::try_from(w.bins.len()).map_err(|_| RegfError::TooLarge { what: "hive" })?;
    let mut out = vec![0u8; BLOCK];
    out[..4].copy_from_slice(b"regf");
    // Equal sequence numbers: a clean hive with nothing pending in a log.
    out[4..8].copy_from_slice(&sequence.to_le_bytes());
    out[8..12].copy_from_slice(&sequence.to_le_bytes());
    out[0x0C..0x14].copy_from_slice(&timestamp.to_le_bytes());
    out[0x14..0x18].copy_from_slice(&1u32.to_le_bytes());
    // 1.5: big data cells need at least 1.4.
    out[0x18..0x1C].copy_from_slice(&5u32.to_le_bytes());
    // 0x1C file type 0 (primary), 0x20 format 1 (direct memory load).
    out[0x20..0x24].copy_from_slice(&1u32.to_le_bytes());
    out[0x24..0x28].copy_from_slice(&root_at.to_le_bytes());
    out[0x28..0x2C].copy_from_slice(&data_len.to_le_bytes());
    out[0x2C..0x30].copy_from_slice(&1u32.to_le_bytes());
    for (i, u) in file_name.encode_utf16().take(32).enumerate() {
        out[0x30 + 2 * i..0x32 + 2 * i].copy_from_slice(&u.to_le_bytes());
    }
    let sum = base_block_checksum(&out);
    out[0x1FC..0x200].copy_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&w.bins);
    out[BLOCK + 0x14..BLOCK + 0x1C].copy_from_slice(&timestamp.to_le_bytes());
    Ok(out)
}

/// The writer's rules, which are also the reader's: names within limits, no duplicate
/// subkeys, depth within [`MAX_DEPTH`], data within the big-data limit.
fn validate_tree(root: &KeyNode) -> Result<(), RegfError> {
    check_key_name(&root.name, true)?;
    let mut stack = vec![(root, 1usize)];
    while let Some((k, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(RegfError::TooDeep);
        }
        for v in &k.values {
            check_value_name(&v.name)?;
            if v.data.len() > BIG_DATA_SEGMENT * 0xFFFF {
                return Err(RegfError::TooLarge { what: "value data" });
            }
        }
        if k.class.as_ref().is_some_and(|c| c.len() > 0xFFFF) {
            return Err(RegfError::TooLarge { what: "class name" });
        }
        for s in &k.subkeys {
            check_key_name(&s.name, false)?;
            stack.push((s, depth + 1));
        }
    }
    check_subkey_names(root)
}

struct Writer {
    /// All hive bins; cell offsets are indexes into this.
    bins: Vec<u8>,
    bin_start: usize,
    /// First free byte of the current bin.
    next: usize,
    /// sk cells in offset order: (offset, reference count).
    sk_cells: Vec<(u32, u32)>,
    /// Descriptor bytes -> index in `sk_cells`.
    sk_by_content: BTreeMap<Arc<[u8]>, usize>,
    /// Address of a descriptor's `Arc` -> index in `sk_cells`.
    sk_by_ptr: BTreeMap<usize, usize>,
    default_sd: Arc<[u8]>,
}

impl Writer {
    fn new_bin(&mut self, min_cell: usize) {
        let size = (min_cell + HBIN_HEADER).next_multiple_of(BLOCK);
        self.bin_start = self.bins.len();
        self.bins.resize(self.bin_start + size, 0);
        let h = &mut self.bins[self.bin_start..];
        h[..4].copy_from_slice(b"hbin");
        h[4..8].copy_from_slice(&(self.bin_start as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(size as u32).to_le_bytes());
        self.next = self.bin_start + HBIN_HEADER;
    }

    /// End the current bin with one free cell over its unused space.
    fn close_bin(&mut self) {
        let (free, end) = (self.next, self.bins.len());
        if free < end {
            self.bins[free..free + 4].copy_from_slice(&((end - free) as i32).to_le_bytes());
        }
        self.next = end;
    }

    /// Allocate a cell for `len` data bytes; returns its offset (data at offset + 4).
    fn alloc(&mut self, len: usize) -> u32 {
        let size = (len + 4).next_multiple_of(8);
        // Cells never cross a bin boundary: a big cell gets a bin of its own size.
        if self.next + size > self.bins.len() {
            self.close_bin();
            self.new_bin(size);
        }
        let at = self.next;
        self.bins[at..at + 4].copy_from_slice(&(-(size as i32)).to_le_bytes());
        self.next = at + size;
        at as u32
    }

    /// Allocate and fill a cell.
    fn put(&mut self, data: &[u8]) -> u32 {
        let at = self.alloc(data.len());
        let s = at as usize + 4;
        self.bins[s..s + data.len()].copy_from_slice(data);
        at
    }

    fn write_u32(&mut self, cell: u32, field: usize, v: u32) {
        let at = cell as usize + 4 + field;
        self.bins[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// One sk cell per distinct descriptor, with its reference count.
    fn alloc_security(&mut self, root: &KeyNode) {
        let mut stack = vec![root];
        while let Some(k) = stack.pop() {
            let sd = k.security.as_ref().unwrap_or(&self.default_sd).clone();
            // Keys read from one sk cell share one Arc: compare pointers first, so a big
            // descriptor shared by many keys is compared by content once, not once per key.
            let ptr = Arc::as_ptr(&sd) as *const u8 as usize;
            let index = match self.sk_by_ptr.get(&ptr) {
                Some(&i) => i,
                None => {
                    let i = match self.sk_by_content.get(&sd) {
                        Some(&i) => i,
                        None => {
                            let mut cell = vec![0u8; SK_FIXED];
                            cell[..2].copy_from_slice(b"sk");
                            cell[0x10..0x14].copy_from_slice(&(sd.len() as u32).to_le_bytes());
                            cell.extend_from_slice(&sd);
                            let at = self.put(&cell);
                            self.sk_cells.push((at, 0));
                            self.sk_by_content.insert(sd, self.sk_cells.len() - 1);
                            self.sk_cells.len() - 1
                        }
                    };
                    self.sk_by_ptr.insert(ptr, i);
                    i
                }
            };
            self.sk_cells[index].1 += 1;
            stack.extend(k.subkeys.iter());
        }
    }

    /// Reference counts, and the circular flink / blink list in offset order.
    fn link_security(&mut self) {
        let cells = self.sk_cells.clone();
        let n = cells.len();
        for i in 0..n {
            let (at, refs) = cells[i];
            self.write_u32(at, 4, cells[(i + 1) % n].0);
            self.write_u32(at, 8, cells[(i + n - 1) % n].0);
            self.write_u32(at, 0x0C, refs);
        }
    }

    fn sk_of(&self, k: &KeyNode) -> u32 {
        let sd = k.security.as_ref().unwrap_or(&self.default_sd);
        let ptr = Arc::as_ptr(sd) as *const u8 as usize;
        self.sk_by_ptr
            .get(&ptr)
            .map_or(NONE, |&i| self.sk_cells[i].0)
    }

    /// Fill the nk cell at `at` for `k` (allocated by the caller, since the parent needs the
    /// offsets of its children for its list), writing its values and subkeys below it.
    fn write_key(
        &mut self,
        k: &KeyNode,
        at: u32,
        parent: u32,
        is_root: bool,
    ) -> Result<(), RegfError> {
        let (name, compressed) = encode_name(&k.name);
        let mut flags = k.flags & !KEY_COMPUTED_FLAGS;
        if compressed {
            flags |= KEY_COMP_NAME;
        }
        if is_root {
            flags |= KEY_HIVE_ENTRY | KEY_NO_DELETE;
        }
        let mut nk = vec![0u8; NK_FIXED];
        nk[..2].copy_from_slice(b"nk");
        nk[2..4].copy_from_slice(&flags.to_le_bytes());
        nk[4..0x0C].copy_from_slice(&k.timestamp.to_le_bytes());
        nk[0x10..0x14].copy_from_slice(&parent.to_le_bytes());
        nk[0x14..0x18].copy_from_slice(&(k.subkeys.len() as u32).to_le_bytes());
        nk[0x1C..0x20].copy_from_slice(&NONE.to_le_bytes());
        nk[0x20..0x24].copy_from_slice(&NONE.to_le_bytes());
        nk[0x24..0x28].copy_from_slice(&(k.values.len() as u32).to_le_bytes());
        nk[0x28..0x2C].copy_from_slice(&NONE.to_le_bytes());
        nk[0x2C..0x30].copy_from_slice(&self.sk_of(k).to_le_bytes());
        nk[0x30..0x34].copy_from_slice(&NONE.to_le_bytes());
        // Largest subkey name / class, value name / data: what Windows sizes buffers from.
        let max_sub_name = k
            .subkeys
            .iter()
            .map(|s| s.name.encode_utf16().count() * 2)
            .max()
            .unwrap_or(0);
        let max_sub_class = k
            .subkeys
            .iter()
            .map(|s| s.class.as_ref().map_or(0, Vec::len))
            .max()
            .unwrap_or(0);
        let max_val_name = k
            .values
            .iter()
            .map(|v| v.name.encode_utf16().count() * 2)
            .max()
            .unwrap_or(0);
        let max_val_data = k.values.iter().map(|v| v.data.len()).max().unwrap_or(0);
        nk[0x34..0x38].copy_from_slice(&(max_sub_name as u32).to_le_bytes());
        nk[0x38..0x3C].copy_from_slice(&(max_sub_class as u32).to_le_bytes());
        nk[0x3C..0x40].copy_from_slice(&(max_val_name as u32).to_le_bytes());
        nk[0x40..0x44].copy_from_slice(&(max_val_data as u32).to_le_bytes());
        nk[0x48..0x4A].copy_from_slice(&(name.len() as u16).to_le_bytes());
        let class_len = k.class.as_ref().map_or(0, Vec::len);
        nk[0x4A..0x4C].copy_from_slice(&(class_len as u16).to_le_bytes());
        nk.extend_from_slice(&name);
        let s = at as usize + 4;
        self.bins[s..s + nk.len()].copy_from_slice(&nk);

        if let Some(class) = k.class.as_ref().filter(|c| !c.is_empty()) {
            let c = self.put(class);
            self.write_u32(at, 0x30, c);
        }
        if !k.values.is_empty() {
            let mut list = Vec::with_capacity(k.values.len() * 4);
            for v in &k.values {
                list.extend(self.write_value(v).to_le_bytes());
            }
            let l = self.put(&list);
            self.write_u32(at, 0x28, l);
        }
        if !k.subkeys.is_empty() {
            // Windows binary-searches the lists: sort by upper-cased name.
            let mut order: Vec<(Vec<u16>, &KeyNode)> =
                k.subkeys.iter().map(|s| (folded(&s.name), s)).collect();
            order.sort_by(|a, b| a.0.cmp(&b.0));
            let mut entries = Vec::with_capacity(order.len());
            for (_, s) in &order {
                let child_at = self.alloc(NK_FIXED + encode_name(&s.name).0.len());
                entries.push((child_at, lh_hash(&s.name)));
            }
            for ((_, s), (child_at, _)) in order.iter().zip(&entries) {
                self.write_key(s, *child_at, at, false)?;
            }
            let leaves: Vec<u32> = entries
                .chunks(MAX_LEAF_ENTRIES)
                .map(|chunk| {
                    let mut lh = Vec::with_capacity(4 + chunk.len() * 8);
                    lh.extend(b"lh");
                    lh.extend((chunk.len() as u16).to_le_bytes());
                    for (o, h) in chunk {
                        lh.extend(o.to_le_bytes());
                        lh.extend(h.to_le_bytes());
                    }
                    self.put(&lh)
                })
                .collect();
            let list = if leaves.len() == 1 {
                leaves[0]
            } else {
                let n = u16::try_from(leaves.len()).map_err(|_| RegfError::TooLarge {
                    what: "subkey list",
                })?;
                let mut ri = Vec::with_capacity(4 + leaves.len() * 4);
                ri.extend(b"ri");
                ri.extend(n.to_le_bytes());
                for l in leaves {
                    ri.extend(l.to_le_bytes());
                }
                self.put(&ri)
            };
            self.write_u32(at, 0x1C, list);
        }
        Ok(())
    }

    fn write_value(&mut self, v: &Value) -> u32 {
        let (name, compressed) = encode_name(&v.name);
        let mut vk = vec![0u8; VK_FIXED];
        vk[..2].copy_from_slice(b"vk");
        vk[2..4].copy_from_slice(&(name.len() as u16).to_le_bytes());
        let len = v.data.len() as u32;
        let (size, data_at) = if v.data.len() <= 4 {
            // Small data is stored in the offset field itself.
            let mut inline = [0u8; 4];
            inline[..v.data.len()].copy_from_slice(&v.data);
            (len | 0x8000_0000, u32::from_le_bytes(inline))
        } else if v.data.len() <= BIG_DATA_SEGMENT {
            (len, self.put(&v.data))
        } else {
            let mut list = Vec::new();
            for seg in v.data.chunks(BIG_DATA_SEGMENT) {
                list.extend(self.put(seg).to_le_bytes());
            }
            let list_at = self.put(&list);
            let mut db = Vec::with_capacity(8);
            db.extend(b"db");
            db.extend(((list.len() / 4) as u16).to_le_bytes());
            db.extend(list_at.to_le_bytes());
            (len, self.put(&db))
        };
        vk[4..8].copy_from_slice(&size.to_le_bytes());
        vk[8..0x0C].copy_from_slice(&data_at.to_le_bytes());
        vk[0x0C..0x10].copy_from_slice(&v.kind.to_le_bytes());
        vk[0x10..0x12]
            .copy_from_slice(&(if compressed { VALUE_COMP_NAME } else { 0 }).to_le_bytes());
        vk.extend_from_slice(&name);
        self.put(&vk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    fn sample_tree() -> KeyNode {
        let mut root = KeyNode::new("ROOT");
        root.timestamp = 0x01D9_0000_1234_5678;
        let a = root.create_path("Software\\Polyboot", 7).unwrap();
        a.set_value(Value::sz("Name", "polyboot"));
        a.set_value(Value::expand_sz("Path", "%SystemRoot%\\x"));
        a.set_value(Value::dword("Dword", 0xDEAD_BEEF));
        a.set_value(Value::qword("Qword", 0x0123_4567_89AB_CDEF));
        a.set_value(Value::binary("Small", &[1, 2, 3]));
        a.set_value(Value::binary("Empty", &[]));
        a.set_value(Value::multi_sz("Multi", &["a", "bc", "ünï"]));
        a.set_value(Value::raw("", 0x2000_0000, vec![9; 100]));
        a.set_value(Value::binary("Big", &pattern(40_000)));
        a.set_value(Value::binary("Edge", &pattern(BIG_DATA_SEGMENT)));
        a.set_value(Value::binary("Edge1", &pattern(BIG_DATA_SEGMENT + 1)));
        a.class = Some(utf16z("Class")[..10].to_vec());
        let u = root.create_path("Ünicode\\日本語", 0).unwrap();
        u.set_value(Value::sz("名前", "値"));
        u.security = Some(Arc::from(
            &[
                1u8, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ][..],
        ));
        let many = root.create_path("Many", 0).unwrap();
        for i in (0..1200).rev() {
            many.subkeys.push(KeyNode::new(&format!("Key{i:04}")));
        }
        root
    }

    fn pattern(len: usize) -> Vec<u8> {
        let mut x = 0x1234_5678u32;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    /// Children sorted as the writer sorts them, so trees compare regardless of list order.
    fn canonical(k: &KeyNode) -> KeyNode {
        let mut k = k.clone();
        let mut stack = vec![&mut k];
        while let Some(n) = stack.pop() {
            n.subkeys.sort_by_key(|s| folded(&s.name));
            stack.extend(n.subkeys.iter_mut());
        }
        k
    }

    /// Offsets (in the bins) of the nk cell of the key with this name.
    fn find_nk(file: &[u8], name: &str) -> usize {
        let bins = &file[BLOCK..];
        let mut at = 0;
        while at < bins.len() {
            let size = le32(bins, at + 8).unwrap() as usize;
            let mut c = at + HBIN_HEADER;
            while c < at + size {
                let len = (le32(bins, c).unwrap() as i32).unsigned_abs() as usize;
                let d = &bins[c + 4..c + len];
                if &d[..2] == b"nk" {
                    let n = le16(d, 0x48).unwrap() as usize;
                    if d.get(NK_FIXED..NK_FIXED + n) == Some(name.as_bytes()) {
                        return c;
                    }
                }
                c += len;
            }
            at += size;
        }
        panic!("no nk {name}");
    }

    fn patch32(file: &mut [u8], bin_off: usize, v: u32) {
        file[BLOCK + bin_off..BLOCK + bin_off + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn fix_checksum(file: &mut [u8]) {
        let sum = base_block_checksum(&file[..BLOCK]);
        file[0x1FC..0x200].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn round_trip_keeps_everything() {
        let tree = sample_tree();
        let bytes = HiveBuilder::new(tree.clone())
            .file_name("\\??\\C:\\x\\BCD")
            .timestamp(42)
            .build()
            .unwrap();
        let hive = Hive::parse(&bytes).unwrap();
        assert_eq!(hive.file_name, "\\??\\C:\\x\\BCD");
        assert_eq!(hive.timestamp, 42);
        assert!(!hive.dirty);
        // The writer's default descriptor appears where none was given.
        let mut expect = canonical(&tree);
        let default: Arc<[u8]> = default_security_descriptor().into();
        let mut stack = vec![&mut expect];
        while let Some(n) = stack.pop() {
            n.security.get_or_insert_with(|| default.clone());
            stack.extend(n.subkeys.iter_mut());
        }
        expect.flags |= KEY_NO_DELETE;
        assert_eq!(hive.root, expect);
        // Writing the parsed tree again gives the same bytes.
        assert_eq!(
            hive.to_bytes().unwrap(),
            HiveBuilder::new(hive.root.clone())
                .file_name(&hive.file_name)
                .timestamp(42)
                .sequence(2)
                .build()
                .unwrap()
        );
        // Rewritten: the same hive, one sequence number on.
        assert_eq!(hive.sequence, 1);
        let again = Hive::parse(&hive.to_bytes().unwrap()).unwrap();
        assert_eq!(
            again,
            Hive {
                sequence: 2,
                ..hive
            }
        );
    }

    #[test]
    fn layout_is_what_windows_expects() {
        let bytes = HiveBuilder::new(sample_tree()).build().unwrap();
        assert_eq!(&bytes[..4], b"regf");
        assert_eq!(
            le32(&bytes, 0x24),
            Some(0x20),
            "root right after the first bin header"
        );
        assert_eq!(le32(&bytes, 0x1FC), Some(base_block_checksum(&bytes)));
        assert_eq!(le32(&bytes, 0x28).unwrap() as usize, bytes.len() - BLOCK);
        assert_eq!(bytes.len() % BLOCK, 0);
        // Every bin a multiple of 4096 and fully covered by cells.
        let mut at = BLOCK;
        let mut bins = 0;
        while at < bytes.len() {
            assert_eq!(&bytes[at..at + 4], b"hbin");
            assert_eq!(le32(&bytes, at + 4).unwrap() as usize, at - BLOCK);
            let size = le32(&bytes, at + 8).unwrap() as usize;
            assert_eq!(size % BLOCK, 0);
            let mut c = at + HBIN_HEADER;
            while c < at + size {
                let len = (le32(&bytes, c).unwrap() as i32).unsigned_abs() as usize;
                assert!(len >= 8 && len % 8 == 0);
                c += len;
            }
            assert_eq!(c, at + size);
            at += size;
            bins += 1;
        }
        assert!(bins > 2);
        // 1200 subkeys: an ri index over lh leaves of at most MAX_LEAF_ENTRIES, sorted.
        let many = find_nk(&bytes, "Many");
        let list = le32(&bytes[BLOCK..], many + 4 + 0x1C).unwrap() as usize;
        let ri = &bytes[BLOCK + list + 4..];
        assert_eq!(&ri[..2], b"ri");
        assert_eq!(le16(ri, 2), Some(3));
        let mut names = Vec::new();
        for i in 0..3 {
            let leaf_at = le32(ri, 4 + 4 * i).unwrap() as usize;
            let leaf = &bytes[BLOCK + leaf_at + 4..];
            assert_eq!(&leaf[..2], b"lh");
            let n = le16(leaf, 2).unwrap() as usize;
            assert!(n <= MAX_LEAF_ENTRIES);
            for j in 0..n {
                let nk = le32(leaf, 4 + 8 * j).unwrap() as usize;
                let d = &bytes[BLOCK + nk + 4..];
                let name =
                    core::str::from_utf8(&d[NK_FIXED..NK_FIXED + le16(d, 0x48).unwrap() as usize])
                        .unwrap();
                assert_eq!(le32(leaf, 8 + 8 * j), Some(lh_hash(name)));
                names.push(name.to_string());
            }
        }
        assert_eq!(names.len(), 1200);
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn names_compare_like_windows() {
        assert!(names_equal("ControlSet001", "CONTROLSET001"));
        assert!(names_equal("ünï", "ÜNÏ"));
        assert!(!names_equal("a", "b"));
        assert_eq!(lh_hash("ab"), 65 * 37 + 66);
        assert_eq!(lh_hash("AB"), lh_hash("ab"));
        let mut root = KeyNode::new("");
        root.create_path("A\\B", 0)
            .unwrap()
            .set_value(Value::dword("X", 1));
        assert!(root.get("a\\b").is_some());
        assert!(root.get("\\A\\\\B\\").is_some());
        root.get_mut("A\\B")
            .unwrap()
            .set_value(Value::dword("x", 2));
        assert_eq!(root.get("A\\B").unwrap().values.len(), 1);
        assert_eq!(
            root.get("A\\B").unwrap().value("X").unwrap().as_dword(),
            Some(2)
        );
        assert!(matches!(
            root.add_subkey(KeyNode::new("a")),
            Err(RegfError::DuplicateKey { .. })
        ));
        assert!(root.create_path("A\\", 0).is_ok());
        assert!(matches!(
            root.add_subkey(KeyNode::new("x\\y")),
            Err(RegfError::BadName { .. })
        ));
        assert!(matches!(
            root.add_subkey(KeyNode::new(&"n".repeat(256))),
            Err(RegfError::BadName { .. })
        ));
        root.subkeys.push(KeyNode::new("A"));
        assert!(matches!(
            HiveBuilder::new(root).build(),
            Err(RegfError::DuplicateKey { .. })
        ));
    }

    #[test]
    fn value_accessors() {
        assert_eq!(Value::sz("a", "hé").as_string().unwrap(), "hé");
        assert_eq!(
            Value::multi_sz("a", &["x", "y"]).as_multi_sz().unwrap(),
            ["x", "y"]
        );
        assert_eq!(Value::qword("q", 5).as_qword(), Some(5));
        assert_eq!(Value::binary("b", &[1, 2, 3, 4]).as_dword(), None);
        let mut v = KeyNode::new("k");
        v.set_value(Value::dword("a", 1));
        assert!(v.remove_value("A"));
        assert!(!v.remove_value("A"));
    }

    #[test]
    fn depth_limit() {
        let mut root = KeyNode::new("r");
        let mut k = &mut root;
        for _ in 1..MAX_DEPTH {
            k.subkeys.push(KeyNode::new("d"));
            k = &mut k.subkeys[0];
        }
        let bytes = HiveBuilder::new(root.clone()).build().unwrap();
        assert_eq!(
            canonical(&Hive::parse(&bytes).unwrap().root).subkeys.len(),
            1
        );
        let mut k = &mut root;
        while !k.subkeys.is_empty() {
            k = &mut k.subkeys[0];
        }
        k.subkeys.push(KeyNode::new("d"));
        assert_eq!(HiveBuilder::new(root).build(), Err(RegfError::TooDeep));
    }

    #[test]
    fn parser_depth_limit() {
        // root -> d2 -> ... -> d512 (512 levels), and root -> x -> y.
        let mut root = KeyNode::new("r");
        let mut k = &mut root;
        for depth in 2..=MAX_DEPTH {
            k.subkeys.push(KeyNode::new(&format!("d{depth}")));
            k = &mut k.subkeys[0];
        }
        root.create_path("x\\y", 0).unwrap();
        let mut b = HiveBuilder::new(root).build().unwrap();
        assert!(Hive::parse(&b).is_ok());
        // Hide x from the root, and hang its list (holding y) under d512: y is level 513.
        let root_list = le32(&b[BLOCK..], 0x20 + 4 + 0x1C).unwrap() as usize;
        patch32(&mut b, 0x20 + 4 + 0x14, 1);
        b[BLOCK + root_list + 6..BLOCK + root_list + 8].copy_from_slice(&1u16.to_le_bytes());
        let x = find_nk(&b, "x");
        let x_list = le32(&b[BLOCK..], x + 4 + 0x1C).unwrap();
        let deepest = find_nk(&b, &format!("d{MAX_DEPTH}"));
        patch32(&mut b, deepest + 4 + 0x14, 1);
        patch32(&mut b, deepest + 4 + 0x1C, x_list);
        assert_eq!(Hive::parse(&b), Err(RegfError::TooDeep));
    }

    #[test]
    fn base_block_errors() {
        let good = HiveBuilder::new(sample_tree()).build().unwrap();
        let mut b = good.clone();
        b[0x30] ^= 1;
        assert!(matches!(
            Hive::parse(&b),
            Err(RegfError::BadChecksum { .. })
        ));
        let mut b = good.clone();
        b[0] = b'x';
        assert!(matches!(
            Hive::parse(&b),
            Err(RegfError::BadSignature { what: "regf", .. })
        ));
        let mut b = good.clone();
        b[0x14] = 2;
        fix_checksum(&mut b);
        assert!(matches!(
            Hive::parse(&b),
            Err(RegfError::UnsupportedVersion { major: 2, .. })
        ));
        // Length of the bins past the end of the file.
        let mut b = good.clone();
        b[0x28..0x2C].copy_from_slice(&((good.len()) as u32).to_le_bytes());
        fix_checksum(&mut b);
        assert!(matches!(Hive::parse(&b), Err(RegfError::Truncated { .. })));
        // Dirty (sequence numbers differ) still reads; the rewrite is clean and newer.
        let mut b = good.clone();
        b[4] = 9;
        fix_checksum(&mut b);
        let dirty = Hive::parse(&b).unwrap();
        assert!(dirty.dirty);
        assert_eq!(dirty.sequence, 9);
        let clean = dirty.to_bytes().unwrap();
        assert_eq!((le32(&clean, 4), le32(&clean, 8)), (Some(10), Some(10)));
        assert!(!Hive::parse(&clean).unwrap().dirty);
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let good = HiveBuilder::new(sample_tree()).build().unwrap();
        for len in (0..good.len()).step_by(97) {
            assert!(Hive::parse(&good[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn bad_offsets_and_overlaps() {
        let good = HiveBuilder::new(sample_tree()).build().unwrap();
        for (root, what) in [
            (0x24u32, "inside the root cell"),
            (0xFFFF_FFF8, "far out"),
            (0x1000_0000, "out"),
            (3, "unaligned"),
        ] {
            let mut b = good.clone();
            b[0x24..0x28].copy_from_slice(&root.to_le_bytes());
            fix_checksum(&mut b);
            assert!(
                matches!(Hive::parse(&b), Err(RegfError::BadCell { .. })),
                "{what}"
            );
        }
        // A value list entry pointing into the middle of another cell.
        let mut b = good.clone();
        let nk = find_nk(&b, "Polyboot");
        let list = le32(&b[BLOCK..], nk + 4 + 0x28).unwrap() as usize;
        patch32(&mut b, list + 4, nk as u32 + 16);
        assert!(matches!(Hive::parse(&b), Err(RegfError::BadCell { .. })));
        // A free cell is not a key.
        let mut b = good.clone();
        let nk = find_nk(&b, "Many");
        let size = le32(&b[BLOCK..], nk).unwrap() as i32;
        patch32(&mut b, nk, (-size) as u32);
        assert!(matches!(Hive::parse(&b), Err(RegfError::BadCell { .. })));
    }

    #[test]
    fn cycles_and_shared_cells_are_refused() {
        let mut root = KeyNode::new("r");
        root.create_path("A\\B", 0).unwrap();
        root.create_path("A\\B\\C", 0)
            .unwrap()
            .set_value(Value::binary("v", &[1, 2, 3, 4, 5]));
        let good = HiveBuilder::new(root).build().unwrap();
        assert!(Hive::parse(&good).is_ok());
        // C's subkey list is A's list (which leads back to B, C, ...).
        let a = find_nk(&good, "A");
        let c = find_nk(&good, "C");
        let a_list = le32(&good[BLOCK..], a + 4 + 0x1C).unwrap();
        let mut b = good.clone();
        patch32(&mut b, c + 4 + 0x14, 1);
        patch32(&mut b, c + 4 + 0x1C, a_list);
        assert!(matches!(Hive::parse(&b), Err(RegfError::CellReused { .. })));
        // Root's list points at the root itself: a cycle through the key cell.
        let root_list = le32(&good[BLOCK..], 0x20 + 4 + 0x1C).unwrap() as usize;
        let mut b = good.clone();
        patch32(&mut b, root_list + 4 + 4, 0x20);
        assert!(matches!(Hive::parse(&b), Err(RegfError::CellReused { .. })));
        // An ri whose entry is another ri (nesting is not allowed).
        let mut b = good.clone();
        b[BLOCK + root_list + 4..BLOCK + root_list + 6].copy_from_slice(b"ri");
        patch32(&mut b, root_list + 4 + 4, root_list as u32);
        assert!(Hive::parse(&b).is_err());
    }

    #[test]
    fn absurd_counts() {
        let good = HiveBuilder::new(sample_tree()).build().unwrap();
        let nk = find_nk(&good, "Polyboot");
        for (field, what) in [(0x24usize, "values"), (0x14, "subkeys")] {
            for v in [0xFFFF_FFFFu32, 0x8000_0000, 1000] {
                let mut b = good.clone();
                patch32(&mut b, nk + 4 + field, v);
                let e = Hive::parse(&b).unwrap_err();
                assert!(
                    matches!(e, RegfError::BadCount { .. } | RegfError::BadCell { .. }),
                    "{what} {v}: {e}"
                );
            }
        }
        // A subkey list that holds fewer entries than its key claims.
        let many = find_nk(&good, "Many");
        let mut b = good.clone();
        patch32(&mut b, many + 4 + 0x14, 1199);
        assert!(matches!(Hive::parse(&b), Err(RegfError::BadCount { .. })));
        // Inline data longer than 4 bytes.
        let list = le32(&good[BLOCK..], nk + 4 + 0x28).unwrap() as usize;
        let vk = le32(&good[BLOCK..], list + 4).unwrap() as usize;
        let mut b = good.clone();
        patch32(&mut b, vk + 4 + 4, 0x8000_0005);
        assert!(Hive::parse(&b).is_err());
        // Data length far past its cell.
        let mut b = good.clone();
        patch32(&mut b, vk + 4 + 4, 0x7FFF_FFFF);
        assert!(Hive::parse(&b).is_err());
    }

    #[test]
    fn bad_bins() {
        let good = HiveBuilder::new(sample_tree()).build().unwrap();
        for (at, v) in [(8usize, 4095u32), (8, 0), (4, 4096), (0, 0)] {
            let mut b = good.clone();
            b[BLOCK + at..BLOCK + at + 4].copy_from_slice(&v.to_le_bytes());
            assert!(Hive::parse(&b).is_err(), "{at} {v}");
        }
        // A cell size that is not a multiple of 8, and one crossing the bin's end.
        for v in [-12i32, -(BLOCK as i32) * 64, 0] {
            let mut b = good.clone();
            b[BLOCK + 0x20..BLOCK + 0x24].copy_from_slice(&v.to_le_bytes());
            assert!(
                matches!(Hive::parse(&b), Err(RegfError::BadHbin { .. })),
                "{v}"
            );
        }
    }

    /// Mutated hives: never a panic, and whatever parses survives write + parse unchanged.
    #[test]
    fn mutations_never_panic() {
        let mut root = KeyNode::new("r");
        root.create_path("A\\B", 0)
            .unwrap()
            .set_value(Value::sz("s", "text"));
        root.create_path("C", 0)
            .unwrap()
            .set_value(Value::binary("big", &pattern(20_000)));
        root.get_mut("C").unwrap().set_value(Value::dword("d", 3));
        let good = HiveBuilder::new(root).build().unwrap();
        let mut x = 0x9E37_79B9u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut parsed = 0;
        for _ in 0..3000 {
            let mut b = good.clone();
            for _ in 0..1 + rnd() % 4 {
                let at = BLOCK + (rnd() as usize % (b.len() - BLOCK));
                b[at] = rnd() as u8;
            }
            if let Ok(h) = Hive::parse(&b) {
                parsed += 1;
                let again = Hive::parse(&h.to_bytes().unwrap()).unwrap();
                assert_eq!(canonical(&again.root), canonical(&h.root));
            }
        }
        assert!(parsed > 100);
    }

    fn system_hive(current: u32) -> Hive {
        let mut h = Hive::new("CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}");
        h.root
            .create_path("Select", 0)
            .unwrap()
            .set_value(Value::dword("Current", current));
        for set in ["ControlSet001", "ControlSet002"] {
            let c = h.root.create_path(&format!("{set}\\Control"), 0).unwrap();
            c.set_value(Value::sz("SystemBootDevice", "multi(0)"));
            h.root
                .create_path(&format!("{set}\\Services\\partmgr"), 0)
                .unwrap()
                .set_value(Value::dword("Start", 0));
        }
        h
    }

    #[test]
    fn portable_workspace_policy() {
        for (current, set) in [(1, "ControlSet001"), (2, "ControlSet002")] {
            let bytes = system_hive(current).to_bytes().unwrap();
            let mut h = Hive::parse(&bytes).unwrap();
            assert_eq!(h.current_control_set().unwrap(), set);
            set_portable_workspace_policy(&mut h, true, 5).unwrap();
            let h2 = Hive::parse(&h.to_bytes().unwrap()).unwrap();
            let pos = h2.root.get(&format!("{set}\\Control")).unwrap();
            assert_eq!(
                pos.value("PortableOperatingSystem").unwrap().as_dword(),
                Some(1)
            );
            assert_eq!(
                pos.value("SystemBootDevice").unwrap().as_string().unwrap(),
                "multi(0)"
            );
            let p = h2
                .root
                .get(&format!("{set}\\Services\\partmgr\\Parameters"))
                .unwrap();
            assert_eq!(p.value("SanPolicy").unwrap().as_dword(), Some(4));
            assert_eq!(p.timestamp, 5);
            let other = if current == 1 {
                "ControlSet002"
            } else {
                "ControlSet001"
            };
            assert!(h2
                .root
                .get(&format!("{other}\\Control"))
                .unwrap()
                .value("PortableOperatingSystem")
                .is_none());
        }
        let mut h = Hive::parse(&system_hive(1).to_bytes().unwrap()).unwrap();
        set_portable_workspace_policy(&mut h, false, 0).unwrap();
        assert!(h
            .root
            .get("ControlSet001\\Services\\partmgr\\Parameters")
            .is_none());
        assert!(matches!(
            system_hive(3).current_control_set(),
            Err(RegfError::NotFound { .. })
        ));
        assert!(matches!(
            Hive::new("x").current_control_set(),
            Err(RegfError::NotFound { .. })
        ));
    }

    #[test]
    fn reads_lf_and_li_lists() {
        let mut root = KeyNode::new("r");
        for n in ["b", "A", "c"] {
            root.create_path(n, 0)
                .unwrap()
                .set_value(Value::dword(n, 1));
        }
        let good = HiveBuilder::new(root).build().unwrap();
        let expect = Hive::parse(&good).unwrap();
        let list = le32(&good[BLOCK..], 0x20 + 4 + 0x1C).unwrap() as usize;
        let at = BLOCK + list + 4;
        let entries: Vec<u32> = (0..3)
            .map(|i| le32(&good, at + 4 + 8 * i).unwrap())
            .collect();
        // lf: the same layout with name hints instead of hashes.
        let mut b = good.clone();
        b[at..at + 2].copy_from_slice(b"lf");
        assert_eq!(Hive::parse(&b).unwrap(), expect);
        // li: offsets only.
        let mut b = good.clone();
        b[at..at + 2].copy_from_slice(b"li");
        for (i, e) in entries.iter().enumerate() {
            b[at + 4 + 4 * i..at + 8 + 4 * i].copy_from_slice(&e.to_le_bytes());
        }
        assert_eq!(Hive::parse(&b).unwrap(), expect);
        // An unknown list signature.
        b[at..at + 2].copy_from_slice(b"zz");
        assert!(matches!(
            Hive::parse(&b),
            Err(RegfError::BadSignature { .. })
        ));
    }

    #[test]
    fn default_descriptor_is_well_formed() {
        let sd = default_security_descriptor();
        assert_eq!((sd[0], le16(&sd, 2)), (1, Some(0x8004)));
        let owner = le32(&sd, 4).unwrap() as usize;
        let group = le32(&sd, 8).unwrap() as usize;
        let dacl = le32(&sd, 16).unwrap() as usize;
        assert_eq!(le32(&sd, 12), Some(0), "no SACL");
        // S-1-5-32-544 (Administrators), S-1-5-18 (SYSTEM).
        assert_eq!(&sd[owner..owner + 8], &[1, 2, 0, 0, 0, 0, 0, 5]);
        assert_eq!(le32(&sd, owner + 12), Some(544));
        assert_eq!(&sd[group..group + 8], &[1, 1, 0, 0, 0, 0, 0, 5]);
        assert_eq!(le32(&sd, group + 8), Some(18));
        let acl_size = le16(&sd, dacl + 2).unwrap() as usize;
        assert_eq!(dacl + acl_size, sd.len());
        let count = le16(&sd, dacl + 4).unwrap();
        let mut ace = dacl + 8;
        for _ in 0..count {
            let size = le16(&sd, ace + 2).unwrap() as usize;
            let sid_len = 8 + 4 * sd[ace + 9] as usize;
            assert_eq!(size, 8 + sid_len);
            ace += size;
        }
        assert_eq!(ace, sd.len());
    }

    #[test]
    fn security_cells_are_shared_and_linked() {
        let custom: Arc<[u8]> = Arc::from(&[1u8, 0, 4, 0x80, 0, 0, 0, 0][..]);
        let mut root = KeyNode::new("r");
        for n in ["a", "b", "c"] {
            root.create_path(n, 0).unwrap().security = Some(custom.clone());
        }
        // Equal bytes in another allocation still share the cell.
        root.create_path("d", 0).unwrap().security = Some(Arc::from(&custom[..]));
        let bytes = HiveBuilder::new(root).build().unwrap();
        let mut sks = Vec::new();
        let mut c = BLOCK + HBIN_HEADER;
        while c < bytes.len() {
            let len = (le32(&bytes, c).unwrap() as i32).unsigned_abs() as usize;
            if &bytes[c + 4..c + 6] == b"sk" {
                sks.push(c - BLOCK);
            }
            c += len;
        }
        assert_eq!(sks.len(), 2, "the root's default and the custom one");
        let bins = &bytes[BLOCK..];
        let refs: Vec<u32> = sks
            .iter()
            .map(|&s| le32(bins, s + 4 + 0x0C).unwrap())
            .collect();
        assert_eq!(refs, [1, 4]);
        assert_eq!(le32(bins, sks[0] + 4 + 4), Some(sks[1] as u32));
        assert_eq!(le32(bins, sks[1] + 4 + 4), Some(sks[0] as u32));
        assert_eq!(le32(bins, sks[0] + 4 + 8), Some(sks[1] as u32));
        let hive = Hive::parse(&bytes).unwrap();
        assert_eq!(
            hive.root.get("d").unwrap().security.as_deref(),
            Some(&custom[..])
        );
    }

    #[test]
    fn errors_display() {
        let e = RegfError::BadCell {
            what: "key",
            offset: 0x20,
        };
        assert_eq!(
            e.to_string(),
            "hive: key at cell offset 0x20 is not a valid cell"
        );
        assert!(RegfError::TooDeep.to_string().contains("512"));
    }
}
