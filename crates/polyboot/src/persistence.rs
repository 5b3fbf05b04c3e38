//! `polyboot persistence create | extend | ls`: persistence backend files on the data partition.
//!
//! A backend is one file holding a whole file system (ext4 made by `mkfs.ext4`, or XFS). At
//! boot polyboot-hook maps the file's clusters as a device-mapper linear device, so what is on
//! the drive must be the file system's bytes exactly, zeros included: every chunk of the
//! file is compared with what its clusters hold and written where they differ (a fresh image
//! file reads zeros and stays sparse; a used USB stick gets its old bytes overwritten), and
//! only then does the exFAT valid data length cover the whole file.
//!
//! The file system is made (and, for `extend`, grown and checked) in a temporary file on
//! this machine first ($TMPDIR); the drive is written only once that has worked.

use crate::cli::{
    PersistenceArgs, PersistenceCommand, PersistenceCreateArgs, PersistenceExtendArgs,
    PersistenceFsArg, PersistenceLsArgs, PersistenceWriteArgs, SizeChange,
};
use crate::device::{self, format_size, Policy, SystemView, Target};
use crate::drive::io::FileDevice;
use crate::drive::Drive;
use crate::ops::{self, progress};
use crate::persistence_luks::{self as luks, KdfCost};
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use polyboot_core::config::{self, Firmware, POLYBOOT_JSON, VENTOY_JSON};
use polyboot_core::exfat::{self, Extent, Timestamp};
use polyboot_core::fsprobe::{self, FsInfo};
use polyboot_core::initfamily::{self, InitFamily};
use polyboot_core::path::join;
use serde::Serialize;
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MIB: u64 = 1 << 20;
/// Smaller file systems are of no use as persistence (ext4's journal alone is 1 MiB+).
pub const MIN_SIZE: u64 = 16 * MIB;
/// mkfs.xfs refuses file systems under 300 MB (xfsprogs 5.19 and later).
pub const MIN_SIZE_XFS: u64 = 300 * MIB;
/// Ventoy's default label (its CreatePersistentImg.sh), used when nothing says otherwise.
pub const DEFAULT_LABEL: &str = "casper-rw";
/// live-boot reads this file from the root of a `persistence` volume: `/ union` keeps every
/// change to the whole system.
const PERSISTENCE_CONF: &str = "/ union\n";
const CHUNK: usize = 4 << 20;

fn from_exfat(e: exfat::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Timestamp::from_unix(secs)
}

pub fn run(args: PersistenceArgs) -> Result<()> {
    let view = SystemView::host();
    let interactive = std::io::stdin().is_terminal();
    // Not a StdinLock held for the whole command: the passphrase prompt reads stdin too.
    let mut stdin = std::io::BufReader::new(std::io::stdin());
    match args.command {
        PersistenceCommand::Create(a) => {
            let json = a.write.json;
            let report = with_output(json, |out| create(&view, &a, interactive, &mut stdin, out))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
        }
        PersistenceCommand::Extend(a) => {
            let json = a.write.json;
            let report = with_output(json, |out| extend(&view, &a, interactive, &mut stdin, out))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
        }
        PersistenceCommand::Ls(a) => {
            let mut drive = Drive::open(&a.target, false)?;
            let list = ls(&mut drive, &a)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_ls(&list);
            }
        }
    }
    Ok(())
}

/// Messages go to stdout, or to stderr when stdout carries the JSON report.
fn with_output<T>(json: bool, f: impl FnOnce(&mut dyn Write) -> Result<T>) -> Result<T> {
    if json {
        f(&mut std::io::stderr().lock())
    } else {
        f(&mut std::io::stdout().lock())
    }
}

/// Progress bars only for a person watching.
fn quiet(w: &PersistenceWriteArgs) -> bool {
    w.quiet || w.json || !std::io::stderr().is_terminal()
}

// ---------------------------------------------------------------------------------------
// The target: safety rules of `install` for disks, none for image files.

/// Open the drive for writing after the checks `install` makes on a disk (a partition, a
/// mounted or in-use disk, the system's disk are refused; a fixed disk needs --force) and,
/// when `ask` is given, the user's yes. Image files are opened as they are.
fn open_for_writing(
    view: &SystemView,
    path: &Path,
    force: bool,
    ask: Option<(&str, bool, bool, &mut dyn BufRead)>,
    out: &mut dyn Write,
) -> Result<Drive> {
    let target = device::inspect_target(view, path)?;
    if let Target::ImageFile { exists: false, .. } = target {
        bail!("{} does not exist", path.display());
    }
    device::check_policy(&target, &Policy { force, min_size: 0 })?;
    if let (Target::BlockDevice(disk), Some((what, yes, interactive, input))) = (&target, ask) {
        // The disk was described with the plan above.
        let prompt = format!("{what} {}?", disk.label());
        let (mut input, mut out) = (input, out);
        if !device::confirm(&prompt, &[&disk.sysfs_name], yes, interactive, &mut input, &mut out)? {
            bail!("not confirmed: nothing written");
        }
    }
    Drive::open(path, true)
}

/// The safety checks alone (for --dry-run and before the temporary work).
fn check_target(view: &SystemView, path: &Path, force: bool) -> Result<Target> {
    let target = device::inspect_target(view, path)?;
    if let Target::ImageFile { exists: false, .. } = target {
        bail!("{} does not exist", path.display());
    }
    device::check_policy(&target, &Policy { force, min_size: 0 })?;
    Ok(target)
}

// ---------------------------------------------------------------------------------------
// Names, sizes, labels.

/// `ubuntu` -> `ubuntu.dat`; a name already ending in `.dat` (any case) is kept.
pub fn backend_file_name(name: &str) -> Result<(String, bool)> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        bail!(
            "{name:?}: give a file name such as ubuntu or ubuntu.dat; the directory is --dir \
             (default /persistence)"
        );
    }
    if name.to_ascii_lowercase().ends_with(".dat") {
        Ok((name.to_string(), false))
    } else {
        Ok((format!("{name}.dat"), true))
    }
}

