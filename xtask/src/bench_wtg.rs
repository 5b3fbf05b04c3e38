//! `cargo xtask bench-wtg [--runs N] [--mib N] [--smoke]`: the apply step of `polyboot wtg create`
//! against `wimapply` of the same WIM to the same kind of target, as a ratio measured in the
//! same run. Nothing is asserted: the figures are to read (aim: ratio >= 0.95).
//!
//! - Source: a generated tree of about `--mib` MiB (default 300) of mixed files — 2/3 in
//!   small files (4-64 KiB), the rest in medium (1-8 MiB) and large (32 MiB) ones; half of the
//!   bytes pseudo-random, half text-like (compressible) — plus the boot files and a minimal
//!   SYSTEM hive `wtg create` needs; captured once with `wimcapture --compress=LZX`.
//! - Ours: `polyboot wtg create WIM IMG --size ... --json` (release build): wimlib NTFS-3G
//!   mode into the Windows partition of a fresh sparse image file, through a loop device; the
//!   report's `apply_seconds` times the apply alone (open the WIM, extract, unmount NTFS), not
//!   the partitioning, mkntfs or the ESP.
//! - Baseline: the same partition range of another fresh sparse image file of the same size,
//!   through a loop device, `mkntfs -Q` (untimed), then straight away (as `wtg create` does)
//!   `wimapply WIM 1 /dev/loopN`, timed as the whole process.
//! - Both read the WIM from the page cache (it is read once beforehand), each starts after a
//!   `sync`, runs alternate which goes first, and the medians are compared (default 5 runs).
//!
//! `--smoke` (what `cargo xtask test` runs): one run of a 16 MiB tree, every step and both
//! figures; nothing asserted about speed, but the run fails when a step or a figure fails.
//!
//! Needs root (loop devices, ntfs-3g) and wimtools, ntfs-3g and libhivex-bin (`cargo xtask
//! deps`): without them it stops with an error naming what is missing. Disk use: about
//! 3 x `--mib` for the images.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const MIB: u64 = 1 << 20;

/// A SYSTEM hive with `Select\Current` = 1, `ControlSet001\Control` and
/// `ControlSet001\Services\partmgr\Parameters` (what the policy step edits), as written by
/// polyboot-core's `regf::HiveBuilder` (the tree of `system_hive()` in
/// crates/polyboot/tests/wtg_create.rs): (file offset, bytes) of its non-zero runs in an
/// 8 KiB file. xtask does not link polyboot-core; hivexget checks it before use.
const SYSTEM_HIVE_LEN: usize = 8192;
const SYSTEM_HIVE_RUNS: &[(usize, &str)] = &[
    (0, "726567660100000001"),
    (20, "01000000050000000000000001000000200000000010000001"),
    (508, "56756766"),
    (4096, "6862696e000000000010"),
    (4128, "a8ffffff6e6b2c"),
    (4148, "ffffffff020000000000000038040000ffffffff00000000ffffffff78000000ffffffff1a"),
    (4204, "04000000524f4f540000000068ffffff736b00007800000078000000070000007c00000001000480140000002400000000000000300000000102000000000005200000002002000001010000000000051200000002004c0003000000000214003f000f00010100000000000512000000000218003f000f000102000000000005200000002002000000021800190002000102000000000005200000002102000000000000a0ffffff6e6b20"),
    (4388, "200000000200000000000000d0030000ffffffff00000000ffffffff78000000ffffffff10"),
    (4444, "0d000000436f6e74726f6c536574303031000000a8ffffff6e6b20"),
    (4484, "20"),
    (4496, "ffffffffffffffff020000002804000078000000ffffffff"),
    (4528, "0e00000004000000000000000600000053656c6563740000a8ffffff6e6b20"),
    (4572, "1001"),
    (4584, "ffffffffffffffff01000000f002000078000000ffffffff"),
    (4616, "20000000480000000000000007000000436f6e74726f6c00a8ffffff6e6b20"),
    (4660, "100100000100000000000000c0030000ffffffff00000000ffffffff78000000ffffffff0e"),
    (4716, "080000005365727669636573b0ffffff6d0075006c00740069002800300029006400690073006b0028003000290072006400690073006b0028003000290070006100720074006900740069006f006e00280031002900000000000000d8ffffff766b10004800000078020000010000000100000053797374656d426f6f74446576696365f8ffffffc8020000a8ffffff6e6b20"),
    (4876, "200200000100000000000000b0030000ffffffff00000000ffffffff78000000ffffffff14"),
    (4932, "07000000706172746d677200a0ffffff6e6b20"),
    (4964, "f802"),
    (4976, "ffffffffffffffff00000000ffffffff78000000ffffffff"),
    (5020, "0a000000506172616d6574657273000000000000f0ffffff6c6801005003000098ea7f6ef0ffffff6c680100f8020000f59e6ae0e8ffffff6c680200c80100008164c1552002000030f77a22e0ffffff766b07000400008001000000040000000100000043757272656e7400e0ffffff766b07000400008001000000040000000100000044656661756c7400f0ffffffe80300000804000000000000e8ffffff6c68020010010000a2a93b8f70010000a024005fb00b"),
];

