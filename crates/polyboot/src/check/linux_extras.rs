//! `polyboot check`'s view of what an image gets besides booting (issue 18): persistence,
//! auto-install, injection, conf_replace and driver update disks — what the drive's
//! configuration names for it (under UEFI and BIOS, which may differ through `_uefi` /
//! `_legacy` keys) and whether polyboot can do it for this image: its init family
//! ([`InitFamily::supports_persistence`], [`InitFamily::supports_injection`]), its
//! installer ([`installer::detect`]) or Windows Setup, and for `conf_replace` whether the
//! file to replace is in the ISO at all. The boot session decides the same way at boot
//! (core `session::linux`); nothing here changes whether the image is expected to boot.

use crate::isofiles::IsoTrees;
use polyboot_core::block::ReadAt;
use polyboot_core::bootcfg::BootConfigReport;
use polyboot_core::config::{BootConfig, Firmware};
use polyboot_core::initfamily::InitFamily;
use polyboot_core::installer::{self, Installer};
use polyboot_core::menu::ImageKind;
use serde::Serialize;

/// The features, in the order they are reported.
pub const FEATURES: [&str; 5] = ["persistence", "auto_install", "injection", "conf_replace", "dud"];

/// One feature for one image.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct ExtraCheck {
    /// `persistence`, `auto_install`, `injection`, `conf_replace` or `dud`.
    pub feature: &'static str,
    /// `UEFI` or `BIOS` when the configuration names something else under the other
    /// firmware (two entries then); `null` when both agree.
    pub firmware: Option<&'static str>,
    /// The files the configuration names for this image: backends, templates, the archive,
    /// `org <- new` pairs, driver update disks. Empty: not configured (or no drive).
    pub configured: Vec<String>,
    /// How they are offered (persistence, auto_install): Ventoy's menu, in words.
    pub menu: Option<String>,
    /// Whether polyboot can do it for this image.
    pub supported: bool,
    /// How, or why not.
    pub detail: String,
}

/// What the image is, as far as these features care.
pub struct ImageFacts<'a> {
    pub path: &'a str,
    pub kind: ImageKind,
    /// The init family of a Linux ISO whose boot configuration was read.
    pub family: Option<InitFamily>,
    /// That boot configuration (entries of this ISO only).
    pub report: Option<&'a BootConfigReport>,
    /// A Windows Setup or PE medium.
    pub windows: bool,
    /// Initrds polyboot cannot wrap (its hook does not run from those).
    pub unwrapped_initrds: usize,
}

/// Each feature's support for the image, and what each configuration names for it.
pub fn check<R: ReadAt>(
    image: &ImageFacts<'_>,
    iso: &mut R,
    configs: &[(Firmware, &BootConfig)],
) -> Vec<ExtraCheck> {
    let installer = image.report.map(installer::detect);
    let mut out = Vec::new();
    for feature in FEATURES {
        let (supported, detail) = support(feature, image, installer.as_ref());
        let per_firmware: Vec<(Firmware, Configured)> =
            configs.iter().map(|(f, c)| (*f, configured(feature, image, c, iso))).collect();
        let same = per_firmware.windows(2).all(|w| w[0].1 == w[1].1);
        let entry = |firmware: Option<&'static str>, c: Configured| {
            let mut detail = detail.clone();
            if let Some(note) = c.note {
                detail = format!("{detail}; {note}");
            }
            ExtraCheck { feature, firmware, configured: c.files, menu: c.menu, supported, detail }
        };
        match per_firmware.first() {
            None => out.push(entry(None, Configured::default())),
            Some((_, c)) if same => out.push(entry(None, c.clone())),
            Some(_) => {
                for (firmware, c) in per_firmware {
                    let name = match firmware {
                        Firmware::Uefi => "UEFI",
                        Firmware::Bios => "BIOS",
                    };
                    out.push(entry(Some(name), c));
                }
            }
        }
    }
    out
}

/// What one configuration names for one feature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Configured {
    files: Vec<String>,
    menu: Option<String>,
    /// Something about this configuration the support detail does not say.
    note: Option<String>,
}

fn configured<R: ReadAt>(
    feature: &str,
    image: &ImageFacts<'_>,
    config: &BootConfig,
    iso: &mut R,
) -> Configured {
    let path = image.path;
    let mut c = Configured::default();
    match feature {
        "persistence" => {
            if let Some(choices) = config.persistence_choices(path) {
                c.menu = Some(choices.describe("without persistence"));
                c.files = choices.options;
            }
        }
        "auto_install" => {
            if let Some(choices) = config.auto_install_choices(path) {
                c.menu = Some(choices.describe("without a template"));
                c.files = choices.options;
                if image.windows {
                    c.note = Some(String::from(
                        "Windows Setup gets the chosen template as autounattend.xml",
                    ));
                }
            }
        }
        "injection" => c.files.extend(config.injection_archive(path)),
        "conf_replace" => {
            let replaced = config.conf_replacements(path);
            c.files = replaced.iter().map(|r| format!("{} <- {}", r.org, r.new)).collect();
            if image.kind == ImageKind::Iso && !replaced.is_empty() {
                let absent: Vec<&str> = replaced
                    .iter()
                    .filter(|r| !in_iso(iso, &r.org))
                    .map(|r| r.org.as_str())
                    .collect();
                if !absent.is_empty() {
                    c.note =
                        Some(format!("not in the ISO, so not replaced: {}", absent.join(", ")));
                }
            }
        }
        "dud" => c.files = config.driver_update_disks(path),
        _ => {}
    }
    c
}

