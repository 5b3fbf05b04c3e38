//! The boot menu: which files become entries (the scan, here) and the menu itself as pure
//! state ([`model`]).
//!
//! # Scan rules (Ventoy-compatible unless noted)
//!
//! - Images are recognised by extension, case-insensitively: `.iso`, `.img`, `.efi`, `.wim`,
//!   `.vhd`, `.vhdx` ([`ImageKind`]). A name that is only an extension (`.iso`) is not an image.
//! - The search starts at [`ScanOptions::root`] (`VTOY_DEFAULT_SEARCH_ROOT`). If that directory
//!   cannot be listed the whole volume is searched instead and the failure is reported.
//! - Depth is counted from the search root, which is level 0 (`VTOY_MAX_SEARCH_LEVEL`): depth 0
//!   lists only the root's own files. Default [`DEFAULT_MAX_DEPTH`] (Ventoy's default is
//!   unlimited); values above [`MAX_DEPTH_LIMIT`] are clamped.
//! - Skipped directories ([`should_skip_dir`], case-insensitive): `.Trash*` (`.Trashes`,
//!   `.Trash-1000`), `$RECYCLE.BIN`, `System Volume Information`. Other directories whose names
//!   start with `.` *are* searched, as Ventoy does: users do keep images in `.images/`, and the
//!   macOS metadata directories (`.fseventsd`, `.Spotlight-V100`) hold no image files anyway.
//! - A subdirectory holding a *file* whose name starts with `.polybootignore` or
//!   `.ventoyignore` (case-insensitive, so `.ventoyignore.txt` made by Windows Explorer counts
//!   too) is skipped with everything below it. As in Ventoy the marker is not honoured in the
//!   search root itself (a drive whose menu would be empty by design makes no sense).
//! - `._*` files (macOS AppleDouble metadata, [`should_skip_file`]) are skipped when
//!   [`ScanOptions::filter_dot_underscore`] is set (the default; `VTOY_FILT_DOT_UNDERSCORE_FILE`).
//! - Files smaller than [`ScanOptions::min_size`] (default 32 KiB, Ventoy's rule) are skipped,
//!   except `.efi` files: an EFI application such as a shell or memtest can be a few KiB, and
//!   their size says nothing about whether they are real.
//! - Bounds against huge or corrupt volumes: at most [`ScanOptions::max_images`] images and
//!   [`ScanOptions::max_dirs`] directory listings (a corrupt volume can make a directory contain
//!   itself); hitting one sets [`ScanReport::limit`]. The walk is iterative (no recursion).
//! - Entry names that cannot be a single path component (empty, `.`, `..`, containing `/`,
//!   `\` or NUL — exFAT stores none of these) are ignored.
//! - Unreadable directories are reported in [`ScanReport::errors`] and the walk goes on.
//! - Everything left out is recorded in [`ScanReport::skipped`] with a [`SkipReason`]: the
//!   skipped directories (not what they hold), `._*`, too small and non-image files; not the
//!   ignore markers and `.sha256` checksum files ([`is_bookkeeping_file`]). The boot managers
//!   ignore the list; `polyboot check` shows it.
//! - Order: each directory's entries are sorted with [`natural_cmp`] (byte order with
//!   [`ScanOptions::case_sensitive_sort`], `VTOY_SORT_CASE_SENSITIVE`) and walked depth-first, so
//!   directories and files interleave like a tree view (`/a/x.iso`, `/b.iso`, `/c/y.iso`).
//!
//! # Menu behaviour
//!
//! See [`model`]: the menu as pure state (list and tree view, keys, passwords, countdown).

use crate::block::ReadAt;
use crate::exfat::{self, ExFat};
use crate::natsort::natural_cmp;
use crate::path::{eq_ignore_case, join};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

// ------------------------------------------------------------------------------------------
// Image kinds and name rules
// ------------------------------------------------------------------------------------------

/// What kind of image a file is, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageKind {
    Iso,
    Img,
    Efi,
    Wim,
    Vhd,
    Vhdx,
}

impl ImageKind {
    pub const ALL: [ImageKind; 6] = [
        ImageKind::Iso,
        ImageKind::Img,
        ImageKind::Efi,
        ImageKind::Wim,
        ImageKind::Vhd,
        ImageKind::Vhdx,
    ];

    /// The kind of a file name (`"Debian.ISO"` → `Iso`); `None` for other files and for names
    /// that are only an extension (`".iso"`).
    pub fn from_name(name: &str) -> Option<ImageKind> {
        let (stem, ext) = name.rsplit_once('.')?;
        if stem.is_empty() {
            return None;
        }
        ImageKind::from_extension(ext)
    }

    /// The kind for an extension without the dot, case-insensitive.
    pub fn from_extension(ext: &str) -> Option<ImageKind> {
        ImageKind::ALL.into_iter().find(|k| ext.eq_ignore_ascii_case(k.extension()))
    }

