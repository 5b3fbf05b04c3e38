//! The boot drive as a `ReadAt`: INT 13h AH=42h (extended read) into a bounce buffer in low
//! memory (the BIOS can only write below 1 MiB in real mode), with the last 32 KiB window
//! kept as a cache for the many small reads of the exFAT and directory code.

use crate::bios::{self, far, Regs};
use alloc::format;
use core::ptr::{addr_of, addr_of_mut};
use polyboot_core::block::{IoError, ReadAt};

/// Bytes per BIOS read: 64 sectors of 512 or 8 of 4096, under the 127-sector limit.
const WINDOW: usize = 32 * 1024;

#[repr(C, align(4096))]
struct Bounce([u8; WINDOW]);
/// In the real-mode buffers after stage 1's 16-bit page (link.ld), like the packets below:
/// the BIOS writes them in real mode, so they must lie below 1 MiB.
#[link_section = ".lowmem.bounce"]
static mut BOUNCE: Bounce = Bounce([0; WINDOW]);

#[repr(C, align(16))]
struct Packet([u8; 16]);
#[link_section = ".lowmem"]
static mut DAP: Packet = Packet([0; 16]);

/// Where our reads of the drive put their disk packet and data: as this code addresses them,
/// and as real-mode linear addresses for the BIOS. The statics above, until the hooks move
/// to the top of conventional memory (`resident.rs`), which gives a smaller bounce buffer
/// there (`window` bytes).
#[derive(Clone, Copy)]
pub struct Buffers {
    pub dap: usize,
    pub dap_linear: usize,
    pub bounce: usize,
    pub bounce_linear: usize,
    pub window: usize,
}

static mut BUFFERS: Option<Buffers> = None;

fn buffers() -> Buffers {
    // SAFETY: single-threaded.
    unsafe { addr_of!(BUFFERS).read() }.unwrap_or(Buffers {
        dap: addr_of!(DAP) as usize,
        dap_linear: addr_of!(DAP) as usize,
        bounce: addr_of!(BOUNCE) as usize,
        bounce_linear: addr_of!(BOUNCE) as usize,
        window: WINDOW,
    })
}

/// Give the copy of stage 1 that serves the hooks (`resident.rs`; `in_copy` turns an address
/// of ours into the copy's) the buffers `b` and an empty cache; the running copy keeps its own.
pub fn set_in_copy(in_copy: impl Fn(usize) -> usize, b: Buffers) {
    // SAFETY: the copy is a byte-for-byte image of our statics, not in use yet.
    unsafe {
        (in_copy(addr_of!(BUFFERS) as usize) as *mut Option<Buffers>).write(Some(b));
        (in_copy(addr_of!(CACHED) as usize) as *mut Cached).write(Cached {
            drive: 0,
            at: 0,
            len: 0,
        });
    }
}

#[link_section = ".lowmem"]
static mut PARAMS: Packet2 = Packet2([0; 0x42]);
#[repr(C, align(16))]
struct Packet2([u8; 0x42]);

/// What BOUNCE holds: `len` bytes of `drive` from byte `at`. Shared by every `BiosDisk`
/// (there is one buffer), so a handle never trusts bytes another handle's read replaced.
#[derive(Clone, Copy)]
struct Cached {
    drive: u8,
    at: u64,
    len: usize,
}
static mut CACHED: Cached = Cached { drive: 0, at: 0, len: 0 };

fn cached() -> Cached {
    // SAFETY: single-threaded.
    unsafe { addr_of!(CACHED).read() }
}

fn set_cached(c: Cached) {
    // SAFETY: single-threaded.
    unsafe { addr_of_mut!(CACHED).write(c) }
}

pub struct BiosDisk {
    drive: u8,
    sector_size: u32,
    size: u64,
    pub read_calls: u32,
}

