//! The Authenticode reader of core (`polyboot_core::authenticode`) against sbsigntool's
//! `sbverify --list` and osslsigncode (`verify`, `extract-signature`), independent readers of
//! the same PE certificate tables:
//!
//! - the signers (issuer of each signature; subject and issuer of each certificate it carries)
//!   of Debian's signed shim, MokManager and fallback, of iPXE signed with `sbsign` by OVMF's
//!   snakeoil key, and of that file signed again by osslsigncode as a nested signature;
//! - the digest algorithm, the recorded ("Current") and computed ("Calculated") Authenticode
//!   digests, the signer's subject / issuer / serial and the signed attributes' message digest
//!   as osslsigncode prints them, for every signature it reads;
//! - the PKCS#7 blob `osslsigncode extract-signature` writes is the first certificate-table
//!   entry's;
//! - a file altered by one byte after signing: osslsigncode's two digests differ, and so do
//!   ours (state `DigestMismatch`); an unsigned image reads as unsigned.

use polyboot_core::authenticode::{self, DigestAlgorithm, Signatures, State};
use polyboot_tests::fixtures::{sbsign, snakeoil_key};
use polyboot_tests::{find_tool, run_tool};
use std::path::{Path, PathBuf};
use std::process::Command;

const DEBIAN_SIGNED: [&str; 3] = [
    "/usr/lib/shim/shimx64.efi.signed",
    "/usr/lib/shim/mmx64.efi.signed",
    "/usr/lib/shim/fbx64.efi.signed",
];
const IPXE: &str = "/usr/lib/ipxe/ipxe.efi";

fn ours(path: &Path) -> Signatures {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e} (Debian packages shim-signed, ipxe)", path.display()));
    authenticode::read(&bytes).unwrap()
}

/// One signature as `sbverify --list` prints it: the issuers, then (subject, issuer) of each
/// certificate.
#[derive(Debug, PartialEq, Default)]
struct Listed {
    issuers: Vec<String>,
    certificates: Vec<(String, String)>,
}

fn sbverify_list(path: &Path) -> Vec<Listed> {
    let out = run_tool(Command::new(find_tool("sbverify")).arg("--list").arg(path)).unwrap();
    let mut sigs: Vec<Listed> = Vec::new();
    let mut in_certs = false;
    for line in out.lines() {
        if line.starts_with("signature ") {
            sigs.push(Listed::default());
        } else if line == "image signature issuers:" {
            in_certs = false;
        } else if line == "image signature certificates:" {
            in_certs = true;
        } else if let Some(s) = line.strip_prefix(" - subject: ") {
            sigs.last_mut().unwrap().certificates.push((s.to_string(), String::new()));
        } else if let Some(i) = line.strip_prefix("   issuer:  ") {
            sigs.last_mut().unwrap().certificates.last_mut().unwrap().1 = i.to_string();
        } else if let Some(i) = line.strip_prefix(" - ") {
            assert!(!in_certs, "unexpected sbverify line {line:?}");
            sigs.last_mut().unwrap().issuers.push(i.to_string());
        }
    }
    sigs
}

/// Ours in `sbverify --list`'s shape: the primary signature of each table entry.
fn ours_listed(s: &Signatures) -> Vec<Listed> {
    s.signatures
        .iter()
        .filter(|sig| sig.nesting == 0)
        .map(|sig| Listed {
            issuers: vec![sig.issuer.oneline()],
            certificates: sig
                .certificates
                .iter()
                .map(|c| (c.subject.oneline(), c.issuer.oneline()))
                .collect(),
        })
        .collect()
}

/// One signature as `osslsigncode verify` prints it.
#[derive(Debug, PartialEq, Default)]
struct Verified {
    algorithm: String,
    current: String,
    calculated: String,
    subject: String,
    issuer: String,
    serial: String,
    /// The signed attributes' message digest.
    attribute_digest: String,
    /// osslsigncode flagged the calculated digest "MISMATCH!!!".
    mismatch: bool,
}

