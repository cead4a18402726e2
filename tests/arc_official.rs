//! ARC against the official code's algorithms: the training sampler, the voting and pass@k.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::temp;
use serde_json::{json, Value};
use trm::config::PuzzleConfig;
use trm::data::puzzle::arc::{
    augment, build, challenges_path, encode_grid, pass_at_k, solutions_path, vote, ArcDataset,
    BuildOptions, Grid, Prediction, EOS, SEQ_LEN, VOCAB,
};
use trm::data::puzzle::{PuzzleData, PAD};
use trm::rng::Rng;

/// A grid from string rows of digits.
fn grid(rows: &[&str]) -> Grid {
    rows.iter()
        .map(|r| r.bytes().map(|b| b - b'0').collect())
        .collect()
}

/// One task in the Kaggle layout: demonstrations, test inputs, and the solutions of those.
struct TaskSpec<'a> {
    id: &'a str,
    demos: Vec<(Grid, Grid)>,
    tests: Vec<(Grid, Grid)>,
}

/// Builds the test subset `subset` of `tasks` (trained on their demonstrations) with
/// `augmentations` random augmentations each, and saves it under `dir/built`.
fn build_set(dir: &Path, subset: &str, tasks: &[TaskSpec], augmentations: usize) -> ArcDataset {
    let (mut challenges, mut solutions) = (json!({}), json!({}));
    for t in tasks {
        let pair = |i: &Grid, o: &Grid| json!({"input": i, "output": o});
        let train: Vec<Value> = t.demos.iter().map(|(i, o)| pair(i, o)).collect();
        let test: Vec<Value> = t.tests.iter().map(|(i, _)| json!({ "input": i })).collect();
        challenges[t.id] = json!({"train": train, "test": test});
        solutions[t.id] = json!(t.tests.iter().map(|(_, o)| o).collect::<Vec<_>>());
    }
    std::fs::write(challenges_path(dir, subset), challenges.to_string()).unwrap();
    std::fs::write(solutions_path(dir, subset), solutions.to_string()).unwrap();
    let opts = BuildOptions {
        train_subsets: vec![],
        test_subset: subset.into(),
        augmentations,
        seed: 3,
        max_tasks: None,
    };
    let set = build(dir, &opts).unwrap();
    set.save(&dir.join("built")).unwrap();
    set
}

/// The ARC data of the folder `build_set` saved, its test set cut to `test_limit` (0: all).
fn load(dir: &Path, test_limit: usize) -> PuzzleData {
    let cfg = PuzzleConfig {
        task: "arc".into(),
        train: dir.join("built").display().to_string(),
        test_limit,
        ..PuzzleConfig::default()
    };
    PuzzleData::load(&cfg).unwrap()
}

/// Colour cells (tokens 2..=11) of a canvas: a pair's input area, kept by every augmentation.
fn area(tokens: &[u8]) -> usize {
    tokens.iter().filter(|&&t| (2..12).contains(&t)).count()
}

/// The official training sampler (`puzzle_dataset.py`: `_iter_train`, `_sample_batch`) written
/// out for tasks of (augmentations, pairs) `shape`: `epochs` shuffles of the task order in a row;
/// a batch takes tasks in that order, for each one augmentation at random and its pairs in
/// random order, the last task cut to fill `batch`; the last, short batch is dropped. Returns
/// the (task, augmentation, pair) of every example trained on.
fn official_sampler(shape: &[(usize, usize)], epochs: usize, batch: usize) -> Vec<[usize; 3]> {
    let mut rng = Rng::new(11);
    let mut order = Vec::new();
    for _ in 0..epochs {
        let mut epoch: Vec<usize> = (0..shape.len()).collect();
        rng.shuffle(&mut epoch);
        order.extend(epoch);
    }
    let (mut drawn, mut next) = (Vec::new(), 0);
    while next < order.len() {
        let mut current: Vec<[usize; 3]> = Vec::new();
        while next < order.len() && current.len() < batch {
            let t = order[next];
            next += 1;
            let (augs, pairs) = shape[t];
            let a = rng.below(augs as u64) as usize;
            let mut chosen: Vec<usize> = (0..pairs).collect();
            rng.shuffle(&mut chosen);
            chosen.truncate(pairs.min(batch - current.len()));
            current.extend(chosen.into_iter().map(|p| [t, a, p]));
        }
        if current.len() < batch {
            break;
        }
        drawn.extend(current);
    }
    drawn
}

/// Whether `observed` is within five standard deviations of a binomial count expected at
/// `expected` (plus one, for tiny counts).
fn close(observed: usize, expected: f64) -> bool {
    (observed as f64 - expected).abs() <= 5.0 * expected.sqrt() + 1.0
}

