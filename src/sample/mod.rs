//! Autoregressive sampling: temperature, top-k, top-p (nucleus), seeded; streamed token by token.

use crate::data::{StreamDecoder, TextTokenizer};
use crate::nn::{AttnMask, KvCache};
use crate::rng::Rng;
use crate::tasks::text::{ExitRule, TextLm};
use burn::prelude::*;
use std::io::{self, Write};
use std::ops::ControlFlow;

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
    /// Adaptive depth: a token stops its supervision steps once this rule lets it (at most
    /// `steps`), cached or not (the cache keeps an exited token's last keys and values for the
    /// later steps of later tokens).
    pub exit: Option<ExitRule>,
}

/// Settings of a sample beyond [`SamplingParams`]: how deep the model thinks per token, and
/// where the text ends.
#[derive(Clone, Debug, Default)]
pub struct SampleOptions {
    /// Supervision steps per forward pass; None = the trained `n_sup`. More than trained is
    /// test-time depth: the KV cache grows one slot per extra attention call on its own.
    pub steps: Option<usize>,
    /// Stop strings: the generated text (never the prompt) ends right before the first one; the
    /// stop string itself is not written. Empty strings are ignored.
    pub stop: Vec<String>,
}

impl SampleOptions {
    fn steps<B: Backend>(&self, model: &TextLm<B>) -> usize {
        self.steps.unwrap_or(model.n_sup()).max(1)
    }
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
    generate_with(model, prompt, params, model.n_sup(), device, |id| {
        on_token(id);
        ControlFlow::Continue(())
    })
}

/// [`generate`] with `steps` supervision steps per token (the trained `n_sup` or more: the KV
/// cache keeps one slot per attention call, supervision step x recursion pass x layer, and makes
/// the slots the first pass needs) and an `on_token` that may end generation early
/// (`ControlFlow::Break`: the token it was given is kept, nothing more is generated).
pub fn generate_with<B: Backend>(
    model: &TextLm<B>,
    prompt: &[u32],
    params: &SamplingParams,
    steps: usize,
    device: &B::Device,
    mut on_token: impl FnMut(u32) -> ControlFlow<()>,
) -> Vec<u32> {
    let steps = steps.max(1);
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
        let last = match params.exit {
            Some(rule) => {
                // uncached: a fresh cache over the whole window each token, which recomputes
                // every earlier token's steps and exits
                let cache = match &mask {
                    AttnMask::Cached(cache) => cache.clone(),
                    _ => KvCache::new(),
                };
                let logits = model.forward_adaptive(tokens, steps, rule, &cache).logits;
                logits.narrow(1, len - 1, 1)
            }
            None => {
                let logits = model
                    .forward_steps_with(tokens, steps, &mask)
                    .pop()
                    .expect("steps >= 1");
                logits.narrow(1, len - 1, 1)
            }
        };
        let last: Vec<f32> = last.into_data().to_vec().expect("f32 logits");
        let id = pick_token(&last, params, &mut rng);
        if Some(id) == params.stop_token {
            break;
        }
        let flow = on_token(id);
        out.push(id);
        context.push(id);
        if params.cache {
            pending.push(id);
        }
        if flow.is_break() {
            break;
        }
    }
    out
}

/// Sample text after `prompt` and write it, prompt included, to `out` as it is produced; returns
/// the same text. Write errors are ignored (the text is still generated and returned); see
/// [`sample_stream`] for a sample that stops on them, with stop strings and other depths.
pub fn sample_text<B: Backend>(
    model: &TextLm<B>,
    tok: &TextTokenizer,
    prompt: &str,
    params: &SamplingParams,
    device: &B::Device,
    out: &mut dyn Write,
) -> String {
    let mut out = IgnoreErrors(out);
    let options = SampleOptions::default();
    match sample_stream(model, tok, prompt, params, &options, device, &mut out) {
        Ok(text) => text,
        Err(e) => unreachable!("writes never fail here: {e}"),
    }
}

