//! Authenticode signatures of PE/COFF images (UEFI applications and drivers): who signed an
//! image, with which digest, and whether the image still has that digest.
//!
//! [`read`] takes the whole image and returns its own Authenticode SHA-256 and every signature
//! of its certificate table (data directory 4: WIN_CERTIFICATE entries of type
//! PKCS_SIGNED_DATA, each a PKCS#7 SignedData whose content is an SpcIndirectDataContent, plus
//! the nested signatures of their unauthenticated attributes): the signer certificate's subject,
//! issuer and serial, the digest algorithm and the digest the signature records. From these a
//! caller tells "signed, digest matches" from "signed but altered after signing" from
//! "unsigned" ([`Signatures::state`]).
//!
//! What this does not do: check the RSA signature itself or a certificate chain (that is the
//! firmware's and shim's job, against db/dbx/MOK). A damaged signature is one we cannot
//! read, or whose signed attributes do not carry the digest of its content.
//!
//! Bounded: at most [`MAX_SIGNATURES`] signatures, [`MAX_CERTIFICATES`] certificates per
//! signature, nested signatures [`MAX_NESTING`] deep, a certificate table of at most
//! [`MAX_CERT_TABLE`] bytes. Every read goes through [`crate::bytes`].

pub mod der;
pub mod pe;

use crate::bytes;
use crate::sha256::Sha256;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use der::{context, Reader, INTEGER, OCTET_STRING, OID, SEQUENCE, SET};
pub use pe::PeLayout;

/// Signatures read from one image (primary and nested together).
pub const MAX_SIGNATURES: usize = 16;
/// Certificates kept per signature.
pub const MAX_CERTIFICATES: usize = 16;
/// How deep nested signatures (in unauthenticated attributes) are followed.
pub const MAX_NESTING: usize = 2;
/// Largest certificate table read (real ones are a few KiB to a few tens of KiB).
pub const MAX_CERT_TABLE: usize = 1 << 20;
/// WIN_CERTIFICATE entries read.
pub const MAX_CERT_ENTRIES: usize = 8;
/// Attributes read per distinguished name, and bytes per attribute value.
const MAX_NAME_ATTRIBUTES: usize = 32;
const MAX_NAME_VALUE: usize = 1024;

/// WIN_CERT_TYPE_PKCS_SIGNED_DATA.
pub const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;

const OID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const OID_SPC_INDIRECT_DATA: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04];
const OID_NESTED_SIGNATURE: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x04, 0x01];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticodeError {
    /// Not a PE/COFF image at all.
    NotPe(&'static str),
    /// A PE/COFF image whose headers or sections are malformed.
    Pe(&'static str),
    /// The certificate table or one of its WIN_CERTIFICATE entries is malformed.
    CertTable(&'static str),
    /// Malformed DER.
    Der(&'static str),
    /// Well-formed DER that is not the PKCS#7 / Authenticode structure expected.
    Pkcs7(&'static str),
    /// A bound of this reader was reached.
    Limit(&'static str),
}

impl fmt::Display for AuthenticodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthenticodeError::NotPe(w) => write!(f, "not a PE/COFF image: {w}"),
            AuthenticodeError::Pe(w) => write!(f, "malformed PE/COFF image: {w}"),
            AuthenticodeError::CertTable(w) => write!(f, "malformed certificate table: {w}"),
            AuthenticodeError::Der(w) => write!(f, "malformed signature (DER): {w}"),
            AuthenticodeError::Pkcs7(w) => write!(f, "malformed Authenticode signature: {w}"),
            AuthenticodeError::Limit(w) => write!(f, "signature beyond polyboot's limits: {w}"),
        }
    }
}

impl core::error::Error for AuthenticodeError {}

/// The digest algorithm a signature names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    /// Another algorithm, by its dotted OID.
    Other(String),
}

impl DigestAlgorithm {
    fn from_oid(oid: &[u8]) -> DigestAlgorithm {
        match oid {
            [0x2B, 0x0E, 0x03, 0x02, 0x1A] => DigestAlgorithm::Sha1,
            [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01] => DigestAlgorithm::Sha256,
            [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02] => DigestAlgorithm::Sha384,
            [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03] => DigestAlgorithm::Sha512,
            other => DigestAlgorithm::Other(der::oid_string(other)),
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestAlgorithm::Sha1 => f.write_str("SHA1"),
            DigestAlgorithm::Sha256 => f.write_str("SHA256"),
            DigestAlgorithm::Sha384 => f.write_str("SHA384"),
            DigestAlgorithm::Sha512 => f.write_str("SHA512"),
            DigestAlgorithm::Other(oid) => write!(f, "OID {oid}"),
        }
    }
}

/// An X.509 distinguished name, its attributes in encoded order (country first, usually).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Name {
    /// (short name as OpenSSL prints it, e.g. `CN`, `O`, `ST`; or the dotted OID) and value.
    pub attributes: Vec<(String, String)>,
}

impl Name {
    /// OpenSSL's one-line form, as `sbverify` and `osslsigncode` print it:
    /// `/C=US/O=Microsoft Corporation/CN=Microsoft UEFI CA 2023`.
    pub fn oneline(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.attributes {
            s.push('/');
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }

    /// The first common name (CN).
    pub fn common_name(&self) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == "CN").map(|(_, v)| v.as_str())
    }
}

