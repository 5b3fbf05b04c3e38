//! Convert a raw disk image to a dynamic VHDX ([`polyboot_core::vhdx`] has the structures).
//! The payload and BAT are written first, the headers last: a file cut short has no valid
//! header and is not taken for a VHDX.

use anyhow::{Context, Result};
use polyboot_core::guid::Guid;
use polyboot_core::vhdx::{self, VhdxGeometry, VhdxIds};
use std::os::unix::fs::FileExt;
use std::path::Path;

pub fn convert(raw: &Path, out: &Path, random: [u8; 48]) -> Result<()> {
    let src = std::fs::File::open(raw).with_context(|| format!("opening {}", raw.display()))?;
    let size =
        src.metadata().with_context(|| format!("reading the size of {}", raw.display()))?.len();
    let g = VhdxGeometry::new(size, 512);
    let guid = |i: usize| Guid::from_random_bytes(random[i * 16..i * 16 + 16].try_into().unwrap());
    let ids = VhdxIds { file_write: guid(0), data_write: guid(1), disk_id: guid(2) };
    let dst = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    let mut bat = vec![0u8; g.bat_length() as usize];
    let mut next = g.payload_offset();
    let mut buf = vec![0u8; g.block_size as usize];
    for block in 0..g.data_blocks() {
        let at = block * g.block_size;
        let len = (size - at).min(g.block_size) as usize;
        // Holes of the sparse raw image are skipped without reading them.
        let hole = next_data(&src, at).is_none_or(|d| d >= at + len as u64);
        if !hole {
            buf[len..].fill(0);
            src.read_exact_at(&mut buf[..len], at)
                .with_context(|| format!("reading {} at {at}", raw.display()))?;
        }
        let entry = if hole || buf.iter().all(|&b| b == 0) {
            vhdx::bat_entry(vhdx::PAYLOAD_BLOCK_NOT_PRESENT, 0)
        } else {
            // A whole block is written (the tail of a last partial block is zeros).
            dst.write_all_at(&buf, next).with_context(|| format!("writing {}", out.display()))?;
            let e = vhdx::bat_entry(vhdx::PAYLOAD_BLOCK_FULLY_PRESENT, next);
            next += g.block_size;
            e
        };
        let i = g.bat_index(block) as usize * 8;
        bat[i..i + 8].copy_from_slice(&entry.to_le_bytes());
    }
    dst.set_len(next.max(g.payload_offset()))
        .with_context(|| format!("sizing {}", out.display()))?;
    dst.write_all_at(&bat, vhdx::BAT_OFFSET)
        .with_context(|| format!("writing the BAT of {}", out.display()))?;
    dst.sync_all().context("syncing the VHDX")?;
    for (at, bytes) in vhdx::structures(&g, &ids) {
        dst.write_all_at(&bytes, at)
            .with_context(|| format!("writing the headers of {}", out.display()))?;
    }
    dst.sync_all().context("syncing the VHDX")?;
    Ok(())
}

/// The first offset at or after `at` holding data (`SEEK_DATA`); `None` past the last data.
/// A file system without hole reporting answers `at` itself: every block is then read.
fn next_data(file: &std::fs::File, at: u64) -> Option<u64> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: lseek on an open descriptor we own; it only moves the file offset, which no
    // other code uses (all I/O here is positional).
    let r = unsafe { libc::lseek(file.as_raw_fd(), at as libc::off_t, libc::SEEK_DATA) };
    if r < 0 {
        None
    } else {
        Some(r as u64)
    }
}
