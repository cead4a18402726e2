//! Towers of Hanoi as a reasoning benchmark: simulator, optimal play, next-move and text data.
//!
//! N disks (disk 0 is the smallest, disk N - 1 the largest) on P pegs (3, or 4). All disks
//! start on peg 0; the goal is every disk on peg P - 1. A state is the peg of each disk,
//! indexed by disk (`state[0]` is the peg of the smallest disk). Every assignment of disks to
//! pegs is a legal position (each peg's stack is ordered by size), so there are P^N states. A
//! move `(from, to)` takes the top (smallest) disk of `from` onto `to`; it is legal iff `from`
//! has a disk and `to` is empty or its top disk is larger.
//!
//! Optimal play. With 3 pegs the classic recursive rule is exact (O(N) per state, no tables);
//! with 4 pegs a breadth-first search from the goal over all P^N states gives every state's
//! distance (cached per (N, P); at most `MAX_SEARCH_DISKS` disks). From any state the optimal
//! next move with 3 pegs is unique (proof at `three_peg_distance`, checked against the search
//! for every state with N <= 6 in the tests, and N <= 10 once by hand); with 4 pegs it often is
//! not (about 45% of all states for N = 4..=8 have two or more optimal moves; the very first
//! move with 3 disks may be 01 or 02), so `optimal_moves` lists all of them, and the single move
//! used for data (`optimal_next_move`) is the smallest `(from, to)` pair among them.
//!
//! Formulation (a), the next move, for a full-attention puzzle model (vocabulary 7): inputs are
//! one token per disk position 0..max_disks (peg p -> p + 1, a disk the puzzle lacks -> 5) and
//! then two answer slots (token 6); labels are PAD on the disk positions and the optimal move's
//! (from + 1, to + 1) on the slots. The number of pegs is not encoded, so a data set should keep
//! it fixed (as `next_move_dataset` does).
//!
//! Formulation (b), the whole solution as text for a byte-level language model:
//! `hanoi 3 disks 3 pegs: 02 01 21 02 10 12 02.\n`. The prompt is `hanoi N disks P pegs:`
//! (always "disks" and "pegs", even for 1); the completion is each move as a space and two
//! digits (from peg, to peg), then '.', then a newline.

mod family;

pub use family::{load, HanoiReport, HanoiRow};

use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{anyhow, bail, ensure, Result};

use super::{Example, PAD};
use crate::rng::Rng;

/// A move: (from peg, to peg).
pub type Move = (u8, u8);

/// Most pegs supported (the next-move tokens have room for pegs 0..4).
pub const MAX_PEGS: usize = 4;
/// Most disks with 3 pegs (the optimal solution has 2^20 - 1 moves, about 3 MB of text).
pub const MAX_DISKS: usize = 20;
/// Most disks with 4 pegs, whose distances come from a search over all 4^N states (at 12
/// disks: 16.8 M states, 32 MiB, about 1.4 s once per process).
pub const MAX_SEARCH_DISKS: usize = 12;

/// Next-move token vocabulary: PAD, pegs 0..4 as 1..=4, ABSENT and SLOT.
pub const VOCAB_NEXT: usize = 7;
/// Next-move token for a disk position beyond the puzzle's disks.
pub const ABSENT: u8 = 5;
/// Next-move token of the two answer slots in the inputs.
pub const SLOT: u8 = 6;

/// Distance marking a state the search has not reached yet.
const UNSEEN: u16 = u16::MAX;

/// A Towers of Hanoi puzzle: `disks` disks on `pegs` pegs, from all on peg 0 to all on the last
/// peg. Build it with `Hanoi::new`, which checks the sizes; the optimal-play methods panic on a
/// hand-built puzzle of an unsupported size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hanoi {
    pub disks: usize,
    pub pegs: usize,
}

/// How a sequence of moves went: moves applied, where the first illegal one was, and whether
/// the goal was reached (`solved`) in the minimum number of moves (`optimal`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Legal moves applied before the run ended.
    pub legal_moves: usize,
    /// Index (0-based) of the first illegal move, which ended the run.
    pub illegal_at: Option<usize>,
    /// Every move was legal and the final state is the goal.
    pub solved: bool,
    /// Solved in exactly the minimum number of moves from the start.
    pub optimal: bool,
}

impl Hanoi {
    /// A puzzle of `disks` disks on `pegs` pegs: 3 pegs with 1..=MAX_DISKS disks, or 4 pegs
    /// with 1..=MAX_SEARCH_DISKS disks.
    pub fn new(disks: usize, pegs: usize) -> Result<Self> {
        let puzzle = Self { disks, pegs };
        puzzle.check()?;
        Ok(puzzle)
    }

