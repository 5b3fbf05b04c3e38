//! What a Linux ISO gets besides its wrapped initrds (issue 18): a persistence backend, an
//! auto-install template, an injection archive, driver update disks, files replaced inside
//! the ISO (`conf_replace`) and the kernel parameters these need.
//!
//! Two steps, both shared by the boot managers and `polyboot debug virtual`:
//! [`BootSession::linux_extras`] resolves what the configuration (and the menu's choices)
//! names into files on the data partition with their extents, reading nothing but directory
//! entries; [`apply_linux_extras`] then works on the ISO's virtual medium: it serves the
//! replaced files, reads the boot configuration the boot loader will see, decides from its
//! init family and installer which parameters to add and where the files go inside the
//! initramfs, serves every boot configuration file with those parameters, and returns the
//! hand-off record polyboot-hook acts on. Nothing is written to the drive.

use super::{check_inside_partition, BootSession, Log};
use crate::block::{self, ReadAt};
use crate::bootcfg::{self, edit, BootConfigReport};
use crate::config::Choices;
use crate::drive_location::DriveLocation;
use crate::exfat::{ExFat, Extent};
use crate::file_replace;
use crate::handoff::{FileAction, Handoff, HandoffFile, PersistenceBackend};
use crate::initfamily;
use crate::installer;
use crate::iso9660;
use crate::virtual_medium::VirtualMedium;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// What the menu chose where the configuration offers several (Ventoy's template and
/// backend menus): an index into [`Choices::options`], or `None` for "boot without".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinuxChoices {
    pub template: Option<usize>,
    pub persistence: Option<usize>,
}

impl LinuxChoices {
    /// The configuration's preselection (`autosel`), what boots without a keystroke.
    pub fn preselected(template: Option<&Choices>, persistence: Option<&Choices>) -> Self {
        LinuxChoices {
            template: template.and_then(Choices::preselected),
            persistence: persistence.and_then(Choices::preselected),
        }
    }
}

/// A file on the data partition: its path, size and extents (offsets within the partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveFile {
    pub path: String,
    pub size: u64,
    pub extents: Vec<Extent>,
}

/// The configured extras of one image, resolved on the drive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxExtras {
    pub persistence: Option<DriveFile>,
    /// The backend starts with a LUKS header.
    pub persistence_encrypted: bool,
    pub template: Option<DriveFile>,
    pub injection: Option<DriveFile>,
    pub driver_updates: Vec<DriveFile>,
    /// (path inside the ISO, the file served instead).
    pub replacements: Vec<(String, DriveFile)>,
}

impl LinuxExtras {
    pub fn is_empty(&self) -> bool {
        *self == LinuxExtras::default()
    }
}

/// Larger files are not handed to the hook: an answer file or a driver disk is small, and
/// the hook copies these into RAM.
pub const MAX_HOOK_FILE: u64 = crate::handoff::MAX_FILE_SIZE;
/// Files up to this size travel inside the wrapped initrd (in the boot manager's memory until
/// the kernel loads them), at most [`MAX_EMBEDDED_TOTAL`] bytes of them per boot.
pub const MAX_EMBEDDED: u64 = 8 << 20;
pub const MAX_EMBEDDED_TOTAL: u64 = 16 << 20;
/// A replaced boot configuration or small file, read into memory by nobody but served from
/// the drive; bounded anyway so a directory record's 32-bit size holds it.
pub const MAX_REPLACEMENT: u64 = u32::MAX as u64;

fn drive_file<D: ReadAt>(
    fs: &mut ExFat<D>,
    partition_size: u64,
    path: &str,
    max: u64,
) -> Result<DriveFile, String> {
    let meta = fs.metadata(path).map_err(|e| format!("{path}: {e}"))?;
    if meta.is_dir() {
        return Err(format!("{path} is a directory"));
    }
    if meta.size > max {
        return Err(format!("{path}: {} bytes, more than {max}", meta.size));
    }
    let extents = fs.extents(path).map_err(|e| format!("{path}: {e}"))?;
    check_inside_partition(&extents, partition_size).map_err(|e| format!("{path}: {e}"))?;
    Ok(DriveFile { path: String::from(path), size: meta.size, extents })
}

