//! F4 "boot from the local disk": hand the machine to its own operating system.
//!
//! 1. The firmware's own boot options, in `BootOrder` order: the first active option of the
//!    boot category that is not the one polyboot was started from (`BootCurrent`), is no
//!    network boot or firmware application, and does not lie on the polyboot drive (its
//!    device path does not start with the drive's) is loaded from its device path and started,
//!    with its optional data as load options, as the firmware's boot manager would. Device
//!    paths are expanded as that boot manager does: a short-form `HD(..)/\file` onto the
//!    partition with that signature, a bare `\file` onto each file system, a device without a
//!    file onto the removable-media loader `\EFI\BOOT\BOOTX64.EFI` of its file systems.
//! 2. When no option starts: every file system that is not on the polyboot drive is searched
//!    for Windows' boot manager `\EFI\Microsoft\Boot\bootmgfw.efi`, then (all of them again)
//!    for the removable-media loader, and the first found is started.
//!
//! Before that, every controller is connected (as the firmware's boot manager does when it
//! looks for boot devices), so that disks a fast-boot firmware left alone are seen too.
//! Everything is started through `LoadImage` with its device path ([`secureboot::load_image`]):
//! under Secure Boot the firmware (or shim) verifies it as any image; a refusal is explained,
//! never bypassed. What is skipped and why is printed on the console, one line each.

use crate::secureboot;
use crate::vblock::{file_path_node, path_body, read_file, END_NODE};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams, ScopedProtocol, SearchType};
use uefi::proto::device_path::text::{AllowShortcuts, DisplayOnly};
use uefi::proto::device_path::DevicePath;
use uefi::proto::loaded_image::LoadedImage;
use uefi::proto::media::block::BlockIO;
use uefi::proto::media::file::{File, FileAttribute, FileMode};
use uefi::proto::media::fs::SimpleFileSystem;
use uefi::runtime::{self, VariableVendor};
use uefi::{cstr16, CString16, Handle};

const WINDOWS_BOOT_MANAGER: &str = "\\EFI\\Microsoft\\Boot\\bootmgfw.efi";
const REMOVABLE_LOADER: &str = "\\EFI\\BOOT\\BOOTX64.EFI";

/// EFI_LOAD_OPTION attributes (UEFI 2.10, 3.1.3).
const LOAD_OPTION_ACTIVE: u32 = 0x0000_0001;
const LOAD_OPTION_CATEGORY: u32 = 0x0000_1F00;

/// Device path node types and subtypes (UEFI 2.10, 10.3) that decide what an option is.
const MESSAGING: u8 = 0x03;
const MSG_MAC: u8 = 11;
const MSG_IPV4: u8 = 12;
const MSG_IPV6: u8 = 13;
const MSG_USB_CLASS: u8 = 15;
const MSG_USB_WWID: u8 = 16;
const MSG_ISCSI: u8 = 19;
const MSG_URI: u8 = 24;
const MEDIA: u8 = 0x04;
const MEDIA_HARD_DRIVE: u8 = 1;
const MEDIA_FILE_PATH: u8 = 4;
const MEDIA_FV_FILE: u8 = 6;
const MEDIA_FV: u8 = 7;
const BBS: u8 = 0x05;
const END: u8 = 0x7F;

/// Start the machine's own system instead of an image from the polyboot drive (`drive` is the
/// polyboot drive's handle, which is never chosen). Returns only with the reason it cannot,
/// or with the status of the started image when it returns.
pub fn boot_local_disk(drive: Handle) -> String {
    let Some(ours) = handle_path(drive) else {
        return String::from("the polyboot drive has no device path to tell it from other disks");
    };
    connect_all();
    let mut tried = Tried::default();
    let file_systems = file_systems(&ours);

    // 1. The firmware's boot options.
    let current = read_u16s(cstr16!("BootCurrent")).and_then(|v| v.first().copied());
    for number in read_u16s(cstr16!("BootOrder")).unwrap_or_default() {
        let Some(option) = read_option(number) else {
            println!("polyboot: local boot: Boot{number:04X} skipped: it cannot be read");
            continue;
        };
        let label = format!("Boot{number:04X} \"{}\"", option.description);
        let candidates = if Some(number) == current {
            Err("polyboot was started from it")
        } else {
            expand(&option, &ours, &file_systems)
        };
        match candidates {
            Err(why) => println!("polyboot: local boot: {label} skipped: {why}"),
            Ok(candidates) => {
                for body in candidates {
                    if let Some(returned) = tried.start(&label, &body, &option.data) {
                        return returned;
                    }
                }
            }
        }
    }

    // 2. Windows' boot manager, then the removable-media loader, on any other file system.
    for file in [WINDOWS_BOOT_MANAGER, REMOVABLE_LOADER] {
        for (handle, body) in &file_systems {
            if has_file(*handle, file) {
                let mut full = body.clone();
                full.extend_from_slice(&file_path_node(file));
                if let Some(returned) = tried.start(file, &full, &[]) {
                    return returned;
                }
            }
        }
    }
    tried.reason(file_systems.len())
}

