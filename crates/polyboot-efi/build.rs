//! Embeds polyboot-hook (the static Linux `/init` that Linux ISOs' wrapped initrds carry) in the
//! boot manager, so that the hand-off record's writer and reader always come from one build
//! and `update` replaces both with one file. `cargo xtask build` sets `POLYBOOT_HOOK`; a build
//! without it embeds nothing and the boot manager boots Linux ISOs unwrapped, saying so.
//!
//! The hook is written with a header, `["PBHOOK01"][u32 LE length][ELF]` (core's
//! `embedded_hook`), so BIOS stage 1 can find it inside BOOTX64.EFI on the boot partition.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=POLYBOOT_HOOK");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("polyboot-hook.bin");
    match std::env::var_os("POLYBOOT_HOOK") {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("POLYBOOT_HOOK={}: {e}", path.display()));
            assert!(
                bytes.starts_with(b"\x7fELF"),
                "POLYBOOT_HOOK={} is not an ELF executable",
                path.display()
            );
            let len = u32::try_from(bytes.len()).expect("polyboot-hook is larger than 4 GiB");
            let mut embedded = Vec::with_capacity(12 + bytes.len());
            embedded.extend_from_slice(b"PBHOOK01");
            embedded.extend_from_slice(&len.to_le_bytes());
            embedded.extend_from_slice(&bytes);
            std::fs::write(&out, embedded).expect("writing the embedded hook");
        }
        None => {
            println!("cargo:warning=POLYBOOT_HOOK is not set: building without polyboot-hook (Linux live ISOs will not find their medium)");
            std::fs::write(&out, []).expect("writing the embedded hook");
        }
    }
}
