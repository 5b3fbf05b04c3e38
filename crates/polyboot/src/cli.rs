//! The command-line interface: a clap derive tree, kept apart from what the commands do.

use crate::device::parse_size;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const ABOUT: &str =
    "Multi-boot USB drives: copy ISO / IMG / EFI files onto the drive, pick one at boot.";

const EXAMPLES: &str = "\
Examples:
  polyboot install disk.img --size 8G          make a drive image (sparse file)
  polyboot install /dev/sdb                    lay out a USB stick (asks before erasing)
  polyboot add disk.img debian.iso --to linux  copy an image onto the drive
  polyboot ls disk.img linux
  polyboot info disk.img --json
  polyboot update /dev/sdb                     new boot files, the images stay
  polyboot config check disk.img               what the drive's ventoy.json does
  polyboot persistence create /dev/sdb ubuntu --size 4G --image /ISO/ubuntu.iso
  polyboot wtg editions Win11.iso              list a Windows image's editions
  polyboot wtg create Win11.iso /dev/sdb --index 1   a Windows To Go drive
  polyboot serve /srv/images --listen 192.0.2.1   network boot (PXE) of a directory of images
  polyboot completions bash > ~/.local/share/bash-completion/completions/polyboot";

#[derive(Debug, Parser)]
#[command(name = "polyboot", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Install(InstallArgs),
    Info(InfoArgs),
    Add(AddArgs),
    Ls(LsArgs),
    Rm(RmArgs),
    Verify(VerifyArgs),
    Persistence(PersistenceArgs),
    Check(CheckArgs),
    Config(ConfigArgs),
    Update(UpdateArgs),
    Wtg(WtgArgs),
    Vm(VmArgs),
    Serve(ServeArgs),
    Debug(DebugArgs),
    Completions(CompletionsArgs),
    #[command(hide = true)]
    Manpages(ManpagesArgs),
}

/// Look at what polyboot's boot manager does, with ordinary tools.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  polyboot debug virtual disk.img ISO/Win11.iso -o served.iso\n  polyboot debug virtual /dev/sdb linux/debian-live.iso -o served.iso --firmware bios"
)]
pub struct DebugArgs {
    #[command(subcommand)]
    pub command: DebugCommand,
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    Virtual(DebugVirtualArgs),
}

/// Write the exact bytes the boot manager serves for an image as its virtual medium.
///
/// The same core code as the boot manager builds the medium: the image file's extents on the
/// data partition, a Linux ISO's wrapped initrds (polyboot-hook with the hand-off record), a
/// Windows ISO's virtual boot.wim with the jump program (UEFI), the redirected ISO 9660 / UDF
/// entries. Read it with xorriso, 7z, isoinfo, wimlib... Nothing on the drive is written.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot debug virtual disk.img ISO/Win11.iso -o served.iso
  polyboot debug virtual disk.img linux/debian-live.iso -o served.iso --firmware bios --json
  xorriso -indev served.iso -find /sources -name boot.wim")]
