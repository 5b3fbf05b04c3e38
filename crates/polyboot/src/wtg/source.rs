//! Finding the Windows install image: a WIM / ESD / split SWM file on the host, or one inside
//! a Windows ISO (`sources/install.wim`, `install.esd`, `install.swm` + `install2.swm` ...),
//! read in place through the ISO's directory records — nothing is extracted.
//! The ISO's UDF tree (where Microsoft's ISOs keep them) is searched before its ISO 9660 tree:
//! see [`crate::isofiles`].

use crate::drive::io::FileDevice;
use crate::isofiles::{IsoMember, IsoTrees};
use anyhow::{bail, Context, Result};
use polyboot_core::block::ReadAt;
use polyboot_core::wim::{self, WimError, WimInfo};
use std::path::{Path, PathBuf};

/// Where the ISO keeps the install image.
pub const ISO_SOURCES_DIR: &str = "sources";

/// One file of the image (one part of a split set).
#[derive(Debug, Clone)]
pub struct Part {
    /// The host file, or the ISO that holds it.
    pub host_path: PathBuf,
    /// Path inside the ISO (`sources/install.wim`), when it is in one.
    pub iso_path: Option<String>,
    /// Where the bytes are inside the ISO.
    pub iso_member: Option<IsoMember>,
    pub size: u64,
}

impl Part {
    /// `sources/install.wim (UDF) in win.iso`, or the host path.
    pub fn describe(&self) -> String {
        match (&self.iso_path, &self.iso_member) {
            (Some(p), Some(m)) => {
                format!("{p} ({}) in {}", m.tree().name(), self.host_path.display())
            }
            (Some(p), None) => format!("{p} in {}", self.host_path.display()),
            _ => self.host_path.display().to_string(),
        }
    }

    /// The range of `host_path` holding this part: all of it for a host file, the member's
    /// bytes for a file in an ISO. Errors when the member is stored in separate pieces.
    pub fn host_range(&self) -> Result<(u64, u64)> {
        let Some(m) = &self.iso_member else {
            return Ok((0, self.size));
        };
        m.contiguous_range().with_context(|| {
            format!(
                "{} is stored in {} separate pieces of the ISO; polyboot reads an install image in place only when it is stored in one piece (as in Microsoft's ISOs): extract it (e.g. `7z x`) and give the .wim file instead",
                self.describe(),
                m.pieces()
            )
        })
    }
}

/// A Windows image ready to be listed or applied: its parts in order (one unless split) and
/// the header + XML of the first.
#[derive(Debug, Clone)]
pub struct ImageSource {
    pub parts: Vec<Part>,
    pub info: WimInfo,
}

impl ImageSource {
    pub fn first(&self) -> &Part {
        &self.parts[0]
    }
    pub fn in_iso(&self) -> bool {
        self.first().iso_path.is_some()
    }
}

/// Open `path`: a WIM / ESD / SWM file, or an ISO holding one under `sources/`.
pub fn open(path: &Path) -> Result<ImageSource> {
    let mut dev = FileDevice::open(path)?;
    match wim::read_header(&mut dev) {
        Ok(_) => return open_host_wim(path, dev),
        Err(WimError::NotWim) => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("{}: corrupt Windows image header", path.display()))
        }
    }
    let trees = IsoTrees::open(&mut dev).with_context(|| format!("reading {}", path.display()))?;
    match trees {
        Some(trees) => open_in_iso(path, dev, &trees),
        None => bail!(
            "{}: not a Windows image (neither a WIM / ESD / SWM file nor an ISO 9660 / UDF image)",
            path.display()
        ),
    }
}

fn read_info<R: ReadAt>(what: &str, dev: &mut R) -> Result<WimInfo> {
    wim::read_info(dev).map_err(|e| match e {
        WimError::NotWim => anyhow::anyhow!("{what}: not a Windows image (no WIM header)"),
        // An ISO 9660 record cannot describe 4 GiB or more (without multi-extent records,
        // which Microsoft's tools do not write): only the UDF tree has the whole file.
        WimError::Truncated { .. } if what.contains("(ISO 9660) in ") => anyhow::anyhow!(
            "{what}: {e} (the ISO 9660 tree describes only the start of this file and the ISO has no readable UDF tree)"
        ),
        e => anyhow::anyhow!("{what}: {e}"),
    })
}

