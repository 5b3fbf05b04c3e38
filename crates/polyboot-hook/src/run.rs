//! The hook's steps as PID 1 (guest only; the pieces they call are unit-tested).

use crate::cpio::{self, RootedFs};
use crate::discover::{self, BlockDisk, BlockPartition};
use crate::dm::{self, Table, TargetSpec};
use crate::{crypt, files, hints, modules, persist};
use polyboot_core::handoff::{
    embedded_file_name, DriveIdentity, Handoff, HandoffFile, PersistenceBackend, HANDOFF_PATH,
    MAX_FILE_SIZE, ORIGINAL_INITRDS_DIR,
};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the hook mounts proc, sysfs and devtmpfs: out of the way of the original initrd's own
/// `/sys` and `/dev` entries, which are unpacked into the rootfs as the kernel would.
/// devtmpfs is one shared instance, so what we create there (`mapper/polyboot`) is in the
/// `/dev` the original init mounts later.
const PROC: &str = "/polyboot/proc";
const SYS: &str = "/polyboot/sys";
const DEV: &str = "/polyboot/dev";

/// Name of the mapped image: `/dev/mapper/polyboot`.
pub const DM_NAME: &str = "polyboot";
/// How long to wait for the drive in total (`polyboot.wait=SECONDS` on the kernel command
/// line changes it), and before loading modules.
const WAIT_TOTAL: Duration = Duration::from_secs(20);
/// We run before any udev, so on most distributions the USB / disk drivers are modules that
/// nobody has loaded yet: load them as soon as the first scan misses the drive (already
/// loaded and built-in ones cost nothing).
const WAIT_BEFORE_MODULES: Duration = Duration::ZERO;

/// Log lines to /dev/kmsg (falling back to stderr before /dev exists).
pub struct Log {
    kmsg: Option<std::fs::File>,
}

impl Log {
    fn open(&mut self) {
        self.kmsg = std::fs::OpenOptions::new().write(true).open(format!("{DEV}/kmsg")).ok();
    }
    /// `level`: 3 error, 5 notice (shown on the console unless `quiet`), 6 info.
    pub fn say(&mut self, level: u8, msg: &str) {
        for line in msg.lines() {
            let text = format!("<{level}>polyboot: {line}\n");
            let ok = self.kmsg.as_mut().is_some_and(|k| k.write_all(text.as_bytes()).is_ok());
            if !ok {
                let _ = std::io::stderr().write_all(&text.as_bytes()[3..]);
            }
        }
    }
}

fn mount(src: &str, target: &str, fstype: &str) -> std::io::Result<()> {
    let _ = std::fs::create_dir_all(target);
    let (s, t, f) = (CString::new(src)?, CString::new(target)?, CString::new(fstype)?);
    // SAFETY: valid NUL-terminated strings; no data argument.
    let r = unsafe {
        libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), libc::MS_NOSUID, std::ptr::null())
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn umount(target: &str) {
    if let Ok(t) = CString::new(target) {
        // SAFETY: valid NUL-terminated path.
        unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
    }
}

fn kernel_release() -> String {
    // SAFETY: uname fills the zeroed struct; its fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr()).to_string_lossy().into_owned()
    }
}

/// `polyboot.wait=SECONDS` from the kernel command line, if present and valid.
pub fn wait_from_cmdline(cmdline: &str) -> Option<Duration> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("polyboot.wait="))
        .next_back()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Wait for the drive; load modules once if it is late. Returns the disk or says why not.
