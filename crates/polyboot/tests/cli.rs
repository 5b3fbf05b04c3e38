//! The binary answers --version and --help the way scripts and users expect.

use std::process::Command;

mod common;
use common::Cli;
use polyboot_tests::artifacts;

#[test]
fn version_names_the_crate_version() {
    let (ok, out, _) = common::run(&["--version"]);
    assert!(ok);
    assert_eq!(out.trim(), format!("polyboot {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_describes_the_tool_with_examples() {
    let (ok, out, _) = common::run(&["--help"]);
    assert!(ok);
    assert!(out.contains("Multi-boot USB drives"), "{out}");
    assert!(out.contains("Examples:"), "{out}");
}

#[test]
fn unknown_subcommand_fails() {
    let (ok, _, _) = common::run(&["frobnicate"]);
    assert!(!ok);
}

/// `polyboot ... | head`: once the reader is gone, the program ends quietly (SIGPIPE), as
/// other tools do, instead of panicking on its next print.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Cli::new()
        .args(["check", artifacts::IPXE_ISO, "--json"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader exits before anything is printed
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?} {stderr}", out.status);
}

/// Every subcommand reachable from `polyboot`, with its full name ("polyboot wtg create"),
/// found by walking clap's command tree, so subcommands added later are covered without
/// touching the tests. Skips clap's own `help` subcommand.
fn all_commands() -> Vec<(String, clap::Command)> {
    fn walk(path: String, cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
        out.push((path.clone(), cmd.clone()));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(format!("{path} {}", sub.get_name()), sub, out);
        }
    }
    let mut out = Vec::new();
    walk("polyboot".into(), &<polyboot::cli::Cli as clap::CommandFactory>::command(), &mut out);
    out
}

/// The visible subcommands (not hidden ones such as `manpages`) as man page stems:
/// "polyboot-wtg-create".
fn visible_pages() -> Vec<String> {
    fn walk(stem: String, cmd: &clap::Command, out: &mut Vec<String>) {
        out.push(stem.clone());
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help" && !s.is_hide_set()) {
            walk(format!("{stem}-{}", sub.get_name()), sub, out);
        }
    }
    let mut out = Vec::new();
    walk("polyboot".into(), &<polyboot::cli::Cli as clap::CommandFactory>::command(), &mut out);
    out
}

#[test]
fn the_command_tree_passes_clap_debug_asserts() {
    <polyboot::cli::Cli as clap::CommandFactory>::command().debug_assert();
}

/// `--help` explains every argument and option of every (sub)command, positional ones included.
#[test]
fn every_argument_and_option_has_help_text() {
    let mut missing = Vec::new();
    for (path, cmd) in all_commands() {
        for arg in
            cmd.get_arguments().filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        {
            let text =
                arg.get_help().or(arg.get_long_help()).map(|h| h.to_string()).unwrap_or_default();
            if text.trim().is_empty() {
                let name = match (arg.get_long(), arg.get_short()) {
                    (Some(l), _) => format!("--{l}"),
                    (None, Some(s)) => format!("-{s}"),
                    (None, None) => format!(
                        "<{}>",
                        arg.get_value_names()
                            .and_then(|v| v.first())
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| arg.get_id().to_string().to_uppercase())
                    ),
                };
                missing.push(format!("{path} {name}"));
            }
        }
    }
    assert!(missing.is_empty(), "arguments without help text:\n  {}", missing.join("\n  "));
}

