//! "Press any key to boot from CD or DVD": Microsoft's CD boot programs wait for a key (and
//! boot the hard disk when none comes) so that a forgotten installation DVD does not start
//! Setup again. Booted from the drive on purpose, that prompt only stalls an unattended boot;
//! it is skipped through the virtual medium (byte overrides, nothing written):
//!
//! - UEFI: the El Torito EFI entry of Microsoft's ISOs loads `efi/microsoft/boot/efisys.bin`, a
//!   FAT image whose `\EFI\BOOT\BOOTX64.EFI` is `cdboot.efi` (it prompts). The ISOs also carry
//!   `efisys_noprompt.bin` (`cdboot_noprompt.efi`, the same without the prompt), which is what
//!   Microsoft's documentation tells users to master an ISO with for unattended installs. The
//!   EFI entry's load RBA (and sector count) is pointed at it.
//! - BIOS: `etfsboot.com` prompts only when `\boot\bootfix.bin` exists (Microsoft's advice for
//!   unattended media is to delete it). Its directory entries (ISO 9660, Joliet, Rock Ridge
//!   names, UDF) are renamed to `bootfix.off`, a name of the same length, so it is not found.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::{locate, SECTOR};
use crate::block::ReadAt;
use crate::eltorito::{self, VIRTUAL_SECTOR};
use crate::udf::redirect::rename_entries;
use crate::virtual_medium::ByteOverride;

/// The EFI boot image of Microsoft's ISOs: `cdboot.efi`, which prompts.
pub const EFISYS: &str = "/efi/microsoft/boot/efisys.bin";
/// The same image with `cdboot_noprompt.efi`.
pub const EFISYS_NOPROMPT: &str = "/efi/microsoft/boot/efisys_noprompt.bin";
/// The file whose presence makes `etfsboot.com` prompt.
pub const BOOTFIX_DIR: &str = "/boot";
pub const BOOTFIX: &str = "bootfix.bin";
/// `bootfix.bin` as it is served: same length, another extension.
pub const BOOTFIX_HIDDEN: &str = "bootfix.off";

/// What happens to the "Press any key to boot from CD or DVD" prompt under one firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Skipped; how.
    Skipped(String),
    /// The ISO has no prompt polyboot knows of there; why it thinks so.
    NotPresent(&'static str),
    /// The prompt will be shown; why it is not skipped.
    Shown(String),
}

impl fmt::Display for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prompt::Skipped(how) => write!(f, "\"Press any key\" prompt skipped ({how})"),
            Prompt::NotPresent(why) => write!(f, "no \"Press any key\" prompt ({why})"),
            Prompt::Shown(why) => write!(
                f,
                "\"Press any key to boot from CD or DVD\" will be shown (press a key): {why}"
            ),
        }
    }
}

/// `(offset, len)` of `path` when it is one piece of the image (either tree).
fn file_range<D: ReadAt>(dev: &mut D, path: &str) -> Option<(u64, u64)> {
    let found = locate(dev, path);
    if let Some(r) = found.udf.as_ref().and_then(|(_, e)| e.contiguous_range()) {
        return Some(r);
    }
    found.iso.iter().find(|e| e.sections.len() == 1).map(|e| (e.sections[0].offset, e.size))
}

/// The El Torito sector count for a no-emulation image of `len` bytes, the way mkisofs and
/// xorriso write it (the image's size in 512-byte sectors) unless the original entry used 0
/// or 1 ("the whole image", which UEFI firmware accepts); None when it does not fit 16 bits.
pub fn efi_sector_count(original: u16, len: u64) -> Option<u16> {
    if original < 2 {
        return Some(original);
    }
    u16::try_from(len.div_ceil(VIRTUAL_SECTOR).max(2)).ok()
}

/// The override of the catalog entry at byte `entry_at` (sector count at +6, load RBA at +8)
/// that makes it load `len` bytes from byte `offset` of the image.
pub fn efi_entry_override(
    entry_at: u64,
    original_count: u16,
    offset: u64,
    len: u64,
) -> Result<ByteOverride, String> {
    if offset % SECTOR != 0 {
        return Err(String::from("efisys_noprompt.bin does not start on a 2048-byte block"));
    }
    let rba = u32::try_from(offset / SECTOR)
        .map_err(|_| String::from("efisys_noprompt.bin lies past 2^32 blocks"))?;
    let count = efi_sector_count(original_count, len).ok_or_else(|| {
        format!("efisys_noprompt.bin ({len} bytes) is too large for an El Torito sector count")
    })?;
    let mut bytes = Vec::with_capacity(6);
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend_from_slice(&rba.to_le_bytes());
    Ok(ByteOverride { at: entry_at + 6, bytes })
}

