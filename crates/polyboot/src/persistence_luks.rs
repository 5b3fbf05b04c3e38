//! `polyboot persistence create --encrypt`: the LUKS2 container around a persistence file
//! system, made on this machine before anything is written to the drive.
//!
//! 1. `cryptsetup luksFormat --type luks2` on a temporary file of the backend's final size:
//!    aes-xts-plain64 with a 512-bit key, Argon2id at 64 MiB and one lane, its passes
//!    benchmarked by cryptsetup for 1 s ([`KdfCost::DEFAULT`]), so that polyboot-hook
//!    (single-threaded Argon2, in a booted system that may have 512 MiB of RAM) unlocks it in
//!    a second or two; data at [`DATA_OFFSET`] (16 MiB, cryptsetup's default for LUKS2).
//! 2. The volume key unlocked with core's [`luks2::unlock`] (which proves polyboot-hook will
//!    open it with this passphrase), and the plaintext file system image (made by the caller,
//!    [`plain_size`] bytes) encrypted into the data segment with [`luks2::encrypt_sectors`],
//!    every sector, zeros included (a sector left as zeros would decrypt to noise).
//! 3. `cryptsetup luksDump` must show the keyslot, and the first chunk decrypts back to the
//!    plaintext.
//!
//! The passphrase comes from `--passphrase-file` (one trailing newline dropped, as typed at
//! the prompt) or is asked twice on the terminal without echo ([`read_passphrase`]); it goes
//! to cryptsetup on its standard input (`--key-file -`), never on a command line.
//!
//! Data sector size: 4096 bytes when the file system's blocks are at least that (ext4 with
//! 4 KiB blocks, XFS with 4 KiB sectors), else 512: dm-crypt refuses to map a file system
//! whose blocks are smaller than its sectors.

use anyhow::{bail, ensure, Context, Result};
use polyboot_core::block::{check_range, IoError, ReadAt};
use polyboot_core::luks2::{self, Limits, VolumeKey};
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use zeroize::Zeroizing;

/// Where the data segment starts: the two 16 KiB header copies and the keyslots area.
pub const DATA_OFFSET: u64 = 16 << 20;
/// The Argon2id cost of the keyslot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// cryptsetup benchmarks the passes to take this long on this machine (one lane).
    pub iter_time_ms: u32,
}

impl KdfCost {
    /// 64 MiB (what a 512 MiB machine can spare in its initramfs), 1 s.
    pub const DEFAULT: KdfCost = KdfCost { memory_kib: 65536, iter_time_ms: 1000 };
}
/// Longest passphrase (cryptsetup's limit for a typed one).
pub const MAX_PASSPHRASE: usize = 512;
const CHUNK: usize = 4 << 20;

/// A passphrase, wiped from memory when dropped.
pub type Passphrase = Zeroizing<Vec<u8>>;

/// The plaintext file system's size in a backend of `total` bytes.
pub fn plain_size(total: u64) -> Option<u64> {
    total.checked_sub(DATA_OFFSET).filter(|&n| n > 0)
}

/// The passphrase from `file` (its bytes, one trailing `\n` or `\r\n` dropped), else asked on
/// the terminal twice without echo. Refused: empty, longer than [`MAX_PASSPHRASE`], holding
/// control characters (which cannot be typed at the boot prompt).
pub fn read_passphrase(file: Option<&Path>) -> Result<Passphrase> {
    let p = match file {
        Some(path) => {
            let mut raw = Zeroizing::new(Vec::new());
            File::open(path)
                .and_then(|f| f.take(MAX_PASSPHRASE as u64 + 3).read_to_end(&mut raw))
                .with_context(|| format!("reading the passphrase from {}", path.display()))?;
            passphrase_from_file(&raw)?
        }
        None => {
            if !std::io::stdin().is_terminal() {
                bail!("--encrypt needs a passphrase: give --passphrase-file, or run on a terminal");
            }
            let first = Zeroizing::new(
                crate::bootconfig::prompt_hidden("Passphrase for the persistence file: ")?
                    .into_bytes(),
            );
            let again = Zeroizing::new(crate::bootconfig::prompt_hidden("Again: ")?.into_bytes());
            if first != again {
                bail!("the two passphrases differ");
            }
            first
        }
    };
    check_passphrase(&p)?;
    Ok(p)
}

