//! The UEFI boot manager, end to end: drives made by `polyboot install` + `add`, booted in
//! OVMF; images chosen in the menu by keystrokes; markers printed by the booted images.

mod common;
use common::{back_to_menu, choose, polyboot};
use polyboot_tests::{artifacts, fixtures, Disk, Firmware, Vm, VmConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MENU_READY: &str = "polyboot: menu ready:";

struct TestDrive {
    dir: tempfile::TempDir,
    image: PathBuf,
}

impl TestDrive {
    fn new(size: &str) -> TestDrive {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("drive.img");
        polyboot(&["install", image.to_str().unwrap(), "--size", size]);
        TestDrive { dir, image }
    }

    fn path(&self) -> &str {
        self.image.to_str().unwrap()
    }

    fn add(&self, files: &[&Path], to: &str) {
        let mut args = vec!["add", "-q", self.path(), "--to", to];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        polyboot(&args);
    }

    fn rm(&self, path: &str) {
        polyboot(&["rm", self.path(), path]);
    }

    fn ls(&self, dir: &str) -> Vec<Value> {
        serde_json::from_str::<Value>(&polyboot(&["ls", self.path(), dir, "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Boot the drive as a USB stick and wait for the menu.
    fn boot(&self, name: &str) -> Vm {
        let mut vm = Vm::start(
            VmConfig::new(name, Firmware::Uefi)
                .disk(Disk::new(&self.image).usb())
                .timeout(Duration::from_secs(150)),
        )
        .unwrap();
        vm.wait_for(MENU_READY).unwrap();
        // The separator under the list: the menu has been drawn.
        vm.wait_for("----------").unwrap();
        vm
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

#[test]
fn ipxe_iso_boots_from_the_menu_by_arrow_keys() {
    let drive = TestDrive::new("1G");
    // A decoy sorts first, so the ISO needs a key press to be selected.
    let decoy = drive.file("aaa-decoy.efi", b"MZ not really an EFI application");
    drive.add(&[&decoy], "/");
    drive.add(&[Path::new(artifacts::IPXE_ISO)], "samples");
    let mut vm = drive.boot("menu-ipxe-arrows");
    let console = vm.serial_text();
    assert!(console.contains("/samples/ipxe.iso"), "menu lists the ISO");
    vm.send_key("down").unwrap();
    vm.send_key("ret").unwrap();
    vm.wait_for("polyboot: booting /samples/ipxe.iso").unwrap();
    let t = vm.wait_for(artifacts::IPXE_MARKER).unwrap();
    eprintln!("iPXE from the menu after {t:?}");
}

#[test]
fn fragmented_iso_boots() {
    let drive = TestDrive::new("256M");
    // Fill the start of the volume with 1 MiB files, free every other one, then add the
    // 2 MiB ISO: no hole is large enough, so it lands in pieces.
    let filler = vec![0x5Au8; 1 << 20];
    let fillers: Vec<PathBuf> =
        (0..24).map(|i| drive.file(&format!("fill{i:02}.bin"), &filler)).collect();
    let refs: Vec<&Path> = fillers.iter().map(|p| p.as_path()).collect();
    drive.add(&refs, "/fill");
    for i in (0..24).step_by(2) {
        drive.rm(&format!("/fill/fill{i:02}.bin"));
    }
    // Fill everything after the fillers (leaving half a MiB) so the ISO cannot land there in
    // one piece.
    let info: Value = serde_json::from_str(&polyboot(&["info", drive.path(), "--json"])).unwrap();
    let free = info["free_bytes"].as_u64().unwrap();
    let tail =
        drive.file("tail.bin", &vec![1u8; (free - (12 << 20) - (512 << 10) - (64 << 10)) as usize]);
    drive.add(&[&tail], "/");
    drive.add(&[Path::new(artifacts::IPXE_ISO)], "/");
    let iso = drive.ls("/").into_iter().find(|e| e["name"] == "ipxe.iso").unwrap();
    let fragments = iso["fragments"].as_u64().unwrap();
    assert!(fragments > 1, "the ISO should be fragmented: {iso}");
    eprintln!("ipxe.iso stored in {fragments} fragments");

    let mut vm = drive.boot("menu-ipxe-fragmented");
    choose(&mut vm, "ipxe.iso");
    vm.wait_for(artifacts::IPXE_MARKER).unwrap();
}

#[test]
fn img_and_bare_efi_boot_and_the_menu_comes_back_between() {
    let drive = TestDrive::new("512M");
    // A GPT disk image (made with sfdisk + mtools) whose ESP holds Debian's iPXE EFI build.
    let img = drive.dir.path().join("esp-disk.img");
    fixtures::esp_disk(&img, Path::new(artifacts::IPXE_EFI)).unwrap();
    drive.add(&[&img, Path::new(artifacts::IPXE_EFI)], "/");
    let mut vm = drive.boot("menu-img-and-efi");
    choose(&mut vm, "esp-disk");
    vm.wait_for("polyboot: booting /esp-disk.img").unwrap();
    vm.wait_for(artifacts::IPXE_MARKER).unwrap();
    // iPXE finds no network and exits: polyboot shows what happened and returns to the menu.
    vm.wait_for("returned").unwrap();
    back_to_menu(&mut vm);
    let mark = vm.serial_len();
    choose(&mut vm, "ipxe.efi");
    vm.wait_for_after("polyboot: starting /ipxe.efi", mark).unwrap();
    vm.wait_for_after(artifacts::IPXE_MARKER, mark).unwrap();
}

#[test]
fn truncated_iso_is_refused_with_the_reason_and_another_entry_still_boots() {
    let drive = TestDrive::new("256M");
    let iso = std::fs::read(artifacts::IPXE_ISO).unwrap();
    let broken = drive.file("broken.iso", &iso[..iso.len() / 2]);
    drive.add(&[&broken, Path::new(artifacts::IPXE_ISO)], "/");
    let mut vm = drive.boot("menu-truncated-iso");
    choose(&mut vm, "broken");
    vm.wait_for("truncated: the ISO needs").unwrap();
    // The menu comes back and still boots the good copy.
    back_to_menu(&mut vm);
    let mark = vm.serial_len();
    choose(&mut vm, "ipxe.iso");
    vm.wait_for_after(artifacts::IPXE_MARKER, mark).unwrap();
}

#[test]
fn thousand_images_in_nested_directories_reach_the_menu() {
    let drive = TestDrive::new("4G");
    // Sparse copies of ipxe.iso's first 128 KiB, full size: valid volume descriptors and El
    // Torito catalog (at 66 KiB), holes after.
    let iso = std::fs::read(artifacts::IPXE_ISO).unwrap();
    let src = drive.dir.path().join("many");
    for batch in 0..10 {
        let dir = src.join(format!("b{batch}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        for i in 0..100 {
            let p = dir.join(format!("image-{batch}-{i}.iso"));
            let f = std::fs::File::create(&p).unwrap();
            std::os::unix::fs::FileExt::write_all_at(&f, &iso[..128 << 10], 0).unwrap();
            f.set_len(iso.len() as u64).unwrap();
            files.push(p);
        }
        let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
        drive.add(&refs, &format!("/isos/set-{}/level-{batch}", batch % 3));
    }
    let vm = drive.boot("menu-1000-images");
    let console = vm.serial_text();
    let line = console.lines().find(|l| l.contains(MENU_READY)).unwrap().trim().to_string();
    eprintln!("{line}");
    assert!(line.contains("menu ready: 1000 images"), "{line}");
    // Every copy carries a valid volume and boot catalog: none may be reported unbootable.
    let menu = vm.serial_text();
    assert!(
        menu.contains("/isos/set-0/level-0/image-0-0.iso") && !menu.contains("not bootable"),
        "{menu}"
    );
}

#[test]
fn ventoy_control_plugin_default_image_boots_after_the_timeout_without_keys() {
    let drive = TestDrive::new("256M");
    drive.add(&[Path::new(artifacts::IPXE_ISO), Path::new(artifacts::IPXE_EFI)], "/iso");
    // Ventoy's own configuration file and keys.
    let cfg_dir = drive.dir.path().join("ventoy");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let cfg = cfg_dir.join("ventoy.json");
    std::fs::write(
        &cfg,
        r#"{ "control": [ { "VTOY_MENU_TIMEOUT": "2" }, { "VTOY_DEFAULT_IMAGE": "/iso/ipxe.iso" } ],
             "theme": { "file": "/ventoy/theme/theme.txt" } }"#,
    )
    .unwrap();
    drive.add(&[&cfg], "/ventoy");
    let mut vm = drive.boot("menu-ventoy-default-timeout");
    vm.wait_for("booting the default in").unwrap();
    vm.wait_for("polyboot: booting /iso/ipxe.iso").unwrap();
    vm.wait_for(artifacts::IPXE_MARKER).unwrap();
}

#[test]
fn power_off_entry_turns_the_machine_off() {
    let drive = TestDrive::new("256M");
    drive.add(&[Path::new(artifacts::IPXE_ISO)], "/");
    let mut vm = drive.boot("menu-power-off");
    // The fixed entries follow the images; End selects the last one (Firmware setup), Up the
    // one before it.
    vm.send_key("end").unwrap();
    vm.send_key("up").unwrap();
    vm.wait_for("Power off").unwrap();
    vm.send_key("ret").unwrap();
    let t = vm.wait_exit().unwrap();
    eprintln!("powered off after {t:?}");
}

#[test]
fn iso_without_bootx64_falls_back_to_another_loader_in_efi_boot() {
    let drive = TestDrive::new("256M");
    // An ISO mastered with xorriso whose EFI boot image (FAT, made with mtools) holds only
    // \EFI\BOOT\grubx64.efi (Debian's iPXE EFI build) plus a shim helper that must be skipped.
    let root = drive.dir.path().join("isoroot");
    std::fs::create_dir_all(&root).unwrap();
    let efi_img = root.join("efi.img");
    let f = std::fs::File::create(&efi_img).unwrap();
    f.set_len(4 << 20).unwrap();
    drop(f);
    let part = efi_img.to_str().unwrap();
    polyboot_tests::run_tool(Command::new("mformat").args(["-i", part, "::"])).unwrap();
    polyboot_tests::run_tool(Command::new("mmd").args(["-i", part, "::/EFI", "::/EFI/BOOT"]))
        .unwrap();
    polyboot_tests::run_tool(Command::new("mcopy").args([
        "-i",
        part,
        artifacts::IPXE_EFI,
        "::/EFI/BOOT/grubx64.efi",
    ]))
    .unwrap();
    polyboot_tests::run_tool(Command::new("mcopy").args([
        "-i",
        part,
        artifacts::IPXE_EFI,
        "::/EFI/BOOT/mmx64.efi",
    ]))
    .unwrap();
    let iso = drive.dir.path().join("grub-only.iso");
    polyboot_tests::run_tool(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-o"])
            .arg(&iso)
            .args(["-e", "efi.img", "-no-emul-boot"])
            .arg(&root),
    )
    .unwrap();
    drive.add(&[&iso], "/");
    let mut vm = drive.boot("menu-iso-loader-fallback");
    choose(&mut vm, "grub-only");
    vm.wait_for("polyboot: starting \\EFI\\BOOT\\grubx64.efi").unwrap();
    vm.wait_for(artifacts::IPXE_MARKER).unwrap();
}
