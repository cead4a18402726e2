//! ARC-AGI: Kaggle JSON loading, TRM's augmentations and 30x30 encoding, compact datasets, voting.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Result};
use serde::{Deserialize, Serialize};

use super::{inverse_dihedral, Example, PAD};
use crate::rng::Rng;

/// Side of the canvas every grid is placed on (ARC grids are at most 30x30).
pub const SIDE: usize = 30;
/// Tokens per input or label: the 30x30 canvas, row-major.
pub const SEQ_LEN: usize = SIDE * SIDE;
/// End-of-grid marker: the row below and the column right of a grid.
pub const EOS: u8 = 1;
/// Colour `c` (0..=9) is token `c + COLOUR_OFFSET`.
pub const COLOUR_OFFSET: u8 = 2;
/// Token vocabulary: PAD, EOS and the ten colours.
pub const VOCAB: usize = 12;
/// Random draws allowed per wanted augmentation before giving up on a task (official: 5).
const RETRIES_FACTOR: usize = 5;
/// Tag written into `dataset.json` so that other files are rejected on load.
const FORMAT: &str = "trm-arc-v1";
/// The file `ArcDataset::save` writes and `ArcDataset::load` reads.
pub const DATASET_FILE: &str = "dataset.json";

/// A grid of colours 0..=9, as a list of rows (all rows the same length).
pub type Grid = Vec<Vec<u8>>;
/// A colour permutation: colour `c` becomes `perm[c]`; colour 0 (black) always stays 0.
pub type ColourPerm = [u8; 10];
/// The colour permutation that changes nothing.
pub const IDENTITY_COLOURS: ColourPerm = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

/// One demonstration: an input grid and its output grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub input: Grid,
    pub output: Grid,
}

/// One test input and its output when the solutions file gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    pub input: Grid,
    pub output: Option<Grid>,
}

/// One ARC task as read from the Kaggle files: demonstrations and test cases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub subset: String,
    pub demos: Vec<Pair>,
    pub tests: Vec<TestCase>,
}

/// One augmented copy of a task: a dihedral transform `k` (as in `dihedral`), a colour
/// permutation, and the translation (row, column) of each of the task's training pairs, drawn
/// once at build time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augmentation {
    #[serde(rename = "k")]
    pub dihedral: u8,
    #[serde(rename = "perm")]
    pub colours: ColourPerm,
    /// Top-left (row, column) of both grids of each training pair on the canvas.
    #[serde(rename = "off")]
    pub offsets: Vec<[u8; 2]>,
}

/// A task in the built dataset: its grids once, whether its test inputs form the test set, and its
/// augmentations (the first is the identity). Each augmentation is one puzzle identifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArcTask {
    pub task: Task,
    pub is_test: bool,
    pub augmentations: Vec<Augmentation>,
}

impl ArcTask {
    /// The pairs the model trains on: the demonstrations, plus, for tasks outside the test subset,
    /// the test cases whose output is known.
    pub fn train_pairs(&self) -> impl Iterator<Item = (&Grid, &Grid)> + '_ {
        let demos = self.task.demos.iter().map(|p| (&p.input, &p.output));
        let solved = self
            .task
            .tests
            .iter()
            .filter(|_| !self.is_test)
            .filter_map(|t| t.output.as_ref().map(|out| (&t.input, out)));
        demos.chain(solved)
    }

    /// How many pairs `train_pairs` yields.
    pub fn train_pair_count(&self) -> usize {
        self.train_pairs().count()
    }
}

/// What `build` reads and how it augments (`trm data arc` flags).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildOptions {
    /// Subsets whose demonstrations and solved test pairs are trained on.
    pub train_subsets: Vec<String>,
    /// Subset whose test inputs form the test set; its demonstrations are always trained on too
    /// (the puzzle identifiers of its tasks must be learned), whether or not it is listed above.
    pub test_subset: String,
    /// Random augmentations per task, on top of the identity (official: 1000).
    pub augmentations: usize,
    pub seed: u64,
    /// Keep only the first N tasks (by id) of every subset, for small CPU-sized sets.
    pub max_tasks: Option<usize>,
}

impl Default for BuildOptions {
    /// The official ARC-AGI-1 recipe: training + evaluation + ConceptARC, tested on evaluation.
    fn default() -> Self {
        Self {
            train_subsets: vec!["training".into(), "evaluation".into(), "concept".into()],
            test_subset: "evaluation".into(),
            augmentations: 1000,
            seed: 42,
            max_tasks: None,
        }
    }
}

/// One test input as the model sees it under one augmentation of its task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestItem {
    /// Inputs: the augmented test input at the top-left; labels: the augmented solution, or all PAD
    /// when the solution is unknown. The puzzle id is the one the task's demonstrations train.
    pub example: Example,
    pub task: String,
    pub test_index: usize,
    /// Index into the task's augmentations (0 = identity).
    pub augmentation: usize,
}

/// Counts for a one-line report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub tasks: usize,
    pub test_tasks: usize,
    /// Augmented puzzles (task x transform, the identity included) = puzzle ids in use.
    pub augmentations: usize,
    /// Original training pairs, before augmentation.
    pub train_pairs: usize,
    pub train_examples: usize,
    pub test_inputs: usize,
    pub test_examples: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
        write!(
            f,
            "{} tasks ({} test), {} augmented puzzles, ",
            s.tasks, s.test_tasks, s.augmentations
        )?;
        write!(
            f,
            "{} train pairs -> {} train examples, {} test inputs -> {} test examples",
            s.train_pairs, s.train_examples, s.test_inputs, s.test_examples
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the Kaggle files

/// A grid as written in the JSON files, before validation.
type RawGrid = Vec<Vec<i64>>;

#[derive(Deserialize)]
struct RawPair {
    input: RawGrid,
    output: RawGrid,
}

#[derive(Deserialize)]
struct RawTest {
    input: RawGrid,
}

#[derive(Deserialize)]
struct RawTask {
    train: Vec<RawPair>,
    test: Vec<RawTest>,
}

/// Why a grid is not a valid ARC grid (non-empty, rectangular, at most 30x30, colours 0..=9).
fn grid_problem<T: Copy + Into<i64>>(grid: &[Vec<T>]) -> Option<String> {
    let rows = grid.len();
    let cols = grid.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Some("empty grid".into());
    }
    if rows > SIDE || cols > SIDE {
        return Some(format!("{rows}x{cols} grid (at most {SIDE}x{SIDE})"));
    }
    for (r, row) in grid.iter().enumerate() {
        if row.len() != cols {
            return Some(format!("row {r} has {} cells, row 0 has {cols}", row.len()));
        }
        if let Some((c, &v)) = row
            .iter()
            .enumerate()
            .find(|(_, &v)| !(0..=9).contains(&v.into()))
        {
            return Some(format!(
                "value {} at row {r} col {c} is not a colour 0..9",
                v.into()
            ));
        }
    }
    None
}

/// A validated grid; `what` names it in the error (file, task, pair).
fn to_grid(raw: RawGrid, what: &dyn Fn() -> String) -> Result<Grid> {
    if let Some(problem) = grid_problem(&raw) {
        bail!("{}: {problem}", what());
    }
    Ok(raw
        .into_iter()
        .map(|row| row.into_iter().map(|v| v as u8).collect())
        .collect())
}

/// Reads and parses one JSON file, naming it in every error; `layout` names what it should hold.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, layout: &str) -> Result<T> {
    let text = fs::read(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| {
        if e.is_data() {
            anyhow!("{}: not {layout}: {e}", path.display())
        } else {
            anyhow!("{}: malformed JSON: {e}", path.display())
        }
    })
}

/// The challenges file of a subset.
pub fn challenges_path(dir: &Path, subset: &str) -> PathBuf {
    dir.join(format!("arc-agi_{subset}_challenges.json"))
}

/// The solutions file of a subset.
pub fn solutions_path(dir: &Path, subset: &str) -> PathBuf {
    dir.join(format!("arc-agi_{subset}_solutions.json"))
}

