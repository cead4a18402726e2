//! Losses: token cross-entropy (mean and per-token sums for perplexity) and binary cross-entropy with logits.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Negative log-likelihood of each target: logits [B, L, V], targets [B, L] -> [B, L].
pub fn token_nll<B: Backend>(logits: Tensor<B, 3>, targets: Tensor<B, 2, Int>) -> Tensor<B, 2> {
    log_softmax(logits, 2)
        .gather(2, targets.unsqueeze_dim(2))
        .squeeze_dim::<2>(2)
        .neg()
}

/// Mean token cross-entropy, a scalar.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 3>, targets: Tensor<B, 2, Int>) -> Tensor<B, 1> {
    token_nll(logits, targets).mean()
}

/// Mean binary cross-entropy of logits q against targets t in {0, 1}, computed stably:
/// max(q, 0) - q t + log(1 + exp(-|q|)).
pub fn bce_with_logits<B: Backend, const D: usize>(
    q: Tensor<B, D>,
    t: Tensor<B, D>,
) -> Tensor<B, 1> {
    let softplus_neg_abs = q.clone().abs().neg().exp().add_scalar(1.0).log();
    (q.clone().clamp_min(0.0) - q * t + softplus_neg_abs).mean()
}

/// Stablemax s(x) = 1/(1 - x) for x < 0, x + 1 otherwise (docs/trm.md §3): a softmax replacement
/// whose tails grow linearly, not exponentially. Each branch sees a clamped input so the unused
/// branch never produces inf (and so never a 0 * inf = NaN gradient).
fn stablemax_s<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let negative = x.clone().lower_elem(0.0);
    let below = x.clone().clamp_max(0.0).neg().add_scalar(1.0).recip();
    let above = x.clamp_min(0.0).add_scalar(1.0);
    above.mask_where(negative, below)
}

/// log(s(x_i) / sum_j s(x_j)) along `dim`.
pub fn log_stablemax<B: Backend, const D: usize>(x: Tensor<B, D>, dim: usize) -> Tensor<B, D> {
    let s = stablemax_s(x);
    s.clone().log() - s.sum_dim(dim).log()
}

/// Per-token negative log-likelihood under stablemax: logits [B, L, V], targets [B, L] -> [B, L].
/// (The official code computes this in f64; here it is f32.)
pub fn token_nll_stablemax<B: Backend>(
    logits: Tensor<B, 3>,
    targets: Tensor<B, 2, Int>,
) -> Tensor<B, 2> {
    log_stablemax(logits, 2)
        .gather(2, targets.unsqueeze_dim(2))
        .squeeze_dim::<2>(2)
        .neg()
}

/// Per-sequence mean of a per-token loss over the positions where `valid` is 1: [B, L] -> [B].
/// A sequence with no valid position contributes 0.
pub fn sequence_mean<B: Backend>(per_token: Tensor<B, 2>, valid: Tensor<B, 2>) -> Tensor<B, 1> {
    let count = valid.clone().sum_dim(1).clamp_min(1.0);
    (per_token * valid)
        .sum_dim(1)
        .div(count)
        .squeeze_dim::<1>(1)
}
