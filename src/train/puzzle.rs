//! Puzzle training with the official code's persistent carry (docs/trm.md §3): a batch of slots, each
//! holding one puzzle and its (y, z); every optimizer update runs one supervision step for every
//! slot, and a slot whose puzzle halted (q > 0, or n_sup steps) takes a fresh puzzle next time.
//!
//! ```text
//! for each update:
//!     halted slots <- fresh puzzles, (y, z) <- initial state
//!     (y, z) <- deep_recursion(x, y, z)              (T-1 without gradient, one with)
//!     loss = token loss(y) + halt_weight * BCE(q, exactly right); backward; Adam; sign-SGD; EMA
//!     halted <- steps >= n_sup or (q > 0 and steps >= exploration minimum)
//! ```

use super::parallel::{Cluster, Parallel, Peer};
use super::schedule::learning_rate;
use super::trainer::{Evaluation, NonFiniteLoss, StepLog, TrainTask};
use super::weights::{accumulate_share, Weights};
use crate::config::{Config, PuzzleConfig};
use crate::data::puzzle::{Example, PuzzleData};
use crate::eval::puzzle::{evaluate_puzzles, HeldOut, PuzzleReport};
use crate::nn::precision::{cast_to, compute_dtype};
use crate::rng::Rng;
use crate::run::RunDir;
use crate::tasks::host_f64;
use crate::tasks::puzzle::{PuzzleBatch, PuzzleModel};
use crate::trm::State;
use anyhow::{bail, Result};
use burn::optim::GradientsAccumulator;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The slots of the persistent batch.
struct Carry<B: Backend> {
    state: Option<State<B>>,
    examples: Vec<Example>,
    /// Supervision steps each slot's puzzle has had.
    steps: Vec<usize>,
    halted: Vec<bool>,
}

/// The puzzle solver's weights and its persistent carry.
pub struct PuzzleLearner<B: AutodiffBackend> {
    pub weights: Weights<B, PuzzleModel<B>>,
    pub config: Config,
    carry: Carry<B>,
    device: B::Device,
    /// Data-parallel training: this peer's place and the other local peers.
    parallel: Option<Parallel<B::Device, Shard>>,
}

/// A peer's slots of the carry: their puzzles, which of them start fresh, where they sit.
struct Shard {
    examples: Vec<Example>,
    reset: Vec<bool>,
    offset: usize,
    slots: usize,
}

/// One update's results, summed over peers: losses, and per slot (all slots) the correctness
/// and the halting logit.
struct ShardOutput {
    lm: f64,
    halt: f64,
    exact: Vec<f64>,
    token_accuracy: Vec<f64>,
    q: Option<Vec<f64>>,
    lr: f64,
    grad_norm: f64,
}

/// One update, as host numbers.
#[derive(Default, Debug, Serialize)]
pub struct PuzzleStepLog {
    pub lm: f64,
    pub halt: f64,
    /// Over all slots at this step.
    pub token_accuracy: f64,
    pub exact_accuracy: f64,
    /// Slots that halted at this step, and their mean number of supervision steps.
    pub halted: usize,
    pub mean_steps: Option<f64>,
    pub lr: f64,
    pub grad_norm: f64,
}

impl<B: AutodiffBackend> PuzzleLearner<B> {
    pub fn new(config: Config, data: &PuzzleData, device: &B::Device) -> Self {
        let model = PuzzleModel::<B>::for_data(&config, data, device);
        let b = config.train.batch_size;
        Self {
            weights: Weights::new(model, &config.train),
            carry: Carry {
                state: None,
                examples: vec![
                    Example {
                        inputs: vec![],
                        labels: vec![],
                        puzzle_id: 0
                    };
                    b
                ],
                steps: vec![0; b],
                halted: vec![true; b],
            },
            config,
            device: device.clone(),
            parallel: None,
        }
    }

