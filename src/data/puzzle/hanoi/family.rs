//! The Hanoi puzzle family, formulation (a): the optimal next move of a random state, trained on
//! `hanoi_min_disks..=hanoi_max_disks` disks and tested up to `hanoi_test_max_disks`; `trm eval`
//! replays every test size from the start state, each move checked by the simulator.

use super::{
    decode_move, next_move_dataset, next_move_example, next_move_inputs, rollout, Hanoi, Move,
    ABSENT, MAX_DISKS, MAX_SEARCH_DISKS, VOCAB_NEXT,
};
use crate::config::PuzzleConfig;
use crate::data::puzzle::family::{Predict, PuzzleData, PuzzleFamily};
use crate::data::puzzle::Example;
use crate::rng::Rng;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

struct Family {
    pegs: usize,
    /// Disks of the training puzzles.
    trained: RangeInclusive<usize>,
    /// Disk positions of every example (the largest size tested).
    width: usize,
    /// The number of disks of each test example.
    groups: Vec<u32>,
}

/// `puzzle.generate_test` states per size from 1 to `hanoi_test_max_disks` disks for testing;
/// training states are drawn fresh for every slot. The test states of the trained sizes are
/// in-distribution (training draws cover those sizes' few states); only larger sizes are held out.
pub fn load(cfg: &PuzzleConfig) -> Result<PuzzleData> {
    let (pegs, min, max) = (cfg.hanoi_pegs, cfg.hanoi_min_disks, cfg.hanoi_max_disks);
    if !(3..=4).contains(&pegs) {
        bail!("puzzle.hanoi_pegs must be 3 or 4");
    }
    if min == 0 || min > max {
        bail!("puzzle.hanoi_min_disks must be in 1..=puzzle.hanoi_max_disks");
    }
    let limit = if pegs == 3 {
        MAX_DISKS
    } else {
        MAX_SEARCH_DISKS
    };
    if max.max(cfg.hanoi_test_max_disks) > limit {
        bail!("Hanoi with {pegs} pegs supports at most {limit} disks");
    }
    let width = max.max(cfg.hanoi_test_max_disks);
    let mut rng = cfg.generation_rng(1);
    let (mut test, mut groups) = (Vec::new(), Vec::new());
    for n in 1..=cfg.hanoi_test_max_disks {
        test.extend(next_move_dataset(
            &mut rng,
            n..=n,
            pegs,
            cfg.generate_test,
            width,
        )?);
        groups.extend(std::iter::repeat_n(n as u32, cfg.generate_test));
    }
    Ok(PuzzleData {
        name: "hanoi",
        val: Vec::new(),
        dropped: 0,
        test,
        vocab_size: VOCAB_NEXT,
        seq_len: width + 2,
        num_puzzle_ids: 1,
        // Every non-goal state of the training sizes can be drawn.
        train_count: (min..=max).map(|n| pegs.pow(n as u32) - 1).sum(),
        augmented: false,
        family: Box::new(Family {
            pegs,
            trained: min..=max,
            width,
            groups,
        }),
    })
}

impl PuzzleFamily for Family {
    /// A uniform N in the training sizes, then a uniform non-goal state.
    fn draw(&self, rng: &mut Rng) -> Example {
        let (min, max) = (*self.trained.start(), *self.trained.end());
        let n = min + rng.below((max - min + 1) as u64) as usize;
        let h = Hanoi::new(n, self.pegs).expect("validated sizes");
        loop {
            let state = h.random_state(rng);
            if !h.is_goal(&state) {
                return next_move_example(&h, &state, self.width).expect("valid state");
            }
        }
    }

    fn replay(&self, test: &[Example], model: &mut Predict<'_>, steps: usize) -> Option<String> {
        let report = evaluate(
            model,
            test,
            &self.groups,
            self.pegs,
            self.trained.clone(),
            self.width,
            steps,
        );
        Some(format!(
            "Towers of Hanoi ({} pegs), every move checked by the simulator:\n{}",
            report.pegs,
            report.table()
        ))
    }
}

