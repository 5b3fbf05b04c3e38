//! The boot menu as pure state: what is listed, what is selected, what a key does.
//!
//! Nothing here draws or reads keys: the firmware turns key presses into [`Key`]s, feeds them
//! to [`Menu::key`] and timer ticks to [`Menu::tick`], draws [`Menu::visible`] and the text
//! lines ([`Menu::header_line`], [`Menu::tip_line`], [`Menu::selected_info_line`],
//! [`Menu::hint_line`]) and carries out the returned [`Action`].
//!
//! # Behaviour
//!
//! - Items: every image, then the fixed entries "Boot from the local disk", Reboot, Power
//!   off, Firmware setup. In tree view ([`MenuMode::Tree`], F3 switches) the directories
//!   between the search root and the images are entries too: Enter opens one, the `..` entry,
//!   Backspace or Escape goes back up. List view shows each image with its path.
//! - Names: an image or directory with a `menu_alias` shows the alias; a `menu_class` is shown
//!   as a `[tag]` after it; a `menu_tip` is shown on the tip line while it is selected.
//! - Up/Down/PageUp/PageDown/Home/End *clamp* at the ends rather than wrap: holding a key never
//!   spins past the end, and End reaches the fixed entries in one key press.
//! - A letter or digit jumps to the next entry whose name starts with it (wrapping around).
//! - `/` starts a search across the whole tree: typed characters narrow the list to the
//!   images (and fixed entries) whose name or path contains them, case-insensitively.
//!   Backspace edits; Escape ends the search. The selected item stays selected while it still
//!   matches; otherwise the first match is selected.
//! - Enter on an image returns [`Action::Boot`], or [`Action::ShowReason`] when its status is
//!   [`Status::NotBootable`]. An image with a password asks for it first (a wrong one returns
//!   to the menu with a note); one with `verify_before_boot` returns [`Action::Verify`] with
//!   `then_boot`, and the caller boots only when the checksum matches.
//! - F2 shows the selected image's details ([`Action::Details`]), F4 boots the machine's own
//!   disk ([`Action::LocalBoot`]), F5 verifies the selected image's SHA-256
//!   ([`Action::Verify`]).
//! - A boot password (`bootpwd`) locks the whole menu until it is typed: nothing is listed,
//!   every key goes to the prompt, and three wrong answers reboot (Ventoy exits).
//! - Timeout: a [`Countdown`] runs only when a default image is set ([`Menu::set_default`]);
//!   any key cancels it. On expiry the default is activated like Enter would (password and
//!   verification included). A timeout of 0 boots the default on the first tick.

use super::{format_size, normalize_path, ImageEntry, ImageKind};
use crate::config::pattern::parent_of;
use crate::config::{BootConfig, EntrySettings, MenuMode, Password};
use crate::path::eq_ignore_case;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// What the caller found out about an image (set with [`Menu::set_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not examined yet: Enter still tries to boot it.
    Unknown,
    /// Boot records found for these firmware modes.
    Bootable { bios: bool, uefi: bool },
    /// Cannot be booted; the text says why (shown on the info line and on Enter).
    NotBootable(String),
}

impl Status {
    /// The short form used on the info line: "UEFI+BIOS", "UEFI", "not bootable: ...".
    pub fn describe(&self) -> String {
        match self {
            Status::Unknown => String::from("not checked"),
            Status::Bootable { bios: true, uefi: true } => String::from("UEFI+BIOS"),
            Status::Bootable { bios: false, uefi: true } => String::from("UEFI"),
            Status::Bootable { bios: true, uefi: false } => String::from("BIOS"),
            Status::Bootable { bios: false, uefi: false } => String::from("no boot mode"),
            Status::NotBootable(reason) => format!("not bootable: {reason}"),
        }
    }
}

/// Reason given for kinds that [`ImageKind::is_bootable_yet`] rejects.
pub fn not_bootable_yet_reason(kind: ImageKind) -> String {
    format!("{} images are not bootable yet", kind.label())
}

