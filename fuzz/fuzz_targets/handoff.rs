//! The hand-off record (`handoff::Handoff`) the boot manager gives polyboot-hook. Must never
//! panic; beyond that:
//!
//! - `decode` on the input, and on the input with its CRC-32 repaired (so the semantic checks
//!   behind the checksum are reached): an accepted record passes `validate`, re-encodes to a
//!   record that decodes to the same value, and re-encodes to exactly the input's first
//!   `total length` bytes when (and only when) the input is canonical (version 2, header
//!   length 72, reserved bytes and an MBR identity's unused bytes zero, sections known, in
//!   the writer's order (Persistence, AddedParams, Files), no empty AddedParams, reserved
//!   bytes of the sections zero: the format lets a reader ignore everything else). Bytes
//!   after the record never matter.
//!   Errors agree with the bytes (bad magic really is bad, a CRC mismatch names two
//!   different values, the computed one being the real CRC, ...).
//! - A `Handoff` built from the input (fields biased towards valid layouts; a persistence
//!   backend, added parameters and up to 5 files, some of them invalid):
//!   `decode(encode(h))` is exactly `validate(h).map(|_| h)`, and `validate` accepts it
//!   exactly when a reference written from the module documentation (with 128-bit
//!   arithmetic, so no overflow corner is shared with the code) says it is valid.
#![no_main]

#[path = "../common/input_bytes.rs"]
mod input_bytes;
use input_bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use polyboot_core::bytes::{le16, le32};
use polyboot_core::crc32::crc32;
use polyboot_core::guid::Guid;
use polyboot_core::handoff::{
    DiskExtent, DriveIdentity, FileAction, Handoff, HandoffError, HandoffFile, ImageKind,
    PersistenceBackend, EXTENT_LEN, HEADER_LEN, MAGIC, MAX_EXTENTS, MAX_FILES, MAX_FILE_SIZE,
    MAX_TARGET_LEN, SECTION_HEADER_LEN, VERSION, VERSION_1,
};

fuzz_target!(|data: &[u8]| {
    check_decode(data);
    if let Some(fixed) = with_crc_repaired(data) {
        check_decode(&fixed);
    }
    check_built(&build(data));
});

/// The input with the CRC field recomputed over its claimed total length (when it has one
/// that fits the input).
fn with_crc_repaired(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 20 {
        return None;
    }
    let total = le32(data, 12).unwrap() as usize;
    if total < 20 || total > data.len() {
        return None;
    }
    let mut v = data.to_vec();
    v[16..20].fill(0);
    let crc = crc32(&v[..total]);
    v[16..20].copy_from_slice(&crc.to_le_bytes());
    Some(v)
}

