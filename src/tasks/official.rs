//! Checkpoints of the official TRM code (SamsungSAILMontreal/TinyRecursiveModels): its state-dict
//! names mapped onto the puzzle model, and the architecture its tensors and `all_config.yaml` describe.
//!
//! The official `TinyRecursiveReasoningModel_ACTV1` keeps everything under `inner.`:
//!
//! | official name                                   | here                                         |
//! |-------------------------------------------------|----------------------------------------------|
//! | `embed_tokens.embedding_weight` [V, D]          | `embed`                                      |
//! | `puzzle_emb.weights` [ids, D]                   | `puzzle_emb`                                 |
//! | `lm_head.weight` [V, D]                         | `lm_head.weight` [D, V] (transposed)         |
//! | `q_head.weight` [2, D], `.bias` [2]             | row 0 only (halt; `continue` is unused)      |
//! | `H_init`, `L_init` [D]                          | `y_init`, `z_init`                           |
//! | `L_level.layers.i.self_attn.qkv_proj` [3D, D]   | `blocks.i` attention `qkv` (transposed)      |
//! | `L_level.layers.i.self_attn.o_proj`             | `blocks.i` attention `out`                   |
//! | `L_level.layers.i.mlp.gate_up_proj` / `down_proj` | `blocks.i.mlp.gate_up` / `down`            |
//! | `L_level.layers.i.mlp_t.*`                      | `blocks.i` MLP-T (sequence-axis SwiGLU)      |
//!
//! PyTorch linear weights are [out, in]; ours are [in, out]. The row orders agree: q heads, k
//! heads, v heads in `qkv`; gate rows then up rows in `gate_up`.

use crate::config::{Mixer, ModelConfig, ModelKind, PuzzleConfig, PuzzleLoss, YInit};
use crate::tasks::puzzle::PuzzleModel;
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, ModuleStore, PytorchStore, SafetensorsStore, TensorSnapshot};
use std::collections::BTreeMap;
use std::path::Path;

/// An official state dict: names without the `_orig_mod.` / `model.` / `inner.` prefixes, f32 data.
pub struct StateDict {
    pub tensors: BTreeMap<String, TensorData>,
}

impl StateDict {
    /// Read a `.safetensors` file, or a PyTorch file (what `torch.save(model.state_dict())` writes).
    pub fn read(path: &Path) -> Result<Self> {
        if !path.is_file() {
            bail!("{} does not exist or is not a file", path.display());
        }
        let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
        let snapshots: BTreeMap<String, TensorSnapshot> = if is_safetensors {
            let mut store = SafetensorsStore::from_file(path);
            store
                .get_all_snapshots()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                .clone()
        } else {
            let mut store = PytorchStore::from_file(path);
            store
                .get_all_snapshots()
                .map_err(|e| {
                    anyhow::anyhow!("{} is not a readable PyTorch file: {e}", path.display())
                })?
                .clone()
        };
        let mut tensors = BTreeMap::new();
        for (name, snapshot) in snapshots {
            let data = snapshot
                .to_data()
                .map_err(|e| anyhow::anyhow!("{}: tensor {name}: {e:?}", path.display()))?;
            let data = data.convert::<f32>();
            tensors.insert(strip_prefixes(&name).to_string(), data);
        }
        if tensors.is_empty() {
            bail!("{} holds no tensors", path.display());
        }
        Ok(Self { tensors })
    }

    fn get(&self, name: &str) -> Result<&TensorData> {
        self.tensors.get(name).with_context(|| {
            format!("the official checkpoint has no tensor `{name}` (is it a TRM checkpoint?)")
        })
    }

    fn shape(&self, name: &str) -> Result<Vec<usize>> {
        Ok(self.get(name)?.shape.to_vec())
    }
}

/// torch.compile wraps the model in `_orig_mod.`, the loss head adds `model.`, the ACT wrapper `inner.`.
fn strip_prefixes(name: &str) -> &str {
    let mut name = name;
    for prefix in ["_orig_mod.", "model.", "inner."] {
        name = name.strip_prefix(prefix).unwrap_or(name);
    }
    name
}

