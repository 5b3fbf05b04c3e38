//! A small ISO 9660 (ECMA-119) writer: the metadata of an image whose file data the caller
//! places (memory buffers, or ranges of another file mapped by the virtual medium). Reading
//! stays in [`crate::iso9660`].
//!
//! What it writes, in this order from sector 0:
//!
//! ```text
//! 0..16    system area (zeros)
//! 16       primary volume descriptor (level 2 names: upper case d-characters, "NAME.EXT;1")
//! 17       El Torito boot record (when there are boot entries)
//!  .       Joliet supplementary descriptor (UCS-2 big-endian names, case kept, no ";1")
//!  .       terminator
//!  .       boot catalog (one sector: validation entry, default entry, then one section
//!          per further entry)
//!  .       primary L and M path tables, Joliet L and M path tables
//!  .       primary directories, Joliet directories (breadth first)
//!  .       the files, in the order given, each from a sector boundary
//! ```
//!
//! Every file is one extent, so a file must be smaller than 4 GiB.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

pub const SECTOR: usize = 2048;
const SYSTEM_AREA_SECTORS: u32 = 16;
/// Longest identifier kept (ISO 9660 level 2: 31 characters with the separators; Joliet: 64
/// UCS-2 units).
const MAX_PRIMARY_ID: usize = 30;
const MAX_JOLIET_UNITS: usize = 64;
/// Most files and directories written (what polyboot builds holds about ten).
pub const MAX_FILES: usize = 4096;
/// Deepest path written (ECMA-119 allows 8 levels).
pub const MAX_DEPTH: usize = 8;

/// El Torito platform ids.
pub const PLATFORM_BIOS: u8 = 0;
pub const PLATFORM_EFI: u8 = 0xEF;

/// A file to place: `/`-separated path from the root (`/boot/bcd`), and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: String,
    pub len: u64,
}

/// A no-emulation El Torito entry booting file `file` (index into the files), loading
/// `sectors` 512-byte sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootSpec {
    pub platform: u8,
    pub file: usize,
    pub sectors: u16,
}

/// Why no image was laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsoWriteError {
    /// An empty, too deep or duplicate path, or one that is both a file and a directory.
    BadPath(String),
    /// A file of 4 GiB or more, or an image past 2^32 sectors.
    TooLarge,
    TooManyFiles,
    /// A boot entry naming no file.
    BadBootEntry,
}

impl fmt::Display for IsoWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsoWriteError::BadPath(p) => write!(f, "cannot place {p:?} in an ISO 9660 tree"),
            IsoWriteError::TooLarge => f.write_str("the ISO 9660 image would be too large"),
            IsoWriteError::TooManyFiles => f.write_str("too many files for the ISO 9660 image"),
            IsoWriteError::BadBootEntry => f.write_str("an El Torito entry names no file"),
        }
    }
}

impl core::error::Error for IsoWriteError {}

/// The laid-out image: `head` holds sectors `0..first_file_lba`; file `i` starts at sector
/// `file_lbas[i]`; the volume is `volume_sectors` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoLayout {
    pub head: Vec<u8>,
    pub first_file_lba: u32,
    pub file_lbas: Vec<u32>,
    pub volume_sectors: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Primary,
    Joliet,
}

/// A directory of the tree: its name (as given), parent, subdirectories and files.
struct Dir {
    name: String,
    parent: usize,
    dirs: Vec<usize>,
    files: Vec<usize>,
}

/// `name` as an identifier of the tree `kind` (without the version of primary file names).
fn identifier(name: &str, kind: Kind, is_file: bool) -> Vec<u8> {
    match kind {
        Kind::Primary => {
            let mut out: Vec<u8> = Vec::new();
            let (base, ext) = match (is_file, name.rfind('.')) {
                (true, Some(dot)) => (&name[..dot], Some(&name[dot + 1..])),
                _ => (name, None),
            };
            let d = |c: char| {
                let c = c.to_ascii_uppercase();
                if c.is_ascii_uppercase() || c.is_ascii_digit() {
                    c as u8
                } else {
                    b'_'
                }
            };
            out.extend(base.chars().map(d));
            if is_file {
                out.push(b'.');
                out.extend(ext.unwrap_or("").chars().map(d));
            }
            out.truncate(MAX_PRIMARY_ID);
            if is_file {
                out.extend_from_slice(b";1");
            }
            out
        }
        Kind::Joliet => name
            .encode_utf16()
            .take(MAX_JOLIET_UNITS)
            .map(|u| {
                if matches!(u, 0..=0x1F | 0x2A | 0x2F | 0x3A | 0x3B | 0x3F | 0x5C) {
                    0x5F
                } else {
                    u
                }
            })
            .flat_map(u16::to_be_bytes)
            .collect(),
    }
}