    /// Checks that the sizes are supported.
    pub fn check(&self) -> Result<()> {
        let (disks, pegs) = (self.disks, self.pegs);
        ensure!(
            (3..=MAX_PEGS).contains(&pegs),
            "hanoi: {pegs} pegs (3 or 4 supported)"
        );
        let max = if pegs == 3 {
            MAX_DISKS
        } else {
            MAX_SEARCH_DISKS
        };
        ensure!(
            (1..=max).contains(&disks),
            "hanoi: {disks} disks on {pegs} pegs (1..={max} supported)"
        );
        Ok(())
    }

    /// The start state: every disk on peg 0.
    pub fn start(&self) -> Vec<u8> {
        vec![0; self.disks]
    }

    /// The goal state: every disk on the last peg, P - 1.
    pub fn goal(&self) -> Vec<u8> {
        vec![self.goal_peg(); self.disks]
    }

    /// The peg every disk must end on.
    fn goal_peg(&self) -> u8 {
        self.pegs.saturating_sub(1) as u8
    }

    /// Whether `state` has one peg per disk, each peg in range.
    fn is_state(&self, state: &[u8]) -> bool {
        state.len() == self.disks && state.iter().all(|&p| usize::from(p) < self.pegs)
    }

    /// Checks that `state` has one peg per disk, each peg in range.
    pub fn check_state(&self, state: &[u8]) -> Result<()> {
        ensure!(
            state.len() == self.disks,
            "hanoi state has {} disks, the puzzle {}",
            state.len(),
            self.disks
        );
        if let Some(disk) = state.iter().position(|&p| usize::from(p) >= self.pegs) {
            bail!(
                "hanoi state puts disk {disk} on peg {}, but there are {} pegs",
                state[disk],
                self.pegs
            );
        }
        Ok(())
    }

    /// The top (smallest) disk of each peg, or `self.disks` (larger than any disk) when the
    /// peg is empty. `state` must be valid.
    fn tops(&self, state: &[u8]) -> Vec<usize> {
        let mut tops = vec![self.disks; self.pegs];
        for (disk, &peg) in state.iter().enumerate().rev() {
            tops[usize::from(peg)] = disk;
        }
        tops
    }

    /// Whether `mv` is legal in `state`: both pegs exist and differ, `from` has a disk, and
    /// `to` is empty or its top disk is larger. False for an invalid state.
    pub fn is_legal(&self, state: &[u8], mv: Move) -> bool {
        let (from, to) = (usize::from(mv.0), usize::from(mv.1));
        if !self.is_state(state) || from >= self.pegs || to >= self.pegs || from == to {
            return false;
        }
        let tops = self.tops(state);
        tops[from] < self.disks && tops[from] < tops[to]
    }

    /// All legal moves in a valid `state`, in increasing `(from, to)` order.
    pub fn legal_moves(&self, state: &[u8]) -> Vec<Move> {
        if !self.is_state(state) {
            return Vec::new();
        }
        let tops = self.tops(state);
        let pegs = 0..self.pegs as u8;
        pegs.clone()
            .flat_map(|from| pegs.clone().map(move |to| (from, to)))
            .filter(|&(from, to)| {
                let (f, t) = (usize::from(from), usize::from(to));
                f != t && tops[f] < self.disks && tops[f] < tops[t]
            })
            .collect()
    }

    /// The state after `mv`; an error for an invalid state or an illegal move.
    pub fn apply(&self, state: &[u8], mv: Move) -> Result<Vec<u8>> {
        self.check_state(state)?;
        let (from, to) = mv;
        ensure!(
            self.is_legal(state, mv),
            "illegal hanoi move {from}{to}: {}",
            self.why_illegal(state, mv)
        );
        // The smallest disk on `from` is its top disk.
        let disk = state
            .iter()
            .position(|&p| p == from)
            .ok_or_else(|| anyhow!("hanoi peg {from} is empty"))?;
        let mut next = state.to_vec();
        next[disk] = to;
        Ok(next)
    }

