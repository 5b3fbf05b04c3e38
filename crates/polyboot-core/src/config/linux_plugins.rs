//! Ventoy's plugins for Linux images beyond booting: `persistence`, `injection`,
//! `conf_replace` and `dud`, and what they share with `auto_install` ([`super::auto_install`]).
//!
//! ```json
//! "persistence": [ { "image": "/ISO/debian-live.iso",
//!                    "backend": ["/persistence/a.dat", "/persistence/b.dat"], "autosel": 1, "timeout": 10 } ],
//! "injection":   [ { "parent": "/ISO/Linux", "archive": "/ventoy/inject.tar.gz" } ],
//! "conf_replace": [ { "iso": "/ISO/ubuntu*.iso", "org": "/boot/grub/grub.cfg", "new": "/ventoy/grub.cfg" } ],
//! "dud":         [ { "image": "/ISO/rhel-9.iso", "dud": ["/ventoy/dd.iso", "/ventoy/raid.rpm"] } ]
//! ```
//!
//! - `persistence`, `injection`, `dud` (and `auto_install`) entries name one image (`image`,
//!   `*` wildcards in its last component) or every image below a directory (`parent`). The
//!   entry for an image is chosen by [`pattern::select`]: an `image` entry beats a `parent`
//!   one, a deeper `parent` a shallower one, an earlier entry a later one.
//! - `backend` (and `template`): one path or a list. Ventoy shows a menu of them and "boot
//!   without" for `timeout` seconds with `autosel` preselected (1 = the first, 0 = without);
//!   without `autosel` its menu waits for a key. [`Choices`] carries that to the boot manager.
//! - `injection`: an archive extracted over the initramfs root before the image's own init
//!   runs (`.tar`, `.tar.gz`, `.tar.xz`; the hook sniffs the compression).
//! - `conf_replace`: every entry whose `iso` matches the image (wildcards allowed) serves the
//!   file `new` from the data partition in place of `org`, a path inside the ISO. Several
//!   files per image, at most [`MAX_CONF_REPLACE`]; for one `org` the first entry wins.
//!   Ventoy's `img` key is accepted and not needed: any file is served the same way.
//! - `dud`: driver update disks (`.iso`, `.img`, `.rpm`) handed to Anaconda (`inst.dd`).
//!
//! polyboot.json takes the same plugins, with the same shapes and firmware suffixes, as
//! top-level keys; a plugin set there replaces the same plugin of ventoy.json as a whole.
//!
//! Every path is absolute and normalised ([`normalize_path`]: no `..`), at most
//! [`MAX_PATH_BYTES`] long; a malformed entry is dropped with a warning naming its index,
//! the others are kept. At most [`MAX_ENTRIES`] entries per plugin are read.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::{Map, Value};

use super::pattern::{image_matches, select, Target};
use super::{excerpt, kind_of, ConfigLayer};
use crate::menu::normalize_path;

/// Entries read per plugin (real files have a few dozen).
pub const MAX_ENTRIES: usize = 1024;
/// Files one entry may offer as a choice (`backend`, `template`): Ventoy's menu shows a handful.
pub const MAX_CHOICES: usize = 64;
/// Driver update disks per entry.
pub const MAX_DUDS: usize = 16;
/// Files `conf_replace` replaces in one image (Ventoy replaces at most 2).
pub const MAX_CONF_REPLACE: usize = 16;
/// Longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// An entry offering a choice of files: `persistence` backends, `auto_install` templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceEntry {
    pub target: Target,
    /// Absolute paths on the data partition, at least one, at most [`MAX_CHOICES`].
    pub options: Vec<String>,
    /// Ventoy's preselection: 0 = boot without, n = the n-th option (never past the list).
    pub autosel: Option<u32>,
    /// Seconds Ventoy's menu of the options waits before it takes the preselection.
    pub timeout: Option<u32>,
}

/// What the boot manager offers for one image: a menu of `options` (and "boot without").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    /// Absolute paths on the data partition.
    pub options: Vec<String>,
    /// 1-based option preselected; 0 = "boot without"; `None` = the menu waits for a key.
    pub autosel: Option<u32>,
    /// Seconds before the preselection is taken.
    pub timeout: Option<u32>,
}

impl Choices {
    /// The 0-based index of the preselected option: `autosel` n >= 1 within the list.
    pub fn preselected(&self) -> Option<usize> {
        match self.autosel {
            Some(n) if n >= 1 && (n as usize) <= self.options.len() => Some(n as usize - 1),
            _ => None,
        }
    }
}

