//! Calling BIOS services from 32-bit protected mode through the real-mode thunk in stage1.s.

use core::ptr::{addr_of, addr_of_mut, read_volatile};

/// Registers in and out of a BIOS call. Layout shared with `thunk_regs` in stage1.s.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Regs {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
    pub esi: u32,
    pub edi: u32,
    pub ebp: u32,
    pub ds: u16,
    pub es: u16,
    pub eflags: u32,
}

const _: () = assert!(core::mem::size_of::<Regs>() == 36);

impl Regs {
    pub fn carry(&self) -> bool {
        self.eflags & 1 != 0
    }
    pub fn ah(&self) -> u8 {
        (self.eax >> 8) as u8
    }
}

/// The hooks' shared state (`hook_state` in stage1.s, same order).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HookState {
    /// The original INT 13h and INT 15h vectors (segment in the high word).
    pub orig13: u32,
    pub orig15: u32,
    /// E820 hides [res_low, 0xA0000) and [res_high, res_high_end).
    pub res_low: u32,
    pub res_high: u32,
    pub res_high_end: u32,
    /// Drive numbers the hook hands to `int13_emulate` (inclusive); lo > hi: none.
    pub route_lo: u8,
    pub route_hi: u8,
    pub _pad: [u8; 2],
}

/// INT 13h for our own reads of the boot drive: the original handler once ours is hooked.
static mut DISK_VECTOR: u32 = 0;

/// Send our own disk requests to `vector` from now on (the original INT 13h handler).
pub fn set_disk_vector(vector: u32) {
    // SAFETY: single-threaded.
    unsafe { addr_of_mut!(DISK_VECTOR).write(vector) }
}

/// INT 13h for our own reads (see [`set_disk_vector`]).
pub fn disk_int(regs: &mut Regs) {
    // SAFETY: single-threaded.
    match unsafe { addr_of!(DISK_VECTOR).read() } {
        0 => int(0x13, regs),
        v => call(v, regs),
    }
}

extern "C" {
    static mut hook_state: HookState;
    static mut thunk_regs: Regs;
    fn bios_call(vector: u32);
    fn rm_idle();
}

/// Run real-mode routine `vector` (segment in the high word) with `regs`.
fn call(vector: u32, regs: &mut Regs) {
    // SAFETY: the thunk only touches thunk_regs and low memory the BIOS owns; single-threaded.
    unsafe {
        addr_of_mut!(thunk_regs).write_volatile(*regs);
        bios_call(vector);
        *regs = addr_of!(thunk_regs).read_volatile();
    }
}

pub fn hook_state_ptr() -> *mut HookState {
    addr_of_mut!(hook_state)
}

/// Run the real-mode routine at far pointer `vector` (segment in the high word) with `regs`.
pub fn call_vector(vector: u32, regs: &mut Regs) {
    call(vector, regs)
}

/// `INT n` with `regs`.
pub fn int(n: u8, regs: &mut Regs) {
    // SAFETY: the real-mode interrupt vector table is at linear address 0, identity-mapped.
    let vector = unsafe { read_volatile((n as usize * 4) as *const u32) };
    call(vector, regs);
}

/// Wait in real mode for the next interrupt (timer tick, key, ...).
pub fn idle() {
    let mut regs = Regs::default();
    let (seg, off) = far(rm_idle as *const () as usize);
    call(u32::from(seg) << 16 | u32::from(off), &mut regs);
}

/// Segment and offset of a linear address below 1 MiB.
pub fn far(addr: usize) -> (u16, u16) {
    debug_assert!(addr < 0x10_0000);
    ((addr >> 4) as u16, (addr & 0xF) as u16)
}

/// Timer ticks since midnight (18.2 Hz) from the BIOS data area.
pub fn ticks() -> u32 {
    // SAFETY: BIOS data area, identity-mapped.
    unsafe { read_volatile(0x46C as *const u32) }
}

/// E820 memory map entries (base, length, type), at most `N`.
pub fn e820<const N: usize>(out: &mut [(u64, u64, u32); N]) -> usize {
    #[repr(C, align(8))]
    struct Entry([u8; 24]);
    // Below 1 MiB (link.ld): the BIOS writes it in real mode.
    #[link_section = ".lowmem"]
    static mut BUF: Entry = Entry([0; 24]);
    let mut n = 0;
    let mut cont = 0u32;
    while n < N {
        let (seg, off) = far(addr_of!(BUF) as usize);
        let mut r = Regs {
            eax: 0xE820,
            ebx: cont,
            ecx: 24,
            edx: 0x534D_4150,
            edi: off as u32,
            es: seg,
            ..Regs::default()
        };
        int(0x15, &mut r);
        if r.carry() || r.eax != 0x534D_4150 {
            break;
        }
        // SAFETY: the BIOS wrote the entry; single-threaded.
        let e = unsafe { addr_of!(BUF).read_volatile().0 };
        let base = u64::from_le_bytes(e[0..8].try_into().unwrap());
        let len = u64::from_le_bytes(e[8..16].try_into().unwrap());
        let kind = u32::from_le_bytes(e[16..20].try_into().unwrap());
        out[n] = (base, len, kind);
        n += 1;
        cont = r.ebx;
        if cont == 0 {
            break;
        }
    }
    n
}
