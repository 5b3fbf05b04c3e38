//! polyboot.json and ventoy.json on arbitrary bytes: `parse_polyboot` and `parse_ventoy`
//! under both firmware types, and `config::load` with the input as either file and (split at
//! the first NUL byte, which JSON text cannot contain) as both. Must never panic; beyond
//! that every layer and the merged configuration respect the documented bounds:
//!
//! - depths within `MAX_DEPTH_LIMIT`, paths absolute and normalised (auto_install's too, its
//!   `autosel` within its templates, its choice one of them), at most
//!   `MAX_WARNINGS` warnings plus the "... and N more" line;
//! - `load` is `merge` of the parsers' layers, with one `FileError` per refused file;
//! - polyboot.json's settings win over ventoy.json's, which win over the defaults;
//! - a file over `MAX_CONFIG_BYTES` is refused as `TooLarge`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::config::auto_install::MAX_TEMPLATES;
use polyboot_core::config::{
    self, AutoInstallTarget, BootConfig, ConfigError, ConfigLayer, Firmware, TemplateChoice,
    MAX_CONFIG_BYTES, MAX_WARNINGS, POLYBOOT_JSON, VENTOY_JSON,
};
use polyboot_core::menu::{normalize_path, MAX_DEPTH_LIMIT};

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    for firmware in [Firmware::Uefi, Firmware::Bios] {
        let _ = firmware.suffix();
        let polyboot = parsed(config::parse_polyboot(data, firmware), data);
        let ventoy = parsed(config::parse_ventoy(data, firmware), data);

        check_load(Some(data), None, firmware, Some(polyboot.clone()), None);
        check_load(None, Some(data), firmware, None, Some(ventoy.clone()));
        if (a, b) == (data, data) {
            check_load(Some(data), Some(data), firmware, Some(polyboot), Some(ventoy));
        } else {
            let pa = parsed(config::parse_polyboot(a, firmware), a);
            let vb = parsed(config::parse_ventoy(b, firmware), b);
            check_load(Some(a), Some(b), firmware, Some(pa), Some(vb));
        }
    }
});

/// The layer, after checking it (or the error) on its own.
fn parsed(
    result: Result<ConfigLayer, ConfigError>,
    bytes: &[u8],
) -> Result<ConfigLayer, ConfigError> {
    match &result {
        Ok(layer) => {
            assert!(bytes.len() <= MAX_CONFIG_BYTES);
            check_layer(layer);
        }
        Err(e) => {
            let _ = e.to_string();
            assert_eq!(
                matches!(e, ConfigError::TooLarge { .. }),
                bytes.len() > MAX_CONFIG_BYTES,
                "{e:?}"
            );
            match e {
                ConfigError::TooDeep { line, column }
                | ConfigError::Syntax { line, column, .. } => {
                    // Positions lie within the text (serde_json counts from 1; 0 = unknown).
                    assert!(*line <= bytes.len() + 1 && *column <= bytes.len() + 1, "{e:?}");
                }
                _ => {}
            }
        }
    }
    result
}

fn check_path(path: &str, what: &str) {
    assert_eq!(
        normalize_path(path).as_deref(),
        Some(path),
        "{what} {path:?} is not a normalised absolute path"
    );
}

fn check_layer(layer: &ConfigLayer) {
    if let Some(depth) = layer.max_depth {
        assert!(depth <= MAX_DEPTH_LIMIT, "layer max_depth {depth}");
    }
    if let Some(Some(path)) = &layer.default_image {
        check_path(path, "layer default image");
    }
    if let Some(path) = &layer.search_root {
        check_path(path, "layer search root");
    }
    if let Some(path) = &layer.read_benchmark {
        check_path(path, "layer read_benchmark");
    }
    // auto_install: targets and templates normalised; autosel within the templates; the
    // choice for a few images (wildcard matching on hostile patterns) returns quickly.
    for entry in layer.auto_install.iter().flatten() {
        match &entry.target {
            AutoInstallTarget::Image(p) | AutoInstallTarget::Parent(p) => {
                check_path(p, "auto_install target")
            }
        }
        assert!(!entry.templates.is_empty() && entry.templates.len() <= MAX_TEMPLATES);
        for t in &entry.templates {
            check_path(t, "auto_install template");
        }
        assert!(entry.autosel.is_none_or(|n| n as usize <= entry.templates.len()));
    }
    if let Some(entries) = &layer.auto_install {
        for image in ["/ISO/win.iso", "/a/b/c/d.iso", &"/x".repeat(100)] {
            if let TemplateChoice::Template(t) = config::auto_install::choose(entries, image) {
                assert!(entries.iter().any(|e| e.templates.contains(&t)));
            }
        }
    }
}

