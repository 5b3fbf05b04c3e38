//! Initrds inside the El Torito EFI image (a FAT file system: archiso's `efiboot.img` with
//! systemd-boot and the kernel + initrd inside), served wrapped.
//!
//! The firmware's FAT driver binds to the El Torito partition of our virtual CD; boot loaders
//! read files through its `EFI_SIMPLE_FILE_SYSTEM_PROTOCOL`. After the drivers have bound, we
//! read the FAT image's boot configuration through that protocol (core `esp_wrap` parses it)
//! and, when it names initrds, replace the protocol on the file system's handle
//! (`ReinstallProtocolInterface`) with a filter:
//!
//! - `OpenVolume` returns the real root wrapped in a [`Proxy`]; every `Open` through a proxy
//!   is forwarded to the real file, and the result wrapped again, remembering the path it
//!   resolves to (core `esp_wrap::resolve`), so relative opens keep going through the filter;
//! - when that path names an initrd to wrap, the caller gets a [`Wrapped`] file instead: a
//!   read-only file whose content is core's `esp_wrap::Wrapper` content (hook archive +
//!   original archive), the original bytes read through the real file on demand. Its
//!   `GetInfo` reports the new size (so do the entries read from its directory); writes,
//!   `SetInfo`, `Flush` and `Delete` are refused.
//!
//! The raw `repr(C)` protocol structures and their `efiapi` functions are kept here, apart
//! from the pure logic in core. The filter presents file protocol revision 1 (no async
//! `OpenEx` / `ReadEx`); loaders use the revision-1 functions.
//!
//! [`EspWraps`] puts the real protocol back when dropped, before the virtual device is
//! disconnected: the FAT driver's Stop finds its volume from the interface pointer.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use polyboot_core::bootcfg::{LOADER_ENTRIES_DIR, MAX_FILE_SIZE};
use polyboot_core::esp_wrap::{self, ReadError, Wrapper};
use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams};
use uefi::proto::media::file::{
    Directory, File, FileAttribute as SafeAttr, FileInfo as SafeInfo, FileMode as SafeMode,
};
use uefi::proto::media::fs::SimpleFileSystem;
use uefi::{CString16, Handle, Status};
use uefi_raw::protocol::file_system::{
    FileAttribute, FileInfo, FileMode, FileProtocolRevision, FileProtocolV1,
    SimpleFileSystemProtocol,
};
use uefi_raw::{Char16, Guid};

// ---------------------------------------------------------------------------------------
// Raw protocol structures
// ---------------------------------------------------------------------------------------

/// The filter on a file system handle. `proto` first: the firmware hands `&proto` back.
#[repr(C)]
struct FsFilter {
    proto: SimpleFileSystemProtocol,
    real: *mut SimpleFileSystemProtocol,
    wrapper: Rc<Wrapper>,
}

/// A file or directory opened through the filter, forwarded to the real one.
#[repr(C)]
struct Proxy {
    proto: FileProtocolV1,
    real: *mut FileProtocolV1,
    /// The absolute path it was opened as; `None` when it could not be tracked (an overlong
    /// name), so relative opens from it are never wrapped.
    path: Option<String>,
    /// A directory holding a wrapped initrd: entries read from it report the wrapped size.
    lists_initrds: bool,
    wrapper: Rc<Wrapper>,
}

impl Proxy {
    /// A new proxy, handed to the firmware as the raw protocol pointer it expects.
    fn new_protocol(
        real: *mut FileProtocolV1,
        path: Option<String>,
        wrapper: &Rc<Wrapper>,
    ) -> *mut FileProtocolV1 {
        let lists_initrds = path.as_deref().is_some_and(|p| wrapper.lists_initrds(p));
        Box::into_raw(Box::new(Proxy {
            proto: PROXY_PROTO,
            real,
            path,
            lists_initrds,
            wrapper: wrapper.clone(),
        })) as *mut FileProtocolV1
    }
}

/// A wrapped initrd: read-only, served from the wrapper's content.
#[repr(C)]
struct Wrapped {
    proto: FileProtocolV1,
    /// The original file, for its bytes and its information.
    real: *mut FileProtocolV1,
    index: usize,
    pos: u64,
    path: String,
    wrapper: Rc<Wrapper>,
}

