//! The boot configurations of an ISO image: every known GRUB and syslinux configuration and
//! the systemd-boot entries parsed, merged, and checked against the image (missing kernels and
//! initrds reported, each initrd's directory records found in every tree).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{
    parse_grub, parse_syslinux, parse_systemd_boot_entry, BootEntry, Parsed, Warning, WarningKind,
    MAX_ENTRIES, MAX_FILES, MAX_FILE_SIZE, MAX_WARNINGS,
};
use crate::block::ReadAt;
use crate::iso9660::{self, IsoEntry, IsoError, Section, Tree};
use crate::path;

/// Which directory tree of the ISO a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    /// The primary ISO 9660 tree (whose records also carry the Rock Ridge names).
    Primary,
    Joliet,
}

/// Where a file's directory record and data are in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub tree: TreeKind,
    /// Byte offset of the (first) directory record in the image; the extent and size
    /// fields are at `record_offset + iso9660::RECORD_EXTENT_FIELD`.
    pub record_offset: u64,
    /// First logical block of the data.
    pub lba: u32,
    pub size: u64,
    /// Every section (one per directory record; several only for files of 4 GiB and more).
    pub sections: Vec<Section>,
}

impl FileRecord {
    fn of(tree: TreeKind, e: &IsoEntry) -> FileRecord {
        FileRecord {
            tree,
            record_offset: e.record_offset(),
            lba: e.lba(),
            size: e.size,
            sections: e.sections.clone(),
        }
    }
}

/// An initrd some entry loads, as found in the ISO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitrdFile {
    /// Path as the configuration names it (normalised).
    pub path: String,
    pub size: u64,
    /// The file's records: the primary tree's first, then Joliet's when the image has one.
    pub records: Vec<FileRecord>,
}

/// What [`find_boot_entries`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootConfigReport {
    /// Distinct entries from every configuration read.
    pub entries: Vec<BootEntry>,
    /// Distinct initrds that exist in the ISO, in first-seen order.
    pub initrds: Vec<InitrdFile>,
    pub warnings: Vec<Warning>,
    /// Configuration files read.
    pub files: Vec<String>,
    /// Kernels that entries name but the ISO does not hold (e.g. a sample GRUB menu booting
    /// `(hd0,msdos1)`): those entries boot something else, not this ISO's system.
    pub missing_kernels: Vec<String>,
}

/// GRUB configurations looked for, with the `prefix` GRUB would have.
pub const GRUB_CONFIGS: &[&str] = &[
    "/boot/grub/grub.cfg",
    "/boot/grub/x86_64-efi/grub.cfg",
    "/boot/grub/loopback.cfg",
    "/EFI/BOOT/grub.cfg",
    "/boot/grub2/grub.cfg",
];
/// isolinux / syslinux configurations looked for.
pub const SYSLINUX_CONFIGS: &[&str] = &[
    "/isolinux/isolinux.cfg",
    "/boot/isolinux/isolinux.cfg",
    "/isolinux.cfg",
    "/syslinux/syslinux.cfg",
    "/boot/syslinux/syslinux.cfg",
    "/syslinux.cfg",
];
/// Directory of systemd-boot loader entries.
pub const LOADER_ENTRIES_DIR: &str = "/loader/entries";

/// Read an ISO image's boot configurations and list the kernels and initrds its boot
/// loaders may load, with the directory records of every initrd (for overriding). Fails
/// only when the image is not a readable ISO 9660 volume; everything else is a warning.
pub fn find_boot_entries<D: ReadAt + ?Sized>(iso: &mut D) -> Result<BootConfigReport, IsoError> {
    let info = iso9660::probe(iso)?;
    let tree = info.preferred_tree().clone();
    let mut report = BootConfigReport::default();

    let mut files = IsoFiles {
        iso: &mut *iso,
        tree: tree.clone(),
        primary: info.primary.clone(),
        read_errors: Vec::new(),
    };
    let mut parsed: Vec<Parsed> = Vec::new();
    parse_top_configs(&mut files, GRUB_CONFIGS, &mut parsed, |cfg, load| {
        let prefix = path::parent(cfg);
        parse_grub(cfg, &[("prefix", prefix), ("root", "cd0")], load)
    });
    parse_top_configs(&mut files, SYSLINUX_CONFIGS, &mut parsed, |cfg, load| {
        let base = path::parent(cfg);
        parse_syslinux(cfg, base, load)
    });
    let read_errors = files.read_errors;
    parsed.push(read_systemd_boot_entries(iso, [&tree, &info.primary]));
    merge_parsed(&mut report, parsed, read_errors);

    // Kernels and initrds that are missing; records of the initrds.
    let mut trees: Vec<(TreeKind, Tree)> = alloc::vec![(TreeKind::Primary, info.primary.clone())];
    if let Some(j) = &info.joliet {
        trees.push((TreeKind::Joliet, j.tree.clone()));
    }
    let mut checked_kernels: Vec<String> = Vec::new();
    for i in 0..report.entries.len() {
        let e = report.entries[i].clone();
        check_kernel(iso, &trees, &e, &mut checked_kernels, &mut report);
        find_initrds(iso, &trees, &e, &mut report);
    }
    add_records_found_by_extent(iso, &trees, &mut report);
    Ok(report)
}

