//! The recursive core against independent truth: gradients by finite differences, the no-gradient
//! path computing the same numbers as the gradient path, RMSNorm and RoPE by hand, EMA and the
//! optimizers against their formulas, checkpoints round-tripping exactly.

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use trm::config::{ModelConfig, OptimizerKind, TrainConfig, YInit};
use trm::nn::{rms_norm, AttnMask, Rope};
use trm::tasks::text::{StepOutput, TextLm};

type B = Autodiff<Flex>;
type I = Flex;

fn tiny(t: usize, y_init: YInit) -> ModelConfig {
    ModelConfig {
        d_model: 16,
        n_layers: 1,
        n_heads: 2,
        n: 2,
        t,
        n_sup: 2,
        y_init,
        ffn_multiple: 8,
        seed: 3,
        ..Default::default()
    }
}

fn tokens<Bk: Backend>(ids: &[i64], device: &Bk::Device) -> Tensor<Bk, 2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device)
}

fn data(t: Tensor<impl Backend, 3>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

/// Sampler settings without top-k/top-p cuts or a stop token.
fn sampling(
    max_new_tokens: usize,
    temperature: f64,
    seed: u64,
    cache: bool,
    exit: Option<trm::tasks::text::ExitRule>,
) -> trm::sample::SamplingParams {
    trm::sample::SamplingParams {
        max_new_tokens,
        temperature,
        top_k: 0,
        top_p: 1.0,
        seed,
        stop_token: None,
        cache,
        diffusion_steps: 1,
        exit,
    }
}

/// Loss of one supervision step with gradient through everything (T = 1).
fn loss_of(model: &TextLm<B>, inp: &Tensor<B, 2, Int>, tgt: &Tensor<B, 2, Int>) -> Tensor<B, 1> {
    chained_loss_of(model, inp, tgt, 1)
}

/// Loss after `steps` supervision steps carried with their graph (the `unrolled` training path's
/// chain), through the prelude and the coda when the model has them.
fn chained_loss_of(
    model: &TextLm<B>,
    inp: &Tensor<B, 2, Int>,
    tgt: &Tensor<B, 2, Int>,
    steps: usize,
) -> Tensor<B, 1> {
    let mask = model.mask(inp.dims()[1], &inp.device());
    let x = model.prelude(model.embed(inp.clone()), &mask);
    let mut state = model.initial_state(&x, trm::trm::Noise::default());
    for _ in 0..steps {
        state = model.supervision_step_grad(&x, state, &mask);
    }
    let out = StepOutput {
        logits: model.logits(state.y.clone(), &mask),
        state,
    };
    let batch = trm::tasks::text::LmBatch {
        inputs: inp.clone(),
        targets: tgt.clone(),
        weights: None,
    };
    model.step_loss(&out, &batch, 0.0).lm
}

/// The autodiff gradient of `loss` with respect to the [11, 16] embedding against central finite
/// differences at the entries `at`.
fn assert_embedding_gradient_matches_finite_differences(
    model: &TextLm<B>,
    loss: impl Fn(&TextLm<B>) -> Tensor<B, 1>,
    at: &[usize],
) {
    let device = Default::default();
    let grads = GradientsParams::from_grads(loss(model).backward(), model);
    let analytic: Tensor<I, 2> = grads
        .get(model.embed_param_id())
        .expect("embedding gradient");
    let analytic: Vec<f32> = analytic.into_data().to_vec().unwrap();
    let base: Vec<f32> = model.embed_weights().into_data().to_vec().unwrap();
    let eps = 1e-2f32;
    for &idx in at {
        let shifted = |delta: f32| {
            let mut w = base.clone();
            w[idx] += delta;
            let m = model
                .clone()
                .with_embed_weights(Tensor::from_data(TensorData::new(w, [11, 16]), &device));
            loss(&m).into_scalar().elem::<f64>()
        };
        let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps as f64);
        let a = analytic[idx] as f64;
        assert!(
            (a - numeric).abs() <= 0.03 * numeric.abs().max(1e-3) + 2e-4,
            "entry {idx}: autodiff {a} vs finite difference {numeric}"
        );
    }
}

#[test]
fn gradients_match_finite_differences() {
    let device = Default::default();
    let model = TextLm::<B>::new(&tiny(1, YInit::Fixed), 11, 8, &device);
    let inp = tokens::<B>(&[1, 4, 2, 7, 3, 9], &device);
    let tgt = tokens::<B>(&[4, 2, 7, 3, 9, 5], &device);
    // Perturb entries of the embedding, which the loss reaches through every recursion.
    assert_embedding_gradient_matches_finite_differences(
        &model,
        |m| loss_of(m, &inp, &tgt),
        &[4 * 16, 4 * 16 + 5, 2 * 16 + 11, 7 * 16 + 3],
    );
}

