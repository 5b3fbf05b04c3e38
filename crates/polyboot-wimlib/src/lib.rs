//! A small, safe binding to wimlib (Debian `libwim-dev`): open a WIM / ESD (and the other
//! parts of a split .swm set), read its images' properties, verify it, and apply one image to
//! an unmounted NTFS volume in wimlib's NTFS-3G mode (security descriptors, reparse points,
//! short names and hard links kept) with progress and cancellation.
//!
//! The raw declarations live in [`sys`]; everything `unsafe` is in this file. A [`Wim`] owns
//! its `WIMStruct` (freed on drop, together with the parts referenced into it). The progress
//! callback never lets a panic unwind into C: it is caught, the operation aborted, and the
//! panic resumed once wimlib has returned.

pub mod sys;

use std::any::Any;
use std::ffi::{c_int, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// What went wrong; callers match on [`Error::Cancelled`] to tell a user's cancel apart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// wimlib failed; `message` is `wimlib_get_error_string(code)`.
    #[error("{op}: {message} (wimlib error {code})")]
    Wimlib { op: String, code: i32, message: String },
    /// The cancel flag was set during the operation; the target is incomplete.
    #[error("{op}: cancelled")]
    Cancelled { op: String },
    #[error("path {0:?} contains a NUL byte")]
    BadPath(PathBuf),
    #[error("image {index} does not exist: the WIM has {count} images")]
    NoSuchImage { index: u32, count: u32 },
}

pub type Result<T> = std::result::Result<T, Error>;

/// wimlib's text for an error code.
pub fn error_string(code: i32) -> String {
    // SAFETY: wimlib returns a pointer to a static NUL-terminated string (or NULL).
    let p = unsafe { sys::wimlib_get_error_string(code) };
    if p.is_null() {
        return format!("unknown wimlib error {code}");
    }
    // SAFETY: non-null, static, NUL-terminated (see above).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn check(op: &dyn Fn() -> String, code: c_int) -> Result<()> {
    if code == sys::WIMLIB_ERR_SUCCESS {
        Ok(())
    } else {
        Err(Error::Wimlib { op: op(), code, message: error_string(code) })
    }
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::BadPath(path.to_path_buf()))
}

/// Once per process: UTF-8 strings whatever the locale (our paths and names are UTF-8).
fn global_init() -> Result<()> {
    static INIT: OnceLock<c_int> = OnceLock::new();
    // SAFETY: called once, before any other wimlib call of ours.
    let code =
        *INIT.get_or_init(|| unsafe { sys::wimlib_global_init(sys::WIMLIB_INIT_FLAG_ASSUME_UTF8) });
    check(&|| "initialising wimlib".into(), code)
}

/// The compression format of a WIM's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xpress,
    Lzx,
    Lzms,
    Other(i32),
}

/// `wimlib_get_wim_info`, in Rust types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WimInfo {
    pub guid: [u8; 16],
    pub image_count: u32,
    /// 0 when no image is bootable.
    pub boot_index: u32,
    pub wim_version: u32,
    pub chunk_size: u32,
    pub part_number: u16,
    pub total_parts: u16,
    pub compression: Compression,
    /// Size of the WIM file (of this part).
    pub total_bytes: u64,
    pub has_integrity_table: bool,
    pub pipable: bool,
}

/// Where an operation is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Creating directories and files (apply), before the data.
    FileStructure,
    /// Writing file data (apply); `done` / `total` are bytes.
    Data,
    /// Setting security descriptors, times and attributes (apply).
    Metadata,
    /// The image is applied.
    Done,
    /// Checking every blob's hash (verify); `done` / `total` are bytes.
    Verify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub phase: Phase,
    pub done: u64,
    pub total: u64,
}

/// An open WIM (with any referenced parts of its split set).
pub struct Wim {
    ptr: NonNull<sys::WIMStruct>,
    path: PathBuf,
}

impl Drop for Wim {
    fn drop(&mut self) {
        // SAFETY: we own the WIMStruct, no callback context outlives the call that set it.
        unsafe { sys::wimlib_free(self.ptr.as_ptr()) }
    }
}

impl std::fmt::Debug for Wim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wim").field("path", &self.path).finish()
    }
}

