//! MLP-T token mixer: a SwiGLU across the sequence axis (docs/trm.md §1), for fixed-length puzzles.

use super::{rms_norm, Init, SwiGlu};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct MlpT<B: Backend> {
    mix: SwiGlu<B>,
}

impl<B: Backend> MlpT<B> {
    pub fn new(init: &mut Init<B>, seq_len: usize, inner: usize) -> Self {
        Self {
            mix: SwiGlu::new(init, seq_len, inner),
        }
    }

    /// h: [B, L, D]: transpose to [B, D, L], mix along L, transpose back.
    pub fn forward(&self, h: Tensor<B, 3>) -> Tensor<B, 3> {
        self.mix.forward(h.swap_dims(1, 2)).swap_dims(1, 2)
    }

    /// The TRM's post-norm residual, rms(h + mix(h)), normalised while transposed as the official
    /// block does: over the sequence axis, each feature channel separately.
    pub fn forward_post_norm(&self, h: Tensor<B, 3>) -> Tensor<B, 3> {
        let t = h.swap_dims(1, 2);
        let mixed = self.mix.forward(t.clone());
        rms_norm(t + mixed).swap_dims(1, 2)
    }
}
