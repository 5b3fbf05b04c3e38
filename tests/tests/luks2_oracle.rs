//! polyboot-core's LUKS2 reader against cryptsetup (Debian package cryptsetup-bin), on plain
//! files (no device-mapper needed):
//!
//! - volumes made by `cryptsetup luksFormat --type luks2` (PBKDF2; Argon2id at 64 MiB as
//!   `persistence create --encrypt` makes them; Argon2i; AES-128-XTS; 4096-byte sectors; a
//!   second keyslot from `luksAddKey`, then the first killed): core's `unlock` gives the
//!   volume key `cryptsetup luksDump --dump-volume-key` prints, and a wrong passphrase (or a
//!   killed slot's) fails with `WrongPassphrase`;
//! - data: a plaintext ext4 image encrypted in place by `cryptsetup reencrypt --encrypt`
//!   (userspace, offline) decrypts with core's `decrypt_sectors` to the original bytes, and
//!   data encrypted by core's `encrypt_sectors` into a volume with a detached header
//!   decrypts with `cryptsetup reencrypt --decrypt` to the original bytes (e2fsck-clean),
//!   512- and 4096-byte sectors both ways.

use polyboot_core::block::{IoError, ReadAt};
use polyboot_core::luks2::{self, Limits, LuksError, VolumeKey};
use polyboot_tests::{find_tool, run_tool};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

struct FileDev(File, u64);

impl FileDev {
    fn open(p: &Path) -> FileDev {
        let f = File::open(p).unwrap();
        let size = f.metadata().unwrap().len();
        FileDev(f, size)
    }
}

impl ReadAt for FileDev {
    fn size(&self) -> u64 {
        self.1
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        polyboot_core::block::check_range(offset, buf.len(), self.1)?;
        self.0.read_exact_at(buf, offset).map_err(|e| IoError::Device(e.to_string()))
    }
}

fn cryptsetup(args: &[&str]) -> String {
    run_tool(Command::new(find_tool("cryptsetup")).args(args).env("LC_ALL", "C")).unwrap()
}