fn system_hive() -> Vec<u8> {
    let mut h = vec![0u8; SYSTEM_HIVE_LEN];
    for (at, hex) in SYSTEM_HIVE_RUNS {
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            h[at + i] = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
        }
    }
    h
}

struct Options {
    runs: usize,
    mib: u64,
}

fn parse(args: &[String]) -> Result<Options> {
    // `--smoke` changes the defaults; an explicit --runs / --mib still wins.
    let smoke = args.iter().any(|a| a == "--smoke");
    let mut opts = if smoke { Options { runs: 1, mib: 16 } } else { Options { runs: 5, mib: 300 } };
    let mut it = args.iter().filter(|a| *a != "--smoke");
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            it.next()
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("{name} needs a positive number"))
        };
        match a.as_str() {
            "--runs" => opts.runs = value("--runs")?.max(1) as usize,
            "--mib" => opts.mib = value("--mib")?.max(16),
            other => {
                bail!("unknown bench-wtg option {other:?} (options: --runs N, --mib N, --smoke)")
            }
        }
    }
    Ok(opts)
}

/// xorshift bytes; `text` makes them compressible (words from a small vocabulary).
fn fill(seed: u64, len: usize, text: bool) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "windows ",
        "portable ",
        "workspace ",
        "driver ",
        "system32 ",
        "registry ",
        "boot ",
        "volume ",
        "\r\n",
    ];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        if text {
            out.extend_from_slice(WORDS[(next() % WORDS.len() as u64) as usize].as_bytes());
        } else {
            out.extend_from_slice(&next().to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

fn write(root: &Path, rel: &str, data: &[u8]) -> Result<()> {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap())?;
    std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))
}

/// The tree; returns its bytes and files.
fn make_tree(root: &Path, mib: u64) -> Result<(u64, usize)> {
    let total = mib * MIB;
    let mut bytes = 0u64;
    let mut n = 0u64;
    // Large, medium, then small files until the total is reached.
    let mut plan: Vec<(String, usize)> = Vec::new();
    let large = total / 6;
    let mut left = large;
    while left >= 32 * MIB {
        plan.push((format!("Windows/System32/large{n}.dat"), 32 << 20));
        left -= 32 * MIB;
        n += 1;
    }
    let mut medium = total / 6 + left;
    while medium >= MIB {
        let len = ((n % 8 + 1) * MIB).min(medium);
        plan.push((format!("Program Files/App{}/module{n}.dll", n % 5), len as usize));
        medium -= len;
        n += 1;
    }
    let mut small = total - plan.iter().map(|(_, l)| *l as u64).sum::<u64>();
    while small > 0 {
        let len = (4096 + (n * 7919) % (60 * 1024)).min(small);
        plan.push((
            format!(
                "Windows/WinSxS/pkg{}/file{n}.{}",
                n % 97,
                if n % 2 == 0 { "txt" } else { "bin" }
            ),
            len as usize,
        ));
        small -= len;
        n += 1;
    }
    for (i, (path, len)) in plan.iter().enumerate() {
        write(root, path, &fill(i as u64 + 1, *len, i % 2 == 0))?;
        bytes += *len as u64;
    }
    for (path, len) in [
        ("Windows/System32/winload.efi", 40_000),
        ("Windows/System32/winload.exe", 30_000),
        ("Windows/Boot/EFI/bootmgfw.efi", 50_000),
        ("Windows/Boot/PCAT/bootmgr", 45_000),
    ] {
        write(root, path, &fill(len as u64, len, false))?;
        bytes += len as u64;
    }
    write(root, "Windows/System32/config/SYSTEM", &system_hive())?;
    Ok((bytes, plan.len() + 5))
}

