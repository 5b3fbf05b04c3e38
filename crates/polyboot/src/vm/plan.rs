//! Planning a `polyboot vm` run: the arguments, what TARGET turned out to be and what the host
//! offers (KVM, a window system, OVMF) become a [`Plan`] — the QEMU command line and what to
//! watch for and type on the serial console. Pure: nothing here touches the system, so every
//! decision is unit-tested.

use crate::device::{check_policy, DiskInfo, Policy, Target};
use anyhow::{bail, Result};
use polyboot_core::menu::{Action, ImageEntry, Key, Menu};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What the boot manager prints once its menu is built, per firmware (the UEFI one and the
/// BIOS stage 1), and a line it prints when the menu is drawn (then it reads keys).
pub const UEFI_MENU_READY: &str = "polyboot: menu ready";
pub const UEFI_MENU_DRAWN: &str = "----------";
pub const BIOS_MENU_READY: &str = "polyboot-bios: menu ready";
pub const BIOS_MENU_DRAWN: &str = "polyboot-bios: menu: ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    Uefi,
    Bios,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

/// The UEFI variable store a Secure Boot VM starts from (`--sb-vars`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum SecureBootVars {
    /// OVMF's store with Microsoft's keys enrolled (PK/KEK/db): what a PC sold with Windows has.
    Ms,
    /// Debian's snakeoil PK/KEK/db (key and certificate in /usr/share/ovmf/): for testing.
    Snakeoil,
    /// A store of the user's own (e.g. with their key enrolled by `virt-fw-vars`).
    Path(PathBuf),
}

/// What the user asked for with `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

/// Where the VM's console goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "ui")]
pub enum Console {
    /// This terminal: the serial console on stdout, keys from stdin; no window.
    Terminal,
    /// A QEMU window (`-display gtk` / `sdl`) with the VGA / GOP screen; the serial console
    /// goes to the log only.
    Window(String),
}

/// What TARGET holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// A polyboot drive: its logical sector size and the images its menu lists, in menu order.
    Drive { sector_size: u32, images: Vec<ImageEntry> },
    /// An ISO 9660 image: attached as a CD-ROM.
    Iso,
    /// Anything else (a raw disk image, a stick made by another tool): attached as a USB disk.
    Disk,
}

/// TARGET, inspected.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    pub path: PathBuf,
    pub kind: TargetKind,
    /// Set when TARGET is a block device: what sysfs and /proc say about it.
    pub device: Option<DiskInfo>,
}

/// What the host offers, found out by the runner before planning.
#[derive(Debug, Clone)]
pub struct Host {
    /// `Ok` when KVM really works here, else why not.
    pub kvm: Result<(), String>,
    /// The QEMU UI to open a window with (`gtk`, `sdl`) when a display exists and QEMU has it.
    pub window_ui: Option<String>,
    pub ovmf_code: PathBuf,
    pub ovmf_vars: PathBuf,
    /// OVMF built with Secure Boot (and SMM) for `--secure-boot`, and its variable stores.
    pub ovmf_secboot_code: PathBuf,
    pub ovmf_vars_ms: PathBuf,
    pub ovmf_vars_snakeoil: PathBuf,
}

/// The request: the command-line switches, already parsed.
#[derive(Debug, Clone)]
pub struct Request {
    pub firmware: Firmware,
    /// `--secure-boot`: OVMF with Secure Boot enforced, starting from this variable store.
    pub secure_boot: Option<SecureBootVars>,
    pub image: Option<String>,
    pub serial: bool,
    pub snapshot: bool,
    pub memory_mib: u64,
    pub accel: AccelChoice,
    pub timeout_secs: Option<u64>,
    pub expect: Option<String>,
}

/// Text to type into the boot manager's menu once it is drawn, then Enter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preselect {
    /// The image on the drive (`/samples/ipxe.iso`).
    pub image: String,
    /// What is typed into the menu: `/` (which starts the search), then the path without its
    /// leading `/` — that is, the image's path.
    pub typed: String,
    /// Wait for this, then for `drawn` after it, before typing.
    pub ready: &'static str,
    pub drawn: &'static str,
}

