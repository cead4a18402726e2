//! Language-model training: one batch from the corpus to the optimizer, with deep supervision.
//!
//! For each batch: embed x, start (y, z), then for each of N_sup supervision steps run
//! deep_recursion, take the next-token loss on y, backpropagate, and either step the optimizer
//! (`per_step`, the paper's pseudocode) or accumulate (`accumulate`); (y, z) is carried detached.

use super::depth::{depth_rng, draw_depth};
use super::parallel::{Cluster, Parallel, Peer};
use super::trainer::{Evaluation, NonFiniteLoss, StepLog, TrainTask};
use super::weights::{accumulate_share, Weights};
use crate::config::{Config, LmLoss, ModelKind, Supervision};
use crate::data::{
    eval_windows, expand_paths, LoaderConfig, LoaderState, Split, TextTokenizer, TokenLoader,
};
use crate::eval::perplexity::{evaluate_lm, EvalSet};
use crate::nn::precision::{cast_to, compute_dtype};
use crate::rng::Rng;
use crate::run::{ensure_same_tokenizer, load_init, RunDir};
use crate::sample::{sample_text, SamplingParams};
use crate::tasks::text::{LmBatch, StepOutput, TextLm};
use crate::trm::{Noise, State};
use anyhow::{bail, Result};
use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The language model's weights and the deep-supervision step on one batch.
pub struct TextLearner<B: AutodiffBackend> {
    pub weights: Weights<B, TextLm<B>>,
    pub config: Config,
    /// Data-parallel training: this peer's place and the other local peers.
    parallel: Option<Parallel<B::Device, Shard>>,
}

/// A peer's rows of a batch, on the host, and the global batch's row count.
struct Shard {
    inputs: TensorData,
    targets: TensorData,
    weights: Option<TensorData>,
    rows: usize,
    /// The global row of the shard's first row.
    first_row: usize,
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
}

/// What one batch did, still on the device: [lm, halt, accuracy] of each supervision step, then
/// the gradient norm (the mean over the batch's updates). Nothing was read back to make it, so a
/// GPU runs on; [`PendingBatch::resolve`] reads it (the trainer reads many batches at once).
pub struct PendingBatch<B: Backend> {
    pub values: Tensor<B, 1>,
    pub lr: f64,
    n_sup: usize,
    halt_weight: f64,
    supervision: Supervision,
}

impl<B: Backend> PendingBatch<B> {
    /// The host numbers, read back now.
    pub fn resolve(self) -> Result<BatchLog> {
        let host: Vec<f64> = self
            .values
            .clone()
            .into_data()
            .convert::<f64>()
            .to_vec()
            .expect("floats");
        self.resolve_from(&host)
    }

    /// The host numbers from `host`, this batch's values already read back; a [`NonFiniteLoss`]
    /// when a supervision step's loss is NaN or infinite.
    pub fn resolve_from(&self, host: &[f64]) -> Result<BatchLog> {
        let mut log = BatchLog {
            lr: self.lr,
            grad_norm: host[3 * self.n_sup],
            ..BatchLog::default()
        };
        for s in 0..self.n_sup {
            let (lm, halt, accuracy) = (host[3 * s], host[3 * s + 1], host[3 * s + 2]);
            let total = lm + halt * self.halt_weight;
            if !total.is_finite() {
                return Err(NonFiniteLoss {
                    value: total,
                    supervision_step: Some(s + 1),
                    // per-step updates change the weights after supervision step 1
                    with_saved_weights: s == 0 || self.supervision == Supervision::Accumulate,
                    deferred_index: None,
                }
                .into());
            }
            log.lm.push(lm);
            log.halt.push(halt);
            log.accuracy.push(accuracy);
        }
        Ok(log)
    }

    /// How many values [`Self::values`] holds.
    pub fn value_count(&self) -> usize {
        3 * self.n_sup + 1
    }
}

impl<B: AutodiffBackend> TextLearner<B> {
    pub fn new(config: Config, vocab_size: usize, device: &B::Device) -> Self {
        let model = TextLm::<B>::new(&config.model, vocab_size, config.train.seq_len, device);
        Self {
            weights: Weights::new(model, &config.train),
            config,
            parallel: None,
        }
    }

