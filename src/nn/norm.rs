//! RMSNorm without a learned weight (docs/trm.md §1): x / sqrt(mean(x^2) + eps).

use burn::prelude::*;

pub const RMS_EPS: f64 = 1e-5;

pub fn rms_norm<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let ms = x.clone().square().mean_dim(D - 1);
    x * ms.add_scalar(RMS_EPS).sqrt().recip()
}