    /// Why a move is illegal in a valid state (for error messages).
    fn why_illegal(&self, state: &[u8], (from, to): Move) -> &'static str {
        if usize::from(from) >= self.pegs || usize::from(to) >= self.pegs {
            "no such peg"
        } else if from == to {
            "same peg"
        } else if !state.contains(&from) {
            "the source peg is empty"
        } else {
            "a larger disk onto a smaller one"
        }
    }

    /// Whether every disk is on the goal peg.
    pub fn is_goal(&self, state: &[u8]) -> bool {
        state.len() == self.disks && state.iter().all(|&p| p == self.goal_peg())
    }

    /// A state drawn uniformly from all P^N states (each disk on a uniform peg).
    pub fn random_state(&self, rng: &mut Rng) -> Vec<u8> {
        (0..self.disks)
            .map(|_| rng.below(self.pegs as u64) as u8)
            .collect()
    }

    /// The fewest moves from `state` to the goal.
    ///
    /// # Panics
    /// On an unsupported puzzle size or an invalid state (see `check` and `check_state`).
    pub fn distance_to_goal(&self, state: &[u8]) -> usize {
        if let Err(e) = self.check().and_then(|()| self.check_state(state)) {
            panic!("{e}");
        }
        if self.pegs == 3 {
            three_peg_distance(state, self.goal_peg())
        } else {
            usize::from(search_table(self.disks, self.pegs)[state_index(state, self.pegs)])
        }
    }

    /// The fewest moves from the start to the goal: 2^N - 1 with 3 pegs, the Frame-Stewart
    /// numbers with 4 (1, 3, 5, 9, 13, 17, 25, 33, ...).
    ///
    /// # Panics
    /// On an unsupported puzzle size.
    pub fn min_moves(&self) -> usize {
        self.distance_to_goal(&self.start())
    }

    /// Every optimal move from `state` (legal moves that bring the goal one move closer), in
    /// increasing `(from, to)` order; empty at the goal. With 3 pegs there is exactly one
    /// away from the goal.
    ///
    /// # Panics
    /// On an unsupported puzzle size or an invalid state.
    pub fn optimal_moves(&self, state: &[u8]) -> Vec<Move> {
        let distance = self.distance_to_goal(state);
        self.legal_moves(state)
            .into_iter()
            .filter(|&mv| {
                self.apply(state, mv)
                    .is_ok_and(|next| self.distance_to_goal(&next) + 1 == distance)
            })
            .collect()
    }

    /// The optimal move used for data (None at the goal): with 3 pegs the recursive rule's
    /// (unique) move, with 4 pegs the smallest `(from, to)` among `optimal_moves`.
    ///
    /// # Panics
    /// On an unsupported puzzle size or an invalid state.
    pub fn optimal_next_move(&self, state: &[u8]) -> Option<Move> {
        if self.pegs == 3 {
            if let Err(e) = self.check().and_then(|()| self.check_state(state)) {
                panic!("{e}");
            }
            three_peg_next_move(state, self.goal_peg())
        } else {
            self.optimal_moves(state).first().copied()
        }
    }

    /// The optimal solution from the start, following `optimal_next_move`.
    ///
    /// # Panics
    /// On an unsupported puzzle size.
    pub fn optimal_solution(&self) -> Vec<Move> {
        let mut state = self.start();
        let mut moves = Vec::with_capacity(self.min_moves());
        while let Some(mv) = self.optimal_next_move(&state) {
            let disk = state.iter().position(|&p| p == mv.0);
            match disk {
                Some(disk) => state[disk] = mv.1,
                None => break, // unreachable: optimal moves are legal
            }
            moves.push(mv);
        }
        moves
    }
}

/// Fewest moves to bring a 3-peg state (pegs 0..3) onto peg `target`, by the recursive rule.
///
/// For disks 0..=n onto target t: if disk n is on t it never needs to move (moving it away and
/// back costs at least 2^n moves, more than the 2^n - 1 any n smaller disks need), so the
/// answer is that of disks 0..n onto t. Otherwise, with disk n on s, disk n moves exactly once,
/// straight from s to t, after the smaller disks gather on the third peg u = 3 - s - t, and
/// then those smaller disks go from u to t as a tower: d(n, t) = d(n - 1, u) + 1 + (2^n - 1).
/// (Moving disk n via u instead costs at least d(n - 1, t) + 2^(n + 1), while the rule costs at
/// most d(n - 1, t) + 2^(n + 1) - 1, as d(n - 1, u) <= d(n - 1, t) + 2^n - 1.) Each choice is
/// strict, so by induction the optimal path, and with it the next move, is unique.
fn three_peg_distance(state: &[u8], target: u8) -> usize {
    let mut target = target;
    let mut moves = 0;
    for (disk, &peg) in state.iter().enumerate().rev() {
        if peg != target {
            moves += 1 << disk;
            target = 3 - peg - target;
        }
    }
    moves
}

/// The optimal next move bringing a 3-peg state onto peg `target` (None when it is there): the
/// recursive rule of `three_peg_distance`, followed down from the largest disk. Each disk off
/// its current target makes its own move the candidate and the third peg the target of the
/// smaller disks; the last candidate (the smallest such disk, whose smaller disks already sit
/// on its auxiliary peg) is the move.
fn three_peg_next_move(state: &[u8], target: u8) -> Option<Move> {
    let mut target = target;
    let mut next = None;
    for &peg in state.iter().rev() {
        if peg != target {
            next = Some((peg, target));
            target = 3 - peg - target;
        }
    }
    next
}

