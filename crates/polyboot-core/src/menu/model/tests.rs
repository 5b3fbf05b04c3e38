//! Unit tests of the menu state machine.

use super::*;
use crate::config::{self, Firmware};
use alloc::vec;

const BIG: u64 = 700 * 1024 * 1024;

fn image(path: &str, size: u64) -> ImageEntry {
    let name = path.rsplit('/').next().unwrap().to_string();
    let kind = ImageKind::from_name(&name).unwrap();
    ImageEntry { path: path.into(), name, kind, size }
}

/// 20 images `/iso/img-0.iso` .. `/iso/img-19.iso` plus the three fixed entries.
fn menu20() -> Menu {
    Menu::new((0..20).map(|i| image(&format!("/iso/img-{i}.iso"), BIG)).collect())
}

fn labels(menu: &Menu) -> Vec<String> {
    menu.visible().iter().map(|r| r.item.label().to_string()).collect()
}

fn selected_label(menu: &Menu) -> &str {
    menu.items()[menu.selected_index().unwrap()].label()
}

#[test]
fn new_menu_has_fixed_entries_and_initial_status() {
    let menu =
        Menu::new(vec![image("/a.iso", BIG), image("/win/disk.vhd", BIG), image("/w.vhdx", BIG)]);
    assert_eq!(menu.image_count(), 3);
    let items = menu.items();
    assert_eq!(items.len(), 9); // and the /win directory for the tree view
    assert_eq!(items[0].status(), Some(&Status::Unknown));
    assert_eq!(
        items[1].status(),
        Some(&Status::NotBootable("VHD images are not bootable yet".into()))
    );
    assert_eq!(
        items[2].status(),
        Some(&Status::NotBootable("VHDX images are not bootable yet".into()))
    );
    assert_eq!(
        items[4..],
        [
            MenuItem::Up,
            MenuItem::LocalBoot,
            MenuItem::Reboot,
            MenuItem::PowerOff,
            MenuItem::FirmwareSetup
        ]
    );
    assert_eq!(menu.selected_index(), Some(0));

    let empty = Menu::new(Vec::new());
    assert_eq!(empty.image_count(), 0);
    assert_eq!(empty.items().len(), 5);
}

#[test]
fn navigation_clamps_and_scrolls() {
    let mut m = menu20(); // 20 images, the /iso directory (tree view only), 4 fixed entries
    m.set_height(5);
    assert_eq!(labels(&m)[0], "/iso/img-0.iso");
    assert_eq!(m.key(Key::Up), Action::None); // clamp at the top
    assert_eq!(m.key(Key::Down), Action::Redraw);
    assert_eq!((m.selected(), m.top()), (1, 0));
    for _ in 0..4 {
        m.key(Key::Down);
    }
    assert_eq!((m.selected(), m.top()), (5, 1)); // scrolled by one
    assert_eq!(m.key(Key::PageDown), Action::Redraw);
    assert_eq!((m.selected(), m.top()), (10, 6));
    assert_eq!(m.key(Key::PageUp), Action::Redraw);
    assert_eq!((m.selected(), m.top()), (5, 5));
    m.key(Key::PageUp);
    m.key(Key::PageUp);
    assert_eq!((m.selected(), m.top()), (0, 0));
    assert_eq!(m.key(Key::PageUp), Action::None);
    assert_eq!(m.key(Key::End), Action::Redraw);
    assert_eq!((m.selected(), m.top()), (23, 19));
    assert_eq!(selected_label(&m), "Firmware setup");
    assert_eq!(m.key(Key::Down), Action::None); // clamp at the bottom
    assert_eq!(m.key(Key::PageDown), Action::None);
    assert_eq!(m.key(Key::End), Action::None);
    let rows = m.visible();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows.iter().filter(|r| r.selected).count(), 1);
    assert!(rows[4].selected && rows[4].index == 25);
    assert_eq!(m.key(Key::Home), Action::Redraw);
    assert_eq!((m.selected(), m.top()), (0, 0));

    // Resizing keeps the selection in view.
    m.key(Key::End);
    m.set_height(2);
    assert_eq!((m.selected(), m.top()), (23, 22));
    m.set_height(100);
    assert_eq!(m.top(), 0);
    assert_eq!(m.visible().len(), 24);
    m.set_height(0);
    assert_eq!(m.height(), 1);
    assert_eq!(m.visible().len(), 1);
    assert!(m.visible()[0].selected);
}

