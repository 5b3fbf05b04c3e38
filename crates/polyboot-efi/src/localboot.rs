//! F4 "boot from the local disk": hand the machine to its own operating system.

use alloc::string::String;
use uefi::Handle;

/// Start the machine's own system instead of an image from the polyboot drive (`drive` is the
/// polyboot drive's handle, which is never chosen). Returns only with the reason it cannot.
pub fn boot_local_disk(_drive: Handle) -> String {
    String::from("not implemented yet")
}
