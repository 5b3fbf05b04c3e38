//! Ventoy's `auto_install` plugin: which answer file ("template") an image installs with.
//!
//! ```json
//! "auto_install": [
//!   { "image": "/ISO/Win11_23H2.iso", "template": "/ventoy/script/unattend.xml", "autosel": 1 },
//!   { "parent": "/ISO/Windows", "template": ["/ventoy/a.xml", "/ventoy/b.xml"], "autosel": 2 }
//! ]
//! ```
//!
//! An entry names one image (`image`, a path whose last component may hold `*` wildcards) or
//! every image under a directory (`parent`), and one template or a list. Ventoy then shows a
//! menu of the templates (and "boot without auto installation") for `timeout` seconds, with
//! `autosel` preselected (1 = the first template, 0 = none). polyboot has no such menu yet:
//! a template is used only when `autosel` picks it, because an answer file can partition and
//! wipe disks unattended and nobody chose it. An `image` entry wins over a `parent` one, a
//! deeper `parent` over a shallower one, an earlier entry over a later one. polyboot uses the
//! template for Windows Setup (the jump program hands it to Setup as `autounattend.xml`);
//! Linux answer files (preseed, kickstart, autoinstall) are not applied.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::Value;

use super::pattern::{image_matches, under};
use super::{excerpt, kind_of, ConfigLayer};
use crate::menu::normalize_path;

/// The most templates one entry may list (Ventoy's menu shows a handful).
pub const MAX_TEMPLATES: usize = 64;

/// Which images an entry is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoInstallTarget {
    /// One image (`*` in its last component matches any run of characters).
    Image(String),
    /// Every image under this directory.
    Parent(String),
}

/// One `auto_install` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoInstall {
    pub target: AutoInstallTarget,
    /// Absolute paths on the data partition.
    pub templates: Vec<String>,
    /// Ventoy's preselection: 0 none, n the n-th template.
    pub autosel: Option<u32>,
    /// Seconds Ventoy's template menu waits (kept to report; polyboot shows no such menu).
    pub timeout: Option<u32>,
}

/// The template chosen for an image, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateChoice {
    /// No entry names the image.
    NotConfigured,
    /// This template (absolute path on the data partition).
    Template(String),
    /// An entry names the image but no template is used; why.
    NotUsed(String),
}

/// Parse the plugin's value into the layer (warnings for what is ignored).
pub(super) fn parse(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let Some(entries) = value.as_array() else {
        layer.warn(format!(
            "\"{key}\" must be an array of objects, not {} (ignored)",
            kind_of(value)
        ));
        return;
    };
    let mut parsed = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match parse_entry(entry) {
            Ok(e) => parsed.push(e),
            Err(why) => layer.warn(format!("{key}[{i}]: {why} (ignored)")),
        }
    }
    layer.auto_install = Some(parsed);
}

