//! Checksum repair for exFAT inputs, written from the exFAT specification.
//!
//! A random mutation of a boot sector or directory entry almost always breaks the checksum
//! that guards it, and the reader then rejects the input before parsing any field. The
//! targets therefore try each input twice: as it is (the checksum-failure paths) and with
//! the checksums recomputed (and file name hashes, which guard names the same way), so
//! mutated fields reach the field parsers.

/// Bytes of the boot sector the boot checksum skips: VolumeFlags and PercentInUse.
const BOOT_CHECKSUM_SKIP: [usize; 3] = [106, 107, 112];

/// Recompute the checksum sector (sector 11) of the main boot region and of a backup
/// region at sector 12, for the sector size each region's boot sector states.
pub fn fix_boot_checksums(vol: &mut [u8]) {
    for shift in 9u8..=12 {
        let bps = 1usize << shift;
        for base in [0, 12 * bps] {
            let end = base + 12 * bps;
            if end > vol.len() || vol[base + 108] != shift {
                continue;
            }
            let mut sum = 0u32;
            for (i, &byte) in vol[base..base + 11 * bps].iter().enumerate() {
                if !BOOT_CHECKSUM_SKIP.contains(&i) {
                    sum = sum.rotate_right(1).wrapping_add(u32::from(byte));
                }
            }
            for word in vol[base + 11 * bps..end].chunks_exact_mut(4) {
                word.copy_from_slice(&sum.to_le_bytes());
            }
        }
    }
}

/// An up-case table, decoded from a volume's own table so name hashes are computed the
/// way the reader will check them.
pub struct Upcase(Vec<u16>);

impl Upcase {
    /// a-z to A-Z only: the fallback when the volume's table can't be found.
    pub fn ascii() -> Upcase {
        Upcase(
            (0..=0xFFFFu32)
                .map(|u| if (0x61..=0x7A).contains(&u) { u - 0x20 } else { u } as u16)
                .collect(),
        )
    }

    /// Decode a stored table: one up-case unit per code unit, where 0xFFFF followed by `n`
    /// stands for `n` units that map to themselves.
    pub fn decode(bytes: &[u8]) -> Upcase {
        let mut map: Vec<u16> = (0..=0xFFFFu32).map(|u| u as u16).collect();
        let mut values = bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let mut unit = 0usize;
        while unit < map.len() {
            match values.next() {
                Some(0xFFFF) => match values.next() {
                    Some(run) => unit += usize::from(run),
                    None => break,
                },
                Some(upper) => {
                    map[unit] = upper;
                    unit += 1;
                }
                None => break,
            }
        }
        Upcase(map)
    }

    /// The table a volume's root directory points at (first cluster, read contiguously), or
    /// [`Upcase::ascii`] when there is none inside `vol`.
    pub fn from_volume(vol: &[u8]) -> Upcase {
        let Some(root) = root_cluster_range(vol) else {
            return Upcase::ascii();
        };
        let (heap, shift) = heap_and_cluster_shift(vol).unwrap();
        for e in vol[root].chunks_exact(32) {
            if e[0] != 0x82 {
                continue;
            }
            let cluster = u32::from_le_bytes(e[20..24].try_into().unwrap());
            let len = u64::from_le_bytes(e[24..32].try_into().unwrap()).min(0x20000);
            let Some(index) = cluster.checked_sub(2) else {
                break;
            };
            let start = heap + (u64::from(index) << shift);
            if start + len <= vol.len() as u64 {
                return Upcase::decode(&vol[start as usize..(start + len) as usize]);
            }
            break;
        }
        Upcase::ascii()
    }

    fn name_hash(&self, name: impl Iterator<Item = u16>) -> u16 {
        let mut hash = 0u16;
        for unit in name {
            for byte in self.0[usize::from(unit)].to_le_bytes() {
                hash = hash.rotate_right(1).wrapping_add(u16::from(byte));
            }
        }
        hash
    }
}

/// In a run of 32-byte directory entries, recompute for every File (0x85) entry set the
/// NameHash of its Stream Extension (over the name its File Name entries hold) and then the
/// SetChecksum of File and Volume GUID (0xA0) sets. A set cut short by the end of `dir` is
/// handled as far as it goes.
pub fn fix_entry_sets(dir: &mut [u8], upcase: &Upcase) {
    let entries = dir.len() / 32;
    let mut i = 0;
    while i < entries {
        let at = i * 32;
        if dir[at] != 0x85 && dir[at] != 0xA0 {
            i += 1;
            continue;
        }
        let end = (i + 1 + usize::from(dir[at + 1])).min(entries);
        if dir[at] == 0x85 && end > i + 1 && dir[at + 32] == 0xC0 {
            let stream = at + 32;
            let name_len = usize::from(dir[stream + 3]);
            let name: Vec<u16> = dir[stream + 32..end * 32]
                .chunks_exact(32)
                .take_while(|e| e[0] == 0xC1)
                .flat_map(|e| e[2..32].chunks_exact(2).map(|u| u16::from_le_bytes([u[0], u[1]])))
                .take(name_len)
                .collect();
            let hash = upcase.name_hash(name.into_iter());
            dir[stream + 4..stream + 6].copy_from_slice(&hash.to_le_bytes());
        }
        let mut sum = 0u16;
        for (j, &byte) in dir[at..end * 32].iter().enumerate() {
            if j != 2 && j != 3 {
                sum = sum.rotate_right(1).wrapping_add(u16::from(byte));
            }
        }
        dir[at + 2..at + 4].copy_from_slice(&sum.to_le_bytes());
        i = end;
    }
}

/// Cluster heap offset in bytes and log2 of the cluster size, as the boot sector states.
fn heap_and_cluster_shift(vol: &[u8]) -> Option<(u64, u32)> {
    if vol.len() < 512 {
        return None;
    }
    let (bps_shift, spc_shift) = (u32::from(vol[108]), u32::from(vol[109]));
    if !(9..=12).contains(&bps_shift) || bps_shift + spc_shift > 25 {
        return None;
    }
    let heap = u64::from(u32::from_le_bytes(vol[88..92].try_into().unwrap())) << bps_shift;
    Some((heap, bps_shift + spc_shift))
}

/// Where the boot sector (as stored, unchecked) puts the first cluster of the root
/// directory, if that lies inside `vol`.
pub fn root_cluster_range(vol: &[u8]) -> Option<core::ops::Range<usize>> {
    let (heap, shift) = heap_and_cluster_shift(vol)?;
    let cluster = u32::from_le_bytes(vol[96..100].try_into().unwrap()).checked_sub(2)?;
    let start = heap + (u64::from(cluster) << shift);
    let end = start + (1u64 << shift);
    (end <= vol.len() as u64).then_some(start as usize..end as usize)
}
