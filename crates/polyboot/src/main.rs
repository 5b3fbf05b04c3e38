//! The `polyboot` binary: parse the command line, run the command, report errors.

use anyhow::Result;
use clap::{CommandFactory, Parser};
use polyboot::check::{self, CheckReport, ImageCheck};
use polyboot::cli::{
    AddArgs, CheckArgs, Cli, Command, ConfigArgs, ConfigCommand, InfoArgs, InstallArgs, LsArgs,
    RmArgs, SbKeyArgs, SecureBootArg, UpdateArgs, VerifyArgs,
};
use polyboot::device::{format_size, SystemView};
use polyboot::drive::install::{install, InstallOptions, SecureBoot};
use polyboot::drive::signing::{Chain, KeySource};
use polyboot::drive::update::{update, UpdateOptions};
use polyboot::drive::Drive;
use polyboot::ops::{self, VerifyStatus};
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
        Command::Check(args) => return run_check(args),
        Command::Config(args) => return run_config(args),
        Command::Info(args) => run_info(args)?,
        Command::Add(args) => run_add(args)?,
        Command::Ls(args) => run_ls(args)?,
        Command::Rm(args) => run_rm(args)?,
        Command::Verify(args) => return run_verify(args),
        Command::Update(args) => run_update(args)?,
        Command::Persistence(args) => polyboot::persistence::run(args)?,
        Command::Wtg(args) => polyboot::wtg::run(args)?,
        Command::Vm(args) => return polyboot::vm::run(args),
        Command::Serve(args) => polyboot::serve::run(args)?,
        Command::Debug(args) => polyboot::debug::run(args)?,
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

/// `--sb-key/--sb-cert/--sb-key-pass-file` as a key source (`None`: the user's own key).
fn key_source(k: SbKeyArgs) -> Option<KeySource> {
    match (k.sb_key, k.sb_cert) {
        (Some(key), Some(cert)) => {
            Some(KeySource::Given { key, cert, pass_file: k.sb_key_pass_file })
        }
        _ => None,
    }
}

fn run_install(args: InstallArgs) -> Result<()> {
    let mode = if args.no_secure_boot {
        SecureBootArg::Off
    } else if args.no_shim {
        SecureBootArg::NoShim
    } else {
        args.secure_boot.unwrap_or(SecureBootArg::Shim)
    };
    let key = key_source(args.key);
    // --sb-key/--sb-cert sign: they win over POLYBOOT_SECURE_BOOT=off from the environment
    // (not over --secure-boot off on the command line).
    let off_on_command_line = std::env::args_os().any(|a| {
        let a = a.to_string_lossy();
        a == "--no-secure-boot" || a.starts_with("--secure-boot")
    });
    let mode = if mode == SecureBootArg::Off && key.is_some() && !off_on_command_line {
        SecureBootArg::Shim
    } else {
        mode
    };
    let secure_boot = match mode {
        SecureBootArg::Off => {
            anyhow::ensure!(
                key.is_none(),
                "--sb-key/--sb-cert sign the drive: they cannot go with Secure Boot off"
            );
            SecureBoot::Off
        }
        SecureBootArg::Shim => {
            SecureBoot::Sign { chain: Chain::Shim, key: key.unwrap_or(KeySource::User) }
        }
        SecureBootArg::NoShim => {
            SecureBoot::Sign { chain: Chain::Polyboot, key: key.unwrap_or(KeySource::User) }
        }
    };
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
        secure_boot,
    };
    let interactive = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    install(&SystemView::host(), &opts, interactive, &mut stdin.lock(), &mut std::io::stdout())?;
    Ok(())
}

