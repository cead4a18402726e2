//! Augmentations: dihedral transforms, colour permutations, and each task's deduplicated draws.

use std::collections::HashSet;

use super::dataset::BuildOptions;
use super::{ArcTask, Augmentation, ColourPerm, Grid, Task, IDENTITY_COLOURS, SIDE};
use crate::data::puzzle::inverse_dihedral;
use crate::rng::Rng;

/// Random draws allowed per wanted augmentation before giving up on a task (official: 5).
const RETRIES_FACTOR: usize = 5;

/// Rows and columns of a grid (columns of its first row).
pub(super) fn dims(grid: &[Vec<u8>]) -> (usize, usize) {
    (grid.len(), grid.first().map_or(0, Vec::len))
}

/// Shape of a `rows x cols` grid after dihedral transform `k`.
pub(super) fn dihedral_dims(rows: usize, cols: usize, k: u8) -> (usize, usize) {
    if (k >= 4) ^ (k & 1 == 1) {
        (cols, rows)
    } else {
        (rows, cols)
    }
}

/// The source cell of output cell (r, c) when dihedral transform `k` is applied to a
/// `rows x cols` grid: transpose first when k >= 4 (giving B), then k & 3 clockwise quarter turns.
fn dihedral_source(rows: usize, cols: usize, k: u8, r: usize, c: usize) -> (usize, usize) {
    let (hb, wb) = if k >= 4 { (cols, rows) } else { (rows, cols) };
    let (i, j) = match k & 3 {
        0 => (r, c),
        1 => (hb - 1 - c, r),
        2 => (hb - 1 - r, wb - 1 - c),
        _ => (c, wb - 1 - r),
    };
    if k >= 4 {
        (j, i)
    } else {
        (i, j)
    }
}

/// Dihedral transform `k` (0..8) of a rectangular grid, the same convention as the square
/// `dihedral`: k & 3 clockwise quarter turns, k >= 4 transposes first. A rows x cols grid becomes
/// cols x rows for k = 1, 3, 4 and 6.
pub fn dihedral_grid(grid: &[Vec<u8>], k: u8) -> Grid {
    let (rows, cols) = dims(grid);
    let (out_rows, out_cols) = dihedral_dims(rows, cols, k);
    (0..out_rows)
        .map(|r| {
            (0..out_cols)
                .map(|c| {
                    let (i, j) = dihedral_source(rows, cols, k, r, c);
                    grid.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0)
                })
                .collect()
        })
        .collect()
}

/// Recolours a grid: colour `c` becomes `perm[c]` (values above 9 are kept).
fn recolour(grid: &[Vec<u8>], perm: &ColourPerm) -> Grid {
    grid.iter()
        .map(|row| {
            row.iter()
                .map(|&v| perm.get(v as usize).copied().unwrap_or(v))
                .collect()
        })
        .collect()
}

/// The permutation that undoes `perm` (entries that are not a permutation map to themselves).
fn inverse_colours(perm: &ColourPerm) -> ColourPerm {
    let mut inv = IDENTITY_COLOURS;
    for (c, &p) in perm.iter().enumerate() {
        if let Some(slot) = inv.get_mut(p as usize) {
            *slot = c as u8;
        }
    }
    inv
}

/// Applies an augmentation to a grid: recolour, then dihedral transform `k`.
pub fn augment(grid: &[Vec<u8>], k: u8, colours: &ColourPerm) -> Grid {
    dihedral_grid(&recolour(grid, colours), k)
}

/// Undoes `augment(_, k, colours)`: inverse dihedral transform, then inverse colour permutation.
pub fn undo_augmentation(grid: &[Vec<u8>], k: u8, colours: &ColourPerm) -> Grid {
    recolour(
        &dihedral_grid(grid, inverse_dihedral(k)),
        &inverse_colours(colours),
    )
}

/// Why a colour permutation is invalid (colour 0 must stay, 1..=9 must be permuted).
pub(super) fn colours_problem(perm: &ColourPerm) -> Option<String> {
    let mut sorted = *perm;
    sorted.sort_unstable();
    if perm[0] != 0 || sorted != IDENTITY_COLOURS {
        return Some(format!(
            "{perm:?} is not a permutation of colours 1..9 fixing 0"
        ));
    }
    None
}

