//! Helpers shared by the integration tests: the one way to run the `trm` binary, make a scratch
//! folder, read a run's metrics and TensorBoard events, check a command's output, and find the
//! read-only shared data. Each test file that needs them declares `mod common;`.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

// ---------- a tiny language-model run ----------

/// The default corpus, by absolute path.
pub fn corpus() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpora/shakespeare.parquet")
        .display()
        .to_string()
}

/// A tiny model that trains in a second or two.
pub fn tiny_args(run: &Path, steps: u64) -> Vec<String> {
    let mut args = vec![
        "train".to_string(),
        "--quiet".into(),
        "--run-dir".into(),
        run.display().to_string(),
    ];
    args.extend(sets(&[
        format!("data.train=[\"{}\"]", corpus()),
        "data.tokenizer=bytes".into(),
        format!("train.steps={steps}"),
    ]));
    args.extend(sets(&[
        "model.d_model=32",
        "model.n_layers=1",
        "model.n_heads=2",
        "model.n=2",
        "model.t=2",
        "model.n_sup=2",
        "train.batch_size=4",
        "train.seq_len=32",
        "train.eval_every=4",
        "train.checkpoint_every=4",
        "train.eval_windows=8",
        "train.log_every=2",
        "train.warmup=2",
        "sample.max_new_tokens=16",
    ]));
    args
}

pub fn losses(run: &Path) -> Vec<(u64, f64)> {
    metrics(run)
        .iter()
        .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
        .collect()
}

// ---------- the binary ----------

/// The binary under test, run from the repository root.
pub fn trm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trm"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("trm runs")
}

/// A command's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Stdout of a command that must succeed (its output in the failure message otherwise).
pub fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "trm failed:\nstdout: {stdout}\nstderr: {}",
        stderr(out)
    );
    stdout
}

/// A failure must be one `error:` line, a non-zero exit, and no panic; the line names each needle.
pub fn assert_clean_error(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(
        !err.contains("panicked"),
        "panic instead of an error: {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "error should mention {n:?}: {err}");
    }
}

/// `--set KEY=VALUE` for each item.
pub fn sets<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    items
        .iter()
        .flat_map(|s| ["--set".to_string(), s.as_ref().to_string()])
        .collect()
}

// ---------- scratch folders ----------

/// A fresh scratch folder (see [`temp`]). Derefs to its `Path` (and has `path()`, like
/// `tempfile::TempDir`). Removed when dropped, except when the test is failing: then it is kept
/// for inspection and its path printed.
pub struct TempFolder {
    path: PathBuf,
}

impl TempFolder {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Deref for TempFolder {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempFolder {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for TempFolder {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A fresh, empty folder under the system temp dir, unique to this call (`name` only makes it
/// recognisable).
pub fn temp(name: &str) -> TempFolder {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("trm-test-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    TempFolder { path }
}

// ---------- what a run wrote ----------

/// Every line of a run's metrics.jsonl, parsed.
pub fn metrics(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Fails the test (on purpose, not a skip) unless `python3` can import tensorboard.
pub fn require_tensorboard() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECK.get_or_init(|| {
        match Command::new("python3")
            .args(["-c", "import tensorboard"])
            .output()
        {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "`python3 -c \"import tensorboard\"` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("cannot run python3: {e}")),
        }
    });
    if let Err(msg) = result {
        panic!(
            "{msg}\nThese tests read event files with TensorBoard's own reader: \
             run `pip install tensorboard` (TensorFlow is not needed)."
        );
    }
}

/// The event files in `dir` as TensorBoard's own reader (EventAccumulator, through
/// tools/read_tensorboard.py) sees them: `{"scalars": {tag: [[step, value]..]}, "text": {..}}`.
pub fn read_tensorboard(dir: &Path) -> serde_json::Value {
    require_tensorboard();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/read_tensorboard.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output()
        .expect("run python3 tools/read_tensorboard.py");
    assert!(
        out.status.success(),
        "read_tensorboard.py failed ({}):\n{}",
        out.status,
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON from read_tensorboard.py ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

// ---------- the shared data ----------

/// The one shared-data lookup (see [`trm::data::shared_data`]): fails under CI where data is
/// missing, says SKIPPED loudly elsewhere.
///
/// ```ignore
/// let Some(path) = common::shared_data("text/tinyshakespeare.txt") else { return };
/// ```
#[allow(unused_imports)]
pub use trm::data::{shared_data, shared_fixture};
