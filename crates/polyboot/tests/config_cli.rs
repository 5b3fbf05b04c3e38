//! `polyboot config check | show | password`, run as the real binary.
//!
//! The fixture corpus (tests/fixtures/ventoy-config/): one ventoy.json per Ventoy plugin and
//! firmware-suffixed variant, written from Ventoy's plugin documentation, and malformed files
//! (truncated, wrong types, UTF-16, a byte order mark, not an object). `NAME.ventoy.json` (or
//! `NAME.polyboot.json`) is checked and the whole report compared with `NAME.expected.txt`,
//! which ends with the exit status. `POLYBOOT_BLESS=1 cargo test -p polyboot --test
//! config_cli` rewrites the expected files (review the diff).

mod common;

use common::Cli;
use polyboot_core::config::Password;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ventoy-config");

/// Run the binary: (exit code, stdout, stderr); a panic fails the test.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Cli::new().args(args).output();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!stderr.contains("panicked"), "polyboot {args:?} panicked:\n{stderr}");
    (out.status.code().expect("killed by a signal"), stdout, stderr)
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// `control.ventoy.json` → `control.expected.txt`.
fn expected_path(fixture: &Path) -> PathBuf {
    let name = fixture.file_name().unwrap().to_str().unwrap();
    let stem = name.split('.').next().unwrap();
    fixture.with_file_name(format!("{stem}.expected.txt"))
}

#[test]
fn every_fixture_gives_exactly_its_expected_report() {
    let bless = std::env::var_os("POLYBOOT_BLESS").is_some();
    let files = fixtures();
    assert!(files.len() >= 30, "{files:?}");
    let mut mismatched = Vec::new();
    for fixture in &files {
        let (code, out, err) = run(&["config", "check", fixture.to_str().unwrap()]);
        assert!(err.is_empty(), "{}: stderr {err}", fixture.display());
        let got = format!("{out}exit status: {code}\n");
        let expected = expected_path(fixture);
        if bless {
            std::fs::write(&expected, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected)
            .unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
        if got != want {
            mismatched.push(format!("{}:\n--- want\n{want}--- got\n{got}", fixture.display()));
        }
    }
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
    // No expected file without its fixture.
    for e in std::fs::read_dir(FIXTURES).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if let Some(stem) = name.strip_suffix(".expected.txt") {
            assert!(
                files.iter().any(|f| f
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(&format!("{stem}."))),
                "{name} has no fixture"
            );
        }
    }
}

/// The plugins the corpus covers, each with at least one fixture (plain or suffixed).
#[test]
fn the_corpus_covers_every_plugin_and_suffixed_variants() {
    let names: Vec<String> =
        fixtures().iter().map(|f| f.file_name().unwrap().to_str().unwrap().to_string()).collect();
    for plugin in [
        "control",
        "menu_alias",
        "menu_tip",
        "menu_class",
        "image_list",
        "image_blacklist",
        "password",
        "theme",
        "auto_install",
        "persistence",
        "injection",
        "conf_replace",
        "dud",
        "auto_memdisk",
        "custom_boot",
        "control_legacy",
        "control_uefi",
        "menu_alias_uefi",
        "menu_tip_legacy",
        "menu_class_uefi",
        "image_list_legacy",
        "theme_legacy",
        "password_uefi",
        "auto_install_uefi",
        "persistence_uefi",
        "injection_uefi",
        "conf_replace_uefi",
        "dud_uefi",
        "truncated",
        "wrong_types",
        "utf16",
        "bom",
    ] {
        let file = format!("{plugin}.ventoy.json");
        assert!(names.contains(&file), "no fixture {file}");
        let text = std::fs::read(Path::new(FIXTURES).join(&file)).unwrap();
        if !["truncated", "wrong_types", "utf16", "bom"].contains(&plugin) {
            let json: Value = serde_json::from_slice(&text).unwrap();
            assert!(json.get(plugin).is_some(), "{file} does not set {plugin}");
        }
    }
}

