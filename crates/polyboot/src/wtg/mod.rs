//! `polyboot wtg`: Windows To Go from Linux. This module reads Windows images (ISO / WIM / ESD /
//! split SWM), lists and selects editions, and applies one with wimlib (NTFS-3G mode);
//! [`create`] writes a whole Windows To Go target (layout, apply, BCD, policy), with [`esp`]
//! (the FAT32 ESP), [`mount`] (ntfs-3g mounts) and [`vhdxfile`] (raw to VHDX).

pub mod create;
pub mod esp;
pub mod loopdev;
pub mod mount;
pub mod select;
pub mod source;
pub mod vhdxfile;

use crate::cli::{WtgArgs, WtgCommand, WtgCreateArgs, WtgEditionsArgs, WtgSelectArgs};
use crate::device::format_size;
use anyhow::{Context, Result};
use loopdev::LoopDevice;
use polyboot_wimlib::{Progress, Wim};
use select::{Edition, Selection};
use serde::Serialize;
use source::ImageSource;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// What `wtg editions` prints.
#[derive(Debug, Serialize)]
pub struct EditionsReport {
    /// The path given (ISO or image file).
    pub image: String,
    /// The install image inside the ISO (`sources/install.wim`), when it is one.
    pub iso_path: Option<String>,
    /// The ISO's directory tree that holds it: "UDF" or "ISO 9660".
    pub iso_tree: Option<&'static str>,
    /// WIM, ESD (solid resources) or SWM (split set).
    pub format: &'static str,
    pub compression: &'static str,
    pub solid: bool,
    pub parts: u16,
    /// Bytes of the image file(s).
    pub file_bytes: u64,
    /// 1-based index of the bootable image (WinPE), when set.
    pub boot_index: Option<u32>,
    pub editions: Vec<Edition>,
}

impl EditionsReport {
    pub fn new(source: &ImageSource) -> EditionsReport {
        let h = &source.info.header;
        let first = source.first();
        EditionsReport {
            image: first.host_path.display().to_string(),
            iso_path: first.iso_path.clone(),
            iso_tree: first.iso_member.as_ref().map(|m| m.tree().name()),
            format: if h.is_split() {
                "SWM"
            } else if source.info.solid {
                "ESD"
            } else {
                "WIM"
            },
            compression: h.compression.name(),
            solid: source.info.solid,
            parts: h.total_parts,
            file_bytes: source.parts.iter().map(|p| p.size).sum(),
            boot_index: Some(h.boot_index).filter(|&i| i != 0),
            editions: source.info.xml.images.iter().map(Edition::from).collect(),
        }
    }
}

/// List the editions of the image at `path`.
pub fn editions(path: &Path) -> Result<EditionsReport> {
    Ok(EditionsReport::new(&source::open(path)?))
}

impl WtgSelectArgs {
    pub fn selection(&self) -> Option<Selection> {
        match (&self.index, &self.edition) {
            (Some(i), _) => Some(Selection::Index(*i)),
            (None, Some(e)) => Some(Selection::Edition(e.clone())),
            (None, None) => None,
        }
    }
}

/// A WIM opened with wimlib, through loop devices when it lives inside an ISO. Field order
/// matters: the WIM is freed before its loop devices are detached.
pub struct OpenedImage {
    pub wim: Wim,
    _loops: Vec<LoopDevice>,
}

/// Open `source` with wimlib, all parts of a split set referenced.
pub fn open_wimlib(source: &ImageSource) -> Result<OpenedImage> {
    let mut loops = Vec::new();
    let mut paths = Vec::new();
    for part in &source.parts {
        if part.iso_member.is_some() {
            let (offset, len) = part.host_range()?;
            let l = LoopDevice::map(&part.host_path, offset, len)
                .with_context(|| format!("mapping {}", part.describe()))?;
            paths.push(l.path().to_path_buf());
            loops.push(l);
        } else {
            paths.push(part.host_path.clone());
        }
    }
    let wim = Wim::open_split(&paths[0], &paths[1..])
        .with_context(|| format!("opening {} with wimlib", source.first().describe()))?;
    let count = wim.image_count();
    if count as usize != source.info.xml.images.len() {
        anyhow::bail!(
            "{}: wimlib sees {count} images, polyboot's reader {}",
            source.first().describe(),
            source.info.xml.images.len()
        );
    }
    Ok(OpenedImage { wim, _loops: loops })
}

