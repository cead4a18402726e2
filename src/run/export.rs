//! Weights in and out of the ecosystem: `trm export` writes a language-model run as a
//! Hugging Face-style folder (model.safetensors, config.json, tokenizer.json, README.md), and
//! `train.init_from` starts a new run from such a folder or from another run's weights.
//!
//! Tensor names are the module paths of [`TextLm`] (`embed`, `core.net.layers.0.attn.wqkv.weight`,
//! `lm_head.weight`, ...). Linear weights are written as PyTorch's `nn.Linear` holds them,
//! `[out, in]` (burn-store's PyTorch adapter transposes burn's `[in, out]` both ways), so
//! `x @ W.T` computes the layer; everything is f32.

use super::checkpoint::{self, load_state};
use super::trained::{ensure_same_tokenizer, resolve_checkpoint};
use crate::config::{Config, Head, ModelConfig, ModelKind};
use crate::data::TextTokenizer;
use crate::files::{sync_dir, sync_tree, write_synced};
use crate::tasks::text::TextLm;
use anyhow::{anyhow, bail, Context, Result};
use burn::prelude::*;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The files of an export folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// What `config.json` holds for trm itself (beside the Hugging Face-style keys): enough to rebuild
/// the model exactly and to refuse weights that do not fit.
#[derive(Serialize, Deserialize, Debug)]
pub struct ExportInfo {
    pub model: ModelConfig,
    pub vocab_size: usize,
    /// The training window (the longest context sampled with the KV cache; RoPE has no table).
    pub seq_len: usize,
    pub tokenizer_fingerprint: String,
    /// `ema` (the averaged weights, what sampling and evaluation use) or `raw` (the live ones).
    pub weights: String,
    pub source_checkpoint: String,
    pub step: Option<u64>,
}

/// What `trm export` wrote.
pub struct Exported {
    pub dir: PathBuf,
    pub checkpoint: PathBuf,
    pub tensors: Vec<(String, Vec<usize>)>,
    pub parameters: usize,
}

/// Export the language-model run (or checkpoint folder) `path` into the new folder `out`: its EMA
/// weights, or the live ones with `raw`. `out` must not exist or be empty; the folder appears
/// complete or not at all (written beside it, then renamed).
pub fn export_run<B: Backend>(
    path: &Path,
    out: &Path,
    raw: bool,
    device: &B::Device,
) -> Result<Exported> {
    let (run, checkpoint) = resolve_checkpoint(path)?;
    let config = Config::load_run(&run.config(), &[])?;
    if config.is_puzzle() {
        bail!(
            "{} is a puzzle run ({:?}): `trm export` writes language-model runs (puzzle models need their puzzle data and identifiers, which a safetensors folder does not carry)",
            path.display(),
            config.puzzle.task
        );
    }
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .with_context(|| format!("--out {}: not a folder", out.display()))?
            .next()
            .is_none();
        if !empty {
            bail!(
                "--out {} already exists and is not empty: choose a new folder (nothing there is overwritten)",
                out.display()
            );
        }
    }
    let tokenizer = TextTokenizer::from_file(&run.tokenizer())?;
    let state: serde_json::Value = load_state(&checkpoint)?;
    if let Some(fp) = state.get("tokenizer").and_then(|v| v.as_str()) {
        ensure_same_tokenizer(&tokenizer, fp, &run.tokenizer().display().to_string())?;
    }
    let model = TextLm::<B>::new(
        &config.model,
        tokenizer.vocab_size(),
        config.train.seq_len,
        device,
    );
    let which = if raw { "model" } else { "ema" };
    let model = checkpoint::load_module(model, &checkpoint, which, device)?;
    let tensors: Vec<(String, Vec<usize>)> = model
        .collect(None, None, false)
        .into_iter()
        .map(|s| (s.full_path(), pytorch_shape(&s)))
        .collect();
    let info = ExportInfo {
        model: config.model.clone(),
        vocab_size: tokenizer.vocab_size(),
        seq_len: config.train.seq_len,
        tokenizer_fingerprint: tokenizer.fingerprint(),
        weights: if raw { "raw" } else { "ema" }.to_string(),
        source_checkpoint: checkpoint.display().to_string(),
        step: state.get("step").and_then(|s| s.as_u64()),
    };

    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create folder {}", parent.display()))?;
    let name = out
        .file_name()
        .ok_or_else(|| anyhow!("--out {}: needs a folder name", out.display()))?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = write_folder(&tmp, &model, &info, &tokenizer, &tensors);
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if out.exists() {
        // the empty folder checked above
        std::fs::remove_dir(out).with_context(|| format!("cannot replace {}", out.display()))?;
    }
    std::fs::rename(&tmp, out)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), out.display()))?;
    sync_dir(parent)?;
    Ok(Exported {
        dir: out.to_path_buf(),
        checkpoint,
        parameters: model.num_params(),
        tensors,
    })
}

