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
