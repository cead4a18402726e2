//! The post-norm block of TRM-SPEC 1: h = rms(h + mix(h)); h = rms(h + swiglu(h)).

use super::{rms_norm, Attention, AttnMask, Init, MlpT, Rope, SwiGlu};
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
}

impl<B: Backend> Block<B> {
    pub fn new(init: &mut Init<B>, mix: Mix<B>, d: usize, ffn_inner: usize) -> Self {
        Self {
            mix,
            mlp: SwiGlu::new(init, d, ffn_inner),
        }
    }

    pub fn attention(init: &mut Init<B>, d: usize, n_heads: usize, ffn_inner: usize) -> Self {
        let mix = Mix::Attention(Attention::new(init, d, n_heads));
        Self::new(init, mix, d, ffn_inner)
    }

    pub fn forward(&self, h: Tensor<B, 3>, rope: &Rope<B>, mask: &AttnMask<B>) -> Tensor<B, 3> {
        let mixed = match &self.mix {
            Mix::Attention(a) => a.forward(h.clone(), rope, mask),
            Mix::MlpT(m) => m.forward(h.clone()),
        };
        let h = rms_norm(h + mixed);
        rms_norm(h.clone() + self.mlp.forward(h))
    }
}
