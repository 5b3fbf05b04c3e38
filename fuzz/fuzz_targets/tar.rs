//! The tar reader (`tar::parse`) behind injection archives. Must never panic; beyond that:
//!
//! - On the input as an archive (small limits, so they are reached): an accepted archive's
//!   entries have safe paths (relative, no empty, `.` or `..` components), names and link
//!   targets within the name limit, file bytes that are a part of the input and add up to no
//!   more than the size limit, no more entries than the limit, hard links to the path of an
//!   earlier file or hard link, and no path under an entry that was a symbolic link at that
//!   point (tracked here independently).
//! - An archive written here from a description in the input (files, directories, symbolic
//!   links and hard links; names short, long enough for GNU `L` records, pax `path` records or
//!   the ustar prefix; numbers in octal or base-256) reads back as exactly those entries.
#![no_main]

#[path = "../common/input_bytes.rs"]
mod input_bytes;
use input_bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use polyboot_core::tar::{parse, Entry, EntryKind, Limits};
use std::collections::BTreeSet;

fuzz_target!(|data: &[u8]| {
    check_parse(data);
    round_trip(data);
});

fn check_parse(data: &[u8]) {
    let limits = Limits { max_entries: 64, max_name_len: 300, max_total_size: 20_000 };
    let Ok(a) = parse(data, &limits) else { return };
    assert!(a.entries.len() <= limits.max_entries);
    let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    let mut total = 0usize;
    let mut files = BTreeSet::new();
    let mut links = BTreeSet::new();
    for e in &a.entries {
        assert!(!e.path.is_empty() && e.path.len() <= limits.max_name_len, "{e:?}");
        assert!(e.path.split('/').all(|c| !c.is_empty() && c != "." && c != ".."), "{e:?}");
        assert!(e.mode <= 0o7777);
        let mut prefix = String::new();
        for c in e.path.split('/').take(e.path.split('/').count() - 1) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            assert!(!links.contains(&prefix), "{} goes through the symlink {prefix}", e.path);
        }
        match &e.kind {
            EntryKind::File(b) => {
                let p = b.as_ptr() as usize;
                assert!(b.is_empty() || (range.contains(&p) && p + b.len() <= range.end));
                total += b.len();
                files.insert(e.path.clone());
                links.remove(&e.path);
            }
            EntryKind::HardLink(t) => {
                assert!(files.contains(t), "hard link {} to {t}", e.path);
                files.insert(e.path.clone());
                links.remove(&e.path);
            }
            EntryKind::Symlink(t) => {
                assert!(t.len() <= limits.max_name_len);
                files.remove(&e.path);
                links.insert(e.path.clone());
            }
            EntryKind::Dir => {
                files.remove(&e.path);
                links.remove(&e.path);
            }
        }
    }
    assert!(total as u64 <= limits.max_total_size);
}

// ---- writing archives ----

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Gnu,
    Pax,
    Ustar,
}

fn octal(field: &mut [u8], v: u64, base256: bool) {
    let n = field.len();
    if base256 {
        // 0x80, then the value big-endian in the other n - 1 bytes (values here fit in 7).
        field.fill(0);
        let be = v.to_be_bytes();
        let k = (n - 1).min(8);
        field[n - k..].copy_from_slice(&be[8 - k..]);
        field[0] = 0x80;
    } else {
        let s = format!("{v:0w$o}\0", w = n - 1);
        field.copy_from_slice(s.as_bytes());
    }
}

struct Header {
    name: Vec<u8>,
    prefix: Vec<u8>,
    link: Vec<u8>,
    typeflag: u8,
    size: u64,
    mode: u64,
    uid: u64,
    base256: bool,
}

fn header(h: &Header, format: Format) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..h.name.len()].copy_from_slice(&h.name);
    octal(&mut b[100..108], h.mode, false);
    octal(&mut b[108..116], h.uid, h.base256);
    octal(&mut b[116..124], 0, false);
    octal(&mut b[124..136], h.size, h.base256);
    octal(&mut b[136..148], 0, false);
    b[156] = h.typeflag;
    b[157..157 + h.link.len()].copy_from_slice(&h.link);
    if format == Format::Gnu {
        b[257..265].copy_from_slice(b"ustar  \0");
    } else {
        b[257..265].copy_from_slice(b"ustar\x0000");
        b[345..345 + h.prefix.len()].copy_from_slice(&h.prefix);
    }
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    b
}

fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(512), 0);
}

fn pax_record(key: &str, value: &str) -> String {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while format!("{len}").len() + body != len {
        len += 1;
    }
    format!("{len} {key}={value}\n")
}

