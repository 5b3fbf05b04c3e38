//! polyboot's build orchestration.
//!
//!   cargo xtask deps [--check]   install (or just check) the Debian packages we build and test with
//!                                (demo, test and bench* install them too: as root, or through sudo)
//!   cargo xtask build            host binaries (default toolchain) + firmware (Debian rustc, build-std)
//!   cargo xtask lint             cargo fmt --check + clippy -D warnings on every workspace
//!   cargo xtask test [ARGS]      build, lint, fuzz every parser briefly, bench* --smoke, run every test (`cargo test --workspace ARGS`)
//!   cargo xtask demo             make a drive image with a sample image and boot it in QEMU
//!   cargo xtask dist             tarball + .deb (binary, boot files, man pages, completions) in target/dist
//!   cargo xtask bench            throughput of `add` vs dd and of SHA-256 vs sha256sum (ratios)
//!   cargo xtask bench-boot       boot overhead vs -cdrom, in-firmware read path, 1,000-image scan
//!   cargo xtask bench-wtg        `wtg create` apply throughput vs wimapply of the same WIM (ratio)
//!
//! Host crates use the machine's default toolchain. Firmware needs `core`/`alloc` for bare
//! targets, which only Debian's rustc ships (with its library source, for build-std).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

mod bench;
mod bench_boot;
mod bench_wtg;
mod demo;
mod dist;

