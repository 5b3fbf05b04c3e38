//! Raw declarations of the wimlib 1.13 functions polyboot uses (from `/usr/include/wimlib.h`,
//! Debian's libwim-dev), written by hand. On Linux `wimlib_tchar` is `char` (UTF-8).
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uint, c_void};

/// Opaque `WIMStruct`.
#[repr(C)]
pub struct WIMStruct {
    _private: [u8; 0],
}

pub const WIMLIB_INIT_FLAG_ASSUME_UTF8: c_int = 0x0000_0001;
pub const WIMLIB_OPEN_FLAG_CHECK_INTEGRITY: c_int = 0x0000_0001;
pub const WIMLIB_EXTRACT_FLAG_NTFS: c_int = 0x0000_0001;
pub const WIMLIB_REF_FLAG_GLOB_ENABLE: c_int = 0x0000_0001;
pub const WIMLIB_REF_FLAG_GLOB_ERR_ON_NOMATCH: c_int = 0x0000_0002;

pub const WIMLIB_ERR_SUCCESS: c_int = 0;
pub const WIMLIB_ERR_ABORTED_BY_PROGRESS: c_int = 76;

/// `enum wimlib_progress_msg` values we look at.
pub const WIMLIB_PROGRESS_MSG_EXTRACT_IMAGE_BEGIN: c_int = 0;
pub const WIMLIB_PROGRESS_MSG_EXTRACT_FILE_STRUCTURE: c_int = 3;
pub const WIMLIB_PROGRESS_MSG_EXTRACT_STREAMS: c_int = 4;
pub const WIMLIB_PROGRESS_MSG_EXTRACT_METADATA: c_int = 6;
pub const WIMLIB_PROGRESS_MSG_EXTRACT_IMAGE_END: c_int = 7;
pub const WIMLIB_PROGRESS_MSG_VERIFY_STREAMS: c_int = 29;

/// `enum wimlib_progress_status`.
pub const WIMLIB_PROGRESS_STATUS_CONTINUE: c_int = 0;
pub const WIMLIB_PROGRESS_STATUS_ABORT: c_int = 1;

/// `enum wimlib_compression_type`.
pub const WIMLIB_COMPRESSION_TYPE_NONE: i32 = 0;
pub const WIMLIB_COMPRESSION_TYPE_XPRESS: i32 = 1;
pub const WIMLIB_COMPRESSION_TYPE_LZX: i32 = 2;
pub const WIMLIB_COMPRESSION_TYPE_LZMS: i32 = 3;

/// `struct wimlib_wim_info`; the C bit-fields (`has_integrity_table : 1`, ...) are one
/// `uint32_t`, first field in the lowest bit (GCC on little-endian targets).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wimlib_wim_info {
    pub guid: [u8; 16],
    pub image_count: u32,
    pub boot_index: u32,
    pub wim_version: u32,
    pub chunk_size: u32,
    pub part_number: u16,
    pub total_parts: u16,
    pub compression_type: i32,
    pub total_bytes: u64,
    pub flags: u32,
    pub reserved: [u32; 9],
}

pub const WIM_INFO_HAS_INTEGRITY_TABLE: u32 = 1 << 0;
pub const WIM_INFO_PIPABLE: u32 = 1 << 9;

/// `struct wimlib_progress_info_extract` (a member of `union wimlib_progress_info`), for
/// the EXTRACT_* messages.
#[repr(C)]
pub struct wimlib_progress_info_extract {
    pub image: u32,
    pub extract_flags: u32,
    pub wimfile_name: *const c_char,
    pub image_name: *const c_char,
    pub target: *const c_char,
    pub reserved: *const c_char,
    pub total_bytes: u64,
    pub completed_bytes: u64,
    pub total_streams: u64,
    pub completed_streams: u64,
    pub part_number: u32,
    pub total_parts: u32,
    pub guid: [u8; 16],
    pub current_file_count: u64,
    pub end_file_count: u64,
}

/// `struct wimlib_progress_info_verify_streams`, for VERIFY_STREAMS.
#[repr(C)]
pub struct wimlib_progress_info_verify_streams {
    pub wimfile: *const c_char,
    pub total_streams: u64,
    pub total_bytes: u64,
    pub completed_streams: u64,
    pub completed_bytes: u64,
}

/// `wimlib_progress_func_t`: the message type, a pointer into `union wimlib_progress_info`
/// (only the member the message names is valid) and the user context.
pub type wimlib_progress_func_t =
    Option<unsafe extern "C" fn(msg_type: c_int, info: *mut c_void, progctx: *mut c_void) -> c_int>;

#[link(name = "wim")]
extern "C" {
    pub fn wimlib_global_init(init_flags: c_int) -> c_int;
    pub fn wimlib_open_wim(
        wim_file: *const c_char,
        open_flags: c_int,
        wim_ret: *mut *mut WIMStruct,
    ) -> c_int;
    pub fn wimlib_free(wim: *mut WIMStruct);
    pub fn wimlib_get_error_string(code: c_int) -> *const c_char;
    pub fn wimlib_get_wim_info(wim: *mut WIMStruct, info: *mut wimlib_wim_info) -> c_int;
    pub fn wimlib_get_image_property(
        wim: *const WIMStruct,
        image: c_int,
        property_name: *const c_char,
    ) -> *const c_char;
    pub fn wimlib_reference_resource_files(
        wim: *mut WIMStruct,
        resource_wimfiles_or_globs: *const *const c_char,
        count: c_uint,
        ref_flags: c_int,
        open_flags: c_int,
    ) -> c_int;
    pub fn wimlib_register_progress_function(
        wim: *mut WIMStruct,
        progfunc: wimlib_progress_func_t,
        progctx: *mut c_void,
    );
    pub fn wimlib_extract_image(
        wim: *mut WIMStruct,
        image: c_int,
        target: *const c_char,
        extract_flags: c_int,
    ) -> c_int;
    pub fn wimlib_verify_wim(wim: *mut WIMStruct, verify_flags: c_int) -> c_int;
}
