//! Registry hives (`regf::Hive::parse`) on arbitrary bytes, three ways per input:
//!
//! 1. the input as a whole hive file, and again with its base block checksum repaired;
//! 2. the input as the hive bins behind a valid base block we add (root at the first cell),
//!    so that inputs under libFuzzer's default 4 KiB reach the cell parser;
//! 3. the input as a recipe: a key tree (subkeys, values of every type up to big data, more
//!    than one lh leaf, classes, descriptors) that our writer must write and our parser read
//!    back unchanged, then patched at input-chosen offsets and parsed again.
//!
//! Must never panic. Every hive that parses is walked (every key looked up by its path,
//! values decoded, the BCD reader and the device decoder run over it), written with the
//! writer, and the rewrite must parse to the same tree (children compared in the writer's
//! sorted order, keys without a descriptor given the writer's default).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use polyboot_core::bcd;
use polyboot_core::regf::{
    self, base_block_checksum, default_security_descriptor, Hive, HiveBuilder, KeyNode, Value,
    BLOCK,
};

fuzz_target!(|data: &[u8]| {
    // 1. A whole file, as is and with its checksum repaired.
    check(data);
    if data.len() >= BLOCK {
        let mut fixed = data.to_vec();
        fix_checksum(&mut fixed);
        check(&fixed);
    }

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

    // 3. A tree described by the input, written by us.
    let (tree, patches) = recipe(data);
    let bytes = HiveBuilder::new(tree.clone())
        .file_name("fuzz")
        .timestamp(7)
        .build()
        .expect("the recipe builds valid trees");
    let hive = Hive::parse(&bytes).expect("our own hive parses");
    assert_eq!(canonical(&hive.root), canonical(&tree));
    assert_eq!(hive.file_name, "fuzz");
    let mut patched = bytes;
    for (at, byte) in patches {
        let at = at % patched.len();
        patched[at] = byte;
    }
    fix_checksum(&mut patched);
    check(&patched);
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
    walk(&hive);
    let out = hive.to_bytes().expect("a parsed hive can be written");
    let again = Hive::parse(&out).expect("our rewrite parses");
    assert_eq!(canonical(&again.root), canonical(&hive.root));
    assert_eq!(again.file_name, hive.file_name);
    assert_eq!(again.timestamp, hive.timestamp);
    assert!(!again.dirty);
}

/// Look keys up by their paths (the first 64 keys: bounded), decode every value, and run
/// the BCD reader and the device decoder over whatever is there.
fn walk(hive: &Hive) {
    let mut stack: Vec<(String, &KeyNode)> = vec![(String::new(), &hive.root)];
    let mut looked_up = 0;
    while let Some((path, key)) = stack.pop() {
        if looked_up < 64 && !path.split('\\').any(str::is_empty) {
            looked_up += 1;
            let found = hive
                .root
                .get(&path)
                .expect("every key is found by its path");
            assert!(std::ptr::eq(found, key) || path.is_empty());
        }
        for v in &key.values {
            let _ = (v.as_dword(), v.as_qword(), v.as_string(), v.as_multi_sz());
            assert!(key.value(&v.name).is_some());
            let _ = bcd::decode_device(&v.data);
        }
        for s in &key.subkeys {
            let p = if path.is_empty() {
                s.name.clone()
            } else {
                format!("{path}\\{}", s.name)
            };
            stack.push((p, s));
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
                // Lengths up to 64 KiB (big data above 16344), 1 MiB in all.
                let hi = it.next().unwrap_or(0) as usize;
                let len = (hi << 8 | arg as usize).min((1 << 20) - total_data);
                total_data += len;
                let name = format!("{}{}", NAMES[hi % NAMES.len()], arg % 4);
                let kind = KINDS[arg as usize % KINDS.len()];
                let data = (0..len).map(|i| (i as u8) ^ arg).collect();
                node.set_value(Value::raw(&name, kind, data));
            }
            3 => node.class = Some(vec![arg; arg as usize % 20 + 1]),
            4 => node.security = Some(Arc::from(vec![1, 0, 4, arg].as_slice())),
            5 => {
                // Many subkeys at once: more than one lh leaf under an ri index. Numbered
                // across the whole tree, so they never clash and need no look-up.
                let n = (arg as usize * 8).min(4000 - many);
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
