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
    let files = RunFiles::create(plan, run_dir, log_dir)?;
    catch_quit_signals();
    let mut qemu = Qemu::spawn(plan, files.stderr)?;
    let started = Instant::now();
    let stream =
        connect_serial(&mut qemu, &run_dir.join("serial.sock"), started, &files.stderr_path)?;
    let serial = spawn_serial_reader(stream.try_clone()?, files.serial_log, echo);
    let _raw = if keys_from_stdin && plan.console == Console::Terminal {
        forward_terminal_keys(&stream)?
    } else {
        None
    };
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
    let mut watch = Watch {
        plan,
        started,
        typing: if plan.preselect.is_some() { Typing::WaitReady } else { Typing::Done },
        scanned: 0,
    };
    out.ended = watch.run(&mut qemu, &serial, stream, &files.stderr_path, &mut out)?;
    out.seconds = started.elapsed().as_secs_f64();
    drop(qemu);
    Ok(out)
}

/// The files of one run: QEMU's command line and stderr, and the serial log when kept.
struct RunFiles {
    stderr_path: PathBuf,
    stderr: std::fs::File,
    serial_log: Option<std::fs::File>,
}

impl RunFiles {
    fn create(plan: &Plan, run_dir: &Path, log_dir: Option<&Path>) -> Result<RunFiles> {
        // The firmware writes to its variable store: each run gets its own copy.
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
        let serial_log = match log_dir {
            Some(dir) => Some(std::fs::File::create(dir.join("serial.log"))?),
            None => None,
        };
        Ok(RunFiles { stderr_path, stderr, serial_log })
    }
}

/// Clears [`QUIT`] and lets SIGINT and SIGTERM set it, so that the run stops QEMU and reports.
fn catch_quit_signals() {
    QUIT.store(false, Ordering::SeqCst);
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
}

impl Qemu {
    fn spawn(plan: &Plan, stderr: std::fs::File) -> Result<Qemu> {
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
        let child = cmd
            .spawn()
            .context("cannot start qemu-system-x86_64 (Debian package qemu-system-x86)")?;
        Ok(Qemu(child))
    }
}

/// The end of QEMU's standard error, for the error message when it fails.
fn stderr_tail(stderr_path: &Path) -> String {
    let text = std::fs::read_to_string(stderr_path).unwrap_or_default();
    let start = text.len().saturating_sub(2000);
    text.get(start..).unwrap_or(&text).trim().to_string()
}

