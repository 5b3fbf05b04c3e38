//! regf seeds (see the `regf` target for the three ways it reads an input): hive files
//! written by polyboot (the UEFI and BIOS BCD stores of Windows To Go, a tree with values of
//! every kind up to big data, classes and its own descriptors, and a key with 600 subkeys, two
//! `lh` leaves under an `ri` index), the same hives edited by hivex (`hivexsh -w`: its own
//! cell allocation and `lf` / `lh` lists) when `hivexsh` is installed, the bins alone of a
//! small hive (`hbin...`), and recipes.

use std::path::Path;
use std::process::Command;

use polyboot_core::bcd::{self, BcdFirmware, Partition, StoreConfig};
use polyboot_core::guid::Guid;
use polyboot_core::regf::{self, Hive, HiveBuilder, KeyNode, Value, BLOCK};

fn guid(b: u8) -> Guid {
    Guid::from_random_bytes([b; 16])
}

fn store(firmware: BcdFirmware) -> Vec<u8> {
    let (boot, windows) = match firmware {
        BcdFirmware::Uefi => (
            Partition::Gpt { disk: guid(1), partition: guid(2) },
            Partition::Gpt { disk: guid(1), partition: guid(3) },
        ),
        BcdFirmware::Bios => (
            Partition::Mbr { signature: 0x1234_5678, offset: 1 << 20 },
            Partition::Mbr { signature: 0x1234_5678, offset: 1 << 20 },
        ),
    };
    bcd::build_store(&StoreConfig {
        firmware,
        boot_partition: boot,
        windows_partition: windows,
        loader: guid(4),
        description: "Windows To Go (seed)".into(),
        locale: "en-US".into(),
        timeout: 3,
        timestamp: 0x01D9_0000_0000_0000,
    })
    .expect("the BCD store builds")
}

/// Values of every kind (inline, in a cell, big data), a class, a descriptor of its own,
/// Latin-1 and UTF-16 names, nesting.
fn values_tree() -> KeyNode {
    let mut root = KeyNode::new("ROOT");
    let mut k = KeyNode::new("Values");
    k.class = Some(b"class".to_vec());
    k.security = Some(regf::default_security_descriptor().into());
    k.set_value(Value::raw(
        "",
        regf::REG_SZ,
        "default\0".encode_utf16().flat_map(u16::to_le_bytes).collect(),
    ));
    k.set_value(Value::raw("Dword", regf::REG_DWORD, 7u32.to_le_bytes().to_vec()));
    k.set_value(Value::raw("Qword", regf::REG_QWORD, 7u64.to_le_bytes().to_vec()));
    k.set_value(Value::raw(
        "Multi",
        regf::REG_MULTI_SZ,
        "a\0bc\0\0".encode_utf16().flat_map(u16::to_le_bytes).collect(),
    ));
    k.set_value(Value::raw("Small", regf::REG_BINARY, vec![1, 2, 3]));
    k.set_value(Value::raw("Cell", regf::REG_BINARY, (0..200u32).map(|i| i as u8).collect()));
    k.set_value(Value::raw(
        "Big",
        regf::REG_BINARY,
        (0..20_000u32).map(|i| (i * 7) as u8).collect(),
    ));
    k.set_value(Value::raw(
        "Ünï 日本",
        regf::REG_EXPAND_SZ,
        "%x%\0".encode_utf16().flat_map(u16::to_le_bytes).collect(),
    ));
    let mut deep = KeyNode::new("Deep");
    let mut at = &mut deep;
    for i in 0..8 {
        at.subkeys.push(KeyNode::new(&format!("level{i}")));
        at = at.subkeys.last_mut().unwrap();
    }
    root.subkeys.push(k);
    root.subkeys.push(deep);
    root.subkeys.push(KeyNode::new("日本"));
    root
}

/// One key with 600 subkeys: two `lh` leaves under an `ri` index.
fn wide_tree() -> KeyNode {
    let mut root = KeyNode::new("ROOT");
    let mut k = KeyNode::new("Wide");
    for i in 0..600 {
        k.subkeys.push(KeyNode::new(&format!("k{i}")));
    }
    root.subkeys.push(k);
    root
}

fn build(tree: KeyNode) -> Vec<u8> {
    HiveBuilder::new(tree).file_name("seed").timestamp(7).build().expect("the seed tree builds")
}

