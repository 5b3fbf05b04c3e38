//! Every artefact the tests use that they do not make themselves, found in one place: what
//! `cargo xtask build` / `cargo xtask dist` put under `target/` (each overridable by the
//! environment variable `cargo xtask test` sets), and the Debian-packaged images the tests boot.
//! A test that needs a missing artefact fails, naming how to build it.

use crate::workspace_root;
use anyhow::{ensure, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The UEFI boot manager (`BOOTX64.EFI`). `POLYBOOT_EFI` overrides the location.
pub fn efi_app() -> Result<PathBuf> {
    let path = std::env::var_os("POLYBOOT_EFI").map(PathBuf::from).unwrap_or_else(|| {
        workspace_root().join("target/firmware/x86_64-unknown-uefi/release/polyboot-efi.efi")
    });
    ensure!(
        path.is_file(),
        "{} is missing: build the firmware with `cargo xtask build` (or run the tests with `cargo xtask test`)",
        path.display()
    );
    Ok(path)
}

/// The boot manager `install` copies for tests that never boot the drive: the real build when
/// the tests run under `cargo xtask test` (`POLYBOOT_EFI`), any PE file otherwise.
pub fn efi_app_or_stand_in() -> PathBuf {
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

/// The legacy BIOS boot code (`polyboot-bios.bin`). `POLYBOOT_BIOS` overrides the location;
/// the test fails when the file is missing.
pub fn bios_code() -> PathBuf {
    built_file("POLYBOOT_BIOS", "target/firmware/polyboot-bios.bin")
}

/// The BIOS boot code's test build whose stage 1 is padded past 2 MiB
/// (`polyboot-bios-padded.bin`, feature `test-padding` of crates/polyboot-bios).
/// `POLYBOOT_BIOS_PADDED` overrides the location; the test fails when the file is missing.
pub fn bios_code_padded() -> PathBuf {
    built_file("POLYBOOT_BIOS_PADDED", "target/firmware/polyboot-bios-padded.bin")
}

/// The Windows To Go BIOS loader (`polyboot-wtg-bios.bin`). `POLYBOOT_WTG_BIOS` overrides
/// the location; the test fails when the file is missing.
pub fn wtg_bios_code() -> PathBuf {
    built_file("POLYBOOT_WTG_BIOS", "target/firmware/polyboot-wtg-bios.bin")
}

/// `$var`, else `relative` under the workspace root; the test fails when it is not a file.
fn built_file(var: &str, relative: &str) -> PathBuf {
    let path =
        std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| workspace_root().join(relative));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo xtask build` or set {var} (or run `cargo xtask test`)",
        path.display()
    );
    path
}

/// polyboot-hook, statically linked (the `/init` the boot manager embeds): `POLYBOOT_HOOK_BIN`
/// when set, else built here with the flags `cargo xtask build` uses (so both share one build).
pub fn hook_binary() -> PathBuf {
    if let Ok(p) = std::env::var("POLYBOOT_HOOK_BIN") {
        return p.into();
    }
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "polyboot-hook", "--target", "x86_64-unknown-linux-gnu"])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .unwrap();
    assert!(status.success());
    let bin = target_dir.join("x86_64-unknown-linux-gnu/release/polyboot-hook");
    let file = String::from_utf8(Command::new("file").arg("-L").arg(&bin).output().unwrap().stdout)
        .unwrap();
    assert!(file.contains("statically linked") || file.contains("static-pie"), "{file}");
    bin
}

/// The Debian package `cargo xtask dist` writes (`cargo xtask test` writes it before the
/// tests run): `target/dist/polyboot_<version>_<arch>.deb`; the test fails when it is missing.
pub fn deb_package() -> PathBuf {
    let dir = workspace_root().join("target/dist");
    let found = std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&format!("polyboot_{}_", env!("CARGO_PKG_VERSION")))
                && name.ends_with(".deb")
        });
    found.unwrap_or_else(|| {
        panic!(
            "no polyboot .deb in {}: run `cargo xtask dist` (cargo xtask test does)",
            dir.display()
        )
    })
}

/// The packaged binary in a root the package was extracted to (`dpkg-deb -x`).
pub fn installed_binary(root: &Path) -> PathBuf {
    root.join("usr/bin/polyboot")
}

/// OVMF firmware code and the pristine variable store each VM copies.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// OVMF with Secure Boot (needs q35 with SMM) and its stores with keys enrolled: Microsoft's,
/// and Debian's snakeoil PK/KEK/db, whose key and certificate are below.
pub const OVMF_SECBOOT_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
pub const OVMF_VARS_MS: &str = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";
pub const OVMF_VARS_SNAKEOIL: &str = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd";
/// The snakeoil signing key (passphrase `snakeoil`) and its certificate (PEM).
pub const SNAKEOIL_KEY: &str = "/usr/share/ovmf/PkKek-1-snakeoil.key";
pub const SNAKEOIL_CERT: &str = "/usr/share/ovmf/PkKek-1-snakeoil.pem";

/// iPXE's hybrid ISO (El Torito BIOS + UEFI), a real image we did not write.
pub const IPXE_ISO: &str = "/usr/lib/ipxe/ipxe.iso";
/// iPXE's UEFI application (Debian's `ipxe`), for `.efi` images and ESPs we build around it.
pub const IPXE_EFI: &str = "/usr/lib/ipxe/ipxe.efi";
/// What iPXE prints on the serial console once it runs, in BIOS and UEFI alike.
pub const IPXE_MARKER: &str = "iPXE initialising devices";
/// systemd-boot's UEFI application (Debian's `systemd-boot-efi`).
pub const SYSTEMD_BOOT_EFI: &str = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
/// Debian's GRUB rescue CD (package grub-rescue-pc): GRUB's El Torito `eltorito.img`, BIOS only.
pub const GRUB_RESCUE_ISO: &str = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso";
/// Debian's memtest86+ ISO (package memtest86+): a floppy-emulation BIOS entry and an EFI entry.
pub const MEMTEST_ISO: &str = "/usr/lib/memtest86+/memtest86+x64.iso";

/// The WinPE jump program (`polyboot-winpe.exe`, a Windows program) and the Wine test's
/// stand-in shell, both built by `cargo xtask build` into `target/firmware/`.
/// `POLYBOOT_WINPE_DIR` overrides the directory; the test fails when either file is missing.
pub fn winpe_programs() -> (PathBuf, PathBuf) {
    winpe_programs_named("")
}

/// The same for 32-bit Windows PE (`polyboot-winpe-x86.exe`, `...-test-shell-x86.exe`).
pub fn winpe_programs_x86() -> (PathBuf, PathBuf) {
    winpe_programs_named("-x86")
}

fn winpe_programs_named(suffix: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::var_os("POLYBOOT_WINPE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/firmware"));
    let [jump, shell] = ["polyboot-winpe", "polyboot-winpe-test-shell"]
        .map(|name| dir.join(format!("{name}{suffix}.exe")));
    for p in [&jump, &shell] {
        assert!(
            p.is_file(),
            "{} is missing: build it with `cargo xtask build` (Debian packages rustc-web, \
             cargo-web, rust-web-src, gcc-mingw-w64-x86-64, gcc-mingw-w64-i686-win32; `cargo \
             xtask deps` installs them) or set POLYBOOT_WINPE_DIR",
            p.display()
        );
    }
    (jump, shell)
}
