//! Files inside an ISO image, found through its directory trees.
//!
//! An ISO can describe its files twice: in the ISO 9660 tree and in a UDF tree. Microsoft's
//! ISOs put everything but a README in the UDF tree only (and install.wim is often over 4 GiB,
//! more than one ISO 9660 record can describe), so the UDF tree is searched first; images made
//! by ISO 9660-only tools (xorriso, genisoimage without -udf) are found in their ISO 9660 tree.

use anyhow::{anyhow, Result};
use polyboot_core::block::{IoError, ReadAt};
use polyboot_core::iso9660::{self, IsoEntry, IsoError};
use polyboot_core::udf::{self, UdfEntry, UdfError, UdfFile, UdfVolume};
use polyboot_core::wim::IsoFile;

/// Which directory tree of an ISO described a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsoTree {
    Udf,
    Iso9660,
}

impl IsoTree {
    pub fn name(self) -> &'static str {
        match self {
            IsoTree::Udf => "UDF",
            IsoTree::Iso9660 => "ISO 9660",
        }
    }
}

/// A file inside an ISO image, as one of its trees records it.
#[derive(Debug, Clone)]
pub enum IsoMember {
    Iso9660(IsoEntry),
    Udf(Box<UdfVolume>, UdfEntry),
}

impl IsoMember {
    pub fn tree(&self) -> IsoTree {
        match self {
            IsoMember::Iso9660(_) => IsoTree::Iso9660,
            IsoMember::Udf(..) => IsoTree::Udf,
        }
    }

    pub fn size(&self) -> u64 {
        match self {
            IsoMember::Iso9660(e) => e.size,
            IsoMember::Udf(_, e) => e.size,
        }
    }

    /// The file's bytes as one range `(offset, len)` of the ISO, when they are stored in one
    /// piece (or in pieces that follow each other): what a loop device can map.
    pub fn contiguous_range(&self) -> Option<(u64, u64)> {
        match self {
            IsoMember::Udf(_, e) => e.contiguous_range(),
            IsoMember::Iso9660(e) => {
                let first = e.sections.first()?;
                let mut next = first.offset;
                for s in &e.sections {
                    if s.offset != next {
                        return None;
                    }
                    next = s.offset.checked_add(u64::from(s.len))?;
                }
                (next - first.offset >= e.size).then_some((first.offset, e.size))
            }
        }
    }

    /// The end of the file's last byte in the ISO: past the ISO's size when the ISO is
    /// truncated.
    pub fn data_end(&self) -> u64 {
        match self {
            IsoMember::Iso9660(e) => {
                e.sections.iter().map(|s| s.offset.saturating_add(u64::from(s.len))).max()
            }
            IsoMember::Udf(_, e) => match &e.data {
                udf::UdfData::Inline(_) => None,
                udf::UdfData::Extents(x) => {
                    x.iter().filter(|x| x.recorded).map(|x| x.offset.saturating_add(x.len)).max()
                }
            },
        }
        .unwrap_or(0)
    }

    /// How many separate pieces hold the file (for the error when it is not contiguous).
    pub fn pieces(&self) -> usize {
        match self {
            IsoMember::Iso9660(e) => e.sections.len(),
            IsoMember::Udf(_, e) => match &e.data {
                udf::UdfData::Inline(_) => 1,
                udf::UdfData::Extents(x) => x.len(),
            },
        }
    }

    /// The file as a device, read through its tree's records.
    pub fn reader<'a, R: ReadAt + 'a>(&self, dev: &'a mut R) -> Result<Box<dyn ReadAt + 'a>> {
        Ok(match self {
            IsoMember::Iso9660(e) => Box::new(IsoFile::new(dev, e.clone())?),
            IsoMember::Udf(vol, e) => Box::new(UdfFile::new(dev, (**vol).clone(), e.clone())?),
        })
    }
}

enum TreeReader {
    Udf(UdfVolume),
    Iso9660(iso9660::Tree),
}

/// A file found by [`IsoTrees::find_first`].
#[derive(Debug, Clone)]
pub struct Found {
    /// Index of the tree it was found in (for [`IsoTrees::find_in`]).
    pub tree: usize,
    /// Index of the matching path in the list asked for.
    pub index: usize,
    pub path: String,
    pub member: IsoMember,
}

/// The readable directory trees of an ISO, UDF first.
pub struct IsoTrees {
    trees: Vec<TreeReader>,
    /// Why a UDF tree that the image announces could not be read (the ISO 9660 tree is then
    /// the only one searched).
    pub udf_problem: Option<UdfError>,
}

impl IsoTrees {
    /// The trees of the image on `dev`; `None` when it has neither a UDF nor an ISO 9660
    /// volume (and no damaged UDF tree to report either).
    pub fn open<R: ReadAt>(dev: &mut R) -> Result<Option<IsoTrees>> {
        let mut trees = Vec::new();
        let mut udf_problem = None;
        match udf::probe(dev) {
            Ok(vol) => trees.push(TreeReader::Udf(vol)),
            Err(UdfError::NotUdf) => {}
            Err(UdfError::Io(e)) => return Err(io(e)),
            // A damaged or unsupported UDF tree: the ISO 9660 tree may still hold the file.
            Err(e) => udf_problem = Some(e),
        }
        match iso9660::probe(dev) {
            Ok(info) => trees.push(TreeReader::Iso9660(info.preferred_tree().clone())),
            Err(IsoError::Io(e)) => return Err(io(e)),
            Err(_) => {}
        }
        if trees.is_empty() {
            return match udf_problem {
                Some(e) => Err(anyhow!("unreadable UDF file system: {e}")),
                None => Ok(None),
            };
        }
        Ok(Some(IsoTrees { trees, udf_problem }))
    }

    /// `path` in tree number `tree`; `None` when absent or a directory.
    pub fn find_in<R: ReadAt>(
        &self,
        tree: usize,
        dev: &mut R,
        path: &str,
    ) -> Result<Option<IsoMember>> {
        match &self.trees[tree] {
            TreeReader::Udf(vol) => match vol.lookup(dev, path) {
                Ok(e) if !e.is_dir() => Ok(Some(IsoMember::Udf(Box::new(vol.clone()), e))),
                Ok(_) | Err(UdfError::NotFound) | Err(UdfError::NotADirectory) => Ok(None),
                Err(e) => Err(anyhow!("reading the ISO's UDF directories: {e}")),
            },
            TreeReader::Iso9660(root) => match iso9660::lookup(dev, root, path) {
                Ok(e) if !e.is_dir() => Ok(Some(IsoMember::Iso9660(e))),
                Ok(_) | Err(IsoError::NotFound) | Err(IsoError::NotADirectory) => Ok(None),
                Err(e) => Err(anyhow!("reading the ISO 9660 directories: {e}")),
            },
        }
    }

    /// The first of `paths` found, trying each tree in turn (UDF first) with every path.
    pub fn find_first<R: ReadAt, S: AsRef<str>>(
        &self,
        dev: &mut R,
        paths: &[S],
    ) -> Result<Option<Found>> {
        for tree in 0..self.trees.len() {
            for (index, path) in paths.iter().enumerate() {
                if let Some(member) = self.find_in(tree, dev, path.as_ref())? {
                    return Ok(Some(Found {
                        tree,
                        index,
                        path: path.as_ref().to_string(),
                        member,
                    }));
                }
            }
        }
        Ok(None)
    }
}

fn io(e: IoError) -> anyhow::Error {
    anyhow!("{e}")
}
