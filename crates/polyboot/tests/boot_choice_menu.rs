//! Ventoy's template and persistence-backend menus (issue 18), under OVMF and SeaBIOS: a
//! drive made by `polyboot install` + `add` with ipxe.iso and a ventoy.json giving it two
//! `auto_install` templates and two `persistence` backends. Read from the serial console:
//! the boot manager's log lines (`auto_install menu: 3 rows`, `auto_install: chosen ...`)
//! and the menu itself (OVMF mirrors its text console there, the selected row after the
//! inverse-video colour escape; the BIOS menu writes `polyboot-bios: choice: > row`).
//! What a chosen template does inside an installer is boot_linux_extras' business; here
//! ipxe.iso only has to boot after the choice (iPXE's marker under OVMF, polyboot's El
//! Torito line under SeaBIOS).

mod common;
use common::polyboot;
use polyboot_tests::{artifacts, Disk, Firmware, Vm, VmConfig};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// One guest at a time (two TCG guests on two cores make OVMF's serial console drop parts
/// of redraws; see boot_menu_config).
static ONE_VM: Mutex<()> = Mutex::new(());

const TEMPLATES: [&str; 2] = ["/ventoy/a.cfg", "/ventoy/b.cfg"];
const BACKENDS: [&str; 2] = ["/persistence/a.dat", "/persistence/b.dat"];

/// A drive with ipxe.iso, the templates and backends, and `ventoy` as ventoy.json.
fn drive(dir: &Path, ventoy: serde_json::Value) -> PathBuf {
    let image = dir.join("drive.img");
    let img = image.to_str().unwrap();
    polyboot(&["install", img, "--size", "256M"]);
    polyboot(&["add", "-q", img, "--to", "/", artifacts::IPXE_ISO]);
    for path in TEMPLATES.iter().chain(&BACKENDS) {
        let (to, name) = path.rsplit_once('/').unwrap();
        let src = dir.join(&to[1..]);
        std::fs::create_dir_all(&src).unwrap();
        let file = src.join(name);
        let bytes = if path.ends_with(".cfg") {
            format!("# template {path}\n").into_bytes()
        } else {
            vec![0u8; 1 << 20]
        };
        std::fs::write(&file, bytes).unwrap();
        polyboot(&["add", "-q", img, "--to", to, file.to_str().unwrap()]);
    }
    let config = dir.join("ventoy.json");
    std::fs::write(&config, serde_json::to_string_pretty(&ventoy).unwrap()).unwrap();
    polyboot(&["add", "-q", img, "--to", "/ventoy", config.to_str().unwrap()]);
    image
}

struct Guest {
    vm: Vm,
    firmware: Firmware,
    _one: MutexGuard<'static, ()>,
}

impl Guest {
    fn boot(name: &str, firmware: Firmware, drive: &Path) -> Guest {
        let one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
        let vm = Vm::start(
            VmConfig::new(name, firmware)
                .disk(Disk::new(drive).usb())
                .timeout(Duration::from_secs(240)),
        )
        .unwrap();
        let mut guest = Guest { vm, firmware, _one: one };
        let from = guest.mark();
        guest.wait(from, &guest.log("menu ready: 1 images"));
        guest
    }

    fn prefix(&self) -> &'static str {
        match self.firmware {
            Firmware::Uefi => "polyboot: ",
            Firmware::Bios => "polyboot-bios: ",
        }
    }

    /// A log line of the boot manager.
    fn log(&self, text: &str) -> String {
        format!("{}{text}", self.prefix())
    }

    /// The selected row of a choice menu.
    fn selected(&self, text: &str) -> String {
        match self.firmware {
            Firmware::Uefi => format!("\x1b[47m  {text}"),
            Firmware::Bios => format!("polyboot-bios: choice: > {text}"),
        }
    }

    /// A row of a choice menu, not selected.
    fn row(&self, text: &str) -> String {
        match self.firmware {
            Firmware::Uefi => format!("H  {text}"),
            Firmware::Bios => format!("polyboot-bios: choice:   {text}"),
        }
    }

    /// The keys line of a choice menu, drawn last.
    fn keys_line(&self) -> String {
        let keys = "arrows / digits select, Enter boots, Esc back to the menu";
        match self.firmware {
            Firmware::Uefi => format!("H{keys}"),
            Firmware::Bios => format!("polyboot-bios: choice: {keys}"),
        }
    }

    fn mark(&self) -> usize {
        self.vm.serial_len()
    }

    #[track_caller]
    fn wait(&mut self, from: usize, marker: &str) {
        if let Err(e) = self.vm.wait_for_after(marker, from) {
            panic!("{:?}: {e:#}", self.firmware);
        }
    }

    fn since(&self, from: usize) -> String {
        let text = self.vm.serial_text();
        let mut at = from.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text[at..].to_string()
    }

    /// Enter on the main menu's only image.
    fn enter(&mut self) -> usize {
        // Let the main menu's first draw finish: keys typed before are for it anyway.
        std::thread::sleep(Duration::from_millis(500));
        let from = self.mark();
        self.vm.send_serial(b"\r").unwrap();
        from
    }

    /// Wait (after `from`) for a choice menu whose rows are `rows` with `selected` selected,
    /// drawn to its keys line.
    #[track_caller]
    fn see_choice(&mut self, from: usize, rows: &[String], selected: &str) {
        let want = self.selected(selected);
        self.wait(from, &want);
        for row in rows.iter().filter(|r| r.as_str() != selected) {
            let want = self.row(row);
            self.wait(from, &want);
        }
        let keys = self.keys_line();
        self.wait(from, &keys);
        // Keys sent before the menu is drawn are dropped by design.
        std::thread::sleep(Duration::from_millis(300));
    }

    /// ipxe.iso boots (after `from`).
    #[track_caller]
    fn boots(&mut self, from: usize) {
        match self.firmware {
            Firmware::Uefi => self.wait(from, artifacts::IPXE_MARKER),
            Firmware::Bios => {
                self.wait(from, "polyboot-bios: booting /ipxe.iso: El Torito no-emulation")
            }
        }
    }
}

