//! The one training loop, for every task: run folder, resume, cadence (log / evaluate /
//! checkpoint), NaN stop, progress, TensorBoard and metrics.jsonl. A task says what one training
//! step and one evaluation are ([`TrainTask`]); the language model and the puzzle solver are two.
//!
//! ```text
//! open the task (data, tokenizer, model); create or resume the run folder
//! while step < train.steps:
//!     log <- task.step()                      (a batch of deep supervision, or one carry update)
//!     every log_every: TensorBoard scalars;  every eval_every: task.evaluate() on the EMA weights
//!     metrics.jsonl line;  every checkpoint_every (and at a new best): checkpoint
//! ```

use super::parallel::Cluster;
use super::weights::Weights;
use crate::config::Config;
use crate::files::write_atomic;
use crate::log::TbWriter;
use crate::run::{Checkpoints, RunDir, RunLock, Which};
use anyhow::{bail, Context, Result};
use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct TrainOptions {
    pub config: Config,
    pub run_dir: PathBuf,
    /// Continue from the run folder's latest checkpoint (config and tokenizer come from the folder).
    pub resume: bool,
    /// Print progress and the final sample.
    pub verbose: bool,
}

/// A loss that is NaN or infinite, with where it happened: the error that stops training.
#[derive(Debug)]
pub struct NonFiniteLoss {
    pub value: f64,
    /// The supervision step of the batch, where a step has several.
    pub supervision_step: Option<usize>,
    /// Whether the loss was computed with the weights the step started from (those of the latest
    /// checkpoint when one was just saved): then that checkpoint is poisoned too.
    pub with_saved_weights: bool,
    /// For a flushed log: which of the steps awaiting their logs it was (0 = the oldest).
    pub deferred_index: Option<usize>,
}

impl std::fmt::Display for NonFiniteLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "loss became {}", self.value)
    }
}

impl std::error::Error for NonFiniteLoss {}

/// What one training step did, as host numbers.
#[derive(Debug, Default)]
pub struct StepLog {
    pub loss: f64,
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Tokens the step trained on (the whole batch).
    pub tokens: u64,
    /// The task's own TensorBoard scalars, named under train/.
    pub scalars: Vec<(String, f64)>,
    /// The task's own fields of the metrics.jsonl line.
    pub fields: Map<String, Value>,
    /// Progress text.
    pub message: String,
}

/// What one evaluation found.
#[derive(Debug, Default, Clone)]
pub struct Evaluation {
    /// Higher is better: the `best` checkpoint has the highest. None: this evaluation chooses
    /// no checkpoint (a puzzle run without validation puzzles).
    pub score: Option<f64>,
    /// TensorBoard scalars, full tags.
    pub scalars: Vec<(String, f64)>,
    /// TensorBoard text, full tags.
    pub texts: Vec<(String, String)>,
    /// Fields added to the metrics.jsonl line of the step.
    pub fields: Map<String, Value>,
    /// One line for the log during training.
    pub line: String,
    /// The same result as the run's closing line.
    pub summary: String,
}

/// A kind of training run, as the loop sees it.
pub trait TrainTask<B: AutodiffBackend>: Sized {
    type Model: AutodiffModule<B>;
    /// What a checkpoint keeps besides the weights and the loop's counters (data position, RNGs).
    type State: Serialize + DeserializeOwned;

    /// Refuse a resume whose settings would not fit the saved run (model.* is checked already).
    fn check_resume(saved: &Config, config: &Config, run: &RunDir) -> Result<()>;
    /// Read the data and the tokenizer (on resume, the run folder's), build the model. Writes
    /// nothing.
    fn open(config: &Config, run: &RunDir, resume: bool, device: &B::Device) -> Result<Self>;
    /// Write what a new run folder keeps besides config.toml (the tokenizer).
    fn save_files(&self, _run: &RunDir) -> Result<()> {
        Ok(())
    }
    fn weights(&self) -> &Weights<B, Self::Model>;
    fn weights_mut(&mut self) -> &mut Weights<B, Self::Model>;
    /// One line for the start of the run.
    fn describe(&self) -> String;
    fn state(&self) -> Self::State;
    /// From the next step on, train data-parallel over the cluster's peers (called once, after
    /// any checkpoint is loaded, so that every peer starts from the same weights).
    fn start_parallel(&mut self, cluster: Cluster<B::Device>) -> Result<()> {
        let _ = cluster;
        bail!("this task cannot train data-parallel (give one --device)")
    }
    fn restore(&mut self, state: Self::State) -> Result<()>;
    /// One training step: a batch of deep supervision, or one update of the persistent carry.
    /// Its log, or None while its numbers are still on the device (read by [`Self::flush`]).
    /// A [`NonFiniteLoss`] error stops the run naming the last good checkpoint.
    fn step(&mut self) -> Result<Option<StepLog>>;
    /// The logs of the steps that returned None, oldest first, read back together: the loop
    /// flushes at logging, evaluation and checkpoint steps, so a GPU is waited for once per
    /// interval, not once per step. A [`NonFiniteLoss`] names the step by `deferred_index`.
    fn flush(&mut self) -> Result<Vec<StepLog>> {
        Ok(Vec::new())
    }
    /// Evaluate the EMA weights.
    fn evaluate(&mut self) -> Result<Evaluation>;
    /// After training (the language model prints its sample when `verbose`).
    fn finish(&mut self, _verbose: bool) -> Result<()> {
        Ok(())
    }
}

