//! Secure Boot signing of what `install` and `update` put on the boot partition (issue 15).
//!
//! The chains a drive can carry ([`Chain`]):
//! - **shim** (the default): Debian's Microsoft-signed shim as `\EFI\BOOT\BOOTX64.EFI`, its
//!   MokManager beside it (`mmx64.efi`), and polyboot's boot manager as the second stage
//!   shim loads (`grubx64.efi`: shim's default loader name, `DEFAULT_LOADER` in shim.h,
//!   looked up in shim's own directory), signed with the user's key. Shim cannot verify that
//!   key until it is enrolled as a MOK, so the first boot with Secure Boot on goes to
//!   MokManager, where "Enroll key from disk" finds `\ENROLL-THIS-KEY.cer`.
//!   `fbx64.efi` is never copied: with it present shim runs the fallback instead.
//! - **polyboot**: polyboot itself, signed, as `BOOTX64.EFI`, for machines whose `db` holds
//!   the key (`--no-shim`).
//!
//! Signing is done by `sbsign` (sbsigntool) and checked at once by `sbverify`; keys and
//! certificates are handled by `openssl`. The key is never shared between users: without
//! `--sb-key`, a key is made for this user on first use in
//! `$XDG_CONFIG_HOME/polyboot/secure-boot/` (else `~/.config/...`).

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian's shim-signed: the Microsoft-signed shim and its MokManager.
pub const SHIM_DIR: &str = "/usr/lib/shim";
pub const SHIM_SIGNED: &str = "shimx64.efi.signed";
pub const MOK_MANAGER_SIGNED: &str = "mmx64.efi.signed";
/// The environment variable holding the passphrase of a `--sb-key`.
pub const KEY_PASS_ENV: &str = "POLYBOOT_SB_KEY_PASS";
pub const USER_KEY: &str = "polyboot-sb.key";
pub const USER_CERT: &str = "polyboot-sb.pem";

/// Which boot chain a drive carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chain {
    /// shim (Microsoft-signed) → polyboot (signed with the drive's key).
    Shim,
    /// polyboot (signed) alone as BOOTX64.EFI.
    Polyboot,
}

impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Chain::Shim => "shim (Microsoft-signed) → polyboot",
            Chain::Polyboot => "polyboot alone (signed)",
        })
    }
}

/// A signing certificate as `info` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    pub subject: String,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
    pub not_before: String,
    pub not_after: String,
}

/// Where the key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// The user's own key in the config directory (made on first use by `install`).
    User,
    /// `--sb-key KEY --sb-cert CERT` (PEM key, PEM or DER certificate), with the passphrase
    /// file if the key is encrypted (else `$POLYBOOT_SB_KEY_PASS`).
    Given { key: PathBuf, cert: PathBuf, pass_file: Option<PathBuf> },
}

/// `$XDG_CONFIG_HOME/polyboot/secure-boot`, else `$HOME/.config/polyboot/secure-boot`.
pub fn user_key_dir() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .context("neither $XDG_CONFIG_HOME nor $HOME is set: cannot find the Secure Boot key directory")?;
            PathBuf::from(home).join(".config")
        }
    };
    Ok(base.join("polyboot").join("secure-boot"))
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.stdin(Stdio::null()).output().with_context(|| {
        let pkg = match name.as_str() {
            "sbsign" | "sbverify" => "sbsigntool",
            other => other,
        };
        format!("{what}: cannot run {name} (Debian package {pkg})")
    })?;
    if !out.status.success() {
        bail!("{what}: {name} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(out.stdout)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Only characters that need no quoting in an OpenSSL config value or a subject.
fn sanitize(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
        .take(40)
        .collect();
    if t.is_empty() {
        "unknown".into()
    } else {
        t
    }
}

fn user_and_host() -> (String, String) {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "user".into());
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let host = if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "host".into()
    };
    (sanitize(&user), sanitize(&host))
}

/// Today (UTC) as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // Days to civil date (Howard Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}")
}

