//! Sudoku: an exact bitmask solver and rater, a unique-solution generator, augmentation, tokens.
//!
//! Grids are `[u8; 81]` in row-major order with 0 for a blank and 1..=9 for a digit.
//! Tokens for the model: PAD 0, blank 1, digit d -> d + 1 (vocabulary 11).

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::csv::read_csv;
use super::family::{held_out, training_split, PuzzleData, PuzzleFamily};
use super::Example;
use crate::config::PuzzleConfig;
use crate::rng::Rng;

/// Number of cells in a grid.
pub const CELLS: usize = 81;
/// Token vocabulary: PAD, blank and the nine digits.
pub const VOCAB: usize = 11;

/// All nine candidate bits (bit d - 1 stands for digit d).
const ALL: u16 = 0x1FF;

/// The 27 units: 9 rows, 9 columns, 9 boxes, each as 9 cell indices.
const UNITS: [[u8; 9]; 27] = build_units();
/// The 20 peers of every cell (cells sharing a row, column or box with it).
const PEERS: [[u8; 20]; 81] = build_peers();

const fn build_units() -> [[u8; 9]; 27] {
    let mut units = [[0u8; 9]; 27];
    let mut i = 0;
    while i < 9 {
        let mut j = 0;
        while j < 9 {
            units[i][j] = (i * 9 + j) as u8;
            units[9 + i][j] = (j * 9 + i) as u8;
            let (row, col) = (i / 3 * 3 + j / 3, i % 3 * 3 + j % 3);
            units[18 + i][j] = (row * 9 + col) as u8;
            j += 1;
        }
        i += 1;
    }
    units
}

const fn build_peers() -> [[u8; 20]; 81] {
    let mut peers = [[0u8; 20]; 81];
    let mut cell = 0;
    while cell < 81 {
        let (r, c) = (cell / 9, cell % 9);
        let mut n = 0;
        let mut other = 0;
        while other < 81 {
            let (r2, c2) = (other / 9, other % 9);
            let same_box = r / 3 == r2 / 3 && c / 3 == c2 / 3;
            if other != cell && (r == r2 || c == c2 || same_box) {
                peers[cell][n] = other as u8;
                n += 1;
            }
            other += 1;
        }
        cell += 1;
    }
    peers
}

/// A box/line intersection: its 3 cells, the other 6 cells of the box and of the line.
#[derive(Clone, Copy)]
struct Intersection {
    inside: [u8; 3],
    box_rest: [u8; 6],
    line_rest: [u8; 6],
    /// The box and the line, as a unit set (see `CELL_UNITS`).
    units: u32,
}

/// The 54 intersections of a box with one of its rows or columns.
const INTERSECTIONS: [Intersection; 54] = build_intersections();

const fn build_intersections() -> [Intersection; 54] {
    let empty = Intersection {
        inside: [0; 3],
        box_rest: [0; 6],
        line_rest: [0; 6],
        units: 0,
    };
    let mut all = [empty; 54];
    let mut n = 0;
    while n < 54 {
        // n = box * 6 + k: k < 3 is the box's k-th row, k >= 3 its (k - 3)-th column.
        let (b, k) = (n / 6, n % 6);
        let (top, left) = (b / 3 * 3, b % 3 * 3);
        let by_row = k < 3;
        let line = if by_row { top + k } else { left + k - 3 };
        all[n].units = 1 << (18 + b) | 1 << if by_row { line } else { 9 + line };
        let (mut i, mut nb, mut nl) = (0, 0, 0);
        while i < 9 {
            // i-th cell of the box, and i-th cell of the line.
            let (r, c) = (top + i / 3, left + i % 3);
            let in_line = if by_row { r == line } else { c == line };
            if in_line {
                all[n].inside[if by_row { c - left } else { r - top }] = (r * 9 + c) as u8;
            } else {
                all[n].box_rest[nb] = (r * 9 + c) as u8;
                nb += 1;
            }
            let (r, c) = if by_row { (line, i) } else { (i, line) };
            let in_box = if by_row {
                c / 3 == left / 3
            } else {
                r / 3 == top / 3
            };
            if !in_box {
                all[n].line_rest[nl] = (r * 9 + c) as u8;
                nl += 1;
            }
            i += 1;
        }
        n += 1;
    }
    all
}

/// The bit of a digit in a candidate mask.
fn bit(digit: u8) -> u16 {
    1 << (digit - 1)
}

/// The digit of a single-bit candidate mask.
fn digit_of(mask: u16) -> u8 {
    mask.trailing_zeros() as u8 + 1
}

/// The units (bits 0..27 of a unit set: rows, columns, boxes) that contain each cell.
const CELL_UNITS: [u32; 81] = build_cell_units();

const fn build_cell_units() -> [u32; 81] {
    let mut sets = [0u32; 81];
    let mut cell = 0;
    while cell < 81 {
        let (r, c) = (cell / 9, cell % 9);
        sets[cell] = 1 << r | 1 << (9 + c) | 1 << (18 + r / 3 * 3 + c / 3);
        cell += 1;
    }
    sets
}

