//! The drive polyboot was loaded from, read through the firmware's BlockIO protocol.

use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use polyboot_core::block::{check_range, IoError, ReadAt};
use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams, ScopedProtocol};
use uefi::proto::device_path::{DevicePath, DeviceSubType, DeviceType};
use uefi::proto::loaded_image::LoadedImage;
use uefi::proto::media::block::BlockIO;
use uefi::Handle;

/// A heap buffer aligned for DMA as the block device asks (IoAlign).
pub struct AlignedBuf {
    ptr: *mut u8,
    layout: Layout,
}

impl AlignedBuf {
    pub fn new(len: usize, align: usize) -> AlignedBuf {
        let layout = Layout::from_size_align(len.max(1), align.max(8).next_power_of_two())
            .expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        AlignedBuf { ptr, layout }
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: ptr is valid for layout.size() bytes and uniquely owned.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { core::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in new().
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Bytes of each read-ahead window for small reads (directory entries, FAT blocks, headers).
const CACHE_BYTES: usize = 64 * 1024;
/// Windows kept: directory clusters stay cached while the headers of many images are probed.
const CACHE_WINDOWS: usize = 8;
/// Largest single BlockIO transfer we issue for big reads.
const MAX_TRANSFER: usize = 1024 * 1024;

/// One cached run of blocks.
struct Window {
    buf: AlignedBuf,
    /// Byte offset on the disk, and how many bytes are valid.
    at: u64,
    len: usize,
}

/// A whole disk as a byte-addressed device. Counts what it reads, for the scan statistics.
pub struct FirmwareDisk {
    bio: ScopedProtocol<BlockIO>,
    media_id: u32,
    block_size: u64,
    size: u64,
    /// Least recently used first.
    windows: Vec<Window>,
    bounce: AlignedBuf,
    pub sectors_read: u64,
    pub read_calls: u64,
}

impl FirmwareDisk {
    pub fn open(handle: Handle) -> Result<FirmwareDisk, String> {
        // GetProtocol: the firmware's own drivers keep using the disk; an exclusive open would
        // disconnect them.
        let bio = unsafe {
            boot::open_protocol::<BlockIO>(
                OpenProtocolParams { handle, agent: boot::image_handle(), controller: None },
                OpenProtocolAttributes::GetProtocol,
            )
        }
        .map_err(|e| alloc::format!("cannot open BlockIO: {e:?}"))?;
        let media = bio.media();
        if !media.is_media_present() {
            return Err("no medium in the boot drive".to_string());
        }
        let block_size = media.block_size() as u64;
        let size = (media.last_block() + 1) * block_size;
        let align = media.io_align().max(1) as usize;
        let media_id = media.media_id();
        Ok(FirmwareDisk {
            bio,
            media_id,
            block_size,
            size,
            windows: (0..CACHE_WINDOWS)
                .map(|_| Window { buf: AlignedBuf::new(CACHE_BYTES, align), at: 0, len: 0 })
                .collect(),
            bounce: AlignedBuf::new(MAX_TRANSFER, align),
            sectors_read: 0,
            read_calls: 0,
        })
    }

    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Read `len` bytes of whole blocks at `lba` into the bounce buffer, or into window `slot`.
    fn read_blocks_into(
        &mut self,
        lba: u64,
        slot: Option<usize>,
        len: usize,
    ) -> Result<(), IoError> {
        self.read_calls += 1;
        self.sectors_read += len as u64 / self.block_size;
        let media_id = self.media_id;
        let buf = match slot {
            None => &mut self.bounce.as_mut_slice()[..len],
            Some(i) => &mut self.windows[i].buf.as_mut_slice()[..len],
        };
        self.bio.read_blocks(media_id, lba, buf).map_err(|e| {
            IoError::Device(alloc::format!(
                "BlockIO read of {len} bytes at LBA {lba}: {:?}",
                e.status()
            ))
        })
    }
}

impl ReadAt for FirmwareDisk {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.size)?;
        let bs = self.block_size;
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let want = buf.len() - done;
            // Served from a cached window? (Move it to the most recently used end.)
            if let Some(i) =
                self.windows.iter().position(|w| pos >= w.at && pos < w.at + w.len as u64)
            {
                let w = self.windows.remove(i);
                let from = (pos - w.at) as usize;
                let n = want.min(w.len - from);
                buf[done..done + n].copy_from_slice(&w.buf.as_slice()[from..from + n]);
                self.windows.push(w);
                done += n;
                continue;
            }
            if pos.is_multiple_of(bs) && want as u64 >= bs * 8 {
                // Big aligned read: whole blocks through the bounce buffer, no caching.
                let n = (want - want % bs as usize).min(MAX_TRANSFER);
                self.read_blocks_into(pos / bs, None, n)?;
                buf[done..done + n].copy_from_slice(&self.bounce.as_slice()[..n]);
                done += n;
                continue;
            }
            // Small or unaligned: refill the least recently used window from the containing block.
            let start = pos - pos % bs;
            let len = (CACHE_BYTES as u64).min(self.size - start) as usize;
            let len = len - len % bs as usize;
            self.windows[0].len = 0;
            self.read_blocks_into(start / bs, Some(0), len)?;
            let mut w = self.windows.remove(0);
            w.at = start;
            w.len = len;
            self.windows.push(w);
        }
        Ok(())
    }
}

/// The device path of the partition this image was loaded from, as raw bytes.
fn loaded_from_path_bytes() -> Result<Vec<u8>, String> {
    let loaded = boot::open_protocol_exclusive::<LoadedImage>(boot::image_handle())
        .map_err(|_| "no LoadedImage protocol".to_string())?;
    let device = loaded.device().ok_or("the loaded image has no device handle")?;
    let path = boot::open_protocol_exclusive::<DevicePath>(device)
        .map_err(|_| "the boot device has no device path".to_string())?;
    Ok(path.as_bytes().to_vec())
}

/// Length of a device path's bytes without its end node, and whether it holds a partition node.
fn strip_end(path: &DevicePath) -> (usize, bool) {
    let mut len = 0;
    let mut has_partition = false;
    for node in path.node_iter() {
        if node.device_type() == DeviceType::MEDIA
            && (node.sub_type() == DeviceSubType::MEDIA_HARD_DRIVE
                || node.sub_type() == DeviceSubType::MEDIA_CD_ROM)
        {
            has_partition = true;
        }
        len += node.length() as usize;
    }
    (len, has_partition)
}

/// The whole-disk BlockIO handle that contains the partition we were loaded from.
pub fn find_boot_disk() -> Result<Handle, String> {
    let ours = loaded_from_path_bytes()?;
    let handles =
        boot::find_handles::<BlockIO>().map_err(|e| alloc::format!("no BlockIO handles: {e:?}"))?;
    for handle in handles {
        let Ok(path) = (unsafe {
            boot::open_protocol::<DevicePath>(
                OpenProtocolParams { handle, agent: boot::image_handle(), controller: None },
                OpenProtocolAttributes::GetProtocol,
            )
        }) else {
            continue;
        };
        let (len, has_partition) = strip_end(&path);
        if has_partition || len == 0 {
            continue;
        }
        let bytes = path.as_bytes();
        if ours.len() > len && ours[..len] == bytes[..len] {
            return Ok(handle);
        }
    }
    Err("cannot find the disk holding the boot partition".to_string())
}
