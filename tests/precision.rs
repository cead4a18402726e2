//! bf16 training (`train.precision = "bf16"`): activations in bf16, weights and their gradients in
//! f32, and the same numbers as f32 to bf16's precision. On CPU burn's flex backend emulates bf16,
//! so these run everywhere; on CUDA the same code runs natively.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::store::ModuleSnapshot;
use burn::tensor::DType;
use common::{metrics, ok, run, sets, temp, tiny_args, trm};
use trm::config::{ModelConfig, Precision, YInit};
use trm::nn::precision::{cast_to, compute_dtype};
use trm::tasks::text::{LmBatch, StepOutput, TextLm};

type B = Autodiff<Flex>;

/// One supervision step's loss and the gradient of every weight, computing in `precision`.
fn step(model: &TextLm<B>, precision: Precision) -> (f64, DType, Vec<(String, Vec<f32>)>) {
    let device = Default::default();
    let ids: Vec<i64> = (0..24).map(|i| (i * 7 + 3) % 11).collect();
    let inputs =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids[..23].to_vec(), [1, 23]), &device);
    let targets =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids[1..].to_vec(), [1, 23]), &device);
    let dtype = compute_dtype(precision);
    let x = cast_to(model.embed(inputs.clone()), dtype);
    let mask = model.mask(23, &device);
    let start = model
        .initial_state(&x, trm::trm::Noise::default())
        .cast(dtype);
    let state = model.supervision_step_grad(&x, start, &mask);
    let y_dtype = state.y.dtype();
    let out = StepOutput {
        logits: model.logits(state.y.clone(), &mask),
        state,
    };
    assert_eq!(out.logits.dtype(), DType::F32, "losses read f32 logits");
    let batch = LmBatch {
        inputs,
        targets,
        weights: None,
    };
    let loss = model.step_loss(&out, &batch, 0.5).total;
    let value: f64 = loss.clone().into_scalar().elem();
    let grads = GradientsParams::from_grads(loss.backward(), model);
    let mut out = Vec::new();
    for snap in model.collect(None, None, false) {
        let id = snap.tensor_id.unwrap();
        let g = match snap.shape.len() {
            1 => grads.get::<Flex, 1>(id).map(|g| g.into_data()),
            2 => grads.get::<Flex, 2>(id).map(|g| g.into_data()),
            _ => None,
        };
        if let Some(g) = g {
            assert_eq!(
                g.dtype,
                DType::F32,
                "{}: weights get f32 gradients",
                snap.full_path()
            );
            out.push((snap.full_path(), g.to_vec().unwrap()));
        }
    }
    (value, y_dtype, out)
}

#[test]
fn a_bf16_step_computes_in_bf16_and_matches_f32_to_bf16_precision() {
    let cfg = ModelConfig {
        d_model: 32,
        n_layers: 1,
        n_heads: 2,
        n: 2,
        t: 2,
        n_sup: 2,
        y_init: YInit::Fixed,
        seed: 5,
        ..Default::default()
    };
    let model = TextLm::<B>::new(&cfg, 11, 32, &Default::default());
    let (loss32, dtype32, grads32) = step(&model, Precision::F32);
    let (loss16, dtype16, grads16) = step(&model, Precision::Bf16);
    assert_eq!(dtype32, DType::F32);
    assert_eq!(dtype16, DType::BF16, "the recursion ran in bf16");
    // bf16 keeps 8 bits of mantissa: about 0.4% per rounding
    assert!(
        (loss16 - loss32).abs() < 0.02 * loss32.abs(),
        "loss {loss16} (bf16) vs {loss32} (f32)"
    );
    assert_eq!(grads32.len(), grads16.len());
    assert!(grads32.len() >= 8, "every weight has a gradient");
    for ((name, a), (_, b)) in grads32.iter().zip(&grads16) {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let cosine = dot / (na * nb).max(1e-30);
        assert!(
            cosine > 0.99,
            "{name}: gradient cosine {cosine:.4} between bf16 and f32"
        );
        assert!(
            (nb / na - 1.0).abs() < 0.05,
            "{name}: gradient norm {nb} vs {na}"
        );
    }
    // the weights themselves never left f32
    for snap in model.collect(None, None, false) {
        assert_eq!(snap.dtype, DType::F32, "{}", snap.full_path());
    }
}

#[test]
fn bf16_runs_train_like_f32_and_save_f32_checkpoints() {
    let dir = temp("bf16");
    let mut losses = Vec::new();
    for precision in ["f32", "bf16"] {
        let run_dir = dir.join(precision);
        let mut args = tiny_args(&run_dir, 12);
        args.extend(sets(&[format!("train.precision={precision}")]));
        ok(&run(trm().args(&args)));
        losses.push(
            metrics(&run_dir)
                .iter()
                .map(|m| m["loss"].as_f64().unwrap())
                .collect::<Vec<_>>(),
        );
        // the checkpoint is f32 and evaluates (in f32) like any other
        ok(&run(trm()
            .args(["eval", "--max-windows", "4", "--checkpoint"])
            .arg(&run_dir)));
    }
    let (f32_losses, bf16_losses) = (&losses[0], &losses[1]);
    assert_eq!(f32_losses.len(), bf16_losses.len());
    for (a, b) in f32_losses.iter().zip(bf16_losses) {
        assert!((a - b).abs() < 0.03 * a, "loss {b} (bf16) vs {a} (f32)");
    }
    assert!(
        bf16_losses.last() < bf16_losses.first(),
        "bf16 training lowers the loss"
    );
    // a puzzle run in bf16 (carry kept in bf16 between updates)
    let puzzle = dir.join("puzzle");
    ok(&run(trm()
        .args(["train", "--quiet", "--run-dir"])
        .arg(&puzzle)
        .args(sets(&[
            "puzzle.task=sudoku",
            "puzzle.generate_train=64",
            "puzzle.generate_test=8",
            "puzzle.val_count=8",
            "puzzle.max_blanks=4",
            "puzzle.puzzle_emb_len=1",
            "model.mixer=mlp_t",
            "model.d_model=32",
            "model.n_heads=2",
            "model.n=1",
            "model.t=2",
            "model.n_sup=2",
            "train.batch_size=8",
            "train.steps=6",
            "train.eval_every=6",
            "train.checkpoint_every=6",
            "train.precision=bf16",
        ]))));
    assert_eq!(metrics(&puzzle).len(), 6);
}