#[test]
fn filter_narrows_and_keeps_selection_valid() {
    let mut m = menu20();
    m.set_height(5);
    m.key(Key::End); // Firmware setup
    assert_eq!(m.key(Key::Char('/')), Action::Redraw);
    assert_eq!(m.key(Key::Char('I')), Action::Redraw); // "i" matches /iso/... and Firmware
    assert_eq!(selected_label(&m), "Firmware setup"); // still matches: kept
    assert_eq!(m.filter(), "I");
    for c in "MG-1".chars() {
        m.key(Key::Char(c));
    }
    // "img-1" matches img-1 and img-10..img-19; Firmware setup no longer: first match.
    assert_eq!(m.visible_len(), 11);
    assert_eq!(selected_label(&m), "/iso/img-1.iso");
    assert_eq!((m.selected(), m.top()), (0, 0));
    m.key(Key::End);
    assert_eq!(selected_label(&m), "/iso/img-19.iso");
    assert_eq!(m.top(), 6);
    m.key(Key::Char('9')); // only img-19, still selected
    assert_eq!(labels(&m), ["/iso/img-19.iso"]);
    assert_eq!((m.selected(), m.top()), (0, 0));
    assert_eq!(m.key(Key::Backspace), Action::Redraw);
    assert_eq!(m.visible_len(), 11);
    assert_eq!(selected_label(&m), "/iso/img-19.iso");
    assert_eq!(m.top(), 6);

    // No match: empty list, Enter does nothing.
    m.key(Key::Char('x'));
    assert_eq!(m.visible_len(), 0);
    assert!(m.visible().is_empty());
    assert_eq!(m.selected_index(), None);
    assert_eq!(m.key(Key::Enter), Action::None);
    assert_eq!(m.key(Key::Down), Action::None);
    assert!(m.selected_info_line().starts_with("nothing matches \"IMG-1x\""));

    // Escape clears the filter; the list is whole again.
    assert_eq!(m.key(Key::Escape), Action::Redraw);
    assert_eq!(m.filter(), "");
    assert_eq!(m.visible_len(), 24);
    assert_eq!(m.key(Key::Escape), Action::None);
    assert_eq!(m.key(Key::Backspace), Action::None);
    m.key(Key::Char('/'));

    // Control characters are not typed; the filter length is bounded.
    assert_eq!(m.key(Key::Char('\u{7}')), Action::None);
    for _ in 0..200 {
        m.key(Key::Char('z'));
    }
    assert_eq!(m.filter().chars().count(), MAX_FILTER_CHARS);

    // Fixed entries are found by name too.
    m.key(Key::Escape);
    for c in "/pOw".chars() {
        m.key(Key::Char(c));
    }
    assert_eq!(labels(&m), ["Power off"]);
    assert_eq!(m.key(Key::Enter), Action::PowerOff);
}

#[test]
fn enter_boots_or_explains() {
    let mut m = Menu::new(vec![image("/a.iso", BIG), image("/b.img", BIG), image("/w.vhd", BIG)]);
    assert_eq!(m.key(Key::Enter), Action::Boot(0)); // Unknown: try it
    assert!(m.set_status(1, Status::Bootable { bios: true, uefi: true }));
    m.key(Key::Down);
    assert_eq!(m.key(Key::Enter), Action::Boot(1));
    m.key(Key::Down);
    assert_eq!(m.key(Key::Enter), Action::ShowReason(2));
    assert!(m.set_status(0, Status::NotBootable("no El Torito boot catalog".into())));
    m.key(Key::Home);
    assert_eq!(m.key(Key::Enter), Action::ShowReason(0));
    m.key(Key::Down);
    m.key(Key::Down);
    m.key(Key::Down);
    assert_eq!(m.key(Key::Enter), Action::LocalBoot);
    m.key(Key::Down);
    assert_eq!(m.key(Key::Enter), Action::Reboot);
    m.key(Key::Down);
    assert_eq!(m.key(Key::Enter), Action::PowerOff);
    m.key(Key::Down);
    assert_eq!(m.key(Key::Enter), Action::FirmwareSetup);
    assert!(!m.set_status(3, Status::Unknown)); // not an image
    assert!(!m.set_status(99, Status::Unknown));
}

