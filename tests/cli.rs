//! End to end through the `trm` binary: train, log, sample, resume after SIGKILL, and bad input
//! (one-line errors, non-zero exit, no panic, nothing saved damaged).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::{
    assert_clean_error, corpus, losses, ok, read_tensorboard, run, sets, stderr, temp, tiny_args,
    trm,
};

fn latest_step(run: &Path) -> Option<u64> {
    let name = std::fs::read_to_string(run.join("checkpoints/latest")).ok()?;
    name.trim().strip_prefix("step-")?.parse().ok()
}

#[test]
fn train_logs_to_tensorboard_and_samples_reproducibly() {
    let dir = temp("train-sample");
    let run_dir = dir.path().join("run");
    let o = run(trm().args(tiny_args(&run_dir, 8)));
    ok(&o);
    for f in [
        "config.toml",
        "tokenizer.json",
        "metrics.jsonl",
        "checkpoints/latest",
        "checkpoints/best",
    ] {
        assert!(run_dir.join(f).exists(), "missing {f}");
    }

    // TensorBoard's own reader sees the scalars and the text samples.
    let tb = read_tensorboard(&run_dir.join("tb"));
    for tag in [
        "train/loss",
        "train/perplexity",
        "train/learning_rate",
        "train/grad_norm",
        "train/tokens_per_sec",
        "val/perplexity",
        "val/perplexity_step1",
        "val/perplexity_step2",
    ] {
        assert!(
            tb["scalars"][tag].as_array().is_some_and(|a| !a.is_empty()),
            "no scalar {tag}: {tb}"
        );
    }
    let steps: Vec<u64> = tb["scalars"]["val/perplexity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![4, 8]);
    let texts = tb["text"]["samples/generation"]
        .as_array()
        .expect("text samples");
    assert_eq!(texts.len(), 2);
    // the samples start from the opening line of a held-out document of this corpus: the first
    // line of the logged text is the start of a document pyarrow reads from the Parquet file
    let logged = texts[0][1].as_str().unwrap();
    let prompt = logged
        .strip_prefix("```\n")
        .unwrap()
        .split('\n')
        .next()
        .unwrap();
    assert!(!prompt.trim().is_empty(), "{logged}");
    let script = "import sys, pyarrow.parquet as pq\nrows = pq.read_table(sys.argv[1]).column('text').to_pylist()\nprint(sum(1 for r in rows if r and r.startswith(sys.argv[2])))";
    let found = std::process::Command::new("python3")
        .args(["-c", script, &corpus(), prompt])
        .output()
        .expect("python3 with pyarrow");
    let count: usize = String::from_utf8_lossy(&found.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        count >= 1,
        "{prompt:?} opens no document of the corpus: {found:?}"
    );

    // Same seed, same text; another seed, other text; --prompt-file reads the prompt from a file.
    let prompt = dir.path().join("prompt.txt");
    std::fs::write(&prompt, "HAMLET.").unwrap();
    let sample = |seed: &str, from_file: bool, extra: &[&str]| {
        let mut cmd = trm();
        cmd.args(["sample", "--checkpoint"]).arg(&run_dir);
        if from_file {
            cmd.arg("--prompt-file").arg(&prompt);
        } else {
            cmd.args(["--prompt", "HAMLET."]);
        }
        cmd.args([
            "--max-new-tokens",
            "20",
            "--temperature",
            "1.0",
            "--top-k",
            "0",
            "--top-p",
            "1.0",
            "--seed",
            seed,
        ]);
        let o = run(cmd.args(extra));
        ok(&o)
    };
    let (a, b, c) = (
        sample("7", false, &[]),
        sample("7", false, &[]),
        sample("8", false, &[]),
    );
    assert!(a.starts_with("HAMLET."), "{a}");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(sample("7", true, &[]), a);
    assert_eq!(
        sample("7", false, &["--no-cache"]),
        a,
        "the KV cache must not change the text"
    );

    // A new run into the same folder is refused rather than overwriting it.
    let o = run(trm().args(tiny_args(&run_dir, 8)));
    assert_clean_error(&o, &["--resume"]);
}

#[test]
fn resume_after_sigkill_matches_an_uninterrupted_run() {
    let dir = temp("resume-sigkill");
    let steps = 24;
    let straight = dir.path().join("straight");
    let o = run(trm().args(tiny_args(&straight, steps)));
    ok(&o);

    // Kill the second run with SIGKILL once it has a checkpoint and has gone past it.
    let killed = dir.path().join("killed");
    let mut child = trm()
        .args(tiny_args(&killed, steps))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let past_checkpoint = latest_step(&killed).is_some_and(|c| {
            std::fs::read_to_string(killed.join("metrics.jsonl"))
                .unwrap_or_default()
                .lines()
                .count() as u64
                > c
        });
        if past_checkpoint || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let at_kill = latest_step(&killed).expect("a checkpoint before the kill");
    assert!(
        at_kill < steps,
        "the run finished before it could be killed"
    );

    let o = run(trm().args(["train", "--quiet", "--resume"]).arg(&killed));
    ok(&o);
    // TensorBoard's reader sees one clean curve: the points the killed run wrote past its
    // checkpoint are purged by the resumed run's session start.
    let tb = read_tensorboard(&killed.join("tb"));
    let tb_steps: Vec<u64> = tb["scalars"]["train/loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_u64().unwrap())
        .collect();
    assert_eq!(tb_steps, (1..=steps / 2).map(|i| 2 * i).collect::<Vec<_>>());
    let (a, b) = (losses(&straight), losses(&killed));
    assert_eq!(a.len(), steps as usize);
    assert_eq!(
        a.iter().map(|x| x.0).collect::<Vec<_>>(),
        b.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    for ((step, la), (_, lb)) in a.iter().zip(&b) {
        assert!(
            (la - lb).abs() <= 1e-6 * la.abs(),
            "step {step}: {la} uninterrupted vs {lb} resumed (killed after checkpoint {at_kill})"
        );
    }
}

#[test]
fn a_tiny_model_learns_far_below_the_unigram_baseline() {
    let dir = temp("learns");
    let jsonl = dir.path().join("pattern.jsonl");
    let docs: String = (0..60)
        .map(|i| {
            format!(
                "{{\"text\": \"{}\"}}\n",
                "the cat sat on the mat. ".repeat(4 + i % 3)
            )
        })
        .collect();
    std::fs::write(&jsonl, docs).unwrap();
    let parquet = dir.path().join("pattern.parquet");
    let o = run(trm()
        .args(["data", "convert", "--input"])
        .arg(&jsonl)
        .arg("--out")
        .arg(&parquet));
    ok(&o);
    // The causal head's perplexity, and the masked head's ELBO bound on it, both far below unigram.
    for (head, steps, factor) in [("causal", 80, 3.0), ("masked", 240, 2.0)] {
        let run_dir = dir.path().join(head);
        let mut args = tiny_args(&run_dir, steps);
        args.extend(sets(&[
            format!("data.train=[\"{}\"]", parquet.display()),
            "data.val_fraction=0.2".into(),
            format!("model.head={head}"),
        ]));
        args.retain(|a| a != "--quiet");
        let o = run(trm().args(&args));
        let out = ok(&o);
        let line = out
            .lines()
            .find(|l| l.starts_with("validation perplexity"))
            .expect("summary line");
        let nums: Vec<f64> = line
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|w| w.parse().ok())
            .collect();
        let (ppl, unigram) = (nums[0], nums[1]);
        assert!(
            ppl < unigram / factor,
            "{head}: validation perplexity {ppl} vs unigram {unigram}: {line}"
        );
    }
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = temp("bad-input");
    let d = dir.path();
    let with = |extra: &[&str]| {
        let mut a = tiny_args(&d.join("r"), 2);
        a.extend(sets(extra));
        run(trm().args(a))
    };

    assert_clean_error(
        &with(&["data.train=[\"/nonexistent/x.parquet\"]"]),
        &["/nonexistent/x.parquet"],
    );
    let garbage = d.join("garbage.parquet");
    std::fs::write(&garbage, b"this is not parquet at all").unwrap();
    assert_clean_error(
        &with(&[&format!("data.train=[\"{}\"]", garbage.display())]),
        &["garbage.parquet"],
    );
    assert_clean_error(&with(&["data.text_column=body"]), &["body"]);
    assert_clean_error(&with(&["train.stepz=3"]), &["stepz"]);
    assert_clean_error(&with(&["train.steps=many"]), &["steps"]);
    assert_clean_error(
        &with(&["data.tokenizer=/nonexistent/tokenizer.json"]),
        &["/nonexistent/tokenizer.json"],
    );

    let empty_jsonl = d.join("empty.jsonl");
    std::fs::write(&empty_jsonl, "{\"text\": \"\"}\n{\"text\": \"   \"}\n").unwrap();
    let empty = d.join("empty.parquet");
    assert!(run(trm()
        .args(["data", "convert", "--input"])
        .arg(&empty_jsonl)
        .arg("--out")
        .arg(&empty))
    .status
    .success());
    assert_clean_error(
        &with(&[&format!("data.train=[\"{}\"]", empty.display())]),
        &["no usable text"],
    );

    let config = d.join("bad.toml");
    std::fs::write(&config, "[train]\nsteps = 3\nwarmpu = 5\n").unwrap();
    assert_clean_error(
        &run(trm().args(["train", "--config"]).arg(&config)),
        &["bad.toml", "warmpu"],
    );

    let empty_dir = d.join("empty_run");
    std::fs::create_dir_all(&empty_dir).unwrap();
    assert_clean_error(
        &run(trm().args(["train", "--resume"]).arg(&empty_dir)),
        &["empty_run"],
    );
    assert_clean_error(
        &run(trm().args(["sample", "--checkpoint"]).arg(&empty_dir)),
        &["empty_run"],
    );
}

#[test]
fn cuda_request_without_the_feature_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    let dir = temp("cuda");
    let mut args = tiny_args(&dir.path().join("r"), 2);
    args.extend(["--device".into(), "cuda".into()]);
    assert_clean_error(&run(trm().args(args)), &["cuda", "--features cuda"]);
}

#[test]
fn tokenizer_mismatch_and_nan_loss_keep_the_saved_checkpoint() {
    let dir = temp("mismatch-nan");
    let run_dir: PathBuf = dir.path().join("run");
    assert!(run(trm().args(tiny_args(&run_dir, 4))).status.success());

    let bpe = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tokenizer.json");
    let o = run(trm()
        .args(["sample", "--checkpoint"])
        .arg(&run_dir)
        .arg("--tokenizer")
        .arg(&bpe));
    assert_clean_error(&o, &["does not match"]);

    // Replace the run's tokenizer file: resuming must refuse it.
    let saved = std::fs::read(run_dir.join("tokenizer.json")).unwrap();
    std::fs::copy(&bpe, run_dir.join("tokenizer.json")).unwrap();
    assert_clean_error(
        &run(trm().args(["train", "--quiet", "--resume"]).arg(&run_dir)),
        &["does not match"],
    );
    std::fs::write(run_dir.join("tokenizer.json"), saved).unwrap();

    // The model's shape cannot change on resume.
    let o = run(trm()
        .args(["train", "--quiet", "--resume"])
        .arg(&run_dir)
        .args(["--set", "model.d_model=64"]));
    assert_clean_error(&o, &["model.*"]);

    // An absurd learning rate blows the loss up: stop, name the step, keep the last checkpoint.
    let o = run(trm()
        .args(["train", "--quiet", "--resume"])
        .arg(&run_dir)
        .args(sets(&[
            "train.steps=30",
            "train.lr=1e30",
            "train.grad_clip=0.0",
            "train.warmup=0",
        ])));
    assert_clean_error(&o, &["loss became", "at step"]);
    let o = run(trm()
        .args(["sample", "--checkpoint"])
        .arg(&run_dir)
        .args(["--max-new-tokens", "5"]));
    assert!(
        o.status.success(),
        "the kept checkpoint must still load: {}",
        stderr(&o)
    );
}

#[test]
fn eval_is_deterministic_and_compare_writes_a_report_with_plots() {
    let dir = temp("eval-compare");
    let d = dir.path();
    let settings = [
        "model.d_model=32",
        "train.batch_size=4",
        "train.seq_len=32",
        "train.steps=6",
        "train.eval_every=3",
        "train.eval_windows=4",
    ];
    let write = |name: &str, kind: &str| {
        let path = d.join(name);
        std::fs::write(&path, format!("[model]\nkind = \"{kind}\"\nn_heads = 2\n[data]\ntrain = [\"{}\"]\ntokenizer = \"bytes\"\n", corpus())).unwrap();
        path
    };
    let (a, b) = (write("trm.toml", "trm"), write("base.toml", "transformer"));
    let compare = |extra: &[&str]| {
        let mut cmd = trm();
        cmd.args([
            "compare",
            "--name",
            "t",
            "--eval-windows",
            "8",
            "--runs-dir",
        ])
        .arg(d.join("runs"))
        .arg("--out-dir")
        .arg(d.join("eval"))
        .arg("--config")
        .arg(&a)
        .arg("--config")
        .arg(&b)
        .args(sets(&settings))
        .args(sets(extra));
        run(&mut cmd)
    };
    ok(&compare(&[]));
    // the same name again with other settings: the finished runs are not silently reused
    let again = compare(&["train.lr=1e-3"]);
    assert_clean_error(&again, &["holds a finished run with other settings"]);
    // each run logs only the scalars its model has: the transformer has no halting head
    let tb_trm = read_tensorboard(&d.join("runs/t/trm/tb"));
    let tb_base = read_tensorboard(&d.join("runs/t/base/tb"));
    assert!(tb_trm["scalars"]["train/halt_loss"].is_array(), "{tb_trm}");
    assert!(
        tb_base["scalars"].get("train/halt_loss").is_none(),
        "{tb_base}"
    );
    assert!(
        tb_base["scalars"]["train/perplexity"].is_array(),
        "{tb_base}"
    );
    let report = std::fs::read_to_string(d.join("eval/compare-t/README.md")).unwrap();
    assert!(
        report.contains("| trm | TRM") && report.contains("| base | transformer"),
        "{report}"
    );
    // the same numbers for other tools: results.json agrees with the table
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("eval/compare-t/results.json")).unwrap(),
    )
    .unwrap();
    let models = results["models"].as_array().unwrap();
    assert_eq!(models.len(), 2, "{results}");
    for m in models {
        let steps = m["ppl_per_step"].as_array().unwrap();
        let trained = m["trained_steps"].as_u64().unwrap() as usize;
        let expected = if m["name"] == "trm" { 4 * trained } else { 1 };
        assert_eq!(steps.len(), expected, "{m}");
        let ppl = steps[trained - 1].as_f64().unwrap();
        assert!(
            report.contains(&format!("**{ppl:.3}**")),
            "{ppl} not in {report}"
        );
        assert_eq!(m["curve"].as_array().unwrap().len(), 2, "{m}");
    }
    for svg in [
        "val_ppl_vs_tokens.svg",
        "val_ppl_vs_time.svg",
        "ppl_vs_supervision_step.svg",
    ] {
        let text = std::fs::read_to_string(d.join("eval/compare-t").join(svg)).unwrap();
        assert!(
            text.trim_start().starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{svg} is not an SVG document"
        );
        // the text nodes: the legend names both runs, and no tick label is a raw float such as
        // 150000.0
        let labels: Vec<&str> = text
            .split("<text")
            .skip(1)
            .filter_map(|t| {
                t.split_once('>')
                    .and_then(|(_, rest)| rest.split_once("</text>"))
            })
            .map(|(label, _)| label.trim())
            .collect();
        assert!(
            labels.contains(&"trm") && labels.contains(&"base"),
            "{svg}: {labels:?}"
        );
        assert!(
            !labels
                .iter()
                .any(|l| l.ends_with(".0") && l.parse::<f64>().is_ok()),
            "{svg} has unformatted tick labels: {labels:?}"
        );
    }

    let eval = |steps: &str| {
        let o = run(trm()
            .args(["eval", "--checkpoint"])
            .arg(d.join("runs/t/trm"))
            .args(["--steps", steps]));
        ok(&o)
    };
    let (e1, e2) = (eval("3"), eval("3"));
    assert_eq!(e1, e2);
    assert_eq!(
        e1.lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| supervision"))
            .count(),
        3,
        "{e1}"
    );
}