/// A partially solved grid: candidates for every cell, placed digits, how many are left, and
/// which units changed since propagation last looked at them. Naked singles are placed
/// eagerly by `assign`; `propagate` adds hidden singles and locked candidates.
#[derive(Clone, Copy)]
struct Board {
    cand: [u16; 81],
    grid: [u8; 81],
    unsolved: u32,
    /// Units to rescan for hidden singles.
    dirty: u32,
    /// Units whose intersections to rescan for locked candidates.
    dirty_locked: u32,
}

impl Board {
    /// The empty board: every digit possible everywhere.
    fn empty() -> Self {
        Self {
            cand: [ALL; 81],
            grid: [0; 81],
            unsolved: 81,
            dirty: (1 << 27) - 1,
            dirty_locked: (1 << 27) - 1,
        }
    }

    /// The board with the givens placed, or None when they contradict each other (or a value is
    /// not 0..=9).
    fn from_givens(givens: &[u8; 81]) -> Option<Self> {
        let mut board = Self::empty();
        for (cell, &digit) in givens.iter().enumerate() {
            if digit > 9 || (digit != 0 && !board.assign(cell, digit)) {
                return None;
            }
        }
        Some(board)
    }

    /// Narrows the candidates of a cell and marks its units for rescanning.
    fn set_candidates(&mut self, cell: usize, mask: u16) {
        self.cand[cell] = mask;
        self.dirty |= CELL_UNITS[cell];
        self.dirty_locked |= CELL_UNITS[cell];
    }

    /// Places `digit` at `cell`, removes it from the peers and places any naked single this
    /// creates. Returns false on a contradiction.
    fn assign(&mut self, cell: usize, digit: u8) -> bool {
        if self.grid[cell] != 0 {
            return self.grid[cell] == digit;
        }
        let b = bit(digit);
        if self.cand[cell] & b == 0 {
            return false;
        }
        self.grid[cell] = digit;
        self.set_candidates(cell, b);
        self.unsolved -= 1;
        for &peer in &PEERS[cell] {
            let peer = peer as usize;
            let mask = self.cand[peer];
            if mask & b == 0 {
                continue;
            }
            let mask = mask & !b;
            if mask == 0 {
                return false;
            }
            self.set_candidates(peer, mask);
            if mask & (mask - 1) == 0 && !self.assign(peer, digit_of(mask)) {
                return false;
            }
        }
        true
    }

    /// Removes the digits of `mask` from the candidates of `cells`, placing naked singles.
    /// Returns false on a contradiction (a placed digit removed, or no candidate left).
    fn remove_candidates(&mut self, cells: &[u8], mask: u16) -> bool {
        for &cell in cells {
            let cell = cell as usize;
            if self.cand[cell] & mask == 0 {
                continue;
            }
            let left = self.cand[cell] & !mask;
            if left == 0 || self.grid[cell] != 0 {
                return false;
            }
            self.set_candidates(cell, left);
            if left & (left - 1) == 0 && !self.assign(cell, digit_of(left)) {
                return false;
            }
        }
        true
    }

    /// Applies hidden singles, then locked candidates, until neither changes anything.
    /// Returns false on a contradiction.
    fn propagate(&mut self) -> bool {
        while self.dirty != 0 || self.dirty_locked != 0 {
            if !self.hidden_singles() || !self.locked_candidates() {
                return false;
            }
        }
        true
    }

    /// Places hidden singles (a digit with one possible cell in a unit) in the changed units
    /// until none is left; a digit with no possible cell in a unit is a contradiction.
    fn hidden_singles(&mut self) -> bool {
        while self.dirty != 0 {
            let unit = &UNITS[self.dirty.trailing_zeros() as usize];
            self.dirty &= self.dirty - 1;
            let (mut once, mut twice, mut solved) = (0u16, 0u16, 0u16);
            for &cell in unit {
                let mask = self.cand[cell as usize];
                twice |= once & mask;
                once |= mask;
                if self.grid[cell as usize] != 0 {
                    solved |= mask;
                }
            }
            if once != ALL {
                return false;
            }
            let mut singles = once & !twice & !solved;
            while singles != 0 {
                let b = singles & singles.wrapping_neg();
                singles &= singles - 1;
                let cell = unit.iter().find(|&&c| self.cand[c as usize] & b != 0);
                match cell {
                    Some(&cell) if self.assign(cell as usize, digit_of(b)) => {}
                    _ => return false,
                }
            }
        }
        true
    }

    /// One pass of locked candidates over the box/line intersections touching changed units:
    /// a digit that the box (line) allows only inside the intersection is removed from the
    /// rest of the line (box). Returns false on a contradiction.
    fn locked_candidates(&mut self) -> bool {
        let changed = self.dirty_locked;
        self.dirty_locked = 0;
        for x in INTERSECTIONS.iter().filter(|x| x.units & changed != 0) {
            let union = |cells: &[u8]| cells.iter().fold(0, |m, &c| m | self.cand[c as usize]);
            let inside = union(&x.inside);
            let (box_rest, line_rest) = (union(&x.box_rest), union(&x.line_rest));
            let pointing = inside & !box_rest & line_rest;
            let claiming = inside & !line_rest & box_rest;
            if (pointing != 0 && !self.remove_candidates(&x.line_rest, pointing))
                || (claiming != 0 && !self.remove_candidates(&x.box_rest, claiming))
            {
                return false;
            }
        }
        true
    }

