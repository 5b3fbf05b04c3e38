//! `polyboot config check | show | password`: the boot configuration (ventoy.json,
//! polyboot.json) read with the boot manager's own parser ([`config::load_all`]), checked by
//! core's [`report::analyze`] against the drive's images (core's scan, with the
//! configuration's own scan options), and printed. Only I/O and printing live here.

use crate::cli::{ConfigFirmwareArg, ConfigPasswordArgs, ConfigSourceArgs};
use crate::drive::Drive;
use anyhow::{bail, Context, Result};
use polyboot_core::config::auto_install::TemplateChoice;
use polyboot_core::config::menu_plugins::DisplayMode;
use polyboot_core::config::password::kind_key;
use polyboot_core::config::report::{self, Finding, ImageReport};
use polyboot_core::config::{
    self, BootConfig, ChoiceEntry, Choices, ClassTarget, ConfigError, FileError, Firmware,
    MenuMode, Password, PasswordTarget, POLYBOOT_JSON, VENTOY_JSON,
};
use polyboot_core::menu::{self, ImageKind};
use serde::Serialize;
use serde_json::{json, Value};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One of the two configuration files and where its bytes came from.
struct Source {
    /// Its path on a drive: [`POLYBOOT_JSON`] or [`VENTOY_JSON`].
    role: &'static str,
    /// `drive` or the file on this machine as given.
    origin: String,
    bytes: Bytes,
}

enum Bytes {
    /// Not on the drive.
    Absent,
    Data(Vec<u8>),
    /// Over [`config::MAX_CONFIG_BYTES`]: not read (the boot manager does not read it either).
    TooLarge(u64),
}

/// What the configuration is read from.
struct Loaded {
    drive: Option<Drive>,
    sources: Vec<Source>,
}

impl Loaded {
    fn bytes(&self, role: &str) -> Option<&[u8]> {
        self.sources.iter().find(|s| s.role == role).and_then(|s| match &s.bytes {
            Bytes::Data(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    /// The merged configuration under `firmware` and the files that could not be used.
    fn config(&self, firmware: Firmware) -> (BootConfig, Vec<FileError>) {
        let (config, mut errors) =
            config::load_all(self.bytes(POLYBOOT_JSON), self.bytes(VENTOY_JSON), firmware);
        for s in &self.sources {
            if let Bytes::TooLarge(size) = s.bytes {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                let error = ConfigError::TooLarge { size, limit: config::MAX_CONFIG_BYTES };
                errors.push(FileError { path: s.role, error });
            }
        }
        errors.sort_by_key(|e| e.path != POLYBOOT_JSON);
        (config, errors)
    }
}

/// Which role a file on this machine plays, from its name.
fn role_by_name(path: &Path) -> Result<&'static str> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    match (name.contains("ventoy"), name.contains("polyboot")) {
        (true, false) => Ok(VENTOY_JSON),
        (false, true) => Ok(POLYBOOT_JSON),
        _ => bail!(
            "{}: cannot tell whether this is a ventoy.json or a polyboot.json from its name; \
             give it with --ventoy FILE or --polyboot FILE",
            path.display()
        ),
    }
}

/// A `.json` file, or one named after either configuration file.
fn looks_like_json(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    name.ends_with(".json") || name.contains("ventoy") || name.contains("polyboot")
}

fn read_host(role: &'static str, path: &Path) -> Result<Source> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    let bytes = if meta.len() > config::MAX_CONFIG_BYTES as u64 {
        Bytes::TooLarge(meta.len())
    } else {
        Bytes::Data(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
    };
    Ok(Source { role, origin: path.display().to_string(), bytes })
}

fn load(args: &ConfigSourceArgs) -> Result<Loaded> {
    let mut given: Vec<(&'static str, PathBuf)> = Vec::new();
    let mut drive = None;
    if let Some(target) = &args.target {
        match Drive::open(target, false) {
            Ok(d) => drive = Some(d),
            Err(_) if target.is_file() && looks_like_json(target) => {
                given.push((role_by_name(target)?, target.clone()));
            }
            Err(e) => {
                return Err(e.context(
                    "TARGET must be a polyboot drive, a drive image, or a ventoy.json / \
                     polyboot.json file",
                ))
            }
        }
    }
    for (role, file) in [(VENTOY_JSON, &args.ventoy), (POLYBOOT_JSON, &args.polyboot)] {
        if let Some(file) = file {
            if given.iter().any(|(r, _)| *r == role) {
                bail!("two files given as {role}");
            }
            given.push((role, file.clone()));
        }
    }
    let mut sources = Vec::new();
    for role in [POLYBOOT_JSON, VENTOY_JSON] {
        if let Some((_, path)) = given.iter().find(|(r, _)| *r == role) {
            sources.push(read_host(role, path)?);
        } else if let Some(drive) = &mut drive {
            let mut fs = drive.data()?;
            let bytes = match fs.metadata(role) {
                Ok(m) if m.is_dir() => Bytes::Absent,
                Ok(m) if m.size > config::MAX_CONFIG_BYTES as u64 => Bytes::TooLarge(m.size),
                Ok(_) => Bytes::Data(
                    fs.read_to_vec(role).map_err(|e| anyhow::anyhow!("reading {role}: {e}"))?,
                ),
                Err(_) => Bytes::Absent,
            };
            sources.push(Source { role, origin: String::from("drive"), bytes });
        }
    }
    Ok(Loaded { drive, sources })
}

fn firmwares(arg: ConfigFirmwareArg) -> Vec<Firmware> {
    match arg {
        ConfigFirmwareArg::Uefi => vec![Firmware::Uefi],
        ConfigFirmwareArg::Bios => vec![Firmware::Bios],
        ConfigFirmwareArg::Both => vec![Firmware::Uefi, Firmware::Bios],
    }
}

fn firmware_key(f: Firmware) -> &'static str {
    match f {
        Firmware::Uefi => "uefi",
        Firmware::Bios => "bios",
    }
}

fn firmware_name(f: Firmware) -> &'static str {
    match f {
        Firmware::Uefi => "UEFI",
        Firmware::Bios => "BIOS",
    }
}

// ------------------------------------------------------------------------------------------
// JSON shapes shared by check and show
// ------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct FileOut {
    /// `/ventoy/ventoy.json` or `/polyboot/polyboot.json`.
    path: &'static str,
    /// `drive`, or the file on this machine.
    source: String,
    /// `ok`, `absent` or `error`.
    status: &'static str,
}

