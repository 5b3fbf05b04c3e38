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
//!
//! # Where things are
//!
//! This file holds the in-memory tree ([`Hive`], [`KeyNode`], [`Value`]) and the errors;
//! `read` parses a hive file into it, `write` ([`HiveBuilder`], [`Hive::to_bytes`]) lays it
//! out anew; `cells` has the on-disk constants and the base block checksum both share, `names`
//! the name rules (Windows' case folding, the `lh` hash, limits, Latin-1 / UTF-16 storage).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

mod cells;
mod names;
mod read;
mod write;

pub use cells::base_block_checksum;
pub use names::{lh_hash, names_equal};
pub use write::{default_security_descriptor, HiveBuilder};

use cells::KEY_NO_DELETE;
use names::{check_key_name, decode_utf16_lossy, utf16_units, utf16z};

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
    WrongType { name: String, expected: &'static str },
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
                write!(f, "hive: {what} at cell offset {offset:#x} is not a valid cell")
            }
            RegfError::CellReused { offset } => {
                write!(f, "hive: cell {offset:#x} is used twice (a cycle or shared structure)")
            }
            RegfError::BadCount { what, offset } => {
                write!(f, "hive: the {what} count of cell {offset:#x} does not match its cells")
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
        Value { name: name.into(), kind, data }
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
        path.split('\\').filter(|c| !c.is_empty()).try_fold(self, |k, c| k.subkey(c))
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
        match self.values.iter_mut().find(|v| names_equal(&v.name, &value.name)) {
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
        read::parse(bytes)
    }

    /// Write the whole hive anew: clean, with sequence number [`Hive::sequence`] + 1.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RegfError> {
        let sequence = self.sequence.wrapping_add(1).max(1);
        write::write_hive(&self.root, &self.file_name, self.timestamp, sequence)
    }

    /// `ControlSetNNN` as `Select\Current` of a `SYSTEM` hive names it.
    pub fn current_control_set(&self) -> Result<String, RegfError> {
        let select =
            self.root.get("Select").ok_or_else(|| RegfError::NotFound { path: "Select".into() })?;
        let current = select
            .value("Current")
            .ok_or_else(|| RegfError::NotFound { path: "Select\\Current".into() })?;
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
    let control = system.root.create_path(&alloc::format!("{set}\\Control"), timestamp)?;
    control.set_value(Value::dword("PortableOperatingSystem", 1));
    if internal_disks_offline {
        let params = system
            .root
            .create_path(&alloc::format!("{set}\\Services\\partmgr\\Parameters"), timestamp)?;
        params.set_value(Value::dword("SanPolicy", 4));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
