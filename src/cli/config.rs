//! `trm config show`: print the config a run would get (file or defaults, then --set) as TOML,
//! each key under a one-line description.

use crate::config::{keys, Config};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the resolved config as TOML with a comment on every key (usable as a --config file).
    Show(ShowArgs),
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// TOML experiment config (see configs/). Without it the built-in defaults are shown.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override any config field: --set train.steps=500 --set data.text_column=body
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

pub fn run(cmd: ConfigCommand) -> Result<()> {
    match cmd {
        ConfigCommand::Show(args) => {
            // Loading validates too, so a config that `trm train` would refuse is refused here.
            let config = match &args.config {
                Some(path) => Config::load(path, &args.overrides)?,
                None => Config::from_toml_str("", &args.overrides, "--set")?,
            };
            print!("{}", keys::show(&config));
            Ok(())
        }
    }
}