/// Loads one subset (`arc-agi_{subset}_challenges.json`, plus `..._solutions.json` when it exists),
/// tasks sorted by id. Every grid is checked; a solutions file must cover every test input exactly.
pub fn load_subset(dir: &Path, subset: &str) -> Result<Vec<Task>> {
    let ch_path = challenges_path(dir, subset);
    let raw: BTreeMap<String, RawTask> =
        read_json(&ch_path, "in the Kaggle ARC challenges layout")?;
    let sol_path = solutions_path(dir, subset);
    let mut solutions: Option<BTreeMap<String, Vec<RawGrid>>> = if sol_path.exists() {
        Some(read_json(&sol_path, "in the Kaggle ARC solutions layout")?)
    } else {
        None
    };
    let (ch, so) = (ch_path.display(), sol_path.display());
    if let Some(unknown) = solutions
        .iter()
        .flat_map(|s| s.keys())
        .find(|k| !raw.contains_key(*k))
    {
        bail!("{so}: solutions for task {unknown}, which {ch} lacks");
    }
    let mut tasks = Vec::with_capacity(raw.len());
    for (id, task) in raw {
        let mut demos = Vec::with_capacity(task.train.len());
        for (i, pair) in task.train.into_iter().enumerate() {
            demos.push(Pair {
                input: to_grid(pair.input, &|| {
                    format!("{ch}: task {id} train pair {i} input")
                })?,
                output: to_grid(pair.output, &|| {
                    format!("{ch}: task {id} train pair {i} output")
                })?,
            });
        }
        let outputs: Vec<Option<RawGrid>> = match solutions.as_mut() {
            None => task.test.iter().map(|_| None).collect(),
            Some(sol) => {
                let grids = sol
                    .remove(&id)
                    .ok_or_else(|| anyhow!("{so}: no solutions for task {id}"))?;
                ensure!(
                    grids.len() == task.test.len(),
                    "{so}: task {id} has {} solutions for {} test inputs",
                    grids.len(),
                    task.test.len()
                );
                grids.into_iter().map(Some).collect()
            }
        };
        let mut tests = Vec::with_capacity(task.test.len());
        for (i, (test, output)) in task.test.into_iter().zip(outputs).enumerate() {
            let input = to_grid(test.input, &|| format!("{ch}: task {id} test {i} input"))?;
            let output = match output {
                Some(g) => Some(to_grid(g, &|| {
                    format!("{so}: task {id} test {i} solution")
                })?),
                None => None,
            };
            tests.push(TestCase { input, output });
        }
        tasks.push(Task {
            id,
            subset: subset.to_string(),
            demos,
            tests,
        });
    }
    Ok(tasks)
}

// ---------------------------------------------------------------------------------------------
// Grid transforms

/// Rows and columns of a grid (columns of its first row).
fn dims(grid: &[Vec<u8>]) -> (usize, usize) {
    (grid.len(), grid.first().map_or(0, Vec::len))
}

/// Shape of a `rows x cols` grid after dihedral transform `k`.
fn dihedral_dims(rows: usize, cols: usize, k: u8) -> (usize, usize) {
    if (k >= 4) ^ (k & 1 == 1) {
        (cols, rows)
    } else {
        (rows, cols)
    }
}

/// The source cell of output cell (r, c) when dihedral transform `k` is applied to a
/// `rows x cols` grid: transpose first when k >= 4 (giving B), then k & 3 clockwise quarter turns.
fn dihedral_source(rows: usize, cols: usize, k: u8, r: usize, c: usize) -> (usize, usize) {
    let (hb, wb) = if k >= 4 { (cols, rows) } else { (rows, cols) };
    let (i, j) = match k & 3 {
        0 => (r, c),
        1 => (hb - 1 - c, r),
        2 => (hb - 1 - r, wb - 1 - c),
        _ => (c, wb - 1 - r),
    };
    if k >= 4 {
        (j, i)
    } else {
        (i, j)
    }
}

/// Dihedral transform `k` (0..8) of a rectangular grid, the same convention as the square
/// `dihedral`: k & 3 clockwise quarter turns, k >= 4 transposes first. A rows x cols grid becomes
/// cols x rows for k = 1, 3, 4 and 6.
pub fn dihedral_grid(grid: &[Vec<u8>], k: u8) -> Grid {
    let (rows, cols) = dims(grid);
    let (out_rows, out_cols) = dihedral_dims(rows, cols, k);
    (0..out_rows)
        .map(|r| {
            (0..out_cols)
                .map(|c| {
                    let (i, j) = dihedral_source(rows, cols, k, r, c);
                    grid.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0)
                })
                .collect()
        })
        .collect()
}

/// Recolours a grid: colour `c` becomes `perm[c]` (values above 9 are kept).
fn recolour(grid: &[Vec<u8>], perm: &ColourPerm) -> Grid {
    grid.iter()
        .map(|row| {
            row.iter()
                .map(|&v| perm.get(v as usize).copied().unwrap_or(v))
                .collect()
        })
        .collect()
}

/// The permutation that undoes `perm` (entries that are not a permutation map to themselves).
fn inverse_colours(perm: &ColourPerm) -> ColourPerm {
    let mut inv = IDENTITY_COLOURS;
    for (c, &p) in perm.iter().enumerate() {
        if let Some(slot) = inv.get_mut(p as usize) {
            *slot = c as u8;
        }
    }
    inv
}

/// Applies an augmentation to a grid: recolour, then dihedral transform `k`.
pub fn augment(grid: &[Vec<u8>], k: u8, colours: &ColourPerm) -> Grid {
    dihedral_grid(&recolour(grid, colours), k)
}

/// Undoes `augment(_, k, colours)`: inverse dihedral transform, then inverse colour permutation.
pub fn undo_augmentation(grid: &[Vec<u8>], k: u8, colours: &ColourPerm) -> Grid {
    recolour(
        &dihedral_grid(grid, inverse_dihedral(k)),
        &inverse_colours(colours),
    )
}

/// Why a colour permutation is invalid (colour 0 must stay, 1..=9 must be permuted).
fn colours_problem(perm: &ColourPerm) -> Option<String> {
    let mut sorted = *perm;
    sorted.sort_unstable();
    if perm[0] != 0 || sorted != IDENTITY_COLOURS {
        return Some(format!(
            "{perm:?} is not a permutation of colours 1..9 fixing 0"
        ));
    }
    None
}

/// A uniformly random dihedral transform and colour permutation (colour 0 fixed).
fn random_transform(rng: &mut Rng) -> (u8, ColourPerm) {
    let k = rng.below(8) as u8;
    let mut perm = IDENTITY_COLOURS;
    for i in (2..=9).rev() {
        let j = 1 + rng.below(i as u64) as usize;
        perm.swap(i, j);
    }
    (k, perm)
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding

/// Encodes a grid on the 30x30 canvas with its top-left cell at (row, col): colour c -> c + 2, EOS
/// on the row below the grid (its columns only) and on the column right of it (its rows only),
/// each only when inside the canvas; the rest PAD. Cells falling outside the canvas are dropped.
pub fn encode_grid(grid: &[Vec<u8>], row: usize, col: usize) -> Vec<u8> {
    let mut tokens = vec![PAD; SEQ_LEN];
    let mut put = |r: usize, c: usize, token: u8| {
        if r < SIDE && c < SIDE {
            tokens[r * SIDE + c] = token;
        }
    };
    for (r, line) in grid.iter().enumerate() {
        for (c, &v) in line.iter().enumerate() {
            put(row + r, col + c, v.saturating_add(COLOUR_OFFSET));
        }
    }
    let (rows, cols) = dims(grid);
    let (eos_row, eos_col) = (row + rows, col + cols);
    for c in col..eos_col {
        put(eos_row, c, EOS);
    }
    for r in row..eos_row {
        put(r, eos_col, EOS);
    }
    tokens
}

/// Decodes a predicted 30x30 canvas as the official evaluator crops it: of all rectangles at (0, 0)
/// whose cells are all colour tokens, the largest (ties: the first found, scanning rows down).
/// Colour tokens become colours 0..=9. None when there are not 900 tokens or no colour cell at
/// (0, 0).
pub fn decode_grid(tokens: &[u8]) -> Option<Grid> {
    if tokens.len() != SEQ_LEN {
        return None;
    }
    let is_colour = |t: u8| (COLOUR_OFFSET..COLOUR_OFFSET + 10).contains(&t);
    let (mut width, mut best_area, mut best) = (SIDE, 0, (0, 0));
    for rows in 1..=SIDE {
        let line = &tokens[(rows - 1) * SIDE..rows * SIDE];
        width = line[..width]
            .iter()
            .position(|&t| !is_colour(t))
            .unwrap_or(width);
        if width == 0 {
            break;
        }
        if rows * width > best_area {
            best_area = rows * width;
            best = (rows, width);
        }
    }
    if best_area == 0 {
        return None;
    }
    let grid = (0..best.0)
        .map(|r| {
            tokens[r * SIDE..r * SIDE + best.1]
                .iter()
                .map(|&t| t - COLOUR_OFFSET)
                .collect()
        })
        .collect();
    Some(grid)
}

// ---------------------------------------------------------------------------------------------
// Building

/// FNV-1a hash of a task id: seeds each task's random stream independently of the others.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Appends the shape and cells of `augment(grid, k, colours)` to `out` (for `content_key`).
fn push_augmented(out: &mut Vec<u8>, grid: &[Vec<u8>], k: u8, colours: &ColourPerm) {
    let (rows, cols) = dims(grid);
    let (out_rows, out_cols) = dihedral_dims(rows, cols, k);
    out.extend([out_rows as u8, out_cols as u8]);
    for r in 0..out_rows {
        for c in 0..out_cols {
            let (i, j) = dihedral_source(rows, cols, k, r, c);
            let v = grid.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0);
            out.push(colours.get(v as usize).copied().unwrap_or(v));
        }
    }
}

