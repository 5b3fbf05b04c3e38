//! Making the mapped image, and the persistence backend, findable the way each init family
//! looks for them: files written into the unpacked initramfs before its `/init` runs. No
//! kernel parameter is needed for any of this (core `initfamily::persistence_params`).
//!
//! # The image
//!
//! - **By label / UUID** (dracut's `root=live:CDLABEL=`, casper, archiso): udev makes
//!   `/dev/disk/by-label/...` links for device-mapper devices only in lvm2's `13-dm-disk.rules`,
//!   and only for devices created with udev's cooperation: for ours, created before udev runs,
//!   `10-dm.rules` sets `DM_UDEV_DISABLE_OTHER_RULES_FLAG` on the coldplug event and no link
//!   appears. So we add a rule of our own ([`udev_rule`]) that probes `/dev/mapper/polyboot`
//!   (and `polyboot-persist`) and links it by label and UUID like any disk.
//! - **By probing** (Debian's live-boot): it leaves device-mapper devices out of its medium
//!   scan (`grep -vE "/(loop|ram|dm-|fd)"` in `9990-misc-helpers.sh`, `removable_dev` /
//!   `non_removable_dev`), but reads `LIVE_MEDIA` (`live-media=` on the command line) from
//!   `/conf/param.conf`, which its scripts source after parsing the command line. So for
//!   live-boot we append `LIVE_MEDIA=/dev/mapper/polyboot` there, unless the user chose a
//!   medium on the command line.
//!
//! # The persistence backend (`/dev/mapper/polyboot-persist`)
//!
//! What each family's scripts do, read from the fixtures' initrds (live-boot 1:20230131 of the
//! live-build fixture, dracut 059 of the dracut fixture) and from casper's and archiso's
//! sources (casper 1.4xx `scripts/casper` + `casper-helpers`, mkinitcpio `init`,
//! mkinitcpio-archiso `hooks/archiso`):
//!
//! - **live-boot** turns persistence on with `PERSISTENCE` (set by the `persistence` parameter,
//!   `9990-cmdline-old` line 177). `Live()` (`9990-main.sh` lines 19-31) parses the command
//!   line, *then* sources `/conf/param.conf`, and `9990-overlay.sh` (line 202) reads
//!   `PERSISTENCE` afterwards: `PERSISTENCE=true` in `/conf/param.conf` is the parameter. Its
//!   persistence scan does take device-mapper devices, unlike its medium scan:
//!   `storage_devices` (`9990-misc-helpers.sh` line 430) filters only `loop|ram|fd`, and
//!   `probe_for_fs_label` matches the file system label against `custom_overlay_label`
//!   (`persistence`, `0001-init-vars.sh` line 7; `persistence-label=` sets it, line 211 of
//!   `9990-cmdline-old`): for a backend labelled otherwise we set `custom_overlay_label` in the
//!   same file. `nopersistence` (line 214) still wins: it sets `NOPERSISTENCE`, which we leave
//!   alone. The backend must hold `persistence.conf` (`/ union`), as live-boot requires of any
//!   persistence volume.
//! - **casper** sources `/etc/casper.conf` when its script loads and parses the command line
//!   later, in `mountroot()` (`persistent` sets `PERSISTENT=Yes`, `nopersistent` clears it):
//!   `export PERSISTENT=Yes` in `/etc/casper.conf` is the parameter. It finds the backend as
//!   `/dev/disk/by-label/<label>` only (`find_cow_device` in `casper-helpers`; the label is
//!   `writable`, or `casper-rw` when only that exists), which our udev rule provides; for a
//!   backend labelled otherwise the rule adds a `casper-rw` link too.
//! - **dracut** reads `/etc/cmdline.d/*.conf` before `/proc/cmdline` in `getcmdline`
//!   (`dracut-lib.sh` lines 124-149; `getarg` keeps the last value, so the user's own
//!   `rd.live.overlay=` still wins, and we do not write one then). We write
//!   `rd.live.overlay=/dev/mapper/polyboot-persist:/overlayfs rd.live.overlay.overlayfs=1`:
//!   `dmsquash-live-root` (lines 128-195) mounts the device and uses `/overlayfs` and its
//!   sibling `/ovlwork` as the overlay's upper and work directories, which the hook makes on
//!   the backend first (`persist::ensure_overlay_dirs`). Without them dracut falls back to a RAM
//!   overlay after a prompt that waits for Enter, so the file is written only when they exist.
//!   So no boot configuration edit is needed for dracut.
//! - **archiso**: mkinitcpio's `init` runs `parse_cmdline </proc/cmdline`, then sources
//!   `/config`, then the hooks; archiso's `run_hook` takes `cow_device` (or `cow_label`) as the
//!   persistent copy-on-write space (`cow_persistent=P`). `cow_device=/dev/mapper/polyboot-persist`
//!   appended to `/config` is the parameter, unless the user gave `cow_label=` / `cow_device=`.

