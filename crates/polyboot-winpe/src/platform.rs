//! What the jump program needs from Windows, behind traits so the Wine test can replace the
//! parts Wine does not have (a polyboot drive, the virtual disk service) with stand-ins.
//! Every call goes through `windows-sys`.

use polyboot_core::handoff::DriveIdentity;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Seek, SeekFrom};
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use windows_sys::core::{PCWSTR, PWSTR};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE, WIN32_ERROR};
use windows_sys::Win32::Security::PSECURITY_DESCRIPTOR;
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FindFirstVolumeW, FindNextVolumeW, FindVolumeClose, GetDriveTypeW,
    GetLogicalDrives, QueryDosDeviceW, FILE_SHARE_READ, FILE_SHARE_WRITE,
    IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS, OPEN_EXISTING,
};
use windows_sys::Win32::Storage::Vhd::{
    ATTACH_VIRTUAL_DISK_FLAG, ATTACH_VIRTUAL_DISK_FLAG_PERMANENT_LIFETIME,
    ATTACH_VIRTUAL_DISK_FLAG_READ_ONLY, ATTACH_VIRTUAL_DISK_PARAMETERS,
    ATTACH_VIRTUAL_DISK_VERSION_1, OPEN_VIRTUAL_DISK_FLAG, OPEN_VIRTUAL_DISK_FLAG_NONE,
    OPEN_VIRTUAL_DISK_PARAMETERS, VIRTUAL_DISK_ACCESS_MASK, VIRTUAL_DISK_ACCESS_READ,
    VIRTUAL_STORAGE_TYPE, VIRTUAL_STORAGE_TYPE_DEVICE_ISO, VIRTUAL_STORAGE_TYPE_VENDOR_MICROSOFT,
};
use windows_sys::Win32::System::Ioctl::{
    DRIVE_LAYOUT_INFORMATION_EX, IOCTL_DISK_GET_DRIVE_LAYOUT_EX, PARTITION_INFORMATION_EX,
    PARTITION_STYLE_GPT, PARTITION_STYLE_MBR, VOLUME_DISK_EXTENTS,
};
use windows_sys::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryW};
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegCreateKeyExW, RegSetValueExW, HKEY, HKEY_LOCAL_MACHINE, KEY_SET_VALUE,
    KEY_WOW64_64KEY, REG_DWORD, REG_OPTION_NON_VOLATILE, REG_SZ,
};
use windows_sys::Win32::System::WindowsProgramming::DRIVE_CDROM;
use windows_sys::Win32::System::IO::{DeviceIoControl, OVERLAPPED};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    MessageBoxW, MB_ICONERROR, MB_OK, MB_SETFOREGROUND, MB_SYSTEMMODAL,
};

/// Windows 11 Setup's requirement checks are skipped when these DWORDs are 1.
pub const LABCONFIG_KEY: &str = r"SYSTEM\Setup\LabConfig";
pub const LABCONFIG_VALUES: [&str; 5] = [
    "BypassTPMCheck",
    "BypassSecureBootCheck",
    "BypassRAMCheck",
    "BypassStorageCheck",
    "BypassCPUCheck",
];
/// `BypassNRO` = 1 here lets OOBE continue without a network.
pub const OOBE_KEY: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\OOBE";
/// Windows Setup reads its answer file from the path in this key's `UnattendFile` (REG_SZ).
pub const SETUP_KEY: &str = r"SYSTEM\Setup";

/// Finds the polyboot data partition; returns its root (`\\?\Volume{…}\`).
pub trait DataPartition {
    fn find(&self, identity: DriveIdentity, offset: u64, wait: Duration)
        -> Result<PathBuf, String>;
}

/// Attaches an ISO file as a CD; returns the CD's root (`E:\`).
pub trait VirtualCd {
    fn attach(&self, iso: &Path, wait: Duration) -> Result<PathBuf, String>;
}

/// Writes `HKLM\<key>` values.
pub trait Registry {
    fn set_dword(&self, key: &str, name: &str, value: u32) -> Result<(), String>;
    fn set_string(&self, key: &str, name: &str, value: &str) -> Result<(), String>;
}

/// Tells the person at the screen.
pub trait Ui {
    fn message(&self, text: &str);
}

fn wide(s: impl AsRef<OsStr>) -> Vec<u16> {
    s.as_ref().encode_wide().chain(Some(0)).collect()
}

