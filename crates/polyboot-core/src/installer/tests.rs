//! Installer detection on the boot configurations real ISOs carry (copied fixtures where
//! there are some, else as the distributions write them) and the files and parameters each
//! installer gets.

use super::*;
use crate::bootcfg::{parse_grub, parse_syslinux, parse_systemd_boot_entry, Parsed};
use alloc::vec;
use std::collections::BTreeMap;

macro_rules! fixture {
    ($p:literal) => {
        include_str!(concat!("../../tests/fixtures/bootcfg/", $p))
    };
}

/// Entries of GRUB and syslinux configurations (`(path, text)`; the first of each kind is the
/// top file) and systemd-boot entries.
fn entries(grub: &[(&str, &str)], sys: &[(&str, &str)], sd: &[&str]) -> Vec<BootEntry> {
    let map: BTreeMap<String, Vec<u8>> = grub
        .iter()
        .chain(sys)
        .map(|(p, t)| (p.to_ascii_lowercase(), t.as_bytes().to_vec()))
        .collect();
    let load = |p: &str| map.get(&p.to_ascii_lowercase()).cloned();
    let mut out = Vec::new();
    let mut add = |p: Parsed| out.extend(p.entries);
    if let Some((top, _)) = grub.first() {
        add(parse_grub(top, &[("prefix", "/boot/grub")], load));
    }
    if let Some((top, _)) = sys.first() {
        add(parse_syslinux(top, "/isolinux", load));
    }
    for (i, t) in sd.iter().enumerate() {
        out.extend(parse_systemd_boot_entry(&format!("/loader/entries/{i}.conf"), t.as_bytes()));
    }
    out
}

fn detect_in(grub: &[(&str, &str)], sys: &[(&str, &str)], sd: &[&str]) -> Detection {
    let e = entries(grub, sys, sd);
    assert!(!e.is_empty(), "no entries parsed");
    let d = detect_entries(&e);
    let report = BootConfigReport { entries: e, ..BootConfigReport::default() };
    assert_eq!(detect(&report), d.installer);
    d
}

/// Debian 12 netinst: `/install.amd/` kernels, the graphical installer's initrd in `gtk/`.
const DEBIAN_NETINST_GRUB: &str = "menuentry --hotkey=g 'Graphical install' {\n\
    set background_color=black\n\
    linux    /install.amd/vmlinuz vga=788 --- quiet \n\
    initrd   /install.amd/gtk/initrd.gz\n}\n\
menuentry --hotkey=i 'Install' {\n\
    set background_color=black\n\
    linux    /install.amd/vmlinuz vga=788 --- quiet \n\
    initrd   /install.amd/initrd.gz\n}\n";
const DEBIAN_NETINST_TXT: &str = "default install\nlabel install\n\
\tmenu label ^Install\n\tkernel /install.amd/vmlinuz\n\
\tappend vga=788 initrd=/install.amd/initrd.gz --- quiet \n";

#[test]
fn debian_installer() {
    let d = detect_in(&[("/boot/grub/grub.cfg", DEBIAN_NETINST_GRUB)], &[], &[]);
    assert_eq!(d.installer, Installer::DebianInstaller);
    assert_eq!(d.cue, "\"Graphical install\": kernel in install.amd/");
    let d = detect_in(&[], &[("/isolinux/txt.cfg", DEBIAN_NETINST_TXT)], &[]);
    assert_eq!(d.installer, Installer::DebianInstaller);
    // The netboot images the VM test masters from (`debian-installer/amd64/linux`).
    let d = detect_in(
        &[
            ("/boot/grub/grub.cfg", fixture!("debian-installer-12/grub.cfg")),
            ("/boot/grub/x86_64-efi/grub.cfg", fixture!("debian-installer-12/efi-grub.cfg")),
        ],
        &[],
        &[],
    );
    assert_eq!(d.installer, Installer::DebianInstaller);
    // A kernel elsewhere, known by its parameters.
    let d = detect_in(&[("/g.cfg", "linux /vmlinuz priority=low ---\n")], &[], &[]);
    assert_eq!(d.installer, Installer::DebianInstaller);

    let f = Installer::DebianInstaller.auto_install().unwrap();
    assert_eq!(f.target, "/preseed.cfg");
    assert_eq!(f.params, ["auto=true", "priority=critical"]);
    assert!(f.empty_files.is_empty());
    assert_eq!(Installer::DebianInstaller.driver_update(0, "/dd.iso"), None);
}

#[test]
fn debian_live_with_installer_entries_is_the_installer() {
    // live-build: live entries (live-boot) and the Debian installer's (`/install/`).
    let grub = [
        ("/boot/grub/grub.cfg", fixture!("live-build/grub.cfg")),
        ("/boot/grub/config.cfg", fixture!("live-build/config.cfg")),
        ("/boot/grub/install_start.cfg", fixture!("live-build/install_start.cfg")),
        ("/boot/grub/install.cfg", fixture!("live-build/install.cfg")),
    ];
    let d = detect_in(&grub, &[], &[]);
    assert_eq!(d.installer, Installer::DebianInstaller, "{d:?}");
    // The live entries alone: no installer.
    let d = detect_in(&grub[..1], &[], &[]);
    assert_eq!(d.installer, Installer::Unknown);
    assert_eq!(
        detect_in(&[], &[("/isolinux/live.cfg", fixture!("live-build/live.cfg"))], &[]).installer,
        Installer::Unknown
    );
}

