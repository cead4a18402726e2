//! Puzzle metrics on a test set (TRM-SPEC 3, 5): token and exact accuracy after every
//! supervision step (test-time compute beyond training included), halting accuracy, accuracy
//! and mean steps when halting on the Q head, and for ARC the paper's pass@1 / pass@2 by voting.

use crate::data::puzzle::arc::{pass_at_k, vote, Prediction};
use crate::data::puzzle::chess;
use crate::data::puzzle::source::PuzzleData;
use crate::data::puzzle::Example;
use crate::eval::chess::decode_moves;
use crate::tasks::puzzle::{correctness, PuzzleBatch, PuzzleModel};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

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
    /// ARC: per-task pass@1 and pass@2 after voting over augmentations (final step).
    pub pass_at_1: Option<f64>,
    pub pass_at_2: Option<f64>,
    /// Chess (final step): share of test positions where the best legal move under the model
    /// is the labelled one, and where its unrestricted move is legal.
    #[serde(default)]
    pub chess_top1: Option<f64>,
    #[serde(default)]
    pub chess_legal: Option<f64>,
}

impl PuzzleReport {
    /// Exact accuracy at the last step evaluated (the model-selection metric; ARC: pass@2,
    /// chess: top-1 legal move).
    pub fn score(&self) -> f64 {
        self.pass_at_2
            .or(self.chess_top1)
            .unwrap_or_else(|| self.per_step.last().map_or(0.0, |s| s.exact_accuracy))
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
        if let (Some(p1), Some(p2)) = (self.pass_at_1, self.pass_at_2) {
            line += &format!("; ARC pass@1 {:.2}% pass@2 {:.2}%", 100.0 * p1, 100.0 * p2);
        }
        if let (Some(top1), Some(legal)) = (self.chess_top1, self.chess_legal) {
            line += &format!(
                "; chess: labelled move top-1 {:.2}% (legal moves only), unrestricted move legal {:.2}%",
                100.0 * top1,
                100.0 * legal
            );
        }
        line
    }
}

/// Stack examples into a batch on `device`.
pub fn puzzle_batch<B: Backend>(examples: &[Example], device: &B::Device) -> PuzzleBatch<B> {
    let b = examples.len();
    let l = examples[0].inputs.len();
    let ints = |f: &dyn Fn(&Example) -> &[u8]| -> Vec<i64> {
        examples
            .iter()
            .flat_map(|e| f(e).iter().map(|&t| t as i64))
            .collect()
    };
    PuzzleBatch {
        inputs: Tensor::from_data(TensorData::new(ints(&|e| &e.inputs), [b, l]), device),
        labels: Tensor::from_data(TensorData::new(ints(&|e| &e.labels), [b, l]), device),
        puzzle_ids: Tensor::from_data(
            TensorData::new(examples.iter().map(|e| e.puzzle_id as i64).collect(), [b]),
            device,
        ),
    }
}

/// A tensor's values on the host as f64.
pub fn host_f64<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("float data")
}

/// Evaluate `model` on the test set with `steps` supervision steps, `batch_size` puzzles at a time.
pub fn evaluate_puzzles<B: Backend>(
    model: &PuzzleModel<B>,
    data: &PuzzleData,
    steps: usize,
    batch_size: usize,
    device: &B::Device,
) -> PuzzleReport {
    let n = data.test.len();
    let mut tok = vec![0.0; steps];
    let mut exact = vec![0.0; steps];
    let mut halt_right = vec![0.0; steps];
    let mut has_q = false;
    let (mut adaptive_exact, mut adaptive_steps) = (0.0, 0.0);
    let mut predictions = Vec::new();
    let (mut chess_top1, mut chess_legal) = (0usize, 0usize);
    for (chunk_index, chunk) in data.test.chunks(batch_size.max(1)).enumerate() {
        let batch = puzzle_batch::<B>(chunk, device);
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
        if let Some(boards) = &data.chess_boards {
            let start = chunk_index * batch_size.max(1);
            let boards = &boards[start..start + b];
            let last = outs.last().expect("steps >= 1").logits.clone();
            for ((board, ex), (raw, legal)) in
                boards.iter().zip(chunk).zip(decode_moves(boards, last))
            {
                chess_legal += usize::from(chess::is_legal(board, &raw));
                chess_top1 += usize::from(chess::decode_move(board, &ex.labels) == Some(legal));
            }
        }
        if let Some((_, items)) = &data.arc {
            let last = outs.last().expect("steps >= 1");
            let tokens = last.logits.clone().argmax(2).squeeze_dim::<2>(2);
            let tokens: Vec<i64> = tokens.into_data().convert::<i64>().to_vec().expect("ints");
            let l = chunk[0].inputs.len();
            let q = last.q.clone().map(host_f64).unwrap_or_else(|| vec![0.0; b]);
            for i in 0..b {
                let item = &items[chunk_index * batch_size.max(1) + i];
                predictions.push(Prediction {
                    task: item.task.clone(),
                    test_index: item.test_index,
                    augmentation: item.augmentation,
                    tokens: tokens[i * l..(i + 1) * l]
                        .iter()
                        .map(|&t| t as u8)
                        .collect(),
                    q: 1.0 / (1.0 + (-q[i]).exp()),
                });
            }
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
    let (pass_at_1, pass_at_2) = match &data.arc {
        Some((set, _)) => {
            // The predictions come from the dataset's own test items, so voting cannot fail.
            let votes = vote(set, &predictions).expect("test items belong to their dataset");
            (
                Some(pass_at_k(&votes, set, 1)),
                Some(pass_at_k(&votes, set, 2)),
            )
        }
        None => (None, None),
    };
    PuzzleReport {
        puzzles: n,
        per_step,
        adaptive_exact_accuracy: has_q.then(|| adaptive_exact / count),
        adaptive_mean_steps: has_q.then(|| adaptive_steps / count),
        pass_at_1,
        pass_at_2,
        chess_top1: data
            .chess_boards
            .is_some()
            .then(|| chess_top1 as f64 / count),
        chess_legal: data
            .chess_boards
            .is_some()
            .then(|| chess_legal as f64 / count),
    }
}