fn from_wide(buf: &[u16]) -> OsString {
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    OsString::from_wide(&buf[..end])
}

fn os_error(code: u32) -> String {
    format!("{} (error {code})", std::io::Error::from_raw_os_error(code as i32))
}

/// A handle closed on drop.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from CreateFileW / OpenVirtualDisk and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

fn open_device(path: &str) -> Option<Handle> {
    let name = wide(path);
    // SAFETY: `name` is NUL-terminated; no access rights are asked for (the IOCTLs used are
    // FILE_ANY_ACCESS), so this works on volumes and disks without locking them.
    let h = unsafe {
        CreateFileW(
            name.as_ptr(),
            0,
            FILE_SHARE_READ | FILE_SHARE_WRITE,
            std::ptr::null(),
            OPEN_EXISTING,
            0,
            std::ptr::null_mut(),
        )
    };
    (h != INVALID_HANDLE_VALUE).then_some(Handle(h))
}

/// `DeviceIoControl` with no input into an 8-byte aligned buffer of `len` bytes.
fn ioctl(h: &Handle, code: u32, len: usize) -> Option<Vec<u64>> {
    let mut buf = vec![0u64; len.div_ceil(8)];
    let mut got = 0u32;
    // SAFETY: the output buffer is `buf`, of the size given.
    let ok = unsafe {
        DeviceIoControl(
            h.0,
            code,
            std::ptr::null(),
            0,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut got,
            std::ptr::null_mut(),
        )
    };
    (ok != 0).then_some(buf)
}

/// The real thing: volumes from the mount manager, disks from their layout.
struct WindowsDisks;

impl WindowsDisks {
    /// (disk number, starting offset) of a volume's first extent.
    fn volume_extent(volume: &str) -> Option<(u32, i64)> {
        let h = open_device(volume.trim_end_matches('\\'))?;
        let len = std::mem::size_of::<VOLUME_DISK_EXTENTS>() * 8;
        let buf = ioctl(&h, IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS, len)?;
        // SAFETY: the buffer is aligned, at least that large, and filled by the IOCTL.
        let ext = unsafe { std::ptr::read(buf.as_ptr().cast::<VOLUME_DISK_EXTENTS>()) };
        (ext.NumberOfDiskExtents >= 1)
            .then(|| (ext.Extents[0].DiskNumber, ext.Extents[0].StartingOffset))
    }

    fn disk_matches(disk: u32, identity: DriveIdentity) -> bool {
        let Some(h) = open_device(&format!(r"\\.\PhysicalDrive{disk}")) else { return false };
        let len = std::mem::size_of::<DRIVE_LAYOUT_INFORMATION_EX>()
            + 128 * std::mem::size_of::<PARTITION_INFORMATION_EX>();
        let Some(buf) = ioctl(&h, IOCTL_DISK_GET_DRIVE_LAYOUT_EX, len) else { return false };
        // SAFETY: as above.
        let layout = unsafe { std::ptr::read(buf.as_ptr().cast::<DRIVE_LAYOUT_INFORMATION_EX>()) };
        match identity {
            DriveIdentity::Gpt(guid) if layout.PartitionStyle == PARTITION_STYLE_GPT as u32 => {
                // SAFETY: the GPT member is the one the style says is filled in.
                let g = unsafe { layout.Anonymous.Gpt.DiskId };
                let mut bytes = [0u8; 16];
                bytes[..4].copy_from_slice(&g.data1.to_le_bytes());
                bytes[4..6].copy_from_slice(&g.data2.to_le_bytes());
                bytes[6..8].copy_from_slice(&g.data3.to_le_bytes());
                bytes[8..].copy_from_slice(&g.data4);
                bytes == guid.0
            }
            DriveIdentity::Mbr(sig) if layout.PartitionStyle == PARTITION_STYLE_MBR as u32 => {
                // SAFETY: the MBR member is the one the style says is filled in.
                unsafe { layout.Anonymous.Mbr.Signature == sig }
            }
            _ => false,
        }
    }

