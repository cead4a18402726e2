//! RMSNorm without a learned weight (docs/trm.md §1): x / sqrt(mean(x^2) + eps).

use super::precision::{cast_to, f32};
use burn::prelude::*;

pub const RMS_EPS: f64 = 1e-5;

/// Computed in f32 and returned in the input's dtype, as the official code does in bf16.
pub fn rms_norm<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let dtype = x.dtype();
    let x = f32(x);
    let ms = x.clone().square().mean_dim(D - 1);
    cast_to(x * ms.add_scalar(RMS_EPS).sqrt().recip(), dtype)
}
