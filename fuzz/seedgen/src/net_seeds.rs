//! Seeds for the dhcp and tftp targets: the messages `polyboot serve` meets and sends.

use polyboot_core::net::dhcp::{opt, DhcpMessage, MessageType, FLAG_BROADCAST, OP_REQUEST};
use polyboot_core::net::tftp::{err, Packet, Request};

/// A DISCOVER from a PXE ROM (OVMF-like, SeaBIOS-like, iPXE), a REQUEST, and two replies.
pub fn dhcp() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, arch, ipxe) in [("uefi", 7u16, false), ("bios", 0, false), ("ipxe", 7, true)] {
        let mut m = DhcpMessage::new(OP_REQUEST, 0x1234_5678);
        m.flags = FLAG_BROADCAST;
        m.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        m.set_option(opt::MESSAGE_TYPE, &[1]);
        m.set_option(opt::MAX_MESSAGE_SIZE, &[5, 0xc0]);
        m.set_option(opt::PARAMETER_LIST, &[1, 3, 6, 43, 60, 66, 67, 97, 175]);
        m.set_option(opt::CLIENT_ARCH, &arch.to_be_bytes());
        m.set_option(opt::CLIENT_NDI, &[1, 3, 0]);
        let mut uuid = vec![0u8];
        uuid.extend_from_slice(&[0xab; 16]);
        m.set_option(opt::CLIENT_UUID, &uuid);
        m.set_option(opt::VENDOR_CLASS, format!("PXEClient:Arch:{arch:05}:UNDI:003000").as_bytes());
        if ipxe {
            m.set_option(opt::USER_CLASS, b"iPXE");
            m.set_option(opt::IPXE_ENCAP, &[19, 1, 1, 17, 1, 1]);
        }
        out.push((format!("discover-{name}"), m.encode()));
        m.set_option(opt::MESSAGE_TYPE, &[3]);
        m.set_option(opt::REQUESTED_IP, &[192, 0, 2, 100]);
        m.set_option(opt::SERVER_ID, &[192, 0, 2, 1]);
        out.push((format!("request-{name}"), m.encode()));
        let mut r = DhcpMessage::reply_to(&m, MessageType::Ack, [192, 0, 2, 1]);
        r.yiaddr = [192, 0, 2, 100];
        r.set_option(opt::SUBNET_MASK, &[255, 255, 255, 0]);
        r.set_option(opt::VENDOR_SPECIFIC, &[6, 1, 8, 255]);
        r.set_tftp_server("192.0.2.1");
        r.set_bootfile("snponly.efi");
        out.push((format!("ack-{name}"), r.encode()));
    }
    out
}

/// Requests with and without options, DATA, ACK, ERROR and OACK.
pub fn tftp() -> Vec<(String, Vec<u8>)> {
    let opts = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let packets = [
        (
            "rrq-plain",
            Packet::Rrq(Request {
                filename: "undionly.kpxe".into(),
                mode: "octet".into(),
                options: vec![],
            }),
        ),
        (
            "rrq-options",
            Packet::Rrq(Request {
                filename: "/snponly.efi".into(),
                mode: "octet".into(),
                options: opts(&[("blksize", "1468"), ("tsize", "0"), ("timeout", "3")]),
            }),
        ),
        (
            "wrq",
            Packet::Wrq(Request { filename: "x".into(), mode: "netascii".into(), options: vec![] }),
        ),
        ("data", Packet::Data { block: 1, data: vec![0x4d, 0x5a, 0x90, 0] }),
        ("ack", Packet::Ack { block: 1 }),
        ("error", Packet::error(err::FILE_NOT_FOUND, "not served")),
        ("oack", Packet::Oack { options: opts(&[("blksize", "1468"), ("tsize", "123456")]) }),
    ];
    packets.into_iter().map(|(n, p)| (n.to_string(), p.encode())).collect()
}

/// A rules file with every line form.
pub fn rules() -> Vec<(String, Vec<u8>)> {
    let text = "# lab\ngroup lab 52:54:00:00:00:01 52-54-00-00-00-02\n\
                52:54:00:C0:FF:EE  /ISO/debian live.iso  once\n@lab /tools/memtest.efi always\n\
                * local\n* menu\n";
    vec![("all-forms".to_string(), text.as_bytes().to_vec())]
}