fn open_host_wim(path: &Path, mut dev: FileDevice) -> Result<ImageSource> {
    let first =
        Part { host_path: path.to_path_buf(), iso_path: None, iso_member: None, size: dev.size() };
    let info = read_info(&first.describe(), &mut dev)?;
    let hdr = &info.header;
    if hdr.part_number != 1 {
        bail!(
            "{}: part {} of {} of a split image: give the first part (usually install.swm)",
            path.display(),
            hdr.part_number,
            hdr.total_parts
        );
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: no usable file name", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut parts = vec![first];
    for n in 2..=hdr.total_parts {
        let p = dir.join(wim::split_part_name(name, n));
        let mut d = FileDevice::open(&p).with_context(|| {
            format!(
                "split image incomplete: part {n} of {} ({}) cannot be opened",
                hdr.total_parts,
                p.display()
            )
        })?;
        let part = Part { host_path: p, iso_path: None, iso_member: None, size: d.size() };
        check_part(&part.describe(), &mut d, &info, n)?;
        parts.push(part);
    }
    Ok(ImageSource { parts, info })
}

/// A later part must carry the set's GUID and its own part number.
fn check_part<R: ReadAt>(what: &str, dev: &mut R, first: &WimInfo, n: u16) -> Result<()> {
    let h = wim::read_header(dev).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    if h.guid != first.header.guid
        || h.total_parts != first.header.total_parts
        || h.part_number != n
    {
        bail!(
            "{what}: not part {n} of {} of this split image (it is part {} of {} of image {})",
            first.header.total_parts,
            h.part_number,
            h.total_parts,
            h.guid_hex()
        );
    }
    Ok(())
}

/// A truncated ISO (an interrupted download) still lists its files; say so plainly when the
/// install image's bytes run past its end.
fn check_not_cut(part: &Part, iso_size: u64) -> Result<()> {
    let end = part.iso_member.as_ref().map_or(0, IsoMember::data_end);
    if end > iso_size {
        bail!(
            "{}: the ISO is truncated: this file's bytes run to offset {end} but the ISO has only {iso_size} bytes (download or copy it again)",
            part.describe()
        );
    }
    Ok(())
}

/// Find the install image in the first tree (UDF before ISO 9660) that has one; later parts
/// of a split set come from the same tree.
fn open_in_iso(path: &Path, mut dev: FileDevice, trees: &IsoTrees) -> Result<ImageSource> {
    let candidates: Vec<String> =
        wim::INSTALL_IMAGE_NAMES.iter().map(|name| format!("{ISO_SOURCES_DIR}/{name}")).collect();
    let found =
        trees.find_first(&mut dev, &candidates).with_context(|| path.display().to_string())?;
    let Some(found) = found else {
        let udf_note = match &trees.udf_problem {
            Some(e) => format!(" (its UDF tree could not be read: {e})"),
            None => String::new(),
        };
        bail!(
            "{}: no Windows install image in this ISO (looked for {ISO_SOURCES_DIR}/install.wim, install.esd and install.swm){udf_note}",
            path.display()
        );
    };
    let name = wim::INSTALL_IMAGE_NAMES[found.index];
    let part = |iso_path: String, m: IsoMember| Part {
        host_path: path.to_path_buf(),
        iso_path: Some(iso_path),
        size: m.size(),
        iso_member: Some(m),
    };
    let first = part(found.path, found.member.clone());
    check_not_cut(&first, dev.size())?;
    let info = {
        let mut file = found.member.reader(&mut dev).with_context(|| first.describe())?;
        read_info(&first.describe(), &mut &mut *file)?
    };
    let total = info.header.total_parts;
    if info.header.part_number != 1 {
        bail!(
            "{}: part {} of {} of a split image, expected part 1",
            first.describe(),
            info.header.part_number,
            total
        );
    }
    let mut parts = vec![first];
    for n in 2..=total {
        let p = format!("{ISO_SOURCES_DIR}/{}", wim::split_part_name(name, n));
        let m = trees.find_in(found.tree, &mut dev, &p).ok().flatten().with_context(|| {
            format!(
                "{}: split image incomplete: {p} (part {n} of {total}) is missing",
                path.display()
            )
        })?;
        let part = part(p, m.clone());
        check_not_cut(&part, dev.size())?;
        let mut file = m.reader(&mut dev).with_context(|| part.describe())?;
        check_part(&part.describe(), &mut &mut *file, &info, n)?;
        parts.push(part);
    }
    Ok(ImageSource { parts, info })
}