fn parse_entry(entry: &Value) -> Result<AutoInstall, String> {
    let Some(object) = entry.as_object() else {
        return Err(format!("must be an object, not {}", kind_of(entry)));
    };
    let path = |name: &str| -> Result<Option<String>, String> {
        match object.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => normalize_path(s)
                .map(Some)
                .ok_or_else(|| format!("{name} \"{}\" is not an absolute path", excerpt(s))),
            Some(other) => Err(format!("{name} must be a path string, not {}", kind_of(other))),
        }
    };
    let target = match (path("image")?, path("parent")?) {
        (Some(image), None) => AutoInstallTarget::Image(image),
        (None, Some(parent)) => AutoInstallTarget::Parent(parent),
        (Some(_), Some(_)) => return Err(String::from("has both \"image\" and \"parent\"")),
        (None, None) => return Err(String::from("names neither \"image\" nor \"parent\"")),
    };
    let templates = match object.get("template") {
        Some(Value::String(s)) => alloc::vec![s.clone()],
        Some(Value::Array(list)) if list.len() <= MAX_TEMPLATES => list
            .iter()
            .map(|t| t.as_str().map(String::from).ok_or("a template that is not a string"))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(list)) => {
            return Err(format!("{} templates (at most {MAX_TEMPLATES})", list.len()))
        }
        Some(other) => {
            return Err(format!(
                "\"template\" must be a path or a list of paths, not {}",
                kind_of(other)
            ))
        }
        None => return Err(String::from("has no \"template\"")),
    };
    let templates = templates
        .iter()
        .map(|t| {
            normalize_path(t)
                .ok_or_else(|| format!("template \"{}\" is not an absolute path", excerpt(t)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if templates.is_empty() {
        return Err(String::from("has an empty \"template\" list"));
    }
    // Ventoy writes numbers as JSON numbers here; strings of digits are taken too.
    let number = |name: &str| -> Result<Option<u32>, String> {
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
    };
    let autosel = number("autosel")?;
    let timeout = number("timeout")?;
    if let Some(n) = autosel {
        if n as usize > templates.len() {
            return Err(format!("autosel {n} but only {} templates", templates.len()));
        }
    }
    Ok(AutoInstall { target, templates, autosel, timeout })
}

/// The template for `image` (an absolute path) from `entries`.
pub fn choose(entries: &[AutoInstall], image: &str) -> TemplateChoice {
    let by_image = entries.iter().find(|e| match &e.target {
        AutoInstallTarget::Image(p) => image_matches(p, image),
        AutoInstallTarget::Parent(_) => false,
    });
    let by_parent = || {
        entries
            .iter()
            .filter_map(|e| match &e.target {
                AutoInstallTarget::Parent(p) if under(p, image) => Some((p.len(), e)),
                _ => None,
            })
            // Deepest first; among equals the earliest (max_by_key keeps the last maximum).
            .rev()
            .max_by_key(|(depth, _)| *depth)
            .map(|(_, e)| e)
    };
    let Some(entry) = by_image.or_else(by_parent) else { return TemplateChoice::NotConfigured };
    match entry.autosel {
        Some(n) if n >= 1 => match entry.templates.get(n as usize - 1) {
            Some(t) => TemplateChoice::Template(t.clone()),
            None => TemplateChoice::NotUsed(format!("autosel {n} names no template")),
        },
        Some(_) => {
            TemplateChoice::NotUsed(String::from("autosel 0 boots without auto installation"))
        }
        None => TemplateChoice::NotUsed(format!(
            "no autosel: Ventoy would ask which of {} template(s) to use, and polyboot has no \
             such menu yet; set \"autosel\" to use one",
            entry.templates.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn entries(json: &str) -> (Vec<AutoInstall>, Vec<String>) {
        let mut layer = ConfigLayer::default();
        parse("auto_install", &serde_json::from_str(json).unwrap(), &mut layer);
        (layer.auto_install.unwrap(), layer.warnings)
    }

    #[test]
    fn images_parents_and_autosel() {
        let (e, warnings) = entries(
            r#"[
                {"image": "/ISO/Win11.iso", "template": "/ventoy/w11.xml", "autosel": 1},
                {"image": "/ISO/Server*.iso", "template": ["/ventoy/a.xml", "/ventoy/b.xml"], "autosel": "2", "timeout": 10},
                {"parent": "/ISO", "template": "/ventoy/any.xml", "autosel": 1},
                {"parent": "/ISO/Deep", "template": "/ventoy/deep.xml"},
                {"image": "/ISO/zero.iso", "template": "/ventoy/z.xml", "autosel": 0}
            ]"#,
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let t = |s: &str| TemplateChoice::Template(s.into());
        assert_eq!(choose(&e, "/ISO/Win11.iso"), t("/ventoy/w11.xml"));
        assert_eq!(choose(&e, "/iso/WIN11.ISO"), t("/ventoy/w11.xml"));
        assert_eq!(choose(&e, "/ISO/Server2022_eval.iso"), t("/ventoy/b.xml"));
        assert_eq!(e[1].timeout, Some(10));
        // Only the last component is a pattern; a parent covers every depth below it.
        assert_eq!(choose(&e, "/ISO/Other/Server1.iso"), t("/ventoy/any.xml"));
        assert_eq!(choose(&e, "/ISO/x.iso"), t("/ventoy/any.xml"));
        // The deeper parent wins, and has no autosel: not used, and why.
        match choose(&e, "/ISO/Deep/win.iso") {
            TemplateChoice::NotUsed(why) => assert!(why.contains("no autosel"), "{why}"),
            other => panic!("{other:?}"),
        }
        match choose(&e, "/ISO/zero.iso") {
            TemplateChoice::NotUsed(why) => assert!(why.contains("autosel 0"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(choose(&e, "/other/x.iso"), TemplateChoice::NotConfigured);
        assert_eq!(choose(&e, "/ISOs/x.iso"), TemplateChoice::NotConfigured);
    }

    #[test]
    fn bad_entries_are_warnings_and_dropped() {
        let (e, warnings) = entries(
            r#"[
                {"image": "/a.iso"},
                {"template": "/t.xml"},
                {"image": "/a.iso", "parent": "/", "template": "/t.xml"},
                {"image": "a.iso", "template": "/t.xml"},
                {"image": "/a.iso", "template": 5},
                {"image": "/a.iso", "template": ["/t.xml"], "autosel": 2},
                {"image": "/a.iso", "template": [], "autosel": 0},
                {"image": "/a.iso", "template": "/t.xml", "autosel": -1},
                "nope",
                {"image": "/ok.iso", "template": "/t.xml", "autosel": 1}
            ]"#,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(
            warnings,
            vec![
                "auto_install[0]: has no \"template\" (ignored)",
                "auto_install[1]: names neither \"image\" nor \"parent\" (ignored)",
                "auto_install[2]: has both \"image\" and \"parent\" (ignored)",
                "auto_install[3]: image \"a.iso\" is not an absolute path (ignored)",
                "auto_install[4]: \"template\" must be a path or a list of paths, not a number (ignored)",
                "auto_install[5]: autosel 2 but only 1 templates (ignored)",
                "auto_install[6]: has an empty \"template\" list (ignored)",
                "auto_install[7]: autosel -1 is not a small whole number (ignored)",
                "auto_install[8]: must be an object, not a string (ignored)",
            ]
        );
    }
}