    /// One optimizer update: one supervision step for every slot of the carry. With
    /// `train.micro_batch` the slots are run in chunks of that many, each chunk's loss weighted by
    /// its share of the slots, and the gradients summed before the update.
    pub fn train_step(&mut self, data: &PuzzleData, rng: &mut Rng) -> Result<PuzzleStepLog> {
        let n_sup = self.weights.model.n_sup();
        let b = self.config.train.batch_size;
        let c = &mut self.carry;
        let reset: Vec<bool> = c.halted.clone();
        for (i, _) in reset.iter().enumerate().filter(|(_, r)| **r) {
            c.examples[i] = data.draw(rng);
            c.steps[i] = 0;
        }
        let out = match &self.parallel {
            None => {
                let examples = self.carry.examples.clone();
                self.shard_update(&examples, &reset, 0, b, None)?
            }
            Some(p) => {
                for i in 0..p.workers.len() {
                    let slots = p.cluster.shard(p.cluster.rank(i + 1), b);
                    let job = Shard {
                        examples: self.carry.examples[slots.clone()].to_vec(),
                        reset: reset[slots.clone()].to_vec(),
                        offset: slots.start,
                        slots: b,
                    };
                    p.workers.send(i, job)?;
                }
                let own = p.cluster.shard(p.cluster.rank(0), b);
                let examples = self.carry.examples[own.clone()].to_vec();
                let peer = p.peer.clone();
                let p = self.parallel.take().expect("parallel");
                let out = p.workers.run_main(|| {
                    self.shard_update(&examples, &reset[own.clone()], own.start, b, Some(&peer))
                });
                self.parallel = Some(p);
                out?
            }
        };

        // Halting: the official rule, exploration included (a fresh minimum drawn every step).
        let explore = self.config.puzzle.halt_exploration_prob;
        let mut log = PuzzleStepLog {
            lm: out.lm,
            halt: out.halt,
            lr: out.lr,
            grad_norm: out.grad_norm,
            exact_accuracy: out.exact.iter().sum::<f64>() / b as f64,
            token_accuracy: out.token_accuracy.iter().sum::<f64>() / b as f64,
            ..Default::default()
        };
        let c = &mut self.carry;
        let mut steps_sum = 0usize;
        for i in 0..b {
            c.steps[i] += 1;
            let mut halted = c.steps[i] >= n_sup;
            if let (Some(q), true) = (&out.q, n_sup > 1) {
                halted |= q[i] > 0.0;
                let min_steps = if rng.uniform() < explore {
                    2 + rng.below(n_sup as u64 - 1) as usize
                } else {
                    0
                };
                halted &= c.steps[i] >= min_steps;
            }
            c.halted[i] = halted;
            if halted {
                log.halted += 1;
                steps_sum += c.steps[i];
            }
        }
        log.mean_steps = (log.halted > 0).then(|| steps_sum as f64 / log.halted as f64);
        Ok(log)
    }