const PROXY_PROTO: FileProtocolV1 = FileProtocolV1 {
    revision: FileProtocolRevision::REVISION_1,
    open: proxy_open,
    close: proxy_close,
    delete: proxy_delete,
    read: proxy_read,
    write: proxy_write,
    get_position: proxy_get_position,
    set_position: proxy_set_position,
    get_info: proxy_get_info,
    set_info: proxy_set_info,
    flush: proxy_flush,
};

const WRAPPED_PROTO: FileProtocolV1 = FileProtocolV1 {
    revision: FileProtocolRevision::REVISION_1,
    open: wrapped_open,
    close: wrapped_close,
    delete: wrapped_delete,
    read: wrapped_read,
    write: wrapped_write,
    get_position: wrapped_get_position,
    set_position: wrapped_set_position,
    get_info: wrapped_get_info,
    set_info: wrapped_set_info,
    flush: wrapped_flush,
};

// SAFETY (for every `efiapi` function below): `this` is the first field of a live object of
// the named type, allocated by us with `Box` (the firmware and loaders hand back the pointer
// we gave them); UEFI boot services are single-threaded, so no two calls overlap. The `real`
// pointers are the real driver's interfaces, valid while our object is.

unsafe extern "efiapi" fn fs_open_volume(
    this: *mut SimpleFileSystemProtocol,
    root: *mut *mut FileProtocolV1,
) -> Status {
    let fs = unsafe { &*(this as *const FsFilter) };
    if root.is_null() {
        return Status::INVALID_PARAMETER;
    }
    let mut real: *mut FileProtocolV1 = core::ptr::null_mut();
    let status = unsafe { ((*fs.real).open_volume)(fs.real, &mut real) };
    if status.is_error() {
        return status;
    }
    unsafe { *root = Proxy::new_protocol(real, Some(String::from("/")), &fs.wrapper) };
    status
}

/// Open `name` through the real file `real` (opened as `base`) and wrap the result.
unsafe fn open_through(
    real: *mut FileProtocolV1,
    base: Option<&str>,
    wrapper: &Rc<Wrapper>,
    new_handle: *mut *mut FileProtocolV1,
    name: *const Char16,
    mode: FileMode,
    attributes: FileAttribute,
) -> Status {
    if new_handle.is_null() || name.is_null() {
        return Status::INVALID_PARAMETER;
    }
    let mut inner: *mut FileProtocolV1 = core::ptr::null_mut();
    let status = unsafe { ((*real).open)(real, &mut inner, name, mode, attributes) };
    if status.is_error() {
        return status;
    }
    let path = unsafe { utf16_name(name) }.and_then(|n| {
        let absolute = n.starts_with(['\\', '/']);
        match base {
            Some(b) => Some(esp_wrap::resolve(b, &n)),
            None if absolute => Some(esp_wrap::resolve("/", &n)),
            None => None,
        }
    });
    let index = path.as_deref().and_then(|p| wrapper.find(p));
    let object = match (index, path) {
        (Some(index), Some(path)) => {
            if mode.intersects(FileMode::WRITE | FileMode::CREATE) {
                let _ = unsafe { ((*inner).close)(inner) };
                return Status::WRITE_PROTECTED;
            }
            println!("polyboot: linux: serving {path} wrapped ({} bytes)", wrapper.len(index));
            Box::into_raw(Box::new(Wrapped {
                proto: WRAPPED_PROTO,
                real: inner,
                index,
                pos: 0,
                path,
                wrapper: wrapper.clone(),
            })) as *mut FileProtocolV1
        }
        (_, path) => Proxy::new_protocol(inner, path, wrapper),
    };
    unsafe { *new_handle = object };
    status
}

/// A NUL-terminated UCS-2 name, `None` when longer than core's limit.
unsafe fn utf16_name(name: *const Char16) -> Option<String> {
    let mut units = Vec::new();
    for i in 0..=esp_wrap::MAX_PATH {
        let u = unsafe { *name.add(i) };
        if u == 0 {
            return Some(
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
            );
        }
        units.push(u);
    }
    None
}

