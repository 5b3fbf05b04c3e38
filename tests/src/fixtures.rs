//! Disk images built with independent tools (sfdisk, mtools), so tests of our own writers and
//! of the firmware never depend only on our own code.

use crate::run_tool;
use anyhow::{ensure, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// A 64 MiB GPT disk whose first partition (ESP, FAT, at 1 MiB) holds `efi` as
/// `\EFI\BOOT\BOOTX64.EFI`.
pub fn esp_disk(path: &Path, efi: &Path) -> Result<()> {
    let file = std::fs::File::create(path)?;
    file.set_len(64 << 20)?;
    drop(file);
    sfdisk(
        path,
        "label: gpt\nstart=2048, size=61440, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP\n",
    )?;
    let part = format!("{}@@1M", path.display());
    run_tool(
        Command::new("mformat").args(["-i", &part, "-T", "61440", "-h", "64", "-s", "32", "::"]),
    )?;
    run_tool(Command::new("mmd").args(["-i", &part, "::/EFI", "::/EFI/BOOT"]))?;
    run_tool(Command::new("mcopy").args(["-i", &part]).arg(efi).arg("::/EFI/BOOT/BOOTX64.EFI"))?;
    Ok(())
}

/// Apply an sfdisk script to an image file.
pub fn sfdisk(path: &Path, script: &str) -> Result<()> {
    let mut child = Command::new("sfdisk")
        .arg("--quiet")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot run sfdisk (Debian package fdisk): {e}"))?;
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes())?;
    ensure!(child.wait()?.success(), "sfdisk failed on {}", path.display());
    Ok(())
}

/// A Linux live ISO built by `tests/fixtures/live/<script>` (e.g. `build-live-build.sh`,
/// `build-dracut.sh`), from the per-machine cache outside the repository
/// (`POLYBOOT_FIXTURE_CACHE`, default `/var/cache/polyboot-fixtures`), keyed by the SHA-256 of
/// the script and the files it includes. Builds it when absent (as root, about 5–10 minutes;
/// the build's progress goes to stderr) through `cached.sh`, which locks so that parallel tests
/// build once. `POLYBOOT_FIXTURE_NO_BUILD=1` makes a missing ISO an error instead.
///
/// Both live fixtures print one marker line on ttyS0 once systemd is up (see
/// `tests/fixtures/live/README.md`; read it with [`marker_field`] and [`marker_cmdline`]):
/// `MARKER medium=.. source=.. device=.. dm=.. fstype=.. state=.. persist=.. persistdm=..
/// probe=found|new boots=N cmdline="..."`, then obey `poweroff` typed on the serial console
/// ([`POWEROFF_COMMAND`], answered by [`POWEROFF_MARKER`]).
pub fn live_iso(script: &str) -> Result<std::path::PathBuf> {
    fixture_iso(&format!("live/{script}"))
}

/// The Debian-installer ISO (`tests/fixtures/installer/build-debian-installer.sh`): Debian's
/// `debian-installer-12-netboot-amd64` text kernel and initrd at `/install.amd/vmlinuz` and
/// `/install.amd/initrd.gz`, GRUB (BIOS + UEFI) booting `vga=788 --- quiet
/// console=ttyS0,115200n8` after 1 s. Built in about a minute (no root needed), cached like
/// [`live_iso`].
pub fn debian_installer_iso() -> Result<std::path::PathBuf> {
    fixture_iso("installer/build-debian-installer.sh")
}

/// The ISO built by the fixture script `tests/fixtures/<script>` (e.g.
/// `installer/build-debian-installer.sh`), cached by `tests/fixtures/live/cached.sh`.
pub fn fixture_iso(script: &str) -> Result<std::path::PathBuf> {
    let dir = crate::workspace_root().join("tests/fixtures");
    let out = Command::new("bash")
        .arg(dir.join("live/cached.sh"))
        .arg(dir.join(script))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run tests/fixtures/live/cached.sh: {e}"))?;
    ensure!(
        out.status.success(),
        "building the fixture {script} failed ({}); the live ones need root, and all need the \
         Debian packages live-build, debootstrap, squashfs-tools, xorriso, grub-common, \
         grub-pc-bin, grub-efi-amd64-bin, mtools",
        out.status
    );
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    ensure!(path.is_file(), "cached.sh printed {}, which is not a file", path.display());
    Ok(path)
}

