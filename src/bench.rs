//! Throughput benchmark (not a test): training tokens/s and sampling tokens/s of a config,
//! on random tokens so that only the model is measured. Results go to a Markdown table.

use crate::config::Config;
use crate::rng::Rng;
use crate::sample::{generate, SamplingParams};
use crate::train::parallel::Cluster;
use crate::train::text::TextLearner;
use anyhow::{bail, Result};
use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct BenchResult {
    pub name: String,
    pub parameters: usize,
    pub batch: String,
    pub recursion: String,
    pub ms_per_batch: f64,
    pub train_tokens_per_sec: f64,
    pub sample_tokens_per_sec: f64,
    pub cached_sample_tokens_per_sec: f64,
}

impl BenchResult {
    pub const HEADER: &'static str = "| config | device | parameters | batch x seq | n / T / N_sup | ms per batch | train tokens/s | sampling tokens/s, no cache | sampling tokens/s, KV cache |\n|---|---|---|---|---|---|---|---|---|";

    pub fn row(&self, device: &str) -> String {
        format!(
            "| {} | {device} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.1} |",
            self.name,
            self.parameters,
            self.batch,
            self.recursion,
            self.ms_per_batch,
            self.train_tokens_per_sec,
            self.sample_tokens_per_sec,
            self.cached_sample_tokens_per_sec
        )
    }
}

/// Time `batches` training batches (after one warm-up batch) and `sample_tokens` sampled tokens.
pub fn bench<B: AutodiffBackend>(
    name: &str,
    config: Config,
    vocab_size: usize,
    batches: usize,
    sample_tokens: usize,
    cluster: &Cluster<B::Device>,
) -> Result<BenchResult> {
    let device = &cluster.devices[0];
    let t = config.train.clone();
    let m = config.model.clone();
    let mut learner = TextLearner::<B>::new(config, vocab_size, device);
    if cluster.is_parallel() {
        learner.start_parallel(cluster.clone())?;
    }
    let mut rng = Rng::new(0);
    let mut random_batch = || -> Vec<Vec<u32>> {
        (0..t.batch_size)
            .map(|_| {
                (0..=t.seq_len)
                    .map(|_| rng.below(vocab_size as u64) as u32)
                    .collect()
            })
            .collect()
    };
    let mut elapsed = 0.0;
    for i in 0..=batches {
        let batch = learner
            .weights
            .model
            .batch(&random_batch(), &mut Rng::new(i as u64), device);
        let t0 = Instant::now();
        if let Err(e) = learner.train_batch(batch) {
            bail!("benchmark batch {i}: {e}");
        }
        if i > 0 {
            elapsed += t0.elapsed().as_secs_f64();
        }
    }
    let ms_per_batch = 1000.0 * elapsed / batches as f64;
    let sampling_speed = |cache: bool| {
        let params = SamplingParams {
            max_new_tokens: sample_tokens,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
            stop_token: None,
            cache,
            diffusion_steps: 16,
            exit: None,
        };
        let t0 = Instant::now();
        let produced = generate(&learner.weights.ema, &[0], &params, device, |_| {}).len();
        produced as f64 / t0.elapsed().as_secs_f64()
    };
    let sample_tokens_per_sec = sampling_speed(false);
    let cached_sample_tokens_per_sec = sampling_speed(true);
    Ok(BenchResult {
        name: name.to_string(),
        parameters: learner.weights.model.num_params(),
        batch: format!("{} x {}", t.batch_size, t.seq_len),
        recursion: match m.kind {
            crate::config::ModelKind::Trm => format!("{} / {} / {}", m.n, m.t, m.n_sup),
            crate::config::ModelKind::Transformer => format!("transformer, {} layers", m.n_layers),
        },
        ms_per_batch,
        train_tokens_per_sec: (t.batch_size * t.seq_len) as f64 / (ms_per_batch / 1000.0),
        sample_tokens_per_sec,
        cached_sample_tokens_per_sec,
    })
}
