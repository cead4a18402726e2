//! Blocks: the TRM's post-norm block (docs/trm.md §1), h = rms(h + mix(h)); h = rms(h + swiglu(h))
//! (after MLP-T the first norm runs over the sequence axis, as in the official code),
//! the standard pre-norm block of the transformer baseline, h = h + mix(rms(h)); h = h + swiglu(rms(h)),
//! and Huginn's sandwich block, h = h + rms(mix(rms(h))); h = h + rms(swiglu(rms(h))).

use super::{rms_norm, Attention, AttnMask, Init, MlpT, Rope, SwiGlu};
use crate::config::{Mixer, ModelConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub enum Mix<B: Backend> {
    Attention(Attention<B>),
    MlpT(MlpT<B>),
}

#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    mix: Mix<B>,
    mlp: SwiGlu<B>,
    pre_norm: bool,
    sandwich: bool,
}

impl<B: Backend> Block<B> {
    pub fn new(init: &mut Init<B>, mix: Mix<B>, d: usize, ffn_inner: usize) -> Self {
        Self {
            mix,
            mlp: SwiGlu::new(init, d, ffn_inner),
            pre_norm: false,
            sandwich: false,
        }
    }

    /// The same block with pre-norm residuals (the transformer baseline).
    pub fn pre_norm(mut self) -> Self {
        self.pre_norm = true;
        self
    }

    /// The same block with sandwich norms (the recurrent-depth recipe's core).
    pub fn sandwich(mut self) -> Self {
        self.sandwich = true;
        self
    }

    /// A block with the configured token mixer: attention, or MLP-T over `max_len` positions.
    pub fn from_config(init: &mut Init<B>, cfg: &ModelConfig, max_len: usize) -> Self {
        let d = cfg.d_model;
        match cfg.mixer {
            Mixer::Attention => Self::attention(init, d, cfg.n_heads, cfg.ffn_inner()),
            Mixer::MlpT => {
                let mix = Mix::MlpT(MlpT::new(init, max_len, cfg.swiglu_inner(max_len)));
                Self::new(init, mix, d, cfg.ffn_inner())
            }
        }
    }

    pub fn attention(init: &mut Init<B>, d: usize, n_heads: usize, ffn_inner: usize) -> Self {
        let mix = Mix::Attention(Attention::new(init, d, n_heads));
        Self::new(init, mix, d, ffn_inner)
    }

    pub fn forward(&self, h: Tensor<B, 3>, rope: &Rope<B>, mask: &AttnMask<B>) -> Tensor<B, 3> {
        let mix = |h: Tensor<B, 3>| match &self.mix {
            Mix::Attention(a) => a.forward(h, rope, mask),
            Mix::MlpT(m) => m.forward(h),
        };
        if self.sandwich {
            let h = h.clone() + rms_norm(mix(rms_norm(h)));
            h.clone() + rms_norm(self.mlp.forward(rms_norm(h)))
        } else if self.pre_norm {
            let h = h.clone() + mix(rms_norm(h));
            h.clone() + self.mlp.forward(rms_norm(h))
        } else {
            let h = match &self.mix {
                Mix::Attention(a) => rms_norm(h.clone() + a.forward(h, rope, mask)),
                Mix::MlpT(m) => m.forward_post_norm(h),
            };
            rms_norm(h.clone() + self.mlp.forward(h))
        }
    }
}