/// A planned VM run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub target: PathBuf,
    /// "polyboot drive", "ISO image (CD-ROM)" or "disk image".
    pub target_kind: &'static str,
    pub block_device: bool,
    pub firmware: Firmware,
    /// Secure Boot enforced (OVMF secboot + SMM), with this variable store.
    pub secure_boot: Option<SecureBootVars>,
    pub accelerator: Accel,
    /// Why KVM is not used (when it is not).
    pub accelerator_note: Option<String>,
    pub console: Console,
    /// Writes are discarded (`-snapshot`): TARGET is opened read-only.
    pub snapshot: bool,
    pub memory_mib: u64,
    /// How TARGET is attached: "usb-storage" (on qemu-xhci) or "cdrom".
    pub attached_as: &'static str,
    /// What the boot manager prints when its menu is ready (polyboot drives only).
    pub menu_ready: Option<&'static str>,
    pub preselect: Option<Preselect>,
    pub expect: Option<String>,
    pub timeout_secs: Option<u64>,
    /// Copied into the run directory as the VM's private UEFI variable store.
    pub ovmf_vars: Option<PathBuf>,
    /// Program and arguments.
    pub qemu: Vec<String>,
}

impl Plan {
    /// The QEMU command line, quoted for a POSIX shell.
    pub fn shell_command(&self) -> String {
        self.qemu.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    }

    /// The one-line summary printed before the VM starts.
    pub fn summary(&self) -> String {
        let firmware = match (self.firmware, &self.secure_boot) {
            (Firmware::Uefi, None) => "UEFI (OVMF)".to_string(),
            (Firmware::Uefi, Some(vars)) => {
                let keys = match vars {
                    SecureBootVars::Ms => "Microsoft's keys".to_string(),
                    SecureBootVars::Snakeoil => "Debian's snakeoil keys".to_string(),
                    SecureBootVars::Path(p) => format!("the keys of {}", p.display()),
                };
                format!("UEFI (OVMF) with Secure Boot on ({keys})")
            }
            (Firmware::Bios, _) => "BIOS (SeaBIOS)".to_string(),
        };
        let accel = match (&self.accelerator, &self.accelerator_note) {
            (Accel::Kvm, _) => "KVM".to_string(),
            (Accel::Tcg, Some(why)) => format!("TCG, no KVM: {why}"),
            (Accel::Tcg, None) => "TCG".to_string(),
        };
        let writes = if self.snapshot {
            "snapshot: writes are discarded"
        } else {
            "WRITES GO TO THE TARGET"
        };
        format!(
            "{} ({}) as {}, {firmware}, {accel}, {} MiB, {writes}",
            self.target.display(),
            self.target_kind,
            if self.attached_as == "cdrom" { "a CD-ROM" } else { "a USB stick" },
            self.memory_mib
        )
    }
}

