//! The streaming part SHA-1, SHA-256 and MD5 share (FIPS 180-4 §5.1.1, §6): 64-byte blocks, the
//! message padded with 0x80, zeros and its bit length big-endian, the state read out as
//! big-endian words (little-endian for MD5). Each algorithm brings its initial state and compression function.

/// A hash of 64-byte blocks over a state of `W` 32-bit words, in progress.
#[derive(Clone)]
pub(crate) struct BlockHash<const W: usize> {
    state: [u32; W],
    compress: fn(&mut [u32; W], &[u8; 64]),
    block: [u8; 64],
    /// Bytes of `block` in use (always < 64 between calls).
    used: usize,
    /// Bytes hashed so far.
    total: u64,
}

impl<const W: usize> BlockHash<W> {
    pub(crate) const fn new(initial: [u32; W], compress: fn(&mut [u32; W], &[u8; 64])) -> Self {
        BlockHash { state: initial, compress, block: [0; 64], used: 0, total: 0 }
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.used > 0 {
            let take = (64 - self.used).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self.block.get_mut(self.used..self.used + take) {
                dst.copy_from_slice(head);
            }
            self.used += take;
            data = rest;
            if self.used < 64 {
                return;
            }
            let block = self.block;
            (self.compress)(&mut self.state, &block);
            self.used = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for b in &mut blocks {
            if let Ok(b) = <&[u8; 64]>::try_from(b) {
                (self.compress)(&mut self.state, b);
            }
        }
        let rest = blocks.remainder();
        if let Some(dst) = self.block.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.used = rest.len();
    }

    /// Pad, and the digest: the state's words big-endian (`B` = 4 × `W`).
    pub(crate) fn finalize<const B: usize>(self) -> [u8; B] {
        self.finish(u64::to_be_bytes, u32::to_be_bytes)
    }

    /// The same with the length and the state little-endian: MD5 (RFC 1321 §3.4, §3.5).
    pub(crate) fn finalize_le<const B: usize>(self) -> [u8; B] {
        self.finish(u64::to_le_bytes, u32::to_le_bytes)
    }

    fn finish<const B: usize>(
        mut self,
        length: fn(u64) -> [u8; 8],
        word: fn(u32) -> [u8; 4],
    ) -> [u8; B] {
        let bits = self.total.wrapping_mul(8);
        self.update(&[0x80]);
        while self.used != 56 {
            self.update(&[0]);
        }
        self.update(&length(bits));
        let mut out = [0u8; B];
        for (o, s) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&word(s));
        }
        out
    }
}
