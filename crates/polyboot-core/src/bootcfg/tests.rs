//! Unit tests of the boot configuration parsers, on real configuration files saved under
//! `tests/fixtures/bootcfg/` (see the README there) and on hand-made edge cases.

use super::*;
use crate::block::ReadAt;
use alloc::string::ToString;
use alloc::vec;
use std::collections::BTreeMap;

macro_rules! fixture {
    ($p:literal) => {
        include_str!(concat!("../../tests/fixtures/bootcfg/", $p))
    };
}

/// A loader over an in-memory file map (paths compared case-insensitively, like ISO lookup).
fn fs(files: &[(&str, &str)]) -> impl FnMut(&str) -> Option<Vec<u8>> {
    let map: BTreeMap<String, Vec<u8>> =
        files.iter().map(|(p, d)| (p.to_ascii_lowercase(), d.as_bytes().to_vec())).collect();
    move |p: &str| map.get(&p.to_ascii_lowercase()).cloned()
}

fn kinds(p: &Parsed) -> Vec<WarningKind> {
    p.warnings.iter().map(|w| w.kind).collect()
}

#[test]
fn debian_installer_grub() {
    let mut load = fs(&[
        ("/boot/grub/grub.cfg", fixture!("debian-installer-12/grub.cfg")),
        ("/EFI/boot/grub.cfg", fixture!("debian-installer-12/efi-grub.cfg")),
    ]);
    let p = parse_grub("/EFI/BOOT/grub.cfg", &[("prefix", "/EFI/BOOT")], &mut load);
    assert_eq!(p.files, ["/EFI/BOOT/grub.cfg", "/boot/grub/grub.cfg"]);
    assert_eq!(p.initrd_paths(), ["/debian-installer/amd64/initrd.gz"]);
    assert_eq!(p.entries.len(), 26, "{:#?}", p.entries);
    let first = &p.entries[0];
    assert_eq!(first.title.as_deref(), Some("Install"));
    assert_eq!(first.kernel.as_deref(), Some("/debian-installer/amd64/linux"));
    assert_eq!(first.cmdline, "vga=788 --- quiet");
    assert_eq!(first.source, "/boot/grub/grub.cfg");
    // Nested submenus: the innermost menuentry's title.
    assert!(p.entries.iter().any(|e| e.title.as_deref() == Some("... Expert install")
        && e.cmdline == "desktop=kde priority=low vga=788 ---"));
    assert!(p.entries.iter().all(|e| e.initrds.len() == 1));
    assert!(p.warnings.is_empty(), "{:#?}", p.warnings);
}

#[test]
fn debian_installer_syslinux_with_include_loop() {
    let dir = "/debian-installer/amd64/boot-screens/";
    let names = [
        ("syslinux.cfg", fixture!("debian-installer-12/syslinux.cfg")),
        ("menu.cfg", fixture!("debian-installer-12/menu.cfg")),
        ("txt.cfg", fixture!("debian-installer-12/txt.cfg")),
        ("adtxt.cfg", fixture!("debian-installer-12/adtxt.cfg")),
        ("rqtxt.cfg", fixture!("debian-installer-12/rqtxt.cfg")),
        ("stdmenu.cfg", fixture!("debian-installer-12/stdmenu.cfg")),
        ("prompt.cfg", fixture!("debian-installer-12/prompt.cfg")),
        ("drk.cfg", fixture!("debian-installer-12/drk.cfg")),
        ("addrk.cfg", fixture!("debian-installer-12/addrk.cfg")),
        ("drkmenu.cfg", fixture!("debian-installer-12/drkmenu.cfg")),
        ("exithelp.cfg", fixture!("debian-installer-12/exithelp.cfg")),
    ];
    let owned: Vec<(String, &str)> =
        names.iter().map(|(n, d)| (alloc::format!("{dir}{n}"), *d)).collect();
    let files: Vec<(&str, &str)> = owned.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    // pxelinux's working directory is the netboot root.
    let p = parse_syslinux(&alloc::format!("{dir}syslinux.cfg"), "/", fs(&files));
    assert_eq!(p.initrd_paths(), ["/debian-installer/amd64/initrd.gz"]);
    let labels: Vec<&str> = p.entries.iter().filter_map(|e| e.title.as_deref()).collect();
    for want in ["Install", "Expert install", "Rescue mode", "Automated install"] {
        assert!(labels.contains(&want), "{want} in {labels:?}");
    }
    let rescue = p.entries.iter().find(|e| e.title.as_deref() == Some("Rescue mode")).unwrap();
    assert_eq!(rescue.kernel.as_deref(), Some("/debian-installer/amd64/linux"));
    assert!(rescue.cmdline.contains("rescue/enable=true"));
    assert_eq!(rescue.source, alloc::format!("{dir}rqtxt.cfg"));
    // prompt.cfg includes menu.cfg, which (through `config`) included prompt.cfg: a loop.
    assert!(kinds(&p).contains(&WarningKind::IncludeLoop), "{:#?}", p.warnings);
    // Files the netboot package does not ship in text/ (gtk.cfg, spk.cfg, ...) are missing.
    assert!(p
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::MissingFile && w.detail.contains("gtk.cfg")));
}

