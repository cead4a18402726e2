//! Task adapters around the one recursive core: each says how inputs are embedded, which mask,
//! which head, the targets and the loss.

pub mod core;
pub mod official;
pub mod puzzle;
pub mod text;

pub use core::Core;

use burn::prelude::*;

/// A tensor's values on the host as f64 (metrics and decoding).
pub fn host_f64<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("float data")
}