pub struct DebugVirtualArgs {
    /// The polyboot drive: a whole disk (/dev/sdb) or a drive image file made by `polyboot
    /// install` (read only).
    pub target: PathBuf,
    /// The image as the menu lists it: its path on the data partition, e.g. ISO/Win11.iso.
    pub image: String,
    /// Where to write the virtual medium (a new or existing file; it is overwritten).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Which boot manager's view: the UEFI one (default) or the BIOS boot code. They serve the
    /// same medium; the BIOS boot code reads polyboot-hook from the UEFI boot manager's file
    /// on the drive, and a WIM's synthetic CD needs the WIM's BIOS boot files there.
    #[arg(long, value_enum, default_value = "uefi")]
    pub firmware: FirmwareArg,
    /// Print what was written (size, regions, overrides, the boot manager's log) as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FirmwareArg {
    Uefi,
    Bios,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemeArg {
    Gpt,
    Mbr,
}

/// The safety switches of every command that erases a disk (install, wtg create).
#[derive(Debug, Args)]
pub struct EraseArgs {
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub yes: bool,
    /// Allow a non-removable disk.
    #[arg(long)]
    pub force: bool,
}

/// Lay out a whole disk or an image file as a polyboot drive (erases it).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot install disk.img --size 8G
  polyboot install disk.img --size 16G --mbr --sector-size 4096
  polyboot install /dev/sdb --dry-run          print the plan, write nothing
  polyboot install /dev/sdb --yes              no confirmation prompt

Secure Boot (the boot partition is signed by default):
  polyboot install /dev/sdb
      shim (Microsoft-signed, Debian's shim-signed) starts polyboot, signed with your own key
      (made on first use in ~/.config/polyboot/secure-boot/). First boot with Secure Boot on:
      MokManager appears; choose \"Enroll key from disk\", the drive, ENROLL-THIS-KEY.cer,
      Continue, Yes, Reboot. From then on polyboot starts on that PC.
  polyboot install /dev/sdb --sb-key org.key --sb-cert org.pem --sb-key-pass-file pass.txt
      sign with your organisation's key (enrolled as MOK, or in db with --no-shim)
  polyboot install /dev/sdb --sb-key db.key --sb-cert db.pem --no-shim
      polyboot itself as BOOTX64.EFI, for machines whose db holds that key
  polyboot install /dev/sdb --no-secure-boot
      unsigned, as before: starts only where Secure Boot is off")]
pub struct InstallArgs {
    /// Whole block device (/dev/sdX, /dev/nvmeXnY) or image file.
    pub target: PathBuf,
    /// Size of the image file (created sparse when absent), e.g. 8G, 512M.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<u64>,
    /// Partition table: GPT (default).
    #[arg(long, conflicts_with = "mbr")]
    pub gpt: bool,
    /// Partition table: MBR.
    #[arg(long)]
    pub mbr: bool,
    /// Space to leave unpartitioned at the end of the disk, e.g. 1G.
    #[arg(long, value_parser = parse_size, default_value = "0")]
    pub reserve: u64,
    /// Volume label of the data partition (up to 11 characters).
    #[arg(long, default_value = polyboot_core::layout::DEFAULT_DATA_LABEL)]
    pub label: String,
    /// Logical sector size of an image file.
    #[arg(long, value_parser = ["512", "4096"])]
    pub sector_size: Option<String>,
    #[command(flatten)]
    pub erase: EraseArgs,
    /// The UEFI boot manager to install (default: the one built with this binary).
    #[arg(long)]
    pub efi: Option<PathBuf>,
    /// The Secure Boot chain: shim (default: Microsoft-signed shim, then polyboot signed with
    /// your key), no-shim (polyboot signed, as BOOTX64.EFI), off (unsigned). --no-shim and
    /// --no-secure-boot say the same and win over this option and its environment variable.
    #[arg(long, value_enum, env = "POLYBOOT_SECURE_BOOT", value_name = "CHAIN")]
    pub secure_boot: Option<SecureBootArg>,
    /// Put polyboot itself, signed, as \EFI\BOOT\BOOTX64.EFI (no shim, no MokManager): for
    /// machines whose Secure Boot db holds the signing key (give it with --sb-key/--sb-cert).
    #[arg(long, conflicts_with = "no_secure_boot")]
    pub no_shim: bool,
    /// Unsigned boot files, the layout of earlier versions. Such a drive starts only on PCs
    /// with Secure Boot off; use it when shim-signed/sbsigntool are not available or the
    /// drive is only for old PCs, VMs or machines where you manage Secure Boot yourself.
    #[arg(long, conflicts_with_all = ["sb_key", "sb_cert"])]
    pub no_secure_boot: bool,
    #[command(flatten)]
    pub key: SbKeyArgs,
}

/// The Secure Boot chains `install --secure-boot` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecureBootArg {
    /// shim (Microsoft-signed) → polyboot signed with your key (enrol it in MokManager once).
    Shim,
    /// polyboot signed, alone.
    NoShim,
    /// Unsigned.
    Off,
}

/// The signing key (install, update).
#[derive(Debug, Args)]
pub struct SbKeyArgs {
    /// Sign with this private key (PEM) instead of your own key in
    /// ~/.config/polyboot/secure-boot/ ($XDG_CONFIG_HOME respected). Needs --sb-cert.
    #[arg(long, value_name = "KEY", requires = "sb_cert")]
    pub sb_key: Option<PathBuf>,
    /// The certificate of --sb-key (PEM or DER); copied to the boot partition as
    /// ENROLL-THIS-KEY.cer.
    #[arg(long, value_name = "CERT", requires = "sb_key")]
    pub sb_cert: Option<PathBuf>,
    /// A file holding the passphrase of --sb-key (else the environment variable
    /// POLYBOOT_SB_KEY_PASS, else the key must be unencrypted).
    #[arg(long, value_name = "FILE", requires = "sb_key")]
    pub sb_key_pass_file: Option<PathBuf>,
}

/// Show a drive's layout, version, label, size, free space and image count.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  polyboot info disk.img\n  polyboot info /dev/sdb --json")]
pub struct InfoArgs {
    /// The polyboot drive: a whole disk (/dev/sdb, /dev/nvme0n1; not a partition) or a drive
    /// image file made by `polyboot install`.
    pub target: PathBuf,
    /// Print the report as JSON (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Copy image files onto the data partition (no mounting), recording SHA-256 beside each.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  polyboot add disk.img debian.iso\n  polyboot add /dev/sdb *.iso --to linux/live"
)]
pub struct AddArgs {
    /// The polyboot drive: a whole disk (/dev/sdb, /dev/nvme0n1; not a partition) or a drive
    /// image file made by `polyboot install`.
    pub target: PathBuf,
    /// Image files on this machine to copy (.iso, .img, .efi, .wim, .vhd, .vhdx show in the
    /// boot menu; other files are copied as they are, e.g. ventoy.json with --to ventoy).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Directory on the data partition (created if needed).
    #[arg(long, default_value = "/")]
    pub to: String,
    /// Print what was copied (path, size, SHA-256, boot verdict) as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// List a directory of the data partition.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  polyboot ls disk.img\n  polyboot ls disk.img linux --json")]
pub struct LsArgs {
    /// The polyboot drive: a whole disk (/dev/sdb, /dev/nvme0n1; not a partition) or a drive
    /// image file made by `polyboot install`.
    pub target: PathBuf,
    /// Directory on the data partition, e.g. linux or /linux/live (default: the top level).
    #[arg(default_value = "/")]
    pub path: String,
    /// Print the entries (path, size, directory or not, fragments) as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Remove a file (and its .sha256) or an empty directory from the data partition.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  polyboot rm disk.img linux/old.iso")]
pub struct RmArgs {
    /// The polyboot drive: a whole disk (/dev/sdb, /dev/nvme0n1; not a partition) or a drive
    /// image file made by `polyboot install`.
    pub target: PathBuf,
    /// File (its .sha256 is removed with it) or empty directory on the data partition, e.g.
    /// linux/old.iso.
    pub path: String,
}

/// Re-hash images and compare with their recorded SHA-256 (exit status 1 on a mismatch).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  polyboot verify disk.img\n  polyboot verify disk.img linux/debian.iso --json"
)]
pub struct VerifyArgs {
    /// The polyboot drive: a whole disk (/dev/sdb, /dev/nvme0n1; not a partition) or a drive
    /// image file made by `polyboot install`.
    pub target: PathBuf,
    /// One image on the data partition, e.g. linux/debian.iso (default: every image on the drive).
    pub path: Option<String>,
    /// Print each image's result (OK, no checksum, mismatch) as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Replace the boot files of a polyboot drive with this build's (the images stay).
///
/// Only the boot partition and the boot code are written; the data partition, the partition
/// table and the disk's identity are not touched. Crash-safe: an interrupted update leaves a
/// drive that boots (old or new version), and running it again completes the job.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot update /dev/sdb
  polyboot update disk.img --dry-run           show old and new versions, write nothing
  polyboot update /dev/sdb --yes               the same as without --yes: update never asks
  polyboot update disk.img --efi BOOTX64.EFI --json
  polyboot update /dev/sdb --sb-key org.key --sb-cert org.pem   a drive signed with that key

A signed drive keeps its chain (shim or not) and is signed again with the same key: your own
key by default, or the one given with --sb-key/--sb-cert (refused when it is not the key the
drive was signed with). An unsigned drive stays unsigned.")]
pub struct UpdateArgs {
    /// Whole block device (/dev/sdX, /dev/nvmeXnY) or image file holding a polyboot drive.
    pub target: PathBuf,
    /// Show what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Accepted so scripts can pass --yes to every command; update asks nothing (it never
    /// erases images, and an interrupted update leaves a drive that boots).
    #[arg(long, short)]
    pub yes: bool,
    /// The UEFI boot manager to install (default: the one built with this binary).
    #[arg(long)]
    pub efi: Option<PathBuf>,
    /// Print the old and new versions and what was done as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub key: SbKeyArgs,
}

/// Explain whether images will boot: boot modes, initrds, init family, polyboot's verdict.
/// TARGET is a polyboot drive (every image on it, or IMAGE) or an image file on this machine.
/// On a whole drive it also lists every file and directory the boot menu skips, with the
/// reason (`skipped PATH: REASON`: too small or truncated, ignored directory, `._*` file,
/// unknown extension, too deep, unreadable), and reads the drive's boot configuration
/// (polyboot.json / ventoy.json) as the boot manager does.
///
/// Exit status: 0 when every image reported is expected to boot; 1 when any is not (a
/// PROBLEM verdict, or an image file the menu leaves out as too small or truncated), and on
/// errors.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  polyboot check disk.img\n  polyboot check disk.img linux/debian-live.iso --json\n  polyboot check ~/Downloads/fedora.iso\n  polyboot check disk.img --json --with-skipped"
)]
pub struct CheckArgs {
    /// A polyboot drive (a whole disk such as /dev/sdb, or a drive image file made by
    /// `polyboot install`), or an image file on this machine to check before copying it.
    pub target: PathBuf,
    /// Check only this image on the drive (its path on the data partition, e.g.
    /// linux/debian.iso) instead of everything.
    pub image: Option<String>,
    /// Print the results as JSON (for scripts): an array with one object per checked image.
    #[arg(long)]
    pub json: bool,
    /// With --json: print one object {"images": [...], "skipped": [{"path", "reason",
    /// "detail", "problem"}], "notes": [...]} instead of the array, so the skipped files
    /// are in the JSON too.
    #[arg(long, requires = "json")]
    pub with_skipped: bool,
}

