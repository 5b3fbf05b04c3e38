//! The one way this crate's CLI and boot tests run the polyboot binary: [`Cli`], with the
//! shorthands [`polyboot`] and [`run`]. Every boot file it hands the CLI comes from
//! `polyboot_tests::artifacts`. Each test file that uses it includes this module (`mod
//! common;`); not every file uses every helper.
#![allow(dead_code)]

use polyboot::drive::update::FAILPOINT_ENV;
use polyboot_tests::artifacts;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run the CLI with the real boot files ([`Cli::booting`]); the test fails when it fails.
/// Returns its standard output.
#[track_caller]
pub fn polyboot(args: &[&str]) -> String {
    Cli::booting().args(args).ok()
}

/// Run the CLI for a test that never boots what it makes ([`Cli::new`]):
/// (success, stdout, stderr).
pub fn run(args: &[&str]) -> (bool, String, String) {
    Cli::new().args(args).run()
}

/// Which boot files the CLI is given.
#[derive(Clone, Copy)]
enum BootFiles {
    /// `POLYBOOT_EFI` = [`artifacts::efi_app_or_stand_in`]; the BIOS boot code is what the CLI
    /// finds itself (`POLYBOOT_BIOS`, else the build tree next to the binary).
    StandIn,
    /// `POLYBOOT_EFI` = [`artifacts::efi_app`], `POLYBOOT_BIOS` = [`artifacts::bios_code`].
    Built,
    /// None: `POLYBOOT_EFI`, `POLYBOOT_BIOS` and `POLYBOOT_WTG_BIOS` removed.
    OwnOnly,
}

/// One run of a polyboot binary, built up then run once:
/// `Cli::new().args([...]).env(..).failpoint(..).ok()` (or `.fails()`, `.run()`, `.output()`,
/// `.command()` to spawn it yourself). `POLYBOOT_FAILPOINT` is removed unless
/// [`Cli::failpoint`] sets it.
pub struct Cli {
    binary: PathBuf,
    boot_files: BootFiles,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
}

impl Default for Cli {
    fn default() -> Cli {
        Cli::new()
    }
}

impl Cli {
    /// The built CLI, for tests that never boot what it makes: the real boot manager when
    /// `POLYBOOT_EFI` names one (under `cargo xtask test`), a stand-in PE file otherwise.
    pub fn new() -> Cli {
        Cli::with(PathBuf::from(env!("CARGO_BIN_EXE_polyboot")), BootFiles::StandIn)
    }

    /// The built CLI with the real UEFI boot manager and BIOS boot code, for tests that boot
    /// what it makes; the test fails when either is missing (`cargo xtask build`).
    pub fn booting() -> Cli {
        Cli::with(PathBuf::from(env!("CARGO_BIN_EXE_polyboot")), BootFiles::Built)
    }

    /// The packaged binary in `root` (a `dpkg-deb -x` of the .deb), with an environment that
    /// points at nothing in the build tree: it must find its own boot files.
    pub fn installed(root: &Path) -> Cli {
        Cli::with(artifacts::installed_binary(root), BootFiles::OwnOnly)
    }

