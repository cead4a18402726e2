//! The command line: train, sample, tokenizer, data, bench.

mod bench;
mod chess;
mod compare;
mod device;
mod eval;
mod hanoi;
mod import;
mod puzzle_data;
mod sample;
mod solve;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub use device::Device;

#[derive(Parser, Debug)]
#[command(
    name = "trm",
    version,
    about = "Tiny Recursive Models: train, sample and evaluate recursive language models and puzzle solvers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a TRM language model on Parquet text, or a puzzle solver (or resume a run).
    Train(train::TrainArgs),
    /// Generate text from a trained run, streamed token by token.
    Sample(sample::SampleArgs),
    /// Perplexity and bits per byte of a trained run on held-out data, per supervision step.
    Eval(eval::EvalArgs),
    /// Train several models on the same data and budget and write a comparison report to eval/.
    Compare(compare::CompareArgs),
    /// Measure training and sampling throughput of configs (a Markdown table; --out to keep it).
    Bench(bench::BenchArgs),
    /// Evaluate a chess run against Stockfish: centipawn loss, top-1, legality, puzzles, games.
    Chess(chess::ChessArgs),
    /// Solve Towers of Hanoi with a language model trained on `trm data hanoi` text.
    Hanoi(hanoi::HanoiArgs),
    /// Turn an official TRM checkpoint (PyTorch state dict + all_config.yaml) into a run folder.
    Import(import::ImportArgs),
    /// Answer the puzzles of an official-format CSV with a puzzle run or an imported model, or
    /// write the ARC Prize submission for a Kaggle challenges JSON with an ARC run.
    Solve(solve::SolveArgs),
    /// Tokenizer tools.
    #[command(subcommand)]
    Tokenizer(TokenizerCommand),
    /// Data tools.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Subcommand, Debug)]
pub enum TokenizerCommand {
    /// Train a byte-level BPE on Parquet and/or .txt files.
    Train {
        /// Parquet or .txt files (globs allowed).
        #[arg(long, num_args = 1.., required = true)]
        data: Vec<String>,
        #[arg(long, default_value_t = 4096)]
        vocab_size: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "text")]
        text_column: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Convert .txt / .jsonl files into a Parquet file with a `text` column.
    Convert {
        #[arg(long, num_args = 1.., required = true)]
        input: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// How a .txt file becomes rows.
        #[arg(long, value_enum, default_value = "paragraph")]
        split: crate::data::DocSplit,
        /// Field holding the text in .jsonl records.
        #[arg(long, default_value = "text")]
        jsonl_field: String,
    },
    /// Generate Sudoku puzzles with unique solutions (official CSV format).
    Sudoku(puzzle_data::SudokuArgs),
    /// Generate mazes with long shortest paths (official CSV format, "# SGo").
    Maze(puzzle_data::MazeArgs),
    /// Build the augmented ARC set from Kaggle-layout JSON.
    Arc(puzzle_data::ArcArgs),
    /// Chess positions from Stockfish self-play, labelled with Stockfish's best move.
    Chess(puzzle_data::ChessArgs),
    /// Whole Towers of Hanoi solutions as text (Parquet) for a causal language model.
    Hanoi(puzzle_data::HanoiArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train::run(args),
        Command::Sample(args) => sample::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Chess(args) => chess::run(args),
        Command::Hanoi(args) => hanoi::run(args),
        Command::Import(args) => import::run(args),
        Command::Solve(args) => solve::run(args),
        Command::Tokenizer(TokenizerCommand::Train {
            data,
            vocab_size,
            out,
            text_column,
        }) => {
            let files = crate::data::expand_paths(&data)?;
            let tok = crate::data::train_bpe(&files, &text_column, vocab_size)?;
            tok.save(&out)?;
            println!("wrote {} ({})", out.display(), tok.describe());
            Ok(())
        }
        Command::Data(DataCommand::Convert {
            input,
            out,
            split,
            jsonl_field,
        }) => {
            let stats = crate::data::convert_to_parquet(&input, &out, split, &jsonl_field)?;
            println!(
                "wrote {}: {} rows, {} bytes of text from {} files",
                out.display(),
                stats.rows,
                stats.bytes,
                stats.files
            );
            Ok(())
        }
        Command::Data(DataCommand::Sudoku(a)) => puzzle_data::sudoku(a),
        Command::Data(DataCommand::Maze(a)) => puzzle_data::maze(a),
        Command::Data(DataCommand::Arc(a)) => puzzle_data::arc(a),
        Command::Data(DataCommand::Chess(a)) => puzzle_data::chess(a),
        Command::Data(DataCommand::Hanoi(a)) => puzzle_data::hanoi(a),
    }
}
