//! The GPT reader on an arbitrary disk image, at both logical sector sizes. It must never
//! panic; a table it accepts must be self-consistent, and writing it back out (when it is
//! one `gpt::write` accepts) must read back identical, from the primary and from the backup.
//!
//! Each input is read as it is and, when that differs, with the header and entry-array
//! CRCs recomputed for each sector size (see common/gpt_fixup.rs).
#![no_main]

#[path = "../common/gpt_fixup.rs"]
mod gpt_fixup;

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::{MemDevice, WriteAt};
use polyboot_core::gpt::{
    self, GptError, GptHeader, GptRead, HeaderKind, SectorSize, HEADER_SIZE, REVISION_1_0,
};
use polyboot_core::mbr::Mbr;

fuzz_target!(|data: &[u8]| {
    check_image(data);
    for ss in [512, 4096] {
        let mut fixed = data.to_vec();
        gpt_fixup::fix_crcs(&mut fixed, ss);
        if fixed != data {
            check_image(&fixed);
        }
    }
});

fn check_image(data: &[u8]) {
    let mut dev = MemDevice::from_vec(data.to_vec());

    // Reads inside the device cannot fail, so detection never returns an I/O error.
    let detected = gpt::detect_sector_size(&mut dev)
        .expect("detect_sector_size: I/O error on a memory device");

    let mut any_ok = false;
    for ss in [SectorSize::B512, SectorSize::B4096] {
        // The header parser alone, on the primary header's sector.
        let n = ss.bytes() as usize;
        if let Some(sector) = data.get(n..2 * n) {
            if let Ok(h) = GptHeader::parse(sector) {
                check_header_round_trip(&h, ss);
            }
        }

        match gpt::read(&mut dev, ss) {
            Ok(read) => {
                any_ok = true;
                check_read(&read, ss, data.len() as u64);
                check_rewrite(&read);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if any_ok {
        assert!(detected.is_some(), "gpt::read succeeded but detect_sector_size found nothing");
    }
    // Reading must not have changed the device.
    assert_eq!(dev.data, data);

    // The MBR in front of it, against the disk size.
    if let Ok(mbr) = Mbr::parse(data) {
        let _ = mbr.check_fits(data.len() as u64 / 512);
    }
}

/// Encoding a parsed header and parsing it again gives the same header, normalised to the
/// 92-byte revision 1.0 form the encoder writes.
fn check_header_round_trip(h: &GptHeader, ss: SectorSize) {
    let again = GptHeader::parse(&h.encode(ss)).expect("an encoded header must parse");
    let expected = GptHeader { revision: REVISION_1_0, header_size: HEADER_SIZE, ..*h };
    assert_eq!(again, expected);
}

fn check_read(read: &GptRead, ss: SectorSize, len: u64) {
    let (g, h) = (&read.gpt, &read.header);
    let disk_sectors = len / ss.bytes();
    assert_eq!(g.sector_size, ss);
    assert_eq!(g.disk_sectors, disk_sectors);
    assert_eq!(g.entries.len(), h.entry_count as usize);
    assert_eq!(g.disk_guid, h.disk_guid);
    assert_eq!((g.first_usable_lba, g.last_usable_lba), (h.first_usable_lba, h.last_usable_lba));
    assert!(g.first_usable_lba <= g.last_usable_lba && g.last_usable_lba < disk_sectors);
    g.check_partitions().expect("read returned a table with invalid partitions");
    for (_, p) in g.partitions() {
        assert!(!p.type_guid.is_zero());
        assert!(p.sectors() > 0);
        let _ = p.name.to_string_lossy();
    }
    match read.source {
        HeaderKind::Primary => {
            assert_eq!(h.my_lba, 1);
            assert!(read.primary_problem.is_none());
        }
        HeaderKind::Backup => {
            assert_eq!(h.my_lba, disk_sectors - 1);
            assert!(read.primary_problem.is_some());
            assert!(read.backup_problem.is_none());
        }
    }
    for problem in [&read.primary_problem, &read.backup_problem].into_iter().flatten() {
        let _ = problem.to_string();
    }
    check_header_round_trip(h, ss);
}

/// A table that `write` accepts is written to a fresh disk of the same size, then read back
/// from the primary copy and, with the primary header destroyed, from the backup.
fn check_rewrite(read: &GptRead) {
    let g = &read.gpt;
    if g.validate().is_err() {
        return;
    }
    let ss = g.sector_size.bytes();
    let mut dev = MemDevice::new((g.disk_sectors * ss) as usize);
    gpt::write(&mut dev, g).expect("write refused a validated table");

    let back = gpt::read(&mut dev, g.sector_size).expect("a written table must read back");
    assert_eq!(back.source, HeaderKind::Primary);
    assert_eq!(back.backup_problem, None, "fresh backup copy rejected");
    assert_eq!(&back.gpt, g);
    assert_eq!(back.header, g.header(HeaderKind::Primary));

    dev.write_at(ss, &vec![0u8; ss as usize]).unwrap();
    let from_backup = gpt::read(&mut dev, g.sector_size).expect("the backup copy must be usable");
    assert_eq!(from_backup.source, HeaderKind::Backup);
    assert!(matches!(from_backup.primary_problem, Some(GptError::BadSignature)));
    assert_eq!(&from_backup.gpt, g);
    assert_eq!(from_backup.header, g.header(HeaderKind::Backup));
}
