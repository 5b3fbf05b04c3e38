//! Legacy BIOS boot, end to end under SeaBIOS (TCG): drives made by `polyboot install` (the
//! MBR stage 0 + the stage-1 loader in the gap before partition 1) show the menu on the serial
//! console and VGA, built by the same core scanning as the UEFI boot manager, and boot an ISO
//! by INT 13h CD emulation served from the file's extents.

mod common;
use common::{polyboot, Cli};
use polyboot_tests::artifacts::{self, GRUB_RESCUE_ISO, MEMTEST_ISO};
use polyboot_tests::{fixtures, Disk, Firmware, Vm, VmConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MENU_READY: &str = "polyboot-bios: menu ready:";

/// A drive image with ipxe.iso on it.
fn drive(dir: &Path, scheme: &str) -> PathBuf {
    let img = dir.join("drive.img");
    polyboot(&["install", img.to_str().unwrap(), "--size", "256M", scheme, "--yes"]);
    polyboot(&["add", img.to_str().unwrap(), artifacts::IPXE_ISO]);
    img
}

fn boot(name: &str, img: &Path) -> Vm {
    Vm::start(
        VmConfig::new(name, Firmware::Bios).disk(Disk::new(img)).timeout(Duration::from_secs(240)),
    )
    .unwrap()
}

fn shows_the_menu(name: &str, scheme: &str) {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), scheme);
    let mut vm = boot(name, &img);
    let t = vm.wait_for(&format!("{MENU_READY} 1 images")).unwrap();
    vm.wait_for("polyboot-bios: menu:   Firmware setup").unwrap();
    let console = vm.serial_text();
    assert!(
        console.contains("polyboot-bios: menu: > /ipxe.iso"),
        "the ISO is listed and selected:\n{console}"
    );
    let want = if scheme == "--gpt" { "GPT drive" } else { "MBR drive" };
    assert!(console.contains(want), "{console}");
    let (_, screen) = vm.wait_for_screen("ipxe.iso").unwrap();
    assert!(screen.contains("images on POLYBOOT"), "VGA menu title:\n{screen}");
    eprintln!("{name}: menu ready after {t:?}");
}

#[test]
fn seabios_shows_the_menu_of_a_gpt_drive() {
    shows_the_menu("bios-menu-gpt", "--gpt");
}

#[test]
fn seabios_shows_the_menu_of_an_mbr_drive() {
    shows_the_menu("bios-menu-mbr", "--mbr");
}

// No 4096-byte-sector VM test: SeaBIOS does not boot a virtio disk with 4 KiB logical blocks
// ("Boot failed"), so that path is covered by the host tests of the stage-0 patching only.

/// The issue's done-when: ipxe.iso boots to "iPXE initialising devices". Under SeaBIOS,
/// Debian's ipxe.iso (ISOLINUX + ipxe.lkrn) prints only on VGA: read it back with OCR.
#[test]
fn seabios_boots_ipxe_iso_by_cd_emulation() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "--gpt");
    let mut vm = boot("bios-ipxe", &img);
    vm.wait_for(MENU_READY).unwrap();
    vm.send_serial(b"\r").unwrap();
    vm.wait_for("polyboot-bios: booting /ipxe.iso: El Torito no-emulation, as CD drive 0xe0")
        .unwrap();
    let (t, screen) = vm.wait_for_screen(artifacts::IPXE_MARKER).unwrap();
    assert!(screen.contains("ISOLINUX"), "ISOLINUX read itself through the emulated CD:\n{screen}");
    eprintln!("bios-ipxe: iPXE after {t:?}");
}

