//! Autoregressive sampling: temperature, top-k, top-p (nucleus), seeded; streamed token by token.

use crate::data::{StreamDecoder, TextTokenizer};
use crate::nn::{AttnMask, KvCache};
use crate::rng::Rng;
use crate::tasks::text::TextLm;
use burn::prelude::*;

#[derive(Clone, Debug)]
pub struct SamplingParams {
    pub max_new_tokens: usize,
    /// 0 means greedy (argmax).
    pub temperature: f64,
    /// 0 means no top-k cut.
    pub top_k: usize,
    /// 1.0 means no nucleus cut.
    pub top_p: f64,
    pub seed: u64,
    /// Stop when the model emits this token (end of text).
    pub stop_token: Option<u32>,
    /// Keep keys and values of earlier positions instead of recomputing them.
    pub cache: bool,
    /// Unmasking steps of the masked head's sampler.
    pub diffusion_steps: usize,
    /// Adaptive computation (uncached causal sampling): stop a token's supervision steps once its
    /// halting probability reaches this threshold.
    pub halt_threshold: Option<f64>,
}

/// Generate after `prompt` (ids), calling `on_token` for each new id; returns the new ids.
///
/// Without the cache every token recomputes its whole context, cut to the model's last `max_len`
/// tokens. With it (`params.cache`), keys and values of every attention call are kept and each new
/// token costs one position; when the cache reaches `max_len` it restarts from the last `max_len / 2`
/// tokens. Within `max_len` both ways give the same tokens (tested).
pub fn generate<B: Backend>(
    model: &TextLm<B>,
    prompt: &[u32],
    params: &SamplingParams,
    device: &B::Device,
    mut on_token: impl FnMut(u32),
) -> Vec<u32> {
    let mut rng = Rng::new(params.seed);
    let mut context: Vec<u32> = prompt.to_vec();
    let mut cache = KvCache::new();
    let mut pending: Vec<u32> = Vec::new(); // tokens not yet in the cache
    let mut out = Vec::new();
    for _ in 0..params.max_new_tokens {
        let max_len = model.max_len();
        let (window, mask) = if params.cache {
            if cache.is_empty() || cache.len() + pending.len() > max_len {
                cache = KvCache::new();
                let keep = if context.len() > max_len {
                    max_len / 2
                } else {
                    context.len()
                };
                pending = context[context.len() - keep..].to_vec();
            }
            (
                std::mem::take(&mut pending),
                AttnMask::Cached(cache.clone()),
            )
        } else {
            let start = context.len().saturating_sub(max_len);
            let window = context[start..].to_vec();
            let mask = model.mask(window.len(), device);
            (window, mask)
        };
        let len = window.len();
        let ids: Vec<i64> = window.iter().map(|&t| t as i64).collect();
        let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, len]), device);
        let last = match params.halt_threshold.filter(|_| !params.cache) {
            Some(threshold) => {
                model
                    .forward_until_settled(tokens, model.n_sup(), threshold)
                    .0
            }
            None => {
                let logits = model
                    .forward_steps_with(tokens, model.n_sup(), &mask)
                    .pop()
                    .expect("n_sup >= 1");
                logits.narrow(1, len - 1, 1)
            }
        };
        let last: Vec<f32> = last.into_data().to_vec().expect("f32 logits");
        let id = pick_token(&last, params, &mut rng);
        if Some(id) == params.stop_token {
            break;
        }
        on_token(id);
        out.push(id);
        context.push(id);
        if params.cache {
            pending.push(id);
        }
    }
    out
}

