//! The binary answers --version and --help the way scripts and users expect.

use std::process::Command;

fn polyboot(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_polyboot")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn version_names_the_crate_version() {
    let (ok, out) = polyboot(&["--version"]);
    assert!(ok);
    assert_eq!(out.trim(), format!("polyboot {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_describes_the_tool_with_examples() {
    let (ok, out) = polyboot(&["--help"]);
    assert!(ok);
    assert!(out.contains("Multi-boot USB drives"), "{out}");
    assert!(out.contains("Examples:"), "{out}");
}

#[test]
fn unknown_subcommand_fails() {
    let (ok, _) = polyboot(&["frobnicate"]);
    assert!(!ok);
}