/// One number of disks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HanoiRow {
    pub disks: usize,
    /// Whether this size was among the training sizes.
    pub trained: bool,
    /// Per supervision-step count: share of test states whose predicted move is an optimal one.
    pub move_accuracy: Vec<f64>,
    /// Per supervision-step count: share of predicted moves that are legal.
    pub legal_rate: Vec<f64>,
    /// Per supervision-step count: the run from the start state (the model's moves applied by the
    /// simulator, at most the optimal 2^N - 1 for 3 pegs) reaches the goal with only legal moves.
    pub solved: Vec<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HanoiReport {
    pub pegs: usize,
    pub steps: usize,
    pub rows: Vec<HanoiRow>,
}

impl HanoiReport {
    /// A Markdown table: one row per N, the columns for the last step count.
    pub fn table(&self) -> String {
        let mut out = format!(
            "| disks | test states | optimal next move (steps 1..{s}) | legal moves | solved from start (steps 1..{s}) |\n|---|---|---|---|---|\n",
            s = self.steps
        );
        for r in &self.rows {
            let pct = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{:.1}", 100.0 * x))
                    .collect::<Vec<_>>()
                    .join(" / ")
            };
            let solved: Vec<&str> = r
                .solved
                .iter()
                .map(|&s| if s { "yes" } else { "no" })
                .collect();
            out += &format!(
                "| {} | {} | {} % | {:.1} % | {} |\n",
                r.disks,
                // every state of a trained size can be a training draw: only larger sizes are unseen
                if r.trained {
                    "in distribution (training states)"
                } else {
                    "held out (more disks)"
                },
                pct(&r.move_accuracy),
                100.0 * r.legal_rate.last().copied().unwrap_or(0.0),
                solved.join(" / ")
            );
        }
        out
    }
}

/// The state a next-move example encodes (disk tokens 1..=4 are pegs; ABSENT ends the state).
fn state_of(example: &Example, width: usize) -> Vec<u8> {
    example.inputs[..width]
        .iter()
        .take_while(|&&t| t != ABSENT)
        .map(|&t| t - 1)
        .collect()
}

/// Predicted moves after each of `steps` supervision steps: [step][example].
fn predict(
    model: &mut Predict<'_>,
    examples: &[Example],
    steps: usize,
    width: usize,
) -> Vec<Vec<Option<Move>>> {
    let mut per_step = vec![Vec::with_capacity(examples.len()); steps];
    for chunk in examples.chunks(256) {
        for (s, rows) in model(chunk, steps).into_iter().enumerate() {
            per_step[s].extend(rows.iter().map(|row| decode_move(row, width)));
        }
    }
    per_step
}

/// Evaluate a next-move model: `test` holds next-move examples whose group is their N.
fn evaluate(
    model: &mut Predict<'_>,
    test: &[Example],
    groups: &[u32],
    pegs: usize,
    trained: RangeInclusive<usize>,
    width: usize,
    steps: usize,
) -> HanoiReport {
    let predictions = predict(model, test, steps, width);
    let max_n = groups.iter().copied().max().unwrap_or(0) as usize;
    let mut rows = Vec::new();
    for n in 1..=max_n {
        let h = Hanoi::new(n, pegs).expect("validated size");
        let members: Vec<usize> = (0..test.len())
            .filter(|&i| groups[i] as usize == n)
            .collect();
        let count = members.len().max(1) as f64;
        let mut move_accuracy = Vec::new();
        let mut legal_rate = Vec::new();
        let mut solved = Vec::new();
        for pred in predictions.iter().take(steps) {
            let (mut right, mut legal) = (0.0, 0.0);
            for &i in &members {
                let state = state_of(&test[i], width);
                if let Some(mv) = pred[i] {
                    legal += f64::from(h.is_legal(&state, mv));
                    right += f64::from(h.optimal_moves(&state).contains(&mv));
                }
            }
            move_accuracy.push(right / count);
            legal_rate.push(legal / count);
        }
        for s in 1..=steps {
            let verdict = rollout(
                &h,
                |state| {
                    let inputs = next_move_inputs(state, width).ok()?;
                    let ex = Example {
                        labels: vec![0; inputs.len()],
                        inputs,
                        puzzle_id: 0,
                    };
                    predict(model, &[ex], s, width)[s - 1][0]
                },
                h.min_moves(),
            );
            solved.push(verdict.solved);
        }
        rows.push(HanoiRow {
            disks: n,
            trained: trained.contains(&n),
            move_accuracy,
            legal_rate,
            solved,
        });
    }
    HanoiReport { pegs, steps, rows }
}