/// Builds the plan. `run_dir` holds the serial socket and the private UEFI variable store.
pub fn plan(req: &Request, target: &TargetInfo, host: &Host, run_dir: &Path) -> Result<Plan> {
    if let Some(disk) = &target.device {
        check_device(disk, req.snapshot)?;
    }
    let preselect = match (&req.image, &target.kind) {
        (None, _) => None,
        (Some(wanted), TargetKind::Drive { images, .. }) => Some(preselect(wanted, images, req.firmware)?),
        (Some(_), _) => bail!(
            "--image picks an image in polyboot's menu, but {} is not a polyboot drive (it boots directly)",
            target.path.display()
        ),
    };
    let (accelerator, accelerator_note) = match (req.accel, &host.kvm) {
        (AccelChoice::Tcg, _) => (Accel::Tcg, Some("--accel tcg".to_string())),
        (AccelChoice::Auto, Ok(())) => (Accel::Kvm, None),
        (AccelChoice::Auto, Err(why)) => (Accel::Tcg, Some(why.clone())),
        (AccelChoice::Kvm, Ok(())) => (Accel::Kvm, None),
        (AccelChoice::Kvm, Err(why)) => bail!("--accel kvm: KVM does not work here: {why}"),
    };
    let console = match (&host.window_ui, req.serial) {
        (Some(ui), false) => Console::Window(ui.clone()),
        _ => Console::Terminal,
    };
    if req.secure_boot.is_some() && req.firmware == Firmware::Bios {
        bail!("--secure-boot is a UEFI feature: it cannot be combined with --bios");
    }
    if req.memory_mib < 64 {
        bail!("--memory {} MiB is too little to boot anything (64 MiB at least)", req.memory_mib);
    }

    let run = |name: &str| run_dir.join(name).to_string_lossy().into_owned();
    let mut q: Vec<String> = vec!["qemu-system-x86_64".into()];
    let mut push = |args: &[&str]| q.extend(args.iter().map(|s| s.to_string()));
    // Secure Boot: the variable store must only be writable from SMM, or the guest could
    // change its keys (OVMF's secboot build needs SMM and a secure pflash).
    let machine = if req.secure_boot.is_some() { "q35,smm=on" } else { "q35" };
    push(&["-name", "polyboot-vm", "-machine", machine]);
    match accelerator {
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host", "-smp", "2"]),
        Accel::Tcg => push(&["-accel", "tcg"]),
    }
    push(&["-m", &req.memory_mib.to_string(), "-nodefaults", "-vga", "std"]);
    match &console {
        Console::Terminal => push(&["-display", "none"]),
        Console::Window(ui) => push(&["-display", ui]),
    }
    // The serial console always goes through polyboot (a socket QEMU waits on before running
    // the guest, so nothing is lost): it echoes it, logs it, watches it and types into it.
    push(&[
        "-chardev",
        &format!("socket,id=serial0,path={},server=on,wait=on", escape(&run("serial.sock"))),
    ]);
    push(&["-serial", "chardev:serial0"]);
    let ovmf_vars = match req.firmware {
        Firmware::Uefi => {
            let (code, vars) = match &req.secure_boot {
                None => (&host.ovmf_code, &host.ovmf_vars),
                Some(sb) => {
                    push(&["-global", "driver=cfi.pflash01,property=secure,value=on"]);
                    let vars = match sb {
                        SecureBootVars::Ms => &host.ovmf_vars_ms,
                        SecureBootVars::Snakeoil => &host.ovmf_vars_snakeoil,
                        SecureBootVars::Path(p) => p,
                    };
                    (&host.ovmf_secboot_code, vars)
                }
            };
            push(&[
                "-drive",
                &format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file={}",
                    escape(&code.to_string_lossy())
                ),
            ]);
            push(&[
                "-drive",
                &format!("if=pflash,format=raw,unit=1,file={}", escape(&run("OVMF_VARS.fd"))),
            ]);
            Some(vars.clone())
        }
        Firmware::Bios => None,
    };
    let file = escape(&target.path.to_string_lossy());
    let attached_as = match &target.kind {
        TargetKind::Iso => {
            push(&[
                "-drive",
                &format!("if=none,id=cd0,format=raw,media=cdrom,readonly=on,file={file}"),
            ]);
            push(&["-device", "ide-cd,drive=cd0,bootindex=0"]);
            "cdrom"
        }
        TargetKind::Drive { .. } | TargetKind::Disk => {
            let bs = match &target.kind {
                TargetKind::Drive { sector_size, .. } => *sector_size,
                _ => target.device.as_ref().map_or(512, |d| d.logical_sector_size),
            };
            push(&["-device", "qemu-xhci,id=xhci"]);
            push(&["-drive", &format!("if=none,id=stick,format=raw,file={file}")]);
            push(&[
                "-device",
                &format!("usb-storage,bus=xhci.0,drive=stick,removable=on,logical_block_size={bs},physical_block_size={bs},bootindex=0"),
            ]);
            "usb-storage"
        }
    };
    if req.snapshot {
        push(&["-snapshot"]);
    }
    let target_kind = match target.kind {
        TargetKind::Drive { .. } => "polyboot drive",
        TargetKind::Iso => "ISO image",
        TargetKind::Disk => "disk image",
    };
    Ok(Plan {
        target: target.path.clone(),
        target_kind,
        block_device: target.device.is_some(),
        firmware: req.firmware,
        secure_boot: req.secure_boot.clone(),
        accelerator,
        accelerator_note,
        console,
        snapshot: req.snapshot,
        memory_mib: req.memory_mib,
        attached_as,
        menu_ready: match (&target.kind, req.firmware) {
            (TargetKind::Drive { .. }, Firmware::Uefi) => Some(UEFI_MENU_READY),
            (TargetKind::Drive { .. }, Firmware::Bios) => Some(BIOS_MENU_READY),
            _ => None,
        },
        preselect,
        expect: req.expect.clone(),
        timeout_secs: req.timeout_secs,
        ovmf_vars,
        qemu: q,
    })
}

