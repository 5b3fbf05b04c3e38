//! LUKS2 headers and unlocking (`luks2::read_header`, `unlock`, `dm_crypt_table`,
//! `encrypt_sectors` / `decrypt_sectors`) on a whole volume image: never a panic; beyond that,
//! on the input as is and with its header checksums repaired (`common/luks2_fixup.rs`, so the
//! JSON and the key material are reached):
//!
//! - an accepted header is the copy it says (primary magic at 0, or the secondary's at the
//!   header size), of an allowed size, and reading it again gives the same header; keyslots
//!   have distinct ids below 32, keys of 1 to 64 bytes, 1 to `MAX_STRIPES` stripes, key
//!   material that fits their area, areas inside the keyslots area after both copies; the
//!   segment has a valid sector size and a 512-byte aligned offset;
//! - `unlock` with the seeds' passphrase and a wrong one, under tiny KDF limits (PBKDF2 1000
//!   iterations, Argon2 64 KiB / 4 passes / 2 lanes), either gives a key of one of the
//!   keyslots' sizes or fails with a passphrase, cost, keyslot or I/O error (never a header
//!   error: the header was accepted); a key yields a dm-crypt table when the volume holds
//!   data past the segment offset, and a sector encrypted with it decrypts back.
#![no_main]

#[path = "../common/luks2_fixup.rs"]
mod luks2_fixup;

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::MemDevice;
use polyboot_core::luks2::{
    self, Limits, LuksError, HEADER_SIZES, MAGIC, MAGIC_SECONDARY, MAX_KEY_LEN, MAX_OBJECTS,
    MAX_STRIPES,
};

/// What a seed (made by cryptsetup with its smallest costs) needs, and not more.
const TINY: Limits = Limits {
    max_pbkdf2_iterations: 1000,
    max_argon2_memory_kib: 64,
    max_argon2_time: 4,
    max_argon2_lanes: 2,
};

/// The seeds' passphrase (seedgen/src/luks2_seeds.rs).
const PASSPHRASE: &[u8] = b"fuzz";

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut fixed = data.to_vec();
    luks2_fixup::fix_checksums(&mut fixed);
    if fixed != data {
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let mut dev = MemDevice::from_vec(data.to_vec());
    let h = match luks2::read_header(&mut dev) {
        Ok(h) => h,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert!(
                !matches!(
                    e,
                    LuksError::WrongPassphrase
                        | LuksError::TooCostly(_)
                        | LuksError::NoUsableKeyslot(_)
                        | LuksError::Request(_)
                ),
                "{e:?}"
            );
            return;
        }
    };
    assert!(HEADER_SIZES.contains(&h.header_size));
    if h.from_secondary {
        let at = h.header_size as usize;
        assert_eq!(data[at..at + 6], MAGIC_SECONDARY);
    } else {
        assert_eq!(data[..6], MAGIC);
    }
    assert_eq!(luks2::read_header(&mut dev).as_ref(), Ok(&h));
    let area_start = 2 * h.header_size;
    let area_end = area_start + h.keyslots_size;
    assert!(h.keyslots.len() <= MAX_OBJECTS);
    for w in h.keyslots.windows(2) {
        assert!(w[0].id < w[1].id);
    }
    for k in &h.keyslots {
        assert!((k.id as usize) < MAX_OBJECTS);
        assert!(k.key_size >= 1 && k.key_size <= MAX_KEY_LEN);
        assert!(k.stripes >= 1 && k.stripes <= MAX_STRIPES);
        assert!(k.area_key_size == 32 || k.area_key_size == 64);
        assert!(k.priority <= 2);
        assert!(k.material_len() <= k.area_size);
        assert!(k.area_offset >= area_start && k.area_offset + k.area_size <= area_end);
        assert_eq!(k.area_offset % 512, 0);
    }
    let s = &h.segment;
    assert!([512, 1024, 2048, 4096].contains(&s.sector_size));
    assert_eq!(s.offset % 512, 0);

    for passphrase in [PASSPHRASE, b"not it"] {
        match luks2::unlock(&h, &mut dev, passphrase, &TINY) {
            Ok(key) => {
                assert!(h.keyslots.iter().any(|k| k.key_size == key.as_bytes().len()));
                check_key(&h, &key, data.len() as u64);
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                assert!(
                    matches!(
                        e,
                        LuksError::WrongPassphrase
                            | LuksError::TooCostly(_)
                            | LuksError::NoUsableKeyslot(_)
                            | LuksError::Io(_)
                    ),
                    "{e:?}"
                );
            }
        }
    }
}

fn check_key(h: &luks2::Header, key: &luks2::VolumeKey, size: u64) {
    let s = &h.segment;
    let xts_key = matches!(key.as_bytes().len(), 32 | 64);
    let table = luks2::dm_crypt_table(h, key, 8, 16, size);
    let has_data = s.len_on(size).is_some_and(|n| n > 0);
    assert_eq!(table.is_ok(), xts_key && has_data, "{table:?}");
    if let Ok(t) = table {
        assert_eq!(t.sectors * 512, s.len_on(size).unwrap());
        let line = t.line();
        assert!(line.starts_with(&format!("0 {} crypt aes-xts-plain64 ", t.sectors)));
        assert!(line.contains(&format!(" {} 8:16 {}", s.iv_tweak, s.offset / 512)));
        assert_eq!(line.ends_with(" 1 sector_size:4096"), s.sector_size == 4096);
    }
    let plain: Vec<u8> = (0..s.sector_size).map(|i| i as u8).collect();
    let mut buf = plain.clone();
    let r = luks2::encrypt_sectors(key, s, 3, &mut buf);
    assert_eq!(r.is_ok(), xts_key);
    if r.is_ok() {
        assert_ne!(buf, plain);
        luks2::decrypt_sectors(key, s, 3, &mut buf).unwrap();
        assert_eq!(buf, plain);
    }
}
