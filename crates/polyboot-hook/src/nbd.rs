//! An NBD client over TCP (issue 19: an image served by `polyboot serve` instead of read from
//! the drive). Fixed newstyle handshake with `NBD_OPT_GO`, read-only simple requests; every
//! byte the server sends is parsed by core [`polyboot_core::nbd`].
//!
//! It reads the image in user space (the hand-off's files come through [`ReadAt`] like the
//! drive's); the kernel's own NBD client takes the connected socket afterwards
//! ([`NbdClient::into_stream`]) for the block device the init mounts.

use polyboot_core::block::{IoError, ReadAt};
use polyboot_core::nbd::{self, ExportFacts, Request};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A connected client in transmission phase.
#[derive(Debug)]
pub struct NbdClient {
    stream: TcpStream,
    facts: ExportFacts,
    size: u64,
    next_cookie: u64,
}

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl NbdClient {
    /// Connect to `addr`, negotiate export `name` with `NBD_OPT_GO`. Every read and write
    /// waits at most `timeout`.
    pub fn connect(addr: SocketAddr, name: &str, timeout: Duration) -> Result<Self, String> {
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(io("connect"))?;
        stream.set_read_timeout(Some(timeout)).map_err(io("socket"))?;
        stream.set_write_timeout(Some(timeout)).map_err(io("socket"))?;
        let _ = stream.set_nodelay(true);
        let mut c = NbdClient { stream, facts: ExportFacts::default(), size: 0, next_cookie: 1 };
        c.handshake(name.as_bytes())?;
        Ok(c)
    }

    fn handshake(&mut self, name: &[u8]) -> Result<(), String> {
        let mut g = [0u8; nbd::GREETING_LEN];
        self.stream.read_exact(&mut g).map_err(io("greeting"))?;
        let flags = nbd::parse_greeting(&g).map_err(|e| e.to_string())?;
        let mut out = nbd::client_flags(flags).to_be_bytes().to_vec();
        out.extend_from_slice(&nbd::encode_option(nbd::OPT_GO, &nbd::encode_go(name)));
        self.stream.write_all(&out).map_err(io("NBD_OPT_GO"))?;
        // A bounded number of replies: a server sending INFO forever is refused.
        for _ in 0..64 {
            let mut h = [0u8; nbd::OPTION_REPLY_HEADER_LEN];
            self.stream.read_exact(&mut h).map_err(io("option reply"))?;
            let h = nbd::parse_option_reply_header(&h).map_err(|e| e.to_string())?;
            let mut data = vec![0u8; h.len as usize];
            self.stream.read_exact(&mut data).map_err(io("option reply data"))?;
            if nbd::take_go_reply(nbd::OPT_GO, &h, &data, &mut self.facts)
                .map_err(|e| e.to_string())?
            {
                self.size = self.facts.size.unwrap_or(0);
                return Ok(());
            }
        }
        Err(String::from("more than 64 option replies"))
    }

    /// The export's transmission flags (read-only, ...).
    pub fn flags(&self) -> u16 {
        self.facts.flags
    }

    /// Read `buf.len()` bytes at `offset` (split into requests the server accepts).
    pub fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let end = offset.checked_add(buf.len() as u64).filter(|&e| e <= self.size);
        if end.is_none() {
            return Err(format!(
                "{} bytes at {offset} are past the export's {} bytes",
                buf.len(),
                self.size
            ));
        }
        let max = self.facts.block_size.map_or(nbd::MAX_READ_LEN, |(_, _, m)| m.max(4096));
        let max = max.min(nbd::MAX_READ_LEN) as usize;
        let mut done = 0usize;
        while done < buf.len() {
            let n = (buf.len() - done).min(max);
            let cookie = self.next_cookie;
            self.next_cookie += 1;
            let r = Request {
                flags: 0,
                command: nbd::CMD_READ,
                cookie,
                offset: offset + done as u64,
                len: n as u32,
            };
            self.stream.write_all(&nbd::encode_request(&r)).map_err(io("read request"))?;
            let mut h = [0u8; nbd::SIMPLE_REPLY_LEN];
            self.stream.read_exact(&mut h).map_err(io("reply"))?;
            let reply = nbd::parse_simple_reply(&h).map_err(|e| e.to_string())?;
            if reply.cookie != cookie {
                return Err(format!("a reply for request {} to request {cookie}", reply.cookie));
            }
            if reply.error != 0 {
                return Err(format!("the server answered error {} to a read", reply.error));
            }
            self.stream.read_exact(&mut buf[done..done + n]).map_err(io("read data"))?;
            done += n;
        }
        Ok(())
    }

    /// The connected socket, for the kernel's NBD client; the handshake is over.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}

impl ReadAt for NbdClient {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.read_exact_at(offset, buf).map_err(IoError::Device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};

    /// qemu-nbd serving `file` read-only as export `name` on 127.0.0.1: an independent server.
    struct QemuNbd(Child);

    impl Drop for QemuNbd {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn qemu_nbd(file: &std::path::Path, name: &str) -> (QemuNbd, SocketAddr) {
        let port = free_port();
        let child = Command::new("qemu-nbd")
            .args(["-r", "-t", "-e", "2", "-f", "raw", "-x", name, "-b", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("qemu-nbd (qemu-utils)");
        let guard = QemuNbd(child);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..100 {
            if TcpStream::connect(addr).is_ok() {
                return (guard, addr);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("qemu-nbd did not listen on {addr}");
    }

    #[test]
    fn reads_an_image_from_qemu_nbd() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("image.iso");
        // 3 MiB + 512 of a pattern that differs per 512-byte sector.
        let data: Vec<u8> = (0..(3u64 << 20) + 512)
            .map(|i| ((i / 512) as u8) ^ (i as u8).wrapping_mul(7))
            .collect();
        std::fs::write(&file, &data).unwrap();
        let (_server, addr) = qemu_nbd(&file, "live.iso");

        let mut c = NbdClient::connect(addr, "live.iso", Duration::from_secs(10)).unwrap();
        assert_eq!(c.size(), data.len() as u64);
        assert_ne!(c.flags() & nbd::TFLAG_READ_ONLY, 0, "flags {:#x}", c.flags());
        let mut buf = vec![0u8; 4096];
        c.read_at(1_000_000, &mut buf).unwrap();
        assert_eq!(buf, &data[1_000_000..1_004_096]);
        // All of it in one call (split into requests), then the last sector.
        let mut all = vec![0u8; data.len()];
        c.read_at(0, &mut all).unwrap();
        assert!(all == data, "the bytes read differ from the file");
        let mut last = [0u8; 512];
        c.read_at(3 << 20, &mut last).unwrap();
        assert_eq!(&last[..], &data[3 << 20..]);
        // Past the end: refused here, nothing sent, the connection still works.
        assert!(c.read_exact_at(3 << 20, &mut [0u8; 513]).unwrap_err().contains("past"));
        c.read_at(0, &mut last).unwrap();
        assert_eq!(&last[..], &data[..512]);

        // An export the server does not have: its refusal, in words.
        let e = NbdClient::connect(addr, "other.iso", Duration::from_secs(10)).unwrap_err();
        assert!(e.contains("refused (NBD_REP_ERR_UNKNOWN)"), "{e}");
    }

    #[test]
    fn a_server_that_is_not_nbd_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        let e = NbdClient::connect(addr, "x", Duration::from_secs(5)).unwrap_err();
        assert!(e.contains("greeting magic"), "{e}");
        server.join().unwrap();
        // Nobody listening.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        assert!(NbdClient::connect(closed, "x", Duration::from_secs(5)).is_err());
    }
}
