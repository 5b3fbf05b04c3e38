//! The boot menu model on hostile configurations, image lists and key sequences. Input:
//! `ventoy.json bytes \0 image paths, one per line \0 keys` (missing parts are empty). The
//! configuration goes through `config::load` (UEFI), the paths become images (their kind from
//! the name; non-images dropped, at most 64), `select_images` applies `image_list` /
//! `image_blacklist` / `VTOY_FILE_FLT_*`, and every key byte drives `Menu::key` (bytes 0..=9
//! are the named keys, 10..=19 F1..F10, 20 a tick, others characters). After every step: no
//! panic, `selected < visible_len` (0 when empty), the selection on screen, every shown row
//! among the items, the text lines composable; a locked menu lists nothing; `Boot` /
//! `Verify` / `Details` name an image, and an image with a password boots only after the
//! prompt took a password it verifies (PBKDF2 iterations capped so inputs stay fast).
//! Then the same keys drive the `auto_install` / `persistence` choice menus
//! (`menu::choice`) of the configuration's first images, and one made of the image paths
//! with `autosel` / `timeout` from the first key bytes: a chosen option is in the list, the
//! selection stays in view, `choose` returns what the menu chose.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::config::{self, Choices, Firmware, Password};
use polyboot_core::menu::choice::{self, ChoiceAction, ChoiceKind, ChoiceMenu, Decision};
use polyboot_core::menu::{Action, ImageEntry, ImageKind, Key, Menu, MenuItem};
use polyboot_core::session::select_images;

const MAX_IMAGES: usize = 64;
const MAX_ITERATIONS: u32 = 64;

fn key(byte: u8) -> Option<Key> {
    Some(match byte {
        0 => Key::Up,
        1 => Key::Down,
        2 => Key::PageUp,
        3 => Key::PageDown,
        4 => Key::Home,
        5 => Key::End,
        6 => Key::Enter,
        7 => Key::Escape,
        8 => Key::Backspace,
        9 => Key::Char('/'),
        10..=19 => Key::F(byte - 9),
        20 => return None,
        b => Key::Char(char::from(b)),
    })
}

fn slow(p: &Password) -> bool {
    matches!(p, Password::Pbkdf2 { iterations, .. } if *iterations > MAX_ITERATIONS)
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let json = parts.next().unwrap_or_default();
    let paths = parts.next().unwrap_or_default();
    let keys = parts.next().unwrap_or_default();
    let (config, _) = config::load(None, Some(json), Firmware::Uefi);
    // Slow passwords would make each Enter cost seconds: not what this target is about.
    if config.passwords.all().any(slow) {
        return;
    }
    let images: Vec<ImageEntry> = String::from_utf8_lossy(paths)
        .lines()
        .filter_map(|line| {
            let path = polyboot_core::menu::normalize_path(line)?;
            let name = path.rsplit('/').next()?.to_string();
            let kind = ImageKind::from_name(&name)?;
            Some(ImageEntry { path, name, kind, size: 1 << 20 })
        })
        .take(MAX_IMAGES)
        .collect();
    let (images, _) = select_images(&config, &images);
    let mut choice_sets: Vec<(ChoiceKind, String, Choices)> = Vec::new();
    for image in images.iter().take(4) {
        for (kind, c) in [
            (ChoiceKind::AutoInstall, config.auto_install_choices(&image.path)),
            (ChoiceKind::Persistence, config.persistence_choices(&image.path)),
        ] {
            if let Some(c) = c {
                choice_sets.push((kind, image.path.clone(), c));
            }
        }
    }
    let synthetic = Choices {
        options: images.iter().map(|i| i.path.clone()).collect(),
        autosel: keys.get(1).filter(|&&b| b < 128).map(|&b| u32::from(b)),
        timeout: keys.get(2).filter(|&&b| b < 128).map(|&b| u32::from(b % 4)),
    };
    choice_sets.push((ChoiceKind::AutoInstall, String::from("/synthetic.iso"), synthetic));
    let mut menu = Menu::with_config(images, &config);
    menu.set_height(usize::from(keys.first().copied().unwrap_or(5) % 12));
    if let Some(default) = &config.default_image {
        menu.set_default(default);
    }
    if let Some(secs) = config.timeout_secs {
        menu.start_countdown(secs);
    }
    for &byte in keys {
        let action = match key(byte) {
            Some(k) => menu.key(k),
            None => menu.tick(1000),
        };
        check(&menu);
        match action {
            Action::Boot(i) | Action::ShowReason(i) | Action::Details(i) => {
                assert!(matches!(menu.items().get(i), Some(MenuItem::Image { .. })), "{action:?}");
            }
            Action::Verify { index, .. } => {
                assert!(matches!(menu.items().get(index), Some(MenuItem::Image { .. })));
            }
            _ => {}
        }
        if let Action::Boot(i) = action {
            // A protected image boots only through the prompt: the settings hold a password
            // that can be verified (an invalid one never gets here).
            if let Some(p) = menu.settings(i).and_then(|s| s.password.as_ref()) {
                assert!(p.problem().is_none());
            }
            assert!(!menu.is_locked());
        }
    }
    for (kind, image, choices) in &choice_sets {
        choice_menu(*kind, image, choices, keys);
    }
});

