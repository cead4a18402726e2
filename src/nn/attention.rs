//! Multi-head self-attention with RoPE; the mask (causal or full) is chosen by the task.

use super::{Init, Linear, Rope};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Which positions may attend to which: supplied by the task, never decided by the core.
#[derive(Clone, Debug)]
pub enum AttnMask<B: Backend> {
    /// Bidirectional (puzzles, masked LM).
    Full,
    /// Additive [1, 1, L, L] bias: 0 on and below the diagonal, -inf above (autoregressive LM).
    Causal(Tensor<B, 4>),
}

impl<B: Backend> AttnMask<B> {
    pub fn causal(len: usize, device: &B::Device) -> Self {
        // burn's tril_mask marks what lies OUTSIDE the lower triangle: exactly the future positions.
        let above = Tensor::<B, 2, Bool>::tril_mask([len, len], 0, device);
        let bias = Tensor::<B, 2>::zeros([len, len], device).mask_fill(above, f32::NEG_INFINITY);
        Self::Causal(bias.reshape([1, 1, len, len]))
    }
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    qkv: Linear<B>,
    out: Linear<B>,
    n_heads: usize,
}

impl<B: Backend> Attention<B> {
    pub fn new(init: &mut Init<B>, d: usize, n_heads: usize) -> Self {
        Self {
            qkv: Linear::new(init, d, 3 * d),
            out: Linear::new(init, d, d),
            n_heads,
        }
    }

    /// h: [B, L, D] -> [B, L, D].
    pub fn forward(&self, h: Tensor<B, 3>, rope: &Rope<B>, mask: &AttnMask<B>) -> Tensor<B, 3> {
        let [b, l, d] = h.dims();
        let hd = d / self.n_heads;
        let heads = |t: Tensor<B, 3>| t.reshape([b, l, self.n_heads, hd]).swap_dims(1, 2);
        let qkv = self.qkv.forward(h);
        let q = rope.apply(heads(qkv.clone().narrow(2, 0, d)), 0);
        let k = rope.apply(heads(qkv.clone().narrow(2, d, d)), 0);
        let v = heads(qkv.narrow(2, 2 * d, d));
        let mut scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar(1.0 / (hd as f64).sqrt());
        if let AttnMask::Causal(bias) = mask {
            scores = scores + bias.clone();
        }
        let ctx = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b, l, d]);
        self.out.forward(ctx)
    }
}