/// Check and show the boot configuration (Ventoy's ventoy.json, polyboot's polyboot.json) as
/// the boot manager reads it, and make passwords for ventoy.json's password plugin.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot config check disk.img               warnings, conflicts, paths that match nothing
  polyboot config check ventoy.json            one file, before copying it to a drive
  polyboot config show /dev/sdb --firmware bios
  polyboot config password                     a pbkdf2-sha256# string for ventoy.json")]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    Check(ConfigCheckArgs),
    Show(ConfigShowArgs),
    Password(ConfigPasswordArgs),
}

/// Where `config check` / `config show` read the configuration from.
#[derive(Debug, Args)]
pub struct ConfigSourceArgs {
    /// A polyboot drive (a whole disk such as /dev/sdb, or a drive image file made by
    /// `polyboot install`: its data partition's /ventoy/ventoy.json and
    /// /polyboot/polyboot.json), or one configuration file on this machine, read as
    /// ventoy.json or polyboot.json by its name (a name containing "ventoy" or "polyboot").
    #[arg(required_unless_present_any = ["ventoy", "polyboot"])]
    pub target: Option<PathBuf>,
    /// Read this file as /ventoy/ventoy.json (instead of the drive's, when TARGET is a drive).
    #[arg(long, value_name = "FILE")]
    pub ventoy: Option<PathBuf>,
    /// Read this file as /polyboot/polyboot.json (instead of the drive's, when TARGET is a
    /// drive).
    #[arg(long, value_name = "FILE")]
    pub polyboot: Option<PathBuf>,
    /// Which boot manager's view: uefi (keys ending in _uefi apply), bios (_legacy keys apply)
    /// or both (default; what differs is marked [UEFI only] / [BIOS only]).
    #[arg(long, value_enum, default_value = "both")]
    pub firmware: ConfigFirmwareArg,
    /// Print the result as JSON (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConfigFirmwareArg {
    /// The UEFI boot manager.
    Uefi,
    /// The BIOS boot code.
    Bios,
    /// Both, one after the other.
    Both,
}

