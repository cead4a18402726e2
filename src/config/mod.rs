//! Experiment configuration: plain structs with defaults, read from TOML (unknown keys refused),
//! every field overridable with `--set section.key=value`.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub mod keys;
mod paths;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub model: ModelConfig,
    pub data: DataConfig,
    pub train: TrainConfig,
    pub sample: SampleConfig,
    /// Set `puzzle.task` to train a puzzle solver instead of a language model.
    pub puzzle: PuzzleConfig,
}

/// Which model sits between the token embedding and the head.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// The Tiny Recursive Model.
    Trm,
    /// The baseline: a standard pre-norm decoder, n_layers deep, run once (n, t, n_sup unused).
    Transformer,
}

/// The language model's output head and attention.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// Autoregressive: causal attention, next-token prediction.
    Causal,
    /// Masked diffusion (MDLM-style): bidirectional attention, predict masked tokens.
    Masked,
}

/// Token mixing inside each block of the recursive network.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mixer {
    Attention,
    /// SwiGLU across the sequence axis (docs/trm.md §1); needs a fixed length and full attention.
    MlpT,
}

/// How the answer state y starts before the first supervision step.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum YInit {
    /// One fixed random vector broadcast to every position (the paper).
    Fixed,
    /// y starts as the embedded input x.
    Embed,
    /// y and z start as fresh noise, N(0, 1) truncated at 2 sigma and rescaled to unit variance,
    /// drawn anew for every training batch (Huginn's random state; language model only).
    Noise,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub kind: ModelKind,
    pub head: Head,
    /// Hidden size D.
    pub d_model: usize,
    /// Blocks in the one network f.
    pub n_layers: usize,
    pub n_heads: usize,
    pub mixer: Mixer,
    /// SwiGLU inner width = round(expansion * D * 2/3) rounded up to a multiple of `ffn_multiple`.
    pub expansion: f64,
    pub ffn_multiple: usize,
    pub rope_theta: f64,
    /// n: latent updates of z per latent_recursion.
    pub n: usize,
    /// T: latent_recursions per deep_recursion (T-1 without gradient).
    pub t: usize,
    /// N_sup: deep supervision steps per batch.
    pub n_sup: usize,
    pub y_init: YInit,
    /// Seed of the weight initialisation.
    pub seed: u64,
    /// Language model only: ordinary pre-norm blocks that read the embedding once before the
    /// recursion (Huginn's prelude) and that read y before the head at every step (its coda).
    pub prelude_layers: usize,
    pub coda_layers: usize,
    /// How the recursion's input meets the state: added (the paper) or concatenated and mapped
    /// back to D by a linear adapter (Huginn).
    pub injection: Injection,
    /// Norm placement in the recursive network's blocks: post-norm (the paper) or sandwich
    /// (Huginn: normalised input and output of each sub-layer, residual outside).
    pub norm: NormPlacement,
}

/// How the network f combines its state h with the injected input.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Injection {
    /// f(h + injection).
    Add,
    /// f(adapter([h, injection])), adapter: 2D -> D.
    Concat,
}

/// Where the RMSNorms sit in a recursive block.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NormPlacement {
    /// h = rms(h + mix(h)); h = rms(h + mlp(h)).
    Post,
    /// h = h + rms(mix(rms(h))); h = h + rms(mlp(rms(h))).
    Sandwich,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: ModelKind::Trm,
            head: Head::Causal,
            d_model: 128,
            n_layers: 1,
            n_heads: 4,
            mixer: Mixer::Attention,
            expansion: 4.0,
            ffn_multiple: 64,
            rope_theta: 10_000.0,
            n: 2,
            t: 2,
            n_sup: 2,
            y_init: YInit::Embed,
            seed: 0,
            prelude_layers: 0,
            coda_layers: 0,
            injection: Injection::Add,
            norm: NormPlacement::Post,
        }
    }
}

impl ModelConfig {
    pub fn ffn_inner(&self) -> usize {
        self.swiglu_inner(self.d_model)
    }