/// A uniformly random dihedral transform and colour permutation (colour 0 fixed).
fn random_transform(rng: &mut Rng) -> (u8, ColourPerm) {
    let k = rng.below(8) as u8;
    let mut perm = IDENTITY_COLOURS;
    rng.shuffle(&mut perm[1..]);
    (k, perm)
}

/// FNV-1a hash of a task id: seeds each task's random stream independently of the others.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Appends the shape and cells of `augment(grid, k, colours)` to `out` (for `content_key`).
fn push_augmented(out: &mut Vec<u8>, grid: &[Vec<u8>], k: u8, colours: &ColourPerm) {
    let (rows, cols) = dims(grid);
    let (out_rows, out_cols) = dihedral_dims(rows, cols, k);
    out.extend([out_rows as u8, out_cols as u8]);
    for r in 0..out_rows {
        for c in 0..out_cols {
            let (i, j) = dihedral_source(rows, cols, k, r, c);
            let v = grid.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0);
            out.push(colours.get(v as usize).copied().unwrap_or(v));
        }
    }
}

/// The augmented content of a whole task (every demonstration and test case, known outputs
/// included), pairs sorted: two transforms with equal keys give the same puzzle (official dedup).
fn content_key(task: &Task, k: u8, colours: &ColourPerm) -> Vec<u8> {
    let demos = task.demos.iter().map(|p| (&p.input, Some(&p.output)));
    let tests = task.tests.iter().map(|t| (&t.input, t.output.as_ref()));
    let mut pairs: Vec<Vec<u8>> = demos
        .chain(tests)
        .map(|(input, output)| {
            let mut bytes = Vec::new();
            push_augmented(&mut bytes, input, k, colours);
            if let Some(output) = output {
                push_augmented(&mut bytes, output, k, colours);
            }
            bytes
        })
        .collect();
    pairs.sort_unstable();
    pairs.concat()
}

/// The identity plus up to `count` random transforms of a task whose augmented content differs
/// from all earlier ones; gives up after `RETRIES_FACTOR * count` draws (as the official code).
fn draw_transforms(task: &Task, count: usize, rng: &mut Rng) -> Vec<(u8, ColourPerm)> {
    let mut transforms = vec![(0, IDENTITY_COLOURS)];
    let mut seen = HashSet::from([content_key(task, 0, &IDENTITY_COLOURS)]);
    for _ in 0..RETRIES_FACTOR * count {
        if transforms.len() > count {
            break;
        }
        let (k, perm) = random_transform(rng);
        if seen.insert(content_key(task, k, &perm)) {
            transforms.push((k, perm));
        }
    }
    transforms
}

/// Random translations for the training pairs of one augmentation: each pair at an offset where
/// both its (transformed) grids fit on the canvas, except one random pair kept at (0, 0).
fn draw_offsets(task: &ArcTask, k: u8, rng: &mut Rng) -> Vec<[u8; 2]> {
    let shapes: Vec<(usize, usize)> = task
        .train_pairs()
        .map(|(input, output)| {
            let (ri, ci) = dims(input);
            let (ro, co) = dims(output);
            dihedral_dims(ri.max(ro), ci.max(co), k)
        })
        .collect();
    let untranslated = rng.below(shapes.len() as u64) as usize;
    shapes
        .iter()
        .enumerate()
        .map(|(i, &(rows, cols))| {
            if i == untranslated {
                return [0, 0];
            }
            let r = rng.below((SIDE + 1 - rows) as u64) as u8;
            let c = rng.below((SIDE + 1 - cols) as u64) as u8;
            [r, c]
        })
        .collect()
}

