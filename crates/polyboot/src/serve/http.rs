//! The HTTP side (axum): the generated iPXE menu, the images with range requests
//! (tower-http's `ServeFile`), and the iPXE builds for UEFI HTTP Boot clients.
//!
//! Only what the menu lists is served: a path under `/images/` must be one of the scanned
//! images, so configuration files and anything else in SOURCE stay private.

use super::{source, Server};
use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use polyboot_core::config::Firmware;
use polyboot_core::menu::ImageEntry;
use polyboot_core::net::dhcp::format_mac;
use polyboot_core::net::ipxe;
use polyboot_core::net::rules::{parse_mac, Target, When};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// How long a scan is reused (sanboot makes many range requests).
const SCAN_TTL: Duration = Duration::from_secs(5);
/// How often the bytes-served lines are written.
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// Most (client, image) byte counters kept.
const MAX_COUNTERS: usize = 4096;

struct Http {
    server: Arc<Server>,
    scans: Mutex<HashMap<&'static str, (Instant, Vec<ImageEntry>)>>,
    /// (client, image) → (bytes served, bytes last reported).
    served: Mutex<HashMap<(Ipv4Addr, String), (u64, u64)>>,
}

impl Http {
    fn images(&self, firmware: Firmware) -> Vec<ImageEntry> {
        let key = fw_name(firmware);
        if let Ok(scans) = self.scans.lock() {
            if let Some((at, list)) = scans.get(key) {
                if at.elapsed() < SCAN_TTL {
                    return list.clone();
                }
            }
        }
        let (cfg, _) = source::load_config(&self.server.source, firmware);
        let list = source::images(&self.server.source, &cfg);
        if let Ok(mut scans) = self.scans.lock() {
            scans.insert(key, (Instant::now(), list.clone()));
        }
        list
    }
}

fn fw_name(f: Firmware) -> &'static str {
    match f {
        Firmware::Uefi => "uefi",
        Firmware::Bios => "bios",
    }
}

fn client_ip(addr: SocketAddr) -> Ipv4Addr {
    match addr.ip() {
        IpAddr::V4(v) => v,
        IpAddr::V6(v) => v.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}

/// Bind the HTTP port; the returned future serves until an error.
pub async fn bind(server: &Arc<Server>) -> Result<impl std::future::Future<Output = Result<()>>> {
    let addr = SocketAddrV4::new(server.listen, server.http_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding HTTP {addr}"))?;
    let state = Arc::new(Http {
        server: server.clone(),
        scans: Mutex::new(HashMap::new()),
        served: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/boot.ipxe", get(menu))
        .route("/images/{*path}", get(image).head(image))
        .route("/ipxe/{name}", get(first_stage))
        .with_state(state.clone());
    tokio::spawn(report_bytes(state));
    Ok(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
        Ok(())
    })
}

#[derive(serde::Deserialize)]
struct MenuQuery {
    fw: Option<String>,
    /// The machine's MAC, as iPXE expands `${netX/mac}` (asked for when rules are in use).
    mac: Option<String>,
}

/// What `--rules` says for this request: a script to send instead of the menu, or `None`
/// for the menu.
fn rule_script(http: &Http, ip: Ipv4Addr, firmware: Firmware, q: &MenuQuery) -> Option<String> {
    let server = &http.server;
    let rules = server.rules.as_ref()?;
    let base = server.base_url();
    let Some(mac_text) = q.mac.as_deref() else {
        // Ask iPXE for its MAC first: authoritative, and independent of our DHCP state.
        return Some(ipxe::with_mac_script(&base, &format!("/boot.ipxe?fw={}", fw_name(firmware))));
    };
    let mac = parse_mac(mac_text)?;
    if let Ok(mut c) = server.clients.lock() {
        if c.len() < MAX_COUNTERS || c.contains_key(&ip) {
            c.insert(ip, format_mac(&mac));
        }
    }
    let (index, rule) = {
        let spent = server.spent.lock().ok()?;
        rules.decide(mac, |i| spent.contains(&(i, mac)))?
    };
    let script = match &rule.target {
        Target::Menu => None,
        Target::Local => Some(ipxe::local_script()),
        Target::Image(path) => {
            let images = http.images(firmware);
            let found = images.iter().find(|i| i.path.eq_ignore_ascii_case(path));
            let script = found.and_then(|i| ipxe::direct_script(i, firmware, &base));
            if script.is_none() {
                server.events.emit(
                    "rule-error",
                    serde_json::json!({ "mac": format_mac(&mac), "line": rule.line, "image": path }),
                    format_args!(
                        "{} rule line {}: {path} is not an image this server boots for {} clients; menu instead",
                        format_mac(&mac),
                        rule.line,
                        fw_name(firmware)
                    ),
                );
            }
            script
        }
    };
    if rule.when == When::Once {
        if let Ok(mut spent) = server.spent.lock() {
            if spent.len() < MAX_COUNTERS {
                spent.insert((index, mac));
            }
        }
    }
    let target = match &rule.target {
        Target::Menu => "menu".to_string(),
        Target::Local => "local".to_string(),
        Target::Image(p) => p.clone(),
    };
    server.events.emit(
        "rule",
        serde_json::json!({
            "client": ip.to_string(), "mac": format_mac(&mac), "line": rule.line,
            "target": target, "once": rule.when == When::Once,
        }),
        format_args!("{ip} ({}) rule line {}: {target}", format_mac(&mac), rule.line),
    );
    script
}

async fn menu(
    State(http): State<Arc<Http>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<MenuQuery>,
) -> Response {
    let firmware = match q.fw.as_deref() {
        Some("bios") => Firmware::Bios,
        _ => Firmware::Uefi,
    };
    let ip = client_ip(peer);
    let h = http.clone();
    let ruled = tokio::task::spawn_blocking(move || rule_script(&h, ip, firmware, &q)).await;
    if let Ok(Some(script)) = ruled {
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], script).into_response();
    }
    let h = http.clone();
    let script = tokio::task::spawn_blocking(move || {
        let (cfg, problems) = source::load_config(&h.server.source, firmware);
        for p in problems {
            h.server.events.emit("config", serde_json::json!({ "warning": p }), &p);
        }
        let images = h.images(firmware);
        let title = format!("polyboot on {}", h.server.listen);
        (ipxe::menu_script(&images, &cfg, firmware, &h.server.base_url(), &title), images.len())
    })
    .await;
    let Ok((script, count)) = script else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    http.server.events.emit(
        "menu",
        serde_json::json!({
            "client": ip.to_string(), "mac": http.server.mac_of(ip),
            "firmware": fw_name(firmware), "images": count,
        }),
        format_args!(
            "{ip} ({}) {} menu, {count} images",
            http.server.mac_of(ip),
            fw_name(firmware)
        ),
    );
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], script).into_response()
}

