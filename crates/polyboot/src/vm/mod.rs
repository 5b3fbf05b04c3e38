//! `polyboot vm TARGET`: boot a polyboot drive, a drive image or a single ISO / IMG file in
//! QEMU for a quick try.
//!
//! [`plan`] turns the arguments, what TARGET is and what the host offers into a QEMU command
//! line (pure, unit-tested); [`runner`] runs it, owning the serial console: it echoes it (to
//! this terminal in `--serial` mode), logs it, types `--image` into the menu's search and
//! watches for `--expect`. This module does the inspecting in between.

pub mod plan;
pub mod runner;

use crate::cli::{VmAccelArg, VmArgs};
use crate::device::{inspect_target, SystemView, Target};
use crate::drive::Drive;
use anyhow::{bail, Context, Result};
use plan::{
    AccelChoice, Console, Firmware, Host, Plan, Request, SecureBootVars, TargetInfo, TargetKind,
};
use polyboot_core::menu;
use runner::{Echo, Ended};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// OVMF with Secure Boot and SMM, and its variable stores with Microsoft's / Debian's
/// snakeoil keys enrolled (Debian package ovmf).
pub const OVMF_SECBOOT_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
pub const OVMF_VARS_MS: &str = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";
pub const OVMF_VARS_SNAKEOIL: &str = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd";