/// Sample text after `prompt` and write it, prompt included, to `out` as it is produced; returns
/// the same text. Causal head: the prompt follows an end-of-text token (documents start that way
/// in training) and new tokens stream out one by one. Masked head: `[MASK]` / `[MASK:N]` markers in
/// the prompt are filled and `max_new_tokens` masked positions are appended (within one window),
/// then the whole text is written once unmasking ends.
pub fn sample_text<B: Backend>(
    model: &TextLm<B>,
    tok: &TextTokenizer,
    prompt: &str,
    params: &SamplingParams,
    device: &B::Device,
    out: &mut dyn std::io::Write,
) -> String {
    let mut known = vec![Some(tok.eot_id())];
    if model.mask_token().is_some() {
        known.extend(parse_infill(prompt, tok));
        let room = model.max_len().saturating_sub(known.len());
        known.extend(std::iter::repeat_n(None, params.max_new_tokens.min(room)));
        known.drain(..known.len().saturating_sub(model.max_len()));
        let ids = generate_masked(model, &known, params.diffusion_steps, params, device);
        let text: Vec<u32> = ids.into_iter().filter(|&t| t != tok.eot_id()).collect();
        let text = tok.decode(&text);
        let _ = write!(out, "{text}");
        return text;
    }
    let ids: Vec<u32> = std::iter::once(tok.eot_id())
        .chain(tok.encode(prompt))
        .collect();
    let _ = write!(out, "{prompt}");
    let mut decoder = StreamDecoder::new(tok);
    let new = generate(model, &ids, params, device, |id| {
        let _ = write!(out, "{}", decoder.push(id));
        let _ = out.flush();
    });
    let _ = write!(out, "{}", decoder.finish());
    format!("{prompt}{}", tok.decode(&new))
}

/// Masked-head sampling by iterative unmasking (MDLM ancestral sampling, linear schedule):
/// `tokens` holds known ids and `None` for positions to fill (a prompt with gaps is infilling).
/// Over `steps` steps from t = 1 to 0, each still-masked position is revealed with probability
/// (t - t_next) / t, its token drawn from the model's prediction (temperature / top-k / top-p);
/// at the last step every remaining position is revealed. Known tokens never change.
pub fn generate_masked<B: Backend>(
    model: &TextLm<B>,
    tokens: &[Option<u32>],
    steps: usize,
    params: &SamplingParams,
    device: &B::Device,
) -> Vec<u32> {
    let mask = model.mask_token().expect("a masked-head model");
    let mut rng = Rng::new(params.seed);
    let mut seq: Vec<Option<u32>> = tokens.to_vec();
    let steps = steps.max(1);
    for step in (1..=steps).rev() {
        let (t, t_next) = (step as f64 / steps as f64, (step - 1) as f64 / steps as f64);
        if seq.iter().all(Option::is_some) {
            break;
        }
        let ids: Vec<i64> = seq.iter().map(|t| t.unwrap_or(mask) as i64).collect();
        let len = ids.len();
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, len]), device);
        let logits = model
            .forward_steps(input, model.n_sup())
            .pop()
            .expect("n_sup >= 1");
        let vocab = logits.dims()[2];
        let logits: Vec<f32> = logits.into_data().to_vec().expect("f32 logits");
        for (i, slot) in seq.iter_mut().enumerate() {
            if slot.is_none() && (t_next == 0.0 || rng.uniform() < (t - t_next) / t) {
                *slot = Some(pick_token(
                    &logits[i * vocab..(i + 1) * vocab],
                    params,
                    &mut rng,
                ));
            }
        }
    }
    seq.into_iter().map(|t| t.unwrap_or(mask)).collect()
}

/// What the first `[MASK` of a text is.
enum Marker {
    /// `[MASK]` (1) or `[MASK:N]`.
    Count(u64),
    /// `[MASK:N]` with more digits than a u64 holds.
    TooMany,
    /// Only looks like one (`[MASKED]`): plain text.
    Text,
}

/// The first `[MASK...]` of `text`: where it starts, where it ends (after its `]`) and what it is;
/// None when there is none (or no `]` follows).
fn next_marker(text: &str) -> Option<(usize, usize, Marker)> {
    let start = text.find("[MASK")?;
    let end = start + text[start..].find(']')?;
    let marker = match &text[start + 5..end] {
        "" => Marker::Count(1),
        spec => match spec.strip_prefix(':') {
            Some(n) => match n.parse::<u64>() {
                Ok(n) => Marker::Count(n),
                Err(_) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => Marker::TooMany,
                Err(_) => Marker::Text,
            },
            None => Marker::Text,
        },
    };
    Some((start, end + 1, marker))
}