/// A passphrase file's bytes less one trailing line end.
pub fn passphrase_from_file(raw: &[u8]) -> Result<Passphrase> {
    let body = raw.strip_suffix(b"\r\n").or_else(|| raw.strip_suffix(b"\n")).unwrap_or(raw);
    Ok(Zeroizing::new(body.to_vec()))
}

fn check_passphrase(p: &[u8]) -> Result<()> {
    ensure!(!p.is_empty(), "the passphrase is empty");
    ensure!(p.len() <= MAX_PASSPHRASE, "the passphrase is longer than {MAX_PASSPHRASE} bytes");
    let text = std::str::from_utf8(p).context("the passphrase is not UTF-8 text")?;
    ensure!(
        !text.chars().any(char::is_control),
        "the passphrase holds control characters (a line break inside?), which cannot be typed at boot"
    );
    if !text.is_ascii() {
        eprintln!(
            "note: the passphrase has non-ASCII characters; the boot prompt reads what the \
             console's keyboard layout (usually US) types"
        );
    }
    Ok(())
}

/// A file as a [`ReadAt`] device.
pub struct FileDev {
    file: File,
    size: u64,
}

impl FileDev {
    pub fn open(path: &Path) -> Result<FileDev> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata()?.len();
        Ok(FileDev { file, size })
    }
}

impl ReadAt for FileDev {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.size)?;
        self.file.read_exact_at(buf, offset).map_err(|e| IoError::Device(e.to_string()))
    }
}

/// The data sector size for the file system image at the start of `head`: 4096 when its
/// blocks (ext2/3/4) or sectors (XFS) are at least 4096 bytes, else 512.
pub fn sector_size_for(head: &[u8]) -> u32 {
    let ext_block = head
        .get(1024 + 56..1024 + 58)
        .filter(|m| m == &[0x53, 0xEF])
        .and_then(|_| head.get(1024 + 24..1024 + 28))
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .and_then(|log| 1024u64.checked_shl(log));
    let xfs_sector = head
        .get(..4)
        .filter(|m| m == b"XFSB")
        .and_then(|_| head.get(102..104))
        .map(|b| u64::from(u16::from_be_bytes([b[0], b[1]])));
    match ext_block.or(xfs_sector) {
        Some(n) if n >= 4096 => 4096,
        _ => 512,
    }
}

fn cryptsetup() -> Result<PathBuf> {
    ["/usr/sbin/cryptsetup", "/sbin/cryptsetup", "/usr/bin/cryptsetup"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .context("cryptsetup is not installed (Debian package cryptsetup-bin): --encrypt needs it")
}

/// `--encrypt`: the LUKS2 backend of `total` bytes holding the file system image `plain`
/// ([`plain_size`]`(total)` bytes), as a new file in `work`; returns its path. The caller
/// copies it to the drive in place of `plain`. `cost`: normally [`KdfCost::DEFAULT`].
pub fn encrypt_backend(
    plain: &Path,
    total: u64,
    passphrase: &[u8],
    cost: KdfCost,
    work: &Path,
) -> Result<PathBuf> {
    let data_len = plain_size(total)
        .with_context(|| format!("{total} bytes leave no room after the LUKS2 header"))?;
    let plain_len = std::fs::metadata(plain)?.len();
    ensure!(
        plain_len == data_len,
        "the file system image is {plain_len} bytes; a {total}-byte LUKS2 backend holds {data_len}"
    );
    let src = File::open(plain).with_context(|| format!("opening {}", plain.display()))?;
    let mut head = vec![0u8; 4096];
    src.read_exact_at(&mut head, 0)?;
    let sector = sector_size_for(&head);

    let backend = work.join("luks2.img");
    let out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&backend)
        .with_context(|| format!("creating {}", backend.display()))?;
    out.set_len(total)?;
    luks_format(&backend, passphrase, sector, cost)?;

    let mut dev = FileDev::open(&backend)?;
    let header = luks2::read_header(&mut dev).context("reading back the LUKS2 header")?;
    let seg = header.segment.clone();
    ensure!(
        seg.offset == DATA_OFFSET && seg.sector_size == sector,
        "cryptsetup put the data at {} with {}-byte sectors (expected {DATA_OFFSET}, {sector})",
        seg.offset,
        seg.sector_size
    );
    // Unlocking here is what the hook does at boot: same code, same passphrase.
    let key = luks2::unlock(&header, &mut dev, passphrase, &Limits::DEFAULT)
        .context("unlocking the new LUKS2 header with polyboot's own code")?;

    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let mut pos = 0u64;
    while pos < data_len {
        let n = (data_len - pos).min(CHUNK as u64) as usize;
        let chunk = &mut buf[..n];
        src.read_exact_at(chunk, pos)?;
        luks2::encrypt_sectors(&key, &seg, pos / u64::from(sector), chunk)?;
        out.write_all_at(chunk, DATA_OFFSET + pos)
            .with_context(|| format!("writing {}", backend.display()))?;
        pos += n as u64;
    }
    out.sync_all()?;
    check_backend(&backend, &header.uuid, &src, &key, &seg)?;
    Ok(backend)
}