/// The index of a valid state among all P^N: the pegs as base-P digits, disk 0 lowest.
fn state_index(state: &[u8], pegs: usize) -> usize {
    state
        .iter()
        .rev()
        .fold(0, |index, &peg| index * pegs + usize::from(peg))
}

/// A search's distances to the goal, indexed by `state_index`.
type Table = Arc<Vec<u16>>;

/// Cached breadth-first-search distances to the goal, one table per (disks, pegs).
static SEARCHES: Mutex<Vec<((usize, usize), Table)>> = Mutex::new(Vec::new());

/// The distance to the goal of every state (by `state_index`), searched once per size.
fn search_table(disks: usize, pegs: usize) -> Table {
    let mut cache = SEARCHES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, table)) = cache.iter().find(|(key, _)| *key == (disks, pegs)) {
        return Arc::clone(table);
    }
    let table = Arc::new(search_distances(disks, pegs));
    cache.push(((disks, pegs), Arc::clone(&table)));
    table
}

/// Breadth-first search from the goal over all P^N states. Moves are reversible, so the
/// distance from the goal is the distance to it. Distances stay far below `UNSEEN`: at most 81
/// with 4 pegs and 12 disks, 2^N - 1 with 3 pegs (searched only by the tests; more than a byte
/// holds from N = 8 on, hence u16).
fn search_distances(disks: usize, pegs: usize) -> Vec<u16> {
    let powers: Vec<usize> = (0..disks).map(|d| pegs.pow(d as u32)).collect();
    let total = pegs.pow(disks as u32);
    let mut distance = vec![UNSEEN; total];
    let goal = total - 1; // every digit P - 1
    distance[goal] = 0;
    let mut frontier = vec![goal];
    let mut level = 0u16;
    let mut state = vec![0u8; disks];
    let mut tops = vec![0; pegs];
    while !frontier.is_empty() {
        level += 1;
        let mut next = Vec::new();
        for &index in &frontier {
            let mut rest = index;
            for peg in state.iter_mut() {
                *peg = (rest % pegs) as u8;
                rest /= pegs;
            }
            tops.fill(disks);
            for (disk, &peg) in state.iter().enumerate().rev() {
                tops[usize::from(peg)] = disk;
            }
            for from in 0..pegs {
                let disk = tops[from];
                for to in (0..pegs).filter(|&to| to != from && disk < tops[to]) {
                    let moved = index + to * powers[disk] - from * powers[disk];
                    if distance[moved] == UNSEEN {
                        distance[moved] = level;
                        next.push(moved);
                    }
                }
            }
        }
        frontier = next;
    }
    distance
}

/// The next-move inputs for a state: one token per disk position 0..max_disks (peg p -> p + 1,
/// a position beyond the state's disks -> ABSENT), then two SLOT tokens.
pub fn next_move_inputs(state: &[u8], max_disks: usize) -> Result<Vec<u8>> {
    ensure!(
        state.len() <= max_disks,
        "hanoi state has {} disks, more than max_disks {max_disks}",
        state.len()
    );
    ensure!(
        state.iter().all(|&p| usize::from(p) < MAX_PEGS),
        "hanoi state has a peg beyond {MAX_PEGS}"
    );
    let mut inputs: Vec<u8> = (0..max_disks)
        .map(|d| state.get(d).map_or(ABSENT, |&peg| peg + 1))
        .collect();
    inputs.extend([SLOT, SLOT]);
    Ok(inputs)
}

/// Formulation (a): a state and its optimal next move (`optimal_next_move`: the unique one with
/// 3 pegs, the smallest `(from, to)` with 4) as an example of max_disks + 2 tokens; labels are
/// PAD except the two slots, (from + 1, to + 1). Puzzle id 0. An error at the goal (there is no
/// move), for an invalid state, or when the puzzle has more than `max_disks` disks.
pub fn next_move_example(h: &Hanoi, state: &[u8], max_disks: usize) -> Result<Example> {
    h.check()?;
    h.check_state(state)?;
    let inputs = next_move_inputs(state, max_disks)?;
    let (from, to) = h
        .optimal_next_move(state)
        .ok_or_else(|| anyhow!("hanoi state is the goal: there is no next move"))?;
    let mut labels = vec![PAD; max_disks];
    labels.extend([from + 1, to + 1]);
    Ok(Example {
        inputs,
        labels,
        puzzle_id: 0,
    })
}

