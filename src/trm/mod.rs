//! THE recursive core (docs/trm.md §2): one tiny network f refining an answer y and a latent z.
//! It knows nothing of text or puzzles: the task supplies x, the attention mask and the heads.
//!
//! ```text
//! latent_recursion(x, y, z):  n times  z = f(z + y + x);   then  y = f(y + z)
//! deep_recursion(x, y, z):    T-1 latent_recursions without gradient, one with gradient
//! ```

use crate::config::{Injection, ModelConfig, NormPlacement, YInit};
use crate::nn::{precision, trunc_normal, AttnMask, Block, Init, Linear, Rope};
use crate::rng::{Rng, TRUNC2_STD};
use burn::module::{AutodiffModule, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// The network f: a stack of blocks; `net(h, injection) = blocks(h + injection)`, or
/// `blocks(adapter([h, injection]))` with concatenated injection.
#[derive(Module, Debug)]
pub struct Net<B: Backend> {
    blocks: Vec<Block<B>>,
    rope: Rope<B>,
    /// [2D -> D] for concatenated injection.
    adapter: Option<Linear<B>>,
}

impl<B: Backend> Net<B> {
    fn new(init: &mut Init<B>, cfg: &ModelConfig, max_len: usize) -> Self {
        let d = cfg.d_model;
        let blocks = (0..cfg.n_layers)
            .map(|_| {
                let block = Block::from_config(init, cfg, max_len);
                match cfg.norm {
                    NormPlacement::Post => block,
                    NormPlacement::Sandwich => block.sandwich(),
                }
            })
            .collect();
        let rope = Rope::new(d, cfg.n_heads, max_len, cfg.rope_theta, init.device);
        let adapter = (cfg.injection == Injection::Concat).then(|| Linear::new(init, 2 * d, d));
        Self {
            blocks,
            rope,
            adapter,
        }
    }

    pub fn forward(
        &self,
        h: Tensor<B, 3>,
        injection: Tensor<B, 3>,
        mask: &AttnMask<B>,
    ) -> Tensor<B, 3> {
        let h = match &self.adapter {
            None => h + injection,
            Some(adapter) => adapter.forward(Tensor::cat(vec![h, injection], 2)),
        };
        self.blocks
            .iter()
            .fold(h, |h, block| block.forward(h, &self.rope, mask))
    }
}

/// The answer y and the latent z, each [B, L, D].
#[derive(Clone, Debug)]
pub struct State<B: Backend> {
    pub y: Tensor<B, 3>,
    pub z: Tensor<B, 3>,
}

impl<B: Backend> State<B> {
    /// Both tensors in `dtype` (the precision a training pass computes in).
    pub fn cast(self, dtype: burn::tensor::DType) -> Self {
        Self {
            y: crate::nn::precision::cast_to(self.y, dtype),
            z: crate::nn::precision::cast_to(self.z, dtype),
        }
    }

    /// Cut the graph between supervision steps (docs/trm.md §2: carry (y, z) detached).
    pub fn detach(self) -> Self {
        Self {
            y: self.y.detach(),
            z: self.z.detach(),
        }
    }
}

#[derive(Module, Debug)]
pub struct Trm<B: Backend> {
    pub net: Net<B>,
    /// Fixed random starting vectors (buffers, not learned: no gradient reaches them).
    y_init: Param<Tensor<B, 1>>,
    z_init: Param<Tensor<B, 1>>,
    /// Halting head: q = q_head(y), weight 0 and bias -5 at init.
    q_head: Linear<B>,
    n: usize,
    t: usize,
    start: YInit,
}

/// Where a fresh-noise start (`YInit::Noise`) draws from. Position p of row r gets values that
/// depend only on (`key`, `row` + r, `offset` + p): a sequence fed whole or in pieces (a KV cache)
/// starts from the same state, and a batch cut into micro-batches or shared among peers from the
/// same state as whole; training draws a new `key` for every batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Noise {
    pub key: u64,
    /// Global row of the first row of x (its place in the whole batch).
    pub row: usize,
    /// Absolute position of the first position of x.
    pub offset: usize,
}

impl Noise {
    /// The start at inference: one fixed draw, positions counted from `offset`.
    pub fn inference(offset: usize) -> Self {
        Self {
            key: 0,
            row: 0,
            offset,
        }
    }

    /// [b, l, d] values, unit variance, on the host.
    pub fn draw(&self, b: usize, l: usize, d: usize) -> Vec<f32> {
        let mut values = Vec::with_capacity(b * l * d);
        for row in (self.row..self.row + b).map(|r| r as u64) {
            for p in (self.offset..self.offset + l).map(|p| p as u64) {
                let mut rng = Rng::new(
                    self.key
                        ^ row.wrapping_mul(0x9FB2_1C65_1E98_DF25)
                        ^ p.wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
                );
                values.extend((0..d).map(|_| (rng.trunc_normal2() / TRUNC2_STD) as f32));
            }
        }
        values
    }
}

