//! Ventoy's menu plugins: `menu_alias`, `menu_tip`, `menu_class`, `image_list` /
//! `image_blacklist`, and `theme` as far as a text console can honour it.
//!
//! ```json
//! "menu_alias": [ { "image": "/ISO/x.iso", "alias": "X" }, { "dir": "/ISO/Linux", "alias": "Linux" } ],
//! "menu_tip": { "left": "10%", "top": "81%", "color": "blue",
//!               "tips": [ { "image": "/ISO/x.iso", "tip": "..." }, { "dir": "/ISO", "tip1": "...", "tip2": "..." } ] },
//! "menu_class": [ { "key": "ubuntu", "class": "ubuntu" }, { "parent": "/ISO/Arch", "class": "arch" },
//!                 { "dir": "/ISO/Linux", "class": "linux" } ],
//! "image_list": [ "/ISO/b.iso", "/ISO/a*.iso" ],
//! "image_blacklist": [ "/ISO/old.iso" ]
//! ```
//!
//! - `image` paths may hold `*` wildcards in their last component; `dir` paths are exact. The
//!   first entry that matches wins; an exact `image` entry is looked up before wildcard ones
//!   (so a thousand aliases cost a thousand map entries, not a thousand comparisons per image).
//! - `menu_class`: `key` is a case-sensitive substring of the file name (Ventoy's `strstr`),
//!   `parent` covers the files directly in a directory, `dir` the directory entry itself.
//!   polyboot's text menu shows the class as a `[tag]` after the name.
//! - `image_list`: only these images, in this order (each wildcard entry contributes its
//!   matches in scan order). `image_blacklist`: every image but these. Both set: the list is
//!   used and the conflict reported, as only one can describe the menu.
//! - `theme`: `display_mode` (`GUI` is shown as text; `CLI`, `serial`, `serial_console` as
//!   they say), `gfxmode` (the largest text mode that fits the resolution, UEFI only; BIOS text
//!   mode is 80x25) and `ventoy_color` (the title's colour, one of the 16 text colours closest
//!   to it). Graphical theme files, fonts and positions are reported as not shown.

use alloc::collections::btree_map::Entry;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::{Map, Value};

use super::pattern::{directly_in, has_wildcard, image_matches};
use super::{excerpt, kind_of, ConfigLayer};
use crate::menu::normalize_path;

/// Longest alias / tip kept, in characters (longer ones are cut).
pub const MAX_TEXT_CHARS: usize = 256;
/// Ventoy's limit for a class name.
pub const MAX_CLASS_CHARS: usize = 128;

/// Texts attached to images (`image`, wildcards allowed) and directories (`dir`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathTexts {
    /// Lower-cased exact image path → (the path as written, text); the first entry wins.
    exact: BTreeMap<String, (String, String)>,
    /// Wildcard image patterns, in file order.
    wildcard: Vec<(String, String)>,
    /// Lower-cased directory path → (the path as written, text).
    dirs: BTreeMap<String, (String, String)>,
    /// Entries whose path an earlier entry already named (is a directory, path): unused.
    duplicates: Vec<(bool, String)>,
}

impl PathTexts {
    pub fn image(&self, path: &str) -> Option<&str> {
        self.exact
            .get(&path.to_ascii_lowercase())
            .map(|(_, t)| t)
            .or_else(|| self.wildcard.iter().find(|(p, _)| image_matches(p, path)).map(|(_, t)| t))
            .map(String::as_str)
    }