/// The augmented content of a whole task (every demonstration and test case, known outputs
/// included), pairs sorted: two transforms with equal keys give the same puzzle (official dedup).
fn content_key(task: &Task, k: u8, colours: &ColourPerm) -> Vec<u8> {
    let demos = task.demos.iter().map(|p| (&p.input, Some(&p.output)));
    let tests = task.tests.iter().map(|t| (&t.input, t.output.as_ref()));
    let mut pairs: Vec<Vec<u8>> = demos
        .chain(tests)
        .map(|(input, output)| {
            let mut bytes = Vec::new();
            push_augmented(&mut bytes, input, k, colours);
            if let Some(output) = output {
                push_augmented(&mut bytes, output, k, colours);
            }
            bytes
        })
        .collect();
    pairs.sort_unstable();
    pairs.concat()
}

/// The identity plus up to `count` random transforms of a task whose augmented content differs
/// from all earlier ones; gives up after `RETRIES_FACTOR * count` draws (as the official code).
fn draw_transforms(task: &Task, count: usize, rng: &mut Rng) -> Vec<(u8, ColourPerm)> {
    let mut transforms = vec![(0, IDENTITY_COLOURS)];
    let mut seen = HashSet::from([content_key(task, 0, &IDENTITY_COLOURS)]);
    for _ in 0..RETRIES_FACTOR * count {
        if transforms.len() > count {
            break;
        }
        let (k, perm) = random_transform(rng);
        if seen.insert(content_key(task, k, &perm)) {
            transforms.push((k, perm));
        }
    }
    transforms
}

/// Random translations for the training pairs of one augmentation: each pair at an offset where
/// both its (transformed) grids fit on the canvas, except one random pair kept at (0, 0).
fn draw_offsets(task: &ArcTask, k: u8, rng: &mut Rng) -> Vec<[u8; 2]> {
    let shapes: Vec<(usize, usize)> = task
        .train_pairs()
        .map(|(input, output)| {
            let (ri, ci) = dims(input);
            let (ro, co) = dims(output);
            dihedral_dims(ri.max(ro), ci.max(co), k)
        })
        .collect();
    let untranslated = rng.below(shapes.len() as u64) as usize;
    shapes
        .iter()
        .enumerate()
        .map(|(i, &(rows, cols))| {
            if i == untranslated {
                return [0, 0];
            }
            let r = rng.below((SIDE + 1 - rows) as u64) as u8;
            let c = rng.below((SIDE + 1 - cols) as u64) as u8;
            [r, c]
        })
        .collect()
}

/// Augmentations for one task, from a random stream seeded by the build seed and the task id.
fn augment_task(task: Task, is_test: bool, opts: &BuildOptions) -> ArcTask {
    let mut rng = Rng::new(opts.seed ^ fnv1a(&task.id));
    let transforms = draw_transforms(&task, opts.augmentations, &mut rng);
    let mut arc = ArcTask {
        task,
        is_test,
        augmentations: Vec::with_capacity(transforms.len()),
    };
    for (k, colours) in transforms {
        let offsets = draw_offsets(&arc, k, &mut rng);
        arc.augmentations.push(Augmentation {
            dihedral: k,
            colours,
            offsets,
        });
    }
    arc
}

/// Builds the augmented ARC dataset from the Kaggle files in `input_dir`.
///
/// Follows the official `build_arc_dataset.py`, with these differences: tasks are taken in subset
/// order and id order (not shuffled); `max_tasks` keeps the first N tasks of each subset; the
/// random stream is ours (SplitMix64 per task), so the draws differ from numpy's; a training
/// subset without a solutions file contributes only its demonstrations (the official code trains
/// on a dummy `[[0]]` output); the official second test set name (`evaluation2`) is not used.
/// Like the official code: augmentations whose augmented task equals an earlier one are redrawn
/// (so a task using few colours may get fewer than `augmentations`), the identity is always the
/// first, and in every augmentation one random training pair stays untranslated.
pub fn build(input_dir: &Path, opts: &BuildOptions) -> Result<ArcDataset> {
    let mut subsets: Vec<&str> = Vec::new();
    for s in opts.train_subsets.iter().chain([&opts.test_subset]) {
        if !subsets.contains(&s.as_str()) {
            subsets.push(s);
        }
    }
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut tasks = Vec::new();
    for subset in subsets {
        let mut loaded = load_subset(input_dir, subset)?;
        if let Some(max) = opts.max_tasks {
            loaded.truncate(max);
        }
        for task in loaded {
            if let Some(other) = owner.insert(task.id.clone(), subset.to_string()) {
                bail!("task {} is in both subsets {other} and {subset}", task.id);
            }
            let is_test = subset == opts.test_subset;
            tasks.push(augment_task(task, is_test, opts));
        }
    }
    ensure!(
        tasks.iter().any(|t| t.is_test),
        "test subset {} has no tasks",
        opts.test_subset
    );
    ArcDataset::new(opts.clone(), tasks)
}

// ---------------------------------------------------------------------------------------------
// The dataset

/// The built dataset: original grids once per task plus the augmentation list; examples are
/// materialised on demand. Puzzle ids: 0 is "none"; the augmentations of the tasks, in order,
/// get 1, 2, 3, ...
#[derive(Clone, Debug)]
pub struct ArcDataset {
    options: BuildOptions,
    tasks: Vec<ArcTask>,
    /// Puzzle id of each task's identity augmentation.
    first_id: Vec<u32>,
    /// Cumulative training examples before each task (one more entry than tasks).
    train_start: Vec<usize>,
    /// Cumulative test examples before each task (one more entry than tasks).
    test_start: Vec<usize>,
    /// Task index by id.
    by_id: HashMap<String, usize>,
}

/// What `dataset.json` holds.
#[derive(Serialize, Deserialize)]
struct Stored<T> {
    format: String,
    options: BuildOptions,
    tasks: T,
}

/// Why an augmentation cannot be applied to its task.
fn augmentation_problem(task: &ArcTask, aug: &Augmentation) -> Option<String> {
    if aug.dihedral >= 8 {
        return Some(format!("dihedral transform {} (0..8)", aug.dihedral));
    }
    if let Some(problem) = colours_problem(&aug.colours) {
        return Some(problem);
    }
    let pairs = task.train_pair_count();
    if aug.offsets.len() != pairs {
        return Some(format!(
            "{} offsets for {pairs} training pairs",
            aug.offsets.len()
        ));
    }
    for ((input, output), [r, c]) in task.train_pairs().zip(&aug.offsets) {
        for grid in [input, output] {
            let (rows, cols) = dihedral_dims(dims(grid).0, dims(grid).1, aug.dihedral);
            if *r as usize + rows > SIDE || *c as usize + cols > SIDE {
                return Some(format!(
                    "offset ({r}, {c}) puts a {rows}x{cols} grid off the canvas"
                ));
            }
        }
    }
    None
}