use std::io::Write;
use std::path::Path;

/// live-boot's main script: its presence in the unpacked initrd identifies the family.
const LIVE_BOOT_MAIN: &str = "lib/live/boot/9990-main.sh";
/// initramfs-tools' parameter file, sourced by live-boot after the command line.
const PARAM_CONF: &str = "conf/param.conf";
/// casper's main script and the configuration it sources before the command line.
const CASPER_MAIN: &str = "scripts/casper";
const CASPER_CONF: &str = "etc/casper.conf";
/// dracut's dmsquash-live script (under `/usr/sbin`, or `/sbin` before the usr merge).
const DRACUT_LIVE: [&str; 2] = ["usr/sbin/dmsquash-live-root", "sbin/dmsquash-live-root"];
/// Extra command line for dracut, read by `getcmdline`.
const DRACUT_CMDLINE: &str = "etc/cmdline.d/90-polyboot-persistence.conf";
/// mkinitcpio-archiso's hook, and mkinitcpio's configuration sourced after the command line.
const ARCHISO_HOOK: &str = "hooks/archiso";
const MKINITCPIO_CONFIG: &str = "config";

/// Where the udev rule goes in the unpacked initrd (`/etc` rules are read by every udevd).
const UDEV_RULE_PATH: &str = "etc/udev/rules.d/69-polyboot.rules";
/// by-label / by-uuid links for the mapped image and backend, whatever 10-dm.rules decided.
pub const UDEV_RULE: &str = r#"# polyboot: the ISO file and the persistence backend mapped by polyboot-hook, findable by label and UUID like any disk.
SUBSYSTEM!="block", GOTO="polyboot_end"
KERNEL!="dm-[0-9]*", GOTO="polyboot_end"
ACTION!="add|change", GOTO="polyboot_end"
ATTR{dm/name}!="polyboot|polyboot-persist", GOTO="polyboot_end"
IMPORT{builtin}="blkid"
ENV{ID_FS_LABEL_ENC}=="?*", SYMLINK+="disk/by-label/$env{ID_FS_LABEL_ENC}"
ENV{ID_FS_UUID_ENC}=="?*", SYMLINK+="disk/by-uuid/$env{ID_FS_UUID_ENC}"
LABEL="polyboot_end"
"#;
/// casper's fallback label, given to the backend as a second name when its own label is not
/// one casper looks for.
const CASPER_ALIAS: &str = r#"SUBSYSTEM=="block", KERNEL=="dm-[0-9]*", ACTION=="add|change", ATTR{dm/name}=="polyboot-persist", SYMLINK+="disk/by-label/casper-rw"
"#;

/// The udev rule, with casper's alias for the backend when asked.
pub fn udev_rule(casper_alias: bool) -> String {
    let mut r = String::from(UDEV_RULE);
    if casper_alias {
        r.push_str(CASPER_ALIAS);
    }
    r
}

/// The init families whose persistence polyboot sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    LiveBoot,
    Casper,
    Dracut,
    Archiso,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::LiveBoot => "live-boot",
            Family::Casper => "casper",
            Family::Dracut => "dracut",
            Family::Archiso => "archiso",
        }
    }
}

/// The families whose scripts the initrd unpacked at `root` holds.
pub fn families(root: &Path) -> Vec<Family> {
    let is = |p: &str| root.join(p).is_file();
    let mut out = Vec::new();
    if is(LIVE_BOOT_MAIN) {
        out.push(Family::LiveBoot);
    }
    if is(CASPER_MAIN) {
        out.push(Family::Casper);
    }
    if DRACUT_LIVE.iter().any(|p| is(p)) {
        out.push(Family::Dracut);
    }
    if is(ARCHISO_HOOK) {
        out.push(Family::Archiso);
    }
    out
}