/// Debian packages, and a file each one provides that tells us it is installed.
const PACKAGES: &[(&str, &str)] = &[
    ("rustc-web", "/usr/bin/rustc"),
    ("cargo-web", "/usr/bin/cargo"),
    ("rust-web-src", "/usr/lib/rustlib/src/rust/library/core/Cargo.toml"),
    ("lld", "/usr/bin/lld-link"),
    ("qemu-system-x86", "/usr/bin/qemu-system-x86_64"),
    ("ovmf", "/usr/share/OVMF/OVMF_CODE_4M.fd"),
    ("mtools", "/usr/bin/mcopy"),
    ("dosfstools", "/usr/sbin/fsck.fat"),
    ("exfatprogs", "/usr/sbin/fsck.exfat"),
    // `polyboot persistence` makes ext4 (mkfs.ext4, resize2fs; e2fsck / debugfs check it) and
    // XFS persistence files (mkfs.xfs; xfs_repair checks it): crates/polyboot/tests/persistence.rs.
    ("e2fsprogs", "/usr/sbin/mkfs.ext4"),
    ("xfsprogs", "/usr/sbin/mkfs.xfs"),
    ("xorriso", "/usr/bin/xorriso"),
    ("ipxe", "/usr/lib/ipxe/ipxe.iso"),
    // polyboot serve's network boot tests (crates/polyboot/tests/serve_netboot.rs): QEMU's
    // iPXE NIC ROMs, and dnsmasq as the site's plain DHCP server next to proxy-DHCP.
    ("ipxe-qemu", "/usr/lib/ipxe/qemu/efi-e1000.rom"),
    ("dnsmasq-base", "/usr/sbin/dnsmasq"),
    ("fdisk", "/usr/sbin/sfdisk"),
    ("gdisk", "/usr/sbin/sgdisk"),
    ("tesseract-ocr", "/usr/bin/tesseract"),
    ("cpio", "/usr/bin/cpio"),
    // polyboot-hook's tests: a real kernel + initrd, busybox, and every initrd compressor.
    ("linux-image-amd64", "/usr/share/doc/linux-image-amd64"),
    ("initramfs-tools", "/usr/sbin/update-initramfs"),
    ("busybox-static", "/bin/busybox"),
    ("lz4", "/usr/bin/lz4"),
    ("zstd", "/usr/bin/zstd"),
    ("bzip2", "/bin/bzip2"),
    ("xz-utils", "/usr/bin/xz"),
    // The Linux live fixture ISOs (tests/fixtures/live/, built on first use and cached
    // outside the repository): live-build and a debootstrap root mastered by grub-mkrescue.
    ("live-build", "/usr/bin/lb"),
    ("debootstrap", "/usr/sbin/debootstrap"),
    ("squashfs-tools", "/usr/bin/mksquashfs"),
    ("grub-common", "/usr/bin/grub-mkrescue"),
    ("grub-pc-bin", "/usr/lib/grub/i386-pc/modinfo.sh"),
    ("grub-efi-amd64-bin", "/usr/lib/grub/x86_64-efi/modinfo.sh"),
    // systemd-boot for the El Torito initrd test's ISO (crates/polyboot/tests/boot_eltorito_initrd.rs).
    ("systemd-boot-efi", "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"),
    // libFuzzer (cargo fuzz) is C++.
    ("g++", "/usr/bin/g++"),
    // strip: polyboot-hook is embedded in the boot manager without its symbols.
    ("binutils", "/usr/bin/strip"),
    // Windows To Go: wimlib (linked), its tools and ntfs-3g for the independent checks,
    // hivex for reading back the registry hives we write.
    ("libwim-dev", "/usr/include/wimlib.h"),
    ("pkg-config", "/usr/bin/pkg-config"),
    ("wimtools", "/usr/bin/wimcapture"),
    ("ntfs-3g", "/usr/sbin/mkntfs"),
    ("libhivex-bin", "/usr/bin/hivexsh"),
    // `wtg create --vhd/--vhdx` is checked with qemu-img.
    ("qemu-utils", "/usr/bin/qemu-img"),
    // Encrypted persistence (issue 18): `persistence create --encrypt` runs cryptsetup
    // luksFormat, and the LUKS2 tests check core's reader against it (on plain files; no
    // device-mapper needed). cryptsetup-bin is the program alone (cryptsetup adds boot scripts).
    ("cryptsetup-bin", "/usr/sbin/cryptsetup"),
    // Secure Boot tests (issue 15): sbsign signs boot managers and images with OVMF's snakeoil key.
    ("sbsigntool", "/usr/bin/sbsign"),
    // The snakeoil key is passphrase-protected: openssl writes a plain copy for sbsign.
    ("openssl", "/usr/bin/openssl"),
    // `install`'s default chain (issue 15): Debian's Microsoft-signed shim and MokManager.
    ("shim-signed", "/usr/lib/shim/shimx64.efi.signed"),
    // UDF: genisoimage masters UDF bridge ISOs shaped like Microsoft's (and its isoinfo reads
    // the ISO 9660 tree); udftools' mkudffs / udfinfo make and describe other UDF volumes.
    ("genisoimage", "/usr/bin/genisoimage"),
    ("udftools", "/usr/bin/udfinfo"),
    // 7-Zip's UDF reader: an independent check of the UDF entries polyboot redirects for the
    // virtual boot.wim of Windows ISOs.
    ("p7zip-full", "/usr/bin/7z"),
    // Real El Torito shapes for the BIOS boot tests (crates/polyboot/tests/boot_bios.rs): GRUB's
    // rescue CD (eltorito.img) and memtest86+ (floppy emulation).
    ("grub-rescue-pc", "/usr/lib/grub-rescue/grub-rescue-cdrom.iso"),
    ("memtest86+", "/usr/lib/memtest86+/memtest86+x64.iso"),
    // ISOLINUX with its isohybrid MBR, for the syslinux-hybrid shape (tests/src/fixtures.rs).
    ("isolinux", "/usr/lib/ISOLINUX/isolinux.bin"),
    ("syslinux-common", "/usr/lib/syslinux/modules/bios/ldlinux.c32"),
    // Clippy for the firmware workspaces, matching Debian's rustc (`cargo xtask test` lints them).
    ("rust-web-clippy", "/usr/bin/clippy-driver"),
    // The man pages `polyboot manpages` writes are rendered by man in the CLI tests.
    ("man-db", "/usr/bin/man"),
    // The Authenticode reader (issue 15): signed PE files to read (Debian's Microsoft-signed
    // shim, its MokManager and fallback signed by Debian, the unsigned shim), osslsigncode as
    // the oracle test's second independent reader (tests/tests/authenticode_oracle.rs).
    ("shim-signed", "/usr/lib/shim/shimx64.efi.signed"),
    ("shim-helpers-amd64-signed", "/usr/lib/shim/mmx64.efi.signed"),
    ("shim-unsigned", "/usr/lib/shim/shimx64.efi"),
    ("osslsigncode", "/usr/bin/osslsigncode"),
    // The WinPE jump program (crates/polyboot-winpe) is built for x86_64-win7-windows-gnu and
    // i686-win7-windows-gnu (32-bit Windows PE) with mingw-w64's linkers, and its test
    // (tests/tests/winpe_jump_wine.rs) runs both under Wine (the 32-bit one needs wine32, an
    // i386 package: `deps` adds the architecture to dpkg first).
    ("gcc-mingw-w64-x86-64", "/usr/bin/x86_64-w64-mingw32-gcc"),
    ("gcc-mingw-w64-i686-win32", "/usr/bin/i686-w64-mingw32-gcc-win32"),
    ("wine64", "/usr/lib/wine/wine64"),
    ("wine", "/usr/bin/wine"),
    ("wine32:i386", "/usr/lib/wine/wineserver32"),
];