#[test]
fn info_lines() {
    let mut m = Menu::new(vec![
        image("/samples/ipxe.iso", 2 * 1024 * 1024),
        image("/win/install.vhdx", 4_700_000_000),
    ]);
    assert_eq!(m.info_line(0), "ipxe.iso  2.0 MiB  ISO (not checked)  /samples/ipxe.iso");
    m.set_status(0, Status::Bootable { bios: true, uefi: true });
    assert_eq!(m.info_line(0), "ipxe.iso  2.0 MiB  UEFI+BIOS  /samples/ipxe.iso");
    assert_eq!(m.selected_info_line(), m.info_line(0));
    m.set_status(0, Status::Bootable { bios: false, uefi: true });
    assert_eq!(m.info_line(0), "ipxe.iso  2.0 MiB  UEFI  /samples/ipxe.iso");
    m.set_status(0, Status::Bootable { bios: true, uefi: false });
    assert_eq!(m.info_line(0), "ipxe.iso  2.0 MiB  BIOS  /samples/ipxe.iso");
    assert_eq!(
        m.info_line(1),
        "install.vhdx  4.4 GiB  not bootable: VHDX images are not bootable yet  /win/install.vhdx"
    );
    assert_eq!(m.info_line(2), "directory /samples: Enter opens it");
    assert!(m.info_line(5).starts_with("Boot from the local disk"));
    assert!(m.info_line(6).starts_with("Reboot"));
    assert!(m.info_line(7).starts_with("Power off"));
    assert!(m.info_line(8).starts_with("Firmware setup"));
    assert_eq!(m.info_line(9), "");
}

#[test]
fn default_image_by_path() {
    let mut m = menu20();
    assert_eq!(m.find_image("/iso/img-7.iso"), Some(7));
    assert_eq!(m.find_image("//iso//img-7.iso/"), Some(7));
    assert_eq!(m.find_image("/ISO/IMG-7.ISO"), Some(7)); // exFAT is case-insensitive
    assert_eq!(m.find_image("iso/img-7.iso"), None);
    assert_eq!(m.find_image("/iso/img-77.iso"), None);
    assert_eq!(m.find_image("/iso"), None);

    // Exact match wins over a case-insensitive one.
    let m2 = Menu::new(vec![image("/A.iso", BIG), image("/a.iso", BIG)]);
    assert_eq!(m2.find_image("/a.iso"), Some(1));
    assert_eq!(m2.find_image("/A.iso"), Some(0));

    m.set_height(5);
    for c in "/img-3".chars() {
        m.key(Key::Char(c));
    }
    assert_eq!(m.set_default("/iso/img-17.iso"), Some(17));
    assert_eq!(m.filter(), ""); // cleared so the default is visible
    assert_eq!(m.selected_index(), Some(17));
    assert_eq!(m.default_index(), Some(17));
    assert!(m.top() <= 17 && 17 < m.top() + 5);
    assert_eq!(m.set_default("/nope.iso"), None);
    assert_eq!(m.default_index(), Some(17));
}

#[test]
fn countdown_state() {
    let mut c = Countdown::new(5);
    assert_eq!((c.remaining_ms, c.remaining_secs()), (5000, 5));
    assert!(!c.tick(999));
    assert_eq!(c.remaining_secs(), 5);
    assert!(c.tick(1));
    assert_eq!(c.remaining_secs(), 4);
    assert!(c.tick(u64::MAX));
    assert!(c.is_expired());
    assert_eq!(c.remaining_secs(), 0);
    assert_eq!(Countdown::new(u32::MAX).remaining_secs(), u64::from(u32::MAX));
}

