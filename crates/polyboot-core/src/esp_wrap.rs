//! Initrds stored in an ISO's El Torito EFI image (a FAT file system, e.g. archiso's
//! `efiboot.img` with systemd-boot), served wrapped through the firmware's file protocol.
//!
//! The firmware's FAT driver binds to the El Torito partition of the virtual CD and boot
//! loaders (systemd-boot, the Linux EFI stub) read the initrd through
//! `EFI_SIMPLE_FILE_SYSTEM_PROTOCOL` / `EFI_FILE_PROTOCOL`. The boot manager puts a filter in
//! front of that file system; this module is its pure part:
//!
//! - [`find_initrds`]: which paths the FAT image's own boot configuration loads as initrds
//!   (systemd-boot loader entries, GRUB configurations), through core's [`crate::bootcfg`]
//!   parsers;
//! - [`resolve`] / [`same_path`]: how an `Open` file name resolves against the directory it is
//!   opened from (`\` or `/` separators, absolute or relative, `.` / `..`, FAT's
//!   case-insensitive names), so the filter recognises an initrd whichever way it is named;
//! - [`Wrapper`]: the content served for such a file, byte for byte what
//!   [`crate::initrd_wrap`] serves for an initrd of the ISO 9660 tree:
//!   `[hook archive][original archive: header | the original initrd | trailer]`, the
//!   original bytes read on demand through the real file.
//!
//! Nothing is written to the drive or to the image. The host (`polyboot check`) runs the same
//! [`find_initrds`] over core's [`crate::fat`] reader, so it reports what the firmware wraps.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::bootcfg::{self, Parsed, Warning};
use crate::cpio::{CpioLayout, LayoutPart};
use crate::initrd_wrap::{self, SkipReason, Skipped, MAX_WRAPPED};
use crate::path;

/// GRUB configurations looked for in the FAT image (paths from its root). A GRUB reading
/// the FAT itself does not go through the firmware's file protocol, so these only matter
/// to loaders that do; reading them costs little.
pub const GRUB_CONFIGS: &[&str] = &["/EFI/BOOT/grub.cfg", "/boot/grub/grub.cfg", "/grub/grub.cfg"];

/// Longest path the filter tracks (characters); longer names are passed through unwrapped.
pub const MAX_PATH: usize = 4096;

/// The absolute path (`/`-separated, from the volume's root, no `.` / `..` / empty
/// components; the root is `/`) that `name` names when opened from the directory `dir` (an
/// absolute path as returned by this function). A leading `\` or `/` in `name` starts from
/// the root; `..` never climbs above it.
pub fn resolve(dir: &str, name: &str) -> String {
    // The same normalisation as paths in boot configurations (`..` clamped at the root).
    path::resolve(dir, name)
}

/// The directory containing `path` (an absolute path from [`resolve`]).
pub fn parent(path: &str) -> String {
    resolve(path, "..")
}