    /// The official SwiGLU width rule for a layer acting on `width` features (D for the channel
    /// MLP, the sequence length for MLP-T): round(expansion * width * 2/3), ties to even as
    /// Python's round, then up to a multiple of `ffn_multiple`.
    pub fn swiglu_inner(&self, width: usize) -> usize {
        let raw = (self.expansion * width as f64 * 2.0 / 3.0).round_ties_even() as usize;
        raw.div_ceil(self.ffn_multiple).max(1) * self.ffn_multiple
    }
}

/// The name of the corpus built into the binary (Tiny Shakespeare), the default `data.train`.
pub const BUILTIN_CORPUS: &str = "builtin:shakespeare";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Parquet files or globs, or `builtin:shakespeare` (the corpus built into the binary).
    pub train: Vec<String>,
    /// Separate validation files; when empty, `val_fraction` of the training documents is held out.
    pub val: Vec<String>,
    pub text_column: String,
    /// `bytes`, a path to a tokenizer.json, or a Hugging Face Hub model id (read from the local cache).
    pub tokenizer: String,
    pub val_fraction: f64,
    /// Windows held in the shuffle buffer (0 = no shuffling).
    pub shuffle_buffer: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            train: vec![BUILTIN_CORPUS.into()],
            val: vec![],
            text_column: "text".into(),
            tokenizer: "bytes".into(),
            val_fraction: 0.05,
            shuffle_buffer: 2048,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adamw,
    /// Adam without epsilon: update = atan2(m_hat, sqrt(v_hat)) (docs/trm.md §4).
    AdamAtan2,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    Cosine,
}

/// How deep supervision meets a stream of text.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Supervision {
    /// An optimizer step after every supervision step on the same batch (paper pseudocode).
    PerStep,
    /// Gradients of all supervision steps averaged into one optimizer step per batch.
    Accumulate,
    /// Recurrent depth (Huginn): per batch a number of supervision steps drawn from
    /// `train.depth` (mean n_sup), the state carried with its graph through the last
    /// `train.backprop_steps`, the loss as `train.lm_loss` says, one optimizer step.
    Unrolled,
}

/// How many supervision steps an `unrolled` batch runs.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    /// Always n_sup.
    Fixed,
    /// Uniform on 1 ..= 2 n_sup - 1.
    Uniform,
    /// 1 + Poisson(e^tau), tau ~ N(ln(n_sup - 1) - 1/8, 1/2) (Huginn): mean n_sup, a long tail,
    /// cut at 4 n_sup.
    PoissonLognormal,
}

/// Which supervision steps of an `unrolled` batch the language-model loss reads.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LmLoss {
    /// The mean over the steps that carry gradient.
    Every,
    /// The last step only (Huginn).
    Last,
    /// One step drawn uniformly among those that carry gradient.
    Random,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Training batches. With `supervision = "per_step"` each batch makes n_sup optimizer updates.
    pub steps: u64,
    pub batch_size: usize,
    /// Rows per forward/backward pass (0 = the whole batch): the batch is cut into chunks of this
    /// many sequences (puzzles) whose gradients are summed before the one update, so a large
    /// batch fits a small device with the same update.
    pub micro_batch: usize,
    pub seq_len: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    /// Final learning rate of the cosine schedule, as a fraction of `lr`.
    pub min_lr_ratio: f64,
    /// Warm-up length in optimizer updates.
    pub warmup: u64,
    pub schedule: Schedule,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    /// Global gradient-norm clipping (0 = off).
    pub grad_clip: f64,
    pub ema_decay: f64,
    pub supervision: Supervision,
    /// `unrolled` only: the distribution of supervision steps per batch.
    pub depth: Depth,
    /// `unrolled` only: supervision steps that carry gradient, the last ones (0 = all; earlier
    /// steps run without gradient: truncated backpropagation).
    pub backprop_steps: usize,
    /// `unrolled` only: which steps' next-token loss is trained.
    pub lm_loss: LmLoss,
    /// Weight of the halting (Q) head's binary cross-entropy in the loss.
    pub halt_loss_weight: f64,
    pub checkpoint_every: u64,
    pub eval_every: u64,
    /// Validation windows used per evaluation.
    pub eval_windows: usize,
    pub log_every: u64,
    /// Seed of data shuffling and of the samples shown during training.
    pub seed: u64,
    /// Precision of the training passes: `f32`, or `bf16` (forward and backward in bf16; weights,
    /// gradients, optimizer moments, EMA, losses and norms in f32). Evaluation runs in f32.
    pub precision: Precision,
    /// Start a new run from these weights instead of random ones (fresh optimizer and schedule):
    /// a `trm export` folder, a run folder or a checkpoint folder. Empty = random initialisation.
    pub init_from: String,
}

