//! The iPXE menu script `polyboot serve` hands to network clients: the same scan, image list,
//! aliases, classes, default and timeout as the boot manager's menu, written as an iPXE
//! `menu` / `choose` script whose entries fetch the images over HTTP.
//!
//! What iPXE cannot do the way the boot manager does is left out visibly, never silently:
//! images with a password (iPXE cannot check polyboot's hashed passwords) and kinds not booted
//! over the network yet (WIM, VHD, VHDX; EFI files under BIOS) are shown as greyed-out lines
//! with the reason; a boot password (`bootpwd`) withholds the whole menu.
//!
//! Boot commands: ISO and IMG files are attached with `sanboot` (iPXE's SAN over HTTP with
//! range requests), EFI files are started with `chain`. Text taken from file names and the
//! configuration is reduced to characters an iPXE script cannot misread (no `$`, quotes,
//! backslashes, `#` or control characters); URLs are percent-encoded.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::config::{BootConfig, Firmware};
use crate::menu::{ImageEntry, ImageKind};

/// Largest number of entries written (iPXE keeps the menu in memory; the scan's own bound is
/// larger).
pub const MAX_ENTRIES: usize = 2000;

/// How a menu entry boots over the network, or why it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetBoot {
    /// `sanboot` the image's URL (ISO, IMG).
    Sanboot,
    /// `chain` the image's URL (EFI applications, UEFI only).
    Chain,
    /// Not offered; the reason is shown on the greyed-out line.
    Unavailable(&'static str),
}

/// How `kind` boots over the network under `firmware`.
pub fn net_boot(kind: ImageKind, firmware: Firmware) -> NetBoot {
    match (kind, firmware) {
        (ImageKind::Iso | ImageKind::Img, _) => NetBoot::Sanboot,
        (ImageKind::Efi, Firmware::Uefi) => NetBoot::Chain,
        (ImageKind::Efi, Firmware::Bios) => NetBoot::Unavailable("EFI file, BIOS client"),
        (ImageKind::Wim | ImageKind::Vhd | ImageKind::Vhdx, _) => {
            NetBoot::Unavailable("not over the network yet")
        }
    }
}

