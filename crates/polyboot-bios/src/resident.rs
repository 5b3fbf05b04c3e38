//! Where the INT 13h / INT 15h hooks live while a booted image runs.
//!
//! Stage 1 is two parts (link.ld): a 16-bit page at 0x80000 (the hooks, the BIOS-call thunk,
//! GDT, real-mode stack, disk packet) and the 32-bit Rust part linked at 1 MiB. Boot loaders
//! use memory at fixed addresses whatever the BIOS says is free — GRUB's real-mode scratch
//! buffer and protected-mode stack at 0x68000..0x80000 (its biosdisk reads land there),
//! memtest86+'s floppy loader at 0x10000..0x94000, Linux real-mode code at 0x90000, kernels and
//! BOOTMGR from 1 MiB up — so a hook resident at its link addresses is overwritten and the
//! machine hangs.
//!
//! So before the image starts, stage 1 moves:
//! - its 16-bit page to the top of conventional memory, with a small bounce buffer for our
//!   own drive reads after it; only that is taken out of the base memory size (0040:0013)
//!   and E820, as memdisk and PXE stacks do (where the EBDA leaves no room above our real-mode
//!   buffers, the page stays where it is, and everything from it up is taken out);
//! - the 32-bit part (code, data, .bss and stack) to a copy in the heap, which the E820 hook
//!   already hides.
//!
//! The hooks then run the Rust code with paging on: the link addresses of the 16-bit page map
//! to the low copy, those of the 32-bit part to the high copy, the first 1 MiB is also mapped
//! at [`ALIAS`] (so the emulation reaches the caller's buffers even where our link addresses
//! shadow them: [`low`]), and everything else is identity-mapped with 4 MiB pages.

use crate::disk;
use core::ptr::{addr_of, addr_of_mut, read_volatile};

const PAGE: usize = 4096;
/// Where the first 1 MiB of physical memory is also mapped while the hooks run paged.
pub const ALIAS: usize = 0xFFC0_0000;
/// The bounce buffer next to the low copy.
const BOUNCE: usize = 8 * 1024;

extern "C" {
    /// The 16-bit page's link address (= `stage1_start`).
    static __stage1_start: u8;
    static __stage1_16bit_end: u8;
    /// The end of the real-mode buffers after the 16-bit page.
    static __lowmem_end: u8;
    /// The 32-bit part: from its link address to the end of what the hooks use.
    static __high_start: u8;
    static __hook_end: u8;
    static mut pm_cr3: u32;
    static mut pm_cr0: u32;
    static mut far_s1_real: u32;
    static mut far_h_real: u32;
    static mut stage1_gdt: [u64; 5];
    static mut low_dap: [u8; 16];
}

/// True only in the high copy (set there by [`relocate`]): the hooks run paged.
static mut PAGED: bool = false;

/// The caller's memory at linear `addr` as the hook code reaches it.
pub fn low(addr: usize) -> usize {
    // SAFETY: single-threaded.
    if addr < 0x10_0000 && unsafe { addr_of!(PAGED).read() } {
        ALIAS + addr
    } else {
        addr
    }
}

/// The 16-bit page's link address: where it runs until the image starts.
pub fn page_link() -> usize {
    addr_of!(__stage1_start) as usize
}

/// Where the low part goes: from `base` (page-aligned) to the old top of base memory.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub base: usize,
}

impl Plan {
    pub fn segment(&self) -> u16 {
        (self.base >> 4) as u16
    }
}

fn first_page_bytes() -> usize {
    addr_of!(__stage1_16bit_end) as usize - page_link()
}

fn high_start() -> usize {
    addr_of!(__high_start) as usize
}

fn high_bytes() -> usize {
    (addr_of!(__hook_end) as usize).next_multiple_of(PAGE) - high_start()
}

/// Where the low part goes: the top of conventional memory (the base memory size, below the
/// EBDA) if it fits above our real-mode buffers (the low part must be identity-mapped where it
/// switches paging on and off, and the buffers serve reads until the image starts); otherwise
/// the 16-bit page stays where it is linked, with the first bytes after it as bounce buffer.
pub fn plan() -> Plan {
    // SAFETY: BIOS data area, identity-mapped.
    let top = usize::from(unsafe { read_volatile(0x413 as *const u16) }) * 1024;
    let size = first_page_bytes() + BOUNCE;
    match top.checked_sub(size).map(|b| b & !(PAGE - 1)) {
        Some(base) if base >= addr_of!(__lowmem_end) as usize => Plan { base },
        _ => Plan { base: page_link() },
    }
}