/// UEFI: point the EFI entry at `efisys_noprompt.bin` when it loads `efisys.bin`.
pub fn skip_uefi_prompt<D: ReadAt>(dev: &mut D) -> (Prompt, Vec<ByteOverride>) {
    let Ok(catalog) = eltorito::read_catalog(dev) else {
        return (Prompt::NotPresent("no El Torito catalog"), Vec::new());
    };
    let Some(entry) = catalog.efi_entry() else {
        return (Prompt::NotPresent("no EFI entry in the El Torito catalog"), Vec::new());
    };
    let (entry_at, count, loads) = (entry.catalog_offset, entry.sector_count, entry.image_offset());
    let noprompt = file_range(dev, EFISYS_NOPROMPT);
    if noprompt.is_some_and(|(at, _)| at == loads) {
        return (Prompt::NotPresent("the EFI entry already loads efisys_noprompt.bin"), Vec::new());
    }
    if file_range(dev, EFISYS).is_none_or(|(at, _)| at != loads) {
        return (
            Prompt::NotPresent("the EFI entry does not load efi/microsoft/boot/efisys.bin"),
            Vec::new(),
        );
    }
    let Some((at, len)) = noprompt else {
        return (
            Prompt::Shown(String::from(
                "the EFI entry loads efisys.bin and the ISO has no efi/microsoft/boot/efisys_noprompt.bin",
            )),
            Vec::new(),
        );
    };
    match efi_entry_override(entry_at, count, at, len) {
        Ok(o) => (
            Prompt::Skipped(format!(
                "the El Torito EFI entry loads efisys_noprompt.bin at block {} instead of efisys.bin",
                at / SECTOR
            )),
            alloc::vec![o],
        ),
        Err(why) => (Prompt::Shown(why), Vec::new()),
    }
}

/// `name` with `bootfix.bin` (any case) replaced by `bootfix.off` in the same case, when it is
/// that name (an ISO 9660 version suffix `;1` is kept).
pub fn hidden_bootfix_name(name: &str) -> Option<String> {
    let (base, version) = match name.split_once(';') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    if !base.eq_ignore_ascii_case(BOOTFIX) {
        return None;
    }
    let mut out: String = base
        .chars()
        .zip(BOOTFIX_HIDDEN.chars())
        .map(|(old, new)| if old.is_ascii_uppercase() { new.to_ascii_uppercase() } else { new })
        .collect();
    if let Some(v) = version {
        out.push(';');
        out.push_str(v);
    }
    Some(out)
}

/// Replace every `bootfix.bin` (any case; one byte a character, or UCS-2 big-endian as Joliet
/// writes it) in `record` from byte `from` on by `bootfix.off` in the same case. Returns how
/// many were replaced.
pub fn hide_in_record(record: &mut [u8], from: usize) -> usize {
    let mut replaced = 0;
    for width in [1usize, 2] {
        let n = BOOTFIX.len() * width;
        let mut i = from;
        while i + n <= record.len() {
            let window = &record[i..i + n];
            let matches = BOOTFIX.bytes().enumerate().all(|(k, want)| {
                let c = &window[k * width..(k + 1) * width];
                (width == 1 || c[0] == 0) && c[width - 1].eq_ignore_ascii_case(&want)
            });
            if matches {
                for (k, new) in BOOTFIX_HIDDEN.bytes().enumerate() {
                    let c = &mut record[i + k * width + width - 1];
                    *c = if c.is_ascii_uppercase() { new.to_ascii_uppercase() } else { new };
                }
                replaced += 1;
                i += n;
            } else {
                i += 1;
            }
        }
    }
    replaced
}