/// What was tried and failed: the first Secure Boot refusal, and the other failures.
#[derive(Default)]
struct Tried {
    /// The device paths loaded so far: a loader an option named is not loaded again when the
    /// search finds it.
    paths: Vec<Vec<u8>>,
    refused: Option<String>,
    failed: Vec<String>,
}

impl Tried {
    /// Load and start the image at device path `body` (without its end node), announced as
    /// `label`, with `options` as its load options. Some(reason) when it was started and
    /// returned; None when it could not be loaded (recorded here).
    fn start(&mut self, label: &str, body: &[u8], options: &[u8]) -> Option<String> {
        if self.paths.iter().any(|p| p == body) {
            return None;
        }
        self.paths.push(body.to_vec());
        let mut full = body.to_vec();
        full.extend_from_slice(&END_NODE);
        let Ok(path) = <&DevicePath>::try_from(full.as_slice()) else {
            self.failed.push(format!("{label}: malformed device path"));
            return None;
        };
        let text = path_text(path);
        let file = file_on(body);
        let image = match secureboot::load_image(secureboot::Source::Path(path)) {
            Ok(image) => image,
            Err(status) if secureboot::is_on() && secureboot::is_refusal(status) => {
                println!("polyboot: local boot: Secure Boot refused {label}: {text}");
                if self.refused.is_none() {
                    let bytes = file.as_ref().and_then(|(h, p)| read_file(*h, p));
                    self.refused = Some(secureboot::refusal_reason(
                        &format!("{label} ({text})"),
                        status,
                        bytes.as_deref(),
                    ));
                }
                return None;
            }
            Err(status) => {
                println!("polyboot: local boot: cannot load {label}: {text}: {status:?}");
                self.failed.push(format!("{label}: LoadImage: {status:?}"));
                return None;
            }
        };
        println!("polyboot: local boot: starting {label}: {text}");
        // The option's optional data are the loader's load options (what Windows' boot manager
        // and shim read); they stay alive until the image returns.
        if !options.is_empty() {
            if let Ok(mut loaded) = boot::open_protocol_exclusive::<LoadedImage>(image) {
                // SAFETY: `options` outlives the image's run (it returns before we do).
                unsafe { loaded.set_load_options(options.as_ptr(), options.len() as u32) };
            }
        }
        // A shim (an installed distribution's) gets polyboot's shim's protocol out of its way.
        let is_shim = secureboot::shim_present()
            && file.and_then(|(h, p)| read_file(h, &p)).is_some_and(|b| secureboot::is_shim(&b));
        let status = secureboot::start_image(image, is_shim);
        Some(format!("{label} returned {status:?}"))
    }

    /// Why nothing was started.
    fn reason(self, file_systems: usize) -> String {
        if let Some(refused) = self.refused {
            return refused;
        }
        if !self.failed.is_empty() {
            return format!(
                "nothing outside the polyboot drive could be loaded: {}",
                self.failed.join("; ")
            );
        }
        if file_systems == 0 {
            return String::from(
                "no disk other than the polyboot drive has a file system the firmware reads",
            );
        }
        format!(
            "no boot option of the firmware leads outside the polyboot drive, and none of the \
             {file_systems} file systems outside it holds {WINDOWS_BOOT_MANAGER} or \
             {REMOVABLE_LOADER}"
        )
    }
}

/// One `Boot####` variable (EFI_LOAD_OPTION).
struct BootOption {
    attributes: u32,
    description: String,
    /// The first device path instance, without its end node.
    path: Vec<u8>,
    /// OptionalData: the started image's load options.
    data: Vec<u8>,
}

fn read_option(number: u16) -> Option<BootOption> {
    let name = CString16::try_from(format!("Boot{number:04X}").as_str()).ok()?;
    let (raw, _) = runtime::get_variable_boxed(&name, &VariableVendor::GLOBAL_VARIABLE).ok()?;
    parse_option(&raw)
}