/// The recurrent-depth recipe: a prelude and a coda block, concatenated injection through an
/// adapter, sandwich norms. y starts as the fixed vector: with `embed` it starts as the input
/// detached, a path finite differences would see and the gradient (by design) does not.
fn recipe() -> ModelConfig {
    ModelConfig {
        n: 1,
        prelude_layers: 1,
        coda_layers: 1,
        injection: trm::config::Injection::Concat,
        norm: trm::config::NormPlacement::Sandwich,
        ..tiny(1, YInit::Fixed)
    }
}

#[test]
fn recipe_gradients_through_a_chain_of_steps_match_finite_differences() {
    let device = Default::default();
    let model = TextLm::<B>::new(&recipe(), 11, 8, &device);
    let inp = tokens::<B>(&[1, 4, 2, 7, 3, 9], &device);
    let tgt = tokens::<B>(&[4, 2, 7, 3, 9, 5], &device);
    assert_embedding_gradient_matches_finite_differences(
        &model,
        |m| chained_loss_of(m, &inp, &tgt, 3),
        &[4 * 16, 4 * 16 + 5, 2 * 16 + 11, 7 * 16 + 3, 9 * 16 + 15],
    );
    // the paper's recipe draws the same initial weights with the recipe's options off
    let plain = TextLm::<I>::new(&tiny(1, YInit::Embed), 11, 8, &device);
    let with_recipe_off = TextLm::<I>::new(
        &ModelConfig {
            prelude_layers: 0,
            coda_layers: 0,
            ..tiny(1, YInit::Embed)
        },
        11,
        8,
        &device,
    );
    assert_eq!(
        plain.embed_weights().into_data(),
        with_recipe_off.embed_weights().into_data()
    );
}

#[test]
fn gradient_path_computes_the_same_recursion_as_inference() {
    let device = Default::default();
    for y_init in [YInit::Fixed, YInit::Embed] {
        let model = TextLm::<B>::new(&tiny(3, y_init), 11, 8, &device);
        let inp = tokens::<B>(&[1, 4, 2, 7, 3], &device);
        let x = model.embed(inp.clone());
        let mask = model.mask(5, &device);
        let s = model.initial_state(&x, trm::trm::Noise::default());
        let trained = model.supervision_step_grad(&x, s.clone(), &mask);
        let inner = model.valid();
        let xi = inner.embed(inp.inner());
        let infer = inner.supervision_step(
            &xi,
            inner.initial_state(&xi, trm::trm::Noise::default()),
            &inner.mask(5, &device),
        );
        let (a, b) = (data(trained.y.inner()), data(infer.y));
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
}

/// Largest change of the logits at positions 0..3 when positions 3 and 4 change.
fn change_before_an_edit(model: &TextLm<I>, steps: usize) -> f32 {
    let device = Default::default();
    let run = |ids: &[i64]| {
        data(
            model
                .forward_steps(tokens::<I>(ids, &device), steps)
                .pop()
                .unwrap()
                .narrow(1, 0, 3),
        )
    };
    let (a, b) = (run(&[1, 2, 3, 4, 5]), run(&[1, 2, 3, 9, 9]));
    a.iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max)
}

#[test]
fn causal_mask_hides_the_future() {
    let model = TextLm::<I>::new(&tiny(2, YInit::Embed), 11, 8, &Default::default());
    let change = change_before_an_edit(&model, 2);
    assert!(
        change < 1e-5,
        "positions before the change must not move: {change}"
    );
}

#[test]
fn rms_norm_matches_hand_computation() {
    let device = Default::default();
    let x = Tensor::<I, 2>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2]), &device);
    // mean of squares = 12.5
    let want = [3.0 / (12.5f32 + 1e-5).sqrt(), 4.0 / (12.5f32 + 1e-5).sqrt()];
    let got: Vec<f32> = rms_norm(x).into_data().to_vec().unwrap();
    assert!((got[0] - want[0]).abs() < 1e-6 && (got[1] - want[1]).abs() < 1e-6);
}