impl Wim {
    /// Open a WIM, ESD or the first part of a split set (a path: a file, a block device such
    /// as a loop device over a file inside an ISO, or `/dev/fd/N`).
    pub fn open(path: &Path) -> Result<Wim> {
        Self::open_with(path, false)
    }

    /// Like [`Wim::open`]; `check_integrity` verifies the integrity table when there is one.
    pub fn open_with(path: &Path, check_integrity: bool) -> Result<Wim> {
        global_init()?;
        let c = c_path(path)?;
        let flags = if check_integrity { sys::WIMLIB_OPEN_FLAG_CHECK_INTEGRITY } else { 0 };
        let mut raw = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated path, valid out-pointer.
        let code = unsafe { sys::wimlib_open_wim(c.as_ptr(), flags, &mut raw) };
        check(&|| format!("opening {}", path.display()), code)?;
        let ptr = NonNull::new(raw).ok_or_else(|| Error::Wimlib {
            op: format!("opening {}", path.display()),
            code: -1,
            message: "wimlib returned no WIM".into(),
        })?;
        Ok(Wim { ptr, path: path.to_path_buf() })
    }

    /// Open part 1 of a split set and reference the other parts (any order). Also works for
    /// a whole WIM with `parts` empty.
    pub fn open_split(first: &Path, parts: &[PathBuf]) -> Result<Wim> {
        let mut wim = Self::open(first)?;
        if !parts.is_empty() {
            wim.reference_parts(parts)?;
        }
        Ok(wim)
    }

    /// `wimlib_reference_resource_files` on plain paths (no globbing): the parts' resources
    /// become available to this WIM and are freed with it.
    pub fn reference_parts(&mut self, parts: &[PathBuf]) -> Result<()> {
        let owned = parts.iter().map(|p| c_path(p)).collect::<Result<Vec<_>>>()?;
        let ptrs: Vec<*const std::ffi::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        let count = u32::try_from(ptrs.len()).unwrap_or(u32::MAX);
        // SAFETY: `ptrs` points at `count` valid C strings that outlive the call.
        let code = unsafe {
            sys::wimlib_reference_resource_files(self.ptr.as_ptr(), ptrs.as_ptr(), count, 0, 0)
        };
        check(&|| format!("opening the other parts of {}", self.path.display()), code)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn info(&self) -> WimInfo {
        // SAFETY: plain-old-data out-struct, zero is a valid bit pattern.
        let mut raw: sys::wimlib_wim_info = unsafe { std::mem::zeroed() };
        // SAFETY: valid WIMStruct and out-pointer. wimlib only reads the WIMStruct here
        // (the C prototype is not const); `Wim` is neither Send nor Sync.
        let code = unsafe { sys::wimlib_get_wim_info(self.ptr.as_ptr(), &mut raw) };
        debug_assert_eq!(code, 0, "wimlib_get_wim_info cannot fail");
        WimInfo {
            guid: raw.guid,
            image_count: raw.image_count,
            boot_index: raw.boot_index,
            wim_version: raw.wim_version,
            chunk_size: raw.chunk_size,
            part_number: raw.part_number,
            total_parts: raw.total_parts,
            compression: match raw.compression_type {
                sys::WIMLIB_COMPRESSION_TYPE_NONE => Compression::None,
                sys::WIMLIB_COMPRESSION_TYPE_XPRESS => Compression::Xpress,
                sys::WIMLIB_COMPRESSION_TYPE_LZX => Compression::Lzx,
                sys::WIMLIB_COMPRESSION_TYPE_LZMS => Compression::Lzms,
                other => Compression::Other(other),
            },
            total_bytes: raw.total_bytes,
            has_integrity_table: raw.flags & sys::WIM_INFO_HAS_INTEGRITY_TABLE != 0,
            pipable: raw.flags & sys::WIM_INFO_PIPABLE != 0,
        }
    }

    pub fn image_count(&self) -> u32 {
        self.info().image_count
    }

    fn check_index(&self, index: u32) -> Result<c_int> {
        let count = self.image_count();
        match c_int::try_from(index) {
            Ok(i) if index >= 1 && index <= count => Ok(i),
            _ => Err(Error::NoSuchImage { index, count }),
        }
    }

    /// A property of image `index` (1-based) from the WIM's XML: `NAME`, `DESCRIPTION`,
    /// `TOTALBYTES`, `WINDOWS/EDITIONID`, `WINDOWS/VERSION/BUILD`, ...; `None` when absent.
    pub fn image_property(&self, index: u32, name: &str) -> Result<Option<String>> {
        let image = self.check_index(index)?;
        let cname = CString::new(name).map_err(|_| Error::BadPath(PathBuf::from(name)))?;
        // SAFETY: valid WIMStruct, index checked, NUL-terminated name. The returned string
        // may be invalidated by the next wimlib call, so it is copied at once.
        let p = unsafe { sys::wimlib_get_image_property(self.ptr.as_ptr(), image, cname.as_ptr()) };
        if p.is_null() {
            return Ok(None);
        }
        // SAFETY: non-null NUL-terminated string owned by the WIMStruct, copied now.
        Ok(Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()))
    }