fn live_build_grub_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("/boot/grub/grub.cfg", fixture!("live-build/grub.cfg")),
        ("/boot/grub/config.cfg", fixture!("live-build/config.cfg")),
        ("/boot/grub/theme.cfg", fixture!("live-build/theme.cfg")),
        ("/boot/grub/install.cfg", fixture!("live-build/install.cfg")),
        ("/boot/grub/install_start.cfg", fixture!("live-build/install_start.cfg")),
        ("/boot/grub/loopback.cfg", fixture!("live-build/loopback.cfg")),
    ]
}

#[test]
fn live_build_grub_and_loopback() {
    let files = live_build_grub_files();
    let p = parse_grub("/boot/grub/grub.cfg", &[("prefix", "/boot/grub")], fs(&files));
    assert_eq!(p.initrd_paths(), ["/live/initrd.img-6.1.0-27-amd64", "/install/initrd.gz"]);
    let live = &p.entries[0];
    assert_eq!(live.title.as_deref(), Some("Live system (amd64)"));
    assert_eq!(live.kernel.as_deref(), Some("/live/vmlinuz-6.1.0-27-amd64"));
    assert_eq!(live.cmdline, "boot=live components quiet splash findiso=${iso_path}");
    // iso_path is set by whoever loop-mounts the ISO: reported, kept literally.
    assert!(p
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::UnresolvedVariable && w.detail.contains("iso_path")));
    // memtest.cfg was removed by live-build (no memtest): a missing include.
    assert!(
        p.warnings
            .iter()
            .any(|w| w.kind == WarningKind::MissingFile
                && w.detail.contains("/boot/grub/memtest.cfg"))
    );
    // theme.cfg is sourced several times; not a loop.
    assert!(!kinds(&p).contains(&WarningKind::IncludeLoop));
    let install =
        p.entries.iter().filter(|e| e.kernel.as_deref() == Some("/install/vmlinuz")).count();
    assert_eq!(install, 9);

    // loopback.cfg sources grub.cfg: the same entries.
    let q = parse_grub("/boot/grub/loopback.cfg", &[("prefix", "/boot/grub")], fs(&files));
    assert_eq!(q.initrd_paths(), p.initrd_paths());
    assert_eq!(q.entries, p.entries);
}

#[test]
fn live_build_isolinux() {
    let files = [
        ("/isolinux/isolinux.cfg", fixture!("live-build/isolinux.cfg")),
        ("/isolinux/menu.cfg", fixture!("live-build/menu.cfg")),
        ("/isolinux/live.cfg", fixture!("live-build/live.cfg")),
        ("/isolinux/install_text.cfg", fixture!("live-build/install_text.cfg")),
        ("/isolinux/utilities.cfg", fixture!("live-build/utilities.cfg")),
        ("/isolinux/stdmenu.cfg", fixture!("live-build/stdmenu.cfg")),
    ];
    let p = parse_syslinux("/isolinux/isolinux.cfg", "/isolinux", fs(&files));
    assert!(p.warnings.is_empty(), "{:#?}", p.warnings);
    assert_eq!(p.initrd_paths(), ["/live/initrd.img-6.1.0-27-amd64", "/install/initrd.gz"]);
    assert_eq!(p.entries[0].title.as_deref(), Some("Live system (amd64)"));
    assert_eq!(p.entries[0].cmdline, "boot=live components quiet splash");
    assert_eq!(p.entries[0].source, "/isolinux/live.cfg");
    // hdt.c32 (COM32) is no Linux entry; vesamenu.c32 as DEFAULT neither.
    assert!(p.entries.iter().all(|e| !e.kernel.as_deref().unwrap().ends_with(".c32")));
    assert_eq!(p.entries.len(), 2 + 1 + 8);
}