fn check_load(
    polyboot_json: Option<&[u8]>,
    ventoy_json: Option<&[u8]>,
    firmware: Firmware,
    polyboot: Option<Result<ConfigLayer, ConfigError>>,
    ventoy: Option<Result<ConfigLayer, ConfigError>>,
) {
    let (config, errors) = config::load(polyboot_json, ventoy_json, firmware);

    // One error per refused file, polyboot.json first.
    let mut expect_errors = Vec::new();
    if let Some(Err(e)) = &polyboot {
        expect_errors.push((POLYBOOT_JSON, e.clone()));
    }
    if let Some(Err(e)) = &ventoy {
        expect_errors.push((VENTOY_JSON, e.clone()));
    }
    let got_errors: Vec<_> = errors.iter().map(|e| (e.path, e.error.clone())).collect();
    assert_eq!(got_errors, expect_errors);
    for e in &errors {
        let _ = e.to_string();
    }

    let polyboot = polyboot.and_then(Result::ok);
    let ventoy = ventoy.and_then(Result::ok);
    assert_eq!(config, BootConfig::merge(polyboot.clone(), ventoy.clone()));

    // The bounds of the merged configuration.
    assert!(config.max_depth <= MAX_DEPTH_LIMIT, "max_depth {}", config.max_depth);
    assert!(config.warnings.len() <= MAX_WARNINGS + 1, "{} warnings", config.warnings.len());
    check_path(&config.search_root, "search root");
    if let Some(path) = &config.default_image {
        check_path(path, "default image");
    }
    if let Some(path) = &config.read_benchmark {
        check_path(path, "read_benchmark");
    }
    let options = config.scan_options();
    assert_eq!(
        (options.root.as_str(), options.max_depth, options.filter_dot_underscore),
        (config.search_root.as_str(), config.max_depth, config.filter_dot_underscore)
    );

    // Precedence, setting by setting: polyboot.json, then ventoy.json, then the default.
    let defaults = BootConfig::default();
    let pick = |f: &dyn Fn(&ConfigLayer) -> bool| -> Option<&ConfigLayer> {
        polyboot.iter().chain(ventoy.iter()).find(|l| f(l))
    };
    let timeout = pick(&|l| l.timeout_secs.is_some())
        .map_or(defaults.timeout_secs, |l| l.timeout_secs.unwrap());
    assert_eq!(config.timeout_secs, timeout);
    let default_image = pick(&|l| l.default_image.is_some())
        .map_or(defaults.default_image.clone(), |l| l.default_image.clone().unwrap());
    assert_eq!(config.default_image, default_image);
    let root = pick(&|l| l.search_root.is_some())
        .map_or(defaults.search_root.clone(), |l| l.search_root.clone().unwrap());
    assert_eq!(config.search_root, root);
    let depth =
        pick(&|l| l.max_depth.is_some()).map_or(defaults.max_depth, |l| l.max_depth.unwrap());
    assert_eq!(config.max_depth, depth);
    let filter = pick(&|l| l.filter_dot_underscore.is_some())
        .map_or(defaults.filter_dot_underscore, |l| l.filter_dot_underscore.unwrap());
    assert_eq!(config.filter_dot_underscore, filter);
    let benchmark =
        pick(&|l| l.read_benchmark.is_some()).map(|l| l.read_benchmark.clone().unwrap());
    assert_eq!(config.read_benchmark, benchmark);

    // Every warning says which file it is about, except the merge's own and the overflow line.
    let layer_warnings =
        polyboot.iter().chain(ventoy.iter()).map(|l| l.warnings.len()).sum::<usize>();
    let timeout_warning =
        usize::from(config.timeout_secs.is_some() && config.default_image.is_none());
    let total = layer_warnings + timeout_warning;
    if total <= MAX_WARNINGS {
        assert_eq!(config.warnings.len(), total);
        for w in &config.warnings[..layer_warnings] {
            assert!(w.starts_with(POLYBOOT_JSON) || w.starts_with(VENTOY_JSON), "{w:?}");
        }
    } else {
        assert_eq!(config.warnings.len(), MAX_WARNINGS + 1);
        assert!(config.warnings[MAX_WARNINGS].starts_with("... and "));
    }
}
