//! `trm solve`: a puzzle run's (or an imported official model's) answers to the puzzles of an
//! official-format CSV, written as a CSV.

use super::device::{dispatch, Device, OnBackend};
use crate::data::puzzle::csv::{read_questions, write_table};
use crate::eval::solve::{solve, Solution, SolveOptions};
use crate::run::load_puzzle_solver;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SolveArgs {
    /// A puzzle run folder (best checkpoint, else latest), one checkpoint folder, or a folder
    /// written by `trm import`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Puzzles in the official CSV format: a `question` column (and `source`; other columns
    /// such as the answer are ignored).
    #[arg(long, value_name = "CSV")]
    pub input: PathBuf,
    /// Where to write source, question, prediction, steps, halt_probability.
    #[arg(long, value_name = "CSV")]
    pub out: PathBuf,
    /// Supervision steps (default: the model's N_sup, as the official evaluation runs).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Stop each puzzle at its first step whose halting probability exceeds 0.5.
    #[arg(long)]
    pub adaptive: bool,
    /// Puzzles per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

struct Job(SolveArgs, Vec<(String, String)>);

impl OnBackend for Job {
    type Output = Vec<Solution>;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
    ) -> Result<Self::Output> {
        let Job(args, rows) = self;
        let t = load_puzzle_solver::<B::InnerBackend>(&args.checkpoint, &device)?;
        let steps = args.steps.unwrap_or(t.model.n_sup());
        solve(
            &t.model,
            &t.config.puzzle.task,
            t.data.seq_len,
            &rows,
            SolveOptions {
                steps,
                adaptive: args.adaptive,
                batch_size: args.batch_size,
            },
            &device,
        )
    }
}

pub fn run(args: SolveArgs) -> Result<()> {
    let rows = read_questions(&args.input)?;
    let out = args.out.clone();
    let solutions = dispatch(args.device, Job(args, rows))?;
    let records: Vec<Vec<String>> = solutions
        .iter()
        .map(|s| {
            vec![
                s.source.clone(),
                s.question.clone(),
                s.prediction.clone(),
                s.steps.to_string(),
                format!("{:.6}", s.halt_probability),
            ]
        })
        .collect();
    let header = [
        "source",
        "question",
        "prediction",
        "steps",
        "halt_probability",
    ];
    write_table(&out, &header, &records)?;
    println!("wrote {} answers to {}", solutions.len(), out.display());
    Ok(())
}
