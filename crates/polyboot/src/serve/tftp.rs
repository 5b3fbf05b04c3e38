//! The TFTP server for the first stage: read requests for the iPXE builds in
//! [`FIRST_STAGES`] only, octet mode, with blksize / tsize / timeout negotiation.
//!
//! Bounded: at most `--max-tftp-sessions` transfers at a time (further requests get an
//! ERROR), each on its own socket; a block is sent at most [`MAX_TRIES`] times before the
//! transfer is given up, so a client that vanishes costs one task for a few seconds.

use super::Server;
use anyhow::{Context, Result};
use polyboot_core::net::tftp::{
    encode_data_into, err, Packet, Request, DEFAULT_BLKSIZE, MAX_REQUEST_LEN,
};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

/// The files served (Debian's ipxe package).
pub const FIRST_STAGES: [&str; 3] = ["undionly.kpxe", "ipxe.efi", "snponly.efi"];
/// Largest block size granted: a block and its headers fit a 1500-byte Ethernet frame.
pub const MAX_GRANTED_BLKSIZE: u16 = 1468;
/// Sends of one packet before the transfer is given up.
pub const MAX_TRIES: u32 = 5;
/// Default wait for an ACK.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest file served (the first stages are a few hundred KiB).
pub const MAX_FILE: u64 = 32 << 20;

/// Bind port 69 on the serving address; the returned future serves until an error.
pub async fn bind(server: &Arc<Server>) -> Result<impl std::future::Future<Output = Result<()>>> {
    let addr = SocketAddrV4::new(server.listen, 69);
    let sock = UdpSocket::bind(addr).await.with_context(|| format!("binding TFTP {addr}"))?;
    let server = server.clone();
    Ok(async move {
        let sessions = Arc::new(Semaphore::new(server.max_tftp_sessions));
        let mut buf = vec![0u8; MAX_REQUEST_LEN + 1];
        loop {
            let (n, from) = sock.recv_from(&mut buf).await?;
            let reply_err = |code, msg: &str| Packet::error(code, msg).encode();
            let req = match Packet::decode(&buf[..n]) {
                Ok(Packet::Rrq(r)) => r,
                Ok(Packet::Wrq(_)) => {
                    let _ =
                        sock.send_to(&reply_err(err::ACCESS_VIOLATION, "read only"), from).await;
                    continue;
                }
                _ => continue,
            };
            let Ok(permit) = sessions.clone().try_acquire_owned() else {
                let _ = sock.send_to(&reply_err(err::NOT_DEFINED, "server busy"), from).await;
                continue;
            };
            let server = server.clone();
            tokio::spawn(async move {
                let _permit = permit;
                transfer(&server, req, from).await;
            });
        }
    })
}

/// The served file's bytes, or a TFTP error.
fn open(server: &Server, req: &Request) -> Result<(String, Vec<u8>), (u16, &'static str)> {
    if !req.is_octet() {
        return Err((err::ILLEGAL_OPERATION, "only octet mode"));
    }
    let name = req.filename.trim_start_matches('/');
    let Some(file) = FIRST_STAGES.iter().find(|f| **f == name) else {
        return Err((err::FILE_NOT_FOUND, "not served"));
    };
    let path = server.ipxe_dir.join(file);
    match std::fs::metadata(&path) {
        Ok(m) if m.len() <= MAX_FILE => {}
        _ => return Err((err::FILE_NOT_FOUND, "not on the server")),
    }
    std::fs::read(&path)
        .map(|d| (file.to_string(), d))
        .map_err(|_| (err::FILE_NOT_FOUND, "not on the server"))
}

