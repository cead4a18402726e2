//! The ARC Prize submission: a challenges file's tasks matched to a built folder's test items, and
//! two attempts per test input taken from the voted candidates.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::{ArcDataset, Candidate, Grid, Task};

/// The two attempts for one test input, as the ARC Prize submission file names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempts {
    pub attempt_1: Grid,
    pub attempt_2: Grid,
}

/// A submission file: per task id, one [`Attempts`] per test input, in the challenges file's
/// order of test inputs.
pub type Submission = BTreeMap<String, Vec<Attempts>>;

/// The two attempts from candidates ranked by [`super::vote`] (best first): the two best-ranked
/// non-empty grids. The empty grid (the vote of every prediction that crops to nothing) is passed
/// over: ARC grids are at least 1x1, so it can never be right and is not a grid the submission
/// format allows, and passing it over only moves a real candidate up (the order of the others is
/// the voting's). With one such candidate, attempt_2 repeats it; with none, both are `[[0]]`
/// (the smallest valid grid; a submission needs a grid for every test input).
pub fn attempts(candidates: &[Candidate]) -> Attempts {
    let mut grids = candidates.iter().map(|c| &c.grid).filter(|g| !g.is_empty());
    let first = grids.next().cloned().unwrap_or_else(|| vec![vec![0]]);
    let second = grids.next().cloned().unwrap_or_else(|| first.clone());
    Attempts {
        attempt_1: first,
        attempt_2: second,
    }
}

