//! The heap: a bump allocator over one E820 region above 1 MiB.
//!
//! Stage 1 allocates while it scans and builds the menu, and then mostly keeps what it has,
//! so a bump pointer is enough; freeing (or growing) the most recent allocation is done in
//! place, which covers the common `Vec` push / temporary-buffer patterns. [`Bump`] is pure
//! address arithmetic, unit-tested on the host; the `GlobalAlloc` wrapper is firmware-only.

/// Bump-pointer state over `[next, end)`; `last` is where the most recent allocation starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bump {
    start: usize,
    next: usize,
    end: usize,
    last: usize,
}

impl Bump {
    pub const fn empty() -> Bump {
        Bump { start: 0, next: 0, end: 0, last: usize::MAX }
    }

    pub fn new(start: usize, end: usize) -> Bump {
        Bump { start, next: start, end: end.max(start), last: usize::MAX }
    }

    /// Bytes handed out and not given back.
    pub fn used(&self) -> usize {
        self.next - self.start
    }

    pub fn capacity(&self) -> usize {
        self.end - self.start
    }

    /// Address of `size` bytes aligned to `align` (a power of two), or `None` when full.
    pub fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let at = self.next.checked_add(align - 1)? & !(align - 1);
        let end = at.checked_add(size.max(1))?;
        if end > self.end {
            return None;
        }
        self.next = end;
        self.last = at;
        Some(at)
    }

    /// Give back `[at, at+size)`: only the most recent allocation is reclaimed.
    pub fn dealloc(&mut self, at: usize, size: usize) {
        if at == self.last && at + size.max(1) == self.next {
            self.next = at;
            self.last = usize::MAX;
        }
    }

    /// Grow or shrink the most recent allocation where it is. `false`: the caller must move it.
    pub fn resize_in_place(&mut self, at: usize, old: usize, new: usize) -> bool {
        if at != self.last || at + old.max(1) != self.next {
            return new <= old;
        }
        match at.checked_add(new.max(1)) {
            Some(end) if end <= self.end => {
                self.next = end;
                true
            }
            _ => false,
        }
    }
}

/// Pick the heap from E820 entries `(base, length, type)`: the top `max_bytes` of the largest
/// usable (type 1) range at or above `floor` (at least 1 MiB; stage 1's 32-bit part lies
/// below it), below 4 GiB. The top, because what we boot wants the memory from 1 MiB up, and
/// the heap stays resident (hidden from E820) while it runs.
pub fn choose_region(
    entries: &[(u64, u64, u32)],
    max_bytes: u64,
    floor: u64,
) -> Option<(usize, usize)> {
    const MIB: u64 = 1 << 20;
    const LIMIT: u64 = 0xFFFF_F000; // below 4 GiB, a page short of the top
    let mut best: Option<(u64, u64)> = None;
    for &(base, len, kind) in entries {
        if kind != 1 {
            continue;
        }
        let start = base.max(MIB).max(floor);
        let end = base.saturating_add(len).min(LIMIT);
        if end <= start {
            continue;
        }
        let start = (start + 0xFFF) & !0xFFF;
        if end <= start {
            continue;
        }
        if best.is_none_or(|(s, e)| end - start > e - s) {
            best = Some((start, end));
        }
    }
    best.map(|(s, e)| ((e.saturating_sub(max_bytes).max(s) & !0xFFF) as usize, e as usize))
}

#[cfg(not(test))]
pub use global::{choose_above_stage1, init, region, stats};

#[cfg(not(test))]
mod global {
    use super::Bump;
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;

    struct Heap(UnsafeCell<Bump>);
    // SAFETY: stage 1 is single-threaded and runs with interrupts off.
    unsafe impl Sync for Heap {}

    #[global_allocator]
    static HEAP: Heap = Heap(UnsafeCell::new(Bump::empty()));

    extern "C" {
        /// The end of stage 1's 32-bit part (link.ld), linked from 1 MiB up.
        static __hook_end: u8;
    }

    /// [`super::choose_region`] above stage 1's own memory.
    pub fn choose_above_stage1(
        entries: &[(u64, u64, u32)],
        max_bytes: u64,
    ) -> Option<(usize, usize)> {
        let floor = core::ptr::addr_of!(__hook_end) as u64;
        super::choose_region(entries, max_bytes, floor)
    }

    pub fn init(start: usize, end: usize) {
        // SAFETY: called once before any allocation; single-threaded.
        unsafe { *HEAP.0.get() = Bump::new(start, end) };
    }

