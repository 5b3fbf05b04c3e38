//! Tests of kernel parameter editing on real configurations (`tests/fixtures/bootcfg/`) and
//! on the shapes other distributions write (Fedora, Ubuntu server, openSUSE, Arch).

use super::*;
use crate::bootcfg::{parse_grub, parse_syslinux, parse_systemd_boot_entry, BootEntry, Parsed};
use alloc::string::ToString;
use alloc::vec;
use std::collections::BTreeMap;

macro_rules! fixture {
    ($p:literal) => {
        include_str!(concat!("../../../tests/fixtures/bootcfg/", $p))
    };
}

const PERSIST: &[&str] = &["persistence", "persistence-label=polyboot"];

fn edit(loader: Loader, text: &str, params: &[&str]) -> Edited {
    add_kernel_params(loader, text.as_bytes(), params).unwrap().expect("a kernel line")
}

fn text(e: &Edited) -> &str {
    core::str::from_utf8(&e.bytes).unwrap()
}

/// Parse one file on its own.
fn parse(loader: Loader, path: &str, data: &[u8]) -> Vec<BootEntry> {
    let one = |p: &str| (p.eq_ignore_ascii_case(path)).then(|| data.to_vec());
    match loader {
        Loader::Grub => parse_grub(path, &[("prefix", "/boot/grub")], one).entries,
        Loader::Syslinux => parse_syslinux(path, "/isolinux", one).entries,
        Loader::SystemdBoot => parse_systemd_boot_entry(path, data).into_iter().collect(),
    }
}

/// Each line of `after` is the same line of `before` or it with `inserted` somewhere inside
/// (nothing removed, nothing else changed), line endings included.
fn only_insertions(before: &str, after: &str, inserted: &str) {
    let b: Vec<&str> = before.split_inclusive('\n').collect();
    let a: Vec<&str> = after.split_inclusive('\n').collect();
    assert_eq!(a.len(), b.len(), "{after}");
    for (x, y) in b.iter().zip(&a) {
        if x != y {
            let at = (0..=x.len()).find(|&i| y.get(..i) != x.get(..i)).map_or(x.len(), |i| i - 1);
            assert_eq!(format!("{}{inserted}{}", &x[..at], &x[at..]), *y, "line {x:?}");
        }
    }
}

#[test]
fn debian_installer_grub_gets_parameters_before_the_separator() {
    let before = fixture!("debian-installer-12/grub.cfg");
    let params = ["auto=true", "priority=critical"];
    let e = edit(Loader::Grub, before, &params);
    assert_eq!(e.kernel_lines, 26);
    // The "Automated install" entries have both already.
    let automated = before.matches("auto=true priority=critical").count();
    assert_eq!(e.changed, 26 - automated);
    assert_eq!(e.skipped, 0);
    let after = text(&e);
    assert!(after.contains(
        "linux    /debian-installer/amd64/linux vga=788 auto=true priority=critical --- quiet\n"
    ));
    // Parameters are words: priority=low is not priority=critical (the later one wins).
    assert!(after.contains(
        "linux    /debian-installer/amd64/linux priority=low vga=788 auto=true priority=critical ---\n"
    ));
    let entries = parse(Loader::Grub, "/boot/grub/grub.cfg", &e.bytes);
    assert_eq!(entries.len(), 26);
    for entry in &entries {
        let words: Vec<&str> = entry.cmdline.split(' ').collect();
        let sep = words.iter().position(|w| *w == "---").unwrap();
        assert!(words[..sep].contains(&"auto=true"), "{}", entry.cmdline);
    }
    // Again: nothing to do.
    let again = edit(Loader::Grub, after, &params);
    assert_eq!((again.changed, again.bytes.as_slice()), (0, e.bytes.as_slice()));
}