#[test]
fn menu_timeout_boots_default() {
    let mut m = menu20();
    assert!(!m.start_countdown(5)); // no default: never auto-boot
    assert_eq!(m.tick(10_000), Action::None);

    m.set_default("/iso/img-3.iso");
    assert!(m.start_countdown(3));
    assert_eq!(m.tick(500), Action::None);
    assert_eq!(m.tick(500), Action::Redraw); // 3 s -> 2 s
    assert_eq!(m.countdown().unwrap().remaining_secs(), 2);
    assert_eq!(m.tick(1999), Action::Redraw);
    assert_eq!(m.tick(1), Action::Boot(3));
    assert!(m.countdown().is_none());
    assert_eq!(m.tick(1000), Action::None);

    // Any key cancels it; a key that otherwise does nothing still redraws (to remove
    // the countdown line).
    assert!(m.start_countdown(3));
    assert_eq!(m.key(Key::Escape), Action::Redraw);
    assert!(m.countdown().is_none());
    assert_eq!(m.tick(5000), Action::None);
    assert!(m.start_countdown(3));
    assert_eq!(m.key(Key::Down), Action::Redraw);
    assert_eq!(m.selected_index(), Some(4));
    assert!(m.start_countdown(3));
    assert_eq!(m.key(Key::Enter), Action::Boot(4)); // the key still acts

    // Timeout 0 boots on the first tick.
    assert!(m.start_countdown(0));
    assert_eq!(m.tick(0), Action::Boot(3));
    assert_eq!(m.selected_index(), Some(3));

    // The default found unbootable meanwhile: show why instead of booting.
    assert!(m.start_countdown(1));
    m.set_status(3, Status::NotBootable("broken".into()));
    assert_eq!(m.tick(1000), Action::ShowReason(3));
    assert!(!m.start_countdown(1)); // and it is not armed again

    // A VHD default (not bootable yet) is not armed at all.
    let mut w = Menu::new(vec![image("/w.vhd", BIG)]);
    assert_eq!(w.set_default("/w.vhd"), Some(0));
    assert!(!w.start_countdown(5));
}

#[test]
fn random_keys_keep_invariants() {
    let mut m = menu20();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let keys = [
        Key::Up,
        Key::Down,
        Key::PageUp,
        Key::PageDown,
        Key::Home,
        Key::End,
        Key::Backspace,
        Key::Escape,
        Key::Char('1'),
        Key::Char('i'),
        Key::Char('o'),
        Key::Char('-'),
        Key::Char('q'),
        Key::Char('/'),
        Key::F(3),
        Key::Enter,
    ];
    for step in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if step % 97 == 0 {
            m.set_height((x % 9) as usize);
        }
        let key = keys[(x % keys.len() as u64) as usize];
        let _ = m.key(key);
        let len = m.visible_len();
        if len == 0 {
            assert_eq!((m.selected(), m.top()), (0, 0));
        } else {
            assert!(m.selected() < len);
            assert!(m.top() <= m.selected() && m.selected() < m.top() + m.height());
            assert!(m.top() + m.height().min(len) <= len);
        }
        let rows = m.visible();
        assert!(rows.len() <= m.height());
        assert_eq!(rows.iter().filter(|r| r.selected).count(), usize::from(len > 0));
    }
}

/// A menu of `paths` configured by `ventoy` (a ventoy.json text) and `ours` (polyboot.json).
fn configured(paths: &[&str], ventoy: &str, ours: &str) -> Menu {
    let (cfg, errors) = config::load(
        (!ours.is_empty()).then_some(ours.as_bytes()),
        Some(ventoy.as_bytes()),
        Firmware::Uefi,
    );
    assert!(errors.is_empty(), "{errors:?}");
    Menu::with_config(paths.iter().map(|p| image(p, BIG)).collect(), &cfg)
}

