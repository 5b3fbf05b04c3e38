//! `cargo xtask dist`: what a user installs — a tarball and a Debian package holding the
//! `polyboot` binary, the boot files it lays out (`share/polyboot/`), man pages and shell
//! completions. Both use the layout the binary looks in: `<prefix>/bin/polyboot` finds
//! `<prefix>/share/polyboot/BOOTX64.EFI` (see crates/polyboot/src/drive/bootpart.rs).

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the packages are written.
pub fn dist_dir(root: &Path) -> PathBuf {
    root.join("target/dist")
}

/// The Debian package's file name for this version and architecture.
pub fn deb_path(root: &Path) -> Result<PathBuf> {
    Ok(dist_dir(root).join(format!("polyboot_{}_{}.deb", env!("CARGO_PKG_VERSION"), deb_arch()?)))
}

/// Debian packages `polyboot` runs without but that commands need: `vm` (QEMU, OVMF, SeaBIOS)
/// and `wtg create` (mkntfs, mkfs.fat).
const RECOMMENDS: &[&str] = &["qemu-system-x86", "ovmf", "ntfs-3g", "dosfstools"];
/// Run-time tools of `install` / `update`'s default, signed layout (issue 15): the
/// Microsoft-signed shim and MokManager, sbsign / sbverify, openssl (keys, certificates).
const TOOL_DEPENDS: &[&str] = &["shim-signed", "sbsigntool", "openssl"];

/// Shell completions: (clap_complete shell name, path under the prefix).
const COMPLETIONS: &[(&str, &str)] = &[
    ("bash", "share/bash-completion/completions/polyboot"),
    ("zsh", "share/zsh/vendor-completions/_polyboot"),
    ("fish", "share/fish/vendor_completions.d/polyboot.fish"),
];

pub fn run(_args: &[String]) -> Result<()> {
    let root = crate::root();
    let out = dist_dir(&root);
    std::fs::create_dir_all(&out)?;
    let version = env!("CARGO_PKG_VERSION");
    let arch = deb_arch()?;

    // The tarball: polyboot-VERSION-x86_64-linux/{bin,share}.
    let name = format!("polyboot-{version}-x86_64-linux");
    let stage = out.join("stage");
    let _ = std::fs::remove_dir_all(&stage);
    let tar_root = stage.join(&name);
    lay_out_prefix(&root, &tar_root, false)?;
    let tarball = out.join(format!("{name}.tar.gz"));
    crate::run(Command::new("tar").arg("-C").arg(&stage).arg("-czf").arg(&tarball).arg(&name))?;
    eprintln!("xtask: {}", tarball.display());

    // The Debian package: the same files under /usr, man pages gzipped as policy asks.
    let deb_root = stage.join("deb");
    lay_out_prefix(&root, &deb_root.join("usr"), true)?;
    let control_dir = deb_root.join("DEBIAN");
    std::fs::create_dir_all(&control_dir)?;
    let binary = deb_root.join("usr/bin/polyboot");
    let mut depends = shared_library_depends(&binary)?;
    depends.extend(TOOL_DEPENDS.iter().map(|d| d.to_string()));
    let control = control_file(version, &arch, &depends, installed_kib(&deb_root)?);
    std::fs::write(control_dir.join("control"), control)?;
    let deb = deb_path(&root)?;
    crate::run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&deb_root)
            .arg(&deb),
    )?;
    eprintln!("xtask: {}", deb.display());
    std::fs::remove_dir_all(&stage)?;
    Ok(())
}

