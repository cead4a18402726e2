//! The weights being trained, for every task: the model, its optimizer and its EMA copy, stepped
//! together and saved to and loaded from checkpoints together.

use super::ema::update_ema;
use super::optim::{scale_and_clip, Adam};
use super::schedule::learning_rate;
use crate::config::TrainConfig;
use crate::run::checkpoint::{self, Checkpoints};
use anyhow::Result;
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::{GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::{Backend, ElementConversion, Int};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub type Optim<B, M> = burn::optim::adaptor::OptimizerAdaptor<Adam, M, B>;

pub struct Weights<B: AutodiffBackend, M: AutodiffModule<B>> {
    pub model: M,
    pub optim: Optim<B, M>,
    /// Evaluation, sampling and the `best` checkpoint use this copy.
    pub ema: M::InnerModule,
    /// Optimizer updates made so far (the learning-rate schedule's clock).
    pub updates: u64,
}

/// What one optimizer update did.
pub struct UpdateLog<B: Backend> {
    pub lr: f64,
    /// Global gradient norm after scaling, before clipping: [1], still on the device.
    pub grad_norm: Tensor<B, 1>,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> Weights<B, M> {
    pub fn new(model: M, cfg: &TrainConfig) -> Self {
        Self {
            optim: Adam::from_config(cfg).init(),
            ema: model.valid(),
            model,
            updates: 0,
        }
    }

    /// A copy for another data-parallel peer on `device`: same parameters (same ids, which the
    /// all-reduce matches on), same optimizer state, same update count.
    pub fn replica(&self, device: &B::Device) -> Self {
        Self {
            model: self.model.clone().fork(device),
            optim: self.optim.clone(),
            ema: self.ema.clone().fork(device),
            updates: self.updates,
        }
    }

    /// One optimizer update: scale and clip the gradients, step Adam(ATan2) at the scheduled
    /// learning rate for update number `self.updates` of `total`, then update the EMA copy.
    pub fn update(
        &mut self,
        cfg: &TrainConfig,
        total: u64,
        grads: GradientsParams,
        scale: f64,
    ) -> UpdateLog<B::InnerBackend> {
        let (grads, grad_norm) = scale_and_clip(&self.model, grads, scale, cfg.grad_clip);
        let lr = learning_rate(cfg, self.updates, total);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        // EMA warm-up (a deviation from the official code's fixed 0.999): early on the decay is
        // (1 + u) / (10 + u), so short runs do not keep a large share of the random initial weights.
        let decay = cfg
            .ema_decay
            .min((1.0 + self.updates as f64) / (10.0 + self.updates as f64));
        self.ema = update_ema(self.ema.clone(), &self.model, decay);
        self.updates += 1;
        UpdateLog { lr, grad_norm }
    }

    /// Write model, EMA, optimizer moments and `state` as checkpoint `step`.
    pub fn save(
        &self,
        checkpoints: &Checkpoints,
        step: u64,
        state: &impl Serialize,
        best: bool,
    ) -> Result<PathBuf> {
        checkpoints.save::<B, _, _, _, _>(
            step,
            &self.model,
            &self.ema,
            self.optim.to_record(),
            state,
            best,
        )
    }

    /// Whether every weight of the model and of its EMA is finite (one value read back).
    pub fn finite(&self) -> bool {
        let mut bad = NonFinite::<B::InnerBackend> { count: None };
        self.model.valid().visit(&mut bad);
        self.ema.visit(&mut bad);
        bad.count.is_none_or(|c| c.into_scalar().elem::<i64>() == 0)
    }

    /// Load model, EMA and optimizer moments from the checkpoint folder `dir`.
    pub fn load(&mut self, dir: &Path, cfg: &TrainConfig, device: &B::Device) -> Result<()> {
        self.model = checkpoint::load_module(self.model.clone(), dir, "model", device)?;
        self.ema = checkpoint::load_module(self.ema.clone(), dir, "ema", device)?;
        let optim = std::mem::replace(&mut self.optim, Adam::from_config(cfg).init());
        self.optim = optim.load_record(checkpoint::load_record(dir, "optim", device)?);
        Ok(())
    }
}

/// Backpropagate one chunk's loss, weighted by the chunk's share of the whole batch, and add its
/// gradients to `grads`: summed over the chunks (and over the peers), the gradients of the whole
/// batch's mean loss.
pub fn accumulate_share<B: AutodiffBackend, M: AutodiffModule<B>>(
    grads: &mut GradientsAccumulator<M>,
    model: &M,
    loss: Tensor<B, 1>,
    share: f64,
) {
    let weighted = if share == 1.0 {
        loss
    } else {
        loss.mul_scalar(share)
    };
    grads.accumulate(
        model,
        GradientsParams::from_grads(weighted.backward(), model),
    );
}

/// Counts non-finite values over every float parameter, on the device.
struct NonFinite<B: Backend> {
    count: Option<Tensor<B, 1, Int>>,
}

impl<B: Backend> ModuleVisitor<B> for NonFinite<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let bad = param.val().is_finite().bool_not().int().sum();
        self.count = Some(match self.count.take() {
            Some(c) => c + bad,
            None => bad,
        });
    }
}