    fn scan(identity: DriveIdentity, offset: u64, seen: &mut Vec<String>) -> Option<PathBuf> {
        let mut name = [0u16; 300];
        // SAFETY: the buffer and its length agree.
        let find = unsafe { FindFirstVolumeW(name.as_mut_ptr(), name.len() as u32) };
        if find == INVALID_HANDLE_VALUE {
            return None;
        }
        let mut found = None;
        loop {
            let volume = from_wide(&name).to_string_lossy().into_owned();
            if let Some((disk, start)) = Self::volume_extent(&volume) {
                seen.push(format!("{volume} (disk {disk}, byte {start})"));
                if start as u64 == offset && Self::disk_matches(disk, identity) {
                    found = Some(PathBuf::from(volume));
                    break;
                }
            }
            // SAFETY: as above; `find` is the search handle.
            if unsafe { FindNextVolumeW(find, name.as_mut_ptr(), name.len() as u32) } == 0 {
                break;
            }
        }
        // SAFETY: the search handle is closed once.
        unsafe { FindVolumeClose(find) };
        found
    }
}

impl DataPartition for WindowsDisks {
    fn find(
        &self,
        identity: DriveIdentity,
        offset: u64,
        wait: Duration,
    ) -> Result<PathBuf, String> {
        // USB disks may still be arriving when WinPE starts its shell.
        let deadline = Instant::now() + wait;
        loop {
            let mut seen = Vec::new();
            if let Some(root) = Self::scan(identity, offset, &mut seen) {
                return Ok(root);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not found within {} s; volumes: {}",
                    wait.as_secs(),
                    if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The three virtdisk.dll functions, loaded when the ISO is attached rather than imported: a
/// Windows PE without virtdisk.dll must still start this program, which then runs the
/// original shell. The pointer types are windows-sys's declarations (checked below).
type OpenVirtualDiskFn = unsafe extern "system" fn(
    *const VIRTUAL_STORAGE_TYPE,
    PCWSTR,
    VIRTUAL_DISK_ACCESS_MASK,
    OPEN_VIRTUAL_DISK_FLAG,
    *const OPEN_VIRTUAL_DISK_PARAMETERS,
    *mut HANDLE,
) -> WIN32_ERROR;
type AttachVirtualDiskFn = unsafe extern "system" fn(
    HANDLE,
    PSECURITY_DESCRIPTOR,
    ATTACH_VIRTUAL_DISK_FLAG,
    u32,
    *const ATTACH_VIRTUAL_DISK_PARAMETERS,
    *const OVERLAPPED,
) -> WIN32_ERROR;
type GetVirtualDiskPhysicalPathFn =
    unsafe extern "system" fn(HANDLE, *mut u32, PWSTR) -> WIN32_ERROR;

// The types above are exactly windows-sys's signatures (these consts are never used, so they
// add no import).
const _: OpenVirtualDiskFn = windows_sys::Win32::Storage::Vhd::OpenVirtualDisk;
const _: AttachVirtualDiskFn = windows_sys::Win32::Storage::Vhd::AttachVirtualDisk;
const _: GetVirtualDiskPhysicalPathFn =
    windows_sys::Win32::Storage::Vhd::GetVirtualDiskPhysicalPath;

struct VirtDisk {
    open: OpenVirtualDiskFn,
    attach: AttachVirtualDiskFn,
    physical_path: GetVirtualDiskPhysicalPathFn,
}

impl VirtDisk {
    fn load() -> Result<VirtDisk, String> {
        let name = wide("virtdisk.dll");
        // SAFETY: NUL-terminated name; the module stays loaded for the life of the process.
        let module = unsafe { LoadLibraryW(name.as_ptr()) };
        if module.is_null() {
            return Err(format!(
                "virtdisk.dll cannot be loaded ({}): this Windows PE has no virtual disk support",
                std::io::Error::last_os_error()
            ));
        }
        let get = |symbol: &[u8]| {
            // SAFETY: `symbol` is NUL-terminated ASCII; `module` is loaded.
            unsafe { GetProcAddress(module, symbol.as_ptr()) }.ok_or_else(|| {
                let name = String::from_utf8_lossy(&symbol[..symbol.len() - 1]).into_owned();
                format!("virtdisk.dll has no {name}")
            })
        };
        // SAFETY: each symbol is the documented function, whose signature is the type it is
        // converted to (the same declarations windows-sys imports with).
        unsafe {
            Ok(VirtDisk {
                open: std::mem::transmute::<unsafe extern "system" fn() -> isize, OpenVirtualDiskFn>(
                    get(b"OpenVirtualDisk\0")?,
                ),
                attach: std::mem::transmute::<
                    unsafe extern "system" fn() -> isize,
                    AttachVirtualDiskFn,
                >(get(b"AttachVirtualDisk\0")?),
                physical_path: std::mem::transmute::<
                    unsafe extern "system" fn() -> isize,
                    GetVirtualDiskPhysicalPathFn,
                >(get(b"GetVirtualDiskPhysicalPath\0")?),
            })
        }
    }
}

/// Drive letters (`E:\`) whose drive type is CD-ROM, with their DOS device targets.
fn cd_drives() -> Vec<(String, String)> {
    // SAFETY: no arguments.
    let mask = unsafe { GetLogicalDrives() };
    let mut out = Vec::new();
    for i in 0..26u8 {
        if mask & (1 << i) == 0 {
            continue;
        }
        let letter = format!("{}:", char::from(b'A' + i));
        let root = wide(format!("{letter}\\"));
        // SAFETY: NUL-terminated.
        if unsafe { GetDriveTypeW(root.as_ptr()) } != DRIVE_CDROM {
            continue;
        }
        let mut target = [0u16; 300];
        let name = wide(&letter);
        // SAFETY: the buffer and its length agree.
        let n = unsafe { QueryDosDeviceW(name.as_ptr(), target.as_mut_ptr(), 300) };
        let target =
            if n == 0 { String::new() } else { from_wide(&target).to_string_lossy().into() };
        out.push((format!("{letter}\\"), target));
    }
    out
}

impl VirtualCd for WindowsDisks {
    fn attach(&self, iso: &Path, wait: Duration) -> Result<PathBuf, String> {
        let vd = VirtDisk::load()?;
        let before: Vec<String> = cd_drives().into_iter().map(|(l, _)| l).collect();
        let storage = VIRTUAL_STORAGE_TYPE {
            DeviceId: VIRTUAL_STORAGE_TYPE_DEVICE_ISO,
            VendorId: VIRTUAL_STORAGE_TYPE_VENDOR_MICROSOFT,
        };
        let path = wide(iso);
        let mut h: HANDLE = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; no open parameters (ISO files take none).
        let r = unsafe {
            (vd.open)(
                &storage,
                path.as_ptr(),
                VIRTUAL_DISK_ACCESS_READ,
                OPEN_VIRTUAL_DISK_FLAG_NONE,
                std::ptr::null(),
                &mut h,
            )
        };
        if r != 0 {
            return Err(format!("OpenVirtualDisk: {}", os_error(r)));
        }
        let h = Handle(h);
        // SAFETY: a zeroed parameter block is valid; version 1 has only a reserved field.
        let mut params: ATTACH_VIRTUAL_DISK_PARAMETERS = unsafe { std::mem::zeroed() };
        params.Version = ATTACH_VIRTUAL_DISK_VERSION_1;
        // Read-only, and attached for the rest of this boot (closing the handle keeps it).
        let flags =
            ATTACH_VIRTUAL_DISK_FLAG_READ_ONLY | ATTACH_VIRTUAL_DISK_FLAG_PERMANENT_LIFETIME;
        // SAFETY: `h` is an open virtual disk; the parameters live across the call.
        let r =
            unsafe { (vd.attach)(h.0, std::ptr::null_mut(), flags, 0, &params, std::ptr::null()) };
        if r != 0 {
            return Err(format!("AttachVirtualDisk: {}", os_error(r)));
        }
        let mut buf = [0u16; 300];
        let mut size = (buf.len() * 2) as u32;
        // SAFETY: the size is the buffer's in bytes.
        let r = unsafe { (vd.physical_path)(h.0, &mut size, buf.as_mut_ptr()) };
        let physical =
            if r == 0 { from_wide(&buf).to_string_lossy().into_owned() } else { String::new() };
        // `\\.\CDROM1` is the DOS device `\Device\CdRom1`.
        let device = physical
            .rsplit_once("CDROM")
            .map(|(_, n)| format!(r"\Device\CdRom{n}"))
            .unwrap_or_default();
        let deadline = Instant::now() + wait.max(Duration::from_secs(5));
        loop {
            let now = cd_drives();
            if let Some((l, _)) = now.iter().find(|(_, t)| !device.is_empty() && *t == device) {
                return Ok(PathBuf::from(l));
            }
            if device.is_empty() {
                if let Some((l, _)) = now.iter().find(|(l, _)| !before.contains(l)) {
                    return Ok(PathBuf::from(l));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "attached as {physical:?}, but no drive letter appeared within {} s",
                    wait.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Test mode: the ISO path is complete and there is no virtual disk service (Wine); the
/// directory holding the ISO file stands in for the CD's root, once the file has been
/// opened and found to be an ISO 9660 image.
struct TestStandIns;

impl DataPartition for TestStandIns {
    fn find(&self, _: DriveIdentity, _: u64, _: Duration) -> Result<PathBuf, String> {
        Err("test mode has no partition search".to_string())
    }
}

impl VirtualCd for TestStandIns {
    fn attach(&self, iso: &Path, _: Duration) -> Result<PathBuf, String> {
        let mut f = std::fs::File::open(iso).map_err(|e| format!("test mode: {e}"))?;
        let mut vd = [0u8; 6];
        f.seek(SeekFrom::Start(16 * 2048))
            .and_then(|_| f.read_exact(&mut vd))
            .map_err(|e| format!("test mode: reading the volume descriptor: {e}"))?;
        if &vd[1..6] != b"CD001" {
            return Err("test mode: not an ISO 9660 image (no CD001 at sector 16)".to_string());
        }
        let dir = iso.parent().ok_or("test mode: the ISO path has no directory")?;
        let mut root = dir.as_os_str().to_owned();
        root.push("\\");
        Ok(PathBuf::from(root))
    }
}

struct WindowsRegistry;

impl WindowsRegistry {
    fn set(&self, key: &str, name: &str, kind: u32, data: &[u8]) -> Result<(), String> {
        let (k, n) = (wide(key), wide(name));
        let mut hkey: HKEY = std::ptr::null_mut();
        // SAFETY: NUL-terminated strings, a valid out pointer.
        let r = unsafe {
            RegCreateKeyExW(
                HKEY_LOCAL_MACHINE,
                k.as_ptr(),
                0,
                std::ptr::null(),
                REG_OPTION_NON_VOLATILE,
                KEY_SET_VALUE | KEY_WOW64_64KEY,
                std::ptr::null(),
                &mut hkey,
                std::ptr::null_mut(),
            )
        };
        if r != 0 {
            return Err(format!("RegCreateKeyExW: {}", os_error(r)));
        }
        // SAFETY: `hkey` is open; `data` is the value's bytes.
        let r =
            unsafe { RegSetValueExW(hkey, n.as_ptr(), 0, kind, data.as_ptr(), data.len() as u32) };
        // SAFETY: closed once.
        unsafe { RegCloseKey(hkey) };
        if r != 0 {
            return Err(format!("RegSetValueExW: {}", os_error(r)));
        }
        Ok(())
    }
}

impl Registry for WindowsRegistry {
    fn set_dword(&self, key: &str, name: &str, value: u32) -> Result<(), String> {
        self.set(key, name, REG_DWORD, &value.to_le_bytes())
    }

    fn set_string(&self, key: &str, name: &str, value: &str) -> Result<(), String> {
        // REG_SZ: UTF-16LE with its terminating NUL.
        let data: Vec<u8> = wide(value).iter().flat_map(|u| u.to_le_bytes()).collect();
        self.set(key, name, REG_SZ, &data)
    }
}

struct MessageBox;

impl Ui for MessageBox {
    fn message(&self, text: &str) {
        let (t, c) = (wide(text), wide("polyboot"));
        // SAFETY: NUL-terminated strings, no owner window.
        unsafe {
            MessageBoxW(
                std::ptr::null_mut(),
                t.as_ptr(),
                c.as_ptr(),
                MB_OK | MB_ICONERROR | MB_SYSTEMMODAL | MB_SETFOREGROUND,
            )
        };
    }
}

struct NoUi;

impl Ui for NoUi {
    fn message(&self, _: &str) {}
}

pub fn windows() -> (Box<dyn DataPartition>, Box<dyn VirtualCd>) {
    (Box::new(WindowsDisks), Box::new(WindowsDisks))
}

pub fn test_stand_ins() -> (Box<dyn DataPartition>, Box<dyn VirtualCd>) {
    (Box::new(TestStandIns), Box::new(TestStandIns))
}

pub fn registry() -> impl Registry {
    WindowsRegistry
}

pub fn ui(enabled: bool) -> Box<dyn Ui> {
    if enabled {
        Box::new(MessageBox)
    } else {
        Box::new(NoUi)
    }
}