/// `hive` edited by `hivexsh -w`: a key and values added, a value changed, committed.
fn hivex_edit(dir: &Path, name: &str, hive: &[u8], script: &str) -> Result<Vec<u8>, String> {
    let path = dir.join(name);
    std::fs::write(&path, hive).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut child = Command::new("hivexsh")
        .arg("-w")
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("hivexsh: {e}"))?;
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .map_err(|e| format!("hivexsh: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("hivexsh: {e}"))?;
    if !out.status.success() {
        return Err(format!("hivexsh: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
}

const HIVEX_SCRIPT: &str = "add Hivex\ncd Hivex\nadd Child\nsetval 3\nName\nstring:hello\nNum\ndword:0x2a\nBlob\nhex:3:01,02,03,04,05,06,07,08,09\ncommit\n";

/// `(name, bytes)` seeds, every hive checked to parse with our reader; a note when hivexsh is
/// missing or fails.
pub fn seeds() -> (Vec<(String, Vec<u8>)>, Option<String>) {
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("bcd-uefi".into(), store(BcdFirmware::Uefi)),
        ("bcd-bios".into(), store(BcdFirmware::Bios)),
        ("values".into(), build(values_tree())),
        ("wide".into(), build(wide_tree())),
    ];
    let mut note = None;
    let dir = std::env::temp_dir().join(format!("polyboot-regf-seeds-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        for base in ["bcd-uefi", "values"] {
            let hive = out.iter().find(|(n, _)| n == base).unwrap().1.clone();
            match hivex_edit(&dir, base, &hive, HIVEX_SCRIPT) {
                Ok(bytes) => out.push((format!("hivex-{base}"), bytes)),
                Err(why) => note = Some(why),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    for (name, bytes) in &out {
        let hive = Hive::parse(bytes).unwrap_or_else(|e| panic!("regf seed {name}: {e}"));
        if name.starts_with("hivex-") {
            assert!(
                hive.root.get("Hivex\\Child").is_some(),
                "regf seed {name}: hivex's key missing"
            );
        }
    }
    // The bins alone (the target adds a base block with the root at the first cell).
    let bins = out.iter().find(|(n, _)| n == "bcd-bios").unwrap().1[BLOCK..].to_vec();
    assert!(bins.starts_with(b"hbin"));
    out.push(("bins-bcd-bios".into(), bins));
    // Recipes: (op, arg[, more]) pairs, see `recipe` in the target.
    out.push((
        "recipe-values".into(),
        vec![
            0, 0, 2, 0x20, 0x00, 2, 0x11, 0x01, 2, 0x05, 0x50, 3, 4, 4, 9, 0, 7, 7, 1, 1, 0, 1, 2,
            6, 0, 1, 0, 3, 2,
        ],
    ));
    out.push((
        "recipe-wide".into(),
        vec![0, 2, 5, 70, 1, 0, 0, 3, 5, 10, 6, 0x40, 0x10, 0x00, 0x41],
    ));
    (out, note)
}

/// Seeds of the `bcd` target: the WinPE ramdisk stores polyboot writes (UEFI, BIOS), the
/// Windows To Go stores (no ramdisk), a lone ramdisk device blob (`ramd...`) and recipes
/// (mode byte, then WIM path, SDI path and description, NUL-separated).
pub fn bcd_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (fw, name) in [(BcdFirmware::Uefi, "winpe-uefi"), (BcdFirmware::Bios, "winpe-bios")] {
        let cfg = bcd::WinPeStoreConfig {
            firmware: fw,
            loader: guid(5),
            description: "Windows Setup".into(),
            wim_path: "/sources/boot.wim".into(),
            sdi_path: "/boot/boot.sdi".into(),
            locale: "en-US".into(),
            timeout: 30,
            timestamp: 0x01D9_0000_0000_0000,
        };
        out.push((name.to_string(), bcd::build_winpe_store(&cfg).expect("the WinPE store builds")));
    }
    out.push(("wtg-uefi".into(), store(BcdFirmware::Uefi)));
    out.push(("wtg-bios".into(), store(BcdFirmware::Bios)));
    let mut blob = b"ramd".to_vec();
    blob.extend(bcd::encode_ramdisk(&bcd::RamdiskDevice {
        options: bcd::winpe::RAMDISK_OPTIONS,
        parent: bcd::Device::Boot,
        path: r"\sources\boot.wim".into(),
    }));
    out.push(("ramdisk-blob".into(), blob));
    for (name, recipe) in [
        ("recipe-iso", &b"\x00/sources/boot.wim\x00/boot/boot.sdi\x00Windows Setup"[..]),
        ("recipe-bios-dots", &b"\x41\\x\\.\\y.wim\x00boot.sdi\x00PE\x00x"[..]),
        ("recipe-bad", &b"\x80/../a.wim\x00\x00"[..]),
    ] {
        out.push((name.into(), recipe.to_vec()));
    }
    out
}