#[test]
fn live_build_grub_and_isolinux() {
    let grub = fixture!("live-build/grub.cfg");
    let e = edit(Loader::Grub, grub, PERSIST);
    assert_eq!((e.kernel_lines, e.changed), (2, 2));
    only_insertions(grub, text(&e), " persistence persistence-label=polyboot");
    for entry in parse(Loader::Grub, "/boot/grub/grub.cfg", &e.bytes) {
        assert!(entry.cmdline.ends_with("persistence persistence-label=polyboot"));
    }
    // The commented-out sample entries are not kernel lines.
    assert!(text(&e).contains("# linux @KERNEL_LIVE@ boot=live components quiet splash custom"));

    let live = fixture!("live-build/live.cfg");
    let e = edit(Loader::Syslinux, live, PERSIST);
    assert_eq!((e.kernel_lines, e.changed), (2, 2));
    only_insertions(live, text(&e), " persistence persistence-label=polyboot");
    let entries = parse(Loader::Syslinux, "/isolinux/live.cfg", &e.bytes);
    assert_eq!(entries.len(), 2);
    for entry in entries {
        assert!(entry.cmdline.ends_with(" persistence persistence-label=polyboot"));
    }
}

#[test]
fn debian_installer_syslinux_txt_cfg() {
    let txt = fixture!("debian-installer-12/txt.cfg");
    let e = edit(Loader::Syslinux, txt, &["auto=true", "priority=critical"]);
    assert_eq!((e.kernel_lines, e.changed), (1, 1));
    assert_eq!(
        text(&e),
        "label install\n\tmenu label ^Install\n\tkernel debian-installer/amd64/linux\n\tappend \
         vga=788 initrd=debian-installer/amd64/initrd.gz auto=true priority=critical --- quiet \n"
    );
    let adtxt = fixture!("debian-installer-12/adtxt.cfg");
    let e = edit(Loader::Syslinux, adtxt, &["auto=true", "priority=critical"]);
    // "auto" has both already.
    assert_eq!(e.changed, e.kernel_lines - 1);
    for entry in parse(Loader::Syslinux, "/isolinux/adtxt.cfg", &e.bytes) {
        let words: Vec<&str> = entry.cmdline.split_whitespace().collect();
        let sep = words.iter().position(|w| *w == "---").unwrap_or(words.len());
        assert!(words[..sep].contains(&"priority=critical"), "{}", entry.cmdline);
    }
}

const FEDORA: &str = "set default=\"1\"\r\n\
function load_video {\r\n  insmod all_video\r\n}\r\n\
load_video\r\nset gfxpayload=keep\r\nset timeout=60\r\n\
search --no-floppy --set=root -l 'Fedora-E-dvd-x86_64-39'\r\n\
menuentry 'Install Fedora 39' --class fedora --class gnu-linux --class gnu --class os {\r\n\
\tlinux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Fedora-E-dvd-x86_64-39 quiet\r\n\
\tinitrd /images/pxeboot/initrd.img\r\n}\r\n\
submenu 'Troubleshooting -->' {\r\n\
\tmenuentry 'Install Fedora 39 in basic graphics mode' --class fedora {\r\n\
\t\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Fedora-E-dvd-x86_64-39 nomodeset quiet\r\n\
\t\tinitrdefi /images/pxeboot/initrd.img\r\n\t}\r\n}\r\n";

#[test]
fn fedora_crlf_and_driver_updates() {
    let params = ["inst.ks=file:/ks.cfg", "inst.dd=/polyboot-dud/0.iso"];
    let e = edit(Loader::Grub, FEDORA, &params);
    assert_eq!((e.kernel_lines, e.changed), (2, 2));
    only_insertions(FEDORA, text(&e), " inst.ks=file:/ks.cfg inst.dd=/polyboot-dud/0.iso");
    assert_eq!(text(&e).matches("\r\n").count(), FEDORA.matches("\r\n").count());
    assert!(
        text(&e).contains("nomodeset quiet inst.ks=file:/ks.cfg inst.dd=/polyboot-dud/0.iso\r\n")
    );
}