/// `check`: fails (exit 1) when any image or skipped file is a problem.
fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let report = match Drive::open(&args.target, false) {
        Ok(mut drive) => check::check_drive(&mut drive, args.image.as_deref())?,
        // Not a polyboot drive but a file: check that one image as it stands on the host,
        // keeping why it is not a drive in case it is no image either.
        Err(drive_error) if args.image.is_none() && args.target.is_file() => {
            let image = check::check_host_file(&args.target)
                .map_err(|e| e.context(format!("{drive_error:#}")))?;
            CheckReport { images: vec![image], ..Default::default() }
        }
        Err(e) => return Err(e),
    };
    if args.json && args.with_skipped {
        print_json(&report)?;
    } else if args.json {
        print_json(&report.images)?;
    } else {
        print_check_report(&report);
    }
    Ok(if report.has_problem() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `config check | show | password`: check and show exit 1 when a file does not parse.
fn run_config(args: ConfigArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match args.command {
        ConfigCommand::Check(a) => polyboot::bootconfig::check(&a.source, &mut out),
        ConfigCommand::Show(a) => polyboot::bootconfig::show(&a.source, &mut out),
        ConfigCommand::Password(a) => {
            polyboot::bootconfig::password(&a, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_check_report(report: &CheckReport) {
    for image in &report.images {
        print_image_check(image);
    }
    for s in &report.skipped {
        println!("skipped {}: {}{}", s.path, s.detail, if s.problem { " (PROBLEM)" } else { "" });
    }
    for n in &report.notes {
        println!("note: {n}");
    }
}

fn print_image_check(r: &ImageCheck) {
    let modes = match (r.uefi, r.bios) {
        (true, true) => "UEFI+BIOS",
        (true, false) => "UEFI",
        (false, true) => "BIOS only",
        (false, false) => "none",
    };
    println!("{} ({}, {}): boot modes {modes}", r.path, r.kind, format_size(r.size));
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
        let install =
            w.install_image.as_deref().map(|i| format!(", install image {i}")).unwrap_or_default();
        println!("  windows: {} medium, {}{install}", w.kind, w.boot_wim);
        match &w.jump_program {
            Ok(served) => println!("  windows (UEFI): {served} served with the jump program"),
            Err(why) => println!("  windows (UEFI): not served with the jump program: {why}"),
        }
        if let Some(s) = &w.shell {
            println!("  windows: the jump program replaces {s}");
        }
        if let Some(p) = &w.uefi_prompt {
            println!("  windows (UEFI): {p}");
        }
        if let Some(p) = &w.bios_prompt {
            println!("  windows (BIOS): {p}");
        }
    }
    for l in check::linux_extras::lines(&r.extras) {
        println!("  {l}");
    }
    for w in &r.warnings {
        println!("  note: {w}");
    }
    println!("  UEFI: {}", r.uefi_verdict.line());
    println!("  BIOS: {}", r.bios_verdict.line());
    if let Some(sb) = &r.secure_boot {
        println!("  Secure Boot: {}", sb.line());
        for s in &sb.signers {
            let nested = if s.nested { "nested signature: " } else { "" };
            match &s.subject {
                Some(subject) => println!("    {nested}signed by {subject} (issuer {})", s.issuer),
                None => println!("    {nested}signed by a certificate of {}", s.issuer),
            }
        }
    }
    println!("  {}: {}", if r.expected_to_work { "OK" } else { "PROBLEM" }, r.verdict);
}

fn run_info(args: InfoArgs) -> Result<()> {
    let mut drive = Drive::open(&args.target, false)?;
    let info = ops::info(&mut drive)?;
    if args.json {
        print_json(&info)?;
    } else {
        print_info(&info);
    }
    Ok(())
}

fn print_info(info: &ops::Info) {
    let l = &info.layout;
    println!("{}: polyboot {} (layout {})", info.path, info.polyboot_version, info.layout_version);
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
    println!("    size {}, free {}", format_size(info.data_bytes), format_size(info.free_bytes));
    println!("  boot (partition 2): {} at offset {}", format_size(l.boot.size), l.boot.offset);
    match &info.secure_boot {
        Some(sb) => {
            println!("  Secure Boot: {}", sb.chain);
            println!("    certificate: {}", sb.cert.subject);
            println!("    sha256 fingerprint: {}", sb.cert.sha256);
            println!("    valid: {} to {}", sb.cert.not_before, sb.cert.not_after);
        }
        None => println!("  Secure Boot: unsigned (starts only with Secure Boot off)"),
    }
    println!("  images: {}", info.image_count);
}

/// Progress bars are for a person watching: none with --quiet or --json, nor into a pipe.
fn without_progress(quiet: bool, json: bool) -> bool {
    quiet || json || !std::io::stderr().is_terminal()
}

fn run_add(args: AddArgs) -> Result<()> {
    let mut drive = Drive::open(&args.target, true)?;
    let files: Vec<&std::path::Path> = args.files.iter().map(|p| p.as_path()).collect();
    let quiet = without_progress(args.quiet, args.json);
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
            eprintln!("warning: {}: {e}; copied anyway, the boot menu will ignore it", a.path);
        }
        for w in &a.config_warnings {
            eprintln!("note: {}: {w}", a.path);
        }
    }
    Ok(())
}

fn run_ls(args: LsArgs) -> Result<()> {
    let mut drive = Drive::open(&args.target, false)?;
    let entries = ops::ls(&mut drive, &args.path)?;
    if args.json {
        return print_json(&entries);
    }
    for e in &entries {
        if e.dir {
            println!("{:>10}  {}/", "<dir>", e.name);
        } else {
            println!("{:>10}  {}", format_size(e.size), e.name);
        }
    }
    Ok(())
}

fn run_rm(args: RmArgs) -> Result<()> {
    let mut drive = Drive::open(&args.target, true)?;
    for p in ops::rm(&mut drive, &args.path)? {
        println!("removed {p}");
    }
    drive.sync()
}

/// `verify`: fails (exit 1) when a checksum does not match or cannot be read.
fn run_verify(args: VerifyArgs) -> Result<ExitCode> {
    let mut drive = Drive::open(&args.target, false)?;
    let quiet = without_progress(args.quiet, args.json);
    let results = ops::verify(&mut drive, args.path.as_deref(), quiet)?;
    let bad = results
        .iter()
        .filter(|r| {
            matches!(r.status, VerifyStatus::Mismatch { .. } | VerifyStatus::BadChecksumFile)
        })
        .count();
    if args.json {
        print_json(&results)?;
    } else {
        for r in &results {
            match &r.status {
                VerifyStatus::Ok => println!("{}: OK", r.path),
                VerifyStatus::NoChecksum => println!("{}: no .sha256 recorded", r.path),
                VerifyStatus::BadChecksumFile => {
                    println!("{}: FAILED (unreadable .sha256)", r.path)
                }
                VerifyStatus::Mismatch { expected, actual } => {
                    println!("{}: FAILED (expected {expected}, got {actual})", r.path)
                }
            }
        }
    }
    if bad > 0 {
        eprintln!("polyboot: {bad} image(s) failed verification");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_update(args: UpdateArgs) -> Result<()> {
    let opts = UpdateOptions {
        target: args.target,
        dry_run: args.dry_run,
        efi: args.efi,
        key: key_source(args.key),
    };
    if args.json {
        // The report is the JSON; the step-by-step log goes nowhere.
        print_json(&update(&SystemView::host(), &opts, &mut std::io::sink())?)
    } else {
        update(&SystemView::host(), &opts, &mut std::io::stdout())?;
        Ok(())
    }
}