/// `update` moves stage 1 to the other gap slot and switches stage 0 to it, keeping the disk
/// signature, the GUIDs and the table; the drive still boots; a second update writes nothing.
#[test]
fn update_rewrites_the_bios_boot_code_and_the_drive_still_boots() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "--mbr");
    let s = img.to_str().unwrap();
    let before = std::fs::read(&img).unwrap();
    let sfdisk = |img: &Path| {
        let out = Command::new("sfdisk").arg("--json").arg(img).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let table = sfdisk(&img);
    assert!(polyboot(&["update", s]).contains("already up to date"));

    // Damage the installed stage 1 (first slot): update must write the other slot, then switch.
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0xCC; 512], 1024).unwrap();
    drop(f);
    let out = polyboot(&["update", s]);
    assert!(out.contains("rewrote the boot code"), "{out}");
    let after = std::fs::read(&img).unwrap();
    assert_eq!(after[440..512], before[440..512], "disk signature and partition table kept");
    assert_ne!(after[..440], before[..440], "stage 0 now loads the second slot");
    assert_eq!(sfdisk(&img), table);
    assert!(after[512..1 << 19].iter().all(|&b| b == 0), "the old slot is cleared");
    assert!(polyboot(&["update", s]).contains("already up to date"));

    let mut vm = boot("bios-after-update", &img);
    vm.wait_for(&format!("{MENU_READY} 1 images")).unwrap();
}

/// A stage 1 larger than stage 0's load area: the padded test build (past 2 MiB, padding first
/// in its 32-bit part, so that all of its code and data lie in the tail on the boot partition)
/// boots, and the padding's CRC-32 as stage 1 reads it from memory is the artefact's. A tail
/// changed behind polyboot's back is refused with a message before any of it runs; `update`
/// repairs the drive (a new tail under the other name, the other slot), and moves it to the
/// normal build.
#[test]
fn seabios_loads_a_stage1_tail_past_2_mib_and_refuses_a_damaged_one() {
    use polyboot::drive::bootcode::{self, BiosCode, LOAD_AREA};
    let padded = artifacts::bios_code_padded();
    let code = BiosCode::parse(&std::fs::read(&padded).unwrap()).unwrap();
    let stage1 = code.stage1();
    assert!(stage1.len() > 2 << 20, "the padded stage 1 is {} bytes", stage1.len());
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("drive.img");
    let s = img.to_str().unwrap();
    let with_padded = |args: &[&str]| Cli::booting().env("POLYBOOT_BIOS", &padded).args(args).ok();
    with_padded(&["install", s, "--size", "256M", "--yes"]);
    polyboot(&["add", s, artifacts::IPXE_ISO]);

    // What stage 1 prints about its padding, checked against the artefact's bytes.
    let boots_padded = |name: &str| {
        let mut vm = boot(name, &img);
        vm.wait_for(&format!("{MENU_READY} 1 images")).unwrap();
        let console = vm.serial_text();
        let line = console
            .lines()
            .find_map(|l| l.trim_end().strip_prefix("polyboot-bios: test padding: "))
            .unwrap_or_else(|| panic!("no padding line:\n{console}"));
        let [len, "bytes", "at", at, "crc32", crc] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("{line}")
        };
        let len: usize = len.parse().unwrap();
        assert_eq!(at.trim_end_matches(','), "0x100000", "the padding opens the 32-bit part");
        assert!(4096 + len > LOAD_AREA + (1 << 20), "most of the padding is in the tail: {len}");
        let want = polyboot_core::crc32::crc32(&stage1[4096..4096 + len]);
        assert_eq!(crc, format!("{want:08x}"), "the padding as loaded");
    };
    boots_padded("bios-tail");

    // One byte of the tail changed, where stage 0's head says the tail is.
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&img).unwrap();
    use std::os::unix::fs::FileExt;
    let mut sector0 = [0u8; 512];
    f.read_exact_at(&mut sector0, 0).unwrap();
    let loc = bootcode::stage1_location(&sector0).unwrap();
    let mut head = vec![0u8; 512];
    f.read_exact_at(&mut head, loc.lba * 512).unwrap();
    let tail = bootcode::tail_ref(&head).expect("the head loads a tail");
    let at = tail.lba * 512 + 1_000_000;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x40], at).unwrap();
    drop(f);
    let mut vm = boot("bios-tail-damaged", &img);
    vm.wait_for(
        "polyboot: the rest of stage 1 (on the boot partition) is damaged: run polyboot update",
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let console = vm.serial_text();
    assert!(
        !console.contains("polyboot-bios: stage 1 running"),
        "ran a damaged stage 1:\n{console}"
    );
    drop(vm);

    let out = with_padded(&["update", s]);
    assert!(out.contains("rewrote the boot code") && out.contains("stage1-b.bin"), "{out}");
    boots_padded("bios-tail-updated");

    let out = polyboot(&["update", s]);
    assert!(out.contains("rewrote the boot code"), "{out}");
    let mut vm = boot("bios-tail-normal-build", &img);
    vm.wait_for(&format!("{MENU_READY} 1 images")).unwrap();
    assert!(!vm.serial_text().contains("test padding"));
}

