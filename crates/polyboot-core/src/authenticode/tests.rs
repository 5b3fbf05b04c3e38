use super::*;
use alloc::vec;
use std::string::ToString;

/// A DER element.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = contents.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(contents);
    out
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn oid(b: &[u8]) -> Vec<u8> {
    tlv(OID, b)
}

const SHA256_OID: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

fn name(cn: &str, o: &str) -> Vec<u8> {
    let atv = |k: u8, v: &str| {
        tlv(SET, &tlv(SEQUENCE, &cat(&[oid(&[0x55, 0x04, k]), tlv(0x0C, v.as_bytes())])))
    };
    tlv(SEQUENCE, &cat(&[atv(0x0A, o), atv(0x03, cn)]))
}

fn alg(o: &[u8]) -> Vec<u8> {
    tlv(SEQUENCE, &cat(&[oid(o), vec![0x05, 0x00]]))
}

fn certificate(subject: &[u8], issuer: &[u8], serial: &[u8]) -> Vec<u8> {
    let tbs = tlv(
        SEQUENCE,
        &cat(&[
            tlv(0xA0, &tlv(INTEGER, &[2])),
            tlv(INTEGER, serial),
            alg(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B]),
            issuer.to_vec(),
            tlv(SEQUENCE, &[]),
            subject.to_vec(),
            tlv(SEQUENCE, &[]),
        ]),
    );
    tlv(
        SEQUENCE,
        &cat(&[tbs, alg(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B]), tlv(0x03, &[0])]),
    )
}

/// A ContentInfo / SignedData over `digest` by "CN=Test Signer, O=polyboot", with
/// `nested` as unauthenticated nested signatures; `tamper` breaks the messageDigest attribute.
fn signed_data(digest: &[u8], nested: &[Vec<u8>], tamper: bool) -> Vec<u8> {
    let spc = tlv(
        SEQUENCE,
        &cat(&[
            tlv(SEQUENCE, &oid(&[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0F])),
            tlv(SEQUENCE, &cat(&[alg(SHA256_OID), tlv(OCTET_STRING, digest)])),
        ]),
    );
    let spc_contents = &spc[2..];
    let mut md = Sha256::digest(spc_contents);
    if tamper {
        md[0] ^= 1;
    }
    let signed_attrs = tlv(
        0xA0,
        &tlv(SEQUENCE, &cat(&[oid(OID_MESSAGE_DIGEST), tlv(SET, &tlv(OCTET_STRING, &md))])),
    );
    let issuer = name("Test CA", "polyboot");
    let subject = name("Test Signer", "polyboot");
    let serial = [0x01, 0x23];
    let mut si = vec![
        tlv(INTEGER, &[1]),
        tlv(SEQUENCE, &cat(&[issuer.clone(), tlv(INTEGER, &serial)])),
        alg(SHA256_OID),
        signed_attrs,
        alg(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]),
        tlv(OCTET_STRING, &[0xAA; 16]),
    ];
    if !nested.is_empty() {
        si.push(tlv(
            0xA1,
            &tlv(SEQUENCE, &cat(&[oid(OID_NESTED_SIGNATURE), tlv(SET, &nested.concat())])),
        ));
    }
    let sd = tlv(
        SEQUENCE,
        &cat(&[
            tlv(INTEGER, &[1]),
            tlv(SET, &alg(SHA256_OID)),
            tlv(SEQUENCE, &cat(&[oid(OID_SPC_INDIRECT_DATA), tlv(0xA0, &spc)])),
            tlv(
                0xA0,
                &cat(&[
                    certificate(&subject, &issuer, &serial),
                    certificate(&issuer, &issuer, &[7]),
                ]),
            ),
            tlv(SET, &tlv(SEQUENCE, &si.concat())),
        ]),
    );
    tlv(SEQUENCE, &cat(&[oid(OID_SIGNED_DATA), tlv(0xA0, &sd)]))
}