    /// The blank cell with the fewest candidates, or None when the grid is full.
    fn branch_cell(&self) -> Option<usize> {
        let mut best = None;
        let mut best_count = u32::MAX;
        for cell in 0..81 {
            if self.grid[cell] != 0 {
                continue;
            }
            let count = self.cand[cell].count_ones();
            if count < best_count {
                best = Some(cell);
                best_count = count;
                if count <= 2 {
                    break;
                }
            }
        }
        best
    }
}

/// Depth-first search state: how many solutions to look for, what was found, the guess count.
struct Search<'a> {
    limit: usize,
    found: usize,
    guesses: u64,
    solution: Option<[u8; 81]>,
    /// When set, candidates are tried in random order (used to make random full grids).
    rng: Option<&'a mut Rng>,
}

impl<'a> Search<'a> {
    fn new(limit: usize, rng: Option<&'a mut Rng>) -> Self {
        Self {
            limit,
            found: 0,
            guesses: 0,
            solution: None,
            rng,
        }
    }

    /// Propagates, then branches on the most constrained cell; stops once `limit` solutions
    /// were found. Every candidate tried at a branch counts as one guess.
    fn run(&mut self, mut board: Board) {
        if !board.propagate() {
            return;
        }
        let Some(cell) = board.branch_cell() else {
            self.found += 1;
            self.solution.get_or_insert(board.grid);
            return;
        };
        let mut digits = [0u8; 9];
        let mut n = 0;
        let mut mask = board.cand[cell];
        while mask != 0 {
            digits[n] = digit_of(mask & mask.wrapping_neg());
            mask &= mask - 1;
            n += 1;
        }
        if let Some(rng) = self.rng.as_deref_mut() {
            rng.shuffle(&mut digits[..n]);
        }
        for &digit in &digits[..n] {
            if self.found >= self.limit {
                return;
            }
            self.guesses += 1;
            let mut child = board;
            if child.assign(cell, digit) {
                self.run(child);
            }
        }
    }
}

/// Runs a search from the givens (nothing is found when the givens contradict each other).
fn search(grid: &[u8; 81], limit: usize) -> Search<'static> {
    let mut search = Search::new(limit, None);
    if limit > 0 {
        if let Some(board) = Board::from_givens(grid) {
            search.run(board);
        }
    }
    search
}

/// The solution of a puzzle (the first one found when there are several), or None when it has
/// none (including givens that repeat a digit in a row, column or box).
pub fn solve(grid: &[u8; 81]) -> Option<[u8; 81]> {
    search(grid, 1).solution
}

/// The number of solutions, counting no further than `limit` (so `limit` 2 tells unique from
/// ambiguous cheaply).
pub fn count_solutions(grid: &[u8; 81], limit: usize) -> usize {
    search(grid, limit).found
}

/// Difficulty: the number of guesses (candidates tried at branch points) the solver makes to
/// search the whole tree for a second solution. Propagation (naked and hidden singles, locked
/// candidates) is free, so a puzzle it solves alone rates 0; a puzzle with one two-way branch
/// rates 2. Counting the whole tree (not stopping at the first solution) makes the rating
/// independent of the luck of the candidate order. Puzzles without a solution rate the guesses
/// needed to refute them. (Same spirit as, not the same scale as, tdoku's rating in
/// Sudoku-Extreme; tdoku's forum_hardest_1905_11+ list averages about 280 here.)
pub fn rate(grid: &[u8; 81]) -> u64 {
    search(grid, 2).guesses
}

/// Parses 81 cells ('1'..'9' for digits, '.' or '0' for blanks; surrounding whitespace is
/// ignored).
pub fn parse(s: &str) -> Result<[u8; 81]> {
    let s = s.trim();
    let count = s.chars().count();
    if count != CELLS {
        bail!("sudoku: expected 81 cells, got {count}");
    }
    let mut grid = [0u8; 81];
    for (i, ch) in s.chars().enumerate() {
        grid[i] = match ch {
            '.' | '0' => 0,
            '1'..='9' => ch as u8 - b'0',
            _ => bail!("sudoku: bad character {ch:?} at cell {i}"),
        };
    }
    Ok(grid)
}

/// The 81-character form: digits, '.' for blanks.
pub fn format(grid: &[u8; 81]) -> String {
    grid.iter()
        .map(|&d| match d {
            1..=9 => (b'0' + d) as char,
            _ => '.',
        })
        .collect()
}

