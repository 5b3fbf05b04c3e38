//! Helpers shared by this crate's boot tests (each test file includes this module).

use polyboot_tests::artifacts;
use std::process::Command;

/// Run the polyboot CLI with the built UEFI boot manager; the test fails when it fails.
/// Returns its standard output.
pub fn polyboot(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_polyboot"))
        .args(args)
        .env("POLYBOOT_EFI", artifacts::efi_app().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "polyboot {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