/// Every (sub)command says what it does and shows examples at the end of its `--help`.
#[test]
fn every_subcommand_has_a_description_and_examples() {
    let mut missing = Vec::new();
    for (path, cmd) in all_commands() {
        if cmd.get_about().is_none_or(|a| a.to_string().trim().is_empty()) && path != "polyboot" {
            missing.push(format!("{path}: no description"));
        }
        if !cmd.get_after_help().is_some_and(|h| h.to_string().contains("Examples:")) {
            missing.push(format!("{path}: no examples"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    let (ok, out, _) = common::run(&["add", "--help"]);
    assert!(ok);
    assert!(out.contains("a whole disk (/dev/sdb"), "{out}");
    assert!(out.contains("Examples:"), "{out}");
}

/// Scripts pass --yes to every command: update takes it (it has nothing to ask) and still
/// honours --dry-run.
#[test]
fn update_accepts_yes() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("d.img");
    let img = img.to_str().unwrap();
    let (ok, _, err) = common::run(&["install", img, "--size", "300M"]);
    assert!(ok, "{err}");
    let before = std::fs::read(img).unwrap();
    for yes in ["--yes", "-y"] {
        let (ok, out, err) = common::run(&["update", img, yes, "--dry-run", "--json"]);
        assert!(ok, "update {yes} --dry-run: {err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["dry_run"], true, "{out}");
        assert_eq!(report["written"], false, "{out}");
    }
    assert!(std::fs::read(img).unwrap() == before, "update --dry-run wrote to the drive");
    let (ok, _, err) = common::run(&["update", img, "--yes"]);
    assert!(ok, "update --yes: {err}");
    let (ok, out, _) = common::run(&["update", "--help"]);
    assert!(ok && out.contains("--yes") && out.contains("update asks nothing"), "{out}");
}

#[test]
fn completions_name_every_subcommand() {
    let (ok, bash, _) = common::run(&["completions", "bash"]);
    assert!(ok);
    for name in [
        "install",
        "add",
        "ls",
        "rm",
        "verify",
        "check",
        "update",
        "wtg",
        "editions",
        "create",
        "completions",
    ] {
        assert!(bash.contains(name), "bash completions lack {name}");
    }
    for (path, _) in all_commands() {
        let last = path.rsplit(' ').next().unwrap();
        assert!(bash.contains(last), "bash completions lack {path}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (ok, out, _) = common::run(&["completions", shell]);
        assert!(ok && out.contains("install") && out.contains("editions"), "{shell}: {out}");
    }
    let (ok, _, _) = common::run(&["completions", "tcsh"]);
    assert!(!ok, "an unknown shell is refused");
    let (ok, out, _) = common::run(&["completions", "--help"]);
    assert!(ok && out.contains("Examples:") && out.contains("bash-completion"), "{out}");
}

/// `polyboot manpages DIR` (hidden; `cargo xtask dist` packages its output) writes polyboot.1
/// and one page per visible subcommand, and man / groff render them.
#[test]
fn manpages_writes_a_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let mandir = dir.path().join("man1");
    let (ok, out, _) = common::run(&["manpages", mandir.to_str().unwrap()]);
    assert!(ok, "{out}");
    let mut expected: Vec<String> =
        visible_pages().iter().map(|stem| format!("{stem}.1")).collect();
    assert!(
        expected.contains(&"polyboot-install.1".to_string())
            && expected.contains(&"polyboot-wtg-create.1".to_string()),
        "{expected:?}"
    );
    let mut found: Vec<String> = std::fs::read_dir(&mandir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
    let (_, help, _) = common::run(&["--help"]);
    assert!(!help.contains("manpages"), "manpages is hidden from --help: {help}");

    // Rendered by man-db (or groff); formatting (overstrikes, colours) removed before matching.
    let page = mandir.join("polyboot.1");
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .or_else(|| {
            Command::new("groff")
                .args(["-man", "-Tutf8"])
                .arg(&page)
                .output()
                .ok()
                .filter(|o| o.status.success())
        });
    let rendered = rendered
        .expect("neither man nor groff rendered polyboot.1 (`cargo xtask deps` installs man-db)");
    let text = plain(&String::from_utf8_lossy(&rendered.stdout));
    assert!(text.contains("polyboot-install(1)"), "{text}");
    assert!(text.contains("Multi-boot USB drives"), "{text}");
    assert!(text.contains("Examples:"), "{text}");
}

/// Terminal text without overstrike (x BS x, _ BS x) and SGR escape formatting.
fn plain(s: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{8}' => {
                out.pop();
            }
            '\u{1b}' => {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.into_iter().collect()
}