    /// A new learner for a run: random weights, or those of `train.init_from` for a new run (a
    /// resumed run's weights come from its checkpoint afterwards).
    fn open(
        config: &Config,
        resume: bool,
        tokenizer: &TextTokenizer,
        device: &B::Device,
    ) -> Result<Self> {
        let mut learner = Self::new(config.clone(), tokenizer.vocab_size(), device);
        let from = &config.train.init_from;
        if !resume && !from.is_empty() {
            let model = learner.weights.model.clone();
            let model = load_init(model, std::path::Path::new(from), config, tokenizer, device)?;
            learner.weights = Weights::new(model, &config.train);
        }
        Ok(learner)
    }

    /// Train data-parallel over `cluster` from now on: the other local peers start as threads
    /// holding copies of the current weights and optimizer state.
    pub fn start_parallel(&mut self, cluster: Cluster<B::Device>) -> Result<()> {
        cluster.check_batch(self.config.train.batch_size, "train.batch_size")?;
        let replicas = cluster.devices[1..]
            .iter()
            .map(|device| TextLearner {
                weights: self.weights.replica(device),
                config: self.config.clone(),
                parallel: None,
            })
            .collect();
        let work = |learner: &mut TextLearner<B>, shard: Shard, peer: &Peer| {
            let device = learner.weights.model.devices()[0].clone();
            let batch = LmBatch {
                inputs: Tensor::from_data(shard.inputs, &device),
                targets: Tensor::from_data(shard.targets, &device),
                weights: shard.weights.map(|w| Tensor::from_data(w, &device)),
            };
            learner.train_shard(batch, shard.rows, shard.first_row, Some(peer))?;
            Ok(())
        };
        self.parallel = Some(Parallel::start::<B, _>(cluster, replicas, work)?);
        Ok(())
    }

    /// One batch of deep supervision, its numbers read back (see [`Self::train_batch_pending`]).
    pub fn train_batch(&mut self, batch: LmBatch<B>) -> Result<BatchLog> {
        self.train_batch_pending(batch)?.resolve()
    }

    /// One batch of deep supervision (see [`Self::train_shard`]); data-parallel, each peer
    /// trains its rows and the gradients are summed before every update.
    pub fn train_batch_pending(
        &mut self,
        batch: LmBatch<B>,
    ) -> Result<PendingBatch<B::InnerBackend>> {
        let rows = batch.inputs.dims()[0];
        let Some(p) = &self.parallel else {
            return self.train_shard(batch, rows, 0, None);
        };
        let rows_of = |rank: usize| {
            let r = p.cluster.shard(rank, rows);
            (batch.rows(r.start, r.len()), r.start)
        };
        for i in 0..p.workers.len() {
            let (shard, first_row) = rows_of(p.cluster.rank(i + 1));
            let job = Shard {
                inputs: shard.inputs.into_data(),
                targets: shard.targets.into_data(),
                weights: shard.weights.map(|w| w.into_data()),
                rows,
                first_row,
            };
            p.workers.send(i, job)?;
        }
        let (own, first_row) = rows_of(p.cluster.rank(0));
        let peer = p.peer.clone();
        let p = self.parallel.take().expect("parallel");
        let log = p
            .workers
            .run_main(|| self.train_shard(own, rows, first_row, Some(&peer)));
        self.parallel = Some(p);
        log
    }

    fn updates_per_batch(&self) -> u64 {
        match self.config.train.supervision {
            Supervision::PerStep => self.weights.model.n_sup() as u64,
            Supervision::Accumulate | Supervision::Unrolled => 1,
        }
    }

    /// This peer's gradients and logged [lm, halt, accuracy] summed over all peers (as they are
    /// when training alone). Every peer sees the same sums, so every peer stops together on a
    /// non-finite loss (supervision step `step`; `with_saved_weights` as [`NonFiniteLoss`] says).
    fn sum_over_peers(
        &self,
        peer: Option<&Peer>,
        grads: GradientsParams,
        logged: Tensor<B::InnerBackend, 1>,
        halt_weight: f64,
        step: Option<usize>,
        with_saved_weights: bool,
    ) -> Result<(GradientsParams, Tensor<B::InnerBackend, 1>)> {
        let Some(peer) = peer else {
            return Ok((grads, logged));
        };
        let device = logged.device();
        let host: Vec<f64> = logged
            .into_data()
            .convert::<f64>()
            .to_vec()
            .expect("floats");
        let (grads, values) = peer.sum(&self.weights.model, grads, &host)?;
        let total = values[0] + values[1] * halt_weight;
        if !total.is_finite() {
            return Err(NonFiniteLoss {
                value: total,
                supervision_step: step,
                with_saved_weights,
                deferred_index: None,
            }
            .into());
        }
        let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        Ok((
            grads,
            Tensor::from_data(TensorData::new(values, [3]), &device),
        ))
    }

