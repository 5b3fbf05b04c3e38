//! A writer for cpio "newc" archives (magic `070701`), the format of Linux initramfs images.
//!
//! polyboot wraps an ISO's initrd without copying it: the virtual medium serves
//!
//! ```text
//! [our entries: /init, the hand-off record, ...]
//! [a newc header naming one file whose size is the original initrd]
//! [the original initrd's bytes, read from the image]       <- "external" payload
//! [padding to 4 bytes][TRAILER!!! entry]
//! ```
//!
//! so the archive is described as a [`CpioLayout`]: memory parts (headers, small files,
//! padding, trailer) and external parts whose bytes the caller supplies (image extents).
//! [`CpioLayout::regions`] turns it into [`crate::virtual_medium::VirtualRegion`]s.
//!
//! newc entry layout (all numbers 8 ASCII hex digits, upper or lower case accepted by readers;
//! we write lower case like the kernel's `gen_init_cpio`):
//!
//! ```text
//! 0   "070701"
//! 6   ino  14 mode  22 uid  30 gid  38 nlink  46 mtime  54 filesize
//! 62  devmajor  70 devminor  78 rdevmajor  86 rdevminor  94 namesize (with the NUL)  102 check
//! 110 name + NUL, padded with NULs so that the data starts at a multiple of 4
//!     data (filesize bytes; a symlink's data is its target), padded to a multiple of 4
//! ```
//!
//! Offsets are relative to the start of the archive, which must itself be 4-byte aligned in
//! the initramfs stream (the kernel also skips zero bytes between concatenated archives).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::virtual_medium::{RegionSource, VirtualRegion};

/// The newc magic.
pub const MAGIC: &[u8; 6] = b"070701";
/// Bytes of a newc header before the name.
pub const HEADER_LEN: usize = 110;
/// Name of the last entry of every archive.
pub const TRAILER: &str = "TRAILER!!!";
/// Longest entry name accepted (bytes, without the NUL); Linux's PATH_MAX is 4096.
pub const MAX_NAME: usize = 4095;

/// File type bits of `mode` (`S_IFMT` and friends).
pub mod mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFREG: u32 = 0o100000;
    pub const S_IFLNK: u32 = 0o120000;
}

/// Why an entry could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpioError {
    /// Empty name (after removing leading `/`), `.`/`..` components, or the trailer's name.
    BadName(String),
    /// Name longer than [`MAX_NAME`] or containing a NUL byte.
    NameTooLong(usize),
    /// newc sizes are 32-bit: files of 4 GiB and more cannot be stored.
    FileTooLarge(u64),
    /// Permission bits must fit in 0o7777 (the type comes from the entry kind).
    BadMode(u32),
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpioError::BadName(n) => write!(f, "bad cpio entry name {n:?}"),
            CpioError::NameTooLong(n) => {
                write!(f, "cpio entry name of {n} bytes is too long or contains a NUL")
            }
            CpioError::FileTooLarge(n) => {
                write!(
                    f,
                    "file of {n} bytes is too large for a newc cpio archive (4 GiB - 1 at most)"
                )
            }
            CpioError::BadMode(m) => write!(f, "bad permission bits {m:o}"),
        }
    }
}

impl core::error::Error for CpioError {}

/// One part of an archive layout, in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutPart {
    /// Bytes held in memory (headers, names, small files, padding, the trailer).
    Memory(Vec<u8>),
    /// `len` bytes the caller supplies: the payload of the `index`-th external file (in the
    /// order [`CpioWriter::external_file`] was called).
    External { index: usize, len: u64 },
}