    /// The extension in lower case, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Iso => "iso",
            ImageKind::Img => "img",
            ImageKind::Efi => "efi",
            ImageKind::Wim => "wim",
            ImageKind::Vhd => "vhd",
            ImageKind::Vhdx => "vhdx",
        }
    }

    /// Short upper-case name for the menu ("ISO").
    pub fn label(self) -> &'static str {
        match self {
            ImageKind::Iso => "ISO",
            ImageKind::Img => "IMG",
            ImageKind::Efi => "EFI",
            ImageKind::Wim => "WIM",
            ImageKind::Vhd => "VHD",
            ImageKind::Vhdx => "VHDX",
        }
    }

    /// Whether polyboot can boot this kind at all today. VHD(X) files are listed (so users
    /// see their files were found) but marked "not bootable yet".
    pub fn is_bootable_yet(self) -> bool {
        matches!(self, ImageKind::Iso | ImageKind::Img | ImageKind::Efi | ImageKind::Wim)
    }

    /// Whether [`ScanOptions::min_size`] applies (everything but `.efi`).
    pub fn has_min_size(self) -> bool {
        self != ImageKind::Efi
    }
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

fn starts_with_ignore_ascii_case(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name.as_bytes().iter().zip(prefix.as_bytes()).all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// Directories never searched: trash and Windows system directories (case-insensitive).
pub fn should_skip_dir(name: &str) -> bool {
    starts_with_ignore_ascii_case(name, ".trash")
        || name.eq_ignore_ascii_case("$RECYCLE.BIN")
        || name.eq_ignore_ascii_case("System Volume Information")
}

/// `._*` files: macOS AppleDouble metadata, never images (skipped when filtering is on).
pub fn should_skip_file(name: &str) -> bool {
    name.starts_with("._")
}

/// A file whose presence makes the scan skip its directory (`.polybootignore`,
/// `.ventoyignore`, any suffix, case-insensitive).
pub fn is_ignore_marker(name: &str) -> bool {
    starts_with_ignore_ascii_case(name, ".polybootignore")
        || starts_with_ignore_ascii_case(name, ".ventoyignore")
}

/// A name usable as one path component.
fn valid_component(name: &str) -> bool {
    !matches!(name, "" | "." | "..") && !name.contains(['/', '\\', '\0'])
}

/// Normalise an absolute path as written in a config file (see
/// [`crate::path::normalize_absolute`]): `None` when it is not absolute or contains `..`.
pub use crate::path::normalize_absolute as normalize_path;

/// Human-readable size with binary units and one decimal: `512 B`, `2.0 MiB`, `4.7 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let b = u128::from(bytes);
    let mut unit: u128 = 1024;
    let mut i = 0;
    while i + 1 < UNITS.len() && b >= unit * 1024 {
        unit *= 1024;
        i += 1;
    }
    let mut tenths = (b * 10 + unit / 2) / unit;
    // 1023.96 KiB rounds to 1024.0: show it as 1.0 MiB instead.
    if tenths >= 10240 && i + 1 < UNITS.len() {
        unit *= 1024;
        i += 1;
        tenths = (b * 10 + unit / 2) / unit;
    }
    let name = UNITS.get(i).copied().unwrap_or("EiB");
    format!("{}.{} {}", tenths / 10, tenths % 10, name)
}

// ------------------------------------------------------------------------------------------
// Scanner
// ------------------------------------------------------------------------------------------

/// One entry of a directory listing, as a [`DirSource`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub name: String,
    pub is_dir: bool,
    /// File size in bytes (ignored for directories).
    pub size: u64,
}

/// Something that lists directories by absolute path (`"/"`, `"/ISO/linux"`): the exFAT data
/// partition in the firmware and the CLI, an in-memory tree in tests.
pub trait DirSource {
    type Error: fmt::Display;
    fn list(&mut self, path: &str) -> Result<Vec<SourceEntry>, Self::Error>;
}

impl<D: ReadAt> DirSource for ExFat<D> {
    type Error = exfat::Error;

    fn list(&mut self, path: &str) -> Result<Vec<SourceEntry>, exfat::Error> {
        Ok(self
            .read_dir(path)?
            .into_iter()
            .map(|e| SourceEntry { is_dir: e.is_dir(), name: e.name, size: e.size })
            .collect())
    }
}

impl<T: DirSource + ?Sized> DirSource for &mut T {
    type Error = T::Error;
    fn list(&mut self, path: &str) -> Result<Vec<SourceEntry>, T::Error> {
        (**self).list(path)
    }
}

/// Default search depth below the search root (Ventoy: unlimited).
pub const DEFAULT_MAX_DEPTH: u32 = 10;
/// Largest depth honoured; larger settings (and Ventoy's `"max"`) are clamped to this.
pub const MAX_DEPTH_LIMIT: u32 = 64;
/// Default cap on the number of images listed.
pub const DEFAULT_MAX_IMAGES: usize = 10_000;
/// Default cap on the number of directories listed (the root included).
pub const DEFAULT_MAX_DIRS: usize = 10_000;
/// Ventoy's minimum image size: smaller files are not images.
pub const DEFAULT_MIN_SIZE: u64 = 32 * 1024;
/// At most this many entries are recorded in [`ScanReport::skipped`].
pub const MAX_SKIPPED_RECORDED: usize = 1_000;

/// What to scan and the bounds of the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// Absolute path of the directory to search (normalised with [`normalize_path`]).
    pub root: String,
    /// Levels of subdirectories below `root` to search; 0 = the root's own files only.
    pub max_depth: u32,
    pub max_images: usize,
    pub max_dirs: usize,
    /// Files smaller than this are skipped (not `.efi` files).
    pub min_size: u64,
    /// Skip `._*` files.
    pub filter_dot_underscore: bool,
    /// Sort each directory by byte order (`ISO` before `alpha`) instead of naturally.
    pub case_sensitive_sort: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            root: String::from("/"),
            max_depth: DEFAULT_MAX_DEPTH,
            max_images: DEFAULT_MAX_IMAGES,
            max_dirs: DEFAULT_MAX_DIRS,
            min_size: DEFAULT_MIN_SIZE,
            filter_dot_underscore: true,
            case_sensitive_sort: false,
        }
    }
}

