//! The files the boot manager hands over (hand-off record version 2, File sections): read from
//! the drive by their extents and placed in the initramfs before the original `/init` runs.
//!
//! - Copy: the bytes at the target path (a driver update disk, a kickstart file, ...).
//! - Template: Ventoy's `$$VT_…$$` variables expanded first (core `autoinstall_vars`), from
//!   the disks in `/sys/block` ([`disk_facts`]).
//! - Inject: a tar archive, plain or compressed (gzip, xz, bzip2, lzma, zstd, lz4: sniffed by
//!   magic with [`crate::decompress`]), read whole by core `tar` (which refuses absolute and
//!   `..` paths and writing through the archive's own symlinks) and extracted over `/`.
//!
//! Sizes are bounded by the record (256 MiB a file) and by the memory the kernel reports.
//!
//! Targets under `/run/` (core `installer::RUN_DIR`: cloud-init's NoCloud seed for Ubuntu's
//! installer) are for the booted system: every init mounts a fresh tmpfs on `/run` and moves
//! it onto the real root at the switch, so they wait in [`RUN_STAGING`] and [`carry_run`] has
//! the init copy them in once its `/run` is mounted.

use crate::cpio::{Fs, RootedFs};
use crate::decompress::{self, Format};
use polyboot_core::autoinstall_vars::{self, DiskFact, VarUse};
use polyboot_core::block::{self, ReadAt};
use polyboot_core::handoff::{FileAction, HandoffFile};
use polyboot_core::installer;
use polyboot_core::tar;
use std::path::Path;

/// The file's bytes from the drive (`disk` is the whole disk: extents hold absolute offsets):
/// `size` bytes, those past the extents (past an exFAT file's valid data length) zeros.
pub fn read_file<D: ReadAt + ?Sized>(
    disk: &mut D,
    f: &HandoffFile,
    limit: u64,
) -> Result<Vec<u8>, String> {
    if f.size > limit {
        return Err(format!("{} bytes is more than the {limit} bytes allowed here", f.size));
    }
    let pieces = f.extents.iter().map(|e| (e.file_offset, e.disk_offset, e.len));
    block::read_pieces(disk, f.size, pieces)
        .map_err(|(at, n, err)| format!("reading {n} bytes at {at}: {err}"))
}

/// Disks as Ventoy's variables see them: every `/sys/block` entry but loop, RAM,
/// device-mapper, optical and zram devices (vtoyexpand.c leaves out the first four), in name
/// order; USB when the device's sysfs path goes through a USB device (as vtoyexpand.c tells);
/// `boot_drive` is the polyboot drive's kernel name.
pub fn disk_facts(sys_block: &Path, boot_drive: &str) -> Vec<DiskFact> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(sys_block) else { return out };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let skip = ["loop", "ram", "dm-", "zram", "."].iter().any(|p| name.starts_with(p))
            || (name.starts_with("sr") && name[2..].bytes().all(|b| b.is_ascii_digit()));
        if skip {
            continue;
        }
        let size = std::fs::read_to_string(e.path().join("size"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(0, |s| s.saturating_mul(512));
        let usb = std::fs::read_link(e.path())
            .map(|t| t.to_string_lossy().contains("/usb"))
            .unwrap_or(false);
        out.push(DiskFact { is_boot_drive: name == boot_drive, name, size, usb });
    }
    out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    out
}

/// The target path's place under `root` (the record checked it is absolute and normalised).
fn under(root: &Path, target: &str) -> std::path::PathBuf {
    root.join(target.trim_start_matches('/'))
}

/// Where a target is written in the initramfs: `/run/...` ones wait under [`RUN_STAGING`].
fn staged(target: &str) -> String {
    match target.strip_prefix(installer::RUN_DIR) {
        Some(rest) => format!("{RUN_STAGING}/{rest}"),
        None => target.to_string(),
    }
}