/// The RFC 4514 order (most specific first): `CN=Microsoft UEFI CA 2023, O=Microsoft
/// Corporation, C=US`.
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.attributes.iter().rev().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// One certificate of a signature's certificate set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub subject: Name,
    pub issuer: Name,
    /// The serial number as upper-case hex without leading zero bytes (as osslsigncode
    /// prints it).
    pub serial: String,
}

/// One Authenticode signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Which WIN_CERTIFICATE entry of the table it came from (0-based).
    pub entry: usize,
    /// 0 for an entry's own signature, 1 for one nested in it, ...
    pub nesting: usize,
    /// The signer's issuer and serial (from the SignerInfo).
    pub issuer: Name,
    pub serial: String,
    /// The signer's subject, when the signer certificate is among the signature's
    /// certificates (it normally is).
    pub subject: Option<Name>,
    /// The algorithm of the image digest recorded in SpcIndirectDataContent.
    pub digest_algorithm: DigestAlgorithm,
    /// The image digest the signature records.
    pub digest: Vec<u8>,
    /// Whether the signed attributes carry the digest of the SpcIndirectDataContent (`None`
    /// when they cannot be checked: no signed attributes, or not SHA-256).
    pub content_digest_ok: Option<bool>,
    /// Every certificate the signature carries (the signer's and its intermediates).
    pub certificates: Vec<Certificate>,
}

/// Whether the image is still what was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No certificate table.
    Unsigned,
    /// Signed, and every signature's digest is the image's (all SHA-256).
    DigestMatches,
    /// Signed, but the image's digest is not the one recorded: altered after signing.
    DigestMismatch,
    /// A certificate table that cannot be read, or a signature whose signed attributes do not
    /// match its content.
    Damaged(String),
    /// Signed with a digest algorithm polyboot does not compute (SHA-1, SHA-384, ...).
    DigestNotChecked(DigestAlgorithm),
}

/// What [`read`] found in one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatures {
    pub layout: PeLayout,
    /// The image's own Authenticode SHA-256.
    pub sha256: [u8; 32],
    pub signatures: Vec<Signature>,
    /// Why the certificate table (or part of it) could not be read, when it could not.
    pub error: Option<AuthenticodeError>,
}

impl Signatures {
    pub fn is_signed(&self) -> bool {
        self.layout.cert_table.is_some()
    }

