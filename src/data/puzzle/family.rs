//! A puzzle family plugs into training and evaluation through one trait: how its training
//! puzzles are drawn (with augmentation) and how its test outputs are scored beyond cell accuracy.
//! Each family module reads or generates its data into a [`PuzzleData`]; [`FAMILIES`] lists them.

use super::{arc, chess, hanoi, maze, sudoku, Example};
use crate::config::PuzzleConfig;
use crate::rng::Rng;
use anyhow::{bail, Result};
use std::collections::HashSet;
use std::hash::Hash;

/// Every puzzle family, by its `puzzle.task` name. Adding a family: one module that builds a
/// [`PuzzleData`] and one line here.
pub const FAMILIES: &[(&str, Loader)] = &[
    ("sudoku", sudoku::load),
    ("maze", maze::load),
    ("arc", arc::load),
    ("hanoi", hanoi::load),
    ("chess", chess::load),
];

/// Reads or generates a family's puzzles as `puzzle.*` in the config says.
pub type Loader = fn(&PuzzleConfig) -> Result<PuzzleData>;

/// What a family does beyond the grids themselves.
pub trait PuzzleFamily: Send + Sync {
    /// A fresh training puzzle: uniform over the training set, then a random augmentation.
    fn draw(&self, rng: &mut Rng) -> Example;

    /// Scores that need more than cell accuracy (ARC voting, chess legality), gathered from the
    /// final supervision step of every test batch. None: exact match is the family's score.
    fn scorer(&self) -> Option<Box<dyn TestScorer + '_>> {
        None
    }

    /// A family's own evaluation of the test set that plays the model forward (Hanoi: replay
    /// every test size from its start state), as Markdown for `trm eval`, with up to `steps`
    /// supervision steps.
    fn replay(&self, _test: &[Example], _model: &mut Predict<'_>, _steps: usize) -> Option<String> {
        None
    }
}

/// The model as a function: examples and a number of supervision steps S in, the argmax tokens
/// of every position after each of the S steps out ([step][example][position]).
pub type Predict<'a> = dyn FnMut(&[Example], usize) -> Vec<Vec<Vec<u8>>> + 'a;

/// Accumulates a family's test scores batch by batch.
pub trait TestScorer {
    /// The final step's outputs for the test examples `batch`, which start at index `first` of
    /// the test set: logits [batch, positions, vocab] row-major, and the halting logit of each.
    fn add(&mut self, first: usize, batch: &[Example], logits: &[f32], q: &[f64]);

    /// Named scores in [0, 1]; the first is the one that selects the best checkpoint.
    fn finish(self: Box<Self>) -> Result<Vec<(String, f64)>>;
}

/// A puzzle run's data: the family that draws training puzzles, the validation puzzles that
/// choose the best checkpoint, and the test set, which is only reported.
pub struct PuzzleData {
    /// The `puzzle.task` name.
    pub name: &'static str,
    /// Held out from the training distribution (empty: no `best` checkpoint is chosen).
    pub val: Vec<Example>,
    pub test: Vec<Example>,
    /// Generated puzzles dropped from the test or validation split because a training draw
    /// could show them (their augmentation invariant matches a training puzzle's).
    pub dropped: usize,
    pub vocab_size: usize,
    /// Tokens per puzzle (the grid, without the puzzle-id prefix).
    pub seq_len: usize,
    pub num_puzzle_ids: usize,
    /// Training puzzles available before augmentation.
    pub train_count: usize,
    /// Whether each draw is augmented on the fly (for the description).
    pub augmented: bool,
    pub family: Box<dyn PuzzleFamily>,
}

impl PuzzleData {
    /// The data of the family `cfg.task` names.
    pub fn load(cfg: &PuzzleConfig) -> Result<Self> {
        let Some((_, load)) = FAMILIES.iter().find(|(name, _)| *name == cfg.task) else {
            let names: Vec<&str> = FAMILIES.iter().map(|(n, _)| *n).collect();
            bail!(
                "puzzle.task = {:?} is not a puzzle family (known: {})",
                cfg.task,
                names.join(", ")
            );
        };
        let data = load(cfg)?;
        if data
            .test
            .iter()
            .chain(&data.val)
            .any(|e| e.inputs.len() != data.seq_len)
        {
            bail!(
                "every {} test and validation puzzle must have {} tokens",
                data.name,
                data.seq_len
            );
        }
        Ok(data)
    }

