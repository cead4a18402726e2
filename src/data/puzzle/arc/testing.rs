//! Helpers shared by the ARC unit tests: temporary Kaggle folders, task JSON, small grids.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde_json::{json, Value};

use super::{challenges_path, solutions_path, Grid, SEQ_LEN, SIDE};
use crate::data::puzzle::PAD;

/// The shared Kaggle-format ARC folder, or None (the test then skips with a note).
pub(super) fn kaggle_dir() -> Option<PathBuf> {
    crate::data::shared_data("arc/kaggle-combined/arc-agi_training_challenges.json")?;
    crate::data::shared_data("arc/kaggle-combined")
}

/// A unique temporary directory, removed when dropped.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("trm-arc-{name}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes a subset's challenges (and solutions, if given) in the Kaggle layout.
pub(super) fn write_subset(
    dir: &Path,
    subset: &str,
    challenges: &Value,
    solutions: Option<&Value>,
) {
    fs::write(challenges_path(dir, subset), challenges.to_string()).unwrap();
    if let Some(sol) = solutions {
        fs::write(solutions_path(dir, subset), sol.to_string()).unwrap();
    }
}

/// One task in the Kaggle challenges layout.
pub(super) fn task_json(demos: &[(&Grid, &Grid)], tests: &[&Grid]) -> Value {
    let train: Vec<Value> = demos
        .iter()
        .map(|(i, o)| json!({"input": i, "output": o}))
        .collect();
    let test: Vec<Value> = tests.iter().map(|i| json!({ "input": i })).collect();
    json!({"train": train, "test": test})
}

/// A grid from string rows of digits.
pub(super) fn grid(rows: &[&str]) -> Grid {
    rows.iter()
        .map(|r| r.bytes().map(|b| b - b'0').collect())
        .collect()
}

/// The canvas moved so that (row, col) becomes the top-left (what a translation undoes).
pub(super) fn shift_to_origin(tokens: &[u8], row: usize, col: usize) -> Vec<u8> {
    let mut out = vec![PAD; SEQ_LEN];
    for r in row..SIDE {
        for c in col..SIDE {
            out[(r - row) * SIDE + c - col] = tokens[r * SIDE + c];
        }
    }
    out
}

/// The error message of a failed result, context included.
pub(super) fn err<T: fmt::Debug>(result: Result<T>) -> String {
    format!("{:#}", result.unwrap_err())
}
