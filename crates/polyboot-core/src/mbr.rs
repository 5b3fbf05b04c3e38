//! The Master Boot Record: boot code, disk signature and four primary partition entries.
//!
//! Byte layout of the 512-byte record (the same at every logical sector size; on 4096-byte
//! sectors the rest of LBA 0 is unused):
//!
//! | offset | size | field                                   |
//! |--------|------|-----------------------------------------|
//! | 0      | 440  | boot code                               |
//! | 440    | 4    | disk signature (little-endian)          |
//! | 444    | 2    | reserved (0x5A5A marks copy-protected)  |
//! | 446    | 64   | four 16-byte partition entries          |
//! | 510    | 2    | 0x55 0xAA                               |

use core::fmt;

use crate::bytes::{self, Fields};

/// Size of the record.
pub const MBR_SIZE: usize = 512;
/// Bytes 0..440 belong to the boot code.
pub const BOOT_CODE_LEN: usize = 440;
pub const DISK_SIGNATURE_OFFSET: usize = 440;
pub const PARTITION_TABLE_OFFSET: usize = 446;
pub const PARTITION_ENTRY_SIZE: usize = 16;
pub const BOOT_SIGNATURE_OFFSET: usize = 510;
pub const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];

/// Partition type bytes used by polyboot.
pub mod types {
    /// NTFS / exFAT / IFS.
    pub const EXFAT_NTFS: u8 = 0x07;
    /// EFI System Partition.
    pub const EFI_SYSTEM: u8 = 0xEF;
    /// GPT protective partition.
    pub const GPT_PROTECTIVE: u8 = 0xEE;
}

const STATUS_ACTIVE: u8 = 0x80;
const STATUS_INACTIVE: u8 = 0x00;

/// The classic translation geometry used for CHS fields (what BIOSes and fdisk assume for
/// disks larger than 8 GB): 255 heads, 63 sectors per track.
const CHS_HEADS: u64 = 255;
const CHS_SECTORS_PER_TRACK: u64 = 63;
/// CHS for an address beyond cylinder 1023: cylinder 1023, head 254, sector 63.
const CHS_OVERFLOW: [u8; 3] = [0xFE, 0xFF, 0xFF];

/// One used primary partition entry. CHS fields are derived from the LBAs when encoding and
/// ignored when parsing: every firmware and OS that matters uses the LBA fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrPartition {
    /// Boot indicator 0x80.
    pub active: bool,
    pub partition_type: u8,
    pub first_lba: u32,
    pub sector_count: u32,
}

impl MbrPartition {
    /// One past the last sector, computed without overflow.
    pub fn end_lba(&self) -> u64 {
        self.first_lba as u64 + self.sector_count as u64
    }
}

/// A parsed or to-be-written MBR.
#[derive(Clone, PartialEq, Eq)]
pub struct Mbr {
    pub boot_code: [u8; BOOT_CODE_LEN],
    pub disk_signature: u32,
    /// Bytes 444..446: normally 0.
    pub reserved: u16,
    /// Entry slots 1..=4; `None` is an unused slot (type 0 or zero length).
    pub partitions: [Option<MbrPartition>; 4],
}

impl fmt::Debug for Mbr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mbr")
            .field("boot_code_is_zero", &self.boot_code.iter().all(|&b| b == 0))
            .field("disk_signature", &format_args!("{:08X}", self.disk_signature))
            .field("reserved", &self.reserved)
            .field("partitions", &self.partitions)
            .finish()
    }
}

/// Why a sector is not an acceptable MBR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MbrError {
    /// Fewer than 512 bytes were supplied.
    TooShort { len: usize },
    /// Bytes 510..512 are not 0x55 0xAA.
    MissingBootSignature,
    /// A boot indicator other than 0x00 / 0x80 (usually: this sector is not an MBR at all).
    BadStatus { slot: usize, status: u8 },
    /// A used entry starting at LBA 0, on top of the MBR itself.
    StartsAtLbaZero { slot: usize },
    /// Two used entries share sectors (slots are 1-based).
    Overlap { first: usize, second: usize },
    /// A partition reaching past the end of the disk.
    BeyondDisk { slot: usize, end_lba: u64, disk_sectors: u64 },
}

impl core::error::Error for MbrError {}