    pub fn state(&self) -> State {
        if let Some(e) = &self.error {
            return State::Damaged(e.to_string());
        }
        if !self.is_signed() {
            return State::Unsigned;
        }
        if self.signatures.is_empty() {
            return State::Damaged(String::from("a certificate table without signatures"));
        }
        if self.signatures.iter().any(|s| s.content_digest_ok == Some(false)) {
            return State::Damaged(String::from(
                "a signature's signed attributes do not match its content",
            ));
        }
        let mut unchecked = None;
        for s in &self.signatures {
            if s.digest_algorithm == DigestAlgorithm::Sha256 {
                if s.digest != self.sha256 {
                    return State::DigestMismatch;
                }
            } else {
                unchecked = Some(s.digest_algorithm.clone());
            }
        }
        match unchecked {
            // Only when no signature could be checked: one SHA-256 match is a match.
            Some(alg)
                if !self
                    .signatures
                    .iter()
                    .any(|s| s.digest_algorithm == DigestAlgorithm::Sha256) =>
            {
                State::DigestNotChecked(alg)
            }
            _ => State::DigestMatches,
        }
    }
}

/// Read the signatures of the PE image `image` and compute its Authenticode SHA-256. An
/// error means the file is no readable PE image; an unreadable certificate table is
/// [`Signatures::error`].
pub fn read(image: &[u8]) -> Result<Signatures, AuthenticodeError> {
    let layout = pe::layout(image)?;
    let sha256 = layout.sha256(image)?;
    let mut signatures = Vec::new();
    let error = match layout.cert_table {
        Some((at, size)) => read_table(image, at, size, &mut signatures).err(),
        None => None,
    };
    Ok(Signatures { layout, sha256, signatures, error })
}

/// The WIN_CERTIFICATE entries of the table at `at`.
fn read_table(
    image: &[u8],
    at: usize,
    size: usize,
    out: &mut Vec<Signature>,
) -> Result<(), AuthenticodeError> {
    if size > MAX_CERT_TABLE {
        return Err(AuthenticodeError::Limit("certificate table larger than 1 MiB"));
    }
    let table = bytes::slice(image, at, size)
        .map_err(|_| AuthenticodeError::CertTable("beyond the end of the file"))?;
    let mut off = 0usize;
    let mut entry = 0usize;
    while off < table.len() {
        if entry == MAX_CERT_ENTRIES {
            return Err(AuthenticodeError::Limit("more than 8 certificate table entries"));
        }
        let len = bytes::le32(table, off)
            .map_err(|_| AuthenticodeError::CertTable("truncated WIN_CERTIFICATE"))?
            as usize;
        let kind = bytes::le16(table, off + 6)
            .map_err(|_| AuthenticodeError::CertTable("truncated WIN_CERTIFICATE"))?;
        let body = len
            .checked_sub(8)
            .and_then(|n| bytes::slice(table, off + 8, n).ok())
            .ok_or(AuthenticodeError::CertTable("WIN_CERTIFICATE length out of range"))?;
        if kind == WIN_CERT_TYPE_PKCS_SIGNED_DATA {
            read_signed_data(body, entry, 0, out)?;
        }
        entry += 1;
        // Entries are 8-byte aligned.
        off = off
            .checked_add(len.div_ceil(8) * 8)
            .ok_or(AuthenticodeError::CertTable("WIN_CERTIFICATE length out of range"))?;
    }
    Ok(())
}

fn pkcs7(what: &'static str) -> AuthenticodeError {
    AuthenticodeError::Pkcs7(what)
}