/// Sizes are whole MiB (mkfs and resize2fs work in blocks; a MiB is a whole number of any).
fn whole_mib(size: u64) -> u64 {
    size / MIB * MIB
}

fn check_label(label: &str, fs: PersistenceFsArg) -> Result<()> {
    let max = match fs {
        PersistenceFsArg::Ext4 => 16,
        PersistenceFsArg::Xfs => 12,
    };
    if label.is_empty() || label.len() > max {
        bail!("label {label:?}: 1 to {max} bytes for {}", fs_name(fs));
    }
    if label.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'"' || b == b'\'') {
        bail!("label {label:?}: no spaces, quotes or control characters");
    }
    Ok(())
}

fn fs_name(fs: PersistenceFsArg) -> &'static str {
    match fs {
        PersistenceFsArg::Ext4 => "ext4",
        PersistenceFsArg::Xfs => "xfs",
    }
}

/// An image file's path as the drive spells it (exFAT names match without regard to case;
/// the configuration's image paths are compared as written).
fn on_drive_spelling(drive: &mut Drive, path: &str) -> Result<String> {
    let mut fs = drive.data()?;
    let mut spelled = String::from("/");
    let clean = ops::normalize(path);
    let parts: Vec<&str> = clean.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        bail!("give the image file");
    }
    for (i, part) in parts.iter().enumerate() {
        let entries = fs.read_dir(&spelled).map_err(from_exfat)?;
        let found = entries
            .iter()
            .find(|e| e.name == *part)
            .or_else(|| entries.iter().find(|e| e.name.to_lowercase() == part.to_lowercase()))
            .with_context(|| format!("no {} on the drive", join(&spelled, part)))?;
        let last = i + 1 == parts.len();
        if last && found.is_dir() {
            bail!("{} is a directory; give the image file", join(&spelled, &found.name));
        }
        if !last && !found.is_dir() {
            bail!("{} is a file, not a directory", join(&spelled, &found.name));
        }
        spelled = join(&spelled, &found.name);
    }
    Ok(spelled)
}

/// The init family of an image on the drive, from its boot configuration.
fn image_family(drive: &mut Drive, image: &str) -> Result<InitFamily> {
    let mut fs = drive.data()?;
    let mut file = fs.open_file(image).map_err(from_exfat).with_context(|| image.to_string())?;
    let report = polyboot_core::bootcfg::find_boot_entries(&mut file)
        .map_err(|e| anyhow::anyhow!("{image}: cannot read its boot configuration: {e}"))?;
    Ok(initfamily::detect(&report))
}

// ---------------------------------------------------------------------------------------
// External tools.

/// A tool from $PATH, or from the sbin directories a user's PATH often lacks.
fn tool(name: &str, package: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not found (Debian package {package})"))
}

/// Run a tool; its output on failure becomes the error.
fn run_tool(cmd: &mut Command, what: &str) -> Result<String> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let out =
        cmd.stdin(Stdio::null()).output().with_context(|| format!("{what}: cannot run {name}"))?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("{what}: {name} failed ({}): {}", out.status, text.trim());
    }
    Ok(text)
}

