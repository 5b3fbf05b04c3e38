//! Reading a hive file from untrusted bytes into a [`Hive`]: the base block checked, every
//! hbin walked once to record where allocated cells start, then the key tree built without
//! recursion, each cell claimed once.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::cells::{
    base_block_checksum, HBIN_HEADER, KEY_COMPUTED_FLAGS, KEY_COMP_NAME, NK_FIXED, NONE, SK_FIXED,
    VALUE_COMP_NAME, VK_FIXED,
};
use super::names::{
    check_key_name, check_subkey_names, check_value_name, decode_name, decode_utf16_lossy,
    utf16_units,
};
use super::{Hive, KeyNode, RegfError, Value, BIG_DATA_SEGMENT, BLOCK, MAX_DEPTH};
use crate::bytes;

/// [`Hive::parse`]: see the module docs of [`super`] for the limits.
pub(super) fn parse(bytes: &[u8]) -> Result<Hive, RegfError> {
    Parser::new(bytes)?.run()
}

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
    /// Index of the parent in the keys read so far (`None` for the root).
    parent: Option<usize>,
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Result<Parser<'a>, RegfError> {
        let base = bytes.get(..BLOCK).ok_or(RegfError::Truncated { what: "base block" })?;
        if &base[..4] != b"regf" {
            return Err(RegfError::BadSignature { what: "regf", offset: 0 });
        }
        let stored = bytes::le32(base, 0x1FC).unwrap_or(0);
        let computed = base_block_checksum(base);
        if stored != computed {
            return Err(RegfError::BadChecksum { stored, computed });
        }
        let (major, minor) =
            (bytes::le32(base, 0x14).unwrap_or(0), bytes::le32(base, 0x18).unwrap_or(0));
        if major != 1 || minor > 6 {
            return Err(RegfError::UnsupportedVersion { major, minor });
        }
        let data_len = bytes::le32(base, 0x28).unwrap_or(0) as usize;
        if data_len == 0 || data_len % BLOCK != 0 {
            return Err(RegfError::BadHbin { offset: BLOCK as u32 });
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
            timestamp: bytes::le64(base, 0x0C).unwrap_or(0),
            minor,
            sequence: bytes::le32(base, 4).ok().max(bytes::le32(base, 8).ok()).unwrap_or(0),
            dirty: bytes::le32(base, 4).ok() != bytes::le32(base, 8).ok(),
            root_offset: bytes::le32(base, 0x24).unwrap_or(NONE),
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
                return Err(RegfError::BadSignature { what: "hbin", offset: file_off });
            }
            let size = bytes::le32(hdr, 8).unwrap_or(0) as usize;
            if bytes::le32(hdr, 4).ok() != Some(at as u32)
                || size == 0
                || size % BLOCK != 0
                || size > self.bins.len() - at
            {
                return Err(RegfError::BadHbin { offset: file_off });
            }
            let end = at + size;
            let mut cell = at + HBIN_HEADER;
            while cell < end {
                let raw = bytes::le32(self.bins, cell)
                    .map_err(|_| RegfError::BadHbin { offset: file_off })?
                    as i32;
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
        let len = (bytes::le32(self.bins, o).unwrap_or(0) as i32).unsigned_abs() as usize;
        self.bins.get(o + 4..o + len).ok_or(RegfError::BadCell { what, offset })
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
        // Keys in the order read (depth first, subkeys in list order), each with its parent's
        // index: a parent always comes before its subkeys.
        let mut keys: Vec<(KeyNode, Option<usize>)> = Vec::new();
        let mut stack = vec![PendingKey { offset: root_offset, depth: 1, parent: None }];
        while let Some(p) = stack.pop() {
            if p.depth > MAX_DEPTH {
                return Err(RegfError::TooDeep);
            }
            let (node, children) = self.read_key(p.offset, keys.is_empty())?;
            let index = keys.len();
            keys.push((node, p.parent));
            // Pushed in reverse, so they are read in list order.
            for &c in children.iter().rev() {
                stack.push(PendingKey { offset: c, depth: p.depth + 1, parent: Some(index) });
            }
        }
        // Attach each key to its parent, last read first: a key's subkeys (read after it) are
        // all attached before the key itself moves, and arrive in reverse list order.
        let mut root = None;
        while let Some((mut node, parent)) = keys.pop() {
            node.subkeys.reverse();
            match parent.and_then(|i| keys.get_mut(i)) {
                Some((p, _)) => p.subkeys.push(node),
                None => root = Some(node),
            }
        }
        let root = root.ok_or(RegfError::BadCell { what: "root key", offset: root_offset })?;
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
        let r32 = |at| bytes::le32(nk, at).unwrap_or(0);
        let flags = bytes::le16(nk, 2).unwrap_or(0);
        let name_len = bytes::le16(nk, 0x48).unwrap_or(0) as usize;
        let class_len = bytes::le16(nk, 0x4A).unwrap_or(0) as usize;
        let raw_name = nk
            .get(NK_FIXED..NK_FIXED + name_len)
            .ok_or(RegfError::BadCell { what: "key name", offset })?;
        let name = decode_name(raw_name, flags & KEY_COMP_NAME != 0);
        check_key_name(&name, is_root)?;
        let mut node = KeyNode::new(&name);
        node.timestamp = bytes::le64(nk, 4).unwrap_or(0);
        node.flags = flags & !KEY_COMPUTED_FLAGS;

        if class_len > 0 {
            let at = r32(0x30);
            let c = self.claim(at, "class name")?;
            node.class = Some(
                c.get(..class_len)
                    .ok_or(RegfError::BadCell { what: "class name", offset: at })?
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
                return Err(RegfError::BadCount { what: "value", offset });
            }
            node.values.reserve(n_values);
            for i in 0..n_values {
                let vk = bytes::le32(list, i * 4).unwrap_or(NONE);
                node.values.push(self.read_value(vk)?);
            }
        }

        let n_subkeys = r32(0x14) as usize;
        let mut children = Vec::new();
        if n_subkeys > 0 {
            let list_at = r32(0x1C);
            self.read_subkey_list(list_at, &mut children, true)?;
            if children.len() != n_subkeys {
                return Err(RegfError::BadCount { what: "subkey", offset });
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
            return Err(RegfError::BadCell { what: "subkey list", offset: at });
        }
        let count = bytes::le16(list, 2).unwrap_or(0) as usize;
        let (stride, ri) = match &list[..2] {
            b"lf" | b"lh" => (8, false),
            b"li" => (4, false),
            b"ri" if allow_ri => (4, true),
            _ => return Err(RegfError::BadSignature { what: "subkey list", offset: at }),
        };
        if count > (list.len() - 4) / stride {
            return Err(RegfError::BadCount { what: "subkey list", offset: at });
        }
        for i in 0..count {
            let entry = bytes::le32(list, 4 + i * stride).unwrap_or(NONE);
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
        let name_len = bytes::le16(vk, 2).unwrap_or(0) as usize;
        let size_raw = bytes::le32(vk, 4).unwrap_or(0);
        let data_at = bytes::le32(vk, 8).unwrap_or(NONE);
        let kind = bytes::le32(vk, 0x0C).unwrap_or(0);
        let flags = bytes::le16(vk, 0x10).unwrap_or(0);
        let raw_name = vk
            .get(VK_FIXED..VK_FIXED + name_len)
            .ok_or(RegfError::BadCell { what: "value name", offset })?;
        let name = decode_name(raw_name, flags & VALUE_COMP_NAME != 0);
        check_value_name(&name)?;
        let size = (size_raw & 0x7FFF_FFFF) as usize;
        let data = if size_raw & 0x8000_0000 != 0 {
            // Small data lives in the offset field itself.
            if size > 4 {
                return Err(RegfError::BadCell { what: "inline value data", offset });
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
                    .ok_or(RegfError::BadCell { what: "value data", offset: data_at })?
                    .to_vec()
            }
        };
        Ok(Value { name, kind, data })
    }

    /// Big data: a `db` cell naming a list of segment cells of 16344 bytes each.
    fn read_big_data(&mut self, at: u32, db: &[u8], size: usize) -> Result<Vec<u8>, RegfError> {
        let count = bytes::le16(db, 2).unwrap_or(0) as usize;
        let list_at = bytes::le32(db, 4).unwrap_or(NONE);
        let list = self.claim(list_at, "big data segment list")?;
        if count > list.len() / 4 || count.saturating_mul(BIG_DATA_SEGMENT) < size {
            return Err(RegfError::BadCount { what: "big data segment", offset: at });
        }
        let mut data = Vec::with_capacity(size);
        for i in 0..count {
            let want = (size - data.len()).min(BIG_DATA_SEGMENT);
            let seg_at = bytes::le32(list, i * 4).unwrap_or(NONE);
            let seg = self.claim(seg_at, "big data segment")?;
            let piece = seg
                .get(..want)
                .ok_or(RegfError::BadCell { what: "big data segment", offset: seg_at })?;
            data.extend_from_slice(piece);
        }
        if data.len() != size {
            return Err(RegfError::BadCount { what: "big data segment", offset: at });
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
            return Err(RegfError::BadSignature { what: "sk", offset: at });
        }
        let len = bytes::le32(sk, 0x10).unwrap_or(0) as usize;
        let sd: Arc<[u8]> = sk
            .get(SK_FIXED..SK_FIXED.saturating_add(len))
            .ok_or(RegfError::BadCell { what: "security descriptor", offset: at })?
            .into();
        self.security.insert(at, sd.clone());
        Ok(sd)
    }
}