/// Sample text after `prompt` and write it, prompt included, to `out` as it is produced; returns
/// the same text, or the first write error (generation stops there: a closed pipe reads
/// `ErrorKind::BrokenPipe`). Causal head: the prompt follows an end-of-text token (documents start
/// that way in training) and new tokens stream out one by one. Masked head: `[MASK]` /
/// `[MASK:N]` markers in the prompt are filled and `max_new_tokens` masked positions are appended
/// (within one window), then the whole text is written once unmasking ends; stop strings are
/// looked for from the first filled position on.
pub fn sample_stream<B: Backend>(
    model: &TextLm<B>,
    tok: &TextTokenizer,
    prompt: &str,
    params: &SamplingParams,
    options: &SampleOptions,
    device: &B::Device,
    out: &mut dyn Write,
) -> io::Result<String> {
    if model.mask_token().is_some() {
        let mut known = vec![Some(tok.eot_id())];
        known.extend(parse_infill(prompt, tok));
        let room = model.max_len().saturating_sub(known.len());
        known.extend(std::iter::repeat_n(None, params.max_new_tokens.min(room)));
        known.drain(..known.len().saturating_sub(model.max_len()));
        let first_gap = known
            .iter()
            .position(Option::is_none)
            .unwrap_or(known.len());
        let ids = generate_masked_with(
            model,
            &known,
            params.diffusion_steps,
            options.steps(model),
            params,
            device,
        );
        let text_of = |ids: &[u32]| {
            let ids: Vec<u32> = ids.iter().copied().filter(|&t| t != tok.eot_id()).collect();
            tok.decode(&ids)
        };
        let mut text = text_of(&ids[..first_gap]);
        let mut filled = text_of(&ids[first_gap..]);
        if let Some(cut) = find_stop(&filled, 0, &options.stop) {
            filled.truncate(cut);
        }
        text.push_str(&filled);
        write!(out, "{text}")?;
        out.flush()?;
        return Ok(text);
    }
    let ids: Vec<u32> = std::iter::once(tok.eot_id())
        .chain(tok.encode(prompt))
        .collect();
    write!(out, "{prompt}")?;
    out.flush()?;
    let new = continue_causal(model, tok, &ids, params, options, device, out)?;
    Ok(format!("{prompt}{}", new.text))
}

/// What [`continue_ids`] generated and wrote.
#[derive(Clone, Debug)]
pub struct Continuation {
    /// The text written (cut before a stop string).
    pub text: String,
    /// The ids generated; where a stop string cut the text, the ids of the text written instead.
    pub ids: Vec<u32>,
    /// Whether a stop string ended it.
    pub stopped: bool,
}

/// Continue `context` (ids, taken as they are: no end-of-text token is added) and write only the
/// new text to `out` as it comes, cut before the first stop string. Causal head: streamed token by
/// token. Masked head: `max_new_tokens` masked positions after the context, at least half a window
/// (the context is cut from the left to make room), unmasked and written at once, end-of-text
/// tokens left out. Returns the first write error (generation stops there).
pub fn continue_ids<B: Backend>(
    model: &TextLm<B>,
    tok: &TextTokenizer,
    context: &[u32],
    params: &SamplingParams,
    options: &SampleOptions,
    device: &B::Device,
    out: &mut dyn Write,
) -> io::Result<Continuation> {
    if model.mask_token().is_none() {
        return continue_causal(model, tok, context, params, options, device, out);
    }
    let max_len = model.max_len();
    let mut new = params
        .max_new_tokens
        .min(max_len.saturating_sub(context.len()));
    if new < params.max_new_tokens.min(max_len / 2) {
        new = params.max_new_tokens.min(max_len / 2);
    }
    let keep = context.len().min(max_len - new);
    let mut known: Vec<Option<u32>> = context[context.len() - keep..]
        .iter()
        .map(|&t| Some(t))
        .collect();
    known.extend(std::iter::repeat_n(None, new));
    let ids = generate_masked_with(
        model,
        &known,
        params.diffusion_steps,
        options.steps(model),
        params,
        device,
    );
    let mut ids: Vec<u32> = ids[keep..]
        .iter()
        .copied()
        .filter(|&t| t != tok.eot_id())
        .collect();
    let mut text = tok.decode(&ids);
    let stopped = match find_stop(&text, 0, &options.stop) {
        Some(cut) => {
            text.truncate(cut);
            ids = tok.encode(&text);
            true
        }
        None => false,
    };
    write!(out, "{text}")?;
    out.flush()?;
    Ok(Continuation { text, ids, stopped })
}