fn wait_for_disk(h: &Handoff, log: &mut Log) -> Result<BlockDisk, String> {
    let wait_total = std::fs::read_to_string(format!("{PROC}/cmdline"))
        .ok()
        .and_then(|c| wait_from_cmdline(&c))
        .unwrap_or(WAIT_TOTAL);
    let start = Instant::now();
    let mut loaded_modules = false;
    let mut last_rejected = Vec::new();
    loop {
        let (found, rejected) = discover::find_disk(&Path::new(SYS).join("block"), h, |d| {
            discover::open_disk_node(Path::new(DEV), d)
        });
        if let Some(d) = found {
            return Ok(d);
        }
        last_rejected = if rejected.is_empty() { last_rejected } else { rejected };
        if !loaded_modules && start.elapsed() >= WAIT_BEFORE_MODULES {
            loaded_modules = true;
            let rel = kernel_release();
            match modules::module_dir(Path::new("/"), &rel) {
                Some(dir) => {
                    let lines = modules::load_all(&dir, modules::WANTED);
                    log.say(
                        5,
                        &format!(
                            "drive not found yet; modules from {}: {}",
                            dir.display(),
                            lines.join("; ")
                        ),
                    );
                }
                None => {
                    log.say(5, &format!("drive not found yet, and no module tree for kernel {rel}"))
                }
            }
        }
        if start.elapsed() >= wait_total {
            let mut why = format!(
                "no disk of {} bytes with {} after {:?}",
                h.disk_size,
                describe(&h.identity),
                wait_total
            );
            for r in &last_rejected {
                why.push_str(&format!("; {}: {}", r.name, r.why));
            }
            return Err(why);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn describe(id: &DriveIdentity) -> String {
    match id {
        DriveIdentity::Gpt(g) => format!("GPT disk GUID {g}"),
        DriveIdentity::Mbr(s) => format!("MBR signature {s:08x}"),
    }
}

/// The drive the image was found on, and the partition the image is mapped through (the data
/// partition, when the kernel lists it and it holds every extent).
pub struct Mapped {
    pub disk: BlockDisk,
    pub partition: Option<BlockPartition>,
}

/// `/dev/mapper/control`, loading dm-mod or making the node when missing.
fn dm_control(log: &mut Log) -> std::path::PathBuf {
    let control = std::path::PathBuf::from(format!("{DEV}/mapper/control"));
    if !control.exists() {
        // dm-mod is a module on most distributions: load it even when the disk was there.
        if let Some(dir) = modules::module_dir(Path::new("/"), &kernel_release()) {
            log.say(6, &modules::load_all(&dir, &["dm_mod"]).join("; "));
        }
    }
    if !control.exists() {
        // devtmpfs makes it once dm-mod is loaded; make it ourselves if not (misc 10:236).
        let _ = std::fs::create_dir_all(format!("{DEV}/mapper"));
        if let Ok(c) = CString::new(format!("{DEV}/mapper/control")) {
            // SAFETY: valid path.
            unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(10, 236)) };
        }
    }
    control
}

/// What udev would do: `/dev/mapper/NAME -> ../dm-N` (devtmpfs made `/dev/dm-N`).
fn mapper_link(name: &str, minor: u32, log: &mut Log) {
    let link = format!("{DEV}/mapper/{name}");
    let _ = std::fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink(format!("../dm-{minor}"), &link) {
        log.say(3, &format!("{link}: {e}"));
    }
}

fn identity_text(id: &DriveIdentity) -> String {
    match id {
        DriveIdentity::Gpt(g) => g.to_string(),
        DriveIdentity::Mbr(s) => format!("{s:08x}"),
    }
}

fn map_image(h: &Handoff, log: &mut Log) -> Result<Mapped, String> {
    let disk = wait_for_disk(h, log)?;
    log.say(5, &format!("drive is /dev/{} ({}:{})", disk.name, disk.major, disk.minor));
    // Map through the data partition when the kernel lists it and it holds every extent, so
    // the drive's boot partition stays mountable; else through the whole disk.
    let image_end =
        h.extents.iter().map(|e| e.disk_offset + e.len.next_multiple_of(512)).max().unwrap_or(0);
    let partition =
        discover::find_partition(&Path::new(SYS).join("block"), &disk, h.partition_offset);
    let table = match &partition {
        Some(p) if image_end <= p.start + p.size => {
            log.say(
                6,
                &format!(
                    "mapping through the data partition /dev/{} ({}:{})",
                    p.name, p.major, p.minor
                ),
            );
            Table::for_image_on(h, p.major, p.minor, p.start)
        }
        _ => Table::for_image(h, disk.major, disk.minor),
    };
    let text = table.to_string();
    let first: Vec<&str> = text.lines().take(4).collect();
    log.say(
        6,
        &format!(
            "table: {} targets, {} sectors: {}{}",
            table.targets.len(),
            table.sectors(),
            first.join(", "),
            if table.targets.len() > 4 { ", ..." } else { "" }
        ),
    );
    let control = dm_control(log);
    let uuid = format!("POLYBOOT-{}", identity_text(&h.identity));
    let (major, minor) = dm::create_linear(&control, DM_NAME, &uuid, &table)
        .map_err(|e| format!("device-mapper: {e}"))?;
    mapper_link(DM_NAME, minor, log);
    log.say(
        5,
        &format!(
            "mapped the image read-only as /dev/mapper/{DM_NAME} (dm-{minor}, {major}:{minor})"
        ),
    );
    Ok(Mapped { disk, partition })
}

/// Place each file the boot manager handed over (files.rs), one log line each: those it
/// embedded in the wrapped initrd (no extents: `polyboot/files/NNNN`) whether or not the drive
/// was found, the others read from the drive when `mapped` says where it is.
fn place_files(h: &Handoff, mapped: Option<&Mapped>, embedded_pass: bool, log: &mut Log) {
    let is_embedded = |f: &HandoffFile| f.extents.is_empty();
    if !h.files.iter().any(|f| is_embedded(f) == embedded_pass) {
        return;
    }
    let mut disk = match mapped {
        Some(m) if !embedded_pass => match discover::node_path(Path::new(DEV), &m.disk)
            .and_then(|p| discover::FileDev::open(&p, m.disk.size_bytes))
        {
            Ok(d) => Some(d),
            Err(e) => {
                log.say(3, &format!("files: cannot open /dev/{}: {e}", m.disk.name));
                return;
            }
        },
        _ => None,
    };
    let boot_drive = mapped.map_or("", |m| m.disk.name.as_str());
    let facts = files::disk_facts(&Path::new(SYS).join("block"), boot_drive);
    let budget = unpack_budget();
    let limit = MAX_FILE_SIZE.min(budget as u64);
    for (i, f) in h.files.iter().enumerate().filter(|(_, f)| is_embedded(f) == embedded_pass) {
        let data = if embedded_pass {
            read_embedded(i, f)
        } else if let Some(d) = disk.as_mut() {
            files::read_file(d, f, limit)
        } else {
            Err(String::from("the drive was not found"))
        };
        let r = data.and_then(|data| files::place(Path::new("/"), f, &data, &facts, budget, true));
        match r {
            Ok(line) => log.say(5, &line),
            Err(e) => log.say(3, &format!("{} {}: {e}", f.action, f.source)),
        }
    }
}

/// The bytes of the `index`-th file, embedded in the wrapped initrd (none for an empty file).
fn read_embedded(index: usize, f: &HandoffFile) -> Result<Vec<u8>, String> {
    if f.size == 0 {
        return Ok(Vec::new());
    }
    let path = Path::new("/").join(embedded_file_name(index));
    let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&path);
    if data.len() as u64 != f.size {
        return Err(format!(
            "{}: {} bytes, the record says {}",
            path.display(),
            data.len(),
            f.size
        ));
    }
    Ok(data)
}

