//! Puzzle adapter and training: stablemax against hand-computed values and finite differences,
//! sign-SGD on the puzzle-id table, the persistent carry's halting, a small run that learns,
//! micro-batches and data-parallel peers that give the whole batch's update, and the `trm data` /
//! `trm train` / `trm eval` commands on every paper preset.

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use std::process::Command;

mod common;
use common::{metrics, ok, run, sets, shared_data, temp, trm};
use trm::config::Config;
use trm::data::puzzle::PuzzleData;
use trm::nn::loss::{log_stablemax, token_nll_stablemax};
use trm::rng::Rng;
use trm::train::parallel::Cluster;
use trm::train::puzzle::PuzzleLearner;

type Cpu = Flex;
type Ad = Autodiff<Flex>;

fn values<const D: usize>(t: Tensor<Cpu, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec().unwrap()
}

#[test]
fn stablemax_matches_hand_computed_values() {
    // s(0) = 1, s(1) = 2, s(-1) = 1/2, s(-3) = 1/4: sum 3.75.
    let x = Tensor::<Cpu, 1>::from_floats([0.0, 1.0, -1.0, -3.0], &Default::default());
    let got = values(log_stablemax(x, 0));
    let want = [1.0f64, 2.0, 0.5, 0.25].map(|s| (s / 3.75).ln());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
}

#[test]
fn stablemax_gradient_matches_finite_differences() {
    let device = Default::default();
    let raw = [0.7f32, -1.3, 2.1, -0.2, 0.3, 3.5];
    let targets = Tensor::<Ad, 2, Int>::from_data(TensorData::new(vec![2i64, 1], [1, 2]), &device);
    let loss = |v: &[f32]| -> f64 {
        let x = Tensor::<Cpu, 3>::from_data(TensorData::new(v.to_vec(), [1, 2, 3]), &device);
        let t = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(vec![2i64, 1], [1, 2]), &device);
        values(token_nll_stablemax(x, t).sum())[0]
    };
    let x = Tensor::<Ad, 3>::from_data(TensorData::new(raw.to_vec(), [1, 2, 3]), &device)
        .require_grad();
    let l = token_nll_stablemax(x.clone(), targets).sum();
    let grads = l.backward();
    let analytic = values(x.grad(&grads).unwrap().reshape([6]));
    for i in 0..6 {
        let h = 1e-2f32;
        let (mut up, mut down) = (raw, raw);
        up[i] += h;
        down[i] -= h;
        let numeric = (loss(&up) - loss(&down)) / (2.0 * h as f64);
        assert!(
            (numeric - analytic[i]).abs() < 2e-3,
            "d/dx{i}: numeric {numeric} analytic {}",
            analytic[i]
        );
    }
}

