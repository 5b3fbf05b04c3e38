//! The menu's "Boot from the local disk" (F4, Ventoy's localboot), end to end: a polyboot
//! drive plus the machine's own disk, F4 pressed in the menu, and a marker printed by the
//! local disk's boot code on the serial console.
//!
//! - OVMF: the local disk is a GPT disk whose EFI system partition (mkfs.fat + mtools) holds
//!   GRUB (`grub-mkstandalone`, its grub.cfg embedded) that echoes a marker. With a firmware
//!   boot option for the disk (a bootindex), polyboot starts that option, expanding the
//!   disk's device path to its removable-media loader; without one (OVMF keeps no option for
//!   a disk without a bootindex when others have one), polyboot searches the file systems and
//!   prefers Windows' boot manager path to the removable-media loader. Under Secure Boot an
//!   unsigned loader is refused (and explained) and a signed one starts.
//! - SeaBIOS: the local disk's MBR is a small 16-bit program (written out below, byte by byte)
//!   that prints a marker and the drive number it got in DL on COM1; a blank disk before it is
//!   skipped with its reason. With no other disk, F4 says why it cannot.

mod common;
use common::{polyboot, Cli};
use polyboot_tests::{artifacts, find_tool, fixtures, run_tool, Disk, Firmware, Vm, VmConfig};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const UEFI_MENU_READY: &str = "polyboot: menu ready:";
const BIOS_MENU_READY: &str = "polyboot-bios: menu ready:";
/// What the local disk's `\EFI\BOOT\BOOTX64.EFI` prints.
const BOOTX64_MARKER: &str = "POLYBOOT-TEST-LOCAL-DISK-BOOTX64";
/// What the local disk's `\EFI\Microsoft\Boot\bootmgfw.efi` prints.
const WINDOWS_MARKER: &str = "POLYBOOT-TEST-LOCAL-DISK-BOOTMGFW";
/// What the local disk's MBR prints, followed by the drive number in DL (two hex digits).
const MBR_MARKER: &str = "POLYBOOT-TEST-LOCAL-MBR DL=";

/// A polyboot drive with nothing on it but the boot code: the menu has only its fixed entries.
fn polyboot_drive(dir: &Path) -> PathBuf {
    let img = dir.join("polyboot.img");
    polyboot(&["install", img.to_str().unwrap(), "--size", "256M", "--yes"]);
    img
}

/// GRUB for x86_64 EFI whose embedded grub.cfg prints `marker` on the serial console and waits.
fn grub_printing(dir: &Path, marker: &str) -> PathBuf {
    let efi = dir.join(format!("{marker}.efi"));
    let script = format!(
        "serial --unit=0 --speed=115200\nterminal_output serial\necho {marker}\nsleep 600\n"
    );
    fixtures::grub_standalone_efi(&script, &efi).unwrap();
    efi
}

/// A 128 MiB GPT disk (sgdisk) whose EFI system partition (1 MiB on, 96 MiB, FAT by mkfs.fat)
/// holds `files` (path on the partition, file to copy), written with mtools.
fn gpt_disk_with_esp(dir: &Path, files: &[(&str, &Path)]) -> PathBuf {
    const ESP_START: u64 = 1 << 20;
    const ESP_MIB: u64 = 96;
    let disk = dir.join("local-disk.img");
    std::fs::File::create(&disk).unwrap().set_len(128 << 20).unwrap();
    run_tool(
        Command::new(find_tool("sgdisk"))
            .args(["-n", &format!("1:2048:+{ESP_MIB}M"), "-t", "1:ef00", "-c", "1:EFI system"])
            .arg(&disk),
    )
    .unwrap();
    let esp = dir.join("esp.img");
    let e = esp.to_str().unwrap();
    run_tool(Command::new(find_tool("mkfs.fat")).args([
        "-F",
        "32",
        "-C",
        e,
        &(ESP_MIB * 1024).to_string(),
    ]))
    .unwrap();
    for (path, file) in files {
        // The directories on the way, each once (mmd fails on one that exists).
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for depth in 1..parts.len() {
            let sub = format!("::/{}", parts[..depth].join("/"));
            let exists = Command::new(find_tool("mdir")).args(["-i", e, &sub]).output().unwrap();
            if !exists.status.success() {
                run_tool(Command::new(find_tool("mmd")).args(["-i", e, &sub])).unwrap();
            }
        }
        run_tool(
            Command::new(find_tool("mcopy")).args(["-i", e]).arg(file).arg(format!("::{path}")),
        )
        .unwrap();
    }
    let bytes = std::fs::read(&esp).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    f.write_all_at(&bytes, ESP_START).unwrap();
    disk
}