/// The loop's own counters in every checkpoint's state.json, with the task's state beside them.
#[derive(Serialize, Deserialize)]
struct LoopState<S> {
    /// Training steps done.
    step: u64,
    /// Optimizer updates made (several per step with per-step deep supervision). Missing in
    /// puzzle checkpoints of older versions, which made one per step.
    #[serde(default)]
    updates: Option<u64>,
    #[serde(default)]
    tokens_seen: u64,
    /// Seconds spent in training steps (evaluation excluded), summed across resumes.
    #[serde(default)]
    train_seconds: f64,
    #[serde(default)]
    best_score: Option<f64>,
    /// Language-model checkpoints of older versions kept the best validation NLL instead.
    #[serde(default, skip_serializing)]
    best_val_nll: Option<f64>,
    #[serde(flatten)]
    task: S,
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_dir: PathBuf,
    pub steps: u64,
    pub parameters: usize,
    /// The last evaluation (EMA weights).
    pub last: Evaluation,
    /// None when no evaluation chose a checkpoint.
    pub best_score: Option<f64>,
    /// Training tokens per second of this invocation, evaluation included.
    pub tokens_per_sec: f64,
}

/// Train `T` as `opts` says: a new run, or the resumed one.
pub fn run<B: AutodiffBackend, T: TrainTask<B>>(
    opts: TrainOptions,
    cluster: &Cluster<B::Device>,
) -> Result<RunSummary> {
    let device = &cluster.devices[0];
    run_with(opts, |c, r, resume| T::open(c, r, resume, device), cluster)
}

