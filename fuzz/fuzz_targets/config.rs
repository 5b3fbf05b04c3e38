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
//!
//! Ventoy's Linux plugins (`persistence`, `injection`, `conf_replace`, `dud`, and
//! `auto_install` as choices), in both files: every entry's paths absolute and normalised and
//! at most `MAX_PATH_BYTES`, counts within `MAX_ENTRIES` / `MAX_CHOICES` / `MAX_DUDS`,
//! `autosel` within its options, a plugin set in polyboot.json replacing ventoy.json's; the
//! look-ups (`persistence_choices`, `auto_install_choices`, `injection_archive`,
//! `conf_replacements`, `driver_update_disks`) return one of the entries' values, agree with
//! the precedence rule (an image entry first), preselect only an existing option, replace at
//! most `MAX_CONF_REPLACE` files once each; the report's images agree with them.
//!
//! Ventoy's menu plugins, on a few paths taken from the input (strings starting with `/`) and
//! fixed ones: `image_settings` agrees with the parts it is made of (aliases, tips, classes,
//! `Passwords::for_image`, `verify_before_boot`), `menu_rank` fails exactly for hidden kinds and
//! what the image list leaves out, `dir_settings` has no password; `load_all` is `load` with
//! every warning; `report::analyze` without a drive and with one made of those paths: one
//! image report per image, agreeing with `menu_rank` / `image_settings`, every missing path
//! named. Passwords: every configured one and strings from the input go through
//! `Password::parse`; `verify` runs only when PBKDF2's iterations are at most
//! `MAX_FUZZ_ITERATIONS` (a configuration may ask for 2,000,000: seconds per input), and
//! `generate` with a salt and text from the input verifies back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::config::auto_install::MAX_TEMPLATES;
use polyboot_core::config::linux_plugins::{
    MAX_CHOICES, MAX_CONF_REPLACE, MAX_DUDS, MAX_ENTRIES, MAX_PATH_BYTES,
};
use polyboot_core::config::pattern::image_matches;
use polyboot_core::config::report::{self, Drive};
use polyboot_core::config::{
    self, AutoInstallTarget, BootConfig, ChoiceEntry, Choices, ConfigError, ConfigLayer, Firmware,
    Password, Target, TemplateChoice, MAX_CONFIG_BYTES, MAX_WARNINGS, POLYBOOT_JSON, VENTOY_JSON,
};
use polyboot_core::menu::{normalize_path, ImageEntry, ImageKind, MAX_DEPTH_LIMIT};

