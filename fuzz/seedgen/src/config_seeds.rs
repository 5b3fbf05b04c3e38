//! Seeds of the `config` target: the test fixtures (a realistic polyboot.json and a
//! ventoy.json with many plugins), eighteen files of the `polyboot config check` fixture
//! corpus (Ventoy's menu and Linux plugins) and small files for each rule of config.rs. The target
//! also splits an input at its first NUL byte into polyboot.json and ventoy.json; the `pair`
//! seeds use that.

pub const POLYBOOT_FIXTURE: &[u8] =
    include_bytes!("../../../crates/polyboot-core/tests/fixtures/polyboot.json");
pub const VENTOY_FIXTURE: &[u8] =
    include_bytes!("../../../crates/polyboot-core/tests/fixtures/ventoy.json");

/// The `polyboot config check` fixture corpus: Ventoy's menu plugins as documented.
macro_rules! corpus {
    ($($name:literal),* $(,)?) => {
        [$(
            (
                concat!("corpus-", $name),
                include_bytes!(concat!(
                    "../../../crates/polyboot/tests/fixtures/ventoy-config/",
                    $name,
                    ".ventoy.json"
                )) as &[u8],
            ),
        )*]
    };
}

const CORPUS: [(&str, &[u8]); 18] = corpus!(
    "persistence",
    "persistence_uefi",
    "injection",
    "injection_uefi",
    "conf_replace",
    "conf_replace_uefi",
    "dud",
    "dud_uefi",
    "control",
    "menu_alias_uefi",
    "menu_tip",
    "menu_class",
    "image_list_and_blacklist",
    "password",
    "password_uefi",
    "theme_legacy",
    "auto_install",
    "wrong_types",
);

pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> =
        CORPUS.iter().map(|(name, bytes)| (*name, bytes.to_vec())).collect();
    out.extend(vec![
        ("polyboot-fixture", POLYBOOT_FIXTURE.to_vec()),
        ("ventoy-fixture", VENTOY_FIXTURE.to_vec()),
        (
            "polyboot-firmware",
            br#"{
  "version": 1,
  "_comment": "UEFI waits, BIOS boots FreeDOS after 3 s",
  "menu": { "timeout": null, "default": null },
  "menu_legacy": { "timeout": 3, "default": "\\ISO\\Legacy\\.\\freedos.img" },
  "search": { "root": "//ISO/", "max_depth": 1000, "skip_dot_underscore": false },
  "search_uefi": { "root": "/ISO/UEFI", "max_depth": 2 },
  "search_aa64": { "root": "/arm" },
  "diagnostics": { "read_benchmark": "/ISO/debian-12.5.0-amd64-netinst.iso" },
  "future_key": [1, 2, 3]
}"#
            .to_vec(),
        ),
        (
            "polyboot-wrong-types",
            br#"{"version": 2, "menu": {"timeout": -1, "default": 7, "colour": "red"},
"search": {"root": "ISO", "max_depth": "3", "skip_dot_underscore": 1}, "diagnostics": [],
"menu_uefi": "no", "version_legacy": 1.5}"#
                .to_vec(),
        ),
        (
            "ventoy-control-uefi",
            br#"{
    "control": [
        { "VTOY_MENU_TIMEOUT": "5" },
        { "VTOY_DEFAULT_IMAGE": "/ISO/ubuntu-24.04-desktop-amd64.iso" },
        { "VTOY_MAX_SEARCH_LEVEL": "max" }
    ],
    "control_uefi": [
        { "VTOY_MENU_TIMEOUT": " 30 ", "VTOY_DEFAULT_SEARCH_ROOT": "/ISO/UEFI" },
        { "VTOY_DEFAULT_IMAGE": "F4>/ISO/tools.iso" },
        { "VTOY_MAX_SEARCH_LEVEL": "99999999999" },
        { "VTOY_FILT_DOT_UNDERSCORE_FILE": "yes" },
        { "VTOY_EXIT": 1 },
        "not an object"
    ],
    "control_ia32": [ { "VTOY_MENU_TIMEOUT": "1" } ],
    "theme_legacy": { "file": "/ventoy/theme.txt" },
    "conf_replace": [],
    "my_plugin": {}
}"#
            .to_vec(),
        ),
        (
            "ventoy-bad-control",
            br#"{"control": {"VTOY_MENU_TIMEOUT": "10"}, "control_legacy": [{"VTOY_DEFAULT_IMAGE": "/a/../b.iso"}, {"VTOY_DEFAULT_SEARCH_ROOT": "relative"}]}"#
                .to_vec(),
        ),
        // A UTF-8 byte order mark, CRLF line ends, escapes in strings.
        (
            "bom-crlf",
            b"\xEF\xBB\xBF{\r\n  \"menu\": {\"default\": \"/ISO/caf\\u00e9 \\\"x\\\".iso\"},\r\n  \"control\": [{\"VTOY_MENU_TIMEOUT\": \"0\"}]\r\n}\r\n"
                .to_vec(),
        ),
        ("utf16", b"\xFF\xFE{\x00}\x00".to_vec()),
        ("not-object", b"[{\"control\": []}]".to_vec()),
        ("syntax", b"{\"menu\": {\"timeout\": 5,}\n".to_vec()),
    ]);
    // Nesting just inside and just past the limit (brackets in strings do not count).
    let nest = |n: usize| {
        let mut s = String::from("{\"_x\": \"[[[{{{\", \"_deep\": ");
        s.push_str(&"[".repeat(n - 1));
        s.push_str(&"]".repeat(n - 1));
        s.push('}');
        s.into_bytes()
    };
    out.push(("nesting-32", nest(32)));
    out.push(("nesting-33", nest(33)));
    // More warnings than the merged configuration keeps.
    let mut many = String::from("{");
    for i in 0..40 {
        many.push_str(&format!("\"unknown_{i}\": {i}, "));
    }
    many.push_str("\"menu\": {\"timeout\": 1}}");
    out.push(("many-warnings", many.into_bytes()));
    // The Linux plugins in polyboot.json, and a pair where it replaces ventoy.json's.
    let linux_polyboot: &[u8] = include_bytes!(
        "../../../crates/polyboot/tests/fixtures/ventoy-config/linux_plugins.polyboot.json"
    );
    out.push(("linux-plugins-polyboot", linux_polyboot.to_vec()));
    out.push((
        "pair-linux-plugins",
        [
            linux_polyboot,
            b"\0",
            br#"{"persistence": [{"parent": "/ISO", "backend": ["/p/a.dat", "/p/b.dat"], "autosel": 0, "timeout": 3}],
"injection_legacy": [{"image": "/ISO/*.iso", "archive": "/i.tar.xz"}],
"dud": [{"parent": "/", "dud": ["/d1.iso", "/d2.rpm"]}, {"image": "/ISO/debian-live.iso", "dud": "/d3.img"}],
"conf_replace": [{"iso": "/ISO/*", "org": "/boot/grub/grub.cfg", "new": "/g.cfg"}, {"iso": "/ISO/debian-live.iso", "org": "\\BOOT\\GRUB\\GRUB.CFG", "new": "/h.cfg", "img": 1}]}"#,
        ]
        .concat(),
    ));
    // polyboot.json NUL ventoy.json.
    out.push(("pair-fixtures", [POLYBOOT_FIXTURE, b"\0", VENTOY_FIXTURE].concat()));
    out.push((
        "pair-small",
        br#"{"menu": {"timeout": 2}}"#
            .iter()
            .chain(b"\0")
            .chain(br#"{"control": [{"VTOY_DEFAULT_IMAGE": "/ISO/x.iso"}, {"VTOY_MENU_TIMEOUT": "9"}]}"#)
            .copied()
            .collect(),
    ));
    out
}