/// One menu line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuItem {
    Image {
        image: ImageEntry,
        status: Status,
    },
    /// A directory (tree view only).
    Dir {
        path: String,
        name: String,
    },
    /// Back to the parent directory (tree view only).
    Up,
    LocalBoot,
    Reboot,
    PowerOff,
    FirmwareSetup,
}

impl MenuItem {
    /// The item's own name: the image or directory path, or the name of a fixed entry.
    pub fn label(&self) -> &str {
        match self {
            MenuItem::Image { image, .. } => &image.path,
            MenuItem::Dir { path, .. } => path,
            MenuItem::Up => "..",
            MenuItem::LocalBoot => "Boot from the local disk",
            MenuItem::Reboot => "Reboot",
            MenuItem::PowerOff => "Power off",
            MenuItem::FirmwareSetup => "Firmware setup",
        }
    }

    pub fn image(&self) -> Option<&ImageEntry> {
        match self {
            MenuItem::Image { image, .. } => Some(image),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<&Status> {
        match self {
            MenuItem::Image { status, .. } => Some(status),
            _ => None,
        }
    }

    fn is_fixed(&self) -> bool {
        matches!(
            self,
            MenuItem::LocalBoot | MenuItem::Reboot | MenuItem::PowerOff | MenuItem::FirmwareSetup
        )
    }
}

/// Input to the menu, already decoded from the firmware's key codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Escape,
    Backspace,
    Char(char),
    /// A function key, F1 = `F(1)`.
    F(u8),
}

/// What the caller must do after [`Menu::key`] or [`Menu::tick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    None,
    /// The state changed: draw the menu again.
    Redraw,
    /// Boot the image at this index of [`Menu::items`].
    Boot(usize),
    /// The image at this index is not bootable: show its [`Status::NotBootable`] reason.
    ShowReason(usize),
    /// Check the image's SHA-256 against its `.sha256` sidecar and show the result; with
    /// `then_boot`, boot it when (and only when) it matches.
    Verify {
        index: usize,
        then_boot: bool,
    },
    /// Show the image's details.
    Details(usize),
    /// Boot the machine's own disk (Ventoy's F4).
    LocalBoot,
    Reboot,
    PowerOff,
    FirmwareSetup,
}

/// A menu timeout, as pure state: the caller reports elapsed time with [`Countdown::tick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Countdown {
    pub remaining_ms: u64,
}

impl Countdown {
    pub fn new(secs: u32) -> Countdown {
        Countdown { remaining_ms: u64::from(secs) * 1000 }
    }

    /// Whole seconds left, rounded up (what to display: "Booting in 5 s").
    pub fn remaining_secs(&self) -> u64 {
        self.remaining_ms.div_ceil(1000)
    }

    pub fn is_expired(&self) -> bool {
        self.remaining_ms == 0
    }

    /// Count down by `elapsed_ms`; true when the displayed seconds changed.
    pub fn tick(&mut self, elapsed_ms: u64) -> bool {
        let before = self.remaining_secs();
        self.remaining_ms = self.remaining_ms.saturating_sub(elapsed_ms);
        self.remaining_secs() != before
    }
}

/// One row to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    /// Index into [`Menu::items`].
    pub index: usize,
    pub item: &'a MenuItem,
    pub selected: bool,
    /// What to show: the alias or name (path in list view), and the class as `[tag]`.
    pub text: String,
}

/// Longest filter, in characters; further typing is ignored.
pub const MAX_FILTER_CHARS: usize = 64;
/// Visible height before [`Menu::set_height`] is called.
pub const DEFAULT_HEIGHT: usize = 16;
/// Wrong boot passwords before the machine reboots.
pub const BOOT_PASSWORD_TRIES: u8 = 3;
/// The keys line shown when no countdown runs.
pub const KEYS_HELP: &str = "/ search  F2 details  F3 tree/list  F4 local disk  F5 verify SHA-256";