/// A tiny Sudoku config: generated easy puzzles, small model.
fn tiny_sudoku(extra: &[&str]) -> Config {
    let mut overrides: Vec<String> = [
        "puzzle.task=sudoku",
        "puzzle.generate_train=64",
        "puzzle.generate_test=16",
        "puzzle.max_blanks=6",
        "puzzle.puzzle_emb_len=2",
        "model.d_model=32",
        "model.n_heads=2",
        "model.n=1",
        "model.t=1",
        "model.n_sup=2",
        "model.y_init=fixed",
        "train.batch_size=8",
        "train.steps=4",
        "train.warmup=1",
        "train.weight_decay=0.0",
        "puzzle.halt_exploration_prob=0.0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    overrides.extend(extra.iter().map(|s| s.to_string()));
    Config::from_toml_str("", &overrides, "test").unwrap()
}

#[test]
fn carry_keeps_puzzles_until_they_halt_and_sign_sgd_moves_used_rows_by_lr() {
    let config = tiny_sudoku(&[
        "puzzle.puzzle_emb_lr=0.01",
        "puzzle.puzzle_emb_weight_decay=0.0",
    ]);
    assert_eq!(config.puzzle.task, "sudoku");
    let data = PuzzleData::load(&config.puzzle).unwrap();
    let device = Default::default();
    let mut learner = PuzzleLearner::<Ad>::new(config, &data, &device);
    let mut rng = Rng::new(3);
    let before = learner.weights.model.puzzle_emb().inner();
    // q starts at -5 (halting head bias), exploration is off: every puzzle runs n_sup = 2 steps.
    let first = learner.train_step(&data, &mut rng).unwrap();
    assert_eq!(
        first.halted, 0,
        "no puzzle halts after 1 of 2 steps while q < 0"
    );
    let after = learner.weights.model.puzzle_emb().inner();
    // Sudoku uses the one id 0: its row moves by exactly lr per coordinate (sign-SGD, no decay).
    let delta = values((after - before).abs().reshape([-1]));
    for d in &delta {
        assert!((d - 0.01).abs() < 1e-6, "sign-SGD step {d} != lr 0.01");
    }
    let second = learner.train_step(&data, &mut rng).unwrap();
    assert_eq!(second.halted, 8, "all 8 slots halt at the step limit");
    assert_eq!(second.mean_steps, Some(2.0));
    // The EMA copy uses the live puzzle-id table, not an average of it.
    let live = values(learner.weights.model.puzzle_emb().inner().reshape([-1]));
    let ema = values(learner.weights.ema.puzzle_emb().reshape([-1]));
    assert_eq!(live, ema);
}

/// The persistent carry run in chunks of 3, 3 and 2 slots (`train.micro_batch`), split over two
/// data-parallel peers (slots 0-3 and 4-7), or both, gives the updates of all 8 slots at once:
/// the same losses, halting and puzzle embeddings after three updates.
#[test]
fn chunked_or_split_carry_gives_the_whole_batch_update() {
    let data = PuzzleData::load(&tiny_sudoku(&[]).puzzle).unwrap();
    let device = Default::default();
    let run = |peers: usize, micro_batch: &str| {
        let config = tiny_sudoku(&[micro_batch, "model.t=2"]);
        let mut learner = PuzzleLearner::<Ad>::new(config, &data, &device);
        if peers > 1 {
            let cluster = Cluster {
                devices: vec![device; peers],
                ..Cluster::single(device)
            };
            learner.start_parallel(cluster).unwrap();
        }
        let mut rng = Rng::new(3);
        let logs: Vec<_> = (0..3)
            .map(|_| learner.train_step(&data, &mut rng).unwrap())
            .collect();
        let emb = values(learner.weights.model.puzzle_emb().inner().reshape([-1]));
        (logs, emb)
    };
    let (whole, emb_whole) = run(1, "train.micro_batch=0");
    for (peers, micro_batch) in [
        (1, "train.micro_batch=3"),
        (2, "train.micro_batch=0"),
        (2, "train.micro_batch=3"),
    ] {
        let (other, emb_other) = run(peers, micro_batch);
        for (a, b) in whole.iter().zip(&other) {
            let what = format!("{peers} peer(s), {micro_batch}");
            assert!((a.lm - b.lm).abs() < 1e-5, "{what}: {} vs {}", a.lm, b.lm);
            assert!((a.halt - b.halt).abs() < 1e-5, "{what}");
            assert_eq!(a.halted, b.halted, "{what}");
            assert_eq!(a.exact_accuracy, b.exact_accuracy, "{what}");
            assert!(
                (a.grad_norm - b.grad_norm).abs() < 1e-4 * a.grad_norm.max(1.0),
                "{what}"
            );
        }
        let drift = emb_whole
            .iter()
            .zip(&emb_other)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            drift < 1e-5,
            "{peers} peer(s), {micro_batch}: puzzle embeddings differ by {drift}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Through the binary.

#[test]
fn generated_csv_reads_back_with_pythons_csv_module() {
    let dir = temp("csv");
    let sudoku = dir.join("sudoku.csv");
    let maze = dir.join("maze.csv");
    let out = run(trm()
        .args(["data", "sudoku", "--count", "20", "--seed", "4", "--out"])
        .arg(&sudoku));
    ok(&out);
    let out = run(trm()
        .args([
            "data",
            "maze",
            "--count",
            "3",
            "--side",
            "12",
            "--min-path",
            "20",
            "--out",
        ])
        .arg(&maze));
    ok(&out);
    // Python's csv module (as the official dataset builders read them) sees the official layout.
    let check = r##"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert list(rows[0].keys()) == ["source", "question", "answer", "rating"], rows[0].keys()
assert len(rows) == 20
for r in rows:
    q, a = r["question"], r["answer"]
    assert len(q) == 81 and len(a) == 81 and "." not in a
    assert all(c == "." or c == a[i] for i, c in enumerate(q))
    for k in range(9):
        assert sorted(a[9 * k:9 * k + 9]) == list("123456789")
m = list(csv.DictReader(open(sys.argv[2], newline="")))
assert len(m) == 3
for r in m:
    assert len(r["question"]) == 144 and set(r["question"]) <= set("# SG")
    assert set(r["answer"]) <= set("# SGo") and "o" in r["answer"]
print("ok")
"##;
    let py = Command::new("python3")
        .args(["-c", check])
        .arg(&sudoku)
        .arg(&maze)
        .output()
        .expect("python3 is installed");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
}

/// Every paper preset starts, runs a step and checkpoints on CPU (tiny data, batch and test set;
/// the model is the paper's).
#[test]
fn paper_presets_start_run_and_checkpoint() {
    let dir = temp("presets");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (kind, extra) in [
        ("sudoku", vec![]),
        ("maze", vec!["--side", "30", "--min-path", "110"]),
    ] {
        for (name, seed) in [("train", "1"), ("test", "2")] {
            let file = data.join(format!("{kind}-{name}.csv"));
            ok(&run(trm()
                .args(["data", kind, "--count", "2", "--seed", seed])
                .args(&extra)
                .arg("--out")
                .arg(&file)));
        }
    }
    let arc = data.join("arc");
    // ARC needs the shared Kaggle files; without them the ARC presets are skipped (with a note).
    let kaggle = shared_data("arc/kaggle-combined");
    if let Some(kaggle) = &kaggle {
        ok(&run(trm()
            .args(["data", "arc", "--input"])
            .arg(kaggle)
            .args(["--max-tasks", "2", "--augmentations", "2", "--out"])
            .arg(&arc)));
    }
    let d = data.display();
    let mut presets = vec![
        (
            "sudoku-extreme-mlp",
            format!("puzzle.train={d}/sudoku-train.csv"),
            format!("puzzle.test={d}/sudoku-test.csv"),
        ),
        (
            "sudoku-extreme-att",
            format!("puzzle.train={d}/sudoku-train.csv"),
            format!("puzzle.test={d}/sudoku-test.csv"),
        ),
        (
            "maze-hard",
            format!("puzzle.train={d}/maze-train.csv"),
            format!("puzzle.test={d}/maze-test.csv"),
        ),
    ];
    if kaggle.is_some() {
        for preset in ["arc-agi-1", "arc-agi-2"] {
            presets.push((
                preset,
                format!("puzzle.train={}", arc.display()),
                "puzzle.test_limit=1".into(),
            ));
        }
    }
    for (preset, train, test) in presets {
        let run_dir = dir.join(preset);
        let overrides = sets(&[
            train,
            test,
            "train.steps=1".into(),
            "train.batch_size=1".into(),
            "puzzle.test_limit=1".into(),
            "puzzle.val_count=1".into(),
            "puzzle.eval_steps=1".into(),
        ]);
        let out = run(trm()
            .args(["train", "--quiet", "--config"])
            .arg(format!("configs/{preset}.toml"))
            .arg("--run-dir")
            .arg(&run_dir)
            .args(&overrides));
        ok(&out);
        assert!(
            run_dir.join("checkpoints/step-000001/state.json").exists(),
            "{preset}: no checkpoint"
        );
        let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
        assert!(metrics.contains("\"test\""), "{preset}: {metrics}");
    }
}

/// A small Sudoku run (MLP-T, 4 blanks) learns: test accuracy well above what copying the givens
/// and guessing blanks would score, and `trm eval` reports more supervision steps than trained.
#[test]
fn small_sudoku_run_learns_and_evaluates_with_more_steps() {
    let dir = temp("learn");
    let run_dir = dir.join("run");
    let overrides = sets(
        &[
            "puzzle.task=sudoku",
            "puzzle.generate_train=2000",
            "puzzle.generate_test=64",
            "puzzle.max_blanks=4",
            "puzzle.puzzle_emb_len=1",
            "model.mixer=mlp_t",
            "model.d_model=64",
            "model.n_heads=4",
            "model.n=1",
            "model.t=1",
            "model.n_sup=2",
            "train.batch_size=32",
            "train.steps=200",
            "train.lr=3e-3",
            "train.warmup=10",
            "train.eval_every=200",
            "train.checkpoint_every=200",
        ]
        .map(String::from),
    );
    let out = run(trm()
        .args(["train", "--quiet", "--run-dir"])
        .arg(&run_dir)
        .args(&overrides));
    ok(&out);
    let last = metrics(&run_dir).pop().unwrap();
    let token = last["test"]["per_step"][1]["token_accuracy"]
        .as_f64()
        .unwrap();
    // 4 blanks of 81 cells: copying the givens and guessing 1 of 9 digits scores 95.6%.
    let guess = (77.0 + 4.0 / 9.0) / 81.0;
    assert!(
        token > guess + 0.01,
        "token accuracy {token} vs guessing {guess}"
    );
    let out = run(trm()
        .args(["eval", "--checkpoint"])
        .arg(&run_dir)
        .args(["--steps", "4"]));
    let table = ok(&out);
    assert!(table.contains("| 4 |"), "{table}");
}

#[test]
fn bad_puzzle_input_gives_one_line_errors() {
    let dir = temp("bad");
    let csv = dir.join("bad.csv");
    std::fs::write(&csv, "source,question,answer\nx,1,2\n").unwrap();
    let out = run(trm()
        .args(["train", "--quiet", "--run-dir"])
        .arg(dir.join("run"))
        .args(sets(&[
            "puzzle.task=sudoku".into(),
            format!("puzzle.train={}", csv.display()),
        ])));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rating"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = run(trm()
        .args(["data", "arc", "--input"])
        .arg(dir.join("missing"))
        .arg("--out")
        .arg(dir.join("arc")));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && err.lines().count() <= 2,
        "{err}"
    );
}

#[test]
fn puzzle_runs_resume_from_their_checkpoint() {
    let dir = temp("resume");
    let run_dir = dir.join("run");
    let base = sets(
        &[
            "puzzle.task=maze",
            "puzzle.maze_side=7",
            "puzzle.maze_min_path=8",
            "puzzle.generate_train=16",
            "puzzle.generate_test=4",
            "puzzle.puzzle_emb_len=1",
            "model.d_model=16",
            "model.n_heads=2",
            "model.n=1",
            "model.t=1",
            "train.batch_size=4",
            "train.steps=2",
            "train.checkpoint_every=2",
            "train.eval_every=2",
        ]
        .map(String::from),
    );
    ok(&run(trm()
        .args(["train", "--quiet", "--run-dir"])
        .arg(&run_dir)
        .args(&base)));
    ok(&run(trm()
        .args(["train", "--quiet", "--resume"])
        .arg(&run_dir)
        .args(["--set", "train.steps=4"])));
    let steps: Vec<u64> = metrics(&run_dir)
        .iter()
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![1, 2, 3, 4]);
    assert!(run_dir.join("checkpoints/step-000004/state.json").exists());
    // The data settings shape the run: changing them on resume is refused in one line.
    let out = run(trm()
        .args(["train", "--quiet", "--resume"])
        .arg(&run_dir)
        .args([
            "--set",
            "train.steps=6",
            "--set",
            "puzzle.generate_train=32",
        ]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot change"), "{err}");
}
