//! The Debian package that `cargo xtask dist` writes (`cargo xtask test` writes it before the
//! tests run): its control data, its files, and the installed copy doing a user's first steps
//! (`install`, `add`, `vm`) with nothing from the build tree.

mod common;
use common::Cli;
use polyboot_tests::artifacts;
use std::process::Command;

fn tool(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn deb_declares_its_debian_dependencies() {
    let info = tool(Command::new("dpkg-deb").arg("--field").arg(artifacts::deb_package()));
    assert!(info.contains("Package: polyboot"), "{info}");
    assert!(info.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))), "{info}");
    let depends = info
        .lines()
        .find(|l| l.starts_with("Depends:"))
        .unwrap_or_else(|| panic!("no Depends: {info}"));
    // The binary links wimlib (Windows To Go) and glibc.
    assert!(depends.contains("libwim15"), "{depends}");
    assert!(depends.contains("libc6"), "{depends}");
    // The default install signs: shim-signed, sbsigntool, openssl.
    for tool in ["shim-signed", "sbsigntool", "openssl"] {
        assert!(depends.contains(tool), "{tool} missing: {depends}");
    }
    assert!(info.contains("Recommends:") && info.contains("qemu-system-x86"), "{info}");
    // apt agrees that the dependencies resolve on this system (simulated install).
    let sim =
        tool(Command::new("apt-get").args(["install", "-s", "-q"]).arg(artifacts::deb_package()));
    assert!(sim.contains("Inst polyboot") || sim.contains("Conf polyboot"), "{sim}");
}

#[test]
fn deb_holds_binary_boot_files_man_pages_and_completions() {
    let list = tool(Command::new("dpkg-deb").arg("--contents").arg(artifacts::deb_package()));
    for path in [
        "./usr/bin/polyboot",
        "./usr/share/polyboot/BOOTX64.EFI",
        "./usr/share/polyboot/polyboot-bios.bin",
        "./usr/share/polyboot/polyboot-wtg-bios.bin",
        "./usr/share/man/man1/polyboot.1.gz",
        "./usr/share/man/man1/polyboot-install.1.gz",
        "./usr/share/bash-completion/completions/polyboot",
        "./usr/share/zsh/vendor-completions/_polyboot",
        "./usr/share/fish/vendor_completions.d/polyboot.fish",
        "./usr/share/doc/polyboot/copyright",
    ] {
        assert!(list.lines().any(|l| l.ends_with(path)), "{path} is not in the package:\n{list}");
    }
}

/// Installed into a scratch root (dpkg-deb -x: the files exactly as dpkg would place them),
/// the packaged binary makes a drive with the packaged boot files and boots it in QEMU.
#[test]
fn installed_copy_makes_a_drive_and_boots_it() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("root");
    tool(Command::new("dpkg-deb").arg("-x").arg(artifacts::deb_package()).arg(&root));
    let drive = scratch.path().join("drive.img");
    let d = drive.to_str().unwrap();
    Cli::installed(&root).args(["install", d, "--size", "256M", "--yes"]).ok();
    // The boot manager on the drive is the packaged one, byte for byte (read back by mtools).
    let info: serde_json::Value =
        serde_json::from_str(&Cli::installed(&root).args(["info", d, "--json"]).ok()).unwrap();
    assert_eq!(info["polyboot_version"], env!("CARGO_PKG_VERSION"), "{info}");
    let offset = info["layout"]["boot"]["offset"]
        .as_u64()
        .unwrap_or_else(|| panic!("no boot offset: {info}"));
    let on_drive = Command::new(polyboot_tests::find_tool("mcopy"))
        .arg("-i")
        .arg(format!("{d}@@{offset}"))
        .args(["::/EFI/BOOT/BOOTX64.EFI", "-"])
        .output()
        .unwrap();
    assert!(on_drive.status.success(), "mcopy: {}", String::from_utf8_lossy(&on_drive.stderr));
    let packaged = std::fs::read(root.join("usr/share/polyboot/BOOTX64.EFI")).unwrap();
    assert!(on_drive.stdout == packaged, "the drive's BOOTX64.EFI is not the packaged one");
    Cli::installed(&root).args(["add", d, artifacts::IPXE_ISO]).ok();
    let man =
        tool(Command::new("gzip").arg("-dc").arg(root.join("usr/share/man/man1/polyboot.1.gz")));
    assert!(man.contains("install"), "polyboot.1 does not mention install:\n{man}");
    // Boot it from the installed copy, pick ipxe.iso in the menu, wait for iPXE's marker.
    let out = Cli::installed(&root)
        .args([
            "vm",
            d,
            "--serial",
            "--image",
            "ipxe.iso",
            "--expect",
            artifacts::IPXE_MARKER,
            "--timeout",
            "150",
        ])
        .ok();
    assert!(out.contains(artifacts::IPXE_MARKER), "{out}");
}
