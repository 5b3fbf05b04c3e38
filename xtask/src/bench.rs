//! `cargo xtask bench [--runs N] [--mib N] [--smoke]`: throughput figures, each printed as a ratio
//! against a baseline measured in the same run. Nothing is asserted about speed: they are to read.
//! `--smoke` (what `cargo xtask test` runs) is one run of 64 MiB: every step and every figure, in
//! a few seconds; the run fails if a step fails or a figure cannot be produced.
//! polyboot's output is read from `--json`, never from its human text.
//!
//! 1. `polyboot add` (release binary) of a pseudo-random file (default 2 GiB) into an image made
//!    by `polyboot install IMG --size 4G`, against `dd bs=4M conv=notrunc,fsync` of the same
//!    bytes into the same image, at the very offset where `add` put them: what `add` costs over
//!    a plain copy to the same blocks. Fairness:
//!    - same destination blocks: one untimed `add` first allocates them (its time is printed
//!      apart), then every timed run overwrites them: dd in place, add after an untimed
//!      `polyboot rm` (the allocator gives the file the same clusters; checked). On ext4 on this
//!      VM, writes that allocate blocks cost 2-5 times more system time, and how much varies
//!      from run to run with what was deleted before; a drive has no such effect;
//!    - both end on stable storage: `add` ends with `fdatasync` (`ops::add` → `fs.flush()`) and
//!      `fsync` (`drive.sync()` in main.rs); `dd` with `conv=fsync`;
//!    - both read the source from memory: it lives on tmpfs (`/dev/shm`) when there is room,
//!      otherwise beside the image, and it is read once beforehand either way;
//!    - each run starts after a `sync` and is timed as the whole process, start to exit;
//!    - runs alternate dd, add, dd, add, ... and the median of each is compared;
//!    - then the same with the image on tmpfs (when it has room): no device, only the CPU work,
//!      a steadier figure on a noisy machine.
//! 2. SHA-256 alone: the `sha2` crate polyboot uses, over a 1 GiB buffer in memory, against
//!    `sha256sum` of a 1 GiB file in the page cache. xtask is a debug build, so the hash is a
//!    single `Sha256::digest` call over the whole buffer: all the per-block work is in sha2's
//!    compression function, which `[profile.dev.package.sha2] opt-level = 3` optimises.
//!    `polyboot verify` (release binary) of the file is printed as a cross-check.
//!
//! The source is made once per run from a PRNG (no zero chunks: `add` skips trailing ones).
//! Disk writes: (1 + 2 × runs) × size (14 GiB by default), plus the source when /dev/shm is too
//! small. Takes about a minute on an idle 2-core machine.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const CHUNK: usize = 4 << 20;
/// Where in the image `add` puts the file is looked for in its first this many bytes.
const SEARCH: u64 = 256 << 20;

struct Options {
    runs: usize,
    size: u64,
}

fn smoke(args: &[String]) -> bool {
    args.iter().any(|a| a == "--smoke")
}