/// The move in the two answer slots of a next-move prediction (positions max_disks and
/// max_disks + 1), or None when either is not a peg token (1..=MAX_PEGS). Whether the move is
/// legal is for the simulator to say.
pub fn decode_move(tokens: &[u8], max_disks: usize) -> Option<Move> {
    let slot = |i: usize| {
        let token = *tokens.get(max_disks.checked_add(i)?)?;
        (1..=MAX_PEGS as u8).contains(&token).then(|| token - 1)
    };
    Some((slot(0)?, slot(1)?))
}

/// `count` next-move examples: each draws N uniformly from `disks_range`, then a uniform
/// random state other than the goal. An error for unsupported sizes or N above `max_disks`.
pub fn next_move_dataset(
    rng: &mut Rng,
    disks_range: RangeInclusive<usize>,
    pegs: usize,
    count: usize,
    max_disks: usize,
) -> Result<Vec<Example>> {
    let (lo, hi) = (*disks_range.start(), *disks_range.end());
    ensure!(lo <= hi, "hanoi: empty disk range {lo}..={hi}");
    ensure!(
        hi <= max_disks,
        "hanoi: {hi} disks exceed max_disks {max_disks}"
    );
    let puzzles = (lo..=hi)
        .map(|disks| Hanoi::new(disks, pegs))
        .collect::<Result<Vec<_>>>()?;
    (0..count)
        .map(|_| {
            let h = &puzzles[rng.below(puzzles.len() as u64) as usize];
            let state = loop {
                let state = h.random_state(rng);
                if !h.is_goal(&state) {
                    break state;
                }
            };
            next_move_example(h, &state, max_disks)
        })
        .collect()
}

/// Formulation (b): the prompt the model is given, `hanoi N disks P pegs:`.
pub fn prompt(h: &Hanoi) -> String {
    format!("hanoi {} disks {} pegs:", h.disks, h.pegs)
}

/// A completion: each move as a space and two digits (from, to), then ".\n".
pub fn format_moves(moves: &[Move]) -> String {
    let mut text = String::with_capacity(3 * moves.len() + 2);
    for (from, to) in moves {
        let _ = write!(text, " {from}{to}");
    }
    text.push_str(".\n");
    text
}

/// The prompt followed by the optimal solution, e.g. `hanoi 2 disks 3 pegs: 01 02 12.\n`.
///
/// # Panics
/// On an unsupported puzzle size.
pub fn solution_text(h: &Hanoi) -> String {
    prompt(h) + &format_moves(&h.optimal_solution())
}

/// The moves of a completion (the text after the prompt): any number of " dd" (a space and two
/// digits, from and to), then '.'; whatever follows the '.' is ignored. Anything else, or no
/// '.', is an error. Pegs are not range-checked here (an unknown peg is an illegal move).
pub fn parse_moves(completion: &str) -> Result<Vec<Move>> {
    let bytes = completion.as_bytes();
    let digit = |i: usize| {
        bytes
            .get(i)
            .filter(|b| b.is_ascii_digit())
            .map(|b| b - b'0')
    };
    let mut moves = Vec::new();
    let mut i = 0;
    loop {
        match bytes.get(i) {
            Some(b'.') => return Ok(moves),
            Some(b' ') => match (digit(i + 1), digit(i + 2)) {
                (Some(from), Some(to)) => {
                    moves.push((from, to));
                    i += 3;
                }
                _ => bail!("hanoi moves: expected two digits after the space at byte {i}"),
            },
            Some(&b) => bail!("hanoi moves: unexpected byte {b:#04x} at byte {i}"),
            None => bail!("hanoi moves: no '.' after {} moves", moves.len()),
        }
    }
}

/// Plays `moves` from the start: stops at the first illegal move; solved when every move is
/// legal and the final state is the goal (passing through the goal earlier does not count),
/// optimal when solved in exactly `min_moves`.
///
/// # Panics
/// On an unsupported puzzle size.
pub fn check_solution(h: &Hanoi, moves: &[Move]) -> Verdict {
    let mut state = h.start();
    let mut verdict = Verdict::default();
    for (i, &mv) in moves.iter().enumerate() {
        match h.apply(&state, mv) {
            Ok(next) => state = next,
            Err(_) => {
                verdict.illegal_at = Some(i);
                return verdict;
            }
        }
        verdict.legal_moves += 1;
    }
    verdict.solved = h.is_goal(&state);
    verdict.optimal = verdict.solved && moves.len() == h.min_moves();
    verdict
}

