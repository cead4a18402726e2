//! Chess evaluation against a real engine over UCI: legality of the model's unrestricted move,
//! top-1 agreement with Stockfish, centipawn loss of the (legal-restricted) move, puzzle solve
//! rate, and games against a strength-limited Stockfish with an Elo estimate.

use crate::data::puzzle::chess::uci::{centipawn_loss, Engine, Limit};
use crate::data::puzzle::chess::{self, Board, GameResult, PuzzleLine};
use crate::data::puzzle::Example;
use crate::rng::Rng;
use crate::tasks::puzzle::{PuzzleBatch, PuzzleModel};
use anyhow::{Context, Result};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub struct ChessEvalOptions {
    pub engine: PathBuf,
    /// Search depth of the reference engine for best moves and centipawn scores.
    pub depth: u32,
    /// Supervision steps of the model.
    pub steps: usize,
    pub puzzles: Vec<PuzzleLine>,
    pub games: usize,
    /// Opponent strength (Stockfish's UCI_Elo; 15.1 accepts 1350..=2850).
    pub opponent_elo: u32,
    pub max_plies: usize,
    /// Opening lines (standard UCI) to start games from; empty = the initial position.
    pub openings: Vec<Vec<String>>,
    pub seed: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChessReport {
    pub positions: usize,
    /// Share of positions where the model's own argmax move (no restriction) is legal.
    pub legal_rate: f64,
    /// Share where the legal-restricted move equals the engine's best move.
    pub top1: f64,
    /// Expected top-1 agreement of a uniformly random legal move (mean of 1 / legal moves).
    #[serde(default)]
    pub random_top1: f64,
    /// Mean centipawn loss of the legal-restricted move (each capped at 1000).
    pub mean_cp_loss: f64,
    pub puzzles: usize,
    pub puzzles_solved: usize,
    pub games: usize,
    pub wins: usize,
    pub draws: usize,
    pub losses: usize,
    pub opponent_elo: u32,
    pub elo: f64,
    pub elo_margin: f64,
}

impl ChessReport {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} positions: legal (unrestricted) {:.1}%, top-1 agreement {:.1}% (random legal move {:.1}%), mean centipawn loss {:.0}",
            self.positions,
            100.0 * self.legal_rate,
            100.0 * self.top1,
            100.0 * self.random_top1,
            self.mean_cp_loss
        );
        if self.puzzles > 0 {
            s += &format!(
                "; puzzles solved {}/{} ({:.1}%)",
                self.puzzles_solved,
                self.puzzles,
                100.0 * self.puzzles_solved as f64 / self.puzzles as f64
            );
        }
        if self.games > 0 {
            s += &format!(
                "; games vs Stockfish (UCI_Elo {}): +{} ={} -{}, Elo estimate {:.0} ± {:.0}{}",
                self.opponent_elo,
                self.wins,
                self.draws,
                self.losses,
                self.elo,
                self.elo_margin,
                if self.wins == 0 && self.draws == 0 {
                    " (all lost: an upper bound)"
                } else {
                    ""
                }
            );
        }
        s
    }
}

/// The model's moves for a set of boards: (unrestricted move, best legal move).
pub fn model_moves<B: Backend>(
    model: &PuzzleModel<B>,
    boards: &[Board],
    steps: usize,
    device: &B::Device,
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(boards.len());
    for chunk in boards.chunks(128) {
        let examples: Vec<Example> = chunk
            .iter()
            .map(|b| Example {
                inputs: chess::encode(b),
                labels: vec![0; chess::SEQ_LEN],
                puzzle_id: 0,
            })
            .collect();
        let batch = PuzzleBatch::<B>::new(&examples, device);
        let logits = model
            .forward_steps(&batch, steps)
            .pop()
            .expect("steps >= 1")
            .logits;
        out.extend(decode_moves(chunk, logits));
    }
    out
}

/// (unrestricted move, best legal move) for each board from the model's logits
/// `[boards, SEQ_LEN, VOCAB]` (see [`chess::MoveScores`]).
pub fn decode_moves<B: Backend>(boards: &[Board], logits: Tensor<B, 3>) -> Vec<(String, String)> {
    let values: Vec<f32> = logits
        .narrow(1, 0, 64)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("floats");
    let per = 64 * chess::VOCAB;
    boards
        .iter()
        .zip(values.chunks(per))
        .map(|(board, cells)| {
            let scores = chess::MoveScores::new(board, cells).expect("64 squares of logits");
            (scores.unrestricted(), scores.best_legal(board))
        })
        .collect()
}

