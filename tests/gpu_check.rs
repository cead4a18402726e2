//! The GPU check script (`tools/gpu_check.sh`) run as a CPU dry run with tiny sizes, so its own
//! logic (commands, parsing, the table, the loss and bf16-agreement checks) is known to work
//! before the first GPU minute is spent.

mod common;

use common::temp;
use std::path::Path;
use std::process::Command;

#[test]
fn the_gpu_check_runs_end_to_end_on_the_cpu() {
    let dir = temp("gpu-check");
    let out = dir.join("out");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let result = Command::new("bash")
        .arg(root.join("tools/gpu_check.sh"))
        .args(["--device", "cpu", "--tiny"])
        .arg(&out)
        .arg(env!("CARGO_BIN_EXE_trm"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    let rows: Vec<&str> = table.lines().skip(2).collect();
    for check in [
        "default LM, 30 updates",
        "default LM step (trm bench) | cpu | f32",
        "default LM step (trm bench) | cpu | bf16",
        "sampling, no cache / KV cache",
        "Sudoku-Extreme-Att, 12 updates | cpu | f32",
        "Sudoku-Extreme-Att, 12 updates | cpu | bf16",
        "2 peers (trm bench) | cpu,cpu",
    ] {
        assert!(
            rows.iter().any(|r| r.contains(check)),
            "no row {check:?} in\n{table}"
        );
    }
    // every measured cell is a number (or n/a / - where a check has none)
    for row in &rows {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 8, "{row}");
        for cell in &cells[3..] {
            let numeric = cell.split(" / ").all(|c| c.parse::<f64>().is_ok());
            assert!(
                numeric || *cell == "-" || *cell == "n/a",
                "cell {cell:?} in {row}"
            );
        }
    }
    let checks = std::fs::read_to_string(out.join("checks.txt")).unwrap();
    assert!(checks.contains("bf16 vs f32 Sudoku loss"), "{checks}");
    assert!(checks.contains("all checks passed"), "{checks}");
    for log in [
        "lm.log",
        "bench-f32.log",
        "sudoku-f32.log",
        "sudoku-bf16.log",
    ] {
        assert!(out.join(log).exists(), "no {log}");
    }
    assert!(out.join("lm/tb").exists(), "TensorBoard logs of the LM run");
}
