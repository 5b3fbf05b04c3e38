//! Boot configuration: our `/polyboot/polyboot.json` and Ventoy's `/ventoy/ventoy.json`.
//!
//! Both files are optional. Each is parsed into a [`ConfigLayer`] (only what the file says),
//! and [`BootConfig::merge`] applies the layers over the defaults, setting by setting:
//! **polyboot.json wins over ventoy.json**, which wins over the defaults. [`load`] does all of
//! it and turns a broken file into a [`FileError`] for the caller to show while it carries on
//! with the other file and the defaults.
//!
//! # `/polyboot/polyboot.json` (format version 1)
//!
//! ```json
//! {
//!   "version": 1,
//!   "menu": { "timeout": 5, "default": "/samples/ipxe.iso", "mode": "list",
//!             "verify_before_boot": ["/ISO/secure", "/ISO/win*.iso"] },
//!   "search": { "root": "/", "max_depth": 10, "skip_dot_underscore": true },
//!   "windows": { "bypass_requirements": false, "bypass_nro": false }
//! }
//! ```
//!
//! - `version`: optional, 1. A larger number is accepted with a warning (a newer polyboot wrote
//!   it; what this one does not know is ignored).
//! - `menu.timeout`: whole seconds before the default image boots (0 = at once); `null` = wait
//!   for a key even if ventoy.json sets a timeout. Only effective with a default image.
//! - `menu.default`: absolute path of the default image on the data partition, or `null`.
//! - `menu.mode`: `"list"` (every image with its path) or `"tree"` (directories as entries);
//!   like `VTOY_DEFAULT_MENU_MODE`. F3 switches at boot.
//! - `menu.verify_before_boot`: `true` (every image), `false`, or a list of image paths
//!   (`*` wildcards in the last component) and directories (everything below them): such an
//!   image boots only after its SHA-256 matches its `.sha256` sidecar file.
//! - `search.root`: directory to search (like `VTOY_DEFAULT_SEARCH_ROOT`).
//! - `search.max_depth`: subdirectory levels below the root, 0..=64 (like
//!   `VTOY_MAX_SEARCH_LEVEL`; larger values are clamped).
//! - `search.skip_dot_underscore`: skip macOS `._*` files (default true).
//! - `windows.bypass_requirements`: Windows 11 Setup skips its TPM / Secure Boot / RAM /
//!   storage / CPU checks (the jump program writes `HKLM\SYSTEM\Setup\LabConfig`); like
//!   `VTOY_WIN11_BYPASS_CHECK`. Default false.
//! - `windows.bypass_nro`: Setup lets the first sign-in go without a network (`BypassNRO`);
//!   like `VTOY_WIN11_BYPASS_NRO`. Default false.
//! - `auto_install`, `persistence`, `injection`, `conf_replace`, `dud`: Ventoy's plugins of
//!   the same names, with the same shapes ([`linux_plugins`]). One set here replaces the same
//!   plugin of ventoy.json as a whole.
//! - Keys starting with `_` are comments and ignored silently (`"_comment": "..."`); any other
//!   unknown key is a warning, never an error, so older builds read newer files.
//!
//! # `/ventoy/ventoy.json`
//!
//! Read unchanged, plugin by plugin: `control` ([`control`]), `menu_alias`, `menu_tip`,
//! `menu_class`, `image_list`, `image_blacklist`, `theme` ([`menu_plugins`]), `password`
//! ([`password`]), `auto_install` ([`auto_install`]), `persistence`, `injection`,
//! `conf_replace` and `dud` ([`linux_plugins`]). Plugins polyboot does not carry out
//! (`auto_memdisk`, `custom_boot`) and unknown keys are each summed up in one warning;
//! nothing is dropped silently.
//!
//! # Firmware-specific keys (both files)
//!
//! Ventoy's rule: a top-level key with a `_uefi` (x86_64 UEFI) or `_legacy` (BIOS) suffix
//! replaces the plain key when running under that firmware; `control_uefi` replaces all of
//! `control` under UEFI. `_ia32`, `_aa64` and `_mips` keys are for firmware polyboot does not
//! run on and are ignored. polyboot.json follows the same rule (`menu_legacy`).
//!
//! # Hostile input
//!
//! Files over [`MAX_CONFIG_BYTES`] are refused unread; nesting deeper than [`MAX_NESTING`] is
//! refused before serde_json sees it (the firmware's stack is small); a UTF-8 byte order mark
//! is skipped, UTF-16 is reported as such. Errors carry serde_json's line and column.

