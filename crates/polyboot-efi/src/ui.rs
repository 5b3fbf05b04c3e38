//! The menu on the UEFI text console (mirrored to the serial console by the firmware).
//! All menu logic lives in `polyboot_core::menu`; this file only draws and reads keys.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use polyboot_core::menu::choice::{ChoiceAction, ChoiceMenu};
use polyboot_core::menu::{Action, Key, Menu, Status};
use uefi::boot::{self, EventType, TimerTrigger, Tpl};
use uefi::proto::console::text::{Color, Key as UefiKey, ScanCode};
use uefi::runtime::{self, ResetType, VariableAttributes, VariableVendor};
use uefi::{cstr16, system, CString16};

/// Rows above the list (title, prompt / search line) and below it (separator, tip line, info
/// line, keys / countdown line).
const HEADER_ROWS: usize = 2;
const FOOTER_ROWS: usize = 4;
const TICK_MS: u64 = 100;

fn screen_size() -> (usize, usize) {
    system::with_stdout(|out| out.current_mode().ok().flatten().map(|m| (m.columns(), m.rows())))
        .unwrap_or((80, 25))
}

/// Text colours: core's 16-colour index is UEFI's `EFI_*` colour order.
fn color(index: u8) -> Color {
    const COLORS: [Color; 16] = [
        Color::Black,
        Color::Blue,
        Color::Green,
        Color::Cyan,
        Color::Red,
        Color::Magenta,
        Color::Brown,
        Color::LightGray,
        Color::DarkGray,
        Color::LightBlue,
        Color::LightGreen,
        Color::LightCyan,
        Color::LightRed,
        Color::LightMagenta,
        Color::Yellow,
        Color::White,
    ];
    COLORS[usize::from(index & 15)]
}

/// How a line is drawn.
#[derive(Clone, Copy)]
enum Style {
    Normal,
    Selected,
    Colored(Color),
}

fn put(row: usize, text: &str, cols: usize, highlight: bool) {
    put_styled(row, text, cols, if highlight { Style::Selected } else { Style::Normal });
}

fn put_styled(row: usize, text: &str, cols: usize, style: Style) {
    // Pad to the full width so a shorter line overwrites a longer one; keep the last column
    // empty, writing there scrolls some consoles.
    let width = cols.saturating_sub(1);
    let mut line: String = text.chars().take(width).collect();
    while line.chars().count() < width {
        line.push(' ');
    }
    let text16 =
        CString16::try_from(line.as_str()).unwrap_or_else(|_| CString16::try_from("?").unwrap());
    system::with_stdout(|out| {
        let _ = out.set_cursor_position(0, row);
        match style {
            Style::Normal => {}
            Style::Selected => {
                let _ = out.set_color(Color::Black, Color::LightGray);
            }
            Style::Colored(c) => {
                let _ = out.set_color(c, Color::Black);
            }
        }
        let _ = out.output_string(&text16);
        if !matches!(style, Style::Normal) {
            let _ = out.set_color(Color::LightGray, Color::Black);
        }
    });
}

fn status_tag(status: Option<&Status>) -> String {
    match status {
        Some(Status::Bootable { bios, uefi }) => match (*uefi, *bios) {
            (true, true) => String::from("UEFI+BIOS"),
            (true, false) => String::from("UEFI"),
            (false, true) => String::from("BIOS only"),
            (false, false) => String::from("-"),
        },
        Some(Status::NotBootable(_)) => String::from("not bootable"),
        _ => String::new(),
    }
}

/// Colours from the configuration's `theme` / `menu_tip`.
#[derive(Clone, Copy, Default)]
pub struct Colors {
    pub title: Option<u8>,
    pub tip: Option<u8>,
}

fn styled(c: Option<u8>) -> Style {
    c.map_or(Style::Normal, |c| Style::Colored(color(c)))
}

pub fn draw(menu: &Menu, title: &str, colors: Colors) {
    let (cols, rows) = screen_size();
    put_styled(0, title, cols, styled(colors.title));
    put(1, &menu.header_line(), cols, false);
    let list_rows = rows.saturating_sub(HEADER_ROWS + FOOTER_ROWS).max(1);
    let visible = menu.visible();
    for i in 0..list_rows {
        let row = HEADER_ROWS + i;
        match visible.get(i) {
            Some(r) => {
                let label = &r.text;
                let tag = status_tag(r.item.status());
                let room = cols.saturating_sub(4 + tag.len() + 1);
                let mut text: String = format!("  {label}").chars().take(room).collect();
                while text.chars().count() < room {
                    text.push(' ');
                }
                text.push_str(&tag);
                put(row, &text, cols, r.selected);
            }
            None => put(row, "", cols, false),
        }
    }
    let bottom = HEADER_ROWS + list_rows;
    put(bottom, &"-".repeat(cols.saturating_sub(1)), cols, false);
    put_styled(bottom + 1, menu.tip_line().unwrap_or(""), cols, styled(colors.tip));
    put(bottom + 2, &menu.selected_info_line(), cols, false);
    put(bottom + 3, &menu.hint_line(), cols, false);
}