fn has_word(cmdline: &str, word: &str) -> bool {
    cmdline.split_whitespace().any(|w| w == word)
}

fn has_key(cmdline: &str, key: &str) -> bool {
    cmdline.split_whitespace().any(|w| w.starts_with(key))
}

/// `s` quoted for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The line to append to `/conf/param.conf` for the initrd unpacked at `root`, if any.
pub fn live_boot_line(root: &Path, cmdline: &str, device: &str) -> Option<String> {
    if !root.join(LIVE_BOOT_MAIN).is_file() {
        return None;
    }
    let chosen = cmdline
        .split_whitespace()
        .any(|w| w.starts_with("live-media=") || w.starts_with("bootfrom="));
    (!chosen).then(|| format!("LIVE_MEDIA={device}\n"))
}

/// Whether dracut is to be pointed at the backend (then its overlay directories are needed).
pub fn dracut_wants_overlay(root: &Path, cmdline: &str) -> bool {
    families(root).contains(&Family::Dracut)
        && !has_key(cmdline, "rd.live.overlay=")
        && !has_key(cmdline, "overlay=")
}

/// The persistence backend as the hints need it.
#[derive(Debug, Clone)]
pub struct Backend<'a> {
    /// `/dev/mapper/polyboot-persist`.
    pub device: &'a str,
    /// Its file system label (`None` when the file system was not recognised).
    pub label: Option<&'a str>,
    /// For dracut: whether `/overlayfs` and `/ovlwork` are on the backend (what the hook did,
    /// or why not).
    pub dracut_dirs: Result<(), String>,
}

/// For `family`: the file (relative to the root) and the text to append to it, or why nothing
/// is written.
pub fn persistence_hint(
    family: Family,
    cmdline: &str,
    b: &Backend,
) -> Result<(&'static str, String), String> {
    match family {
        Family::LiveBoot => {
            if has_word(cmdline, "nopersistence") {
                return Err(String::from("'nopersistence' on the command line"));
            }
            let mut text = String::from("export PERSISTENCE=true\n");
            match b.label {
                Some("persistence") => {}
                _ if has_key(cmdline, "persistence-label=") => {}
                Some(l) if !l.is_empty() && !l.contains(char::is_whitespace) => {
                    text.push_str(&format!("custom_overlay_label={}\n", shell_quote(l)));
                }
                Some(l) => {
                    return Err(format!(
                        "live-boot looks for a file system label; the backend's is {l:?}"
                    ))
                }
                None => {
                    return Err(String::from("the backend holds no file system polyboot knows"))
                }
            }
            Ok((PARAM_CONF, text))
        }
        Family::Casper => {
            if has_word(cmdline, "nopersistent") {
                return Err(String::from("'nopersistent' on the command line"));
            }
            Ok((CASPER_CONF, String::from("export PERSISTENT=\"Yes\"\n")))
        }
        Family::Dracut => {
            if has_key(cmdline, "rd.live.overlay=") || has_key(cmdline, "overlay=") {
                return Err(String::from("the command line names its own rd.live.overlay"));
            }
            b.dracut_dirs.clone()?;
            Ok((
                DRACUT_CMDLINE,
                format!("rd.live.overlay={}:/overlayfs rd.live.overlay.overlayfs=1\n", b.device),
            ))
        }
        Family::Archiso => {
            if has_key(cmdline, "cow_label=") || has_key(cmdline, "cow_device=") {
                return Err(String::from("the command line names its own cow_label / cow_device"));
            }
            Ok((MKINITCPIO_CONFIG, format!("cow_device={}\n", shell_quote(b.device))))
        }
    }
}

fn append(root: &Path, rel: &str, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(parent)?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).mode(0o644).open(&path)?;
    // A file that does not end its last line would glue ours onto it.
    let len = f.metadata()?.len();
    if len > 0 {
        let last = std::fs::read(&path)?.last().copied();
        if last != Some(b'\n') {
            f.write_all(b"\n")?;
        }
    }
    f.write_all(text.as_bytes())
}