/// Map the persistence backend read-write as `/dev/mapper/polyboot-persist` (through
/// crypt.rs when it is LUKS2); returns that device's minor number.
fn map_persistence(
    h: &Handoff,
    p: &PersistenceBackend,
    m: &Mapped,
    log: &mut Log,
) -> Result<u32, String> {
    let (major, minor, base) = match &m.partition {
        Some(part) if persist::within(p, part.start, part.size) => {
            (part.major, part.minor, part.start)
        }
        _ => (m.disk.major, m.disk.minor, 0),
    };
    let table = persist::backend_table(p, major, minor, base);
    let params: Vec<String> = table.targets.iter().map(|t| table.params(t)).collect();
    let specs: Vec<TargetSpec> = table
        .targets
        .iter()
        .zip(&params)
        .map(|(t, params)| TargetSpec { start: t.start, length: t.length, kind: "linear", params })
        .collect();
    let control = dm_control(log);
    let id = identity_text(&h.identity);
    let name = if p.encrypted { crypt::RAW_NAME } else { persist::PERSIST_NAME };
    let (dm_major, dm_minor) =
        dm::create_device_with(&control, name, &format!("POLYBOOT-{name}-{id}"), false, &specs)
            .map_err(|e| format!("device-mapper: {e}"))?;
    mapper_link(name, dm_minor, log);
    log.say(
        5,
        &format!(
            "mapped the persistence backend {} ({} bytes, {} targets) read-write as /dev/mapper/{name} (dm-{dm_minor}, {dm_major}:{dm_minor})",
            p.path,
            p.size,
            table.targets.len()
        ),
    );
    if !p.encrypted {
        return Ok(dm_minor);
    }
    let release = kernel_release();
    let target = crypt::LuksTarget {
        dev_dir: Path::new(DEV),
        proc_dir: Path::new(PROC),
        sys_dir: Path::new(SYS),
        control: &control,
        raw: (dm_major, dm_minor),
        raw_size: table.sectors() * 512,
        backend: &p.path,
        kernel_release: &release,
    };
    crypt::open_luks(&target, log).map(|(_, minor)| minor)
}