fn map_key(key: UefiKey) -> Option<Key> {
    Some(match key {
        UefiKey::Special(ScanCode::UP) => Key::Up,
        UefiKey::Special(ScanCode::DOWN) => Key::Down,
        UefiKey::Special(ScanCode::PAGE_UP) => Key::PageUp,
        UefiKey::Special(ScanCode::PAGE_DOWN) => Key::PageDown,
        UefiKey::Special(ScanCode::HOME) => Key::Home,
        UefiKey::Special(ScanCode::END) => Key::End,
        UefiKey::Special(ScanCode::ESCAPE) => Key::Escape,
        UefiKey::Special(code)
            if (ScanCode::FUNCTION_1.0..=ScanCode::FUNCTION_10.0).contains(&code.0) =>
        {
            Key::F((code.0 - ScanCode::FUNCTION_1.0 + 1) as u8)
        }
        UefiKey::Special(_) => return None,
        UefiKey::Printable(c) => match char::from(c) {
            '\r' | '\n' => Key::Enter,
            '\u{8}' | '\u{7f}' => Key::Backspace,
            c if !c.is_control() => Key::Char(c),
            _ => return None,
        },
    })
}

/// Run the menu until it yields an action other than a redraw.
pub fn run(menu: &mut Menu, title: &str, colors: Colors) -> Action {
    let (_, rows) = screen_size();
    menu.set_height(rows.saturating_sub(HEADER_ROWS + FOOTER_ROWS).max(1));
    system::with_stdout(|out| {
        let _ = out.clear();
        let _ = out.enable_cursor(false);
    });
    draw(menu, title, colors);
    // SAFETY: a plain timer event without a notification function.
    let timer = unsafe { boot::create_event(EventType::TIMER, Tpl::APPLICATION, None, None) }.ok();
    if let Some(t) = &timer {
        let _ =
            boot::set_timer(t, TimerTrigger::Periodic(core::time::Duration::from_millis(TICK_MS)));
    }
    let action = loop {
        let key_event = system::with_stdin(|input| input.wait_for_key_event().ok());
        let mut events: Vec<uefi::Event> = Vec::new();
        if let Some(k) = key_event {
            events.push(k);
        }
        let timer_index = match (&timer, menu.countdown().is_some()) {
            (Some(t), true) => {
                // SAFETY: the event stays alive for the duration of the wait.
                events.push(unsafe { t.unsafe_clone() });
                Some(events.len() - 1)
            }
            _ => None,
        };
        // WaitForEvent resets the event it reports: which one fired comes from its index.
        let fired = if events.is_empty() {
            boot::stall(core::time::Duration::from_millis(TICK_MS));
            None
        } else {
            boot::wait_for_event(&events).ok()
        };
        let mut action = Action::None;
        if fired.is_some() && fired == timer_index {
            action = menu.tick(TICK_MS);
        }
        while let Some(key) = system::with_stdin(|input| input.read_key().ok().flatten()) {
            if let Some(k) = map_key(key) {
                match menu.key(k) {
                    Action::None => {}
                    Action::Redraw => action = Action::Redraw,
                    other => {
                        action = other;
                        break;
                    }
                }
            }
        }
        match action {
            Action::None => {}
            Action::Redraw => draw(menu, title, colors),
            other => break other,
        }
    };
    if let Some(t) = timer {
        let _ = boot::close_event(t);
    }
    action
}

/// Draw a template / backend menu: title, header, the rows, separator and keys line, in
/// the main menu's places.
fn draw_choice(menu: &ChoiceMenu, colors: Colors) {
    let (cols, rows) = screen_size();
    put_styled(0, &menu.title_line(), cols, styled(colors.title));
    put(1, &menu.header_line(), cols, false);
    let list_rows = rows.saturating_sub(HEADER_ROWS + FOOTER_ROWS).max(1);
    let visible = menu.visible();
    for i in 0..list_rows {
        match visible.get(i) {
            Some(r) => put(HEADER_ROWS + i, &format!("  {}", r.text), cols, r.selected),
            None => put(HEADER_ROWS + i, "", cols, false),
        }
    }
    let bottom = HEADER_ROWS + list_rows;
    put(bottom, &"-".repeat(cols.saturating_sub(1)), cols, false);
    put(bottom + 1, "", cols, false);
    put(bottom + 2, "", cols, false);
    put(bottom + 3, &menu.hint_line(), cols, false);
}