/// The official model's architecture: sizes from the tensors, recursion settings from the
/// `arch` table of `all_config.yaml` (or the official defaults of config/arch/trm.yaml).
#[derive(Clone, Debug, PartialEq)]
pub struct OfficialArch {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_puzzle_identifiers: usize,
    pub l_layers: usize,
    pub num_heads: usize,
    pub expansion: f64,
    pub h_cycles: usize,
    pub l_cycles: usize,
    pub halt_max_steps: usize,
    pub puzzle_emb_len: usize,
    pub mlp_t: bool,
    /// Grid length without the prefix, when MLP-T fixes it (attention models take any length).
    pub mlp_t_len: Option<usize>,
    pub rope_theta: f64,
    pub stablemax: bool,
}

impl OfficialArch {
    /// Read sizes from the tensors and settings from `arch` (key -> value as written in the yaml).
    pub fn infer(sd: &StateDict, arch: &BTreeMap<String, String>) -> Result<Self> {
        let embed = sd.shape("embed_tokens.embedding_weight")?;
        let (vocab_size, hidden_size) = (embed[0], embed[1]);
        let mut l_layers = 0;
        while sd
            .tensors
            .keys()
            .any(|k| k.starts_with(&format!("L_level.layers.{l_layers}.")))
        {
            l_layers += 1;
        }
        if l_layers == 0 {
            bail!("the official checkpoint has no `L_level.layers.0.*` tensors");
        }
        if sd.tensors.keys().any(|k| k.starts_with("H_level.")) {
            bail!("the checkpoint has an H_level: it is an HRM checkpoint, not a TRM one");
        }
        let mlp_t = sd
            .tensors
            .contains_key("L_level.layers.0.mlp_t.gate_up_proj.weight");
        let get = |key: &str| arch.get(key).map(String::as_str);
        let num = |key: &str, default: f64| -> Result<f64> {
            match get(key) {
                None => Ok(default),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .with_context(|| format!("all_config.yaml: arch.{key} = {v} is not a number")),
            }
        };
        let count = |key: &str, default: usize| -> Result<usize> {
            let x = num(key, default as f64)?;
            if x.fract() != 0.0 {
                bail!("all_config.yaml: arch.{key} = {x} is not a whole number");
            }
            Ok(x as usize)
        };
        let flag = |key: &str, default: bool| -> Result<bool> {
            match get(key).map(str::to_ascii_lowercase).as_deref() {
                None => Ok(default),
                Some("true") => Ok(true),
                Some("false") => Ok(false),
                Some(v) => bail!("all_config.yaml: arch.{key} = {v} is not true or false"),
            }
        };
        if let Some(name) = get("name") {
            if !name.contains("trm@TinyRecursiveReasoningModel_ACTV1") {
                bail!("all_config.yaml: arch.name = {name}: only the TRM (recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1) can be imported");
            }
        }
        if flag("mlp_t", mlp_t)? != mlp_t {
            bail!(
                "all_config.yaml says arch.mlp_t = {}, but the checkpoint {} MLP-T weights",
                !mlp_t,
                if mlp_t { "has" } else { "has no" }
            );
        }
        let pos = get("pos_encodings").unwrap_or(if mlp_t { "none" } else { "rope" });
        match (pos, mlp_t) {
            ("rope", _) | ("none", true) => {}
            (other, _) => bail!("all_config.yaml: arch.pos_encodings = {other} is not supported (rope, or none with mlp_t)"),
        }
        if let Some(loss) = get("loss.loss_type") {
            if loss != "stablemax_cross_entropy" && loss != "softmax_cross_entropy" {
                bail!("all_config.yaml: arch.loss.loss_type = {loss} is not supported");
            }
        }
        let stablemax = get("loss.loss_type").is_none_or(|l| l == "stablemax_cross_entropy");
        if num("rms_norm_eps", 1e-5)? != 1e-5 {
            bail!("all_config.yaml: arch.rms_norm_eps must be 1e-5 (fixed here)");
        }
        let yaml_hidden = count("hidden_size", hidden_size)?;
        if yaml_hidden != hidden_size {
            bail!("all_config.yaml: arch.hidden_size = {yaml_hidden}, but the checkpoint's embedding has width {hidden_size}");
        }
        let puzzle = sd.shape("puzzle_emb.weights")?;
        let ndim = count("puzzle_emb_ndim", puzzle[1])?;
        if ndim != puzzle[1] || ndim != hidden_size {
            bail!("only puzzle_emb_ndim = hidden_size is supported (the checkpoint has {} and {hidden_size})", puzzle[1]);
        }
        let puzzle_emb_len = match count("puzzle_emb_len", 16)? {
            0 => ndim.div_ceil(hidden_size),
            n => n,
        };
        let num_heads = count("num_heads", 8)?;
        if num_heads == 0 || hidden_size % num_heads != 0 || (hidden_size / num_heads) % 2 != 0 {
            bail!("all_config.yaml: arch.num_heads = {num_heads} does not divide hidden_size {hidden_size} into even head sizes");
        }
        let mlp_t_len = if mlp_t {
            let rows = sd.shape("L_level.layers.0.mlp_t.down_proj.weight")?[0];
            if rows <= puzzle_emb_len {
                bail!("MLP-T acts on {rows} positions, not more than puzzle_emb_len = {puzzle_emb_len}");
            }
            Some(rows - puzzle_emb_len)
        } else {
            None
        };
        let arch = Self {
            vocab_size,
            hidden_size,
            num_puzzle_identifiers: puzzle[0],
            l_layers,
            num_heads,
            expansion: num("expansion", 4.0)?,
            h_cycles: count("H_cycles", 3)?,
            l_cycles: count("L_cycles", 6)?,
            halt_max_steps: count("halt_max_steps", 16)?,
            puzzle_emb_len,
            mlp_t,
            mlp_t_len,
            rope_theta: num("rope_theta", 10_000.0)?,
            stablemax,
        };
        if arch.h_cycles == 0 || arch.l_cycles == 0 || arch.halt_max_steps == 0 {
            bail!("all_config.yaml: H_cycles, L_cycles and halt_max_steps must be at least 1");
        }
        let expected_ffn = arch.model_config().ffn_inner();
        let ffn = sd.shape("L_level.layers.0.mlp.down_proj.weight")?[1];
        if ffn != expected_ffn {
            bail!("the checkpoint's SwiGLU width is {ffn}, but expansion {} gives {expected_ffn}: set arch.expansion", arch.expansion);
        }
        Ok(arch)
    }

