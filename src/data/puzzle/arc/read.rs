//! Reading the Kaggle ARC JSON files (challenges and solutions) into checked tasks.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Result};
use serde::Deserialize;

use super::{Grid, Pair, Task, TestCase, SIDE};

/// A grid as written in the JSON files, before validation.
type RawGrid = Vec<Vec<i64>>;

#[derive(Deserialize)]
struct RawPair {
    input: RawGrid,
    output: RawGrid,
}

#[derive(Deserialize)]
struct RawTest {
    input: RawGrid,
}

#[derive(Deserialize)]
struct RawTask {
    train: Vec<RawPair>,
    test: Vec<RawTest>,
}

/// Why a grid is not a valid ARC grid (non-empty, rectangular, at most 30x30, colours 0..=9).
pub(super) fn grid_problem<T: Copy + Into<i64>>(grid: &[Vec<T>]) -> Option<String> {
    let rows = grid.len();
    let cols = grid.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Some("empty grid".into());
    }
    if rows > SIDE || cols > SIDE {
        return Some(format!("{rows}x{cols} grid (at most {SIDE}x{SIDE})"));
    }
    for (r, row) in grid.iter().enumerate() {
        if row.len() != cols {
            return Some(format!("row {r} has {} cells, row 0 has {cols}", row.len()));
        }
        if let Some((c, &v)) = row
            .iter()
            .enumerate()
            .find(|(_, &v)| !(0..=9).contains(&v.into()))
        {
            return Some(format!(
                "value {} at row {r} col {c} is not a colour 0..9",
                v.into()
            ));
        }
    }
    None
}

/// A validated grid; `what` names it in the error (file, task, pair).
fn to_grid(raw: RawGrid, what: &dyn Fn() -> String) -> Result<Grid> {
    if let Some(problem) = grid_problem(&raw) {
        bail!("{}: {problem}", what());
    }
    Ok(raw
        .into_iter()
        .map(|row| row.into_iter().map(|v| v as u8).collect())
        .collect())
}

/// Reads and parses one JSON file, naming it in every error; `layout` names what it should hold.
pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path, layout: &str) -> Result<T> {
    let text = fs::read(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| {
        if e.is_data() {
            anyhow!("{}: not {layout}: {e}", path.display())
        } else {
            anyhow!("{}: malformed JSON: {e}", path.display())
        }
    })
}

/// The challenges file of a subset.
pub fn challenges_path(dir: &Path, subset: &str) -> PathBuf {
    dir.join(format!("arc-agi_{subset}_challenges.json"))
}

/// The solutions file of a subset.
pub fn solutions_path(dir: &Path, subset: &str) -> PathBuf {
    dir.join(format!("arc-agi_{subset}_solutions.json"))
}

/// Loads one subset (`arc-agi_{subset}_challenges.json`, plus `..._solutions.json` when it exists),
/// tasks sorted by id. Every grid is checked; a solutions file must cover every test input exactly.
pub fn load_subset(dir: &Path, subset: &str) -> Result<Vec<Task>> {
    let ch_path = challenges_path(dir, subset);
    let raw: BTreeMap<String, RawTask> =
        read_json(&ch_path, "in the Kaggle ARC challenges layout")?;
    let sol_path = solutions_path(dir, subset);
    let solutions = if sol_path.exists() {
        Some(read_json(&sol_path, "in the Kaggle ARC solutions layout")?)
    } else {
        None
    };
    checked_tasks(raw, &ch_path, solutions, &sol_path, subset)
}

/// Loads a Kaggle challenges file by its path alone (no solutions: every test output is None),
/// tasks sorted by id, every grid checked; each task's `subset` is the file's name.
pub fn load_challenges(path: &Path) -> Result<Vec<Task>> {
    let raw: BTreeMap<String, RawTask> = read_json(path, "in the Kaggle ARC challenges layout")?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    checked_tasks(raw, path, None, Path::new(""), &name)
}

