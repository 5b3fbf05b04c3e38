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

/// `polyboot ... | head`: once the reader is gone, the program ends quietly (SIGPIPE), as
/// other tools do, instead of panicking on its next print.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyboot"))
        .args(["check", "/usr/lib/ipxe/ipxe.iso", "--json"])
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
