//! polyboot-core: pure logic and on-disk formats shared by the host CLI and the firmware.
//!
//! No I/O of its own: everything that touches a disk goes through [`block::ReadAt`] /
//! [`block::WriteAt`], implemented by the host (files, block devices) and by the firmware
//! (UEFI BlockIo, BIOS INT 13h). Every parser here reads untrusted bytes and must return an
//! error, never panic, on hostile input.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod authenticode;
pub mod autoinstall_vars;
pub mod bcd;
pub mod block;
mod block_hash;
#[cfg(test)]
mod testutil;

/// The polyboot version, shared by every component so a drive can report what wrote it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod boot_plan;
pub mod bootcfg;
pub mod bytes;
pub mod compress;
pub mod config;
pub mod cpio;
pub mod crc32;
pub mod drive_location;
pub mod eltorito;
pub mod embedded_hook;
pub mod esp_wrap;
pub mod exfat;
pub mod fat;
pub mod file_replace;
pub mod fsprobe;
pub mod gpt;
pub mod guid;
pub mod handoff;
pub mod initfamily;
pub mod initrd_wrap;
pub mod installer;
pub mod int13;
pub mod iso9660;
pub mod iso9660_write;
pub mod layout;
/// LUKS2 unlocking (host CLI and polyboot-hook; feature `luks2`, always in unit tests).
#[cfg(any(test, feature = "luks2"))]
pub mod luks2;
pub mod mbr;
pub mod md5;
pub mod menu;
pub mod natsort;
pub mod nbd;
pub mod net;
pub mod ntfs;
pub mod path;
pub mod regf;
pub mod session;
pub mod sha1;
pub mod sha256;
pub mod tar;
pub mod udf;
pub mod vhd;
pub mod vhdx;
pub mod virtual_medium;
pub mod wim;
pub mod windows_iso;
pub mod winpe_jump;
pub mod winpe_medium;
pub mod wtglayout;
