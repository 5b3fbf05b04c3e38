//! The menu on VGA text mode and the serial console: the core `Menu` model drives both.
//! VGA is redrawn in place; the serial console gets the visible rows as lines when they
//! change (a terminal-independent transcript that tests and remote users can read).

use crate::bios::{self, Regs};
use crate::console::{self, vga_line, Input, COLS, INVERSE, NORMAL, ROWS, TITLE};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use polyboot_core::menu::choice::{ChoiceAction, ChoiceMenu};
use polyboot_core::menu::{Action, Menu, MenuItem, Status};

/// Rows above the list (title, prompt / search line) and below it (separator, tip line, info
/// line, keys / countdown line), as in the UEFI menu.
const HEADER_ROWS: usize = 2;
const FOOTER_ROWS: usize = 4;
/// BIOS timer: 1573040 ticks per day, about 54.9 ms each.
const TICK_MS: u64 = 55;

fn status_tag(status: Option<&Status>) -> &'static str {
    match status {
        Some(Status::NotBootable(_)) => "not bootable",
        _ => "",
    }
}

/// VGA attributes from the configuration's `theme` / `menu_tip` colours (core's 16-colour
/// index is the VGA one), on black.
#[derive(Clone, Copy)]
pub struct Colors {
    pub title: u8,
    pub tip: u8,
}

impl Colors {
    pub fn from_config(config: &polyboot_core::config::BootConfig) -> Colors {
        Colors {
            title: config.theme.title_color.map_or(TITLE, |c| c.0 & 15),
            tip: config.tip_color.map_or(NORMAL, |c| c.0 & 15),
        }
    }
}

fn draw(menu: &Menu, title: &str, colors: Colors, serial: bool) {
    vga_line(0, title, colors.title);
    let search = menu.header_line();
    vga_line(1, &search, NORMAL);
    let list_rows = ROWS - HEADER_ROWS - FOOTER_ROWS;
    let visible = menu.visible();
    if serial {
        println!("polyboot-bios: menu: {}", search);
    }
    for i in 0..list_rows {
        let row = HEADER_ROWS + i;
        match visible.get(i) {
            Some(r) => {
                let tag = status_tag(r.item.status());
                let room = COLS - tag.len() - 2;
                let mut text: String = format!("  {}", r.text).chars().take(room).collect();
                while text.chars().count() < room {
                    text.push(' ');
                }
                text.push_str(tag);
                vga_line(row, &text, if r.selected { INVERSE } else { NORMAL });
                if serial {
                    println!(
                        "polyboot-bios: menu: {} {}",
                        if r.selected { '>' } else { ' ' },
                        r.text
                    );
                }
            }
            None => vga_line(row, "", NORMAL),
        }
    }
    let bottom = HEADER_ROWS + list_rows;
    vga_line(bottom, &"-".repeat(COLS - 1), NORMAL);
    let tip = menu.tip_line().unwrap_or("");
    vga_line(bottom + 1, tip, colors.tip);
    let info = menu.selected_info_line();
    vga_line(bottom + 2, &info, NORMAL);
    vga_line(bottom + 3, &menu.hint_line(), NORMAL);
    if serial {
        if !tip.is_empty() {
            println!("polyboot-bios: menu: tip: {tip}");
        }
        println!("polyboot-bios: menu: info: {info}");
    }
}

/// Run the menu until it yields an action other than a redraw.
pub fn run(menu: &mut Menu, title: &str, colors: Colors) -> Action {
    menu.set_height(ROWS - HEADER_ROWS - FOOTER_ROWS);
    console::vga_clear();
    draw(menu, title, colors, true);
    let mut input = Input::default();
    let mut last_tick = bios::ticks();
    loop {
        let mut action = Action::None;
        while let Some(key) = input.poll() {
            match menu.key(key) {
                Action::None => {}
                Action::Redraw => action = Action::Redraw,
                other => return other,
            }
        }
        if menu.countdown().is_some() {
            let now = bios::ticks();
            let elapsed = now.wrapping_sub(last_tick);
            if elapsed > 0 {
                last_tick = now;
                match menu.tick(u64::from(elapsed.min(1_000)) * TICK_MS) {
                    Action::None => {}
                    Action::Redraw => action = Action::Redraw,
                    other => return other,
                }
            }
        } else {
            last_tick = bios::ticks();
        }
        match action {
            Action::None => bios::idle(),
            Action::Redraw => draw(menu, title, colors, true),
            other => return other,
        }
    }
}

/// Draw a template / backend menu in the main menu's places; on the serial console its
/// header, rows (`>` on the selected one) and keys line as `polyboot-bios: choice: ...`.
fn draw_choice(menu: &ChoiceMenu, colors: Colors) {
    vga_line(0, &menu.title_line(), colors.title);
    let header = menu.header_line();
    vga_line(1, &header, NORMAL);
    println!("polyboot-bios: choice: {header}");
    let list_rows = ROWS - HEADER_ROWS - FOOTER_ROWS;
    let visible = menu.visible();
    for i in 0..list_rows {
        match visible.get(i) {
            Some(r) => {
                let text = format!("  {}", r.text);
                vga_line(HEADER_ROWS + i, &text, if r.selected { INVERSE } else { NORMAL });
                let mark = if r.selected { '>' } else { ' ' };
                println!("polyboot-bios: choice: {mark} {}", r.text);
            }
            None => vga_line(HEADER_ROWS + i, "", NORMAL),
        }
    }
    let bottom = HEADER_ROWS + list_rows;
    vga_line(bottom, &"-".repeat(COLS - 1), NORMAL);
    vga_line(bottom + 1, "", NORMAL);
    vga_line(bottom + 2, "", NORMAL);
    let hint = menu.hint_line();
    vga_line(bottom + 3, &hint, NORMAL);
    println!("polyboot-bios: choice: {hint}");
}