/// [`run`] with a task built by `open` (config, run folder, resume?) instead of
/// [`TrainTask::open`]: a puzzle family that is not registered, for example.
pub fn run_with<B: AutodiffBackend, T: TrainTask<B>>(
    opts: TrainOptions,
    open: impl FnOnce(&Config, &RunDir, bool) -> Result<T>,
    cluster: &Cluster<B::Device>,
) -> Result<RunSummary> {
    let device = &cluster.devices[0];
    let run = RunDir::new(&opts.run_dir);
    let config = &opts.config;
    cluster.check_batch(config.train.batch_size, "train.batch_size")?;
    // before any check reads the folder: two processes never share one
    let mut lock = RunLock::acquire(&run.root, !opts.resume)?;
    if opts.resume {
        let saved = run.resumed_config(config)?;
        T::check_resume(&saved, config, &run)?;
    } else {
        run.check_new()?;
    }
    let mut task = open(config, &run, opts.resume)?;
    let cfg = &config.train;
    let checkpoints = run.checkpoints();
    let mut state = LoopState {
        step: 0,
        updates: Some(0),
        tokens_seen: 0,
        train_seconds: 0.0,
        best_score: None,
        best_val_nll: None,
        task: task.state(),
    };
    if opts.resume {
        let dir = checkpoints.resolve(Which::Latest)?.with_context(|| {
            format!(
                "--resume {}: the folder holds no checkpoint",
                run.root.display()
            )
        })?;
        state = crate::run::checkpoint::load_state(&dir)?;
        state.best_score = state.best_score.or(state.best_val_nll.map(|nll| -nll));
        // the task's own checks first (a replaced tokenizer is named as such, not as weights
        // that do not fit a vocabulary)
        task.restore(std::mem::replace(&mut state.task, task.state()))?;
        task.weights_mut().load(&dir, cfg, device)?;
        task.weights_mut().updates = state.updates.unwrap_or(state.step);
        // Other overrides (more steps, another learning rate) become part of the run's config.
        run.save_config(config)?;
    } else {
        run.create(config)?;
        task.save_files(&run)?;
    }
    lock.started();

    if cluster.is_parallel() {
        task.start_parallel(cluster.clone())?;
    }
    let parameters = task.weights().model.num_params();
    let mut tb = TbWriter::new(&run.tensorboard())?;
    if opts.resume {
        tb.session_start(state.step + 1)?;
    }
    let mut metrics = open_metrics(&run.metrics(), state.step)?;
    let progress = Progress::new(opts.verbose, cfg.steps, state.step);
    let peers = if cluster.is_parallel() {
        format!(
            "; data-parallel over {} peers ({} here, node {} of {})",
            cluster.peers(),
            cluster.devices.len(),
            cluster.node_rank,
            cluster.nodes
        )
    } else {
        String::new()
    };
    progress.println(format!(
        "trm: {parameters} parameters; {}{peers}; run folder {}",
        task.describe(),
        run.root.display()
    ));
    let started = Instant::now();
    let start_tokens = state.tokens_seen;
    let mut last = None;
    // The step of the latest checkpoint while it has not yet shown a finite loss with its weights
    // (a resumed one is certified by its first step, a new one by the step after it).
    let mut saved_at = opts.resume.then_some(state.step);

    // Steps trained whose logs are not written yet: (step, seconds, the log when it came at once).
    let mut queued: Vec<(u64, f64, Option<StepLog>)> = Vec::new();
    while state.step < cfg.steps {
        let t0 = Instant::now();
        let ready = task
            .step()
            .or_else(|e| stop_on_non_finite(e, state.step + 1, &checkpoints, saved_at))?;
        state.step += 1;
        let step = state.step;
        queued.push((step, t0.elapsed().as_secs_f64(), ready));
        let evaluate = step.is_multiple_of(cfg.eval_every) || step == cfg.steps;
        let save = step.is_multiple_of(cfg.checkpoint_every) || step == cfg.steps;
        if !(evaluate || save || step.is_multiple_of(cfg.log_every)) {
            continue;
        }
        // one read of every waiting step's numbers
        let first = queued[0].0;
        let mut flushed = task
            .flush()
            .or_else(|e| {
                let index = e
                    .downcast_ref::<NonFiniteLoss>()
                    .and_then(|n| n.deferred_index)
                    .unwrap_or(0);
                stop_on_non_finite(e, first + index as u64, &checkpoints, saved_at)
            })?
            .into_iter();
        // every loss since the latest checkpoint was finite: its weights are good
        if saved_at.is_some() {
            checkpoints.certify()?;
            saved_at = None;
        }
        for (step, seconds, ready) in std::mem::take(&mut queued) {
            let log = ready
                .or_else(|| flushed.next())
                .context("a training step left no log")?;
            state.tokens_seen += log.tokens;
            state.train_seconds += seconds;
            let tokens_per_sec = log.tokens as f64 / seconds.max(1e-9);
            if step.is_multiple_of(cfg.log_every) || step == cfg.steps {
                tb.scalar("train/loss", log.loss, step)?;
                for (name, value) in &log.scalars {
                    tb.scalar(&format!("train/{name}"), *value, step)?;
                }
                tb.scalar("train/learning_rate", log.lr, step)?;
                tb.scalar("train/grad_norm", log.grad_norm, step)?;
                tb.scalar("train/tokens_per_sec", tokens_per_sec, step)?;
            }
            progress.message(step, format!("{} {tokens_per_sec:.0} tok/s", log.message));

            let mut evaluation = None;
            let mut is_best = false;
            let last_step = step == state.step;
            if last_step && evaluate {
                let e = task.evaluate()?;
                for (tag, value) in &e.scalars {
                    tb.scalar(tag, *value, step)?;
                }
                for (tag, text) in &e.texts {
                    tb.text(tag, text, step)?;
                }
                is_best = e
                    .score
                    .is_some_and(|s| state.best_score.is_none_or(|b| s > b));
                if is_best {
                    state.best_score = e.score;
                }
                progress.println(format!("step {step}: {}", e.line));
                evaluation = Some(e);
            }
            let mut line = Map::new();
            line.insert("step".into(), step.into());
            line.insert("tokens".into(), state.tokens_seen.into());
            line.insert("train_seconds".into(), state.train_seconds.into());
            line.insert("loss".into(), log.loss.into());
            line.insert("lr".into(), log.lr.into());
            line.insert("grad_norm".into(), log.grad_norm.into());
            line.extend(log.fields);
            if let Some(e) = &evaluation {
                line.extend(e.fields.clone());
            }
            writeln!(metrics, "{}", Value::Object(line))
                .with_context(|| format!("cannot write {}", run.metrics().display()))?;
            if evaluation.is_some() {
                last = evaluation;
            }
            if last_step && (save || is_best) {
                if !task.weights().finite() {
                    let good = checkpoints.resolve(Which::Good)?;
                    bail!(
                        "the weights became NaN or infinite at step {step} (the loss before the update was {}); stopped without saving them. Last good checkpoint: {}",
                        log.loss,
                        good.map_or("none yet".into(), |p| p.display().to_string())
                    );
                }
                state.updates = Some(task.weights().updates);
                state.task = task.state();
                task.weights().save(&checkpoints, step, &state, is_best)?;
                saved_at = Some(step);
            }
        }
        tb.flush()?;
    }
    progress.finish();

    let last = match last {
        Some(e) => e,
        None => task.evaluate()?,
    };
    let tokens_per_sec =
        (state.tokens_seen - start_tokens) as f64 / started.elapsed().as_secs_f64().max(1e-9);
    task.finish(opts.verbose)?;
    if opts.verbose {
        println!(
            "\n{}; {tokens_per_sec:.0} tokens/s; run folder {}",
            last.summary,
            run.root.display()
        );
    }
    Ok(RunSummary {
        run_dir: run.root,
        steps: state.step,
        parameters,
        best_score: state.best_score.or(last.score),
        last,
        tokens_per_sec,
    })
}

