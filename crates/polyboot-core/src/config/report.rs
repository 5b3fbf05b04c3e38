//! What `polyboot config check` finds in a configuration: paths that match nothing on the
//! drive, settings that contradict each other, and each image's effective settings.
//!
//! Pure: a [`BootConfig`] (from [`super::load_all`]) and, when a drive is given, the images
//! the boot manager's scan lists there ([`crate::menu::scan`] with
//! [`BootConfig::scan_options`]) plus a way to ask whether a path exists. The parser's own
//! warnings are in [`BootConfig::warnings`]; nothing here repeats them except where a
//! consequence is worth saying (a malformed password locks images, both image lists set).
//!
//! Directories "exist" when they hold a listed image (at any depth) or the lookup says so.
//! Exact image paths are looked up in a set; only wildcard patterns are matched against every
//! image, each match linear in the lengths ([`super::pattern`]).

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::auto_install::TemplateChoice;
use super::linux_plugins::{Choices, ConfReplace};
use super::menu_plugins::{ClassTarget, PathTexts};
use super::password::{kind_key, Password, PasswordTarget};
use super::pattern::{directly_in, has_wildcard, image_matches, parent_of, Target};
use super::BootConfig;
use crate::menu::{ImageEntry, ImageKind};

/// What the drive holds, for the checks that need it.
pub struct Drive<'a> {
    /// The images the boot manager's scan lists, in menu order.
    pub images: &'a [ImageEntry],
    /// Whether `path` (absolute, normalised) exists on the data partition: `Some(true)` a
    /// directory, `Some(false)` a file, `None` nothing.
    pub lookup: &'a mut dyn FnMut(&str) -> Option<bool>,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The setting it is about: `menu_alias`, `menu_tip`, `menu_class`, `image_list`,
    /// `image_blacklist`, `password`, `default_image`, `search_root`, `auto_install`,
    /// `persistence`, `injection`, `conf_replace`, `dud`, `verify_before_boot`,
    /// `read_benchmark`, `menu`.
    pub setting: &'static str,
    /// The path (or pattern, or `menu_class` key) the setting names, when it names one.
    pub path: Option<String>,
    /// The whole finding for people, starting with the setting.
    pub message: String,
}

/// How an image's password is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordInfo {
    /// `txt`, `md5`, `pbkdf2-sha256` or `invalid` ([`Password::form`]).
    pub form: &'static str,
    /// Where it comes from: `menupwd file /ISO/x.iso`, `menupwd parent /ISO`, `isopwd`.
    pub source: String,
    /// Why it can never be typed right, when it is malformed (the image stays locked).
    pub problem: Option<String>,
}

/// One listed image's effective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReport {
    pub path: String,
    pub kind: ImageKind,
    pub alias: Option<String>,
    pub tip: Option<String>,
    pub class: Option<String>,
    pub password: Option<PasswordInfo>,
    /// Boots only after its `.sha256` sidecar matches.
    pub verify_before_boot: bool,
    /// In the menu (its `image_list` rank) or why not ([`BootConfig::menu_rank`]).
    pub menu: Result<usize, &'static str>,
    /// It is the default image.
    pub default: bool,
    /// The answer file Windows Setup gets ([`BootConfig::unattend_template`]).
    pub template: TemplateChoice,
    /// The `auto_install` templates offered ([`BootConfig::auto_install_choices`]).
    pub templates: Option<Choices>,
    /// The `persistence` backends offered ([`BootConfig::persistence_choices`]).
    pub persistence: Option<Choices>,
    /// The `injection` archive ([`BootConfig::injection_archive`]).
    pub injection: Option<String>,
    /// The files `conf_replace` serves from the drive ([`BootConfig::conf_replacements`]).
    pub conf_replace: Vec<ConfReplace>,
    /// The `dud` driver update disks ([`BootConfig::driver_update_disks`]).
    pub dud: Vec<String>,
}

/// Everything [`analyze`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Settings that contradict each other or cannot do what they say.
    pub conflicts: Vec<Finding>,
    /// Paths that match nothing on the drive (empty without a drive).
    pub missing: Vec<Finding>,
    /// The listed images (empty without a drive).
    pub images: Vec<ImageReport>,
}

/// Check `config`, against `drive` when one is given.
pub fn analyze(config: &BootConfig, drive: Option<Drive<'_>>) -> Report {
    let mut report = Report::default();
    conflicts(config, drive.as_ref().map(|d| d.images), &mut report.conflicts);
    if let Some(mut drive) = drive {
        let mut view = View::new(&mut drive);
        missing(config, &mut view, &mut report.missing);
        report.images = drive.images.iter().map(|i| image_report(config, i)).collect();
    }
    report
}

