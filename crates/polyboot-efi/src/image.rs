//! An image file on the data partition as a virtual device's medium: the core's virtual-disk
//! model (file extents, later byte overrides and virtual regions) over the physical drive.

use crate::disk::FirmwareDisk;
use crate::vblock::VirtualMedia;
use polyboot_core::block::IoError;
use polyboot_core::virtual_medium::VirtualMedium;

pub struct DiskImage {
    pub disk: FirmwareDisk,
    pub layout: VirtualMedium,
}

impl VirtualMedia for DiskImage {
    fn block_size(&self) -> u32 {
        self.layout.block_size()
    }
    fn size(&self) -> u64 {
        self.layout.size()
    }
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.layout.read(&mut self.disk, offset, buf)
    }
}
