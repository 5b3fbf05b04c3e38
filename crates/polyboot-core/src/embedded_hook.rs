//! polyboot-hook inside the boot manager's file: `crates/polyboot-efi/build.rs` embeds it as
//! `[MAGIC "PBHOOK01"][u32 LE length][the ELF executable]`, so the UEFI boot manager and the
//! BIOS stage 1 (which reads `\EFI\BOOT\BOOTX64.EFI` from the boot partition) use the same
//! bytes, and `update`'s single-file switch replaces the hook together with its reader.

/// The header's first eight bytes.
pub const MAGIC: [u8; 8] = *b"PBHOOK01";
/// Magic + the payload's length.
pub const HEADER_LEN: usize = 12;

/// The first complete, valid embedded hook in `bytes`: after [`MAGIC`], a length that fits
/// in what follows and a payload that starts like an ELF executable. Other occurrences of the
/// magic (the constant itself in the binary's read-only data, a truncated copy) are skipped.
pub fn find_embedded_hook(bytes: &[u8]) -> Option<&[u8]> {
    let mut from = 0usize;
    while let Some(pos) = find(&bytes[from..], &MAGIC) {
        let at = from + pos;
        if let Some(hook) = payload(&bytes[at..]) {
            return Some(hook);
        }
        from = at + 1;
    }
    None
}

/// The payload of a header at the start of `bytes`, when it is complete and valid.
fn payload(bytes: &[u8]) -> Option<&[u8]> {
    let len = crate::bytes::le32(bytes, MAGIC.len()).ok()? as usize;
    let hook = bytes.get(HEADER_LEN..HEADER_LEN.checked_add(len)?)?;
    hook.starts_with(b"\x7fELF").then_some(hook)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    // The magic's first byte is rare in code and data; scan for it, then compare.
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        match haystack[i..haystack.len() - needle.len() + 1].iter().position(|&b| b == needle[0]) {
            Some(p) => {
                if &haystack[i + p..i + p + needle.len()] == needle {
                    return Some(i + p);
                }
                i += p + 1;
            }
            None => return None,
        }
    }
    None
}

/// The embedding (what the EFI build writes); for tests and tools.
pub fn embed(hook: &[u8]) -> alloc::vec::Vec<u8> {
    let mut out = alloc::vec::Vec::with_capacity(HEADER_LEN + hook.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(hook.len() as u32).to_le_bytes());
    out.extend_from_slice(hook);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn elf(n: usize) -> Vec<u8> {
        let mut v = b"\x7fELF".to_vec();
        v.extend((0..n).map(|i| i as u8));
        v
    }

    fn surrounded(middle: &[u8]) -> Vec<u8> {
        let mut v = b"MZ some code PBHOOK0 and data".to_vec();
        v.extend_from_slice(middle);
        v.extend_from_slice(b"trailing .reloc bytes");
        v
    }

    #[test]
    fn found_in_the_middle_of_a_binary() {
        let hook = elf(1000);
        let file = surrounded(&embed(&hook));
        assert_eq!(find_embedded_hook(&file), Some(&hook[..]));
    }

    #[test]
    fn absent() {
        assert_eq!(find_embedded_hook(b""), None);
        assert_eq!(find_embedded_hook(b"MZ no hook here"), None);
        assert_eq!(find_embedded_hook(&MAGIC), None, "the magic alone");
        // The magic constant in read-only data, followed by something that is not a hook.
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&4u32.to_le_bytes());
        file.extend_from_slice(b"text");
        assert_eq!(find_embedded_hook(&surrounded(&file)), None);
    }

    #[test]
    fn truncated_length_is_refused() {
        let hook = elf(100);
        let mut e = embed(&hook);
        e.truncate(e.len() - 1);
        assert_eq!(find_embedded_hook(&e), None);
        // A length past the end of the file, and one that overflows.
        let mut e = embed(&hook);
        e[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(find_embedded_hook(&e), None);
        // A header cut in its length field.
        assert_eq!(find_embedded_hook(&embed(&hook)[..10]), None);
    }

    #[test]
    fn header_twice_gives_the_first_valid_one() {
        let first = elf(10);
        let second = elf(20);
        let mut file = embed(&first);
        file.extend_from_slice(&embed(&second));
        assert_eq!(find_embedded_hook(&file), Some(&first[..]));
        // A bogus header (the constant itself) before the real one is skipped.
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&[0xFF, 0, 0, 0]);
        file.extend_from_slice(&embed(&second));
        assert_eq!(find_embedded_hook(&file), Some(&second[..]));
        // Overlapping: a truncated header whose length field starts another magic.
        let mut file = b"PBHOOK0".to_vec();
        file.extend_from_slice(&embed(&first));
        assert_eq!(find_embedded_hook(&file), Some(&first[..]));
    }

    #[test]
    fn empty_payload_is_not_a_hook() {
        assert_eq!(find_embedded_hook(&embed(b"")), None);
    }
}