fn write_target(root: &Path, target: &str, data: &[u8]) -> Result<(), String> {
    let target = &staged(target);
    let path = under(root, target);
    if let Some(parent) = path.parent() {
        mkdirs(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let mut fs = RootedFs { root: root.to_path_buf(), chown: false };
    fs.write_file(Path::new(target.trim_start_matches('/')), 0o644, data)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `create_dir_all` with mode 0755 whatever the umask (the hook runs with umask 0).
fn mkdirs(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o755).create(p)
}

/// Place `data` (the file's bytes) in the initramfs at `root`; returns the log line.
pub fn place(
    root: &Path,
    f: &HandoffFile,
    data: &[u8],
    disks: &[DiskFact],
    budget: usize,
    chown: bool,
) -> Result<String, String> {
    match f.action {
        FileAction::Copy => {
            write_target(root, &f.target, data)?;
            Ok(format!("copy {} -> {} ({} bytes)", f.source, f.target, data.len()))
        }
        FileAction::Template => {
            let (text, uses) = autoinstall_vars::expand(data, disks);
            write_target(root, &f.target, &text)?;
            let shown: Vec<String> = uses.iter().take(6).map(VarUse::to_string).collect();
            Ok(format!(
                "template {} -> {} ({} bytes{}{}{})",
                f.source,
                f.target,
                text.len(),
                if uses.is_empty() { "" } else { "; " },
                shown.join("; "),
                if uses.len() > 6 { format!("; {} more", uses.len() - 6) } else { String::new() }
            ))
        }
        FileAction::Inject => {
            let (what, report) = inject(root, data, budget, chown)?;
            let mut line = format!(
                "inject {} ({what}): {} entries extracted over /",
                f.source, report.extracted
            );
            if !report.warnings.is_empty() {
                let shown: Vec<&str> = report.warnings.iter().take(4).map(String::as_str).collect();
                line.push_str(&format!(
                    "; {} warnings: {}{}",
                    report.warnings.len(),
                    shown.join("; "),
                    if report.warnings.len() > 4 { "; ..." } else { "" }
                ));
            }
            Ok(line)
        }
    }
}

/// What an injection did.
#[derive(Debug, Default)]
pub struct Injected {
    pub extracted: usize,
    pub warnings: Vec<String>,
}

/// Extract the (possibly compressed) tar archive `data` over `root`, the decompressed archive
/// and its files bounded by `budget` bytes. Returns the format ("gzip tar") and what was done.
pub fn inject(
    root: &Path,
    data: &[u8],
    budget: usize,
    chown: bool,
) -> Result<(String, Injected), String> {
    let format = decompress::detect(data);
    let plain;
    let (archive, what): (&[u8], String) = match format {
        None => (data, String::from("tar")),
        Some(Format::Cpio) => return Err(String::from("a cpio archive, not tar")),
        Some(f) => {
            let (out, _) = decompress::decompress(f, data, budget).map_err(|e| e.to_string())?;
            plain = out;
            (&plain, format!("{f} tar"))
        }
    };
    let limits = tar::Limits { max_total_size: budget as u64, ..tar::Limits::default() };
    let parsed = tar::parse(archive, &limits).map_err(|e| e.to_string())?;
    let mut fs = RootedFs { root: root.to_path_buf(), chown };
    let mut done = Injected { warnings: parsed.warnings, ..Injected::default() };
    for e in &parsed.entries {
        let rel = Path::new(&e.path);
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Archives need not list the directories above their files.
            if let Err(err) = mkdirs(&root.join(parent)) {
                done.warnings.push(format!("{}: {err}", parent.display()));
                continue;
            }
        }
        // An existing symlink to a directory stays, owner and all (GNU tar's
        // --keep-directory-symlink): an archive of `bin/...` must not replace a merged-usr
        // `/bin -> usr/bin` with a directory holding only its own files.
        if e.kind == tar::EntryKind::Dir && is_dir_symlink(&root.join(rel)) {
            done.extracted += 1;
            continue;
        }
        let r = match &e.kind {
            tar::EntryKind::File(bytes) => fs.write_file(rel, e.mode, bytes),
            tar::EntryKind::Dir => fs.mkdir(rel, e.mode),
            tar::EntryKind::Symlink(target) => fs.symlink(target.as_bytes(), rel),
            tar::EntryKind::HardLink(target) => fs.hard_link(Path::new(target), rel),
        };
        match r {
            Ok(()) => {
                done.extracted += 1;
                let ids = (u32::try_from(e.uid), u32::try_from(e.gid));
                if let (Ok(uid), Ok(gid)) = ids {
                    if let Err(err) = fs.set_owner(rel, uid, gid) {
                        done.warnings.push(format!("{}: owner: {err}", e.path));
                    }
                }
            }
            Err(err) => done.warnings.push(format!("{}: {err}", e.path)),
        }
    }
    Ok((what, done))
}

fn is_dir_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) && p.is_dir()
}

