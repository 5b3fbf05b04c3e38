//! The linker script only applies to the bare BIOS target (host unit tests link normally).
//! With the feature `test-padding`, also the padding main.rs links in (Cargo.toml).

/// Bytes of test padding: with the ~460 KiB of stage 1, well past its 480 KiB load area and
/// past 2 MiB in all, and still under the 3 MiB the link script allows the 32-bit part.
const TEST_PADDING_BYTES: usize = 1792 * 1024;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    if std::env::var_os("CARGO_FEATURE_TEST_PADDING").is_some() {
        // xorshift32: no run of zeros or repeats, so a sector read to the wrong place, or not
        // at all, changes the checksum.
        let mut x = 0x5042_5331u32;
        let bytes: Vec<u8> = (0..TEST_PADDING_BYTES)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("test-padding.bin");
        std::fs::write(out, bytes).unwrap();
    }
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=src/stage0.s");
    println!("cargo:rerun-if-changed=src/stage1.s");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
        println!("cargo:rustc-link-arg-bins=--gc-sections");
    }
}