pub fn run(args: VmArgs) -> Result<ExitCode> {
    let req = Request {
        firmware: if args.bios { Firmware::Bios } else { Firmware::Uefi },
        secure_boot: args.secure_boot.then(|| match args.sb_vars.as_deref() {
            None | Some("ms") => SecureBootVars::Ms,
            Some("snakeoil") => SecureBootVars::Snakeoil,
            Some(path) => SecureBootVars::Path(path.into()),
        }),
        image: args.image.clone(),
        serial: args.serial,
        snapshot: !args.no_snapshot,
        memory_mib: args.memory,
        accel: match args.accel {
            VmAccelArg::Auto => AccelChoice::Auto,
            VmAccelArg::Kvm => AccelChoice::Kvm,
            VmAccelArg::Tcg => AccelChoice::Tcg,
        },
        timeout_secs: args.timeout,
        expect: args.expect.clone(),
    };
    let target = inspect(&args.target)?;
    let (window_ui, display_note) = window_ui();
    let host = Host {
        kvm: if req.accel == AccelChoice::Tcg { Err("--accel tcg".into()) } else { kvm_works() },
        window_ui,
        ovmf_code: OVMF_CODE.into(),
        ovmf_vars: OVMF_VARS.into(),
        ovmf_secboot_code: OVMF_SECBOOT_CODE.into(),
        ovmf_vars_ms: OVMF_VARS_MS.into(),
        ovmf_vars_snakeoil: OVMF_VARS_SNAKEOIL.into(),
    };

    if args.dry_run {
        let plan = plan::plan(&req, &target, &host, Path::new("/tmp/polyboot-vm.XXXXXX"))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            println!("polyboot vm: {}", plan.summary());
            if let Some(p) = &plan.preselect {
                println!(
                    "then type {:?} and Enter once the menu is drawn (selects {})",
                    p.typed, p.image
                );
            }
            println!("serial console: a socket in a private temporary directory (/tmp/polyboot-vm.XXXXXX)");
            println!("{}", plan.shell_command());
        }
        return Ok(ExitCode::SUCCESS);
    }

    let run_dir = tempfile::Builder::new().prefix("polyboot-vm.").tempdir()?;
    let plan = plan::plan(&req, &target, &host, run_dir.path())?;
    if req.firmware == Firmware::Uefi {
        let code = if req.secure_boot.is_some() { OVMF_SECBOOT_CODE } else { OVMF_CODE };
        let vars = plan.ovmf_vars.clone().unwrap_or_default();
        for firmware_file in [Path::new(code), vars.as_path()] {
            if !firmware_file.is_file() {
                match &req.secure_boot {
                    Some(SecureBootVars::Path(p)) if p == firmware_file => {
                        bail!("--sb-vars {}: no such file", p.display())
                    }
                    _ => bail!(
                        "{} is missing: install the Debian package ovmf (or use --bios)",
                        firmware_file.display()
                    ),
                }
            }
        }
    }
    let console_text = match &plan.console {
        Console::Terminal if args.json => "the serial console goes to standard error".to_string(),
        Console::Terminal if std::io::stdin().is_terminal() => {
            "this terminal is its serial console (Ctrl-] stops the VM)".to_string()
        }
        Console::Terminal => "the serial console is shown here".to_string(),
        Console::Window(ui) => {
            format!("its screen is in a QEMU window ({ui}); close it or press Ctrl-C here to stop")
        }
    };
    eprintln!("polyboot: booting {}", plan.summary());
    if let Some(note) = display_note.filter(|_| !args.serial) {
        eprintln!("polyboot: {note}");
    }
    eprintln!("polyboot: {console_text}");
    if let Some(dir) = &args.log_dir {
        eprintln!("polyboot: logs in {}", dir.display());
    }
    let echo = match (&plan.console, args.json) {
        (Console::Window(_), _) => Echo::None,
        (Console::Terminal, true) => Echo::Stderr,
        (Console::Terminal, false) => Echo::Stdout,
    };
    let outcome = runner::run(&plan, run_dir.path(), args.log_dir.as_deref(), echo, !args.json)?;
    let ok = report(&plan, &outcome);
    if args.json {
        let json = serde_json::json!({ "plan": plan, "outcome": outcome, "ok": ok });
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Prints how the run ended (on stderr) and says whether it counts as a success.
fn report(plan: &Plan, out: &runner::Outcome) -> bool {
    eprintln!();
    if let Some(t) = out.menu_seconds {
        eprintln!("polyboot: menu ready after {t:.1} s");
    }
    let ok = match (out.ended, &plan.expect) {
        (Ended::Expected, Some(text)) => {
            eprintln!(
                "polyboot: {text:?} appeared after {:.1} s: stopping the VM",
                out.expect_seconds.unwrap_or(out.seconds)
            );
            true
        }
        (Ended::Timeout, Some(text)) => {
            eprintln!(
                "polyboot: {text:?} did not appear within {} s (--timeout)",
                plan.timeout_secs.unwrap_or(0)
            );
            false
        }
        (Ended::Timeout, None) => {
            eprintln!(
                "polyboot: stopped the VM after {} s (--timeout)",
                plan.timeout_secs.unwrap_or(0)
            );
            true
        }
        (Ended::QemuExited, expect) => {
            let status = out.qemu_status.as_deref().unwrap_or("?");
            match expect {
                Some(text) => {
                    eprintln!("polyboot: QEMU exited ({status}) before {text:?} appeared")
                }
                None => eprintln!("polyboot: QEMU exited ({status}) after {:.1} s", out.seconds),
            }
            if let Some(err) = out.qemu_stderr.as_deref().filter(|e| !e.is_empty()) {
                eprintln!("polyboot: QEMU said: {err}");
            }
            expect.is_none() && out.qemu_stderr.is_none()
        }
        (Ended::Quit, expect) => {
            eprintln!("polyboot: stopped the VM after {:.1} s", out.seconds);
            expect.is_none()
        }
        (Ended::Expected, None) => true,
    };
    if let Some(dir) = &out.log_dir {
        eprintln!("polyboot: serial log in {}", dir.join("serial.log").display());
    }
    ok
}

/// What TARGET is: a block device (and what sysfs says about it) or a file, and whether it
/// holds a polyboot drive (then the images its menu lists), an ISO or anything else.
fn inspect(path: &Path) -> Result<TargetInfo> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    let device = match inspect_target(&SystemView::host(), path)? {
        Target::BlockDevice(disk) => Some(disk),
        Target::ImageFile { .. } if meta.is_file() => None,
        Target::ImageFile { .. } => bail!("{}: not a block device or a file", path.display()),
    };
    if let Err(e) = std::fs::File::open(path) {
        if e.kind() == std::io::ErrorKind::PermissionDenied && device.is_some() {
            bail!(
                "reading {} needs root (or the disk group): run `sudo polyboot vm {}` (the VM only reads it unless --write)",
                path.display(),
                path.display()
            );
        }
        return Err(e).with_context(|| format!("opening {}", path.display()));
    }
    let kind = match Drive::open(path, false) {
        Ok(mut drive) => {
            let sector_size = drive.layout.sector_size;
            let mut fs = drive.data()?;
            let report = menu::scan(&mut fs, &menu::ScanOptions::default());
            TargetKind::Drive { sector_size, images: report.images }
        }
        Err(_) if is_iso(path) => TargetKind::Iso,
        Err(_) => TargetKind::Disk,
    };
    Ok(TargetInfo { path: path.to_path_buf(), kind, device })
}

/// `.iso` files are CD images, `.img` files disk images; otherwise an ISO 9660 volume
/// descriptor at 32 KiB says CD.
fn is_iso(path: &Path) -> bool {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("iso") => true,
        Some("img") => false,
        _ => {
            let mut head = [0u8; 0x8006];
            std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok()
                && &head[0x8001..0x8006] == b"CD001"
        }
    }
}

