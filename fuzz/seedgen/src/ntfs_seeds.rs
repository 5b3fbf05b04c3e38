//! ntfs seeds: small volumes made by ntfs-3g's own tools (`mkntfs`, then `ntfscp` into the
//! unmounted image, no mount needed) at 512- and 4096-byte clusters, holding a resident file
//! and a non-resident one. polyboot has no NTFS writer, so without ntfs-3g there are no seeds
//! (the caller prints why).

use polyboot_core::block::MemDevice;
use polyboot_core::ntfs::Ntfs;
use std::path::Path;
use std::process::Command;

/// The smallest volume mkntfs accepts is 1 MiB; 2 MiB leaves room for the files.
const VOLUME_BYTES: u64 = 2 << 20;

/// Files copied in: (name, contents). The first fits in its MFT record (resident), the second
/// does not.
fn files() -> [(&'static str, Vec<u8>); 2] {
    let big: Vec<u8> = (0..6000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    [("small.txt", b"polyboot ntfs seed\n".to_vec()), ("big.bin", big)]
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

fn volume(dir: &Path, cluster: u32) -> Result<Vec<u8>, String> {
    let img = dir.join(format!("ntfs-{cluster}.img"));
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(VOLUME_BYTES))
        .map_err(|e| format!("{}: {e}", img.display()))?;
    run(Command::new("mkntfs")
        .args(["-F", "-q", "-s", "512", "-c", &cluster.to_string(), "-L", "SEED"])
        .arg(&img))?;
    for (name, bytes) in files() {
        let src = dir.join(name);
        std::fs::write(&src, &bytes).map_err(|e| format!("{}: {e}", src.display()))?;
        run(Command::new("ntfscp").arg("-f").arg(&img).arg(&src).arg(name))?;
    }
    let bytes = std::fs::read(&img).map_err(|e| format!("{}: {e}", img.display()))?;
    let _ = std::fs::remove_file(&img);
    Ok(bytes)
}

/// `(name, volume)` seeds, each checked with our reader: every file reads back.
pub fn seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = std::env::temp_dir().join(format!("polyboot-ntfs-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = (|| {
        let mut out = Vec::new();
        for cluster in [512u32, 4096] {
            let bytes = volume(&dir, cluster)?;
            let mut fs = Ntfs::open(MemDevice::from_vec(bytes.clone()))
                .map_err(|e| format!("our reader rejects mkntfs's volume: {e}"))?;
            for (name, want) in files() {
                let got = fs
                    .read_file(&format!("/{name}"), 1 << 20)
                    .map_err(|e| format!("/{name}: {e}"))?;
                assert_eq!(
                    got, want,
                    "ntfs seed (cluster {cluster}): /{name} reads back differently"
                );
            }
            out.push((format!("mkntfs-{cluster}"), bytes));
        }
        Ok(out)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
