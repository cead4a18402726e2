//! The ARC family: training draws a task's pair, then an augmentation, of a folder built by `trm
//! data arc` (as the official sampler); the test score is the official evaluator's pass@1 / pass@2.

use super::{pass_at_k, vote, ArcDataset, Prediction, TestItem, VOCAB};
use crate::config::PuzzleConfig;
use crate::data::puzzle::family::{limit, PuzzleData, PuzzleFamily, TestScorer};
use crate::data::puzzle::Example;
use crate::rng::Rng;
use anyhow::{bail, Result};
use std::path::Path;

struct Family {
    set: ArcDataset,
    /// Which test item each test example is.
    items: Vec<TestItem>,
}

/// The folder `puzzle.train` (built by `trm data arc`): its training pairs and its test inputs
/// (the first `puzzle.test_limit`, when set).
pub fn load(cfg: &PuzzleConfig) -> Result<PuzzleData> {
    if cfg.train.is_empty() {
        bail!("puzzle.train must name a folder built by `trm data arc`: ARC data is not generated at start-up");
    }
    let set = ArcDataset::load(Path::new(&cfg.train))?;
    let items: Vec<TestItem> = (0..limit(set.test_len(), cfg.test_limit))
        .map(|i| set.test_item(i))
        .collect();
    Ok(PuzzleData {
        name: "arc",
        val: Vec::new(),
        dropped: 0,
        test: items.iter().map(|t| t.example.clone()).collect(),
        vocab_size: VOCAB,
        seq_len: super::SEQ_LEN,
        num_puzzle_ids: set.num_puzzle_ids(),
        train_count: set.train_len(),
        augmented: false,
        family: Box::new(Family { set, items }),
    })
}

impl PuzzleFamily for Family {
    fn draw(&self, rng: &mut Rng) -> Example {
        self.set.draw_train(rng)
    }

    fn scorer(&self) -> Option<Box<dyn TestScorer + '_>> {
        Some(Box::new(Voting {
            family: self,
            predictions: Vec::new(),
        }))
    }
}

/// Every test prediction, voted over augmentations at the end.
struct Voting<'a> {
    family: &'a Family,
    predictions: Vec<Prediction>,
}

impl TestScorer for Voting<'_> {
    fn add(&mut self, first: usize, _batch: &[Example], logits: &[f32], q: &[f64]) {
        let per = super::SEQ_LEN * VOCAB;
        for (i, (cells, &q)) in logits.chunks(per).zip(q).enumerate() {
            let item = &self.family.items[first + i];
            self.predictions.push(Prediction {
                task: item.task.clone(),
                test_index: item.test_index,
                augmentation: item.augmentation,
                tokens: cells.chunks(VOCAB).map(argmax).collect(),
                q: 1.0 / (1.0 + (-q).exp()),
            });
        }
    }

    fn finish(self: Box<Self>) -> Result<Vec<(String, f64)>> {
        let set = &self.family.set;
        let votes = vote(set, &self.predictions)?;
        Ok(vec![
            ("pass_at_2".into(), pass_at_k(&votes, set, 2)),
            ("pass_at_1".into(), pass_at_k(&votes, set, 1)),
        ])
    }
}

/// The index of the largest value (the first of ties, as burn's argmax).
fn argmax(values: &[f32]) -> u8 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u8
}
