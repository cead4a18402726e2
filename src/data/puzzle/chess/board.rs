//! Positions and move notation: FEN, standard UCI moves, legal moves, SAN / PGN movetext.

use anyhow::{anyhow, bail, Result};
use cozy_chess::{File, Move, Piece, Rank, Square};

use super::Board;

/// FEN of the standard start position.
pub const START_FEN: &str = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1";

/// Parses a FEN (a 4-field FEN without the move counters gets "0 1"; a fullmove number of 0,
/// common in puzzle files, is read as 1).
pub fn parse_fen(fen: &str) -> Result<Board> {
    let fen = fen.trim();
    let mut fields: Vec<&str> = fen.split_whitespace().collect();
    if fields.len() == 4 {
        fields.extend(["0", "1"]);
    }
    if fields.len() == 6 && fields[5] == "0" {
        fields[5] = "1";
    }
    let full = fields.join(" ");
    Board::from_fen(&full, false).map_err(|e| anyhow!("invalid FEN `{fen}`: {e}"))
}

/// UCI text of a move given by square indices (0 = a1 .. 63 = h8), e.g. "e7e8q"; an index
/// out of range gives the UCI null move "0000".
pub fn to_uci(from: u8, to: u8, promo: Option<Piece>) -> String {
    let (Some(from), Some(to)) = (
        Square::try_index(from as usize),
        Square::try_index(to as usize),
    ) else {
        return "0000".to_string();
    };
    let promo = promo.map(|p| char::from(p).to_string()).unwrap_or_default();
    format!("{from}{to}{promo}")
}

/// True if the move is a castling move in cozy-chess form (king takes own rook).
pub(super) fn is_castle(board: &Board, mv: Move) -> bool {
    board.piece_on(mv.from) == Some(Piece::King) && board.colors(board.side_to_move()).has(mv.to)
}

/// The standard (from, to, promotion) of a legal cozy-chess move: castling goes to the g or c
/// file.
pub(super) fn uci_squares(board: &Board, mv: Move) -> (Square, Square, Option<Piece>) {
    if is_castle(board, mv) {
        let file = if mv.to.file() > mv.from.file() {
            File::G
        } else {
            File::C
        };
        return (mv.from, Square::new(file, mv.from.rank()), None);
    }
    (mv.from, mv.to, mv.promotion)
}

/// Standard UCI text of a legal cozy-chess move (castling as "e1g1", not "e1h1").
pub fn move_to_uci(board: &Board, mv: Move) -> String {
    let (from, to, promo) = uci_squares(board, mv);
    to_uci(from as u8, to as u8, promo)
}

/// The legal cozy-chess move for standard UCI text, or None if it is malformed or illegal.
/// Castling must be the king's two-square move (e1g1); cozy-chess's e1h1 form is rejected.
pub fn parse_uci(board: &Board, uci: &str) -> Option<Move> {
    let mv: Move = uci.trim().parse().ok()?;
    if to_uci(mv.from as u8, mv.to as u8, mv.promotion) != uci.trim() {
        return None; // e.g. a promotion letter on a non-promotion or a "k"/"p" suffix
    }
    let castle = castle_move(board, mv);
    let mv = castle.unwrap_or(mv);
    if castle.is_none() && is_castle(board, mv) {
        return None;
    }
    board.is_legal(mv).then_some(mv)
}

/// The cozy-chess castling move for a king's two-square move from its start, if any.
fn castle_move(board: &Board, mv: Move) -> Option<Move> {
    let us = board.side_to_move();
    let back = Rank::First.relative_to(us);
    if board.king(us) != mv.from || mv.from.rank() != back || mv.to.rank() != back {
        return None;
    }
    let rights = board.castle_rights(us);
    let rook = match (mv.from.file(), mv.to.file()) {
        (File::E, File::G) => rights.short?,
        (File::E, File::C) => rights.long?,
        _ => return None,
    };
    Some(Move {
        from: mv.from,
        to: Square::new(rook, back),
        promotion: None,
    })
}

/// True if `uci` (standard notation) is a legal move in `board`.
pub fn is_legal(board: &Board, uci: &str) -> bool {
    parse_uci(board, uci).is_some()
}

/// All legal moves in cozy-chess form, with the moving piece.
pub(super) fn legal_moves(board: &Board) -> Vec<(Piece, Move)> {
    let mut moves = Vec::new();
    board.generate_moves(|piece_moves| {
        moves.extend(piece_moves.into_iter().map(|mv| (piece_moves.piece, mv)));
        false
    });
    moves
}

/// All legal moves as standard UCI text.
pub fn legal_moves_uci(board: &Board) -> Vec<String> {
    legal_moves(board)
        .into_iter()
        .map(|(_, mv)| move_to_uci(board, mv))
        .collect()
}