impl fmt::Display for MbrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MbrError::TooShort { len } => write!(f, "MBR needs 512 bytes, got {len}"),
            MbrError::MissingBootSignature => f.write_str("no 0x55AA boot signature: not an MBR"),
            MbrError::BadStatus { slot, status } => {
                write!(f, "MBR partition {slot}: invalid boot indicator 0x{status:02X}")
            }
            MbrError::StartsAtLbaZero { slot } => write!(f, "MBR partition {slot} starts at LBA 0"),
            MbrError::Overlap { first, second } => write!(f, "MBR partitions {first} and {second} overlap"),
            MbrError::BeyondDisk { slot, end_lba, disk_sectors } => write!(
                f,
                "MBR partition {slot} ends at sector {end_lba}, beyond the disk ({disk_sectors} sectors)"
            ),
        }
    }
}

impl Mbr {
    /// An MBR with zero boot code and no partitions.
    pub fn empty(disk_signature: u32) -> Mbr {
        Mbr { boot_code: [0; BOOT_CODE_LEN], disk_signature, reserved: 0, partitions: [None; 4] }
    }

    /// The protective MBR of a GPT disk of `disk_sectors` logical sectors: one 0xEE entry from
    /// LBA 1 to the end of the disk, capped at 0xFFFFFFFF sectors. Per the UEFI spec the
    /// entry is not active and the disk signature is zero.
    pub fn protective(disk_sectors: u64) -> Mbr {
        let count = disk_sectors.saturating_sub(1).min(u32::MAX as u64) as u32;
        let mut mbr = Mbr::empty(0);
        mbr.partitions[0] = Some(MbrPartition {
            active: false,
            partition_type: types::GPT_PROTECTIVE,
            first_lba: 1,
            sector_count: count,
        });
        mbr
    }

    /// True when any entry is a GPT protective (0xEE) partition, i.e. the real table is a GPT.
    pub fn has_gpt_protective(&self) -> bool {
        self.partitions.iter().flatten().any(|p| p.partition_type == types::GPT_PROTECTIVE)
    }

    /// The used partitions with their 1-based numbers.
    pub fn used(&self) -> impl Iterator<Item = (usize, &MbrPartition)> {
        self.partitions.iter().enumerate().filter_map(|(i, p)| p.as_ref().map(|p| (i + 1, p)))
    }

    /// Parse the first 512 bytes of `sector` and check the entries are consistent with each
    /// other. Does not know the disk size: see [`Mbr::check_fits`].
    pub fn parse(sector: &[u8]) -> Result<Mbr, MbrError> {
        let rec: &[u8; MBR_SIZE] = sector
            .get(..MBR_SIZE)
            .and_then(|s| s.try_into().ok())
            .ok_or(MbrError::TooShort { len: sector.len() })?;
        if rec[BOOT_SIGNATURE_OFFSET..] != BOOT_SIGNATURE {
            return Err(MbrError::MissingBootSignature);
        }
        let mut mbr = Mbr::empty(rec.le32::<DISK_SIGNATURE_OFFSET>());
        mbr.boot_code.copy_from_slice(&rec[..BOOT_CODE_LEN]);
        mbr.reserved = rec.le16::<444>();
        for (i, slot) in mbr.partitions.iter_mut().enumerate() {
            let at = PARTITION_TABLE_OFFSET + i * PARTITION_ENTRY_SIZE;
            // Inside the record: the four entries end at the boot signature.
            let e = bytes::chunk::<PARTITION_ENTRY_SIZE>(rec, at)
                .map_err(|_| MbrError::TooShort { len: sector.len() })?;
            let status = e[0];
            let partition_type = e[4];
            let first_lba = e.le32::<8>();
            let sector_count = e.le32::<12>();
            // An entry is unused when its type is 0 (DOS, Windows) or its length is 0 (Linux).
            if partition_type == 0 || sector_count == 0 {
                continue;
            }
            let active = match status {
                STATUS_ACTIVE => true,
                STATUS_INACTIVE => false,
                _ => return Err(MbrError::BadStatus { slot: i + 1, status }),
            };
            if first_lba == 0 {
                return Err(MbrError::StartsAtLbaZero { slot: i + 1 });
            }
            *slot = Some(MbrPartition { active, partition_type, first_lba, sector_count });
        }
        let used: alloc::vec::Vec<(usize, MbrPartition)> =
            mbr.used().map(|(n, p)| (n, *p)).collect();
        for (i, (na, a)) in used.iter().enumerate() {
            for (nb, b) in &used[i + 1..] {
                if (a.first_lba as u64) < b.end_lba() && (b.first_lba as u64) < a.end_lba() {
                    return Err(MbrError::Overlap { first: *na, second: *nb });
                }
            }
        }
        Ok(mbr)
    }