/// EFI_LOAD_OPTION: Attributes (u32), FilePathListLength (u16), Description (NUL-terminated
/// UCS-2), FilePathList, OptionalData. None when any part runs past the variable.
fn parse_option(raw: &[u8]) -> Option<BootOption> {
    let le16 = |at: usize| raw.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let attributes = u32::from_le_bytes(raw.get(0..4)?.try_into().ok()?);
    let list_len = usize::from(le16(4)?);
    let mut at = 6;
    let mut units = Vec::new();
    loop {
        let unit = le16(at)?;
        at += 2;
        if unit == 0 {
            break;
        }
        units.push(unit);
    }
    let description =
        char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
    let list = raw.get(at..at.checked_add(list_len)?)?;
    let path = nodes(list)?.concat();
    let data = raw[at + list_len..].to_vec();
    Some(BootOption { attributes, description, path, data })
}

/// The nodes of a device path's first instance, up to its end node; None when a node is
/// malformed or there is no end node.
fn nodes(path: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let header = path.get(at..at + 4)?;
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        if len < 4 {
            return None;
        }
        let node = path.get(at..at + len)?;
        if header[0] == END {
            return Some(out);
        }
        out.push(node);
        at += len;
    }
}

fn is(node: &[u8], kind: u8, sub: u8) -> bool {
    node[0] == kind && node[1] == sub
}

/// The full device paths (without end node) to try for a boot option, or why it is skipped.
fn expand(
    option: &BootOption,
    ours: &[u8],
    file_systems: &[(Handle, Vec<u8>)],
) -> Result<Vec<Vec<u8>>, &'static str> {
    if option.attributes & LOAD_OPTION_ACTIVE == 0 {
        return Err("not active");
    }
    if option.attributes & LOAD_OPTION_CATEGORY != 0 {
        return Err("an application, not a boot option");
    }
    let nodes = nodes_of(&option.path);
    let Some(first) = nodes.first() else { return Err("it has no device path") };
    let network = [MSG_MAC, MSG_IPV4, MSG_IPV6, MSG_ISCSI, MSG_URI];
    if nodes.iter().any(|n| n[0] == MESSAGING && network.contains(&n[1])) {
        return Err("a network boot option");
    }
    if first[0] == BBS {
        return Err("a legacy BIOS boot option");
    }
    if is(first, MEDIA, MEDIA_FV_FILE) || is(first, MEDIA, MEDIA_FV) {
        return Err("an application built into the firmware");
    }
    if is(first, MESSAGING, MSG_USB_CLASS) || is(first, MESSAGING, MSG_USB_WWID) {
        return Err("a short-form USB device path (not expanded by polyboot)");
    }
    let rest = |skip: usize| nodes[skip..].concat();
    let full: Vec<Vec<u8>> = if is(first, MEDIA, MEDIA_HARD_DRIVE) {
        // Short form: the partition with this HD() node, wherever it is now.
        let Some(partition) = partition_with(first) else {
            return Err("its partition is not on any disk the firmware sees");
        };
        let mut full = partition;
        full.extend_from_slice(&rest(1));
        Vec::from([full])
    } else if is(first, MEDIA, MEDIA_FILE_PATH) {
        // Short form: the file, on whichever file system has it.
        let Some(file) = file_name(&nodes) else { return Err("its file path is malformed") };
        let found: Vec<Vec<u8>> = file_systems
            .iter()
            .filter(|(h, _)| has_file(*h, &file))
            .map(|(_, body)| [body.as_slice(), &option.path].concat())
            .collect();
        if found.is_empty() {
            return Err("no file system outside the polyboot drive holds its file");
        }
        found
    } else if nodes.iter().any(|n| is(n, MEDIA, MEDIA_FILE_PATH)) {
        Vec::from([option.path.clone()])
    } else {
        // A device: its file systems' removable-media loader.
        if option.path.starts_with(ours) {
            return Err("on the polyboot drive");
        }
        let found: Vec<Vec<u8>> = file_systems
            .iter()
            .filter(|(h, body)| body.starts_with(&option.path) && has_file(*h, REMOVABLE_LOADER))
            .map(|(_, body)| [body.as_slice(), &file_path_node(REMOVABLE_LOADER)].concat())
            .collect();
        if found.is_empty() {
            return Err("no file system on it holds \\EFI\\BOOT\\BOOTX64.EFI");
        }
        found
    };
    let full: Vec<Vec<u8>> = full.into_iter().filter(|p| !p.starts_with(ours)).collect();
    if full.is_empty() {
        return Err("on the polyboot drive");
    }
    Ok(full)
}

/// `nodes` of a path known to parse (an option's, stored without its end node).
fn nodes_of(body: &[u8]) -> Vec<&[u8]> {
    let mut at = 0;
    let mut out = Vec::new();
    while let Some(header) = body.get(at..at + 4) {
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        let Some(node) = body.get(at..at + len).filter(|_| len >= 4) else { break };
        out.push(node);
        at += len;
    }
    out
}