use crate::menu::{normalize_path, ImageKind, ScanOptions, DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT};

pub mod auto_install;
mod control;
pub mod linux_plugins;
pub mod menu_plugins;
pub mod password;
pub mod pattern;
pub mod report;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
pub use auto_install::{AutoInstall, AutoInstallTarget, TemplateChoice};
use core::fmt;
pub use linux_plugins::{ChoiceEntry, Choices, ConfReplace, ConfReplaceEntry, Dud, Injection};
pub use menu_plugins::{ClassTarget, Classes, DisplayMode, ImageList, PathTexts, TextColor, Theme};
pub use password::{Password, PasswordSource, PasswordTarget, Passwords};
pub use pattern::Target;
use serde_json::{Map, Value};

// Where the two configuration files live: defined with the scan, which passes over them.
pub use crate::menu::{POLYBOOT_JSON, VENTOY_JSON};
/// Larger files are refused without being parsed.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Deepest `{`/`[` nesting accepted (real files need 4).
pub const MAX_NESTING: usize = 32;
/// The polyboot.json format version this build writes and understands fully.
pub const FORMAT_VERSION: u64 = 1;
/// [`BootConfig::warnings`] keeps at most this many (plus one line saying how many more).
pub const MAX_WARNINGS: usize = 32;
/// Longest list of names in one aggregated warning.
const MAX_NAMES_LISTED: usize = 10;

/// The firmware we are running under, for the `_uefi` / `_legacy` key suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// x86_64 UEFI: keys ending in `_uefi`.
    Uefi,
    /// Legacy BIOS: keys ending in `_legacy`.
    Bios,
}

impl Firmware {
    pub fn suffix(self) -> &'static str {
        match self {
            Firmware::Uefi => "_uefi",
            Firmware::Bios => "_legacy",
        }
    }
}

/// Every firmware suffix Ventoy knows; keys with one not ours are for another firmware.
const SUFFIXES: [&str; 5] = ["_legacy", "_uefi", "_ia32", "_aa64", "_mips"];

/// Ventoy plugins polyboot does not carry out: reported as such (not as "unknown").
const VENTOY_PLUGINS: &[&str] = &["auto_memdisk", "custom_boot"];

/// How the menu lists images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MenuMode {
    /// Every image, with its path.
    #[default]
    List,
    /// Directories as entries, opened with Enter.
    Tree,
}

/// Which images must match their `.sha256` sidecar before they boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyRule {
    pub all: bool,
    /// Image paths (`*` in the last component) and directories (everything below).
    pub paths: Vec<String>,
}

impl VerifyRule {
    pub fn applies_to(&self, image: &str) -> bool {
        self.all
            || self
                .paths
                .iter()
                .any(|p| pattern::image_matches(p, image) || pattern::under(p, image))
    }
}

/// Why a configuration file could not be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// Larger than [`MAX_CONFIG_BYTES`].
    TooLarge { size: usize, limit: usize },
    /// Starts with a UTF-16 byte order mark.
    Utf16,
    /// Nested deeper than [`MAX_NESTING`]; the position of the first bracket too many.
    TooDeep { line: usize, column: usize },
    /// Not valid JSON (or not UTF-8); position and message from serde_json.
    Syntax { line: usize, column: usize, message: String },
    /// Valid JSON whose top level is not an object.
    NotAnObject,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::TooLarge { size, limit } => {
                write!(f, "file too large ({size} bytes, the limit is {limit})")
            }
            ConfigError::Utf16 => f.write_str("file is UTF-16 text; save it as UTF-8"),
            ConfigError::TooDeep { line, column } => write!(
                f,
                "line {line}, column {column}: nested more than {MAX_NESTING} levels deep"
            ),
            ConfigError::Syntax { line, column, message } => {
                write!(f, "line {line}, column {column}: {message}")
            }
            ConfigError::NotAnObject => f.write_str("the top level must be a JSON object: { ... }"),
        }
    }
}

impl core::error::Error for ConfigError {}

/// A [`ConfigError`] and the file it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: &'static str,
    pub error: ConfigError,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.error)
    }
}