/// The effective settings of one image.
pub fn image_report(config: &BootConfig, image: &ImageEntry) -> ImageReport {
    let settings = config.image_settings(&image.path, &image.name, image.kind);
    let password =
        config.passwords.source_for_image(&image.path, image.kind).map(|(source, pwd)| {
            PasswordInfo {
                form: pwd.form(),
                source: source.to_string(),
                problem: pwd.problem().map(String::from),
            }
        });
    ImageReport {
        path: image.path.clone(),
        kind: image.kind,
        alias: settings.alias,
        tip: settings.tip,
        class: settings.class,
        password,
        verify_before_boot: settings.verify_before_boot,
        menu: config.menu_rank(&image.path, image.kind),
        default: config
            .default_image
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case(&image.path)),
        template: config.unattend_template(&image.path),
        templates: config.auto_install_choices(&image.path),
        persistence: config.persistence_choices(&image.path),
        injection: config.injection_archive(&image.path),
        conf_replace: config.conf_replacements(&image.path),
        dud: config.driver_update_disks(&image.path),
    }
}

/// `1 entry`, `2 entries`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn finding(setting: &'static str, path: Option<&str>, message: String) -> Finding {
    Finding { setting, path: path.map(String::from), message }
}

// ------------------------------------------------------------------------------------------
// Conflicts
// ------------------------------------------------------------------------------------------

fn conflicts(config: &BootConfig, images: Option<&[ImageEntry]>, out: &mut Vec<Finding>) {
    if let Some(list) = &config.image_list {
        if !list.blacklist && list.patterns.is_empty() {
            out.push(finding(
                "image_list",
                None,
                String::from("image_list has no usable entry: the menu shows no image"),
            ));
        }
        if let Some(ignored) = &list.ignored_blacklist {
            out.push(finding(
                "image_blacklist",
                None,
                format!(
                    "image_list and image_blacklist are both set: only image_list decides what \
                     the menu shows; image_blacklist ({}) hides nothing",
                    count(ignored.len(), "entry", "entries")
                ),
            ));
        }
    }
    default_image_conflicts(config, out);
    injection_conflicts(config, out);
    for (setting, texts) in [("menu_alias", &config.aliases), ("menu_tip", &config.tips)] {
        duplicates(setting, texts, out);
    }
    password_conflicts(config, images, out);
    if let Some(images) = images {
        let shown = images.iter().filter(|i| config.menu_rank(&i.path, i.kind).is_ok()).count();
        if !images.is_empty() && shown == 0 {
            out.push(finding(
                "menu",
                None,
                format!(
                    "none of the {} images on the drive is in the menu (image_list, \
                     image_blacklist or VTOY_FILE_FLT_* leave out every one)",
                    images.len()
                ),
            ));
        }
    }
}

fn default_image_conflicts(config: &BootConfig, out: &mut Vec<Finding>) {
    let Some(default) = config.default_image.as_deref() else { return };
    let at = Some(default);
    let name = default.rsplit('/').next().unwrap_or(default);
    let Some(kind) = ImageKind::from_name(name) else {
        out.push(finding(
            "default_image",
            at,
            format!(
                "default image {default} is not an image file the menu lists (.iso, .img, .efi, \
                 .wim, .vhd, .vhdx): no entry is chosen by default"
            ),
        ));
        return;
    };
    if let Err(why) = config.menu_rank(default, kind) {
        out.push(finding(
            "default_image",
            at,
            format!(
                "default image {default} is not in the menu ({why}): no entry is chosen by default"
            ),
        ));
    }
    if let Some((source, pwd)) = config.passwords.source_for_image(default, kind) {
        if let Some(why) = pwd.problem() {
            out.push(finding(
                "default_image",
                at,
                format!(
                    "default image {default} is locked by a malformed password ({source}: {why}): \
                     it can never boot"
                ),
            ));
        } else if let Some(secs) = config.timeout_secs {
            out.push(finding(
                "default_image",
                at,
                format!(
                    "default image {default} is password protected ({source}): after the {secs} s \
                     timeout the menu waits at a password prompt instead of booting it"
                ),
            ));
        }
    }
}