#[test]
fn rope_rotates_pairs_by_position_times_frequency() {
    let device = Default::default();
    // D 8, 2 heads of head_dim 4: in each head, pairs (0, 2) turn with frequency 1 and (1, 3) with
    // frequency theta^(-1/2) = 0.01; both heads turn alike
    let rope = Rope::<I>::new(8, 2, 8, 10_000.0, &device);
    let at3 = Tensor::cat(
        vec![Tensor::zeros([1, 3, 8], &device), x_at::<I>(&device)],
        1,
    );
    let got: Vec<f32> = rope
        .apply(at3, 0)
        .narrow(1, 3, 1)
        .into_data()
        .to_vec()
        .unwrap();
    let (c1, c2, s1, s2) = (3f32.cos(), 0.03f32.cos(), 3f32.sin(), 0.03f32.sin());
    // head 0: x = (1, 1, 0, 0); head 1: x = (0, 0, 1, 1), whose rotated half is (-1, -1, 0, 0)
    let want = [c1, c2, s1, s2, -s1, -s2, c1, c2];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
    // the same positions seen through a KV-cache offset
    let later: Vec<f32> = rope
        .apply(
            Tensor::cat(
                vec![Tensor::zeros([1, 1, 8], &device), x_at::<I>(&device)],
                1,
            ),
            2,
        )
        .narrow(1, 1, 1)
        .into_data()
        .to_vec()
        .unwrap();
    for (g, w) in later.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "offset: {later:?} vs {want:?}");
    }
}

/// (1, 1, 0, 0) in head 0 and (0, 0, 1, 1) in head 1, at one position: [1, 1, 8].
fn x_at<Bk: Backend>(device: &Bk::Device) -> Tensor<Bk, 3> {
    Tensor::from_data(
        TensorData::new(vec![1.0f32, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0], [1, 1, 8]),
        device,
    )
}

#[test]
fn masks_are_additive_and_causal() {
    let device = Default::default();
    let AttnMask::Causal(bias) = AttnMask::<I>::causal(3, &device) else {
        panic!()
    };
    let v: Vec<f32> = bias.into_data().to_vec().unwrap();
    let inf = f32::NEG_INFINITY;
    assert_eq!(v, vec![0.0, inf, inf, 0.0, 0.0, inf, 0.0, 0.0, 0.0]);
}

/// One parameter, one step of each optimizer against the formula by hand.
mod one {
    use burn::module::Param;
    use burn::prelude::*;

    #[derive(Module, Debug)]
    pub struct One<B: Backend> {
        pub w: Param<Tensor<B, 1>>,
    }
}
use one::One;

fn one_step(kind: OptimizerKind, w0: f32, grad_scale: f32, lr: f64, wd: f64) -> f32 {
    let device = Default::default();
    let m = One::<B> {
        w: Param::from_tensor(Tensor::from_data(TensorData::new(vec![w0], [1]), &device)),
    };
    let loss = m.w.val().mul_scalar(grad_scale).sum(); // d loss / d w = grad_scale
    let grads = GradientsParams::from_grads(loss.backward(), &m);
    let cfg = TrainConfig {
        optimizer: kind,
        weight_decay: wd,
        beta1: 0.9,
        beta2: 0.95,
        ..Default::default()
    };
    let mut optim = trm::train::optim::Adam::from_config(&cfg).init::<B, One<B>>();
    let m = optim.step(lr, m, grads);
    m.w.val().into_scalar().elem()
}

#[test]
fn optimizers_match_their_formulas_on_the_first_step() {
    // First step: m_hat = g, v_hat = g^2, so AdamW moves by lr * g / (|g| + eps) and AdamATan2 by
    // lr * atan2(g, |g|) = lr * pi/4 * sign(g); both after decay w * (1 - lr * wd).
    let (w0, g, lr, wd) = (0.5f32, -2.0f32, 0.1, 0.5);
    let decayed = w0 as f64 * (1.0 - lr * wd);
    let adamw = one_step(OptimizerKind::Adamw, w0, g, lr, wd) as f64;
    assert!(
        (adamw - (decayed + lr * 2.0 / (2.0 + 1e-8))).abs() < 1e-6,
        "{adamw}"
    );
    let atan2 = one_step(OptimizerKind::AdamAtan2, w0, g, lr, wd) as f64;
    assert!(
        (atan2 - (decayed + lr * std::f64::consts::FRAC_PI_4)).abs() < 1e-6,
        "{atan2}"
    );
}

