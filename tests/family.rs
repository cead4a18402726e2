//! A puzzle family written outside the crate plugs into the one training loop: a tiny sorting
//! puzzle with its own draw and its own test score trains, checkpoints and learns.

use burn::backend::{Autodiff, Flex};
use trm::config::Config;
use trm::data::puzzle::{Example, PuzzleData, PuzzleFamily, TestScorer};
use trm::rng::Rng;
use trm::train::parallel::Cluster;
use trm::train::puzzle::PuzzleTask;
use trm::train::trainer::{run_with, TrainOptions};

mod common;
use common::{metrics, temp};

type Ad = Autodiff<Flex>;

/// Cells per puzzle, and values 0..VALUES (token = value + 1; 0 is PAD).
const CELLS: usize = 6;
const VALUES: u8 = 4;

/// Sort the cells in increasing order.
struct Sorting;

fn sorting_example(rng: &mut Rng) -> Example {
    let cells: Vec<u8> = (0..CELLS).map(|_| rng.below(VALUES as u64) as u8).collect();
    let mut sorted = cells.clone();
    sorted.sort_unstable();
    Example {
        inputs: cells.iter().map(|v| v + 1).collect(),
        labels: sorted.iter().map(|v| v + 1).collect(),
        puzzle_id: 0,
    }
}

impl PuzzleFamily for Sorting {
    fn draw(&self, rng: &mut Rng) -> Example {
        sorting_example(rng)
    }

    fn scorer(&self) -> Option<Box<dyn TestScorer + '_>> {
        Some(Box::new(Ordered::default()))
    }
}

/// The family's own score: the share of test outputs whose argmax is non-decreasing.
#[derive(Default)]
struct Ordered {
    ordered: usize,
    seen: usize,
}

impl TestScorer for Ordered {
    fn add(&mut self, _first: usize, _batch: &[Example], logits: &[f32], q: &[f64]) {
        let vocab = VALUES as usize + 1;
        for cells in logits.chunks(CELLS * vocab) {
            let tokens: Vec<usize> = cells
                .chunks(vocab)
                .map(|v| (0..vocab).fold(0, |b, i| if v[i] > v[b] { i } else { b }))
                .collect();
            self.ordered += usize::from(tokens.windows(2).all(|w| w[0] <= w[1]));
        }
        self.seen += q.len();
    }

    fn finish(self: Box<Self>) -> anyhow::Result<Vec<(String, f64)>> {
        Ok(vec![(
            "ordered".into(),
            self.ordered as f64 / self.seen.max(1) as f64,
        )])
    }
}

fn sorting_data(test: usize) -> PuzzleData {
    let mut rng = Rng::new(99);
    PuzzleData {
        name: "sorting",
        val: (0..64).map(|_| sorting_example(&mut rng)).collect(),
        test: (0..test).map(|_| sorting_example(&mut rng)).collect(),
        dropped: 0,
        vocab_size: VALUES as usize + 1,
        seq_len: CELLS,
        num_puzzle_ids: 1,
        train_count: (VALUES as usize).pow(CELLS as u32),
        augmented: false,
        family: Box::new(Sorting),
    }
}

/// Token accuracy of the best input-blind answer: the most common label at each position.
fn positional_baseline(test: &[Example]) -> f64 {
    let mut right = 0;
    for pos in 0..CELLS {
        let mut counts = [0usize; 256];
        for e in test {
            counts[e.labels[pos] as usize] += 1;
        }
        right += counts.iter().max().unwrap();
    }
    right as f64 / (CELLS * test.len()) as f64
}

#[test]
fn an_unregistered_family_trains_through_the_one_loop_and_learns() {
    let dir = temp("family");
    let run_dir = dir.path().join("run");
    let config = Config::from_toml_str(
        "",
        &[
            "puzzle.task=sorting",
            "puzzle.puzzle_emb_len=1",
            "model.d_model=64",
            "model.n_heads=4",
            "model.n=1",
            "model.t=1",
            "model.n_sup=2",
            "train.steps=400",
            "train.batch_size=32",
            "train.optimizer=adam_atan2",
            "train.lr=3e-3",
            "train.warmup=20",
            "train.eval_every=200",
            "train.checkpoint_every=200",
            "train.log_every=50",
        ]
        .map(String::from),
        "test",
    )
    .unwrap();
    let data = sorting_data(256);
    let baseline = positional_baseline(&data.test);
    let device = Default::default();
    let opts = TrainOptions {
        config,
        run_dir: run_dir.clone(),
        resume: false,
        verbose: false,
    };
    let summary = run_with::<Ad, PuzzleTask<Ad>>(
        opts,
        |c, _, _| Ok(PuzzleTask::new(c.clone(), data, &device)),
        &Cluster::single(device),
    )
    .unwrap();
    assert_eq!(summary.steps, 400);

    let lines = metrics(&run_dir);
    assert_eq!(lines.len(), 400, "one metrics line per update");
    let last = lines.last().unwrap();
    for key in ["step", "loss", "tokens", "train_seconds"] {
        assert!(last.get(key).is_some(), "metrics.jsonl lacks {key}: {last}");
    }
    assert_eq!(last["tokens"], 400 * 32 * CELLS as u64);
    let test = &last["test"];
    let token = test["per_step"][1]["token_accuracy"].as_f64().unwrap();
    let ordered = test["ordered"].as_f64().unwrap();
    assert!(
        token > baseline + 0.1,
        "token accuracy {token} does not beat the positional baseline {baseline}"
    );
    assert!((0.0..=1.0).contains(&ordered));
    assert!(ordered > 0.5, "only {ordered} of the outputs are sorted");
    // The best checkpoint follows the validation puzzles' exact accuracy, never the test set.
    assert_eq!(summary.best_score, Some(max_val_exact(&lines)));
    assert!(run_dir.join("checkpoints/latest").exists());
    assert!(run_dir.join("checkpoints/best").exists());
}

fn max_val_exact(lines: &[serde_json::Value]) -> f64 {
    lines
        .iter()
        .filter_map(|l| l["val"]["per_step"].as_array()?.last()?["exact_accuracy"].as_f64())
        .fold(f64::MIN, f64::max)
}