impl LayoutPart {
    pub fn len(&self) -> u64 {
        match self {
            LayoutPart::Memory(b) => b.len() as u64,
            LayoutPart::External { len, .. } => *len,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A finished archive: memory parts and external payloads, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpioLayout {
    pub parts: Vec<LayoutPart>,
}

impl CpioLayout {
    /// Total archive length in bytes (a multiple of 4).
    pub fn len(&self) -> u64 {
        self.parts.iter().map(LayoutPart::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Offset within the archive of the `index`-th external payload.
    pub fn external_offset(&self, index: usize) -> Option<u64> {
        let mut at = 0u64;
        for p in &self.parts {
            if let LayoutPart::External { index: i, .. } = p {
                if *i == index {
                    return Some(at);
                }
            }
            at += p.len();
        }
        None
    }
    /// Number of external payloads.
    pub fn external_count(&self) -> usize {
        self.parts.iter().filter(|p| matches!(p, LayoutPart::External { .. })).count()
    }
    /// The whole archive in memory, `payload(index)` giving each external file's bytes
    /// (`None` or a wrong length gives `None`). For tests and small archives.
    pub fn to_bytes<'a, F>(&self, mut payload: F) -> Option<Vec<u8>>
    where
        F: FnMut(usize) -> Option<&'a [u8]>,
    {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                LayoutPart::Memory(b) => out.extend_from_slice(b),
                LayoutPart::External { index, len } => {
                    let data = payload(*index)?;
                    if data.len() as u64 != *len {
                        return None;
                    }
                    out.extend_from_slice(data);
                }
            }
        }
        Some(out)
    }
    /// The archive as virtual-disk regions starting at disk byte `at`: memory parts become
    /// [`RegionSource::Memory`], external payload `i` becomes [`RegionSource::Image`] at
    /// `image_offset(i)` (the original initrd's byte offset in the image). Empty parts are
    /// left out.
    pub fn regions<F>(&self, at: u64, mut image_offset: F) -> Vec<VirtualRegion>
    where
        F: FnMut(usize) -> u64,
    {
        let mut out = Vec::new();
        let mut pos = at;
        for p in &self.parts {
            let len = p.len();
            if len == 0 {
                continue;
            }
            let source = match p {
                LayoutPart::Memory(b) => RegionSource::Memory(b.as_slice().into()),
                LayoutPart::External { index, .. } => {
                    RegionSource::Image { offset: image_offset(*index) }
                }
            };
            out.push(VirtualRegion { at: pos, len, source });
            pos += len;
        }
        out
    }
}

/// Builds a newc archive entry by entry.
///
/// Inode numbers count up from 1 in the order entries are added (every entry is its own
/// inode: no hard links, `nlink` 2 for directories and 1 otherwise); uid, gid and device
/// numbers are 0; all entries share one mtime.
#[derive(Debug, Clone)]
pub struct CpioWriter {
    parts: Vec<LayoutPart>,
    /// Memory bytes not yet pushed to `parts`.
    pending: Vec<u8>,
    /// Bytes of the archive so far (for alignment).
    written: u64,
    next_ino: u32,
    mtime: u32,
    externals: usize,
}

impl Default for CpioWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn pad4(n: u64) -> usize {
    ((4 - (n % 4)) % 4) as usize
}

/// Entry name as stored: leading `/` removed, `.`/`..`/empty components refused.
fn clean_name(path: &str) -> Result<String, CpioError> {
    let name = path.trim_start_matches('/');
    if name.len() > MAX_NAME || name.bytes().any(|b| b == 0) {
        return Err(CpioError::NameTooLong(name.len()));
    }
    let name = name.trim_end_matches('/');
    if name.is_empty()
        || name == TRAILER
        || name.split('/').any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(CpioError::BadName(String::from(path)));
    }
    Ok(String::from(name))
}

impl CpioWriter {
    pub fn new() -> Self {
        CpioWriter {
            parts: Vec::new(),
            pending: Vec::new(),
            written: 0,
            next_ino: 1,
            mtime: 0,
            externals: 0,
        }
    }

    /// All following entries get this modification time (seconds since the epoch).
    pub fn set_mtime(&mut self, mtime: u32) {
        self.mtime = mtime;
    }

    /// Bytes of the archive so far.
    pub fn len(&self) -> u64 {
        self.written
    }
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    fn push_bytes(&mut self, b: &[u8]) {
        self.pending.extend_from_slice(b);
        self.written += b.len() as u64;
    }

    fn push_padding(&mut self) {
        let n = pad4(self.written);
        for _ in 0..n {
            self.push_bytes(&[0]);
        }
    }

    fn header(&mut self, name: &str, mode: u32, nlink: u32, filesize: u32, ino: u32) {
        let namesize = name.len() as u32 + 1;
        let fields = [ino, mode, 0, 0, nlink, self.mtime, filesize, 0, 0, 0, 0, namesize, 0];
        let mut h = Vec::with_capacity(HEADER_LEN + name.len() + 4);
        h.extend_from_slice(MAGIC);
        for v in fields {
            push_hex8(&mut h, v);
        }
        h.extend_from_slice(name.as_bytes());
        h.push(0);
        self.push_bytes(&h);
        self.push_padding();
    }

    fn entry(&mut self, path: &str, kind: u32, perm: u32, data: &[u8]) -> Result<(), CpioError> {
        if perm & !0o7777 != 0 {
            return Err(CpioError::BadMode(perm));
        }
        let name = clean_name(path)?;
        let size =
            u32::try_from(data.len()).map_err(|_| CpioError::FileTooLarge(data.len() as u64))?;
        let nlink = if kind == mode::S_IFDIR { 2 } else { 1 };
        let ino = self.next_ino;
        self.next_ino = self.next_ino.wrapping_add(1);
        self.header(&name, kind | perm, nlink, size, ino);
        self.push_bytes(data);
        self.push_padding();
        Ok(())
    }

    /// A directory (`perm` e.g. 0o755). Parents are not created implicitly: add them first.
    pub fn dir(&mut self, path: &str, perm: u32) -> Result<(), CpioError> {
        self.entry(path, mode::S_IFDIR, perm, &[])
    }

    /// A regular file with its contents.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> Result<(), CpioError> {
        self.entry(path, mode::S_IFREG, perm, data)
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), CpioError> {
        if target.is_empty() || target.bytes().any(|b| b == 0) {
            return Err(CpioError::BadName(String::from(target)));
        }
        self.entry(path, mode::S_IFLNK, 0o777, target.as_bytes())
    }

    /// A regular file of `size` bytes whose contents the caller supplies later: only its
    /// header goes into the archive, followed by a [`LayoutPart::External`]. Returns the
    /// payload's index (for [`CpioLayout::external_offset`] / [`CpioLayout::regions`]).
    pub fn external_file(&mut self, path: &str, perm: u32, size: u64) -> Result<usize, CpioError> {
        if perm & !0o7777 != 0 {
            return Err(CpioError::BadMode(perm));
        }
        let name = clean_name(path)?;
        let size32 = u32::try_from(size).map_err(|_| CpioError::FileTooLarge(size))?;
        let ino = self.next_ino;
        self.next_ino = self.next_ino.wrapping_add(1);
        self.header(&name, mode::S_IFREG | perm, 1, size32, ino);
        let index = self.externals;
        self.externals += 1;
        let mem = core::mem::take(&mut self.pending);
        if !mem.is_empty() {
            self.parts.push(LayoutPart::Memory(mem));
        }
        self.parts.push(LayoutPart::External { index, len: size });
        self.written += size;
        self.push_padding();
        Ok(index)
    }

    /// Append the `TRAILER!!!` entry and return the layout. The archive length is a
    /// multiple of 4; `pad_to` (e.g. 512, like GNU cpio, or 0/1 for none) pads it further
    /// with zeros, which the kernel skips between concatenated archives.
    pub fn finish(mut self, pad_to: u64) -> CpioLayout {
        self.header(TRAILER, 0, 1, 0, 0);
        if pad_to > 1 {
            let rem = self.written % pad_to;
            if rem != 0 {
                let n = (pad_to - rem) as usize;
                self.pending.resize(self.pending.len() + n, 0);
                self.written += n as u64;
            }
        }
        let mem = core::mem::take(&mut self.pending);
        if !mem.is_empty() {
            self.parts.push(LayoutPart::Memory(mem));
        }
        CpioLayout { parts: self.parts }
    }

    /// [`finish`](Self::finish) for archives without external files: the bytes (empty when
    /// the archive has external files; use [`CpioLayout::to_bytes`] for those).
    pub fn finish_bytes(self, pad_to: u64) -> Vec<u8> {
        self.finish(pad_to).to_bytes(|_| None).unwrap_or_default()
    }
}

fn push_hex8(out: &mut Vec<u8>, v: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..8).rev() {
        out.push(HEX[((v >> (shift * 4)) & 0xf) as usize]);
    }
}

