//! Boots Debian's kernel in QEMU (SeaBIOS, TCG) with `-kernel`/`-initrd`, where the initrd is
//! wrapped as the boot manager wraps it (core `initrd_wrap`): [our cpio: /init = polyboot-hook
//! (static), /polyboot/handoff.bin][a cpio holding /polyboot/initrds/0000 = the original
//! initrd]. The original initrd is
//! an uncompressed microcode-style cpio + a zstd cpio holding busybox, an `/init` script and
//! the kernel modules the hook must load itself (virtio_pci, virtio_blk as .ko.xz, dm-mod as
//! .ko.zst, xhci-pci, usb-storage, uas, sd_mod: all modules in Debian's kernel). The virtual disk is a polyboot GPT disk holding a
//! 1 MiB "image" in two extents stored in reverse order.
//!
//! Asserts on the serial console that the hook logged, mapped `/dev/mapper/polyboot`
//! read-only with the right content, and exec'd the original init with the same arguments
//! and environment.
//!
//! Needs `linux-image-amd64` and `busybox-static` (Debian); skips with a message without them.
//! Set POLYBOOT_HOOK_BIN to use a prebuilt static hook; otherwise it is built
//! (`polyboot_tests::artifacts::hook_binary`).

use polyboot_core::gpt::SectorSize;
use polyboot_core::handoff::{DiskExtent, DriveIdentity, Handoff, ImageKind};
use polyboot_core::initrd_wrap;
use polyboot_core::layout::{
    plan, write_partition_table, BootCode, Identity, LayoutRequest, Scheme,
};
use polyboot_tests::{artifacts, fixtures, Firmware, Vm, VmConfig};
use std::path::Path;
use std::time::Duration;

const DISK_SIZE: u64 = 128 << 20;
const IMAGE_SIZE: u64 = 1 << 20;
const HALF: u64 = IMAGE_SIZE / 2;
const EXTENT0_AT: u64 = 64 << 20;
const EXTENT1_AT: u64 = 32 << 20;

/// A sector-numbered image: every 512-byte sector starts with `SECTOR-%08d`.
fn image() -> Vec<u8> {
    let mut v = vec![0u8; IMAGE_SIZE as usize];
    for (i, s) in v.chunks_mut(512).enumerate() {
        let t = format!("SECTOR-{i:08}");
        s[..t.len()].copy_from_slice(t.as_bytes());
    }
    v
}