fn run_ok(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct Loop(String);
impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A number of `wtg create --json`'s report.
fn json_number(report: &serde_json::Value, key: &str) -> Result<f64> {
    report[key].as_f64().with_context(|| format!("no number {key} in the report: {report}"))
}

/// The Windows partition's (offset, size) from the report.
fn windows_partition(report: &serde_json::Value) -> Result<(u64, u64)> {
    let part = report["partitions"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["role"] == "windows"))
        .with_context(|| format!("no windows partition in the report: {report}"))?;
    match (part["offset"].as_u64(), part["size"].as_u64()) {
        (Some(offset), Some(size)) => Ok((offset, size)),
        _ => bail!("windows partition without offset/size in the report: {part}"),
    }
}

/// Tools the bench runs, with the package that has them: missing ones stop it with one message.
const TOOLS: &[(&str, &str)] = &[
    ("wimcapture", "wimtools"),
    ("wimapply", "wimtools"),
    ("mkntfs", "ntfs-3g"),
    ("hivexget", "libhivex-bin"),
    ("losetup", "mount"),
];

fn check_tools() -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> =
        std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]).collect();
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(tool, _)| !dirs.iter().any(|d| d.join(tool).is_file()))
        .map(|(tool, pkg)| format!("{tool} (package {pkg})"))
        .collect();
    if !missing.is_empty() {
        bail!("bench-wtg needs {}: install them with `cargo xtask deps`", missing.join(", "));
    }
    if !Path::new("/dev/loop-control").exists() {
        bail!("bench-wtg needs loop devices (/dev/loop-control is missing: `modprobe loop`, or a privileged container)");
    }
    Ok(())
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        bail!("bench-wtg needs root (loop devices, ntfs-3g)");
    }
    check_tools()?;
    let (polyboot, target_dir) = build_polyboot()?;
    std::fs::create_dir_all(&target_dir)?;
    let dir = tempfile::Builder::new().prefix("bench-wtg-").tempdir_in(&target_dir)?;
    let wim = make_wim(dir.path(), opts.mib)?;
    std::fs::read(&wim)?; // into the page cache
    let bench = Bench {
        dir: dir.path(),
        wim: &wim,
        polyboot: &polyboot,
        size_mib: opts.mib * 13 / 10 + 512,
    };
    bench.compare(opts.runs)
}

/// Builds the release `polyboot`; returns its path and the target directory.
fn build_polyboot() -> Result<(PathBuf, PathBuf)> {
    let root = crate::root();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    run_ok(Command::new(env!("CARGO")).current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "polyboot",
    ]))?;
    Ok((target_dir.join("release/polyboot"), target_dir))
}

/// The source: the generated tree captured as `dir/bench.wim` (the tree is removed after).
fn make_wim(dir: &Path, mib: u64) -> Result<PathBuf> {
    let tree = dir.join("tree");
    let t = Instant::now();
    let (bytes, files) = make_tree(&tree, mib)?;
    let hive = tree.join("Windows/System32/config/SYSTEM");
    let current = run_ok(Command::new("hivexget").arg(&hive).arg("\\Select").arg("Current"))?;
    if current.trim() != "1" {
        bail!("the embedded SYSTEM hive does not read back in hivexget ({current:?})");
    }
    let wim = dir.join("bench.wim");
    run_ok(Command::new("wimcapture").arg(&tree).arg(&wim).arg("Bench").args([
        "--compress=LZX",
        "--image-property",
        "WINDOWS/ARCH=9",
        "--image-property",
        "WINDOWS/EDITIONID=Professional",
    ]))?;
    std::fs::remove_dir_all(&tree)?;
    let wim_len = std::fs::metadata(&wim)?.len();
    println!(
        "source: {files} files, {:.0} MiB, LZX WIM of {:.0} MiB (made in {:.0} s)",
        bytes as f64 / MIB as f64,
        wim_len as f64 / MIB as f64,
        t.elapsed().as_secs_f64()
    );
    Ok(wim)
}

/// One comparison: the WIM, the two applies, the size of the image files they write.
struct Bench<'a> {
    dir: &'a Path,
    wim: &'a Path,
    polyboot: &'a Path,
    size_mib: u64,
}