/// Reads a tdoku-style benchmark list: one puzzle per line as the first whitespace-separated
/// token (81 cells, anything after it is ignored); empty lines and '#' comments are skipped.
pub fn read_list(path: &Path) -> Result<Vec<[u8; 81]>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut puzzles = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let token = line.split_whitespace().next().unwrap_or_default();
        let grid = parse(token).with_context(|| format!("{}:{}", path.display(), i + 1))?;
        puzzles.push(grid);
    }
    Ok(puzzles)
}

/// True iff `candidate` keeps every given of `puzzle` and every row, column and box holds each
/// digit 1..9 once.
pub fn is_valid_solution(puzzle: &[u8; 81], candidate: &[u8; 81]) -> bool {
    let keeps_givens = puzzle
        .iter()
        .zip(candidate)
        .all(|(&p, &c)| p == 0 || p == c);
    let digits_ok = candidate.iter().all(|&d| (1..=9).contains(&d));
    keeps_givens
        && digits_ok
        && UNITS.iter().all(|unit| {
            let mask = unit
                .iter()
                .fold(0u16, |m, &cell| m | bit(candidate[cell as usize]));
            mask == ALL
        })
}

/// A random full solution grid (depth-first fill with random candidate order).
fn random_solution(rng: &mut Rng) -> [u8; 81] {
    let mut search = Search::new(1, Some(rng));
    search.run(Board::empty());
    search
        .solution
        .expect("the empty sudoku grid always has a solution")
}

/// True iff the puzzle has a solution with something other than `digit` at `cell`.
fn has_other_solution(puzzle: &[u8; 81], cell: usize, digit: u8) -> bool {
    let Some(mut board) = Board::from_givens(puzzle) else {
        return false;
    };
    if !board.remove_candidates(&[cell as u8], bit(digit)) {
        return false;
    }
    let mut search = Search::new(1, None);
    search.run(board);
    search.found > 0
}

/// Blanks cells of a full grid in random order, keeping each removal only if the solution stays
/// unique, until every cell was tried or `max_blanks` cells are blank.
fn remove_clues(solution: &[u8; 81], rng: &mut Rng, max_blanks: Option<usize>) -> [u8; 81] {
    let mut order: [usize; 81] = std::array::from_fn(|i| i);
    rng.shuffle(&mut order);
    let mut puzzle = *solution;
    let mut blanks = 0;
    for cell in order {
        if max_blanks.is_some_and(|max| blanks >= max) {
            break;
        }
        let digit = puzzle[cell];
        puzzle[cell] = 0;
        // The solution is unique before the removal, so it stays unique unless another
        // digit fits the freed cell.
        if has_other_solution(&puzzle, cell, digit) {
            puzzle[cell] = digit;
        } else {
            blanks += 1;
        }
    }
    puzzle
}

/// A random puzzle with exactly one solution: returns (puzzle, solution, rating).
///
/// Fills a random grid, then removes clues in random order while the solution stays unique
/// (stopping early at `max_blanks` blanks when given, e.g. 10 blanks for an easy set). Retries
/// until `rate(puzzle) >= min_rating`, so a high `min_rating` can take long. Measured on
/// minimal puzzles (no `max_blanks`, ~24 givens, ~0.3 ms each): 53% rate 0, 8% rate 10 or
/// more, 1.5% 20 or more, 0.13% 50 or more, 0.01% 100 or more; so min_rating 20 costs ~15 ms
/// per puzzle and 50 ~350 ms. With `max_blanks` set the rating is almost always 0.
///
/// Gives up with an error after [`MAX_TRIES`] puzzles below `min_rating` (about 6 s): a rating
/// the settings cannot reach (with `max_blanks` almost every puzzle rates 0) ends, not hangs.
pub fn generate(
    rng: &mut Rng,
    min_rating: u64,
    max_blanks: Option<usize>,
) -> Result<([u8; 81], [u8; 81], u64)> {
    for _ in 0..MAX_TRIES {
        let solution = random_solution(rng);
        let puzzle = remove_clues(&solution, rng, max_blanks);
        let rating = rate(&puzzle);
        if rating >= min_rating {
            return Ok((puzzle, solution, rating));
        }
    }
    bail!(
        "no Sudoku rated {min_rating} or more found in {MAX_TRIES} tries{}: lower the minimum rating",
        max_blanks.map_or(String::new(), |b| format!(" with at most {b} blanks (such easy puzzles almost always rate 0)"))
    )
}

/// Puzzles [`generate`] tries before it gives up on `min_rating`.
pub const MAX_TRIES: usize = 20_000;

/// A random permutation of 0..N.
fn permutation<const N: usize>(rng: &mut Rng) -> [usize; N] {
    let mut p: [usize; N] = std::array::from_fn(|i| i);
    rng.shuffle(&mut p);
    p
}

/// A random order of the 9 rows (or columns) that keeps bands (stacks) together: the bands are
/// permuted, and the rows inside each band.
fn line_permutation(rng: &mut Rng) -> [usize; 9] {
    let bands = permutation::<3>(rng);
    let mut lines = [0usize; 9];
    for (i, &band) in bands.iter().enumerate() {
        let rows = permutation::<3>(rng);
        for (j, &row) in rows.iter().enumerate() {
            lines[i * 3 + j] = band * 3 + row;
        }
    }
    lines
}

