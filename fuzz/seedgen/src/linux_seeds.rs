//! Seeds of the Linux live ISO targets (issue 5): `bootcfg`, `handoff`, `initrd_wrap` and
//! `initramfs`.
//!
//! - bootcfg: the real configurations under `crates/polyboot-core/tests/fixtures/bootcfg/`
//!   (live-build GRUB and isolinux, debian-installer GRUB and syslinux) packed the way the
//!   target splits its input (files separated by NUL, each named by a first line starting
//!   with `/`), small files for each GRUB / syslinux / systemd-boot feature, and a small
//!   ISO 9660 image (primary + Joliet trees, built by `live_iso`) holding a GRUB, an
//!   isolinux and a systemd-boot configuration with their kernels and initrds.
//! - handoff: records from `Handoff::encode` (GPT and MBR identities, several extents,
//!   padded; version 2 with every section), and non-canonical ones (a version 1 record with a
//!   longer header and bytes after its extents, a version 2 record with an unknown section;
//!   re-signed).
//! - initrd_wrap: descriptions in the target's byte format (see `fuzz_targets/initrd_wrap.rs`:
//!   mode, image length, start, hook archive, initrds with records).
//! - initramfs: newc archives from polyboot-core's `CpioWriter` and from a hand writer (hard
//!   links, devices, `..` names, the `070702` CRC format), polyboot's own wrapped initrd
//!   layout, an early-microcode archive followed by a compressed one in every format the
//!   hook decodes (gzip, bzip2, xz, lzma, zstd, lz4 legacy).

use std::io::{Read, Write};

use polyboot_core::cpio::CpioWriter;
use polyboot_core::guid::Guid;
use polyboot_core::handoff::{DiskExtent, DriveIdentity, Handoff, ImageKind};
use polyboot_core::initrd_wrap;

macro_rules! fixture {
    ($p:literal) => {
        include_bytes!(concat!("../../../crates/polyboot-core/tests/fixtures/bootcfg/", $p))
    };
}

/// Files in the `bootcfg` target's input format: `/name\ncontents`, separated by NUL.
fn pack(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (name, data)) in files.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(data);
    }
    out
}

pub const LIVE_GRUB: &[u8] = b"set default=0\nset timeout=5\nsource ${prefix}/vars.cfg\n\
menuentry \"Live system ($arch)\" --class debian {\n\
\tlinux\t/live/vmlinuz boot=live components quiet splash findiso=${iso_path}\n\
\tinitrd\t/live/ucode.img /live/initrd.img\n}\n\
submenu 'Advanced' {\n  menuentry 'Fail-safe' {\n    linux ($root)/live/vmlinuz boot=live noapic\n    initrd ($root)/live/initrd.img\n  }\n}\n";
pub const LIVE_VARS: &[u8] = b"arch=amd64\nset iso_path=/live.iso\n";
pub const LIVE_ISOLINUX: &[u8] = b"include live.cfg\ndefault vesamenu.c32\nprompt 0\ntimeout 0\n";
pub const LIVE_ISOLINUX_LIVE: &[u8] = b"label live\n\tmenu label ^Live system\n\tmenu default\n\
\tkernel /live/vmlinuz\n\tappend initrd=/live/initrd.img boot=live components\n\
label old\n\tkernel /live/vmlinuz\n\tinitrd /live/ucode.img,/live/initrd.img\n";
pub const LIVE_ENTRY: &[u8] =
    b"title Live system\nlinux /live/vmlinuz\ninitrd /live/ucode.img\ninitrd /live/initrd.img\noptions boot=live\noptions quiet\n";

