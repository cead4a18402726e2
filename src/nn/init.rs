//! Deterministic weight initialisation on the host (same numbers on every backend).

use crate::rng::{Rng, TRUNC2_STD};
use burn::prelude::*;

/// The initialisation RNG, threaded through module constructors.
pub struct Init<'a, B: Backend> {
    pub rng: Rng,
    pub device: &'a B::Device,
}

impl<'a, B: Backend> Init<'a, B> {
    pub fn new(seed: u64, device: &'a B::Device) -> Self {
        Self {
            rng: Rng::new(seed),
            device,
        }
    }
}

/// Truncated normal cut at 2 sigma, rescaled so that its standard deviation is `std` (docs/trm.md §1).
pub fn trunc_normal<B: Backend, const D: usize>(
    init: &mut Init<B>,
    shape: [usize; D],
    std: f64,
) -> Tensor<B, D> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| (init.rng.trunc_normal2() / TRUNC2_STD * std) as f32)
        .collect();
    Tensor::from_data(TensorData::new(values, shape), init.device)
}