fn parse(args: &[String]) -> Result<Options> {
    // `--smoke` changes the defaults; an explicit --runs / --mib still wins.
    let mut opts = if smoke(args) {
        Options { runs: 1, size: 64 * MIB }
    } else {
        Options { runs: 3, size: 2 * GIB }
    };
    let mut it = args.iter().filter(|a| *a != "--smoke");
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            it.next()
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("{name} needs a positive number"))
        };
        match a.as_str() {
            "--runs" => opts.runs = value("--runs")?.max(1) as usize,
            "--mib" => opts.size = value("--mib")?.max(64) * MIB,
            other => bail!("unknown bench option {other:?} (options: --runs N, --mib N, --smoke)"),
        }
    }
    Ok(opts)
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let root = crate::root();
    let polyboot = crate::polyboot_binary(&root);
    let efi = crate::efi_artifact(&root);
    let hash_len = GIB.min(opts.size);
    let (out_dir, in_dir) = work_dirs(&root, opts.size, hash_len)?;

    let src = in_dir.path().join("source.img");
    eprintln!("bench: writing {} MiB of pseudo-random data to {}", opts.size / MIB, src.display());
    let expected = make_source(&src, opts.size)?;
    warm(&src)?;

    println!("polyboot bench{} — {} MiB source, {} run(s) each, median; MB/s and GB/s are 10^6 / 10^9 bytes/s",
        if smoke(args) { " (smoke configuration: nothing asserted about speed)" } else { "" }, opts.size / MIB, opts.runs);
    println!(
        "machine: {} CPU(s), {}, load average {}; image on {} ({}), source on {}",
        cpus(),
        cpu_model(),
        load_average(),
        out_dir.path().display(),
        fs_type(out_dir.path()),
        fs_type(in_dir.path())
    );
    println!();

    // 1. add vs dd, on the disk; then the same on tmpfs, where only the CPU work differs.
    let tools = Tools {
        polyboot: &polyboot,
        efi: &efi,
        src: &src,
        size: opts.size,
        runs: opts.runs,
        expected: &expected,
    };
    let img = out_dir.path().join("drive.img");
    let pass = add_vs_dd(&tools, &img)?;
    println!("add vs dd: {} MiB into a 4G image file, to the same blocks (allocated by a first add); both fsync at the end", opts.size / MIB);
    report(&pass, opts.size)?;
    let verify_time = verify_source(&polyboot, &img)?;
    std::fs::remove_file(&img)?;

    if fs_type(in_dir.path()) == "tmpfs"
        && available(in_dir.path()).unwrap_or(0) >= opts.size + 512 * MIB
    {
        let img = in_dir.path().join("drive.img");
        let pass = add_vs_dd(&tools, &img)?;
        std::fs::remove_file(&img)?;
        println!("the same with the image on tmpfs (no device: what is left is CPU work — reading, hashing, copying)");
        report(&pass, opts.size)?;
    }

    // 2. SHA-256 alone.
    sha256_vs_sha256sum(&root, &src, in_dir.path(), hash_len, opts.runs)?;
    println!("  cross-check: polyboot verify (release) of the added file: {:.2} GB/s (reads the cached image + hashes)",
        opts.size as f64 / verify_time.as_secs_f64() / 1e9);
    println!("load average at the end: {} (figures are wall-clock: other work on the machine shows in them)", load_average());
    Ok(())
}

/// Where the bench writes: the image goes to the repository's filesystem (a real disk), the
/// inputs to tmpfs if they fit (else beside the image). Errors when the disk lacks room.
fn work_dirs(root: &Path, size: u64, hash_len: u64) -> Result<(TempDir, TempDir)> {
    let target = root.join("target");
    std::fs::create_dir_all(&target)?;
    let out_dir = tempfile::Builder::new().prefix("bench-").tempdir_in(&target)?;
    let shm = Path::new("/dev/shm");
    let in_dir = if shm.is_dir() && available(shm).unwrap_or(0) >= size + hash_len + GIB {
        tempfile::Builder::new().prefix("polyboot-bench-").tempdir_in(shm)?
    } else {
        tempfile::Builder::new().prefix("in-").tempdir_in(out_dir.path())?
    };
    let need = size
        + 64 * MIB
        + if in_dir.path().starts_with(out_dir.path()) { size + hash_len } else { 0 };
    if available(out_dir.path()).unwrap_or(u64::MAX) < need {
        bail!("{}: needs {} MiB free", out_dir.path().display(), need / MIB);
    }
    Ok((out_dir, in_dir))
}

/// Cross-check of hashing in the release binary, and of the image after all those writes:
/// `polyboot verify` of the added file must say ok. Returns how long it took.
fn verify_source(polyboot: &Path, img: &Path) -> Result<Duration> {
    let t = Instant::now();
    let out = Command::new(polyboot)
        .args(["verify", utf8(img)?, "/source.img", "--json"])
        .stdin(Stdio::null())
        .output()?;
    let verify_time = t.elapsed();
    check("polyboot verify", &out)?;
    let verified = json("polyboot verify --json", &out)?;
    let status = verified
        .as_array()
        .and_then(|r| r.iter().find(|v| v["path"] == "/source.img"))
        .map(|v| v["status"].clone())
        .with_context(|| {
            format!("polyboot verify --json has no entry for /source.img: {verified}")
        })?;
    if status != "ok" {
        bail!("polyboot verify of /source.img after the runs: {status}");
    }
    Ok(verify_time)
}

