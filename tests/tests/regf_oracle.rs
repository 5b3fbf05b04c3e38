//! The registry hive code (`polyboot_core::regf`) and the BCD store (`polyboot_core::bcd`)
//! against hivex (Debian `libhivex-bin`), an independent implementation:
//!
//! - hives we write are read by `hivexml`, `hivexget` and `hivexsh`: every key, every value's
//!   type and bytes (big data, 1200 subkeys under an `ri` index, Unicode names);
//! - hives hivex edits (`hivexsh -w`: keys added and deleted, values replaced, 600 subkeys)
//!   are read by our parser with the same contents, and our rewrite of them dumps to the same
//!   `hivexml` as hivex's file;
//! - BCD stores we build (UEFI + GPT, BIOS + MBR) list their objects, types and elements in
//!   `hivexsh`, and the device blobs printed by hivex decode to the GUIDs / signature / offset
//!   we put in.

use std::path::Path;
use std::process::Command;

use polyboot_core::bcd::{self, BcdFirmware, Device, Partition, StoreConfig};
use polyboot_core::guid::Guid;
use polyboot_core::regf::{self, Hive, HiveBuilder, KeyNode, Value};
use polyboot_tests::{find_tool, hivexget, pattern, run_tool};

/// `hivexsh [-w] -f SCRIPT HIVE`, failing with its output when it does not succeed.
fn hivexsh(hive: &Path, script: &str, write: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script");
    std::fs::write(&file, script).unwrap();
    let mut cmd = Command::new(find_tool("hivexsh"));
    if write {
        cmd.arg("-w");
    }
    cmd.arg("-f").arg(&file).arg(hive);
    run_tool(&mut cmd).unwrap()
}

/// `hivexml`, without the `<byte_runs>` (file offsets differ between writers).
fn hivexml(hive: &Path) -> String {
    let xml = run_tool(Command::new(find_tool("hivexml")).arg(hive)).unwrap();
    let mut out = String::new();
    let mut rest = xml.as_str();
    while let Some(start) = rest.find("<byte_runs>") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("</byte_runs>").expect("unterminated byte_runs") + start;
        rest = &rest[end + "</byte_runs>".len()..];
    }
    out.push_str(rest);
    out
}

/// A value as `hivexsh lsval` prints it.
#[derive(Debug, PartialEq)]
enum Shown {
    /// `"name"="text"` (type 1) or `str(N):"text"`.
    Text(u32, String),
    /// `dword:xxxxxxxx` or `hex(N):aa,bb,...`.
    Bytes(u32, Vec<u8>),
}

/// A quoted string with `\"` and `\\` escapes; returns it and the rest of the line.
fn unquote(s: &str) -> (String, &str) {
    let s = s.strip_prefix('"').unwrap_or_else(|| panic!("no quote: {s}"));
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next().unwrap().1),
            '"' => return (out, &s[i + 1..]),
            c => out.push(c),
        }
    }
    panic!("unterminated string: {s}");
}

fn parse_lsval(out: &str) -> Vec<(String, Shown)> {
    let mut values = Vec::new();
    for line in out.lines().filter(|l| l.starts_with('"')) {
        let (name, rest) = unquote(line);
        let name = if name == "@" { String::new() } else { name };
        let rest = rest.strip_prefix('=').unwrap();
        let shown = if rest.starts_with('"') {
            Shown::Text(regf::REG_SZ, unquote(rest).0)
        } else if let Some(r) = rest.strip_prefix("str(") {
            let (kind, text) = r.split_once("):").unwrap();
            Shown::Text(kind.parse().unwrap(), unquote(text).0)
        } else if let Some(hex) = rest.strip_prefix("dword:") {
            Shown::Bytes(
                regf::REG_DWORD,
                u32::from_str_radix(hex, 16).unwrap().to_le_bytes().to_vec(),
            )
        } else if let Some(r) = rest.strip_prefix("hex(") {
            let (kind, bytes) = polyboot_tests::hivex_hex(r);
            Shown::Bytes(kind, bytes)
        } else {
            panic!("unexpected lsval line {line}");
        };
        values.push((name, shown));
    }
    values
}