    /// Check every partition lies inside a disk of `disk_sectors` sectors. A protective 0xEE
    /// entry may legitimately claim more than the disk (a GPT disk that was shrunk or an image
    /// copied to a smaller medium is still readable), so it is not checked.
    pub fn check_fits(&self, disk_sectors: u64) -> Result<(), MbrError> {
        for (slot, p) in self.used() {
            if p.partition_type != types::GPT_PROTECTIVE && p.end_lba() > disk_sectors {
                return Err(MbrError::BeyondDisk { slot, end_lba: p.end_lba(), disk_sectors });
            }
        }
        Ok(())
    }

    /// The 512-byte record. CHS fields are computed from the LBAs.
    pub fn to_bytes(&self) -> [u8; MBR_SIZE] {
        let mut rec = [0u8; MBR_SIZE];
        rec[..BOOT_CODE_LEN].copy_from_slice(&self.boot_code);
        rec[DISK_SIGNATURE_OFFSET..DISK_SIGNATURE_OFFSET + 4]
            .copy_from_slice(&self.disk_signature.to_le_bytes());
        rec[444..446].copy_from_slice(&self.reserved.to_le_bytes());
        for (i, slot) in self.partitions.iter().enumerate() {
            let Some(p) = slot else { continue };
            let at = PARTITION_TABLE_OFFSET + i * PARTITION_ENTRY_SIZE;
            let e = &mut rec[at..at + PARTITION_ENTRY_SIZE];
            e[0] = if p.active { STATUS_ACTIVE } else { STATUS_INACTIVE };
            e[1..4].copy_from_slice(&chs(p.first_lba as u64));
            e[4] = p.partition_type;
            let last = p.end_lba().saturating_sub(1);
            // The UEFI spec asks for 0xFFFFFF when a protective entry's end is unrepresentable.
            let end_chs = if p.partition_type == types::GPT_PROTECTIVE && chs(last) == CHS_OVERFLOW
            {
                [0xFF; 3]
            } else {
                chs(last)
            };
            e[5..8].copy_from_slice(&end_chs);
            e[8..12].copy_from_slice(&p.first_lba.to_le_bytes());
            e[12..16].copy_from_slice(&p.sector_count.to_le_bytes());
        }
        rec[BOOT_SIGNATURE_OFFSET..].copy_from_slice(&BOOT_SIGNATURE);
        rec
    }
}