    /// Where each chunk's fresh-noise start draws from (`model.y_init = "noise"`): a key drawn
    /// from the seed and the update count, and each chunk's global rows, so the start is the
    /// same alone, in micro-batches, across peers and after a resume.
    fn start_noise(&self, chunks: &[LmBatch<B>], first_row: usize) -> Vec<Noise> {
        let key = depth_rng(self.config.train.seed ^ 0x0153_7A27, self.weights.updates).next_u64();
        let mut row = first_row;
        chunks
            .iter()
            .map(|chunk| {
                let noise = Noise {
                    key,
                    row,
                    offset: 0,
                };
                row += chunk.inputs.dims()[0];
                noise
            })
            .collect()
    }

    /// Recurrent depth (`train.supervision = "unrolled"`) on one batch: r supervision steps with
    /// r drawn from `train.depth`; the first r - k run without gradient (truncated
    /// backpropagation, k = `train.backprop_steps`), the last k carry (y, z) with its graph from
    /// step to step; the next-token loss of the steps `train.lm_loss` names (mean), plus the
    /// halting loss of the last step; one optimizer update. Logs one step: the trained loss, the
    /// last step's halting loss and accuracy. With T > 1 each step's first T-1 recursions run
    /// without gradient, which cuts the chain there (the paper's one-step gradient).
    fn train_shard_unrolled(
        &mut self,
        batch: LmBatch<B>,
        rows: usize,
        first_row: usize,
        peer: Option<&Peer>,
    ) -> Result<PendingBatch<B::InnerBackend>> {
        let t = &self.config.train;
        let (halt_weight, lm_loss, dtype) =
            (t.halt_loss_weight, t.lm_loss, compute_dtype(t.precision));
        let mut rng = depth_rng(t.seed, self.weights.updates);
        let r = draw_depth(t.depth, self.weights.model.n_sup(), &mut rng);
        let k = match t.backprop_steps {
            0 => r,
            k => k.min(r),
        };
        let chosen = rng.below(k as u64) as usize;
        let trained = |j: usize| match lm_loss {
            LmLoss::Every => true,
            LmLoss::Last => j == k - 1,
            LmLoss::Random => j == chosen,
        };
        let device = batch.inputs.device();
        let len = batch.inputs.dims()[1];
        let mask = self.weights.model.mask(len, &device);
        let mut grads_sum = GradientsAccumulator::<TextLm<B>>::new();
        let mut logged: Option<Tensor<B::InnerBackend, 1>> = None;
        let chunks = batch.chunks(self.config.train.micro_batch);
        for (chunk, noise) in chunks.iter().zip(self.start_noise(&chunks, first_row)) {
            let share = chunk.inputs.dims()[0] as f64 / rows as f64;
            let model = &self.weights.model;
            let x = model.prelude(cast_to(model.embed(chunk.inputs.clone()), dtype), &mask);
            let mut state = model.initial_state(&x, noise).cast(dtype);
            if r > k {
                let inner = model.valid();
                let (x_ng, mask_ng) = (x.clone().inner(), inner.mask(len, &device));
                let mut s = State {
                    y: state.y.inner(),
                    z: state.z.inner(),
                };
                for _ in 0..r - k {
                    s = inner.supervision_step(&x_ng, s, &mask_ng);
                }
                state = State {
                    y: Tensor::from_inner(s.y),
                    z: Tensor::from_inner(s.z),
                };
            }
            let mut lm_losses = Vec::new();
            let mut last = None;
            for j in 0..k {
                state = model.supervision_step_grad(&x, state, &mask);
                if trained(j) || j == k - 1 {
                    let out = StepOutput {
                        logits: model.logits(state.y.clone(), &mask),
                        state: state.clone(),
                    };
                    let loss = model.step_loss(&out, chunk, halt_weight);
                    if trained(j) {
                        lm_losses.push(loss.lm.clone());
                    }
                    if j == k - 1 {
                        last = Some(loss);
                    }
                }
            }
            let last = last.expect("k >= 1");
            let lm = Tensor::cat(lm_losses, 0).mean();
            let total = lm.clone() + last.halt.clone().mul_scalar(halt_weight);
            let values = Tensor::cat(
                vec![
                    lm.inner(),
                    last.halt.clone().inner(),
                    last.accuracy.clone().inner(),
                ],
                0,
            )
            .mul_scalar(share);
            logged = Some(match logged {
                Some(sum) => sum + values,
                None => values,
            });
            accumulate_share(&mut grads_sum, model, total, share);
        }
        let logged = logged.expect("at least one chunk");
        let (grads, logged) =
            self.sum_over_peers(peer, grads_sum.grads(), logged, halt_weight, None, true)?;
        let mut lr = 0.0;
        let grad_norm = self.update(grads, 1.0, &mut lr);
        Ok(PendingBatch {
            values: Tensor::cat(vec![logged, grad_norm], 0),
            lr,
            n_sup: 1,
            halt_weight,
            supervision: Supervision::Unrolled,
        })
    }