/// Files for the booted system's `/run`, kept in the initramfs until its init mounts `/run`.
pub const RUN_STAGING: &str = "/.polyboot-run";
/// The copy each init runs once its `/run` is mounted (busybox / coreutils `cp`).
const RUN_COPY: &str = "cp -a /.polyboot-run/. /run/";
/// initramfs-tools: a script in `init-bottom`, the last stage before `/run` is moved onto the
/// real root; `run_scripts` only runs what the stage's `ORDER` file lists (and sources it).
const ITOOLS_SCRIPT: &str = "scripts/init-bottom/polyboot-run";
const ITOOLS_ORDER: &str = "scripts/init-bottom/ORDER";
/// dracut: a `pre-pivot` hook (sourced; `/lib` is a link to `usr/lib` on merged systems).
const DRACUT_HOOK_DIRS: [&str; 2] = ["usr/lib/dracut/hooks", "lib/dracut/hooks"];
const DRACUT_RUN_HOOK: &str = "pre-pivot/99-polyboot-run.sh";
/// mkinitcpio mounts `/run` before it sources `/config`, which runs before its hooks.
const MKINITCPIO_INIT_FUNCTIONS: &str = "init_functions";
const MKINITCPIO_CONFIG: &str = "config";

/// Have the init copy [`RUN_STAGING`] into its `/run` (initramfs-tools, dracut, mkinitcpio);
/// an init of no known family gets the files in the initramfs' own `/run` now. Returns the
/// log line, or `None` when no file waits.
pub fn carry_run(root: &Path) -> Result<Option<String>, String> {
    let staging = under(root, RUN_STAGING);
    if !staging.is_dir() {
        return Ok(None);
    }
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let how = if root.join("scripts/functions").is_file() {
        let script = root.join(ITOOLS_SCRIPT);
        mkdirs(script.parent().unwrap_or(root)).map_err(|e| io(ITOOLS_SCRIPT, e))?;
        let body = format!(
            "#!/bin/sh\n# polyboot-hook: files for the booted system's /run.\n\
             case \"$1\" in prereqs) exit 0 ;; esac\n{RUN_COPY}\n"
        );
        write_mode(&script, body.as_bytes(), 0o755).map_err(|e| io(ITOOLS_SCRIPT, e))?;
        let line =
            format!("/{ITOOLS_SCRIPT} \"$@\"\n[ -e /conf/param.conf ] && . /conf/param.conf\n");
        append(&root.join(ITOOLS_ORDER), &line).map_err(|e| io(ITOOLS_ORDER, e))?;
        format!("initramfs-tools' init-bottom (/{ITOOLS_SCRIPT})")
    } else if let Some(hooks) = DRACUT_HOOK_DIRS.iter().map(|d| root.join(d)).find(|d| d.is_dir()) {
        let hook = hooks.join(DRACUT_RUN_HOOK);
        mkdirs(hook.parent().unwrap_or(root)).map_err(|e| io(DRACUT_RUN_HOOK, e))?;
        let body = format!("# polyboot-hook: files for the booted system's /run.\n{RUN_COPY}\n");
        write_mode(&hook, body.as_bytes(), 0o644).map_err(|e| io(DRACUT_RUN_HOOK, e))?;
        format!("dracut's pre-pivot hook ({DRACUT_RUN_HOOK})")
    } else if root.join(MKINITCPIO_INIT_FUNCTIONS).is_file() {
        let line = format!("# polyboot-hook: files for the booted system's /run.\n{RUN_COPY}\n");
        append(&root.join(MKINITCPIO_CONFIG), &line).map_err(|e| io(MKINITCPIO_CONFIG, e))?;
        String::from("mkinitcpio's /config")
    } else {
        copy_tree(&staging, &root.join("run")).map_err(|e| io("/run", e))?;
        String::from("copied now into the initramfs' /run (init of no known family)")
    };
    let mut names = Vec::new();
    list_files(&staging, "/run", &mut names);
    names.sort();
    Ok(Some(format!("for /run: {} by {how}", names.join(", "))))
}