/// Formulation (a) played out: from the start, asks `next(state)` for a move and applies it,
/// until the goal (solved) or `max_moves` moves. An illegal move (recorded in `illegal_at`) or
/// None (the policy gives up) ends the run unsolved. Optimal when solved in `min_moves`.
///
/// # Panics
/// On an unsupported puzzle size.
pub fn rollout(
    h: &Hanoi,
    mut next: impl FnMut(&[u8]) -> Option<Move>,
    max_moves: usize,
) -> Verdict {
    let mut state = h.start();
    let mut verdict = Verdict::default();
    while !h.is_goal(&state) && verdict.legal_moves < max_moves {
        let Some(mv) = next(&state) else {
            return verdict;
        };
        match h.apply(&state, mv) {
            Ok(after) => state = after,
            Err(_) => {
                verdict.illegal_at = Some(verdict.legal_moves);
                return verdict;
            }
        }
        verdict.legal_moves += 1;
    }
    verdict.solved = h.is_goal(&state);
    verdict.optimal = verdict.solved && verdict.legal_moves == h.min_moves();
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state of a puzzle, in `state_index` order.
    fn all_states(h: &Hanoi) -> Vec<Vec<u8>> {
        let total = h.pegs.pow(h.disks as u32);
        (0..total)
            .map(|mut index| {
                (0..h.disks)
                    .map(|_| {
                        let peg = (index % h.pegs) as u8;
                        index /= h.pegs;
                        peg
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn recursive_rule_matches_search_on_every_three_peg_state() {
        for disks in 1..=6 {
            let h = Hanoi::new(disks, 3).unwrap();
            let table = search_distances(disks, 3);
            for (index, state) in all_states(&h).iter().enumerate() {
                assert_eq!(state_index(state, 3), index);
                let distance = usize::from(table[index]);
                assert_eq!(h.distance_to_goal(state), distance, "{state:?}");
                // All moves that bring the goal one step closer, by the search alone.
                let best: Vec<Move> = h
                    .legal_moves(state)
                    .into_iter()
                    .filter(|&mv| {
                        let next = h.apply(state, mv).unwrap();
                        usize::from(table[state_index(&next, 3)]) + 1 == distance
                    })
                    .collect();
                if distance == 0 {
                    assert!(best.is_empty() && h.optimal_next_move(state).is_none());
                } else {
                    // Unique, and the one the recursive rule picks.
                    assert_eq!(best, vec![h.optimal_next_move(state).unwrap()], "{state:?}");
                    assert_eq!(h.optimal_moves(state), best);
                }
            }
        }
    }

    #[test]
    fn four_peg_search_gives_frame_stewart_numbers() {
        let frame_stewart = [1, 3, 5, 9, 13, 17, 25, 33];
        for (disks, &moves) in (1..=8).zip(&frame_stewart) {
            let h = Hanoi::new(disks, 4).unwrap();
            assert_eq!(h.min_moves(), moves, "{disks} disks");
            assert_eq!(h.optimal_solution().len(), moves);
            assert!(check_solution(&h, &h.optimal_solution()).optimal);
        }
    }

    #[test]
    fn four_peg_optimal_moves_can_be_several() {
        let h = Hanoi::new(3, 4).unwrap();
        assert_eq!(h.optimal_moves(&h.start()), vec![(0, 1), (0, 2)]);
        assert_eq!(h.optimal_next_move(&h.start()), Some((0, 1)));
        let h = Hanoi::new(5, 4).unwrap();
        for state in all_states(&h) {
            let moves = h.optimal_moves(&state);
            assert_eq!(moves.is_empty(), h.is_goal(&state));
            assert_eq!(h.optimal_next_move(&state), moves.first().copied());
        }
    }

    #[test]
    fn optimal_three_peg_solution_is_solved_and_optimal() {
        for disks in 1..=10 {
            let h = Hanoi::new(disks, 3).unwrap();
            let moves = h.optimal_solution();
            assert_eq!(moves.len(), (1 << disks) - 1);
            assert_eq!(h.min_moves(), moves.len());
            let verdict = check_solution(&h, &moves);
            let expected = Verdict {
                legal_moves: moves.len(),
                illegal_at: None,
                solved: true,
                optimal: true,
            };
            assert_eq!(verdict, expected, "{disks} disks");
        }
    }

    #[test]
    fn solved_but_longer_is_not_optimal_and_unfinished_is_not_solved() {
        let h = Hanoi::new(2, 3).unwrap();
        // 01 10 undo each other, then the optimal 01 02 12.
        let long = [(0, 1), (1, 0), (0, 1), (0, 2), (1, 2)];
        let verdict = check_solution(&h, &long);
        assert!(verdict.solved && !verdict.optimal && verdict.legal_moves == 5);
        let short = check_solution(&h, &[(0, 1), (0, 2)]);
        assert!(!short.solved && short.illegal_at.is_none() && short.legal_moves == 2);
        // Reaching the goal and leaving it again does not count.
        let past = check_solution(&h, &[(0, 1), (0, 2), (1, 2), (2, 0)]);
        assert!(!past.solved);
    }

    #[test]
    fn illegal_move_is_caught_with_its_index() {
        let h = Hanoi::new(3, 3).unwrap();
        // 02 puts disk 0 on peg 2; the second 02 would put disk 1 on top of it.
        let verdict = check_solution(&h, &[(0, 2), (0, 2), (0, 1)]);
        assert_eq!(verdict.illegal_at, Some(1));
        assert_eq!(verdict.legal_moves, 1);
        assert!(!verdict.solved && !verdict.optimal);
        let state = h.apply(&h.start(), (0, 2)).unwrap();
        assert_eq!(state, vec![2, 0, 0]);
        assert!(!h.is_legal(&state, (0, 2)));
        let err = h.apply(&state, (0, 2)).unwrap_err().to_string();
        assert!(err.contains("larger disk onto a smaller"), "{err}");
        // Empty source, same peg, missing peg, bad state.
        assert!(!h.is_legal(&state, (1, 0)));
        assert!(!h.is_legal(&state, (2, 2)));
        assert!(!h.is_legal(&state, (2, 3)));
        assert!(!h.is_legal(&[0, 0], (0, 1)));
        assert!(h.apply(&[0, 0, 3], (0, 1)).is_err());
        assert_eq!(h.legal_moves(&state), vec![(0, 1), (2, 0), (2, 1)]);
    }

    #[test]
    fn new_rejects_unsupported_sizes() {
        assert!(Hanoi::new(0, 3).is_err());
        assert!(Hanoi::new(3, 2).is_err());
        assert!(Hanoi::new(3, 5).is_err());
        assert!(Hanoi::new(MAX_DISKS + 1, 3).is_err());
        assert!(Hanoi::new(MAX_SEARCH_DISKS + 1, 4).is_err());
        let h = Hanoi::new(4, 4).unwrap();
        assert_eq!((h.start(), h.goal()), (vec![0; 4], vec![3; 4]));
        assert!(h.is_goal(&h.goal()) && !h.is_goal(&h.start()));
    }

    #[test]
    fn random_states_cover_all_states_uniformly() {
        let h = Hanoi::new(2, 3).unwrap();
        let mut rng = Rng::new(5);
        let mut counts = [0usize; 9];
        for _ in 0..9000 {
            counts[state_index(&h.random_state(&mut rng), 3)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn solution_text_format_and_round_trip() {
        let h = Hanoi::new(3, 3).unwrap();
        let text = solution_text(&h);
        assert_eq!(text, "hanoi 3 disks 3 pegs: 02 01 21 02 10 12 02.\n");
        assert_eq!(prompt(&h), "hanoi 3 disks 3 pegs:");
        for h in [Hanoi::new(5, 3).unwrap(), Hanoi::new(5, 4).unwrap()] {
            let text = solution_text(&h);
            let completion = text.strip_prefix(&prompt(&h)).unwrap();
            let moves = parse_moves(completion).unwrap();
            assert_eq!(moves, h.optimal_solution());
            assert_eq!(format_moves(&moves), completion);
            assert!(check_solution(&h, &moves).optimal);
        }
        assert_eq!(
            parse_moves(" 02 12. more text").unwrap(),
            vec![(0, 2), (1, 2)]
        );
        assert_eq!(parse_moves(".").unwrap(), vec![]);
    }

    #[test]
    fn parse_moves_rejects_malformed_text() {
        for bad in [
            "", " 02 01", " 02  01.", " 0 2.", " 021.", "02.", " 0a.", " 02,01.", " é.",
        ] {
            assert!(parse_moves(bad).is_err(), "{bad:?}");
        }
        // Well-formed but with a peg that does not exist: parsed, then illegal.
        let moves = parse_moves(" 07.").unwrap();
        let verdict = check_solution(&Hanoi::new(1, 3).unwrap(), &moves);
        assert_eq!(verdict.illegal_at, Some(0));
    }

    #[test]
    fn next_move_example_for_a_two_disk_state() {
        // Disk 0 on peg 1, disk 1 on peg 0; goal peg 2: disk 1 moves 0 -> 2 now (disk 0 is
        // already on the auxiliary peg 1).
        let h = Hanoi::new(2, 3).unwrap();
        let example = next_move_example(&h, &[1, 0], 4).unwrap();
        assert_eq!(example.inputs, vec![2, 1, ABSENT, ABSENT, SLOT, SLOT]);
        assert_eq!(example.labels, vec![PAD, PAD, PAD, PAD, 1, 3]);
        assert_eq!(example.puzzle_id, 0);
        assert_eq!(decode_move(&example.labels, 4), Some((0, 2)));
        // Disk 0 on peg 0, disk 1 on peg 2: disk 0 moves 0 -> 2.
        let example = next_move_example(&h, &[0, 2], 2).unwrap();
        assert_eq!(example.inputs, vec![1, 3, SLOT, SLOT]);
        assert_eq!(example.labels, vec![PAD, PAD, 1, 3]);
        // Errors: the goal, too many disks, a bad state.
        assert!(next_move_example(&h, &[2, 2], 4).is_err());
        assert!(next_move_example(&h, &[1, 0], 1).is_err());
        assert!(next_move_example(&h, &[1, 3], 4).is_err());
    }

    #[test]
    fn decode_move_reads_only_peg_tokens_in_the_slots() {
        assert_eq!(decode_move(&[0, 0, 4, 1], 2), Some((3, 0)));
        assert_eq!(decode_move(&[0, 0, 0, 1], 2), None);
        assert_eq!(decode_move(&[0, 0, 2, ABSENT], 2), None);
        assert_eq!(decode_move(&[0, 0, 2], 2), None);
        assert_eq!(decode_move(&[1, 2], usize::MAX), None);
    }

    #[test]
    fn next_move_dataset_draws_non_goal_states_of_every_size() {
        let mut rng = Rng::new(3);
        let data = next_move_dataset(&mut rng, 1..=4, 3, 400, 6).unwrap();
        assert_eq!(data.len(), 400);
        let mut sizes = [0usize; 5];
        for example in &data {
            assert_eq!(example.inputs.len(), 8);
            let disks = example.inputs[..6].iter().filter(|&&t| t != ABSENT).count();
            sizes[disks] += 1;
            let state: Vec<u8> = example.inputs[..disks].iter().map(|t| t - 1).collect();
            let h = Hanoi::new(disks, 3).unwrap();
            assert!(!h.is_goal(&state));
            let mv = decode_move(&example.labels, 6).unwrap();
            assert_eq!(h.optimal_moves(&state), vec![mv]);
            assert!(example.inputs.iter().all(|&t| usize::from(t) < VOCAB_NEXT));
        }
        assert!(sizes[1..].iter().all(|&n| n > 60), "{sizes:?}");
        let data = next_move_dataset(&mut rng, 2..=3, 4, 50, 3).unwrap();
        assert_eq!(data.len(), 50);
        assert!(next_move_dataset(&mut rng, 2..=7, 3, 5, 6).is_err());
        assert!(next_move_dataset(&mut rng, 0..=2, 3, 5, 6).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let empty = 3..=2;
        assert!(next_move_dataset(&mut rng, empty, 3, 5, 6).is_err());
    }

    #[test]
    fn rollout_with_the_optimal_policy_solves_every_size() {
        for pegs in [3, 4] {
            for disks in 1..=10 {
                let h = Hanoi::new(disks, pegs).unwrap();
                let verdict = rollout(&h, |state| h.optimal_next_move(state), 5000);
                assert!(
                    verdict.solved && verdict.optimal,
                    "{disks} disks {pegs} pegs"
                );
                assert_eq!(verdict.legal_moves, h.min_moves());
            }
        }
        // Through the token encoding, as a model would be asked.
        let h = Hanoi::new(6, 3).unwrap();
        let policy = |state: &[u8]| {
            let inputs = next_move_inputs(state, 8).ok()?;
            let example = next_move_example(&h, state, 8).ok()?;
            assert_eq!(inputs, example.inputs);
            decode_move(&example.labels, 8)
        };
        assert!(rollout(&h, policy, 100).optimal);
    }

    #[test]
    fn rollout_with_a_repeating_policy_fails() {
        for disks in 1..=10 {
            let h = Hanoi::new(disks, 3).unwrap();
            // Always 01: the second one puts a larger disk (or none) onto disk 0.
            let verdict = rollout(&h, |_| Some((0, 1)), 1000);
            assert_eq!(verdict.illegal_at, Some(1));
            assert!(!verdict.solved && verdict.legal_moves == 1);
            // 01 10 01 10 ...: always legal, never solved.
            let mut flip = false;
            let verdict = rollout(
                &h,
                |_| {
                    flip = !flip;
                    Some(if flip { (0, 1) } else { (1, 0) })
                },
                50,
            );
            assert_eq!(verdict.legal_moves, 50);
            assert!(!verdict.solved && verdict.illegal_at.is_none());
        }
        // Giving up ends the run unsolved without an illegal move.
        let h = Hanoi::new(2, 3).unwrap();
        let verdict = rollout(&h, |_| None, 10);
        assert_eq!(verdict, Verdict::default());
        // Too few moves allowed.
        assert!(!rollout(&h, |state| h.optimal_next_move(state), 2).solved);
    }
}