/// Apply edition `index` of `source` to the unmounted NTFS volume `target` (a partition, or a
/// file holding a bare NTFS filesystem) in wimlib's NTFS-3G mode. `cancel` aborts at the next
/// progress report with [`polyboot_wimlib::Error::Cancelled`] in the chain: the volume is then
/// incomplete, and the caller must not mark the target as done.
pub fn apply(
    source: &ImageSource,
    index: u32,
    target: &Path,
    cancel: Option<&AtomicBool>,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let mut img = open_wimlib(source)?;
    img.wim.apply_ntfs(index, target, cancel, progress)?;
    Ok(())
}

/// `wimlib_verify_wim` over every part of `source`.
pub fn verify(
    source: &ImageSource,
    cancel: Option<&AtomicBool>,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let mut img = open_wimlib(source)?;
    img.wim.verify(cancel, progress)?;
    Ok(())
}

/// The `wtg` subcommands.
pub fn run(args: WtgArgs) -> Result<()> {
    match args.command {
        WtgCommand::Editions(a) => run_editions(a),
        WtgCommand::Create(a) => run_create(a),
    }
}

/// Set by SIGINT during `wtg create`: the apply stops at its next progress report.
static CANCEL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    CANCEL.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn run_create(args: WtgCreateArgs) -> Result<()> {
    use std::io::IsTerminal;
    let opts = create::CreateOptions {
        image: args.image,
        target: args.target,
        selection: args.select.selection(),
        scheme: if args.mbr {
            polyboot_core::wtglayout::WtgScheme::Mbr
        } else {
            polyboot_core::wtglayout::WtgScheme::Gpt
        },
        size: args.size,
        container: if args.vhd {
            create::Container::Vhd
        } else if args.vhdx {
            create::Container::Vhdx
        } else {
            create::Container::Raw
        },
        unattend: args.unattend,
        drivers: args.drivers,
        internal_disks_offline: !args.no_internal_disks_offline,
        dry_run: args.erase.dry_run,
        yes: args.erase.yes,
        force: args.erase.force,
    };
    // Ctrl-C cancels the apply cleanly (the target is left without a partition table)
    // instead of killing the process in the middle of a write.
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
    let quiet = args.json || !std::io::stderr().is_terminal();
    let mut progress = create::progress_bar(quiet);
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    // With --json, stdout carries only the report: the dialogue and plan go to stderr.
    let mut dialogue: Box<dyn std::io::Write> =
        if args.json { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
    let report = create::create(
        &crate::device::SystemView::host(),
        &opts,
        Some(&CANCEL),
        &mut progress,
        interactive,
        &mut stdin.lock(),
        &mut dialogue,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        create::print_summary(&report);
    }
    Ok(())
}

fn run_editions(args: WtgEditionsArgs) -> Result<()> {
    let mut report = editions(&args.image)?;
    if let Some(sel) = args.select.selection() {
        let chosen = select::select(&report.editions, &sel)?.clone();
        report.editions = vec![chosen];
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let what = match (&report.iso_path, report.iso_tree) {
        (Some(p), Some(t)) => format!("{p} ({t}) in {}", report.image),
        (Some(p), None) => format!("{p} in {}", report.image),
        _ => report.image.clone(),
    };
    let parts = if report.parts > 1 { format!(", {} parts", report.parts) } else { String::new() };
    let solid = if report.solid { " solid" } else { "" };
    println!(
        "{what}: {} ({}{solid}{parts}), {}",
        report.format,
        report.compression,
        format_size(report.file_bytes)
    );
    println!(
        "{:>5}  {:<22} {:<7} {:<16} {:>10}  NAME",
        "INDEX", "EDITION", "ARCH", "VERSION", "SIZE"
    );
    for e in &report.editions {
        println!(
            "{:>5}  {:<22} {:<7} {:<16} {:>10}  {}",
            e.index,
            e.edition.as_deref().unwrap_or("-"),
            e.arch.as_deref().unwrap_or("-"),
            e.version.as_deref().unwrap_or("-"),
            e.total_bytes.map_or_else(|| "-".to_string(), format_size),
            e.label(),
        );
    }
    Ok(())
}