/// Check the boot configuration: JSON errors (with line and column), every warning of the
/// boot manager's parser (unknown plugins and keys, unsupported VTOY_ options, wrong types),
/// conflicting settings (image_list with image_blacklist, a default image that is hidden or
/// password protected with a timeout, a path named twice, a malformed password that locks
/// images) and, on a drive, every configured path that matches nothing there and each image's
/// effective settings (alias, tip, class, password, verify_before_boot, in the menu or why
/// not, auto_install template).
///
/// Exit status: 0 when every file parses (warnings and conflicts are reported, not fatal); 1
/// when a file does not parse or is too large (the boot manager then ignores it), and on
/// errors.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot config check disk.img
  polyboot config check /dev/sdb --firmware uefi --json
  polyboot config check ~/ventoy/ventoy.json
  polyboot config check --ventoy new-ventoy.json disk.img    a new file against the drive's images
  polyboot config check --polyboot polyboot.json --ventoy ventoy.json")]
pub struct ConfigCheckArgs {
    #[command(flatten)]
    pub source: ConfigSourceArgs,
}

/// Show the effective configuration: every setting after polyboot.json, ventoy.json and the
/// defaults are merged (polyboot.json wins over ventoy.json), as the boot manager runs with
/// it. Passwords are shown by form (txt, md5, pbkdf2-sha256), never their text.
///
/// Exit status: 1 when a file does not parse (what is shown is then without it), else 0.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot config show disk.img
  polyboot config show disk.img --firmware bios --json
  polyboot config show ventoy.json")]
pub struct ConfigShowArgs {
    #[command(flatten)]
    pub source: ConfigSourceArgs,
}

/// Make a password string for ventoy.json's password plugin (bootpwd, isopwd, menupwd...):
/// `pbkdf2-sha256#ITERATIONS#SALT#HASH`, PBKDF2-HMAC-SHA-256 with a random 16-byte salt,
/// which only polyboot reads (Ventoy knows txt# and md5#). The password is read from the
/// terminal without echo, twice; or, when standard input is not a terminal, its first line.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot config password                     asks twice, prints pbkdf2-sha256#100000#...
  printf 'secret\\n' | polyboot config password --iterations 200000
  then in ventoy.json: \"password\": { \"bootpwd\": \"pbkdf2-sha256#100000#...\" }")]
pub struct ConfigPasswordArgs {
    /// PBKDF2 iterations: more is slower to guess and slower to check at boot (100000 takes
    /// about 0.1 s on a PC's firmware). 1 to 2000000: the boot manager refuses more.
    #[arg(long, default_value_t = polyboot_core::config::password::DEFAULT_ITERATIONS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(polyboot_core::config::password::MAX_ITERATIONS)))]
    pub iterations: u32,
}

/// Persistence files for live Linux images: a file system in a file on the data partition
/// that the booted live system keeps its changes in. Make one, grow one, list them.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot persistence create /dev/sdb ubuntu --size 4G --image /ISO/ubuntu-24.04.iso
  polyboot persistence create disk.img debian --size 2G --label persistence
  polyboot persistence extend disk.img ubuntu --size +2G
  polyboot persistence ls disk.img --json")]
pub struct PersistenceArgs {
    #[command(subcommand)]
    pub command: PersistenceCommand,
}

#[derive(Debug, Subcommand)]
pub enum PersistenceCommand {
    Create(PersistenceCreateArgs),
    Extend(PersistenceExtendArgs),
    Ls(PersistenceLsArgs),
}

