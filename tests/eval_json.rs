//! `trm eval --json`, and the evaluation the training log reports: with the same windows
//! (`--max-windows` = train.eval_windows) `trm eval` gives the logged validation perplexity, and
//! otherwise says why its number differs.

mod common;

use common::{metrics, ok, run, temp, tiny_args, trm};

#[test]
fn eval_json_reproduces_the_logged_validation_and_explains_a_difference() {
    let d = temp("eval-json");
    let r = d.join("r");
    ok(&run(trm().args(tiny_args(&r, 8)))); // eval_windows = 8, evaluated at steps 4 and 8
    let logged = metrics(&r)
        .iter()
        .rev()
        .find_map(|m| (m["step"] == 8).then(|| m["val_ppl"].as_f64()).flatten())
        .expect("validation at step 8");
    let step8 = r.join("checkpoints/step-000008");
    let out = ok(&run(trm()
        .args(["eval", "--json", "--max-windows", "8", "--checkpoint"])
        .arg(&step8)));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["kind"], "language_model");
    assert_eq!(v["windows"], 8);
    assert_eq!(v["seq_len"], 32);
    assert_eq!(v["tokens"], 8 * 32);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    let last = &steps[1];
    assert_eq!(last["step"], 2);
    let ppl = last["perplexity"].as_f64().unwrap();
    assert!(
        (ppl - logged).abs() <= 1e-6 * logged,
        "eval {ppl} vs log {logged}"
    );
    assert!((last["nll"].as_f64().unwrap().exp() - ppl).abs() < 1e-9);

    // more windows than training used: the Markdown output says how many and why it differs
    let out = ok(&run(trm()
        .args(["eval", "--max-windows", "16", "--checkpoint"])
        .arg(&step8)));
    assert!(
        out.contains("16 windows of 32 tokens (512 tokens scored"),
        "{out}"
    );
    assert!(
        out.contains("training's validation log used the first 8 windows")
            && out.contains("--max-windows 8 reproduces"),
        "{out}"
    );
}
