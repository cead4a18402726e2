//! The language-model adapter: token embedding in, attention mask, token head out, for two heads:
//! causal (next-token prediction) and masked (MDLM-style diffusion: bidirectional attention,
//! predict the masked tokens). The loss is taken after every deep supervision step. The same
//! adapter wraps the transformer baseline, so the two differ only in the model between embedding
//! and head.

use super::core::Core;
use crate::config::{Head, ModelConfig};
use crate::nn::loss::{bce_with_logits, cross_entropy, token_nll};
use crate::nn::precision;
use crate::nn::{rms_norm, trunc_normal, AttnMask, Block, Init, KvCache, Linear, Rope};
use crate::rng::Rng;
use crate::trm::{Noise, State};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

#[derive(Module, Debug)]
pub struct TextLm<B: Backend> {
    /// Token embedding [V, D], std 1/sqrt(D); the embedded input is scaled by sqrt(D).
    embed: Param<Tensor<B, 2>>,
    pub core: Core<B>,
    /// Token head (next token, or the masked token), not tied to the embedding.
    lm_head: Linear<B>,
    /// Recurrent-depth recipe: pre-norm blocks on the embedding before the recursion, and on y
    /// before the head (each followed by a final RMSNorm); empty in the paper's recipe.
    prelude: Vec<Block<B>>,
    coda: Vec<Block<B>>,
    /// RoPE of the prelude and coda (None without them).
    rope: Option<Rope<B>>,
    /// The masked head's [MASK] id: one embedding row past the vocabulary.
    mask_token: Option<usize>,
    n_sup: usize,
    max_len: usize,
}

/// What one supervision step produced, for the loss and the logs.
pub struct StepOutput<B: Backend> {
    pub state: State<B>,
    pub logits: Tensor<B, 3>,
}

/// When a position may stop recursing at inference (adaptive depth).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExitRule {
    /// The halting head says its prediction has settled: sigmoid(q) >= threshold.
    Halt(f64),
    /// Its next-token distribution changed less than this since the previous step:
    /// KL(p_s || p_s-1) < threshold (Huginn's criterion; never before step 2).
    Kl(f64),
}

impl std::str::FromStr for ExitRule {
    type Err = String;

    /// `halt:P` or `kl:EPS`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}' is not halt:P or kl:EPS"))?;
        let value: f64 = value
            .parse()
            .map_err(|_| format!("'{value}' in '{s}' is not a number"))?;
        match kind {
            "halt" => Ok(Self::Halt(value)),
            "kl" => Ok(Self::Kl(value)),
            _ => Err(format!("'{kind}' in '{s}' is not halt or kl")),
        }
    }
}

impl std::fmt::Display for ExitRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Halt(t) => write!(f, "halt:{t}"),
            Self::Kl(t) => write!(f, "kl:{t}"),
        }
    }
}

/// What [`TextLm::forward_adaptive`] produced for the new positions.
pub struct AdaptiveOutput<B: Backend> {
    /// Logits at each position's exit step, [B, L, V].
    pub logits: Tensor<B, 3>,
    /// Supervision steps each position ran, row-major [B * L].
    pub steps: Vec<usize>,
}

/// One training or evaluation batch in the head's terms.
pub struct LmBatch<B: Backend> {
    pub inputs: Tensor<B, 2, Int>,
    pub targets: Tensor<B, 2, Int>,
    /// Per-position loss weights, summed per sequence (masked head: 1 / (t L) on masked positions,
    /// 0 elsewhere, the MDLM ELBO weighting for the linear schedule); None = mean over positions.
    pub weights: Option<Tensor<B, 2>>,
}

impl<B: Backend> LmBatch<B> {
    /// Rows start..start + n.
    pub fn rows(&self, start: usize, n: usize) -> LmBatch<B> {
        LmBatch {
            inputs: self.inputs.clone().narrow(0, start, n),
            targets: self.targets.clone().narrow(0, start, n),
            weights: self.weights.clone().map(|w| w.narrow(0, start, n)),
        }
    }

