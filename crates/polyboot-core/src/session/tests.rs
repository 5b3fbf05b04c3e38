//! The boot session on a polyboot drive built in memory: partitions from core's layout, the
//! data volume from core's exFAT writer, a hand-made Linux ISO with an El Torito BIOS entry.

use super::*;
use crate::block::MemDevice;
use crate::eltorito::tests::{entry, validation};
use crate::exfat::{format, FormatOptions, Timestamp};
use crate::iso9660::test_image::*;
use crate::layout::{plan, write_partition_table, BootCode, Identity, LayoutRequest, Scheme};
use crate::menu::{MenuItem, Status};
use alloc::vec;

const DRIVE: usize = 100 << 20;
const CONFIG: &str = r#"{"menu": {"timeout": 7, "default": "/iso/gone.iso"}, "bogus": 1}"#;

/// A Linux ISO: /boot/grub/grub.cfg loads /live/initrd.gz; the catalog has a BIOS entry only.
fn live_iso() -> Vec<u8> {
    let cfg = b"menuentry live {\n linux /live/vmlinuz boot=live\n initrd /live/initrd.gz\n}\n";
    let mut img = Img::new(40);
    img.pvd(16, "LIVE", 40, LIVE_ROOT, 2048);
    img.boot_record(17, 30);
    img.terminator(18);
    live_tree(&mut img, cfg);
    // Validation entry (platform x86, checksummed) and a bootable no-emulation entry.
    img.put(30, 0, &validation(0));
    img.put(30, 32, &entry(true, 0, 4, 34));
    img.put(34, 0, &[0xEB; 2048]);
    img.data
}

/// A GPT polyboot drive whose data volume holds the ISO, an EFI application, a raw disk image
/// and polyboot.json; the boot partition is left unformatted.
fn drive() -> (MemDevice, DriveLocation) {
    let req = LayoutRequest::new(
        DRIVE as u64,
        SectorSize::B512,
        Scheme::Gpt,
        Identity::from_random_bytes(&core::array::from_fn(|i| {
            (i as u8).wrapping_mul(7).wrapping_add(1)
        })),
    );
    let p = plan(&req).unwrap();
    let mut dev = MemDevice::new(DRIVE);
    write_partition_table(&p, &mut dev, BootCode::Clear).unwrap();
    let location = drive_location::locate(&mut dev, Some(SectorSize::B512)).unwrap();
    {
        let mut part = Slice::new(&mut dev, location.data.offset, location.data.size).unwrap();
        let opts =
            FormatOptions { label: "POLYTEST".into(), cluster_size: 4096, ..Default::default() };
        format(&mut part, &opts).unwrap();
        let mut fs = ExFat::open(part).unwrap();
        let t = Timestamp::from_unix(1_700_000_000);
        fs.create_dir_all("/iso", t).unwrap();
        fs.create_dir_all("/polyboot", t).unwrap();
        fs.write_file("/iso/live.iso", &live_iso(), t).unwrap();
        fs.write_file("/iso/tool.efi", b"MZ tool", t).unwrap();
        fs.write_file("/iso/disk.img", &[0u8; 65536], t).unwrap();
        fs.write_file(config::POLYBOOT_JSON, CONFIG.as_bytes(), t).unwrap();
        fs.flush().unwrap();
    }
    (dev, location)
}

fn open(
    dev: &MemDevice,
    firmware: Firmware,
) -> (Result<BootSession<MemDevice>, String>, Vec<String>) {
    let mut lines = Vec::new();
    let session =
        BootSession::open(MemDevice::from_vec(dev.data.clone()), 512, firmware, &mut |a| {
            lines.push(a.to_string())
        });
    (session, lines)
}

fn status<'a>(menu: &'a Menu, path: &str) -> &'a Status {
    menu.items()
        .iter()
        .find_map(|item| match item {
            MenuItem::Image { image, status } if image.path == path => Some(status),
            _ => None,
        })
        .unwrap()
}

fn image(session: &BootSession<MemDevice>, path: &str) -> ImageEntry {
    session.menu.items().iter().filter_map(|i| i.image()).find(|i| i.path == path).unwrap().clone()
}

#[test]
fn opens_the_drive_and_builds_the_menu_for_each_firmware() {
    let (dev, location) = drive();
    for firmware in [Firmware::Uefi, Firmware::Bios] {
        let (session, lines) = open(&dev, firmware);
        let session = session.unwrap();
        assert_eq!(session.location, location);
        assert_eq!(
            lines[0],
            format!(
                "GPT drive, 512-byte sectors, data partition at {} ({} bytes)",
                location.data.offset, location.data.size
            )
        );
        assert_eq!(lines[1], "data volume \"POLYTEST\"");
        assert!(
            lines.iter().any(|l| l.starts_with("config: ") && l.contains("bogus")),
            "{lines:?}"
        );
        assert!(
            lines
                .contains(&String::from("config: default image /iso/gone.iso is not on the drive")),
            "{lines:?}"
        );
        assert_eq!(session.config.timeout_secs, Some(7));
        assert_eq!(session.menu.image_count(), 3);
        let bios = firmware == Firmware::Bios;
        assert_eq!(
            session.title(),
            format!(
                "polyboot {}{}  -  3 images on POLYTEST",
                crate::VERSION,
                if bios { " (BIOS)" } else { "" }
            )
        );

        let m = &session.menu;
        match firmware {
            Firmware::Uefi => {
                assert!(
                    matches!(status(m, "/iso/live.iso"), Status::NotBootable(r) if r.starts_with("BIOS only: "))
                );
                assert_eq!(
                    status(m, "/iso/tool.efi"),
                    &Status::Bootable { bios: false, uefi: true }
                );
                assert!(
                    matches!(status(m, "/iso/disk.img"), Status::NotBootable(r) if r.contains("no partition table"))
                );
            }
            Firmware::Bios => {
                assert_eq!(
                    status(m, "/iso/live.iso"),
                    &Status::Bootable { bios: true, uefi: false }
                );
                assert_eq!(
                    status(m, "/iso/tool.efi"),
                    &Status::NotBootable("an EFI application needs UEFI firmware".into())
                );
                // Zeros: no boot code in its MBR, which the BIOS menu now says up front.
                assert!(
                    matches!(status(m, "/iso/disk.img"), Status::NotBootable(r) if r.contains("no BIOS boot code"))
                );
            }
        }
    }
}

