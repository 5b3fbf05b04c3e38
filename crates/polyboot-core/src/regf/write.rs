//! Writing a key tree as a whole new hive: root first, one `sk` cell per distinct security
//! descriptor, subkeys sorted and listed in `lh` leaves (under an `ri` index when many), value
//! data inline, in a cell or as big data.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::cells::{
    base_block_checksum, HBIN_HEADER, KEY_COMPUTED_FLAGS, KEY_COMP_NAME, KEY_HIVE_ENTRY,
    KEY_NO_DELETE, NK_FIXED, NONE, SK_FIXED, VALUE_COMP_NAME, VK_FIXED,
};
use super::names::{
    check_key_name, check_subkey_names, check_value_name, encode_name, folded, in_folded_order,
    utf16_len,
};
use super::{
    lh_hash, KeyNode, RegfError, Value, BIG_DATA_SEGMENT, BLOCK, MAX_DEPTH, MAX_LEAF_ENTRIES,
};

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
    for (mask, s) in [(KEY_ALL_ACCESS, &system), (KEY_ALL_ACCESS, &admins), (KEY_READ, &users)] {
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
        HiveBuilder { root, file_name: String::new(), timestamp: 0, sequence: 1 }
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

pub(super) fn write_hive(
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
    let root_name = encode_name(&root.name);
    let root_at = w.alloc(NK_FIXED + root_name.0.len());
    w.alloc_security(root);
    w.write_key(root, &root_name, KeyPlace { at: root_at, parent: NONE, is_root: true })?;
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

/// Where a key's nk cell goes: its offset, its parent's, and whether it is the root.
#[derive(Clone, Copy)]
struct KeyPlace {
    at: u32,
    parent: u32,
    is_root: bool,
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
        self.sk_by_ptr.get(&ptr).map_or(NONE, |&i| self.sk_cells[i].0)
    }

    /// Fill the nk cell at `at` for `k` (allocated by the caller, since the parent needs the
    /// offsets of its children for its list), writing its values and subkeys below it.
    fn write_key(
        &mut self,
        k: &KeyNode,
        name: &(Vec<u8>, bool),
        place: KeyPlace,
    ) -> Result<(), RegfError> {
        self.nk_cell(k, name, place);
        let at = place.at;

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
            let list = self.write_subkeys(k, at)?;
            self.write_u32(at, 0x1C, list);
        }
        Ok(())
    }

    /// Fill the nk cell at `at` (allocated for `name`, `k`'s name as [`encode_name`] stores
    /// it): flags, counts, parent, security cell, the largest names and data below it, and
    /// its name. The class, value list and subkey list offsets are left [`NONE`] for
    /// [`Writer::write_key`] to fill.
    fn nk_cell(&mut self, k: &KeyNode, name: &(Vec<u8>, bool), place: KeyPlace) {
        let KeyPlace { at, parent, is_root } = place;
        let (name, compressed) = (&name.0, name.1);
        let mut flags = k.flags & !KEY_COMPUTED_FLAGS;
        if compressed {
            flags |= KEY_COMP_NAME;
        }
        if is_root {
            flags |= KEY_HIVE_ENTRY | KEY_NO_DELETE;
        }
        // Largest subkey name / class, value name / data: what Windows sizes buffers from.
        let max_sub_name = k.subkeys.iter().map(|s| utf16_len(&s.name) * 2).max().unwrap_or(0);
        let max_sub_class =
            k.subkeys.iter().map(|s| s.class.as_ref().map_or(0, Vec::len)).max().unwrap_or(0);
        let max_val_name = k.values.iter().map(|v| utf16_len(&v.name) * 2).max().unwrap_or(0);
        let max_val_data = k.values.iter().map(|v| v.data.len()).max().unwrap_or(0);
        let class_len = k.class.as_ref().map_or(0, Vec::len);
        let sk = self.sk_of(k);
        let s = at as usize + 4;
        let nk = &mut self.bins[s..s + NK_FIXED + name.len()];
        nk.fill(0);
        nk[..2].copy_from_slice(b"nk");
        nk[2..4].copy_from_slice(&flags.to_le_bytes());
        nk[4..0x0C].copy_from_slice(&k.timestamp.to_le_bytes());
        nk[0x10..0x14].copy_from_slice(&parent.to_le_bytes());
        nk[0x14..0x18].copy_from_slice(&(k.subkeys.len() as u32).to_le_bytes());
        nk[0x1C..0x20].copy_from_slice(&NONE.to_le_bytes());
        nk[0x20..0x24].copy_from_slice(&NONE.to_le_bytes());
        nk[0x24..0x28].copy_from_slice(&(k.values.len() as u32).to_le_bytes());
        nk[0x28..0x2C].copy_from_slice(&NONE.to_le_bytes());
        nk[0x2C..0x30].copy_from_slice(&sk.to_le_bytes());
        nk[0x30..0x34].copy_from_slice(&NONE.to_le_bytes());
        nk[0x34..0x38].copy_from_slice(&(max_sub_name as u32).to_le_bytes());
        nk[0x38..0x3C].copy_from_slice(&(max_sub_class as u32).to_le_bytes());
        nk[0x3C..0x40].copy_from_slice(&(max_val_name as u32).to_le_bytes());
        nk[0x40..0x44].copy_from_slice(&(max_val_data as u32).to_le_bytes());
        nk[0x48..0x4A].copy_from_slice(&(name.len() as u16).to_le_bytes());
        nk[0x4A..0x4C].copy_from_slice(&(class_len as u16).to_le_bytes());
        nk[NK_FIXED..].copy_from_slice(name);
    }

    /// Write the subkeys of the key at `at` (sorted as Windows looks them up) and their
    /// `lh` leaves, under an `ri` index when there are several; returns the list's offset.
    fn write_subkeys(&mut self, k: &KeyNode, at: u32) -> Result<u32, RegfError> {
        // Windows binary-searches the lists: sort by upper-cased name.
        let order: Vec<&KeyNode> = if in_folded_order(&k.subkeys) {
            k.subkeys.iter().collect()
        } else {
            let mut order: Vec<(Vec<u16>, &KeyNode)> =
                k.subkeys.iter().map(|s| (folded(&s.name), s)).collect();
            order.sort_by(|a, b| a.0.cmp(&b.0));
            order.into_iter().map(|(_, s)| s).collect()
        };
        let mut entries = Vec::with_capacity(order.len());
        let mut names = Vec::with_capacity(order.len());
        for s in &order {
            let name = encode_name(&s.name);
            let child_at = self.alloc(NK_FIXED + name.0.len());
            entries.push((child_at, lh_hash(&s.name)));
            names.push(name);
        }
        for ((s, (child_at, _)), name) in order.iter().zip(&entries).zip(&names) {
            self.write_key(s, name, KeyPlace { at: *child_at, parent: at, is_root: false })?;
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
            let n = u16::try_from(leaves.len())
                .map_err(|_| RegfError::TooLarge { what: "subkey list" })?;
            let mut ri = Vec::with_capacity(4 + leaves.len() * 4);
            ri.extend(b"ri");
            ri.extend(n.to_le_bytes());
            for l in leaves {
                ri.extend(l.to_le_bytes());
            }
            self.put(&ri)
        };
        Ok(list)
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