/// Whether two absolute paths from [`resolve`] name the same file on a FAT volume
/// (case-insensitive, trailing spaces and periods of each component ignored).
pub fn same_path(a: &str, b: &str) -> bool {
    let mut ca = a.split('/').filter(|c| !c.is_empty());
    let mut cb = b.split('/').filter(|c| !c.is_empty());
    loop {
        match (ca.next(), cb.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                if !path::fat_name_eq(x, y) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// What the FAT image's boot configuration loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EspConfig {
    /// Distinct initrd paths (absolute, `/`-separated, as the configuration spells them),
    /// in first-seen order.
    pub initrds: Vec<String>,
    /// The boot entries found (for the init family of what boots).
    pub entries: Vec<bootcfg::BootEntry>,
    /// Configuration files read.
    pub files: Vec<String>,
    pub warnings: Vec<Warning>,
}

/// Parse the FAT image's boot configuration: the systemd-boot entries named `entry_names`
/// (the file names listed in `/loader/entries`; only `*.conf` are read, in name order) and the
/// [`GRUB_CONFIGS`] that exist. `load` reads a file by absolute path (`None` when missing).
pub fn find_initrds<L>(entry_names: &[String], mut load: L) -> EspConfig
where
    L: FnMut(&str) -> Option<Vec<u8>>,
{
    let mut parsed: Vec<Parsed> = Vec::new();
    let mut names: Vec<&String> =
        entry_names.iter().filter(|n| n.to_ascii_lowercase().ends_with(".conf")).collect();
    names.sort();
    names.dedup();
    let mut sd = Parsed::default();
    for name in names.into_iter().take(bootcfg::MAX_FILES) {
        if name.contains(['/', '\\']) {
            continue;
        }
        let path = format!("{}/{name}", bootcfg::LOADER_ENTRIES_DIR);
        let Some(data) = load(&path) else { continue };
        if let Some(e) = bootcfg::parse_systemd_boot_entry(&path, &data) {
            sd.entries.push(e);
        }
        sd.files.push(path);
    }
    parsed.push(sd);
    for cfg in GRUB_CONFIGS {
        let Some(first) = load(cfg) else { continue };
        let prefix = parent(cfg);
        let mut first = Some(first);
        parsed.push(bootcfg::parse_grub(
            cfg,
            &[("prefix", prefix.as_str()), ("root", "esp")],
            |q| {
                if q.eq_ignore_ascii_case(cfg) {
                    if let Some(d) = first.take() {
                        return Some(d);
                    }
                }
                load(q)
            },
        ));
    }
    let mut out = EspConfig::default();
    for p in parsed {
        for path in p.initrd_paths() {
            let path = resolve("/", &path);
            if !out.initrds.iter().any(|o| same_path(o, &path))
                && out.initrds.len() < 4 * MAX_WRAPPED
            {
                out.initrds.push(path);
            }
        }
        for e in p.entries {
            if !out.entries.contains(&e) && out.entries.len() < bootcfg::MAX_ENTRIES {
                out.entries.push(e);
            }
        }
        out.files.extend(p.files);
        for w in p.warnings {
            if !out.warnings.contains(&w) && out.warnings.len() < bootcfg::MAX_WARNINGS {
                out.warnings.push(w);
            }
        }
    }
    out
}

/// One initrd of the FAT image served wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspInitrd {
    /// Path as the configuration names it (from [`resolve`]).
    pub path: String,
    /// Size of the original file.
    pub original_size: u64,
    /// Name of the original inside the wrapped file ([`initrd_wrap::original_name`]).
    pub name: String,
    layout: CpioLayout,
}

/// The wrapped content of every initrd of one FAT volume.
#[derive(Debug, Clone)]
pub struct Wrapper {
    hook: Arc<[u8]>,
    initrds: Vec<EspInitrd>,
}

/// A read that went past the end of a wrapped file, or a failed read of the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError<E> {
    PastEnd,
    Original(E),
}

impl Wrapper {
    /// Wrap the initrds `found` (`(path, size)` of files that exist; duplicates under the same
    /// FAT name are merged) behind `hook_archive` ([`initrd_wrap::hook_archive`]'s output).
    /// The `n`-th wrapped file carries its original as [`initrd_wrap::original_name`]`(n)`, in
    /// the order given (the load order, for several initrds of one entry).
    pub fn new(hook_archive: Arc<[u8]>, found: &[(String, u64)]) -> (Wrapper, Vec<Skipped>) {
        let mut initrds: Vec<EspInitrd> = Vec::new();
        let mut skipped = Vec::new();
        for (path, size) in found {
            if initrds.iter().any(|i| same_path(&i.path, path)) {
                continue;
            }
            let skip = |reason| Skipped { path: path.clone(), reason };
            if initrds.len() >= MAX_WRAPPED {
                skipped.push(skip(SkipReason::TooMany));
                continue;
            }
            let index = initrds.len();
            match initrd_wrap::original_archive(index, *size) {
                Ok(layout) => initrds.push(EspInitrd {
                    path: path.clone(),
                    original_size: *size,
                    name: initrd_wrap::original_name(index),
                    layout,
                }),
                Err(_) => skipped.push(skip(SkipReason::TooLarge)),
            }
        }
        (Wrapper { hook: hook_archive, initrds }, skipped)
    }

