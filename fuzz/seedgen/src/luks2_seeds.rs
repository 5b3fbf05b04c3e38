//! luks2 seeds: volumes made by cryptsetup (Debian package cryptsetup-bin) with its smallest
//! costs (PBKDF2 1000 iterations, Argon2 32 KiB x 4 passes) and small keyslots areas, cut
//! after their first data sector, passphrase "fuzz" (the target's). polyboot makes no LUKS2
//! headers of its own, so without cryptsetup there are no seeds (the caller prints why).
//! Each seed is checked: core reads it and unlocks it with "fuzz" under the target's limits.

use polyboot_core::block::MemDevice;
use polyboot_core::luks2::{self, Limits};
use std::path::Path;
use std::process::Command;

const PASSPHRASE: &str = "fuzz";
const LIMITS: Limits = Limits {
    max_pbkdf2_iterations: 1000,
    max_argon2_memory_kib: 64,
    max_argon2_time: 4,
    max_argon2_lanes: 2,
};

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

/// (name, luksFormat arguments, keyslots area KiB, a second keyslot's arguments)
type Recipe = (&'static str, &'static [&'static str], u64, Option<&'static [&'static str]>);

const ARGON2ID: &[&str] = &[
    "--pbkdf",
    "argon2id",
    "--pbkdf-memory",
    "32",
    "--pbkdf-force-iterations",
    "4",
    "--pbkdf-parallel",
    "1",
];
const RECIPES: &[Recipe] = &[
    ("argon2id-aes128-512", ARGON2ID, 128, None),
    (
        "pbkdf2-aes256-4096",
        &[
            "--key-size",
            "512",
            "--sector-size",
            "4096",
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-force-iterations",
            "1000",
        ],
        256,
        None,
    ),
    (
        "argon2i-two-keyslots",
        &[
            "--pbkdf",
            "argon2i",
            "--pbkdf-memory",
            "64",
            "--pbkdf-force-iterations",
            "4",
            "--pbkdf-parallel",
            "2",
        ],
        256,
        Some(&["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]),
    ),
];

fn volume(dir: &Path, (name, args, keyslots_kib, second): &Recipe) -> Result<Vec<u8>, String> {
    let img = dir.join(format!("{name}.img"));
    let pw = dir.join("pw");
    std::fs::write(&pw, PASSPHRASE).map_err(|e| format!("{}: {e}", pw.display()))?;
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(2 << 20))
        .map_err(|e| format!("{}: {e}", img.display()))?;
    // Data right after the two 16 KiB copies and the keyslots area.
    let offset = (32 + keyslots_kib) * 1024;
    let key_size = if args.contains(&"512") { 64 } else { 32 };
    let mut cmd = Command::new("cryptsetup");
    cmd.args(["luksFormat", "--type", "luks2", "--batch-mode", "--key-file"])
        .arg(&pw)
        .args(["--luks2-metadata-size", "16k"])
        .arg(format!("--luks2-keyslots-size={keyslots_kib}k"))
        .arg(format!("--offset={}", offset / 512))
        .args(*args);
    if !args.contains(&"--key-size") {
        cmd.args(["--key-size", "256"]);
    }
    run(cmd.arg(&img))?;
    if let Some(second) = second {
        // The same passphrase in both slots, so either opens it.
        run(Command::new("cryptsetup")
            .args(["luksAddKey", "--batch-mode", "--key-file"])
            .arg(&pw)
            .args(*second)
            .arg(&img)
            .arg(&pw))?;
    }
    let mut bytes = std::fs::read(&img).map_err(|e| format!("{}: {e}", img.display()))?;
    let _ = std::fs::remove_file(&img);
    bytes.truncate(offset as usize + 4096);
    let mut dev = MemDevice::from_vec(bytes.clone());
    let h = luks2::read_header(&mut dev).map_err(|e| format!("{name}: {e}"))?;
    let key = luks2::unlock(&h, &mut dev, PASSPHRASE.as_bytes(), &LIMITS)
        .map_err(|e| format!("{name}: {e}"))?;
    assert_eq!(key.as_bytes().len(), key_size, "{name}");
    assert_eq!(h.segment.offset, offset, "{name}");
    Ok(bytes)
}

/// `(name, volume)` seeds; also the first one with its primary header's magic wiped (the
/// secondary is then found by probing) and with its keyslot material damaged (a wrong
/// passphrase, as it were). A primary with a bad checksum is no seed: the target repairs
/// checksums anyway, and seedgen checks that repair leaves seeds alone.
pub fn seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = std::env::temp_dir().join(format!("polyboot-luks2-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = RECIPES
        .iter()
        .map(|r| volume(&dir, r).map(|v| (r.0.to_string(), v)))
        .collect::<Result<Vec<_>, String>>();
    let _ = std::fs::remove_dir_all(&dir);
    let mut seeds = result?;
    let first = seeds[0].1.clone();
    let mut primary = first.clone();
    primary[..6].fill(0);
    let h = luks2::read_header(&mut MemDevice::from_vec(primary.clone())).unwrap();
    assert!(h.from_secondary);
    seeds.push(("primary-wiped".into(), primary));
    let mut material = first;
    material[32768 + 100] ^= 1;
    seeds.push(("material-damaged".into(), material));
    Ok(seeds)
}
