//! Adaptors between host files / block devices and the core's byte-addressed traits.

use anyhow::{Context, Result};
use polyboot_core::block::{check_range, IoError, ReadAt, WriteAt};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// A whole disk: an image file or a block device, opened for reading (and writing).
pub struct FileDevice {
    file: File,
    size: u64,
}

impl FileDevice {
    /// Open read-only.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Self::from_file(file, path)
    }

    /// Open for writing. Block devices are opened with O_EXCL, which the kernel refuses while
    /// any partition of the disk is mounted: a last line of defence after our own checks.
    pub fn open_rw(path: &Path) -> Result<Self> {
        let is_block =
            std::fs::metadata(path).map(|m| m.file_type().is_block_device()).unwrap_or(false);
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true);
        if is_block {
            opts.custom_flags(libc::O_EXCL);
        }
        let file =
            opts.open(path).with_context(|| format!("opening {} for writing", path.display()))?;
        Self::from_file(file, path)
    }

    fn from_file(mut file: File, path: &Path) -> Result<Self> {
        // Seeking to the end gives the size of regular files and block devices alike.
        let size =
            file.seek(SeekFrom::End(0)).with_context(|| format!("sizing {}", path.display()))?;
        Ok(FileDevice { file, size })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// A second handle on the same open file (its writes and syncs are the same file's).
    pub fn try_clone(&self) -> Result<Self> {
        let file = self.file.try_clone().context("duplicating the device handle")?;
        Ok(FileDevice { file, size: self.size })
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_all().context("flushing the target to stable storage")
    }
}

fn io_err(e: std::io::Error) -> IoError {
    IoError::Device(e.to_string())
}

impl ReadAt for FileDevice {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.size)?;
        self.file.read_exact_at(buf, offset).map_err(io_err)
    }
}

impl WriteAt for FileDevice {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.size)?;
        self.file.write_all_at(buf, offset).map_err(io_err)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.file.sync_data().map_err(io_err)
    }
}

/// A `Read + Write + Seek` stream over one region of a file, for libraries (the FAT writer)
/// that want a stream rather than a device.
pub struct RegionStream<'a> {
    file: &'a File,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> RegionStream<'a> {
    pub fn new(file: &'a File, start: u64, len: u64) -> Self {
        RegionStream { file, start, len, pos: 0 }
    }
}

impl Read for RegionStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..n], self.start + self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Write for RegionStream<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        if n == 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        let put = self.file.write_at(&buf[..n], self.start + self.pos)?;
        self.pos += put as u64;
        Ok(put)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for RegionStream<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the partition",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_stream_stays_inside_its_region() {
        let tmp = tempfile::tempfile().unwrap();
        tmp.set_len(100).unwrap();
        let mut s = RegionStream::new(&tmp, 10, 20);
        assert_eq!(s.write(&[7u8; 30]).unwrap(), 20);
        assert!(s.write(&[1]).is_err());
        s.seek(SeekFrom::Start(18)).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).unwrap(), 2);
        let mut all = vec![0u8; 100];
        tmp.read_exact_at(&mut all, 0).unwrap();
        assert!(
            all[..10].iter().all(|&b| b == 0)
                && all[10..30].iter().all(|&b| b == 7)
                && all[30..].iter().all(|&b| b == 0)
        );
        assert!(s.seek(SeekFrom::Current(-100)).is_err());
    }

    #[test]
    fn file_device_bounds() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.as_file().set_len(4096).unwrap();
        let mut dev = FileDevice::open_rw(tmp.path()).unwrap();
        assert_eq!(dev.size(), 4096);
        dev.write_at(4090, b"abcdef").unwrap();
        assert!(dev.write_at(4091, b"abcdef").is_err());
        let mut buf = [0u8; 3];
        dev.read_at(4093, &mut buf).unwrap();
        assert_eq!(&buf, b"def");
    }
}
