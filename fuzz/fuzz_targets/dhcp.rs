//! The DHCPv4 decoder on arbitrary datagrams. It must never panic; whatever it accepts must
//! survive an encode / decode round trip unchanged, and the typed accessors and the reply
//! builder must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::net::dhcp::{DhcpError, DhcpMessage, MessageType, HEADER_LEN, MAX_MESSAGE_LEN};

fuzz_target!(|data: &[u8]| {
    match DhcpMessage::decode(data) {
        Ok(m) => {
            let bytes = m.encode();
            assert_eq!(bytes.len(), m.encoded_len());
            assert!(bytes.len() <= MAX_MESSAGE_LEN.max(300), "{} bytes", bytes.len());
            let again = DhcpMessage::decode(&bytes).expect("an encoded message must decode");
            assert_eq!(again, m, "decode(encode(m)) != m");
            let _ = (m.message_type(), m.mac(), m.server_id(), m.requested_ip());
            let _ = (m.vendor_class(), m.is_pxe_client(), m.client_arch(), m.client_uuid());
            let _ = (m.has_user_class(b"iPXE"), m.bootfile());
            let mut r = DhcpMessage::reply_to(&m, MessageType::Offer, [192, 0, 2, 1]);
            r.set_bootfile("http://192.0.2.1:8080/boot.ipxe?fw=uefi");
            assert_eq!(DhcpMessage::decode(&r.encode()).expect("a reply must decode"), r);
        }
        Err(e) => {
            let _ = e.to_string();
            if data.len() < HEADER_LEN {
                assert_eq!(e, DhcpError::TooShort { len: data.len() });
            }
        }
    }
});