/// Why a stored task is unusable (bad grids or augmentations).
fn task_problem(task: &ArcTask) -> Option<String> {
    let t = &task.task;
    let grids = t.demos.iter().flat_map(|p| [&p.input, &p.output]).chain(
        t.tests
            .iter()
            .flat_map(|c| std::iter::once(&c.input).chain(&c.output)),
    );
    if let Some(problem) = grids.filter_map(|g| grid_problem(g)).next() {
        return Some(problem);
    }
    if task.augmentations.is_empty() {
        return Some("no augmentations (the identity is required)".into());
    }
    task.augmentations
        .iter()
        .enumerate()
        .find_map(|(i, a)| augmentation_problem(task, a).map(|p| format!("augmentation {i}: {p}")))
}

impl ArcDataset {
    /// Checks every task and computes the indices.
    fn new(options: BuildOptions, tasks: Vec<ArcTask>) -> Result<Self> {
        let mut first_id = Vec::with_capacity(tasks.len());
        let mut train_start = vec![0];
        let mut test_start = vec![0];
        let mut by_id = HashMap::new();
        let mut next_id: u64 = 1;
        for (i, task) in tasks.iter().enumerate() {
            let id = &task.task.id;
            if let Some(problem) = task_problem(task) {
                bail!("task {id}: {problem}");
            }
            ensure!(
                by_id.insert(id.clone(), i).is_none(),
                "task {id} appears twice"
            );
            first_id.push(u32::try_from(next_id).map_err(|_| anyhow!("too many puzzle ids"))?);
            let augs = task.augmentations.len();
            next_id += augs as u64;
            train_start.push(train_start[i] + augs * task.train_pair_count());
            let tests = if task.is_test {
                task.task.tests.len()
            } else {
                0
            };
            test_start.push(test_start[i] + augs * tests);
        }
        ensure!(next_id <= u32::MAX as u64, "too many puzzle ids");
        Ok(Self {
            options,
            tasks,
            first_id,
            train_start,
            test_start,
            by_id,
        })
    }

    /// Writes `dataset.json` into `out_dir` (created if needed) via a temporary file and a rename.
    pub fn save(&self, out_dir: &Path) -> Result<()> {
        fs::create_dir_all(out_dir)
            .map_err(|e| anyhow!("cannot create {}: {e}", out_dir.display()))?;
        let path = out_dir.join(DATASET_FILE);
        let tmp = out_dir.join(format!("{DATASET_FILE}.tmp"));
        let stored = Stored {
            format: FORMAT.to_string(),
            options: self.options.clone(),
            tasks: &self.tasks,
        };
        let bytes = serde_json::to_vec(&stored)
            .map_err(|e| anyhow!("cannot serialise {}: {e}", path.display()))?;
        fs::write(&tmp, bytes).map_err(|e| anyhow!("cannot write {}: {e}", tmp.display()))?;
        fs::rename(&tmp, &path).map_err(|e| anyhow!("cannot rename to {}: {e}", path.display()))
    }

    /// Reads `dataset.json` from `dir` and checks it.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(DATASET_FILE);
        let stored: Stored<Vec<ArcTask>> = read_json(&path, "an ARC dataset")?;
        ensure!(
            stored.format == FORMAT,
            "{}: format {:?}, expected {FORMAT:?}",
            path.display(),
            stored.format
        );
        Self::new(stored.options, stored.tasks).map_err(|e| anyhow!("{}: {e}", path.display()))
    }

    /// The options the dataset was built with.
    pub fn options(&self) -> &BuildOptions {
        &self.options
    }

    /// The tasks, in puzzle-id order.
    pub fn tasks(&self) -> &[ArcTask] {
        &self.tasks
    }

    /// Puzzle identifiers including the blank 0 (the size of the puzzle embedding table).
    pub fn num_puzzle_ids(&self) -> usize {
        1 + self
            .tasks
            .iter()
            .map(|t| t.augmentations.len())
            .sum::<usize>()
    }

    /// The puzzle id of augmentation `augmentation` of task number `task`.
    pub fn puzzle_id(&self, task: usize, augmentation: usize) -> u32 {
        self.first_id[task] + augmentation as u32
    }

    /// Training examples: every (task, augmentation, training pair).
    pub fn train_len(&self) -> usize {
        self.train_start.last().copied().unwrap_or(0)
    }

    /// Training example `i` (task-major, then augmentation, then pair): the augmented pair at its
    /// drawn translation. Panics if `i >= train_len()`, like slice indexing.
    pub fn train_example(&self, i: usize) -> Example {
        assert!(
            i < self.train_len(),
            "training example {i} of {}",
            self.train_len()
        );
        let t = self.train_start.partition_point(|&s| s <= i) - 1;
        let task = &self.tasks[t];
        let local = i - self.train_start[t];
        let pairs = task.train_pair_count();
        let (a, p) = (local / pairs, local % pairs);
        let aug = &task.augmentations[a];
        let (input, output) = task.train_pairs().nth(p).expect("pair index within count");
        let [r, c] = aug.offsets[p];
        Example {
            inputs: encode_grid(
                &augment(input, aug.dihedral, &aug.colours),
                r as usize,
                c as usize,
            ),
            labels: encode_grid(
                &augment(output, aug.dihedral, &aug.colours),
                r as usize,
                c as usize,
            ),
            puzzle_id: self.puzzle_id(t, a),
        }
    }

    /// Test examples: every (test task, augmentation, test input).
    pub fn test_len(&self) -> usize {
        self.test_start.last().copied().unwrap_or(0)
    }

    /// Test item `i` (task-major, then augmentation, then test input); not translated.
    /// Panics if `i >= test_len()`, like slice indexing.
    pub fn test_item(&self, i: usize) -> TestItem {
        assert!(
            i < self.test_len(),
            "test example {i} of {}",
            self.test_len()
        );
        let t = self.test_start.partition_point(|&s| s <= i) - 1;
        let task = &self.tasks[t];
        let local = i - self.test_start[t];
        let tests = task.task.tests.len();
        let (a, j) = (local / tests, local % tests);
        let aug = &task.augmentations[a];
        let case = &task.task.tests[j];
        let labels = match &case.output {
            Some(out) => encode_grid(&augment(out, aug.dihedral, &aug.colours), 0, 0),
            None => vec![PAD; SEQ_LEN],
        };
        TestItem {
            example: Example {
                inputs: encode_grid(&augment(&case.input, aug.dihedral, &aug.colours), 0, 0),
                labels,
                puzzle_id: self.puzzle_id(t, a),
            },
            task: task.task.id.clone(),
            test_index: j,
            augmentation: a,
        }
    }

    /// All test items (`test_len()` of them; for the full 1000-augmentation set that is
    /// ~440k items, ~0.8 GB: prefer `test_item` in batches there).
    pub fn test_items(&self) -> Vec<TestItem> {
        (0..self.test_len()).map(|i| self.test_item(i)).collect()
    }

    /// A task by id.
    pub fn task(&self, id: &str) -> Option<&ArcTask> {
        self.by_id.get(id).map(|&i| &self.tasks[i])
    }

    /// The original (un-augmented) output of a test input, when known.
    pub fn test_solution(&self, task: &str, test_index: usize) -> Option<&Grid> {
        self.task(task)?.task.tests.get(test_index)?.output.as_ref()
    }

    /// Counts for the CLI report.
    pub fn summary(&self) -> Summary {
        let test_tasks = self.tasks.iter().filter(|t| t.is_test);
        Summary {
            tasks: self.tasks.len(),
            test_tasks: test_tasks.clone().count(),
            augmentations: self.num_puzzle_ids() - 1,
            train_pairs: self.tasks.iter().map(ArcTask::train_pair_count).sum(),
            train_examples: self.train_len(),
            test_inputs: test_tasks.map(|t| t.task.tests.len()).sum(),
            test_examples: self.test_len(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Voting

/// One model output for one test item.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub task: String,
    pub test_index: usize,
    /// Index into the task's augmentations (`TestItem::augmentation`).
    pub augmentation: usize,
    /// The predicted 900 label tokens.
    pub tokens: Vec<u8>,
    /// Halting probability: sigmoid of the halting logit (the official evaluator averages this).
    pub q: f64,
}

/// One distinct (un-augmented) answer grid and its support.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub grid: Grid,
    pub votes: usize,
    pub mean_q: f64,
}

/// The ranked answers for one test input of one task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskVote {
    pub task: String,
    pub test_index: usize,
    /// Best first: most votes, then highest mean q, then first seen.
    pub candidates: Vec<Candidate>,
    /// Predictions with no decodable grid (no colour cell at the top-left).
    pub undecodable: usize,
}