#[test]
fn grub_syntax_details() {
    let cfg = r#"
set root=(cd0)
set base=/casper ; set kver="6.8.0"
live_dir=${base}
# a comment with linux /nope initrd /nope
menuentry "Try or Install" --class ubuntu {
    linux ($root)$live_dir/vmlinuz-$kver boot=casper 'quoted arg' "x=$kver" ---
    initrdefi (cd0)${base}/initrd.lz "/casper/with space.img" \
        /casper/extra.img
}
menuentry 'safe' { linuxefi /casper/vmlinuz nomodeset; initrd16 /casper/initrd.lz }
if [ "$grub_platform" = "efi" ]; then initrd /efi/only.img; fi
menuentry 'unknown' {
  linux /boot/$arch/vmlinuz
  initrd /boot/$arch/initrd /boot/${undefined}.img
}
set multi=a
set multi=b
menuentry 'multi' { linux /k initrd=$multi ; initrd /m/$multi }
menuentry "brace}in title" {
  linux /k2
  initrd /i2 --nounzip
}
"#;
    let p = parse_grub("/boot/grub/grub.cfg", &[], fs(&[("/boot/grub/grub.cfg", cfg)]));
    let e = &p.entries[0];
    assert_eq!(e.title.as_deref(), Some("Try or Install"));
    assert_eq!(e.kernel.as_deref(), Some("/casper/vmlinuz-6.8.0"));
    assert_eq!(e.cmdline, "boot=casper quoted arg x=6.8.0 ---");
    assert_eq!(e.initrds, ["/casper/initrd.lz", "/casper/with space.img", "/casper/extra.img"]);
    assert_eq!(p.entries[1].kernel.as_deref(), Some("/casper/vmlinuz"));
    assert_eq!(p.entries[1].initrds, ["/casper/initrd.lz"]);
    // An initrd outside any menuentry still counts.
    assert_eq!(p.entries[2].kernel, None);
    assert_eq!(p.entries[2].initrds, ["/efi/only.img"]);
    // Unresolved: kept literally and reported.
    assert_eq!(p.entries[3].kernel.as_deref(), Some("/boot/${arch}/vmlinuz"));
    assert_eq!(p.entries[3].initrds, ["/boot/${arch}/initrd", "/boot/${undefined}.img"]);
    let unresolved: Vec<&str> = p
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::UnresolvedVariable)
        .map(|w| w.detail.as_str())
        .collect();
    assert!(unresolved.iter().any(|d| d.contains("${arch}")), "{unresolved:?}");
    assert!(unresolved.iter().any(|d| d.contains("${undefined}")), "{unresolved:?}");
    // A variable set to two values is not guessed.
    assert_eq!(p.entries[4].initrds, ["/m/${multi}"]);
    assert_eq!(p.entries[5].title.as_deref(), Some("brace}in title"));
    assert_eq!(p.entries[5].initrds, ["/i2"]);
    assert!(p.warnings.iter().all(|w| w.line > 0 && w.file == "/boot/grub/grub.cfg"));
    assert_eq!(p.warnings.iter().find(|w| w.detail.contains("${arch}")).unwrap().line, 14);
}

