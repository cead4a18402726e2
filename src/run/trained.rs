//! A trained model loaded back from its run folder for inference (the EMA weights), with its
//! config and tokenizer or puzzle data.

use super::checkpoint::{self, Which};
use super::RunDir;
use crate::config::Config;
use crate::data::puzzle::arc::{self, ArcDataset};
use crate::data::puzzle::PuzzleData;
use crate::data::TextTokenizer;
use crate::tasks::puzzle::PuzzleModel;
use crate::tasks::text::TextLm;
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use std::path::{Path, PathBuf};

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
    let (run, checkpoint) = resolve_checkpoint(path)?;
    let config = Config::load_run(&run.config(), &[])?;
    if config.is_puzzle() {
        bail!(
            "{} is a puzzle run ({:?}): evaluate it with `trm eval --checkpoint {0}`",
            path.display(),
            config.puzzle.task
        );
    }
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

/// `path` is a run folder (its best checkpoint, else the latest) or one checkpoint folder.
pub fn resolve_checkpoint(path: &Path) -> Result<(RunDir, PathBuf)> {
    if !path.exists() {
        bail!("checkpoint {} does not exist", path.display());
    }
    Ok(if path.join("state.json").exists() {
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
    })
}

/// A trained puzzle solver (EMA weights) with its config and data.
pub struct TrainedPuzzle<B: Backend> {
    pub config: Config,
    pub data: PuzzleData,
    pub model: PuzzleModel<B>,
    pub checkpoint: PathBuf,
}

pub fn load_trained_puzzle<B: Backend>(
    path: &Path,
    device: &B::Device,
) -> Result<TrainedPuzzle<B>> {
    load_puzzle_with(path, device, PuzzleData::load)
}

/// A puzzle run's EMA model with the data `data` gives for its `puzzle.*` settings.
fn load_puzzle_with<B: Backend>(
    path: &Path,
    device: &B::Device,
    data: impl FnOnce(&crate::config::PuzzleConfig) -> Result<PuzzleData>,
) -> Result<TrainedPuzzle<B>> {
    let (checkpoint, config) = puzzle_run(path)?;
    let data = data(&config.puzzle)?;
    let model = PuzzleModel::for_data(&config, &data, device);
    let model = checkpoint::load_module(model, &checkpoint, "ema", device)?;
    Ok(TrainedPuzzle {
        config,
        data,
        model,
        checkpoint,
    })
}

/// The checkpoint folder `path` resolves to and its run's config, which must be a puzzle run's.
pub fn puzzle_run(path: &Path) -> Result<(PathBuf, Config)> {
    let (run, checkpoint) = resolve_checkpoint(path)?;
    let config = Config::load_run(&run.config(), &[])?;
    if !config.is_puzzle() {
        bail!(
            "{} is a language-model run, not a puzzle run",
            path.display()
        );
    }
    Ok((checkpoint, config))
}

/// A trained or imported puzzle model (EMA weights) for answering puzzles of a CSV: its data
/// is neither read nor generated, only its shapes are taken (Sudoku and Maze).
pub fn load_puzzle_solver<B: Backend>(path: &Path, device: &B::Device) -> Result<TrainedPuzzle<B>> {
    load_puzzle_with(path, device, PuzzleData::shapes)
}

/// A trained ARC solver (EMA weights) with the folder built by `trm data arc` it was trained on.
pub struct TrainedArc<B: Backend> {
    pub config: Config,
    /// `puzzle.train`: the folder, as the run's config names it.
    pub folder: PathBuf,
    pub set: ArcDataset,
    pub model: PuzzleModel<B>,
    pub checkpoint: PathBuf,
}

/// An ARC run's model and data folder (`puzzle.train`), whose puzzle ids number the rows of the
/// model's puzzle embedding: a folder with another count of puzzle ids is refused (it is not the
/// one the run was trained on). A folder rebuilt with the same count but other augmentations
/// cannot be told apart.
pub fn load_arc_solver<B: Backend>(path: &Path, device: &B::Device) -> Result<TrainedArc<B>> {
    let (checkpoint, config) = puzzle_run(path)?;
    if config.puzzle.task != "arc" {
        bail!(
            "{} is a {} run, not an ARC run",
            path.display(),
            config.puzzle.task
        );
    }
    if config.puzzle.train.is_empty() {
        bail!(
            "{}: puzzle.train is empty: an ARC run names the folder built by `trm data arc` it \
             was trained on",
            path.display()
        );
    }
    let folder = PathBuf::from(&config.puzzle.train);
    let set = ArcDataset::load(&folder)?;
    let model = PuzzleModel::new(
        &config.model,
        &config.puzzle,
        arc::VOCAB,
        arc::SEQ_LEN,
        set.num_puzzle_ids(),
        device,
    );
    let model = checkpoint::load_module(model, &checkpoint, "ema", device)?;
    let rows = model.puzzle_emb().dims()[0];
    if rows != set.num_puzzle_ids() {
        bail!(
            "{}: the checkpoint's puzzle embedding has {rows} rows, but {} numbers {} puzzle ids: \
             it is not the folder the run was trained on",
            checkpoint.display(),
            folder.display(),
            set.num_puzzle_ids()
        );
    }
    Ok(TrainedArc {
        config,
        folder,
        set,
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
