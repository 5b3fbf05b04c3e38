//! A little reader over the fuzz input for targets that decode a structured description from
//! it: zeros once the input runs out, so every input decodes to something.
#![allow(dead_code)]

pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// `n` bytes, little-endian.
    pub fn u64(&mut self, n: usize) -> u64 {
        (0..n).fold(0u64, |v, i| v | u64::from(self.u8()) << (8 * i))
    }

    /// Up to `n` bytes (fewer when the input runs out).
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}