/// A block device: read-only use (snapshot) is fine whatever it is; letting the VM write is
/// refused for the system disk, mounted or stacked-on disks — the checks `install` makes,
/// without its removable-disk rule (the user names the disk to boot, not to erase).
fn check_device(disk: &DiskInfo, snapshot: bool) -> Result<()> {
    if disk.size_bytes == 0 {
        bail!("{}: no medium (size 0)", disk.path.display());
    }
    if snapshot {
        return Ok(());
    }
    let policy = Policy { force: true, min_size: 0 };
    if let Err(e) = check_policy(&Target::BlockDevice(disk.clone()), &policy) {
        bail!("refusing to let the VM write to it: {e}\n(without --write / --no-snapshot the VM's writes are discarded and the disk is only read)");
    }
    Ok(())
}

/// Resolves `--image` against the drive's menu and works out what to type so that the menu's
/// search selects exactly that image, checked with the boot manager's own menu model.
pub fn preselect(wanted: &str, images: &[ImageEntry], firmware: Firmware) -> Result<Preselect> {
    let norm = format!("/{}", wanted.trim_start_matches('/'));
    let lower = wanted.trim_start_matches('/').to_lowercase();
    let exact: Vec<&ImageEntry> =
        images.iter().filter(|i| i.path.eq_ignore_ascii_case(&norm)).collect();
    let by_name: Vec<&ImageEntry> =
        images.iter().filter(|i| i.name.eq_ignore_ascii_case(wanted)).collect();
    let by_part: Vec<&ImageEntry> =
        images.iter().filter(|i| i.path.to_lowercase().contains(&lower)).collect();
    let found = [exact, by_name, by_part].into_iter().find(|m| !m.is_empty()).unwrap_or_default();
    let listed = || images.iter().map(|i| i.path.as_str()).collect::<Vec<_>>().join(", ");
    let image = match found.as_slice() {
        [one] => (*one).clone(),
        [] if images.is_empty() => bail!("--image {wanted}: the drive's menu lists no images"),
        [] => bail!("--image {wanted}: no such image in the drive's menu (it lists: {})", listed()),
        many => bail!(
            "--image {wanted} matches several images: {}; give more of the path",
            many.iter().map(|i| i.path.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    // "/" starts the menu's search; the rest of the path is the search text.
    let typed = format!("/{}", image.path.trim_start_matches('/'));
    // Type it into the boot manager's own menu model: Enter must boot this image.
    let mut menu = Menu::new(images.to_vec());
    for c in typed.chars() {
        menu.key(Key::Char(c));
    }
    let chosen = match menu.key(Key::Enter) {
        Action::Boot(i) | Action::ShowReason(i) => {
            menu.items().get(i).and_then(|item| item.image()).map(|e| e.path.clone())
        }
        _ => None,
    };
    if chosen.as_deref() != Some(image.path.as_str()) {
        bail!("--image {wanted}: typing {typed:?} into the menu would not select {} (selects {chosen:?})", image.path);
    }
    let (ready, drawn) = match firmware {
        Firmware::Uefi => (UEFI_MENU_READY, UEFI_MENU_DRAWN),
        Firmware::Bios => (BIOS_MENU_READY, BIOS_MENU_DRAWN),
    };
    Ok(Preselect { image: image.path, typed, ready, drawn })
}

/// QEMU option values: a comma is written twice.
fn escape(value: &str) -> String {
    value.replace(',', ",,")
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// `--memory`: `2G`, `512M`, `1.5G`; a bare number is MiB. Returns MiB.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        return t.parse().map_err(|e| format!("{e}"));
    }
    let bytes = crate::device::parse_size(t).map_err(|e| e.to_string())?;
    Ok(bytes >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{DevNum, MountInfo};
    use polyboot_core::menu::ImageKind;

    fn host(kvm: bool, window: bool) -> Host {
        Host {
            kvm: if kvm { Ok(()) } else { Err("the CPU offers no vmx / svm".into()) },
            window_ui: window.then(|| "gtk".to_string()),
            ovmf_code: "/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
            ovmf_vars: "/usr/share/OVMF/OVMF_VARS_4M.fd".into(),
            ovmf_secboot_code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd".into(),
            ovmf_vars_ms: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd".into(),
            ovmf_vars_snakeoil: "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd".into(),
        }
    }

    fn req() -> Request {
        Request {
            firmware: Firmware::Uefi,
            secure_boot: None,
            image: None,
            serial: false,
            snapshot: true,
            memory_mib: 2048,
            accel: AccelChoice::Auto,
            timeout_secs: None,
            expect: None,
        }
    }

    fn entry(path: &str) -> ImageEntry {
        let name = path.rsplit('/').next().unwrap().to_string();
        let kind = if path.ends_with(".img") { ImageKind::Img } else { ImageKind::Iso };
        ImageEntry { path: path.to_string(), name, kind, size: 1 << 20 }
    }

    fn drive(images: &[&str]) -> TargetInfo {
        TargetInfo {
            path: "/tmp/drive.img".into(),
            kind: TargetKind::Drive {
                sector_size: 512,
                images: images.iter().map(|p| entry(p)).collect(),
            },
            device: None,
        }
    }

    fn file(path: &str, kind: TargetKind) -> TargetInfo {
        TargetInfo { path: path.into(), kind, device: None }
    }

    fn stick(mounted: bool, root: bool) -> DiskInfo {
        DiskInfo {
            path: "/dev/sdb".into(),
            sysfs_name: "sdb".into(),
            devnum: DevNum::new(8, 16),
            size_bytes: 16 << 30,
            logical_sector_size: 512,
            removable: true,
            usb: true,
            sd_card: false,
            loop_backing_file: None,
            read_only: false,
            vendor: None,
            model: Some("Cruzer".into()),
            partitions: Vec::new(),
            holders: Vec::new(),
            mounted: if mounted {
                vec![MountInfo {
                    device: "sdb1".into(),
                    source: "/dev/sdb1".into(),
                    mount_point: "/media/x".into(),
                    fs_type: "exfat".into(),
                }]
            } else {
                Vec::new()
            },
            holds_root: root,
        }
    }

    fn args(p: &Plan) -> String {
        p.qemu.join(" ")
    }

    #[test]
    fn a_drive_is_a_usb_stick_under_ovmf_with_a_private_vars_copy_and_snapshot() {
        let p =
            plan(&req(), &drive(&["/ipxe.iso"]), &host(false, false), Path::new("/run/x")).unwrap();
        let a = args(&p);
        assert_eq!(p.qemu[0], "qemu-system-x86_64");
        assert!(a.contains("-accel tcg"), "{a}");
        assert!(!a.contains("kvm"), "{a}");
        assert!(
            a.contains(
                "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
            ),
            "{a}"
        );
        assert!(a.contains("if=pflash,format=raw,unit=1,file=/run/x/OVMF_VARS.fd"), "{a}");
        assert_eq!(p.ovmf_vars.as_deref(), Some(Path::new("/usr/share/OVMF/OVMF_VARS_4M.fd")));
        assert!(a.contains("-device qemu-xhci,id=xhci"), "{a}");
        assert!(a.contains("-drive if=none,id=stick,format=raw,file=/tmp/drive.img -device usb-storage,bus=xhci.0,drive=stick"), "{a}");
        assert!(a.contains("bootindex=0"), "{a}");
        assert!(a.ends_with("-snapshot"), "{a}");
        assert!(a.contains("-m 2048"), "{a}");
        assert!(a.contains("socket,id=serial0,path=/run/x/serial.sock,server=on,wait=on"), "{a}");
        assert_eq!(p.accelerator, Accel::Tcg);
        assert!(
            p.summary().contains("TCG, no KVM: the CPU offers no vmx / svm"),
            "{}",
            p.summary()
        );
        assert!(p.summary().contains("as a USB stick, UEFI (OVMF)"), "{}", p.summary());
    }

    #[test]
    fn secure_boot_is_ovmf_secboot_with_smm_a_secure_pflash_and_a_private_copy_of_the_keys() {
        let r = Request { secure_boot: Some(SecureBootVars::Ms), ..req() };
        let p = plan(&r, &drive(&["/ipxe.iso"]), &host(false, false), Path::new("/run/x")).unwrap();
        assert_eq!(
            p.qemu[..10].join(" "),
            "qemu-system-x86_64 -name polyboot-vm -machine q35,smm=on -accel tcg -m 2048 -nodefaults"
        );
        let a = args(&p);
        assert!(
            a.contains(
                "-global driver=cfi.pflash01,property=secure,value=on -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd -drive if=pflash,format=raw,unit=1,file=/run/x/OVMF_VARS.fd"
            ),
            "{a}"
        );
        // The store the run directory's copy is made from: never the packaged file itself.
        assert_eq!(p.ovmf_vars.as_deref(), Some(Path::new("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")));
        assert!(p.summary().contains("UEFI (OVMF) with Secure Boot on (Microsoft's keys)"));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["secure_boot"]["kind"], "ms");

        let r = Request { secure_boot: Some(SecureBootVars::Snakeoil), ..req() };
        let p = plan(&r, &drive(&[]), &host(false, false), Path::new("/r")).unwrap();
        assert_eq!(
            p.ovmf_vars.as_deref(),
            Some(Path::new("/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"))
        );
        assert!(p.summary().contains("Debian's snakeoil keys"), "{}", p.summary());
        let r = Request { secure_boot: Some(SecureBootVars::Path("/k/VARS.fd".into())), ..req() };
        let p = plan(&r, &drive(&[]), &host(false, false), Path::new("/r")).unwrap();
        assert_eq!(p.ovmf_vars.as_deref(), Some(Path::new("/k/VARS.fd")));
        assert!(!args(&p).contains("/k/VARS.fd"), "the store itself is never attached");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["secure_boot"], serde_json::json!({"kind": "path", "path": "/k/VARS.fd"}));

        // Without --secure-boot: no SMM, no secure pflash, the plain build.
        let a = args(&plan(&req(), &drive(&[]), &host(false, false), Path::new("/r")).unwrap());
        assert!(!a.contains("smm") && !a.contains("secboot") && !a.contains("secure"), "{a}");
        assert_eq!(
            serde_json::to_value(
                plan(&req(), &drive(&[]), &host(false, false), Path::new("/r")).unwrap()
            )
            .unwrap()["secure_boot"],
            serde_json::Value::Null
        );

        let r =
            Request { secure_boot: Some(SecureBootVars::Ms), firmware: Firmware::Bios, ..req() };
        let err = plan(&r, &drive(&[]), &host(false, false), Path::new("/r")).unwrap_err();
        assert!(err.to_string().contains("--secure-boot is a UEFI feature"), "{err}");
    }

    #[test]
    fn kvm_when_it_works_and_only_then() {
        let p = plan(&req(), &drive(&[]), &host(true, false), Path::new("/r")).unwrap();
        assert!(args(&p).contains("-accel kvm -cpu host"));
        assert_eq!(p.accelerator, Accel::Kvm);
        let forced = Request { accel: AccelChoice::Tcg, ..req() };
        assert!(args(&plan(&forced, &drive(&[]), &host(true, false), Path::new("/r")).unwrap())
            .contains("-accel tcg"));
        let want_kvm = Request { accel: AccelChoice::Kvm, ..req() };
        let err = plan(&want_kvm, &drive(&[]), &host(false, false), Path::new("/r"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("KVM does not work here: the CPU offers no vmx / svm"), "{err}");
    }

    #[test]
    fn bios_has_no_pflash_and_write_mode_has_no_snapshot() {
        let r = Request { firmware: Firmware::Bios, snapshot: false, ..req() };
        let p = plan(&r, &drive(&[]), &host(false, false), Path::new("/r")).unwrap();
        let a = args(&p);
        assert!(!a.contains("pflash"), "{a}");
        assert!(!a.contains("-snapshot"), "{a}");
        assert!(p.ovmf_vars.is_none());
        assert!(
            p.summary().contains("BIOS (SeaBIOS)")
                && p.summary().contains("WRITES GO TO THE TARGET")
        );
    }

    #[test]
    fn bare_iso_is_a_cdrom_and_bare_img_a_usb_disk() {
        let p = plan(
            &req(),
            &file("/x/ipxe.iso", TargetKind::Iso),
            &host(false, false),
            Path::new("/r"),
        )
        .unwrap();
        let a = args(&p);
        assert!(a.contains("-drive if=none,id=cd0,format=raw,media=cdrom,readonly=on,file=/x/ipxe.iso -device ide-cd,drive=cd0,bootindex=0"), "{a}");
        assert!(!a.contains("usb-storage"), "{a}");
        assert_eq!(p.attached_as, "cdrom");
        let p =
            plan(&req(), &file("/x/a.img", TargetKind::Disk), &host(false, false), Path::new("/r"))
                .unwrap();
        assert!(args(&p).contains("usb-storage,bus=xhci.0,drive=stick"));
        let err = plan(
            &Request { image: Some("a".into()), ..req() },
            &file("/x/a.iso", TargetKind::Iso),
            &host(false, false),
            Path::new("/r"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a polyboot drive"), "{err}");
    }

    #[test]
    fn sector_size_and_commas_in_paths() {
        let mut t = drive(&[]);
        t.kind = TargetKind::Drive { sector_size: 4096, images: Vec::new() };
        t.path = "/tmp/a,b.img".into();
        let a = args(&plan(&req(), &t, &host(false, false), Path::new("/r")).unwrap());
        assert!(a.contains("file=/tmp/a,,b.img"), "{a}");
        assert!(a.contains("logical_block_size=4096,physical_block_size=4096"), "{a}");
    }

    #[test]
    fn console_is_a_window_only_with_a_display_and_without_serial() {
        let p = plan(&req(), &drive(&[]), &host(false, true), Path::new("/r")).unwrap();
        assert_eq!(p.console, Console::Window("gtk".into()));
        assert!(args(&p).contains("-display gtk"));
        let p = plan(
            &Request { serial: true, ..req() },
            &drive(&[]),
            &host(false, true),
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(p.console, Console::Terminal);
        assert!(args(&p).contains("-display none"));
        let p = plan(&req(), &drive(&[]), &host(false, false), Path::new("/r")).unwrap();
        assert_eq!(p.console, Console::Terminal);
    }

    #[test]
    fn block_devices_are_read_freely_but_written_only_when_safe() {
        let mut t = drive(&[]);
        t.path = "/dev/sdb".into();
        t.device = Some(stick(true, false));
        // Mounted: fine with the snapshot (read-only), refused with --write.
        assert!(plan(&req(), &t, &host(false, false), Path::new("/r")).unwrap().block_device);
        let write = Request { snapshot: false, ..req() };
        let err = plan(&write, &t, &host(false, false), Path::new("/r")).unwrap_err().to_string();
        assert!(err.contains("refusing to let the VM write") && err.contains("/media/x"), "{err}");
        t.device = Some(stick(false, true));
        let err = plan(&write, &t, &host(false, false), Path::new("/r")).unwrap_err().to_string();
        assert!(err.contains("refusing"), "{err}");
        t.device = Some(stick(false, false));
        assert!(!plan(&write, &t, &host(false, false), Path::new("/r")).unwrap().snapshot);
    }

    #[test]
    fn preselect_resolves_against_the_menu_and_types_the_path() {
        let images = ["/a.iso", "/samples/ipxe.iso", "/samples/ipxe.img", "/z/a.iso"].map(entry);
        let p = preselect("ipxe.iso", &images, Firmware::Uefi).unwrap();
        assert_eq!(p.image, "/samples/ipxe.iso");
        assert_eq!(p.typed, "/samples/ipxe.iso");
        assert_eq!((p.ready, p.drawn), (UEFI_MENU_READY, UEFI_MENU_DRAWN));
        // "/a.iso" is also part of "/z/a.iso": the exact path wins, and typing "a.iso" selects
        // the first match in menu order, which the menu model confirms is /a.iso.
        assert_eq!(preselect("/a.iso", &images, Firmware::Bios).unwrap().image, "/a.iso");
        assert_eq!(preselect("z/a.iso", &images, Firmware::Bios).unwrap().image, "/z/a.iso");
        assert_eq!(preselect("a.iso", &images, Firmware::Uefi).unwrap().typed, "/a.iso");
        let err = preselect("ipxe", &images, Firmware::Uefi).unwrap_err().to_string();
        assert!(err.contains("matches several images"), "{err}");
        let err = preselect("nope.iso", &images, Firmware::Uefi).unwrap_err().to_string();
        assert!(err.contains("no such image") && err.contains("/samples/ipxe.img"), "{err}");
        assert!(preselect("x", &[], Firmware::Uefi)
            .unwrap_err()
            .to_string()
            .contains("lists no images"));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("2G"), Ok(2048));
        assert_eq!(parse_memory("512M"), Ok(512));
        assert_eq!(parse_memory("768"), Ok(768));
        assert!(parse_memory("lots").is_err());
        let err = plan(
            &Request { memory_mib: 16, ..req() },
            &drive(&[]),
            &host(false, false),
            Path::new("/r"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("too little"));
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("-m"), "-m");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
