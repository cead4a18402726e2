//! Adaptive depth at inference: each token recurses until an exit rule lets it stop (the halting
//! head, or the change of its next-token distribution between steps), then is frozen, exactly as
//! the sampler runs it with the KV cache. Reports the perplexity of those predictions against
//! the mean number of supervision steps used.

use super::perplexity::EvalSet;
use crate::nn::loss::token_nll;
use crate::nn::KvCache;
use crate::tasks::text::{batch_tensors, ExitRule, TextLm};
use burn::prelude::*;

/// The rules `trm eval --adaptive` tries when none is given.
pub const DEFAULT_RULES: [ExitRule; 7] = [
    ExitRule::Halt(0.5),
    ExitRule::Halt(0.9),
    ExitRule::Kl(1e-2),
    ExitRule::Kl(3e-3),
    ExitRule::Kl(1e-3),
    ExitRule::Kl(3e-4),
    ExitRule::Kl(1e-4),
];

#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveRow {
    pub rule: ExitRule,
    /// Supervision steps per token, averaged over the scored tokens.
    pub mean_steps: f64,
    pub ppl: f64,
}

/// One row per rule, each token running at most `max_steps`; Err names why the model cannot
/// exit adaptively.
pub fn adaptive_exit<B: Backend>(
    model: &TextLm<B>,
    set: &EvalSet,
    batch_size: usize,
    max_steps: usize,
    rules: &[ExitRule],
    device: &B::Device,
) -> Result<Vec<AdaptiveRow>, String> {
    rules
        .iter()
        .map(|&rule| {
            model.check_adaptive(rule)?;
            let (mut nll_sum, mut step_sum, mut tokens) = (0.0f64, 0usize, 0usize);
            for chunk in set.windows.chunks(batch_size.max(1)) {
                let (inputs, targets) = batch_tensors::<B>(chunk, device);
                let out = model.forward_adaptive(inputs, max_steps, rule, &KvCache::new());
                let nll: Vec<f32> = token_nll(out.logits, targets)
                    .into_data()
                    .to_vec()
                    .expect("f32");
                nll_sum += nll.iter().map(|&n| f64::from(n)).sum::<f64>();
                step_sum += out.steps.iter().sum::<usize>();
                tokens += nll.len();
            }
            Ok(AdaptiveRow {
                rule,
                mean_steps: step_sum as f64 / tokens as f64,
                ppl: (nll_sum / tokens as f64).exp(),
            })
        })
        .collect()
}
