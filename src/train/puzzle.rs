//! Puzzle training with the official code's persistent carry (TRM-SPEC 3): a batch of slots, each
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

use super::checkpoint::{self, Which};
use super::learner::{update, NonFiniteLoss};
use super::optim::Adam;
use super::schedule::learning_rate;
use super::trainer::{open_metrics, Progress};
use crate::config::{Config, PuzzleConfig};
use crate::data::puzzle::source::PuzzleData;
use crate::data::puzzle::Example;
use crate::eval::puzzle::{evaluate_puzzles, host_f64, puzzle_batch, PuzzleReport};
use crate::log::TbWriter;
use crate::rng::Rng;
use crate::run::RunDir;
use crate::tasks::puzzle::PuzzleModel;
use crate::trm::State;
use anyhow::{bail, Context, Result};
use burn::module::{AutodiffModule, Module};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

pub type PuzzleOptim<B> = burn::optim::adaptor::OptimizerAdaptor<Adam, PuzzleModel<B>, B>;

/// The slots of the persistent batch.
struct Carry<B: Backend> {
    state: Option<State<B>>,
    examples: Vec<Example>,
    /// Supervision steps each slot's puzzle has had.
    steps: Vec<usize>,
    halted: Vec<bool>,
}

pub struct PuzzleLearner<B: AutodiffBackend> {
    pub model: PuzzleModel<B>,
    pub optim: PuzzleOptim<B>,
    pub ema: PuzzleModel<B::InnerBackend>,
    pub config: Config,
    pub updates: u64,
    carry: Carry<B>,
    device: B::Device,
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
        let optim = Adam::from_config(&config.train).init();
        let ema = model.valid();
        let b = config.train.batch_size;
        Self {
            model,
            optim,
            ema,
            updates: 0,
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
        }
    }

    /// One optimizer update: one supervision step for every slot of the carry.
    pub fn train_step(
        &mut self,
        data: &PuzzleData,
        rng: &mut Rng,
    ) -> Result<PuzzleStepLog, NonFiniteLoss> {
        let cfg = self.config.train.clone();
        let n_sup = self.model.n_sup();
        let b = cfg.batch_size;
        let c = &mut self.carry;
        let reset: Vec<bool> = c.halted.clone();
        for (i, _) in reset.iter().enumerate().filter(|(_, r)| **r) {
            c.examples[i] = data.draw(rng);
            c.steps[i] = 0;
        }
        let batch = puzzle_batch::<B>(&c.examples, &self.device);
        let x = self
            .model
            .embed(batch.inputs.clone(), batch.puzzle_ids.clone());
        let fresh = self.model.initial_state(&x);
        let start = match c.state.take() {
            Some(prev) if reset.iter().any(|r| !r) => {
                let [bb, l, d] = x.dims();
                let mask = Tensor::<B, 1, Bool>::from_data(
                    TensorData::new(reset.clone(), [bb]),
                    &self.device,
                )
                .reshape([bb, 1, 1])
                .expand([bb, l, d]);
                State {
                    y: prev.y.mask_where(mask.clone(), fresh.y),
                    z: prev.z.mask_where(mask, fresh.z),
                }
            }
            _ => fresh,
        };
        let out = self.model.supervision_step_grad(&x, start);
        let halt_weight = cfg.halt_loss_weight;
        let loss = self.model.loss(&out, batch.labels, halt_weight);
        let mut log = PuzzleStepLog {
            lm: scalar(loss.lm.clone()),
            halt: scalar(loss.halt.clone()),
            ..Default::default()
        };
        let total_loss = log.lm + halt_weight * log.halt;
        if !total_loss.is_finite() {
            return Err(NonFiniteLoss {
                value: total_loss,
                supervision_step: 1,
            });
        }

        // Halting: the official rule, exploration included (a fresh minimum drawn every step).
        let exact = host_f64(loss.exact.clone());
        let q = out.q.clone().map(host_f64);
        let explore = self.config.puzzle.halt_exploration_prob;
        let c = &mut self.carry;
        let mut steps_sum = 0usize;
        for i in 0..b {
            c.steps[i] += 1;
            let mut halted = c.steps[i] >= n_sup;
            if let (Some(q), true) = (&q, n_sup > 1) {
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
        log.exact_accuracy = exact.iter().sum::<f64>() / b as f64;
        log.token_accuracy = host_f64(loss.token_accuracy.clone()).iter().sum::<f64>() / b as f64;

        let mut grads = GradientsParams::from_grads(loss.total.backward(), &self.model);
        c.state = Some(out.state.detach());
        let total = cfg.steps;
        let lr = learning_rate(&cfg, self.updates, total);
        if let Some(g) = grads.remove::<B::InnerBackend, 2>(self.model.puzzle_emb_id()) {
            self.sign_sgd(g, lr / cfg.lr);
        }
        let step = update(
            &mut self.model,
            &mut self.optim,
            &mut self.ema,
            &cfg,
            self.updates,
            total,
            grads,
            1.0,
        );
        // The puzzle-id table is not averaged: evaluation uses its live values (as the official
        // code, where it is a buffer outside the EMA).
        self.ema = self
            .ema
            .clone()
            .with_puzzle_emb(self.model.puzzle_emb().inner());
        self.updates += 1;
        log.lr = step.lr;
        log.grad_norm = step.grad_norm;
        Ok(log)
    }

    /// Sign-SGD with decoupled weight decay on the rows of the puzzle-id table this batch used
    /// (TRM-SPEC 4): p <- p (1 - lr wd) - lr sign(grad); `schedule` is the learning-rate
    /// schedule's current factor (warm-up).
    fn sign_sgd(&mut self, grad: Tensor<B::InnerBackend, 2>, schedule: f64) {
        let p = &self.config.puzzle;
        let lr = p.puzzle_emb_lr * schedule;
        let table = self.model.puzzle_emb().inner();
        let used = grad.clone().abs().sum_dim(1).greater_elem(0.0).float();
        let decayed = table.clone() - table * used.mul_scalar(lr * p.puzzle_emb_weight_decay);
        let new = decayed - grad.sign().mul_scalar(lr);
        self.model = self
            .model
            .clone()
            .with_puzzle_emb(Tensor::from_inner(new).require_grad());
    }
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_scalar().elem()
}

pub struct PuzzleTrainOptions {
    pub config: Config,
    pub run_dir: PathBuf,
    pub resume: bool,
    pub verbose: bool,
}

#[derive(Debug, Clone)]
pub struct PuzzleSummary {
    pub run_dir: PathBuf,
    pub steps: u64,
    /// The last evaluation (EMA weights).
    pub report: PuzzleReport,
    /// The best validation score seen (exact accuracy; ARC: pass@2), kept as the `best` checkpoint.
    pub best_score: f64,
    pub parameters: usize,
}

/// Everything besides weights and optimizer moments that a resume needs. The carry itself is
/// not saved: a resumed run starts with every slot halted (fresh puzzles), a documented deviation
/// from an exact resume.
#[derive(Serialize, Deserialize)]
struct PuzzleTrainState {
    step: u64,
    puzzles_seen: u64,
    train_seconds: f64,
    best_score: Option<f64>,
    rng: Rng,
}

/// Train a puzzle solver as `config.puzzle` says, logging and checkpointing like the LM trainer.
pub fn train_puzzles<B: AutodiffBackend>(
    opts: PuzzleTrainOptions,
    device: &B::Device,
) -> Result<PuzzleSummary> {
    let run = RunDir::new(&opts.run_dir);
    let config = prepare_run_dir(&run, &opts)?;
    let cfg = &config.train;
    let data = PuzzleData::load(&config.puzzle)?;
    let mut learner = PuzzleLearner::<B>::new(config.clone(), &data, device);
    let eval_steps = config.puzzle.eval_steps_for(learner.model.n_sup());
    let parameters = learner.model.num_params();
    let mut state = PuzzleTrainState {
        step: 0,
        puzzles_seen: 0,
        train_seconds: 0.0,
        best_score: None,
        rng: Rng::new(cfg.seed),
    };
    let checkpoints = run.checkpoints();
    if opts.resume {
        let dir = checkpoints
            .resolve(Which::Latest)?
            .with_context(|| format!("--resume {}: no checkpoint there", run.root.display()))?;
        state = checkpoint::load_state(&dir)?;
        learner.model = checkpoint::load_module(learner.model, &dir, "model", device)?;
        learner.ema = checkpoint::load_module(learner.ema, &dir, "ema", device)?;
        learner.optim = learner
            .optim
            .load_record(checkpoint::load_record(&dir, "optim", device)?);
        learner.updates = state.step;
    }
    let mut tb = TbWriter::new(&run.tensorboard())?;
    if opts.resume {
        tb.session_start(state.step + 1)?;
    }
    let mut metrics = open_metrics(&run, state.step)?;
    let progress = Progress::new(opts.verbose, cfg.steps, state.step);
    progress.println(format!(
        "trm: {parameters} parameters; {}; run folder {}",
        data.describe(),
        run.root.display()
    ));
    let mut last_report = None;
    while state.step < cfg.steps {
        let t0 = Instant::now();
        let log = learner.train_step(&data, &mut state.rng).or_else(|e| {
            let kept = checkpoints.resolve(Which::Latest)?;
            bail!(
                "loss became {} at step {}; stopped. Last good checkpoint: {}",
                e.value,
                state.step + 1,
                kept.map_or("none yet".into(), |p| p.display().to_string())
            )
        })?;
        state.step += 1;
        state.puzzles_seen += log.halted as u64;
        let seconds = t0.elapsed().as_secs_f64();
        state.train_seconds += seconds;
        let step = state.step;
        if step.is_multiple_of(cfg.log_every) || step == cfg.steps {
            tb.scalar("train/loss", log.lm, step)?;
            tb.scalar("train/halt_loss", log.halt, step)?;
            tb.scalar("train/token_accuracy", log.token_accuracy, step)?;
            tb.scalar("train/exact_accuracy", log.exact_accuracy, step)?;
            if let Some(s) = log.mean_steps {
                tb.scalar("train/supervision_steps", s, step)?;
            }
            tb.scalar("train/learning_rate", log.lr, step)?;
            tb.scalar("train/grad_norm", log.grad_norm, step)?;
            tb.scalar(
                "train/puzzle_steps_per_sec",
                cfg.batch_size as f64 / seconds,
                step,
            )?;
        }
        progress.message(
            step,
            format!(
                "loss {:.3} token acc {:.1}% exact {:.1}%",
                log.lm,
                100.0 * log.token_accuracy,
                100.0 * log.exact_accuracy
            ),
        );
        let mut report = None;
        let mut is_best = false;
        if step.is_multiple_of(cfg.eval_every) || step == cfg.steps {
            let r = evaluate_puzzles(&learner.ema, &data, eval_steps, cfg.batch_size, device);
            log_report(&mut tb, &r, step)?;
            is_best = state.best_score.is_none_or(|b| r.score() > b);
            if is_best {
                state.best_score = Some(r.score());
            }
            progress.println(format!("step {step}: test {}", r.summary()));
            report = Some(r);
        }
        write_metrics(
            &mut metrics,
            step,
            &log,
            state.train_seconds,
            report.as_ref(),
        )?;
        if report.is_some() {
            last_report = report;
        }
        if step.is_multiple_of(cfg.checkpoint_every) || step == cfg.steps || is_best {
            checkpoints.save::<B, _, _, _, _>(
                step,
                &learner.model,
                &learner.ema,
                learner.optim.to_record(),
                &state,
                is_best,
            )?;
        }
        tb.flush()?;
    }
    progress.finish();
    let report = match last_report {
        Some(r) => r,
        None => evaluate_puzzles(&learner.ema, &data, eval_steps, cfg.batch_size, device),
    };
    if opts.verbose {
        println!(
            "\ntest (EMA weights, {eval_steps} supervision steps): {}\nbest score {:.2}%; run folder {}",
            report.summary(),
            100.0 * state.best_score.unwrap_or(report.score()),
            run.root.display()
        );
    }
    Ok(PuzzleSummary {
        run_dir: run.root,
        steps: state.step,
        best_score: state.best_score.unwrap_or(report.score()),
        report,
        parameters,
    })
}

fn log_report(tb: &mut TbWriter, r: &PuzzleReport, step: u64) -> Result<()> {
    let f = r.final_step();
    tb.scalar("val/exact_accuracy", f.exact_accuracy, step)?;
    tb.scalar("val/token_accuracy", f.token_accuracy, step)?;
    for s in &r.per_step {
        tb.scalar(
            &format!("val/exact_accuracy_step{}", s.step),
            s.exact_accuracy,
            step,
        )?;
    }
    if let Some(h) = f.halt_accuracy {
        tb.scalar("val/halt_accuracy", h, step)?;
    }
    if let (Some(a), Some(s)) = (r.adaptive_exact_accuracy, r.adaptive_mean_steps) {
        tb.scalar("val/adaptive_exact_accuracy", a, step)?;
        tb.scalar("val/adaptive_supervision_steps", s, step)?;
    }
    if let (Some(p1), Some(p2)) = (r.pass_at_1, r.pass_at_2) {
        tb.scalar("val/pass_at_1", p1, step)?;
        tb.scalar("val/pass_at_2", p2, step)?;
    }
    if let (Some(top1), Some(legal)) = (r.chess_top1, r.chess_legal) {
        tb.scalar("val/chess_top1", top1, step)?;
        tb.scalar("val/chess_legal", legal, step)?;
    }
    Ok(())
}

/// New run: create the folder and save the config. Resume: only settings that do not shape the
/// weights or the data may change.
fn prepare_run_dir(run: &RunDir, opts: &PuzzleTrainOptions) -> Result<Config> {
    if !opts.resume {
        run.create(&opts.config)?;
        return Ok(opts.config.clone());
    }
    let saved = run.resumed_config(&opts.config)?;
    let data_of = |p: &PuzzleConfig| {
        (
            p.task,
            p.train.clone(),
            p.test.clone(),
            p.train_limit,
            p.generate_train,
            p.generate_seed,
            p.puzzle_emb_len,
        )
    };
    if data_of(&saved.puzzle) != data_of(&opts.config.puzzle) {
        bail!(
            "--resume {}: the puzzle data settings cannot change when resuming",
            run.root.display()
        );
    }
    run.save_config(&opts.config)?;
    Ok(opts.config.clone())
}

/// One line of metrics.jsonl for a puzzle run: the update's log, and the test report if any.
fn write_metrics(
    file: &mut std::fs::File,
    step: u64,
    log: &PuzzleStepLog,
    train_seconds: f64,
    report: Option<&PuzzleReport>,
) -> Result<()> {
    let mut line = serde_json::to_value(log)?;
    line["step"] = step.into();
    line["train_seconds"] = train_seconds.into();
    if let Some(r) = report {
        line["test"] = serde_json::to_value(r)?;
    }
    writeln!(file, "{line}")?;
    Ok(())
}
