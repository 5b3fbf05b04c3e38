//! WinPE ramdisk BCD stores (`bcd::winpe_wim_paths`, `build_winpe_store`, the ramdisk device
//! codec). The input's first bytes say what it is:
//!
//! 1. `regf...`: a BCD hive file (an ISO's `\boot\bcd`), read by `winpe_wim_paths` as is and,
//!    when its base block checksum is wrong, again with it repaired (so that mutations get
//!    past it);
//! 2. `ramd...`: the rest is one device element's blob: `decode_ramdisk`; an accepted blob
//!    re-encodes to a blob that decodes to the same device;
//! 3. anything else: a recipe: firmware, WIM path, SDI path and description from the input
//!    (NUL-separated, lossy UTF-8), and a parent device for a lone ramdisk blob.
//!    `build_winpe_store` must succeed exactly when both paths name a file (not empty, no
//!    `..`, no NUL, at most `MAX_PATH_UNITS` UTF-16 units once normalised), and then `winpe_wim_paths` must
//!    find exactly the loader with the WIM and SDI paths normalised and the description up
//!    to its first NUL; the blob of `ramdisk=[parent]path,{options}` decodes to itself.
//!
//! On every hive that `winpe_wim_paths` accepts: paths absolute, `/`-separated, no empty,
//! `.` or `..` components; at most one entry per object; each entry's object really has a
//! ramdisk `device` or `osdevice` naming that path. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::bcd::{
    self, winpe::MAX_PATH_UNITS, BcdError, BcdFirmware, Device, Partition, RamdiskDevice,
    WinPeStoreConfig,
};
use polyboot_core::guid::Guid;
use polyboot_core::path;
use polyboot_core::regf::{base_block_checksum, Hive, BLOCK};

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"regf") {
        check_hive(data);
        if data.len() >= BLOCK {
            let mut fixed = data.to_vec();
            let sum = base_block_checksum(&fixed[..BLOCK]);
            fixed[0x1FC..0x200].copy_from_slice(&sum.to_le_bytes());
            if fixed[0x1FC..0x200] != data[0x1FC..0x200] {
                check_hive(&fixed);
            }
        }
    } else if let Some(blob) = data.strip_prefix(b"ramd") {
        if let Ok(Some(r)) = bcd::decode_ramdisk(blob) {
            let again = bcd::encode_ramdisk(&r);
            assert_eq!(bcd::decode_ramdisk(&again), Ok(Some(r)));
        }
    } else {
        recipe(data);
    }
});

/// `path` as `winpe_wim_paths` reports it, or `None` when it cannot name a file.
fn expected_path(p: &str) -> Option<String> {
    let parts: Vec<&str> = path::components(p).collect();
    if parts.is_empty() || parts.iter().any(|c| *c == ".." || c.contains('\0')) {
        return None;
    }
    let out: String = parts.iter().map(|c| format!("/{c}")).collect();
    (out.encode_utf16().count() <= MAX_PATH_UNITS).then_some(out)
}

fn check_hive(bytes: &[u8]) {
    let Ok(entries) = bcd::winpe_wim_paths(bytes) else { return };
    if entries.is_empty() {
        return;
    }
    let hive = Hive::parse(bytes).expect("a hive winpe_wim_paths read parses");
    let objects = bcd::read_store(&hive).expect("and has objects");
    assert!(entries.len() <= objects.len());
    for w in entries.windows(2) {
        assert_ne!(w[0].key, w[1].key);
    }
    for e in &entries {
        for p in std::iter::once(&e.wim_path).chain(&e.sdi_path) {
            assert_eq!(expected_path(p).as_deref(), Some(p.as_str()), "{p:?}");
        }
        let o = objects.iter().find(|o| o.key == e.key).expect("the entry's object");
        let ramdisk = [bcd::ELEM_DEVICE, bcd::ELEM_OS_DEVICE]
            .iter()
            .filter_map(|&t| o.element(t))
            .find_map(|v| bcd::decode_ramdisk(&v.data).ok().flatten())
            .expect("a ramdisk device");
        assert_eq!(expected_path(&ramdisk.path).as_deref(), Some(e.wim_path.as_str()));
        assert_eq!((ramdisk.options, ramdisk.parent), (e.options, e.wim_device));
    }
}

fn recipe(data: &[u8]) {
    let (head, rest) = data.split_at(data.len().min(1));
    let mode = head.first().copied().unwrap_or(0);
    let mut parts = rest.splitn(4, |&b| b == 0).map(String::from_utf8_lossy);
    let wim = parts.next().unwrap_or_default().into_owned();
    let sdi = parts.next().unwrap_or_default().into_owned();
    let description = parts.next().unwrap_or_default().into_owned();
    let loader = Guid::from_random_bytes(core::array::from_fn(|i| mode ^ i as u8));
    let cfg = WinPeStoreConfig {
        firmware: if mode & 1 == 0 { BcdFirmware::Uefi } else { BcdFirmware::Bios },
        loader,
        description: description.clone(),
        wim_path: wim.clone(),
        sdi_path: sdi.clone(),
        locale: "en-US".into(),
        timeout: u64::from(mode),
        timestamp: 1,
    };
    let (want_wim, want_sdi) = (expected_path(&wim), expected_path(&sdi));
    match bcd::build_winpe_store(&cfg) {
        Ok(bytes) => {
            let (Some(want_wim), Some(want_sdi)) = (want_wim, want_sdi) else {
                panic!("store built with a path that names no file: {wim:?} {sdi:?}");
            };
            let found = bcd::winpe_wim_paths(&bytes).expect("our own store reads");
            assert_eq!(found.len(), 1);
            let e = &found[0];
            assert_eq!(e.id, Some(loader));
            assert_eq!(e.wim_path, want_wim);
            assert_eq!(e.sdi_path.as_deref(), Some(want_sdi.as_str()));
            assert_eq!((e.wim_device, e.sdi_device), (Device::Boot, Some(Device::Boot)));
            let desc = description.split('\0').next().unwrap_or_default();
            assert_eq!(e.description.as_deref(), Some(desc));
            check_hive(&bytes);
        }
        Err(BcdError::BadPath { .. }) => {
            assert!(want_wim.is_none() || want_sdi.is_none(), "refused {wim:?} {sdi:?}");
        }
        Err(e) => panic!("unexpected error {e}"),
    }

    // The device codec on any path and parent.
    let parent = match mode >> 6 {
        0 => Device::Boot,
        1 => Device::Partition(Partition::Mbr { signature: 7, offset: u64::from(mode) << 20 }),
        _ => Device::Partition(Partition::Gpt { disk: loader, partition: loader }),
    };
    let path: String = wim.split('\0').next().unwrap_or_default().into();
    let r = RamdiskDevice { options: loader, parent, path };
    assert_eq!(bcd::decode_ramdisk(&bcd::encode_ramdisk(&r)), Ok(Some(r)));
}
