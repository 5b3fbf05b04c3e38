//! udf seeds: small hand-built UDF volumes (512-byte blocks, so the anchor at block 256 is only
//! 128 KiB in) holding every allocation form the reader handles — short_ad, long_ad in an
//! extended file entry, embedded data, a continuation into an allocation extent descriptor, a
//! hole, a subdirectory — one with a physical partition (UDF 1.02) and one with the UDF 2.50
//! metadata partition; plus, when installed, volumes made by `genisoimage -udf` and `mkudffs`
//! (skipped, with the reason returned, when they are not).

use polyboot_core::block::MemDevice;
use polyboot_core::udf::{self, seal_tag as seal};
use std::path::Path;
use std::process::Command;

const BS: usize = 512;
/// First block of the physical partition and its length (blocks).
const PART: u32 = 264;
const PART_LEN: u32 = 40;

fn short_ad(len: u32, ty: u32, lbn: u32) -> Vec<u8> {
    [(ty << 30 | len).to_le_bytes(), lbn.to_le_bytes()].concat()
}

fn long_ad(len: u32, lbn: u32, part: u16) -> Vec<u8> {
    let mut v = short_ad(len, 0, lbn);
    v.extend_from_slice(&part.to_le_bytes());
    v.extend_from_slice(&[0; 6]);
    v
}

/// A file entry (tag 261) or extended file entry (266) at block `loc` of its partition.
fn fe(loc: u32, file_type: u8, size: u64, ad_type: u16, ads: &[u8], extended: bool) -> Vec<u8> {
    let base = if extended { 216 } else { 176 };
    let mut d = vec![0u8; base + ads.len()];
    d[20..22].copy_from_slice(&4u16.to_le_bytes());
    d[27] = file_type;
    d[34..36].copy_from_slice(&ad_type.to_le_bytes());
    d[56..64].copy_from_slice(&size.to_le_bytes());
    d[base - 4..base].copy_from_slice(&(ads.len() as u32).to_le_bytes());
    d[base..].copy_from_slice(ads);
    seal(&mut d, if extended { 266 } else { 261 }, loc);
    d
}

/// A file identifier descriptor (tag 257); an empty name is the parent entry.
fn fid(name: &str, directory: bool, lbn: u32, part: u16) -> Vec<u8> {
    let mut id = Vec::new();
    if !name.is_empty() {
        id.push(8);
        id.extend_from_slice(name.as_bytes());
    }
    let mut d = vec![0u8; (38 + id.len() + 3) & !3];
    d[18] = if name.is_empty() {
        0x0A
    } else if directory {
        2
    } else {
        0
    };
    d[19] = id.len() as u8;
    d[20..36].copy_from_slice(&long_ad(BS as u32, lbn, part));
    d[38..38 + id.len()].copy_from_slice(&id);
    seal(&mut d, 257, 0);
    d
}

fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect()
}

struct Img(Vec<u8>);

