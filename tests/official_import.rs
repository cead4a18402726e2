//! `trm import` + `trm solve` against the official code: a Sudoku model of another size than the
//! parity fixtures (D 48, 2 heads, 1 layer, T 2, n 3, N_sup 4, 2 prefix positions), saved by the
//! official code as its pretrain.py saves checkpoints (`torch.save` of a compiled model's state
//! dict, `_orig_mod.model.` prefixes) with its all_config.yaml, and the official model's own
//! predictions for 16 puzzles (`tests/fixtures/official-import/`, made by its make.py).

mod common;

use common::{assert_clean_error, ok, run, temp, trm};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use trm::data::puzzle::csv::CsvFile;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/official-import")
        .join(name)
}

/// A CSV as one map per row (column -> value).
fn rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut csv = CsvFile::open(path).unwrap();
    let header = csv.next_record().unwrap().unwrap().fields;
    let mut out = Vec::new();
    while let Some(r) = csv.next_record().unwrap() {
        out.push(header.iter().cloned().zip(r.fields).collect());
    }
    out
}

/// Official argmax tokens ("t t t ...") in the answer characters: digit t - 1, else '.'.
fn chars(tokens: &str) -> String {
    tokens
        .split_whitespace()
        .map(|t| match t.parse::<u8>().unwrap() {
            t @ 2..=10 => (b'0' + t - 1) as char,
            _ => '.',
        })
        .collect()
}

fn import(run_dir: &Path) {
    ok(&run(trm()
        .args(["import", "--official"])
        .arg(fixture("model.pt"))
        .arg("--config")
        .arg(fixture("all_config.yaml"))
        .args(["--task", "sudoku", "--out"])
        .arg(run_dir)));
}

fn solve(run_dir: &Path, out: &Path, extra: &[&str]) -> Vec<BTreeMap<String, String>> {
    ok(&run(trm()
        .args(["solve", "--checkpoint"])
        .arg(run_dir)
        .arg("--input")
        .arg(fixture("puzzles.csv"))
        .arg("--out")
        .arg(out)
        .args(extra)));
    rows(out)
}

#[test]
fn an_imported_official_model_gives_the_official_predictions() {
    let dir = temp("import");
    let run_dir = dir.join("official");
    import(&run_dir);
    let expected = rows(&fixture("expected.csv"));
    assert_eq!(expected.len(), 16);

    // all 4 supervision steps, as the official evaluation runs them
    let answers = solve(&run_dir, &dir.join("answers.csv"), &[]);
    assert_eq!(answers.len(), expected.len());
    let mut differing_cells = 0;
    for (ours, official) in answers.iter().zip(&expected) {
        assert_eq!(ours["source"], official["source"]);
        assert_eq!(ours["question"], official["question"]);
        assert_eq!(ours["steps"], "4");
        assert_eq!(ours["prediction"], chars(&official["tokens"]));
        assert_eq!(ours["prediction"], official["prediction"]);
        let p: f64 = ours["halt_probability"].parse().unwrap();
        let q: f64 = official["q_halt_logit"].parse().unwrap();
        let official_p = 1.0 / (1.0 + (-q).exp());
        assert!((p - official_p).abs() < 1e-4, "{p} vs {official_p}");
        differing_cells += ours["prediction"]
            .bytes()
            .zip(official["question"].bytes())
            .filter(|(a, b)| a != b)
            .count();
    }
    assert!(
        differing_cells > 0,
        "the predictions are not just the questions copied"
    );

    // fewer steps: the official tokens after each step
    for steps in 1..=3 {
        let out = dir.join(format!("answers-{steps}.csv"));
        let answers = solve(&run_dir, &out, &["--steps", &steps.to_string()]);
        for (ours, official) in answers.iter().zip(&expected) {
            assert_eq!(
                ours["prediction"],
                chars(&official[&format!("tokens_step{steps}")])
            );
            assert_eq!(ours["steps"], steps.to_string());
        }
    }
}

#[test]
fn import_refuses_what_it_cannot_faithfully_load() {
    let dir = temp("import-bad");
    let yaml = fixture("all_config.yaml");
    let model = fixture("model.pt");
    let import = |task: &str, out: &Path, config: &Path| {
        run(trm()
            .args(["import", "--official"])
            .arg(&model)
            .arg("--config")
            .arg(config)
            .args(["--task", task, "--out"])
            .arg(out))
    };
    // a Sudoku model is not a maze model (vocabulary 11, not 6)
    assert_clean_error(
        &import("maze", &dir.join("m"), &yaml),
        &["vocabulary", "11"],
    );
    assert!(!dir.join("m").exists(), "nothing written on a refusal");
    assert_clean_error(
        &import("arc", &dir.join("a"), &yaml),
        &["arc", "identifiers"],
    );
    // a config that contradicts the tensors
    let wrong = dir.join("wrong.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&wrong, text.replace("hidden_size: 48", "hidden_size: 64")).unwrap();
    assert_clean_error(
        &import("sudoku", &dir.join("w"), &wrong),
        &["hidden_size", "48"],
    );
    let heads = dir.join("heads.yaml");
    std::fs::write(&heads, text.replace("num_heads: 2", "num_heads: 5")).unwrap();
    assert_clean_error(
        &import("sudoku", &dir.join("h"), &heads),
        &["num_heads", "5"],
    );
    // not a checkpoint at all
    let junk = dir.join("junk.pt");
    std::fs::write(&junk, b"not a pickle").unwrap();
    let out = run(trm()
        .args(["import", "--official"])
        .arg(&junk)
        .arg("--config")
        .arg(&yaml)
        .args(["--task", "sudoku", "--out"])
        .arg(dir.join("j")));
    assert_clean_error(&out, &["junk.pt"]);
    assert!(!dir.join("j").exists());
    // an existing run is never overwritten, and an import cannot be resumed as a training run
    let run_dir = dir.join("ok");
    let ok_out = import("sudoku", &run_dir, &yaml);
    assert!(ok_out.status.success(), "{}", common::stderr(&ok_out));
    assert_clean_error(&import("sudoku", &run_dir, &yaml), &["already"]);
    let resume = run(trm().args(["train", "--quiet", "--resume"]).arg(&run_dir));
    assert_clean_error(&resume, &["imported"]);
}