/// What a test types on the serial console once a live fixture printed its marker line: the
/// fixture syncs, freezes the persistence file system (ext4 then has its journal flushed and
/// is clean on disk, for `e2fsck -fn`), prints [`POWEROFF_MARKER`] and powers off at once, so
/// QEMU exits.
pub const POWEROFF_COMMAND: &[u8] = b"poweroff\r";

/// The line a live fixture prints before powering off:
/// `POLYBOOT-POWEROFF persist=<device or none> frozen=yes|no`.
pub const POWEROFF_MARKER: &str = "POLYBOOT-POWEROFF persist=";

/// A `key=value` field of a fixture's marker line (fields are separated by spaces; the quoted
/// `cmdline` is read with [`marker_cmdline`]).
pub fn marker_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let before_cmdline = line.split(" cmdline=\"").next().unwrap_or(line);
    before_cmdline.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// The kernel command line a live fixture's marker line reports (`cmdline="..."`, the last
/// field, with `\\` and `\"` escaped), unescaped.
pub fn marker_cmdline(line: &str) -> Option<String> {
    let (_, rest) = line.split_once(" cmdline=\"")?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// The newest `/boot/vmlinuz-*` whose modules are installed (Debian's `linux-image-amd64`),
/// and its release: the real kernel the hook's and the El Torito initrd tests boot.
pub fn host_kernel() -> Option<(std::path::PathBuf, String)> {
    let mut names: Vec<String> = std::fs::read_dir("/boot")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .rev()
        .filter(|n| n.starts_with("vmlinuz-"))
        .map(|k| (Path::new("/boot").join(&k), k.trim_start_matches("vmlinuz-").to_string()))
        .find(|(_, release)| Path::new("/lib/modules").join(release).join("modules.dep").exists())
}

/// `input` piped through `cmd args` (a compressor), its standard output; panics on failure.
pub fn pipe(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut c =
        Command::new(cmd).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let input = input.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&input));
    let out = c.wait_with_output().unwrap();
    t.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd} {args:?} failed");
    out.stdout
}

/// The tree below `dir` as a newc cpio archive, as initramfs tools write one (GNU cpio; names
/// sorted, so that the archive is the same from run to run); panics on failure.
pub fn cpio_newc(dir: &Path) -> Vec<u8> {
    let cmd = "find . | LC_ALL=C sort | cpio -o --quiet -H newc";
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{cmd}");
    out.stdout
}

/// An ISO shaped like Microsoft's Windows ISOs: a UDF 1.02 bridge (made by genisoimage -udf)
/// whose ISO 9660 tree does *not* list `files`, so only a UDF reader finds them. `files` are
/// `(path in the ISO, host file)`, e.g. `("sources/install.wim", wim)`.
///
/// genisoimage's -hide hides a file from its UDF tree too, so the file is written to both
/// trees and then renamed in the ISO 9660 records: its plain identifier (`INSTALL.WIM;1`,
/// upper case, no Rock Ridge / Joliet) gets an `X` for its first letter. The UDF names are
/// the host's lower-case names and are left alone. `isoinfo` (genisoimage's reader) then
/// checks that no hidden name is left in the ISO 9660 tree.
pub fn windows_shaped_iso(
    dir: &Path,
    name: &str,
    files: &[(&str, &Path)],
) -> Result<std::path::PathBuf> {
    windows_shaped_iso_with(dir, name, files, &[], &[])
}

