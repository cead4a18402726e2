//! Maze-Hard style mazes: generation with a unique long shortest path, answer checking, tokens.
//!
//! A maze is a row-major square of characters from "# SGo": '#' wall, ' ' open, 'S' start,
//! 'G' goal; the answer is the question with the cells of the shortest S->G path (S and G
//! excluded) marked 'o'. Tokens: "# SGo" -> 1..=5 (PAD 0, vocabulary 6).

use std::collections::VecDeque;

use anyhow::{bail, Context, Result};

use super::csv::read_csv;
use super::family::{held_out, training_split, PuzzleData, PuzzleFamily};
use super::{dihedral, Example};
use crate::config::PuzzleConfig;
use crate::rng::Rng;
use std::path::Path;

/// The characters of a maze, in token order (token = index + 1).
pub const CHARSET: &[u8; 5] = b"# SGo";
/// Token vocabulary: PAD and the five characters.
pub const VOCAB: usize = 6;

const WALL: u8 = b'#';
const OPEN: u8 = b' ';
const START: u8 = b'S';
const GOAL: u8 = b'G';
const PATH: u8 = b'o';

/// The largest side a maze may have (every cell is one token of the model's sequence).
pub const MAX_SIDE: usize = 256;

/// Mazes tried by `generate` before it gives up on an impossible `min_path`.
const MAX_ATTEMPTS: usize = 10_000;
/// Start cells tried per carved maze before carving a new one.
const STARTS_PER_MAZE: usize = 4;

/// The four neighbours of a cell that lie inside a `side` x `side` grid.
fn neighbours(cell: usize, side: usize) -> impl Iterator<Item = usize> {
    let (r, c) = (cell / side, cell % side);
    let up = (r > 0).then(|| cell - side);
    let down = (r + 1 < side).then_some(cell + side);
    let left = (c > 0).then(|| cell - 1);
    let right = (c + 1 < side).then_some(cell + 1);
    [up, down, left, right].into_iter().flatten()
}

/// The side of a square grid of `len` cells, if it is one.
fn side_of(len: usize) -> Option<usize> {
    let side = (len as f64).sqrt().round() as usize;
    (side * side == len && side > 0).then_some(side)
}

/// Breadth-first search from `start` through non-wall cells: for every cell its distance in
/// steps (None if unreachable) and its number of shortest paths from `start`, capped at 2.
fn bfs(grid: &[u8], side: usize, start: usize) -> (Vec<Option<u32>>, Vec<u8>) {
    let mut dist = vec![None; grid.len()];
    let mut paths = vec![0u8; grid.len()];
    dist[start] = Some(0);
    paths[start] = 1;
    let mut queue = VecDeque::from([start]);
    while let Some(cell) = queue.pop_front() {
        let next = dist[cell].map(|d| d + 1);
        for n in neighbours(cell, side) {
            if grid[n] == WALL {
                continue;
            }
            if dist[n].is_none() {
                dist[n] = next;
                queue.push_back(n);
            }
            if dist[n] == next {
                paths[n] = paths[n].saturating_add(paths[cell]).min(2);
            }
        }
    }
    (dist, paths)
}