/// The wrapper polyboot puts in front of an original initrd: `entries` (already added to
/// `w`, e.g. `/init` and the hand-off record), then `name` as an external file of
/// `initrd_size` bytes, then the trailer. The original initrd's bytes are external payload 0
/// when `w` had no external file before.
pub fn wrap_initrd(
    mut w: CpioWriter,
    name: &str,
    initrd_size: u64,
) -> Result<(CpioLayout, usize), CpioError> {
    let index = w.external_file(name, 0o400, initrd_size)?;
    Ok((w.finish(4), index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn field(h: &[u8], i: usize) -> u32 {
        let s = core::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).unwrap();
        u32::from_str_radix(s, 16).unwrap()
    }

    #[test]
    fn byte_exact_file_entry_and_trailer() {
        let mut w = CpioWriter::new();
        w.set_mtime(0x5f5e100);
        w.file("/init", 0o755, b"hello").unwrap();
        let bytes = w.finish_bytes(0);
        let mut expect = Vec::new();
        for f in [
            "070701", "00000001", "000081ed", "00000000", "00000000", "00000001", "05f5e100",
            "00000005", "00000000", "00000000", "00000000", "00000000", "00000005", "00000000",
        ] {
            expect.extend_from_slice(f.as_bytes());
        }
        assert_eq!(expect.len(), HEADER_LEN);
        expect.extend_from_slice(b"init\0");
        // 110 + 5 = 115 -> data at 116
        expect.push(0);
        expect.extend_from_slice(b"hello\0\0\0");
        for f in [
            "070701", "00000000", "00000000", "00000000", "00000000", "00000001", "05f5e100",
            "00000000", "00000000", "00000000", "00000000", "00000000", "0000000b", "00000000",
        ] {
            expect.extend_from_slice(f.as_bytes());
        }
        expect.extend_from_slice(b"TRAILER!!!\0");
        // 124 + 110 + 11 = 245 -> 248
        expect.extend_from_slice(&[0, 0, 0]);
        assert_eq!(bytes, expect);
        assert_eq!(bytes.len() % 4, 0);
    }

    #[test]
    fn fields_modes_inodes_and_alignment() {
        let mut w = CpioWriter::new();
        w.dir("polyboot", 0o755).unwrap();
        w.symlink("/polyboot/link", "../init").unwrap();
        w.file("polyboot/abc", 0o644, &[1, 2, 3]).unwrap();
        let bytes = w.finish_bytes(512);
        assert_eq!(bytes.len(), 512);
        let mut at = 0;
        let mut seen = vec![];
        loop {
            let h = &bytes[at..];
            assert_eq!(&h[..6], MAGIC);
            let namesize = field(h, 11) as usize;
            let size = field(h, 6) as usize;
            let name = core::str::from_utf8(&h[HEADER_LEN..HEADER_LEN + namesize - 1]).unwrap();
            assert_eq!(h[HEADER_LEN + namesize - 1], 0);
            seen.push((String::from(name), field(h, 0), field(h, 1), field(h, 4), size));
            let data_at = at + HEADER_LEN + namesize;
            let data_at = data_at + pad4(data_at as u64);
            assert_eq!(data_at % 4, 0);
            at = data_at + size;
            at += pad4(at as u64);
            if name == TRAILER {
                break;
            }
        }
        assert_eq!(
            seen,
            [
                (String::from("polyboot"), 1, 0o40755, 2, 0),
                (String::from("polyboot/link"), 2, 0o120777, 1, 7),
                (String::from("polyboot/abc"), 3, 0o100644, 1, 3),
                (String::from(TRAILER), 0, 0, 1, 0),
            ]
        );
        assert!(bytes[at..].iter().all(|&b| b == 0));
    }

    #[test]
    fn external_payload_layout() {
        let mut w = CpioWriter::new();
        w.file("init", 0o755, b"#!/bin/sh\n").unwrap();
        let (layout, index) = wrap_initrd(w, "polyboot/initrd.orig", 7).unwrap();
        assert_eq!(index, 0);
        assert_eq!(layout.external_count(), 1);
        let off = layout.external_offset(0).unwrap();
        assert_eq!(off % 4, 0);
        let payload = *b"ABCDEFG";
        let bytes = layout.to_bytes(|_| Some(&payload[..])).unwrap();
        assert_eq!(&bytes[off as usize..off as usize + 7], b"ABCDEFG");
        assert_eq!(bytes.len() as u64, layout.len());
        assert_eq!(bytes.len() % 4, 0);
        // The header right before the payload names the file with size 7.
        let name = b"polyboot/initrd.orig\0";
        let hdr_at =
            off as usize - HEADER_LEN - name.len() - pad4((HEADER_LEN + name.len()) as u64);
        assert_eq!(&bytes[hdr_at..hdr_at + 6], MAGIC);
        assert_eq!(field(&bytes[hdr_at..], 6), 7);
        assert_eq!(field(&bytes[hdr_at..], 1), 0o100400);
        // The same archive written with the data in memory is byte-identical.
        let mut w = CpioWriter::new();
        w.file("init", 0o755, b"#!/bin/sh\n").unwrap();
        w.file("polyboot/initrd.orig", 0o400, &payload).unwrap();
        assert_eq!(w.finish_bytes(4), bytes);
        // Regions: memory, image, memory.
        let regions = layout.regions(1 << 20, |_| 4096);
        assert_eq!(regions.len(), 3);
        assert_eq!(regions[0].at, 1 << 20);
        assert_eq!(regions[1].at, (1 << 20) + off);
        assert_eq!(regions[1].source, RegionSource::Image { offset: 4096 });
        assert_eq!(regions[1].len, 7);
        assert_eq!(regions[2].at + regions[2].len, (1 << 20) + layout.len());
        // Wrong payload length.
        assert!(layout.to_bytes(|_| Some(&payload[..3])).is_none());
    }

    #[test]
    fn refuses_bad_entries() {
        let mut w = CpioWriter::new();
        assert!(matches!(w.file("", 0o644, b""), Err(CpioError::BadName(_))));
        assert!(matches!(w.file("/", 0o644, b""), Err(CpioError::BadName(_))));
        assert!(matches!(w.file("a/../b", 0o644, b""), Err(CpioError::BadName(_))));
        assert!(matches!(w.file("a//b", 0o644, b""), Err(CpioError::BadName(_))));
        assert!(matches!(w.file(TRAILER, 0o644, b""), Err(CpioError::BadName(_))));
        assert!(matches!(w.file("a\0b", 0o644, b""), Err(CpioError::NameTooLong(_))));
        assert!(matches!(w.file("a", 0o10000, b""), Err(CpioError::BadMode(_))));
        assert!(matches!(w.external_file("big", 0o644, 1 << 32), Err(CpioError::FileTooLarge(_))));
        assert!(w.external_file("ok", 0o644, u32::MAX as u64).is_ok());
        let long = "x".repeat(MAX_NAME + 1);
        assert!(matches!(w.file(&long, 0o644, b""), Err(CpioError::NameTooLong(_))));
        assert!(w.symlink("l", "").is_err());
        // Nothing refused was written: one external entry (the ok one) only.
        let layout = w.finish(0);
        assert_eq!(layout.external_count(), 1);
    }
}