    pub fn image_name(&self, index: u32) -> Result<Option<String>> {
        self.image_property(index, "NAME")
    }

    /// The image's `TOTALBYTES`: the bytes of file data once applied.
    pub fn image_total_bytes(&self, index: u32) -> Result<Option<u64>> {
        Ok(self.image_property(index, "TOTALBYTES")?.and_then(|s| s.trim().parse().ok()))
    }

    /// Check every blob's hash and that every blob the images need is present
    /// (`wimlib_verify_wim`).
    pub fn verify(
        &mut self,
        cancel: Option<&AtomicBool>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let op = format!("verifying {}", self.path.display());
        let ptr = self.ptr.as_ptr();
        // SAFETY: valid WIMStruct; verify_flags must be 0.
        self.with_progress(op, cancel, progress, |_| unsafe { sys::wimlib_verify_wim(ptr, 0) })
    }

    /// Apply image `index` (1-based) to the NTFS volume at `target` with NTFS-3G: `target` is
    /// an *unmounted* NTFS filesystem — a block device (partition) or a file holding a bare
    /// NTFS filesystem (e.g. made with `mkntfs -F`). When `cancel` becomes true the apply is
    /// aborted at the next progress message and [`Error::Cancelled`] returned: the volume is
    /// then incomplete and must not be used.
    pub fn apply_ntfs(
        &mut self,
        index: u32,
        target: &Path,
        cancel: Option<&AtomicBool>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let image = self.check_index(index)?;
        let c = c_path(target)?;
        let op =
            format!("applying image {index} of {} to {}", self.path.display(), target.display());
        let ptr = self.ptr.as_ptr();
        // SAFETY: valid WIMStruct, image checked, NUL-terminated target outliving the call.
        self.with_progress(op, cancel, progress, |_| unsafe {
            sys::wimlib_extract_image(ptr, image, c.as_ptr(), sys::WIMLIB_EXTRACT_FLAG_NTFS)
        })
    }

    /// Run `call` with our progress function registered, then unregister it (so wimlib never
    /// holds a pointer to the stack frame once we return).
    fn with_progress(
        &mut self,
        op: String,
        cancel: Option<&AtomicBool>,
        progress: &mut dyn FnMut(Progress),
        call: impl FnOnce(&mut Self) -> c_int,
    ) -> Result<()> {
        let mut ctx = Ctx { progress, cancel, cancelled: false, panic: None };
        let ctx_ptr: *mut Ctx<'_> = &mut ctx;
        // SAFETY: `ctx` lives until after the unregistration below; wimlib calls the progress
        // function only from inside `call`, on this thread.
        unsafe {
            sys::wimlib_register_progress_function(
                self.ptr.as_ptr(),
                Some(trampoline),
                ctx_ptr.cast(),
            )
        };
        let code = call(self);
        // SAFETY: unregister before `ctx` goes out of scope.
        unsafe {
            sys::wimlib_register_progress_function(self.ptr.as_ptr(), None, std::ptr::null_mut())
        };
        if let Some(p) = ctx.panic.take() {
            std::panic::resume_unwind(p);
        }
        if code == sys::WIMLIB_ERR_ABORTED_BY_PROGRESS && ctx.cancelled {
            return Err(Error::Cancelled { op });
        }
        check(&|| op.clone(), code)
    }
}

struct Ctx<'a> {
    progress: &'a mut dyn FnMut(Progress),
    cancel: Option<&'a AtomicBool>,
    cancelled: bool,
    panic: Option<Box<dyn Any + Send>>,
}

