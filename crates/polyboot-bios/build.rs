//! The linker script only applies to the bare BIOS target (host unit tests link normally).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=src/stage0.s");
    println!("cargo:rerun-if-changed=src/stage1.s");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
        println!("cargo:rustc-link-arg-bins=--gc-sections");
    }
}
