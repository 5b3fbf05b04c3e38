//! Point a file of a UDF volume at other bytes, as byte overrides of the volume (nothing is
//! written): its file entry gets new allocation descriptors and length, and the partition
//! grows to cover the new extents when they lie past its end (a region the caller serves
//! after the image, such as the virtual `boot.wim` of a Windows ISO). Every descriptor touched
//! is re-sealed (CRC and checksum, its version kept), so strict readers accept the result.
//!
//! [`rename_entries`] renames directory entries in place the same way (the Windows ISO's
//! `\boot\bootfix.bin`, hidden so that no "Press any key" prompt is shown).
//!
//! Only files on a physical partition (type 1 map: every Windows ISO, UDF 1.02) whose entry
//! holds short or long allocation descriptors or embedded data (which becomes short
//! descriptors): a metadata partition (UDF 2.50+) or extended descriptors give
//! [`UdfError::Unsupported`].

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{
    check_tag, corrupt, crc_itu, decode_cs0, read_block, read_vds, tag_checksum, Partition,
    UdfData, UdfEntry, UdfError, UdfVolume, FID_DELETED, FID_PARENT, MAX_DIR_BYTES, TAG_EFE,
    TAG_FE, TAG_FID,
};
use crate::block::ReadAt;
use crate::bytes::{le16, le32};

/// Largest extent one allocation descriptor can record (30-bit length), in whole blocks.
fn max_extent(bs: u32) -> u64 {
    ((1u64 << 30) - 1) / u64::from(bs) * u64::from(bs)
}

/// One byte override: `bytes` at byte `at` of the volume.
pub type Patch = (u64, Vec<u8>);

/// The overrides that make `entry` read `size` bytes from byte `at` of the volume (block
/// aligned, at or after its partition's start, below 2^32 blocks of it).
pub fn redirect<R: ReadAt>(
    vol: &UdfVolume,
    dev: &mut R,
    entry: &UdfEntry,
    at: u64,
    size: u64,
) -> Result<Vec<Patch>, UdfError> {
    let bs = u64::from(vol.block_size);
    let (part, lbn) = entry.icb();
    let Some(Partition::Physical { number, start, len }) = vol.partitions.get(usize::from(part))
    else {
        return Err(UdfError::Unsupported(format!(
            "redirecting a file on partition reference {part} (not a physical partition)"
        )));
    };
    if at % bs != 0 || at < *start {
        return Err(corrupt("redirect target not a block of the partition"));
    }
    let first = u32::try_from((at - start) / bs).map_err(|_| corrupt("redirect target block"))?;
    // Extents record 32-bit block numbers: every one of the file's must have one.
    if u64::from(first) + size.div_ceil(bs) > u64::from(u32::MAX) {
        return Err(corrupt("redirect target past the partition's 32-bit block numbers"));
    }

    // The file entry.
    let fe_at = start + u64::from(lbn) * bs;
    let mut d = read_block(dev, vol.block_size, fe_at / bs)?;
    let id = check_tag(&d, &[TAG_FE, TAG_EFE], Some(lbn), "file entry")?;
    let icb_flags = le16(&d, 34)?;
    let ad_type = icb_flags & 7;
    let ad_len = match ad_type {
        0 => 8usize,
        1 => 16,
        // Data embedded in the entry (small files such as boot configurations): the
        // embedded bytes give way to short descriptors of the new extents.
        3 => {
            d[34..36].copy_from_slice(&(icb_flags & !7).to_le_bytes());
            8
        }
        _ => return Err(UdfError::Unsupported(format!("redirecting allocation type {ad_type}"))),
    };
    let (l_ea_at, l_ad_at, base) = if id == TAG_FE { (168, 172, 176) } else { (208, 212, 216) };
    let ad_start = base + le32(&d, l_ea_at)? as usize;
    let max = max_extent(vol.block_size);
    let count = size.div_ceil(max) as usize;
    let end = ad_start + count * ad_len;
    if end > d.len() {
        return Err(UdfError::Unsupported(format!("{count} extents do not fit the file entry")));
    }
    let mut block = u64::from(first);
    let mut left = size;
    for i in 0..count {
        let n = left.min(max);
        let ad = &mut d[ad_start + i * ad_len..ad_start + (i + 1) * ad_len];
        ad.fill(0);
        ad[0..4].copy_from_slice(&(n as u32).to_le_bytes()); // type 0: recorded and allocated
        ad[4..8].copy_from_slice(&(block as u32).to_le_bytes());
        if ad_len == 16 {
            ad[8..10].copy_from_slice(&part.to_le_bytes());
        }
        block += n.div_ceil(bs);
        left -= n;
    }
    d[end..].fill(0);
    d[l_ad_at..l_ad_at + 4].copy_from_slice(&((count * ad_len) as u32).to_le_bytes());
    d[56..64].copy_from_slice(&size.to_le_bytes()); // information length
    let blocks = size.div_ceil(bs);
    if id == TAG_FE {
        d[64..72].copy_from_slice(&blocks.to_le_bytes()); // logical blocks recorded
    } else {
        d[64..72].copy_from_slice(&size.to_le_bytes()); // object size
        d[72..80].copy_from_slice(&blocks.to_le_bytes());
    }
    reseal(&mut d, end);
    let mut patches = alloc::vec![(fe_at, d)];

    // The partition, when the new extents reach past its end.
    let need = block;
    if need > len / bs {
        let need = u32::try_from(need).map_err(|_| corrupt("partition length"))?;
        for extent in vol.vds_extents {
            let Ok(vds) = read_vds(dev, vol.block_size, extent) else { continue };
            for &(n, _, _, _, pd_block) in &vds.pds {
                if n != *number {
                    continue;
                }
                let pd_at = u64::from(pd_block) * bs;
                let mut pd = read_block(dev, vol.block_size, u64::from(pd_block))?;
                pd[192..196].copy_from_slice(&need.to_le_bytes());
                let len = (usize::from(le16(&pd, 10)?) + 16).min(pd.len());
                reseal(&mut pd, len);
                if !patches.iter().any(|(a, _)| *a == pd_at) {
                    patches.push((pd_at, pd));
                }
            }
        }
    }
    Ok(patches)
}

