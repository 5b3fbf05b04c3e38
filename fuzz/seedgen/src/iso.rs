//! ISO 9660 seeds for the `iso9660` and `eltorito` targets.
//!
//! - [`hand_built`]: a small image written here from ECMA-119, Rock Ridge / SUSP, Joliet and
//!   El Torito, with what the readers handle: a Rock Ridge tree (SP, NM names, one split over
//!   a CE continuation area, a relocated directory behind a CL placeholder and its RE
//!   original), a Joliet tree, a file of two extents (multi-extent), nested directories, and a
//!   boot catalog with a BIOS default entry and an EFI section entry (with an extension
//!   entry) whose image is a small FAT file system.
//! - [`ipxe_head`]: the first 256 KiB of Debian's ipxe.iso (a real xorriso-made hybrid image
//!   with Rock Ridge, Joliet and El Torito), cut down so that it is still a valid volume:
//!   the volume sizes say 128 blocks, and boot entries whose images lie past the cut are
//!   moved inside it.

use std::path::Path;

pub const SECTOR: usize = 2048;
/// Sectors of the hand-built image.
const SECTORS: usize = 40;

// Where the hand-built image puts things (logical blocks).
const PVD: usize = 16;
const BOOT_RECORD: usize = 17;
const SVD: usize = 18;
const TERMINATOR: usize = 19;
const ROOT: usize = 20;
const BOOT_DIR: usize = 21;
const GRUB_DIR: usize = 22;
const RR_MOVED: usize = 23;
const DEEP_DIR: usize = 24;
const J_ROOT: usize = 25;
const J_BOOT: usize = 26;
const J_GRUB: usize = 27;
const CONTINUATION: usize = 28;
const PATH_TABLE_L: usize = 29;
const CATALOG: usize = 30;
const GRUB_CFG: usize = 31;
const BIOS_IMAGE: usize = 32;
const EFI_IMAGE: usize = 33; // 2 sectors
const BIG: usize = 35; // 2 sectors, 2 extents
const NOTE: usize = 37;
const README: usize = 38;
const PATH_TABLE_M: usize = 39;

pub const GRUB_CFG_TEXT: &[u8] =
    b"set timeout=5\nmenuentry 'polyboot seed' {\n    linux /boot/vmlinuz quiet\n}\n";
pub const NOTE_TEXT: &[u8] = b"a file in a relocated (deep) directory\n";
pub const README_TEXT: &[u8] = b"polyboot fuzz seed: hand-built ISO 9660 image\n";
/// The second extent of BIG.BIN.
pub const BIG_TAIL: usize = 1000;
const EFI_IMAGE_BYTES: usize = 4096;

/// A both-endian 16-bit field (ECMA-119 7.2.3).
pub fn both16(v: u16) -> [u8; 4] {
    let mut out = [0u8; 4];
    out[..2].copy_from_slice(&v.to_le_bytes());
    out[2..].copy_from_slice(&v.to_be_bytes());
    out
}

/// A both-endian 32-bit field (ECMA-119 7.3.3).
pub fn both32(v: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&v.to_le_bytes());
    out[4..].copy_from_slice(&v.to_be_bytes());
    out
}

