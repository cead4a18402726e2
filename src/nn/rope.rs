//! Rotary position embedding, rotate-half convention, theta 10000 by default.

use burn::prelude::*;

/// Precomputed cos/sin tables for positions 0..max_len (constants, rebuilt from the config).
#[derive(Module, Debug)]
pub struct Rope<B: Backend> {
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
}

impl<B: Backend> Rope<B> {
    pub fn new(head_dim: usize, max_len: usize, theta: f64, device: &B::Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_len * head_dim);
        let mut sin = Vec::with_capacity(max_len * head_dim);
        for pos in 0..max_len {
            for i in 0..head_dim {
                let freq = theta.powf(-((i % half) as f64 * 2.0) / head_dim as f64);
                let angle = pos as f64 * freq;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [max_len, head_dim]), device),
            sin: Tensor::from_data(TensorData::new(sin, [max_len, head_dim]), device),
        }
    }

    pub fn max_len(&self) -> usize {
        self.cos.dims()[0]
    }

    /// x: [B, H, L, hd] holding positions offset..offset+L.
    pub fn apply(&self, x: Tensor<B, 4>, offset: usize) -> Tensor<B, 4> {
        let [_, _, l, hd] = x.dims();
        let cos = self.cos.clone().narrow(0, offset, l).reshape([1, 1, l, hd]);
        let sin = self.sin.clone().narrow(0, offset, l).reshape([1, 1, l, hd]);
        let half = hd / 2;
        let x1 = x.clone().narrow(3, 0, half);
        let x2 = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * cos + rotated * sin
    }
}
