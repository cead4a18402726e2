//! Puzzle metrics on a test set (docs/trm.md §3, §5): token and exact accuracy after every
//! supervision step (test-time compute beyond training included), halting accuracy, accuracy
//! and mean steps when halting on the Q head, and whatever scores the puzzle family adds (ARC
//! pass@k by voting, chess legality).

use crate::data::puzzle::PuzzleData;
use crate::tasks::host_f64;
use crate::tasks::puzzle::{correctness, PuzzleBatch, PuzzleModel};
use anyhow::Result;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Accuracy after a given number of supervision steps (every puzzle runs all of them).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepAccuracy {
    pub step: usize,
    /// Share of labelled cells predicted right.
    pub token_accuracy: f64,
    /// Share of puzzles with every labelled cell right.
    pub exact_accuracy: f64,
    /// Share of puzzles whose halting decision (q > 0) agrees with being exactly right.
    pub halt_accuracy: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PuzzleReport {
    pub puzzles: usize,
    pub per_step: Vec<StepAccuracy>,
    /// Halting on the Q head: each puzzle stops at its first step with q > 0 (or the last).
    pub adaptive_exact_accuracy: Option<f64>,
    pub adaptive_mean_steps: Option<f64>,
    /// The family's own scores at the final step (ARC: pass_at_1, pass_at_2; chess:
    /// chess_top1, chess_legal), each a share in [0, 1].
    #[serde(flatten)]
    pub family: BTreeMap<String, f64>,
    /// Which of `family` selects the best checkpoint (None: exact accuracy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_name: Option<String>,
}

impl PuzzleReport {
    /// The model-selection score: the family's first score (ARC: pass@2, chess: top-1 legal
    /// move), else exact accuracy at the last step evaluated.
    pub fn score(&self) -> f64 {
        match &self.score_name {
            Some(name) => self.family[name],
            None => self.per_step.last().map_or(0.0, |s| s.exact_accuracy),
        }
    }

    pub fn final_step(&self) -> &StepAccuracy {
        self.per_step.last().expect("at least one step")
    }

    /// One line: exact accuracy per step and the adaptive/ARC numbers.
    pub fn summary(&self) -> String {
        let per_step: Vec<String> = self
            .per_step
            .iter()
            .map(|s| format!("{:.1}", 100.0 * s.exact_accuracy))
            .collect();
        let f = self.final_step();
        let mut line = format!(
            "{} puzzles: exact {:.2}% token {:.2}% after {} steps (exact % per step: {})",
            self.puzzles,
            100.0 * f.exact_accuracy,
            100.0 * f.token_accuracy,
            f.step,
            per_step.join(", ")
        );
        if let (Some(a), Some(s)) = (self.adaptive_exact_accuracy, self.adaptive_mean_steps) {
            line += &format!("; halting on q: exact {:.2}% in {s:.2} steps", 100.0 * a);
        }
        if let Some(h) = f.halt_accuracy {
            line += &format!("; halt accuracy {:.1}%", 100.0 * h);
        }
        for (name, value) in &self.family {
            line += &format!("; {name} {:.2}%", 100.0 * value);
        }
        line
    }
}

/// Which held-out puzzles to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldOut {
    /// Validation: chooses the best checkpoint; scored by exact accuracy (the family's own
    /// scores, such as ARC voting, are defined over its test set).
    Val,
    /// Test: only reported.
    Test,
}

/// Evaluate `model` on a split with `steps` supervision steps, `batch_size` puzzles at a time.
pub fn evaluate_puzzles<B: Backend>(
    model: &PuzzleModel<B>,
    data: &PuzzleData,
    split: HeldOut,
    steps: usize,
    batch_size: usize,
    device: &B::Device,
) -> Result<PuzzleReport> {
    let examples = match split {
        HeldOut::Val => &data.val,
        HeldOut::Test => &data.test,
    };
    let n = examples.len();
    let mut tok = vec![0.0; steps];
    let mut exact = vec![0.0; steps];
    let mut halt_right = vec![0.0; steps];
    let mut has_q = false;
    let (mut adaptive_exact, mut adaptive_steps) = (0.0, 0.0);
    let mut scorer = match split {
        HeldOut::Val => None,
        HeldOut::Test => data.family.scorer(),
    };
    for (chunk_index, chunk) in examples.chunks(batch_size.max(1)).enumerate() {
        let batch = PuzzleBatch::<B>::new(chunk, device);
        let valid = batch.labels.clone().not_equal_elem(0).float();
        let outs = model.forward_steps(&batch, steps);
        let b = chunk.len();
        let mut halted_at: Vec<Option<usize>> = vec![None; b];
        for (s, out) in outs.iter().enumerate() {
            let (acc, ex) = correctness(out.logits.clone(), batch.labels.clone(), valid.clone());
            let (acc, ex) = (host_f64(acc), host_f64(ex));
            tok[s] += acc.iter().sum::<f64>();
            exact[s] += ex.iter().sum::<f64>();
            if let Some(q) = &out.q {
                has_q = true;
                let q = host_f64(q.clone());
                for i in 0..b {
                    halt_right[s] += f64::from((q[i] > 0.0) == (ex[i] > 0.5));
                    if halted_at[i].is_none() && (q[i] > 0.0 || s + 1 == steps) {
                        halted_at[i] = Some(s);
                        adaptive_exact += ex[i];
                        adaptive_steps += (s + 1) as f64;
                    }
                }
            }
        }
        if let Some(scorer) = scorer.as_mut() {
            let last = outs.last().expect("steps >= 1");
            let logits: Vec<f32> = last
                .logits
                .clone()
                .into_data()
                .convert::<f32>()
                .to_vec()
                .expect("floats");
            let q = last.q.clone().map(host_f64).unwrap_or_else(|| vec![0.0; b]);
            scorer.add(chunk_index * batch_size.max(1), chunk, &logits, &q);
        }
    }
    let count = n.max(1) as f64;
    let per_step = (0..steps)
        .map(|s| StepAccuracy {
            step: s + 1,
            token_accuracy: tok[s] / count,
            exact_accuracy: exact[s] / count,
            halt_accuracy: has_q.then(|| halt_right[s] / count),
        })
        .collect();
    let scores = match scorer {
        Some(scorer) => scorer.finish()?,
        None => Vec::new(),
    };
    Ok(PuzzleReport {
        puzzles: n,
        per_step,
        adaptive_exact_accuracy: has_q.then(|| adaptive_exact / count),
        adaptive_mean_steps: has_q.then(|| adaptive_steps / count),
        score_name: scores.first().map(|(name, _)| name.clone()),
        family: scores.into_iter().collect(),
    })
}