    /// The batch cut into chunks of `rows` sequences (the last may be shorter); 0 = one chunk.
    pub fn chunks(self, rows: usize) -> Vec<LmBatch<B>> {
        let total = self.inputs.dims()[0];
        if rows == 0 || rows >= total {
            return vec![self];
        }
        (0..total)
            .step_by(rows)
            .map(|start| self.rows(start, rows.min(total - start)))
            .collect()
    }
}

/// Loss of one supervision step: next-token cross-entropy plus the weighted halting loss.
pub struct StepLoss<B: Backend> {
    pub total: Tensor<B, 1>,
    pub lm: Tensor<B, 1>,
    pub halt: Tensor<B, 1>,
    /// Share of positions whose argmax equals the target (the halting head's target).
    pub accuracy: Tensor<B, 1>,
}

impl<B: Backend> TextLm<B> {
    pub fn new(cfg: &ModelConfig, vocab_size: usize, max_len: usize, device: &B::Device) -> Self {
        let mut init = Init::new(cfg.seed, device);
        let d = cfg.d_model;
        let mask_token = (cfg.head == Head::Masked).then_some(vocab_size);
        let rows = vocab_size + usize::from(mask_token.is_some());
        let embed = Param::from_tensor(trunc_normal(&mut init, [rows, d], 1.0 / (d as f64).sqrt()));
        let (core, n_sup) = Core::new(&mut init, cfg, max_len);
        let lm_head = Linear::new(&mut init, d, vocab_size);
        // drawn after the paper's weights, so those stay the same with or without them
        let mut stack = |n: usize| -> Vec<Block<B>> {
            (0..n)
                .map(|_| Block::attention(&mut init, d, cfg.n_heads, cfg.ffn_inner()).pre_norm())
                .collect()
        };
        let (prelude, coda) = (stack(cfg.prelude_layers), stack(cfg.coda_layers));
        let rope = (cfg.prelude_layers + cfg.coda_layers > 0)
            .then(|| Rope::new(d, cfg.n_heads, max_len, cfg.rope_theta, device));
        Self {
            embed,
            core,
            lm_head,
            prelude,
            coda,
            rope,
            mask_token,
            n_sup,
            max_len,
        }
    }

    /// The [MASK] id, for the masked head.
    pub fn mask_token(&self) -> Option<u32> {
        self.mask_token.map(|m| m as u32)
    }

    /// Turn windows of seq_len+1 tokens into a batch. Causal: inputs w[..L], targets w[1..].
    /// Masked: the clean tokens w[..L] are the targets; each sequence draws a masking rate
    /// t ~ U(0, 1] from `rng` and each position is replaced by [MASK] with probability t.
    pub fn batch(&self, windows: &[Vec<u32>], rng: &mut Rng, device: &B::Device) -> LmBatch<B> {
        match self.mask_token {
            None => {
                let (inputs, targets) = batch_tensors(windows, device);
                LmBatch {
                    inputs,
                    targets,
                    weights: None,
                }
            }
            Some(mask) => {
                let rates: Vec<f64> = windows.iter().map(|_| 1.0 - rng.uniform()).collect();
                masked_batch(windows, &rates, mask as u32, rng, device)
            }
        }
    }

    /// (y, z) before the first supervision step (`noise`: where a fresh-noise start draws from).
    pub fn initial_state(&self, x: &Tensor<B, 3>, noise: Noise) -> State<B> {
        self.core.initial_state(x, noise)
    }

    /// One supervision step at inference: deep_recursion for the TRM, the whole stack for the baseline.
    pub fn supervision_step(&self, x: &Tensor<B, 3>, s: State<B>, mask: &AttnMask<B>) -> State<B> {
        self.core.supervision_step(x, s, mask)
    }

    pub fn n_sup(&self) -> usize {
        self.n_sup
    }

    /// Longest context the model attends over (RoPE table length).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Tokens the head predicts (the [MASK] id is not one of them).
    pub fn vocab_size(&self) -> usize {
        self.lm_head.weight.dims()[1]
    }

    pub fn embed_param_id(&self) -> burn::module::ParamId {
        self.embed.id
    }