fn write_folder<B: Backend>(
    dir: &Path,
    model: &TextLm<B>,
    info: &ExportInfo,
    tokenizer: &TextTokenizer,
    tensors: &[(String, Vec<usize>)],
) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear leftover {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let weights = dir.join(WEIGHTS_FILE);
    let mut store = SafetensorsStore::from_file(&weights)
        .with_to_adapter(BurnToPyTorchAdapter)
        .metadata("format", "pt")
        .metadata("trm_weights", info.weights.clone());
    model
        .save_into(&mut store)
        .map_err(|e| anyhow!("cannot write {}: {e}", weights.display()))?;
    write_synced(
        &dir.join(CONFIG_FILE),
        serde_json::to_string_pretty(&config_json(info, tokenizer))?.as_bytes(),
    )?;
    tokenizer.save(&dir.join(TOKENIZER_FILE))?;
    write_synced(
        &dir.join("README.md"),
        model_card(info, tokenizer, tensors).as_bytes(),
    )?;
    sync_tree(dir)
}

/// Hugging Face-style keys for other tools, and trm's own section (`trm`) for `init_from`.
fn config_json(info: &ExportInfo, tokenizer: &TextTokenizer) -> serde_json::Value {
    let m = &info.model;
    let (model_type, architecture) = match (m.kind, m.head) {
        (ModelKind::Trm, Head::Causal) => ("trm", "TrmForCausalLM"),
        (ModelKind::Trm, Head::Masked) => ("trm", "TrmForMaskedLM"),
        (ModelKind::Transformer, Head::Causal) => ("trm-transformer", "TransformerForCausalLM"),
        (ModelKind::Transformer, Head::Masked) => ("trm-transformer", "TransformerForMaskedLM"),
    };
    json!({
        "model_type": model_type,
        "architectures": [architecture],
        "vocab_size": info.vocab_size,
        "hidden_size": m.d_model,
        "num_hidden_layers": m.n_layers,
        "num_attention_heads": m.n_heads,
        "intermediate_size": m.ffn_inner(),
        "max_position_embeddings": info.seq_len,
        "rope_theta": m.rope_theta,
        "hidden_act": "silu",
        "eos_token_id": tokenizer.eot_id(),
        "tie_word_embeddings": false,
        "torch_dtype": "float32",
        "trm": info,
    })
}

fn model_card(
    info: &ExportInfo,
    tokenizer: &TextTokenizer,
    tensors: &[(String, Vec<usize>)],
) -> String {
    let m = &info.model;
    let kind = match m.kind {
        ModelKind::Trm => format!(
            "Tiny Recursive Model: one network of {} block(s) refines an answer y and a latent z (n = {}, T = {}, {} supervision step(s))",
            m.n_layers, m.n, m.t, m.n_sup
        ),
        ModelKind::Transformer => format!("pre-norm transformer, {} layers", m.n_layers),
    };
    let mut card = format!(
        "# trm export\n\n{kind}; {:?} head; D = {}, {} heads; vocabulary {} ({}); trained window {} tokens; {} weights{}.\n\n\
         Written by `trm export` from `{}`. `trm train --init-from THIS_FOLDER` starts a new run from these weights;\n\
         `config.json` holds the architecture (its `trm` section is what `--init-from` checks).\n\n\
         ## Tensors (`model.safetensors`, f32)\n\n\
         Linear weights are `[out, in]` as in PyTorch's `nn.Linear`; `embed` is `[vocab, D]`.\n\n| name | shape |\n|---|---|\n",
        m.head,
        m.d_model,
        m.n_heads,
        info.vocab_size,
        tokenizer.describe(),
        info.seq_len,
        info.weights,
        info.step.map(|s| format!(" after training step {s}")).unwrap_or_default(),
        info.source_checkpoint,
    );
    for (name, shape) in tensors {
        card.push_str(&format!("| `{name}` | {shape:?} |\n"));
    }
    card
}

