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
/// Returns the gradients and their global norm after scaling, before clipping, as a one-element
/// tensor: the clip factor is computed on the device, so no value is read back here (on a GPU a
/// read would wait for the whole step).
pub fn scale_and_clip<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: GradientsParams,
    scale: f64,
    max_norm: f64,
) -> (GradientsParams, Tensor<B::InnerBackend, 1>) {
    let squares = flat_grads(model, &grads)
        .into_iter()
        .map(|g| g.square().sum())
        .reduce(|acc, s| acc + s);
    let Some(squares) = squares else {
        return (grads, Tensor::zeros([1], &Default::default()));
    };
    let norm = squares.sqrt().mul_scalar(scale);
    if max_norm <= 0.0 {
        if scale == 1.0 {
            return (grads, norm);
        }
        return (map_grads(model, grads, |g| g.mul_scalar(scale)), norm);
    }
    // scale * min(1, max_norm / norm); a zero norm gives inf, clamped to 1
    let factor = norm
        .clone()
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0)
        .mul_scalar(scale);
    let grads = map_grads(model, grads, |g| g * factor.clone());
    (grads, norm)
}

/// Every gradient of `model`'s parameters, flattened, in the module's own parameter order.
pub fn flat_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
) -> Vec<Tensor<B::InnerBackend, 1>> {
    let mut visitor = FlatGrads::<B::InnerBackend> {
        grads,
        flat: Vec::new(),
    };
    model.visit(&mut visitor);
    visitor.flat
}

/// Every gradient replaced by `f` of its flattened self, called in the order of [`flat_grads`].
pub fn map_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: GradientsParams,
    f: impl FnMut(Tensor<B::InnerBackend, 1>) -> Tensor<B::InnerBackend, 1>,
) -> GradientsParams {
    let mut mapper = MapGrads::<B, _> {
        grads,
        f,
        _b: Default::default(),
    };
    let _ = model.clone().map(&mut mapper);
    mapper.grads
}

struct FlatGrads<'a, B: Backend> {
    grads: &'a GradientsParams,
    flat: Vec<Tensor<B, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for FlatGrads<'_, B::InnerBackend> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.flat.push(g.reshape([-1]));
        }
    }
}

struct MapGrads<B: AutodiffBackend, F> {
    grads: GradientsParams,
    f: F,
    _b: std::marker::PhantomData<B>,
}

impl<B, F> ModuleMapper<B> for MapGrads<B, F>
where
    B: AutodiffBackend,
    F: FnMut(Tensor<B::InnerBackend, 1>) -> Tensor<B::InnerBackend, 1>,
{
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let id: ParamId = param.id;
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(id) {
            let shape = g.shape();
            let mapped = (self.f)(g.reshape([-1])).reshape(shape);
            self.grads.register::<B::InnerBackend, D>(id, mapped);
        }
        param
    }
}
