//! `authenticode::read` (PE/COFF certificate table, PKCS#7 SignedData, the image's
//! Authenticode SHA-256; `polyboot check` runs it over every EFI application it meets) on
//! arbitrary bytes. Two readings, by the input's first bytes:
//!
//! 1. `MZ...`: a whole PE image, as is;
//! 2. anything else: a PKCS#7 blob, put as the one WIN_CERTIFICATE entry of a minimal valid
//!    PE32+ image (`common/pe_skeleton.rs`), so that mutations reach the DER and PKCS#7
//!    reader instead of dying in the PE headers.
//!
//! Checked: never a panic or a hang; an accepted image's layout lies inside the input
//! (sections sorted, the certificate table and every section in bounds, the digest's header
//! pieces in order); the digest is the layout's digest again and does not change with the
//! checksum field (when no section covers the headers); the limits hold (signatures,
//! certificates, nesting, entries); an image without a table reads as unsigned with no
//! signatures; `state()` is consistent with the signatures and the digest; names, algorithms
//! and errors print. In reading 2 the PE part is valid, so `read` must succeed.
#![no_main]

#[path = "../common/pe_skeleton.rs"]
mod pe_skeleton;

use libfuzzer_sys::fuzz_target;
use polyboot_core::authenticode::{self, DigestAlgorithm, State};

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"MZ") {
        check(data, false);
    } else {
        let img = pe_skeleton::with_table(&pe_skeleton::entry(data));
        check(&img, true);
    }
});

fn check(img: &[u8], skeleton: bool) {
    let s = match authenticode::read(img) {
        Ok(s) => s,
        Err(e) => {
            assert!(!skeleton, "the skeleton is a valid PE image: {e}");
            let _ = e.to_string();
            return;
        }
    };
    let l = &s.layout;
    assert!(l.size_of_headers <= img.len());
    assert!(l.checksum_at + 4 <= l.size_of_headers);
    if let Some(d) = l.cert_dir_at {
        assert!(l.checksum_at + 4 <= d && d + 8 <= l.size_of_headers);
    }
    assert!(l.sections.windows(2).all(|w| w[0] <= w[1]));
    assert!(l.sections.iter().all(|&(at, size)| size > 0 && at + size <= img.len()));
    assert!(l.sections.len() <= authenticode::pe::MAX_SECTIONS);
    if let Some((at, size)) = l.cert_table {
        assert!(size > 0 && at + size <= img.len());
    }
    assert_eq!(l.sha256(img).unwrap(), s.sha256);
    // The checksum is not part of the digest (unless a section's raw data covers it: the
    // digest hashes sections as they lie, headers included).
    if l.sections.iter().all(|&(at, _)| at >= l.size_of_headers) {
        let mut other = img.to_vec();
        other[l.checksum_at] ^= 0xA5;
        assert_eq!(authenticode::read(&other).map(|o| o.sha256), Ok(s.sha256));
    }

    assert!(s.signatures.len() <= authenticode::MAX_SIGNATURES);
    for sig in &s.signatures {
        assert!(sig.nesting <= authenticode::MAX_NESTING);
        assert!(sig.entry < authenticode::MAX_CERT_ENTRIES);
        assert!(sig.certificates.len() <= authenticode::MAX_CERTIFICATES);
        let _ = (sig.issuer.to_string(), sig.issuer.oneline(), sig.issuer.common_name());
        if let Some(subject) = &sig.subject {
            let _ = (subject.to_string(), subject.oneline());
            // The subject is that of a certificate the signature carries, by issuer + serial.
            assert!(sig.certificates.iter().any(|c| &c.subject == subject
                && c.issuer == sig.issuer
                && c.serial == sig.serial));
        }
        let _ = sig.digest_algorithm.to_string();
    }
    let state = s.state();
    match &state {
        State::Unsigned => assert!(l.cert_table.is_none() && s.signatures.is_empty()),
        State::DigestMatches => {
            assert!(s.error.is_none() && !s.signatures.is_empty());
            assert!(s
                .signatures
                .iter()
                .filter(|g| g.digest_algorithm == DigestAlgorithm::Sha256)
                .all(|g| g.digest == s.sha256));
        }
        State::DigestMismatch => assert!(s
            .signatures
            .iter()
            .any(|g| g.digest_algorithm == DigestAlgorithm::Sha256 && g.digest != s.sha256)),
        State::Damaged(why) => assert!(!why.is_empty()),
        State::DigestNotChecked(alg) => {
            assert!(*alg != DigestAlgorithm::Sha256 && s.error.is_none())
        }
    }
    if l.cert_table.is_none() {
        assert_eq!(state, State::Unsigned);
        assert!(s.error.is_none());
    }
    if skeleton {
        assert!(s.is_signed());
    }
}