/// An ISO mastered by xorriso whose El Torito boot image uses floppy emulation boots as
/// drive 0x00 (CHS reads through the emulation) and prints its marker.
#[test]
fn seabios_boots_a_floppy_emulation_iso() {
    const MARKER: &str = "polyboot-test: floppy emulation boot sector running";
    boot_emulated_iso(
        "bios-floppy-emulation",
        "floppy",
        &fixtures::floppy_image(MARKER),
        &[],
        "El Torito floppy emulation, as floppy drive 0x00",
        MARKER,
    );
}

/// Master `NAME.iso` whose El Torito boot image is `image` (`emulation`: xorriso's option for
/// its kind; none for floppy, which xorriso infers from the size), put it on a drive, boot it
/// from the BIOS menu and wait for the boot line saying how it is emulated, then `marker`.
fn boot_emulated_iso(
    vm_name: &str,
    name: &str,
    image: &[u8],
    emulation: &[&str],
    how: &str,
    marker: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let iso = fixtures::emulated_iso(dir.path(), name, image, emulation).unwrap();
    let img = dir.path().join("drive.img");
    polyboot(&["install", img.to_str().unwrap(), "--size", "256M", "--yes"]);
    polyboot(&["add", img.to_str().unwrap(), iso.to_str().unwrap()]);
    // Attached as a USB stick, as users boot (the other tests here cover virtio and IDE).
    let config = VmConfig::new(vm_name, Firmware::Bios)
        .disk(Disk::new(&img).usb())
        .timeout(Duration::from_secs(240));
    let mut vm = Vm::start(config).unwrap();
    vm.wait_for(MENU_READY).unwrap();
    vm.send_serial(b"\r").unwrap();
    vm.wait_for(&format!("polyboot-bios: booting /{name}.iso: {how}")).unwrap();
    let t = vm.wait_for(marker).unwrap();
    eprintln!("{vm_name}: marker after {t:?}");
}

/// An ISO mastered by xorriso whose El Torito boot image uses hard-disk emulation (a small
/// disk image with one partition, whose MBR code prints a marker) boots as hard disk 0x80.
#[test]
fn seabios_boots_a_hard_disk_emulation_iso() {
    const MARKER: &str = "polyboot-test: hard-disk emulation MBR running";
    let disk = fixtures::hard_disk_image(MARKER);
    boot_emulated_iso(
        "bios-hard-disk-emulation",
        "hd",
        &disk,
        &["-hard-disk-boot"],
        "El Torito hard-disk emulation, as hard disk 0x80",
        MARKER,
    );
}

/// An ISO with only a UEFI El Torito entry is listed as not bootable, and Enter says why.
#[test]
fn seabios_explains_a_uefi_only_iso() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("efi.img"), vec![0u8; 64 * 1024]).unwrap();
    let iso = dir.path().join("uefi-only.iso");
    let out = Command::new("xorriso")
        .args([
            "-as",
            "mkisofs",
            "-quiet",
            "-o",
            iso.to_str().unwrap(),
            "-e",
            "efi.img",
            "-no-emul-boot",
        ])
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "xorriso: {}", String::from_utf8_lossy(&out.stderr));
    let img = dir.path().join("drive.img");
    polyboot(&["install", img.to_str().unwrap(), "--size", "256M", "--yes"]);
    polyboot(&["add", img.to_str().unwrap(), iso.to_str().unwrap()]);
    let mut vm = boot("bios-uefi-only", &img);
    vm.wait_for(MENU_READY).unwrap();
    vm.send_serial(b"\r").unwrap();
    vm.wait_for("/uefi-only.iso cannot boot: no BIOS El Torito boot entry: this ISO boots in UEFI mode only").unwrap();
}