    /// One supervision step and the update for the slots offset..offset + examples.len() of a
    /// carry of `slots` slots (all of them on one peer; this peer's share when data-parallel).
    /// The slots run in chunks of `train.micro_batch`; each chunk's loss is weighted by its share
    /// of all slots and the gradients are summed (over chunks, then over peers) before the one
    /// update. Returns the step's losses and, for every slot, its correctness and halting logit.
    fn shard_update(
        &mut self,
        examples: &[Example],
        reset: &[bool],
        offset: usize,
        slots: usize,
        peer: Option<&Peer>,
    ) -> Result<ShardOutput> {
        let cfg = self.config.train.clone();
        let halt_weight = cfg.halt_loss_weight;
        let rows = examples.len();
        let chunk = if cfg.micro_batch == 0 {
            rows
        } else {
            cfg.micro_batch
        };
        let prev = self.carry.state.take();
        let dtype = compute_dtype(cfg.precision);
        let mut grads = GradientsAccumulator::<PuzzleModel<B>>::new();
        // [lm, halt, exact per slot, token accuracy per slot, q per slot]: summed over peers
        let mut values = vec![0.0; 2 + 3 * slots];
        let mut has_q = true;
        let mut states = Vec::new();
        for start in (0..rows).step_by(chunk.max(1)) {
            let n = chunk.min(rows - start);
            let share = n as f64 / slots as f64;
            let batch = PuzzleBatch::<B>::new(&examples[start..start + n], &self.device);
            let model = &self.weights.model;
            let x = cast_to(
                model.embed(batch.inputs.clone(), batch.puzzle_ids.clone()),
                dtype,
            );
            let fresh = model.initial_state(&x).cast(dtype);
            let reset = &reset[start..start + n];
            let begin = match &prev {
                Some(prev) if reset.iter().any(|r| !r) => {
                    let [_, l, d] = x.dims();
                    let mask = Tensor::<B, 1, Bool>::from_data(
                        TensorData::new(reset.to_vec(), [n]),
                        &self.device,
                    )
                    .reshape([n, 1, 1])
                    .expand([n, l, d]);
                    let rows_of = |t: &Tensor<B, 3>| t.clone().narrow(0, start, n);
                    State {
                        y: rows_of(&prev.y).mask_where(mask.clone(), fresh.y),
                        z: rows_of(&prev.z).mask_where(mask, fresh.z),
                    }
                }
                _ => fresh,
            };
            let out = model.supervision_step_grad(&x, begin);
            let loss = model.loss(&out, batch.labels, halt_weight);
            // every logged value of the chunk in one transfer to the host: [lm, halt] and, per
            // slot, exact, token accuracy and q (the carry's halting decisions need them)
            let mut parts = vec![
                loss.lm.clone().inner(),
                loss.halt.clone().inner(),
                loss.exact.clone().inner(),
                loss.token_accuracy.clone().inner(),
            ];
            if let Some(q) = out.q.clone() {
                parts.push(q.inner());
            } else {
                has_q = false;
            }
            let host = host_f64(Tensor::cat(parts, 0));
            values[0] += share * host[0];
            values[1] += share * host[1];
            let at = 2 + offset + start;
            values[at..at + n].copy_from_slice(&host[2..2 + n]);
            values[slots + at..slots + at + n].copy_from_slice(&host[2 + n..2 + 2 * n]);
            if has_q {
                values[2 * slots + at..2 * slots + at + n].copy_from_slice(&host[2 + 2 * n..]);
            }
            accumulate_share(&mut grads, model, loss.total, share);
            states.push(out.state.detach());
        }
        self.carry.state = Some(if states.len() == 1 {
            states.pop().expect("one chunk")
        } else {
            State {
                y: Tensor::cat(states.iter().map(|s| s.y.clone()).collect(), 0),
                z: Tensor::cat(states.into_iter().map(|s| s.z).collect(), 0),
            }
        });
        let (mut grads, values) = match peer {
            Some(peer) => peer.sum(&self.weights.model, grads.grads(), &values)?,
            None => (grads.grads(), values),
        };
        // every peer sees the same sums, so every peer stops here together
        let total_loss = values[0] + halt_weight * values[1];
        if !total_loss.is_finite() {
            return Err(NonFiniteLoss {
                value: total_loss,
                supervision_step: None,
                // one update per step: this loss saw the weights the step started from
                with_saved_weights: true,
                deferred_index: None,
            }
            .into());
        }
        let total = cfg.steps;
        let lr = learning_rate(&cfg, self.weights.updates, total);
        if let Some(g) = grads.remove::<B::InnerBackend, 2>(self.weights.model.puzzle_emb_id()) {
            self.sign_sgd(g, lr / cfg.lr);
        }
        let step = self.weights.update(&cfg, total, grads, 1.0);
        // The puzzle-id table is not averaged: evaluation uses its live values (as the official
        // code, where it is a buffer outside the EMA).
        let w = &mut self.weights;
        w.ema = w.ema.clone().with_puzzle_emb(w.model.puzzle_emb().inner());
        Ok(ShardOutput {
            lm: values[0],
            halt: values[1],
            exact: values[2..2 + slots].to_vec(),
            token_accuracy: values[2 + slots..2 + 2 * slots].to_vec(),
            q: has_q.then(|| values[2 + 2 * slots..].to_vec()),
            lr: step.lr,
            // the carry's halting already reads this update's values back; the norm is one more
            grad_norm: step.grad_norm.into_scalar().elem(),
        })
    }

