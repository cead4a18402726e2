//! Chess: positions and moves as fixed-length token sequences, data sources and engine games.
//!
//! A position is [`SEQ_LEN`] = 70 tokens (vocabulary [`VOCAB`] = 34, 0 is PAD), always seen
//! from the side to move: when Black moves the board is mirrored top to bottom and the colours
//! swapped, so "own pieces move up the board" in every example and one pattern serves both
//! sides (as Leela Chess Zero does). Index i names square i of that oriented board (a1 = 0,
//! h1 = 7, ..., h8 = 63; for Black, index i is the real square i ^ 56).
//!
//! ```text
//! index   0..64  squares: empty 1, own P N B R Q K 2..7, opponent p n b r q k 8..13
//! index  64      side to move (the real colour): white 14, black 15
//! index  65..69  castling rights own K, own Q, opponent K, opponent Q: present 16, absent 17
//! index  69      en passant: none 18, file a..h 19..26 (only when an en-passant capture is
//!                legal, so equal positions encode equally whatever the FEN says)
//! ```
//!
//! The best move is labelled on the squares themselves: the from-square gets [`MOVE_FROM`], the
//! to-square [`MOVE_TO`] (or `MOVE_TO + 1..=4` for a promotion to knight, bishop, rook, queen),
//! every other square [`MOVE_NONE`], and the 6 state tokens PAD. A first version (absolute
//! colours, three answer slots naming the from-square, to-square and promotion) barely learned
//! (eval/puzzles.md, "Chess"); the likely reason is that with rotary position embeddings the
//! attention values carry no position, so a slot can hardly say *which* square it attends to.
//! Labelling squares makes the answer a per-cell output like Sudoku's. Moves are standard UCI text ("e2e4", "e7e8q", castling as the king's two-square
//! move "e1g1"); cozy-chess encodes castling as "king takes own rook" (e1h1), and
//! [`parse_uci`] / [`move_to_uci`] convert between the two.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use cozy_chess::{get_pawn_attacks, BitBoard, Color, File, Move, Piece, Rank, Square};
pub use cozy_chess::{Board, GameStatus};
use serde::{Deserialize, Serialize};

use super::{Example, PAD};
use crate::eval::uci::{Engine, Limit};
use crate::rng::Rng;

/// FEN of the standard start position.
pub const START_FEN: &str = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1";

/// Token vocabulary size (PAD included).
pub const VOCAB: usize = 34;
/// Tokens per position: 64 squares, side, 4 castling rights, en passant.
pub const SEQ_LEN: usize = 64 + 1 + 4 + 1;

/// An empty square.
pub const EMPTY: u8 = 1;
/// Own (side to move) pawn; own N B R Q K follow (2..=7).
pub const OWN_PAWN: u8 = 2;
/// Opponent pawn; opponent n b r q k follow (8..=13).
pub const OPP_PAWN: u8 = 8;
/// White to move.
pub const WHITE_TO_MOVE: u8 = 14;
/// Black to move.
pub const BLACK_TO_MOVE: u8 = 15;
/// A castling right that is present.
pub const CASTLE_YES: u8 = 16;
/// A castling right that is absent.
pub const CASTLE_NO: u8 = 17;
/// No en-passant capture available.
pub const EP_NONE: u8 = 18;
/// En passant on file a; files b..h follow (19..=26).
pub const EP_FILE_A: u8 = 19;
/// Label of a square the best move does not touch.
pub const MOVE_NONE: u8 = 27;
/// Label of the best move's from-square.
pub const MOVE_FROM: u8 = 28;
/// Label of the best move's to-square (no promotion); promotions to N, B, R, Q follow (30..=33).
pub const MOVE_TO: u8 = 29;

/// Probability that a self-play move is a uniformly random legal move instead of the engine's.
pub const RANDOM_MOVE_PROB: f64 = 0.3;

/// Promotion pieces in the order of their labels (after [`MOVE_TO`]).
const PROMOTIONS: [Piece; 4] = [Piece::Knight, Piece::Bishop, Piece::Rook, Piece::Queen];

