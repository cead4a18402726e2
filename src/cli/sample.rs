//! `trm sample`: stream text from a trained run with temperature / top-k / top-p and a seed.

use super::device::{dispatch, Device, OnBackend};
use crate::run::load_trained;
use crate::sample::{infill_masks, sample_text, SamplingParams};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A run folder (its best checkpoint, else the latest) or one checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long, default_value = "", conflicts_with = "prompt_file")]
    pub prompt: String,
    /// Read the prompt from a file.
    #[arg(long)]
    pub prompt_file: Option<PathBuf>,
    #[arg(long, default_value_t = 200)]
    pub max_new_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// 0 = no top-k cut.
    #[arg(long, default_value_t = 50)]
    pub top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Unmasking steps (masked-head models); `[MASK]` / `[MASK:N]` in the prompt mark gaps to fill.
    #[arg(long, default_value_t = 32)]
    pub steps: usize,
    /// Adaptive computation: stop each token's supervision steps once the halting head's
    /// probability reaches this value (runs without the KV cache).
    #[arg(long)]
    pub halt_threshold: Option<f64>,
    /// Recompute the whole context for every token instead of keeping a KV cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Check that this tokenizer (path, Hub id or `bytes`) is the one the run used.
    #[arg(long)]
    pub tokenizer: Option<String>,
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

struct Job(SampleArgs, String);

impl OnBackend for Job {
    type Output = ();
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let Job(args, prompt) = self;
        let trained =
            load_trained::<B::InnerBackend>(&args.checkpoint, args.tokenizer.as_deref(), &device)?;
        let tok = &trained.tokenizer;
        let window = trained.model.max_len() as u64;
        if trained.model.mask_token().is_some() && infill_masks(&prompt) > window {
            bail!(
                "the prompt's [MASK] markers ask for {} tokens; the model fills at most {window} (train.seq_len)",
                infill_masks(&prompt)
            );
        }
        let params = SamplingParams {
            max_new_tokens: args.max_new_tokens,
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            seed: args.seed,
            stop_token: Some(tok.eot_id()),
            cache: !args.no_cache && args.halt_threshold.is_none(),
            diffusion_steps: args.steps,
            halt_threshold: args.halt_threshold,
        };
        let mut out = std::io::stdout().lock();
        sample_text(&trained.model, tok, &prompt, &params, &device, &mut out);
        writeln!(out)?;
        Ok(())
    }
}

pub fn run(args: SampleArgs) -> Result<()> {
    if !(args.top_p > 0.0 && args.top_p <= 1.0) {
        bail!("--top-p must be in (0, 1], got {}", args.top_p);
    }
    if !(args.temperature.is_finite() && args.temperature >= 0.0) {
        bail!(
            "--temperature must be a number >= 0 (0 = greedy), got {}",
            args.temperature
        );
    }
    if let Some(t) = args.halt_threshold.filter(|t| !(0.0..=1.0).contains(t)) {
        bail!("--halt-threshold must be in [0, 1], got {t}");
    }
    let prompt = match &args.prompt_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read prompt file {}", path.display()))?,
        None => args.prompt.clone(),
    };
    let device = args.device;
    dispatch(device, Job(args, prompt))
}
