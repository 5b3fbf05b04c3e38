//! A minimal PE32+ image (headers in 0x200 bytes, one 0x200-byte section) that a certificate
//! table can be appended to: the `authenticode` target wraps PKCS#7 inputs in it, and seedgen
//! builds its seeds with it.

/// Offset of the certificate-table data-directory entry in [`image`].
pub const CERT_DIR: usize = 0x44 + 20 + 112 + 32;
/// Length of [`image`]; the certificate table starts here.
pub const LEN: usize = 0x400;

pub fn image() -> Vec<u8> {
    let mut img = vec![0u8; LEN];
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
    img[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
    let sec = opt + 0xF0;
    img[sec..sec + 5].copy_from_slice(b".text");
    img[sec + 16..sec + 20].copy_from_slice(&0x200u32.to_le_bytes());
    img[sec + 20..sec + 24].copy_from_slice(&0x200u32.to_le_bytes());
    img
}

/// [`image`] with `table` (WIN_CERTIFICATE entries) as its certificate table.
pub fn with_table(table: &[u8]) -> Vec<u8> {
    let mut img = image();
    img.extend_from_slice(table);
    img[CERT_DIR..CERT_DIR + 4].copy_from_slice(&(LEN as u32).to_le_bytes());
    img[CERT_DIR + 4..CERT_DIR + 8].copy_from_slice(&(table.len() as u32).to_le_bytes());
    img
}

/// One WIN_CERTIFICATE entry (revision 2.0, PKCS_SIGNED_DATA) holding `pkcs7`, padded to 8.
pub fn entry(pkcs7: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(pkcs7.len() + 16);
    e.extend(((pkcs7.len() + 8) as u32).to_le_bytes());
    e.extend(0x0200u16.to_le_bytes());
    e.extend(0x0002u16.to_le_bytes());
    e.extend_from_slice(pkcs7);
    e.resize(e.len().div_ceil(8) * 8, 0);
    e
}