fn texts(menu: &Menu) -> Vec<String> {
    menu.visible().into_iter().map(|r| r.text).collect()
}

fn typed(menu: &mut Menu, text: &str) -> Action {
    let mut last = Action::None;
    for c in text.chars() {
        last = menu.key(Key::Char(c));
    }
    last
}

const TREE: &[&str] =
    &["/ISO/Linux/debian.iso", "/ISO/Linux/ubuntu.iso", "/ISO/win.iso", "/top.img"];

#[test]
fn aliases_classes_and_tips_are_shown() {
    let m = configured(
        TREE,
        r#"{
            "menu_alias": [ { "image": "/ISO/Linux/debian.iso", "alias": "Debian 12" },
                            { "dir": "/ISO/Linux", "alias": "Linux distributions" } ],
            "menu_class": [ { "key": "ubuntu", "class": "ubuntu" }, { "dir": "/ISO/Linux", "class": "linux" } ],
            "menu_tip": { "tips": [ { "image": "/ISO/Linux/debian.iso", "tip": "the netinst image" } ] }
        }"#,
        "",
    );
    assert_eq!(
        texts(&m)[..4],
        ["Debian 12", "/ISO/Linux/ubuntu.iso  [ubuntu]", "/ISO/win.iso", "/top.img"]
    );
    assert_eq!(m.tip_line(), Some("the netinst image"));
    assert!(m.selected_info_line().ends_with("/ISO/Linux/debian.iso"));
    assert_eq!(m.display_text(5), "Linux distributions/  [linux]");
}