impl Choices {
    /// What the boot manager does with them, Ventoy's way, for people: `autosel` alone takes
    /// its option at once, with `timeout` after a menu shown that long; without `autosel` the
    /// menu waits. `without` names the "boot without" choice (`without persistence`).
    pub fn describe(&self, without: &str) -> String {
        let list = self.options.join(", ");
        // As the boot managers decide (menu::choice::decide): an autosel past the list counts
        // as none, a timeout of 0 sets no timer, and a menu without autosel starts on the
        // first option.
        let row = self.autosel.filter(|n| (*n as usize) <= self.options.len());
        let pick = match row {
            Some(0) => format!("boot {without}"),
            Some(n) => self.options[n as usize - 1].clone(),
            None => self.options.first().cloned().unwrap_or_default(),
        };
        match (row, self.timeout) {
            (_, Some(t)) if t > 0 => format!("{list}: a menu for {t} s, then {pick}"),
            (Some(_), None) if self.options.len() == 1 => format!("{pick} (no menu)"),
            (Some(_), None) => format!("{list}: {pick} at once (no menu)"),
            _ => format!("{list}: a menu waits for a choice"),
        }
    }
}

impl ChoiceEntry {
    pub fn choices(&self) -> Choices {
        Choices { options: self.options.clone(), autosel: self.autosel, timeout: self.timeout }
    }
}

/// An `injection` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub target: Target,
    /// Absolute path of the archive on the data partition.
    pub archive: String,
}

/// A `dud` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dud {
    pub target: Target,
    /// Absolute paths on the data partition, at least one, at most [`MAX_DUDS`].
    pub files: Vec<String>,
}

/// A `conf_replace` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfReplaceEntry {
    /// The images it is for (`*` in the last component).
    pub iso: String,
    /// Path of the file inside the ISO.
    pub org: String,
    /// Path of the replacement on the data partition.
    pub new: String,
}

/// One file of an image served from the drive instead of from the ISO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfReplace {
    /// Path inside the ISO (absolute, normalised).
    pub org: String,
    /// Path on the data partition.
    pub new: String,
}

/// The entry `select` picks, as [`Choices`].
pub fn choices_for(entries: &[ChoiceEntry], image: &str) -> Option<Choices> {
    select(entries, image, |e| &e.target).map(ChoiceEntry::choices)
}

/// The archive injected into `image`'s initramfs.
pub fn injection_for(entries: &[Injection], image: &str) -> Option<String> {
    select(entries, image, |e| &e.target).map(|e| e.archive.clone())
}

/// The driver update disks for `image`.
pub fn duds_for(entries: &[Dud], image: &str) -> Vec<String> {
    select(entries, image, |e| &e.target).map(|e| e.files.clone()).unwrap_or_default()
}

/// The files replaced in `image`: every matching entry in file order, the first for each
/// `org` (ignoring ASCII case, as ISO 9660 names do), at most [`MAX_CONF_REPLACE`].
pub fn conf_replacements_for(entries: &[ConfReplaceEntry], image: &str) -> Vec<ConfReplace> {
    let mut out: Vec<ConfReplace> = Vec::new();
    for e in entries.iter().filter(|e| image_matches(&e.iso, image)) {
        if out.len() == MAX_CONF_REPLACE {
            break;
        }
        if !out.iter().any(|r| r.org.eq_ignore_ascii_case(&e.org)) {
            out.push(ConfReplace { org: e.org.clone(), new: e.new.clone() });
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// Parsing (shared with auto_install)
// ------------------------------------------------------------------------------------------

/// Each element of the plugin's array through `entry`; a warning for each one refused (and
/// for an array longer than [`MAX_ENTRIES`]). `None`, with a warning, when it is no array.
pub(super) fn parse_array<T>(
    key: &str,
    value: &Value,
    layer: &mut ConfigLayer,
    mut entry: impl FnMut(&Map<String, Value>) -> Result<T, String>,
) -> Option<Vec<T>> {
    let Some(items) = value.as_array() else {
        layer.warn(format!(
            "\"{key}\" must be an array of objects, not {} (ignored)",
            kind_of(value)
        ));
        return None;
    };
    if items.len() > MAX_ENTRIES {
        layer.warn(format!(
            "\"{key}\" has {} entries; only the first {MAX_ENTRIES} are read",
            items.len()
        ));
    }
    let mut parsed = Vec::new();
    for (i, item) in items.iter().take(MAX_ENTRIES).enumerate() {
        let result = match item.as_object() {
            Some(object) => entry(object),
            None => Err(format!("must be an object, not {}", kind_of(item))),
        };
        match result {
            Ok(e) => parsed.push(e),
            Err(why) => layer.warn(format!("{key}[{i}]: {why} (ignored)")),
        }
    }
    Some(parsed)
}

/// A path string: absolute, normalised, at most [`MAX_PATH_BYTES`].
fn absolute(name: &str, s: &str) -> Result<String, String> {
    if s.len() > MAX_PATH_BYTES {
        return Err(format!("{name} \"{}\" is longer than {MAX_PATH_BYTES} bytes", excerpt(s)));
    }
    normalize_path(s).ok_or_else(|| format!("{name} \"{}\" is not an absolute path", excerpt(s)))
}

/// The optional path `name` of an entry.
pub(super) fn path_field(
    object: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, String> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => absolute(name, s).map(Some),
        Some(other) => Err(format!("{name} must be a path string, not {}", kind_of(other))),
    }
}

/// The path `name` an entry must have.
fn required_path(object: &Map<String, Value>, name: &str) -> Result<String, String> {
    path_field(object, name)?.ok_or_else(|| format!("has no \"{name}\""))
}

/// `image` or `parent`, exactly one of them.
pub(super) fn target(object: &Map<String, Value>) -> Result<Target, String> {
    match (path_field(object, "image")?, path_field(object, "parent")?) {
        (Some(image), None) => Ok(Target::Image(image)),
        (None, Some(parent)) => Ok(Target::Parent(parent)),
        (Some(_), Some(_)) => Err(String::from("has both \"image\" and \"parent\"")),
        (None, None) => Err(String::from("names neither \"image\" nor \"parent\"")),
    }
}

/// `name`: one path or a non-empty list of at most `max` paths.
pub(super) fn path_list(
    object: &Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Vec<String>, String> {
    let list = match object.get(name) {
        Some(Value::String(s)) => return Ok(alloc::vec![absolute(name, s)?]),
        Some(Value::Array(list)) if list.len() <= max => list,
        Some(Value::Array(list)) => {
            return Err(format!("{} {name}s (at most {max})", list.len()));
        }
        Some(other) => {
            return Err(format!(
                "\"{name}\" must be a path or a list of paths, not {}",
                kind_of(other)
            ))
        }
        None => return Err(format!("has no \"{name}\"")),
    };
    if list.is_empty() {
        return Err(format!("has an empty \"{name}\" list"));
    }
    list.iter()
        .map(|item| match item.as_str() {
            Some(s) => absolute(name, s),
            None => Err(format!("a {name} that is not a string")),
        })
        .collect()
}

/// An optional whole number; Ventoy writes JSON numbers, strings of digits are taken too.
pub(super) fn number(object: &Map<String, Value>, name: &str) -> Result<Option<u32>, String> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{name} {n} is not a small whole number")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| format!("{name} \"{}\" is not a whole number", excerpt(s))),
        Some(other) => Err(format!("{name} must be a number, not {}", kind_of(other))),
    }
}

