//! Ventoy's second-level menus before a Linux image boots: which `auto_install` template
//! and which `persistence` backend, as pure state. The firmware adapters draw the lines
//! composed here and feed keys and timer ticks, like the main menu ([`super::Menu`]).
//!
//! # Behaviour (Ventoy's `vt_select_auto_install` / `vt_select_persistence`)
//!
//! - Rows: "Boot without auto installation template" (resp. "Boot without persistence")
//!   first, then "Boot with <path>" per option, so a row's number is Ventoy's `autosel`
//!   (0 = without, n = the n-th option).
//! - [`decide`]: `autosel` within `0..=options` and no `timeout` → no menu, that row is used.
//!   Otherwise the menu is shown with `autosel`'s row selected (the first option when
//!   `autosel` is absent or past the list); a `timeout` above 0 counts down and then takes
//!   that row, `timeout: 0` (which Ventoy accepts without setting a GRUB timeout) waits.
//! - Keys: Up / Down / PageUp / PageDown / Home / End move (clamped), a digit selects that
//!   row (it does not boot: a template may wipe disks, so Enter confirms), Enter takes the
//!   selected row, Escape goes back to the main menu without booting (Ventoy ignores Escape
//!   there; polyboot offers a way back). Any key stops the countdown.

use super::model::{Countdown, Key};
use crate::config::Choices;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Which of Ventoy's choice menus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceKind {
    AutoInstall,
    Persistence,
}

impl ChoiceKind {
    /// The plugin's name, used in log lines (`auto_install`, `persistence`).
    pub fn plugin(self) -> &'static str {
        match self {
            ChoiceKind::AutoInstall => "auto_install",
            ChoiceKind::Persistence => "persistence",
        }
    }

    /// Ventoy's row for "none" (its `VTLANG_NO_AUTOINS_SCRIPT` / `VTLANG_NO_PERSIST`).
    pub fn without(self) -> &'static str {
        match self {
            ChoiceKind::AutoInstall => "Boot without auto installation template",
            ChoiceKind::Persistence => "Boot without persistence",
        }
    }

    fn what(self) -> &'static str {
        match self {
            ChoiceKind::AutoInstall => "auto installation template",
            ChoiceKind::Persistence => "persistence backend",
        }
    }
}

/// What [`decide`] found: use a choice at once, or ask with a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An index into [`Choices::options`], or `None` for "boot without".
    Use(Option<usize>),
    Ask(ChoiceMenu),
}

/// Whether `choices` (for the image at `image`) need a menu, Ventoy's way (module docs).
pub fn decide(kind: ChoiceKind, image: &str, choices: &Choices) -> Decision {
    if choices.options.is_empty() {
        return Decision::Use(None);
    }
    match (autosel_row(choices), choices.timeout) {
        (Some(row), None) => Decision::Use(option_of(row)),
        _ => Decision::Ask(ChoiceMenu::new(kind, image, choices)),
    }
}

/// `autosel` as a row, when it names one (0 = without).
fn autosel_row(choices: &Choices) -> Option<usize> {
    let row = usize::try_from(choices.autosel?).ok()?;
    (row <= choices.options.len()).then_some(row)
}

/// The option a row stands for: row 0 is "boot without".
fn option_of(row: usize) -> Option<usize> {
    row.checked_sub(1)
}

/// What the caller does after [`ChoiceMenu::key`] or [`ChoiceMenu::tick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceAction {
    /// Nothing changed: keep waiting.
    Pending,
    /// The state changed: draw again, keep waiting.
    Redraw,
    /// Boot with this option (an index into [`Choices::options`]), or without (`None`).
    Chosen(Option<usize>),
    /// Escape: back to the main menu, boot nothing.
    Back,
}

/// One row to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceRow {
    /// 0 = "boot without", n = the n-th option.
    pub row: usize,
    pub selected: bool,
    pub text: String,
}

