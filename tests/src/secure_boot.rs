//! Secure Boot test keys and variable stores: a MOK made for one test and an OVMF variable
//! store in which that MOK is already enrolled (what MokManager leaves after "Enroll key from
//! disk"), so a test can start a shim-chained drive without the enrollment keystrokes.

use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// shim's vendor GUID (`MokList` and the SHIM_LOCK protocol).
pub const SHIM_LOCK_GUID: &str = "605dab50-e046-4300-abb6-3dd810dd8b23";
/// `EFI_CERT_X509_GUID`: a signature list of DER certificates.
pub const EFI_CERT_X509_GUID: &str = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072";

/// A key pair made for one test (`openssl req`, RSA 2048, valid two days).
pub struct Mok {
    pub key: PathBuf,
    /// The certificate, PEM (what `polyboot install --sb-cert` and `sbsign` take).
    pub cert: PathBuf,
    /// The certificate, DER (what `MokList` holds).
    pub der: Vec<u8>,
}

/// A new MOK key pair in `dir` whose certificate's subject is `CN=<common_name>`.
pub fn new_mok(dir: &Path, common_name: &str) -> Result<Mok> {
    let (key, cert) = (dir.join("mok.key"), dir.join("mok.pem"));
    crate::run_tool(
        Command::new("openssl")
            .args(["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
            .arg("-subj")
            .arg(format!("/CN={common_name}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    )?;
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert)
        .output()
        .context("cannot run openssl")?;
    ensure!(der.status.success(), "openssl x509 -outform DER failed");
    Ok(Mok { key, cert, der: der.stdout })
}

/// GUIDs as EFI lays them out: the first three fields little-endian.
pub fn guid_bytes(text: &str) -> [u8; 16] {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let b: Vec<u8> =
        (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    let mut g = [0u8; 16];
    g[..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
    g[4..6].copy_from_slice(&[b[5], b[4]]);
    g[6..8].copy_from_slice(&[b[7], b[6]]);
    g[8..].copy_from_slice(&b[8..]);
    g
}

/// A copy of the OVMF variable store `from` with `MokList` (non-volatile, boot-services only,
/// shim's GUID) holding the DER certificate `cert`: what MokManager leaves after enrolling it.
/// The edk2 store: firmware volume header, variable store header, then authenticated variable
/// headers (60 bytes: StartId 0x55AA, State, Attributes, ..., NameSize at 36, DataSize at 40,
/// VendorGuid at 44), name, data, each variable 4-byte aligned; the first StartId that is not
/// 0x55AA ends the list.
pub fn ovmf_vars_with_mok(from: &str, cert: &[u8], to: &Path) -> Result<()> {
    let mut store = std::fs::read(from).with_context(|| format!("cannot read {from}"))?;
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let mut at = 0x64; // 0x48 of volume header + 0x1c of variable store header
    while store[at..at + 2] == [0xAA, 0x55] {
        at = (at + 60 + le32(&store, at + 36) + le32(&store, at + 40) + 3) & !3;
    }
    let name: Vec<u8> = "MokList\0".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let mut data = guid_bytes(EFI_CERT_X509_GUID).to_vec();
    data.extend_from_slice(&((28 + 16 + cert.len()) as u32).to_le_bytes());
    data.extend_from_slice(&0u32.to_le_bytes());
    data.extend_from_slice(&((16 + cert.len()) as u32).to_le_bytes());
    data.extend_from_slice(&guid_bytes(SHIM_LOCK_GUID));
    data.extend_from_slice(cert);
    let mut var = vec![0xAA, 0x55, 0x3F, 0]; // StartId, State VAR_ADDED, reserved
    var.extend_from_slice(&3u32.to_le_bytes()); // NON_VOLATILE | BOOTSERVICE_ACCESS
    var.extend_from_slice(&[0u8; 8 + 16 + 4]); // MonotonicCount, TimeStamp, PubKeyIndex
    var.extend_from_slice(&(name.len() as u32).to_le_bytes());
    var.extend_from_slice(&(data.len() as u32).to_le_bytes());
    var.extend_from_slice(&guid_bytes(SHIM_LOCK_GUID));
    var.extend_from_slice(&name);
    var.extend_from_slice(&data);
    ensure!(
        store.len() >= at + var.len() && store[at..at + var.len()].iter().all(|b| *b == 0xFF),
        "no room for MokList in {from}"
    );
    store[at..at + var.len()].copy_from_slice(&var);
    std::fs::write(to, store).with_context(|| format!("cannot write {}", to.display()))
}
