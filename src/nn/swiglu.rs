//! SwiGLU feed-forward: fused gate+up projection, then down(silu(gate) * up).

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
        let gu = self.gate_up.forward(x);
        let gate = gu.clone().narrow(D - 1, 0, self.inner);
        let up = gu.narrow(D - 1, self.inner, self.inner);
        self.down.forward(silu(gate) * up)
    }
}
