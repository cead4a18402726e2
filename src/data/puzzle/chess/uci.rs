//! A small client for a UCI chess engine (Stockfish): start, handshake, search, score moves.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::data::puzzle::chess;

/// Where Debian's `stockfish` package installs the engine.
pub const DEFAULT_ENGINE_PATH: &str = "/usr/games/stockfish";

/// How long the engine may take to answer `uci` and `isready`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one search may take beyond its own move time before we give up on the engine.
pub const SEARCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Options always sent (before the caller's, which override them): one thread and a small
/// hash table keep searches cheap and, at fixed depth or nodes, reproducible.
pub const DEFAULT_OPTIONS: [(&str, &str); 2] = [("Threads", "1"), ("Hash", "16")];

/// Centipawn value of "mate now"; a mate in `p` plies maps to `MATE_CP - p` (see [`centipawns`]).
pub const MATE_CP: i32 = 10_000;

/// Largest mate distance (plies) that [`centipawns`] distinguishes; longer mates score the same.
pub const MAX_MATE_PLIES: i32 = 999;

/// Centipawn scores are clamped to +-this, so any mate outranks any material score.
pub const MAX_CP: i32 = MATE_CP - MAX_MATE_PLIES - 1;

/// Cap of [`centipawn_loss`]: one blunder costs at most this much, so it cannot dominate a mean.
pub const MAX_CP_LOSS: i32 = 1000;

/// How much search the engine may spend on one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    /// Search to this many plies (`go depth N`).
    Depth(u32),
    /// Search this many nodes (`go nodes N`).
    Nodes(u64),
    /// Search for this many milliseconds (`go movetime N`).
    MoveTime(u64),
}

impl Limit {
    /// The arguments of `go` for this limit, e.g. "depth 8".
    fn go_args(self) -> String {
        match self {
            Limit::Depth(d) => format!("depth {d}"),
            Limit::Nodes(n) => format!("nodes {n}"),
            Limit::MoveTime(ms) => format!("movetime {ms}"),
        }
    }

    /// The time the search itself is allowed (only a move-time limit has one).
    fn own_time(self) -> Duration {
        match self {
            Limit::MoveTime(ms) => Duration::from_millis(ms),
            _ => Duration::ZERO,
        }
    }
}

/// An evaluation from the side to move's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Score {
    /// Centipawns (positive: the side to move is better).
    Cp(i32),
    /// Mate in this many moves (positive: the side to move mates; 0 or negative: it is mated).
    Mate(i32),
}

/// The engine's answer to a search: its move (UCI, e.g. "e1g1") and the score of that move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    pub best: String,
    pub score: Score,
}

/// A running UCI engine process. Dropping it sends `quit` and reaps (or kills) the process.
pub struct Engine {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    path: PathBuf,
    options: Vec<String>,
    search_timeout: Duration,
}

/// What waiting for one line from the engine gave.
enum Recv {
    Line(String),
    Timeout,
    Exited,
}

impl Engine {
    /// Starts the engine at `path`, does the `uci`/`isready` handshake (each within
    /// [`HANDSHAKE_TIMEOUT`]) and sets [`DEFAULT_OPTIONS`] and then `options`, e.g.
    /// `[("UCI_LimitStrength", "true"), ("UCI_Elo", "1500")]` or `[("Skill Level", "5")]`.
    pub fn start(path: &Path, options: &[(&str, &str)]) -> Result<Engine> {
        Self::start_with_timeout(path, options, HANDSHAKE_TIMEOUT)
    }

