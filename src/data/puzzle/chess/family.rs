//! The chess family: labelled positions (FEN, Stockfish's best move) from `trm data chess`, the
//! best move marked on its squares; the test score is the top-1 legal move and how often the
//! model's unrestricted move is legal.

use super::{decode_move, example, is_legal, parse_fen, read_labelled, Board, MoveScores, VOCAB};
use crate::config::PuzzleConfig;
use crate::data::puzzle::family::{limit, PuzzleData, PuzzleFamily, TestScorer};
use crate::data::puzzle::Example;
use crate::rng::Rng;
use anyhow::{bail, Context, Result};
use std::path::Path;

struct Family {
    train: Vec<Example>,
    /// The board of each test example (to decode legal moves).
    boards: Vec<Board>,
}

/// `puzzle.train` and `puzzle.test`: labelled CSVs written by `trm data chess`.
pub fn load(cfg: &PuzzleConfig) -> Result<PuzzleData> {
    if cfg.train.is_empty() || cfg.test.is_empty() {
        bail!("puzzle.train and puzzle.test must name labelled CSVs from `trm data chess`: chess data is not generated at start-up");
    }
    let rows = read_labelled(Path::new(&cfg.train))?;
    let mut train: Vec<Example> = examples(&rows, &cfg.train)?
        .into_iter()
        .map(|(_, example)| example)
        .collect();
    train.truncate(limit(train.len(), cfg.train_limit));
    let mut rows = read_labelled(Path::new(&cfg.test))?;
    rows.truncate(limit(rows.len(), cfg.test_limit));
    let (boards, test): (Vec<_>, Vec<_>) = examples(&rows, &cfg.test)?.into_iter().unzip();
    Ok(PuzzleData {
        name: "chess",
        val: Vec::new(),
        dropped: 0,
        test,
        vocab_size: VOCAB,
        seq_len: super::SEQ_LEN,
        num_puzzle_ids: 1,
        train_count: train.len(),
        augmented: false,
        family: Box::new(Family { train, boards }),
    })
}

/// Labelled positions as boards and examples (board tokens, best move marked on its squares).
fn examples(rows: &[(String, String)], path: &str) -> Result<Vec<(Board, Example)>> {
    if rows.is_empty() {
        bail!("{path}: no labelled positions");
    }
    rows.iter()
        .enumerate()
        .map(|(i, (fen, best))| {
            let at = || format!("{path}: row {}", i + 2);
            let board = parse_fen(fen).with_context(at)?;
            let example = example(&board, best).with_context(at)?;
            Ok((board, example))
        })
        .collect()
}

impl PuzzleFamily for Family {
    fn draw(&self, rng: &mut Rng) -> Example {
        self.train[rng.below(self.train.len() as u64) as usize].clone()
    }

    fn scorer(&self) -> Option<Box<dyn TestScorer + '_>> {
        Some(Box::new(MoveScorer {
            family: self,
            top1: 0,
            legal: 0,
            seen: 0,
        }))
    }
}

/// Top-1 agreement of the best legal move with the label, and legality of the unrestricted move.
struct MoveScorer<'a> {
    family: &'a Family,
    top1: usize,
    legal: usize,
    seen: usize,
}

impl TestScorer for MoveScorer<'_> {
    fn add(&mut self, first: usize, batch: &[Example], logits: &[f32], _q: &[f64]) {
        let per = super::SEQ_LEN * VOCAB;
        for (i, (cells, example)) in logits.chunks(per).zip(batch).enumerate() {
            let board = &self.family.boards[first + i];
            let scores =
                MoveScores::new(board, &cells[..64 * VOCAB]).expect("64 squares of logits");
            let (raw, best) = (scores.unrestricted(), scores.best_legal(board));
            self.legal += usize::from(is_legal(board, &raw));
            self.top1 += usize::from(decode_move(board, &example.labels) == Some(best));
            self.seen += 1;
        }
    }

    fn finish(self: Box<Self>) -> Result<Vec<(String, f64)>> {
        let n = self.seen.max(1) as f64;
        Ok(vec![
            ("chess_top1".into(), self.top1 as f64 / n),
            ("chess_legal".into(), self.legal as f64 / n),
        ])
    }
}
