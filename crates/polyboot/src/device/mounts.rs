//! What is mounted or swapped on, from `/proc/self/mountinfo` and `/proc/swaps`.

use super::DevNum;

/// One line of `/proc/self/mountinfo`, reduced to what the safety checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MountEntry {
    /// The `major:minor` field: the device the kernel says backs the mount. For btrfs and
    /// some FUSE/overlay mounts this is an anonymous `0:N`, so `source` is checked as well.
    pub devnum: Option<DevNum>,
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
}

/// Parses mountinfo: `id parent maj:min root mount_point options [optional...] - fstype source superoptions`.
/// Malformed lines are skipped rather than failing the whole read.
pub(super) fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let before: Vec<&str> = before.split(' ').collect();
            let mut after = after.split(' ');
            let (devnum, mount_point) = (before.get(2)?, before.get(4)?);
            Some(MountEntry {
                devnum: devnum.parse().ok(),
                mount_point: unescape(mount_point),
                fs_type: after.next()?.to_string(),
                source: unescape(after.next()?),
            })
        })
        .collect()
}

/// Parses `/proc/swaps` (header line, then `Filename Type Size Used Priority`) into the
/// swap device or file paths.
pub(super) fn parse_swaps(text: &str) -> Vec<String> {
    text.lines().skip(1).filter_map(|line| line.split_whitespace().next()).map(unescape).collect()
}

/// Undoes the kernel's octal escaping of space, tab, newline and backslash (`\040` etc.).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_lines_with_and_without_optional_fields() {
        let text = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
91 27 8:17 / /media/user/MY\\040STICK rw,nosuid shared:40 master:2 - vfat /dev/sdb1 rw,fmask=0022
garbage line
";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[1].devnum, Some(DevNum { major: 254, minor: 0 }));
        assert_eq!(mounts[1].mount_point, "/");
        assert_eq!(mounts[2].mount_point, "/media/user/MY STICK");
        assert_eq!(mounts[2].fs_type, "vfat");
        assert_eq!(mounts[2].source, "/dev/sdb1");
    }

    #[test]
    fn parses_swaps_skipping_the_header() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /dev/sdb2                               partition\t8388604\t\t0\t\t-2\n\
                    /swap\\040file                           file\t\t1048572\t\t0\t\t-3\n";
        assert_eq!(parse_swaps(text), ["/dev/sdb2", "/swap file"]);
        assert!(parse_swaps("Filename\tType\tSize\tUsed\tPriority\n").is_empty());
    }

    #[test]
    fn unescapes_only_valid_octal_sequences() {
        assert_eq!(unescape(r"a\040b\011c\134d\012"), "a b\tc\\d\n");
        assert_eq!(unescape(r"trailing\04"), r"trailing\04");
        assert_eq!(unescape(r"not\999octal"), r"not\999octal");
    }
}