pub fn bootcfg_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = vec![
        (
            "live-build-grub",
            pack(&[
                ("/boot/grub/grub.cfg", fixture!("live-build/grub.cfg")),
                ("/boot/grub/config.cfg", fixture!("live-build/config.cfg")),
                ("/boot/grub/theme.cfg", fixture!("live-build/theme.cfg")),
                ("/boot/grub/install.cfg", fixture!("live-build/install.cfg")),
                ("/boot/grub/install_start.cfg", fixture!("live-build/install_start.cfg")),
            ]),
        ),
        (
            "live-build-loopback",
            pack(&[
                ("/boot/grub/loopback.cfg", fixture!("live-build/loopback.cfg")),
                ("/boot/grub/grub.cfg", fixture!("live-build/grub.cfg")),
                ("/boot/grub/config.cfg", fixture!("live-build/config.cfg")),
            ]),
        ),
        (
            "live-build-isolinux",
            pack(&[
                ("/isolinux/isolinux.cfg", fixture!("live-build/isolinux.cfg")),
                ("/isolinux/menu.cfg", fixture!("live-build/menu.cfg")),
                ("/isolinux/live.cfg", fixture!("live-build/live.cfg")),
                ("/isolinux/install_text.cfg", fixture!("live-build/install_text.cfg")),
                ("/isolinux/utilities.cfg", fixture!("live-build/utilities.cfg")),
                ("/isolinux/stdmenu.cfg", fixture!("live-build/stdmenu.cfg")),
            ]),
        ),
        (
            "debian-installer-grub",
            pack(&[
                ("/EFI/boot/grub.cfg", fixture!("debian-installer-12/efi-grub.cfg")),
                ("/boot/grub/grub.cfg", fixture!("debian-installer-12/grub.cfg")),
            ]),
        ),
    ];
    // debian-installer's syslinux names its files from the netboot root: the top file at
    // /syslinux.cfg makes that root the base directory.
    let di = "/debian-installer/amd64/boot-screens/";
    let di_files: Vec<(String, &[u8])> = vec![
        (format!("{di}menu.cfg"), fixture!("debian-installer-12/menu.cfg")),
        (format!("{di}txt.cfg"), fixture!("debian-installer-12/txt.cfg")),
        (format!("{di}adtxt.cfg"), fixture!("debian-installer-12/adtxt.cfg")),
        (format!("{di}rqtxt.cfg"), fixture!("debian-installer-12/rqtxt.cfg")),
        (format!("{di}stdmenu.cfg"), fixture!("debian-installer-12/stdmenu.cfg")),
        (format!("{di}prompt.cfg"), fixture!("debian-installer-12/prompt.cfg")),
        (format!("{di}drk.cfg"), fixture!("debian-installer-12/drk.cfg")),
        (format!("{di}addrk.cfg"), fixture!("debian-installer-12/addrk.cfg")),
        (format!("{di}drkmenu.cfg"), fixture!("debian-installer-12/drkmenu.cfg")),
        (format!("{di}exithelp.cfg"), fixture!("debian-installer-12/exithelp.cfg")),
    ];
    let mut files: Vec<(&str, &[u8])> =
        vec![("/syslinux.cfg", fixture!("debian-installer-12/syslinux.cfg"))];
    files.extend(di_files.iter().map(|(n, d)| (n.as_str(), *d)));
    out.push(("debian-installer-syslinux", pack(&files)));

    out.push((
        "live-grub-vars",
        pack(&[("/boot/grub/grub.cfg", LIVE_GRUB), ("/boot/grub/vars.cfg", LIVE_VARS)]),
    ));
    out.push((
        "live-isolinux",
        pack(&[
            ("/isolinux/isolinux.cfg", LIVE_ISOLINUX),
            ("/isolinux/live.cfg", LIVE_ISOLINUX_LIVE),
        ]),
    ));
    out.push(("systemd-boot-entry", pack(&[("/loader/entries/live.conf", LIVE_ENTRY)])));
    // Unnamed files take the target's default names (grub.cfg, isolinux.cfg, loopback.cfg).
    out.push((
        "positional",
        [
            &b"if [ x$feature_default_font_path = xy ] ; then\n font=unicode\nfi\n\
               configfile /boot/grub/loopback.cfg\n"[..],
            b"\0",
            b"LABEL linux\n KERNEL vmlinuz\n APPEND initrd=initrd.gz,extra.gz quiet\nDEFAULT vmlinuz-old root=/dev/sr0\n",
            b"\0",
            b"menuentry x {\n\tlinux16 /k\\\n arg\n\tinitrd16 \"/i 1\" '/i2'\n}\nsource /boot/grub/loopback.cfg\n. /big.cfg\n",
        ]
        .concat(),
    ));
    out.push((
        "grub-quoting",
        b"set a=\"/live\"\nset b=$a\nset b=/other\nmenuentry \"T \\\"q\\\"\" --id=x --hotkey=l {\n\
          linuxefi ${a}/vmlinuz \"a b\" 'c d' e\\ f $b\n  initrdefi ${a}/initrd ${b}/x\n}\n\
          function f { linux /nope; initrd /nope.img; }\nif true; then linux /k2; fi\n\
          while false; do initrd /i3; done\n"
            .to_vec(),
    ));
    out.push(("iso", live_iso(true)));
    out.push(("iso-no-joliet", live_iso(false)));
    out
}