    pub fn initrds(&self) -> &[EspInitrd] {
        &self.initrds
    }

    /// The wrapped initrd an absolute path names, if any.
    pub fn find(&self, path: &str) -> Option<usize> {
        self.initrds.iter().position(|i| same_path(&i.path, path))
    }

    /// Whether the directory `dir` (an absolute path) holds a wrapped initrd: its listing
    /// must report the wrapped sizes.
    pub fn lists_initrds(&self, dir: &str) -> bool {
        self.initrds.iter().any(|i| same_path(&parent(&i.path), dir))
    }

    /// Size of the `index`-th wrapped file.
    pub fn len(&self, index: usize) -> u64 {
        self.initrds.get(index).map_or(0, |i| self.hook.len() as u64 + i.layout.len())
    }

    /// Read the `index`-th wrapped file at `pos` into `buf`: returns the bytes read (fewer than
    /// `buf.len()` only at the end of the file; 0 at the end). `original(offset, buf)` must
    /// fill `buf` with the original initrd's bytes at `offset`.
    pub fn read<E, F>(
        &self,
        index: usize,
        pos: u64,
        buf: &mut [u8],
        mut original: F,
    ) -> Result<usize, ReadError<E>>
    where
        F: FnMut(u64, &mut [u8]) -> Result<(), E>,
    {
        let Some(initrd) = self.initrds.get(index) else { return Err(ReadError::PastEnd) };
        let total = self.len(index);
        if pos > total {
            return Err(ReadError::PastEnd);
        }
        let n = (total - pos).min(buf.len() as u64) as usize;
        let mut done = 0usize;
        // The hook archive, then the original archive's parts.
        let hook_len = self.hook.len() as u64;
        if pos < hook_len {
            let take = ((hook_len - pos) as usize).min(n);
            buf[..take].copy_from_slice(&self.hook[pos as usize..pos as usize + take]);
            done = take;
        }
        let mut part_start = hook_len;
        for part in &initrd.layout.parts {
            if done == n {
                break;
            }
            let at = pos + done as u64;
            let part_end = part_start + part.len();
            if at < part_end {
                let within = at - part_start;
                let take = ((part_end - at) as usize).min(n - done);
                let dst = &mut buf[done..done + take];
                match part {
                    LayoutPart::Memory(b) => {
                        dst.copy_from_slice(&b[within as usize..within as usize + take])
                    }
                    LayoutPart::External { .. } => {
                        original(within, dst).map_err(ReadError::Original)?
                    }
                }
                done += take;
            }
            part_start = part_end;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn paths_resolve_like_the_firmware_opens_them() {
        assert_eq!(resolve("/", "\\initrd.img"), "/initrd.img");
        assert_eq!(resolve("/", "initrd.img"), "/initrd.img");
        assert_eq!(resolve("/", ""), "/");
        assert_eq!(resolve("/", "\\"), "/");
        assert_eq!(
            resolve("/arch/boot", "x86_64\\initramfs-linux.img"),
            "/arch/boot/x86_64/initramfs-linux.img"
        );
        assert_eq!(
            resolve("/arch/boot", "\\arch\\boot\\x86_64\\..\\.\\x86_64\\initramfs.img"),
            "/arch/boot/x86_64/initramfs.img"
        );
        assert_eq!(resolve("/a/b", ".."), "/a");
        assert_eq!(resolve("/a/b", "..\\..\\..\\..\\c"), "/c", "never above the root");
        assert_eq!(resolve("/a", "b//c\\\\d/"), "/a/b/c/d");
        assert_eq!(resolve("/a", "/x"), "/x", "forward slashes too");
        assert_eq!(resolve("/a", "."), "/a");
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
    }

    #[test]
    fn fat_names_compare_case_insensitively() {
        assert!(same_path("/Arch/Boot/INITRAMFS-linux.img", "/arch/boot/initramfs-LINUX.IMG"));
        assert!(same_path("/initrd.img.", "/INITRD.IMG"), "trailing periods are ignored");
        assert!(same_path("/initrd.img  ", "/initrd.img"), "trailing spaces are ignored");
        assert!(same_path("/", "/"));
        assert!(!same_path("/initrd.img", "/initrd.img2"));
        assert!(!same_path("/a/initrd.img", "/initrd.img"));
        assert!(!same_path("/initrd", "/"));
        assert!(same_path("/ÄBC", "/äbc"), "FAT folds non-ASCII letters too");
    }

    fn files<'a>(list: &'a [(&'a str, &'a str)]) -> impl FnMut(&str) -> Option<Vec<u8>> + 'a {
        move |p: &str| {
            list.iter().find(|(n, _)| n.eq_ignore_ascii_case(p)).map(|(_, d)| d.as_bytes().to_vec())
        }
    }

