//! Voting over augmentations as the official evaluator does, and the pass@k score.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, ensure, Result};

use super::augment::undo_augmentation;
use super::dataset::ArcDataset;
use super::encode::decode_grid;
use super::{ArcTask, Grid};

/// One model output for one test item.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub task: String,
    pub test_index: usize,
    /// Index into the task's augmentations (`TestItem::augmentation`).
    pub augmentation: usize,
    /// The predicted 900 label tokens.
    pub tokens: Vec<u8>,
    /// Halting probability: sigmoid of the halting logit (the official evaluator averages this).
    pub q: f64,
}

/// One distinct (un-augmented) answer grid and its support; the empty grid stands for every
/// prediction that crops to nothing (no colour cell at the top-left).
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub grid: Grid,
    pub votes: usize,
    pub mean_q: f64,
}

/// The ranked answers for one test input of one task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskVote {
    pub task: String,
    /// The first of the task's test inputs with this input grid (identical inputs share votes).
    pub test_index: usize,
    /// Best first: most votes, then highest mean q, then first seen.
    pub candidates: Vec<Candidate>,
}

/// Votes over augmentations as the official evaluator (`evaluators/arc.py`, `ARC.update_batch`
/// and `ARC.result`): each prediction is cropped (`decode_grid`) and its augmentation undone;
/// predictions are pooled per task and test input grid (the official code keys them by the
/// input's hash), identical answers summed into (votes, mean q) and ranked by that pair,
/// descending, ties kept in the order first seen (Python's sort is stable). A prediction that
/// crops to nothing is, as there, a vote for the empty grid: it can take a place in the top k
/// and is never right. Results are sorted by (task, test input). Errors on a prediction naming
/// an unknown task, test input or augmentation.
pub fn vote(data: &ArcDataset, predictions: &[Prediction]) -> Result<Vec<TaskVote>> {
    let mut tallies: BTreeMap<(String, usize), Tally> = BTreeMap::new();
    for p in predictions {
        let task = data
            .task(&p.task)
            .ok_or_else(|| anyhow!("prediction for unknown task {}", p.task))?;
        let tests = task.task.tests.len();
        ensure!(
            p.test_index < tests,
            "prediction for task {} test {}: it has {tests} test inputs",
            p.task,
            p.test_index
        );
        let augs = task.augmentations.len();
        let aug = task.augmentations.get(p.augmentation).ok_or_else(|| {
            let (t, a) = (&p.task, p.augmentation);
            anyhow!("prediction for task {t} augmentation {a}: it has {augs}")
        })?;
        let key = (p.task.clone(), voting_index(task, p.test_index));
        let grid = decode_grid(&p.tokens).unwrap_or_default();
        let answer = undo_augmentation(&grid, aug.dihedral, &aug.colours);
        tallies.entry(key).or_default().add(answer, p.q);
    }
    let votes = tallies
        .into_iter()
        .map(|((task, test_index), tally)| tally.ranked(task, test_index))
        .collect();
    Ok(votes)
}

/// The vote of test input `test_index` of task `task` among `votes` (from [`vote`]): the one it
/// pools into (the first test input with the same grid). None when no prediction was voted for it.
pub fn vote_for<'a>(
    votes: &'a [TaskVote],
    data: &ArcDataset,
    task: &str,
    test_index: usize,
) -> Option<&'a TaskVote> {
    let arc_task = data.task(task)?;
    if test_index >= arc_task.task.tests.len() {
        return None;
    }
    let pooled = voting_index(arc_task, test_index);
    votes
        .iter()
        .find(|v| v.task == task && v.test_index == pooled)
}

/// The first test input of `task` whose grid equals that of test input `i`: the official
/// evaluator pools predictions by input grid, so identical test inputs share one vote.
fn voting_index(task: &ArcTask, i: usize) -> usize {
    let tests = &task.task.tests;
    tests
        .iter()
        .position(|t| t.input == tests[i].input)
        .unwrap_or(i)
}

/// Running counts for one test input while voting.
#[derive(Default)]
struct Tally {
    /// Distinct grids in the order first seen, with their vote counts and q sums.
    grids: Vec<(Grid, usize, f64)>,
    index: HashMap<Grid, usize>,
}

