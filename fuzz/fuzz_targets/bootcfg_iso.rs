//! `bootcfg::find_boot_entries` on whole ISO images (then `initrd_wrap::plan` + `apply` on the
//! initrds it found). Must never panic. Checked: at most `MAX_ENTRIES` entries and
//! `MAX_WARNINGS` distinct warnings; files read are normalised and distinct; kernels and
//! initrds normalised, entries distinct; every initrd listed by some entry, its records
//! (primary first, one per tree) hold in the image the extent and size they report, sizes are
//! the sum of the sections; the wrap plan lists each initrd once and applies to a virtual medium
//! of the image. Seeds: the live-ISO-shaped images of `seedgen/src/linux_seeds.rs`.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::MemDevice;
use polyboot_core::bootcfg::{self, normalize_path, TreeKind, MAX_ENTRIES, MAX_WARNINGS};
use polyboot_core::bytes;
use polyboot_core::initrd_wrap;
use polyboot_core::iso9660::RECORD_EXTENT_FIELD;
use polyboot_core::virtual_medium::{Extent, VirtualMedium};

fuzz_target!(|data: &[u8]| {
    check_iso(data);
});

fn check_path(p: &str, what: &str) {
    assert!(p.starts_with('/'), "{what} {p:?} is not absolute");
    assert_eq!(normalize_path(p), p, "{what} {p:?} is not normalised");
}

fn check_iso(data: &[u8]) {
    let mut dev = MemDevice::from_vec(data.to_vec());
    let r = match bootcfg::find_boot_entries(&mut dev) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert!(r.entries.len() <= MAX_ENTRIES);
    assert!(r.warnings.len() <= MAX_WARNINGS, "{} warnings", r.warnings.len());
    for (i, w) in r.warnings.iter().enumerate() {
        assert!(!r.warnings[..i].contains(w), "duplicate warning {w:?}");
    }
    for (i, f) in r.files.iter().enumerate() {
        check_path(f, "file read");
        assert!(!r.files[..i].contains(f));
    }
    for (i, e) in r.entries.iter().enumerate() {
        if let Some(k) = &e.kernel {
            check_path(k, "kernel");
        }
        for p in &e.initrds {
            check_path(p, "initrd");
        }
        assert!(
            !r.entries[..i].iter().any(|o| o.loader == e.loader
                && o.kernel == e.kernel
                && o.initrds == e.initrds
                && o.cmdline == e.cmdline),
            "duplicate entry {e:?}"
        );
    }
    for (i, f) in r.initrds.iter().enumerate() {
        assert!(!r.initrds[..i].iter().any(|o| o.path == f.path));
        assert!(
            r.entries.iter().any(|e| e.initrds.contains(&f.path)),
            "{} loaded by no entry",
            f.path
        );
        assert!(!f.records.is_empty() && f.records.len() <= 2);
        assert_eq!(f.size, f.records[0].size);
        if f.records.len() == 2 {
            assert_eq!(
                (f.records[0].tree, f.records[1].tree),
                (TreeKind::Primary, TreeKind::Joliet)
            );
        }
        for rec in &f.records {
            let ro = rec.record_offset;
            let ext = bytes::le32(data, (ro + RECORD_EXTENT_FIELD) as usize)
                .expect("record inside the image");
            let len = bytes::le32(data, (ro + RECORD_EXTENT_FIELD + 8) as usize)
                .expect("record inside the image");
            let ext_attr = data[ro as usize + 1];
            assert_eq!(rec.lba, ext.saturating_add(u32::from(ext_attr)), "{}: record LBA", f.path);
            assert!(!rec.sections.is_empty());
            let s = &rec.sections[0];
            assert_eq!(s.record_offset, ro);
            assert_eq!((s.offset, s.len), ((u64::from(ext) + u64::from(ext_attr)) * 2048, len));
            let sum: u64 = rec.sections.iter().map(|s| u64::from(s.len)).sum();
            assert_eq!(rec.size, sum, "{}: size is not the sum of the sections", f.path);
        }
    }

    // Wrap what was found: each initrd listed once, and the plan fits a disk of the image.
    let image_len = data.len() as u64;
    let hook: Arc<[u8]> = initrd_wrap::hook_archive(b"HOOK", b"HANDOFF").unwrap().into();
    let plan = initrd_wrap::plan(&r.initrds, image_len, image_len, hook);
    for f in &r.initrds {
        let n = plan.wrapped.iter().flat_map(|w| &w.paths).filter(|p| **p == f.path).count()
            + plan.skipped.iter().filter(|s| s.path == f.path).count();
        assert_eq!(n, 1, "{} listed {n} times", f.path);
    }
    let mut disk = VirtualMedium::new(
        2048,
        image_len,
        0,
        vec![Extent { file_offset: 0, device_offset: 0, len: image_len }],
    )
    .unwrap();
    initrd_wrap::apply(&plan, &mut disk).expect("apply the wrap plan");
}
