//! Evaluation: perplexity and bits per byte on held-out windows (per deep supervision step),
//! compute per token, and model comparisons.

pub mod adaptive;
pub mod compare;
pub mod cost;
pub mod perplexity;

pub use perplexity::{evaluate_lm, EvalSet, PerplexityReport};
