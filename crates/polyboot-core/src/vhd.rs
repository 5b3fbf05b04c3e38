//! Fixed VHD (Microsoft Virtual Hard Disk Image Format Specification 1.0): a raw disk image
//! followed by a 512-byte footer. All footer fields are big-endian.

use crate::bytes::{self, Fields};

/// Length of the footer.
pub const FOOTER_LEN: usize = 512;
pub const COOKIE: &[u8; 8] = b"conectix";
/// Disk type 2: fixed hard disk.
pub const DISK_TYPE_FIXED: u32 = 2;
/// `Wi2k`: the host OS code the spec defines for Windows (the only ones are Windows and Mac).
const HOST_OS_WINDOWS: u32 = 0x5769_326B;
/// Seconds from the Unix epoch to the VHD epoch (2000-01-01 00:00:00 UTC).
pub const VHD_EPOCH_UNIX: u64 = 946_684_800;

/// Cylinders, heads, sectors per track as the spec's algorithm derives them from the size.
pub fn chs_geometry(size_bytes: u64) -> (u16, u8, u8) {
    let mut total = size_bytes / 512;
    if total > 65535 * 16 * 255 {
        total = 65535 * 16 * 255;
    }
    let (spt, heads, cth);
    if total >= 65535 * 16 * 63 {
        spt = 255;
        heads = 16;
        cth = total / spt;
    } else {
        let mut s = 17;
        let mut c = total / s;
        let mut h = c.div_ceil(1024).max(4);
        if c >= h * 1024 || h > 16 {
            s = 31;
            h = 16;
            c = total / s;
        }
        if c >= h * 1024 {
            s = 63;
            h = 16;
            c = total / s;
        }
        spt = s;
        heads = h;
        cth = c;
    }
    ((cth / heads) as u16, heads as u8, spt as u8)
}

/// The disk size to use for a VHD of about `size_bytes`: rounded down to what its CHS
/// geometry addresses, so readers that size a VHD by its geometry (Virtual PC, qemu for an
/// unknown creator) and those that use the footer's current size (Windows, Hyper-V) agree.
/// Disks beyond the largest geometry (about 127 GiB) keep their size: every reader then uses
/// the current size.
pub fn chs_rounded_size(size_bytes: u64) -> u64 {
    let (c, h, s) = chs_geometry(size_bytes);
    if (c, h, s) == (65535, 16, 255) {
        return size_bytes / 512 * 512;
    }
    c as u64 * h as u64 * s as u64 * 512
}

/// One's complement of the byte sum, the checksum field counted as zero.
pub fn checksum(footer: &[u8; FOOTER_LEN]) -> u32 {
    let sum: u32 = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .map(|(_, &b)| b as u32)
        .fold(0u32, u32::wrapping_add);
    !sum
}

/// The footer of a fixed VHD of `size_bytes` (a multiple of 512) of disk data.
/// `unix_time` is the creation time; `unique_id` a random id.
pub fn fixed_footer(size_bytes: u64, unix_time: u64, unique_id: [u8; 16]) -> [u8; FOOTER_LEN] {
    let mut f = [0u8; FOOTER_LEN];
    f[0..8].copy_from_slice(COOKIE);
    f[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit, always set
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes()); // data offset: none for a fixed disk
    let ts = unix_time.saturating_sub(VHD_EPOCH_UNIX).min(u32::MAX as u64) as u32;
    f[24..28].copy_from_slice(&ts.to_be_bytes());
    f[28..32].copy_from_slice(b"pbt ");
    f[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    f[36..40].copy_from_slice(&HOST_OS_WINDOWS.to_be_bytes());
    f[40..48].copy_from_slice(&size_bytes.to_be_bytes());
    f[48..56].copy_from_slice(&size_bytes.to_be_bytes());
    let (c, h, s) = chs_geometry(size_bytes);
    f[56..58].copy_from_slice(&c.to_be_bytes());
    f[58] = h;
    f[59] = s;
    f[60..64].copy_from_slice(&DISK_TYPE_FIXED.to_be_bytes());
    f[68..84].copy_from_slice(&unique_id);
    let sum = checksum(&f);
    f[64..68].copy_from_slice(&sum.to_be_bytes());
    f
}

/// A parsed footer's fields worth checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub current_size: u64,
    pub disk_type: u32,
    pub geometry: (u16, u8, u8),
}

/// Parse a footer (untrusted bytes): cookie and checksum must match.
pub fn parse_footer(b: &[u8]) -> Option<Footer> {
    let f = bytes::chunk::<FOOTER_LEN>(b, 0).ok()?;
    if &f[0..8] != COOKIE {
        return None;
    }
    let stored = f.be32::<64>();
    if stored != checksum(f) {
        return None;
    }
    Some(Footer {
        current_size: f.be64::<48>(),
        disk_type: f.be32::<60>(),
        geometry: (f.be16::<56>(), f[58], f[59]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_follows_the_spec() {
        // 127 MiB (worked by hand from the spec's algorithm) and the 255-sector cap.
        assert_eq!(chs_geometry(127 << 20), (1019, 15, 17));
        assert_eq!(chs_geometry(1 << 40), (65535, 16, 255));
    }

    #[test]
    fn rounded_sizes_match_their_geometry() {
        for size in [512 << 20, 127 << 20, 3 << 30, 100 << 30] {
            let r = chs_rounded_size(size);
            assert!(r <= size && size - r < 2 << 20, "{size} -> {r}");
            assert_eq!(chs_geometry(r), chs_geometry(size));
            let (c, h, s) = chs_geometry(r);
            assert_eq!(c as u64 * h as u64 * s as u64 * 512, r);
        }
        assert_eq!(chs_rounded_size(1 << 40), 1 << 40);
    }

    #[test]
    fn footer_round_trips() {
        let f = fixed_footer(1 << 30, VHD_EPOCH_UNIX + 100, [9; 16]);
        let p = parse_footer(&f).unwrap();
        assert_eq!(p.current_size, 1 << 30);
        assert_eq!(p.disk_type, DISK_TYPE_FIXED);
        assert_eq!(&f[24..28], &100u32.to_be_bytes());
        let mut bad = f;
        bad[100] ^= 1;
        assert!(parse_footer(&bad).is_none());
        assert!(parse_footer(&f[..10]).is_none());
    }
}