    /// The same model in this project's terms: T = H_cycles, n = L_cycles, N_sup = halt_max_steps.
    pub fn model_config(&self) -> ModelConfig {
        ModelConfig {
            kind: ModelKind::Trm,
            d_model: self.hidden_size,
            n_layers: self.l_layers,
            n_heads: self.num_heads,
            mixer: if self.mlp_t {
                Mixer::MlpT
            } else {
                Mixer::Attention
            },
            expansion: self.expansion,
            ffn_multiple: 256,
            rope_theta: self.rope_theta,
            n: self.l_cycles,
            t: self.h_cycles,
            n_sup: self.halt_max_steps,
            y_init: YInit::Fixed,
            ..ModelConfig::default()
        }
    }

    /// The puzzle settings the model depends on (the rest keeps its defaults).
    pub fn apply_to(&self, puzzle: &mut PuzzleConfig) {
        puzzle.puzzle_emb_len = self.puzzle_emb_len;
        puzzle.loss = if self.stablemax {
            PuzzleLoss::Stablemax
        } else {
            PuzzleLoss::Softmax
        };
    }
}

/// The scalar entries of the `arch` table of an official `all_config.yaml` (PyYAML's block style,
/// as `pretrain.py` writes it), nested keys joined with dots (`loss.loss_type`). Only this table
/// describes the model; data paths, optimizer and logging settings are ignored.
pub fn read_arch_yaml(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut arch = BTreeMap::new();
    let mut inside = false;
    let mut parents: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or("").trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            inside = line == "arch:";
            parents.clear();
            continue;
        }
        if !inside {
            continue;
        }
        let Some((key, value)) = line.trim().split_once(':') else {
            bail!(
                "{} line {}: expected `key: value` in the arch table",
                path.display(),
                i + 1
            );
        };
        while parents.last().is_some_and(|(level, _)| *level >= indent) {
            parents.pop();
        }
        let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
        if value.is_empty() {
            parents.push((indent, key.to_string()));
            continue;
        }
        let mut full: Vec<&str> = parents.iter().map(|(_, k)| k.as_str()).collect();
        full.push(key);
        arch.insert(full.join("."), value.to_string());
    }
    if arch.is_empty() {
        bail!(
            "{} has no `arch:` table (is it the all_config.yaml of an official run?)",
            path.display()
        );
    }
    Ok(arch)
}