/// What one file says; `None` = not set there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigLayer {
    /// `Some(None)`: explicitly no timeout (polyboot.json `"timeout": null`).
    pub timeout_secs: Option<Option<u32>>,
    /// `Some(None)`: explicitly no default image (polyboot.json `"default": null`).
    pub default_image: Option<Option<String>>,
    /// Normalised absolute path.
    pub search_root: Option<String>,
    /// Already clamped to [`MAX_DEPTH_LIMIT`].
    pub max_depth: Option<u32>,
    pub filter_dot_underscore: Option<bool>,
    /// Diagnostics: an image whose full read the boot manager times (polyboot.json only).
    pub read_benchmark: Option<String>,
    /// Windows Setup's requirement checks skipped (`VTOY_WIN11_BYPASS_CHECK`).
    pub win11_bypass_requirements: Option<bool>,
    /// Setup's network requirement skipped (`VTOY_WIN11_BYPASS_NRO`).
    pub win11_bypass_nro: Option<bool>,
    /// Ventoy's `auto_install` plugin (answer files per image).
    pub auto_install: Option<Vec<AutoInstall>>,
    /// `persistence`: backend files per image.
    pub persistence: Option<Vec<ChoiceEntry>>,
    /// `injection`: an archive per image.
    pub injection: Option<Vec<Injection>>,
    /// `conf_replace`: files of an ISO served from the drive.
    pub conf_replace: Option<Vec<ConfReplaceEntry>>,
    /// `dud`: driver update disks per image.
    pub dud: Option<Vec<Dud>>,
    pub menu_mode: Option<MenuMode>,
    pub sort_case_sensitive: Option<bool>,
    pub show_password_asterisks: Option<bool>,
    /// Kinds `VTOY_FILE_FLT_*` hides.
    pub hidden_kinds: Option<Vec<ImageKind>>,
    pub aliases: Option<PathTexts>,
    pub tips: Option<PathTexts>,
    pub tip_color: Option<TextColor>,
    pub classes: Option<Classes>,
    pub image_list: Option<ImageList>,
    pub passwords: Option<Passwords>,
    pub theme: Option<Theme>,
    pub verify_before_boot: Option<VerifyRule>,
    /// Problems that did not stop the file from being used (without the file name).
    pub warnings: Vec<String>,
}

impl ConfigLayer {
    fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }
}

/// The configuration the boot manager runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootConfig {
    /// Seconds before the default image boots; `None` = wait for a key.
    pub timeout_secs: Option<u32>,
    /// Absolute path of the default image.
    pub default_image: Option<String>,
    /// Directory to search, normalised ("/" = the whole volume).
    pub search_root: String,
    /// Subdirectory levels to search below `search_root`.
    pub max_depth: u32,
    /// Skip macOS `._*` files.
    pub filter_dot_underscore: bool,
    /// Diagnostics: time reading this image through the virtual device against raw reads of
    /// the same sectors, once the menu is ready (`diagnostics.read_benchmark`).
    pub read_benchmark: Option<String>,
    /// Windows 11 Setup skips its hardware requirement checks (`LabConfig`).
    pub win11_bypass_requirements: bool,
    /// Windows Setup lets the first sign-in go without a network (`BypassNRO`).
    pub win11_bypass_nro: bool,
    /// Answer files per image (Ventoy's `auto_install`).
    pub auto_install: Vec<AutoInstall>,
    /// Persistence backends per image (`persistence`).
    pub persistence: Vec<ChoiceEntry>,
    /// Archives extracted into an image's initramfs (`injection`).
    pub injection: Vec<Injection>,
    /// Files of an ISO served from the drive instead (`conf_replace`).
    pub conf_replace: Vec<ConfReplaceEntry>,
    /// Driver update disks per image (`dud`).
    pub dud: Vec<Dud>,
    /// List or tree view (`VTOY_DEFAULT_MENU_MODE`, `menu.mode`).
    pub menu_mode: MenuMode,
    /// Sort names by byte order instead of naturally ignoring case (`VTOY_SORT_CASE_SENSITIVE`).
    pub sort_case_sensitive: bool,
    /// Show `*` per typed password character (`VTOY_SHOW_PASSWORD_ASTERISK`, default on).
    pub show_password_asterisks: bool,
    /// Image kinds left out of the menu (`VTOY_FILE_FLT_*`).
    pub hidden_kinds: Vec<ImageKind>,
    /// `menu_alias`: names shown instead of paths.
    pub aliases: PathTexts,
    /// `menu_tip`: a line shown when the entry is selected.
    pub tips: PathTexts,
    pub tip_color: Option<TextColor>,
    /// `menu_class`: tags shown after the name.
    pub classes: Classes,
    /// `image_list` / `image_blacklist`.
    pub image_list: Option<ImageList>,
    /// `password`.
    pub passwords: Passwords,
    /// `theme`, what a text console honours.
    pub theme: Theme,
    /// polyboot.json `menu.verify_before_boot`.
    pub verify_before_boot: VerifyRule,
    /// Each prefixed with the file it comes from.
    pub warnings: Vec<String>,
}

