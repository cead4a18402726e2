//! trm: Tiny Recursive Models as language models and puzzle solvers.
//!
//! Every import points down this list (checked by `tests/layers.rs`); no module uses one above it:
//!
//! ```text
//! cli                     the `trm` command line
//! bench                   throughput of a training step and of sampling
//! train                   the one training loop; the language-model and puzzle tasks it runs
//! eval                    perplexity, puzzle accuracy, comparisons, chess against an engine
//! sample                  text generation (KV cache, nucleus sampling, unmasking)
//! run                     run folders, checkpoints, loading a trained model back
//! tasks                   adapters around the core: text (causal / masked) and puzzles
//! transformer, trm        the baseline decoder; THE recursive core (y, z, deep recursion)
//! nn                      blocks, attention, RoPE, norms, losses
//! data                    Parquet, tokenizers, loaders; puzzle families and their data
//! log, config, rng, files TensorBoard; config structs; the resumable RNG; atomic files
//! ```

pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod eval;
pub mod files;
pub mod log;
pub mod nn;
pub mod rng;
pub mod run;
pub mod sample;
pub mod tasks;
pub mod train;
pub mod transformer;
pub mod trm;