    /// [`Engine::start`] with a custom handshake timeout.
    pub fn start_with_timeout(
        path: &Path,
        options: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Engine> {
        let mut engine = Self::spawn(path)?;
        engine.handshake(timeout)?;
        let mut all: Vec<(&str, &str)> = DEFAULT_OPTIONS
            .iter()
            .filter(|(name, _)| !options.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)))
            .copied()
            .collect();
        all.extend_from_slice(options);
        for (name, value) in all {
            engine.send_option(name, value)?;
        }
        engine.sync(timeout)?;
        Ok(engine)
    }

    /// Launches the process with piped stdin/stdout and a thread that forwards stdout lines.
    fn spawn(path: &Path) -> Result<Engine> {
        let shown = path.display();
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => anyhow::anyhow!(
                    "chess engine not found at {shown} (install Debian's `stockfish` package or set chess.engine)"
                ),
                _ => anyhow::anyhow!("could not start chess engine at {shown}: {e}"),
            })?;
        let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
            (Some(i), Some(o)) => (i, o),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("could not open pipes to chess engine at {shown}");
            }
        };
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Engine {
            child,
            stdin,
            lines,
            path: path.to_path_buf(),
            options: Vec::new(),
            search_timeout: SEARCH_TIMEOUT,
        })
    }

    /// Sends `uci` and reads up to `uciok`, remembering the names of the engine's options.
    fn handshake(&mut self, timeout: Duration) -> Result<()> {
        self.send("uci")?;
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.expect_line(deadline, "uci")?;
            if line.trim() == "uciok" {
                return Ok(());
            }
            if let Some(name) = option_name(&line) {
                self.options.push(name);
            }
        }
    }

    /// Sends `isready` and discards everything up to `readyok` (also flushes stale output).
    fn sync(&mut self, timeout: Duration) -> Result<()> {
        self.send("isready")?;
        let deadline = Instant::now() + timeout;
        while self.expect_line(deadline, "isready")?.trim() != "readyok" {}
        Ok(())
    }

    /// Sets one UCI option; the engine must have announced it during the handshake.
    pub fn set_option(&mut self, name: &str, value: &str) -> Result<()> {
        self.send_option(name, value)?;
        self.sync(HANDSHAKE_TIMEOUT)
    }

    /// Sends `setoption` without waiting for the engine.
    fn send_option(&mut self, name: &str, value: &str) -> Result<()> {
        if !self.options.iter().any(|o| o.eq_ignore_ascii_case(name)) {
            bail!(
                "chess engine at {} has no option `{name}`",
                self.path.display()
            );
        }
        check_token(value, "option value")?;
        self.send(&format!("setoption name {name} value {value}"))
    }

    /// Changes how long a search may run (beyond a move-time limit) before it is an error.
    pub fn set_search_timeout(&mut self, timeout: Duration) {
        self.search_timeout = timeout;
    }

    /// Tells the engine a new game starts (`ucinewgame`, which clears its hash) and waits for it.
    pub fn new_game(&mut self) -> Result<()> {
        self.send("ucinewgame")?;
        self.sync(HANDSHAKE_TIMEOUT)
    }

    /// The engine's best move in `fen` (UCI notation, castling as e1g1) and its score from the
    /// side to move's view: the last `info ... score` before `bestmove`.
    pub fn best_move(&mut self, fen: &str, limit: Limit) -> Result<Search> {
        check_fen(fen)?;
        self.search(fen, limit, "")
    }

    /// The score of playing `uci_move` in `fen` (side to move's view), by restricting the search
    /// to that move (`go ... searchmoves MOVE`). Compare with [`Engine::best_move`]'s score via
    /// [`centipawn_loss`].
    pub fn score_move(&mut self, fen: &str, uci_move: &str, limit: Limit) -> Result<Score> {
        let board = check_fen(fen)?;
        let uci_move = uci_move.trim();
        if !chess::is_legal(&board, uci_move) {
            bail!("move `{uci_move}` is not legal in {fen}");
        }
        let search = self.search(fen, limit, &format!(" searchmoves {uci_move}"))?;
        if search.best != uci_move {
            bail!(
                "chess engine searched `{}` instead of `{uci_move}` in {fen}",
                search.best
            );
        }
        Ok(search.score)
    }

    /// Runs `position fen FEN` + `go LIMIT EXTRA` and parses the answer.
    fn search(&mut self, fen: &str, limit: Limit, extra: &str) -> Result<Search> {
        self.sync(HANDSHAKE_TIMEOUT)?;
        self.send(&format!("position fen {fen}"))?;
        let go = format!("go {}{extra}", limit.go_args());
        self.send(&go)?;
        let deadline = Instant::now() + limit.own_time() + self.search_timeout;
        let mut score = None;
        loop {
            let line = match self.recv(deadline) {
                Recv::Line(line) => line,
                Recv::Timeout => return Err(self.abandon_search(&go)),
                Recv::Exited => bail!(self.exited_message(&go)),
            };
            if let Some(s) = parse_info_score(&line) {
                score = Some(s);
            } else if let Some(best) = parse_bestmove(&line) {
                return finish_search(best, score, fen);
            }
        }
    }

    /// After a search overran: asks the engine to stop, drains its answer, returns the error.
    fn abandon_search(&mut self, go: &str) -> anyhow::Error {
        let message = format!(
            "chess engine at {} did not finish `{go}` within {:.0} s",
            self.path.display(),
            self.search_timeout.as_secs_f64()
        );
        if self.send("stop").is_ok() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while let Recv::Line(line) = self.recv(deadline) {
                if parse_bestmove(&line).is_some() {
                    break;
                }
            }
        }
        anyhow::anyhow!(message)
    }

    /// Writes one command line to the engine.
    fn send(&mut self, command: &str) -> Result<()> {
        writeln!(self.stdin, "{command}")
            .and_then(|_| self.stdin.flush())
            .with_context(|| {
                format!(
                    "chess engine at {} stopped accepting commands (`{command}`)",
                    self.path.display()
                )
            })
    }

    /// Waits for the next output line until `deadline`.
    fn recv(&self, deadline: Instant) -> Recv {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => Recv::Line(line),
            Err(RecvTimeoutError::Timeout) => Recv::Timeout,
            Err(RecvTimeoutError::Disconnected) => Recv::Exited,
        }
    }

    /// The next output line, or an error naming `command` if the engine is silent or gone.
    fn expect_line(&self, deadline: Instant, command: &str) -> Result<String> {
        match self.recv(deadline) {
            Recv::Line(line) => Ok(line),
            Recv::Timeout => bail!(
                "chess engine at {} did not answer `{command}` in time",
                self.path.display()
            ),
            Recv::Exited => bail!(self.exited_message(command)),
        }
    }

    /// The message for an engine whose output ended while we waited on `command`.
    fn exited_message(&self, command: &str) -> String {
        format!(
            "chess engine at {} exited while answering `{command}`",
            self.path.display()
        )
    }
}

