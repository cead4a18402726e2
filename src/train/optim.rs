//! Optimizers: AdamW and AdamATan2 (docs/trm.md §4) with decoupled weight decay, and global
//! gradient-norm clipping (burn's own clipping works per tensor, not on the global norm).

use crate::config::{OptimizerKind, TrainConfig};
use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, SimpleOptimizer};
use burn::prelude::*;
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;

#[derive(Clone, Debug)]
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    /// Only AdamW uses epsilon; AdamATan2 needs none.
    pub eps: f64,
    pub weight_decay: f64,
    pub atan2: bool,
}

#[derive(Record, Clone)]
pub struct AdamState<B: Backend, const D: usize> {
    pub m: Tensor<B, D>,
    pub v: Tensor<B, D>,
    pub time: usize,
}

impl Adam {
    pub fn from_config(cfg: &TrainConfig) -> Self {
        Self {
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: 1e-8,
            weight_decay: cfg.weight_decay,
            atan2: cfg.optimizer == OptimizerKind::AdamAtan2,
        }
    }

    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(self) -> OptimizerAdaptor<Adam, M, B> {
        OptimizerAdaptor::from(self)
    }
}

impl<B: Backend> SimpleOptimizer<B> for Adam {
    type State<const D: usize> = AdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        param: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let (m, v, time) = match state {
            Some(s) => (s.m, s.v, s.time),
            None => (grad.zeros_like(), grad.zeros_like(), 0),
        };
        let time = time + 1;
        let m = m.mul_scalar(self.beta1) + grad.clone().mul_scalar(1.0 - self.beta1);
        let v = v.mul_scalar(self.beta2) + grad.square().mul_scalar(1.0 - self.beta2);
        let m_hat = m.clone().div_scalar(1.0 - self.beta1.powi(time as i32));
        let v_hat = v.clone().div_scalar(1.0 - self.beta2.powi(time as i32));
        let update = if self.atan2 {
            m_hat.atan2(v_hat.sqrt())
        } else {
            m_hat / v_hat.sqrt().add_scalar(self.eps)
        };
        let decayed = param.mul_scalar(1.0 - lr * self.weight_decay);
        (
            decayed - update.mul_scalar(lr),
            Some(AdamState { m, v, time }),
        )
    }

    fn to_device<const D: usize>(s: Self::State<D>, device: &B::Device) -> Self::State<D> {
        AdamState {
            m: s.m.to_device(device),
            v: s.v.to_device(device),
            time: s.time,
        }
    }
}

/// Multiply all gradients by `scale`, then clip their global L2 norm to `max_norm` (0 = no clip).
/// Returns the gradients and their global norm after scaling, before clipping.
pub fn scale_and_clip<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    mut grads: GradientsParams,
    scale: f64,
    max_norm: f64,
) -> (GradientsParams, f64) {
    let mut norm = SquaredNorm::<B::InnerBackend> {
        grads: &grads,
        sum: None,
    };
    model.visit(&mut norm);
    let total = norm
        .sum
        .map(|s| s.into_scalar().elem::<f64>())
        .unwrap_or(0.0)
        .sqrt()
        * scale;
    let clip = if max_norm > 0.0 && total > max_norm {
        max_norm / total
    } else {
        1.0
    };
    let factor = scale * clip;
    if factor != 1.0 {
        let mut scaler = Scale::<B> {
            grads: &mut grads,
            factor,
            _b: Default::default(),
        };
        let _ = model.clone().map(&mut scaler);
    }
    (grads, total)
}

struct SquaredNorm<'a, B: Backend> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<B, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B::InnerBackend> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

struct Scale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Scale<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let id: ParamId = param.id;
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(id) {
            self.grads
                .register::<B::InnerBackend, D>(id, g.mul_scalar(self.factor));
        }
        param
    }
}