    /// Deep supervision on one batch: for each supervision step, deep_recursion from the carried
    /// (y, z), next-token loss on y, backward; then an optimizer update per step (`per_step`) or
    /// one update with the averaged gradients (`accumulate`). (y, z) is carried detached.
    ///
    /// With `train.micro_batch` the batch is cut into chunks of that many rows, each with its own
    /// carry; every chunk's loss is weighted by its share of the rows and their gradients are
    /// summed before the update, so the update is the one the whole batch would give.
    ///
    /// `batch` holds this peer's rows of a global batch of `rows` rows: losses are weighted by
    /// their share of the global batch and, with a `peer`, summed over all peers with the
    /// gradients before each update.
    ///
    /// Alone, nothing is read back from the device; with peers, each update's summed losses are
    /// (the all-reduce synchronises the devices anyway), and every peer stops together on a
    /// non-finite one.
    fn train_shard(
        &mut self,
        batch: LmBatch<B>,
        rows: usize,
        first_row: usize,
        peer: Option<&Peer>,
    ) -> Result<PendingBatch<B::InnerBackend>> {
        if self.config.train.supervision == Supervision::Unrolled {
            return self.train_shard_unrolled(batch, rows, first_row, peer);
        }
        let n_sup = self.weights.model.n_sup(); // 1 for the transformer baseline
        let supervision = self.config.train.supervision;
        let halt_weight = self.config.train.halt_loss_weight;
        let device = batch.inputs.device();
        let len = batch.inputs.dims()[1];
        let mask = self.weights.model.mask(len, &device);
        let chunks = batch.chunks(self.config.train.micro_batch);
        let dtype = compute_dtype(self.config.train.precision);
        let (mut lr, mut grad_norm) = (0.0, None);
        let mut steps: Vec<Tensor<B::InnerBackend, 1>> = Vec::with_capacity(n_sup + 1);
        let mut accumulated = GradientsAccumulator::<TextLm<B>>::new();
        let mut carry: Vec<Option<State<B>>> = vec![None; chunks.len()];
        let noises = self.start_noise(&chunks, first_row);
        for s in 0..n_sup {
            let mut step = GradientsAccumulator::<TextLm<B>>::new();
            // [lm, halt, accuracy], weighted by each chunk's share, summed on the device: one
            // transfer to the host per supervision step, not three per chunk
            let mut logged: Option<Tensor<B::InnerBackend, 1>> = None;
            for ((chunk, carry), &noise) in chunks.iter().zip(carry.iter_mut()).zip(&noises) {
                let share = chunk.inputs.dims()[0] as f64 / rows as f64;
                let model = &self.weights.model;
                let x = model.prelude(cast_to(model.embed(chunk.inputs.clone()), dtype), &mask);
                let start = carry
                    .take()
                    .unwrap_or_else(|| model.initial_state(&x, noise).cast(dtype));
                let state = model.supervision_step_grad(&x, start, &mask);
                let out = StepOutput {
                    logits: model.logits(state.y.clone(), &mask),
                    state,
                };
                let loss = model.step_loss(&out, chunk, halt_weight);
                let values = Tensor::cat(
                    vec![
                        loss.lm.clone().inner(),
                        loss.halt.clone().inner(),
                        loss.accuracy.clone().inner(),
                    ],
                    0,
                )
                .mul_scalar(share);
                logged = Some(match logged {
                    Some(sum) => sum + values,
                    None => values,
                });
                accumulate_share(&mut step, model, loss.total, share);
                *carry = Some(out.state.detach());
            }
            let logged = logged.expect("at least one chunk");
            let with_saved_weights = s == 0 || supervision == Supervision::Accumulate;
            let (grads, logged) = self.sum_over_peers(
                peer,
                step.grads(),
                logged,
                halt_weight,
                Some(s + 1),
                with_saved_weights,
            )?;
            steps.push(logged);
            match supervision {
                Supervision::PerStep => {
                    let norm = self.update(grads, 1.0, &mut lr).div_scalar(n_sup as f64);
                    grad_norm = Some(match grad_norm {
                        Some(sum) => sum + norm,
                        None => norm,
                    });
                }
                Supervision::Accumulate => accumulated.accumulate(&self.weights.model, grads),
                Supervision::Unrolled => unreachable!("unrolled batches take their own path"),
            }
        }
        if supervision == Supervision::Accumulate {
            grad_norm = Some(self.update(accumulated.grads(), 1.0 / n_sup as f64, &mut lr));
        }
        steps.push(grad_norm.expect("at least one update"));
        Ok(PendingBatch {
            values: Tensor::cat(steps, 0),
            lr,
            n_sup,
            halt_weight,
            supervision,
        })
    }

