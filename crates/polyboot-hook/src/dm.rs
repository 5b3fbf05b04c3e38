//! The image as a read-only device-mapper device: a table of `linear` targets built from the
//! hand-off record's extents, plus a `zero` target for an image tail that has no extents
//! (pure, unit-tested), and the three DM ioctls that create it (guest only).

use polyboot_core::handoff::Handoff;
use std::fmt;
use std::io;

/// One target: `length` sectors of the mapped device from `start`, read from the disk from
/// sector `disk_sector` (`linear`), or zeros when `disk_sector` is `None` (`zero`). Sectors
/// are 512 bytes, as device-mapper counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearTarget {
    pub start: u64,
    pub length: u64,
    pub disk_sector: Option<u64>,
}

impl LinearTarget {
    fn kind(&self) -> &'static str {
        if self.disk_sector.is_some() {
            "linear"
        } else {
            "zero"
        }
    }
}

/// A device-mapper table for the image on disk `major:minor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub major: u32,
    pub minor: u32,
    pub targets: Vec<LinearTarget>,
}

impl Table {
    /// Map exactly the image: `ceil(image_size / 512)` sectors (the last extent usually runs
    /// on to the end of its cluster; that tail is left out). Extents adjacent both in the file
    /// and on the disk merge into one target. The record has been validated by
    /// [`Handoff::decode`], so offsets are sector-aligned and in order.
    pub fn for_image(h: &Handoff, major: u32, minor: u32) -> Table {
        Table::for_image_on(h, major, minor, 0)
    }

    /// [`Table::for_image`] on a block device that starts at byte `base` of the disk (the data
    /// partition): mapping the partition rather than the whole disk leaves the drive's other
    /// partitions (the boot partition) mountable in the booted system. The extents lie within
    /// the data partition (`Handoff::validate` checks they start past its offset).
    pub fn for_image_on(h: &Handoff, major: u32, minor: u32, base: u64) -> Table {
        let total = h.image_size.div_ceil(512);
        let mut targets: Vec<LinearTarget> = Vec::new();
        for e in &h.extents {
            let start = e.file_offset / 512;
            if start >= total {
                break;
            }
            let length = e.len.div_ceil(512).min(total - start);
            let disk_sector = e.disk_offset.saturating_sub(base) / 512;
            match targets.last_mut() {
                Some(t)
                    if t.start + t.length == start
                        && t.disk_sector.map(|d| d + t.length) == Some(disk_sector) =>
                {
                    t.length += length
                }
                _ => targets.push(LinearTarget { start, length, disk_sector: Some(disk_sector) }),
            }
        }
        // Bytes past the file's valid data length have no extent: they read as zeros.
        let mapped = targets.last().map_or(0, |t| t.start + t.length);
        if mapped < total {
            targets.push(LinearTarget { start: mapped, length: total - mapped, disk_sector: None });
        }
        Table { major, minor, targets }
    }

    pub fn sectors(&self) -> u64 {
        self.targets.last().map_or(0, |t| t.start + t.length)
    }

    /// The parameter string of one target (`major:minor offset`; empty for `zero`).
    pub fn params(&self, t: &LinearTarget) -> String {
        match t.disk_sector {
            Some(sector) => format!("{}:{} {}", self.major, self.minor, sector),
            None => String::new(),
        }
    }
}

/// The table in `dmsetup` text form, one line per target.
impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.targets {
            let params = self.params(t);
            let sep = if params.is_empty() { "" } else { " " };
            writeln!(f, "{} {} {}{sep}{params}", t.start, t.length, t.kind())?;
        }
        Ok(())
    }
}

// <linux/dm-ioctl.h>
const DM_NAME_LEN: usize = 128;
const DM_UUID_LEN: usize = 129;
/// sizeof(struct dm_ioctl)
const DM_IOCTL_SIZE: usize = 312;
/// sizeof(struct dm_target_spec)
const DM_SPEC_SIZE: usize = 40;
const DM_READONLY_FLAG: u32 = 1 << 0;
const DM_VERSION: [u32; 3] = [4, 0, 0];
const DM_DEV_CREATE_CMD: u64 = 3;
const DM_DEV_REMOVE_CMD: u64 = 4;
const DM_DEV_SUSPEND_CMD: u64 = 6;
const DM_TABLE_LOAD_CMD: u64 = 9;

/// `_IOWR(0xfd, cmd, struct dm_ioctl)`.
const fn dm_ioctl_nr(cmd: u64) -> u64 {
    (3 << 30) | ((DM_IOCTL_SIZE as u64) << 16) | (0xfd << 8) | cmd
}