#[derive(Serialize)]
struct ErrorOut {
    path: &'static str,
    message: String,
    line: Option<usize>,
    column: Option<usize>,
}

fn error_out(e: &FileError) -> ErrorOut {
    let (line, column) = match &e.error {
        ConfigError::Syntax { line, column, .. } | ConfigError::TooDeep { line, column } => {
            (Some(*line), Some(*column))
        }
        _ => None.unzip(),
    };
    ErrorOut { path: e.path, message: e.error.to_string(), line, column }
}

fn files_out(loaded: &Loaded, errors: &[FileError]) -> Vec<FileOut> {
    loaded
        .sources
        .iter()
        .map(|s| FileOut {
            path: s.role,
            source: s.origin.clone(),
            status: if errors.iter().any(|e| e.path == s.role) {
                "error"
            } else if matches!(s.bytes, Bytes::Absent) {
                "absent"
            } else {
                "ok"
            },
        })
        .collect()
}

/// The file lines both commands start with, and the errors.
fn print_files(loaded: &Loaded, errors: &[FileError], out: &mut dyn Write) -> Result<()> {
    for (s, f) in loaded.sources.iter().zip(files_out(loaded, errors)) {
        let from = if s.origin == "drive" {
            String::from("on the drive")
        } else {
            // The name only: the same file reads the same from any directory.
            let name = Path::new(&s.origin).file_name().map(|n| n.to_string_lossy().into_owned());
            format!("from {}", name.unwrap_or_else(|| s.origin.clone()))
        };
        let status = match f.status {
            "absent" => ": none",
            "error" => ": not used",
            _ => "",
        };
        writeln!(out, "file: {} {from}{status}", s.role)?;
    }
    for e in errors {
        writeln!(out, "error: {e}")?;
    }
    Ok(())
}