unsafe extern "efiapi" fn proxy_open(
    this: *mut FileProtocolV1,
    new_handle: *mut *mut FileProtocolV1,
    name: *const Char16,
    mode: FileMode,
    attributes: FileAttribute,
) -> Status {
    let p = unsafe { &*(this as *const Proxy) };
    unsafe {
        open_through(p.real, p.path.as_deref(), &p.wrapper, new_handle, name, mode, attributes)
    }
}

unsafe extern "efiapi" fn proxy_close(this: *mut FileProtocolV1) -> Status {
    let p = unsafe { Box::from_raw(this as *mut Proxy) };
    unsafe { ((*p.real).close)(p.real) }
}

unsafe extern "efiapi" fn proxy_delete(this: *mut FileProtocolV1) -> Status {
    // Delete closes the handle whatever it returns.
    let p = unsafe { Box::from_raw(this as *mut Proxy) };
    unsafe { ((*p.real).delete)(p.real) }
}

unsafe extern "efiapi" fn proxy_read(
    this: *mut FileProtocolV1,
    size: *mut usize,
    buffer: *mut c_void,
) -> Status {
    let p = unsafe { &*(this as *const Proxy) };
    let status = unsafe { ((*p.real).read)(p.real, size, buffer) };
    if status.is_success() && p.lists_initrds && !size.is_null() && !buffer.is_null() {
        // A directory entry (an EFI_FILE_INFO): a wrapped initrd's reports the wrapped size.
        let n = unsafe { *size };
        let header = core::mem::size_of::<FileInfo>();
        if n > header {
            // SAFETY: the real driver wrote `n` bytes there.
            let bytes = unsafe { core::slice::from_raw_parts(buffer as *const u8, n) };
            let units: Vec<u16> = polyboot_core::bytes::utf16le_units(&bytes[header..])
                .take_while(|&u| u != 0)
                .collect();
            let name: String = char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect();
            let dir = p.path.as_deref().unwrap_or("/");
            if let Some(index) = p.wrapper.find(&esp_wrap::resolve(dir, &name)) {
                unsafe { patch_info(buffer as *mut FileInfo, p.wrapper.len(index)) };
            }
        }
    }
    status
}

/// Report `len` as a file's size (and the file as read-only) in a FileInfo the real driver
/// filled.
unsafe fn patch_info(info: *mut FileInfo, len: u64) {
    // SAFETY: the caller checked that a whole FileInfo header is there; it may be unaligned.
    unsafe {
        core::ptr::addr_of_mut!((*info).file_size).write_unaligned(len);
        core::ptr::addr_of_mut!((*info).physical_size).write_unaligned(len);
        let attr = core::ptr::addr_of_mut!((*info).attribute);
        attr.write_unaligned(attr.read_unaligned() | FileAttribute::READ_ONLY);
    }
}

unsafe extern "efiapi" fn proxy_write(
    this: *mut FileProtocolV1,
    size: *mut usize,
    buffer: *const c_void,
) -> Status {
    let p = unsafe { &*(this as *const Proxy) };
    unsafe { ((*p.real).write)(p.real, size, buffer) }
}

unsafe extern "efiapi" fn proxy_get_position(
    this: *const FileProtocolV1,
    position: *mut u64,
) -> Status {
    let p = unsafe { &*(this as *const Proxy) };
    unsafe { ((*p.real).get_position)(p.real, position) }
}

unsafe extern "efiapi" fn proxy_set_position(this: *mut FileProtocolV1, position: u64) -> Status {
    let p = unsafe { &*(this as *const Proxy) };
    unsafe { ((*p.real).set_position)(p.real, position) }
}

unsafe extern "efiapi" fn proxy_get_info(
    this: *mut FileProtocolV1,
    kind: *const Guid,
    size: *mut usize,
    buffer: *mut c_void,
) -> Status {
    let p = unsafe { &*(this as *const Proxy) };
    unsafe { ((*p.real).get_info)(p.real, kind, size, buffer) }
}

