//! Honest puzzle numbers: the generated presets' test and validation puzzles can never be shown by
//! a training draw (disjoint up to the augmentations), and the invariants that guarantee it really
//! are invariant under every augmentation a draw applies.

use std::collections::HashSet;
use std::path::Path;
use trm::config::Config;
use trm::data::puzzle::{dihedral, maze, sudoku, PuzzleData};
use trm::rng::Rng;

fn preset(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name);
    Config::load(&path, &[]).unwrap()
}

#[test]
fn sudoku_signature_is_invariant_under_every_shuffle() {
    let mut rng = Rng::new(5);
    for _ in 0..20 {
        let (p, s, _) = sudoku::generate(&mut rng, 0, Some(45)).unwrap();
        let sig = sudoku::signature(&p);
        for _ in 0..50 {
            let (q, _) = sudoku::shuffle(&p, &s, &mut rng);
            assert_eq!(
                sudoku::signature(&q),
                sig,
                "a shuffle changed the signature"
            );
        }
    }
}

#[test]
fn maze_canonical_form_is_the_same_for_all_eight_symmetries() {
    let mut rng = Rng::new(6);
    for _ in 0..20 {
        let (q, _) = maze::generate(&mut rng, 9, 12).unwrap();
        let canon = maze::canonical(&q, 9);
        for k in 0..8 {
            assert_eq!(maze::canonical(&dihedral(&q, 9, k), 9), canon);
        }
        assert!(
            (0..8).any(|k| dihedral(&q, 9, k) == canon),
            "the form is one of the maze's own"
        );
    }
}

/// The training puzzles of a generated preset: the first `generate_train` of stream 0.
fn sudoku_training(cfg: &Config) -> Vec<[u8; 81]> {
    let mut rng = cfg.puzzle.generation_rng(0);
    let blanks = Some(cfg.puzzle.max_blanks).filter(|&b| b > 0);
    (0..cfg.puzzle.generate_train)
        .map(|_| {
            sudoku::generate(&mut rng, cfg.puzzle.min_rating, blanks)
                .unwrap()
                .0
        })
        .collect()
}

#[test]
fn no_sudoku_cpu_test_or_validation_puzzle_can_be_drawn_in_training() {
    let cfg = preset("sudoku-cpu.toml");
    let data = PuzzleData::load(&cfg.puzzle).unwrap();
    assert_eq!(data.test.len(), cfg.puzzle.generate_test);
    assert_eq!(data.val.len(), cfg.puzzle.val_count);
    assert!(!data.val.is_empty());
    let training: HashSet<Vec<u8>> = sudoku_training(&cfg)
        .iter()
        .map(sudoku::signature)
        .collect();
    let grid = |tokens: &[u8]| sudoku::from_tokens(tokens).unwrap();
    let mut seen = training.clone();
    for (split, examples) in [("test", &data.test), ("validation", &data.val)] {
        for e in examples {
            let sig = sudoku::signature(&grid(&e.inputs));
            assert!(
                !training.contains(&sig),
                "a {split} puzzle matches a training puzzle"
            );
            assert!(
                seen.insert(sig),
                "a {split} puzzle repeats another held-out puzzle"
            );
        }
    }
    // and by the draws themselves: 20k augmented training draws, none a held-out puzzle
    let held: HashSet<Vec<u8>> = data
        .test
        .iter()
        .chain(&data.val)
        .map(|e| e.inputs.clone())
        .collect();
    let mut rng = Rng::new(7);
    for _ in 0..20_000 {
        assert!(!held.contains(&data.draw(&mut rng).inputs));
    }
}

#[test]
fn no_maze_cpu_test_or_validation_maze_can_be_drawn_in_training() {
    let cfg = preset("maze-cpu.toml");
    let data = PuzzleData::load(&cfg.puzzle).unwrap();
    let side = cfg.puzzle.maze_side;
    assert_eq!(data.test.len(), cfg.puzzle.generate_test);
    assert_eq!(data.val.len(), cfg.puzzle.val_count);
    let mut rng = cfg.puzzle.generation_rng(0);
    let training: HashSet<Vec<u8>> = (0..cfg.puzzle.generate_train)
        .map(|_| {
            let (q, a) = maze::generate(&mut rng, side, cfg.puzzle.maze_min_path).unwrap();
            maze::canonical(&maze::to_example(&q, &a).unwrap().inputs, side)
        })
        .collect();
    let mut seen = training.clone();
    for (split, examples) in [("test", &data.test), ("validation", &data.val)] {
        for e in examples {
            let canon = maze::canonical(&e.inputs, side);
            assert!(
                !training.contains(&canon),
                "a {split} maze is a symmetry of a training maze"
            );
            assert!(
                seen.insert(canon),
                "a {split} maze repeats another held-out maze"
            );
        }
    }
    // before this check existed, 57 of the 500 test mazes were symmetries of training mazes;
    // they are redrawn now, and the count is reported
    assert!(data.dropped > 0, "the preset's generator does repeat mazes");
    let held: HashSet<Vec<u8>> = data
        .test
        .iter()
        .chain(&data.val)
        .map(|e| e.inputs.clone())
        .collect();
    let mut rng = Rng::new(8);
    for _ in 0..20_000 {
        assert!(!held.contains(&data.draw(&mut rng).inputs));
    }
}

#[test]
fn a_training_csv_subset_is_random_seeded_and_validation_rows_are_held_out() {
    let dir = std::env::temp_dir().join(format!("trm-splits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng::new(9);
    let mut csv = String::from("source,question,answer,rating\n");
    let mut all = Vec::new();
    for i in 0..60 {
        let (p, s, _) = sudoku::generate(&mut rng, 0, Some(30)).unwrap();
        let show = |g: &[u8; 81]| {
            g.iter()
                .map(|&d| if d == 0 { '.' } else { (b'0' + d) as char })
                .collect::<String>()
        };
        csv += &format!("s{i},{},{},0\n", show(&p), show(&s));
        all.push(p);
    }
    let path = dir.join("train.csv");
    std::fs::write(&path, csv).unwrap();
    let load = |seed: u64| {
        let mut cfg = preset("sudoku-cpu.toml").puzzle;
        cfg.train = path.display().to_string();
        cfg.test = path.display().to_string();
        cfg.train_limit = 20;
        cfg.val_count = 10;
        cfg.generate_seed = seed;
        cfg.augment = false;
        PuzzleData::load(&cfg).unwrap()
    };
    let a = load(1);
    assert_eq!((a.train_count, a.val.len()), (20, 10));
    let index = |tokens: &[u8]| {
        all.iter()
            .position(|p| *p == sudoku::from_tokens(tokens).unwrap())
            .unwrap()
    };
    let val: HashSet<usize> = a.val.iter().map(|e| index(&e.inputs)).collect();
    assert_eq!(val.len(), 10);
    assert!(
        val.iter().any(|&i| i >= 30),
        "validation rows come from the whole file, not its head"
    );
    // training draws (augmentation off: a draw is the row itself) show 20 rows, none of them
    // a validation row
    let mut rng = Rng::new(3);
    let drawn: HashSet<usize> = (0..2000).map(|_| index(&a.draw(&mut rng).inputs)).collect();
    assert_eq!(drawn.len(), 20);
    assert!(drawn.is_disjoint(&val));
    // the same seed gives the same split, another seed another one
    let again: HashSet<usize> = load(1).val.iter().map(|e| index(&e.inputs)).collect();
    let other: HashSet<usize> = load(2).val.iter().map(|e| index(&e.inputs)).collect();
    assert_eq!(val, again);
    assert_ne!(val, other);
    std::fs::remove_dir_all(&dir).ok();
}
