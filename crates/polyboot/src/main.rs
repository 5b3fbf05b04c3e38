//! The `polyboot` binary: parse the command line, run the command, report errors.

use anyhow::Result;
use clap::{CommandFactory, Parser};
use polyboot::cli::{Cli, Command, InstallArgs};
use polyboot::device::{format_size, SystemView};
use polyboot::drive::install::{install, InstallOptions};
use polyboot::drive::update::{update, UpdateOptions};
use polyboot::drive::Drive;
use polyboot::ops;
use polyboot_core::layout::Scheme;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so `polyboot ls | head` would panic on its next print once head
    // exits; the default action ends the program quietly, as other command-line tools do.
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("polyboot: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn run(cli: Cli) -> Result<ExitCode> {
    let Some(command) = cli.command else {
        Cli::command().print_help()?;
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        Command::Install(args) => run_install(args)?,
        Command::Check(args) => {
            let report = match Drive::open(&args.target, false) {
                Ok(mut drive) => polyboot::check::check_drive(&mut drive, args.image.as_deref())?,
                Err(drive_error) if args.image.is_none() && args.target.is_file() => {
                    let image = polyboot::check::check_host_file(&args.target)
                        .map_err(|e| e.context(format!("{drive_error:#}")))?;
                    polyboot::check::CheckReport { images: vec![image], ..Default::default() }
                }
                Err(e) => return Err(e),
            };
            if args.json && args.with_skipped {
                print_json(&report)?;
            } else if args.json {
                print_json(&report.images)?;
            } else {
                for r in &report.images {
                    let modes = match (r.uefi, r.bios) {
                        (true, true) => "UEFI+BIOS",
                        (true, false) => "UEFI",
                        (false, true) => "BIOS only",
                        (false, false) => "none",
                    };
                    println!(
                        "{} ({}, {}): boot modes {modes}",
                        r.path,
                        r.kind,
                        format_size(r.size)
                    );
                    if !r.kernels.is_empty() {
                        println!("  kernels: {}", r.kernels.join(", "));
                    }
                    if !r.initrds.is_empty() {
                        println!("  initrds: {}", r.initrds.join(", "));
                    }
                    for u in &r.unwrapped_initrds {
                        println!("  not wrapped: {u}");
                    }
                    if let Some(f) = &r.init_family {
                        println!("  init: {f}");
                    }
                    if let Some(w) = &r.windows {
                        let install = w
                            .install_image
                            .as_deref()
                            .map(|i| format!(", install image {i}"))
                            .unwrap_or_default();
                        println!("  windows: {} medium, {}{install}", w.kind, w.boot_wim);
                    }
                    for w in &r.warnings {
                        println!("  note: {w}");
                    }
                    println!("  UEFI: {}", r.uefi_verdict.line());
                    println!("  BIOS: {}", r.bios_verdict.line());
                    println!(
                        "  {}: {}",
                        if r.expected_to_work { "OK" } else { "PROBLEM" },
                        r.verdict
                    );
                }
                for s in &report.skipped {
                    println!(
                        "skipped {}: {}{}",
                        s.path,
                        s.detail,
                        if s.problem { " (PROBLEM)" } else { "" }
                    );
                }
                for n in &report.notes {
                    println!("note: {n}");
                }
            }
            if report.has_problem() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Info(args) => {
            let mut drive = Drive::open(&args.target, false)?;
            let info = ops::info(&mut drive)?;
            if args.json {
                print_json(&info)?;
            } else {
                let l = &info.layout;
                println!(
                    "{}: polyboot {} (layout {})",
                    info.path, info.polyboot_version, info.layout_version
                );
                println!(
                    "  partition table: {}, {}-byte sectors, {}",
                    l.scheme,
                    l.sector_size,
                    format_size(l.disk_bytes)
                );
                if let Some(g) = &l.disk_guid {
                    println!("  disk GUID: {g}");
                }
                if let Some(s) = l.mbr_signature {
                    println!("  disk signature: {s:08x}");
                }
                println!(
                    "  data (partition 1): exFAT \"{}\", {} clusters of {} KiB",
                    info.label,
                    info.data_bytes / info.cluster_size as u64,
                    info.cluster_size / 1024
                );
                println!(
                    "    size {}, free {}",
                    format_size(info.data_bytes),
                    format_size(info.free_bytes)
                );
                println!(
                    "  boot (partition 2): {} at offset {}",
                    format_size(l.boot.size),
                    l.boot.offset
                );
                println!("  images: {}", info.image_count);
            }
        }
        Command::Add(args) => {
            let mut drive = Drive::open(&args.target, true)?;
            let files: Vec<&std::path::Path> = args.files.iter().map(|p| p.as_path()).collect();
            let quiet = args.quiet || args.json || !std::io::stderr().is_terminal();
            let added = ops::add(&mut drive, &files, &args.to, quiet)?;
            drive.sync()?;
            if args.json {
                print_json(&added)?;
            } else {
                for a in &added {
                    println!("added {} ({}), sha256 {}", a.path, format_size(a.size), a.sha256);
                    if let (Some(false), Some(v)) = (a.expected_to_work, &a.verdict) {
                        println!("  PROBLEM: {v}");
                    }
                }
            }
            // The boot manager's parser on a ventoy.json / polyboot.json: said even with --json.
            for a in &added {
                if let Some(e) = &a.config_error {
                    eprintln!(
                        "warning: {}: {e}; copied anyway, the boot menu will ignore it",
                        a.path
                    );
                }
                for w in &a.config_warnings {
                    eprintln!("note: {}: {w}", a.path);
                }
            }
        }
        Command::Ls(args) => {
            let mut drive = Drive::open(&args.target, false)?;
            let entries = ops::ls(&mut drive, &args.path)?;
            if args.json {
                print_json(&entries)?;
            } else {
                for e in &entries {
                    if e.dir {
                        println!("{:>10}  {}/", "<dir>", e.name);
                    } else {
                        println!("{:>10}  {}", format_size(e.size), e.name);
                    }
                }
            }
        }
        Command::Rm(args) => {
            let mut drive = Drive::open(&args.target, true)?;
            for p in ops::rm(&mut drive, &args.path)? {
                println!("removed {p}");
            }
            drive.sync()?;
        }
        Command::Verify(args) => {
            let mut drive = Drive::open(&args.target, false)?;
            let quiet = args.quiet || args.json || !std::io::stderr().is_terminal();
            let results = ops::verify(&mut drive, args.path.as_deref(), quiet)?;
            let bad = results
                .iter()
                .filter(|r| {
                    matches!(
                        r.status,
                        ops::VerifyStatus::Mismatch { .. } | ops::VerifyStatus::BadChecksumFile
                    )
                })
                .count();
            if args.json {
                print_json(&results)?;
            } else {
                for r in &results {
                    match &r.status {
                        ops::VerifyStatus::Ok => println!("{}: OK", r.path),
                        ops::VerifyStatus::NoChecksum => {
                            println!("{}: no .sha256 recorded", r.path)
                        }
                        ops::VerifyStatus::BadChecksumFile => {
                            println!("{}: FAILED (unreadable .sha256)", r.path)
                        }
                        ops::VerifyStatus::Mismatch { expected, actual } => {
                            println!("{}: FAILED (expected {expected}, got {actual})", r.path)
                        }
                    }
                }
            }
            if bad > 0 {
                eprintln!("polyboot: {bad} image(s) failed verification");
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Update(args) => {
            let opts = UpdateOptions { target: args.target, dry_run: args.dry_run, efi: args.efi };
            if args.json {
                print_json(&update(&SystemView::host(), &opts, &mut std::io::sink())?)?;
            } else {
                update(&SystemView::host(), &opts, &mut std::io::stdout())?;
            }
        }
        Command::Wtg(args) => polyboot::wtg::run(args)?,
        Command::Vm(args) => return polyboot::vm::run(args),
        Command::Completions(args) => {
            polyboot::docs::completions(args.shell, &mut std::io::stdout())
        }
        Command::Manpages(args) => {
            for page in polyboot::docs::manpages(&args.dir)? {
                println!("{}", page.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_install(args: InstallArgs) -> Result<()> {
    let opts = InstallOptions {
        target: args.target,
        size: args.size,
        scheme: if args.mbr { Scheme::Mbr } else { Scheme::Gpt },
        reserve: args.reserve,
        label: args.label,
        sector_size: args.sector_size.map(|s| s.parse()).transpose()?,
        dry_run: args.erase.dry_run,
        yes: args.erase.yes,
        force: args.erase.force,
        efi: args.efi,
    };
    let interactive = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    install(&SystemView::host(), &opts, interactive, &mut stdin.lock(), &mut std::io::stdout())?;
    Ok(())
}
