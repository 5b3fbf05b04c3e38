//! The WinPE jump program (`crates/polyboot-winpe`) run under Debian's Wine: a carrier built
//! with `polyboot_core::winpe_jump` from the real `polyboot-winpe.exe`, a stand-in "original
//! shell" (`polyboot-winpe-test-shell.exe`, which writes `<its path>.ran.txt` with the length
//! and CRC-32 of its own file) and a parameter block in test mode (the ISO path is a complete
//! path on a Wine drive `P:` mapped to a temporary directory; Wine has no virtual disk service,
//! so the directory holding the ISO stands in for the attached CD).
//!
//! What this covers: the program reads and takes apart its own file, logs every step, writes
//! the Windows 11 requirement bypass and BypassNRO registry values, writes the unattend file
//! and points `HKLM\SYSTEM\Setup` `UnattendFile` at it, writes the original shell out byte for
//! byte and runs it (arguments passed on, exit code returned); a damaged parameter block or a
//! failing step is logged and the original shell still runs. What it does not cover: finding a real drive and `AttachVirtualDisk` (Windows
//! only), and real WinPE / Windows Setup; no test here boots Windows.
//!
//! The same runs for the 64-bit program (`wine64`) and the 32-bit one (`wine`, which starts a
//! PE32 program with wine32 in the same 64-bit prefix, as WoW64; `reg query` stays 64-bit, so
//! the values must land in the 64-bit registry view, where a 32-bit WinPE has its only one).
//!
//! Needs the Debian packages wine64, wine32:i386, gcc-mingw-w64-x86-64 and
//! gcc-mingw-w64-i686-win32 (and the programs built by `cargo xtask build`); without them the
//! test fails, naming them.

use polyboot_core::crc32::crc32;
use polyboot_core::winpe_jump::{build_carrier, build_carrier_with, Flags, Params};
use polyboot_tests::artifacts::{winpe_programs, winpe_programs_x86};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const WINE: &str = "/usr/lib/wine/wine64";
/// Debian's loader that picks wine32 or wine64 by the program's format.
const WINE_ANY: &str = "/usr/bin/wine";
const WINESERVER: &str = "/usr/lib/wine/wineserver";

/// Which jump program a test runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arch {
    X64,
    X86,
}

fn require_tools(arch: Arch) {
    let mut needed = vec![(WINE, "wine64"), (WINESERVER, "wine64")];
    match arch {
        Arch::X64 => needed.push(("/usr/bin/x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64")),
        Arch::X86 => needed.extend([
            (WINE_ANY, "wine"),
            ("/usr/lib/wine/wineserver32", "wine32:i386"),
            ("/usr/bin/i686-w64-mingw32-gcc-win32", "gcc-mingw-w64-i686-win32"),
        ]),
    }
    let missing: Vec<String> = needed
        .iter()
        .filter(|(f, _)| !Path::new(f).exists())
        .map(|(f, p)| format!("{f} (Debian package {p})"))
        .collect();
    assert!(
        missing.is_empty(),
        "missing {}: `cargo xtask deps` installs every package the tests need",
        missing.join(", ")
    );
}

/// A fresh Wine prefix in a temporary directory, with drive `P:` mapped to `<tmp>/p`.
/// The prefix's wineserver is stopped on drop.
struct Wine {
    dir: tempfile::TempDir,
}

impl Wine {
    fn new() -> Wine {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("p")).unwrap();
        let wine = Wine { dir };
        let out = wine.run(&["wineboot", "--init"], Duration::from_secs(300));
        assert!(out.status.success(), "wineboot --init: {}", show(&out));
        let dosdevices = wine.prefix().join("dosdevices");
        assert!(dosdevices.is_dir(), "no {} after wineboot", dosdevices.display());
        std::os::unix::fs::symlink(wine.p(""), dosdevices.join("p:")).unwrap();
        wine
    }

    fn prefix(&self) -> PathBuf {
        self.dir.path().join("prefix")
    }

    /// The host path of `P:\<rel>` (`rel` with `/`).
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join("p").join(rel)
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("WINEPREFIX", self.prefix())
            .env("WINEDEBUG", "-all")
            // No Mono / Gecko installer prompts, no display.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null());
        cmd
    }

    /// `wine64 ARGS`, killed after `timeout`.
    fn run(&self, args: &[&str], timeout: Duration) -> Output {
        self.run_with(WINE, args, timeout)
    }

    /// `LOADER ARGS`, killed after `timeout`.
    fn run_with(&self, loader: &str, args: &[&str], timeout: Duration) -> Output {
        let out_path = self.dir.path().join("wine.out");
        let err_path = self.dir.path().join("wine.err");
        let mut child = self
            .command(loader)
            .args(args)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{loader} {args:?} did not finish within {} s; stderr: {}",
                    timeout.as_secs(),
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap(),
            stderr: std::fs::read(&err_path).unwrap(),
        }
    }

    /// `reg query HKLM\<key>`: the output, or `None` when the key does not exist.
    fn reg_query(&self, key: &str) -> Option<String> {
        let out = self.run(&["reg", "query", &format!("HKLM\\{key}")], Duration::from_secs(120));
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = self.command(WINESERVER).arg("-k").status();
    }
}