/// Whether a backend starts with a LUKS header ([`crate::fsprobe::LUKS_MAGIC`]).
fn starts_luks<D: ReadAt>(fs: &mut ExFat<D>, path: &str) -> bool {
    let mut head = [0u8; 6];
    fs.metadata(path).is_ok_and(|m| fs.read_at(&m, 0, &mut head).is_ok_and(|n| n == 6))
        && head == *crate::fsprobe::LUKS_MAGIC
}

impl<D: ReadAt> BootSession<D> {
    /// The template and backend menus the configuration offers for `image` (either `None`
    /// when it names none).
    pub fn linux_choices(&self, image: &str) -> (Option<Choices>, Option<Choices>) {
        (self.config.auto_install_choices(image), self.config.persistence_choices(image))
    }

    /// Resolve what the configuration names for `image`, with `choices` for the menus, into
    /// files on the data partition. Missing or unusable files are logged and left out.
    pub fn linux_extras(
        &mut self,
        image: &str,
        choices: &LinuxChoices,
        log: Log<'_>,
    ) -> LinuxExtras {
        let part = self.location.data.size;
        let mut extras = LinuxExtras::default();
        let (templates, backends) = self.linux_choices(image);
        let pick = |c: &Option<Choices>, i: Option<usize>| {
            c.as_ref().and_then(|c| i.and_then(|i| c.options.get(i).cloned()))
        };
        let mut take = |fs: &mut ExFat<_>, what: &str, path: &str, max: u64| match drive_file(
            fs, part, path, max,
        ) {
            Ok(f) => Some(f),
            Err(e) => {
                log(format_args!("{what}: {image}: not used: {e}"));
                None
            }
        };
        if let Some(path) = pick(&backends, choices.persistence) {
            extras.persistence = take(&mut self.fs, "persistence", &path, u64::MAX);
            extras.persistence_encrypted =
                extras.persistence.is_some() && starts_luks(&mut self.fs, &path);
        }
        if let Some(path) = pick(&templates, choices.template) {
            extras.template = take(&mut self.fs, "auto_install", &path, MAX_HOOK_FILE);
        }
        if let Some(path) = self.config.injection_archive(image) {
            extras.injection = take(&mut self.fs, "injection", &path, MAX_HOOK_FILE);
        }
        for path in self.config.driver_update_disks(image) {
            if let Some(f) = take(&mut self.fs, "dud", &path, MAX_HOOK_FILE) {
                extras.driver_updates.push(f);
            }
        }
        for r in self.config.conf_replacements(image) {
            if let Some(f) = take(&mut self.fs, "conf_replace", &r.new, MAX_REPLACEMENT) {
                extras.replacements.push((r.org, f));
            }
        }
        extras
    }
}

/// What [`apply_linux_extras`] decided, for the hand-off record and the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxApplied {
    /// The parameters added to every kernel line of the boot configuration.
    pub params: Vec<String>,
    pub persistence: Option<PersistenceBackend>,
    pub files: Vec<HandoffFile>,
    /// Bytes of the files without extents, carried in the wrapped initrd: `(index in files,
    /// bytes)` (see [`crate::handoff::EMBEDDED_FILES_DIR`]).
    pub embedded: Vec<(usize, Arc<[u8]>)>,
}

impl LinuxApplied {
    /// Put the decisions into the hand-off record.
    pub fn fill(&self, h: &mut Handoff) {
        h.persistence = self.persistence.clone();
        h.files = self.files.clone();
        h.added_params = self.params.join(" ");
    }
}