/// For each task of a challenges file (`file`, read by [`super::load_challenges`]) its id and the
/// indices of `set`'s test items that answer it ([`ArcDataset::test_range`]), in the file's order.
/// A model can answer only the test tasks of the folder it was trained on (`folder`): their
/// puzzle embeddings were learned from their demonstrations, and their test inputs were held out.
/// Refused, in one error naming the file and the task: a task the folder lacks, a task outside
/// its test subset, and a task whose demonstrations or test inputs differ from the folder's.
pub fn match_challenges(
    set: &ArcDataset,
    tasks: &[Task],
    file: &Path,
    folder: &Path,
) -> Result<Vec<(String, Range<usize>)>> {
    let (file, dir) = (file.display(), folder.display());
    if tasks.is_empty() {
        bail!("{file}: no tasks");
    }
    let test_subset = &set.options().test_subset;
    let mut matched = Vec::with_capacity(tasks.len());
    for task in tasks {
        let id = &task.id;
        let Some(known) = set.task(id) else {
            bail!(
                "{file}: task {id} is not in the run's data folder {dir}: its puzzle embedding \
                 was never trained, so the model cannot answer it"
            );
        };
        if !known.is_test {
            bail!(
                "{file}: task {id} is a training task of {dir}, not of its test subset \
                 {test_subset}: only test tasks (test inputs held out of training) are answered"
            );
        }
        let theirs = &known.task;
        if let Some(i) = (0..task.demos.len().max(theirs.demos.len()))
            .find(|&i| task.demos.get(i) != theirs.demos.get(i))
        {
            bail!(
                "{file}: task {id} train pair {i} differs from the demonstrations the model \
                 was trained on ({dir}: {} train pairs, this file {})",
                theirs.demos.len(),
                task.demos.len()
            );
        }
        if task.tests.len() != theirs.tests.len() {
            bail!(
                "{file}: task {id} has {} test inputs, {dir} has {}",
                task.tests.len(),
                theirs.tests.len()
            );
        }
        if let Some(i) =
            (0..task.tests.len()).find(|&i| task.tests[i].input != theirs.tests[i].input)
        {
            bail!("{file}: task {id} test input {i} differs from the one in {dir}");
        }
        let range = set.test_range(id).expect("a known task has a test range");
        matched.push((id.clone(), range));
    }
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::arc::testing::{err, grid, task_json, write_subset, TempDir};
    use crate::data::puzzle::arc::{build, load_challenges, BuildOptions};
    use serde_json::json;

    fn candidate(grid: Grid) -> Candidate {
        Candidate {
            grid,
            votes: 1,
            mean_q: 0.5,
        }
    }

    #[test]
    fn attempts_pass_over_the_empty_grid_and_fill_in() {
        let (a, b, c) = (grid(&["12"]), grid(&["3"]), grid(&["4", "5"]));
        let ranked = [
            candidate(vec![]),
            candidate(a.clone()),
            candidate(b.clone()),
        ];
        let got = attempts(&ranked);
        assert_eq!((got.attempt_1, got.attempt_2), (a.clone(), b.clone()));
        let ranked = [
            candidate(b.clone()),
            candidate(c.clone()),
            candidate(a.clone()),
        ];
        assert_eq!(attempts(&ranked).attempt_2, c);
        let got = attempts(&[candidate(a.clone()), candidate(vec![])]);
        assert_eq!((got.attempt_1, got.attempt_2), (a.clone(), a));
        let got = attempts(&[candidate(vec![])]);
        assert_eq!((got.attempt_1, got.attempt_2), (grid(&["0"]), grid(&["0"])));
        assert_eq!(attempts(&[]).attempt_1, grid(&["0"]));
        // The file format, as the ARC Prize names its keys.
        let text = serde_json::to_string(&attempts(&[candidate(b)])).unwrap();
        assert_eq!(text, r#"{"attempt_1":[[3]],"attempt_2":[[3]]}"#);
    }

    #[test]
    fn challenges_match_only_the_folders_own_test_tasks() {
        let tmp = TempDir::new("submission");
        let (a, b, c) = (grid(&["12"]), grid(&["34"]), grid(&["5"]));
        let test = json!({
            "t1": task_json(&[(&a, &b)], &[&c, &a]),
            "t2": task_json(&[(&b, &a)], &[&c]),
        });
        write_subset(&tmp.0, "test", &test, None);
        write_subset(
            &tmp.0,
            "train",
            &json!({"u": task_json(&[(&a, &a)], &[&b])}),
            Some(&json!({"u": [c.clone()]})),
        );
        let opts = BuildOptions {
            train_subsets: vec!["train".into()],
            test_subset: "test".into(),
            augmentations: 2,
            seed: 1,
            max_tasks: None,
        };
        let set = build(&tmp.0, &opts).unwrap();
        let folder = tmp.0.join("built");
        let check = |challenges: serde_json::Value| {
            write_subset(&tmp.0, "input", &challenges, None);
            let file = tmp.0.join("arc-agi_input_challenges.json");
            let tasks = load_challenges(&file).unwrap();
            match_challenges(&set, &tasks, &file, &folder)
        };
        // A subset of the test tasks: t2's items only, all its augmentations.
        let matched = check(json!({"t2": test["t2"]})).unwrap();
        assert_eq!(matched.len(), 1);
        let (id, range) = &matched[0];
        assert_eq!(id, "t2");
        let augs = set.task("t2").unwrap().augmentations.len();
        assert_eq!(range.len(), augs);
        assert!(range.clone().all(|i| set.test_item(i).task == "t2"));
        let all = check(test.clone()).unwrap();
        assert_eq!(
            all.iter().map(|(_, r)| r.len()).sum::<usize>(),
            set.test_len()
        );

        let e = err(check(json!({"zz": test["t1"]})));
        assert!(e.contains("task zz is not in the run's data folder"), "{e}");
        assert!(e.contains("arc-agi_input_challenges.json"), "{e}");
        let e = err(check(json!({"u": task_json(&[(&a, &a)], &[&b])})));
        assert!(e.contains("task u is a training task"), "{e}");
        let e = err(check(json!({"t1": task_json(&[(&a, &b)], &[&c])})));
        assert!(e.contains("task t1 has 1 test inputs"), "{e}");
        let e = err(check(json!({"t1": task_json(&[(&a, &b)], &[&c, &b])})));
        assert!(e.contains("task t1 test input 1 differs"), "{e}");
        let e = err(check(json!({"t1": task_json(&[(&a, &c)], &[&c, &a])})));
        assert!(e.contains("task t1 train pair 0 differs"), "{e}");
        assert!(err(check(json!({}))).contains("no tasks"));
    }
}
