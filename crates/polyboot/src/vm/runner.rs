//! Running a [`Plan`]: start QEMU, own its serial console (echo, log, watch, type), stop it.

use super::plan::{Console, Plan};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Ctrl-] on a terminal console: stop the VM (Ctrl-C goes to the guest there).
pub const QUIT_KEY: u8 = 0x1d;

/// Set by Ctrl-], SIGINT and SIGTERM.
static QUIT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    QUIT.store(true, Ordering::SeqCst);
}

/// Where the serial console is echoed as it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    None,
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// `--expect`'s text appeared.
    Expected,
    /// `--timeout` passed.
    Timeout,
    /// QEMU exited by itself (the guest powered off, or the window was closed).
    QemuExited,
    /// Ctrl-] or a signal.
    Quit,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub ended: Ended,
    /// From QEMU's start to the end of the run.
    pub seconds: f64,
    /// When the boot manager said its menu was ready.
    pub menu_seconds: Option<f64>,
    /// When the image name was typed into the menu.
    pub typed_seconds: Option<f64>,
    /// When `--expect`'s text appeared.
    pub expect_seconds: Option<f64>,
    /// QEMU's exit status when it exited by itself.
    pub qemu_status: Option<String>,
    /// The end of QEMU's standard error (when it exited by itself with an error).
    pub qemu_stderr: Option<String>,
    pub log_dir: Option<PathBuf>,
}

#[derive(Default)]
struct Serial {
    bytes: Mutex<Vec<u8>>,
    grew: Condvar,
}

/// QEMU, killed when this is dropped (an error, a panic, the end of the run).
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The terminal in raw mode while keys go to the guest; restored on drop.
struct RawTerminal(libc::termios);

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        // SAFETY: tcgetattr / tcsetattr on fd 0 with a zeroed, then filled termios.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::isatty(0) != 1 || libc::tcgetattr(0, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            // Keep output post-processing so polyboot's own lines still start at column 0.
            raw.c_oflag |= libc::OPOST | libc::ONLCR;
            if libc::tcsetattr(0, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawTerminal(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in enter().
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.0);
        }
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from.min(hay.len()));
    }
    let start = from.min(hay.len());
    hay[start..].windows(needle.len()).position(|w| w == needle).map(|i| start + i)
}

/// What the run is waiting for before typing into the menu.
enum Typing {
    WaitReady,
    WaitDrawn(usize),
    Enter(Instant),
    Done,
}