/// Apply `extras` to the ISO served by `layout` (on the drive `disk` at `location`): replaced
/// files first, so that the boot configuration read next is the one the boot loader sees.
/// Returns the boot configuration report (after replacement) and the decisions.
pub fn apply_linux_extras<D: ReadAt>(
    layout: &mut VirtualMedium,
    disk: &mut D,
    location: &DriveLocation,
    extras: &LinuxExtras,
    log: Log<'_>,
) -> (Option<BootConfigReport>, LinuxApplied) {
    let mut applied = LinuxApplied::default();
    if !extras.replacements.is_empty() {
        let files: Vec<file_replace::Replacement> = extras
            .replacements
            .iter()
            .map(|(org, f)| file_replace::Replacement {
                path: org.clone(),
                bytes: file_replace::NewBytes::DriveFile {
                    size: f.size,
                    extents: f.extents.clone().into(),
                },
            })
            .collect();
        let start = layout.size();
        match file_replace::plan(&mut layout.reader(&mut *disk), start, &files) {
            Ok(plan) => match plan.apply(layout) {
                Ok(()) => {
                    for r in &plan.replaced {
                        let from = extras
                            .replacements
                            .iter()
                            .find(|(o, _)| crate::path::eq_ignore_case(o, &r.path));
                        log(format_args!(
                            "conf_replace: {} ({} bytes) served from {} ({} bytes)",
                            r.path,
                            r.old_size,
                            from.map_or("the drive", |(_, f)| f.path.as_str()),
                            r.new_size
                        ));
                    }
                    for (path, why) in &plan.failed {
                        log(format_args!("conf_replace: {path} not replaced: {why}"));
                    }
                }
                // The plan places everything past the medium: a bug, not input.
                Err(e) => log(format_args!("conf_replace: nothing replaced: {e}")),
            },
            Err(e) => log(format_args!("conf_replace: nothing replaced: {e}")),
        }
    }
    let report = match bootcfg::find_boot_entries(&mut layout.reader(&mut *disk)) {
        Ok(r) => r,
        Err(e) => {
            log(format_args!("linux: cannot read the ISO's boot configuration: {e}"));
            return (None, applied);
        }
    };
    let family = initfamily::detect(&report);
    let installer = installer::detect(&report);
    let mut embedded_bytes = 0u64;
    if let Some(backend) = &extras.persistence {
        match initfamily::persistence_params(family) {
            Some(params) if family.supports_persistence() => {
                applied.persistence = Some(PersistenceBackend::on_drive(
                    location,
                    &backend.path,
                    backend.size,
                    &backend.extents,
                    extras.persistence_encrypted,
                ));
                applied.params.extend(params.split_whitespace().map(String::from));
                log(format_args!(
                    "persistence: {} ({} bytes{}) for {family}",
                    backend.path,
                    backend.size,
                    if extras.persistence_encrypted { ", encrypted" } else { "" }
                ));
            }
            _ => log(format_args!(
                "persistence: {} not used: {family} has no persistence polyboot can set up",
                backend.path
            )),
        }
    }
    if let Some(template) = &extras.template {
        match installer.auto_install() {
            Some(plan) => {
                let to = (FileAction::Template, plan.target.as_str());
                hand_over(disk, location, template, to, &mut applied, &mut embedded_bytes, log);
                for empty in &plan.empty_files {
                    applied.files.push(HandoffFile {
                        action: FileAction::Copy,
                        size: 0,
                        extents: Vec::new(),
                        target: empty.clone(),
                        source: String::from("(empty)"),
                    });
                }
                applied.params.extend(plan.params);
                log(format_args!(
                    "auto_install: {} as {} for {installer}",
                    template.path, plan.target
                ));
            }
            None => log(format_args!(
                "auto_install: {} not used: no installer polyboot recognises in this ISO",
                template.path
            )),
        }
    }
    if let Some(archive) = &extras.injection {
        hand_over(
            disk,
            location,
            archive,
            (FileAction::Inject, ""),
            &mut applied,
            &mut embedded_bytes,
            log,
        );
        log(format_args!("injection: {} extracted over / before init", archive.path));
    }
    for (i, dud) in extras.driver_updates.iter().enumerate() {
        match installer.driver_update(i, &dud.path) {
            Some(plan) => {
                let to = (FileAction::Copy, plan.target.as_str());
                hand_over(disk, location, dud, to, &mut applied, &mut embedded_bytes, log);
                applied.params.extend(plan.params);
                log(format_args!("dud: {} as {}", dud.path, plan.target));
            }
            None => log(format_args!(
                "dud: {} not used: only Anaconda takes driver update disks ({installer})",
                dud.path
            )),
        }
    }
    dedup_keep_order(&mut applied.params);
    if !applied.params.is_empty() {
        add_params(layout, disk, &report, &applied.params, log);
    }
    (Some(report), applied)
}