/// One ContentInfo holding a SignedData (and its nested signatures).
fn read_signed_data(
    blob: &[u8],
    entry: usize,
    nesting: usize,
    out: &mut Vec<Signature>,
) -> Result<(), AuthenticodeError> {
    let mut ci = Reader::new(Reader::new(blob).expect(SEQUENCE, "ContentInfo")?);
    if ci.expect(OID, "ContentInfo type")? != OID_SIGNED_DATA {
        return Err(pkcs7("not a PKCS#7 SignedData"));
    }
    let explicit = ci.expect(context(0), "SignedData")?;
    let mut sd = Reader::new(Reader::new(explicit).expect(SEQUENCE, "SignedData")?);
    sd.expect(INTEGER, "SignedData version")?;
    sd.expect(SET, "digestAlgorithms")?;
    // contentInfo: SpcIndirectDataContent.
    let mut content = Reader::new(sd.expect(SEQUENCE, "contentInfo")?);
    if content.expect(OID, "contentInfo type")? != OID_SPC_INDIRECT_DATA {
        return Err(pkcs7("content is not SpcIndirectDataContent"));
    }
    let spc = Reader::new(content.expect(context(0), "SpcIndirectDataContent")?)
        .expect(SEQUENCE, "SpcIndirectDataContent")?;
    let mut spc_r = Reader::new(spc);
    spc_r.expect(SEQUENCE, "SpcAttributeTypeAndOptionalValue")?;
    let mut digest_info = Reader::new(spc_r.expect(SEQUENCE, "DigestInfo")?);
    let mut alg = Reader::new(digest_info.expect(SEQUENCE, "DigestInfo algorithm")?);
    let digest_algorithm = DigestAlgorithm::from_oid(alg.expect(OID, "digest algorithm")?);
    let digest = digest_info.expect(OCTET_STRING, "DigestInfo digest")?;
    // certificates [0] IMPLICIT SET OF Certificate.
    let mut certificates = Vec::new();
    if let Some(certs) = sd.optional(context(0))? {
        let mut r = Reader::new(certs);
        while !r.is_empty() {
            let cert = r.expect(SEQUENCE, "certificate")?;
            if certificates.len() == MAX_CERTIFICATES {
                return Err(AuthenticodeError::Limit("more than 16 certificates in a signature"));
            }
            certificates.push(read_certificate(cert)?);
        }
    }
    // crls [1] IMPLICIT: skipped.
    sd.optional(context(1))?;
    let mut signers = Reader::new(sd.expect(SET, "signerInfos")?);
    if signers.is_empty() {
        return Err(pkcs7("no SignerInfo"));
    }
    while !signers.is_empty() {
        let mut si = Reader::new(signers.expect(SEQUENCE, "SignerInfo")?);
        si.expect(INTEGER, "SignerInfo version")?;
        let (issuer_raw, serial_raw) = match si.peek_tag() {
            Some(SEQUENCE) => {
                let mut ias = Reader::new(si.expect(SEQUENCE, "issuerAndSerialNumber")?);
                let issuer = ias.raw()?;
                let serial = ias.expect(INTEGER, "serialNumber")?;
                (Some(issuer), serial)
            }
            // [0] subjectKeyIdentifier (CMS version 3): no issuer to show.
            _ => (None, si.expect(0x80, "SignerIdentifier")?),
        };
        let mut signer_alg = Reader::new(si.expect(SEQUENCE, "SignerInfo digestAlgorithm")?);
        let signer_digest = DigestAlgorithm::from_oid(signer_alg.expect(OID, "digest algorithm")?);
        let signed_attrs = si.optional(context(0))?;
        si.expect(SEQUENCE, "digestEncryptionAlgorithm")?;
        si.expect(OCTET_STRING, "encryptedDigest")?;
        let unsigned_attrs = si.optional(context(1))?;

        let content_digest_ok = match (signed_attrs, signer_digest) {
            (Some(attrs), DigestAlgorithm::Sha256) => {
                let want = Sha256::digest(spc);
                Some(attribute_values(attrs, OID_MESSAGE_DIGEST)?.iter().any(|v| {
                    Reader::new(v).expect(OCTET_STRING, "messageDigest").ok() == Some(&want[..])
                }))
            }
            _ => None,
        };
        let issuer = match issuer_raw {
            Some(raw) => read_name(raw)?,
            None => Name::default(),
        };
        let serial = serial_hex(serial_raw);
        let subject = certificates
            .iter()
            .find(|c| issuer_raw.is_some() && c.issuer == issuer && c.serial == serial)
            .map(|c| c.subject.clone());
        if out.len() == MAX_SIGNATURES {
            return Err(AuthenticodeError::Limit("more than 16 signatures"));
        }
        out.push(Signature {
            entry,
            nesting,
            issuer,
            serial,
            subject,
            digest_algorithm: digest_algorithm.clone(),
            digest: digest.to_vec(),
            content_digest_ok,
            certificates: certificates.clone(),
        });
        if let Some(attrs) = unsigned_attrs {
            let nested = attribute_values(attrs, OID_NESTED_SIGNATURE)?;
            if !nested.is_empty() && nesting == MAX_NESTING {
                return Err(AuthenticodeError::Limit("nested signatures more than 2 deep"));
            }
            for n in nested {
                read_signed_data(n, entry, nesting + 1, out)?;
            }
        }
    }
    Ok(())
}

