//! Adaptive computation at inference: each token stops at the first supervision step whose
//! halting head says its prediction has settled (sigmoid(q) >= threshold), else at the last step.
//! Reports the perplexity of those predictions against the mean number of steps used.

use super::perplexity::EvalSet;
use crate::nn::loss::token_nll;
use crate::tasks::text::{batch_tensors, TextLm};
use burn::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveRow {
    pub threshold: f64,
    pub mean_steps: f64,
    pub ppl: f64,
}

/// One row per threshold; None for a model without a halting head.
pub fn adaptive_halting<B: Backend>(
    model: &TextLm<B>,
    set: &EvalSet,
    batch_size: usize,
    steps: usize,
    thresholds: &[f64],
    device: &B::Device,
) -> Option<Vec<AdaptiveRow>> {
    let mut nll_sum = vec![0.0f64; thresholds.len()];
    let mut step_sum = vec![0.0f64; thresholds.len()];
    let mut tokens = 0usize;
    for chunk in set.windows.chunks(batch_size.max(1)) {
        let (inputs, targets) = batch_tensors::<B>(chunk, device);
        let outputs = model.forward_steps_halting(inputs, steps)?;
        // per step: the NLL and the halting probability of every position, on the host
        let per_step: Vec<(Vec<f32>, Vec<f32>)> = outputs
            .into_iter()
            .map(|(logits, q)| {
                let nll = token_nll(logits, targets.clone())
                    .into_data()
                    .to_vec()
                    .expect("f32");
                let p = burn::tensor::activation::sigmoid(q)
                    .into_data()
                    .to_vec()
                    .expect("f32");
                (nll, p)
            })
            .collect();
        let positions = per_step[0].0.len();
        tokens += positions;
        for (t, &threshold) in thresholds.iter().enumerate() {
            for i in 0..positions {
                let stop = per_step
                    .iter()
                    .position(|(_, p)| p[i] as f64 >= threshold)
                    .unwrap_or(steps - 1);
                nll_sum[t] += per_step[stop].0[i] as f64;
                step_sum[t] += (stop + 1) as f64;
            }
        }
    }
    Some(
        thresholds
            .iter()
            .enumerate()
            .map(|(t, &threshold)| AdaptiveRow {
                threshold,
                mean_steps: step_sum[t] / tokens as f64,
                ppl: (nll_sum[t] / tokens as f64).exp(),
            })
            .collect(),
    )
}