/// SHA-256 of the source's first `hash_len` bytes: sha2 over a buffer in memory against
/// `sha256sum` of the same bytes in a file (written to `dir`, read from the page cache).
fn sha256_vs_sha256sum(
    root: &Path,
    src: &Path,
    dir: &Path,
    hash_len: u64,
    runs: usize,
) -> Result<()> {
    let mut buf = vec![0u8; hash_len as usize];
    File::open(src)?.read_exact(&mut buf)?;
    let ours_hex = hex(&Sha256::digest(&buf)); // also warms up the buffer's pages
    let mut ours = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let h = Sha256::digest(&buf);
        ours.push(t.elapsed());
        std::hint::black_box(h);
    }
    let file = dir.join("hash.bin");
    std::fs::write(&file, &buf)?;
    drop(buf);
    warm(&file)?;
    let mut theirs = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new("sha256sum")
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .context("cannot run sha256sum")?;
        theirs.push(t.elapsed());
        check("sha256sum", &out)?;
        let got = String::from_utf8_lossy(&out.stdout);
        if !got.starts_with(&ours_hex) {
            bail!("sha256sum says {}, sha2 says {ours_hex}", got.trim());
        }
    }
    let gbs = |d: Duration| hash_len as f64 / d.as_secs_f64() / 1e9;
    let sha_ni =
        std::fs::read_to_string("/proc/cpuinfo").map(|c| c.contains("sha_ni")).unwrap_or(false);
    let optimised = std::fs::read_to_string(root.join("Cargo.toml"))
        .map(|t| t.contains("[profile.dev.package.sha2]"))
        .unwrap_or(false);
    println!(
        "SHA-256 of {} MiB in memory: sha2 {} (as polyboot), CPU SHA extensions (sha_ni): {}",
        hash_len / MIB,
        sha2_version(root),
        if sha_ni { "yes" } else { "no" }
    );
    println!(
        "  sha2, one digest() call over the buffer: {:5.2} GB/s   runs: {}",
        gbs(median(&ours)),
        list(&ours, gbs)
    );
    println!(
        "  sha256sum FILE (page cache):             {:5.2} GB/s   runs: {}",
        gbs(median(&theirs)),
        list(&theirs, gbs)
    );
    println!(
        "  ratio sha2/sha256sum = {:.2}; aim >= 1.5 GB/s{}",
        figure("sha2/sha256sum", median(&theirs).as_secs_f64() / median(&ours).as_secs_f64())?,
        if sha_ni { "" } else { " (no SHA-NI here: the aim does not apply)" }
    );
    if optimised {
        println!("  (xtask is a debug build; the time is in sha2's compression, built at opt-level 3 by [profile.dev.package.sha2])");
    } else {
        println!("  WARNING: Cargo.toml has no [profile.dev.package.sha2]: this figure measures unoptimised sha2");
    }
    Ok(())
}

struct Tools<'a> {
    polyboot: &'a Path,
    efi: &'a Path,
    src: &'a Path,
    size: u64,
    runs: usize,
    expected: &'a str,
}

struct Pass {
    first_add: Run,
    add: Vec<Run>,
    dd: Vec<Run>,
}