/// A minimal PE32+ image: headers in 0x200 bytes, one section of 0x200 bytes.
fn unsigned_pe() -> Vec<u8> {
    let mut img = vec![0u8; 0x400];
    img[..2].copy_from_slice(b"MZ");
    img[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    img[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    img[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
    img[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
    img[coff + 16..coff + 18].copy_from_slice(&0xF0u16.to_le_bytes());
    let opt = coff + 20;
    img[opt..opt + 2].copy_from_slice(&0x20Bu16.to_le_bytes());
    img[opt + 60..opt + 64].copy_from_slice(&0x200u32.to_le_bytes());
    img[opt + 64..opt + 68].copy_from_slice(&0x1234u32.to_le_bytes());
    img[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
    let sec = opt + 0xF0;
    img[sec..sec + 5].copy_from_slice(b".text");
    img[sec + 16..sec + 20].copy_from_slice(&0x200u32.to_le_bytes());
    img[sec + 20..sec + 24].copy_from_slice(&0x200u32.to_le_bytes());
    for (i, b) in img[0x200..].iter_mut().enumerate() {
        *b = i as u8;
    }
    img
}

const CERT_DIR: usize = 0x44 + 20 + 112 + 32;

/// `img` with `blobs` appended as WIN_CERTIFICATE entries and the directory pointing at them.
fn sign(mut img: Vec<u8>, blobs: &[Vec<u8>]) -> Vec<u8> {
    let at = img.len();
    for b in blobs {
        let len = (b.len() + 8) as u32;
        img.extend(len.to_le_bytes());
        img.extend(0x0200u16.to_le_bytes());
        img.extend(WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
        img.extend_from_slice(b);
        img.resize(img.len().div_ceil(8) * 8, 0);
    }
    let size = (img.len() - at) as u32;
    img[CERT_DIR..CERT_DIR + 4].copy_from_slice(&(at as u32).to_le_bytes());
    img[CERT_DIR + 4..CERT_DIR + 8].copy_from_slice(&size.to_le_bytes());
    img
}

#[test]
fn unsigned_image_digest_skips_checksum_and_directory_entry() {
    let img = unsigned_pe();
    let s = read(&img).unwrap();
    assert_eq!(s.state(), State::Unsigned);
    assert!(!s.is_signed());
    assert_eq!(s.layout.sections, [(0x200, 0x200)]);
    let checksum = 0x44 + 20 + 64;
    let mut h = Sha256::new();
    h.update(&img[..checksum]);
    h.update(&img[checksum + 4..CERT_DIR]);
    h.update(&img[CERT_DIR + 8..]);
    assert_eq!(s.sha256, h.finalize());
    // The checksum and the directory entry do not change the digest; other header bytes do.
    let mut other = img.clone();
    other[checksum] ^= 0xFF;
    assert_eq!(read(&other).unwrap().sha256, s.sha256);
    other[0x100] ^= 1;
    assert_ne!(read(&other).unwrap().sha256, s.sha256);
}

#[test]
fn signed_image_names_its_signer_and_matches() {
    let img = unsigned_pe();
    let digest = read(&img).unwrap().sha256;
    let signed = sign(img, &[signed_data(&digest, &[], false)]);
    let s = read(&signed).unwrap();
    assert_eq!(s.sha256, digest, "the certificate table is not part of the digest");
    assert_eq!(s.state(), State::DigestMatches);
    let sig = &s.signatures[0];
    assert_eq!(sig.subject.as_ref().unwrap().to_string(), "CN=Test Signer, O=polyboot");
    assert_eq!(sig.issuer.oneline(), "/O=polyboot/CN=Test CA");
    assert_eq!(sig.issuer.common_name(), Some("Test CA"));
    assert_eq!(sig.serial, "0123");
    assert_eq!(sig.digest_algorithm, DigestAlgorithm::Sha256);
    assert_eq!(sig.content_digest_ok, Some(true));
    assert_eq!(sig.certificates.len(), 2);
}

#[test]
fn one_byte_altered_after_signing_is_a_mismatch() {
    let img = unsigned_pe();
    let digest = read(&img).unwrap().sha256;
    let mut signed = sign(img, &[signed_data(&digest, &[], false)]);
    signed[0x300] ^= 1;
    assert_eq!(read(&signed).unwrap().state(), State::DigestMismatch);
}

#[test]
fn tampered_signed_attributes_are_damaged() {
    let img = unsigned_pe();
    let digest = read(&img).unwrap().sha256;
    let signed = sign(img, &[signed_data(&digest, &[], true)]);
    assert!(matches!(read(&signed).unwrap().state(), State::Damaged(_)));
}

#[test]
fn nested_and_multiple_entries() {
    let img = unsigned_pe();
    let digest = read(&img).unwrap().sha256;
    let inner = signed_data(&digest, &[], false);
    let outer = signed_data(&digest, &[inner], false);
    let signed = sign(img.clone(), &[outer.clone(), signed_data(&digest, &[], false)]);
    let s = read(&signed).unwrap();
    assert_eq!(s.error, None);
    let at: Vec<(usize, usize)> = s.signatures.iter().map(|s| (s.entry, s.nesting)).collect();
    assert_eq!(at, [(0, 0), (0, 1), (1, 0)]);
    assert_eq!(s.state(), State::DigestMatches);
    // Beyond the nesting limit: an error, not a stack overflow.
    let mut deep = signed_data(&digest, &[], false);
    for _ in 0..MAX_NESTING + 1 {
        deep = signed_data(&digest, &[deep], false);
    }
    let s = read(&sign(img, &[deep])).unwrap();
    assert!(matches!(s.error, Some(AuthenticodeError::Limit(_))), "{:?}", s.error);
    assert!(matches!(s.state(), State::Damaged(_)));
}

#[test]
fn malformed_inputs_are_errors_never_panics() {
    assert!(matches!(read(b"not a PE"), Err(AuthenticodeError::NotPe(_))));
    assert!(matches!(read(&[]), Err(AuthenticodeError::NotPe(_))));
    let img = unsigned_pe();
    let digest = read(&img).unwrap().sha256;
    let signed = sign(img, &[signed_data(&digest, &[], false)]);
    // Every truncation and every single-byte flip in the headers and the table.
    for n in 0..signed.len() {
        let _ = read(&signed[..n]);
    }
    for i in (0..0x200).chain(0x400..signed.len()) {
        let mut b = signed.clone();
        b[i] ^= 0xFF;
        if let Ok(s) = read(&b) {
            let _ = s.state();
        }
    }
    // A directory entry pointing past the end.
    let mut b = signed.clone();
    b[CERT_DIR + 4..CERT_DIR + 8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    assert!(matches!(read(&b), Err(AuthenticodeError::CertTable(_))));
    // A WIN_CERTIFICATE length past the table.
    let mut b = signed.clone();
    b[0x400..0x404].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    assert!(matches!(read(&b).unwrap().error, Some(AuthenticodeError::CertTable(_))));
}

fn real(path: &str) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) => {
            std::eprintln!("skipping {path}: {e} (Debian package shim-signed / ipxe)");
            None
        }
    }
}

#[test]
fn debian_mok_manager() {
    let Some(img) = real("/usr/lib/shim/mmx64.efi.signed") else { return };
    let s = read(&img).unwrap();
    assert_eq!(s.state(), State::DigestMatches);
    assert_eq!(s.signatures.len(), 1);
    let sig = &s.signatures[0];
    assert_eq!(
        sig.subject.as_ref().unwrap().to_string(),
        "CN=Debian Secure Boot Signer 2022 - shim"
    );
    assert_eq!(sig.issuer.to_string(), "CN=Debian Secure Boot CA");
    assert_eq!(sig.serial, "32A0287F841A036FA393C1E065C43AE6B2422644");
    assert_eq!(sig.content_digest_ok, Some(true));
}

#[test]
fn microsoft_signed_shim_has_two_signatures() {
    let Some(img) = real("/usr/lib/shim/shimx64.efi.signed") else { return };
    let s = read(&img).unwrap();
    assert_eq!(s.state(), State::DigestMatches);
    let issuers: Vec<String> = s.signatures.iter().map(|s| s.issuer.oneline()).collect();
    assert_eq!(
        issuers,
        [
            "/C=US/ST=Washington/L=Redmond/O=Microsoft Corporation/CN=Microsoft Corporation UEFI CA 2011",
            "/C=US/O=Microsoft Corporation/CN=Microsoft UEFI CA 2023",
        ]
    );
    assert_eq!(
        s.signatures[0].subject.as_ref().unwrap().common_name(),
        Some("Microsoft Windows UEFI Driver Publisher")
    );
    // Both record the digest we compute: the section-by-section digest of the specification
    // (shim has gaps between its sections that a flat file digest would get wrong).
    assert!(s.signatures.iter().all(|sig| sig.digest == s.sha256));
}

#[test]
fn unsigned_ipxe() {
    let Some(img) = real("/usr/lib/ipxe/ipxe.efi") else { return };
    assert_eq!(read(&img).unwrap().state(), State::Unsigned);
}