const UBUNTU_SERVER: &str = "set timeout=30\n\nloadfont unicode\n\n\
menuentry \"Try or Install Ubuntu Server\" {\n\tset gfxpayload=keep\n\
\tlinux\t/casper/vmlinuz  ---\n\tinitrd\t/casper/initrd\n}\n\
menuentry \"Ubuntu Server with the HWE kernel\" {\n\tset gfxpayload=keep\n\
\tlinux\t/casper/hwe-vmlinuz  ---\n\tinitrd\t/casper/hwe-initrd\n}\n\
grub_platform\nif [ \"$grub_platform\" = \"efi\" ]; then\n\
menuentry 'Boot from next volume' {\n\texit 1\n}\n\
menuentry 'UEFI Firmware Settings' {\n\tfwsetup\n}\nfi\n";

#[test]
fn ubuntu_server_semicolon_is_quoted_for_grub_only() {
    let params = ["autoinstall", "ds=nocloud;s=/nocloud/"];
    let e = edit(Loader::Grub, UBUNTU_SERVER, &params);
    assert_eq!((e.kernel_lines, e.changed), (2, 2));
    assert!(
        text(&e).contains("\tlinux\t/casper/vmlinuz  autoinstall 'ds=nocloud;s=/nocloud/' ---\n")
    );
    // GRUB hands the kernel the word without its quotes.
    let entries = parse(Loader::Grub, "/boot/grub/grub.cfg", &e.bytes);
    assert_eq!(entries[0].cmdline, "autoinstall ds=nocloud;s=/nocloud/ ---");
    assert_eq!(edit(Loader::Grub, text(&e), &params).changed, 0);
    // syslinux passes its APPEND line as it is.
    let sys = "label live\n  kernel /casper/vmlinuz\n  append initrd=/casper/initrd ---\n";
    let e = edit(Loader::Syslinux, sys, &params);
    assert!(
        text(&e).contains("append initrd=/casper/initrd autoinstall ds=nocloud;s=/nocloud/ ---\n")
    );
}

#[test]
fn grub_commands_not_lines() {
    let before = "# linux /commented out\r\n\
set k=/vmlinuz; linux $k quiet; initrd /initrd\r\n\
if true; then linux /a ro \\\n   splash; fi\n\
linux /b \"quoted word\" -- init-arg\n\
linux --only-options\n\
menuentry x { linux /c }\n\
echo linux /not-a-kernel\n\
linux /d caf\u{e9}\n";
    let e = edit(Loader::Grub, before, &["p=1", "$x#{}"]);
    assert_eq!((e.kernel_lines, e.changed, e.skipped), (5, 5, 0));
    assert_eq!(
        text(&e),
        "# linux /commented out\r\n\
set k=/vmlinuz; linux $k quiet p=1 '$x#{}'; initrd /initrd\r\n\
if true; then linux /a ro \\\n   splash p=1 '$x#{}'; fi\n\
linux /b \"quoted word\" p=1 '$x#{}' -- init-arg\n\
linux --only-options\n\
menuentry x { linux /c p=1 '$x#{}' }\n\
echo linux /not-a-kernel\n\
linux /d caf\u{e9} p=1 '$x#{}'\n"
    );
    let entries = parse(Loader::Grub, "/g.cfg", &e.bytes);
    assert_eq!(entries.len(), 5);
    for entry in &entries {
        assert!(entry.cmdline.contains("p=1 $x#{}"), "{entry:?}");
    }
    assert_eq!(edit(Loader::Grub, text(&e), &["p=1", "$x#{}"]).changed, 0);
}

