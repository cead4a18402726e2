//! What sits between a task's embedding and its heads: the recursive core or the baseline.
//! Every adapter (text, puzzles) holds one `Core` and calls these methods, never the layers.

use crate::config::{ModelConfig, ModelKind};
use crate::nn::{AttnMask, Init};
use crate::transformer::Transformer;
use crate::trm::{Noise, State, Trm};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// One per model, so the variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Core<B: Backend> {
    /// The recursive core: each supervision step is one deep_recursion refining (y, z).
    Trm(Trm<B>),
    /// The baseline: one pass, one "supervision step"; y is its output, z is unused.
    Transformer(Transformer<B>),
}

impl<B: Backend> Core<B> {
    /// The configured core and the supervision steps it is trained with (1 for the baseline).
    pub fn new(init: &mut Init<B>, cfg: &ModelConfig, max_len: usize) -> (Self, usize) {
        match cfg.kind {
            ModelKind::Trm => (Core::Trm(Trm::new(init, cfg, max_len)), cfg.n_sup),
            ModelKind::Transformer => (Core::Transformer(Transformer::new(init, cfg, max_len)), 1),
        }
    }

    /// (y, z) before the first supervision step (`noise`: see [`Noise`]).
    pub fn initial_state(&self, x: &Tensor<B, 3>, noise: Noise) -> State<B> {
        match self {
            Core::Trm(trm) => trm.initial_state(x, noise),
            Core::Transformer(_) => State {
                y: x.clone(),
                z: x.clone(),
            },
        }
    }

    /// One supervision step at inference: deep_recursion for the TRM, the whole stack for the baseline.
    pub fn supervision_step(&self, x: &Tensor<B, 3>, s: State<B>, mask: &AttnMask<B>) -> State<B> {
        match self {
            Core::Trm(trm) => trm.deep_recursion(x, s, mask),
            Core::Transformer(t) => State {
                y: t.forward(x.clone(), mask),
                z: s.z,
            },
        }
    }

    /// Halting logits per position, [B, L]; None for the baseline (it has no halting head).
    pub fn q_logits(&self, y: Tensor<B, 3>) -> Option<Tensor<B, 2>> {
        match self {
            Core::Trm(trm) => Some(trm.q_logits(y)),
            Core::Transformer(_) => None,
        }
    }
}

impl<B: AutodiffBackend> Core<B> {
    /// One supervision step for training: T-1 recursions without gradient, one with (TRM).
    pub fn supervision_step_grad(
        &self,
        x: &Tensor<B, 3>,
        s: State<B>,
        mask: &AttnMask<B>,
    ) -> State<B> {
        match self {
            Core::Trm(trm) => trm.deep_recursion_grad(x, s, mask),
            Core::Transformer(t) => State {
                y: t.forward(x.clone(), mask),
                z: s.z,
            },
        }
    }
}