fn ucs2(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

const DIR: u8 = 0x02;
const MULTI_EXTENT: u8 = 0x80;

/// One directory record (ECMA-119 9.1) with identifier `id` and System Use bytes `su`.
fn record(id: &[u8], lba: usize, len: usize, flags: u8, su: &[u8]) -> Vec<u8> {
    let pad = usize::from(id.len() % 2 == 0);
    let mut r = vec![0u8; 33 + id.len() + pad];
    r[2..10].copy_from_slice(&both32(lba as u32));
    r[10..18].copy_from_slice(&both32(len as u32));
    // 2024-05-17 12:00:00 UTC.
    r[18..25].copy_from_slice(&[124, 5, 17, 12, 0, 0, 0]);
    r[25] = flags;
    r[28..32].copy_from_slice(&both16(1));
    r[32] = id.len() as u8;
    r[33..33 + id.len()].copy_from_slice(id);
    r.extend_from_slice(su);
    if r.len() % 2 == 1 {
        r.push(0);
    }
    r[0] = r.len() as u8;
    r
}

/// A SUSP entry: signature, length, version 1, data.
fn susp(sig: &[u8; 2], data: &[u8]) -> Vec<u8> {
    let mut e = vec![sig[0], sig[1], (4 + data.len()) as u8, 1];
    e.extend_from_slice(data);
    e
}

/// Rock Ridge NM (alternate name); `more` sets the CONTINUE flag.
fn nm(name: &str, more: bool) -> Vec<u8> {
    let mut data = vec![u8::from(more)];
    data.extend_from_slice(name.as_bytes());
    susp(b"NM", &data)
}

/// Rock Ridge PX: POSIX mode, links, uid, gid (RRIP 1.09, 36 bytes).
fn px(mode: u32) -> Vec<u8> {
    let mut data = Vec::new();
    for v in [mode, 1, 0, 0] {
        data.extend_from_slice(&both32(v));
    }
    susp(b"PX", &data)
}

fn rr_file(name: &str) -> Vec<u8> {
    [px(0o100644), nm(name, false)].concat()
}

fn rr_dir(name: &str) -> Vec<u8> {
    [px(0o040755), nm(name, false)].concat()
}

struct Img(Vec<u8>);

impl Img {
    fn put(&mut self, lba: usize, offset: usize, bytes: &[u8]) {
        let at = lba * SECTOR + offset;
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
    /// Records one after the other from the start of `lba` (all fit in one sector here).
    fn dir(&mut self, lba: usize, records: &[Vec<u8>]) {
        let bytes = records.concat();
        assert!(bytes.len() <= SECTOR, "directory at {lba} needs more than one sector");
        self.put(lba, 0, &bytes);
    }
}

fn descriptor(kind: u8) -> Vec<u8> {
    let mut d = vec![0u8; SECTOR];
    d[0] = kind;
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    d
}

fn padded(text: &[u8], len: usize) -> Vec<u8> {
    let mut out = text.to_vec();
    out.resize(len, b' ');
    out
}

/// The hand-built image (80 KiB).
pub fn hand_built() -> Vec<u8> {
    let mut img = Img(vec![0u8; SECTORS * SECTOR]);
    // System area: an MBR signature only, as a hybrid image would have (the readers skip it).
    img.0[510] = 0x55;
    img.0[511] = 0xAA;

    // Primary tree (Rock Ridge).
    let dot = |lba: usize, su: &[u8]| record(&[0], lba, SECTOR, DIR, su);
    let dotdot = |lba: usize| record(&[1], lba, SECTOR, DIR, &[]);
    // The root's "." starts with SP (check bytes BE EF, LEN_SKP 0), then RR's ER.
    let er_id = b"RRIP_1991A";
    let er = {
        let mut d = vec![er_id.len() as u8, 0, 0, 1];
        d.extend_from_slice(er_id);
        susp(b"ER", &d)
    };
    let root_su = [susp(b"SP", &[0xBE, 0xEF, 0]), px(0o040755), er].concat();
    // README's name is split: "Read" here, "Me.txt" in the continuation area.
    let ce = {
        let mut d = Vec::new();
        d.extend_from_slice(&both32(CONTINUATION as u32));
        d.extend_from_slice(&both32(0));
        let rest = nm("Me.txt", false);
        d.extend_from_slice(&both32(rest.len() as u32));
        img.put(CONTINUATION, 0, &rest);
        susp(b"CE", &d)
    };
    let readme_su = [px(0o100644), nm("Read", true), ce].concat();
    let cl = {
        let d = both32(DEEP_DIR as u32);
        susp(b"CL", &d)
    };
    img.dir(
        ROOT,
        &[
            dot(ROOT, &root_su),
            dotdot(ROOT),
            record(b"BIG.BIN;1", BIG, SECTOR, MULTI_EXTENT, &rr_file("big.bin")),
            record(b"BIG.BIN;1", BIG + 1, BIG_TAIL, 0, &rr_file("big.bin")),
            record(b"BOOT", BOOT_DIR, SECTOR, DIR, &rr_dir("boot")),
            record(b"BOOT.CAT;1", CATALOG, SECTOR, 0, &rr_file("boot.catalog")),
            record(b"DEEP", DEEP_DIR, 0, 0, &[rr_file("deep"), cl].concat()),
            record(b"EFI.IMG;1", EFI_IMAGE, EFI_IMAGE_BYTES, 0, &rr_file("efi.img")),
            record(b"ELTORITO.IMG;1", BIOS_IMAGE, SECTOR, 0, &rr_file("eltorito.img")),
            record(b"README.TXT;1", README, README_TEXT.len(), 0, &readme_su),
            record(b"RR_MOVED", RR_MOVED, SECTOR, DIR, &rr_dir("rr_moved")),
        ],
    );
    img.dir(
        BOOT_DIR,
        &[
            dot(BOOT_DIR, &[]),
            dotdot(ROOT),
            record(b"GRUB", GRUB_DIR, SECTOR, DIR, &rr_dir("grub")),
        ],
    );
    img.dir(
        GRUB_DIR,
        &[
            dot(GRUB_DIR, &[]),
            dotdot(BOOT_DIR),
            record(b"GRUB.CFG;1", GRUB_CFG, GRUB_CFG_TEXT.len(), 0, &rr_file("grub.cfg")),
        ],
    );
    let re = susp(b"RE", &[]);
    img.dir(
        RR_MOVED,
        &[
            dot(RR_MOVED, &[]),
            dotdot(ROOT),
            record(b"DEEP", DEEP_DIR, SECTOR, DIR, &[rr_dir("deep"), re].concat()),
        ],
    );
    let pl = susp(b"PL", &both32(ROOT as u32));
    img.dir(
        DEEP_DIR,
        &[
            dot(DEEP_DIR, &[]),
            record(&[1], RR_MOVED, SECTOR, DIR, &pl),
            record(b"NOTE.TXT;1", NOTE, NOTE_TEXT.len(), 0, &rr_file("note.txt")),
        ],
    );

    // Joliet tree (no Rock Ridge, UCS-2 names).
    let j = |name: &str| ucs2(name);
    img.dir(
        J_ROOT,
        &[
            dot(J_ROOT, &[]),
            dotdot(J_ROOT),
            record(&j("big.bin;1"), BIG, SECTOR, MULTI_EXTENT, &[]),
            record(&j("big.bin;1"), BIG + 1, BIG_TAIL, 0, &[]),
            record(&j("boot"), J_BOOT, SECTOR, DIR, &[]),
            record(&j("boot.catalog;1"), CATALOG, SECTOR, 0, &[]),
            record(&j("efi.img;1"), EFI_IMAGE, EFI_IMAGE_BYTES, 0, &[]),
            record(&j("eltorito.img;1"), BIOS_IMAGE, SECTOR, 0, &[]),
            record(&j("ReadMe.txt;1"), README, README_TEXT.len(), 0, &[]),
        ],
    );
    img.dir(
        J_BOOT,
        &[dot(J_BOOT, &[]), dotdot(J_ROOT), record(&j("grub"), J_GRUB, SECTOR, DIR, &[])],
    );
    img.dir(
        J_GRUB,
        &[
            dot(J_GRUB, &[]),
            dotdot(J_BOOT),
            record(&j("grub.cfg;1"), GRUB_CFG, GRUB_CFG_TEXT.len(), 0, &[]),
        ],
    );

    // File data.
    img.put(GRUB_CFG, 0, GRUB_CFG_TEXT);
    img.put(NOTE, 0, NOTE_TEXT);
    img.put(README, 0, README_TEXT);
    for i in 0..SECTOR + BIG_TAIL {
        img.0[BIG * SECTOR + i] = (i % 251) as u8;
    }
    // BIOS boot image: a no-emulation loader stub (jmp $), 4 virtual sectors.
    img.put(BIOS_IMAGE, 0, &[0xEB, 0xFE]);
    img.put(EFI_IMAGE, 0, &fat12_boot_sector((EFI_IMAGE_BYTES / 512) as u16));

    // Path tables (the readers ignore them; other tools use them).
    let dirs: [(&[u8], usize, u16); 6] = [
        (&[0], ROOT, 1),
        (b"BOOT", BOOT_DIR, 1),
        (b"RR_MOVED", RR_MOVED, 1),
        (b"GRUB", GRUB_DIR, 2),
        (b"DEEP", DEEP_DIR, 3),
        (b"", 0, 0),
    ];
    let mut l_table = Vec::new();
    let mut m_table = Vec::new();
    for (id, lba, parent) in dirs.iter().filter(|d| !d.0.is_empty()) {
        for (table, big) in [(&mut l_table, false), (&mut m_table, true)] {
            table.push(id.len() as u8);
            table.push(0);
            if big {
                table.extend_from_slice(&(*lba as u32).to_be_bytes());
                table.extend_from_slice(&parent.to_be_bytes());
            } else {
                table.extend_from_slice(&(*lba as u32).to_le_bytes());
                table.extend_from_slice(&parent.to_le_bytes());
            }
            table.extend_from_slice(id);
            if id.len() % 2 == 1 {
                table.push(0);
            }
        }
    }
    img.put(PATH_TABLE_L, 0, &l_table);
    img.put(PATH_TABLE_M, 0, &m_table);

    // Volume descriptors.
    let mut pvd = descriptor(1);
    pvd[8..40].copy_from_slice(&padded(b"LINUX", 32));
    pvd[40..72].copy_from_slice(&padded(b"POLYBOOT_SEED", 32));
    pvd[80..88].copy_from_slice(&both32(SECTORS as u32));
    pvd[120..124].copy_from_slice(&both16(1));
    pvd[124..128].copy_from_slice(&both16(1));
    pvd[128..132].copy_from_slice(&both16(SECTOR as u16));
    pvd[132..140].copy_from_slice(&both32(l_table.len() as u32));
    pvd[140..144].copy_from_slice(&(PATH_TABLE_L as u32).to_le_bytes());
    pvd[148..152].copy_from_slice(&(PATH_TABLE_M as u32).to_be_bytes());
    pvd[156..190].copy_from_slice(&record(&[0], ROOT, SECTOR, DIR, &[]));
    pvd[190..813].fill(b' ');
    for at in [813, 830, 847, 864] {
        pvd[at..at + 16].copy_from_slice(b"2024051712000000");
    }
    pvd[881] = 1;
    img.put(PVD, 0, &pvd);

    let mut br = descriptor(0);
    br[7..7 + 23].copy_from_slice(b"EL TORITO SPECIFICATION");
    br[71..75].copy_from_slice(&(CATALOG as u32).to_le_bytes());
    img.put(BOOT_RECORD, 0, &br);

    let mut svd = descriptor(2);
    svd[8..40].copy_from_slice(&[ucs2("LINUX"), [0, b' '].repeat(11)].concat());
    let vid = ucs2("polyboot seed");
    svd[40..72].copy_from_slice(&[vid.clone(), [0, b' '].repeat((32 - vid.len()) / 2)].concat());
    svd[80..88].copy_from_slice(&both32(SECTORS as u32));
    svd[88..91].copy_from_slice(b"%/E");
    svd[120..124].copy_from_slice(&both16(1));
    svd[124..128].copy_from_slice(&both16(1));
    svd[128..132].copy_from_slice(&both16(SECTOR as u16));
    svd[156..190].copy_from_slice(&record(&[0], J_ROOT, SECTOR, DIR, &[]));
    svd[881] = 1;
    img.put(SVD, 0, &svd);

    img.put(TERMINATOR, 0, &descriptor(255));

    // Boot catalog: validation entry (x86), default entry (BIOS, no emulation, 4 virtual
    // sectors), final section header for EFI with one entry (sector count 0 = the whole FAT
    // image) that is followed by an extension entry.
    let mut cat = vec![0u8; 6 * 32];
    cat[0] = 1;
    cat[1] = 0;
    cat[4..4 + 13].copy_from_slice(b"POLYBOOT SEED");
    cat[30] = 0x55;
    cat[31] = 0xAA;
    let sum = cat[..32]
        .chunks_exact(2)
        .fold(0u16, |acc, w| acc.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
    cat[28..30].copy_from_slice(&sum.wrapping_neg().to_le_bytes());
    let entry = |e: &mut [u8], media: u8, count: u16, rba: usize| {
        e[0] = 0x88;
        e[1] = media;
        e[6..8].copy_from_slice(&count.to_le_bytes());
        e[8..12].copy_from_slice(&(rba as u32).to_le_bytes());
    };
    entry(&mut cat[32..64], 0, 4, BIOS_IMAGE);
    cat[64] = 0x91;
    cat[65] = 0xEF;
    cat[66..68].copy_from_slice(&1u16.to_le_bytes());
    cat[68..68 + 8].copy_from_slice(b"UEFI x64");
    entry(&mut cat[96..128], 0x20, 0, EFI_IMAGE);
    cat[128] = 0x44;
    img.put(CATALOG, 0, &cat);

    img.0
}

/// A FAT12 boot sector for a volume of `sectors` 512-byte sectors.
fn fat12_boot_sector(sectors: u16) -> [u8; 512] {
    let mut bs = [0u8; 512];
    bs[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    bs[3..11].copy_from_slice(b"POLYBOOT");
    bs[11..13].copy_from_slice(&512u16.to_le_bytes());
    bs[13] = 1; // sectors per cluster
    bs[14..16].copy_from_slice(&1u16.to_le_bytes()); // reserved
    bs[16] = 2; // FATs
    bs[17..19].copy_from_slice(&16u16.to_le_bytes()); // root entries
    bs[19..21].copy_from_slice(&sectors.to_le_bytes());
    bs[21] = 0xF8;
    bs[22..24].copy_from_slice(&1u16.to_le_bytes()); // sectors per FAT
    bs[38] = 0x29;
    bs[43..54].copy_from_slice(b"EFI        ");
    bs[54..62].copy_from_slice(b"FAT12   ");
    bs[510] = 0x55;
    bs[511] = 0xAA;
    bs
}

/// The hand-built image with the root's SP entry broken: no Rock Ridge, so the Joliet tree
/// is the preferred one.
pub fn without_rock_ridge(img: &[u8]) -> Vec<u8> {
    let mut out = img.to_vec();
    let root = ROOT * SECTOR;
    let sp = out[root..root + 255]
        .windows(4)
        .position(|w| w == [b'S', b'P', 7, 1])
        .expect("SP entry in the root's \".\" record");
    out[root + sp..root + sp + 2].copy_from_slice(b"XX");
    out
}

/// The hand-built image with only the default (BIOS) boot entry.
pub fn bios_only(img: &[u8]) -> Vec<u8> {
    let mut out = img.to_vec();
    out[CATALOG * SECTOR + 64..CATALOG * SECTOR + 6 * 32].fill(0);
    out
}

pub const IPXE_ISO: &str = "/usr/lib/ipxe/ipxe.iso";
/// Bytes of ipxe.iso kept.
pub const IPXE_HEAD: usize = 256 << 10;

/// The first [`IPXE_HEAD`] bytes of ipxe.iso made a valid (smaller) volume, or why not.
pub fn ipxe_head(path: &Path) -> Result<Vec<u8>, String> {
    let full = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if full.len() < IPXE_HEAD {
        return Err(format!("{} is only {} bytes", path.display(), full.len()));
    }
    let mut img = full[..IPXE_HEAD].to_vec();
    let blocks = (IPXE_HEAD / SECTOR) as u32;
    let mut catalog = None;
    for sector in 16..64 {
        let d = &mut img[sector * SECTOR..(sector + 1) * SECTOR];
        if &d[1..6] != b"CD001" || d[0] == 255 {
            break;
        }
        match d[0] {
            // Primary and supplementary descriptors: the volume now ends at the cut.
            1 | 2 => d[80..88].copy_from_slice(&both32(blocks)),
            0 if d[7..30] == *b"EL TORITO SPECIFICATION" => {
                catalog = Some(u32::from_le_bytes(d[71..75].try_into().unwrap()) as usize);
            }
            _ => {}
        }
    }
    // Boot images past the cut: EFI entries get sector count 0 ("the whole FAT image", which
    // the reader then clips to the image), others point at the EFI image's first sectors.
    let catalog = catalog.ok_or("no El Torito boot record")?;
    let entries = catalog * SECTOR..(catalog + 1) * SECTOR;
    let mut platform = img[entries.start + 1];
    let mut inside_rba = None;
    for i in 1..SECTOR / 32 {
        let at = entries.start + i * 32;
        let e = &mut img[at..at + 32];
        match e[0] {
            0x90 | 0x91 => platform = e[1],
            0x88 => {
                let rba = u32::from_le_bytes(e[8..12].try_into().unwrap()) as usize;
                let count = u16::from_le_bytes([e[6], e[7]]) as usize;
                if platform == 0xEF {
                    e[6..8].fill(0);
                    if rba < IPXE_HEAD / SECTOR - 1 {
                        inside_rba = Some(rba);
                    }
                } else if rba * SECTOR + count.max(1) * 512 > IPXE_HEAD {
                    e[8..12].copy_from_slice(&0u32.to_le_bytes());
                }
            }
            _ => {}
        }
    }
    // Any non-EFI entry moved above (RBA 0) goes to the EFI image instead.
    let inside = inside_rba.unwrap_or(16) as u32;
    for i in 1..SECTOR / 32 {
        let at = entries.start + i * 32;
        if img[at] == 0x88 && img[at + 8..at + 12] == [0, 0, 0, 0] {
            img[at + 8..at + 12].copy_from_slice(&inside.to_le_bytes());
        }
    }
    Ok(img)
}