fn both16(out: &mut [u8], v: u16) {
    out[..2].copy_from_slice(&v.to_le_bytes());
    out[2..4].copy_from_slice(&v.to_be_bytes());
}

fn both32(out: &mut [u8], v: u32) {
    out[..4].copy_from_slice(&v.to_le_bytes());
    out[4..8].copy_from_slice(&v.to_be_bytes());
}

/// 2024-01-01 00:00:00 UTC: every record's date (the image is rebuilt at each boot).
const RECORD_DATE: [u8; 7] = [124, 1, 1, 0, 0, 0, 0];
const FLAG_DIRECTORY: u8 = 0x02;

fn record(id: &[u8], lba: u32, len: u32, flags: u8) -> Vec<u8> {
    let id_len = id.len();
    let len_rec = 33 + id_len + usize::from(id_len % 2 == 0);
    let mut r = vec![0u8; len_rec];
    r[0] = len_rec as u8;
    both32(&mut r[2..10], lba);
    both32(&mut r[10..18], len);
    r[18..25].copy_from_slice(&RECORD_DATE);
    r[25] = flags;
    both16(&mut r[28..32], 1);
    r[32] = id_len as u8;
    r[33..33 + id_len].copy_from_slice(id);
    r
}

/// Records laid into sectors (a record never crosses one); the bytes, a whole number of
/// sectors.
fn pack(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    for r in records {
        let used = out.len() % SECTOR;
        if used + r.len() > SECTOR {
            out.resize(out.len() + SECTOR - used, 0);
        }
        out.extend_from_slice(r);
    }
    out.resize(out.len().div_ceil(SECTOR).max(1) * SECTOR, 0);
    out
}

/// One tree (primary or Joliet) laid out.
struct TreeLayout {
    /// Directory indices in path table order.
    order: Vec<usize>,
    /// Sorted children of each directory: (identifier, is_dir, index).
    children: Vec<Vec<(Vec<u8>, bool, usize)>>,
    /// Byte size of each directory's extent.
    dir_len: Vec<u32>,
    path_table_len: u32,
}

fn tree_layout(dirs: &[Dir], names: &[String], kind: Kind) -> TreeLayout {
    let mut children: Vec<Vec<(Vec<u8>, bool, usize)>> = Vec::with_capacity(dirs.len());
    for d in dirs {
        let mut c: Vec<(Vec<u8>, bool, usize)> = Vec::new();
        for &s in &d.dirs {
            c.push((identifier(&dirs[s].name, kind, false), true, s));
        }
        for &f in &d.files {
            c.push((identifier(&names[f], kind, true), false, f));
        }
        c.sort_by(|a, b| a.0.cmp(&b.0));
        children.push(c);
    }
    let mut order = Vec::with_capacity(dirs.len());
    let mut queue = VecDeque::from([0usize]);
    while let Some(d) = queue.pop_front() {
        order.push(d);
        queue.extend(children[d].iter().filter(|c| c.1).map(|c| c.2));
    }
    let dir_len = children
        .iter()
        .map(|c| {
            let mut recs = vec![record(&[0], 0, 0, 0), record(&[1], 0, 0, 0)];
            recs.extend(c.iter().map(|(id, _, _)| record(id, 0, 0, 0)));
            pack(&recs).len() as u32
        })
        .collect();
    let path_table_len = order
        .iter()
        .map(|&d| {
            let id_len = if d == 0 { 1 } else { identifier(&dirs[d].name, kind, false).len() };
            (8 + id_len + id_len % 2) as u32
        })
        .sum();
    TreeLayout { order, children, dir_len, path_table_len }
}

fn sectors(len: u64) -> u64 {
    len.div_ceil(SECTOR as u64)
}

