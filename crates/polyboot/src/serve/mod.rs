//! `polyboot serve`: network boot of a directory of images.
//!
//! Three servers on one address, all in one tokio runtime:
//! - [`dhcp`]: proxy-DHCP (default; PXE clients only) or a full DHCP server (`--dhcp-range`).
//!   It tells BIOS from UEFI x64 clients by option 93 and hands out the first stage (TFTP) or,
//!   to a client that is already iPXE (user class "iPXE"), the URL of the menu.
//! - [`tftp`]: the first stage, only the few iPXE files named in [`tftp::FIRST_STAGES`].
//! - [`http`]: `/boot.ipxe` (the generated menu, [`polyboot_core::net::ipxe`]), `/images/...`
//!   (the scanned images only, with range requests) and `/ipxe/...` (UEFI HTTP Boot).
//!
//! The packet formats are polyboot-core's ([`polyboot_core::net`]); HTTP is axum's.

pub mod dhcp;
pub mod http;
pub mod ifaddr;
pub mod nbd;
pub mod source;
pub mod tftp;

use crate::cli::{ServeArgs, UefiFirstStage};
use anyhow::{bail, Context, Result};
use polyboot_core::config::Firmware;
use polyboot_core::net::rules::Rules;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Everything the three servers share.
pub struct Server {
    pub listen: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub interface: String,
    pub http_port: u16,
    pub source: PathBuf,
    pub ipxe_dir: PathBuf,
    pub uefi_first_stage: UefiFirstStage,
    pub max_tftp_sessions: usize,
    pub events: Events,
    /// Client address → MAC, from the DHCP exchanges (for the HTTP log lines).
    pub clients: Mutex<HashMap<Ipv4Addr, String>>,
    /// `--rules`.
    pub rules: Option<Rules>,
    /// (rule index, MAC) of the `once` rules already used.
    pub spent: Mutex<HashSet<(usize, [u8; 6])>>,
}

impl Server {
    /// `http://192.0.2.1:8080`.
    pub fn base_url(&self) -> String {
        format!("http://{}:{}", self.listen, self.http_port)
    }

    /// The MAC address a client IP had in DHCP, or "-".
    pub fn mac_of(&self, ip: Ipv4Addr) -> String {
        self.clients.lock().ok().and_then(|c| c.get(&ip).cloned()).unwrap_or_else(|| "-".into())
    }
}

/// Log lines (stderr) or JSON events (stdout, one object per line).
pub struct Events {
    pub json: bool,
}

