//! Unit tests of the hive reader and writer: round trips, the layout Windows expects, and
//! hostile files (truncations, bad offsets, cycles, absurd counts, random mutations).

use super::cells::{HBIN_HEADER, KEY_NO_DELETE, NK_FIXED};
use super::names::{decode_name, encode_name, folded, folded_less, utf16_len, utf16z};
use super::*;
use crate::bytes;
use alloc::format;
use alloc::string::ToString;
use alloc::vec;

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
    u.security =
        Some(Arc::from(&[1u8, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]));
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
        let size = bytes::le32(bins, at + 8).unwrap() as usize;
        let mut c = at + HBIN_HEADER;
        while c < at + size {
            let len = (bytes::le32(bins, c).unwrap() as i32).unsigned_abs() as usize;
            let d = &bins[c + 4..c + len];
            if &d[..2] == b"nk" {
                let n = bytes::le16(d, 0x48).unwrap() as usize;
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
    let bytes =
        HiveBuilder::new(tree.clone()).file_name("\\??\\C:\\x\\BCD").timestamp(42).build().unwrap();
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
    assert_eq!(again, Hive { sequence: 2, ..hive });
}

#[test]
fn layout_is_what_windows_expects() {
    let bytes = HiveBuilder::new(sample_tree()).build().unwrap();
    assert_eq!(&bytes[..4], b"regf");
    assert_eq!(bytes::le32(&bytes, 0x24).ok(), Some(0x20), "root right after the first bin header");
    assert_eq!(bytes::le32(&bytes, 0x1FC).ok(), Some(base_block_checksum(&bytes)));
    assert_eq!(bytes::le32(&bytes, 0x28).unwrap() as usize, bytes.len() - BLOCK);
    assert_eq!(bytes.len() % BLOCK, 0);
    // Every bin a multiple of 4096 and fully covered by cells.
    let mut at = BLOCK;
    let mut bins = 0;
    while at < bytes.len() {
        assert_eq!(&bytes[at..at + 4], b"hbin");
        assert_eq!(bytes::le32(&bytes, at + 4).unwrap() as usize, at - BLOCK);
        let size = bytes::le32(&bytes, at + 8).unwrap() as usize;
        assert_eq!(size % BLOCK, 0);
        let mut c = at + HBIN_HEADER;
        while c < at + size {
            let len = (bytes::le32(&bytes, c).unwrap() as i32).unsigned_abs() as usize;
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
    let list = bytes::le32(&bytes[BLOCK..], many + 4 + 0x1C).unwrap() as usize;
    let ri = &bytes[BLOCK + list + 4..];
    assert_eq!(&ri[..2], b"ri");
    assert_eq!(bytes::le16(ri, 2).ok(), Some(3));
    let mut names = Vec::new();
    for i in 0..3 {
        let leaf_at = bytes::le32(ri, 4 + 4 * i).unwrap() as usize;
        let leaf = &bytes[BLOCK + leaf_at + 4..];
        assert_eq!(&leaf[..2], b"lh");
        let n = bytes::le16(leaf, 2).unwrap() as usize;
        assert!(n <= MAX_LEAF_ENTRIES);
        for j in 0..n {
            let nk = bytes::le32(leaf, 4 + 8 * j).unwrap() as usize;
            let d = &bytes[BLOCK + nk + 4..];
            let name = core::str::from_utf8(
                &d[NK_FIXED..NK_FIXED + bytes::le16(d, 0x48).unwrap() as usize],
            )
            .unwrap();
            assert_eq!(bytes::le32(leaf, 8 + 8 * j).ok(), Some(lh_hash(name)));
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
    root.create_path("A\\B", 0).unwrap().set_value(Value::dword("X", 1));
    assert!(root.get("a\\b").is_some());
    assert!(root.get("\\A\\\\B\\").is_some());
    root.get_mut("A\\B").unwrap().set_value(Value::dword("x", 2));
    assert_eq!(root.get("A\\B").unwrap().values.len(), 1);
    assert_eq!(root.get("A\\B").unwrap().value("X").unwrap().as_dword(), Some(2));
    assert!(matches!(root.add_subkey(KeyNode::new("a")), Err(RegfError::DuplicateKey { .. })));
    assert!(root.create_path("A\\", 0).is_ok());
    assert!(matches!(root.add_subkey(KeyNode::new("x\\y")), Err(RegfError::BadName { .. })));
    assert!(matches!(
        root.add_subkey(KeyNode::new(&"n".repeat(256))),
        Err(RegfError::BadName { .. })
    ));
    root.subkeys.push(KeyNode::new("A"));
    assert!(matches!(HiveBuilder::new(root).build(), Err(RegfError::DuplicateKey { .. })));
}

/// The names' rules the long way (unit by unit), against which the short ways for ASCII
/// names are checked.
fn folded_slowly(name: &str) -> Vec<u16> {
    name.encode_utf16()
        .map(|u| match char::from_u32(u32::from(u)) {
            Some(c) => {
                let mut up = c.to_uppercase();
                match (up.next(), up.next()) {
                    (Some(x), None) if (x as u32) <= 0xFFFF => x as u16,
                    _ => u,
                }
            }
            None => u,
        })
        .collect()
}

#[test]
fn name_rules_short_ways_agree_with_the_long_way() {
    // ASCII, Latin-1, beyond, prefixes of one another, and non-ASCII characters that
    // upper-case to ASCII ones ('ı' to 'I', 'ſ' to 'S') or not ('K' Kelvin sign).
    let names = [
        "",
        "a",
        "A",
        "ab",
        "aB",
        "abc",
        "Abd",
        "b",
        "I",
        "i",
        "\u{131}",
        "S",
        "s",
        "\u{17F}",
        "K",
        "k",
        "\u{212A}",
        "ü",
        "Ü",
        "Key1",
        "KEY1",
        "Key10",
        "Key2",
        "key\u{131}",
        "keyI",
        "m007",
        "M008",
        "日本",
        "日本x",
        "x日本",
        "日本X",
        "日本y",
        "üb",
        "üB",
        "ÜB",
        "ü\u{131}",
        "üI",
        "[",
        "_",
        "`",
        "{",
        "~",
        "\u{7F}",
    ];
    for a in names {
        assert_eq!(folded(a), folded_slowly(a), "folded({a:?})");
        assert_eq!(utf16_len(a), a.encode_utf16().count(), "utf16_len({a:?})");
        let hash = folded_slowly(a)
            .iter()
            .fold(0u32, |h, &u| h.wrapping_mul(37).wrapping_add(u32::from(u)));
        assert_eq!(lh_hash(a), hash, "lh_hash({a:?})");
        let (raw, compressed) = encode_name(a);
        assert_eq!(compressed, a.chars().all(|c| (c as u32) <= 0xFF), "encode_name({a:?})");
        assert_eq!(decode_name(&raw, compressed), a, "decode_name(encode_name({a:?}))");
        for b in names {
            let (fa, fb) = (folded_slowly(a), folded_slowly(b));
            assert_eq!(names_equal(a, b), fa == fb, "names_equal({a:?}, {b:?})");
            assert_eq!(folded_less(a, b), fa < fb, "folded_less({a:?}, {b:?})");
        }
    }
    assert!(names_equal("\u{131}", "I") && !names_equal("\u{212A}", "k"));
    // Compressed names are Latin-1, ASCII or not.
    assert_eq!(decode_name(b"ab\xFC", true), "abü");
    assert_eq!(decode_name(b"abc", true), "abc");
}

#[test]
fn duplicate_subkeys_in_list_order_are_refused() {
    // "A" and "B" as written (sorted), then "B" renamed "a": the list is still in order
    // (the short way of the duplicate check), and "A" / "a" are one name.
    let mut root = KeyNode::new("r");
    root.create_path("A", 0).unwrap();
    root.create_path("B", 0).unwrap();
    let mut b = HiveBuilder::new(root).build().unwrap();
    let at = BLOCK + find_nk(&b, "B") + 4 + NK_FIXED;
    b[at] = b'a';
    assert_eq!(Hive::parse(&b), Err(RegfError::DuplicateKey { name: "a".into() }));
}

#[test]
fn value_accessors() {
    assert_eq!(Value::sz("a", "hé").as_string().unwrap(), "hé");
    assert_eq!(Value::multi_sz("a", &["x", "y"]).as_multi_sz().unwrap(), ["x", "y"]);
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
    assert_eq!(canonical(&Hive::parse(&bytes).unwrap().root).subkeys.len(), 1);
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
    let root_list = bytes::le32(&b[BLOCK..], 0x20 + 4 + 0x1C).unwrap() as usize;
    patch32(&mut b, 0x20 + 4 + 0x14, 1);
    b[BLOCK + root_list + 6..BLOCK + root_list + 8].copy_from_slice(&1u16.to_le_bytes());
    let x = find_nk(&b, "x");
    let x_list = bytes::le32(&b[BLOCK..], x + 4 + 0x1C).unwrap();
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
    assert!(matches!(Hive::parse(&b), Err(RegfError::BadChecksum { .. })));
    let mut b = good.clone();
    b[0] = b'x';
    assert!(matches!(Hive::parse(&b), Err(RegfError::BadSignature { what: "regf", .. })));
    let mut b = good.clone();
    b[0x14] = 2;
    fix_checksum(&mut b);
    assert!(matches!(Hive::parse(&b), Err(RegfError::UnsupportedVersion { major: 2, .. })));
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
    assert_eq!((bytes::le32(&clean, 4).ok(), bytes::le32(&clean, 8).ok()), (Some(10), Some(10)));
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
        assert!(matches!(Hive::parse(&b), Err(RegfError::BadCell { .. })), "{what}");
    }
    // A value list entry pointing into the middle of another cell.
    let mut b = good.clone();
    let nk = find_nk(&b, "Polyboot");
    let list = bytes::le32(&b[BLOCK..], nk + 4 + 0x28).unwrap() as usize;
    patch32(&mut b, list + 4, nk as u32 + 16);
    assert!(matches!(Hive::parse(&b), Err(RegfError::BadCell { .. })));
    // A free cell is not a key.
    let mut b = good.clone();
    let nk = find_nk(&b, "Many");
    let size = bytes::le32(&b[BLOCK..], nk).unwrap() as i32;
    patch32(&mut b, nk, (-size) as u32);
    assert!(matches!(Hive::parse(&b), Err(RegfError::BadCell { .. })));
}

#[test]
fn cycles_and_shared_cells_are_refused() {
    let mut root = KeyNode::new("r");
    root.create_path("A\\B", 0).unwrap();
    root.create_path("A\\B\\C", 0).unwrap().set_value(Value::binary("v", &[1, 2, 3, 4, 5]));
    let good = HiveBuilder::new(root).build().unwrap();
    assert!(Hive::parse(&good).is_ok());
    // C's subkey list is A's list (which leads back to B, C, ...).
    let a = find_nk(&good, "A");
    let c = find_nk(&good, "C");
    let a_list = bytes::le32(&good[BLOCK..], a + 4 + 0x1C).unwrap();
    let mut b = good.clone();
    patch32(&mut b, c + 4 + 0x14, 1);
    patch32(&mut b, c + 4 + 0x1C, a_list);
    assert!(matches!(Hive::parse(&b), Err(RegfError::CellReused { .. })));
    // Root's list points at the root itself: a cycle through the key cell.
    let root_list = bytes::le32(&good[BLOCK..], 0x20 + 4 + 0x1C).unwrap() as usize;
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
    let list = bytes::le32(&good[BLOCK..], nk + 4 + 0x28).unwrap() as usize;
    let vk = bytes::le32(&good[BLOCK..], list + 4).unwrap() as usize;
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
        assert!(matches!(Hive::parse(&b), Err(RegfError::BadHbin { .. })), "{v}");
    }
}

/// Mutated hives: never a panic, and whatever parses survives write + parse unchanged.
#[test]
fn mutations_never_panic() {
    let mut root = KeyNode::new("r");
    root.create_path("A\\B", 0).unwrap().set_value(Value::sz("s", "text"));
    root.create_path("C", 0).unwrap().set_value(Value::binary("big", &pattern(20_000)));
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
    h.root.create_path("Select", 0).unwrap().set_value(Value::dword("Current", current));
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
        assert_eq!(pos.value("PortableOperatingSystem").unwrap().as_dword(), Some(1));
        assert_eq!(pos.value("SystemBootDevice").unwrap().as_string().unwrap(), "multi(0)");
        let p = h2.root.get(&format!("{set}\\Services\\partmgr\\Parameters")).unwrap();
        assert_eq!(p.value("SanPolicy").unwrap().as_dword(), Some(4));
        assert_eq!(p.timestamp, 5);
        let other = if current == 1 { "ControlSet002" } else { "ControlSet001" };
        assert!(h2
            .root
            .get(&format!("{other}\\Control"))
            .unwrap()
            .value("PortableOperatingSystem")
            .is_none());
    }
    let mut h = Hive::parse(&system_hive(1).to_bytes().unwrap()).unwrap();
    set_portable_workspace_policy(&mut h, false, 0).unwrap();
    assert!(h.root.get("ControlSet001\\Services\\partmgr\\Parameters").is_none());
    assert!(matches!(system_hive(3).current_control_set(), Err(RegfError::NotFound { .. })));
    assert!(matches!(Hive::new("x").current_control_set(), Err(RegfError::NotFound { .. })));
}

#[test]
fn reads_lf_and_li_lists() {
    let mut root = KeyNode::new("r");
    for n in ["b", "A", "c"] {
        root.create_path(n, 0).unwrap().set_value(Value::dword(n, 1));
    }
    let good = HiveBuilder::new(root).build().unwrap();
    let expect = Hive::parse(&good).unwrap();
    let list = bytes::le32(&good[BLOCK..], 0x20 + 4 + 0x1C).unwrap() as usize;
    let at = BLOCK + list + 4;
    let entries: Vec<u32> = (0..3).map(|i| bytes::le32(&good, at + 4 + 8 * i).unwrap()).collect();
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
    assert!(matches!(Hive::parse(&b), Err(RegfError::BadSignature { .. })));
}

#[test]
fn default_descriptor_is_well_formed() {
    let sd = default_security_descriptor();
    assert_eq!((sd[0], bytes::le16(&sd, 2).ok()), (1, Some(0x8004)));
    let owner = bytes::le32(&sd, 4).unwrap() as usize;
    let group = bytes::le32(&sd, 8).unwrap() as usize;
    let dacl = bytes::le32(&sd, 16).unwrap() as usize;
    assert_eq!(bytes::le32(&sd, 12).ok(), Some(0), "no SACL");
    // S-1-5-32-544 (Administrators), S-1-5-18 (SYSTEM).
    assert_eq!(&sd[owner..owner + 8], &[1, 2, 0, 0, 0, 0, 0, 5]);
    assert_eq!(bytes::le32(&sd, owner + 12).ok(), Some(544));
    assert_eq!(&sd[group..group + 8], &[1, 1, 0, 0, 0, 0, 0, 5]);
    assert_eq!(bytes::le32(&sd, group + 8).ok(), Some(18));
    let acl_size = bytes::le16(&sd, dacl + 2).unwrap() as usize;
    assert_eq!(dacl + acl_size, sd.len());
    let count = bytes::le16(&sd, dacl + 4).unwrap();
    let mut ace = dacl + 8;
    for _ in 0..count {
        let size = bytes::le16(&sd, ace + 2).unwrap() as usize;
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
        let len = (bytes::le32(&bytes, c).unwrap() as i32).unsigned_abs() as usize;
        if &bytes[c + 4..c + 6] == b"sk" {
            sks.push(c - BLOCK);
        }
        c += len;
    }
    assert_eq!(sks.len(), 2, "the root's default and the custom one");
    let bins = &bytes[BLOCK..];
    let refs: Vec<u32> = sks.iter().map(|&s| bytes::le32(bins, s + 4 + 0x0C).unwrap()).collect();
    assert_eq!(refs, [1, 4]);
    assert_eq!(bytes::le32(bins, sks[0] + 4 + 4).ok(), Some(sks[1] as u32));
    assert_eq!(bytes::le32(bins, sks[1] + 4 + 4).ok(), Some(sks[0] as u32));
    assert_eq!(bytes::le32(bins, sks[0] + 4 + 8).ok(), Some(sks[1] as u32));
    let hive = Hive::parse(&bytes).unwrap();
    assert_eq!(hive.root.get("d").unwrap().security.as_deref(), Some(&custom[..]));
}

#[test]
fn errors_display() {
    let e = RegfError::BadCell { what: "key", offset: 0x20 };
    assert_eq!(e.to_string(), "hive: key at cell offset 0x20 is not a valid cell");
    assert!(RegfError::TooDeep.to_string().contains("512"));
}