/// `cryptsetup luksFormat` with the passphrase on standard input.
fn luks_format(file: &Path, passphrase: &[u8], sector: u32, cost: KdfCost) -> Result<()> {
    let mut child = Command::new(cryptsetup()?)
        .args(["luksFormat", "--type", "luks2", "--batch-mode"])
        .args(["--cipher", "aes-xts-plain64", "--key-size", "512", "--hash", "sha256"])
        .args(["--pbkdf", "argon2id", "--pbkdf-parallel", "1"])
        .arg(format!("--pbkdf-memory={}", cost.memory_kib))
        .arg(format!("--iter-time={}", cost.iter_time_ms))
        .arg(format!("--offset={}", DATA_OFFSET / 512))
        .arg(format!("--sector-size={sector}"))
        .args(["--key-file", "-"])
        .arg(file)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running cryptsetup luksFormat")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(passphrase).context("giving cryptsetup the passphrase")?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "cryptsetup luksFormat failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// cryptsetup reads the header back with the keyslot in it, and the first chunk of data
/// decrypts to the plaintext's.
fn check_backend(
    backend: &Path,
    uuid: &str,
    plain: &File,
    key: &VolumeKey,
    seg: &luks2::Segment,
) -> Result<()> {
    let out = Command::new(cryptsetup()?)
        .arg("luksDump")
        .arg(backend)
        .env("LC_ALL", "C")
        .output()
        .context("running cryptsetup luksDump")?;
    let dump = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && dump.contains(uuid) && dump.contains("  0: luks2"),
        "cryptsetup luksDump does not show the new keyslot:\n{dump}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = CHUNK.min(plain.metadata()?.len() as usize);
    let mut want = Zeroizing::new(vec![0u8; n]);
    plain.read_exact_at(&mut want, 0)?;
    let mut got = Zeroizing::new(vec![0u8; n]);
    File::open(backend)?.read_exact_at(&mut got, DATA_OFFSET)?;
    luks2::decrypt_sectors(key, seg, 0, &mut got)?;
    ensure!(got == want, "the encrypted backend does not decrypt back to the file system");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_files_lose_one_line_end() {
        assert_eq!(&*passphrase_from_file(b"secret\n").unwrap(), b"secret");
        assert_eq!(&*passphrase_from_file(b"secret\r\n").unwrap(), b"secret");
        assert_eq!(&*passphrase_from_file(b"secret").unwrap(), b"secret");
        assert_eq!(&*passphrase_from_file(b"secret\n\n").unwrap(), b"secret\n");
        assert!(check_passphrase(b"secret\n").is_err());
        assert!(check_passphrase(b"").is_err());
        assert!(check_passphrase(&[b'a'; 513]).is_err());
        assert!(check_passphrase(&[b'a'; 512]).is_ok());
        assert!(check_passphrase(b"tab\there").is_err());
        assert!(check_passphrase(&[0xff, 0x41]).is_err());
        assert!(check_passphrase("pässwörd".as_bytes()).is_ok());
    }

    #[test]
    fn sector_size_follows_the_file_system_block() {
        let mut ext = vec![0u8; 4096];
        ext[1024 + 56..1024 + 58].copy_from_slice(&[0x53, 0xEF]);
        assert_eq!(sector_size_for(&ext), 512); // 1 KiB blocks
        ext[1024 + 24] = 2;
        assert_eq!(sector_size_for(&ext), 4096);
        ext[1024 + 24] = 200; // hostile shift
        assert_eq!(sector_size_for(&ext), 512);
        let mut xfs = vec![0u8; 4096];
        xfs[..4].copy_from_slice(b"XFSB");
        xfs[102..104].copy_from_slice(&512u16.to_be_bytes());
        assert_eq!(sector_size_for(&xfs), 512);
        xfs[102..104].copy_from_slice(&4096u16.to_be_bytes());
        assert_eq!(sector_size_for(&xfs), 4096);
        assert_eq!(sector_size_for(&[]), 512);
    }

    fn tool(name: &str) -> PathBuf {
        ["/usr/sbin", "/sbin", "/usr/bin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{name} is not installed (cargo xtask deps)"))
    }

    fn run(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An ext4 image of `len` bytes with a file in it; `-b` picks the block size.
    fn ext4(dir: &Path, len: u64, block: &str) -> PathBuf {
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("persistence.conf"), "/ union\n").unwrap();
        std::fs::write(root.join("big"), vec![0x5a; 300_000]).unwrap();
        let img = dir.join("fs.img");
        File::create(&img).unwrap().set_len(len).unwrap();
        run(Command::new(tool("mkfs.ext4"))
            .args(["-F", "-q", "-L", "persistence", "-b", block, "-d"])
            .arg(&root)
            .arg(&img));
        img
    }

    /// Argon2id as the CLI makes it, cheaper: debug builds and a busy test machine take
    /// seconds per unlock at the default.
    const CHEAP: KdfCost = KdfCost { memory_kib: 8192, iter_time_ms: 200 };

    #[test]
    fn encrypted_backend_unlocks_decrypts_to_a_clean_ext4_and_cryptsetup_reads_it() {
        for (block, sector) in [("1024", 512), ("4096", 4096)] {
            let dir = tempfile::tempdir().unwrap();
            let total = DATA_OFFSET + (16 << 20);
            let plain = ext4(dir.path(), plain_size(total).unwrap(), block);
            let backend =
                encrypt_backend(&plain, total, b"boot secret", CHEAP, dir.path()).unwrap();
            assert_eq!(std::fs::metadata(&backend).unwrap().len(), total);

            let mut dev = FileDev::open(&backend).unwrap();
            let h = luks2::read_header(&mut dev).unwrap();
            assert_eq!(h.segment.sector_size, sector);
            assert_eq!(h.keyslots.len(), 1);
            match &h.keyslots[0].kdf {
                luks2::Kdf::Argon2 { id: true, memory_kib, lanes: 1, .. } => {
                    assert_eq!(*memory_kib, CHEAP.memory_kib)
                }
                k => panic!("{k:?}"),
            }
            assert!(matches!(
                luks2::unlock(&h, &mut dev, b"boot secreT", &Limits::DEFAULT),
                Err(luks2::LuksError::WrongPassphrase)
            ));
            let key = luks2::unlock(&h, &mut dev, b"boot secret", &Limits::DEFAULT).unwrap();

            // The key cryptsetup itself unlocks with the same passphrase is the same.
            let pw = dir.path().join("pw");
            std::fs::write(&pw, "boot secret").unwrap();
            let dump = run(Command::new(tool("cryptsetup"))
                .args(["luksDump", "--dump-volume-key", "--batch-mode", "--key-file"])
                .arg(&pw)
                .arg(&backend));
            let hex: String = dump
                .split("MK dump:")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .take_while(|w| w.len() == 2)
                .collect();
            assert_eq!(hex, key.to_hex().as_str());

            // Decrypted, the whole segment is the plaintext image, and e2fsck finds it clean.
            let mut data = vec![0u8; plain_size(total).unwrap() as usize];
            dev.read_at(DATA_OFFSET, &mut data).unwrap();
            assert_ne!(data[1024..2048], std::fs::read(&plain).unwrap()[1024..2048]);
            luks2::decrypt_sectors(&key, &h.segment, 0, &mut data).unwrap();
            let back = dir.path().join("back.img");
            std::fs::write(&back, &data).unwrap();
            assert!(data == std::fs::read(&plain).unwrap());
            let fsck = Command::new(tool("e2fsck")).arg("-fn").arg(&back).output().unwrap();
            assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stdout));
            let label = run(Command::new(tool("e2label")).arg(&back));
            assert_eq!(label.trim(), "persistence");
        }
    }

    #[test]
    fn a_wrongly_sized_image_is_refused_before_cryptsetup_runs() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fs.img");
        File::create(&img).unwrap().set_len(8 << 20).unwrap();
        let c = KdfCost::DEFAULT;
        let e = encrypt_backend(&img, DATA_OFFSET + (16 << 20), b"x", c, dir.path()).unwrap_err();
        assert!(e.to_string().contains("holds 16777216"), "{e}");
        assert!(encrypt_backend(&img, DATA_OFFSET, b"x", c, dir.path()).is_err());
        assert!(!dir.path().join("luks2.img").exists());
    }
}
