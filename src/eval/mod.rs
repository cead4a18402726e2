//! Evaluation: perplexity and bits per byte on held-out windows (per deep supervision step),
//! compute per token, model comparisons, and puzzle accuracy (ARC voting included).

pub mod adaptive;
pub mod chess;
pub mod compare;
pub mod cost;
pub mod hanoi;
pub mod perplexity;
pub mod puzzle;
pub mod solve;

pub use perplexity::{evaluate_lm, EvalSet, PerplexityReport};
