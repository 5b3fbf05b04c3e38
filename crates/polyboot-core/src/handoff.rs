//! The hand-off record: what the boot manager tells `polyboot-hook` (running as `/init` inside
//! the booted Linux) about the drive and the image it booted.
//!
//! The record travels inside the wrapped initrd as the file [`HANDOFF_PATH`]; the original
//! initrds travel beside it in [`ORIGINAL_INITRDS_DIR`] (see `initrd_wrap`). All integers
//! little-endian.
//!
//! | offset | size | field                                                            |
//! |--------|------|------------------------------------------------------------------|
//! | 0      | 9    | magic `PBHANDOFF`                                                |
//! | 9      | 1    | version (1)                                                      |
//! | 10     | 2    | header length (72 in version 1)                                  |
//! | 12     | 4    | total record length in bytes                                     |
//! | 16     | 4    | CRC-32 of the whole record with this field zero                  |
//! | 20     | 1    | identity kind: 1 = GPT disk GUID, 2 = MBR disk signature          |
//! | 21     | 1    | image kind: 1 = ISO, 2 = IMG (raw disk image)                     |
//! | 22     | 2    | reserved, 0                                                      |
//! | 24     | 16   | GPT disk GUID (on-disk bytes), or MBR signature in bytes 0..4     |
//! | 40     | 8    | disk size in bytes                                               |
//! | 48     | 4    | logical sector size in bytes (512 or 4096)                       |
//! | 52     | 4    | number of image extents                                          |
//! | 56     | 8    | byte offset of the data partition on the disk                     |
//! | 64     | 8    | image size in bytes                                              |
//! | 72     | 24·n | extents: file offset, disk byte offset, length (each u64)         |
//!
//! Extent disk offsets are absolute bytes from the start of the *disk* (the partition offset
//! already added), so the hook can build a device-mapper table without more arithmetic.
//! Extents are listed in file order, contiguous from file offset 0 (the last one may run on
//! to the end of its cluster). They may cover less than the image size: an exFAT file's bytes
//! past its valid data length are not stored and read as zeros. Offsets are multiples of 512
//! so they map onto device-mapper sectors.
//!
//! A later version may append persistence extents after the image extents; the header length
//! and total length fields let it do so without changing what version 1 readers see.

use crate::bytes::{self, Fields};
use crate::crc32::crc32;
use crate::drive_location::DriveLocation;
use crate::exfat::Extent;
use crate::guid::Guid;
use alloc::vec::Vec;
use core::fmt;

/// Path of the record inside the wrapped initrd (relative to `/`).
pub const HANDOFF_PATH: &str = "polyboot/handoff.bin";
/// Directory of the original initrds, each stored as one file inside its wrapped initrd and
/// named by its position in the boot configuration (`0000`, `0001`, ...): a boot entry that
/// loads several initrds (early microcode first) gets each wrapped, and the hook unpacks them
/// in name order.
pub const ORIGINAL_INITRDS_DIR: &str = "polyboot/initrds";

pub const MAGIC: [u8; 9] = *b"PBHANDOFF";
pub const VERSION: u8 = 1;
/// Length of the fixed header in version 1.
pub const HEADER_LEN: usize = 72;
pub const EXTENT_LEN: usize = 24;
/// A fragmented multi-GB image on small clusters stays far below this; anything above it is
/// hostile or corrupt, and refusing it bounds the allocation `decode` makes.
pub const MAX_EXTENTS: u32 = 1 << 20;

/// How the hook recognises the drive, besides its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveIdentity {
    /// GPT disk GUID (from the primary header).
    Gpt(Guid),
    /// The 32-bit disk signature at byte 440 of the MBR.
    Mbr(u32),
}

/// What the booted image is, so the hook can name and map it suitably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Iso,
    Img,
}

impl ImageKind {
    fn code(self) -> u8 {
        match self {
            ImageKind::Iso => 1,
            ImageKind::Img => 2,
        }
    }
    fn from_code(c: u8) -> Option<ImageKind> {
        match c {
            1 => Some(ImageKind::Iso),
            2 => Some(ImageKind::Img),
            _ => None,
        }
    }
}