/// The dtype training activations are computed in.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 900,
            batch_size: 16,
            micro_batch: 0,
            seq_len: 64,
            optimizer: OptimizerKind::Adamw,
            lr: 2e-3,
            min_lr_ratio: 0.1,
            warmup: 50,
            schedule: Schedule::Cosine,
            beta1: 0.9,
            beta2: 0.95,
            weight_decay: 0.1,
            grad_clip: 1.0,
            ema_decay: 0.99,
            supervision: Supervision::PerStep,
            depth: Depth::Fixed,
            backprop_steps: 0,
            lm_loss: LmLoss::Every,
            halt_loss_weight: 0.5,
            checkpoint_every: 100,
            eval_every: 100,
            eval_windows: 64,
            log_every: 10,
            seed: 0,
            precision: Precision::F32,
            init_from: String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SampleConfig {
    /// Prompt of the samples written during training and printed at the end; empty = the opening
    /// line of the first held-out document, so the prompt fits the corpus.
    pub prompt: String,
    pub max_new_tokens: usize,
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    /// Unmasking steps of the masked head's sampler.
    pub steps: usize,
}

impl Default for SampleConfig {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            max_new_tokens: 120,
            temperature: 0.8,
            top_k: 50,
            top_p: 0.95,
            steps: 32,
        }
    }
}

/// The puzzle head's token loss.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PuzzleLoss {
    /// Stablemax cross-entropy (docs/trm.md §3, the paper's choice).
    Stablemax,
    Softmax,
}

/// Puzzle runs (docs/trm.md §3-5): data, puzzle-id prefix, halting exploration, loss. The model,
/// optimizer, EMA and schedule come from `model.*` and `train.*`; `model.n_sup` is the halting
/// limit (halt_max_steps), `train.steps` counts optimizer updates, `train.batch_size` is the
/// number of carry slots.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PuzzleConfig {
    /// The puzzle family (sudoku, maze, arc, hanoi, chess; see `data::puzzle::FAMILIES`), or
    /// `none` for a language-model run.
    pub task: String,
    /// Sudoku/Maze: an official-format CSV (source,question,answer,rating). ARC: a folder built by
    /// `trm data arc`. Empty: generate `generate_train` puzzles (Sudoku, Maze) at start-up.
    pub train: String,
    /// Sudoku/Maze test CSV (ARC: the built folder holds its test set). Empty: generate.
    pub test: String,
    /// Train on N puzzles (0 = all), e.g. 1000 for Sudoku-Extreme: a random subset of a CSV's
    /// rows (seeded by `generate_seed`), or the first N generated.
    pub train_limit: usize,
    /// Validation puzzles (Sudoku, Maze): generated apart from training, or held-out rows of the
    /// training CSV. They choose the `best` checkpoint; the test set is only reported. 0 = none
    /// (then no `best` checkpoint: evaluation uses the latest).
    pub val_count: usize,
    /// Evaluate on the first N test puzzles (0 = all).
    pub test_limit: usize,
    /// Random validity-preserving augmentation of each drawn training puzzle (Sudoku shuffles,
    /// Maze dihedral transforms). ARC augmentations are built into its data folder instead.
    pub augment: bool,
    /// Generated data: puzzle counts, seed and difficulty.
    pub generate_train: usize,
    pub generate_test: usize,
    pub generate_seed: u64,
    /// Sudoku: stop removing clues at this many blanks (0 = minimal puzzles).
    pub max_blanks: usize,
    /// Sudoku: least rating (solver guesses) of a generated puzzle.
    pub min_rating: u64,
    pub maze_side: usize,
    /// Maze: shortest S-G path must be longer than this many cells.
    pub maze_min_path: usize,
    /// Positions before the grid: the first holds the puzzle-id embedding, the rest are zeros
    /// (scratch space). 0 = no prefix.
    pub puzzle_emb_len: usize,
    /// Sign-SGD for the puzzle-id embedding (docs/trm.md §4).
    pub puzzle_emb_lr: f64,
    pub puzzle_emb_weight_decay: f64,
    /// Probability that a sample must run a random minimum number of steps in [2, n_sup].
    pub halt_exploration_prob: f64,
    pub loss: PuzzleLoss,
    /// Hanoi: pegs (3 or 4), disks drawn for training (uniform in [min, max]), and the largest
    /// number of disks tested (test N above hanoi_max_disks measures generalisation).
    pub hanoi_pegs: usize,
    pub hanoi_min_disks: usize,
    pub hanoi_max_disks: usize,
    pub hanoi_test_max_disks: usize,
    /// Supervision steps at evaluation (0 = model.n_sup); more than trained is allowed.
    pub eval_steps: usize,
}

