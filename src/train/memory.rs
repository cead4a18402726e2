//! Settings that cannot fit are refused before any work starts: a lower bound on what training
//! holds in memory (weights with their gradients, Adam moments and EMA; the activations one pass
//! keeps for its backward pass; the loader's shuffle buffer) against what the machine has.

use crate::config::{Config, Mixer};
use anyhow::{bail, Result};

const GIB: f64 = (1u64 << 30) as f64;

/// Bytes of each part of the bound, for the message.
struct Need {
    weights: f64,
    activations: f64,
    buffer: f64,
}

impl Need {
    fn total(&self) -> f64 {
        self.weights + self.activations + self.buffer
    }
}

/// A lower bound (f32 everywhere; the embedding and everything transient left out), so a
/// refusal is certain, not a guess.
fn need(config: &Config) -> Need {
    let (m, t) = (&config.model, &config.train);
    let d = m.d_model as f64;
    let ffn = m.ffn_inner() as f64;
    let len = t.seq_len as f64;
    let mix = match m.mixer {
        Mixer::Attention => 4.0 * d * d,
        Mixer::MlpT => 3.0 * len * m.swiglu_inner(t.seq_len) as f64,
    };
    let params = m.n_layers as f64 * (mix + 3.0 * d * ffn);
    // weights, gradients, two Adam moments, the EMA copy
    let weights = 5.0 * 4.0 * params;
    let activations = if config.is_puzzle() {
        0.0 // the grid length comes from the data, not the config
    } else {
        let rows = if t.micro_batch == 0 {
            t.batch_size
        } else {
            t.micro_batch
        } as f64;
        // the pass with a graph keeps, per block call, at least its input and its attention
        // scores (n + 1 calls of each block in the last recursion)
        let calls = (m.n + 1) as f64 * m.n_layers as f64;
        let scores = match m.mixer {
            Mixer::Attention => rows * m.n_heads as f64 * len * len,
            Mixer::MlpT => 0.0,
        };
        4.0 * calls * (rows * len * d + scores)
    };
    let buffer = if config.is_puzzle() {
        0.0
    } else {
        4.0 * config.data.shuffle_buffer as f64 * (len + 1.0)
    };
    Need {
        weights,
        activations,
        buffer,
    }
}

/// Memory the OS can give this process now (Linux: MemAvailable), if known.
fn available() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Refuse a CPU run whose lower bound exceeds the machine's available memory (a GPU's memory is
/// its own: not checked here).
pub fn check_fits(config: &Config, on_cpu: bool) -> Result<()> {
    let Some(have) = available().filter(|_| on_cpu) else {
        return Ok(());
    };
    let need = need(config);
    if need.total() > have {
        let t = &config.train;
        bail!(
            "these settings need at least {:.1} GiB (weights, gradients, Adam and EMA {:.1} GiB for model.d_model {} x {} layers; activations {:.1} GiB for train.batch_size {} (micro_batch {}) x train.seq_len {}; loader buffer {:.1} GiB for data.shuffle_buffer {}), but this machine has {:.1} GiB available",
            need.total() / GIB,
            need.weights / GIB,
            config.model.d_model,
            config.model.n_layers,
            need.activations / GIB,
            t.batch_size,
            t.micro_batch,
            t.seq_len,
            need.buffer / GIB,
            config.data.shuffle_buffer,
            have / GIB
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_run_needs_megabytes_and_absurd_settings_terabytes() {
        let small = need(&Config::default());
        assert!(small.total() < 64e6, "{}", small.total());
        // hand count: 1 layer, D 128, SwiGLU 384: 4 D^2 + 3 D F = 212,992 parameters x 20 bytes
        assert_eq!(small.weights, 20.0 * 212_992.0);
        let mut big = Config::default();
        big.train.batch_size = 100_000_000;
        assert!(need(&big).activations > 1e12);
        let mut long = Config::default();
        long.train.seq_len = 40_000;
        assert!(
            need(&long).activations > 1e11,
            "attention scores grow with L^2"
        );
    }
}
