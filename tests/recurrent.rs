//! The recurrent-depth recipe end to end through the binary: its settings are checked, an
//! `unrolled` run trains and resumes exactly, evaluation and sampling run deeper than trained, and
//! the KV cache gives the tokens recomputation gives.

mod common;

use common::{assert_clean_error, losses, ok, run, sets, temp, tiny_args, trm};
use std::path::Path;

const RECIPE: [&str; 11] = [
    "model.n=1",
    "model.t=1",
    "model.n_sup=3",
    "model.prelude_layers=1",
    "model.coda_layers=1",
    "model.injection=concat",
    "model.norm=sandwich",
    "train.supervision=unrolled",
    "train.depth=poisson_lognormal",
    "train.backprop_steps=2",
    "train.lm_loss=last",
];

/// The recipe on a tiny model; a constant learning rate, so that a run of 4 batches extended to 8
/// follows the schedule of a run of 8.
fn recipe_run(run_dir: &Path, steps: u64) -> std::process::Command {
    let mut cmd = trm();
    cmd.args(tiny_args(run_dir, steps))
        .args(sets(&RECIPE))
        .args(sets(&["train.schedule=constant"]));
    cmd
}

#[test]
fn the_recipe_trains_resumes_exactly_and_runs_deeper_than_trained() {
    let d = temp("recurrent");
    let (straight, resumed) = (d.join("straight"), d.join("resumed"));
    ok(&run(&mut recipe_run(&straight, 8)));
    ok(&run(&mut recipe_run(&resumed, 4)));
    ok(&run(trm()
        .args(["train", "--quiet", "--resume"])
        .arg(&resumed)
        .args(sets(&["train.steps=8"]))));
    let (a, b) = (losses(&straight), losses(&resumed));
    assert_eq!(a.len(), 8, "one metrics line per batch: {a:?}");
    assert_eq!(a, b, "a resumed unrolled run draws the same depths");
    assert!(a.iter().all(|(_, l)| l.is_finite()));

    // test-time depth: one row per supervision step, up to 4x the trained 3
    let out = ok(&run(trm()
        .args([
            "eval",
            "--json",
            "--max-windows",
            "4",
            "--steps",
            "12",
            "--checkpoint",
        ])
        .arg(&straight)));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 12);
    assert!(steps
        .iter()
        .all(|s| s["perplexity"].as_f64().unwrap().is_finite()));

    // sampling deeper than trained, with the cache (prelude and coda calls included) and without
    let sample = |extra: &[&str]| {
        ok(&run(trm()
            .args([
                "sample",
                "--prompt",
                "ROMEO.",
                "--max-new-tokens",
                "24",
                "--checkpoint",
            ])
            .arg(&straight)
            .args(extra)))
    };
    for steps in ["3", "6"] {
        assert_eq!(
            sample(&["--steps", steps]),
            sample(&["--steps", steps, "--no-cache"]),
            "--steps {steps}"
        );
    }
}

#[test]
fn a_fresh_noise_start_is_the_same_whole_in_micro_batches_and_resumed() {
    let d = temp("recurrent-noise");
    let noise_run = |dir: &Path, steps: u64, extra: &[&str]| {
        let mut cmd = recipe_run(dir, steps);
        cmd.args(sets(&["model.y_init=noise"])).args(sets(extra));
        ok(&run(&mut cmd));
        losses(dir)
    };
    let straight = noise_run(&d.join("straight"), 6, &[]);
    // the noise follows each row's place in the batch, not the micro-batch it is computed in
    let micro = noise_run(&d.join("micro"), 6, &["train.micro_batch=1"]);
    for ((_, a), (_, b)) in straight.iter().zip(&micro) {
        assert!((a - b).abs() < 1e-4 * a.abs(), "{straight:?} vs {micro:?}");
    }
    let resumed = d.join("resumed");
    noise_run(&resumed, 3, &[]);
    ok(&run(trm()
        .args(["train", "--quiet", "--resume"])
        .arg(&resumed)
        .args(sets(&["train.steps=6"]))));
    assert_eq!(
        losses(&resumed),
        straight,
        "a resumed run draws the same noise"
    );
    // it is a different start from the embedding's
    let embed = losses(&{
        let dir = d.join("embed");
        ok(&run(&mut recipe_run(&dir, 6)));
        dir
    });
    assert_ne!(embed, straight);
    // inference draws the noise by absolute position: cached sampling, adaptive or not, gives
    // the tokens of recomputing
    let sample = |extra: &[&str]| {
        ok(&run(trm()
            .args(["sample", "--prompt", "ROMEO.", "--max-new-tokens", "16"])
            .arg("--checkpoint")
            .arg(d.join("straight"))
            .args(extra)))
    };
    for flags in [&["--steps", "4"][..], &["--steps", "4", "--exit", "kl:0.3"]] {
        let cached = sample(flags);
        assert_eq!(
            cached,
            sample(&[flags, &["--no-cache"]].concat()),
            "{flags:?}"
        );
    }
}

#[test]
fn recipe_settings_are_refused_where_they_do_not_apply() {
    let d = temp("recurrent-refused");
    let refuse = |extra: &[&str], needles: &[&str]| {
        let mut cmd = trm();
        cmd.args(tiny_args(&d.join("r"), 2)).args(sets(extra));
        assert_clean_error(&run(&mut cmd), needles);
    };
    refuse(
        &["model.kind=transformer", "model.prelude_layers=1"],
        &["prelude_layers"],
    );
    refuse(
        &["model.kind=transformer", "train.supervision=unrolled"],
        &["unrolled"],
    );
    refuse(&["train.depth=uniform"], &["train.depth", "unrolled"]);
    refuse(&["train.lm_loss=last"], &["lm_loss", "unrolled"]);
    refuse(&["model.injection=sum"], &["injection"]);
    refuse(
        &["model.kind=transformer", "model.y_init=noise"],
        &["model.y_init", "noise"],
    );
    let mut cmd = trm();
    cmd.args(["train", "--quiet", "--run-dir"])
        .arg(d.join("p"))
        .args(sets(&["puzzle.task=sudoku", "model.coda_layers=1"]));
    assert_clean_error(&run(&mut cmd), &["coda_layers"]);
    let mut cmd = trm();
    cmd.args(["train", "--quiet", "--run-dir"])
        .arg(d.join("q"))
        .args(sets(&["puzzle.task=sudoku", "model.y_init=noise"]));
    assert_clean_error(&run(&mut cmd), &["model.y_init"]);
}
