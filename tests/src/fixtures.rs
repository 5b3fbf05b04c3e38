//! Disk images built with independent tools (sfdisk, mtools), so tests of our own writers and
//! of the firmware never depend only on our own code.

use crate::run_tool;
use anyhow::{ensure, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// A 64 MiB GPT disk whose first partition (ESP, FAT, at 1 MiB) holds `efi` as
/// `\EFI\BOOT\BOOTX64.EFI`.
pub fn esp_disk(path: &Path, efi: &Path) -> Result<()> {
    let file = std::fs::File::create(path)?;
    file.set_len(64 << 20)?;
    drop(file);
    sfdisk(path, "label: gpt\nstart=2048, size=61440, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP\n")?;
    let part = format!("{}@@1M", path.display());
    run_tool(Command::new("mformat").args(["-i", &part, "-T", "61440", "-h", "64", "-s", "32", "::"]))?;
    run_tool(Command::new("mmd").args(["-i", &part, "::/EFI", "::/EFI/BOOT"]))?;
    run_tool(Command::new("mcopy").args(["-i", &part]).arg(efi).arg("::/EFI/BOOT/BOOTX64.EFI"))?;
    Ok(())
}

/// Apply an sfdisk script to an image file.
pub fn sfdisk(path: &Path, script: &str) -> Result<()> {
    let mut child = Command::new("sfdisk")
        .arg("--quiet")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot run sfdisk (Debian package fdisk): {e}"))?;
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes())?;
    ensure!(child.wait()?.success(), "sfdisk failed on {}", path.display());
    Ok(())
}

/// A Linux live ISO built by `tests/fixtures/live/<script>` (e.g. `build-live-build.sh`,
/// `build-dracut.sh`), from the per-machine cache outside the repository
/// (`POLYBOOT_FIXTURE_CACHE`, default `/var/cache/polyboot-fixtures`), keyed by the SHA-256 of
/// the script and the files it includes. Builds it when absent (as root, about 5–10 minutes;
/// the build's progress goes to stderr) through `cached.sh`, which locks so that parallel tests
/// build once. `POLYBOOT_FIXTURE_NO_BUILD=1` makes a missing ISO an error instead.
pub fn live_iso(script: &str) -> Result<std::path::PathBuf> {
    let dir = crate::workspace_root().join("tests/fixtures/live");
    let out = Command::new("bash")
        .arg(dir.join("cached.sh"))
        .arg(dir.join(script))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run tests/fixtures/live/cached.sh: {e}"))?;
    ensure!(
        out.status.success(),
        "building the live fixture {script} failed ({}); it needs root and the Debian packages \
         live-build, debootstrap, squashfs-tools, xorriso, grub-common, grub-pc-bin, \
         grub-efi-amd64-bin, mtools",
        out.status
    );
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    ensure!(path.is_file(), "cached.sh printed {}, which is not a file", path.display());
    Ok(path)
}

/// The newest `/boot/vmlinuz-*` whose modules are installed (Debian's `linux-image-amd64`),
/// and its release: the real kernel the hook's and the El Torito initrd tests boot.
pub fn host_kernel() -> Option<(std::path::PathBuf, String)> {
    let mut names: Vec<String> =
        std::fs::read_dir("/boot").ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
        .into_iter()
        .rev()
        .filter(|n| n.starts_with("vmlinuz-"))
        .map(|k| (Path::new("/boot").join(&k), k.trim_start_matches("vmlinuz-").to_string()))
        .find(|(_, release)| Path::new("/lib/modules").join(release).join("modules.dep").exists())
}

/// `input` piped through `cmd args` (a compressor), its standard output; panics on failure.
pub fn pipe(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut c = Command::new(cmd).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let input = input.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&input));
    let out = c.wait_with_output().unwrap();
    t.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd} {args:?} failed");
    out.stdout
}
