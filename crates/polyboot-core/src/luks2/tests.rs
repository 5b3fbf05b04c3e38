//! Volumes built here (a test-only writer following the format description) exercise every
//! branch; agreement with cryptsetup itself is tested on the host
//! (crates/polyboot/tests/luks2_cryptsetup.rs).

use super::*;
use crate::block::MemDevice;
use alloc::string::ToString;
use std::format;

const HDR: u64 = 0x4000;
const AREA: u64 = 2 * HDR;

/// A deterministic byte stream for salts and AF stripes.
struct Stream(u64);
impl Stream {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (self.0 >> 56) as u8
            })
            .collect()
    }
}

fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

struct Slot<'a> {
    passphrase: &'a [u8],
    kdf: Kdf,
    priority: Option<u8>,
}

/// The JSON of a KDF and the function that runs it.
fn kdf_json(k: &Kdf) -> String {
    match k {
        Kdf::Pbkdf2 { hash, iterations, salt } => format!(
            r#"{{"type":"pbkdf2","hash":"{}","iterations":{iterations},"salt":"{}"}}"#,
            hash.name(),
            b64(salt)
        ),
        Kdf::Argon2 { id, time, memory_kib, lanes, salt } => format!(
            r#"{{"type":"{}","time":{time},"memory":{memory_kib},"cpus":{lanes},"salt":"{}"}}"#,
            if *id { "argon2id" } else { "argon2i" },
            b64(salt)
        ),
    }
}

/// The inverse of af_merge: random stripes, the last one chosen so they merge to `key`.
fn af_split(key: &[u8], stripes: u32, rng: &mut Stream) -> Vec<u8> {
    let n = key.len();
    let mut out = rng.bytes(n * (stripes as usize - 1));
    let mut buf = vec![0u8; n];
    for block in out.chunks_exact(n) {
        xor_into(&mut buf, block);
        diffuse(&mut buf, Hash::Sha256);
    }
    xor_into(&mut buf, key);
    out.extend_from_slice(&buf);
    out
}

struct Built {
    dev: MemDevice,
    key: Vec<u8>,
    json: String,
}

const STRIPES: u32 = 40;
const SLOT_AREA: u64 = 0x1_0000;