/// Carves a maze: rooms on a lattice of every other cell (offset by one at random when the
/// side is even, so both spare lines get used), joined by a randomized depth-first search
/// (long winding corridors), then a few extra walls between rooms knocked down so that
/// several routes exist. The border stays wall.
fn carve(rng: &mut Rng, side: usize) -> Vec<u8> {
    let offset = |rng: &mut Rng| 1 + usize::from(side & 1 == 0 && rng.below(2) == 1);
    let (top, left) = (offset(rng), offset(rng));
    // Rooms sit at top + 2i <= side - 2 (and likewise for columns).
    let (rows, cols) = ((side - 2 - top) / 2 + 1, (side - 2 - left) / 2 + 1);
    let cell_of = |room: usize| (top + 2 * (room / cols)) * side + left + 2 * (room % cols);
    let mut grid = vec![WALL; side * side];
    let mut seen = vec![false; rows * cols];
    let mut stack = vec![rng.below((rows * cols) as u64) as usize];
    seen[stack[0]] = true;
    grid[cell_of(stack[0])] = OPEN;
    while let Some(&room) = stack.last() {
        let (r, c) = (room / cols, room % cols);
        let mut next = [0usize; 4];
        let mut n = 0;
        for (ok, other) in [
            (r > 0, room.wrapping_sub(cols)),
            (r + 1 < rows, room + cols),
            (c > 0, room.wrapping_sub(1)),
            (c + 1 < cols, room + 1),
        ] {
            if ok && !seen[other] {
                next[n] = other;
                n += 1;
            }
        }
        if n == 0 {
            stack.pop();
            continue;
        }
        let other = next[rng.below(n as u64) as usize];
        seen[other] = true;
        let (a, b) = (cell_of(room), cell_of(other));
        grid[(a + b) / 2] = OPEN;
        grid[b] = OPEN;
        stack.push(other);
    }
    // Knock down about one wall per 16 rooms between two rooms (a wall cell with a room on
    // either side horizontally or vertically).
    for _ in 0..rows * cols / 16 {
        let room = rng.below((rows * cols) as u64) as usize;
        let (r, c) = (room / cols, room % cols);
        let vertical = rng.below(2) == 1;
        let other = match vertical {
            true if r + 1 < rows => room + cols,
            false if c + 1 < cols => room + 1,
            _ => continue,
        };
        grid[(cell_of(room) + cell_of(other)) / 2] = OPEN;
    }
    grid
}

/// Places S at `start` and G at a random open cell whose shortest path from S is unique and
/// has more than `min_path` cells; marks that path 'o'. None when no such cell exists.
fn place(
    rng: &mut Rng,
    grid: &[u8],
    side: usize,
    start: usize,
    min_path: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let (dist, paths) = bfs(grid, side, start);
    let goals: Vec<usize> = (0..grid.len())
        .filter(|&g| paths[g] == 1 && dist[g].is_some_and(|d| d > 0 && d as usize + 1 > min_path))
        .collect();
    if goals.is_empty() {
        return None;
    }
    let goal = goals[rng.below(goals.len() as u64) as usize];
    let mut question = grid.to_vec();
    question[start] = START;
    question[goal] = GOAL;
    let mut answer = question.clone();
    // Walk back from G; a cell with one shortest path has exactly one predecessor.
    let mut cell = goal;
    while let Some(d) = dist[cell].filter(|&d| d > 1) {
        let prev = neighbours(cell, side).find(|&n| dist[n] == Some(d - 1) && paths[n] > 0)?;
        answer[prev] = PATH;
        cell = prev;
    }
    Some((question, answer))
}

/// Whether `generate` can make `side` x `side` mazes with a shortest path longer than `min_path`:
/// the side must be at least 5 and the path below a third of the cells.
pub fn check_size(side: usize, min_path: usize) -> Result<()> {
    if side < 5 {
        bail!("maze side {side} is too small: it must be at least 5");
    }
    // the model sees every cell as a token: Maze-Hard is 30 x 30
    if side > MAX_SIDE {
        bail!("maze side {side} is too large: at most {MAX_SIDE} ({MAX_SIDE} x {MAX_SIDE} = {} tokens per maze)", MAX_SIDE * MAX_SIDE);
    }
    if min_path * 3 > side * side {
        bail!(
            "a shortest path longer than {min_path} cells is too long for {side}x{side} mazes: keep it below a third of the cells"
        );
    }
    Ok(())
}

