//! ARC-AGI: the task model (grids, tasks, augmentations); re-exports the folder's public items.

mod augment;
mod dataset;
mod encode;
mod family;
mod read;
mod submission;
#[cfg(test)]
mod testing;
mod vote;

pub use augment::{augment, dihedral_grid, undo_augmentation};
pub use dataset::{build, ArcDataset, BuildOptions, Summary, TestItem, DATASET_FILE};
pub use encode::{decode_grid, encode_grid};
pub use family::load;
pub use read::{challenges_path, load_challenges, load_subset, solutions_path};
pub use submission::{attempts, match_challenges, Attempts, Submission};
pub use vote::{pass_at_k, vote, vote_for, Candidate, Prediction, TaskVote};

use serde::{Deserialize, Serialize};

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
