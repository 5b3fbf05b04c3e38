//! The PE/COFF fields Authenticode needs: where the checksum and the certificate-table
//! directory entry lie, the headers' size, the sections' raw data, the certificate table;
//! and the image's own Authenticode digest over them.

use super::AuthenticodeError;
use crate::bytes;
use crate::sha256::Sha256;
use alloc::vec::Vec;

/// Sections the digest walks (the PE specification's loader limit).
pub const MAX_SECTIONS: usize = 96;

/// Where the Authenticode digest's pieces lie in one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeLayout {
    /// PE32+ (64-bit) rather than PE32.
    pub pe32_plus: bool,
    /// COFF machine (0x8664 x86-64, 0x14C i386, 0xAA64 AArch64, ...).
    pub machine: u16,
    /// Offset of the optional header's CheckSum field.
    pub checksum_at: usize,
    /// Offset of the certificate-table data-directory entry, when the image has one.
    pub cert_dir_at: Option<usize>,
    /// SizeOfHeaders.
    pub size_of_headers: usize,
    /// (PointerToRawData, SizeOfRawData) of each section with raw data, sorted by offset.
    pub sections: Vec<(usize, usize)>,
    /// The certificate table (file offset, size), when the directory entry names one.
    pub cert_table: Option<(usize, usize)>,
}

fn pe_err(what: &'static str) -> impl Fn(bytes::OutOfBounds) -> AuthenticodeError {
    move |_| AuthenticodeError::Pe(what)
}

/// Read the PE/COFF headers of `image`.
pub fn layout(image: &[u8]) -> Result<PeLayout, AuthenticodeError> {
    if bytes::slice(image, 0, 2) != Ok(b"MZ") {
        return Err(AuthenticodeError::NotPe("no MZ header"));
    }
    let pe = bytes::le32(image, 0x3C)
        .map_err(|_| AuthenticodeError::NotPe("truncated MZ header"))? as usize;
    if bytes::slice(image, pe, 4) != Ok(b"PE\0\0") {
        return Err(AuthenticodeError::NotPe("no PE signature"));
    }
    let coff = pe + 4;
    let machine = bytes::le16(image, coff).map_err(pe_err("truncated COFF header"))?;
    let sections =
        usize::from(bytes::le16(image, coff + 2).map_err(pe_err("truncated COFF header"))?);
    let opt_size =
        usize::from(bytes::le16(image, coff + 16).map_err(pe_err("truncated COFF header"))?);
    let opt = coff + 20;
    let magic = bytes::le16(image, opt).map_err(pe_err("no optional header"))?;
    let pe32_plus = match magic {
        0x10B => false,
        0x20B => true,
        _ => return Err(AuthenticodeError::Pe("unknown optional header magic")),
    };
    let (count_at, dirs_at) = if pe32_plus { (108, 112) } else { (92, 96) };
    if opt_size < dirs_at {
        return Err(AuthenticodeError::Pe("optional header too small"));
    }
    let checksum_at = opt + 64;
    let size_of_headers =
        bytes::le32(image, opt + 60).map_err(pe_err("truncated optional header"))? as usize;
    let dir_count =
        bytes::le32(image, opt + count_at).map_err(pe_err("truncated optional header"))?;
    // Entry 4, the certificate table, when the header has room for it.
    let cert_dir = opt + dirs_at + 4 * 8;
    let cert_dir_at = (dir_count > 4 && cert_dir + 8 <= opt + opt_size).then_some(cert_dir);
    if size_of_headers > image.len() {
        return Err(AuthenticodeError::Pe("SizeOfHeaders beyond the end of the file"));
    }
    if checksum_at + 4 > size_of_headers || cert_dir_at.is_some_and(|d| d + 8 > size_of_headers) {
        return Err(AuthenticodeError::Pe("headers larger than SizeOfHeaders"));
    }
    if sections > MAX_SECTIONS {
        return Err(AuthenticodeError::Limit("more than 96 sections"));
    }
    let table = opt + opt_size;
    let mut raw = Vec::with_capacity(sections);
    for i in 0..sections {
        let s =
            bytes::chunk::<40>(image, table + i * 40).map_err(pe_err("truncated section table"))?;
        let size =
            u32::from_le_bytes(bytes::array(s, 16).map_err(pe_err("section header"))?) as usize;
        let at =
            u32::from_le_bytes(bytes::array(s, 20).map_err(pe_err("section header"))?) as usize;
        if size == 0 {
            continue;
        }
        if at.checked_add(size).is_none_or(|end| end > image.len()) {
            return Err(AuthenticodeError::Pe("section data beyond the end of the file"));
        }
        raw.push((at, size));
    }
    raw.sort_unstable();
    let cert_table = match cert_dir_at {
        Some(d) => {
            let at = bytes::le32(image, d).map_err(pe_err("certificate directory"))? as usize;
            let size = bytes::le32(image, d + 4).map_err(pe_err("certificate directory"))? as usize;
            if size == 0 {
                None
            } else if at.checked_add(size).is_none_or(|end| end > image.len()) {
                return Err(AuthenticodeError::CertTable("beyond the end of the file"));
            } else {
                Some((at, size))
            }
        }
        None => None,
    };
    Ok(PeLayout {
        pe32_plus,
        machine,
        checksum_at,
        cert_dir_at,
        size_of_headers,
        sections: raw,
        cert_table,
    })
}

impl PeLayout {
    /// The image's Authenticode SHA-256, as the firmware (EDK2's image verification) and shim
    /// compute it: the headers without the checksum and the certificate-table entry, each
    /// section's raw data in file order, then whatever follows up to the certificate table.
    pub fn sha256(&self, image: &[u8]) -> Result<[u8; 32], AuthenticodeError> {
        let mut h = Sha256::new();
        let mut piece = |from: usize, to: usize| -> Result<(), AuthenticodeError> {
            let len = to.checked_sub(from).ok_or(AuthenticodeError::Pe("overlapping headers"))?;
            h.update(bytes::slice(image, from, len).map_err(pe_err("digest range"))?);
            Ok(())
        };
        piece(0, self.checksum_at)?;
        match self.cert_dir_at {
            Some(d) => {
                piece(self.checksum_at + 4, d)?;
                piece(d + 8, self.size_of_headers)?;
            }
            None => piece(self.checksum_at + 4, self.size_of_headers)?,
        }
        let mut hashed = self.size_of_headers;
        for &(at, size) in &self.sections {
            piece(at, at + size)?;
            hashed = hashed.saturating_add(size);
        }
        let cert_size = self.cert_table.map_or(0, |(_, s)| s);
        if image.len() > hashed {
            let end = image
                .len()
                .checked_sub(cert_size)
                .filter(|&e| e >= hashed)
                .ok_or(AuthenticodeError::Pe("sections overlap the certificate table"))?;
            piece(hashed, end)?;
        }
        Ok(h.finalize())
    }
}