/// `s` with every character an iPXE script could misread replaced by `_`, at most `max`
/// characters.
pub fn script_text(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| match c {
            '$' | '"' | '\'' | '\\' | '#' | '{' | '}' => '_',
            c if c.is_control() => '_',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .collect()
}

/// Percent-encode a path for a URL: unreserved characters and `/` stay.
pub fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The iPXE script for `images` (already filtered by `image_list`, in menu order), fetching
/// them from `base_url` (`http://192.0.2.1:8080`, no trailing slash) + `/images` + path.
pub fn menu_script(
    images: &[ImageEntry],
    config: &BootConfig,
    firmware: Firmware,
    base_url: &str,
    title: &str,
) -> String {
    let mut s = String::from("#!ipxe\n");
    if config.passwords.boot.is_some() {
        s.push_str(
            "echo polyboot: this menu has a boot password (bootpwd); the network menu is not offered\n\
             prompt --timeout 10000 Press any key to go on ||\n\
             exit 1\n",
        );
        return s;
    }
    let _ = writeln!(s, ":start");
    let _ = writeln!(s, "menu {}", script_text(title, 60));
    let mut default_label: Option<String> = None;
    let mut bootable: Vec<(String, &ImageEntry, NetBoot)> = Vec::new();
    for (i, image) in images.iter().take(MAX_ENTRIES).enumerate() {
        let settings = config.image_settings(&image.path, &image.name, image.kind);
        let mut text = match &settings.alias {
            Some(alias) => script_text(alias, 70),
            None => script_text(&image.path, 70),
        };
        if let Some(class) = &settings.class {
            let _ = write!(text, " [{}]", script_text(class, 20));
        }
        let how = if settings.password.is_some() {
            NetBoot::Unavailable("password-protected, not over the network yet")
        } else {
            net_boot(image.kind, firmware)
        };
        match how {
            NetBoot::Unavailable(why) => {
                let _ = writeln!(s, "item --gap -- {text} ({why})");
            }
            _ => {
                let label = format!("img{i}");
                let _ = writeln!(s, "item {label} {text}");
                let is_default = config
                    .default_image
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(&image.path));
                if is_default {
                    default_label = Some(label.clone());
                }
                bootable.push((label, image, how));
            }
        }
    }
    if images.len() > MAX_ENTRIES {
        let _ =
            writeln!(s, "item --gap -- ... {} more images not listed", images.len() - MAX_ENTRIES);
    }
    if images.is_empty() {
        let _ = writeln!(s, "item --gap -- (no images found)");
    }
    let _ = writeln!(s, "item --gap --");
    let _ = writeln!(s, "item pb_shell iPXE shell");
    let _ = writeln!(s, "item pb_exit Exit (boot the next device)");
    let mut choose = String::from("choose");
    if let Some(label) = &default_label {
        let _ = write!(choose, " --default {label}");
        if let Some(secs) = config.timeout_secs {
            // 0 means "no timeout" to iPXE: boot the default at once.
            let ms = u64::from(secs).saturating_mul(1000).max(1);
            let _ = write!(choose, " --timeout {ms}");
        }
    }
    let _ = writeln!(s, "{choose} target || goto pb_exit");
    let _ = writeln!(s, "goto ${{target}}");
    for (label, image, how) in bootable {
        let url = format!("{base_url}/images{}", url_path(&image.path));
        let _ = writeln!(s, ":{label}");
        let _ = writeln!(s, "echo polyboot: booting {}", script_text(&image.path, 200));
        match how {
            NetBoot::Chain => {
                let _ = writeln!(s, "chain {url} || goto pb_failed");
            }
            _ => {
                let _ = writeln!(s, "sanboot --no-describe {url} || goto pb_failed");
            }
        }
        let _ = writeln!(s, "goto pb_failed");
    }
    s.push_str(
        ":pb_failed\n\
         echo polyboot: the image did not boot\n\
         prompt --timeout 5000 Press any key for the menu ||\n\
         goto start\n\
         :pb_shell\n\
         shell\n\
         goto start\n\
         :pb_exit\n\
         exit 0\n",
    );
    s
}

/// The script for a machine a rule sends straight to `image` (no menu); `None` when the
/// image does not boot over the network under `firmware`.
pub fn direct_script(image: &ImageEntry, firmware: Firmware, base_url: &str) -> Option<String> {
    let url = format!("{base_url}/images{}", url_path(&image.path));
    let cmd = match net_boot(image.kind, firmware) {
        NetBoot::Chain => "chain",
        NetBoot::Sanboot => "sanboot --no-describe",
        NetBoot::Unavailable(_) => return None,
    };
    Some(format!(
        "#!ipxe\necho polyboot: rule: booting {}\n{cmd} {url} ||\necho polyboot: the image did not boot\nprompt --timeout 5000 ||\nexit 1\n",
        script_text(&image.path, 200)
    ))
}

/// The script for a machine a rule sends to its next boot device.
pub fn local_script() -> String {
    String::from("#!ipxe\necho polyboot: rule: boot from the next device\nexit 0\n")
}