/// A [`ChoiceEntry`] whose options are under `name` (`backend`, `template`).
pub(super) fn choice_entry(object: &Map<String, Value>, name: &str) -> Result<ChoiceEntry, String> {
    let target = target(object)?;
    let options = path_list(object, name, MAX_CHOICES)?;
    let autosel = number(object, "autosel")?;
    let timeout = number(object, "timeout")?;
    if let Some(n) = autosel {
        if n as usize > options.len() {
            let (count, s) = (options.len(), if options.len() == 1 { "" } else { "s" });
            return Err(format!("autosel {n} but only {count} {name}{s}"));
        }
    }
    Ok(ChoiceEntry { target, options, autosel, timeout })
}

pub(super) fn parse_persistence(key: &str, value: &Value, layer: &mut ConfigLayer) {
    if let Some(entries) = parse_array(key, value, layer, |o| choice_entry(o, "backend")) {
        layer.persistence = Some(entries);
    }
}

pub(super) fn parse_injection(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let entries = parse_array(key, value, layer, |o| {
        Ok(Injection { target: target(o)?, archive: required_path(o, "archive")? })
    });
    if let Some(entries) = entries {
        layer.injection = Some(entries);
    }
}

pub(super) fn parse_dud(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let entries = parse_array(key, value, layer, |o| {
        Ok(Dud { target: target(o)?, files: path_list(o, "dud", MAX_DUDS)? })
    });
    if let Some(entries) = entries {
        layer.dud = Some(entries);
    }
}

pub(super) fn parse_conf_replace(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let entries = parse_array(key, value, layer, |o| {
        let iso = required_path(o, "iso")?;
        let org = required_path(o, "org")?;
        let new = required_path(o, "new")?;
        if org == "/" {
            return Err(String::from("org must name a file inside the ISO, not its root"));
        }
        // Ventoy's flag (0 or 1); polyboot serves any file the same way.
        number(o, "img")?;
        Ok(ConfReplaceEntry { iso, org, new })
    });
    let Some(mut entries) = entries else { return };
    // The same file of the same image replaced twice: say which entry is used. Files per
    // `iso` by their lower-cased names, so a long list costs a map look-up per entry.
    let mut by_iso: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut kept: Vec<ConfReplaceEntry> = Vec::with_capacity(entries.len());
    for e in entries.drain(..) {
        let files = by_iso.entry(e.iso.to_ascii_lowercase()).or_default();
        let org = e.org.to_ascii_lowercase();
        if files.contains(&org) {
            layer.warn(format!(
                "{key}: {} in {} is replaced twice: the first entry is used, a later one ignored",
                excerpt(&e.org),
                excerpt(&e.iso)
            ));
            continue;
        }
        if files.len() == MAX_CONF_REPLACE {
            layer.warn(format!(
                "{key}: more than {MAX_CONF_REPLACE} files replaced in {}: {} ignored",
                excerpt(&e.iso),
                excerpt(&e.org)
            ));
            continue;
        }
        files.push(org);
        kept.push(e);
    }
    layer.conf_replace = Some(kept);
}
