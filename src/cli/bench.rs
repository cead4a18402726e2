//! `trm bench`: training and sampling throughput of one or more configs, written to eval/.

use super::device::{dispatch_all, Devices, OnDevices};
use crate::bench::{bench, BenchResult};
use crate::config::Config;
use crate::data::TextTokenizer;
use crate::train::parallel::Cluster;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// TOML config to measure, repeatable: one table row each (language-model configs only;
    /// the tokenizer named in each sets the vocabulary size).
    #[arg(long = "config", required = true)]
    pub configs: Vec<PathBuf>,
    /// Override a config field in every config (repeatable): --set train.batch_size=8
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Timed training batches per config (after one warm-up batch).
    #[arg(long, default_value_t = 5)]
    pub batches: usize,
    /// Tokens to sample for the sampling speed.
    #[arg(long, default_value_t = 32)]
    pub sample_tokens: usize,
    /// cpu, cuda or cuda:N; a comma-separated list (cpu,cpu) measures data-parallel training
    /// with one peer per device.
    #[arg(long, default_value = "cpu")]
    pub device: Devices,
    /// Also write the table to this Markdown file (by default it is only printed, so a run from
    /// the repository never overwrites the committed eval/bench.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

struct Job(BenchArgs);

impl OnDevices for Job {
    type Output = Vec<BenchResult>;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        devices: Vec<B::Device>,
    ) -> Result<Vec<BenchResult>> {
        let args = self.0;
        let cluster = Cluster {
            devices,
            nodes: 1,
            node_rank: 0,
            coordinator: None,
        };
        let mut results = Vec::new();
        for path in &args.configs {
            let config = Config::load(path, &args.overrides)?;
            if config.is_puzzle() {
                anyhow::bail!(
                    "{}: a puzzle config (puzzle.task is set); compare puzzle models with `trm train` and `trm eval`, as in eval/puzzles.md",
                    path.display()
                );
            }
            let vocab = TextTokenizer::from_spec(&config.data.tokenizer)?.vocab_size();
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let r = bench::<B>(
                &name,
                config,
                vocab,
                args.batches,
                args.sample_tokens,
                &cluster,
            )?;
            eprintln!("{}", r.row(&args.device.to_string()));
            results.push(r);
        }
        Ok(results)
    }
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.batches == 0 {
        anyhow::bail!("--batches must be at least 1 (the timed batches after the warm-up)");
    }
    let device = args.device.clone();
    let out = args.out.clone();
    let results = dispatch_all(&device, Job(args))?;
    let mut table = format!("{}\n", BenchResult::HEADER);
    for r in &results {
        table.push_str(&r.row(&device.to_string()));
        table.push('\n');
    }
    // written only where asked: a default path would overwrite the committed eval/bench.md
    if let Some(out) = &out {
        crate::files::write_atomic(out, table.as_bytes())?;
    }
    print!("{table}");
    Ok(())
}
