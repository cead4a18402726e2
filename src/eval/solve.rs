//! `trm solve`: a puzzle model's own answers to the questions of a CSV (Sudoku, Maze), after a
//! given number of supervision steps, as the official evaluation runs them (no halting), or
//! stopping each puzzle at its first step whose halting logit is positive; and an ARC model's
//! two voted attempts per test input of the tasks of a challenges file.

use crate::data::puzzle::arc::{attempts, vote, vote_for, ArcDataset, Prediction, Submission};
use crate::data::puzzle::family::{answer_text, question_tokens};
use crate::data::puzzle::Example;
use crate::tasks::host_f64;
use crate::tasks::puzzle::{PuzzleBatch, PuzzleModel};
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use std::ops::Range;

/// One answered puzzle.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    pub source: String,
    pub question: String,
    /// The model's output for every cell, in the task's characters ('.' for a non-answer token).
    pub prediction: String,
    /// Supervision steps run for this puzzle.
    pub steps: usize,
    /// sigmoid(halting logit) at that step.
    pub halt_probability: f64,
}

/// How to answer.
#[derive(Clone, Copy, Debug)]
pub struct SolveOptions {
    /// Supervision steps.
    pub steps: usize,
    /// Each puzzle stops at its first step with a positive halting logit.
    pub adaptive: bool,
    /// Puzzles per forward pass.
    pub batch_size: usize,
}

/// Answer `rows` ((source, question) pairs of a `task` CSV whose grids have `seq_len` cells).
pub fn solve<B: Backend>(
    model: &PuzzleModel<B>,
    task: &str,
    seq_len: usize,
    rows: &[(String, String)],
    opts: SolveOptions,
    device: &B::Device,
) -> Result<Vec<Solution>> {
    let SolveOptions {
        steps,
        adaptive,
        batch_size,
    } = opts;
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    let examples = rows
        .iter()
        .enumerate()
        .map(|(i, (source, question))| {
            let inputs = question_tokens(task, question)
                .with_context(|| format!("puzzle {} ({source})", i + 1))?;
            if inputs.len() != seq_len {
                bail!(
                    "puzzle {} ({source}): {} cells, but the model was trained on {seq_len}",
                    i + 1,
                    inputs.len()
                );
            }
            Ok(Example {
                labels: vec![0; inputs.len()],
                inputs,
                puzzle_id: 0,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (chunk, rows) in examples
        .chunks(batch_size.max(1))
        .zip(rows.chunks(batch_size.max(1)))
    {
        let batch = PuzzleBatch::<B>::new(chunk, device);
        let outs = model.forward_steps(&batch, steps);
        let tokens: Vec<Vec<i64>> = outs
            .iter()
            .map(|o| {
                o.logits
                    .clone()
                    .argmax(2)
                    .into_data()
                    .convert::<i64>()
                    .to_vec()
                    .expect("ints")
            })
            .collect();
        let q: Vec<Vec<f64>> = outs
            .iter()
            .map(|o| {
                o.q.clone()
                    .map(host_f64)
                    .unwrap_or_else(|| vec![0.0; chunk.len()])
            })
            .collect();
        for (i, (source, question)) in rows.iter().enumerate() {
            let stop = match adaptive {
                true => (0..steps).find(|&s| q[s][i] > 0.0).unwrap_or(steps - 1),
                false => steps - 1,
            };
            let cells: Vec<u8> = tokens[stop][i * seq_len..(i + 1) * seq_len]
                .iter()
                .map(|&t| t as u8)
                .collect();
            out.push(Solution {
                source: source.clone(),
                question: question.clone(),
                prediction: answer_text(task, &cells),
                steps: stop + 1,
                halt_probability: 1.0 / (1.0 + (-q[stop][i]).exp()),
            });
        }
    }
    Ok(out)
}

/// The ARC Prize submission for `tasks` (task id and its test items in `set`, from
/// [`crate::data::puzzle::arc::match_challenges`]): every augmented test item run for `steps`
/// supervision steps, `batch_size` at a time; each task's predictions, once all are in, voted as
/// the evaluation votes them ([`vote`]: the last step's argmax tokens and sigmoid(q)), and each
/// test input given the two attempts [`attempts`] takes from its ranked candidates.
pub fn solve_arc<B: Backend>(
    model: &PuzzleModel<B>,
    set: &ArcDataset,
    tasks: &[(String, Range<usize>)],
    steps: usize,
    batch_size: usize,
    device: &B::Device,
) -> Result<Submission> {
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    let seq_len = crate::data::puzzle::arc::SEQ_LEN;
    let mut submission = Submission::new();
    // Predictions of each task until its last item is in, so only one batch and the tasks
    // under way are held at a time.
    let mut pending: Vec<Vec<Prediction>> = vec![Vec::new(); tasks.len()];
    let mut finish = |k: usize, predictions: &[Prediction]| -> Result<()> {
        let id = &tasks[k].0;
        let votes = vote(set, predictions)?;
        let tests = set.task(id).map_or(0, |t| t.task.tests.len());
        let answers = (0..tests)
            .map(|i| attempts(vote_for(&votes, set, id, i).map_or(&[], |v| &v.candidates)))
            .collect();
        submission.insert(id.clone(), answers);
        Ok(())
    };
    for (k, (_, items)) in tasks.iter().enumerate() {
        if items.is_empty() {
            finish(k, &[])?;
        }
    }
    let flat: Vec<(usize, usize)> = (tasks.iter().enumerate())
        .flat_map(|(k, (_, items))| items.clone().map(move |i| (k, i)))
        .collect();
    for chunk in flat.chunks(batch_size.max(1)) {
        let items: Vec<_> = chunk.iter().map(|&(_, i)| set.test_item(i)).collect();
        let examples: Vec<Example> = items.iter().map(|t| t.example.clone()).collect();
        let batch = PuzzleBatch::<B>::new(&examples, device);
        let last = model
            .forward_steps(&batch, steps)
            .pop()
            .expect("steps >= 1");
        let tokens: Vec<i64> =
            (last.logits.argmax(2).into_data().convert::<i64>().to_vec()).expect("ints");
        let q = last
            .q
            .map(host_f64)
            .unwrap_or_else(|| vec![0.0; chunk.len()]);
        for (n, (&(k, _), item)) in chunk.iter().zip(items).enumerate() {
            pending[k].push(Prediction {
                task: item.task,
                test_index: item.test_index,
                augmentation: item.augmentation,
                tokens: (tokens[n * seq_len..(n + 1) * seq_len].iter())
                    .map(|&t| t as u8)
                    .collect(),
                q: 1.0 / (1.0 + (-q[n]).exp()),
            });
            if pending[k].len() == tasks[k].1.len() {
                let predictions = std::mem::take(&mut pending[k]);
                finish(k, &predictions)?;
            }
        }
    }
    Ok(submission)
}
