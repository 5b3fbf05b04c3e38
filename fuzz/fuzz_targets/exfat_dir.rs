//! Directory parsing on a valid volume: the input replaces the root directory's cluster of a
//! small image made by polyboot's formatter and writer (see common/exfat_image.rs), then
//! every directory is listed recursively, every file read and its extents checked. Must
//! never panic.
//!
//! Input bytes beyond one cluster are ignored; a shorter input leaves zeros (end of
//! directory) after it. Each input is tried as it is and, when that differs, with its name
//! hashes and entry set checksums repaired (see common/exfat_fixup.rs).
#![no_main]

#[path = "../common/exfat_fixup.rs"]
#[allow(dead_code)]
mod exfat_fixup;
#[path = "../common/exfat_image.rs"]
mod exfat_image;
#[path = "../common/exfat_walk.rs"]
mod exfat_walk;

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::MemDevice;
use polyboot_core::exfat::ExFat;

struct State {
    image: exfat_image::Image,
    upcase: exfat_fixup::Upcase,
    /// Reused for every input: a copy of the image with the input in the root cluster.
    dev: MemDevice,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new({
        let image = exfat_image::build();
        let upcase = exfat_fixup::Upcase::from_volume(&image.bytes);
        let dev = MemDevice::from_vec(image.bytes.clone());
        State { image, upcase, dev }
    });
}

fuzz_target!(|data: &[u8]| {
    STATE.with_borrow_mut(|State { image, upcase, dev }| {
        let mut root = vec![0u8; image.cluster_bytes];
        let n = data.len().min(root.len());
        root[..n].copy_from_slice(&data[..n]);
        let mut fixed = root.clone();
        exfat_fixup::fix_entry_sets(&mut fixed, upcase);
        let fixed = (fixed != root).then_some(fixed);

        for content in [Some(root), fixed].into_iter().flatten() {
            // Every run starts from the pristine image (the reader never writes, but be sure).
            dev.data.copy_from_slice(&image.bytes);
            dev.data[image.root_offset..image.root_offset + image.cluster_bytes]
                .copy_from_slice(&content);
            match ExFat::open(&mut *dev) {
                Ok(mut fs) => exfat_walk::walk(&mut fs),
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
    });
});
