//! Rotary position embedding, rotate-half convention, theta 10000 by default.
//!
//! Applied to a whole projection [B, L, D] at once (every head's hd-sized block rotated alike), with
//! tables laid out as one row of L x D values: the products then broadcast a single shared row over
//! the batch, which the CPU backend runs as one contiguous SIMD loop (a [1, 1, L, hd] table against
//! a transposed [B, H, L, hd] view falls back to element-by-element strided indexing).

use super::precision::cast_to;
use burn::prelude::*;

/// Precomputed tables for positions 0..max_len (constants, rebuilt from the config, never saved).
#[derive(Module, Debug)]
pub struct Rope<B: Backend> {
    /// cos(pos * freq_i) at [pos, head * hd + i].
    cos: Tensor<B, 2>,
    /// sin(pos * freq_i), negated on the first half of each head: rotate_half(x) * sin is then
    /// swap_halves(x) * sin_signed.
    sin_signed: Tensor<B, 2>,
    head_dim: usize,
}

impl<B: Backend> Rope<B> {
    pub fn new(d: usize, n_heads: usize, max_len: usize, theta: f64, device: &B::Device) -> Self {
        let head_dim = d / n_heads;
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_len * d);
        let mut sin = Vec::with_capacity(max_len * d);
        for pos in 0..max_len {
            for _head in 0..n_heads {
                for i in 0..head_dim {
                    let freq = theta.powf(-((i % half) as f64 * 2.0) / head_dim as f64);
                    let angle = pos as f64 * freq;
                    let sign = if i < half { -1.0 } else { 1.0 };
                    cos.push(angle.cos() as f32);
                    sin.push((sign * angle.sin()) as f32);
                }
            }
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [max_len, d]), device),
            sin_signed: Tensor::from_data(TensorData::new(sin, [max_len, d]), device),
            head_dim,
        }
    }

    pub fn max_len(&self) -> usize {
        self.cos.dims()[0]
    }

    /// x: [B, L, D] holding positions offset..offset+L -> x * cos + rotate_half(x) * sin, per head.
    pub fn apply(&self, x: Tensor<B, 3>, offset: usize) -> Tensor<B, 3> {
        let [b, l, d] = x.dims();
        let (hd, half) = (self.head_dim, self.head_dim / 2);
        let dtype = x.dtype();
        let row =
            |t: &Tensor<B, 2>| cast_to(t.clone().narrow(0, offset, l).reshape([1, l * d]), dtype);
        let flat = x.reshape([b, l * d]);
        let halves = flat.clone().reshape([b * l * (d / hd), 2, half]);
        // the two halves swapped: a copy of contiguous runs (a flipped view would be copied
        // element by element when it is made contiguous)
        let flipped = Tensor::cat(
            vec![halves.clone().narrow(1, 1, 1), halves.narrow(1, 0, 1)],
            1,
        )
        .reshape([b, l * d]);
        (flat * row(&self.cos) + flipped * row(&self.sin_signed)).reshape([b, l, d])
    }
}
