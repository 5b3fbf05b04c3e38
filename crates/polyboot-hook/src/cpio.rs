//! Unpacking an initramfs the way the kernel's `init/initramfs.c` does: a sequence of
//! [zero padding][raw newc cpio | compressed stream of newc cpio]..., each archive ending at
//! `TRAILER!!!`, later entries replacing earlier ones.
//!
//! Files land through the [`Fs`] trait so that tests extract into a temporary directory
//! (where `mknod` and `chown` may be refused) and the hook into `/`.

use crate::decompress::{self, Format};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

pub const S_IFMT: u32 = 0o170_000;
pub const S_IFSOCK: u32 = 0o140_000;
pub const S_IFLNK: u32 = 0o120_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFBLK: u32 = 0o060_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFIFO: u32 = 0o010_000;

const HEADER_LEN: usize = 110;
const TRAILER: &[u8] = b"TRAILER!!!";

/// Where extracted entries go. Paths are relative, already checked to stay inside the root.
/// Every creator replaces an existing non-directory at `path` (the kernel does the same, and
/// the hook relies on it: the original `/init` replaces the running hook binary).
pub trait Fs {
    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()>;
    fn write_file(&mut self, path: &Path, mode: u32, data: &[u8]) -> io::Result<()>;
    fn symlink(&mut self, target: &[u8], path: &Path) -> io::Result<()>;
    /// Character / block devices, FIFOs and sockets; `mode` includes the file type bits.
    fn mknod(&mut self, path: &Path, mode: u32, rdev_major: u32, rdev_minor: u32)
        -> io::Result<()>;
    /// Make `path` another name of `existing` (an earlier entry of the same archive).
    fn hard_link(&mut self, existing: &Path, path: &Path) -> io::Result<()>;
    /// Ownership and modification time; best effort.
    fn set_owner(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
}

/// A directory of the real filesystem as the root (`/` in the hook, a temp dir in tests).
pub struct RootedFs {
    pub root: PathBuf,
    /// Try `chown` (only meaningful as root).
    pub chown: bool,
}

impl RootedFs {
    fn full(&self, p: &Path) -> PathBuf {
        self.root.join(p)
    }
    /// Remove what is at `p` unless it is a directory (then leave it: creating will fail and
    /// report it).
    fn clear(&self, p: &Path) {
        if let Ok(m) = std::fs::symlink_metadata(p) {
            if !m.is_dir() {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn cstr(p: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

impl Fs for RootedFs {
    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let p = self.full(path);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                std::fs::remove_file(&p)?;
                std::fs::DirBuilder::new().mode(mode & 0o7777).create(&p)?;
            }
            Err(_) => std::fs::DirBuilder::new().mode(mode & 0o7777).create(&p)?,
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o7777))
    }

    fn write_file(&mut self, path: &Path, mode: u32, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let p = self.full(path);
        // A hard link made earlier from this archive is written through (GNU cpio puts the
        // data on the last name); anything else is replaced.
        let linked = std::fs::symlink_metadata(&p).map(|m| {
            m.is_file() && {
                use std::os::unix::fs::MetadataExt;
                m.nlink() > 1
            }
        });
        if !matches!(linked, Ok(true)) {
            self.clear(&p);
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode & 0o7777)
            .open(&p)?;
        f.write_all(data)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o7777))
    }

    fn symlink(&mut self, target: &[u8], path: &Path) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let p = self.full(path);
        self.clear(&p);
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &p)
    }

    fn mknod(
        &mut self,
        path: &Path,
        mode: u32,
        rdev_major: u32,
        rdev_minor: u32,
    ) -> io::Result<()> {
        let p = self.full(path);
        self.clear(&p);
        let c = cstr(&p)?;
        let dev = libc::makedev(rdev_major, rdev_minor);
        // SAFETY: `c` is a valid NUL-terminated path.
        if unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, dev) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn hard_link(&mut self, existing: &Path, path: &Path) -> io::Result<()> {
        let p = self.full(path);
        self.clear(&p);
        std::fs::hard_link(self.full(existing), &p)
    }

    fn set_owner(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        if !self.chown {
            return Ok(());
        }
        let c = cstr(&self.full(path))?;
        // SAFETY: `c` is a valid NUL-terminated path.
        if unsafe { libc::lchown(c.as_ptr(), uid, gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[derive(Debug)]
pub enum CpioError {
    Truncated {
        at: usize,
    },
    BadMagic {
        at: usize,
    },
    BadHeaderField {
        at: usize,
        field: &'static str,
    },
    BadName {
        at: usize,
    },
    /// Bytes that are neither zero padding, a cpio archive nor a known compressed stream.
    UnknownData {
        at: usize,
        first: [u8; 4],
    },
    Decompress {
        at: usize,
        source: decompress::DecompressError,
    },
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpioError::Truncated { at } => write!(f, "archive truncated (entry at byte {at})"),
            CpioError::BadMagic { at } => write!(f, "no newc cpio header at byte {at}"),
            CpioError::BadHeaderField { at, field } => {
                write!(f, "cpio header at byte {at}: bad {field}")
            }
            CpioError::BadName { at } => {
                write!(f, "cpio entry at byte {at}: name not NUL-terminated")
            }
            CpioError::UnknownData { at, first } => {
                write!(
                    f,
                    "unrecognised data at byte {at} (starts {:02x} {:02x} {:02x} {:02x})",
                    first[0], first[1], first[2], first[3]
                )
            }
            CpioError::Decompress { at, source } => write!(f, "at byte {at}: {source}"),
        }
    }
}

impl std::error::Error for CpioError {}

/// What an extraction did; warnings are per-entry problems that did not stop it.
#[derive(Debug, Default)]
pub struct Report {
    pub entries: usize,
    pub archives: usize,
    /// Compressed streams decoded, in order.
    pub streams: Vec<Format>,
    pub warnings: Vec<String>,
}

struct Header<'a> {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    filesize: usize,
    dev: (u32, u32),
    ino: u32,
    rdev: (u32, u32),
    check: u32,
    crc: bool,
    name: &'a [u8],
}