/// Archives the hook cannot extract: it reads tar (plain, gzip or xz, sniffed), while
/// Ventoy's Windows injection takes 7z archives.
fn injection_conflicts(config: &BootConfig, out: &mut Vec<Finding>) {
    const NOT_TAR: [(&str, &str); 5] =
        [(".7z", "7z"), (".zip", "zip"), (".rar", "RAR"), (".cab", "CAB"), (".wim", "WIM")];
    let mut seen: Vec<&str> = Vec::new();
    for entry in &config.injection {
        let archive = entry.archive.as_str();
        let lower = archive.to_ascii_lowercase();
        let Some((_, kind)) = NOT_TAR.iter().find(|(ext, _)| lower.ends_with(ext)) else {
            continue;
        };
        if seen.contains(&archive) {
            continue;
        }
        seen.push(archive);
        out.push(finding(
            "injection",
            Some(archive),
            format!(
                "injection: archive {archive} is a {kind} archive: polyboot extracts tar \
                 archives (.tar, .tar.gz, .tar.xz) into a Linux image's initramfs; Ventoy's \
                 injection of archives into Windows is not carried out"
            ),
        ));
    }
}

fn duplicates(setting: &'static str, texts: &PathTexts, out: &mut Vec<Finding>) {
    for (is_dir, path) in texts.duplicates() {
        let what = if *is_dir { "directory" } else { "image" };
        out.push(finding(
            setting,
            Some(path),
            format!("{setting}: {what} {path} is named twice: the first entry is used, a later one ignored"),
        ));
    }
}

fn password_conflicts(config: &BootConfig, images: Option<&[ImageEntry]>, out: &mut Vec<Finding>) {
    let passwords = &config.passwords;
    if let Some(why) = passwords.boot.as_ref().and_then(Password::problem) {
        out.push(finding(
            "password",
            None,
            format!("password.bootpwd: {why}; no typed password opens the menu"),
        ));
    }
    // Images that a malformed password locks, counted when the drive is known.
    let locked = |is_source: &dyn Fn(&ImageEntry) -> bool| -> String {
        match images {
            Some(images) => {
                let n = images.iter().filter(|i| is_source(i)).count();
                format!(" ({n} on the drive)")
            }
            None => String::new(),
        }
    };
    let mut keys_seen: Vec<&str> = Vec::new();
    for (kind, pwd) in &passwords.by_kind {
        let key = kind_key(*kind);
        let Some(why) = pwd.problem() else { continue };
        if keys_seen.contains(&key) {
            continue;
        }
        keys_seen.push(key);
        let count = locked(&|i: &ImageEntry| {
            kind_key(i.kind) == key
                && matches!(
                    passwords.source_for_image(&i.path, i.kind),
                    Some((super::PasswordSource::Kind(_), _))
                )
        });
        out.push(finding(
            "password",
            None,
            format!(
                "password.{key}: {why}; every {} image it covers stays locked{count}",
                kind.label()
            ),
        ));
    }
    for (target, pwd) in &passwords.menu {
        let Some(why) = pwd.problem() else { continue };
        let (what, path) = match target {
            PasswordTarget::File(p) => ("file", p),
            PasswordTarget::Parent(p) => ("parent", p),
        };
        let count = locked(&|i: &ImageEntry| {
            matches!(
                passwords.source_for_image(&i.path, i.kind),
                Some((super::PasswordSource::Menu(t), _)) if core::ptr::eq(t, target)
            )
        });
        out.push(finding(
            "password",
            Some(path),
            format!(
                "password.menupwd {what} {path}: {why}; the images it protects stay locked{count}"
            ),
        ));
    }
}

// ------------------------------------------------------------------------------------------
// Paths that match nothing
// ------------------------------------------------------------------------------------------

/// The drive, indexed for look-ups.
struct View<'d, 'a> {
    drive: &'d mut Drive<'a>,
    /// Lower-cased paths of the listed images.
    paths: BTreeSet<String>,
    /// Lower-cased directories holding a listed image, at any depth ("/" included).
    dirs: BTreeSet<String>,
}

/// Where an image path or pattern points.
enum ImageMatch {
    Listed,
    /// A file the menu does not list (outside the search root, too deep, too small...).
    Unlisted,
    Directory,
    Nothing,
}

impl<'d, 'a> View<'d, 'a> {
    fn new(drive: &'d mut Drive<'a>) -> View<'d, 'a> {
        let mut paths = BTreeSet::new();
        let mut dirs = BTreeSet::new();
        dirs.insert(String::from("/"));
        for image in drive.images {
            paths.insert(image.path.to_ascii_lowercase());
            let mut dir = parent_of(&image.path);
            while dir != "/" && dirs.insert(dir.to_ascii_lowercase()) {
                dir = parent_of(dir);
            }
        }
        View { drive, paths, dirs }
    }