/// `--json` of every fixture: valid JSON, errors with line and column where the parser has
/// them, the same exit status as the text form; `config show` never fails otherwise.
#[test]
fn json_and_show_agree_with_the_text_report() {
    for fixture in fixtures() {
        let path = fixture.to_str().unwrap();
        let (code, out, err) = run(&["config", "check", path, "--json"]);
        assert!(err.is_empty(), "{path}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{path}: {e}"));
        let errors = report["errors"].as_array().unwrap();
        assert_eq!(code, i32::from(!errors.is_empty()), "{path}: {out}");
        for e in errors {
            assert_eq!(e["path"], "/ventoy/ventoy.json", "{path}");
            let message = e["message"].as_str().unwrap();
            if message.starts_with("line ") {
                assert!(e["line"].as_u64().unwrap() >= 1, "{path}: {e}");
                assert!(message.contains(&format!("column {}", e["column"])), "{path}: {e}");
            }
        }
        for firmware in ["uefi", "bios"] {
            assert!(report[firmware]["warnings"].is_array(), "{path}: {out}");
            assert_eq!(report[firmware]["missing"], serde_json::json!([]), "{path}: no drive");
        }
        for json in [false, true] {
            let mut args = vec!["config", "show", path];
            if json {
                args.push("--json");
            }
            let (show_code, out, err) = run(&args);
            assert_eq!(show_code, code, "{path}: {out}{err}");
        }
    }
}