/// One contiguous run of the image file on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskExtent {
    /// Offset within the image file.
    pub file_offset: u64,
    /// Absolute byte offset on the disk.
    pub disk_offset: u64,
    pub len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub identity: DriveIdentity,
    pub disk_size: u64,
    pub sector_size: u32,
    pub partition_offset: u64,
    pub image_kind: ImageKind,
    pub image_size: u64,
    pub extents: Vec<DiskExtent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffError {
    /// Fewer bytes than the header or than the record claims.
    Truncated {
        need: u64,
        have: u64,
    },
    BadMagic,
    UnsupportedVersion(u8),
    BadHeaderLength(u16),
    BadTotalLength(u32),
    CrcMismatch {
        stored: u32,
        computed: u32,
    },
    UnknownIdentityKind(u8),
    UnknownImageKind(u8),
    BadSectorSize(u32),
    TooManyExtents(u32),
    NoExtents,
    /// Extent `index` is empty, unaligned, out of order, or reaches past the disk.
    BadExtent {
        index: u32,
        why: &'static str,
    },
    /// The data partition starts past the end of the disk.
    BadPartitionOffset(u64),
    /// The drive has neither a GPT disk GUID nor an MBR signature to be recognised by.
    NoIdentity,
}

impl fmt::Display for HandoffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HandoffError::*;
        match self {
            Truncated { need, have } => {
                write!(f, "hand-off record truncated: need {need} bytes, have {have}")
            }
            BadMagic => f.write_str("not a hand-off record (bad magic)"),
            UnsupportedVersion(v) => write!(
                f,
                "hand-off record version {v} is not supported (this build reads {VERSION})"
            ),
            BadHeaderLength(l) => write!(f, "hand-off header length {l} is invalid"),
            BadTotalLength(l) => write!(f, "hand-off record length {l} is invalid"),
            CrcMismatch { stored, computed } => {
                write!(f, "hand-off record CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            UnknownIdentityKind(k) => write!(f, "unknown drive identity kind {k}"),
            UnknownImageKind(k) => write!(f, "unknown image kind {k}"),
            BadSectorSize(s) => write!(f, "sector size {s} is not 512 or 4096"),
            TooManyExtents(n) => write!(f, "{n} extents is more than the limit of {MAX_EXTENTS}"),
            NoExtents => f.write_str("the image has no extents"),
            BadExtent { index, why } => write!(f, "extent {index}: {why}"),
            BadPartitionOffset(o) => write!(f, "partition offset {o} is past the end of the disk"),
            NoIdentity => f.write_str("the drive has neither a GPT disk GUID nor an MBR signature"),
        }
    }
}

impl core::error::Error for HandoffError {}

impl Handoff {
    /// The record for an image file of `image_size` bytes stored at `extents` (offsets within
    /// the data partition, as the exFAT reader gives them) on the drive at `location`, whose
    /// whole-disk size is `disk_size`: what both boot managers (UEFI and BIOS) hand over.
    pub fn for_image(
        location: &DriveLocation,
        disk_size: u64,
        image_kind: ImageKind,
        image_size: u64,
        extents: &[Extent],
    ) -> Result<Handoff, HandoffError> {
        let identity = match (location.disk_guid, location.mbr_signature) {
            (Some(guid), _) => DriveIdentity::Gpt(guid),
            (None, Some(sig)) => DriveIdentity::Mbr(sig),
            (None, None) => return Err(HandoffError::NoIdentity),
        };
        let part = location.data.offset;
        let h = Handoff {
            identity,
            disk_size,
            sector_size: location.sector_size,
            partition_offset: part,
            image_kind,
            image_size,
            extents: extents
                .iter()
                .map(|e| DiskExtent {
                    file_offset: e.file_offset,
                    disk_offset: part.saturating_add(e.device_offset),
                    len: e.len,
                })
                .collect(),
        };
        h.validate()?;
        Ok(h)
    }

