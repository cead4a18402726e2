//! Towers of Hanoi evaluation, every move checked by the simulator: next-move accuracy (any
//! optimal move counts) and solved runs from the start state, per number of disks (including
//! sizes never trained on) and per number of supervision steps at test time.

use crate::data::puzzle::hanoi::{self, Hanoi, Move};
use crate::data::puzzle::Example;
use crate::eval::puzzle::puzzle_batch;
use crate::tasks::puzzle::PuzzleModel;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

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
            "| disks | trained on | optimal next move (steps 1..{s}) | legal moves | solved from start (steps 1..{s}) |\n|---|---|---|---|---|\n",
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
                if r.trained { "yes" } else { "no" },
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
        .take_while(|&&t| t != hanoi::ABSENT)
        .map(|&t| t - 1)
        .collect()
}

/// Predicted moves after each of `steps` supervision steps: [step][example].
fn predict<B: Backend>(
    model: &PuzzleModel<B>,
    examples: &[Example],
    steps: usize,
    width: usize,
    device: &B::Device,
) -> Vec<Vec<Option<Move>>> {
    let mut per_step = vec![Vec::with_capacity(examples.len()); steps];
    for chunk in examples.chunks(256) {
        let batch = puzzle_batch::<B>(chunk, device);
        for (s, out) in model.forward_steps(&batch, steps).into_iter().enumerate() {
            let tokens: Vec<i64> = out
                .logits
                .argmax(2)
                .into_data()
                .convert::<i64>()
                .to_vec()
                .expect("ints");
            let l = width + 2;
            for i in 0..chunk.len() {
                let row: Vec<u8> = tokens[i * l..(i + 1) * l]
                    .iter()
                    .map(|&t| t as u8)
                    .collect();
                per_step[s].push(hanoi::decode_move(&row, width));
            }
        }
    }
    per_step
}

/// Evaluate a next-move model: `test` holds next-move examples whose group is their N.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_hanoi<B: Backend>(
    model: &PuzzleModel<B>,
    test: &[Example],
    groups: &[u32],
    pegs: usize,
    trained: std::ops::RangeInclusive<usize>,
    width: usize,
    steps: usize,
    device: &B::Device,
) -> HanoiReport {
    let predictions = predict(model, test, steps, width, device);
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
            let verdict = hanoi::rollout(
                &h,
                |state| {
                    let inputs = hanoi::next_move_inputs(state, width).ok()?;
                    let ex = Example {
                        labels: vec![0; inputs.len()],
                        inputs,
                        puzzle_id: 0,
                    };
                    predict(model, &[ex], s, width, device)[s - 1][0]
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

/// Formulation (b): one number of disks, the whole solution generated by a causal language model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TextRow {
    pub disks: usize,
    pub trained: bool,
    /// Moves parsed from the completion (None: it was not well-formed move text).
    pub moves: Option<usize>,
    pub legal_moves: usize,
    pub illegal_at: Option<usize>,
    pub solved: bool,
    pub optimal: bool,
}

/// Greedy generation after `hanoi N disks P pegs:`; the completion is parsed up to its '.' and
/// replayed by the simulator.
pub fn evaluate_hanoi_text<B: Backend>(
    model: &crate::tasks::text::TextLm<B>,
    tok: &crate::data::TextTokenizer,
    pegs: usize,
    disks: std::ops::RangeInclusive<usize>,
    trained: std::ops::RangeInclusive<usize>,
    device: &B::Device,
) -> anyhow::Result<Vec<TextRow>> {
    let mut rows = Vec::new();
    for n in disks {
        let h = Hanoi::new(n, pegs)?;
        let prompt = hanoi::prompt(&h);
        let target = hanoi::solution_text(&h);
        let params = crate::sample::SamplingParams {
            max_new_tokens: tok.encode(&target).len() + 8,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
            stop_token: Some(tok.eot_id()),
            cache: true,
            diffusion_steps: 1,
            halt_threshold: None,
        };
        let ids: Vec<u32> = std::iter::once(tok.eot_id())
            .chain(tok.encode(&prompt))
            .collect();
        let new = crate::sample::generate(model, &ids, &params, device, |_| {});
        let completion = tok.decode(&new);
        let (moves, verdict) = match hanoi::parse_moves(&completion) {
            Ok(m) => (Some(m.len()), hanoi::check_solution(&h, &m)),
            Err(_) => (None, hanoi::Verdict::default()),
        };
        rows.push(TextRow {
            disks: n,
            trained: trained.contains(&n),
            moves,
            legal_moves: verdict.legal_moves,
            illegal_at: verdict.illegal_at,
            solved: verdict.solved,
            optimal: verdict.optimal,
        });
    }
    Ok(rows)
}

/// A Markdown table of text-formulation rows.
pub fn text_table(rows: &[TextRow]) -> String {
    let mut out = String::from(
        "| disks | trained on | moves generated | legal moves | solved | optimal |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.disks,
            if r.trained { "yes" } else { "no" },
            r.moves.map_or("malformed".into(), |m| m.to_string()),
            r.legal_moves,
            if r.solved { "yes" } else { "no" },
            if r.optimal { "yes" } else { "no" }
        );
    }
    out
}
