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