/// The tasks of a parsed challenges file (`ch_path`), with the outputs of a parsed solutions file
/// (`sol_path`) when given, every grid checked.
fn checked_tasks(
    raw: BTreeMap<String, RawTask>,
    ch_path: &Path,
    mut solutions: Option<BTreeMap<String, Vec<RawGrid>>>,
    sol_path: &Path,
    subset: &str,
) -> Result<Vec<Task>> {
    let (ch, so) = (ch_path.display(), sol_path.display());
    if let Some(unknown) = solutions
        .iter()
        .flat_map(|s| s.keys())
        .find(|k| !raw.contains_key(*k))
    {
        bail!("{so}: solutions for task {unknown}, which {ch} lacks");
    }
    let mut tasks = Vec::with_capacity(raw.len());
    for (id, task) in raw {
        let mut demos = Vec::with_capacity(task.train.len());
        for (i, pair) in task.train.into_iter().enumerate() {
            demos.push(Pair {
                input: to_grid(pair.input, &|| {
                    format!("{ch}: task {id} train pair {i} input")
                })?,
                output: to_grid(pair.output, &|| {
                    format!("{ch}: task {id} train pair {i} output")
                })?,
            });
        }
        let outputs: Vec<Option<RawGrid>> = match solutions.as_mut() {
            None => task.test.iter().map(|_| None).collect(),
            Some(sol) => {
                let grids = sol
                    .remove(&id)
                    .ok_or_else(|| anyhow!("{so}: no solutions for task {id}"))?;
                ensure!(
                    grids.len() == task.test.len(),
                    "{so}: task {id} has {} solutions for {} test inputs",
                    grids.len(),
                    task.test.len()
                );
                grids.into_iter().map(Some).collect()
            }
        };
        let mut tests = Vec::with_capacity(task.test.len());
        for (i, (test, output)) in task.test.into_iter().zip(outputs).enumerate() {
            let input = to_grid(test.input, &|| format!("{ch}: task {id} test {i} input"))?;
            let output = match output {
                Some(g) => Some(to_grid(g, &|| {
                    format!("{so}: task {id} test {i} solution")
                })?),
                None => None,
            };
            tests.push(TestCase { input, output });
        }
        tasks.push(Task {
            id,
            subset: subset.to_string(),
            demos,
            tests,
        });
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::arc::augment::dims;
    use crate::data::puzzle::arc::testing::{grid, kaggle_dir, TempDir};
    use std::process::Command;

    #[test]
    fn real_arc_agi_1_subsets_load_with_valid_grids() {
        let Some(dir) = kaggle_dir() else {
            return;
        };
        for subset in ["training", "evaluation"] {
            let tasks = load_subset(&dir, subset).unwrap();
            assert_eq!(tasks.len(), 400, "{subset}");
            for task in &tasks {
                let grids = task
                    .demos
                    .iter()
                    .flat_map(|p| [&p.input, &p.output])
                    .chain(task.tests.iter().map(|t| &t.input))
                    .chain(task.tests.iter().map(|t| t.output.as_ref().unwrap()));
                for g in grids {
                    let (rows, cols) = dims(g);
                    assert!(
                        (1..=30).contains(&rows) && (1..=30).contains(&cols),
                        "{}",
                        task.id
                    );
                    assert!(g
                        .iter()
                        .all(|r| r.len() == cols && r.iter().all(|&v| v <= 9)));
                }
            }
        }
    }

    #[test]
    fn python_written_kaggle_files_load_exactly() {
        let tmp = TempDir::new("python");
        let script = r#"
import json, os, sys
d = sys.argv[1]
ch = {
    "b2": {"train": [{"input": [[1, 2, 3], [4, 5, 6]], "output": [[9]]},
                     {"input": [[0]], "output": [[7, 7], [8, 8]]}],
           "test": [{"input": [[3, 0], [0, 3], [1, 1]]}]},
    "a1": {"train": [{"input": [[5]], "output": [[6]]}],
           "test": [{"input": [[2, 2, 2]]}, {"input": [[4], [4]]}]},
}
so = {"b2": [[[0, 1], [1, 0]]], "a1": [[[9, 9, 9]], [[8], [8]]]}
json.dump(ch, open(os.path.join(d, "arc-agi_mini_challenges.json"), "w"))
json.dump(so, open(os.path.join(d, "arc-agi_mini_solutions.json"), "w"))
"#;
        let status = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&tmp.0)
            .status()
            .unwrap_or_else(|e| panic!("this test needs python3 on PATH: {e}"));
        assert!(status.success(), "python3 failed to write the files");
        let tasks = load_subset(&tmp.0, "mini").unwrap();
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a1", "b2"], "sorted by id");
        let (a1, b2) = (&tasks[0], &tasks[1]);
        assert_eq!(a1.subset, "mini");
        assert_eq!(
            a1.demos,
            [Pair {
                input: grid(&["5"]),
                output: grid(&["6"])
            }]
        );
        assert_eq!(a1.tests[0].input, grid(&["222"]));
        assert_eq!(a1.tests[0].output, Some(grid(&["999"])));
        assert_eq!(a1.tests[1].input, grid(&["4", "4"]));
        assert_eq!(a1.tests[1].output, Some(grid(&["8", "8"])));
        assert_eq!(b2.demos[0].input, grid(&["123", "456"]));
        assert_eq!(b2.demos[0].output, grid(&["9"]));
        assert_eq!(b2.demos[1].input, grid(&["0"]));
        assert_eq!(b2.demos[1].output, grid(&["77", "88"]));
        assert_eq!(b2.tests[0].input, grid(&["30", "03", "11"]));
        assert_eq!(b2.tests[0].output, Some(grid(&["01", "10"])));
    }
}
