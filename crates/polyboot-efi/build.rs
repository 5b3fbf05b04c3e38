//! Embeds polyboot-hook (the static Linux `/init` that Linux ISOs' wrapped initrds carry) in the
//! boot manager, so that the hand-off record's writer and reader always come from one build
//! and `update` replaces both with one file. `cargo xtask build` sets `POLYBOOT_HOOK`; a build
//! without it embeds nothing and the boot manager boots Linux ISOs unwrapped, saying so.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=POLYBOOT_HOOK");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("polyboot-hook.bin");
    match std::env::var_os("POLYBOOT_HOOK") {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("POLYBOOT_HOOK={}: {e}", path.display()));
            assert!(bytes.starts_with(b"\x7fELF"), "POLYBOOT_HOOK={} is not an ELF executable", path.display());
            std::fs::write(&out, bytes).expect("writing the embedded hook");
        }
        None => {
            println!("cargo:warning=POLYBOOT_HOOK is not set: building without polyboot-hook (Linux live ISOs will not find their medium)");
            std::fs::write(&out, []).expect("writing the embedded hook");
        }
    }
}
