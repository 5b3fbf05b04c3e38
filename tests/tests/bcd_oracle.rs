//! WinPE ramdisk BCD stores (`polyboot_core::bcd::winpe`) and SHA-1 (`polyboot_core::sha1`)
//! against independent tools:
//!
//! - the stores `build_winpe_store` writes (UEFI and BIOS) are opened by `hivexsh` (Debian
//!   `libhivex-bin`): each object's `Description\Type` is the documented object type
//!   (0x10100002 boot manager, 0x10200003 Windows boot loader, 0x30000000 device options), the
//!   loader's `device` / `osdevice` elements are REG_BINARY blobs holding the options GUID in
//!   its on-disk byte order, the ramdisk markers and the WIM path in UTF-16, and the other
//!   elements have the types and data meant; what hivexsh prints reads back through
//!   `winpe_wim_paths`;
//! - `sha1` gives what `sha1sum` (coreutils) gives for files of 0, 55, 56, 64 and 1,000,003
//!   bytes (the lengths around SHA-1's padding boundary, and a large odd one).

use std::path::Path;
use std::process::Command;

use polyboot_core::bcd::{self, BcdFirmware, Device, WinPeStoreConfig};
use polyboot_core::guid::Guid;
use polyboot_core::sha1::{sha1, Sha1};
use polyboot_tests::{find_tool, pattern, run_tool};

/// `hivexsh -f SCRIPT HIVE`, failing with its output when it does not succeed.
fn hivexsh(hive: &Path, script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script");
    std::fs::write(&file, script).unwrap();
    run_tool(Command::new(find_tool("hivexsh")).arg("-f").arg(&file).arg(hive)).unwrap()
}

/// A value as `hivexsh lsval` prints it: `"name"="text"` (REG_SZ), `dword:xxxxxxxx`,
/// `hex(N):aa,bb,...`, `str(N):"text"`.
#[derive(Debug, PartialEq)]
enum Shown {
    Sz(String),
    Dword(u32),
    Hex(u32, Vec<u8>),
}

/// A quoted string with `\"` and `\\` escapes.
fn unquote(s: &str) -> String {
    let s = s.strip_prefix('"').unwrap_or_else(|| panic!("no quote: {s}"));
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().unwrap()),
            '"' => return out,
            c => out.push(c),
        }
    }
    panic!("unterminated string: {s}");
}

/// The value `name` of the key at `path`, as hivexsh prints it.
fn shown(hive: &Path, path: &str, name: &str) -> Shown {
    let out = hivexsh(hive, &format!("cd {path}\nlsval\n"));
    let prefix = format!("\"{name}\"=");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no value {name} at {path}:\n{out}"));
    if line.starts_with('"') {
        Shown::Sz(unquote(line))
    } else if let Some(hex) = line.strip_prefix("dword:") {
        Shown::Dword(u32::from_str_radix(hex, 16).unwrap())
    } else if let Some(r) = line.strip_prefix("hex(") {
        let (kind, bytes) = polyboot_tests::hivex_hex(r);
        Shown::Hex(kind, bytes)
    } else {
        panic!("unexpected lsval line {line}");
    }
}