#[test]
fn global_norm_clipping_scales_all_gradients_together() {
    let device = Default::default();
    let m = One::<B> {
        w: Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![1.0f32, 1.0], [2]),
            &device,
        )),
    };
    let coef = Tensor::<B, 1>::from_data(TensorData::new(vec![3.0f32, 4.0], [2]), &device);
    let grads = GradientsParams::from_grads((m.w.val() * coef).sum().backward(), &m);
    let (grads, norm) = trm::train::optim::scale_and_clip(&m, grads, 0.5, 1.0);
    let norm: f32 = norm.into_scalar();
    assert!(
        (norm - 2.5).abs() < 1e-6,
        "norm of 0.5 * (3, 4) is 2.5, got {norm}"
    );
    let g: Tensor<I, 1> = grads.get(m.w.id).unwrap();
    let g: Vec<f32> = g.into_data().to_vec().unwrap();
    assert!(
        (g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6,
        "{g:?}"
    );
}

#[test]
fn ema_blends_by_the_decay() {
    let device = Default::default();
    let make = |v: f32| One::<B> {
        w: Param::from_tensor(Tensor::from_data(TensorData::new(vec![v], [1]), &device)),
    };
    let model = make(1.0);
    let ema = make(0.0).valid();
    // same parameter id, so the EMA copy tracks it
    let ema = One::<I> {
        w: Param::initialized(model.w.id, ema.w.val()),
    };
    let ema = trm::train::ema::update_ema(ema, &model, 0.9);
    let v: f32 = ema.w.val().into_scalar().elem();
    assert!((v - 0.1).abs() < 1e-7, "{v}");
}

#[test]
fn mlp_t_mixes_along_the_sequence_and_keeps_the_shape() {
    use trm::nn::{Init, MlpT};
    let device = Default::default();
    let mut init = Init::<I>::new(0, &device);
    let mix = MlpT::new(&mut init, 5, 8);
    let h = Tensor::<I, 3>::random([2, 5, 16], burn::tensor::Distribution::Default, &device);
    let out = mix.forward(h.clone());
    assert_eq!(out.dims(), [2, 5, 16]);
    // Changing position 4 changes the output at position 0: MLP-T sees the whole sequence.
    let h2 = h
        .clone()
        .slice_assign([0..2, 4..5, 0..16], Tensor::ones([2, 1, 16], &device));
    let (a, b) = (
        data(out.narrow(1, 0, 1)),
        data(mix.forward(h2).narrow(1, 0, 1)),
    );
    assert!(a.iter().zip(&b).any(|(p, q)| (p - q).abs() > 1e-6));
}

fn preset(name: &str) -> trm::config::Config {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name);
    trm::config::Config::load(&path, &[]).unwrap()
}

fn params_of(cfg: &trm::config::Config) -> usize {
    use burn::module::Module;
    let vocab = 257; // the presets use the byte tokenizer
    TextLm::<I>::new(&cfg.model, vocab, cfg.train.seq_len, &Default::default()).num_params()
}

#[test]
fn baseline_presets_match_the_trm_in_parameters_and_in_flops() {
    use trm::eval::cost::forward_flops_per_token;
    let trm_cfg = preset("default.toml");
    let by_params = preset("transformer-params.toml");
    let by_flops = preset("transformer-flops.toml");
    let (p_trm, p_base) = (params_of(&trm_cfg) as f64, params_of(&by_params) as f64);
    assert!((p_base / p_trm - 1.0).abs() < 0.05, "{p_base} vs {p_trm}");
    let flops = |c: &trm::config::Config| forward_flops_per_token(&c.model, 257, c.train.seq_len);
    assert!((flops(&by_flops) / flops(&trm_cfg) - 1.0).abs() < 0.05);
    // Same data and budget, so `trm compare` pairs them as they are.
    for c in [&by_params, &by_flops] {
        assert_eq!(c.data, trm_cfg.data);
        assert_eq!(
            (c.train.steps, c.train.batch_size, c.train.seq_len),
            (
                trm_cfg.train.steps,
                trm_cfg.train.batch_size,
                trm_cfg.train.seq_len
            )
        );
    }
}

#[test]
fn the_transformer_baseline_is_causal_and_runs_one_step() {
    let device = Default::default();
    let cfg = ModelConfig {
        kind: trm::config::ModelKind::Transformer,
        n_layers: 2,
        ..tiny(1, YInit::Fixed)
    };
    let model = TextLm::<I>::new(&cfg, 11, 8, &device);
    assert_eq!(model.n_sup(), 1);
    assert!(change_before_an_edit(&model, 1) < 1e-5);
}

