//! Reading an image file on the data partition as a virtual device's medium.
//! (Interim: maps file bytes through the exFAT extent list; the core's virtual-disk model with
//! overrides and virtual regions replaces it.)

use crate::disk::FirmwareDisk;
use crate::vblock::VirtualMedia;
use alloc::vec::Vec;
use polyboot_core::block::{check_range, IoError, ReadAt};
use polyboot_core::exfat::Extent;

pub struct ExtentFile {
    pub disk: FirmwareDisk,
    /// Start of the data partition on the disk (extents are partition-relative).
    pub partition_offset: u64,
    pub extents: Vec<Extent>,
    pub file_size: u64,
    pub block_size: u32,
}

impl VirtualMedia for ExtentFile {
    fn block_size(&self) -> u32 {
        self.block_size
    }
    fn size(&self) -> u64 {
        // Round up: the tail of the last block reads as zeros.
        self.file_size.div_ceil(self.block_size as u64) * self.block_size as u64
    }
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.size())?;
        buf.fill(0);
        let end = offset + buf.len() as u64;
        for e in &self.extents {
            let (s, t) = (e.file_offset.max(offset), (e.file_offset + e.len).min(end));
            if s < t {
                let dst = &mut buf[(s - offset) as usize..(t - offset) as usize];
                self.disk.read_at(self.partition_offset + e.device_offset + (s - e.file_offset), dst)?;
            }
        }
        Ok(())
    }
}