    pub fn dir(&self, path: &str) -> Option<&str> {
        self.dirs.get(&path.to_ascii_lowercase()).map(|(_, t)| t.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.dirs.is_empty()
    }

    /// Every configured path, as (is a directory, pattern): for `config check`.
    pub fn targets(&self) -> impl Iterator<Item = (bool, &str)> {
        self.entries().map(|(is_dir, path, _)| (is_dir, path))
    }

    /// Every entry in use, as (is a directory, path as written, text): exact image paths (by
    /// path), wildcard patterns (in file order), then directories (by path).
    pub fn entries(&self) -> impl Iterator<Item = (bool, &str, &str)> {
        self.exact
            .values()
            .map(|(p, t)| (false, p.as_str(), t.as_str()))
            .chain(self.wildcard.iter().map(|(p, t)| (false, p.as_str(), t.as_str())))
            .chain(self.dirs.values().map(|(p, t)| (true, p.as_str(), t.as_str())))
    }

    /// Entries left unused because an earlier one named the same path (ignoring case), as
    /// (is a directory, path): for `config check`.
    pub fn duplicates(&self) -> &[(bool, String)] {
        &self.duplicates
    }

    /// Record `text` for a directory or an image pattern; the first entry for a path wins.
    fn add(&mut self, is_dir: bool, path: String, text: String) {
        if is_dir {
            add_once(&mut self.dirs, &mut self.duplicates, true, path, text);
        } else {
            self.add_image(path, text);
        }
    }

    fn add_image(&mut self, pattern: String, text: String) {
        if has_wildcard(&pattern) {
            if self.wildcard.iter().any(|(p, _)| p.eq_ignore_ascii_case(&pattern)) {
                self.duplicates.push((false, pattern));
            } else {
                self.wildcard.push((pattern, text));
            }
        } else {
            add_once(&mut self.exact, &mut self.duplicates, false, pattern, text);
        }
    }
}

/// Insert `path` → `text` unless the path (ignoring case) is there; then record a duplicate.
fn add_once(
    map: &mut BTreeMap<String, (String, String)>,
    duplicates: &mut Vec<(bool, String)>,
    is_dir: bool,
    path: String,
    text: String,
) {
    match map.entry(path.to_ascii_lowercase()) {
        Entry::Vacant(slot) => {
            slot.insert((path, text));
        }
        Entry::Occupied(_) => duplicates.push((is_dir, path)),
    }
}

/// One `menu_class` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassTarget {
    /// A case-sensitive substring of the file name.
    Key(String),
    /// Files directly in this directory.
    Parent(String),
    /// This directory's entry.
    Dir(String),
}

/// `menu_class`, in file order (the first match wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classes(pub Vec<(ClassTarget, String)>);

impl Classes {
    pub fn image(&self, path: &str, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(t, _)| match t {
                ClassTarget::Key(k) => name.contains(k.as_str()),
                ClassTarget::Parent(p) => directly_in(p, path),
                ClassTarget::Dir(_) => false,
            })
            .map(|(_, c)| c.as_str())
    }

    pub fn dir(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(t, _)| matches!(t, ClassTarget::Dir(d) if d.eq_ignore_ascii_case(path)))
            .map(|(_, c)| c.as_str())
    }
}

/// `image_list` or `image_blacklist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageList {
    /// Absolute paths, `*` wildcards in the last component.
    pub patterns: Vec<String>,
    /// `image_blacklist`: hide these instead of showing only these.
    pub blacklist: bool,
    /// An `image_list`'s file also set `image_blacklist`, which is ignored (its patterns).
    pub ignored_blacklist: Option<Vec<String>>,
}

impl ImageList {
    /// For `image_list`, the position of the first pattern naming `path`; for the blacklist,
    /// `Some(0)` when no pattern names it. `None`: not in the menu.
    pub fn position(&self, path: &str) -> Option<usize> {
        let hit = self.patterns.iter().position(|p| image_matches(p, path));
        if self.blacklist {
            hit.is_none().then_some(0)
        } else {
            hit
        }
    }
}

/// One of the 16 text-mode colours (VGA attribute / UEFI `EFI_*` order: 0 black, 1 blue, ...,
/// 7 light grey, 8 dark grey, ..., 15 white).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextColor(pub u8);

