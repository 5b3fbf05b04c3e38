//! polyboot-hook's initramfs unpacker (`cpio::unpack_initramfs`) into an in-memory `Fs`,
//! plus initrd format detection (`decompress::detect`) and `cpio::safe_path`. Must never
//! panic; beyond that:
//!
//! - `detect` agrees with the kernel's magic table and looks at no more than 6 bytes;
//! - `safe_path` (on the input's first 300 bytes as a name) refuses exactly the names with a
//!   `..` component, gives `None` exactly for names with no normal component, and otherwise
//!   the normal components in order, relative;
//! - every path the unpacker hands the `Fs` is relative with only normal components; types
//!   match the call (`mkdir` gets a directory mode, `write_file` a regular one, `mknod` a
//!   device / FIFO / socket); `hard_link` names an earlier regular file; `set_owner` follows
//!   a successful creation of the same path; the report counts at least as many entries as
//!   creations, and an input with any non-zero byte that unpacks cleanly had an archive or
//!   a stream;
//! - when the input holds only uncompressed newc archives (and zero padding), a reference
//!   reader written from the format (kernel `init/initramfs.c`, GNU cpio's newc) gives the
//!   same sequence of creations (type, path, file contents, hard links, `..` refusals) and
//!   the same success / failure.
//!
//! Memory: a few KiB of bzip2 or zstd can ask for gigabytes. The unpacker takes an output
//! budget (`OUTPUT_LIMIT` here; the hook uses three quarters of the guest's available memory),
//! and this target also caps the Rust heap with a counting allocator (`HEAP_LIMIT`), so a
//! budget that stopped working would show as an allocation failure, not an OOM kill.
//! The `Fs` refuses (with an I/O error) writes past `FS_LIMIT` bytes or `MAX_OPS` calls.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use polyboot_hook::cpio::{
    self, Fs, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK,
};
use polyboot_hook::decompress::{self, Format};

/// Rust heap the target may use (libFuzzer's RSS limit in run.sh is 2 GiB).
const HEAP_LIMIT: usize = 768 << 20;
/// The unpacker's decompression budget for one input.
const OUTPUT_LIMIT: usize = 256 << 20;
/// File bytes the in-memory filesystem accepts per input.
const FS_LIMIT: u64 = 256 << 20;
/// Filesystem calls accepted per input.
const MAX_OPS: usize = 1 << 20;

struct Capped;
static LIVE: AtomicUsize = AtomicUsize::new(0);