// ---------------------------------------------------------------------------------------
// A small ISO 9660 image
// ---------------------------------------------------------------------------------------

const SECTOR: usize = 2048;

use crate::iso::{both16, both32};

fn record(id: &[u8], lba: usize, len: usize, dir: bool) -> Vec<u8> {
    let pad = usize::from(id.len() % 2 == 0);
    let mut r = vec![0u8; 33 + id.len() + pad];
    r[0] = r.len() as u8;
    r[2..10].copy_from_slice(&both32(lba as u32));
    r[10..18].copy_from_slice(&both32(len as u32));
    r[18..25].copy_from_slice(&[124, 5, 17, 12, 0, 0, 0]);
    r[25] = if dir { 2 } else { 0 };
    r[28..32].copy_from_slice(&both16(1));
    r[32] = id.len() as u8;
    r[33..33 + id.len()].copy_from_slice(id);
    r
}

/// ISO 9660 name of a file or directory in the primary tree.
fn primary_name(name: &str, dir: bool) -> Vec<u8> {
    let up = name.to_ascii_uppercase().replace('-', "_");
    if dir {
        up.into_bytes()
    } else if up.contains('.') {
        format!("{up};1").into_bytes()
    } else {
        format!("{up}.;1").into_bytes()
    }
}

fn joliet_name(name: &str, dir: bool) -> Vec<u8> {
    let n = if dir { name.to_string() } else { format!("{name};1") };
    n.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// The live image: GRUB, isolinux and systemd-boot configurations, a kernel and two
/// initrds, in a primary tree and (when `joliet`) a Joliet tree. Every directory fits one
/// sector; files follow the directories.
pub fn live_iso(joliet: bool) -> Vec<u8> {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("/boot/grub/grub.cfg", LIVE_GRUB.to_vec()),
        ("/boot/grub/vars.cfg", LIVE_VARS.to_vec()),
        ("/boot/grub/loopback.cfg", b"source /boot/grub/grub.cfg\n".to_vec()),
        ("/isolinux/isolinux.cfg", LIVE_ISOLINUX.to_vec()),
        ("/isolinux/live.cfg", LIVE_ISOLINUX_LIVE.to_vec()),
        ("/loader/entries/live.conf", LIVE_ENTRY.to_vec()),
        ("/live/vmlinuz", b"MZ kernel".repeat(100)),
        ("/live/initrd.img", simple_newc()),
        ("/live/ucode.img", b"microcode".repeat(300)),
    ];
    // Directories, parents first.
    let mut dirs: Vec<String> = vec![String::from("/")];
    for (path, _) in &files {
        let mut at = 0;
        while let Some(i) = path[at + 1..].find('/') {
            let d = &path[..at + 1 + i];
            if !dirs.iter().any(|x| x == d) {
                dirs.push(d.to_string());
            }
            at += 1 + i;
        }
    }
    let parent = |p: &str| -> String {
        match p.rfind('/') {
            Some(0) | None => String::from("/"),
            Some(i) => p[..i].to_string(),
        }
    };
    let base = |p: &str| p.rsplit('/').next().unwrap().to_string();
    let first_dir = if joliet { 19 } else { 18 };
    let trees = if joliet { 2 } else { 1 };
    let dir_lba = |tree: usize, i: usize| first_dir + tree * dirs.len() + i;
    let mut next = first_dir + trees * dirs.len();
    let mut file_lba = Vec::new();
    for (_, data) in &files {
        file_lba.push(next);
        next += data.len().div_ceil(SECTOR).max(1);
    }
    let total = next;
    let mut img = vec![0u8; total * SECTOR];

    for tree in 0..trees {
        let name =
            |n: &str, dir: bool| if tree == 0 { primary_name(n, dir) } else { joliet_name(n, dir) };
        for (i, d) in dirs.iter().enumerate() {
            let me = dir_lba(tree, i);
            let up = dirs.iter().position(|x| *x == parent(d)).unwrap();
            let mut recs =
                vec![record(&[0], me, SECTOR, true), record(&[1], dir_lba(tree, up), SECTOR, true)];
            let mut children: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for (j, sub) in dirs.iter().enumerate() {
                if sub != "/" && parent(sub) == *d {
                    let id = name(&base(sub), true);
                    children.push((id.clone(), record(&id, dir_lba(tree, j), SECTOR, true)));
                }
            }
            for (k, (path, data)) in files.iter().enumerate() {
                if parent(path) == *d {
                    let id = name(&base(path), false);
                    children.push((id.clone(), record(&id, file_lba[k], data.len(), false)));
                }
            }
            children.sort();
            recs.extend(children.into_iter().map(|(_, r)| r));
            let bytes = recs.concat();
            assert!(bytes.len() <= SECTOR);
            img[me * SECTOR..me * SECTOR + bytes.len()].copy_from_slice(&bytes);
        }
    }
    for (k, (_, data)) in files.iter().enumerate() {
        let at = file_lba[k] * SECTOR;
        img[at..at + data.len()].copy_from_slice(data);
    }

    let descriptor = |kind: u8, root: usize| {
        let mut d = vec![0u8; SECTOR];
        d[0] = kind;
        d[1..6].copy_from_slice(b"CD001");
        d[6] = 1;
        if kind != 255 {
            d[8..40].fill(b' ');
            d[40..72].copy_from_slice(b"POLYBOOT_LIVE                   ");
            d[80..88].copy_from_slice(&both32(total as u32));
            d[120..124].copy_from_slice(&both16(1));
            d[124..128].copy_from_slice(&both16(1));
            d[128..132].copy_from_slice(&both16(SECTOR as u16));
            d[156..190].copy_from_slice(&record(&[0], root, SECTOR, true));
            d[881] = 1;
        }
        d
    };
    img[16 * SECTOR..17 * SECTOR].copy_from_slice(&descriptor(1, dir_lba(0, 0)));
    if joliet {
        let mut svd = descriptor(2, dir_lba(1, 0));
        svd[88..91].copy_from_slice(b"%/E");
        img[17 * SECTOR..18 * SECTOR].copy_from_slice(&svd);
    }
    img[(first_dir - 1) * SECTOR..first_dir * SECTOR].copy_from_slice(&descriptor(255, 0));
    img
}