fn element(hive: &Path, object: &str, element: u32) -> Shown {
    shown(hive, &format!("\\Objects\\{object}\\Elements\\{element:08x}"), "Element")
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// `{ramdiskoptions}` = {ae5534e0-a924-466c-b836-758539a3ee3a} as a device blob stores it:
/// the first three fields little-endian, the last eight bytes as written (spelled out here,
/// not through polyboot's `Guid`).
const RAMDISK_OPTIONS_BYTES: [u8; 16] = [
    0xe0, 0x34, 0x55, 0xae, 0x24, 0xa9, 0x6c, 0x46, 0xb8, 0x36, 0x75, 0x85, 0x39, 0xa3, 0xee, 0x3a,
];

#[test]
fn winpe_stores_read_back_in_hivexsh() {
    let dir = tempfile::tempdir().unwrap();
    let loader = Guid::from_text("5189b25c-5558-4bf2-bca4-289b11bd29e2");
    let loader_key = "{5189b25c-5558-4bf2-bca4-289b11bd29e2}";
    let bootmgr_key = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";
    let options_key = "{ae5534e0-a924-466c-b836-758539a3ee3a}";
    for (fw, wim) in [
        (BcdFirmware::Uefi, "/sources/boot.wim"),
        (BcdFirmware::Bios, "/polyboot/WinPE x64/Boot Ünïcode.wim"),
    ] {
        let cfg = WinPeStoreConfig {
            firmware: fw,
            loader,
            description: "Windows Setup".into(),
            wim_path: wim.into(),
            sdi_path: "/boot/boot.sdi".into(),
            locale: "en-US".into(),
            timeout: 30,
            timestamp: 0x01DA_0000_0000_0000,
        };
        let path = dir.path().join(format!("BCD-{fw:?}"));
        std::fs::write(&path, bcd::build_winpe_store(&cfg).unwrap()).unwrap();

        // The three objects, and their documented types.
        let objects = hivexsh(&path, "cd \\Objects\nls\n");
        let mut listed: Vec<&str> = objects.lines().collect();
        listed.sort_unstable();
        assert_eq!(listed, [loader_key, bootmgr_key, options_key]);
        for (object, kind) in
            [(bootmgr_key, 0x1010_0002), (loader_key, 0x1020_0003), (options_key, 0x3000_0000)]
        {
            assert_eq!(
                shown(&path, &format!("\\Objects\\{object}\\Description"), "Type"),
                Shown::Dword(kind),
                "{object}"
            );
        }

        // device (11000001) and osdevice (21000001): the same ramdisk blob.
        let wim_stored = wim.replace('/', "\\");
        let Shown::Hex(3, blob) = element(&path, loader_key, 0x1100_0001) else {
            panic!("device is not REG_BINARY");
        };
        assert_eq!(element(&path, loader_key, 0x2100_0001), Shown::Hex(3, blob.clone()));
        let le32 = |at: usize| u32::from_le_bytes(blob[at..at + 4].try_into().unwrap());
        assert_eq!(blob[..16], RAMDISK_OPTIONS_BYTES, "the options GUID");
        assert_eq!((le32(0x10), le32(0x20)), (0, 3), "disk device, local type ramdisk");
        assert_eq!(le32(0x18) as usize, blob.len() - 0x10);
        assert_eq!(le32(0x3C) as usize, blob.len() - 0x38);
        assert_eq!((le32(0x40), le32(0x44), le32(0x4C)), (5, 5, 0x48), "[boot] parent");
        let mut path_bytes = utf16(&wim_stored);
        path_bytes.extend([0, 0]);
        assert_eq!(blob[0x8C..], path_bytes, "the WIM path in UTF-16");
        assert_eq!(
            bcd::decode_ramdisk(&blob).unwrap().unwrap(),
            bcd::RamdiskDevice {
                options: bcd::winpe::RAMDISK_OPTIONS,
                parent: Device::Boot,
                path: wim_stored.clone()
            }
        );

        // The loader's other elements.
        let winload = match fw {
            BcdFirmware::Uefi => r"\windows\system32\boot\winload.efi",
            BcdFirmware::Bios => r"\windows\system32\boot\winload.exe",
        };
        assert_eq!(element(&path, loader_key, 0x1200_0002), Shown::Sz(winload.into()));
        assert_eq!(element(&path, loader_key, 0x1200_0004), Shown::Sz("Windows Setup".into()));
        assert_eq!(element(&path, loader_key, 0x2200_0002), Shown::Sz(r"\windows".into()));
        assert_eq!(element(&path, loader_key, 0x2600_0010), Shown::Hex(3, vec![1]), "detecthal");
        assert_eq!(element(&path, loader_key, 0x2600_0022), Shown::Hex(3, vec![1]), "winpe");
        // {bootmgr}: device boot, default = the loader.
        assert_eq!(element(&path, bootmgr_key, 0x2300_0003), Shown::Sz(loader_key.into()));
        let Shown::Hex(3, mgr_device) = element(&path, bootmgr_key, 0x1100_0001) else {
            panic!("bootmgr device is not REG_BINARY");
        };
        assert_eq!(bcd::decode_device(&mgr_device), Ok(Device::Boot));
        // {ramdiskoptions}: SDI device boot, SDI path.
        assert_eq!(element(&path, options_key, 0x3200_0004), Shown::Sz(r"\boot\boot.sdi".into()));
        let Shown::Hex(3, sdi_device) = element(&path, options_key, 0x3100_0003) else {
            panic!("SDI device is not REG_BINARY");
        };
        assert_eq!(bcd::decode_device(&sdi_device), Ok(Device::Boot));

        // And our reader agrees.
        let found = bcd::winpe_wim_paths(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, loader_key);
        assert_eq!(found[0].wim_path, wim);
        assert_eq!(found[0].sdi_path.as_deref(), Some("/boot/boot.sdi"));
    }
}

#[test]
fn sha1_agrees_with_sha1sum() {
    let dir = tempfile::tempdir().unwrap();
    for len in [0, 55, 56, 64, 1_000_003] {
        let data = pattern(len as u64 + 1, len);
        let file = dir.path().join(format!("f{len}"));
        std::fs::write(&file, &data).unwrap();
        let out = run_tool(Command::new(find_tool("sha1sum")).arg(&file)).unwrap();
        let theirs = out.split_whitespace().next().unwrap().to_string();
        let ours: String = sha1(&data).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(ours, theirs, "{len} bytes");
        // Streamed in pieces that straddle blocks.
        let mut h = Sha1::new();
        for c in data.chunks(4099) {
            h.update(c);
        }
        assert_eq!(h.finalize(), sha1(&data), "{len} bytes streamed");
    }
}
