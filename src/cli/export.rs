//! `trm export`: a language-model run as a Hugging Face-style folder of safetensors weights.

use crate::run::export_run;
use anyhow::Result;
use burn::backend::Flex;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A run folder (its best checkpoint, else the latest) or one checkpoint folder inside it.
    #[arg(long, value_name = "RUN")]
    pub checkpoint: PathBuf,
    /// The folder to write (new or empty): model.safetensors, config.json, tokenizer.json,
    /// README.md.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Export the live training weights instead of the EMA weights that sampling and
    /// evaluation use.
    #[arg(long)]
    pub raw: bool,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let exported = export_run::<Flex>(&args.checkpoint, &args.out, args.raw, &Default::default())?;
    println!(
        "exported {} ({} weights, {} parameters in {} tensors) to {}",
        exported.checkpoint.display(),
        if args.raw { "live" } else { "EMA" },
        exported.parameters,
        exported.tensors.len(),
        exported.dir.display()
    );
    println!(
        "start a new run from it with: trm train --init-from {}",
        exported.dir.display()
    );
    Ok(())
}
