//! Byte-addressed storage abstraction used by every on-disk format in the core.
//!
//! Filesystem code is simplest when it can read any byte range; adaptors below the trait
//! (host files, firmware BlockIo with its own cache) deal with sector alignment.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// An I/O failure below the core. Kept small so firmware can build it without `std`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoError {
    /// The request reaches past the end of the device.
    OutOfBounds { offset: u64, len: u64, size: u64 },
    /// The device refused a write (read-only medium or adaptor).
    ReadOnly,
    /// The device reported an error; the text says what the backend saw.
    Device(String),
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::OutOfBounds { offset, len, size } => write!(
                f,
                "access of {len} bytes at offset {offset} is beyond the end of the device ({size} bytes)"
            ),
            IoError::ReadOnly => f.write_str("device is read-only"),
            IoError::Device(msg) => write!(f, "device error: {msg}"),
        }
    }
}

impl core::error::Error for IoError {}

/// A format's error type: `core::error::Error`, and `From<IoError>` into its `Io` variant
/// (or the expression given), so that `?` carries device failures up.
macro_rules! error_with_io {
    ($ty:ident) => {
        $crate::block::error_with_io!($ty, |e| $ty::Io(e));
    };
    ($ty:ident, |$e:ident| $wrap:expr) => {
        impl core::error::Error for $ty {}
        impl From<$crate::block::IoError> for $ty {
            fn from($e: $crate::block::IoError) -> Self {
                $wrap
            }
        }
    };
}
pub(crate) use error_with_io;

/// Random-access reads from a device of known size.
pub trait ReadAt {
    /// Size of the device in bytes.
    fn size(&self) -> u64;
    /// Fill `buf` from `offset`; fails (without partial success) if the range is out of bounds.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError>;
}

/// Read a file of `size` bytes stored on `dev` in `pieces` (file offset, device offset,
/// length), as an exFAT file's extents or a hand-off record's: bytes the pieces do not reach
/// (past a valid data length) are zeros, and pieces past `size` are cut. A failed read is
/// returned with its device offset and length, for the caller's message.
pub fn read_pieces<D, I>(
    dev: &mut D,
    size: u64,
    pieces: I,
) -> Result<Vec<u8>, (u64, usize, IoError)>
where
    D: ReadAt + ?Sized,
    I: IntoIterator<Item = (u64, u64, u64)>,
{
    let mut out = alloc::vec![0u8; size as usize];
    for (file_offset, at, len) in pieces {
        if file_offset >= size {
            break;
        }
        let start = file_offset as usize;
        let end = file_offset.saturating_add(len).min(size) as usize;
        dev.read_at(at, &mut out[start..end]).map_err(|e| (at, end - start, e))?;
    }
    Ok(out)
}

/// Random-access writes.
pub trait WriteAt: ReadAt {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError>;
    /// Make previous writes durable. Default: nothing to do.
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &mut T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        (**self).read_at(offset, buf)
    }
}

impl<T: WriteAt + ?Sized> WriteAt for &mut T {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        (**self).write_at(offset, buf)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        (**self).flush()
    }
}

/// Check that `[offset, offset+len)` lies inside a device of `size` bytes.
pub fn check_range(offset: u64, len: usize, size: u64) -> Result<(), IoError> {
    let len = len as u64;
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(IoError::OutOfBounds { offset, len, size }),
    }
}

/// An in-memory device: the test double for every format, and the RAM disk in firmware.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemDevice {
    pub data: Vec<u8>,
}

impl MemDevice {
    pub fn new(size: usize) -> Self {
        MemDevice { data: alloc::vec![0; size] }
    }
    pub fn from_vec(data: Vec<u8>) -> Self {
        MemDevice { data }
    }
}

impl ReadAt for MemDevice {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.size())?;
        let start = offset as usize;
        buf.copy_from_slice(&self.data[start..start + buf.len()]);
        Ok(())
    }
}

impl WriteAt for MemDevice {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.size())?;
        let start = offset as usize;
        self.data[start..start + buf.len()].copy_from_slice(buf);
        Ok(())
    }
}

/// A window `[start, start+len)` of an underlying device, e.g. one partition of a disk.
#[derive(Debug)]
pub struct Slice<D> {
    inner: D,
    start: u64,
    len: u64,
}

impl<D: ReadAt> Slice<D> {
    /// Fails if the window does not fit inside `inner`.
    pub fn new(inner: D, start: u64, len: u64) -> Result<Self, IoError> {
        let size = inner.size();
        match start.checked_add(len) {
            Some(end) if end <= size => Ok(Slice { inner, start, len }),
            _ => Err(IoError::OutOfBounds { offset: start, len, size }),
        }
    }
    pub fn start(&self) -> u64 {
        self.start
    }
    pub fn into_inner(self) -> D {
        self.inner
    }
    pub fn inner(&self) -> &D {
        &self.inner
    }
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }
}

impl<D: ReadAt> ReadAt for Slice<D> {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.len)?;
        self.inner.read_at(self.start + offset, buf)
    }
}

impl<D: WriteAt> WriteAt for Slice<D> {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.len)?;
        self.inner.write_at(self.start + offset, buf)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_translates_offsets_and_bounds() {
        let mut dev = MemDevice::from_vec((0..=255u8).collect());
        let mut part = Slice::new(&mut dev, 16, 32).unwrap();
        let mut buf = [0u8; 4];
        part.read_at(0, &mut buf).unwrap();
        assert_eq!(buf, [16, 17, 18, 19]);
        part.write_at(28, &[1, 2, 3, 4]).unwrap();
        assert!(part.read_at(29, &mut buf).is_err());
        assert!(part.write_at(u64::MAX, &[0]).is_err());
        assert_eq!(dev.data[44..48], [1, 2, 3, 4]);
    }

    #[test]
    fn slice_must_fit_inside_device() {
        let dev = MemDevice::new(100);
        assert!(Slice::new(dev_clone(&dev), 90, 11).is_err());
        assert!(Slice::new(dev_clone(&dev), u64::MAX, 2).is_err());
        assert!(Slice::new(dev, 90, 10).is_ok());
    }

    fn dev_clone(d: &MemDevice) -> MemDevice {
        d.clone()
    }
}
