//! `trm compare`: train (or reuse) several models on the same data, tokenizer, token budget and
//! seed, evaluate them on the same held-out windows, and write a report with plots to eval/.

use super::device::{dispatch, Device, OnBackend};
use crate::config::{Config, ModelKind};
use crate::data::eval_windows;
use crate::eval::compare::{read_curve, write_report, RunResult};
use crate::eval::cost::forward_flops_per_token;
use crate::eval::{evaluate_lm, EvalSet};
use crate::run::Which;
use crate::run::{load_trained, RunDir};
use crate::train::parallel::Cluster;
use crate::train::{loader_configs, train, TrainOptions};
use anyhow::{bail, Context, Result};
use burn::module::Module;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// TOML config of one model, given two or more times; data, tokenizer, steps, batch,
    /// sequence length, evaluation and seed are taken from the first so that every model sees
    /// the same tokens.
    #[arg(long = "config", required = true, num_args = 1)]
    pub configs: Vec<PathBuf>,
    /// Override a config field in every config (repeatable): --set train.steps=500
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Name of the comparison: runs go to RUNS_DIR/NAME/, the report to OUT_DIR/compare-NAME/.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Folder for the runs (one subfolder per comparison name, then per config).
    #[arg(long, default_value = "runs/compare")]
    pub runs_dir: PathBuf,
    /// Folder for the report (written to OUT_DIR/compare-NAME/).
    #[arg(long, default_value = "eval")]
    pub out_dir: PathBuf,
    /// Held-out windows (of train.seq_len tokens) for the final evaluation of every model.
    #[arg(long, default_value_t = 1024)]
    pub eval_windows: usize,
    /// cpu, cuda or cuda:N: one device, the models trained and evaluated one after another.
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

struct Job(CompareArgs, Vec<(String, Config)>);

impl OnBackend for Job {
    type Output = Vec<RunResult>;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
    ) -> Result<Vec<RunResult>> {
        let Job(args, configs) = self;
        let mut results = Vec::new();
        let mut eval_set = None;
        for (name, config) in configs {
            let run_dir = args.runs_dir.join(&args.name).join(&name);
            let run = RunDir::new(&run_dir);
            let done = run
                .checkpoints()
                .resolve(Which::Latest)?
                .is_some_and(|d| d.ends_with(format!("step-{:06}", config.train.steps)));
            if done {
                // a finished run is reused only for the same settings: an edited config under the
                // same name would otherwise report the old model
                let saved = Config::load_run(&run.config(), &[])?;
                if (&saved.model, &saved.data, &saved.train)
                    != (&config.model, &config.data, &config.train)
                {
                    bail!(
                        "{name}: {} holds a finished run with other settings than this config now gives: remove it or use another --name",
                        run_dir.display()
                    );
                }
                eprintln!("{name}: reusing the finished run in {}", run_dir.display());
            } else {
                eprintln!("{name}: training in {}", run_dir.display());
                let resume = run.checkpoints().resolve(Which::Latest)?.is_some();
                train::<B>(
                    TrainOptions {
                        config: config.clone(),
                        run_dir: run_dir.clone(),
                        resume,
                        verbose: true,
                    },
                    &Cluster::single(device.clone()),
                )?;
            }
            let latest = run
                .checkpoints()
                .resolve(Which::Latest)?
                .context("run has no checkpoint")?;
            let trained = load_trained::<B::InnerBackend>(&latest, None, &device)?;
            let set = match &eval_set {
                Some(s) => s,
                None => {
                    let (_, val_cfg) = loader_configs(&config)?;
                    let windows = eval_windows(&val_cfg, &trained.tokenizer, args.eval_windows)?;
                    eval_set.insert(EvalSet::new(windows, &trained.tokenizer))
                }
            };
            // the TRM also past its trained depth: the test-time depth curve of the report
            let trained_steps = trained.model.n_sup();
            let steps = match config.model.kind {
                ModelKind::Trm => 4 * trained_steps,
                ModelKind::Transformer => 1,
            };
            let val = evaluate_lm(&trained.model, set, config.train.batch_size, steps, &device);
            let curve = read_curve(&run.metrics())?;
            let state: serde_json::Value = crate::run::checkpoint::load_state(&latest)?;
            results.push(RunResult {
                name,
                kind: match config.model.kind {
                    ModelKind::Trm => format!(
                        "TRM n={} T={} N_sup={} L={}",
                        config.model.n, config.model.t, config.model.n_sup, config.model.n_layers
                    ),
                    ModelKind::Transformer => format!("transformer L={}", config.model.n_layers),
                },
                parameters: trained.model.num_params(),
                flops_per_token: forward_flops_per_token(
                    &config.model,
                    trained.tokenizer.vocab_size(),
                    config.train.seq_len,
                ),
                train_tokens: state["tokens_seen"].as_u64().unwrap_or(0),
                train_seconds: state["train_seconds"].as_f64().unwrap_or(0.0),
                val,
                trained_steps,
                curve,
            });
        }
        Ok(results)
    }
}

pub fn run(args: CompareArgs) -> Result<()> {
    if args.configs.len() < 2 {
        bail!("trm compare needs at least two --config files");
    }
    let mut configs: Vec<(String, Config)> = Vec::new();
    for path in &args.configs {
        let mut config = Config::load(path, &args.overrides)?;
        if config.is_puzzle() {
            anyhow::bail!(
                "{}: a puzzle config (puzzle.task is set); compare puzzle models with `trm train` and `trm eval`, as in eval/puzzles.md",
                path.display()
            );
        }
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if let Some((_, first)) = configs.first() {
            // Same data, tokenizer, token budget, evaluation and seed for every model.
            config.data = first.data.clone();
            config.sample = first.sample.clone();
            let t = &first.train;
            config.train.steps = t.steps;
            config.train.batch_size = t.batch_size;
            config.train.seq_len = t.seq_len;
            config.train.seed = t.seed;
            config.train.eval_every = t.eval_every;
            config.train.eval_windows = t.eval_windows;
        }
        if configs.iter().any(|(n, _)| n == &name) {
            bail!("two configs are named {name}: give them different file names");
        }
        configs.push((name, config));
    }
    let first = &configs[0].1;
    let setup = format!(
        "Every model: data {:?} (column `{}`), tokenizer `{}`, {} batches of {} x {} tokens, seed {}; \
         validation on the same held-out windows (up to {}), EMA weights. Produced by `trm compare` \
         with {}.",
        first.data.train,
        first.data.text_column,
        first.data.tokenizer,
        first.train.steps,
        first.train.batch_size,
        first.train.seq_len,
        first.train.seed,
        args.eval_windows,
        args.configs.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
    );
    let dir = args.out_dir.join(format!("compare-{}", args.name));
    let title = format!("Comparison `{}`", args.name);
    let results = dispatch(args.device, Job(args, configs))?;
    let path = write_report(&dir, &title, &setup, &results)?;
    println!("{}", std::fs::read_to_string(&path)?);
    println!("report: {}", path.display());
    Ok(())
}
