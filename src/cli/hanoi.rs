//! `trm hanoi`: a language model trained on whole Towers of Hanoi solutions, asked to solve each
//! number of disks; every generated move is replayed by the simulator.

use super::device::{dispatch, Device, OnBackend};
use crate::eval::hanoi::{evaluate_hanoi_text, text_table, TextRow};
use crate::run::load_trained;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct HanoiArgs {
    /// A language-model run trained on `trm data hanoi` text.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Pegs of the puzzles asked (3 or 4; as in the training text).
    #[arg(long, default_value_t = 3)]
    pub pegs: usize,
    /// Disks trained on (marked in the table, the rest are extrapolation), as MIN-MAX.
    #[arg(long, default_value = "1-6")]
    pub trained: String,
    /// Test 1, 2, ... up to this many disks (one row each).
    #[arg(long, default_value_t = 8)]
    pub max_disks: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

struct Job(HanoiArgs);

impl OnBackend for Job {
    type Output = Vec<TextRow>;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
    ) -> Result<Vec<TextRow>> {
        let a = self.0;
        let t = load_trained::<B::InnerBackend>(&a.checkpoint, None, &device)?;
        let Some((lo, hi)) = a.trained.split_once('-') else {
            bail!("--trained {}: expected MIN-MAX, e.g. 1-6", a.trained);
        };
        let (lo, hi): (usize, usize) = (lo.trim().parse()?, hi.trim().parse()?);
        evaluate_hanoi_text(
            &t.model,
            &t.tokenizer,
            a.pegs,
            1..=a.max_disks,
            lo..=hi,
            &device,
        )
    }
}

pub fn run(args: HanoiArgs) -> Result<()> {
    let checkpoint = args.checkpoint.clone();
    let rows = dispatch(args.device, Job(args))?;
    println!(
        "{}: whole solutions generated greedily, replayed by the simulator",
        checkpoint.display()
    );
    print!("{}", text_table(&rows));
    Ok(())
}