/// How an official tensor becomes ours.
#[derive(Clone, Copy)]
enum Layout {
    Same,
    /// PyTorch [out, in] -> [in, out].
    Transpose,
    /// The halting head keeps only output 0 (halt): [2, D] -> [D, 1], [2] -> [1].
    FirstRow,
}

/// Our parameter path for an official name (prefixes stripped), if the model has one.
fn our_name(name: &str) -> Option<(String, Layout)> {
    let fixed = match name {
        "embed_tokens.embedding_weight" => Some(("embed", Layout::Same)),
        "puzzle_emb.weights" => Some(("puzzle_emb", Layout::Same)),
        "lm_head.weight" => Some(("lm_head.weight", Layout::Transpose)),
        "q_head.weight" | "q_head.bias" => {
            let ours = if name.ends_with("weight") {
                "core.Trm.q_head.weight"
            } else {
                "core.Trm.q_head.bias"
            };
            Some((ours, Layout::FirstRow))
        }
        "H_init" => Some(("core.Trm.y_init", Layout::Same)),
        "L_init" => Some(("core.Trm.z_init", Layout::Same)),
        _ => None,
    };
    if let Some((ours, layout)) = fixed {
        return Some((ours.to_string(), layout));
    }
    let rest = name.strip_prefix("L_level.layers.")?;
    let (layer, leaf) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let ours = match leaf {
        "self_attn.qkv_proj.weight" => "mix.Attention.qkv.weight",
        "self_attn.o_proj.weight" => "mix.Attention.out.weight",
        "mlp.gate_up_proj.weight" => "mlp.gate_up.weight",
        "mlp.down_proj.weight" => "mlp.down.weight",
        "mlp_t.gate_up_proj.weight" => "mix.MlpT.mix.gate_up.weight",
        "mlp_t.down_proj.weight" => "mix.MlpT.mix.down.weight",
        _ => return None,
    };
    Some((
        format!("core.Trm.net.blocks.{layer}.{ours}"),
        Layout::Transpose,
    ))
}

fn relayout(data: &TensorData, layout: Layout) -> TensorData {
    let values: Vec<f32> = data.to_vec().expect("f32 data");
    let shape = data.shape.to_vec();
    match (layout, shape.as_slice()) {
        (Layout::Same, _) => data.clone(),
        (Layout::Transpose, &[rows, cols]) => {
            let mut out = vec![0.0f32; rows * cols];
            for r in 0..rows {
                for c in 0..cols {
                    out[c * rows + r] = values[r * cols + c];
                }
            }
            TensorData::new(out, [cols, rows])
        }
        (Layout::FirstRow, &[_, cols]) => TensorData::new(values[..cols].to_vec(), [cols, 1]),
        (Layout::FirstRow, &[_]) => TensorData::new(values[..1].to_vec(), [1]),
        _ => data.clone(),
    }
}