fn hex(b: &[u8], at: usize, field: &'static str) -> Result<u32, CpioError> {
    let s = std::str::from_utf8(b).map_err(|_| CpioError::BadHeaderField { at, field })?;
    u32::from_str_radix(s, 16).map_err(|_| CpioError::BadHeaderField { at, field })
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parse the header at `data[at..]`; returns it and the offset of its data. Padding is to
/// 4 bytes from `base`, the archive's first byte (an archive may follow a compressed stream
/// at any offset).
fn parse_header(data: &[u8], base: usize, at: usize) -> Result<(Header<'_>, usize), CpioError> {
    let h = data.get(at..at + HEADER_LEN).ok_or(CpioError::Truncated { at })?;
    let crc = match &h[..6] {
        b"070701" => false,
        b"070702" => true,
        _ => return Err(CpioError::BadMagic { at }),
    };
    let f = |i: usize, name| hex(&h[6 + 8 * i..14 + 8 * i], at, name);
    let namesize = f(11, "namesize")? as usize;
    if namesize == 0 {
        return Err(CpioError::BadHeaderField { at, field: "namesize" });
    }
    let name_end = at + HEADER_LEN + namesize;
    let name = data.get(at + HEADER_LEN..name_end).ok_or(CpioError::Truncated { at })?;
    if name[namesize - 1] != 0 {
        return Err(CpioError::BadName { at });
    }
    let header = Header {
        ino: f(0, "ino")?,
        mode: f(1, "mode")?,
        uid: f(2, "uid")?,
        gid: f(3, "gid")?,
        nlink: f(4, "nlink")?,
        filesize: f(6, "filesize")? as usize,
        dev: (f(7, "devmajor")?, f(8, "devminor")?),
        rdev: (f(9, "rdevmajor")?, f(10, "rdevminor")?),
        check: f(12, "check")?,
        crc,
        name: &name[..namesize - 1],
    };
    Ok((header, base + align4(name_end - base)))
}

/// Turn an archive name into a safe relative path: leading `/` and `.` components dropped;
/// `None` for the root itself or for any `..` component (path traversal).
pub fn safe_path(name: &[u8]) -> Option<Result<PathBuf, ()>> {
    use std::os::unix::ffi::OsStrExt;
    let p = Path::new(std::ffi::OsStr::from_bytes(name));
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Some(Err(())),
        }
    }
    if out.as_os_str().is_empty() {
        None
    } else {
        Some(Ok(out))
    }
}

