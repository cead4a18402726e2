//! One-line descriptions of every config key, and the config printed as TOML commented with them.

use super::Config;
use std::fmt::Write as _;

/// Every leaf key of [`Config`] as `section.key`, in struct field order (which is also the order
/// `show` prints them in, since toml's tables sort their keys), with a one-line description.
pub const KEYS: &[(&str, &str)] = &[
    (
        "model.kind",
        r#"Backbone: "trm" (Tiny Recursive Model) | "transformer" (plain decoder, run once)"#,
    ),
    (
        "model.head",
        r#"LM head: "causal" (next token) | "masked" (MDLM-style diffusion, bidirectional)"#,
    ),
    (
        "model.d_model",
        "Hidden size D; a multiple of n_heads with an even head size (RoPE rotates pairs)",
    ),
    (
        "model.n_layers",
        "Blocks in the one network f (transformer: its depth)",
    ),
    (
        "model.n_heads",
        "Attention heads; d_model / n_heads must be even",
    ),
    (
        "model.mixer",
        r#"Token mixing in each block: "attention" | "mlp_t" (MLP over positions, puzzles only)"#,
    ),
    (
        "model.expansion",
        "SwiGLU inner width = round(expansion * D * 2/3), rounded up to a multiple of ffn_multiple",
    ),
    (
        "model.ffn_multiple",
        "SwiGLU inner width is rounded up to a multiple of this",
    ),
    ("model.rope_theta", "RoPE base frequency"),
    ("model.n", "n: latent updates of z per latent recursion"),
    (
        "model.t",
        "T: latent recursions per deep recursion (the first T-1 without gradient)",
    ),
    (
        "model.n_sup",
        "N_sup: deep supervision steps per batch (puzzles: the halting limit)",
    ),
    (
        "model.y_init",
        r#"State start: "fixed" (random vectors, the paper) | "embed" (y = x) | "noise" (fresh, LM only)"#,
    ),
    ("model.seed", "Seed of the weight initialisation"),
    (
        "model.prelude_layers",
        "LM: pre-norm blocks that read the embedding once before the recursion (0 = none)",
    ),
    (
        "model.coda_layers",
        "LM: pre-norm blocks between y and the head, at every supervision step (0 = none)",
    ),
    (
        "model.injection",
        r#""add" (f(h + input), the paper) | "concat" (f(adapter([h, input])), Huginn)"#,
    ),
    (
        "model.norm",
        r#"recursive blocks: "post" (the paper) | "sandwich" (norm in and out, Huginn)"#,
    ),
    (
        "data.train",
        r#"Training Parquet files or globs, or "builtin:shakespeare" (the corpus built into trm)"#,
    ),
    (
        "data.val",
        "Validation Parquet files or globs; empty = hold out val_fraction of the training docs",
    ),
    ("data.text_column", "Parquet column holding the text"),
    (
        "data.tokenizer",
        r#""bytes", a tokenizer.json path, or a Hugging Face Hub model id (local cache)"#,
    ),
    (
        "data.val_fraction",
        "Share of training documents held out when data.val is empty, in [0, 1)",
    ),
    (
        "data.shuffle_buffer",
        "Windows held in the shuffle buffer (0 = no shuffling)",
    ),
    (
        "train.steps",
        r#"Training batches (puzzles: optimizer updates); "per_step" makes n_sup updates each"#,
    ),
    (
        "train.batch_size",
        "Sequences per batch (puzzles: carry slots)",
    ),
    (
        "train.micro_batch",
        "Rows per forward/backward pass, gradients summed into one update (0 = whole batch)",
    ),
    (
        "train.seq_len",
        "Tokens per language-model training window (puzzles take the grid's length)",
    ),
    (
        "train.optimizer",
        r#""adamw" | "adam_atan2" (Adam without epsilon: atan2(m_hat, sqrt(v_hat)))"#,
    ),
    ("train.lr", "Peak learning rate, reached after warm-up"),
    (
        "train.min_lr_ratio",
        "Final learning rate of the cosine schedule, as a fraction of lr",
    ),
    ("train.warmup", "Linear warm-up length in optimizer updates"),
    (
        "train.schedule",
        r#"Learning rate after warm-up: "constant" | "cosine" (down to lr * min_lr_ratio)"#,
    ),
    ("train.beta1", "Adam first-moment decay, in [0, 1)"),
    ("train.beta2", "Adam second-moment decay, in [0, 1)"),
    (
        "train.weight_decay",
        "Decoupled weight decay, scaled by the learning rate (0 = off)",
    ),
    (
        "train.grad_clip",
        "Global gradient-norm clipping threshold (0 = off)",
    ),
    (
        "train.ema_decay",
        "Decay of the weights' moving average, in [0, 1) (warmed up over the first updates)",
    ),
    (
        "train.supervision",
        r#""per_step" (update per step) | "accumulate" (one per batch) | "unrolled" (recurrent depth)"#,
    ),
    (
        "train.depth",
        r#"unrolled: steps per batch, "fixed" | "uniform" | "poisson_lognormal" (mean n_sup)"#,
    ),
    (
        "train.backprop_steps",
        "unrolled: the last N supervision steps carry gradient (0 = all): truncated backprop",
    ),
    (
        "train.lm_loss",
        r#"unrolled: loss on "every" gradient step (mean), the "last" only, or a "random" one"#,
    ),
    (
        "train.halt_loss_weight",
        "Weight of the halting (Q) head's binary cross-entropy in the loss",
    ),
    (
        "train.checkpoint_every",
        "Save a checkpoint every this many steps (and at the last)",
    ),
    (
        "train.eval_every",
        "Evaluate every this many steps (and at the last)",
    ),
    (
        "train.eval_windows",
        "Validation windows used per evaluation",
    ),
    (
        "train.log_every",
        "Log training metrics every this many steps",
    ),
    (
        "train.seed",
        "Seed of data shuffling and of the samples shown during training",
    ),
    (
        "train.precision",
        r#""f32" | "bf16" (passes in bf16; weights, optimizer, EMA in f32); eval is f32"#,
    ),
    (
        "train.init_from",
        "Start a new run from these weights: a trm export folder or a run; empty = random init",
    ),
    (
        "sample.prompt",
        "Prompt of the samples made during training; empty = the opening of a held-out document"
    ),
    ("sample.max_new_tokens", "Tokens generated per sample"),
    (
        "sample.temperature",
        "Sampling temperature, >= 0 (0 = greedy)",
    ),
    (
        "sample.top_k",
        "Sample among the k most likely tokens only (0 = no limit)",
    ),
    (
        "sample.top_p",
        "Nucleus sampling: keep the likeliest tokens up to this mass, in (0, 1] (1 = off)",
    ),
    (
        "sample.steps",
        "Unmasking steps of the masked head's sampler",
    ),
    (
        "puzzle.task",
        r#""none" (language model) | "sudoku" | "maze" | "arc" | "hanoi" | "chess""#,
    ),
    (
        "puzzle.train",
        "Training CSV (sudoku, maze, chess) or `trm data arc` folder; empty = generate (sudoku, maze)",
    ),
    (
        "puzzle.test",
        "Test CSV (sudoku, maze, chess; ARC: in its folder); empty = generate (sudoku, maze)",
    ),
    (
        "puzzle.train_limit",
        "Train on N puzzles: a seeded subset of a CSV or the first N generated (0 = all)",
    ),
    (
        "puzzle.val_count",
        "Validation puzzles choosing the best checkpoint (0 = none: evaluate the latest)",
    ),
    (
        "puzzle.test_limit",
        "Evaluate on the first N test puzzles (0 = all)",
    ),
    (
        "puzzle.augment",
        "Randomly augment each drawn training puzzle (sudoku shuffles, maze symmetries)",
    ),
    (
        "puzzle.generate_train",
        "Training puzzles generated (sudoku, maze) when puzzle.train is empty",
    ),
    (
        "puzzle.generate_test",
        "Test puzzles generated (sudoku, maze: when puzzle.test is empty; hanoi: per disk count)",
    ),
    (
        "puzzle.generate_seed",
        "Seed of generated puzzles and of the CSV's training subset and validation rows",
    ),
    (
        "puzzle.max_blanks",
        "Sudoku: stop removing clues at this many blanks (0 = minimal puzzles)",
    ),
    (
        "puzzle.min_rating",
        "Sudoku: least rating (solver guesses) of a generated puzzle",
    ),
    (
        "puzzle.maze_side",
        "Maze: side of the square grid, in cells",
    ),
    (
        "puzzle.maze_min_path",
        "Maze: the shortest start-goal path must be longer than this many cells",
    ),
    (
        "puzzle.puzzle_emb_len",
        "Positions before the grid: puzzle-id embedding, then zeros (0 = no prefix)",
    ),
    (
        "puzzle.puzzle_emb_lr",
        "Learning rate of the puzzle-id embedding (sign-SGD)",
    ),
    (
        "puzzle.puzzle_emb_weight_decay",
        "Weight decay of the puzzle-id embedding",
    ),
    (
        "puzzle.halt_exploration_prob",
        "Chance a sample must run a random minimum of [2, n_sup] steps, in [0, 1]",
    ),
    (
        "puzzle.loss",
        r#"Token loss: "stablemax" (the paper's) | "softmax" cross-entropy"#,
    ),
    ("puzzle.hanoi_pegs", "Hanoi: pegs, 3 or 4"),
    (
        "puzzle.hanoi_min_disks",
        "Hanoi: fewest disks drawn for training",
    ),
    (
        "puzzle.hanoi_max_disks",
        "Hanoi: most disks drawn for training",
    ),
    (
        "puzzle.hanoi_test_max_disks",
        "Hanoi: most disks tested (above hanoi_max_disks: generalisation)",
    ),
    (
        "puzzle.eval_steps",
        "Supervision steps at evaluation (0 = model.n_sup); more than trained is allowed",
    ),
];

