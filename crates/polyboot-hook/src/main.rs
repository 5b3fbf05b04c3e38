//! `/init` of a wrapped initrd: see the crate documentation in lib.rs.
fn main() {
    polyboot_hook::run::main()
}