impl Default for BootConfig {
    fn default() -> Self {
        BootConfig {
            timeout_secs: None,
            default_image: None,
            search_root: String::from("/"),
            max_depth: DEFAULT_MAX_DEPTH,
            filter_dot_underscore: true,
            read_benchmark: None,
            win11_bypass_requirements: false,
            win11_bypass_nro: false,
            auto_install: Vec::new(),
            persistence: Vec::new(),
            injection: Vec::new(),
            conf_replace: Vec::new(),
            dud: Vec::new(),
            menu_mode: MenuMode::List,
            sort_case_sensitive: false,
            show_password_asterisks: true,
            hidden_kinds: Vec::new(),
            aliases: PathTexts::default(),
            tips: PathTexts::default(),
            tip_color: None,
            classes: Classes::default(),
            image_list: None,
            passwords: Passwords::default(),
            theme: Theme::default(),
            verify_before_boot: VerifyRule::default(),
            warnings: Vec::new(),
        }
    }
}

impl BootConfig {
    /// Apply the layers over the defaults: polyboot.json settings win over ventoy.json ones.
    /// At most [`MAX_WARNINGS`] warnings are kept, and a line saying how many more.
    pub fn merge(polyboot: Option<ConfigLayer>, ventoy: Option<ConfigLayer>) -> BootConfig {
        let mut config = BootConfig::merge_all(polyboot, ventoy);
        if config.warnings.len() > MAX_WARNINGS {
            let more = config.warnings.len() - MAX_WARNINGS;
            config.warnings.truncate(MAX_WARNINGS);
            config.warnings.push(format!("... and {more} more warnings"));
        }
        config
    }

    /// [`BootConfig::merge`] keeping every warning (for `polyboot config check`).
    pub fn merge_all(polyboot: Option<ConfigLayer>, ventoy: Option<ConfigLayer>) -> BootConfig {
        let mut config = BootConfig::default();
        let mut warnings = Vec::new();
        // Lowest precedence first; later layers overwrite.
        for (path, layer) in [(VENTOY_JSON, ventoy), (POLYBOOT_JSON, polyboot)] {
            let Some(layer) = layer else { continue };
            set(&mut config.timeout_secs, layer.timeout_secs);
            set(&mut config.default_image, layer.default_image);
            set(&mut config.search_root, layer.search_root);
            set(&mut config.max_depth, layer.max_depth);
            set(&mut config.filter_dot_underscore, layer.filter_dot_underscore);
            set(&mut config.read_benchmark, layer.read_benchmark.map(Some));
            set(&mut config.win11_bypass_requirements, layer.win11_bypass_requirements);
            set(&mut config.win11_bypass_nro, layer.win11_bypass_nro);
            // A plugin polyboot.json sets replaces ventoy.json's as a whole.
            set(&mut config.auto_install, layer.auto_install);
            set(&mut config.persistence, layer.persistence);
            set(&mut config.injection, layer.injection);
            set(&mut config.conf_replace, layer.conf_replace);
            set(&mut config.dud, layer.dud);
            set(&mut config.menu_mode, layer.menu_mode);
            set(&mut config.sort_case_sensitive, layer.sort_case_sensitive);
            set(&mut config.show_password_asterisks, layer.show_password_asterisks);
            set(&mut config.hidden_kinds, layer.hidden_kinds);
            set(&mut config.aliases, layer.aliases);
            set(&mut config.tips, layer.tips);
            set(&mut config.tip_color, layer.tip_color.map(Some));
            set(&mut config.classes, layer.classes);
            set(&mut config.image_list, layer.image_list.map(Some));
            set(&mut config.passwords, layer.passwords);
            set(&mut config.theme, layer.theme);
            set(&mut config.verify_before_boot, layer.verify_before_boot);
            // polyboot.json's warnings first.
            let mut ours: Vec<String> =
                layer.warnings.into_iter().map(|w| format!("{path}: {w}")).collect();
            ours.append(&mut warnings);
            warnings = ours;
        }
        if config.timeout_secs.is_some() && config.default_image.is_none() {
            warnings.push(String::from(
                "a menu timeout is set but no default image: the menu waits for a key",
            ));
        }
        config.warnings = warnings;
        config
    }

    /// The answer file `image` boots with when nobody presses a key (an absolute path on the
    /// data partition): the template `autosel` picks; without it the boot menu asks.
    pub fn unattend_template(&self, image: &str) -> TemplateChoice {
        auto_install::choose(&self.auto_install, image)
    }

