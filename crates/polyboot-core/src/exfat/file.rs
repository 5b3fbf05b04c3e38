//! One file of an exFAT volume as a read-only device, so format parsers (ISO 9660, El Torito,
//! partition tables inside disk images) can read images stored on the data partition.

use super::{DirEntry, Error, ExFat};
use crate::block::{check_range, IoError, ReadAt};
use alloc::format;

pub struct FileReader<'a, D: ReadAt> {
    fs: &'a mut ExFat<D>,
    entry: DirEntry,
}

impl<D: ReadAt> ExFat<D> {
    /// Open `path` for reading as a [`ReadAt`] device of the file's size.
    pub fn open_file(&mut self, path: &str) -> Result<FileReader<'_, D>, Error> {
        let entry = self.metadata(path)?;
        if entry.is_dir() {
            return Err(Error::IsADirectory);
        }
        Ok(FileReader { fs: self, entry })
    }
}

impl<D: ReadAt> FileReader<'_, D> {
    pub fn entry(&self) -> &DirEntry {
        &self.entry
    }
}

impl<D: ReadAt> ReadAt for FileReader<'_, D> {
    fn size(&self) -> u64 {
        self.entry.size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check_range(offset, buf.len(), self.entry.size)?;
        let mut done = 0;
        while done < buf.len() {
            let n = self
                .fs
                .read_at(&self.entry, offset + done as u64, &mut buf[done..])
                .map_err(|e| IoError::Device(format!("exFAT: {e}")))?;
            if n == 0 {
                return Err(IoError::Device(format!(
                    "exFAT: short read at {}",
                    offset + done as u64
                )));
            }
            done += n;
        }
        Ok(())
    }
}
