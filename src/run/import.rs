//! `trm import`: an official TRM checkpoint (its PyTorch or safetensors state dict, and the
//! `all_config.yaml` of its run) becomes a run folder that `trm eval` and `trm solve` use.

use super::RunDir;
use crate::config::Config;
use crate::data::puzzle::PuzzleData;
use crate::tasks::official::{load_official, read_arch_yaml, OfficialArch, StateDict};
use crate::tasks::puzzle::PuzzleModel;
use anyhow::{bail, Result};
use burn::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What was imported.
pub struct Imported {
    pub arch: OfficialArch,
    pub config: Config,
    pub checkpoint: PathBuf,
    pub parameters: usize,
}

/// Import `file` (with `arch_yaml`, the run's all_config.yaml, when given) as a `task` model
/// into the new run folder `out`. Every check runs before anything is written.
pub fn import_official<B: Backend>(
    file: &Path,
    arch_yaml: Option<&Path>,
    task: &str,
    out: &Path,
    device: &B::Device,
) -> Result<Imported> {
    match task {
        "sudoku" | "maze" => {}
        "arc" => bail!("--task arc: an official ARC model's puzzle identifiers number the (task, augmentation) pairs of its own dataset build (identifiers.json), which this project does not reproduce, so its puzzle embeddings would be applied to the wrong puzzles; only sudoku and maze can be imported"),
        other => bail!("--task {other:?}: use sudoku or maze"),
    }
    let run = RunDir::new(out);
    run.check_new()?;
    if run.config().exists() {
        bail!(
            "{} already holds a run (config.toml): choose a new --out folder",
            out.display()
        );
    }
    let sd = StateDict::read(file)?;
    let table = match arch_yaml {
        Some(path) => read_arch_yaml(path)?,
        None => BTreeMap::new(),
    };
    let arch = OfficialArch::infer(&sd, &table)?;
    let mut config = Config {
        model: arch.model_config(),
        ..Config::default()
    };
    config.puzzle.task = task.to_string();
    config.puzzle.generate_train = 0;
    config.puzzle.val_count = 0;
    arch.apply_to(&mut config.puzzle);
    config.validate()?;
    let data = PuzzleData::shapes(&config.puzzle)?;
    if arch.vocab_size != data.vocab_size {
        bail!(
            "{}: the checkpoint's vocabulary has {} tokens; {task} uses {}: is it a {task} model?",
            file.display(),
            arch.vocab_size,
            data.vocab_size
        );
    }
    if let Some(len) = arch.mlp_t_len.filter(|&l| l != data.seq_len) {
        bail!(
            "{}: the checkpoint's MLP-T mixes {len} grid cells; {task} grids have {}",
            file.display(),
            data.seq_len
        );
    }
    if arch.num_puzzle_identifiers != data.num_puzzle_ids {
        bail!(
            "{}: the checkpoint has {} puzzle identifiers; {task} puzzles use {}",
            file.display(),
            arch.num_puzzle_identifiers,
            data.num_puzzle_ids
        );
    }
    let model = PuzzleModel::<B>::for_data(&config, &data, device);
    let model = load_official(model, &sd)?;
    let parameters = model.num_params();
    run.create(&config)?;
    let provenance = json!({
        "imported": {
            "official_checkpoint": file.display().to_string(),
            "all_config": arch_yaml.map(|p| p.display().to_string()),
            "arch": format!("{arch:?}"),
        }
    });
    let checkpoint = run.checkpoints().save_weights(0, &model, &provenance)?;
    Ok(Imported {
        arch,
        config,
        checkpoint,
        parameters,
    })
}