#[test]
fn tree_view_opens_directories_and_goes_back() {
    let mut m = configured(TREE, r#"{"control": [{"VTOY_DEFAULT_MENU_MODE": "1"}]}"#, "");
    assert_eq!(m.mode(), MenuMode::Tree);
    let fixed = ["Boot from the local disk", "Reboot", "Power off", "Firmware setup"];
    assert_eq!(texts(&m)[..2], ["ISO/", "top.img"]);
    assert_eq!(texts(&m)[2..], fixed);
    assert_eq!(m.key(Key::Enter), Action::Redraw); // open /ISO
    assert_eq!(m.current_dir(), "/ISO");
    assert_eq!(texts(&m)[..3], ["..", "Linux/", "win.iso"]);
    assert_eq!(m.selected(), 1);
    m.key(Key::Enter); // open /ISO/Linux
    assert_eq!(texts(&m)[..3], ["..", "debian.iso", "ubuntu.iso"]);
    assert_eq!(m.key(Key::Enter), Action::Boot(0));
    assert_eq!(m.key(Key::Escape), Action::Redraw); // back up, Linux/ selected
    assert_eq!(m.current_dir(), "/ISO");
    assert_eq!(m.visible()[m.selected() - m.top()].text, "Linux/");
    m.key(Key::Home);
    m.key(Key::Enter); // ".." to the root
    assert_eq!(m.current_dir(), "/");
    assert_eq!(m.key(Key::Backspace), Action::None); // nothing above the root

    // Search spans the whole tree and shows paths; ending it returns to the directory.
    typed(&mut m, "/ubu");
    assert_eq!(texts(&m), ["/ISO/Linux/ubuntu.iso"]);
    assert_eq!(m.key(Key::Enter), Action::Boot(1));
    m.key(Key::Escape);
    assert_eq!(texts(&m)[..2], ["ISO/", "top.img"]);

    // F3 switches to the list and back, keeping the selected image.
    m.key(Key::Down);
    assert_eq!(m.key(Key::F(3)), Action::Redraw);
    assert_eq!(m.mode(), MenuMode::List);
    assert_eq!(m.selected_index(), Some(3));
    m.key(Key::Home);
    m.key(Key::F(3));
    assert_eq!(m.current_dir(), "/ISO/Linux");
    assert_eq!(m.selected_index(), Some(0));

    // A default deep in the tree opens its directory.
    let mut d = configured(TREE, r#"{"control": [{"VTOY_DEFAULT_MENU_MODE": "1"}]}"#, "");
    assert_eq!(d.set_default("/ISO/Linux/ubuntu.iso"), Some(1));
    assert_eq!(d.current_dir(), "/ISO/Linux");
}

#[test]
fn letters_jump_to_names() {
    let mut m = configured(
        &["/a/alpha.iso", "/b/beta.iso", "/c/bravo.iso", "/d/charlie.iso"],
        r#"{"menu_alias": [ { "image": "/c/bravo.iso", "alias": "Bravo 2" } ]}"#,
        "",
    );
    // List view: the shown name (path or alias); its first letter or digit counts.
    assert_eq!(m.key(Key::Char('d')), Action::Redraw);
    assert_eq!(m.selected_index(), Some(3)); // "/d/charlie.iso"
    m.key(Key::Char('b'));
    assert_eq!(m.items()[m.selected_index().unwrap()], MenuItem::LocalBoot); // "Boot from..."
    m.key(Key::Char('b'));
    assert_eq!(m.selected_index(), Some(1)); // wraps to "/b/beta.iso"
    m.key(Key::Char('b'));
    assert_eq!(m.selected_index(), Some(2)); // "Bravo 2", the alias of /c/bravo.iso
    assert_eq!(m.key(Key::Char('c')), Action::None); // nothing shown starts with c
    let mut t = configured(
        &["/x/alpha.iso", "/x/beta.iso", "/x/bravo.iso", "/x/charlie.iso"],
        r#"{"control": [{"VTOY_DEFAULT_MENU_MODE": "1"}],
            "menu_alias": [ { "image": "/x/charlie.iso", "alias": "Bee" } ]}"#,
        "",
    );
    t.key(Key::Enter); // into /x
    assert_eq!(t.key(Key::Char('B')), Action::Redraw);
    assert_eq!(t.selected_index(), Some(1)); // beta
    t.key(Key::Char('b'));
    assert_eq!(t.selected_index(), Some(2)); // bravo
    t.key(Key::Char('b'));
    assert_eq!(t.selected_index(), Some(3)); // "Bee" (alias)
    t.key(Key::Char('b'));
    assert_eq!(t.items()[t.selected_index().unwrap()], MenuItem::LocalBoot);
    t.key(Key::Char('b'));
    assert_eq!(t.selected_index(), Some(1)); // wraps
    assert_eq!(t.key(Key::Char('z')), Action::None);
    assert_eq!(t.key(Key::Char('!')), Action::None);
}

#[test]
fn image_password_asks_and_checks() {
    let mut m = configured(
        &["/a.iso", "/secret/b.iso", "/c.img"],
        r#"{"password": { "imgpwd": "md5#e10adc3949ba59abbe56e057f20f883e",
                          "menupwd": [ { "parent": "/secret", "pwd": "txt#open" } ] }}"#,
        "",
    );
    assert_eq!(m.key(Key::Enter), Action::Boot(0));
    m.key(Key::Down);
    assert_eq!(m.key(Key::Enter), Action::Redraw);
    assert_eq!(m.header_line(), "password for /secret/b.iso: _  (Esc cancels)");
    typed(&mut m, "nope");
    assert_eq!(m.header_line(), "password for /secret/b.iso: ****_  (Esc cancels)");
    assert_eq!(m.key(Key::Enter), Action::Redraw);
    assert_eq!(m.selected_info_line(), "wrong password for /secret/b.iso");
    m.key(Key::Enter);
    typed(&mut m, "opem");
    m.key(Key::Backspace);
    typed(&mut m, "n");
    assert_eq!(m.key(Key::Enter), Action::Boot(1));
    // Escape cancels the prompt.
    m.key(Key::Enter);
    assert_eq!(m.key(Key::Escape), Action::Redraw);
    assert!(!m.header_line().starts_with("password"));
    // The per-kind password, Ventoy's md5 form.
    m.key(Key::Down);
    m.key(Key::Enter);
    typed(&mut m, "123456");
    assert_eq!(m.key(Key::Enter), Action::Boot(2));

    // No asterisks when Ventoy's option says so; a malformed password never unlocks.
    let mut q = configured(
        &["/a.iso"],
        r#"{"control": [{"VTOY_SHOW_PASSWORD_ASTERISK": "0"}],
            "password": { "isopwd": "md5#xyz" }}"#,
        "",
    );
    assert_eq!(q.key(Key::Enter), Action::Redraw);
    assert!(q.selected_info_line().contains("cannot be checked"));
    let mut r = configured(
        &["/a.iso"],
        r#"{"control": [{"VTOY_SHOW_PASSWORD_ASTERISK": "0"}], "password": { "isopwd": "txt#x" }}"#,
        "",
    );
    r.key(Key::Enter);
    typed(&mut r, "abc");
    assert_eq!(r.header_line(), "password for /a.iso: _  (Esc cancels)");
}