unsafe extern "efiapi" fn proxy_set_info(
    this: *mut FileProtocolV1,
    kind: *const Guid,
    size: usize,
    buffer: *const c_void,
) -> Status {
    let p = unsafe { &*(this as *const Proxy) };
    unsafe { ((*p.real).set_info)(p.real, kind, size, buffer) }
}

unsafe extern "efiapi" fn proxy_flush(this: *mut FileProtocolV1) -> Status {
    let p = unsafe { &*(this as *const Proxy) };
    unsafe { ((*p.real).flush)(p.real) }
}

unsafe extern "efiapi" fn wrapped_open(
    this: *mut FileProtocolV1,
    new_handle: *mut *mut FileProtocolV1,
    name: *const Char16,
    mode: FileMode,
    attributes: FileAttribute,
) -> Status {
    // Opening relative to a file: what the real driver does, names resolved from the file's
    // directory.
    let w = unsafe { &*(this as *const Wrapped) };
    let dir = esp_wrap::parent(&w.path);
    unsafe { open_through(w.real, Some(&dir), &w.wrapper, new_handle, name, mode, attributes) }
}

unsafe extern "efiapi" fn wrapped_close(this: *mut FileProtocolV1) -> Status {
    let w = unsafe { Box::from_raw(this as *mut Wrapped) };
    unsafe { ((*w.real).close)(w.real) }
}

unsafe extern "efiapi" fn wrapped_delete(this: *mut FileProtocolV1) -> Status {
    let w = unsafe { Box::from_raw(this as *mut Wrapped) };
    let _ = unsafe { ((*w.real).close)(w.real) };
    Status::WARN_DELETE_FAILURE
}

/// Fill `dst` with the original file's bytes at `offset`.
unsafe fn read_real(real: *mut FileProtocolV1, offset: u64, dst: &mut [u8]) -> Result<(), Status> {
    let status = unsafe { ((*real).set_position)(real, offset) };
    if status.is_error() {
        return Err(status);
    }
    let mut done = 0;
    while done < dst.len() {
        let mut size = dst.len() - done;
        let status =
            unsafe { ((*real).read)(real, &mut size, dst[done..].as_mut_ptr() as *mut c_void) };
        if status.is_error() {
            return Err(status);
        }
        if size == 0 {
            // The file is shorter than it was when we looked: the medium changed under us.
            return Err(Status::DEVICE_ERROR);
        }
        done += size;
    }
    Ok(())
}

unsafe extern "efiapi" fn wrapped_read(
    this: *mut FileProtocolV1,
    size: *mut usize,
    buffer: *mut c_void,
) -> Status {
    let w = unsafe { &mut *(this as *mut Wrapped) };
    if size.is_null() {
        return Status::INVALID_PARAMETER;
    }
    let want = unsafe { *size };
    if want == 0 {
        return if w.pos > w.wrapper.len(w.index) { Status::DEVICE_ERROR } else { Status::SUCCESS };
    }
    if buffer.is_null() {
        return Status::INVALID_PARAMETER;
    }
    // SAFETY: the caller passes `*size` writable bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(buffer as *mut u8, want) };
    let real = w.real;
    match w.wrapper.read(w.index, w.pos, buf, |off, dst| unsafe { read_real(real, off, dst) }) {
        Ok(n) => {
            w.pos += n as u64;
            unsafe { *size = n };
            Status::SUCCESS
        }
        Err(ReadError::PastEnd) => Status::DEVICE_ERROR,
        Err(ReadError::Original(status)) => {
            println!(
                "polyboot: linux: reading {} from the El Torito image failed: {status:?}",
                w.path
            );
            status
        }
    }
}

unsafe extern "efiapi" fn wrapped_write(
    _this: *mut FileProtocolV1,
    size: *mut usize,
    _buffer: *const c_void,
) -> Status {
    if !size.is_null() {
        unsafe { *size = 0 };
    }
    Status::ACCESS_DENIED
}

unsafe extern "efiapi" fn wrapped_get_position(
    this: *const FileProtocolV1,
    position: *mut u64,
) -> Status {
    let w = unsafe { &*(this as *const Wrapped) };
    if position.is_null() {
        return Status::INVALID_PARAMETER;
    }
    unsafe { *position = w.pos };
    Status::SUCCESS
}

