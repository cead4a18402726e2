//! `trm sample`: stream text from a trained run with temperature / top-k / top-p and a seed.
//!
//! Output: the prompt followed by the generated text and a newline. With `--num-samples N` (N > 1)
//! every sample is preceded by a header line `----- sample I/N (seed S) -----` and samples after
//! the first by a blank line, all on stdout, so that a pipe keeps them apart. A closed stdout
//! (`trm sample ... | head`) ends generation quietly with exit status 0.

use super::device::{dispatch, Device, OnBackend};
use crate::run::load_trained;
use crate::sample::{infill_masks, sample_stream, SampleOptions, SamplingParams};
use crate::tasks::text::{ExitRule, TextLm};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;

/// Which trained run to load and where it runs (shared by `sample` and `chat`).
#[derive(Args, Debug, Clone)]
pub struct ModelFlags {
    /// A run folder (its best checkpoint, else the latest) or one checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Check that this tokenizer (path, Hub id or `bytes`) is the one the run used.
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Where the model runs: `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

/// How text is drawn from the model (shared by `sample` and `chat`).
#[derive(Args, Debug, Clone)]
pub struct SamplingFlags {
    /// Most tokens to generate per sample (per reply in `chat`); generation also ends at the
    /// end-of-text token or a --stop string.
    #[arg(long, default_value_t = 200)]
    pub max_new_tokens: usize,
    /// Softmax temperature: below 1 sharper, above 1 flatter; 0 = greedy (always the most likely
    /// token, no randomness).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Draw only among the K most likely tokens; 0 = no top-k cut.
    #[arg(long, default_value_t = 50)]
    pub top_k: usize,
    /// Nucleus sampling: draw only among the most likely tokens whose probabilities add up to
    /// this; in (0, 1], 1 = no cut.
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f64,
    /// Random seed: the same seed, prompt and flags give the same text. `--num-samples` uses
    /// seed, seed+1, ...; `chat` uses seed + i for its i-th reply (counting from 0).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop string (repeatable): the generated text ends right before the first one it contains
    /// (the stop string itself is not printed; the prompt is not searched).
    #[arg(long = "stop", value_name = "STRING")]
    pub stop: Vec<String>,
    /// Supervision steps per token (default: the run's trained model.n_sup); more than trained
    /// thinks deeper at test time. With --exit, the most steps a token may take.
    #[arg(long, value_name = "K")]
    pub steps: Option<usize>,
    /// Unmasking steps (masked-head models); `[MASK]` / `[MASK:N]` in a `sample` prompt mark gaps
    /// to fill.
    #[arg(long, alias = "diffusion-steps", default_value_t = 32)]
    pub unmask_steps: usize,
    /// Adaptive depth, with or without the KV cache: each token stops its supervision steps once
    /// RULE lets it: `kl:EPS` when its next-token distribution changed by less than EPS (KL)
    /// since the previous step, `halt:P` when the halting head's probability reaches P.
    #[arg(long, value_name = "RULE")]
    pub exit: Option<ExitRule>,
    /// The same as `--exit halt:P` (the older spelling).
    #[arg(long, hide = true, value_name = "P")]
    pub halt_threshold: Option<f64>,
    /// Recompute the whole context for every token instead of keeping a KV cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl SamplingFlags {
    /// Refuse values that mean nothing, naming the flag.
    pub fn check(&self) -> Result<()> {
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            bail!("--top-p must be in (0, 1], got {}", self.top_p);
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            bail!(
                "--temperature must be a number >= 0 (0 = greedy), got {}",
                self.temperature
            );
        }
        if self.exit.is_some() && self.halt_threshold.is_some() {
            bail!("--halt-threshold is the older spelling of --exit halt:P: give one of them");
        }
        if self.steps == Some(0) {
            bail!("--steps must be at least 1 (supervision steps per token)");
        }
        if self.stop.iter().any(String::is_empty) {
            bail!("--stop must not be empty");
        }
        Ok(())
    }

    /// The sampler's settings for one sample drawn with `seed`.
    pub fn params(&self, eot: u32, seed: u64) -> SamplingParams {
        SamplingParams {
            max_new_tokens: self.max_new_tokens,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            seed,
            stop_token: Some(eot),
            cache: !self.no_cache,
            diffusion_steps: self.unmask_steps,
            exit: self.exit_rule(),
        }
    }

    /// Refuse flags this model cannot honour (adaptive depth on a model without recursion).
    pub fn check_model<B: burn::prelude::Backend>(&self, model: &TextLm<B>) -> Result<()> {
        match self
            .exit_rule()
            .map(|rule| (rule, model.check_adaptive(rule)))
        {
            Some((rule, Err(why))) => bail!("--exit {rule}: {why}"),
            _ => Ok(()),
        }
    }

    /// The adaptive-depth rule of `--exit` or `--halt-threshold`.
    pub fn exit_rule(&self) -> Option<ExitRule> {
        self.exit.or(self.halt_threshold.map(ExitRule::Halt))
    }

    pub fn options(&self) -> SampleOptions {
        SampleOptions {
            steps: self.steps,
            stop: self.stop.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    /// The text to continue (printed first); for masked-head models `[MASK]` / `[MASK:N]` mark
    /// gaps to fill. Empty = start a new document.
    #[arg(long, default_value = "", conflicts_with = "prompt_file")]
    pub prompt: String,
    /// Read the prompt from a file, or from stdin with `-` (the whole text, a trailing newline
    /// included).
    #[arg(long, value_name = "PATH")]
    pub prompt_file: Option<PathBuf>,
    /// Samples to draw from the same prompt, with seeds seed, seed+1, ...; with more than one,
    /// each starts with a line `----- sample I/N (seed S) -----` and a blank line separates them.
    #[arg(long, default_value_t = 1)]
    pub num_samples: u64,
    #[command(flatten)]
    pub sampling: SamplingFlags,
}

/// Ok(Some) when written, Ok(None) when stdout was closed (a normal end), Err otherwise.
pub(crate) fn written<T>(result: std::io::Result<T>) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(None),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}

struct Job(SampleArgs, String);

impl OnBackend for Job {
    type Output = ();
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let Job(args, prompt) = self;
        let trained = load_trained::<B::InnerBackend>(
            &args.model.checkpoint,
            args.model.tokenizer.as_deref(),
            &device,
        )?;
        let tok = &trained.tokenizer;
        let window = trained.model.max_len() as u64;
        if trained.model.mask_token().is_some() && infill_masks(&prompt) > window {
            bail!(
                "the prompt's [MASK] markers ask for {} tokens; the model fills at most {window} (train.seq_len)",
                infill_masks(&prompt)
            );
        }
        let flags = &args.sampling;
        flags.check_model(&trained.model)?;
        let options = flags.options();
        let n = args.num_samples;
        let mut out = std::io::stdout().lock();
        for i in 0..n {
            let seed = flags.seed.wrapping_add(i);
            if n > 1 {
                let blank = if i > 0 { "\n" } else { "" };
                let header = format!("{blank}----- sample {}/{n} (seed {seed}) -----\n", i + 1);
                if written(out.write_all(header.as_bytes()))?.is_none() {
                    return Ok(());
                }
            }
            let params = flags.params(tok.eot_id(), seed);
            let result = sample_stream(
                &trained.model,
                tok,
                &prompt,
                &params,
                &options,
                &device,
                &mut out,
            )
            .and_then(|_| writeln!(out))
            .and_then(|()| out.flush());
            if written(result)?.is_none() {
                return Ok(());
            }
        }
        Ok(())
    }
}

pub fn run(args: SampleArgs) -> Result<()> {
    args.sampling.check()?;
    if args.num_samples == 0 {
        bail!("--num-samples must be at least 1");
    }
    let prompt = match &args.prompt_file {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the prompt from stdin")?;
            text
        }
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read prompt file {}", path.display()))?,
        None => args.prompt.clone(),
    };
    let device = args.model.device;
    dispatch(device, Job(args, prompt))
}
