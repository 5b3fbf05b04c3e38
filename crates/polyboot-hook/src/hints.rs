//! Making the mapped image findable the way each init family looks for its medium.
//!
//! - **By label / UUID** (dracut's `root=live:CDLABEL=`, casper, archiso): udev makes
//!   `/dev/disk/by-label/...` links for device-mapper devices only in lvm2's `13-dm-disk.rules`,
//!   and only for devices created with udev's cooperation: for ours, created before udev runs,
//!   `10-dm.rules` sets `DM_UDEV_DISABLE_OTHER_RULES_FLAG` on the coldplug event and no link
//!   appears. So we add a rule of our own ([`UDEV_RULE`]) that probes `/dev/mapper/polyboot`
//!   and links it by label and UUID like any CD.
//! - **By probing** (Debian's live-boot): it leaves device-mapper devices out of its scan
//!   (`grep -vE "/(loop|ram|dm-|fd)"` in `9990-misc-helpers.sh`), but reads `LIVE_MEDIA`
//!   (`live-media=` on the command line) from `/conf/param.conf`, which its scripts source after
//!   parsing the command line. So for live-boot we append `LIVE_MEDIA=/dev/mapper/polyboot`
//!   there, unless the user chose a medium on the command line.

use std::io::Write;
use std::path::Path;

/// live-boot's main script: its presence in the unpacked initrd identifies the family.
const LIVE_BOOT_MAIN: &str = "lib/live/boot/9990-main.sh";
/// initramfs-tools' parameter file, sourced by live-boot after the command line.
const PARAM_CONF: &str = "conf/param.conf";

/// Where the udev rule goes in the unpacked initrd (`/etc` rules are read by every udevd).
const UDEV_RULE_PATH: &str = "etc/udev/rules.d/69-polyboot.rules";
/// by-label / by-uuid links for the mapped image, whatever 10-dm.rules decided.
pub const UDEV_RULE: &str = r#"# polyboot: the ISO file mapped by polyboot-hook, findable by label and UUID like a CD.
SUBSYSTEM!="block", GOTO="polyboot_end"
KERNEL!="dm-[0-9]*", GOTO="polyboot_end"
ACTION!="add|change", GOTO="polyboot_end"
ATTR{dm/name}!="polyboot", GOTO="polyboot_end"
IMPORT{builtin}="blkid"
ENV{ID_FS_LABEL_ENC}=="?*", SYMLINK+="disk/by-label/$env{ID_FS_LABEL_ENC}"
ENV{ID_FS_UUID_ENC}=="?*", SYMLINK+="disk/by-uuid/$env{ID_FS_UUID_ENC}"
LABEL="polyboot_end"
"#;

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

/// Write the hints for the initrd unpacked at `root`; returns what was done, for the log.
pub fn apply(root: &Path, cmdline: &str, device: &str) -> std::io::Result<Vec<String>> {
    let mut done = Vec::new();
    let rule = root.join(UDEV_RULE_PATH);
    std::fs::create_dir_all(rule.parent().unwrap_or(root))?;
    std::fs::write(&rule, UDEV_RULE)?;
    done.push(format!("udev: by-label / by-uuid links from /{UDEV_RULE_PATH}"));
    if let Some(line) = live_boot_line(root, cmdline, device) {
        let path = root.join(PARAM_CONF);
        std::fs::create_dir_all(path.parent().unwrap_or(root))?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?
            .write_all(line.as_bytes())?;
        done.push(format!("live-boot: {} in /{PARAM_CONF}", line.trim_end()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_boot_gets_its_medium_unless_the_user_chose_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(
            apply(root, "boot=live", "/dev/mapper/polyboot").unwrap().len(),
            1,
            "not live-boot: only the udev rule"
        );
        assert_eq!(std::fs::read_to_string(root.join(UDEV_RULE_PATH)).unwrap(), UDEV_RULE);
        std::fs::create_dir_all(root.join("lib/live/boot")).unwrap();
        std::fs::write(root.join(LIVE_BOOT_MAIN), "#!/bin/sh\n").unwrap();
        std::fs::create_dir_all(root.join("conf")).unwrap();
        std::fs::write(root.join(PARAM_CONF), "ROOT=/dev/sda1\n").unwrap();
        assert_eq!(live_boot_line(root, "boot=live live-media=/dev/sdb1", "/dev/x"), None);
        assert_eq!(live_boot_line(root, "bootfrom=/dev/sdb1", "/dev/x"), None);
        let done = apply(root, "boot=live components quiet", "/dev/mapper/polyboot").unwrap();
        assert_eq!(
            done.last().map(String::as_str),
            Some("live-boot: LIVE_MEDIA=/dev/mapper/polyboot in /conf/param.conf")
        );
        assert_eq!(
            std::fs::read_to_string(root.join(PARAM_CONF)).unwrap(),
            "ROOT=/dev/sda1\nLIVE_MEDIA=/dev/mapper/polyboot\n",
            "appended, what was there kept"
        );
    }
}