/// The safety switches of the persistence commands that write to a drive.
#[derive(Debug, Args)]
pub struct PersistenceWriteArgs {
    /// Print what would be done and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation before writing to a disk (image files are never asked for).
    #[arg(long, short)]
    pub yes: bool,
    /// Allow a non-removable disk; for `create`, also replace an existing file of that name.
    /// A mounted disk or the system's disk is refused even so.
    #[arg(long)]
    pub force: bool,
    /// Print the result (or with --dry-run the plan) as JSON; messages go to stderr.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Make a persistence file: an ext4 (or XFS) file system of --size made by mkfs in a
/// temporary file and copied into a new file on the data partition, in one contiguous run of
/// clusters when the drive has one. With --image, its label is the one the image's init
/// system looks for and polyboot.json gets a `persistence` entry for the image.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot persistence create /dev/sdb ubuntu --size 4G --image /ISO/ubuntu-24.04.iso
      /persistence/ubuntu.dat, label casper-rw (casper), registered for that image
  polyboot persistence create disk.img debian.dat --size 2G --label persistence
      live-boot's label; persistence.conf (\"/ union\") is written inside
  polyboot persistence create disk.img fedora --size 1G --label vtoycow --dir /casper
  polyboot persistence create disk.img big --size 8G --fs xfs --dry-run --json
  polyboot persistence create /dev/sdb ubuntu --size 4G --force --yes
      replace an existing /persistence/ubuntu.dat without asking
  polyboot persistence create /dev/sdb secret --size 8G --encrypt --image /ISO/debian-live.iso
      LUKS2, passphrase asked twice here and at every boot
  polyboot persistence create disk.img vm --size 1G --encrypt --passphrase-file pass.txt -q
  polyboot persistence create disk.img old-pc --size 1G --encrypt --kdf-memory 32M --kdf-time 500
      cheaper to unlock on a PC with little memory

Labels: casper-rw (Ubuntu's casper), persistence (Debian's live-boot, which also needs
persistence.conf: it is added; polyboot also gives dracut and archiso images this label, the
boot side hands them the device itself), vtoycow (Ventoy's for dracut and archiso), or any
other of up to 16 characters (12 for XFS).")]
pub struct PersistenceCreateArgs {
    /// The polyboot drive: a whole disk (/dev/sdb, /dev/nvme0n1; not a partition) or a drive
    /// image file made by `polyboot install`.
    pub target: PathBuf,
    /// File name of the persistence file, e.g. ubuntu or ubuntu.dat (".dat" is added when the
    /// name does not end in it). Written in --dir.
    pub name: String,
    /// Size of the file and of the file system in it, e.g. 4G, 512M (at least 16 MiB, 300 MiB
    /// for XFS; rounded down to whole MiB).
    #[arg(long, value_parser = parse_size)]
    pub size: u64,
    /// File system label, which is how the live system finds it, e.g. casper-rw,
    /// persistence, vtoycow. Default: the label the init system of --image looks for, else
    /// casper-rw (Ventoy's default).
    #[arg(long)]
    pub label: Option<String>,
    /// File system inside the file.
    #[arg(long, value_enum, default_value = "ext4")]
    pub fs: PersistenceFsArg,
    /// Encrypt: the file system inside a LUKS2 container (its 16 MiB header comes out of
    /// --size), unlocked at boot with the passphrase typed at polyboot's prompt. The passphrase
    /// is asked twice here unless --passphrase-file gives it. $TMPDIR needs room for the whole
    /// --size while it is made.
    #[arg(long)]
    pub encrypt: bool,
    /// With --encrypt: read the passphrase from this file (one trailing newline is dropped).
    #[arg(long, value_name = "FILE", requires = "encrypt")]
    pub passphrase_file: Option<PathBuf>,
    /// With --encrypt: Argon2id memory of the key slot, 8M to 1G. The booted live system needs
    /// this much free memory to unlock the file; more costs an attacker more.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64M", requires = "encrypt")]
    pub kdf_memory: u64,
    /// With --encrypt: milliseconds Argon2id takes here to unlock (cryptsetup measures its
    /// passes on this machine), 100 to 10000; slower PCs take longer at boot.
    #[arg(long, value_name = "MS", default_value_t = 1000, requires = "encrypt",
          value_parser = clap::value_parser!(u32).range(100..=10000))]
    pub kdf_time: u32,
    /// Directory on the data partition for the file (created if needed), e.g. /persistence.
    #[arg(long, default_value = "/persistence")]
    pub dir: String,
    /// The image on the drive this file is for, e.g. /ISO/ubuntu.iso: picks the label and
    /// adds the file to the image's `persistence` entry in /polyboot/polyboot.json.
    #[arg(long)]
    pub image: Option<String>,
    #[command(flatten)]
    pub write: PersistenceWriteArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PersistenceFsArg {
    Ext4,
    Xfs,
}

/// Grow a persistence file and the ext2/3/4 file system in it (resize2fs): the file gets
/// more clusters (after its last one when they are free), the file system the new space.
/// The file system is checked with e2fsck before and after; nothing on the drive is written
/// unless both pass. XFS can only grow while mounted (xfs_growfs): grow it on the live system.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot persistence extend disk.img ubuntu --size +2G      2 GiB more
  polyboot persistence extend /dev/sdb ubuntu.dat --size 8G   to 8 GiB in all
  polyboot persistence extend disk.img /casper/fedora.dat --size +512M --dry-run
  polyboot persistence extend disk.img fedora --dir /casper --size 2G --json -q
  polyboot persistence extend /dev/sda ubuntu --size +1G --force --yes   a fixed disk, no prompt")]
pub struct PersistenceExtendArgs {
    /// The polyboot drive: a whole disk (/dev/sdb, /dev/nvme0n1; not a partition) or a drive
    /// image file made by `polyboot install`.
    pub target: PathBuf,
    /// The persistence file: a name in --dir (".dat" may be left out) or a path on the data
    /// partition starting with /.
    pub name: String,
    /// The new size (e.g. 8G) or, with a leading +, how much to add (e.g. +2G); rounded down
    /// to whole MiB.
    #[arg(long, value_parser = parse_size_change, allow_hyphen_values = true)]
    pub size: SizeChange,
    /// Directory on the data partition the name is looked up in.
    #[arg(long, default_value = "/persistence")]
    pub dir: String,
    #[command(flatten)]
    pub write: PersistenceWriteArgs,
}

/// `--size 8G` (the new size) or `--size +2G` (that much more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeChange {
    To(u64),
    Grow(u64),
}

fn parse_size_change(s: &str) -> Result<SizeChange, crate::device::ParseSizeError> {
    match s.trim().strip_prefix('+') {
        Some(more) => parse_size(more).map(SizeChange::Grow),
        None => parse_size(s).map(SizeChange::To),
    }
}

