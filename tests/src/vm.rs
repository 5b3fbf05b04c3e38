//! A QEMU virtual machine under test.

use crate::artifacts::{OVMF_CODE, OVMF_SECBOOT_CODE, OVMF_VARS};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// OVMF (x86_64 UEFI), fresh variable store per run.
    Uefi,
    /// SeaBIOS, QEMU's default firmware.
    Bios,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskInterface {
    Virtio,
    /// A USB mass-storage stick on an xHCI controller: what users boot from.
    Usb,
    Ide,
}

#[derive(Debug, Clone)]
pub struct Disk {
    pub path: PathBuf,
    pub interface: DiskInterface,
    /// Logical sector size the guest sees (512 or 4096).
    pub logical_block_size: u32,
    pub read_only: bool,
}

impl Disk {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Disk {
            path: path.into(),
            interface: DiskInterface::Virtio,
            logical_block_size: 512,
            read_only: false,
        }
    }
    pub fn usb(mut self) -> Self {
        self.interface = DiskInterface::Usb;
        self
    }
    pub fn ide(mut self) -> Self {
        self.interface = DiskInterface::Ide;
        self
    }
    pub fn block_size(mut self, size: u32) -> Self {
        self.logical_block_size = size;
        self
    }
}

#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Names the log directory (`target/vm-logs/<name>/`), kept after the run for diagnosis.
    pub name: String,
    pub firmware: Firmware,
    pub disks: Vec<Disk>,
    pub cdrom: Option<PathBuf>,
    pub memory_mib: u32,
    /// Hard limit for the whole run: every wait fails once it has passed.
    pub timeout: Duration,
    pub extra_args: Vec<String>,
    /// QEMU machine type: "q35" (default) or "pc" (i440FX: ISA floppy controller, IDE).
    pub machine: &'static str,
    /// UEFI with Secure Boot enforced: OVMF's secboot build (q35 + SMM, secure pflash),
    /// starting from a private copy of this variable store (e.g. `OVMF_VARS_4M.snakeoil.fd`).
    pub secure_boot_vars: Option<PathBuf>,
}