    fn image(&mut self, pattern: &str) -> ImageMatch {
        let listed = if has_wildcard(pattern) {
            self.drive.images.iter().any(|i| image_matches(pattern, &i.path))
        } else {
            self.paths.contains(&pattern.to_ascii_lowercase())
        };
        if listed {
            return ImageMatch::Listed;
        }
        if has_wildcard(pattern) {
            return ImageMatch::Nothing;
        }
        if self.dirs.contains(&pattern.to_ascii_lowercase()) {
            return ImageMatch::Directory;
        }
        match (self.drive.lookup)(pattern) {
            Some(false) => ImageMatch::Unlisted,
            Some(true) => ImageMatch::Directory,
            None => ImageMatch::Nothing,
        }
    }

    /// `None` when `dir` exists; otherwise what it is instead.
    fn dir(&mut self, dir: &str) -> Option<&'static str> {
        if self.dirs.contains(&dir.to_ascii_lowercase()) {
            return None;
        }
        match (self.drive.lookup)(dir) {
            Some(true) => None,
            Some(false) => Some("is a file, not a directory"),
            None => Some("is not on the drive"),
        }
    }

    /// A finding when `pattern` names no listed image.
    fn check_image(
        &mut self,
        setting: &'static str,
        label: &str,
        pattern: &str,
    ) -> Option<Finding> {
        let why = match self.image(pattern) {
            ImageMatch::Listed => return None,
            ImageMatch::Unlisted => {
                "exists, but the menu does not list it (outside the search \
                                     root, too deep, too small, or in an ignored directory)"
            }
            ImageMatch::Directory => "is a directory, not an image",
            ImageMatch::Nothing if has_wildcard(pattern) => "matches no image on the drive",
            ImageMatch::Nothing => "is not on the drive",
        };
        Some(finding(setting, Some(pattern), format!("{label} {pattern} {why}")))
    }

    fn check_dir(&mut self, setting: &'static str, label: &str, dir: &str) -> Option<Finding> {
        let why = self.dir(dir)?;
        Some(finding(setting, Some(dir), format!("{label} {dir} {why}")))
    }

    /// A plugin entry's `image` or `parent`.
    fn check_target(&mut self, setting: &'static str, target: &Target) -> Option<Finding> {
        match target {
            Target::Image(p) => self.check_image(setting, &format!("{setting}: image"), p),
            Target::Parent(p) => self.check_dir(setting, &format!("{setting}: parent"), p),
        }
    }

    /// A finding when `path` is not a file on the drive (templates, backends, archives...).
    fn check_file(&mut self, setting: &'static str, label: &str, path: &str) -> Option<Finding> {
        let why = match (self.drive.lookup)(path) {
            Some(false) => return None,
            Some(true) => "is a directory, not a file",
            None => "is not on the drive",
        };
        Some(finding(setting, Some(path), format!("{setting}: {label} {path} {why}")))
    }
}

