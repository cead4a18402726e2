//! Data: Parquet streaming, tokenizers, packing into training windows, format converters.

pub mod convert;
pub mod loader;
pub mod parquet;
pub mod puzzle;
pub mod tokenizer;

pub use convert::{convert_to_parquet, ConvertStats, DocSplit};
pub use loader::{eval_windows, LoaderConfig, LoaderState, LoaderStats, Split, TokenLoader};
pub use parquet::{expand_paths, TextRows};
pub use tokenizer::{train_bpe, StreamDecoder, TextTokenizer};

/// A file or folder of the read-only shared data set, used by tests, benchmarks and tools:
/// under `$TRM_SHARED_DATA` when set (and only there), else `../shared/data` beside the repository
/// or `/work/shared/data`. None, with a note on stderr, where it is absent (a clean clone elsewhere),
/// so such tests skip loudly.
pub fn shared_data(rel: &str) -> Option<std::path::PathBuf> {
    use std::path::{Path, PathBuf};
    let roots: Vec<PathBuf> = match std::env::var_os("TRM_SHARED_DATA") {
        Some(root) => vec![PathBuf::from(root)],
        None => vec![
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
            PathBuf::from("/work/shared/data"),
        ],
    };
    let found = roots.into_iter().map(|r| r.join(rel)).find(|p| p.exists());
    if found.is_none() {
        eprintln!("skipping: shared data {rel} is not present (set TRM_SHARED_DATA)");
    }
    found
}
