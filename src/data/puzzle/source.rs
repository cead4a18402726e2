//! A puzzle run's data: the training puzzles to draw from (with on-the-fly augmentation) and
//! the fixed test set, read from official files or generated, as `puzzle.*` in the config says.

use super::arc::{ArcDataset, TestItem};
use super::hanoi::{self, Hanoi};
use super::{chess, csv, maze, sudoku, Example};
use crate::config::{PuzzleConfig, PuzzleTask};
use crate::rng::Rng;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Where fresh training puzzles come from.
pub enum TrainSource {
    /// (puzzle, solution) grids; each draw may be shuffled (digits, bands, rows, transpose).
    Sudoku(Vec<([u8; 81], [u8; 81])>),
    /// Encoded mazes of `side` x `side`; each draw may get a random dihedral transform.
    Maze { side: usize, examples: Vec<Example> },
    /// ARC: every (augmentation, demonstration pair) of the built folder.
    Arc,
    /// Hanoi next move: a uniform N in [min, max], then a uniform non-goal state.
    Hanoi {
        pegs: usize,
        min: usize,
        max: usize,
        width: usize,
    },
    /// Chess: labelled positions (FEN, best move).
    Chess(Vec<Example>),
}

pub struct PuzzleData {
    pub task: PuzzleTask,
    pub train: TrainSource,
    pub test: Vec<Example>,
    /// ARC only: the built dataset (for voting) and which test item each test example is.
    pub arc: Option<(ArcDataset, Vec<TestItem>)>,
    /// Chess only: the board of each test example (to decode legal moves).
    pub chess_boards: Option<Vec<chess::Board>>,
    pub vocab_size: usize,
    pub seq_len: usize,
    pub num_puzzle_ids: usize,
    augment: bool,
    /// Training puzzles available (before augmentation; Hanoi: states of the training sizes).
    pub train_count: usize,
    /// Per test example, its group for per-group accuracy (Hanoi: the number of disks).
    pub test_groups: Vec<u32>,
}

impl PuzzleData {
    pub fn load(cfg: &PuzzleConfig) -> Result<Self> {
        let limit = |n: usize, limit: usize| if limit == 0 { n } else { n.min(limit) };
        let mut data = match cfg.task {
            PuzzleTask::None => bail!("puzzle.task is none: this is not a puzzle run"),
            PuzzleTask::Sudoku => {
                let mut train = sudoku_pairs(cfg, &cfg.train, cfg.generate_train, 0)?;
                train.truncate(limit(train.len(), cfg.train_limit));
                let mut test = sudoku_pairs(cfg, &cfg.test, cfg.generate_test, 1)?;
                test.truncate(limit(test.len(), cfg.test_limit));
                let test = test.iter().map(|(p, s)| sudoku::to_example(p, s)).collect();
                Self::new(cfg, TrainSource::Sudoku(train), test, 11, 81)
            }
            PuzzleTask::Maze => {
                let mut train = maze_examples(cfg, &cfg.train, cfg.generate_train, 0)?;
                train.truncate(limit(train.len(), cfg.train_limit));
                let mut test = maze_examples(cfg, &cfg.test, cfg.generate_test, 1)?;
                test.truncate(limit(test.len(), cfg.test_limit));
                let len = train[0].inputs.len();
                let side = (len as f64).sqrt().round() as usize;
                if side * side != len {
                    bail!("maze grids must be square; got {len} cells");
                }
                if test.iter().chain(&train).any(|e| e.inputs.len() != len) {
                    bail!("all mazes of a run must have the same size ({side}x{side})");
                }
                Self::new(
                    cfg,
                    TrainSource::Maze {
                        side,
                        examples: train,
                    },
                    test,
                    6,
                    len,
                )
            }
            PuzzleTask::Arc => {
                let set = ArcDataset::load(Path::new(&cfg.train))?;
                let items: Vec<TestItem> = (0..limit(set.test_len(), cfg.test_limit))
                    .map(|i| set.test_item(i))
                    .collect();
                let test = items.iter().map(|t| t.example.clone()).collect();
                let mut data = Self::new(cfg, TrainSource::Arc, test, 12, 900);
                data.num_puzzle_ids = set.num_puzzle_ids();
                data.train_count = set.train_len();
                data.arc = Some((set, items));
                data
            }
            PuzzleTask::Hanoi => {
                let (pegs, min, max) = (cfg.hanoi_pegs, cfg.hanoi_min_disks, cfg.hanoi_max_disks);
                let width = max.max(cfg.hanoi_test_max_disks);
                let mut rng = cfg.generation_rng(1);
                let (mut test, mut groups) = (Vec::new(), Vec::new());
                for n in 1..=cfg.hanoi_test_max_disks {
                    test.extend(hanoi::next_move_dataset(
                        &mut rng,
                        n..=n,
                        pegs,
                        cfg.generate_test,
                        width,
                    )?);
                    groups.extend(std::iter::repeat_n(n as u32, cfg.generate_test));
                }
                let source = TrainSource::Hanoi {
                    pegs,
                    min,
                    max,
                    width,
                };
                let mut data = Self::new(cfg, source, test, hanoi::VOCAB_NEXT, width + 2);
                data.train_count = (min..=max).map(|n| pegs.pow(n as u32) - 1).sum();
                data.test_groups = groups;
                data
            }
            PuzzleTask::Chess => {
                let rows = chess::read_labelled(Path::new(&cfg.train))?;
                let mut train: Vec<Example> = chess_examples(&rows, &cfg.train)?
                    .into_iter()
                    .map(|(_, example)| example)
                    .collect();
                train.truncate(limit(train.len(), cfg.train_limit));
                if cfg.test.is_empty() {
                    bail!(
                        "puzzle.test must name a labelled CSV from `trm data chess` for chess runs"
                    );
                }
                let mut rows = chess::read_labelled(Path::new(&cfg.test))?;
                rows.truncate(limit(rows.len(), cfg.test_limit));
                let (boards, test): (Vec<_>, Vec<_>) =
                    chess_examples(&rows, &cfg.test)?.into_iter().unzip();
                let mut data = Self::new(
                    cfg,
                    TrainSource::Chess(train),
                    test,
                    chess::VOCAB,
                    chess::SEQ_LEN,
                );
                data.chess_boards = Some(boards);
                data
            }
        };
        if data.train_count == 0 {
            bail!("no training puzzles");
        }
        data.augment = cfg.augment;
        Ok(data)
    }

