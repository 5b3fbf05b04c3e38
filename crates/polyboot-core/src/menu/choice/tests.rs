use super::*;
use alloc::string::ToString;
use alloc::vec;

fn choices(n: usize, autosel: Option<u32>, timeout: Option<u32>) -> Choices {
    Choices { options: (1..=n).map(|i| format!("/ventoy/t{i}.cfg")).collect(), autosel, timeout }
}

fn ask(c: &Choices) -> ChoiceMenu {
    match decide(ChoiceKind::AutoInstall, "/ISO/debian.iso", c) {
        Decision::Ask(menu) => menu,
        other => panic!("expected a menu for {c:?}, got {other:?}"),
    }
}

#[test]
fn decide_follows_ventoy() {
    let d = |c: Choices| decide(ChoiceKind::Persistence, "/x.iso", &c);
    // autosel without timeout: no menu; 0 = without, n = the n-th.
    assert_eq!(d(choices(2, Some(0), None)), Decision::Use(None));
    assert_eq!(d(choices(2, Some(1), None)), Decision::Use(Some(0)));
    assert_eq!(d(choices(2, Some(2), None)), Decision::Use(Some(1)));
    assert_eq!(d(choices(1, Some(1), None)), Decision::Use(Some(0)));
    // autosel past the list: Ventoy shows the menu on the first option.
    let menu = ask(&choices(2, Some(3), None));
    assert_eq!((menu.selected(), menu.countdown()), (1, None));
    // Neither: the menu waits on the first option.
    let menu = ask(&choices(2, None, None));
    assert_eq!((menu.selected(), menu.countdown(), menu.rows()), (1, None, 3));
    // timeout: the menu counts down from autosel's row (0 included), else the first option.
    let menu = ask(&choices(3, Some(2), Some(5)));
    assert_eq!((menu.selected(), menu.countdown().map(|c| c.remaining_secs())), (2, Some(5)));
    assert_eq!(ask(&choices(3, Some(0), Some(5))).selected(), 0);
    assert_eq!(ask(&choices(3, None, Some(5))).default_row(), 1);
    // timeout 0: shown, and it waits (Ventoy sets no GRUB timeout for it).
    let menu = ask(&choices(2, Some(2), Some(0)));
    assert_eq!((menu.selected(), menu.countdown()), (2, None));
    // Nothing to choose from.
    assert_eq!(d(choices(0, None, Some(3))), Decision::Use(None));
}

#[test]
fn rows_and_lines() {
    let menu = ask(&choices(2, None, None));
    let rows = menu.visible();
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Boot without auto installation template",
            "Boot with /ventoy/t1.cfg",
            "Boot with /ventoy/t2.cfg"
        ]
    );
    assert_eq!(rows.iter().map(|r| r.selected).collect::<Vec<_>>(), [false, true, false]);
    assert_eq!(menu.title_line(), "/ISO/debian.iso: auto installation template");
    assert_eq!(menu.hint_line(), CHOICE_KEYS_HELP);
    assert_eq!(menu.shown_line(), "auto_install menu: 3 rows");
    let p = ChoiceMenu::new(ChoiceKind::Persistence, "/a.iso", &choices(1, Some(0), Some(10)));
    assert_eq!(p.row_text(0), "Boot without persistence");
    assert_eq!(p.hint_line(), "Boot without persistence in 10 s (any key stops)");
    assert_eq!(p.shown_line(), "persistence menu: 2 rows, Boot without persistence in 10 s");
    assert!(p.header_line().contains("persistence backend"));
}

