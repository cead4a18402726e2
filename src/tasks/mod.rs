//! Task adapters around the one recursive core: each says how inputs are embedded, which mask,
//! which head, the targets and the loss.

pub mod text;