    /// One optimizer update on the run's schedule; returns the gradient norm before clipping.
    fn update(
        &mut self,
        grads: GradientsParams,
        scale: f64,
        lr_out: &mut f64,
    ) -> Tensor<B::InnerBackend, 1> {
        let total = self.config.train.steps * self.updates_per_batch();
        let step = self.weights.update(&self.config.train, total, grads, scale);
        *lr_out = step.lr;
        step.grad_norm
    }
}

/// What the trainer logs of one batch; the halting loss only for a model with a halting head.
fn step_log(log: &BatchLog, tokens: u64, has_halt: bool) -> StepLog {
    let loss = log.final_loss();
    let mut scalars = vec![("perplexity".to_string(), loss.exp())];
    for (s, l) in log.lm.iter().enumerate() {
        scalars.push((format!("perplexity_step{}", s + 1), l.exp()));
    }
    if has_halt {
        scalars.push(("halt_loss".into(), mean(&log.halt)));
    }
    scalars.push(("token_accuracy".into(), *log.accuracy.last().unwrap()));
    let mut fields = json!({
        "loss_per_step": log.lm,
        "accuracy": log.accuracy,
    });
    if has_halt {
        fields["halt_loss"] = json!(log.halt);
    }
    StepLog {
        loss,
        lr: log.lr,
        grad_norm: log.grad_norm,
        tokens,
        scalars,
        fields: fields.as_object().cloned().unwrap_or_default(),
        message: format!("loss {loss:.3} ppl {:.2}", loss.exp()),
    }
}

/// A language-model run: the learner, the token stream and the validation windows.
pub struct TextTask<B: AutodiffBackend> {
    learner: TextLearner<B>,
    /// Batches trained whose numbers are still on the device (read at the next flush).
    pending: Vec<PendingBatch<B::InnerBackend>>,
    tokenizer: TextTokenizer,
    loader: TokenLoader,
    val_set: EvalSet,
    /// exp(entropy of the validation tokens' own unigram distribution): the best any unigram
    /// model can do.
    unigram_ppl: f64,
    /// Draws the masked head's masking rates and positions.
    noise_rng: Rng,
    /// The prompt of the samples: `sample.prompt`, or the opening of a held-out document.
    prompt: String,
    device: B::Device,
}

/// What a language-model checkpoint keeps besides the weights.
#[derive(Serialize, Deserialize)]
pub struct TextState {
    #[serde(default = "default_noise_rng")]
    noise_rng: Rng,
    loader: LoaderState,
    /// The fingerprint of the tokenizer the run trains with.
    tokenizer: String,
}

fn default_noise_rng() -> Rng {
    Rng::new(0x5eed)
}

impl<B: AutodiffBackend> TrainTask<B> for TextTask<B> {
    type Model = TextLm<B>;
    type State = TextState;

    fn check_resume(saved: &Config, config: &Config, run: &RunDir) -> Result<()> {
        if saved.data.tokenizer != config.data.tokenizer {
            bail!(
                "--resume {}: data.tokenizer cannot change when resuming",
                run.root.display()
            );
        }
        Ok(())
    }

