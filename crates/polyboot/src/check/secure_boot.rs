//! `polyboot check`'s Secure Boot outlook: which EFI loader the firmware (or polyboot) starts
//! for an image, whether it is signed, by whom, whether it is still what was signed, and what
//! that means with Secure Boot on (core's [`authenticode`] reader).
//!
//! Only what the file itself tells: the signature's cryptography, the machine's db / dbx,
//! shim's SBAT revocations and MOK list are not known here. Signers are recognised by their
//! issuer's name: Microsoft's third-party UEFI CA and Windows CA (in the db of PCs sold with
//! Windows), and Debian's Secure Boot CA (the vendor key of the Debian shim polyboot starts
//! from, whose SHIM_LOCK verifies what polyboot starts).

use polyboot_core::authenticode::{self, DigestAlgorithm, Signatures, State};
use polyboot_core::block::{ReadAt, Slice};
use polyboot_core::eltorito;
use polyboot_core::fat::{Fat, FatError};
use polyboot_core::gpt;
use polyboot_core::guid::Guid;
use polyboot_core::mbr::{self, Mbr};
use polyboot_core::menu::ImageKind;
use serde::Serialize;

/// The removable-media loader UEFI firmware starts.
pub const DEFAULT_LOADER: &str = "/EFI/BOOT/BOOTX64.EFI";
/// Largest EFI loader read (shim is 1 MiB, GRUB a few MiB, a UKI up to a few hundred MiB).
const MAX_LOADER: u64 = 512 << 20;

/// What Secure Boot will make of an image's EFI loader.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct SecureBootCheck {
    /// The loader checked: `the EFI application`, `/EFI/BOOT/BOOTX64.EFI in the El Torito EFI
    /// image`, `/EFI/BOOT/BOOTX64.EFI on the EFI system partition`.
    pub file: String,
    pub signed: bool,
    /// The signatures (a table's own and nested ones), in the order of the file.
    pub signers: Vec<Signer>,
    /// The loader's Authenticode SHA-256 (what MokManager enrolls as its hash), when it is a
    /// PE image.
    pub sha256: Option<String>,
    /// `matches` (signed, still what was signed), `altered` (changed after signing),
    /// `damaged` (a signature that cannot be read or does not fit its content), `unsigned`,
    /// `not_checked` (signed with a digest polyboot does not compute), `not_pe`.
    pub digest: &'static str,
    /// `boots` (boots with Secure Boot on), `needs_enrollment` (needs its hash or key
    /// enrolled: MOK), `refused`.
    pub verdict: &'static str,
    /// For people: why.
    pub detail: String,
}

/// One signature's signer.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct Signer {
    /// `CN=Debian Secure Boot Signer 2022 - shim`, when the signer certificate is in the
    /// signature.
    pub subject: Option<String>,
    pub issuer: String,
    pub serial: String,
    pub digest_algorithm: String,
    /// A nested signature (in another signature's unauthenticated attributes).
    pub nested: bool,
}

impl SecureBootCheck {
    /// The text line: `boots with Secure Boot on: ...`.
    pub fn line(&self) -> String {
        let words = match self.verdict {
            "boots" => "boots with Secure Boot on",
            "needs_enrollment" => "needs its hash or key enrolled (MOK)",
            _ => "refused",
        };
        format!("{words}: {} ({})", self.detail, self.file)
    }
}

/// Microsoft's third-party UEFI CAs (shims, option ROMs): in the db of most PCs.
const MICROSOFT_UEFI_CA: [&str; 2] =
    ["Microsoft Corporation UEFI CA 2011", "Microsoft UEFI CA 2023"];
/// Microsoft's Windows CAs (bootmgfw): in the db of every PC sold with Windows.
const MICROSOFT_WINDOWS_CA: [&str; 2] =
    ["Microsoft Windows Production PCA 2011", "Windows UEFI CA 2023"];