#[test]
fn training_draws_follow_the_official_task_first_sampler() {
    let dir = temp("arc-sampling");
    let square = |side: usize, c: char| -> Grid {
        let row = c.to_string().repeat(side);
        grid(&vec![row.as_str(); side])
    };
    // All-black squares look the same under every augmentation: 1 puzzle. Squares of colour 1:
    // only the colour shows (up to 9 puzzles). Several colours, not square: 1 + 30 puzzles.
    // Within a task the inputs' areas differ, so a drawn input tells its pair.
    let tasks = [
        TaskSpec {
            id: "black",
            demos: (1..=2).map(|s| (square(s, '0'), square(s, '0'))).collect(),
            tests: vec![(square(1, '0'), square(1, '0'))],
        },
        TaskSpec {
            id: "few",
            demos: (1..=3).map(|s| (square(s, '1'), square(s, '1'))).collect(),
            tests: vec![(square(1, '1'), square(1, '1'))],
        },
        TaskSpec {
            id: "many",
            demos: vec![
                (grid(&["1"]), grid(&["2"])),
                (grid(&["12"]), grid(&["21"])),
                (grid(&["123"]), grid(&["321"])),
                (grid(&["123", "456"]), grid(&["654", "321"])),
            ],
            tests: vec![(grid(&["12"]), grid(&["21"]))],
        },
    ];
    let set = build_set(&dir, "sampling", &tasks, 30);
    // (augmentations, pairs) of each task; the puzzle id and input area of each (t, a, p).
    let shape: Vec<(usize, usize)> = (set.tasks().iter())
        .map(|t| (t.augmentations.len(), t.train_pair_count()))
        .collect();
    assert_eq!(shape[0], (1, 2));
    assert!(
        (2..=9).contains(&shape[1].0) && shape[1].1 == 3,
        "{shape:?}"
    );
    assert_eq!(shape[2], (31, 4));
    let mut cell_of: HashMap<(u32, usize), [usize; 3]> = HashMap::new();
    for (t, task) in set.tasks().iter().enumerate() {
        for a in 0..task.augmentations.len() {
            for (p, (input, _)) in task.train_pairs().enumerate() {
                let key = (set.puzzle_id(t, a), area(&encode_grid(input, 0, 0)));
                cell_of.insert(key, [t, a, p]);
            }
        }
    }

    let data = load(&dir, 0);
    let mut rng = Rng::new(7);
    let draws = 300_000;
    let mut ours: HashMap<[usize; 3], usize> = HashMap::new();
    for _ in 0..draws {
        let ex = data.draw(&mut rng);
        *ours
            .entry(cell_of[&(ex.puzzle_id, area(&ex.inputs))])
            .or_default() += 1;
    }
    let epochs = draws / 9;
    let mut official: HashMap<[usize; 3], usize> = HashMap::new();
    for cell in official_sampler(&shape, epochs, 768) {
        *official.entry(cell).or_default() += 1;
    }
    let official_total: usize = official.values().sum();

    // Official hierarchy: a task's share is its pairs / all pairs (9), whatever its number of
    // augmentations, then 1 / augmentations, then 1 / pairs. A uniform draw over augmented
    // examples would give "black" 2 / (2 + 3 * A_few + 124) of the draws instead of 2 / 9.
    let pairs_total: usize = shape.iter().map(|s| s.1).sum();
    for (t, &(augs, pairs)) in shape.iter().enumerate() {
        let share = pairs as f64 / pairs_total as f64;
        let count = |m: &HashMap<[usize; 3], usize>| -> usize {
            m.iter().filter(|(c, _)| c[0] == t).map(|(_, n)| n).sum()
        };
        let (mine, theirs) = (count(&ours), count(&official));
        assert!(close(mine, draws as f64 * share), "task {t}: {mine} draws");
        assert!(
            close(theirs, official_total as f64 * share),
            "official task {t}: {theirs}"
        );
        for a in 0..augs {
            for p in 0..pairs {
                let expected = draws as f64 * share / (augs * pairs) as f64;
                let n = ours.get(&[t, a, p]).copied().unwrap_or(0);
                assert!(
                    close(n, expected),
                    "({t}, {a}, {p}): {n}, expected {expected}"
                );
                let m = official.get(&[t, a, p]).copied().unwrap_or(0);
                let expected = official_total as f64 * share / (augs * pairs) as f64;
                assert!(close(m, expected), "official ({t}, {a}, {p}): {m}");
            }
        }
    }
}

/// A prediction of `answer` (an un-augmented grid) made under augmentation `aug` of `task`.
fn predict(set: &ArcDataset, task: &str, aug: usize, answer: &Grid, q: f64) -> Prediction {
    let a = &set.task(task).unwrap().augmentations[aug];
    Prediction {
        task: task.into(),
        test_index: 0,
        augmentation: aug,
        tokens: encode_grid(&augment(answer, a.dihedral, &a.colours), 0, 0),
        q,
    }
}