/// A script that fetches `path_and_query` again with the machine's MAC appended
/// (`&mac=52:54:...`), so per-MAC rules do not depend on the server's DHCP state.
pub fn with_mac_script(base_url: &str, path_and_query: &str) -> String {
    let sep = if path_and_query.contains('?') { '&' } else { '?' };
    format!("#!ipxe\nchain {base_url}{path_and_query}{sep}mac=${{netX/mac}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use alloc::string::ToString;
    use alloc::vec;

    fn image(path: &str, kind: ImageKind) -> ImageEntry {
        ImageEntry {
            path: path.to_string(),
            name: path.rsplit('/').next().unwrap().to_string(),
            kind,
            size: 1 << 20,
        }
    }

    #[test]
    fn menu_with_alias_class_default_timeout() {
        let ventoy = br#"{
            "control": [{"VTOY_MENU_TIMEOUT": "5"}, {"VTOY_DEFAULT_IMAGE": "/ISO/b c.iso"}],
            "menu_alias": [{"image": "/ISO/b c.iso", "alias": "Debian $live"}],
            "menu_class": [{"key": "b c", "class": "debian"}]
        }"#;
        let (cfg, errors) = config::load(None, Some(ventoy), Firmware::Uefi);
        assert!(errors.is_empty(), "{errors:?}");
        let images = vec![
            image("/ISO/a.iso", ImageKind::Iso),
            image("/ISO/b c.iso", ImageKind::Iso),
            image("/tools/shell.efi", ImageKind::Efi),
            image("/win/x.wim", ImageKind::Wim),
        ];
        let s = menu_script(&images, &cfg, Firmware::Uefi, "http://192.0.2.1:8080", "polyboot");
        assert!(s.starts_with("#!ipxe\n"));
        assert!(s.contains("item img0 /ISO/a.iso\n"), "{s}");
        assert!(s.contains("item img1 Debian _live [debian]\n"), "{s}");
        assert!(s.contains("item img2 /tools/shell.efi\n"));
        assert!(s.contains("item --gap -- /win/x.wim (not over the network yet)\n"));
        assert!(s.contains("choose --default img1 --timeout 5000 target || goto pb_exit\n"), "{s}");
        assert!(s.contains(":img1\n"));
        assert!(s.contains(
            "sanboot --no-describe http://192.0.2.1:8080/images/ISO/b%20c.iso || goto pb_failed\n"
        ));
        assert!(
            s.contains("chain http://192.0.2.1:8080/images/tools/shell.efi || goto pb_failed\n")
        );
        assert!(!s.contains(":img3"));

        // Under BIOS the EFI file is greyed out.
        let s = menu_script(&images, &cfg, Firmware::Bios, "http://192.0.2.1:8080", "polyboot");
        assert!(s.contains("item --gap -- /tools/shell.efi (EFI file, BIOS client)\n"), "{s}");
        assert!(!s.contains(":img2"));
    }

    #[test]
    fn passwords_withhold() {
        let ventoy = br#"{"password": {"bootpwd": "txt#secret"}}"#;
        let (cfg, _) = config::load(None, Some(ventoy), Firmware::Uefi);
        let s =
            menu_script(&[image("/a.iso", ImageKind::Iso)], &cfg, Firmware::Uefi, "http://x", "t");
        assert!(s.contains("boot password"));
        assert!(!s.contains("sanboot"));

        let ventoy = br#"{"password": {"menupwd": [{"file": "/a.iso", "pwd": "txt#secret"}]}}"#;
        let (cfg, _) = config::load(None, Some(ventoy), Firmware::Uefi);
        let s =
            menu_script(&[image("/a.iso", ImageKind::Iso)], &cfg, Firmware::Uefi, "http://x", "t");
        assert!(s.contains("item --gap -- /a.iso (password-protected"), "{s}");
        assert!(!s.contains("sanboot"));
    }

    #[test]
    fn rule_scripts() {
        let s = direct_script(&image("/ISO/a b.iso", ImageKind::Iso), Firmware::Bios, "http://x")
            .unwrap();
        assert!(s.contains("sanboot --no-describe http://x/images/ISO/a%20b.iso ||\n"), "{s}");
        assert!(
            direct_script(&image("/a.efi", ImageKind::Efi), Firmware::Bios, "http://x").is_none()
        );
        let s =
            direct_script(&image("/a.efi", ImageKind::Efi), Firmware::Uefi, "http://x").unwrap();
        assert!(s.contains("chain http://x/images/a.efi ||\n"));
        assert!(local_script().contains("exit 0"));
        assert_eq!(
            with_mac_script("http://x", "/boot.ipxe?fw=uefi"),
            "#!ipxe\nchain http://x/boot.ipxe?fw=uefi&mac=${netX/mac}\n"
        );
    }

    #[test]
    fn hostile_names_are_neutralised() {
        let s = script_text("a${x}\"\n\\#b\u{e9}", 100);
        assert_eq!(s, "a__x_____b?");
        assert_eq!(url_path("/a b/%c?.iso"), "/a%20b/%25c%3F.iso");
        let cfg = BootConfig::default();
        let s = menu_script(&[], &cfg, Firmware::Bios, "http://x", "t");
        assert!(s.contains("(no images found)"));
        assert!(s.contains("choose target || goto pb_exit\n"));
    }
}
