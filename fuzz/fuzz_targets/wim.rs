//! WIM headers and XML descriptions on arbitrary bytes. The input is read three ways:
//!
//! - as a whole file: `read_header`, `read_xml_bytes`, `has_solid_resources`, `read_info`;
//! - as XML text (lossy UTF-8, its first 64 KiB): `parse_xml_str`, then the same text wrapped by a valid
//!   header as UTF-16LE, where `read_info` must agree with the text parse;
//! - as an ISO image: `sources/install.wim` (when `iso9660::probe` and `lookup` find it) read
//!   through `IsoFile`, which must agree with reading the file's bytes directly.
//!
//! Must never panic; accepted results respect the documented bounds (part numbers, image
//! count, indexes 1..=n, field lengths, resources inside the file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::{MemDevice, ReadAt};
use polyboot_core::iso9660;
use polyboot_core::wim::{
    self, IsoFile, WimError, WimInfo, WimXml, HEADER_SIZE, MAGIC, MAX_FIELD_CHARS, MAX_IMAGES,
    VERSION_DEFAULT,
};

const XML_TEXT_LIMIT: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let mut dev = MemDevice::from_vec(data.to_vec());
    let direct = check_file(&mut dev);

    // The text readings on the first 64 KiB (XML descriptions are small; a whole ISO as text
    // would only slow every execution down).
    let head = &data[..data.len().min(XML_TEXT_LIMIT)];
    let text = String::from_utf8_lossy(head);
    let parsed = wim::parse_xml_str(&text);
    if let Ok(xml) = &parsed {
        check_xml(xml);
    }
    let _ = wim::parse_xml(head).map(|x| check_xml(&x));
    wrapped(&text, &parsed);

    if let Ok(iso) = iso9660::probe(&mut dev) {
        let tree = iso.preferred_tree().clone();
        if let Ok(entry) = iso9660::lookup(&mut dev, &tree, "sources/install.wim") {
            if let Ok(mut file) = IsoFile::new(&mut dev, entry.clone()) {
                assert_eq!(file.size(), entry.size);
                let through_iso = check_file(&mut file);
                // The same bytes, read out of the ISO first (when they are small and whole).
                if entry.size <= 1 << 20 {
                    if let Ok(bytes) = iso9660::read_to_vec(&mut dev, &entry, 1 << 20) {
                        if bytes.len() as u64 == entry.size {
                            let mut copy = MemDevice::from_vec(bytes);
                            assert_eq!(through_iso, check_file(&mut copy));
                        }
                    }
                }
            }
        }
    }
    drop(direct);
});

/// Read a whole file every way; the result of `read_info`.
fn check_file<D: ReadAt>(dev: &mut D) -> Result<WimInfo, WimError> {
    let size = dev.size();
    let header = wim::read_header(dev);
    if let Ok(h) = &header {
        assert!(size >= HEADER_SIZE as u64);
        assert!(h.part_number >= 1 && h.part_number <= h.total_parts, "{h:?}");
        assert!(h.image_count as usize <= MAX_IMAGES);
        let _ = h.guid_hex();
        if let Ok(xml) = wim::read_xml_bytes(dev, h) {
            assert_eq!(xml.len() as u64, h.xml.size_in_wim);
            assert!(h.xml.offset + h.xml.size_in_wim <= size);
        }
        if wim::has_solid_resources(dev, h) == Ok(true) {
            assert!(h.solid_version());
        }
    }
    let info = wim::read_info(dev);
    match &info {
        Ok(i) => {
            assert_eq!(Ok(&i.header), header.as_ref());
            assert_eq!(i.xml.images.len(), i.header.image_count as usize);
            for (n, im) in i.xml.images.iter().enumerate() {
                assert_eq!(im.index as usize, n + 1);
            }
            check_xml(&i.xml);
        }
        Err(e) => {
            let _ = e.to_string();
            // A header error is what read_info reports too.
            if let Err(he) = &header {
                assert_eq!(e, he);
            }
        }
    }
    info
}

fn check_xml(xml: &WimXml) {
    assert!(xml.images.len() <= MAX_IMAGES);
    for w in xml.images.windows(2) {
        assert!(w[0].index < w[1].index, "images not sorted or duplicated");
    }
    for im in &xml.images {
        assert!(im.index >= 1);
        for s in [
            &im.name,
            &im.description,
            &im.display_name,
            &im.display_description,
            &im.flags,
            &im.edition_id,
            &im.installation_type,
            &im.product_name,
            &im.default_language,
        ]
        .into_iter()
        .flatten()
        {
            assert!(s.chars().count() <= MAX_FIELD_CHARS);
            assert!(!s.is_empty());
        }
        let _ = im.arch_name();
        let _ = im.version.map(|v| v.to_string());
    }
}

/// `text` as the UTF-16LE XML of an otherwise valid WIM: `read_info` parses it like
/// `parse_xml_str`, and succeeds when the header's image count matches indexes 1..=n.
fn wrapped(text: &str, parsed: &Result<WimXml, WimError>) {
    let mut xml = vec![0xff, 0xfe];
    for u in text.encode_utf16() {
        xml.extend_from_slice(&u.to_le_bytes());
    }
    let count = match parsed {
        Ok(x) if x.images.len() <= MAX_IMAGES => x.images.len() as u32,
        _ => 0,
    };
    let mut v = vec![0u8; HEADER_SIZE];
    v[..8].copy_from_slice(MAGIC);
    v[8..12].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    v[12..16].copy_from_slice(&VERSION_DEFAULT.to_le_bytes());
    v[40..42].copy_from_slice(&1u16.to_le_bytes());
    v[42..44].copy_from_slice(&1u16.to_le_bytes());
    v[44..48].copy_from_slice(&count.to_le_bytes());
    v[72..80].copy_from_slice(&(xml.len() as u64).to_le_bytes());
    v[80..88].copy_from_slice(&(HEADER_SIZE as u64).to_le_bytes());
    v.extend_from_slice(&xml);
    let got = wim::read_info(&mut MemDevice::from_vec(v));
    match (parsed, &got) {
        (Ok(x), Ok(info)) => assert_eq!(&info.xml, x),
        (Ok(x), Err(e)) => {
            let sequential = x.images.iter().enumerate().all(|(n, im)| im.index as usize == n + 1);
            assert!(
                !sequential || xml.len() as u64 > wim::MAX_XML_BYTES,
                "read_info refused a valid document: {e:?}"
            );
        }
        (Err(_), Ok(_)) => panic!("read_info accepted XML that parse_xml_str refused"),
        (Err(_), Err(_)) => {}
    }
}