/// The QEMU UI for a window when a display exists (and why not, when one exists but QEMU
/// cannot open a window on it).
fn window_ui() -> (Option<String>, Option<String>) {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !has_display {
        return (None, None);
    }
    let dirs = ["/usr/lib/x86_64-linux-gnu/qemu", "/usr/lib64/qemu", "/usr/lib/qemu"];
    for ui in ["gtk", "sdl"] {
        if dirs.iter().any(|d| PathBuf::from(d).join(format!("ui-{ui}.so")).is_file()) {
            return (Some(ui.to_string()), None);
        }
    }
    (None, Some("a display exists but QEMU has no window UI (Debian package qemu-system-gui): using this terminal".into()))
}

/// Whether KVM really works: hardware virtualisation in the CPU flags, /dev/kvm usable, and a
/// tiny guest (one `hlt` at the reset vector) that runs to its halt within 2 s. Some sandboxes
/// offer a /dev/kvm that creates VMs which then never run.
pub fn kvm_works() -> Result<(), String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    if !flags.split_whitespace().any(|f| f == "vmx" || f == "svm") {
        return Err("the CPU offers no hardware virtualisation (no vmx / svm flag)".into());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(kvm_hlt_guest());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(2)) {
        Ok(result) => result,
        Err(_) => Err("a test guest did not run on /dev/kvm within 2 s".into()),
    }
}

fn kvm_hlt_guest() -> Result<(), String> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
    const KVM_CREATE_VM: libc::c_ulong = 0xAE01;
    const KVM_GET_VCPU_MMAP_SIZE: libc::c_ulong = 0xAE04;
    const KVM_CREATE_VCPU: libc::c_ulong = 0xAE41;
    const KVM_SET_USER_MEMORY_REGION: libc::c_ulong = 0x4020_AE46;
    const KVM_RUN: libc::c_ulong = 0xAE80;
    const KVM_EXIT_HLT: u32 = 5;
    #[repr(C)]
    struct Region {
        slot: u32,
        flags: u32,
        guest_phys_addr: u64,
        memory_size: u64,
        userspace_addr: u64,
    }
    let kvm =
        std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").map_err(|e| match e
            .kind()
        {
            std::io::ErrorKind::NotFound => "there is no /dev/kvm".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "no access to /dev/kvm (add yourself to the kvm group)".to_string()
            }
            _ => format!("/dev/kvm: {e}"),
        })?;
    let fd = kvm.as_raw_fd();
    let fail =
        |what: &str| format!("{what} failed on /dev/kvm: {}", std::io::Error::last_os_error());
    // SAFETY: KVM ioctls on descriptors we own, with the argument types the KVM API defines;
    // the guest memory mapping outlives every KVM_RUN and is unmapped at the end.
    unsafe {
        if libc::ioctl(fd, KVM_GET_API_VERSION, 0) != 12 {
            return Err("/dev/kvm speaks an unknown API version".into());
        }
        let vm = libc::ioctl(fd, KVM_CREATE_VM, 0);
        if vm < 0 {
            return Err(fail("KVM_CREATE_VM"));
        }
        let vm = OwnedFd::from_raw_fd(vm);
        // 64 KiB of `hlt` ending at 4 GiB: the reset vector (FFFF:FFF0 -> 0xFFFFFFF0) halts.
        let size = 0x10000usize;
        let mem = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return Err(fail("mmap"));
        }
        std::ptr::write_bytes(mem as *mut u8, 0xF4, size);
        let region = Region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0xFFFF_0000,
            memory_size: size as u64,
            userspace_addr: mem as u64,
        };
        let result = (|| {
            if libc::ioctl(vm.as_raw_fd(), KVM_SET_USER_MEMORY_REGION, &region) < 0 {
                return Err(fail("KVM_SET_USER_MEMORY_REGION"));
            }
            let vcpu = libc::ioctl(vm.as_raw_fd(), KVM_CREATE_VCPU, 0);
            if vcpu < 0 {
                return Err(fail("KVM_CREATE_VCPU"));
            }
            let vcpu = OwnedFd::from_raw_fd(vcpu);
            let run_size = libc::ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
            if run_size <= 0 {
                return Err(fail("KVM_GET_VCPU_MMAP_SIZE"));
            }
            let run = libc::mmap(
                std::ptr::null_mut(),
                run_size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                vcpu.as_raw_fd(),
                0,
            );
            if run == libc::MAP_FAILED {
                return Err(fail("mmap of the vCPU"));
            }
            let ran = libc::ioctl(vcpu.as_raw_fd(), KVM_RUN, 0);
            // struct kvm_run: exit_reason is the u32 at offset 8.
            let reason = std::ptr::read_volatile((run as *const u8).add(8) as *const u32);
            libc::munmap(run, run_size as usize);
            if ran < 0 {
                return Err(fail("KVM_RUN"));
            }
            if reason != KVM_EXIT_HLT {
                return Err(format!(
                    "a test guest on /dev/kvm stopped with exit reason {reason} instead of a halt"
                ));
            }
            Ok(())
        })();
        libc::munmap(mem, size);
        result
    }
}