/// The description of `section.key`, if it is a config key.
pub fn describe(key: &str) -> Option<&'static str> {
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, d)| *d)
}

/// `config` as TOML that `Config::from_toml_str` reads back, each key under a `# description`.
pub fn show(config: &Config) -> String {
    let root = toml::Value::try_from(config).expect("config serialises");
    let root = root.as_table().expect("config serialises to a table");
    let mut sections: Vec<&str> = Vec::new();
    for (key, _) in KEYS {
        let section = key.split_once('.').map_or(*key, |(s, _)| s);
        if !sections.contains(&section) {
            sections.push(section);
        }
    }
    // A section or key missing from KEYS is still printed (uncommented), so the output always
    // reads back to the same config; the tests make sure nothing is missing.
    sections.extend(
        root.keys()
            .map(String::as_str)
            .filter(|s| !sections.contains(s))
            .collect::<Vec<_>>(),
    );
    let mut out = String::new();
    for section in sections {
        let Some(toml::Value::Table(table)) = root.get(section) else {
            continue;
        };
        if !out.is_empty() {
            out.push('\n');
        }
        writeln!(out, "[{section}]").unwrap();
        let mut names: Vec<&str> = KEYS
            .iter()
            .filter_map(|(k, _)| k.strip_prefix(section)?.strip_prefix('.'))
            .filter(|name| table.contains_key(*name))
            .collect();
        let undescribed: Vec<&str> = table
            .keys()
            .map(String::as_str)
            .filter(|n| !names.contains(n))
            .collect();
        names.extend(undescribed);
        for name in names {
            if let Some(description) = describe(&format!("{section}.{name}")) {
                writeln!(out, "# {description}").unwrap();
            }
            writeln!(out, "{name} = {}", table[name]).unwrap();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every non-table value under `value`, as a dotted path.
    fn leaves(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(table) => {
                for (k, v) in table {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&path, v, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn every_config_key_has_exactly_one_description() {
        let mut keys = Vec::new();
        leaves(
            "",
            &toml::Value::try_from(Config::default()).unwrap(),
            &mut keys,
        );
        for key in &keys {
            let n = KEYS.iter().filter(|(k, _)| k == key).count();
            assert_eq!(
                n, 1,
                "config key {key} has {n} entries in KEYS (add a description)"
            );
        }
        for (key, description) in KEYS {
            assert!(
                keys.iter().any(|k| k == key),
                "KEYS entry {key} is not a config key"
            );
            assert!(
                !description.is_empty() && !description.contains('\n') && description.len() <= 100,
                "description of {key} must be one line of at most 100 characters"
            );
        }
    }

    fn round_trips(config: &Config) {
        let text = show(config);
        let back =
            Config::from_toml_str(&text, &[], "show").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(&back, config, "{text}");
    }

    #[test]
    fn show_reads_back_to_the_same_config() {
        round_trips(&Config::default());
        let overrides: Vec<String> = [
            r#"puzzle.task="sudoku""#,
            r#"data.train=["a.parquet"]"#,
            r#"data.val=["b.parquet", "c/*.parquet"]"#,
            r#"sample.prompt="say \"hi\"\n\tthen # not a comment""#,
            "train.lr=3e-5",
            "model.kind=transformer",
            "model.mixer=mlp_t",
            "train.precision=bf16",
            "puzzle.puzzle_emb_lr=0.1",
        ]
        .map(String::from)
        .to_vec();
        let config = Config::from_toml_str("", &overrides, "--set").unwrap();
        // relative paths come back absolute (against the working directory)
        assert!(
            config.data.train[0].ends_with("a.parquet"),
            "{:?}",
            config.data.train
        );
        round_trips(&config);
    }

    #[test]
    fn show_puts_each_description_above_its_key() {
        let text = show(&Config::default());
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("prompt = "))
            .expect("sample.prompt shown");
        assert_eq!(
            lines[at - 1],
            format!("# {}", describe("sample.prompt").unwrap())
        );
        let section = lines[..at]
            .iter()
            .rev()
            .find(|l| l.starts_with('['))
            .unwrap();
        assert_eq!(*section, "[sample]");
        let sections: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with('['))
            .collect();
        assert_eq!(
            sections,
            ["[model]", "[data]", "[train]", "[sample]", "[puzzle]"]
        );
        let commented = lines.iter().filter(|l| l.starts_with("# ")).count();
        assert_eq!(commented, KEYS.len());
    }
}
