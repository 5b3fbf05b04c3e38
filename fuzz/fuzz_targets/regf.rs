//! Registry hives (`regf::Hive::parse`) on arbitrary bytes. The input's first bytes say what
//! it is (one reading per input, so that each execution stays cheap):
//!
//! 1. `regf...`: a whole hive file, parsed as is and again with its base block checksum
//!    repaired;
//! 2. `hbin...`: the hive bins behind a valid base block we add (root at the first cell), so
//!    that mutations of the bins are not lost to the base block checks;
//! 3. anything else: a recipe (its first 1 KiB): a key tree (subkeys, values of every type up
//!    to big data, more than one lh leaf under an ri index, classes, descriptors) that our
//!    writer must write and our parser read back unchanged, then patched at input-chosen
//!    offsets and parsed again.
//!
//! Must never panic. Every hive that parses is walked (keys looked up by their path within a
//! budget of name comparisons, values decoded, the BCD reader and the device decoder run over
//! it) and, when it has at most 256 keys, written with the writer, and the rewrite must parse
//! to the same tree (children
//! compared in the writer's sorted order, keys without a descriptor given the writer's
//! default). Seeds (seedgen `regf_seeds.rs`): BCD stores and trees written by polyboot, the
//! same edited by hivex (`hivexsh`) when installed, their bins alone, and recipes.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use polyboot_core::bcd;
use polyboot_core::regf::{
    self, base_block_checksum, default_security_descriptor, Hive, HiveBuilder, KeyNode, Value,
    BLOCK,
};

/// Recipes longer than this are cut (their cost is in the tree, not in the bytes).
const MAX_RECIPE: usize = 1024;

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"regf") {
        // 1. A whole file, as is and with its checksum repaired.
        check(data);
        if data.len() >= BLOCK {
            let mut fixed = data.to_vec();
            fix_checksum(&mut fixed);
            if fixed[0x1FC..0x200] != data[0x1FC..0x200] {
                check(&fixed);
            }
        }
    } else if data.starts_with(b"hbin") {
        // 2. The input as the bins behind a base block of ours.
        let bins_len = data.len().div_ceil(BLOCK).max(1) * BLOCK;
        let mut file = vec![0u8; BLOCK + bins_len];
        file[..4].copy_from_slice(b"regf");
        file[0x14] = 1;
        file[0x18] = 5;
        file[0x20] = 1;
        file[0x24] = 0x20;
        file[0x28..0x2C].copy_from_slice(&(bins_len as u32).to_le_bytes());
        fix_checksum(&mut file);
        file[BLOCK..BLOCK + data.len()].copy_from_slice(data);
        check(&file);
    } else {
        // 3. A tree described by the input, written by us.
        let (tree, patches) = recipe(&data[..data.len().min(MAX_RECIPE)]);
        let bytes = HiveBuilder::new(tree.clone())
            .file_name("fuzz")
            .timestamp(7)
            .build()
            .expect("the recipe builds valid trees");
        let hive = Hive::parse(&bytes).expect("our own hive parses");
        assert_eq!(canonical(&hive.root), canonical(&tree));
        assert_eq!(hive.file_name, "fuzz");
        if patches.is_empty() {
            return;
        }
        let mut patched = bytes;
        for (at, byte) in patches {
            let at = at % patched.len();
            patched[at] = byte;
        }
        fix_checksum(&mut patched);
        check(&patched);
    }
});

fn fix_checksum(file: &mut [u8]) {
    let sum = base_block_checksum(&file[..BLOCK]);
    file[0x1FC..0x200].copy_from_slice(&sum.to_le_bytes());
}

