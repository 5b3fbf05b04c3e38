//! The DHCP side: proxy-DHCP (default) or a full DHCP server (`--dhcp-range`).
//!
//! Decisions are made by [`Responder::answer`], a pure function of the request and the lease
//! table, so they are unit-tested without sockets. The socket is bound to 0.0.0.0:67 on the
//! one interface (SO_BINDTODEVICE) so broadcasts from clients without an address arrive, and
//! replies go out as broadcasts (or to the relay / the client's own address when it has one).
//! In proxy mode the PXE port 4011 is served too (clients that ask the proxy again there).

use super::Server;
use crate::cli::UefiFirstStage;
use anyhow::{Context, Result};
use polyboot_core::net::dhcp::{
    format_mac, opt, pxe_vendor_options_boot_file_directly, ClientArch, DhcpMessage, MessageType,
    MAX_MESSAGE_LEN, OP_REQUEST,
};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use tokio::net::UdpSocket;

/// Most leases kept (full DHCP); the oldest unused are reused past this.
const MAX_LEASES: usize = 65536;

/// What a client gets as its boot file.
pub fn boot_file(
    arch: Option<ClientArch>,
    is_ipxe: bool,
    uefi: UefiFirstStage,
    base_url: &str,
) -> Option<String> {
    let fw = match arch {
        Some(ClientArch::Bios) | None => "bios",
        Some(ClientArch::UefiX64 | ClientArch::UefiX64Http) => "uefi",
        Some(ClientArch::Other(_)) => return None,
    };
    if is_ipxe {
        return Some(format!("{base_url}/boot.ipxe?fw={fw}"));
    }
    let efi = match uefi {
        UefiFirstStage::Snponly => "snponly.efi",
        UefiFirstStage::Ipxe => "ipxe.efi",
    };
    match arch {
        Some(ClientArch::Bios) | None => Some("undionly.kpxe".into()),
        Some(ClientArch::UefiX64) => Some(efi.into()),
        Some(ClientArch::UefiX64Http) => Some(format!("{base_url}/ipxe/{efi}")),
        Some(ClientArch::Other(_)) => None,
    }
}

/// The DHCP decisions and the lease table.
pub struct Responder {
    pub server: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub base_url: String,
    pub uefi: UefiFirstStage,
    /// `Some` for full DHCP.
    pub range: Option<(Ipv4Addr, Ipv4Addr)>,
    pub lease_secs: u32,
    leases: HashMap<[u8; 6], Ipv4Addr>,
}

/// A reply and where it goes.
#[derive(Debug)]
pub struct Reply {
    pub message: DhcpMessage,
    pub to: SocketAddrV4,
    /// For the log: MAC, firmware, address, boot file.
    pub mac: String,
    pub arch: &'static str,
    pub boot_file: Option<String>,
}

impl Responder {
    pub fn new(
        server: Ipv4Addr,
        netmask: Ipv4Addr,
        base_url: String,
        uefi: UefiFirstStage,
        range: Option<(Ipv4Addr, Ipv4Addr)>,
        lease_secs: u32,
    ) -> Self {
        Self { server, netmask, base_url, uefi, range, lease_secs, leases: HashMap::new() }
    }

    /// The address leased to `mac`, allocating one from the range.
    fn lease(&mut self, mac: [u8; 6]) -> Option<Ipv4Addr> {
        let (first, last) = self.range?;
        if let Some(ip) = self.leases.get(&mac) {
            return Some(*ip);
        }
        if self.leases.len() >= MAX_LEASES {
            return None;
        }
        let used: std::collections::HashSet<Ipv4Addr> = self.leases.values().copied().collect();
        let ip = (u32::from(first)..=u32::from(last))
            .map(Ipv4Addr::from)
            .find(|ip| !used.contains(ip) && *ip != self.server)?;
        self.leases.insert(mac, ip);
        Some(ip)
    }