/// Augmentations for one task, from a random stream seeded by the build seed and the task id.
pub(super) fn augment_task(task: Task, is_test: bool, opts: &BuildOptions) -> ArcTask {
    let mut rng = Rng::new(opts.seed ^ fnv1a(&task.id));
    let transforms = draw_transforms(&task, opts.augmentations, &mut rng);
    let mut arc = ArcTask {
        task,
        is_test,
        augmentations: Vec::with_capacity(transforms.len()),
    };
    for (k, colours) in transforms {
        let offsets = draw_offsets(&arc, k, &mut rng);
        arc.augmentations.push(Augmentation {
            dihedral: k,
            colours,
            offsets,
        });
    }
    arc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::arc::testing::{grid, task_json, write_subset, TempDir};
    use crate::data::puzzle::arc::{build, BuildOptions};
    use crate::data::puzzle::dihedral;
    use serde_json::json;

    #[test]
    fn rectangular_dihedral_matches_square_version_and_hand_rotation() {
        let square: Grid = (0..4)
            .map(|r| (0..4).map(|c| r * 4 + c).collect())
            .collect();
        let flat: Vec<u8> = square.concat();
        for k in 0..8 {
            assert_eq!(
                dihedral_grid(&square, k).concat(),
                dihedral(&flat, 4, k),
                "k = {k}"
            );
        }
        // 1 2 3   clockwise:  4 1    transpose: 1 4
        // 4 5 6               5 2               2 5
        //                     6 3               3 6
        let g = grid(&["123", "456"]);
        assert_eq!(dihedral_grid(&g, 1), grid(&["41", "52", "63"]));
        assert_eq!(dihedral_grid(&g, 2), grid(&["654", "321"]));
        assert_eq!(dihedral_grid(&g, 3), grid(&["36", "25", "14"]));
        assert_eq!(dihedral_grid(&g, 4), grid(&["14", "25", "36"]));
        let all: HashSet<Grid> = (0..8).map(|k| dihedral_grid(&g, k)).collect();
        assert_eq!(all.len(), 8);
    }

    #[test]
    fn undo_augmentation_inverts_every_transform() {
        let g = grid(&["0123", "4567", "8900"]);
        let mut rng = Rng::new(11);
        for k in 0..8 {
            let (_, perm) = random_transform(&mut rng);
            assert!(colours_problem(&perm).is_none());
            assert_ne!(perm, IDENTITY_COLOURS);
            let augmented = augment(&g, k, &perm);
            assert_eq!(dims(&augmented), dihedral_dims(3, 4, k));
            assert_eq!(
                augmented[0].len(),
                if matches!(k, 1 | 3 | 4 | 6) { 3 } else { 4 }
            );
            assert_eq!(undo_augmentation(&augmented, k, &perm), g, "k = {k}");
        }
        // Black stays black; colours are relabelled cell by cell.
        let perm = [0, 9, 8, 7, 6, 5, 4, 3, 2, 1];
        assert_eq!(augment(&g, 0, &perm), grid(&["0987", "6543", "2100"]));
    }

    #[test]
    fn random_transforms_are_the_draws_of_the_former_hand_written_shuffle() {
        // Computed with the code before the shuffle moved to `Rng::shuffle` (k first, then
        // j = 1 + below(i) for i = 9 down to 2), so built datasets stay the same.
        assert_eq!(
            random_transform(&mut Rng::new(0)),
            (3, [0, 3, 6, 5, 4, 7, 2, 9, 8, 1])
        );
        assert_eq!(
            random_transform(&mut Rng::new(42)),
            (1, [0, 7, 8, 5, 4, 2, 6, 1, 9, 3])
        );
    }

    #[test]
    fn augmentations_with_the_same_content_are_redrawn() {
        let tmp = TempDir::new("dedup");
        let black = grid(&["0"]);
        let one = grid(&["1"]);
        let challenges = json!({
            "black": task_json(&[(&black, &black)], &[&black]),
            "one": task_json(&[(&one, &black)], &[&one]),
        });
        let solutions = json!({"black": [black], "one": [black]});
        write_subset(&tmp.0, "tiny", &challenges, Some(&solutions));
        let opts = BuildOptions {
            train_subsets: vec![],
            test_subset: "tiny".into(),
            augmentations: 20,
            seed: 3,
            max_tasks: None,
        };
        let data = build(&tmp.0, &opts).unwrap();
        // All-black 1x1 grids look the same under every transform: only the identity.
        assert_eq!(data.task("black").unwrap().augmentations.len(), 1);
        // Colour 1 can become any of 1..9 (the rest is invisible): at most 9 distinct puzzles.
        let one = data.task("one").unwrap();
        assert!(
            (2..=9).contains(&one.augmentations.len()),
            "{}",
            one.augmentations.len()
        );
        let images: HashSet<u8> = one.augmentations.iter().map(|a| a.colours[1]).collect();
        assert_eq!(images.len(), one.augmentations.len());
        assert_eq!(data.num_puzzle_ids(), 2 + one.augmentations.len());
        // max_tasks keeps the first task of the subset.
        let small = build(
            &tmp.0,
            &BuildOptions {
                max_tasks: Some(1),
                ..opts
            },
        )
        .unwrap();
        assert_eq!(small.tasks().len(), 1);
        assert_eq!(small.tasks()[0].task.id, "black");
    }
}