const PALETTE: [(&str, [u8; 3]); 16] = [
    ("black", [0, 0, 0]),
    ("blue", [0, 0, 170]),
    ("green", [0, 170, 0]),
    ("cyan", [0, 170, 170]),
    ("red", [170, 0, 0]),
    ("magenta", [170, 0, 170]),
    ("brown", [170, 85, 0]),
    ("light-gray", [170, 170, 170]),
    ("dark-gray", [85, 85, 85]),
    ("light-blue", [85, 85, 255]),
    ("light-green", [85, 255, 85]),
    ("light-cyan", [85, 255, 255]),
    ("light-red", [255, 85, 85]),
    ("light-magenta", [255, 85, 255]),
    ("yellow", [255, 255, 85]),
    ("white", [255, 255, 255]),
];

impl TextColor {
    /// A GRUB colour name (`blue`, `light-blue`, `lightgray`) or `#rrggbb` (the closest of
    /// the 16).
    pub fn parse(text: &str) -> Option<TextColor> {
        let text = text.trim();
        if let Some(hex) = text.strip_prefix('#') {
            if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let rgb: Vec<i32> = (0..3)
                .map(|i| i32::from(u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0)))
                .collect();
            let distance = |c: &[u8; 3]| -> i32 {
                c.iter().zip(&rgb).map(|(&a, &b)| (i32::from(a) - b) * (i32::from(a) - b)).sum()
            };
            let best = (0..16).min_by_key(|&i| distance(&PALETTE[i].1)).unwrap_or(7);
            return Some(TextColor(best as u8));
        }
        let wanted: String =
            text.chars().filter(|c| *c != '-' && *c != '_').flat_map(char::to_lowercase).collect();
        let wanted = wanted.replace("grey", "gray");
        PALETTE
            .iter()
            .position(|(name, _)| name.replace('-', "") == wanted)
            .map(|i| TextColor(i as u8))
    }

    pub fn name(self) -> &'static str {
        PALETTE[usize::from(self.0 & 15)].0
    }
}

/// How the menu is shown (`theme.display_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayMode {
    /// Ventoy's graphical menu: polyboot shows its text menu.
    Gui,
    Cli,
    /// The serial console only (polyboot's BIOS menu always mirrors to serial too).
    Serial,
    /// Screen and serial console.
    SerialConsole,
}

/// What `theme` says that a text console can honour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Theme {
    pub display_mode: Option<DisplayMode>,
    /// `gfxmode` in pixels.
    pub resolution: Option<(u32, u32)>,
    /// `ventoy_color`: the title line.
    pub title_color: Option<TextColor>,
}

fn text_value(
    at: &str,
    value: Option<&Value>,
    limit: usize,
    layer: &mut ConfigLayer,
) -> Option<String> {
    match value {
        Some(Value::String(s)) => {
            if s.chars().count() > limit {
                layer.warn(format!("{at}: longer than {limit} characters (cut)"));
            }
            Some(s.chars().filter(|c| !c.is_control()).take(limit).collect())
        }
        Some(other) => {
            layer.warn(format!("{at} must be a string, not {} (ignored)", kind_of(other)));
            None
        }
        None => None,
    }
}

fn entries<'a>(key: &str, value: &'a Value, layer: &mut ConfigLayer) -> &'a [Value] {
    match value.as_array() {
        Some(a) => a,
        None => {
            layer.warn(format!("\"{key}\" must be an array, not {} (ignored)", kind_of(value)));
            &[]
        }
    }
}

fn object<'a>(
    at: &str,
    entry: &'a Value,
    layer: &mut ConfigLayer,
) -> Option<&'a Map<String, Value>> {
    let o = entry.as_object();
    if o.is_none() {
        layer.warn(format!("{at} must be an object, not {} (ignored)", kind_of(entry)));
    }
    o
}

fn unknown_keys(at: &str, o: &Map<String, Value>, known: &[&str], layer: &mut ConfigLayer) {
    for name in o.keys() {
        if !known.contains(&name.as_str()) {
            layer.warn(format!("{at}: unknown key \"{}\" (ignored)", excerpt(name)));
        }
    }
}