fn template_rows() -> Vec<String> {
    let mut rows = vec![String::from("Boot without auto installation template")];
    rows.extend(TEMPLATES.iter().map(|t| format!("Boot with {t}")));
    rows
}

fn backend_rows() -> Vec<String> {
    let mut rows = vec![String::from("Boot without persistence")];
    rows.extend(BACKENDS.iter().map(|b| format!("Boot with {b}")));
    rows
}

/// No autosel: the template menu waits on the first template; Esc goes back to the main
/// menu without booting; then Down + Enter takes the second template, the backend menu
/// follows, "0" + Enter boots without persistence.
fn menus_wait_for_a_choice(firmware: Firmware, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ventoy = serde_json::json!({
        "auto_install": [ { "image": "/ipxe.iso", "template": TEMPLATES } ],
        "persistence": [ { "image": "/ipxe.iso", "backend": BACKENDS } ]
    });
    let drive = drive(dir.path(), ventoy);
    let mut g = Guest::boot(name, firmware, &drive);

    let from = g.enter();
    g.wait(from, &g.log("auto_install menu: 3 rows"));
    g.see_choice(from, &template_rows(), "Boot with /ventoy/a.cfg");
    // Nothing counts down: the menu is still there after a while.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!g.since(from).contains("auto_install: chosen"), "{}", g.since(from));

    // Esc: back to the main menu, nothing booted.
    let back = g.mark();
    g.vm.send_key("esc").unwrap();
    g.wait(back, &g.log("auto_install menu: Esc, back to the main menu"));
    match firmware {
        Firmware::Uefi => g.wait(back, common::BACK_TO_MENU),
        Firmware::Bios => g.wait(back, "polyboot-bios: menu: > /ipxe.iso"),
    }
    let seen = g.since(back);
    assert!(!seen.contains("persistence menu") && !seen.contains("El Torito"), "{seen}");

    // Again: Down + Enter chooses the second template.
    let from = g.enter();
    g.see_choice(from, &template_rows(), "Boot with /ventoy/a.cfg");
    let keys = g.mark();
    g.vm.send_key("down").unwrap();
    g.wait(keys, &g.selected("Boot with /ventoy/b.cfg"));
    g.vm.send_key("ret").unwrap();
    g.wait(keys, &g.log("auto_install: chosen /ventoy/b.cfg (menu)"));

    // Then the backend menu; the digit 0 selects "boot without" (and boots nothing by itself).
    g.wait(keys, &g.log("persistence menu: 3 rows"));
    g.see_choice(keys, &backend_rows(), "Boot with /persistence/a.dat");
    let digit = g.mark();
    g.vm.send_serial(b"0").unwrap();
    g.wait(digit, &g.selected("Boot without persistence"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(!g.since(digit).contains("persistence: chosen"), "{}", g.since(digit));
    g.vm.send_serial(b"\r").unwrap();
    g.wait(digit, &g.log("persistence: chosen none (Boot without persistence) (menu)"));
    g.boots(digit);
    let all = g.since(from);
    assert!(!all.contains("chosen /ventoy/a.cfg"), "{all}");
}

/// `timeout: 1` with `autosel: 2`: the template menu shows, counts down and takes the second
/// template with no key; the backend's `autosel: 1` without timeout takes the first with no
/// menu.
fn timeout_takes_autosel(firmware: Firmware, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ventoy = serde_json::json!({
        "auto_install": [
            { "image": "/ipxe.iso", "template": TEMPLATES, "autosel": 2, "timeout": 1 }
        ],
        "persistence": [ { "image": "/ipxe.iso", "backend": BACKENDS, "autosel": 1 } ]
    });
    let drive = drive(dir.path(), ventoy);
    let mut g = Guest::boot(name, firmware, &drive);
    let from = g.enter();
    g.wait(from, &g.log("auto_install menu: 3 rows, Boot with /ventoy/b.cfg in 1 s"));
    g.wait(from, &g.selected("Boot with /ventoy/b.cfg"));
    g.wait(from, "Boot with /ventoy/b.cfg in 1 s (any key stops)");
    g.wait(from, &g.log("auto_install: chosen /ventoy/b.cfg (timeout)"));
    g.wait(from, &g.log("persistence: chosen /persistence/a.dat (autosel 1, no menu)"));
    g.boots(from);
    let seen = g.since(from);
    assert!(!seen.contains("persistence menu"), "{seen}");
    assert!(!seen.contains(&g.row("Boot with /persistence/a.dat")), "{seen}");
}

#[test]
fn ovmf_template_and_backend_menus_wait_for_a_choice() {
    menus_wait_for_a_choice(Firmware::Uefi, "choice-wait-uefi");
}

#[test]
fn seabios_template_and_backend_menus_wait_for_a_choice() {
    menus_wait_for_a_choice(Firmware::Bios, "choice-wait-bios");
}

#[test]
fn ovmf_template_menu_timeout_takes_autosel() {
    timeout_takes_autosel(Firmware::Uefi, "choice-timeout-uefi");
}

#[test]
fn seabios_template_menu_timeout_takes_autosel() {
    timeout_takes_autosel(Firmware::Bios, "choice-timeout-bios");
}