/// [`windows_shaped_iso`] with `visible` files listed in both trees and extra genisoimage
/// arguments (e.g. `-e efi/microsoft/boot/efisys.bin -no-emul-boot` for an El Torito EFI
/// image among the visible files).
pub fn windows_shaped_iso_with(
    dir: &Path,
    name: &str,
    files: &[(&str, &Path)],
    visible: &[(&str, &Path)],
    args: &[&str],
) -> Result<std::path::PathBuf> {
    let root = dir.join(format!("{name}-root"));
    for (to, from) in visible {
        let to = root.join(to);
        std::fs::create_dir_all(to.parent().unwrap_or(&root))?;
        std::fs::copy(from, to)?;
    }
    std::fs::create_dir_all(root.join("sources"))?;
    std::fs::write(root.join("setup.exe"), b"MZ")?;
    std::fs::write(root.join("README.TXT"), b"This disc contains a UDF file system.\r\n")?;
    let mut hidden = Vec::new();
    for (to, from) in files {
        ensure!(to.bytes().all(|b| !b.is_ascii_uppercase()), "{to}: lower-case names only");
        std::fs::copy(from, root.join(to))?;
        let leaf = to.rsplit('/').next().unwrap_or(to);
        hidden.push(leaf.to_ascii_uppercase());
    }
    let iso = dir.join(name);
    run_tool(
        Command::new(crate::find_tool("genisoimage"))
            .args(["-quiet", "-udf", "-V", "WIN_SHAPED"])
            .args(args)
            .arg("-o")
            .arg(&iso)
            .arg(&root),
    )?;
    let mut bytes = std::fs::read(&iso)?;
    for h in &hidden {
        let id = format!("{h};1");
        let mut renamed = 0;
        let mut at = 0;
        while let Some(i) = find(&bytes[at..], id.as_bytes()) {
            bytes[at + i] = b'X';
            renamed += 1;
            at += i + 1;
        }
        ensure!(renamed > 0, "{id} not found in the ISO 9660 records of {}", iso.display());
    }
    std::fs::write(&iso, &bytes)?;
    let listing = run_tool(Command::new(crate::find_tool("isoinfo")).args(["-f", "-i"]).arg(&iso))?;
    for h in &hidden {
        ensure!(
            !listing.to_ascii_uppercase().contains(&format!("/{h};")),
            "{h} still in the ISO 9660 tree:\n{listing}"
        );
    }
    Ok(iso)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// GRUB for x86_64 EFI (`grub-mkstandalone`) with `script` embedded as its grub.cfg, written
/// to `out`.
pub fn grub_standalone_efi(script: &str, out: &Path) -> Result<()> {
    let cfg = out.with_extension("cfg");
    std::fs::write(&cfg, script)?;
    run_tool(
        Command::new(crate::find_tool("grub-mkstandalone"))
            .args(["-O", "x86_64-efi", "-o"])
            .arg(out)
            .arg(format!("boot/grub/grub.cfg={}", cfg.display())),
    )?;
    Ok(())
}

/// A small grub-mkrescue ISO (GRUB's `eltorito.img`, no-emulation; GRUB then reads its
/// modules, well over 64 KiB, through the CD itself) in `dir`, whose grub.cfg prints `marker`
/// on the serial console and waits.
pub fn grub_mkrescue_iso(dir: &Path, marker: &str) -> Result<std::path::PathBuf> {
    let root = dir.join("grub-root");
    std::fs::create_dir_all(root.join("boot/grub"))?;
    std::fs::write(
        root.join("boot/grub/grub.cfg"),
        format!("serial --unit=0 --speed=115200\nterminal_output serial console\necho {marker}\nsleep 600\n"),
    )?;
    let iso = dir.join("grub-mkrescue.iso");
    run_tool(Command::new("grub-mkrescue").args([
        "-o",
        iso.to_str().unwrap(),
        "--modules=serial echo sleep",
        root.to_str().unwrap(),
    ]))?;
    Ok(iso)
}

/// A 1.44 MB floppy image whose boot sector writes `marker` to COM1 and halts (16-bit code,
/// assembled by hand: no assembler needed).
pub fn floppy_image(marker: &str) -> Vec<u8> {
    let mut code = vec![
        0xFA, // cli
        0x31, 0xC0, // xor ax, ax
        0x8E, 0xD8, // mov ds, ax
        0xBE, 0x16, 0x7C, // mov si, 0x7C16 (the message below)
        0xBA, 0xF8, 0x03, // mov dx, 0x3F8
        0xAC, // next: lodsb
        0x84, 0xC0, // test al, al
        0x74, 0x03, // jz done
        0xEE, // out dx, al
        0xEB, 0xF8, // jmp next
        0xF4, // done: hlt
        0xEB, 0xFD, // jmp done
    ];
    assert_eq!(code.len(), 0x16);
    code.extend_from_slice(marker.as_bytes());
    code.extend_from_slice(b"\r\n\0");
    let mut img = vec![0u8; 1_474_560];
    img[..code.len()].copy_from_slice(&code);
    img[510] = 0x55;
    img[511] = 0xAA;
    img
}

/// A 4 MiB disk for El Torito hard-disk emulation: [`floppy_image`]'s marker code as its MBR,
/// one partition (the emulation requires exactly one) from sector 2048 to the end, CHS 16
/// heads x 32 sectors.
pub fn hard_disk_image(marker: &str) -> Vec<u8> {
    let mut disk = floppy_image(marker);
    disk.resize(4 << 20, 0);
    let entry = &mut disk[446..462];
    entry[0] = 0x80;
    entry[1..4].copy_from_slice(&[4, 1, 0]); // start CHS of LBA 2048: c0 h4 s1
    entry[4] = 0x83;
    entry[5..8].copy_from_slice(&[15, 32, 15]); // end CHS: c15 h15 s32
    entry[8..12].copy_from_slice(&2048u32.to_le_bytes());
    entry[12..16].copy_from_slice(&((4u32 << 20) / 512 - 2048).to_le_bytes());
    disk
}

/// `dir/NAME.iso`, mastered by xorriso, whose El Torito BIOS boot image is `image`
/// (`emulation`: xorriso's option for its kind, e.g. `-hard-disk-boot`; none for floppy,
/// which xorriso infers from the size).
pub fn emulated_iso(
    dir: &Path,
    name: &str,
    image: &[u8],
    emulation: &[&str],
) -> Result<std::path::PathBuf> {
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(&root)?;
    let image_name = format!("{name}.img");
    std::fs::write(root.join(&image_name), image)?;
    let iso = dir.join(format!("{name}.iso"));
    run_tool(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-o", iso.to_str().unwrap(), "-b", &image_name])
            .args(emulation)
            .args(["-c", "boot.cat"])
            .arg(&root),
    )?;
    Ok(iso)
}

/// What [`no_emulation_loader_iso`]'s boot image prints on COM1 when every read was right
/// (else a line starting "polyboot-test: FAIL:" that says which).
pub const NO_EMULATION_LOADER_MARKER: &str =
    "polyboot-test: no-emulation loader read 190 KiB in 64 KiB calls, in one call and above 1 MiB";

/// `dir/loader.iso`: a no-emulation El Torito image of which the BIOS loads only the first
/// 2048 bytes (boot-load-size 4, with a boot-info table); that code then reads the rest of
/// its 192 KiB file through INT 13h itself, in three ways real loaders do
/// (`fixtures/no_emulation_loader.s`, assembled with binutils' `as` and `ld`). SeaBIOS alone
/// refuses the last two on a real CD (more than 64 KiB in one call, the 64-bit flat buffer);
/// polyboot's emulation serves all three.
pub fn no_emulation_loader_iso(dir: &Path) -> Result<std::path::PathBuf> {
    let src = dir.join("no_emulation_loader.s");
    std::fs::write(&src, include_str!("fixtures/no_emulation_loader.s"))?;
    let obj = dir.join("no_emulation_loader.o");
    let bin = dir.join("no_emulation_loader.bin");
    run_tool(Command::new("as").arg("--32").arg("-o").arg(&obj).arg(&src))?;
    run_tool(
        Command::new("ld")
            .args(["-m", "elf_i386", "-Ttext=0x7C00", "--oformat=binary", "-e", "_start", "-o"])
            .arg(&bin)
            .arg(&obj),
    )?;
    let mut image = std::fs::read(&bin)?;
    ensure!(image.len() <= 2048, "the loader's code is {} bytes, over one sector", image.len());
    image.resize(2048, 0);
    for k in 1..96u16 {
        for _ in 0..1024 {
            image.extend_from_slice(&k.to_le_bytes());
        }
    }
    emulated_iso(
        dir,
        "loader",
        &image,
        &["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"],
    )
}

/// `dir/isolinux-hybrid.iso`: ISOLINUX (Debian's isolinux + syslinux-common) with the
/// isohybrid MBR (`isohdpfx.bin`), as syslinux-based distributions master their ISOs. Its
/// configuration turns on the serial console and shows `marker` (ISOLINUX's DISPLAY goes to
/// the screen only), then waits at its `boot:` prompt.
pub fn isolinux_hybrid_iso(dir: &Path, marker: &str) -> Result<std::path::PathBuf> {
    let root = dir.join("isolinux-root");
    let iso_dir = root.join("isolinux");
    std::fs::create_dir_all(&iso_dir)?;
    std::fs::copy("/usr/lib/ISOLINUX/isolinux.bin", iso_dir.join("isolinux.bin"))?;
    std::fs::copy("/usr/lib/syslinux/modules/bios/ldlinux.c32", iso_dir.join("ldlinux.c32"))?;
    std::fs::write(
        iso_dir.join("isolinux.cfg"),
        "SERIAL 0 115200\nDISPLAY marker.txt\nPROMPT 1\nTIMEOUT 0\n",
    )?;
    std::fs::write(iso_dir.join("marker.txt"), format!("{marker}\n"))?;
    let iso = dir.join("isolinux-hybrid.iso");
    run_tool(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-o"])
            .arg(&iso)
            .args(["-isohybrid-mbr", "/usr/lib/ISOLINUX/isohdpfx.bin", "-c", "isolinux/boot.cat"])
            .args(["-b", "isolinux/isolinux.bin", "-no-emul-boot", "-boot-load-size", "4"])
            .arg("-boot-info-table")
            .arg(&root),
    )?;
    Ok(iso)
}

/// OVMF's snakeoil signing key (the key `OVMF_VARS_4M.snakeoil.fd` trusts, Debian package
/// ovmf) with its passphrase removed, in `dir`: `(key, certificate)`, both PEM.
pub fn snakeoil_key(dir: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let key = dir.join("snakeoil.key");
    run_tool(
        Command::new("openssl")
            .args(["pkey", "-in", "/usr/share/ovmf/PkKek-1-snakeoil.key", "-passin"])
            .arg("pass:snakeoil")
            .arg("-out")
            .arg(&key),
    )?;
    Ok((key, std::path::PathBuf::from("/usr/share/ovmf/PkKek-1-snakeoil.pem")))
}

/// `unsigned` (a PE image) signed with `sbsign` (Debian package sbsigntool) into `out`.
pub fn sbsign(key: &Path, cert: &Path, unsigned: &Path, out: &Path) -> Result<()> {
    run_tool(
        Command::new(crate::find_tool("sbsign"))
            .arg("--key")
            .arg(key)
            .arg("--cert")
            .arg(cert)
            .arg("--output")
            .arg(out)
            .arg(unsigned),
    )?;
    Ok(())
}

/// The bytes of the file `path` (e.g. `/install.amd/initrd.gz`) in `iso`, read by xorriso.
pub fn iso_file(iso: &Path, path: &str) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("file");
    run_tool(
        Command::new(crate::find_tool("xorriso"))
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", path])
            .arg(&out),
    )?;
    Ok(std::fs::read(&out)?)
}

