//! Chess: the folder's public items re-exported, so `crate::data::puzzle::chess::X` names them.

mod board;
mod data;
mod encode;
mod family;
mod games;
mod puzzles;
#[cfg(test)]
mod testing;
pub mod uci;

use std::path::Path;

pub use board::{
    is_legal, legal_moves_uci, move_to_uci, parse_fen, parse_san, parse_uci, play_uci,
    san_line_to_uci, to_uci, START_FEN,
};
pub use cozy_chess::{Board, GameStatus};
pub use data::{
    label_positions, opening_lines, read_labelled, self_play_positions, write_labelled,
    RANDOM_MOVE_PROB,
};
pub use encode::{
    decode_move, effective_en_passant, encode, example, MoveScores, BLACK_TO_MOVE, CASTLE_NO,
    CASTLE_YES, EMPTY, EP_FILE_A, EP_NONE, MOVE_FROM, MOVE_NONE, MOVE_TO, OPP_PAWN, OWN_PAWN,
    SEQ_LEN, VOCAB, WHITE_TO_MOVE,
};
pub use family::load;
pub use games::{elo_estimate, insufficient_material, play_game, play_game_from, GameResult};
pub use puzzles::{lichess_puzzles, mate_puzzles, PuzzleLine};

/// Reads a text file; bytes that are not UTF-8 (PGN files are often Latin-1) become U+FFFD.
fn read_text(path: &Path) -> std::io::Result<String> {
    std::fs::read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}
