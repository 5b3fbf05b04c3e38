//! Loading the kernel modules the drive needs (usb-storage, uas, sd_mod, dm-mod) from the
//! original initrd's module tree, with their dependencies from `modules.dep`, decompressing
//! `.ko.xz` / `.ko.zst` / `.ko.gz` ourselves so no kernel decompression support is needed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What the hook asks for when the drive does not show up; order matters little as
/// dependencies come first anyway.
/// A kernel module is at most a few MiB; a compressed one that claims more is corrupt.
const MAX_MODULE_BYTES: usize = 64 << 20;

pub const WANTED: &[&str] = &[
    "dm_mod",
    "xhci_pci",
    "ehci_pci",
    "usb_storage",
    "uas",
    "sd_mod",
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
];

/// `usb-storage` and `usb_storage` are the same module.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// The module name of a path in modules.dep (`kernel/drivers/usb/storage/usb-storage.ko.xz`).
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    normalize(stem)
}

/// modules.dep: module name -> (its path, the paths of its dependencies).
#[derive(Debug, Default)]
pub struct DepMap {
    entries: HashMap<String, (String, Vec<String>)>,
}

impl DepMap {
    pub fn parse(text: &str) -> DepMap {
        let mut entries = HashMap::new();
        for line in text.lines() {
            let Some((path, deps)) = line.split_once(':') else { continue };
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let deps = deps.split_whitespace().map(str::to_string).collect();
            entries.insert(module_name(path), (path.to_string(), deps));
        }
        DepMap { entries }
    }

    /// Paths to load for `name`, dependencies first (modules.dep lists them so that the last
    /// is needed first), each once. `None` when the module is unknown (built in, or absent).
    pub fn load_order(&self, name: &str) -> Option<Vec<String>> {
        let (path, deps) = self.entries.get(&normalize(name))?;
        let mut out: Vec<String> = deps.iter().rev().cloned().collect();
        out.push(path.clone());
        let mut seen = HashSet::new();
        out.retain(|p| seen.insert(p.clone()));
        Some(out)
    }
}

/// The module directory for the running kernel inside `root`: `lib/modules/<release>` or
/// `usr/lib/modules/<release>`.
pub fn module_dir(root: &Path, release: &str) -> Option<PathBuf> {
    ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| root.join(d).join(release))
        .find(|p| p.join("modules.dep").is_file())
}

/// The ELF image of a module file, decompressed by its extension.
pub fn read_module(path: &Path) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    let name = path.to_string_lossy();
    let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let format = if name.ends_with(".xz") {
        crate::decompress::Format::Xz
    } else if name.ends_with(".zst") {
        crate::decompress::Format::Zstd
    } else if name.ends_with(".gz") {
        crate::decompress::Format::Gzip
    } else {
        return Ok(raw);
    };
    crate::decompress::decompress(format, &raw, MAX_MODULE_BYTES)
        .map(|(out, _)| out)
        .map_err(|e| bad(e.to_string()))
}

/// Load one module image with init_module(2). Already loaded counts as success.
pub fn init_module(image: &[u8]) -> std::io::Result<()> {
    let params = b"\0";
    // SAFETY: pointer and length describe `image`; params is NUL-terminated.
    let r = unsafe {
        libc::syscall(libc::SYS_init_module, image.as_ptr(), image.len(), params.as_ptr())
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    Ok(())
}

/// Load `names` and their dependencies from `dir`; returns one line per module for the log.
pub fn load_all(dir: &Path, names: &[&str]) -> Vec<String> {
    let mut log = Vec::new();
    let Ok(text) = std::fs::read_to_string(dir.join("modules.dep")) else {
        log.push(format!("no modules.dep in {}", dir.display()));
        return log;
    };
    let deps = DepMap::parse(&text);
    let mut done = HashSet::new();
    for name in names {
        // Not in modules.dep: built in, or not shipped by this initrd; nothing to say.
        let Some(order) = deps.load_order(name) else { continue };
        for p in order {
            if !done.insert(p.clone()) {
                continue;
            }
            let r = read_module(&dir.join(&p)).and_then(|img| init_module(&img));
            log.push(match r {
                Ok(()) => format!("loaded {}", module_name(&p)),
                Err(e) => format!("{}: {e}", module_name(&p)),
            });
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/scsi/scsi_mod.ko.xz kernel/drivers/usb/core/usbcore.ko.xz kernel/drivers/usb/common/usb-common.ko.xz
kernel/drivers/usb/storage/uas.ko.zst: kernel/drivers/usb/storage/usb-storage.ko.xz kernel/drivers/scsi/scsi_mod.ko.xz kernel/drivers/usb/core/usbcore.ko.xz kernel/drivers/usb/common/usb-common.ko.xz
kernel/drivers/md/dm-mod.ko:
kernel/drivers/scsi/scsi_mod.ko.xz:
";

    #[test]
    fn resolves_dependencies_first_with_either_spelling() {
        let d = DepMap::parse(DEP);
        assert_eq!(d.load_order("dm-mod").unwrap(), vec!["kernel/drivers/md/dm-mod.ko"]);
        assert_eq!(
            d.load_order("usb-storage").unwrap(),
            vec![
                "kernel/drivers/usb/common/usb-common.ko.xz",
                "kernel/drivers/usb/core/usbcore.ko.xz",
                "kernel/drivers/scsi/scsi_mod.ko.xz",
                "kernel/drivers/usb/storage/usb-storage.ko.xz"
            ]
        );
        assert_eq!(
            d.load_order("uas").unwrap().last().unwrap(),
            "kernel/drivers/usb/storage/uas.ko.zst"
        );
        assert!(d.load_order("sd_mod").is_none());
        assert_eq!(module_name("a/b/usb-storage.ko.zst"), "usb_storage");
    }

    #[test]
    fn finds_the_module_dir_and_reads_compressed_modules() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("usr/lib/modules/6.1.0-test");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("modules.dep"), DEP).unwrap();
        assert_eq!(module_dir(t.path(), "6.1.0-test").unwrap(), dir);
        assert!(module_dir(t.path(), "other").is_none());
        let elf = b"\x7fELF fake module body".repeat(100);
        std::fs::write(dir.join("plain.ko"), &elf).unwrap();
        assert_eq!(read_module(&dir.join("plain.ko")).unwrap(), elf);
        for (ext, tool) in [
            ("xz", &["xz", "-c", "--check=crc32"][..]),
            ("zst", &["zstd", "-c", "-q"][..]),
            ("gz", &["gzip", "-c"][..]),
        ] {
            let p = dir.join(format!("m.ko.{ext}"));
            let out = std::process::Command::new(tool[0])
                .args(&tool[1..])
                .arg(dir.join("plain.ko"))
                .output()
                .expect(tool[0]);
            assert!(out.status.success());
            std::fs::write(&p, out.stdout).unwrap();
            assert_eq!(read_module(&p).unwrap(), elf, "{ext}");
        }
    }
}