/// The causal head's [`continue_ids`].
fn continue_causal<B: Backend>(
    model: &TextLm<B>,
    tok: &TextTokenizer,
    context: &[u32],
    params: &SamplingParams,
    options: &SampleOptions,
    device: &B::Device,
    out: &mut dyn Write,
) -> io::Result<Continuation> {
    let mut decoder = StreamDecoder::new(tok);
    let mut stream = StopStream::new(out, &options.stop);
    let mut ids = generate_with(model, context, params, options.steps(model), device, |id| {
        let piece = decoder.push(id);
        stream.push(&piece)
    });
    if !stream.done() {
        let tail = decoder.finish();
        let _ = stream.push(&tail);
    }
    let stopped = stream.cut.is_some();
    let text = stream.finish()?;
    if stopped {
        ids = tok.encode(&text);
    }
    Ok(Continuation { text, ids, stopped })
}

/// Writes generated text as it comes, holding back what may be the start of a stop string (at
/// most the longest stop string's length less one byte) until it is known not to be one.
struct StopStream<'a> {
    out: &'a mut dyn Write,
    stops: Vec<&'a str>,
    /// All text generated so far (cut at the stop string once one is seen).
    text: String,
    /// Bytes of `text` written.
    written: usize,
    /// Where a stop string began.
    cut: Option<usize>,
    error: Option<io::Error>,
}

impl<'a> StopStream<'a> {
    fn new(out: &'a mut dyn Write, stops: &'a [String]) -> Self {
        Self {
            out,
            stops: stops
                .iter()
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .collect(),
            text: String::new(),
            written: 0,
            cut: None,
            error: None,
        }
    }

    /// A stop string was seen or a write failed: nothing more is wanted.
    fn done(&self) -> bool {
        self.cut.is_some() || self.error.is_some()
    }

    /// Take the next piece of text; Break once a stop string is complete or a write failed.
    fn push(&mut self, piece: &str) -> ControlFlow<()> {
        if self.done() {
            return ControlFlow::Break(());
        }
        let before = self.text.len();
        self.text.push_str(piece);
        let longest = self.stops.iter().map(|s| s.len()).max().unwrap_or(0);
        let from = floor_boundary(&self.text, before.saturating_sub(longest.saturating_sub(1)));
        let safe = match find_stop(&self.text, from, &self.stops) {
            Some(cut) => {
                self.cut = Some(cut);
                self.text.truncate(cut);
                cut
            }
            None => self.text.len() - held_back(&self.text, &self.stops),
        };
        self.write_to(safe);
        if self.done() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn write_to(&mut self, end: usize) {
        if end <= self.written || self.error.is_some() {
            return;
        }
        let result = self
            .out
            .write_all(&self.text.as_bytes()[self.written..end])
            .and_then(|()| self.out.flush());
        match result {
            Ok(()) => self.written = end,
            Err(e) => self.error = Some(e),
        }
    }

    /// Write what was held back; the text written, or the first write error.
    fn finish(mut self) -> io::Result<String> {
        self.write_to(self.text.len());
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.text),
        }
    }
}

