//! `trm data sudoku | maze | arc`: write puzzle sets in the official formats (CSV
//! `source,question,answer,rating`; ARC: a built folder of augmented tasks).

use crate::data::puzzle::csv::{write_csv, PuzzleRow};
use crate::data::puzzle::{arc, maze, sudoku};
use crate::rng::Rng;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SudokuArgs {
    /// Puzzles to generate.
    #[arg(long)]
    pub count: usize,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep only puzzles whose rating (solver guesses) is at least this.
    #[arg(long, default_value_t = 0)]
    pub min_rating: u64,
    /// Stop removing clues at this many blanks (easy sets); default: minimal puzzles.
    #[arg(long)]
    pub max_blanks: Option<usize>,
}

#[derive(Args, Debug)]
pub struct MazeArgs {
    #[arg(long)]
    pub count: usize,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Grid side (Maze-Hard: 30).
    #[arg(long, default_value_t = 30)]
    pub side: usize,
    /// The shortest S-G path must be longer than this (Maze-Hard: 110).
    #[arg(long, default_value_t = 110)]
    pub min_path: usize,
}

#[derive(Args, Debug)]
pub struct ArcArgs {
    /// Folder with arc-agi_{subset}_challenges.json / _solutions.json (Kaggle layout).
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    /// Subsets whose tasks are training data (ARC-AGI-2: training2,evaluation2).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "training,evaluation,concept"
    )]
    pub subsets: Vec<String>,
    /// Subset whose test inputs are the test set (ARC-AGI-2: evaluation2).
    #[arg(long, default_value = "evaluation")]
    pub test_subset: String,
    /// Augmentations per task (dihedral x colour permutation), each its own puzzle id.
    #[arg(long, default_value_t = 1000)]
    pub augmentations: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N tasks of each subset (small CPU sets).
    #[arg(long)]
    pub max_tasks: Option<usize>,
}

pub fn sudoku(a: SudokuArgs) -> Result<()> {
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    let mut rng = Rng::new(a.seed);
    let rows: Vec<PuzzleRow> = (0..a.count)
        .map(|_| {
            let (p, s, rating) = sudoku::generate(&mut rng, a.min_rating, a.max_blanks);
            PuzzleRow {
                source: "trm-generated".into(),
                question: sudoku::format(&p),
                answer: sudoku::format(&s),
                rating: rating as f64,
            }
        })
        .collect();
    write_csv(&a.out, &rows)?;
    let mean = rows.iter().map(|r| r.rating).sum::<f64>() / rows.len() as f64;
    println!(
        "wrote {}: {} sudoku puzzles, each with exactly one solution (mean rating {mean:.1})",
        a.out.display(),
        rows.len()
    );
    Ok(())
}

pub fn maze(a: MazeArgs) -> Result<()> {
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    if a.side < 5 {
        bail!("--side must be at least 5");
    }
    if a.min_path * 3 > a.side * a.side {
        bail!(
            "--min-path {} is too long for {}x{} mazes: keep it below a third of the cells",
            a.min_path,
            a.side,
            a.side
        );
    }
    let mut rng = Rng::new(a.seed);
    let rows: Vec<PuzzleRow> = (0..a.count)
        .map(|_| {
            let (q, ans) = maze::generate(&mut rng, a.side, a.min_path);
            PuzzleRow {
                source: "trm-generated".into(),
                question: String::from_utf8_lossy(&q).into_owned(),
                answer: String::from_utf8_lossy(&ans).into_owned(),
                rating: 0.0,
            }
        })
        .collect();
    write_csv(&a.out, &rows)?;
    println!(
        "wrote {}: {} mazes of {}x{} with shortest path > {}",
        a.out.display(),
        rows.len(),
        a.side,
        a.side,
        a.min_path
    );
    Ok(())
}

pub fn arc(a: ArcArgs) -> Result<()> {
    let opts = arc::BuildOptions {
        train_subsets: a.subsets,
        test_subset: a.test_subset,
        augmentations: a.augmentations,
        seed: a.seed,
        max_tasks: a.max_tasks,
    };
    let set = arc::build(&a.input, &opts)?;
    set.save(&a.out)?;
    println!("wrote {}: {}", a.out.display(), set.summary());
    Ok(())
}