/// hivexsh shows the value as we stored it.
fn assert_shown(ours: &Value, shown: &Shown) {
    match shown {
        Shown::Text(kind, text) => {
            assert_eq!(*kind, ours.kind, "{}", ours.name);
            assert_eq!(ours.as_string().as_deref(), Some(text.as_str()), "{}", ours.name);
        }
        Shown::Bytes(kind, bytes) => {
            assert_eq!(*kind, ours.kind, "{}", ours.name);
            assert_eq!(bytes, &ours.data, "{}", ours.name);
        }
    }
}

/// Base64 as hivexml prints it (line breaks allowed).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= (val(c) as u32) << (18 - 6 * i);
        }
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// The attribute `value="..."` of hivexml's `<value ... key="KEY" ...>` element.
fn xml_value(xml: &str, key: &str) -> String {
    let at = xml.find(&format!("key=\"{key}\"")).unwrap_or_else(|| panic!("no value {key}"));
    let v = xml[at..].find("value=\"").unwrap() + at + "value=\"".len();
    let end = xml[v..].find('"').unwrap() + v;
    xml[v..end].to_string()
}

fn count_keys(k: &KeyNode) -> usize {
    1 + k.subkeys.iter().map(count_keys).sum::<usize>()
}

fn sample_tree() -> KeyNode {
    let mut root = KeyNode::new("ROOT");
    root.timestamp = 0x01DA_1234_5678_9ABC;
    let a = root.create_path("Software\\Polyboot", 0x01D0_0000_0000_0000).unwrap();
    a.set_value(Value::sz("Name", "polyboot"));
    a.set_value(Value::expand_sz("Path", "%SystemRoot%\\system32"));
    a.set_value(Value::dword("Dword", 7));
    a.set_value(Value::qword("Qword", 0x0123_4567_89AB_CDEF));
    a.set_value(Value::binary("Small", &[1, 2, 3]));
    a.set_value(Value::binary("Five", &[1, 2, 3, 4, 5]));
    a.set_value(Value::binary("Empty", &[]));
    a.set_value(Value::multi_sz("Multi", &["one", "two", "three"]));
    a.set_value(Value::raw("Bcd", 0x2000_0000, vec![0xAA; 9]));
    a.set_value(Value::sz("", "default value"));
    a.set_value(Value::binary("Big", &pattern(1, 40_000)));
    a.set_value(Value::binary("Edge", &pattern(2, regf::BIG_DATA_SEGMENT)));
    a.set_value(Value::sz("Ünïcode", "日本語"));
    root.create_path("Ünïcode\\日本語\\キー", 0).unwrap().set_value(Value::dword("x", 1));
    root.create_path("A\\B\\C\\D", 0).unwrap();
    let many = root.create_path("Many", 0).unwrap();
    for i in (0..1200).rev() {
        many.subkeys.push(KeyNode::new(&format!("Key{i:04}")));
    }
    root
}

#[test]
fn hives_we_write_read_back_in_hivex() {
    let dir = tempfile::tempdir().unwrap();
    let hive = dir.path().join("hive");
    let tree = sample_tree();
    std::fs::write(&hive, HiveBuilder::new(tree.clone()).build().unwrap()).unwrap();

    // hivexml: every key, and the big value's bytes.
    let xml = hivexml(&hive);
    assert_eq!(xml.matches("<node ").count(), count_keys(&tree));
    assert!(xml.contains("<node name=\"キー\">"));
    assert_eq!(base64_decode(&xml_value(&xml, "Big")), pattern(1, 40_000));
    assert_eq!(base64_decode(&xml_value(&xml, "Edge")), pattern(2, regf::BIG_DATA_SEGMENT));

    // hivexget: single values.
    assert_eq!(hivexget(&hive, "\\Software\\Polyboot", "Dword"), "7\n");
    assert_eq!(hivexget(&hive, "\\Software\\Polyboot", "Name"), "polyboot\n");
    // hivex lists the terminating empty string as a last, empty item.
    assert_eq!(hivexget(&hive, "\\Software\\Polyboot", "Multi"), "one\ntwo\nthree\n\n");
    assert_eq!(hivexget(&hive, "\\Ünïcode\\日本語\\キー", "x"), "1\n");

    // hivexsh: every value's type and bytes, in order; the 1200 subkeys, sorted.
    let out = hivexsh(&hive, "cd \\Software\\Polyboot\nlsval\n", false);
    let shown = parse_lsval(&out);
    let ours = &tree.get("Software\\Polyboot").unwrap().values;
    assert_eq!(shown.len(), ours.len());
    for (v, (name, s)) in ours.iter().zip(&shown) {
        assert_eq!(&v.name, name);
        assert_shown(v, s);
    }
    let out = hivexsh(&hive, "cd \\Many\nls\n", false);
    let names: Vec<&str> = out.lines().collect();
    let expect: Vec<String> = (0..1200).map(|i| format!("Key{i:04}")).collect();
    assert_eq!(names, expect);
    let out = hivexsh(&hive, "ls\n", false);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["A", "Many", "Software", "Ünïcode"]);
}