/// Where `text` is cut for the first stop string: generation ends as soon as the text holds one,
/// so the stop string that ends first wins (the longest of those ending there), and the text ends
/// where it begins. Only occurrences starting at `from` or later are looked for.
pub fn find_stop<S: AsRef<str>>(text: &str, from: usize, stops: &[S]) -> Option<usize> {
    let hay = &text[from..];
    stops
        .iter()
        .map(|s| s.as_ref())
        .filter(|s| !s.is_empty())
        .filter_map(|s| hay.find(s).map(|at| (at + s.len(), at)))
        .min_by_key(|&(end, start)| (end, start))
        .map(|(_, start)| from + start)
}

/// Bytes at the end of `text` that begin some stop string (without completing it).
fn held_back(text: &str, stops: &[&str]) -> usize {
    let longest = stops.iter().map(|s| s.len()).max().unwrap_or(0);
    (1..longest.min(text.len() + 1))
        .rev()
        .find(|&k| {
            let at = text.len() - k;
            text.is_char_boundary(at) && {
                let tail = &text[at..];
                stops.iter().any(|s| s.len() > k && s.starts_with(tail))
            }
        })
        .unwrap_or(0)
}

/// The char boundary at or before byte `at`.
fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A writer whose writes always succeed (what it forwards to may fail unseen).
struct IgnoreErrors<'a>(&'a mut dyn Write);

impl Write for IgnoreErrors<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
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
    generate_masked_with(model, tokens, steps, model.n_sup(), params, device)
}

/// [`generate_masked`] with `sup_steps` supervision steps per model call (the trained `n_sup` or
/// another depth).
pub fn generate_masked_with<B: Backend>(
    model: &TextLm<B>,
    tokens: &[Option<u32>],
    steps: usize,
    sup_steps: usize,
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
            .forward_steps(input, sup_steps.max(1))
            .pop()
            .expect("steps >= 1");
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
            exit: None,
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

    /// Feed `pieces` through a StopStream; what was written after each piece, and the result.
    fn stream(pieces: &[&str], stops: &[&str]) -> (Vec<String>, String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut buf = Vec::new();
        let mut seen = Vec::new();
        let mut stream = StopStream::new(&mut buf, &stops);
        for piece in pieces {
            let flow = stream.push(piece);
            seen.push(stream.text[..stream.written].to_string());
            if flow.is_break() {
                break;
            }
        }
        let stopped = stream.cut.is_some();
        let text = stream.finish().unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), text);
        (seen, text, stopped)
    }

    #[test]
    fn stop_strings_cut_and_are_never_printed() {
        // the start of a stop string is held back until it is known not to be one
        let (seen, text, stopped) = stream(&["ab", "c", "d", "e", "f"], &["cde"]);
        assert_eq!(seen, ["ab", "ab", "ab", "ab"]);
        assert_eq!((text.as_str(), stopped), ("ab", true));
        let (seen, text, stopped) = stream(&["ab", "c", "x", "cd"], &["cde"]);
        assert_eq!(seen, ["ab", "ab", "abcx", "abcx"]);
        assert_eq!((text.as_str(), stopped), ("abcxcd", false));
        // inside one piece, and several stops: the one complete first wins
        let (_, text, _) = stream(&["xxabcdyy"], &["abcd", "c"]);
        assert_eq!(text, "xxab");
        let (_, text, _) = stream(&["xyz"], &["q"]);
        assert_eq!(text, "xyz");
        // multi-byte characters
        let (seen, text, stopped) = stream(&["é", "ü", "ö", "ü"], &["üx", "öü"]);
        assert_eq!(seen, ["é", "é", "éü", "éü"]);
        assert_eq!((text.as_str(), stopped), ("éü", true));
        assert_eq!(find_stop("abcd", 0, &["abcd", "bc"]), Some(1));
        assert_eq!(find_stop("abcabc", 3, &["ab"]), Some(3));
        assert_eq!(held_back("xxab", &["abc", "b"]), 2);
        assert_eq!(held_back("é", &["éa"]), 2);
    }

    #[test]
    fn a_failed_write_ends_the_stream() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = Closed;
        let mut stream = StopStream::new(&mut out, &[]);
        assert!(stream.push("a").is_break());
        let err = stream.finish().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
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