/// Configuration files read from the image: the preferred tree first, the primary tree
/// when a name is not there. Errors other than "not found" are kept as warnings.
struct IsoFiles<'d, D: ReadAt + ?Sized> {
    iso: &'d mut D,
    tree: Tree,
    primary: Tree,
    read_errors: Vec<Warning>,
}

/// A configuration file `p` of the ISO as the boot configuration reader reads it: from
/// `tree` (the preferred one), else from `primary` when the name is not there; `Ok(None)` when
/// it is in neither, or a directory. At most [`MAX_FILE_SIZE`] bytes.
pub fn read_config_file<D: ReadAt + ?Sized>(
    iso: &mut D,
    tree: &Tree,
    primary: &Tree,
    p: &str,
) -> Result<Option<Vec<u8>>, IsoError> {
    let found = match iso9660::lookup(&mut *iso, tree, p) {
        Err(IsoError::NotFound) | Err(IsoError::NotADirectory) if tree != primary => {
            iso9660::lookup(&mut *iso, primary, p)
        }
        r => r,
    };
    match found {
        Ok(e) if !e.is_dir() => iso9660::read_to_vec(&mut *iso, &e, MAX_FILE_SIZE).map(Some),
        Ok(_) | Err(IsoError::NotFound) | Err(IsoError::NotADirectory) => Ok(None),
        Err(err) => Err(err),
    }
}

impl<D: ReadAt + ?Sized> IsoFiles<'_, D> {
    fn load(&mut self, p: &str) -> Option<Vec<u8>> {
        match read_config_file(&mut *self.iso, &self.tree, &self.primary, p) {
            Ok(d) => d,
            Err(err) => {
                self.read_errors.push(Warning {
                    kind: WarningKind::ReadError,
                    file: String::from(p),
                    line: 0,
                    detail: err.to_string(),
                });
                None
            }
        }
    }
}

/// Parse each of `configs` that exists (missing ones are not a problem) with `parse`, whose
/// loader gives the top-level file (already read to see that it exists) and then anything
/// else from the image.
fn parse_top_configs<D, P>(
    files: &mut IsoFiles<'_, D>,
    configs: &[&str],
    parsed: &mut Vec<Parsed>,
    parse: P,
) where
    D: ReadAt + ?Sized,
    P: Fn(&str, &mut dyn FnMut(&str) -> Option<Vec<u8>>) -> Parsed,
{
    for cfg in configs {
        let Some(first) = files.load(cfg) else { continue };
        let mut first = Some(first);
        let mut load = |q: &str| {
            if q.eq_ignore_ascii_case(cfg) {
                if let Some(d) = first.take() {
                    return Some(d);
                }
            }
            files.load(q)
        };
        parsed.push(parse(cfg, &mut load));
    }
}

/// The systemd-boot entries in [`LOADER_ENTRIES_DIR`] of the first of `trees` that has it.
fn read_systemd_boot_entries<D: ReadAt + ?Sized>(iso: &mut D, trees: [&Tree; 2]) -> Parsed {
    let mut sd = Parsed::default();
    let found =
        trees.into_iter().find_map(|t| match iso9660::lookup(&mut *iso, t, LOADER_ENTRIES_DIR) {
            Ok(d) if d.is_dir() => Some((t.clone(), d)),
            _ => None,
        });
    let Some((dir_tree, dir)) = found else {
        return sd;
    };
    match iso9660::read_dir(&mut *iso, &dir_tree, &dir.record) {
        Ok(list) => {
            let mut list: Vec<IsoEntry> = list
                .into_iter()
                .filter(|e| !e.is_dir() && e.name().to_ascii_lowercase().ends_with(".conf"))
                .collect();
            list.sort_by(|a, b| a.name().cmp(b.name()));
            for e in list.iter().take(MAX_FILES) {
                let path = format!("{LOADER_ENTRIES_DIR}/{}", e.name());
                match iso9660::read_to_vec(&mut *iso, e, MAX_FILE_SIZE) {
                    Ok(d) => {
                        sd.files.push(path.clone());
                        if let Some(entry) = parse_systemd_boot_entry(&path, &d) {
                            sd.entries.push(entry);
                        }
                    }
                    Err(err) => sd.warn(WarningKind::ReadError, &path, 0, err.to_string()),
                }
            }
        }
        Err(err) => sd.warn(WarningKind::ReadError, LOADER_ENTRIES_DIR, 0, err.to_string()),
    }
    sd
}