fn missing(config: &BootConfig, view: &mut View<'_, '_>, out: &mut Vec<Finding>) {
    if config.search_root != "/" {
        if let Some(why) = view.dir(&config.search_root) {
            out.push(finding(
                "search_root",
                Some(&config.search_root),
                format!(
                    "search root {} {why}: the menu searches the whole volume instead",
                    config.search_root
                ),
            ));
        }
    }
    if let Some(default) = &config.default_image {
        out.extend(view.check_image("default_image", "default image", default));
    }
    for (setting, texts) in [("menu_alias", &config.aliases), ("menu_tip", &config.tips)] {
        for (is_dir, path, _) in texts.entries() {
            let found = if is_dir {
                view.check_dir(setting, &format!("{setting}: directory"), path)
            } else {
                view.check_image(setting, &format!("{setting}: image"), path)
            };
            out.extend(found);
        }
    }
    for (target, _) in &config.classes.0 {
        let found = match target {
            ClassTarget::Key(key) => {
                let used = view.drive.images.iter().any(|i| i.name.contains(key.as_str()));
                (!used).then(|| {
                    finding(
                        "menu_class",
                        Some(key),
                        format!(
                            "menu_class: key \"{key}\" is in no image's file name (case-sensitive)"
                        ),
                    )
                })
            }
            ClassTarget::Parent(dir) => {
                view.check_dir("menu_class", "menu_class: parent", dir).or_else(|| {
                    let holds = view.drive.images.iter().any(|i| directly_in(dir, &i.path));
                    (!holds).then(|| {
                        finding(
                            "menu_class",
                            Some(dir),
                            format!(
                                "menu_class: parent {dir} holds no listed image directly \
                                 (images in its subdirectories do not count)"
                            ),
                        )
                    })
                })
            }
            ClassTarget::Dir(dir) => view.check_dir("menu_class", "menu_class: directory", dir),
        };
        out.extend(found);
    }
    if let Some(list) = &config.image_list {
        let setting = if list.blacklist { "image_blacklist" } else { "image_list" };
        for pattern in &list.patterns {
            out.extend(view.check_image(setting, &format!("{setting}: entry"), pattern));
        }
    }
    for (target, _) in &config.passwords.menu {
        out.extend(match target {
            PasswordTarget::File(p) => view.check_image("password", "password.menupwd: file", p),
            PasswordTarget::Parent(p) => view.check_dir("password", "password.menupwd: parent", p),
        });
    }
    for (setting, label, entries) in [
        ("auto_install", "template", &config.auto_install),
        ("persistence", "backend", &config.persistence),
    ] {
        for entry in entries {
            out.extend(view.check_target(setting, &entry.target));
            for file in &entry.options {
                out.extend(view.check_file(setting, label, file));
            }
        }
    }
    for entry in &config.injection {
        out.extend(view.check_target("injection", &entry.target));
        out.extend(view.check_file("injection", "archive", &entry.archive));
    }
    for entry in &config.conf_replace {
        out.extend(view.check_image("conf_replace", "conf_replace: iso", &entry.iso));
        out.extend(view.check_file("conf_replace", "new", &entry.new));
    }
    for entry in &config.dud {
        out.extend(view.check_target("dud", &entry.target));
        for file in &entry.files {
            out.extend(view.check_file("dud", "file", file));
        }
    }
    for path in &config.verify_before_boot.paths {
        let image = matches!(view.image(path), ImageMatch::Listed);
        if !image && (has_wildcard(path) || view.dir(path).is_some()) {
            out.push(finding(
                "verify_before_boot",
                Some(path),
                format!(
                    "verify_before_boot: {path} matches no listed image nor directory on the drive"
                ),
            ));
        }
    }
    if let Some(path) = &config.read_benchmark {
        out.extend(view.check_image("read_benchmark", "diagnostics.read_benchmark:", path));
    }
    // A file several entries name (one backend for many images) is reported once.
    let mut seen = BTreeSet::new();
    out.retain(|f| seen.insert(f.message.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_all, Firmware};
    use alloc::vec;

    fn image(path: &str) -> ImageEntry {
        let name = path.rsplit('/').next().unwrap().to_string();
        let kind = ImageKind::from_name(&name).unwrap();
        ImageEntry { path: path.into(), name, kind, size: 1 << 20 }
    }

    fn config(ventoy: &str) -> BootConfig {
        let (config, errors) = load_all(None, Some(ventoy.as_bytes()), Firmware::Uefi);
        assert!(errors.is_empty(), "{errors:?}");
        config
    }

    /// A drive holding `images` (listed) plus `files` and `dirs` the scan does not list.
    fn run(config: &BootConfig, images: &[&str], files: &[&str], dirs: &[&str]) -> Report {
        let images: Vec<ImageEntry> = images.iter().map(|p| image(p)).collect();
        let mut lookup = |p: &str| {
            if dirs.iter().any(|d| d.eq_ignore_ascii_case(p)) {
                Some(true)
            } else if files.iter().any(|f| f.eq_ignore_ascii_case(p)) {
                Some(false)
            } else {
                None
            }
        };
        analyze(config, Some(Drive { images: &images, lookup: &mut lookup }))
    }

    fn messages(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.message.as_str()).collect()
    }

    #[test]
    fn paths_that_match_nothing() {
        let cfg = config(
            r#"{
            "control": [{"VTOY_DEFAULT_SEARCH_ROOT": "/Nope"}, {"VTOY_DEFAULT_IMAGE": "/old/a.iso"}],
            "menu_alias": [
                {"image": "/ISO/Debian.iso", "alias": "Debian"},
                {"image": "/ISO/gone.iso", "alias": "Gone"},
                {"image": "/ISO/win*.iso", "alias": "Windows"},
                {"dir": "/iso", "alias": "ISOs"},
                {"dir": "/Empty", "alias": "empty but there"},
                {"dir": "/Missing", "alias": "missing"}
            ],
            "menu_class": [
                {"key": "Debian", "class": "x"}, {"key": "ebian", "class": "y"},
                {"parent": "/", "class": "root"}, {"parent": "/ISO", "class": "iso"},
                {"dir": "/ISO/debian.iso", "class": "file"}
            ],
            "image_list": ["/ISO/debian.iso", "/ISO/sub", "/ISO/*.img"],
            "password": {"menupwd": [{"file": "/ISO/x.iso", "pwd": "txt#1"}, {"parent": "/ISO/sub", "pwd": "txt#1"}]},
            "auto_install": [{"parent": "/Win", "template": ["/ventoy/a.xml", "/ventoy/b.xml"], "autosel": 1}]
        }"#,
        );
        let report = run(
            &cfg,
            &["/ISO/debian.iso", "/ISO/sub/deep/x.iso"],
            &["/old/a.iso", "/ventoy/a.xml"],
            &["/Empty", "/Win"],
        );
        assert_eq!(
            messages(&report.missing),
            [
                "search root /Nope is not on the drive: the menu searches the whole volume instead",
                "default image /old/a.iso exists, but the menu does not list it (outside the search root, too deep, too small, or in an ignored directory)",
                "menu_alias: image /ISO/gone.iso is not on the drive",
                "menu_alias: image /ISO/win*.iso matches no image on the drive",
                "menu_alias: directory /Missing is not on the drive",
                "menu_class: key \"Debian\" is in no image's file name (case-sensitive)",
                "menu_class: parent / holds no listed image directly (images in its subdirectories do not count)",
                "menu_class: directory /ISO/debian.iso is not on the drive",
                "image_list: entry /ISO/sub is a directory, not an image",
                "image_list: entry /ISO/*.img matches no image on the drive",
                "password.menupwd: file /ISO/x.iso is not on the drive",
                "auto_install: template /ventoy/b.xml is not on the drive",
            ],
            "{:#?}",
            report.missing
        );
        assert_eq!(report.missing[2].path.as_deref(), Some("/ISO/gone.iso"));
        assert_eq!(report.missing[2].setting, "menu_alias");
        // The listed images with what applies to them.
        assert_eq!(report.images.len(), 2);
        let debian = &report.images[0];
        assert_eq!(
            (debian.alias.as_deref(), debian.class.as_deref(), debian.menu),
            (Some("Debian"), Some("y"), Ok(0))
        );
        let deep = &report.images[1];
        assert_eq!(deep.menu, Err("not in image_list"));
        assert_eq!(
            deep.password,
            Some(PasswordInfo {
                form: "txt",
                source: "menupwd parent /ISO/sub".into(),
                problem: None
            })
        );
    }

    #[test]
    fn conflicts_without_a_drive() {
        let cfg = config(
            r#"{
            "control": [{"VTOY_MENU_TIMEOUT": "5"}, {"VTOY_DEFAULT_IMAGE": "/ISO/old.iso"}],
            "image_list": ["/ISO/a.iso"],
            "image_blacklist": ["/ISO/old.iso", "/ISO/b.iso"],
            "menu_alias": [
                {"image": "/ISO/a.iso", "alias": "A"}, {"image": "/iso/A.ISO", "alias": "again"},
                {"dir": "/ISO", "alias": "d"}, {"dir": "/ISO", "alias": "d2"}
            ],
            "password": {
                "bootpwd": "123456",
                "isopwd": "md5#nothex",
                "menupwd": [{"file": "/ISO/old.iso", "pwd": "txt#x"}, {"parent": "/Locked", "pwd": "sha1#00"}]
            }
        }"#,
        );
        let report = analyze(&cfg, None);
        assert!(report.missing.is_empty() && report.images.is_empty());
        assert_eq!(
            messages(&report.conflicts),
            [
                "image_list and image_blacklist are both set: only image_list decides what the menu shows; image_blacklist (2 entries) hides nothing",
                "default image /ISO/old.iso is not in the menu (not in image_list): no entry is chosen by default",
                "default image /ISO/old.iso is password protected (menupwd file /ISO/old.iso): after the 5 s timeout the menu waits at a password prompt instead of booting it",
                "menu_alias: image /iso/A.ISO is named twice: the first entry is used, a later one ignored",
                "menu_alias: directory /ISO is named twice: the first entry is used, a later one ignored",
                "password.bootpwd: a password must start with txt#, md5# or pbkdf2-sha256#; no typed password opens the menu",
                "password.isopwd: an md5# password must be md5#<32 hex digits> or md5#<salt>#<32 hex digits>; every ISO image it covers stays locked",
                "password.menupwd parent /Locked: a password must start with txt#, md5# or pbkdf2-sha256#; the images it protects stay locked",
            ],
            "{:#?}",
            report.conflicts
        );
    }

    #[test]
    fn locked_images_are_counted_on_a_drive() {
        let cfg = config(
            r#"{
            "control": [{"VTOY_DEFAULT_IMAGE": "/a.efi"}, {"VTOY_FILE_FLT_ISO": "1"}, {"VTOY_FILE_FLT_EFI": "1"}],
            "password": {"isopwd": "bad", "efipwd": "bad", "menupwd": [{"file": "/b.iso", "pwd": "txt#ok"}]},
            "auto_install": [{"image": "/b.iso", "template": "/t.xml"}]
        }"#,
        );
        let report = run(&cfg, &["/a.iso", "/b.iso", "/a.efi"], &["/t.xml"], &[]);
        assert_eq!(
            messages(&report.conflicts),
            [
                "default image /a.efi is not in the menu (hidden by VTOY_FILE_FLT_*): no entry is chosen by default",
                "default image /a.efi is locked by a malformed password (efipwd: a password must start with txt#, md5# or pbkdf2-sha256#): it can never boot",
                "password.efipwd: a password must start with txt#, md5# or pbkdf2-sha256#; every EFI image it covers stays locked (1 on the drive)",
                "password.isopwd: a password must start with txt#, md5# or pbkdf2-sha256#; every ISO image it covers stays locked (1 on the drive)",
                "none of the 3 images on the drive is in the menu (image_list, image_blacklist or VTOY_FILE_FLT_* leave out every one)",
            ],
            "{:#?}",
            report.conflicts
        );
        assert!(report.missing.is_empty(), "{:?}", report.missing);
        let b = &report.images[1];
        assert_eq!(b.menu, Err("hidden by VTOY_FILE_FLT_*"));
        assert!(matches!(&b.template, TemplateChoice::NotUsed(why) if why.contains("no autosel")));
        assert_eq!(b.password.as_ref().map(|p| p.source.as_str()), Some("menupwd file /b.iso"));
        assert!(report.images[2].default);
        assert_eq!(report.images[0].password.as_ref().map(|p| p.form), Some("invalid"));
    }

    #[test]
    fn an_empty_image_list_and_every_warning() {
        let cfg = config(r#"{"image_list": [3, "relative.iso"]}"#);
        let report = analyze(&cfg, None);
        assert_eq!(
            messages(&report.conflicts),
            ["image_list has no usable entry: the menu shows no image"]
        );
        // load_all keeps every warning; load caps them as the boot manager does.
        let many: Vec<String> = (0..40).map(|i| format!("{{\"image\": \"x{i}\"}}")).collect();
        let text = format!("{{\"menu_alias\": [{}]}}", many.join(","));
        let (all, _) = load_all(None, Some(text.as_bytes()), Firmware::Uefi);
        let (capped, _) = crate::config::load(None, Some(text.as_bytes()), Firmware::Uefi);
        assert_eq!(
            (all.warnings.len(), capped.warnings.len()),
            (40, crate::config::MAX_WARNINGS + 1)
        );
        assert_eq!(
            all.warnings[..crate::config::MAX_WARNINGS],
            capped.warnings[..crate::config::MAX_WARNINGS]
        );
        assert_eq!(
            BootConfig { warnings: vec![], ..all },
            BootConfig { warnings: vec![], ..capped }
        );
    }

    #[test]
    fn linux_plugins_paths_and_effective_settings() {
        let cfg = config(
            r#"{
            "persistence": [
                {"image": "/ISO/live.iso", "backend": ["/p/a.dat", "/p/gone.dat"], "autosel": 1},
                {"parent": "/Nope", "backend": "/p/a.dat"},
                {"image": "/ISO/x*.iso", "backend": "/p"}
            ],
            "persistence_legacy": [{"image": "/ISO/live.iso", "backend": "/p/bios.dat"}],
            "injection": [{"parent": "/ISO", "archive": "/v/inject.tar.gz"}, {"image": "/ISO/old.iso", "archive": "/v/old.tar"}],
            "conf_replace_uefi": [
                {"iso": "/ISO/live.iso", "org": "/boot/grub/grub.cfg", "new": "/v/grub.cfg"},
                {"iso": "/ISO/gone.iso", "org": "/isolinux/txt.cfg", "new": "/v/gone.cfg"}
            ],
            "dud": [{"image": "/ISO/live.iso", "dud": ["/v/dd.iso", "/v/dd2.iso"]}],
            "auto_install": [{"parent": "/ISO", "template": ["/v/a.cfg", "/v/b.cfg"], "timeout": 5}]
        }"#,
        );
        let report = run(
            &cfg,
            &["/ISO/live.iso"],
            &["/p/a.dat", "/v/inject.tar.gz", "/v/grub.cfg", "/v/dd.iso", "/v/a.cfg", "/v/b.cfg"],
            &["/p"],
        );
        assert_eq!(
            messages(&report.missing),
            [
                "persistence: backend /p/gone.dat is not on the drive",
                "persistence: parent /Nope is not on the drive",
                "persistence: image /ISO/x*.iso matches no image on the drive",
                "persistence: backend /p is a directory, not a file",
                "injection: image /ISO/old.iso is not on the drive",
                "injection: archive /v/old.tar is not on the drive",
                "conf_replace: iso /ISO/gone.iso is not on the drive",
                "conf_replace: new /v/gone.cfg is not on the drive",
                "dud: file /v/dd2.iso is not on the drive",
            ],
            "{:#?}",
            report.missing
        );
        assert_eq!(report.missing[0].setting, "persistence");
        assert_eq!(report.missing[0].path.as_deref(), Some("/p/gone.dat"));
        let live = &report.images[0];
        let persistence = live.persistence.as_ref().unwrap();
        assert_eq!((persistence.options.len(), persistence.preselected()), (2, Some(0)));
        assert_eq!(live.injection.as_deref(), Some("/v/inject.tar.gz"));
        assert_eq!(
            live.conf_replace,
            [ConfReplace { org: "/boot/grub/grub.cfg".into(), new: "/v/grub.cfg".into() }]
        );
        assert_eq!(live.dud, ["/v/dd.iso", "/v/dd2.iso"]);
        assert_eq!(live.templates.as_ref().map(|t| t.timeout), Some(Some(5)));
        assert!(matches!(live.template, TemplateChoice::NotUsed(_)));
        // Under BIOS the _legacy persistence and no conf_replace (only conf_replace_uefi).
        let (bios, _) = load_all(None, Some(br#"{"persistence_legacy": [{"image": "/ISO/live.iso", "backend": "/p/bios.dat"}], "conf_replace_uefi": [{"iso": "/ISO/live.iso", "org": "/a", "new": "/b"}]}"#), Firmware::Bios);
        let report = run(&bios, &["/ISO/live.iso"], &[], &[]);
        assert_eq!(
            messages(&report.missing),
            ["persistence: backend /p/bios.dat is not on the drive"]
        );
        assert!(report.images[0].conf_replace.is_empty());
        assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
        let windows = config(
            r#"{"injection": [{"image": "/a.iso", "archive": "/v/drivers.7Z"}, {"parent": "/", "archive": "/v/drivers.7Z"}, {"parent": "/b", "archive": "/v/x.tar.xz"}]}"#,
        );
        assert_eq!(
            messages(&analyze(&windows, None).conflicts),
            ["injection: archive /v/drivers.7Z is a 7z archive: polyboot extracts tar archives (.tar, .tar.gz, .tar.xz) into a Linux image's initramfs; Ventoy's injection of archives into Windows is not carried out"]
        );
        // The same missing file named by several entries is reported once.
        let twice = config(
            r#"{"dud": [{"image": "/ISO/live.iso", "dud": "/dd.iso"}, {"parent": "/ISO", "dud": "/dd.iso"}]}"#,
        );
        let report = run(&twice, &["/ISO/live.iso"], &[], &[]);
        assert_eq!(messages(&report.missing), ["dud: file /dd.iso is not on the drive"]);
    }

    #[test]
    fn verify_before_boot_and_benchmark_paths() {
        let (cfg, _) = load_all(
            Some(
                br#"{"menu": {"verify_before_boot": ["/ISO", "/ISO/*.iso", "/Nope", "/x*.img"]},
                     "diagnostics": {"read_benchmark": "/ISO/none.iso"}}"#,
            ),
            None,
            Firmware::Bios,
        );
        let report = run(&cfg, &["/ISO/a.iso"], &[], &[]);
        assert_eq!(
            messages(&report.missing),
            [
                "verify_before_boot: /Nope matches no listed image nor directory on the drive",
                "verify_before_boot: /x*.img matches no listed image nor directory on the drive",
                "diagnostics.read_benchmark: /ISO/none.iso is not on the drive",
            ]
        );
        assert!(report.images[0].verify_before_boot);
        assert_eq!(report.images[0].template, TemplateChoice::NotConfigured);
        // Nothing configured: nothing found.
        let report = run(&BootConfig::default(), &["/a.iso"], &[], &[]);
        assert_eq!((report.conflicts.len(), report.missing.len()), (0, 0));
        assert_eq!(report.images[0].menu, Ok(0));
    }
}
