//! F4 "boot from the local disk": hand the machine to the next BIOS drive's boot code.

use alloc::string::String;

/// Boot the first hard disk that is not the polyboot drive `drive`. Returns only with the
/// reason it cannot.
pub fn boot_next_drive(_drive: u8) -> String {
    String::from("not implemented yet")
}