/// The file system on `dm-<minor>` (its first 4 KiB, through core fsprobe).
fn probe_fs(minor: u32) -> Option<polyboot_core::fsprobe::FsInfo> {
    use std::io::Read;
    let mut head = Vec::with_capacity(polyboot_core::fsprobe::PROBE_BYTES);
    std::fs::File::open(format!("{DEV}/dm-{minor}"))
        .ok()?
        .take(polyboot_core::fsprobe::PROBE_BYTES as u64)
        .read_to_end(&mut head)
        .ok()?;
    polyboot_core::fsprobe::probe(&head)
}

/// Persistence: map the backend, look at its file system, make dracut's directories when
/// dracut is to use it. The minor number and label for the hints, or why there is none.
fn set_up_persistence(
    h: &Handoff,
    p: &PersistenceBackend,
    m: &Mapped,
    cmdline: &str,
    log: &mut Log,
) -> Result<(Option<String>, Result<(), String>), String> {
    let minor = map_persistence(h, p, m, log)?;
    let fs = probe_fs(minor);
    match &fs {
        Some(f) => log.say(
            5,
            &format!(
                "persistence: {} file system labelled {:?}{}",
                f.kind.name(),
                f.label,
                f.size.map(|s| format!(", {s} bytes")).unwrap_or_default()
            ),
        ),
        None => log.say(4, "persistence: no ext2/3/4 or XFS file system on the backend"),
    }
    let dracut_dirs = if hints::dracut_wants_overlay(Path::new("/"), cmdline) {
        let fstype = match fs.as_ref().map(|f| f.kind) {
            Some(k) if k.is_ext() => Ok("ext4"),
            Some(polyboot_core::fsprobe::FsKind::Xfs) => Ok("xfs"),
            _ => Err(String::from("no file system dracut's overlay can use")),
        };
        fstype.and_then(|t| {
            persist::ensure_overlay_dirs(
                Path::new(&format!("{DEV}/dm-{minor}")),
                t,
                Path::new("/polyboot/persist"),
                Path::new(PROC),
                &kernel_release(),
            )
            .map(|did| log.say(5, &format!("persistence for dracut: {did}")))
        })
    } else {
        Err(String::from("not needed"))
    };
    Ok((fs.map(|f| f.label), dracut_dirs))
}

/// The original initrds the wrapped files carried, in name (= load) order.
fn original_initrds() -> Result<Vec<std::path::PathBuf>, String> {
    let dir = Path::new("/").join(ORIGINAL_INITRDS_DIR);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{} is empty", dir.display()));
    }
    Ok(files)
}