#[test]
fn kv_cached_sampling_gives_the_same_tokens_as_recomputing() {
    use trm::sample::generate;
    let device = Default::default();
    let models = [
        tiny(2, YInit::Embed),
        tiny(3, YInit::Fixed),
        ModelConfig {
            kind: trm::config::ModelKind::Transformer,
            n_layers: 2,
            ..tiny(1, YInit::Fixed)
        },
        recipe(),
        ModelConfig {
            y_init: YInit::Noise,
            ..recipe()
        },
    ];
    for cfg in models {
        let model = TextLm::<I>::new(&cfg, 11, 32, &device);
        for temperature in [0.0, 1.0] {
            let params = |cache| sampling(24, temperature, 5, cache, None);
            let plain = generate(&model, &[1, 2, 3], &params(false), &device, |_| {});
            let cached = generate(&model, &[1, 2, 3], &params(true), &device, |_| {});
            assert_eq!(plain.len(), 24);
            assert_eq!(plain, cached, "{:?} at temperature {temperature}", cfg.kind);
        }
        // The same logits, not only the same argmax: one cached step against a full recompute.
        let full = model
            .forward_steps(tokens::<I>(&[1, 2, 3, 4], &device), 2)
            .pop()
            .unwrap();
        let cache = trm::nn::KvCache::new();
        let mask = trm::nn::AttnMask::Cached(cache.clone());
        model.forward_steps_with(tokens::<I>(&[1, 2, 3], &device), 2, &mask);
        let step = model
            .forward_steps_with(tokens::<I>(&[4], &device), 2, &mask)
            .pop()
            .unwrap();
        let (a, b) = (data(full.narrow(1, 3, 1)), data(step));
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-4, "{p} vs {q}");
        }
        // Past the context length the cache restarts instead of failing.
        let long = sampling(70, 1.0, 1, true, None);
        assert_eq!(generate(&model, &[1], &long, &device, |_| {}).len(), 70);
    }
}

/// Adaptive depth over `ids` (one row) fed in `chunks` (lengths) through one KV cache:
/// the logits of every position and the steps each ran.
fn adaptive_in_chunks(
    model: &TextLm<I>,
    ids: &[i64],
    chunks: &[usize],
    max_steps: usize,
    rule: trm::tasks::text::ExitRule,
) -> (Vec<f32>, Vec<usize>) {
    let device = Default::default();
    let cache = trm::nn::KvCache::new();
    let (mut logits, mut steps, mut start) = (Vec::new(), Vec::new(), 0);
    for &n in chunks {
        let out = model.forward_adaptive(
            tokens::<I>(&ids[start..start + n], &device),
            max_steps,
            rule,
            &cache,
        );
        logits.extend(data(out.logits));
        steps.extend(out.steps);
        start += n;
    }
    assert_eq!(start, ids.len());
    (logits, steps)
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        assert!((p - q).abs() < 1e-4, "{what}: logit {i}: {p} vs {q}");
    }
}

