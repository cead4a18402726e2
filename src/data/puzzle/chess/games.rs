//! Model-versus-engine games: end-of-game rules, results, and the Elo estimate.

use std::collections::HashMap;

use anyhow::{Context, Result};
use cozy_chess::{BitBoard, Color, Piece};
use serde::{Deserialize, Serialize};

use super::board::play_uci;
use super::encode::effective_en_passant;
use super::uci::{Engine, Limit};
use super::{Board, GameStatus};

/// A game's result from the model's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameResult {
    Win,
    Draw,
    Loss,
}

impl GameResult {
    /// Points for the model: 1, 1/2 or 0.
    pub fn points(self) -> f64 {
        match self {
            GameResult::Win => 1.0,
            GameResult::Draw => 0.5,
            GameResult::Loss => 0.0,
        }
    }
}

/// True if neither side can ever mate: no pawns, rooks or queens, and either at most one
/// minor piece or only bishops all on squares of one colour.
pub fn insufficient_material(board: &Board) -> bool {
    let heavy = board.pieces(Piece::Pawn) | board.pieces(Piece::Rook) | board.pieces(Piece::Queen);
    if !heavy.is_empty() {
        return false;
    }
    let knights = board.pieces(Piece::Knight);
    let bishops = board.pieces(Piece::Bishop);
    if (knights | bishops).len() <= 1 {
        return true;
    }
    knights.is_empty()
        && (bishops.is_subset(BitBoard::DARK_SQUARES) || bishops.is_subset(BitBoard::LIGHT_SQUARES))
}