pub const UEFI_TARGET: &str = "x86_64-unknown-uefi";

fn main() {
    if let Err(err) = dispatch() {
        // One clear message; the chain of causes, and a backtrace only when asked for
        // (RUST_BACKTRACE is set machine-wide here, so it cannot be the switch).
        eprintln!("xtask: error: {err:#}");
        if std::env::var_os("XTASK_BACKTRACE").is_some() {
            eprintln!("{:?}", err.backtrace());
        }
        std::process::exit(1);
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = args.split_first().map(|(c, r)| (c.as_str(), r)).unwrap_or(("help", &[]));
    match cmd {
        "deps" => deps(rest.iter().any(|a| a == "--check")),
        "build" => build(),
        "test" => {
            deps(false)?;
            build()?;
            // The packages too: a test installs the .deb into a scratch root and boots from it.
            dist::run(&[])?;
            test(rest)
        }
        "demo" => {
            deps(false)?;
            build()?;
            demo::run(rest)
        }
        "bench-boot" => {
            deps(false)?;
            build()?;
            bench_boot::run(rest)
        }
        "lint" => {
            deps(false)?;
            build()?;
            lint(&root())
        }
        "dist" => {
            deps(false)?;
            build()?;
            dist::run(rest)
        }
        "bench-wtg" => {
            deps(false)?;
            bench_wtg::run(rest)
        }
        "bench" => {
            deps(false)?;
            build()?;
            bench::run(rest)
        }
        "help" | "--help" | "-h" => {
            let usage: Vec<&str> = include_str!("main.rs")
                .lines()
                .filter_map(|l| l.strip_prefix("//!   cargo xtask"))
                .collect();
            println!(
                "usage:\n{}",
                usage.iter().map(|l| format!("  cargo xtask{l}")).collect::<Vec<_>>().join("\n")
            );
            Ok(())
        }
        other => bail!("unknown xtask command {other:?} (try `cargo xtask help`)"),
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Packages that must come from the same QEMU build as `qemu-system-x86`. A base image may
/// carry a newer `qemu-utils` (from backports) than the archive's `qemu-system-x86`; the newer
/// one `Breaks` the older system emulator, and apt then removes it on its own. Asking for it at
/// the emulator's candidate version (a downgrade when needed) converges instead.
const SAME_VERSION_AS_QEMU: &[&str] = &["qemu-utils"];

/// Packages of PACKAGES that dpkg does not list as installed, or whose marker file is gone.
fn missing_packages() -> Vec<&'static str> {
    let names: Vec<&str> = PACKAGES.iter().map(|(pkg, _)| *pkg).collect();
    let installed = installed_packages(&names);
    PACKAGES
        .iter()
        .filter(|(pkg, file)| {
            let name = pkg.split(':').next().unwrap_or(pkg);
            !installed.iter().any(|i| i == name) || !Path::new(file).exists()
        })
        .map(|(pkg, _)| *pkg)
        .collect()
}

/// The subset of `names` that dpkg reports as "install ok installed".
fn installed_packages(names: &[&str]) -> Vec<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Abbrev}\n"])
        .args(names)
        .output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (pkg, status) = l.split_once(' ')?;
            // "ii " = desired install, currently installed, no error.
            (status.trim_end() == "ii").then(|| pkg.split(':').next().unwrap_or(pkg).to_string())
        })
        .collect()
}

