//! Data: Parquet streaming, tokenizers, packing into training windows, format converters.

pub mod convert;
pub mod loader;
pub mod parquet;
pub mod puzzle;
pub mod split;
pub mod tokenizer;

pub use convert::{convert_to_parquet, ConvertStats, DocSplit};
pub use loader::{eval_windows, LoaderConfig, LoaderState, LoaderStats, Split, TokenLoader};
pub use parquet::{expand_paths, TextRows};
pub use tokenizer::{train_bpe, StreamDecoder, TextTokenizer};

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file or folder of the read-only shared data set (for tests, benchmarks and tools, never the
/// user's default path): under `$TRM_SHARED_DATA` when set (and only there), else `../shared/data`
/// beside the repository or `/work/shared/data`.
///
/// Where it is absent: under CI (`CI` set; `.ci/run` sets it where `../shared` exists) the caller
/// panics, so a test cannot pass by skipping; elsewhere a `SKIPPED: ...` line goes to the real
/// stderr (past the test harness's capture, so it shows in a plain `cargo test`) and None comes
/// back, so the test, or that part of it, is skipped.
#[track_caller]
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    shared("data", "TRM_SHARED_DATA", rel)
}

/// A file or folder of the shared reference fixtures (outputs of other tools, such as the official
/// TRM code): under `$TRM_SHARED_FIXTURES` when set, else `../shared/fixtures` or
/// `/work/shared/fixtures`; missing, as for [`shared_data`].
#[track_caller]
pub fn shared_fixture(rel: &str) -> Option<PathBuf> {
    shared("fixtures", "TRM_SHARED_FIXTURES", rel)
}

#[track_caller]
fn shared(folder: &str, env: &str, rel: &str) -> Option<PathBuf> {
    let roots: Vec<PathBuf> = match std::env::var_os(env) {
        Some(root) => vec![PathBuf::from(root)],
        None => vec![
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared")
                .join(folder),
            Path::new("/work/shared").join(folder),
        ],
    };
    if let Some(found) = roots.iter().map(|r| r.join(rel)).find(|p| p.exists()) {
        return Some(found);
    }
    let looked = roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if in_ci() {
        panic!("shared {folder} {rel} is missing; CI must have it (looked under {looked})");
    }
    let caller = std::panic::Location::caller();
    let test = match std::thread::current().name() {
        Some(name) if name != "main" => format!("{name} ({}:{})", caller.file(), caller.line()),
        _ => format!("{}:{}", caller.file(), caller.line()),
    };
    // Straight to the process's stderr: eprintln! would be captured by the harness and hidden.
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED: {test} needs shared {folder} {rel} (set {env}; looked under {looked})"
    );
    None
}

/// Whether this runs under CI: `CI` set to anything but empty, `0` or `false`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}