/// Boot `config` and wait until the UEFI menu is drawn; then press F4.
fn uefi_local_boot(config: VmConfig) -> Vm {
    let mut vm = Vm::start(config).unwrap();
    vm.wait_for(UEFI_MENU_READY).unwrap();
    // The separator under the list: the menu has been drawn and reads keys.
    vm.wait_for("----------").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    vm.send_key("f4").unwrap();
    vm
}

/// OVMF has a boot option for the local disk (bootindex 1, after the polyboot USB stick): F4
/// starts that option, whose device path (the whole virtio disk) polyboot expands to the
/// removable-media loader on its ESP, as the firmware would. The option polyboot was started
/// from is skipped.
#[test]
fn ovmf_f4_starts_the_firmware_boot_option_of_the_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let bootx64 = grub_printing(dir.path(), BOOTX64_MARKER);
    let disk = gpt_disk_with_esp(dir.path(), &[("/EFI/BOOT/BOOTX64.EFI", &bootx64)]);
    let drive = polyboot_drive(dir.path());
    let mut vm = uefi_local_boot(
        VmConfig::new("localboot-uefi-option", Firmware::Uefi)
            .disk(Disk::new(&drive).usb())
            .disk(Disk::new(&disk))
            .timeout(Duration::from_secs(300)),
    );
    vm.wait_for("polyboot: local boot: starting Boot").unwrap();
    vm.wait_for(BOOTX64_MARKER).unwrap();
    let console = unwrapped(&vm.serial_text());
    assert!(
        console.contains("skipped: polyboot was started from it"),
        "the option polyboot was started from is skipped:\n{console}"
    );
    let at = console.find("polyboot: local boot: starting Boot").unwrap();
    let starting = &console[at..at + console[at..].find(BOOTX64_MARKER).unwrap()];
    assert!(
        starting.contains("\\EFI\\BOOT\\BOOTX64.EFI") && starting.contains("HD(1,GPT,"),
        "the option's disk expanded to the loader on its ESP: {starting}"
    );
}

/// No boot option for the local disk (attached without a bootindex, which OVMF then leaves
/// out of BootOrder): F4 finds the loaders by searching the file systems outside the polyboot
/// drive, Windows' boot manager first although the removable-media loader is there too.
#[test]
fn ovmf_f4_searches_the_other_disks_for_windows_boot_manager_first() {
    let dir = tempfile::tempdir().unwrap();
    let bootx64 = grub_printing(dir.path(), BOOTX64_MARKER);
    let bootmgfw = grub_printing(dir.path(), WINDOWS_MARKER);
    let disk = gpt_disk_with_esp(
        dir.path(),
        &[("/EFI/BOOT/BOOTX64.EFI", &bootx64), ("/EFI/Microsoft/Boot/bootmgfw.efi", &bootmgfw)],
    );
    let drive = polyboot_drive(dir.path());
    let mut vm = uefi_local_boot(
        VmConfig::new("localboot-uefi-search", Firmware::Uefi)
            .disk(Disk::new(&drive).usb())
            .arg("-drive")
            .arg(&format!("if=none,id=local,format=raw,file={}", disk.display()))
            .arg("-device")
            .arg("virtio-blk-pci,drive=local")
            .timeout(Duration::from_secs(300)),
    );
    vm.wait_for("polyboot: local boot: starting \\EFI\\Microsoft\\Boot\\bootmgfw.efi").unwrap();
    vm.wait_for(WINDOWS_MARKER).unwrap();
    let console = vm.serial_text();
    assert!(!console.contains(BOOTX64_MARKER), "only Windows' boot manager ran:\n{console}");
}

