//! Registry hives (`regf::Hive::parse`, `Hive::to_bytes`) on arbitrary bytes. The input's
//! first bytes say what it is (one reading per input, so that each execution stays cheap):
//!
//! 1. `regf...`: a whole hive file, parsed as is and, only when its base block checksum is
//!    wrong, again with the checksum repaired (so that mutations get past it);
//! 2. `hbin...`: the hive bins behind a valid base block we add (root at the first cell), so
//!    that mutations of the bins are not lost to the base block checks;
//! 3. anything else: a recipe (its first 1 KiB): a key tree (subkeys, values of every type up
//!    to big data, more than one lh leaf under an ri index, classes, descriptors) that our
//!    writer must write and our parser read back unchanged (file name, timestamp, sequence
//!    number too), then, when the recipe has patches, patched at input-chosen offsets and
//!    checked like a hive file.
//!
//! What is checked, on every input: no panic, no hang, memory bounded. On every hive that
//! parses (1, 2, the patched recipes), `walk`:
//! - every value decoded as DWORD / QWORD and by the BCD device decoder, and as text within
//!   `TEXT_BUDGET` bytes of data per hive (text decoding is linear in the data and the same
//!   code for every value: a few KiB of it per input find what megabytes would);
//! - keys looked up by their path (`KeyNode::get`) must be found, and be that key: the first
//!   `MAX_LOOKUPS` keys whose look-ups fit in `LOOKUP_BUDGET` name comparisons in all (a
//!   look-up compares its name with every sibling on the way, so the keys under a key with
//!   500 subkeys cost 500 each); the first 16 values of every key found by their names;
//! - the BCD reader and `current_control_set` run over it;
//! - on hives of at most `MAX_ROUND_TRIP_KEYS` keys, written again with the writer, and the
//!   rewrite must parse to the same tree (subkeys paired by name, keys without a descriptor
//!   given the writer's default, the root flagged no-delete), file name and timestamp, clean.
//!   Larger parsed hives are not rewritten: the writer and parser on large trees are checked
//!   on every recipe (3), up to about 1,000 keys (520 under one key), with no such limit.
//!
//! Why these limits: the target must run at ≥ 1,000 executions per second to explore (with
//! libFuzzer's comparison tracing and overflow checks every comparison in the parser costs a
//! callback), and a recipe of 520 subkeys was taking milliseconds in walks and look-ups that
//! find nothing the first few keys and KiB do not. Trees are compared in place
//! (`assert_same_tree`), without copies. Seeds (seedgen `regf_seeds.rs`): BCD stores and
//! trees written by polyboot, the same edited by hivex (`hivexsh`) when installed, their bins
//! alone, and recipes. `regf.options`: `-max_len` = the largest seed (a hive of 600 subkeys).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use polyboot_core::bcd;
use polyboot_core::regf::{
    self, base_block_checksum, default_security_descriptor, Hive, KeyNode, Value, BLOCK,
};

/// Recipes longer than this are cut (their cost is in the tree, not in the bytes).
const MAX_RECIPE: usize = 1024;
/// Value data decoded as text (`as_string`, `as_multi_sz`) per hive walked.
const TEXT_BUDGET: usize = 8 << 10;
/// Keys looked up by their path per hive walked, and the name comparisons they may cost.
const MAX_LOOKUPS: usize = 64;
const LOOKUP_BUDGET: usize = 2048;
/// Parsed hives up to this many keys are written again and re-parsed.
const MAX_ROUND_TRIP_KEYS: usize = 256;

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"regf") {
        // 1. A whole file, as is, and with its checksum repaired when that was wrong.
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
        // (Written through `Hive` rather than `HiveBuilder`, both `write_hive`: the tree is
        // compared afterwards, and a builder would need a copy of it.)
        let recipe = Hive {
            root: tree,
            file_name: "fuzz".into(),
            timestamp: 7,
            minor_version: 5,
            sequence: 0,
            dirty: false,
        };
        let bytes = recipe.to_bytes().expect("the recipe builds valid trees");
        let hive = Hive::parse(&bytes).expect("our own hive parses");
        assert_same_tree(&hive.root, &recipe.root);
        assert_eq!((hive.file_name.as_str(), hive.timestamp, hive.sequence), ("fuzz", 7, 1));
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
    // The write + parse round trip costs a few times the parse: on hives of at most
    // MAX_ROUND_TRIP_KEYS keys (the recipes cover large trees through the writer).
    if walk(&hive) > MAX_ROUND_TRIP_KEYS {
        return;
    }
    let out = hive.to_bytes().expect("a parsed hive can be written");
    let again = Hive::parse(&out).expect("our rewrite parses");
    assert_same_tree(&again.root, &hive.root);
    assert_eq!(again.file_name, hive.file_name);
    assert_eq!(again.timestamp, hive.timestamp);
    assert!(!again.dirty);
}