async fn transfer(server: &Server, req: Request, client: SocketAddr) {
    let peer_ip = match client {
        SocketAddr::V4(v) => *v.ip(),
        SocketAddr::V6(_) => return,
    };
    let Ok(sock) = UdpSocket::bind(SocketAddrV4::new(server.listen, 0)).await else { return };
    if sock.connect(client).await.is_err() {
        return;
    }
    let (name, data) = match open(server, &req) {
        Ok(x) => x,
        Err((code, msg)) => {
            let _ = sock.send(&Packet::error(code, msg).encode()).await;
            server.events.emit(
                "tftp-refused",
                serde_json::json!({ "client": peer_ip.to_string(), "file": req.filename, "error": msg }),
                format_args!("{peer_ip} {:?}: {msg}", req.filename),
            );
            return;
        }
    };
    let blksize = req.blksize(MAX_GRANTED_BLKSIZE);
    let timeout = req.timeout().map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs(t.into()));
    let mut oack = Vec::new();
    if let Some(b) = blksize {
        oack.push(("blksize".to_string(), b.to_string()));
    }
    if req.wants_tsize() {
        oack.push(("tsize".to_string(), data.len().to_string()));
    }
    if req.timeout().is_some() {
        oack.push(("timeout".to_string(), timeout.as_secs().to_string()));
    }
    let blksize = usize::from(blksize.unwrap_or(DEFAULT_BLKSIZE));
    let start = std::time::Instant::now();
    let result = async {
        if !oack.is_empty() {
            let pkt = Packet::Oack { options: oack }.encode();
            if !send_until_ack(&sock, &pkt, 0, timeout).await? {
                // The client refused the options, or only wanted the size (UEFI PXE asks
                // for tsize, then aborts and asks again), or vanished.
                return Ok(None);
            }
        }
        let mut pkt = Vec::with_capacity(4 + blksize);
        let mut block: u16 = 0;
        let mut at = 0usize;
        loop {
            block = block.wrapping_add(1);
            let end = (at + blksize).min(data.len());
            encode_data_into(&mut pkt, block, &data[at..end]);
            if !send_until_ack(&sock, &pkt, block, timeout).await? {
                return Ok(Some(at as u64));
            }
            let last = end - at < blksize;
            at = end;
            if last {
                return Ok(Some(at as u64));
            }
        }
    }
    .await;
    let sent: std::io::Result<Option<u64>> = result;
    let (ok, bytes) = match sent {
        Ok(Some(b)) => (b as usize == data.len(), b),
        Ok(None) => {
            server.events.emit(
                "tftp-options",
                serde_json::json!({
                    "client": peer_ip.to_string(), "mac": server.mac_of(peer_ip), "file": name,
                    "size": data.len(),
                }),
                format_args!(
                    "{peer_ip} ({}) {name}: options acknowledged, no transfer (size query)",
                    server.mac_of(peer_ip)
                ),
            );
            return;
        }
        Err(_) => (false, 0),
    };
    server.events.emit(
        "tftp",
        serde_json::json!({
            "client": peer_ip.to_string(), "mac": server.mac_of(peer_ip), "file": name,
            "bytes": bytes, "complete": ok, "ms": start.elapsed().as_millis() as u64,
        }),
        format_args!(
            "{peer_ip} ({}) {name}: {bytes} bytes{}",
            server.mac_of(peer_ip),
            if ok { "" } else { ", incomplete (client gone)" }
        ),
    );
}

/// Send `pkt` until the client ACKs `block`: `Ok(false)` when it never does (or sends an
/// ERROR).
async fn send_until_ack(
    sock: &UdpSocket,
    pkt: &[u8],
    block: u16,
    timeout: Duration,
) -> std::io::Result<bool> {
    let mut buf = [0u8; 516];
    for _ in 0..MAX_TRIES {
        sock.send(pkt).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break, // resend
                Ok(Err(_)) => return Ok(false),
                Ok(Ok(n)) => match Packet::decode(&buf[..n]) {
                    Ok(Packet::Ack { block: b }) if b == block => return Ok(true),
                    Ok(Packet::Error { .. }) => return Ok(false),
                    // Duplicate or stray ACKs: keep waiting (no resend: sorcerer's apprentice).
                    _ => {}
                },
            }
        }
    }
    Ok(false)
}