/// The same drive image boots the UEFI boot manager in OVMF and the BIOS menu in SeaBIOS.
#[test]
fn one_drive_boots_in_ovmf_and_in_seabios() {
    let dir = tempfile::tempdir().unwrap();
    let img = drive(dir.path(), "--gpt");
    let mut vm = boot("both-bios", &img);
    vm.wait_for(&format!("{MENU_READY} 1 images")).unwrap();
    drop(vm);
    let config = VmConfig::new("both-uefi", Firmware::Uefi)
        .disk(Disk::new(&img))
        .timeout(Duration::from_secs(240));
    let mut vm = Vm::start(config).unwrap();
    vm.wait_for("polyboot: menu ready: 1 images").unwrap();
}

/// An IMG boots as the first hard disk (0x80): its MBR reads its own sector 1 through the
/// emulation (INT 13h AH=02h on DL as the BIOS passed it) and prints what it holds, then reads
/// sector 0 of drive 0x81 (the polyboot drive, moved up one number, served by the original
/// handler) and prints the stage-0 magic found there.
#[test]
fn seabios_boots_an_img_as_the_first_hard_disk() {
    const MARKER: &str = "polyboot-test: read from the emulated hard disk";
    #[rustfmt::skip]
    let code: [u8; 62] = [
        0xFA,             //  0: cli
        0x31, 0xC0,       //  1: xor ax, ax
        0x8E, 0xD8,       //  3: mov ds, ax
        0x8E, 0xC0,       //  5: mov es, ax
        0xBB, 0x00, 0x80, //  7: mov bx, 0x8000
        0xB8, 0x01, 0x02, // 10: mov ax, 0x0201 (read 1 sector)
        0xB9, 0x02, 0x00, // 13: mov cx, 0x0002 (cylinder 0, sector 2)
        0x30, 0xF6,       // 16: xor dh, dh (head 0; DL = the boot drive)
        0xCD, 0x13,       // 18: int 0x13
        0xBE, 0x00, 0x80, // 20: mov si, 0x8000
        0xE8, 0x18, 0x00, // 23: call print
        0xB2, 0x81,       // 26: mov dl, 0x81
        0xBB, 0x00, 0x80, // 28: mov bx, 0x8000
        0xB8, 0x01, 0x02, // 31: mov ax, 0x0201
        0xB9, 0x01, 0x00, // 34: mov cx, 0x0001 (sector 1 = LBA 0)
        0x30, 0xF6,       // 37: xor dh, dh
        0xCD, 0x13,       // 39: int 0x13
        0xBE, 0xA0, 0x81, // 41: mov si, 0x8000 + 416 (stage 0's "PBS0")
        0xE8, 0x03, 0x00, // 44: call print
        0xF4,             // 47: done: hlt
        0xEB, 0xFD,       // 48: jmp done
        0xBA, 0xF8, 0x03, // 50: print: mov dx, 0x3F8
        0xAC,             // 53: next: lodsb
        0x84, 0xC0,       // 54: test al, al
        0x74, 0x03,       // 56: jz ret
        0xEE,             // 58: out dx, al
        0xEB, 0xF8,       // 59: jmp next
        0xC3,             // 61: ret
    ];
    let mut img = vec![0u8; 1 << 20];
    img[..code.len()].copy_from_slice(&code);
    img[510] = 0x55;
    img[511] = 0xAA;
    img[512..512 + MARKER.len()].copy_from_slice(MARKER.as_bytes());
    img[512 + MARKER.len()..512 + MARKER.len() + 2].copy_from_slice(b"\r\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    std::fs::write(&file, &img).unwrap();
    let drive_img = dir.path().join("drive.img");
    polyboot(&["install", drive_img.to_str().unwrap(), "--size", "256M", "--yes"]);
    polyboot(&["add", drive_img.to_str().unwrap(), file.to_str().unwrap()]);
    let mut vm = boot("bios-img", &drive_img);
    vm.wait_for(MENU_READY).unwrap();
    let mark = vm.serial_len();
    vm.send_serial(b"\r").unwrap();
    vm.wait_for("polyboot-bios: booting /disk.img: disk image, as hard disk 0x80").unwrap();
    vm.wait_for_after(MARKER, mark).unwrap();
    vm.wait_for_after("PBS0", mark).unwrap();
}

// ---------------------------------------------------------------------------------------
// Issue 13: El Torito shapes of real images, booted from a drive attached as a USB stick
// (as users boot), on the default `pc` machine where the case needs one, also as IDE and
// virtio disks; and the same drives under OVMF where the image has an EFI entry.

/// Put `iso` on a fresh drive, boot it under SeaBIOS with the drive attached as `disk`
/// (`Disk::new(..)` plus `.usb()` / `.ide()`) on `machine` with `extra` QEMU arguments, pick
/// the only image and wait for polyboot's boot line saying `how`. The VM runs on (the
/// directory holds its drive).
fn boot_iso_on(
    vm_name: &str,
    iso: &Path,
    machine: &'static str,
    disk: fn(Disk) -> Disk,
    extra: &[&str],
    how: &str,
) -> (Vm, tempfile::TempDir) {
    let (mut vm, dir) = start_with_iso(vm_name, iso, Firmware::Bios, machine, disk, extra);
    vm.wait_for(MENU_READY).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    vm.send_serial(b"\r").unwrap();
    let name = iso.file_name().unwrap().to_str().unwrap();
    vm.wait_for(&format!("polyboot-bios: booting /{name}: {how}")).unwrap();
    (vm, dir)
}

/// The same drive shape under OVMF, attached as a USB stick: the UEFI boot manager's menu,
/// the image picked by typing its name into the search, Enter, and its boot line.
fn boot_iso_under_ovmf(vm_name: &str, iso: &Path) -> (Vm, tempfile::TempDir) {
    let (mut vm, dir) = start_with_iso(vm_name, iso, Firmware::Uefi, "q35", Disk::usb, &[]);
    vm.wait_for("polyboot: menu ready: 1 images").unwrap();
    vm.wait_for("----------").unwrap();
    let name = iso.file_name().unwrap().to_str().unwrap();
    vm.send_serial(b"/").unwrap(); // "/" starts the search
    vm.send_serial(name.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    vm.send_serial(b"\r").unwrap();
    vm.wait_for(&format!("polyboot: booting /{name}")).unwrap();
    (vm, dir)
}

/// A fresh drive (128 MiB more than `iso`) holding `iso`, booted under `firmware`.
fn start_with_iso(
    vm_name: &str,
    iso: &Path,
    firmware: Firmware,
    machine: &'static str,
    disk: fn(Disk) -> Disk,
    extra: &[&str],
) -> (Vm, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("drive.img");
    let size = std::fs::metadata(iso).unwrap().len();
    let drive_mib = (size >> 20) + 128;
    polyboot(&["install", img.to_str().unwrap(), "--size", &format!("{drive_mib}M"), "--yes"]);
    polyboot(&["add", img.to_str().unwrap(), iso.to_str().unwrap()]);
    // Generous: OVMF under TCG on a busy 2-core machine has taken over 200 s to its menu.
    let mut config = VmConfig::new(vm_name, firmware)
        .machine(machine)
        .disk(disk(Disk::new(&img)))
        .timeout(Duration::from_secs(420));
    for a in extra {
        config = config.arg(a);
    }
    (Vm::start(config).unwrap(), dir)
}

/// Debian's GRUB rescue CD (grub-mkrescue's El Torito `eltorito.img`: cdboot reads the rest of
/// GRUB's core through INT 13h AH=42h, then GRUB probes the CD with AH=41h/48h and AX=4B01h
/// and reads its modules through its scratch buffer at 0x68000): GRUB's banner on screen.
#[test]
fn seabios_boots_grub_rescue_cdrom_from_usb() {
    let iso = Path::new(GRUB_RESCUE_ISO);
    assert!(iso.is_file(), "{} is missing (Debian package grub-rescue-pc)", iso.display());
    let (vm, _dir) = boot_iso_on(
        "bios-grub-rescue-usb",
        iso,
        "pc",
        Disk::usb,
        &[],
        "El Torito no-emulation, as CD drive",
    );
    let (t, screen) = vm.wait_for_screen("GRUB").unwrap();
    eprintln!("bios-grub-rescue-usb: GRUB after {t:?}:\n{screen}");
}

/// grub-mkrescue's El Torito image from a USB stick: GRUB runs its grub.cfg from the
/// emulated CD (q35, the harness's default machine, and the drive as a USB stick).
#[test]
fn seabios_boots_a_grub_mkrescue_iso_from_usb() {
    const MARKER: &str = "POLYBOOT-GRUB-MKRESCUE-MARKER";
    let dir = tempfile::tempdir().unwrap();
    let iso = fixtures::grub_mkrescue_iso(dir.path(), MARKER).unwrap();
    let (mut vm, _drive) = boot_iso_on(
        "bios-grub-mkrescue-usb",
        &iso,
        "q35",
        Disk::usb,
        &[],
        "El Torito no-emulation, as CD drive 0xe0",
    );
    let t = vm.wait_for(MARKER).unwrap();
    eprintln!("bios-grub-mkrescue-usb: marker after {t:?}");
}

/// The same ISO from a drive attached as an IDE disk on the pc machine (SeaBIOS's other
/// common disk path); the pc machine's CD drive number is taken by nothing here.
#[test]
fn seabios_boots_a_grub_mkrescue_iso_from_ide() {
    const MARKER: &str = "POLYBOOT-GRUB-MKRESCUE-IDE";
    let dir = tempfile::tempdir().unwrap();
    let iso = fixtures::grub_mkrescue_iso(dir.path(), MARKER).unwrap();
    let (mut vm, _drive) = boot_iso_on(
        "bios-grub-mkrescue-ide",
        &iso,
        "pc",
        Disk::ide,
        &[],
        "El Torito no-emulation, as CD drive 0xe0",
    );
    vm.wait_for(MARKER).unwrap();
}

/// Debian's memtest86+ ISO (a 1.44 MB floppy-emulation El Torito image) from a USB stick:
/// memtest draws only on VGA, so its status screen is read off the screen (OCR misses its
/// inverse-video title; "Memory" is its memory-size line). `floppy`: the pc machine
/// with a real (empty) floppy drive, which moves to 0x01 while the image runs as 0x00.
fn boots_memtest(vm_name: &str, machine: &'static str, floppy: bool) {
    let iso = Path::new(MEMTEST_ISO);
    assert!(iso.is_file(), "{MEMTEST_ISO} is missing (Debian package memtest86+)");
    let extra: &[&str] = if floppy { &["-drive", "if=floppy,index=0"] } else { &[] };
    let (vm, _drive) = boot_iso_on(
        vm_name,
        iso,
        machine,
        Disk::usb,
        extra,
        "El Torito floppy emulation, as floppy drive 0x00",
    );
    let console = vm.serial_text();
    assert_eq!(
        console.contains("the real floppy drive 0x00 moves to 0x01"),
        floppy,
        "the real floppy drive is remapped exactly when there is one:\n{console}"
    );
    let (t, screen) = vm.wait_for_screen("Memory").unwrap();
    assert!(screen.contains("Test"), "memtest's status screen:\n{screen}");
    eprintln!("{vm_name}: memtest86+ after {t:?}:\n{screen}");
}

#[test]
fn seabios_boots_memtest_by_floppy_emulation_on_a_machine_with_a_floppy_drive() {
    boots_memtest("bios-memtest-floppy-drive", "pc", true);
}

#[test]
fn seabios_boots_memtest_by_floppy_emulation_without_a_floppy_drive() {
    boots_memtest("bios-memtest-no-floppy", "q35", false);
}

/// The same memtest86+ ISO from a USB stick under OVMF: its El Torito EFI entry, started by
/// the UEFI boot manager (memtest draws on the GOP screen only).
#[test]
fn ovmf_boots_memtest_from_usb() {
    let iso = Path::new(MEMTEST_ISO);
    assert!(iso.is_file(), "{MEMTEST_ISO} is missing (Debian package memtest86+)");
    let (vm, _drive) = boot_iso_under_ovmf("ovmf-memtest-usb", iso);
    let (t, screen) = vm.wait_for_screen("Memory").unwrap();
    eprintln!("ovmf-memtest-usb: memtest86+ after {t:?}:\n{screen}");
}

/// grub-mkrescue's ISO from a USB stick under OVMF: GRUB's EFI image runs the same grub.cfg.
#[test]
fn ovmf_boots_a_grub_mkrescue_iso_from_usb() {
    const MARKER: &str = "POLYBOOT-GRUB-MKRESCUE-OVMF";
    let dir = tempfile::tempdir().unwrap();
    let iso = fixtures::grub_mkrescue_iso(dir.path(), MARKER).unwrap();
    let (mut vm, _drive) = boot_iso_under_ovmf("ovmf-grub-mkrescue-usb", &iso);
    let t = vm.wait_for(MARKER).unwrap();
    eprintln!("ovmf-grub-mkrescue-usb: marker after {t:?}");
}

/// The same grub-mkrescue ISO from a drive attached as virtio-blk (SeaBIOS's third disk path).
#[test]
fn seabios_boots_a_grub_mkrescue_iso_from_virtio() {
    const MARKER: &str = "POLYBOOT-GRUB-MKRESCUE-VIRTIO";
    let dir = tempfile::tempdir().unwrap();
    let iso = fixtures::grub_mkrescue_iso(dir.path(), MARKER).unwrap();
    let (mut vm, _drive) = boot_iso_on(
        "bios-grub-mkrescue-virtio",
        &iso,
        "q35",
        |d| d,
        &[],
        "El Torito no-emulation, as CD drive 0xe0",
    );
    vm.wait_for(MARKER).unwrap();
}

/// ISOLINUX with its isohybrid MBR (the syslinux-hybrid shape) from a USB stick on the pc
/// machine: ISOLINUX loads ldlinux.c32 and its configuration through the emulated CD, turns
/// on its serial console (its banner and prompt appear there) and shows the marker file on
/// screen.
#[test]
fn seabios_boots_an_isolinux_hybrid_iso_from_usb() {
    const MARKER: &str = "POLYBOOT ISOLINUX MARKER";
    let dir = tempfile::tempdir().unwrap();
    let iso = fixtures::isolinux_hybrid_iso(dir.path(), MARKER).unwrap();
    let (mut vm, _drive) = boot_iso_on(
        "bios-isolinux-hybrid-usb",
        &iso,
        "pc",
        Disk::usb,
        &[],
        "El Torito no-emulation, as CD drive",
    );
    vm.wait_for("ISOLINUX 6.04").unwrap();
    let (t, screen) = vm.wait_for_screen(MARKER).unwrap();
    assert!(screen.contains("boot:"), "ISOLINUX's prompt under the marker:\n{screen}");
    eprintln!("bios-isolinux-hybrid-usb: marker after {t:?}");
}

/// A no-emulation boot image that loads 190 KiB of itself through INT 13h: in 64 KiB calls,
/// in one call of 95 sectors and to a buffer at 2 MiB through the 64-bit flat DAP (its own
/// check of every sector's contents prints the marker, or which read went wrong).
#[test]
fn seabios_boots_a_no_emulation_loader_that_reads_190_kib_itself() {
    let dir = tempfile::tempdir().unwrap();
    let iso = fixtures::no_emulation_loader_iso(dir.path()).unwrap();
    let (mut vm, _drive) = boot_iso_on(
        "bios-no-emulation-loader-usb",
        &iso,
        "q35",
        Disk::usb,
        &[],
        "El Torito no-emulation, as CD drive 0xe0, 2048 bytes at 07C0:0000",
    );
    let (which, t) =
        vm.wait_for_any(&[fixtures::NO_EMULATION_LOADER_MARKER, "polyboot-test: FAIL"]).unwrap();
    assert_eq!(which, 0, "the loader says:\n{}", vm.serial_text());
    eprintln!("bios-no-emulation-loader-usb: marker after {t:?}");
}