#[test]
fn grub_includes_loops_and_limits() {
    let files = [
        ("/a.cfg", "source /b.cfg\nconfigfile ($root)/c.cfg\n. /missing.cfg\nsource $prefix/d.cfg\nsource $nowhere/e.cfg"),
        ("/b.cfg", "source /a.cfg\nmenuentry b { linux /kb\ninitrd /ib }"),
        ("/c.cfg", "menuentry c { linux /kc\ninitrd /ic }"),
        ("/p/d.cfg", "menuentry d { linux /kd\ninitrd /id }"),
    ];
    let p = parse_grub("/a.cfg", &[("prefix", "/p")], fs(&files));
    assert_eq!(p.initrd_paths(), ["/ib", "/ic", "/id"]);
    let k = kinds(&p);
    assert!(k.contains(&WarningKind::IncludeLoop));
    assert!(k.contains(&WarningKind::MissingFile));
    assert!(k.contains(&WarningKind::UnresolvedVariable));
    let loop_w = p.warnings.iter().find(|w| w.kind == WarningKind::IncludeLoop).unwrap();
    assert_eq!((loop_w.file.as_str(), loop_w.line), ("/b.cfg", 1));
    assert!(loop_w.to_string().contains("/b.cfg:1: include loop"));

    // A file sourcing itself through a long chain of distinct names stops at the limits.
    let mut n = 0usize;
    let p = parse_grub("/0.cfg", &[], |path: &str| {
        n += 1;
        let i: usize = path.trim_start_matches('/').trim_end_matches(".cfg").parse().ok()?;
        Some(alloc::format!("source /{}.cfg\nsource /{}.cfg\n", i + 1, i + 1000).into_bytes())
    });
    assert!(kinds(&p).contains(&WarningKind::Limit));
    assert!(p.files.len() <= MAX_FILES);
    assert!(n <= MAX_FILES + 1);
}

#[test]
fn grub_prefix_set_by_the_configuration() {
    // As in GRUB EFI images' embedded configurations: `search` sets root, then prefix.
    let files = [
        ("/EFI/BOOT/grub.cfg", "search --file --set=root /.disk/id\nset prefix=($root)/boot/grub\nsource $prefix/x86_64-efi/grub.cfg\n"),
        ("/boot/grub/x86_64-efi/grub.cfg", "source ${prefix}/grub.cfg"),
        ("/boot/grub/grub.cfg", "menuentry a { linux $prefix/../../live/k\n initrd ($root)/live/i }"),
    ];
    let p =
        parse_grub("/EFI/BOOT/grub.cfg", &[("prefix", "/EFI/BOOT"), ("root", "cd0")], fs(&files));
    assert_eq!(p.files.len(), 3, "{:#?}", p);
    assert_eq!(p.entries[0].kernel.as_deref(), Some("/live/k"));
    assert_eq!(p.initrd_paths(), ["/live/i"]);
    assert!(p.warnings.is_empty(), "{:#?}", p.warnings);
}