    fn open(config: &Config, run: &RunDir, resume: bool, device: &B::Device) -> Result<Self> {
        let tokenizer = if resume {
            TextTokenizer::from_file(&run.tokenizer())?
        } else {
            TextTokenizer::from_spec(&config.data.tokenizer)?
        };
        let (train_cfg, val_cfg) = loader_configs(config)?;
        let loader = TokenLoader::new(train_cfg, tokenizer.clone())?;
        let val_set = EvalSet::new(
            eval_windows(&val_cfg, &tokenizer, config.train.eval_windows)?,
            &tokenizer,
        );
        let prompt = match config.sample.prompt.as_str() {
            "" => held_out_opening(&val_set.windows[0], &tokenizer),
            given => given.to_string(),
        };
        Ok(Self {
            unigram_ppl: unigram_perplexity(&val_set.windows, tokenizer.vocab_size()),
            learner: TextLearner::open(config, resume, &tokenizer, device)?,
            pending: Vec::new(),
            tokenizer,
            loader,
            val_set,
            noise_rng: default_noise_rng(),
            prompt,
            device: device.clone(),
        })
    }

    fn save_files(&self, run: &RunDir) -> Result<()> {
        self.tokenizer.save(&run.tokenizer())
    }

    fn weights(&self) -> &Weights<B, TextLm<B>> {
        &self.learner.weights
    }

    fn start_parallel(&mut self, cluster: Cluster<B::Device>) -> Result<()> {
        self.learner.start_parallel(cluster)
    }

    fn weights_mut(&mut self) -> &mut Weights<B, TextLm<B>> {
        &mut self.learner.weights
    }

    fn describe(&self) -> String {
        format!(
            "tokenizer {}, {} validation tokens (unigram perplexity {:.1})",
            self.tokenizer.describe(),
            self.val_set.tokens(),
            self.unigram_ppl
        )
    }

    fn state(&self) -> TextState {
        TextState {
            noise_rng: self.noise_rng,
            loader: self.loader.state(),
            tokenizer: self.tokenizer.fingerprint(),
        }
    }

    fn restore(&mut self, state: TextState) -> Result<()> {
        ensure_same_tokenizer(
            &self.tokenizer,
            &state.tokenizer,
            "the run's tokenizer.json",
        )?;
        self.noise_rng = state.noise_rng;
        self.loader.restore(state.loader)
    }

    fn step(&mut self) -> Result<Option<StepLog>> {
        let windows = self.loader.next_batch()?;
        let batch = self
            .learner
            .weights
            .model
            .batch(&windows, &mut self.noise_rng, &self.device);
        let pending = self.learner.train_batch_pending(batch)?;
        self.pending.push(pending);
        Ok(None)
    }