    /// The heap's address range.
    pub fn region() -> (usize, usize) {
        // SAFETY: single-threaded.
        let b = unsafe { &*HEAP.0.get() };
        (b.start, b.end)
    }

    pub fn stats() -> (usize, usize) {
        // SAFETY: single-threaded.
        let b = unsafe { &*HEAP.0.get() };
        (b.used(), b.capacity())
    }

    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            match (*self.0.get()).alloc(layout.size(), layout.align()) {
                Some(at) => at as *mut u8,
                None => core::ptr::null_mut(),
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            (*self.0.get()).dealloc(ptr as usize, layout.size())
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if (*self.0.get()).resize_in_place(ptr as usize, layout.size(), new_size) {
                return ptr;
            }
            let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_fills_up() {
        let mut b = Bump::new(0x10_0001, 0x10_0100);
        assert_eq!(b.alloc(10, 16), Some(0x10_0010));
        assert_eq!(b.alloc(1, 1), Some(0x10_001A));
        assert_eq!(b.alloc(0x100, 4), None, "does not fit");
        assert_eq!(b.alloc(0, 8), Some(0x10_0020), "zero-sized allocations still get an address");
        assert_eq!(b.used(), 0x10_0021 - 0x10_0001);
    }

    #[test]
    fn frees_and_grows_only_the_last_allocation() {
        let mut b = Bump::new(0x1000, 0x2000);
        let a = b.alloc(0x100, 8).unwrap();
        let c = b.alloc(0x100, 8).unwrap();
        b.dealloc(a, 0x100); // not the last: leaked
        assert_eq!(b.used(), 0x200);
        assert!(b.resize_in_place(c, 0x100, 0x400));
        assert_eq!(b.used(), 0x500);
        assert!(!b.resize_in_place(a, 0x100, 0x200), "an older block cannot grow");
        assert!(b.resize_in_place(a, 0x100, 0x80), "but it may shrink where it is");
        assert!(!b.resize_in_place(c, 0x400, 0x2000), "no room");
        b.dealloc(c, 0x400);
        assert_eq!(b.used(), 0x100);
        assert_eq!(b.alloc(0x10, 8), Some(c), "the freed space is reused");
    }

    #[test]
    fn overflow_is_refused() {
        let mut b = Bump::new(usize::MAX - 8, usize::MAX);
        assert_eq!(b.alloc(16, 1), None);
        assert_eq!(b.alloc(4, 16), None);
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn stays_above_the_floor() {
        // A small machine: the one region above 1 MiB starts with stage 1's 32-bit part.
        let small = [(0, 0x9_FC00, 1), (0x10_0000, 0xF0_0000, 1)];
        assert_eq!(choose_region(&small, u64::MAX, 0x16_8000), Some((0x16_8000, 0x100_0000)));
        assert_eq!(choose_region(&small, 0x10_0000, 0x16_8000), Some((0xF0_0000, 0x100_0000)));
        // Nothing above the floor: no heap.
        assert_eq!(choose_region(&small, u64::MAX, 0x100_0000), None);
    }

    #[test]
    fn picks_the_largest_usable_region_above_1_mib() {
        let qemu = [
            (0, 0x9_FC00, 1),
            (0x9_FC00, 0x400, 2),
            (0xF_0000, 0x1_0000, 2),
            (0x10_0000, 0x7EE_0000, 1),
            (0x7FE_0000, 0x2_0000, 2),
            (0xFFFC_0000, 0x4_0000, 2),
        ];
        assert_eq!(choose_region(&qemu, u64::MAX, MIB), Some((0x10_0000, 0x7FE_0000)));
        assert_eq!(choose_region(&qemu, 0x100_0000, MIB), Some((0x6FE_0000, 0x7FE_0000)));
        // Low memory only, or reserved only: no heap.
        assert_eq!(
            choose_region(&[(0, 0x9_FC00, 1), (0x10_0000, 0x100_0000, 2)], u64::MAX, MIB),
            None
        );
        // A region straddling 1 MiB starts there; one past 4 GiB is clipped.
        assert_eq!(
            choose_region(&[(0x8_0000, 0x20_0000, 1)], u64::MAX, MIB),
            Some((0x10_0000, 0x28_0000))
        );
        assert_eq!(choose_region(&[(0x1_0000_0000, 1 << 30, 1)], u64::MAX, MIB), None);
        assert_eq!(
            choose_region(&[(0xF000_0000, 1 << 30, 1)], u64::MAX, MIB),
            Some((0xF000_0000, 0xFFFF_F000))
        );
    }
}
