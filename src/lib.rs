//! trm: Tiny Recursive Models as language models and puzzle solvers.
//!
//! Arrows point one way: cli -> train / eval / sample -> tasks -> trm -> nn.

pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod eval;
pub mod log;
pub mod nn;
pub mod rng;
pub mod run;
pub mod sample;
pub mod tasks;
pub mod train;
pub mod transformer;
pub mod trm;