fn check_decode(data: &[u8]) {
    let result = Handoff::decode(data);
    match &result {
        Ok(h) => {
            assert!(data.len() >= HEADER_LEN);
            assert_eq!(&data[..9], &MAGIC);
            assert!(data[9] == VERSION || data[9] == VERSION_1);
            assert_eq!(h.validate(), Ok(()));
            if data[9] == VERSION_1 {
                assert!(h.persistence.is_none() && h.files.is_empty() && h.added_params.is_empty());
            }
            let header_len = le16(data, 10).unwrap() as usize;
            let total = le32(data, 12).unwrap() as usize;
            assert!(header_len >= HEADER_LEN && total >= header_len && total <= data.len());
            assert!(header_len + EXTENT_LEN * h.extents.len() <= total);
            assert_eq!(le32(data, 52).unwrap() as usize, h.extents.len());
            // The record alone, and with other bytes after it, decode the same.
            assert_eq!(Handoff::decode(&data[..total]).as_ref(), Ok(h));
            let mut longer = data[..total].to_vec();
            longer.extend_from_slice(&[0xA5; 7]);
            assert_eq!(Handoff::decode(&longer).as_ref(), Ok(h));

            let enc = h.encode();
            assert_eq!(enc.len() as u64, h.encoded_len());
            assert_eq!(Handoff::decode(&enc).as_ref(), Ok(h));
            let unused_id_zero = match h.identity {
                DriveIdentity::Gpt(_) => true,
                DriveIdentity::Mbr(_) => data[28..40].iter().all(|&b| b == 0),
            };
            let ext_end = header_len + EXTENT_LEN * h.extents.len();
            let canonical = data[9] == VERSION
                && header_len == HEADER_LEN
                && total == enc.len()
                && data[22..24] == [0, 0]
                && unused_id_zero
                && sections_canonical(&data[ext_end..total]);
            assert_eq!(
                enc == data[..total],
                canonical,
                "re-encoding vs canonical input (header {header_len}, total {total})"
            );
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            match *e {
                HandoffError::BadMagic => assert!(data.len() >= 9 && data[..9] != MAGIC),
                HandoffError::Truncated { need, have } => {
                    assert!(need > have, "{e:?}");
                    assert!(have <= data.len() as u64, "{e:?}");
                }
                HandoffError::UnsupportedVersion(v) => {
                    assert!(data.len() >= 20 && v == data[9] && v != VERSION && v != VERSION_1)
                }
                HandoffError::BadSection { at, .. } => {
                    let total = le32(data, 12).unwrap();
                    assert!(data[9] == VERSION && at >= HEADER_LEN as u32 && at < total, "{e:?}");
                }
                HandoffError::DuplicateSection(t) => assert!(t == 1 || t == 2),
                HandoffError::TooManyFiles(n) => assert!(n > MAX_FILES),
                HandoffError::BadHeaderLength(l) => {
                    assert!((l as usize) < HEADER_LEN && l == le16(data, 10).unwrap())
                }
                HandoffError::BadTotalLength(t) => {
                    assert!(t == le32(data, 12).unwrap() && t < u32::from(le16(data, 10).unwrap()))
                }
                HandoffError::CrcMismatch { stored, computed } => {
                    assert_ne!(stored, computed);
                    assert_eq!(stored, le32(data, 16).unwrap());
                    let total = le32(data, 12).unwrap() as usize;
                    let mut v = data[..total].to_vec();
                    v[16..20].fill(0);
                    assert_eq!(computed, crc32(&v));
                }
                HandoffError::UnknownIdentityKind(k) => {
                    assert!(k == data[20] && k != 1 && k != 2)
                }
                HandoffError::UnknownImageKind(k) => assert!(k == data[21] && k != 1 && k != 2),
                // The image's count, or a persistence backend's or a file's (version 2).
                HandoffError::TooManyExtents(n) => {
                    assert!(n > MAX_EXTENTS && (n == le32(data, 52).unwrap() || data[9] == VERSION))
                }
                _ => {}
            }
            // Whatever is wrong stays wrong with more bytes after the record's claimed end,
            // unless the record was truncated.
            if !matches!(e, HandoffError::Truncated { .. }) && data.len() >= 20 {
                let mut longer = data.to_vec();
                longer.extend_from_slice(&[0; 5]);
                assert!(Handoff::decode(&longer).is_err());
            }
        }
    }
}

/// Are these sections (all of an accepted record's) what `encode` writes: known types in its
/// order, reserved bytes zero, no empty AddedParams?
fn sections_canonical(mut b: &[u8]) -> bool {
    let mut last = 0u32;
    while !b.is_empty() {
        let kind = le32(b, 0).unwrap();
        let len = le32(b, 4).unwrap() as usize;
        let payload = &b[SECTION_HEADER_LEN..SECTION_HEADER_LEN + len];
        let ok = match kind {
            1 => last < 1 && payload[1..4] == [0, 0, 0],
            2 => last < 2 && len > 0,
            3 => payload[1..4] == [0, 0, 0],
            _ => false,
        };
        if !ok {
            return false;
        }
        last = kind;
        b = &b[SECTION_HEADER_LEN + len..];
    }
    true
}

