//! A virtual WIM in which one file of one image (WinPE's shell, `winpeshl.exe`) holds other
//! bytes: what polyboot serves as `boot.wim` so that WinPE starts its jump program, which
//! then mounts the ISO and runs the original shell. Nothing is written to the WIM: the
//! result is the original file with a new header over its first 208 bytes and new bytes
//! appended after its end (the replacement blob, the image's metadata with the file's hash
//! changed, stored uncompressed, and a new lookup table).
//!
//! The file's dentry keeps its length (only its 20-byte hash changes, and its hard-link group
//! is cleared so that the other names of the original file keep the original data), so the
//! tree needs no re-layout. The original blob stays where it is, still referenced by any other
//! image. The integrity table is dropped (it covers bytes that changed).

use alloc::string::String;
use alloc::vec::Vec;

use super::blob_table::{metadata_entry, read_blob_table, BlobEntry};
use super::metadata::find_file;
use super::resource::read_resource;
use super::{read_header, reshdr_flags, ResourceHeader, WimError, HEADER_SIZE};
use crate::block::ReadAt;
use crate::sha1::sha1;

/// Where WinPE's shell lives in its image.
pub const WINPE_SHELL: &str = "/Windows/System32/winpeshl.exe";
/// Largest original file carried (WinPE's shell is about 100 KiB).
pub const MAX_ORIGINAL_FILE: u64 = 64 << 20;

/// The planned virtual WIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WimPatch {
    /// Served over bytes `0..208` of the file.
    pub header: [u8; HEADER_SIZE],
    /// Size of the original file; [`WimPatch::appended`] follows it.
    pub original_size: u64,
    pub appended: Vec<u8>,
    /// The 1-based image that was changed.
    pub image: u32,
    /// The bytes the file held before (the jump program carries them).
    pub original_file: Vec<u8>,
    /// The file replaced (`/`-separated, as given).
    pub path: String,
}

impl WimPatch {
    /// Size of the virtual file.
    pub fn size(&self) -> u64 {
        self.original_size + self.appended.len() as u64
    }
}