/// An image found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// Absolute path on the data partition (`/ISO/debian.iso`).
    pub path: String,
    /// The file name (last path component).
    pub name: String,
    pub kind: ImageKind,
    pub size: u64,
}

/// A directory that could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a file or directory the scan met is not in the menu (for `polyboot check` and the
/// firmware's diagnostics screen). Every file is recorded except the scan's and polyboot's own
/// bookkeeping ([`is_bookkeeping_file`]); a skipped directory is recorded once, not what it
/// holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// An image-named file below the minimum size (`min_size`, from [`ScanOptions`]): a
    /// truncated copy or download, or not an image at all.
    TooSmall { size: u64, min_size: u64 },
    /// A `._*` file (macOS metadata).
    DotUnderscore,
    /// A directory holding `.polybootignore` / `.ventoyignore`.
    IgnoreMarker,
    /// A trash or Windows system directory ([`should_skip_dir`]).
    SystemDirectory,
    /// A directory below the maximum depth.
    TooDeep,
    /// A file whose name has no image extension ([`ImageKind`]).
    UnknownExtension,
}

impl SkipReason {
    /// A short stable name for machine-readable output: `too_small`, `dot_underscore`,
    /// `ignore_marker`, `system_directory`, `too_deep`, `unknown_extension`.
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::TooSmall { .. } => "too_small",
            SkipReason::DotUnderscore => "dot_underscore",
            SkipReason::IgnoreMarker => "ignore_marker",
            SkipReason::SystemDirectory => "system_directory",
            SkipReason::TooDeep => "too_deep",
            SkipReason::UnknownExtension => "unknown_extension",
        }
    }

    /// Whether the skipped entry is an image file the user meant to boot and will not find in
    /// the menu (image-named, left out only for its size); the other reasons are deliberate
    /// or concern files that are not images.
    pub fn is_problem(self) -> bool {
        matches!(self, SkipReason::TooSmall { .. })
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::TooSmall { size, min_size } => write!(
                f,
                "too small or truncated: {} is under the {} an image needs",
                format_size(*size),
                format_size(*min_size)
            ),
            SkipReason::DotUnderscore => f.write_str("macOS metadata file (._*)"),
            SkipReason::IgnoreMarker => f.write_str(
                "ignored directory: it holds a .polybootignore / .ventoyignore file (nothing below it is listed)",
            ),
            SkipReason::SystemDirectory => f.write_str(
                "ignored directory: trash or Windows system directory (nothing below it is listed)",
            ),
            SkipReason::TooDeep => {
                f.write_str("deeper than the search depth (nothing below it is listed)")
            }
            SkipReason::UnknownExtension => f.write_str(
                "unknown extension (images end in .iso, .img, .efi, .wim, .vhd or .vhdx)",
            ),
        }
    }
}

/// Files the scan passes over without recording them in [`ScanReport::skipped`]: the ignore
/// markers (their directory is recorded instead) and `polyboot add`'s `<image>.sha256`
/// checksum files; neither was meant to be a menu entry. The boot configuration files
/// ([`POLYBOOT_JSON`], [`VENTOY_JSON`]) are not recorded either.
pub fn is_bookkeeping_file(name: &str) -> bool {
    let b = name.as_bytes();
    is_ignore_marker(name) || b.len() >= 7 && b[b.len() - 7..].eq_ignore_ascii_case(b".sha256")
}

/// Where our configuration lives on the data partition (read by `config`).
pub const POLYBOOT_JSON: &str = "/polyboot/polyboot.json";
/// Where Ventoy's configuration lives on the data partition (read by `config`).
pub const VENTOY_JSON: &str = "/ventoy/ventoy.json";

/// `/polyboot/polyboot.json` or `/ventoy/ventoy.json` (case-insensitive, as exFAT looks them up).
fn is_config_file(path: &str) -> bool {
    [POLYBOOT_JSON, VENTOY_JSON].iter().any(|c| eq_ignore_case(c, path))
}

/// Which bound stopped the scan early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanLimit {
    /// [`ScanOptions::max_images`] images were found; the rest were not listed.
    Images,
    /// [`ScanOptions::max_dirs`] directories were listed; further ones were not.
    Directories,
}

/// The result of [`scan`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanReport {
    /// The directory actually searched ("/" after a fallback).
    pub root: String,
    /// Images in menu order.
    pub images: Vec<ImageEntry>,
    /// Directories that could not be listed.
    pub errors: Vec<ScanError>,
    /// Up to [`MAX_SKIPPED_RECORDED`] skipped files and directories, with the reason, in walk
    /// order.
    pub skipped: Vec<(String, SkipReason)>,
    /// How many more were skipped once `skipped` was full.
    pub skipped_not_recorded: usize,
    pub limit: Option<ScanLimit>,
}

impl ScanReport {
    fn skip(&mut self, path: String, reason: SkipReason) {
        if self.skipped.len() < MAX_SKIPPED_RECORDED {
            self.skipped.push((path, reason));
        } else {
            self.skipped_not_recorded = self.skipped_not_recorded.saturating_add(1);
        }
    }
}

