//! `trm data sudoku | maze | arc`: write puzzle sets in the official formats (CSV
//! `source,question,answer,rating`; ARC: a built folder of augmented tasks).

use crate::data::puzzle::csv::{write_csv, PuzzleRow};
use crate::data::puzzle::{arc, maze, sudoku};
use crate::rng::Rng;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SudokuArgs {
    /// Puzzles to generate.
    #[arg(long)]
    pub count: usize,
    /// Output CSV in the official format: source,question,answer,rating (81 cells a grid, `.`
    /// for a blank; rating: the solver's guesses).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Seed of the generator: the same seed and options give the same puzzles.
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
    /// Mazes to generate.
    #[arg(long)]
    pub count: usize,
    /// Output CSV in the official format: source,question,answer,rating (cells `#` wall, ` `
    /// open, `S` start, `G` goal; the answer marks the path with `o`).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Seed of the generator: the same seed and options give the same mazes.
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
    /// Folder to write the built set into (dataset.json; created if needed), for
    /// `puzzle.train` in an ARC config.
    #[arg(long, value_name = "DIR")]
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
    /// Seed of the augmentations (each task draws from this seed and its id).
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
            let (p, s, rating) = sudoku::generate(&mut rng, a.min_rating, a.max_blanks)?;
            Ok(PuzzleRow {
                source: "trm-generated".into(),
                question: sudoku::format(&p),
                answer: sudoku::format(&s),
                rating: rating as f64,
            })
        })
        .collect::<Result<_>>()?;
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
    maze::check_size(a.side, a.min_path).context("--side / --min-path")?;
    let mut rng = Rng::new(a.seed);
    let rows: Vec<PuzzleRow> = (0..a.count)
        .map(|_| {
            let (q, ans) = maze::generate(&mut rng, a.side, a.min_path)?;
            Ok(PuzzleRow {
                source: "trm-generated".into(),
                question: String::from_utf8_lossy(&q).into_owned(),
                answer: String::from_utf8_lossy(&ans).into_owned(),
                rating: 0.0,
            })
        })
        .collect::<Result<_>>()?;
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

#[derive(Args, Debug)]
pub struct ChessArgs {
    /// Output CSV `fen,best_move` (standard UCI moves).
    #[arg(long)]
    pub out: PathBuf,
    /// Self-play games to draw positions from.
    #[arg(long, default_value_t = 100)]
    pub games: usize,
    /// Plies played per game after the opening (each position reached is recorded once).
    #[arg(long, default_value_t = 40)]
    pub plies: usize,
    /// Search depth of the labels (Stockfish's best move).
    #[arg(long, default_value_t = 8)]
    pub depth: u32,
    /// Search depth of the self-play moves (30% of them are random instead).
    #[arg(long, default_value_t = 2)]
    pub play_depth: u32,
    /// Seed of the random self-play moves and of the opening choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The UCI engine binary (Stockfish) that plays the games and labels the positions.
    #[arg(long, default_value = crate::data::puzzle::chess::uci::DEFAULT_ENGINE_PATH)]
    pub engine: PathBuf,
    /// Folder of lichess chess-openings .tsv files: each game starts from a random opening line.
    #[arg(long)]
    pub openings: Option<PathBuf>,
}

pub fn chess(a: ChessArgs) -> Result<()> {
    use crate::data::puzzle::chess;
    use crate::data::puzzle::chess::uci::{Engine, Limit};
    let openings = match &a.openings {
        Some(dir) => chess::opening_lines(dir)?,
        None => Vec::new(),
    };
    let mut engine = Engine::start(&a.engine, &[])?;
    let mut rng = Rng::new(a.seed);
    let fens = chess::self_play_positions(
        &mut engine,
        &openings,
        &mut rng,
        a.games,
        a.plies,
        Limit::Depth(a.play_depth),
    )?;
    let rows = chess::label_positions(&mut engine, &fens, Limit::Depth(a.depth))?;
    chess::write_labelled(&a.out, &rows)?;
    println!(
        "wrote {}: {} positions from {} self-play games, labelled by the engine at depth {}",
        a.out.display(),
        rows.len(),
        a.games,
        a.depth
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct HanoiArgs {
    /// Output Parquet with a `text` column: one whole solution per row, e.g.
    /// `hanoi 2 disks 3 pegs: 01 02 12.` (for a causal language model).
    #[arg(long)]
    pub out: PathBuf,
    /// Pegs (3 or 4).
    #[arg(long, default_value_t = 3)]
    pub pegs: usize,
    /// Fewest disks of a solution (at least 1).
    #[arg(long, default_value_t = 1)]
    pub min_disks: usize,
    /// Most disks of a solution (up to 20 on 3 pegs, 12 on 4).
    #[arg(long, default_value_t = 6)]
    pub max_disks: usize,
    /// Rows per number of disks (the order is shuffled).
    #[arg(long, default_value_t = 100)]
    pub copies: usize,
    /// Seed of the row shuffle.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn hanoi(a: HanoiArgs) -> Result<()> {
    use crate::data::puzzle::hanoi::{solution_text, Hanoi};
    if a.min_disks == 0 || a.min_disks > a.max_disks || a.copies == 0 {
        bail!("need 1 <= --min-disks <= --max-disks and --copies >= 1");
    }
    let mut rows = Vec::new();
    for n in a.min_disks..=a.max_disks {
        let text = solution_text(&Hanoi::new(n, a.pegs)?);
        rows.extend(std::iter::repeat_n(text.trim_end().to_string(), a.copies));
    }
    let mut rng = Rng::new(a.seed);
    rng.shuffle(&mut rows);
    let tmp = a
        .out
        .with_extension(format!("lines-{}.txt", std::process::id()));
    std::fs::write(&tmp, rows.join("\n") + "\n")?;
    let stats = crate::data::convert_to_parquet(
        std::slice::from_ref(&tmp),
        &a.out,
        crate::data::DocSplit::Line,
        "text",
    );
    let _ = std::fs::remove_file(&tmp);
    let stats = stats?;
    println!(
        "wrote {}: {} solutions of {}-{} disks on {} pegs",
        a.out.display(),
        stats.rows,
        a.min_disks,
        a.max_disks,
        a.pegs
    );
    Ok(())
}