#[test]
fn keys_move_choose_and_go_back() {
    let mut menu = ask(&choices(3, None, None));
    assert_eq!(menu.key(Key::Down), ChoiceAction::Redraw);
    assert_eq!(menu.selected(), 2);
    assert_eq!(menu.key(Key::Enter), ChoiceAction::Chosen(Some(1)));
    // Clamped at both ends.
    assert_eq!(menu.key(Key::End), ChoiceAction::Redraw);
    assert_eq!(menu.key(Key::Down), ChoiceAction::Pending);
    assert_eq!(menu.key(Key::Home), ChoiceAction::Redraw);
    assert_eq!(menu.key(Key::Up), ChoiceAction::Pending);
    assert_eq!(menu.key(Key::Enter), ChoiceAction::Chosen(None));
    // Digits select (never boot); one past the rows is ignored.
    assert_eq!(menu.key(Key::Char('3')), ChoiceAction::Redraw);
    assert_eq!(menu.selected(), 3);
    assert_eq!(menu.key(Key::Char('4')), ChoiceAction::Pending);
    assert_eq!(menu.key(Key::Char('x')), ChoiceAction::Pending);
    assert_eq!(menu.key(Key::F(2)), ChoiceAction::Pending);
    assert_eq!(menu.key(Key::Enter), ChoiceAction::Chosen(Some(2)));
    assert_eq!(menu.key(Key::Escape), ChoiceAction::Back);
}

#[test]
fn countdown_takes_the_default_and_a_key_stops_it() {
    let mut menu = ask(&choices(2, Some(2), Some(2)));
    assert_eq!(menu.tick(500), ChoiceAction::Pending);
    assert_eq!(menu.tick(600), ChoiceAction::Redraw); // 2 s -> 1 s shown
    assert!(menu.hint_line().contains("Boot with /ventoy/t2.cfg in 1 s"));
    assert!(!menu.timed_out());
    assert_eq!(menu.tick(900), ChoiceAction::Chosen(Some(1)));
    assert!(menu.timed_out());
    assert_eq!(menu.tick(1000), ChoiceAction::Pending);

    // The first key stops it, even one that does nothing else; then it waits forever.
    let mut menu = ask(&choices(2, Some(0), Some(1)));
    assert_eq!(menu.key(Key::F(9)), ChoiceAction::Redraw);
    assert_eq!(menu.countdown(), None);
    assert_eq!(menu.hint_line(), CHOICE_KEYS_HELP);
    assert_eq!(menu.tick(60_000), ChoiceAction::Pending);
    assert_eq!(menu.key(Key::Enter), ChoiceAction::Chosen(None));
    assert!(!menu.timed_out());

    // Expiry takes autosel's row even when the selection moved before (it cannot without a
    // key, which stops the countdown; checked anyway).
    let mut menu = ask(&choices(2, Some(1), Some(1)));
    assert_eq!(menu.tick(u64::MAX), ChoiceAction::Chosen(Some(0)));
}

#[test]
fn scrolling_keeps_the_selection_in_view() {
    let mut menu = ask(&choices(40, Some(30), Some(0)));
    menu.set_height(10);
    assert_eq!(menu.selected(), 30);
    assert!(menu.top() <= 30 && 30 < menu.top() + 10);
    let rows = menu.visible();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows.iter().filter(|r| r.selected).count(), 1);
    menu.key(Key::End);
    assert_eq!((menu.selected(), menu.top()), (40, 31));
    menu.key(Key::PageUp);
    assert_eq!(menu.selected(), 30);
    menu.key(Key::Home);
    assert_eq!((menu.selected(), menu.top()), (0, 0));
    menu.key(Key::PageDown);
    assert_eq!((menu.selected(), menu.top()), (10, 1));
    menu.set_height(0);
    assert_eq!((menu.height(), menu.visible().len()), (1, 1));
    assert!(menu.visible()[0].selected);
}

