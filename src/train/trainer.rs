//! The training loop: one batch from the corpus to the optimizer, with deep supervision.
//!
//! For each batch: embed x, start (y, z), then for each of N_sup supervision steps run
//! deep_recursion, take the next-token loss on y, backpropagate, and either step the optimizer
//! (`per_step`, the paper's pseudocode) or accumulate (`accumulate`); (y, z) is carried detached.

use super::checkpoint::{self, Which};
use super::learner::{BatchLog, Learner};
use crate::config::Config;
use crate::data::{
    eval_windows, expand_paths, LoaderConfig, LoaderState, Split, TextTokenizer, TokenLoader,
};
use crate::eval::perplexity::{evaluate_lm, EvalSet, PerplexityReport};
use crate::log::TbWriter;
use crate::rng::Rng;
use crate::run::{ensure_same_tokenizer, RunDir};
use crate::sample::{sample_text, SamplingParams};
use crate::tasks::text::TextLm;
use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::optim::Optimizer;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

pub struct TrainOptions {
    pub config: Config,
    pub run_dir: PathBuf,
    /// Continue from the run folder's latest checkpoint (config and tokenizer come from the folder).
    pub resume: bool,
    /// Print progress and the final sample.
    pub verbose: bool,
}

#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    pub steps: u64,
    pub val: PerplexityReport,
    /// exp(entropy of the validation tokens' own unigram distribution): the best any unigram model can do.
    pub unigram_ppl: f64,
    pub tokens_per_sec: f64,
    pub sample: String,
    pub parameters: usize,
}

/// Everything besides the weights and optimizer moments that an exact resume needs.
#[derive(Serialize, Deserialize)]
struct TrainState {
    /// Batches completed.
    step: u64,
    /// Optimizer updates made (differs from `step` with per-step supervision).
    updates: u64,
    tokens_seen: u64,
    /// Seconds spent in training batches (evaluation excluded), summed across resumes.
    #[serde(default)]
    train_seconds: f64,
    best_val_nll: Option<f64>,
    /// Draws the masked head's masking rates and positions.
    #[serde(default = "default_noise_rng")]
    noise_rng: Rng,
    loader: LoaderState,
    tokenizer: String,
}

fn default_noise_rng() -> Rng {
    Rng::new(0x5eed)
}