/// The file named by the file-path nodes of `nodes` (consecutive nodes join with `\`).
fn file_name(nodes: &[&[u8]]) -> Option<String> {
    let mut name = String::new();
    for node in nodes.iter().filter(|n| is(n, MEDIA, MEDIA_FILE_PATH)) {
        let units = node[4..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
        let part: String = char::decode_utf16(units.take_while(|&u| u != 0))
            .collect::<Result<String, _>>()
            .ok()?;
        if !name.is_empty() && !name.ends_with('\\') && !part.starts_with('\\') {
            name.push('\\');
        }
        name.push_str(&part);
    }
    (!name.is_empty()).then_some(name)
}

/// The file system and file a full device path names, for reading the file.
fn file_on(body: &[u8]) -> Option<(Handle, String)> {
    let nodes = nodes_of(body);
    let at = nodes.iter().position(|n| is(n, MEDIA, MEDIA_FILE_PATH))?;
    let device = nodes[..at].concat();
    let file = file_name(&nodes[at..])?;
    let handles = boot::find_handles::<SimpleFileSystem>().ok()?;
    let handle = handles.into_iter().find(|&h| handle_path(h).is_some_and(|p| p == device))?;
    Some((handle, file))
}

/// The device path (without end node) of the partition whose last node is `hd`, an HD() node:
/// partition number, start, size and signature all match, as the firmware matches them.
fn partition_with(hd: &[u8]) -> Option<Vec<u8>> {
    let handles = boot::find_handles::<BlockIO>().ok()?;
    handles.into_iter().filter_map(handle_path).find(|p| nodes_of(p).last() == Some(&hd))
}

/// File systems the firmware has mounted that are not on the polyboot drive: handle and
/// device path (without end node).
fn file_systems(ours: &[u8]) -> Vec<(Handle, Vec<u8>)> {
    let handles = boot::find_handles::<SimpleFileSystem>().unwrap_or_default();
    handles
        .into_iter()
        .filter_map(|h| Some((h, handle_path(h)?)))
        .filter(|(_, body)| !body.starts_with(ours))
        .collect()
}

/// A handle's device path without its end node.
fn handle_path(handle: Handle) -> Option<Vec<u8>> {
    // SAFETY: GetProtocol, dropped at the end of the statement; the firmware keeps the path.
    let path: ScopedProtocol<DevicePath> = unsafe {
        boot::open_protocol::<DevicePath>(
            OpenProtocolParams { handle, agent: boot::image_handle(), controller: None },
            OpenProtocolAttributes::GetProtocol,
        )
    }
    .ok()?;
    Some(path_body(&path))
}

/// Whether the file system on `handle` has the regular file `path`.
fn has_file(handle: Handle, path: &str) -> bool {
    let Ok(name) = CString16::try_from(path) else { return false };
    // SAFETY: GetProtocol on a file system the firmware's driver owns; used only here.
    let Ok(mut fs) = (unsafe {
        boot::open_protocol::<SimpleFileSystem>(
            OpenProtocolParams { handle, agent: boot::image_handle(), controller: None },
            OpenProtocolAttributes::GetProtocol,
        )
    }) else {
        return false;
    };
    let Ok(mut root) = fs.open_volume() else { return false };
    root.open(&name, FileMode::Read, FileAttribute::empty())
        .ok()
        .and_then(|f| f.into_regular_file())
        .is_some()
}

/// A global variable of u16 values (`BootOrder`, `BootCurrent`).
fn read_u16s(name: &uefi::CStr16) -> Option<Vec<u16>> {
    let (raw, _) = runtime::get_variable_boxed(name, &VariableVendor::GLOBAL_VARIABLE).ok()?;
    Some(raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
}

/// Connect every controller, recursively: disks a fast-boot firmware left unconnected get
/// their partitions and file systems.
fn connect_all() {
    let Ok(handles) = boot::locate_handle_buffer(SearchType::AllHandles) else { return };
    let handles: Vec<Handle> = handles.iter().copied().collect();
    for handle in handles {
        // "Nothing to connect" (an image handle, a device without drivers) is no error here.
        let _ = boot::connect_controller(handle, &[], None, true);
    }
}

/// A device path as text, for the console.
fn path_text(path: &DevicePath) -> String {
    match path.to_string16(DisplayOnly(false), AllowShortcuts(false)) {
        Ok(text) => text.to_string(),
        Err(_) => format!("({} bytes of device path)", path.as_bytes().len()),
    }
}