const FEDORA_DVD: &str = "set default=\"1\"\n\
search --no-floppy --set=root -l 'Fedora-S-dvd-x86_64-39'\n\
menuentry 'Install Fedora 39' --class fedora --class gnu-linux --class gnu --class os {\n\
\tlinux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Fedora-S-dvd-x86_64-39 quiet\n\
\tinitrd /images/pxeboot/initrd.img\n}\n\
menuentry 'Test this media & install Fedora 39' --class fedora {\n\
\tlinux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Fedora-S-dvd-x86_64-39 rd.live.check quiet\n\
\tinitrd /images/pxeboot/initrd.img\n}\n";
const RHEL8_ISOLINUX: &str = "default vesamenu.c32\ntimeout 600\n\
label linux\n  menu label ^Install Rocky Linux 8\n  kernel vmlinuz\n\
  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-8-9-x86_64-dvd quiet\n\
label check\n  menu label Test this ^media & install Rocky Linux 8\n  menu default\n\
  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-8-9-x86_64-dvd rd.live.check quiet\n";
const FEDORA_LIVE: &str = "menuentry 'Start Fedora-Workstation-Live 39' --class fedora {\n\
\tlinux /images/pxeboot/vmlinuz root=live:CDLABEL=Fedora-WS-Live-39-1-5 rd.live.image quiet rhgb\n\
\tinitrd /images/pxeboot/initrd.img\n}\n";

#[test]
fn anaconda() {
    let d = detect_in(&[("/EFI/BOOT/grub.cfg", FEDORA_DVD)], &[], &[]);
    assert_eq!(d.installer, Installer::Anaconda);
    assert_eq!(
        d.cue,
        "\"Install Fedora 39\": parameter inst.stage2=hd:LABEL=Fedora-S-dvd-x86_64-39"
    );
    let d = detect_in(&[], &[("/isolinux/isolinux.cfg", RHEL8_ISOLINUX)], &[]);
    assert_eq!(d.installer, Installer::Anaconda);
    // Fedora's live media start a desktop (its installer is started from there).
    assert_eq!(detect_in(&[("/g.cfg", FEDORA_LIVE)], &[], &[]).installer, Installer::Unknown);

    let f = Installer::Anaconda.auto_install().unwrap();
    assert_eq!(
        (f.target.as_str(), f.params.as_slice()),
        ("/ks.cfg", &["inst.ks=file:/ks.cfg".into()][..])
    );
    let dud = |i, p| {
        let f = Installer::Anaconda.driver_update(i, p).unwrap();
        (f.target, f.params)
    };
    assert_eq!(
        dud(0, "/ventoy/dd.iso"),
        ("/polyboot-dud/0.iso".into(), vec!["inst.dd=/polyboot-dud/0.iso".into()])
    );
    assert_eq!(dud(1, "/drivers/NVMe.IMG").0, "/polyboot-dud/1.img");
    assert_eq!(dud(2, "\\dd\\kmod-foo-1.0.x86_64.rpm").0, "/polyboot-dud/2.rpm");
    for odd in ["/dd", "/.hidden", "/dd.", "/dd.toolongext", "/dd.i so", "/dd.\u{e9}"] {
        assert_eq!(dud(3, odd).0, "/polyboot-dud/3.iso", "{odd}");
    }
}

const OPENSUSE_GRUB: &str =
    "menuentry 'Installation' --class opensuse --class gnu-linux --class gnu --class os {\n\
  set gfxpayload=keep\n  echo 'Loading kernel ...'\n\
  linux /boot/x86_64/loader/linux splash=silent\n\
  echo 'Loading initial ramdisk ...'\n  initrd /boot/x86_64/loader/initrd\n}\n\
menuentry 'Upgrade' --class opensuse --class gnu-linux --class gnu --class os {\n\
  linux /boot/x86_64/loader/linux splash=silent upgrade=1\n\
  initrd /boot/x86_64/loader/initrd\n}\n";
const OPENSUSE_LIVE: &str = "menuentry 'openSUSE-Leap-15.5-KDE-Live' {\n\
  linux /boot/x86_64/loader/linux root=live:CDLABEL=openSUSE_Leap_15.5_KDE_Live rd.live.image\n\
  initrd /boot/x86_64/loader/initrd\n}\n";

