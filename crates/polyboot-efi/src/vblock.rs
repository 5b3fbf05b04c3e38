//! A read-only virtual block device (a CD-ROM for ISO files, a hard disk for IMG files) that
//! the firmware's own El Torito / partition / FAT drivers bind to, and booting from it.
//!
//! The raw `repr(C)` protocol structure is kept apart from the safe [`VirtualMedia`] backend
//! that answers reads (the core's virtual-disk model over the physical drive).

use crate::secureboot;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ffi::c_void;
use polyboot_core::block::IoError;
use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams};
use uefi::proto::device_path::DevicePath;
use uefi::proto::media::file::{File, FileAttribute, FileMode};
use uefi::proto::media::fs::SimpleFileSystem;
use uefi::{Handle, Status};
use uefi_raw::protocol::block::{BlockIoMedia, BlockIoProtocol, Lba};
use uefi_raw::protocol::device_path::DevicePathProtocol;
use uefi_raw::Boolean;

/// What a virtual device reads from. Implemented over the core's virtual-disk model.
pub trait VirtualMedia {
    /// 2048 for a CD-ROM, 512 for a hard disk.
    fn block_size(&self) -> u32;
    /// Size in bytes (a multiple of the block size).
    fn size(&self) -> u64;
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError>;
}

/// The protocol instance the firmware sees. `proto` must stay the first field: the firmware
/// hands `&proto` back to our functions as `this`.
#[repr(C)]
struct VirtualBlockIo {
    proto: BlockIoProtocol,
    media: BlockIoMedia,
    backend: Box<dyn VirtualMedia>,
    /// Read errors seen (the firmware often swallows them; we report them).
    errors: u32,
}

unsafe extern "efiapi" fn vbio_reset(_this: *mut BlockIoProtocol, _ext: Boolean) -> Status {
    Status::SUCCESS
}

unsafe extern "efiapi" fn vbio_read(
    this: *const BlockIoProtocol,
    media_id: u32,
    lba: Lba,
    size: usize,
    buffer: *mut c_void,
) -> Status {
    // SAFETY: `this` is the first field of a live VirtualBlockIo (see install()); the firmware
    // does not call us concurrently (UEFI boot services are single-threaded).
    let vb = unsafe { &mut *(this as *mut VirtualBlockIo) };
    if media_id != vb.media.media_id {
        return Status::MEDIA_CHANGED;
    }
    let bs = vb.media.block_size as u64;
    if size == 0 {
        return Status::SUCCESS;
    }
    if buffer.is_null() {
        return Status::INVALID_PARAMETER;
    }
    if !(size as u64).is_multiple_of(bs) {
        return Status::BAD_BUFFER_SIZE;
    }
    let blocks = size as u64 / bs;
    if lba.checked_add(blocks).is_none_or(|end| end > vb.media.last_block + 1) {
        return Status::INVALID_PARAMETER;
    }
    // SAFETY: the firmware passes a buffer of `size` writable bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(buffer as *mut u8, size) };
    match vb.backend.read(lba * bs, buf) {
        Ok(()) => Status::SUCCESS,
        Err(_) => {
            vb.errors += 1;
            Status::DEVICE_ERROR
        }
    }
}

unsafe extern "efiapi" fn vbio_write(
    _this: *mut BlockIoProtocol,
    _media_id: u32,
    _lba: Lba,
    _size: usize,
    _buffer: *const c_void,
) -> Status {
    Status::WRITE_PROTECTED
}

unsafe extern "efiapi" fn vbio_flush(_this: *mut BlockIoProtocol) -> Status {
    Status::SUCCESS
}

/// polyboot's vendor GUID for virtual devices: 706f6c79-626f-6f74-8000-76646973xxxx ("polyboot",
/// "vdis"); the last byte counts devices so each one has a distinct path.
fn vendor_node(serial: u8) -> [u8; 20] {
    let mut n = [0u8; 20];
    n[0] = 0x01; // hardware device path
    n[1] = 0x04; // vendor
    n[2] = 20;
    let guid = [
        0x79, 0x6c, 0x6f, 0x70, 0x6f, 0x62, 0x74, 0x6f, 0x80, 0x00, 0x76, 0x64, 0x69, 0x73, 0x6b,
        serial,
    ];
    n[4..].copy_from_slice(&guid);
    n
}

pub(crate) const END_NODE: [u8; 4] = [0x7F, 0xFF, 4, 0];

/// A media file-path node for `path` (backslashes, NUL-terminated UTF-16).
pub(crate) fn file_path_node(path: &str) -> Vec<u8> {
    let mut units: Vec<u16> = path.encode_utf16().collect();
    units.push(0);
    let len = 4 + units.len() * 2;
    let mut n = Vec::with_capacity(len);
    n.extend_from_slice(&[0x04, 0x04, len as u8, (len >> 8) as u8]);
    for u in units {
        n.extend_from_slice(&u.to_le_bytes());
    }
    n
}

