use super::*;
use alloc::string::ToString;
use alloc::vec;

#[test]
fn greeting_is_the_documented_bytes_and_reads_back() {
    let g = greeting();
    assert_eq!(&g[..16], b"NBDMAGICIHAVEOPT");
    assert_eq!(&g[16..], &[0, 3]);
    assert_eq!(parse_greeting(&g), Ok(3));
    assert_eq!(client_flags(3), 3);
    assert_eq!(client_flags(1), 1);
    let mut old = g;
    old[8..16].copy_from_slice(&1u64.to_be_bytes()); // oldstyle: a size after NBDMAGIC
    assert!(matches!(parse_greeting(&old), Err(NbdError::BadMagic { what: "newstyle", .. })));
    let mut plain = g;
    plain[17] = 0;
    assert_eq!(parse_greeting(&plain), Err(NbdError::NotFixedNewstyle));
    let mut bad = g;
    bad[0] = b'X';
    assert!(parse_greeting(&bad).unwrap_err().to_string().contains("greeting magic"));
}

#[test]
fn go_option_round_trips_and_bounds() {
    let opt = encode_option(OPT_GO, &encode_go(b"images/live.iso"));
    let head: &[u8; OPTION_HEADER_LEN] = opt[..16].try_into().unwrap();
    let h = parse_option_header(head).unwrap();
    assert_eq!(h, OptionHeader { option: OPT_GO, len: (opt.len() - 16) as u32 });
    let go = parse_go(&opt[16..]).unwrap();
    assert_eq!(go, GoRequest { name: b"images/live.iso".to_vec(), info: vec![INFO_BLOCK_SIZE] });
    // Hostile data: a name longer than the data, info requests past the end, trailing bytes.
    assert!(parse_go(&[0, 0, 0, 9, b'a']).is_err());
    assert!(parse_go(&[0, 0, 0, 0, 0, 2, 0, 3]).is_err());
    assert!(parse_go(&[0, 0, 0, 0, 0, 0, 7]).is_err());
    assert!(parse_go(&[0xff, 0xff, 0xff, 0xff]).is_err());
    let mut long = opt[..16].to_vec();
    long[12..16].copy_from_slice(&(MAX_OPTION_LEN + 1).to_be_bytes());
    let e = parse_option_header(long.as_slice().try_into().unwrap()).unwrap_err();
    assert!(matches!(e, NbdError::TooLong { .. }), "{e}");
}

#[test]
fn go_replies_give_the_export_facts() {
    let export = Info::Export { size: 1 << 30, flags: TFLAG_HAS_FLAGS | TFLAG_READ_ONLY };
    let block = Info::BlockSize { min: 1, preferred: 4096, max: MAX_READ_LEN };
    let mut facts = ExportFacts::default();
    for (kind, data) in
        [(REP_INFO, encode_info(export)), (REP_INFO, encode_info(block)), (REP_ACK, vec![])]
    {
        let reply = encode_option_reply(OPT_GO, kind, &data);
        let h = parse_option_reply_header(reply[..20].try_into().unwrap()).unwrap();
        let done = take_go_reply(OPT_GO, &h, &reply[20..], &mut facts).unwrap();
        assert_eq!(done, kind == REP_ACK);
    }
    assert_eq!(facts.size, Some(1 << 30));
    assert_eq!(facts.flags, 3);
    assert_eq!(facts.block_size, Some((1, 4096, MAX_READ_LEN)));

    // An ACK before any size, an error reply with its message, a reply to another option.
    let ack = OptionReplyHeader { option: OPT_GO, kind: REP_ACK, len: 0 };
    assert_eq!(
        take_go_reply(OPT_GO, &ack, &[], &mut ExportFacts::default()),
        Err(NbdError::NoExportInfo)
    );
    let unknown = OptionReplyHeader { option: OPT_GO, kind: REP_ERR_UNKNOWN, len: 7 };
    let e = take_go_reply(OPT_GO, &unknown, b"no such", &mut ExportFacts::default()).unwrap_err();
    assert_eq!(e.to_string(), "option 7 refused (NBD_REP_ERR_UNKNOWN): no such");
    let other = OptionReplyHeader { option: OPT_LIST, kind: REP_ACK, len: 0 };
    assert!(take_go_reply(OPT_GO, &other, &[], &mut facts).is_err());
    // Wrong lengths of known items, unknown items ignored.
    assert!(parse_info(&[0, 0, 1]).is_err());
    assert!(parse_info(&encode_info(export)[..11]).is_err());
    assert_eq!(parse_info(&[0, 2, b'd']), Ok(Info::Other(2)));
    let mut bad = encode_option_reply(OPT_GO, REP_ACK, &[]);
    bad[19] = 0xff;
    bad[18] = 0xff;
    assert!(parse_option_reply_header(bad[..20].try_into().unwrap()).is_err());
}

#[test]
fn requests_and_replies_round_trip_and_reads_are_checked() {
    let r = Request { flags: 0, command: CMD_READ, cookie: 42, offset: 4096, len: 512 };
    let bytes = encode_request(&r);
    assert_eq!(&bytes[..4], &[0x25, 0x60, 0x95, 0x13]);
    assert_eq!(parse_request(&bytes), Ok(r));
    let mut bad = bytes;
    bad[0] = 0;
    assert!(parse_request(&bad).is_err());
    assert_eq!(check_read(&r, 4608), Ok(()));
    assert_eq!(check_read(&r, 4607), Err(EINVAL));
    let past = Request { offset: u64::MAX - 10, ..r };
    assert_eq!(check_read(&past, u64::MAX), Err(EINVAL));
    let big = Request { len: MAX_READ_LEN + 1, offset: 0, ..r };
    assert_eq!(check_read(&big, u64::MAX), Err(EINVAL));
    assert_eq!(check_read(&Request { command: CMD_WRITE, ..r }, 1 << 20), Err(EPERM));
    assert_eq!(check_read(&Request { command: CMD_FLUSH, ..r }, 0), Ok(()));
    assert_eq!(check_read(&Request { command: 9, ..r }, 1 << 20), Err(ENOTSUP));
    let reply = encode_simple_reply(EIO, 42);
    assert_eq!(parse_simple_reply(&reply), Ok(SimpleReply { error: EIO, cookie: 42 }));
    let mut bad = reply;
    bad[3] = 0;
    assert!(parse_simple_reply(&bad).is_err());
}