#[test]
fn syslinux_details() {
    let cfg = "DEFAULT vmlinuz initrd=/boot/a.gz,b.gz quiet\n\
               APPEND global=1\n\
               Label one\n  KERNEL /boot/vmlinuz\n  INITRD i1.gz,/abs/i2.gz\n\
               LABEL two\n  linux k2\n  append initrd=x.gz foo initrd=y.gz,z.gz\n\
               label three\n  kernel memdisk\n  append initrd=floppy.img\n\
               LABEL four\n  COM32 hdt.c32\n\
               label five\n  kernel /boot/k5 root=/dev/sr0\n\
               MENU INCLUDE sub/more.cfg Title\n\
               include ../up.cfg\n";
    let files = [
        ("/isolinux/isolinux.cfg", cfg),
        ("/isolinux/sub/more.cfg", "label six\nkernel k6\ninitrd i6"),
        ("/up.cfg", "label seven\nkernel /k7\nappend initrd=/i7 x=$y"),
    ];
    let p = parse_syslinux("/isolinux/isolinux.cfg", "/isolinux", fs(&files));
    type Row<'a> = (&'a str, Option<&'a str>, Vec<&'a str>, &'a str);
    let got: Vec<Row> = p
        .entries
        .iter()
        .map(|e| {
            (
                e.title.as_deref().unwrap(),
                e.kernel.as_deref(),
                e.initrds.iter().map(String::as_str).collect(),
                e.cmdline.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("one", Some("/boot/vmlinuz"), vec!["/isolinux/i1.gz", "/abs/i2.gz"], "global=1"),
            (
                "two",
                Some("/isolinux/k2"),
                vec!["/isolinux/y.gz", "/isolinux/z.gz"],
                "initrd=x.gz foo initrd=y.gz,z.gz"
            ),
            ("five", Some("/boot/k5"), vec![], "root=/dev/sr0"),
            ("six", Some("/isolinux/k6"), vec!["/isolinux/i6"], "global=1"),
            ("seven", Some("/k7"), vec!["/i7"], "initrd=/i7 x=$y"),
            (
                "vmlinuz",
                Some("/isolinux/vmlinuz"),
                vec!["/boot/a.gz", "/isolinux/b.gz"],
                "initrd=/boot/a.gz,b.gz quiet"
            ),
        ]
    );
    assert_eq!(kinds(&p), [WarningKind::UnresolvedVariable]);
}

#[test]
fn systemd_boot_entries() {
    // The layout of archiso's loader entries.
    let conf = b"title    Arch Linux install medium (x86_64, UEFI)\n\
                 sectype  linux\n\
                 linux    /arch/boot/x86_64/vmlinuz-linux\n\
                 initrd   /arch/boot/intel-ucode.img\n\
                 initrd   /arch/boot/x86_64/initramfs-linux.img\n\
                 options  archisobasedir=arch\n\
                 options  archisolabel=ARCH_202401\n";
    let e = parse_systemd_boot_entry("/loader/entries/01-archiso.conf", conf).unwrap();
    assert_eq!(e.title.as_deref(), Some("Arch Linux install medium (x86_64, UEFI)"));
    assert_eq!(e.kernel.as_deref(), Some("/arch/boot/x86_64/vmlinuz-linux"));
    assert_eq!(e.initrds, ["/arch/boot/intel-ucode.img", "/arch/boot/x86_64/initramfs-linux.img"]);
    assert_eq!(e.cmdline, "archisobasedir=arch archisolabel=ARCH_202401");
    assert_eq!(parse_systemd_boot_entry("/x.conf", b"title memtest\nefi /memtest.efi\n"), None);
}

#[test]
fn paths_are_normalised() {
    assert_eq!(normalize_path("(hd0,msdos1)/boot//x/./y/../z"), "/boot/x/z");
    assert_eq!(normalize_path("\\EFI\\BOOT\\grub.cfg"), "/EFI/BOOT/grub.cfg");
    assert_eq!(normalize_path("../../.."), "/");
    assert_eq!(normalize_path("(unclosed/x"), "/(unclosed/x");
    assert_eq!(join("/isolinux", "../live/x"), "/live/x");
}

#[test]
fn never_panics_on_garbage() {
    let seeds = [
        fixture!("debian-installer-12/grub.cfg").as_bytes(),
        fixture!("live-build/install_text.cfg").as_bytes(),
        b"menuentry \"x\" { linux ${a${b}} \"unterminated $ 'q\n} } } {{{ \\",
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for seed in seeds {
        for _ in 0..200 {
            let mut data = seed.to_vec();
            for _ in 0..1 + next() % 16 {
                if data.is_empty() {
                    break;
                }
                let at = (next() % data.len() as u64) as usize;
                const SPECIAL: &[u8] = b"{}\"'\\$;\n #=()/";
                data[at] = SPECIAL[(next() % SPECIAL.len() as u64) as usize];
            }
            let d2 = data.clone();
            let _ = parse_grub("/g.cfg", &[], |_| Some(data.clone()));
            let _ = parse_syslinux("/s.cfg", "/", |_| Some(d2.clone()));
            let _ = parse_systemd_boot_entry("/e.conf", &d2);
        }
    }
}

#[test]
fn hostile_sizes_are_bounded() {
    // Variables doubling in size: expansion is capped (and cut on a char boundary).
    let mut cfg = String::from("set v0=é\n");
    for i in 1..40 {
        cfg.push_str(&alloc::format!("set v{i}=${{v{}}}${{v{}}}é\n", i - 1, i - 1));
    }
    cfg.push_str("menuentry x { linux /k $v39\n initrd /i$v39 }\n");
    let p = parse_grub("/g.cfg", &[], fs(&[("/g.cfg", cfg.as_str())]));
    assert!(p.entries[0].cmdline.len() <= 2 * MAX_WORD);
    assert!(p.entries[0].initrds[0].len() <= 2 * MAX_WORD);
    // Huge files are refused; many large includes stop at the byte budget.
    let big = alloc::vec![b'#'; MAX_FILE_SIZE as usize + 1];
    let p = parse_grub("/g.cfg", &[], |_| Some(big.clone()));
    assert_eq!(kinds(&p), [WarningKind::Limit]);
    let p = parse_syslinux("/0.cfg", "/", |path: &str| {
        let i: usize = path.trim_start_matches('/').trim_end_matches(".cfg").parse().ok()?;
        let mut d = alloc::format!("include /{}.cfg\n", i + 1).into_bytes();
        d.resize(MAX_FILE_SIZE as usize, b'#');
        Some(d)
    });
    assert!(kinds(&p).contains(&WarningKind::Limit));
    assert!(p.files.len() as u64 <= MAX_TOTAL_BYTES / MAX_FILE_SIZE);
}

#[test]
fn find_boot_entries_on_a_hand_made_iso() {
    use crate::block::MemDevice;
    use crate::iso9660::test_image::*;
    // / BOOT/ GRUB/ GRUB.CFG ; LIVE/ INITRD.GZ
    let cfg = b"menuentry x {\n linux /live/vmlinuz boot=live\n initrd /live/initrd.gz /live/missing.gz\n}\n";
    let mut img = Img::new(40);
    img.pvd(16, "T", 40, LIVE_ROOT, 2048);
    img.joliet_svd(17, "T", 40, 30, 2048);
    img.terminator(18);
    live_tree(&mut img, cfg);
    // Joliet tree: / live/ initrd.gz (no config: loaded through the primary tree)
    img.dir(
        30,
        &[
            dot(30, 2048),
            dotdot(30, 2048),
            record(&ucs2("live"), 31, 2048, crate::iso9660::flags::DIRECTORY, &[]),
        ],
    );
    img.dir(31, &[dot(31, 2048), dotdot(30, 2048), record(&ucs2("initrd.gz;1"), 26, 5, 0, &[])]);
    let mut dev = MemDevice::from_vec(img.data.clone());
    let r = find_boot_entries(&mut dev).unwrap();
    assert_eq!(r.files, ["/boot/grub/grub.cfg"]);
    assert_eq!(r.entries.len(), 1);
    assert_eq!(r.initrds.len(), 1);
    let i = &r.initrds[0];
    assert_eq!((i.path.as_str(), i.size), ("/live/initrd.gz", 5));
    assert_eq!(i.records.len(), 2);
    assert_eq!(i.records[0].tree, TreeKind::Primary);
    assert_eq!(i.records[1].tree, TreeKind::Joliet);
    for r in &i.records {
        assert_eq!(r.lba, 26);
        let mut b = [0u8; 4];
        dev.read_at(r.record_offset + crate::iso9660::RECORD_EXTENT_FIELD, &mut b).unwrap();
        assert_eq!(u32::from_le_bytes(b), 26);
    }
    assert_eq!(i.records[0].record_offset / 2048, 23);
    assert_eq!(i.records[1].record_offset / 2048, 31);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::MissingFile && w.detail.contains("/live/missing.gz")));
    // Not an ISO: an error.
    assert!(find_boot_entries(&mut MemDevice::new(4096)).is_err());

    // Damaged copies: errors or warnings, never panics.
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..300 {
        let mut data = img.data.clone();
        for _ in 0..1 + next() % 8 {
            let sector = [16u64, 17, 20, 21, 22, 23, 25, 30, 31][(next() % 9) as usize];
            let at = (sector * 2048 + next() % 200) as usize;
            data[at] = next() as u8;
        }
        let _ = find_boot_entries(&mut MemDevice::from_vec(data));
    }
}

#[test]
fn live_build_cpuid_autodetect_entry() {
    // What live-build's Grub_live_autodetect_menu_entry writes for amd64 + 686 images.
    let cfg = "menuentry \"Live system (autodetect)\" {\n\tif cpuid -l; then\n\t\tlinux /live/vmlinuz-amd64 boot=live\n\t\tinitrd /live/initrd.img-amd64\n\telse\n\t\tlinux /live/vmlinuz-686 boot=live\n\t\tinitrd /live/initrd.img-686\n\tfi\n}\n";
    let p = parse_grub("/boot/grub/grub.cfg", &[], fs(&[("/boot/grub/grub.cfg", cfg)]));
    assert_eq!(p.entries.len(), 2);
    assert_eq!(p.entries[1].kernel.as_deref(), Some("/live/vmlinuz-686"));
    assert_eq!(p.entries[1].initrds, ["/live/initrd.img-686"]);
    assert_eq!(p.entries[1].title.as_deref(), Some("Live system (autodetect)"));
    assert_eq!(p.initrd_paths(), ["/live/initrd.img-amd64", "/live/initrd.img-686"]);
}
