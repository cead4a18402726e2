//! Task adapters around the one recursive core: each says how inputs are embedded, which mask,
//! which head, the targets and the loss.

pub mod core;
pub mod puzzle;
pub mod text;

pub use core::Core;