#[test]
fn hives_hivex_edits_read_back_in_ours() {
    let dir = tempfile::tempdir().unwrap();
    let hive = dir.path().join("hive");
    std::fs::write(&hive, HiveBuilder::new(sample_tree()).build().unwrap()).unwrap();

    // hivexsh reads lines of at most about 8 KiB, so the longest value it can set is about
    // 4000 bytes: hivex-written big data cannot be made here (our big data is checked the
    // other way round, above).
    let big: Vec<String> = pattern(3, 4000).iter().map(|b| format!("{b:02x}")).collect();
    let mut script = String::from("add FromHivex\ncd FromHivex\nsetval 6\n");
    script += "Text\nstring:hello\nExp\nexpandstring:%TEMP%\nD\ndword:0x12345678\n";
    // (hivexsh's own `qword:` leaves stack garbage in the upper bytes: hex:11 instead.)
    script += "Q\nhex:11:88,77,66,55,44,33,22,11\n@\nhex:3:de,ad\n";
    script += &format!("Big\nhex:3:{}\n", big.concat());
    for i in 0..600 {
        script += &format!("add Sub{i:03}\n");
    }
    script += "cd \\Software\\Polyboot\nsetval 1\nOnly\ndword:5\n";
    script += "cd \\A\\B\\C\\D\ndel\ncd \\Many\\Key0500\ndel\ncommit\n";
    hivexsh(&hive, &script, true);

    let bytes = std::fs::read(&hive).unwrap();
    let parsed = Hive::parse(&bytes).unwrap();
    let k = parsed.root.get("FromHivex").unwrap();
    assert_eq!(k.value("Text").unwrap().as_string().unwrap(), "hello");
    assert_eq!(k.value("Text").unwrap().kind, regf::REG_SZ);
    assert_eq!(k.value("Exp").unwrap().kind, regf::REG_EXPAND_SZ);
    assert_eq!(k.value("Exp").unwrap().as_string().unwrap(), "%TEMP%");
    assert_eq!(k.value("D").unwrap().as_dword(), Some(0x1234_5678));
    assert_eq!(k.value("Q").unwrap().as_qword(), Some(0x1122_3344_5566_7788));
    assert_eq!(k.value("").unwrap().data, [0xde, 0xad]);
    assert_eq!(k.value("Big").unwrap().data, pattern(3, 4000));
    let subs: Vec<&str> = k.subkeys.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(subs.len(), 600);
    assert!((0..600).all(|i| k.subkey(&format!("sub{i:03}")).is_some()));
    // And value by value as hivex itself reads its file.
    let shown = parse_lsval(&hivexsh(&hive, "cd \\FromHivex\nlsval\n", false));
    assert_eq!(shown.len(), k.values.len());
    for (v, (name, s)) in k.values.iter().zip(&shown) {
        assert_eq!(&v.name, name);
        assert_shown(v, s);
    }
    let p = parsed.root.get("Software\\Polyboot").unwrap();
    assert_eq!(p.values, [Value::dword("Only", 5)]);
    assert!(parsed.root.get("A\\B\\C").unwrap().subkeys.is_empty());
    assert!(parsed.root.get("Many\\Key0500").is_none());
    assert_eq!(parsed.root.get("Many").unwrap().subkeys.len(), 1199);
    assert!(parsed.root.get("Ünïcode\\日本語\\キー").is_some());

    // Our rewrite of hivex's file dumps to the same XML (names, values, times) in hivex.
    let rewritten = dir.path().join("rewritten");
    std::fs::write(&rewritten, parsed.to_bytes().unwrap()).unwrap();
    assert_eq!(hivexml(&rewritten), hivexml(&hive));
    assert_eq!(Hive::parse(&std::fs::read(&rewritten).unwrap()).unwrap().root, parsed.root);
}