#[test]
fn boot_password_locks_the_menu() {
    let mut m = configured(&["/a.iso"], r#"{"password": { "bootpwd": "txt#123" }}"#, "");
    m.set_default("/a.iso");
    assert!(!m.start_countdown(3)); // no timeout while locked
    assert!(m.is_locked());
    assert!(m.visible().is_empty());
    assert_eq!(m.selected_info_line(), "");
    assert_eq!(m.tip_line(), None);
    assert_eq!(m.header_line(), "boot password: _");
    assert_eq!(m.key(Key::F(4)), Action::None); // keys go to the prompt
    typed(&mut m, "12");
    assert_eq!(m.key(Key::Enter), Action::Redraw);
    assert_eq!(m.selected_info_line(), "wrong password (1 of 3 tries)");
    typed(&mut m, "123");
    assert_eq!(m.key(Key::Enter), Action::Redraw);
    assert!(!m.is_locked());
    assert_eq!(texts(&m)[0], "/a.iso");
    assert_eq!(m.key(Key::Enter), Action::Boot(0));

    let mut n = configured(&["/a.iso"], r#"{"password": { "bootpwd": "txt#123" }}"#, "");
    n.key(Key::Enter);
    n.key(Key::Enter);
    assert_eq!(n.key(Key::Enter), Action::Reboot);
    // Still locked should the reboot not happen.
    assert!(n.is_locked() && n.visible().is_empty());
    assert_eq!(n.key(Key::Down), Action::None);
    assert_eq!(n.header_line(), "boot password: _");

    // A malformed boot password locks for good, and says why.
    let mut bad = configured(&["/a.iso"], r#"{"password": { "bootpwd": "123456" }}"#, "");
    typed(&mut bad, "123456");
    bad.key(Key::Enter);
    assert!(bad.is_locked());
    assert!(bad.selected_info_line().starts_with("the configured boot password cannot be checked"));
}

#[test]
fn verify_and_function_keys() {
    let mut m = configured(
        &["/a.iso", "/checked/b.iso"],
        "{}",
        r#"{"menu": {"verify_before_boot": ["/checked"]}}"#,
    );
    assert_eq!(m.key(Key::F(5)), Action::Verify { index: 0, then_boot: false });
    assert_eq!(m.key(Key::F(2)), Action::Details(0));
    assert_eq!(m.key(Key::F(4)), Action::LocalBoot);
    assert_eq!(m.key(Key::Enter), Action::Boot(0));
    m.key(Key::Down);
    assert_eq!(m.key(Key::Enter), Action::Verify { index: 1, then_boot: true });
    m.key(Key::End);
    assert_eq!(m.key(Key::F(5)), Action::Redraw);
    assert_eq!(m.selected_info_line(), "select an image first");
    assert_eq!(m.key(Key::F(9)), Action::Redraw); // clears the note
    assert_eq!(m.key(Key::F(9)), Action::None);
    assert_eq!(m.hint_line(), KEYS_HELP);
    let all = configured(&["/a.iso"], "{}", r#"{"menu": {"verify_before_boot": true}}"#);
    assert!(all.settings(0).unwrap().verify_before_boot);
}
