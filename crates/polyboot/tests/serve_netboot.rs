//! `polyboot serve` boots real firmware over the network: OVMF and SeaBIOS with QEMU's iPXE
//! NIC ROMs PXE-boot from it, get the generated iPXE menu and boot the default image, which
//! prints a marker on the serial console.
//!
//! Every packet stays inside a network namespace the test makes and deletes: a bridge with the
//! server's veth on one side and QEMU's tap on the other, addresses from 192.0.2.0/24
//! (TEST-NET-1). The test thread enters the namespace (setns affects only the calling
//! thread), so the server and QEMU it starts live there too. Needs root.

use polyboot_tests::{fixtures, require_root, Firmware, Vm, VmConfig};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SERVER: &str = "192.0.2.1";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip (iproute2)");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A namespace with a bridge br0, the server's veth0 (192.0.2.1/24, its peer on the bridge)
/// and a tap0 on the bridge for QEMU. Deleted on drop (which takes every interface with it).
struct Netns {
    name: String,
}

impl Netns {
    fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        ip(&["netns", "add", name]);
        let ns = Netns { name: name.to_string() };
        let n = |args: &[&str]| {
            let mut a = vec!["-n", name];
            a.extend_from_slice(args);
            ip(&a);
        };
        n(&["link", "set", "lo", "up"]);
        n(&["link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
        n(&["link", "add", "veth0", "type", "veth", "peer", "name", "veth1"]);
        n(&["link", "set", "veth1", "master", "br0"]);
        n(&["tuntap", "add", "dev", "tap0", "mode", "tap"]);
        n(&["link", "set", "tap0", "master", "br0"]);
        n(&["addr", "add", &format!("{SERVER}/24"), "dev", "veth0"]);
        for dev in ["br0", "veth0", "veth1", "tap0"] {
            n(&["link", "set", dev, "up"]);
        }
        ns
    }

    /// Run the calling thread in the namespace until the guard drops.
    fn enter(&self) -> Entered {
        let original = File::open("/proc/thread-self/ns/net").expect("own netns");
        let target = File::open(format!("/run/netns/{}", self.name)).expect("netns file");
        // SAFETY: setns on a namespace file descriptor we hold open; it changes only this
        // thread's network namespace.
        let rc = unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        Entered { original }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

struct Entered {
    original: File,
}

impl Drop for Entered {
    fn drop(&mut self) {
        // SAFETY: as in `enter`, back to the namespace the thread started in.
        unsafe { libc::setns(self.original.as_raw_fd(), libc::CLONE_NEWNET) };
    }
}

/// `polyboot serve`, killed on drop; its JSON events go to `events`.
struct Serve {
    child: Child,
    events: PathBuf,
}

impl Serve {
    fn start(source: &Path, log_dir: &Path, extra: &[&str]) -> Serve {
        std::fs::create_dir_all(log_dir).unwrap();
        let events = log_dir.join("serve-events.jsonl");
        let child = Command::new(env!("CARGO_BIN_EXE_polyboot"))
            .arg("serve")
            .arg(source)
            .args(["--interface", "veth0", "--json"])
            .args(extra)
            .stdout(File::create(&events).unwrap())
            .stderr(File::create(log_dir.join("serve.stderr")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .expect("polyboot serve");
        let s = Serve { child, events };
        // Ready when it says where it listens.
        for _ in 0..100 {
            if s.events().contains("\"event\":\"listening\"") {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "polyboot serve did not start: {}",
            std::fs::read_to_string(log_dir.join("serve.stderr")).unwrap_or_default()
        );
    }

    fn events(&self) -> String {
        std::fs::read_to_string(&self.events).unwrap_or_default()
    }

    fn event_lines(&self, event: &str) -> Vec<serde_json::Value> {
        self.events()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_dir(name: &str) -> PathBuf {
    polyboot_tests::workspace_root().join("target/vm-logs").join(name)
}

/// A directory of images whose ventoy.json makes `default` boot after one second.
fn source_dir(dir: &Path, default: &str) -> PathBuf {
    let src = dir.join("images");
    std::fs::create_dir_all(src.join("ventoy")).unwrap();
    std::fs::write(
        src.join("ventoy/ventoy.json"),
        format!(
            r#"{{ "control": [ {{ "VTOY_DEFAULT_IMAGE": "{default}" }}, {{ "VTOY_MENU_TIMEOUT": "1" }} ],
                 "menu_class": [ {{ "key": "marker", "class": "test" }} ] }}"#
        ),
    )
    .unwrap();
    src
}

/// A QEMU guest under `firmware` whose NIC (`-device` `nic`) is on the namespace's tap0.
fn vm_on_tap(name: &str, firmware: Firmware, nic: &str) -> Vm {
    Vm::start(
        VmConfig::new(name, firmware)
            .arg("-netdev")
            .arg("tap,id=n0,ifname=tap0,script=no,downscript=no")
            .arg("-device")
            .arg(nic)
            .timeout(Duration::from_secs(150)),
    )
    .unwrap()
}

/// An e1000 with one of QEMU's iPXE ROMs (Debian ipxe-qemu): iPXE itself is the PXE client.
fn ipxe_nic(rom: &str) -> String {
    format!("e1000,netdev=n0,mac=52:54:00:c0:ff:ee,romfile=/usr/lib/ipxe/qemu/{rom},bootindex=0")
}

/// A virtio NIC without option ROM: OVMF's own VirtioNetDxe and PxeBcDxe are the PXE client,
/// so the first stage goes over TFTP.
fn firmware_pxe_nic() -> String {
    "virtio-net-pci,netdev=n0,mac=52:54:00:c0:ff:ee,romfile=,bootindex=0".to_string()
}

#[test]
fn uefi_client_pxe_boots_the_menu_default_over_full_dhcp() {
    require_root("network namespaces and tap devices");
    let marker = "POLYBOOT-NETBOOT-UEFI-OK";
    let dir = tempfile::tempdir().unwrap();
    let src = source_dir(dir.path(), "/tools/marker.efi");
    std::fs::create_dir_all(src.join("tools")).unwrap();
    fixtures::grub_standalone_efi(
        &format!("serial --unit=0 --speed=115200\nterminal_output serial console\necho {marker}\nsleep 600\n"),
        &src.join("tools/marker.efi"),
    )
    .unwrap();

    let ns = Netns::new("pb-serve-uefi");
    let _in = ns.enter();
    let logs = log_dir("serve-netboot-uefi");
    let serve = Serve::start(&src, &logs, &["--dhcp-range", "192.0.2.100-192.0.2.150"]);
    let mut vm = vm_on_tap("serve-netboot-uefi", Firmware::Uefi, &firmware_pxe_nic());
    let waited = vm.wait_for(marker);
    let events = serve.events();
    eprintln!("serve events:\n{events}");
    let t = waited.unwrap();
    eprintln!("marker after {t:?}");

    // The firmware's PXE got the first stage over TFTP, iPXE the menu, then the image.
    let tftp = serve.event_lines("tftp");
    assert!(
        tftp.iter().any(|e| e["file"] == "snponly.efi"
            && e["complete"] == true
            && e["mac"] == "52:54:00:c0:ff:ee"),
        "{tftp:?}"
    );
    let menu = serve.event_lines("menu");
    assert!(
        menu.iter().any(|e| e["firmware"] == "uefi" && e["mac"] == "52:54:00:c0:ff:ee"),
        "{menu:?}"
    );
    let image = serve.event_lines("image");
    assert!(image.iter().any(|e| e["image"] == "/tools/marker.efi"), "{image:?}");
    let dhcp = serve.event_lines("dhcp");
    assert!(
        dhcp.iter().any(|e| e["firmware"] == "uefi-x64" && e["address"] == "192.0.2.100"),
        "{dhcp:?}"
    );
}

/// A client under `firmware` with `nic` PXE-boots from `polyboot serve` in full-DHCP mode,
/// gets the menu and sanboots its default, a grub-mkrescue ISO printing `marker`.
fn sanboot_iso_over_full_dhcp(name: &str, firmware: Firmware, nic: &str, marker: &str) {
    require_root("network namespaces and tap devices");
    let dir = tempfile::tempdir().unwrap();
    let src = source_dir(dir.path(), "/iso/marker.iso");
    std::fs::create_dir_all(src.join("iso")).unwrap();
    let iso = fixtures::grub_mkrescue_iso(dir.path(), marker).unwrap();
    std::fs::rename(iso, src.join("iso/marker.iso")).unwrap();

    let ns = Netns::new(&format!("pb-{name}"));
    let _in = ns.enter();
    let logs = log_dir(name);
    let serve = Serve::start(&src, &logs, &["--dhcp-range", "192.0.2.100-192.0.2.150"]);
    let mut vm = vm_on_tap(name, firmware, nic);
    let waited = vm.wait_for(marker);
    eprintln!("serve events:\n{}", serve.events());
    let t = waited.unwrap();
    eprintln!("marker after {t:?}");
    let fw = if firmware == Firmware::Bios { "bios" } else { "uefi" };
    let menu = serve.event_lines("menu");
    assert!(menu.iter().any(|e| e["firmware"] == fw), "{menu:?}");
    let image = serve.event_lines("image");
    assert!(image.iter().any(|e| e["image"] == "/iso/marker.iso"), "{image:?}");
}

#[test]
fn bios_client_pxe_boots_an_iso_with_sanboot_over_full_dhcp() {
    sanboot_iso_over_full_dhcp(
        "serve-netboot-bios",
        Firmware::Bios,
        &ipxe_nic("pxe-e1000.rom"),
        "POLYBOOT-NETBOOT-BIOS-OK",
    );
}

/// Without a VM: HTTP range requests on an image, nothing but images under /images/, the
/// menu script; TFTP with blksize and tsize gives undionly.kpxe byte for byte, and a client
/// that stops ACKing neither blocks another transfer nor stays forever.
#[test]
fn http_ranges_and_tftp_transfers_in_a_namespace() {
    use polyboot_core::net::tftp::{Packet, Request};
    use std::net::UdpSocket;
    require_root("network namespaces");
    let dir = tempfile::tempdir().unwrap();
    let src = source_dir(dir.path(), "/a.img");
    let image: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(src.join("a.img"), &image).unwrap();
    let ns = Netns::new("pb-serve-proto");
    let _in = ns.enter();
    let logs = log_dir("serve-protocols");
    let serve = Serve::start(&src, &logs, &[]);

    let get = http_get;
    let (head, body) = get("/images/a.img", Some("1000-1999"));
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(body, &image[1000..2000]);
    let (head, body) = get("/images/a.img", None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, image);
    for path in ["/images/ventoy/ventoy.json", "/images/../etc/passwd", "/images/b.img"] {
        let (head, _) = get(path, None);
        assert!(
            head.starts_with("HTTP/1.1 404") || head.starts_with("HTTP/1.1 400"),
            "{path}: {head}"
        );
    }
    let (head, body) = get("/boot.ipxe?fw=bios", None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let script = String::from_utf8(body).unwrap();
    assert!(
        script.contains("sanboot --no-describe http://192.0.2.1:8080/images/a.img"),
        "{script}"
    );
    assert!(script.contains("choose --default img0 --timeout 1000"), "{script}");

    // NBD: the scanned image as a read-only block device, copied by qemu-img (an independent
    // client); anything but a scanned image is refused.
    let copy = dir.path().join("nbd-copy.raw");
    let r = std::process::Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "raw", "nbd://192.0.2.1:10809/a.img"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // Padded with zeros to whole 512-byte sectors (100000 -> 100352), as qemu-nbd does.
    let copy = std::fs::read(&copy).unwrap();
    assert_eq!(copy.len(), 100_352);
    assert!(copy[..image.len()] == image[..], "the NBD copy differs");
    assert!(copy[image.len()..].iter().all(|&b| b == 0));
    for name in ["ventoy/ventoy.json", "b.img"] {
        let r = std::process::Command::new("qemu-img")
            .args(["info", &format!("nbd://192.0.2.1:10809/{name}")])
            .output()
            .unwrap();
        assert!(!r.status.success(), "{name} served over NBD");
    }

    // A client that vanishes after the first block.
    let quitter = UdpSocket::bind((SERVER, 0)).unwrap();
    let rrq = |options: Vec<(String, String)>| {
        Packet::Rrq(Request { filename: "undionly.kpxe".into(), mode: "octet".into(), options })
            .encode()
    };
    quitter.send_to(&rrq(vec![]), (SERVER, 69)).unwrap();
    // A client that finishes, with options, meanwhile.
    let want = std::fs::read("/usr/lib/ipxe/undionly.kpxe").unwrap();
    let c = UdpSocket::bind((SERVER, 0)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_to(
        &rrq(vec![("blksize".into(), "1400".into()), ("tsize".into(), "0".into())]),
        (SERVER, 69),
    )
    .unwrap();
    let mut buf = vec![0u8; 2000];
    let (n, peer) = c.recv_from(&mut buf).unwrap();
    let Ok(Packet::Oack { options }) = Packet::decode(&buf[..n]) else { panic!("no OACK") };
    assert!(options.contains(&("blksize".into(), "1400".into())), "{options:?}");
    assert!(options.contains(&("tsize".into(), want.len().to_string())), "{options:?}");
    c.send_to(&Packet::Ack { block: 0 }.encode(), peer).unwrap();
    let mut got = Vec::new();
    loop {
        let (n, _) = c.recv_from(&mut buf).unwrap();
        let Ok(Packet::Data { block, data }) = Packet::decode(&buf[..n]) else {
            panic!("not DATA")
        };
        got.extend_from_slice(&data);
        c.send_to(&Packet::Ack { block }.encode(), peer).unwrap();
        if data.len() < 1400 {
            break;
        }
    }
    assert_eq!(got, want);
    // The quitter's session gives up after its retransmits (5 x 1 s).
    let mut gave_up = false;
    for _ in 0..100 {
        if serve.event_lines("tftp").iter().any(|e| e["complete"] == false && e["bytes"] == 0) {
            gave_up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("serve events:\n{}", serve.events());
    assert!(gave_up, "the vanished client's transfer never ended");
    assert!(serve
        .event_lines("tftp")
        .iter()
        .any(|e| e["complete"] == true && e["bytes"] == want.len()));
}

/// dnsmasq as the site's plain DHCP server (no PXE options), on its own veth in the same
/// bridge; killed on drop.
struct Dnsmasq {
    child: Child,
}

impl Dnsmasq {
    fn start(ns: &str, log_dir: &Path, run_dir: &Path) -> Dnsmasq {
        ip(&["-n", ns, "link", "add", "veth2", "type", "veth", "peer", "name", "veth3"]);
        ip(&["-n", ns, "link", "set", "veth3", "master", "br0"]);
        ip(&["-n", ns, "addr", "add", "192.0.2.2/24", "dev", "veth2"]);
        ip(&["-n", ns, "link", "set", "veth2", "up"]);
        ip(&["-n", ns, "link", "set", "veth3", "up"]);
        let child = Command::new("dnsmasq")
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--user=root",
                "--interface=veth2",
                "--bind-interfaces",
                "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m",
                "--log-dhcp",
                "--log-facility=-",
            ])
            .arg(format!("--dhcp-leasefile={}", run_dir.join("leases").display()))
            .arg(format!("--pid-file={}", run_dir.join("dnsmasq.pid").display()))
            .stdout(File::create(log_dir.join("dnsmasq.log")).unwrap())
            .stderr(File::create(log_dir.join("dnsmasq.stderr")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .expect("dnsmasq (Debian package dnsmasq-base)");
        std::thread::sleep(Duration::from_millis(500));
        Dnsmasq { child }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn uefi_client_boots_through_proxy_dhcp_next_to_dnsmasq() {
    require_root("network namespaces and tap devices");
    let marker = "POLYBOOT-NETBOOT-PROXY-OK";
    let dir = tempfile::tempdir().unwrap();
    let src = source_dir(dir.path(), "/tools/marker.efi");
    std::fs::create_dir_all(src.join("tools")).unwrap();
    fixtures::grub_standalone_efi(
        &format!(
            "serial --unit=0 --speed=115200\nterminal_output serial console\necho {marker}\nsleep 600\n"
        ),
        &src.join("tools/marker.efi"),
    )
    .unwrap();

    let ns = Netns::new("pb-serve-proxy");
    let _in = ns.enter();
    let logs = log_dir("serve-netboot-proxy");
    std::fs::create_dir_all(&logs).unwrap();
    let _dnsmasq = Dnsmasq::start("pb-serve-proxy", &logs, dir.path());
    let serve = Serve::start(&src, &logs, &[]);
    let mut vm = vm_on_tap("serve-netboot-proxy", Firmware::Uefi, &firmware_pxe_nic());
    let waited = vm.wait_for(marker);
    eprintln!("serve events:\n{}", serve.events());
    eprintln!(
        "dnsmasq:\n{}",
        std::fs::read_to_string(logs.join("dnsmasq.log")).unwrap_or_default()
    );
    let t = waited.unwrap();
    eprintln!("marker after {t:?}");
    // The address came from dnsmasq, the boot information from polyboot serve.
    let dhcp = serve.event_lines("dhcp");
    assert!(dhcp.iter().all(|e| e["proxy"] == true && e["address"].is_null()), "{dhcp:?}");
    assert!(dhcp.iter().any(|e| e["boot_file"] == "snponly.efi"), "{dhcp:?}");
    let leases = std::fs::read_to_string(dir.path().join("leases")).unwrap_or_default();
    assert!(leases.contains("52:54:00:c0:ff:ee"), "dnsmasq leases: {leases}");
    let tftp = serve.event_lines("tftp");
    // The client's MAC is known from its REQUEST to dnsmasq.
    assert!(
        tftp.iter().any(|e| e["file"] == "snponly.efi"
            && e["complete"] == true
            && e["mac"] == "52:54:00:c0:ff:ee"),
        "{tftp:?}"
    );
    let image = serve.event_lines("image");
    assert!(image.iter().any(|e| e["image"] == "/tools/marker.efi"), "{image:?}");
}

/// `GET path` from the server: (status line and headers, body).
fn http_get(path: &str, range: Option<&str>) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((SERVER, 8080)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let range = range.map(|r| format!("Range: bytes={r}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {SERVER}\r\n{range}Connection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (String::from_utf8_lossy(&out[..split]).into_owned(), out[split + 4..].to_vec())
}

/// `--rules`: iPXE is asked for its MAC, a `once` rule sends that machine straight to its
/// image the first time and to the menu afterwards, a group member is sent to its next boot
/// device, and a broken rules file stops the server with the line.
#[test]
fn per_mac_rules_pick_the_image_once_or_always() {
    require_root("network namespaces");
    let dir = tempfile::tempdir().unwrap();
    let src = source_dir(dir.path(), "/a.img");
    std::fs::write(src.join("a.img"), vec![7u8; 64 * 1024]).unwrap();
    std::fs::write(src.join("b c.iso"), vec![1u8; 64 * 1024]).unwrap();
    let rules = dir.path().join("rules.txt");
    std::fs::write(
        &rules,
        "group lab 52:54:00:00:00:01 52:54:00:00:00:02\n\
         52:54:00:C0:FF:EE /b c.iso once\n\
         @lab local\n\
         * menu\n",
    )
    .unwrap();
    let ns = Netns::new("pb-serve-rules");
    let _in = ns.enter();
    let logs = log_dir("serve-rules");
    let serve = Serve::start(&src, &logs, &["--rules", rules.to_str().unwrap()]);
    let text = |path: &str| {
        let (head, body) = http_get(path, None);
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        String::from_utf8(body).unwrap()
    };
    let stub = text("/boot.ipxe?fw=bios");
    assert_eq!(stub, "#!ipxe\nchain http://192.0.2.1:8080/boot.ipxe?fw=bios&mac=${netX/mac}\n");
    let first = text("/boot.ipxe?fw=bios&mac=52:54:00:c0:ff:ee");
    assert!(
        first.contains("sanboot --no-describe http://192.0.2.1:8080/images/b%20c.iso"),
        "{first}"
    );
    assert!(!first.contains("menu "), "{first}");
    let second = text("/boot.ipxe?fw=bios&mac=52:54:00:c0:ff:ee");
    assert!(second.contains("choose --default img0"), "{second}");
    let lab = text("/boot.ipxe?fw=uefi&mac=52:54:00:00:00:02");
    assert!(lab.contains("exit 0") && !lab.contains("choose"), "{lab}");
    let rule_events = serve.event_lines("rule");
    assert_eq!(rule_events.len(), 3, "{rule_events:?}");
    assert_eq!(rule_events[0]["target"], "/b c.iso");
    assert_eq!(rule_events[0]["once"], true);
    drop(serve);

    std::fs::write(&rules, "* menu\n52:54:00:zz:00:01 /a.img\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_polyboot"))
        .arg("serve")
        .arg(&src)
        .args(["--interface", "veth0", "--rules", rules.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: a rule starts with a MAC address"), "{err}");
}

#[test]
fn uefi_client_sanboots_an_iso_over_full_dhcp() {
    sanboot_iso_over_full_dhcp(
        "serve-netboot-uefi-iso",
        Firmware::Uefi,
        &firmware_pxe_nic(),
        "POLYBOOT-NETBOOT-UEFI-ISO-OK",
    );
}
