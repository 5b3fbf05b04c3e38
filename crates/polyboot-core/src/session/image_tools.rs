//! What the menu's F-keys and `verify_before_boot` do with an image, for both firmware:
//! the SHA-256 check against a `.sha256` sidecar, the details screen, and the image list
//! after `image_list` / `image_blacklist` / `VTOY_FILE_FLT_*`.

use crate::block::ReadAt;
use crate::boot_plan;
use crate::bootcfg;
use crate::config::{BootConfig, Firmware};
use crate::eltorito;
use crate::exfat::ExFat;
use crate::initfamily;
use crate::menu::{format_size, ImageEntry, ImageKind};
use crate::sha256::Sha256;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

/// Largest sidecar read: a checksum line, or a `sha256sum` listing of a few hundred files.
pub const MAX_SIDECAR_BYTES: u64 = 64 * 1024;
/// Bytes hashed per read (and per progress report).
const CHUNK: usize = 1 << 20;

/// The result of checking an image against its sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The image's SHA-256 is the one the sidecar names.
    Match { sha256: String },
    /// It is not.
    Mismatch { expected: String, actual: String },
    /// No usable sidecar: why.
    NoSidecar(String),
    /// Reading failed: why.
    Failed(String),
}

impl VerifyOutcome {
    pub fn is_match(&self) -> bool {
        matches!(self, VerifyOutcome::Match { .. })
    }

    /// One line for the screen and the log.
    pub fn describe(&self, image: &str) -> String {
        match self {
            VerifyOutcome::Match { sha256 } => format!("SHA-256 OK: {image} ({sha256})"),
            VerifyOutcome::Mismatch { expected, actual } => format!(
                "SHA-256 MISMATCH: {image} is corrupted or not the expected file \
                 (expected {expected}, got {actual})"
            ),
            VerifyOutcome::NoSidecar(why) => format!("cannot verify {image}: {why}"),
            VerifyOutcome::Failed(why) => format!("verifying {image} failed: {why}"),
        }
    }
}

/// The sidecar of `image`: `/ISO/x.iso.sha256`.
pub fn sidecar_path(image: &str) -> String {
    format!("{image}.sha256")
}

/// The checksum for `name` in a sidecar's text: a bare hex digest, `sha256sum` output
/// (`<hex>  name`, `<hex> *name`, one line per file) or BSD style
/// (`SHA256 (name) = <hex>`). A listing of several files must name this one.
pub fn expected_digest(text: &str, name: &str) -> Option<[u8; 32]> {
    let mut lines: Vec<(Option<&str>, &str)> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(rest) = line.strip_prefix("SHA256 (") {
            let (file, hex) = rest.rsplit_once(") = ")?;
            lines.push((Some(file), hex.trim()));
        } else {
            let (hex, file) = match line.split_once(char::is_whitespace) {
                Some((hex, file)) => (hex, Some(file.trim().trim_start_matches('*'))),
                None => (line, None),
            };
            lines.push((file, hex));
        }
    }
    let base = |f: &str| f.rsplit(['/', '\\']).next().unwrap_or(f).to_string();
    let chosen = match lines.as_slice() {
        [(_, hex)] => *hex,
        many => many.iter().find(|(f, _)| f.is_some_and(|f| base(f).eq_ignore_ascii_case(name)))?.1,
    };
    let hex = chosen.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let pair = core::str::from_utf8(&hex[2 * i..2 * i + 2]).ok()?;
        *o = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hash `image` on `fs` and compare with its sidecar, reporting (bytes done, total) to
/// `progress` after each chunk.
pub fn verify_image<D: ReadAt>(
    fs: &mut ExFat<D>,
    image: &ImageEntry,
    progress: &mut dyn FnMut(u64, u64),
) -> VerifyOutcome {
    let sidecar = sidecar_path(&image.path);
    let text = match fs.metadata(&sidecar) {
        Ok(m) if m.is_dir() => {
            return VerifyOutcome::NoSidecar(format!("{sidecar} is a directory"))
        }
        Ok(m) if m.size > MAX_SIDECAR_BYTES => {
            return VerifyOutcome::NoSidecar(format!(
                "{sidecar} is larger than {MAX_SIDECAR_BYTES} bytes"
            ))
        }
        Ok(_) => match fs.read_to_vec(&sidecar) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => return VerifyOutcome::Failed(format!("reading {sidecar}: {e}")),
        },
        Err(_) => return VerifyOutcome::NoSidecar(format!("there is no {sidecar}")),
    };
    let Some(expected) = expected_digest(&text, &image.name) else {
        return VerifyOutcome::NoSidecar(format!(
            "{sidecar} holds no SHA-256 (64 hex digits) for {}",
            image.name
        ));
    };
    let mut file = match fs.open_file(&image.path) {
        Ok(f) => f,
        Err(e) => return VerifyOutcome::Failed(format!("{e}")),
    };
    let total = file.size();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < total {
        let n = (total - done).min(CHUNK as u64) as usize;
        if let Err(e) = file.read_at(done, &mut buf[..n]) {
            return VerifyOutcome::Failed(format!("reading at byte {done}: {e}"));
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        progress(done, total);
    }
    let actual = hasher.finalize();
    if actual == expected {
        VerifyOutcome::Match { sha256: hex(&actual) }
    } else {
        VerifyOutcome::Mismatch { expected: hex(&expected), actual: hex(&actual) }
    }
}