impl Default for PuzzleConfig {
    fn default() -> Self {
        Self {
            task: "none".into(),
            train: String::new(),
            test: String::new(),
            train_limit: 0,
            val_count: 200,
            test_limit: 0,
            augment: true,
            generate_train: 1000,
            generate_test: 200,
            generate_seed: 1,
            max_blanks: 0,
            min_rating: 0,
            maze_side: 30,
            maze_min_path: 110,
            puzzle_emb_len: 16,
            puzzle_emb_lr: 1e-4,
            puzzle_emb_weight_decay: 1.0,
            halt_exploration_prob: 0.1,
            loss: PuzzleLoss::Stablemax,
            hanoi_pegs: 3,
            hanoi_min_disks: 1,
            hanoi_max_disks: 6,
            hanoi_test_max_disks: 8,
            eval_steps: 0,
        }
    }
}

impl PuzzleConfig {
    /// Supervision steps at evaluation for a model trained with `n_sup` (1 for the baseline).
    pub fn eval_steps_for(&self, n_sup: usize) -> usize {
        if self.eval_steps == 0 {
            n_sup
        } else {
            self.eval_steps
        }
    }

    /// The generator of stream `stream` of the data: 0 training, 1 test, 2 validation (generated
    /// puzzles), 3 the training CSV's subset and validation rows.
    pub fn generation_rng(&self, stream: u64) -> crate::rng::Rng {
        crate::rng::Rng::new(
            self.generate_seed
                .wrapping_mul(1_000_003)
                .wrapping_add(stream),
        )
    }
}

impl Config {
    pub fn is_puzzle(&self) -> bool {
        !matches!(self.puzzle.task.as_str(), "" | "none")
    }

    /// Parse TOML text, then apply `KEY=VALUE` overrides; unknown keys and wrong types are errors.
    /// Relative paths (data files, tokenizer file, puzzle data) resolve against the working
    /// directory and are stored absolute, so a run's config.toml means the same from anywhere.
    pub fn from_toml_str(text: &str, overrides: &[String], origin: &str) -> Result<Self> {
        Self::parse(text, overrides, origin, None)
    }

