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
//!   "menu": { "timeout": 5, "default": "/samples/ipxe.iso" },
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
//! - `search.root`: directory to search (like `VTOY_DEFAULT_SEARCH_ROOT`).
//! - `search.max_depth`: subdirectory levels below the root, 0..=64 (like
//!   `VTOY_MAX_SEARCH_LEVEL`; larger values are clamped).
//! - `search.skip_dot_underscore`: skip macOS `._*` files (default true).
//! - `windows.bypass_requirements`: Windows 11 Setup skips its TPM / Secure Boot / RAM /
//!   storage / CPU checks (the jump program writes `HKLM\SYSTEM\Setup\LabConfig`); like
//!   `VTOY_WIN11_BYPASS_CHECK`. Default false.
//! - `windows.bypass_nro`: Setup lets the first sign-in go without a network (`BypassNRO`);
//!   like `VTOY_WIN11_BYPASS_NRO`. Default false.
//! - Keys starting with `_` are comments and ignored silently (`"_comment": "..."`); any other
//!   unknown key is a warning, never an error, so older builds read newer files.
//!
//! # `/ventoy/ventoy.json`
//!
//! The `auto_install` plugin gives Windows Setup its answer file ([`auto_install`]). The
//! `control` plugin is an array of single-key objects with string values,
//! `[{"VTOY_MENU_TIMEOUT": "10"}, {"VTOY_DEFAULT_IMAGE": "/ISO/x.iso"}]`. Honoured:
//! `VTOY_MENU_TIMEOUT`, `VTOY_DEFAULT_IMAGE` (image paths only, not Ventoy's `F4>...` hotkey
//! menus or `VTOY_EXIT`), `VTOY_DEFAULT_SEARCH_ROOT`, `VTOY_MAX_SEARCH_LEVEL` (`"max"` = the
//! deepest we search, 64), `VTOY_FILT_DOT_UNDERSCORE_FILE`, `VTOY_WIN11_BYPASS_CHECK` and
//! `VTOY_WIN11_BYPASS_NRO` (`"1"` / `"0"`, off unless set). A later entry overrides an
//! earlier one. Other `VTOY_*` variables and the other plugins (`theme`, `menu_alias`, ...)
//! are ignored, summed up in one warning each.
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

use crate::menu::{normalize_path, ScanOptions, DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT};

pub mod auto_install;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
pub use auto_install::{AutoInstall, AutoInstallTarget, TemplateChoice};
use core::fmt;
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

/// Ventoy plugins other than `control`: ignored, but known (so they are not "unknown").
const VENTOY_PLUGINS: &[&str] = &[
    "theme",
    "menu_alias",
    "menu_tip",
    "menu_class",
    "auto_install",
    "persistence",
    "injection",
    "conf_replace",
    "password",
    "image_list",
    "image_blacklist",
    "auto_memdisk",
    "dud",
    "custom_boot",
];

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
            warnings: Vec::new(),
        }
    }
}

impl BootConfig {
    /// Apply the layers over the defaults: polyboot.json settings win over ventoy.json ones.
    pub fn merge(polyboot: Option<ConfigLayer>, ventoy: Option<ConfigLayer>) -> BootConfig {
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
            set(&mut config.auto_install, layer.auto_install);
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
        if warnings.len() > MAX_WARNINGS {
            let more = warnings.len() - MAX_WARNINGS;
            warnings.truncate(MAX_WARNINGS);
            warnings.push(format!("... and {more} more warnings"));
        }
        config.warnings = warnings;
        config
    }

    /// The answer file `image` (an absolute path on the data partition) installs with.
    pub fn unattend_template(&self, image: &str) -> TemplateChoice {
        auto_install::choose(&self.auto_install, image)
    }

