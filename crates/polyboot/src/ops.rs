//! Commands on an existing drive: info, add, ls, rm, verify.

use crate::drive::{Drive, DriveLayout};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use polyboot_core::block::ReadAt;
use polyboot_core::exfat::{self, ExFat, Timestamp};
use polyboot_core::menu;
use polyboot_core::path::{self, join};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// File extensions the boot manager lists.
pub const IMAGE_EXTENSIONS: &[&str] = &["iso", "img", "efi", "wim", "vhd", "vhdx"];
const COPY_CHUNK: usize = 4 << 20;

fn from_exfat(e: exfat::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Paths on the data partition are given with `/`, relative to its root (core
/// [`path::clean`]: `..` is left for the file system to refuse).
pub fn normalize(p: &str) -> String {
    path::clean(p)
}

pub fn is_image_name(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| IMAGE_EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Timestamp::from_unix(secs)
}

#[derive(Debug, Serialize)]
pub struct Info {
    pub path: String,
    pub layout: DriveLayout,
    pub polyboot_version: String,
    pub layout_version: u32,
    pub label: String,
    pub cluster_size: u32,
    pub data_bytes: u64,
    pub free_bytes: u64,
    pub image_count: usize,
    /// The signed chain and its certificate (`null`: unsigned boot files).
    pub secure_boot: Option<crate::drive::bootpart::SecureBootStamp>,
}

pub fn info(drive: &mut Drive) -> Result<Info> {
    let path = drive.path.display().to_string();
    let layout = drive.layout.clone();
    let stamp = drive.stamp.clone();
    let mut fs = drive.data()?;
    let cluster = fs.cluster_size() as u64;
    let free = fs.free_clusters().map_err(from_exfat)? as u64 * cluster;
    let mut images = Vec::new();
    walk(&mut fs, "/", &mut |p, e| {
        if !e.is_dir() && is_image_name(&e.name) {
            images.push(p.to_string());
        }
    })?;
    Ok(Info {
        path,
        layout,
        polyboot_version: stamp.polyboot_version,
        layout_version: stamp.layout_version,
        label: fs.label().to_string(),
        cluster_size: fs.cluster_size(),
        data_bytes: fs.cluster_count() as u64 * cluster,
        free_bytes: free,
        image_count: images.len(),
        secure_boot: stamp.secure_boot,
    })
}

/// Directories nested deeper than this are not walked (a hostile volume can loop).
const MAX_WALK_DEPTH: usize = 64;

/// Visit every entry below `dir`, depth first. A directory reached twice (a loop in a
/// corrupted or hostile volume) is visited once; nesting is bounded.
pub fn walk<D: ReadAt>(
    fs: &mut ExFat<D>,
    dir: &str,
    visit: &mut dyn FnMut(&str, &exfat::DirEntry),
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    walk_inner(fs, dir, 0, &mut seen, visit)
}

fn walk_inner<D: ReadAt>(
    fs: &mut ExFat<D>,
    dir: &str,
    depth: usize,
    seen: &mut std::collections::HashSet<u32>,
    visit: &mut dyn FnMut(&str, &exfat::DirEntry),
) -> Result<()> {
    let entries = fs.read_dir(dir).map_err(from_exfat).with_context(|| format!("listing {dir}"))?;
    for e in entries {
        let p = join(dir, &e.name);
        visit(&p, &e);
        if e.is_dir() && depth < MAX_WALK_DEPTH && seen.insert(e.first_cluster) {
            walk_inner(fs, &p, depth + 1, seen, visit)?;
        }
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct ListEntry {
    pub name: String,
    pub path: String,
    pub dir: bool,
    pub size: u64,
    /// Separate runs of clusters holding the file's data (1 = contiguous; 0 = empty).
    pub fragments: usize,
}

pub fn ls(drive: &mut Drive, path: &str) -> Result<Vec<ListEntry>> {
    let dir = normalize(path);
    let mut fs = drive.data()?;
    let entries =
        fs.read_dir(&dir).map_err(from_exfat).with_context(|| format!("listing {dir}"))?;
    let mut listing = Vec::with_capacity(entries.len());
    for e in entries {
        let fragments = if e.is_dir() { 0 } else { fs.file_extents(&e).map_err(from_exfat)?.len() };
        listing.push(ListEntry {
            path: join(&dir, &e.name),
            dir: e.is_dir(),
            size: if e.is_dir() { 0 } else { e.size },
            name: e.name,
            fragments,
        });
    }
    Ok(listing)
}

pub(crate) fn progress(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

#[derive(Debug, Serialize)]
pub struct Added {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// `polyboot check`'s answer for the image (None for files the menu does not list), so
    /// a problem is known when the file is copied, not at the firmware.
    pub expected_to_work: Option<bool>,
    pub verdict: Option<String>,
    /// For `/ventoy/ventoy.json` and `/polyboot/polyboot.json`: why the boot manager's own
    /// parser refuses the file (`line 3, column 5: ...`), in which case the boot menu ignores
    /// it; None when it is accepted or is not a configuration file.
    pub config_error: Option<String>,
    /// For those files: what the boot manager's parser warns about (unknown keys, values it
    /// does not honour) while still using the file.
    pub config_warnings: Vec<String>,
}

/// Parse a file copied to `dest` with the boot manager's own parser when `dest` is one of the
/// boot configuration files: (error, warnings). Syntax errors carry the line and column.
fn validate_config(dest: &str, src: &Path, size: u64) -> Result<(Option<String>, Vec<String>)> {
    use polyboot_core::config::{self, ConfigError, Firmware};
    let parse: fn(&[u8], Firmware) -> Result<config::ConfigLayer, ConfigError> =
        if dest.eq_ignore_ascii_case(config::VENTOY_JSON) {
            config::parse_ventoy
        } else if dest.eq_ignore_ascii_case(config::POLYBOOT_JSON) {
            config::parse_polyboot
        } else {
            return Ok((None, Vec::new()));
        };
    if size > config::MAX_CONFIG_BYTES as u64 {
        let error = ConfigError::TooLarge {
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: config::MAX_CONFIG_BYTES,
        };
        return Ok((Some(error.to_string()), Vec::new()));
    }
    let bytes = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    Ok(match parse(&bytes, Firmware::Uefi) {
        Ok(layer) => (None, layer.warnings),
        Err(e) => (Some(e.to_string()), Vec::new()),
    })
}

/// Copy host files into `to_dir` on the data partition, hashing in the same pass, and record
/// each hash in a `<name>.sha256` file beside it (`sha256sum -c` format).
pub fn add(drive: &mut Drive, files: &[&Path], to_dir: &str, quiet: bool) -> Result<Vec<Added>> {
    let dir = normalize(to_dir);
    let mut fs = drive.data()?;
    let time = now();
    if dir != "/" {
        fs.create_dir_all(&dir, time)
            .map_err(from_exfat)
            .with_context(|| format!("creating {dir}"))?;
    }
    let mut added = Vec::new();
    for src in files {
        let name = src
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{}: no usable file name", src.display()))?;
        let dest = join(&dir, name);
        let mut input =
            std::fs::File::open(src).with_context(|| format!("opening {}", src.display()))?;
        let size = input.metadata()?.len();
        let sidecar_text_len = 64 + 2 + name.len() + 1;
        // Room for the image and its sidecar, checked before anything is written.
        let cluster = fs.cluster_size() as u64;
        let needed = size.div_ceil(cluster) + (sidecar_text_len as u64).div_ceil(cluster);
        let free = fs.free_clusters().map_err(from_exfat)? as u64;
        if needed > free {
            bail!(
                "{}: not enough space on the drive: needs {} clusters ({} bytes), {} free",
                src.display(),
                needed,
                needed * cluster,
                free
            );
        }
        let bar = progress(size, name, quiet);
        let sha = {
            let mut writer = fs
                .create_file(&dest, size, time)
                .map_err(from_exfat)
                .with_context(|| format!("creating {dest}"))?;
            // Until the copy completes the file claims no valid data.
            writer.set_valid_data_length(0).map_err(from_exfat)?;
            let result = copy_hashing(&mut input, size, &mut writer, &bar);
            match result {
                Ok((sha, valid_len)) => {
                    writer.set_valid_data_length(valid_len).map_err(from_exfat)?;
                    sha
                }
                Err(e) => {
                    drop(writer);
                    let _ = fs.remove(&dest);
                    return Err(e.context(format!("copying {} to {dest}", src.display())));
                }
            }
        };
        bar.finish_and_clear();
        let hex = crate::drive::bootpart::hex(&sha);
        let sidecar = format!("{hex}  {name}\n");
        let sidecar_path = format!("{dest}.sha256");
        if fs.metadata(&sidecar_path).is_ok() {
            fs.remove(&sidecar_path).map_err(from_exfat)?;
        }
        fs.write_file(&sidecar_path, sidecar.as_bytes(), time)
            .map_err(from_exfat)
            .with_context(|| format!("writing {sidecar_path}"))?;
        // Checked on the host file: the same bytes, and a failure here changes nothing.
        let check =
            menu::ImageKind::from_name(name).and_then(|_| crate::check::check_host_file(src).ok());
        let (config_error, config_warnings) = validate_config(&dest, src, size)?;
        added.push(Added {
            path: dest,
            size,
            sha256: hex,
            expected_to_work: check.as_ref().map(|c| c.expected_to_work),
            verdict: check.map(|c| c.verdict),
            config_error,
            config_warnings,
        });
    }
    fs.flush().map_err(from_exfat)?;
    Ok(added)
}

/// Copy `size` bytes, hashing them; trailing all-zero chunks are not written (they lie past the
/// valid data length, which reads as zeros), so sparse images copy fast. Returns the hash and
/// the valid data length. SHA-256 runs on a second thread, overlapping the writes: hashing
/// alone is slower than the storage on a fast machine.
fn copy_hashing<D: polyboot_core::block::WriteAt>(
    input: &mut std::fs::File,
    size: u64,
    writer: &mut exfat::FileWriter<'_, D>,
    bar: &ProgressBar,
) -> Result<([u8; 32], u64)> {
    use std::sync::{mpsc, Arc};
    // Chunks in flight to the hasher; bounds the memory to a few chunks.
    let (to_hasher, chunks) = mpsc::sync_channel::<Arc<Vec<u8>>>(2);
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in chunks {
                hasher.update(&chunk[..]);
            }
            <[u8; 32]>::from(hasher.finalize())
        });
        let copied = copy_chunks(input, size, writer, bar, &to_hasher);
        drop(to_hasher);
        let digest = hasher.join().map_err(|_| anyhow::anyhow!("the hashing thread panicked"))?;
        copied.map(|valid_len| (digest, valid_len))
    })
}

fn copy_chunks<D: polyboot_core::block::WriteAt>(
    input: &mut std::fs::File,
    size: u64,
    writer: &mut exfat::FileWriter<'_, D>,
    bar: &ProgressBar,
    to_hasher: &std::sync::mpsc::SyncSender<std::sync::Arc<Vec<u8>>>,
) -> Result<u64> {
    use std::sync::Arc;
    // Buffers shared with the hasher; one is reused once the hasher has let go of it.
    let mut recycled: Vec<Arc<Vec<u8>>> = Vec::new();
    let mut pos = 0u64;
    let mut written_to = 0u64; // everything before this offset is on the drive
    while pos < size {
        let n = ((size - pos) as usize).min(COPY_CHUNK);
        let reusable = recycled.iter().position(|b| Arc::strong_count(b) == 1);
        let mut buf = reusable
            .and_then(|i| Arc::try_unwrap(recycled.swap_remove(i)).ok())
            .unwrap_or_default();
        buf.resize(n, 0);
        input
            .read_exact(&mut buf)
            .context("reading the source (did it shrink during the copy?)")?;
        let chunk = Arc::new(buf);
        to_hasher
            .send(Arc::clone(&chunk))
            .map_err(|_| anyhow::anyhow!("the hashing thread stopped"))?;
        if chunk.iter().any(|&b| b != 0) {
            if written_to < pos {
                // Zero chunks skipped so far lie inside the valid data now: write them.
                let zeros = vec![0u8; COPY_CHUNK];
                while written_to < pos {
                    let z = ((pos - written_to) as usize).min(COPY_CHUNK);
                    writer.write_at(written_to, &zeros[..z]).map_err(from_exfat)?;
                    written_to += z as u64;
                }
            }
            writer.write_at(pos, &chunk).map_err(from_exfat)?;
            written_to = pos + n as u64;
        }
        pos += n as u64;
        bar.set_position(pos);
        recycled.push(chunk);
        if recycled.len() > 4 {
            recycled.remove(0);
        }
    }
    let mut extra = [0u8; 1];
    if input.read(&mut extra)? != 0 {
        bail!("the source grew during the copy");
    }
    Ok(written_to)
}

pub fn rm(drive: &mut Drive, path: &str) -> Result<Vec<String>> {
    let p = normalize(path);
    let mut fs = drive.data()?;
    fs.remove(&p).map_err(from_exfat).with_context(|| format!("removing {p}"))?;
    let mut removed = vec![p.clone()];
    let sidecar = format!("{p}.sha256");
    if fs.metadata(&sidecar).is_ok() {
        fs.remove(&sidecar).map_err(from_exfat).with_context(|| format!("removing {sidecar}"))?;
        removed.push(sidecar);
    }
    fs.flush().map_err(from_exfat)?;
    Ok(removed)
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VerifyStatus {
    Ok,
    Mismatch { expected: String, actual: String },
    NoChecksum,
    BadChecksumFile,
}

#[derive(Debug, Serialize)]
pub struct Verified {
    pub path: String,
    pub status: VerifyStatus,
}

/// Re-hash images against their `.sha256` files: one path, or every image on the drive.
pub fn verify(drive: &mut Drive, path: Option<&str>, quiet: bool) -> Result<Vec<Verified>> {
    // First the file system: which files, their recorded hashes and where their bytes are.
    let mut pending = Vec::new();
    let mut results = Vec::new();
    {
        let mut fs = drive.data()?;
        let targets: Vec<String> = match path {
            Some(p) => vec![normalize(p)],
            None => {
                let mut all = Vec::new();
                walk(&mut fs, "/", &mut |p, e| {
                    if !e.is_dir() && is_image_name(&e.name) {
                        all.push(p.to_string());
                    }
                })?;
                all
            }
        };
        for t in targets {
            let meta = fs.metadata(&t).map_err(from_exfat).with_context(|| t.clone())?;
            let status = match fs.read_to_vec(&format!("{t}.sha256")) {
                Err(exfat::Error::NotFound) => Some(VerifyStatus::NoChecksum),
                Err(e) => return Err(from_exfat(e)),
                Ok(text) => match parse_sidecar(&text) {
                    None => Some(VerifyStatus::BadChecksumFile),
                    Some(expected) => {
                        let extents = fs
                            .file_extents(&meta)
                            .map_err(from_exfat)
                            .with_context(|| t.clone())?;
                        pending.push((results.len(), meta.size, extents, expected));
                        None
                    }
                },
            };
            results.push((t, status));
        }
    }
    // Then the data, each file's extents read once, in large sequential reads.
    let data_offset = drive.layout.data.offset;
    for (index, size, extents, expected) in pending {
        let bar = progress(size, &results[index].0, quiet);
        let actual = hash_extents(drive.device(), data_offset, size, extents, &bar)
            .with_context(|| results[index].0.clone())?;
        bar.finish_and_clear();
        results[index].1 = Some(if actual == expected {
            VerifyStatus::Ok
        } else {
            VerifyStatus::Mismatch { expected, actual }
        });
    }
    Ok(results
        .into_iter()
        .map(|(path, status)| Verified { path, status: status.expect("every file has a status") })
        .collect())
}

fn parse_sidecar(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    let hex = text.split_whitespace().next()?.to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// SHA-256 of a file's bytes given its extents (bytes past the valid data read as zeros).
fn hash_extents(
    dev: &mut crate::drive::io::FileDevice,
    partition_offset: u64,
    size: u64,
    extents: Vec<exfat::Extent>,
    bar: &ProgressBar,
) -> Result<String> {
    let layout =
        polyboot_core::virtual_medium::VirtualMedium::new(512, size, partition_offset, extents)
            .map_err(|e| anyhow::anyhow!("the file's layout is inconsistent: {e}"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut pos = 0;
    while pos < size {
        let n = ((size - pos) as usize).min(COPY_CHUNK);
        layout
            .read(dev, pos, &mut buf[..n])
            .map_err(|e| anyhow::anyhow!("reading at {pos}: {e}"))?;
        hasher.update(&buf[..n]);
        pos += n as u64;
        bar.set_position(pos);
    }
    Ok(crate::drive::bootpart::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(normalize("a/b/"), "/a/b");
        assert_eq!(normalize("/"), "/");
        assert_eq!(join("/", "x"), "/x");
        assert!(
            is_image_name("Debian.ISO")
                && is_image_name("a.vhdx")
                && !is_image_name("a.iso.sha256")
        );
        assert_eq!(
            parse_sidecar(format!("{}  x.iso\n", "Ab".repeat(32)).as_bytes()),
            Some("ab".repeat(32))
        );
        assert_eq!(parse_sidecar(b"zz  x.iso"), None);
    }
}
