//! GUIDs as stored by GPT and UEFI.
//!
//! The canonical text form `AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE` is stored "mixed-endian":
//! the first three fields little-endian, the last two as the byte sequence they are written in.
//! [`Guid`] keeps the on-disk bytes so reading and writing tables is a plain copy.

use core::fmt;
use core::str::FromStr;

/// A GUID holding its 16 bytes in on-disk (mixed-endian) order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

/// Why a string is not a GUID in canonical text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidParseError {
    /// Not 36 characters (38 with braces).
    BadLength,
    /// A `-` missing at one of the four separator positions.
    MissingHyphen,
    /// A character that is not a hexadecimal digit.
    BadDigit,
}

impl core::error::Error for GuidParseError {}

impl fmt::Display for GuidParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuidParseError::BadLength => {
                "a GUID has 36 characters (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
            }
            GuidParseError::MissingHyphen => {
                "a GUID has hyphens after the 8th, 12th, 16th and 20th digits"
            }
            GuidParseError::BadDigit => "a GUID contains only hexadecimal digits and hyphens",
        })
    }
}

impl Guid {
    /// The all-zero GUID: an unused GPT entry has this type.
    pub const ZERO: Guid = Guid([0; 16]);

    /// EFI System Partition.
    pub const EFI_SYSTEM: Guid = Guid::from_text("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    /// Microsoft Basic Data (FAT, exFAT, NTFS data partitions).
    pub const MICROSOFT_BASIC_DATA: Guid = Guid::from_text("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
    /// BIOS boot partition (a raw area for a legacy boot loader on GPT disks).
    pub const BIOS_BOOT: Guid = Guid::from_text("21686148-6449-6E6F-744E-656564454649");

    /// Build from the fields as written in text: `d1-d2-d3-d4[0..2]-d4[2..8]`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// A GUID constant written in canonical text form, as specifications print it. A string
    /// that is not a GUID is a compile-time error in a `const` (and a panic elsewhere).
    pub const fn from_text(text: &str) -> Guid {
        match Guid::parse(text) {
            Ok(guid) => guid,
            Err(_) => panic!("not a GUID in canonical text form"),
        }
    }

    /// The on-disk bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// A random (version 4, RFC 4122 variant) GUID from 16 random bytes supplied by the caller;
    /// the core has no source of randomness.
    pub fn from_random_bytes(mut bytes: [u8; 16]) -> Guid {
        // The version nibble is the top of the third field, which is stored little-endian,
        // so it lives in byte 7; the variant bits are the top of byte 8.
        bytes[7] = (bytes[7] & 0x0F) | 0x40;
        bytes[8] = (bytes[8] & 0x3F) | 0x80;
        Guid(bytes)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Parse the canonical text form, case-insensitive, optionally wrapped in braces.
    pub const fn parse(text: &str) -> Result<Guid, GuidParseError> {
        let s = text.as_bytes();
        let s = match s {
            [b'{', inner @ .., b'}'] => inner,
            _ => s,
        };
        if s.len() != 36 {
            return Err(GuidParseError::BadLength);
        }
        // Text order of the 16 bytes, then rearranged into on-disk order.
        let mut text_order = [0u8; 16];
        let mut out = 0;
        let mut i = 0;
        while i < 36 {
            if matches!(i, 8 | 13 | 18 | 23) {
                if s[i] != b'-' {
                    return Err(GuidParseError::MissingHyphen);
                }
                i += 1;
                continue;
            }
            let (Some(hi), Some(lo)) = (hex_value(s[i]), hex_value(s[i + 1])) else {
                return Err(GuidParseError::BadDigit);
            };
            text_order[out] = (hi << 4) | lo;
            out += 1;
            i += 2;
        }
        let t = text_order;
        Ok(Guid([
            t[3], t[2], t[1], t[0], t[5], t[4], t[7], t[6], t[8], t[9], t[10], t[11], t[12], t[13],
            t[14], t[15],
        ]))
    }
}

const fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl FromStr for Guid {
    type Err = GuidParseError;
    fn from_str(s: &str) -> Result<Guid, GuidParseError> {
        Guid::parse(s)
    }
}

/// Upper-case canonical form, as gdisk and sfdisk print it.
impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9]
        )?;
        for byte in &b[10..] {
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn efi_system_bytes_are_mixed_endian() {
        assert_eq!(
            Guid::EFI_SYSTEM.to_bytes(),
            [
                0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
                0xC9, 0x3B
            ]
        );
        assert_eq!(
            Guid::MICROSOFT_BASIC_DATA.to_bytes(),
            [
                0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26,
                0x99, 0xC7
            ]
        );
        // The BIOS boot GUID spells "Hah!IdontNeedEFI" on disk.
        assert_eq!(&Guid::BIOS_BOOT.to_bytes(), b"Hah!IdontNeedEFI");
        // Constants are written as text; the fields give the same bytes.
        assert_eq!(
            Guid::from_text("2DC27766-F623-4200-9D64-115E9BFD4A08"),
            Guid::from_fields(
                0x2DC2_7766,
                0xF623,
                0x4200,
                [0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08]
            )
        );
    }

    #[test]
    fn text_round_trip() {
        for (g, text) in [
            (Guid::EFI_SYSTEM, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
            (Guid::MICROSOFT_BASIC_DATA, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"),
            (Guid::BIOS_BOOT, "21686148-6449-6E6F-744E-656564454649"),
            (Guid::ZERO, "00000000-0000-0000-0000-000000000000"),
        ] {
            assert_eq!(g.to_string(), text);
            assert_eq!(Guid::parse(text), Ok(g));
            assert_eq!(text.to_ascii_lowercase().parse::<Guid>(), Ok(g));
        }
        assert_eq!(Guid::parse("{c12a7328-f81f-11d2-ba4b-00a0c93ec93b}"), Ok(Guid::EFI_SYSTEM));
    }

    #[test]
    fn parse_rejects_malformed_text() {
        assert_eq!(Guid::parse(""), Err(GuidParseError::BadLength));
        assert_eq!(
            Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93"),
            Err(GuidParseError::BadLength)
        );
        assert_eq!(
            Guid::parse("C12A7328F81F-11D2-BA4B-00A0C93EC93B0"),
            Err(GuidParseError::MissingHyphen)
        );
        assert_eq!(
            Guid::parse("G12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
            Err(GuidParseError::BadDigit)
        );
        assert_eq!(
            Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC9+B"),
            Err(GuidParseError::BadDigit)
        );
        // Multi-byte characters must not cause a slicing panic.
        assert!(Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC9é").is_err());
        assert!(Guid::parse("éééééééééééééééééé").is_err());
    }

    #[test]
    fn random_guid_has_version_4_and_rfc_variant() {
        let g = Guid::from_random_bytes([0xFF; 16]);
        assert_eq!(g.to_string(), "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF");
        let g = Guid::from_random_bytes([0; 16]);
        assert_eq!(g.to_string(), "00000000-0000-4000-8000-000000000000");
    }
}
