//! `cargo xtask bench-boot [--runs N] [--smoke]`: the UEFI boot manager's figures, each a ratio
//! against a baseline measured in the same run (OVMF, TCG):
//! - boot overhead: power-on → iPXE's marker when ipxe.iso boots through polyboot (default image,
//!   timeout 0: no keystrokes), against OVMF booting the same ISO as a CD-ROM (`-cdrom`);
//! - read path: the whole ISO read through the virtual BlockIO inside the firmware against raw
//!   reads of the same sectors (the boot manager measures both: `diagnostics.read_benchmark`);
//! - scan: milliseconds to the menu and sectors read per image for 1,000 images, and the same
//!   with a ventoy.json of 1,000 aliases, tips and a few classes (ratio against no
//!   configuration; aim <= 1.2);
//! - legacy BIOS boot overhead: the same ipxe.iso through polyboot's BIOS boot code against
//!   `-cdrom`, both under SeaBIOS. iPXE draws only on VGA there, so both sides poll the screen
//!   (screendump + OCR every ~0.5 s): the figures carry about a second of resolution;
//! - legacy BIOS boot overhead of a GRUB El Torito image: a grub-mkrescue ISO whose grub.cfg
//!   prints a marker on the serial console, through polyboot from a USB stick against the same
//!   ISO written raw to a USB stick of the same size, both under SeaBIOS.
//!
//! `--smoke` (what `cargo xtask test` runs): one boot each side under each firmware, the read
//! benchmark (the firmware reads at least 64 MiB each way) and a scan of 100 images instead of
//! 1,000; nothing asserted about speed, but the run fails when a boot, a step or a figure fails.
//! polyboot's own output is read from `--json`; the figures come from the serial console / screen.