    #[test]
    fn systemd_boot_entries_and_grub_in_the_fat_image() {
        // archiso's efiboot.img (systemd-boot), as mkarchiso writes it.
        let arch = "title    Arch Linux install medium (x86_64, UEFI)\nsofttitle ignored\n\
                    linux    /arch/boot/x86_64/vmlinuz-linux\n\
                    initrd   /arch/boot/intel-ucode.img\ninitrd   /arch/boot/amd-ucode.img\n\
                    initrd   /arch/boot/x86_64/initramfs-linux.img\n\
                    options  archisobasedir=arch archisosearchuuid=2024-01-01-00-00-00-00\n";
        let speech = "title Speech\nlinux /arch/boot/x86_64/vmlinuz-linux\n\
                      initrd /arch/boot/x86_64/initramfs-linux.img\noptions accessibility=on\n";
        let grub = "menuentry 'x' {\n linux /vmlinuz\n initrd /boot/initrd.gz\n}\n";
        let fat = [
            ("/loader/entries/01-archiso-x86_64-linux.conf", arch),
            ("/loader/entries/02-archiso-x86_64-speech-linux.conf", speech),
            ("/EFI/BOOT/grub.cfg", grub),
        ];
        let names: Vec<String> = [
            "02-archiso-x86_64-speech-linux.conf",
            "01-archiso-x86_64-linux.conf",
            "notes.txt",
            "../evil.conf",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let found = find_initrds(&names, files(&fat));
        assert_eq!(
            found.initrds,
            [
                "/arch/boot/intel-ucode.img",
                "/arch/boot/amd-ucode.img",
                "/arch/boot/x86_64/initramfs-linux.img",
                "/boot/initrd.gz"
            ]
        );
        assert_eq!(
            found.files,
            [
                "/loader/entries/01-archiso-x86_64-linux.conf",
                "/loader/entries/02-archiso-x86_64-speech-linux.conf",
                "/EFI/BOOT/grub.cfg"
            ]
        );

        // The test fixture's entry: the initrd in the root, backslashes, odd case.
        let t = [(
            "/loader/entries/test.conf",
            "linux /vmlinuz\ninitrd \\Initrd.IMG\noptions console=ttyS0\n",
        )];
        let found = find_initrds(&["test.conf".to_string()], files(&t));
        assert_eq!(found.initrds, ["/Initrd.IMG"]);
        assert!(find_initrds(&[], files(&t)).initrds.is_empty());
    }

    fn hook() -> Arc<[u8]> {
        initrd_wrap::hook_archive(&[0xEE; 777], b"HANDOFF").unwrap().into()
    }

    fn original(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(i as u8 >> 3)).collect()
    }

