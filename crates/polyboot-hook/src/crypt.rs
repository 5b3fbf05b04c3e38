//! Encrypted (LUKS2) persistence backends: ask the passphrase on the console, unlock the volume
//! key with polyboot-core's [`luks2`] and map the decrypted backend with dm-crypt.
//!
//! # How run.rs uses it
//!
//! 1. Map the backend's extents read-write as a dm-linear device named [`RAW_NAME`]
//!    (`polyboot-persist-raw`), the same table as for an unencrypted backend.
//! 2. Call [`open_luks`] with that device; on `Ok((major, minor))`,
//!    `/dev/mapper/polyboot-persist` ([`CRYPT_NAME`]) is the decrypted file system (the
//!    symlink is made here) and the init family's hints go on as for an unencrypted backend.
//!    On `Err`, log it and boot without persistence.
//!
//! ```ignore
//! let (maj, min) = dm::create_device_with(control, crypt::RAW_NAME, &raw_uuid, false, &specs)?;
//! let target = crypt::LuksTarget {
//!     dev_dir: Path::new(DEV), proc_dir: Path::new(PROC), control,
//!     raw: (maj, min), raw_size: backend.size, backend: &backend.path,
//! };
//! match crypt::open_luks(&target, &mut log) { ... }
//! ```
//!
//! The prompt is `polyboot: passphrase for persistence backend <path>: ` on `/dev/console`
//! with echo off (termios; a newline is still echoed), three tries. Argon2's memory is bounded
//! by what the system has available ([`memory_limit_kib`]), so a header asking for more fails
//! with a message instead of the kernel's OOM killer. dm-crypt, xts and AES are loaded from
//! the original initrd's modules when `/sys/module` and `/proc/crypto` show them missing.
//! The volume key, the passphrase and the table (which holds the key) are wiped after use.

use crate::dm::{self, TargetSpec};
use crate::modules;
use crate::run::Log;
use polyboot_core::luks2::{self, Limits, LuksError, VolumeKey};
use std::io::{self, Read, Write};
use std::path::Path;
use zeroize::Zeroizing;

/// The dm-linear device over the backend's extents that run.rs creates first.
pub const RAW_NAME: &str = "polyboot-persist-raw";
/// The decrypted backend: `/dev/mapper/polyboot-persist`.
pub const CRYPT_NAME: &str = "polyboot-persist";
pub const MAX_TRIES: u32 = 3;
/// Longest passphrase read (cryptsetup's limit for a typed one); longer lines are refused.
pub const MAX_PASSPHRASE: usize = 512;

/// What [`open_luks`] opens.
pub struct LuksTarget<'a> {
    /// The hook's devtmpfs mount (`/polyboot/dev`): `console`, `dm-N`, `mapper/`.
    pub dev_dir: &'a Path,
    /// The hook's procfs mount (`/polyboot/proc`): `meminfo`, `crypto`.
    pub proc_dir: &'a Path,
    /// The hook's sysfs mount (`/polyboot/sys`): `module/`.
    pub sys_dir: &'a Path,
    /// `mapper/control` under `dev_dir`.
    pub control: &'a Path,
    /// The dm-linear device over the backend ([`RAW_NAME`]).
    pub raw: (u32, u32),
    /// Its size in bytes (the backend file's size).
    pub raw_size: u64,
    /// The backend's path on the drive, for the prompt and messages.
    pub backend: &'a str,
    /// `uname -r`, for the module directory.
    pub kernel_release: &'a str,
}

