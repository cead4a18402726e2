//! SwiGLU feed-forward: fused gate+up projection, then down(silu(gate) * up).

use super::linear::split_matmul;
use super::{Init, Linear};
use burn::prelude::*;
use burn::tensor::activation::silu;

#[derive(Module, Debug)]
pub struct SwiGlu<B: Backend> {
    gate_up: Linear<B>,
    down: Linear<B>,
    inner: usize,
}

impl<B: Backend> SwiGlu<B> {
    pub fn new(init: &mut Init<B>, d: usize, inner: usize) -> Self {
        Self {
            gate_up: Linear::new(init, d, 2 * inner),
            down: Linear::new(init, inner, d),
            inner,
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mut dims = x.dims();
        let d_in = dims[D - 1];
        let rows = x.shape().num_elements() / d_in.max(1);
        let x: Tensor<B, 2> = x.reshape([rows, d_in]);
        let [gate, up]: [Tensor<B, 2>; 2] = split_matmul(x, self.gate_up.weight.val(), 2)
            .try_into()
            .expect("gate and up");
        let out = self.down.forward(silu(gate) * up);
        dims[D - 1] = out.dims()[1];
        out.reshape(dims)
    }
}