impl<B: Backend> Trm<B> {
    pub fn new(init: &mut Init<B>, cfg: &ModelConfig, max_len: usize) -> Self {
        let d = cfg.d_model;
        let net = Net::new(init, cfg, max_len);
        let buffer = |init: &mut Init<B>| {
            Param::from_tensor(trunc_normal(init, [d], 1.0)).set_require_grad(false)
        };
        let y_init = buffer(init);
        let z_init = buffer(init);
        Self {
            net,
            y_init,
            z_init,
            q_head: Linear::constant(init.device, d, 1, 0.0, -5.0),
            n: cfg.n,
            t: cfg.t,
            start: cfg.y_init,
        }
    }

    /// (y, z) before the first supervision step; `noise` is read by the fresh-noise start only.
    pub fn initial_state(&self, x: &Tensor<B, 3>, noise: Noise) -> State<B> {
        let [b, l, d] = x.dims();
        let broadcast = |v: &Param<Tensor<B, 1>>| v.val().reshape([1, 1, d]).expand([b, l, d]);
        match self.start {
            YInit::Fixed => State {
                y: broadcast(&self.y_init),
                z: broadcast(&self.z_init),
            },
            YInit::Embed => State {
                y: x.clone().detach(),
                z: broadcast(&self.z_init),
            },
            YInit::Noise => {
                let device = x.device();
                let fresh = |key: u64| {
                    let values = Noise { key, ..noise }.draw(b, l, d);
                    Tensor::from_data(TensorData::new(values, [b, l, d]), &device)
                };
                // z from another key: the two draws must not be the same vectors
                State {
                    y: fresh(noise.key),
                    z: fresh(noise.key ^ 0x5DEE_CE66_D1CE_4E5B),
                }
            }
        }
    }

    /// n updates of the latent z from (x, y, z), then one update of the answer y from (y, z).
    pub fn latent_recursion(&self, x: &Tensor<B, 3>, s: State<B>, mask: &AttnMask<B>) -> State<B> {
        let State { y, mut z } = s;
        for _ in 0..self.n {
            z = self.net.forward(z, y.clone() + x.clone(), mask);
        }
        let y = self.net.forward(y, z.clone(), mask);
        State { y, z }
    }

    /// deep_recursion for inference: T latent_recursions (no gradient is ever taken here).
    pub fn deep_recursion(
        &self,
        x: &Tensor<B, 3>,
        mut s: State<B>,
        mask: &AttnMask<B>,
    ) -> State<B> {
        for _ in 0..self.t {
            s = self.latent_recursion(x, s, mask);
        }
        s
    }

    /// Halting logits, one per position: [B, L, D] -> [B, L]. A task that halts per sequence
    /// reads position 0 (docs/trm.md §2); the language model halts per token.
    pub fn q_logits(&self, y: Tensor<B, 3>) -> Tensor<B, 2> {
        precision::f32(self.q_head.forward(y).squeeze_dim(2))
    }
}

impl<B: AutodiffBackend> Trm<B> {
    /// deep_recursion for training: T-1 latent_recursions without gradient (run on the inner,
    /// non-autodiff backend, which records no graph), then one latent_recursion with gradient.
    pub fn deep_recursion_grad(
        &self,
        x: &Tensor<B, 3>,
        s: State<B>,
        mask: &AttnMask<B>,
    ) -> State<B> {
        let s = if self.t > 1 {
            let inner = self.valid();
            let x_ng = x.clone().inner();
            let mask_ng = inner_mask(mask);
            let mut s_ng = State {
                y: s.y.inner(),
                z: s.z.inner(),
            };
            for _ in 0..self.t - 1 {
                s_ng = inner.latent_recursion(&x_ng, s_ng, &mask_ng);
            }
            State {
                y: Tensor::from_inner(s_ng.y),
                z: Tensor::from_inner(s_ng.z),
            }
        } else {
            s
        };
        self.latent_recursion(x, s, mask)
    }
}

fn inner_mask<B: AutodiffBackend>(mask: &AttnMask<B>) -> AttnMask<B::InnerBackend> {
    match mask {
        AttnMask::Full => AttnMask::Full,
        AttnMask::Causal(bias) => AttnMask::Causal(bias.clone().inner()),
        AttnMask::Cached(_) => unreachable!("KV caches are for inference, not training"),
    }
}

#[cfg(test)]
mod tests {
    use super::Noise;

    #[test]
    fn noise_has_unit_variance_and_depends_only_on_key_row_and_position() {
        let (b, l, d) = (3, 40, 16);
        let whole = Noise {
            key: 7,
            row: 0,
            offset: 0,
        }
        .draw(b, l, d);
        let n = whole.len() as f64;
        let mean = whole.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = whole
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        assert!(whole.iter().all(|v| v.abs() <= 2.0 / 0.879_625_7 + 1e-4));
        // rows 1..3, positions 5..9 drawn alone are the same values
        let part = Noise {
            key: 7,
            row: 1,
            offset: 5,
        }
        .draw(2, 4, d);
        for r in 0..2 {
            for p in 0..4 {
                let at = ((1 + r) * l + 5 + p) * d;
                assert_eq!(&part[(r * 4 + p) * d..][..d], &whole[at..at + d]);
            }
        }
        let other = Noise {
            key: 8,
            row: 0,
            offset: 0,
        }
        .draw(b, l, d);
        assert_ne!(other, whole);
        // no two positions share a vector
        assert_ne!(&whole[..d], &whole[d..2 * d]);
    }
}