/// Load an official state dict into `model` (built from [`OfficialArch::model_config`]). Every
/// official tensor must find its place with the right shape, and every parameter must be set.
pub fn load_official<B: Backend>(
    mut model: PuzzleModel<B>,
    sd: &StateDict,
) -> Result<PuzzleModel<B>> {
    let ours: BTreeMap<String, TensorSnapshot> = model
        .collect(None, None, false)
        .into_iter()
        .map(|s| (s.full_path(), s))
        .collect();
    let mut snapshots = Vec::new();
    for (name, data) in &sd.tensors {
        let Some((path, layout)) = our_name(name) else {
            bail!("the official checkpoint's tensor `{name}` has no place in this model");
        };
        let Some(target) = ours.get(&path) else {
            bail!("the official tensor `{name}` has no counterpart `{path}` in the configured model (mixer or layer count differ)");
        };
        let data = relayout(data, layout);
        if data.shape.to_vec() != target.shape.to_vec() {
            bail!(
                "the official tensor `{name}` has shape {:?}; the configured model needs {:?} for `{path}`",
                data.shape.to_vec(),
                target.shape.to_vec()
            );
        }
        let path_stack = path.split('.').map(str::to_string).collect();
        let containers = target.container_stack.clone().unwrap_or_default();
        let id = target.tensor_id.unwrap_or_default();
        snapshots.push(TensorSnapshot::from_data(data, path_stack, containers, id));
    }
    let result = model.apply(snapshots, None, None, false);
    if !result.errors.is_empty() {
        bail!("cannot load the official weights: {:?}", result.errors);
    }
    let missing: Vec<&String> = ours
        .keys()
        .filter(|p| !result.applied.contains(p))
        .collect();
    if !missing.is_empty() {
        bail!("the official checkpoint does not set {missing:?}");
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout PyYAML's `yaml.dump` gives the official `all_config.yaml` (keys sorted, nested
    /// tables indented by two spaces, lists as `- item`).
    const ALL_CONFIG: &str = "arch:
  H_cycles: 3
  H_layers: 0
  L_cycles: 6
  L_layers: 2
  expansion: 4
  forward_dtype: bfloat16
  halt_exploration_prob: 0.1
  halt_max_steps: 16
  hidden_size: 512
  loss:
    loss_type: stablemax_cross_entropy
    name: losses@ACTLossHead
  mlp_t: false
  name: recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1
  num_heads: 8
  pos_encodings: rope
  puzzle_emb_len: 16
  puzzle_emb_ndim: 512
beta1: 0.9
data_paths:
- data/sudoku-extreme-1k-aug-1000
epochs: 50000
lr: 0.0001
run_name: 'pretrain_att_sudoku'
";

    #[test]
    fn reads_the_arch_table_of_an_official_all_config_yaml() {
        let path = std::env::temp_dir().join(format!("trm-all-config-{}.yaml", std::process::id()));
        std::fs::write(&path, ALL_CONFIG).unwrap();
        let arch = read_arch_yaml(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(arch["H_cycles"], "3");
        assert_eq!(arch["L_cycles"], "6");
        assert_eq!(arch["loss.loss_type"], "stablemax_cross_entropy");
        assert_eq!(arch["loss.name"], "losses@ACTLossHead");
        assert_eq!(arch["mlp_t"], "false");
        assert_eq!(arch["pos_encodings"], "rope");
        // keys outside `arch` (data, optimizer, logging) are not model settings
        assert!(!arch.contains_key("lr") && !arch.contains_key("epochs"));
        assert_eq!(arch.len(), 17);
    }

    #[test]
    fn official_names_find_their_place_and_layout() {
        assert_eq!(strip_prefixes("_orig_mod.model.inner.H_init"), "H_init");
        assert_eq!(strip_prefixes("inner.L_init"), "L_init");
        let (path, _) = our_name("L_level.layers.3.mlp_t.down_proj.weight").unwrap();
        assert_eq!(path, "core.Trm.net.blocks.3.mix.MlpT.mix.down.weight");
        assert!(our_name("H_level.layers.0.mlp.down_proj.weight").is_none());
        // [out, in] -> [in, out]; the halting head keeps its first output
        let t = TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
        let tr = relayout(&t, Layout::Transpose);
        assert_eq!(tr.shape.to_vec(), vec![3, 2]);
        assert_eq!(
            tr.to_vec::<f32>().unwrap(),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        let first = relayout(&t, Layout::FirstRow);
        assert_eq!(first.shape.to_vec(), vec![3, 1]);
        assert_eq!(first.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0]);
    }
}
