//! Evaluation: token-level perplexity on held-out windows, per deep supervision step.

pub mod perplexity;

pub use perplexity::{evaluate_lm, PerplexityReport};
