//! Deterministic randomness for the sandbox: SplitMix64, plus a bijective mixer for message ids.
//!
//! The sandbox needs reproducible output (the same seed gives the same QR codes, pairing codes
//! and message ids), not unpredictable output, so a tiny generator whose sequence is fixed by
//! its definition is used rather than one whose algorithm may change between library versions.

/// SplitMix64's output function. Every step is invertible (an xor-shift to the right, or a
/// multiplication by an odd constant modulo 2^64), so it is a bijection on `u64`.
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The SplitMix64 generator (Steele, Lea and Flood, 2014).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    pub(crate) const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        mix(self.state)
    }

    /// `N` pseudo-random bytes.
    pub(crate) fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_the_published_splitmix64() {
        // Reference values for seed 1234567 from the algorithm's reference implementation.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(rng.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn bytes_fill_partial_words() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let short: [u8; 5] = a.bytes();
        assert_eq!(short, b.next_u64().to_le_bytes()[..5]);
        let long: [u8; 33] = a.bytes();
        assert_ne!(long, [0u8; 33]);
    }

    #[test]
    fn mix_does_not_collide_on_consecutive_inputs() {
        let outputs: std::collections::HashSet<u64> = (0..100_000u64).map(mix).collect();
        assert_eq!(outputs.len(), 100_000);
    }
}
