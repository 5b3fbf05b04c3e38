//! Milliseconds since start, from the CPU's time-stamp counter calibrated against the
//! firmware's Stall(): UEFI has no monotonic millisecond clock of its own.

use core::sync::atomic::{AtomicU64, Ordering};

static START_TSC: AtomicU64 = AtomicU64::new(0);
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

fn tsc() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Call once, first thing: costs 10 ms.
pub fn init() {
    let a = tsc();
    uefi::boot::stall(core::time::Duration::from_millis(10));
    let b = tsc();
    TICKS_PER_MS.store(((b - a) / 10).max(1), Ordering::Relaxed);
    START_TSC.store(a, Ordering::Relaxed);
}

pub fn now_ms() -> u64 {
    let per_ms = TICKS_PER_MS.load(Ordering::Relaxed);
    if per_ms == 0 {
        return 0;
    }
    (tsc() - START_TSC.load(Ordering::Relaxed)) / per_ms
}