#[test]
fn voting_ranks_as_the_official_evaluator_with_undecodable_and_tied_predictions() {
    let dir = temp("arc-voting");
    let a = grid(&["12", "34"]);
    let b = grid(&["12", "43"]);
    let c = grid(&["21", "34"]);
    let d = grid(&["1"]);
    let s = grid(&["55", "66"]);
    let one = |id, input: &Grid, output: &Grid| TaskSpec {
        id,
        demos: vec![(grid(&["123", "456"]), grid(&["654", "321"]))],
        tests: vec![(input.clone(), output.clone())],
    };
    let tasks = [
        one("v", &grid(&["78"]), &a),
        one("w", &grid(&["87"]), &s),
        one("x", &grid(&["88"]), &s),
    ];
    let set = build_set(&dir, "voting", &tasks, 7);
    assert_eq!(set.task("v").unwrap().augmentations.len(), 8);
    let pads = |p: Prediction| Prediction {
        tokens: vec![PAD; SEQ_LEN],
        ..p
    };
    let eos_corner = |mut p: Prediction| {
        p.tokens[0] = EOS;
        p
    };
    let predictions = vec![
        predict(&set, "v", 1, &a, 0.5),
        pads(predict(&set, "v", 2, &a, 0.875)),
        predict(&set, "v", 3, &b, 0.75),
        eos_corner(predict(&set, "v", 4, &a, 0.625)),
        predict(&set, "v", 5, &d, 0.875),
        predict(&set, "v", 6, &c, 0.75),
        predict(&set, "v", 7, &a, 0.25),
        predict(&set, "w", 1, &s, 0.25),
        pads(predict(&set, "w", 2, &s, 0.25)),
    ];
    let votes = vote(&set, &predictions).unwrap();
    let ranked = |i: usize| -> Vec<(Grid, usize, f64)> {
        (votes[i].candidates.iter())
            .map(|c| (c.grid.clone(), c.votes, c.mean_q))
            .collect()
    };
    // By hand, as evaluators/arc.py: both undecodable predictions of v crop to the empty grid
    // (`_crop` finds no colour cell at the top-left) and, de-augmented, hash alike. p_map in the
    // order first seen, [count, mean q]: A [2, (0.5 + 0.25) / 2], empty [2, (0.875 + 0.625) / 2],
    // B [1, 0.75], D [1, 0.875], C [1, 0.75]. Sorted by [count, mean q], descending and stable:
    // empty, A (equal count, lower q), D, B, C (B and C tie on both: B was seen first).
    let empty: Grid = vec![];
    assert_eq!(votes.len(), 2, "x has no predictions");
    assert_eq!((votes[0].task.as_str(), votes[0].test_index), ("v", 0));
    assert_eq!(
        ranked(0),
        [
            (empty.clone(), 2, 0.75),
            (a.clone(), 2, 0.375),
            (d, 1, 0.875),
            (b, 1, 0.75),
            (c, 1, 0.75)
        ]
    );
    // w: S and the empty grid tie on [1, 0.25]: S was seen first.
    assert_eq!(ranked(1), [(s, 1, 0.25), (empty, 1, 0.25)]);
    // pass@k over the evaluated tasks v and w (x had no predictions): v's solution A is second
    // (dropping the undecodable predictions would have put it first), w's is first.
    assert_eq!(pass_at_k(&votes, &set, 1), (0.0 + 1.0) / 2.0);
    assert_eq!(pass_at_k(&votes, &set, 2), (1.0 + 1.0) / 2.0);
}

#[test]
fn pass_at_k_is_over_the_tasks_a_test_limit_evaluates() {
    let dir = temp("arc-limit");
    let demo = (grid(&["123", "456"]), grid(&["654", "321"]));
    let task = |id, tests: &[(&str, &str)]| TaskSpec {
        id,
        demos: vec![demo.clone()],
        tests: (tests.iter())
            .map(|(i, o)| (grid(&[i]), grid(&[o])))
            .collect(),
    };
    let tasks = [
        task("a", &[("12", "21")]),
        task("b", &[("34", "43"), ("56", "65")]),
        task("c", &[("78", "87")]),
    ];
    let set = build_set(&dir, "limit", &tasks, 2);
    assert!(set.tasks().iter().all(|t| t.augmentations.len() == 3));
    // Test items: task, then augmentation, then test input: a (3 items), b (6), c (3).
    assert_eq!(set.test_len(), 12);
    // The model is right on a's test and b's second test, wrong elsewhere (it copies the input).
    // Scored over the tasks evaluated, and within them the test inputs evaluated:
    //   limit 4: a, then b's first test only: (1 + 0) / 2;
    //   limit 5: a, b's two tests: (1 + 1/2) / 2;
    //   all: (1 + 1/2 + 0) / 3 (c's test is wrong).
    for (limit, expected) in [(4, 0.5), (5, 0.75), (0, 0.5)] {
        let data = load(&dir, limit);
        let mut logits = Vec::new();
        for (i, ex) in data.test.iter().enumerate() {
            let item = set.test_item(i);
            let right = matches!((item.task.as_str(), item.test_index), ("a", 0) | ("b", 1));
            let tokens = if right { &ex.labels } else { &ex.inputs };
            for &token in tokens {
                logits.extend((0..VOCAB).map(|v| if v == token as usize { 1.0 } else { 0.0 }));
            }
        }
        let mut scorer = data.family.scorer().unwrap();
        scorer.add(0, &data.test, &logits, &vec![0.0; data.test.len()]);
        let scores: HashMap<String, f64> = scorer.finish().unwrap().into_iter().collect();
        assert_eq!(scores["pass_at_1"], expected, "test_limit {limit}");
        assert_eq!(scores["pass_at_2"], expected, "test_limit {limit}");
    }
}