/// What one `wtg create --json` reports.
struct OursRun {
    apply_seconds: f64,
    applied_bytes: f64,
    /// The Windows partition's (offset, size), where the baseline applies too.
    windows_partition: (u64, u64),
}

impl Bench<'_> {
    /// Runs both applies `runs` times and prints each run's and the median throughputs.
    fn compare(&self, runs: usize) -> Result<()> {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let mut geometry = None;
        for run in 0..runs {
            // Alternate which goes first; the first run needs ours first (it gives the offsets).
            let (secs, applied, base_secs) = match geometry {
                Some((off, len)) if run % 2 == 1 => {
                    let b = self.baseline(off, len)?;
                    let r = self.ours()?;
                    (r.apply_seconds, r.applied_bytes, b)
                }
                _ => {
                    let r = self.ours()?;
                    let (off, len) = r.windows_partition;
                    geometry = Some((off, len));
                    (r.apply_seconds, r.applied_bytes, self.baseline(off, len)?)
                }
            };
            if !(applied > 0.0 && secs > 0.0 && base_secs > 0.0) {
                bail!(
                    "run {}: no figure (applied {applied} bytes in {secs} s; wimapply {base_secs} s)",
                    run + 1
                );
            }
            ours.push(applied / secs);
            theirs.push(applied / base_secs);
            println!(
                "run {}: polyboot apply {:.1} MiB/s ({secs:.2} s), wimapply {:.1} MiB/s ({base_secs:.2} s)",
                run + 1,
                applied / secs / MIB as f64,
                applied / base_secs / MIB as f64
            );
        }
        let (o, b) = (median(&mut ours), median(&mut theirs));
        println!(
            "apply throughput (median of {runs}): polyboot wtg create {:.1} MiB/s, wimapply {:.1} MiB/s, ratio {:.3} (aim >= 0.95)",
            o / MIB as f64,
            b / MIB as f64,
            o / b
        );
        Ok(())
    }

    /// Ours: the whole `wtg create`, of which the report times the apply.
    fn ours(&self) -> Result<OursRun> {
        let img = self.dir.join("wtg.img");
        let _ = std::fs::remove_file(&img);
        run_ok(&mut Command::new("sync"))?;
        let size = format!("{}M", self.size_mib);
        let report = run_ok(
            Command::new(self.polyboot)
                .arg("wtg")
                .arg("create")
                .arg(self.wim)
                .arg(&img)
                .args(["--size", &size, "--yes", "--json"]),
        )?;
        let report: serde_json::Value = serde_json::from_str(&report)
            .with_context(|| format!("wtg create --json: stdout is not JSON:\n{report}"))?;
        if report["written"] != true {
            bail!("wtg create --json: the report says nothing was written: {report}");
        }
        std::fs::remove_file(&img)?;
        let windows_partition = windows_partition(&report)?;
        Ok(OursRun {
            apply_seconds: json_number(&report, "apply_seconds")?,
            applied_bytes: json_number(&report, "applied_bytes")?,
            windows_partition,
        })
    }

    /// Baseline: wimapply into a fresh NTFS at the same place of the same kind of file, made
    /// the same way (mkntfs on a loop device, then the apply straight away, as `wtg create`).
    fn baseline(&self, off: u64, len: u64) -> Result<f64> {
        let base = self.dir.join("base.img");
        let _ = std::fs::remove_file(&base);
        std::fs::File::create(&base)?.set_len(self.size_mib * MIB)?;
        run_ok(&mut Command::new("sync"))?;
        let dev = run_ok(
            Command::new("losetup")
                .args([
                    "--find",
                    "--show",
                    "--offset",
                    &off.to_string(),
                    "--sizelimit",
                    &len.to_string(),
                ])
                .arg(&base),
        )?;
        let lo = Loop(dev.trim().to_string());
        run_ok(Command::new("mkntfs").args(["-F", "-Q", "-q", "-L", "Windows"]).arg(&lo.0))?;
        let t = Instant::now();
        run_ok(Command::new("wimapply").arg(self.wim).arg("1").arg(&lo.0))?;
        let secs = t.elapsed().as_secs_f64();
        drop(lo);
        std::fs::remove_file(&base)?;
        Ok(secs)
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