    /// Every pending batch's numbers in one read from the device.
    fn flush(&mut self) -> Result<Vec<StepLog>> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let pending = std::mem::take(&mut self.pending);
        let all = Tensor::cat(pending.iter().map(|p| p.values.clone()).collect(), 0);
        let host: Vec<f64> = all.into_data().convert::<f64>().to_vec().expect("floats");
        let c = &self.learner.config.train;
        let tokens = (c.batch_size * c.seq_len) as u64;
        let mut at = 0;
        let mut logs = Vec::with_capacity(pending.len());
        for (i, p) in pending.iter().enumerate() {
            let log = p
                .resolve_from(&host[at..at + p.value_count()])
                .map_err(|e| match e.downcast::<NonFiniteLoss>() {
                    Ok(n) => NonFiniteLoss {
                        deferred_index: Some(i),
                        ..n
                    }
                    .into(),
                    Err(e) => e,
                })?;
            at += p.value_count();
            let has_halt = self.learner.config.model.kind == ModelKind::Trm;
            logs.push(step_log(&log, tokens, has_halt));
        }
        Ok(logs)
    }

    fn evaluate(&mut self) -> Result<Evaluation> {
        let ema = &self.learner.weights.ema;
        let config = &self.learner.config;
        let val = evaluate_lm(
            ema,
            &self.val_set,
            config.train.batch_size,
            ema.n_sup(),
            &self.device,
        );
        // The masked head's numbers are ELBO upper bounds: logged under their own name.
        let v = if val.elbo_bound {
            "val_elbo_bound"
        } else {
            "val"
        };
        let mut scalars = vec![
            (format!("{v}/loss"), val.final_nll()),
            (format!("{v}/perplexity"), val.final_ppl()),
            (format!("{v}/bits_per_byte"), val.final_bits_per_byte()),
        ];
        for (s, p) in val.ppl_per_step().iter().enumerate() {
            scalars.push((format!("{v}/perplexity_step{}", s + 1), *p));
        }
        let sample = sample(
            ema,
            &self.tokenizer,
            config,
            &self.prompt,
            &self.device,
            &mut std::io::sink(),
        );
        let bound = if val.elbo_bound { "<= " } else { "" };
        let fields = json!({
            "val_ppl": val.final_ppl(),
            "val_ppl_per_step": val.ppl_per_step(),
            "val_bits_per_byte": val.final_bits_per_byte(),
        });
        Ok(Evaluation {
            score: Some(-val.final_nll()),
            scalars,
            texts: vec![("samples/generation".into(), format!("```\n{sample}\n```"))],
            fields: fields.as_object().cloned().unwrap_or_default(),
            line: format!(
                "val perplexity {bound}{:.2} (per supervision step: {})",
                val.final_ppl(),
                val.ppl_per_step()
                    .iter()
                    .map(|p| format!("{p:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            summary: format!(
                "validation perplexity {bound}{:.2} (unigram baseline {:.1})",
                val.final_ppl(),
                self.unigram_ppl
            ),
        })
    }

    fn finish(&mut self, verbose: bool) -> Result<()> {
        if verbose {
            let config = &self.learner.config;
            println!("\nSample (EMA weights, prompt {:?}):", self.prompt);
            let ema = &self.learner.weights.ema;
            sample(
                ema,
                &self.tokenizer,
                config,
                &self.prompt,
                &self.device,
                &mut std::io::stdout(),
            );
            println!();
        }
        Ok(())
    }
}

/// Training and validation loaders of a config (validation: `data.val`, else the held-out split).
pub fn loader_configs(config: &Config) -> Result<(LoaderConfig, LoaderConfig)> {
    let t = &config.train;
    let d = &config.data;
    let train_files = expand_paths(&d.train)?;
    let base = |files, split| LoaderConfig {
        files,
        text_column: d.text_column.clone(),
        split,
        val_fraction: d.val_fraction,
        batch_size: t.batch_size,
        seq_len: t.seq_len,
        shuffle_buffer: d.shuffle_buffer,
        seed: t.seed,
    };
    Ok(if d.val.is_empty() {
        (
            base(train_files.clone(), Split::Train),
            base(train_files, Split::Val),
        )
    } else {
        (
            base(train_files, Split::All),
            base(expand_paths(&d.val)?, Split::All),
        )
    })
}

/// The opening line of the held-out document that starts `window` (the first validation window
/// starts a document): up to and including its first line break, at most 48 characters.
fn held_out_opening(window: &[u32], tok: &TextTokenizer) -> String {
    let doc: Vec<u32> = window
        .iter()
        .copied()
        .take_while(|&t| t != tok.eot_id())
        .take(64)
        .collect();
    let text = tok.decode(&doc);
    let line = match text.find('\n') {
        Some(i) => &text[..=i],
        None => &text,
    };
    let opening: String = line.chars().take(48).collect();
    // a cut multi-byte character decodes to U+FFFD; leave it out
    opening.trim_end_matches('\u{FFFD}').to_string()
}

/// The configured sample from `model`, streamed to `out`.
fn sample<B: Backend>(
    model: &TextLm<B>,
    tok: &TextTokenizer,
    config: &Config,
    prompt: &str,
    device: &B::Device,
    out: &mut dyn std::io::Write,
) -> String {
    let s = &config.sample;
    let params = SamplingParams {
        max_new_tokens: s.max_new_tokens,
        temperature: s.temperature,
        top_k: s.top_k,
        top_p: s.top_p,
        seed: config.train.seed,
        stop_token: Some(tok.eot_id()),
        cache: true,
        diffusion_steps: s.steps,
        exit: None,
    };
    sample_text(model, tok, prompt, &params, device, out)
}

/// exp(H) of the token distribution of the validation targets.
fn unigram_perplexity(windows: &[Vec<u32>], vocab: usize) -> f64 {
    let mut counts = vec![0u64; vocab];
    let mut total = 0u64;
    for w in windows {
        for &t in &w[1..] {
            counts[t as usize] += 1;
            total += 1;
        }
    }
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.ln()
        })
        .sum();
    entropy.exp()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}
