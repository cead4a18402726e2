//! Logging: TensorBoard event files (scalars and text) and progress bars.
pub mod tensorboard;

pub use tensorboard::TbWriter;
