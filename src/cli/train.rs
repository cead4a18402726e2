//! `trm train`: load a config (or the run folder's, on --resume), apply --set, train a language
//! model or, when the config sets `puzzle.task`, a puzzle solver.

use super::device::{dispatch_all, Devices, OnDevices};
use crate::config::{Config, Precision};
use crate::run::RunDir;
use crate::train::parallel::Cluster;
use crate::train::{train, TrainOptions};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// TOML experiment config (see configs/). Without it the built-in defaults are used.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override any config field: --set train.steps=500 --set data.text_column=body
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Run folder (default runs/<config name>-<UTC time>).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Continue the run in this folder from its latest checkpoint.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "run_dir"])]
    pub resume: Option<PathBuf>,
    /// cpu, cuda or cuda:N (cuda needs a build with --features cuda); a comma-separated list
    /// (cpu,cpu or cuda:0,cuda:1) trains data-parallel, one peer per device, the batch split
    /// among them.
    #[arg(long, default_value = "cpu")]
    pub device: Devices,
    /// Processes (machines) training together, each with its own --device list and the same
    /// config; node 0 listens at --coordinator and the others connect to it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub nodes: u64,
    /// This process's place among the --nodes, from 0 (node 0 is the coordinator).
    #[arg(long, default_value_t = 0)]
    pub node_rank: u64,
    /// HOST:PORT where node 0 listens for the other nodes (with --nodes > 1).
    #[arg(long)]
    pub coordinator: Option<String>,
    /// Start from these weights (fresh optimizer and schedule): a `trm export` folder, a run
    /// folder or a checkpoint folder; the same as --set train.init_from=PATH.
    #[arg(long, value_name = "DIR|RUN", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// No progress output and no final sample.
    #[arg(long)]
    pub quiet: bool,
}

struct Job {
    opts: TrainOptions,
    nodes: usize,
    node_rank: usize,
    coordinator: Option<String>,
}

impl OnDevices for Job {
    type Output = ();
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, devices: Vec<B::Device>) -> Result<()> {
        let cluster = Cluster {
            devices,
            nodes: self.nodes,
            node_rank: self.node_rank,
            coordinator: self.coordinator,
        };
        train::<B>(self.opts, &cluster)?;
        Ok(())
    }
}

pub fn run(mut args: TrainArgs) -> Result<()> {
    if let Some(from) = &args.init_from {
        let value = toml::Value::String(from.display().to_string());
        args.overrides.push(format!("train.init_from={value}"));
    }
    let (config, run_dir, resume) = match &args.resume {
        Some(dir) => {
            let path = RunDir::new(dir).config();
            if !path.exists() {
                bail!(
                    "--resume {}: no config.toml there, so it is not a run folder",
                    dir.display()
                );
            }
            (Config::load_run(&path, &args.overrides)?, dir.clone(), true)
        }
        None => {
            let config = match &args.config {
                Some(path) => Config::load(path, &args.overrides)?,
                None => Config::from_toml_str("", &args.overrides, "defaults")?,
            };
            let name = args
                .config
                .as_ref()
                .and_then(|p| p.file_stem())
                .map_or("default".to_string(), |s| s.to_string_lossy().to_string());
            let dir = args
                .run_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("runs/{name}-{}", utc_stamp())));
            (config, dir, false)
        }
    };
    let cpu = args.device.0.iter().all(|d| *d == super::Device::Cpu);
    crate::train::memory::check_fits(&config, cpu)?;
    if cpu && config.train.precision == Precision::Bf16 && !args.quiet {
        eprintln!("note: train.precision = \"bf16\" on the CPU is emulated (flex converts every cast): about 1.7x the f32 step time; it is there to check the bf16 path, f32 is faster");
    }
    let opts = TrainOptions {
        config,
        run_dir,
        resume,
        verbose: !args.quiet,
    };
    if args.node_rank >= args.nodes {
        bail!(
            "--node-rank {} must be below --nodes {}",
            args.node_rank,
            args.nodes
        );
    }
    if args.nodes > 1 && args.coordinator.is_none() {
        bail!(
            "--nodes {} needs --coordinator HOST:PORT (where node 0 listens)",
            args.nodes
        );
    }
    let job = Job {
        opts,
        nodes: args.nodes as usize,
        node_rank: args.node_rank as usize,
        coordinator: args.coordinator.clone(),
    };
    dispatch_all(&args.device, job)?;
    Ok(())
}

/// YYYYMMDD-HHMMSS in UTC, from the system clock (civil-from-days, no date crate needed).
fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