/// Lay out an image holding `files` (in that order after the metadata) and booting through
/// `boot` (the first entry is the catalog's default entry).
pub fn layout(
    volume_id: &str,
    files: &[FileSpec],
    boot: &[BootSpec],
) -> Result<IsoLayout, IsoWriteError> {
    if files.len() > MAX_FILES {
        return Err(IsoWriteError::TooManyFiles);
    }
    if boot.iter().any(|b| b.file >= files.len()) || boot.len() > 32 {
        return Err(IsoWriteError::BadBootEntry);
    }
    // The directory tree.
    let mut dirs =
        vec![Dir { name: String::new(), parent: 0, dirs: Vec::new(), files: Vec::new() }];
    let mut names: Vec<String> = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let bad = || IsoWriteError::BadPath(f.path.clone());
        let parts: Vec<&str> = f.path.split('/').filter(|p| !p.is_empty()).collect();
        let Some((leaf, parents)) = parts.split_last() else { return Err(bad()) };
        if parts.len() > MAX_DEPTH || f.len > u64::from(u32::MAX) {
            return Err(if parts.len() > MAX_DEPTH { bad() } else { IsoWriteError::TooLarge });
        }
        let mut at = 0usize;
        for p in parents {
            let same = |n: &str| n.eq_ignore_ascii_case(p);
            if dirs[at].files.iter().any(|&g| same(&names[g])) {
                return Err(bad());
            }
            at = match dirs[at].dirs.iter().copied().find(|&s| same(&dirs[s].name)) {
                Some(s) => s,
                None => {
                    if dirs.len() >= MAX_FILES {
                        return Err(IsoWriteError::TooManyFiles);
                    }
                    dirs.push(Dir {
                        name: String::from(*p),
                        parent: at,
                        dirs: Vec::new(),
                        files: Vec::new(),
                    });
                    let s = dirs.len() - 1;
                    dirs[at].dirs.push(s);
                    s
                }
            };
        }
        let taken = dirs[at].files.iter().any(|&g| names[g].eq_ignore_ascii_case(leaf))
            || dirs[at].dirs.iter().any(|&s| dirs[s].name.eq_ignore_ascii_case(leaf));
        if taken {
            return Err(bad());
        }
        names.push(String::from(*leaf));
        dirs[at].files.push(i);
    }
    // Identifiers must stay distinct after the primary tree's mapping.
    for kind in [Kind::Primary, Kind::Joliet] {
        for d in &dirs {
            let mut ids: Vec<Vec<u8>> = d
                .dirs
                .iter()
                .map(|&s| identifier(&dirs[s].name, kind, false))
                .chain(d.files.iter().map(|&f| identifier(&names[f], kind, true)))
                .collect();
            ids.sort();
            if ids.windows(2).any(|w| w[0] == w[1]) {
                return Err(IsoWriteError::BadPath(d.name.clone()));
            }
        }
    }

    let primary = tree_layout(&dirs, &names, Kind::Primary);
    let joliet = tree_layout(&dirs, &names, Kind::Joliet);

    // Sector numbers.
    let has_boot = !boot.is_empty();
    let mut next = u64::from(SYSTEM_AREA_SECTORS);
    let pvd = next;
    next += 1;
    let boot_record = has_boot.then(|| {
        next += 1;
        next - 1
    });
    let svd = next;
    let terminator = next + 1;
    next += 2;
    let catalog = has_boot.then(|| {
        next += 1;
        next - 1
    });
    let mut path_tables = [0u64; 4];
    for (i, t) in path_tables.iter_mut().enumerate() {
        *t = next;
        let len = if i < 2 { primary.path_table_len } else { joliet.path_table_len };
        next += sectors(u64::from(len));
    }
    let mut dir_lba = [vec![0u64; dirs.len()], vec![0u64; dirs.len()]];
    for (t, tree) in [&primary, &joliet].into_iter().enumerate() {
        for &d in &tree.order {
            dir_lba[t][d] = next;
            next += sectors(u64::from(tree.dir_len[d]));
        }
    }
    let first_file_lba = next;
    let mut file_lbas = Vec::with_capacity(files.len());
    for f in files {
        file_lbas.push(next);
        next = next.checked_add(sectors(f.len)).ok_or(IsoWriteError::TooLarge)?;
    }
    let to32 = |v: u64| u32::try_from(v).map_err(|_| IsoWriteError::TooLarge);
    let volume_sectors = to32(next)?;
    let file_lbas: Vec<u32> = file_lbas.into_iter().map(to32).collect::<Result<_, _>>()?;
    let first_file_lba = to32(first_file_lba)?;

    let mut head = vec![0u8; first_file_lba as usize * SECTOR];
    let at = |s: u64| s as usize * SECTOR;

    // Directories and path tables.
    for (t, (tree, kind)) in
        [(&primary, Kind::Primary), (&joliet, Kind::Joliet)].into_iter().enumerate()
    {
        let lbas = &dir_lba[t];
        let mut number = vec![0u16; dirs.len()];
        for (n, &d) in tree.order.iter().enumerate() {
            number[d] = u16::try_from(n + 1).unwrap_or(u16::MAX);
        }
        let mut l_table = Vec::new();
        let mut m_table = Vec::new();
        for &d in &tree.order {
            let id = if d == 0 { vec![0u8] } else { identifier(&dirs[d].name, kind, false) };
            let lba = lbas[d] as u32;
            let parent = number[dirs[d].parent];
            for (table, big) in [(&mut l_table, false), (&mut m_table, true)] {
                table.push(id.len() as u8);
                table.push(0);
                if big {
                    table.extend_from_slice(&lba.to_be_bytes());
                    table.extend_from_slice(&parent.to_be_bytes());
                } else {
                    table.extend_from_slice(&lba.to_le_bytes());
                    table.extend_from_slice(&parent.to_le_bytes());
                }
                table.extend_from_slice(&id);
                if id.len() % 2 == 1 {
                    table.push(0);
                }
            }
            // The directory's records.
            let parent_dir = dirs[d].parent;
            let mut recs = vec![
                record(&[0], lba, tree.dir_len[d], FLAG_DIRECTORY),
                record(&[1], lbas[parent_dir] as u32, tree.dir_len[parent_dir], FLAG_DIRECTORY),
            ];
            for (id, is_dir, i) in &tree.children[d] {
                recs.push(if *is_dir {
                    record(id, lbas[*i] as u32, tree.dir_len[*i], FLAG_DIRECTORY)
                } else {
                    record(id, file_lbas[*i], files[*i].len as u32, 0)
                });
            }
            let bytes = pack(&recs);
            head[at(lbas[d])..at(lbas[d]) + bytes.len()].copy_from_slice(&bytes);
        }
        let (l_at, m_at) = (path_tables[2 * t], path_tables[2 * t + 1]);
        head[at(l_at)..at(l_at) + l_table.len()].copy_from_slice(&l_table);
        head[at(m_at)..at(m_at) + m_table.len()].copy_from_slice(&m_table);

        // The volume descriptor.
        let desc = &mut head[at(if t == 0 { pvd } else { svd })..][..SECTOR];
        desc[0] = if t == 0 { 1 } else { 2 };
        desc[1..6].copy_from_slice(b"CD001");
        desc[6] = 1;
        let text = |out: &mut [u8], s: &str| match kind {
            Kind::Primary => {
                out.fill(b' ');
                let id = identifier(s, Kind::Primary, false);
                let n = id.len().min(out.len());
                out[..n].copy_from_slice(&id[..n]);
            }
            Kind::Joliet => {
                for pair in out.chunks_exact_mut(2) {
                    pair.copy_from_slice(&[0, b' ']);
                }
                let id: Vec<u8> = s.encode_utf16().flat_map(u16::to_be_bytes).collect();
                let n = id.len().min(out.len()) & !1;
                out[..n].copy_from_slice(&id[..n]);
            }
        };
        text(&mut desc[8..40], "");
        text(&mut desc[40..72], volume_id);
        both32(&mut desc[80..88], volume_sectors);
        if kind == Kind::Joliet {
            desc[88..91].copy_from_slice(b"%/E");
        }
        both16(&mut desc[120..124], 1);
        both16(&mut desc[124..128], 1);
        both16(&mut desc[128..132], SECTOR as u16);
        both32(&mut desc[132..140], tree.path_table_len);
        desc[140..144].copy_from_slice(&(l_at as u32).to_le_bytes());
        desc[148..152].copy_from_slice(&(m_at as u32).to_be_bytes());
        let root = record(&[0], lbas[0] as u32, tree.dir_len[0], FLAG_DIRECTORY);
        desc[156..190].copy_from_slice(&root);
        for (from, to) in
            [(190, 318), (318, 446), (446, 574), (574, 702), (702, 739), (739, 776), (776, 813)]
        {
            text(&mut desc[from..to], "");
        }
        for date in 0..4 {
            let d = &mut desc[813 + 17 * date..813 + 17 * date + 17];
            d[..16].fill(b'0');
            d[16] = 0;
        }
        desc[881] = 1;
    }

    let term = &mut head[at(terminator)..][..SECTOR];
    term[0] = 255;
    term[1..6].copy_from_slice(b"CD001");
    term[6] = 1;

    if let (Some(br), Some(cat)) = (boot_record, catalog) {
        let d = &mut head[at(br)..][..SECTOR];
        d[0] = 0;
        d[1..6].copy_from_slice(b"CD001");
        d[6] = 1;
        d[7..7 + 23].copy_from_slice(b"EL TORITO SPECIFICATION");
        d[71..75].copy_from_slice(&(cat as u32).to_le_bytes());

        let c = &mut head[at(cat)..][..SECTOR];
        let entry = |e: &mut [u8], b: &BootSpec| {
            e[0] = 0x88;
            e[1] = 0; // no emulation
            e[6..8].copy_from_slice(&b.sectors.to_le_bytes());
            e[8..12].copy_from_slice(&file_lbas[b.file].to_le_bytes());
        };
        c[0] = 1;
        c[1] = boot[0].platform;
        c[30] = 0x55;
        c[31] = 0xAA;
        let sum = c[..32]
            .chunks_exact(2)
            .fold(0u16, |s, w| s.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
        c[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        entry(&mut c[32..64], &boot[0]);
        for (k, b) in boot.iter().enumerate().skip(1) {
            let h = 64 * k;
            c[h] = if k + 1 == boot.len() { 0x91 } else { 0x90 };
            c[h + 1] = b.platform;
            c[h + 2..h + 4].copy_from_slice(&1u16.to_le_bytes());
            entry(&mut c[h + 32..h + 64], b);
        }
    }

    Ok(IsoLayout { head, first_file_lba, file_lbas, volume_sectors })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDevice;
    use crate::{eltorito, iso9660};

    fn image(files: &[(&str, Vec<u8>)], boot: &[BootSpec]) -> Vec<u8> {
        let specs: Vec<FileSpec> = files
            .iter()
            .map(|(p, b)| FileSpec { path: (*p).into(), len: b.len() as u64 })
            .collect();
        let l = layout("TEST_VOL", &specs, boot).unwrap();
        let mut img = l.head.clone();
        img.resize(l.volume_sectors as usize * SECTOR, 0);
        for (i, (_, b)) in files.iter().enumerate() {
            let at = l.file_lbas[i] as usize * SECTOR;
            img[at..at + b.len()].copy_from_slice(b);
        }
        img
    }

    #[test]
    fn files_read_back_through_both_trees() {
        let files = [
            ("/bootmgr", vec![1u8; 5000]),
            ("/boot/bcd", vec![2u8; 100]),
            ("/EFI/Microsoft/Boot/BCD", vec![3u8; 4096]),
            ("/sources/boot.wim", vec![4u8; 10]),
            ("/boot/empty", vec![]),
        ];
        let boot = [
            BootSpec { platform: PLATFORM_BIOS, file: 0, sectors: 4 },
            BootSpec { platform: PLATFORM_EFI, file: 2, sectors: 8 },
        ];
        let img = image(&files, &boot);
        let mut dev = MemDevice::from_vec(img);
        let info = iso9660::probe(&mut dev).unwrap();
        let joliet = info.joliet.clone().unwrap().tree;
        for tree in [&info.primary, &joliet] {
            for (p, b) in &files {
                let e = iso9660::lookup(&mut dev, tree, p).unwrap();
                assert_eq!(&iso9660::read_to_vec(&mut dev, &e, 1 << 20).unwrap(), b, "{p}");
            }
        }
        let cat = eltorito::read_catalog(&mut dev).unwrap();
        assert!(cat.can_boot_bios() && cat.can_boot_uefi());
    }

    #[test]
    fn bad_paths_are_refused() {
        let f = |p: &str| FileSpec { path: p.into(), len: 1 };
        assert!(layout("V", &[f("/a"), f("/A")], &[]).is_err());
        assert!(layout("V", &[f("/a"), f("/a/b")], &[]).is_err());
        assert!(layout("V", &[f("/")], &[]).is_err());
        assert!(layout("V", &[f("/a/b/c/d/e/f/g/h/i")], &[]).is_err());
        let big = FileSpec { path: "/x".into(), len: 1 << 32 };
        assert_eq!(layout("V", &[big], &[]), Err(IsoWriteError::TooLarge));
        assert_eq!(
            layout("V", &[f("/a")], &[BootSpec { platform: 0, file: 1, sectors: 4 }]),
            Err(IsoWriteError::BadBootEntry)
        );
    }
}
