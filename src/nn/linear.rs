//! Linear layer, weight stored [d_in, d_out], initialised truncated-normal with std 1/sqrt(d_in).

use super::init::{trunc_normal, Init};
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
        let bias = self.bias.as_ref().map(|b| b.val());
        if D <= 2 {
            return burn::tensor::module::linear(x, self.weight.val(), bias);
        }
        let mut dims = x.dims();
        let d_in = dims[D - 1];
        let rows = x.shape().num_elements() / d_in.max(1);
        let flat: Tensor<B, 2> = x.reshape([rows, d_in]);
        let out = burn::tensor::module::linear(flat, self.weight.val(), bias);
        dims[D - 1] = out.dims()[1];
        out.reshape(dims)
    }
}