struct Frame {
    path: String,
    depth: u32,
    entries: vec::IntoIter<SourceEntry>,
}

fn list_sorted<S: DirSource + ?Sized>(
    source: &mut S,
    path: &str,
    listed: &mut usize,
    case_sensitive: bool,
) -> Result<Vec<SourceEntry>, String> {
    *listed = listed.saturating_add(1);
    let mut entries = source.list(path).map_err(|e| e.to_string())?;
    if case_sensitive {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
    } else {
        entries.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    }
    Ok(entries)
}

/// Walk `source` from `options.root` and collect the images; see the module documentation for
/// the rules. Never fails: problems are in [`ScanReport::errors`].
pub fn scan<S: DirSource + ?Sized>(source: &mut S, options: &ScanOptions) -> ScanReport {
    let mut report = ScanReport { root: String::from("/"), ..ScanReport::default() };
    let max_depth = options.max_depth.min(MAX_DEPTH_LIMIT);
    let mut listed = 0usize;

    let root = match normalize_path(&options.root) {
        Some(root) => root,
        None => {
            report.errors.push(ScanError {
                path: options.root.clone(),
                message: String::from(
                    "search root is not an absolute path; searching the whole volume",
                ),
            });
            String::from("/")
        }
    };
    let (root, entries) = match list_sorted(source, &root, &mut listed, options.case_sensitive_sort)
    {
        Ok(entries) => (root, entries),
        Err(message) if root != "/" => {
            report.errors.push(ScanError {
                path: root,
                message: format!("{message}; searching the whole volume instead"),
            });
            match list_sorted(source, "/", &mut listed, options.case_sensitive_sort) {
                Ok(entries) => (String::from("/"), entries),
                Err(message) => {
                    report.errors.push(ScanError { path: String::from("/"), message });
                    return report;
                }
            }
        }
        Err(message) => {
            report.errors.push(ScanError { path: root, message });
            return report;
        }
    };
    report.root = root.clone();

    let mut stack = vec![Frame { path: root, depth: 0, entries: entries.into_iter() }];
    while let Some(frame) = stack.last_mut() {
        let Some(entry) = frame.entries.next() else {
            stack.pop();
            continue;
        };
        if !valid_component(&entry.name) {
            continue;
        }
        let depth = frame.depth;
        let path = join(&frame.path, &entry.name);
        if entry.is_dir {
            if should_skip_dir(&entry.name) {
                report.skip(path, SkipReason::SystemDirectory);
                continue;
            }
            if depth >= max_depth {
                report.skip(path, SkipReason::TooDeep);
                continue;
            }
            if listed >= options.max_dirs {
                report.limit = Some(ScanLimit::Directories);
                continue;
            }
            match list_sorted(source, &path, &mut listed, options.case_sensitive_sort) {
                Err(message) => report.errors.push(ScanError { path, message }),
                Ok(entries) => {
                    if entries.iter().any(|e| !e.is_dir && is_ignore_marker(&e.name)) {
                        report.skip(path, SkipReason::IgnoreMarker);
                    } else {
                        stack.push(Frame { path, depth: depth + 1, entries: entries.into_iter() });
                    }
                }
            }
        } else {
            if is_bookkeeping_file(&entry.name) || is_config_file(&path) {
                continue;
            }
            if options.filter_dot_underscore && should_skip_file(&entry.name) {
                report.skip(path, SkipReason::DotUnderscore);
                continue;
            }
            let Some(kind) = ImageKind::from_name(&entry.name) else {
                report.skip(path, SkipReason::UnknownExtension);
                continue;
            };
            if kind.has_min_size() && entry.size < options.min_size {
                let reason = SkipReason::TooSmall { size: entry.size, min_size: options.min_size };
                report.skip(path, reason);
                continue;
            }
            if report.images.len() >= options.max_images {
                report.limit = Some(ScanLimit::Images);
                break;
            }
            report.images.push(ImageEntry { path, name: entry.name, kind, size: entry.size });
        }
    }
    report
}