#[test]
fn system_hive_policy_reads_back_in_hivexget() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("SYSTEM");
    let mut system = Hive::new("SYSTEM");
    system.root.create_path("Select", 0).unwrap().set_value(Value::dword("Current", 1));
    system.root.create_path("ControlSet001\\Control", 0).unwrap();
    system
        .root
        .create_path("ControlSet001\\Services\\partmgr", 0)
        .unwrap()
        .set_value(Value::dword("Start", 0));
    std::fs::write(&path, system.to_bytes().unwrap()).unwrap();
    // hivex adds a key of its own before we edit: our edit must keep it.
    hivexsh(
        &path,
        "cd \\ControlSet001\\Control\nadd Keep\ncd Keep\nsetval 1\nV\nstring:kept\ncommit\n",
        true,
    );

    let mut hive = Hive::parse(&std::fs::read(&path).unwrap()).unwrap();
    regf::set_portable_workspace_policy(&mut hive, true, 0x01DA_0000_0000_0000).unwrap();
    std::fs::write(&path, hive.to_bytes().unwrap()).unwrap();
    assert_eq!(hivexget(&path, "\\ControlSet001\\Control", "PortableOperatingSystem"), "1\n");
    assert_eq!(
        hivexget(&path, "\\ControlSet001\\Services\\partmgr\\Parameters", "SanPolicy"),
        "4\n"
    );
    assert_eq!(hivexget(&path, "\\ControlSet001\\Services\\partmgr", "Start"), "0\n");
    assert_eq!(hivexget(&path, "\\ControlSet001\\Control\\Keep", "V"), "kept\n");
}

/// `Objects\{guid}\Elements\<type>\Element` as hivexsh prints it.
fn element_shown(hive: &Path, object: &str, element: u32) -> Shown {
    let out =
        hivexsh(hive, &format!("cd \\Objects\\{object}\\Elements\\{element:08x}\nlsval\n"), false);
    let mut values = parse_lsval(&out);
    assert_eq!(values.len(), 1, "{out}");
    let (name, shown) = values.remove(0);
    assert_eq!(name, "Element");
    shown
}

fn shown_device(hive: &Path, object: &str, element: u32) -> Device {
    match element_shown(hive, object, element) {
        Shown::Bytes(regf::REG_BINARY, blob) => bcd::decode_device(&blob).unwrap(),
        other => panic!("device element {element:08x} shown as {other:?}"),
    }
}