    fn new(
        cfg: &PuzzleConfig,
        train: TrainSource,
        test: Vec<Example>,
        vocab_size: usize,
        seq_len: usize,
    ) -> Self {
        let train_count = match &train {
            TrainSource::Sudoku(v) => v.len(),
            TrainSource::Maze { examples, .. } => examples.len(),
            TrainSource::Chess(v) => v.len(),
            TrainSource::Arc | TrainSource::Hanoi { .. } => 0,
        };
        Self {
            task: cfg.task,
            train,
            test,
            arc: None,
            chess_boards: None,
            vocab_size,
            seq_len,
            num_puzzle_ids: 1,
            augment: cfg.augment,
            train_count,
            test_groups: Vec::new(),
        }
    }

    /// A fresh training puzzle: uniform over the training set, then a random augmentation.
    pub fn draw(&self, rng: &mut Rng) -> Example {
        let i = rng.below(self.train_count as u64) as usize;
        match &self.train {
            TrainSource::Sudoku(pairs) => {
                let (p, s) = &pairs[i];
                if self.augment {
                    let (p, s) = sudoku::shuffle(p, s, rng);
                    sudoku::to_example(&p, &s)
                } else {
                    sudoku::to_example(p, s)
                }
            }
            TrainSource::Maze { side, examples } => {
                if self.augment {
                    maze::augment(&examples[i], *side, rng.below(8) as u8)
                } else {
                    examples[i].clone()
                }
            }
            TrainSource::Arc => {
                let (set, _) = self.arc.as_ref().expect("ARC data holds its dataset");
                set.train_example(i)
            }
            TrainSource::Hanoi {
                pegs,
                min,
                max,
                width,
            } => {
                let n = min + rng.below((max - min + 1) as u64) as usize;
                let h = Hanoi::new(n, *pegs).expect("validated sizes");
                loop {
                    let state = h.random_state(rng);
                    if !h.is_goal(&state) {
                        return hanoi::next_move_example(&h, &state, *width).expect("valid state");
                    }
                }
            }
            TrainSource::Chess(examples) => examples[i].clone(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{:?}: {} training puzzles{}, {} test puzzles, {} tokens each, vocabulary {}, {} puzzle ids",
            self.task,
            self.train_count,
            if self.augment && matches!(self.train, TrainSource::Sudoku(_) | TrainSource::Maze { .. }) {
                " (augmented on the fly)"
            } else {
                ""
            },
            self.test.len(),
            self.seq_len,
            self.vocab_size,
            self.num_puzzle_ids
        )
    }
}

/// Sudoku (puzzle, solution) pairs from an official CSV, or `count` generated ones.
fn sudoku_pairs(
    cfg: &PuzzleConfig,
    path: &str,
    count: usize,
    stream: u64,
) -> Result<Vec<([u8; 81], [u8; 81])>> {
    if path.is_empty() {
        let mut rng = cfg.generation_rng(stream);
        let blanks = (cfg.max_blanks > 0).then_some(cfg.max_blanks);
        return Ok((0..count)
            .map(|_| {
                let (p, s, _) = sudoku::generate(&mut rng, cfg.min_rating, blanks);
                (p, s)
            })
            .collect());
    }
    let rows = csv::read_csv(Path::new(path))?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let at = || format!("{path}: row {}", i + 2);
            let p = sudoku::parse(&r.question).with_context(at)?;
            let s = sudoku::parse(&r.answer).with_context(at)?;
            if s.contains(&0) {
                bail!("{}: the answer has blanks", at());
            }
            Ok((p, s))
        })
        .collect()
}

/// Mazes from an official CSV, or `count` generated ones.
fn maze_examples(
    cfg: &PuzzleConfig,
    path: &str,
    count: usize,
    stream: u64,
) -> Result<Vec<Example>> {
    if path.is_empty() {
        let mut rng = cfg.generation_rng(stream);
        return (0..count)
            .map(|_| {
                let (q, a) = maze::generate(&mut rng, cfg.maze_side, cfg.maze_min_path);
                maze::to_example(&q, &a)
            })
            .collect();
    }
    let rows = csv::read_csv(Path::new(path))?;
    if rows.is_empty() {
        bail!("{path}: no mazes");
    }
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            maze::to_example(r.question.as_bytes(), r.answer.as_bytes())
                .with_context(|| format!("{path}: row {}", i + 2))
        })
        .collect()
}

/// Labelled chess positions as boards and examples (board tokens, best move marked on its
/// squares).
fn chess_examples(rows: &[(String, String)], path: &str) -> Result<Vec<(chess::Board, Example)>> {
    if rows.is_empty() {
        bail!("{path}: no labelled positions");
    }
    rows.iter()
        .enumerate()
        .map(|(i, (fen, best))| {
            let board = chess::parse_fen(fen).with_context(|| format!("{path}: row {}", i + 2))?;
            let example =
                chess::example(&board, best).with_context(|| format!("{path}: row {}", i + 2))?;
            Ok((board, example))
        })
        .collect()
}