    /// Train data-parallel over `cluster` from now on: the other local peers start as threads
    /// holding copies of the current weights and optimizer state, each keeping the (y, z) of
    /// its own slots.
    pub fn start_parallel(&mut self, cluster: Cluster<B::Device>) -> Result<()> {
        cluster.check_batch(self.config.train.batch_size, "train.batch_size")?;
        let replicas = cluster.devices[1..]
            .iter()
            .map(|device| PuzzleLearner {
                weights: self.weights.replica(device),
                config: self.config.clone(),
                carry: Carry {
                    state: None,
                    examples: Vec::new(),
                    steps: Vec::new(),
                    halted: Vec::new(),
                },
                device: device.clone(),
                parallel: None,
            })
            .collect();
        let work = |learner: &mut PuzzleLearner<B>, shard: Shard, peer: &Peer| {
            let (examples, reset) = (&shard.examples, &shard.reset);
            learner.shard_update(examples, reset, shard.offset, shard.slots, Some(peer))?;
            Ok(())
        };
        // this peer keeps the (y, z) of its own slots only
        let own = cluster.shard(cluster.rank(0), self.config.train.batch_size);
        self.carry.state = self.carry.state.take().map(|s| State {
            y: s.y.narrow(0, own.start, own.len()),
            z: s.z.narrow(0, own.start, own.len()),
        });
        self.parallel = Some(Parallel::start::<B, _>(cluster, replicas, work)?);
        Ok(())
    }

    /// Sign-SGD with decoupled weight decay on the rows of the puzzle-id table this batch used
    /// (docs/trm.md §4): p <- p (1 - lr wd) - lr sign(grad); `schedule` is the learning-rate
    /// schedule's current factor (warm-up).
    fn sign_sgd(&mut self, grad: Tensor<B::InnerBackend, 2>, schedule: f64) {
        let p = &self.config.puzzle;
        let lr = p.puzzle_emb_lr * schedule;
        let model = &mut self.weights.model;
        let table = model.puzzle_emb().inner();
        let used = grad.clone().abs().sum_dim(1).greater_elem(0.0).float();
        let decayed = table.clone() - table * used.mul_scalar(lr * p.puzzle_emb_weight_decay);
        let new = decayed - grad.sign().mul_scalar(lr);
        *model = model
            .clone()
            .with_puzzle_emb(Tensor::from_inner(new).require_grad());
    }
}

/// A puzzle run: the learner, the family's data and the RNG of draws and halting exploration.
pub struct PuzzleTask<B: AutodiffBackend> {
    learner: PuzzleLearner<B>,
    data: PuzzleData,
    rng: Rng,
    /// Puzzles that finished (halted) so far.
    puzzles_seen: u64,
    eval_steps: usize,
    device: B::Device,
}

/// What a puzzle checkpoint keeps besides the weights. The carry itself is not saved: a resumed
/// run starts with every slot halted (fresh puzzles), a documented deviation from an exact resume.
#[derive(Serialize, Deserialize)]
pub struct PuzzleState {
    #[serde(default)]
    puzzles_seen: u64,
    rng: Rng,
}

impl<B: AutodiffBackend> TrainTask<B> for PuzzleTask<B> {
    type Model = PuzzleModel<B>;
    type State = PuzzleState;

    /// Only settings that do not shape the weights or the data may change.
    fn check_resume(saved: &Config, config: &Config, run: &RunDir) -> Result<()> {
        let data_of = |p: &PuzzleConfig| {
            (
                p.task.clone(),
                p.train.clone(),
                p.test.clone(),
                p.train_limit,
                p.generate_train,
                p.generate_seed,
                p.puzzle_emb_len,
            )
        };
        if data_of(&saved.puzzle) != data_of(&config.puzzle) {
            bail!(
                "--resume {}: the puzzle data settings cannot change when resuming",
                run.root.display()
            );
        }
        Ok(())
    }

    fn open(config: &Config, _run: &RunDir, _resume: bool, device: &B::Device) -> Result<Self> {
        let data = PuzzleData::load_for_training(&config.puzzle)?;
        Ok(Self::new(config.clone(), data, device))
    }

    fn start_parallel(&mut self, cluster: Cluster<B::Device>) -> Result<()> {
        self.learner.start_parallel(cluster)
    }

    fn weights(&self) -> &Weights<B, PuzzleModel<B>> {
        &self.learner.weights
    }

    fn weights_mut(&mut self) -> &mut Weights<B, PuzzleModel<B>> {
        &mut self.learner.weights
    }

    fn describe(&self) -> String {
        self.data.describe()
    }

    fn state(&self) -> PuzzleState {
        PuzzleState {
            puzzles_seen: self.puzzles_seen,
            rng: self.rng,
        }
    }

