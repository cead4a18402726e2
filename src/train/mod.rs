//! Training: the deep-supervision loop, optimizers, EMA, learning-rate schedule and checkpoints.

pub mod checkpoint;
pub mod ema;
pub mod learner;
pub mod optim;
pub mod puzzle;
pub mod schedule;
mod trainer;

pub use puzzle::{train_puzzles, PuzzleSummary, PuzzleTrainOptions};
pub use trainer::{loader_configs, train, TrainOptions, TrainSummary};
