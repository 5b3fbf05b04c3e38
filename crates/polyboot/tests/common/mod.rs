//! Helpers shared by this crate's CLI tests (each test file that uses them includes this
//! module; not every file uses every helper).
#![allow(dead_code)]

use polyboot_tests::artifacts;
use std::path::PathBuf;
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

/// The boot manager `install` copies for tests that never boot the drive: the real build when
/// the tests run under `cargo xtask test` (POLYBOOT_EFI), any PE file otherwise.
pub fn efi_or_stand_in() -> PathBuf {
    if let Some(p) = std::env::var_os("POLYBOOT_EFI") {
        return PathBuf::from(p);
    }
    let p = std::env::temp_dir().join("polyboot-test-fake.efi");
    // Written under a private name, then renamed: the other tests, running at the same time,
    // must never read a half-written file.
    let tmp =
        p.with_extension(format!("efi.{}.{:?}", std::process::id(), std::thread::current().id()));
    std::fs::write(&tmp, b"MZ not really an EFI app").unwrap();
    std::fs::rename(&tmp, &p).unwrap();
    p
}

/// Run the polyboot CLI (boot manager: [`efi_or_stand_in`]): (success, stdout, stderr).
pub fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_polyboot"))
        .args(args)
        .env("POLYBOOT_EFI", efi_or_stand_in())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