/// Unlock the LUKS2 backend on `t.raw` and map it as `/dev/mapper/polyboot-persist`; returns
/// the crypt device's (major, minor).
pub fn open_luks(t: &LuksTarget, log: &mut Log) -> Result<(u32, u32), String> {
    let node = t.dev_dir.join(format!("dm-{}", t.raw.1));
    let mut dev = crate::discover::FileDev::open(&node, t.raw_size)
        .map_err(|e| format!("{}: {e}", node.display()))?;
    let header = luks2::read_header(&mut dev).map_err(|e| format!("{}: {e}", t.backend))?;
    let limits =
        memory_limit_kib(&std::fs::read_to_string(t.proc_dir.join("meminfo")).unwrap_or_default())
            .map_or(Limits::DEFAULT, Limits::with_memory_kib);
    log.say(
        6,
        &format!(
            "{}: LUKS2 {}, {} keyslot(s), data at {} with {}-byte sectors; Argon2 memory limit {} KiB",
            t.backend,
            header.uuid,
            header.keyslots.len(),
            header.segment.offset,
            header.segment.sector_size,
            limits.max_argon2_memory_kib
        ),
    );
    let console_path = t.dev_dir.join("console");
    let mut console =
        std::fs::OpenOptions::new().read(true).write(true).open(&console_path).map_err(|e| {
            format!("{}: {e} (no console to ask the passphrase on)", console_path.display())
        })?;
    let key = {
        let echo = EchoOff::new(&console);
        let key = ask_and_unlock(&mut console, t.backend, MAX_TRIES, |p| {
            luks2::unlock(&header, &mut dev, p, &limits)
        });
        drop(echo);
        key?
    };
    log.say(5, &format!("{}: unlocked", t.backend));

    load_crypto_modules(t, log);
    let target = luks2::dm_crypt_table(&header, &key, t.raw.0, t.raw.1, t.raw_size)
        .map_err(|e| format!("{}: {e}", t.backend))?;
    drop(key);
    let spec =
        TargetSpec { start: 0, length: target.sectors, kind: "crypt", params: &target.params };
    let uuid = dm_uuid(&header.uuid);
    let (major, minor) = dm::create_device_with(t.control, CRYPT_NAME, &uuid, false, &[spec])
        .map_err(|e| format!("device-mapper (crypt): {e}"))?;
    drop(target);
    // What udev would do: /dev/mapper/NAME -> ../dm-N.
    let link = t.dev_dir.join("mapper").join(CRYPT_NAME);
    let _ = std::fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink(format!("../dm-{minor}"), &link) {
        log.say(3, &format!("{}: {e}", link.display()));
    }
    log.say(
        5,
        &format!(
            "mapped {} decrypted as /dev/mapper/{CRYPT_NAME} (dm-{minor}, {major}:{minor})",
            t.backend
        ),
    );
    Ok((major, minor))
}

/// The device-mapper UUID cryptsetup gives a LUKS2 mapping (`CRYPT-LUKS2-<uuid without
/// dashes>-<name>`), so the booted system's udev rules see what they expect.
pub fn dm_uuid(luks_uuid: &str) -> String {
    format!("CRYPT-LUKS2-{}-{CRYPT_NAME}", luks_uuid.replace('-', ""))
}

/// Argon2's memory bound: three quarters of `MemAvailable` (KiB), capped at cryptsetup's
/// 4 GiB maximum; `None` when meminfo says nothing.
pub fn memory_limit_kib(meminfo: &str) -> Option<u32> {
    let bytes = crate::run::mem_available(meminfo)?;
    let kib = bytes / 1024 / 4 * 3;
    Some(kib.min(u64::from(Limits::DEFAULT.max_argon2_memory_kib)) as u32)
}

/// The prompt shown for `backend`.
pub fn prompt(backend: &str) -> String {
    format!("polyboot: passphrase for persistence backend {backend}: ")
}

/// Ask on `console` up to `tries` times; `unlock` checks each passphrase. Stops at once on
/// errors other than a wrong passphrase (a passphrase will not fix them) and when the console
/// has nothing more to read.
pub fn ask_and_unlock<C: Read + Write>(
    console: &mut C,
    backend: &str,
    tries: u32,
    mut unlock: impl FnMut(&[u8]) -> Result<VolumeKey, LuksError>,
) -> Result<VolumeKey, String> {
    for n in 1..=tries {
        let _ = console.write_all(prompt(backend).as_bytes());
        let _ = console.flush();
        let line = match read_line(console) {
            Ok(Some(l)) => l,
            Ok(None) => {
                return Err(format!("{backend}: no passphrase typed (end of console input)"))
            }
            Err(e) => return Err(format!("{backend}: reading the console: {e}")),
        };
        let Some(passphrase) = passphrase_of_line(&line) else {
            let _ = writeln!(
                console,
                "polyboot: that passphrase is longer than {MAX_PASSPHRASE} characters"
            );
            continue;
        };
        let _ = writeln!(console, "polyboot: unlocking {backend}...");
        match unlock(&passphrase) {
            Ok(key) => return Ok(key),
            Err(LuksError::WrongPassphrase) => {
                let _ = writeln!(console, "polyboot: wrong passphrase (try {n} of {tries})");
            }
            Err(e) => {
                let _ = writeln!(console, "polyboot: {backend}: {e}");
                return Err(format!("{backend}: {e}"));
            }
        }
    }
    let _ = writeln!(console, "polyboot: booting without persistence");
    Err(format!("{backend}: no passphrase accepted in {tries} tries"))
}