/// Plan the virtual WIM in which `path` of image `image` (1-based; 0 = the boot image, or 1
/// when none is marked) holds what `replacement` makes of the bytes it held before (the jump
/// program carries them); `original_file` of the result holds those bytes. The image's
/// metadata is read into memory (twice: as read, then in the appended bytes) up to
/// `max_metadata` bytes; a larger one is refused (the BIOS boot code has a small heap).
pub fn replace_file<D: ReadAt + ?Sized>(
    dev: &mut D,
    image: u32,
    path: &str,
    max_metadata: u64,
    replacement: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<WimPatch, WimError> {
    replace_chosen_file(dev, image, |_| String::from(path), max_metadata, replacement)
}

/// Reads a file of the image being patched: `(path, at most this many bytes)`; `Ok(None)`
/// when the image has no such file (or an empty one).
pub type ImageFileReader<'a> = dyn FnMut(&str, u64) -> Result<Option<Vec<u8>>, WimError> + 'a;

/// [`replace_file`] for a path that `choose` picks from the image's own files (WinPE's shell
/// is named by the image's SYSTEM hive): it gets a reader of the image's files. The patch
/// records the path chosen ([`WimPatch::path`]).
pub fn replace_chosen_file<D: ReadAt + ?Sized>(
    dev: &mut D,
    image: u32,
    choose: impl FnOnce(&mut ImageFileReader<'_>) -> String,
    max_metadata: u64,
    replacement: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<WimPatch, WimError> {
    let hdr = read_header(dev)?;
    if hdr.pipable {
        return Err(WimError::CannotPatch("pipable WIMs (wimlib's streaming format)"));
    }
    if hdr.is_split() {
        return Err(WimError::CannotPatch("split WIMs (.swm)"));
    }
    let image = match image {
        0 if hdr.boot_index != 0 => hdr.boot_index,
        0 => 1,
        n => n,
    };
    if image > hdr.image_count {
        return Err(WimError::BadImageIndex);
    }
    let mut entries = read_blob_table(dev, &hdr)?;
    let meta_entry = *metadata_entry(&entries, image).ok_or(WimError::BadImageIndex)?;
    let mut meta = read_resource(dev, &hdr, &meta_entry.resource, "image metadata", max_metadata)?;
    let path = {
        let mut read = |path: &str, max: u64| -> Result<Option<Vec<u8>>, WimError> {
            let found = match find_file(&meta, path) {
                Ok(f) => f,
                Err(WimError::NotInImage(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            let Some(e) = entries.iter().find(|e| e.hash == found.hash && !e.is_metadata()) else {
                return Ok(None);
            };
            let data = read_resource(&mut *dev, &hdr, &e.resource, "image file", max)?;
            Ok((!data.is_empty()).then_some(data))
        };
        choose(&mut read)
    };
    let found = find_file(&meta, &path)?;

    let old = entries.iter().position(|e| e.hash == found.hash && !e.is_metadata());
    let original_file = match old {
        Some(i) => {
            let res = entries[i].resource;
            read_resource(dev, &hdr, &res, "original file", MAX_ORIGINAL_FILE)?
        }
        // An empty file has an all-zero hash and no entry.
        None if found.hash == [0; 20] => Vec::new(),
        None => return Err(WimError::MissingBlob),
    };

    let replacement = replacement(&original_file);
    let replacement = replacement.as_slice();
    // The image's new metadata.
    let new_hash = sha1(replacement);
    meta[found.hash_offset..found.hash_offset + 20].copy_from_slice(&new_hash);
    if let Some(at) = found.hard_link_offset {
        meta[at..at + 8].fill(0);
    }

    let original_size = dev.size();
    let mut appended = Vec::new();
    let mut table: Vec<BlobEntry> = Vec::with_capacity(entries.len() + 1);
    if let Some(i) = old {
        // One reference fewer; an entry nobody names any more is dropped.
        entries[i].ref_count = entries[i].ref_count.saturating_sub(1);
    }
    let new_blob = if let Some(e) = entries.iter_mut().find(|e| e.hash == new_hash) {
        e.ref_count = e.ref_count.saturating_add(1);
        None
    } else {
        let at = original_size;
        appended.extend_from_slice(replacement);
        Some(BlobEntry {
            resource: uncompressed(at, replacement.len() as u64, 0),
            part_number: 1,
            ref_count: 1,
            hash: new_hash,
        })
    };
    let meta_resource = uncompressed(
        original_size + appended.len() as u64,
        meta.len() as u64,
        reshdr_flags::METADATA,
    );
    appended.extend_from_slice(&meta);
    let mut meta_seen = 0u32;
    for e in &entries {
        if e.is_metadata() {
            meta_seen += 1;
            if meta_seen == image {
                // Same place in the table: image order is the order of metadata entries.
                table.push(BlobEntry { resource: meta_resource, hash: sha1(&meta), ..*e });
                continue;
            }
        } else if e.ref_count == 0 && Some(e.hash) == old.map(|i| entries[i].hash) {
            continue;
        }
        table.push(*e);
    }
    table.extend(new_blob);

    let table_at = original_size + appended.len() as u64;
    let table_len = (table.len() * super::BLOB_TABLE_ENTRY_SIZE) as u64;
    for e in &table {
        appended.extend_from_slice(&e.encode());
    }

    let mut header = [0u8; HEADER_SIZE];
    dev.read_at(0, &mut header)?;
    let table_resource =
        ResourceHeader { flags: hdr.blob_table.flags, ..uncompressed(table_at, table_len, 0) };
    header[48..72].copy_from_slice(&table_resource.encode());
    if hdr.boot_index == image {
        header[96..120].copy_from_slice(&meta_resource.encode());
    }
    header[124..148].fill(0); // integrity table
    Ok(WimPatch { header, original_size, appended, image, original_file, path })
}

fn uncompressed(offset: u64, len: u64, flags: u8) -> ResourceHeader {
    ResourceHeader { size_in_wim: len, flags, offset, original_size: len }
}