fn original_initrd(release: &str, work: &Path) -> Vec<u8> {
    let root = work.join("orig");
    for d in ["bin", "proc", "sys", "dev", "polyboot"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    let init = r#"#!/bin/sh
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t devtmpfs devtmpfs /dev
echo "ORIG-INIT pid=$$ args=[$*] env=[$POLYBOOT_TEST_ENV]"
busybox ls -l /dev/mapper/
echo "SIZE $(busybox blockdev --getsize64 /dev/mapper/polyboot)"
echo "RO $(busybox blockdev --getro /dev/mapper/polyboot)"
echo "FIRST $(busybox dd if=/dev/mapper/polyboot bs=512 skip=0 count=1 2>/dev/null | busybox head -c 15)"
echo "SECOND $(busybox dd if=/dev/mapper/polyboot bs=512 skip=1500 count=1 2>/dev/null | busybox head -c 15)"
echo "LAST $(busybox dd if=/dev/mapper/polyboot bs=512 skip=2047 count=1 2>/dev/null | busybox head -c 15)"
echo ORIG-INIT-DONE
busybox poweroff -f
"#;
    std::fs::write(root.join("init"), init).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();

    // Modules: the system's modules.dep lines for what the hook loads, renamed to
    // compressed files where we compress them.
    let sys = Path::new("/lib/modules").join(release);
    let dep = std::fs::read_to_string(sys.join("modules.dep")).unwrap();
    let wanted = [
        "virtio_pci.ko",
        "virtio_blk.ko",
        "dm-mod.ko",
        "xhci-pci.ko",
        "usb-storage.ko",
        "uas.ko",
        "sd_mod.ko",
    ];
    let rename = |p: &str| -> String {
        if p.ends_with("virtio_blk.ko") {
            format!("{p}.xz")
        } else if p.ends_with("dm-mod.ko") {
            format!("{p}.zst")
        } else {
            p.to_string()
        }
    };
    let mdir = root.join("lib/modules").join(release);
    let mut out_dep = String::new();
    for line in dep.lines() {
        let Some((m, deps)) = line.split_once(':') else { continue };
        if !wanted.iter().any(|w| m.ends_with(&format!("/{w}"))) {
            continue;
        }
        let all: Vec<&str> = std::iter::once(m).chain(deps.split_whitespace()).collect();
        for p in &all {
            let dst = mdir.join(rename(p));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            let raw = std::fs::read(sys.join(p)).unwrap();
            let data = if p.ends_with("virtio_blk.ko") {
                fixtures::pipe("xz", &["--check=crc32", "-c"], &raw)
            } else if p.ends_with("dm-mod.ko") {
                fixtures::pipe("zstd", &["-q", "-c"], &raw)
            } else {
                raw
            };
            std::fs::write(dst, data).unwrap();
        }
        let deps: Vec<String> = all[1..].iter().map(|p| rename(p)).collect();
        out_dep.push_str(&format!("{}: {}\n", rename(m), deps.join(" ")));
    }
    for p in all_deps_of(&dep, &out_dep) {
        out_dep.push_str(&format!("{p}:\n"));
    }
    std::fs::write(mdir.join("modules.dep"), out_dep).unwrap();

    let ucode = work.join("ucode");
    std::fs::create_dir_all(ucode.join("kernel/x86/microcode")).unwrap();
    std::fs::write(ucode.join("kernel/x86/microcode/GenuineIntel.bin"), b"not really microcode")
        .unwrap();
    let mut initrd = fixtures::cpio_newc(&ucode);
    initrd.extend_from_slice(&fixtures::pipe(
        "zstd",
        &["-q", "-c", "-3"],
        &fixtures::cpio_newc(&root),
    ));
    initrd
}

/// Dependencies listed in `out_dep` that have no line of their own yet.
fn all_deps_of(_sys_dep: &str, out_dep: &str) -> Vec<String> {
    let have: std::collections::HashSet<&str> =
        out_dep.lines().filter_map(|l| l.split_once(':').map(|(m, _)| m)).collect();
    let mut missing: Vec<String> = out_dep
        .lines()
        .filter_map(|l| l.split_once(':'))
        .flat_map(|(_, d)| d.split_whitespace())
        .filter(|d| !have.contains(d))
        .map(str::to_string)
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// Build the drive and the wrapped initrd, boot, and return the serial console once the
/// original init has finished.
fn boot(name: &str, wrong_identity: bool, usb: bool, append: &str) -> String {
    // Missing tools fail the test: `cargo xtask deps` installs them, and a skip would pass.
    let Some((vmlinuz, release)) = fixtures::host_kernel() else {
        panic!("no /boot/vmlinuz-* with modules: install linux-image-amd64 (cargo xtask deps)");
    };
    assert!(
        Path::new("/usr/bin/busybox").exists(),
        "no /usr/bin/busybox: install busybox-static (cargo xtask deps)"
    );
    let work = tempfile::tempdir().unwrap();

    // The drive: a polyboot GPT layout and the image in two extents, second half first.
    let ident = Identity::from_random_bytes(&core::array::from_fn(|i| {
        (i as u8).wrapping_mul(31).wrapping_add(5)
    }));
    let p = plan(&LayoutRequest::new(DISK_SIZE, SectorSize::B512, Scheme::Gpt, ident)).unwrap();
    let mut dev = polyboot_core::block::MemDevice::new(DISK_SIZE as usize);
    write_partition_table(&p, &mut dev, BootCode::Clear).unwrap();
    let img = image();
    dev.data[EXTENT0_AT as usize..(EXTENT0_AT + HALF) as usize]
        .copy_from_slice(&img[..HALF as usize]);
    dev.data[EXTENT1_AT as usize..(EXTENT1_AT + HALF) as usize]
        .copy_from_slice(&img[HALF as usize..]);
    let disk_path = work.path().join("disk.img");
    std::fs::write(&disk_path, &dev.data).unwrap();

    let mut guid = ident.disk_guid;
    if wrong_identity {
        guid.0[0] ^= 0xFF;
    }
    let handoff = Handoff {
        identity: DriveIdentity::Gpt(guid),
        disk_size: DISK_SIZE,
        sector_size: 512,
        partition_offset: p.data.offset_bytes,
        image_kind: ImageKind::Iso,
        image_size: IMAGE_SIZE,
        extents: vec![
            DiskExtent { file_offset: 0, disk_offset: EXTENT0_AT, len: HALF },
            DiskExtent { file_offset: HALF, disk_offset: EXTENT1_AT, len: HALF },
        ],
        persistence: None,
        added_params: String::new(),
        files: Vec::new(),
    };

    // The wrapped initrd, laid out by the same core code the boot manager uses: the hook
    // archive, then the archive that carries the original initrd.
    let original = original_initrd(&release, work.path());
    let hook = std::fs::read(artifacts::hook_binary()).unwrap();
    let mut wrapped = initrd_wrap::hook_archive(&hook, &handoff.encode()).unwrap();
    let layout = initrd_wrap::original_archive(0, original.len() as u64).unwrap();
    wrapped.extend(layout.to_bytes(|_| Some(original.as_slice())).unwrap());
    let initrd = work.path().join("initrd.img");
    std::fs::write(&initrd, wrapped).unwrap();

    let mut cfg = VmConfig::new(name, Firmware::Bios)
        // Not `.disk()`: with -kernel, SeaBIOS' linuxboot ROM holds bootindex 0.
        .arg("-drive")
        .arg(&format!("if=none,id=pbdisk,format=raw,file={}", disk_path.display()));
    cfg = if usb {
        cfg.arg("-device")
            .arg("qemu-xhci,id=xhci")
            .arg("-device")
            .arg("usb-storage,bus=xhci.0,drive=pbdisk")
    } else {
        cfg.arg("-device").arg("virtio-blk-pci,drive=pbdisk")
    };
    let cfg = cfg
        .memory_mib(768)
        .timeout(Duration::from_secs(240))
        .arg("-kernel")
        .arg(&vmlinuz.to_string_lossy())
        .arg("-initrd")
        .arg(&initrd.to_string_lossy())
        .arg("-append")
        .arg(&format!("console=ttyS0 panic=-1 loglevel=7 {append}"))
        .arg("-no-reboot");
    let mut vm = Vm::start(cfg).unwrap();
    let r = vm.wait_for("ORIG-INIT-DONE");
    let text = vm.serial_text();
    r.unwrap_or_else(|e| panic!("{e}"));
    text
}

fn assert_console(text: &str, wants: &[&str]) {
    for want in wants {
        assert!(text.contains(want), "missing {want:?} on the console:\n{text}");
    }
}

#[test]
fn hook_maps_the_image_and_execs_the_original_init() {
    let text = boot("hook-debian-kernel", false, false, "hooktestarg POLYBOOT_TEST_ENV=kept");
    assert_console(
        &text,
        &[
            "polyboot: polyboot-hook",
            "polyboot: hand-off: GPT disk GUID",
            "polyboot: unpacked the original initrd",
            "compressed streams: [zstd]",
            "loaded virtio_blk",
            "loaded dm_mod;",
            "polyboot: drive is /dev/vda",
            "polyboot: mapped the image read-only as /dev/mapper/polyboot",
            "polyboot: exec /init",
            "ORIG-INIT pid=1 args=[hooktestarg] env=[kept]",
            "polyboot -> ../dm-0",
            "SIZE 1048576",
            "RO 1",
            "FIRST SECTOR-00000000",
            "SECOND SECTOR-00001500",
            "LAST SECTOR-00002047",
        ],
    );
}

#[test]
fn hook_says_why_and_still_runs_the_original_init_when_the_drive_is_missing() {
    let text = boot("hook-debian-kernel-no-drive", true, false, "polyboot.wait=4 hooktestarg");
    assert_console(
        &text,
        &[
            "polyboot: unpacked the original initrd",
            "polyboot: the image is not mapped: no disk of 134217728 bytes with GPT disk GUID",
            "vda: identity does not match",
            "polyboot: exec /init",
            "ORIG-INIT pid=1 args=[hooktestarg]",
        ],
    );
    assert!(!text.contains("polyboot -> ../dm-0"));
}

#[test]
fn hook_finds_a_usb_stick_after_loading_usb_storage() {
    let text = boot("hook-debian-kernel-usb", false, true, "hooktestarg");
    assert_console(
        &text,
        &[
            "loaded xhci_pci",
            "loaded usb_storage",
            "loaded sd_mod",
            "polyboot: drive is /dev/sda",
            "polyboot: mapped the image read-only as /dev/mapper/polyboot",
            "ORIG-INIT pid=1 args=[hooktestarg]",
            "SIZE 1048576",
            "FIRST SECTOR-00000000",
            "SECOND SECTOR-00001500",
            "LAST SECTOR-00002047",
        ],
    );
}