/// Reads a text file; bytes that are not UTF-8 (PGN files are often Latin-1) become U+FFFD.
fn read_text(path: &Path) -> std::io::Result<String> {
    std::fs::read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

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

/// XOR mask from a real square index to the oriented one (and back): 0 for White, 56 for
/// Black (rank r becomes rank 7 - r).
fn orient(board: &Board) -> u8 {
    match board.side_to_move() {
        Color::White => 0,
        Color::Black => 56,
    }
}

/// The token of the piece (if any) on `square`, own or opponent's.
fn square_token(board: &Board, square: Square) -> u8 {
    match (board.piece_on(square), board.color_on(square)) {
        (Some(piece), Some(color)) if color == board.side_to_move() => OWN_PAWN + piece as u8,
        (Some(piece), Some(_)) => OPP_PAWN + piece as u8,
        _ => EMPTY,
    }
}

/// The en-passant file if an en-passant capture is actually legal (FENs and cozy-chess also
/// record it after every double push).
pub fn effective_en_passant(board: &Board) -> Option<File> {
    let file = board.en_passant()?;
    let us = board.side_to_move();
    let target = Square::new(file, Rank::Sixth.relative_to(us));
    let attackers = get_pawn_attacks(target, !us) & board.colored_pieces(us, Piece::Pawn);
    attackers
        .iter()
        .any(|from| {
            board.is_legal(Move {
                from,
                to: target,
                promotion: None,
            })
        })
        .then_some(file)
}

/// The [`SEQ_LEN`] input tokens of a position, oriented for the side to move.
pub fn encode(board: &Board) -> Vec<u8> {
    let flip = orient(board) as usize;
    let mut tokens: Vec<u8> = (0..64)
        .map(|i| square_token(board, Square::index(i ^ flip)))
        .collect();
    let us = board.side_to_move();
    tokens.push(match us {
        Color::White => WHITE_TO_MOVE,
        Color::Black => BLACK_TO_MOVE,
    });
    for color in [us, !us] {
        let rights = board.castle_rights(color);
        for right in [rights.short, rights.long] {
            tokens.push(if right.is_some() {
                CASTLE_YES
            } else {
                CASTLE_NO
            });
        }
    }
    tokens.push(match effective_en_passant(board) {
        Some(file) => EP_FILE_A + file as u8,
        None => EP_NONE,
    });
    tokens
}

/// Index of a promotion piece in [None, N, B, R, Q] (the order of the to-square labels).
fn promo_index(promotion: Option<Piece>) -> usize {
    promotion
        .and_then(|p| PROMOTIONS.iter().position(|&q| q == p))
        .map_or(0, |i| i + 1)
}

/// A training example: the position's tokens and, as labels, the best move (standard UCI)
/// marked on the oriented squares ([`MOVE_FROM`], [`MOVE_TO`]`+ promotion`, [`MOVE_NONE`]
/// elsewhere; PAD on the state tokens; puzzle id 0).
pub fn example(board: &Board, best: &str) -> Result<Example> {
    let Some(mv) = parse_uci(board, best) else {
        bail!("move `{best}` is not legal in {board}");
    };
    let (from, to, promotion) = uci_squares(board, mv);
    let flip = orient(board) as usize;
    let mut labels = vec![PAD; SEQ_LEN];
    labels[..64].fill(MOVE_NONE);
    labels[from as usize ^ flip] = MOVE_FROM;
    labels[to as usize ^ flip] = MOVE_TO + promo_index(promotion) as u8;
    Ok(Example {
        inputs: encode(board),
        labels,
        puzzle_id: 0,
    })
}

/// The move (standard UCI) that a label sequence of `board` marks: exactly one from-square and
/// one to-square among the first 64 labels, else None (the move need not be legal).
pub fn decode_move(board: &Board, labels: &[u8]) -> Option<String> {
    let flip = orient(board);
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for (square, &label) in (0u8..).zip(labels.get(..64)?) {
        if label == MOVE_FROM {
            from.push(square);
        } else if (MOVE_TO..MOVE_TO + 5).contains(&label) {
            to.push((square, label));
        }
    }
    match (from.as_slice(), to.as_slice()) {
        ([f], [(t, label)]) => {
            let promo = (*label > MOVE_TO).then(|| PROMOTIONS[(label - MOVE_TO - 1) as usize]);
            Some(to_uci(f ^ flip, t ^ flip, promo))
        }
        _ => None,
    }
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
fn is_castle(board: &Board, mv: Move) -> bool {
    board.piece_on(mv.from) == Some(Piece::King) && board.colors(board.side_to_move()).has(mv.to)
}

/// The standard (from, to, promotion) of a legal cozy-chess move: castling goes to the g or c
/// file.
fn uci_squares(board: &Board, mv: Move) -> (Square, Square, Option<Piece>) {
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
fn legal_moves(board: &Board) -> Vec<(Piece, Move)> {
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

/// Log-softmax of a score vector (NaN counts as -inf, infinities are clamped to the largest
/// finite values; all -inf gives zeros).
fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let x: Vec<f64> = logits
        .iter()
        .map(|v| match v {
            v if v.is_nan() => f64::NEG_INFINITY,
            v => v.clamp(f32::MIN, f32::MAX) as f64,
        })
        .collect();
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return vec![0.0; x.len()];
    }
    let log_sum = x.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
    x.iter().map(|v| v - max - log_sum).collect()
}

/// A model's move preferences in one position, read from its logits on the 64 squares.
///
/// Each square's label distribution is log-softmaxed over the 7 move labels (other tokens
/// ignored). Under the model's per-square factorisation, the log-likelihood of the label map of
/// move (f, t, promotion) is a constant plus the log-odds `from[f] + to[t][promotion]`, with
/// `from[s] = log p_s(FROM) - log p_s(NONE)` and `to[s][k] = log p_s(TO + k) - log p_s(NONE)`;
/// moves are ranked by that score.
pub struct MoveScores {
    flip: u8,
    from: Vec<f64>,
    to: Vec<[f64; 5]>,
}

impl MoveScores {
    /// From the logits of one position, square after square (`64 * VOCAB` values or more; the
    /// state tokens after the squares are ignored). None if there are fewer.
    pub fn new(board: &Board, logits: &[f32]) -> Option<Self> {
        let squares = logits.get(..64 * VOCAB)?;
        let (mut from, mut to) = (Vec::with_capacity(64), Vec::with_capacity(64));
        for cell in squares.chunks(VOCAB) {
            let lp = log_softmax(&cell[MOVE_NONE as usize..MOVE_TO as usize + 5]);
            let odds = |x: f64| {
                let v = x - lp[0];
                if v.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    v
                }
            };
            from.push(odds(lp[1]));
            to.push(std::array::from_fn(|k| odds(lp[2 + k])));
        }
        Some(Self {
            flip: orient(board),
            from,
            to,
        })
    }

    /// The score of a move given by real squares and promotion.
    fn score(&self, from: u8, to: u8, promotion: Option<Piece>) -> f64 {
        self.from[(from ^ self.flip) as usize]
            + self.to[(to ^ self.flip) as usize][promo_index(promotion)]
    }

    /// The model's own move with no legality restriction: the best-scoring (from, to, label)
    /// with from != to, which may be illegal (or carry a promotion letter where none fits).
    pub fn unrestricted(&self) -> String {
        let mut best = (f64::NEG_INFINITY, 0u8, 1u8, 0usize);
        for f in 0..64u8 {
            for t in (0..64u8).filter(|&t| t != f) {
                for (k, s) in self.to[t as usize].iter().enumerate() {
                    let score = self.from[f as usize] + s;
                    if score > best.0 {
                        best = (score, f, t, k);
                    }
                }
            }
        }
        let (_, f, t, k) = best;
        to_uci(
            f ^ self.flip,
            t ^ self.flip,
            k.checked_sub(1).map(|i| PROMOTIONS[i]),
        )
    }

    /// The best-scoring legal move (standard UCI), so legal whatever the logits say (ties go to
    /// the first move in generation order); the UCI null move "0000" if there is none.
    pub fn best_legal(&self, board: &Board) -> String {
        let mut best: Option<(f64, String)> = None;
        for (_, mv) in legal_moves(board) {
            let (f, t, p) = uci_squares(board, mv);
            let score = self.score(f as u8, t as u8, p);
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, move_to_uci(board, mv)));
            }
        }
        best.map(|(_, uci)| uci)
            .unwrap_or_else(|| "0000".to_string())
    }
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

