//! The TFTP decoder on arbitrary datagrams. It must never panic; whatever it accepts must
//! encode back to the same bytes (the format has one encoding; ERROR drops what follows its
//! message), and the request option
//! readers must stay in their ranges.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::net::tftp::{Packet, MAX_BLKSIZE, MIN_BLKSIZE};

fuzz_target!(|data: &[u8]| {
    match Packet::decode(data) {
        Ok(p) => {
            let bytes = p.encode();
            assert_eq!(Packet::decode(&bytes).as_ref(), Ok(&p), "decode(encode(p)) != p");
            if !matches!(p, Packet::Error { .. }) {
                // One encoding (an ERROR's bytes after its message's NUL are dropped).
                assert_eq!(bytes, data, "encoding differs from the input");
            }
            if let Packet::Rrq(r) | Packet::Wrq(r) = &p {
                if let Some(b) = r.blksize(1468) {
                    assert!((MIN_BLKSIZE..=1468).contains(&b));
                }
                if let Some(b) = r.blksize(MAX_BLKSIZE) {
                    assert!((MIN_BLKSIZE..=MAX_BLKSIZE).contains(&b));
                }
                assert!(r.timeout().is_none_or(|t| t >= 1));
                let _ = (r.wants_tsize(), r.is_octet(), r.option("blksize"));
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