    /// The reply to `req` arriving on port 67 (`pxe_port` false) or 4011, if any.
    pub fn answer(&mut self, req: &DhcpMessage, pxe_port: bool) -> Option<Reply> {
        if req.op != OP_REQUEST {
            return None;
        }
        let mac = req.mac()?;
        let kind = req.message_type()?;
        let pxe = req.is_pxe_client();
        let http = req.is_http_client();
        let is_ipxe = req.has_user_class(b"iPXE");
        let arch = req.client_arch();
        let boot = if pxe || http || is_ipxe {
            boot_file(arch, is_ipxe, self.uefi, &self.base_url)
        } else {
            None
        };
        let full = self.range.is_some() && !pxe_port;
        let (reply_kind, yiaddr) = match (kind, full) {
            (MessageType::Discover, true) => (MessageType::Offer, self.lease(mac)?),
            (MessageType::Request, true) => {
                // A request naming another server means the client took that offer.
                if req.server_id().is_some_and(|s| s != self.server.octets()) {
                    return None;
                }
                let want = req
                    .requested_ip()
                    .map(Ipv4Addr::from)
                    .or_else(|| (req.ciaddr != [0; 4]).then(|| Ipv4Addr::from(req.ciaddr)));
                let ip = self.lease(mac)?;
                if want.is_some_and(|w| w != ip) {
                    let mut nak =
                        DhcpMessage::reply_to(req, MessageType::Nak, self.server.octets());
                    nak.siaddr = [0; 4];
                    return Some(Reply {
                        to: destination(req),
                        message: nak,
                        mac: format_mac(&mac),
                        arch: arch.map_or("unknown", ClientArch::name),
                        boot_file: None,
                    });
                }
                (MessageType::Ack, ip)
            }
            // Proxy-DHCP: offer boot information only, to PXE clients, no address.
            (MessageType::Discover, false) if (pxe || http) && !pxe_port => {
                (MessageType::Offer, Ipv4Addr::UNSPECIFIED)
            }
            (MessageType::Request | MessageType::Inform, false) if pxe && pxe_port => {
                (MessageType::Ack, Ipv4Addr::UNSPECIFIED)
            }
            _ => return None,
        };
        if !full && boot.is_none() {
            return None;
        }
        let mut m = DhcpMessage::reply_to(req, reply_kind, self.server.octets());
        m.yiaddr = yiaddr.octets();
        if full {
            m.set_option(opt::SUBNET_MASK, &self.netmask.octets());
            m.set_option(opt::LEASE_TIME, &self.lease_secs.to_be_bytes());
        }
        if let Some(file) = &boot {
            m.set_tftp_server(&self.server.to_string());
            m.set_bootfile(file);
            if pxe && !is_ipxe {
                m.set_option(opt::VENDOR_SPECIFIC, &pxe_vendor_options_boot_file_directly());
            }
            if arch == Some(ClientArch::UefiX64Http) && !is_ipxe {
                m.set_option(opt::VENDOR_CLASS, b"HTTPClient");
            }
        }
        let to = if pxe_port {
            SocketAddrV4::new(Ipv4Addr::from(req.ciaddr), 4011)
        } else {
            destination(req)
        };
        Some(Reply {
            message: m,
            to,
            mac: format_mac(&mac),
            arch: arch.map_or("unknown", ClientArch::name),
            boot_file: boot,
        })
    }
}

/// Remember which MAC asked for which address (also from requests meant for another server,
/// so proxy-DHCP log lines name the client's MAC too).
fn learn_client(server: &Server, req: &DhcpMessage) {
    if req.op != OP_REQUEST || req.message_type() != Some(MessageType::Request) {
        return;
    }
    let (Some(mac), Some(ip)) = (req.mac(), req.requested_ip().or(Some(req.ciaddr))) else {
        return;
    };
    let ip = Ipv4Addr::from(ip);
    if ip.is_unspecified() {
        return;
    }
    if let Ok(mut c) = server.clients.lock() {
        if c.len() < MAX_LEASES || c.contains_key(&ip) {
            c.insert(ip, format_mac(&mac));
        }
    }
}

/// Where a reply to `req` goes (RFC 2131 4.1): the relay, the client's address, or broadcast.
fn destination(req: &DhcpMessage) -> SocketAddrV4 {
    if req.giaddr != [0; 4] {
        SocketAddrV4::new(Ipv4Addr::from(req.giaddr), 67)
    } else if req.ciaddr != [0; 4] {
        SocketAddrV4::new(Ipv4Addr::from(req.ciaddr), 68)
    } else {
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
    }
}

