//! SOURCE as a plain directory: the boot manager's scan and configuration over `std::fs`.

use polyboot_core::config::{self, BootConfig, Firmware};
use polyboot_core::menu::{self, DirSource, ImageEntry, SourceEntry};
use polyboot_core::session::select_images;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A directory read as if it were a drive's data partition: "/" is the directory itself.
pub struct DirTree<'a> {
    pub root: &'a Path,
}

impl DirTree<'_> {
    /// The host path of an absolute data-partition path; `None` for `..`, empty or odd
    /// components.
    pub fn host_path(&self, path: &str) -> Option<PathBuf> {
        let mut p = self.root.to_path_buf();
        for c in path.split('/').filter(|c| !c.is_empty()) {
            if c == "." || c == ".." || c.contains('\\') || c.contains('\0') {
                return None;
            }
            p.push(c);
        }
        Some(p)
    }
}

impl DirSource for DirTree<'_> {
    type Error = String;
    fn list(&mut self, path: &str) -> Result<Vec<SourceEntry>, String> {
        let dir = self.host_path(path).ok_or_else(|| format!("bad path {path}"))?;
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
            let e = e.map_err(|e| e.to_string())?;
            let Ok(name) = e.file_name().into_string() else { continue };
            // Follows symlinks, as a user serving a directory of links expects.
            let Ok(m) = std::fs::metadata(e.path()) else { continue };
            out.push(SourceEntry { name, is_dir: m.is_dir(), size: m.len() });
        }
        Ok(out)
    }
}

/// polyboot.json and ventoy.json of the directory, with `firmware`'s key suffixes, and what
/// was wrong with them (as log lines).
pub fn load_config(root: &Path, firmware: Firmware) -> (BootConfig, Vec<String>) {
    let read = |rel: &str| -> Option<Vec<u8>> {
        let f = std::fs::File::open(root.join(rel.trim_start_matches('/'))).ok()?;
        let mut buf = Vec::new();
        // One byte more than the limit tells "too large" from "exactly at the limit".
        f.take(config::MAX_CONFIG_BYTES as u64 + 1).read_to_end(&mut buf).ok()?;
        Some(buf)
    };
    let mut problems = Vec::new();
    let mut get = |rel: &'static str| match read(rel) {
        Some(b) if b.len() > config::MAX_CONFIG_BYTES => {
            problems
                .push(format!("{rel} is larger than {} bytes; ignored", config::MAX_CONFIG_BYTES));
            None
        }
        other => other,
    };
    let ours = get(config::POLYBOOT_JSON);
    let ventoy = get(config::VENTOY_JSON);
    let (cfg, errors) = config::load(ours.as_deref(), ventoy.as_deref(), firmware);
    problems.extend(errors.iter().map(|e| e.to_string()));
    problems.extend(cfg.warnings.iter().cloned());
    (cfg, problems)
}

/// The menu's images in menu order (scan, then image_list / blacklist / VTOY_FILE_FLT_*).
pub fn images(root: &Path, cfg: &BootConfig) -> Vec<ImageEntry> {
    let report = menu::scan(&mut DirTree { root }, &cfg.scan_options());
    select_images(cfg, &report.images).0
}
