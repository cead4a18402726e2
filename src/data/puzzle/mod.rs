//! Puzzles as token sequences: the shared example type, the official CSV format, grid transforms.
//! Each puzzle family (sudoku, maze, arc, hanoi, chess) reads, generates and augments its own data here.

pub mod arc;
pub mod chess;
pub mod csv;
mod grid;
pub mod hanoi;
pub mod maze;
pub mod source;
pub mod sudoku;

pub use grid::{dihedral, inverse_dihedral, Example, PAD};
