//! Linear layer, weight stored [d_in, d_out], initialised truncated-normal with std 1/sqrt(d_in).

use super::init::{trunc_normal, Init};
use super::precision::cast_to;
use burn::module::Param;
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// No bias (every linear layer of the network except the halting head).
    pub fn new(init: &mut Init<B>, d_in: usize, d_out: usize) -> Self {
        let std = 1.0 / (d_in as f64).sqrt();
        Self {
            weight: Param::from_tensor(trunc_normal(init, [d_in, d_out], std)),
            bias: None,
        }
    }

    /// Given constant weight and bias (the halting head: weight 0, bias -5).
    pub fn constant(device: &B::Device, d_in: usize, d_out: usize, weight: f32, bias: f32) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::full([d_in, d_out], weight, device)),
            bias: Some(Param::from_tensor(Tensor::full([d_out], bias, device))),
        }
    }

    /// x: [..., d_in] -> [..., d_out]. The leading dimensions are flattened into one, so that the
    /// weight gradient is one [d_in, N] x [N, d_out] product instead of one product per batch row
    /// summed afterwards (burn's default for batched inputs).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dtype = x.dtype();
        let bias = self.bias.as_ref().map(|b| cast_to(b.val(), dtype));
        let weight = cast_to(self.weight.val(), dtype);
        if D <= 2 {
            return burn::tensor::module::linear(x, weight, bias);
        }
        let mut dims = x.dims();
        let d_in = dims[D - 1];
        let rows = x.shape().num_elements() / d_in.max(1);
        let flat: Tensor<B, 2> = x.reshape([rows, d_in]);
        let out = burn::tensor::module::linear(flat, weight, bias);
        dims[D - 1] = out.dims()[1];
        out.reshape(dims)
    }
}

/// Rows below which [`split_matmul`] makes one product and slices it (and attention moves its
/// heads with one transpose): for a sampled token the cost of each call dominates.
pub const SPLIT_FROM_ROWS: usize = 8;

/// x [N, d_in] times each of the `parts` equal column blocks of w [d_in, parts * width]: `parts`
/// products [N, width]. With many rows each block is its own product, so each result is
/// contiguous (element-wise operations and their gradients on strided slices of one product
/// fall off the CPU backend's fast paths); with few rows (a sampled token) one product is sliced,
/// as the cost of a call then outweighs the strided walk.
pub fn split_matmul<B: Backend>(
    x: Tensor<B, 2>,
    w: Tensor<B, 2>,
    parts: usize,
) -> Vec<Tensor<B, 2>> {
    let width = w.dims()[1] / parts;
    let w = cast_to(w, x.dtype());
    if x.dims()[0] < SPLIT_FROM_ROWS {
        let all = x.matmul(w);
        return (0..parts)
            .map(|i| all.clone().narrow(1, i * width, width))
            .collect();
    }
    (0..parts)
        .map(|i| x.clone().matmul(w.clone().narrow(1, i * width, width)))
        .collect()
}
