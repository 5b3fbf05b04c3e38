//! polyboot's WinPE jump program. The boot manager serves it, with the original
//! `winpeshl.exe` and a parameter block appended (`polyboot_core::winpe_jump`), as WinPE's
//! `Windows\System32\winpeshl.exe`. It:
//!
//! 1. reads its own file and takes the carrier apart;
//! 2. finds the polyboot data partition (GPT disk GUID or MBR signature + partition offset);
//! 3. attaches the ISO file on it as a virtual CD (`OpenVirtualDisk` + `AttachVirtualDisk`,
//!    read-only, for the rest of this boot) and waits for its drive letter;
//! 4. applies the options (Windows 11 requirement bypass in `HKLM\SYSTEM\Setup\LabConfig`,
//!    `BypassNRO`, an unattend file, named to Setup by `HKLM\SYSTEM\Setup` `UnattendFile`);
//! 5. writes the original shell out and runs it, waiting for it, and exits with its code.
//!
//! Every step is logged (`%SystemDrive%\polyboot.log` unless the block names another file).
//! Any failure is shown in a message box (unless the trailer says "no UI"), and the original
//! shell runs all the same. In test mode (a flag of the block) steps 2 and 3 are replaced by
//! stand-ins: the ISO path is a complete path, and the directory holding the ISO serves as
//! the CD's root (the Wine test; Wine has no virtual disk service).

mod platform;

use platform::{DataPartition, Registry, VirtualCd};
use polyboot_core::handoff::DriveIdentity;
use polyboot_core::winpe_jump::{split_carrier, Params};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The log: lines are kept until the log file is known, then every line is appended to it
/// at once (a crash loses nothing) and echoed on stderr.
struct Log {
    path: Option<PathBuf>,
    pending: Vec<String>,
}

impl Log {
    fn line(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("polyboot-winpe: {text}");
        self.pending.push(text);
        self.flush();
    }

    fn set_path(&mut self, path: PathBuf) {
        self.path = Some(path);
        self.flush();
    }

    fn flush(&mut self) {
        let Some(path) = &self.path else { return };
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut f) = file {
            for l in self.pending.drain(..) {
                let _ = writeln!(f, "{l}\r");
            }
        }
    }
}

fn system_drive() -> String {
    std::env::var("SystemDrive").unwrap_or_else(|_| "X:".to_string())
}

fn or_default(path: &str, default: impl FnOnce() -> PathBuf) -> PathBuf {
    if path.is_empty() {
        default()
    } else {
        PathBuf::from(path)
    }
}

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let mut log = Log { path: None, pending: Vec::new() };
    log.line(format!("start: polyboot-winpe {}", polyboot_core::VERSION));
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return fatal(&mut log, &format!("cannot find my own file: {e}")),
    };
    let file = match std::fs::read(&exe) {
        Ok(f) => f,
        Err(e) => {
            return fatal(&mut log, &format!("cannot read my own file {}: {e}", exe.display()))
        }
    };
    let carrier = match split_carrier(&file) {
        Ok(c) => c,
        Err(e) => {
            return fatal(&mut log, &format!("{}: {e}; the original shell is lost", exe.display()))
        }
    };
    let ui = platform::ui(!carrier.no_ui());
    let mut errors = Vec::new();
    let params = match &carrier.params {
        Ok(p) => Some(p),
        Err(e) => {
            errors.push(format!("the parameter block is unreadable: {e}"));
            None
        }
    };
    let log_path = or_default(params.map_or("", |p| &p.log_path), || {
        PathBuf::from(format!("{}\\polyboot.log", system_drive()))
    });
    log.set_path(log_path);
    log.line(format!(
        "carrier: {} ({} bytes: program {}, original shell {}, parameters {})",
        exe.display(),
        file.len(),
        carrier.program_len,
        carrier.original_shell.len(),
        carrier.params_bytes.len()
    ));
    if let Some(e) = errors.first() {
        log.line(format!("error: {e}"));
    }
    if let Some(p) = params {
        let test = p.flags.test_mode();
        let (part, cd): (Box<dyn DataPartition>, Box<dyn VirtualCd>) =
            if test { platform::test_stand_ins() } else { platform::windows() };
        if let Err(e) = prepare(p, &mut log, &*part, &*cd, &platform::registry()) {
            log.line(format!("error: {e}"));
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        let mut text = String::from("polyboot could not prepare Windows Setup:\n\n");
        for e in &errors {
            let _ = writeln!(text, "- {e}");
        }
        text.push_str("\nWindows PE's own shell runs next; Setup may not find its files.");
        ui.message(&text);
    }
    let shell = or_default(params.map_or("", |p| &p.shell_path), || {
        exe.with_file_name("winpeshl-polyboot.exe")
    });
    run_shell(&mut log, &shell, carrier.original_shell)
}

