//! SplitMix64: a tiny deterministic integer generator for test graphs, random weights and
//! forged traces (tests, benchmarks, `cairn serve --lie-at`). Never used by the engine itself.
#![deny(clippy::float_arithmetic)]

use crate::requant::Multiplier;

/// SplitMix64 (Steele, Lea, Flood): one `u64` of state.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 pseudo-random bits.
    #[allow(
        clippy::should_implement_trait,
        reason = "a generator that never ends, not an iterator"
    )]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next().checked_rem(n).unwrap_or(0)
    }

    /// A pseudo-random int8.
    pub fn i8(&mut self) -> i8 {
        self.next() as i8
    }

    /// `n` pseudo-random int8 values.
    pub fn bytes(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.i8()).collect()
    }

    /// A valid requantization multiplier (m in [2^30, 2^31), shift 36..46).
    pub fn multiplier(&mut self) -> Multiplier {
        // below(k) < k, so neither sum can wrap: m < 2^31, shift < 46.
        Multiplier {
            m: (1i32 << 30).wrapping_add(self.below(1 << 30) as i32),
            shift: 36u8.wrapping_add(self.below(10) as u8),
        }
    }
}
