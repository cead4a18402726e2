//! The run folder: config.toml, tokenizer.json, checkpoints/, tb/ and metrics.jsonl; its
//! checkpoints; and loading a trained model back from it for sampling and evaluation.

pub mod checkpoint;
mod export;
mod import;
mod lock;
mod trained;

pub use checkpoint::{Checkpoints, Which};
pub use export::{export_run, load_init, ExportInfo, Exported};
pub use import::{import_official, Imported};
pub use lock::RunLock;
pub use trained::{
    ensure_same_tokenizer, load_arc_solver, load_puzzle_solver, load_trained, load_trained_puzzle,
    puzzle_run, resolve_checkpoint, Trained, TrainedArc, TrainedPuzzle,
};

use crate::config::Config;
use crate::files::write_atomic;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

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

    /// Refuse to start a new run in a folder that already holds one.
    pub fn check_new(&self) -> Result<()> {
        if self.checkpoints().resolve(Which::Latest)?.is_some() {
            bail!(
                "{} already holds a training run: use --resume {0} to continue it, or another --run-dir",
                self.root.display()
            );
        }
        Ok(())
    }

    /// Start a new run here: refuse a folder that already holds one, create it, save `config`.
    pub fn create(&self, config: &Config) -> Result<()> {
        self.check_new()?;
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create run folder {}", self.root.display()))?;
        self.save_config(config)
    }

    /// Resume: the saved config, after checking that `config` keeps its model.* settings (they
    /// shape the saved weights). The caller checks its own data settings, then saves `config`.
    pub fn resumed_config(&self, config: &Config) -> Result<Config> {
        if !self.config().exists() {
            bail!(
                "--resume {}: no config.toml there, so it is not a run folder",
                self.root.display()
            );
        }
        let latest = self.checkpoints().resolve(Which::Latest)?;
        let state = latest.and_then(|dir| checkpoint::load_state::<serde_json::Value>(&dir).ok());
        if state.is_some_and(|s| s.get("imported").is_some()) {
            bail!(
                "--resume {}: it holds imported weights without a training state (no optimizer, step or data position), so there is no run to resume",
                self.root.display()
            );
        }
        let saved = Config::load_run(&self.config(), &[])?;
        if saved.model != config.model {
            bail!("--resume {}: model.* settings cannot change when resuming (they shape the saved weights)", self.root.display());
        }
        Ok(saved)
    }

    /// Write the run's config.toml (atomically).
    pub fn save_config(&self, config: &Config) -> Result<()> {
        write_atomic(&self.config(), config.to_toml().as_bytes())
    }
}
