//! SHA-1 (FIPS 180-4), streaming: WIM names its blobs (resources, files) by their SHA-1
//! ([`crate::wim`]). Our own for the same reason as [`crate::sha256`]: core builds for every
//! firmware target. Checked against the FIPS 180 / NIST vectors here and against `sha1sum`
//! in the oracle test (tests/tests/bcd_oracle.rs).
//!
//! SHA-1 is broken for collision resistance; it is here to find and check blobs the WIM
//! format names this way, not to authenticate anything.

use crate::block_hash::BlockHash;

const H0: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

/// A SHA-1 computation in progress.
#[derive(Clone)]
pub struct Sha1 {
    inner: BlockHash<5>,
}

impl Default for Sha1 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha1 {
    pub fn new() -> Sha1 {
        Sha1 { inner: BlockHash::new(H0, compress) }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    pub fn finalize(self) -> [u8; 20] {
        self.inner.finalize()
    }

    /// The digest of `data`.
    pub fn digest(data: &[u8]) -> [u8; 20] {
        let mut h = Sha1::new();
        h.update(data);
        h.finalize()
    }
}

/// The SHA-1 digest of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data)
}

fn compress(state: &mut [u32; 5], block: &[u8; 64]) {
    let mut w = [0u32; 80];
    for (wi, c) in w.iter_mut().zip(block.chunks_exact(4)) {
        *wi = u32::from_be_bytes(c.try_into().unwrap_or([0; 4]));
    }
    for i in 16..80 {
        w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for (i, wi) in w.iter().enumerate() {
        let (f, k) = match i / 20 {
            0 => ((b & c) | (!b & d), 0x5A82_7999),
            1 => (b ^ c ^ d, 0x6ED9_EBA1),
            2 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
            _ => (b ^ c ^ d, 0xCA62_C1D6),
        };
        let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = t;
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn hex(d: [u8; 20]) -> alloc::string::String {
        d.iter().map(|b| alloc::format!("{b:02x}")).collect()
    }

    /// FIPS 180-2 appendix A and the NIST "SHA1ShortMsg / example" vectors.
    #[test]
    fn fips_vectors() {
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        // 448 bits.
        assert_eq!(
            hex(sha1(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        // 896 bits.
        assert_eq!(
            hex(sha1(
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
            )),
            "a49b2446a02c645bf419f995b67091253a04a259"
        );
    }

    #[test]
    fn one_million_a() {
        let chunk = [b'a'; 1000];
        let mut h = Sha1::new();
        for _ in 0..1000 {
            h.update(&chunk);
        }
        assert_eq!(hex(h.finalize()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    }

    #[test]
    fn streaming_in_odd_pieces_is_the_one_shot_digest() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = sha1(&data);
        for step in [1, 3, 55, 56, 63, 64, 65, 127, 500] {
            let mut h = Sha1::new();
            for c in data.chunks(step) {
                h.update(c);
            }
            assert_eq!(h.finalize(), whole, "step {step}");
        }
        // Lengths around the padding boundary give distinct digests.
        let d: Vec<[u8; 20]> = (54..=66).map(|n| sha1(&data[..n])).collect();
        for (i, a) in d.iter().enumerate() {
            assert!(d[i + 1..].iter().all(|b| b != a));
        }
    }
}