/// Drive one choice menu with `keys` (as above; 20 is a second of the countdown).
fn choice_menu(kind: ChoiceKind, image: &str, choices: &Choices, keys: &[u8]) {
    let n = choices.options.len();
    let direct = match choice::decide(kind, image, choices) {
        Decision::Use(pick) => {
            assert!(pick.is_none_or(|i| i < n));
            Some(pick)
        }
        Decision::Ask(_) => None,
    };
    let mut seen = None;
    let got = choice::choose(
        kind,
        image,
        Some(choices),
        &mut |menu: &mut ChoiceMenu| {
            menu.set_height(usize::from(keys.first().copied().unwrap_or(5) % 12));
            let outcome = walk(menu, keys, n);
            seen = Some(outcome);
            outcome
        },
        &mut |line| {
            let _ = line.to_string();
        },
    );
    match (direct, seen) {
        (Some(pick), None) => assert_eq!(got, Some(pick)),
        (None, Some(outcome)) => assert_eq!(got, outcome),
        other => panic!("decide and choose disagree: {other:?}"),
    }
}

/// The keys, then the countdown (at most 300 s of it): `Some` when a choice was made,
/// `None` for Back or no choice.
fn walk(menu: &mut ChoiceMenu, keys: &[u8], n: usize) -> Option<Option<usize>> {
    let mut budget = 300;
    let mut bytes = keys.iter().copied();
    loop {
        let action = match bytes.next() {
            Some(byte) => match key(byte) {
                Some(k) => menu.key(k),
                None => menu.tick(1000),
            },
            None if menu.countdown().is_some() && budget > 0 => {
                budget -= 1;
                menu.tick(1000)
            }
            // Waiting for a key that never comes.
            None => return None,
        };
        assert!(menu.selected() < menu.rows());
        assert!(menu.top() <= menu.selected() && menu.selected() < menu.top() + menu.height());
        let rows = menu.visible();
        assert!(!rows.is_empty() && rows.len() <= menu.height());
        assert_eq!(rows.iter().filter(|r| r.selected).count(), 1);
        let _ = (menu.title_line(), menu.header_line(), menu.hint_line(), menu.shown_line());
        match action {
            ChoiceAction::Chosen(pick) => {
                assert!(pick.is_none_or(|i| i < n));
                if menu.timed_out() {
                    assert_eq!(menu.selected(), menu.default_row());
                }
                return Some(pick);
            }
            ChoiceAction::Back => return None,
            ChoiceAction::Pending | ChoiceAction::Redraw => {}
        }
    }
}

fn check(menu: &Menu) {
    let len = menu.visible_len();
    if len == 0 {
        assert_eq!(menu.selected(), 0);
    } else {
        assert!(menu.selected() < len);
        assert!(menu.top() <= menu.selected() && menu.selected() < menu.top() + menu.height());
    }
    let rows = menu.visible();
    assert!(rows.len() <= menu.height());
    if menu.is_locked() {
        assert!(rows.is_empty());
        assert_eq!(menu.tip_line(), None);
    }
    assert!(rows.iter().filter(|r| r.selected).count() <= 1);
    for r in &rows {
        assert!(r.index < menu.items().len());
    }
    let _ = (menu.header_line(), menu.hint_line(), menu.selected_info_line());
}