// ---------------------------------------------------------------------------------------
// Hand-off records
// ---------------------------------------------------------------------------------------

pub fn sample_handoff() -> Handoff {
    Handoff {
        identity: DriveIdentity::Gpt(Guid(core::array::from_fn(|i| i as u8 * 7 + 3))),
        disk_size: 16 << 30,
        sector_size: 512,
        partition_offset: 1 << 20,
        image_kind: ImageKind::Iso,
        image_size: 3 * 65536 + 1000,
        extents: vec![
            DiskExtent { file_offset: 0, disk_offset: (1 << 20) + 65536, len: 131072 },
            DiskExtent {
                file_offset: 131072,
                disk_offset: (1 << 20) + 8 * 65536,
                len: 65536 + 1000,
            },
        ],
        persistence: None,
        added_params: String::new(),
        files: Vec::new(),
    }
}

fn resign(mut b: Vec<u8>) -> Vec<u8> {
    b[16..20].fill(0);
    let total = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let crc = polyboot_core::crc32::crc32(&b[..total]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    b
}

pub fn handoff_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let gpt = sample_handoff();
    let mbr = Handoff {
        identity: DriveIdentity::Mbr(0xDEAD_BEEF),
        image_kind: ImageKind::Img,
        sector_size: 4096,
        extents: vec![DiskExtent { file_offset: 0, disk_offset: 1 << 21, len: 4096 * 3 + 7 }],
        ..sample_handoff()
    };
    let mut padded = mbr.encode();
    padded.resize(512, 0);
    // Version 1 readers skip a longer header and bytes after the extents.
    let mut long = gpt.encode();
    long[9] = 1;
    long.splice(72..72, [0xAB; 8]);
    long.extend_from_slice(&[0xCD; 12]);
    long[10..12].copy_from_slice(&80u16.to_le_bytes());
    let total = long.len() as u32;
    long[12..16].copy_from_slice(&total.to_le_bytes());
    // Version 2: every section, and an unknown one a reader skips.
    let v2 = sample_handoff_v2();
    let mut unknown = v2.encode();
    unknown.extend_from_slice(&0x99u32.to_le_bytes());
    unknown.extend_from_slice(&3u32.to_le_bytes());
    unknown.extend_from_slice(b"abc");
    let total = unknown.len() as u32;
    unknown[12..16].copy_from_slice(&total.to_le_bytes());
    vec![
        ("gpt", gpt.encode()),
        ("mbr-padded", padded),
        ("long-header-v1", resign(long)),
        ("v2-sections", v2.encode()),
        ("v2-unknown-section", resign(unknown)),
    ]
}