fn write_mode(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, data)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(text.as_bytes())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    mkdirs(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

/// The files under `dir`, named as `prefix/...`.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            list_files(&e.path(), &name, out);
        } else {
            out.push(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyboot_core::block::MemDevice;
    use polyboot_core::handoff::DiskExtent;
    use std::process::Command;

    fn file(
        action: FileAction,
        target: &str,
        size: u64,
        extents: &[(u64, u64, u64)],
    ) -> HandoffFile {
        HandoffFile {
            action,
            size,
            extents: extents
                .iter()
                .map(|&(file_offset, disk_offset, len)| DiskExtent {
                    file_offset,
                    disk_offset,
                    len,
                })
                .collect(),
            target: target.into(),
            source: "/ventoy/src".into(),
        }
    }

    #[test]
    fn reads_extents_and_zero_fills_past_them() {
        let mut disk = MemDevice::new(1 << 20);
        disk.data[0x1_0000..0x1_0200].fill(b'a');
        disk.data[0x3_0000..0x3_0200].fill(b'b');
        // 1300 bytes: 512 from the first extent, 512 (of a cluster's 4096) from the second,
        // the rest beyond the valid data length.
        let f = file(FileAction::Copy, "/x", 1300, &[(0, 0x1_0000, 512), (512, 0x3_0000, 4096)]);
        let got = read_file(&mut disk, &f, 1 << 20).unwrap();
        assert_eq!(got.len(), 1300);
        assert!(got[..512].iter().all(|&b| b == b'a'));
        assert!(got[512..1024].iter().all(|&b| b == b'b'));
        assert!(got[1024..].iter().all(|&b| b == 0));
        assert!(read_file(&mut disk, &f, 1000).unwrap_err().contains("more than"));
        let past = file(FileAction::Copy, "/x", 512, &[(0, (1 << 20) - 256, 512)]);
        assert!(read_file(&mut disk, &past, 1 << 20).is_err());
        let empty = file(FileAction::Copy, "/x", 0, &[]);
        assert!(read_file(&mut disk, &empty, 0).unwrap().is_empty());
    }

    /// A /sys/block tree like the kernel's: entries are symlinks into /sys/devices.
    fn fake_sys(root: &Path, disks: &[(&str, u64, &str)]) -> std::path::PathBuf {
        let block = root.join("block");
        std::fs::create_dir_all(&block).unwrap();
        for (name, sectors, via) in disks {
            let dev = root.join("devices").join(via).join("block").join(name);
            std::fs::create_dir_all(&dev).unwrap();
            std::fs::write(dev.join("size"), format!("{sectors}\n")).unwrap();
            std::os::unix::fs::symlink(&dev, block.join(name)).unwrap();
        }
        block
    }

    #[test]
    fn disk_facts_from_sys_block() {
        let t = tempfile::tempdir().unwrap();
        let block = fake_sys(
            t.path(),
            &[
                ("sdb", 2048, "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host3/target3:0:0/3:0:0:0"),
                ("sda", 4096, "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"),
                ("nvme0n1", 8192, "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0"),
                ("loop0", 100, "virtual"),
                ("dm-0", 100, "virtual"),
                ("sr0", 100, "pci0000:00/ata2"),
                ("zram0", 100, "virtual"),
                ("srx", 100, "virtual"),
            ],
        );
        let facts = disk_facts(&block, "sdb");
        let names: Vec<&str> = facts.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["nvme0n1", "sda", "sdb", "srx"]);
        assert_eq!(
            facts[2],
            DiskFact { name: "sdb".into(), size: 2048 * 512, usb: true, is_boot_drive: true }
        );
        assert!(!facts[0].usb && !facts[1].usb && !facts[1].is_boot_drive);
        assert!(disk_facts(&t.path().join("none"), "sda").is_empty());
    }

    #[test]
    fn copy_and_template_are_written_with_their_directories() {
        let t = tempfile::tempdir().unwrap();
        let disks = vec![
            DiskFact { name: "sda".into(), size: 32 << 30, usb: true, is_boot_drive: true },
            DiskFact { name: "sdb".into(), size: 500 << 30, usb: false, is_boot_drive: false },
        ];
        let f = file(FileAction::Template, "/etc/preseed/auto.cfg", 0, &[]);
        let tpl =
            b"d-i partman-auto/disk string /dev/$$VT_LINUX_DISK_SDX_1ST_NONVTOY$$\n# $$VT_NOPE$$\n";
        let line = place(t.path(), &f, tpl, &disks, 1 << 20, false).unwrap();
        assert_eq!(
            std::fs::read(t.path().join("etc/preseed/auto.cfg")).unwrap(),
            b"d-i partman-auto/disk string /dev/sdb\n# $$VT_NOPE$$\n"
        );
        assert!(
            line.starts_with("template /ventoy/src -> /etc/preseed/auto.cfg (52 bytes; "),
            "{line}"
        );
        assert!(
            line.contains("$$VT_LINUX_DISK_SDX_1ST_NONVTOY$$ = sdb") && line.contains("unknown"),
            "{line}"
        );
        // Copy replaces what the original initrd had there.
        std::fs::write(t.path().join("ks.cfg"), b"old").unwrap();
        let f = file(FileAction::Copy, "/ks.cfg", 0, &[]);
        assert_eq!(
            place(t.path(), &f, b"$$VT_LINUX_DISK_MAX_SIZE$$", &disks, 1 << 20, false).unwrap(),
            "copy /ventoy/src -> /ks.cfg (26 bytes)"
        );
        assert_eq!(std::fs::read(t.path().join("ks.cfg")).unwrap(), b"$$VT_LINUX_DISK_MAX_SIZE$$");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(t.path().join("ks.cfg")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    fn gnu_tar(dir: &Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new("tar").current_dir(dir).args(args).output().expect("GNU tar");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    #[test]
    fn injects_plain_gzip_and_xz_archives_made_by_gnu_tar() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("etc/polyboot")).unwrap();
        std::fs::write(src.path().join("etc/polyboot/marker"), b"injected\n").unwrap();
        std::fs::create_dir_all(src.path().join("usr/bin")).unwrap();
        std::fs::write(src.path().join("usr/bin/hello"), b"#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(
            src.path().join("usr/bin/hello"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("polyboot/marker", src.path().join("etc/marker-link")).unwrap();
        for (flag, want) in [("-cf", "tar"), ("-czf", "gzip tar"), ("-cJf", "xz tar")] {
            // Only the files, not their directories: the hook makes those.
            let bytes = gnu_tar(
                src.path(),
                &[
                    flag,
                    "-",
                    "--no-recursion",
                    "etc/polyboot/marker",
                    "usr/bin/hello",
                    "etc/marker-link",
                ],
            );
            let root = tempfile::tempdir().unwrap();
            // The initramfs already has /usr/bin as a real directory with other files.
            std::fs::create_dir_all(root.path().join("usr/bin")).unwrap();
            std::fs::write(root.path().join("usr/bin/busybox"), b"bb").unwrap();
            let (what, done) = inject(root.path(), &bytes, 1 << 26, false).unwrap();
            assert_eq!(what, want);
            assert_eq!(done.extracted, 3, "{:?}", done.warnings);
            assert!(done.warnings.is_empty(), "{:?}", done.warnings);
            assert_eq!(
                std::fs::read(root.path().join("etc/polyboot/marker")).unwrap(),
                b"injected\n"
            );
            assert_eq!(std::fs::read(root.path().join("etc/marker-link")).unwrap(), b"injected\n");
            let m = std::fs::metadata(root.path().join("usr/bin/hello")).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o755);
            assert_eq!(std::fs::read(root.path().join("usr/bin/busybox")).unwrap(), b"bb");
            let f = file(FileAction::Inject, "", bytes.len() as u64, &[]);
            let line = place(root.path(), &f, &bytes, &[], 1 << 26, false).unwrap();
            assert_eq!(line, format!("inject /ventoy/src ({want}): 3 entries extracted over /"));
        }
    }

    #[test]
    fn merged_usr_symlinks_are_kept() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("bin")).unwrap();
        std::fs::write(src.path().join("bin/tool"), b"t").unwrap();
        let bytes = gnu_tar(src.path(), &["-czf", "-", "bin"]);
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/bin")).unwrap();
        std::fs::write(root.path().join("usr/bin/sh"), b"sh").unwrap();
        std::os::unix::fs::symlink("usr/bin", root.path().join("bin")).unwrap();
        let (_, done) = inject(root.path(), &bytes, 1 << 20, false).unwrap();
        assert_eq!((done.extracted, done.warnings.len()), (2, 0), "{:?}", done.warnings);
        assert!(std::fs::symlink_metadata(root.path().join("bin"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(root.path().join("usr/bin/tool")).unwrap(), b"t");
        assert_eq!(std::fs::read(root.path().join("bin/sh")).unwrap(), b"sh");
    }

    #[test]
    fn hostile_or_foreign_archives_change_nothing() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("evil"), b"x").unwrap();
        let abs = src.path().join("evil");
        let bytes = gnu_tar(src.path(), &["-P", "-czf", "-", abs.to_str().unwrap()]);
        let root = tempfile::tempdir().unwrap();
        let e = inject(root.path(), &bytes, 1 << 26, false).unwrap_err();
        assert!(e.contains("absolute"), "{e}");
        let bytes = gnu_tar(src.path(), &["-P", "--transform=s,^,../,", "-cf", "-", "evil"]);
        assert!(inject(root.path(), &bytes, 1 << 26, false).unwrap_err().contains(".."));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0, "nothing extracted");
        // A zip, a cpio, a gzip bomb over the budget.
        assert!(inject(root.path(), b"PK\x03\x04 not tar", 1 << 20, false).is_err());
        assert!(inject(root.path(), b"070701...", 1 << 20, false).unwrap_err().contains("cpio"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &vec![0u8; 4 << 20]).unwrap();
        let gz = gz.finish().unwrap();
        assert!(inject(root.path(), &gz, 1 << 20, false).unwrap_err().contains("limit"));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    fn staged_run_file(root: &Path) {
        let f = file(FileAction::Copy, "/run/polyboot-nocloud/user-data", 0, &[]);
        let line = place(root, &f, b"#cloud-config\n", &[], 1 << 20, false).unwrap();
        assert!(line.ends_with("-> /run/polyboot-nocloud/user-data (14 bytes)"), "{line}");
        let f = file(FileAction::Copy, "/run/polyboot-nocloud/meta-data", 0, &[]);
        place(root, &f, b"", &[], 1 << 20, false).unwrap();
        assert_eq!(
            std::fs::read(root.join(".polyboot-run/polyboot-nocloud/user-data")).unwrap(),
            b"#cloud-config\n"
        );
        assert!(!root.join("run").exists(), "nothing in the initramfs' /run yet");
    }

    #[test]
    fn run_files_wait_for_the_init_to_mount_run() {
        use std::os::unix::fs::PermissionsExt;
        // Nothing staged: nothing done.
        let t = tempfile::tempdir().unwrap();
        assert_eq!(carry_run(t.path()).unwrap(), None);

        // initramfs-tools: a script listed at the end of init-bottom's ORDER.
        let root = t.path().join("itools");
        std::fs::create_dir_all(root.join("scripts/init-bottom")).unwrap();
        std::fs::write(root.join("scripts/functions"), b"").unwrap();
        let order =
            "/scripts/init-bottom/udev \"$@\"\n[ -e /conf/param.conf ] && . /conf/param.conf\n";
        std::fs::write(root.join("scripts/init-bottom/ORDER"), order).unwrap();
        staged_run_file(&root);
        let line = carry_run(&root).unwrap().unwrap();
        assert_eq!(
            line,
            "for /run: /run/polyboot-nocloud/meta-data, /run/polyboot-nocloud/user-data by \
             initramfs-tools' init-bottom (/scripts/init-bottom/polyboot-run)"
        );
        let got = std::fs::read_to_string(root.join("scripts/init-bottom/ORDER")).unwrap();
        assert_eq!(
            got,
            format!("{order}/scripts/init-bottom/polyboot-run \"$@\"\n[ -e /conf/param.conf ] && . /conf/param.conf\n")
        );
        let script = root.join("scripts/init-bottom/polyboot-run");
        assert!(std::fs::read_to_string(&script).unwrap().contains("cp -a /.polyboot-run/. /run/"));
        assert_eq!(std::fs::metadata(&script).unwrap().permissions().mode() & 0o777, 0o755);
        // The script and ORDER line do what they say under a real shell: run with the paths
        // moved under the test's directory.
        let sh_root = root.to_str().unwrap();
        let script_text =
            std::fs::read_to_string(&script).unwrap().replace(" /", &format!(" {sh_root}/"));
        std::fs::write(&script, script_text).unwrap();
        std::fs::create_dir_all(root.join("run")).unwrap();
        let out = Command::new("sh").arg(&script).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            std::fs::read(root.join("run/polyboot-nocloud/user-data")).unwrap(),
            b"#cloud-config\n"
        );
        assert!(root.join("run/polyboot-nocloud/meta-data").is_file());

        // dracut: a pre-pivot hook (merged /usr).
        let root = t.path().join("dracut");
        std::fs::create_dir_all(root.join("usr/lib/dracut/hooks/cmdline")).unwrap();
        staged_run_file(&root);
        let line = carry_run(&root).unwrap().unwrap();
        assert!(
            line.ends_with("by dracut's pre-pivot hook (pre-pivot/99-polyboot-run.sh)"),
            "{line}"
        );
        let hook =
            std::fs::read_to_string(root.join("usr/lib/dracut/hooks/pre-pivot/99-polyboot-run.sh"))
                .unwrap();
        assert!(hook.contains("cp -a /.polyboot-run/. /run/"), "{hook}");

        // mkinitcpio: appended to /config.
        let root = t.path().join("mkinitcpio");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("init_functions"), b"").unwrap();
        std::fs::write(root.join("config"), b"HOOKS=\"base archiso\"\n").unwrap();
        staged_run_file(&root);
        assert!(carry_run(&root).unwrap().unwrap().ends_with("by mkinitcpio's /config"));
        let config = std::fs::read_to_string(root.join("config")).unwrap();
        assert!(config.starts_with("HOOKS=") && config.ends_with("cp -a /.polyboot-run/. /run/\n"));

        // Anything else: copied into the initramfs' /run at once.
        let root = t.path().join("other");
        std::fs::create_dir_all(&root).unwrap();
        staged_run_file(&root);
        assert!(carry_run(&root).unwrap().unwrap().ends_with("(init of no known family)"));
        assert_eq!(
            std::fs::read(root.join("run/polyboot-nocloud/user-data")).unwrap(),
            b"#cloud-config\n"
        );
    }
}