#[test]
fn bcd_stores_read_back_in_hivexsh() {
    let disk = Guid::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0").unwrap();
    let esp = Guid::parse("11111111-2222-3333-4444-555555555555").unwrap();
    let ntfs = Guid::parse("a0b1c2d3-e4f5-0617-2839-4a5b6c7d8e9f").unwrap();
    let loader = Guid::parse("{6a2d1f5e-8c3b-4d7a-9e0f-1b2c3d4e5f60}").unwrap();
    let mbr = Partition::Mbr { signature: 0xB3EB_A8F1, offset: 0x15F0_0000 };
    let cases = [
        (
            BcdFirmware::Uefi,
            Partition::Gpt { disk, partition: esp },
            Partition::Gpt { disk, partition: ntfs },
            "\\Windows\\system32\\winload.efi",
        ),
        (BcdFirmware::Bios, mbr, mbr, "\\Windows\\system32\\winload.exe"),
    ];
    for (firmware, boot, windows, winload) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("BCD");
        let cfg = StoreConfig {
            firmware,
            boot_partition: boot,
            windows_partition: windows,
            loader,
            description: "Windows To Go".into(),
            locale: "en-US".into(),
            timeout: 30,
            timestamp: 0x01DA_0000_0000_0000,
        };
        std::fs::write(&path, bcd::build_store(&cfg).unwrap()).unwrap();

        assert_eq!(hivexget(&path, "\\Description", "KeyName"), "BCD00000000\n");
        assert_eq!(hivexget(&path, "\\Description", "TreatAsSystem"), "1\n");
        let bootmgr = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";
        let loader_key = "{6a2d1f5e-8c3b-4d7a-9e0f-1b2c3d4e5f60}";
        let objects = hivexsh(&path, "cd \\Objects\nls\n", false);
        assert_eq!(objects.lines().collect::<Vec<_>>(), [loader_key, bootmgr]);
        let ty = |o: &str| hivexget(&path, &format!("\\Objects\\{o}\\Description"), "Type");
        assert_eq!(ty(bootmgr), format!("{}\n", 0x1010_0002));
        assert_eq!(ty(loader_key), format!("{}\n", 0x1020_0003));

        let elements = |o: &str| -> Vec<String> {
            hivexsh(&path, &format!("cd \\Objects\\{o}\\Elements\nls\n"), false)
                .lines()
                .map(String::from)
                .collect()
        };
        let mut mgr_expect =
            vec!["11000001", "12000004", "12000005", "23000003", "24000001", "25000004"];
        if firmware == BcdFirmware::Uefi {
            mgr_expect.insert(1, "12000002");
        }
        assert_eq!(elements(bootmgr), mgr_expect);
        assert_eq!(
            elements(loader_key),
            [
                "11000001", "12000002", "12000004", "12000005", "16000009", "21000001", "22000002",
                "25000020", "250000c2"
            ]
        );

        // Device blobs, decoded from hivex's bytes, name our partitions.
        assert_eq!(shown_device(&path, bootmgr, 0x1100_0001), Device::Partition(boot));
        assert_eq!(shown_device(&path, loader_key, 0x1100_0001), Device::Partition(windows));
        assert_eq!(shown_device(&path, loader_key, 0x2100_0001), Device::Partition(windows));
        if let Partition::Gpt { disk: d, partition: p } = windows {
            let Shown::Bytes(_, blob) = element_shown(&path, loader_key, 0x2100_0001) else {
                unreachable!()
            };
            assert_eq!(&blob[0x20..0x30], &p.to_bytes());
            assert_eq!(&blob[0x38..0x48], &d.to_bytes());
        }

        // The other elements: types and contents.
        let text = |o: &str, e: u32| match element_shown(&path, o, e) {
            Shown::Text(regf::REG_SZ, s) => s,
            other => panic!("{e:08x}: {other:?}"),
        };
        assert_eq!(text(loader_key, 0x1200_0002), winload);
        assert_eq!(text(loader_key, 0x2200_0002), "\\Windows");
        assert_eq!(text(loader_key, 0x1200_0004), "Windows To Go");
        assert_eq!(text(bootmgr, 0x2300_0003), loader_key);
        if firmware == BcdFirmware::Uefi {
            assert_eq!(text(bootmgr, 0x1200_0002), "\\EFI\\Microsoft\\Boot\\bootmgfw.efi");
        }
        assert_eq!(
            element_shown(&path, loader_key, 0x1600_0009),
            Shown::Bytes(regf::REG_BINARY, vec![0])
        );
        assert_eq!(
            element_shown(&path, bootmgr, 0x2500_0004),
            Shown::Bytes(regf::REG_BINARY, 30u64.to_le_bytes().to_vec())
        );
        let order =
            hivexget(&path, &format!("\\Objects\\{bootmgr}\\Elements\\24000001"), "Element");
        assert_eq!(order, format!("{loader_key}\n\n"), "one object, then the list's terminator");
    }
}

/// libhivex (Debian `libhivex0`, which hivexsh uses) through `dlopen`: hivexsh cannot set
/// values longer than about 4000 bytes, the library can. hivex stores a long value in one
/// cell (not as big data), a layout our reader must accept too.
mod libhivex {
    use std::ffi::{c_char, c_int, c_void, CStr, CString};
    use std::path::Path;

    /// `struct hive_set_value` from hivex.h.
    #[repr(C)]
    struct SetValue {
        key: *const c_char,
        t: c_int,
        len: usize,
        value: *const c_char,
    }

    const HIVEX_OPEN_WRITE: c_int = 4;

    type Open = unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void;
    type Root = unsafe extern "C" fn(*mut c_void) -> usize;
    type AddChild = unsafe extern "C" fn(*mut c_void, usize, *const c_char) -> usize;
    type SetValues =
        unsafe extern "C" fn(*mut c_void, usize, usize, *const SetValue, c_int) -> c_int;
    type Commit = unsafe extern "C" fn(*mut c_void, *const c_char, c_int) -> c_int;
    type Close = unsafe extern "C" fn(*mut c_void) -> c_int;

