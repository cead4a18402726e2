//! A tiny deterministic random number generator whose whole state is one u64 (easy to checkpoint).

use serde::{Deserialize, Serialize};

/// SplitMix64: fast, statistically solid for our uses (init, sampling), and exactly resumable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    pub state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Fisher-Yates shuffle: for i from the last index down to 1, swap item i with item
    /// `below(i + 1)`. Draws `len - 1` numbers (none for 0 or 1 items).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Normal(0, 1) truncated to [-2, 2] by rejection.
    pub fn trunc_normal2(&mut self) -> f64 {
        loop {
            let v = self.normal();
            if v.abs() <= 2.0 {
                return v;
            }
        }
    }
}

/// Standard deviation of N(0,1) truncated to [-2, 2]; dividing by it makes a truncated draw have
/// unit variance (the official code's "std corrected" truncated normal).
pub const TRUNC2_STD: f64 = 0.879_625_661_034_239_8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_normal_std_matches_constant() {
        let mut rng = Rng::new(1);
        let n = 200_000;
        let var: f64 = (0..n).map(|_| rng.trunc_normal2().powi(2)).sum::<f64>() / n as f64;
        assert!((var.sqrt() - TRUNC2_STD).abs() < 3e-3, "{}", var.sqrt());
    }

    #[test]
    fn below_is_in_range_and_reproducible() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            let x = a.below(10);
            assert!(x < 10);
            assert_eq!(x, b.below(10));
        }
    }

    #[test]
    fn shuffle_matches_the_hand_computed_fisher_yates_permutation() {
        // Seed 7: below(5), below(4), below(3), below(2) draw 4, 3, 1, 0, so the swaps are
        // (4,4), (3,3), (2,1), (1,0): [0,1,2,3,4] -> [0,2,1,3,4] -> [2,0,1,3,4].
        let mut draws = Rng::new(7);
        let js: Vec<u64> = (2..=5).rev().map(|n| draws.below(n)).collect();
        assert_eq!(js, [4, 3, 1, 0]);
        let mut rng = Rng::new(7);
        let mut items = [0, 1, 2, 3, 4];
        rng.shuffle(&mut items);
        assert_eq!(items, [2, 0, 1, 3, 4]);
        assert_eq!(rng, draws, "exactly len - 1 draws");
        // Seed 42, ten items: the permutation the three former hand-written shuffles (sudoku,
        // ARC colours, Hanoi rows) produced.
        let mut rng = Rng::new(42);
        let mut items: Vec<usize> = (0..10).collect();
        rng.shuffle(&mut items);
        assert_eq!(items, [6, 7, 4, 3, 9, 5, 0, 8, 2, 1]);
        // Nothing to shuffle: no draws.
        let mut rng = Rng::new(3);
        rng.shuffle::<u8>(&mut []);
        rng.shuffle(&mut [9]);
        assert_eq!(rng, Rng::new(3));
    }
}
