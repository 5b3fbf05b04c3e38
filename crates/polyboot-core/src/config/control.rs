//! Ventoy's `control` plugin: an array of single-key objects with string values,
//! `[{"VTOY_MENU_TIMEOUT": "10"}, {"VTOY_DEFAULT_IMAGE": "/ISO/x.iso"}]`. A later entry
//! overrides an earlier one (each is a GRUB `set` in Ventoy).
//!
//! Honoured: `VTOY_MENU_TIMEOUT`, `VTOY_DEFAULT_IMAGE` (image paths, not Ventoy's `F4>...`
//! hotkey menus or `VTOY_EXIT`), `VTOY_DEFAULT_SEARCH_ROOT`, `VTOY_MAX_SEARCH_LEVEL` (`"max"`
//! = the deepest polyboot searches, 64), `VTOY_FILT_DOT_UNDERSCORE_FILE`,
//! `VTOY_DEFAULT_MENU_MODE` (0 list, 1 tree), `VTOY_SORT_CASE_SENSITIVE`,
//! `VTOY_FILE_FLT_ISO` / `_IMG` / `_EFI` / `_WIM` / `_VHD` (1 hides that kind; `_VTOY` is
//! accepted, polyboot lists no `.vtoy` files), `VTOY_SHOW_PASSWORD_ASTERISK`,
//! `VTOY_WIN11_BYPASS_CHECK` and `VTOY_WIN11_BYPASS_NRO` (`"1"` / `"0"`, off unless set).
//! Everything else is reported by name as not supported: the secondary boot menu (polyboot
//! boots the chosen image directly), languages and keyboard layouts (English, US layout),
//! `VTOY_LINUX_REMOUNT`, `VTOY_VHD_NO_WARNING`, `VTOY_TREE_VIEW_MENU_STYLE`, ...

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::Value;

use super::{
    clamp_depth, config_path, excerpt, kind_of, name_list, parse_decimal, ConfigLayer, MenuMode,
};
use crate::menu::{ImageKind, MAX_DEPTH_LIMIT};

pub(super) fn parse_control(key: &str, value: &Value, layer: &mut ConfigLayer) {
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
            "VTOY_DEFAULT_MENU_MODE" => {
                if let Some(tree) = switch(name, value, layer) {
                    layer.menu_mode = Some(if tree { MenuMode::Tree } else { MenuMode::List });
                }
            }
            "VTOY_SORT_CASE_SENSITIVE" => {
                layer.sort_case_sensitive = switch(name, value, layer).or(layer.sort_case_sensitive)
            }
            "VTOY_SHOW_PASSWORD_ASTERISK" => {
                layer.show_password_asterisks =
                    switch(name, value, layer).or(layer.show_password_asterisks)
            }
            _ if name.starts_with("VTOY_FILE_FLT_") => {
                let ext = &name["VTOY_FILE_FLT_".len()..];
                let kinds: &[ImageKind] = match ext {
                    "ISO" => &[ImageKind::Iso],
                    "IMG" => &[ImageKind::Img],
                    "EFI" => &[ImageKind::Efi],
                    "WIM" => &[ImageKind::Wim],
                    "VHD" => &[ImageKind::Vhd, ImageKind::Vhdx],
                    "VTOY" => &[],
                    _ => {
                        unsupported.push(name);
                        continue;
                    }
                };
                if let Some(hide) = switch(name, value, layer) {
                    let hidden = layer.hidden_kinds.get_or_insert_with(Vec::new);
                    hidden.retain(|k| !kinds.contains(k));
                    if hide {
                        hidden.extend_from_slice(kinds);
                    }
                }
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