    fn sym<T: Copy>(lib: *mut c_void, name: &CStr) -> T {
        // SAFETY: dlsym on a handle dlopen returned; the caller names the C signature.
        let p = unsafe { libc::dlsym(lib, name.as_ptr()) };
        assert!(!p.is_null(), "libhivex has no {name:?}");
        assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<*mut c_void>());
        // SAFETY: T is the function pointer type of that symbol (from hivex.h).
        unsafe { std::mem::transmute_copy(&p) }
    }

    /// Open `input`, add `child` under the root with these (name, type, data) values, and
    /// commit to `output`.
    pub fn add_key(input: &Path, output: &Path, child: &str, values: &[(&str, u32, &[u8])]) {
        // SAFETY: loading a shared library by its soname.
        let lib = unsafe { libc::dlopen(c"libhivex.so.0".as_ptr(), libc::RTLD_NOW) };
        assert!(!lib.is_null(), "libhivex.so.0 is not installed (Debian package libhivex0)");
        let open: Open = sym(lib, c"hivex_open");
        let root: Root = sym(lib, c"hivex_root");
        let add_child: AddChild = sym(lib, c"hivex_node_add_child");
        let set_values: SetValues = sym(lib, c"hivex_node_set_values");
        let commit: Commit = sym(lib, c"hivex_commit");
        let close: Close = sym(lib, c"hivex_close");
        let input = CString::new(input.to_str().unwrap()).unwrap();
        let output = CString::new(output.to_str().unwrap()).unwrap();
        let child = CString::new(child).unwrap();
        let names: Vec<CString> = values.iter().map(|v| CString::new(v.0).unwrap()).collect();
        let set: Vec<SetValue> = values
            .iter()
            .zip(&names)
            .map(|((_, t, data), name)| SetValue {
                key: name.as_ptr(),
                t: *t as c_int,
                len: data.len(),
                value: data.as_ptr().cast(),
            })
            .collect();
        // SAFETY: hivex's documented API; every pointer outlives the calls.
        unsafe {
            let h = open(input.as_ptr(), HIVEX_OPEN_WRITE);
            assert!(!h.is_null(), "hivex_open failed");
            let node = add_child(h, root(h), child.as_ptr());
            assert_ne!(node, 0, "hivex_node_add_child failed");
            assert_eq!(
                set_values(h, node, set.len(), set.as_ptr(), 0),
                0,
                "hivex_node_set_values failed"
            );
            assert_eq!(commit(h, output.as_ptr(), 0), 0, "hivex_commit failed");
            assert_eq!(close(h), 0);
        }
    }
}

#[test]
fn long_values_libhivex_writes_read_back_in_ours() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    std::fs::write(&ours, HiveBuilder::new(sample_tree()).build().unwrap()).unwrap();
    let big = pattern(5, 40_000);
    let mid = pattern(6, 10_000);
    let multi = Value::multi_sz("", &["a", "b"]);
    libhivex::add_key(
        &ours,
        &theirs,
        "FromLibhivex",
        &[
            ("Big", regf::REG_BINARY, &big),
            ("Mid", 0x2000_0000, &mid),
            ("Multi", regf::REG_MULTI_SZ, &multi.data),
        ],
    );
    let parsed = Hive::parse(&std::fs::read(&theirs).unwrap()).unwrap();
    let k = parsed.root.get("FromLibhivex").unwrap();
    assert_eq!(
        k.values,
        [
            Value::binary("Big", &big),
            Value::raw("Mid", 0x2000_0000, mid.clone()),
            Value::raw("Multi", regf::REG_MULTI_SZ, multi.data.clone())
        ]
    );
    // Our rewrite stores Big as big data; hivex reads the same bytes from both files.
    let rewritten = dir.path().join("rewritten");
    std::fs::write(&rewritten, parsed.to_bytes().unwrap()).unwrap();
    let script = "cd \\FromLibhivex\nlsval\n";
    assert_eq!(hivexsh(&rewritten, script, false), hivexsh(&theirs, script, false));
    assert_eq!(hivexml(&rewritten), hivexml(&theirs));
}