/// Visible height before [`ChoiceMenu::set_height`] is called.
pub const DEFAULT_HEIGHT: usize = 16;
/// The keys line shown when no countdown runs.
pub const CHOICE_KEYS_HELP: &str = "arrows / digits select, Enter boots, Esc back to the menu";

/// One choice menu. Invariants: `selected < rows()` and `top <= selected < top + height`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceMenu {
    kind: ChoiceKind,
    image: String,
    options: Vec<String>,
    /// The row the countdown takes, selected at the start.
    default: usize,
    selected: usize,
    top: usize,
    height: usize,
    countdown: Option<Countdown>,
    /// The countdown ran out (the choice was nobody's key).
    timed_out: bool,
}

impl ChoiceMenu {
    /// The menu for `choices` whatever [`decide`] says (`autosel`'s row selected, the
    /// first option without it; a countdown when `timeout` is above 0).
    pub fn new(kind: ChoiceKind, image: &str, choices: &Choices) -> ChoiceMenu {
        let rows = choices.options.len() + 1;
        let default = autosel_row(choices).unwrap_or(1).min(rows - 1);
        let mut menu = ChoiceMenu {
            kind,
            image: String::from(image),
            options: choices.options.clone(),
            default,
            selected: default,
            top: 0,
            height: DEFAULT_HEIGHT,
            countdown: choices.timeout.filter(|&t| t > 0).map(Countdown::new),
            timed_out: false,
        };
        menu.scroll();
        menu
    }

    pub fn kind(&self) -> ChoiceKind {
        self.kind
    }

    /// Number of rows: the options and "boot without".
    pub fn rows(&self) -> usize {
        self.options.len() + 1
    }