/// Look keys up by their paths (at most MAX_LOOKUPS keys and LOOKUP_BUDGET name comparisons
/// in all: a look-up compares names with every sibling on the way), decode every value, and
/// run the BCD reader and the device decoder over whatever is there. Returns the number of
/// keys.
fn walk(hive: &Hive) -> usize {
    // (path, key, name comparisons its look-up costs); the path only while a look-up of the
    // key is still possible (both limits only shrink, and a subkey costs more than its key).
    let mut stack: Vec<(Option<String>, &KeyNode, usize)> =
        vec![(Some(String::new()), &hive.root, 0)];
    let mut looked_up = 0;
    let mut budget = LOOKUP_BUDGET;
    let mut keys = 0usize;
    let mut text_budget = TEXT_BUDGET;
    while let Some((path, key, cost)) = stack.pop() {
        keys += 1;
        if let Some(path) = path.as_deref() {
            if looked_up < MAX_LOOKUPS && cost <= budget && !path.split('\\').any(str::is_empty) {
                looked_up += 1;
                budget -= cost;
                let found = hive.root.get(path).expect("every key is found by its path");
                assert!(std::ptr::eq(found, key) || path.is_empty());
            }
        }
        for v in &key.values {
            let _ = (v.as_dword(), v.as_qword());
            // Text decoding is linear in the data: TEXT_BUDGET bytes of it per hive.
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
        let sub_cost = cost.saturating_add(key.subkeys.len());
        for s in &key.subkeys {
            let p = match path.as_deref() {
                Some(_) if looked_up >= MAX_LOOKUPS || sub_cost > budget => None,
                Some("") => Some(s.name.clone()),
                Some(path) => Some(format!("{path}\\{}", s.name)),
                None => None,
            };
            stack.push((p, s, sub_cost));
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

/// `canonical(a) == canonical(b)`, compared in place (no copy of the trees and their data);
/// on a difference, the canonical trees are compared by `assert_eq!` for a readable report.
fn assert_same_tree(a: &KeyNode, b: &KeyNode) {
    if !same_tree(a, b) {
        assert_eq!(canonical(a), canonical(b));
        panic!("same_tree and canonical disagree");
    }
}

/// Equal as [`canonical`] trees: every key's fields equal, the descriptor `None` counted as
/// the default one and the root's no-delete flag set, subkeys paired by name. Siblings have
/// distinct names (the parser and the recipes see to it), so pairing them in name order is
/// pairing them in `canonical`'s order.
fn same_tree(a: &KeyNode, b: &KeyNode) -> bool {
    static DEFAULT: OnceLock<Vec<u8>> = OnceLock::new();
    let default = DEFAULT.get_or_init(default_security_descriptor);
    let mut stack = vec![(a, b, true)];
    while let Some((a, b, root)) = stack.pop() {
        let flags = |k: &KeyNode| if root { k.flags | 0x0008 } else { k.flags };
        if a.name != b.name
            || a.class != b.class
            || a.timestamp != b.timestamp
            || flags(a) != flags(b)
            || a.values != b.values
            || a.subkeys.len() != b.subkeys.len()
            || a.security.as_deref().unwrap_or(&default[..])
                != b.security.as_deref().unwrap_or(&default[..])
        {
            return false;
        }
        if a.subkeys.iter().zip(&b.subkeys).all(|(p, q)| p.name == q.name) {
            // Already paired (a hive and its rewrite list subkeys in the same order).
            stack.extend(a.subkeys.iter().zip(&b.subkeys).map(|(p, q)| (p, q, false)));
            continue;
        }
        let mut x: Vec<&KeyNode> = a.subkeys.iter().collect();
        let mut y: Vec<&KeyNode> = b.subkeys.iter().collect();
        x.sort_by(|p, q| p.name.cmp(&q.name));
        y.sort_by(|p, q| p.name.cmp(&q.name));
        stack.extend(x.into_iter().zip(y).map(|(p, q)| (p, q, false)));
    }
    true
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

/// `PATTERNS[a][i] = i ^ a`: value data, built when the target is compiled.
static PATTERNS: [[u8; 256]; 256] = {
    let mut t = [[0u8; 256]; 256];
    let mut a = 0;
    while a < 256 {
        let mut i = 0;
        while i < 256 {
            t[a][i] = (i ^ a) as u8;
            i += 1;
        }
        a += 1;
    }
    t
};

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
                // Byte i is (i as u8) ^ arg, copied 256 bytes at a time.
                let mut data = PATTERNS[arg as usize].repeat(len.div_ceil(256));
                data.truncate(len);
                node.set_value(Value::raw(&name, kind, data));
            }
            3 => node.class = Some(vec![arg; arg as usize % 20 + 1]),
            4 => node.security = Some(Arc::from(vec![1, 0, 4, arg].as_slice())),
            5 => {
                // Many subkeys at once: more than one lh leaf (500 entries) under an ri
                // index. Numbered across the whole tree, so they never clash and need no
                // look-up. 520 in all: two leaves. Zero-padded ("m007"), so that a run of
                // them is in the writer's order already (the order of the other keys is
                // the input's), as in the large hives Windows writes.
                static MANY: OnceLock<Vec<KeyNode>> = OnceLock::new();
                let all = MANY
                    .get_or_init(|| (0..520).map(|i| KeyNode::new(&format!("m{i:03}"))).collect());
                let n = (arg as usize * 4).min(520 - many);
                node.subkeys.extend_from_slice(&all[many..many + n]);
                many += n;
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
