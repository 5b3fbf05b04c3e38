//! Seeds of the `tar` and `template` targets (issue 18: injection archives and auto-install
//! templates).
//!
//! - tar: archives GNU tar writes of a small tree (a file, an empty file, a directory, a
//!   symbolic link, a hard link, a name longer than 100 bytes) in the gnu, pax, ustar and v7
//!   formats, and one with a uid that needs base-256 / a pax record. Without GNU tar on the
//!   machine, none (with a note).
//! - template: the target's input format (a disk count, per disk a name byte, a size mode and
//!   flags, then the template): a preseed, a kickstart and a cloud-init user-data using every
//!   Ventoy variable, unknown and unclosed ones.

use std::path::Path;
use std::process::Command;

pub fn tar_seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = std::env::temp_dir().join(format!("polyboot-seedgen-tar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tree = dir.join("tree");
    let mk = |p: &str, data: &[u8]| {
        let f = tree.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    };
    mk("etc/polyboot/marker", b"injected\n");
    mk("empty", b"");
    mk(&format!("{}/long-file-name", "d".repeat(60)), b"long");
    std::os::unix::fs::symlink("etc/polyboot/marker", tree.join("link")).unwrap();
    std::fs::hard_link(tree.join("etc/polyboot/marker"), tree.join("hard")).unwrap();
    let run = |args: &[&str]| -> Result<Vec<u8>, String> {
        let out = Command::new("tar")
            .current_dir(&tree)
            .args(args)
            .output()
            .map_err(|e| format!("tar: {e}"))?;
        if !out.status.success() {
            return Err(format!("tar {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(out.stdout)
    };
    let mut seeds = Vec::new();
    let result = (|| {
        for format in ["gnu", "pax", "ustar"] {
            let f = format!("--format={format}");
            seeds.push((format!("gnu-tar-{format}"), run(&[&f, "-cf", "-", "."])?));
        }
        // v7 cannot hold the long name: the short ones only.
        seeds.push((
            "gnu-tar-v7".into(),
            run(&["--format=v7", "-cf", "-", "etc", "empty", "link"])?,
        ));
        for format in ["gnu", "pax"] {
            let f = format!("--format={format}");
            let a = run(&[&f, "--owner=3000000", "--numeric-owner", "-cf", "-", "empty"])?;
            seeds.push((format!("gnu-tar-{format}-large-uid"), a));
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(Path::new(&dir));
    result.map(|()| seeds)
}

/// A template seed: `disks` as (name byte, size mode, size byte, flags), then `text`.
fn template(disks: &[(u8, u8, u8, u8)], text: &str) -> Vec<u8> {
    let mut out = vec![disks.len() as u8];
    for &(name, mode, size, flags) in disks {
        out.extend_from_slice(&[name, mode, size, flags]);
    }
    out.extend_from_slice(text.as_bytes());
    out
}

pub fn template_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // sda (polyboot drive, USB, 32 GiB), nvme0n1 (500 GiB), sdb (1000 GiB), an empty reader.
    let machine = [(0, 1, 32, 3), (1, 3, 1, 0), (4, 3, 2, 0), (8, 0, 0, 1)];
    vec![
        (
            "preseed",
            template(
                &machine,
                "d-i partman-auto/disk string /dev/$$VT_LINUX_DISK_SDX_1ST_NONVTOY$$\n\
                 d-i grub-installer/bootdev string /dev/$$VT_LINUX_DISK_MAX_SIZE$$\n\
                 d-i preseed/early_command string echo $$VT_LINUX_DISK_1ST_NONVTOY$$ > /dev/ttyS0\n",
            ),
        ),
        (
            "kickstart",
            template(
                &machine,
                "ignoredisk --only-use=$$VT_LINUX_DISK_CLOSEST_500$$\r\n\
                 clearpart --all --drives=$$VT_LINUX_DISK_NONVTOY_CLOSEST_32$$\r\n\
                 bootloader --boot-drive=$$VT_LINUX_DISK_SDX_1ST_NONUSB$$ $$VT_LINUX_DISK_MAX_SIZE$$\r\n",
            ),
        ),
        (
            "cloud-init",
            template(
                &[],
                "#cloud-config\nautoinstall:\n  storage:\n    layout: {name: lvm, match: {path: /dev/$$VT_LINUX_DISK_MAX_SIZE$$}}\n  unclosed: $$VT_LINUX_DISK\n  password: pa$$word\n",
            ),
        ),
    ]
}