/// A random maze of `side` x `side` cells whose shortest S->G path is unique and has more than
/// `min_path` cells, counting S and G (Maze-Hard: side 30, min_path 110). Returns the question
/// and the answer as characters of "# SGo".
///
/// Mazes whose best route is not unique are rejected (paths are counted by BFS), so the answer
/// is well-defined; `check_answer` nevertheless accepts any shortest path. The border is wall.
///
/// An error if `side < 5`, or if no maze fits after many tries (`min_path` too large for the
/// side: a side-30 maze rarely has a shortest path over ~250 cells).
pub fn generate(rng: &mut Rng, side: usize, min_path: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    if side < 5 {
        bail!("maze side {side} is too small: it must be at least 5");
    }
    for _ in 0..MAX_ATTEMPTS {
        let grid = carve(rng, side);
        let open: Vec<usize> = (0..grid.len()).filter(|&i| grid[i] == OPEN).collect();
        for _ in 0..STARTS_PER_MAZE {
            let start = open[rng.below(open.len() as u64) as usize];
            if let Some(maze) = place(rng, &grid, side, start, min_path) {
                return Ok(maze);
            }
        }
    }
    bail!("no {side}x{side} maze with a unique shortest path over {min_path} cells found in {MAX_ATTEMPTS} tries: lower the minimum path or enlarge the side")
}

/// The single cell holding `ch`, if there is exactly one.
fn find_unique(grid: &[u8], ch: u8) -> Option<usize> {
    let mut cells = grid.iter().enumerate().filter(|(_, &c)| c == ch);
    let (first, _) = cells.next()?;
    cells.next().is_none().then_some(first)
}

/// The number of cells (S and G included) on a shortest S->G path, or None when the grid is
/// not square, lacks exactly one S and one G, or G is unreachable.
pub fn shortest_path_len(question: &[u8]) -> Option<usize> {
    let side = side_of(question.len())?;
    let (start, goal) = (find_unique(question, START)?, find_unique(question, GOAL)?);
    let (dist, _) = bfs(question, side, start);
    dist[goal].map(|d| d as usize + 1)
}

/// True iff `predicted` solves `question`: walls, S and G are unchanged, every other cell is
/// ' ' or 'o', and the 'o' cells form one simple 4-connected path from S to G with as many
/// cells as a shortest path (any shortest path counts, not only the stored one).
pub fn check_answer(question: &[u8], predicted: &[u8]) -> bool {
    let Some(side) = side_of(question.len()) else {
        return false;
    };
    let Some(best) = shortest_path_len(question) else {
        return false;
    };
    let cells_ok = question.len() == predicted.len()
        && question.iter().zip(predicted).all(|(&q, &p)| match q {
            OPEN => p == OPEN || p == PATH,
            WALL | START | GOAL => p == q,
            _ => false,
        });
    if !cells_ok {
        return false;
    }
    let on_path = |cell: usize| matches!(predicted[cell], PATH | START | GOAL);
    let path_cells = predicted.iter().filter(|&&c| c == PATH).count() + 2;
    if path_cells != best {
        return false;
    }
    // Walk from S: each step must have exactly one unvisited path neighbour; the walk must
    // end at G having covered every path cell.
    let (Some(start), Some(goal)) = (find_unique(question, START), find_unique(question, GOAL))
    else {
        return false;
    };
    let mut visited = vec![false; predicted.len()];
    let (mut cell, mut walked) = (start, 1);
    visited[start] = true;
    while cell != goal {
        let mut next = neighbours(cell, side).filter(|&n| on_path(n) && !visited[n]);
        let (Some(step), None) = (next.next(), next.next()) else {
            return false;
        };
        visited[step] = true;
        cell = step;
        walked += 1;
    }
    walked == path_cells
}

/// The token of a maze character ("# SGo" -> 1..=5).
fn token(ch: u8) -> Option<u8> {
    CHARSET.iter().position(|&c| c == ch).map(|i| i as u8 + 1)
}

/// The model's view of a maze: question and answer tokens (puzzle_id 0). Errors on a length
/// mismatch or a character outside "# SGo".
/// A question's tokens; the grid must be square.
pub fn question_tokens(question: &[u8]) -> Result<Vec<u8>> {
    if side_of(question.len()).is_none() {
        bail!("maze: {} cells do not make a square grid", question.len());
    }
    Ok(to_example(question, question)?.inputs)
}

