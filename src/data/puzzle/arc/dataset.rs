//! The built ARC dataset: `build`, its `dataset.json` storage, its examples and test items.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use anyhow::{anyhow, bail, ensure, Result};
use serde::{Deserialize, Serialize};

use super::augment::{augment, augment_task, colours_problem, dihedral_dims, dims};
use super::encode::encode_grid;
use super::read::{grid_problem, load_subset, read_json};
use super::{ArcTask, Augmentation, Grid, SEQ_LEN, SIDE};
use crate::data::puzzle::{Example, PAD};
use crate::files::write_atomic;
use crate::rng::Rng;

/// Tag written into `dataset.json` so that other files are rejected on load.
const FORMAT: &str = "trm-arc-v1";
/// The file `ArcDataset::save` writes and `ArcDataset::load` reads.
pub const DATASET_FILE: &str = "dataset.json";

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
    /// Cumulative training pairs (before augmentation) before each task (one more entry).
    pair_start: Vec<usize>,
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
        let mut pair_start = vec![0];
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
            pair_start.push(pair_start[i] + task.train_pair_count());
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
            pair_start,
            test_start,
            by_id,
        })
    }

    /// Writes `dataset.json` into `out_dir` (created if needed), atomically
    /// ([`crate::files::write_atomic`]).
    pub fn save(&self, out_dir: &Path) -> Result<()> {
        let path = out_dir.join(DATASET_FILE);
        let stored = Stored {
            format: FORMAT.to_string(),
            options: self.options.clone(),
            tasks: &self.tasks,
        };
        let bytes = serde_json::to_vec(&stored)
            .map_err(|e| anyhow!("cannot serialise {}: {e}", path.display()))?;
        write_atomic(&path, &bytes)
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
        let local = i - self.train_start[t];
        let pairs = self.tasks[t].train_pair_count();
        self.pair_example(t, local / pairs, local % pairs)
    }

    /// A random training example, with the probabilities of the official training sampler
    /// (`puzzle_dataset.py`, `_iter_train` and `_sample_batch`): each epoch visits every task once
    /// in random order, takes one of its augmentations at random and all of that augmentation's
    /// pairs, so pair p of task t under augmentation a has probability 1 / (A_t * N), A_t the
    /// task's augmentations and N the training pairs of all tasks before augmentation. Drawing a
    /// pair uniformly from the N, then an augmentation of its task, gives exactly that; a uniform
    /// draw over the augmented examples would weight a task by A_t (9 to 1001 on ARC-AGI-1).
    /// Unlike the official batches, draws are independent (not one pass per epoch) and nothing is
    /// cut at batch ends (the official batch of 768 drops the unused part of its last task: a
    /// task with n pairs loses a fraction of about (n - 1) / 1536 of its draws). Panics without
    /// training pairs, as `train_example` (training refuses such a folder before drawing).
    pub fn draw_train(&self, rng: &mut Rng) -> Example {
        let pairs = self.pair_start.last().copied().unwrap_or(0);
        assert!(pairs > 0, "no training pairs to draw from");
        let i = rng.below(pairs as u64) as usize;
        let t = self.pair_start.partition_point(|&s| s <= i) - 1;
        let a = rng.below(self.tasks[t].augmentations.len() as u64) as usize;
        self.pair_example(t, a, i - self.pair_start[t])
    }

    /// Training pair `p` of task number `t` under augmentation `a`, at its drawn translation.
    fn pair_example(&self, t: usize, a: usize, p: usize) -> Example {
        let task = &self.tasks[t];
        let aug = &task.augmentations[a];
        let (input, output) = task.train_pairs().nth(p).expect("pair index within count");
        let [r, c] = aug.offsets[p];
        let place = |grid: &Grid| {
            let augmented = augment(grid, aug.dihedral, &aug.colours);
            encode_grid(&augmented, r as usize, c as usize)
        };
        Example {
            inputs: place(input),
            labels: place(output),
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

    /// The indices of `test_item` that are task `id`'s (every augmentation of each of its test
    /// inputs; empty for a task outside the test subset), None for an unknown task.
    pub fn test_range(&self, id: &str) -> Option<Range<usize>> {
        let &t = self.by_id.get(id)?;
        Some(self.test_start[t]..self.test_start[t + 1])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::arc::testing::{
        err, grid, kaggle_dir, shift_to_origin, task_json, write_subset, TempDir,
    };
    use crate::data::puzzle::arc::{
        challenges_path, decode_grid, solutions_path, undo_augmentation, ColourPerm,
        IDENTITY_COLOURS,
    };
    use serde_json::{json, Value};
    use std::collections::HashSet;
    use std::fs;
    use std::path::PathBuf;

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
        let names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [DATASET_FILE], "no temporary file left behind");
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