    /// The data a training run needs: as [`load`](Self::load), with at least one training puzzle.
    pub fn load_for_training(cfg: &PuzzleConfig) -> Result<Self> {
        let data = Self::load(cfg)?;
        if data.train_count == 0 {
            bail!(
                "no training puzzles (puzzle.train, puzzle.generate_train or puzzle.train_limit)"
            );
        }
        Ok(data)
    }

    /// Only the shapes of `cfg`'s data (vocabulary, grid length, puzzle ids): nothing is read or
    /// generated. Sudoku and Maze only, whose shapes do not depend on their files.
    pub fn shapes(cfg: &PuzzleConfig) -> Result<Self> {
        if cfg.task != "sudoku" && cfg.task != "maze" {
            bail!(
                "puzzle.task = {:?}: only sudoku and maze puzzles can be solved from a CSV",
                cfg.task
            );
        }
        let mut shape = cfg.clone();
        shape.train = String::new();
        shape.test = String::new();
        shape.generate_train = 0;
        shape.generate_test = 0;
        shape.val_count = 0;
        Self::load(&shape)
    }

    /// A fresh training puzzle.
    pub fn draw(&self, rng: &mut Rng) -> Example {
        self.family.draw(rng)
    }

    pub fn describe(&self) -> String {
        format!(
            "{}: {} training puzzles{}, {} validation, {} test puzzles{}, {} tokens each, vocabulary {}, {} puzzle ids",
            self.name,
            self.train_count,
            if self.augmented {
                " (augmented on the fly)"
            } else {
                ""
            },
            self.val.len(),
            self.test.len(),
            if self.dropped > 0 {
                format!(" ({} generated ones redrawn: a training draw could show them)", self.dropped)
            } else {
                String::new()
            },
            self.seq_len,
            self.vocab_size,
            self.num_puzzle_ids
        )
    }
}

/// A question of a CSV family (Sudoku, Maze) as the model's input tokens.
pub fn question_tokens(task: &str, question: &str) -> Result<Vec<u8>> {
    match task {
        "sudoku" => Ok(sudoku::parse(question)?.iter().map(|&d| d + 1).collect()),
        "maze" => maze::question_tokens(question.as_bytes()),
        _ => bail!("puzzle.task = {task:?} has no CSV question format"),
    }
}

/// Predicted tokens in a CSV family's characters, one per cell; a token that is not part of an
/// answer (padding, Sudoku's blank) is written '.'.
pub fn answer_text(task: &str, tokens: &[u8]) -> String {
    let chars: Vec<u8> = match task {
        "sudoku" => tokens
            .iter()
            .map(|&t| {
                if (2..=10).contains(&t) {
                    b'0' + t - 1
                } else {
                    b'.'
                }
            })
            .collect(),
        _ => maze::from_tokens(tokens)
            .into_iter()
            .map(|c| if c == b'?' { b'.' } else { c })
            .collect(),
    };
    String::from_utf8(chars).expect("ASCII")
}

/// A held-out split of generated puzzles: `count` puzzles from `next` whose key (an invariant of
/// the family's training augmentations) is not in `taken`, which then records theirs too. Every
/// puzzle a training draw can show has its key in `taken`, so none of the split can be one, nor
/// repeat a puzzle of an earlier split. Returns the split and how many puzzles were redrawn.
pub fn disjoint<T, K: Eq + Hash>(
    count: usize,
    taken: &mut HashSet<K>,
    key: impl Fn(&T) -> K,
    mut next: impl FnMut() -> Result<T>,
    what: &str,
) -> Result<(Vec<T>, usize)> {
    let budget = 10 * count + 100;
    let mut out = Vec::with_capacity(count);
    let mut dropped = 0;
    while out.len() < count {
        if out.len() + dropped >= budget {
            bail!("could not generate {count} {what} puzzles that training cannot show ({dropped} of {budget} tries collided): generate fewer or more varied puzzles");
        }
        let item = next()?;
        if taken.insert(key(&item)) {
            out.push(item);
        } else {
            dropped += 1;
        }
    }
    Ok((out, dropped))
}