impl Plan {
    /// The 16-bit page stays at its link address.
    pub fn in_place(&self) -> bool {
        self.base == page_link()
    }
}

/// Copy stage 1 as described above and point the hooks at the copies. Call last, once the
/// emulation state, the hook state and the IVT are set: the high copy is a snapshot of all
/// of it. The running stage 1 is untouched and goes on (to start the image) unpaged.
pub fn relocate(plan: Plan) {
    let link = page_link();
    let image = high_bytes();
    let first = first_page_bytes();
    assert!(first.is_multiple_of(PAGE), "stage1.s aligns its 16-bit page");
    // The high copy and three page-table pages (directory, first 4 MiB, the alias), leaked.
    let layout = core::alloc::Layout::from_size_align(image + 3 * PAGE, PAGE).unwrap();
    // SAFETY: a fresh allocation of that layout.
    let high = unsafe { alloc::alloc::alloc_zeroed(layout) } as usize;
    assert!(high != 0, "no heap for the resident copy of stage 1");
    let in_copy = |addr: usize| high + (addr - high_start());

    let b = disk::Buffers {
        dap: ALIAS + plan.base + (addr_of!(low_dap) as usize - link),
        dap_linear: plan.base + (addr_of!(low_dap) as usize - link),
        bounce: ALIAS + plan.base + first,
        bounce_linear: plan.base + first,
        window: BOUNCE,
    };
    // SAFETY: our image and the fresh copy do not overlap; the low range lies below the EBDA
    // and above our real-mode buffers, or is the page itself (plan()); the page tables are in
    // the copy's allocation.
    unsafe {
        core::ptr::copy_nonoverlapping(high_start() as *const u8, high as *mut u8, image);
        disk::set_in_copy(in_copy, b);
        (in_copy(addr_of!(PAGED) as usize) as *mut bool).write(true);

        // Page tables: directory, the first 4 MiB in 4 KiB pages, the alias of the first MiB.
        let pd = (high + image) as *mut u32;
        let pt0 = (high + image + PAGE) as *mut u32;
        let pta = (high + image + 2 * PAGE) as *mut u32;
        const P_RW: u32 = 0x3;
        for i in 0..1024u32 {
            pd.add(i as usize).write((i << 22) | 0x80 | P_RW);
        }
        pd.write(pt0 as u32 | P_RW);
        pd.add(ALIAS >> 22).write(pta as u32 | P_RW);
        for i in 0..1024usize {
            let virt = i * PAGE;
            let phys = if (link..link + first).contains(&virt) {
                plan.base + (virt - link)
            } else if (high_start()..high_start() + image).contains(&virt) {
                high + (virt - high_start())
            } else {
                virt
            };
            pt0.add(i).write(phys as u32 | P_RW);
            if i < 256 {
                pta.add(i).write(virt as u32 | P_RW);
            }
        }

        // The low copy of the first page, then its patches: real-mode segment, GDT bases,
        // paging on in the hooks.
        // (In place: the same bytes; `copy` allows that.)
        core::ptr::copy(link as *const u8, plan.base as *mut u8, first);
        let at = |p: usize| plan.base + (p - link);
        let seg = u32::from(plan.segment()) << 16;
        for p in [addr_of_mut!(far_s1_real), addr_of_mut!(far_h_real)] {
            let q = at(p as usize) as *mut u32;
            q.write((q.read() & 0xFFFF) | seg);
        }
        let gdt = at(addr_of_mut!(stage1_gdt) as usize) as *mut u64;
        for i in [3, 4] {
            gdt.add(i).write(with_base(gdt.add(i).read(), plan.base as u32));
        }
        (at(addr_of_mut!(pm_cr3) as usize) as *mut u32).write(pd as u32);
        (at(addr_of_mut!(pm_cr0) as usize) as *mut u32).write(0x8000_0001);
    }
}

/// A segment descriptor with its base replaced.
fn with_base(desc: u64, base: u32) -> u64 {
    let mask: u64 = 0xFF00_00FF_FFFF_0000;
    let b = u64::from(base);
    (desc & !mask) | ((b & 0xFFFF) << 16) | (((b >> 16) & 0xFF) << 32) | (((b >> 24) & 0xFF) << 56)
}
