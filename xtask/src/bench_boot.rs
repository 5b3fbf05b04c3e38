//! `cargo xtask bench-boot [--runs N]`: the UEFI boot manager's figures, each a ratio against a
//! baseline measured in the same run (OVMF, TCG):
//! - boot overhead: power-on → iPXE's marker when ipxe.iso boots through polyboot (default image,
//!   timeout 0: no keystrokes), against OVMF booting the same ISO as a CD-ROM (`-cdrom`);
//! - read path: the whole ISO read through the virtual BlockIO inside the firmware against raw
//!   reads of the same sectors (the boot manager measures both: `diagnostics.read_benchmark`);
//! - scan: milliseconds to the menu and sectors read per image for 1,000 images;
//! - legacy BIOS boot overhead: the same ipxe.iso through polyboot's BIOS boot code against
//!   `-cdrom`, both under SeaBIOS. iPXE draws only on VGA there, so both sides poll the screen
//!   (screendump + OCR every ~0.5 s): the figures carry about a second of resolution.

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

    /// A drive holding ipxe.iso and a polyboot.json with `config`.
    fn drive(&self, name: &str, config: &str) -> Result<PathBuf> {
        let img = self.dir.path().join(format!("{name}.img"));
        let s = img.to_str().context("path")?;
        self.polyboot(&["install", s, "--size", "1G", "--yes"])?;
        self.polyboot(&["add", "-q", s, artifacts::IPXE_ISO])?;
        let cfg_dir = self.dir.path().join(format!("{name}-cfg"));
        std::fs::create_dir_all(&cfg_dir)?;
        let cfg = cfg_dir.join("polyboot.json");
        std::fs::write(&cfg, config)?;
        self.polyboot(&["add", "-q", s, cfg.to_str().context("path")?, "--to", "polyboot"])?;
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
    let runs = match args {
        [] => 3,
        [flag, n] if flag == "--runs" => n.parse::<usize>().context("--runs N")?.max(1),
        _ => bail!("usage: cargo xtask bench-boot [--runs N]"),
    };
    let root = crate::root();
    let b = Bench {
        polyboot: crate::polyboot_binary(&root),
        efi: crate::efi_artifact(&root),
        dir: tempfile::Builder::new().prefix("polyboot-bench-boot-").tempdir_in(root.join("target"))?,
    };
    println!("polyboot bench-boot: OVMF and SeaBIOS under TCG, {runs} run(s) each, alternating, median");

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
    println!("legacy BIOS boot overhead (SeaBIOS, screen polled by OCR): power-on -> \"{}\"", artifacts::IPXE_MARKER);
    println!("  ipxe.iso through polyboot (hard disk, exFAT): {o:.2} s   runs: {ours:.2?}");
    println!("  ipxe.iso as QEMU CD-ROM (-cdrom):             {c:.2} s   runs: {cdrom:.2?}");
    println!("  ratio polyboot/cdrom = {:.2}", o / c);

    // Read path, measured inside the firmware.
    let read = b.drive("read", r#"{"diagnostics": {"read_benchmark": "/ipxe.iso"}}"#)?;
    let mut v = Vm::start(vm("bench-read-path").disk(Disk::new(&read).usb()))?;
    v.wait_for("polyboot: read benchmark")?;
    v.wait_for("virtual/raw = ")?;
    std::thread::sleep(Duration::from_millis(300));
    let line = v.serial_text().lines().find(|l| l.contains("read benchmark")).unwrap_or_default().trim().to_string();
    drop(v);
    println!("read path (in firmware; aim: virtual/raw >= 0.90)");
    println!("  {}", line.trim_start_matches("polyboot: "));

    // Scan of 1,000 images.
    let scan = thousand_images(&b)?;
    let mut v = Vm::start(vm("bench-scan").disk(Disk::new(&scan).usb()))?;
    v.wait_for("polyboot: menu ready")?;
    v.wait_for(" reads")?;
    let line = v.serial_text().lines().find(|l| l.contains("menu ready")).unwrap_or_default().trim().to_string();
    drop(v);
    println!("scan: {}", line.trim_start_matches("polyboot: "));
    if let Some(sectors) = line.split(", ").find(|p| p.contains("sectors read")) {
        if let Some(n) = sectors.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()) {
            println!("  {:.0} sectors read per listed image", n / 1000.0);
        }
    }
    Ok(())
}

/// 1,000 sparse ISOs (ipxe.iso's first 128 KiB, full length) in nested directories.
fn thousand_images(b: &Bench) -> Result<PathBuf> {
    let img = b.dir.path().join("scan.img");
    let s = img.to_str().context("path")?;
    b.polyboot(&["install", s, "--size", "4G", "--yes"])?;
    let iso = std::fs::read(artifacts::IPXE_ISO)?;
    for batch in 0..10 {
        let dir = b.dir.path().join(format!("scan-{batch}"));
        std::fs::create_dir_all(&dir)?;
        let mut files = Vec::new();
        for i in 0..100 {
            let p = dir.join(format!("image-{batch}-{i}.iso"));
            write_sparse_copy(&p, &iso, 128 << 10)?;
            files.push(p);
        }
        let mut args = vec!["add".to_string(), "-q".into(), s.into(), "--to".into(), format!("/isos/set-{}/level-{batch}", batch % 3)];
        args.extend(files.iter().map(|p| p.to_string_lossy().into_owned()));
        let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
        b.polyboot(&refs)?;
    }
    Ok(img)
}

fn write_sparse_copy(path: &Path, data: &[u8], head: usize) -> Result<()> {
    let f = std::fs::File::create(path)?;
    std::os::unix::fs::FileExt::write_all_at(&f, &data[..head.min(data.len())], 0)?;
    f.set_len(data.len() as u64)?;
    Ok(())
}