/// One non-empty line from the console, byte by byte (nothing read beyond it), without its
/// end: `\n` or `\r` (a raw serial line sends Enter as `\r`, some terminals `\r\n`); empty
/// lines are skipped, so a `\r\n` is one Enter and a stray Enter costs no try. `None` at end
/// of input. Keeps at most [`MAX_PASSPHRASE`] + 1 bytes (enough to tell that a line was too
/// long) and reads the rest of a longer line away.
pub fn read_line<R: Read>(r: &mut R) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE + 1));
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) => return Ok((!line.is_empty()).then_some(line)),
            Ok(_) => match byte[0] {
                b'\n' | b'\r' if line.is_empty() => {}
                b'\n' | b'\r' => return Ok(Some(line)),
                b => {
                    if line.len() <= MAX_PASSPHRASE {
                        line.push(b);
                    }
                }
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        byte[0] = 0;
    }
}

/// The passphrase a typed line stands for: erase characters applied (DEL and backspace remove
/// the character before them; the tty does this itself in canonical mode, a raw serial line
/// does not), `None` when longer than [`MAX_PASSPHRASE`].
pub fn passphrase_of_line(line: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(line.len()));
    for &b in line {
        match b {
            0x7f | 0x08 => {
                // Remove one UTF-8 character.
                while let Some(c) = out.pop() {
                    if c & 0xC0 != 0x80 {
                        break;
                    }
                }
            }
            _ => out.push(b),
        }
    }
    (out.len() <= MAX_PASSPHRASE && line.len() <= MAX_PASSPHRASE).then_some(out)
}

/// The console's echo turned off (with `ECHONL`, so Enter still moves to a new line) while
/// this lives; nothing happens when the console is not a terminal.
struct EchoOff {
    fd: i32,
    saved: Option<libc::termios>,
}

impl EchoOff {
    fn new(console: &std::fs::File) -> EchoOff {
        use std::os::fd::AsRawFd;
        let fd = console.as_raw_fd();
        // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is open for the life of `console`, which outlives this guard.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return EchoOff { fd, saved: None };
        }
        let mut quiet = saved;
        quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
        quiet.c_lflag |= libc::ECHONL | libc::ICANON;
        // SAFETY: as above, with settings derived from the terminal's own.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
        EchoOff { fd, saved: Some(saved) }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores the settings read in new().
            unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, saved) };
        }
    }
}

/// The modules to load for dm-crypt with aes-xts-plain64, from what the kernel shows:
/// `dm_crypt` unless `/sys/module/dm_crypt` exists; `xts` unless `/proc/crypto` lists an
/// `xts(...)` instance, and `ecb` (which the xts template asks for at run time, through a
/// modprobe that may not work this early) unless it lists an `ecb(...)` one; the AES drivers
/// unless it lists `aes`. Modules that are built in, or that the CPU cannot use (aesni_intel
/// without AES-NI), cost a log line.
pub fn crypto_modules_needed(proc_crypto: &str, dm_crypt_loaded: bool) -> Vec<&'static str> {
    let names: Vec<&str> = proc_crypto
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "name").then(|| v.trim())
        })
        .collect();
    let mut out = Vec::new();
    if !dm_crypt_loaded {
        out.push("dm_crypt");
    }
    if !names.iter().any(|n| n.starts_with("xts(")) {
        out.push("xts");
    }
    if !names.iter().any(|n| n.starts_with("ecb(")) {
        out.push("ecb");
    }
    if !names.contains(&"aes") {
        out.extend(["aesni_intel", "aes_generic"]);
    }
    out
}