    /// The `persistence` backends offered for `image`; `None` when no entry names it.
    pub fn persistence_choices(&self, image: &str) -> Option<Choices> {
        linux_plugins::choices_for(&self.persistence, image)
    }

    /// The `auto_install` templates offered for `image`; `None` when no entry names it.
    pub fn auto_install_choices(&self, image: &str) -> Option<Choices> {
        linux_plugins::choices_for(&self.auto_install, image)
    }

    /// The archive `injection` extracts into `image`'s initramfs.
    pub fn injection_archive(&self, image: &str) -> Option<String> {
        linux_plugins::injection_for(&self.injection, image)
    }

    /// The files of `image` `conf_replace` serves from the drive, one per path in the ISO.
    pub fn conf_replacements(&self, image: &str) -> Vec<ConfReplace> {
        linux_plugins::conf_replacements_for(&self.conf_replace, image)
    }

    /// The driver update disks `dud` hands to `image`'s installer.
    pub fn driver_update_disks(&self, image: &str) -> Vec<String> {
        linux_plugins::duds_for(&self.dud, image)
    }

    /// The scanner settings this configuration asks for (other bounds at their defaults).
    pub fn scan_options(&self) -> ScanOptions {
        ScanOptions {
            root: self.search_root.clone(),
            max_depth: self.max_depth,
            filter_dot_underscore: self.filter_dot_underscore,
            case_sensitive_sort: self.sort_case_sensitive,
            ..ScanOptions::default()
        }
    }
}

/// What the configuration says about one menu entry (image or directory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntrySettings {
    pub alias: Option<String>,
    pub tip: Option<String>,
    pub class: Option<String>,
    /// Images only: asked before it boots.
    pub password: Option<Password>,
    /// Images only: boots only when its `.sha256` sidecar matches.
    pub verify_before_boot: bool,
}

impl BootConfig {
    /// The alias, tip, class, password and verification rule of the image at `path`.
    pub fn image_settings(&self, path: &str, name: &str, kind: ImageKind) -> EntrySettings {
        EntrySettings {
            alias: self.aliases.image(path).map(String::from),
            tip: self.tips.image(path).map(String::from),
            class: self.classes.image(path, name).map(String::from),
            password: self.passwords.for_image(path, kind).cloned(),
            verify_before_boot: self.verify_before_boot.applies_to(path),
        }
    }

    /// The alias, tip and class of the directory at `path` (tree view).
    pub fn dir_settings(&self, path: &str) -> EntrySettings {
        EntrySettings {
            alias: self.aliases.dir(path).map(String::from),
            tip: self.tips.dir(path).map(String::from),
            class: self.classes.dir(path).map(String::from),
            ..EntrySettings::default()
        }
    }

    /// Whether `image_list` / `image_blacklist` and `VTOY_FILE_FLT_*` keep an image, and its
    /// rank among the kept ones (the `image_list` position; 0 otherwise). `Err` says why not.
    pub fn menu_rank(&self, path: &str, kind: ImageKind) -> Result<usize, &'static str> {
        if self.hidden_kinds.contains(&kind) {
            return Err("hidden by VTOY_FILE_FLT_*");
        }
        match &self.image_list {
            None => Ok(0),
            Some(list) => list.position(path).ok_or(if list.blacklist {
                "in image_blacklist"
            } else {
                "not in image_list"
            }),
        }
    }
}

/// A setting a layer sets (`Some`) replaces the one below it.
fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// Parse whichever files exist (their raw bytes) and merge them. A file that cannot be used
/// is reported in the returned errors and treated as absent.
pub fn load(
    polyboot_json: Option<&[u8]>,
    ventoy_json: Option<&[u8]>,
    firmware: Firmware,
) -> (BootConfig, Vec<FileError>) {
    load_with(polyboot_json, ventoy_json, firmware, BootConfig::merge)
}

/// [`load`] keeping every warning ([`BootConfig::merge_all`]), for `polyboot config check`.
pub fn load_all(
    polyboot_json: Option<&[u8]>,
    ventoy_json: Option<&[u8]>,
    firmware: Firmware,
) -> (BootConfig, Vec<FileError>) {
    load_with(polyboot_json, ventoy_json, firmware, BootConfig::merge_all)
}