    fn restore(&mut self, state: PuzzleState) -> Result<()> {
        self.puzzles_seen = state.puzzles_seen;
        self.rng = state.rng;
        Ok(())
    }

    /// The carry's halting decisions read every update's values back anyway, so the log is ready.
    fn step(&mut self) -> Result<Option<StepLog>> {
        let log = self.learner.train_step(&self.data, &mut self.rng)?;
        self.puzzles_seen += log.halted as u64;
        let batch = self.learner.config.train.batch_size;
        let tokens = (batch * self.data.seq_len) as u64;
        let mut scalars = vec![
            ("halt_loss".to_string(), log.halt),
            ("token_accuracy".into(), log.token_accuracy),
            ("exact_accuracy".into(), log.exact_accuracy),
        ];
        if let Some(s) = log.mean_steps {
            scalars.push(("supervision_steps".into(), s));
        }
        let message = format!(
            "loss {:.3} token acc {:.1}% exact {:.1}%",
            log.lm,
            100.0 * log.token_accuracy,
            100.0 * log.exact_accuracy
        );
        let mut fields = serde_json::to_value(&log)?
            .as_object()
            .cloned()
            .unwrap_or_default();
        fields.insert("puzzles_seen".into(), self.puzzles_seen.into());
        Ok(Some(StepLog {
            loss: log.lm,
            lr: log.lr,
            grad_norm: log.grad_norm,
            tokens,
            scalars,
            fields,
            message,
        }))
    }

    fn evaluate(&mut self) -> Result<Evaluation> {
        let batch = self.learner.config.train.batch_size;
        let ema = &self.learner.weights.ema;
        let (steps, device) = (self.eval_steps, &self.device);
        let test = evaluate_puzzles(ema, &self.data, HeldOut::Test, steps, batch, device)?;
        let val = if self.data.val.is_empty() {
            None
        } else {
            Some(evaluate_puzzles(
                ema,
                &self.data,
                HeldOut::Val,
                steps,
                batch,
                device,
            )?)
        };
        let mut scalars = report_scalars("test", &test);
        let mut fields = json!({ "test": test });
        let mut line = format!("test {}", test.summary());
        if let Some(v) = &val {
            scalars.extend(report_scalars("val", v));
            fields["val"] = json!(v);
            line = format!("val exact {:.2}%; {line}", 100.0 * v.score());
        }
        Ok(Evaluation {
            // the test set is only reported: without validation puzzles no checkpoint is "best"
            score: val.as_ref().map(PuzzleReport::score),
            scalars,
            texts: vec![],
            fields: fields.as_object().cloned().unwrap_or_default(),
            line,
            summary: format!(
                "test (EMA weights, {steps} supervision steps): {}",
                test.summary()
            ),
        })
    }
}

impl<B: AutodiffBackend> PuzzleTask<B> {
    pub fn new(config: Config, data: PuzzleData, device: &B::Device) -> Self {
        let learner = PuzzleLearner::new(config, &data, device);
        let model_steps = learner.weights.model.n_sup();
        Self {
            eval_steps: learner.config.puzzle.eval_steps_for(model_steps),
            rng: Rng::new(learner.config.train.seed),
            learner,
            data,
            puzzles_seen: 0,
            device: device.clone(),
        }
    }
}

/// TensorBoard scalars of a report, under `split/`.
fn report_scalars(split: &str, r: &PuzzleReport) -> Vec<(String, f64)> {
    let f = r.final_step();
    let mut out = vec![
        (format!("{split}/exact_accuracy"), f.exact_accuracy),
        (format!("{split}/token_accuracy"), f.token_accuracy),
    ];
    for s in &r.per_step {
        out.push((
            format!("{split}/exact_accuracy_step{}", s.step),
            s.exact_accuracy,
        ));
    }
    if let Some(h) = f.halt_accuracy {
        out.push((format!("{split}/halt_accuracy"), h));
    }
    if let (Some(a), Some(s)) = (r.adaptive_exact_accuracy, r.adaptive_mean_steps) {
        out.push((format!("{split}/adaptive_exact_accuracy"), a));
        out.push((format!("{split}/adaptive_supervision_steps"), s));
    }
    for (name, value) in &r.family {
        out.push((format!("{split}/{name}"), *value));
    }
    out
}
