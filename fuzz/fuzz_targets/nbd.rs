//! The NBD protocol messages (`polyboot_core::nbd`): what `polyboot serve` reads from a client
//! and what polyboot-hook reads from a server. Must never panic; beyond that:
//!
//! - every fixed-size parser (greeting, option header, option reply header, request, simple
//!   reply) either refuses the bytes or accepts them so that encoding the result gives the
//!   same bytes back (the greeting: only its flags vary);
//! - an accepted option header or option reply header never claims more data than the bound;
//! - `parse_go` accepts exactly the data whose name length and info count add up to its
//!   length;
//! - a client taking the input as a stream of `NBD_OPT_GO` replies stops at the first error or
//!   ACK, and an ACK is only accepted after an export size was given;
//! - `check_read` serves only reads that end inside the export and are within the bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::bytes::{be16, be32};
use polyboot_core::nbd::*;

fn fixed<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at + N).and_then(|s| s.try_into().ok())
}

fuzz_target!(|data: &[u8]| {
    if let Some(g) = fixed::<GREETING_LEN>(data, 0) {
        if let Ok(flags) = parse_greeting(&g) {
            assert_ne!(flags & FLAG_FIXED_NEWSTYLE, 0);
            assert_eq!(&greeting()[..16], &g[..16]);
        }
    }
    if let Some(h) = fixed::<OPTION_HEADER_LEN>(data, 0) {
        if let Ok(o) = parse_option_header(&h) {
            assert!(o.len <= MAX_OPTION_LEN);
            let rest = data.get(16..).unwrap_or(&[]);
            let body = &rest[..rest.len().min(o.len as usize)];
            if body.len() == o.len as usize {
                assert_eq!(encode_option(o.option, body), data[..16 + body.len()].to_vec());
            }
        }
    }
    if let Some(h) = fixed::<OPTION_REPLY_HEADER_LEN>(data, 0) {
        if let Ok(r) = parse_option_reply_header(&h) {
            assert!(r.len <= MAX_OPTION_REPLY_LEN);
            let rest = data.get(20..).unwrap_or(&[]);
            if rest.len() >= r.len as usize {
                let body = &rest[..r.len as usize];
                assert_eq!(encode_option_reply(r.option, r.kind, body), data[..20 + body.len()]);
            }
        }
    }
    if let Some(r) = fixed::<REQUEST_LEN>(data, 0) {
        if let Ok(req) = parse_request(&r) {
            assert_eq!(encode_request(&req), r);
            let size = u64::from_le_bytes(fixed::<8>(data, 28).unwrap_or([0xff; 8]));
            if check_read(&req, size).is_ok() && req.command == CMD_READ {
                assert!(req.len <= MAX_READ_LEN);
                assert!(u128::from(req.offset) + u128::from(req.len) <= u128::from(size));
            }
        }
    }
    if let Some(r) = fixed::<SIMPLE_REPLY_LEN>(data, 0) {
        if let Ok(rep) = parse_simple_reply(&r) {
            assert_eq!(encode_simple_reply(rep.error, rep.cookie), r);
        }
    }
    if let Ok(go) = parse_go(data) {
        let name_len = be32(data, 0).unwrap() as usize;
        assert_eq!(go.name.len(), name_len);
        assert_eq!(usize::from(be16(data, 4 + name_len).unwrap()), go.info.len());
        assert_eq!(data.len(), 4 + name_len + 2 + 2 * go.info.len());
    }
    if let Ok(info) = parse_info(data) {
        if !matches!(info, Info::Other(_)) {
            assert_eq!(encode_info(info), data);
        }
    }
    // A stream of replies to NBD_OPT_GO.
    let mut facts = ExportFacts::default();
    let mut at = 0;
    while let Some(h) = fixed::<OPTION_REPLY_HEADER_LEN>(data, at) {
        let Ok(h) = parse_option_reply_header(&h) else { break };
        let body_at = at + OPTION_REPLY_HEADER_LEN;
        let Some(body) = data.get(body_at..body_at + h.len as usize) else { break };
        match take_go_reply(OPT_GO, &h, body, &mut facts) {
            Ok(true) => {
                assert_eq!(h.kind, REP_ACK);
                assert!(facts.size.is_some());
                break;
            }
            Ok(false) => at = body_at + body.len(),
            Err(_) => break,
        }
    }
});
