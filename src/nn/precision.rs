//! Mixed precision: weights stay f32 and are cast to the dtype of the activations they meet, so
//! a forward pass started in bf16 runs in bf16 while gradients reach the f32 weights in f32
//! (burn's cast is differentiable and casts the gradient back).

use crate::config::Precision;
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

/// The dtype a training pass computes in.
pub fn compute_dtype(precision: Precision) -> DType {
    match precision {
        Precision::F32 => DType::F32,
        Precision::Bf16 => DType::BF16,
    }
}

/// `t` in `dtype` (no copy when it already is).
pub fn cast_to<B: Backend, const D: usize>(t: Tensor<B, D>, dtype: DType) -> Tensor<B, D> {
    if t.dtype() == dtype {
        t
    } else {
        t.cast(dtype)
    }
}

/// `t` in f32: what losses, norms and anything read on the host see.
pub fn f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    if t.dtype() == DType::F32 {
        t
    } else {
        t.cast(FloatDType::F32)
    }
}