/// Evaluate on labelled test positions (FEN, best move), puzzles and games.
pub fn evaluate_chess<B: Backend>(
    model: &PuzzleModel<B>,
    test: &[(String, String)],
    opts: &ChessEvalOptions,
    device: &B::Device,
) -> Result<ChessReport> {
    let mut engine = Engine::start(&opts.engine, &[])?;
    let limit = Limit::Depth(opts.depth);
    let boards: Vec<Board> = test
        .iter()
        .map(|(fen, _)| chess::parse_fen(fen))
        .collect::<Result<_>>()?;
    let moves = model_moves(model, &boards, opts.steps, device);
    let mut report = ChessReport {
        positions: test.len(),
        opponent_elo: opts.opponent_elo,
        ..Default::default()
    };
    let (mut legal, mut top1, mut loss, mut random) = (0usize, 0usize, 0i64, 0.0);
    for (((fen, _), board), (raw, played)) in test.iter().zip(&boards).zip(&moves) {
        legal += usize::from(chess::is_legal(board, raw));
        random += 1.0 / chess::legal_moves_uci(board).len().max(1) as f64;
        let best = engine.best_move(fen, limit)?;
        if *played == best.best {
            top1 += 1;
        } else {
            let score = engine.score_move(fen, played, limit)?;
            loss += i64::from(centipawn_loss(best.score, score));
        }
    }
    let n = test.len().max(1) as f64;
    report.legal_rate = legal as f64 / n;
    report.top1 = top1 as f64 / n;
    report.random_top1 = random / n;
    report.mean_cp_loss = loss as f64 / n;

    for line in &opts.puzzles {
        report.puzzles += 1;
        report.puzzles_solved += usize::from(solves(model, line, opts.steps, device)?);
    }

    if opts.games > 0 {
        engine.set_option("UCI_LimitStrength", "true")?;
        engine.set_option("UCI_Elo", &opts.opponent_elo.to_string())?;
        let mut rng = Rng::new(opts.seed);
        let mut points = 0.0;
        for g in 0..opts.games {
            let mut start = Board::default();
            if !opts.openings.is_empty() {
                let line = &opts.openings[rng.below(opts.openings.len() as u64) as usize];
                for uci in line {
                    chess::play_uci(&mut start, uci)?;
                }
            }
            let result = chess::play_game_from(
                &mut engine,
                &start,
                |b| {
                    model_moves(model, std::slice::from_ref(b), opts.steps, device)[0]
                        .1
                        .clone()
                },
                g % 2 == 0,
                Limit::Depth(opts.depth.min(8)),
                opts.max_plies,
            )
            .with_context(|| format!("game {}", g + 1))?;
            match result {
                GameResult::Win => report.wins += 1,
                GameResult::Draw => report.draws += 1,
                GameResult::Loss => report.losses += 1,
            }
            points += result.points();
        }
        report.games = opts.games;
        let (elo, margin) = chess::elo_estimate(
            opts.opponent_elo as f64,
            points / opts.games as f64,
            opts.games,
        );
        report.elo = elo;
        report.elo_margin = margin;
    }
    Ok(report)
}

/// A puzzle is solved when every move of the solver's side matches the solution (the last may
/// be any mating move, as Lichess accepts); the opponent's replies come from the solution.
fn solves<B: Backend>(
    model: &PuzzleModel<B>,
    line: &PuzzleLine,
    steps: usize,
    device: &B::Device,
) -> Result<bool> {
    let mut board = chess::parse_fen(&line.fen_after_first_move)?;
    for (i, expected) in line.solution.iter().enumerate() {
        if i % 2 == 0 {
            let played = model_moves(model, std::slice::from_ref(&board), steps, device)[0]
                .1
                .clone();
            if played != *expected {
                let last = i + 1 == line.solution.len();
                let mut after = board.clone();
                let mates = last
                    && chess::play_uci(&mut after, &played).is_ok()
                    && after.status() == chess::GameStatus::Won;
                return Ok(mates);
            }
        }
        chess::play_uci(&mut board, expected)?;
    }
    Ok(true)
}
