//! `polyboot update`: replaces the boot files and nothing else, and an update interrupted at any
//! step (failpoints) leaves a drive that fsck.fat accepts, that boots (OVMF), and that a second
//! `update` finishes. Checked with independent tools: fsck.fat, mtools, sfdisk.

mod common;
use common::Cli;
use polyboot::drive::bootcode::{self, BiosCode};
use polyboot::drive::update::{
    BIOS_TAIL_TORN_FAILPOINTS, FAILPOINT_EXIT_CODE, STEP_FAILPOINTS, TORN_FAILPOINTS,
};
use polyboot_tests::{artifacts, pattern, run_tool, Disk, Firmware, Vm, VmConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The old and new boot managers: the real build when there is one (a copy, so a concurrent
/// rebuild cannot change it under the test), and the same with bytes appended — still a PE
/// file the firmware loads.
struct Payloads {
    dir: tempfile::TempDir,
    old: PathBuf,
    new: PathBuf,
}

impl Payloads {
    fn new(require_real: bool) -> Payloads {
        let dir = tempfile::tempdir().unwrap();
        let old_bytes = match artifacts::efi_app() {
            Ok(p) => std::fs::read(p).unwrap(),
            Err(e) if require_real => panic!("{e:#}"),
            Err(_) => [b"MZ".as_slice(), &pattern(1, 150_000)].concat(),
        };
        let new_bytes = [old_bytes.as_slice(), &pattern(2, 5_001)].concat();
        let (old, new) = (dir.path().join("old.efi"), dir.path().join("new.efi"));
        std::fs::write(&old, &old_bytes).unwrap();
        std::fs::write(&new, &new_bytes).unwrap();
        Payloads { dir, old, new }
    }

    fn old_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.old).unwrap()
    }

    fn new_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.new).unwrap()
    }

    /// The CLI with the old boot manager as its default.
    fn cli(&self, args: &[&str]) -> Cli {
        Cli::new().efi(&self.old).args(args)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        self.cli(args).ok()
    }

    #[track_caller]
    fn fails(&self, args: &[&str]) -> String {
        self.cli(args).fails()
    }

    fn install(&self, name: &str, extra: &[&str]) -> PathBuf {
        let img = self.dir.path().join(name);
        let _ = std::fs::remove_file(&img);
        let mut args = vec!["install", img.to_str().unwrap(), "--size", "128M"];
        args.extend(extra);
        self.ok(&args);
        img
    }

    fn update(&self, img: &Path) -> String {
        self.ok(&["update", img.to_str().unwrap(), "--efi", self.new.to_str().unwrap()])
    }

    /// Run `update` stopped at `failpoint`.
    #[track_caller]
    fn interrupted_update(&self, img: &Path, failpoint: &str) {
        let out = self
            .cli(&["update", img.to_str().unwrap(), "--efi", self.new.to_str().unwrap()])
            .failpoint(failpoint)
            .output();
        assert_eq!(
            out.status.code(),
            Some(FAILPOINT_EXIT_CODE),
            "{failpoint} not reached:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    fn info(&self, img: &Path) -> Value {
        serde_json::from_str(&self.ok(&["info", img.to_str().unwrap(), "--json"])).unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sha256_range(img: &Path, offset: u64, len: u64) -> String {
    let f = std::fs::File::open(img).unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = offset;
    while at < offset + len {
        let n = (offset + len - at).min(buf.len() as u64) as usize;
        f.read_exact_at(&mut buf[..n], at).unwrap();
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    hex(&hasher.finalize())
}

fn sha256_file(img: &Path) -> String {
    sha256_range(img, 0, std::fs::metadata(img).unwrap().len())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn range(part: &Value) -> (u64, u64) {
    (part["offset"].as_u64().unwrap(), part["size"].as_u64().unwrap())
}

/// Partition 2 of `img`, as seen by the independent tools.
struct BootPart {
    path: PathBuf,
}

impl BootPart {
    fn extract(p: &Payloads, img: &Path) -> BootPart {
        let (off, size) = range(&p.info(img)["layout"]["boot"]);
        let mut bytes = vec![0u8; size as usize];
        std::fs::File::open(img).unwrap().read_exact_at(&mut bytes, off).unwrap();
        let path = img.with_extension("p2");
        std::fs::write(&path, bytes).unwrap();
        BootPart { path }
    }

    /// `fsck.fat -n`: (clean, output).
    fn fsck(&self) -> (bool, String) {
        let out = Command::new("fsck.fat")
            .arg("-n")
            .arg(&self.path)
            .output()
            .expect("fsck.fat (dosfstools)");
        (out.status.success(), format!("{}{}", text(&out.stdout), text(&out.stderr)))
    }

    #[track_caller]
    fn assert_clean(&self, when: &str) {
        let (clean, out) = self.fsck();
        assert!(clean, "fsck.fat -n {when}:\n{out}");
    }

    fn file(&self, path: &str) -> Vec<u8> {
        let out = self.path.with_extension("copy");
        let _ = std::fs::remove_file(&out);
        run_tool(
            Command::new("mcopy")
                .arg("-n")
                .arg("-i")
                .arg(&self.path)
                .arg(format!("::{path}"))
                .arg(&out),
        )
        .unwrap();
        std::fs::read(&out).unwrap()
    }

    fn dir(&self, path: &str) -> String {
        run_tool(Command::new("mdir").arg("-b").arg("-i").arg(&self.path).arg(format!("::{path}")))
            .unwrap()
    }

    fn stamp(&self) -> Value {
        let s =
            run_tool(Command::new("mtype").arg("-i").arg(&self.path).arg("::/polyboot/stamp.json"))
                .unwrap();
        serde_json::from_str(&s).unwrap()
    }
}

/// After a complete update: fsck clean, new BOOTX64.EFI, the stamp names it, no leftovers.
#[track_caller]
fn assert_updated(p: &Payloads, img: &Path) {
    let part = BootPart::extract(p, img);
    part.assert_clean("after the update");
    assert!(
        part.file("/EFI/BOOT/BOOTX64.EFI") == p.new_bytes(),
        "BOOTX64.EFI is not the new payload"
    );
    assert_eq!(part.stamp()["bootx64_sha256"], hex(&Sha256::digest(p.new_bytes())));
    assert_eq!(part.stamp()["polyboot_version"], env!("CARGO_PKG_VERSION"));
    let listing = part.dir("/EFI/BOOT") + &part.dir("/polyboot");
    assert!(
        !listing.contains("NEW")
            && !listing.contains("OLD")
            && !listing.to_lowercase().contains(".new"),
        "{listing}"
    );
}

#[test]
fn update_replaces_the_boot_files_and_nothing_else() {
    let p = Payloads::new(false);
    let img = p.install("gpt512.img", &[]);
    let s = img.to_str().unwrap();
    let iso = p.dir.path().join("image.iso");
    std::fs::write(&iso, pattern(3, 300_000)).unwrap();
    p.ok(&["add", "-q", s, iso.to_str().unwrap()]);

    // Boot-code areas with something in them, so the update has to rewrite them.
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[0xAA; 440], 0).unwrap();
    f.write_all_at(&[0x55; 1024], 200_000).unwrap();
    drop(f);

    let before = p.info(&img);
    let sfdisk_before = run_tool(Command::new("sfdisk").arg("--json").arg(&img)).unwrap();
    let (data_off, data_size) = range(&before["layout"]["data"]);
    let (boot_off, boot_size) = range(&before["layout"]["boot"]);
    let disk_bytes = before["layout"]["disk_bytes"].as_u64().unwrap();
    let gap_start = 34 * 512;
    let data_hash = sha256_range(&img, data_off, data_size);
    let tables_hash = sha256_range(&img, 440, gap_start - 440);
    let tail_hash = sha256_range(&img, boot_off + boot_size, disk_bytes - boot_off - boot_size);

    let out = p.update(&img);
    let old_hash = hex(&Sha256::digest(p.old_bytes()));
    let new_hash = hex(&Sha256::digest(p.new_bytes()));
    assert!(
        out.contains(&old_hash) && out.contains(&new_hash),
        "old and new hashes are shown:\n{out}"
    );
    assert!(out.contains("rewrite the boot code") && out.contains("updated"), "{out}");

    assert_eq!(sha256_range(&img, data_off, data_size), data_hash, "partition 1 changed");
    assert_eq!(sha256_range(&img, 440, gap_start - 440), tables_hash, "MBR table / GPT changed");
    assert_eq!(
        sha256_range(&img, boot_off + boot_size, disk_bytes - boot_off - boot_size),
        tail_hash,
        "backup GPT changed"
    );
    assert_eq!(run_tool(Command::new("sfdisk").arg("--json").arg(&img)).unwrap(), sfdisk_before);
    let after = p.info(&img);
    assert_eq!(after["layout"], before["layout"], "disk GUID, partitions");
    assert_eq!(after["free_bytes"], before["free_bytes"]);
    let zeros = |off: u64, len: u64| {
        sha256_range(&img, off, len) == hex(&Sha256::digest(vec![0u8; len as usize]))
    };
    // With the BIOS boot code built: stage 0 in the MBR, stage 1 at the start of the gap and
    // the rest of the gap zeroed; without it (a build of the CLI alone): zeros.
    let f = std::fs::File::open(&img).unwrap();
    let mut mbr = [0u8; 440];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut mbr, 0).unwrap();
    if &mbr[416..420] == b"PBS0" {
        let mut magic = [0u8; 4];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut magic, gap_start + 2).unwrap();
        assert_eq!(&magic, b"PBS1", "stage 1 at the start of the loader gap");
        let end = gap_start + u64::from(u16::from_le_bytes([mbr[422], mbr[423]])) * 512;
        assert!(zeros(end, data_off - end), "rest of the loader gap zeroed");
    } else {
        assert!(
            zeros(0, 440) && zeros(gap_start, data_off - gap_start),
            "build without BIOS code: zeros"
        );
    }
    assert_updated(&p, &img);
    p.ok(&["verify", s]);

    // Up to date: a second run writes nothing.
    let whole = sha256_file(&img);
    let again = p.update(&img);
    assert!(again.contains("already up to date"), "{again}");
    assert_eq!(sha256_file(&img), whole);

    // --json for scripts.
    let json: Value = serde_json::from_str(&p.ok(&["update", s, "--json"])).unwrap();
    assert_eq!(json["old"]["bootx64_sha256"], new_hash);
    assert_eq!(json["new"]["bootx64_sha256"], old_hash);
    assert_eq!(json["written"], true);
    assert_updated_to(&p, &img, &p.old_bytes());
}

#[track_caller]
fn assert_updated_to(p: &Payloads, img: &Path, efi: &[u8]) {
    let part = BootPart::extract(p, img);
    part.assert_clean("after the update");
    assert!(part.file("/EFI/BOOT/BOOTX64.EFI") == efi);
}

#[test]
fn update_mbr_4096() {
    let p = Payloads::new(false);
    let img = p.install("mbr4096.img", &["--mbr", "--sector-size", "4096"]);
    let before = p.info(&img);
    let (data_off, data_size) = range(&before["layout"]["data"]);
    let data_hash = sha256_range(&img, data_off, data_size);
    p.update(&img);
    let after = p.info(&img);
    assert_eq!(after["layout"], before["layout"]);
    assert!(after["layout"]["mbr_signature"].as_u64().unwrap() != 0);
    assert_eq!(sha256_range(&img, data_off, data_size), data_hash);
    assert_updated(&p, &img);
    // One interrupted update at this geometry too.
    let img = p.install("mbr4096-b.img", &["--mbr", "--sector-size", "4096"]);
    p.interrupted_update(&img, "efi-switched");
    BootPart::extract(&p, &img).assert_clean("after efi-switched");
    p.update(&img);
    assert_updated(&p, &img);
}

/// Which BOOTX64.EFI a drive interrupted at `failpoint` must hold.
fn expect_new_efi(failpoint: &str) -> bool {
    let switched = |list: &[&str], at: &str| {
        list.iter().position(|f| *f == failpoint) >= list.iter().position(|f| *f == at)
    };
    if STEP_FAILPOINTS.contains(&failpoint) {
        switched(STEP_FAILPOINTS, "efi-switched")
    } else {
        failpoint.starts_with("stamp-") || failpoint.starts_with("efi-old-")
    }
}

#[test]
fn every_interruption_leaves_a_clean_bootable_drive_and_a_rerun_finishes() {
    let p = Payloads::new(false);
    let (old, new) = (p.old_bytes(), p.new_bytes());
    for (failpoint, step) in STEP_FAILPOINTS
        .iter()
        .map(|f| (*f, true))
        .chain(TORN_FAILPOINTS.iter().map(|f| (*f, false)))
    {
        let img = p.install("interrupted.img", &[]);
        p.interrupted_update(&img, failpoint);
        let part = BootPart::extract(&p, &img);
        let (clean, fsck) = part.fsck();
        assert_fsck_after_interruption(step, failpoint, clean, &fsck);
        let efi = part.file("/EFI/BOOT/BOOTX64.EFI");
        let want = if expect_new_efi(failpoint) { &new } else { &old };
        assert!(
            efi == *want,
            "{failpoint}: BOOTX64.EFI is {} bytes, neither the old nor the new payload whole",
            efi.len()
        );
        // Still a polyboot drive: the stamp is there and names one of the two.
        let stamp = part.stamp()["bootx64_sha256"].as_str().unwrap().to_string();
        assert!(
            stamp == hex(&Sha256::digest(&old)) || stamp == hex(&Sha256::digest(&new)),
            "{failpoint}"
        );
        p.info(&img);

        p.update(&img);
        assert_updated(&p, &img);
    }
}

/// A BIOS stage 1 larger than stage 0's load area (the padded test build) has its tail in a
/// file on partition 2. An update that changes the tail, stopped at every step and between the
/// writes of the tail's own steps, leaves boot code that loads (as the BIOS would, CRC checked:
/// `bootcode::load_stage1`) the old stage 1 before the switch and the new one after it, whole;
/// fsck.fat accepts partition 2; a rerun finishes with one tail file, then has nothing to do.
#[test]
fn an_update_that_changes_the_bios_stage1_tail_is_crash_safe() {
    let p = Payloads::new(false);
    let old_bin = std::fs::read(artifacts::bios_code_padded()).unwrap();
    // The new build: one byte of the tail changed (the artefact is still well-formed).
    let mut new_bin = old_bin.clone();
    let at = new_bin.len() - 1000;
    new_bin[at] ^= 0x55;
    let (old, new) = (BiosCode::parse(&old_bin).unwrap(), BiosCode::parse(&new_bin).unwrap());
    assert!(old.tail().is_some() && old.tail() != new.tail());
    let old_path = p.dir.path().join("old-bios.bin");
    let new_path = p.dir.path().join("new-bios.bin");
    std::fs::write(&old_path, &old_bin).unwrap();
    std::fs::write(&new_path, &new_bin).unwrap();
    let loaded = |img: &Path| bootcode::load_stage1(&std::fs::File::open(img).unwrap()).unwrap();
    let update = |img: &Path| {
        let s = img.to_str().unwrap();
        p.cli(&["update", s, "--efi", p.new.to_str().unwrap()]).env("POLYBOOT_BIOS", &new_path)
    };
    let switch = STEP_FAILPOINTS.iter().position(|f| *f == "boot-code-written").unwrap();
    for (failpoint, step) in STEP_FAILPOINTS
        .iter()
        .map(|f| (*f, true))
        .chain(BIOS_TAIL_TORN_FAILPOINTS.iter().map(|f| (*f, false)))
    {
        let img = p.dir.path().join("tail.img");
        let _ = std::fs::remove_file(&img);
        let s = img.to_str().unwrap();
        p.cli(&["install", s, "--size", "128M"]).env("POLYBOOT_BIOS", &old_path).ok();
        assert!(old.is_loaded(&loaded(&img)), "install");
        let out = update(&img).failpoint(failpoint).output();
        assert_eq!(out.status.code(), Some(FAILPOINT_EXIT_CODE), "{failpoint} not reached");
        let (clean, fsck) = BootPart::extract(&p, &img).fsck();
        assert_fsck_after_interruption(step, failpoint, clean, &fsck);
        let switched = match STEP_FAILPOINTS.iter().position(|f| *f == failpoint) {
            Some(i) => i >= switch,
            None => failpoint.starts_with("bios-tail-old-"),
        };
        let want = if switched { &new } else { &old };
        assert!(want.is_loaded(&loaded(&img)), "{failpoint}: the boot code loads neither build");

        let out = update(&img).ok();
        assert!(new.is_loaded(&loaded(&img)), "{failpoint}, then a rerun:\n{out}");
        let part = BootPart::extract(&p, &img);
        part.assert_clean(&format!("after {failpoint} and a rerun"));
        let listing = part.dir("/polyboot").to_lowercase();
        assert_eq!(listing.matches("stage1-").count(), 1, "one tail file:\n{listing}");
        let again = update(&img).ok();
        assert!(again.contains("already up to date"), "{failpoint}:\n{again}");
    }
}

#[test]
fn refuses_what_is_not_a_polyboot_drive_and_dry_run_writes_nothing() {
    let p = Payloads::new(false);
    let plain = p.dir.path().join("plain.img");
    std::fs::write(&plain, pattern(4, 8 << 20)).unwrap();
    let hash = sha256_file(&plain);
    let err = p.fails(&["update", plain.to_str().unwrap(), "--efi", p.new.to_str().unwrap()]);
    assert!(err.contains("not a polyboot drive"), "{err}");
    assert_eq!(sha256_file(&plain), hash);

    let missing = p.dir.path().join("missing.img");
    p.fails(&["update", missing.to_str().unwrap()]);
    assert!(!missing.exists());
    p.fails(&["update", p.dir.path().to_str().unwrap()]);

    let img = p.install("dry.img", &[]);
    let hash = sha256_file(&img);
    let out =
        p.ok(&["update", img.to_str().unwrap(), "--efi", p.new.to_str().unwrap(), "--dry-run"]);
    assert!(
        out.contains("replace \\EFI\\BOOT\\BOOTX64.EFI")
            && out.contains("dry run: nothing written"),
        "{out}"
    );
    assert_eq!(sha256_file(&img), hash);
    let dry =
        ["update", img.to_str().unwrap(), "--efi", p.new.to_str().unwrap(), "--dry-run", "--json"];
    let json: Value = serde_json::from_str(&p.ok(&dry)).unwrap();
    assert_eq!(json["written"], false);
    assert_eq!(json["new"]["bootx64_sha256"], hex(&Sha256::digest(p.new_bytes())));
    assert_eq!(sha256_file(&img), hash);
}

/// With `\EFI\BOOT` crowded by other files, the new entries cannot share the old entries'
/// sector; the switch could not be one write, so update refuses before writing anything.
#[test]
fn refuses_when_the_switch_cannot_be_one_sector_write() {
    let p = Payloads::new(false);
    let img = p.install("crowded.img", &[]);
    let (boot_off, _) = range(&p.info(&img)["layout"]["boot"]);
    let filler = p.dir.path().join("FILLER.TXT");
    std::fs::write(&filler, b"x").unwrap();
    let target = format!("{}@@{boot_off}", img.display());
    for i in 0..12 {
        run_tool(
            Command::new("mcopy")
                .arg("-i")
                .arg(&target)
                .arg(&filler)
                .arg(format!("::/EFI/BOOT/F{i}.TXT")),
        )
        .unwrap();
    }
    let hash = sha256_file(&img);
    let err = p.fails(&["update", img.to_str().unwrap(), "--efi", p.new.to_str().unwrap()]);
    assert!(err.contains("could not be one write") && err.contains("nothing written"), "{err}");
    assert_eq!(sha256_file(&img), hash);
}

/// Drives interrupted right before and right after the switch boot in real firmware.
#[test]
fn ovmf_boots_drives_interrupted_before_and_after_the_switch() -> anyhow::Result<()> {
    let p = Payloads::new(true);
    for failpoint in ["efi-new-written", "efi-switched"] {
        let img = p.install(&format!("{failpoint}.img"), &[]);
        p.interrupted_update(&img, failpoint);
        let mut disk = Disk::new(&img);
        disk.read_only = true;
        let name = format!("update-interrupted-{failpoint}");
        let mut vm = Vm::start(
            VmConfig::new(&name, Firmware::Uefi).disk(disk).timeout(Duration::from_secs(60)),
        )?;
        let t = vm.wait_for(&format!("polyboot {}", env!("CARGO_PKG_VERSION")))?;
        eprintln!("{name}: banner after {t:?}");
        drop(vm);
        p.update(&img);
        assert_updated(&p, &img);
    }
    Ok(())
}

/// A drive installed by a build without the 32-bit jump program gets it from `update`: a new
/// file in `\polyboot`, written the crash-safe way, byte for byte the built one; the 64-bit
/// one is kept; fsck.fat clean; mtools reads both.
#[test]
fn update_adds_the_x86_jump_program_to_a_drive_without_it() {
    let p = Payloads::new(false);
    let img = p.dir.path().join("no-x86.img");
    let s = img.to_str().unwrap();
    p.cli(&["install", s, "--size", "128M"]).env("POLYBOOT_WINPE_X86", "").ok();
    let before = BootPart::extract(&p, &img);
    before.assert_clean("after install");
    let listing = before.dir("/polyboot").to_lowercase();
    assert!(listing.contains("winpe-x64.exe") && !listing.contains("winpe-x86"), "{listing}");
    let x64 = before.file("/polyboot/winpe-x64.exe");

    let (x86_exe, _) = artifacts::winpe_programs_x86();
    p.cli(&["update", s, "--efi", p.new.to_str().unwrap()])
        .env("POLYBOOT_WINPE_X86", &x86_exe)
        .ok();
    assert_updated(&p, &img);
    let after = BootPart::extract(&p, &img);
    assert!(
        after.file("/polyboot/winpe-x86.exe") == std::fs::read(&x86_exe).unwrap(),
        "\\polyboot\\winpe-x86.exe is not the built 32-bit jump program"
    );
    assert!(after.file("/polyboot/winpe-x64.exe") == x64, "winpe-x64.exe changed");
}

/// What fsck.fat may say about a boot partition after an update stopped at `failpoint`: clean
/// between steps (`step`); inside a step, at worst clusters no file owns (and FAT 2 lagging in
/// them), never duplicates, orphans or truncated files.
fn assert_fsck_after_interruption(step: bool, failpoint: &str, clean: bool, fsck: &str) {
    if step {
        assert!(clean, "fsck.fat -n after an update stopped at {failpoint}:\n{fsck}");
    } else {
        assert!(
            !fsck.contains("Duplicate") && !fsck.contains("Orphan") && !fsck.contains("truncat"),
            "{failpoint}:\n{fsck}"
        );
    }
}