fn udp_socket(bind: SocketAddrV4, interface: Option<&str>) -> Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    if let Some(i) = interface {
        s.bind_device(Some(i.as_bytes()))
            .with_context(|| format!("binding to interface {i} (needs root or CAP_NET_RAW)"))?;
    }
    s.bind(&SocketAddr::V4(bind).into())
        .with_context(|| format!("binding UDP {bind} (needs root or CAP_NET_BIND_SERVICE)"))?;
    s.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(s.into())?)
}

/// Bind the DHCP socket(s); the returned future serves until an error.
pub async fn bind(
    server: &Arc<Server>,
    range: Option<(Ipv4Addr, Ipv4Addr)>,
    lease_secs: u32,
) -> Result<impl std::future::Future<Output = Result<()>>> {
    let main = udp_socket(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67), Some(&server.interface))?;
    let pxe = if range.is_none() {
        Some(udp_socket(SocketAddrV4::new(server.listen, 4011), None)?)
    } else {
        None
    };
    let responder = Arc::new(tokio::sync::Mutex::new(Responder::new(
        server.listen,
        server.netmask,
        server.base_url(),
        server.uefi_first_stage,
        range,
        lease_secs,
    )));
    let server = server.clone();
    Ok(async move {
        let a = serve(main, false, responder.clone(), server.clone());
        match pxe {
            Some(p) => {
                let b = serve(p, true, responder, server);
                tokio::try_join!(a, b).map(|_| ())
            }
            None => a.await,
        }
    })
}