pub mod choice;
mod model;
pub use model::*;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::string::ToString;

    const KIB: u64 = 1024;
    const BIG: u64 = 700 * 1024 * 1024;

    /// An in-memory directory tree.
    #[derive(Default)]
    struct MemTree {
        dirs: BTreeMap<String, Vec<SourceEntry>>,
        broken: BTreeMap<String, String>,
        listed: Vec<String>,
    }

    use crate::path::split;

    impl MemTree {
        fn new() -> Self {
            let mut t = MemTree::default();
            t.dirs.insert("/".into(), Vec::new());
            t
        }
        fn dir(&mut self, path: &str) -> &mut Self {
            if !self.dirs.contains_key(path) {
                self.dirs.insert(path.into(), Vec::new());
                let (parent, name) = split(path);
                self.dir(parent);
                self.dirs.get_mut(parent).unwrap().push(SourceEntry {
                    name: name.into(),
                    is_dir: true,
                    size: 4096,
                });
            }
            self
        }
        fn file(&mut self, path: &str, size: u64) -> &mut Self {
            let (parent, name) = split(path);
            self.dir(parent);
            self.dirs.get_mut(parent).unwrap().push(SourceEntry {
                name: name.into(),
                is_dir: false,
                size,
            });
            self
        }
        fn broken(&mut self, path: &str, message: &str) -> &mut Self {
            self.dir(path);
            self.broken.insert(path.into(), message.into());
            self
        }
    }

    impl DirSource for MemTree {
        type Error = String;
        fn list(&mut self, path: &str) -> Result<Vec<SourceEntry>, String> {
            self.listed.push(path.into());
            if let Some(message) = self.broken.get(path) {
                return Err(message.clone());
            }
            self.dirs.get(path).cloned().ok_or_else(|| "no such directory".to_string())
        }
    }

    fn paths(report: &ScanReport) -> Vec<&str> {
        report.images.iter().map(|i| i.path.as_str()).collect()
    }

    fn scan_default(tree: &mut MemTree) -> ScanReport {
        scan(tree, &ScanOptions::default())
    }

    // ---------------------------------------------------------------- kinds and name rules

    #[test]
    fn kinds_from_names() {
        let cases = [
            ("debian.iso", Some(ImageKind::Iso)),
            ("Debian.ISO", Some(ImageKind::Iso)),
            ("disk.Img", Some(ImageKind::Img)),
            ("BOOTX64.EFI", Some(ImageKind::Efi)),
            ("install.wim", Some(ImageKind::Wim)),
            ("win.vhd", Some(ImageKind::Vhd)),
            ("win.VHDX", Some(ImageKind::Vhdx)),
            ("a.b.iso", Some(ImageKind::Iso)),
            ("archive.iso.zip", None),
            ("iso", None),
            (".iso", None),
            ("readme.txt", None),
            ("x.", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(ImageKind::from_name(name), want, "{name}");
        }
        for kind in ImageKind::ALL {
            assert_eq!(ImageKind::from_extension(kind.extension()), Some(kind));
        }
        assert!(ImageKind::Iso.is_bootable_yet());
        assert!(ImageKind::Img.is_bootable_yet());
        assert!(ImageKind::Efi.is_bootable_yet());
        assert!(ImageKind::Wim.is_bootable_yet());
        assert!(!ImageKind::Vhd.is_bootable_yet());
        assert!(!ImageKind::Vhdx.is_bootable_yet());
    }

    #[test]
    fn skip_rules() {
        for name in [
            ".Trashes",
            ".Trash-1000",
            ".trash",
            "$RECYCLE.BIN",
            "$Recycle.Bin",
            "System Volume Information",
            "SYSTEM VOLUME INFORMATION",
        ] {
            assert!(should_skip_dir(name), "{name}");
        }
        for name in [".images", "Trash", "ISO", "System", ".fseventsd", "$RECYCLE.BIN2x"] {
            assert!(!should_skip_dir(name), "{name}");
        }
        assert!(should_skip_file("._debian.iso"));
        assert!(!should_skip_file(".debian.iso"));
        assert!(!should_skip_file("_debian.iso"));
        for name in [".ventoyignore", ".VentoyIgnore", ".ventoyignore.txt", ".polybootignore"] {
            assert!(is_ignore_marker(name), "{name}");
        }
        for name in ["ventoyignore", ".ventoy", "x.ventoyignore", ".polyboot"] {
            assert!(!is_ignore_marker(name), "{name}");
        }
    }

    #[test]
    fn path_normalisation() {
        assert_eq!(normalize_path("/").as_deref(), Some("/"));
        assert_eq!(normalize_path("//").as_deref(), Some("/"));
        assert_eq!(normalize_path("/ISO/").as_deref(), Some("/ISO"));
        assert_eq!(normalize_path("//ISO/./x.iso").as_deref(), Some("/ISO/x.iso"));
        assert_eq!(normalize_path("\\ISO\\x.iso").as_deref(), Some("/ISO/x.iso"));
        assert_eq!(normalize_path("/a b/c d.iso").as_deref(), Some("/a b/c d.iso"));
        assert_eq!(normalize_path("ISO/x.iso"), None);
        assert_eq!(normalize_path(""), None);
        assert_eq!(normalize_path("/ISO/../x.iso"), None);
        assert_eq!(normalize_path("/a\0b"), None);
    }

    #[test]
    fn sizes() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (2 * 1024 * 1024, "2.0 MiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (4_700_000_000, "4.4 GiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(format_size(bytes), want, "{bytes}");
        }
    }

    // ---------------------------------------------------------------- scanner

    #[test]
    fn tree_walk_in_natural_order() {
        let mut t = MemTree::new();
        t.file("/b.iso", BIG)
            .file("/a/x10.iso", BIG)
            .file("/a/x9.iso", BIG)
            .file("/c.img", BIG)
            .file("/A2.iso", BIG)
            .file("/readme.txt", BIG)
            .file("/c/deep/z.WIM", BIG)
            .file("/c/y.vhdx", BIG)
            .file("/c/Y.vhd", BIG)
            .file("/disk10.iso", BIG)
            .file("/disk9.iso", BIG);
        let r = scan_default(&mut t);
        assert_eq!(
            paths(&r),
            [
                "/a/x9.iso",
                "/a/x10.iso",
                "/A2.iso",
                "/b.iso",
                "/c/deep/z.WIM",
                "/c/Y.vhd",
                "/c/y.vhdx",
                "/c.img",
                "/disk9.iso",
                "/disk10.iso",
            ]
        );
        assert_eq!(r.root, "/");
        assert!(r.errors.is_empty() && r.limit.is_none());
        let z = &r.images[4];
        assert_eq!((z.name.as_str(), z.kind, z.size), ("z.WIM", ImageKind::Wim, BIG));

        // VTOY_SORT_CASE_SENSITIVE: byte order, upper case first, digits not as numbers.
        let options = ScanOptions { case_sensitive_sort: true, ..ScanOptions::default() };
        assert_eq!(
            paths(&scan(&mut t, &options)),
            [
                "/A2.iso",
                "/a/x10.iso",
                "/a/x9.iso",
                "/b.iso",
                "/c/Y.vhd",
                "/c/deep/z.WIM",
                "/c/y.vhdx",
                "/c.img",
                "/disk10.iso",
                "/disk9.iso",
            ]
        );
    }

    #[test]
    fn skipped_directories_and_files() {
        let mut t = MemTree::new();
        t.file("/.Trashes/501/old.iso", BIG)
            .file("/.Trash-1000/files/old.iso", BIG)
            .file("/$RECYCLE.BIN/S-1-5-21/$R123.iso", BIG)
            .file("/system volume information/x.iso", BIG)
            .file("/.images/hidden-dir.iso", BIG)
            .file("/._apple.iso", BIG)
            .file("/.dotfile.iso", BIG)
            .file("/keep.iso", BIG);
        let r = scan_default(&mut t);
        assert_eq!(paths(&r), ["/.dotfile.iso", "/.images/hidden-dir.iso", "/keep.iso"]);
        let skipped: Vec<(&str, SkipReason)> =
            r.skipped.iter().map(|(p, why)| (p.as_str(), *why)).collect();
        assert_eq!(
            skipped,
            [
                ("/$RECYCLE.BIN", SkipReason::SystemDirectory),
                ("/._apple.iso", SkipReason::DotUnderscore),
                ("/.Trash-1000", SkipReason::SystemDirectory),
                ("/.Trashes", SkipReason::SystemDirectory),
                ("/system volume information", SkipReason::SystemDirectory),
            ]
        );
        // Skipped system directories are never even listed.
        assert!(!t.listed.iter().any(|p| p.contains("Trash") || p.contains("RECYCLE")));

        let options = ScanOptions { filter_dot_underscore: false, ..ScanOptions::default() };
        let r = scan(&mut t, &options);
        assert_eq!(
            paths(&r),
            ["/._apple.iso", "/.dotfile.iso", "/.images/hidden-dir.iso", "/keep.iso"]
        );
    }

    #[test]
    fn ignore_markers() {
        let mut t = MemTree::new();
        t.file("/ISO/a.iso", BIG)
            .file("/office/.ventoyignore", 0)
            .file("/office/office.iso", BIG)
            .file("/office/sub/deeper.iso", BIG)
            .file("/work/.polybootignore", 0)
            .file("/work/w.iso", BIG)
            .file("/win/.ventoyignore.txt", 4)
            .file("/win/w.iso", BIG)
            .file("/dirmark/.ventoyignore/x.iso", BIG) // a directory named like a marker
            .file("/dirmark/m.iso", BIG)
            .file("/.ventoyignore", 0) // not honoured in the search root
            .file("/root.iso", BIG);
        let r = scan_default(&mut t);
        assert_eq!(
            paths(&r),
            ["/dirmark/.ventoyignore/x.iso", "/dirmark/m.iso", "/ISO/a.iso", "/root.iso"]
        );
        let ignored: Vec<&str> = r
            .skipped
            .iter()
            .filter(|(_, why)| *why == SkipReason::IgnoreMarker)
            .map(|(p, _)| p.as_str())
            .collect();
        assert_eq!(ignored, ["/office", "/win", "/work"]);
        assert!(!t.listed.iter().any(|p| p == "/office/sub"));
    }

    #[test]
    fn depth_limit() {
        let mut t = MemTree::new();
        t.file("/0.iso", BIG)
            .file("/l1/1.iso", BIG)
            .file("/l1/l2/2.iso", BIG)
            .file("/l1/l2/l3/3.iso", BIG);
        let depth = |d: u32, t: &mut MemTree| {
            let r = scan(t, &ScanOptions { max_depth: d, ..ScanOptions::default() });
            paths(&r).into_iter().map(String::from).collect::<Vec<_>>()
        };
        assert_eq!(depth(0, &mut t), ["/0.iso"]);
        assert_eq!(depth(1, &mut t), ["/0.iso", "/l1/1.iso"]); // digits sort before letters
        assert_eq!(depth(2, &mut t), ["/0.iso", "/l1/1.iso", "/l1/l2/2.iso"]);
        assert_eq!(depth(10, &mut t).len(), 4);
        let r = scan(&mut t, &ScanOptions { max_depth: 1, ..ScanOptions::default() });
        assert_eq!(r.skipped, [("/l1/l2".to_string(), SkipReason::TooDeep)]);

        // Depths beyond the hard limit are clamped.
        let mut deep = MemTree::new();
        let mut path = String::new();
        for i in 0..100 {
            path.push_str(&format!("/d{i}"));
        }
        deep.file(&format!("{path}/bottom.iso"), BIG).file("/d0/top.iso", BIG);
        let r = scan(&mut deep, &ScanOptions { max_depth: u32::MAX, ..ScanOptions::default() });
        assert_eq!(paths(&r), ["/d0/top.iso"]);
        assert_eq!(deep.listed.len(), 1 + MAX_DEPTH_LIMIT as usize);
    }

    #[test]
    fn minimum_size() {
        let mut t = MemTree::new();
        t.file("/small.iso", 32 * KIB - 1)
            .file("/exact.iso", 32 * KIB)
            .file("/tiny.img", 512)
            .file("/shell.efi", 4 * KIB)
            .file("/empty.efi", 0)
            .file("/small.wim", 10);
        let r = scan_default(&mut t);
        assert_eq!(paths(&r), ["/empty.efi", "/exact.iso", "/shell.efi"]);
        let too_small: Vec<&str> = r.skipped.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(too_small, ["/small.iso", "/small.wim", "/tiny.img"]);
        let small = |size| SkipReason::TooSmall { size, min_size: 32 * KIB };
        let reasons: Vec<SkipReason> = r.skipped.iter().map(|(_, why)| *why).collect();
        assert_eq!(reasons, [small(32 * KIB - 1), small(10), small(512)]);
        assert!(reasons.iter().all(|why| why.is_problem() && why.code() == "too_small"));
        assert_eq!(
            small(5 * KIB).to_string(),
            "too small or truncated: 5.0 KiB is under the 32.0 KiB an image needs"
        );

        let r = scan(&mut t, &ScanOptions { min_size: 0, ..ScanOptions::default() });
        assert_eq!(r.images.len(), 6);
    }

    #[test]
    fn files_that_are_not_images_are_recorded_with_the_reason() {
        let mut t = MemTree::new();
        t.file("/junk.bin", BIG)
            .file("/debian.iso", BIG)
            .file("/debian.iso.sha256", 80) // add's checksum file: bookkeeping
            .file("/DEBIAN.ISO.SHA256", 80)
            .file("/._notes.txt", 10) // metadata, whatever its extension
            .file("/notes", 10)
            .file("/sub/.ventoyignore", 0) // reported as its directory
            .file("/sub/x.iso", BIG)
            .file("/iso/archive.iso.zip", BIG)
            .file("/ventoy/ventoy.json", 100) // boot configuration
            .file("/Polyboot/POLYBOOT.JSON", 100)
            .file("/ventoy/theme.txt", 100);
        let r = scan_default(&mut t);
        assert_eq!(paths(&r), ["/debian.iso"]);
        let skipped: Vec<(&str, &str)> =
            r.skipped.iter().map(|(p, why)| (p.as_str(), why.code())).collect();
        assert_eq!(
            skipped,
            [
                ("/._notes.txt", "dot_underscore"),
                ("/iso/archive.iso.zip", "unknown_extension"),
                ("/junk.bin", "unknown_extension"),
                ("/notes", "unknown_extension"),
                ("/sub", "ignore_marker"),
                ("/ventoy/theme.txt", "unknown_extension"),
            ]
        );
        assert!(r.skipped.iter().all(|(_, why)| !why.is_problem()));
        assert!(SkipReason::UnknownExtension.to_string().starts_with("unknown extension"));
        assert!(SkipReason::IgnoreMarker.to_string().contains(".ventoyignore"));
        assert!(SkipReason::SystemDirectory.to_string().starts_with("ignored directory"));
        for name in ["x.iso.sha256", "X.ISO.SHA256", ".polybootignore", ".ventoyignore.txt"] {
            assert!(is_bookkeeping_file(name), "{name}");
        }
        for name in ["sha256", "x.sha25", "x.iso", "ventoy.json"] {
            assert!(!is_bookkeeping_file(name), "{name}");
        }
    }

    #[test]
    fn skipped_entries_past_the_cap_are_counted() {
        let mut t = MemTree::new();
        for i in 0..MAX_SKIPPED_RECORDED + 5 {
            t.file(&format!("/f{i}.txt"), 1);
        }
        let r = scan_default(&mut t);
        assert_eq!((r.skipped.len(), r.skipped_not_recorded), (MAX_SKIPPED_RECORDED, 5));
    }

    #[test]
    fn search_root() {
        let mut t = MemTree::new();
        t.file("/outside.iso", BIG)
            .file("/ISO/in.iso", BIG)
            .file("/ISO/linux/deb.iso", BIG)
            .file("/ISO/linux/old/old.iso", BIG);
        let opts = |root: &str, max_depth| ScanOptions {
            root: root.into(),
            max_depth,
            ..ScanOptions::default()
        };
        let r = scan(&mut t, &opts("/ISO", 10));
        assert_eq!(r.root, "/ISO");
        assert_eq!(paths(&r), ["/ISO/in.iso", "/ISO/linux/deb.iso", "/ISO/linux/old/old.iso"]);
        // Depth counts from the search root.
        let r = scan(&mut t, &opts("/ISO/", 1));
        assert_eq!(paths(&r), ["/ISO/in.iso", "/ISO/linux/deb.iso"]);
        let r = scan(&mut t, &opts("\\ISO\\linux", 0));
        assert_eq!(paths(&r), ["/ISO/linux/deb.iso"]);

        // A missing root falls back to the whole volume, and says so.
        let r = scan(&mut t, &opts("/Missing", 10));
        assert_eq!(r.root, "/");
        assert_eq!(r.images.len(), 4);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].path, "/Missing");
        assert!(r.errors[0].message.contains("no such directory"));
        assert!(r.errors[0].message.contains("whole volume"));

        // A relative root is not guessed at.
        let r = scan(&mut t, &opts("ISO", 10));
        assert_eq!((r.root.as_str(), r.images.len(), r.errors.len()), ("/", 4, 1));
    }

    #[test]
    fn unreadable_directories_are_reported() {
        let mut t = MemTree::new();
        t.file("/a.iso", BIG)
            .file("/bad/lost.iso", BIG)
            .broken("/bad", "corrupt exFAT file system: bad cluster chain")
            .file("/good/g.iso", BIG);
        let r = scan_default(&mut t);
        assert_eq!(paths(&r), ["/a.iso", "/good/g.iso"]);
        assert_eq!(
            r.errors,
            [ScanError {
                path: "/bad".into(),
                message: "corrupt exFAT file system: bad cluster chain".into()
            }]
        );
        assert_eq!(r.errors[0].to_string(), "/bad: corrupt exFAT file system: bad cluster chain");

        // Even the root failing is a report, not a panic or an error.
        let mut t = MemTree::new();
        t.broken("/", "device error: timeout");
        let r = scan_default(&mut t);
        assert!(r.images.is_empty());
        assert_eq!(r.errors.len(), 1);
    }

    #[test]
    fn hostile_names_are_ignored() {
        let mut t = MemTree::new();
        t.file("/ok.iso", BIG);
        for name in ["", ".", "..", "a/b.iso", "a\\b.iso", "nul\0.iso"] {
            t.dirs.get_mut("/").unwrap().push(SourceEntry {
                name: name.into(),
                is_dir: false,
                size: BIG,
            });
            t.dirs.get_mut("/").unwrap().push(SourceEntry {
                name: name.into(),
                is_dir: true,
                size: 0,
            });
        }
        let r = scan_default(&mut t);
        assert_eq!(paths(&r), ["/ok.iso"]);
        assert_eq!(t.listed, ["/"]);
    }

    #[test]
    fn a_thousand_entries() {
        let mut t = MemTree::new();
        for i in (0..1000).rev() {
            t.file(&format!("/iso/image-{i}.iso"), BIG + i);
        }
        let r = scan_default(&mut t);
        assert_eq!(r.images.len(), 1000);
        for (i, image) in r.images.iter().enumerate() {
            assert_eq!(image.path, format!("/iso/image-{i}.iso"));
            assert_eq!(image.size, BIG + i as u64);
        }
        assert!(r.limit.is_none());

        let r = scan(&mut t, &ScanOptions { max_images: 100, ..ScanOptions::default() });
        assert_eq!(r.images.len(), 100);
        assert_eq!(r.images[99].name, "image-99.iso");
        assert_eq!(r.limit, Some(ScanLimit::Images));
    }

    /// A corrupt volume where every directory contains itself twice: the directory budget
    /// stops the exponential walk.
    #[test]
    fn directory_budget_stops_loops() {
        struct Loop(usize);
        impl DirSource for Loop {
            type Error = &'static str;
            fn list(&mut self, _path: &str) -> Result<Vec<SourceEntry>, &'static str> {
                self.0 += 1;
                Ok(vec![
                    SourceEntry { name: "a".into(), is_dir: true, size: 0 },
                    SourceEntry { name: "b".into(), is_dir: true, size: 0 },
                    SourceEntry { name: "x.iso".into(), is_dir: false, size: BIG },
                ])
            }
        }
        let mut source = Loop(0);
        let options =
            ScanOptions { max_depth: MAX_DEPTH_LIMIT, max_dirs: 500, ..ScanOptions::default() };
        let r = scan(&mut source, &options);
        assert_eq!(source.0, 500);
        assert_eq!(r.limit, Some(ScanLimit::Directories));
        assert_eq!(r.images.len(), 500);
        // Depth-first: the deepest directory's image comes first.
        assert_eq!(r.images[0].path, format!("{}/x.iso", "/a".repeat(64)));
    }

    #[test]
    fn scans_an_exfat_volume() {
        use crate::block::MemDevice;
        use crate::exfat::{format as mkfs, FormatOptions, Timestamp};
        let mut dev = MemDevice::new(16 << 20);
        mkfs(&mut dev, &FormatOptions { label: "POLYBOOT".into(), ..Default::default() }).unwrap();
        let mut fs = ExFat::open(dev).unwrap();
        let t = Timestamp::EPOCH;
        fs.create_dir_all("/ISO/linux", t).unwrap();
        fs.create_dir_all("/EFI/BOOT", t).unwrap();
        fs.create_dir_all("/skip", t).unwrap();
        fs.create_file("/ISO/linux/debian-12.iso", 1 << 20, t).unwrap();
        fs.create_file("/ISO/linux/debian-9.iso", 1 << 20, t).unwrap();
        fs.create_file("/ISO/tiny.iso", 100, t).unwrap();
        fs.create_file("/EFI/BOOT/BOOTX64.EFI", 5000, t).unwrap();
        fs.create_file("/skip/.ventoyignore", 0, t).unwrap();
        fs.create_file("/skip/x.iso", 1 << 20, t).unwrap();
        let r = scan(&mut fs, &ScanOptions::default());
        assert_eq!(
            paths(&r),
            ["/EFI/BOOT/BOOTX64.EFI", "/ISO/linux/debian-9.iso", "/ISO/linux/debian-12.iso"]
        );
        assert_eq!(r.images[1].size, 1 << 20);
        let r = scan(&mut fs, &ScanOptions { root: "/nope".into(), ..ScanOptions::default() });
        assert_eq!(
            r.errors[0].message,
            "no such file or directory; searching the whole volume instead"
        );
    }
}
