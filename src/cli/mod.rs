//! The command line: train, sample, evaluate, tokenizer and data tools, shell completions.

mod bench;
mod chat;
mod chess;
mod compare;
mod config;
mod device;
mod eval;
mod export;
mod hanoi;
mod import;
mod puzzle_data;
mod sample;
mod solve;
mod train;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
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
    /// Chat with a trained run: continue each line read from stdin, keeping the conversation.
    Chat(chat::ChatArgs),
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
    /// Write a language-model run as model.safetensors, config.json, tokenizer.json and a model
    /// card (EMA weights; --raw for the live ones).
    Export(export::ExportArgs),
    /// Print the resolved config (file or defaults, then --set) as TOML with a comment per key.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Tokenizer tools.
    #[command(subcommand)]
    Tokenizer(TokenizerCommand),
    /// Data tools.
    #[command(subcommand)]
    Data(DataCommand),
    /// Print a shell completion script for trm to stdout (bash, zsh, fish, elvish, powershell).
    #[command(after_help = COMPLETIONS_INSTALL)]
    Completions {
        /// The shell to write the completion script for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where `trm completions` scripts go, shown under `trm completions --help`.
const COMPLETIONS_INSTALL: &str = "\
Install: save the script where your shell looks for completions, then start a new shell:
  bash:        trm completions bash > ~/.local/share/bash-completion/completions/trm
  zsh:         trm completions zsh > ~/.zfunc/_trm
               (and in ~/.zshrc, before compinit: fpath=(~/.zfunc $fpath))
  fish:        trm completions fish > ~/.config/fish/completions/trm.fish
  elvish:      trm completions elvish > ~/.config/elvish/lib/trm.elv
               (and in ~/.config/elvish/rc.elv: use trm)
  powershell:  trm completions powershell >> $PROFILE";

#[derive(Subcommand, Debug)]
pub enum TokenizerCommand {
    /// Train a byte-level BPE on Parquet and/or .txt files.
    Train {
        /// Parquet or .txt files (globs allowed).
        #[arg(long, num_args = 1.., required = true)]
        data: Vec<String>,
        /// Vocabulary size in tokens, counting the 256 byte symbols and the end-of-text token
        /// (so it must be above 257).
        #[arg(long, default_value_t = 4096)]
        vocab_size: usize,
        /// The tokenizer file to write (Hugging Face tokenizer.json format; folders are
        /// created), for `data.tokenizer` in a config.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Column holding the text in the Parquet files (.txt files are read as plain text).
        #[arg(long, default_value = "text")]
        text_column: String,
        /// Leave out the Parquet rows that training holds out for validation with this
        /// `data.val_fraction` (the same hash split), so the tokenizer never sees held-out text.
        #[arg(long, default_value_t = 0.0)]
        val_fraction: f64,
    },
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Convert .txt / .jsonl files into a Parquet file with a `text` column.
    Convert {
        /// Files to convert: .jsonl / .ndjson (one JSON object per line) or anything else as
        /// UTF-8 text.
        #[arg(long, num_args = 1.., required = true)]
        input: Vec<PathBuf>,
        /// The Parquet file to write (zstd, one `text` column; replaced atomically).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// How a text file becomes rows.
        #[arg(long, value_enum, default_value = "paragraph")]
        split: crate::data::DocSplit,
        /// Field holding the text in each .jsonl record (a string; blank lines are skipped).
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
        Command::Chat(args) => chat::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Chess(args) => chess::run(args),
        Command::Hanoi(args) => hanoi::run(args),
        Command::Import(args) => import::run(args),
        Command::Export(args) => export::run(args),
        Command::Config(cmd) => config::run(cmd),
        Command::Solve(args) => solve::run(args),
        Command::Tokenizer(TokenizerCommand::Train {
            data,
            vocab_size,
            out,
            text_column,
            val_fraction,
        }) => {
            let files = crate::data::expand_paths(&data)?;
            let tok = crate::data::train_bpe(&files, &text_column, vocab_size, val_fraction)?;
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
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "trm", &mut std::io::stdout());
            Ok(())
        }
    }
}
