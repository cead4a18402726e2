//! Data-parallel training through the binary: two peers in one process (`--device cpu,cpu`) and
//! two processes (`--nodes 2`) give the loss curve of one peer on the same global batch; bad
//! layouts are one-line errors. (The puzzle carry split over peers: tests/puzzles.rs.)

use std::net::TcpListener;
use std::path::Path;

mod common;
use common::{assert_clean_error, losses, ok, run, sets, stderr, temp, tiny_args, trm};

/// 50 steps of the tiny model, batch 4 (two rows per peer), with extra arguments.
fn tiny_run(dir: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = trm();
    cmd.args(tiny_args(dir, 50))
        .args(sets(&["train.eval_every=25", "train.checkpoint_every=25"]))
        .args(extra)
        .env("RAYON_NUM_THREADS", "1");
    cmd
}

fn assert_same_curve(a: &[(u64, f64)], b: &[(u64, f64)], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: different number of logged steps");
    assert!(a.len() >= 25, "{what}: only {} logged steps", a.len());
    for ((sa, la), (sb, lb)) in a.iter().zip(b) {
        assert_eq!(sa, sb);
        assert!(
            (la - lb).abs() < 1e-4 * la.abs().max(1.0),
            "{what}: step {sa}: loss {la} vs {lb}"
        );
    }
}

#[test]
fn two_cpu_peers_give_the_single_peer_loss_curve() {
    let dir = temp("parallel-peers");
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    ok(&run(&mut tiny_run(&one, &[])));
    let out = run(&mut tiny_run(&two, &["--device", "cpu,cpu"]));
    ok(&out);
    assert_same_curve(&losses(&one), &losses(&two), "cpu,cpu");
    // tokens count the whole global batch, not one peer's rows
    let last = |run: &Path| {
        common::metrics(run).last().unwrap()["tokens"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(last(&one), last(&two));
    assert_eq!(last(&one), 50 * 4 * 32);
}

/// A data-parallel run stopped at its step-25 checkpoint and resumed with two peers continues
/// exactly as the uninterrupted one: every peer restarts from the loaded weights and moments.
#[test]
fn a_resumed_two_peer_run_matches_the_uninterrupted_one() {
    let dir = temp("parallel-resume");
    let straight = dir.path().join("straight");
    let resumed = dir.path().join("resumed");
    // a constant schedule, so that stopping at 25 of 25 steps and going on to 50 is the same run
    let constant = ["--set", "train.schedule=constant", "--device", "cpu,cpu"];
    ok(&run(&mut tiny_run(&straight, &constant)));
    let first_half = [&constant[..], &["--set", "train.steps=25"]].concat();
    ok(&run(&mut tiny_run(&resumed, &first_half)));
    ok(&run(trm()
        .args([
            "train",
            "--quiet",
            "--device",
            "cpu,cpu",
            "--set",
            "train.steps=50",
            "--resume",
        ])
        .arg(&resumed)
        .env("RAYON_NUM_THREADS", "1")));
    let (a, b) = (losses(&straight), losses(&resumed));
    assert_eq!(a.len(), b.len());
    for ((sa, la), (sb, lb)) in a.iter().zip(&b) {
        assert_eq!(sa, sb);
        assert!(
            (la - lb).abs() < 1e-6 * la.abs().max(1.0),
            "step {sa}: {la} vs {lb}"
        );
    }
}

#[test]
fn two_processes_give_the_single_process_loss_curve() {
    let dir = temp("parallel-nodes");
    let one = dir.path().join("one");
    ok(&run(&mut tiny_run(&one, &[])));
    // a free port for node 0
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let coordinator = format!("127.0.0.1:{port}");
    let nodes: Vec<_> = (0..2)
        .map(|rank| {
            let run_dir = dir.path().join(format!("node{rank}"));
            let rank = rank.to_string();
            tiny_run(
                &run_dir,
                &[
                    "--nodes",
                    "2",
                    "--node-rank",
                    &rank,
                    "--coordinator",
                    &coordinator,
                ],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for node in nodes {
        let out = node.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let node0 = losses(&dir.path().join("node0"));
    assert_same_curve(&losses(&one), &node0, "--nodes 2");
    // both nodes took the same updates
    assert_eq!(node0, losses(&dir.path().join("node1")));
}

#[test]
fn bad_parallel_layouts_are_one_line_errors() {
    let dir = temp("parallel-bad");
    let r = dir.path().join("r");
    for (extra, needles) in [
        (vec!["--device", "cpu,cuda"], vec!["cpu,cuda", "one kind"]),
        (
            vec!["--nodes", "2", "--node-rank", "2"],
            vec!["--node-rank 2"],
        ),
        (vec!["--nodes", "2"], vec!["--coordinator"]),
        (
            vec!["--device", "cpu,cpu,cpu,cpu,cpu"],
            vec!["train.batch_size (4)", "peers (5)"],
        ),
    ] {
        let out = run(&mut tiny_run(&r, &extra));
        if extra[1].contains(',') && extra[1].contains("cuda") {
            // a value clap refuses: its own usage error (first line "error: ..."), exit 2
            let err = stderr(&out);
            assert!(
                !out.status.success() && err.starts_with("error: ") && !err.contains("panicked")
            );
            assert!(
                needles
                    .iter()
                    .all(|n| err.lines().next().unwrap().contains(n)),
                "{err}"
            );
        } else {
            assert_clean_error(&out, &needles);
        }
        assert!(!r.exists(), "{extra:?} left a run folder behind");
    }
}
