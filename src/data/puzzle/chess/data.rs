//! Chess training data: openings, self-play positions, engine labels, `fen,best_move` CSV.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use super::board::{is_legal, legal_moves, legal_moves_uci, parse_fen, play_uci, san_line_to_uci};
use super::encode::encode;
use super::read_text;
use super::uci::{Engine, Limit};
use super::{Board, GameStatus};
use crate::data::puzzle::csv::CsvFile;
use crate::files::write_atomic;
use crate::rng::Rng;

/// Probability that a self-play move is a uniformly random legal move instead of the engine's.
pub const RANDOM_MOVE_PROB: f64 = 0.3;

/// Opening lines (standard UCI moves from the start position) from the `pgn` column of every
/// `*.tsv` file in `dir` (the lichess chess-openings format: eco, name, pgn), in file order.
pub fn opening_lines(dir: &Path) -> Result<Vec<Vec<String>>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read opening directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no .tsv opening files in {}", dir.display());
    }
    let mut lines = Vec::new();
    for file in files {
        lines.extend(opening_file(&file)?);
    }
    Ok(lines)
}

/// The opening lines of one .tsv file.
fn opening_file(path: &Path) -> Result<Vec<Vec<String>>> {
    let text = read_text(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = text.lines().enumerate();
    let header = rows.next().map(|(_, h)| h).unwrap_or_default();
    let Some(column) = header.split('\t').position(|c| c.trim() == "pgn") else {
        bail!("{}: no `pgn` column in the header", path.display());
    };
    let start = Board::default();
    let mut lines = Vec::new();
    for (n, row) in rows.filter(|(_, r)| !r.trim().is_empty()) {
        let here = || format!("{}:{}", path.display(), n + 1);
        let pgn = row
            .split('\t')
            .nth(column)
            .ok_or_else(|| anyhow!("{}: missing pgn column", here()))?;
        let (moves, _) = san_line_to_uci(&start, pgn).with_context(here)?;
        lines.push(moves);
    }
    Ok(lines)
}

/// Positions (FEN) from games that start with a random opening line (or the start position if
/// `openings` is empty) and continue for up to `plies_per_game` plies, each move the engine's
/// at `limit` or, with probability [`RANDOM_MOVE_PROB`], a random legal move. Records the
/// position after the opening and every later one where the game is not over; positions that
/// encode identically (see [`encode`]) are kept once.
pub fn self_play_positions(
    engine: &mut Engine,
    openings: &[Vec<String>],
    rng: &mut Rng,
    games: usize,
    plies_per_game: usize,
    limit: Limit,
) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    let mut fens = Vec::new();
    for _ in 0..games {
        engine.new_game()?;
        let mut board = Board::default();
        if !openings.is_empty() {
            for uci in &openings[rng.below(openings.len() as u64) as usize] {
                play_uci(&mut board, uci)?;
            }
        }
        for _ in 0..plies_per_game {
            if board.status() != GameStatus::Ongoing {
                break;
            }
            if seen.insert(encode(&board)) {
                fens.push(board.to_string());
            }
            let uci = self_play_move(engine, &board, rng, limit)?;
            play_uci(&mut board, &uci)?;
        }
    }
    Ok(fens)
}

/// One self-play move: random with probability [`RANDOM_MOVE_PROB`], else the engine's.
fn self_play_move(
    engine: &mut Engine,
    board: &Board,
    rng: &mut Rng,
    limit: Limit,
) -> Result<String> {
    let moves = legal_moves_uci(board);
    if moves.is_empty() {
        bail!("no legal move in {board}");
    }
    if rng.uniform() < RANDOM_MOVE_PROB {
        return Ok(moves[rng.below(moves.len() as u64) as usize].clone());
    }
    Ok(engine.best_move(&board.to_string(), limit)?.best)
}

/// The engine's best move (standard UCI) for every position that still has a legal move
/// (finished positions are skipped). The engine's hash is cleared before each position so a
/// label does not depend on the order of `fens`.
pub fn label_positions(
    engine: &mut Engine,
    fens: &[String],
    limit: Limit,
) -> Result<Vec<(String, String)>> {
    let mut labelled = Vec::with_capacity(fens.len());
    for fen in fens {
        let board = parse_fen(fen)?;
        if legal_moves(&board).is_empty() {
            continue;
        }
        engine.new_game()?;
        let best = engine.best_move(fen, limit)?.best;
        if !is_legal(&board, &best) {
            bail!("chess engine suggested illegal move `{best}` in {fen}");
        }
        labelled.push((fen.clone(), best));
    }
    Ok(labelled)
}