    fn with(binary: PathBuf, boot_files: BootFiles) -> Cli {
        Cli { binary, boot_files, args: Vec::new(), envs: Vec::new() }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cli {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Cli {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Set an environment variable (after the boot files', so it wins over them).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cli {
        self.envs.push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// `install` with its default (signed) layout: `POLYBOOT_SECURE_BOOT` unset, keys in
    /// `config_home` (`$XDG_CONFIG_HOME`).
    pub fn signed(self, config_home: &Path) -> Cli {
        self.env("POLYBOOT_SECURE_BOOT", "shim").env("XDG_CONFIG_HOME", config_home)
    }

    /// This file as the UEFI boot manager (`POLYBOOT_EFI`).
    pub fn efi(self, path: impl AsRef<OsStr>) -> Cli {
        self.env("POLYBOOT_EFI", path)
    }

    /// The built Windows To Go BIOS loader ([`artifacts::wtg_bios_code`]) for `wtg create`.
    pub fn wtg_bios(self) -> Cli {
        self.env("POLYBOOT_WTG_BIOS", artifacts::wtg_bios_code())
    }

    /// Stop `update` at the failpoint `name` (`POLYBOOT_FAILPOINT=update:<name>`).
    pub fn failpoint(self, name: &str) -> Cli {
        self.env(FAILPOINT_ENV, format!("update:{name}"))
    }

    /// The command, to run or spawn with stdio of your own.
    pub fn command(self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args).env_remove(FAILPOINT_ENV);
        // The tests written before Secure Boot signing (issue 15) make unsigned drives, the
        // layout their assertions are about: `install`'s documented POLYBOOT_SECURE_BOOT
        // (which --no-shim, --sb-key and --secure-boot on the command line override). Tests of
        // signed drives set it themselves ([`Cli::signed`]). Keys go to a directory of the test
        // run, never to the user's ~/.config.
        cmd.env("POLYBOOT_SECURE_BOOT", "off")
            .env("XDG_CONFIG_HOME", std::env::temp_dir().join("polyboot-test-config"))
            .env_remove("POLYBOOT_SB_KEY_PASS");
        let efi_given = self.envs.iter().any(|(k, _)| k == "POLYBOOT_EFI");
        match self.boot_files {
            BootFiles::StandIn if !efi_given => {
                cmd.env("POLYBOOT_EFI", artifacts::efi_app_or_stand_in());
            }
            BootFiles::StandIn => {}
            BootFiles::Built => {
                if !efi_given {
                    cmd.env(
                        "POLYBOOT_EFI",
                        artifacts::efi_app().unwrap_or_else(|e| panic!("{e:#}")),
                    );
                }
                cmd.env("POLYBOOT_BIOS", artifacts::bios_code());
                cmd.env("POLYBOOT_WINPE", artifacts::winpe_programs().0);
                cmd.env("POLYBOOT_WINPE_X86", artifacts::winpe_programs_x86().0);
            }
            BootFiles::OwnOnly => {
                cmd.env_remove("POLYBOOT_EFI")
                    .env_remove("POLYBOOT_BIOS")
                    .env_remove("POLYBOOT_WTG_BIOS")
                    .env_remove("POLYBOOT_WINPE")
                    .env_remove("POLYBOOT_WINPE_X86");
            }
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run it to the end.
    pub fn output(self) -> Output {
        let what = self.describe();
        self.command().output().unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Run it: (success, stdout, stderr).
    pub fn run(self) -> (bool, String, String) {
        let out = self.output();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    /// Run it; the test fails when it fails. Returns its standard output.
    #[track_caller]
    pub fn ok(self) -> String {
        let what = self.describe();
        let out = self.output();
        assert!(
            out.status.success(),
            "{what} failed ({}):\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Run it; the test fails when it succeeds. Returns its standard error.
    #[track_caller]
    pub fn fails(self) -> String {
        let what = self.describe();
        let out = self.output();
        assert!(!out.status.success(), "{what} should have failed:\n{}", text(&out.stdout));
        text(&out.stderr)
    }

    /// `polyboot ["arg", ...]`, for failure messages.
    fn describe(&self) -> String {
        format!("polyboot {:?}", self.args)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What the UEFI boot manager prints when it returns to its menu after a boot attempt.
pub const BACK_TO_MENU: &str = "polyboot: back to the menu";

/// After a boot attempt: dismiss the message, wait for the menu, clear the search (Esc). The
/// redrawn separator is not waited for: a redraw under load may reach the serial console cut.
pub fn back_to_menu(vm: &mut polyboot_tests::Vm) {
    let mark = vm.serial_len();
    vm.send_serial(b" ").unwrap();
    vm.wait_for_after(BACK_TO_MENU, mark).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    vm.send_key("esc").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
}

/// Type a search into the UEFI menu on the serial console and press Enter.
pub fn choose(vm: &mut polyboot_tests::Vm, search: &str) {
    // "/" starts the search (letters alone jump to names).
    vm.send_serial(b"/").unwrap();
    vm.send_serial(search.as_bytes()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    vm.send_serial(b"\r").unwrap();
}

/// `fsck.exfat -n` on the data partition of the drive image `img`, copied out (sparse) at the
/// offset the drive's layout gives; the test fails unless it is clean.
#[track_caller]
pub fn fsck_exfat_data(img: &Path) {
    let drive = polyboot::drive::Drive::open(img, false).unwrap();
    let (off, size) = (drive.layout.data.offset, drive.layout.data.size);
    drop(drive);
    let p1 = img.with_extension("p1");
    polyboot_tests::run_tool(Command::new("dd").args([
        &format!("if={}", img.display()),
        &format!("of={}", p1.display()),
        "bs=1M",
        &format!("skip={}", off >> 20),
        &format!("count={}", size >> 20),
        "conv=sparse",
        "status=none",
    ]))
    .unwrap();
    let out = polyboot_tests::run_tool(
        Command::new(polyboot_tests::find_tool("fsck.exfat")).arg("-n").arg(&p1),
    )
    .unwrap();
    assert!(out.contains("clean") && !out.contains("ERROR"), "fsck.exfat:\n{out}");
    std::fs::remove_file(p1).unwrap();
}