#[test]
fn adaptive_exit_with_the_kv_cache_matches_recomputing() {
    use trm::tasks::text::ExitRule;
    let device = Default::default();
    let ids: Vec<i64> = vec![1, 4, 2, 7, 3, 9, 5, 5, 8, 0, 6, 2];
    let noise = ModelConfig {
        y_init: YInit::Noise,
        ..recipe()
    };
    for cfg in [tiny(2, YInit::Embed), recipe(), noise] {
        let model = TextLm::<I>::new(&cfg, 11, 16, &device);
        let max = 6;
        // Anchors: a rule that never fires runs every step, one that always fires stops at the
        // first step it may (halting: 1, KL: 2), each equal to the fixed-depth forward pass.
        let fixed = |steps: usize| {
            data(
                model
                    .forward_steps(tokens::<I>(&ids, &device), steps)
                    .pop()
                    .unwrap(),
            )
        };
        for (rule, steps) in [
            (ExitRule::Halt(1.0), max),
            (ExitRule::Halt(0.0), 1),
            (ExitRule::Kl(1e30), 2),
        ] {
            let (logits, used) = adaptive_in_chunks(&model, &ids, &[ids.len()], max, rule);
            assert!(used.iter().all(|&u| u == steps), "{rule}: {used:?}");
            assert_close(
                &logits,
                &fixed(steps),
                &format!("{rule} against {steps} fixed steps"),
            );
        }
        // A threshold that lets tokens exit at different steps (asserted, so the test cannot
        // pass without exits to cache): the whole sequence at once (what the uncached sampler
        // recomputes), token by token, and a prompt then tokens agree in logits and steps.
        let rule = [
            3.0, 1.0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5,
        ]
        .into_iter()
        .map(ExitRule::Kl)
        .find(|&rule| {
            let (_, used) = adaptive_in_chunks(&model, &ids, &[ids.len()], max, rule);
            used.iter().any(|&u| u < max) && used.iter().any(|&u| u > 2)
        })
        .expect("some threshold mixes early and late exits");
        let whole = adaptive_in_chunks(&model, &ids, &[ids.len()], max, rule);
        let distinct: std::collections::BTreeSet<_> = whole.1.iter().collect();
        assert!(distinct.len() >= 2, "{rule}: {:?}", whole.1);
        for chunks in [vec![1; ids.len()], vec![5, 1, 1, 3, 2]] {
            let split = adaptive_in_chunks(&model, &ids, &chunks, max, rule);
            assert_eq!(whole.1, split.1, "{rule}: steps with chunks {chunks:?}");
            assert_close(
                &whole.0,
                &split.0,
                &format!("{rule} with chunks {chunks:?}"),
            );
        }
        // rows of a batch are independent: two rows at once give each row's own result (a noise
        // start differs by row by design)
        let other: Vec<i64> = ids.iter().rev().copied().collect();
        let both: Vec<i64> = ids.iter().chain(&other).copied().collect();
        let batch = model.forward_adaptive(
            Tensor::from_data(TensorData::new(both, [2, ids.len()]), &device),
            max,
            rule,
            &trm::nn::KvCache::new(),
        );
        if cfg.y_init != YInit::Noise {
            let alone = adaptive_in_chunks(&model, &other, &[other.len()], max, rule);
            let steps: Vec<usize> = whole.1.iter().chain(&alone.1).copied().collect();
            assert_eq!(batch.steps, steps);
            let logits: Vec<f32> = whole.0.iter().chain(&alone.0).copied().collect();
            assert_close(&data(batch.logits), &logits, "a batch of two rows");
        }

        // The sampler: cached adaptive sampling gives the tokens of uncached adaptive sampling.
        use trm::sample::generate_with;
        for temperature in [0.0, 1.0] {
            let params = |cache| sampling(12, temperature, 5, cache, Some(rule));
            let sample = |cache| {
                generate_with(&model, &[1, 2, 3], &params(cache), max, &device, |_| {
                    std::ops::ControlFlow::Continue(())
                })
            };
            let (plain, cached) = (sample(false), sample(true));
            assert_eq!(plain.len(), 12);
            assert_eq!(plain, cached, "{rule} at temperature {temperature}");
        }
    }
    // the transformer has no recursion to cut short, the masked head no causal cache
    let baseline = TextLm::<I>::new(
        &ModelConfig {
            kind: trm::config::ModelKind::Transformer,
            ..tiny(1, YInit::Fixed)
        },
        11,
        16,
        &device,
    );
    assert!(baseline.check_adaptive(ExitRule::Kl(1e-3)).is_err());
    let masked = TextLm::<I>::new(
        &ModelConfig {
            head: trm::config::Head::Masked,
            ..tiny(1, YInit::Fixed)
        },
        11,
        16,
        &device,
    );
    assert!(masked.check_adaptive(ExitRule::Kl(1e-3)).is_err());
    let model = TextLm::<I>::new(&tiny(1, YInit::Fixed), 11, 16, &device);
    assert!(model.check_adaptive(ExitRule::Halt(1.5)).is_err());
    assert!(model.check_adaptive(ExitRule::Kl(-1.0)).is_err());
    assert!(model.check_adaptive(ExitRule::Kl(1e-3)).is_ok());
    assert_eq!("kl:0.001".parse::<ExitRule>(), Ok(ExitRule::Kl(1e-3)));
    assert_eq!("halt:0.5".parse::<ExitRule>(), Ok(ExitRule::Halt(0.5)));
    for bad in ["kl", "kl:x", "stop:0.5"] {
        assert!(bad.parse::<ExitRule>().is_err(), "{bad}");
    }
}

