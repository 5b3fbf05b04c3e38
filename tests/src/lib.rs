//! polyboot's test support: a QEMU harness for firmware boot tests and helpers to find the
//! artefacts `cargo xtask build` produces.
//!
//! Every VM runs under TCG (KVM is not usable on our machines), with a fresh copy of the OVMF
//! variable store, the serial console on a socket (captured to a log file, and writable for
//! typing), the human monitor on a socket (keys, screendumps) and a hard deadline. QEMU is
//! killed when the [`Vm`] is dropped, including when a test panics.

pub mod artifacts;
pub mod fixtures;
pub mod ocr;
pub mod secure_boot;
pub mod vm;
pub mod wim_chunks;

pub use vm::{Disk, DiskInterface, Firmware, Vm, VmConfig};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (tests run with the crate directory as cwd; this does not rely on it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate lives in the workspace root")
        .to_path_buf()
}

/// Deterministic pseudo-random bytes (xorshift): content checks then catch misplaced clusters.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// The path of an independent tool, looked up on `PATH` and in the sbin directories (where
/// fsck / partitioning tools live, not always on a user's `PATH`). Panics naming the Debian
/// package when it is missing: an oracle test must not pass without its oracle.
pub fn find_tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed ({})", tool_package_hint(name)))
}

/// `xorriso ARGS` in a fixed locale, failing with its output when it does not succeed.
pub fn xorriso(args: &[&str]) -> String {
    run_tool(Command::new(find_tool("xorriso")).args(args).env("LC_ALL", "C.UTF-8")).unwrap()
}

/// `path -> (start lba, size)` of every data file, from `xorriso [pre] -indev iso -find /
/// -exec report_lba`. `pre` selects the tree xorriso reads (`-read_fs ecma119|norock`).
pub fn xorriso_files(iso: &Path, pre: &[&str]) -> BTreeMap<String, (u32, u64)> {
    let mut args = pre.to_vec();
    args.extend(["-indev", iso.to_str().unwrap(), "-find", "/", "-exec", "report_lba"]);
    let out = xorriso(&args);
    let mut map = BTreeMap::new();
    for line in out.lines().filter(|l| l.starts_with("File data lba:")) {
        let rest = &line["File data lba:".len()..];
        let fields: Vec<&str> = rest.splitn(5, ',').map(str::trim).collect();
        assert_eq!(fields.len(), 5, "{line}");
        let path = fields[4].trim_matches('\'').to_string();
        let lba: u32 = fields[1].parse().unwrap();
        let size: u64 = fields[3].parse().unwrap();
        assert!(map.insert(path, (lba, size)).is_none(), "{line}");
    }
    map
}

/// Run a command, failing with its output when it does not succeed. Missing tools give an
/// error naming the Debian package that provides them.
pub fn run_tool(cmd: &mut std::process::Command) -> anyhow::Result<String> {
    use anyhow::Context;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().with_context(|| {
        format!("cannot run `{program}`: is it installed? ({})", tool_package_hint(&program))
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        anyhow::bail!(
            "`{cmd:?}` failed with {}:\n{}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

fn tool_package_hint(program: &str) -> &'static str {
    match program {
        "mformat" | "mcopy" | "mmd" | "mdir" | "mtype" => "Debian package mtools",
        "fsck.fat" | "mkfs.fat" => "Debian package dosfstools",
        "fsck.exfat" | "mkfs.exfat" | "dump.exfat" | "exfatlabel" => "Debian package exfatprogs",
        "sfdisk" | "fdisk" | "isosize" => "Debian packages fdisk / util-linux",
        "sgdisk" => "Debian package gdisk",
        "xorriso" => "Debian package xorriso",
        "genisoimage" | "isoinfo" => "Debian package genisoimage",
        "mkudffs" | "udfinfo" => "Debian package udftools",
        "tesseract" => "Debian package tesseract-ocr",
        "sbsign" | "sbverify" => "Debian package sbsigntool",
        "osslsigncode" => "Debian package osslsigncode",
        "qemu-img" | "qemu-nbd" => "Debian package qemu-utils",
        p if p.starts_with("qemu") => "Debian package qemu-system-x86",
        _ => "run `cargo xtask deps`",
    }
}

/// `hivexget HIVE KEY VALUE`: the value as hivex prints it (with its newline).
/// A `hex(KIND):aa,bb,...` value as `hivexsh`'s `lsval` shows it (the part after `hex(`): the
/// registry type and the bytes.
pub fn hivex_hex(shown: &str) -> (u32, Vec<u8>) {
    let (kind, hex) = shown.split_once("):").expect("hex(KIND):BYTES");
    let bytes = hex
        .split(',')
        .filter(|b| !b.is_empty())
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    (kind.parse().unwrap(), bytes)
}

pub fn hivexget(hive: &Path, key: &str, value: &str) -> String {
    run_tool(Command::new(find_tool("hivexget")).arg(hive).arg(key).arg(value)).unwrap()
}

/// Every path below `root` (`/Windows`, `/Windows/System32/ntoskrnl.exe`, ...): what a tree
/// copied onto a disk image should list.
pub fn host_paths(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.insert(format!("/{}", p.strip_prefix(root).unwrap().display()));
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

/// Every path of an NTFS image, from ntfs-3g's `ntfsls -R` ("/dir:" headers, then the names).
pub fn ntfs_paths(img: &Path) -> BTreeSet<String> {
    let out = run_tool(Command::new(find_tool("ntfsls")).arg("-R").arg(img)).unwrap();
    let mut paths = BTreeSet::new();
    let mut dir = String::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        if let Some(d) = line.strip_suffix(':').filter(|d| d.starts_with('/')) {
            dir = d.trim_end_matches('/').to_string();
        } else if line != "." && line != ".." {
            paths.insert(format!("{dir}/{line}"));
        }
    }
    paths
}

/// Tests that need root (loop devices, mounting through FUSE, ntfs-3g) call this first. Not
/// being root fails the test with the reason: a test that cannot run must not count as passed.
/// CI and `cargo xtask test` run as root.
pub fn require_root(why: &str) {
    // SAFETY: geteuid has no preconditions and touches no memory.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(root, "this test needs root ({why}): run it as root, e.g. `sudo cargo xtask test`");
}
