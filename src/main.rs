//! `trm` binary: parse the command line, run it, and turn any error into one line and exit code 1.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
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

/// Tensors of a training step are allocated and freed again every step. glibc hands blocks above
/// its mmap threshold back to the kernel when they are freed, so each step pays page faults and
/// page zeroing for the same sizes again; keeping them in the heap (up to 1 GiB a block, never
/// trimmed) lets the next step reuse them.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}