#[test]
fn drives_without_a_menu_say_why() {
    let (blank, _) = open(&MemDevice::new(DRIVE), Firmware::Uefi);
    assert!(blank.err().unwrap().starts_with("not a polyboot drive"));
    let (mut dev, location) = drive();
    dev.data[location.data.offset as usize..][..24 * 512].fill(0); // both boot regions
    let (session, lines) = open(&dev, Firmware::Bios);
    assert!(session.err().unwrap().starts_with("the data partition is not readable exFAT: "));
    assert_eq!(lines.len(), 1);
}

#[test]
fn images_become_virtual_disks_inside_the_partition() {
    let (dev, _) = drive();
    let mut session = open(&dev, Firmware::Uefi).0.unwrap();
    let iso = image(&session, "/iso/live.iso");
    let vd = session.virtual_medium(&iso).unwrap();
    let bytes = live_iso();
    assert_eq!(
        (vd.block_size(), vd.image_len(), vd.size()),
        (2048, bytes.len() as u64, bytes.len() as u64)
    );
    let mut read = vec![0u8; bytes.len()];
    vd.read(&mut MemDevice::from_vec(dev.data.clone()), 0, &mut read).unwrap();
    assert!(read == bytes);

    let img = image(&session, "/iso/disk.img");
    let vd = session.virtual_medium(&img).unwrap();
    assert_eq!((vd.block_size(), vd.image_len()), (512, 65536));

    // A volume whose clusters point past its partition (here: the partition said smaller).
    let short = PartitionSpan { size: session.location.data.size / 1024, ..session.location.data };
    let err = virtual_medium(&mut session.fs, &short, &iso).unwrap_err();
    assert_eq!(err, "the file's clusters lie outside the data partition (corrupt file system)");
    let missing = ImageEntry { path: "/iso/gone.iso".into(), ..iso };
    assert!(session.virtual_medium(&missing).is_err());
}

#[test]
fn a_linux_isos_initrds_are_wrapped_behind_the_hook() {
    let (dev, _) = drive();
    let mut session = open(&dev, Firmware::Bios).0.unwrap();
    let iso = image(&session, "/iso/live.iso");
    let location = session.location.clone();
    let mut disk = MemDevice::from_vec(dev.data.clone());
    let wrap = |session: &mut BootSession<MemDevice>, disk: &mut MemDevice, hook| {
        let mut vd = session.virtual_medium(&iso).unwrap();
        let mut lines = Vec::new();
        let extras = LinuxExtras::default();
        let (plan, handoff) = wrap_initrds(&mut vd, disk, &location, hook, &extras, &mut |a| {
            lines.push(a.to_string())
        });
        (plan, vd, lines, handoff)
    };

    let (plan, vd, lines, handoff) = wrap(&mut session, &mut disk, HookSource::Embedded(b"HOOK"));
    let plan = plan.unwrap();
    assert_eq!(plan.wrapped.len(), 1);
    let w = &plan.wrapped[0];
    assert_eq!((w.paths.as_slice(), w.original_size), (&[String::from("/live/initrd.gz")][..], 5));
    assert!(vd.size() > vd.image_len() && !vd.regions().is_empty() && !vd.overrides().is_empty());
    assert_eq!(
        lines,
        [format!(
            "linux: wrapped initrd /live/initrd.gz (5 bytes) as {} bytes at block {}",
            w.len,
            w.lba()
        )]
    );
    // The archive in front of the wrapped file carries the hook and this ISO's hand-off record.
    let archive = hook_archive(b"HOOK", &handoff).unwrap();
    let mut front = vec![0u8; archive.len()];
    vd.read(&mut disk, w.at, &mut front).unwrap();
    assert!(front[..] == archive[..]);
    assert_eq!(hook_archive(b"", &handoff).unwrap_err(), "this build has no polyboot-hook");

    let (plan, vd, lines, _) = wrap(&mut session, &mut disk, HookSource::Embedded(b""));
    assert!(plan.is_none() && vd.regions().is_empty());
    assert_eq!(lines, ["linux: this build has no polyboot-hook; initrds are not wrapped"]);

    // BIOS reads the hook from the boot manager on the boot partition: not formatted here.
    let (plan, _, lines, _) = wrap(&mut session, &mut disk, HookSource::BootManager);
    assert!(plan.is_none());
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0]
            .starts_with("linux: initrds not wrapped: the boot partition is not readable FAT: "),
        "{lines:?}"
    );

    // Not an ISO at all.
    let img = image(&session, "/iso/disk.img");
    let mut vd = session.virtual_medium(&img).unwrap();
    let mut lines = Vec::new();
    let extras = LinuxExtras::default();
    let hook = HookSource::Embedded(b"HOOK");
    assert!(wrap_initrds(&mut vd, &mut disk, &location, hook, &extras, &mut |a| {
        lines.push(a.to_string())
    })
    .0
    .is_none());
    assert!(lines[0].starts_with("linux: cannot read the ISO's boot configuration: "), "{lines:?}");
}
