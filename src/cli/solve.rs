//! `trm solve`: a puzzle run's (or an imported official model's) answers to the puzzles of an
//! official-format CSV, written as a CSV; for an ARC run, the ARC Prize submission JSON for the
//! tasks of a Kaggle challenges file.

use super::device::{dispatch, Device, OnBackend};
use crate::data::puzzle::arc::{load_challenges, match_challenges, Submission, Task};
use crate::data::puzzle::csv::{read_questions, write_table};
use crate::eval::solve::{solve, solve_arc, Solution, SolveOptions};
use crate::files::write_atomic;
use crate::run::{load_arc_solver, load_puzzle_solver, puzzle_run};
use anyhow::{anyhow, bail, Result};
use clap::Args;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct SolveArgs {
    /// A puzzle run folder (best checkpoint, else latest), one checkpoint folder, or a folder
    /// written by `trm import`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Puzzles in the official CSV format: a `question` column (and `source`; other columns
    /// such as the answer are ignored). For an ARC run: a Kaggle challenges JSON
    /// (arc-agi_*_challenges.json) holding test tasks of the run's data folder.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write source, question, prediction, steps, halt_probability (a CSV); for an ARC
    /// run, the ARC Prize submission JSON (two attempts per test input).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Supervision steps (default: the model's N_sup, as the official evaluation runs).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Stop each puzzle at its first step whose halting probability exceeds 0.5 (CSV puzzles).
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

/// An ARC run over the tasks of a challenges file.
struct ArcJob(SolveArgs, Vec<Task>);

impl OnBackend for ArcJob {
    type Output = Submission;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
    ) -> Result<Self::Output> {
        let ArcJob(args, tasks) = self;
        let t = load_arc_solver::<B::InnerBackend>(&args.checkpoint, &device)?;
        let matched = match_challenges(&t.set, &tasks, &args.input, &t.folder)?;
        let steps = args.steps.unwrap_or(t.model.n_sup());
        solve_arc(&t.model, &t.set, &matched, steps, args.batch_size, &device)
    }
}

pub fn run(args: SolveArgs) -> Result<()> {
    let (_, config) = puzzle_run(&args.checkpoint)?;
    let task = config.puzzle.task.as_str();
    let (input, run) = (args.input.display(), args.checkpoint.display());
    if task == "arc" {
        if has_extension(&args.input, "csv") {
            bail!("{input}: a CSV, but {run} is an ARC run: --input takes a Kaggle ARC challenges JSON (arc-agi_*_challenges.json)");
        }
        if args.adaptive {
            bail!("--adaptive is for CSV puzzles: ARC answers are voted over the last of --steps supervision steps, as the official evaluation votes them");
        }
        return solve_arc_file(args);
    }
    if task != "sudoku" && task != "maze" {
        bail!("{run} is a {task} run: `trm solve` answers Sudoku and Maze CSVs, and ARC challenges JSON with an ARC run");
    }
    if has_extension(&args.input, "json") || starts_like_json(&args.input) {
        bail!("{input}: JSON, but {run} is a {task} run: --input takes an official-format CSV with a question column (ARC challenges JSON is for ARC runs)");
    }
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

/// ARC: reads the challenges, answers them and writes the submission JSON.
fn solve_arc_file(args: SolveArgs) -> Result<()> {
    let tasks = load_challenges(&args.input)?;
    let out = args.out.clone();
    let submission = dispatch(args.device, ArcJob(args, tasks))?;
    let bytes = serde_json::to_vec(&submission)
        .map_err(|e| anyhow!("cannot serialise the submission: {e}"))?;
    write_atomic(&out, &bytes)?;
    let inputs: usize = submission.values().map(Vec::len).sum();
    println!(
        "wrote two attempts for each of {inputs} test inputs of {} tasks to {}",
        submission.len(),
        out.display()
    );
    Ok(())
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Whether the file's first non-blank byte opens a JSON object or array (a CSV's header cannot).
/// An unreadable file is left to the CSV reader, which names the problem.
fn starts_like_json(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    head[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{' || b == b'[')
}