/// Extract one archive starting at `data[start]`, up to and including its trailer.
/// Returns the offset just past the trailer entry (4-byte aligned from `start`, clamped to
/// `data.len()`).
pub fn extract_archive(
    data: &[u8],
    start: usize,
    fs: &mut dyn Fs,
    report: &mut Report,
) -> Result<usize, CpioError> {
    let mut at = start;
    // (dev, ino) -> first name, for hard links (newc: nlink > 1, data on the last name).
    let mut links: HashMap<(u32, u32, u32), PathBuf> = HashMap::new();
    report.archives += 1;
    loop {
        let (h, data_at) = parse_header(data, start, at)?;
        let data_end = data_at.checked_add(h.filesize).ok_or(CpioError::Truncated { at })?;
        let body = data.get(data_at..data_end).ok_or(CpioError::Truncated { at })?;
        let next = (start + align4(data_end - start)).min(data.len());
        if h.name == TRAILER {
            return Ok(next);
        }
        report.entries += 1;
        let shown = String::from_utf8_lossy(h.name).into_owned();
        let path = match safe_path(h.name) {
            None => {
                at = next;
                continue;
            }
            Some(Err(())) => {
                report.warnings.push(format!("refused {shown:?}: path leaves the root"));
                at = next;
                continue;
            }
            Some(Ok(p)) => p,
        };
        // The checksum covers regular files only (GNU cpio writes 0 for symlink targets).
        if h.crc && h.mode & S_IFMT == S_IFREG {
            let sum = body.iter().fold(0u32, |s, &b| s.wrapping_add(b as u32));
            if sum != h.check {
                report.warnings.push(format!(
                    "{shown}: checksum {sum:#x} does not match header {:#x}",
                    h.check
                ));
            }
        }
        let result = match h.mode & S_IFMT {
            S_IFDIR => fs.mkdir(&path, h.mode),
            S_IFREG => {
                let key = (h.dev.0, h.dev.1, h.ino);
                match (h.nlink > 1).then(|| links.get(&key)).flatten() {
                    Some(first) => {
                        let first = first.clone();
                        fs.hard_link(&first, &path).and_then(|_| {
                            if body.is_empty() {
                                Ok(())
                            } else {
                                fs.write_file(&path, h.mode, body)
                            }
                        })
                    }
                    None => {
                        if h.nlink > 1 {
                            links.insert(key, path.clone());
                        }
                        fs.write_file(&path, h.mode, body)
                    }
                }
            }
            S_IFLNK => fs.symlink(body, &path),
            S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK => fs.mknod(&path, h.mode, h.rdev.0, h.rdev.1),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown file type {other:o}"),
            )),
        };
        match result {
            Ok(()) => {
                if let Err(e) = fs.set_owner(&path, h.uid, h.gid) {
                    report.warnings.push(format!("{shown}: chown: {e}"));
                }
            }
            Err(e) => report.warnings.push(format!("{shown}: {e}")),
        }
        at = next;
    }
}

fn skip_zeros(data: &[u8], mut at: usize) -> usize {
    while at < data.len() && data[at] == 0 {
        at += 1;
    }
    at
}

/// Extract a sequence of uncompressed archives separated by zero padding (the content of
/// one decompressed stream).
fn extract_cpio_sequence(
    data: &[u8],
    fs: &mut dyn Fs,
    report: &mut Report,
) -> Result<(), CpioError> {
    let mut at = skip_zeros(data, 0);
    while at < data.len() {
        at = extract_archive(data, at, fs, report)?;
        at = skip_zeros(data, at);
    }
    Ok(())
}