    /// A config file: paths written in it resolve relative to the file's folder, paths given with
    /// `--set` relative to the working directory.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
        let folder = std::fs::canonicalize(folder.unwrap_or(Path::new(".")))
            .with_context(|| format!("cannot resolve the folder of config {}", path.display()))?;
        Self::parse(&text, overrides, &path.display().to_string(), Some(&folder))
    }

    /// A run folder's config.toml: written with absolute paths, so it is read as it is (relative
    /// paths in runs made before that resolve against the working directory, as they did then).
    pub fn load_run(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        Self::parse(&text, overrides, &path.display().to_string(), None)
    }

    fn parse(
        text: &str,
        overrides: &[String],
        origin: &str,
        folder: Option<&Path>,
    ) -> Result<Self> {
        let mut value: toml::Value =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {}", one_line(&e)))?;
        if let Some(folder) = folder {
            paths::resolve(&mut value, folder);
        }
        for item in overrides {
            apply_override(&mut value, item)?;
        }
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        paths::resolve(&mut value, &cwd);
        let config: Config = value
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("{origin}: {}", one_line(&e)))?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    pub fn validate(&self) -> Result<()> {
        let m = &self.model;
        let t = &self.train;
        if m.d_model == 0 || m.n_heads == 0 || !m.d_model.is_multiple_of(m.n_heads) {
            bail!(
                "model.d_model ({}) must be a positive multiple of model.n_heads ({})",
                m.d_model,
                m.n_heads
            );
        }
        if !(m.d_model / m.n_heads).is_multiple_of(2) {
            bail!("model.d_model / model.n_heads must be even (RoPE rotates pairs)");
        }
        for (name, v) in [
            ("model.n_layers", m.n_layers),
            ("model.n", m.n),
            ("model.t", m.t),
            ("model.n_sup", m.n_sup),
        ] {
            if v == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if m.ffn_multiple == 0 {
            bail!("model.ffn_multiple must be at least 1");
        }
        let sample = &self.sample;
        if !(sample.temperature.is_finite() && sample.temperature >= 0.0) {
            bail!(
                "sample.temperature must be a number >= 0 (0 = greedy), got {}",
                sample.temperature
            );
        }
        if !(sample.top_p > 0.0 && sample.top_p <= 1.0) {
            bail!("sample.top_p must be in (0, 1], got {}", sample.top_p);
        }
        let positive = |name: &str, v: f64| -> Result<()> {
            if !(v.is_finite() && v > 0.0) {
                bail!("{name} must be a positive number, got {v}");
            }
            Ok(())
        };
        positive("model.expansion", m.expansion)?;
        positive("model.rope_theta", m.rope_theta)?;
        for (name, v) in [("train.beta1", t.beta1), ("train.beta2", t.beta2)] {
            if !(0.0..1.0).contains(&v) {
                bail!("{name} must be in [0, 1), got {v}");
            }
        }
        for (name, v) in [
            ("train.weight_decay", t.weight_decay),
            ("train.grad_clip", t.grad_clip),
            ("train.halt_loss_weight", t.halt_loss_weight),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{name} must be a number >= 0, got {v}");
            }
        }
        if m.mixer == Mixer::MlpT && !self.is_puzzle() {
            bail!("model.mixer = \"mlp_t\" mixes a sequence of one fixed length (it cannot be causal, and sampling sees other lengths): use it for puzzles, not the language model");
        }
        for (name, v) in [
            ("train.log_every", t.log_every),
            ("train.eval_every", t.eval_every),
            ("train.checkpoint_every", t.checkpoint_every),
        ] {
            if v == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if t.batch_size == 0 || t.seq_len < 2 {
            bail!("train.batch_size must be >= 1 and train.seq_len >= 2");
        }
        if t.micro_batch > t.batch_size {
            bail!(
                "train.micro_batch ({}) must not exceed train.batch_size ({}); 0 means the whole batch",
                t.micro_batch,
                t.batch_size
            );
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            bail!("train.lr must be a positive number");
        }
        if !(0.0..1.0).contains(&t.ema_decay) {
            bail!("train.ema_decay must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.data.val_fraction) {
            bail!("data.val_fraction must be in [0, 1)");
        }
        let recipe = m.prelude_layers > 0
            || m.coda_layers > 0
            || m.injection != Injection::Add
            || m.norm != NormPlacement::Post;
        if recipe && (self.is_puzzle() || m.kind != ModelKind::Trm) {
            bail!("model.prelude_layers, coda_layers, injection and norm shape the recursive language model; puzzles keep the paper's recipe and the transformer baseline has its own");
        }
        if m.y_init == YInit::Noise && (self.is_puzzle() || m.kind != ModelKind::Trm) {
            bail!("model.y_init = \"noise\" is for the recursive language model (puzzles keep the paper's fixed start, the baseline has no state)");
        }
        if t.supervision == Supervision::Unrolled && (self.is_puzzle() || m.kind != ModelKind::Trm)
        {
            bail!("train.supervision = \"unrolled\" is for the recursive language model (puzzles halt per puzzle, the baseline runs once)");
        }
        if t.supervision != Supervision::Unrolled
            && (t.depth != Depth::Fixed || t.backprop_steps != 0 || t.lm_loss != LmLoss::Every)
        {
            bail!("train.depth, backprop_steps and lm_loss apply to train.supervision = \"unrolled\" only");
        }
        if self.is_puzzle() {
            let p = &self.puzzle;
            if !(0.0..=1.0).contains(&p.halt_exploration_prob) {
                bail!("puzzle.halt_exploration_prob must be in [0, 1]");
            }
            // Each family checks its own settings when it loads its data, before a run starts
            // (an imported model has no training puzzles: it is only evaluated).
            return Ok(());
        }
        if self.data.train.is_empty() {
            bail!("data.train lists no files");
        }
        if self.data.val.is_empty() && self.data.val_fraction == 0.0 {
            bail!("no validation data: set data.val or a data.val_fraction above 0");
        }
        Ok(())
    }
}

/// `a.b=VALUE`: VALUE is a TOML value; if it does not parse as one, it is taken as a bare string.
fn apply_override(root: &mut toml::Value, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .with_context(|| format!("--set {item}: expected KEY=VALUE"))?;
    let key = key.trim();
    let value = parse_value(raw.trim());
    let parts: Vec<&str> = key.split('.').collect();
    let mut table = root.as_table_mut().context("config root is not a table")?;
    for part in &parts[..parts.len() - 1] {
        table = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .with_context(|| format!("--set {key}: `{part}` is not a section"))?;
    }
    table.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = Config::default();
        let back = Config::from_toml_str(&c.to_toml(), &[], "x").unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn overrides_parse_toml_values_and_bare_strings() {
        let c = Config::from_toml_str(
            "",
            &[
                "train.steps=500".into(),
                "data.text_column=body".into(),
                r#"data.train=["a.parquet", "b/*.parquet"]"#.into(),
                "train.lr=1e-3".into(),
                "model.y_init=fixed".into(),
            ],
            "x",
        )
        .unwrap();
        assert_eq!(c.train.steps, 500);
        assert_eq!(c.data.text_column, "body");
        // relative paths given with --set resolve against the working directory, stored absolute
        let cwd = std::env::current_dir().unwrap();
        let at = |p: &str| cwd.join(p).display().to_string();
        assert_eq!(c.data.train, vec![at("a.parquet"), at("b/*.parquet")]);
        assert_eq!(c.train.lr, 1e-3);
        assert_eq!(c.model.y_init, YInit::Fixed);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused() {
        let e = Config::from_toml_str("[train]\nstepz = 3\n", &[], "c.toml").unwrap_err();
        assert!(e.to_string().contains("stepz"), "{e}");
        let e = Config::from_toml_str("", &["train.steps=many".into()], "c.toml").unwrap_err();
        assert!(
            e.to_string().contains("steps") || e.to_string().contains("invalid type"),
            "{e}"
        );
        let e = Config::from_toml_str("", &["modle.n=3".into()], "c.toml").unwrap_err();
        assert!(e.to_string().contains("modle"), "{e}");
    }

    #[test]
    fn ffn_width_matches_spec_for_d512() {
        let m = ModelConfig {
            d_model: 512,
            ffn_multiple: 256,
            ..Default::default()
        };
        assert_eq!(m.ffn_inner(), 1536);
    }
}