/// The `wimlib_progress_func_t` behind every operation: translate the message, call the
/// Rust closure, abort when cancelled. Panics are caught here (unwinding into C is UB).
unsafe extern "C" fn trampoline(msg: c_int, info: *mut c_void, ctx: *mut c_void) -> c_int {
    if ctx.is_null() {
        return sys::WIMLIB_PROGRESS_STATUS_CONTINUE;
    }
    // SAFETY: `ctx` is the `Ctx` registered by `with_progress`, alive during the call.
    let ctx = unsafe { &mut *(ctx as *mut Ctx<'_>) };
    if ctx.panic.is_some() || ctx.cancelled {
        return sys::WIMLIB_PROGRESS_STATUS_ABORT;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: wimlib passes the union member that matches `msg` (wimlib.h documents
        // which message carries which member); other messages are not read.
        let report = unsafe { decode(msg, info) };
        if let Some(p) = report {
            (ctx.progress)(p);
        }
    }));
    if let Err(p) = result {
        ctx.panic = Some(p);
        return sys::WIMLIB_PROGRESS_STATUS_ABORT;
    }
    if ctx.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        ctx.cancelled = true;
        return sys::WIMLIB_PROGRESS_STATUS_ABORT;
    }
    sys::WIMLIB_PROGRESS_STATUS_CONTINUE
}

/// # Safety
/// `info` must point at the union member wimlib documents for `msg` (or be unused).
unsafe fn decode(msg: c_int, info: *mut c_void) -> Option<Progress> {
    if info.is_null() {
        return None;
    }
    let extract = |phase| {
        // SAFETY: the EXTRACT_* messages carry `wimlib_progress_info_extract`.
        let e = unsafe { &*(info as *const sys::wimlib_progress_info_extract) };
        Some(Progress { phase, done: e.completed_bytes, total: e.total_bytes })
    };
    match msg {
        sys::WIMLIB_PROGRESS_MSG_EXTRACT_FILE_STRUCTURE => extract(Phase::FileStructure),
        sys::WIMLIB_PROGRESS_MSG_EXTRACT_STREAMS => extract(Phase::Data),
        sys::WIMLIB_PROGRESS_MSG_EXTRACT_METADATA => extract(Phase::Metadata),
        sys::WIMLIB_PROGRESS_MSG_EXTRACT_IMAGE_END => extract(Phase::Done),
        sys::WIMLIB_PROGRESS_MSG_VERIFY_STREAMS => {
            // SAFETY: VERIFY_STREAMS carries `wimlib_progress_info_verify_streams`.
            let v = unsafe { &*(info as *const sys::wimlib_progress_info_verify_streams) };
            Some(Progress { phase: Phase::Verify, done: v.completed_bytes, total: v.total_bytes })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layout_matches_wimlib_h() {
        // 16 + 4 * 4 + 2 * 2 + 4, then an aligned u64, the bit-fields word and 9 reserved.
        assert_eq!(std::mem::size_of::<sys::wimlib_wim_info>(), 88);
        assert_eq!(std::mem::offset_of!(sys::wimlib_wim_info, total_bytes), 40);
        assert_eq!(std::mem::offset_of!(sys::wimlib_progress_info_extract, total_bytes), 40);
        assert_eq!(std::mem::offset_of!(sys::wimlib_progress_info_extract, part_number), 72);
        assert_eq!(
            std::mem::offset_of!(sys::wimlib_progress_info_verify_streams, completed_bytes),
            32
        );
    }

    #[test]
    fn errors_carry_wimlib_text() {
        assert!(error_string(sys::WIMLIB_ERR_ABORTED_BY_PROGRESS).to_lowercase().contains("abort"));
        let dir = tempfile::tempdir().unwrap();
        let not_wim = dir.path().join("x.wim");
        std::fs::write(&not_wim, vec![0u8; 4096]).unwrap();
        let e = Wim::open(&not_wim).unwrap_err();
        assert!(matches!(e, Error::Wimlib { code: 43, .. }), "{e}");
        assert!(e.to_string().contains("x.wim"), "{e}");
        let e = Wim::open(&dir.path().join("missing.wim")).unwrap_err();
        assert!(matches!(e, Error::Wimlib { .. }), "{e}");
        assert!(matches!(Wim::open(Path::new("a\0b")), Err(Error::BadPath(_))));
    }
}