/// A warning not reported yet, while there is room.
fn push_new_warning(report: &mut BootConfigReport, w: Warning) {
    if !report.warnings.contains(&w) && report.warnings.len() < MAX_WARNINGS {
        report.warnings.push(w);
    }
}

/// A file named by the configuration `source` that the image does not hold.
fn missing_file(report: &mut BootConfigReport, source: &str, detail: String) {
    let w = Warning { kind: WarningKind::MissingFile, file: String::from(source), line: 0, detail };
    push_new_warning(report, w);
}

/// The distinct entries, warnings and files of every parse, then the read errors.
fn merge_parsed(report: &mut BootConfigReport, parsed: Vec<Parsed>, read_errors: Vec<Warning>) {
    for p in parsed {
        for e in p.entries {
            let dup = report.entries.iter().any(|o| {
                o.loader == e.loader
                    && o.kernel == e.kernel
                    && o.initrds == e.initrds
                    && o.cmdline == e.cmdline
            });
            if !dup && report.entries.len() < MAX_ENTRIES {
                report.entries.push(e);
            }
        }
        for w in p.warnings {
            push_new_warning(report, w);
        }
        for f in p.files {
            if !report.files.contains(&f) {
                report.files.push(f);
            }
        }
    }
    for w in read_errors {
        push_new_warning(report, w);
    }
}

/// Warn when the entry's kernel is in none of the trees (each kernel looked up once).
fn check_kernel<D: ReadAt + ?Sized>(
    iso: &mut D,
    trees: &[(TreeKind, Tree)],
    e: &BootEntry,
    checked_kernels: &mut Vec<String>,
    report: &mut BootConfigReport,
) {
    let Some(k) = &e.kernel else { return };
    if k.contains('$') || checked_kernels.contains(k) {
        return;
    }
    checked_kernels.push(k.clone());
    let found =
        trees.iter().any(|(_, t)| matches!(iso9660::lookup(&mut *iso, t, k), Ok(f) if !f.is_dir()));
    if !found {
        report.missing_kernels.push(k.clone());
        missing_file(report, &e.source, format!("kernel {k} is not in the ISO"));
    }
}

/// Add the entry's initrds not yet in the report, with their records in every tree where
/// their name is found; warn about those found in none.
fn find_initrds<D: ReadAt + ?Sized>(
    iso: &mut D,
    trees: &[(TreeKind, Tree)],
    e: &BootEntry,
    report: &mut BootConfigReport,
) {
    for path in &e.initrds {
        if report.initrds.iter().any(|f| &f.path == path) {
            continue;
        }
        let mut records = Vec::new();
        if !path.contains('$') {
            for (kind, t) in trees {
                if let Ok(f) = iso9660::lookup(&mut *iso, t, path) {
                    if !f.is_dir() {
                        records.push(FileRecord::of(*kind, &f));
                    }
                }
            }
        }
        if records.is_empty() {
            missing_file(report, &e.source, format!("initrd {path} is not in the ISO"));
            continue;
        }
        report.initrds.push(InitrdFile { path: path.clone(), size: records[0].size, records });
    }
}

/// A tree where a name was not found (e.g. the primary tree's mangled 8.3 names of a
/// Joliet-only image) still has a record for the same data: find it by extent.
fn add_records_found_by_extent<D: ReadAt + ?Sized>(
    iso: &mut D,
    trees: &[(TreeKind, Tree)],
    report: &mut BootConfigReport,
) {
    for (kind, t) in trees {
        let missing: Vec<usize> = (0..report.initrds.len())
            .filter(|&i| !report.initrds[i].records.iter().any(|r| r.tree == *kind))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let mut found: Vec<(usize, FileRecord)> = Vec::new();
        let walked = iso9660::walk(&mut *iso, t, iso9660::MAX_DEPTH, |_, e| {
            if !e.is_dir() {
                for &i in &missing {
                    let f = &report.initrds[i];
                    let r = &f.records[0];
                    if e.lba() == r.lba && e.size == f.size && !found.iter().any(|(j, _)| *j == i) {
                        found.push((i, FileRecord::of(*kind, e)));
                    }
                }
            }
            found.len() < missing.len()
        });
        if let Err(err) = walked {
            let w = Warning {
                kind: WarningKind::ReadError,
                file: String::new(),
                line: 0,
                detail: format!("walking the {kind:?} tree: {err}"),
            };
            if report.warnings.len() < MAX_WARNINGS {
                report.warnings.push(w);
            }
        }
        for (i, r) in found {
            let recs = &mut report.initrds[i].records;
            recs.push(r);
            recs.sort_by_key(|r| r.tree != TreeKind::Primary);
        }
    }
}
