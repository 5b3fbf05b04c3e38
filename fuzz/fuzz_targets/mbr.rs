//! The MBR parser on arbitrary bytes. It must never panic; whatever it accepts must survive
//! an encode / parse round trip unchanged, and the encoder must keep every field it owns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::mbr::{
    types, Mbr, MbrError, BOOT_CODE_LEN, MBR_SIZE, PARTITION_ENTRY_SIZE, PARTITION_TABLE_OFFSET,
};

fuzz_target!(|data: &[u8]| {
    match Mbr::parse(data) {
        Ok(mbr) => accepted(&mbr, data),
        Err(e) => {
            // Display must not panic either.
            let _ = e.to_string();
            if data.len() >= MBR_SIZE {
                assert!(!matches!(e, MbrError::TooShort { .. }), "{e:?} for {} bytes", data.len());
            } else {
                assert_eq!(e, MbrError::TooShort { len: data.len() });
            }
        }
    }

    // The protective MBR for any disk size, taken from the input, round-trips and fits.
    let mut n = [0u8; 8];
    let take = data.len().min(8);
    n[..take].copy_from_slice(&data[..take]);
    let disk_sectors = u64::from_le_bytes(n);
    let protective = Mbr::protective(disk_sectors);
    let parsed = Mbr::parse(&protective.to_bytes());
    if disk_sectors >= 2 {
        let parsed = parsed.expect("protective MBR must parse");
        assert_eq!(parsed, protective);
        assert!(parsed.has_gpt_protective());
        assert_eq!(parsed.check_fits(disk_sectors), Ok(()));
    } else {
        // No room for the 0xEE entry: it is written with zero length, i.e. unused.
        assert_eq!(parsed.expect("empty MBR must parse").used().count(), 0);
    }
});

fn accepted(mbr: &Mbr, data: &[u8]) {
    let bytes = mbr.to_bytes();
    let again = Mbr::parse(&bytes).expect("an encoded MBR must parse");
    assert_eq!(&again, mbr, "parse(to_bytes(m)) != m");
    assert_eq!(again.to_bytes(), bytes, "encoding is not stable");

    // Boot code, disk signature and the reserved word are kept byte for byte.
    assert_eq!(bytes[..BOOT_CODE_LEN], data[..BOOT_CODE_LEN]);
    assert_eq!(
        bytes[BOOT_CODE_LEN..PARTITION_TABLE_OFFSET],
        data[BOOT_CODE_LEN..PARTITION_TABLE_OFFSET]
    );

    let mut max_end = 0u64;
    for (number, p) in mbr.used() {
        let at = PARTITION_TABLE_OFFSET + (number - 1) * PARTITION_ENTRY_SIZE;
        let raw = &data[at..at + PARTITION_ENTRY_SIZE];
        assert_eq!(raw[0], if p.active { 0x80 } else { 0x00 });
        assert_eq!(raw[4], p.partition_type);
        assert_eq!(raw[8..16], bytes[at + 8..at + 16], "LBA fields of entry {number} changed");
        assert!(p.first_lba != 0 && p.sector_count != 0 && p.partition_type != 0);
        if p.partition_type != types::GPT_PROTECTIVE {
            max_end = max_end.max(p.end_lba());
        }
    }
    // Used entries never overlap.
    let used: Vec<_> = mbr.used().map(|(_, p)| *p).collect();
    for (i, a) in used.iter().enumerate() {
        for b in &used[i + 1..] {
            assert!(a.end_lba() <= b.first_lba as u64 || b.end_lba() <= a.first_lba as u64);
        }
    }
    // check_fits agrees with the largest end.
    assert_eq!(mbr.check_fits(max_end), Ok(()));
    if max_end > 0 {
        assert!(mbr.check_fits(max_end - 1).is_err());
    }
    let _ = format!("{mbr:?}");
}