/// Open metrics.jsonl for appending, first dropping lines past `resume_step` (a resumed run
/// then reads as one uninterrupted run).
/// metrics.jsonl for appending, without the lines of steps after `resume_step` (a resume redoes
/// them). Lines are kept byte for byte: a damaged line (invalid UTF-8, cut JSON) of an earlier
/// step cannot cost the rest of the history; only lines that name a later step go.
fn open_metrics(path: &Path, resume_step: u64) -> Result<std::fs::File> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut kept = Vec::with_capacity(bytes.len());
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let step = serde_json::from_slice::<Value>(line)
            .ok()
            .and_then(|v| v.get("step").and_then(|s| s.as_u64()));
        if step.is_none_or(|s| s <= resume_step) {
            kept.extend_from_slice(line);
            kept.push(b'\n');
        }
    }
    write_atomic(path, &kept)?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// A progress bar on a terminal; plain lines every few seconds otherwise (CI logs, pipes).
struct Progress {
    bar: Option<ProgressBar>,
    verbose: bool,
    last_line: std::cell::Cell<Instant>,
    /// For the plain lines: the run's length and where and when this invocation started.
    steps: u64,
    start: u64,
    started: Instant,
}

impl Progress {
    fn new(verbose: bool, steps: u64, start: u64) -> Self {
        let bar = (verbose && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let bar = ProgressBar::new(steps);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} step {pos}/{len} {msg} ETA {eta}")
                    .expect("valid template"),
            );
            bar.set_position(start);
            bar
        });
        Self {
            bar,
            verbose,
            last_line: std::cell::Cell::new(Instant::now()),
            steps,
            start,
            started: Instant::now(),
        }
    }

    fn message(&self, step: u64, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
            bar.set_position(step);
        } else if self.verbose && self.last_line.get().elapsed().as_secs_f64() > 10.0 {
            // redirected output (CI logs, pipes) gets the total and an ETA as the bar shows them
            let done = step.saturating_sub(self.start).max(1) as f64;
            let left = self.steps.saturating_sub(step) as f64;
            let eta = (self.started.elapsed().as_secs_f64() / done * left).round() as u64;
            eprintln!(
                "step {step}/{}: {msg} ETA {}m{:02}s",
                self.steps,
                eta / 60,
                eta % 60
            );
            self.last_line.set(Instant::now());
        }
    }

    fn println(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None if self.verbose => eprintln!("{line}"),
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// The error that stops a run at a non-finite loss at `step`: a checkpoint whose weights produced
/// it is discarded (see [`Checkpoints::discard_latest`]) and the good one is named.
fn stop_on_non_finite<T>(
    e: anyhow::Error,
    step: u64,
    checkpoints: &Checkpoints,
    saved_at: Option<u64>,
) -> Result<T> {
    let Some(e) = e.downcast_ref::<NonFiniteLoss>() else {
        return Err(e);
    };
    // a checkpoint is good once a loss computed with its weights is finite
    let good = match saved_at {
        Some(saved) if step == saved + 1 && e.with_saved_weights => checkpoints.discard_latest()?,
        Some(_) => {
            checkpoints.certify()?;
            checkpoints.resolve(Which::Good)?
        }
        None => checkpoints.resolve(Which::Good)?,
    };
    bail!(
        "loss became {} at step {step}{}; stopped. Last good checkpoint: {}",
        e.value,
        e.supervision_step
            .map_or(String::new(), |s| format!(" (supervision step {s})")),
        good.map_or("none yet".into(), |p| p.display().to_string())
    )
}