/// Run a template / backend menu (core's `choice::choose` calls this when one is needed)
/// until a choice is made: `Some(option)` (`Some(None)`: boot without) or `None` (Esc: back
/// to the main menu).
pub fn run_choice(menu: &mut ChoiceMenu, colors: Colors) -> Option<Option<usize>> {
    let (_, rows) = screen_size();
    menu.set_height(rows.saturating_sub(HEADER_ROWS + FOOTER_ROWS).max(1));
    // Keys typed before the menu was drawn (a terminal's LF after the CR that chose the
    // image) are not answers to it.
    while system::with_stdin(|input| input.read_key().ok().flatten()).is_some() {}
    system::with_stdout(|out| {
        let _ = out.clear();
        let _ = out.enable_cursor(false);
    });
    draw_choice(menu, colors);
    // SAFETY: a plain timer event without a notification function.
    let timer = unsafe { boot::create_event(EventType::TIMER, Tpl::APPLICATION, None, None) }.ok();
    if let Some(t) = &timer {
        let _ =
            boot::set_timer(t, TimerTrigger::Periodic(core::time::Duration::from_millis(TICK_MS)));
    }
    let outcome = loop {
        let key_event = system::with_stdin(|input| input.wait_for_key_event().ok());
        let mut events: Vec<uefi::Event> = Vec::new();
        if let Some(k) = key_event {
            events.push(k);
        }
        let timer_index = match (&timer, menu.countdown().is_some()) {
            (Some(t), true) => {
                // SAFETY: the event stays alive for the duration of the wait.
                events.push(unsafe { t.unsafe_clone() });
                Some(events.len() - 1)
            }
            _ => None,
        };
        let fired = if events.is_empty() {
            boot::stall(core::time::Duration::from_millis(TICK_MS));
            None
        } else {
            boot::wait_for_event(&events).ok()
        };
        let mut action = ChoiceAction::Pending;
        if fired.is_some() && fired == timer_index {
            action = menu.tick(TICK_MS);
        }
        while let Some(key) = system::with_stdin(|input| input.read_key().ok().flatten()) {
            if let Some(k) = map_key(key) {
                match menu.key(k) {
                    ChoiceAction::Pending => {}
                    ChoiceAction::Redraw => action = ChoiceAction::Redraw,
                    other => {
                        action = other;
                        break;
                    }
                }
            }
        }
        match action {
            ChoiceAction::Pending => {}
            ChoiceAction::Redraw => draw_choice(menu, colors),
            ChoiceAction::Chosen(choice) => break Some(choice),
            ChoiceAction::Back => break None,
        }
    };
    if let Some(t) = timer {
        let _ = boot::close_event(t);
    }
    system::with_stdout(|out| {
        let _ = out.clear();
    });
    outcome
}

/// Show a message under the menu and wait for a key (or `secs` seconds).
pub fn pause(message: &str, secs: u64) {
    if !message.is_empty() {
        println!("{message}");
    }
    println!("press any key to return to the menu");
    let mut waited = 0;
    while waited < secs * 1000 {
        if system::with_stdin(|input| input.read_key().ok().flatten()).is_some() {
            break;
        }
        boot::stall(core::time::Duration::from_millis(50));
        waited += 50;
    }
}

pub fn reboot() -> ! {
    runtime::reset(ResetType::COLD, uefi::Status::SUCCESS, None)
}

pub fn power_off() -> ! {
    runtime::reset(ResetType::SHUTDOWN, uefi::Status::SUCCESS, None)
}

/// Ask the firmware to open its setup screen at the next boot, then reboot. Returns only
/// with the reason it cannot.
pub fn firmware_setup() -> String {
    const BOOT_TO_FW_UI: u64 = 1;
    let mut buf = [0u8; 8];
    let supported = runtime::get_variable(
        cstr16!("OsIndicationsSupported"),
        &VariableVendor::GLOBAL_VARIABLE,
        &mut buf,
    )
    .ok()
    .map(|(data, _)| u64::from_le_bytes(data.try_into().unwrap_or([0; 8])))
    .unwrap_or(0);
    if supported & BOOT_TO_FW_UI == 0 {
        return String::from("this firmware does not offer booting into its setup screen");
    }
    let attrs = VariableAttributes::NON_VOLATILE
        | VariableAttributes::BOOTSERVICE_ACCESS
        | VariableAttributes::RUNTIME_ACCESS;
    match runtime::set_variable(
        cstr16!("OsIndications"),
        &VariableVendor::GLOBAL_VARIABLE,
        attrs,
        &BOOT_TO_FW_UI.to_le_bytes(),
    ) {
        Ok(()) => reboot(),
        Err(e) => format!("cannot set OsIndications: {:?}", e.status()),
    }
}

/// Switch to the largest text mode that fits `width` x `height` pixels (theme `gfxmode`; the
/// firmware's console font is 8 x 19 pixels). Returns the mode chosen, `None` when no mode
/// fits or the firmware refuses.
pub fn set_text_mode_for(width: u32, height: u32) -> Option<(usize, usize)> {
    let (max_cols, max_rows) = (width as usize / 8, height as usize / 19);
    system::with_stdout(|out| {
        let best = out
            .modes()
            .filter(|m| m.columns() <= max_cols && m.rows() <= max_rows)
            .max_by_key(|m| m.columns() * m.rows())?;
        let size = (best.columns(), best.rows());
        out.set_mode(best).ok()?;
        Some(size)
    })
}

/// Show `lines` (the details screen, a verification result) and wait for a key.
pub fn show_lines(lines: &[String], secs: u64) {
    system::with_stdout(|out| {
        let _ = out.clear();
    });
    for line in lines {
        println!("polyboot: {line}");
    }
    pause("", secs);
}