    /// Check the semantic rules (see the module documentation). `decode` runs this; encoders
    /// should run it too before writing a record.
    pub fn validate(&self) -> Result<(), HandoffError> {
        if self.sector_size != 512 && self.sector_size != 4096 {
            return Err(HandoffError::BadSectorSize(self.sector_size));
        }
        if self.partition_offset >= self.disk_size {
            return Err(HandoffError::BadPartitionOffset(self.partition_offset));
        }
        if self.extents.is_empty() {
            return Err(HandoffError::NoExtents);
        }
        if self.extents.len() > MAX_EXTENTS as usize {
            return Err(HandoffError::TooManyExtents(self.extents.len() as u32));
        }
        let mut next = 0u64;
        for (i, e) in self.extents.iter().enumerate() {
            let bad = |why| Err(HandoffError::BadExtent { index: i as u32, why });
            if e.len == 0 {
                return bad("empty");
            }
            if e.file_offset != next {
                return bad("not contiguous with the previous extent");
            }
            if e.disk_offset % 512 != 0 || e.file_offset % 512 != 0 {
                return bad("offset is not a multiple of 512");
            }
            // Device-mapper maps whole sectors: the rounded-up length must still fit.
            let Some(end) =
                e.len.checked_add(511).map(|l| l & !511).and_then(|l| e.disk_offset.checked_add(l))
            else {
                return bad("overflows");
            };
            if end > self.disk_size {
                return bad("reaches past the end of the disk");
            }
            if e.disk_offset < self.partition_offset {
                return bad("starts before the data partition");
            }
            match next.checked_add(e.len) {
                Some(n) => next = n,
                None => return bad("overflows"),
            }
            // Only the last extent may have a length that is not whole sectors.
            if e.len % 512 != 0 && i + 1 != self.extents.len() {
                return bad("length is not a multiple of 512");
            }
        }
        Ok(())
    }