/// Validity-preserving augmentation (as in the paper): a random relabelling of the digits,
/// a transpose with probability 1/2, and random band/row and stack/column orders. The same
/// transform is applied to the puzzle and its solution; blanks stay blank.
pub fn shuffle(puzzle: &[u8; 81], solution: &[u8; 81], rng: &mut Rng) -> ([u8; 81], [u8; 81]) {
    let digits = permutation::<9>(rng);
    let transpose = rng.below(2) == 1;
    let rows = line_permutation(rng);
    let cols = line_permutation(rng);
    let apply = |grid: &[u8; 81]| -> [u8; 81] {
        std::array::from_fn(|i| {
            let (r, c) = (rows[i / 9], cols[i % 9]);
            let d = if transpose {
                grid[c * 9 + r]
            } else {
                grid[r * 9 + c]
            };
            match d {
                1..=9 => digits[d as usize - 1] as u8 + 1,
                _ => 0,
            }
        })
    };
    (apply(puzzle), apply(solution))
}

/// An invariant of [`shuffle`]'s group (digit relabelling, band/row and stack/column orders,
/// transpose): every puzzle a shuffle can turn `puzzle` into has the same signature. Two puzzles
/// with different signatures can never be drawn as one another, which is what keeps generated
/// test and validation puzzles out of training. (Equal signatures need not mean equivalent
/// puzzles: the splits drop such a puzzle to be safe; a canonical form would cost a search over
/// 3.4 million transforms per puzzle.)
pub fn signature(puzzle: &[u8; 81]) -> Vec<u8> {
    let given = |r: usize, c: usize| puzzle[r * 9 + c] != 0;
    // givens per box, canonical over band and stack orders and the transpose
    let boxes: [[u8; 3]; 3] = std::array::from_fn(|b| {
        std::array::from_fn(|s| {
            (0..9)
                .filter(|&i| given(b * 3 + i / 3, s * 3 + i % 3))
                .count() as u8
        })
    });
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut box_form = vec![u8::MAX; 9];
    for transpose in [false, true] {
        for rows in ORDERS {
            for cols in ORDERS {
                let form: Vec<u8> = (0..9)
                    .map(|i| {
                        let (r, c) = (rows[i / 3], cols[i % 3]);
                        if transpose {
                            boxes[c][r]
                        } else {
                            boxes[r][c]
                        }
                    })
                    .collect();
                box_form = box_form.min(form);
            }
        }
    }
    // givens per line, as sorted triples per band (stack), the bands sorted; rows and columns
    // swap under the transpose, so the two sides are sorted as a pair
    let side = |line: &dyn Fn(usize) -> u8| -> Vec<u8> {
        let mut bands: Vec<[u8; 3]> = (0..3)
            .map(|b| {
                let mut t = [line(b * 3), line(b * 3 + 1), line(b * 3 + 2)];
                t.sort();
                t
            })
            .collect();
        bands.sort();
        bands.concat()
    };
    let rows = side(&|r| (0..9).filter(|&c| given(r, c)).count() as u8);
    let cols = side(&|c| (0..9).filter(|&r| given(r, c)).count() as u8);
    let (a, b) = if rows <= cols {
        (rows, cols)
    } else {
        (cols, rows)
    };
    // how the digits of neighbouring boxes line up: per band, for each pair of its boxes and each
    // pair of its rows, how many given digits row i of the one box shares with row j of the
    // other, canonical over the band's row and box orders; bands sorted (stacks and columns
    // likewise)
    let digit_set = |r: usize, c0: usize, cols: bool| -> u16 {
        (0..3)
            .map(|i| {
                if cols {
                    puzzle[(c0 + i) * 9 + r]
                } else {
                    puzzle[r * 9 + c0 + i]
                }
            })
            .filter(|&d| d != 0)
            .fold(0u16, |set, d| set | 1 << d)
    };
    let lineup = |cols: bool| -> Vec<u8> {
        let mut bands: Vec<Vec<u8>> = (0..3)
            .map(|b| {
                let shared = |x: usize, y: usize, i: usize, j: usize| {
                    let (ri, rj) = (b * 3 + i, b * 3 + j);
                    (digit_set(ri, x * 3, cols) & digit_set(rj, y * 3, cols)).count_ones() as u8
                };
                let mut best = vec![u8::MAX; 27];
                for boxes in ORDERS {
                    for lines in ORDERS {
                        let form: Vec<u8> = [(0, 1), (0, 2), (1, 2)]
                            .iter()
                            .flat_map(|&(x, y)| {
                                lines.into_iter().flat_map(move |i| {
                                    lines.map(|j| shared(boxes[x], boxes[y], i, j))
                                })
                            })
                            .collect();
                        best = best.min(form);
                    }
                }
                best
            })
            .collect();
        bands.sort();
        bands.concat()
    };
    let (row_lineup, col_lineup) = (lineup(false), lineup(true));
    let (c, d) = if row_lineup <= col_lineup {
        (row_lineup, col_lineup)
    } else {
        (col_lineup, row_lineup)
    };
    // per digit: its count, and the bands and stacks it occupies (unordered), digits sorted
    let mut digits: Vec<[u8; 3]> = (1..=9u8)
        .map(|d| {
            let cells: Vec<usize> = (0..81).filter(|&i| puzzle[i] == d).collect();
            let bands = (0..3)
                .filter(|&b| cells.iter().any(|i| i / 27 == b))
                .count() as u8;
            let stacks = (0..3)
                .filter(|&s| cells.iter().any(|i| i % 9 / 3 == s))
                .count() as u8;
            [cells.len() as u8, bands.min(stacks), bands.max(stacks)]
        })
        .collect();
    digits.sort();
    [box_form, a, b, c, d, digits.concat()].concat()
}