/// Make the file system in `file` (already `size` bytes long).
/// `conf`: write live-boot's persistence.conf at the root (ext4 only).
fn mkfs(file: &Path, fs: PersistenceFsArg, label: &str, conf: bool, work: &Path) -> Result<()> {
    match fs {
        PersistenceFsArg::Ext4 => {
            let mut cmd = Command::new(tool("mkfs.ext4", "e2fsprogs")?);
            // Inode tables and journal zeroed now: the live system's kernel would otherwise
            // zero them in the background through the mapped device on first boot.
            cmd.args(["-F", "-q", "-L", label, "-E", "lazy_itable_init=0,lazy_journal_init=0"]);
            if conf {
                // -d copies a directory in.
                let root = work.join("root");
                std::fs::create_dir(&root)?;
                std::fs::write(root.join("persistence.conf"), PERSISTENCE_CONF)?;
                set_mode(&root.join("persistence.conf"), 0o644)?;
                // The file system's root gets this directory's mode.
                set_mode(&root, 0o755)?;
                cmd.arg("-d").arg(&root);
            }
            run_tool(cmd.arg(file), "making the ext4 file system")?;
        }
        PersistenceFsArg::Xfs => {
            let mut cmd = Command::new(tool("mkfs.xfs", "xfsprogs")?);
            cmd.args(["-q", "-L", label]).arg(file);
            run_tool(&mut cmd, "making the XFS file system")?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

fn temp_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("polyboot-persistence.")
        .tempdir()
        .context("making a temporary directory (set TMPDIR to put it elsewhere)")
}

/// A sparse file of `size` bytes.
fn sparse_file(path: &Path, size: u64) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.set_len(size).with_context(|| {
        format!("sizing {} to {} (is $TMPDIR large enough?)", path.display(), format_size(size))
    })?;
    Ok(file)
}

// ---------------------------------------------------------------------------------------
// The file's bytes on the disk.

/// Where a file's bytes are on the whole disk: the data partition's offset plus the
/// file's extents.
struct Placement {
    base: u64,
    extents: Vec<Extent>,
}

impl Placement {
    /// Disk offset and length of each piece of `offset..offset + len` (must be covered).
    fn pieces(&self, offset: u64, len: u64) -> Result<Vec<(u64, usize)>> {
        let end = offset + len;
        let mut pieces = Vec::new();
        let mut at = offset;
        for e in &self.extents {
            if at >= end {
                break;
            }
            if e.file_offset + e.len <= at {
                continue;
            }
            if e.file_offset > at {
                bail!("the file's clusters do not cover offset {at}");
            }
            let n = (e.file_offset + e.len).min(end) - at;
            pieces.push((self.base + e.device_offset + (at - e.file_offset), n as usize));
            at += n;
        }
        if at < end {
            bail!("the file's clusters end before offset {end}");
        }
        Ok(pieces)
    }

    fn read(&self, dev: &FileDevice, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0;
        for (at, n) in self.pieces(offset, buf.len() as u64)? {
            dev.file()
                .read_exact_at(&mut buf[done..done + n], at)
                .with_context(|| format!("reading the drive at {at}"))?;
            done += n;
        }
        Ok(())
    }

    fn write(&self, dev: &FileDevice, offset: u64, buf: &[u8]) -> Result<()> {
        let mut done = 0;
        for (at, n) in self.pieces(offset, buf.len() as u64)? {
            dev.file()
                .write_all_at(&buf[done..done + n], at)
                .with_context(|| format!("writing the drive at {at}"))?;
            done += n;
        }
        Ok(())
    }
}

/// Make the file's clusters hold `src` (`len` bytes): each chunk is compared with what the
/// clusters hold and written where it differs. Returns the bytes written.
fn copy_into_clusters(
    dev: &FileDevice,
    place: &Placement,
    src: &std::fs::File,
    len: u64,
    bar: &ProgressBar,
) -> Result<u64> {
    let mut want = vec![0u8; CHUNK];
    let mut have = vec![0u8; CHUNK];
    let mut written = 0;
    let mut pos = 0;
    while pos < len {
        let n = ((len - pos) as usize).min(CHUNK);
        src.read_exact_at(&mut want[..n], pos).context("reading the temporary file system")?;
        place.read(dev, pos, &mut have[..n])?;
        if want[..n] != have[..n] {
            place.write(dev, pos, &want[..n])?;
            written += n as u64;
        }
        pos += n as u64;
        bar.set_position(pos);
    }
    dev.file().sync_data().context("flushing the drive")?;
    Ok(written)
}

fn placement(drive: &Drive, extents: &[Extent]) -> Placement {
    Placement { base: drive.layout.data.offset, extents: extents.to_vec() }
}

// ---------------------------------------------------------------------------------------
// polyboot.json

/// Add `backend` to the `persistence` entry of `image` in polyboot.json's text (`None`: no
/// file yet). Other keys and entries are kept. Returns the new text, or `None` when the
/// backend is already listed for the image. A new entry preselects its backend (`autosel`).
pub fn register_backend(
    current: Option<&[u8]>,
    image: &str,
    backend: &str,
) -> Result<Option<Vec<u8>>> {
    let mut root = match current {
        None => json!({ "version": config::FORMAT_VERSION }),
        Some(bytes) => serde_json::from_slice::<Value>(bytes).map_err(|e| {
            anyhow::anyhow!("{POLYBOOT_JSON} does not parse ({e}); fix it, then run this again")
        })?,
    };
    let Some(top) = root.as_object_mut() else {
        bail!("{POLYBOOT_JSON} is not a JSON object; fix it, then run this again");
    };
    let list = top.entry("persistence").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        bail!("{POLYBOOT_JSON}: \"persistence\" is not a list; fix it, then run this again");
    };
    let existing = list.iter_mut().find(|e| e.get("image").and_then(Value::as_str) == Some(image));
    match existing {
        // Registered for the image: used when it boots, with no menu (Ventoy's autosel 1; a
        // second backend added later keeps the entry's own choice rules).
        None => list.push(json!({ "image": image, "backend": backend, "autosel": 1 })),
        Some(entry) => match entry.get_mut("backend") {
            Some(Value::String(s)) if s == backend => return Ok(None),
            Some(Value::String(s)) => {
                let first = std::mem::take(s);
                entry["backend"] = json!([first, backend]);
            }
            Some(Value::Array(items)) => {
                if items.iter().any(|b| b.as_str() == Some(backend)) {
                    return Ok(None);
                }
                items.push(json!(backend));
            }
            _ => entry["backend"] = json!(backend),
        },
    }
    let mut text = serde_json::to_vec_pretty(&root)?;
    text.push(b'\n');
    Ok(Some(text))
}

/// Write polyboot.json's new text (replacing the file).
fn write_polyboot_json(drive: &mut Drive, text: &[u8]) -> Result<()> {
    let mut fs = drive.data()?;
    let (dir, _) = POLYBOOT_JSON.rsplit_once('/').unwrap_or(("/", POLYBOOT_JSON));
    fs.create_dir_all(dir, now()).map_err(from_exfat).with_context(|| format!("creating {dir}"))?;
    if fs.metadata(POLYBOOT_JSON).is_ok() {
        fs.remove(POLYBOOT_JSON).map_err(from_exfat)?;
    }
    fs.write_file(POLYBOOT_JSON, text, now())
        .map_err(from_exfat)
        .with_context(|| format!("writing {POLYBOOT_JSON}"))?;
    fs.flush().map_err(from_exfat)?;
    Ok(())
}

/// A configuration file's bytes, if it is on the drive and not too large to be read.
fn read_config(drive: &mut Drive, path: &str) -> Result<Option<Vec<u8>>> {
    let mut fs = drive.data()?;
    match fs.metadata(path) {
        Err(exfat::Error::NotFound) => Ok(None),
        Err(e) => Err(from_exfat(e)).with_context(|| path.to_string()),
        Ok(m) if m.size > config::MAX_CONFIG_BYTES as u64 => {
            bail!("{path} is larger than {} bytes", config::MAX_CONFIG_BYTES)
        }
        Ok(_) => Ok(Some(fs.read_to_vec(path).map_err(from_exfat)?)),
    }
}

// ---------------------------------------------------------------------------------------
// create

#[derive(Debug, Serialize)]
pub struct Created {
    /// Path of the file on the data partition.
    pub path: String,
    pub size: u64,
    pub filesystem: &'static str,
    pub label: String,
    /// The new file system's UUID (`null` with --dry-run).
    pub uuid: Option<String>,
    pub encrypted: bool,
    /// Where the label came from: "--label", the init family of --image, or the default.
    pub label_source: String,
    /// ".dat" was added to the name given.
    pub dat_added: bool,
    /// Runs of clusters holding it (1 = contiguous; 0 with --dry-run).
    pub fragments: usize,
    pub image: Option<String>,
    /// polyboot.json got (or, with --dry-run, would get) the backend for --image.
    pub registered: bool,
    /// Free bytes on the data partition before.
    pub free_before: u64,
    /// Bytes written to the drive for the file's content (clusters already holding the
    /// right bytes are not written again).
    pub bytes_written: u64,
    /// An existing file of that name was replaced (--force).
    pub replaced: bool,
    pub dry_run: bool,
    pub notes: Vec<String>,
}