    /// Encode as a version 1 record.
    pub fn encode(&self) -> Vec<u8> {
        let total = HEADER_LEN + EXTENT_LEN * self.extents.len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]); // CRC, filled below
        let (kind, id) = match self.identity {
            DriveIdentity::Gpt(g) => (1u8, g.0),
            DriveIdentity::Mbr(sig) => {
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&sig.to_le_bytes());
                (2u8, id)
            }
        };
        out.push(kind);
        out.push(self.image_kind.code());
        out.extend_from_slice(&[0; 2]);
        out.extend_from_slice(&id);
        out.extend_from_slice(&self.disk_size.to_le_bytes());
        out.extend_from_slice(&self.sector_size.to_le_bytes());
        out.extend_from_slice(&(self.extents.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.partition_offset.to_le_bytes());
        out.extend_from_slice(&self.image_size.to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_LEN);
        for e in &self.extents {
            out.extend_from_slice(&e.file_offset.to_le_bytes());
            out.extend_from_slice(&e.disk_offset.to_le_bytes());
            out.extend_from_slice(&e.len.to_le_bytes());
        }
        let crc = crc32(&out);
        out[16..20].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decode and validate a record. `bytes` may be longer than the record (a file padded to
    /// a sector, say); bytes past the record's total length are ignored.
    pub fn decode(bytes: &[u8]) -> Result<Handoff, HandoffError> {
        let have = bytes.len() as u64;
        let Ok(head) = bytes::chunk::<20>(bytes, 0) else {
            return Err(if bytes.len() >= 9 && bytes[..9] != MAGIC {
                HandoffError::BadMagic
            } else {
                HandoffError::Truncated { need: HEADER_LEN as u64, have }
            });
        };
        if head[..9] != MAGIC {
            return Err(HandoffError::BadMagic);
        }
        if head[9] != VERSION {
            return Err(HandoffError::UnsupportedVersion(head[9]));
        }
        let header_len = head.le16::<10>();
        if (header_len as usize) < HEADER_LEN {
            return Err(HandoffError::BadHeaderLength(header_len));
        }
        let total = head.le32::<12>();
        if (total as u64) < header_len as u64 {
            return Err(HandoffError::BadTotalLength(total));
        }
        if (total as u64) > have {
            return Err(HandoffError::Truncated { need: total as u64, have });
        }
        let rec = &bytes[..total as usize];
        // At least the fixed header: total >= header_len >= HEADER_LEN.
        let fixed =
            bytes::chunk::<HEADER_LEN>(rec, 0).map_err(|_| HandoffError::BadTotalLength(total))?;
        let stored = fixed.le32::<16>();
        let mut copy = Vec::from(rec);
        copy[16..20].fill(0);
        let computed = crc32(&copy);
        if stored != computed {
            return Err(HandoffError::CrcMismatch { stored, computed });
        }
        let identity = match fixed[20] {
            1 => DriveIdentity::Gpt(Guid(fixed.bytes_at::<24, 16>())),
            2 => DriveIdentity::Mbr(fixed.le32::<24>()),
            k => return Err(HandoffError::UnknownIdentityKind(k)),
        };
        let image_kind =
            ImageKind::from_code(fixed[21]).ok_or(HandoffError::UnknownImageKind(fixed[21]))?;
        let count = fixed.le32::<52>();
        if count > MAX_EXTENTS {
            return Err(HandoffError::TooManyExtents(count));
        }
        let ext_start = header_len as usize;
        let ext_end = ext_start as u64 + count as u64 * EXTENT_LEN as u64;
        if ext_end > total as u64 {
            return Err(HandoffError::Truncated { need: ext_end, have: total as u64 });
        }
        let extents = rec[ext_start..ext_end as usize]
            .chunks_exact(EXTENT_LEN)
            .filter_map(|c| <&[u8; EXTENT_LEN]>::try_from(c).ok())
            .map(|c| DiskExtent {
                file_offset: c.le64::<0>(),
                disk_offset: c.le64::<8>(),
                len: c.le64::<16>(),
            })
            .collect();
        let h = Handoff {
            identity,
            disk_size: fixed.le64::<40>(),
            sector_size: fixed.le32::<48>(),
            partition_offset: fixed.le64::<56>(),
            image_kind,
            image_size: fixed.le64::<64>(),
            extents,
        };
        h.validate()?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> Handoff {
        Handoff {
            identity: DriveIdentity::Gpt(Guid(core::array::from_fn(|i| i as u8 * 3 + 1))),
            disk_size: 8 << 30,
            sector_size: 512,
            partition_offset: 1 << 20,
            image_kind: ImageKind::Iso,
            image_size: 3 * 4096 + 100,
            extents: vec![
                DiskExtent { file_offset: 0, disk_offset: (1 << 20) + 65536, len: 8192 },
                DiskExtent { file_offset: 8192, disk_offset: (1 << 20) + 4 * 65536, len: 8192 },
            ],
        }
    }

    #[test]
    fn built_for_an_image_on_a_drive() {
        use crate::drive_location::{DriveLocation, PartitionSpan};
        use crate::layout::Scheme;
        let span = |number, offset, size| PartitionSpan { number, offset, size };
        let mut loc = DriveLocation {
            scheme: Scheme::Gpt,
            sector_size: 512,
            data: span(1, 1 << 20, 100 << 20),
            boot: span(2, 101 << 20, 32 << 20),
            disk_guid: Some(Guid([7; 16])),
            mbr_signature: Some(0x1234_5678),
        };
        let extents = [
            Extent { file_offset: 0, device_offset: 0x1_0000, len: 0x2000 },
            Extent { file_offset: 0x2000, device_offset: 0x8_0000, len: 0x1000 },
        ];
        let h = Handoff::for_image(&loc, 200 << 20, ImageKind::Iso, 0x2800, &extents).unwrap();
        assert_eq!(h.identity, DriveIdentity::Gpt(Guid([7; 16])), "the GPT GUID wins");
        assert_eq!(
            h.extents[1],
            DiskExtent { file_offset: 0x2000, disk_offset: (1 << 20) + 0x8_0000, len: 0x1000 }
        );
        assert_eq!(h.partition_offset, 1 << 20);
        loc.disk_guid = None;
        let h = Handoff::for_image(&loc, 200 << 20, ImageKind::Img, 0x2800, &extents).unwrap();
        assert_eq!(h.identity, DriveIdentity::Mbr(0x1234_5678));
        loc.mbr_signature = None;
        assert_eq!(
            Handoff::for_image(&loc, 200 << 20, ImageKind::Iso, 0x2800, &extents),
            Err(HandoffError::NoIdentity)
        );
        // The record's own rules still apply: here an extent past the disk.
        let loc = DriveLocation { disk_guid: Some(Guid([7; 16])), ..loc };
        assert!(matches!(
            Handoff::for_image(&loc, (1 << 20) + 0x4_0000, ImageKind::Iso, 0x2800, &extents),
            Err(HandoffError::BadExtent { index: 1, .. })
        ));
    }

    #[test]
    fn extents_may_stop_before_the_image_end() {
        // An exFAT file whose valid data length is 8 KiB of a 1 MiB image: the rest is zeros.
        let h = Handoff { image_size: 1 << 20, ..sample() };
        assert_eq!(Handoff::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn round_trips() {
        let h = sample();
        let bytes = h.encode();
        assert_eq!(bytes.len(), HEADER_LEN + 2 * EXTENT_LEN);
        assert_eq!(&bytes[..9], b"PBHANDOFF");
        assert_eq!(Handoff::decode(&bytes).unwrap(), h);
        let mbr = Handoff {
            identity: DriveIdentity::Mbr(0xDEAD_BEEF),
            image_kind: ImageKind::Img,
            sector_size: 4096,
            ..h
        };
        let mut padded = mbr.encode();
        padded.resize(512, 0xAA); // trailing bytes beyond the record are ignored
        assert_eq!(Handoff::decode(&padded).unwrap(), mbr);
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_an_error_not_a_panic() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(Handoff::decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(Handoff::decode(&b).is_err(), "flip byte {i} bit {bit}");
            }
        }
    }

    /// Re-sign a record after tampering, so the semantic checks behind the CRC are reached.
    fn resign(mut b: Vec<u8>) -> Vec<u8> {
        b[16..20].fill(0);
        let c = crc32(&b);
        b[16..20].copy_from_slice(&c.to_le_bytes());
        b
    }

    #[test]
    fn hostile_but_correctly_signed_records_are_refused() {
        let good = sample().encode();
        type Case = (usize, &'static [u8], fn(&HandoffError) -> bool);
        let cases: Vec<Case> = vec![
            (9, &[2], |e| matches!(e, HandoffError::UnsupportedVersion(2))),
            (10, &[10, 0], |e| matches!(e, HandoffError::BadHeaderLength(10))),
            (12, &[0xFF, 0xFF, 0xFF, 0x7F], |e| matches!(e, HandoffError::Truncated { .. })),
            (20, &[9], |e| matches!(e, HandoffError::UnknownIdentityKind(9))),
            (21, &[0], |e| matches!(e, HandoffError::UnknownImageKind(0))),
            (48, &[0, 1, 0, 0], |e| matches!(e, HandoffError::BadSectorSize(256))),
            (52, &[0xFF, 0xFF, 0xFF, 0xFF], |e| matches!(e, HandoffError::TooManyExtents(_))),
            (52, &[3, 0, 0, 0], |e| matches!(e, HandoffError::Truncated { .. })),
            (52, &[0, 0, 0, 0], |e| matches!(e, HandoffError::NoExtents)),
            (56, &[0xFF; 8], |e| matches!(e, HandoffError::BadPartitionOffset(_))),
            // second extent: wrong file offset, unaligned, past the disk, overflowing length
            (72 + 24, &[1, 0x20], |e| matches!(e, HandoffError::BadExtent { index: 1, .. })),
            (72 + 24 + 8, &[7], |e| matches!(e, HandoffError::BadExtent { index: 1, .. })),
            (72 + 24 + 15, &[0x7F], |e| matches!(e, HandoffError::BadExtent { index: 1, .. })),
            (72 + 24 + 16, &[0xFF; 8], |e| matches!(e, HandoffError::BadExtent { index: 1, .. })),
            (72 + 16, &[0, 0, 0, 0, 0, 0, 0, 0], |e| {
                matches!(e, HandoffError::BadExtent { index: 0, .. })
            }),
            (72 + 16, &[1, 2], |e| matches!(e, HandoffError::BadExtent { index: 0, .. })),
        ];
        for (at, patch, want) in cases {
            let mut b = good.clone();
            b[at..at + patch.len()].copy_from_slice(patch);
            let err = Handoff::decode(&resign(b)).unwrap_err();
            assert!(want(&err), "patch at {at}: got {err:?}");
        }
    }

    #[test]
    fn pseudo_random_bytes_never_panic() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let good = sample().encode();
        for round in 0..2000 {
            let mut b = if round % 2 == 0 { good.clone() } else { vec![0; (round % 300) as usize] };
            for byte in b.iter_mut().skip(if round % 2 == 0 { 20 } else { 0 }) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if round % 2 == 1 || x % 16 == 0 {
                    *byte = x as u8;
                }
            }
            if round % 2 == 1 && b.len() >= 9 {
                b[..9].copy_from_slice(&MAGIC);
                if b.len() > 9 {
                    b[9] = VERSION;
                }
            }
            let _ = Handoff::decode(&resign_if_long(b));
        }
    }

    fn resign_if_long(b: Vec<u8>) -> Vec<u8> {
        if b.len() >= 20 {
            resign(b)
        } else {
            b
        }
    }
}
