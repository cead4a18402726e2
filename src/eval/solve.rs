//! `trm solve`: a puzzle model's own answers to the questions of a CSV (Sudoku, Maze), after a
//! given number of supervision steps, as the official evaluation runs them (no halting), or
//! stopping each puzzle at its first step whose halting logit is positive.

use crate::data::puzzle::family::{answer_text, question_tokens};
use crate::data::puzzle::Example;
use crate::tasks::host_f64;
use crate::tasks::puzzle::{PuzzleBatch, PuzzleModel};
use anyhow::{bail, Context, Result};
use burn::prelude::*;

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