/// PBKDF2 iterations the target computes (a few microseconds each).
const MAX_FUZZ_ITERATIONS: u32 = 64;

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let paths = input_paths(data);
    passwords_from_input(data);
    for firmware in [Firmware::Uefi, Firmware::Bios] {
        let _ = firmware.suffix();
        let (config, errors) = config::load(Some(a), Some(b), firmware);
        let (all, all_errors) = config::load_all(Some(a), Some(b), firmware);
        assert_eq!(errors, all_errors);
        assert_eq!(
            BootConfig { warnings: Vec::new(), ..config.clone() },
            BootConfig { warnings: Vec::new(), ..all.clone() }
        );
        let kept = config.warnings.len().min(MAX_WARNINGS);
        assert_eq!(config.warnings[..kept], all.warnings[..kept]);
        check_plugins(&all, &paths);
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

/// A plugin path: normalised and within the length bound.
fn check_plugin_path(path: &str, what: &str) {
    check_path(path, what);
    assert!(path.len() <= MAX_PATH_BYTES, "{what}: {} bytes", path.len());
}

fn check_target(target: &Target, what: &str) {
    match target {
        Target::Image(p) | Target::Parent(p) => check_plugin_path(p, what),
    }
}

fn check_choice_entries(entries: &[ChoiceEntry], what: &str) {
    assert!(entries.len() <= MAX_ENTRIES, "{what}: {} entries", entries.len());
    for e in entries {
        check_target(&e.target, what);
        assert!(!e.options.is_empty() && e.options.len() <= MAX_CHOICES, "{what}: {e:?}");
        for o in &e.options {
            check_plugin_path(o, what);
        }
        assert!(e.autosel.is_none_or(|n| n as usize <= e.options.len()), "{what}: {e:?}");
    }
}

/// The layer's Linux plugins within their bounds.
fn check_linux_layer(layer: &ConfigLayer) {
    check_choice_entries(layer.persistence.as_deref().unwrap_or_default(), "persistence");
    check_choice_entries(layer.auto_install.as_deref().unwrap_or_default(), "auto_install");
    let injection = layer.injection.as_deref().unwrap_or_default();
    assert!(injection.len() <= MAX_ENTRIES);
    for e in injection {
        check_target(&e.target, "injection");
        check_plugin_path(&e.archive, "injection archive");
    }
    let dud = layer.dud.as_deref().unwrap_or_default();
    assert!(dud.len() <= MAX_ENTRIES);
    for e in dud {
        check_target(&e.target, "dud");
        assert!(!e.files.is_empty() && e.files.len() <= MAX_DUDS, "{e:?}");
        for f in &e.files {
            check_plugin_path(f, "dud file");
        }
    }
    let replace = layer.conf_replace.as_deref().unwrap_or_default();
    assert!(replace.len() <= MAX_ENTRIES);
    for (i, e) in replace.iter().enumerate() {
        check_plugin_path(&e.iso, "conf_replace iso");
        check_plugin_path(&e.org, "conf_replace org");
        check_plugin_path(&e.new, "conf_replace new");
        assert_ne!(e.org, "/");
        // The parser keeps one entry per (iso, org) and at most MAX_CONF_REPLACE per iso.
        let same_iso = |k: &&config::ConfReplaceEntry| k.iso.eq_ignore_ascii_case(&e.iso);
        assert!(!replace[..i].iter().filter(same_iso).any(|k| k.org.eq_ignore_ascii_case(&e.org)));
        assert!(replace[..i].iter().filter(same_iso).count() < MAX_CONF_REPLACE);
    }
}

/// The entry precedence rule, restated: the first matching image entry, else the deepest
/// matching parent (the earliest of equals).
fn expected_entry<'a, T>(
    entries: &'a [T],
    image: &str,
    target: impl Fn(&T) -> &Target,
) -> Option<&'a T> {
    if let Some(e) =
        entries.iter().find(|e| matches!(target(e), Target::Image(p) if image_matches(p, image)))
    {
        return Some(e);
    }
    let mut best: Option<(usize, &T)> = None;
    for e in entries {
        if let Target::Parent(p) = target(e) {
            let dir = p.trim_end_matches('/');
            let under = image.len() > dir.len()
                && image.as_bytes()[dir.len()] == b'/'
                && image[..dir.len()].eq_ignore_ascii_case(dir);
            if under && best.is_none_or(|(d, _)| dir.len() > d) {
                best = Some((dir.len(), e));
            }
        }
    }
    best.map(|(_, e)| e)
}

fn check_choices(got: Option<Choices>, entries: &[ChoiceEntry], image: &str) {
    let want = expected_entry(entries, image, |e| &e.target);
    assert_eq!(got.as_ref().map(|c| &c.options), want.map(|e| &e.options), "{image}");
    if let (Some(c), Some(e)) = (&got, want) {
        assert_eq!((c.autosel, c.timeout), (e.autosel, e.timeout));
        match c.preselected() {
            Some(i) => assert_eq!(Some(i as u32 + 1), c.autosel),
            None => assert!(c.autosel.is_none_or(|n| n == 0 || n as usize > c.options.len())),
        }
        let _ = c.describe("without it");
    }
}

/// The Linux plugins' look-ups for `image` against the configuration's entries.
fn check_linux_lookups(config: &BootConfig, image: &str) {
    check_choices(config.persistence_choices(image), &config.persistence, image);
    check_choices(config.auto_install_choices(image), &config.auto_install, image);
    assert_eq!(
        config.injection_archive(image).as_ref(),
        expected_entry(&config.injection, image, |e| &e.target).map(|e| &e.archive)
    );
    assert_eq!(
        config.driver_update_disks(image),
        expected_entry(&config.dud, image, |e| &e.target).map_or(Vec::new(), |e| e.files.clone())
    );
    let replaced = config.conf_replacements(image);
    assert!(replaced.len() <= MAX_CONF_REPLACE);
    for (i, r) in replaced.iter().enumerate() {
        assert!(!replaced[..i].iter().any(|o| o.org.eq_ignore_ascii_case(&r.org)), "{replaced:?}");
        // The first entry for that file that names the image.
        let first = config
            .conf_replace
            .iter()
            .find(|e| image_matches(&e.iso, image) && e.org.eq_ignore_ascii_case(&r.org))
            .unwrap();
        assert_eq!((&first.org, &first.new), (&r.org, &r.new));
    }
}