    fn read_all(w: &Wrapper, index: usize, data: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pos = 0u64;
        loop {
            let mut buf = vec![0u8; chunk];
            let n = w
                .read::<(), _>(index, pos, &mut buf, |off, dst| {
                    dst.copy_from_slice(&data[off as usize..off as usize + dst.len()]);
                    Ok(())
                })
                .unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            pos += n as u64;
        }
        out
    }

    #[test]
    fn wrapped_content_is_what_the_iso_tree_would_serve() {
        let a = original(10_001, 7);
        let b = original(3, 13);
        let found = [
            ("/arch/boot/intel-ucode.img".to_string(), a.len() as u64),
            ("/ARCH/BOOT/Intel-ucode.img".to_string(), a.len() as u64),
            ("/initrd.img".to_string(), b.len() as u64),
        ];
        let (w, skipped) = Wrapper::new(hook(), &found);
        assert!(skipped.is_empty());
        assert_eq!(w.initrds().len(), 2, "the same FAT name twice is one file");
        assert_eq!(w.find("/arch/BOOT/intel-UCODE.img"), Some(0));
        assert_eq!(w.find("/initrd.img"), Some(1));
        assert_eq!(w.find("/vmlinuz"), None);
        assert!(w.lists_initrds("/") && w.lists_initrds("/ARCH/boot"));
        assert!(!w.lists_initrds("/arch") && !w.lists_initrds("/arch/boot/x86_64"));

        for (index, data) in [(0usize, &a), (1, &b)] {
            let mut expect = hook().to_vec();
            let layout = initrd_wrap::original_archive(index, data.len() as u64).unwrap();
            expect.extend(layout.to_bytes(|_| Some(data.as_slice())).unwrap());
            assert_eq!(w.len(index), expect.len() as u64);
            for chunk in [1, 3, 512, 4096, 1 << 20] {
                assert_eq!(read_all(&w, index, data, chunk), expect, "chunk {chunk}");
            }
            // Reads at arbitrary positions.
            for pos in [0u64, 1, 100, 899, 900, 1000, expect.len() as u64 - 5] {
                let mut buf = [0u8; 300];
                let n = w
                    .read::<(), _>(index, pos, &mut buf, |off, dst| {
                        dst.copy_from_slice(&data[off as usize..off as usize + dst.len()]);
                        Ok(())
                    })
                    .unwrap();
                let want = &expect[pos as usize..(pos as usize + 300).min(expect.len())];
                assert_eq!(&buf[..n], want, "at {pos}");
            }
            // At the end: nothing; past it: an error.
            let mut buf = [0u8; 8];
            assert_eq!(w.read::<(), _>(index, expect.len() as u64, &mut buf, |_, _| Ok(())), Ok(0));
            assert_eq!(
                w.read::<(), _>(index, expect.len() as u64 + 1, &mut buf, |_, _| Ok(())),
                Err(ReadError::PastEnd)
            );
        }
        // The names inside: polyboot/initrds/0000 and 0001.
        assert_eq!(w.initrds()[1].name, "polyboot/initrds/0001");
        // A failing original read is reported.
        let mut buf = vec![0u8; w.len(1) as usize];
        assert_eq!(w.read(1, 0, &mut buf, |_, _| Err("io")), Err(ReadError::Original("io")));
    }

    #[test]
    fn too_many_initrds_are_skipped() {
        let found: Vec<(String, u64)> =
            (0..MAX_WRAPPED + 2).map(|i| (format!("/i{i}"), 1)).collect();
        let (w, skipped) = Wrapper::new(hook(), &found);
        assert_eq!(w.initrds().len(), MAX_WRAPPED);
        assert_eq!(skipped.len(), 2);
        assert!(skipped.iter().all(|s| s.reason == SkipReason::TooMany));
    }
}
