//! Unit tests of the configuration parser (fixtures in crates/polyboot-core/tests/fixtures).

use super::*;
use alloc::vec;

const POLYBOOT_FIXTURE: &str = include_str!("../../tests/fixtures/polyboot.json");
const VENTOY_FIXTURE: &str = include_str!("../../tests/fixtures/ventoy.json");

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
            menu_mode: Some(MenuMode::List),
            verify_before_boot: Some(VerifyRule {
                all: false,
                paths: vec!["/samples/secure".into(), "/samples/memtest*.efi".into()]
            }),
            warnings: vec![],
            ..ConfigLayer::default()
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
            "control: not supported by polyboot (ignored): VTOY_MENU_LANGUAGE, \
             VTOY_TREE_VIEW_MENU_STYLE",
            "menu_tip: the text menu shows tips on its info line (left / top ignored)",
            "theme_uefi: theme settings polyboot's text menu does not use: file",
        ]
    );
    // persistence: one backend, no autosel (the menu waits for a key, 10 s is Ventoy's).
    assert_eq!(
        config.persistence_choices("/ISO/ubuntu-24.04-desktop-amd64.iso"),
        Some(Choices {
            options: vec!["/persistence/ubuntu.dat".into()],
            autosel: None,
            timeout: Some(10)
        })
    );
    assert_eq!(layer.menu_mode, Some(MenuMode::List));
    assert_eq!(layer.hidden_kinds, Some(vec![ImageKind::Efi]));
    assert_eq!(layer.theme.as_ref().unwrap().resolution, Some((1024, 768)));
    assert_eq!(
        layer.aliases.as_ref().unwrap().image("/ISO/debian-12.5.0-amd64-netinst.iso"),
        Some("Debian 12 \"bookworm\" netinst")
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
                    target: AutoInstallTarget::Image("/ISO/debian-12.5.0-amd64-netinst.iso".into()),
                    options: vec!["/ventoy/script/preseed.cfg".into()],
                    autosel: None,
                    timeout: None,
                },
                AutoInstall {
                    target: AutoInstallTarget::Image("/ISO/Win11_*_x64.iso".into()),
                    options: vec!["/ventoy/script/win11.xml".into()],
                    autosel: Some(1),
                    timeout: None,
                },
                AutoInstall {
                    target: AutoInstallTarget::Parent("/ISO/Windows".into()),
                    options: vec![
                        "/ventoy/script/win_a.xml".into(),
                        "/ventoy/script/win_b.xml".into()
                    ],
                    autosel: Some(2),
                    timeout: Some(10),
                },
            ]),
            ..layer.clone()
        }
    );
    assert_eq!(
        layer.warnings,
        [
            "menu_tip: the text menu shows tips on its info line (left / top ignored)",
            "theme: theme settings polyboot's text menu does not use: file, \
             fonts, ventoy_left, ventoy_top",
        ]
    );
    assert!(layer.aliases.is_some() && layer.theme.is_some());
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
    let layer = control(r#"{"VTOY_WIN11_BYPASS_CHECK": "1"}, {"VTOY_WIN11_BYPASS_CHECK": "0"}"#);
    assert_eq!(layer.win11_bypass_requirements, Some(false));
    let layer = control(r#"{"VTOY_WIN11_BYPASS_NRO": "yes"}"#);
    assert_eq!(layer.win11_bypass_nro, None);
    assert_eq!(layer.warnings, ["VTOY_WIN11_BYPASS_NRO \"yes\" must be \"0\" or \"1\" (ignored)"]);
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
    let (config, errors) =
        load(Some(POLYBOOT_FIXTURE.as_bytes()), Some(VENTOY_FIXTURE.as_bytes()), Firmware::Uefi);
    assert!(errors.is_empty());
    assert_eq!(config.timeout_secs, Some(5));
    assert_eq!(config.default_image.as_deref(), Some("/samples/ipxe.iso"));
    assert_eq!(config.search_root, "/");
    assert_eq!(config.max_depth, 6);
    assert!(config.filter_dot_underscore);
    assert_eq!(config.warnings.len(), 3);
    assert!(config.warnings.iter().all(|w| w.starts_with("/ventoy/ventoy.json: ")));
    assert!(config.verify_before_boot.applies_to("/samples/secure/a/b.iso"));
    assert!(config.verify_before_boot.applies_to("/samples/memtest86+.efi"));
    assert!(!config.verify_before_boot.applies_to("/samples/ipxe.iso"));
    let debian = config.image_settings(
        "/ISO/debian-12.5.0-amd64-netinst.iso",
        "debian-12.5.0-amd64-netinst.iso",
        ImageKind::Iso,
    );
    assert_eq!(debian.alias.as_deref(), Some("Debian 12 \"bookworm\" netinst"));
    assert_eq!(
        config.menu_rank("/ISO/Office/office2019.iso", ImageKind::Iso),
        Err("in image_blacklist")
    );
    assert_eq!(config.menu_rank("/ISO/x.efi", ImageKind::Efi), Err("hidden by VTOY_FILE_FLT_*"));
    assert_eq!(config.dir_settings("/ISO/Linux").class.as_deref(), Some("linux"));

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
    assert_eq!((scan.root.as_str(), scan.max_depth, scan.filter_dot_underscore), ("/", 10, false));
}

#[test]
fn malformed_json_reports_position_and_falls_back() {
    let broken = b"{\n  \"menu\": {\n    \"timeout\": 5,\n  }\n}\n";
    let err = parse_polyboot(broken, Firmware::Uefi).unwrap_err();
    assert_eq!(err, ConfigError::Syntax { line: 4, column: 3, message: "trailing comma".into() });
    assert_eq!(err.to_string(), "line 4, column 3: trailing comma");

    let (config, errors) = load(Some(broken), Some(VENTOY_FIXTURE.as_bytes()), Firmware::Uefi);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].to_string(), "/polyboot/polyboot.json: line 4, column 3: trailing comma");
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

    let layer = ventoy(r#"{"control": {"VTOY_MENU_TIMEOUT": "4"}, "colour": 1, "theme_ia32": {}}"#);
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
    let (cfg, _) = load(Some(br#"{"diagnostics": {"read_benchmark": 3}}"#), None, Firmware::Uefi);
    assert_eq!(cfg.read_benchmark, None);
    assert_eq!(cfg.warnings.len(), 1);
}

// ------------------------------------------------------------------------------------------
// persistence, injection, conf_replace, dud (linux_plugins.rs)
// ------------------------------------------------------------------------------------------

const LINUX_PLUGINS: &str = r#"{
    "persistence": [
        {"image": "/ISO/debian-live.iso", "backend": ["/persistence/a.dat", "/persistence/b.dat"], "autosel": 2, "timeout": 10},
        {"parent": "/ISO/Live", "backend": "/persistence/live.dat"},
        {"parent": "/ISO/Live/Fedora", "backend": "/persistence/fedora.dat", "autosel": "0"},
        {"image": "/ISO/Live/Fedora/*.iso", "backend": "/persistence/f40.dat", "autosel": 1}
    ],
    "persistence_uefi": [
        {"image": "/ISO/debian-live.iso", "backend": "/persistence/uefi.dat", "autosel": 1}
    ],
    "auto_install": [
        {"parent": "/ISO/Debian", "template": ["/ventoy/a.cfg", "/ventoy/b.cfg"], "timeout": 5}
    ],
    "injection": [
        {"parent": "/ISO", "archive": "/ventoy/all.tar.gz"},
        {"parent": "/ISO/Live", "archive": "/ventoy/live.tar.xz"},
        {"image": "/ISO/Live/arch*.iso", "archive": "/ventoy/arch.tar"}
    ],
    "conf_replace": [
        {"iso": "/ISO/ubuntu*.iso", "org": "/boot/grub/grub.cfg", "new": "/ventoy/grub.cfg"},
        {"iso": "/ISO/ubuntu-24.04.iso", "org": "/BOOT/GRUB/GRUB.CFG", "new": "/ventoy/other.cfg"},
        {"iso": "/ISO/ubuntu-24.04.iso", "org": "\\isolinux\\txt.cfg", "new": "/ventoy/txt.cfg", "img": 1}
    ],
    "dud": [
        {"image": "/ISO/rhel-9.iso", "dud": ["/ventoy/dd.iso", "/ventoy/raid.rpm"]},
        {"parent": "/ISO", "dud": "/ventoy/generic.iso"}
    ]
}"#;

#[test]
fn linux_plugins_by_image_parent_and_firmware() {
    let (bios, errors) = load(None, Some(LINUX_PLUGINS.as_bytes()), Firmware::Bios);
    assert!(errors.is_empty() && bios.warnings.is_empty(), "{errors:?} {:?}", bios.warnings);
    let choices = |options: &[&str], autosel, timeout| Choices {
        options: options.iter().map(|o| o.to_string()).collect(),
        autosel,
        timeout,
    };
    // Under BIOS the plain key; under UEFI persistence_uefi replaces it as a whole.
    let debian = bios.persistence_choices("/ISO/debian-live.iso").unwrap();
    assert_eq!(debian, choices(&["/persistence/a.dat", "/persistence/b.dat"], Some(2), Some(10)));
    assert_eq!(debian.preselected(), Some(1));
    let (uefi, _) = load(None, Some(LINUX_PLUGINS.as_bytes()), Firmware::Uefi);
    assert_eq!(
        uefi.persistence_choices("/iso/DEBIAN-live.ISO"),
        Some(choices(&["/persistence/uefi.dat"], Some(1), None))
    );
    assert_eq!(uefi.persistence_choices("/ISO/Live/x.iso"), None);
    // An image entry beats the parents; the deeper parent beats the shallower one.
    let pick = |image: &str| bios.persistence_choices(image).map(|c| c.options[0].clone());
    assert_eq!(pick("/ISO/Live/Fedora/f40.iso").as_deref(), Some("/persistence/f40.dat"));
    assert_eq!(pick("/ISO/Live/Fedora/sub/f39.img").as_deref(), Some("/persistence/fedora.dat"));
    assert_eq!(pick("/ISO/Live/mint.iso").as_deref(), Some("/persistence/live.dat"));
    assert_eq!(pick("/ISO/other.iso"), None);
    // autosel "0": boot without; no autosel: the menu waits; neither preselects a backend.
    assert_eq!(bios.persistence_choices("/ISO/Live/Fedora/sub/f39.img").unwrap().autosel, Some(0));
    assert_eq!(
        bios.persistence_choices("/ISO/Live/Fedora/sub/f39.img").unwrap().preselected(),
        None
    );
    assert_eq!(bios.persistence_choices("/ISO/Live/mint.iso").unwrap().preselected(), None);

    // auto_install: the menu's data for Linux; Windows' answer file only with an autosel.
    let debian_install = bios.auto_install_choices("/ISO/Debian/netinst.iso").unwrap();
    assert_eq!(debian_install, choices(&["/ventoy/a.cfg", "/ventoy/b.cfg"], None, Some(5)));
    assert!(matches!(
        bios.unattend_template("/ISO/Debian/netinst.iso"),
        TemplateChoice::NotUsed(_)
    ));
    assert_eq!(bios.auto_install_choices("/ISO/x.iso"), None);

    // injection: the same precedence.
    assert_eq!(
        bios.injection_archive("/ISO/Live/arch-2024.iso").as_deref(),
        Some("/ventoy/arch.tar")
    );
    assert_eq!(bios.injection_archive("/ISO/Live/a/b.iso").as_deref(), Some("/ventoy/live.tar.xz"));
    assert_eq!(bios.injection_archive("/ISO/b.iso").as_deref(), Some("/ventoy/all.tar.gz"));
    assert_eq!(bios.injection_archive("/b.iso"), None);

    // conf_replace: every matching entry, the first for one file (case ignored), paths
    // normalised; nothing for other images.
    let replaced = bios.conf_replacements("/ISO/ubuntu-24.04.iso");
    let pairs: Vec<(&str, &str)> =
        replaced.iter().map(|r| (r.org.as_str(), r.new.as_str())).collect();
    assert_eq!(
        pairs,
        [("/boot/grub/grub.cfg", "/ventoy/grub.cfg"), ("/isolinux/txt.cfg", "/ventoy/txt.cfg")]
    );
    assert_eq!(bios.conf_replacements("/ISO/ubuntu-22.04.iso").len(), 1);
    assert!(bios.conf_replacements("/ISO/debian.iso").is_empty());

    // dud: the image's list, else the parent's.
    assert_eq!(bios.driver_update_disks("/ISO/rhel-9.iso"), ["/ventoy/dd.iso", "/ventoy/raid.rpm"]);
    assert_eq!(bios.driver_update_disks("/ISO/alma.iso"), ["/ventoy/generic.iso"]);
    assert!(bios.driver_update_disks("/alma.iso").is_empty());
}

#[test]
fn choices_preselect_only_an_existing_option() {
    let c = |autosel| Choices { options: vec!["/a".into(), "/b".into()], autosel, timeout: None };
    assert_eq!(c(None).preselected(), None);
    assert_eq!(c(Some(0)).preselected(), None);
    assert_eq!(c(Some(1)).preselected(), Some(0));
    assert_eq!(c(Some(2)).preselected(), Some(1));
    assert_eq!(c(Some(3)).preselected(), None);
    assert_eq!(c(Some(u32::MAX)).preselected(), None);
    // For people (config check, check).
    assert_eq!(c(None).describe("without x"), "/a, /b: a menu waits for a choice");
    assert_eq!(c(Some(0)).describe("without x"), "/a, /b: boot without x at once (no menu)");
    assert_eq!(c(Some(2)).describe("without x"), "/a, /b: /b at once (no menu)");
    let timed = Choices { timeout: Some(10), ..c(Some(1)) };
    assert_eq!(timed.describe("without x"), "/a, /b: a menu for 10 s, then /a");
    let one = Choices { options: vec!["/a".into()], autosel: Some(1), timeout: None };
    assert_eq!(one.describe("without x"), "/a (no menu)");
}

#[test]
fn polyboot_json_carries_the_same_plugins_and_wins() {
    let ours = br#"{
        "persistence": [{"image": "/ISO/debian-live.iso", "backend": "/ours.dat", "autosel": 1}],
        "dud_legacy": [{"image": "/ISO/rhel-9.iso", "dud": "/bios-dd.iso"}],
        "dud": [{"image": "/ISO/rhel-9.iso", "dud": "/dd.iso"}],
        "auto_install": [{"image": "/ISO/Debian/netinst.iso", "template": "/ours.cfg", "autosel": 1}]
    }"#;
    let (cfg, errors) = load(Some(ours), Some(LINUX_PLUGINS.as_bytes()), Firmware::Uefi);
    assert!(errors.is_empty() && cfg.warnings.is_empty(), "{errors:?} {:?}", cfg.warnings);
    // polyboot.json's plugin replaces ventoy.json's as a whole...
    assert_eq!(cfg.persistence.len(), 1);
    assert_eq!(cfg.persistence_choices("/ISO/debian-live.iso").unwrap().options, ["/ours.dat"]);
    assert_eq!(cfg.persistence_choices("/ISO/Live/mint.iso"), None);
    assert_eq!(
        cfg.unattend_template("/ISO/Debian/netinst.iso"),
        TemplateChoice::Template("/ours.cfg".into())
    );
    assert_eq!(cfg.driver_update_disks("/ISO/rhel-9.iso"), ["/dd.iso"]);
    // ...and the plugins it does not set come from ventoy.json.
    assert_eq!(cfg.injection_archive("/ISO/b.iso").as_deref(), Some("/ventoy/all.tar.gz"));
    assert_eq!(cfg.conf_replacements("/ISO/ubuntu-24.04.iso").len(), 2);
    // Firmware suffixes work in polyboot.json too.
    let (bios, _) = load(Some(ours), None, Firmware::Bios);
    assert_eq!(bios.driver_update_disks("/ISO/rhel-9.iso"), ["/bios-dd.iso"]);
    // An empty list in polyboot.json turns ventoy.json's plugin off.
    let (off, _) =
        load(Some(br#"{"injection": []}"#), Some(LINUX_PLUGINS.as_bytes()), Firmware::Uefi);
    assert_eq!(off.injection_archive("/ISO/b.iso"), None);
}

#[test]
fn malformed_linux_plugin_entries_are_warnings() {
    let long = format!("/{}", "a".repeat(linux_plugins::MAX_PATH_BYTES));
    let many_duds: Vec<String> =
        (0..=linux_plugins::MAX_DUDS).map(|i| format!("\"/d{i}.iso\"")).collect();
    let text = format!(
        r#"{{
        "persistence": [
            {{"image": "/a.iso"}},
            {{"image": "/a.iso", "backend": "rel.dat"}},
            {{"image": "/a.iso", "backend": ["/a.dat"], "autosel": 2}},
            {{"image": "/a.iso", "backend": "/a.dat", "timeout": "soon"}},
            {{"image": "{long}", "backend": "/a.dat"}},
            {{"image": "/a.iso", "parent": "/", "backend": "/a.dat"}},
            {{"image": "/ok.iso", "backend": "/ok.dat"}}
        ],
        "injection": [
            {{"image": "/a.iso"}},
            {{"parent": "/ISO", "archive": 7}},
            {{"archive": "/x.tar"}},
            {{"image": "/a.iso", "archive": "/../x.tar"}}
        ],
        "conf_replace": [
            {{"iso": "/a.iso", "org": "/grub.cfg"}},
            {{"iso": "/a.iso", "org": "/", "new": "/n.cfg"}},
            {{"iso": "/a.iso", "org": "grub.cfg", "new": "/n.cfg"}},
            {{"iso": "/a.iso", "org": "/x.cfg", "new": "/n.cfg", "img": "yes"}},
            {{"iso": "/a.iso", "org": "/grub.cfg", "new": "/n.cfg"}},
            {{"iso": "/A.ISO", "org": "/GRUB.cfg", "new": "/m.cfg"}}
        ],
        "dud": [
            {{"image": "/a.iso", "dud": []}},
            {{"image": "/a.iso", "dud": [{}]}},
            {{"image": "/a.iso", "dud": [1]}},
            ["/a.iso"]
        ],
        "injection_uefi": 5
    }}"#,
        many_duds.join(", ")
    );
    let layer = parse_ventoy(text.as_bytes(), Firmware::Bios).unwrap();
    let long_excerpt = format!("/{}...", "a".repeat(59));
    assert_eq!(
        layer.warnings,
        [
            "conf_replace[0]: has no \"new\" (ignored)".to_string(),
            "conf_replace[1]: org must name a file inside the ISO, not its root (ignored)".into(),
            "conf_replace[2]: org \"grub.cfg\" is not an absolute path (ignored)".into(),
            "conf_replace[3]: img \"yes\" is not a whole number (ignored)".into(),
            "conf_replace: /GRUB.cfg in /A.ISO is replaced twice: the first entry is used, a later one ignored".into(),
            "dud[0]: has an empty \"dud\" list (ignored)".into(),
            format!("dud[1]: {} duds (at most {}) (ignored)", linux_plugins::MAX_DUDS + 1, linux_plugins::MAX_DUDS),
            "dud[2]: a dud that is not a string (ignored)".into(),
            "dud[3]: must be an object, not an array (ignored)".into(),
            "injection[0]: has no \"archive\" (ignored)".into(),
            "injection[1]: archive must be a path string, not a number (ignored)".into(),
            "injection[2]: names neither \"image\" nor \"parent\" (ignored)".into(),
            "injection[3]: archive \"/../x.tar\" is not an absolute path (ignored)".into(),
            "persistence[0]: has no \"backend\" (ignored)".into(),
            "persistence[1]: backend \"rel.dat\" is not an absolute path (ignored)".into(),
            "persistence[2]: autosel 2 but only 1 backend (ignored)".into(),
            "persistence[3]: timeout \"soon\" is not a whole number (ignored)".into(),
            format!("persistence[4]: image \"{long_excerpt}\" is longer than {} bytes (ignored)", linux_plugins::MAX_PATH_BYTES),
            "persistence[5]: has both \"image\" and \"parent\" (ignored)".into(),
        ]
    );
    assert_eq!(layer.persistence.as_ref().unwrap().len(), 1);
    assert_eq!(layer.injection.as_ref().map(Vec::len), Some(0));
    assert_eq!(layer.conf_replace.as_ref().map(Vec::len), Some(1));
    assert_eq!(layer.dud.as_ref().map(Vec::len), Some(0));
    // Not an array: a warning and the plugin unset (under UEFI injection_uefi replaces it).
    let uefi = parse_ventoy(text.as_bytes(), Firmware::Uefi).unwrap();
    assert!(uefi.warnings.contains(
        &"\"injection_uefi\" must be an array of objects, not a number (ignored)".to_string()
    ));
    assert_eq!(uefi.injection, None);
    // No longer reported as plugins polyboot does not carry out; auto_memdisk still is.
    let other = ventoy(r#"{"persistence": [], "auto_memdisk": ["/a.iso"], "custom_boot": []}"#);
    assert_eq!(
        other.warnings,
        ["plugins not supported by polyboot (ignored): auto_memdisk, custom_boot"]
    );
}

#[test]
fn linux_plugin_bounds() {
    // More entries than are read: one warning, the first MAX_ENTRIES kept.
    let n = linux_plugins::MAX_ENTRIES + 3;
    let entries: Vec<String> =
        (0..n).map(|i| format!(r#"{{"image": "/{i}.iso", "archive": "/a.tar"}}"#)).collect();
    let layer = ventoy(&format!(r#"{{"injection": [{}]}}"#, entries.join(",")));
    assert_eq!(
        layer.warnings,
        [format!(
            "\"injection\" has {n} entries; only the first {} are read",
            linux_plugins::MAX_ENTRIES
        )]
    );
    assert_eq!(layer.injection.unwrap().len(), linux_plugins::MAX_ENTRIES);
    // conf_replace: at most MAX_CONF_REPLACE files per image, through wildcards too.
    let max = linux_plugins::MAX_CONF_REPLACE;
    let mut entries: Vec<String> =
        (0..=max).map(|i| format!(r#"{{"iso": "/a.iso", "org": "/f{i}", "new": "/n"}}"#)).collect();
    entries.push(r#"{"iso": "/*.iso", "org": "/g", "new": "/n"}"#.into());
    let (cfg, _) = load(
        None,
        Some(format!(r#"{{"conf_replace": [{}]}}"#, entries.join(",")).as_bytes()),
        Firmware::Uefi,
    );
    assert_eq!(
        cfg.warnings,
        [format!("{VENTOY_JSON}: conf_replace: more than {max} files replaced in /a.iso: /f{max} ignored")]
    );
    let replaced = cfg.conf_replacements("/a.iso");
    assert_eq!(replaced.len(), max);
    assert_eq!(replaced[max - 1].org, format!("/f{}", max - 1));
    assert_eq!(cfg.conf_replacements("/b.iso").len(), 1);
    // Choices: at most MAX_CHOICES backends.
    let backends: Vec<String> =
        (0..=linux_plugins::MAX_CHOICES).map(|i| format!("\"/{i}.dat\"")).collect();
    let layer = ventoy(&format!(
        r#"{{"persistence": [{{"image": "/a.iso", "backend": [{}]}}]}}"#,
        backends.join(",")
    ));
    assert_eq!(
        layer.warnings,
        [format!(
            "persistence[0]: {} backends (at most {}) (ignored)",
            linux_plugins::MAX_CHOICES + 1,
            linux_plugins::MAX_CHOICES
        )]
    );
}