    /// The scanner settings this configuration asks for (other bounds at their defaults).
    pub fn scan_options(&self) -> ScanOptions {
        ScanOptions {
            root: self.search_root.clone(),
            max_depth: self.max_depth,
            filter_dot_underscore: self.filter_dot_underscore,
            ..ScanOptions::default()
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
    (BootConfig::merge(polyboot, ventoy), errors)
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

/// Parse `/ventoy/ventoy.json`: the `control` plugin (or `control_uefi` / `control_legacy`).
pub fn parse_ventoy(bytes: &[u8], firmware: Firmware) -> Result<ConfigLayer, ConfigError> {
    let root = parse_object(bytes)?;
    let mut layer = ConfigLayer::default();
    let (mut plugins, mut unknown) = (Vec::new(), Vec::new());
    for (base, (key, value)) in select_sections(&root, firmware) {
        if base == "control" {
            parse_control(key, value, &mut layer);
        } else if base == "auto_install" {
            auto_install::parse(key, value, &mut layer);
        } else if VENTOY_PLUGINS.contains(&base) {
            plugins.push(key);
        } else {
            unknown.push(key);
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

fn parse_control(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let Some(entries) = value.as_array() else {
        layer.warn(format!(
            "\"{key}\" must be an array of {{\"VTOY_...\": \"value\"}} objects, not {} (ignored)",
            kind_of(value)
        ));
        return;
    };
    // Variable → value; a later entry overrides an earlier one (each is a GRUB `set`).
    let mut vars: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(object) = entry.as_object() else {
            layer.warn(format!("{key}[{i}] must be an object, not {} (ignored)", kind_of(entry)));
            continue;
        };
        if object.len() > 1 {
            layer.warn(format!(
                "{key}[{i}] has {} keys; Ventoy reads one per entry (all used here)",
                object.len()
            ));
        }
        let mut names: Vec<&String> = object.keys().collect();
        names.sort_unstable();
        for name in names {
            match object.get(name) {
                Some(Value::String(s)) => {
                    vars.insert(name.as_str(), s.as_str());
                }
                Some(other) => layer.warn(format!(
                    "{key}[{i}]: {} must be a string, not {} (ignored)",
                    excerpt(name),
                    kind_of(other)
                )),
                None => {}
            }
        }
    }

    let mut unsupported = Vec::new();
    for (name, value) in vars {
        match name {
            "VTOY_MENU_TIMEOUT" => match parse_decimal(value) {
                Some(secs) => layer.timeout_secs = Some(Some(secs)),
                None => layer.warn(format!(
                    "VTOY_MENU_TIMEOUT \"{}\" is not a number of seconds (ignored)",
                    excerpt(value)
                )),
            },
            "VTOY_DEFAULT_IMAGE" => {
                if value.starts_with(['/', '\\']) {
                    if let Some(path) = config_path(value, "VTOY_DEFAULT_IMAGE", layer) {
                        layer.default_image = Some(Some(path));
                    }
                } else {
                    layer.warn(format!(
                        "VTOY_DEFAULT_IMAGE \"{}\" is not an image path; polyboot supports \
                         only paths like \"/ISO/x.iso\" (ignored)",
                        excerpt(value)
                    ));
                }
            }
            "VTOY_DEFAULT_SEARCH_ROOT" => {
                if let Some(path) = config_path(value, "VTOY_DEFAULT_SEARCH_ROOT", layer) {
                    layer.search_root = Some(path);
                }
            }
            "VTOY_MAX_SEARCH_LEVEL" => {
                if value.trim().eq_ignore_ascii_case("max") {
                    layer.max_depth = Some(MAX_DEPTH_LIMIT);
                } else if let Some(depth) = parse_decimal(value) {
                    let depth = clamp_depth(u64::from(depth), "VTOY_MAX_SEARCH_LEVEL", layer);
                    layer.max_depth = Some(depth);
                } else {
                    layer.warn(format!(
                        "VTOY_MAX_SEARCH_LEVEL \"{}\" is neither a number nor \"max\" (ignored)",
                        excerpt(value)
                    ));
                }
            }
            "VTOY_FILT_DOT_UNDERSCORE_FILE" => {
                layer.filter_dot_underscore =
                    switch(name, value, layer).or(layer.filter_dot_underscore)
            }
            "VTOY_WIN11_BYPASS_CHECK" => {
                layer.win11_bypass_requirements =
                    switch(name, value, layer).or(layer.win11_bypass_requirements)
            }
            "VTOY_WIN11_BYPASS_NRO" => {
                layer.win11_bypass_nro = switch(name, value, layer).or(layer.win11_bypass_nro)
            }
            _ => unsupported.push(name),
        }
    }
    if !unsupported.is_empty() {
        layer.warn(format!(
            "{key}: not supported by polyboot (ignored): {}",
            name_list(unsupported)
        ));
    }
}

/// A `"0"` / `"1"` control variable; anything else is a warning and `None`.
fn switch(name: &str, value: &str, layer: &mut ConfigLayer) -> Option<bool> {
    match value.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => {
            layer.warn(format!("{name} \"{}\" must be \"0\" or \"1\" (ignored)", excerpt(value)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const POLYBOOT_FIXTURE: &str = include_str!("../tests/fixtures/polyboot.json");
    const VENTOY_FIXTURE: &str = include_str!("../tests/fixtures/ventoy.json");

    fn polyboot(text: &str) -> ConfigLayer {
        parse_polyboot(text.as_bytes(), Firmware::Uefi).unwrap()
    }

    fn ventoy(text: &str) -> ConfigLayer {
        parse_ventoy(text.as_bytes(), Firmware::Uefi).unwrap()
    }

    /// A ventoy.json with one control array.
    fn control(entries: &str) -> ConfigLayer {
        ventoy(&format!("{{\"control\": [{entries}]}}"))
    }

    fn some(s: &str) -> Option<Option<String>> {
        Some(Some(s.to_string()))
    }

    #[test]
    fn polyboot_fixture() {
        let layer = polyboot(POLYBOOT_FIXTURE);
        assert_eq!(
            layer,
            ConfigLayer {
                timeout_secs: Some(Some(5)),
                default_image: some("/samples/ipxe.iso"),
                search_root: Some("/".into()),
                max_depth: Some(6),
                filter_dot_underscore: Some(true),
                read_benchmark: None,
                win11_bypass_requirements: Some(true),
                win11_bypass_nro: Some(false),
                auto_install: None,
                warnings: vec![],
            }
        );
        // The same under BIOS: the file has no firmware-specific keys.
        assert_eq!(parse_polyboot(POLYBOOT_FIXTURE.as_bytes(), Firmware::Bios).unwrap(), layer);
    }

    #[test]
    fn ventoy_fixture_uefi() {
        let layer = ventoy(VENTOY_FIXTURE);
        assert_eq!(layer.timeout_secs, Some(Some(10)));
        assert_eq!(layer.default_image, some("/ISO/debian-12.5.0-amd64-netinst.iso"));
        assert_eq!(layer.search_root.as_deref(), Some("/ISO"));
        assert_eq!(layer.max_depth, Some(3));
        assert_eq!(layer.filter_dot_underscore, Some(true));
        assert_eq!(layer.win11_bypass_requirements, Some(true));
        assert_eq!(layer.win11_bypass_nro, Some(true));
        let config = BootConfig::merge(None, Some(layer.clone()));
        let template = |image: &str| match config.unattend_template(image) {
            TemplateChoice::Template(t) => t,
            other => panic!("{image}: {other:?}"),
        };
        assert_eq!(template("/ISO/Win11_23H2_English_x64.iso"), "/ventoy/script/win11.xml");
        assert_eq!(template("/ISO/Windows/Server/2022.iso"), "/ventoy/script/win_b.xml");
        assert!(matches!(
            config.unattend_template("/ISO/debian-12.5.0-amd64-netinst.iso"),
            TemplateChoice::NotUsed(_)
        ));
        assert_eq!(
            layer.warnings,
            [
                "control: not supported by polyboot (ignored): VTOY_DEFAULT_MENU_MODE, \
                 VTOY_FILE_FLT_EFI, VTOY_MENU_LANGUAGE, VTOY_SORT_CASE_SENSITIVE, \
                 VTOY_TREE_VIEW_MENU_STYLE",
                "plugins not supported by polyboot (ignored): image_blacklist, menu_alias, \
                 menu_class, menu_tip, persistence, theme_uefi",
            ]
        );
    }

    #[test]
    fn ventoy_fixture_bios_uses_control_legacy() {
        let layer = parse_ventoy(VENTOY_FIXTURE.as_bytes(), Firmware::Bios).unwrap();
        // control_legacy replaces control as a whole: nothing of control survives.
        assert_eq!(
            layer,
            ConfigLayer {
                timeout_secs: Some(Some(20)),
                default_image: some("/ISO/Legacy/freedos.img"),
                search_root: None,
                max_depth: None,
                filter_dot_underscore: Some(false),
                read_benchmark: None,
                win11_bypass_requirements: None,
                win11_bypass_nro: None,
                auto_install: Some(vec![
                    AutoInstall {
                        target: AutoInstallTarget::Image(
                            "/ISO/debian-12.5.0-amd64-netinst.iso".into()
                        ),
                        templates: vec!["/ventoy/script/preseed.cfg".into()],
                        autosel: None,
                        timeout: None,
                    },
                    AutoInstall {
                        target: AutoInstallTarget::Image("/ISO/Win11_*_x64.iso".into()),
                        templates: vec!["/ventoy/script/win11.xml".into()],
                        autosel: Some(1),
                        timeout: None,
                    },
                    AutoInstall {
                        target: AutoInstallTarget::Parent("/ISO/Windows".into()),
                        templates: vec![
                            "/ventoy/script/win_a.xml".into(),
                            "/ventoy/script/win_b.xml".into()
                        ],
                        autosel: Some(2),
                        timeout: Some(10),
                    },
                ]),
                warnings: vec!["plugins not supported by polyboot (ignored): image_blacklist, \
                     menu_alias, menu_class, menu_tip, persistence, theme"
                    .into()],
            }
        );
    }

    #[test]
    fn windows_setup_switches() {
        // Off unless configured.
        let none = BootConfig::merge(None, Some(control(r#"{"VTOY_MENU_TIMEOUT": "1"}"#)));
        assert!(!none.win11_bypass_requirements && !none.win11_bypass_nro);
        let ventoy_on =
            control(r#"{"VTOY_WIN11_BYPASS_CHECK": "1"}, {"VTOY_WIN11_BYPASS_NRO": " 1 "}"#);
        let on = BootConfig::merge(None, Some(ventoy_on.clone()));
        assert!(on.win11_bypass_requirements && on.win11_bypass_nro);
        // polyboot.json wins, setting by setting.
        let ours = polyboot(r#"{"windows": {"bypass_nro": false}}"#);
        let merged = BootConfig::merge(Some(ours), Some(ventoy_on));
        assert!(merged.win11_bypass_requirements && !merged.win11_bypass_nro);
        // A later control entry overrides an earlier one; bad values are warnings.
        let layer =
            control(r#"{"VTOY_WIN11_BYPASS_CHECK": "1"}, {"VTOY_WIN11_BYPASS_CHECK": "0"}"#);
        assert_eq!(layer.win11_bypass_requirements, Some(false));
        let layer = control(r#"{"VTOY_WIN11_BYPASS_NRO": "yes"}"#);
        assert_eq!(layer.win11_bypass_nro, None);
        assert_eq!(
            layer.warnings,
            ["VTOY_WIN11_BYPASS_NRO \"yes\" must be \"0\" or \"1\" (ignored)"]
        );
        let layer = polyboot(r#"{"windows": {"bypass_requirements": 1, "tpm": true}}"#);
        assert_eq!(layer.win11_bypass_requirements, None);
        assert_eq!(
            layer.warnings,
            [
                "\"windows.bypass_requirements\" must be true or false (ignored)",
                "unknown key \"windows.tpm\" (ignored)"
            ]
        );
    }

    #[test]
    fn suffix_rule() {
        assert_eq!(split_suffix("control_uefi"), ("control", Some("_uefi")));
        assert_eq!(split_suffix("control_legacy"), ("control", Some("_legacy")));
        assert_eq!(split_suffix("theme_aa64"), ("theme", Some("_aa64")));
        assert_eq!(split_suffix("control"), ("control", None));
        assert_eq!(split_suffix("_uefi"), ("_uefi", None));
        assert_eq!(split_suffix("menu_tip"), ("menu_tip", None));

        let text = r#"{
            "menu": { "timeout": 1 },
            "menu_uefi": { "timeout": 2 },
            "menu_legacy": { "timeout": 3 },
            "menu_ia32": { "timeout": 4 },
            "search_legacy": { "max_depth": 2 }
        }"#;
        let uefi = parse_polyboot(text.as_bytes(), Firmware::Uefi).unwrap();
        assert_eq!((uefi.timeout_secs, uefi.max_depth), (Some(Some(2)), None));
        assert!(uefi.warnings.is_empty(), "{:?}", uefi.warnings);
        let bios = parse_polyboot(text.as_bytes(), Firmware::Bios).unwrap();
        assert_eq!((bios.timeout_secs, bios.max_depth), (Some(Some(3)), Some(2)));

        // Only a suffixed key for the other firmware: the plain key (absent) applies.
        let layer = control("{\"VTOY_MENU_TIMEOUT\": \"1\"}");
        assert_eq!(layer.timeout_secs, Some(Some(1)));
        let other = ventoy(r#"{"control_legacy": [{"VTOY_MENU_TIMEOUT": "9"}]}"#);
        assert_eq!(other, ConfigLayer::default());
    }

    #[test]
    fn precedence_polyboot_over_ventoy() {
        let (config, errors) = load(
            Some(POLYBOOT_FIXTURE.as_bytes()),
            Some(VENTOY_FIXTURE.as_bytes()),
            Firmware::Uefi,
        );
        assert!(errors.is_empty());
        assert_eq!(config.timeout_secs, Some(5));
        assert_eq!(config.default_image.as_deref(), Some("/samples/ipxe.iso"));
        assert_eq!(config.search_root, "/");
        assert_eq!(config.max_depth, 6);
        assert!(config.filter_dot_underscore);
        assert_eq!(config.warnings.len(), 2);
        assert!(config.warnings.iter().all(|w| w.starts_with("/ventoy/ventoy.json: ")));

        // Settings polyboot.json does not make come from ventoy.json.
        let ours = br#"{"menu": {"timeout": 2}}"#;
        let (config, _) = load(Some(ours), Some(VENTOY_FIXTURE.as_bytes()), Firmware::Uefi);
        assert_eq!(config.timeout_secs, Some(2));
        assert_eq!(config.default_image.as_deref(), Some("/ISO/debian-12.5.0-amd64-netinst.iso"));
        assert_eq!((config.search_root.as_str(), config.max_depth), ("/ISO", 3));

        // null in polyboot.json switches a Ventoy timeout / default off.
        let ours = br#"{"menu": {"timeout": null, "default": null}}"#;
        let (config, _) = load(Some(ours), Some(VENTOY_FIXTURE.as_bytes()), Firmware::Uefi);
        assert_eq!((config.timeout_secs, config.default_image), (None, None));

        // No files at all: the defaults.
        let (config, errors) = load(None, None, Firmware::Uefi);
        assert_eq!(config, BootConfig::default());
        assert!(errors.is_empty());
        assert_eq!(
            config.scan_options(),
            ScanOptions { root: "/".into(), max_depth: 10, ..ScanOptions::default() }
        );
        let (config, _) = load(None, Some(VENTOY_FIXTURE.as_bytes()), Firmware::Bios);
        let scan = config.scan_options();
        assert_eq!(
            (scan.root.as_str(), scan.max_depth, scan.filter_dot_underscore),
            ("/", 10, false)
        );
    }

    #[test]
    fn malformed_json_reports_position_and_falls_back() {
        let broken = b"{\n  \"menu\": {\n    \"timeout\": 5,\n  }\n}\n";
        let err = parse_polyboot(broken, Firmware::Uefi).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Syntax { line: 4, column: 3, message: "trailing comma".into() }
        );
        assert_eq!(err.to_string(), "line 4, column 3: trailing comma");

        let (config, errors) = load(Some(broken), Some(VENTOY_FIXTURE.as_bytes()), Firmware::Uefi);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "/polyboot/polyboot.json: line 4, column 3: trailing comma"
        );
        assert_eq!(config.timeout_secs, Some(10)); // ventoy.json still applies

        let (config, errors) = load(None, Some(b"{\"control\": [}"), Firmware::Uefi);
        assert_eq!(errors[0].path, VENTOY_JSON);
        assert!(matches!(errors[0].error, ConfigError::Syntax { line: 1, column: 14, .. }));
        assert_eq!(config, BootConfig::default());

        let cases: &[(&[u8], &str)] = &[
            (b"", "line 1, column 0: EOF while parsing a value"),
            (b"   \n  ", "line 2, column 2: EOF while parsing a value"),
            (b"{\"menu\": {\"timeout\": 5}", "line 1, column 23: EOF while parsing an object"),
            (b"{menu: 1}", "line 1, column 2: key must be a string"),
            (b"{\"a\": 1} x", "line 1, column 10: trailing characters"),
            (b"{\"a\": \"\xFF\"}", "line 1, column 8: invalid unicode code point"),
            (b"[1, 2]", "the top level must be a JSON object: { ... }"),
            (b"\"text\"", "the top level must be a JSON object: { ... }"),
            (b"\xFF\xFE{\0}\0", "file is UTF-16 text; save it as UTF-8"),
        ];
        for &(bytes, want) in cases {
            for parse in [parse_polyboot, parse_ventoy] {
                let err = parse(bytes, Firmware::Uefi).unwrap_err();
                assert_eq!(err.to_string(), want, "{:?}", core::str::from_utf8(bytes));
            }
        }
        // A UTF-8 byte order mark is fine.
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(POLYBOOT_FIXTURE.as_bytes());
        assert_eq!(parse_polyboot(&with_bom, Firmware::Uefi).unwrap(), polyboot(POLYBOOT_FIXTURE));
    }

    #[test]
    fn size_and_nesting_limits() {
        let mut big = b"{\"a\": \"".to_vec();
        big.resize(MAX_CONFIG_BYTES + 1, b'x');
        assert_eq!(
            parse_ventoy(&big, Firmware::Uefi).unwrap_err(),
            ConfigError::TooLarge { size: MAX_CONFIG_BYTES + 1, limit: MAX_CONFIG_BYTES }
        );
        // Just under the limit: parsed (and valid).
        let mut fits = b"{\"_pad\": \"".to_vec();
        fits.resize(MAX_CONFIG_BYTES - 2, b'x');
        fits.extend_from_slice(b"\"}");
        assert_eq!(polyboot(core::str::from_utf8(&fits).unwrap()), ConfigLayer::default());

        let deep = format!("{{\"a\":\n{}{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(
            parse_polyboot(deep.as_bytes(), Firmware::Uefi).unwrap_err(),
            ConfigError::TooDeep { line: 2, column: MAX_NESTING }
        );
        // Exactly the limit is fine; brackets inside strings do not count.
        let ok = format!(
            "{{\"_a\": {}{}, \"_s\": \"{}\\\"{}\"}}",
            "[".repeat(MAX_NESTING - 1),
            "]".repeat(MAX_NESTING - 1),
            "[{".repeat(100),
            "[".repeat(100)
        );
        assert_eq!(polyboot(&ok), ConfigLayer::default());
        // Huge nesting never reaches serde_json's recursion.
        let hostile = "[".repeat(MAX_CONFIG_BYTES);
        assert!(matches!(
            parse_ventoy(hostile.as_bytes(), Firmware::Uefi),
            Err(ConfigError::TooDeep { line: 1, column: 33 })
        ));
    }

    #[test]
    fn ventoy_control_values() {
        let layer = control(
            r#"{"VTOY_MAX_SEARCH_LEVEL": "max"}, {"VTOY_MENU_TIMEOUT": " 7 "},
               {"VTOY_DEFAULT_SEARCH_ROOT": "/ISO/"}, {"VTOY_DEFAULT_IMAGE": "//ISO//a.iso"}"#,
        );
        assert_eq!(layer.max_depth, Some(MAX_DEPTH_LIMIT));
        assert_eq!(layer.timeout_secs, Some(Some(7)));
        assert_eq!(layer.search_root.as_deref(), Some("/ISO"));
        assert_eq!(layer.default_image, some("/ISO/a.iso"));
        assert!(layer.warnings.is_empty());

        // A later entry overrides an earlier one.
        let layer = control(r#"{"VTOY_MENU_TIMEOUT": "3"}, {"VTOY_MENU_TIMEOUT": "0"}"#);
        assert_eq!(layer.timeout_secs, Some(Some(0)));

        let cases: &[(&str, &str)] = &[
            (r#"{"VTOY_MAX_SEARCH_LEVEL": "100"}"#, "VTOY_MAX_SEARCH_LEVEL 100 is deeper than polyboot searches; using 64"),
            (r#"{"VTOY_MAX_SEARCH_LEVEL": "-1"}"#, "VTOY_MAX_SEARCH_LEVEL \"-1\" is neither a number nor \"max\" (ignored)"),
            (r#"{"VTOY_MENU_TIMEOUT": "ten"}"#, "VTOY_MENU_TIMEOUT \"ten\" is not a number of seconds (ignored)"),
            (r#"{"VTOY_MENU_TIMEOUT": "99999999999"}"#, "VTOY_MENU_TIMEOUT \"99999999999\" is not a number of seconds (ignored)"),
            (r#"{"VTOY_MENU_TIMEOUT": "+5"}"#, "VTOY_MENU_TIMEOUT \"+5\" is not a number of seconds (ignored)"),
            (r#"{"VTOY_MENU_TIMEOUT": 10}"#, "control[0]: VTOY_MENU_TIMEOUT must be a string, not a number (ignored)"),
            (r#"{"VTOY_DEFAULT_IMAGE": "F4>Search and Boot Windows"}"#, "VTOY_DEFAULT_IMAGE \"F4>Search and Boot Windows\" is not an image path; polyboot supports only paths like \"/ISO/x.iso\" (ignored)"),
            (r#"{"VTOY_DEFAULT_IMAGE": "VTOY_EXIT"}"#, "VTOY_DEFAULT_IMAGE \"VTOY_EXIT\" is not an image path; polyboot supports only paths like \"/ISO/x.iso\" (ignored)"),
            (r#"{"VTOY_DEFAULT_IMAGE": "/ISO/../x.iso"}"#, "VTOY_DEFAULT_IMAGE \"/ISO/../x.iso\" is not an absolute path like \"/ISO/x.iso\" (ignored)"),
            (r#"{"VTOY_DEFAULT_SEARCH_ROOT": "ISO"}"#, "VTOY_DEFAULT_SEARCH_ROOT \"ISO\" is not an absolute path like \"/ISO/x.iso\" (ignored)"),
            (r#"{"VTOY_FILT_DOT_UNDERSCORE_FILE": "yes"}"#, "VTOY_FILT_DOT_UNDERSCORE_FILE \"yes\" must be \"0\" or \"1\" (ignored)"),
            (r#""VTOY_MENU_TIMEOUT=5""#, "control[0] must be an object, not a string (ignored)"),
            (r#"{"VTOY_SECONDARY_TIMEOUT": "5"}"#, "control: not supported by polyboot (ignored): VTOY_SECONDARY_TIMEOUT"),
        ];
        for &(entry, want) in cases {
            let layer = control(entry);
            assert_eq!(layer.warnings, [want], "{entry}");
            assert_eq!(layer.timeout_secs, None, "{entry}");
            assert_eq!(layer.default_image, None, "{entry}");
            assert_eq!(layer.search_root, None, "{entry}");
            assert_eq!(layer.filter_dot_underscore, None, "{entry}");
        }

        // Two keys in one entry: both used, with a warning.
        let layer = control(r#"{"VTOY_MENU_TIMEOUT": "4", "VTOY_DEFAULT_IMAGE": "/a.iso"}"#);
        assert_eq!((layer.timeout_secs, layer.default_image), (Some(Some(4)), some("/a.iso")));
        assert_eq!(
            layer.warnings,
            ["control[0] has 2 keys; Ventoy reads one per entry (all used here)"]
        );

        let layer =
            ventoy(r#"{"control": {"VTOY_MENU_TIMEOUT": "4"}, "colour": 1, "theme_ia32": {}}"#);
        assert_eq!(layer.timeout_secs, None);
        assert_eq!(
            layer.warnings,
            [
                "\"control\" must be an array of {\"VTOY_...\": \"value\"} objects, not an object (ignored)",
                "unknown keys (ignored): colour",
            ]
        );
        assert_eq!(ventoy("{}"), ConfigLayer::default());
    }

    #[test]
    fn polyboot_values() {
        let cases: &[(&str, &str)] = &[
            (r#"{"menu": {"timeout": -1}}"#, "\"menu.timeout\" must be a whole number of seconds or null (ignored)"),
            (r#"{"menu": {"timeout": 2.5}}"#, "\"menu.timeout\" must be a whole number of seconds or null (ignored)"),
            (r#"{"menu": {"timeout": "5"}}"#, "\"menu.timeout\" must be a whole number of seconds or null (ignored)"),
            (r#"{"menu": {"timeout": 4294967296}}"#, "\"menu.timeout\" must be a whole number of seconds or null (ignored)"),
            (r#"{"menu": {"default": "samples/ipxe.iso"}}"#, "\"menu.default\" \"samples/ipxe.iso\" is not an absolute path like \"/ISO/x.iso\" (ignored)"),
            (r#"{"menu": {"default": 3}}"#, "\"menu.default\" must be a path string or null, not a number (ignored)"),
            (r#"{"menu": {"colour": "red"}}"#, "unknown key \"menu.colour\" (ignored)"),
            (r#"{"menu": []}"#, "\"menu\" must be an object, not an array (ignored)"),
            (r#"{"search": {"root": null}}"#, "\"search.root\" must be a path string, not null (ignored)"),
            (r#"{"search": {"max_depth": "3"}}"#, "\"search.max_depth\" must be a whole number from 0 to 64 (ignored)"),
            (r#"{"search": {"skip_dot_underscore": 1}}"#, "\"search.skip_dot_underscore\" must be true or false (ignored)"),
            (r#"{"theme": {}}"#, "unknown key \"theme\" (ignored)"),
            (r#"{"version": 2}"#, "written for a newer polyboot (format version 2); settings this version does not know are ignored"),
            (r#"{"version": "1"}"#, "\"version\" must be 1 (ignored)"),
            (r#"{"version": 0}"#, "\"version\" must be 1 (ignored)"),
        ];
        for &(text, want) in cases {
            let layer = polyboot(text);
            assert_eq!(layer.warnings, [want], "{text}");
            assert_eq!(ConfigLayer { warnings: vec![], ..layer }, ConfigLayer::default(), "{text}");
        }

        let layer = polyboot(r#"{"search": {"max_depth": 1000, "root": "\\ISO\\"}, "_note": [1]}"#);
        assert_eq!(layer.max_depth, Some(MAX_DEPTH_LIMIT));
        assert_eq!(layer.search_root.as_deref(), Some("/ISO"));
        assert_eq!(
            layer.warnings,
            ["\"search.max_depth\" 1000 is deeper than polyboot searches; using 64"]
        );
        let layer = polyboot(r#"{"menu": {"timeout": 0, "_why": "instant"}, "version": 1}"#);
        assert_eq!(layer.timeout_secs, Some(Some(0)));
        assert!(layer.warnings.is_empty());
    }

    #[test]
    fn merged_warnings() {
        // A timeout without a default image does nothing: say so.
        let (config, _) = load(Some(br#"{"menu": {"timeout": 3}}"#), None, Firmware::Uefi);
        assert_eq!(config.timeout_secs, Some(3));
        assert_eq!(
            config.warnings,
            ["a menu timeout is set but no default image: the menu waits for a key"]
        );

        // polyboot.json's warnings come first, each with its file.
        let (config, _) = load(Some(br#"{"x": 1}"#), Some(br#"{"y": 1}"#), Firmware::Uefi);
        assert_eq!(
            config.warnings,
            [
                "/polyboot/polyboot.json: unknown key \"x\" (ignored)",
                "/ventoy/ventoy.json: unknown keys (ignored): y",
            ]
        );

        // Bounded: many unknown keys.
        let keys: Vec<String> = (0..100).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!("{{{}}}", keys.join(", "));
        let (config, _) = load(Some(text.as_bytes()), None, Firmware::Uefi);
        assert_eq!(config.warnings.len(), MAX_WARNINGS + 1);
        assert_eq!(config.warnings[MAX_WARNINGS], "... and 68 more warnings");
        let layer = ventoy(&text);
        assert_eq!(layer.warnings.len(), 1);
        assert!(layer.warnings[0].ends_with(" and 90 more"), "{}", layer.warnings[0]);

        // Long hostile names are cut in warnings.
        let long = "k".repeat(10_000);
        let layer = polyboot(&format!("{{\"{long}\": 1}}"));
        assert!(layer.warnings[0].len() < 100);
    }

    /// Truncated and mutated fixtures: always Ok or Err, never a panic.
    #[test]
    fn hostile_bytes_never_panic() {
        for fixture in [POLYBOOT_FIXTURE.as_bytes(), VENTOY_FIXTURE.as_bytes()] {
            for len in 0..fixture.len() {
                for fw in [Firmware::Uefi, Firmware::Bios] {
                    let _ = parse_polyboot(&fixture[..len], fw);
                    let _ = parse_ventoy(&fixture[..len], fw);
                }
            }
            let mut x: u32 = 0x1234_5678;
            for _ in 0..3000 {
                let mut bytes = fixture.to_vec();
                for _ in 0..3 {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    let i = x as usize % bytes.len();
                    bytes[i] = (x >> 24) as u8;
                }
                let _ = load(Some(&bytes), Some(&bytes), Firmware::Uefi);
            }
        }
    }

    #[test]
    fn diagnostics_read_benchmark_path() {
        let (cfg, errors) = load(
            Some(br#"{"diagnostics": {"read_benchmark": "/samples/ipxe.iso"}}"#),
            None,
            Firmware::Uefi,
        );
        assert!(errors.is_empty() && cfg.warnings.is_empty(), "{errors:?} {:?}", cfg.warnings);
        assert_eq!(cfg.read_benchmark.as_deref(), Some("/samples/ipxe.iso"));
        let (cfg, _) =
            load(Some(br#"{"diagnostics": {"read_benchmark": 3}}"#), None, Firmware::Uefi);
        assert_eq!(cfg.read_benchmark, None);
        assert_eq!(cfg.warnings.len(), 1);
    }
}