/// `<prefix>/bin/polyboot` (stripped), `<prefix>/share/polyboot/*` (boot files),
/// `<prefix>/share/man/man1/*.1[.gz]`, completions, and the licence and README.
fn lay_out_prefix(root: &Path, prefix: &Path, gzip_man: bool) -> Result<()> {
    let bin = prefix.join("bin");
    let share = prefix.join("share/polyboot");
    let man = prefix.join("share/man/man1");
    let doc = prefix.join("share/doc/polyboot");
    for d in [&bin, &share, &man, &doc] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let binary = bin.join("polyboot");
    crate::run(Command::new("strip").arg("-o").arg(&binary).arg(crate::polyboot_binary(root)))?;
    for (from, to) in [
        (crate::efi_artifact(root), "BOOTX64.EFI"),
        (crate::bios_artifact(root), "polyboot-bios.bin"),
        (crate::wtg_bios_artifact(root), "polyboot-wtg-bios.bin"),
        (crate::winpe_artifact(root), "winpe-x64.exe"),
        (crate::winpe_x86_artifact(root), "winpe-x86.exe"),
    ] {
        std::fs::copy(&from, share.join(to))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    // Man pages and completions come from the binary's own clap tree, so they always match it.
    crate::run(
        Command::new(&binary).arg("manpages").arg(&man).stdout(std::process::Stdio::null()),
    )?;
    let pages: Vec<PathBuf> =
        std::fs::read_dir(&man)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    ensure!(
        pages.iter().any(|p| p.ends_with("polyboot.1")),
        "`polyboot manpages` wrote no polyboot.1"
    );
    if gzip_man {
        for page in &pages {
            crate::run(Command::new("gzip").args(["-9", "-n", "-f"]).arg(page))?;
        }
    }
    for (shell, path) in COMPLETIONS {
        let out = Command::new(&binary)
            .args(["completions", shell])
            .output()
            .context("running polyboot completions")?;
        ensure!(
            out.status.success() && !out.stdout.is_empty(),
            "`polyboot completions {shell}` failed"
        );
        let file = prefix.join(path);
        std::fs::create_dir_all(file.parent().unwrap())?;
        std::fs::write(&file, &out.stdout)?;
    }
    std::fs::copy(root.join("LICENSE"), doc.join("copyright"))?;
    std::fs::copy(root.join("README.md"), doc.join("README.md"))?;
    Ok(())
}

fn deb_arch() -> Result<String> {
    let out = Command::new("dpkg").arg("--print-architecture").output().context("running dpkg")?;
    ensure!(out.status.success(), "dpkg --print-architecture failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `Depends` for a dynamically linked binary: the Debian package owning each shared library
/// it loads (from `ldd`), at least at the version installed here (what it was linked against).
fn shared_library_depends(binary: &Path) -> Result<Vec<String>> {
    let out = Command::new("ldd").arg(binary).output().context("running ldd")?;
    ensure!(out.status.success(), "ldd {} failed", binary.display());
    let mut depends: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "\tlibwim.so.15 => /lib/x86_64-linux-gnu/libwim.so.15 (0x...)"
        let Some(path) = line.split("=>").nth(1).and_then(|r| r.split_whitespace().next()) else {
            continue;
        };
        if !path.starts_with('/') {
            continue;
        }
        let (package, qualified) = owning_package(path)?;
        // Asked with its architecture: with a foreign one enabled (wine32:i386 for the tests),
        // dpkg has zlib1g:amd64 and zlib1g:i386, and the bare name would list both versions.
        let version = query(&["-W", "-f=${Version}", &qualified])?;
        // The upstream part (epoch kept, Debian revision dropped) is the usual shlibs floor.
        let upstream = version.rsplit_once('-').map(|(u, _)| u).unwrap_or(&version).to_string();
        let dep = format!("{package} (>= {upstream})");
        if !depends.contains(&dep) {
            depends.push(dep);
        }
    }
    ensure!(!depends.is_empty(), "ldd found no shared libraries in {}", binary.display());
    depends.sort();
    Ok(depends)
}

/// The package that owns a file, following /lib → /usr/lib (usrmerge lists either): its name
/// and its name as dpkg gave it (`zlib1g:amd64` for multi-arch packages).
fn owning_package(path: &str) -> Result<(String, String)> {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
    for candidate in [
        PathBuf::from(path),
        canonical.clone(),
        PathBuf::from(canonical.to_string_lossy().replacen("/usr/lib/", "/lib/", 1)),
    ] {
        let out =
            Command::new("dpkg").arg("-S").arg(&candidate).output().context("running dpkg -S")?;
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            // "libwim15:amd64: /usr/lib/x86_64-linux-gnu/libwim.so.15"
            if let Some((qualified, _)) = text.lines().next().and_then(|l| l.split_once(": ")) {
                let name = qualified.split(':').next().unwrap_or(qualified);
                return Ok((name.trim().to_string(), qualified.trim().to_string()));
            }
        }
    }
    bail!("no Debian package owns {path} (dpkg -S)")
}

fn query(args: &[&str]) -> Result<String> {
    let out = Command::new("dpkg-query").args(args).output().context("running dpkg-query")?;
    ensure!(out.status.success(), "dpkg-query {args:?} failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn installed_kib(dir: &Path) -> Result<u64> {
    let out = Command::new("du")
        .args(["-sk", "--exclude=DEBIAN"])
        .arg(dir)
        .output()
        .context("running du")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().and_then(|n| n.parse().ok()).context("du printed no size")
}

fn control_file(version: &str, arch: &str, depends: &[String], installed_kib: u64) -> String {
    format!(
        "Package: polyboot\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: polyboot developers <polyboot@localhost>\n\
         Installed-Size: {installed_kib}\n\
         Depends: {}\n\
         Recommends: {}\n\
         Section: admin\n\
         Priority: optional\n\
         Description: multi-boot USB drives: copy ISO / IMG / EFI files, pick one at boot\n \
         polyboot lays out a USB drive or a disk image with an exFAT data partition; ISO, IMG\n \
         and EFI files copied onto it boot from a menu in UEFI and legacy BIOS, straight from\n \
         the file. It also checks images before they are copied, writes Windows To Go drives\n \
         and boots a drive in QEMU for a quick try (polyboot vm).\n",
        depends.join(", "),
        RECOMMENDS.join(", ")
    )
}