/// A hand-off value from the input. The first byte picks how "valid" each field tends to be.
fn build(data: &[u8]) -> Handoff {
    let mut b = Bytes(data);
    let mode = b.u8();
    let identity = if b.u8() & 1 == 0 {
        let mut g = [0u8; 16];
        g.iter_mut().for_each(|x| *x = b.u8());
        DriveIdentity::Gpt(Guid(g))
    } else {
        DriveIdentity::Mbr(b.u64(4) as u32)
    };
    let image_kind = if b.u8() & 1 == 0 { ImageKind::Iso } else { ImageKind::Img };
    let sector_size = match b.u8() % 4 {
        0 | 1 => 512,
        2 => 4096,
        _ => b.u64(4) as u32,
    };
    // Sizes in 512-byte units, sometimes arbitrary (mode bit 0).
    let raw = mode & 1 != 0;
    let disk_size = if raw { b.u64(8) } else { b.u64(3) << 9 };
    let partition_offset = if raw { b.u64(8) } else { b.u64(2) << 9 };
    let image_size = b.u64(if raw { 8 } else { 3 });
    let n = usize::from(b.u8() % 9);
    let mut extents = Vec::with_capacity(n);
    let mut file_offset = 0u64;
    for _ in 0..n {
        let e = if mode & 2 != 0 {
            DiskExtent { file_offset: b.u64(8), disk_offset: b.u64(8), len: b.u64(8) }
        } else {
            // Contiguous, aligned except for an occasional odd length.
            let len = match b.u8() % 4 {
                0 => b.u64(2),
                _ => b.u64(1) << 9,
            };
            let disk_offset = partition_offset.wrapping_add(b.u64(2) << 9);
            DiskExtent { file_offset, disk_offset, len }
        };
        file_offset = file_offset.wrapping_add(e.len);
        extents.push(e);
    }
    let persistence = (b.u8() % 3 == 0).then(|| {
        let encrypted = b.u8() & 1 != 0;
        let extents = build_extents(&mut b, mode & 4 != 0, partition_offset);
        let covered = extents.last().map_or(0, |e| e.file_offset.wrapping_add(e.len));
        let size = match b.u8() % 4 {
            0 => b.u64(8),
            1 => covered.wrapping_sub(b.u64(1)),
            _ => covered & !511,
        };
        PersistenceBackend { encrypted, size, extents, path: text(&mut b) }
    });
    let added_params = if b.u8() % 2 == 0 { String::new() } else { text(&mut b) };
    let n = usize::from(b.u8() % 6);
    let files = (0..n)
        .map(|_| {
            let action = match b.u8() % 3 {
                0 => FileAction::Copy,
                1 => FileAction::Template,
                _ => FileAction::Inject,
            };
            let target = match b.u8() % 8 {
                0 => text(&mut b),
                1 => String::from("/a/../b"),
                2 => String::from("/"),
                3 => String::new(),
                4 => String::from("/etc//x"),
                _ if action == FileAction::Inject => String::new(),
                _ => String::from("/preseed.cfg"),
            };
            let extents = build_extents(&mut b, mode & 8 != 0, partition_offset);
            let size = if b.u8() % 4 == 0 { b.u64(8) } else { b.u64(3) };
            HandoffFile { action, size, extents, target, source: text(&mut b) }
        })
        .collect();
    Handoff {
        identity,
        disk_size,
        sector_size,
        partition_offset,
        image_kind,
        image_size,
        extents,
        persistence,
        added_params,
        files,
    }
}

/// Up to 8 extents: arbitrary (`raw`), or contiguous and mostly aligned past `base`.
fn build_extents(b: &mut Bytes, raw: bool, base: u64) -> Vec<DiskExtent> {
    let n = usize::from(b.u8() % 9);
    let mut out = Vec::with_capacity(n);
    let mut file_offset = 0u64;
    for _ in 0..n {
        let e = if raw {
            DiskExtent { file_offset: b.u64(8), disk_offset: b.u64(8), len: b.u64(8) }
        } else {
            let len = match b.u8() % 4 {
                0 => b.u64(2),
                _ => b.u64(1) << 9,
            };
            DiskExtent { file_offset, disk_offset: base.wrapping_add(b.u64(3) << 9), len }
        };
        file_offset = file_offset.wrapping_add(e.len);
        out.push(e);
    }
    out
}