/// CHS triple (head, sector | cylinder high bits, cylinder low byte) for `lba` in the
/// 255-head / 63-sector translation, or the 1023/254/63 overflow marker.
pub fn chs(lba: u64) -> [u8; 3] {
    let cylinder = lba / (CHS_HEADS * CHS_SECTORS_PER_TRACK);
    if cylinder > 1023 {
        return CHS_OVERFLOW;
    }
    let head = (lba / CHS_SECTORS_PER_TRACK) % CHS_HEADS;
    let sector = lba % CHS_SECTORS_PER_TRACK + 1;
    [head as u8, (sector as u8) | (((cylinder >> 8) as u8) << 6), cylinder as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Mbr {
        let mut mbr = Mbr::empty(0xDEAD_BEEF);
        for (i, b) in mbr.boot_code.iter_mut().enumerate() {
            *b = i as u8;
        }
        mbr.partitions[0] = Some(MbrPartition {
            active: false,
            partition_type: types::EXFAT_NTFS,
            first_lba: 2048,
            sector_count: 16_384,
        });
        mbr.partitions[1] = Some(MbrPartition {
            active: true,
            partition_type: types::EFI_SYSTEM,
            first_lba: 18_432,
            sector_count: 65_536,
        });
        mbr
    }

    #[test]
    fn round_trip_and_byte_layout() {
        let mbr = sample();
        let bytes = mbr.to_bytes();
        assert_eq!(&bytes[..4], &[0, 1, 2, 3]);
        assert_eq!(&bytes[440..444], &[0xEF, 0xBE, 0xAD, 0xDE]);
        assert_eq!(&bytes[510..], &[0x55, 0xAA]);
        // Entry 1: inactive, CHS of LBA 2048 is cylinder 0, head 32, sector 33.
        assert_eq!(bytes[446], 0x00);
        assert_eq!(&bytes[447..450], &[32, 33, 0]);
        assert_eq!(bytes[450], 0x07);
        assert_eq!(&bytes[454..462], &[0x00, 0x08, 0, 0, 0x00, 0x40, 0, 0]);
        assert_eq!(bytes[462], 0x80);
        assert_eq!(bytes[466], 0xEF);
        assert_eq!(Mbr::parse(&bytes), Ok(mbr));
    }

    #[test]
    fn chs_translation() {
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(62), [0, 63, 0]);
        assert_eq!(chs(63), [1, 1, 0]);
        assert_eq!(chs(16_064), [254, 63, 0]);
        assert_eq!(chs(16_065), [0, 1, 1]);
        // Cylinder 1023 is the last representable one; bits 8-9 go to the sector byte.
        assert_eq!(chs(1023 * 16_065), [0, 1 | 0xC0, 0xFF]);
        assert_eq!(chs(1024 * 16_065), CHS_OVERFLOW);
        assert_eq!(chs(u64::MAX), CHS_OVERFLOW);
    }

    #[test]
    fn protective_mbr_covers_disk_and_caps() {
        // Last sector 262143 = cylinder 16, head 81, sector 1.
        let small = Mbr::protective(262_144).to_bytes();
        assert_eq!(
            &small[446..462],
            &[0, 0, 2, 0, 0xEE, 81, 1, 16, 1, 0, 0, 0, 0xFF, 0xFF, 0x03, 0][..]
        );
        let tiny = Mbr::protective(1000).to_bytes();
        // Last sector 999 = cylinder 0, head 15, sector 55.
        assert_eq!(&tiny[450..454], &[0xEE, 15, 55, 0]);
        let huge = Mbr::protective(3 << 31);
        assert_eq!(huge.partitions[0].unwrap().sector_count, u32::MAX);
        let parsed = Mbr::parse(&huge.to_bytes()).unwrap();
        assert!(parsed.has_gpt_protective());
        assert!(parsed.check_fits(10).is_ok());
        assert_eq!(parsed.to_bytes()[451..454], [0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn hostile_records_are_rejected() {
        assert_eq!(Mbr::parse(&[0u8; 100]), Err(MbrError::TooShort { len: 100 }));
        assert_eq!(Mbr::parse(&[0u8; 512]), Err(MbrError::MissingBootSignature));

        let good = sample().to_bytes();
        let mut bad = good;
        bad[446] = 0x7F;
        assert_eq!(Mbr::parse(&bad), Err(MbrError::BadStatus { slot: 1, status: 0x7F }));

        let mut bad = good;
        bad[454..458].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(Mbr::parse(&bad), Err(MbrError::StartsAtLbaZero { slot: 1 }));

        let mut bad = good;
        bad[458..462].copy_from_slice(&20_000u32.to_le_bytes());
        assert_eq!(Mbr::parse(&bad), Err(MbrError::Overlap { first: 1, second: 2 }));

        // Maximal values must not overflow.
        let mut bad = good;
        bad[454..462].copy_from_slice(&[0xFF; 8]);
        bad[470..478].copy_from_slice(&[0xFF; 8]);
        assert_eq!(Mbr::parse(&bad), Err(MbrError::Overlap { first: 1, second: 2 }));

        let mbr = Mbr::parse(&good).unwrap();
        assert_eq!(mbr.check_fits(83_968), Ok(()));
        assert_eq!(
            mbr.check_fits(83_967),
            Err(MbrError::BeyondDisk { slot: 2, end_lba: 83_968, disk_sectors: 83_967 })
        );
    }

    #[test]
    fn unused_entries_are_skipped() {
        let mut bytes = sample().to_bytes();
        bytes[450] = 0; // entry 1 type 0
        bytes[462] = 0x42; // garbage status on an entry that is otherwise valid...
        bytes[474..478].copy_from_slice(&0u32.to_le_bytes()); // ...but has zero length
        let mbr = Mbr::parse(&bytes).unwrap();
        assert_eq!(mbr.partitions, [None; 4]);
    }
}