unsafe extern "efiapi" fn wrapped_set_position(this: *mut FileProtocolV1, position: u64) -> Status {
    let w = unsafe { &mut *(this as *mut Wrapped) };
    // All ones: the end of the file. Positions past the end are allowed (reads there fail).
    w.pos = if position == u64::MAX { w.wrapper.len(w.index) } else { position };
    Status::SUCCESS
}

unsafe extern "efiapi" fn wrapped_get_info(
    this: *mut FileProtocolV1,
    kind: *const Guid,
    size: *mut usize,
    buffer: *mut c_void,
) -> Status {
    let w = unsafe { &*(this as *const Wrapped) };
    if kind.is_null() || size.is_null() {
        return Status::INVALID_PARAMETER;
    }
    let status = unsafe { ((*w.real).get_info)(w.real, kind, size, buffer) };
    if status.is_success()
        && unsafe { *kind } == FileInfo::ID
        && unsafe { *size } >= core::mem::size_of::<FileInfo>()
    {
        unsafe { patch_info(buffer as *mut FileInfo, w.wrapper.len(w.index)) };
    }
    status
}

unsafe extern "efiapi" fn wrapped_set_info(
    _this: *mut FileProtocolV1,
    _kind: *const Guid,
    _size: usize,
    _buffer: *const c_void,
) -> Status {
    Status::WRITE_PROTECTED
}

unsafe extern "efiapi" fn wrapped_flush(_this: *mut FileProtocolV1) -> Status {
    Status::ACCESS_DENIED
}

// ---------------------------------------------------------------------------------------
// Installing the filter
// ---------------------------------------------------------------------------------------

/// Filters installed on the virtual device's file systems; dropping it puts the real
/// protocols back (drop it before the virtual device).
pub struct EspWraps {
    installed: Vec<(Handle, *mut FsFilter, *mut SimpleFileSystemProtocol)>,
}

impl Drop for EspWraps {
    fn drop(&mut self) {
        for (handle, filter, real) in self.installed.drain(..) {
            // SAFETY: we installed `filter` in place of `real` on `handle`. The filter itself is
            // leaked: a loader may still hold its pointer (a few bytes).
            let restored = unsafe {
                boot::reinstall_protocol_interface(
                    handle,
                    &SimpleFileSystemProtocol::GUID,
                    filter as *const c_void,
                    real as *const c_void,
                )
            };
            if let Err(e) = restored {
                println!(
                    "polyboot: linux: cannot restore the El Torito file system ({:?})",
                    e.status()
                );
            }
        }
    }
}

/// Read a whole file of the FAT image (at most core's configuration size limit).
fn read_file(root: &mut Directory, path: &str) -> Option<Vec<u8>> {
    let name = CString16::try_from(path.replace('/', "\\").as_str()).ok()?;
    let mut file = root.open(&name, SafeMode::Read, SafeAttr::empty()).ok()?.into_regular_file()?;
    let info = file.get_boxed_info::<SafeInfo>().ok()?;
    if info.file_size() > MAX_FILE_SIZE {
        return None;
    }
    let mut data = alloc::vec![0u8; info.file_size() as usize];
    let mut done = 0;
    while done < data.len() {
        match file.read(&mut data[done..]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => done += n,
        }
    }
    Some(data)
}

/// Size of a regular file, `None` when it is missing or a directory.
fn file_size(root: &mut Directory, path: &str) -> Option<u64> {
    let name = CString16::try_from(path.replace('/', "\\").as_str()).ok()?;
    let file = root.open(&name, SafeMode::Read, SafeAttr::empty()).ok()?;
    let mut file = file.into_regular_file()?;
    Some(file.get_boxed_info::<SafeInfo>().ok()?.file_size())
}