pub fn to_example(question: &[u8], answer: &[u8]) -> Result<Example> {
    if question.len() != answer.len() {
        bail!(
            "maze: question has {} cells but answer {}",
            question.len(),
            answer.len()
        );
    }
    let encode = |grid: &[u8], what: &str| -> Result<Vec<u8>> {
        grid.iter()
            .enumerate()
            .map(|(i, &ch)| match token(ch) {
                Some(t) => Ok(t),
                None => bail!(
                    "maze: bad character {:?} at cell {i} of the {what}",
                    ch as char
                ),
            })
            .collect()
    };
    Ok(Example {
        inputs: encode(question, "question")?,
        labels: encode(answer, "answer")?,
        puzzle_id: 0,
    })
}

/// Back from tokens to characters; PAD or out-of-vocabulary tokens become '?' (which
/// `check_answer` rejects).
pub fn from_tokens(tokens: &[u8]) -> Vec<u8> {
    tokens
        .iter()
        .map(|&t| match t {
            1..=5 => CHARSET[t as usize - 1],
            _ => b'?',
        })
        .collect()
}

/// The example under one of the 8 symmetries of the square (`k` as in `dihedral`), applied to
/// question and answer alike; a valid maze stays valid.
pub fn augment(ex: &Example, side: usize, k: u8) -> Example {
    Example {
        inputs: dihedral(&ex.inputs, side, k),
        labels: dihedral(&ex.labels, side, k),
        puzzle_id: ex.puzzle_id,
    }
}

/// The canonical form of a maze under the 8 symmetries of the square (the least of its 8
/// transforms): equal exactly for the mazes a training draw can turn into one another.
pub fn canonical(inputs: &[u8], side: usize) -> Vec<u8> {
    (0..8)
        .map(|k| dihedral(inputs, side, k))
        .min()
        .expect("8 transforms")
}

/// The maze family: square mazes from an official CSV or generated; each draw may get one of
/// the 8 symmetries of the square.
struct Family {
    side: usize,
    train: Vec<Example>,
    augment: bool,
}

impl PuzzleFamily for Family {
    fn draw(&self, rng: &mut Rng) -> Example {
        let example = &self.train[rng.below(self.train.len() as u64) as usize];
        if self.augment {
            augment(example, self.side, rng.below(8) as u8)
        } else {
            example.clone()
        }
    }
}

/// `puzzle.train` / `puzzle.test` as official CSVs, or generated mazes where they are empty.
/// Generated test and validation mazes are disjoint from training up to the 8 symmetries (see
/// [`canonical`]); from a training CSV, validation takes held-out rows.
pub fn load(cfg: &PuzzleConfig) -> Result<PuzzleData> {
    if cfg.train.is_empty() || cfg.test.is_empty() {
        check_size(cfg.maze_side, cfg.maze_min_path)
            .context("puzzle.maze_side / puzzle.maze_min_path")?;
    }
    let generator = |stream: u64| {
        let mut rng = cfg.generation_rng(stream);
        move || {
            let (q, a) = generate(&mut rng, cfg.maze_side, cfg.maze_min_path)?;
            to_example(&q, &a)
        }
    };
    let (train, csv_val) = training_split(cfg, generator, read_examples)?;
    let len = train
        .first()
        .map_or(cfg.maze_side * cfg.maze_side, |e| e.inputs.len());
    let side = (len as f64).sqrt().round() as usize;
    if side * side != len {
        bail!("maze grids must be square; got {len} cells");
    }
    let key = |e: &Example| canonical(&e.inputs, side);
    let (test, val, dropped) = held_out(cfg, &train, csv_val, key, generator, read_examples)?;
    if test
        .iter()
        .chain(&val)
        .chain(&train)
        .any(|e| e.inputs.len() != len)
    {
        bail!("all mazes of a run must have the same size ({side}x{side})");
    }
    Ok(PuzzleData {
        name: "maze",
        val,
        test,
        dropped,
        vocab_size: VOCAB,
        seq_len: len,
        num_puzzle_ids: 1,
        train_count: train.len(),
        augmented: cfg.augment,
        family: Box::new(Family {
            side,
            train,
            augment: cfg.augment,
        }),
    })
}