#[test]
fn adaptive_evaluation_reports_the_steps_each_token_used() {
    use trm::eval::adaptive::adaptive_exit;
    use trm::eval::{evaluate_lm, EvalSet};
    use trm::tasks::text::ExitRule;
    let device = Default::default();
    let model = TextLm::<I>::new(&tiny(2, YInit::Embed), 257, 8, &device);
    let windows: Vec<Vec<u32>> = (0..4)
        .map(|i| (0..9).map(|j| (i * 9 + j) as u32 % 200).collect())
        .collect();
    let set = EvalSet::new(windows, &trm::data::TextTokenizer::bytes());
    let full = evaluate_lm(&model, &set, 2, 3, &device);
    // every token stops after step 1, or runs all 3 steps
    let rules = [ExitRule::Halt(0.0), ExitRule::Halt(1.0)];
    let rows = adaptive_exit(&model, &set, 2, 3, &rules, &device).unwrap();
    assert_eq!(rows[0].mean_steps, 1.0);
    assert!((rows[0].ppl - full.ppl_per_step()[0]).abs() < 1e-3 * rows[0].ppl);
    assert_eq!(rows[1].mean_steps, 3.0);
    assert!((rows[1].ppl - full.final_ppl()).abs() < 1e-3 * rows[1].ppl);
}