/// BIOS: rename `\boot\bootfix.bin` in every tree that lists it.
pub fn skip_bios_prompt<D: ReadAt>(dev: &mut D) -> (Prompt, Vec<ByteOverride>) {
    let path = format!("{BOOTFIX_DIR}/{BOOTFIX}");
    let found = locate(dev, &path);
    let mut overrides = Vec::new();
    let mut trees = Vec::new();
    let mut records = 0;
    let mut problems = Vec::new();
    for e in &found.iso {
        let at = e.record_offset();
        let mut len = [0u8; 1];
        if dev.read_at(at, &mut len).is_err() || len[0] < 34 {
            problems.push(String::from("an ISO 9660 record could not be read"));
            continue;
        }
        let mut record = alloc::vec![0u8; usize::from(len[0])];
        if dev.read_at(at, &mut record).is_err() {
            problems.push(String::from("an ISO 9660 record could not be read"));
            continue;
        }
        // From the identifier on (byte 33): the name, and Rock Ridge's NM entry if any.
        if hide_in_record(&mut record, 33) > 0 {
            overrides.push(ByteOverride { at, bytes: record });
            records += 1;
        } else {
            problems.push(format!("the ISO 9660 record of {path} does not hold its name"));
        }
    }
    if let Some((vol, _)) = &found.udf {
        let renamed = vol
            .lookup(dev, BOOTFIX_DIR)
            .and_then(|dir| rename_entries(vol, dev, &dir, hidden_bootfix_name));
        match renamed {
            Ok(p) if !p.is_empty() => {
                overrides.extend(p.into_iter().map(|(at, bytes)| ByteOverride { at, bytes }));
                trees.push("its UDF file identifier");
            }
            Ok(_) => problems.push(format!("{path} not found again in the UDF directory")),
            Err(e) => problems.push(format!("UDF: {e}")),
        }
    }
    if records > 0 {
        trees.insert(
            0,
            if records == 1 { "its ISO 9660 record" } else { "its ISO 9660 and Joliet records" },
        );
    }
    if found.udf.is_none() && found.iso.is_empty() {
        return (Prompt::NotPresent("no \\boot\\bootfix.bin"), Vec::new());
    }
    if !problems.is_empty() {
        // A name left in one tree is enough for etfsboot to find it: serve none of them.
        return (
            Prompt::Shown(format!(
                "\\boot\\bootfix.bin could not be hidden: {}",
                problems.join("; ")
            )),
            Vec::new(),
        );
    }
    (
        Prompt::Skipped(format!(
            "\\boot\\bootfix.bin served as {BOOTFIX_HIDDEN} ({})",
            trees.join(", ")
        )),
        overrides,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sector_count_is_the_image_in_512_byte_sectors_unless_the_entry_meant_the_whole_image() {
        assert_eq!(efi_sector_count(2880, 1_474_560), Some(2880));
        assert_eq!(efi_sector_count(4, 1_474_561), Some(2881));
        assert_eq!(efi_sector_count(8, 100), Some(2));
        assert_eq!(efi_sector_count(0, 1_474_560), Some(0));
        assert_eq!(efi_sector_count(1, 1_474_560), Some(1));
        assert_eq!(efi_sector_count(2880, 0xFFFF * 512), Some(0xFFFF));
        assert_eq!(efi_sector_count(2880, 0xFFFF * 512 + 1), None);
    }

    #[test]
    fn the_entry_override_writes_count_then_rba_little_endian() {
        let o = efi_entry_override(0x1_0040, 2880, 0x5_0000 * 2048, 1_474_560).unwrap();
        assert_eq!(o.at, 0x1_0046);
        assert_eq!(o.bytes, [0x40, 0x0B, 0x00, 0x00, 0x05, 0x00]);
        assert!(efi_entry_override(0, 2880, 2049, 512).is_err());
        assert!(efi_entry_override(0, 2880, (1u64 << 32) * 2048, 512).is_err());
        assert!(efi_entry_override(0, 2880, 2048, 64 << 20).is_err());
    }

    #[test]
    fn bootfix_names_keep_their_case_and_version() {
        assert_eq!(hidden_bootfix_name("bootfix.bin").as_deref(), Some("bootfix.off"));
        assert_eq!(hidden_bootfix_name("BOOTFIX.BIN;1").as_deref(), Some("BOOTFIX.OFF;1"));
        assert_eq!(hidden_bootfix_name("BootFix.Bin").as_deref(), Some("BootFix.Off"));
        assert_eq!(hidden_bootfix_name("bootfix.bin.mui"), None);
        assert_eq!(hidden_bootfix_name("etfsboot.com"), None);
    }

    #[test]
    fn records_are_renamed_in_plain_joliet_and_rock_ridge_names() {
        let mut plain = alloc::vec![0u8; 33];
        plain.extend_from_slice(b"BOOTFIX.BIN;1");
        plain.extend_from_slice(b"\0NM\x10\x01\0bootfix.bin");
        assert_eq!(hide_in_record(&mut plain, 33), 2);
        assert_eq!(&plain[33..46], b"BOOTFIX.OFF;1");
        assert_eq!(&plain[plain.len() - 11..], b"bootfix.off");

        let mut joliet = alloc::vec![0u8; 33];
        for u in "bootfix.bin;1".encode_utf16() {
            joliet.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(hide_in_record(&mut joliet, 33), 1);
        let name: Vec<u16> =
            joliet[33..].chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        assert_eq!(String::from_utf16(&name).unwrap(), "bootfix.off;1");

        // Bytes before the identifier are never touched; other names are left alone.
        let mut other = b"bootfix.bin".to_vec();
        other.extend_from_slice(b"BOOTFIX.BIM;1");
        assert_eq!(hide_in_record(&mut other, 11), 0);
        assert_eq!(&other[..11], b"bootfix.bin");
    }
}