/// Unpack a whole initramfs image: [zeros][raw or compressed cpio]... as the kernel does,
/// decompressing at most `max_output` bytes in all.
pub fn unpack_initramfs(
    data: &[u8],
    fs: &mut dyn Fs,
    max_output: usize,
) -> Result<Report, CpioError> {
    let mut report = Report::default();
    let mut budget = max_output;
    let mut at = skip_zeros(data, 0);
    while at < data.len() {
        let rest = &data[at..];
        match decompress::detect(rest) {
            Some(Format::Cpio) => at = extract_archive(data, at, fs, &mut report)?,
            Some(format) => {
                let (out, used) = decompress::decompress(format, rest, budget)
                    .map_err(|source| CpioError::Decompress { at, source })?;
                budget -= out.len();
                report.streams.push(format);
                extract_cpio_sequence(&out, fs, &mut report)?;
                at += used.max(1);
            }
            None => {
                let mut first = [0u8; 4];
                let n = rest.len().min(4);
                first[..n].copy_from_slice(&rest[..n]);
                return Err(CpioError::UnknownData { at, first });
            }
        }
        at = skip_zeros(data, at);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny newc writer for unit tests (the product writer lives in polyboot-core).
    pub(crate) fn entry(
        out: &mut Vec<u8>,
        name: &str,
        mode: u32,
        body: &[u8],
        ino: u32,
        nlink: u32,
    ) {
        let h = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            body.len(),
            0,
            0,
            1,
            3,
            name.len() + 1,
            0
        );
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(body);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }

    fn trailer(out: &mut Vec<u8>) {
        entry(out, "TRAILER!!!", 0, b"", 0, 1);
    }

    fn fs(dir: &tempfile::TempDir) -> RootedFs {
        RootedFs { root: dir.path().to_path_buf(), chown: false }
    }

    #[test]
    fn extracts_types_and_refuses_traversal() {
        let mut a = Vec::new();
        entry(&mut a, ".", S_IFDIR | 0o755, b"", 1, 2);
        entry(&mut a, "bin", S_IFDIR | 0o755, b"", 2, 2);
        entry(&mut a, "bin/hello", S_IFREG | 0o755, b"#!/bin/sh\necho hi\n", 3, 1);
        entry(&mut a, "sh", S_IFLNK | 0o777, b"bin/hello", 4, 1);
        entry(&mut a, "../escape", S_IFREG | 0o644, b"x", 5, 1);
        entry(&mut a, "bin/../../escape2", S_IFREG | 0o644, b"x", 6, 1);
        entry(&mut a, "/abs", S_IFREG | 0o600, b"abs", 7, 1);
        entry(&mut a, "fifo", S_IFIFO | 0o644, b"", 8, 1);
        trailer(&mut a);
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("root");
        std::fs::create_dir(&sub).unwrap();
        let mut f = RootedFs { root: sub.clone(), chown: false };
        let r = unpack_initramfs(&a, &mut f, 1 << 30).unwrap();
        assert_eq!(std::fs::read(sub.join("bin/hello")).unwrap(), b"#!/bin/sh\necho hi\n");
        assert_eq!(std::fs::read_link(sub.join("sh")).unwrap(), Path::new("bin/hello"));
        assert_eq!(std::fs::read(sub.join("abs")).unwrap(), b"abs");
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        assert_eq!(
            std::fs::metadata(sub.join("abs")).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        assert!(std::fs::symlink_metadata(sub.join("fifo")).unwrap().file_type().is_fifo());
        assert!(!dir.path().join("escape").exists() && !dir.path().join("escape2").exists());
        assert_eq!(
            r.warnings.iter().filter(|w| w.contains("leaves the root")).count(),
            2,
            "{:?}",
            r.warnings
        );
        assert_eq!(r.archives, 1);
    }

    #[test]
    fn later_archives_replace_earlier_entries_and_hard_links_share_data() {
        let mut a = Vec::new();
        entry(&mut a, "init", S_IFREG | 0o755, b"ours", 1, 1);
        trailer(&mut a);
        a.extend_from_slice(&[0; 512]);
        entry(&mut a, "init", S_IFREG | 0o755, b"theirs", 1, 1);
        entry(&mut a, "a", S_IFREG | 0o644, b"", 9, 2);
        entry(&mut a, "b", S_IFREG | 0o644, b"shared", 9, 2);
        trailer(&mut a);
        let dir = tempfile::tempdir().unwrap();
        let r = unpack_initramfs(&a, &mut fs(&dir), 1 << 30).unwrap();
        assert_eq!(std::fs::read(dir.path().join("init")).unwrap(), b"theirs");
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"shared");
        assert_eq!(r.archives, 2);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn an_archive_may_start_at_an_unaligned_offset() {
        let mut b = Vec::new();
        entry(&mut b, "second", S_IFREG | 0o644, b"22", 2, 1);
        trailer(&mut b);
        let mut image = vec![0u8; 3];
        image.extend_from_slice(&b);
        let dir = tempfile::tempdir().unwrap();
        let mut f = fs(&dir);
        let mut r = Report::default();
        let end = extract_archive(&image, 3, &mut f, &mut r).unwrap();
        assert_eq!(end, image.len());
        assert_eq!(std::fs::read(dir.path().join("second")).unwrap(), b"22");
    }

    #[test]
    fn crc_mismatch_is_a_warning() {
        let mut a = Vec::new();
        entry(&mut a, "f", S_IFREG | 0o644, b"abc", 1, 1);
        a[..6].copy_from_slice(b"070702"); // check field is 0, sum is 0x126
        trailer(&mut a);
        let dir = tempfile::tempdir().unwrap();
        let r = unpack_initramfs(&a, &mut fs(&dir), 1 << 30).unwrap();
        assert!(r.warnings[0].contains("checksum"));
    }

    #[test]
    fn hostile_archives_are_errors_not_panics() {
        let mut a = Vec::new();
        entry(&mut a, "file", S_IFREG | 0o644, b"0123456789", 1, 1);
        trailer(&mut a);
        let dir = tempfile::tempdir().unwrap();
        for n in 0..a.len() {
            let _ = unpack_initramfs(&a[..n], &mut fs(&dir), 1 << 30);
        }
        let mut x = 0x9E37_79B9u32;
        for i in 0..a.len() * 4 {
            let mut b = a.clone();
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b[i % a.len()] = x as u8;
            let _ = unpack_initramfs(&b, &mut fs(&dir), 1 << 30);
        }
        // namesize / filesize pointing far past the end
        let mut b = a.clone();
        b[94..102].copy_from_slice(b"ffffffff");
        assert!(unpack_initramfs(&b, &mut fs(&dir), 1 << 30).is_err());
        let mut b = a.clone();
        b[54..62].copy_from_slice(b"ffffffff");
        assert!(unpack_initramfs(&b, &mut fs(&dir), 1 << 30).is_err());
        assert!(matches!(
            unpack_initramfs(b"hello world", &mut fs(&dir), 1 << 30),
            Err(CpioError::UnknownData { .. })
        ));
    }
}