/// Recompute the CRC over the descriptor's first `len` bytes and the tag checksum; the tag's
/// identifier, version and location stay.
fn reseal(d: &mut [u8], len: usize) {
    let crc_len = (len - 16) as u16;
    d[10..12].copy_from_slice(&crc_len.to_le_bytes());
    let crc = crc_itu(&d[16..len]);
    d[8..10].copy_from_slice(&crc.to_le_bytes());
    d[4] = tag_checksum(d);
}

/// A copy of the volume's anchor (block 256) as block `block` of a grown volume: strict
/// readers look for an anchor in the last block (ECMA-167 3/8.4.2.1: N - 1), which for a
/// volume served with data past its end is a block of that data's region.
pub fn relocated_anchor<R: ReadAt>(
    vol: &UdfVolume,
    dev: &mut R,
    block: u32,
) -> Result<Vec<u8>, UdfError> {
    let mut d = read_block(dev, vol.block_size, 256)?;
    check_tag(&d, &[super::TAG_AVDP], Some(256), "anchor")?;
    d[12..16].copy_from_slice(&block.to_le_bytes());
    let len = (usize::from(le16(&d, 10)?) + 16).min(d.len());
    reseal(&mut d, len);
    Ok(d)
}

/// The overrides that rename entries of the directory `dir` in place: each file identifier
/// descriptor whose name `rename` maps to a new name gets that name, encoded like the old one
/// (8 or 16 bits a character) and of the same length, and is re-sealed. Nothing moves, so a
/// renamed file is simply no longer found under its old name. Only directories whose data is in
/// recorded extents (not embedded in their ICB); a renamed descriptor must not cross extents.
pub fn rename_entries<R: ReadAt>(
    vol: &UdfVolume,
    dev: &mut R,
    dir: &UdfEntry,
    mut rename: impl FnMut(&str) -> Option<String>,
) -> Result<Vec<Patch>, UdfError> {
    if !dir.is_dir() {
        return Err(UdfError::NotADirectory);
    }
    let UdfData::Extents(extents) = &dir.data else {
        return Err(UdfError::Unsupported(format!(
            "renaming in a directory embedded in its file entry ({:?})",
            dir.name
        )));
    };
    if dir.size > MAX_DIR_BYTES {
        return Err(corrupt(format!("directory of {} bytes", dir.size)));
    }
    let mut data = alloc::vec![0u8; dir.size as usize];
    vol.read_file(dev, dir, 0, &mut data)?;
    // Byte `pos` of the directory to (offset in the image, bytes left in its extent).
    let image_offset = |pos: u64| {
        let mut start = 0u64;
        for e in extents {
            if pos < start + e.len {
                return e.recorded.then_some((e.offset + (pos - start), start + e.len - pos));
            }
            start += e.len;
        }
        None
    };
    let mut patches = Vec::new();
    let mut pos = 0usize;
    while pos + 38 <= data.len() {
        let rest = &data[pos..];
        check_tag(rest, &[TAG_FID], None, "file identifier descriptor")?;
        let l_fi = usize::from(rest[19]);
        let l_iu = usize::from(le16(rest, 36)?);
        let total = 38 + l_iu + l_fi;
        let name_at = 38 + l_iu;
        let next = pos + ((total + 3) & !3).min(rest.len());
        let old = rest
            .get(name_at..total)
            .ok_or_else(|| corrupt("file identifier beyond its directory"))?;
        let characteristics = rest[18];
        let new = match decode_cs0(old) {
            Some(name) if characteristics & (FID_DELETED | FID_PARENT) == 0 => rename(&name),
            _ => None,
        };
        if let Some(new) = new {
            let encoded =
                encode_cs0(old[0], &new).filter(|e| e.len() == old.len()).ok_or_else(|| {
                    UdfError::Unsupported(format!("{new:?}: not the old name's length"))
                })?;
            // The descriptor as its tag covers it (CRC length), the name replaced.
            let crc_len = usize::from(le16(rest, 10)?);
            let len = (16 + crc_len).max(total).min(rest.len());
            let mut d = rest[..len].to_vec();
            d[name_at..total].copy_from_slice(&encoded);
            let sealed = (16 + crc_len).min(d.len());
            reseal(&mut d, sealed);
            let (at, left) = image_offset(pos as u64)
                .ok_or_else(|| corrupt("file identifier descriptor in an unrecorded extent"))?;
            if (len as u64) > left {
                return Err(UdfError::Unsupported(String::from(
                    "renaming a file identifier descriptor that crosses extents",
                )));
            }
            patches.push((at, d));
        }
        pos = next;
    }
    Ok(patches)
}

/// `name` in OSTA CS0 with compression identifier `id` (8: one byte a character, 16: UTF-16
/// big-endian), the identifier byte first; None when a character does not fit.
fn encode_cs0(id: u8, name: &str) -> Option<Vec<u8>> {
    let mut out = alloc::vec![id];
    match id {
        8 | 254 => {
            for c in name.chars() {
                out.push(u8::try_from(u32::from(c)).ok()?);
            }
        }
        16 | 255 => {
            for u in name.encode_utf16() {
                out.extend_from_slice(&u.to_be_bytes());
            }
        }
        _ => return None,
    }
    Some(out)
}
