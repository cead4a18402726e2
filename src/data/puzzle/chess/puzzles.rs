//! Chess puzzles: Lichess puzzle CSV lines and mate-in-N PGN games, every move checked.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::board::{parse_fen, play_uci, san_line_to_uci};
use super::read_text;
use super::GameStatus;
use crate::data::puzzle::csv::CsvFile;

/// A puzzle: the position to solve and the expected line (standard UCI, the solver's moves
/// alternating with the opponent's replies), with its rating (0 when unknown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PuzzleLine {
    pub fen_after_first_move: String,
    pub solution: Vec<String>,
    pub rating: u32,
}

/// Up to `limit` puzzles from a Lichess puzzle CSV (PuzzleId,FEN,Moves,Rating,...). The FEN is
/// before the opponent's first move; that move is played, and the rest is the solution. Every
/// move is checked for legality.
pub fn lichess_puzzles(path: &Path, limit: usize) -> Result<Vec<PuzzleLine>> {
    let mut records = CsvFile::open(path)?;
    let header = records.next_record()?.map(|r| r.fields).unwrap_or_default();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| anyhow!("{}: no `{name}` column", path.display()))
    };
    let (fen_at, moves_at, rating_at) = (column("FEN")?, column("Moves")?, column("Rating")?);
    let mut puzzles = Vec::new();
    while puzzles.len() < limit {
        let Some(record) = records.next_record()? else {
            break;
        };
        let field = |i: usize| record.fields.get(i).map(String::as_str).unwrap_or_default();
        let puzzle = lichess_puzzle(field(fen_at), field(moves_at), field(rating_at))
            .with_context(|| format!("{}:{}", path.display(), record.line))?;
        puzzles.push(puzzle);
    }
    Ok(puzzles)
}

/// One Lichess puzzle from its FEN, move list and rating fields.
fn lichess_puzzle(fen: &str, moves: &str, rating: &str) -> Result<PuzzleLine> {
    let mut board = parse_fen(fen)?;
    let mut moves = moves.split_whitespace();
    let first = moves.next().ok_or_else(|| anyhow!("empty move list"))?;
    play_uci(&mut board, first)?;
    let fen_after_first_move = board.to_string();
    let solution: Vec<String> = moves.map(str::to_string).collect();
    if solution.is_empty() {
        bail!("puzzle has no solution moves");
    }
    for uci in &solution {
        play_uci(&mut board, uci)?;
    }
    let rating = rating
        .trim()
        .parse()
        .map_err(|_| anyhow!("bad rating `{rating}`"))?;
    Ok(PuzzleLine {
        fen_after_first_move,
        solution,
        rating,
    })
}

/// One PGN game: its tag pairs and its movetext.
struct PgnGame {
    tags: HashMap<String, String>,
    movetext: String,
    line: usize,
}

/// Splits PGN text into games (tag section, then movetext until the next tag section).
fn pgn_games(text: &str) -> Vec<PgnGame> {
    let mut games: Vec<PgnGame> = Vec::new();
    let mut in_moves = true;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some((key, value)) = pgn_tag(line) {
            if in_moves {
                games.push(PgnGame {
                    tags: HashMap::new(),
                    movetext: String::new(),
                    line: n + 1,
                });
                in_moves = false;
            }
            if let Some(game) = games.last_mut() {
                game.tags.insert(key, value);
            }
        } else if !line.is_empty() {
            in_moves = true;
            if let Some(game) = games.last_mut() {
                game.movetext.push_str(line);
                game.movetext.push('\n');
            }
        }
    }
    games
}

/// The key and value of a `[Key "Value"]` tag line.
fn pgn_tag(line: &str) -> Option<(String, String)> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let (key, value) = inner.split_once(' ')?;
    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    Some((key.to_string(), value.to_string()))
}

/// Mate puzzles from a PGN file whose games have a FEN tag and a mainline ending in
/// checkmate (e.g. pychess's mate_in_N.pgn): the side to move in the FEN is the one that
/// mates; `fen_after_first_move` is the FEN tag, `solution` the mainline in UCI, rating 0.
pub fn mate_puzzles(pgn_path: &Path) -> Result<Vec<PuzzleLine>> {
    let text =
        read_text(pgn_path).with_context(|| format!("cannot read {}", pgn_path.display()))?;
    let mut puzzles = Vec::new();
    for game in pgn_games(&text) {
        let here = || format!("{}:{}", pgn_path.display(), game.line);
        let fen = game
            .tags
            .get("FEN")
            .ok_or_else(|| anyhow!("{}: game has no FEN tag", here()))?;
        let start = parse_fen(fen).with_context(here)?;
        let (solution, end) = san_line_to_uci(&start, &game.movetext).with_context(here)?;
        if end.status() != GameStatus::Won || solution.len() % 2 == 0 {
            bail!(
                "{}: the mainline does not end in mate by the side to move",
                here()
            );
        }
        puzzles.push(PuzzleLine {
            fen_after_first_move: start.to_string(),
            solution,
            rating: 0,
        });
    }
    Ok(puzzles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::chess::testing::{board, data};
    use cozy_chess::Color;

    #[test]
    fn puzzle_files_parse() {
        let (Some(lichess), Some(pychess)) = (
            data("lichess-puzzles-sample/lichess_db_puzzle_sample.csv"),
            data("pychess-puzzles"),
        ) else {
            return;
        };
        let puzzles = lichess_puzzles(&lichess, usize::MAX).unwrap();
        assert_eq!(puzzles.len(), 999);
        let first = &puzzles[0];
        assert_eq!(first.rating, 1103);
        assert_eq!(first.solution, ["e2g4", "h3g4", "d1g4"]);
        assert!(board(&first.fen_after_first_move).side_to_move() == Color::White);
        assert_eq!(lichess_puzzles(&lichess, 10).unwrap().len(), 10);
        for n in 2..=4 {
            let path = pychess.join(format!("mate_in_{n}.pgn"));
            let mates = mate_puzzles(&path).unwrap();
            assert!(mates.len() > 150, "{n}: {}", mates.len());
            assert!(mates.iter().all(|p| p.solution.len() == 2 * n - 1));
        }
        let mates = mate_puzzles(&pychess.join("mate_in_2.pgn")).unwrap();
        assert_eq!(mates[0].solution, ["d5f6", "g7f6", "c4f7"]);
    }
}