/// Runs the plan to its end. `run_dir` is the private directory the plan's paths point into;
/// `log_dir` (when given) keeps the serial log, the command line and QEMU's stderr.
pub fn run(
    plan: &Plan,
    run_dir: &Path,
    log_dir: Option<&Path>,
    echo: Echo,
    keys_from_stdin: bool,
) -> Result<Outcome> {
    if let Some(vars) = &plan.ovmf_vars {
        std::fs::copy(vars, run_dir.join("OVMF_VARS.fd")).with_context(|| {
            format!("copying the UEFI variable store {} (Debian package ovmf)", vars.display())
        })?;
    }
    let logs = log_dir.unwrap_or(run_dir);
    std::fs::create_dir_all(logs).with_context(|| format!("creating {}", logs.display()))?;
    std::fs::write(logs.join("qemu.cmdline"), plan.shell_command() + "\n")?;
    let stderr_path = logs.join("qemu.stderr");
    let stderr = std::fs::File::create(&stderr_path)?;
    let mut serial_log = match log_dir {
        Some(dir) => Some(std::fs::File::create(dir.join("serial.log"))?),
        None => None,
    };

    QUIT.store(false, Ordering::SeqCst);
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
    let mut cmd = Command::new(&plan.qemu[0]);
    cmd.args(&plan.qemu[1..]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
    // SAFETY: async-signal-safe calls only. QEMU gets its own process group (Ctrl-C on the
    // terminal reaches polyboot, which stops it) and dies with polyboot however that ends.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child =
        cmd.spawn().context("cannot start qemu-system-x86_64 (Debian package qemu-system-x86)")?;
    let mut qemu = Qemu(child);
    let started = Instant::now();
    let stderr_tail = || {
        let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or(&text).trim().to_string()
    };

    let sock_path = run_dir.join("serial.sock");
    let stream = loop {
        match UnixStream::connect(&sock_path) {
            Ok(s) => break s,
            Err(e) => {
                if let Some(status) = qemu.0.try_wait()? {
                    bail!("QEMU exited at start ({status}): {}", stderr_tail());
                }
                if started.elapsed() > Duration::from_secs(30) {
                    return Err(e).context("QEMU's serial socket never appeared");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };

    let serial = Arc::new(Serial::default());
    {
        let mut reader = stream.try_clone()?;
        let sink = Arc::clone(&serial);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                let chunk = &buf[..n];
                if let Some(f) = serial_log.as_mut() {
                    let _ = f.write_all(chunk);
                }
                match echo {
                    Echo::Stdout => {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(chunk);
                        let _ = out.flush();
                    }
                    Echo::Stderr => {
                        let _ = std::io::stderr().write_all(chunk);
                    }
                    Echo::None => {}
                }
                sink.bytes.lock().unwrap().extend_from_slice(chunk);
                sink.grew.notify_all();
            }
        });
    }

    // Keys typed on the terminal go to the guest's serial console.
    let _raw = if keys_from_stdin && plan.console == Console::Terminal {
        let raw = RawTerminal::enter();
        let mut to_guest = stream.try_clone()?;
        let tty = raw.is_some();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            while let Ok(n @ 1..) = stdin.read(&mut buf) {
                let chunk = &buf[..n];
                if tty && chunk.contains(&QUIT_KEY) {
                    QUIT.store(true, Ordering::SeqCst);
                    break;
                }
                if to_guest.write_all(chunk).is_err() {
                    break;
                }
            }
        });
        raw
    } else {
        None
    };
    let mut to_guest = stream;

    let deadline = plan.timeout_secs.map(|s| started + Duration::from_secs(s));
    let expect = plan.expect.as_deref().map(str::as_bytes);
    let secs = |t: Instant| t.duration_since(started).as_secs_f64();
    let mut out = Outcome {
        ended: Ended::Quit,
        seconds: 0.0,
        menu_seconds: None,
        typed_seconds: None,
        expect_seconds: None,
        qemu_status: None,
        qemu_stderr: None,
        log_dir: log_dir.map(Path::to_path_buf),
    };
    let mut typing = if plan.preselect.is_some() { Typing::WaitReady } else { Typing::Done };
    let mut scanned = 0usize;
    let mut exited_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let mut send: Option<Vec<u8>> = None;
        {
            let bytes = serial.bytes.lock().unwrap();
            // Look only at what arrived since the last pass (markers may straddle chunks).
            let longest = [plan.menu_ready, plan.expect.as_deref()]
                .iter()
                .flatten()
                .map(|m| m.len())
                .max()
                .unwrap_or(0);
            let from = scanned.saturating_sub(longest);
            if let (None, Some(ready)) = (out.menu_seconds, plan.menu_ready) {
                if find(&bytes, ready.as_bytes(), from).is_some() {
                    out.menu_seconds = Some(secs(now));
                }
            }
            if let Some(text) = expect {
                if find(&bytes, text, from).is_some() {
                    out.expect_seconds = Some(secs(now));
                    out.ended = Ended::Expected;
                    break;
                }
            }
            if let Some(pre) = &plan.preselect {
                match typing {
                    Typing::WaitReady => {
                        if let Some(at) = find(&bytes, pre.ready.as_bytes(), 0) {
                            typing = Typing::WaitDrawn(at + pre.ready.len());
                        }
                    }
                    Typing::WaitDrawn(after) => {
                        if find(&bytes, pre.drawn.as_bytes(), after).is_some() {
                            send = Some(pre.typed.clone().into_bytes());
                            out.typed_seconds = Some(secs(now));
                            // Let the menu filter before Enter, as a user would.
                            typing = Typing::Enter(now + Duration::from_millis(500));
                        }
                    }
                    Typing::Enter(at) if now >= at => {
                        send = Some(b"\r".to_vec());
                        typing = Typing::Done;
                    }
                    Typing::Enter(_) | Typing::Done => {}
                }
            }
            scanned = bytes.len();
            if send.is_none() && exited_at.is_none() {
                let _unused = serial.grew.wait_timeout(bytes, Duration::from_millis(100)).unwrap();
            }
        }
        if let Some(keys) = send {
            to_guest.write_all(&keys).context("typing into the serial console")?;
            if keys == b"\r" {
                eprint!(
                    "\r\npolyboot: typed {:?} and Enter into the menu\r\n",
                    plan.preselect.as_ref().map_or("", |p| p.typed.as_str())
                );
            }
            continue;
        }
        if QUIT.load(Ordering::SeqCst) {
            out.ended = Ended::Quit;
            break;
        }
        if let Some(at) = exited_at {
            // QEMU is gone: the reader has had a moment to drain the socket; one last look.
            if at.elapsed() > Duration::from_millis(200) {
                out.ended = Ended::QemuExited;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if let Some(status) = qemu.0.try_wait()? {
            out.qemu_status = Some(status.to_string());
            if !status.success() {
                out.qemu_stderr = Some(stderr_tail());
            }
            exited_at = Some(Instant::now());
            continue;
        }
        if deadline.is_some_and(|d| now >= d) {
            out.ended = Ended::Timeout;
            break;
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    drop(qemu);
    Ok(out)
}