impl VmConfig {
    pub fn new(name: &str, firmware: Firmware) -> Self {
        VmConfig {
            name: name.to_string(),
            firmware,
            disks: Vec::new(),
            cdrom: None,
            memory_mib: 512,
            timeout: Duration::from_secs(120),
            extra_args: Vec::new(),
            machine: "q35",
            secure_boot_vars: None,
        }
    }
    /// Secure Boot on (UEFI only): OVMF secboot with SMM, keys from `vars` (copied).
    pub fn secure_boot(mut self, vars: impl Into<PathBuf>) -> Self {
        self.secure_boot_vars = Some(vars.into());
        self
    }
    pub fn disk(mut self, disk: Disk) -> Self {
        self.disks.push(disk);
        self
    }
    pub fn cdrom(mut self, iso: impl Into<PathBuf>) -> Self {
        self.cdrom = Some(iso.into());
        self
    }
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_string());
        self
    }
    pub fn machine(mut self, machine: &'static str) -> Self {
        self.machine = machine;
        self
    }

    /// The QEMU command line for this configuration (sockets and files inside `run_dir`).
    pub fn qemu_args(&self, run_dir: &Path) -> Vec<String> {
        let p = |name: &str| run_dir.join(name).to_string_lossy().into_owned();
        let secure_boot = self.firmware == Firmware::Uefi && self.secure_boot_vars.is_some();
        let mut args: Vec<String> = vec![
            "-machine".into(),
            if secure_boot { format!("{},smm=on", self.machine) } else { self.machine.into() },
            "-accel".into(),
            "tcg".into(),
            "-m".into(),
            self.memory_mib.to_string(),
            "-nodefaults".into(),
            "-vga".into(),
            "std".into(),
            "-display".into(),
            "none".into(),
            "-chardev".into(),
            format!("socket,id=serial0,path={},server=on,wait=on", p("serial.sock")),
            "-serial".into(),
            "chardev:serial0".into(),
            "-monitor".into(),
            format!("unix:{},server=on,wait=off", p("monitor.sock")),
        ];
        if self.firmware == Firmware::Uefi {
            let code = if secure_boot {
                args.extend([
                    "-global".into(),
                    "driver=cfi.pflash01,property=secure,value=on".into(),
                ]);
                OVMF_SECBOOT_CODE
            } else {
                OVMF_CODE
            };
            args.extend([
                "-drive".into(),
                format!("if=pflash,format=raw,unit=0,readonly=on,file={code}"),
                "-drive".into(),
                format!("if=pflash,format=raw,unit=1,file={}", p("OVMF_VARS.fd")),
            ]);
        }
        if self.disks.iter().any(|d| d.interface == DiskInterface::Usb) {
            args.extend(["-device".into(), "qemu-xhci,id=xhci".into()]);
        }
        for (i, disk) in self.disks.iter().enumerate() {
            let ro = if disk.read_only { ",readonly=on" } else { "" };
            args.push("-drive".into());
            args.push(format!("if=none,id=disk{i},format=raw,file={}{ro}", disk.path.display()));
            let bs = disk.logical_block_size;
            let sizes = format!("logical_block_size={bs},physical_block_size={bs}");
            let device = match disk.interface {
                DiskInterface::Virtio => {
                    format!("virtio-blk-pci,drive=disk{i},{sizes},bootindex={i}")
                }
                DiskInterface::Usb => {
                    format!("usb-storage,bus=xhci.0,drive=disk{i},{sizes},bootindex={i}")
                }
                DiskInterface::Ide => format!("ide-hd,drive=disk{i},{sizes},bootindex={i}"),
            };
            args.extend(["-device".into(), device]);
        }
        if let Some(iso) = &self.cdrom {
            args.push("-drive".into());
            args.push(format!(
                "if=none,id=cd0,format=raw,media=cdrom,readonly=on,file={}",
                iso.display()
            ));
            args.extend([
                "-device".into(),
                format!("ide-cd,drive=cd0,bootindex={}", self.disks.len()),
            ]);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// Serial console bytes received so far, shared with the reader thread.
#[derive(Default)]
struct SerialLog {
    bytes: Mutex<Vec<u8>>,
    grew: Condvar,
}

pub struct Vm {
    child: Child,
    config: VmConfig,
    log_dir: PathBuf,
    started: Instant,
    deadline: Instant,
    serial: Arc<SerialLog>,
    serial_input: UnixStream,
    monitor: Mutex<Option<UnixStream>>,
    _run_dir: tempfile::TempDir,
}

impl Vm {
    /// Start QEMU and connect to its serial console (QEMU waits for that before running the
    /// guest, so no early output is lost).
    pub fn start(config: VmConfig) -> Result<Vm> {
        let run_dir = tempfile::Builder::new().prefix("polyboot-vm-").tempdir()?;
        let log_dir = crate::workspace_root().join("target/vm-logs").join(&config.name);
        std::fs::create_dir_all(&log_dir)?;
        if config.firmware == Firmware::Uefi {
            let vars = config.secure_boot_vars.as_deref().unwrap_or(Path::new(OVMF_VARS));
            std::fs::copy(vars, run_dir.path().join("OVMF_VARS.fd"))
                .with_context(|| format!("copying {} (Debian package ovmf)", vars.display()))?;
        }
        let stderr = std::fs::File::create(log_dir.join("qemu.stderr"))?;
        let args = config.qemu_args(run_dir.path());
        std::fs::write(log_dir.join("qemu.cmdline"), args.join(" "))?;
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        // If the test process dies without unwinding (SIGKILL, abort), take QEMU with it.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .context("cannot start qemu-system-x86_64 (Debian package qemu-system-x86)")?;
        let started = Instant::now();
        let deadline = started + config.timeout;

        let sock_path = run_dir.path().join("serial.sock");
        let stream = loop {
            match UnixStream::connect(&sock_path) {
                Ok(s) => break s,
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    if let Some(status) = child.try_wait()? {
                        let err = std::fs::read_to_string(log_dir.join("qemu.stderr"))
                            .unwrap_or_default();
                        bail!("QEMU exited at start with {status}: {err}");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e).context("QEMU's serial socket never appeared");
                }
            }
        };
        let serial = Arc::new(SerialLog::default());
        let mut reader = stream.try_clone()?;
        let log_file = std::fs::File::create(log_dir.join("serial.log"))?;
        let sink = Arc::clone(&serial);
        std::thread::spawn(move || copy_serial(&mut reader, log_file, &sink));

        Ok(Vm {
            child,
            config,
            log_dir,
            started,
            deadline,
            serial,
            serial_input: stream,
            monitor: Mutex::new(None),
            _run_dir: run_dir,
        })
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The VM's private copy of its UEFI variable store (what the firmware, shim or
    /// MokManager wrote to NVRAM): copy it after [`Vm::kill`] to boot again with it.
    pub fn vars_file(&self) -> PathBuf {
        self._run_dir.path().join("OVMF_VARS.fd")
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Everything the guest printed on the serial console so far (lossy UTF-8).
    pub fn serial_text(&self) -> String {
        String::from_utf8_lossy(&self.serial.bytes.lock().unwrap()).into_owned()
    }

    /// Wait until `marker` appears on the serial console; returns the time since start.
    /// Fails at the VM's deadline or when QEMU exits, with the tail of the console.
    pub fn wait_for(&mut self, marker: &str) -> Result<Duration> {
        self.wait_for_after(marker, 0)
    }

    /// Like [`Vm::wait_for`], but only counts output after byte `from` of the console, so a
    /// test can wait for a second occurrence (e.g. the menu coming back).
    pub fn wait_for_after(&mut self, marker: &str, from: usize) -> Result<Duration> {
        self.wait_inner(&[marker], from, None).map(|(_, t)| t)
    }

    /// Like [`Vm::wait_for`], copying the console to `echo` as it arrives (for demos).
    pub fn wait_for_echo(&mut self, marker: &str, echo: &mut dyn Write) -> Result<Duration> {
        self.wait_inner(&[marker], 0, Some(echo)).map(|(_, t)| t)
    }

    /// Wait until one of `markers` appears (e.g. a success marker or an emergency shell's
    /// prompt); returns which one (the first in `markers` order when several have) and when.
    pub fn wait_for_any(&mut self, markers: &[&str]) -> Result<(usize, Duration)> {
        self.wait_inner(markers, 0, None)
    }

    fn wait_inner(
        &mut self,
        markers: &[&str],
        from: usize,
        mut echo: Option<&mut dyn Write>,
    ) -> Result<(usize, Duration)> {
        let marker = markers.join("\" or \"");
        let found = |bytes: &[u8]| {
            let hay = if from <= bytes.len() { &bytes[from..] } else { &[][..] };
            markers.iter().position(|m| contains(hay, m.as_bytes()))
        };
        let mut echoed = 0;
        loop {
            {
                let bytes = self.serial.bytes.lock().unwrap();
                if let Some(out) = echo.as_mut() {
                    let _ = out.write_all(&bytes[echoed..]);
                    let _ = out.flush();
                    echoed = bytes.len();
                }
                if let Some(i) = found(&bytes) {
                    return Ok((i, self.started.elapsed()));
                }
                let now = Instant::now();
                if now < self.deadline {
                    let wait = (self.deadline - now).min(Duration::from_millis(200));
                    let _unused = self.serial.grew.wait_timeout(bytes, wait).unwrap();
                }
            }
            if Instant::now() >= self.deadline {
                bail!(
                    "timed out after {:?} waiting for {marker:?} on the serial console of VM '{}'\n{}",
                    self.config.timeout,
                    self.config.name,
                    self.console_tail()
                );
            }
            if let Some(status) = self.child.try_wait()? {
                // Give the reader thread a moment to drain what QEMU wrote before exiting.
                std::thread::sleep(Duration::from_millis(100));
                let bytes = self.serial.bytes.lock().unwrap();
                if let Some(i) = found(&bytes) {
                    return Ok((i, self.started.elapsed()));
                }
                drop(bytes);
                bail!("QEMU exited ({status}) before {marker:?} appeared\n{}", self.console_tail());
            }
        }
    }

    /// Current length of the console output, for [`Vm::wait_for_after`].
    pub fn serial_len(&self) -> usize {
        self.serial.bytes.lock().unwrap().len()
    }

    fn console_tail(&self) -> String {
        let text = self.serial_text();
        let tail: String =
            text.chars().rev().take(3000).collect::<Vec<_>>().into_iter().rev().collect();
        let stderr = std::fs::read_to_string(self.log_dir.join("qemu.stderr")).unwrap_or_default();
        format!(
            "--- serial console (last 3000 chars; full log in {}) ---\n{tail}\n--- qemu stderr ---\n{stderr}",
            self.log_dir.display()
        )
    }

    /// Type on the serial console.
    pub fn send_serial(&mut self, bytes: &[u8]) -> Result<()> {
        self.serial_input.write_all(bytes).context("writing to the serial console")
    }

    /// Run one human-monitor command and return its output.
    pub fn monitor(&self, command: &str) -> Result<String> {
        let mut guard = self.monitor.lock().unwrap();
        if guard.is_none() {
            let path = self._run_dir.path().join("monitor.sock");
            // QEMU creates this socket only after the serial socket got its connection.
            let mut tries = 0;
            let mut stream = loop {
                match UnixStream::connect(&path) {
                    Ok(s) => break s,
                    Err(_) if tries < 200 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => return Err(e).context("connecting to the QEMU monitor"),
                }
            };
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            read_until_prompt(&mut stream)?;
            *guard = Some(stream);
        }
        let stream = guard.as_mut().unwrap();
        stream.write_all(command.as_bytes())?;
        stream.write_all(b"\n")?;
        let reply = read_until_prompt(stream)?;
        // The monitor echoes the command line first.
        Ok(reply.split_once('\n').map(|(_, rest)| rest.to_string()).unwrap_or(reply))
    }

    /// Press one key (QEMU `sendkey` names: "ret", "down", "esc", "ctrl-b", "a", ...).
    pub fn send_key(&self, key: &str) -> Result<()> {
        self.monitor(&format!("sendkey {key}"))?;
        // A keyboard repeat under TCG can swallow presses sent back to back.
        std::thread::sleep(Duration::from_millis(150));
        Ok(())
    }

    /// Type text as key presses (letters, digits, a few symbols).
    pub fn type_text(&self, text: &str) -> Result<()> {
        for c in text.chars() {
            let key = match c {
                'a'..='z' | '0'..='9' => c.to_string(),
                'A'..='Z' => format!("shift-{}", c.to_ascii_lowercase()),
                ' ' => "spc".into(),
                '.' => "dot".into(),
                '-' => "minus".into(),
                '/' => "slash".into(),
                '_' => "shift-minus".into(),
                '\n' => "ret".into(),
                _ => bail!("cannot type {c:?} with sendkey"),
            };
            self.send_key(&key)?;
        }
        Ok(())
    }

    /// Save the screen (VGA / GOP) as a PPM file in the log directory.
    pub fn screendump(&self, name: &str) -> Result<PathBuf> {
        let path = self.log_dir.join(format!("{name}.ppm"));
        let _ = std::fs::remove_file(&path);
        let out = self.monitor(&format!("screendump {}", path.display()))?;
        if !path.is_file() {
            bail!("screendump produced no file: {out}");
        }
        Ok(path)
    }

    /// OCR the current screen.
    pub fn screen_text(&self, name: &str) -> Result<String> {
        let ppm = self.screendump(name)?;
        crate::ocr::read_screen(&ppm)
    }

    /// Poll the screen with OCR until `text` is on it (for output that never reaches serial).
    pub fn wait_for_screen(&self, text: &str) -> Result<(Duration, String)> {
        let mut attempt = 0;
        loop {
            let seen = self.screen_text(&format!("screen-{attempt:03}"))?;
            if seen.contains(text) {
                return Ok((self.started.elapsed(), seen));
            }
            if Instant::now() >= self.deadline {
                bail!(
                    "timed out waiting for {text:?} on screen of VM '{}'; last OCR:\n{seen}",
                    self.config.name
                );
            }
            attempt += 1;
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Wait until the guest powers the machine off (QEMU exits by itself); returns the time
    /// since start. Fails at the VM's deadline.
    pub fn wait_exit(&mut self) -> Result<Duration> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("QEMU exited with {status}\n{}", self.console_tail());
                }
                return Ok(self.started.elapsed());
            }
            if Instant::now() >= self.deadline {
                bail!(
                    "timed out after {:?} waiting for VM '{}' to power off\n{}",
                    self.config.timeout,
                    self.config.name,
                    self.console_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop QEMU now (also done on drop).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

fn copy_serial(reader: &mut UnixStream, mut log_file: std::fs::File, sink: &SerialLog) {
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let _ = log_file.write_all(&buf[..n]);
                sink.bytes.lock().unwrap().extend_from_slice(&buf[..n]);
                sink.grew.notify_all();
            }
        }
    }
}

fn read_until_prompt(stream: &mut UnixStream) -> Result<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !out.ends_with(b"(qemu) ") {
        let n = stream.read(&mut buf).context("reading the QEMU monitor")?;
        if n == 0 {
            bail!("QEMU monitor closed");
        }
        out.extend_from_slice(&buf[..n]);
    }
    out.truncate(out.len() - b"(qemu) ".len());
    // The human monitor decorates its echo with terminal escapes; drop them.
    let text = String::from_utf8_lossy(&out).into_owned();
    Ok(strip_ansi(&text).replace('\r', ""))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_has_fresh_vars_sockets_and_disks() {
        let cfg = VmConfig::new("t", Firmware::Uefi)
            .disk(Disk::new("/tmp/a.img").usb().block_size(4096))
            .cdrom("/tmp/b.iso");
        let args = cfg.qemu_args(Path::new("/run/x")).join(" ");
        assert!(args.contains("-accel tcg"));
        assert!(args.contains("file=/run/x/OVMF_VARS.fd"));
        assert!(args.contains("path=/run/x/serial.sock,server=on,wait=on"));
        assert!(args.contains("qemu-xhci"));
        assert!(args.contains("usb-storage,bus=xhci.0,drive=disk0,logical_block_size=4096"));
        assert!(args.contains("ide-cd,drive=cd0,bootindex=1"));
        let bios = VmConfig::new("t", Firmware::Bios).qemu_args(Path::new("/r")).join(" ");
        assert!(!bios.contains("pflash"));
    }

    #[test]
    fn ansi_escapes_are_removed() {
        assert_eq!(strip_ansi("a\u{1b}[Kb\u{1b}[Dc"), "abc");
    }
}