pub fn create(
    view: &SystemView,
    args: &PersistenceCreateArgs,
    interactive: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<Created> {
    let w = &args.write;
    let (file_name, dat_added) = backend_file_name(&args.name)?;
    let dir = ops::normalize(&args.dir);
    let path = join(&dir, &file_name);
    let size = whole_mib(args.size);
    let min = match args.fs {
        PersistenceFsArg::Ext4 => MIN_SIZE,
        PersistenceFsArg::Xfs => MIN_SIZE_XFS,
    };
    // With --encrypt the LUKS2 header and keyslots come first; the file system gets the rest.
    let (min, fs_size) = match args.encrypt {
        true => (min + luks::DATA_OFFSET, luks::plain_size(size).unwrap_or(0)),
        false => (min, size),
    };
    if args.encrypt && !(8 * MIB..=1024 * MIB).contains(&args.kdf_memory) {
        bail!("--kdf-memory {}: 8 MiB to 1 GiB", format_size(args.kdf_memory));
    }
    if size < min {
        bail!(
            "--size {}: a{} {} persistence file needs at least {}",
            format_size(args.size),
            if args.encrypt { "n encrypted" } else { "" },
            fs_name(args.fs),
            format_size(min)
        );
    }
    let mut notes = Vec::new();
    if size != args.size {
        notes.push(format!("size rounded down to whole MiB: {} ({size} bytes)", format_size(size)));
    }
    let target = check_target(view, &args.target, w.force)?;
    let mut drive = Drive::open(&args.target, false)?;
    let image = match args.image.as_deref() {
        Some(i) => Some(on_drive_spelling(&mut drive, i).with_context(|| format!("--image {i}"))?),
        None => None,
    };

    let family = match &image {
        Some(image) => {
            let family = image_family(&mut drive, image)?;
            if !family.supports_persistence() {
                notes.push(format!(
                    "{image}: init family {family}: polyboot knows no persistence for it"
                ));
            }
            Some(family)
        }
        None => None,
    };
    // The label: given, else the one core chooses for the image's family, else the default.
    let (label, label_source) = match (&args.label, &image, family) {
        (Some(l), _, _) => (l.clone(), "--label".to_string()),
        (None, Some(image), Some(family)) => (
            initfamily::persistence_label(family).to_string(),
            format!("the label for {family} in {image}"),
        ),
        _ => (DEFAULT_LABEL.to_string(), "the default, as Ventoy's".to_string()),
    };
    check_label(&label, args.fs)?;
    // live-boot reads persistence.conf from a volume labelled persistence; with no image
    // given, the label alone says it is for live-boot.
    let conf = label == "persistence" && family.is_none_or(|f| f == InitFamily::LiveBoot);
    if args.fs == PersistenceFsArg::Xfs && conf {
        bail!(
            "label persistence (live-boot) needs persistence.conf inside the file system, which \
             polyboot writes into ext4 only; use --fs ext4"
        );
    }
    if conf {
        notes.push("persistence.conf (\"/ union\") is written at the file system's root".into());
    }

    // The data partition: the name is free (or --force), the space is there.
    let (free_before, cluster, existing) = {
        let mut fs = drive.data()?;
        let cluster = fs.cluster_size() as u64;
        let free = fs.free_clusters().map_err(from_exfat)? as u64 * cluster;
        let total = fs.cluster_count() as u64 * cluster;
        if size > total {
            bail!(
                "--size {}: larger than the whole data partition ({})",
                format_size(size),
                format_size(total)
            );
        }
        let existing = match fs.metadata(&path) {
            Ok(m) if m.is_dir() => bail!("{path} is a directory"),
            Ok(m) => Some(m.size.div_ceil(cluster) * cluster),
            Err(exfat::Error::NotFound) => None,
            Err(exfat::Error::NotADirectory) => bail!("{dir} is not a directory"),
            Err(e) => return Err(from_exfat(e)).with_context(|| path.clone()),
        };
        if existing.is_some() && !w.force {
            bail!("{path} already exists; --force replaces it");
        }
        (free, cluster, existing)
    };
    // A cluster each for a new directory and a rewritten polyboot.json, to be safe.
    let needed = size.div_ceil(cluster) * cluster + 2 * cluster;
    let available = free_before + existing.unwrap_or(0);
    if needed > available {
        bail!(
            "not enough free space on the data partition for {path}: it needs {}, {} is free{}",
            format_size(needed),
            format_size(free_before),
            if existing.is_some() { " (with the old file's space)" } else { "" }
        );
    }
    // polyboot.json checked (and its new text made) before anything is written.
    let new_config = match &image {
        Some(image) => {
            let current = read_config(&mut drive, POLYBOOT_JSON)?;
            register_backend(current.as_deref(), image, &path)?
        }
        None => None,
    };
    if image.is_some() {
        let current = read_config(&mut drive, POLYBOOT_JSON)?.unwrap_or_default();
        for key in plugin_keys(&current).iter().filter(|k| k.as_str() != "persistence") {
            notes.push(format!(
                "{POLYBOOT_JSON} has {key}, which replaces persistence under that firmware: \
                 add {path} there too"
            ));
        }
    }
    let ventoy_has_plugin = match read_config(&mut drive, VENTOY_JSON)? {
        Some(v) => !plugin_keys(&v).is_empty(),
        None => false,
    };
    if image.is_some() && ventoy_has_plugin {
        notes.push(format!(
            "{VENTOY_JSON} has a persistence plugin too: polyboot.json's replaces it as a whole"
        ));
    }

    if let Target::BlockDevice(disk) = &target {
        writeln!(out, "{disk}")?;
    }
    writeln!(
        out,
        "persistence file {path}: {}, {}, label {label} ({label_source}){}",
        format_size(size),
        fs_name(args.fs),
        if dat_added { format!("; \".dat\" added to {:?}", args.name) } else { String::new() }
    )?;
    writeln!(
        out,
        "  data partition: {} free, {} after",
        format_size(free_before),
        format_size(available.saturating_sub(size.div_ceil(cluster) * cluster))
    )?;
    if args.encrypt {
        writeln!(
            out,
            "  encrypted: LUKS2 (passphrase {}; Argon2id {}, {} ms), the {} file system in its \
             last {}",
            match &args.passphrase_file {
                Some(f) => format!("from {}", f.display()),
                None => "asked twice".into(),
            },
            format_size(args.kdf_memory),
            args.kdf_time,
            fs_name(args.fs),
            format_size(fs_size)
        )?;
    }
    if existing.is_some() {
        writeln!(out, "  replaces the existing {path} (--force)")?;
    }
    if let Some(image) = &image {
        match &new_config {
            Some(_) => writeln!(out, "  {POLYBOOT_JSON}: persistence for {image} gets {path}")?,
            None => writeln!(out, "  {POLYBOOT_JSON}: {path} is already listed for {image}")?,
        }
    }
    for n in &notes {
        writeln!(out, "  note: {n}")?;
    }
    let mut report = Created {
        path: path.clone(),
        size,
        filesystem: fs_name(args.fs),
        label: label.clone(),
        uuid: None,
        encrypted: args.encrypt,
        label_source,
        dat_added,
        fragments: 0,
        image: image.clone(),
        registered: new_config.is_some(),
        free_before,
        bytes_written: 0,
        replaced: existing.is_some(),
        dry_run: w.dry_run,
        notes,
    };
    if w.dry_run {
        writeln!(out, "dry run: nothing written")?;
        return Ok(report);
    }

    let passphrase = match args.encrypt {
        true => Some(luks::read_passphrase(args.passphrase_file.as_deref())?),
        false => None,
    };
    // The file system, in a temporary file (then its LUKS2 container, written in full).
    let work = temp_dir()?;
    let plain = work.path().join("fs.img");
    sparse_file(&plain, fs_size)?;
    mkfs(&plain, args.fs, &label, conf, work.path())?;
    let backend = match &passphrase {
        Some(p) => {
            let cost = KdfCost {
                memory_kib: (args.kdf_memory / 1024) as u32,
                iter_time_ms: args.kdf_time,
            };
            let sealed = luks::encrypt_backend(&plain, size, p, cost, work.path())?;
            std::fs::remove_file(&plain)?;
            sealed
        }
        None => plain,
    };
    let head = read_head(&backend)?;
    report.uuid = fsprobe::probe(&head).map(|i| i.uuid);

    // Then the drive.
    drop(drive);
    let what = format!("Write {path} ({}) to the data partition of", format_size(size));
    let mut drive = open_for_writing(
        view,
        &args.target,
        w.force,
        Some((&what, w.yes, interactive, input)),
        out,
    )?;
    let extents = {
        let mut fs = drive.data()?;
        fs.create_dir_all(&dir, now())
            .map_err(from_exfat)
            .with_context(|| format!("creating {dir}"))?;
        if existing.is_some() {
            fs.remove(&path)
                .map_err(from_exfat)
                .with_context(|| format!("removing the old {path}"))?;
        }
        let mut writer = fs
            .create_file(&path, size, now())
            .map_err(from_exfat)
            .with_context(|| format!("creating {path}"))?;
        // Until its content is in place the file claims none.
        writer.set_valid_data_length(0).map_err(from_exfat)?;
        writer.extents().to_vec()
    };
    report.fragments = extents.len();
    let place = placement(&drive, &extents);
    let src = std::fs::File::open(&backend)?;
    let bar = progress(size, &file_name, quiet(w));
    let copied = copy_into_clusters(drive.device(), &place, &src, size, &bar);
    bar.finish_and_clear();
    report.bytes_written = match copied {
        Ok(n) => n,
        Err(e) => {
            let removed = drive.data().and_then(|mut fs| fs.remove(&path).map_err(from_exfat));
            let what = if removed.is_ok() { "removed again" } else { "left with no valid data" };
            return Err(e.context(format!("copying the file system to {path} ({what})")));
        }
    };
    {
        let mut fs = drive.data()?;
        let mut writer = fs.open_file_writer(&path).map_err(from_exfat)?;
        writer.set_valid_data_length(size).map_err(from_exfat)?;
        fs.flush().map_err(from_exfat)?;
    }
    if let Some(text) = &new_config {
        write_polyboot_json(&mut drive, text)?;
        report_config_warnings(text, out)?;
    }
    drive.sync()?;
    writeln!(
        out,
        "created {path} ({}, {} label {label}, {} written, {})",
        format_size(size),
        fs_name(args.fs),
        format_size(report.bytes_written),
        fragments_text(report.fragments)
    )?;
    Ok(report)
}

fn fragments_text(n: usize) -> String {
    match n {
        1 => "contiguous".into(),
        n => format!("{n} fragments"),
    }
}

/// The persistence plugin's keys in a ventoy.json or polyboot.json (`persistence`,
/// `persistence_uefi`, ...).
fn plugin_keys(bytes: &[u8]) -> Vec<String> {
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    top.keys().filter(|k| *k == "persistence" || k.starts_with("persistence_")).cloned().collect()
}

/// What the boot manager's parser says about the polyboot.json just written.
fn report_config_warnings(text: &[u8], out: &mut dyn Write) -> Result<()> {
    match config::parse_polyboot(text, Firmware::Uefi) {
        Ok(layer) => {
            for w in layer.warnings {
                writeln!(out, "note: {POLYBOOT_JSON}: {w}")?;
            }
        }
        Err(e) => writeln!(out, "warning: {POLYBOOT_JSON}: {e}")?,
    }
    Ok(())
}

fn read_head(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut head = vec![0u8; fsprobe::PROBE_BYTES];
    let mut n = 0;
    while n < head.len() {
        match file.read_at(&mut head[n..], n as u64)? {
            0 => break,
            got => n += got,
        }
    }
    head.truncate(n);
    Ok(head)
}

// ---------------------------------------------------------------------------------------
// extend

#[derive(Debug, Serialize)]
pub struct Extended {
    pub path: String,
    pub old_size: u64,
    pub new_size: u64,
    pub filesystem: &'static str,
    pub label: String,
    pub fragments: usize,
    pub bytes_written: u64,
    /// What e2fsck repaired on the copy before growing it (empty: nothing).
    pub repaired: Option<String>,
    pub dry_run: bool,
}

/// The backend's path: `/a/b.dat` as it is, a name in `dir` with or without `.dat`.
fn find_backend(drive: &mut Drive, dir: &str, name: &str) -> Result<(String, exfat::DirEntry)> {
    let mut fs = drive.data()?;
    let candidates: Vec<String> = if name.starts_with('/') {
        vec![ops::normalize(name)]
    } else {
        let (with_dat, _) = backend_file_name(name)?;
        let mut c = vec![join(dir, name)];
        if with_dat != name {
            c.push(join(dir, &with_dat));
        }
        c
    };
    for c in &candidates {
        match fs.metadata(c) {
            Ok(m) if m.is_dir() => bail!("{c} is a directory"),
            Ok(m) => return Ok((c.clone(), m)),
            Err(exfat::Error::NotFound | exfat::Error::NotADirectory) => {}
            Err(e) => return Err(from_exfat(e)).with_context(|| c.clone()),
        }
    }
    bail!("no persistence file {} on the drive", candidates.join(" or "))
}

/// The file's bytes as a reader sees them: its clusters up to the valid data length, zeros
/// after.
fn read_file_bytes(
    drive: &mut Drive,
    meta: &exfat::DirEntry,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    let extents = drive.data()?.file_extents(meta).map_err(from_exfat)?;
    let place = placement(drive, &extents);
    let valid = meta.valid_data_length.min(meta.size);
    let end = offset + buf.len() as u64;
    let real = valid.clamp(offset, end) - offset;
    place.read(drive.device(), offset, &mut buf[..real as usize])?;
    buf[real as usize..].fill(0);
    Ok(())
}

pub fn extend(
    view: &SystemView,
    args: &PersistenceExtendArgs,
    interactive: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<Extended> {
    let w = &args.write;
    let target = check_target(view, &args.target, w.force)?;
    let mut drive = Drive::open(&args.target, false)?;
    let dir = ops::normalize(&args.dir);
    let (path, meta) = find_backend(&mut drive, &dir, &args.name)?;
    let old_size = meta.size;
    let mut head = vec![0u8; (fsprobe::PROBE_BYTES as u64).min(old_size) as usize];
    read_file_bytes(&mut drive, &meta, 0, &mut head)?;
    let info = fsprobe::probe(&head);
    let info = match info {
        Some(i) if i.kind.is_ext() => i,
        Some(i) if i.kind == fsprobe::FsKind::Xfs => bail!(
            "{path} holds XFS, which grows only while mounted (xfs_growfs): boot the live system \
             with it and run xfs_growfs on its mount point after growing the file is supported, \
             or make a larger file with `polyboot persistence create`"
        ),
        Some(i) => bail!("{path} is {} (encrypted): growing it is not in this build yet", i.kind),
        None => bail!("{path} holds no ext2/3/4 file system polyboot recognises"),
    };
    let requested = match args.size {
        SizeChange::To(s) => s,
        SizeChange::Grow(more) => old_size.checked_add(more).context("--size: too large")?,
    };
    let new_size = whole_mib(requested);
    if new_size <= old_size {
        bail!(
            "--size: {} is not larger than {path} ({}); persistence files only grow",
            format_size(new_size),
            format_size(old_size)
        );
    }
    let (free, cluster) = {
        let mut fs = drive.data()?;
        let cluster = fs.cluster_size() as u64;
        (fs.free_clusters().map_err(from_exfat)? as u64 * cluster, cluster)
    };
    let more = new_size.div_ceil(cluster) * cluster - old_size.div_ceil(cluster) * cluster;
    if more > free {
        bail!(
            "not enough free space on the data partition to grow {path} by {}: {} is free",
            format_size(more),
            format_size(free)
        );
    }
    if let Target::BlockDevice(disk) = &target {
        writeln!(out, "{disk}")?;
    }
    writeln!(
        out,
        "grow {path} ({}, label {}) from {} to {}; {} of {} free used",
        info.kind,
        info.label,
        format_size(old_size),
        format_size(new_size),
        format_size(more),
        format_size(free)
    )?;
    let mut report = Extended {
        path: path.clone(),
        old_size,
        new_size,
        filesystem: info.kind.name(),
        label: info.label.clone(),
        fragments: 0,
        bytes_written: 0,
        repaired: None,
        dry_run: w.dry_run,
    };
    if w.dry_run {
        writeln!(out, "dry run: nothing written")?;
        return Ok(report);
    }

    // A copy, checked, grown and checked again; the drive is not written before this works.
    let work = temp_dir()?;
    let copy = work.path().join("fs.img");
    let file = sparse_file(&copy, old_size)?;
    let bar = progress(old_size, &format!("reading {path}"), quiet(w));
    let mut buf = vec![0u8; CHUNK];
    let mut pos = 0;
    while pos < old_size {
        let n = ((old_size - pos) as usize).min(CHUNK);
        read_file_bytes(&mut drive, &meta, pos, &mut buf[..n])?;
        if buf[..n].iter().any(|&b| b != 0) {
            file.write_all_at(&buf[..n], pos)?;
        }
        pos += n as u64;
        bar.set_position(pos);
    }
    bar.finish_and_clear();
    file.set_len(new_size)?;
    drop(file);
    report.repaired = e2fsck_preen(&copy, &path)?;
    if let Some(r) = &report.repaired {
        writeln!(out, "note: e2fsck repaired the copy of {path} before growing it: {r}")?;
    }
    run_tool(
        Command::new(tool("resize2fs", "e2fsprogs")?)
            .arg(&copy)
            .arg(format!("{}K", new_size / 1024)),
        &format!("growing the file system of {path}"),
    )?;
    run_tool(
        Command::new(tool("e2fsck", "e2fsprogs")?).arg("-fn").arg(&copy),
        &format!("checking the grown file system of {path}"),
    )?;

    drop(drive);
    let what = format!("Grow {path} to {} on the data partition of", format_size(new_size));
    let mut drive = open_for_writing(
        view,
        &args.target,
        w.force,
        Some((&what, w.yes, interactive, input)),
        out,
    )?;
    let extents = {
        let mut fs = drive.data()?;
        let writer = fs
            .extend_file(&path, new_size)
            .map_err(from_exfat)
            .with_context(|| format!("growing {path}"))?;
        writer.extents().to_vec()
    };
    report.fragments = extents.len();
    let place = placement(&drive, &extents);
    let src = std::fs::File::open(&copy)?;
    let bar = progress(new_size, &format!("writing {path}"), quiet(w));
    let copied = copy_into_clusters(drive.device(), &place, &src, new_size, &bar);
    bar.finish_and_clear();
    report.bytes_written = copied.with_context(|| {
        format!("writing the grown file system to {path}; its content is now incomplete")
    })?;
    {
        let mut fs = drive.data()?;
        let mut writer = fs.open_file_writer(&path).map_err(from_exfat)?;
        writer.set_valid_data_length(new_size).map_err(from_exfat)?;
        fs.flush().map_err(from_exfat)?;
    }
    drive.sync()?;
    writeln!(
        out,
        "grew {path} to {} ({} written, {})",
        format_size(new_size),
        format_size(report.bytes_written),
        fragments_text(report.fragments)
    )?;
    Ok(report)
}

/// `e2fsck -f -p` on the copy: resize2fs wants a freshly checked file system, and a live
/// system switched off without unmounting leaves a journal to replay. Returns what it
/// repaired (exit status 1), or fails when preening cannot fix it.
fn e2fsck_preen(copy: &Path, path: &str) -> Result<Option<String>> {
    let out = Command::new(tool("e2fsck", "e2fsprogs")?)
        .arg("-fp")
        .arg(copy)
        .stdin(Stdio::null())
        .output()
        .context("running e2fsck")?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
            .replace(&copy.display().to_string(), path);
    match out.status.code() {
        Some(0) => Ok(None),
        Some(1) => Ok(Some(text.trim().to_string())),
        _ => bail!(
            "{path}: its file system has errors e2fsck -p cannot repair ({}); nothing written. \
             Repair it on a Linux system first: {}",
            out.status,
            text.trim()
        ),
    }
}

// ---------------------------------------------------------------------------------------
// ls

#[derive(Debug, Serialize)]
pub struct Backend {
    pub path: String,
    /// The file is on the drive (a configuration may name a missing one).
    pub exists: bool,
    pub size: Option<u64>,
    /// Runs of clusters holding it (1 = contiguous).
    pub fragments: Option<usize>,
    /// ext2, ext3, ext4, xfs or crypto_LUKS; `null` when none is recognised.
    pub filesystem: Option<&'static str>,
    pub label: Option<String>,
    pub uuid: Option<String>,
    /// The file system's own size (`null` for LUKS or when unrecognised).
    pub filesystem_size: Option<u64>,
    pub encrypted: bool,
    /// Images on the drive whose `persistence` entry (polyboot.json or ventoy.json) offers it.
    pub images: Vec<String>,
    /// Something that looks wrong, in words.
    pub problems: Vec<String>,
}

pub fn ls(drive: &mut Drive, args: &PersistenceLsArgs) -> Result<Vec<Backend>> {
    let dir = ops::normalize(&args.dir);
    let mut paths: Vec<String> = Vec::new();
    let mut images: Vec<String> = Vec::new();
    {
        let mut fs = drive.data()?;
        match fs.metadata(&dir) {
            Ok(m) if m.is_dir() => ops::walk(&mut fs, &dir, &mut |p, e| {
                if !e.is_dir() {
                    paths.push(p.to_string());
                }
            })?,
            Ok(_) => bail!("{dir} is not a directory"),
            Err(exfat::Error::NotFound) => {}
            Err(e) => return Err(from_exfat(e)).with_context(|| dir.clone()),
        }
        ops::walk(&mut fs, "/", &mut |p, e| {
            if !e.is_dir() && ops::is_image_name(&e.name) {
                images.push(p.to_string());
            }
        })?;
    }
    // Which images each backend serves, as the boot manager reads the configuration.
    let polyboot = read_config(drive, POLYBOOT_JSON).ok().flatten();
    let ventoy = read_config(drive, VENTOY_JSON).ok().flatten();
    // Both boot managers' views: a `persistence_legacy` key may name other files.
    let mut users: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for firmware in [Firmware::Uefi, Firmware::Bios] {
        let (config, _) = config::load_all(polyboot.as_deref(), ventoy.as_deref(), firmware);
        for image in &images {
            let backends = config.persistence_choices(image).map(|c| c.options);
            for backend in backends.unwrap_or_default() {
                let list = users.entry(backend).or_default();
                if !list.contains(image) {
                    list.push(image.clone());
                }
            }
        }
    }
    for backend in users.keys() {
        if !paths.iter().any(|p| p.eq_ignore_ascii_case(backend)) {
            paths.push(backend.clone());
        }
    }
    let mut list = Vec::new();
    for path in paths {
        let images = users
            .iter()
            .filter(|(b, _)| b.eq_ignore_ascii_case(&path))
            .flat_map(|(_, i)| i.iter().cloned())
            .collect();
        list.push(describe_backend(drive, &path, images)?);
    }
    Ok(list)
}

fn describe_backend(drive: &mut Drive, path: &str, images: Vec<String>) -> Result<Backend> {
    let mut b = Backend {
        path: path.to_string(),
        exists: false,
        size: None,
        fragments: None,
        filesystem: None,
        label: None,
        uuid: None,
        filesystem_size: None,
        encrypted: false,
        images,
        problems: Vec::new(),
    };
    let meta = match drive.data()?.metadata(path) {
        Ok(m) if !m.is_dir() => m,
        Ok(_) => {
            b.problems.push("a directory, not a file".into());
            return Ok(b);
        }
        Err(exfat::Error::NotFound | exfat::Error::NotADirectory) => {
            b.problems.push("named by the configuration but not on the drive".into());
            return Ok(b);
        }
        Err(e) => return Err(from_exfat(e)).with_context(|| path.to_string()),
    };
    b.exists = true;
    b.size = Some(meta.size);
    b.fragments = Some(drive.data()?.file_extents(&meta).map_err(from_exfat)?.len());
    let mut head = vec![0u8; (fsprobe::PROBE_BYTES as u64).min(meta.size) as usize];
    read_file_bytes(drive, &meta, 0, &mut head)?;
    match fsprobe::probe(&head) {
        Some(FsInfo { kind, label, uuid, size }) => {
            b.filesystem = Some(kind.name());
            b.encrypted = kind.is_luks();
            b.label = Some(label);
            b.uuid = Some(uuid);
            b.filesystem_size = size;
            if size.is_some_and(|s| s > meta.size) {
                b.problems.push(format!(
                    "the file system says {} but the file has {}",
                    format_size(size.unwrap_or(0)),
                    format_size(meta.size)
                ));
            }
        }
        None => b.problems.push("no ext2/3/4, XFS or LUKS header".into()),
    }
    if meta.valid_data_length < meta.size {
        b.problems.push(format!(
            "only the first {} hold data (an interrupted copy?)",
            format_size(meta.valid_data_length)
        ));
    }
    Ok(b)
}

fn print_ls(list: &[Backend]) {
    if list.is_empty() {
        println!("no persistence files");
    }
    for b in list {
        let size = b.size.map(format_size).unwrap_or_else(|| "-".into());
        let fs = match (&b.filesystem, &b.label) {
            (Some(f), Some(l)) if !l.is_empty() => format!("{f} \"{l}\""),
            (Some(f), _) => f.to_string(),
            (None, _) => "unknown".into(),
        };
        let frag = b.fragments.map(fragments_text).unwrap_or_default();
        println!(
            "{:>10}  {}  {fs}{}  {frag}",
            size,
            b.path,
            if b.encrypted { " encrypted" } else { "" }
        );
        if let Some(u) = &b.uuid {
            println!("            uuid {u}");
        }
        for i in &b.images {
            println!("            used by {i}");
        }
        for p in &b.problems {
            println!("            PROBLEM: {p}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_dat_once() {
        assert_eq!(backend_file_name("ubuntu").unwrap(), ("ubuntu.dat".into(), true));
        assert_eq!(backend_file_name("ubuntu.DAT").unwrap(), ("ubuntu.DAT".into(), false));
        assert_eq!(backend_file_name("casper-rw").unwrap(), ("casper-rw.dat".into(), true));
        for bad in ["", "a/b", "/x.dat", ".", ".."] {
            assert!(backend_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_label("casper-rw", PersistenceFsArg::Ext4).is_ok());
        assert!(check_label("0123456789abcdef", PersistenceFsArg::Ext4).is_ok());
        assert!(check_label("0123456789abc", PersistenceFsArg::Xfs).is_err());
        assert!(check_label("a b", PersistenceFsArg::Ext4).is_err());
        assert!(check_label("", PersistenceFsArg::Ext4).is_err());
    }

    #[test]
    fn registering_keeps_other_keys_and_entries() {
        let text = br#"{"version": 1, "menu": {"timeout": 3},
            "persistence": [{"image": "/a.iso", "backend": "/persistence/a.dat", "autosel": 1}]}"#;
        let new = register_backend(Some(text), "/b.iso", "/persistence/b.dat").unwrap().unwrap();
        let v: Value = serde_json::from_slice(&new).unwrap();
        assert_eq!(v["menu"]["timeout"], 3);
        assert_eq!(v["persistence"][0]["autosel"], 1);
        assert_eq!(
            v["persistence"][1],
            json!({"image": "/b.iso", "backend": "/persistence/b.dat", "autosel": 1})
        );
        // A second backend for /a.iso makes its backend a list; a third is appended.
        let new = register_backend(Some(&new), "/a.iso", "/persistence/a2.dat").unwrap().unwrap();
        let v: Value = serde_json::from_slice(&new).unwrap();
        assert_eq!(
            v["persistence"][0]["backend"],
            json!(["/persistence/a.dat", "/persistence/a2.dat"])
        );
        let again = register_backend(Some(&new), "/a.iso", "/persistence/a3.dat").unwrap().unwrap();
        let v: Value = serde_json::from_slice(&again).unwrap();
        assert_eq!(v["persistence"][0]["backend"][2], "/persistence/a3.dat");
        // Already there: nothing to write.
        assert!(register_backend(Some(&new), "/a.iso", "/persistence/a2.dat").unwrap().is_none());
        assert!(register_backend(Some(&new), "/b.iso", "/persistence/b.dat").unwrap().is_none());
        // No file yet.
        let fresh = register_backend(None, "/c.iso", "/p/c.dat").unwrap().unwrap();
        let v: Value = serde_json::from_slice(&fresh).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(
            v["persistence"],
            json!([{"image": "/c.iso", "backend": "/p/c.dat", "autosel": 1}])
        );
        // Broken files are refused, not overwritten.
        assert!(register_backend(Some(b"{"), "/c.iso", "/p/c.dat").is_err());
        assert!(register_backend(Some(b"[1]"), "/c.iso", "/p/c.dat").is_err());
        assert!(register_backend(Some(br#"{"persistence": 5}"#), "/c.iso", "/p/c.dat").is_err());
    }

    #[test]
    fn placement_splits_reads_across_extents() {
        let place = Placement {
            base: 1000,
            extents: vec![
                Extent { file_offset: 0, device_offset: 0, len: 100 },
                Extent { file_offset: 100, device_offset: 500, len: 50 },
            ],
        };
        assert_eq!(place.pieces(90, 20).unwrap(), vec![(1090, 10), (1500, 10)]);
        assert_eq!(place.pieces(120, 30).unwrap(), vec![(1520, 30)]);
        assert!(place.pieces(140, 20).is_err());
        assert_eq!(place.pieces(0, 0).unwrap(), vec![]);
    }
}