/// apt's candidate version of a package (after `apt-get update`).
fn candidate_version(pkg: &str) -> Option<String> {
    let out = Command::new("apt-cache").args(["policy", pkg]).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:").map(|v| v.trim().to_string()))
        .filter(|v| v != "(none)")
}

/// The `apt-get install` arguments that bring every package of PACKAGES in, in one transaction
/// (every package named, not only the missing ones, so apt resolves them together).
fn install_arguments() -> Vec<String> {
    let qemu = candidate_version("qemu-system-x86");
    PACKAGES
        .iter()
        .map(|(pkg, _)| match (&qemu, SAME_VERSION_AS_QEMU.contains(pkg)) {
            (Some(version), true) => format!("{pkg}={version}"),
            _ => pkg.to_string(),
        })
        .collect()
}

/// The architectures of `packages` (`name:arch`) that dpkg does not know yet.
fn foreign_architectures_needed(packages: &[&'static str]) -> Vec<&'static str> {
    let known = Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut needed: Vec<&str> = packages
        .iter()
        .filter_map(|p| p.split_once(':').map(|(_, arch)| arch))
        .filter(|arch| !known.lines().any(|k| k.trim() == *arch))
        .collect();
    needed.sort_unstable();
    needed.dedup();
    needed
}

/// Bring the machine to the state the build and the tests need. As root it runs apt itself;
/// otherwise through `sudo`, saying so. `check_only` only reports.
fn deps(check_only: bool) -> Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    if check_only {
        bail!(
            "missing Debian packages: {}\ninstall them with `cargo xtask deps` (as root, or it uses sudo)",
            missing.join(", ")
        );
    }
    let sudo = effective_uid() != 0;
    if sudo {
        eprintln!("xtask: not root: installing the missing packages through sudo (it may ask for your password)");
    }
    let apt = |args: &[String]| -> Result<()> {
        let mut cmd = if sudo { Command::new("sudo") } else { Command::new("env") };
        if sudo {
            cmd.arg("env");
        }
        cmd.arg("DEBIAN_FRONTEND=noninteractive").arg("apt-get").args(args);
        eprintln!("xtask: {}apt-get {}", if sudo { "sudo " } else { "" }, args.join(" "));
        run(&mut cmd)
    };
    eprintln!("xtask: missing Debian packages: {}", missing.join(" "));
    // Packages of another architecture (wine32:i386) need it in dpkg's list before the update.
    for arch in foreign_architectures_needed(&missing) {
        let mut cmd = if sudo { Command::new("sudo") } else { Command::new("env") };
        eprintln!("xtask: {}dpkg --add-architecture {arch}", if sudo { "sudo " } else { "" });
        run(cmd.args(["dpkg", "--add-architecture", arch]))?;
    }
    apt(&["update".to_string(), "-qq".to_string()])?;
    // Twice at most: a second pass picks up anything the first one removed while resolving.
    for pass in 1..=2 {
        let mut args: Vec<String> =
            ["install", "-y", "-q", "--no-install-recommends", "--allow-downgrades"]
                .map(String::from)
                .to_vec();
        args.extend(install_arguments());
        apt(&args)?;
        let still = missing_packages();
        if still.is_empty() {
            eprintln!("xtask: every package the build and the tests need is installed");
            return Ok(());
        }
        eprintln!("xtask: after apt-get pass {pass}, still missing: {}", still.join(", "));
    }
    bail!("still missing after apt-get install: {}", missing_packages().join(", "))
}

/// Effective uid without unsafe code: /proc/self/status has it.
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(u32::MAX)
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn build() -> Result<()> {
    let root = root();
    eprintln!("xtask: building host binaries");
    run(cargo().current_dir(&root).args(["build", "--release", "--package", "polyboot"]))?;
    eprintln!("xtask: building firmware ({UEFI_TARGET}) with Debian's rustc + build-std");
    let efi = build_firmware(&root)?;
    eprintln!("xtask: {}", efi.display());
    let bios = build_bios(&root)?;
    eprintln!("xtask: {}", bios.display());
    let winpe = build_winpe(&root)?;
    eprintln!("xtask: {}", winpe.display());
    Ok(())
}

/// The WinPE jump program and the Wine test's stand-in shell (crates/polyboot-winpe), for
/// 64-bit and 32-bit Windows PE: `x86_64-win7-windows-gnu` and `i686-win7-windows-gnu` (their
/// std runs on older WinPE and under Wine 8; the default windows-gnu std imports
/// bcryptprimitives.dll, which Wine 8 lacks) with Debian's rustc + build-std and mingw-w64's
/// linkers. Copied to `target/firmware/<name>.exe` (x64) and `<name>-x86.exe`; returns the x64
/// jump program's path.
fn build_winpe(root: &Path) -> Result<PathBuf> {
    for (target, linker, suffix) in [
        ("x86_64-win7-windows-gnu", "x86_64-w64-mingw32-gcc", ""),
        ("i686-win7-windows-gnu", "i686-w64-mingw32-gcc-win32", "-x86"),
    ] {
        eprintln!(
            "xtask: building the WinPE jump program ({target}) with Debian's rustc + build-std"
        );
        let target_dir = root.join("target/firmware");
        let mut cmd = debian_cargo();
        cmd.current_dir(root.join("crates/polyboot-winpe"))
            .args(["build", "--release", "--bins", "--target", target])
            .args(["--config", &format!("target.{target}.linker=\"{linker}\"")])
            .arg("--target-dir")
            .arg(&target_dir)
            .arg("-Zbuild-std=std,panic_abort");
        run(&mut cmd)?;
        for name in ["polyboot-winpe", "polyboot-winpe-test-shell"] {
            let built = target_dir.join(target).join("release").join(format!("{name}.exe"));
            let out = target_dir.join(format!("{name}{suffix}.exe"));
            std::fs::copy(&built, &out)
                .with_context(|| format!("copying {} to {}", built.display(), out.display()))?;
        }
    }
    Ok(winpe_artifact(root))
}

/// Path of the built WinPE jump program (without carrier: the boot manager appends that).
pub fn winpe_artifact(root: &Path) -> PathBuf {
    root.join("target/firmware/polyboot-winpe.exe")
}

/// Path of the built 32-bit WinPE jump program.
pub fn winpe_x86_artifact(root: &Path) -> PathBuf {
    root.join("target/firmware/polyboot-winpe-x86.exe")
}

/// Path of the built UEFI boot manager.
pub fn efi_artifact(root: &Path) -> PathBuf {
    root.join("target/firmware").join(UEFI_TARGET).join("release/polyboot-efi.efi")
}

pub fn polyboot_binary(root: &Path) -> PathBuf {
    root.join("target/release/polyboot")
}

/// polyboot-hook as the boot manager embeds it: static (no dynamic libraries in someone
/// else's initramfs) and stripped (it is copied into RAM with every wrapped initrd).
pub fn hook_artifact(root: &Path) -> PathBuf {
    root.join("target/firmware/polyboot-hook")
}

fn build_hook(root: &Path) -> Result<PathBuf> {
    let target = "x86_64-unknown-linux-gnu";
    // The same flags as polyboot-hook's own VM tests use, so both share one build.
    run(cargo().current_dir(root).env("RUSTFLAGS", "-C target-feature=+crt-static").args([
        "build",
        "--release",
        "--package",
        "polyboot-hook",
        "--target",
        target,
    ]))?;
    let built = root.join("target").join(target).join("release/polyboot-hook");
    let out = hook_artifact(root);
    std::fs::create_dir_all(out.parent().unwrap())?;
    run(Command::new("strip").arg("-o").arg(&out).arg(&built))?;
    Ok(out)
}

fn build_firmware(root: &Path) -> Result<PathBuf> {
    build_hook(root)?;
    run(&mut firmware_cargo(root, Firmware::Uefi, "build"))?;
    let efi = efi_artifact(root);
    if !efi.is_file() {
        bail!("firmware build succeeded but {} is missing", efi.display());
    }
    Ok(efi)
}

/// Path of the built BIOS boot code: `[stage 0: 440 bytes][zeros to 512][stage 1]`.
pub fn bios_artifact(root: &Path) -> PathBuf {
    root.join("target/firmware/polyboot-bios.bin")
}

/// The Windows To Go BIOS loader (same stage 0, stage 1 that starts `\bootmgr`).
pub fn wtg_bios_artifact(root: &Path) -> PathBuf {
    root.join("target/firmware/polyboot-wtg-bios.bin")
}

/// The test build of the BIOS boot code: stage 1 padded past 2 MiB (feature `test-padding`,
/// crates/polyboot-bios/Cargo.toml), so that the VM tests boot a stage 1 whose tail stage 0
/// does not load.
pub fn bios_padded_artifact(root: &Path) -> PathBuf {
    root.join("target/firmware/polyboot-bios-padded.bin")
}

/// The legacy BIOS boot code (crates/polyboot-bios): a custom 32-bit bare target (JSON) with
/// 16-bit entry code in global_asm!, linked at its load addresses, then made a flat binary.
/// Also its padded test build, first (the ELF left in the target directory is then the real
/// one; both builds stay cached side by side, the features being part of cargo's unit hash).
fn build_bios(root: &Path) -> Result<PathBuf> {
    let target_dir = root.join("target/firmware");
    let elf = |name: &str| target_dir.join("i686-polyboot-bios/release").join(name);
    run(firmware_cargo(root, Firmware::Bios, "build").args([
        "--bin",
        "polyboot-bios",
        "--features",
        "test-padding",
    ]))?;
    let padded = bios_padded_artifact(root);
    run(Command::new("objcopy").args(["-O", "binary"]).arg(elf("polyboot-bios")).arg(&padded))?;
    eprintln!(
        "xtask: polyboot-bios (test padding): stage 1 {} KiB",
        (std::fs::metadata(&padded)?.len() - 512).div_ceil(1024)
    );
    run(&mut firmware_cargo(root, Firmware::Bios, "build"))?;
    for (name, out) in
        [("polyboot-bios", bios_artifact(root)), ("polyboot-wtg-bios", wtg_bios_artifact(root))]
    {
        run(Command::new("objcopy").args(["-O", "binary"]).arg(elf(name)).arg(&out))?;
        let bin = std::fs::read(&out)?;
        if bin.len() <= 512 || &bin[416..420] != b"PBS0" || &bin[514..518] != b"PBS1" {
            bail!(
                "{} is not a polyboot BIOS image (stage 0 / stage 1 magic missing)",
                out.display()
            );
        }
        eprintln!(
            "xtask: {name}: stage 0 440 bytes, stage 1 {} KiB",
            (bin.len() - 512).div_ceil(1024)
        );
    }
    let out = bios_artifact(root);
    Ok(out)
}

#[derive(Clone, Copy)]
enum Firmware {
    Uefi,
    Bios,
}

/// Debian's cargo with Debian's rustc (build-std allowed through RUSTC_BOOTSTRAP), with
/// nothing of the toolchain that runs xtask leaking into its build.
fn debian_cargo() -> Command {
    let mut cmd = Command::new("/usr/bin/cargo");
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "CARGO",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUSTC", "/usr/bin/rustc").env("RUSTC_BOOTSTRAP", "1");
    cmd
}

/// `cargo SUBCOMMAND` (build, clippy) for a firmware workspace with Debian's compiler and its
/// library source (build-std): the only toolchain here that has `core` for bare targets.
fn firmware_cargo(root: &Path, firmware: Firmware, subcommand: &str) -> Command {
    let mut cmd = debian_cargo();
    // Debian's cargo-clippy / clippy-driver (rust-web-clippy) match /usr/bin/rustc.
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("/usr/bin:{path}"));
    cmd.arg(subcommand).arg("--release");
    match firmware {
        Firmware::Uefi => {
            cmd.current_dir(root.join("crates/polyboot-efi"))
                .env("POLYBOOT_HOOK", hook_artifact(root))
                .args(["--target", UEFI_TARGET])
                .args(["--config", &format!("target.{UEFI_TARGET}.linker=\"lld-link\"")]);
        }
        Firmware::Bios => {
            cmd.current_dir(root.join("crates/polyboot-bios")).args([
                "--target",
                "i686-polyboot-bios.json",
                "-Zjson-target-spec",
            ]);
        }
    }
    cmd.arg("--target-dir")
        .arg(root.join("target/firmware"))
        .args(["-Zbuild-std=core,alloc", "-Zbuild-std-features=compiler-builtins-mem"]);
    cmd
}