/// Debian's shim vendor certificate: polyboot starts from Debian's shim, whose SHIM_LOCK
/// accepts what this CA signed.
const DEBIAN_CA: &str = "Debian Secure Boot CA";
/// Other distributions' shim vendor CAs: accepted when that distribution's shim loads the file.
const DISTRIBUTION_CAS: [(&str, &str); 6] = [
    ("Canonical Ltd. Master Certificate Authority", "Ubuntu"),
    ("Red Hat Secure Boot CA", "Red Hat"),
    ("Fedora Secure Boot CA", "Fedora"),
    ("SUSE Linux Enterprise Secure Boot CA", "SUSE"),
    ("openSUSE Secure Boot CA", "openSUSE"),
    ("CentOS Secure Boot CA", "CentOS"),
];

/// The Secure Boot outlook of the image in `file`: its EFI application itself, an ISO's El
/// Torito EFI image's default loader, a disk image's EFI system partition's. `None` when the
/// image has no EFI loader to check (BIOS-only media, WIM / VHD, no readable ESP).
pub fn outlook<R: ReadAt>(kind: ImageKind, file: &mut R) -> Option<SecureBootCheck> {
    match kind {
        ImageKind::Efi => {
            let size = file.size();
            if size > MAX_LOADER {
                return None;
            }
            let mut bytes = vec![0u8; usize::try_from(size).ok()?];
            file.read_at(0, &mut bytes).ok()?;
            Some(assess(&bytes, String::from("the EFI application")))
        }
        ImageKind::Iso => {
            let catalog = eltorito::read_catalog(&mut *file).ok()?;
            let at = catalog.efi_entry()?.image_offset();
            let len = eltorito::fat_image_size(&mut *file, at)?;
            let fat = Slice::new(&mut *file, at, len).map_err(FatError::Io).and_then(Fat::open);
            loader_on(fat.ok()?, "in the El Torito EFI image")
        }
        ImageKind::Img => {
            let (at, len) = esp_range(file)?;
            let fat = Slice::new(&mut *file, at, len).map_err(FatError::Io).and_then(Fat::open);
            loader_on(fat.ok()?, "on the EFI system partition")
        }
        ImageKind::Wim | ImageKind::Vhd | ImageKind::Vhdx => None,
    }
}

fn loader_on<D: ReadAt>(mut fat: Fat<D>, place: &str) -> Option<SecureBootCheck> {
    let bytes = fat.read_file(DEFAULT_LOADER, MAX_LOADER).ok()?;
    Some(assess(&bytes, format!("{DEFAULT_LOADER} {place}")))
}

/// (offset, length) of a disk image's first EFI system partition (GPT, or MBR type 0xEF).
fn esp_range<R: ReadAt>(file: &mut R) -> Option<(u64, u64)> {
    if let Ok(Some(ss)) = gpt::detect_sector_size(&mut *file) {
        let read = gpt::read(&mut *file, ss).ok()?;
        let (_, p) = read.gpt.partitions().find(|(_, p)| p.type_guid == Guid::EFI_SYSTEM)?;
        return Some((p.first_lba.checked_mul(ss.bytes())?, p.sectors().checked_mul(ss.bytes())?));
    }
    let mut sector = [0u8; 512];
    file.read_at(0, &mut sector).ok()?;
    let table = Mbr::parse(&sector).ok()?;
    let (_, p) = table.used().find(|(_, p)| p.partition_type == mbr::types::EFI_SYSTEM)?;
    Some((u64::from(p.first_lba) * 512, u64::from(p.sector_count) * 512))
}

