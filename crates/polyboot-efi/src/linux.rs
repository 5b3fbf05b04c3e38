//! Linux ISOs: polyboot-hook, embedded in this boot manager. Wrapping the initrds a live ISO's
//! boot configuration loads (so that the hook runs as `/init` first and maps the image as a
//! block device the distribution can find) is core's boot session (`session::wrap_initrds`,
//! `session::hook_archive`); BIOS stage 1 reads the hook from this file too.

/// polyboot-hook, static and stripped, embedded by `build.rs` behind core's `embedded_hook`
/// header (which BIOS stage 1 looks for in this file); empty when built without it.
static EMBEDDED_HOOK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/polyboot-hook.bin"));

/// The hook's bytes (empty when this build has none).
pub fn hook() -> &'static [u8] {
    polyboot_core::embedded_hook::find_embedded_hook(EMBEDDED_HOOK).unwrap_or(&[])
}
