//! The up-case table: how names are compared case-insensitively and hashed.
//!
//! On disk the table maps every UTF-16 code unit to its upper-case unit, optionally compressed:
//! `0xFFFF, n` stands for `n` identity mappings. In memory we keep only the non-identity
//! mappings (about a thousand pairs for a real table) sorted by code unit.

use alloc::vec::Vec;

/// Largest up-case table we accept on disk: one entry for each of the 65536 code units.
pub(crate) const MAX_TABLE_BYTES: u64 = 0x10000 * 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpcaseTable {
    /// (code unit, upper-case unit), sorted by code unit, identity mappings left out.
    mappings: Vec<(u16, u16)>,
}

impl UpcaseTable {
    pub fn upcase(&self, unit: u16) -> u16 {
        match self.mappings.binary_search_by_key(&unit, |&(from, _)| from) {
            Ok(i) => self.mappings[i].1,
            Err(_) => unit,
        }
    }

    pub fn upcase_name(&self, name: &[u16]) -> Vec<u16> {
        name.iter().map(|&u| self.upcase(u)).collect()
    }

    /// Compare `name` against an already up-cased name.
    pub fn equals_upcased(&self, name: &[u16], upcased: &[u16]) -> bool {
        name.len() == upcased.len() && name.iter().zip(upcased).all(|(&a, &b)| self.upcase(a) == b)
    }

    /// The NameHash of the Stream Extension entry: over the up-cased name, low byte first.
    pub fn name_hash(&self, name: &[u16]) -> u16 {
        name_hash_upcased(name.iter().map(|&u| self.upcase(u)))
    }

    #[cfg(test)]
    pub fn mapping_count(&self) -> usize {
        self.mappings.len()
    }
}

pub(crate) fn name_hash_upcased(upcased: impl Iterator<Item = u16>) -> u16 {
    let mut hash = 0u16;
    for unit in upcased {
        for byte in unit.to_le_bytes() {
            hash = hash.rotate_right(1).wrapping_add(u16::from(byte));
        }
    }
    hash
}

/// The TableChecksum of the Up-case Table entry, over the bytes as stored.
pub(crate) fn table_checksum_add(mut sum: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        sum = sum.rotate_right(1).wrapping_add(u32::from(b));
    }
    sum
}

/// Streaming decoder for the on-disk (possibly compressed) table.
#[derive(Debug, Default)]
pub(crate) struct UpcaseDecoder {
    /// Code unit the next table entry describes.
    index: u32,
    /// The previous value was the 0xFFFF compression marker.
    expect_run_length: bool,
    mappings: Vec<(u16, u16)>,
}

impl UpcaseDecoder {
    pub fn push(&mut self, value: u16) {
        if self.index > 0xFFFF {
            return;
        }
        if self.expect_run_length {
            self.index += u32::from(value);
            self.expect_run_length = false;
        } else if u32::from(value) == self.index {
            self.index += 1;
        } else if value == 0xFFFF {
            self.expect_run_length = true;
        } else {
            // `index` only grows, so `mappings` stays sorted.
            self.mappings.push((self.index as u16, value));
            self.index += 1;
        }
    }

    /// Code units past the end of a short table map to themselves.
    pub fn finish(self) -> UpcaseTable {
        UpcaseTable { mappings: self.mappings }
    }
}

/// Upper case of one BMP code unit per Unicode simple case mapping; identity where the mapping
/// is not a single BMP character (e.g. 'ß' → "SS") and for surrogates.
fn upcase_unit(unit: u32) -> u32 {
    let Some(c) = char::from_u32(unit) else {
        return unit;
    };
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) if (u as u32) <= 0xFFFF => u as u32,
        _ => unit,
    }
}

/// Generate our up-case table in compressed form, ready to be written to disk.
///
/// It covers all 65536 code units (the Linux driver rejects shorter tables) and never stores
/// 0xFFFF as a literal value, because some decoders treat every 0xFFFF as the run marker.
pub(crate) fn generate_table() -> Vec<u8> {
    let mut values: Vec<u16> = Vec::new();
    let mut unit = 0u32;
    while unit <= 0xFFFF {
        let upper = upcase_unit(unit);
        if upper != unit {
            values.push(upper as u16);
            unit += 1;
            continue;
        }
        let mut end = unit + 1;
        while end <= 0xFFFF && upcase_unit(end) == end {
            end += 1;
        }
        // A run of identities costs 2 values compressed; short runs are cheaper as literals.
        if end - unit > 2 || end > 0xFFFF {
            let mut remaining = end - unit;
            while remaining > 0 {
                let chunk = remaining.min(0xFFFF);
                values.push(0xFFFF);
                values.push(chunk as u16);
                remaining -= chunk;
            }
        } else {
            values.extend((unit..end).map(|u| u as u16));
        }
        unit = end;
    }
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
