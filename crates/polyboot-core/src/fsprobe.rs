//! Which file system (or LUKS container) a persistence backend file holds, read from the
//! first [`PROBE_BYTES`] of it: type, label, UUID and, for file systems, their size.
//!
//! A bounded look at the superblock only, as `blkid` does for these types; nothing is
//! validated beyond what is needed to tell the types apart and to read the fields sanely
//! (a hostile header gives a wrong label, never a panic or an overflow).
//!
//! - ext2/3/4: superblock at byte 1024, magic 0xEF53 at 1024 + 56 (little-endian). The
//!   type follows blkid's rule: features ext3 does not know make it ext4, a journal makes it
//!   ext3, otherwise ext2.
//! - XFS: superblock at byte 0, big-endian, magic `XFSB`.
//! - LUKS1 / LUKS2: magic `LUKS\xba\xbe` at byte 0 and a big-endian version; LUKS2 carries a
//!   label, both carry the UUID as text.

use crate::bytes::{self, OutOfBounds};
use alloc::string::String;
use core::fmt;

/// How many bytes from the start of the file [`probe`] looks at.
pub const PROBE_BYTES: usize = 4096;

/// ext2/3/4 superblock offset and field offsets within it.
const EXT_SB: usize = 1024;
const EXT_MAGIC: u16 = 0xEF53;
const EXT_COMPAT_HAS_JOURNAL: u32 = 0x4;
/// Incompatible features ext3 knows: FILETYPE, RECOVER, META_BG.
const EXT3_INCOMPAT_KNOWN: u32 = 0x2 | 0x4 | 0x10;
/// Read-only features ext3 knows: SPARSE_SUPER, LARGE_FILE, BTREE_DIR.
const EXT3_RO_COMPAT_KNOWN: u32 = 0x1 | 0x2 | 0x4;
const EXT_INCOMPAT_64BIT: u32 = 0x80;
/// Incompatible feature of an external journal device (not a file system to mount).
const EXT_INCOMPAT_JOURNAL_DEV: u32 = 0x8;

const XFS_MAGIC: &[u8; 4] = b"XFSB";
/// The magic a LUKS (1 or 2) header starts with; `luks2` reads the rest.
pub const LUKS_MAGIC: &[u8; 6] = b"LUKS\xba\xbe";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Ext2,
    Ext3,
    Ext4,
    Xfs,
    Luks1,
    Luks2,
}

impl FsKind {
    /// The name `blkid` gives it (`TYPE=`).
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Ext2 => "ext2",
            FsKind::Ext3 => "ext3",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Luks1 | FsKind::Luks2 => "crypto_LUKS",
        }
    }

    pub fn is_ext(self) -> bool {
        matches!(self, FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4)
    }

    pub fn is_luks(self) -> bool {
        matches!(self, FsKind::Luks1 | FsKind::Luks2)
    }
}

impl fmt::Display for FsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsKind::Luks1 => f.write_str("LUKS1"),
            FsKind::Luks2 => f.write_str("LUKS2"),
            other => f.write_str(other.name()),
        }
    }
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    pub kind: FsKind,
    /// The volume label (empty when none; invalid UTF-8 shown as U+FFFD).
    pub label: String,
    /// As `blkid` prints it: `8-4-4-4-12` lower-case hex for ext and XFS, the stored text for
    /// LUKS.
    pub uuid: String,
    /// The file system's own size in bytes (blocks × block size); `None` for LUKS, whose
    /// payload size is that of the file less its header.
    pub size: Option<u64>,
}

/// Identify the file system at the start of `head` (the first [`PROBE_BYTES`] of the file,
/// or fewer when the file is shorter). `None`: none of the types above.
pub fn probe(head: &[u8]) -> Option<FsInfo> {
    // LUKS first: its header occupies the area where ext's superblock would be.
    luks(head).or_else(|| xfs(head)).or_else(|| ext(head)).and_then(Result::ok)
}

fn luks(head: &[u8]) -> Option<Result<FsInfo, OutOfBounds>> {
    if bytes::slice(head, 0, 6).ok()? != LUKS_MAGIC {
        return None;
    }
    Some((|| {
        let kind = match bytes::be16(head, 6)? {
            1 => FsKind::Luks1,
            2 => FsKind::Luks2,
            _ => return Err(OutOfBounds),
        };
        // LUKS2: label[48] at 24; both: uuid[40] at 168.
        let label = match kind {
            FsKind::Luks2 => text(bytes::slice(head, 24, 48)?),
            _ => String::new(),
        };
        Ok(FsInfo { kind, label, uuid: text(bytes::slice(head, 168, 40)?), size: None })
    })())
}