use anyhow::{bail, Context, Result};
use polyboot_tests::{artifacts, Disk, Firmware, Vm, VmConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

struct Bench {
    polyboot: PathBuf,
    efi: PathBuf,
    dir: tempfile::TempDir,
}

impl Bench {
    fn polyboot(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.polyboot)
            .args(args)
            .env("POLYBOOT_EFI", &self.efi)
            .env("POLYBOOT_BIOS", crate::bios_artifact(&crate::root()))
            .output()?;
        if !out.status.success() {
            bail!("polyboot {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `polyboot add --json IMG FILES... [--to DIR]`: checks that every file was added (its
    /// path and size in the report); returns the report's entries.
    fn add(&self, img: &str, files: &[&str], to: Option<&str>) -> Result<Vec<serde_json::Value>> {
        let mut args = vec!["add", "--json", img];
        args.extend_from_slice(files);
        if let Some(dir) = to {
            args.extend(["--to", dir]);
        }
        let out = self.polyboot(&args)?;
        let added: Vec<serde_json::Value> = serde_json::from_str(&out)
            .with_context(|| format!("polyboot add --json: not a JSON list:\n{out}"))?;
        if added.len() != files.len() {
            bail!(
                "polyboot add --json reported {} file(s) for {} given:\n{out}",
                added.len(),
                files.len()
            );
        }
        for (entry, file) in added.iter().zip(files) {
            let (name, len) = (
                Path::new(file).file_name().context("file name")?.to_string_lossy(),
                std::fs::metadata(file)?.len(),
            );
            if !entry["path"].as_str().is_some_and(|p| p.ends_with(&format!("/{name}")))
                || entry["size"] != len
            {
                bail!("polyboot add --json: expected {name} of {len} bytes, got {entry}");
            }
        }
        Ok(added)
    }

    /// A drive holding ipxe.iso and a polyboot.json with `config`.
    fn drive(&self, name: &str, config: &str) -> Result<PathBuf> {
        self.drive_with(name, artifacts::IPXE_ISO, config)
    }

    /// A 1 GiB drive holding `iso` and a polyboot.json with `config`.
    fn drive_with(&self, name: &str, iso: &str, config: &str) -> Result<PathBuf> {
        let img = self.dir.path().join(format!("{name}.img"));
        let s = img.to_str().context("path")?;
        self.polyboot(&["install", s, "--size", "1G", "--yes"])?;
        let added = self.add(s, &[iso], None)?;
        if added[0]["expected_to_work"] != true {
            bail!("polyboot add: {iso} is not expected to boot: {}", added[0]);
        }
        let cfg_dir = self.dir.path().join(format!("{name}-cfg"));
        std::fs::create_dir_all(&cfg_dir)?;
        let cfg = cfg_dir.join("polyboot.json");
        std::fs::write(&cfg, config)?;
        self.add(s, &[cfg.to_str().context("path")?], Some("polyboot"))?;
        Ok(img)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn vm_bios(name: &str) -> VmConfig {
    VmConfig::new(name, Firmware::Bios).timeout(Duration::from_secs(180))
}

fn vm(name: &str) -> VmConfig {
    VmConfig::new(name, Firmware::Uefi).timeout(Duration::from_secs(180))
}

pub fn run(args: &[String]) -> Result<()> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let rest: Vec<&str> = args.iter().map(String::as_str).filter(|a| *a != "--smoke").collect();
    let runs = match rest[..] {
        [] if smoke => 1,
        [] => 3,
        ["--runs", n] => n.parse::<usize>().context("--runs N")?.max(1),
        _ => bail!("usage: cargo xtask bench-boot [--runs N] [--smoke]"),
    };
    let images = if smoke { 100 } else { 1000 };
    let root = crate::root();
    let b = Bench {
        polyboot: crate::polyboot_binary(&root),
        efi: crate::efi_artifact(&root),
        dir: tempfile::Builder::new()
            .prefix("polyboot-bench-boot-")
            .tempdir_in(root.join("target"))?,
    };
    println!(
        "polyboot bench-boot{}: OVMF and SeaBIOS under TCG, {runs} run(s) each, alternating, median",
        if smoke { " (smoke configuration: nothing asserted about speed)" } else { "" }
    );

    // Boot overhead.
    let auto = b.drive("auto", r#"{"menu": {"timeout": 0, "default": "/ipxe.iso"}}"#)?;
    let (mut ours, mut cdrom) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let mut v = Vm::start(vm(&format!("bench-cdrom-{i}")).cdrom(artifacts::IPXE_ISO))?;
        cdrom.push(v.wait_for(artifacts::IPXE_MARKER)?.as_secs_f64());
        drop(v);
        let mut v = Vm::start(vm(&format!("bench-polyboot-{i}")).disk(Disk::new(&auto).usb()))?;
        ours.push(v.wait_for(artifacts::IPXE_MARKER)?.as_secs_f64());
    }
    let (o, c) = (median(ours.clone()), median(cdrom.clone()));
    println!("boot overhead: power-on -> \"{}\"", artifacts::IPXE_MARKER);
    println!("  ipxe.iso through polyboot (USB drive, exFAT): {o:.2} s   runs: {ours:.2?}");
    println!("  ipxe.iso as QEMU CD-ROM (-cdrom):             {c:.2} s   runs: {cdrom:.2?}");
    println!("  ratio polyboot/cdrom = {:.2} (aim <= 1.30)", o / c);

    // Legacy BIOS (SeaBIOS): the same drive, read by the BIOS boot code (`_legacy` keys fall
    // back to the common ones).
    let (mut ours, mut cdrom) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let v = Vm::start(vm_bios(&format!("bench-bios-cdrom-{i}")).cdrom(artifacts::IPXE_ISO))?;
        cdrom.push(v.wait_for_screen(artifacts::IPXE_MARKER)?.0.as_secs_f64());
        drop(v);
        let v = Vm::start(vm_bios(&format!("bench-bios-polyboot-{i}")).disk(Disk::new(&auto)))?;
        ours.push(v.wait_for_screen(artifacts::IPXE_MARKER)?.0.as_secs_f64());
    }
    let (o, c) = (median(ours.clone()), median(cdrom.clone()));
    println!(
        "legacy BIOS boot overhead (SeaBIOS, screen polled by OCR): power-on -> \"{}\"",
        artifacts::IPXE_MARKER
    );
    println!("  ipxe.iso through polyboot (hard disk, exFAT): {o:.2} s   runs: {ours:.2?}");
    println!("  ipxe.iso as QEMU CD-ROM (-cdrom):             {c:.2} s   runs: {cdrom:.2?}");
    println!("  ratio polyboot/cdrom = {:.2}", o / c);

    // Legacy BIOS, a GRUB El Torito image (grub-mkrescue: GRUB's eltorito.img, then its
    // modules read through the emulated CD) from a USB stick, against the same ISO written raw
    // (dd) to a stick of the same size; GRUB prints the marker on the serial console.
    const GRUB_MARKER: &str = "POLYBOOT-BENCH-GRUB-MARKER";
    let grub_iso = polyboot_tests::fixtures::grub_mkrescue_iso(b.dir.path(), GRUB_MARKER)?;
    let grub_iso = grub_iso.to_str().context("path")?;
    let grub = b.drive_with(
        "grub",
        grub_iso,
        r#"{"menu": {"timeout": 0, "default": "/grub-mkrescue.iso"}}"#,
    )?;
    let raw = b.dir.path().join("grub-raw.img");
    std::fs::copy(grub_iso, &raw)?;
    std::fs::OpenOptions::new().write(true).open(&raw)?.set_len(std::fs::metadata(&grub)?.len())?;
    let (mut ours, mut dd) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let mut v =
            Vm::start(vm_bios(&format!("bench-bios-grub-raw-{i}")).disk(Disk::new(&raw).usb()))?;
        dd.push(v.wait_for(GRUB_MARKER)?.as_secs_f64());
        drop(v);
        let mut v = Vm::start(
            vm_bios(&format!("bench-bios-grub-polyboot-{i}")).disk(Disk::new(&grub).usb()),
        )?;
        ours.push(v.wait_for(GRUB_MARKER)?.as_secs_f64());
    }
    let (o, r) = (median(ours.clone()), median(dd.clone()));
    println!("legacy BIOS boot overhead, GRUB El Torito (SeaBIOS, serial console): power-on -> grub.cfg's marker");
    println!(
        "  grub-mkrescue ISO through polyboot (USB stick, exFAT): {o:.2} s   runs: {ours:.2?}"
    );
    println!("  the same ISO written raw to a USB stick (dd):         {r:.2} s   runs: {dd:.2?}");
    println!("  ratio polyboot/raw = {:.2}", o / r);

    // Read path, measured inside the firmware.
    let read = b.drive("read", r#"{"diagnostics": {"read_benchmark": "/ipxe.iso"}}"#)?;
    let mut v = Vm::start(vm("bench-read-path").disk(Disk::new(&read).usb()))?;
    v.wait_for("polyboot: read benchmark")?;
    v.wait_for("virtual/raw = ")?;
    std::thread::sleep(Duration::from_millis(300));
    let line = v
        .serial_text()
        .lines()
        .find(|l| l.contains("read benchmark"))
        .unwrap_or_default()
        .trim()
        .to_string();
    drop(v);
    if !line.contains("virtual/raw = ") {
        bail!("read benchmark: no figure on the serial console (line: {line:?})");
    }
    println!("read path (in firmware; aim: virtual/raw >= 0.90)");
    println!("  {}", line.trim_start_matches("polyboot: "));

    // Scan of 1,000 images (100 in smoke), then the same drive with a ventoy.json that gives
    // every image an alias (and a tip and a class): the configuration's cost at menu time.
    let scan = many_images(&b, images)?;
    let configured = b.dir.path().join("scan-aliases.img");
    std::fs::copy(&scan, &configured)?;
    let json = b.dir.path().join("ventoy.json");
    std::fs::write(&json, alias_config(images))?;
    b.add(
        configured.to_str().context("path")?,
        &[json.to_str().context("path")?],
        Some("/ventoy"),
    )?;
    // Alternating runs after one warm-up boot of each (the host's page cache), medians.
    scan_figures(&scan, images, "bench-scan-warmup")?;
    scan_figures(&configured, images, "bench-scan-aliases-warmup")?;
    let (mut plain, mut aliased) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        plain.push(scan_figures(&scan, images, "bench-scan")?);
        aliased.push(scan_figures(&configured, images, "bench-scan-aliases")?);
    }
    let ms = |runs: &[ScanFigures]| median(runs.iter().map(|r| r.ms).collect());
    let sectors = |runs: &[ScanFigures]| median(runs.iter().map(|r| r.sectors).collect());
    println!("scan: {}", plain[0].line);
    println!("  {:.0} sectors read per listed image", sectors(&plain) / images as f64);
    println!("scan with {images} aliases, tips and classes in ventoy.json: {}", aliased[0].line);
    println!(
        "  menu-ready time (median of {runs}) aliases/plain = {:.0} ms / {:.0} ms = {:.2}, \
         sectors read aliases/plain = {:.2} (aim: <= 1.2)",
        ms(&aliased),
        ms(&plain),
        ms(&aliased) / ms(&plain).max(1.0),
        sectors(&aliased) / sectors(&plain).max(1.0)
    );
    Ok(())
}

/// What the UEFI boot manager's "menu ready" line says.
struct ScanFigures {
    line: String,
    ms: f64,
    sectors: f64,
}

/// Boot `img` under OVMF and read "menu ready: N images, T ms, S sectors read in R reads".
fn scan_figures(img: &Path, images: usize, name: &str) -> Result<ScanFigures> {
    let mut v = Vm::start(vm(name).disk(Disk::new(img).usb()))?;
    v.wait_for("polyboot: menu ready")?;
    v.wait_for(" reads")?;
    let line = v
        .serial_text()
        .lines()
        .find(|l| l.contains("menu ready"))
        .unwrap_or_default()
        .trim()
        .trim_start_matches("polyboot: ")
        .to_string();
    drop(v);
    let listed = line.split_whitespace().nth(2).and_then(|n| n.parse::<usize>().ok());
    let field = |unit: &str| {
        line.split(", ")
            .find(|p| p.contains(unit))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    match (listed, field(" ms"), field("sectors read")) {
        (Some(n), Some(ms), Some(sectors)) if n == images => Ok(ScanFigures { line, ms, sectors }),
        _ => bail!(
            "scan: expected \"menu ready: {images} images, T ms, N sectors read ...\" on the serial console, got {line:?}"
        ),
    }
}

/// A ventoy.json with an alias, a tip and a class for each of the `count` images
/// [`many_images`] makes (exact paths, as users write them), plus a tree-view control entry.
fn alias_config(count: usize) -> String {
    let mut aliases = Vec::new();
    let mut tips = Vec::new();
    for batch in 0..count.div_ceil(100) {
        for i in 0..100 {
            let path = format!("/isos/set-{}/level-{batch}/image-{batch}-{i}.iso", batch % 3);
            aliases
                .push(serde_json::json!({ "image": path, "alias": format!("Image {batch}-{i}") }));
            tips.push(serde_json::json!({ "image": path, "tip": format!("tip {batch}-{i}") }));
        }
    }
    serde_json::json!({
        "control": [ { "VTOY_MENU_TIMEOUT": "30" } ],
        "menu_alias": aliases,
        "menu_tip": { "tips": tips },
        "menu_class": [ { "key": "image-1", "class": "one" }, { "parent": "/isos/set-0", "class": "zero" } ]
    })
    .to_string()
}

/// `count` (a multiple of 100) sparse ISOs (ipxe.iso's first 128 KiB, full length) in nested
/// directories.
fn many_images(b: &Bench, count: usize) -> Result<PathBuf> {
    let img = b.dir.path().join("scan.img");
    let s = img.to_str().context("path")?;
    b.polyboot(&["install", s, "--size", "4G", "--yes"])?;
    let iso = std::fs::read(artifacts::IPXE_ISO)?;
    for batch in 0..count.div_ceil(100) {
        let dir = b.dir.path().join(format!("scan-{batch}"));
        std::fs::create_dir_all(&dir)?;
        let mut files = Vec::new();
        for i in 0..100 {
            let p = dir.join(format!("image-{batch}-{i}.iso"));
            write_sparse_copy(&p, &iso, 128 << 10)?;
            files.push(p.to_string_lossy().into_owned());
        }
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        b.add(s, &refs, Some(&format!("/isos/set-{}/level-{batch}", batch % 3)))?;
    }
    Ok(img)
}

fn write_sparse_copy(path: &Path, data: &[u8], head: usize) -> Result<()> {
    let f = std::fs::File::create(path)?;
    std::os::unix::fs::FileExt::write_all_at(&f, &data[..head.min(data.len())], 0)?;
    f.set_len(data.len() as u64)?;
    Ok(())
}