/// Boot loaders to try on an image's EFI system partition: the removable-media path first,
/// then other executables in `\EFI\BOOT` (GRUB first), leaving out shim's helpers (MokManager,
/// fallback), which are not boot loaders.
fn loader_candidates(fs_handle: Handle) -> Vec<String> {
    const DEFAULT: &str = "\\EFI\\BOOT\\BOOTX64.EFI";
    let mut others: Vec<String> = Vec::new();
    if let Ok(mut fs) = unsafe {
        boot::open_protocol::<SimpleFileSystem>(
            OpenProtocolParams { handle: fs_handle, agent: boot::image_handle(), controller: None },
            OpenProtocolAttributes::GetProtocol,
        )
    } {
        if let Ok(mut root) = fs.open_volume() {
            if let Ok(dir) =
                root.open(uefi::cstr16!("\\EFI\\BOOT"), FileMode::Read, FileAttribute::empty())
            {
                if let Some(mut dir) = dir.into_directory() {
                    // Bounded: a hostile image cannot make us list forever.
                    for _ in 0..256 {
                        let Ok(Some(info)) = dir.read_entry_boxed() else { break };
                        let name = info.file_name().to_string();
                        let upper = name.to_ascii_uppercase();
                        let helper = upper.starts_with("MM") || upper.starts_with("FB");
                        if upper.ends_with(".EFI")
                            && upper != "BOOTX64.EFI"
                            && !helper
                            && !info.is_directory()
                        {
                            others.push(format!("\\EFI\\BOOT\\{name}"));
                        }
                    }
                }
            }
        }
    }
    others.sort_by_key(|n| (!n.to_ascii_uppercase().contains("GRUB"), n.clone()));
    let mut all = alloc::vec![String::from(DEFAULT)];
    all.extend(others);
    all
}

/// A file on a file system the firmware found (at most 64 MiB), or None.
pub(crate) fn read_file(fs_handle: Handle, path: &str) -> Option<Vec<u8>> {
    const MAX: u64 = 64 << 20;
    // SAFETY: GetProtocol on a handle the firmware's FAT driver owns; used only here.
    let mut fs = unsafe {
        boot::open_protocol::<SimpleFileSystem>(
            OpenProtocolParams { handle: fs_handle, agent: boot::image_handle(), controller: None },
            OpenProtocolAttributes::GetProtocol,
        )
    }
    .ok()?;
    let name = uefi::CString16::try_from(path).ok()?;
    let mut file = fs
        .open_volume()
        .ok()?
        .open(&name, FileMode::Read, FileAttribute::empty())
        .ok()?
        .into_regular_file()?;
    file.set_position(uefi::proto::media::file::RegularFile::END_OF_FILE).ok()?;
    let size = file.get_position().ok()?;
    if size > MAX {
        return None;
    }
    file.set_position(0).ok()?;
    let mut bytes = alloc::vec![0u8; size as usize];
    let mut done = 0;
    while done < bytes.len() {
        match file.read(&mut bytes[done..]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => done += n,
        }
    }
    Some(bytes)
}

/// Device path bytes without the end node.
pub(crate) fn path_body(path: &DevicePath) -> Vec<u8> {
    let bytes = path.as_bytes();
    bytes[..bytes.len().saturating_sub(4)].to_vec()
}

/// A virtual device installed in the firmware; removed on drop unless booted into for good.
pub struct Installed {
    handle: Handle,
    vb: *mut VirtualBlockIo,
    path: *mut [u8],
    prefix: [u8; 20],
}

impl Installed {
    /// Install the BlockIO + device path on a new handle; with `connect`, let the firmware's
    /// drivers bind (partitions, El Torito, FAT).
    pub fn install(
        backend: Box<dyn VirtualMedia>,
        serial: u8,
        connect: bool,
    ) -> Result<Installed, String> {
        let bs = backend.block_size();
        let size = backend.size();
        if bs == 0 || size < bs as u64 {
            return Err("the image is empty".to_string());
        }
        let media = BlockIoMedia {
            media_id: 1,
            removable_media: Boolean::TRUE,
            media_present: Boolean::TRUE,
            logical_partition: Boolean::FALSE,
            read_only: Boolean::TRUE,
            write_caching: Boolean::FALSE,
            block_size: bs,
            io_align: 1,
            last_block: size / bs as u64 - 1,
            lowest_aligned_lba: 0,
            logical_blocks_per_physical_block: 1,
            optimal_transfer_length_granularity: 0,
        };
        let vb = Box::into_raw(Box::new(VirtualBlockIo {
            proto: BlockIoProtocol {
                revision: BlockIoProtocol::REVISION_2,
                media: core::ptr::null(),
                reset: vbio_reset,
                read_blocks: vbio_read,
                write_blocks: vbio_write,
                flush_blocks: vbio_flush,
            },
            media,
            backend,
            errors: 0,
        }));
        // SAFETY: vb is a fresh, leaked allocation; the media pointer refers into it.
        unsafe { (*vb).proto.media = &(*vb).media };
        let prefix = vendor_node(serial);
        let mut path_bytes = prefix.to_vec();
        path_bytes.extend_from_slice(&END_NODE);
        let path: *mut [u8] = Box::into_raw(path_bytes.into_boxed_slice());

        // SAFETY: both interfaces stay alive until uninstalled in Drop.
        let handle = unsafe {
            boot::install_protocol_interface(None, &BlockIoProtocol::GUID, vb as *const c_void)
        }
        .map_err(|e| format!("installing the virtual BlockIO: {:?}", e.status()))?;
        let installed = Installed { handle, vb, path, prefix };
        unsafe {
            boot::install_protocol_interface(
                Some(handle),
                &DevicePathProtocol::GUID,
                (*path).as_ptr() as *const c_void,
            )
        }
        .map_err(|e| format!("installing the virtual device path: {:?}", e.status()))?;
        if connect {
            // Partition / El Torito / FAT drivers bind; "not found" just means nothing did.
            let _ = boot::connect_controller(handle, &[], None, true);
        }
        Ok(installed)
    }