fn xfs(head: &[u8]) -> Option<Result<FsInfo, OutOfBounds>> {
    if bytes::slice(head, 0, 4).ok()? != XFS_MAGIC {
        return None;
    }
    Some((|| {
        let block_size = bytes::be32(head, 4)?;
        // 512 bytes to 64 KiB, a power of two.
        if !(512..=65536).contains(&block_size) || !block_size.is_power_of_two() {
            return Err(OutOfBounds);
        }
        let blocks = bytes::be64(head, 8)?;
        Ok(FsInfo {
            kind: FsKind::Xfs,
            label: text(bytes::slice(head, 108, 12)?),
            uuid: uuid_text(&bytes::array::<16>(head, 32)?),
            size: blocks.checked_mul(u64::from(block_size)),
        })
    })())
}

fn ext(head: &[u8]) -> Option<Result<FsInfo, OutOfBounds>> {
    if bytes::le16(head, EXT_SB + 56).ok()? != EXT_MAGIC {
        return None;
    }
    Some((|| {
        let sb = bytes::chunk::<1024>(head, EXT_SB)?;
        let log_block = bytes::le32(sb, 24)?;
        // 1 KiB to 64 KiB blocks.
        if log_block > 6 {
            return Err(OutOfBounds);
        }
        let compat = bytes::le32(sb, 92)?;
        let incompat = bytes::le32(sb, 96)?;
        let ro_compat = bytes::le32(sb, 100)?;
        if incompat & EXT_INCOMPAT_JOURNAL_DEV != 0 {
            return Err(OutOfBounds);
        }
        let kind = if incompat & !EXT3_INCOMPAT_KNOWN != 0 || ro_compat & !EXT3_RO_COMPAT_KNOWN != 0
        {
            FsKind::Ext4
        } else if compat & EXT_COMPAT_HAS_JOURNAL != 0 {
            FsKind::Ext3
        } else {
            FsKind::Ext2
        };
        let mut blocks = u64::from(bytes::le32(sb, 4)?);
        if incompat & EXT_INCOMPAT_64BIT != 0 {
            blocks |= u64::from(bytes::le32(sb, 0x150)?) << 32;
        }
        Ok(FsInfo {
            kind,
            label: text(bytes::slice(sb, 120, 16)?),
            uuid: uuid_text(&bytes::array::<16>(sb, 104)?),
            size: blocks.checked_mul(1024u64 << log_block),
        })
    })())
}