/// `sample_handoff` with a persistence backend, added parameters and three files.
pub fn sample_handoff_v2() -> Handoff {
    use polyboot_core::handoff::{FileAction, HandoffFile, PersistenceBackend};
    let e = |file_offset, disk_offset, len| DiskExtent { file_offset, disk_offset, len };
    let file = |action, target: &str, source: &str, size, extents| HandoffFile {
        action,
        size,
        extents,
        target: target.into(),
        source: source.into(),
    };
    Handoff {
        persistence: Some(PersistenceBackend {
            encrypted: false,
            size: 4 << 20,
            extents: vec![e(0, 32 << 20, 2 << 20), e(2 << 20, 40 << 20, 2 << 20)],
            path: "/persistence/live.dat".into(),
        }),
        added_params: "persistence persistence-label=persistence".into(),
        files: vec![
            file(
                FileAction::Template,
                "/preseed.cfg",
                "/t/preseed.cfg",
                900,
                vec![e(0, 48 << 20, 1024)],
            ),
            file(FileAction::Copy, "/etc/x", "/x", 0, vec![]),
            file(FileAction::Inject, "", "/inject.tar.gz", 5000, vec![e(0, 50 << 20, 5000)]),
        ],
        ..sample_handoff()
    }
}

// ---------------------------------------------------------------------------------------
// initrd_wrap descriptions (the byte format decoded by fuzz_targets/initrd_wrap.rs)
// ---------------------------------------------------------------------------------------

fn le(v: u64, n: usize) -> Vec<u8> {
    v.to_le_bytes()[..n].to_vec()
}

/// Mode byte: bits 0-1 start (0: 0, 1: 3 bytes, 2: image end + 2 bytes, 3: 8 bytes), bit 2
/// real hook archive, bit 3 up to 79 initrds, bit 4 image length in 3 bytes (up to 1 MiB)
/// instead of 2.
///
/// One initrd: `flags` (records = flags % 4, 4 = alias of initrd `alias`, bits 3-4 = size
/// width: 0 two bytes, 1 three, 2 to the image end, 3 eight; 0x80 = 4-byte LBA), then its
/// records as (record flags, record offset).
fn initrd(flags: u8, alias: u8, lba: u64, size: u64, records: &[(u8, u64)]) -> Vec<u8> {
    let mut out = vec![flags, alias];
    if flags & 4 == 0 {
        out.extend(le(lba, if flags & 0x80 != 0 { 4 } else { 2 }));
        match (flags >> 3) & 3 {
            0 => out.extend(le(size, 2)),
            1 => out.extend(le(size, 3)),
            2 => {}
            _ => out.extend(le(size, 8)),
        }
    }
    for &(rf, offset) in records {
        out.push(rf);
        out.extend(le(offset, if rf & 0x80 != 0 { 8 } else { 3 }));
    }
    out
}

