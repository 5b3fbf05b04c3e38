//! One resource's bytes, decompressed: what a metadata resource or a file's blob holds.
//!
//! A compressed (non-solid) resource starts with its chunk table: for N chunks of the header's
//! chunk size (the last one shorter), N - 1 offsets of chunks 2..N from the end of the table,
//! 4 bytes each (8 when the uncompressed size exceeds 4 GiB). A chunk whose stored size equals
//! its uncompressed size is stored as it is. XPRESS and LZX chunks are decompressed here; LZMS
//! and solid resources (ESD) are refused.

use alloc::vec;
use alloc::vec::Vec;

use super::{Compression, ResourceHeader, WimError, WimHeader};
use crate::block::ReadAt;
use crate::compress::{lzx, xpress};

/// Uncompressed size read into memory at most (an image's metadata: Windows 11's `boot.wim`
/// Setup image has about 20 MiB).
pub const MAX_RESOURCE_BYTES: u64 = 256 << 20;

/// The uncompressed bytes of `res` in the file on `dev` whose header is `hdr`, refused above
/// `limit` bytes.
pub fn read_resource<D: ReadAt + ?Sized>(
    dev: &mut D,
    hdr: &WimHeader,
    res: &ResourceHeader,
    what: &'static str,
    limit: u64,
) -> Result<Vec<u8>, WimError> {
    let limit = limit.min(MAX_RESOURCE_BYTES);
    if res.original_size > limit {
        return Err(WimError::ResourceTooLarge { what, size: res.original_size, limit });
    }
    if res.is_solid() {
        return Err(WimError::CannotPatch("solid resources (ESD) are not supported"));
    }
    let size = dev.size();
    let end = res.end().unwrap_or(u64::MAX);
    if end > size {
        return Err(WimError::Truncated { what, end, size });
    }
    let mut out = vec![0u8; res.original_size as usize];
    if !res.is_compressed() {
        if res.size_in_wim != res.original_size {
            return Err(WimError::BadChunk("of an uncompressed resource has the wrong size"));
        }
        dev.read_at(res.offset, &mut out)?;
        return Ok(out);
    }
    let chunk = u64::from(hdr.chunk_size);
    if hdr.compression == Compression::Lzms {
        return Err(WimError::CannotPatch("LZMS compression is not supported"));
    }
    if hdr.compression == Compression::None || chunk == 0 {
        return Err(WimError::BadChunk("is in a WIM without compression"));
    }
    let chunks = res.original_size.div_ceil(chunk);
    let entry = if res.original_size > u64::from(u32::MAX) { 8 } else { 4 };
    let table_len = chunks.saturating_sub(1) * entry;
    if table_len > res.size_in_wim {
        return Err(WimError::BadChunk("table is larger than its resource"));
    }
    let mut table = vec![0u8; table_len as usize];
    dev.read_at(res.offset, &mut table)?;
    let data_len = res.size_in_wim - table_len;
    let start_of = |i: u64| -> u64 {
        if i == 0 {
            return 0;
        }
        let at = ((i - 1) * entry) as usize;
        if entry == 8 {
            crate::bytes::le64(&table, at).unwrap_or(u64::MAX)
        } else {
            crate::bytes::le32(&table, at).map_or(u64::MAX, u64::from)
        }
    };
    let mut input = Vec::new();
    for i in 0..chunks {
        let (start, stop) = (start_of(i), if i + 1 == chunks { data_len } else { start_of(i + 1) });
        if start > stop || stop > data_len {
            return Err(WimError::BadChunk("table entry lies outside the resource"));
        }
        let out_at = i * chunk;
        let out_len = chunk.min(res.original_size - out_at);
        let stored = stop - start;
        if stored > out_len {
            return Err(WimError::BadChunk("is larger than the data it holds"));
        }
        let dst = &mut out[out_at as usize..(out_at + out_len) as usize];
        let from = res.offset + table_len + start;
        if stored == out_len {
            dev.read_at(from, dst)?;
            continue;
        }
        input.resize(stored as usize, 0);
        dev.read_at(from, &mut input)?;
        let done = match hdr.compression {
            Compression::Xpress => xpress::decompress(&input, dst),
            _ => lzx::decompress(&input, dst, hdr.chunk_size as usize),
        };
        done.map_err(|_| WimError::BadChunk("does not decompress"))?;
    }
    Ok(out)
}