/// Lines of each firmware, merged: a line every firmware has once, others marked.
fn merged_lines(per_firmware: &[(Firmware, Vec<String>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (firmware, lines)) in per_firmware.iter().enumerate() {
        for line in lines {
            let everywhere = per_firmware.iter().all(|(_, l)| l.contains(line));
            if everywhere {
                if i == 0 {
                    out.push(line.clone());
                }
            } else {
                let (kind, rest) = line.split_once(": ").unwrap_or(("", line));
                out.push(format!("{kind} [{} only]: {rest}", firmware_name(*firmware)));
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// config check
// ------------------------------------------------------------------------------------------

/// `polyboot config check`.
pub fn check(args: &ConfigSourceArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let mut loaded = load(args)?;
    let mut errors = Vec::new();
    let mut results = Vec::new();
    for firmware in firmwares(args.firmware) {
        let (config, file_errors) = loaded.config(firmware);
        errors = file_errors;
        let report = match &mut loaded.drive {
            Some(drive) => {
                let mut fs = drive.data()?;
                let scan = menu::scan(&mut fs, &config.scan_options());
                let mut lookup = |p: &str| fs.metadata(p).ok().map(|m| m.is_dir());
                let view = report::Drive { images: &scan.images, lookup: &mut lookup };
                report::analyze(&config, Some(view))
            }
            None => report::analyze(&config, None),
        };
        results.push((firmware, config, report));
    }
    if args.json {
        let mut value = json!({
            "files": files_out(&loaded, &errors),
            "errors": errors.iter().map(error_out).collect::<Vec<_>>(),
        });
        for (firmware, config, report) in &results {
            value[firmware_key(*firmware)] = json!({
                "warnings": config.warnings,
                "conflicts": report.conflicts.iter().map(finding_out).collect::<Vec<_>>(),
                "missing": report.missing.iter().map(finding_out).collect::<Vec<_>>(),
                "images": report.images.iter().map(image_out).collect::<Vec<_>>(),
            });
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        print_check(&loaded, &errors, &results, out)?;
    }
    Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn finding_out(f: &Finding) -> Value {
    json!({ "setting": f.setting, "path": f.path, "message": f.message })
}

fn image_out(i: &ImageReport) -> Value {
    let (template, template_note) = match &i.template {
        TemplateChoice::NotConfigured => (None, None),
        TemplateChoice::Template(t) => (Some(t.as_str()), None),
        TemplateChoice::NotUsed(why) => (None, Some(why.as_str())),
    };
    json!({
        "path": i.path,
        "kind": i.kind.label(),
        "in_menu": i.menu.is_ok(),
        "not_in_menu": i.menu.err(),
        "default": i.default,
        "alias": i.alias,
        "tip": i.tip,
        "class": i.class,
        "password": i.password.as_ref().map(|p| json!({
            "form": p.form, "source": p.source, "problem": p.problem,
        })),
        "verify_before_boot": i.verify_before_boot,
        "auto_install_template": template,
        "auto_install_note": template_note,
        "auto_install": i.templates.as_ref().map(choices_json),
        "persistence": i.persistence.as_ref().map(choices_json),
        "injection": i.injection,
        "conf_replace": i.conf_replace.iter().map(|r| json!({ "org": r.org, "new": r.new })).collect::<Vec<_>>(),
        "dud": i.dud,
    })
}

fn choices_json(c: &Choices) -> Value {
    json!({
        "options": c.options,
        "autosel": c.autosel,
        "timeout": c.timeout,
        "preselected": c.preselected().map(|i| &c.options[i]),
    })
}

/// The lines describing one image's settings (after its heading).
fn image_lines(i: &ImageReport) -> Vec<String> {
    let mut lines = Vec::new();
    lines.push(match i.menu {
        Ok(_) => String::from("in the menu"),
        Err(why) => format!("not in the menu: {why}"),
    });
    if i.default {
        lines.push(String::from("the default image"));
    }
    if let Some(a) = &i.alias {
        lines.push(format!("alias: {a}"));
    }
    if let Some(t) = &i.tip {
        lines.push(format!("tip: {t}"));
    }
    if let Some(c) = &i.class {
        lines.push(format!("class: {c}"));
    }
    if let Some(p) = &i.password {
        match &p.problem {
            None => lines.push(format!("password: {} ({})", p.form, p.source)),
            Some(why) => lines.push(format!("password: malformed ({}): {why}; locked", p.source)),
        }
    }
    if i.verify_before_boot {
        lines.push(String::from("verify before boot: its .sha256 must match"));
    }
    if let Some(c) = &i.templates {
        // Windows Setup gets the template chosen in the same menu as a Linux installer.
        lines.push(format!("auto_install: {}", c.describe("without a template")));
    }
    if let Some(c) = &i.persistence {
        lines.push(format!("persistence: {}", c.describe("without persistence")));
    }
    if let Some(a) = &i.injection {
        lines.push(format!("injection: {a}"));
    }
    for r in &i.conf_replace {
        lines.push(format!("conf_replace: {} served from {}", r.org, r.new));
    }
    if !i.dud.is_empty() {
        lines.push(format!("dud: {}", i.dud.join(", ")));
    }
    lines
}

/// `1 warning`, `2 warnings`.
fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

type FirmwareResult = (Firmware, BootConfig, report::Report);

fn print_check(
    loaded: &Loaded,
    errors: &[FileError],
    results: &[FirmwareResult],
    out: &mut dyn Write,
) -> Result<()> {
    print_files(loaded, errors, out)?;
    let lines = |f: &dyn Fn(&FirmwareResult) -> Vec<String>| -> Vec<(Firmware, Vec<String>)> {
        results.iter().map(|r| (r.0, f(r))).collect()
    };
    let mut findings = merged_lines(&lines(&|(_, config, _)| {
        config.warnings.iter().map(|w| format!("warning: {w}")).collect()
    }));
    findings.extend(merged_lines(&lines(&|(_, _, report)| {
        report.conflicts.iter().map(|c| format!("conflict: {}", c.message)).collect()
    })));
    findings.extend(merged_lines(&lines(&|(_, _, report)| {
        report.missing.iter().map(|m| format!("missing: {}", m.message)).collect()
    })));
    for line in &findings {
        writeln!(out, "{line}")?;
    }
    // Images: one block when every firmware sees the same, else one per firmware.
    if let Some((_, _, first)) = results.first() {
        for (n, image) in first.images.iter().enumerate() {
            let same = results.iter().all(|(_, _, r)| r.images.get(n) == Some(image));
            if same {
                writeln!(out, "image {} ({})", image.path, image.kind.label())?;
                for l in image_lines(image) {
                    writeln!(out, "  {l}")?;
                }
            } else {
                for (firmware, _, r) in results {
                    if let Some(image) = r.images.get(n) {
                        let name = firmware_name(*firmware);
                        writeln!(out, "image {} ({}) [{name}]", image.path, image.kind.label())?;
                        for l in image_lines(image) {
                            writeln!(out, "  {l}")?;
                        }
                    }
                }
            }
        }
    }
    let count = |prefix: &str| findings.iter().filter(|l| l.starts_with(prefix)).count();
    writeln!(
        out,
        "summary: {}, {}, {}, {}{}",
        plural(errors.len(), "error"),
        plural(count("warning"), "warning"),
        plural(count("conflict"), "conflict"),
        plural(count("missing"), "missing path"),
        match loaded.drive {
            Some(_) => {
                format!(", {}", plural(results.first().map_or(0, |r| r.2.images.len()), "image"))
            }
            None => String::from(" (no drive: paths not checked)"),
        }
    )?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// config show
// ------------------------------------------------------------------------------------------

/// `polyboot config show`.
pub fn show(args: &ConfigSourceArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let loaded = load(args)?;
    let mut errors = Vec::new();
    let mut configs = Vec::new();
    for firmware in firmwares(args.firmware) {
        let (config, file_errors) = loaded.config(firmware);
        errors = file_errors;
        configs.push((firmware, config));
    }
    if args.json {
        let mut value = json!({
            "files": files_out(&loaded, &errors),
            "errors": errors.iter().map(error_out).collect::<Vec<_>>(),
        });
        for (firmware, config) in &configs {
            value[firmware_key(*firmware)] = config_json(config);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        print_files(&loaded, &errors, out)?;
        let all_same = configs.windows(2).all(|w| w[0].1 == w[1].1);
        for (i, (firmware, config)) in configs.iter().enumerate() {
            if all_same && i > 0 {
                break;
            }
            let names: Vec<&str> = configs.iter().map(|(f, _)| firmware_name(*f)).collect();
            let heading =
                if all_same { names.join(" and ") } else { firmware_name(*firmware).into() };
            writeln!(out, "under {heading}:")?;
            for line in config_lines(config) {
                writeln!(out, "  {line}")?;
            }
        }
    }
    Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn menu_mode(m: MenuMode) -> &'static str {
    match m {
        MenuMode::List => "list",
        MenuMode::Tree => "tree",
    }
}

fn display_mode(m: DisplayMode) -> &'static str {
    match m {
        DisplayMode::Gui => "GUI (shown as text)",
        DisplayMode::Cli => "CLI",
        DisplayMode::Serial => "serial",
        DisplayMode::SerialConsole => "serial_console",
    }
}

fn class_target(t: &ClassTarget) -> (&'static str, &str) {
    match t {
        ClassTarget::Key(k) => ("key", k),
        ClassTarget::Parent(p) => ("parent", p),
        ClassTarget::Dir(d) => ("dir", d),
    }
}

fn password_target(t: &PasswordTarget) -> (&'static str, &str) {
    match t {
        PasswordTarget::File(p) => ("file", p),
        PasswordTarget::Parent(p) => ("parent", p),
    }
}

/// A password for people: its form, never its text.
fn password_text(p: &Password) -> String {
    match p.problem() {
        Some(why) => format!("malformed ({why}): nothing it protects can be unlocked"),
        None => p.form().to_string(),
    }
}

fn password_json(p: &Password) -> Value {
    json!({ "form": p.form(), "problem": p.problem() })
}

fn kinds_text(kinds: &[ImageKind]) -> String {
    if kinds.is_empty() {
        return String::from("none");
    }
    kinds.iter().map(|k| k.label()).collect::<Vec<_>>().join(", ")
}

fn config_lines(c: &BootConfig) -> Vec<String> {
    let mut l = Vec::new();
    l.push(match c.timeout_secs {
        Some(s) => format!("timeout: {s} s"),
        None => String::from("timeout: none (the menu waits for a key)"),
    });
    l.push(format!("default image: {}", c.default_image.as_deref().unwrap_or("none")));
    l.push(format!("search root: {}", c.search_root));
    l.push(format!("max depth: {}", c.max_depth));
    l.push(format!("skip ._* files: {}", yes_no(c.filter_dot_underscore)));
    l.push(format!("menu mode: {}", menu_mode(c.menu_mode)));
    l.push(format!(
        "sort: {}",
        if c.sort_case_sensitive {
            "by byte order (case-sensitive)"
        } else {
            "natural, ignoring case"
        }
    ));
    l.push(format!("password asterisks: {}", yes_no(c.show_password_asterisks)));
    l.push(format!("hidden kinds: {}", kinds_text(&c.hidden_kinds)));
    for (name, texts) in [("aliases", &c.aliases), ("tips", &c.tips)] {
        if texts.is_empty() {
            l.push(format!("{name}: none"));
        } else {
            l.push(format!("{name}:"));
            for (is_dir, path, text) in texts.entries() {
                l.push(format!("  {} {path}: {text}", if is_dir { "dir" } else { "image" }));
            }
        }
    }
    l.push(format!("tip colour: {}", c.tip_color.map_or("default", |t| t.name())));
    if c.classes.0.is_empty() {
        l.push(String::from("classes: none"));
    } else {
        l.push(String::from("classes:"));
        for (target, class) in &c.classes.0 {
            let (what, at) = class_target(target);
            l.push(format!("  {what} {at}: {class}"));
        }
    }
    l.push(match &c.image_list {
        None => String::from("image list: none (every image)"),
        Some(list) => format!(
            "{}: {}{}",
            if list.blacklist { "image blacklist" } else { "image list" },
            if list.patterns.is_empty() {
                String::from("(empty)")
            } else {
                list.patterns.join(", ")
            },
            match &list.ignored_blacklist {
                Some(b) => format!(" (image_blacklist ignored: {})", b.join(", ")),
                None => String::new(),
            }
        ),
    });
    let p = &c.passwords;
    if p.boot.is_none() && p.by_kind.is_empty() && p.menu.is_empty() {
        l.push(String::from("passwords: none"));
    } else {
        l.push(String::from("passwords:"));
        if let Some(b) = &p.boot {
            l.push(format!("  bootpwd: {}", password_text(b)));
        }
        let mut seen = Vec::new();
        for (kind, pwd) in &p.by_kind {
            let key = kind_key(*kind);
            if !seen.contains(&key) {
                seen.push(key);
                l.push(format!("  {key}: {}", password_text(pwd)));
            }
        }
        for (target, pwd) in &p.menu {
            let (what, at) = password_target(target);
            l.push(format!("  menupwd {what} {at}: {}", password_text(pwd)));
        }
    }
    let t = &c.theme;
    l.push(format!(
        "theme: display mode {}, resolution {}, title colour {}",
        t.display_mode.map_or("default", display_mode),
        t.resolution.map_or(String::from("default"), |(w, h)| format!("{w}x{h}")),
        t.title_color.map_or("default", |c| c.name())
    ));
    let v = &c.verify_before_boot;
    l.push(format!(
        "verify before boot: {}",
        if v.all {
            String::from("every image")
        } else if v.paths.is_empty() {
            String::from("none")
        } else {
            v.paths.join(", ")
        }
    ));
    l.push(format!("read benchmark: {}", c.read_benchmark.as_deref().unwrap_or("none")));
    l.push(format!(
        "windows: bypass requirements {}, bypass NRO {}",
        yes_no(c.win11_bypass_requirements),
        yes_no(c.win11_bypass_nro)
    ));
    choice_entries_lines(&mut l, "auto_install", &c.auto_install);
    choice_entries_lines(&mut l, "persistence", &c.persistence);
    if c.injection.is_empty() {
        l.push(String::from("injection: none"));
    } else {
        l.push(String::from("injection:"));
        for e in &c.injection {
            let (what, at) = e.target.describe();
            l.push(format!("  {what} {at}: {}", e.archive));
        }
    }
    if c.conf_replace.is_empty() {
        l.push(String::from("conf_replace: none"));
    } else {
        l.push(String::from("conf_replace:"));
        for e in &c.conf_replace {
            l.push(format!("  iso {}: {} served from {}", e.iso, e.org, e.new));
        }
    }
    if c.dud.is_empty() {
        l.push(String::from("dud: none"));
    } else {
        l.push(String::from("dud:"));
        for e in &c.dud {
            let (what, at) = e.target.describe();
            l.push(format!("  {what} {at}: {}", e.files.join(", ")));
        }
    }
    if c.warnings.is_empty() {
        l.push(String::from("warnings: none"));
    } else {
        l.push(String::from("warnings:"));
        l.extend(c.warnings.iter().map(|w| format!("  {w}")));
    }
    l
}

/// `auto_install` / `persistence` entries for `config show`.
fn choice_entries_lines(l: &mut Vec<String>, name: &str, entries: &[ChoiceEntry]) {
    if entries.is_empty() {
        l.push(format!("{name}: none"));
        return;
    }
    l.push(format!("{name}:"));
    for e in entries {
        let (what, at) = e.target.describe();
        let autosel = e.autosel.map_or(String::from("no autosel"), |n| format!("autosel {n}"));
        let timeout = e.timeout.map(|t| format!(", timeout {t}")).unwrap_or_default();
        l.push(format!("  {what} {at}: {} ({autosel}{timeout})", e.options.join(", ")));
    }
}

fn choice_entries_json(entries: &[ChoiceEntry], options: &str) -> Vec<Value> {
    entries
        .iter()
        .map(|e| {
            let (what, at) = e.target.describe();
            json!({ what: at, options: e.options, "autosel": e.autosel, "timeout": e.timeout })
        })
        .collect()
}

fn config_json(c: &BootConfig) -> Value {
    let texts = |t: &config::PathTexts| -> Vec<Value> {
        t.entries()
            .map(|(is_dir, path, text)| {
                json!({ if is_dir { "dir" } else { "image" }: path, "text": text })
            })
            .collect()
    };
    let mut by_kind = serde_json::Map::new();
    for (kind, pwd) in &c.passwords.by_kind {
        by_kind.entry(kind_key(*kind)).or_insert_with(|| password_json(pwd));
    }
    json!({
        "timeout_secs": c.timeout_secs,
        "default_image": c.default_image,
        "search_root": c.search_root,
        "max_depth": c.max_depth,
        "filter_dot_underscore": c.filter_dot_underscore,
        "menu_mode": menu_mode(c.menu_mode),
        "sort_case_sensitive": c.sort_case_sensitive,
        "show_password_asterisks": c.show_password_asterisks,
        "hidden_kinds": c.hidden_kinds.iter().map(|k| k.label()).collect::<Vec<_>>(),
        "aliases": texts(&c.aliases),
        "tips": texts(&c.tips),
        "tip_color": c.tip_color.map(|t| t.name()),
        "classes": c.classes.0.iter().map(|(t, class)| {
            let (what, at) = class_target(t);
            json!({ what: at, "class": class })
        }).collect::<Vec<_>>(),
        "image_list": c.image_list.as_ref().map(|l| json!({
            "blacklist": l.blacklist,
            "patterns": l.patterns,
            "ignored_blacklist": l.ignored_blacklist,
        })),
        "passwords": {
            "bootpwd": c.passwords.boot.as_ref().map(password_json),
            "by_kind": by_kind,
            "menupwd": c.passwords.menu.iter().map(|(t, pwd)| {
                let (what, at) = password_target(t);
                json!({ what: at, "form": pwd.form(), "problem": pwd.problem() })
            }).collect::<Vec<_>>(),
        },
        "theme": {
            "display_mode": c.theme.display_mode.map(display_mode),
            "resolution": c.theme.resolution.map(|(w, h)| format!("{w}x{h}")),
            "title_color": c.theme.title_color.map(|t| t.name()),
        },
        "verify_before_boot": { "all": c.verify_before_boot.all, "paths": c.verify_before_boot.paths },
        "read_benchmark": c.read_benchmark,
        "win11_bypass_requirements": c.win11_bypass_requirements,
        "win11_bypass_nro": c.win11_bypass_nro,
        "auto_install": choice_entries_json(&c.auto_install, "templates"),
        "persistence": choice_entries_json(&c.persistence, "backends"),
        "injection": c.injection.iter().map(|e| {
            let (what, at) = e.target.describe();
            json!({ what: at, "archive": e.archive })
        }).collect::<Vec<_>>(),
        "conf_replace": c.conf_replace.iter().map(|e| {
            json!({ "iso": e.iso, "org": e.org, "new": e.new })
        }).collect::<Vec<_>>(),
        "dud": c.dud.iter().map(|e| {
            let (what, at) = e.target.describe();
            json!({ what: at, "files": e.files })
        }).collect::<Vec<_>>(),
        "warnings": c.warnings,
    })
}

// ------------------------------------------------------------------------------------------
// config password
// ------------------------------------------------------------------------------------------

/// `polyboot config password`: the stored form of a password read from the terminal (twice,
/// without echo) or from standard input's first line.
pub fn password(args: &ConfigPasswordArgs, out: &mut dyn Write) -> Result<()> {
    let stdin = std::io::stdin();
    let typed = if stdin.is_terminal() {
        let first = prompt_hidden("Password: ")?;
        let again = prompt_hidden("Again: ")?;
        if first != again {
            bail!("the two passwords differ; nothing printed");
        }
        first
    } else {
        let mut text = String::new();
        stdin
            .lock()
            .take(64 * 1024)
            .read_to_string(&mut text)
            .context("reading the password from standard input (UTF-8 text)")?;
        text.split('\n').next().unwrap_or("").trim_end_matches('\r').to_string()
    };
    check_password(&typed)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no random salt: {e}"))?;
    writeln!(out, "{}", Password::generate(&typed, &salt, args.iterations))?;
    if stdin.is_terminal() {
        eprintln!(
            "put it in ventoy.json's password plugin, e.g. \"password\": {{ \"bootpwd\": \"pbkdf2-sha256#...\" }} \
             (only polyboot reads this form)"
        );
    }
    Ok(())
}

/// Refuse what the boot manager's prompt could never match.
fn check_password(p: &str) -> Result<()> {
    let max = config::password::MAX_PASSWORD_CHARS;
    if p.is_empty() {
        bail!("the password is empty");
    }
    if p.chars().count() > max {
        bail!("the password is longer than the {max} characters the boot menu's prompt takes");
    }
    if p.chars().any(char::is_control) {
        bail!("the password holds control characters, which cannot be typed at the prompt");
    }
    if !p.is_ascii() {
        eprintln!("note: the password has non-ASCII characters; the BIOS prompt types ASCII only");
    }
    Ok(())
}

/// Read one line from the terminal on standard input with echo off (restored after).
pub(crate) fn prompt_hidden(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is standard input, a terminal (checked by the caller); saved is writable.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        bail!("cannot read the terminal's settings: {}", std::io::Error::last_os_error());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above, with a termios derived from the terminal's own.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        bail!("cannot turn the terminal's echo off: {}", std::io::Error::last_os_error());
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