    pub fn embed_weights(&self) -> Tensor<B, 2> {
        self.embed.val()
    }

    /// The same model with other embedding weights (same parameter id), for gradient checks.
    pub fn with_embed_weights(mut self, weights: Tensor<B, 2>) -> Self {
        self.embed = Param::initialized(self.embed.id, weights.require_grad());
        self
    }

    /// x = embed(tokens) * sqrt(D): [B, L] -> [B, L, D].
    pub fn embed(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let d = self.embed.dims()[1] as f64;
        burn::tensor::module::embedding(self.embed.val(), tokens).mul_scalar(d.sqrt())
    }

    pub fn mask(&self, len: usize, device: &B::Device) -> AttnMask<B> {
        match self.mask_token {
            None => AttnMask::causal(len, device),
            Some(_) => AttnMask::Full,
        }
    }

    /// The recursion's input x from the embedded tokens: the prelude's output when there is one.
    pub fn prelude(&self, x: Tensor<B, 3>, mask: &AttnMask<B>) -> Tensor<B, 3> {
        self.stack(&self.prelude, x, mask)
    }

    /// Token logits in f32 whatever the precision of y (losses and sampling read them), through
    /// the coda when there is one.
    pub fn logits(&self, y: Tensor<B, 3>, mask: &AttnMask<B>) -> Tensor<B, 3> {
        precision::f32(self.lm_head.forward(self.stack(&self.coda, y, mask)))
    }

    fn stack(&self, blocks: &[Block<B>], h: Tensor<B, 3>, mask: &AttnMask<B>) -> Tensor<B, 3> {
        match &self.rope {
            Some(rope) if !blocks.is_empty() => rms_norm(
                blocks
                    .iter()
                    .fold(h, |h, block| block.forward(h, rope, mask)),
            ),
            _ => h,
        }
    }

    /// Inference: the logits after each of `steps` supervision steps (may exceed the trained n_sup).
    pub fn forward_steps(&self, tokens: Tensor<B, 2, Int>, steps: usize) -> Vec<Tensor<B, 3>> {
        let mask = self.mask(tokens.dims()[1], &tokens.device());
        self.forward_steps_with(tokens, steps, &mask)
    }

    /// Inference with the given attention context (for instance a KV cache: then `tokens` are the
    /// positions after the cached ones, and the cache is advanced past them).
    pub fn forward_steps_with(
        &self,
        tokens: Tensor<B, 2, Int>,
        steps: usize,
        mask: &AttnMask<B>,
    ) -> Vec<Tensor<B, 3>> {
        let new = tokens.dims()[1];
        let logits = self.forward_inner(tokens, steps, mask);
        if let AttnMask::Cached(cache) = mask {
            cache.advance(new);
        }
        logits
    }

    fn forward_inner(
        &self,
        tokens: Tensor<B, 2, Int>,
        steps: usize,
        mask: &AttnMask<B>,
    ) -> Vec<Tensor<B, 3>> {
        self.forward_states(tokens, steps, mask)
            .into_iter()
            .map(|s| self.logits(s.y, mask))
            .collect()
    }

    /// (y, z) after each of `steps` supervision steps.
    fn forward_states(
        &self,
        tokens: Tensor<B, 2, Int>,
        steps: usize,
        mask: &AttnMask<B>,
    ) -> Vec<State<B>> {
        let x = self.prelude(self.embed(tokens), mask);
        let mut state = self.initial_state(&x, Noise::inference(mask.offset()));
        (0..steps)
            .map(|_| {
                state = self.supervision_step(&x, state.clone(), mask);
                state.clone()
            })
            .collect()
    }