/// Parse; for a hive that parses, walk it and check write + parse gives it back.
fn check(bytes: &[u8]) {
    let hive = match Hive::parse(bytes) {
        Ok(h) => h,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // The write + parse round trip costs a few times the parse: on hives of at most 256 keys
    // (the recipes cover large trees through the writer).
    if walk(&hive) > 256 {
        return;
    }
    let out = hive.to_bytes().expect("a parsed hive can be written");
    let again = Hive::parse(&out).expect("our rewrite parses");
    assert_eq!(canonical(&again.root), canonical(&hive.root));
    assert_eq!(again.file_name, hive.file_name);
    assert_eq!(again.timestamp, hive.timestamp);
    assert!(!again.dirty);
}

/// Look keys up by their paths (at most 64 keys and 8192 name comparisons in all: a look-up
/// compares names with every sibling on the way), decode every value, and run the BCD reader
/// and the device decoder over whatever is there. Returns the number of keys.
fn walk(hive: &Hive) -> usize {
    // (path, key, name comparisons its look-up costs)
    let mut stack: Vec<(String, &KeyNode, usize)> = vec![(String::new(), &hive.root, 0)];
    let mut looked_up = 0;
    let mut budget = 8192usize;
    let mut keys = 0usize;
    let mut text_budget = 128usize << 10;
    while let Some((path, key, cost)) = stack.pop() {
        keys += 1;
        if looked_up < 64 && cost <= budget && !path.split('\\').any(str::is_empty) {
            looked_up += 1;
            budget -= cost;
            let found = hive.root.get(&path).expect("every key is found by its path");
            assert!(std::ptr::eq(found, key) || path.is_empty());
        }
        for v in &key.values {
            let _ = (v.as_dword(), v.as_qword());
            // Text decoding is linear in the data: 128 KiB of it per hive.
            if v.data.len() <= text_budget {
                text_budget -= v.data.len();
                let _ = (v.as_string(), v.as_multi_sz());
            }
            let _ = bcd::decode_device(&v.data);
        }
        // A value is found by its name (the first 16 of each key: a linear search each).
        for v in key.values.iter().take(16) {
            assert!(key.value(&v.name).is_some());
        }
        for s in &key.subkeys {
            let p = if path.is_empty() { s.name.clone() } else { format!("{path}\\{}", s.name) };
            stack.push((p, s, cost.saturating_add(key.subkeys.len())));
        }
    }
    let _ = hive.current_control_set();
    if let Ok(objects) = bcd::read_store(hive) {
        for o in &objects {
            for (t, _) in &o.elements {
                let _ = o.device(*t);
            }
        }
    }
    keys
}

/// The tree as the writer stores it: subkeys sorted by upper-cased name, every key with a
/// descriptor (the default where it had none), the root flagged no-delete.
fn canonical(k: &KeyNode) -> KeyNode {
    let default: Arc<[u8]> = default_security_descriptor().into();
    let mut k = k.clone();
    k.flags |= 0x0008;
    let mut stack = vec![&mut k];
    while let Some(n) = stack.pop() {
        n.security.get_or_insert_with(|| default.clone());
        // Upper-cased, then the exact name: a total order on distinct names either way.
        n.subkeys.sort_by_cached_key(|s| {
            let upper: String = s.name.chars().flat_map(char::to_uppercase).collect();
            (upper, s.name.clone())
        });
        stack.extend(n.subkeys.iter_mut());
    }
    k
}

/// A tree from the input: one operation per byte (plus its operands), and byte patches to
/// apply to the written file.
fn recipe(data: &[u8]) -> (KeyNode, Vec<(usize, u8)>) {
    const KINDS: [u32; 9] = [
        regf::REG_NONE,
        regf::REG_SZ,
        regf::REG_EXPAND_SZ,
        regf::REG_BINARY,
        regf::REG_DWORD,
        regf::REG_MULTI_SZ,
        regf::REG_QWORD,
        0x2000_0000,
        0xFFFF_FFFF,
    ];
    const NAMES: [&str; 6] = ["Key", "kEY", "Ünï", "日本", "x", "Element"];
    let mut root = KeyNode::new("ROOT");
    let mut path: Vec<usize> = Vec::new();
    let mut patches = Vec::new();
    let mut it = data.iter().copied();
    let mut total_data = 0usize;
    let mut many = 0usize;
    while let Some(op) = it.next() {
        let arg = it.next().unwrap_or(0);
        let node = path.iter().fold(&mut root, |k, &i| &mut k.subkeys[i]);
        match op % 8 {
            0 if path.len() < 40 => {
                let name = format!("{}{}", NAMES[arg as usize % NAMES.len()], arg / 6);
                if node.subkey(&name).is_none() {
                    node.subkeys.push(KeyNode::new(&name));
                    path.push(node.subkeys.len() - 1);
                }
            }
            1 => {
                path.pop();
            }
            2 => {
                // Lengths up to 64 KiB (big data above 16344), 96 KiB in all.
                let hi = it.next().unwrap_or(0) as usize;
                let len = (hi << 8 | arg as usize).min((96 << 10) - total_data);
                total_data += len;
                let name = format!("{}{}", NAMES[hi % NAMES.len()], arg % 4);
                let kind = KINDS[arg as usize % KINDS.len()];
                let data = (0..len).map(|i| (i as u8) ^ arg).collect();
                node.set_value(Value::raw(&name, kind, data));
            }
            3 => node.class = Some(vec![arg; arg as usize % 20 + 1]),
            4 => node.security = Some(Arc::from(vec![1, 0, 4, arg].as_slice())),
            5 => {
                // Many subkeys at once: more than one lh leaf (500 entries) under an ri
                // index. Numbered across the whole tree, so they never clash and need no
                // look-up. 520 in all: two leaves.
                let n = (arg as usize * 4).min(520 - many);
                for _ in 0..n {
                    node.subkeys.push(KeyNode::new(&format!("m{many}")));
                    many += 1;
                }
            }
            6 => {
                let b = [arg, it.next().unwrap_or(0), it.next().unwrap_or(0)];
                patches.push((
                    u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize,
                    it.next().unwrap_or(0),
                ));
            }
            7 => node.timestamp = u64::from(arg) << 40,
            _ => {}
        }
    }
    (root, patches)
}