fn load_with(
    polyboot_json: Option<&[u8]>,
    ventoy_json: Option<&[u8]>,
    firmware: Firmware,
    merge: fn(Option<ConfigLayer>, Option<ConfigLayer>) -> BootConfig,
) -> (BootConfig, Vec<FileError>) {
    let mut errors = Vec::new();
    let mut parse = |path, bytes: Option<&[u8]>, f: fn(&[u8], Firmware) -> _| match bytes
        .map(|b| f(b, firmware))
    {
        Some(Ok(layer)) => Some(layer),
        Some(Err(error)) => {
            errors.push(FileError { path, error });
            None
        }
        None => None,
    };
    let polyboot = parse(POLYBOOT_JSON, polyboot_json, parse_polyboot);
    let ventoy = parse(VENTOY_JSON, ventoy_json, parse_ventoy);
    (merge(polyboot, ventoy), errors)
}

// ------------------------------------------------------------------------------------------
// Shared parsing
// ------------------------------------------------------------------------------------------

/// Check the limits, then parse into a top-level object.
fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ConfigError> {
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge { size: bytes.len(), limit: MAX_CONFIG_BYTES });
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(ConfigError::Utf16);
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    check_nesting(bytes)?;
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConfigError::NotAnObject),
        Err(e) => Err(syntax_error(&e)),
    }
}

fn syntax_error(e: &serde_json::Error) -> ConfigError {
    let (line, column) = (e.line(), e.column());
    let text = e.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = text.strip_suffix(suffix.as_str()).unwrap_or(&text).to_string();
    ConfigError::Syntax { line, column, message }
}

/// Refuse nesting deeper than [`MAX_NESTING`], counting brackets outside strings. Anything
/// else that is wrong is left for serde_json to report.
fn check_nesting(bytes: &[u8]) -> Result<(), ConfigError> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        column += 1;
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(ConfigError::TooDeep { line, column });
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if b == b'\n' {
            line += 1;
            column = 0;
        }
    }
    Ok(())
}

/// Split a firmware suffix off a key: `control_uefi` → (`control`, `Some("_uefi")`).
fn split_suffix(key: &str) -> (&str, Option<&'static str>) {
    for suffix in SUFFIXES {
        if let Some(base) = key.strip_suffix(suffix) {
            if !base.is_empty() {
                return (base, Some(suffix));
            }
        }
    }
    (key, None)
}

/// The top-level keys that apply under `firmware`, by base name (sorted): a key with our
/// suffix replaces the plain one, keys for other firmware are dropped.
fn select_sections(
    root: &Map<String, Value>,
    firmware: Firmware,
) -> BTreeMap<&str, (&str, &Value)> {
    let mut chosen: BTreeMap<&str, (&str, &Value, bool)> = BTreeMap::new();
    for (key, value) in root {
        match split_suffix(key) {
            (base, None) => {
                chosen.entry(base).or_insert((key.as_str(), value, false));
            }
            (base, Some(suffix)) if suffix == firmware.suffix() => {
                chosen.insert(base, (key.as_str(), value, true));
            }
            _ => {}
        }
    }
    chosen.into_iter().map(|(base, (key, value, _))| (base, (key, value))).collect()
}

/// `"a", "b", "c"` with at most [`MAX_NAMES_LISTED`] names.
fn name_list(mut names: Vec<&str>) -> String {
    names.sort_unstable();
    names.dedup();
    let total = names.len();
    let mut out = String::new();
    for (i, name) in names.iter().take(MAX_NAMES_LISTED).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&excerpt(name));
    }
    if total > MAX_NAMES_LISTED {
        out.push_str(&format!(" and {} more", total - MAX_NAMES_LISTED));
    }
    out
}

/// A short description of a JSON value for warnings (never the whole value).
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// At most 60 characters of `s`, for quoting user values in warnings.
fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().nth(60).is_some() {
        out.push_str("...");
    }
    out
}