/// The token of a cell: blank 1, digit d -> d + 1.
fn token(cell: u8) -> u8 {
    cell + 1
}

/// The model's view of a puzzle: question and answer tokens (puzzle_id 0).
pub fn to_example(puzzle: &[u8; 81], solution: &[u8; 81]) -> Example {
    Example {
        inputs: puzzle.iter().map(|&d| token(d)).collect(),
        labels: solution.iter().map(|&d| token(d)).collect(),
        puzzle_id: 0,
    }
}

/// Back from tokens to a grid (blank token 1 -> 0, d + 1 -> d); None when there are not 81
/// tokens or one is PAD or out of the vocabulary.
pub fn from_tokens(tokens: &[u8]) -> Option<[u8; 81]> {
    if tokens.len() != CELLS {
        return None;
    }
    let mut grid = [0u8; 81];
    for (cell, &t) in grid.iter_mut().zip(tokens) {
        if !(1..VOCAB as u8).contains(&t) {
            return None;
        }
        *cell = t - 1;
    }
    Some(grid)
}

/// The Sudoku family: (puzzle, solution) grids from an official CSV or generated; each draw may
/// be shuffled (digits, bands, rows, transpose), which keeps a valid Sudoku valid.
struct Family {
    train: Vec<([u8; 81], [u8; 81])>,
    augment: bool,
}

impl PuzzleFamily for Family {
    fn draw(&self, rng: &mut Rng) -> Example {
        let (p, s) = &self.train[rng.below(self.train.len() as u64) as usize];
        if self.augment {
            let (p, s) = shuffle(p, s, rng);
            to_example(&p, &s)
        } else {
            to_example(p, s)
        }
    }
}

/// `puzzle.train` / `puzzle.test` as official CSVs, or generated puzzles where they are empty.
/// Generated test and validation puzzles are disjoint from training up to the augmentations
/// (see [`signature`]); from a training CSV, validation takes held-out rows.
pub fn load(cfg: &PuzzleConfig) -> Result<PuzzleData> {
    type Pair = ([u8; 81], [u8; 81]);
    let key = |(p, _): &Pair| signature(p);
    let generator = |stream: u64| {
        let mut rng = cfg.generation_rng(stream);
        let blanks = (cfg.max_blanks > 0).then_some(cfg.max_blanks);
        move || {
            let (p, s, _) = generate(&mut rng, cfg.min_rating, blanks)?;
            Ok((p, s))
        }
    };
    let (train, csv_val) = training_split(cfg, generator, read_pairs)?;
    let (test, val, dropped) = held_out(cfg, &train, csv_val, key, generator, read_pairs)?;
    let examples = |pairs: &[Pair]| pairs.iter().map(|(p, s)| to_example(p, s)).collect();
    Ok(PuzzleData {
        name: "sudoku",
        val: examples(&val),
        test: examples(&test),
        dropped,
        vocab_size: VOCAB,
        seq_len: CELLS,
        num_puzzle_ids: 1,
        train_count: train.len(),
        augmented: cfg.augment,
        family: Box::new(Family {
            train,
            augment: cfg.augment,
        }),
    })
}