impl Img {
    fn put(&mut self, block: u32, bytes: &[u8]) {
        let at = block as usize * BS;
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

/// A volume: VRS, anchor at 256, main VDS at 257.. and reserve at 260.. (PD, LVD, TD); the
/// file set descriptor at `fsd` (block, partition reference).
fn volume(maps: &[Vec<u8>], rev: u16, fsd: (u32, u16)) -> Img {
    let mut img = Img(vec![0u8; (PART + PART_LEN) as usize * BS]);
    for (i, id) in [b"BEA01", b"NSR02", b"TEA01"].iter().enumerate() {
        let at = 32768 + i * 2048;
        img.0[at + 1..at + 6].copy_from_slice(*id);
        img.0[at + 6] = 1;
    }
    let mut a = vec![0u8; 512];
    for (at, block) in [(16, 257u32), (24, 260)] {
        a[at..at + 4].copy_from_slice(&(3 * BS as u32).to_le_bytes());
        a[at + 4..at + 8].copy_from_slice(&block.to_le_bytes());
    }
    seal(&mut a, 2, 256);
    img.put(256, &a);
    for start in [257u32, 260] {
        let mut pd = vec![0u8; 512];
        pd[188..192].copy_from_slice(&PART.to_le_bytes());
        pd[192..196].copy_from_slice(&PART_LEN.to_le_bytes());
        seal(&mut pd, 5, start);
        img.put(start, &pd);
        let table = maps.concat();
        let mut lvd = vec![0u8; 440 + table.len()];
        lvd[84] = 8;
        lvd[85..89].copy_from_slice(b"SEED");
        lvd[211] = 5;
        lvd[212..216].copy_from_slice(&(BS as u32).to_le_bytes());
        lvd[217..236].copy_from_slice(b"*OSTA UDF Compliant");
        lvd[240..242].copy_from_slice(&rev.to_le_bytes());
        lvd[248..264].copy_from_slice(&long_ad(BS as u32, fsd.0, fsd.1));
        lvd[264..268].copy_from_slice(&(table.len() as u32).to_le_bytes());
        lvd[268..272].copy_from_slice(&(maps.len() as u32).to_le_bytes());
        lvd[440..].copy_from_slice(&table);
        seal(&mut lvd, 6, start + 1);
        img.put(start + 1, &lvd);
        let mut td = vec![0u8; 512];
        seal(&mut td, 8, start + 2);
        img.put(start + 2, &td);
    }
    img
}

fn fsd(root: (u32, u16), loc: u32) -> Vec<u8> {
    let mut d = vec![0u8; 512];
    d[400..416].copy_from_slice(&long_ad(BS as u32, root.0, root.1));
    seal(&mut d, 256, loc);
    d
}

/// UDF 1.02, one physical partition (partition-relative blocks below).
fn physical() -> Vec<u8> {
    let b = BS as u32;
    let mut img = volume(&[vec![1, 6, 1, 0, 0, 0]], 0x0102, (0, 0));
    let p = |lbn: u32| PART + lbn;
    img.put(p(0), &fsd((1, 0), 0));
    img.put(p(20), &content(1, 700));
    img.put(p(3), &fe(3, 5, 700, 0, &short_ad(2 * b, 0, 20), false));
    img.put(p(22), &content(2, 300));
    img.put(p(4), &fe(4, 5, 300, 1, &long_ad(b, 22, 0), true));
    img.put(p(5), &fe(5, 5, 12, 3, b"inline data\n", false));
    // One block, then a continuation (block 7) with two more; the middle one a hole.
    img.put(p(24), &content(3, 3 * BS));
    img.put(
        p(6),
        &fe(6, 5, 3 * b as u64, 0, &[short_ad(b, 0, 24), short_ad(b, 3, 7)].concat(), false),
    );
    let ads = [short_ad(b, 1, 25), short_ad(b, 0, 26)].concat();
    let mut aed = vec![0u8; 24 + ads.len()];
    aed[20..24].copy_from_slice(&(ads.len() as u32).to_le_bytes());
    aed[24..].copy_from_slice(&ads);
    seal(&mut aed, 258, 7);
    img.put(p(7), &aed);
    let sub = [fid("", true, 1, 0), fid("nested.txt", false, 5, 0)].concat();
    img.put(p(8), &fe(8, 4, sub.len() as u64, 3, &sub, false));
    let root = [
        fid("", true, 1, 0),
        fid("short.txt", false, 3, 0),
        fid("long.bin", false, 4, 0),
        fid("inline.txt", false, 5, 0),
        fid("cont.bin", false, 6, 0),
        fid("sub", true, 8, 0),
    ]
    .concat();
    img.put(p(10), &root);
    img.put(p(1), &fe(1, 4, root.len() as u64, 0, &short_ad(root.len() as u32, 0, 10), false));
    img.0
}

/// UDF 2.50: FSD and ICBs in the metadata partition (metadata file at physical block 2, its
/// mirror at 3, two extents), file data in the physical partition through long_ad.
fn metadata() -> Vec<u8> {
    let b = BS as u32;
    let mut map2 = vec![0u8; 64];
    map2[0] = 2;
    map2[1] = 64;
    map2[5..28].copy_from_slice(b"*UDF Metadata Partition");
    map2[40..44].copy_from_slice(&2u32.to_le_bytes());
    map2[44..48].copy_from_slice(&3u32.to_le_bytes());
    map2[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut img = volume(&[vec![1, 6, 1, 0, 0, 0], map2], 0x0250, (0, 1));
    let p = |lbn: u32| PART + lbn;
    let ads = [short_ad(3 * b, 0, 10), short_ad(3 * b, 0, 14)].concat();
    img.put(p(2), &fe(2, 0xFA, 6 * b as u64, 0, &ads, true));
    img.put(p(3), &fe(3, 0xFB, 6 * b as u64, 0, &ads, true));
    // Metadata block m is physical block 10 + m (m < 3) or 14 + m - 3.
    let m = |lbn: u32| p(if lbn < 3 { 10 + lbn } else { 11 + lbn });
    img.put(m(0), &fsd((1, 1), 0));
    img.put(p(20), &content(4, 900));
    img.put(m(3), &fe(3, 5, 900, 1, &long_ad(2 * b, 20, 0), true));
    img.put(m(4), &fe(4, 5, 6, 3, b"small\n", true));
    let root =
        [fid("", true, 1, 1), fid("data.bin", false, 3, 1), fid("small.txt", false, 4, 1)].concat();
    img.put(m(2), &root);
    img.put(m(1), &fe(1, 4, root.len() as u64, 0, &short_ad(root.len() as u32, 0, 2), true));
    img.0
}

/// Every file of a volume reads back (the target's walk must see a real tree).
fn check(name: &str, bytes: &[u8], want: &[&str]) -> Result<(), String> {
    let mut dev = MemDevice::from_vec(bytes.to_vec());
    let vol = udf::probe(&mut dev).map_err(|e| format!("udf seed {name}: {e}"))?;
    for path in want {
        let e = vol.lookup(&mut dev, path).map_err(|e| format!("udf seed {name}: {path}: {e}"))?;
        let mut buf = vec![0u8; e.size as usize];
        vol.read_file(&mut dev, &e, 0, &mut buf)
            .map_err(|e| format!("udf seed {name}: {path}: {e}"))?;
    }
    Ok(())
}

/// The hand-built seeds (always) — panics if our reader rejects them.
pub fn hand_built() -> Vec<(String, Vec<u8>)> {
    let seeds = [
        (
            "hand-built-1.02",
            physical(),
            &["short.txt", "long.bin", "inline.txt", "cont.bin", "sub/nested.txt"][..],
        ),
        ("hand-built-2.50-metadata", metadata(), &["data.bin", "small.txt"][..]),
    ];
    seeds
        .into_iter()
        .map(|(name, bytes, want)| {
            check(name, &bytes, want).unwrap();
            (name.to_string(), bytes)
        })
        .collect()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

fn tool_seeds_in(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("dir")).map_err(|e| e.to_string())?;
    std::fs::write(tree.join("readme.txt"), b"polyboot udf seed\n").map_err(|e| e.to_string())?;
    std::fs::write(tree.join("dir/data.bin"), content(5, 5000)).map_err(|e| e.to_string())?;
    let iso = dir.join("seed.iso");
    run(Command::new("genisoimage")
        .args(["-quiet", "-udf", "-R", "-J", "-V", "SEED", "-o"])
        .arg(&iso)
        .arg(&tree))?;
    let bytes = std::fs::read(&iso).map_err(|e| e.to_string())?;
    check("genisoimage", &bytes, &["readme.txt", "dir/data.bin"])?;
    out.push(("genisoimage-1.02".to_string(), bytes));
    for rev in ["1.02", "2.01"] {
        let img = dir.join(format!("mkudffs-{rev}.img"));
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(192 << 10))
            .map_err(|e| e.to_string())?;
        run(Command::new("mkudffs")
            .args([
                "--media-type=hd",
                "--blocksize=512",
                &format!("--udfrev={rev}"),
                "--label=SEED",
            ])
            .arg(&img)
            .stdout(std::process::Stdio::null()))?;
        let bytes = std::fs::read(&img).map_err(|e| e.to_string())?;
        check("mkudffs", &bytes, &[])?;
        out.push((format!("mkudffs-{rev}-512"), bytes));
    }
    Ok(out)
}

/// Seeds made by genisoimage and mkudffs; Err says why there are none (a tool missing).
pub fn tool_seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = std::env::temp_dir().join(format!("polyboot-udf-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = tool_seeds_in(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}