    pub fn handle(&self) -> Handle {
        self.handle
    }

    pub fn read_errors(&self) -> u32 {
        // SAFETY: vb lives until drop.
        unsafe { (*self.vb).errors }
    }

    /// File systems the firmware found on the virtual device.
    pub fn file_systems(&self) -> Vec<(Handle, Vec<u8>)> {
        let mut found = Vec::new();
        let Ok(handles) = boot::find_handles::<SimpleFileSystem>() else { return found };
        for h in handles {
            let Ok(path) = (unsafe {
                boot::open_protocol::<DevicePath>(
                    OpenProtocolParams { handle: h, agent: boot::image_handle(), controller: None },
                    OpenProtocolAttributes::GetProtocol,
                )
            }) else {
                continue;
            };
            let body = path_body(&path);
            if body.starts_with(&self.prefix) {
                found.push((h, body));
            }
        }
        found
    }

    /// Load the image's EFI boot loader by full device path (shim-based loaders find their
    /// second stage through it) and start it. Returns when the loader exits.
    pub fn boot(&self) -> Result<Status, String> {
        let file_systems = self.file_systems();
        if file_systems.is_empty() {
            return Err(match self.read_errors() {
                0 => {
                    "the firmware found no EFI system partition / EFI boot image in it".to_string()
                }
                n => format!("reading the image failed {n} times (is the file truncated?)"),
            });
        }
        let mut last_error = String::new();
        // The first loader Secure Boot refused: its reason beats any later "not found".
        let mut refused: Option<String> = None;
        let secure_boot = secureboot::is_on();
        for (handle, body) in &file_systems {
            for loader in loader_candidates(*handle) {
                let mut full = body.clone();
                full.extend_from_slice(&file_path_node(&loader));
                full.extend_from_slice(&END_NODE);
                let Ok(path) = <&DevicePath>::try_from(full.as_slice()) else { continue };
                // BootPolicy FALSE: shim's LoadImage hook refuses TRUE.
                match secureboot::load_image(secureboot::Source::Path(path)) {
                    Ok(image) => {
                        println!("polyboot: starting {loader}");
                        // A shim (a distribution's loader) gets polyboot's shim's
                        // protocol out of its way; read only when a shim is there at all.
                        let is_shim = secureboot::shim_present()
                            && read_file(*handle, &loader).is_some_and(|b| secureboot::is_shim(&b));
                        return Ok(secureboot::start_image(image, is_shim));
                    }
                    Err(status) if secure_boot && secureboot::is_refusal(status) => {
                        if refused.is_none() {
                            let bytes = read_file(*handle, &loader);
                            refused = Some(secureboot::refusal_reason(
                                &format!("its EFI boot loader {loader}"),
                                status,
                                bytes.as_deref(),
                            ));
                        }
                    }
                    Err(status) => last_error = format!("LoadImage({loader}) failed: {status:?}"),
                }
            }
        }
        Err(match refused {
            Some(reason) => reason,
            None if last_error.is_empty() => "no EFI boot loader found".to_string(),
            None => last_error,
        })
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        // SAFETY: undo install() in reverse; the interfaces were installed by us on `handle`.
        unsafe {
            let _ = boot::disconnect_controller(self.handle, None, None);
            let path_gone = boot::uninstall_protocol_interface(
                self.handle,
                &DevicePathProtocol::GUID,
                (*self.path).as_ptr() as *const c_void,
            )
            .is_ok();
            let bio_gone = boot::uninstall_protocol_interface(
                self.handle,
                &BlockIoProtocol::GUID,
                self.vb as *const c_void,
            )
            .is_ok();
            if bio_gone {
                drop(Box::from_raw(self.vb));
            }
            if path_gone {
                drop(Box::from_raw(self.path));
            }
            // If the firmware still holds the interface, leaking it is the safe choice.
        }
    }
}