/// (puzzle, solution) pairs of an official CSV.
fn read_pairs(path: &str) -> Result<Vec<([u8; 81], [u8; 81])>> {
    let rows = read_csv(Path::new(path))?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let at = || format!("{path}: row {}", i + 2);
            let p = parse(&r.question).with_context(at)?;
            let s = parse(&r.answer).with_context(at)?;
            if s.contains(&0) {
                bail!("{}: the answer has blanks", at());
            }
            Ok((p, s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const TDOKU_FILES: [&str; 5] = [
        "puzzles2_17_clue",
        "puzzles3_magictour_top1465",
        "puzzles5_forum_hardest_1905_11+",
        "puzzles6_forum_hardest_1106",
        "puzzles7_serg_benchmark",
    ];

    /// A classic puzzle (Wikipedia's example) and its solution.
    const PUZZLE: &str =
        "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79";
    const SOLUTION: &str =
        "534678912672195348198342567859761423426853791713924856961537284287419635345286179";

    #[test]
    fn solves_a_known_puzzle() {
        let puzzle = parse(PUZZLE).unwrap();
        let solution = solve(&puzzle).unwrap();
        assert_eq!(format(&solution), SOLUTION);
        assert!(is_valid_solution(&puzzle, &solution));
        assert_eq!(count_solutions(&puzzle, 2), 1);
        assert_eq!(rate(&puzzle), 0, "this one falls to singles");
    }

    #[test]
    fn parse_format_round_trip_and_errors() {
        let grid = parse(PUZZLE).unwrap();
        assert_eq!(format(&grid), PUZZLE);
        let zeros = PUZZLE.replace('.', "0");
        assert_eq!(parse(&zeros).unwrap(), grid);
        assert!(parse(&PUZZLE[..80]).is_err());
        assert!(parse(&PUZZLE.replace('5', "x")).is_err());
        let mut rng = Rng::new(3);
        for _ in 0..20 {
            let (p, s, _) = generate(&mut rng, 0, None).unwrap();
            assert_eq!(parse(&format(&p)).unwrap(), p);
            assert_eq!(parse(&format(&s)).unwrap(), s);
        }
    }

    #[test]
    fn two_solutions_and_invalid_givens() {
        // The solution above with a "deadly rectangle" blanked (rows 3-4, columns 5 and 8 hold
        // 1/3 and 3/1): both ways of filling it are solutions.
        let grid = parse(
            "53467891267219534819834256785976.42.42685.79.713924856961537284287419635345286179",
        )
        .unwrap();
        assert_eq!(count_solutions(&grid, 2), 2);
        assert_eq!(count_solutions(&grid, 10), 2);
        assert_eq!(count_solutions(&grid, 1), 1);

        // The puzzle above with five givens removed: two solutions, found only by search
        // (checked with an independent brute-force counter).
        let two = parse(
            "5...7....6..195....98....6.8...6...3...8....17...2...6.6....28....419..5.......79",
        )
        .unwrap();
        assert_eq!(count_solutions(&two, 2), 2);
        assert_eq!(count_solutions(&two, 3), 2);
        assert!(rate(&two) > 0);
        let first = solve(&two).unwrap();
        assert!(is_valid_solution(&two, &first));

        // The empty grid has very many solutions: counting stops at the limit.
        assert_eq!(count_solutions(&[0; 81], 5), 5);
        assert_eq!(count_solutions(&[0; 81], 0), 0);

        // A duplicate digit in a row: no solution.
        let mut bad = parse(PUZZLE).unwrap();
        bad[2] = 5;
        assert_eq!(solve(&bad), None);
        assert_eq!(count_solutions(&bad, 2), 0);
        // ... in a column and in a box.
        let mut bad = parse(PUZZLE).unwrap();
        bad[18] = 6; // column 0 already holds 6 at row 1
        assert_eq!(solve(&bad), None);
        let mut bad = parse(PUZZLE).unwrap();
        bad[20] = 3; // box 0 already holds 3 at row 0 (row 2 and column 2 have none)
        assert_eq!(solve(&bad), None);
        // Out-of-range values are rejected too.
        bad[2] = 10;
        assert_eq!(solve(&bad), None);
    }

    #[test]
    fn generated_puzzles_are_unique_and_match_their_solution() {
        let mut rng = Rng::new(2024);
        let n = 2000;
        let start = Instant::now();
        let puzzles: Vec<_> = (0..n)
            .map(|_| generate(&mut rng, 0, None).unwrap())
            .collect();
        let secs = start.elapsed().as_secs_f64();
        let mut ratings = Vec::new();
        for (puzzle, solution, rating) in &puzzles {
            assert_eq!(count_solutions(puzzle, 2), 1);
            assert_eq!(solve(puzzle).as_ref(), Some(solution));
            assert!(is_valid_solution(puzzle, solution));
            assert_eq!(rate(puzzle), *rating);
            ratings.push(*rating);
        }
        ratings.sort_unstable();
        let givens: usize = puzzles
            .iter()
            .map(|(p, _, _)| p.iter().filter(|&&d| d != 0).count())
            .sum();
        println!(
            "generated {n} minimal puzzles in {secs:.2} s ({:.2} ms each, {:.1} givens on average, \
             rating median {} p90 {} max {})",
            secs * 1e3 / n as f64,
            givens as f64 / n as f64,
            ratings[n / 2],
            ratings[n * 9 / 10],
            ratings[n - 1],
        );
        // Different seeds give different puzzles; the same seed the same ones.
        assert_ne!(puzzles[0].0, puzzles[1].0);
        assert_eq!(generate(&mut Rng::new(2024), 0, None).unwrap(), puzzles[0]);
    }

    #[test]
    fn max_blanks_and_min_rating_are_respected() {
        let mut rng = Rng::new(5);
        for _ in 0..50 {
            let (puzzle, solution, _) = generate(&mut rng, 0, Some(10)).unwrap();
            assert_eq!(puzzle.iter().filter(|&&d| d == 0).count(), 10);
            assert_eq!(count_solutions(&puzzle, 2), 1);
            assert!(is_valid_solution(&puzzle, &solution));
        }
        for _ in 0..5 {
            let (puzzle, _, rating) = generate(&mut rng, 4, None).unwrap();
            assert!(rating >= 4);
            assert_eq!(rate(&puzzle), rating);
        }
    }

    #[test]
    fn solves_every_tdoku_benchmark_puzzle() {
        let Some(dir) = crate::data::shared_data("sudoku/tdoku_benchmarks") else {
            return;
        };
        let (mut total, mut total_secs) = (0usize, 0f64);
        for name in TDOKU_FILES {
            let puzzles = read_list(&dir.join(name)).unwrap();
            assert!(
                puzzles.len() > 300,
                "{name}: only {} puzzles",
                puzzles.len()
            );
            let start = Instant::now();
            let solutions: Vec<_> = puzzles.iter().map(solve).collect();
            let secs = start.elapsed().as_secs_f64();
            for (i, (puzzle, solution)) in puzzles.iter().zip(&solutions).enumerate() {
                let solution = solution.unwrap_or_else(|| panic!("{name}: puzzle {i} unsolved"));
                assert!(is_valid_solution(puzzle, &solution), "{name}: puzzle {i}");
            }
            println!(
                "{name}: {} puzzles in {secs:.3} s ({:.0} puzzles/s)",
                puzzles.len(),
                puzzles.len() as f64 / secs
            );
            total += puzzles.len();
            total_secs += secs;
        }
        println!(
            "tdoku total: {total} puzzles in {total_secs:.2} s ({:.0} puzzles/s)",
            total as f64 / total_secs
        );
        assert!(total > 100_000, "expected ~110k tdoku puzzles, got {total}");
    }

    #[test]
    fn read_list_skips_comments_and_reports_bad_lines() {
        let dir = std::env::temp_dir().join(format!(
            "trm-sudoku-list-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("list.txt");
        let text = format!("# comment\n\n{PUZZLE} 17 trailing\r\n{SOLUTION}\n");
        std::fs::write(&path, text).unwrap();
        let list = read_list(&path).unwrap();
        assert_eq!(list, vec![parse(PUZZLE).unwrap(), parse(SOLUTION).unwrap()]);
        std::fs::write(&path, format!("{PUZZLE}\n{}\n", &PUZZLE[1..])).unwrap();
        let err = format!("{:#}", read_list(&path).unwrap_err());
        assert!(err.contains("list.txt:2"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shuffle_keeps_validity_and_changes_the_grid() {
        let mut rng = Rng::new(11);
        let puzzle = parse(PUZZLE).unwrap();
        let solution = parse(SOLUTION).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let (p, s) = shuffle(&puzzle, &solution, &mut rng);
            assert_ne!(p, puzzle);
            assert_ne!(s, solution);
            assert!(is_valid_solution(&p, &s));
            assert_eq!(count_solutions(&p, 2), 1);
            let blanks = |g: &[u8; 81]| g.iter().filter(|&&d| d == 0).count();
            assert_eq!(blanks(&p), blanks(&puzzle));
            seen.insert(p);
        }
        assert!(seen.len() > 190, "shuffles should rarely repeat");
    }

    #[test]
    fn shuffle_transposes_about_half_the_time() {
        // Band-preserving line orders keep the sorted per-row counts of givens; a transpose
        // turns them into the per-column counts, which differ for this puzzle.
        let counts = |g: &[u8; 81], by_row: bool| {
            let mut n: Vec<usize> = (0..9)
                .map(|i| {
                    let cell = |j: usize| if by_row { i * 9 + j } else { j * 9 + i };
                    (0..9).filter(|&j| g[cell(j)] != 0).count()
                })
                .collect();
            n.sort_unstable();
            n
        };
        let puzzle = parse(PUZZLE).unwrap();
        let solution = parse(SOLUTION).unwrap();
        let (rows, cols) = (counts(&puzzle, true), counts(&puzzle, false));
        assert_ne!(rows, cols);
        let mut rng = Rng::new(12);
        let mut transposed = 0;
        for _ in 0..400 {
            let (p, _) = shuffle(&puzzle, &solution, &mut rng);
            let c = counts(&p, true);
            assert!(c == rows || c == cols);
            transposed += usize::from(c == cols);
        }
        assert!((140..260).contains(&transposed), "{transposed} of 400");
    }

    #[test]
    fn tokens_round_trip() {
        let puzzle = parse(PUZZLE).unwrap();
        let solution = parse(SOLUTION).unwrap();
        let ex = to_example(&puzzle, &solution);
        assert_eq!(ex.inputs.len(), 81);
        assert_eq!(ex.puzzle_id, 0);
        assert_eq!(ex.inputs[0], 6, "digit 5 -> token 6");
        assert_eq!(ex.inputs[2], 1, "blank -> token 1");
        assert!(ex.labels.iter().all(|&t| (2..=10).contains(&t)));
        assert_eq!(from_tokens(&ex.inputs), Some(puzzle));
        assert_eq!(from_tokens(&ex.labels), Some(solution));
        assert_eq!(from_tokens(&[0; 81]), None);
        assert_eq!(from_tokens(&ex.inputs[1..]), None);
    }
}