impl Events {
    /// Report `event` with its fields; `text` is the human line.
    pub fn emit(&self, event: &str, fields: serde_json::Value, text: impl std::fmt::Display) {
        if self.json {
            let mut obj = serde_json::json!({ "event": event });
            if let (Some(o), serde_json::Value::Object(f)) = (obj.as_object_mut(), fields) {
                o.extend(f);
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{obj}");
            let _ = out.flush();
        } else {
            eprintln!("{event}: {text}");
        }
    }
}

/// `FIRST-LAST`.
pub fn parse_range(s: &str) -> Result<(Ipv4Addr, Ipv4Addr)> {
    let (a, b) =
        s.split_once('-').context("--dhcp-range is FIRST-LAST, e.g. 192.0.2.100-192.0.2.199")?;
    let a: Ipv4Addr =
        a.trim().parse().with_context(|| format!("--dhcp-range: {a} is not an IPv4 address"))?;
    let b: Ipv4Addr =
        b.trim().parse().with_context(|| format!("--dhcp-range: {b} is not an IPv4 address"))?;
    if u32::from(a) > u32::from(b) {
        bail!("--dhcp-range: {a} comes after {b}");
    }
    if u32::from(b) - u32::from(a) >= 65536 {
        bail!("--dhcp-range: more than 65536 addresses");
    }
    Ok((a, b))
}

pub fn run(args: ServeArgs) -> Result<()> {
    let meta = std::fs::metadata(&args.source)
        .with_context(|| format!("cannot read {}", args.source.display()))?;
    if !meta.is_dir() {
        bail!(
            "{} is not a directory: serving a polyboot drive or drive image is not supported yet",
            args.source.display()
        );
    }
    let (interface, listen, netmask) = ifaddr::resolve(args.interface.as_deref(), args.listen)
        .context("choosing the interface")?;
    let range = args.dhcp_range.as_deref().map(parse_range).transpose()?;
    if let Some((a, b)) = range {
        let m = u32::from(netmask);
        if u32::from(a) & m != u32::from(listen) & m || u32::from(b) & m != u32::from(listen) & m {
            bail!("--dhcp-range {a}-{b} is not in {listen}'s subnet (mask {netmask})");
        }
    }
    for f in tftp::FIRST_STAGES {
        if !args.ipxe_dir.join(f).is_file() {
            eprintln!(
                "warning: {} missing (install Debian's ipxe package)",
                args.ipxe_dir.join(f).display()
            );
        }
    }
    let rules = match &args.rules {
        None => None,
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the rules file {}", path.display()))?;
            Some(Rules::parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?)
        }
    };
    let server = Arc::new(Server {
        listen,
        netmask,
        interface,
        http_port: args.http_port,
        source: args.source.canonicalize()?,
        ipxe_dir: args.ipxe_dir,
        uefi_first_stage: args.uefi_first_stage,
        max_tftp_sessions: args.max_tftp_sessions.max(1),
        events: Events { json: args.json },
        clients: Mutex::new(HashMap::new()),
        rules,
        spent: Mutex::new(HashSet::new()),
    });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let http = http::bind(&server).await?;
        let tftp = tftp::bind(&server).await?;
        let dhcp = dhcp::bind(&server, range, args.lease_secs).await?;
        let nbd = bind_nbd(&server, args.nbd_port).await?;
        server.events.emit(
            "listening",
            serde_json::json!({
                "address": listen.to_string(),
                "interface": server.interface,
                "http": SocketAddr::from((listen, server.http_port)).to_string(),
                "nbd": (args.nbd_port != 0).then(|| SocketAddr::from((listen, args.nbd_port)).to_string()),
                "dhcp": if range.is_some() { "full" } else { "proxy" },
                "source": server.source.display().to_string(),
            }),
            format_args!(
                "{listen} on {} ({} DHCP), menu at {}/boot.ipxe, images from {}",
                server.interface,
                if range.is_some() { "full" } else { "proxy" },
                server.base_url(),
                server.source.display()
            ),
        );
        tokio::select! {
            r = http => r.context("HTTP server")?,
            r = tftp => r.context("TFTP server")?,
            r = dhcp => r.context("DHCP server")?,
            r = nbd => r.context("NBD server")?,
            _ = tokio::signal::ctrl_c() => {}
        }
        anyhow::Ok(())
    })
}

/// The NBD server on `port` (never ending when `port` is 0): exports are the scanned images
/// (either firmware's menu), named by their path without the leading `/`.
async fn bind_nbd(
    server: &Arc<Server>,
    port: u16,
) -> Result<impl std::future::Future<Output = Result<()>>> {
    let listener = if port == 0 {
        None
    } else {
        let addr = SocketAddr::from((server.listen, port));
        Some(tokio::net::TcpListener::bind(addr).await.with_context(|| format!("NBD on {addr}"))?)
    };
    let s = server.clone();
    let lookup: nbd::Lookup = Arc::new(move |name: &str| {
        let want = format!("/{}", name.trim_start_matches('/'));
        let known = [Firmware::Uefi, Firmware::Bios].into_iter().any(|f| {
            let (cfg, _) = source::load_config(&s.source, f);
            source::images(&s.source, &cfg).iter().any(|i| i.path == want)
        });
        known.then(|| source::DirTree { root: &s.source }.host_path(&want)).flatten()
    });
    let s = server.clone();
    let report: nbd::Report = Arc::new(move |event: &str, peer: &str, text: String| {
        s.events.emit(
            event,
            serde_json::json!({ "client": peer, "detail": text }),
            format_args!("{peer} {text}"),
        )
    });
    Ok(async move {
        match listener {
            Some(l) => nbd::serve(l, lookup, nbd::Limits::default(), report).await?,
            None => std::future::pending::<()>().await,
        }
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("192.0.2.10-192.0.2.20").unwrap(),
            ("192.0.2.10".parse().unwrap(), "192.0.2.20".parse().unwrap())
        );
        assert!(parse_range("192.0.2.20-192.0.2.10").is_err());
        assert!(parse_range("192.0.2.20").is_err());
        assert!(parse_range("10.0.0.0-10.2.0.0").is_err());
    }
}