pub fn train<B: AutodiffBackend>(opts: TrainOptions, device: &B::Device) -> Result<TrainSummary> {
    let run = RunDir::new(&opts.run_dir);
    let (config, tokenizer) = prepare_run_dir(&run, &opts)?;
    let cfg = &config.train;

    let (train_cfg, val_cfg) = loader_configs(&config)?;
    let mut loader = TokenLoader::new(train_cfg, tokenizer.clone())?;
    let val_set = EvalSet::new(
        eval_windows(&val_cfg, &tokenizer, cfg.eval_windows)?,
        &tokenizer,
    );
    let unigram_ppl = unigram_perplexity(&val_set.windows, tokenizer.vocab_size());

    let mut learner = Learner::<B>::new(config.clone(), tokenizer.vocab_size(), device);
    let parameters = learner.model.num_params();
    let mut state = TrainState {
        step: 0,
        updates: 0,
        tokens_seen: 0,
        train_seconds: 0.0,
        best_val_nll: None,
        noise_rng: default_noise_rng(),
        loader: loader.state(),
        tokenizer: tokenizer.fingerprint(),
    };
    let checkpoints = run.checkpoints();
    if opts.resume {
        let dir = checkpoints.resolve(Which::Latest)?.with_context(|| {
            format!(
                "--resume {}: the folder holds no checkpoint",
                run.root.display()
            )
        })?;
        state = checkpoint::load_state(&dir)?;
        ensure_same_tokenizer(
            &tokenizer,
            &state.tokenizer,
            &run.tokenizer().display().to_string(),
        )?;
        learner.model = checkpoint::load_module(learner.model, &dir, "model", device)?;
        learner.ema = checkpoint::load_module(learner.ema, &dir, "ema", device)?;
        learner.optim = learner
            .optim
            .load_record(checkpoint::load_record(&dir, "optim", device)?);
        learner.updates = state.updates;
        loader.restore(state.loader.clone())?;
    }

    let mut tb = TbWriter::new(&run.tensorboard())?;
    if opts.resume {
        tb.session_start(state.step + 1)?;
    }
    let mut metrics = Metrics::open(&run, state.step)?;
    let tokens_per_batch = (cfg.batch_size * cfg.seq_len) as u64;
    let progress = Progress::new(opts.verbose, cfg.steps, state.step);
    if opts.verbose {
        progress.println(format!(
            "trm: {parameters} parameters, tokenizer {}, {} validation tokens (unigram perplexity {unigram_ppl:.1}), run folder {}",
            tokenizer.describe(),
            val_set.tokens(),
            run.root.display()
        ));
    }
    let started = Instant::now();
    let start_step = state.step;
    let mut last_val: Option<PerplexityReport> = None;

    while state.step < cfg.steps {
        let t0 = Instant::now();
        let batch = loader.next_batch()?;
        let batch = learner.model.batch(&batch, &mut state.noise_rng, device);
        let log = learner.train_batch(batch).or_else(|e| {
            let kept = checkpoints.resolve(Which::Latest)?;
            bail!(
                "loss became {} at step {} (supervision step {}); stopped. Last good checkpoint: {}",
                e.value,
                state.step + 1,
                e.supervision_step,
                kept.map_or("none yet".into(), |p| p.display().to_string())
            )
        })?;
        state.step += 1;
        state.tokens_seen += tokens_per_batch;
        let step = state.step;
        let batch_seconds = t0.elapsed().as_secs_f64();
        state.train_seconds += batch_seconds;
        let tok_per_sec = tokens_per_batch as f64 / batch_seconds;
        state.updates = learner.updates;
        let final_loss = log.final_loss();
        if step.is_multiple_of(cfg.log_every) || step == cfg.steps {
            tb.scalar("train/loss", final_loss, step)?;
            tb.scalar("train/perplexity", final_loss.exp(), step)?;
            for (s, l) in log.lm.iter().enumerate() {
                tb.scalar(&format!("train/perplexity_step{}", s + 1), l.exp(), step)?;
            }
            tb.scalar("train/halt_loss", mean(&log.halt), step)?;
            tb.scalar("train/token_accuracy", *log.accuracy.last().unwrap(), step)?;
            tb.scalar("train/learning_rate", log.lr, step)?;
            tb.scalar("train/grad_norm", log.grad_norm, step)?;
            tb.scalar("train/tokens_per_sec", tok_per_sec, step)?;
        }
        progress.update(step, final_loss, tok_per_sec);

        let eval_now = step.is_multiple_of(cfg.eval_every) || step == cfg.steps;
        let mut is_best = false;
        let mut report = None;
        if eval_now {
            let ema_model = &learner.ema;
            let val = evaluate_lm(
                ema_model,
                &val_set,
                cfg.batch_size,
                ema_model.n_sup(),
                device,
            );
            // The masked head's numbers are ELBO upper bounds: logged under their own name.
            let v = if val.elbo_bound {
                "val_elbo_bound"
            } else {
                "val"
            };
            tb.scalar(&format!("{v}/loss"), val.final_nll(), step)?;
            tb.scalar(&format!("{v}/perplexity"), val.final_ppl(), step)?;
            tb.scalar(
                &format!("{v}/bits_per_byte"),
                val.final_bits_per_byte(),
                step,
            )?;
            for (s, p) in val.ppl_per_step().iter().enumerate() {
                tb.scalar(&format!("{v}/perplexity_step{}", s + 1), *p, step)?;
            }
            let sample = sample(ema_model, &tokenizer, &config, device, &mut std::io::sink());
            tb.text("samples/generation", &format!("```\n{sample}\n```"), step)?;
            is_best = state.best_val_nll.is_none_or(|b| val.final_nll() < b);
            if is_best {
                state.best_val_nll = Some(val.final_nll());
            }
            progress.println(format!(
                "step {step}: val perplexity {}{:.2} (per supervision step: {})",
                if val.elbo_bound { "<= " } else { "" },
                val.final_ppl(),
                val.ppl_per_step()
                    .iter()
                    .map(|p| format!("{p:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            report = Some(val);
        }
        metrics.write(
            step,
            &log,
            state.tokens_seen,
            state.train_seconds,
            report.as_ref(),
        )?;
        if report.is_some() {
            last_val = report;
        }
        if step.is_multiple_of(cfg.checkpoint_every) || step == cfg.steps || is_best {
            state.loader = loader.state();
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

    let ema_model = learner.ema;
    let val = match last_val {
        Some(v) => v,
        None => evaluate_lm(
            &ema_model,
            &val_set,
            cfg.batch_size,
            ema_model.n_sup(),
            device,
        ),
    };
    let elapsed = started.elapsed().as_secs_f64();
    let tokens_per_sec =
        (state.step - start_step) as f64 * tokens_per_batch as f64 / elapsed.max(1e-9);
    let sample = if opts.verbose {
        println!("\nSample (EMA weights, prompt {:?}):", config.sample.prompt);
        let s = sample(
            &ema_model,
            &tokenizer,
            &config,
            device,
            &mut std::io::stdout(),
        );
        println!();
        s
    } else {
        sample(
            &ema_model,
            &tokenizer,
            &config,
            device,
            &mut std::io::sink(),
        )
    };
    if opts.verbose {
        println!(
            "\nvalidation perplexity {}{:.2} (unigram baseline {unigram_ppl:.1}); {:.0} tokens/s; run folder {}",
            if val.elbo_bound { "<= " } else { "" },
            val.final_ppl(),
            tokens_per_sec,
            run.root.display()
        );
    }
    Ok(TrainSummary {
        run_dir: run.root,
        steps: state.step,
        val,
        unigram_ppl,
        tokens_per_sec,
        sample,
        parameters,
    })
}

/// New run: create the folder, save config and tokenizer. Resume: read them back from the folder.
fn prepare_run_dir(run: &RunDir, opts: &TrainOptions) -> Result<(Config, TextTokenizer)> {
    if opts.resume {
        let saved = run.resumed_config(&opts.config)?;
        if saved.data.tokenizer != opts.config.data.tokenizer {
            bail!(
                "--resume {}: data.tokenizer cannot change when resuming",
                run.root.display()
            );
        }
        // Other overrides (more steps, another learning rate) become part of the run's config.
        run.save_config(&opts.config)?;
        let tokenizer = TextTokenizer::from_file(&run.tokenizer())?;
        return Ok((opts.config.clone(), tokenizer));
    }
    let tokenizer = TextTokenizer::from_spec(&opts.config.data.tokenizer)?;
    run.create(&opts.config)?;
    tokenizer.save(&run.tokenizer())?;
    Ok((opts.config.clone(), tokenizer))
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

fn sampling_params(config: &Config, tokenizer: &TextTokenizer) -> SamplingParams {
    let s = &config.sample;
    SamplingParams {
        max_new_tokens: s.max_new_tokens,
        temperature: s.temperature,
        top_k: s.top_k,
        top_p: s.top_p,
        seed: config.train.seed,
        stop_token: Some(tokenizer.eot_id()),
        cache: true,
        diffusion_steps: s.steps,
        halt_threshold: None,
    }
}

/// The configured sample from `model`, streamed to `out`.
fn sample<B: Backend>(
    model: &TextLm<B>,
    tok: &TextTokenizer,
    config: &Config,
    device: &B::Device,
    out: &mut dyn std::io::Write,
) -> String {
    let params = sampling_params(config, tok);
    sample_text(model, tok, &config.sample.prompt, &params, device, out)
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

/// metrics.jsonl: one line per batch. On resume, lines past the checkpoint's step are dropped so
/// the file reads as one uninterrupted run.
struct Metrics {
    file: std::fs::File,
}

impl Metrics {
    fn open(run: &RunDir, resume_step: u64) -> Result<Self> {
        Ok(Self {
            file: open_metrics(run, resume_step)?,
        })
    }

    fn write(
        &mut self,
        step: u64,
        log: &BatchLog,
        tokens: u64,
        train_seconds: f64,
        val: Option<&PerplexityReport>,
    ) -> Result<()> {
        let mut line = serde_json::json!({
            "step": step,
            "tokens": tokens,
            "train_seconds": train_seconds,
            "loss": log.final_loss(),
            "loss_per_step": log.lm,
            "halt_loss": log.halt,
            "accuracy": log.accuracy,
            "lr": log.lr,
            "grad_norm": log.grad_norm,
        });
        if let Some(v) = val {
            line["val_ppl"] = v.final_ppl().into();
            line["val_ppl_per_step"] = v.ppl_per_step().into();
            line["val_bits_per_byte"] = v.final_bits_per_byte().into();
        }
        writeln!(self.file, "{line}")?;
        Ok(())
    }
}

/// Open metrics.jsonl for appending, first dropping lines past `resume_step` (a resumed run
/// then reads as one uninterrupted run).
pub(super) fn open_metrics(run: &RunDir, resume_step: u64) -> Result<std::fs::File> {
    let path = run.metrics();
    let kept: String = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                .is_some_and(|s| s <= resume_step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    checkpoint::write_atomic(&path, kept.as_bytes())?;
    Ok(std::fs::OpenOptions::new().append(true).open(&path)?)
}

/// A progress bar on a terminal; plain lines every few seconds otherwise (CI logs, pipes).
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    verbose: bool,
    last_line: std::cell::Cell<Instant>,
}

impl Progress {
    pub(super) fn new(verbose: bool, steps: u64, start: u64) -> Self {
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
        }
    }

    fn update(&self, step: u64, loss: f64, tok_per_sec: f64) {
        self.message(
            step,
            format!(
                "loss {loss:.3} ppl {:.2} {tok_per_sec:.0} tok/s",
                loss.exp()
            ),
        );
    }

    pub(super) fn message(&self, step: u64, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
            bar.set_position(step);
        } else if self.verbose && self.last_line.get().elapsed().as_secs_f64() > 10.0 {
            eprintln!("step {step}: {msg}");
            self.last_line.set(Instant::now());
        }
    }

    pub(super) fn println(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None if self.verbose => eprintln!("{line}"),
            None => {}
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