    /// The selected row (0 = "boot without").
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// The first row drawn.
    pub fn top(&self) -> usize {
        self.top
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn countdown(&self) -> Option<&Countdown> {
        self.countdown.as_ref()
    }

    /// Whether the countdown ran out and chose.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// The row the countdown takes (`autosel`'s, else the first option).
    pub fn default_row(&self) -> usize {
        self.default
    }

    /// Rows available for the list (0 is treated as 1); keeps the selection in view.
    pub fn set_height(&mut self, rows: usize) {
        self.height = rows.max(1);
        self.scroll();
    }

    /// The text of row `row`: Ventoy's "Boot without ..." or "Boot with <path>".
    pub fn row_text(&self, row: usize) -> String {
        match option_of(row).and_then(|i| self.options.get(i)) {
            Some(path) => format!("Boot with {path}"),
            None => String::from(self.kind.without()),
        }
    }

    /// The rows to draw, top to bottom: at most `height`.
    pub fn visible(&self) -> Vec<ChoiceRow> {
        (self.top..self.rows())
            .take(self.height)
            .map(|row| ChoiceRow { row, selected: row == self.selected, text: self.row_text(row) })
            .collect()
    }

    /// Handle one key press. Any key stops the countdown.
    pub fn key(&mut self, key: Key) -> ChoiceAction {
        let stopped = self.countdown.take().is_some();
        let last = self.rows() - 1;
        let target = match key {
            Key::Up => self.selected.saturating_sub(1),
            Key::Down => self.selected.saturating_add(1).min(last),
            Key::PageUp => self.selected.saturating_sub(self.height),
            Key::PageDown => self.selected.saturating_add(self.height).min(last),
            Key::Home => 0,
            Key::End => last,
            Key::Enter => return ChoiceAction::Chosen(option_of(self.selected)),
            Key::Escape => return ChoiceAction::Back,
            Key::Char(c) => match c.to_digit(10).map(|d| d as usize) {
                Some(row) if row <= last => row,
                _ => self.selected,
            },
            Key::Backspace | Key::F(_) => self.selected,
        };
        if target == self.selected {
            return if stopped { ChoiceAction::Redraw } else { ChoiceAction::Pending };
        }
        self.selected = target;
        self.scroll();
        ChoiceAction::Redraw
    }

    /// Advance the countdown by `elapsed_ms`: `Redraw` when the seconds shown change, the
    /// default row when it runs out; `Pending` when no countdown runs.
    pub fn tick(&mut self, elapsed_ms: u64) -> ChoiceAction {
        let Some(countdown) = &mut self.countdown else {
            return ChoiceAction::Pending;
        };
        let changed = countdown.tick(elapsed_ms);
        if !countdown.is_expired() {
            return if changed { ChoiceAction::Redraw } else { ChoiceAction::Pending };
        }
        self.countdown = None;
        self.timed_out = true;
        self.selected = self.default;
        self.scroll();
        ChoiceAction::Chosen(option_of(self.default))
    }

    /// Keep `top <= selected < top + height` without blank rows at the bottom.
    fn scroll(&mut self) {
        let max_top = self.rows().saturating_sub(self.height);
        if self.selected < self.top {
            self.top = self.selected;
        } else if self.selected >= self.top.saturating_add(self.height) {
            self.top = self.selected + 1 - self.height;
        }
        self.top = self.top.min(max_top);
    }

    /// The title row: which image the choice is for.
    pub fn title_line(&self) -> String {
        format!("{}: {}", self.image, self.kind.what())
    }

    /// The line under the title.
    pub fn header_line(&self) -> String {
        format!("Choose the {} to boot with, or boot without one", self.kind.what())
    }

    /// The bottom line: the countdown while it runs, else the keys.
    pub fn hint_line(&self) -> String {
        match &self.countdown {
            Some(c) => format!(
                "{} in {} s (any key stops)",
                self.row_text(self.default),
                c.remaining_secs()
            ),
            None => String::from(CHOICE_KEYS_HELP),
        }
    }

    /// The log line when the menu is shown: `auto_install menu: 3 rows`.
    pub fn shown_line(&self) -> String {
        let mut line = format!("{} menu: {} rows", self.kind.plugin(), self.rows());
        if let Some(c) = &self.countdown {
            line.push_str(&format!(
                ", {} in {} s",
                self.row_text(self.default),
                c.remaining_secs()
            ));
        }
        line
    }
}

/// The log line for a choice: `auto_install: chosen /ventoy/b.cfg (how)`.
pub fn chosen_line(
    kind: ChoiceKind,
    choices: &Choices,
    choice: Option<usize>,
    how: &str,
) -> String {
    let what = match choice.and_then(|i| choices.options.get(i)) {
        Some(path) => path.clone(),
        None => format!("none ({})", kind.without()),
    };
    format!("{}: chosen {what} ({how})", kind.plugin())
}

/// Decide, show the menu through `run` when needed and log what happened. `run` draws
/// the menu and feeds it keys and ticks until it yields [`ChoiceAction::Chosen`] (its index)
/// or [`ChoiceAction::Back`] (`None`). Returns `None` when the user went back to the main
/// menu, else the option to boot with (`Some(None)`: without; also when nothing is
/// configured).
pub fn choose(
    kind: ChoiceKind,
    image: &str,
    choices: Option<&Choices>,
    run: &mut dyn FnMut(&mut ChoiceMenu) -> Option<Option<usize>>,
    log: &mut dyn FnMut(fmt::Arguments<'_>),
) -> Option<Option<usize>> {
    let Some(choices) = choices else { return Some(None) };
    let mut menu = match decide(kind, image, choices) {
        Decision::Use(choice) => {
            let how = match choices.autosel {
                Some(n) => format!("autosel {n}, no menu"),
                None => String::from("no menu"),
            };
            log(format_args!("{}", chosen_line(kind, choices, choice, &how)));
            return Some(choice);
        }
        Decision::Ask(menu) => menu,
    };
    log(format_args!("{}", menu.shown_line()));
    match run(&mut menu) {
        Some(choice) => {
            let how = if menu.timed_out() { "timeout" } else { "menu" };
            log(format_args!("{}", chosen_line(kind, choices, choice, how)));
            Some(choice)
        }
        None => {
            log(format_args!("{} menu: Esc, back to the main menu", kind.plugin()));
            None
        }
    }
}

#[cfg(test)]
mod tests;
