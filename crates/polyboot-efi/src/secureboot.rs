//! Secure Boot: verification of every image, never a bypass (issue 15).
//!
//! polyboot starts an image only through `LoadImage`: the firmware's (db / dbx), or — when
//! polyboot is shim's second stage and shim is 16 or later — shim's hook of `LoadImage`, which
//! verifies against db, MOK, shim's vendor certificate and SBAT. When `LoadImage` refuses an
//! image because of Secure Boot (`EFI_SECURITY_VIOLATION` / `EFI_ACCESS_DENIED`), the menu
//! says so and comes back; shim's `SHIM_LOCK` protocol is then asked (`Verify`) only to word
//! the reason. While an image that is itself a shim runs (a distribution ISO's loader),
//! polyboot's shim's `SHIM_LOCK` is set aside, so that shim's GRUB verifies with that shim's
//! keys ([`start_image`]). Nothing here hooks the Security protocols, edits variables or skips
//! a check. See ARCHITECTURE.md, "Secure Boot and shim".

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr;
use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams};
use uefi::proto::device_path::DevicePath;
use uefi::proto::shim::ShimLock;
use uefi::runtime::{self, VariableVendor};
use uefi::{cstr16, Handle, Identify, Status};

/// Whether the firmware enforces Secure Boot (the `SecureBoot` global variable is 1).
pub fn is_on() -> bool {
    let mut buf = [0u8; 1];
    matches!(
        runtime::get_variable(cstr16!("SecureBoot"), &VariableVendor::GLOBAL_VARIABLE, &mut buf),
        Ok((data, _)) if data == [1]
    )
}

/// One line for the console at start: Secure Boot off / on, and whether shim is there. Under
/// a shim started by polyboot (a distribution ISO's), the first shim's protocol stays
/// installed next to the second's (ARCHITECTURE.md, "Secure Boot and shim"): counted here.
pub fn describe() -> String {
    if !is_on() {
        return String::from("Secure Boot is off");
    }
    let shims = boot::locate_handle_buffer(boot::SearchType::from_proto::<ShimLock>())
        .map(|h| h.len())
        .unwrap_or(0);
    match shims {
        0 => String::from("Secure Boot is on; no shim: the firmware's db and dbx decide"),
        1 => String::from("Secure Boot is on; started through shim (SHIM_LOCK is installed)"),
        n => format!(
            "Secure Boot is on; {n} SHIM_LOCK protocols are installed (nested shims; loaders find the first)"
        ),
    }
}

