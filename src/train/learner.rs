//! One batch of deep supervision: the model, its optimizer and its EMA copy, stepped together.
//! Used by the training loop and the throughput benchmark alike.

use super::ema::update_ema;
use super::optim::{scale_and_clip, Adam};
use super::schedule::learning_rate;
use crate::config::{Config, Supervision, TrainConfig};
use crate::tasks::text::{LmBatch, StepLoss, StepOutput, TextLm};
use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

pub type Optim<B> = burn::optim::adaptor::OptimizerAdaptor<Adam, TextLm<B>, B>;

pub struct Learner<B: AutodiffBackend> {
    pub model: TextLm<B>,
    pub optim: Optim<B>,
    pub ema: TextLm<B::InnerBackend>,
    pub config: Config,
    /// Optimizer updates made so far (the learning-rate schedule's clock).
    pub updates: u64,
}

/// What one batch did, as host numbers: the losses of each supervision step and the update.
#[derive(Default, Debug, Serialize)]
pub struct BatchLog {
    pub lm: Vec<f64>,
    pub halt: Vec<f64>,
    pub accuracy: Vec<f64>,
    pub lr: f64,
    pub grad_norm: f64,
}

impl BatchLog {
    pub fn final_loss(&self) -> f64 {
        *self.lm.last().expect("n_sup >= 1")
    }

    fn push<B: Backend>(&mut self, loss: &StepLoss<B>) {
        self.lm.push(loss.lm.clone().into_scalar().elem());
        self.halt.push(loss.halt.clone().into_scalar().elem());
        self.accuracy
            .push(loss.accuracy.clone().into_scalar().elem());
    }
}

/// A loss that is NaN or infinite, with where it happened.
#[derive(Debug)]
pub struct NonFiniteLoss {
    pub value: f64,
    pub supervision_step: usize,
}

impl<B: AutodiffBackend> Learner<B> {
    pub fn new(config: Config, vocab_size: usize, device: &B::Device) -> Self {
        let model = TextLm::<B>::new(&config.model, vocab_size, config.train.seq_len, device);
        let optim = Adam::from_config(&config.train).init();
        let ema = model.valid();
        Self {
            model,
            optim,
            ema,
            config,
            updates: 0,
        }
    }

    fn updates_per_batch(&self) -> u64 {
        match self.config.train.supervision {
            Supervision::PerStep => self.model.n_sup() as u64,
            Supervision::Accumulate => 1,
        }
    }

    /// Deep supervision on one batch: for each supervision step, deep_recursion from the carried
    /// (y, z), next-token loss on y, backward; then an optimizer update per step (`per_step`) or
    /// one update with the averaged gradients (`accumulate`). (y, z) is carried detached.
    pub fn train_batch(&mut self, batch: LmBatch<B>) -> Result<BatchLog, NonFiniteLoss> {
        let n_sup = self.model.n_sup(); // 1 for the transformer baseline
        let supervision = self.config.train.supervision;
        let device = batch.inputs.device();
        let mask = self.model.mask(batch.inputs.dims()[1], &device);
        let mut log = BatchLog::default();
        let mut accumulated = GradientsAccumulator::<TextLm<B>>::new();
        let mut carry = None;
        for s in 0..n_sup {
            let x = self.model.embed(batch.inputs.clone());
            let start = carry.take().unwrap_or_else(|| self.model.initial_state(&x));
            let state = self.model.supervision_step_grad(&x, start, &mask);
            let out = StepOutput {
                logits: self.model.logits(state.y.clone()),
                state,
            };
            let loss = self
                .model
                .step_loss(&out, &batch, self.config.train.halt_loss_weight);
            log.push(&loss);
            let total = log.lm[s] + log.halt[s] * self.config.train.halt_loss_weight;
            if !total.is_finite() {
                return Err(NonFiniteLoss {
                    value: total,
                    supervision_step: s + 1,
                });
            }
            let grads = GradientsParams::from_grads(loss.total.backward(), &self.model);
            carry = Some(out.state.detach());
            match supervision {
                Supervision::PerStep => {
                    log.grad_norm += self.update(grads, 1.0, &mut log.lr) / n_sup as f64
                }
                Supervision::Accumulate => accumulated.accumulate(&self.model, grads),
            }
        }
        if supervision == Supervision::Accumulate {
            log.grad_norm = self.update(accumulated.grads(), 1.0 / n_sup as f64, &mut log.lr);
        }
        Ok(log)
    }

    /// Scale and clip the gradients, step the optimizer at the scheduled rate, update the EMA.
    /// Returns the gradient norm before clipping.
    fn update(&mut self, grads: GradientsParams, scale: f64, lr_out: &mut f64) -> f64 {
        let total = self.config.train.steps * self.updates_per_batch();
        let step = update(
            &mut self.model,
            &mut self.optim,
            &mut self.ema,
            &self.config.train,
            self.updates,
            total,
            grads,
            scale,
        );
        self.updates += 1;
        *lr_out = step.lr;
        step.grad_norm
    }
}

/// What one optimizer update did.
pub struct UpdateLog {
    pub lr: f64,
    /// Global gradient norm after scaling, before clipping.
    pub grad_norm: f64,
}

/// One optimizer update, shared by every task's learner: scale and clip the gradients, step
/// Adam(ATan2) at the scheduled learning rate for update number `updates` of `total`, then
/// update the EMA copy.
#[allow(clippy::too_many_arguments)]
pub fn update<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &mut M,
    optim: &mut burn::optim::adaptor::OptimizerAdaptor<Adam, M, B>,
    ema: &mut M::InnerModule,
    cfg: &TrainConfig,
    updates: u64,
    total: u64,
    grads: GradientsParams,
    scale: f64,
) -> UpdateLog {
    let (grads, grad_norm) = scale_and_clip(model, grads, scale, cfg.grad_clip);
    let lr = learning_rate(cfg, updates, total);
    *model = optim.step(lr, model.clone(), grads);
    // EMA warm-up (a deviation from the official code's fixed 0.999): early on the decay is
    // (1 + u) / (10 + u), so short runs do not keep a large share of the random initial weights.
    let decay = cfg
        .ema_decay
        .min((1.0 + updates as f64) / (10.0 + updates as f64));
    *ema = update_ema(ema.clone(), model, decay);
    UpdateLog { lr, grad_norm }
}