fn entry_names(root: &mut Directory) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(name) = CString16::try_from(LOADER_ENTRIES_DIR.replace('/', "\\").as_str()) else {
        return names;
    };
    let Ok(dir) = root.open(&name, SafeMode::Read, SafeAttr::empty()) else { return names };
    let Some(mut dir) = dir.into_directory() else { return names };
    // Bounded: a hostile image cannot make us list forever.
    for _ in 0..1024 {
        let Ok(Some(info)) = dir.read_entry_boxed() else { break };
        if !info.is_directory() {
            names.push(info.file_name().to_string());
        }
    }
    names
}

/// Find the initrds the El Torito image's own boot configuration loads from it, and serve
/// them wrapped behind `hook_archive` (core `initrd_wrap::hook_archive` with the image's
/// hand-off record, or why there is none). `file_systems` are the virtual device's file
/// systems (handle, device path). Problems are printed; the file system then stays as it is.
pub fn wrap_eltorito_initrds(
    file_systems: &[(Handle, Vec<u8>)],
    hook_archive: &Result<Arc<[u8]>, String>,
) -> EspWraps {
    let mut wraps = EspWraps { installed: Vec::new() };
    for (handle, _) in file_systems {
        let found = {
            // SAFETY: GetProtocol leaves the FAT driver bound; closed at the end of the block.
            let Ok(mut sfs) = (unsafe {
                boot::open_protocol::<SimpleFileSystem>(
                    OpenProtocolParams {
                        handle: *handle,
                        agent: boot::image_handle(),
                        controller: None,
                    },
                    OpenProtocolAttributes::GetProtocol,
                )
            }) else {
                continue;
            };
            let Ok(mut root) = sfs.open_volume() else { continue };
            let names = entry_names(&mut root);
            let config = esp_wrap::find_initrds(&names, |p| read_file(&mut root, p));
            if config.initrds.is_empty() {
                if !config.files.is_empty() {
                    println!("polyboot: linux: no initrd in the El Torito image's configuration ({} files read)", config.files.len());
                }
                continue;
            }
            let mut found: Vec<(String, u64)> = Vec::new();
            for path in &config.initrds {
                match file_size(&mut root, path) {
                    Some(size) => found.push((path.clone(), size)),
                    None => println!("polyboot: linux: initrd {path} (El Torito image configuration) is not in the El Torito image"),
                }
            }
            let Some(real) =
                sfs.get_mut().map(|p| p as *mut SimpleFileSystem as *mut SimpleFileSystemProtocol)
            else {
                continue;
            };
            (found, real)
        };
        let (found, real) = found;
        if found.is_empty() {
            continue;
        }
        let archive = match hook_archive {
            Ok(a) => a.clone(),
            Err(e) => {
                println!("polyboot: linux: initrds in the El Torito image not wrapped: {e}");
                continue;
            }
        };
        let (wrapper, skipped) = Wrapper::new(archive, &found);
        for s in &skipped {
            println!(
                "polyboot: linux: initrd {} in the El Torito image not wrapped: {}",
                s.path, s.reason
            );
        }
        if wrapper.initrds().is_empty() {
            continue;
        }
        let wrapper = Rc::new(wrapper);
        let filter = Box::into_raw(Box::new(FsFilter {
            proto: SimpleFileSystemProtocol {
                revision: unsafe { (*real).revision },
                open_volume: fs_open_volume,
            },
            real,
            wrapper: wrapper.clone(),
        }));
        // SAFETY: `real` is the interface installed on `handle`; `filter` lives until restored
        // (and is leaked after).
        let status = unsafe {
            boot::reinstall_protocol_interface(
                *handle,
                &SimpleFileSystemProtocol::GUID,
                real as *const c_void,
                filter as *const c_void,
            )
        };
        if let Err(e) = status {
            println!("polyboot: linux: initrds in the El Torito image not wrapped: the firmware refused the filter ({:?})", e.status());
            // SAFETY: not installed, so nobody else has the pointer.
            drop(unsafe { Box::from_raw(filter) });
            continue;
        }
        wraps.installed.push((*handle, filter, real));
        for (i, initrd) in wrapper.initrds().iter().enumerate() {
            println!(
                "polyboot: linux: wrapped initrd {} in the El Torito image ({} bytes) as {} bytes",
                initrd.path,
                initrd.original_size,
                wrapper.len(i)
            );
        }
    }
    wraps
}