impl Drop for Engine {
    /// Sends `quit`, gives the process half a second to exit, then kills it.
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit").and_then(|_| self.stdin.flush());
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the [`Search`] from a `bestmove` answer and the last score seen.
fn finish_search(best: &str, score: Option<Score>, fen: &str) -> Result<Search> {
    if best == "(none)" || best == "0000" {
        bail!("chess engine has no move in {fen} (the game is over)");
    }
    let Some(score) = score else {
        bail!("chess engine gave no score before `bestmove {best}` in {fen}");
    };
    Ok(Search {
        best: best.to_string(),
        score,
    })
}

/// Parses a FEN (so a bad one never reaches the engine, which may crash on it).
fn check_fen(fen: &str) -> Result<cozy_chess::Board> {
    check_token(fen, "FEN")?;
    chess::parse_fen(fen)
}

/// Rejects text that could smuggle extra commands to the engine.
fn check_token(text: &str, what: &str) -> Result<()> {
    if text.contains(['\n', '\r']) {
        bail!("{what} contains a line break: {text:?}");
    }
    Ok(())
}

/// The option name in an `option name NAME type ...` line.
fn option_name(line: &str) -> Option<String> {
    let rest = line.strip_prefix("option name ")?;
    let end = rest.find(" type ").unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

/// The move in a `bestmove MOVE [ponder MOVE]` line.
fn parse_bestmove(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    if words.next()? != "bestmove" {
        return None;
    }
    words.next()
}

/// The score in an `info ... score cp N` / `score mate N` line (None for other lines).
fn parse_info_score(line: &str) -> Option<Score> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first() != Some(&"info") || words.get(1) == Some(&"string") {
        return None;
    }
    let at = words.iter().position(|w| *w == "score")?;
    let value: i32 = words.get(at + 2)?.parse().ok()?;
    match *words.get(at + 1)? {
        "cp" => Some(Score::Cp(value)),
        "mate" => Some(Score::Mate(value)),
        _ => None,
    }
}

/// A score as centipawns: material scores are clamped to +-[`MAX_CP`], a mate in `n` moves for
/// the side to move is `MATE_CP - plies` with plies = 2n - 1, being mated in `n` moves is
/// `-(MATE_CP - 2n)`; mates longer than [`MAX_MATE_PLIES`] plies count as that long. So faster
/// mates score higher and every mate outranks every material score.
pub fn centipawns(score: Score) -> i32 {
    match score {
        Score::Cp(cp) => cp.clamp(-MAX_CP, MAX_CP),
        Score::Mate(n) if n > 0 => MATE_CP - (2 * n.min(MAX_MATE_PLIES) - 1).min(MAX_MATE_PLIES),
        Score::Mate(n) => -(MATE_CP - (2 * n.max(-MAX_MATE_PLIES).abs()).min(MAX_MATE_PLIES)),
    }
}

/// How many centipawns a played move gives away against the best one: both scores from the
/// same position and side to move (e.g. [`Engine::best_move`] and [`Engine::score_move`]).
/// Never negative (search noise can make the played move look better) and capped at
/// [`MAX_CP_LOSS`] = 1000, so one blunder (or a missed mate, worth ~10000) cannot dominate a mean
/// over many moves; the cap is the common "average centipawn loss" convention.
pub fn centipawn_loss(best: Score, played: Score) -> i32 {
    (centipawns(best) - centipawns(played)).clamp(0, MAX_CP_LOSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stockfish() -> Engine {
        Engine::start(Path::new(DEFAULT_ENGINE_PATH), &[]).unwrap()
    }

    #[test]
    fn info_and_bestmove_lines_parse() {
        let line = "info depth 8 seldepth 9 multipv 1 score cp -35 nodes 1 pv e7e5";
        assert_eq!(parse_info_score(line), Some(Score::Cp(-35)));
        let line = "info depth 3 score mate -2 upperbound nodes 10";
        assert_eq!(parse_info_score(line), Some(Score::Mate(-2)));
        assert_eq!(parse_info_score("info string NNUE score cp 3"), None);
        assert_eq!(parse_info_score("info depth 1 nodes 20"), None);
        assert_eq!(parse_bestmove("bestmove e2e4 ponder e7e5"), Some("e2e4"));
        assert_eq!(parse_bestmove("info bestmove"), None);
        assert_eq!(
            option_name("option name Skill Level type spin default 20 min 0 max 20"),
            Some("Skill Level".to_string())
        );
    }

    #[test]
    fn centipawns_orders_mates_and_clamps_losses() {
        assert_eq!(centipawns(Score::Cp(50)), 50);
        assert_eq!(centipawns(Score::Cp(50_000)), MAX_CP);
        assert_eq!(centipawns(Score::Mate(1)), 9999);
        assert_eq!(centipawns(Score::Mate(2)), 9997);
        assert_eq!(centipawns(Score::Mate(-1)), -9998);
        assert_eq!(centipawns(Score::Mate(0)), -10_000);
        assert!(centipawns(Score::Mate(i32::MAX)) > MAX_CP);
        assert!(centipawns(Score::Mate(i32::MIN)) < -MAX_CP);
        assert_eq!(centipawn_loss(Score::Cp(30), Score::Cp(-20)), 50);
        assert_eq!(centipawn_loss(Score::Cp(30), Score::Cp(40)), 0);
        assert_eq!(centipawn_loss(Score::Mate(1), Score::Cp(0)), MAX_CP_LOSS);
    }

    #[test]
    fn missing_engine_gives_one_line_error() {
        let err = Engine::start(Path::new("/nonexistent/stockfish"), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("chess engine not found at /nonexistent/stockfish"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn engine_that_exits_or_is_silent_errors_quickly() {
        let start = Instant::now();
        let err = Engine::start(Path::new("/bin/true"), &[]).err().unwrap();
        assert!(format!("{err:#}").contains("/bin/true"), "{err:#}");
        // `cat` echoes our commands but never says `uciok`: a timeout, not a hang.
        let timeout = Duration::from_millis(300);
        let err = Engine::start_with_timeout(Path::new("/bin/cat"), &[], timeout).err();
        assert!(err.unwrap().to_string().contains("did not answer `uci`"));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn unknown_option_and_bad_input_are_errors() {
        let err = Engine::start(Path::new(DEFAULT_ENGINE_PATH), &[("No Such", "1")]).err();
        assert!(err.unwrap().to_string().contains("no option `No Such`"));
        let mut engine = stockfish();
        assert!(engine.best_move("not a fen", Limit::Depth(1)).is_err());
        let start = chess::START_FEN;
        assert!(engine.score_move(start, "e2e5", Limit::Depth(1)).is_err());
        let mated = "rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3";
        let err = engine.best_move(mated, Limit::Depth(1)).err().unwrap();
        assert!(err.to_string().contains("game is over"), "{err}");
        // The engine is still usable after those errors.
        assert!(engine.best_move(start, Limit::Depth(1)).is_ok());
    }

    #[test]
    fn start_position_best_move_is_legal() {
        let mut engine = stockfish();
        let search = engine.best_move(chess::START_FEN, Limit::Depth(8)).unwrap();
        let board = chess::parse_fen(chess::START_FEN).unwrap();
        assert!(chess::is_legal(&board, &search.best), "{}", search.best);
        assert!(matches!(search.score, Score::Cp(cp) if cp.abs() < 150));
        let nodes = engine.best_move(chess::START_FEN, Limit::Nodes(2000));
        assert!(chess::is_legal(&board, &nodes.unwrap().best));
        let timed = engine.best_move(chess::START_FEN, Limit::MoveTime(50));
        assert!(chess::is_legal(&board, &timed.unwrap().best));
    }

    #[test]
    fn finds_mate_in_one_and_scores_a_blunder() {
        let mut engine = stockfish();
        let back_rank = "6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1";
        let search = engine.best_move(back_rank, Limit::Depth(6)).unwrap();
        assert_eq!(search.best, "a1a8");
        assert_eq!(search.score, Score::Mate(1));
        assert_eq!(
            engine
                .score_move(back_rank, "a1a8", Limit::Depth(6))
                .unwrap(),
            Score::Mate(1)
        );
        // The rook on d8 attacks the queen: moving the king leaves it hanging.
        let hanging = "3rk3/8/8/8/8/8/8/3QK3 w - - 0 1";
        let best = engine.best_move(hanging, Limit::Depth(10)).unwrap();
        let blunder = engine
            .score_move(hanging, "e1f2", Limit::Depth(10))
            .unwrap();
        let loss = centipawn_loss(best.score, blunder);
        assert!(
            loss >= 500,
            "best {best:?}, blunder {blunder:?}, loss {loss}"
        );
    }

    #[test]
    fn strength_options_are_accepted() {
        let options = [("UCI_LimitStrength", "true"), ("UCI_Elo", "1400")];
        let mut engine = Engine::start(Path::new(DEFAULT_ENGINE_PATH), &options).unwrap();
        engine.set_option("Skill Level", "3").unwrap();
        engine.new_game().unwrap();
        let search = engine.best_move(chess::START_FEN, Limit::Depth(4)).unwrap();
        let board = chess::parse_fen(chess::START_FEN).unwrap();
        assert!(chess::is_legal(&board, &search.best));
    }
}
