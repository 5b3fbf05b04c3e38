//! A read-only NBD server (fixed newstyle): how a network-booted Linux maps its image as a
//! block device (polyboot-hook's `nbd` client hands the negotiated socket to the kernel).
//! Every message is parsed by core [`polyboot_core::nbd`]; this file is the I/O around it.
//!
//! Exports are named by the image's path in SOURCE (`live/debian.iso`); only names the
//! caller's `lookup` resolves are served. Bounded: connections (`max_connections`, the
//! others are closed at once), the handshake's duration and option count, option data and read
//! sizes (core's bounds). A client that vanishes ends its task when its socket errors or idles
//! out (`idle`).

use polyboot_core::nbd::{self, Info, Request};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Resolves an export name to the file to serve.
pub type Lookup = Arc<dyn Fn(&str) -> Option<PathBuf> + Send + Sync>;
/// Reports one event: (event name, client address, text).
pub type Report = Arc<dyn Fn(&str, &str, String) + Send + Sync>;

/// Limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// The whole handshake must end within this.
    pub handshake: Duration,
    /// A connection with no request for this long is closed.
    pub idle: Duration,
    /// Options one client may send before transmission.
    pub max_options: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            handshake: Duration::from_secs(10),
            idle: Duration::from_secs(3600),
            max_options: 32,
        }
    }
}

/// Accept NBD clients on `listener` until it fails.
pub async fn serve(
    listener: TcpListener,
    lookup: Lookup,
    limits: Limits,
    report: Report,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let (stream, peer) = listener.accept().await?;
        let peer = peer.to_string();
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            report("nbd-refused", &peer, format!("over {} connections", limits.max_connections));
            continue;
        };
        let (lookup, report) = (lookup.clone(), report.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match connection(stream, &lookup, limits, &report, &peer).await {
                Ok(done) => report("nbd-done", &peer, done),
                Err(e) => report("nbd-error", &peer, e),
            }
        });
    }
}

/// The export one connection negotiated.
struct Export {
    name: String,
    file: std::fs::File,
    /// The file's length, and the export's size (rounded up to 512).
    len: u64,
    size: u64,
}

