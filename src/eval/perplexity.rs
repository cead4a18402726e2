//! Perplexity = exp(total NLL / total predicted tokens), reported after every supervision step.

use crate::nn::loss::token_nll;
use crate::tasks::text::TextTrm;
use burn::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub struct PerplexityReport {
    /// Mean NLL (nats per token) after supervision step s = 1, 2, ...
    pub nll_per_step: Vec<f64>,
    pub tokens: usize,
}

impl PerplexityReport {
    pub fn final_nll(&self) -> f64 {
        *self.nll_per_step.last().expect("at least one step")
    }

    pub fn ppl_per_step(&self) -> Vec<f64> {
        self.nll_per_step.iter().map(|n| n.exp()).collect()
    }

    pub fn final_ppl(&self) -> f64 {
        self.final_nll().exp()
    }
}

/// Evaluate windows of seq_len+1 tokens (input = w[..L], target = w[1..]) in batches.
pub fn evaluate_lm<B: Backend>(
    model: &TextTrm<B>,
    windows: &[Vec<u32>],
    batch_size: usize,
    steps: usize,
    device: &B::Device,
) -> PerplexityReport {
    let mut sums = vec![0.0f64; steps];
    let mut tokens = 0usize;
    for chunk in windows.chunks(batch_size.max(1)) {
        let (inputs, targets) = batch_tensors::<B>(chunk, device);
        tokens += targets.dims()[0] * targets.dims()[1];
        for (s, logits) in model.forward_steps(inputs, steps).into_iter().enumerate() {
            sums[s] += token_nll(logits, targets.clone())
                .sum()
                .into_scalar()
                .elem::<f64>();
        }
    }
    PerplexityReport {
        nll_per_step: sums.iter().map(|s| s / tokens as f64).collect(),
        tokens,
    }
}

/// Windows of L+1 tokens -> (inputs [B, L], targets [B, L]).
pub fn batch_tensors<B: Backend>(
    windows: &[Vec<u32>],
    device: &B::Device,
) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
    let b = windows.len();
    let l = windows[0].len() - 1;
    let mut inputs = Vec::with_capacity(b * l);
    let mut targets = Vec::with_capacity(b * l);
    for w in windows {
        inputs.extend(w[..l].iter().map(|&t| t as i64));
        targets.extend(w[1..].iter().map(|&t| t as i64));
    }
    (
        Tensor::from_data(TensorData::new(inputs, [b, l]), device),
        Tensor::from_data(TensorData::new(targets, [b, l]), device),
    )
}
