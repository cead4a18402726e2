//! Helpers shared by the chess unit tests: shared data files and positions from FEN.

use std::path::PathBuf;

use super::{parse_fen, Board};

/// A shared chess data file, or None (the test then skips with a note).
pub(super) fn data(rel: &str) -> Option<PathBuf> {
    crate::data::shared_data(&format!("chess/{rel}"))
}

/// The position of a FEN that must parse.
pub(super) fn board(fen: &str) -> Board {
    parse_fen(fen).unwrap()
}