/// Write one member (with its long-name or pax header when needed); false when the format
/// cannot hold the name (ustar with no split that fits).
fn member(
    out: &mut Vec<u8>,
    format: Format,
    path: &str,
    link: &str,
    typeflag: u8,
    data: &[u8],
    mode: u64,
    uid: u64,
) -> bool {
    let base256 = format == Format::Gnu && uid > 0o7777777;
    let uid_field = if format == Format::Pax && uid > 0o7777777 { 0 } else { uid };
    let mut h = Header {
        name: path.as_bytes().to_vec(),
        prefix: Vec::new(),
        link: link.as_bytes().to_vec(),
        typeflag,
        size: data.len() as u64,
        mode,
        uid: uid_field,
        base256,
    };
    let too_long = path.len() > 100 || link.len() > 100;
    match format {
        Format::Gnu => {
            for (flag, long) in [(b'L', path), (b'K', link)] {
                if long.len() > 100 {
                    let mut body = long.as_bytes().to_vec();
                    body.push(0);
                    let lh = Header {
                        name: b"././@LongLink".to_vec(),
                        prefix: Vec::new(),
                        link: Vec::new(),
                        typeflag: flag,
                        size: body.len() as u64,
                        mode: 0o644,
                        uid: 0,
                        base256: false,
                    };
                    out.extend_from_slice(&header(&lh, format));
                    out.extend_from_slice(&body);
                    pad(out);
                }
            }
            h.name.truncate(100);
            h.link.truncate(100);
        }
        Format::Pax => {
            let mut x = String::new();
            if path.len() > 100 {
                x.push_str(&pax_record("path", path));
                h.name.truncate(100);
            }
            if link.len() > 100 {
                x.push_str(&pax_record("linkpath", link));
                h.link.truncate(100);
            }
            if uid > 0o7777777 {
                x.push_str(&pax_record("uid", &uid.to_string()));
            }
            if !x.is_empty() {
                let xh = Header {
                    name: b"PaxHeaders/x".to_vec(),
                    prefix: Vec::new(),
                    link: Vec::new(),
                    typeflag: b'x',
                    size: x.len() as u64,
                    mode: 0o644,
                    uid: 0,
                    base256: false,
                };
                out.extend_from_slice(&header(&xh, format));
                out.extend_from_slice(x.as_bytes());
                pad(out);
            }
        }
        Format::Ustar => {
            if link.len() > 100 || uid > 0o7777777 {
                return false;
            }
            if too_long {
                // Split at a '/' so that the prefix holds <= 155 and the name <= 100 bytes.
                let split = path
                    .char_indices()
                    .filter(|&(i, c)| c == '/' && i <= 155 && path.len() - i - 1 <= 100)
                    .map(|(i, _)| i)
                    .next();
                let Some(i) = split else { return false };
                if i == 0 {
                    return false;
                }
                h.prefix = path[..i].as_bytes().to_vec();
                h.name = path[i + 1..].as_bytes().to_vec();
            }
        }
    }
    out.extend_from_slice(&header(&h, format));
    out.extend_from_slice(data);
    pad(out);
    true
}

/// A path component from the input: short, or long enough to need the long-name forms.
fn component(b: &mut Bytes) -> String {
    let base = ["a", "dir", "ü", "x y", "..a", "a.."][usize::from(b.u8() % 6)];
    match b.u8() % 5 {
        0 => base.repeat(40),
        1 => format!("{base}{}", b.u8()),
        _ => base.to_string(),
    }
}

/// What an entry written here must read back as.
#[derive(Debug)]
enum Want {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    HardLink(String),
}

fn round_trip(data: &[u8]) {
    let mut b = Bytes(data);
    let format = [Format::Gnu, Format::Pax, Format::Ustar][usize::from(b.u8() % 3)];
    let n = usize::from(b.u8() % 12);
    let mut out = Vec::new();
    let mut want: Vec<(String, Want, u32, u64)> = Vec::new();
    let mut files: Vec<String> = Vec::new();
    let mut links = 0;
    for _ in 0..n {
        let depth = 1 + usize::from(b.u8() % 4);
        let path: Vec<String> = (0..depth).map(|_| component(&mut b)).collect();
        let path = path.join("/");
        let mode = u64::from(b.u8()) << 3 | 0o400;
        let uid = if b.u8() % 8 == 0 { b.u64(4) + 0o10000000 } else { u64::from(b.u8()) };
        let (name, link, typeflag, body, w) = match b.u8() % 4 {
            0 => {
                let len = usize::from(b.u8()) * 3;
                let body = b.take(len);
                (path, String::new(), b'0', body.clone(), Want::File(body))
            }
            // GNU tar writes directories with a trailing slash.
            1 => (format!("{path}/"), String::new(), b'5', vec![], Want::Dir),
            2 => {
                // Symbolic links get their own top-level names (no component above is one),
                // so nothing is written through them.
                let name = format!("link{links}");
                links += 1;
                let target = if b.u8() % 2 == 0 { path } else { format!("/{path}") };
                (name, target.clone(), b'2', vec![], Want::Symlink(target))
            }
            _ => {
                let Some(t) = files.get(usize::from(b.u8()) % files.len().max(1)).cloned() else {
                    continue;
                };
                (path, t.clone(), b'1', vec![], Want::HardLink(t))
            }
        };
        if !member(&mut out, format, &name, &link, typeflag, &body, mode, uid) {
            continue;
        }
        let name = name.trim_end_matches('/').to_string();
        if matches!(w, Want::File(_) | Want::HardLink(_)) {
            files.push(name.clone());
        }
        want.push((name, w, mode as u32, uid));
    }
    out.extend_from_slice(&[0; 1024]);
    let a = parse(&out, &Limits::default());
    // A path written twice (a file replaced by a directory, say) changes what later hard
    // links may point at: compare only descriptions without repeats.
    let mut seen = BTreeSet::new();
    if !want.iter().all(|w| seen.insert(w.0.as_str())) {
        return;
    }
    let a = a.unwrap_or_else(|e| panic!("{e}"));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert_eq!(a.entries.len(), want.len());
    for (got, (path, kind, mode, uid)) in a.entries.iter().zip(&want) {
        let Entry { path: gp, kind: gk, mode: gm, uid: gu, .. } = got;
        assert_eq!((gp, gm, gu), (path, mode, uid));
        match (gk, kind) {
            (EntryKind::File(d), Want::File(w)) => assert_eq!(d, w),
            (EntryKind::Dir, Want::Dir) => {}
            (EntryKind::Symlink(g), Want::Symlink(w)) => assert_eq!(g, w),
            (EntryKind::HardLink(g), Want::HardLink(w)) => assert_eq!(g, w),
            (g, w) => panic!("{path}: read {g:?}, wrote {w:?}"),
        }
    }
}
