//! Exponential moving average of the weights (docs/trm.md §4); evaluation and sampling use this copy.

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use std::collections::HashMap;

/// ema <- decay * ema + (1 - decay) * current, parameter by parameter (matched by ParamId).
pub fn update_ema<B: AutodiffBackend, M: AutodiffModule<B>>(
    ema: M::InnerModule,
    model: &M,
    decay: f64,
) -> M::InnerModule {
    let mut current = Collect::<B::InnerBackend> {
        params: HashMap::new(),
    };
    model.valid().visit(&mut current);
    let mut mapper = Blend {
        current: current.params,
        decay,
    };
    ema.map(&mut mapper)
}

struct Collect<B: Backend> {
    params: HashMap<ParamId, Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let flat: Tensor<B, 1> = param.val().flatten(0, D - 1);
        self.params.insert(param.id, flat);
    }
}

struct Blend<B: Backend> {
    current: HashMap<ParamId, Tensor<B, 1>>,
    decay: f64,
}

impl<B: Backend> ModuleMapper<B> for Blend<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let Some(cur) = self.current.remove(&param.id) else {
            return param;
        };
        let (id, ema, mapper) = param.consume();
        let cur: Tensor<B, D> = cur.reshape(ema.shape());
        let blended = ema.mul_scalar(self.decay) + cur.mul_scalar(1.0 - self.decay);
        Param::from_mapped_value(id, blended, mapper)
    }
}
