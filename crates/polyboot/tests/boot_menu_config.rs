//! The boot menu's Ventoy configuration features (issue 17), end to end under OVMF and
//! SeaBIOS: one drive made by `polyboot install` + `add` with a ventoy.json (tree view,
//! aliases, tips, classes, a blacklist, menupwd passwords) and a polyboot.json
//! (`verify_before_boot`), driven by keystrokes; every check reads what the guest printed on
//! the serial console (the BIOS menu's transcript lines, the UEFI menu as OVMF's terminal
//! mirrors it: each row starts after a cursor-position escape, the selected one after the
//! inverse-video colour escape).
//!
//! Every image is a copy of one 4 MiB disk image that boots under both firmwares: a GPT disk
//! whose ESP (FAT, made by mtools) holds iPXE's EFI build, and whose protective MBR carries
//! boot code printing `polyboot-test: booted <its path>` on COM1. Under OVMF iPXE runs
//! (its marker on serial), finds no network and returns to the menu, so one VM does every
//! check; under SeaBIOS a booted image keeps the machine, so the VM is reset between boots.

mod common;
use common::{choose, polyboot, BACK_TO_MENU};
use polyboot_tests::{artifacts, fixtures, run_tool, Disk, Firmware, Vm, VmConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One guest at a time: with two TCG guests on a two-core machine, OVMF's serial console
/// loses parts of the menu's redraws (each test takes seconds to half a minute alone).
static ONE_VM: Mutex<()> = Mutex::new(());

const TXT_PASSWORD: &str = "opensesame";
const MD5_PASSWORD: &str = "letmein";
const MD5_SALT: &str = "pb17";
/// Every image on the drive (the blacklisted one excluded).
const IMAGES: usize = 7;

/// What the boot code of the image at `path` prints.
fn boot_marker(path: &str) -> String {
    format!("polyboot-test: booted {path}")
}

/// A 4 MiB GPT disk whose ESP (sectors 2048..6144, FAT made by mtools) holds iPXE's EFI
/// build as `\EFI\BOOT\BOOTX64.EFI`; the protective MBR's code area is filled per copy by
/// [`with_boot_marker`].
fn dual_boot_disk(dir: &Path) -> Vec<u8> {
    let path = dir.join("dual.img");
    std::fs::File::create(&path).unwrap().set_len(4 << 20).unwrap();
    let esp = "start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP";
    fixtures::sfdisk(&path, &format!("label: gpt\n{esp}\n")).unwrap_or_else(|e| panic!("{e:#}"));
    let part = format!("{}@@1M", path.display());
    for args in [
        &["mformat", "-T", "4096", "-h", "64", "-s", "32", "::"][..],
        &["mmd", "::/EFI", "::/EFI/BOOT"],
        &["mcopy", artifacts::IPXE_EFI, "::/EFI/BOOT/BOOTX64.EFI"],
    ] {
        run_tool(Command::new(args[0]).args(["-i", &part]).args(&args[1..]))
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
    std::fs::read(&path).unwrap()
}

/// `disk` with MBR code that prints [`boot_marker`]`(path)` (the code of
/// [`fixtures::floppy_image`]; the partition table and signature are kept).
fn with_boot_marker(disk: &[u8], path: &str) -> Vec<u8> {
    let code = fixtures::floppy_image(&boot_marker(path));
    let mut out = disk.to_vec();
    out[..440].copy_from_slice(&code[..440]);
    assert_eq!(out[510..512], [0x55, 0xAA]);
    out
}

/// The digest coreutils' `tool` (sha256sum, md5sum) prints for `bytes`.
fn hex_digest(tool: &str, bytes: &[u8]) -> String {
    let out = String::from_utf8(fixtures::pipe(tool, &[], bytes)).unwrap();
    out.split_whitespace().next().unwrap().to_string()
}

/// A drive with the configuration under test:
///
/// ```text
/// /linux/debian-live.img   [linux] (menu_class parent)   dir /linux aliased "Distributions"
/// /linux/old-hidden.img    image_blacklist
/// /tools/netboot.img       alias "Network boot (iPXE)", menu_tip
/// /tools/rescue-kit.img    [rescue] (menu_class key)
/// /checked/good.img        verify_before_boot (polyboot.json), sidecar right
/// /checked/bad.img         verify_before_boot, good.img with 16 bytes changed, sidecar of good.img
/// /locked/plain.img        menupwd txt#
/// /locked/hashed.img       menupwd md5#salt#hex
/// ```
///
/// VTOY_DEFAULT_MENU_MODE is "1" (tree view).
fn config_drive(dir: &Path) -> PathBuf {
    let drive = dir.join("drive.img");
    let d = drive.to_str().unwrap();
    polyboot(&["install", d, "--size", "256M", "--yes"]);
    let base = dual_boot_disk(dir);
    let groups: [(&str, &[&str]); 4] = [
        ("linux", &["debian-live.img", "old-hidden.img"]),
        ("tools", &["netboot.img", "rescue-kit.img"]),
        ("checked", &["good.img", "bad.img"]),
        ("locked", &["plain.img", "hashed.img"]),
    ];
    let good = with_boot_marker(&base, "/checked/good.img");
    let good_sha = hex_digest("sha256sum", &good);
    for (group, names) in groups {
        let src = dir.join(group);
        std::fs::create_dir_all(&src).unwrap();
        let mut files = Vec::new();
        for name in names {
            let path = format!("/{group}/{name}");
            let bytes = match path.as_str() {
                "/checked/good.img" => good.clone(),
                "/checked/bad.img" => {
                    // The good copy with 16 bytes flipped inside the ESP: a corrupted download.
                    let mut bad = good.clone();
                    for b in &mut bad[(2 << 20) + 12345..][..16] {
                        *b ^= 0xFF;
                    }
                    bad
                }
                _ => with_boot_marker(&base, &path),
            };
            let file = src.join(name);
            std::fs::write(&file, &bytes).unwrap();
            files.push(file);
        }
        let mut args = vec!["add", "-q", d, "--to", group];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        polyboot(&args);
    }
    // `add` wrote each file's own hash beside it; bad.img gets the original's instead.
    polyboot(&["rm", d, "/checked/bad.img.sha256"]);
    let sidecar_dir = dir.join("sidecar");
    std::fs::create_dir_all(&sidecar_dir).unwrap();
    let sidecar = sidecar_dir.join("bad.img.sha256");
    std::fs::write(&sidecar, format!("{good_sha}  bad.img\n")).unwrap();
    polyboot(&["add", "-q", d, "--to", "checked", sidecar.to_str().unwrap()]);

    let md5 = hex_digest("md5sum", format!("{MD5_SALT}{MD5_PASSWORD}").as_bytes());
    let ventoy = serde_json::json!({
        "control": [ { "VTOY_DEFAULT_MENU_MODE": "1" } ],
        "menu_alias": [
            { "image": "/tools/netboot.img", "alias": "Network boot (iPXE)" },
            { "dir": "/linux", "alias": "Distributions" }
        ],
        "menu_tip": { "tips": [
            { "image": "/tools/netboot.img", "tip": "Starts iPXE, which needs a network" }
        ] },
        "menu_class": [
            { "key": "rescue", "class": "rescue" },
            { "parent": "/linux", "class": "linux" }
        ],
        "image_blacklist": [ "/linux/old-hidden.img" ],
        "password": { "menupwd": [
            { "file": "/locked/plain.img", "pwd": format!("txt#{TXT_PASSWORD}") },
            { "file": "/locked/hashed.img", "pwd": format!("md5#{MD5_SALT}#{md5}") }
        ] }
    });
    let polyboot_json = serde_json::json!({ "menu": { "verify_before_boot": ["/checked"] } });
    for (name, to, value) in
        [("ventoy.json", "ventoy", ventoy), ("polyboot.json", "polyboot", polyboot_json)]
    {
        let file = dir.join(name);
        std::fs::write(&file, serde_json::to_string_pretty(&value).unwrap()).unwrap();
        polyboot(&["add", "-q", d, "--to", to, file.to_str().unwrap()]);
    }
    drive
}

/// The menu in a VM, read from the serial console.
struct Guest {
    vm: Vm,
    firmware: Firmware,
    started: Instant,
    _one: MutexGuard<'static, ()>,
}

impl Guest {
    /// Boot `drive` (attached as a USB stick) and wait until the menu is drawn.
    fn boot(name: &str, firmware: Firmware, drive: &Path) -> Guest {
        let one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let vm = Vm::start(
            VmConfig::new(name, firmware)
                .disk(Disk::new(drive).usb())
                .timeout(Duration::from_secs(300)),
        )
        .unwrap();
        let mut guest = Guest { vm, firmware, started, _one: one };
        guest.wait_menu(0);
        let ready = guest.ready();
        let console = guest.vm.serial_text();
        let line = console.lines().find(|l| l.contains(ready)).unwrap().trim().to_string();
        assert!(
            line.contains(&format!("{ready} {IMAGES} images")),
            "the blacklisted image is not counted: {line}"
        );
        guest
    }

    fn ready(&self) -> &'static str {
        match self.firmware {
            Firmware::Uefi => "polyboot: menu ready:",
            Firmware::Bios => "polyboot-bios: menu ready:",
        }
    }

    /// Wait for the menu (after byte `from`): its ready line, then the end of its first draw.
    fn wait_menu(&mut self, from: usize) {
        let ready = self.ready().to_string();
        self.see_menu(from, &[ready]);
    }

    fn mark(&self) -> usize {
        self.vm.serial_len()
    }

    #[track_caller]
    fn wait(&mut self, from: usize, marker: &str) {
        if let Err(e) = self.vm.wait_for_after(marker, from) {
            panic!("{e:#}");
        }
    }

    /// The console after byte `from`.
    fn since(&self, from: usize) -> String {
        let text = self.vm.serial_text();
        let mut at = from.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text[at..].to_string()
    }

    /// The selected row showing `text`.
    fn selected(&self, text: &str) -> String {
        match self.firmware {
            Firmware::Uefi => format!("\x1b[47m  {text}"),
            Firmware::Bios => format!("polyboot-bios: menu: > {text}"),
        }
    }

    /// A row showing `text`, not selected.
    fn row(&self, text: &str) -> String {
        match self.firmware {
            Firmware::Uefi => format!("H  {text}"),
            Firmware::Bios => format!("polyboot-bios: menu:   {text}"),
        }
    }

    /// A line of the menu (header, tip or info line) starting with `text`.
    fn line(&self, text: &str) -> String {
        match self.firmware {
            Firmware::Uefi => format!("H{text}"),
            Firmware::Bios => format!("polyboot-bios: menu: {text}"),
        }
    }

    fn tip(&self, text: &str) -> String {
        match self.firmware {
            Firmware::Uefi => format!("H{text}"),
            Firmware::Bios => format!("polyboot-bios: menu: tip: {text}"),
        }
    }

    fn info(&self, text: &str) -> String {
        match self.firmware {
            Firmware::Uefi => format!("H{text}"),
            Firmware::Bios => format!("polyboot-bios: menu: info: {text}"),
        }
    }

    /// What a redraw of the menu prints last: the start of the keys line (OVMF), the info
    /// line (BIOS).
    fn redrawn(&self) -> String {
        match self.firmware {
            Firmware::Uefi => String::from("H/ search  F2 details"),
            Firmware::Bios => self.info(""),
        }
    }

    /// Where `marker` first appears after byte `from`, waiting at most `secs` seconds.
    fn appears(&self, from: usize, marker: &str, secs: u64) -> Option<usize> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(at) = self.since(from).find(marker) {
                return Some(from + at);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for each of `expect` (in any order) after byte `from`, then for the end of the
    /// redraw that holds the last of them, so that the next step sees only its own output.
    /// That end is not required: OVMF's serial console sometimes loses the tail of a long
    /// redraw when the host is busy (see `common::back_to_menu`), and the markers were seen.
    #[track_caller]
    fn see_menu(&mut self, from: usize, expect: &[String]) {
        for marker in expect {
            self.wait(from, marker);
        }
        let seen = self.since(from);
        let start = from + expect.iter().map(|m| seen.find(m.as_str()).unwrap()).max().unwrap_or(0);
        let last = self.redrawn();
        let end = self.appears(start, &last, 10).and_then(|at| {
            self.appears(at, if self.firmware == Firmware::Bios { "\n" } else { "" }, 2)
        });
        if end.is_none() {
            eprintln!("{:?}: the end of the redraw after {expect:?} was not seen", self.firmware);
        }
    }

    /// Type `input` on the serial console, then [`see_menu`](Self::see_menu) `expect`.
    /// Returns where the output of this step starts.
    #[track_caller]
    fn type_and_see(&mut self, input: &[u8], expect: &[String]) -> usize {
        let from = self.mark();
        self.vm.send_serial(input).unwrap();
        self.see_menu(from, expect);
        from
    }

    /// Press `key` (QEMU sendkey), then [`see_menu`](Self::see_menu) `expect`.
    #[track_caller]
    fn key_and_see(&mut self, key: &str, expect: &[String]) -> usize {
        let from = self.mark();
        self.vm.send_key(key).unwrap();
        self.see_menu(from, expect);
        from
    }

    /// Press `key`, then wait for `message` (a message outside the menu).
    #[track_caller]
    fn key_then(&mut self, key: &str, message: &str) {
        let from = self.mark();
        self.vm.send_key(key).unwrap();
        self.wait(from, message);
    }

    /// Start a search for `text` (not pressing Enter) and wait until `selected` is selected.
    #[track_caller]
    fn search(&mut self, text: &str, selected: &str) {
        let want = [self.line(&format!("search: {text}_")), self.selected(selected)];
        self.type_and_see(format!("/{text}").as_bytes(), &want);
    }

    /// End a search (Esc) and wait for the header of the tree view.
    #[track_caller]
    fn end_search(&mut self) {
        let want = [self.line("/  -  letters jump, / searches, Enter opens or boots")];
        self.key_and_see("esc", &want);
    }

    /// Dismiss a message shown after an action (any key), wait for the menu, end the search.
    #[track_caller]
    fn back_to_menu(&mut self) {
        let from = self.mark();
        self.vm.send_serial(b" ").unwrap();
        let back = match self.firmware {
            Firmware::Uefi => vec![String::from(BACK_TO_MENU)],
            Firmware::Bios => Vec::new(),
        };
        self.see_menu(from, &back);
        self.end_search();
    }

    /// Search for `search`, press Enter and wait for the password prompt for `path`; type
    /// `password` and Enter.
    #[track_caller]
    fn enter_password(&mut self, search: &str, path: &str, password: &str) -> usize {
        let from = self.mark();
        choose(&mut self.vm, search);
        let prompt = self.line(&format!("password for {path}: _  (Esc cancels)"));
        self.wait(from, &prompt);
        let from = self.mark();
        self.vm.send_serial(format!("{password}\r").as_bytes()).unwrap();
        from
    }

    /// The image at `path` boots (after byte `from`): polyboot's boot line, then the image's
    /// marker (iPXE under OVMF; the image's MBR code under SeaBIOS).
    #[track_caller]
    fn boots(&mut self, from: usize, path: &str) {
        match self.firmware {
            Firmware::Uefi => {
                self.wait(from, &format!("polyboot: booting {path}"));
                self.wait(from, artifacts::IPXE_MARKER);
            }
            Firmware::Bios => {
                self.wait(from, &format!("polyboot-bios: booting {path}: disk image"));
                self.wait(from, &boot_marker(path));
            }
        }
    }

    /// After the boot that started at byte `from`: back to the menu (OVMF: iPXE returns, a
    /// key dismisses the message; SeaBIOS: the machine is reset).
    #[track_caller]
    fn after_boot(&mut self, from: usize) {
        match self.firmware {
            Firmware::Uefi => {
                self.wait(from, "returned");
                self.vm.send_serial(b" ").unwrap();
                self.wait(from, BACK_TO_MENU);
                self.end_search();
            }
            Firmware::Bios => {
                let from = self.mark();
                self.vm.monitor("system_reset").unwrap();
                self.wait_menu(from);
            }
        }
    }

    /// `text` is on the screen (OCR, lines joined with spaces; a few tries).
    #[track_caller]
    fn screen_shows(&self, text: &str) {
        let mut seen = String::new();
        for attempt in 0..5 {
            let ocr = self.vm.screen_text(&format!("screen-{attempt}")).unwrap();
            seen = ocr.split_whitespace().collect::<Vec<_>>().join(" ");
            if seen.contains(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("{text:?} is not on the screen of {:?}; OCR read:\n{seen}", self.firmware);
    }

    fn done(self, what: &str) {
        eprintln!("{what}: {:?}", self.started.elapsed());
    }
}

/// Tree view, aliases, tips, classes, the blacklist, letter jumps and the search across the
/// tree, under `firmware`.
fn tree_aliases_tips_classes_blacklist_jump_search(firmware: Firmware, vm_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let drive = config_drive(dir.path());
    let mut g = Guest::boot(vm_name, firmware, &drive);
    // Tree view: the directories between the root and the images are the entries; /linux
    // shows its alias.
    let console = g.since(0);
    let menu = &console[console.find(g.ready()).unwrap()..];
    let header = g.line("/  -  letters jump, / searches, Enter opens or boots");
    assert!(menu.contains(&header), "tree view header:\n{menu}");
    for dir in ["Distributions/", "tools/", "checked/", "locked/"] {
        assert!(
            menu.contains(&g.row(dir)) || menu.contains(&g.selected(dir)),
            "directory {dir} listed:\n{menu}"
        );
    }
    assert!(!menu.contains("linux/"), "/linux is shown by its alias:\n{menu}");
    assert!(!menu.contains(".img"), "the root lists directories only:\n{menu}");

    // Letters jump to the next entry whose *shown* name starts with them: "d" is /linux
    // (alias "Distributions"), "l" is /locked (not /linux).
    let want = [g.selected("Distributions/"), g.info("directory /linux: Enter opens it")];
    g.type_and_see(b"d", &want);
    let want = [g.selected("tools/"), g.info("directory /tools: Enter opens it")];
    g.type_and_see(b"t", &want);
    let want = [g.selected("locked/"), g.info("directory /locked: Enter opens it")];
    g.type_and_see(b"l", &want);

    // Enter opens /linux: "..", its image by name with its class; the blacklisted one is
    // not there.
    g.type_and_see(b"d", &[g.selected("Distributions/")]);
    let want = [
        g.line("/linux  -  letters jump"),
        g.row(".."),
        g.selected("debian-live.img  [linux]"),
        g.info("debian-live.img  4.0 MiB"),
    ];
    let from = g.type_and_see(b"\r", &want);
    let seen = g.since(from);
    assert!(!seen.contains("old-hidden"), "the blacklisted image is listed:\n{seen}");
    assert!(!seen.contains("/linux/debian-live.img  [linux]"), "tree view shows names:\n{seen}");

    // Back up (Esc), into /tools: the alias replaces the name; the tip is shown while the
    // aliased image is selected, and only then.
    g.key_and_see("esc", &[g.line("/  -  letters jump"), g.selected("Distributions/")]);
    g.type_and_see(b"t", &[g.selected("tools/")]);
    let tip = g.tip("Starts iPXE, which needs a network");
    g.type_and_see(b"\r", &[g.line("/tools  -  letters jump")]);
    let want = [g.selected("rescue-kit.img  [rescue]"), g.info("rescue-kit.img  4.0 MiB")];
    let from = g.type_and_see(b"r", &want);
    let seen = g.since(from);
    assert!(!seen.contains("Starts iPXE"), "a tip without its image selected:\n{seen}");
    assert!(
        seen.contains(&g.row("Network boot (iPXE)")) && !seen.contains(&g.row("netboot.img")),
        "the alias replaces the name:\n{seen}"
    );
    let want = [g.selected("Network boot (iPXE)"), tip, g.info("netboot.img  4.0 MiB")];
    g.type_and_see(b"n", &want);

    // "/" searches the whole tree from here: a name in another directory is found (shown by
    // its path, with its class); an alias is matched too; the blacklisted image is not.
    g.search("debian", "/linux/debian-live.img  [linux]");
    g.key_and_see("esc", &[g.line("/tools  -  letters jump")]);
    g.search("ipxe", "Network boot (iPXE)");
    g.key_and_see("esc", &[g.line("/tools  -  letters jump")]);
    let want = [g.info("nothing matches \"hidden\"")];
    g.type_and_see(b"/hidden", &want);
    g.key_and_see("esc", &[g.line("/tools  -  letters jump")]);

    // F3: the list view shows every image by its path.
    let want =
        [g.line("letters jump, / searches, arrows"), g.row("/linux/debian-live.img  [linux]")];
    g.key_and_see("f3", &want);
    g.done(vm_name);
}

/// F5 against the `.sha256` sidecars, `verify_before_boot`, and the txt# / md5# passwords of
/// the password plugin, under `firmware`.
fn passwords_and_sha256(firmware: Firmware, vm_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let drive = config_drive(dir.path());
    let mut g = Guest::boot(vm_name, firmware, &drive);
    let pause = match firmware {
        Firmware::Uefi => "polyboot: ",
        Firmware::Bios => "polyboot-bios: ",
    };

    // F5 on the good image: the sidecar matches.
    g.search("good", "/checked/good.img");
    g.key_then("f5", &format!("{pause}SHA-256 OK: /checked/good.img"));
    g.back_to_menu();
    // F5 on the corrupted copy: the original's sidecar does not match, and says which image.
    g.search("bad", "/checked/bad.img");
    g.key_then(
        "f5",
        &format!("{pause}SHA-256 MISMATCH: /checked/bad.img is corrupted or not the expected"),
    );
    g.back_to_menu();
    // verify_before_boot: Enter on the corrupted copy verifies it and refuses to boot it.
    let from = g.mark();
    choose(&mut g.vm, "bad.img");
    g.wait(from, "; not booting it (verify_before_boot)");
    let refusal = g.since(from);
    assert!(refusal.contains("SHA-256 MISMATCH: /checked/bad.img"), "{refusal}");
    assert!(!refusal.contains("booting /checked/bad.img"), "{refusal}");
    // The whole message is on the screen too, the refusal at its end included (OCR: the
    // underscores of "verify_before_boot" are not always read).
    g.screen_shows("not booting it");
    g.back_to_menu();

    // Wrong passwords: refused, back to the menu, nothing booted.
    let from = g.enter_password("plain", "/locked/plain.img", "wrong");
    g.wait(from, &g.info("wrong password for /locked/plain.img"));
    g.end_search();
    let from =
        g.enter_password("hashed", "/locked/hashed.img", MD5_PASSWORD.to_uppercase().as_str());
    g.wait(from, &g.info("wrong password for /locked/hashed.img"));
    g.end_search();
    let seen = g.since(0);
    assert!(!seen.contains("booting /locked/"), "booted without its password:\n{seen}");

    // The right ones boot: md5#salt#hex, then txt#.
    let from = g.enter_password("hashed", "/locked/hashed.img", MD5_PASSWORD);
    g.boots(from, "/locked/hashed.img");
    g.after_boot(from);
    let from = g.enter_password("plain", "/locked/plain.img", TXT_PASSWORD);
    g.boots(from, "/locked/plain.img");
    g.after_boot(from);

    // verify_before_boot on the good image: verified, then booted.
    let from = g.mark();
    choose(&mut g.vm, "good.img");
    g.wait(from, "verify: SHA-256 OK: /checked/good.img");
    g.boots(from, "/checked/good.img");

    let seen = g.since(0);
    for typed in [TXT_PASSWORD, MD5_PASSWORD] {
        assert!(!seen.contains(typed), "the password {typed} was echoed");
    }
    g.done(vm_name);
}

#[test]
fn ovmf_tree_aliases_tips_classes_blacklist_jump_and_search() {
    tree_aliases_tips_classes_blacklist_jump_search(Firmware::Uefi, "menu-config-tree-uefi");
}

#[test]
fn seabios_tree_aliases_tips_classes_blacklist_jump_and_search() {
    tree_aliases_tips_classes_blacklist_jump_search(Firmware::Bios, "menu-config-tree-bios");
}

#[test]
fn ovmf_passwords_sha256_and_verify_before_boot() {
    passwords_and_sha256(Firmware::Uefi, "menu-config-passwords-uefi");
}

#[test]
fn seabios_passwords_sha256_and_verify_before_boot() {
    passwords_and_sha256(Firmware::Bios, "menu-config-passwords-bios");
}
