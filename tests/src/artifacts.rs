//! Where `cargo xtask build` puts the artefacts the tests boot.

use crate::workspace_root;
use anyhow::{ensure, Result};
use std::path::PathBuf;

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

/// The legacy BIOS boot code (`polyboot-bios.bin`). `POLYBOOT_BIOS` overrides the location;
/// the test fails when the file is missing.
pub fn bios_code() -> PathBuf {
    let path = std::env::var_os("POLYBOOT_BIOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/firmware/polyboot-bios.bin"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo xtask build` or set POLYBOOT_BIOS (or run `cargo xtask test`)",
        path.display()
    );
    path
}

/// OVMF firmware code and the pristine variable store each VM copies.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// iPXE's hybrid ISO (El Torito BIOS + UEFI), a real image we did not write.
pub const IPXE_ISO: &str = "/usr/lib/ipxe/ipxe.iso";
/// What iPXE prints on the serial console once it runs, in BIOS and UEFI alike.
pub const IPXE_MARKER: &str = "iPXE initialising devices";