/// List persistence files: every file in --dir and every backend named by ventoy.json or
/// polyboot.json, with its size, fragments, file system type, label and UUID (read from its
/// superblock), whether it is encrypted, and which images use it.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot persistence ls disk.img
  polyboot persistence ls /dev/sdb --json
  polyboot persistence ls disk.img --dir /casper")]
pub struct PersistenceLsArgs {
    /// The polyboot drive: a whole disk (/dev/sdb, /dev/nvme0n1; not a partition) or a drive
    /// image file made by `polyboot install` (read only).
    pub target: PathBuf,
    /// Directory on the data partition holding persistence files (searched with its
    /// subdirectories).
    #[arg(long, default_value = "/persistence")]
    pub dir: String,
    /// Print the list as JSON (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Windows To Go: list the editions of a Windows image (ISO, WIM, ESD or split SWM), write a
/// Windows To Go drive, image file, VHD or VHDX from one.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  polyboot wtg editions Win11_English_x64.iso\n  polyboot wtg editions install.esd --json\n  polyboot wtg create Win11_English_x64.iso /dev/sdb --edition Professional"
)]
pub struct WtgArgs {
    #[command(subcommand)]
    pub command: WtgCommand,
}

#[derive(Debug, Subcommand)]
pub enum WtgCommand {
    Editions(WtgEditionsArgs),
    Create(WtgCreateArgs),
}

/// Write a Windows To Go drive: partition TARGET, apply one edition of IMAGE, make it bootable.
///
/// TARGET is a whole disk (/dev/sdX; erased, with the same safety checks as `install`), a raw
/// image file, or with --vhd / --vhdx a virtual disk file. GPT (default): ESP (FAT32, 260 MiB),
/// MSR (128 MiB) and Windows (NTFS); --mbr: Windows (NTFS, active) and a small FAT32 ESP.
/// The edition is applied with wimlib in NTFS-3G mode; the BCD store is written by polyboot's
/// own registry code (\EFI\Microsoft\Boot\BCD, and \Boot\BCD with --mbr); the SYSTEM hive
/// gets the Windows To Go policy (PortableOperatingSystem = 1, SanPolicy = 4).
///
/// Ctrl-C or any failure leaves the target without a partition table (the table is written
/// last), and VHD / VHDX files are only created once complete. Needs root (loop devices,
/// mkntfs, ntfs-3g, mkfs.fat).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot wtg create Win11.iso /dev/sdb --edition Professional
  polyboot wtg create install.wim wtg.img --index 3 --size 64G
  polyboot wtg create Win10.iso /dev/sdb --mbr --index 1     BIOS and UEFI
  polyboot wtg create install.esd win.vhdx --vhdx --size 64G --index 6
  polyboot wtg create Win11.iso /dev/sdb --index 1 --unattend autounattend.xml --drivers ./drivers
  polyboot wtg create Win11.iso /dev/sdb --index 1 --dry-run  print the plan, write nothing")]