/// The user's key and certificate, made now when missing (RSA 2048, self-signed, ten years,
/// key mode 0600 in a 0700 directory). Returns (key, cert, created).
pub fn ensure_user_key() -> Result<(PathBuf, PathBuf, bool)> {
    let dir = user_key_dir()?;
    let (key, cert) = (dir.join(USER_KEY), dir.join(USER_CERT));
    if key.is_file() && cert.is_file() {
        return Ok((key, cert, false));
    }
    ensure!(
        !key.exists() && !cert.exists(),
        "{} holds only half of a Secure Boot key ({} / {}): remove it or restore the other half",
        dir.display(),
        USER_KEY,
        USER_CERT
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let (user, host) = user_and_host();
    let cn = format!("polyboot Secure Boot key of {user}@{host} {}", today());
    let config = format!(
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n\
         [dn]\nCN = {cn}\nO = polyboot\n\
         [ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = codeSigning\nsubjectKeyIdentifier = hash\n"
    );
    let tmp = tempfile::Builder::new().prefix(".new-").tempdir_in(&dir)?;
    let conf = tmp.path().join("req.cnf");
    std::fs::write(&conf, config)?;
    let (tkey, tcert) = (tmp.path().join(USER_KEY), tmp.path().join(USER_CERT));
    run_tool(
        Command::new("openssl")
            .args(["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256"])
            .args(["-days", "3650", "-config"])
            .arg(&conf)
            .arg("-keyout")
            .arg(&tkey)
            .arg("-out")
            .arg(&tcert),
        "making a Secure Boot key",
    )?;
    std::fs::set_permissions(&tkey, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tcert, &cert)?;
    std::fs::rename(&tkey, &key)?;
    Ok((key, cert, true))
}

/// A key ready to sign with: a decrypted copy of the key and the certificate in PEM, in a
/// private temporary directory removed on drop.
pub struct Signer {
    dir: tempfile::TempDir,
    key: PathBuf,
    cert_pem: PathBuf,
    pub cert_der: Vec<u8>,
    pub cert: CertInfo,
}

impl Signer {
    pub fn open(source: &KeySource) -> Result<Signer> {
        let (key, cert, pass_file) = match source {
            KeySource::User => {
                let dir = user_key_dir()?;
                (dir.join(USER_KEY), dir.join(USER_CERT), None)
            }
            KeySource::Given { key, cert, pass_file } => {
                (key.clone(), cert.clone(), pass_file.clone())
            }
        };
        for p in [&key, &cert] {
            ensure!(p.is_file(), "{} does not exist", p.display());
        }
        let dir = tempfile::Builder::new().prefix("polyboot-sign-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let plain_key = dir.path().join("key.pem");
        let passin = match (&pass_file, std::env::var_os(KEY_PASS_ENV)) {
            (Some(f), _) => format!("file:{}", f.display()),
            (None, Some(_)) => format!("env:{KEY_PASS_ENV}"),
            (None, None) => "pass:".to_string(),
        };
        run_tool(
            Command::new("openssl")
                .args(["pkey", "-in"])
                .arg(&key)
                .args(["-passin", &passin, "-out"])
                .arg(&plain_key),
            &format!(
                "reading the Secure Boot key {} (a passphrase-protected key needs --sb-key-pass-file or ${KEY_PASS_ENV})",
                key.display()
            ),
        )?;
        std::fs::set_permissions(&plain_key, std::fs::Permissions::from_mode(0o600))?;
        let cert_pem = dir.path().join("cert.pem");
        let to_pem = |inform: &str| {
            run_tool(
                Command::new("openssl")
                    .args(["x509", "-inform", inform, "-in"])
                    .arg(&cert)
                    .arg("-out")
                    .arg(&cert_pem),
                &format!("reading the certificate {}", cert.display()),
            )
        };
        to_pem("PEM").or_else(|_| to_pem("DER"))?;
        let cert_der = run_tool(
            Command::new("openssl").args(["x509", "-in"]).arg(&cert_pem).args(["-outform", "DER"]),
            "converting the certificate to DER",
        )?;
        let text = String::from_utf8_lossy(&run_tool(
            Command::new("openssl")
                .args(["x509", "-noout", "-subject", "-startdate", "-enddate"])
                .args(["-nameopt", "RFC2253", "-in"])
                .arg(&cert_pem),
            "reading the certificate",
        )?)
        .into_owned();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let info = CertInfo {
            subject: field("subject="),
            sha256: hex(&Sha256::digest(&cert_der)),
            not_before: field("notBefore="),
            not_after: field("notAfter="),
        };
        // The key must be the certificate's: compare the public keys.
        let pub_of_key = run_tool(
            Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&plain_key),
            "reading the key's public half",
        )?;
        let pub_of_cert = run_tool(
            Command::new("openssl").args(["x509", "-noout", "-pubkey", "-in"]).arg(&cert_pem),
            "reading the certificate's public key",
        )?;
        ensure!(
            pub_of_key == pub_of_cert,
            "the key {} does not belong to the certificate {} ({})",
            key.display(),
            cert.display(),
            info.subject
        );
        Ok(Signer { dir, key: plain_key, cert_pem, cert_der, cert: info })
    }

    /// Authenticode-sign a PE image (`sbsign`), then check the signature (`sbverify`).
    pub fn sign(&self, pe: &[u8]) -> Result<Vec<u8>> {
        let input = self.dir.path().join("in.efi");
        let output = self.dir.path().join("out.efi");
        std::fs::write(&input, pe)?;
        let _ = std::fs::remove_file(&output);
        run_tool(
            Command::new("sbsign")
                .arg("--key")
                .arg(&self.key)
                .arg("--cert")
                .arg(&self.cert_pem)
                .arg("--output")
                .arg(&output)
                .arg(&input),
            "signing the boot manager",
        )?;
        run_tool(
            Command::new("sbverify").arg("--cert").arg(&self.cert_pem).arg(&output),
            "checking the new signature",
        )?;
        let signed = std::fs::read(&output)?;
        let _ = std::fs::remove_file(&input);
        let _ = std::fs::remove_file(&output);
        Ok(signed)
    }
}

/// Read one of shim-signed's files.
pub fn shim_file(name: &str) -> Result<Vec<u8>> {
    let dir = std::env::var_os("POLYBOOT_SHIM_DIR").map(PathBuf::from);
    let path = dir.as_deref().unwrap_or(Path::new(SHIM_DIR)).join(name);
    std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (Debian package shim-signed; or install with --no-shim / --no-secure-boot)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_config_safe_characters_only() {
        assert_eq!(sanitize("anna"), "anna");
        assert_eq!(sanitize("a/b=c\n$d"), "a_b_c__d");
        assert_eq!(sanitize(""), "unknown");
    }

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert_eq!(t.len(), 10, "{t}");
        assert!(t.starts_with("20"), "{t}");
    }
}