/// Make `img`, add the source once (untimed in the comparison), then `runs` × (dd over the
/// file's bytes in place; rm + add again), alternating. The image is left with the file on it.
fn add_vs_dd(t: &Tools, img: &Path) -> Result<Pass> {
    // `install` takes a path under /dev (as /dev/shm) that does not exist for a device name:
    // make the empty file first.
    let _ = std::fs::remove_file(img);
    File::create(img)?.set_len(4 * GIB)?;
    let img_s = utf8(img)?;
    let out = Command::new(t.polyboot)
        .args(["install", img_s, "--size", "4G", "--yes"])
        .env("POLYBOOT_EFI", t.efi)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", t.polyboot.display()))?;
    check("polyboot install", &out)?;
    let polyboot = |args: &[&str]| -> Result<(std::process::Output, Run)> {
        let mut cmd = Command::new(t.polyboot);
        cmd.args(args).env("POLYBOOT_EFI", t.efi);
        timed(&mut cmd)
    };
    let add = || -> Result<Run> {
        sync()?;
        let (out, took) = polyboot(&["add", img_s, utf8(t.src)?, "--json"])?;
        check("polyboot add", &out)?;
        let added = json("polyboot add --json", &out)?;
        let entry = match added.as_array().map(|a| a.as_slice()) {
            Some([one]) => one,
            _ => bail!("polyboot add --json: expected one added file, got {added}"),
        };
        if entry["sha256"] != t.expected || entry["size"] != t.size {
            bail!(
                "polyboot add reported sha256 {} and size {}; the source's are {} and {}",
                entry["sha256"],
                entry["size"],
                t.expected,
                t.size
            );
        }
        Ok(took)
    };
    let first_add = add()?;
    let offset = locate(img, t.src, t.size)?;
    eprintln!(
        "bench: {img_s}: first add {:.2} s; the file is at byte {offset} of the image",
        first_add.wall.as_secs_f64()
    );

    let mut pass = Pass { first_add, add: Vec::new(), dd: Vec::new() };
    for i in 0..t.runs {
        sync()?;
        let (out, took) = timed(Command::new("dd").args([
            format!("if={}", utf8(t.src)?),
            format!("of={img_s}"),
            "bs=4M".into(),
            format!("seek={offset}"),
            "oflag=seek_bytes".into(),
            "conv=notrunc,fsync".into(),
        ]))?;
        check("dd", &out)?;
        eprintln!(
            "bench: {img_s}: dd  run {}: {:.2} s (CPU user {:.2} s, sys {:.2} s)",
            i + 1,
            took.wall.as_secs_f64(),
            took.user,
            took.sys
        );
        pass.dd.push(took);

        let (out, _) = polyboot(&["rm", img_s, "/source.img"])?;
        check("polyboot rm", &out)?;
        let took = add()?;
        eprintln!(
            "bench: {img_s}: add run {}: {:.2} s (CPU user {:.2} s, sys {:.2} s)",
            i + 1,
            took.wall.as_secs_f64(),
            took.user,
            took.sys
        );
        pass.add.push(took);
        let now = locate(img, t.src, t.size)?;
        if now != offset {
            eprintln!("bench: note: add run {} put the file at byte {now}, not {offset}: it wrote to other blocks", i + 1);
        }
    }
    Ok(pass)
}

/// Byte offset of the (contiguous) copy of `src` in `img`: its first 4 KiB looked for at 4 KiB
/// steps in the first `SEARCH` bytes, then its last 4 KiB checked at the end of the run.
fn locate(img: &Path, src: &Path, size: u64) -> Result<u64> {
    let (src, img) = (File::open(src)?, File::open(img)?);
    let (mut head, mut tail) = (vec![0u8; 4096], vec![0u8; 4096]);
    src.read_exact_at(&mut head, 0)?;
    src.read_exact_at(&mut tail, size - 4096)?;
    let mut region = vec![0u8; SEARCH as usize];
    img.read_exact_at(&mut region, 0)?;
    let found =
        region.chunks_exact(4096).position(|block| block == &head[..]).map(|i| i as u64 * 4096);
    let offset = found.with_context(|| {
        format!("the added file is not in the first {} MiB of the image", SEARCH / MIB)
    })?;
    let mut at_end = vec![0u8; 4096];
    img.read_exact_at(&mut at_end, offset + size - 4096)?;
    if at_end != tail {
        bail!("the added file is not contiguous in the image: dd could not write over it in place");
    }
    Ok(offset)
}

fn report(pass: &Pass, size: u64) -> Result<()> {
    let mbs = |d: Duration| size as f64 / d.as_secs_f64() / 1e6;
    let walls = |runs: &[Run]| runs.iter().map(|r| r.wall).collect::<Vec<_>>();
    let (add_med, add_user, add_sys) = summary(&pass.add);
    let (dd_med, dd_user, dd_sys) = summary(&pass.dd);
    let f = &pass.first_add;
    println!("  polyboot add (release, SHA-256 on): {:7.1} MB/s   runs: {}   CPU user {add_user:.2} s, sys {add_sys:.2} s", mbs(add_med), list(&walls(&pass.add), mbs));
    println!("  dd bs=4M conv=notrunc,fsync:        {:7.1} MB/s   runs: {}   CPU user {dd_user:.2} s, sys {dd_sys:.2} s", mbs(dd_med), list(&walls(&pass.dd), mbs));
    println!(
        "  ratio add/dd = {:.2} (aim >= 0.90)",
        figure("add/dd", dd_med.as_secs_f64() / add_med.as_secs_f64())?
    );
    println!("  (first add, allocating the blocks: {:.1} MB/s, CPU user {:.2} s, sys {:.2} s; not in the ratio)", mbs(f.wall), f.user, f.sys);
    println!();
    Ok(())
}

