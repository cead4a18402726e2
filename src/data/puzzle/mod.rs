//! Puzzles as token sequences: the shared example type, the official CSV format, grid transforms.
//! Each puzzle family (sudoku, maze, arc, hanoi, chess) reads, generates, augments and scores its
//! own data here, behind the `PuzzleFamily` trait; `family::FAMILIES` registers them.

pub mod arc;
pub mod chess;
pub mod csv;
pub mod family;
mod grid;
pub mod hanoi;
pub mod maze;
pub mod sudoku;

pub use family::{Predict, PuzzleData, PuzzleFamily, TestScorer, FAMILIES};
pub use grid::{dihedral, inverse_dihedral, Example, PAD};