/// Whether the file `path` is in one of the ISO's trees (UDF, ISO 9660 / Joliet / Rock
/// Ridge), as the boot manager's file replacement looks for it.
fn in_iso<R: ReadAt>(iso: &mut R, path: &str) -> bool {
    let Ok(Some(trees)) = IsoTrees::open(&mut *iso) else { return false };
    trees.find_first(&mut *iso, &[path.trim_start_matches('/')]).is_ok_and(|f| f.is_some())
}

/// Whether polyboot can do `feature` for the image, and how or why not.
fn support(feature: &str, image: &ImageFacts<'_>, installer: Option<&Installer>) -> (bool, String) {
    if image.kind != ImageKind::Iso {
        return (false, format!("only ISO images get it, not {} images", image.kind.label()));
    }
    let family = image.family;
    let linux = family.is_some_and(InitFamily::supports_injection);
    let hook_runs = linux && image.unwrapped_initrds == 0;
    match feature {
        "persistence" => match family {
            _ if image.windows => (false, String::from("Windows media have no persistence")),
            Some(f) if f.supports_persistence() && hook_runs => {
                (true, format!("polyboot's hook maps the backend and tells {f} to use it"))
            }
            Some(f) if f.supports_persistence() => {
                (false, format!("{f} could use it, but not every initrd is wrapped"))
            }
            Some(InitFamily::NoneNeeded) => (false, String::from("no Linux initrd")),
            Some(f) => (
                false,
                format!(
                    "{f}: polyboot sets persistence up for live-boot, casper, dracut and \
                     archiso only"
                ),
            ),
            None => {
                (false, String::from("its init family is not known (no boot configuration read)"))
            }
        },
        "auto_install" => {
            if image.windows {
                return (true, String::from("Windows Setup gets the template as autounattend.xml"));
            }
            match installer.map(|i| (i, i.auto_install())) {
                Some((i, Some(plan))) if hook_runs => (
                    true,
                    format!(
                        "{i}: the template goes to {} in the initramfs{}",
                        plan.target,
                        params_text(&plan.params)
                    ),
                ),
                Some((i, Some(_))) => (false, format!("{i}, but not every initrd is wrapped")),
                _ => (false, String::from("installer not detected")),
            }
        }
        "injection" => match family {
            _ if image.windows => {
                (false, String::from("not carried out for Windows media (Ventoy's 7z injection)"))
            }
            Some(_) if hook_runs => (
                true,
                String::from(
                    "polyboot's hook extracts it over / before the image's own /init starts",
                ),
            ),
            Some(f) if linux => (false, format!("{f}: not every initrd is wrapped")),
            _ => (false, String::from("no Linux initrd to put it in")),
        },
        "conf_replace" => {
            (true, String::from("served from the drive in the ISO's ISO 9660 / Joliet / UDF trees"))
        }
        "dud" => {
            if image.windows {
                return (false, String::from("only Anaconda takes driver update disks"));
            }
            let dir = installer::DUD_DIR;
            match installer {
                Some(i) if i.driver_update(0, "/dd.iso").is_some() && hook_runs => (
                    true,
                    format!(
                        "{i}: each disk is copied to {dir}/N.<ext> in the initramfs, with inst.dd="
                    ),
                ),
                Some(i) if i.driver_update(0, "/dd.iso").is_some() => {
                    (false, format!("{i}, but not every initrd is wrapped"))
                }
                Some(Installer::Unknown) | None => (
                    false,
                    String::from("only Anaconda takes driver update disks; installer not detected"),
                ),
                Some(i) => (false, format!("only Anaconda takes driver update disks, not {i}")),
            }
        }
        _ => (false, String::new()),
    }
}

fn params_text(params: &[String]) -> String {
    if params.is_empty() {
        String::new()
    } else {
        format!(", with {}", params.join(" "))
    }
}

/// `check`'s text lines (after the image's heading): one per configured feature, then what
/// else the image could use and what not. Nothing for an image that can use none of them
/// beyond `conf_replace` (EFI tools, iPXE, disk images) unless something is configured.
pub fn lines(extras: &[ExtraCheck]) -> Vec<String> {
    let mut out = Vec::new();
    let (mut possible, mut not) = (Vec::new(), Vec::new());
    for e in extras {
        if e.configured.is_empty() {
            if e.firmware.is_some() {
                continue;
            }
            if e.supported {
                possible.push(e.feature.to_string());
            } else {
                not.push(format!("{} ({})", e.feature, e.detail));
            }
            continue;
        }
        let name = match e.firmware {
            Some(f) => format!("{} [{f}]", e.feature),
            None => e.feature.to_string(),
        };
        let what = e.menu.clone().unwrap_or_else(|| e.configured.join(", "));
        let verdict = if e.supported { "supported" } else { "NOT SUPPORTED" };
        out.push(format!("{name}: {what} -> {verdict}: {}", e.detail));
    }
    let useful = extras.iter().any(|e| e.supported && e.feature != "conf_replace");
    if out.is_empty() && !useful {
        return out;
    }
    if !possible.is_empty() {
        out.push(format!("also possible: {}", possible.join(", ")));
    }
    if !not.is_empty() {
        out.push(format!("not possible: {}", not.join("; ")));
    }
    out
}