fn show(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An ISO 9660 stand-in: 18 sectors with a primary volume descriptor at sector 16.
fn fake_iso() -> Vec<u8> {
    let mut iso = vec![0u8; 18 * 2048];
    iso[16 * 2048..16 * 2048 + 7].copy_from_slice(b"\x01CD001\x01");
    iso[17 * 2048..17 * 2048 + 7].copy_from_slice(b"\xFFCD001\x01");
    iso
}

const UNATTEND: &[u8] = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"/>\r\n";

fn params(log: &str, unattend_path: &str) -> Params {
    Params {
        flags: Flags(Flags::TEST_MODE | Flags::BYPASS_REQUIREMENTS | Flags::BYPASS_NRO),
        identity: None,
        partition_offset: 0,
        iso_path: r"P:\ISO\test.iso".to_string(),
        log_path: log.to_string(),
        shell_path: String::new(),
        unattend_path: unattend_path.to_string(),
        unattend: UNATTEND.to_vec(),
        wait_seconds: 5,
    }
}

/// Install `carrier` as `P:\<case>\Windows\System32\winpeshl.exe`, run it with two
/// arguments, and return its output.
fn run_carrier(wine: &Wine, arch: Arch, case: &str, carrier: &[u8]) -> Output {
    let dir = wine.p(&format!("{case}/Windows/System32"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("winpeshl.exe"), carrier).unwrap();
    let exe = format!(r"P:\{case}\Windows\System32\winpeshl.exe");
    let loader = if arch == Arch::X86 { WINE_ANY } else { WINE };
    wine.run_with(loader, &[&exe, "-first", "second"], Duration::from_secs(180))
}

/// The stand-in shell ran from `P:\<case>\Windows\System32\winpeshl-polyboot.exe`, which
/// holds exactly `shell`, with the arguments the jump program was given.
fn assert_shell_ran(wine: &Wine, case: &str, shell: &[u8], out: &Output) {
    let written = wine.p(&format!("{case}/Windows/System32/winpeshl-polyboot.exe"));
    let bytes = std::fs::read(&written)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", written.display(), show(out)));
    assert!(bytes == shell, "the shell written out differs from the one built in");
    let marker = wine.p(&format!("{case}/Windows/System32/winpeshl-polyboot.exe.ran.txt"));
    let text = std::fs::read_to_string(&marker).unwrap_or_else(|e| {
        panic!("the stand-in shell did not run ({}: {e})\n{}", marker.display(), show(out))
    });
    let want = format!(
        "polyboot-winpe-test-shell ran\nlen={}\ncrc32={:08x}\nargs=-first second\n",
        shell.len(),
        crc32(shell)
    );
    assert_eq!(text, want, "marker file of the stand-in shell");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("polyboot-winpe-test-shell ran"),
        "the shell's output is missing\n{}",
        show(out)
    );
}

fn log_lines(path: &Path, out: &Output) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("log {}: {e}\n{}", path.display(), show(out)));
    text.lines().map(|l| l.trim_end_matches('\r').to_string()).collect()
}

/// The lines starting with each prefix, in this order (each exactly once).
fn assert_steps(lines: &[String], steps: &[&str]) {
    let mut at = 0;
    for step in steps {
        let found: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with(step)).collect();
        assert_eq!(found.len(), 1, "log line {step:?} once; log:\n{}", lines.join("\n"));
        assert!(found[0] >= at, "log line {step:?} out of order; log:\n{}", lines.join("\n"));
        at = found[0];
    }
}

const LABCONFIG: [&str; 5] = [
    "BypassTPMCheck",
    "BypassSecureBootCheck",
    "BypassRAMCheck",
    "BypassStorageCheck",
    "BypassCPUCheck",
];

#[test]
fn jump_program_under_wine() {
    jump_program_runs(Arch::X64);
}

/// The 32-bit jump program (for 32-bit Windows PE), the same steps.
#[test]
fn x86_jump_program_under_wine() {
    jump_program_runs(Arch::X86);
}