    /// Adaptive depth: each new position runs supervision steps until `rule` says it may exit
    /// (or `max_steps` ran), then is frozen: its (y, z) and logits stay those of its exit step,
    /// and later steps of later positions read its keys and values from that step (Huginn's
    /// per-token exit with KV-cache sharing). `cache` holds the earlier positions (empty: none)
    /// and is advanced past `tokens`, so a sequence given in one call or token by token gives the
    /// same result. Causal TRMs only (checked by [`Self::check_adaptive`]).
    pub fn forward_adaptive(
        &self,
        tokens: Tensor<B, 2, Int>,
        max_steps: usize,
        rule: ExitRule,
        cache: &KvCache<B>,
    ) -> AdaptiveOutput<B> {
        let [b, len] = tokens.dims();
        let device = tokens.device();
        let mask = AttnMask::Cached(cache.clone());
        let x = self.prelude(self.embed(tokens), &mask);
        let mut state = self.initial_state(&x, Noise::inference(cache.len()));
        let first_step_slot = cache.cursor();
        let mut calls_per_step = 0;
        let mut active = vec![true; b * len];
        let mut steps = vec![0usize; b * len];
        let mut exit_logits: Option<Tensor<B, 3>> = None;
        let mut previous: Option<Tensor<B, 3>> = None; // log-probabilities of the last step
        let mut last_step = 0;
        for step in 1..=max_steps {
            // None while every position still runs
            let running = (!active.iter().all(|&a| a)).then(|| {
                Tensor::<B, 2, Bool>::from_data(TensorData::new(active.clone(), [b, len]), &device)
            });
            cache.freeze(running.clone().map(|r| r.bool_not()), calls_per_step);
            let stepped = self.supervision_step(&x, state.clone(), &mask);
            let logits = self.logits(stepped.y.clone(), &mask);
            if step == 1 {
                calls_per_step = cache.cursor() - first_step_slot;
            }
            last_step = step;
            for (s, &a) in steps.iter_mut().zip(&active) {
                if a {
                    *s = step;
                }
            }
            let exits = self.exits(rule, &stepped.y, &logits, &mut previous);
            match running {
                None => {
                    state = stepped;
                    exit_logits = Some(logits);
                }
                Some(running) => {
                    // the running positions take the new values, the frozen ones keep theirs
                    let over =
                        |t: &Tensor<B, 3>| running.clone().unsqueeze_dim::<3>(2).expand(t.dims());
                    let (in_state, in_logits) = (over(&stepped.y), over(&logits));
                    state = State {
                        y: state.y.mask_where(in_state.clone(), stepped.y),
                        z: state.z.mask_where(in_state, stepped.z),
                    };
                    exit_logits = exit_logits.map(|e| e.mask_where(in_logits, logits));
                }
            }
            for (a, exit) in active.iter_mut().zip(exits) {
                *a = *a && !exit;
            }
            if !active.iter().any(|&a| a) {
                break;
            }
        }
        cache.freeze(None, 0);
        // Steps no position ran: every new position leaves its last keys and values there.
        let last = first_step_slot + (last_step - 1) * calls_per_step;
        for step in last_step + 1..=max_steps {
            let to = first_step_slot + (step - 1) * calls_per_step;
            cache.repeat_slots(last, calls_per_step, to, len);
        }
        cache.advance(len);
        AdaptiveOutput {
            logits: exit_logits.expect("max_steps >= 1"),
            steps,
        }
    }

    /// Which positions `rule` lets stop after a step that gave `y` and `logits`; `previous` holds
    /// the log-probabilities of the step before (the KL rule reads and replaces it).
    fn exits(
        &self,
        rule: ExitRule,
        y: &Tensor<B, 3>,
        logits: &Tensor<B, 3>,
        previous: &mut Option<Tensor<B, 3>>,
    ) -> Vec<bool> {
        match rule {
            ExitRule::Halt(threshold) => {
                let q = self
                    .core
                    .q_logits(y.clone())
                    .expect("check_adaptive: a TRM");
                host(burn::tensor::activation::sigmoid(q))
                    .iter()
                    .map(|&p| f64::from(p) >= threshold)
                    .collect()
            }
            ExitRule::Kl(threshold) => {
                let logp = burn::tensor::activation::log_softmax(logits.clone(), 2);
                let [b, len, _] = logp.dims();
                let exits = match previous.take() {
                    // KL(p_step || p_step-1) of each position's next-token distribution
                    Some(before) => host(
                        (logp.clone().exp() * (logp.clone() - before))
                            .sum_dim(2)
                            .squeeze_dim::<2>(2),
                    )
                    .iter()
                    .map(|&kl| f64::from(kl) < threshold)
                    .collect(),
                    None => vec![false; b * len],
                };
                *previous = Some(logp);
                exits
            }
        }
    }