/// What `LoadImage` loads from.
pub enum Source<'a> {
    Buffer(&'a [u8]),
    /// A full device path (device nodes + file path node), loaded with BootPolicy FALSE (shim's
    /// `LoadImage` hook refuses BootPolicy TRUE).
    Path(&'a DevicePath),
}

/// `LoadImage` through the boot services table as it is now (so shim's hook, when shim
/// installed one). On `EFI_SECURITY_VIOLATION` the firmware may still have created an image
/// handle (deferred execution, UEFI 2.x 7.4): it is unloaded here, so a refused image does not
/// stay in memory.
pub fn load_image(source: Source<'_>) -> Result<Handle, Status> {
    let st = uefi::table::system_table_raw().ok_or(Status::NOT_READY)?;
    // SAFETY: the system table and its boot services table stay valid while boot services
    // run (polyboot never exits them); the pointers passed live across the call.
    unsafe {
        let bs = &*st.as_ref().boot_services;
        let (path, buffer, size) = match source {
            Source::Buffer(b) => (ptr::null(), b.as_ptr(), b.len()),
            Source::Path(p) => (p.as_ffi_ptr().cast(), ptr::null(), 0),
        };
        let mut handle = ptr::null_mut();
        let status = (bs.load_image)(
            uefi_raw::Boolean::FALSE,
            boot::image_handle().as_ptr(),
            path,
            buffer,
            size,
            &mut handle,
        );
        let handle = Handle::from_ptr(handle);
        if status.is_success() {
            return handle.ok_or(Status::LOAD_ERROR);
        }
        if status == Status::SECURITY_VIOLATION {
            if let Some(h) = handle {
                let _ = boot::unload_image(h);
            }
        }
        Err(status)
    }
}

/// `StartImage` on an image `load_image` loaded. When that image is itself a shim (`is_shim`:
/// a distribution ISO's loader), shim's `SHIM_LOCK` protocol is set aside while it runs and put
/// back when it returns: the ISO's shim then finds none and installs its own, so its GRUB
/// verifies kernels with that shim's keys, not with polyboot's shim's — what shim 15's own
/// `StartImage` hook does, and what shim 16 omits (ARCHITECTURE.md, "Secure Boot and shim").
/// Nothing is verified less: the ISO's shim passed `LoadImage`, installs its own protocol
/// before it starts anything, and verifies what it starts. Any other image (a GRUB, iPXE)
/// keeps polyboot's shim's protocol, as under shim 16 without polyboot.
pub fn start_image(image: Handle, is_shim: bool) -> Status {
    let aside = if is_shim { ShimAside::take() } else { ShimAside { taken: Vec::new() } };
    let status = match boot::start_image(image) {
        Ok(()) => Status::SUCCESS,
        Err(e) => e.status(),
    };
    drop(aside);
    status
}

/// The `SHIM_LOCK` interfaces taken off their handles, put back on drop.
struct ShimAside {
    taken: Vec<(Handle, *const c_void)>,
}

impl ShimAside {
    fn take() -> ShimAside {
        let mut taken = Vec::new();
        let Ok(handles) = boot::locate_handle_buffer(boot::SearchType::from_proto::<ShimLock>())
        else {
            return ShimAside { taken };
        };
        for &handle in handles.iter() {
            // SAFETY: GetProtocol only to learn the interface pointer; closed at the end of
            // the statement, before the interface is uninstalled.
            let interface = match unsafe {
                boot::open_protocol::<ShimLock>(
                    OpenProtocolParams { handle, agent: boot::image_handle(), controller: None },
                    OpenProtocolAttributes::GetProtocol,
                )
            } {
                Ok(p) => &*p as *const ShimLock as *const c_void,
                Err(_) => continue,
            };
            // SAFETY: the interface installed on that handle; shim keeps it alive (it is a
            // static of shim's, which stays loaded while polyboot runs).
            if unsafe { boot::uninstall_protocol_interface(handle, &ShimLock::GUID, interface) }
                .is_ok()
            {
                taken.push((handle, interface));
            }
        }
        ShimAside { taken }
    }
}

impl Drop for ShimAside {
    fn drop(&mut self) {
        for &(handle, interface) in self.taken.iter().rev() {
            // SAFETY: putting back shim's own interface; on a new handle if its handle went
            // away with its last protocol.
            unsafe {
                if boot::install_protocol_interface(Some(handle), &ShimLock::GUID, interface)
                    .is_err()
                {
                    let _ = boot::install_protocol_interface(None, &ShimLock::GUID, interface);
                }
            }
        }
    }
}

/// Whether some shim's `SHIM_LOCK` protocol is installed.
pub fn shim_present() -> bool {
    boot::get_handle_for_protocol::<ShimLock>().is_ok()
}

/// Whether `image` (a PE file) is a shim: its SBAT section (`.sbat`, mandatory for shim)
/// names the component `shim` (`shim,4,UEFI shim,...`). Bounded reads of untrusted bytes;
/// anything malformed is "no".
pub fn is_shim(image: &[u8]) -> bool {
    sbat_section(image)
        .is_some_and(|sbat| sbat.split(|&b| b == b'\n').any(|l| l.starts_with(b"shim,")))
}

/// The raw data of the section named `.sbat` (at most 64 KiB of it).
fn sbat_section(image: &[u8]) -> Option<&[u8]> {
    let le16 = |at: usize| image.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let le32 = |at: usize| {
        image.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let pe = le32(0x3c)?;
    if image.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    let count = usize::from(le16(pe + 6)?).min(96);
    let table = pe + 24 + usize::from(le16(pe + 20)?);
    (0..count).find_map(|i| {
        let header = table + i * 40;
        if image.get(header..header + 8)? != b".sbat\0\0\0" {
            return None;
        }
        let (size, at) = (le32(header + 16)?.min(64 << 10), le32(header + 20)?);
        image.get(at..at.checked_add(size)?)
    })
}

/// Whether a `LoadImage` status is a Secure Boot refusal.
pub fn is_refusal(status: Status) -> bool {
    status == Status::SECURITY_VIOLATION || status == Status::ACCESS_DENIED
}

/// shim's verdict on an image, when shim (its `SHIM_LOCK` protocol) is there. Looked up
/// each time: shim 15 uninstalls its protocol once its second stage starts an image, and
/// a shim started by polyboot installs its own.
pub fn shim_verdict(image: &[u8]) -> Option<Result<(), Status>> {
    let handle = boot::get_handle_for_protocol::<ShimLock>().ok()?;
    let shim = boot::open_protocol_exclusive::<ShimLock>(handle).ok()?;
    Some(shim.verify(image).map_err(|e| e.status()))
}

/// What the image's PE certificate table says (core's `authenticode` reader): who signed it,
/// that it carries no signature, or that it was altered after signing.
pub fn signature_note(image: &[u8]) -> Option<String> {
    use polyboot_core::authenticode::{self, State};
    let sigs = authenticode::read(image).ok()?;
    let signer = sigs.signatures.iter().find(|s| s.nesting == 0).map(|s| match &s.subject {
        Some(subject) => format!("{subject}"),
        None => format!("a certificate issued by {}", s.issuer),
    });
    Some(match (sigs.state(), signer) {
        (State::Unsigned, _) => String::from("it carries no signature"),
        (State::DigestMismatch, Some(who)) => {
            format!("it was signed by {who}, but altered after signing")
        }
        (State::Damaged(why), _) => format!("its signature cannot be read ({why})"),
        (_, Some(who)) => format!("it is signed by {who}"),
        (_, None) => return None,
    })
}

/// The reason shown in the menu when Secure Boot refuses `what` (an image, or an ISO's EFI
/// loader): `status` is `LoadImage`'s, `image` the file's bytes when they could be read.
pub fn refusal_reason(what: &str, status: Status, image: Option<&[u8]>) -> String {
    let mut reason = format!(
        "{what} is not signed by a key this machine trusts (Secure Boot is on; LoadImage: {status:?})"
    );
    if let Some(note) = image.and_then(signature_note) {
        reason.push_str("; ");
        reason.push_str(&note);
    }
    match image.and_then(shim_verdict) {
        Some(Ok(())) => reason.push_str(
            "; shim accepts it (MOK or shim's own key), but this shim does not load images for \
             its second stage (shim 16 and later do): update shim on the drive",
        ),
        Some(Err(_)) => reason.push_str("; shim (MOK) refuses it too"),
        None => {}
    }
    reason.push_str(
        ". Sign it with a key in db or enrolled as a MOK (mokutil --import), or turn Secure Boot off",
    );
    reason
}