/// Secure Boot stays on (OVMF's Secure Boot build, Debian's snakeoil keys; the polyboot drive
/// signed with the snakeoil key): the local disk's boot option leads to an unsigned GRUB,
/// which the firmware refuses; the search then starts the boot manager signed with the
/// snakeoil key (iPXE standing in for Windows'). With only the unsigned loader, F4 comes back
/// with the reason.
#[test]
fn ovmf_f4_under_secure_boot_starts_only_signed_loaders() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = fixtures::snakeoil_key(dir.path()).unwrap();
    let signed = dir.path().join("ipxe-signed.efi");
    fixtures::sbsign(&key, &cert, Path::new(artifacts::IPXE_EFI), &signed).unwrap();
    let unsigned = grub_printing(dir.path(), BOOTX64_MARKER);
    let drive = dir.path().join("polyboot.img");
    Cli::booting()
        .args(["install", drive.to_str().unwrap(), "--size", "256M", "--yes", "--no-shim"])
        .arg("--sb-key")
        .arg(&key)
        .arg("--sb-cert")
        .arg(&cert)
        .ok();
    let vm_with = |name: &str, disk: &Path| {
        uefi_local_boot(
            VmConfig::new(name, Firmware::Uefi)
                .secure_boot(artifacts::OVMF_VARS_SNAKEOIL)
                .disk(Disk::new(&drive).usb())
                .disk(Disk::new(disk))
                .timeout(Duration::from_secs(600)),
        )
    };

    let both = dir.path().join("both");
    std::fs::create_dir(&both).unwrap();
    let disk = gpt_disk_with_esp(
        &both,
        &[("/EFI/BOOT/BOOTX64.EFI", &unsigned), ("/EFI/Microsoft/Boot/bootmgfw.efi", &signed)],
    );
    let mut vm = vm_with("localboot-uefi-secure", &disk);
    vm.wait_for("polyboot: local boot: Secure Boot refused Boot").unwrap();
    vm.wait_for("polyboot: local boot: starting \\EFI\\Microsoft\\Boot\\bootmgfw.efi").unwrap();
    vm.wait_for(artifacts::IPXE_MARKER).unwrap();
    assert!(!vm.serial_text().contains(BOOTX64_MARKER), "the unsigned GRUB never ran");
    drop(vm);

    let only = dir.path().join("only-unsigned");
    std::fs::create_dir(&only).unwrap();
    let disk = gpt_disk_with_esp(&only, &[("/EFI/BOOT/BOOTX64.EFI", &unsigned)]);
    let mut vm = vm_with("localboot-uefi-secure-refused", &disk);
    vm.wait_for("polyboot: cannot boot the local disk:").unwrap();
    vm.wait_for("press any key").unwrap();
    let console = unwrapped(&vm.serial_text());
    assert!(
        console.contains("is not signed by a key this machine trusts (Secure Boot is on")
            && console.contains("it carries no signature"),
        "the refusal is explained:\n{console}"
    );
    assert!(!console.contains(BOOTX64_MARKER), "the unsigned GRUB never ran");
}

/// The console with the firmware's line wrapping (CR LF at the screen's width) undone.
fn unwrapped(text: &str) -> String {
    text.replace(['\r', '\n'], "")
}

