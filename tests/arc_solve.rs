//! `trm solve` on an ARC run: the ARC Prize submission for a challenges file (its format checked
//! by Python's json module, its attempts against the run's own voting), and the inputs it refuses.

mod common;

use std::path::Path;
use std::process::Command;

use burn::backend::Flex;
use common::{assert_clean_error, ok, run, sets, shared_data, temp, trm};
use serde_json::{json, Map, Value};
use trm::data::puzzle::arc::{vote, ArcDataset, Grid, Prediction, SEQ_LEN, VOCAB};
use trm::run::load_trained_puzzle;
use trm::tasks::host_f64;
use trm::tasks::puzzle::PuzzleBatch;

/// A JSON file as an object.
fn read_object(path: &Path) -> Map<String, Value> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write(path: &Path, value: &Value) {
    std::fs::write(path, value.to_string()).unwrap();
}

/// The submission format as Python's json module reads it: exactly the challenges' task ids, one
/// object per test input with exactly attempt_1 and attempt_2, each a 1x1 to 30x30 rectangular
/// list of lists of ints 0..=9.
const CHECK_FORMAT: &str = r#"
import json, sys
challenges = json.load(open(sys.argv[1]))
sub = json.load(open(sys.argv[2]))
assert isinstance(sub, dict) and sorted(sub) == sorted(challenges), (sorted(sub), sorted(challenges))
for task, answers in sub.items():
    assert isinstance(answers, list) and len(answers) == len(challenges[task]["test"]), task
    for a in answers:
        assert isinstance(a, dict) and sorted(a) == ["attempt_1", "attempt_2"], a
        for g in a.values():
            assert isinstance(g, list) and 1 <= len(g) <= 30, g
            assert all(isinstance(r, list) and len(r) == len(g[0]) for r in g), g
            assert 1 <= len(g[0]) <= 30, g
            assert all(type(v) is int and 0 <= v <= 9 for r in g for v in r), g
print("ok")
"#;

/// The index of the largest logit (the first of ties).
fn argmax(values: &[f32]) -> u8 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u8
}