#[test]
fn grub_bytes_kept_and_unclosed_quotes_skipped() {
    // Latin-1 in a comment and in a title, a byte order mark, an unterminated quote at the end.
    let mut before = vec![0xEF, 0xBB, 0xBF];
    before.extend_from_slice(
        b"linux /k a # comment \xe9\xff\nmenuentry '\xe9t\xe9' {\nlinux /k b\n}\n",
    );
    before.extend_from_slice(b"linux /k \"open to the end\n");
    let e = add_kernel_params(Loader::Grub, &before, &["p"]).unwrap().unwrap();
    assert_eq!((e.kernel_lines, e.changed, e.skipped), (3, 2, 1));
    let mut want = vec![0xEF, 0xBB, 0xBF];
    want.extend_from_slice(
        b"linux /k a p # comment \xe9\xff\nmenuentry '\xe9t\xe9' {\nlinux /k b p\n}\n",
    );
    want.extend_from_slice(b"linux /k \"open to the end\n");
    assert_eq!(e.bytes, want);
}

#[test]
fn syslinux_label_forms() {
    let before = "DEFAULT vesamenu.c32\n\
APPEND global=1\n\
LABEL menu\n  COM32 vesamenu.c32\n\
LABEL memtest\n  KERNEL /boot/memtest.c32\n\
LABEL own\n  KERNEL /vmlinuz\n  APPEND first\n  APPEND last\n\
LABEL inherits\n  LINUX /vmlinuz\n\
LABEL args\n  KERNEL /vmlinuz root=/dev/sr0\n\
LABEL none\n  KERNEL /vmlinuz\n\
LABEL dash\n  KERNEL /vmlinuz\n  APPEND -\n\
TEXT HELP\n  APPEND not-a-line\nENDTEXT\n";
    let e = edit(Loader::Syslinux, before, &["p"]);
    // own, inherits (global APPEND), args, none (global too), dash.
    assert_eq!((e.kernel_lines, e.changed), (5, 4));
    assert_eq!(
        text(&e),
        "DEFAULT vesamenu.c32\n\
APPEND global=1 p\n\
LABEL menu\n  COM32 vesamenu.c32\n\
LABEL memtest\n  KERNEL /boot/memtest.c32\n\
LABEL own\n  KERNEL /vmlinuz\n  APPEND first\n  APPEND last p\n\
LABEL inherits\n  LINUX /vmlinuz\n\
LABEL args\n  KERNEL /vmlinuz root=/dev/sr0 p\n\
LABEL none\n  KERNEL /vmlinuz\n\
LABEL dash\n  KERNEL /vmlinuz\n  APPEND p\n\
TEXT HELP\n  APPEND not-a-line\nENDTEXT\n"
    );
    let entries = parse(Loader::Syslinux, "/isolinux/isolinux.cfg", &e.bytes);
    assert_eq!(entries.len(), 5);
    for entry in &entries {
        assert!(entry.cmdline.split_whitespace().any(|w| w == "p"), "{entry:?}");
    }
    assert_eq!(edit(Loader::Syslinux, text(&e), &["p"]).changed, 0);
    // Without a global APPEND, a bare KERNEL line takes the parameters; an old-style DEFAULT
    // kernel command line too, not a DEFAULT naming a label.
    let before = "default /vmlinuz initrd=/initrd.img quiet\r\ndefault bare\r\nlabel bare\r\n\tkernel /vmlinuz\r\n";
    let e = edit(Loader::Syslinux, before, &["p"]);
    assert_eq!(
        text(&e),
        "default /vmlinuz initrd=/initrd.img quiet p\r\ndefault bare\r\nlabel bare\r\n\tkernel /vmlinuz p\r\n"
    );
    // Only COM32 modules: no kernel line.
    assert_eq!(
        add_kernel_params(
            Loader::Syslinux,
            b"label a\nkernel menu.c32\nlabel b\nkernel memdisk\n",
            &["p"]
        ),
        Ok(None)
    );
}

const ARCH_ENTRY: &str = "title    Arch Linux install medium (x86_64, UEFI)\n\
sort-key 01\n\
linux    /arch/boot/x86_64/vmlinuz-linux\n\
initrd   /arch/boot/x86_64/initramfs-linux.img\n\
options  archisobasedir=arch archisosearchuuid=2024-01-01-00-00-00-00\n";