async fn serve(
    sock: UdpSocket,
    pxe_port: bool,
    responder: Arc<tokio::sync::Mutex<Responder>>,
    server: Arc<Server>,
) -> Result<()> {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN + 1];
    loop {
        let (n, from) = sock.recv_from(&mut buf).await?;
        let Ok(req) = DhcpMessage::decode(&buf[..n]) else { continue };
        learn_client(&server, &req);
        let (reply, full) = {
            let mut r = responder.lock().await;
            (r.answer(&req, pxe_port), r.range.is_some())
        };
        let Some(mut r) = reply else { continue };
        if pxe_port {
            // The client unicast to 4011 from its own address: answer there.
            if let SocketAddr::V4(v4) = from {
                r.to = v4;
            }
        }
        if let Err(e) = sock.send_to(&r.message.encode(), r.to).await {
            server.events.emit(
                "dhcp-error",
                serde_json::json!({ "mac": r.mac, "error": e.to_string() }),
                format_args!("{}: sending to {}: {e}", r.mac, r.to),
            );
            continue;
        }
        let kind =
            r.message.message_type().map(|k| format!("{k:?}").to_lowercase()).unwrap_or_default();
        let ip = Ipv4Addr::from(r.message.yiaddr);
        if !ip.is_unspecified() {
            if let Ok(mut c) = server.clients.lock() {
                if c.len() < MAX_LEASES {
                    c.insert(ip, r.mac.clone());
                }
            }
        }
        server.events.emit(
            "dhcp",
            serde_json::json!({
                "mac": r.mac, "firmware": r.arch, "reply": kind,
                "address": (!ip.is_unspecified()).then(|| ip.to_string()),
                "boot_file": r.boot_file, "proxy": !full,
            }),
            format_args!(
                "{} {} {kind}{}{}",
                r.mac,
                r.arch,
                if ip.is_unspecified() { String::new() } else { format!(" {ip}") },
                r.boot_file.as_deref().map(|f| format!(" boot {f}")).unwrap_or_default()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn discover(arch: u16, ipxe: bool, pxe: bool) -> DhcpMessage {
        let mut m = DhcpMessage::new(OP_REQUEST, 42);
        m.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 1, 2, 3]);
        m.set_option(opt::MESSAGE_TYPE, &[1]);
        m.set_option(opt::CLIENT_ARCH, &arch.to_be_bytes());
        if pxe {
            m.set_option(opt::VENDOR_CLASS, b"PXEClient:Arch:00000:UNDI:002001");
        }
        if ipxe {
            m.set_option(opt::USER_CLASS, b"iPXE");
        }
        m
    }

    fn responder(full: bool) -> Responder {
        Responder::new(
            SERVER,
            Ipv4Addr::new(255, 255, 255, 0),
            "http://192.0.2.1:8080".into(),
            UefiFirstStage::Snponly,
            full.then(|| (Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 101))),
            600,
        )
    }

    #[test]
    fn proxy_offers_first_stage_by_arch() {
        let mut r = responder(false);
        let bios = r.answer(&discover(0, false, true), false).unwrap();
        assert_eq!(bios.message.bootfile().as_deref(), Some("undionly.kpxe"));
        assert_eq!(bios.message.yiaddr, [0; 4]);
        assert_eq!(bios.message.option(opt::VENDOR_CLASS), Some(&b"PXEClient"[..]));
        assert_eq!(bios.message.server_id(), Some(SERVER.octets()));
        assert!(bios.message.option(opt::SUBNET_MASK).is_none());
        assert_eq!(bios.to, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
        let uefi = r.answer(&discover(7, false, true), false).unwrap();
        assert_eq!(uefi.message.bootfile().as_deref(), Some("snponly.efi"));
        assert_eq!(uefi.arch, "uefi-x64");
        let http = r.answer(&discover(16, false, true), false).unwrap();
        assert_eq!(
            http.message.bootfile().as_deref(),
            Some("http://192.0.2.1:8080/ipxe/snponly.efi")
        );
        assert_eq!(http.message.option(opt::VENDOR_CLASS), Some(&b"HTTPClient"[..]));
        // A UEFI HTTP Boot client says HTTPClient, not PXEClient.
        let mut hc = discover(16, false, false);
        hc.set_option(opt::VENDOR_CLASS, b"HTTPClient:Arch:00016:UNDI:003001");
        let hr = r.answer(&hc, false).unwrap();
        assert_eq!(
            hr.message.bootfile().as_deref(),
            Some("http://192.0.2.1:8080/ipxe/snponly.efi")
        );
        assert_eq!(hr.message.option(opt::VENDOR_CLASS), Some(&b"HTTPClient"[..]));
        assert!(hr.message.option(opt::VENDOR_SPECIFIC).is_none());
        // iPXE gets the menu's URL.
        let ipxe = r.answer(&discover(7, true, true), false).unwrap();
        assert_eq!(
            ipxe.message.bootfile().as_deref(),
            Some("http://192.0.2.1:8080/boot.ipxe?fw=uefi")
        );
        // Not PXE: no answer in proxy mode; unknown arch: none either.
        assert!(r.answer(&discover(0, false, false), false).is_none());
        assert!(r.answer(&discover(11, false, true), false).is_none());
        // Requests on 67 are the real server's business.
        let mut req = discover(0, false, true);
        req.set_option(opt::MESSAGE_TYPE, &[3]);
        assert!(r.answer(&req, false).is_none());
        assert!(r.answer(&req, true).is_some());
    }

    #[test]
    fn full_dhcp_leases_and_naks() {
        let mut r = responder(true);
        let offer = r.answer(&discover(0, false, false), false).unwrap();
        assert_eq!(offer.message.yiaddr, [192, 0, 2, 100]);
        assert_eq!(offer.message.option(opt::SUBNET_MASK), Some(&[255, 255, 255, 0][..]));
        assert_eq!(offer.message.bootfile(), None);
        let mut req = discover(0, false, false);
        req.set_option(opt::MESSAGE_TYPE, &[3]);
        req.set_option(opt::REQUESTED_IP, &[192, 0, 2, 100]);
        req.set_option(opt::SERVER_ID, &SERVER.octets());
        let ack = r.answer(&req, false).unwrap();
        assert_eq!(ack.message.message_type(), Some(MessageType::Ack));
        assert_eq!(ack.message.yiaddr, [192, 0, 2, 100]);
        req.set_option(opt::REQUESTED_IP, &[192, 0, 2, 55]);
        let nak = r.answer(&req, false).unwrap();
        assert_eq!(nak.message.message_type(), Some(MessageType::Nak));
        req.set_option(opt::SERVER_ID, &[192, 0, 2, 9]);
        assert!(r.answer(&req, false).is_none());
        // A PXE client gets its first stage with the address; the pool runs out after two.
        let mut other = discover(7, false, true);
        other.chaddr[5] = 9;
        let o = r.answer(&other, false).unwrap();
        assert_eq!(o.message.yiaddr, [192, 0, 2, 101]);
        assert_eq!(o.message.bootfile().as_deref(), Some("snponly.efi"));
        other.chaddr[5] = 10;
        assert!(r.answer(&other, false).is_none());
    }
}