/// `osslsigncode verify` (its exit status says whether the chain verifies, which no
/// self-signed test key does: only its report is read).
fn osslsigncode_verify(path: &Path) -> Vec<Verified> {
    let out = Command::new(find_tool("osslsigncode")).arg("verify").arg("-in").arg(path).output();
    let out = out.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut sigs: Vec<Verified> = Vec::new();
    let mut signer_block = false;
    for line in text.lines() {
        let t = line.trim();
        let value = |prefix: &str| t.strip_prefix(prefix).map(|v| v.trim().to_string());
        if t.starts_with("Signature Index:") {
            sigs.push(Verified::default());
            signer_block = false;
        }
        let Some(cur) = sigs.last_mut() else { continue };
        if let Some(v) = value("Message digest algorithm  :") {
            cur.algorithm = v;
        } else if let Some(v) = value("Current message digest    :") {
            cur.current = v;
        } else if let Some(v) = value("Calculated message digest :") {
            // "<hex>     MISMATCH!!!" when the file was altered.
            cur.calculated = v.split_whitespace().next().unwrap_or_default().to_string();
            cur.mismatch = v.contains("MISMATCH");
        } else if t == "Signer's certificate:" {
            signer_block = true;
        } else if t.starts_with("Signing certificate chain") || t.starts_with("Failed signing") {
            signer_block = false;
        } else if let Some(v) = value("Subject:").filter(|_| signer_block && cur.subject.is_empty())
        {
            cur.subject = v;
        } else if let Some(v) = value("Issuer :").filter(|_| signer_block && cur.issuer.is_empty())
        {
            cur.issuer = v;
        } else if let Some(v) = value("Serial :").filter(|_| signer_block && cur.serial.is_empty())
        {
            cur.serial = v;
        } else if let Some(v) = value("Message digest:") {
            cur.attribute_digest = v;
        }
    }
    sigs
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Ours in `osslsigncode verify`'s shape, in its order (primary, then nested).
fn ours_verified(s: &Signatures, spc_digests: &[String]) -> Vec<Verified> {
    s.signatures
        .iter()
        .zip(spc_digests)
        .map(|(sig, attr)| Verified {
            algorithm: sig.digest_algorithm.to_string(),
            current: hex(&sig.digest),
            calculated: hex(&s.sha256),
            subject: sig.subject.as_ref().map(|n| n.oneline()).unwrap_or_default(),
            issuer: sig.issuer.oneline(),
            serial: sig.serial.clone(),
            attribute_digest: attr.clone(),
            mismatch: sig.digest != s.sha256,
        })
        .collect()
}

struct Files {
    _dir: tempfile::TempDir,
    /// iPXE signed by sbsign with the snakeoil key.
    sbsigned: PathBuf,
    /// That, with a nested signature by osslsigncode with a key made here.
    nested: PathBuf,
    /// The sbsigned file with one byte of its code changed after signing.
    altered: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = snakeoil_key(dir.path()).unwrap();
    let sbsigned = dir.path().join("ipxe-sbsigned.efi");
    sbsign(&key, &cert, Path::new(IPXE), &sbsigned).unwrap();
    let (key2, cert2) = (dir.path().join("k2.pem"), dir.path().join("c2.pem"));
    run_tool(
        Command::new("openssl")
            .args(["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650"])
            .args(["-subj", "/O=polyboot/CN=polyboot oracle signer", "-keyout"])
            .arg(&key2)
            .arg("-out")
            .arg(&cert2),
    )
    .unwrap();
    let nested = dir.path().join("ipxe-nested.efi");
    run_tool(
        Command::new(find_tool("osslsigncode"))
            .args(["sign", "-nest", "-h", "sha256", "-certs"])
            .arg(&cert2)
            .arg("-key")
            .arg(&key2)
            .arg("-in")
            .arg(&sbsigned)
            .arg("-out")
            .arg(&nested),
    )
    .unwrap();
    let mut bytes = std::fs::read(&sbsigned).unwrap();
    let at = authenticode::read(&bytes).unwrap().layout.sections[0].0 + 0x100;
    bytes[at] ^= 0x01;
    let altered = dir.path().join("ipxe-altered.efi");
    std::fs::write(&altered, &bytes).unwrap();
    Files { _dir: dir, sbsigned, nested, altered }
}

#[test]
fn signers_match_sbverify_list() {
    let f = files();
    let mut paths: Vec<PathBuf> = DEBIAN_SIGNED.iter().map(PathBuf::from).collect();
    paths.extend([f.sbsigned.clone(), f.nested.clone(), f.altered.clone()]);
    for p in &paths {
        let s = ours(p);
        let theirs = sbverify_list(p);
        assert!(!theirs.is_empty(), "{}: sbverify lists no signature", p.display());
        assert_eq!(ours_listed(&s), theirs, "{}", p.display());
    }
    // Microsoft's shim carries two table entries (UEFI CA 2011 and 2023).
    assert_eq!(sbverify_list(Path::new(DEBIAN_SIGNED[0])).len(), 2);
}

#[test]
fn digests_and_signers_match_osslsigncode() {
    let f = files();
    // osslsigncode reads one table entry (Microsoft's two-entry shim is "corrupted" to it):
    // MokManager, fallback and the files signed here.
    let paths = [
        PathBuf::from(DEBIAN_SIGNED[1]),
        PathBuf::from(DEBIAN_SIGNED[2]),
        f.sbsigned.clone(),
        f.nested.clone(),
    ];
    for p in &paths {
        let s = ours(p);
        let theirs = osslsigncode_verify(p);
        assert!(!theirs.is_empty(), "{}: osslsigncode reads no signature", p.display());
        let attr: Vec<String> = theirs.iter().map(|v| v.attribute_digest.clone()).collect();
        assert_eq!(ours_verified(&s, &attr), theirs, "{}", p.display());
        // The attribute digests osslsigncode prints are the ones we find consistent.
        assert!(s.signatures.iter().all(|sig| sig.content_digest_ok == Some(true)));
        assert_eq!(s.state(), State::DigestMatches, "{}", p.display());
        assert!(s.signatures.iter().all(|sig| sig.digest_algorithm == DigestAlgorithm::Sha256));
    }
    let nested = ours(&f.nested);
    let shape: Vec<usize> = nested.signatures.iter().map(|s| s.nesting).collect();
    assert_eq!(shape, [0, 1]);
    assert_eq!(
        nested.signatures[1].subject.as_ref().unwrap().to_string(),
        "CN=polyboot oracle signer, O=polyboot"
    );
    assert_eq!(
        nested.signatures[0].subject.as_ref().unwrap().to_string(),
        "O=SnakeOil, L=Fort Collins, ST=Colorado, C=US"
    );
}

#[test]
fn altered_after_signing_is_a_mismatch_for_both() {
    let f = files();
    let theirs = osslsigncode_verify(&f.altered);
    assert_eq!(theirs.len(), 1);
    assert_ne!(theirs[0].current, theirs[0].calculated, "osslsigncode sees the change");
    assert!(theirs[0].mismatch);
    let s = ours(&f.altered);
    assert_eq!(s.state(), State::DigestMismatch);
    assert_eq!(hex(&s.signatures[0].digest), theirs[0].current);
    assert_eq!(hex(&s.sha256), theirs[0].calculated);
    // Unchanged signature: the recorded digest is the original file's.
    assert_eq!(s.signatures[0].digest, ours(&f.sbsigned).sha256.to_vec());
}

#[test]
fn extracted_signature_is_the_first_table_entry() {
    let f = files();
    for p in [PathBuf::from(DEBIAN_SIGNED[1]), f.sbsigned.clone(), f.nested.clone()] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sig.der");
        run_tool(
            Command::new(find_tool("osslsigncode"))
                .args(["extract-signature", "-in"])
                .arg(&p)
                .arg("-out")
                .arg(&out),
        )
        .unwrap();
        let der = std::fs::read(&out).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let s = authenticode::read(&bytes).unwrap();
        let (at, _) = s.layout.cert_table.unwrap();
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let entry = &bytes[at + 8..at + len];
        // The entry may carry padding after its DER; the DER itself is the extracted blob.
        assert_eq!(&entry[..der.len()], &der[..], "{}", p.display());
        assert!(entry[der.len()..].iter().all(|&b| b == 0), "{}", p.display());
    }
}

#[test]
fn unsigned_images_read_as_unsigned() {
    for p in [IPXE, "/usr/lib/shim/shimx64.efi", "/usr/lib/shim/mmx64.efi"] {
        let s = ours(Path::new(p));
        assert_eq!(s.state(), State::Unsigned, "{p}");
        assert!(s.signatures.is_empty());
        // sbverify agrees: no signature table.
        let out = Command::new(find_tool("sbverify")).arg("--list").arg(p).output().unwrap();
        assert!(!String::from_utf8_lossy(&out.stdout).contains("signature 1"), "{p}");
    }
}