/// A `struct dm_ioctl` header followed by `payload`, as one 8-byte-aligned buffer.
pub fn ioctl_buffer(
    name: &str,
    uuid: &str,
    flags: u32,
    target_count: u32,
    payload: &[u8],
) -> Vec<u8> {
    let total = DM_IOCTL_SIZE + payload.len();
    let mut b = vec![0u8; total];
    for (i, v) in DM_VERSION.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    b[12..16].copy_from_slice(&(total as u32).to_ne_bytes()); // data_size
    b[16..20].copy_from_slice(&(DM_IOCTL_SIZE as u32).to_ne_bytes()); // data_start
    b[20..24].copy_from_slice(&target_count.to_ne_bytes());
    b[28..32].copy_from_slice(&flags.to_ne_bytes());
    let n = name.len().min(DM_NAME_LEN - 1);
    b[48..48 + n].copy_from_slice(&name.as_bytes()[..n]);
    let u = uuid.len().min(DM_UUID_LEN - 1);
    b[176..176 + u].copy_from_slice(&uuid.as_bytes()[..u]);
    b[DM_IOCTL_SIZE..].copy_from_slice(payload);
    b
}

/// The DM_TABLE_LOAD payload: for each target a `struct dm_target_spec` then its NUL-terminated
/// parameters padded to 8 bytes; `next` is the distance to the following spec.
pub fn table_payload(t: &Table) -> Vec<u8> {
    let params: Vec<String> = t.targets.iter().map(|tg| t.params(tg)).collect();
    let specs: Vec<TargetSpec> = t
        .targets
        .iter()
        .zip(&params)
        .map(|(tg, p)| TargetSpec {
            start: tg.start,
            length: tg.length,
            kind: tg.kind(),
            params: p,
        })
        .collect();
    specs_payload(&specs)
}

/// One target of any type (`linear`, `zero`, `crypt`, ...) with its parameter string, as in a
/// `dmsetup` table line `start length kind params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetSpec<'a> {
    pub start: u64,
    pub length: u64,
    pub kind: &'a str,
    pub params: &'a str,
}

/// [`table_payload`] for any targets. The target type field holds 15 bytes and a NUL.
pub fn specs_payload(specs: &[TargetSpec]) -> Vec<u8> {
    let mut out = Vec::new();
    for tg in specs {
        let len = (DM_SPEC_SIZE + tg.params.len() + 1).next_multiple_of(8);
        let kind = &tg.kind.as_bytes()[..tg.kind.len().min(15)];
        let at = out.len();
        out.resize(at + len, 0);
        let s = &mut out[at..];
        s[0..8].copy_from_slice(&tg.start.to_ne_bytes());
        s[8..16].copy_from_slice(&tg.length.to_ne_bytes());
        s[20..24].copy_from_slice(&(len as u32).to_ne_bytes());
        s[24..24 + kind.len()].copy_from_slice(kind);
        s[DM_SPEC_SIZE..DM_SPEC_SIZE + tg.params.len()].copy_from_slice(tg.params.as_bytes());
    }
    out
}

/// `dev` as returned in `struct dm_ioctl` (the kernel's huge_encode_dev) -> (major, minor).
fn decode_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) as u32;
    let minor = ((dev & 0xff) | ((dev >> 12) & 0xfff00)) as u32;
    (major, minor)
}

