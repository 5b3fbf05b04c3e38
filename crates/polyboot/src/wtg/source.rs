//! Finding the Windows install image: a WIM / ESD / split SWM file on the host, or one inside
//! a Windows ISO (`sources/install.wim`, `install.esd`, `install.swm` + `install2.swm` ...),
//! read in place through the ISO's directory records — nothing is extracted.

use crate::drive::io::FileDevice;
use anyhow::{bail, Context, Result};
use polyboot_core::block::ReadAt;
use polyboot_core::iso9660::{self, IsoEntry, IsoError};
use polyboot_core::wim::{self, IsoFile, WimError, WimInfo};
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
    /// The ISO directory entry: where the bytes are inside the ISO.
    pub iso_entry: Option<IsoEntry>,
    pub size: u64,
}

impl Part {
    /// `sources/install.wim in win.iso`, or the host path.
    pub fn describe(&self) -> String {
        match &self.iso_path {
            Some(p) => format!("{p} in {}", self.host_path.display()),
            None => self.host_path.display().to_string(),
        }
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
    match iso9660::probe(&mut dev) {
        Ok(info) => open_in_iso(path, dev, &info),
        Err(IsoError::Io(e)) => Err(e).with_context(|| format!("reading {}", path.display())),
        Err(_) => bail!(
            "{}: not a Windows image (neither a WIM / ESD / SWM file nor an ISO 9660 image)",
            path.display()
        ),
    }
}

fn read_info<R: ReadAt>(what: &str, dev: &mut R) -> Result<WimInfo> {
    wim::read_info(dev).map_err(|e| match e {
        WimError::NotWim => anyhow::anyhow!("{what}: not a Windows image (no WIM header)"),
        // Only the ISO 9660 tree is read: files of 4 GiB and more are described by the UDF
        // tree of Microsoft's ISOs, which the ISO 9660 records cut short.
        WimError::Truncated { .. } if what.contains(" in ") => anyhow::anyhow!(
            "{what}: {e} (an install image over 4 GiB in an ISO whose ISO 9660 tree cannot describe it needs UDF, not supported yet)"
        ),
        e => anyhow::anyhow!("{what}: {e}"),
    })
}

fn open_host_wim(path: &Path, mut dev: FileDevice) -> Result<ImageSource> {
    let first = Part {
        host_path: path.to_path_buf(),
        iso_path: None,
        iso_entry: None,
        size: dev.size(),
    };
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
        let part = Part {
            host_path: p,
            iso_path: None,
            iso_entry: None,
            size: d.size(),
        };
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

fn open_in_iso(path: &Path, mut dev: FileDevice, iso: &iso9660::IsoInfo) -> Result<ImageSource> {
    let tree = iso.preferred_tree().clone();
    let mut found = None;
    for name in wim::INSTALL_IMAGE_NAMES {
        let iso_path = format!("{ISO_SOURCES_DIR}/{name}");
        match iso9660::lookup(&mut dev, &tree, &iso_path) {
            Ok(e) if !e.is_dir() => {
                found = Some((name, iso_path, e));
                break;
            }
            Ok(_) | Err(IsoError::NotFound) | Err(IsoError::NotADirectory) => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("{}: reading the ISO's directories", path.display()))
            }
        }
    }
    let Some((name, iso_path, entry)) = found else {
        bail!(
            "{}: no Windows install image in this ISO (looked for {ISO_SOURCES_DIR}/install.wim, install.esd and install.swm)",
            path.display()
        );
    };
    let part = |iso_path: String, entry: IsoEntry| Part {
        host_path: path.to_path_buf(),
        iso_path: Some(iso_path),
        size: entry.size,
        iso_entry: Some(entry),
    };
    let first = part(iso_path, entry.clone());
    let mut file = IsoFile::new(&mut dev, entry).with_context(|| first.describe())?;
    let info = read_info(&first.describe(), &mut file)?;
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
        let e = iso9660::lookup(&mut dev, &tree, &p)
            .ok()
            .filter(|e| !e.is_dir())
            .with_context(|| {
                format!(
                    "{}: split image incomplete: {p} (part {n} of {total}) is missing",
                    path.display()
                )
            })?;
        let part = part(p, e.clone());
        let mut file = IsoFile::new(&mut dev, e).with_context(|| part.describe())?;
        check_part(&part.describe(), &mut file, &info, n)?;
        parts.push(part);
    }
    Ok(ImageSource { parts, info })
}