/// Connects to QEMU's serial socket once QEMU has created it.
fn connect_serial(
    qemu: &mut Qemu,
    sock_path: &Path,
    started: Instant,
    stderr_path: &Path,
) -> Result<UnixStream> {
    loop {
        match UnixStream::connect(sock_path) {
            Ok(s) => return Ok(s),
            Err(e) => {
                if let Some(status) = qemu.0.try_wait()? {
                    bail!("QEMU exited at start ({status}): {}", stderr_tail(stderr_path));
                }
                if started.elapsed() > Duration::from_secs(30) {
                    return Err(e).context("QEMU's serial socket never appeared");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A thread that collects the serial console into [`Serial`], logging and echoing it as it
/// arrives.
fn spawn_serial_reader(
    mut reader: UnixStream,
    mut serial_log: Option<std::fs::File>,
    echo: Echo,
) -> Arc<Serial> {
    let serial = Arc::new(Serial::default());
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
    serial
}

/// Keys typed on the terminal go to the guest's serial console (Ctrl-] quits when stdin is a
/// terminal). Returns the raw-mode guard, which restores the terminal when dropped.
fn forward_terminal_keys(stream: &UnixStream) -> Result<Option<RawTerminal>> {
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
    Ok(raw)
}

/// Watching the serial console of one run: its markers, the keys to type, how it ends.
struct Watch<'p> {
    plan: &'p Plan,
    started: Instant,
    typing: Typing,
    /// How much of the console the last look covered.
    scanned: usize,
}

/// What one look at the console found.
enum Look {
    /// `--expect`'s text appeared.
    Expected,
    /// Keys to type into the menu now.
    Type(Vec<u8>),
    Nothing,
}

impl Watch<'_> {
    /// Watches until the run ends, typing into the menu on the way; says how it ended.
    fn run(
        &mut self,
        qemu: &mut Qemu,
        serial: &Serial,
        mut to_guest: UnixStream,
        stderr_path: &Path,
        out: &mut Outcome,
    ) -> Result<Ended> {
        let deadline = self.plan.timeout_secs.map(|s| self.started + Duration::from_secs(s));
        let mut exited_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let send = {
                let bytes = serial.bytes.lock().unwrap();
                match self.look(&bytes, now, out) {
                    Look::Expected => return Ok(Ended::Expected),
                    Look::Type(keys) => Some(keys),
                    Look::Nothing => {
                        if exited_at.is_none() {
                            let _unused = serial
                                .grew
                                .wait_timeout(bytes, Duration::from_millis(100))
                                .unwrap();
                        }
                        None
                    }
                }
            };
            if let Some(keys) = send {
                to_guest.write_all(&keys).context("typing into the serial console")?;
                if keys == b"\r" {
                    eprint!(
                        "\r\npolyboot: typed {:?} and Enter into the menu\r\n",
                        self.plan.preselect.as_ref().map_or("", |p| p.typed.as_str())
                    );
                }
                continue;
            }
            if QUIT.load(Ordering::SeqCst) {
                return Ok(Ended::Quit);
            }
            if let Some(at) = exited_at {
                // QEMU is gone: the reader has had a moment to drain the socket; one last look.
                if at.elapsed() > Duration::from_millis(200) {
                    return Ok(Ended::QemuExited);
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            if let Some(status) = qemu.0.try_wait()? {
                out.qemu_status = Some(status.to_string());
                if !status.success() {
                    out.qemu_stderr = Some(stderr_tail(stderr_path));
                }
                exited_at = Some(Instant::now());
                continue;
            }
            if deadline.is_some_and(|d| now >= d) {
                return Ok(Ended::Timeout);
            }
        }
    }

    /// Looks at the console as it stands at `now`: notes when the menu came up and when
    /// `--expect`'s text appeared (in `out`), and says what to type.
    fn look(&mut self, bytes: &[u8], now: Instant, out: &mut Outcome) -> Look {
        let secs = now.duration_since(self.started).as_secs_f64();
        // Look only at what arrived since the last pass (markers may straddle chunks).
        let longest = [self.plan.menu_ready, self.plan.expect.as_deref()]
            .iter()
            .flatten()
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        let from = self.scanned.saturating_sub(longest);
        if let (None, Some(ready)) = (out.menu_seconds, self.plan.menu_ready) {
            if find(bytes, ready.as_bytes(), from).is_some() {
                out.menu_seconds = Some(secs);
            }
        }
        if let Some(text) = &self.plan.expect {
            if find(bytes, text.as_bytes(), from).is_some() {
                out.expect_seconds = Some(secs);
                return Look::Expected;
            }
        }
        let keys = self.next_keys(bytes, now);
        // Keys with Enter still to come: the image's name has just been typed.
        if keys.is_some() && matches!(self.typing, Typing::Enter(_)) {
            out.typed_seconds = Some(secs);
        }
        self.scanned = bytes.len();
        keys.map_or(Look::Nothing, Look::Type)
    }

    /// `--preselect`: once the menu is ready and drawn, type the image's name, then (after a
    /// pause) Enter.
    fn next_keys(&mut self, bytes: &[u8], now: Instant) -> Option<Vec<u8>> {
        let pre = self.plan.preselect.as_ref()?;
        match self.typing {
            Typing::WaitReady => {
                if let Some(at) = find(bytes, pre.ready.as_bytes(), 0) {
                    self.typing = Typing::WaitDrawn(at + pre.ready.len());
                }
                None
            }
            Typing::WaitDrawn(after) => {
                find(bytes, pre.drawn.as_bytes(), after)?;
                // Let the menu filter before Enter, as a user would.
                self.typing = Typing::Enter(now + Duration::from_millis(500));
                Some(pre.typed.clone().into_bytes())
            }
            Typing::Enter(at) if now >= at => {
                self.typing = Typing::Done;
                Some(b"\r".to_vec())
            }
            Typing::Enter(_) | Typing::Done => None,
        }
    }
}