pub fn initrd_wrap_seeds() -> Vec<(&'static str, Vec<u8>)> {
    const S: u64 = 2048;
    let mut out = Vec::new();
    // Real hook archive, start just past the image; a file to the end of the image, one in
    // both trees, an alias of the first.
    let mut a = vec![0x10 | 0x04 | 0x02];
    a.extend(le(64 * 1024, 3));
    a.extend(le(0, 2));
    a.push(10);
    a.extend_from_slice(b"polyboot-h");
    a.push(4);
    a.extend_from_slice(b"HOFF");
    a.push(3);
    a.extend(initrd(0x11, 0xFF, 20, 0, &[(0x01, 18 * S + 34)]));
    a.extend(initrd(0x02, 0xFF, 24, 5000, &[(0x01, 19 * S + 68), (0x21, 19 * S + 200)]));
    a.extend(initrd(0x05, 0, 0, 0, &[(0x01, 18 * S + 100)]));
    out.push(("hook-archive", a));
    // Raw hook bytes, start 0: a split file, one outside the image, a fine one.
    let mut b = vec![0x10];
    b.extend(le(200 * 1024, 3));
    b.push(7);
    b.extend_from_slice(b"HOOK!!!");
    b.push(3);
    b.extend(initrd(0x01, 0xFF, 30, 4000, &[(0x08, 20 * S)]));
    b.extend(initrd(0x09, 0xFF, 99, 70000, &[(0x01, 20 * S + 50)]));
    b.extend(initrd(0x01, 0xFF, 40, 0, &[(0x01, 21 * S)]));
    out.push(("skips", b));
    // A start so far out that the LBA does not fit 32 bits.
    let mut c = vec![0x03];
    c.extend(le(32 * 1024, 2));
    c.extend(le((1u64 << 32) * S - S, 8));
    c.push(0);
    c.push(2);
    c.extend(initrd(0x01, 0xFF, 1, 100, &[(0x01, 100)]));
    c.extend(initrd(0x01, 0xFF, 2, 100, &[(0x01, 200)]));
    out.push(("far-start", c));
    // A small image: two initrds in one directory sector, both trees.
    let mut e = vec![0x04 | 0x01];
    e.extend(le(30 * S, 2));
    e.extend(le(31 * S + 5, 3));
    e.push(3);
    e.extend_from_slice(b"hk!");
    e.push(2);
    e.extend_from_slice(b"HO");
    e.push(2);
    e.extend(initrd(0x02, 0xFF, 25, 100, &[(0x01, 20 * S + 34), (0x21, 22 * S + 34)]));
    e.extend(initrd(0x01, 0xFF, 27, 5000, &[(0x01, 20 * S + 120)]));
    out.push(("small", e));
    // Many initrds (mode bit 3: up to 79), all distinct.
    let mut d = vec![0x10 | 0x08];
    d.extend(le(1 << 20, 3));
    d.push(0);
    d.push(70);
    for i in 0..70u64 {
        d.extend(initrd(0x01, 0xFF, i, 10 + i, &[(0x01, 400 * S + i * 40)]));
    }
    out.push(("too-many", d));
    out
}

// ---------------------------------------------------------------------------------------
// Initramfs images
// ---------------------------------------------------------------------------------------

/// A newc archive from polyboot-core's writer: directories, files, a symlink.
fn simple_newc() -> Vec<u8> {
    let mut w = CpioWriter::new();
    w.dir("/bin", 0o755).unwrap();
    w.dir("/etc", 0o755).unwrap();
    w.file("/init", 0o755, b"#!/bin/sh\nexec /bin/sh\n").unwrap();
    w.file("/etc/hostname", 0o644, b"live\n").unwrap();
    w.symlink("/bin/sh", "busybox").unwrap();
    w.finish_bytes(512)
}

const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;