    /// Why this model cannot run [`Self::forward_adaptive`] with `rule`, if it cannot.
    pub fn check_adaptive(&self, rule: ExitRule) -> Result<(), String> {
        let Core::Trm(_) = &self.core else {
            return Err(
                "adaptive depth needs a recursive model: the transformer baseline runs \
                        its stack once"
                    .into(),
            );
        };
        if self.mask_token.is_some() {
            return Err(
                "adaptive depth is for the causal head (the masked head attends both \
                        ways, so an early exit cannot be cached)"
                    .into(),
            );
        }
        match rule {
            ExitRule::Halt(t) if !(0.0..=1.0).contains(&t) => {
                Err(format!("a halting threshold must be in [0, 1], got {t}"))
            }
            ExitRule::Kl(t) if !(t.is_finite() && t >= 0.0) => {
                Err(format!("a KL threshold must be a number >= 0, got {t}"))
            }
            _ => Ok(()),
        }
    }

    /// The loss of one supervision step given its output.
    pub fn step_loss(
        &self,
        out: &StepOutput<B>,
        batch: &LmBatch<B>,
        halt_weight: f64,
    ) -> StepLoss<B> {
        let targets = batch.targets.clone();
        let lm = match &batch.weights {
            None => cross_entropy(out.logits.clone(), targets.clone()),
            Some(w) => {
                let sequences = w.dims()[0] as f64;
                (token_nll(out.logits.clone(), targets.clone()) * w.clone())
                    .sum()
                    .div_scalar(sequences)
            }
        };
        let correct = out
            .logits
            .clone()
            .detach()
            .argmax(2)
            .squeeze_dim::<2>(2)
            .equal(targets)
            .float();
        let halt = match &self.core {
            Core::Trm(trm) => bce_with_logits(trm.q_logits(out.state.y.clone()), correct.clone()),
            Core::Transformer(_) => Tensor::zeros([1], &correct.device()),
        };
        let total = lm.clone() + halt.clone().mul_scalar(halt_weight);
        StepLoss {
            total,
            lm,
            halt,
            accuracy: correct.mean(),
        }
    }
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    precision::f32(t).into_data().to_vec().expect("f32")
}

/// Masked-head batch with given masking rates (one per window): targets are the clean tokens,
/// inputs have [MASK] where a uniform draw falls below the rate, weights are 1 / (t L) there.
pub fn masked_batch<B: Backend>(
    windows: &[Vec<u32>],
    rates: &[f64],
    mask: u32,
    rng: &mut Rng,
    device: &B::Device,
) -> LmBatch<B> {
    let b = windows.len();
    let l = windows[0].len() - 1;
    let (mut inputs, mut targets, mut weights) = (
        Vec::with_capacity(b * l),
        Vec::with_capacity(b * l),
        Vec::with_capacity(b * l),
    );
    for (w, &t) in windows.iter().zip(rates) {
        for &tok in &w[..l] {
            let masked = rng.uniform() < t;
            inputs.push(if masked { mask as i64 } else { tok as i64 });
            targets.push(tok as i64);
            weights.push(if masked {
                (1.0 / (t * l as f64)) as f32
            } else {
                0.0
            });
        }
    }
    LmBatch {
        inputs: Tensor::from_data(TensorData::new(inputs, [b, l]), device),
        targets: Tensor::from_data(TensorData::new(targets, [b, l]), device),
        weights: Some(Tensor::from_data(TensorData::new(weights, [b, l]), device)),
    }
}

impl<B: AutodiffBackend> TextLm<B> {
    /// One supervision step for training: T-1 recursions without gradient, one with (TRM).
    pub fn supervision_step_grad(
        &self,
        x: &Tensor<B, 3>,
        s: State<B>,
        mask: &AttnMask<B>,
    ) -> State<B> {
        self.core.supervision_step_grad(x, s, mask)
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