pub struct WtgCreateArgs {
    /// Windows ISO, WIM, ESD or split SWM.
    pub image: PathBuf,
    /// Whole disk, image file, or VHD / VHDX file to create.
    pub target: PathBuf,
    #[command(flatten)]
    pub select: WtgSelectArgs,
    /// MBR partition table (BIOS and UEFI boot) instead of GPT (UEFI).
    #[arg(long)]
    pub mbr: bool,
    /// Size of a new image / VHD / VHDX file, e.g. 64G.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<u64>,
    /// Write a fixed VHD (raw disk + footer).
    #[arg(long, conflicts_with = "vhdx")]
    pub vhd: bool,
    /// Write a dynamic VHDX.
    #[arg(long)]
    pub vhdx: bool,
    /// Copy this answer file to Windows\Panther\unattend.xml.
    #[arg(long)]
    pub unattend: Option<PathBuf>,
    /// Copy this folder of driver packages (.inf + files) to Windows\polyboot-drivers and add
    /// it to the driver search path (DevicePath).
    #[arg(long)]
    pub drivers: Option<PathBuf>,
    /// Leave the host's internal disks online (no SanPolicy = 4).
    #[arg(long)]
    pub no_internal_disks_offline: bool,
    #[command(flatten)]
    pub erase: EraseArgs,
    /// Print a JSON report (the plan and what was done) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// List the editions (WIM images) of a Windows image: index, edition, architecture, version, size, name.
///
/// IMAGE is a Windows ISO (its sources/install.wim, install.esd or split
/// install.swm + install2.swm ... are read in place, nothing is extracted) or a WIM / ESD /
/// SWM file (the other parts of a split set are found beside it).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot wtg editions Win11_23H2_English_x64.iso
  polyboot wtg editions install.esd --json
  polyboot wtg editions install.swm                  split set: install2.swm ... beside it
  polyboot wtg editions win.iso --edition Professional  only the edition it picks (or an error)
  polyboot wtg editions win.iso --index 7             index out of range: says which exist")]
pub struct WtgEditionsArgs {
    /// Windows ISO, WIM, ESD, or the first part of a split SWM set (install.swm).
    pub image: PathBuf,
    #[command(flatten)]
    pub select: WtgSelectArgs,
    /// Print the editions as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Choosing one edition of a Windows image.
#[derive(Debug, Args)]
pub struct WtgSelectArgs {
    /// The edition's image index (1, 2, ...; see `polyboot wtg editions`).
    #[arg(long, conflicts_with = "edition")]
    pub index: Option<u32>,
    /// The edition by ID (e.g. Professional) or by name, ignoring case.
    #[arg(long)]
    pub edition: Option<String>,
}

/// Print a shell completion script for polyboot on stdout.
///
/// Install it where your shell looks for completions (see the examples), then start a new
/// shell. Completes subcommands, options and file names.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot completions bash > ~/.local/share/bash-completion/completions/polyboot
  polyboot completions zsh > ~/.zfunc/_polyboot         with fpath+=~/.zfunc in ~/.zshrc
  polyboot completions fish > ~/.config/fish/completions/polyboot.fish
  polyboot completions elvish >> ~/.config/elvish/rc.elv
  polyboot completions powershell >> $PROFILE")]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Write polyboot's man pages into DIR: polyboot.1 and one page per subcommand
/// (polyboot-install.1, polyboot-wtg-create.1, ...).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot manpages target/man && man -l target/man/polyboot.1")]
pub struct ManpagesArgs {
    /// Directory to write the pages into (created if missing; existing pages are replaced).
    pub dir: PathBuf,
}

/// Boot a polyboot drive, a drive image or a single ISO / IMG file in QEMU for a quick try.
///
/// TARGET is a polyboot drive (a USB stick such as /dev/sdb, or an image file made by
/// `polyboot install`), attached as a USB stick the way a user boots it; or a bare ISO (booted
/// as a CD-ROM) or IMG / other disk image (booted as a USB disk). Writes are discarded by
/// default (-snapshot: TARGET is only read, so a real stick is never written); --write lets
/// the VM write, refused for mounted disks and the system disk. A block device needs root to
/// read.
///
/// The console: with --serial, or when there is no display ($DISPLAY / $WAYLAND_DISPLAY unset,
/// or QEMU without a window UI), this terminal is the VM's serial console (what the firmware
/// and polyboot's menu print, and the keys you type; Ctrl-] stops the VM). Otherwise QEMU
/// opens a window and the serial console is only logged (--log-dir). KVM is used when it
/// really works here (tried with a tiny guest), TCG otherwise; the line printed at start says
/// which, and why not KVM.
///
/// Exit status: 0 when --expect's TEXT appeared (or, without --expect, when the VM stopped
/// normally or --timeout passed); 1 when TEXT did not appear before --timeout or the VM's end,
/// or on an error.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot vm disk.img                           boot a drive image (UEFI, window or terminal)
  sudo polyboot vm /dev/sdb --serial             a real stick, read-only, console in this terminal
  polyboot vm disk.img --bios --serial           legacy BIOS (SeaBIOS)
  polyboot vm disk.img --image debian.iso        pick an image in the menu and boot it
  polyboot vm ~/Downloads/debian.iso             a bare ISO, booted as a CD-ROM
  polyboot vm disk.img --serial --image ipxe.iso --expect \"iPXE initialising devices\" --timeout 120
                                                 for scripts: exit 0 once the text appears
  polyboot vm disk.img --dry-run                 print the QEMU command line, start nothing
  polyboot vm disk.img --secure-boot             Secure Boot on, Microsoft's keys (a typical PC)
  polyboot vm disk.img --secure-boot --sb-vars snakeoil --serial
                                                 Secure Boot with Debian's test keys (for drives
                                                 signed with /usr/share/ovmf/PkKek-1-snakeoil.key)")]
pub struct VmArgs {
    /// A polyboot drive (/dev/sdX or an image file), or a bare .iso (CD-ROM) / .img (disk) file.
    pub target: PathBuf,
    /// Boot with UEFI firmware (OVMF, a private copy of its variable store): the default.
    #[arg(long, conflicts_with = "bios")]
    pub uefi: bool,
    /// Boot with legacy BIOS firmware (SeaBIOS): polyboot's MBR boot code.
    #[arg(long)]
    pub bios: bool,
    /// Boot with Secure Boot on: OVMF's Secure Boot build (q35 with SMM), a private copy of
    /// a variable store with keys enrolled (--sb-vars; Microsoft's by default). The firmware
    /// then starts only signed boot loaders, as on a PC sold with Windows.
    #[arg(long, conflicts_with = "bios")]
    pub secure_boot: bool,
    /// The keys of --secure-boot: ms (Microsoft's, the default), snakeoil (Debian's test keys,
    /// /usr/share/ovmf/PkKek-1-snakeoil.*) or the path of an OVMF variable store (copied,
    /// never written).
    #[arg(long, value_name = "ms|snakeoil|PATH", requires = "secure_boot")]
    pub sb_vars: Option<String>,
    /// Boot this image from polyboot's menu: its path on the drive or a unique part of it
    /// (e.g. ipxe.iso), typed into the menu's search on the serial console, then Enter.
    #[arg(long, value_name = "PATH")]
    pub image: Option<String>,
    /// Use this terminal as the VM's console (serial port on stdin / stdout, no window).
    #[arg(long)]
    pub serial: bool,
    /// Discard the VM's writes (the default): TARGET is opened read-only.
    #[arg(long, conflicts_with = "no_snapshot")]
    pub snapshot: bool,
    /// Let the VM write to TARGET (refused for a mounted disk or the system disk).
    #[arg(long = "no-snapshot", visible_alias = "write")]
    pub no_snapshot: bool,
    /// Guest memory, e.g. 2G or 512M (a bare number is MiB).
    #[arg(long, value_name = "SIZE", default_value = "2G", value_parser = crate::vm::plan::parse_memory)]
    pub memory: u64,
    /// Stop the VM after SECONDS (for scripts; exit status 1 if --expect's TEXT has not appeared).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Stop the VM and exit 0 as soon as the serial console prints TEXT.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub expect: Option<String>,
    /// Accelerator: auto (KVM when it really works, else TCG), kvm or tcg.
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: VmAccelArg,
    /// Keep the serial log (serial.log), the QEMU command line and QEMU's stderr in DIR.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Print the QEMU command line (and what would be typed into the menu); start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan (with --dry-run) or the plan and the outcome as JSON on stdout; the
    /// serial console then goes to stderr.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VmAccelArg {
    /// KVM when /dev/kvm really runs a guest, else TCG.
    Auto,
    /// KVM, or an error saying why not.
    Kvm,
    /// QEMU's software emulation (slow, works everywhere).
    Tcg,
}

/// Network boot (PXE, then iPXE over HTTP) of a directory of images, BIOS and UEFI x64 clients.
///
/// Answers DHCP (proxy-DHCP by default: only PXE clients, next to the site's DHCP server;
/// --dhcp-range runs a full DHCP server for an isolated lab network), serves the first stage
/// over TFTP (Debian's iPXE builds: undionly.kpxe for BIOS, snponly.efi or ipxe.efi for UEFI)
/// and then, over HTTP, an iPXE menu generated from the same scan and ventoy.json /
/// polyboot.json as the boot manager's menu, and the images with range requests. ISO and IMG
/// entries boot with iPXE's sanboot, EFI files with chain.
///
/// Not yet: SOURCE as a polyboot drive or drive image (only a plain directory); Linux live
/// ISOs finding their medium over the network (the hook's network hand-off, NBD); Windows
/// images (WIM, VHD); password-protected entries (shown greyed out).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  polyboot serve /srv/images --listen 192.0.2.1
                        proxy-DHCP next to the site's DHCP server (answers PXE clients only)
  polyboot serve /srv/images --interface eth1 --dhcp-range 192.0.2.100-192.0.2.199
                        full DHCP server on an isolated lab network
  polyboot serve /srv/images --listen 192.0.2.1 --http-port 8000 --json
                        one JSON event per line on stdout (clients, files, bytes)
  polyboot serve /srv/images --listen 192.0.2.1 --rules rules.txt
                        rules.txt:  group lab 52:54:00:00:00:01 52:54:00:00:00:02
                                    @lab /ISO/debian.iso once
                                    *    menu")]
pub struct ServeArgs {
    /// A directory of images, laid out as on a drive's data partition (with its own
    /// ventoy/ventoy.json and polyboot/polyboot.json). A polyboot drive or drive image as
    /// SOURCE is not supported yet.
    pub source: PathBuf,
    /// The IPv4 address to serve on; it must be an address of this machine. Default: the
    /// first IPv4 address of --interface.
    #[arg(long)]
    pub listen: Option<std::net::Ipv4Addr>,
    /// The network interface DHCP listens on (broadcasts are received only there). Default:
    /// the interface that holds --listen.
    #[arg(long)]
    pub interface: Option<String>,
    /// TCP port of the HTTP server (menu and images).
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,
    /// TCP port of the NBD server (the scanned images as read-only block devices, named by
    /// their path, e.g. `live/debian.iso`); 0 turns it off.
    #[arg(long, default_value_t = 10809)]
    pub nbd_port: u16,
    /// Run a full DHCP server leasing addresses FIRST-LAST (same subnet as --listen) instead
    /// of proxy-DHCP. Only on a network with no other DHCP server.
    #[arg(long, value_name = "FIRST-LAST")]
    pub dhcp_range: Option<String>,
    /// Lease time in seconds for --dhcp-range.
    #[arg(long, default_value_t = 3600)]
    pub lease_secs: u32,
    /// Directory holding Debian's iPXE builds (package ipxe): undionly.kpxe, ipxe.efi,
    /// snponly.efi.
    #[arg(long, default_value = "/usr/lib/ipxe")]
    pub ipxe_dir: PathBuf,
    /// The first stage UEFI PXE clients get: snponly.efi drives the NIC through the firmware's
    /// own driver (any NIC the firmware knows); ipxe.efi brings iPXE's drivers.
    #[arg(long, value_enum, default_value = "snponly")]
    pub uefi_first_stage: UefiFirstStage,
    /// Per-MAC rules: which machine (MAC or group) boots which image without the menu, once or
    /// always. One rule a line, `MAC|@GROUP|* IMAGE|menu|local [once|always]`, plus
    /// `group NAME MAC...` lines; the first rule that applies wins. `once` is remembered until
    /// the server restarts.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Most TFTP transfers at a time; further requests get a TFTP error.
    #[arg(long, default_value_t = 64)]
    pub max_tftp_sessions: usize,
    /// Print one JSON event per line on stdout instead of log lines on stderr.
    #[arg(long)]
    pub json: bool,
}

/// The iPXE build handed to UEFI PXE clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UefiFirstStage {
    /// snponly.efi: uses the firmware's network driver (SNP).
    Snponly,
    /// ipxe.efi: iPXE's own drivers.
    Ipxe,
}