/// The shape a tensor has in the file: linear weights transposed to `[out, in]`.
fn pytorch_shape(s: &burn::store::TensorSnapshot) -> Vec<usize> {
    let shape = s.shape.to_vec();
    let is_linear_weight = s.module_type().as_deref() == Some("Struct:Linear")
        && s.full_path().ends_with(".weight")
        && shape.len() == 2;
    if is_linear_weight {
        vec![shape[1], shape[0]]
    } else {
        shape
    }
}

/// `model` with the weights of `from`: an export folder (model.safetensors + config.json), a run
/// folder (its best checkpoint, else the latest; EMA weights) or one checkpoint folder. Refused
/// unless the architecture (model.* but the seed) and the tokenizer are the new run's.
pub fn load_init<B: Backend>(
    mut model: TextLm<B>,
    from: &Path,
    config: &Config,
    tokenizer: &TextTokenizer,
    device: &B::Device,
) -> Result<TextLm<B>> {
    let what = format!("train.init_from {}", from.display());
    if !from.exists() {
        bail!("{what}: does not exist");
    }
    if from.join(WEIGHTS_FILE).is_file() {
        let config_path = from.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("{what}: cannot read {}", config_path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{what}: {} is not JSON", config_path.display()))?;
        let info: ExportInfo =
            serde_json::from_value(value.get("trm").cloned().ok_or_else(|| {
                anyhow!(
                    "{what}: {} has no `trm` section (not written by trm export)",
                    config_path.display()
                )
            })?)
            .with_context(|| format!("{what}: {} `trm` section", config_path.display()))?;
        check_architecture(&what, &info.model, &config.model)?;
        if info.vocab_size != tokenizer.vocab_size() {
            bail!(
                "{what}: its vocabulary has {} tokens, this run's tokenizer {} has {}: set data.tokenizer={}",
                info.vocab_size,
                tokenizer.describe(),
                tokenizer.vocab_size(),
                from.join(TOKENIZER_FILE).display()
            );
        }
        if info.tokenizer_fingerprint != tokenizer.fingerprint() {
            bail!(
                "{what}: it was trained with another tokenizer than this run's {}: set data.tokenizer={}",
                tokenizer.describe(),
                from.join(TOKENIZER_FILE).display()
            );
        }
        let weights = from.join(WEIGHTS_FILE);
        let mut store =
            SafetensorsStore::from_file(&weights).with_from_adapter(PyTorchToBurnAdapter);
        let result = model
            .load_from(&mut store)
            .map_err(|e| anyhow!("{what}: cannot read {}: {e}", weights.display()))?;
        if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
            bail!(
                "{what}: {} does not fit the model: errors {:?}, missing {:?}, unused {:?}",
                weights.display(),
                result.errors,
                result.missing,
                result.unused
            );
        }
        return Ok(model);
    }
    let (run, checkpoint) = resolve_checkpoint(from).with_context(|| {
        format!("{what}: neither an export folder ({WEIGHTS_FILE}) nor a run folder")
    })?;
    let saved = Config::load_run(&run.config(), &[])?;
    if saved.is_puzzle() {
        bail!("{what}: a puzzle run cannot start a language model");
    }
    check_architecture(&what, &saved.model, &config.model)?;
    let run_tokenizer = TextTokenizer::from_file(&run.tokenizer())?;
    ensure_same_tokenizer(
        tokenizer,
        &run_tokenizer.fingerprint(),
        &format!("{what} (its tokenizer.json)"),
    )?;
    checkpoint::load_module(model, &checkpoint, "ema", device)
}

/// Refuse weights of another architecture, naming every model.* key that differs (the seed only
/// draws the initial weights, which are replaced, so it may differ).
fn check_architecture(what: &str, theirs: &ModelConfig, ours: &ModelConfig) -> Result<()> {
    let as_table = |m: &ModelConfig| -> toml::Table {
        toml::Table::try_from(m).expect("model config serialises")
    };
    let (theirs, ours) = (as_table(theirs), as_table(ours));
    let differ: Vec<String> = ours
        .iter()
        .filter(|(key, value)| key.as_str() != "seed" && theirs.get(key.as_str()) != Some(value))
        .map(|(key, value)| {
            let them = theirs
                .get(key.as_str())
                .map_or("none".to_string(), |v| v.to_string());
            format!("model.{key} = {value} here, {them} there")
        })
        .collect();
    if !differ.is_empty() {
        bail!(
            "{what}: another architecture ({}); set the same model.* to start from these weights",
            differ.join("; ")
        );
    }
    Ok(())
}