/// Steps 2 to 4. The first failure ends them.
fn prepare(
    p: &Params,
    log: &mut Log,
    part: &dyn DataPartition,
    cd: &dyn VirtualCd,
    reg: &dyn Registry,
) -> Result<(), String> {
    let wait = Duration::from_secs(u64::from(p.wait_seconds));
    let iso = if p.flags.test_mode() {
        log.line(format!("partition: test mode, the ISO path {} is used as it is", p.iso_path));
        PathBuf::from(&p.iso_path)
    } else {
        let identity = p.identity.ok_or("no drive identity")?;
        let id = match identity {
            DriveIdentity::Gpt(g) => format!("GPT disk {g}"),
            DriveIdentity::Mbr(s) => format!("MBR disk {s:08x}"),
        };
        let root = part.find(identity, p.partition_offset, wait).map_err(|e| {
            format!("partition: the data partition at byte {} of {id}: {e}", p.partition_offset)
        })?;
        log.line(format!(
            "partition: data partition at byte {} of {id} is {}",
            p.partition_offset,
            root.display()
        ));
        let mut s = root.into_os_string();
        s.push(p.iso_path.trim_start_matches('\\'));
        PathBuf::from(s)
    };
    let drive = cd.attach(&iso, wait).map_err(|e| format!("attach: {}: {e}", iso.display()))?;
    log.line(format!("attach: {} is the virtual CD {}", iso.display(), drive.display()));
    if p.flags.bypass_requirements() {
        for name in platform::LABCONFIG_VALUES {
            reg.set_dword(platform::LABCONFIG_KEY, name, 1)
                .map_err(|e| format!("labconfig: {}\\{name}: {e}", platform::LABCONFIG_KEY))?;
        }
        log.line(format!(
            "labconfig: HKLM\\{} {} = 1",
            platform::LABCONFIG_KEY,
            platform::LABCONFIG_VALUES.join(", ")
        ));
    }
    if p.flags.bypass_nro() {
        reg.set_dword(platform::OOBE_KEY, "BypassNRO", 1)
            .map_err(|e| format!("bypassnro: {}\\BypassNRO: {e}", platform::OOBE_KEY))?;
        log.line(format!("bypassnro: HKLM\\{} BypassNRO = 1", platform::OOBE_KEY));
    }
    if !p.unattend.is_empty() {
        let path = or_default(&p.unattend_path, || {
            PathBuf::from(format!("{}\\autounattend.xml", system_drive()))
        });
        std::fs::write(&path, &p.unattend)
            .map_err(|e| format!("unattend: writing {}: {e}", path.display()))?;
        // Setup looks here first (as Ventoy's jump program points it).
        let text = path.to_string_lossy();
        reg.set_string(platform::SETUP_KEY, "UnattendFile", &text)
            .map_err(|e| format!("unattend: {}\\UnattendFile: {e}", platform::SETUP_KEY))?;
        log.line(format!(
            "unattend: {} ({} bytes), HKLM\\{} UnattendFile = {text}",
            path.display(),
            p.unattend.len(),
            platform::SETUP_KEY
        ));
    }
    Ok(())
}

/// Step 5: write the original shell to `path`, run it with this program's arguments, wait.
fn run_shell(log: &mut Log, path: &Path, bytes: &[u8]) -> i32 {
    if let Err(e) = std::fs::write(path, bytes) {
        log.line(format!("error: shell: writing {}: {e}", path.display()));
        return 1;
    }
    log.line(format!("shell: wrote {} ({} bytes), running it", path.display(), bytes.len()));
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    match std::process::Command::new(path).args(&args).status() {
        Ok(status) => {
            let code = status.code().unwrap_or(1);
            log.line(format!("shell: exited with {code}"));
            code
        }
        Err(e) => {
            log.line(format!("error: shell: running {}: {e}", path.display()));
            1
        }
    }
}

/// Nothing to run: say so (a message box: WinPE has no other screen yet) and give up.
fn fatal(log: &mut Log, why: &str) -> i32 {
    log.line(format!("error: {why}"));
    log.set_path(PathBuf::from(format!("{}\\polyboot.log", system_drive())));
    if std::env::var_os("POLYBOOT_WINPE_NO_UI").is_none() {
        platform::ui(true).message(&format!("polyboot cannot start Windows PE's shell:\n\n{why}"));
    }
    1
}
