//! The allocation bitmap: which clusters of the heap are in use, held in memory by the writer.

use super::boot::FIRST_CLUSTER;
use alloc::vec;
use alloc::vec::Vec;

/// The allocation bitmap held in memory by the writer. Runs are (first cluster, count).
#[derive(Debug, Clone)]
pub(crate) struct AllocBitmap {
    /// Exactly ceil(cluster_count / 8) bytes; bit i is cluster i + 2.
    bytes: Vec<u8>,
    cluster_count: u32,
    used: u32,
}

impl AllocBitmap {
    pub fn new(bytes: Vec<u8>, cluster_count: u32) -> AllocBitmap {
        // Bits past the cluster count in the last byte are not clusters.
        let full_bytes = (cluster_count / 8) as usize;
        let mut used: u32 = bytes[..full_bytes].iter().map(|b| b.count_ones()).sum();
        if cluster_count % 8 != 0 {
            used += (bytes[full_bytes] & ((1u8 << (cluster_count % 8)) - 1)).count_ones();
        }
        AllocBitmap { bytes, cluster_count, used }
    }

    pub fn free_count(&self) -> u32 {
        self.cluster_count - self.used
    }

    pub fn used_count(&self) -> u32 {
        self.used
    }

    fn bit(&self, index: u32) -> bool {
        self.bytes[(index / 8) as usize] >> (index % 8) & 1 != 0
    }

    /// Whether clusters `first..first+count` exist and are all free.
    pub fn range_free(&self, first: u32, count: u32) -> bool {
        let Some(start) = first.checked_sub(FIRST_CLUSTER) else {
            return false;
        };
        let end = u64::from(start) + u64::from(count);
        end <= u64::from(self.cluster_count) && (start..end as u32).all(|i| !self.bit(i))
    }

    pub fn set_range(&mut self, first: u32, count: u32, used: bool) {
        let start = first.saturating_sub(FIRST_CLUSTER);
        let end = (u64::from(start) + u64::from(count)).min(u64::from(self.cluster_count)) as u32;
        for i in start..end {
            if self.bit(i) != used {
                self.bytes[(i / 8) as usize] ^= 1 << (i % 8);
                if used {
                    self.used += 1;
                } else {
                    self.used -= 1;
                }
            }
        }
    }

    /// First free bit index at or after `from`.
    fn next_free(&self, from: u32) -> Option<u32> {
        let mut i = from;
        while i < self.cluster_count {
            if i % 8 == 0 && self.bytes[(i / 8) as usize] == 0xFF {
                i += 8;
                continue;
            }
            if !self.bit(i) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// Length of the free run starting at bit index `from`, capped at `max`.
    fn free_run_len(&self, from: u32, max: u32) -> u32 {
        let mut i = from;
        let mut len = 0;
        while i < self.cluster_count && len < max {
            if i % 8 == 0
                && self.bytes[(i / 8) as usize] == 0
                && i + 8 <= self.cluster_count
                && len + 8 <= max
            {
                i += 8;
                len += 8;
                continue;
            }
            if self.bit(i) {
                break;
            }
            i += 1;
            len += 1;
        }
        len
    }

    /// Choose `count` free clusters: the first single run that fits, otherwise free runs in
    /// address order. None if there are not enough free clusters.
    pub fn plan(&self, count: u32) -> Option<Vec<(u32, u32)>> {
        if count == 0 {
            return Some(Vec::new());
        }
        if count > self.free_count() {
            return None;
        }
        let mut i = 0;
        while let Some(start) = self.next_free(i) {
            let len = self.free_run_len(start, count);
            if len >= count {
                return Some(vec![(start + FIRST_CLUSTER, count)]);
            }
            i = start + len;
        }
        let mut runs = Vec::new();
        let mut remaining = count;
        let mut i = 0;
        while remaining > 0 {
            let start = self.next_free(i)?;
            let len = self.free_run_len(start, remaining);
            runs.push((start + FIRST_CLUSTER, len));
            remaining -= len;
            i = start + len;
        }
        Some(runs)
    }

    /// The bitmap bytes holding clusters `first..first+count`, and the offset of the first.
    pub fn bytes_for(&self, first: u32, count: u32) -> (u64, &[u8]) {
        let start = u64::from(first.saturating_sub(FIRST_CLUSTER));
        let last = (start + u64::from(count.max(1)) - 1).min(u64::from(self.cluster_count) - 1);
        let (a, b) = ((start / 8) as usize, (last / 8) as usize);
        (a as u64, &self.bytes[a..=b])
    }
}
