//! The run folder: config.toml, tokenizer.json, checkpoints/, tb/ and metrics.jsonl, and loading a
//! trained model back from it for sampling and evaluation.

use crate::config::Config;
use crate::data::TextTokenizer;
use crate::tasks::text::TextLm;
use crate::train::checkpoint::{self, Checkpoints, Which};
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use std::path::{Path, PathBuf};

pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    pub fn tokenizer(&self) -> PathBuf {
        self.root.join("tokenizer.json")
    }

    pub fn tensorboard(&self) -> PathBuf {
        self.root.join("tb")
    }

    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    pub fn checkpoints(&self) -> Checkpoints {
        Checkpoints::new(&self.root)
    }
}

/// A trained model ready for inference (the EMA weights), with its config and tokenizer.
pub struct Trained<B: Backend> {
    pub config: Config,
    pub tokenizer: TextTokenizer,
    pub model: TextLm<B>,
    pub checkpoint: PathBuf,
}

/// `path` is a run folder (the best checkpoint, else the latest) or one checkpoint folder inside it.
/// `tokenizer`, when given, must be the one the run was trained with.
pub fn load_trained<B: Backend>(
    path: &Path,
    tokenizer: Option<&str>,
    device: &B::Device,
) -> Result<Trained<B>> {
    if !path.exists() {
        bail!("checkpoint {} does not exist", path.display());
    }
    let (run, checkpoint) = if path.join("state.json").exists() {
        let run = path
            .parent()
            .and_then(Path::parent)
            .context("checkpoint folder has no run folder")?;
        (RunDir::new(run), path.to_path_buf())
    } else {
        let run = RunDir::new(path);
        let cks = run.checkpoints();
        let dir = match cks.resolve(Which::Best)? {
            Some(d) => d,
            None => cks
                .resolve(Which::Latest)?
                .with_context(|| format!("{} holds no checkpoint", path.display()))?,
        };
        (run, dir)
    };
    let config = Config::load(&run.config(), &[])?;
    let run_tok = TextTokenizer::from_file(&run.tokenizer())?;
    if let Some(spec) = tokenizer {
        let given = TextTokenizer::from_spec(spec)?;
        ensure_same_tokenizer(&given, &run_tok.fingerprint(), spec)?;
    }
    let state: serde_json::Value = checkpoint::load_state(&checkpoint)?;
    if let Some(fp) = state.get("tokenizer").and_then(|v| v.as_str()) {
        ensure_same_tokenizer(&run_tok, fp, &run.tokenizer().display().to_string())?;
    }
    let model = TextLm::new(
        &config.model,
        run_tok.vocab_size(),
        config.train.seq_len,
        device,
    );
    let model = checkpoint::load_module(model, &checkpoint, "ema", device)?;
    Ok(Trained {
        config,
        tokenizer: run_tok,
        model,
        checkpoint,
    })
}

pub fn ensure_same_tokenizer(
    tok: &TextTokenizer,
    expected_fingerprint: &str,
    name: &str,
) -> Result<()> {
    if tok.fingerprint() != expected_fingerprint {
        bail!(
            "tokenizer {name} ({}) does not match the one the checkpoint was trained with (fingerprint {} vs {})",
            tok.describe(),
            tok.fingerprint(),
            expected_fingerprint
        );
    }
    Ok(())
}