/// Votes over augmentations, as the official evaluator: each prediction is decoded (`decode_grid`),
/// its augmentation undone, identical grids per (task, test input) pooled. Results are sorted by
/// (task, test input). Errors on a prediction naming an unknown task, test input or augmentation.
pub fn vote(data: &ArcDataset, predictions: &[Prediction]) -> Result<Vec<TaskVote>> {
    let mut tallies: BTreeMap<(String, usize), Tally> = BTreeMap::new();
    for p in predictions {
        let task = data
            .task(&p.task)
            .ok_or_else(|| anyhow!("prediction for unknown task {}", p.task))?;
        let tests = task.task.tests.len();
        ensure!(
            p.test_index < tests,
            "prediction for task {} test {}: it has {tests} test inputs",
            p.task,
            p.test_index
        );
        let augs = task.augmentations.len();
        let aug = task.augmentations.get(p.augmentation).ok_or_else(|| {
            let (t, a) = (&p.task, p.augmentation);
            anyhow!("prediction for task {t} augmentation {a}: it has {augs}")
        })?;
        let tally = tallies.entry((p.task.clone(), p.test_index)).or_default();
        match decode_grid(&p.tokens) {
            Some(grid) => tally.add(undo_augmentation(&grid, aug.dihedral, &aug.colours), p.q),
            None => tally.undecodable += 1,
        }
    }
    let votes = tallies
        .into_iter()
        .map(|((task, test_index), tally)| tally.ranked(task, test_index))
        .collect();
    Ok(votes)
}

/// Running counts for one test input while voting.
#[derive(Default)]
struct Tally {
    /// Distinct grids in the order first seen, with their vote counts and q sums.
    grids: Vec<(Grid, usize, f64)>,
    index: HashMap<Grid, usize>,
    undecodable: usize,
}

impl Tally {
    /// One vote for `grid` with confidence `q`.
    fn add(&mut self, grid: Grid, q: f64) {
        let next = self.grids.len();
        let at = *self.index.entry(grid.clone()).or_insert(next);
        if at == next {
            self.grids.push((grid, 0, 0.0));
        }
        self.grids[at].1 += 1;
        self.grids[at].2 += q;
    }

    /// The candidates, best first: votes desc, mean q desc, first seen (the sort is stable).
    fn ranked(self, task: String, test_index: usize) -> TaskVote {
        let mut candidates: Vec<Candidate> = self
            .grids
            .into_iter()
            .map(|(grid, votes, q_sum)| Candidate {
                grid,
                votes,
                mean_q: q_sum / votes as f64,
            })
            .collect();
        candidates.sort_by(|a, b| b.votes.cmp(&a.votes).then(b.mean_q.total_cmp(&a.mean_q)));
        TaskVote {
            task,
            test_index,
            candidates,
            undecodable: self.undecodable,
        }
    }
}

