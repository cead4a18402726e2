//! `trm eval`: perplexity and bits per byte of a trained language model, or accuracy of a
//! puzzle solver, per supervision step (more steps than trained = test-time compute).

use super::device::{dispatch, Device, OnBackend};
use crate::config::Config;
use crate::data::{eval_windows, expand_paths, Split};
use crate::eval::adaptive::{adaptive_exit, AdaptiveRow, DEFAULT_RULES};
use crate::eval::puzzle::{evaluate_puzzles, HeldOut, PuzzleReport};
use crate::eval::{evaluate_lm, EvalSet, PerplexityReport};
use crate::run::{load_trained, load_trained_puzzle, resolve_checkpoint};
use crate::tasks::text::ExitRule;
use crate::train::loader_configs;
use anyhow::{anyhow, bail, Result};
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
    /// At most this many windows of seq_len tokens (training validates on the first
    /// train.eval_windows of the same windows, 64 by default, so its log can differ).
    #[arg(long, default_value_t = 1024)]
    pub max_windows: usize,
    /// Supervision steps to run (default: the trained N_sup; more is test-time compute).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Also report adaptive depth, as the sampler runs it with the KV cache: each token recurses
    /// (at most --steps) until an exit rule lets it stop, then is frozen. Tries halt:0.5,
    /// halt:0.9 and kl:1e-2 .. kl:1e-4 unless --exit names rules.
    #[arg(long)]
    pub adaptive: bool,
    /// An exit rule for --adaptive (repeatable; implies --adaptive): `kl:EPS` (next-token
    /// distribution changed by less than EPS since the previous step) or `halt:P` (halting
    /// probability reaches P).
    #[arg(long = "exit", value_name = "RULE")]
    pub exits: Vec<ExitRule>,
    /// Print one JSON object instead of Markdown tables.
    #[arg(long)]
    pub json: bool,
    /// cpu, cuda or cuda:N (cuda needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

/// What the language-model evaluation used, beside its report.
struct Used {
    windows: usize,
    seq_len: usize,
    /// The run's own validation windows (not --data), and how many training evaluated.
    run_val_windows: Option<usize>,
}

struct Job(EvalArgs);

impl OnBackend for Job {
    type Output = (PerplexityReport, Option<Vec<AdaptiveRow>>, Used);
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
    ) -> Result<Self::Output> {
        let args = self.0;
        let trained = load_trained::<B::InnerBackend>(&args.checkpoint, None, &device)?;
        let (_, mut val_cfg) = loader_configs(&trained.config)?;
        let own_data = args.data.is_empty() && args.text_column.is_none();
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
        let adaptive = if args.adaptive || !args.exits.is_empty() {
            let rules = if args.exits.is_empty() {
                DEFAULT_RULES.to_vec()
            } else {
                args.exits.clone()
            };
            let rows = adaptive_exit(&trained.model, &set, batch, steps, &rules, &device)
                .map_err(|why| anyhow!("--adaptive: {why}"))?;
            Some(rows)
        } else {
            None
        };
        let used = Used {
            windows: set.windows.len(),
            seq_len: trained.config.train.seq_len,
            run_val_windows: own_data.then_some(trained.config.train.eval_windows),
        };
        Ok((report, adaptive, used))
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
    let json = args.json;
    let (report, replay) = dispatch(args.device, PuzzleJob(args))?;
    if json {
        let steps: Vec<_> = report
            .per_step
            .iter()
            .map(|s| {
                serde_json::json!({
                    "step": s.step,
                    "exact_accuracy": s.exact_accuracy,
                    "token_accuracy": s.token_accuracy,
                    "halt_accuracy": s.halt_accuracy,
                })
            })
            .collect();
        let out = serde_json::json!({
            "checkpoint": checkpoint.display().to_string(),
            "kind": "puzzle",
            "summary": report.summary(),
            "steps": steps,
        });
        println!("{out}");
        return Ok(());
    }
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
    if Config::load_run(&run.config(), &[])?.is_puzzle() {
        return run_puzzle(args);
    }
    let checkpoint = args.checkpoint.clone();
    let (json, max_windows) = (args.json, args.max_windows);
    let (report, adaptive, used) = dispatch(args.device, Job(args))?;
    let bpb = report.bits_per_byte_per_step();
    if json {
        let steps: Vec<_> = report
            .nll_per_step
            .iter()
            .enumerate()
            .map(|(s, nll)| {
                serde_json::json!({
                    "step": s + 1, "nll": nll, "perplexity": nll.exp(), "bits_per_byte": bpb[s],
                })
            })
            .collect();
        let adaptive: Option<Vec<_>> = adaptive.map(|rows| {
            rows.iter()
                .map(|r| {
                    serde_json::json!({
                        "rule": r.rule.to_string(), "mean_steps": r.mean_steps, "perplexity": r.ppl,
                    })
                })
                .collect()
        });
        let out = serde_json::json!({
            "checkpoint": checkpoint.display().to_string(),
            "kind": "language_model",
            "windows": used.windows,
            "seq_len": used.seq_len,
            "tokens": report.tokens,
            "bytes": report.bytes,
            "elbo_bound": report.elbo_bound,
            "steps": steps,
            "adaptive": adaptive,
        });
        println!("{out}");
        return Ok(());
    }
    if report.elbo_bound {
        println!(
            "masked head: perplexity and bits per byte are ELBO upper bounds, not exact values"
        );
    }
    println!(
        "{}: {} windows of {} tokens ({} tokens scored, {} bytes)",
        checkpoint.display(),
        used.windows,
        used.seq_len,
        report.tokens,
        report.bytes
    );
    if let Some(trained_on) = used.run_val_windows.filter(|&w| w != used.windows) {
        let why = if used.windows < max_windows {
            format!("all {} windows of its validation split", used.windows)
        } else {
            format!("the first {max_windows} (--max-windows)")
        };
        println!(
            "note: training's validation log used the first {trained_on} windows (train.eval_windows); this uses {why}, so the numbers differ from the log; --max-windows {trained_on} reproduces the logged value"
        );
    }
    println!("| supervision step | NLL (nats/token) | perplexity | bits per byte |");
    println!("|---|---|---|---|");
    for (s, nll) in report.nll_per_step.iter().enumerate() {
        println!(
            "| {} | {nll:.4} | {:.3} | {:.4} |",
            s + 1,
            nll.exp(),
            bpb[s]
        );
    }
    if let Some(rows) = adaptive {
        let max = report.nll_per_step.len();
        println!("\nAdaptive depth (at most {max} steps; a token stops when the rule lets it, kl:EPS = its next-token distribution moved less than EPS, halt:P = sigmoid(q) >= P):");
        println!("| exit rule | mean supervision steps | steps saved vs {max} | perplexity |");
        println!("|---|---|---|---|");
        for r in rows {
            println!(
                "| {} | {:.3} | {:.1}% | {:.3} |",
                r.rule,
                r.mean_steps,
                100.0 * (1.0 - r.mean_steps / max as f64),
                r.ppl
            );
        }
    }
    Ok(())
}