fn dedup_keep_order(v: &mut Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    v.retain(|p| {
        let new = !seen.contains(p);
        if new {
            seen.push(p.clone());
        }
        new
    });
}

/// Serve every boot configuration file with a kernel line with `params` added to its kernel
/// lines (a virtual file past the image; nothing written).
fn add_params<D: ReadAt>(
    layout: &mut VirtualMedium,
    disk: &mut D,
    report: &BootConfigReport,
    params: &[String],
    log: Log<'_>,
) {
    let text = params.join(" ");
    let refs: Vec<&str> = params.iter().map(String::as_str).collect();
    let edits = {
        let mut iso = layout.reader(&mut *disk);
        iso9660::probe(&mut iso).map_err(|e| format!("{e}")).and_then(|info| {
            let (tree, primary) = (info.preferred_tree().clone(), info.primary.clone());
            // Read as the boot configuration reader read them.
            let read =
                |p: &str| bootcfg::read_config_file(&mut iso, &tree, &primary, p).ok().flatten();
            edit::edit_boot_configs(report, read, &refs).map_err(|e| format!("{e}"))
        })
    };
    let edits = match edits {
        Ok(e) => e,
        Err(e) => {
            log(format_args!("linux: kernel parameters {text} not added: {e}"));
            return;
        }
    };
    for (path, why) in &edits.problems {
        log(format_args!("linux: {path}: kernel parameters not added: {why}"));
    }
    if edits.edits.is_empty() {
        if edits.unchanged.is_empty() {
            log(format_args!("linux: no boot configuration file to add {text} to"));
        }
        return;
    }
    let files: Vec<file_replace::Replacement> = edits
        .edits
        .iter()
        .map(|e| file_replace::Replacement {
            path: e.path.clone(),
            bytes: file_replace::NewBytes::Memory(e.bytes.as_slice().into()),
        })
        .collect();
    let start = layout.size();
    let plan = match file_replace::plan(&mut layout.reader(&mut *disk), start, &files) {
        Ok(p) => p,
        Err(e) => {
            log(format_args!("linux: kernel parameters {text} not added: {e}"));
            return;
        }
    };
    if let Err(e) = plan.apply(layout) {
        log(format_args!("linux: kernel parameters {text} not added: {e}"));
        return;
    }
    for r in &plan.replaced {
        let lines = edits.edits.iter().find(|e| e.path == r.path).map_or(0, |e| e.changed);
        log(format_args!("linux: {}: \"{text}\" added to {lines} kernel lines", r.path));
    }
    for (path, why) in &plan.failed {
        log(format_args!("linux: {path}: kernel parameters not added: {why}"));
    }
}

/// The bytes of `f` read from the drive through its extents (zeros past them).
fn read_drive_file<D: ReadAt>(
    disk: &mut D,
    location: &DriveLocation,
    f: &DriveFile,
) -> Result<Vec<u8>, String> {
    let base = location.data.offset;
    let pieces =
        f.extents.iter().map(|e| (e.file_offset, base.saturating_add(e.device_offset), e.len));
    block::read_pieces(disk, f.size, pieces).map_err(|(_, _, err)| format!("{err}"))
}

/// Hand `f` to the hook as `to` (action, target). Small files travel in the wrapped initrd:
/// the booted initrd may not be able to read the drive (Debian's netboot installer has no USB
/// storage driver). Larger ones (a driver disk image) are read from the drive by the hook.
fn hand_over<D: ReadAt>(
    disk: &mut D,
    location: &DriveLocation,
    f: &DriveFile,
    to: (FileAction, &str),
    applied: &mut LinuxApplied,
    embedded_bytes: &mut u64,
    log: Log<'_>,
) {
    let mut file = HandoffFile::on_drive(location, to.0, to.1, &f.path, f.size, &f.extents);
    if f.size <= MAX_EMBEDDED && *embedded_bytes + f.size <= MAX_EMBEDDED_TOTAL {
        match read_drive_file(disk, location, f) {
            Ok(bytes) => {
                *embedded_bytes += f.size;
                file.extents.clear();
                applied.embedded.push((applied.files.len(), bytes.into()));
            }
            Err(e) => log(format_args!("{}: left for the hook to read: {e}", f.path)),
        }
    }
    applied.files.push(file);
}