/// Header line of a labelled-position file.
const LABELLED_HEADER: &str = "fen,best_move";

/// Writes `fen,best_move` CSV (header first) to `path`, atomically ([`write_atomic`]).
pub fn write_labelled(path: &Path, rows: &[(String, String)]) -> Result<()> {
    let mut text = format!("{LABELLED_HEADER}\n");
    for (fen, best) in rows {
        if [fen, best].iter().any(|s| s.contains([',', '\n', '\r'])) {
            bail!("cannot write `{fen}` / `{best}`: commas and line breaks are not allowed");
        }
        text.push_str(&format!("{fen},{best}\n"));
    }
    write_atomic(path, text.as_bytes())
}

/// Reads a file written by [`write_labelled`], checking every FEN and that every move is legal.
pub fn read_labelled(path: &Path) -> Result<Vec<(String, String)>> {
    let mut records = CsvFile::open(path)?;
    let header = records.next_record()?.map(|h| h.fields);
    let expected = LABELLED_HEADER.split(',');
    if !header.is_some_and(|h| h.iter().map(|f| f.trim()).eq(expected)) {
        bail!(
            "{}: expected the header `{LABELLED_HEADER}`",
            path.display()
        );
    }
    let mut rows = Vec::new();
    while let Some(record) = records.next_record()? {
        let here = || format!("{}:{}", path.display(), record.line);
        let [fen, best] = record.fields.as_slice() else {
            bail!("{}: expected `fen,best_move`", here());
        };
        let board = parse_fen(fen).with_context(here)?;
        if !is_legal(&board, best.trim()) {
            bail!("{}: move `{best}` is not legal", here());
        }
        rows.push((fen.trim().to_string(), best.trim().to_string()));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::chess::testing::{board, data};
    use crate::data::puzzle::chess::uci::DEFAULT_ENGINE_PATH;
    use crate::data::puzzle::chess::{example, START_FEN};

    #[test]
    fn every_opening_line_replays_legally() {
        let Some(dir) = data("chess-openings") else {
            return;
        };
        let lines = opening_lines(&dir).unwrap();
        assert!(lines.len() > 3700, "{}", lines.len());
        for line in &lines {
            let mut b = Board::default();
            for uci in line {
                play_uci(&mut b, uci).unwrap();
            }
        }
        assert_eq!(lines[0], ["g1h3"], "A00 Amar Opening: 1. Nh3");
        assert!(opening_lines(Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn labelled_file_round_trips() {
        let dir = std::env::temp_dir().join(format!("trm-chess-{}", std::process::id()));
        let path = dir.join("labelled.csv");
        let rows = vec![
            (START_FEN.to_string(), "e2e4".to_string()),
            (
                "6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1".to_string(),
                "a1a8".to_string(),
            ),
        ];
        write_labelled(&path, &rows).unwrap();
        assert_eq!(read_labelled(&path).unwrap(), rows);
        std::fs::write(&path, "fen,best_move\nbad fen,e2e4\n").unwrap();
        assert!(read_labelled(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn self_play_and_labelling_produce_legal_data() {
        let mut engine = Engine::start(Path::new(DEFAULT_ENGINE_PATH), &[]).unwrap();
        let openings = vec![vec!["e2e4".to_string(), "e7e5".to_string()]];
        let mut rng = Rng::new(1);
        let fens =
            self_play_positions(&mut engine, &openings, &mut rng, 2, 6, Limit::Depth(2)).unwrap();
        assert!(fens.len() >= 7 && fens.len() <= 12, "{}", fens.len());
        assert!(fens[0].starts_with("rnbqkbnr/pppp1ppp/8/4p3/4P3/8/PPPP1PPP/RNBQKBNR w"));
        let labelled = label_positions(&mut engine, &fens[..4], Limit::Depth(4)).unwrap();
        assert_eq!(labelled.len(), 4);
        for (fen, best) in &labelled {
            assert!(example(&board(fen), best).is_ok());
        }
    }
}