/// Plays a standard-UCI move, or says why it cannot.
pub fn play_uci(board: &mut Board, uci: &str) -> Result<()> {
    let Some(mv) = parse_uci(board, uci) else {
        bail!("illegal move `{uci}` in {board}");
    };
    board
        .try_play(mv)
        .map_err(|_| anyhow!("illegal move `{uci}` in {board}"))
}

/// Removes PGN comments (`{...}`, `; ...`), variations (`(...)`, nested) and NAGs (`$n`).
fn strip_pgn_noise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut brace, mut paren, mut semicolon) = (false, 0usize, false);
    for c in text.chars() {
        match c {
            '\n' if semicolon => semicolon = false,
            _ if semicolon => {}
            '{' => brace = true,
            '}' if brace => brace = false,
            _ if brace => {}
            ';' => semicolon = true,
            '(' => paren += 1,
            ')' if paren > 0 => paren -= 1,
            _ if paren > 0 => {}
            _ => out.push(c),
        }
    }
    out.split_whitespace()
        .filter(|w| !w.starts_with('$'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The SAN part of a movetext word: drops a move number ("12." / "12..." / "1.e4" -> "e4");
/// None for bare numbers and results.
fn san_word(word: &str) -> Option<&str> {
    if matches!(word, "1-0" | "0-1" | "1/2-1/2" | "*") {
        return None;
    }
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = if digits > 0 && word[digits..].starts_with('.') {
        word[digits..].trim_start_matches('.')
    } else {
        word
    };
    (!rest.is_empty()).then_some(rest)
}

/// The legal move written in Standard Algebraic Notation (`Nbd7`, `exd5`, `e8=Q+`, `O-O-O`).
pub fn parse_san(board: &Board, san: &str) -> Result<Move> {
    let text = san.trim_end_matches(['+', '#', '!', '?']);
    if !text.is_ascii() || text.is_empty() {
        bail!("bad SAN `{san}`");
    }
    if matches!(text, "O-O" | "0-0" | "O-O-O" | "0-0-0") {
        return parse_castle(board, text.len() == 3, san);
    }
    let (piece, rest) = match text.as_bytes()[0] {
        b'K' => (Piece::King, &text[1..]),
        b'Q' => (Piece::Queen, &text[1..]),
        b'R' => (Piece::Rook, &text[1..]),
        b'B' => (Piece::Bishop, &text[1..]),
        b'N' => (Piece::Knight, &text[1..]),
        _ => (Piece::Pawn, text),
    };
    let (rest, promotion) = split_promotion(rest, piece, san)?;
    if rest.len() < 2 {
        bail!("bad SAN `{san}`");
    }
    let (hint, dest) = rest.split_at(rest.len() - 2);
    let to: Square = dest.parse().map_err(|_| anyhow!("bad SAN `{san}`"))?;
    let hint = hint.strip_suffix('x').unwrap_or(hint);
    let (file, rank) = parse_hint(hint).ok_or_else(|| anyhow!("bad SAN `{san}`"))?;
    let matches: Vec<Move> = legal_moves(board)
        .into_iter()
        .filter(|&(p, mv)| {
            p == piece
                && mv.to == to
                && mv.promotion == promotion
                && !is_castle(board, mv)
                && file.is_none_or(|f| mv.from.file() == f)
                && rank.is_none_or(|r| mv.from.rank() == r)
        })
        .map(|(_, mv)| mv)
        .collect();
    match matches.as_slice() {
        [mv] => Ok(*mv),
        [] => bail!("no legal move matches SAN `{san}` in {board}"),
        _ => bail!("ambiguous SAN `{san}` in {board}"),
    }
}

/// The castling move (short or long) for SAN `O-O` / `O-O-O`.
fn parse_castle(board: &Board, short: bool, san: &str) -> Result<Move> {
    let us = board.side_to_move();
    let back = Rank::First.relative_to(us);
    let rights = board.castle_rights(us);
    let rook = if short { rights.short } else { rights.long };
    let mv = rook.map(|file| Move {
        from: board.king(us),
        to: Square::new(file, back),
        promotion: None,
    });
    match mv {
        Some(mv) if board.is_legal(mv) => Ok(mv),
        _ => bail!("castling `{san}` is not legal in {board}"),
    }
}

/// Splits a promotion suffix (`=Q`, or a bare `Q` after a pawn move) off SAN text.
fn split_promotion<'a>(text: &'a str, piece: Piece, san: &str) -> Result<(&'a str, Option<Piece>)> {
    let (rest, letter) = match text.split_once('=') {
        Some((rest, letter)) => (rest, Some(letter)),
        None if piece == Piece::Pawn && text.ends_with(['Q', 'R', 'B', 'N']) => {
            let (rest, letter) = text.split_at(text.len() - 1);
            (rest, Some(letter))
        }
        None => (text, None),
    };
    let promotion = match letter {
        None => None,
        Some("Q") => Some(Piece::Queen),
        Some("R") => Some(Piece::Rook),
        Some("B") => Some(Piece::Bishop),
        Some("N") => Some(Piece::Knight),
        Some(_) => bail!("bad promotion in SAN `{san}`"),
    };
    Ok((rest, promotion))
}

/// The from-file / from-rank disambiguation of SAN (e.g. "b", "1", "e2"; "" for none).
fn parse_hint(hint: &str) -> Option<(Option<File>, Option<Rank>)> {
    let (mut file, mut rank) = (None, None);
    for c in hint.chars() {
        match c {
            'a'..='h' if file.is_none() => file = Some(File::try_from(c).ok()?),
            '1'..='8' if rank.is_none() => rank = Some(Rank::try_from(c).ok()?),
            _ => return None,
        }
    }
    Some((file, rank))
}

/// Replays PGN movetext (SAN with move numbers, comments allowed) from `start`; returns the
/// moves as standard UCI and the final position.
pub fn san_line_to_uci(start: &Board, movetext: &str) -> Result<(Vec<String>, Board)> {
    let mut board = start.clone();
    let mut moves = Vec::new();
    for word in strip_pgn_noise(movetext).split_whitespace() {
        let Some(san) = san_word(word) else { continue };
        let mv = parse_san(&board, san)?;
        moves.push(move_to_uci(&board, mv));
        board.play_unchecked(mv);
    }
    Ok((moves, board))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::chess::testing::board;
    use crate::data::puzzle::chess::{decode_move, example, MOVE_FROM, MOVE_TO};

    #[test]
    fn castling_round_trips_between_cozy_and_uci() {
        let white = board("r3k2r/pppppppp/8/8/8/8/PPPPPPPP/R3K2R w KQkq - 0 1");
        let mv = parse_uci(&white, "e1g1").unwrap();
        assert_eq!(mv.to, Square::H1, "cozy-chess: king takes rook");
        assert_eq!(move_to_uci(&white, mv), "e1g1");
        assert_eq!(
            move_to_uci(&white, parse_uci(&white, "e1c1").unwrap()),
            "e1c1"
        );
        assert!(!is_legal(&white, "e1h1"), "cozy form is not standard UCI");
        let black = board("r3k2r/pppppppp/8/8/8/8/PPPPPPPP/R3K2R b KQkq - 0 1");
        let mv = parse_uci(&black, "e8c8").unwrap();
        assert_eq!(mv.to, Square::A8);
        assert_eq!(move_to_uci(&black, mv), "e8c8");
        let ex = example(&black, "e8c8").unwrap();
        assert_eq!((ex.labels[4], ex.labels[2]), (MOVE_FROM, MOVE_TO));
        assert_eq!(decode_move(&black, &ex.labels).as_deref(), Some("e8c8"));
        let moves = legal_moves_uci(&white);
        assert!(moves.contains(&"e1g1".to_string()) && !moves.contains(&"e1h1".to_string()));
        let mut played = white.clone();
        play_uci(&mut played, "e1g1").unwrap();
        assert_eq!(played.piece_on(Square::G1), Some(Piece::King));
        assert_eq!(played.piece_on(Square::F1), Some(Piece::Rook));
    }

    #[test]
    fn san_parses_the_tricky_cases() {
        let b = board("r3k2r/1P6/8/8/8/2N3N1/8/R3K2R w KQkq - 0 1");
        let uci = |san: &str| move_to_uci(&b, parse_san(&b, san).unwrap());
        assert_eq!(uci("O-O"), "e1g1");
        assert_eq!(uci("O-O-O+"), "e1c1");
        assert_eq!(uci("bxa8=Q+"), "b7a8q");
        assert_eq!(uci("b8=N"), "b7b8n");
        assert_eq!(uci("Nce4"), "c3e4");
        assert_eq!(uci("Nge4"), "g3e4");
        assert!(parse_san(&b, "Ne4")
            .unwrap_err()
            .to_string()
            .contains("ambiguous"));
        assert!(parse_san(&b, "Qd4").is_err());
        assert!(parse_san(&b, "é").is_err());
        let (moves, _) = san_line_to_uci(
            &Board::default(),
            "1. e4 {comment} e5 (1... c5) 2.Nf3 $1 Nc6 *",
        )
        .unwrap();
        assert_eq!(moves, ["e2e4", "e7e5", "g1f3", "b8c6"]);
    }
}
