//! `trm` binary: parse the command line, run it, and turn any error into one line and exit code 1.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = trm::cli::Cli::parse();
    match trm::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!(
                "error: {}",
                msg.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}
