//! Perplexity = exp(total NLL / total scored tokens) and bits per byte = total NLL / ln 2 /
//! UTF-8 bytes of exactly those tokens, reported after every supervision step.

use crate::data::TextTokenizer;
use crate::nn::loss::token_nll;
use crate::rng::Rng;
use crate::tasks::text::{masked_batch, TextLm};
use burn::prelude::*;

/// Held-out windows of seq_len+1 tokens and the UTF-8 size of the tokens each head scores.
pub struct EvalSet {
    pub windows: Vec<Vec<u32>>,
    /// Bytes of the causal head's targets, w[1..] of every window.
    pub causal_bytes: usize,
    /// Bytes of the tokens the masked head's ELBO scores, w[..L] of every window.
    pub masked_bytes: usize,
}

impl EvalSet {
    /// Counts each token's own bytes (`TextTokenizer::token_bytes`), not the decoded text of a
    /// window, whose edges may cut a character; end-of-text tokens count zero bytes.
    pub fn new(windows: Vec<Vec<u32>>, tokenizer: &TextTokenizer) -> Self {
        let bytes = |ids: &[u32]| -> usize { ids.iter().map(|&t| tokenizer.token_bytes(t)).sum() };
        let causal_bytes = windows.iter().map(|w| bytes(&w[1..])).sum();
        let masked_bytes = windows.iter().map(|w| bytes(&w[..w.len() - 1])).sum();
        Self {
            windows,
            causal_bytes,
            masked_bytes,
        }
    }

    pub fn tokens(&self) -> usize {
        self.windows.iter().map(|w| w.len() - 1).sum()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PerplexityReport {
    /// Mean NLL (nats per token) after supervision step s = 1, 2, ...
    pub nll_per_step: Vec<f64>,
    pub tokens: usize,
    /// UTF-8 bytes of exactly the `tokens` scored, the denominator of bits per byte.
    pub bytes: usize,
    /// The masked head's numbers are an upper bound on perplexity (ELBO), not the exact value.
    pub elbo_bound: bool,
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

    pub fn bits_per_byte_per_step(&self) -> Vec<f64> {
        let scale = self.tokens as f64 / (self.bytes.max(1) as f64 * std::f64::consts::LN_2);
        self.nll_per_step.iter().map(|n| n * scale).collect()
    }

    pub fn final_bits_per_byte(&self) -> f64 {
        *self
            .bits_per_byte_per_step()
            .last()
            .expect("at least one step")
    }
}

/// Masking rates of the masked head's ELBO estimate: the midpoints of 8 equal slices of (0, 1].
pub const ELBO_RATES: [f64; 8] = [
    0.0625, 0.1875, 0.3125, 0.4375, 0.5625, 0.6875, 0.8125, 0.9375,
];

/// Evaluate windows of seq_len+1 tokens in batches, after each of `steps` supervision steps.
///
/// Causal head: exact next-token NLL (input w[..L], target w[1..]). Masked head: the MDLM ELBO
/// bound on the NLL of w[..L], integral over t of E[sum of masked-token NLL] / t, by the midpoint
/// rule over `ELBO_RATES` with one fixed-seed masking per rate (deterministic).
pub fn evaluate_lm<B: Backend>(
    model: &TextLm<B>,
    set: &EvalSet,
    batch_size: usize,
    steps: usize,
    device: &B::Device,
) -> PerplexityReport {
    let mut sums = vec![0.0f64; steps];
    let mut tokens = 0usize;
    let mut rng = Rng::new(0xE1B0);
    for chunk in set.windows.chunks(batch_size.max(1)) {
        let positions = chunk.len() * (chunk[0].len() - 1);
        tokens += positions;
        let batches = match model.mask_token() {
            None => vec![(model.batch(chunk, &mut rng, device), 1.0)],
            Some(mask) => ELBO_RATES
                .iter()
                .map(|&t| {
                    (
                        masked_batch(chunk, &vec![t; chunk.len()], mask, &mut rng, device),
                        1.0 / ELBO_RATES.len() as f64,
                    )
                })
                .collect(),
        };
        for (batch, share) in batches {
            for (s, logits) in model
                .forward_steps(batch.inputs, steps)
                .into_iter()
                .enumerate()
            {
                let nll = token_nll(logits, batch.targets.clone());
                // masked weights are 1 / (t L) per masked position: scale back to a per-sequence sum
                let total = match &batch.weights {
                    None => nll.sum(),
                    Some(w) => (nll * w.clone())
                        .sum()
                        .mul_scalar((chunk[0].len() - 1) as f64),
                };
                sums[s] += share * total.into_scalar().elem::<f64>();
            }
        }
    }
    PerplexityReport {
        nll_per_step: sums.iter().map(|s| s / tokens as f64).collect(),
        tokens,
        bytes: match model.mask_token() {
            None => set.causal_bytes,
            Some(_) => set.masked_bytes,
        },
        elbo_bound: model.mask_token().is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_per_byte_by_hand() {
        // 10 tokens at 1 nat each over 20 bytes: 10 / (20 ln 2) = 0.72135 bits per byte
        let r = PerplexityReport {
            nll_per_step: vec![2.0, 1.0],
            tokens: 10,
            bytes: 20,
            elbo_bound: false,
        };
        let bpb = r.bits_per_byte_per_step();
        assert!((bpb[1] - 10.0 / (20.0 * std::f64::consts::LN_2)).abs() < 1e-12);
        assert!((bpb[0] - 2.0 * bpb[1]).abs() < 1e-12);
        assert!((r.final_ppl() - std::f64::consts::E).abs() < 1e-12);
    }

    #[test]
    fn eval_set_counts_each_scored_tokens_own_bytes() {
        let tok = TextTokenizer::bytes();
        // causal targets: "b", eot, "é" (2 bytes) -> 3 bytes; masked: "a", "b", eot, 0xC3 -> 3
        let w = vec![97, 98, 256, 0xC3, 0xA9];
        let set = EvalSet::new(vec![w], &tok);
        assert_eq!((set.causal_bytes, set.masked_bytes), (3, 3));
        assert_eq!(set.tokens(), 4);
        // "日" (3 bytes) then eot: the causal targets hold its last 2 bytes (decoding them
        // would give two U+FFFD, 6 bytes), the masked head scores all 3
        let w = [0xE6, 0x97, 0xA5, 256].to_vec();
        let set = EvalSet::new(vec![w], &tok);
        assert_eq!((set.causal_bytes, set.masked_bytes), (2, "日".len()));
    }
}