async fn image(
    State(http): State<Arc<Http>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
    req: Request,
) -> Response {
    let want = format!("/{}", path.trim_start_matches('/'));
    let h = http.clone();
    let w = want.clone();
    let found = tokio::task::spawn_blocking(move || {
        [Firmware::Uefi, Firmware::Bios]
            .into_iter()
            .any(|f| h.images(f).iter().any(|i| i.path == w))
    })
    .await
    .unwrap_or(false);
    let host =
        found.then(|| source::DirTree { root: &http.server.source }.host_path(&want)).flatten();
    let Some(host) = host else {
        return (StatusCode::NOT_FOUND, "not an image of this server\n").into_response();
    };
    let resp = match ServeFile::new(host).oneshot(req).await {
        Ok(r) => r.map(Body::new),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let len = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let ip = client_ip(peer);
    let first = match http.served.lock() {
        Ok(mut served) => {
            let key = (ip, want.clone());
            let new = !served.contains_key(&key);
            if new && served.len() >= MAX_COUNTERS {
                false
            } else {
                served.entry(key).or_insert((0, 0)).0 += len;
                new
            }
        }
        Err(_) => false,
    };
    if first {
        http.server.events.emit(
            "image",
            serde_json::json!({ "client": ip.to_string(), "mac": http.server.mac_of(ip), "image": want }),
            format_args!("{ip} ({}) boots {want}", http.server.mac_of(ip)),
        );
    }
    resp
}

async fn first_stage(
    State(http): State<Arc<Http>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    if !super::tftp::FIRST_STAGES.contains(&name.as_str()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let ip = client_ip(peer);
    http.server.events.emit(
        "first-stage",
        serde_json::json!({ "client": ip.to_string(), "mac": http.server.mac_of(ip), "file": name }),
        format_args!("{ip} ({}) {name} over HTTP", http.server.mac_of(ip)),
    );
    match ServeFile::new(http.server.ipxe_dir.join(&name)).oneshot(req).await {
        Ok(r) => r.map(Body::new),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Every [`REPORT_EVERY`], one line per (client, image) that was served more bytes.
async fn report_bytes(http: Arc<Http>) {
    let mut tick = tokio::time::interval(REPORT_EVERY);
    loop {
        tick.tick().await;
        let changed: Vec<(Ipv4Addr, String, u64)> = match http.served.lock() {
            Ok(mut served) => served
                .iter_mut()
                .filter(|(_, (bytes, reported))| bytes != reported)
                .map(|((ip, image), (bytes, reported))| {
                    *reported = *bytes;
                    (*ip, image.clone(), *bytes)
                })
                .collect(),
            Err(_) => continue,
        };
        for (ip, image, bytes) in changed {
            http.server.events.emit(
                "served",
                serde_json::json!({ "client": ip.to_string(), "mac": http.server.mac_of(ip), "image": image, "bytes": bytes }),
                format_args!("{ip} ({}) {image}: {bytes} bytes served", http.server.mac_of(ip)),
            );
        }
    }
}