/// A copy of `iso` at `out` with `files` (`(path in the ISO, bytes)`) added or replaced,
/// written by xorriso with the boot records replayed (El Torito BIOS and EFI entries, the
/// hybrid MBR / GPT of grub-mkrescue ISOs), e.g. an installer ISO whose initrd carries a
/// preseed. Without grub-mkrescue's HFS+ tree for Macs: replaying its Apple partition map
/// over grown files makes libisofs fail ("GPT partitions 1 and 2 overlap").
pub fn iso_with_files(iso: &Path, out: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut cmd = Command::new(crate::find_tool("xorriso"));
    cmd.arg("-indev").arg(iso).arg("-outdev").arg(out).args(["-boot_image", "any", "replay"]);
    cmd.args(["-hfsplus", "off"]);
    for (i, (path, bytes)) in files.iter().enumerate() {
        let host = dir.path().join(format!("file{i}"));
        std::fs::write(&host, bytes)?;
        cmd.args(["-map"]).arg(&host).arg(path);
    }
    let _ = std::fs::remove_file(out);
    run_tool(cmd.arg("-commit"))?;
    Ok(())
}

/// A gzip-compressed newc cpio holding `files` (`(path, bytes)`, paths relative to the
/// initramfs root), to append to an initrd: the kernel unpacks concatenated archives in
/// order, later files over earlier ones (`cat initrd.gz extra.cpio.gz`).
pub fn initrd_overlay(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // The archive's "." entry: the kernel applies its mode to the initramfs root.
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (path, bytes) in files {
        let to = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    pipe("gzip", &["-n", "-9"], &cpio_newc(&root))
}

/// What a Debian-installer preseed from [`preseed_with_marker`] prints on ttyS0:
/// `POLYBOOT-PRESEED-MARKER-<name>`.
pub fn preseed_marker(name: &str) -> String {
    format!("POLYBOOT-PRESEED-MARKER-{name}")
}

/// A Debian-installer preseed whose `preseed/early_command` prints [`preseed_marker`]`(name)`
/// on the serial console. d-i runs it at startup (S33preseed_early_command, right after
/// S30initrd-preseed loaded `/preseed.cfg` from the initrd), before its first question: no
/// `file=`, `auto=true` or `priority=critical` is needed, and no key.
pub fn preseed_with_marker(name: &str) -> String {
    format!(
        "# polyboot test preseed ({name})\n\
         d-i preseed/early_command string echo {} > /dev/ttyS0\n",
        preseed_marker(name)
    )
}

/// How the line [`injection_archive`]'s scripts print on ttyS0 from inside the original init
/// starts: `POLYBOOT-INJECTED-MARKER content=<the marker> init=initramfs-tools|dracut`.
pub const INJECTED_MARKER: &str = "POLYBOOT-INJECTED-MARKER content=";

/// The start of that line for `marker`, up to `init=`.
pub fn injection_marker_line(marker: &str) -> String {
    format!("{INJECTED_MARKER}{marker} init=")
}

/// An `auto_install` / `injection` style archive for the `injection` plugin: a `.tar.gz`
/// (ustar, GNU tar, gzip) whose files, extracted over the initramfs root, are
/// - `/polyboot-injected`: `marker` and a newline;
/// - `/conf/conf.d/zz-polyboot-injected`: sourced by initramfs-tools' `/init` (PID 1) right
///   after it mounted /dev, /proc and /sys (every file in /conf/conf.d is; a script added to
///   /scripts/*/ would not run, since those directories' ORDER files list their scripts);
/// - `/usr/lib/dracut/hooks/cmdline/00-polyboot-injected.sh`: sourced by dracut's first hook
///   stage (dracut-cmdline.service with systemd, or dracut's own /init), every `*.sh` there is
///   (the real path: `/lib` is a symlink to `usr/lib` in merged-/usr initrds).
///
/// Both print [`injection_marker_line`]`(marker)` followed by `initramfs-tools` or `dracut`
/// to /dev/ttyS0, reading the content from `/polyboot-injected`: the file is at `/` when the
/// original init starts.
pub fn injection_archive(marker: &str) -> Vec<u8> {
    pipe("gzip", &["-n", "-9"], &injection_tar(marker))
}

/// [`injection_archive`] as `.tar.xz` (xz, CRC32 check as the kernel's xz decoder wants).
pub fn injection_archive_xz(marker: &str) -> Vec<u8> {
    pipe("xz", &["--check=crc32", "-6"], &injection_tar(marker))
}

/// The uncompressed tar of [`injection_archive`].
pub fn injection_tar(marker: &str) -> Vec<u8> {
    assert!(
        !marker.is_empty() && marker.bytes().all(|b| b.is_ascii_graphic() && b != b'\''),
        "the marker goes on one shell line: printable ASCII, no spaces or quotes"
    );
    let script = |init: &str| {
        format!(
            "# polyboot test fixture (injection archive): sourced by the original init, so\n\
             # only plain commands (no exit, no set -e).\n\
             if [ -r /polyboot-injected ]; then\n\
             \x20   echo \"{INJECTED_MARKER}$(cat /polyboot-injected) init={init}\" > /dev/ttyS0\n\
             else\n\
             \x20   echo \"POLYBOOT-INJECTED-MARKER missing /polyboot-injected init={init}\" > /dev/ttyS0\n\
             fi\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let files = [
        ("polyboot-injected", format!("{marker}\n"), 0o644),
        ("conf/conf.d/zz-polyboot-injected", script("initramfs-tools"), 0o755),
        ("usr/lib/dracut/hooks/cmdline/00-polyboot-injected.sh", script("dracut"), 0o755),
    ];
    for (path, text, mode) in &files {
        let to = root.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(&to, text).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(*mode);
        std::fs::set_permissions(&to, mode).unwrap();
    }
    let out = Command::new("tar")
        .args(["--format=ustar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner"])
        .args(["--mtime=@0", "--mode=go-w", "-cf", "-", "conf", "polyboot-injected", "usr"])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "tar failed");
    out.stdout
}

/// How the line of [`kickstart_check_iso`]'s check starts.
pub const KICKSTART_CHECK_MARKER: &str = "POLYBOOT-KS-CHECK ";

/// The kickstart check (issue 18's "tiny dracut-based fixture"): a copy of the dracut live
/// fixture in `dir` that installer detection takes for Anaconda — its GRUB entry also carries
/// `inst.stage2=hd:LABEL=POLYBOOT_DRACUT`, which this dracut (no Anaconda module) ignores —
/// and whose initrd has a dracut cmdline hook that prints, from the booted initramfs, one line
/// on ttyS0:
///
/// `POLYBOOT-KS-CHECK inst.ks=<the parameter's value or none> found=yes|no|none first=<first
/// line of the file it names, or nothing>`
///
/// (`file:` stripped to find the file.) Booted through polyboot with an `auto_install`
/// kickstart template, the line shows polyboot's `inst.ks=file:/ks.cfg` and that the hook put
/// the file there before dracut started; the live system then boots on to its marker as
/// usual. `params` and `files` add kernel parameters and initrd files to the copy itself (a
/// baseline without polyboot; empty for a polyboot test).
pub fn kickstart_check_iso(
    dir: &Path,
    params: &str,
    files: &[(&str, &[u8])],
) -> Result<std::path::PathBuf> {
    let iso = live_iso("build-dracut.sh")?;
    let cfg = String::from_utf8(iso_file(&iso, "/boot/grub/grub.cfg")?)?;
    let mut param = String::from("inst.stage2=hd:LABEL=POLYBOOT_DRACUT");
    if !params.is_empty() {
        param = format!("{param} {params}");
    }
    let cfg = add_kernel_param(&cfg, &param);
    // Shell builtins and cat only: dracut's image has no head or tr.
    let hook = "# polyboot test fixture (kickstart check): sourced by dracut's cmdline hook stage.\n\
        ks=none\n\
        for w in $(cat /proc/cmdline); do case \"$w\" in inst.ks=*) ks=${w#inst.ks=} ;; esac; done\n\
        found=none\n\
        first=\n\
        if [ \"$ks\" != none ]; then\n\
        \x20   f=${ks#file:}\n\
        \x20   if [ -f \"$f\" ]; then found=yes; IFS= read -r first < \"$f\"; else found=no; fi\n\
        fi\n\
        echo \"POLYBOOT-KS-CHECK inst.ks=$ks found=$found first=$first\" > /dev/ttyS0\n";
    let mut overlay: Vec<(&str, &[u8])> =
        vec![("usr/lib/dracut/hooks/cmdline/00-polyboot-ks-check.sh", hook.as_bytes())];
    overlay.extend_from_slice(files);
    let mut initrd = iso_file(&iso, "/boot/initrd.img")?;
    initrd.extend(initrd_overlay(&overlay));
    let out = dir.join("dracut-kickstart-check.iso");
    iso_with_files(
        &iso,
        &out,
        &[("/boot/grub/grub.cfg", cfg.as_bytes()), ("/boot/initrd.img", &initrd)],
    )?;
    Ok(out)
}

/// `cfg` (a GRUB or SYSLINUX/ISOLINUX configuration) with `param` appended to every kernel
/// command line: GRUB's `linux` / `linuxefi` / `linux16` lines, or, in a SYSLINUX file (one
/// with a `label` line and no `menuentry`), its `append` lines (where `linux` names only the
/// kernel). Comments are untouched. For `conf_replace` tests: the booted system prints its
/// /proc/cmdline (the live fixtures' `cmdline=` field).
pub fn add_kernel_param(cfg: &str, param: &str) -> String {
    let first_words = || cfg.lines().filter_map(|l| l.split_whitespace().next());
    let syslinux = first_words().any(|w| w.eq_ignore_ascii_case("label"))
        && !first_words().any(|w| w == "menuentry");
    let mut out = String::with_capacity(cfg.len() + 64);
    for line in cfg.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let word = body.split_whitespace().next().unwrap_or("");
        let kernel_line = if syslinux {
            word.eq_ignore_ascii_case("append")
        } else {
            matches!(word, "linux" | "linuxefi" | "linux16")
        };
        if kernel_line {
            out.push_str(body);
            out.push(' ');
            out.push_str(param);
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_fields_and_quoted_cmdline() {
        let line = r#"POLYBOOT-LIVE-MARKER medium=/run/live/medium source=/dev/sr0 device=/dev/sr0 dm=none fstype=iso9660 state=running persist=/dev/mapper/polyboot-persist persistdm=polyboot-persist probe=found boots=2 cmdline="boot=live a=\"b c\" d=\\e probe=x""#;
        assert_eq!(marker_field(line, "persist"), Some("/dev/mapper/polyboot-persist"));
        assert_eq!(marker_field(line, "persistdm"), Some("polyboot-persist"));
        assert_eq!(marker_field(line, "probe"), Some("found"));
        assert_eq!(marker_field(line, "boots"), Some("2"));
        assert_eq!(marker_field(line, "cmdline"), None);
        assert_eq!(marker_cmdline(line).as_deref(), Some(r#"boot=live a="b c" d=\e probe=x"#));
        assert_eq!(marker_cmdline("X cmdline=\"unterminated"), None);
    }

    #[test]
    fn kernel_params_added_to_grub_and_syslinux_lines() {
        let grub = "menuentry \"x\" {\n\tlinux\t/live/vmlinuz boot=live findiso=${iso_path}\n\tinitrd /i\n}\n# linux /commented\n";
        assert_eq!(
            add_kernel_param(grub, "polyboot.test=1"),
            "menuentry \"x\" {\n\tlinux\t/live/vmlinuz boot=live findiso=${iso_path} polyboot.test=1\n\tinitrd /i\n}\n# linux /commented\n"
        );
        let sys = "label live\r\n\tlinux /live/vmlinuz\r\n\tAPPEND boot=live\r\n";
        assert_eq!(
            add_kernel_param(sys, "p"),
            "label live\r\n\tlinux /live/vmlinuz\r\n\tAPPEND boot=live p\r\n"
        );
    }

    #[test]
    fn injection_archive_lists_the_file_and_both_inits_scripts() {
        let list = |archive: &[u8], flag: &str| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a");
            std::fs::write(&path, archive).unwrap();
            crate::run_tool(Command::new("tar").arg(flag).arg(&path)).unwrap()
        };
        for (archive, flag) in
            [(injection_archive("M-1"), "-tzvf"), (injection_archive_xz("M-1"), "-tJvf")]
        {
            let listing = list(&archive, flag);
            for path in [
                "polyboot-injected",
                "conf/conf.d/zz-polyboot-injected",
                "usr/lib/dracut/hooks/cmdline/00-polyboot-injected.sh",
            ] {
                assert!(listing.lines().any(|l| l.ends_with(&format!(" {path}"))), "{listing}");
            }
            assert!(listing.lines().all(|l| l.contains(" 0/0 ")), "{listing}");
        }
        let tar = injection_tar("M-1");
        let text = String::from_utf8_lossy(&tar);
        assert!(text.contains("M-1\n"));
        assert!(text.contains(
            "echo \"POLYBOOT-INJECTED-MARKER content=$(cat /polyboot-injected) init=dracut\""
        ));
    }
}