/// A newc entry by hand (for what CpioWriter does not write: links, devices, bad names).
#[allow(clippy::too_many_arguments)]
fn entry(
    out: &mut Vec<u8>,
    magic: &str,
    name: &str,
    mode: u32,
    body: &[u8],
    ino: u32,
    nlink: u32,
    rdev: (u32, u32),
) {
    let check = if magic == "070702" { body.iter().map(|&b| u32::from(b)).sum() } else { 0 };
    let h = format!(
        "{magic}{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{check:08x}",
        0,
        0,
        0x6500_0000,
        body.len(),
        8,
        1,
        rdev.0,
        rdev.1,
        name.len() + 1,
    );
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out.extend_from_slice(body);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

fn trailer(out: &mut Vec<u8>) {
    entry(out, "070701", "TRAILER!!!", 0, b"", 0, 1, (0, 0));
}

fn odd_newc() -> Vec<u8> {
    let mut a = Vec::new();
    entry(&mut a, "070701", ".", S_IFDIR | 0o755, b"", 1, 2, (0, 0));
    entry(&mut a, "070701", "dev", S_IFDIR | 0o755, b"", 2, 2, (0, 0));
    entry(&mut a, "070701", "dev/console", 0o020600, b"", 3, 1, (5, 1));
    entry(&mut a, "070701", "dev/sda", 0o060660, b"", 4, 1, (8, 0));
    entry(&mut a, "070701", "run/fifo", 0o010644, b"", 5, 1, (0, 0));
    entry(&mut a, "070701", "a", S_IFREG | 0o644, b"", 9, 2, (0, 0));
    entry(&mut a, "070701", "b", S_IFREG | 0o644, b"shared data", 9, 2, (0, 0));
    entry(&mut a, "070701", "../escape", S_IFREG | 0o644, b"x", 10, 1, (0, 0));
    entry(&mut a, "070701", "/abs/./path//x", S_IFREG | 0o600, b"abs", 11, 1, (0, 0));
    entry(&mut a, "070701", "weird", 0o170644, b"", 12, 1, (0, 0));
    trailer(&mut a);
    a
}

fn crc_newc() -> Vec<u8> {
    let mut a = Vec::new();
    entry(&mut a, "070702", "good", S_IFREG | 0o644, b"checksummed", 1, 1, (0, 0));
    let mut bad = Vec::new();
    entry(&mut bad, "070702", "bad", S_IFREG | 0o644, b"wrong sum", 2, 1, (0, 0));
    bad[102..110].copy_from_slice(b"00000001");
    a.extend_from_slice(&bad);
    trailer(&mut a);
    a
}

/// The early microcode archive distributions put uncompressed in front.
fn microcode() -> Vec<u8> {
    let mut w = CpioWriter::new();
    for d in ["kernel", "kernel/x86", "kernel/x86/microcode"] {
        w.dir(d, 0o755).unwrap();
    }
    w.file("kernel/x86/microcode/GenuineIntel.bin", 0o644, &[0x5A; 300]).unwrap();
    w.finish_bytes(512)
}

fn compress(format: &str, data: &[u8]) -> Vec<u8> {
    match format {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bzip2" => {
            let mut out = Vec::new();
            bzip2::read::BzEncoder::new(data, bzip2::Compression::best())
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        "xz" => {
            let mut out = Vec::new();
            lzma_rs::xz_compress(&mut &data[..], &mut out).unwrap();
            out
        }
        "lzma" => {
            let mut out = Vec::new();
            lzma_rs::lzma_compress(&mut &data[..], &mut out).unwrap();
            out
        }
        "zstd" => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
        "lz4" => {
            // The legacy frame: magic, then [u32 compressed size][block].
            let block = lz4_flex::block::compress(data);
            let mut out = 0x184C_2102u32.to_le_bytes().to_vec();
            out.extend_from_slice(&(block.len() as u32).to_le_bytes());
            out.extend_from_slice(&block);
            out
        }
        _ => unreachable!(),
    }
}

pub const COMPRESSIONS: &[&str] = &["gzip", "bzip2", "xz", "lzma", "zstd", "lz4"];

pub fn initramfs_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("newc".into(), simple_newc()),
        ("odd-entries".into(), odd_newc()),
        ("crc".into(), crc_newc()),
    ];
    // polyboot's wrapped initrd: the hook archive, then the original as one file.
    let hook = initrd_wrap::hook_archive(b"\x7fELF hook", &sample_handoff().encode()).unwrap();
    let original = compress("gzip", &simple_newc());
    let layout = initrd_wrap::original_archive(0, original.len() as u64).unwrap();
    let wrapped = layout.to_bytes(|_| Some(&original[..])).unwrap();
    out.push(("wrapped".into(), [hook, wrapped].concat()));
    let inner = [simple_newc(), odd_newc()].concat();
    for f in COMPRESSIONS {
        // Early microcode, zero padding, the compressed main archive, zero padding.
        let mut image = microcode();
        image.extend_from_slice(&compress(f, &inner));
        image.extend_from_slice(&[0; 16]);
        out.push((format!("microcode-{f}"), image));
    }
    // Two compressed streams back to back.
    out.push((
        "gzip-zstd".into(),
        [compress("gzip", &microcode()), compress("zstd", &simple_newc())].concat(),
    ));
    out
}