/// How many bytes the original initrds may decompress to: what the kernel reports available
/// (the rootfs they unpack into is RAM), less a margin for the system that boots from them;
/// a fixed guess when /proc is not there.
fn unpack_budget() -> usize {
    let available =
        std::fs::read_to_string(format!("{PROC}/meminfo")).ok().and_then(|m| mem_available(&m));
    available.map_or(1 << 30, |bytes| (bytes / 4 * 3) as usize)
}

/// `MemAvailable` from /proc/meminfo, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn unpack_original(path: &Path, log: &mut Log) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // Free the page cache copy before unpacking doubles the memory in use.
    let _ = std::fs::remove_file(path);
    let mut fs = RootedFs { root: "/".into(), chown: true };
    let r = cpio::unpack_initramfs(&data, &mut fs, unpack_budget());
    match r {
        Ok(rep) => {
            let streams: Vec<String> = rep.streams.iter().map(|s| s.to_string()).collect();
            log.say(5, &format!(
                "unpacked the original initrd {}: {} bytes, {} archives, {} entries, compressed streams: [{}]",
                path.display(),
                data.len(),
                rep.archives,
                rep.entries,
                streams.join(", ")
            ));
            if !rep.warnings.is_empty() {
                let shown: Vec<&str> = rep.warnings.iter().take(5).map(String::as_str).collect();
                log.say(
                    4,
                    &format!(
                        "{} warnings: {}{}",
                        rep.warnings.len(),
                        shown.join("; "),
                        if rep.warnings.len() > 5 { "; ..." } else { "" }
                    ),
                );
            }
            Ok(())
        }
        Err(e) => Err(format!("unpacking the original initrd {}: {e}", path.display())),
    }
}