/// Every path through `choose`, with its log lines.
#[test]
fn choose_runs_the_menu_only_when_needed_and_logs() {
    let run_keys = |keys: Vec<Key>| {
        move |menu: &mut ChoiceMenu| -> Option<Option<usize>> {
            for &k in &keys {
                match menu.key(k) {
                    ChoiceAction::Chosen(c) => return Some(c),
                    ChoiceAction::Back => return None,
                    _ => {}
                }
            }
            // No more keys: let the countdown run out.
            loop {
                match menu.tick(100) {
                    ChoiceAction::Chosen(c) => return Some(c),
                    ChoiceAction::Back => return None,
                    ChoiceAction::Pending if menu.countdown().is_none() => panic!("waits forever"),
                    _ => {}
                }
            }
        }
    };
    let go = |c: Option<Choices>, keys: Vec<Key>| {
        let mut lines = Vec::new();
        let mut shown = 0;
        let run = run_keys(keys);
        let got = choose(
            ChoiceKind::AutoInstall,
            "/d.iso",
            c.as_ref(),
            &mut |m| {
                shown += 1;
                run(m)
            },
            &mut |a| lines.push(a.to_string()),
        );
        (got, shown, lines)
    };
    assert_eq!(go(None, vec![]), (Some(None), 0, vec![]));
    let (got, shown, lines) = go(Some(choices(2, Some(2), None)), vec![]);
    assert_eq!((got, shown), (Some(Some(1)), 0));
    assert_eq!(lines, ["auto_install: chosen /ventoy/t2.cfg (autosel 2, no menu)"]);
    let (got, shown, lines) = go(Some(choices(2, Some(0), None)), vec![]);
    assert_eq!((got, shown), (Some(None), 0));
    assert_eq!(
        lines,
        ["auto_install: chosen none (Boot without auto installation template) (autosel 0, no menu)"]
    );
    let (got, shown, lines) = go(Some(choices(2, None, None)), vec![Key::Down, Key::Enter]);
    assert_eq!((got, shown), (Some(Some(1)), 1));
    assert_eq!(lines, ["auto_install menu: 3 rows", "auto_install: chosen /ventoy/t2.cfg (menu)"]);
    let (got, _, lines) = go(Some(choices(2, Some(2), Some(1))), vec![]);
    assert_eq!(got, Some(Some(1)));
    assert_eq!(
        lines,
        [
            "auto_install menu: 3 rows, Boot with /ventoy/t2.cfg in 1 s",
            "auto_install: chosen /ventoy/t2.cfg (timeout)"
        ]
    );
    let (got, _, lines) = go(Some(choices(2, None, None)), vec![Key::Down, Key::Escape]);
    assert_eq!(got, None);
    assert_eq!(lines[1], "auto_install menu: Esc, back to the main menu");
}

/// Random key and tick sequences keep the invariants.
#[test]
fn invariants_under_random_input() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let keys = [
        Key::Up,
        Key::Down,
        Key::PageUp,
        Key::PageDown,
        Key::Home,
        Key::End,
        Key::Enter,
        Key::Escape,
        Key::Char('0'),
        Key::Char('7'),
        Key::F(1),
    ];
    for _ in 0..300 {
        let n = (next() % 70) as usize;
        let autosel = (next() % 3 != 0).then(|| (next() % 72) as u32);
        let timeout = (next() % 2 == 0).then(|| (next() % 4) as u32);
        let c = choices(n, autosel, timeout);
        let mut menu = ChoiceMenu::new(ChoiceKind::Persistence, "/p.iso", &c);
        menu.set_height((next() % 12) as usize);
        for _ in 0..50 {
            let action = if next() % 3 == 0 {
                menu.tick(next() % 1500)
            } else {
                menu.key(keys[(next() % keys.len() as u64) as usize])
            };
            if let ChoiceAction::Chosen(Some(i)) = action {
                assert!(i < n);
            }
            assert!(menu.selected() < menu.rows());
            assert!(menu.top() <= menu.selected() && menu.selected() < menu.top() + menu.height());
            let rows = menu.visible();
            assert!(rows.len() <= menu.height() && !rows.is_empty());
            assert_eq!(rows.iter().filter(|r| r.selected).count(), 1);
            let _ = (menu.hint_line(), menu.header_line(), menu.title_line(), menu.shown_line());
        }
    }
}