/// The `image` or `dir` of an entry: (is a directory, normalised path).
fn image_or_dir(
    at: &str,
    o: &Map<String, Value>,
    layer: &mut ConfigLayer,
) -> Option<(bool, String)> {
    let target = match (o.get("image"), o.get("dir")) {
        (Some(Value::String(p)), None) => normalize_path(p).map(|p| (false, p)),
        (None, Some(Value::String(d))) => {
            normalize_path(d).filter(|d| !has_wildcard(d)).map(|d| (true, d))
        }
        _ => None,
    };
    if target.is_none() {
        layer.warn(format!(
            "{at} needs one absolute \"image\" path or one absolute \"dir\" path without \
             wildcards (ignored)"
        ));
    }
    target
}

pub(super) fn parse_alias(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let mut aliases = PathTexts::default();
    for (i, entry) in entries(key, value, layer).iter().enumerate() {
        let at = format!("{key}[{i}]");
        let Some(o) = object(&at, entry, layer) else { continue };
        unknown_keys(&at, o, &["image", "dir", "alias"], layer);
        let Some((is_dir, path)) = image_or_dir(&at, o, layer) else { continue };
        let Some(alias) = text_value(&format!("{at}.alias"), o.get("alias"), MAX_TEXT_CHARS, layer)
        else {
            layer.warn(format!("{at} has no \"alias\" (ignored)"));
            continue;
        };
        aliases.add(is_dir, path, alias);
    }
    layer.aliases = Some(aliases);
}

pub(super) fn parse_tip(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let Some(o) = object(&format!("\"{key}\""), value, layer) else { return };
    unknown_keys(key, o, &["left", "top", "color", "tips"], layer);
    if o.contains_key("left") || o.contains_key("top") {
        layer
            .warn(format!("{key}: the text menu shows tips on its info line (left / top ignored)"));
    }
    if let Some(c) = text_value(&format!("{key}.color"), o.get("color"), 32, layer) {
        match TextColor::parse(&c) {
            Some(color) => layer.tip_color = Some(color),
            None => {
                layer.warn(format!("{key}.color \"{}\" is not a colour (ignored)", excerpt(&c)))
            }
        }
    }
    let mut tips = PathTexts::default();
    let list = o.get("tips").map(|v| entries(&format!("{key}.tips"), v, layer)).unwrap_or(&[]);
    for (i, entry) in list.iter().enumerate() {
        let at = format!("{key}.tips[{i}]");
        let Some(o) = object(&at, entry, layer) else { continue };
        unknown_keys(&at, o, &["image", "dir", "tip", "tip1", "tip2"], layer);
        let Some((is_dir, path)) = image_or_dir(&at, o, layer) else { continue };
        // `tip`, or Ventoy's two-line `tip1` / `tip2` joined on the one info line.
        let mut text = text_value(&format!("{at}.tip"), o.get("tip"), MAX_TEXT_CHARS, layer);
        if text.is_none() {
            let parts: Vec<String> = ["tip1", "tip2"]
                .iter()
                .filter_map(|k| text_value(&format!("{at}.{k}"), o.get(*k), MAX_TEXT_CHARS, layer))
                .collect();
            if !parts.is_empty() {
                text = Some(parts.join(" - "));
            }
        }
        let Some(text) = text else {
            layer.warn(format!("{at} has no \"tip\" (ignored)"));
            continue;
        };
        tips.add(is_dir, path, text);
    }
    layer.tips = Some(tips);
}