fn check_layer(layer: &ConfigLayer) {
    check_linux_layer(layer);
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
        assert!(!entry.options.is_empty() && entry.options.len() <= MAX_TEMPLATES);
        for t in &entry.options {
            check_path(t, "auto_install template");
        }
        assert!(entry.autosel.is_none_or(|n| n as usize <= entry.options.len()));
    }
    if let Some(entries) = &layer.auto_install {
        for image in ["/ISO/win.iso", "/a/b/c/d.iso", &"/x".repeat(100)] {
            if let TemplateChoice::Template(t) = config::auto_install::choose(entries, image) {
                assert!(entries.iter().any(|e| e.options.contains(&t)));
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
    // The Linux plugins: a plugin polyboot.json sets replaces ventoy.json's as a whole.
    let persistence =
        pick(&|l| l.persistence.is_some()).map_or(Vec::new(), |l| l.persistence.clone().unwrap());
    assert_eq!(config.persistence, persistence);
    let auto_install =
        pick(&|l| l.auto_install.is_some()).map_or(Vec::new(), |l| l.auto_install.clone().unwrap());
    assert_eq!(config.auto_install, auto_install);
    let injection =
        pick(&|l| l.injection.is_some()).map_or(Vec::new(), |l| l.injection.clone().unwrap());
    assert_eq!(config.injection, injection);
    let conf_replace =
        pick(&|l| l.conf_replace.is_some()).map_or(Vec::new(), |l| l.conf_replace.clone().unwrap());
    assert_eq!(config.conf_replace, conf_replace);
    let dud = pick(&|l| l.dud.is_some()).map_or(Vec::new(), |l| l.dud.clone().unwrap());
    assert_eq!(config.dud, dud);

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

/// Up to 6 absolute paths from the input (strings starting with `/`, normalised), each with
/// an image below it, and fixed ones with every image kind.
fn input_paths(data: &[u8]) -> Vec<String> {
    let mut paths: Vec<String> =
        ["/ISO/a.iso", "/ISO/Windows/win11.iso", "/x.img", "/tools/t.efi", "/w.wim", "/v.vhdx"]
            .iter()
            .map(|p| p.to_string())
            .collect();
    let text = String::from_utf8_lossy(data);
    for piece in text.split(['"', '\0', '\n']).filter(|p| p.starts_with('/')).take(6) {
        let piece: String = piece.chars().take(200).collect();
        if let Some(p) = normalize_path(&piece) {
            // An image below it too, for the plugins' `parent` entries.
            paths.push(format!("{}/x.iso", p.trim_end_matches('/')));
            paths.push(p);
        }
    }
    paths
}

fn name_kind(path: &str) -> (&str, ImageKind) {
    let name = path.rsplit('/').next().unwrap_or(path);
    (name, ImageKind::from_name(name).unwrap_or(ImageKind::Iso))
}

/// `verify` only where it is cheap: never PBKDF2 with more than [`MAX_FUZZ_ITERATIONS`].
fn cheap_verify(password: &Password, typed: &str) -> Option<bool> {
    match password {
        Password::Pbkdf2 { iterations, .. } if *iterations > MAX_FUZZ_ITERATIONS => None,
        _ => Some(password.verify(typed)),
    }
}

fn check_password(password: &Password) {
    let _ = password.form();
    if password.problem().is_some() {
        assert_eq!(password.form(), "invalid");
        assert_eq!(cheap_verify(password, ""), Some(false), "a malformed password never unlocks");
        assert_eq!(cheap_verify(password, "123456"), Some(false));
    } else {
        let _ = cheap_verify(password, "123456");
    }
}

/// Password strings cut out of the input: parse never panics; generate round-trips.
fn passwords_from_input(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for piece in text.split(['"', '\0', '\n']).take(8) {
        check_password(&Password::parse(piece));
    }
    let typed: String = text.chars().take(16).collect();
    let iterations = u32::from(data.first().copied().unwrap_or(1) % 8) + 1;
    let salt = &data[..data.len().min(16)];
    let stored = Password::generate(&typed, salt, iterations);
    let parsed = Password::parse(&stored);
    assert!(parsed.problem().is_none(), "{stored}");
    assert_eq!(cheap_verify(&parsed, &typed), Some(true), "{stored}");
    assert_eq!(cheap_verify(&parsed, &format!("{typed}x")), Some(false), "{stored}");
}

/// The plugins' look-ups on `paths`, and the report.
fn check_plugins(config: &BootConfig, paths: &[String]) {
    for password in config.passwords.all() {
        check_password(password);
    }
    for path in paths {
        let (name, kind) = name_kind(path);
        let settings = config.image_settings(path, name, kind);
        assert_eq!(settings.alias.as_deref(), config.aliases.image(path));
        assert_eq!(settings.tip.as_deref(), config.tips.image(path));
        assert_eq!(settings.class.as_deref(), config.classes.image(path, name));
        assert_eq!(settings.password.as_ref(), config.passwords.for_image(path, kind));
        assert_eq!(
            config.passwords.source_for_image(path, kind).map(|(_, p)| p),
            config.passwords.for_image(path, kind)
        );
        assert_eq!(settings.verify_before_boot, config.verify_before_boot.applies_to(path));
        if let Some(p) = &settings.password {
            check_password(p);
        }
        let rank = config.menu_rank(path, kind);
        if config.hidden_kinds.contains(&kind) {
            assert_eq!(rank, Err("hidden by VTOY_FILE_FLT_*"));
        } else if let Some(list) = &config.image_list {
            assert_eq!(rank.is_ok(), list.position(path).is_some());
            if let (false, Ok(n)) = (list.blacklist, rank) {
                assert!(n < list.patterns.len());
            }
        } else {
            assert_eq!(rank, Ok(0));
        }
        let dir = config.dir_settings(path);
        assert!(dir.password.is_none() && !dir.verify_before_boot);
        assert_eq!(dir.alias.as_deref(), config.aliases.dir(path));
        check_linux_lookups(config, path);
    }

    // The report, without a drive and on a drive holding the paths as images.
    let alone = report::analyze(config, None);
    assert!(alone.missing.is_empty() && alone.images.is_empty());
    let images: Vec<ImageEntry> = paths
        .iter()
        .map(|p| {
            let (name, kind) = name_kind(p);
            ImageEntry { path: p.clone(), name: name.to_string(), kind, size: 1 << 20 }
        })
        .collect();
    let mut asked = 0usize;
    let mut lookup = |p: &str| {
        asked += 1;
        assert_eq!(normalize_path(p).as_deref(), Some(p), "looked up {p:?}");
        (p.len() % 3 != 0).then_some(p.len() % 2 == 0)
    };
    let report = report::analyze(config, Some(Drive { images: &images, lookup: &mut lookup }));
    assert_eq!(report.images.len(), images.len());
    for (r, image) in report.images.iter().zip(&images) {
        assert_eq!(r.path, image.path);
        assert_eq!(r.menu, config.menu_rank(&image.path, image.kind));
        let settings = config.image_settings(&image.path, &image.name, image.kind);
        assert_eq!(r.alias, settings.alias);
        assert_eq!(r.password.is_some(), settings.password.is_some());
        assert_eq!(r.template, config.unattend_template(&image.path));
        assert_eq!(r.templates, config.auto_install_choices(&image.path));
        assert_eq!(r.persistence, config.persistence_choices(&image.path));
        assert_eq!(r.injection, config.injection_archive(&image.path));
        assert_eq!(r.conf_replace, config.conf_replacements(&image.path));
        assert_eq!(r.dud, config.driver_update_disks(&image.path));
    }
    for f in report.missing.iter().chain(&alone.conflicts).chain(&report.conflicts) {
        assert!(!f.message.is_empty());
    }
    for f in &report.missing {
        assert!(f.path.is_some(), "{f:?}");
    }
    // Without a drive, the conflicts are those that need none.
    assert!(alone.conflicts.len() <= report.conflicts.len());
}
