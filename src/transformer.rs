//! The baseline the TRM is compared against: a standard pre-norm decoder (RoPE attention, or MLP-T
//! for puzzles; SwiGLU, weightless RMSNorm) built from the same blocks, run once instead of recursed.

use crate::config::ModelConfig;
use crate::nn::{rms_norm, AttnMask, Block, Init, Rope};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    blocks: Vec<Block<B>>,
    rope: Rope<B>,
}

impl<B: Backend> Transformer<B> {
    pub fn new(init: &mut Init<B>, cfg: &ModelConfig, max_len: usize) -> Self {
        let d = cfg.d_model;
        let blocks = (0..cfg.n_layers)
            .map(|_| Block::from_config(init, cfg, max_len).pre_norm())
            .collect();
        let rope = Rope::new(d, cfg.n_heads, max_len, cfg.rope_theta, init.device);
        Self { blocks, rope }
    }

    /// x: [B, L, D] -> final-normalised hidden states [B, L, D].
    pub fn forward(&self, x: Tensor<B, 3>, mask: &AttnMask<B>) -> Tensor<B, 3> {
        rms_norm(
            self.blocks
                .iter()
                .fold(x, |h, block| block.forward(h, &self.rope, mask)),
        )
    }
}