pub(super) fn parse_class(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let mut classes = Classes::default();
    for (i, entry) in entries(key, value, layer).iter().enumerate() {
        let at = format!("{key}[{i}]");
        let Some(o) = object(&at, entry, layer) else { continue };
        unknown_keys(&at, o, &["key", "parent", "dir", "class"], layer);
        let target = match (o.get("key"), o.get("parent"), o.get("dir")) {
            (Some(Value::String(k)), None, None) if !k.is_empty() => {
                Some(ClassTarget::Key(k.clone()))
            }
            (None, Some(Value::String(p)), None) => normalize_path(p).map(ClassTarget::Parent),
            (None, None, Some(Value::String(d))) => normalize_path(d).map(ClassTarget::Dir),
            _ => None,
        };
        let Some(target) = target else {
            layer.warn(format!(
                "{at} needs one of \"key\" (part of a file name), \"parent\" or \"dir\" \
                 (absolute paths) (ignored)"
            ));
            continue;
        };
        match text_value(&format!("{at}.class"), o.get("class"), MAX_CLASS_CHARS, layer) {
            Some(class) if !class.is_empty() => classes.0.push((target, class)),
            _ => layer.warn(format!("{at} has no \"class\" (ignored)")),
        }
    }
    layer.classes = Some(classes);
}

pub(super) fn parse_image_list(key: &str, value: &Value, blacklist: bool, layer: &mut ConfigLayer) {
    if !value.is_array() {
        // Ignored, as the warning says (an empty image_list would hide every image).
        entries(key, value, layer);
        return;
    }
    let mut patterns = Vec::new();
    for (i, entry) in entries(key, value, layer).iter().enumerate() {
        match entry.as_str().map(normalize_path) {
            Some(Some(p)) => patterns.push(p),
            _ => layer.warn(format!("{key}[{i}] must be an absolute image path (ignored)")),
        }
    }
    let list = ImageList { patterns, blacklist, ignored_blacklist: None };
    match layer.image_list.take() {
        Some(mut existing) if !existing.blacklist && blacklist => {
            layer.warn(format!(
                "both image_list and {key} are set: the image_list is used, {key} ignored"
            ));
            existing.ignored_blacklist = Some(list.patterns);
            layer.image_list = Some(existing);
        }
        Some(existing) if !blacklist => {
            layer.warn(format!(
                "both image_list and image_blacklist are set: {key} is used, the blacklist ignored"
            ));
            layer.image_list =
                Some(ImageList { ignored_blacklist: Some(existing.patterns), ..list });
        }
        _ => layer.image_list = Some(list),
    }
}