#[test]
fn systemd_boot_entries() {
    let e = edit(Loader::SystemdBoot, ARCH_ENTRY, &["cow_label=polyboot"]);
    only_insertions(ARCH_ENTRY, text(&e), " cow_label=polyboot");
    let entry = parse_systemd_boot_entry("/loader/entries/a.conf", &e.bytes).unwrap();
    assert!(entry.cmdline.ends_with("2024-01-01-00-00-00-00 cow_label=polyboot"));
    assert_eq!(edit(Loader::SystemdBoot, text(&e), &["cow_label=polyboot"]).changed, 0);
    // No options: a new line after linux, with the file's line ending, even at the very end.
    let e = edit(Loader::SystemdBoot, "title t\r\nlinux /vmlinuz\r\ninitrd /i\r\n", &["a", "b"]);
    assert_eq!(text(&e), "title t\r\nlinux /vmlinuz\r\noptions a b\r\ninitrd /i\r\n");
    let e = edit(Loader::SystemdBoot, "linux /vmlinuz", &["a"]);
    assert_eq!(text(&e), "linux /vmlinuz\noptions a");
    // Options split over lines, a separator in the first.
    let e = edit(Loader::SystemdBoot, "linux /k\noptions x -- y\noptions z\n", &["a"]);
    assert_eq!(text(&e), "linux /k\noptions x a -- y\noptions z\n");
    // An EFI program is not a kernel.
    assert_eq!(add_kernel_params(Loader::SystemdBoot, b"efi /shell.efi\n", &["a"]), Ok(None));
}

#[test]
fn files_without_kernels_bad_parameters_and_limits() {
    assert_eq!(
        add_kernel_params(Loader::Grub, b"set a=b\nsource /boot/grub/x.cfg\n", &["p"]),
        Ok(None)
    );
    for bad in ["", "a b", "a\"b", "it's", "back\\slash", "--", "---", "caf\u{e9}", "tab\t"] {
        assert_eq!(
            add_kernel_params(Loader::Grub, b"linux /k\n", &[bad]),
            Err(EditError::BadParam(bad.to_string()))
        );
    }
    let long = "x".repeat(MAX_PARAM_LEN + 1);
    assert!(check_params(&[&long]).is_err());
    let many: Vec<String> = (0..10).map(|i| format!("{i}{}", "y".repeat(600))).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(check_params(&many), Err(EditError::TooManyParams));
    // Past the size the reader reads, before and after.
    let big = vec![b'#'; MAX_FILE_SIZE as usize + 1];
    assert_eq!(add_kernel_params(Loader::Grub, &big, &["p"]), Err(EditError::TooLarge));
    let mut full = b"linux /k\n".to_vec();
    full.resize(MAX_FILE_SIZE as usize, b'#');
    assert_eq!(add_kernel_params(Loader::Grub, &full, &["p"]), Err(EditError::TooLarge));
    assert!(!EditError::TooLarge.to_string().is_empty());
}