#[test]
fn arc_solve_writes_the_runs_top_two_voted_answers_as_a_submission() {
    let Some(kaggle) = shared_data("arc/kaggle-combined") else {
        return;
    };
    let dir = temp("arc-solve");
    // A Kaggle folder of four real evaluation tasks: the first three by id, and the first with
    // two test inputs.
    let ch = read_object(&kaggle.join("arc-agi_evaluation_challenges.json"));
    let so = read_object(&kaggle.join("arc-agi_evaluation_solutions.json"));
    let tests = |id: &str| ch[id]["test"].as_array().unwrap().len();
    let mut ids: Vec<String> = ch.keys().take(3).cloned().collect();
    let two = ch.keys().find(|id| tests(id) > 1).unwrap().clone();
    assert!(
        !ids.contains(&two),
        "pick another task with two test inputs"
    );
    ids.push(two);
    let pick = |from: &Map<String, Value>, ids: &[String]| -> Value {
        Value::Object(
            ids.iter()
                .map(|id| (id.clone(), from[id].clone()))
                .collect(),
        )
    };
    let source = dir.join("kaggle");
    std::fs::create_dir_all(&source).unwrap();
    write(
        &source.join("arc-agi_evaluation_challenges.json"),
        &pick(&ch, &ids),
    );
    write(
        &source.join("arc-agi_evaluation_solutions.json"),
        &pick(&so, &ids),
    );
    let folder = dir.join("arc");
    ok(&run(trm()
        .args(["data", "arc", "--input"])
        .arg(&source)
        .args(["--subsets", "evaluation", "--test-subset", "evaluation"])
        .args(["--augmentations", "2", "--seed", "1", "--out"])
        .arg(&folder)));
    let run_dir = dir.join("run");
    ok(&run(trm()
        .args(["train", "--quiet", "--run-dir"])
        .arg(&run_dir)
        .args(sets(&[
            "puzzle.task=arc".to_string(),
            format!("puzzle.train={}", folder.display()),
            "puzzle.puzzle_emb_len=2".into(),
            "model.d_model=16".into(),
            "model.n_heads=2".into(),
            "model.n=1".into(),
            "model.t=1".into(),
            "model.n_sup=2".into(),
            "train.batch_size=4".into(),
            "train.steps=4".into(),
            "train.warmup=1".into(),
        ]))));

    // The challenges of three of the four tasks (the two-test task among them), as Kaggle has them.
    let asked: Vec<String> = ids[1..].to_vec();
    let input = dir.join("arc-agi_evaluation_challenges.json");
    write(&input, &pick(&ch, &asked));
    let out = dir.join("submission.json");
    let said = ok(&run(trm()
        .args(["solve", "--checkpoint"])
        .arg(&run_dir)
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)));
    assert!(said.contains("4 test inputs of 3 tasks"), "{said}");
    let py = Command::new("python3")
        .args(["-c", CHECK_FORMAT])
        .arg(&input)
        .arg(&out)
        .output()
        .expect("python3 is installed");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let submission = read_object(&out);

    // The run's own voting, through the library's evaluation path: the run's test set (every
    // augmentation of every test input of the folder), the asked tasks' items in test-set order
    // and in batches of solve's default 64 (the same batches, so the same numbers), the last
    // of N_sup steps, argmax per cell and sigmoid(q), voted over augmentations.
    let device = Default::default();
    let t = load_trained_puzzle::<Flex>(&run_dir, &device).unwrap();
    let set = ArcDataset::load(&folder).unwrap();
    assert_eq!(t.data.test.len(), set.test_len());
    let chosen: Vec<usize> = (0..set.test_len())
        .filter(|&i| asked.contains(&set.test_item(i).task))
        .collect();
    let mut predictions = Vec::new();
    for batch_items in chosen.chunks(64) {
        let examples: Vec<_> = batch_items
            .iter()
            .map(|&i| t.data.test[i].clone())
            .collect();
        let batch = PuzzleBatch::<Flex>::new(&examples, &device);
        let last = t
            .model
            .forward_steps(&batch, t.model.n_sup())
            .pop()
            .unwrap();
        let logits: Vec<f32> = last.logits.into_data().convert::<f32>().to_vec().unwrap();
        let q = host_f64(last.q.unwrap());
        for (n, &i) in batch_items.iter().enumerate() {
            let item = set.test_item(i);
            let cells = &logits[n * SEQ_LEN * VOCAB..(n + 1) * SEQ_LEN * VOCAB];
            predictions.push(Prediction {
                task: item.task,
                test_index: item.test_index,
                augmentation: item.augmentation,
                tokens: cells.chunks(VOCAB).map(argmax).collect(),
                q: 1.0 / (1.0 + (-q[n]).exp()),
            });
        }
    }
    let votes = vote(&set, &predictions).unwrap();
    // Expected attempts: the two best-ranked non-empty candidates of the test input's vote (the
    // vote of the first test input with the same grid); one repeated; [[0]] for none.
    let mut real_attempts = 0;
    for id in &asked {
        let task = &set.task(id).unwrap().task;
        let answers = submission[id].as_array().unwrap();
        assert_eq!(answers.len(), task.tests.len(), "{id}");
        for (i, case) in task.tests.iter().enumerate() {
            let pooled = task
                .tests
                .iter()
                .position(|c| c.input == case.input)
                .unwrap();
            let v = votes
                .iter()
                .find(|v| &v.task == id && v.test_index == pooled)
                .unwrap();
            let grids: Vec<&Grid> = (v.candidates.iter())
                .map(|c| &c.grid)
                .filter(|g| !g.is_empty())
                .collect();
            let zero: Grid = vec![vec![0]];
            let first = grids.first().copied().unwrap_or(&zero);
            let second = grids.get(1).copied().unwrap_or(first);
            real_attempts += grids.len().min(2);
            assert_eq!(answers[i]["attempt_1"], json!(first), "{id} test {i}");
            assert_eq!(answers[i]["attempt_2"], json!(second), "{id} test {i}");
        }
    }
    assert!(
        real_attempts >= 4,
        "the model's votes should give real grids to compare, not only fallbacks"
    );

    // Refused in one line, nothing written: a task the folder lacks, a CSV for an ARC run.
    let unknown = ch.keys().find(|id| !ids.contains(id)).unwrap().clone();
    let other = dir.join("other_challenges.json");
    write(&other, &pick(&ch, &[ids[1].clone(), unknown.clone()]));
    let refused = dir.join("refused.json");
    let solve = |input: &Path, run_dir: &Path| {
        run(trm()
            .args(["solve", "--checkpoint"])
            .arg(run_dir)
            .arg("--input")
            .arg(input)
            .arg("--out")
            .arg(&refused))
    };
    assert_clean_error(
        &solve(&other, &run_dir),
        &[
            &format!("task {unknown}"),
            "not in the run's data folder",
            "never trained",
        ],
    );
    let csv = dir.join("puzzles.csv");
    std::fs::write(&csv, "source,question\nx,1\n").unwrap();
    assert_clean_error(&solve(&csv, &run_dir), &["puzzles.csv", "CSV", "ARC run"]);

    // And the challenges JSON for a Sudoku run.
    let sudoku = dir.join("sudoku");
    ok(&run(trm()
        .args(["train", "--quiet", "--run-dir"])
        .arg(&sudoku)
        .args(sets(&[
            "puzzle.task=sudoku",
            "puzzle.generate_train=16",
            "puzzle.generate_test=4",
            "puzzle.val_count=4",
            "puzzle.max_blanks=6",
            "puzzle.puzzle_emb_len=1",
            "model.d_model=16",
            "model.n_heads=2",
            "model.n=1",
            "model.t=1",
            "model.n_sup=1",
            "train.batch_size=4",
            "train.steps=1",
        ]))));
    assert_clean_error(&solve(&input, &sudoku), &["JSON", "sudoku run"]);
    assert!(!refused.exists(), "nothing written on a refusal");
}
