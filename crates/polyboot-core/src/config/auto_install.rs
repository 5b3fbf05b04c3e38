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
//! `autosel` preselected (1 = the first template, 0 = none). An `image` entry wins over a
//! `parent` one, a deeper `parent` over a shallower one, an earlier entry over a later one
//! ([`super::pattern::select`]); parsing is shared with `persistence`
//! ([`super::linux_plugins`]).
//!
//! Two readers: [`BootConfig::auto_install_choices`](super::BootConfig::auto_install_choices)
//! gives the boot session the whole entry (the menu's options, preselection and timeout) for
//! Linux installers, which get the template in their initramfs; [`choose`]
//! ([`BootConfig::unattend_template`](super::BootConfig::unattend_template)) says which
//! template boots without a keystroke (`autosel`), for reports. At boot, Linux installers and
//! Windows Setup (which gets it as `autounattend.xml`) get the template chosen in the menu
//! (`menu::choice`), or the preselected one.

use alloc::format;
use alloc::string::String;
use serde_json::Value;

pub use super::linux_plugins::ChoiceEntry as AutoInstall;
use super::linux_plugins::{choice_entry, parse_array, MAX_CHOICES};
use super::pattern::select;
pub use super::pattern::Target as AutoInstallTarget;
use super::ConfigLayer;

/// The most templates one entry may list (Ventoy's menu shows a handful).
pub const MAX_TEMPLATES: usize = MAX_CHOICES;

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
    if let Some(entries) = parse_array(key, value, layer, |o| choice_entry(o, "template")) {
        layer.auto_install = Some(entries);
    }
}

/// The template for `image` (an absolute path) from `entries`, for Windows Setup, which has
/// no menu of templates: only the one `autosel` picks.
pub fn choose(entries: &[AutoInstall], image: &str) -> TemplateChoice {
    let Some(entry) = select(entries, image, |e| &e.target) else {
        return TemplateChoice::NotConfigured;
    };
    match entry.autosel {
        Some(n) if n >= 1 => match entry.options.get(n as usize - 1) {
            Some(t) => TemplateChoice::Template(t.clone()),
            None => TemplateChoice::NotUsed(format!("autosel {n} names no template")),
        },
        Some(_) => {
            TemplateChoice::NotUsed(String::from("autosel 0 boots without auto installation"))
        }
        None => TemplateChoice::NotUsed(format!(
            "no autosel: the boot menu asks which of the {} templates (or none) to use",
            entry.options.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

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
                "auto_install[5]: autosel 2 but only 1 template (ignored)",
                "auto_install[6]: has an empty \"template\" list (ignored)",
                "auto_install[7]: autosel -1 is not a small whole number (ignored)",
                "auto_install[8]: must be an object, not a string (ignored)",
            ]
        );
    }
}