/// How many masked tokens the `[MASK]` / `[MASK:N]` markers of `prompt` ask for (saturating), to
/// check against the model's window before any is made.
pub fn infill_masks(prompt: &str) -> u64 {
    let mut total: u64 = 0;
    let mut rest = prompt;
    while let Some((start, end, marker)) = next_marker(rest) {
        match marker {
            Marker::Count(n) => total = total.saturating_add(n),
            // more than any window holds
            Marker::TooMany => total = u64::MAX,
            Marker::Text => {
                rest = &rest[start + 1..];
                continue;
            }
        }
        rest = &rest[end..];
    }
    total
}

/// Split a prompt at `[MASK]` (one masked token) and `[MASK:N]` (N masked tokens) markers.
pub fn parse_infill(prompt: &str, tok: &TextTokenizer) -> Vec<Option<u32>> {
    let mut out = Vec::new();
    let mut rest = prompt;
    while let Some((start, end, marker)) = next_marker(rest) {
        let Marker::Count(count) = marker else {
            // not a marker: keep the text up to and including '['
            out.extend(tok.encode(&rest[..start + 1]).into_iter().map(Some));
            rest = &rest[start + 1..];
            continue;
        };
        out.extend(tok.encode(&rest[..start]).into_iter().map(Some));
        out.extend(std::iter::repeat_n(None, count as usize));
        rest = &rest[end..];
    }
    out.extend(tok.encode(rest).into_iter().map(Some));
    out
}

/// Choose the next token from logits: temperature, then top-k, then top-p, then a seeded draw.
pub fn pick_token(logits: &[f32], params: &SamplingParams, rng: &mut Rng) -> u32 {
    if params.temperature <= 0.0 {
        return argmax(logits) as u32;
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if params.top_k > 0 {
        order.truncate(params.top_k);
    }
    let max = logits[order[0]] as f64;
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| ((logits[i] as f64 - max) / params.temperature).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if params.top_p < 1.0 {
        let mut cumulative = 0.0;
        let keep = probs
            .iter()
            .position(|p| {
                cumulative += p;
                cumulative >= params.top_p
            })
            .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
        order.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut u = rng.uniform() * total;
    for (p, &i) in probs.iter().zip(&order) {
        if u < *p {
            return i as u32;
        }
        u -= p;
    }
    *order.last().unwrap() as u32
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f64, top_k: usize, top_p: f64) -> SamplingParams {
        SamplingParams {
            max_new_tokens: 1,
            temperature,
            top_k,
            top_p,
            seed: 0,
            stop_token: None,
            cache: false,
            diffusion_steps: 1,
            halt_threshold: None,
        }
    }

    fn frequencies(logits: &[f32], p: &SamplingParams, draws: usize) -> Vec<f64> {
        let mut rng = Rng::new(3);
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..draws {
            counts[pick_token(logits, p, &mut rng) as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / draws as f64).collect()
    }

    #[test]
    fn zero_temperature_is_greedy() {
        let mut rng = Rng::new(0);
        assert_eq!(
            pick_token(&[0.1, 2.0, 1.9], &params(0.0, 0, 1.0), &mut rng),
            1
        );
    }

    #[test]
    fn sampling_follows_softmax_and_cuts() {
        // probabilities by hand: softmax(ln 1, ln 2, ln 3, ln 4) = 0.1, 0.2, 0.3, 0.4
        let logits: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0].iter().map(|x| x.ln()).collect();
        let f = frequencies(&logits, &params(1.0, 0, 1.0), 200_000);
        for (got, want) in f.iter().zip([0.1, 0.2, 0.3, 0.4]) {
            assert!((got - want).abs() < 0.005, "{f:?}");
        }
        // top-k 2 keeps 0.3 and 0.4, renormalised to 3/7 and 4/7
        let f = frequencies(&logits, &params(1.0, 2, 1.0), 200_000);
        assert_eq!(f[0] + f[1], 0.0);
        assert!((f[3] - 4.0 / 7.0).abs() < 0.005, "{f:?}");
        // top-p 0.65: 0.4 + 0.3 = 0.7 >= 0.65 keeps the two largest
        let f = frequencies(&logits, &params(1.0, 0, 0.65), 200_000);
        assert_eq!(f[0] + f[1], 0.0);
        // temperature 0.5 squares the odds: 1, 4, 9, 16 over 30
        let f = frequencies(&logits, &params(0.5, 0, 1.0), 200_000);
        assert!((f[3] - 16.0 / 30.0).abs() < 0.005, "{f:?}");
    }
}
