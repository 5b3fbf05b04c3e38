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
pub mod vm;

pub use vm::{Disk, DiskInterface, Firmware, Vm, VmConfig};

use std::path::PathBuf;

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
        "fsck.exfat" | "mkfs.exfat" | "dump.exfat" => "Debian package exfatprogs",
        "sfdisk" => "Debian package fdisk",
        "sgdisk" => "Debian package gdisk",
        "xorriso" => "Debian package xorriso",
        "tesseract" => "Debian package tesseract-ocr",
        p if p.starts_with("qemu") => "Debian package qemu-system-x86",
        _ => "run `cargo xtask deps`",
    }
}