fn jump_program_runs(arch: Arch) {
    require_tools(arch);
    let (jump_exe, shell_exe) = match arch {
        Arch::X64 => winpe_programs(),
        Arch::X86 => winpe_programs_x86(),
    };
    let jump = std::fs::read(&jump_exe).unwrap();
    let shell = std::fs::read(&shell_exe).unwrap();
    let wine = Wine::new();
    std::fs::create_dir_all(wine.p("ISO")).unwrap();
    std::fs::write(wine.p("ISO/test.iso"), fake_iso()).unwrap();
    std::fs::write(wine.p("not-an-iso.iso"), vec![0u8; 40_000]).unwrap();

    // 1. A damaged parameter block: logged (to the default %SystemDrive%\polyboot.log, as
    //    the block cannot name another), nothing applied, the original shell runs.
    let mut block = params(r"P:\never.log", "").encode();
    let mid = block.len() / 2;
    block[mid] ^= 0x20;
    let carrier = build_carrier_with(&jump, &shell, &block, true);
    let out = run_carrier(&wine, arch, "damaged", &carrier);
    assert!(out.status.success(), "damaged block: {}", show(&out));
    assert_shell_ran(&wine, "damaged", &shell, &out);
    let lines = log_lines(&wine.prefix().join("drive_c/polyboot.log"), &out);
    assert_steps(
        &lines,
        &[
            "start:",
            "carrier:",
            "error: the parameter block is unreadable: parameter block CRC mismatch",
            "shell: wrote",
            "shell: exited with 0",
        ],
    );
    assert!(!wine.p("never.log").exists());

    // 2. A step that fails (the "ISO" is not an ISO 9660 image): logged, the later steps are
    //    not taken, the original shell runs.
    let p = Params {
        iso_path: r"P:\not-an-iso.iso".to_string(),
        ..params(r"P:\failing.log", r"P:\failing-unattend.xml")
    };
    let out = run_carrier(&wine, arch, "failing", &build_carrier(&jump, &shell, &p));
    assert!(out.status.success(), "failing step: {}", show(&out));
    assert_shell_ran(&wine, "failing", &shell, &out);
    let lines = log_lines(&wine.p("failing.log"), &out);
    assert_steps(
        &lines,
        &[
            "partition: test mode",
            r"error: attach: P:\not-an-iso.iso: test mode: not an ISO 9660 image",
            "shell: exited with 0",
        ],
    );
    assert!(!lines.iter().any(|l| l.starts_with("labconfig:") || l.starts_with("unattend:")));
    assert!(!wine.p("failing-unattend.xml").exists());
    assert_eq!(wine.reg_query(r"SYSTEM\Setup\LabConfig"), None, "LabConfig written anyway");
    let setup = wine.reg_query(r"SYSTEM\Setup").unwrap_or_default();
    assert!(!setup.contains("UnattendFile"), "UnattendFile written anyway:\n{setup}");

    // 3. Every step.
    let p = params(r"P:\ok\polyboot-test.log", r"P:\ok\autounattend.xml");
    let carrier = build_carrier(&jump, &shell, &p);
    let out = run_carrier(&wine, arch, "ok", &carrier);
    assert!(out.status.success(), "every step: {}", show(&out));
    assert_shell_ran(&wine, "ok", &shell, &out);
    let lines = log_lines(&wine.p("ok/polyboot-test.log"), &out);
    assert_steps(
        &lines,
        &[
            "start: polyboot-winpe",
            &format!(
                r"carrier: P:\ok\Windows\System32\winpeshl.exe ({} bytes: program {}, original shell {}",
                carrier.len(),
                jump.len(),
                shell.len()
            ),
            r"partition: test mode, the ISO path P:\ISO\test.iso is used as it is",
            r"attach: P:\ISO\test.iso is the virtual CD P:\ISO\",
            &format!(r"labconfig: HKLM\SYSTEM\Setup\LabConfig {} = 1", LABCONFIG.join(", ")),
            r"bypassnro: HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\OOBE BypassNRO = 1",
            &format!(
                r"unattend: P:\ok\autounattend.xml ({} bytes), HKLM\SYSTEM\Setup UnattendFile = P:\ok\autounattend.xml",
                UNATTEND.len()
            ),
            &format!(
                r"shell: wrote P:\ok\Windows\System32\winpeshl-polyboot.exe ({} bytes), running it",
                shell.len()
            ),
            "shell: exited with 0",
        ],
    );
    assert!(!lines.iter().any(|l| l.starts_with("error:")), "{}", lines.join("\n"));
    assert_eq!(std::fs::read(wine.p("ok/autounattend.xml")).unwrap(), UNATTEND);
    let setup = wine.reg_query(r"SYSTEM\Setup").expect("Setup key");
    assert!(
        setup.lines().any(|l| {
            l.split_whitespace().collect::<Vec<_>>()
                == ["UnattendFile", "REG_SZ", r"P:\ok\autounattend.xml"]
        }),
        "UnattendFile missing from:\n{setup}"
    );
    let labconfig = wine.reg_query(r"SYSTEM\Setup\LabConfig").expect("LabConfig key");
    for name in LABCONFIG {
        assert!(
            labconfig.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f == [name, "REG_DWORD", "0x1"]
            }),
            "{name} = 0x1 missing from:\n{labconfig}"
        );
    }
    let oobe = wine.reg_query(r"SOFTWARE\Microsoft\Windows\CurrentVersion\OOBE").expect("OOBE key");
    assert!(
        oobe.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["BypassNRO", "REG_DWORD", "0x1"]),
        "BypassNRO = 0x1 missing from:\n{oobe}"
    );
}
