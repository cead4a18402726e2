//! What every puzzle family shares: the example type, padding, and the square's symmetries.

/// Token id 0 is padding everywhere; a label of PAD is ignored by the loss and the metrics.
pub const PAD: u8 = 0;

/// One puzzle as the model sees it: question tokens, answer tokens (same length) and the puzzle
/// identifier whose embedding fills the prefix (0 = "no identifier", as for Sudoku and Maze).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub inputs: Vec<u8>,
    pub labels: Vec<u8>,
    pub puzzle_id: u32,
}

/// The 8 symmetries of the square (dihedral group D4): `k` in 0..8; k & 3 quarter turns
/// clockwise, and k >= 4 transposes first. Works on any row-major square grid of `side` cells.
pub fn dihedral<T: Copy>(grid: &[T], side: usize, k: u8) -> Vec<T> {
    assert_eq!(grid.len(), side * side, "grid is not square");
    let n = side;
    (0..n * n)
        .map(|i| {
            let (r, c) = (i / n, i % n);
            let (r, c) = match k & 3 {
                0 => (r, c),
                1 => (n - 1 - c, r),
                2 => (n - 1 - r, n - 1 - c),
                _ => (c, n - 1 - r),
            };
            let (r, c) = if k >= 4 { (c, r) } else { (r, c) };
            grid[r * n + c]
        })
        .collect()
}

/// The transform that undoes `dihedral(_, _, k)`.
pub fn inverse_dihedral(k: u8) -> u8 {
    match k {
        1 => 3,
        3 => 1,
        k => k, // 0, 2 and the four reflections are their own inverses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dihedral_matches_hand_rotations_and_inverts() {
        // 1 2      rotate clockwise: 3 1     transpose: 1 3
        // 3 4                        4 2                2 4
        let g = [1, 2, 3, 4];
        assert_eq!(dihedral(&g, 2, 1), vec![3, 1, 4, 2]);
        assert_eq!(dihedral(&g, 2, 2), vec![4, 3, 2, 1]);
        assert_eq!(dihedral(&g, 2, 4), vec![1, 3, 2, 4]);
        let g: Vec<u32> = (0..9).collect();
        for k in 0..8 {
            let t = dihedral(&g, 3, k);
            assert_eq!(dihedral(&t, 3, inverse_dihedral(k)), g, "k = {k}");
        }
        let all: std::collections::HashSet<Vec<u32>> = (0..8).map(|k| dihedral(&g, 3, k)).collect();
        assert_eq!(all.len(), 8, "the 8 transforms are distinct");
    }
}
