//! Seeds of the `bootcfg_edit` target (kernel parameters added to one configuration file):
//! the real configurations of `crates/polyboot-core/tests/fixtures/bootcfg/` and the shapes
//! other distributions write, each with the parameters a feature adds to it. Input format:
//! a format byte (0 GRUB, 1 syslinux, 2 systemd-boot), the parameters, a newline, the file.

macro_rules! fixture {
    ($p:literal) => {
        include_bytes!(concat!("../../../crates/polyboot-core/tests/fixtures/bootcfg/", $p))
    };
}

const UBUNTU_SERVER: &[u8] = b"set timeout=30\nmenuentry \"Try or Install Ubuntu Server\" {\n\
\tset gfxpayload=keep\n\tlinux\t/casper/vmlinuz  ---\n\tinitrd\t/casper/initrd\n}\n\
if [ \"$grub_platform\" = \"efi\" ]; then\nmenuentry 'UEFI Firmware Settings' {\n\tfwsetup\n}\nfi\n";
const FEDORA: &[u8] = b"set default=\"1\"\r\nfunction load_video {\r\n  insmod all_video\r\n}\r\n\
menuentry 'Install Fedora 39' --class fedora {\r\n\
\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Fedora-S-dvd-x86_64-39 quiet\r\n\
\tinitrdefi /images/pxeboot/initrd.img\r\n}\r\n";
const SYSLINUX_FORMS: &[u8] = b"DEFAULT /vmlinuz initrd=/initrd.img quiet\nAPPEND global=1\n\
LABEL menu\n  COM32 vesamenu.c32\nLABEL own\n  KERNEL /vmlinuz\n  APPEND a -- b\n\
LABEL inherits\n  LINUX /vmlinuz\nLABEL args\n  KERNEL /vmlinuz root=/dev/sr0\n\
LABEL dash\n  KERNEL /vmlinuz\n  APPEND -\nTEXT HELP\n  APPEND no\nENDTEXT\n";
const ARCH_ENTRY: &[u8] = b"title    Arch Linux install medium (x86_64, UEFI)\n\
linux    /arch/boot/x86_64/vmlinuz-linux\ninitrd   /arch/boot/x86_64/initramfs-linux.img\n\
options  archisobasedir=arch archisolabel=ARCH_202401\n";

fn seed(format: u8, params: &str, text: &[u8]) -> Vec<u8> {
    let mut v = vec![format];
    v.extend_from_slice(params.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(text);
    v
}

pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let preseed = "auto=true priority=critical";
    vec![
        ("debian-installer-grub", seed(0, preseed, fixture!("debian-installer-12/grub.cfg"))),
        ("live-build-grub", seed(0, "persistence", fixture!("live-build/grub.cfg"))),
        ("ubuntu-server-grub", seed(0, "autoinstall ds=nocloud;s=/nocloud/", UBUNTU_SERVER)),
        ("fedora-grub", seed(0, "inst.ks=file:/ks.cfg inst.dd=/polyboot-dud/0.iso", FEDORA)),
        ("debian-installer-adtxt", seed(1, preseed, fixture!("debian-installer-12/adtxt.cfg"))),
        ("live-build-isolinux", seed(1, "persistence", fixture!("live-build/live.cfg"))),
        ("syslinux-forms", seed(1, "p q=1", SYSLINUX_FORMS)),
        ("systemd-boot", seed(2, "cow_label=polyboot", ARCH_ENTRY)),
        ("systemd-boot-no-options", seed(2, "a", b"title t\r\nlinux /vmlinuz\r\n")),
    ]
}