fn dm_ioctl(ctl: &std::fs::File, cmd: u64, buf: &mut [u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `buf` starts with a struct dm_ioctl whose data_size is buf.len(); the kernel
    // reads and writes within that size. The buffer is 8-byte aligned by the copy below.
    let mut aligned: Vec<u64> = vec![0; buf.len().div_ceil(8)];
    let bytes =
        unsafe { std::slice::from_raw_parts_mut(aligned.as_mut_ptr() as *mut u8, buf.len()) };
    bytes.copy_from_slice(buf);
    let r = unsafe { libc::ioctl(ctl.as_raw_fd(), cmd as _, aligned.as_mut_ptr()) };
    let result = if r != 0 { Err(io::Error::last_os_error()) } else { Ok(()) };
    if result.is_ok() {
        buf.copy_from_slice(bytes);
    }
    // A crypt table carries its key: leave no copy behind.
    zeroize::Zeroize::zeroize(&mut aligned);
    result
}

/// Create `/dev/mapper/<name>`'s device read-only with `table` and activate it; returns the
/// new device's (major, minor). `control` is normally `/dev/mapper/control`.
pub fn create_linear(
    control: &std::path::Path,
    name: &str,
    uuid: &str,
    table: &Table,
) -> io::Result<(u32, u32)> {
    let payload = table_payload(table);
    create_device(control, name, uuid, true, table.targets.len() as u32, payload)
}

/// Create `/dev/mapper/<name>`'s device with `specs` (read-only or read-write) and activate
/// it; returns its (major, minor). The ioctl buffers are wiped afterwards (a `crypt` target's
/// parameters hold its key); the caller wipes its own copies of `specs`. A device whose table
/// does not load is removed again.
pub fn create_device_with(
    control: &std::path::Path,
    name: &str,
    uuid: &str,
    read_only: bool,
    specs: &[TargetSpec],
) -> io::Result<(u32, u32)> {
    create_device(control, name, uuid, read_only, specs.len() as u32, specs_payload(specs))
}

fn create_device(
    control: &std::path::Path,
    name: &str,
    uuid: &str,
    read_only: bool,
    count: u32,
    mut payload: Vec<u8>,
) -> io::Result<(u32, u32)> {
    let ctl = std::fs::OpenOptions::new().read(true).write(true).open(control)?;
    let ctx =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let flags = if read_only { DM_READONLY_FLAG } else { 0 };
    let mut b = ioctl_buffer(name, uuid, flags, 0, &[]);
    dm_ioctl(&ctl, dm_ioctl_nr(DM_DEV_CREATE_CMD), &mut b).map_err(ctx("DM_DEV_CREATE"))?;
    let dev = u64::from_ne_bytes(b[40..48].try_into().unwrap());
    let mut b = ioctl_buffer(name, "", flags, count, &payload);
    zeroize::Zeroize::zeroize(&mut payload);
    let loaded = dm_ioctl(&ctl, dm_ioctl_nr(DM_TABLE_LOAD_CMD), &mut b);
    zeroize::Zeroize::zeroize(&mut b);
    if let Err(e) = loaded {
        let mut b = ioctl_buffer(name, "", 0, 0, &[]);
        let _ = dm_ioctl(&ctl, dm_ioctl_nr(DM_DEV_REMOVE_CMD), &mut b);
        return Err(ctx("DM_TABLE_LOAD")(e));
    }
    // DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes: the loaded table goes live.
    let mut b = ioctl_buffer(name, "", 0, 0, &[]);
    dm_ioctl(&ctl, dm_ioctl_nr(DM_DEV_SUSPEND_CMD), &mut b)
        .map_err(ctx("DM_DEV_SUSPEND (resume)"))?;
    Ok(decode_dev(dev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyboot_core::guid::Guid;
    use polyboot_core::handoff::{DiskExtent, DriveIdentity, ImageKind};

    fn h(extents: &[(u64, u64, u64)], image_size: u64) -> Handoff {
        Handoff {
            identity: DriveIdentity::Gpt(Guid([1; 16])),
            disk_size: 1 << 30,
            sector_size: 512,
            partition_offset: 1 << 20,
            image_kind: ImageKind::Iso,
            image_size,
            extents: extents
                .iter()
                .map(|&(file_offset, disk_offset, len)| DiskExtent {
                    file_offset,
                    disk_offset,
                    len,
                })
                .collect(),
            persistence: None,
            added_params: String::new(),
            files: Vec::new(),
        }
    }

    #[test]
    fn one_line_per_extent_merging_adjacent_ones_and_trimming_the_tail() {
        let hh = h(
            &[
                (0, 0x20_0000, 0x1_0000),
                (0x1_0000, 0x21_0000, 0x1_0000),
                (0x2_0000, 0x40_0000, 0x1_0000),
            ],
            0x2_0000 + 2048 * 3,
        );
        let t = Table::for_image(&hh, 8, 16);
        assert_eq!(t.to_string(), "0 256 linear 8:16 4096\n256 12 linear 8:16 8192\n");
        assert_eq!(t.sectors(), (0x2_0000 + 6144) / 512);
    }

    #[test]
    fn unaligned_image_size_rounds_up_to_a_sector() {
        let t = Table::for_image(&h(&[(0, 4096, 4096)], 1000), 259, 0);
        assert_eq!(t.to_string(), "0 2 linear 259:0 8\n");
        // extents beyond the image size are not mapped
        let t = Table::for_image(&h(&[(0, 4096, 4096), (4096, 1 << 20, 4096)], 4096), 8, 0);
        assert_eq!(t.targets.len(), 1);
    }

    #[test]
    fn on_the_data_partition_sectors_count_from_its_start() {
        let hh = h(&[(0, 0x20_0000, 0x1_0000)], 0x1_0000);
        let t = Table::for_image_on(&hh, 8, 1, 1 << 20);
        assert_eq!(t.to_string(), "0 128 linear 8:1 2048\n");
    }

    #[test]
    fn a_tail_without_extents_reads_as_zeros() {
        // Valid data length 8 KiB of a 1 MiB + 100 byte image.
        let t = Table::for_image(&h(&[(0, 0x20_0000, 8192)], (1 << 20) + 100), 8, 0);
        assert_eq!(t.to_string(), "0 16 linear 8:0 4096\n16 2033 zero\n");
        assert_eq!(t.sectors(), 2049);
        let p = table_payload(&t);
        // the zero target: a spec with empty parameters (NUL) padded: 40 + 1 -> 48
        assert_eq!(p.len(), 56 + 48);
        assert_eq!(&p[56 + 24..56 + 29], b"zero\0");
        assert_eq!(u32::from_ne_bytes(p[56 + 20..56 + 24].try_into().unwrap()), 48);
    }

    #[test]
    fn ioctl_layout_matches_linux_dm_ioctl_h() {
        assert_eq!(dm_ioctl_nr(DM_DEV_CREATE_CMD), 0xC138_FD03);
        assert_eq!(dm_ioctl_nr(DM_TABLE_LOAD_CMD), 0xC138_FD09);
        assert_eq!(dm_ioctl_nr(DM_DEV_SUSPEND_CMD), 0xC138_FD06);
        assert_eq!(dm_ioctl_nr(DM_DEV_REMOVE_CMD), 0xC138_FD04);
        let t = Table::for_image(
            &h(&[(0, 0x20_0000, 0x1_0000), (0x1_0000, 0x40_0000, 0x1_0000)], 0x2_0000),
            8,
            1,
        );
        let p = table_payload(&t);
        // "8:1 4096" + NUL = 9 bytes -> 40 + 9 = 49 -> 56
        assert_eq!(p.len(), 56 * 2);
        assert_eq!(u32::from_ne_bytes(p[20..24].try_into().unwrap()), 56);
        assert_eq!(&p[24..31], b"linear\0");
        assert_eq!(&p[40..49], b"8:1 4096\0");
        assert_eq!(u64::from_ne_bytes(p[56..64].try_into().unwrap()), 128);
        let b = ioctl_buffer("polyboot", "POLYBOOT-x", 1, 2, &p);
        assert_eq!(b.len(), 312 + 112);
        assert_eq!(u32::from_ne_bytes(b[12..16].try_into().unwrap()), 424);
        assert_eq!(u32::from_ne_bytes(b[16..20].try_into().unwrap()), 312);
        assert_eq!(&b[48..57], b"polyboot\0");
        assert_eq!(&b[176..186], b"POLYBOOT-x");
        assert_eq!(decode_dev((254 << 8) | 3), (254, 3));
        assert_eq!(decode_dev((8 << 8) | 0x10 | (1 << 20)), (8, 0x110));
    }

    #[test]
    fn a_crypt_target_spec_carries_its_parameters() {
        let params = "aes-xts-plain64 00ff 0 254:3 32768 1 sector_size:4096";
        let p = specs_payload(&[TargetSpec { start: 0, length: 2048, kind: "crypt", params }]);
        // 40 + 53 + NUL = 94 -> 96
        assert_eq!(p.len(), 96);
        assert_eq!(u64::from_ne_bytes(p[8..16].try_into().unwrap()), 2048);
        assert_eq!(u32::from_ne_bytes(p[20..24].try_into().unwrap()), 96);
        assert_eq!(&p[24..30], b"crypt\0");
        assert_eq!(&p[40..40 + params.len()], params.as_bytes());
        assert_eq!(p[40 + params.len()], 0);
        // table_payload is specs_payload of the table's lines.
        let t = Table {
            major: 8,
            minor: 1,
            targets: vec![
                LinearTarget { start: 0, length: 8, disk_sector: Some(2048) },
                LinearTarget { start: 8, length: 8, disk_sector: None },
            ],
        };
        let specs = [
            TargetSpec { start: 0, length: 8, kind: "linear", params: "8:1 2048" },
            TargetSpec { start: 8, length: 8, kind: "zero", params: "" },
        ];
        assert_eq!(table_payload(&t), specs_payload(&specs));
    }
}