/// A volume with `slots`, one data segment at 1 MiB of `sector_size`, `data` bytes of data.
fn build(slots: &[Slot], sector_size: u32, key_len: usize) -> Built {
    let mut rng = Stream(7);
    let key = rng.bytes(key_len);
    let size = (1 << 20) + 64 * 1024;
    let mut dev = MemDevice::new(size);
    let mut keyslots = Vec::new();
    for (i, s) in slots.iter().enumerate() {
        let offset = AREA + i as u64 * SLOT_AREA;
        let mut area_key = vec![0u8; 64];
        s.kdf.derive(s.passphrase, &mut area_key).unwrap();
        let mut material = af_split(&key, STRIPES, &mut rng);
        material.resize(material.len().next_multiple_of(512), 0);
        Xts::new(&area_key).unwrap().crypt(&mut material, 512, 0, 1, true);
        dev.data[offset as usize..offset as usize + material.len()].copy_from_slice(&material);
        let priority = s.priority.map(|p| format!(r#","priority":{p}"#)).unwrap_or_default();
        keyslots.push(format!(
            r#""{i}":{{"type":"luks2","key_size":{key_len}{priority},"af":{{"type":"luks1","stripes":{STRIPES},"hash":"sha256"}},"area":{{"type":"raw","offset":"{offset}","size":"{SLOT_AREA}","encryption":"aes-xts-plain64","key_size":64}},"kdf":{}}}"#,
            kdf_json(&s.kdf)
        ));
    }
    let salt = rng.bytes(32);
    let mut digest = vec![0u8; 32];
    Hash::Sha256.pbkdf2(&key, &salt, 1000, &mut digest);
    let ids: Vec<String> = (0..slots.len()).map(|i| format!(r#""{i}""#)).collect();
    let json = format!(
        r#"{{"keyslots":{{{}}},"tokens":{{}},"segments":{{"0":{{"type":"crypt","offset":"1048576","size":"dynamic","iv_tweak":"0","encryption":"aes-xts-plain64","sector_size":{sector_size}}}}},"digests":{{"0":{{"type":"pbkdf2","keyslots":[{}],"segments":["0"],"hash":"sha256","iterations":1000,"salt":"{}","digest":"{}"}}}},"config":{{"json_size":"12288","keyslots_size":"{}"}}}}"#,
        keyslots.join(","),
        ids.join(","),
        b64(&salt),
        b64(&digest),
        (1 << 20) - 2 * HDR
    );
    write_copies(&mut dev, &json, 1, 1);
    Built { dev, key, json }
}

/// Both header copies with `json`, checksummed, with the given sequence ids.
fn write_copies(dev: &mut MemDevice, json: &str, seq_primary: u64, seq_secondary: u64) {
    for (at, magic, seq) in [(0u64, MAGIC, seq_primary), (HDR, MAGIC_SECONDARY, seq_secondary)] {
        let mut c = vec![0u8; HDR as usize];
        c[..6].copy_from_slice(&magic);
        c[6..8].copy_from_slice(&2u16.to_be_bytes());
        c[8..16].copy_from_slice(&HDR.to_be_bytes());
        c[16..24].copy_from_slice(&seq.to_be_bytes());
        c[24..29].copy_from_slice(b"label");
        c[72..78].copy_from_slice(b"sha256");
        c[168..204].copy_from_slice(b"01234567-89ab-cdef-0123-456789abcdef");
        c[256..264].copy_from_slice(&at.to_be_bytes());
        c[4096..4096 + json.len()].copy_from_slice(json.as_bytes());
        let sum = crate::sha256::Sha256::digest(&c);
        c[448..480].copy_from_slice(&sum);
        dev.data[at as usize..(at + HDR) as usize].copy_from_slice(&c);
    }
}

fn pbkdf2(iterations: u32) -> Kdf {
    Kdf::Pbkdf2 { hash: Hash::Sha256, iterations, salt: vec![9; 32] }
}

fn argon2(id: bool, memory_kib: u32) -> Kdf {
    Kdf::Argon2 { id, time: 2, memory_kib, lanes: 2, salt: vec![3; 32] }
}

fn slot(passphrase: &[u8], kdf: Kdf) -> Slot<'_> {
    Slot { passphrase, kdf, priority: None }
}

#[test]
fn base64_as_cryptsetup_writes_it() {
    assert_eq!(base64(""), Some(vec![]));
    assert_eq!(base64("Zg=="), Some(b"f".to_vec()));
    assert_eq!(base64("Zm8="), Some(b"fo".to_vec()));
    assert_eq!(base64("Zm9v"), Some(b"foo".to_vec()));
    assert_eq!(base64("Zm9vYmFy"), Some(b"foobar".to_vec()));
    assert_eq!(base64("+/+/"), Some(vec![0xfb, 0xff, 0xbf]));
    for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9v\n", "Zm9v YmFy", "Zm=v", "é123"] {
        assert_eq!(base64(bad), None, "{bad:?}");
    }
    let data: Vec<u8> = (0..=255).collect();
    for n in 0..data.len() {
        assert_eq!(base64(&b64(&data[..n])).as_deref(), Some(&data[..n]));
    }
}

#[test]
fn pbkdf2_keyslot_unlocks_and_a_wrong_passphrase_fails() {
    let mut b = build(&[slot(b"hunter2", pbkdf2(1000))], 512, 64);
    let h = read_header(&mut b.dev).unwrap();
    assert_eq!((h.seqid, h.label.as_str()), (1, "label"));
    assert_eq!(h.uuid, "01234567-89ab-cdef-0123-456789abcdef");
    assert_eq!(h.keyslots.len(), 1);
    assert_eq!(h.keyslots[0].material_len(), (64 * STRIPES as u64).next_multiple_of(512));
    assert_eq!(
        h.segment,
        Segment { id: 0, offset: 1 << 20, size: None, iv_tweak: 0, sector_size: 512 }
    );
    let key = unlock(&h, &mut b.dev, b"hunter2", &Limits::DEFAULT).unwrap();
    assert_eq!(key.as_bytes(), &b.key[..]);
    assert_eq!(format!("{key:?}"), "VolumeKey(64 bytes)");
    assert_eq!(
        unlock(&h, &mut b.dev, b"hunter3", &Limits::DEFAULT).unwrap_err(),
        LuksError::WrongPassphrase
    );
    assert_eq!(
        unlock(&h, &mut b.dev, b"", &Limits::DEFAULT).unwrap_err(),
        LuksError::WrongPassphrase
    );
}

#[test]
fn argon2id_and_argon2i_keyslots_unlock_with_aes128_xts() {
    let mut b =
        build(&[slot(b"one", argon2(true, 64)), slot(b"two", argon2(false, 128))], 4096, 32);
    let h = read_header(&mut b.dev).unwrap();
    assert_eq!(h.keyslots[1].kdf, argon2(false, 128));
    for p in [&b"one"[..], b"two"] {
        assert_eq!(unlock(&h, &mut b.dev, p, &Limits::DEFAULT).unwrap().as_bytes(), &b.key[..]);
    }
    assert_eq!(
        unlock(&h, &mut b.dev, b"three", &Limits::DEFAULT).unwrap_err(),
        LuksError::WrongPassphrase
    );
}

#[test]
fn costs_beyond_the_limits_are_refused_by_name() {
    let mut b = build(&[slot(b"p", argon2(true, 256))], 512, 64);
    let h = read_header(&mut b.dev).unwrap();
    let e = unlock(&h, &mut b.dev, b"p", &Limits::with_memory_kib(128)).unwrap_err();
    assert!(matches!(e, LuksError::TooCostly(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "LUKS2 key derivation too costly: keyslot 0: Argon2 needs 256 KiB of memory, more than the 128 KiB allowed here"
    );
    let few = Limits { max_pbkdf2_iterations: 999, ..Limits::DEFAULT };
    let mut b = build(&[slot(b"p", pbkdf2(1000))], 512, 64);
    let h = read_header(&mut b.dev).unwrap();
    assert!(matches!(unlock(&h, &mut b.dev, b"p", &few), Err(LuksError::TooCostly(_))));
    let short = Limits { max_argon2_time: 1, ..Limits::DEFAULT };
    let mut b = build(&[slot(b"x", pbkdf2(1000)), slot(b"p", argon2(true, 64))], 512, 64);
    let h = read_header(&mut b.dev).unwrap();
    // The costly slot is skipped; the other one is tried, so the passphrase is what failed.
    assert_eq!(unlock(&h, &mut b.dev, b"p", &short).unwrap_err(), LuksError::WrongPassphrase);
    assert!(unlock(&h, &mut b.dev, b"x", &short).is_ok());
}

#[test]
fn priority_zero_slots_are_not_tried() {
    let mut b = build(
        &[
            Slot { passphrase: b"zero", kdf: pbkdf2(1000), priority: Some(0) },
            Slot { passphrase: b"two", kdf: pbkdf2(1000), priority: Some(2) },
        ],
        512,
        64,
    );
    let h = read_header(&mut b.dev).unwrap();
    assert_eq!(h.keyslots.iter().map(|k| k.priority).collect::<Vec<_>>(), [0, 2]);
    assert!(unlock(&h, &mut b.dev, b"two", &Limits::DEFAULT).is_ok());
    assert_eq!(
        unlock(&h, &mut b.dev, b"zero", &Limits::DEFAULT).unwrap_err(),
        LuksError::WrongPassphrase
    );
}

#[test]
fn a_damaged_primary_falls_back_to_the_secondary_and_the_newer_copy_wins() {
    let mut b = build(&[slot(b"p", pbkdf2(1000))], 512, 64);
    b.dev.data[4096 + 3] ^= 1;
    let h = read_header(&mut b.dev).unwrap();
    assert!(h.from_secondary);
    assert!(unlock(&h, &mut b.dev, b"p", &Limits::DEFAULT).is_ok());
    // Magic gone too: the secondary is found by probing the allowed sizes.
    b.dev.data[0] = 0;
    assert!(read_header(&mut b.dev).unwrap().from_secondary);
    b.dev.data[HDR as usize + 100] ^= 1;
    assert_eq!(
        read_header(&mut b.dev).unwrap_err(),
        LuksError::Header("secondary header checksum mismatch".to_string())
    );
    b.dev.data[0] = b'L';
    assert_eq!(
        read_header(&mut b.dev).unwrap_err(),
        LuksError::Header("primary header checksum mismatch".to_string())
    );

    let mut b = build(&[slot(b"p", pbkdf2(1000))], 512, 64);
    let json = b.json.clone();
    write_copies(&mut b.dev, &json, 5, 6);
    let h = read_header(&mut b.dev).unwrap();
    assert_eq!((h.seqid, h.from_secondary), (6, true));
    write_copies(&mut b.dev, &json, 6, 6);
    assert!(!read_header(&mut b.dev).unwrap().from_secondary);
}

#[test]
fn not_luks2_and_malformed_headers_are_errors() {
    let mut dev = MemDevice::new(1 << 20);
    assert_eq!(read_header(&mut dev).unwrap_err(), LuksError::NotLuks);
    dev.data[..6].copy_from_slice(&MAGIC);
    dev.data[6..8].copy_from_slice(&1u16.to_be_bytes());
    assert_eq!(read_header(&mut dev).unwrap_err(), LuksError::Version(1));
    assert!(read_header(&mut MemDevice::new(100)).is_err());

    let b = build(&[slot(b"p", pbkdf2(1000))], 512, 64);
    let cases: [(&str, &str, &str); 9] = [
        (r#""json_size":"12288""#, r#""json_size":"4096""#, "json_size"),
        (r#""stripes":40"#, r#""stripes":70000"#, "AF stripes"),
        (r#""stripes":40"#, r#""stripes":"40""#, "stripes"),
        (r#""offset":"32768""#, r#""offset":"512""#, "not inside the keyslots area"),
        (r#""size":"65536""#, r#""size":"512""#, "do not fit"),
        (r#""sector_size":512"#, r#""sector_size":333"#, "sector size"),
        (r#""iterations":1000,"salt""#, r#""iterations":0,"salt""#, "0 iterations"),
        (r#""salt":"CQ"#, r#""salt":"*Q"#, "base64"),
        (r#""keyslots":["0"]"#, r#""keyslots":["40"]"#, "below 32"),
    ];
    for (from, to, what) in cases {
        assert!(b.json.contains(from), "{from}");
        let json = b.json.replacen(from, to, 1);
        let mut dev = b.dev.clone();
        dev.data[4096..HDR as usize].fill(0);
        dev.data[HDR as usize + 4096..2 * HDR as usize].fill(0);
        write_copies(&mut dev, &json, 1, 1);
        let e = read_header(&mut dev).unwrap_err();
        assert!(e.to_string().contains(what), "{to}: {e}");
    }
    for (from, to, what) in [
        (
            r#""encryption":"aes-xts-plain64","sector_size""#,
            r#""encryption":"twofish-xts-plain64","sector_size""#,
            "twofish",
        ),
        (r#""type":"crypt""#, r#""type":"linear""#, "linear"),
        (
            r#""config":{"#,
            r#""config":{"requirements":{"mandatory":["online-reencrypt-v2"]},"#,
            "online-reencrypt-v2",
        ),
    ] {
        let json = b.json.replacen(from, to, 1);
        let mut dev = b.dev.clone();
        write_copies(&mut dev, &json, 1, 1);
        let e = read_header(&mut dev).unwrap_err();
        assert!(matches!(e, LuksError::Unsupported(_)) && e.to_string().contains(what), "{e}");
    }
}

#[test]
fn keyslots_of_other_kinds_are_skipped_with_the_reason() {
    let b = build(&[slot(b"p", pbkdf2(1000))], 512, 64);
    let json = b.json.replacen(
        r#""encryption":"aes-xts-plain64","key_size":64"#,
        r#""encryption":"serpent-xts-plain64","key_size":64"#,
        1,
    );
    let mut dev = b.dev.clone();
    write_copies(&mut dev, &json, 1, 1);
    let h = read_header(&mut dev).unwrap();
    assert!(h.keyslots.is_empty());
    let e = unlock(&h, &mut dev, b"p", &Limits::DEFAULT).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no usable LUKS2 key slot: 0: area: cipher serpent-xts-plain64 (polyboot supports aes-xts-plain64)"
    );
    // An Argon2 salt argon2 refuses (under 8 bytes) is a reason too, not a failure.
    let b = build(&[slot(b"p", pbkdf2(1000))], 512, 64);
    let json = b.json.replacen(
        r#"{"type":"pbkdf2","hash":"sha256","iterations":1000,"salt":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk="}"#,
        r#"{"type":"argon2id","time":1,"memory":64,"cpus":1,"salt":"AAA="}"#,
        1,
    );
    assert_ne!(json, b.json);
    let mut dev = b.dev.clone();
    write_copies(&mut dev, &json, 1, 1);
    let h = read_header(&mut dev).unwrap();
    let e = unlock(&h, &mut dev, b"p", &Limits::DEFAULT).unwrap_err();
    assert!(matches!(e, LuksError::NoUsableKeyslot(ref m) if m.contains("salt")), "{e}");
}

#[test]
fn a_damaged_keyslot_area_reads_as_a_wrong_passphrase_and_a_short_device_as_io() {
    let mut b = build(&[slot(b"p", pbkdf2(1000))], 512, 64);
    let h = read_header(&mut b.dev).unwrap();
    b.dev.data[AREA as usize + 700] ^= 0x80;
    assert_eq!(
        unlock(&h, &mut b.dev, b"p", &Limits::DEFAULT).unwrap_err(),
        LuksError::WrongPassphrase
    );
    let mut short = MemDevice::from_vec(b.dev.data[..AREA as usize + 1024].to_vec());
    assert!(matches!(unlock(&h, &mut short, b"p", &Limits::DEFAULT), Err(LuksError::Io(_))));
}

#[test]
fn sectors_round_trip_with_ivs_in_512_byte_units() {
    let key = VolumeKey::from_bytes(&[0x42; 64]);
    let seg =
        |sector_size, iv_tweak| Segment { id: 0, offset: 0, size: None, iv_tweak, sector_size };
    let plain: Vec<u8> = (0..16384u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut a = plain.clone();
    encrypt_sectors(&key, &seg(4096, 0), 3, &mut a).unwrap();
    assert_ne!(a, plain);
    // 4096-byte sector 3 of the segment has IV 24 (= its first 512-byte sector), the next 32.
    let xts = Xts::new(key.as_bytes()).unwrap();
    let mut b = plain.clone();
    xts.crypt(&mut b[..4096], 4096, 24, 8, true);
    xts.crypt(&mut b[4096..8192], 4096, 32, 8, true);
    assert_eq!(a[..8192], b[..8192]);
    // iv_tweak shifts every IV.
    let mut c = plain.clone();
    encrypt_sectors(&key, &seg(4096, 8), 2, &mut c).unwrap();
    assert_eq!(a, c);
    decrypt_sectors(&key, &seg(4096, 0), 3, &mut a).unwrap();
    assert_eq!(a, plain);
    // 512-byte sectors: IV = sector number.
    let mut d = plain.clone();
    encrypt_sectors(&key, &seg(512, 0), 24, &mut d).unwrap();
    let mut e = plain.clone();
    xts.crypt(&mut e, 512, 24, 1, true);
    assert_eq!(d, e);
    assert!(matches!(
        encrypt_sectors(&key, &seg(4096, 0), 0, &mut [0u8; 512]),
        Err(LuksError::Request(_))
    ));
    assert!(encrypt_sectors(&key, &seg(4096, 0), u64::MAX, &mut [0u8; 4096]).is_err());
    assert!(encrypt_sectors(&VolumeKey::from_bytes(&[1; 48]), &seg(512, 0), 0, &mut [0u8; 512])
        .is_err());
}

#[test]
fn dm_crypt_table_line() {
    let mut b = build(&[slot(b"p", pbkdf2(1000))], 4096, 32);
    let h = read_header(&mut b.dev).unwrap();
    let key = unlock(&h, &mut b.dev, b"p", &Limits::DEFAULT).unwrap();
    let hex = key.to_hex();
    assert_eq!(hex.len(), 64);
    let t = dm_crypt_table(&h, &key, 254, 3, (1 << 20) + 64 * 1024 + 1000).unwrap();
    assert_eq!(t.sectors, 128);
    assert_eq!(format!("{t:?}"), "DmCrypt(128 sectors)");
    assert_eq!(
        t.line().as_str(),
        format!("0 128 crypt aes-xts-plain64 {} 0 254:3 2048 1 sector_size:4096", hex.as_str())
    );
    assert!(dm_crypt_table(&h, &key, 254, 3, 1 << 20).is_err());
    let mut b = build(&[slot(b"p", pbkdf2(1000))], 512, 64);
    let h = read_header(&mut b.dev).unwrap();
    let key = unlock(&h, &mut b.dev, b"p", &Limits::DEFAULT).unwrap();
    let t = dm_crypt_table(&h, &key, 8, 1, (1 << 20) + 1536).unwrap().line();
    assert!(
        t.ends_with(" 0 8:1 2048") && t.starts_with("0 3 crypt aes-xts-plain64 "),
        "{}",
        t.as_str()
    );
}

#[test]
fn af_merge_of_split_gives_the_key_back() {
    let mut rng = Stream(1);
    for (len, stripes) in [(32, 1), (64, 4000), (40, 3), (1, 2)] {
        let key = rng.bytes(len);
        let m = af_split(&key, stripes, &mut rng);
        assert_eq!(&af_merge(&m, len, Hash::Sha256)[..], &key[..]);
    }
    // One diffusion of zeros by hand: SHA-256(be32(0) || 32 zeros) then of be32(1) || 8 zeros.
    use sha2::Digest as _;
    let mut buf = [0u8; 40];
    diffuse(&mut buf, Hash::Sha256);
    let first = sha2::Sha256::digest([0u8; 36]);
    let mut second_in = vec![0, 0, 0, 1];
    second_in.extend_from_slice(&[0; 8]);
    let second = sha2::Sha256::digest(&second_in);
    assert_eq!(&buf[..32], &first[..]);
    assert_eq!(&buf[32..], &second[..8]);
}
