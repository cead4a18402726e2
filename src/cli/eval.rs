//! `trm eval`: perplexity and bits per byte of a trained language model, or accuracy of a
//! puzzle solver, per supervision step (more steps than trained = test-time compute).

use super::device::{dispatch, Device, OnBackend};
use crate::config::Config;
use crate::data::{eval_windows, expand_paths, Split};
use crate::eval::adaptive::{adaptive_halting, AdaptiveRow};
use crate::eval::puzzle::{evaluate_puzzles, HeldOut, PuzzleReport};
use crate::eval::{evaluate_lm, EvalSet, PerplexityReport};
use crate::run::{load_trained, load_trained_puzzle, resolve_checkpoint};
use crate::train::loader_configs;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run folder (best checkpoint, else latest) or one checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Parquet files or globs to evaluate on (default: the run's validation data).
    #[arg(long, num_args = 1..)]
    pub data: Vec<String>,
    /// Text column of --data (default: the run's).
    #[arg(long)]
    pub text_column: Option<String>,
    /// At most this many windows of seq_len tokens.
    #[arg(long, default_value_t = 1024)]
    pub max_windows: usize,
    /// Supervision steps to run (default: the trained N_sup; more is test-time compute).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Also report adaptive computation: each token stops at the first supervision step whose
    /// halting probability reaches a threshold (0.3, 0.5, 0.7, 0.9, 0.99).
    #[arg(long)]
    pub adaptive: bool,
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

const THRESHOLDS: [f64; 5] = [0.3, 0.5, 0.7, 0.9, 0.99];

struct Job(EvalArgs);

impl OnBackend for Job {
    type Output = (PerplexityReport, Option<Vec<AdaptiveRow>>);
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
    ) -> Result<Self::Output> {
        let args = self.0;
        let trained = load_trained::<B::InnerBackend>(&args.checkpoint, None, &device)?;
        let (_, mut val_cfg) = loader_configs(&trained.config)?;
        if !args.data.is_empty() {
            val_cfg.files = expand_paths(&args.data)?;
            val_cfg.split = Split::All;
        }
        if let Some(column) = args.text_column {
            val_cfg.text_column = column;
        }
        let set = EvalSet::new(
            eval_windows(&val_cfg, &trained.tokenizer, args.max_windows)?,
            &trained.tokenizer,
        );
        let steps = args.steps.unwrap_or(trained.model.n_sup());
        if steps == 0 {
            bail!("--steps must be at least 1");
        }
        let batch = trained.config.train.batch_size;
        let report = evaluate_lm(&trained.model, &set, batch, steps, &device);
        let adaptive = if args.adaptive {
            let rows = adaptive_halting(&trained.model, &set, batch, steps, &THRESHOLDS, &device);
            if rows.is_none() {
                bail!("--adaptive needs a TRM: this model has no halting head");
            }
            rows
        } else {
            None
        };
        Ok((report, adaptive))
    }
}

/// Puzzle runs: accuracy per supervision step on the run's test set.
struct PuzzleJob(EvalArgs);

impl OnBackend for PuzzleJob {
    type Output = (PuzzleReport, Option<String>);
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
    ) -> Result<Self::Output> {
        let args = self.0;
        let t = load_trained_puzzle::<B::InnerBackend>(&args.checkpoint, &device)?;
        let steps = args
            .steps
            .unwrap_or(t.config.puzzle.eval_steps_for(t.model.n_sup()));
        let batch = t.config.train.batch_size;
        if steps == 0 {
            bail!("--steps must be at least 1");
        }
        let report = evaluate_puzzles(&t.model, &t.data, HeldOut::Test, steps, batch, &device)?;
        let replay = t.data.family.replay(
            &t.data.test,
            &mut |examples, s| t.model.predict(examples, s),
            steps,
        );
        Ok((report, replay))
    }
}

fn run_puzzle(args: EvalArgs) -> Result<()> {
    let checkpoint = args.checkpoint.clone();
    let (report, replay) = dispatch(args.device, PuzzleJob(args))?;
    println!("{}: {}", checkpoint.display(), report.summary());
    println!("| supervision steps | exact accuracy | token accuracy | halting accuracy |");
    println!("|---|---|---|---|");
    for s in &report.per_step {
        println!(
            "| {} | {:.2}% | {:.2}% | {} |",
            s.step,
            100.0 * s.exact_accuracy,
            100.0 * s.token_accuracy,
            s.halt_accuracy
                .map_or("-".into(), |h| format!("{:.1}%", 100.0 * h))
        );
    }
    if let Some(table) = replay {
        print!("\n{table}");
    }
    Ok(())
}

pub fn run(args: EvalArgs) -> Result<()> {
    let (run, _) = resolve_checkpoint(&args.checkpoint)?;
    if Config::load(&run.config(), &[])?.is_puzzle() {
        return run_puzzle(args);
    }
    let checkpoint = args.checkpoint.clone();
    let (report, adaptive) = dispatch(args.device, Job(args))?;
    if report.elbo_bound {
        println!(
            "masked head: perplexity and bits per byte are ELBO upper bounds, not exact values"
        );
    }
    println!(
        "{}: {} tokens, {} bytes",
        checkpoint.display(),
        report.tokens,
        report.bytes
    );
    println!("| supervision step | NLL (nats/token) | perplexity | bits per byte |");
    println!("|---|---|---|---|");
    let bpb = report.bits_per_byte_per_step();
    for (s, nll) in report.nll_per_step.iter().enumerate() {
        println!(
            "| {} | {nll:.4} | {:.3} | {:.4} |",
            s + 1,
            nll.exp(),
            bpb[s]
        );
    }
    if let Some(rows) = adaptive {
        println!("\nAdaptive computation (a token stops when sigmoid(q) >= threshold):");
        println!("| threshold | mean supervision steps | perplexity |");
        println!("|---|---|---|");
        for r in rows {
            println!("| {} | {:.3} | {:.3} |", r.threshold, r.mean_steps, r.ppl);
        }
    }
    Ok(())
}