/// Run a template / backend menu (core's `choice::choose` calls this when one is needed)
/// until a choice is made: `Some(option)` (`Some(None)`: boot without) or `None` (Esc: back
/// to the main menu).
pub fn run_choice(menu: &mut ChoiceMenu, colors: Colors) -> Option<Option<usize>> {
    menu.set_height(ROWS - HEADER_ROWS - FOOTER_ROWS);
    let mut input = Input::default();
    // Keys typed before the menu was drawn (a terminal's LF after the CR that chose the
    // image) are not answers to it.
    while input.poll().is_some() {}
    console::vga_clear();
    draw_choice(menu, colors);
    let mut last_tick = bios::ticks();
    loop {
        let mut action = ChoiceAction::Pending;
        while let Some(key) = input.poll() {
            match menu.key(key) {
                ChoiceAction::Pending => {}
                ChoiceAction::Redraw => action = ChoiceAction::Redraw,
                other => {
                    action = other;
                    break;
                }
            }
        }
        if action == ChoiceAction::Pending || action == ChoiceAction::Redraw {
            let now = bios::ticks();
            let elapsed = now.wrapping_sub(last_tick);
            if elapsed > 0 {
                last_tick = now;
                match menu.tick(u64::from(elapsed.min(1_000)) * TICK_MS) {
                    ChoiceAction::Pending => {}
                    other => action = other,
                }
            }
        }
        match action {
            ChoiceAction::Pending => bios::idle(),
            ChoiceAction::Redraw => draw_choice(menu, colors),
            ChoiceAction::Chosen(choice) => {
                console::vga_clear();
                return Some(choice);
            }
            ChoiceAction::Back => return None,
        }
    }
}

/// Carry out a menu action (booting is not there yet in BIOS mode: say so).
pub fn act(menu: &mut Menu, action: Action) {
    match action {
        Action::Boot(index) | Action::ShowReason(index) => {
            let label = menu.items().get(index).map(MenuItem::label).unwrap_or("?");
            let message = match menu.items().get(index).and_then(MenuItem::status) {
                Some(Status::NotBootable(why)) => format!("{label} cannot boot: {why}"),
                _ => format!("{label}: booting images in BIOS mode is not implemented yet"),
            };
            pause(&message);
        }
        Action::Reboot => {
            println!("polyboot-bios: rebooting");
            // Keyboard controller pulse of the reset line, then a triple-fault-free fallback.
            let mut r = Regs::default();
            // SAFETY: port 0x64 command 0xFE resets the machine.
            unsafe { core::arch::asm!("out 0x64, al", in("al") 0xFEu8) };
            bios::int(0x19, &mut r);
        }
        Action::PowerOff => {
            pause("power off is not available in BIOS mode; switch the machine off")
        }
        Action::FirmwareSetup => {
            pause("BIOS setup cannot be entered from here; press the setup key at power-on")
        }
        // Carried out by main.rs with the boot session.
        Action::Verify { .. } | Action::Details(_) | Action::LocalBoot => {}
        Action::None | Action::Redraw => {}
    }
}

/// Show `lines` (the details screen) on VGA and serial, then wait for a key.
pub fn show_lines(lines: &[String]) {
    console::vga_clear();
    for (row, line) in lines.iter().enumerate().take(ROWS - 2) {
        vga_line(row, line, NORMAL);
    }
    for line in lines {
        println!("polyboot-bios: {line}");
    }
    pause("");
}

pub fn pause(message: &str) {
    println!("polyboot-bios: {message}");
    // Wrapped at spaces, its last line just above the key hint: a verification result or a
    // refusal is longer than one 80-column row, and its end says what happened.
    let lines = wrap(message, COLS - 1);
    let shown = lines.len().min(ROWS / 2);
    for (i, line) in lines[lines.len() - shown..].iter().enumerate() {
        vga_line(ROWS - 1 - shown + i, line, TITLE);
    }
    vga_line(ROWS - 1, "press any key to return to the menu", NORMAL);
    let mut input = Input::default();
    let start = bios::ticks();
    while input.poll().is_none() && bios::ticks().wrapping_sub(start) < 18 * 30 {
        bios::idle();
    }
}

/// `text` in lines of at most `width` characters, broken at spaces (a longer word is cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for mut word in text.split(' ') {
        loop {
            let used = line.chars().count();
            let gap = usize::from(used > 0);
            if used + gap + word.chars().count() <= width {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                break;
            }
            if used > 0 {
                lines.push(core::mem::take(&mut line));
                continue;
            }
            let cut = word.char_indices().nth(width).map_or(word.len(), |(at, _)| at);
            lines.push(String::from(&word[..cut]));
            word = &word[cut..];
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}