/// The encoded values (with tag and length) of attribute `oid` in a SET OF Attribute.
fn attribute_values<'a>(attrs: &'a [u8], oid: &[u8]) -> Result<Vec<&'a [u8]>, AuthenticodeError> {
    let mut out = Vec::new();
    let mut r = Reader::new(attrs);
    while !r.is_empty() {
        let mut a = Reader::new(r.expect(SEQUENCE, "Attribute")?);
        let id = a.expect(OID, "Attribute type")?;
        let values = a.expect(SET, "Attribute values")?;
        if id == oid {
            let mut v = Reader::new(values);
            while !v.is_empty() {
                if out.len() == MAX_SIGNATURES {
                    return Err(AuthenticodeError::Limit("too many attribute values"));
                }
                out.push(v.raw()?);
            }
        }
    }
    Ok(out)
}

/// Subject, issuer and serial of a Certificate's contents.
fn read_certificate(cert: &[u8]) -> Result<Certificate, AuthenticodeError> {
    let mut tbs = Reader::new(Reader::new(cert).expect(SEQUENCE, "tbsCertificate")?);
    tbs.optional(context(0))?;
    let serial = serial_hex(tbs.expect(INTEGER, "certificate serialNumber")?);
    tbs.expect(SEQUENCE, "certificate signature algorithm")?;
    let issuer = read_name(tbs.raw()?)?;
    tbs.expect(SEQUENCE, "certificate validity")?;
    let subject = read_name(tbs.raw()?)?;
    Ok(Certificate { subject, issuer, serial })
}

/// A serial number as osslsigncode prints it: upper-case hex without the leading zero bytes
/// of its DER encoding.
fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len().saturating_sub(1));
    der::hex_upper(raw.get(start..).unwrap_or(raw))
}

/// A Name (SEQUENCE OF RelativeDistinguishedName), given with its tag and length.
fn read_name(raw: &[u8]) -> Result<Name, AuthenticodeError> {
    let mut rdns = Reader::new(Reader::new(raw).expect(SEQUENCE, "Name")?);
    let mut name = Name::default();
    while !rdns.is_empty() {
        let mut set = Reader::new(rdns.expect(SET, "RelativeDistinguishedName")?);
        while !set.is_empty() {
            let mut atv = Reader::new(set.expect(SEQUENCE, "AttributeTypeAndValue")?);
            let oid = atv.expect(OID, "attribute type")?;
            let value = atv.any()?;
            if name.attributes.len() == MAX_NAME_ATTRIBUTES {
                return Err(AuthenticodeError::Limit("more than 32 attributes in a name"));
            }
            if value.value.len() > MAX_NAME_VALUE {
                return Err(AuthenticodeError::Limit("name attribute longer than 1 KiB"));
            }
            name.attributes.push((attribute_name(oid), string_value(value.tag, value.value)));
        }
    }
    Ok(name)
}

fn attribute_name(oid: &[u8]) -> String {
    let short = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x04] => "SN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0A] => "O",
        [0x55, 0x04, 0x0B] => "OU",
        [0x55, 0x04, 0x0C] => "title",
        [0x55, 0x04, 0x2A] => "GN",
        [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x01] => "UID",
        other => return der::oid_string(other),
    };
    String::from(short)
}

/// A directory string as text: UTF8String, PrintableString, IA5String, T61String (read as
/// Latin-1), BMPString (UTF-16BE); anything else as `#` and hex.
fn string_value(tag: u8, v: &[u8]) -> String {
    match tag {
        0x0C | 0x13 | 0x16 => String::from_utf8_lossy(v).into_owned(),
        0x14 => v.iter().map(|&b| char::from(b)).collect(),
        0x1E => char::decode_utf16(bytes::utf16be_units(v))
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
        _ => {
            let mut s = String::from("#");
            s.push_str(&der::hex_upper(v));
            s
        }
    }
}

#[cfg(test)]
mod tests;