#[test]
fn the_configurations_of_a_report() {
    let mut files: BTreeMap<&str, &str> = BTreeMap::new();
    files.insert("/boot/grub/grub.cfg", UBUNTU_SERVER);
    files.insert(
        "/isolinux/txt.cfg",
        "label a\n kernel /casper/vmlinuz\n append quiet autoinstall\n",
    );
    files.insert("/loader/entries/arch.conf", ARCH_ENTRY);
    files.insert("/boot/grub/done.cfg", "linux /k autoinstall\n");
    let mut read = |p: &str| files.get(p).map(|t| t.as_bytes().to_vec());
    let mut entries: Vec<BootEntry> = Vec::new();
    let mut add = |p: Parsed| entries.extend(p.entries);
    add(parse_grub("/boot/grub/grub.cfg", &[], &mut read));
    add(parse_grub("/boot/grub/done.cfg", &[], &mut read));
    add(parse_syslinux("/isolinux/txt.cfg", "/isolinux", &mut read));
    entries.extend(parse_systemd_boot_entry("/loader/entries/arch.conf", ARCH_ENTRY.as_bytes()));
    // An entry from a file the reader cannot read any more, and a kernel-less GRUB entry.
    let mut gone = entries[0].clone();
    gone.source = String::from("/boot/grub/gone.cfg");
    entries.push(gone);
    let mut initrd_only = entries[0].clone();
    initrd_only.kernel = None;
    initrd_only.source = String::from("/boot/grub/initrd-only.cfg");
    entries.push(initrd_only);
    let report = BootConfigReport { entries, ..BootConfigReport::default() };

    let out = edit_boot_configs(&report, &mut read, &["autoinstall"]).unwrap();
    let edited: Vec<(&str, Loader, usize)> =
        out.edits.iter().map(|e| (e.path.as_str(), e.loader, e.changed)).collect();
    assert_eq!(
        edited,
        [
            ("/boot/grub/grub.cfg", Loader::Grub, 2),
            ("/loader/entries/arch.conf", Loader::SystemdBoot, 1)
        ]
    );
    assert_eq!(out.unchanged, ["/boot/grub/done.cfg", "/isolinux/txt.cfg"]);
    assert_eq!(
        out.problems,
        [(String::from("/boot/grub/gone.cfg"), String::from("cannot be read"))]
    );
    assert!(edit_boot_configs(&report, &mut read, &["a b"]).is_err());
}

#[test]
fn words_end_where_their_characters_do() {
    // A dangling backslash at the very end is no part of the last word: inserting after the
    // word keeps the parameter a word of its own.
    // The kernel is no parameter: a parameter equal to it is still added.
    let e = edit(Loader::Grub, "linux /k a\n", &["/k"]);
    assert_eq!(text(&e), "linux /k a /k\n");
    // A word with a non-ASCII byte is no parameter, whatever the byte.
    let e = add_kernel_params(Loader::Grub, b"linux /k x\xa3y\n", &["x_y"]).unwrap().unwrap();
    assert_eq!(e.bytes, b"linux /k x\xa3y x_y\n");
    // `${` never closed swallows the rest of the text: left alone like an open quote.
    let e = edit(Loader::Grub, "linux /k a ${x\nlinux /k\n", &["p"]);
    assert_eq!((e.kernel_lines, e.changed, e.skipped), (1, 0, 1));
    let e = edit(Loader::Grub, "linux /k a\\", &["p"]);
    assert_eq!(text(&e), "linux /k a p\\");
    assert_eq!(edit(Loader::Grub, text(&e), &["p"]).changed, 0);
    // A kernel word with a variable may expand to an option (then the next word is the
    // kernel): the parameters go to the end, surely after the kernel.
    let before = "set o=--opt\nlinux $o /k --- quiet\n";
    let e = edit(Loader::Grub, before, &["p"]);
    assert_eq!(text(&e), "set o=--opt\nlinux $o /k --- quiet p\n");
    let entries = parse(Loader::Grub, "/g.cfg", &e.bytes);
    assert_eq!(entries[0].kernel.as_deref(), Some("/k"));
    assert_eq!(entries[0].cmdline, "--- quiet p");
    // syslinux: a label's command line is its first KERNEL line with arguments unless it
    // has an APPEND (what the parser reads).
    let before = "label a\n kernel /k one\n kernel /k\n";
    let e = edit(Loader::Syslinux, before, &["p"]);
    assert_eq!(text(&e), "label a\n kernel /k one p\n kernel /k\n");
    assert_eq!(parse(Loader::Syslinux, "/s.cfg", &e.bytes)[0].cmdline, "one p");
    // A KERNEL line naming no kernel is left alone (a word added would become the kernel).
    let e = edit(Loader::Syslinux, "label a\n kernel\n", &["p"]);
    assert_eq!((e.kernel_lines, e.changed, e.skipped), (1, 0, 1));
}
