//! wim seeds: WIM files captured by wimlib (`wimcapture`: one image, and two images with a
//! description each, solid and not) and an ISO holding one as `sources/install.wim`
//! (`xorriso`), as the `wim` target reads both; embedded_hook seeds: a stand-in boot manager
//! holding a decoy magic, a truncated header and then a valid hook.

use std::path::Path;
use std::process::Command;

use polyboot_core::block::MemDevice;
use polyboot_core::embedded_hook::MAGIC;
use polyboot_core::wim;

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

fn read(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn build(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("Windows/System32")).map_err(|e| e.to_string())?;
    std::fs::write(src.join("Windows/System32/a.txt"), b"polyboot wim seed\n")
        .map_err(|e| e.to_string())?;
    std::fs::write(src.join("b.bin"), vec![7u8; 3000]).map_err(|e| e.to_string())?;
    let one = dir.join("one.wim");
    run(Command::new("wimcapture").arg(&src).arg(&one).args(["Seed", "--compress=none"]))?;
    let two = dir.join("two.wim");
    run(Command::new("wimcapture").arg(&src).arg(&two).args([
        "Windows 10 Pro",
        "the first",
        "--compress=LZX",
    ]))?;
    run(Command::new("wimappend").arg(&src).arg(&two).args(["Windows 10 Home", "the second"]))?;
    let solid = dir.join("solid.wim");
    run(Command::new("wimcapture").arg(&src).arg(&solid).args(["Solid", "--solid"]))?;
    let iso_root = dir.join("iso");
    std::fs::create_dir_all(iso_root.join("sources")).map_err(|e| e.to_string())?;
    std::fs::copy(&one, iso_root.join("sources/install.wim")).map_err(|e| e.to_string())?;
    let iso = dir.join("seed.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-J", "-o"])
        .arg(&iso)
        .arg(&iso_root))?;
    Ok(vec![
        ("wimcapture-one".into(), read(&one)?),
        ("wimcapture-two".into(), read(&two)?),
        ("wimcapture-solid".into(), read(&solid)?),
        ("xorriso-install-wim".into(), read(&iso)?),
    ])
}

/// `(name, bytes)` seeds, each WIM read by our reader; Err(why) when wimlib or xorriso is
/// missing or fails.
pub fn wim_seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = std::env::temp_dir().join(format!("polyboot-wim-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = build(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let seeds = result?;
    for (name, bytes) in &seeds {
        if name.starts_with("wimcapture") {
            wim::read_info(&mut MemDevice::from_vec(bytes.clone()))
                .unwrap_or_else(|e| panic!("wim seed {name}: our reader refuses it: {e}"));
        }
    }
    Ok(seeds)
}

/// `wimcapture SRC WIM WinPE --compress=COMPRESS --boot`, and the WIM's bytes.
fn capture_winpe(src: &Path, wim: &Path, compress: &str) -> Result<Vec<u8>, String> {
    run(Command::new("wimcapture").arg(src).arg(wim).args([
        "WinPE",
        &format!("--compress={compress}"),
        "--boot",
    ]))?;
    read(wim)
}

/// wim_patch seeds: WinPE-shaped WIMs (`Windows/System32/winpeshl.exe`, hard-linked into
/// WinSxS as in Microsoft's images, and a DLL) without compression, with XPRESS and with LZX;
/// each one's shell is found by our patcher.
pub fn winpe_seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = std::env::temp_dir().join(format!("polyboot-winpe-seeds-{}", std::process::id()));
    let build = || -> Result<Vec<(String, Vec<u8>)>, String> {
        let src = dir.join("src");
        let sys = src.join("Windows/System32");
        let sxs = src.join("Windows/WinSxS/x");
        std::fs::create_dir_all(&sys).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&sxs).map_err(|e| e.to_string())?;
        let shell: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(sys.join("winpeshl.exe"), shell).map_err(|e| e.to_string())?;
        std::fs::hard_link(sys.join("winpeshl.exe"), sxs.join("winpeshl.exe"))
            .map_err(|e| e.to_string())?;
        std::fs::write(sys.join("a.dll"), vec![0xCCu8; 40_000]).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for compress in ["none", "XPRESS", "LZX"] {
            let wim = dir.join(format!("{compress}.wim"));
            out.push((format!("winpe-{compress}"), capture_winpe(&src, &wim, compress)?));
        }
        Ok(out)
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = build();
    let _ = std::fs::remove_dir_all(&dir);
    let seeds = result?;
    for (name, bytes) in &seeds {
        wim::patch::replace_file(
            &mut MemDevice::from_vec(bytes.clone()),
            0,
            wim::patch::WINPE_SHELL,
            16 << 20,
            |_| b"jump".to_vec(),
        )
        .unwrap_or_else(|e| panic!("wim_patch seed {name}: our patcher refuses it: {e}"));
    }
    Ok(seeds)
}