#[test]
fn show_gives_every_setting_of_the_merged_configuration() {
    let control = format!("{FIXTURES}/control.ventoy.json");
    let (code, out, err) = run(&["config", "show", &control, "--json", "--firmware", "uefi"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v.get("bios").is_none(), "{out}");
    let c = &v["uefi"];
    assert_eq!(c["timeout_secs"], 10);
    assert_eq!(c["default_image"], "/ISO/debian-12.5.0-amd64-netinst.iso");
    assert_eq!((c["search_root"].as_str(), c["max_depth"].as_u64()), (Some("/ISO"), Some(64)));
    assert_eq!(c["menu_mode"], "tree");
    assert_eq!(c["hidden_kinds"], serde_json::json!(["EFI"]));
    assert_eq!(c["win11_bypass_requirements"], true);
    assert_eq!(c["warnings"].as_array().unwrap().len(), 1);
    for key in [
        "filter_dot_underscore",
        "sort_case_sensitive",
        "show_password_asterisks",
        "aliases",
        "tips",
        "tip_color",
        "classes",
        "image_list",
        "passwords",
        "theme",
        "verify_before_boot",
        "read_benchmark",
        "win11_bypass_nro",
        "auto_install",
    ] {
        assert!(c.get(key).is_some(), "show --json lacks {key}: {out}");
    }

    // Both files given: polyboot.json wins setting by setting; passwords by form only.
    let (code, out, err) = run(&[
        "config",
        "show",
        "--ventoy",
        &format!("{FIXTURES}/password.ventoy.json"),
        "--polyboot",
        &format!("{FIXTURES}/menu_legacy.polyboot.json"),
        "--firmware",
        "uefi",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("file: /polyboot/polyboot.json from menu_legacy.polyboot.json\nfile: /ventoy/ventoy.json from password.ventoy.json\nunder UEFI:\n"), "{out}");
    for line in [
        "  timeout: 5 s",
        "  default image: /ISO/a.iso",
        "  menu mode: tree",
        "  search root: /ISO",
        "    bootpwd: txt",
        "    isopwd: md5",
        "    menupwd parent /ISO/Windows: pbkdf2-sha256",
        "  verify before boot: /ISO/Windows",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
    }
    assert!(!out.contains("123456"), "passwords are never shown: {out}");
    let (code, _, err) = run(&["config", "show", "--ventoy", &control, &control]);
    assert_ne!(code, 0);
    assert!(err.contains("two files given as /ventoy/ventoy.json"), "{err}");
}

/// Hostile files made here: 10 MB of nesting (over the size limit: refused unread), 1 MB of
/// nesting (under it: refused at the 33rd bracket, the 32nd of line 2: 2 + 15 * 6 + 2), a
/// name that says nothing.
#[test]
fn huge_and_deep_files_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("nesting.ventoy.json");
    std::fs::write(&big, "[".repeat(10 << 20)).unwrap();
    let (code, out, err) = run(&["config", "check", big.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "error: /ventoy/ventoy.json: file too large (10485760 bytes, the limit is 1048576)\n"
        ),
        "{out}"
    );

    let deep = dir.path().join("deep-ventoy.json");
    let mut text = String::from("{\"control\":\n  ");
    text.push_str(&"[{\"a\":".repeat(170_000));
    std::fs::write(&deep, &text).unwrap();
    assert!(text.len() < 1 << 20);
    let (code, out, err) = run(&["config", "check", deep.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["errors"][0],
        serde_json::json!({"path": "/ventoy/ventoy.json", "line": 2, "column": 94,
            "message": "line 2, column 94: nested more than 32 levels deep"})
    );

    let other = dir.path().join("settings.json");
    std::fs::write(&other, "{}").unwrap();
    let (code, _, err) = run(&["config", "check", other.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("give it with --ventoy FILE or --polyboot FILE"), "{err}");
    let (code, out, err) =
        run(&["config", "check", "--polyboot", other.to_str().unwrap(), "--firmware", "uefi"]);
    assert_eq!((code, out.as_str()), (0, "file: /polyboot/polyboot.json from settings.json\nsummary: 0 errors, 0 warnings, 0 conflicts, 0 missing paths (no drive: paths not checked)\n"), "{err}");
}

fn password_from_stdin(input: &[u8], args: &[&str]) -> (bool, String, String) {
    let mut child = Cli::new()
        .args(["config", "password"])
        .args(args)
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn password_prints_a_pbkdf2_string_the_boot_manager_verifies() {
    let (ok, out, err) =
        password_from_stdin(b"s3cret pass\nsecond line ignored\n", &["--iterations", "1000"]);
    assert!(ok, "{err}");
    let line = out.strip_suffix('\n').unwrap();
    let parts: Vec<&str> = line.split('#').collect();
    assert_eq!(parts.len(), 4, "{line}");
    assert_eq!((parts[0], parts[1]), ("pbkdf2-sha256", "1000"));
    assert!(parts[2].len() == 32 && parts[3].len() == 64, "{line}");
    let parsed = Password::parse(line);
    assert!(parsed.verify("s3cret pass") && !parsed.verify("s3cret"), "{line}");
    // A new salt every time; the default iteration count; CRLF input.
    let (ok, again, _) = password_from_stdin(b"s3cret pass\r\n", &[]);
    assert!(ok);
    assert!(again.starts_with("pbkdf2-sha256#100000#") && again != out, "{again}");
    assert!(Password::parse(again.trim_end()).verify("s3cret pass"));

    for (input, args, why) in [
        (&b"\n"[..], &[][..], "the password is empty"),
        (&[b'x'; 65][..], &[][..], "longer than the 64 characters"),
        (&b"a\tb\n"[..], &[][..], "control characters"),
        (&b"x\n"[..], &["--iterations", "0"][..], "0 is not in 1..=2000000"),
        (&b"x\n"[..], &["--iterations", "2000001"][..], "2000001 is not in 1..=2000000"),
    ] {
        let (ok, out, err) = password_from_stdin(input, args);
        assert!(!ok && out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    let (ok, help, _) = common::run(&["config", "password", "--help"]);
    assert!(ok && help.contains("Examples:") && help.contains("--iterations"), "{help}");
}

fn add(drive: &str, dir: &Path, name: &str, data: &[u8], to: &str) {
    let host = dir.join("files").join(to.trim_start_matches('/')).join(name);
    std::fs::create_dir_all(host.parent().unwrap()).unwrap();
    std::fs::write(&host, data).unwrap();
    let (ok, out, err) = common::run(&["add", "-q", drive, host.to_str().unwrap(), "--to", to]);
    assert!(ok, "add {name}: {out}{err}");
}

/// A drive made by `polyboot install`, a few images and a ventoy.json whose aliases name one
/// present and one missing image: `config check` reports exactly the missing one, and each
/// image's effective settings.
#[test]
fn a_drive_is_checked_against_its_own_images() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("drive.img");
    let drive = img.to_str().unwrap();
    let (ok, _, err) = common::run(&["install", drive, "--size", "128M"]);
    assert!(ok, "{err}");
    let image = vec![0u8; 64 << 10];
    add(drive, dir.path(), "debian.iso", &image, "/ISO");
    add(drive, dir.path(), "win11.iso", &image, "/ISO/Windows");
    add(drive, dir.path(), "tool.img", &image, "/");
    add(drive, dir.path(), "unattend.xml", b"<unattend/>", "/ventoy/script");
    let ventoy = br#"{
        "control": [ { "VTOY_MENU_TIMEOUT": "5" }, { "VTOY_DEFAULT_IMAGE": "/ISO/debian.iso" } ],
        "menu_alias": [
            { "image": "/ISO/debian.iso", "alias": "Debian 12" },
            { "image": "/ISO/missing.iso", "alias": "Gone" }
        ],
        "menu_class": [ { "parent": "/ISO/Windows", "class": "windows" } ],
        "image_blacklist": [ "/tool.img" ],
        "password": { "menupwd": [ { "parent": "/ISO/Windows", "pwd": "md5#e10adc3949ba59abbe56e057f20f883e" } ] },
        "auto_install": [ { "parent": "/ISO/Windows", "template": "/ventoy/script/unattend.xml", "autosel": 1 } ]
    }"#;
    add(drive, dir.path(), "ventoy.json", ventoy, "/ventoy");

    let (code, out, err) = run(&["config", "check", drive, "--json", "--firmware", "uefi"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["files"],
        serde_json::json!([
            {"path": "/polyboot/polyboot.json", "source": "drive", "status": "absent"},
            {"path": "/ventoy/ventoy.json", "source": "drive", "status": "ok"},
        ])
    );
    let uefi = &v["uefi"];
    assert_eq!(
        uefi["missing"],
        serde_json::json!([{
            "setting": "menu_alias",
            "path": "/ISO/missing.iso",
            "message": "menu_alias: image /ISO/missing.iso is not on the drive",
        }]),
        "{out}"
    );
    assert_eq!(
        (uefi["warnings"].clone(), uefi["conflicts"].clone()),
        (serde_json::json!([]), serde_json::json!([])),
        "{out}"
    );
    let images = uefi["images"].as_array().unwrap();
    let paths: Vec<&str> = images.iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/ISO/debian.iso", "/ISO/Windows/win11.iso", "/tool.img"]);
    assert_eq!(
        images[0],
        serde_json::json!({
            "path": "/ISO/debian.iso", "kind": "ISO", "in_menu": true, "not_in_menu": null,
            "default": true, "alias": "Debian 12", "tip": null, "class": null, "password": null,
            "verify_before_boot": false, "auto_install_template": null, "auto_install_note": null,
            "auto_install": null, "persistence": null, "injection": null, "conf_replace": [],
            "dud": [],
        })
    );
    assert_eq!(
        images[1],
        serde_json::json!({
            "path": "/ISO/Windows/win11.iso", "kind": "ISO", "in_menu": true, "not_in_menu": null,
            "default": false, "alias": null, "tip": null, "class": "windows",
            "password": {"form": "md5", "source": "menupwd parent /ISO/Windows", "problem": null},
            "verify_before_boot": false,
            "auto_install_template": "/ventoy/script/unattend.xml", "auto_install_note": null,
            "auto_install": {
                "options": ["/ventoy/script/unattend.xml"], "autosel": 1, "timeout": null,
                "preselected": "/ventoy/script/unattend.xml",
            },
            "persistence": null, "injection": null, "conf_replace": [], "dud": [],
        })
    );
    assert_eq!(
        (images[2]["in_menu"].clone(), images[2]["not_in_menu"].clone()),
        (Value::from(false), Value::from("in image_blacklist"))
    );

    // The text form says the same; a ventoy.json from this machine replaces the drive's.
    let (code, out, err) = run(&["config", "check", drive]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "file: /polyboot/polyboot.json on the drive: none
file: /ventoy/ventoy.json on the drive
missing: menu_alias: image /ISO/missing.iso is not on the drive
image /ISO/debian.iso (ISO)
  in the menu
  the default image
  alias: Debian 12
image /ISO/Windows/win11.iso (ISO)
  in the menu
  class: windows
  password: md5 (menupwd parent /ISO/Windows)
  auto_install: /ventoy/script/unattend.xml (no menu)
image /tool.img (IMG)
  not in the menu: in image_blacklist
summary: 0 errors, 0 warnings, 0 conflicts, 1 missing path, 3 images
"
    );
    let local = dir.path().join("new-ventoy.json");
    std::fs::write(&local, br#"{"control": [{"VTOY_DEFAULT_SEARCH_ROOT": "/ISO/Windows"}], "menu_tip": {"tips": [{"dir": "/ISO/Linux", "tip": "x"}]}}"#).unwrap();
    let (code, out, err) = run(&["config", "check", drive, "--ventoy", local.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("file: /polyboot/polyboot.json on the drive: none\nfile: /ventoy/ventoy.json from new-ventoy.json\nmissing: menu_tip: directory /ISO/Linux is not on the drive\nimage /ISO/Windows/win11.iso (ISO)\n  in the menu\nsummary:"), "{out}");
}

/// Ventoy's Linux plugins on a drive: `config check` names every path that matches nothing
/// (images, directories, backends, archives, replacement files, driver disks), shows what
/// each image gets under each firmware, and `config show` lists the entries.
#[test]
fn linux_plugins_are_checked_against_the_drive() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("drive.img");
    let drive = img.to_str().unwrap();
    let (ok, _, err) = common::run(&["install", drive, "--size", "128M"]);
    assert!(ok, "{err}");
    let image = vec![0u8; 64 << 10];
    add(drive, dir.path(), "debian-live.iso", &image, "/ISO");
    add(drive, dir.path(), "fedora.iso", &image, "/ISO/Linux");
    add(drive, dir.path(), "a.dat", b"backend", "/persistence");
    add(drive, dir.path(), "inject.tar.gz", b"archive", "/ventoy");
    add(drive, dir.path(), "grub.cfg", b"menuentry", "/ventoy");
    add(drive, dir.path(), "dd.iso", b"driver disk", "/ventoy");
    add(drive, dir.path(), "ks.cfg", b"kickstart", "/ventoy");
    let ventoy = br#"{
        "persistence": [
            { "image": "/ISO/debian-live.iso", "backend": ["/persistence/a.dat", "/persistence/b.dat"], "autosel": 1, "timeout": 10 },
            { "parent": "/ISO/Gone", "backend": "/persistence/a.dat" }
        ],
        "persistence_uefi": [
            { "image": "/ISO/debian-live.iso", "backend": "/persistence/a.dat", "autosel": 1 }
        ],
        "auto_install": [ { "parent": "/ISO/Linux", "template": ["/ventoy/ks.cfg", "/ventoy/ks2.cfg"] } ],
        "injection": [ { "parent": "/ISO", "archive": "/ventoy/inject.tar.gz" } ],
        "conf_replace": [
            { "iso": "/ISO/debian-live.iso", "org": "/boot/grub/grub.cfg", "new": "/ventoy/grub.cfg" },
            { "iso": "/ISO/ubuntu*.iso", "org": "/boot/grub/grub.cfg", "new": "/ventoy/ubuntu.cfg" }
        ],
        "dud": [ { "image": "/ISO/Linux/fedora.iso", "dud": ["/ventoy/dd.iso", "/ventoy/dd2.iso"] } ]
    }"#;
    add(drive, dir.path(), "ventoy.json", ventoy, "/ventoy");

    let (code, out, err) = run(&["config", "check", drive]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "file: /polyboot/polyboot.json on the drive: none
file: /ventoy/ventoy.json on the drive
missing: auto_install: template /ventoy/ks2.cfg is not on the drive
missing: conf_replace: iso /ISO/ubuntu*.iso matches no image on the drive
missing: conf_replace: new /ventoy/ubuntu.cfg is not on the drive
missing: dud: file /ventoy/dd2.iso is not on the drive
missing [BIOS only]: persistence: backend /persistence/b.dat is not on the drive
missing [BIOS only]: persistence: parent /ISO/Gone is not on the drive
image /ISO/debian-live.iso (ISO) [UEFI]
  in the menu
  persistence: /persistence/a.dat (no menu)
  injection: /ventoy/inject.tar.gz
  conf_replace: /boot/grub/grub.cfg served from /ventoy/grub.cfg
image /ISO/debian-live.iso (ISO) [BIOS]
  in the menu
  persistence: /persistence/a.dat, /persistence/b.dat: a menu for 10 s, then /persistence/a.dat
  injection: /ventoy/inject.tar.gz
  conf_replace: /boot/grub/grub.cfg served from /ventoy/grub.cfg
image /ISO/Linux/fedora.iso (ISO)
  in the menu
  auto_install: /ventoy/ks.cfg, /ventoy/ks2.cfg: a menu waits for a choice
  injection: /ventoy/inject.tar.gz
  dud: /ventoy/dd.iso, /ventoy/dd2.iso
summary: 0 errors, 0 warnings, 0 conflicts, 6 missing paths, 2 images
"
    );
    let (code, out, err) = run(&["config", "check", drive, "--json", "--firmware", "bios"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let debian = &v["bios"]["images"][0];
    assert_eq!(
        debian["persistence"],
        serde_json::json!({
            "options": ["/persistence/a.dat", "/persistence/b.dat"], "autosel": 1, "timeout": 10,
            "preselected": "/persistence/a.dat",
        })
    );
    assert_eq!(
        debian["conf_replace"],
        serde_json::json!([{"org": "/boot/grub/grub.cfg", "new": "/ventoy/grub.cfg"}])
    );
    let fedora = &v["bios"]["images"][1];
    assert_eq!(fedora["dud"], serde_json::json!(["/ventoy/dd.iso", "/ventoy/dd2.iso"]));
    assert_eq!(fedora["auto_install"]["preselected"], Value::Null);
    assert_eq!(fedora["injection"], "/ventoy/inject.tar.gz");
    let missing = v["bios"]["missing"].as_array().unwrap();
    assert_eq!(missing[1]["setting"], "persistence");
    assert_eq!(missing[1]["path"], "/persistence/b.dat");

    // config show lists the entries, under each firmware.
    let (code, out, err) = run(&["config", "show", drive, "--firmware", "bios"]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "  auto_install:",
        "    parent /ISO/Linux: /ventoy/ks.cfg, /ventoy/ks2.cfg (no autosel)",
        "  persistence:",
        "    image /ISO/debian-live.iso: /persistence/a.dat, /persistence/b.dat (autosel 1, timeout 10)",
        "    parent /ISO/Gone: /persistence/a.dat (no autosel)",
        "  injection:",
        "    parent /ISO: /ventoy/inject.tar.gz",
        "  conf_replace:",
        "    iso /ISO/debian-live.iso: /boot/grub/grub.cfg served from /ventoy/grub.cfg",
        "  dud:",
        "    image /ISO/Linux/fedora.iso: /ventoy/dd.iso, /ventoy/dd2.iso",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
    }
    let (code, out, _) = run(&["config", "show", drive, "--json", "--firmware", "uefi"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["uefi"]["persistence"],
        serde_json::json!([{"image": "/ISO/debian-live.iso", "backends": ["/persistence/a.dat"], "autosel": 1, "timeout": null}])
    );
    assert_eq!(
        v["uefi"]["dud"][0]["files"],
        serde_json::json!(["/ventoy/dd.iso", "/ventoy/dd2.iso"])
    );
    assert_eq!(v["uefi"]["conf_replace"][1]["iso"], "/ISO/ubuntu*.iso");
}
