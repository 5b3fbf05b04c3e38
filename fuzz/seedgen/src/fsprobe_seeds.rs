//! fsprobe seeds: the first 4 KiB of file systems and LUKS containers made by their own
//! tools (mkfs.ext2/3/4 from e2fsprogs, mkfs.xfs from xfsprogs, cryptsetup), each checked
//! with the probe. A missing tool leaves its seeds out (the caller prints why).

use polyboot_core::fsprobe::{probe, FsKind, PROBE_BYTES};
use std::path::Path;
use std::process::{Command, Stdio};

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

fn head_of(
    dir: &Path,
    name: &str,
    size: u64,
    make: impl Fn(&Path) -> Command,
) -> Result<Vec<u8>, String> {
    let img = dir.join(name);
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(size))
        .map_err(|e| format!("{}: {e}", img.display()))?;
    run(&mut make(&img))?;
    let bytes = std::fs::read(&img).map_err(|e| format!("{}: {e}", img.display()))?;
    let _ = std::fs::remove_file(&img);
    Ok(bytes[..PROBE_BYTES].to_vec())
}

/// `(name, first 4 KiB)` seeds and the tools that were missing.
pub fn seeds() -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("polyboot-fsprobe-seeds-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let mut add = |name: &str, kind: FsKind, made: Result<Vec<u8>, String>| match made {
        Ok(head) => {
            let got = probe(&head).map(|i| i.kind);
            assert_eq!(got, Some(kind), "fsprobe misreads the {name} seed");
            out.push((name.to_string(), head));
        }
        Err(why) => missing.push(why),
    };
    for (fs, kind) in [("ext2", FsKind::Ext2), ("ext3", FsKind::Ext3), ("ext4", FsKind::Ext4)] {
        add(
            fs,
            kind,
            head_of(&dir, fs, 32 << 20, |img| {
                let mut c = Command::new(format!("mkfs.{fs}"));
                c.args(["-F", "-q", "-L", "casper-rw"]).arg(img);
                c
            }),
        );
    }
    add(
        "xfs",
        FsKind::Xfs,
        head_of(&dir, "xfs", 300 << 20, |img| {
            let mut c = Command::new("mkfs.xfs");
            c.args(["-q", "-L", "vtoycow"]).arg(img);
            c
        }),
    );
    let key = dir.join("key");
    let _ = std::fs::write(&key, b"seed passphrase");
    for (ty, kind) in [("luks1", FsKind::Luks1), ("luks2", FsKind::Luks2)] {
        add(
            ty,
            kind,
            head_of(&dir, ty, 32 << 20, |img| {
                let mut c = Command::new("cryptsetup");
                c.args([
                    "luksFormat",
                    "-q",
                    "--type",
                    ty,
                    "--pbkdf",
                    "pbkdf2",
                    "--pbkdf-force-iterations",
                    "1000",
                    "--key-file",
                ])
                .arg(&key)
                .arg(img);
                if ty == "luks2" {
                    c.args(["--label", "persistence"]);
                }
                c
            }),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    (out, missing)
}