impl Tally {
    /// One vote for `grid` with confidence `q`.
    fn add(&mut self, grid: Grid, q: f64) {
        let next = self.grids.len();
        let at = *self.index.entry(grid.clone()).or_insert(next);
        if at == next {
            self.grids.push((grid, 0, 0.0));
        }
        self.grids[at].1 += 1;
        self.grids[at].2 += q;
    }

    /// The candidates, best first: votes desc, mean q desc, first seen (the sort is stable).
    fn ranked(self, task: String, test_index: usize) -> TaskVote {
        let mut candidates: Vec<Candidate> = self
            .grids
            .into_iter()
            .map(|(grid, votes, q_sum)| Candidate {
                grid,
                votes,
                mean_q: q_sum / votes as f64,
            })
            .collect();
        candidates.sort_by(|a, b| b.votes.cmp(&a.votes).then(b.mean_q.total_cmp(&a.mean_q)));
        TaskVote {
            task,
            test_index,
            candidates,
        }
    }
}

/// The paper's ARC score (the official evaluator's pass@k): for each evaluated test task, the
/// fraction of its evaluated test inputs whose true output is among the top `k` candidates,
/// averaged over the evaluated tasks. Evaluated means with at least one prediction in `votes`,
/// so that a run cut short by `puzzle.test_limit` is scored on what it ran; in a full
/// evaluation every test input has predictions and this is the official average over all test
/// tasks. Test inputs without a known solution are left out, and so are tasks with none known.
/// 0 when nothing can be scored.
pub fn pass_at_k(votes: &[TaskVote], data: &ArcDataset, k: usize) -> f64 {
    // Per task: (right, scored) test inputs.
    let mut tasks: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for v in votes {
        let Some(task) = data.task(&v.task).filter(|t| t.is_test) else {
            continue;
        };
        for (i, case) in task.task.tests.iter().enumerate() {
            let Some(solution) = &case.output else {
                continue;
            };
            if voting_index(task, i) != v.test_index {
                continue;
            }
            let counts = tasks.entry(&v.task).or_default();
            counts.1 += 1;
            if v.candidates.iter().take(k).any(|c| &c.grid == solution) {
                counts.0 += 1;
            }
        }
    }
    if tasks.is_empty() {
        return 0.0;
    }
    let total: f64 = tasks
        .values()
        .map(|&(right, scored)| right as f64 / scored as f64)
        .sum();
    total / tasks.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::puzzle::arc::testing::{err, grid, task_json, write_subset, TempDir};
    use crate::data::puzzle::arc::{augment, build, encode_grid, BuildOptions, SEQ_LEN};
    use crate::data::puzzle::PAD;
    use serde_json::json;
    use std::path::Path;

    /// A two-task test subset for the voting tests: task "v" (two test inputs), task "w" (one).
    fn voting_dataset(tmp: &Path) -> ArcDataset {
        let a = grid(&["123", "456"]);
        let challenges = json!({
            "v": task_json(&[(&a, &grid(&["78", "90"]))], &[&a, &grid(&["12"])]),
            "w": task_json(&[(&a, &a)], &[&grid(&["3"])]),
        });
        let solutions = json!({
            "v": [grid(&["78", "91"]), grid(&["34", "56"])],
            "w": [grid(&["4"])],
        });
        write_subset(tmp, "vote", &challenges, Some(&solutions));
        let opts = BuildOptions {
            train_subsets: vec![],
            test_subset: "vote".into(),
            augmentations: 3,
            seed: 9,
            max_tasks: None,
        };
        build(tmp, &opts).unwrap()
    }

    #[test]
    fn vote_ranks_by_votes_then_q_and_scores_pass_at_k() {
        let tmp = TempDir::new("vote");
        let data = voting_dataset(&tmp.0);
        let v = data.task("v").unwrap();
        assert_eq!(v.augmentations.len(), 4);
        // A prediction of `answer` (un-augmented) made under augmentation `aug` of task v.
        let predict = |test_index: usize, aug: usize, answer: &Grid, q: f64| {
            let a = &v.augmentations[aug];
            Prediction {
                task: "v".into(),
                test_index,
                augmentation: aug,
                tokens: encode_grid(&augment(answer, a.dihedral, &a.colours), 0, 0),
                q,
            }
        };
        let grid_a = data.test_solution("v", 0).unwrap().clone();
        let grid_b = grid(&["78", "99"]);
        let grid_c = grid(&["34", "55"]);
        let grid_d = data.test_solution("v", 1).unwrap().clone();
        let mut junk = predict(0, 0, &grid_b, 1.0);
        junk.tokens = vec![PAD; SEQ_LEN];
        let predictions = vec![
            predict(0, 1, &grid_a, 0.3),
            predict(0, 3, &grid_b, 0.9),
            predict(0, 2, &grid_a, 0.4),
            junk,
            predict(1, 1, &grid_d, 0.2),
            predict(1, 0, &grid_c, 0.9),
        ];
        let votes = vote(&data, &predictions).unwrap();
        assert_eq!(votes.len(), 2, "task w has no predictions");
        let (first, second) = (&votes[0], &votes[1]);
        assert_eq!((first.task.as_str(), first.test_index), ("v", 0));
        let ranked: Vec<(&Grid, usize)> = (first.candidates.iter())
            .map(|c| (&c.grid, c.votes))
            .collect();
        // Two votes beat one with higher q; the undecodable one is a vote for the empty grid.
        assert_eq!(ranked, [(&grid_a, 2), (&vec![], 1), (&grid_b, 1)]);
        assert!((first.candidates[0].mean_q - 0.35).abs() < 1e-12);
        assert_eq!(first.candidates[1].mean_q, 1.0);
        assert_eq!(second.test_index, 1);
        assert_eq!(
            second.candidates[0].grid, grid_c,
            "a tie in votes goes to higher q"
        );
        assert_eq!(second.candidates[1].grid, grid_d);
        // v: test 0 right at k = 1, test 1 only at k = 2; w has no predictions: not scored.
        assert_eq!(pass_at_k(&votes, &data, 1), 0.5);
        assert_eq!(pass_at_k(&votes, &data, 2), 1.0);
        assert_eq!(pass_at_k(&[], &data, 2), 0.0);

        let mut bad = predict(0, 1, &grid_a, 0.3);
        bad.task = "zzz".into();
        assert!(err(vote(&data, &[bad])).contains("unknown task zzz"));
        let bad = Prediction {
            augmentation: 4,
            ..predict(0, 1, &grid_a, 0.3)
        };
        assert!(err(vote(&data, &[bad])).contains("augmentation 4"));
        let bad = Prediction {
            test_index: 2,
            ..predict(0, 1, &grid_a, 0.3)
        };
        assert!(err(vote(&data, &[bad])).contains("test 2"));
    }

    #[test]
    fn vote_for_finds_the_vote_a_test_input_pools_into() {
        let tmp = TempDir::new("vote-for");
        let (a, c) = (grid(&["12"]), grid(&["3"]));
        // Test inputs 0 and 2 are the same grid: they share one vote.
        let challenges = json!({"p": task_json(&[(&a, &a)], &[&c, &a, &c])});
        write_subset(&tmp.0, "pool", &challenges, None);
        let opts = BuildOptions {
            train_subsets: vec![],
            test_subset: "pool".into(),
            augmentations: 1,
            seed: 2,
            max_tasks: None,
        };
        let data = build(&tmp.0, &opts).unwrap();
        let predict = |test_index: usize, answer: &Grid| Prediction {
            task: "p".into(),
            test_index,
            augmentation: 0,
            tokens: encode_grid(answer, 0, 0),
            q: 0.5,
        };
        let votes = vote(&data, &[predict(2, &a), predict(0, &a), predict(1, &c)]).unwrap();
        assert_eq!(votes.len(), 2);
        let pooled = vote_for(&votes, &data, "p", 2).unwrap();
        assert_eq!(pooled.test_index, 0);
        assert_eq!(pooled.candidates[0].votes, 2, "inputs 0 and 2 pooled");
        assert_eq!(vote_for(&votes, &data, "p", 0), Some(pooled));
        assert_eq!(
            vote_for(&votes, &data, "p", 1).unwrap().candidates[0].grid,
            c
        );
        assert_eq!(vote_for(&votes, &data, "p", 3), None);
        assert_eq!(vote_for(&votes, &data, "q", 0), None);
        assert_eq!(vote_for(&[], &data, "p", 0), None);
    }
}