impl BiosDisk {
    /// Check the extensions (AH=41h) and read the geometry (AH=48h).
    pub fn open(drive: u8) -> Result<BiosDisk, alloc::string::String> {
        let mut r = Regs { eax: 0x4100, ebx: 0x55AA, edx: u32::from(drive), ..Regs::default() };
        bios::disk_int(&mut r);
        if r.carry() || r.ebx as u16 != 0xAA55 || r.ecx & 1 == 0 {
            return Err(format!("drive {drive:#04x} has no INT 13h extensions"));
        }
        // SAFETY: single-threaded; the BIOS fills the buffer.
        let params = unsafe {
            let p = &mut *addr_of_mut!(PARAMS);
            p.0 = [0; 0x42];
            p.0[0..2].copy_from_slice(&0x1Eu16.to_le_bytes());
            let (seg, off) = far(addr_of!(PARAMS) as usize);
            let mut r = Regs {
                eax: 0x4800,
                edx: u32::from(drive),
                esi: off as u32,
                ds: seg,
                ..Regs::default()
            };
            bios::disk_int(&mut r);
            if r.carry() {
                return Err(format!(
                    "drive {drive:#04x}: INT 13h AH=48h failed (status {:#04x})",
                    r.ah()
                ));
            }
            addr_of!(PARAMS).read_volatile().0
        };
        let sectors = u64::from_le_bytes(params[16..24].try_into().unwrap());
        let sector_size = u32::from(u16::from_le_bytes([params[24], params[25]]));
        if !matches!(sector_size, 512 | 4096) {
            return Err(format!("drive {drive:#04x}: unsupported sector size {sector_size}"));
        }
        Ok(BiosDisk { drive, sector_size, size: sectors * u64::from(sector_size), read_calls: 0 })
    }

    pub fn sector_size(&self) -> u32 {
        self.sector_size
    }

    /// Read `len` bytes (whole sectors, at most WINDOW) at byte `at` (sector-aligned) into BOUNCE.
    fn fill(&mut self, at: u64, len: usize) -> Result<(), IoError> {
        let ss = u64::from(self.sector_size);
        let count = (len as u64).div_ceil(ss) as u16;
        set_cached(Cached { drive: self.drive, at: 0, len: 0 });
        self.read_calls += 1;
        let b = buffers();
        debug_assert!(len <= b.window);
        // SAFETY: single-threaded; the packet and the bounce buffer are in low memory.
        let r = unsafe {
            let (bseg, boff) = far(b.bounce_linear);
            let dap = &mut *(b.dap as *mut [u8; 16]);
            dap[0] = 16;
            dap[1] = 0;
            dap[2..4].copy_from_slice(&count.to_le_bytes());
            dap[4..6].copy_from_slice(&boff.to_le_bytes());
            dap[6..8].copy_from_slice(&bseg.to_le_bytes());
            dap[8..16].copy_from_slice(&(at / ss).to_le_bytes());
            let (seg, off) = far(b.dap_linear);
            let mut r = Regs {
                eax: 0x4200,
                edx: u32::from(self.drive),
                esi: off as u32,
                ds: seg,
                ..Regs::default()
            };
            bios::disk_int(&mut r);
            r
        };
        if r.carry() {
            return Err(IoError::Device(format!(
                "INT 13h AH=42h: {count} sectors at LBA {}: status {:#04x}",
                at / ss,
                r.ah()
            )));
        }
        set_cached(Cached {
            drive: self.drive,
            at,
            len: count as usize * self.sector_size as usize,
        });
        Ok(())
    }
}

impl ReadAt for BiosDisk {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.size) {
            return Err(IoError::OutOfBounds { offset, len: buf.len() as u64, size: self.size });
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let mut c = cached();
            if !(c.drive == self.drive && pos >= c.at && pos < c.at + c.len as u64) {
                let window = buffers().window as u64;
                let start = pos - pos % window;
                let len = window.min(self.size - start) as usize;
                self.fill(start, len)?;
                c = cached();
            }
            let from = (pos - c.at) as usize;
            let n = (buf.len() - done).min(c.len - from);
            // SAFETY: single-threaded; from + n <= c.len <= the window.
            let src =
                unsafe { core::slice::from_raw_parts((buffers().bounce + from) as *const u8, n) };
            buf[done..done + n].copy_from_slice(src);
            done += n;
        }
        Ok(())
    }
}