/// A hash identifying a position for repetition (pieces, side, castling, legal en passant).
fn repetition_key(board: &Board) -> u64 {
    let ep = effective_en_passant(board).map_or(0, |f| f as u64 + 1);
    board.hash_without_ep() ^ ep.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The winner (`Some(Some(color))`), a draw (`Some(None)`) or None if the game goes on:
/// checkmate, stalemate, the 50-move rule, threefold repetition (counted in `seen`) and
/// insufficient material all end it at once (no claims needed).
fn game_outcome(board: &Board, seen: &HashMap<u64, u32>) -> Option<Option<Color>> {
    match board.status() {
        GameStatus::Won => return Some(Some(!board.side_to_move())),
        GameStatus::Drawn => return Some(None),
        GameStatus::Ongoing => {}
    }
    let repeated = seen.get(&repetition_key(board)).copied().unwrap_or(0) >= 3;
    (repeated || insufficient_material(board)).then_some(None)
}

/// Plays one game from the start position; see [`play_game_from`].
pub fn play_game(
    engine: &mut Engine,
    model_move: impl FnMut(&Board) -> String,
    model_is_white: bool,
    limit: Limit,
    max_plies: usize,
) -> Result<GameResult> {
    play_game_from(
        engine,
        &Board::default(),
        model_move,
        model_is_white,
        limit,
        max_plies,
    )
}

/// Plays the model (`model_move` returns a legal standard-UCI move; an illegal one is an
/// error) against the engine at `limit` from `start`. Ends on checkmate, stalemate, the
/// 50-move rule, threefold repetition or insufficient material, and counts a game still going
/// after `max_plies` plies as a draw. A deterministic model against a deterministic engine
/// plays the same game every time: vary `start` (e.g. opening lines) or the engine's options.
pub fn play_game_from(
    engine: &mut Engine,
    start: &Board,
    mut model_move: impl FnMut(&Board) -> String,
    model_is_white: bool,
    limit: Limit,
    max_plies: usize,
) -> Result<GameResult> {
    engine.new_game()?;
    let model_color = if model_is_white {
        Color::White
    } else {
        Color::Black
    };
    let mut board = start.clone();
    let mut seen = HashMap::from([(repetition_key(&board), 1u32)]);
    for _ in 0..max_plies {
        if let Some(winner) = game_outcome(&board, &seen) {
            return Ok(match winner {
                None => GameResult::Draw,
                Some(c) if c == model_color => GameResult::Win,
                Some(_) => GameResult::Loss,
            });
        }
        let (uci, who) = if board.side_to_move() == model_color {
            (model_move(&board), "the model")
        } else {
            (
                engine.best_move(&board.to_string(), limit)?.best,
                "the chess engine",
            )
        };
        play_uci(&mut board, &uci).with_context(|| format!("{who} played an illegal move"))?;
        *seen.entry(repetition_key(&board)).or_insert(0) += 1;
    }
    Ok(match game_outcome(&board, &seen) {
        Some(Some(c)) if c == model_color => GameResult::Win,
        Some(Some(_)) => GameResult::Loss,
        _ => GameResult::Draw,
    })
}

/// Elo estimate from `score` points per game (0..=1) over `games` games against an opponent
/// of `opponent_elo`: opponent_elo + 400 log10(s / (1 - s)), with s clamped to
/// [0.5 / games, 1 - 0.5 / games] so that all wins or all losses give a finite value (with
/// all losses it is really an upper bound, with all wins a lower bound). The second value is
/// the ±95% half-width, 1.96 * 400 / ln 10 / sqrt(games * s * (1 - s)), from the binomial
/// standard error of s (draws make the true error smaller). No games: (opponent_elo, inf).
pub fn elo_estimate(opponent_elo: f64, score: f64, games: usize) -> (f64, f64) {
    if games == 0 || score.is_nan() {
        return (opponent_elo, f64::INFINITY);
    }
    let n = games as f64;
    let s = score.clamp(0.5 / n, 1.0 - 0.5 / n);
    let elo = opponent_elo + 400.0 * (s / (1.0 - s)).log10();
    let margin = 1.96 * 400.0 / std::f64::consts::LN_10 / (n * s * (1.0 - s)).sqrt();
    (elo, margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::chess::legal_moves_uci;
    use crate::data::puzzle::chess::testing::board;
    use crate::data::puzzle::chess::uci::DEFAULT_ENGINE_PATH;
    use crate::rng::Rng;
    use std::path::Path;

    #[test]
    fn draws_by_material_and_repetition_are_detected() {
        // Bishops on d7 and f3 (both light squares) cannot mate; c7 is a dark square.
        assert!(insufficient_material(&board(
            "8/8/4k3/8/8/3NK3/8/8 w - - 0 1"
        )));
        assert!(insufficient_material(&board(
            "8/3b4/4k3/8/8/4KB2/8/8 w - - 0 1"
        )));
        assert!(!insufficient_material(&board(
            "8/2b5/4k3/8/8/4KB2/8/8 w - - 0 1"
        )));
        assert!(!insufficient_material(&board(
            "8/8/4k3/8/8/3NKN2/8/8 w - - 0 1"
        )));
        assert!(!insufficient_material(&Board::default()));
        let mut b = Board::default();
        let mut seen = HashMap::from([(repetition_key(&b), 1u32)]);
        for uci in ["g1f3", "g8f6", "f3g1", "f6g8"].iter().cycle().take(8) {
            assert_eq!(game_outcome(&b, &seen), None);
            play_uci(&mut b, uci).unwrap();
            *seen.entry(repetition_key(&b)).or_insert(0) += 1;
        }
        assert_eq!(game_outcome(&b, &seen), Some(None));
    }

    #[test]
    fn random_model_finishes_a_game_against_stockfish() {
        let mut engine = Engine::start(Path::new(DEFAULT_ENGINE_PATH), &[]).unwrap();
        let mut rng = Rng::new(3);
        let random = |b: &Board| {
            let moves = legal_moves_uci(b);
            moves[rng.below(moves.len() as u64) as usize].clone()
        };
        let result = play_game(&mut engine, random, false, Limit::Depth(1), 300).unwrap();
        assert_ne!(
            result,
            GameResult::Win,
            "a random mover does not beat Stockfish"
        );
        let illegal = play_game(
            &mut engine,
            |_| "e2e5".to_string(),
            true,
            Limit::Depth(1),
            10,
        );
        assert!(illegal.is_err());
    }

    #[test]
    fn elo_estimate_matches_hand_computation() {
        let (elo, margin) = elo_estimate(1500.0, 0.5, 100);
        assert!((elo - 1500.0).abs() < 1e-9);
        // 1.96 * 400 / ln 10 / sqrt(100 * 0.25) = 340.487 / 5 = 68.0974
        assert!((margin - 68.0974).abs() < 1e-3, "{margin}");
        // s = 0.75: 400 log10(3) = 190.849
        assert!((elo_estimate(1500.0, 0.75, 100).0 - 1690.849).abs() < 1e-3);
        // All losses in 10 games: s = 0.05, 400 log10(1 / 19) = -511.501
        let (low, _) = elo_estimate(2000.0, 0.0, 10);
        assert!((low - (2000.0 - 511.5014)).abs() < 1e-3, "{low}");
        assert!(elo_estimate(2000.0, 1.0, 10).0 > 2500.0);
        assert_eq!(elo_estimate(1500.0, 0.5, 0), (1500.0, f64::INFINITY));
    }
}