fn load_crypto_modules(t: &LuksTarget, log: &mut Log) {
    let crypto = std::fs::read_to_string(t.proc_dir.join("crypto")).unwrap_or_default();
    let dm_crypt = t.sys_dir.join("module/dm_crypt").exists();
    let wanted = crypto_modules_needed(&crypto, dm_crypt);
    if wanted.is_empty() {
        return;
    }
    match modules::module_dir(Path::new("/"), t.kernel_release) {
        Some(dir) => {
            let lines = modules::load_all(&dir, &wanted);
            if !lines.is_empty() {
                log.say(6, &lines.join("; "));
            }
        }
        None => log.say(
            4,
            &format!(
                "no module tree for {} in the initrd: {} must be built in",
                t.kernel_release,
                wanted.join(", ")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A console: typed input, and what was written to it.
    struct Console {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }
    impl Read for Console {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.input.read(b)
        }
    }
    impl Write for Console {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.output.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    fn console(typed: &[u8]) -> Console {
        Console { input: Cursor::new(typed.to_vec()), output: Vec::new() }
    }

    fn lines(typed: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut c = Cursor::new(typed.to_vec());
        let mut out = Vec::new();
        loop {
            match read_line(&mut c).unwrap() {
                Some(l) => out.push(Some(l.to_vec())),
                None => {
                    out.push(None);
                    return out;
                }
            }
        }
    }

    #[test]
    fn lines_end_at_newline_or_carriage_return_and_at_end_of_input() {
        assert_eq!(lines(b"abc\n"), [Some(b"abc".to_vec()), None]);
        assert_eq!(lines(b"abc\rdef\n"), [Some(b"abc".to_vec()), Some(b"def".to_vec()), None]);
        assert_eq!(lines(b"abc\r\n"), [Some(b"abc".to_vec()), None]);
        assert_eq!(lines(b"\n\r\nabc\n\n"), [Some(b"abc".to_vec()), None]);
        assert_eq!(lines(b"tail"), [Some(b"tail".to_vec()), None]);
        assert_eq!(lines(b""), [None]);
        // Long lines keep MAX_PASSPHRASE + 1 bytes, the rest is read away.
        let mut long = vec![b'x'; 2000];
        long.extend_from_slice(b"\nok\n");
        let l = lines(&long);
        assert_eq!(l[0].as_ref().unwrap().len(), MAX_PASSPHRASE + 1);
        assert_eq!(l[1], Some(b"ok".to_vec()));
    }

    #[test]
    fn erase_characters_and_length() {
        assert_eq!(&*passphrase_of_line(b"secrex\x7ft").unwrap(), b"secret");
        assert_eq!(&*passphrase_of_line(b"ab\x08\x08\x08cd").unwrap(), b"cd");
        assert_eq!(&*passphrase_of_line("pä\x7fa".as_bytes()).unwrap(), b"pa");
        assert_eq!(&*passphrase_of_line(b"").unwrap(), b"");
        assert!(passphrase_of_line(&[b'a'; MAX_PASSPHRASE]).is_some());
        assert!(passphrase_of_line(&[b'a'; MAX_PASSPHRASE + 1]).is_none());
    }

    fn fake_unlock(right: &'static [u8]) -> impl FnMut(&[u8]) -> Result<VolumeKey, LuksError> {
        move |p| {
            if p == right {
                Ok(VolumeKey::from_bytes(&[7; 64]))
            } else {
                Err(LuksError::WrongPassphrase)
            }
        }
    }

    #[test]
    fn three_tries_with_the_prompt_each_time() {
        let mut c = console(b"wrong\r\nright\r\n");
        let key = ask_and_unlock(&mut c, "/persistence/a.dat", 3, fake_unlock(b"right")).unwrap();
        assert_eq!(key.as_bytes(), &[7; 64]);
        let out = String::from_utf8(c.output).unwrap();
        let p = "polyboot: passphrase for persistence backend /persistence/a.dat: ";
        assert_eq!(out.matches(p).count(), 2, "{out}");
        assert!(out.contains("polyboot: wrong passphrase (try 1 of 3)"), "{out}");
        assert!(!out.contains("try 2"), "{out}");

        let mut c = console(b"a\nb\nc\nright\n");
        let e = ask_and_unlock(&mut c, "/p.dat", 3, fake_unlock(b"right")).unwrap_err();
        assert_eq!(e, "/p.dat: no passphrase accepted in 3 tries");
        assert!(String::from_utf8(c.output).unwrap().ends_with("booting without persistence\n"));

        let mut c = console(b"a\n");
        let e = ask_and_unlock(&mut c, "/p.dat", 3, fake_unlock(b"right")).unwrap_err();
        assert!(e.contains("end of console input"), "{e}");

        // Other errors end the asking at once.
        let mut c = console(b"a\nb\n");
        let e = ask_and_unlock(&mut c, "/p.dat", 3, |_| {
            Err(LuksError::TooCostly("keyslot 0: Argon2 needs 9 KiB".into()))
        })
        .unwrap_err();
        assert!(e.contains("Argon2 needs 9 KiB"), "{e}");
        assert_eq!(String::from_utf8(c.output).unwrap().matches("passphrase for").count(), 1);
    }

    #[test]
    fn modules_from_proc_crypto() {
        let crypto = "name         : aes\ndriver       : aes-generic\nmodule       : kernel\n\nname         : xts(aes)\ndriver       : xts-aes-aesni\n\nname         : ecb(aes)\ndriver       : ecb-aes-aesni\n";
        assert!(crypto_modules_needed(crypto, true).is_empty());
        assert_eq!(crypto_modules_needed(crypto, false), ["dm_crypt"]);
        assert_eq!(
            crypto_modules_needed("name : sha256\n", true),
            ["xts", "ecb", "aesni_intel", "aes_generic"]
        );
    }

    #[test]
    fn memory_limit_and_dm_uuid() {
        assert_eq!(memory_limit_kib("MemAvailable:  400000 kB\n"), Some(300_000));
        assert_eq!(memory_limit_kib("MemAvailable: 99999999999 kB\n"), Some(4 << 20));
        assert_eq!(memory_limit_kib("MemTotal: 5 kB\n"), None);
        assert_eq!(
            dm_uuid("645fd942-3f6b-4edf-92f7-a23a0de31948"),
            "CRYPT-LUKS2-645fd9423f6b4edf92f7a23a0de31948-polyboot-persist"
        );
    }

    fn cryptsetup() -> std::path::PathBuf {
        ["/usr/sbin/cryptsetup", "/sbin/cryptsetup"]
            .iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.is_file())
            .expect("cryptsetup is not installed (Debian package cryptsetup-bin; cargo xtask deps)")
    }

    /// A LUKS2 file made by cryptsetup, unlocked through the console loop, gives the table
    /// dm-crypt gets: the key cryptsetup dumps, the data offset in sectors, the sector size.
    #[test]
    fn table_for_a_cryptsetup_volume_typed_at_the_console() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("backend.dat");
        std::fs::File::create(&img).unwrap().set_len(20 << 20).unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "typed at boot").unwrap();
        for sector in ["512", "4096"] {
            let st = std::process::Command::new(cryptsetup())
                .args(["luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "argon2id"])
                .args(["--pbkdf-memory", "8192", "--pbkdf-force-iterations", "4"])
                .args(["--sector-size", sector, "--key-file"])
                .arg(&pw)
                .arg(&img)
                .status()
                .unwrap();
            assert!(st.success());
            let mut dev = crate::discover::FileDev::open(&img, 20 << 20).unwrap();
            let h = luks2::read_header(&mut dev).unwrap();
            let mut c = console(b"typed at boo\r\ntyped at boot\r");
            let key = ask_and_unlock(&mut c, "/persistence/x.dat", 3, |p| {
                luks2::unlock(&h, &mut dev, p, &Limits::with_memory_kib(16384))
            })
            .unwrap();
            let out = std::process::Command::new(cryptsetup())
                .args(["luksDump", "--dump-volume-key", "--batch-mode", "--key-file"])
                .arg(&pw)
                .arg(&img)
                .output()
                .unwrap();
            let dump = String::from_utf8_lossy(&out.stdout);
            let hex: String = dump
                .split("MK dump:")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .take_while(|w| w.len() == 2)
                .collect();
            let t = luks2::dm_crypt_table(&h, &key, 254, 3, 20 << 20).unwrap();
            let tail = if sector == "4096" { " 1 sector_size:4096" } else { "" };
            // 20 MiB less the 16 MiB header: 8192 sectors of 512 bytes.
            assert_eq!(
                t.line().as_str(),
                format!("0 8192 crypt aes-xts-plain64 {hex} 0 254:3 32768{tail}")
            );
            let spec = TargetSpec { start: 0, length: t.sectors, kind: "crypt", params: &t.params };
            let payload = dm::specs_payload(&[spec]);
            assert_eq!(&payload[24..30], b"crypt\0");
            assert_eq!(&payload[40..40 + t.params.len()], t.params.as_bytes());
        }
    }
}