/// A master boot record that prints [`MBR_MARKER`], then DL (the drive number it was started
/// with) as two hex digits, on COM1, and halts. 16-bit real mode, loaded at 0000:7C00; the
/// offsets in the comments are from 0x7C00.
fn marker_mbr() -> Vec<u8> {
    #[rustfmt::skip]
    let code: [u8; 0x42] = [
        0xFA,             // 00: cli                 (halt for good at the end)
        0x31, 0xC0,       // 01: xor ax, ax
        0x8E, 0xD8,       // 03: mov ds, ax
        0x8E, 0xD0,       // 05: mov ss, ax
        0xBC, 0x00, 0x7C, // 07: mov sp, 0x7C00
        0x88, 0xD3,       // 0A: mov bl, dl          (the boot drive, kept in BL)
        0xBE, 0x42, 0x7C, // 0C: mov si, 0x7C42      (the marker, after the code)
        0xE8, 0x25, 0x00, // 0F: call print          (0x37)
        0x88, 0xD8,       // 12: mov al, bl
        0xC0, 0xE8, 0x04, // 14: shr al, 4           (high digit)
        0xE8, 0x10, 0x00, // 17: call hex            (0x2A)
        0x88, 0xD8,       // 1A: mov al, bl
        0x24, 0x0F,       // 1C: and al, 0x0F        (low digit)
        0xE8, 0x09, 0x00, // 1E: call hex            (0x2A)
        0xBE, 0x5E, 0x7C, // 21: mov si, 0x7C5E      ("\r\n", after the marker)
        0xE8, 0x10, 0x00, // 24: call print          (0x37)
        0xF4,             // 27: halt: hlt
        0xEB, 0xFD,       // 28: jmp halt
        0x04, 0x30,       // 2A: hex: add al, '0'
        0x3C, 0x39,       // 2C: cmp al, '9'
        0x76, 0x02,       // 2E: jbe putc            (0x32)
        0x04, 0x07,       // 30: add al, 'A' - '9' - 1
        0xBA, 0xF8, 0x03, // 32: putc: mov dx, 0x3F8 (COM1's data register)
        0xEE,             // 35: out dx, al
        0xC3,             // 36: ret
        0xAC,             // 37: print: lodsb        (AL = [DS:SI], SI + 1)
        0x84, 0xC0,       // 38: test al, al
        0x74, 0x05,       // 3A: jz done             (0x41)
        0xE8, 0xF3, 0xFF, // 3C: call putc           (0x32)
        0xEB, 0xF6,       // 3F: jmp print           (0x37)
        0xC3,             // 41: done: ret
    ];
    let mut mbr = vec![0u8; 512];
    mbr[..code.len()].copy_from_slice(&code);
    let text = format!("{MBR_MARKER}\0\r\n\0");
    assert_eq!(MBR_MARKER.len() + 1, 0x5E - 0x42, "the second string's address in the code");
    mbr[0x42..0x42 + text.len()].copy_from_slice(text.as_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    mbr
}

fn bios_vm(name: &str, disks: &[&Path]) -> Vm {
    let mut config = VmConfig::new(name, Firmware::Bios).timeout(Duration::from_secs(240));
    for disk in disks {
        config = config.disk(Disk::new(disk));
    }
    let mut vm = Vm::start(config).unwrap();
    vm.wait_for(BIOS_MENU_READY).unwrap();
    // The last line of the menu: it is drawn and reads keys.
    vm.wait_for("polyboot-bios: menu:   Firmware setup").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    vm
}

/// SeaBIOS: the polyboot drive is 0x80, a blank disk 0x81 (no boot signature: skipped, with
/// the reason), the local disk 0x82. F4 starts the local disk's MBR with its own drive number,
/// nothing hooked.
#[test]
fn seabios_f4_boots_the_next_disk_with_boot_code_as_itself() {
    let dir = tempfile::tempdir().unwrap();
    let drive = polyboot_drive(dir.path());
    let blank = dir.path().join("blank.img");
    std::fs::File::create(&blank).unwrap().set_len(16 << 20).unwrap();
    let local = dir.path().join("local.img");
    let mut bytes = marker_mbr();
    bytes.resize(16 << 20, 0);
    std::fs::write(&local, &bytes).unwrap();
    let mut vm = bios_vm("localboot-bios", &[&drive, &blank, &local]);
    vm.send_key("f4").unwrap();
    vm.wait_for("polyboot-bios: local boot: drive 0x82").unwrap();
    vm.wait_for(&format!("{MBR_MARKER}82")).unwrap();
    let console = vm.serial_text();
    assert!(
        console.contains(
            "polyboot-bios: local boot: drive 0x81 skipped: sector 0 has no boot signature"
        ),
        "the blank disk is skipped with its reason:\n{console}"
    );
}

/// SeaBIOS with only the polyboot drive: F4 says there is no other disk and the menu stays.
#[test]
fn seabios_f4_without_another_disk_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let drive = polyboot_drive(dir.path());
    let mut vm = bios_vm("localboot-bios-alone", &[&drive]);
    vm.send_key("f4").unwrap();
    vm.wait_for(
        "polyboot-bios: cannot boot the local disk: the BIOS reports no hard disk other than the polyboot drive",
    )
    .unwrap();
}
