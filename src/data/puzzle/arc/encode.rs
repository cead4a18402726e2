//! Grids on the 30x30 token canvas: encoding, and the official evaluator's crop to decode.

use super::augment::dims;
use super::{Grid, COLOUR_OFFSET, EOS, SEQ_LEN, SIDE};
use crate::data::puzzle::PAD;

/// Encodes a grid on the 30x30 canvas with its top-left cell at (row, col): colour c -> c + 2, EOS
/// on the row below the grid (its columns only) and on the column right of it (its rows only),
/// each only when inside the canvas; the rest PAD. Cells falling outside the canvas are dropped.
pub fn encode_grid(grid: &[Vec<u8>], row: usize, col: usize) -> Vec<u8> {
    let mut tokens = vec![PAD; SEQ_LEN];
    let mut put = |r: usize, c: usize, token: u8| {
        if r < SIDE && c < SIDE {
            tokens[r * SIDE + c] = token;
        }
    };
    for (r, line) in grid.iter().enumerate() {
        for (c, &v) in line.iter().enumerate() {
            put(row + r, col + c, v.saturating_add(COLOUR_OFFSET));
        }
    }
    let (rows, cols) = dims(grid);
    let (eos_row, eos_col) = (row + rows, col + cols);
    for c in col..eos_col {
        put(eos_row, c, EOS);
    }
    for r in row..eos_row {
        put(r, eos_col, EOS);
    }
    tokens
}

/// Decodes a predicted 30x30 canvas as the official evaluator crops it: of all rectangles at (0, 0)
/// whose cells are all colour tokens, the largest (ties: the first found, scanning rows down).
/// Colour tokens become colours 0..=9. None when there are not 900 tokens or no colour cell at
/// (0, 0).
pub fn decode_grid(tokens: &[u8]) -> Option<Grid> {
    if tokens.len() != SEQ_LEN {
        return None;
    }
    let is_colour = |t: u8| (COLOUR_OFFSET..COLOUR_OFFSET + 10).contains(&t);
    let (mut width, mut best_area, mut best) = (SIDE, 0, (0, 0));
    for rows in 1..=SIDE {
        let line = &tokens[(rows - 1) * SIDE..rows * SIDE];
        width = line[..width]
            .iter()
            .position(|&t| !is_colour(t))
            .unwrap_or(width);
        if width == 0 {
            break;
        }
        if rows * width > best_area {
            best_area = rows * width;
            best = (rows, width);
        }
    }
    if best_area == 0 {
        return None;
    }
    let grid = (0..best.0)
        .map(|r| {
            tokens[r * SIDE..r * SIDE + best.1]
                .iter()
                .map(|&t| t - COLOUR_OFFSET)
                .collect()
        })
        .collect();
    Some(grid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::arc::testing::{grid, shift_to_origin};

    #[test]
    fn encode_puts_eos_where_expected_and_decode_inverts() {
        // 2x3 at the top-left: EOS row 2 over columns 0..3, EOS column 3 over rows 0..2.
        let g = grid(&["012", "345"]);
        let tokens = encode_grid(&g, 0, 0);
        let mut expected = vec![PAD; SEQ_LEN];
        expected[..3].copy_from_slice(&[2, 3, 4]);
        expected[30..33].copy_from_slice(&[5, 6, 7]);
        expected[3] = EOS;
        expected[33] = EOS;
        expected[60..63].copy_from_slice(&[EOS; 3]);
        assert_eq!(tokens, expected);
        assert_eq!(decode_grid(&tokens), Some(g.clone()));

        // Translated to (5, 7): the same picture moved, EOS included.
        let moved = encode_grid(&g, 5, 7);
        assert_eq!(moved[5 * 30 + 7..5 * 30 + 11], [2, 3, 4, EOS]);
        assert_eq!(moved[6 * 30 + 7..6 * 30 + 11], [5, 6, 7, EOS]);
        assert_eq!(moved[7 * 30 + 7..7 * 30 + 11], [EOS, EOS, EOS, PAD]);
        assert_eq!(moved.iter().filter(|&&t| t != PAD).count(), 6 + 5);
        assert_eq!(shift_to_origin(&moved, 5, 7), tokens);
        assert_eq!(decode_grid(&shift_to_origin(&moved, 5, 7)), Some(g));

        // 30x30: no room for EOS; every token is a colour.
        let full: Grid = (0..30)
            .map(|r| (0..30).map(|c| ((r * 7 + c) % 10) as u8).collect())
            .collect();
        let tokens = encode_grid(&full, 0, 0);
        assert!(tokens.iter().all(|&t| (2..12).contains(&t)));
        assert_eq!(decode_grid(&tokens), Some(full.clone()));

        // 29x30 placed one row down touches the bottom edge: EOS column nowhere, EOS row nowhere.
        let tall: Grid = full[..29].to_vec();
        let tokens = encode_grid(&tall, 1, 0);
        assert!(!tokens.contains(&EOS));
        assert_eq!(
            decode_grid(&shift_to_origin(&tokens, 1, 0)),
            Some(tall.clone())
        );
        // At the top instead: an EOS row (row 29) but no EOS column.
        let tokens = encode_grid(&tall, 0, 0);
        assert_eq!(tokens[29 * 30..], [EOS; 30]);
        assert_eq!(decode_grid(&tokens), Some(tall));
    }

    #[test]
    fn decode_follows_the_official_crop() {
        // Ragged prediction: row 0 has 3 colours, row 1 has 2, row 2 has 2, row 3 none.
        let mut tokens = vec![PAD; SEQ_LEN];
        tokens[..4].copy_from_slice(&[2, 3, 4, EOS]);
        tokens[30..33].copy_from_slice(&[5, 6, EOS]);
        tokens[60..63].copy_from_slice(&[7, 8, 9]);
        // Areas: 1x3 = 3, 2x2 = 4, 3x2 = 6 -> 3x2.
        assert_eq!(decode_grid(&tokens), Some(grid(&["01", "34", "56"])));
        // A token beyond the vocabulary ends a row just like EOS.
        tokens[1] = 12;
        assert_eq!(decode_grid(&tokens), Some(grid(&["0", "3", "5"])));
        tokens[0] = EOS;
        assert_eq!(decode_grid(&tokens), None, "no colour at the top-left");
        assert_eq!(decode_grid(&[2; 10]), None, "wrong length");
    }
}