/// A short string from the input (any UTF-8: lossy conversion of up to 40 bytes).
fn text(b: &mut Bytes) -> String {
    let n = usize::from(b.u8() % 41);
    String::from_utf8_lossy(&b.take(n)).into_owned()
}

/// Validity by the module documentation, in 128-bit arithmetic.
fn reference_valid(h: &Handoff) -> bool {
    if h.sector_size != 512 && h.sector_size != 4096 {
        return false;
    }
    if h.partition_offset >= h.disk_size || h.extents.is_empty() {
        return false;
    }
    if reference_covered(h, &h.extents).is_none() {
        return false;
    }
    if let Some(p) = &h.persistence {
        let Some(covered) = reference_covered(h, &p.extents) else { return false };
        if p.extents.is_empty() || p.size < 512 || covered < u128::from(p.size) {
            return false;
        }
        if p.path.len() > 65535 {
            return false;
        }
        // No sector of the backend is also the image's or another of its own.
        let sectors = |e: &DiskExtent| {
            let s = u128::from(e.disk_offset);
            (s, s + u128::from(e.len).div_ceil(512) * 512)
        };
        let image: Vec<_> = h.extents.iter().map(sectors).collect();
        let own: Vec<_> = p.extents.iter().map(sectors).collect();
        for (i, a) in own.iter().enumerate() {
            let others = own.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, r)| r);
            if others.chain(image.iter()).any(|b| a.0 < b.1 && b.0 < a.1) {
                return false;
            }
        }
    }
    if h.added_params.len() > 65535 || h.files.len() > MAX_FILES {
        return false;
    }
    for f in &h.files {
        let target_ok = match f.action {
            FileAction::Inject => f.target.is_empty(),
            _ => reference_target_ok(&f.target),
        };
        if !target_ok || f.source.len() > 65535 || f.size > MAX_FILE_SIZE {
            return false;
        }
        if reference_covered(h, &f.extents).is_none() {
            return false;
        }
    }
    true
}

fn reference_target_ok(t: &str) -> bool {
    t.len() > 1
        && t.len() <= MAX_TARGET_LEN
        && t.starts_with('/')
        && !t.contains('\0')
        && t[1..].split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The bytes a valid extent list covers, or None when it breaks a rule.
fn reference_covered(h: &Handoff, extents: &[DiskExtent]) -> Option<u128> {
    if extents.len() > MAX_EXTENTS as usize {
        return None;
    }
    let disk = u128::from(h.disk_size);
    let mut next = 0u128;
    for (i, e) in extents.iter().enumerate() {
        let (fo, d, len) =
            (u128::from(e.file_offset), u128::from(e.disk_offset), u128::from(e.len));
        let last = i + 1 == extents.len();
        let ok = len > 0
            && fo == next
            && d % 512 == 0
            && fo % 512 == 0
            && d + len.div_ceil(512) * 512 <= disk
            // The rounded-up length and the end must be representable in u64.
            && len.div_ceil(512) * 512 <= u128::from(u64::MAX)
            && d >= u128::from(h.partition_offset)
            && (last || len % 512 == 0);
        if !ok {
            return None;
        }
        next = fo + len;
        if next > u128::from(u64::MAX) {
            return None;
        }
    }
    Some(next)
}

fn check_built(h: &Handoff) {
    let v = h.validate();
    if let Err(e) = &v {
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(v.is_ok(), reference_valid(h), "validate {v:?} for {h:?}");
    let enc = h.encode();
    assert_eq!(enc.len() as u64, h.encoded_len());
    assert_eq!(&enc[..9], &MAGIC);
    assert_eq!(Handoff::decode(&enc), v.map(|_| h.clone()));
}