pub(super) fn parse_theme(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let Some(o) = object(&format!("\"{key}\""), value, layer) else { return };
    let mut theme = Theme::default();
    let mut not_shown = Vec::new();
    let mut names: Vec<&String> = o.keys().collect();
    names.sort_unstable();
    for name in names {
        let value = o.get(name);
        let at = format!("{key}.{name}");
        match name.as_str() {
            "display_mode" => {
                let Some(mode) = text_value(&at, value, 32, layer) else { continue };
                theme.display_mode = match mode.to_ascii_lowercase().as_str() {
                    "gui" => Some(DisplayMode::Gui),
                    "cli" => Some(DisplayMode::Cli),
                    "serial" | "serial_console" => {
                        layer.warn(format!(
                            "{at} \"{}\": polyboot's text menu is always on the screen and \
                             mirrored to the serial console (COM1 under BIOS, the firmware's \
                             console under UEFI); the serial parameters are the firmware's",
                            excerpt(&mode)
                        ));
                        Some(if mode.eq_ignore_ascii_case("serial") {
                            DisplayMode::Serial
                        } else {
                            DisplayMode::SerialConsole
                        })
                    }
                    _ => {
                        layer.warn(format!(
                            "{at} \"{}\" is not GUI, CLI, serial or serial_console (ignored)",
                            excerpt(&mode)
                        ));
                        None
                    }
                };
            }
            "gfxmode" => {
                let Some(mode) = text_value(&at, value, 64, layer) else { continue };
                // GRUB allows a list ("1920x1080,1024x768,auto"): the first resolution.
                let first = mode.split([',', ';']).map(str::trim).find_map(|m| {
                    let (w, h) = m.split_once(['x', 'X'])?;
                    let h = h.split_once('x').map_or(h, |(h, _depth)| h);
                    Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?))
                });
                match first {
                    Some((w, h)) if w > 0 && h > 0 => theme.resolution = Some((w, h)),
                    _ => layer.warn(format!(
                        "{at} \"{}\" names no WIDTHxHEIGHT (ignored)",
                        excerpt(&mode)
                    )),
                }
            }
            "ventoy_color" => {
                let Some(c) = text_value(&at, value, 32, layer) else { continue };
                match TextColor::parse(&c) {
                    Some(color) => theme.title_color = Some(color),
                    None => {
                        layer.warn(format!("{at} \"{}\" is not a colour (ignored)", excerpt(&c)))
                    }
                }
            }
            "file" | "fonts" | "ventoy_left" | "ventoy_top" | "default_file" | "random"
            | "resolution_fit" | "serial_param" => not_shown.push(name.as_str()),
            _ => layer.warn(format!("unknown key \"{at}\" (ignored)")),
        }
    }
    if !not_shown.is_empty() {
        layer.warn(format!(
            "{key}: theme settings polyboot's text menu does not use: {}",
            super::name_list(not_shown)
        ));
    }
    layer.theme = Some(theme);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use serde_json::json;

    fn layer(f: fn(&str, &Value, &mut ConfigLayer), key: &str, v: Value) -> ConfigLayer {
        let mut l = ConfigLayer::default();
        f(key, &v, &mut l);
        l
    }

    #[test]
    fn aliases_exact_wildcard_and_dirs() {
        let l = layer(
            parse_alias,
            "menu_alias",
            json!([
                { "image": "/ISO/debian.iso", "alias": "Debian" },
                { "image": "/ISO/debian.iso", "alias": "second (unused)" },
                { "image": "/ISO/win*.iso", "alias": "Windows" },
                { "dir": "/ISO/Linux", "alias": "Linux \u{7} distributions" },
                { "dir": "/ISO/*", "alias": "bad" },
                { "image": "/a.iso" },
                { "image": "/a.iso", "alias": "x", "extra": 1 },
                7
            ]),
        );
        let a = layer_aliases(&l);
        assert_eq!(a.image("/iso/DEBIAN.iso"), Some("Debian"));
        assert_eq!(a.image("/ISO/win11.iso"), Some("Windows"));
        assert_eq!(a.image("/ISO/other.iso"), None);
        assert_eq!(a.dir("/iso/linux"), Some("Linux  distributions"));
        assert_eq!(l.warnings.len(), 4, "{:?}", l.warnings);
    }

    fn layer_aliases(l: &ConfigLayer) -> &PathTexts {
        l.aliases.as_ref().unwrap()
    }

    #[test]
    fn tips_and_colour() {
        let l = layer(
            parse_tip,
            "menu_tip",
            json!({
                "left": "10%", "color": "blue",
                "tips": [ { "image": "/x.iso", "tip": "X" }, { "dir": "/D", "tip1": "one", "tip2": "two" } ]
            }),
        );
        let t = l.tips.as_ref().unwrap();
        assert_eq!(t.image("/x.iso"), Some("X"));
        assert_eq!(t.dir("/D"), Some("one - two"));
        assert_eq!(l.tip_color, Some(TextColor(1)));
        assert_eq!(l.warnings.len(), 1);
    }

    #[test]
    fn classes_first_match() {
        let l = layer(
            parse_class,
            "menu_class",
            json!([
                { "key": "ubuntu", "class": "ubuntu" },
                { "parent": "/ISO/Arch", "class": "arch" },
                { "dir": "/ISO/Linux", "class": "linux" },
                { "key": "", "class": "x" }
            ]),
        );
        let c = l.classes.as_ref().unwrap();
        assert_eq!(c.image("/ISO/Arch/ubuntu.iso", "ubuntu.iso"), Some("ubuntu"));
        assert_eq!(c.image("/ISO/Arch/a.iso", "a.iso"), Some("arch"));
        assert_eq!(c.image("/ISO/Arch/sub/a.iso", "a.iso"), None);
        assert_eq!(c.image("/x/Ubuntu.iso", "Ubuntu.iso"), None, "key is case-sensitive");
        assert_eq!(c.dir("/iso/linux"), Some("linux"));
        assert_eq!(l.warnings.len(), 1);
    }

    #[test]
    fn image_list_and_blacklist() {
        let mut l = ConfigLayer::default();
        parse_image_list("image_list", &json!(["/b.iso", "/a*.iso", 3]), false, &mut l);
        parse_image_list("image_blacklist", &json!(["/b.iso"]), true, &mut l);
        let list = l.image_list.as_ref().unwrap();
        assert!(!list.blacklist);
        assert_eq!(list.position("/B.ISO"), Some(0));
        assert_eq!(list.position("/a1.iso"), Some(1));
        assert_eq!(list.position("/c.iso"), None);
        assert_eq!(l.warnings.len(), 2);
        let mut b = ConfigLayer::default();
        parse_image_list("image_blacklist", &json!(["/ISO/old*.iso"]), true, &mut b);
        let bl = b.image_list.unwrap();
        assert_eq!(bl.position("/ISO/old1.iso"), None);
        assert_eq!(bl.position("/ISO/new.iso"), Some(0));
        // The ignored blacklist is kept for `config check`, whichever came first.
        assert_eq!(list.ignored_blacklist, Some(vec!["/b.iso".into()]));
        let mut c = ConfigLayer::default();
        parse_image_list("image_blacklist", &json!(["/x.iso"]), true, &mut c);
        parse_image_list("image_list", &json!(["/y.iso"]), false, &mut c);
        let list = c.image_list.unwrap();
        assert_eq!(
            (list.patterns, list.ignored_blacklist),
            (vec!["/y.iso".into()], Some(vec!["/x.iso".into()]))
        );
        // A list that is not an array is ignored, as its warning says: it hides nothing.
        let mut d = ConfigLayer::default();
        parse_image_list("image_list", &json!({"/a.iso": true}), false, &mut d);
        assert_eq!(d.image_list, None);
        assert_eq!(d.warnings, ["\"image_list\" must be an array, not an object (ignored)"]);
    }

    #[test]
    fn path_texts_keep_written_paths_and_duplicates() {
        let l = layer(
            parse_alias,
            "menu_alias",
            json!([
                { "image": "/ISO/Debian.iso", "alias": "D" },
                { "image": "/iso/debian.ISO", "alias": "again" },
                { "image": "/ISO/w*.iso", "alias": "W" },
                { "image": "/iso/W*.iso", "alias": "W again" },
                { "dir": "/ISO", "alias": "I" }
            ]),
        );
        let a = l.aliases.unwrap();
        let entries: Vec<_> = a.entries().collect();
        assert_eq!(
            entries,
            [(false, "/ISO/Debian.iso", "D"), (false, "/ISO/w*.iso", "W"), (true, "/ISO", "I")]
        );
        assert_eq!(
            a.duplicates(),
            [(false, "/iso/debian.ISO".into()), (false, "/iso/W*.iso".into())]
        );
        assert_eq!(a.targets().count(), 3);
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn theme_text_parts() {
        let l = layer(
            parse_theme,
            "theme",
            json!({
                "file": "/ventoy/theme/theme.txt", "gfxmode": "1024x768,auto",
                "display_mode": "CLI", "ventoy_color": "#0000ff", "fonts": [], "bogus": 1
            }),
        );
        let t = l.theme.as_ref().unwrap();
        assert_eq!(t.resolution, Some((1024, 768)));
        assert_eq!(t.display_mode, Some(DisplayMode::Cli));
        assert_eq!(t.title_color, Some(TextColor(1)));
        assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
        assert_eq!(TextColor::parse("light-grey"), Some(TextColor(7)));
        assert_eq!(TextColor::parse("LightBlue"), Some(TextColor(9)));
        assert_eq!(TextColor::parse("#ffff00").map(TextColor::name), Some("yellow"));
        assert_eq!(TextColor::parse("#12"), None);
    }
}