/// A password being typed: for the whole menu (`None`) or before an image boots.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prompt {
    image: Option<usize>,
    typed: String,
}

/// The boot menu state. Fields are private to keep the invariants: `visible` holds the
/// indices of the items shown (in order), `selected < visible.len()` (0 when empty) and
/// `top <= selected < top + height` whenever the list is not empty; `settings` runs parallel
/// to `items`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    items: Vec<MenuItem>,
    settings: Vec<EntrySettings>,
    images: usize,
    mode: MenuMode,
    /// Tree view: the search root and the directory shown.
    root: String,
    cwd: String,
    searching: bool,
    filter: String,
    selected: usize,
    top: usize,
    height: usize,
    visible: Vec<usize>,
    default: Option<usize>,
    countdown: Option<Countdown>,
    prompt: Option<Prompt>,
    /// `bootpwd`, while the menu is still locked.
    lock: Option<Password>,
    failures: u8,
    asterisks: bool,
    /// A one-off note for the info line (cleared by the next key).
    message: Option<String>,
}

impl Menu {
    /// A menu of `images` (in the given order) with the default configuration.
    pub fn new(images: Vec<ImageEntry>) -> Menu {
        Menu::with_config(images, &BootConfig::default())
    }

    /// A menu of `images` (in the given order; the caller has applied `image_list`) with
    /// `config`'s aliases, tips, classes, passwords, view and verification rules. Kinds that
    /// are not bootable yet start as [`Status::NotBootable`], the others as
    /// [`Status::Unknown`].
    pub fn with_config(images: Vec<ImageEntry>, config: &BootConfig) -> Menu {
        let root = normalize_path(&config.search_root).unwrap_or_else(|| String::from("/"));
        let mut items = Vec::with_capacity(images.len() + 8);
        let mut settings = Vec::with_capacity(images.len() + 8);
        let mut dirs: Vec<String> = Vec::new();
        let mut seen = alloc::collections::BTreeSet::new();
        for image in images {
            settings.push(config.image_settings(&image.path, &image.name, image.kind));
            // The directories between the root and the image, outermost first.
            let mut chain = Vec::new();
            let mut dir = parent_of(&image.path);
            while dir.len() > root.len() && crate::config::pattern::under(&root, dir) {
                chain.push(dir.to_string());
                dir = parent_of(dir);
            }
            for d in chain.into_iter().rev() {
                if seen.insert(d.to_ascii_lowercase()) {
                    dirs.push(d);
                }
            }
            let status = if image.kind.is_bootable_yet() {
                Status::Unknown
            } else {
                Status::NotBootable(not_bootable_yet_reason(image.kind))
            };
            items.push(MenuItem::Image { image, status });
        }
        let images = items.len();
        for path in dirs {
            settings.push(config.dir_settings(&path));
            let name = path.rsplit('/').next().unwrap_or_default().to_string();
            items.push(MenuItem::Dir { path, name });
        }
        items.extend([
            MenuItem::Up,
            MenuItem::LocalBoot,
            MenuItem::Reboot,
            MenuItem::PowerOff,
            MenuItem::FirmwareSetup,
        ]);
        settings.resize(items.len(), EntrySettings::default());
        let lock = config.passwords.boot.clone();
        let mut menu = Menu {
            items,
            settings,
            images,
            mode: config.menu_mode,
            cwd: root.clone(),
            root,
            searching: false,
            filter: String::new(),
            selected: 0,
            top: 0,
            height: DEFAULT_HEIGHT,
            visible: Vec::new(),
            default: None,
            countdown: None,
            prompt: lock.is_some().then(|| Prompt { image: None, typed: String::new() }),
            lock,
            failures: 0,
            asterisks: config.show_password_asterisks,
            message: None,
        };
        menu.refilter();
        menu
    }

    pub fn items(&self) -> &[MenuItem] {
        &self.items
    }

    /// Number of images (the first items).
    pub fn image_count(&self) -> usize {
        self.images
    }