async fn connection(
    mut s: TcpStream,
    lookup: &Lookup,
    limits: Limits,
    report: &Report,
    peer: &str,
) -> Result<String, String> {
    let export = tokio::time::timeout(limits.handshake, handshake(&mut s, lookup, limits))
        .await
        .map_err(|_| format!("handshake not finished within {:?}", limits.handshake))??;
    let Some(export) = export else {
        return Ok(String::from("closed during the handshake"));
    };
    report("nbd-export", peer, format!("{} ({} bytes)", export.name, export.size));
    let file = Arc::new(export.file);
    let len = export.len;
    let mut served = 0u64;
    loop {
        let mut r = [0u8; nbd::REQUEST_LEN];
        match tokio::time::timeout(limits.idle, s.read_exact(&mut r)).await {
            Err(_) => return Ok(format!("{}: idle, {served} bytes served", export.name)),
            Ok(Err(e)) => return Ok(format!("{}: {e}, {served} bytes served", export.name)),
            Ok(Ok(_)) => {}
        }
        let req = nbd::parse_request(&r).map_err(|e| e.to_string())?;
        if req.command == nbd::CMD_DISC {
            return Ok(format!("{}: disconnected, {served} bytes served", export.name));
        }
        if req.command == nbd::CMD_WRITE {
            // The payload follows; skip it (bounded) and refuse.
            if req.len > nbd::MAX_READ_LEN {
                return Err(format!("a write of {} bytes", req.len));
            }
            let mut sink = tokio::io::sink();
            let mut take = (&mut s).take(req.len.into());
            tokio::io::copy(&mut take, &mut sink).await.map_err(|e| e.to_string())?;
        }
        match nbd::check_read(&req, export.size) {
            Err(errno) => {
                s.write_all(&nbd::encode_simple_reply(errno, req.cookie))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(()) if req.command == nbd::CMD_READ => {
                let data = read_at(&file, len, &req).await;
                match data {
                    Ok(buf) => {
                        let mut out = nbd::encode_simple_reply(0, req.cookie).to_vec();
                        out.extend_from_slice(&buf);
                        s.write_all(&out).await.map_err(|e| e.to_string())?;
                        served += buf.len() as u64;
                    }
                    Err(_) => {
                        s.write_all(&nbd::encode_simple_reply(nbd::EIO, req.cookie))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            Ok(()) => {
                s.write_all(&nbd::encode_simple_reply(0, req.cookie))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }
}

/// The request's bytes: the file's, then zeros past its length `file_len`.
async fn read_at(
    file: &Arc<std::fs::File>,
    file_len: u64,
    req: &Request,
) -> std::io::Result<Vec<u8>> {
    let file = file.clone();
    let (offset, len) = (req.offset, req.len as usize);
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        let in_file = file_len.saturating_sub(offset).min(len as u64) as usize;
        file.read_exact_at(&mut buf[..in_file], offset)?;
        Ok(buf)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The handshake: `Ok(None)` when the client ended it (NBD_OPT_ABORT, a refused
/// NBD_OPT_EXPORT_NAME).
async fn handshake(
    s: &mut TcpStream,
    lookup: &Lookup,
    limits: Limits,
) -> Result<Option<Export>, String> {
    let io = |e: std::io::Error| e.to_string();
    s.write_all(&nbd::greeting()).await.map_err(io)?;
    let client_flags = s.read_u32().await.map_err(io)?;
    if client_flags & nbd::FLAG_C_FIXED_NEWSTYLE == 0 {
        return Err(String::from("the client does not speak fixed newstyle"));
    }
    let no_zeroes = client_flags & nbd::FLAG_C_NO_ZEROES != 0;
    for _ in 0..limits.max_options {
        let mut h = [0u8; nbd::OPTION_HEADER_LEN];
        s.read_exact(&mut h).await.map_err(io)?;
        let h = nbd::parse_option_header(&h).map_err(|e| e.to_string())?;
        let mut data = vec![0u8; h.len as usize];
        s.read_exact(&mut data).await.map_err(io)?;
        let reply = |kind: u32, data: &[u8]| nbd::encode_option_reply(h.option, kind, data);
        match h.option {
            nbd::OPT_GO | nbd::OPT_INFO => {
                let go = match nbd::parse_go(&data) {
                    Ok(go) => go,
                    Err(e) => {
                        let msg = e.to_string();
                        s.write_all(&reply(nbd::REP_ERR_INVALID, msg.as_bytes()))
                            .await
                            .map_err(io)?;
                        continue;
                    }
                };
                let name = String::from_utf8_lossy(&go.name).into_owned();
                let Some(export) = open(lookup, &name) else {
                    let msg = format!("no export {name:?}");
                    s.write_all(&reply(nbd::REP_ERR_UNKNOWN, msg.as_bytes())).await.map_err(io)?;
                    continue;
                };
                let mut out = reply(nbd::REP_INFO, &nbd::encode_info(export_info(export.size)));
                if go.info.contains(&nbd::INFO_BLOCK_SIZE) {
                    let bs = Info::BlockSize { min: 1, preferred: 4096, max: nbd::MAX_READ_LEN };
                    out.extend_from_slice(&reply(nbd::REP_INFO, &nbd::encode_info(bs)));
                }
                out.extend_from_slice(&reply(nbd::REP_ACK, &[]));
                s.write_all(&out).await.map_err(io)?;
                if h.option == nbd::OPT_GO {
                    return Ok(Some(export));
                }
            }
            nbd::OPT_EXPORT_NAME => {
                let name = String::from_utf8_lossy(&data).into_owned();
                // No error reply exists for this option: the connection is closed.
                let Some(export) = open(lookup, &name) else { return Ok(None) };
                let Info::Export { size, flags } = export_info(export.size) else {
                    return Ok(None);
                };
                let mut out = size.to_be_bytes().to_vec();
                out.extend_from_slice(&flags.to_be_bytes());
                if !no_zeroes {
                    out.extend_from_slice(&[0u8; 124]);
                }
                s.write_all(&out).await.map_err(io)?;
                return Ok(Some(export));
            }
            nbd::OPT_ABORT => {
                let _ = s.write_all(&reply(nbd::REP_ACK, &[])).await;
                return Ok(None);
            }
            _ => {
                s.write_all(&reply(nbd::REP_ERR_UNSUP, &[])).await.map_err(io)?;
            }
        }
    }
    Err(format!("more than {} options", limits.max_options))
}

fn export_info(size: u64) -> Info {
    Info::Export {
        size,
        flags: nbd::TFLAG_HAS_FLAGS
            | nbd::TFLAG_READ_ONLY
            | nbd::TFLAG_SEND_FLUSH
            | nbd::TFLAG_CAN_MULTI_CONN,
    }
}

/// The export is the file padded with zeros to a whole number of 512-byte sectors, as
/// qemu-nbd does: block clients (the kernel, qemu) see whole sectors, and qemu rounds an
/// unaligned size up and then reads the tail.
fn open(lookup: &Lookup, name: &str) -> Option<Export> {
    let path = lookup(name)?;
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let size = len.checked_next_multiple_of(512)?;
    Some(Export { name: name.to_string(), file, len, size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A server on 127.0.0.1 exporting `file` as `name`; its events are collected.
    fn start(
        rt: &tokio::runtime::Runtime,
        file: PathBuf,
        name: &'static str,
        limits: Limits,
    ) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
        let events = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ev = events.clone();
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let lookup: Lookup = Arc::new(move |n: &str| (n == name).then(|| file.clone()));
        let report: Report = Arc::new(move |event: &str, _peer: &str, text: String| {
            ev.lock().unwrap().push(format!("{event}: {text}"))
        });
        rt.spawn(serve(listener, lookup, limits, report));
        (addr, events)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| ((i / 4096) as u8).wrapping_add((i % 251) as u8)).collect()
    }

    /// qemu-img, an independent NBD client, copies the export byte for byte.
    #[test]
    fn qemu_img_reads_the_export() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("live.iso");
        let data = pattern((5 << 20) + 1000);
        std::fs::write(&file, &data).unwrap();
        let (addr, events) = start(&rt, file, "live/live.iso", Limits::default());
        let url = format!("nbd://{addr}/live/live.iso");
        let info = Command::new("qemu-img").args(["info", "--output=json", &url]).output().unwrap();
        assert!(info.status.success(), "{}", String::from_utf8_lossy(&info.stderr));
        let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        // Padded to whole sectors with zeros, as qemu-nbd does.
        let padded = data.len().next_multiple_of(512);
        assert_eq!(info["virtual-size"], padded as u64);
        let out = t.path().join("copy.raw");
        let r = Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "raw", &url])
            .arg(&out)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let copy = std::fs::read(&out).unwrap();
        assert_eq!(copy.len(), padded);
        assert!(copy[..data.len()] == data[..], "the copy differs");
        assert!(copy[data.len()..].iter().all(|&b| b == 0), "the padding is not zeros");
        // An unknown export: refused in words.
        let bad = format!("nbd://{addr}/other.iso");
        let r = Command::new("qemu-img").args(["info", &bad]).output().unwrap();
        assert!(!r.status.success());
        let text = String::from_utf8_lossy(&r.stderr);
        assert!(text.contains("no export"), "{text}");
        let events = events.lock().unwrap().join("\n");
        assert!(events.contains("nbd-export: live/live.iso (5243904 bytes)"), "{events}");
    }

    /// Hostile or stuck clients: garbage, an oversized option, silence, too many
    /// connections. Each ends its own connection; the server keeps serving.
    #[test]
    fn bad_clients_end_only_their_own_connection() {
        use std::io::{Read, Write};
        let rt = tokio::runtime::Runtime::new().unwrap();
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("x.img");
        std::fs::write(&file, pattern(8192)).unwrap();
        let limits =
            Limits { max_connections: 2, handshake: Duration::from_secs(1), ..Limits::default() };
        let (addr, events) = start(&rt, file, "x.img", limits);
        let greet = |s: &mut std::net::TcpStream| {
            let mut g = [0u8; 18];
            s.read_exact(&mut g).unwrap();
            assert_eq!(&g[..8], b"NBDMAGIC");
        };
        // Garbage after the greeting.
        let mut a = std::net::TcpStream::connect(addr).unwrap();
        greet(&mut a);
        a.write_all(&[0, 0, 0, 3]).unwrap();
        a.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut rest = Vec::new();
        let _ = a.read_to_end(&mut rest);
        // An option claiming 1 GiB of data.
        let mut b = std::net::TcpStream::connect(addr).unwrap();
        greet(&mut b);
        b.write_all(&[0, 0, 0, 3]).unwrap();
        let mut opt = nbd::encode_option(nbd::OPT_GO, &[]);
        opt[12..16].copy_from_slice(&(1u32 << 30).to_be_bytes());
        b.write_all(&opt).unwrap();
        let _ = b.read_to_end(&mut rest);
        // Silence: closed after the handshake limit.
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        greet(&mut c);
        let started = std::time::Instant::now();
        let _ = c.read_to_end(&mut rest);
        assert!(started.elapsed() < Duration::from_secs(5));
        // The server still serves a well-behaved client.
        let r = Command::new("qemu-img")
            .args(["info", &format!("nbd://{addr}/x.img")])
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let events = events.lock().unwrap().join("\n");
        assert!(events.contains("bad option magic"), "{events}");
        assert!(events.contains("over the 8192 allowed"), "{events}");
        assert!(events.contains("handshake not finished"), "{events}");
    }
}
