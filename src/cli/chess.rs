//! `trm chess`: a trained chess run against Stockfish over UCI (test positions, puzzles, games).

use super::device::{dispatch, Device, OnBackend};
use crate::data::puzzle::chess;
use crate::eval::chess::{evaluate_chess, ChessEvalOptions, ChessReport};
use crate::run::load_trained_puzzle;
use anyhow::{bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ChessArgs {
    /// A chess run folder (best checkpoint, else latest) or one checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The UCI engine binary (Stockfish): it labels best moves, scores the model's moves and
    /// plays the games.
    #[arg(long, default_value = crate::data::puzzle::chess::uci::DEFAULT_ENGINE_PATH)]
    pub engine: PathBuf,
    /// Engine search depth (plies) for best moves and centipawn scores; the engine's moves in
    /// games search at most 8.
    #[arg(long, default_value_t = 10)]
    pub depth: u32,
    /// At most this many of the run's test positions.
    #[arg(long, default_value_t = 200)]
    pub positions: usize,
    /// Lichess puzzle CSV (PuzzleId,FEN,Moves,...): solved when every move of the solving
    /// side matches.
    #[arg(long)]
    pub lichess: Option<PathBuf>,
    /// At most this many puzzles from --lichess (the first ones of the file).
    #[arg(long, default_value_t = 200)]
    pub lichess_limit: usize,
    /// Mate-in-N PGN files (FEN header + mainline).
    #[arg(long, num_args = 1..)]
    pub mates: Vec<PathBuf>,
    /// Games against Stockfish limited to --opponent-elo (colours alternate; 0: no games).
    #[arg(long, default_value_t = 10)]
    pub games: usize,
    /// Strength of the engine in the games (UCI_Elo); the model's Elo estimate is relative
    /// to it.
    #[arg(long, default_value_t = 1350)]
    pub opponent_elo: u32,
    /// Plies (half-moves) per game; a game still going after them counts as a draw.
    #[arg(long, default_value_t = 200)]
    pub max_plies: usize,
    /// Folder of lichess chess-openings .tsv files: each game starts from a random opening
    /// line (default: the initial position).
    #[arg(long)]
    pub openings: Option<PathBuf>,
    /// Supervision steps (default: the trained N_sup).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Seed for choosing the games' opening lines from --openings.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda or cuda:N (the model; the engine always runs on the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

struct Job(ChessArgs);

impl OnBackend for Job {
    type Output = ChessReport;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
    ) -> Result<ChessReport> {
        let a = self.0;
        let t = load_trained_puzzle::<B::InnerBackend>(&a.checkpoint, &device)?;
        if t.config.puzzle.task != "chess" {
            bail!("{} is not a chess run", a.checkpoint.display());
        }
        let mut test = chess::read_labelled(Path::new(&t.config.puzzle.test))?;
        test.truncate(a.positions);
        let mut puzzles = match &a.lichess {
            Some(p) => chess::lichess_puzzles(p, a.lichess_limit)?,
            None => Vec::new(),
        };
        for m in &a.mates {
            puzzles.extend(chess::mate_puzzles(m)?);
        }
        let opts = ChessEvalOptions {
            engine: a.engine,
            depth: a.depth,
            steps: a.steps.unwrap_or(t.model.n_sup()),
            puzzles,
            games: a.games,
            opponent_elo: a.opponent_elo,
            max_plies: a.max_plies,
            openings: match &a.openings {
                Some(dir) => chess::opening_lines(dir)?,
                None => Vec::new(),
            },
            seed: a.seed,
        };
        evaluate_chess(&t.model, &test, &opts, &device)
    }
}

pub fn run(args: ChessArgs) -> Result<()> {
    let checkpoint = args.checkpoint.clone();
    let report = dispatch(args.device, Job(args))?;
    println!("{}: {}", checkpoint.display(), report.summary());
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