/// `cargo fmt --check` and clippy with warnings as errors over every workspace: the host one
/// (rustup's toolchain), the two firmware ones (Debian's clippy, the compiler that builds them)
/// and fuzz (formatting only: its targets are checked by building and running them).
fn lint(root: &Path) -> Result<()> {
    eprintln!("xtask: cargo fmt --check and clippy -D warnings (host, firmware, fuzz)");
    run(cargo().current_dir(root).args(["fmt", "--all", "--check"]))?;
    for dir in ["crates/polyboot-efi", "crates/polyboot-bios", "fuzz"] {
        run(cargo().current_dir(root.join(dir)).args(["fmt", "--all", "--check"]))?;
    }
    run(cargo().current_dir(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    for firmware in [Firmware::Uefi, Firmware::Bios] {
        run(firmware_cargo(root, firmware, "clippy").args(["--", "-D", "warnings"]))?;
    }
    Ok(())
}

/// Seconds per fuzz target in `cargo xtask test` (`POLYBOOT_FUZZ_SECONDS`, 0 skips).
const DEFAULT_FUZZ_SECONDS: u32 = 10;

fn test(extra: &[String]) -> Result<()> {
    let root = root();
    lint(&root)?;
    let fuzz_seconds: u32 = match std::env::var("POLYBOOT_FUZZ_SECONDS") {
        Ok(v) => v.parse().context("POLYBOOT_FUZZ_SECONDS must be a number of seconds")?,
        Err(_) => DEFAULT_FUZZ_SECONDS,
    };
    if fuzz_seconds > 0 {
        // First, so the test runner's summary is the last thing printed.
        eprintln!(
            "xtask: fuzzing every parser for {fuzz_seconds} s each (POLYBOOT_FUZZ_SECONDS=0 skips)"
        );
        run(Command::new("bash").arg(root.join("fuzz/run.sh")).arg(fuzz_seconds.to_string()))?;
    }
    // The BIOS boot code's pure modules, on the host (its own workspace).
    run(cargo().current_dir(root.join("crates/polyboot-bios")).args(["test", "--bins"]))?;
    // Every benchmark in its smoke configuration (one run, small sizes; nothing asserted about
    // speed), so one that no longer runs fails here; before the tests, whose summary ends the output.
    if std::env::var("POLYBOOT_BENCH_SMOKE").as_deref() != Ok("0") {
        eprintln!(
            "xtask: benchmarks, smoke configuration (about a minute; POLYBOOT_BENCH_SMOKE=0 skips)"
        );
        let (smoke, started) = (["--smoke".to_string()], std::time::Instant::now());
        bench::run(&smoke).context("cargo xtask bench --smoke")?;
        bench_boot::run(&smoke).context("cargo xtask bench-boot --smoke")?;
        bench_wtg::run(&smoke).context("cargo xtask bench-wtg --smoke")?;
        eprintln!("xtask: benchmark smoke runs done in {:.0} s", started.elapsed().as_secs_f64());
    }
    let mut cmd = cargo();
    cmd.current_dir(&root)
        .args(["test", "--workspace"])
        .args(extra)
        .env("POLYBOOT_EFI", efi_artifact(&root))
        .env("POLYBOOT_BIOS", bios_artifact(&root))
        .env("POLYBOOT_BIOS_PADDED", bios_padded_artifact(&root))
        .env("POLYBOOT_WTG_BIOS", wtg_bios_artifact(&root));
    run(&mut cmd)
}

pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