/// A puzzle: the position to solve and the expected line (standard UCI, the solver's moves
/// alternating with the opponent's replies), with its rating (0 when unknown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PuzzleLine {
    pub fen_after_first_move: String,
    pub solution: Vec<String>,
    pub rating: u32,
}

/// Splits one CSV line into fields (double-quoted fields may hold commas and `""`).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                push_char(&mut fields, '"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            _ => push_char(&mut fields, c),
        }
    }
    fields
}

/// Appends a character to the last CSV field.
fn push_char(fields: &mut [String], c: char) {
    if let Some(field) = fields.last_mut() {
        field.push(c);
    }
}

/// Up to `limit` puzzles from a Lichess puzzle CSV (PuzzleId,FEN,Moves,Rating,...). The FEN is
/// before the opponent's first move; that move is played, and the rest is the solution. Every
/// move is checked for legality.
pub fn lichess_puzzles(path: &Path, limit: usize) -> Result<Vec<PuzzleLine>> {
    let text = read_text(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = text.lines().enumerate();
    let header = csv_fields(rows.next().map(|(_, h)| h).unwrap_or_default());
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| anyhow!("{}: no `{name}` column", path.display()))
    };
    let (fen_at, moves_at, rating_at) = (column("FEN")?, column("Moves")?, column("Rating")?);
    let mut puzzles = Vec::new();
    for (n, row) in rows.filter(|(_, r)| !r.trim().is_empty()).take(limit) {
        let fields = csv_fields(row);
        let field = |i: usize| fields.get(i).map(String::as_str).unwrap_or_default();
        let puzzle = lichess_puzzle(field(fen_at), field(moves_at), field(rating_at))
            .with_context(|| format!("{}:{}", path.display(), n + 1))?;
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

/// Writes `fen,best_move` CSV (header first) to a temporary file, then renames it to `path`.
pub fn write_labelled(path: &Path, rows: &[(String, String)]) -> Result<()> {
    let mut text = format!("{LABELLED_HEADER}\n");
    for (fen, best) in rows {
        if [fen, best].iter().any(|s| s.contains([',', '\n', '\r'])) {
            bail!("cannot write `{fen}` / `{best}`: commas and line breaks are not allowed");
        }
        text.push_str(&format!("{fen},{best}\n"));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("csv.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))
}

/// Reads a file written by [`write_labelled`], checking every FEN and that every move is legal.
pub fn read_labelled(path: &Path) -> Result<Vec<(String, String)>> {
    let text = read_text(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    if lines.next().map(|(_, h)| h.trim()) != Some(LABELLED_HEADER) {
        bail!(
            "{}: expected the header `{LABELLED_HEADER}`",
            path.display()
        );
    }
    let mut rows = Vec::new();
    for (n, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let here = || format!("{}:{}", path.display(), n + 1);
        let (fen, best) = line
            .split_once(',')
            .ok_or_else(|| anyhow!("{}: expected `fen,best_move`", here()))?;
        let board = parse_fen(fen).with_context(here)?;
        if !is_legal(&board, best.trim()) {
            bail!("{}: move `{best}` is not legal", here());
        }
        rows.push((fen.trim().to_string(), best.trim().to_string()));
    }
    Ok(rows)
}

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
    use crate::eval::uci::DEFAULT_ENGINE_PATH;
    use std::path::PathBuf;

    /// A shared chess data file, or None (the test then skips with a note).
    fn data(rel: &str) -> Option<PathBuf> {
        crate::data::shared_data(&format!("chess/{rel}"))
    }

    fn board(fen: &str) -> Board {
        parse_fen(fen).unwrap()
    }

    #[test]
    fn start_position_encodes_by_hand() {
        let tokens = encode(&Board::default());
        assert_eq!(tokens.len(), SEQ_LEN);
        assert_eq!(SEQ_LEN, 70);
        assert_eq!(tokens[0], 5, "a1 own rook");
        assert_eq!(tokens[4], 7, "e1 own king");
        assert_eq!(tokens[3], 6, "d1 own queen");
        assert_eq!(tokens[12], 2, "e2 own pawn");
        assert_eq!(tokens[27], EMPTY, "d4 empty");
        assert_eq!(tokens[52], 8, "e7 opponent pawn");
        assert_eq!(tokens[60], 13, "e8 opponent king");
        assert_eq!(tokens[62], 9, "g8 opponent knight");
        assert_eq!(tokens[64], WHITE_TO_MOVE);
        assert_eq!(&tokens[65..69], &[CASTLE_YES; 4]);
        assert_eq!(tokens[69], EP_NONE);
        assert!(tokens.iter().all(|&t| (t as usize) < VOCAB && t != PAD));
        // Black to move: own rights first (black: long only), then White's (short only).
        let after = board("r3k2r/8/8/8/8/8/8/4K2R b Kq - 0 1");
        let tokens = encode(&after);
        assert_eq!(tokens[64], BLACK_TO_MOVE);
        assert_eq!(
            &tokens[65..69],
            &[CASTLE_NO, CASTLE_YES, CASTLE_YES, CASTLE_NO]
        );
        assert_eq!(tokens[4], 7, "e8 (oriented e1) own king");
        assert_eq!(tokens[60], 13, "e1 (oriented e8) opponent king");
        assert_eq!(tokens[63], 11, "h1 (oriented h8) opponent rook");
    }

    #[test]
    fn a_position_and_its_colour_mirror_encode_alike() {
        // After 1. e4 (Black to move) and its mirror image with colours swapped (White to move):
        // the same board from the mover's side, so only the side-to-move token differs.
        let black = encode(&board(
            "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1",
        ));
        let white = encode(&board(
            "rnbqkbnr/pppp1ppp/8/4p3/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1",
        ));
        assert_eq!(black[..64], white[..64]);
        assert_eq!(black[65..], white[65..]);
        assert_eq!((black[64], white[64]), (BLACK_TO_MOVE, WHITE_TO_MOVE));
        assert_eq!(
            black[36], OPP_PAWN,
            "White's e4 pawn is the mover's e5 opponent pawn"
        );
    }

    #[test]
    fn en_passant_file_is_encoded_only_when_capturable() {
        // 1. e4 d5 2. e5 f5: exf6 e.p. is legal.
        let ep = board("rnbqkbnr/ppp1p1pp/8/3pPp2/8/8/PPPP1PPP/RNBQKBNR w KQkq f6 0 3");
        assert_eq!(encode(&ep)[69], EP_FILE_A + 5);
        assert!(is_legal(&ep, "e5f6"));
        // After 1. e4 the FEN names e3, but no black pawn can take.
        let none = board("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1");
        assert_eq!(encode(&none)[69], EP_NONE);
    }

    #[test]
    fn example_labels_and_decode_round_trip() {
        let marks = |labels: &[u8]| -> Vec<(usize, u8)> {
            assert!(
                labels[64..].iter().all(|&t| t == PAD),
                "state tokens unlabelled"
            );
            (0..64)
                .filter(|&i| labels[i] != MOVE_NONE)
                .map(|i| (i, labels[i]))
                .collect()
        };
        let b = Board::default();
        let ex = example(&b, "g1f3").unwrap();
        assert_eq!(ex.inputs, encode(&b));
        assert_eq!(ex.labels.len(), SEQ_LEN);
        assert_eq!(marks(&ex.labels), vec![(6, MOVE_FROM), (21, MOVE_TO)]);
        assert_eq!(decode_move(&b, &ex.labels).as_deref(), Some("g1f3"));
        // Black's e7e5 is marked on the oriented squares e2 (12) and e4 (28).
        let black = board("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1");
        let ex = example(&black, "e7e5").unwrap();
        assert_eq!(marks(&ex.labels), vec![(12, MOVE_FROM), (28, MOVE_TO)]);
        assert_eq!(decode_move(&black, &ex.labels).as_deref(), Some("e7e5"));
        let promo = board("8/4P1k1/8/8/8/8/8/4K3 w - - 0 1");
        let ex = example(&promo, "e7e8n").unwrap();
        assert_eq!(marks(&ex.labels), vec![(52, MOVE_FROM), (60, MOVE_TO + 1)]);
        assert_eq!(decode_move(&promo, &ex.labels).as_deref(), Some("e7e8n"));
        let black_promo = board("4k3/8/8/8/8/8/4p3/K7 b - - 0 1");
        let ex = example(&black_promo, "e2e1q").unwrap();
        assert_eq!(marks(&ex.labels), vec![(52, MOVE_FROM), (60, MOVE_TO + 4)]);
        assert_eq!(
            decode_move(&black_promo, &ex.labels).as_deref(),
            Some("e2e1q")
        );
        assert!(example(&b, "e2e5").is_err());
        assert_eq!(decode_move(&b, &[MOVE_NONE; 64]), None);
        assert_eq!(decode_move(&b, &[MOVE_FROM; 64]), None);
        assert_eq!(decode_move(&b, &[1, 2]), None);
        assert_eq!(to_uci(64, 0, None), "0000");
    }

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

    /// Logits of one position (all zero), with `(oriented square, label, logit)` set.
    fn logits(set: &[(usize, u8, f32)]) -> Vec<f32> {
        let mut v = vec![0.0f32; SEQ_LEN * VOCAB];
        for &(square, label, x) in set {
            v[square * VOCAB + label as usize] = x;
        }
        v
    }

    #[test]
    fn move_scores_are_log_odds_and_legal_decoding_ignores_illegal_favourites() {
        let b = Board::default();
        let l = logits(&[
            (4, MOVE_FROM, 50.0), // e1: the king cannot move
            (36, MOVE_TO, 50.0),  // e5: nothing reaches it
            (6, MOVE_FROM, 5.0),  // g1
            (21, MOVE_TO, 4.0),   // f3
            (21, 0, 99.0),        // a non-label token is ignored
        ]);
        let scores = MoveScores::new(&b, &l).unwrap();
        // With the other labels at 0, each log-odds is exactly the logit.
        assert_eq!(scores.score(6, 21, None), 9.0);
        assert_eq!(scores.score(4, 36, None), 100.0);
        assert_eq!(scores.unrestricted(), "e1e5");
        assert_eq!(scores.best_legal(&b), "g1f3");
        // The same logits for Black in the mirrored start position mean g8f6.
        let black = board("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR b KQkq - 0 1");
        let scores = MoveScores::new(&black, &l).unwrap();
        assert_eq!(scores.best_legal(&black), "g8f6");
        assert_eq!(scores.unrestricted(), "e8e4");
        // NaN logits still give a legal move; too few logits give None.
        let nan = vec![f32::NAN; 64 * VOCAB];
        let mv = MoveScores::new(&b, &nan).unwrap().best_legal(&b);
        assert!(is_legal(&b, &mv), "{mv}");
        assert!(MoveScores::new(&b, &nan[1..]).is_none());
        // Promotion: the to-square label decides the piece.
        let p = board("8/4P1k1/8/8/8/8/8/4K3 w - - 0 1");
        let l = logits(&[
            (52, MOVE_FROM, 9.0),
            (60, MOVE_TO, 5.0),
            (60, MOVE_TO + 3, 6.0),
        ]);
        let scores = MoveScores::new(&p, &l).unwrap();
        assert_eq!(scores.best_legal(&p), "e7e8r");
        assert_eq!(scores.unrestricted(), "e7e8r");
        let mated = board("rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3");
        assert_eq!(
            MoveScores::new(&mated, &l).unwrap().best_legal(&mated),
            "0000"
        );
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