    pub fn mode(&self) -> MenuMode {
        self.mode
    }

    /// The directory tree view shows.
    pub fn current_dir(&self) -> &str {
        &self.cwd
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Whether the menu is locked behind the boot password.
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    /// Position of the selection in the visible list.
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// Position in the visible list of the first row drawn.
    pub fn top(&self) -> usize {
        self.top
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// How many items are listed.
    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    /// Index into [`items`](Self::items) of the selected item; `None` when nothing is listed.
    pub fn selected_index(&self) -> Option<usize> {
        self.visible.get(self.selected).copied()
    }

    /// The default image chosen with [`set_default`](Self::set_default).
    pub fn default_index(&self) -> Option<usize> {
        self.default
    }

    pub fn countdown(&self) -> Option<&Countdown> {
        self.countdown.as_ref()
    }

    /// What the configuration says about item `index` (alias, tip, class, password, ...).
    pub fn settings(&self, index: usize) -> Option<&EntrySettings> {
        self.settings.get(index)
    }

    /// Record what the caller found out about image `index`; false if it is not an image.
    pub fn set_status(&mut self, index: usize, new: Status) -> bool {
        match self.items.get_mut(index) {
            Some(MenuItem::Image { status, .. }) => {
                *status = new;
                true
            }
            _ => false,
        }
    }

    /// Show `message` on the info line until the next key.
    pub fn set_message(&mut self, message: String) {
        self.message = Some(message);
    }

    /// Rows available for the list (0 is treated as 1); keeps the selection in view.
    pub fn set_height(&mut self, rows: usize) {
        self.height = rows.max(1);
        self.scroll();
    }

    /// The name item `index` is shown with: the alias, else the path (list view, search) or
    /// the name (tree view); a class as `  [class]`.
    pub fn display_text(&self, index: usize) -> String {
        let Some(item) = self.items.get(index) else { return String::new() };
        let settings = &self.settings[index];
        let tree = self.mode == MenuMode::Tree && !self.searching;
        let mut text = match (item, &settings.alias) {
            (MenuItem::Dir { name, .. }, None) => format!("{name}/"),
            (MenuItem::Dir { .. }, Some(alias)) => format!("{alias}/"),
            (MenuItem::Image { image, .. }, None) if tree => image.name.clone(),
            (_, Some(alias)) => alias.clone(),
            (other, None) => other.label().to_string(),
        };
        if let Some(class) = &settings.class {
            text.push_str("  [");
            text.push_str(class);
            text.push(']');
        }
        text
    }

    /// The rows to draw, top to bottom: at most `height`; none while the boot password is
    /// asked (nothing on the drive is shown before it).
    pub fn visible(&self) -> Vec<Row<'_>> {
        if self.lock.is_some() {
            return Vec::new();
        }
        self.visible
            .iter()
            .enumerate()
            .skip(self.top)
            .take(self.height)
            .filter_map(|(pos, &index)| {
                Some(Row {
                    index,
                    item: self.items.get(index)?,
                    selected: pos == self.selected,
                    text: self.display_text(index),
                })
            })
            .collect()
    }

    /// The image whose path is `path`: exact match first, then case-insensitive (exFAT names
    /// are case-insensitive, so `/iso/x.iso` names the same file as `/ISO/x.iso`). The path is
    /// normalised first (`//ISO/x.iso/` works); relative paths never match.
    pub fn find_image(&self, path: &str) -> Option<usize> {
        let path = normalize_path(path)?;
        let images =
            || self.items.iter().enumerate().filter_map(|(i, item)| Some((i, &item.image()?.path)));
        images()
            .find(|(_, p)| **p == path)
            .or_else(|| images().find(|(_, p)| eq_ignore_case(p, &path)))
            .map(|(i, _)| i)
    }

    /// Make the image at `path` the default and select it (ending any search; in tree view
    /// its directory is opened). Returns its index, or `None` (nothing changes) when no image
    /// has that path.
    pub fn set_default(&mut self, path: &str) -> Option<usize> {
        let index = self.find_image(path)?;
        self.default = Some(index);
        if !self.visible.contains(&index) {
            self.searching = false;
            self.filter.clear();
            if let Some(image) = self.items[index].image() {
                self.cwd = parent_of(&image.path).to_string();
            }
            self.refilter();
        }
        self.select_index(index);
        Some(index)
    }

    /// Select item `index` if it is visible; false otherwise.
    pub fn select_index(&mut self, index: usize) -> bool {
        match self.visible.iter().position(|&i| i == index) {
            Some(pos) => {
                self.selected = pos;
                self.scroll();
                true
            }
            None => false,
        }
    }

    /// Start the timeout. Only armed when a default image is set and not known to be
    /// unbootable, and the menu is not locked; returns whether it was armed.
    pub fn start_countdown(&mut self, secs: u32) -> bool {
        let armed = match self.default.and_then(|i| self.items.get(i)) {
            Some(MenuItem::Image { status, .. }) => {
                !matches!(status, Status::NotBootable(_)) && self.lock.is_none()
            }
            _ => false,
        };
        self.countdown = armed.then(|| Countdown::new(secs));
        armed
    }

    /// Advance the timeout by `elapsed_ms`. Returns `Redraw` when the displayed seconds
    /// change, and on expiry what Enter on the default does; `None` when no countdown runs.
    pub fn tick(&mut self, elapsed_ms: u64) -> Action {
        let Some(countdown) = &mut self.countdown else {
            return Action::None;
        };
        let changed = countdown.tick(elapsed_ms);
        if !countdown.is_expired() {
            return if changed { Action::Redraw } else { Action::None };
        }
        self.countdown = None;
        match self.default {
            Some(index) => {
                self.select_index(index);
                self.activate(index)
            }
            None => Action::Redraw,
        }
    }

    /// Handle one key press. Any key cancels a running countdown and clears a note.
    pub fn key(&mut self, key: Key) -> Action {
        let cancelled = self.countdown.take().is_some() | self.message.take().is_some();
        let action = if self.prompt.is_some() { self.prompt_key(key) } else { self.handle(key) };
        if cancelled && action == Action::None {
            Action::Redraw
        } else {
            action
        }
    }

    fn prompt_key(&mut self, key: Key) -> Action {
        let Some(prompt) = &mut self.prompt else { return Action::None };
        match key {
            Key::Char(c) if !c.is_control() => {
                if prompt.typed.chars().count() < crate::config::password::MAX_PASSWORD_CHARS {
                    prompt.typed.push(c);
                }
                Action::Redraw
            }
            Key::Backspace => {
                prompt.typed.pop();
                Action::Redraw
            }
            Key::Escape if prompt.image.is_some() => {
                self.prompt = None;
                Action::Redraw
            }
            Key::Enter => self.submit_password(),
            _ => Action::None,
        }
    }

    fn submit_password(&mut self) -> Action {
        let Some(prompt) = self.prompt.take() else { return Action::None };
        match prompt.image {
            None => {
                let ok = self.lock.as_ref().is_some_and(|p| p.verify(&prompt.typed));
                if ok {
                    self.lock = None;
                    return Action::Redraw;
                }
                self.failures = self.failures.saturating_add(1);
                // The menu stays locked whatever happens next (a reboot that fails included).
                self.prompt = Some(Prompt { image: None, typed: String::new() });
                if self.failures >= BOOT_PASSWORD_TRIES {
                    return Action::Reboot;
                }
                self.message = Some(match self.lock.as_ref().and_then(Password::problem) {
                    Some(why) => format!("the configured boot password cannot be checked: {why}"),
                    None => {
                        format!("wrong password ({} of {BOOT_PASSWORD_TRIES} tries)", self.failures)
                    }
                });
                Action::Redraw
            }
            Some(index) => {
                let ok =
                    self.settings[index].password.as_ref().is_some_and(|p| p.verify(&prompt.typed));
                if ok {
                    self.after_unlock(index)
                } else {
                    self.message = Some(format!("wrong password for {}", self.display_text(index)));
                    Action::Redraw
                }
            }
        }
    }

    fn handle(&mut self, key: Key) -> Action {
        let len = self.visible.len();
        let last = len.saturating_sub(1);
        let target = match key {
            Key::Up => self.selected.saturating_sub(1),
            Key::Down => self.selected.saturating_add(1).min(last),
            Key::PageUp => self.selected.saturating_sub(self.height),
            Key::PageDown => self.selected.saturating_add(self.height).min(last),
            Key::Home => 0,
            Key::End => last,
            Key::Enter => {
                return match self.selected_index() {
                    Some(index) => self.activate(index),
                    None => Action::None,
                }
            }
            Key::Escape => {
                if self.searching {
                    self.end_search();
                    return Action::Redraw;
                }
                return self.go_up();
            }
            Key::Backspace => {
                if !self.searching {
                    return self.go_up();
                }
                if self.filter.pop().is_none() {
                    self.searching = false;
                }
                self.refilter();
                return Action::Redraw;
            }
            Key::Char(c) if self.searching => {
                if c.is_control() || self.filter.chars().count() >= MAX_FILTER_CHARS {
                    return Action::None;
                }
                self.filter.push(c);
                self.refilter();
                return Action::Redraw;
            }
            Key::Char('/') => {
                self.searching = true;
                self.refilter();
                return Action::Redraw;
            }
            Key::Char(c) if c.is_alphanumeric() => match self.jump_target(c) {
                Some(pos) => pos,
                None => return Action::None,
            },
            Key::Char(_) => return Action::None,
            Key::F(3) => {
                self.mode = match self.mode {
                    MenuMode::List => MenuMode::Tree,
                    MenuMode::Tree => MenuMode::List,
                };
                let previous = self.selected_index();
                if let Some(image) = previous.and_then(|i| self.items[i].image()) {
                    self.cwd = parent_of(&image.path).to_string();
                }
                self.refilter();
                if let Some(p) = previous {
                    self.select_index(p);
                }
                return Action::Redraw;
            }
            Key::F(4) => return Action::LocalBoot,
            Key::F(n @ (2 | 5)) => {
                let Some(index) = self.selected_index().filter(|&i| i < self.images) else {
                    self.message = Some(String::from("select an image first"));
                    return Action::Redraw;
                };
                return if n == 2 {
                    Action::Details(index)
                } else {
                    Action::Verify { index, then_boot: false }
                };
            }
            Key::F(_) => return Action::None,
        };
        if target == self.selected {
            return Action::None;
        }
        self.selected = target;
        self.scroll();
        Action::Redraw
    }

    /// The next visible position after the selection whose shown name starts with `c`.
    fn jump_target(&self, c: char) -> Option<usize> {
        let len = self.visible.len();
        (1..=len).map(|step| (self.selected + step) % len).find(|&pos| {
            self.display_text(self.visible[pos])
                .chars()
                .find(|ch| ch.is_alphanumeric())
                .is_some_and(|first| first.to_lowercase().eq(c.to_lowercase()))
        })
    }

    fn end_search(&mut self) {
        self.searching = false;
        self.filter.clear();
        self.refilter();
    }

    /// Tree view: open the parent directory, selecting the one we came from.
    fn go_up(&mut self) -> Action {
        if self.mode != MenuMode::Tree || self.cwd == self.root {
            return Action::None;
        }
        let from = core::mem::take(&mut self.cwd);
        self.cwd = parent_of(&from).to_string();
        if !crate::config::pattern::under(&self.root, &self.cwd) {
            self.cwd = self.root.clone();
        }
        self.refilter();
        let came_from = self
            .items
            .iter()
            .position(|i| matches!(i, MenuItem::Dir { path, .. } if *path == from));
        if let Some(index) = came_from {
            self.select_index(index);
        }
        Action::Redraw
    }

    /// What Enter (or the timeout) on item `index` does.
    fn activate(&mut self, index: usize) -> Action {
        match self.items.get(index) {
            Some(MenuItem::Image { status: Status::NotBootable(_), .. }) => {
                Action::ShowReason(index)
            }
            Some(MenuItem::Image { .. }) => match &self.settings[index].password {
                Some(password) => {
                    if let Some(why) = password.problem() {
                        self.message = Some(format!(
                            "the password configured for this image cannot be checked: {why}"
                        ));
                        return Action::Redraw;
                    }
                    self.prompt = Some(Prompt { image: Some(index), typed: String::new() });
                    Action::Redraw
                }
                None => self.after_unlock(index),
            },
            Some(MenuItem::Dir { path, .. }) => {
                self.cwd = path.clone();
                self.searching = false;
                self.filter.clear();
                self.refilter();
                // The first entry after "..".
                self.selected = usize::from(self.visible.len() > 1);
                self.scroll();
                Action::Redraw
            }
            Some(MenuItem::Up) => self.go_up(),
            Some(MenuItem::LocalBoot) => Action::LocalBoot,
            Some(MenuItem::Reboot) => Action::Reboot,
            Some(MenuItem::PowerOff) => Action::PowerOff,
            Some(MenuItem::FirmwareSetup) => Action::FirmwareSetup,
            None => Action::None,
        }
    }

    fn after_unlock(&self, index: usize) -> Action {
        if self.settings[index].verify_before_boot {
            Action::Verify { index, then_boot: true }
        } else {
            Action::Boot(index)
        }
    }

    /// Whether item `index` is listed in the current view.
    fn listed(&self, index: usize, needle: &str) -> bool {
        let item = &self.items[index];
        if self.searching {
            return match item {
                MenuItem::Image { image, .. } => {
                    needle.is_empty()
                        || image.path.to_lowercase().contains(needle)
                        || self.settings[index]
                            .alias
                            .as_ref()
                            .is_some_and(|a| a.to_lowercase().contains(needle))
                }
                MenuItem::Dir { .. } | MenuItem::Up => false,
                fixed => needle.is_empty() || fixed.label().to_lowercase().contains(needle),
            };
        }
        match (self.mode, item) {
            (_, fixed) if fixed.is_fixed() => true,
            (MenuMode::List, MenuItem::Image { .. }) => true,
            (MenuMode::List, _) => false,
            (MenuMode::Tree, MenuItem::Up) => self.cwd != self.root,
            (MenuMode::Tree, MenuItem::Image { image, .. }) => {
                parent_of(&image.path).eq_ignore_ascii_case(&self.cwd)
            }
            (MenuMode::Tree, MenuItem::Dir { path, .. }) => {
                parent_of(path).eq_ignore_ascii_case(&self.cwd)
            }
            (MenuMode::Tree, _) => false,
        }
    }

    /// Recompute `visible` after a change of view or filter, keeping the selected item when
    /// it is still listed and otherwise selecting the first one. Tree view lists `..`, then
    /// the directories, then the images, then the fixed entries.
    fn refilter(&mut self) {
        let previous = self.selected_index();
        let needle = self.filter.to_lowercase();
        let mut visible: Vec<usize> =
            (0..self.items.len()).filter(|&i| self.listed(i, &needle)).collect();
        if self.mode == MenuMode::Tree && !self.searching {
            let rank = |item: &MenuItem| match item {
                MenuItem::Up => 0,
                MenuItem::Dir { .. } => 1,
                MenuItem::Image { .. } => 2,
                _ => 3,
            };
            visible.sort_by_key(|&i| rank(&self.items[i]));
        }
        self.visible = visible;
        self.selected =
            previous.and_then(|p| self.visible.iter().position(|&i| i == p)).unwrap_or(0);
        self.scroll();
    }

    /// Restore `top <= selected < top + height`, and use the whole height when the list
    /// shrank (no blank rows at the bottom while earlier rows are scrolled away).
    fn scroll(&mut self) {
        let len = self.visible.len();
        self.selected = self.selected.min(len.saturating_sub(1));
        let max_top = len.saturating_sub(self.height);
        if self.selected < self.top {
            self.top = self.selected;
        } else if self.selected >= self.top.saturating_add(self.height) {
            self.top = self.selected + 1 - self.height;
        }
        self.top = self.top.min(max_top);
    }

    /// The line describing item `index`:
    /// `"ipxe.iso  2.0 MiB  UEFI+BIOS  /samples/ipxe.iso"`, or with the reason when it is not
    /// bootable. Empty for an out-of-range index.
    pub fn info_line(&self, index: usize) -> String {
        match self.items.get(index) {
            Some(MenuItem::Image { image, status }) => {
                let status = match status {
                    Status::Unknown => format!("{} (not checked)", image.kind.label()),
                    other => other.describe(),
                };
                let mut line = format!(
                    "{}  {}  {}  {}",
                    image.name,
                    format_size(image.size),
                    status,
                    image.path
                );
                if self.settings[index].password.is_some() {
                    line.push_str("  (password)");
                }
                line
            }
            Some(MenuItem::Dir { path, .. }) => format!("directory {path}: Enter opens it"),
            Some(MenuItem::Up) => format!("back to {}", parent_of(&self.cwd)),
            Some(MenuItem::LocalBoot) => {
                String::from("Boot from the local disk: start the machine's own system (F4)")
            }
            Some(MenuItem::Reboot) => String::from("Reboot: restart the computer"),
            Some(MenuItem::PowerOff) => String::from("Power off: turn the computer off"),
            Some(MenuItem::FirmwareSetup) => {
                String::from("Firmware setup: restart into the firmware's setup screens")
            }
            None => String::new(),
        }
    }

    /// The note set by the last action, else [`info_line`](Self::info_line) of the selection,
    /// or a "no match" note.
    pub fn selected_info_line(&self) -> String {
        if let Some(message) = &self.message {
            return message.clone();
        }
        if self.lock.is_some() {
            return String::new();
        }
        match self.selected_index() {
            Some(index) => self.info_line(index),
            None => format!("nothing matches \"{}\" (Backspace / Esc to edit)", self.filter),
        }
    }

    /// The `menu_tip` of the selected entry.
    pub fn tip_line(&self) -> Option<&str> {
        if self.lock.is_some() {
            return None;
        }
        self.settings.get(self.selected_index()?)?.tip.as_deref()
    }

    /// The line under the title: a password prompt, the search, or how to use the menu.
    pub fn header_line(&self) -> String {
        if let Some(prompt) = &self.prompt {
            let typed = if self.asterisks {
                "*".repeat(prompt.typed.chars().count())
            } else {
                String::new()
            };
            return match prompt.image {
                None => format!("boot password: {typed}_"),
                Some(index) => {
                    format!("password for {}: {typed}_  (Esc cancels)", self.display_text(index))
                }
            };
        }
        if self.searching {
            return format!("search: {}_  (Esc ends the search)", self.filter);
        }
        match self.mode {
            MenuMode::Tree => {
                format!("{}  -  letters jump, / searches, Enter opens or boots", self.cwd)
            }
            MenuMode::List => String::from(
                "letters jump, / searches, arrows / PgUp / PgDn / Home / End, Enter boots",
            ),
        }
    }

    /// The bottom line: the countdown while it runs, else the keys.
    pub fn hint_line(&self) -> String {
        match &self.countdown {
            Some(c) => format!("booting the default in {} s (any key stops)", c.remaining_secs()),
            None if self.lock.is_some() => String::from("type the boot password, then Enter"),
            None => String::from(KEYS_HELP),
        }
    }
}

#[cfg(test)]
mod tests;
