//! Helpers shared by the end-to-end tests that drive the `trm` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test, run from the repository root.
pub fn trm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trm"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("trm runs")
}

/// Stdout of a command that must succeed (its output in the failure message otherwise).
pub fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "trm failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A fresh folder under the system temp dir, unique to this test process.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trm-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `--set KEY=VALUE` for each item.
pub fn sets<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    items
        .iter()
        .flat_map(|s| ["--set".to_string(), s.as_ref().to_string()])
        .collect()
}

/// Every line of a run's metrics.jsonl, parsed.
pub fn metrics(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
