//! Chess positions as token sequences and best moves as square labels, and back (move scores).
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
//! Labelling squares makes the answer a per-cell output like Sudoku's. Moves are standard UCI
//! text ("e2e4", "e7e8q", castling as the king's two-square move "e1g1"); cozy-chess encodes castling as "king takes own rook" (e1h1), and
//! [`parse_uci`] / [`move_to_uci`] convert between the two.

use anyhow::{bail, Result};
use cozy_chess::{get_pawn_attacks, Color, File, Move, Piece, Rank, Square};

use super::board::{legal_moves, move_to_uci, parse_uci, to_uci, uci_squares};
use super::Board;
use crate::data::puzzle::{Example, PAD};

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

/// Promotion pieces in the order of their labels (after [`MOVE_TO`]).
const PROMOTIONS: [Piece; 4] = [Piece::Knight, Piece::Bishop, Piece::Rook, Piece::Queen];

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::chess::is_legal;
    use crate::data::puzzle::chess::testing::board;

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
}