/// The training puzzles of a CSV family (Sudoku, Maze): the first `generate_train` of
/// `generator(0)` (cut to `train_limit`), or `puzzle.train` read by `read` and split by
/// [`split_rows`], whose held-out validation rows come back too.
pub fn training_split<T, G: FnMut() -> Result<T>>(
    cfg: &PuzzleConfig,
    generator: impl Fn(u64) -> G,
    read: impl FnOnce(&str) -> Result<Vec<T>>,
) -> Result<(Vec<T>, Option<Vec<T>>)> {
    if cfg.train.is_empty() {
        let mut next = generator(0);
        let count = limit(cfg.generate_train, cfg.train_limit);
        let train = (0..count).map(|_| next()).collect::<Result<Vec<T>>>()?;
        return Ok((train, None));
    }
    let rows = read(&cfg.train)?;
    let (train, val) = split_rows(
        rows,
        cfg.train_limit,
        cfg.val_count,
        &mut cfg.generation_rng(3),
    )?;
    Ok((train, Some(val)))
}

/// The held-out splits of a CSV family (Sudoku, Maze) as (test, validation, puzzles redrawn): the
/// test set generated by `generator(1)` disjoint from `train` (see [`disjoint`]) or read from
/// `puzzle.test` by `read`, cut to `test_limit`; the validation set generated by `generator(2)`
/// disjoint from both, or the training CSV's held-out rows `csv_val`.
pub fn held_out<T, K: Eq + Hash, G: FnMut() -> Result<T>>(
    cfg: &PuzzleConfig,
    train: &[T],
    csv_val: Option<Vec<T>>,
    key: impl Fn(&T) -> K,
    generator: impl Fn(u64) -> G,
    read: impl FnOnce(&str) -> Result<Vec<T>>,
) -> Result<(Vec<T>, Vec<T>, usize)> {
    let mut taken: HashSet<K> = train.iter().map(&key).collect();
    let mut dropped = 0;
    let mut test = if cfg.test.is_empty() {
        let (test, d) = disjoint(cfg.generate_test, &mut taken, &key, generator(1), "test")?;
        dropped += d;
        test
    } else {
        read(&cfg.test)?
    };
    test.truncate(limit(test.len(), cfg.test_limit));
    let val = match csv_val {
        Some(val) => val,
        None => {
            let (val, d) = disjoint(cfg.val_count, &mut taken, &key, generator(2), "validation")?;
            dropped += d;
            val
        }
    };
    Ok((test, val, dropped))
}

/// The rows of an official training CSV as (training, validation): validation takes `val_count`
/// random rows and training `train_limit` random rows of the rest (all of it when 0), drawn
/// with `rng`; the file order is kept when neither is asked for.
pub fn split_rows<T>(
    mut rows: Vec<T>,
    train_limit: usize,
    val_count: usize,
    rng: &mut Rng,
) -> Result<(Vec<T>, Vec<T>)> {
    if val_count >= rows.len() && val_count > 0 {
        bail!(
            "puzzle.val_count = {val_count} leaves none of the {} training rows to train on",
            rows.len()
        );
    }
    if train_limit == 0 && val_count == 0 {
        return Ok((rows, Vec::new()));
    }
    rng.shuffle(&mut rows);
    let train = rows.split_off(val_count);
    let mut train = train;
    train.truncate(limit(train.len(), train_limit));
    Ok((train, rows))
}

/// `n` capped at `limit` (0 = no cap): the `*_limit` settings.
pub fn limit(n: usize, limit: usize) -> usize {
    if limit == 0 {
        n
    } else {
        n.min(limit)
    }
}
