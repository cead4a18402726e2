//! Training: one loop for every task (`trainer`), the language-model and puzzle tasks it runs,
//! the weights they update (optimizer, EMA, learning-rate schedule).

pub mod depth;
pub mod ema;
pub mod memory;
pub mod optim;
pub mod parallel;
pub mod puzzle;
pub mod schedule;
pub mod text;
pub mod trainer;
pub mod weights;

pub use text::loader_configs;
pub use trainer::{RunSummary, TrainOptions};

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

/// Train what the config describes: a puzzle solver when `puzzle.task` names a family, else a
/// language model.
pub fn train<B: AutodiffBackend>(
    opts: TrainOptions,
    cluster: &parallel::Cluster<B::Device>,
) -> Result<RunSummary> {
    if opts.config.is_puzzle() {
        trainer::run::<B, puzzle::PuzzleTask<B>>(opts, cluster)
    } else {
        trainer::run::<B, text::TextTask<B>>(opts, cluster)
    }
}