/// The volume key as `cryptsetup luksDump --dump-volume-key` prints it (`MK dump:` and the
/// hex lines after it).
fn dumped_key(img: &Path, key_file: &Path) -> Vec<u8> {
    let out = cryptsetup(&[
        "luksDump",
        "--dump-volume-key",
        "--batch-mode",
        "--key-file",
        key_file.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    let start = out.find("MK dump:").unwrap_or_else(|| panic!("no MK dump in\n{out}"));
    let hex: String = out[start + 8..]
        .split_whitespace()
        .take_while(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn unlock(img: &Path, passphrase: &[u8]) -> Result<VolumeKey, LuksError> {
    let mut dev = FileDev::open(img);
    let h = luks2::read_header(&mut dev).unwrap();
    luks2::unlock(&h, &mut dev, passphrase, &Limits::DEFAULT)
}

fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn new_file(dir: &Path, name: &str, size: u64) -> std::path::PathBuf {
    let p = dir.join(name);
    File::create(&p).unwrap().set_len(size).unwrap();
    p
}

#[test]
fn unlocks_what_luks_format_makes_with_the_key_cryptsetup_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let pw = write(dir.path(), "pw", b"correct horse battery staple");
    let cases: &[(&str, &[&str])] = &[
        ("pbkdf2", &["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]),
        (
            "argon2id, 64 MiB (persistence create --encrypt)",
            &["--pbkdf", "argon2id", "--pbkdf-memory", "65536", "--pbkdf-force-iterations", "4"],
        ),
        (
            "argon2i, 2 lanes",
            &[
                "--pbkdf",
                "argon2i",
                "--pbkdf-memory",
                "8192",
                "--pbkdf-parallel",
                "2",
                "--pbkdf-force-iterations",
                "4",
            ],
        ),
        (
            "AES-128-XTS, 4096-byte sectors",
            &[
                "--key-size",
                "256",
                "--sector-size",
                "4096",
                "--pbkdf",
                "pbkdf2",
                "--pbkdf-force-iterations",
                "1000",
            ],
        ),
        (
            "pbkdf2 sha512, 64 KiB metadata",
            &[
                "--hash",
                "sha512",
                "--luks2-metadata-size",
                "64k",
                "--pbkdf",
                "pbkdf2",
                "--pbkdf-force-iterations",
                "1000",
            ],
        ),
    ];
    for (what, extra) in cases {
        let img = new_file(dir.path(), "v.img", 24 << 20);
        let mut args = vec!["luksFormat", "--type", "luks2", "--batch-mode", "--key-file"];
        args.push(pw.to_str().unwrap());
        args.extend_from_slice(extra);
        args.push(img.to_str().unwrap());
        cryptsetup(&args);
        let expected = dumped_key(&img, &pw);
        assert!(expected.len() == 32 || expected.len() == 64, "{what}: {expected:?}");
        let key =
            unlock(&img, b"correct horse battery staple").unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(key.as_bytes(), &expected[..], "{what}");
        assert_eq!(
            unlock(&img, b"correct horse battery stapl").unwrap_err(),
            LuksError::WrongPassphrase,
            "{what}"
        );
        let h = luks2::read_header(&mut FileDev::open(&img)).unwrap();
        let dump = cryptsetup(&["luksDump", img.to_str().unwrap()]);
        assert!(dump.contains(&format!("UUID:          \t{}", h.uuid)), "{what}:\n{dump}");
        assert!(
            dump.contains(&format!("sector: {} [bytes]", h.segment.sector_size)),
            "{what}:\n{dump}"
        );
        assert!(dump.contains(&format!("offset: {} [bytes]", h.segment.offset)), "{dump}");
    }
}

#[test]
fn a_second_keyslot_and_a_killed_first_one() {
    let dir = tempfile::tempdir().unwrap();
    let one = write(dir.path(), "one", b"first");
    let two = write(dir.path(), "two", b"second passphrase");
    let img = new_file(dir.path(), "v.img", 24 << 20);
    let i = img.to_str().unwrap();
    let fast = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"];
    let mut args = vec!["luksFormat", "--type", "luks2", "--batch-mode", "--key-file"];
    args.push(one.to_str().unwrap());
    args.extend_from_slice(&fast);
    args.push(i);
    cryptsetup(&args);
    let mut args = vec!["luksAddKey", "--batch-mode", "--key-file", one.to_str().unwrap()];
    args.extend_from_slice(&[
        "--pbkdf",
        "argon2id",
        "--pbkdf-memory",
        "32768",
        "--pbkdf-force-iterations",
        "4",
    ]);
    args.extend_from_slice(&[i, two.to_str().unwrap()]);
    cryptsetup(&args);
    let expected = dumped_key(&img, &one);
    let h = luks2::read_header(&mut FileDev::open(&img)).unwrap();
    assert_eq!(h.keyslots.iter().map(|k| k.id).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(unlock(&img, b"first").unwrap().as_bytes(), &expected[..]);
    assert_eq!(unlock(&img, b"second passphrase").unwrap().as_bytes(), &expected[..]);
    // A memory limit below slot 1's cost leaves slot 0 only.
    let mut dev = FileDev::open(&img);
    let small = Limits::with_memory_kib(16384);
    assert!(luks2::unlock(&h, &mut dev, b"first", &small).is_ok());
    assert_eq!(
        luks2::unlock(&h, &mut dev, b"second passphrase", &small).unwrap_err(),
        LuksError::WrongPassphrase
    );
    cryptsetup(&["luksKillSlot", "--batch-mode", "--key-file", two.to_str().unwrap(), i, "0"]);
    assert_eq!(unlock(&img, b"first").unwrap_err(), LuksError::WrongPassphrase);
    assert_eq!(unlock(&img, b"second passphrase").unwrap().as_bytes(), &expected[..]);
    let h = luks2::read_header(&mut FileDev::open(&img)).unwrap();
    assert!(h.seqid > 1, "each change bumps the sequence id: {}", h.seqid);
    let e = luks2::unlock(&h, &mut FileDev::open(&img), b"second passphrase", &small).unwrap_err();
    assert_eq!(
        e.to_string(),
        "LUKS2 key derivation too costly: keyslot 1: Argon2 needs 32768 KiB of memory, more than the 16384 KiB allowed here"
    );
}

/// A plaintext ext4 image of `mib` MiB with files in it (mkfs.ext4 -d), 4 KiB blocks.
fn ext4_image(dir: &Path, name: &str, mib: u64) -> std::path::PathBuf {
    let content = dir.join(format!("{name}.d"));
    std::fs::create_dir_all(content.join("sub")).unwrap();
    std::fs::write(content.join("sub/data"), polyboot_tests::pattern(5, 3 << 20)).unwrap();
    std::fs::write(content.join("hello"), b"hello from the plaintext\n").unwrap();
    let img = new_file(dir, name, mib << 20);
    run_tool(
        Command::new(find_tool("mkfs.ext4"))
            .args(["-q", "-F", "-b", "4096", "-d"])
            .args([content.as_os_str(), img.as_os_str()]),
    )
    .unwrap();
    img
}

#[test]
fn data_cryptsetup_encrypts_decrypts_with_core_and_the_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let pw = write(dir.path(), "pw", b"data test");
    for sector in ["512", "4096"] {
        // cryptsetup encrypts, core decrypts: the data shifts behind a 16 MiB header.
        let plain = ext4_image(dir.path(), "plain.img", 24);
        let original = std::fs::read(&plain).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&plain).unwrap();
        f.set_len((24 + 32) << 20).unwrap();
        drop(f);
        cryptsetup(&[
            "reencrypt",
            "--encrypt",
            "--type",
            "luks2",
            "--reduce-device-size",
            "32M",
            "--sector-size",
            sector,
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-force-iterations",
            "1000",
            "--batch-mode",
            "--key-file",
            pw.to_str().unwrap(),
            plain.to_str().unwrap(),
        ]);
        let mut dev = FileDev::open(&plain);
        let h = luks2::read_header(&mut dev).unwrap();
        assert_eq!(h.segment.sector_size.to_string(), sector);
        let key = luks2::unlock(&h, &mut dev, b"data test", &Limits::DEFAULT).unwrap();
        let mut data = vec![0u8; original.len()];
        dev.read_at(h.segment.offset, &mut data).unwrap();
        luks2::decrypt_sectors(&key, &h.segment, 0, &mut data).unwrap();
        assert!(data == original, "sector {sector}: core's decryption differs from the plaintext");
        // Not decrypting at all would not match either (the test can fail).
        let mut raw = vec![0u8; 4096];
        dev.read_at(h.segment.offset, &mut raw).unwrap();
        assert_ne!(raw[..], original[..4096]);

        // core encrypts into a volume with a detached header, cryptsetup decrypts it.
        let hdr = new_file(dir.path(), "hdr.img", 16 << 20);
        let data_img = new_file(dir.path(), "data.img", 24 << 20);
        cryptsetup(&[
            "luksFormat",
            "--type",
            "luks2",
            "--header",
            hdr.to_str().unwrap(),
            "--offset",
            "0",
            "--sector-size",
            sector,
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-force-iterations",
            "1000",
            "--batch-mode",
            "--key-file",
            pw.to_str().unwrap(),
            data_img.to_str().unwrap(),
        ]);
        let mut hdev = FileDev::open(&hdr);
        let h = luks2::read_header(&mut hdev).unwrap();
        assert_eq!(h.segment.offset, 0);
        let key = luks2::unlock(&h, &mut hdev, b"data test", &Limits::DEFAULT).unwrap();
        let mut enc = original.clone();
        // In two calls, the second starting mid-volume, as the CLI writes in chunks.
        let half = original.len() / 2;
        let ss = h.segment.sector_size as usize;
        luks2::encrypt_sectors(&key, &h.segment, 0, &mut enc[..half]).unwrap();
        luks2::encrypt_sectors(&key, &h.segment, (half / ss) as u64, &mut enc[half..]).unwrap();
        std::fs::write(&data_img, &enc).unwrap();
        cryptsetup(&[
            "reencrypt",
            "--decrypt",
            // A file, not a block device: cryptsetup cannot tell whether it is active.
            "--force-offline-reencrypt",
            "--header",
            hdr.to_str().unwrap(),
            "--batch-mode",
            "--key-file",
            pw.to_str().unwrap(),
            data_img.to_str().unwrap(),
        ]);
        let back = std::fs::read(&data_img).unwrap();
        assert!(back == original, "sector {sector}: cryptsetup's decryption differs");
        run_tool(Command::new(find_tool("e2fsck")).args(["-fn"]).arg(&data_img)).unwrap();
        for p in [&plain, &hdr, &data_img] {
            std::fs::remove_file(p).unwrap();
        }
    }
}