pub fn embedded_hook_seeds() -> Vec<(String, Vec<u8>)> {
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.resize(600, 0x90);
    let mut efi = b"MZ".to_vec();
    efi.resize(512, 0);
    // The magic as the binary's own constant, then a header whose length runs past the end of
    // its payload's ELF signature check, then the real hook.
    efi.extend_from_slice(&MAGIC);
    efi.extend_from_slice(b"rodata");
    efi.extend_from_slice(&MAGIC);
    efi.extend_from_slice(&4u32.to_le_bytes());
    efi.extend_from_slice(b"\x7fEL");
    efi.extend_from_slice(&MAGIC);
    efi.extend_from_slice(&(elf.len() as u32).to_le_bytes());
    efi.extend_from_slice(&elf);
    efi.extend_from_slice(&[0u8; 64]);
    let mut plain = MAGIC.to_vec();
    plain.extend_from_slice(&(elf.len() as u32).to_le_bytes());
    plain.extend_from_slice(&elf);
    vec![("decoys-then-hook".into(), efi), ("hook-only".into(), plain)]
}

/// winpe_medium seeds: WinPE-shaped WIMs holding the boot files at the paths polyboot reads
/// (`Windows/Boot/EFI/bootmgfw.efi`, `Windows/Boot/DVD/PCAT/etfsboot.com` and `boot.sdi`,
/// `Windows/Boot/PCAT/bootmgr`; small stand-ins) without compression, with XPRESS and with LZX,
/// and with only the EFI or only the BIOS files; each one is planned by `winpe_medium::plan`.
pub fn winpe_medium_seeds() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = std::env::temp_dir().join(format!("polyboot-winpe-medium-{}", std::process::id()));
    let build = || -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut out = Vec::new();
        let mut mgfw = b"MZ".to_vec();
        mgfw.resize(0x3C, 0);
        mgfw.extend(0x40u32.to_le_bytes());
        mgfw.extend(b"PE\0\0\x64\x86");
        mgfw.resize(3000, 0x90);
        let files: [(&str, Vec<u8>); 5] = [
            ("Windows/Boot/EFI/bootmgfw.efi", mgfw),
            ("Windows/Boot/DVD/PCAT/etfsboot.com", vec![0xFAu8; 2048]),
            ("Windows/Boot/PCAT/bootmgr", (0..6000u32).map(|i| (i % 253) as u8).collect()),
            ("Windows/Boot/DVD/PCAT/boot.sdi", vec![0x24u8; 4000]),
            ("Windows/System32/winpeshl.exe", b"MZ shell".to_vec()),
        ];
        let shapes: [(&str, &str, &str); 5] = [
            ("none", "", "none"),
            ("XPRESS", "", "XPRESS"),
            ("LZX", "", "LZX"),
            ("efi-only", "PCAT/", "XPRESS"),
            ("bios-only", "bootmgfw", "LZX"),
        ];
        for (name, skip, compress) in shapes {
            let src = dir.join(name);
            for (path, bytes) in &files {
                if !skip.is_empty() && path.contains(skip) && !path.ends_with("boot.sdi") {
                    continue;
                }
                let p = src.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).map_err(|e| e.to_string())?;
                std::fs::write(p, bytes).map_err(|e| e.to_string())?;
            }
            let wim = dir.join(format!("{name}.wim"));
            out.push((format!("winpe-boot-{name}"), capture_winpe(&src, &wim, compress)?));
        }
        Ok(out)
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = build();
    let _ = std::fs::remove_dir_all(&dir);
    let seeds = result?;
    for (name, bytes) in &seeds {
        let len = bytes.len() as u64;
        polyboot_core::winpe_medium::plan(
            &mut MemDevice::from_vec(bytes.clone()),
            len,
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("winpe_medium seed {name}: our planner refuses it: {e}"));
    }
    Ok(seeds)
}
