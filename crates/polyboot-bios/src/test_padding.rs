//! Test builds only (feature `test-padding`, Cargo.toml; `cargo xtask build` makes
//! `target/firmware/polyboot-bios-padded.bin` with it): pseudo-random bytes (build.rs) linked
//! first in the 32-bit part (link.ld), so that stage 1 is larger than stage 0's load area and
//! everything else (all the code and data) lies in the tail, which must then load for
//! anything to run. Stage 1 prints their CRC-32 as read from memory; the VM test
//! (crates/polyboot/tests/boot_bios.rs) checks it against the artefact's bytes.

const BYTES: &[u8; LEN] = include_bytes!(concat!(env!("OUT_DIR"), "/test-padding.bin"));
const LEN: usize = include_bytes!(concat!(env!("OUT_DIR"), "/test-padding.bin")).len();

#[used]
#[link_section = ".stage1.test_padding"]
static PADDING: [u8; LEN] = *BYTES;

/// Print the padding's size, address and CRC-32 as read from memory (black_box: not a value
/// the compiler could work out from the initialiser).
pub fn report() {
    let bytes: &[u8] = core::hint::black_box(&PADDING[..]);
    println!(
        "polyboot-bios: test padding: {} bytes at {:#x}, crc32 {:08x}",
        bytes.len(),
        bytes.as_ptr() as usize,
        polyboot_core::crc32::crc32(bytes)
    );
}