/// The progress line while verifying: `verifying x.iso: 412 MiB of 1.2 GiB (33%)`.
pub fn progress_line(image: &ImageEntry, done: u64, total: u64) -> String {
    let percent = done.saturating_mul(100).checked_div(total).unwrap_or(100);
    format!(
        "verifying {}: {} of {} ({percent}%)",
        image.name,
        format_size(done),
        format_size(total)
    )
}

/// The lines of the details screen (F2): size, fragments, how it boots under each firmware,
/// and for ISOs the El Torito entries and the Linux init family.
pub fn image_details<D: ReadAt>(fs: &mut ExFat<D>, image: &ImageEntry) -> Vec<String> {
    let mut lines = vec![
        format!("{}", image.path),
        format!("kind {}, {} ({} bytes)", image.kind.label(), format_size(image.size), image.size),
    ];
    match fs.extents(&image.path) {
        Ok(extents) => lines.push(format!(
            "{} fragment{} on the data partition",
            extents.len(),
            if extents.len() == 1 { "" } else { "s" }
        )),
        Err(e) => lines.push(format!("fragments: cannot map the file: {e}")),
    }
    let Ok(mut file) = fs.open_file(&image.path) else {
        lines.push(String::from("the file cannot be opened"));
        return lines;
    };
    for firmware in [Firmware::Uefi, Firmware::Bios] {
        let plan = boot_plan::plan(image.kind, &mut file, firmware);
        let name = match firmware {
            Firmware::Uefi => "UEFI",
            Firmware::Bios => "BIOS",
        };
        let how = match (&plan.status, plan.method) {
            (Some(crate::menu::Status::NotBootable(why)), _) => format!("not bootable: {why}"),
            (_, Some(method)) => method.describe().to_string(),
            (_, None) => String::from("not checked"),
        };
        lines.push(format!("{name}: {how}"));
    }
    if image.kind == ImageKind::Iso {
        match eltorito::read_catalog(&mut file) {
            Ok(catalog) => {
                for (i, e) in catalog.entries.iter().enumerate() {
                    lines.push(format!(
                        "El Torito entry {i}: {:?}, {:?}{}, {} sectors at block {}",
                        e.platform,
                        e.media,
                        if e.bootable { "" } else { " (not bootable)" },
                        e.sector_count,
                        e.load_rba
                    ));
                }
            }
            Err(e) => lines.push(format!("El Torito: {e}")),
        }
        match bootcfg::find_boot_entries(&mut file) {
            Ok(report) => lines.push(format!("Linux init: {}", initfamily::detect(&report))),
            Err(e) => lines.push(format!("boot configuration: {e}")),
        }
    }
    lines
}

/// The images the menu lists, in menu order, after `image_list` / `image_blacklist` /
/// `VTOY_FILE_FLT_*`; and how many were left out.
pub fn select_images(config: &BootConfig, images: &[ImageEntry]) -> (Vec<ImageEntry>, usize) {
    let mut kept: Vec<(usize, usize)> = images
        .iter()
        .enumerate()
        .filter_map(|(i, image)| config.menu_rank(&image.path, image.kind).ok().map(|r| (r, i)))
        .collect();
    // Stable by scan order among equal ranks (wildcard entries, blacklists).
    kept.sort_unstable();
    let left_out = images.len() - kept.len();
    (kept.into_iter().map(|(_, i)| images[i].clone()).collect(), left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sidecar_forms() {
        let want = expected_digest(A, "x.iso").unwrap();
        assert_eq!(hex(&want), A);
        assert_eq!(expected_digest(&format!("{A}  x.iso\n"), "X.ISO"), Some(want));
        assert_eq!(expected_digest(&format!("{A} *dir/x.iso"), "x.iso"), Some(want));
        assert_eq!(expected_digest(&format!("SHA256 (x.iso) = {A}"), "x.iso"), Some(want));
        let listing = format!("{}  a.iso\n{A}  x.iso\n", "0".repeat(64));
        assert_eq!(expected_digest(&listing, "x.iso"), Some(want));
        assert_eq!(expected_digest(&listing, "other.iso"), None);
        assert_eq!(expected_digest("abc", "x.iso"), None);
        assert_eq!(expected_digest(&format!("{}  x.iso", "g".repeat(64)), "x.iso"), None);
        assert_eq!(expected_digest("", "x.iso"), None);
        assert_eq!(expected_digest("SHA256 (x.iso)", "x.iso"), None);
    }
}