impl Capped {
    fn reserve(n: usize) -> bool {
        let before = LIVE.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > HEAP_LIMIT {
            LIVE.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }
}

// SAFETY: forwards to the system allocator; only refuses (null) requests over the budget.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Capped::reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc(layout);
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Capped::reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(layout);
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !Capped::reserve(new_size - old) {
            return std::ptr::null_mut();
        }
        let p = System.realloc(ptr, layout, new_size);
        if p.is_null() {
            if new_size > old {
                LIVE.fetch_sub(new_size - old, Ordering::Relaxed);
            }
        } else if new_size < old {
            LIVE.fetch_sub(old - new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

/// What the unpacker asked the filesystem to do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Mkdir(PathBuf),
    Write(PathBuf, u64),
    Symlink(PathBuf, Vec<u8>),
    Mknod(PathBuf, u32, u32, u32),
    Link(PathBuf, PathBuf),
}

fn fnv(data: &[u8]) -> u64 {
    data.iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
        ^ data.len() as u64
}

#[derive(Default)]
struct MemFs {
    ops: Vec<Op>,
    /// Paths given to `write_file` (hard links name one of these).
    files: HashSet<PathBuf>,
    bytes: u64,
    /// The last creation that succeeded (what `set_owner` may follow).
    last_created: Option<PathBuf>,
}

fn check_rel(p: &Path) {
    assert!(p.is_relative(), "{p:?}");
    assert!(p.components().next().is_some(), "empty path");
    for c in p.components() {
        assert!(matches!(c, Component::Normal(_)), "{p:?} has {c:?}");
    }
}

impl MemFs {
    fn op(&mut self, op: Op, path: &Path) -> io::Result<()> {
        check_rel(path);
        self.last_created = None;
        if self.ops.len() >= MAX_OPS {
            return Err(io::Error::other("too many entries"));
        }
        self.ops.push(op);
        self.last_created = Some(path.to_path_buf());
        Ok(())
    }
}

impl Fs for MemFs {
    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        assert_eq!(mode & S_IFMT, S_IFDIR);
        self.op(Op::Mkdir(path.to_path_buf()), path)
    }
    fn write_file(&mut self, path: &Path, mode: u32, data: &[u8]) -> io::Result<()> {
        assert_eq!(mode & S_IFMT, S_IFREG);
        self.files.insert(path.to_path_buf());
        self.bytes += data.len() as u64;
        if self.bytes > FS_LIMIT {
            self.last_created = None;
            return Err(io::Error::other("filesystem full"));
        }
        self.op(Op::Write(path.to_path_buf(), fnv(data)), path)
    }
    fn symlink(&mut self, target: &[u8], path: &Path) -> io::Result<()> {
        self.op(Op::Symlink(path.to_path_buf(), target.to_vec()), path)
    }
    fn mknod(&mut self, path: &Path, mode: u32, major: u32, minor: u32) -> io::Result<()> {
        assert!(
            [S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK].contains(&(mode & S_IFMT)),
            "mknod mode {mode:o}"
        );
        self.op(Op::Mknod(path.to_path_buf(), mode, major, minor), path)
    }
    fn hard_link(&mut self, existing: &Path, path: &Path) -> io::Result<()> {
        check_rel(existing);
        assert!(self.files.contains(existing), "hard link to {existing:?}, never written");
        self.op(Op::Link(existing.to_path_buf(), path.to_path_buf()), path)
    }
    fn set_owner(&mut self, path: &Path, _uid: u32, _gid: u32) -> io::Result<()> {
        assert_eq!(self.last_created.as_deref(), Some(path), "set_owner without a creation");
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    check_detect(data);
    check_safe_path(&data[..data.len().min(300)]);

    let mut fs = MemFs::default();
    let result = cpio::unpack_initramfs(data, &mut fs, OUTPUT_LIMIT);
    match &result {
        Ok(report) => {
            // One creation per entry, except the write that may follow a hard link.
            let after_link = fs
                .ops
                .windows(2)
                .filter(|w| matches!(w, [Op::Link(_, a), Op::Write(b, _)] if a == b))
                .count();
            assert!(
                fs.ops.len() - after_link <= report.entries,
                "{} ops, {report:?}",
                fs.ops.len()
            );
            if data.iter().any(|&b| b != 0) {
                assert!(report.archives + report.streams.len() >= 1, "{report:?}");
            }
            assert!(!report.streams.contains(&Format::Cpio));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }

    if let Some((ok, expect)) = reference(data) {
        let got_ok = result.is_ok();
        assert_eq!(got_ok, ok, "reference says ok={ok}: {result:?}");
        // The unpacker's Fs refusals (limits) are not in the reference: compare when none.
        if fs.bytes <= FS_LIMIT && fs.ops.len() < MAX_OPS {
            assert_eq!(fs.ops, expect.ops);
            if let Ok(report) = &result {
                let refused =
                    report.warnings.iter().filter(|w| w.contains("leaves the root")).count();
                assert_eq!(refused, expect.refused);
                assert_eq!(report.entries, expect.entries);
                assert_eq!(report.archives, expect.archives);
            }
        }
    }
});

/// The kernel's magic numbers (`lib/decompress.c`, `init/initramfs.c`).
fn check_detect(data: &[u8]) {
    const TABLE: &[(&[u8], Format)] = &[
        (b"070701", Format::Cpio),
        (b"070702", Format::Cpio),
        (&[0x1f, 0x8b], Format::Gzip),
        (&[0x1f, 0x9e], Format::Gzip),
        (b"BZh", Format::Bzip2),
        (&[0x5d, 0x00, 0x00], Format::Lzma),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Format::Xz),
        (&[0x02, 0x21, 0x4c, 0x18], Format::Lz4Legacy),
        (&[0x28, 0xb5, 0x2f, 0xfd], Format::Zstd),
        (&[0x89, 0x4c, 0x5a], Format::Lzo),
    ];
    let got = decompress::detect(data);
    let want = TABLE.iter().find(|(m, _)| data.starts_with(m)).map(|&(_, f)| f);
    assert_eq!(got, want);
    assert_eq!(decompress::detect(&data[..data.len().min(6)]), got);
    if let Some(f) = got {
        assert!(!f.to_string().is_empty());
    }
}

fn check_safe_path(name: &[u8]) {
    let parts: Vec<&[u8]> =
        name.split(|&c| c == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    let got = cpio::safe_path(name);
    if parts.iter().any(|c| *c == b"..") {
        assert_eq!(got, Some(Err(())), "{name:?}");
    } else if parts.is_empty() {
        assert_eq!(got, None, "{name:?}");
    } else {
        use std::os::unix::ffi::OsStrExt;
        let p = got.expect("a path").expect("a safe path");
        check_rel(&p);
        let comps: Vec<&[u8]> = p.components().map(|c| c.as_os_str().as_bytes()).collect();
        assert_eq!(comps, parts);
    }
}

#[derive(Default)]
struct Expect {
    ops: Vec<Op>,
    refused: usize,
    entries: usize,
    archives: usize,
}

/// newc by the book, for inputs without compressed streams: `None` when the input has one
/// (the reference does not decompress), else (success, what must have happened).
fn reference(data: &[u8]) -> Option<(bool, Expect)> {
    let mut e = Expect::default();
    let mut at = 0;
    loop {
        while at < data.len() && data[at] == 0 {
            at += 1;
        }
        if at >= data.len() {
            return Some((true, e));
        }
        let rest = &data[at..];
        if !(rest.starts_with(b"070701") || rest.starts_with(b"070702")) {
            return match decompress::detect(rest) {
                Some(_) => None,
                None => Some((false, e)),
            };
        }
        match ref_archive(data, at, &mut e) {
            Some(next) => at = next,
            None => return Some((false, e)),
        }
    }
}

/// One archive from `start`; the offset after its trailer, or `None` on a malformed entry.
fn ref_archive(data: &[u8], start: usize, e: &mut Expect) -> Option<usize> {
    e.archives += 1;
    let mut links: HashMap<(u32, u32, u32), PathBuf> = HashMap::new();
    let align = |n: usize| start + (n - start).div_ceil(4) * 4;
    let mut at = start;
    loop {
        let h = data.get(at..at.checked_add(110)?)?;
        if &h[..6] != b"070702" && &h[..6] != b"070701" {
            return None;
        }
        let mut f = [0u32; 13];
        for (i, v) in f.iter_mut().enumerate() {
            // The unpacker, like the kernel, has no use for mtime and does not parse it.
            if i == 5 {
                continue;
            }
            let s = std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).ok()?;
            *v = u32::from_str_radix(s, 16).ok()?;
        }
        let [ino, mode, _uid, _gid, nlink, _mtime, size, devmaj, devmin, rmaj, rmin, namesize, _check] =
            f;
        let namesize = namesize as usize;
        if namesize == 0 {
            return None;
        }
        let name = data.get(at + 110..at + 110 + namesize)?;
        if name[namesize - 1] != 0 {
            return None;
        }
        let name = &name[..namesize - 1];
        let data_at = align(at + 110 + namesize);
        let body = data.get(data_at..data_at.checked_add(size as usize)?)?;
        let next = align(data_at + size as usize).min(data.len());
        if name == b"TRAILER!!!" {
            return Some(next);
        }
        e.entries += 1;
        at = next;
        let parts: Vec<&[u8]> =
            name.split(|&c| c == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
        if parts.iter().any(|c| *c == b"..") {
            e.refused += 1;
            continue;
        }
        if parts.is_empty() {
            continue;
        }
        let path: PathBuf = parts
            .iter()
            .map(|c| {
                use std::os::unix::ffi::OsStrExt;
                std::ffi::OsStr::from_bytes(c)
            })
            .collect();
        match mode & S_IFMT {
            S_IFDIR => e.ops.push(Op::Mkdir(path)),
            S_IFREG => {
                let key = (devmaj, devmin, ino);
                match links.get(&key).filter(|_| nlink > 1) {
                    Some(first) => {
                        e.ops.push(Op::Link(first.clone(), path.clone()));
                        if !body.is_empty() {
                            e.ops.push(Op::Write(path, fnv(body)));
                        }
                    }
                    None => {
                        if nlink > 1 {
                            links.insert(key, path.clone());
                        }
                        e.ops.push(Op::Write(path, fnv(body)));
                    }
                }
            }
            S_IFLNK => e.ops.push(Op::Symlink(path, body.to_vec())),
            S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK => e.ops.push(Op::Mknod(path, mode, rmaj, rmin)),
            _ => {}
        }
    }
}
