//! How many supervision steps a recurrent-depth (`unrolled`) batch runs: drawn per batch so the
//! model learns to improve at every depth, with the trained mean n_sup.

use crate::config::Depth;
use crate::rng::Rng;

/// Supervision steps for one batch, mean n_sup (see [`Depth`]).
pub fn draw_depth(depth: Depth, n_sup: usize, rng: &mut Rng) -> usize {
    match depth {
        Depth::Fixed => n_sup,
        Depth::Uniform => 1 + rng.below((2 * n_sup - 1) as u64) as usize,
        Depth::PoissonLognormal => {
            if n_sup <= 1 {
                return 1;
            }
            // Huginn's sampler: tau ~ N(ln(mean) - sigma^2 / 2, sigma), so E[e^tau] = mean
            let sigma = 0.5;
            let mean = (n_sup - 1) as f64;
            let tau = mean.ln() - sigma * sigma / 2.0 + sigma * rng.normal();
            (1 + poisson(tau.exp(), rng)).min(4 * n_sup)
        }
    }
}

/// Knuth's Poisson sampler (lambda stays small here).
fn poisson(lambda: f64, rng: &mut Rng) -> usize {
    let limit = (-lambda).exp();
    let (mut k, mut p) = (0, 1.0);
    loop {
        p *= rng.uniform();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

/// The rng of the `updates`-th optimizer update: a pure function of the seed and the update
/// count, so peers agree on the depth without talking and a resumed run draws what it would have.
pub fn depth_rng(seed: u64, updates: u64) -> Rng {
    Rng::new(seed ^ updates.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ 0xDE97_4D3E)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_and_range(depth: Depth, n_sup: usize) -> (f64, usize, usize) {
        let draws: Vec<usize> = (0..40_000)
            .map(|u| draw_depth(depth, n_sup, &mut depth_rng(7, u)))
            .collect();
        let mean = draws.iter().sum::<usize>() as f64 / draws.len() as f64;
        (
            mean,
            *draws.iter().min().unwrap(),
            *draws.iter().max().unwrap(),
        )
    }

    #[test]
    fn every_distribution_has_mean_n_sup() {
        assert_eq!(mean_and_range(Depth::Fixed, 3), (3.0, 3, 3));
        let (mean, lo, hi) = mean_and_range(Depth::Uniform, 3);
        assert!((mean - 3.0).abs() < 0.03, "{mean}");
        assert_eq!((lo, hi), (1, 5));
        // 1 + Poisson(lognormal with mean 3): mean 4 (the cut at 16 removes almost nothing),
        // variance above the Poisson's own (the lognormal spreads it): a long tail
        let (mean, lo, hi) = mean_and_range(Depth::PoissonLognormal, 4);
        assert!((mean - 4.0).abs() < 0.05, "{mean}");
        assert_eq!(lo, 1);
        assert!(hi > 10 && hi <= 16, "{hi}");
        assert_eq!(mean_and_range(Depth::PoissonLognormal, 1), (1.0, 1, 1));
    }

    #[test]
    fn the_draw_depends_only_on_seed_and_update() {
        let a: Vec<usize> = (0..50)
            .map(|u| draw_depth(Depth::Uniform, 4, &mut depth_rng(1, u)))
            .collect();
        let b: Vec<usize> = (0..50)
            .map(|u| draw_depth(Depth::Uniform, 4, &mut depth_rng(1, u)))
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|&d| d != a[0]));
    }
}