/// The paper's ARC score (the official evaluator's "top-k"): for each test task, the fraction of
/// its test inputs whose true output is among the top `k` candidates, averaged over the test
/// tasks. Test inputs without a known solution are left out, and so are tasks with none known; a
/// test input without any vote counts as wrong. 0 when nothing can be scored.
pub fn pass_at_k(votes: &[TaskVote], data: &ArcDataset, k: usize) -> f64 {
    let by_key: HashMap<(&str, usize), &TaskVote> = votes
        .iter()
        .map(|v| ((v.task.as_str(), v.test_index), v))
        .collect();
    let (mut total, mut scored) = (0.0, 0usize);
    for task in data.tasks.iter().filter(|t| t.is_test) {
        let known: Vec<(usize, &Grid)> = (task.task.tests.iter().enumerate())
            .filter_map(|(i, t)| t.output.as_ref().map(|g| (i, g)))
            .collect();
        if known.is_empty() {
            continue;
        }
        let hits = known
            .iter()
            .filter(|(i, solution)| {
                by_key
                    .get(&(task.task.id.as_str(), *i))
                    .is_some_and(|v| v.candidates.iter().take(k).any(|c| &&c.grid == solution))
            })
            .count();
        total += hits as f64 / known.len() as f64;
        scored += 1;
    }
    if scored == 0 {
        0.0
    } else {
        total / scored as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::dihedral;
    use serde_json::{json, Value};
    use std::process::Command;
    use std::time::{SystemTime, UNIX_EPOCH};

    /// The shared Kaggle-format ARC folder, or None (the test then skips with a note).
    fn kaggle_dir() -> Option<PathBuf> {
        crate::data::shared_data("arc/kaggle-combined/arc-agi_training_challenges.json")?;
        crate::data::shared_data("arc/kaggle-combined")
    }

    /// A unique temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir =
                std::env::temp_dir().join(format!("trm-arc-{name}-{}-{nanos}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Writes a subset's challenges (and solutions, if given) in the Kaggle layout.
    fn write_subset(dir: &Path, subset: &str, challenges: &Value, solutions: Option<&Value>) {
        fs::write(challenges_path(dir, subset), challenges.to_string()).unwrap();
        if let Some(sol) = solutions {
            fs::write(solutions_path(dir, subset), sol.to_string()).unwrap();
        }
    }

    /// One task in the Kaggle challenges layout.
    fn task_json(demos: &[(&Grid, &Grid)], tests: &[&Grid]) -> Value {
        let train: Vec<Value> = demos
            .iter()
            .map(|(i, o)| json!({"input": i, "output": o}))
            .collect();
        let test: Vec<Value> = tests.iter().map(|i| json!({ "input": i })).collect();
        json!({"train": train, "test": test})
    }

    /// A grid from string rows of digits.
    fn grid(rows: &[&str]) -> Grid {
        rows.iter()
            .map(|r| r.bytes().map(|b| b - b'0').collect())
            .collect()
    }

    /// The canvas moved so that (row, col) becomes the top-left (what a translation undoes).
    fn shift_to_origin(tokens: &[u8], row: usize, col: usize) -> Vec<u8> {
        let mut out = vec![PAD; SEQ_LEN];
        for r in row..SIDE {
            for c in col..SIDE {
                out[(r - row) * SIDE + c - col] = tokens[r * SIDE + c];
            }
        }
        out
    }

    /// The error message of a failed result, context included.
    fn err<T: fmt::Debug>(result: Result<T>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn real_arc_agi_1_subsets_load_with_valid_grids() {
        let Some(dir) = kaggle_dir() else {
            return;
        };
        for subset in ["training", "evaluation"] {
            let tasks = load_subset(&dir, subset).unwrap();
            assert_eq!(tasks.len(), 400, "{subset}");
            for task in &tasks {
                let grids = task
                    .demos
                    .iter()
                    .flat_map(|p| [&p.input, &p.output])
                    .chain(task.tests.iter().map(|t| &t.input))
                    .chain(task.tests.iter().map(|t| t.output.as_ref().unwrap()));
                for g in grids {
                    let (rows, cols) = dims(g);
                    assert!(
                        (1..=30).contains(&rows) && (1..=30).contains(&cols),
                        "{}",
                        task.id
                    );
                    assert!(g
                        .iter()
                        .all(|r| r.len() == cols && r.iter().all(|&v| v <= 9)));
                }
            }
        }
    }

    #[test]
    fn python_written_kaggle_files_load_exactly() {
        let tmp = TempDir::new("python");
        let script = r#"
import json, os, sys
d = sys.argv[1]
ch = {
    "b2": {"train": [{"input": [[1, 2, 3], [4, 5, 6]], "output": [[9]]},
                     {"input": [[0]], "output": [[7, 7], [8, 8]]}],
           "test": [{"input": [[3, 0], [0, 3], [1, 1]]}]},
    "a1": {"train": [{"input": [[5]], "output": [[6]]}],
           "test": [{"input": [[2, 2, 2]]}, {"input": [[4], [4]]}]},
}
so = {"b2": [[[0, 1], [1, 0]]], "a1": [[[9, 9, 9]], [[8], [8]]]}
json.dump(ch, open(os.path.join(d, "arc-agi_mini_challenges.json"), "w"))
json.dump(so, open(os.path.join(d, "arc-agi_mini_solutions.json"), "w"))
"#;
        let status = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&tmp.0)
            .status()
            .unwrap_or_else(|e| panic!("this test needs python3 on PATH: {e}"));
        assert!(status.success(), "python3 failed to write the files");
        let tasks = load_subset(&tmp.0, "mini").unwrap();
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a1", "b2"], "sorted by id");
        let (a1, b2) = (&tasks[0], &tasks[1]);
        assert_eq!(a1.subset, "mini");
        assert_eq!(
            a1.demos,
            [Pair {
                input: grid(&["5"]),
                output: grid(&["6"])
            }]
        );
        assert_eq!(a1.tests[0].input, grid(&["222"]));
        assert_eq!(a1.tests[0].output, Some(grid(&["999"])));
        assert_eq!(a1.tests[1].input, grid(&["4", "4"]));
        assert_eq!(a1.tests[1].output, Some(grid(&["8", "8"])));
        assert_eq!(b2.demos[0].input, grid(&["123", "456"]));
        assert_eq!(b2.demos[0].output, grid(&["9"]));
        assert_eq!(b2.demos[1].input, grid(&["0"]));
        assert_eq!(b2.demos[1].output, grid(&["77", "88"]));
        assert_eq!(b2.tests[0].input, grid(&["30", "03", "11"]));
        assert_eq!(b2.tests[0].output, Some(grid(&["01", "10"])));
    }

    #[test]
    fn encode_puts_eos_where_expected_and_decode_inverts() {
        // 2x3 at the top-left: EOS row 2 over columns 0..3, EOS column 3 over rows 0..2.
        let g = grid(&["012", "345"]);
        let tokens = encode_grid(&g, 0, 0);
        let mut expected = vec![PAD; SEQ_LEN];
        expected[..3].copy_from_slice(&[2, 3, 4]);
        expected[30..33].copy_from_slice(&[5, 6, 7]);
        expected[3] = EOS;
        expected[33] = EOS;
        expected[60..63].copy_from_slice(&[EOS; 3]);
        assert_eq!(tokens, expected);
        assert_eq!(decode_grid(&tokens), Some(g.clone()));

        // Translated to (5, 7): the same picture moved, EOS included.
        let moved = encode_grid(&g, 5, 7);
        assert_eq!(moved[5 * 30 + 7..5 * 30 + 11], [2, 3, 4, EOS]);
        assert_eq!(moved[6 * 30 + 7..6 * 30 + 11], [5, 6, 7, EOS]);
        assert_eq!(moved[7 * 30 + 7..7 * 30 + 11], [EOS, EOS, EOS, PAD]);
        assert_eq!(moved.iter().filter(|&&t| t != PAD).count(), 6 + 5);
        assert_eq!(shift_to_origin(&moved, 5, 7), tokens);
        assert_eq!(decode_grid(&shift_to_origin(&moved, 5, 7)), Some(g));

        // 30x30: no room for EOS; every token is a colour.
        let full: Grid = (0..30)
            .map(|r| (0..30).map(|c| ((r * 7 + c) % 10) as u8).collect())
            .collect();
        let tokens = encode_grid(&full, 0, 0);
        assert!(tokens.iter().all(|&t| (2..12).contains(&t)));
        assert_eq!(decode_grid(&tokens), Some(full.clone()));

        // 29x30 placed one row down touches the bottom edge: EOS column nowhere, EOS row nowhere.
        let tall: Grid = full[..29].to_vec();
        let tokens = encode_grid(&tall, 1, 0);
        assert!(!tokens.contains(&EOS));
        assert_eq!(
            decode_grid(&shift_to_origin(&tokens, 1, 0)),
            Some(tall.clone())
        );
        // At the top instead: an EOS row (row 29) but no EOS column.
        let tokens = encode_grid(&tall, 0, 0);
        assert_eq!(tokens[29 * 30..], [EOS; 30]);
        assert_eq!(decode_grid(&tokens), Some(tall));
    }

    #[test]
    fn decode_follows_the_official_crop() {
        // Ragged prediction: row 0 has 3 colours, row 1 has 2, row 2 has 2, row 3 none.
        let mut tokens = vec![PAD; SEQ_LEN];
        tokens[..4].copy_from_slice(&[2, 3, 4, EOS]);
        tokens[30..33].copy_from_slice(&[5, 6, EOS]);
        tokens[60..63].copy_from_slice(&[7, 8, 9]);
        // Areas: 1x3 = 3, 2x2 = 4, 3x2 = 6 -> 3x2.
        assert_eq!(decode_grid(&tokens), Some(grid(&["01", "34", "56"])));
        // A token beyond the vocabulary ends a row just like EOS.
        tokens[1] = 12;
        assert_eq!(decode_grid(&tokens), Some(grid(&["0", "3", "5"])));
        tokens[0] = EOS;
        assert_eq!(decode_grid(&tokens), None, "no colour at the top-left");
        assert_eq!(decode_grid(&[2; 10]), None, "wrong length");
    }

    #[test]
    fn rectangular_dihedral_matches_square_version_and_hand_rotation() {
        let square: Grid = (0..4)
            .map(|r| (0..4).map(|c| r * 4 + c).collect())
            .collect();
        let flat: Vec<u8> = square.concat();
        for k in 0..8 {
            assert_eq!(
                dihedral_grid(&square, k).concat(),
                dihedral(&flat, 4, k),
                "k = {k}"
            );
        }
        // 1 2 3   clockwise:  4 1    transpose: 1 4
        // 4 5 6               5 2               2 5
        //                     6 3               3 6
        let g = grid(&["123", "456"]);
        assert_eq!(dihedral_grid(&g, 1), grid(&["41", "52", "63"]));
        assert_eq!(dihedral_grid(&g, 2), grid(&["654", "321"]));
        assert_eq!(dihedral_grid(&g, 3), grid(&["36", "25", "14"]));
        assert_eq!(dihedral_grid(&g, 4), grid(&["14", "25", "36"]));
        let all: HashSet<Grid> = (0..8).map(|k| dihedral_grid(&g, k)).collect();
        assert_eq!(all.len(), 8);
    }

    #[test]
    fn undo_augmentation_inverts_every_transform() {
        let g = grid(&["0123", "4567", "8900"]);
        let mut rng = Rng::new(11);
        for k in 0..8 {
            let (_, perm) = random_transform(&mut rng);
            assert!(colours_problem(&perm).is_none());
            assert_ne!(perm, IDENTITY_COLOURS);
            let augmented = augment(&g, k, &perm);
            assert_eq!(dims(&augmented), dihedral_dims(3, 4, k));
            assert_eq!(
                augmented[0].len(),
                if matches!(k, 1 | 3 | 4 | 6) { 3 } else { 4 }
            );
            assert_eq!(undo_augmentation(&augmented, k, &perm), g, "k = {k}");
        }
        // Black stays black; colours are relabelled cell by cell.
        let perm = [0, 9, 8, 7, 6, 5, 4, 3, 2, 1];
        assert_eq!(augment(&g, 0, &perm), grid(&["0987", "6543", "2100"]));
    }

    /// Two real tasks (one training, one evaluation) copied to a temporary Kaggle directory.
    fn two_real_tasks(tmp: &Path, kaggle: &Path) -> (String, String) {
        let mut ids = Vec::new();
        for subset in ["training", "evaluation"] {
            let read = |path: PathBuf| -> serde_json::Map<String, Value> {
                serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
            };
            let ch = read(challenges_path(kaggle, subset));
            let so = read(solutions_path(kaggle, subset));
            let (id, task) = ch.iter().next().unwrap();
            let challenges = json!({ id.clone(): task });
            let solutions = json!({ id.clone(): so[id] });
            write_subset(tmp, subset, &challenges, Some(&solutions));
            ids.push(id.clone());
        }
        (ids[0].clone(), ids[1].clone())
    }

    #[test]
    fn build_small_set_then_save_and_load() {
        let tmp = TempDir::new("build");
        let Some(kaggle) = kaggle_dir() else {
            return;
        };
        let (train_id, test_id) = two_real_tasks(&tmp.0, &kaggle);
        let opts = BuildOptions {
            train_subsets: vec!["training".into()],
            test_subset: "evaluation".into(),
            augmentations: 3,
            seed: 5,
            max_tasks: None,
        };
        let data = build(&tmp.0, &opts).unwrap();
        let tasks = data.tasks();
        assert_eq!(tasks.len(), 2);
        assert_eq!(
            (tasks[0].task.id.as_str(), tasks[0].is_test),
            (train_id.as_str(), false)
        );
        assert_eq!(
            (tasks[1].task.id.as_str(), tasks[1].is_test),
            (test_id.as_str(), true)
        );
        for task in tasks {
            assert_eq!(task.augmentations.len(), 4, "identity + 3");
            let first = &task.augmentations[0];
            assert_eq!((first.dihedral, first.colours), (0, IDENTITY_COLOURS));
            let distinct: HashSet<(u8, ColourPerm)> = task
                .augmentations
                .iter()
                .map(|a| (a.dihedral, a.colours))
                .collect();
            assert_eq!(distinct.len(), 4);
        }
        // Training pairs: demos (+ solved tests outside the test subset); test: evaluation tests.
        let t0 = &tasks[0].task;
        let t1 = &tasks[1].task;
        assert_eq!(tasks[0].train_pair_count(), t0.demos.len() + t0.tests.len());
        assert_eq!(tasks[1].train_pair_count(), t1.demos.len());
        let pairs = t0.demos.len() + t0.tests.len() + t1.demos.len();
        assert_eq!(data.train_len(), 4 * pairs);
        assert_eq!(data.test_len(), 4 * t1.tests.len());
        assert_eq!(data.num_puzzle_ids(), 9);
        let s = data.summary();
        assert_eq!(
            (s.tasks, s.test_tasks, s.augmentations, s.train_pairs),
            (2, 1, 8, pairs)
        );
        assert!(s
            .to_string()
            .starts_with("2 tasks (1 test), 8 augmented puzzles"));

        // Every (task, augmentation) has its own id 1..=8; decoding undoes everything.
        let mut ids = HashSet::new();
        for i in 0..data.train_len() {
            let ex = data.train_example(i);
            ids.insert(ex.puzzle_id);
            let t = usize::from(i >= 4 * tasks[0].train_pair_count());
            let local = i - if t == 1 {
                4 * tasks[0].train_pair_count()
            } else {
                0
            };
            let pairs = tasks[t].train_pair_count();
            let aug = &tasks[t].augmentations[local / pairs];
            assert_eq!(ex.puzzle_id, data.puzzle_id(t, local / pairs));
            let (input, output) = tasks[t].train_pairs().nth(local % pairs).unwrap();
            let [r, c] = aug.offsets[local % pairs];
            for (tokens, original) in [(&ex.inputs, input), (&ex.labels, output)] {
                let shifted = shift_to_origin(tokens, r as usize, c as usize);
                let decoded = decode_grid(&shifted).unwrap();
                assert_eq!(
                    undo_augmentation(&decoded, aug.dihedral, &aug.colours),
                    *original
                );
            }
        }
        assert_eq!(ids, (1..=8).collect());
        // Per augmentation one pair stays at the top-left.
        for task in tasks {
            assert!(task
                .augmentations
                .iter()
                .all(|a| a.offsets.contains(&[0, 0])));
        }
        let items = data.test_items();
        assert_eq!(items.len(), data.test_len());
        for item in &items {
            assert_eq!(item.task, test_id);
            assert_eq!(item.example.puzzle_id, data.puzzle_id(1, item.augmentation));
            let aug = &tasks[1].augmentations[item.augmentation];
            let case = &t1.tests[item.test_index];
            let input = decode_grid(&item.example.inputs).unwrap();
            assert_eq!(
                undo_augmentation(&input, aug.dihedral, &aug.colours),
                case.input
            );
            let label = decode_grid(&item.example.labels).unwrap();
            let solution = data.test_solution(&test_id, item.test_index).unwrap();
            assert_eq!(
                undo_augmentation(&label, aug.dihedral, &aug.colours),
                *solution
            );
        }
        assert_eq!(data.test_solution("nope", 0), None);

        // Save, load: the same examples; the same build again: the same dataset.
        let out = tmp.0.join("out");
        data.save(&out).unwrap();
        assert!(!out.join("dataset.json.tmp").exists());
        let loaded = ArcDataset::load(&out).unwrap();
        assert_eq!(loaded.tasks(), data.tasks());
        assert_eq!(loaded.options(), &opts);
        assert_eq!(loaded.summary(), data.summary());
        for i in 0..data.train_len() {
            assert_eq!(loaded.train_example(i), data.train_example(i));
        }
        assert_eq!(loaded.test_items(), items);
        assert_eq!(build(&tmp.0, &opts).unwrap().tasks(), data.tasks());
    }

    #[test]
    fn augmentations_with_the_same_content_are_redrawn() {
        let tmp = TempDir::new("dedup");
        let black = grid(&["0"]);
        let one = grid(&["1"]);
        let challenges = json!({
            "black": task_json(&[(&black, &black)], &[&black]),
            "one": task_json(&[(&one, &black)], &[&one]),
        });
        let solutions = json!({"black": [black], "one": [black]});
        write_subset(&tmp.0, "tiny", &challenges, Some(&solutions));
        let opts = BuildOptions {
            train_subsets: vec![],
            test_subset: "tiny".into(),
            augmentations: 20,
            seed: 3,
            max_tasks: None,
        };
        let data = build(&tmp.0, &opts).unwrap();
        // All-black 1x1 grids look the same under every transform: only the identity.
        assert_eq!(data.task("black").unwrap().augmentations.len(), 1);
        // Colour 1 can become any of 1..9 (the rest is invisible): at most 9 distinct puzzles.
        let one = data.task("one").unwrap();
        assert!(
            (2..=9).contains(&one.augmentations.len()),
            "{}",
            one.augmentations.len()
        );
        let images: HashSet<u8> = one.augmentations.iter().map(|a| a.colours[1]).collect();
        assert_eq!(images.len(), one.augmentations.len());
        assert_eq!(data.num_puzzle_ids(), 2 + one.augmentations.len());
        // max_tasks keeps the first task of the subset.
        let small = build(
            &tmp.0,
            &BuildOptions {
                max_tasks: Some(1),
                ..opts
            },
        )
        .unwrap();
        assert_eq!(small.tasks().len(), 1);
        assert_eq!(small.tasks()[0].task.id, "black");
    }

    /// A two-task test subset for the voting tests: task "v" (two test inputs), task "w" (one).
    fn voting_dataset(tmp: &Path) -> ArcDataset {
        let a = grid(&["123", "456"]);
        let challenges = json!({
            "v": task_json(&[(&a, &grid(&["78", "90"]))], &[&a, &grid(&["12"])]),
            "w": task_json(&[(&a, &a)], &[&grid(&["3"])]),
        });
        let solutions = json!({
            "v": [grid(&["78", "91"]), grid(&["34", "56"])],
            "w": [grid(&["4"])],
        });
        write_subset(tmp, "vote", &challenges, Some(&solutions));
        let opts = BuildOptions {
            train_subsets: vec![],
            test_subset: "vote".into(),
            augmentations: 3,
            seed: 9,
            max_tasks: None,
        };
        build(tmp, &opts).unwrap()
    }

    #[test]
    fn vote_ranks_by_votes_then_q_and_scores_pass_at_k() {
        let tmp = TempDir::new("vote");
        let data = voting_dataset(&tmp.0);
        let v = data.task("v").unwrap();
        assert_eq!(v.augmentations.len(), 4);
        // A prediction of `answer` (un-augmented) made under augmentation `aug` of task v.
        let predict = |test_index: usize, aug: usize, answer: &Grid, q: f64| {
            let a = &v.augmentations[aug];
            Prediction {
                task: "v".into(),
                test_index,
                augmentation: aug,
                tokens: encode_grid(&augment(answer, a.dihedral, &a.colours), 0, 0),
                q,
            }
        };
        let grid_a = data.test_solution("v", 0).unwrap().clone();
        let grid_b = grid(&["78", "99"]);
        let grid_c = grid(&["34", "55"]);
        let grid_d = data.test_solution("v", 1).unwrap().clone();
        let mut junk = predict(0, 0, &grid_b, 1.0);
        junk.tokens = vec![PAD; SEQ_LEN];
        let predictions = vec![
            predict(0, 1, &grid_a, 0.3),
            predict(0, 3, &grid_b, 0.9),
            predict(0, 2, &grid_a, 0.4),
            junk,
            predict(1, 1, &grid_d, 0.2),
            predict(1, 0, &grid_c, 0.9),
        ];
        let votes = vote(&data, &predictions).unwrap();
        assert_eq!(votes.len(), 2, "task w has no predictions");
        let (first, second) = (&votes[0], &votes[1]);
        assert_eq!((first.task.as_str(), first.test_index), ("v", 0));
        assert_eq!(first.undecodable, 1);
        assert_eq!(first.candidates.len(), 2);
        assert_eq!(
            first.candidates[0].grid, grid_a,
            "two votes beat one with higher q"
        );
        assert_eq!(first.candidates[0].votes, 2);
        assert!((first.candidates[0].mean_q - 0.35).abs() < 1e-12);
        assert_eq!(first.candidates[1].grid, grid_b);
        assert_eq!(second.test_index, 1);
        assert_eq!(
            second.candidates[0].grid, grid_c,
            "a tie in votes goes to higher q"
        );
        assert_eq!(second.candidates[1].grid, grid_d);
        // v: test 0 right at k = 1, test 1 only at k = 2; w: never. Averaged over the 2 tasks.
        assert_eq!(pass_at_k(&votes, &data, 1), (0.5 + 0.0) / 2.0);
        assert_eq!(pass_at_k(&votes, &data, 2), (1.0 + 0.0) / 2.0);
        assert_eq!(pass_at_k(&[], &data, 2), 0.0);

        let mut bad = predict(0, 1, &grid_a, 0.3);
        bad.task = "zzz".into();
        assert!(err(vote(&data, &[bad])).contains("unknown task zzz"));
        let bad = Prediction {
            augmentation: 4,
            ..predict(0, 1, &grid_a, 0.3)
        };
        assert!(err(vote(&data, &[bad])).contains("augmentation 4"));
        let bad = Prediction {
            test_index: 2,
            ..predict(0, 1, &grid_a, 0.3)
        };
        assert!(err(vote(&data, &[bad])).contains("test 2"));
    }

    #[test]
    fn bad_files_give_errors_naming_the_problem() {
        let tmp = TempDir::new("bad");
        let dir = tmp.0.as_path();
        let e = err(load_subset(dir, "nope"));
        assert!(
            e.contains("cannot read") && e.contains("arc-agi_nope_challenges.json"),
            "{e}"
        );

        fs::write(challenges_path(dir, "broken"), r#"{"t": {"train": ["#).unwrap();
        let e = err(load_subset(dir, "broken"));
        assert!(
            e.contains("arc-agi_broken_challenges.json: malformed JSON"),
            "{e}"
        );

        fs::write(
            challenges_path(dir, "shape"),
            r#"{"t": {"train": 3, "test": []}}"#,
        )
        .unwrap();
        assert!(err(load_subset(dir, "shape")).contains("not in the Kaggle ARC challenges layout"));

        let ok = grid(&["12"]);
        let twelve = vec![vec![1u8, 12]];
        write_subset(
            dir,
            "twelve",
            &json!({"t": task_json(&[(&ok, &twelve)], &[&ok])}),
            None,
        );
        let e = err(load_subset(dir, "twelve"));
        assert!(
            e.contains("arc-agi_twelve_challenges.json: task t train pair 0 output"),
            "{e}"
        );
        assert!(e.contains("value 12 at row 0 col 1 is not a colour"), "{e}");

        let tall: Grid = vec![vec![1]; 31];
        write_subset(
            dir,
            "tall",
            &json!({"t": task_json(&[(&ok, &ok)], &[&tall])}),
            None,
        );
        let e = err(load_subset(dir, "tall"));
        assert!(
            e.contains("task t test 0 input: 31x1 grid (at most 30x30)"),
            "{e}"
        );

        let ragged = vec![vec![1u8, 2], vec![3]];
        write_subset(
            dir,
            "ragged",
            &json!({"t": task_json(&[(&ragged, &ok)], &[&ok])}),
            None,
        );
        assert!(err(load_subset(dir, "ragged")).contains("row 1 has 1 cells, row 0 has 2"));

        let negative = json!({"t": {"train": [{"input": [[-1]], "output": [[1]]}], "test": []}});
        write_subset(dir, "negative", &negative, None);
        assert!(err(load_subset(dir, "negative")).contains("value -1 at row 0 col 0"));

        let challenges = json!({"t": task_json(&[(&ok, &ok)], &[&ok])});
        write_subset(dir, "count", &challenges, Some(&json!({"t": [ok, ok]})));
        let e = err(load_subset(dir, "count"));
        assert!(
            e.contains("arc-agi_count_solutions.json: task t has 2 solutions for 1 test"),
            "{e}"
        );
        write_subset(
            dir,
            "extra",
            &challenges,
            Some(&json!({"t": [ok], "u": [ok]})),
        );
        assert!(err(load_subset(dir, "extra")).contains("solutions for task u"));
        write_subset(dir, "missing", &challenges, Some(&json!({})));
        assert!(err(load_subset(dir, "missing")).contains("no solutions for task t"));

        // The same task in two subsets; an empty test subset.
        write_subset(dir, "again", &challenges, None);
        let opts = BuildOptions {
            train_subsets: vec!["count2".into(), "again".into()],
            test_subset: "again2".into(),
            augmentations: 1,
            seed: 0,
            max_tasks: None,
        };
        write_subset(dir, "count2", &challenges, None);
        write_subset(dir, "again2", &json!({}), None);
        assert!(err(build(dir, &opts)).contains("task t is in both subsets count2 and again"));
        let opts = BuildOptions {
            train_subsets: vec!["again".into()],
            ..opts
        };
        assert!(err(build(dir, &opts)).contains("test subset again2 has no tasks"));

        // A dataset file with a broken colour permutation, or another format.
        let data = build(
            dir,
            &BuildOptions {
                test_subset: "again".into(),
                ..opts
            },
        )
        .unwrap();
        let out = dir.join("out");
        data.save(&out).unwrap();
        let path = out.join(DATASET_FILE);
        let text = fs::read_to_string(&path).unwrap();
        let mut value: Value = serde_json::from_str(&text).unwrap();
        value["tasks"][0]["augmentations"][1]["perm"] = json!([0, 1, 1, 3, 4, 5, 6, 7, 8, 9]);
        fs::write(&path, value.to_string()).unwrap();
        let e = err(ArcDataset::load(&out));
        assert!(
            e.contains("dataset.json: task t: augmentation 1:") && e.contains("not a permutation"),
            "{e}"
        );
        value["format"] = json!("other");
        fs::write(&path, value.to_string()).unwrap();
        assert!(err(ArcDataset::load(&out)).contains("format \"other\""));
        fs::write(&path, r#"{"format": "#).unwrap();
        assert!(err(ArcDataset::load(&out)).contains("malformed JSON"));
    }
}