/// A NUL-padded text field, up to the first NUL.
fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn uuid_text(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn ext_head(incompat: u32, ro_compat: u32, compat: u32, label: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; PROBE_BYTES];
        let sb = &mut h[EXT_SB..EXT_SB + 1024];
        sb[4..8].copy_from_slice(&262_144u32.to_le_bytes()); // blocks
        sb[24..28].copy_from_slice(&2u32.to_le_bytes()); // 4 KiB
        sb[56..58].copy_from_slice(&EXT_MAGIC.to_le_bytes());
        sb[92..96].copy_from_slice(&compat.to_le_bytes());
        sb[96..100].copy_from_slice(&incompat.to_le_bytes());
        sb[100..104].copy_from_slice(&ro_compat.to_le_bytes());
        sb[104..120].copy_from_slice(&[
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7,
        ]);
        sb[120..120 + label.len()].copy_from_slice(label);
        h
    }

    #[test]
    fn ext_types_follow_blkid() {
        // extents + 64bit + flex_bg, as mkfs.ext4 makes it.
        let h = ext_head(0x2c2, 0x46b, EXT_COMPAT_HAS_JOURNAL, b"casper-rw");
        let info = probe(&h).unwrap();
        assert_eq!(info.kind, FsKind::Ext4);
        assert_eq!(info.label, "casper-rw");
        assert_eq!(info.uuid, "12345678-9abc-def0-0001-020304050607");
        assert_eq!(info.size, Some(1 << 30));
        assert_eq!(info.kind.name(), "ext4");
        let ext3 = ext_head(0x2, 0x3, EXT_COMPAT_HAS_JOURNAL, b"persistence");
        assert_eq!(probe(&ext3).unwrap().kind, FsKind::Ext3);
        let ext2 = ext_head(0x2, 0x3, 0, b"");
        let info = probe(&ext2).unwrap();
        assert_eq!((info.kind, info.label.as_str()), (FsKind::Ext2, ""));
        // A 16-byte label fills the field without a NUL.
        let full = ext_head(0x2, 0, 0, b"0123456789abcdef");
        assert_eq!(probe(&full).unwrap().label, "0123456789abcdef");
    }

    #[test]
    fn ext_64bit_block_count_uses_the_high_word() {
        let mut h = ext_head(0x2c2, 0, 0, b"big");
        h[EXT_SB + 0x150..EXT_SB + 0x154].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(probe(&h).unwrap().size, Some(((1u64 << 32) + 262_144) * 4096));
        // Without the 64bit feature the high word is not used.
        let mut h = ext_head(0x2, 0, 0, b"small");
        h[EXT_SB + 0x150..EXT_SB + 0x154].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(probe(&h).unwrap().size, Some(262_144 * 4096));
    }

    #[test]
    fn hostile_ext_fields_are_refused_or_bounded() {
        let mut h = ext_head(0x2, 0, 0, b"x");
        h[EXT_SB + 24..EXT_SB + 28].copy_from_slice(&40u32.to_le_bytes());
        assert_eq!(probe(&h), None, "block size 2^50");
        // A block count that overflows the byte size: no size, still identified.
        let mut h = ext_head(0xc2, 0, 0, b"x");
        h[EXT_SB + 24..EXT_SB + 28].copy_from_slice(&6u32.to_le_bytes());
        h[EXT_SB + 4..EXT_SB + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        h[EXT_SB + 0x150..EXT_SB + 0x154].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(probe(&h).unwrap().size, None);
        // An external journal device is not a file system.
        assert_eq!(probe(&ext_head(0x8, 0, 0, b"j")), None);
        // Invalid UTF-8 in the label.
        let h = ext_head(0x2, 0, 0, b"a\xffb");
        assert_eq!(probe(&h).unwrap().label, "a\u{fffd}b");
        // Cut short before the end of the superblock.
        let h = ext_head(0x2, 0, 0, b"short");
        assert_eq!(probe(&h[..EXT_SB + 100]), None);
        assert_eq!(probe(&h[..EXT_SB + 1024]).unwrap().label, "short");
        assert_eq!(probe(&[]), None);
        assert_eq!(probe(&[0u8; PROBE_BYTES]), None);
    }

    #[test]
    fn xfs_superblock() {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(XFS_MAGIC);
        h[4..8].copy_from_slice(&4096u32.to_be_bytes());
        h[8..16].copy_from_slice(&131_072u64.to_be_bytes());
        h[32..48].copy_from_slice(&[0xab; 16]);
        h[108..117].copy_from_slice(b"vtoycow\0\0");
        let info = probe(&h).unwrap();
        assert_eq!(info.kind, FsKind::Xfs);
        assert_eq!(info.label, "vtoycow");
        assert_eq!(info.uuid, "abababab-abab-abab-abab-abababababab");
        assert_eq!(info.size, Some(512 << 20));
        h[4..8].copy_from_slice(&3000u32.to_be_bytes());
        assert_eq!(probe(&h), None, "block size not a power of two");
        h[4..8].copy_from_slice(&4096u32.to_be_bytes());
        h[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(probe(&h).unwrap().size, None);
        assert_eq!(probe(&h[..100]), None);
    }

    #[test]
    fn luks_headers() {
        let mut h = vec![0u8; PROBE_BYTES];
        h[..6].copy_from_slice(LUKS_MAGIC);
        h[6..8].copy_from_slice(&2u16.to_be_bytes());
        h[24..33].copy_from_slice(b"casper-rw");
        let uuid = b"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        h[168..168 + uuid.len()].copy_from_slice(uuid);
        let info = probe(&h).unwrap();
        assert_eq!(info.kind, FsKind::Luks2);
        assert!(info.kind.is_luks() && !info.kind.is_ext());
        assert_eq!(info.label, "casper-rw");
        assert_eq!(info.uuid, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(info.size, None);
        assert_eq!(info.kind.name(), "crypto_LUKS");
        h[6..8].copy_from_slice(&1u16.to_be_bytes());
        let info = probe(&h).unwrap();
        assert_eq!((info.kind, info.label.as_str()), (FsKind::Luks1, ""));
        h[6..8].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(probe(&h), None, "unknown LUKS version");
        assert_eq!(probe(&h[..100]), None, "cut before the UUID");
    }
}