/// The outlook of one EFI loader's bytes.
pub fn assess(bytes: &[u8], file: String) -> SecureBootCheck {
    let sigs = match authenticode::read(bytes) {
        Ok(s) => s,
        Err(e) => {
            return SecureBootCheck {
                file,
                signed: false,
                signers: Vec::new(),
                sha256: None,
                digest: "not_pe",
                verdict: "refused",
                detail: format!("{e}: no firmware starts it"),
            }
        }
    };
    let signers = sigs
        .signatures
        .iter()
        .map(|s| Signer {
            subject: s.subject.as_ref().map(|n| n.to_string()),
            issuer: s.issuer.to_string(),
            serial: s.serial.clone(),
            digest_algorithm: s.digest_algorithm.to_string(),
            nested: s.nesting > 0,
        })
        .collect();
    let (digest, verdict, detail) = judge(&sigs);
    SecureBootCheck {
        file,
        signed: sigs.is_signed(),
        signers,
        sha256: Some(sigs.sha256.iter().map(|b| format!("{b:02x}")).collect()),
        digest,
        verdict,
        detail,
    }
}

fn judge(sigs: &Signatures) -> (&'static str, &'static str, String) {
    let not_checked = match sigs.state() {
        State::Unsigned => {
            return (
                "unsigned",
                "needs_enrollment",
                String::from(
                    "unsigned: with Secure Boot on it starts only once its hash is enrolled as a MOK (MokManager, through \
                     polyboot's shim) or added to the machine's db",
                ),
            )
        }
        State::DigestMismatch => {
            return (
                "altered",
                "refused",
                String::from(
                    "signed, but altered after signing (its Authenticode digest is not the one its signature records): \
                     firmware and shim refuse it",
                ),
            )
        }
        State::Damaged(why) => {
            return ("damaged", "refused", format!("damaged signature ({why}): firmware and shim refuse it"))
        }
        State::DigestMatches => None,
        State::DigestNotChecked(alg) => Some(alg),
    };
    let issuer_cns: Vec<&str> =
        sigs.signatures.iter().filter_map(|s| s.issuer.common_name()).collect();
    let has = |names: &[&str]| issuer_cns.iter().find(|cn| names.contains(cn)).copied();
    let by = |s: &authenticode::Signature| {
        s.subject.as_ref().map_or_else(|| s.issuer.to_string(), |n| n.to_string())
    };
    let (verdict, mut detail) = if let Some(ca) = has(&MICROSOFT_WINDOWS_CA) {
        ("boots", format!("signed through {ca}, in the db of every PC sold with Windows"))
    } else if let Some(ca) = has(&MICROSOFT_UEFI_CA) {
        (
            "boots",
            format!(
                "signed through Microsoft's third-party UEFI CA ({ca}), in the db of most PCs (some only once \
                 \"allow Microsoft 3rd-party UEFI CA\" is set in their firmware)"
            ),
        )
    } else if has(&[DEBIAN_CA]).is_some() {
        (
            "boots",
            format!(
                "signed by Debian's Secure Boot CA ({}): accepted by Debian's shim (its vendor key), which \
                 polyboot's default chain starts from; a drive made with --no-shim has no shim and \
                 the firmware's db alone decides",
                sigs.signatures.first().map(by).unwrap_or_default()
            ),
        )
    } else if let Some((ca, distro)) =
        DISTRIBUTION_CAS.iter().find(|(ca, _)| issuer_cns.contains(ca))
    {
        (
            "needs_enrollment",
            format!(
                "signed by {distro}'s Secure Boot CA ({ca}): accepted when {distro}'s own shim loads it; started by \
                 polyboot (Debian's shim) it needs that key enrolled as a MOK"
            ),
        )
    } else {
        let who = sigs.signatures.first().map(by).unwrap_or_default();
        (
            "needs_enrollment",
            format!(
                "signed by {who}, a key that is neither Microsoft's nor Debian's: it starts with Secure Boot on once \
                 that key (or the file's hash) is enrolled as a MOK, or when the machine's db holds it"
            ),
        )
    };
    if let Some(alg) = not_checked {
        detail.push_str(&format!(
            "; its {alg} digest is not checked by polyboot, so whether it was altered after signing is not known"
        ));
        return ("not_checked", verdict, detail);
    }
    debug_assert!(sigs.signatures.iter().any(|s| s.digest_algorithm == DigestAlgorithm::Sha256));
    ("matches", verdict, detail)
}