#[test]
fn the_transformer_baseline_makes_one_update_per_batch() {
    use trm::config::{Config, ModelKind};
    use trm::train::text::TextLearner;
    let device = Default::default();
    let config = Config {
        model: ModelConfig {
            kind: ModelKind::Transformer,
            ..tiny(1, YInit::Fixed)
        },
        train: trm::config::TrainConfig {
            seq_len: 8,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut learner = TextLearner::<B>::new(config, 11, &device);
    let windows: Vec<Vec<u32>> = (0..2)
        .map(|i| (0..9).map(|j| (i + j) as u32 % 11).collect())
        .collect();
    let batch = learner
        .weights
        .model
        .batch(&windows, &mut trm::rng::Rng::new(0), &device);
    let log = learner.train_batch(batch).unwrap();
    assert_eq!(log.lm.len(), 1);
    assert_eq!(learner.weights.updates, 1);
}

/// Micro-batches change how a batch is computed, not what it computes: chunks of 3, 3 and 2 rows
/// give the losses, the gradient norm and the weights of the whole batch of 8, for both heads and
/// both supervision modes.
#[test]
fn micro_batches_give_the_whole_batch_update() {
    use trm::config::{Config, Head, Supervision};
    use trm::train::text::TextLearner;
    let device = Default::default();
    let windows: Vec<Vec<u32>> = (0..8)
        .map(|i| (0..9).map(|j| ((3 * i + j * j) % 11) as u32).collect())
        .collect();
    for (head, supervision) in [
        (Head::Causal, Supervision::PerStep),
        (Head::Masked, Supervision::Accumulate),
    ] {
        let run = |micro_batch: usize| {
            let config = Config {
                model: ModelConfig {
                    head,
                    ..tiny(2, YInit::Fixed)
                },
                train: trm::config::TrainConfig {
                    seq_len: 8,
                    batch_size: 8,
                    micro_batch,
                    supervision,
                    ..Default::default()
                },
                ..Default::default()
            };
            let mut learner = TextLearner::<B>::new(config, 11, &device);
            let mut logs = Vec::new();
            for step in 0..2 {
                let batch =
                    learner
                        .weights
                        .model
                        .batch(&windows, &mut trm::rng::Rng::new(step), &device);
                logs.push(learner.train_batch(batch).unwrap());
            }
            let weights: Vec<f32> = learner
                .weights
                .model
                .embed_weights()
                .into_data()
                .to_vec()
                .unwrap();
            (logs, weights)
        };
        let (whole, w_whole) = run(0);
        let (chunked, w_chunked) = run(3);
        for (a, b) in whole.iter().zip(&chunked) {
            for (x, y) in
                a.lm.iter()
                    .chain(&a.halt)
                    .chain(&a.accuracy)
                    .zip(b.lm.iter().chain(&b.halt).chain(&b.accuracy))
            {
                assert!((x - y).abs() < 1e-5, "{head:?}: {x} vs {y}");
            }
            assert!((a.grad_norm - b.grad_norm).abs() < 1e-5 * a.grad_norm.max(1.0));
        }
        let drift = w_whole
            .iter()
            .zip(&w_chunked)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(drift < 1e-5, "{head:?}: weights differ by {drift}");
        // and the update did move the weights (the comparison is not between two no-ops)
        let fresh = TextLm::<B>::new(&tiny(2, YInit::Fixed), 11, 8, &device).embed_weights();
        let moved: Vec<f32> = fresh.into_data().to_vec().unwrap();
        assert!(moved
            .iter()
            .zip(&w_whole)
            .any(|(a, b)| (a - b).abs() > 1e-4));
    }
}

#[test]
fn masked_batches_mask_at_the_drawn_rate_with_elbo_weights() {
    use trm::tasks::text::masked_batch;
    let device = Default::default();
    let windows: Vec<Vec<u32>> = (0..3)
        .map(|i| (0..101).map(|j| ((i + j) % 50) as u32).collect())
        .collect();
    let mut rng = trm::rng::Rng::new(9);
    let rates = [1.0, 0.25, 1e-12];
    let b = masked_batch::<I>(&windows, &rates, 99, &mut rng, &device);
    let ints =
        |t: Tensor<I, 2, Int>| -> Vec<i64> { t.into_data().convert::<i64>().to_vec().unwrap() };
    let (inputs, targets) = (ints(b.inputs), ints(b.targets));
    let weights: Vec<f32> = b.weights.unwrap().into_data().to_vec().unwrap();
    for (s, &t) in rates.iter().enumerate() {
        let row = s * 100..(s + 1) * 100;
        let mut masked = 0;
        for i in row {
            assert_eq!(
                targets[i],
                windows[s][i % 100] as i64,
                "targets are the clean tokens"
            );
            if inputs[i] == 99 {
                masked += 1;
                assert!((weights[i] as f64 - 1.0 / (t * 100.0)).abs() < 1e-6 * weights[i] as f64);
            } else {
                assert_eq!(inputs[i], targets[i]);
                assert_eq!(weights[i], 0.0);
            }
        }
        match s {
            0 => assert_eq!(masked, 100),
            1 => assert!((10..=40).contains(&masked), "{masked} of 100 at rate 0.25"),
            _ => assert_eq!(masked, 0),
        }
    }
}

#[test]
fn masked_head_attends_both_ways_and_infills_only_the_gaps() {
    use trm::config::Head;
    use trm::sample::{generate_masked, SamplingParams};
    let device = Default::default();
    let cfg = ModelConfig {
        head: Head::Masked,
        ..tiny(2, YInit::Embed)
    };
    let model = TextLm::<I>::new(&cfg, 11, 16, &device);
    assert_eq!(model.mask_token(), Some(11));
    assert_eq!(model.vocab_size(), 11);
    assert!(
        change_before_an_edit(&model, 2) > 1e-6,
        "position 0 must see later tokens"
    );

    let known = [Some(1), None, None, Some(4), None, Some(6)];
    let params = SamplingParams {
        max_new_tokens: 0,
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        seed: 4,
        stop_token: None,
        cache: false,
        diffusion_steps: 3,
        exit: None,
    };
    let out = generate_masked(&model, &known, 3, &params, &device);
    assert_eq!(out.len(), 6);
    for (o, k) in out.iter().zip(known) {
        assert!(*o < 11, "every gap is filled with a real token");
        if let Some(k) = k {
            assert_eq!(*o, k, "known tokens never change");
        }
    }
    assert_eq!(
        out,
        generate_masked(&model, &known, 3, &params, &device),
        "same seed, same text"
    );
}

#[test]
fn infill_markers_parse_into_gaps() {
    use trm::sample::parse_infill;
    let tok = trm::data::TextTokenizer::bytes();
    let got = parse_infill("a[MASK]b[MASK:3]c[MASKED]", &tok);
    let want: Vec<Option<u32>> = vec![Some(97), None, Some(98), None, None, None, Some(99)]
        .into_iter()
        .chain("[MASKED]".bytes().map(|b| Some(b as u32)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn adaptive_sampling_stops_early_only_when_the_rule_says_so() {
    use trm::sample::generate_with;
    use trm::tasks::text::ExitRule;
    let device = Default::default();
    let model = TextLm::<I>::new(&tiny(2, YInit::Embed), 11, 32, &device);
    let sample = |exit, cache, steps| {
        let params = sampling(12, 1.0, 2, cache, exit);
        generate_with(&model, &[1, 2], &params, steps, &device, |_| {
            std::ops::ControlFlow::Continue(())
        })
    };
    for cache in [false, true] {
        // a rule that never fires gives the tokens of running every step; one that always fires
        // at once gives those of one step
        let all = sample(None, cache, 3);
        assert_eq!(sample(Some(ExitRule::Halt(1.0)), cache, 3), all);
        let first = sample(None, cache, 1);
        assert_eq!(sample(Some(ExitRule::Halt(0.0)), cache, 3), first);
        assert_ne!(all, first, "the test needs depth to matter");
    }
}
