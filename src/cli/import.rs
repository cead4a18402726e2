//! `trm import`: an official TRM checkpoint as a run folder for `trm eval` and `trm solve`.

use crate::run::import_official;
use anyhow::Result;
use burn::backend::Flex;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The official checkpoint: the file the official pretrain.py writes with
    /// torch.save(model.state_dict()) (keys with or without `_orig_mod.` / `model.`), or a
    /// .safetensors file of the same names.
    #[arg(long, value_name = "FILE")]
    pub official: PathBuf,
    /// The official run's all_config.yaml: its `arch` table gives H_cycles, L_cycles, num_heads,
    /// expansion, puzzle_emb_len, halt_max_steps, ... (without it, the official defaults of
    /// config/arch/trm.yaml are assumed). Other keys (data, optimizer, logging) are ignored.
    #[arg(long, value_name = "YAML")]
    pub config: Option<PathBuf>,
    /// The puzzle family the model solves.
    #[arg(long, value_parser = ["sudoku", "maze", "arc"])]
    pub task: String,
    /// The new run folder to write.
    #[arg(long, value_name = "RUN_DIR")]
    pub out: PathBuf,
}

pub fn run(args: ImportArgs) -> Result<()> {
    if args.config.is_none() {
        eprintln!("note: no --config: assuming the official defaults of config/arch/trm.yaml (H_cycles 3, L_cycles 6, num_heads 8, expansion 4, puzzle_emb_len 16, halt_max_steps 16); the tensors fix the sizes, but not these");
    }
    let imported = import_official::<Flex>(
        &args.official,
        args.config.as_deref(),
        &args.task,
        &args.out,
        &Default::default(),
    )?;
    let m = &imported.config.model;
    println!(
        "imported {} ({} parameters: D {}, {} layers, {} heads, {:?}, n = L_cycles {}, T = H_cycles {}, N_sup = halt_max_steps {}) into {}",
        args.official.display(),
        imported.parameters,
        m.d_model,
        m.n_layers,
        m.n_heads,
        m.mixer,
        m.n,
        m.t,
        m.n_sup,
        imported.checkpoint.display()
    );
    println!(
        "use it with: trm solve --checkpoint {} --input PUZZLES.csv --out ANSWERS.csv",
        args.out.display()
    );
    Ok(())
}