pub fn main() -> ! {
    let mut log = Log { kmsg: None };
    // SAFETY: plain syscall.
    unsafe { libc::umask(0) };
    let init_before = std::fs::metadata("/init").map(|m| (m.dev(), m.ino())).ok();
    let mut mounted = Vec::new();
    for (src, target, fstype) in
        [("proc", PROC, "proc"), ("sysfs", SYS, "sysfs"), ("devtmpfs", DEV, "devtmpfs")]
    {
        match mount(src, target, fstype) {
            Ok(()) => mounted.push(target),
            Err(e) => log.say(3, &format!("mount {fstype} on {target}: {e}")),
        }
    }
    log.open();
    // /dev/kmsg rate-limits writers to a burst of 10 lines; lift that while we run and put
    // the kernel's setting back before exec (printk.devkmsg= on the command line wins).
    let devkmsg = format!("{PROC}/sys/kernel/printk_devkmsg");
    let devkmsg_before = std::fs::read_to_string(&devkmsg).ok();
    if devkmsg_before.as_deref().map(str::trim) == Some("ratelimit") {
        let _ = std::fs::write(&devkmsg, "on\n");
    }
    log.say(5, &format!("polyboot-hook {} starting", polyboot_core::VERSION));

    let handoff = std::fs::read(Path::new("/").join(HANDOFF_PATH))
        .map_err(|e| format!("/{HANDOFF_PATH}: {e}"))
        .and_then(|b| Handoff::decode(&b).map_err(|e| format!("/{HANDOFF_PATH}: {e}")));
    match &handoff {
        Ok(h) => {
            log.say(
                5,
                &format!(
                    "hand-off: {}, disk {} bytes, image {} bytes in {} extents{}{}",
                    describe(&h.identity),
                    h.disk_size,
                    h.image_size,
                    h.extents.len(),
                    h.persistence.as_ref().map_or(String::new(), |p| format!(
                        ", persistence backend {}{}",
                        p.path,
                        if p.encrypted { " (LUKS2)" } else { "" }
                    )),
                    if h.files.is_empty() {
                        String::new()
                    } else {
                        format!(", {} files", h.files.len())
                    }
                ),
            );
            if !h.added_params.is_empty() {
                log.say(
                    5,
                    &format!("the boot manager added kernel parameters: {}", h.added_params),
                );
            }
        }
        Err(e) => log.say(3, e),
    }

    match original_initrds() {
        Ok(files) => {
            for f in files {
                if let Err(e) = unpack_original(&f, &mut log) {
                    log.say(3, &e);
                }
            }
        }
        Err(e) => log.say(3, &format!("no original initrd: {e}")),
    }

    if let Ok(h) = &handoff {
        // Files the boot manager embedded need no drive: placed even when it is not found.
        place_files(h, None, true, &mut log);
        match map_image(h, &mut log) {
            Ok(m) => {
                let cmdline =
                    std::fs::read_to_string(format!("{PROC}/cmdline")).unwrap_or_default();
                // Files first: an injected file may be one the hints below append to.
                place_files(h, Some(&m), false, &mut log);
                let persistence = h.persistence.as_ref().and_then(|p| {
                    set_up_persistence(h, p, &m, &cmdline, &mut log)
                        .map_err(|e| log.say(3, &format!("persistence {}: not used: {e}", p.path)))
                        .ok()
                });
                let device = format!("/dev/mapper/{}", persist::PERSIST_NAME);
                let backend = persistence.map(|(label, dracut_dirs)| (device, label, dracut_dirs));
                let backend = backend.as_ref().map(|(device, label, dracut_dirs)| hints::Backend {
                    device,
                    label: label.as_deref(),
                    dracut_dirs: dracut_dirs.clone(),
                });
                match hints::apply(
                    Path::new("/"),
                    &cmdline,
                    &format!("/dev/mapper/{DM_NAME}"),
                    backend.as_ref(),
                ) {
                    Ok(done) => done.iter().for_each(|d| log.say(5, d)),
                    Err(e) => log.say(3, &format!("writing the init family's hints: {e}")),
                }
            }
            Err(e) => log.say(3, &format!("the image is not mapped: {e}")),
        }
        match files::carry_run(Path::new("/")) {
            Ok(Some(line)) => log.say(5, &line),
            Ok(None) => {}
            Err(e) => log.say(3, &format!("files for /run: {e}")),
        }
    }

    if let Some(before) = devkmsg_before {
        let _ = std::fs::write(&devkmsg, before);
    }
    for target in mounted.iter().rev() {
        umount(target);
    }

    let args: Vec<String> = std::env::args().collect();
    let argv0 = args.first().cloned().unwrap_or_else(|| "/init".into());
    let replaced = std::fs::metadata("/init").map(|m| (m.dev(), m.ino())).ok() != init_before;
    let candidates: &[&str] = if replaced {
        &["/init", "/sbin/init", "/etc/init", "/bin/init", "/bin/sh"]
    } else {
        &["/sbin/init", "/etc/init", "/bin/init", "/bin/sh"]
    };
    if !replaced {
        log.say(3, "the original initrd has no /init of its own");
    }
    for c in candidates {
        log.say(5, &format!("exec {c}"));
        let e = std::process::Command::new(c)
            .arg0(if *c == "/init" { argv0.as_str() } else { c })
            .args(&args[args.len().min(1)..])
            .exec();
        log.say(3, &format!("exec {c}: {e}"));
    }
    log.say(3, "nothing left to run");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_available_from_meminfo() {
        let m = "MemTotal:        1004032 kB\nMemFree:          812000 kB\nMemAvailable:     900000 kB\n";
        assert_eq!(mem_available(m), Some(900000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
    }

    #[test]
    fn wait_option_from_the_kernel_command_line() {
        assert_eq!(
            wait_from_cmdline("console=ttyS0 polyboot.wait=5 quiet\n"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            wait_from_cmdline("polyboot.wait=5 polyboot.wait=60"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(wait_from_cmdline("polyboot.wait=soon"), None);
        assert_eq!(wait_from_cmdline("xpolyboot.wait=5"), None);
        assert_eq!(wait_from_cmdline(""), None);
    }
}