/// A figure that could be computed (finite and positive), or the run fails.
fn figure(what: &str, value: f64) -> Result<f64> {
    if !value.is_finite() || value <= 0.0 {
        bail!("figure {what} could not be produced ({value})");
    }
    Ok(value)
}

/// Pseudo-random, never-zero content, fast even in a debug build: 4 KiB pieces of a 1 MiB
/// splitmix64 pool, each from an offset a xorshift generator picks (copies are memcpy).
/// Returns the SHA-256 of what was written.
fn make_source(path: &Path, size: u64) -> Result<String> {
    const PIECE: usize = 4096;
    const POOL: usize = 1 << 20;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut pool = vec![0u8; POOL + PIECE];
    for c in pool.chunks_exact_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        c.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut chunk = vec![0u8; CHUNK];
    let mut hasher = Sha256::new();
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut left = size;
    while left > 0 {
        for piece in chunk.chunks_exact_mut(PIECE) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let off = (x % POOL as u64) as usize;
            piece.copy_from_slice(&pool[off..off + PIECE]);
        }
        let n = left.min(CHUNK as u64) as usize;
        hasher.update(&chunk[..n]);
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(hex(&hasher.finalize()))
}

/// Read a file once so that it is in the page cache.
fn warm(path: &Path) -> Result<()> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; CHUNK];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

fn sync() -> Result<()> {
    crate::run(&mut Command::new("sync"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A command's standard output as JSON (`--json`).
pub(crate) fn json(what: &str, out: &std::process::Output) -> Result<serde_json::Value> {
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!("{what}: stdout is not JSON:\n{}", String::from_utf8_lossy(&out.stdout))
    })
}

fn check(what: &str, out: &std::process::Output) -> Result<()> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    t[t.len() / 2]
}

fn list(times: &[Duration], rate: impl Fn(Duration) -> f64) -> String {
    times.iter().map(|&t| format!("{:.2}", rate(t))).collect::<Vec<_>>().join(", ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn utf8(p: &Path) -> Result<&str> {
    p.to_str().with_context(|| format!("{}: not UTF-8", p.display()))
}

/// Free bytes on the filesystem holding `path` (`df`, to stay without libc here).
fn available(path: &Path) -> Option<u64> {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(path).output().ok()?;
    String::from_utf8_lossy(&out.stdout).lines().nth(1)?.trim().parse().ok()
}

fn fs_type(path: &Path) -> String {
    Command::new("df")
        .args(["--output=fstype"])
        .arg(path)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().nth(1).map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// User and system CPU seconds of the children waited for so far (/proc/self/stat fields
/// cutime and cstime), to show where a run's time went without another dependency.
fn children_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
    let tick = clock_ticks();
    (f.get(13).copied().unwrap_or(0.0) / tick, f.get(14).copied().unwrap_or(0.0) / tick)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Run a command to completion, timed (wall clock) with its CPU time.
fn timed(cmd: &mut Command) -> Result<(std::process::Output, Run)> {
    let (u0, s0) = children_cpu();
    let t = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {cmd:?}"))?;
    let wall = t.elapsed();
    let (u1, s1) = children_cpu();
    Ok((out, Run { wall, user: u1 - u0, sys: s1 - s0 }))
}

#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    user: f64,
    sys: f64,
}

/// Median wall time, with the median user and system CPU seconds.
fn summary(runs: &[Run]) -> (Duration, f64, f64) {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (
        median(&runs.iter().map(|r| r.wall).collect::<Vec<_>>()),
        mid(runs.iter().map(|r| r.user).collect()),
        mid(runs.iter().map(|r| r.sys).collect()),
    )
}

fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The sha2 version Cargo.lock pins (the one polyboot is built with).
fn sha2_version(root: &Path) -> String {
    std::fs::read_to_string(root.join("Cargo.lock"))
        .ok()
        .and_then(|lock| {
            let at =
                lock.find("name = \"sha2\"\nversion = \"")? + "name = \"sha2\"\nversion = \"".len();
            lock[at..].split('"').next().map(str::to_string)
        })
        .unwrap_or_else(|| "0.10".into())
}
