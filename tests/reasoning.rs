//! Towers of Hanoi and chess end to end through the `trm` binary: data commands (files read by
//! Python's pyarrow), training on the puzzle and language-model adapters, simulator-checked and
//! Stockfish-judged evaluation, and clear errors for a missing engine.

use std::process::Command;

mod common;
use common::{metrics, ok, sets, shared_data, temp, trm};

#[test]
fn hanoi_next_move_trains_and_reports_per_disk_count_and_step_count() {
    let dir = temp("hanoi-next");
    let run = dir.join("run");
    ok(&trm()
        .args([
            "train",
            "--quiet",
            "--config",
            "configs/hanoi-cpu.toml",
            "--run-dir",
        ])
        .arg(&run)
        .args(sets(&[
            "train.steps=20",
            "train.eval_every=20",
            "puzzle.generate_test=10",
            "puzzle.hanoi_test_max_disks=4",
            "puzzle.hanoi_max_disks=3",
        ]))
        .output()
        .unwrap());
    let out = ok(&trm()
        .args(["eval", "--steps", "3", "--checkpoint"])
        .arg(&run)
        .output()
        .unwrap());
    assert!(out.contains("Towers of Hanoi (3 pegs)"), "{out}");
    // One row per number of disks, 4 not trained on, 3 step counts per row.
    let row4 = out
        .lines()
        .find(|l| l.starts_with("| 4 | held out (more disks) |"))
        .expect(&out);
    assert_eq!(row4.matches(" / ").count(), 2 + 2, "{row4}");
}

#[test]
fn hanoi_text_data_reads_in_pyarrow_and_language_model_runs_are_checked_by_the_simulator() {
    let dir = temp("hanoi-text");
    let data = dir.join("hanoi.parquet");
    ok(&trm()
        .args([
            "data",
            "hanoi",
            "--max-disks",
            "3",
            "--copies",
            "5",
            "--out",
        ])
        .arg(&data)
        .output()
        .unwrap());
    let check = r#"
import sys, pyarrow.parquet as pq
rows = pq.read_table(sys.argv[1]).column("text").to_pylist()
assert len(rows) == 15, len(rows)
assert "hanoi 2 disks 3 pegs: 01 02 12." in rows, rows[:3]
"#;
    let py = Command::new("python3")
        .args(["-c", check])
        .arg(&data)
        .output()
        .expect("python3");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let run = dir.join("run");
    let d = data.display().to_string();
    ok(&trm()
        .args([
            "train",
            "--quiet",
            "--config",
            "configs/hanoi-text-cpu.toml",
            "--run-dir",
        ])
        .arg(&run)
        .args(sets(&[
            &format!("data.train=[\"{d}\"]"),
            &format!("data.val=[\"{d}\"]"),
            "train.steps=3",
            "train.seq_len=64",
            "train.eval_every=3",
            "sample.max_new_tokens=4",
        ]))
        .output()
        .unwrap());
    let out = ok(&trm()
        .args([
            "hanoi",
            "--max-disks",
            "4",
            "--trained",
            "1-3",
            "--checkpoint",
        ])
        .arg(&run)
        .output()
        .unwrap());
    assert!(out.contains("| 4 | no |"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("| ")).count(),
        1 + 4,
        "{out}"
    );
}

#[test]
fn chess_data_training_and_stockfish_evaluation() {
    let dir = temp("chess");
    let (train, test) = (dir.join("train.csv"), dir.join("test.csv"));
    for (file, seed) in [(&train, "1"), (&test, "2")] {
        let mut cmd = trm();
        cmd.args([
            "data", "chess", "--games", "3", "--plies", "6", "--depth", "4",
        ])
        .args(["--seed", seed]);
        if let Some(openings) = shared_data("chess/chess-openings") {
            cmd.arg("--openings").arg(openings);
        }
        ok(&cmd.arg("--out").arg(file).output().unwrap());
    }
    let csv = std::fs::read_to_string(&train).unwrap();
    assert!(csv.starts_with("fen,best_move\n"), "{csv}");
    assert!(csv.lines().count() > 5, "{csv}");
    let run = dir.join("run");
    ok(&trm()
        .args([
            "train",
            "--quiet",
            "--config",
            "configs/chess-cpu.toml",
            "--run-dir",
        ])
        .arg(&run)
        .args(sets(&[
            &format!("puzzle.train={}", train.display()),
            &format!("puzzle.test={}", test.display()),
            "train.steps=3",
            "train.batch_size=4",
            "train.eval_every=3",
        ]))
        .output()
        .unwrap());
    // The training-time test report decodes legal moves: top-1 and legality are shares.
    let last = metrics(&run).pop().unwrap();
    for key in ["chess_top1", "chess_legal"] {
        let share = last["test"][key].as_f64().expect(key);
        assert!((0.0..=1.0).contains(&share), "{key} {share}");
    }
    let mut cmd = trm();
    cmd.args([
        "chess",
        "--positions",
        "5",
        "--games",
        "1",
        "--depth",
        "4",
        "--max-plies",
        "40",
    ]);
    let mates = shared_data("chess/pychess-puzzles/mate_in_2.pgn");
    if let Some(m) = &mates {
        cmd.arg("--mates").arg(m);
    }
    let out = ok(&cmd.arg("--checkpoint").arg(&run).output().unwrap());
    let json: serde_json::Value = serde_json::from_str(&out[out.find('{').expect(&out)..]).unwrap();
    assert_eq!(json["positions"], 5);
    assert_eq!(json["games"], 1);
    let legal = json["legal_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&legal));
    let random = json["random_top1"].as_f64().unwrap();
    assert!(random > 0.0 && random <= 1.0, "{random}");
    assert_eq!(json["puzzles"].as_u64().unwrap() > 0, mates.is_some());
    assert!(json["mean_cp_loss"].as_f64().unwrap() >= 0.0);

    // A missing engine: one line naming the problem, no panic.
    let out = trm()
        .args([
            "chess",
            "--engine",
            "/nonexistent/stockfish",
            "--games",
            "0",
            "--checkpoint",
        ])
        .arg(&run)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not found") && !err.contains("panicked"),
        "{err}"
    );
}