/// The mazes of an official CSV.
fn read_examples(path: &str) -> Result<Vec<Example>> {
    let rows = read_csv(Path::new(path))?;
    if rows.is_empty() {
        bail!("{path}: no mazes");
    }
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            to_example(r.question.as_bytes(), r.answer.as_bytes())
                .with_context(|| format!("{path}: row {}", i + 2))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn count(grid: &[u8], ch: u8) -> usize {
        grid.iter().filter(|&&c| c == ch).count()
    }

    fn border_is_wall(grid: &[u8], side: usize) -> bool {
        (0..side * side).all(|i| {
            let (r, c) = (i / side, i % side);
            let border = r == 0 || c == 0 || r == side - 1 || c == side - 1;
            !border || grid[i] == WALL
        })
    }

    /// Checks every promised property of one generated maze.
    fn check_generated(question: &[u8], answer: &[u8], side: usize, min_path: usize) {
        let show = String::from_utf8_lossy(answer).into_owned();
        assert_eq!(question.len(), side * side);
        assert_eq!(answer.len(), side * side);
        assert!(border_is_wall(question, side), "{show}");
        assert_eq!((count(question, START), count(question, GOAL)), (1, 1));
        assert_eq!(count(question, PATH), 0);
        let len = shortest_path_len(question).unwrap();
        assert!(len > min_path, "path {len} <= {min_path}");
        assert_eq!(count(answer, PATH) + 2, len);
        let start = find_unique(question, START).unwrap();
        let goal = find_unique(question, GOAL).unwrap();
        let (_, paths) = bfs(question, side, start);
        assert_eq!(paths[goal], 1, "shortest path not unique");
        assert!(check_answer(question, answer), "{show}");
        // The answer only adds 'o' marks to the question.
        for (&q, &a) in question.iter().zip(answer) {
            assert!(q == a || (q == OPEN && a == PATH));
        }
    }

    #[test]
    fn maze_hard_mazes_have_a_unique_long_path() {
        let mut rng = Rng::new(7);
        let n = 200;
        let t = Instant::now();
        let mazes: Vec<_> = (0..n)
            .map(|_| generate(&mut rng, 30, 110).unwrap())
            .collect();
        let secs = t.elapsed().as_secs_f64();
        let mut lengths: Vec<usize> = Vec::new();
        for (question, answer) in &mazes {
            check_generated(question, answer, 30, 110);
            lengths.push(shortest_path_len(question).unwrap());
        }
        lengths.sort_unstable();
        println!(
            "generated {n} 30x30 mazes (min_path 110) in {secs:.3} s ({:.2} ms each); \
             path cells median {} max {}",
            secs * 1e3 / n as f64,
            lengths[n / 2],
            lengths[n - 1]
        );
        assert_ne!(mazes[0], mazes[1]);
        assert_eq!(generate(&mut Rng::new(7), 30, 110).unwrap(), mazes[0]);
    }

    #[test]
    fn small_sides_work() {
        let mut rng = Rng::new(8);
        for (side, min_path) in [
            (5, 0),
            (5, 2),
            (9, 10),
            (9, 16),
            (12, 20),
            (13, 30),
            (31, 150),
        ] {
            for _ in 0..50 {
                let (question, answer) = generate(&mut rng, side, min_path).unwrap();
                check_generated(&question, &answer, side, min_path);
            }
        }
    }

    #[test]
    fn damaged_answers_fail() {
        let mut rng = Rng::new(9);
        for _ in 0..20 {
            let (question, answer) = generate(&mut rng, 30, 110).unwrap();
            let path: Vec<usize> = (0..answer.len()).filter(|&i| answer[i] == PATH).collect();
            // One path cell missing.
            let mut missing = answer.clone();
            missing[path[path.len() / 2]] = OPEN;
            assert!(!check_answer(&question, &missing));
            // A wall broken (turned into a path cell, or just opened).
            let wall = (0..answer.len()).find(|&i| answer[i] == WALL).unwrap();
            for broken in [PATH, OPEN] {
                let mut bad = answer.clone();
                bad[wall] = broken;
                assert!(!check_answer(&question, &bad));
            }
            // One extra path cell next to the path.
            let extra = path
                .iter()
                .flat_map(|&p| neighbours(p, 30))
                .find(|&n| answer[n] == OPEN)
                .unwrap();
            let mut longer = answer.clone();
            longer[extra] = PATH;
            assert!(!check_answer(&question, &longer));
            // S or G moved, the bare question, or a wrong size.
            let mut moved = answer.clone();
            let start = find_unique(&answer, START).unwrap();
            moved[start] = PATH;
            moved[path[0]] = START;
            assert!(!check_answer(&question, &moved));
            assert!(!check_answer(&question, &question));
            assert!(!check_answer(&question, &answer[1..]));
        }
    }

    #[test]
    fn any_shortest_path_is_accepted() {
        // Two routes of equal length around a block of wall; both count. Five rows of seven,
        // padded with two wall rows to make the grid square.
        let square = |rows: &[u8]| [rows, &[WALL; 14]].concat();
        let question = square(
            b"#######\
              #S    #\
              # ### #\
              #    G#\
              #######",
        );
        assert_eq!(shortest_path_len(&question), Some(7));
        let top = b"#######\
                    #Soooo#\
                    # ###o#\
                    #    G#\
                    #######";
        let bottom = b"#######\
                       #S    #\
                       #o### #\
                       #ooooG#\
                       #######";
        let gap = b"#######\
                    #Sooo #\
                    # ###o#\
                    #    G#\
                    #######";
        let extra = b"#######\
                      #Soooo#\
                      # ###o#\
                      #   oG#\
                      #######";
        for (answer, ok) in [(top, true), (bottom, true), (gap, false), (extra, false)] {
            let answer = square(answer);
            let shown = String::from_utf8_lossy(&answer).into_owned();
            assert_eq!(check_answer(&question, &answer), ok, "{shown}");
        }
    }

    #[test]
    fn augmented_mazes_stay_valid() {
        let mut rng = Rng::new(10);
        for side in [30, 12] {
            let (question, answer) = generate(&mut rng, side, side * 2).unwrap();
            let ex = to_example(&question, &answer).unwrap();
            for k in 0..8 {
                let aug = augment(&ex, side, k);
                let (q, a) = (from_tokens(&aug.inputs), from_tokens(&aug.labels));
                assert!(border_is_wall(&q, side));
                assert!(check_answer(&q, &a), "k = {k}");
                assert_eq!(shortest_path_len(&q), shortest_path_len(&question));
                let back = augment(&aug, side, crate::data::puzzle::inverse_dihedral(k));
                assert_eq!(back, ex);
            }
        }
    }

    #[test]
    fn tokens_round_trip_and_reject_bad_characters() {
        let (question, answer) = generate(&mut Rng::new(11), 9, 8).unwrap();
        let ex = to_example(&question, &answer).unwrap();
        assert_eq!(ex.puzzle_id, 0);
        assert!(ex.inputs.iter().all(|&t| (1..=4).contains(&t)));
        assert!(ex.labels.contains(&5));
        assert_eq!(from_tokens(&ex.inputs), question);
        assert_eq!(from_tokens(&ex.labels), answer);
        assert_eq!(
            to_example(b"# SGo", b"# SGo").unwrap().inputs,
            [1, 2, 3, 4, 5]
        );
        let e = to_example(b"# x", b"# S").unwrap_err().to_string();
        assert!(e.contains("'x'") && e.contains("cell 2"), "{e}");
        assert!(to_example(b"#", b"##").is_err());
        assert_eq!(from_tokens(&[0, 1, 6]), b"?#?");
    }
}