/// A decimal made only of ASCII digits (surrounding blanks allowed), within `u32`.
fn parse_decimal(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn clamp_depth(depth: u64, what: &str, layer: &mut ConfigLayer) -> u32 {
    if depth > u64::from(MAX_DEPTH_LIMIT) {
        layer.warn(format!(
            "{what} {depth} is deeper than polyboot searches; using {MAX_DEPTH_LIMIT}"
        ));
        MAX_DEPTH_LIMIT
    } else {
        depth as u32
    }
}

/// An absolute image or directory path from a config value.
fn config_path(value: &str, what: &str, layer: &mut ConfigLayer) -> Option<String> {
    let path = normalize_path(value);
    if path.is_none() {
        layer.warn(format!(
            "{what} \"{}\" is not an absolute path like \"/ISO/x.iso\" (ignored)",
            excerpt(value)
        ));
    }
    path
}

/// `section.name`, a setting whose value must be a path string: the absolute path, or a
/// warning and `None`.
fn path_setting(
    section: &str,
    name: &str,
    value: &Value,
    layer: &mut ConfigLayer,
) -> Option<String> {
    match value.as_str() {
        Some(s) => config_path(s, &format!("\"{section}.{name}\""), layer),
        None => {
            layer.warn(format!(
                "\"{section}.{name}\" must be a path string, not {} (ignored)",
                kind_of(value)
            ));
            None
        }
    }
}

// ------------------------------------------------------------------------------------------
// polyboot.json
// ------------------------------------------------------------------------------------------

/// Parse `/polyboot/polyboot.json`.
pub fn parse_polyboot(bytes: &[u8], firmware: Firmware) -> Result<ConfigLayer, ConfigError> {
    let root = parse_object(bytes)?;
    let mut layer = ConfigLayer::default();
    for (base, (key, value)) in select_sections(&root, firmware) {
        match base {
            "version" => check_version(value, &mut layer),
            "menu" => parse_section(key, value, &mut layer, menu_setting),
            "search" => parse_section(key, value, &mut layer, search_setting),
            "diagnostics" => parse_section(key, value, &mut layer, diagnostics_setting),
            "windows" => parse_section(key, value, &mut layer, windows_setting),
            _ if linux_plugin(base, key, value, &mut layer) => {}
            _ if base.starts_with('_') => {}
            _ => layer.warn(format!("unknown key \"{}\" (ignored)", excerpt(key))),
        }
    }
    Ok(layer)
}

fn check_version(value: &Value, layer: &mut ConfigLayer) {
    match value.as_u64() {
        Some(FORMAT_VERSION) => {}
        Some(v) if v > FORMAT_VERSION => layer.warn(format!(
            "written for a newer polyboot (format version {v}); settings this version \
             does not know are ignored"
        )),
        _ => layer.warn(format!("\"version\" must be {FORMAT_VERSION} (ignored)")),
    }
}

/// Walk one section object (`menu`, `search`), in key order, handing each setting to `apply`,
/// which returns false for keys it does not know.
fn parse_section(
    key: &str,
    value: &Value,
    layer: &mut ConfigLayer,
    apply: fn(&str, &str, &Value, &mut ConfigLayer) -> bool,
) {
    let Some(section) = value.as_object() else {
        layer.warn(format!("\"{key}\" must be an object, not {} (ignored)", kind_of(value)));
        return;
    };
    let mut names: Vec<&String> = section.keys().collect();
    names.sort_unstable();
    for name in names {
        let Some(value) = section.get(name) else { continue };
        if name.starts_with('_') {
            continue;
        }
        if !apply(key, name, value, layer) {
            layer.warn(format!("unknown key \"{}.{}\" (ignored)", key, excerpt(name)));
        }
    }
}

fn menu_setting(section: &str, name: &str, value: &Value, layer: &mut ConfigLayer) -> bool {
    match name {
        "timeout" => match value {
            Value::Null => layer.timeout_secs = Some(None),
            _ => match value.as_u64().and_then(|v| u32::try_from(v).ok()) {
                Some(secs) => layer.timeout_secs = Some(Some(secs)),
                None => layer.warn(format!(
                    "\"{section}.timeout\" must be a whole number of seconds or null (ignored)"
                )),
            },
        },
        "default" => match value {
            Value::Null => layer.default_image = Some(None),
            Value::String(s) => {
                if let Some(path) = config_path(s, &format!("\"{section}.default\""), layer) {
                    layer.default_image = Some(Some(path));
                }
            }
            other => layer.warn(format!(
                "\"{section}.default\" must be a path string or null, not {} (ignored)",
                kind_of(other)
            )),
        },
        "mode" => match value.as_str() {
            Some("list") => layer.menu_mode = Some(MenuMode::List),
            Some("tree") => layer.menu_mode = Some(MenuMode::Tree),
            _ => layer.warn(format!("\"{section}.mode\" must be \"list\" or \"tree\" (ignored)")),
        },
        "verify_before_boot" => match value {
            Value::Bool(all) => {
                layer.verify_before_boot = Some(VerifyRule { all: *all, paths: Vec::new() })
            }
            Value::Array(items) => {
                let mut paths = Vec::new();
                for item in items {
                    match item.as_str() {
                        Some(s) => paths.extend(config_path(s, &format!("\"{section}.verify_before_boot\" entry"), layer)),
                        None => layer.warn(format!(
                            "\"{section}.verify_before_boot\" entries must be path strings, not {} (ignored)",
                            kind_of(item)
                        )),
                    }
                }
                layer.verify_before_boot = Some(VerifyRule { all: false, paths });
            }
            other => layer.warn(format!(
                "\"{section}.verify_before_boot\" must be true, false or a list of paths, not {} (ignored)",
                kind_of(other)
            )),
        },
        _ => return false,
    }
    true
}

fn diagnostics_setting(section: &str, name: &str, value: &Value, layer: &mut ConfigLayer) -> bool {
    match name {
        "read_benchmark" => {
            if let Some(path) = path_setting(section, name, value, layer) {
                layer.read_benchmark = Some(path);
            }
        }
        _ => return false,
    }
    true
}

fn windows_setting(section: &str, name: &str, value: &Value, layer: &mut ConfigLayer) -> bool {
    let field = match name {
        "bypass_requirements" => &mut layer.win11_bypass_requirements,
        "bypass_nro" => &mut layer.win11_bypass_nro,
        _ => return false,
    };
    match value.as_bool() {
        Some(b) => *field = Some(b),
        None => layer.warn(format!("\"{section}.{name}\" must be true or false (ignored)")),
    }
    true
}

fn search_setting(section: &str, name: &str, value: &Value, layer: &mut ConfigLayer) -> bool {
    match name {
        "root" => {
            if let Some(path) = path_setting(section, name, value, layer) {
                layer.search_root = Some(path);
            }
        }
        "max_depth" => match value.as_u64() {
            Some(depth) => {
                let depth = clamp_depth(depth, &format!("\"{section}.max_depth\""), layer);
                layer.max_depth = Some(depth);
            }
            None => layer.warn(format!(
                "\"{section}.max_depth\" must be a whole number from 0 to {MAX_DEPTH_LIMIT} (ignored)"
            )),
        },
        "skip_dot_underscore" => match value.as_bool() {
            Some(b) => layer.filter_dot_underscore = Some(b),
            None => layer.warn(format!(
                "\"{section}.skip_dot_underscore\" must be true or false (ignored)"
            )),
        },
        _ => return false,
    }
    true
}

// ------------------------------------------------------------------------------------------
// ventoy.json
// ------------------------------------------------------------------------------------------

/// Parse `/ventoy/ventoy.json`: each plugin (or its `_uefi` / `_legacy` variant).
pub fn parse_ventoy(bytes: &[u8], firmware: Firmware) -> Result<ConfigLayer, ConfigError> {
    let root = parse_object(bytes)?;
    let mut layer = ConfigLayer::default();
    let (mut plugins, mut unknown) = (Vec::new(), Vec::new());
    for (base, (key, value)) in select_sections(&root, firmware) {
        match base {
            "control" => control::parse_control(key, value, &mut layer),
            _ if linux_plugin(base, key, value, &mut layer) => {}
            "menu_alias" => menu_plugins::parse_alias(key, value, &mut layer),
            "menu_tip" => menu_plugins::parse_tip(key, value, &mut layer),
            "menu_class" => menu_plugins::parse_class(key, value, &mut layer),
            "image_list" => menu_plugins::parse_image_list(key, value, false, &mut layer),
            "image_blacklist" => menu_plugins::parse_image_list(key, value, true, &mut layer),
            "theme" => menu_plugins::parse_theme(key, value, &mut layer),
            "password" => password::parse(key, value, &mut layer),
            _ if VENTOY_PLUGINS.contains(&base) => plugins.push(key),
            _ => unknown.push(key),
        }
    }
    if !plugins.is_empty() {
        layer.warn(format!("plugins not supported by polyboot (ignored): {}", name_list(plugins)));
    }
    if !unknown.is_empty() {
        layer.warn(format!("unknown keys (ignored): {}", name_list(unknown)));
    }
    Ok(layer)
}

/// The plugins both files take with Ventoy's shapes; false for any other key.
fn linux_plugin(base: &str, key: &str, value: &Value, layer: &mut ConfigLayer) -> bool {
    match base {
        "auto_install" => auto_install::parse(key, value, layer),
        "persistence" => linux_plugins::parse_persistence(key, value, layer),
        "injection" => linux_plugins::parse_injection(key, value, layer),
        "conf_replace" => linux_plugins::parse_conf_replace(key, value, layer),
        "dud" => linux_plugins::parse_dud(key, value, layer),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests;
