//! Building blocks shared by the recursive core and the baseline: linear layers, weightless RMSNorm,
//! SwiGLU, RoPE, attention, MLP-T and the post-norm block.

mod attention;
mod block;
mod init;
mod linear;
pub mod loss;
mod mlp_t;
mod norm;
pub mod precision;
mod rope;
mod swiglu;

pub use attention::{Attention, AttnMask, KvCache};
pub use block::{Block, Mix};
pub use init::{trunc_normal, Init};
pub use linear::Linear;
pub use mlp_t::MlpT;
pub use norm::rms_norm;
pub use rope::Rope;
pub use swiglu::SwiGlu;