#[test]
fn autoyast() {
    let d = detect_in(&[("/EFI/BOOT/grub.cfg", OPENSUSE_GRUB)], &[], &[]);
    assert_eq!(d.installer, Installer::AutoYast);
    assert_eq!(d.cue, "\"Installation\": kernel /boot/x86_64/loader/linux");
    // A network install entry says so with install=.
    let net = "linux /linux install=http://download.opensuse.org/tumbleweed/repo/oss\n";
    assert_eq!(detect_in(&[("/g.cfg", net)], &[], &[]).installer, Installer::AutoYast);
    assert_eq!(detect_in(&[("/g.cfg", OPENSUSE_LIVE)], &[], &[]).installer, Installer::Unknown);
    let f = Installer::AutoYast.auto_install().unwrap();
    assert_eq!(f.target, "/autoinst.xml");
    assert_eq!(f.params, ["autoyast=file:///autoinst.xml"]);
}

const UBUNTU_SERVER: &str = "set timeout=30\n\
menuentry \"Try or Install Ubuntu Server\" {\n\tset gfxpayload=keep\n\
\tlinux\t/casper/vmlinuz  ---\n\tinitrd\t/casper/initrd\n}\n\
menuentry \"Ubuntu Server with the HWE kernel\" {\n\
\tlinux\t/casper/hwe-vmlinuz  ---\n\tinitrd\t/casper/hwe-initrd\n}\n";
const UBUNTU_DESKTOP_2204: &str = "menuentry \"Try or Install Ubuntu\" {\n\
\tlinux\t/casper/vmlinuz file=/cdrom/preseed/ubuntu.seed maybe-ubiquity quiet splash ---\n\
\tinitrd\t/casper/initrd\n}\n";

#[test]
fn subiquity() {
    let d = detect_in(&[("/boot/grub/grub.cfg", UBUNTU_SERVER)], &[], &[]);
    assert_eq!(d.installer, Installer::Subiquity);
    assert_eq!(
        d.cue,
        "\"Try or Install Ubuntu Server\": casper entry \"try or install ubuntu server\""
    );
    // An entry already set up for autoinstall, whatever its title.
    let auto = "menuentry 'x' {\n linux /casper/vmlinuz autoinstall ---\n}\n";
    assert_eq!(detect_in(&[("/g.cfg", auto)], &[], &[]).installer, Installer::Subiquity);
    // Desktop 22.04 boots ubiquity, which does not read cloud-init autoinstall data.
    assert_eq!(
        detect_in(&[("/g.cfg", UBUNTU_DESKTOP_2204)], &[], &[]).installer,
        Installer::Unknown
    );

    let f = Installer::Subiquity.auto_install().unwrap();
    assert_eq!(f.target, "/run/polyboot-nocloud/user-data");
    assert_eq!(f.empty_files, ["/run/polyboot-nocloud/meta-data"]);
    assert_eq!(f.params, ["autoinstall", "ds=nocloud;s=/run/polyboot-nocloud/"]);
    // The parameters go through the boot configuration edit: GRUB gets the `;` quoted and
    // hands the kernel the word unquoted.
    let refs: Vec<&str> = f.params.iter().map(String::as_str).collect();
    let edited = crate::bootcfg::edit::add_kernel_params(
        crate::bootcfg::Loader::Grub,
        UBUNTU_SERVER.as_bytes(),
        &refs,
    )
    .unwrap()
    .unwrap();
    let again = entries(&[("/g.cfg", core::str::from_utf8(&edited.bytes).unwrap())], &[], &[]);
    assert_eq!(again[0].cmdline, "autoinstall ds=nocloud;s=/run/polyboot-nocloud/ ---");
}

#[test]
fn unknown_and_mixed() {
    let arch = "title Arch Linux install medium\nlinux /arch/boot/x86_64/vmlinuz-linux\n\
initrd /arch/boot/x86_64/initramfs-linux.img\noptions archisobasedir=arch archisolabel=ARCH_202401\n";
    let d = detect_in(&[], &[], &[arch]);
    assert_eq!(d, Detection { installer: Installer::Unknown, cue: String::new() });
    assert_eq!(Installer::Unknown.auto_install(), None);
    assert_eq!(Installer::Unknown.driver_update(0, "/dd.iso"), None);
    assert_eq!(detect_entries(&[]).installer, Installer::Unknown);
    // Most entries win; a tie goes to the more specific cue.
    let mixed = "linux /install.amd/vmlinuz ---\nlinux /install.amd/vmlinuz priority=low\n\
linux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=X\n";
    assert_eq!(detect_in(&[("/g.cfg", mixed)], &[], &[]).installer, Installer::DebianInstaller);
    let tie = "linux /install.amd/vmlinuz ---\nlinux /images/pxeboot/vmlinuz inst.repo=cdrom\n";
    assert_eq!(detect_in(&[("/g.cfg", tie)], &[], &[]).installer, Installer::Anaconda);
    for i in [
        Installer::Anaconda,
        Installer::AutoYast,
        Installer::Subiquity,
        Installer::DebianInstaller,
        Installer::Unknown,
    ] {
        assert!(!format!("{i}").is_empty());
    }
}