/// Write the hints for the initrd unpacked at `root`, the image mapped as `device` and the
/// persistence backend (if any); returns what was done, and what was not and why, for the log.
pub fn apply(
    root: &Path,
    cmdline: &str,
    device: &str,
    backend: Option<&Backend>,
) -> std::io::Result<Vec<String>> {
    let mut done = Vec::new();
    let fams = families(root);
    let casper_alias = backend.is_some_and(|b| {
        fams.contains(&Family::Casper) && !matches!(b.label, Some("writable" | "casper-rw"))
    });
    let rule = root.join(UDEV_RULE_PATH);
    std::fs::create_dir_all(rule.parent().unwrap_or(root))?;
    std::fs::write(&rule, udev_rule(casper_alias))?;
    done.push(format!(
        "udev: by-label / by-uuid links from /{UDEV_RULE_PATH}{}",
        if casper_alias { " (and disk/by-label/casper-rw for the backend)" } else { "" }
    ));
    if let Some(line) = live_boot_line(root, cmdline, device) {
        append(root, PARAM_CONF, &line)?;
        done.push(format!("live-boot: {} in /{PARAM_CONF}", line.trim_end()));
    }
    if let Some(b) = backend {
        if fams.is_empty() {
            done.push(String::from(
                "persistence: no live-boot, casper, dracut or archiso scripts in this initrd",
            ));
        }
        for f in fams {
            match persistence_hint(f, cmdline, b) {
                Ok((file, text)) => {
                    append(root, file, &text)?;
                    let shown: Vec<&str> = text.lines().collect();
                    done.push(format!("{} persistence: {} in /{file}", f.name(), shown.join("; ")));
                }
                Err(why) => done.push(format!("{} persistence: not set up: {why}", f.name())),
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn read(root: &Path, rel: &str) -> String {
        std::fs::read_to_string(root.join(rel)).unwrap()
    }

    const DEV: &str = "/dev/mapper/polyboot-persist";

    fn backend(label: Option<&str>) -> Backend<'_> {
        Backend { device: DEV, label, dracut_dirs: Ok(()) }
    }

    #[test]
    fn live_boot_gets_its_medium_unless_the_user_chose_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(
            apply(root, "boot=live", "/dev/mapper/polyboot", None).unwrap().len(),
            1,
            "not live-boot: only the udev rule"
        );
        assert_eq!(read(root, UDEV_RULE_PATH), UDEV_RULE);
        touch(root, LIVE_BOOT_MAIN, "#!/bin/sh\n");
        touch(root, PARAM_CONF, "ROOT=/dev/sda1\n");
        assert_eq!(live_boot_line(root, "boot=live live-media=/dev/sdb1", "/dev/x"), None);
        assert_eq!(live_boot_line(root, "bootfrom=/dev/sdb1", "/dev/x"), None);
        let done = apply(root, "boot=live components quiet", "/dev/mapper/polyboot", None).unwrap();
        assert_eq!(
            done.last().map(String::as_str),
            Some("live-boot: LIVE_MEDIA=/dev/mapper/polyboot in /conf/param.conf")
        );
        assert_eq!(
            read(root, PARAM_CONF),
            "ROOT=/dev/sda1\nLIVE_MEDIA=/dev/mapper/polyboot\n",
            "appended, what was there kept"
        );
    }

    #[test]
    fn families_are_told_by_their_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(families(root).is_empty());
        touch(root, LIVE_BOOT_MAIN, "");
        touch(root, CASPER_MAIN, "");
        touch(root, "sbin/dmsquash-live-root", "");
        touch(root, ARCHISO_HOOK, "");
        assert_eq!(
            families(root),
            [Family::LiveBoot, Family::Casper, Family::Dracut, Family::Archiso]
        );
    }

    #[test]
    fn live_boot_persistence_in_param_conf() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, LIVE_BOOT_MAIN, "");
        touch(root, PARAM_CONF, "ROOT=");
        let b = backend(Some("persistence"));
        let done = apply(root, "boot=live components", "/dev/mapper/polyboot", Some(&b)).unwrap();
        assert_eq!(
            read(root, PARAM_CONF),
            "ROOT=\nLIVE_MEDIA=/dev/mapper/polyboot\nexport PERSISTENCE=true\n",
            "a newline added after the unterminated line"
        );
        assert_eq!(
            done.last().unwrap(),
            "live-boot persistence: export PERSISTENCE=true in /conf/param.conf"
        );
        // Another label is passed on, quoted; the user's persistence-label= wins.
        let (_, text) = persistence_hint(Family::LiveBoot, "", &backend(Some("it's"))).unwrap();
        assert_eq!(text, "export PERSISTENCE=true\ncustom_overlay_label='it'\\''s'\n");
        let (_, text) =
            persistence_hint(Family::LiveBoot, "persistence-label=x", &backend(Some("y"))).unwrap();
        assert_eq!(text, "export PERSISTENCE=true\n");
        assert!(persistence_hint(Family::LiveBoot, "", &backend(Some("a b"))).is_err());
        assert!(persistence_hint(Family::LiveBoot, "", &backend(None)).is_err());
        let e = persistence_hint(Family::LiveBoot, "boot=live nopersistence", &b).unwrap_err();
        assert!(e.contains("nopersistence"));
    }

    #[test]
    fn casper_persistence_in_casper_conf_and_its_label() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, CASPER_MAIN, "");
        touch(root, CASPER_CONF, "export USERNAME=\"ubuntu\"\n");
        let b = backend(Some("casper-rw"));
        let done = apply(root, "boot=casper quiet", "/dev/mapper/polyboot", Some(&b)).unwrap();
        assert_eq!(
            read(root, CASPER_CONF),
            "export USERNAME=\"ubuntu\"\nexport PERSISTENT=\"Yes\"\n"
        );
        assert_eq!(read(root, UDEV_RULE_PATH), UDEV_RULE, "its own label: no alias");
        assert!(done[0].ends_with("69-polyboot.rules"));
        // A backend labelled for live-boot still works with casper: a casper-rw link too.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, CASPER_MAIN, "");
        let b = backend(Some("persistence"));
        let done = apply(root, "boot=casper", "/dev/mapper/polyboot", Some(&b)).unwrap();
        assert!(read(root, UDEV_RULE_PATH).ends_with(CASPER_ALIAS));
        assert!(done[0].contains("casper-rw"));
        assert_eq!(read(root, CASPER_CONF), "export PERSISTENT=\"Yes\"\n", "made when missing");
        assert!(persistence_hint(Family::Casper, "nopersistent", &b).is_err());
    }

    #[test]
    fn dracut_persistence_in_cmdline_d_only_with_its_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "usr/sbin/dmsquash-live-root", "");
        let cmdline = "root=live:CDLABEL=X rd.live.image";
        assert!(dracut_wants_overlay(root, cmdline));
        assert!(!dracut_wants_overlay(root, "rd.live.overlay=LABEL=y:/o"));
        let b = backend(Some("anything"));
        apply(root, cmdline, "/dev/mapper/polyboot", Some(&b)).unwrap();
        assert_eq!(
            read(root, DRACUT_CMDLINE),
            "rd.live.overlay=/dev/mapper/polyboot-persist:/overlayfs rd.live.overlay.overlayfs=1\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "usr/sbin/dmsquash-live-root", "");
        let no_dirs = Backend { dracut_dirs: Err("mount failed".into()), ..backend(None) };
        let done = apply(root, cmdline, "/dev/mapper/polyboot", Some(&no_dirs)).unwrap();
        assert!(!root.join(DRACUT_CMDLINE).exists());
        assert_eq!(done.last().unwrap(), "dracut persistence: not set up: mount failed");
        assert!(persistence_hint(Family::Dracut, "rd.live.overlay=/dev/sdb1", &b).is_err());
    }

    #[test]
    fn archiso_persistence_in_mkinitcpio_config() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, ARCHISO_HOOK, "");
        touch(root, MKINITCPIO_CONFIG, "HOOKS='base udev archiso'\n");
        let b = backend(None);
        apply(root, "archisobasedir=arch archisolabel=X", "/dev/mapper/polyboot", Some(&b))
            .unwrap();
        assert_eq!(
            read(root, MKINITCPIO_CONFIG),
            "HOOKS='base udev archiso'\ncow_device='/dev/mapper/polyboot-persist'\n"
        );
        assert!(persistence_hint(Family::Archiso, "cow_label=mine", &b).is_err());
        assert!(persistence_hint(Family::Archiso, "cow_device=/dev/sdb2", &b).is_err());
    }

    #[test]
    fn a_backend_for_an_initrd_of_no_known_family_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let b = backend(Some("persistence"));
        let done = apply(dir.path(), "", "/dev/mapper/polyboot", Some(&b)).unwrap();
        assert!(done.last().unwrap().contains("no live-boot, casper, dracut or archiso"));
    }
}
