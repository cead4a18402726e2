//! `trm export` and `trm train --init-from`: the safetensors file read by Python's safetensors, an
//! export -> init -> export round trip that keeps every value, refused mismatches, and the
//! installed binary working from a folder outside the repository.

mod common;

use common::{assert_clean_error, ok, run, sets, temp, tiny_args, trm};
use std::path::Path;
use std::process::Command;

/// Tensor name -> (shape, dtype, sum) as Python's safetensors reads them from `file`.
fn python_read(file: &Path) -> Tensors {
    let script = r#"
import json, sys
from safetensors.numpy import load_file
from safetensors import safe_open
tensors = load_file(sys.argv[1])
with safe_open(sys.argv[1], "np") as f:
    meta = f.metadata()
print(json.dumps({"meta": meta, "tensors": [[k, list(v.shape), str(v.dtype), float(v.astype("float64").sum())] for k, v in sorted(tensors.items())]}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 with safetensors and numpy is needed (pip install safetensors numpy): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["meta"]["format"], "pt");
    v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t[0].as_str().unwrap().to_string(),
                t[1].as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect(),
                t[2].as_str().unwrap().to_string(),
                t[3].as_f64().unwrap(),
            )
        })
        .collect()
}

/// One training step that leaves the weights as they were (to f32 precision): a learning rate of
/// 1e-30 and an EMA equal to the live weights.
const KEEP_WEIGHTS: [&str; 3] = ["train.lr=1e-30", "train.warmup=0", "train.ema_decay=0"];

type Tensors = Vec<(String, Vec<usize>, String, f64)>;

fn assert_same_tensors(a: &Tensors, b: &Tensors) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!((&x.0, &x.1, &x.2), (&y.0, &y.1, &y.2));
        assert!(
            (x.3 - y.3).abs() <= 1e-6 * (1.0 + y.3.abs()),
            "{}: sum {} vs {}",
            x.0,
            x.3,
            y.3
        );
    }
}

fn export(run_dir: &Path, out: &Path) -> String {
    ok(&run(trm()
        .args(["export", "--checkpoint"])
        .arg(run_dir)
        .arg("--out")
        .arg(out)))
}

#[test]
fn export_is_read_by_python_and_init_from_round_trips_every_value() {
    let d = temp("export");
    let (r1, ex1) = (d.join("r1"), d.join("ex1"));
    ok(&run(trm().args(tiny_args(&r1, 8))));
    let printed = export(&r1, &ex1);
    assert!(printed.contains("EMA weights"), "{printed}");

    // names and PyTorch layouts: D = 32, vocabulary 257, SwiGLU inner 128 (round(4 * 32 * 2/3) = 85
    // up to a multiple of 64), linear weights [out, in]
    let tensors = python_read(&ex1.join("model.safetensors"));
    let shape = |name: &str| -> Vec<usize> {
        tensors
            .iter()
            .find(|t| t.0 == name)
            .unwrap_or_else(|| panic!("{name} missing: {tensors:?}"))
            .1
            .clone()
    };
    assert_eq!(shape("embed"), [257, 32]);
    assert_eq!(shape("lm_head.weight"), [257, 32]);
    assert_eq!(
        shape("core.Trm.net.blocks.0.mix.Attention.qkv.weight"),
        [96, 32]
    );
    assert_eq!(shape("core.Trm.net.blocks.0.mlp.gate_up.weight"), [256, 32]);
    assert_eq!(shape("core.Trm.net.blocks.0.mlp.down.weight"), [32, 128]);
    assert!(tensors.iter().all(|t| t.2 == "float32"), "{tensors:?}");
    // the model card lists exactly the file's tensors
    let card = std::fs::read_to_string(ex1.join("README.md")).unwrap();
    for (name, shape, _, _) in &tensors {
        assert!(
            card.contains(&format!("| `{name}` | {shape:?} |")),
            "{name} not in {card}"
        );
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex1.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["hidden_size"], 32);
    assert_eq!(config["vocab_size"], 257);
    assert_eq!(config["trm"]["weights"], "ema");
    // the byte tokenizer is written as a real Hugging Face tokenizer.json
    let tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex1.join("tokenizer.json")).unwrap())
            .unwrap();
    assert_eq!(tok["model"]["type"], "BPE");
    assert_eq!(tok["model"]["vocab"].as_object().unwrap().len(), 256);

    // a new run from those weights with a vanishing learning rate (and the EMA following the live
    // weights) keeps them: exported again, every tensor is the same, and both runs evaluate the
    // same (a transposed or misplaced square matrix would keep the sums but not the evaluation)
    let r2 = d.join("r2");
    let mut init = trm();
    init.args(tiny_args(&r2, 1))
        .arg("--init-from")
        .arg(&ex1)
        .args(sets(&KEEP_WEIGHTS));
    ok(&run(&mut init));
    let ex2 = d.join("ex2");
    export(&r2, &ex2);
    assert_same_tensors(&python_read(&ex2.join("model.safetensors")), &tensors);
    let eval = |r: &Path| ok(&run(trm().args(["eval", "--checkpoint"]).arg(r)));
    let table = |s: String| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("| 1 ") || l.starts_with("| 2 "))
            .map(str::to_string)
            .collect()
    };
    let (e1, e2) = (table(eval(&r1)), table(eval(&r2)));
    assert_eq!(e1.len(), 2, "{e1:?}");
    assert_eq!(e1, e2);

    // from a run folder directly (its EMA weights): same again
    let r3 = d.join("r3");
    let mut init = trm();
    init.args(tiny_args(&r3, 1))
        .arg("--init-from")
        .arg(&r1)
        .args(sets(&KEEP_WEIGHTS));
    ok(&run(&mut init));
    assert_eq!(table(eval(&r3)), e1);

    // --raw exports the live weights, which differ from the EMA
    let raw = d.join("raw");
    let printed = ok(&run(trm()
        .args(["export", "--raw", "--checkpoint"])
        .arg(&r1)
        .arg("--out")
        .arg(&raw)));
    assert!(printed.contains("live weights"), "{printed}");
    assert_ne!(python_read(&raw.join("model.safetensors")), tensors);
}

#[test]
fn mismatches_are_refused_and_nothing_is_overwritten() {
    let d = temp("export-refused");
    let (r1, ex) = (d.join("r1"), d.join("ex"));
    ok(&run(trm().args(tiny_args(&r1, 4))));
    export(&r1, &ex);

    // another architecture: named key by key
    let mut cmd = trm();
    cmd.args(tiny_args(&d.join("wide"), 1))
        .arg("--init-from")
        .arg(&ex)
        .args(sets(&["model.d_model=64"]));
    assert_clean_error(
        &run(&mut cmd),
        &["train.init_from", "model.d_model = 64 here, 32 there"],
    );
    assert!(!d.join("wide").exists(), "a refused start leaves no folder");

    // another tokenizer
    let bpe = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tokenizer.json");
    let mut cmd = trm();
    cmd.args(tiny_args(&d.join("bpe"), 1))
        .arg("--init-from")
        .arg(&ex)
        .args(sets(&[format!("data.tokenizer={}", bpe.display())]));
    assert_clean_error(&run(&mut cmd), &["train.init_from", "tokenizer"]);

    // not an export or a run
    let mut cmd = trm();
    cmd.args(tiny_args(&d.join("none"), 1))
        .arg("--init-from")
        .arg(d.join("missing"));
    assert_clean_error(&run(&mut cmd), &["train.init_from", "does not exist"]);

    // an export never overwrites: a non-empty --out is refused and left as it was
    let before = std::fs::read(ex.join("model.safetensors")).unwrap();
    let o = run(trm()
        .args(["export", "--checkpoint"])
        .arg(&r1)
        .arg("--out")
        .arg(&ex));
    assert_clean_error(&o, &["not empty"]);
    assert_eq!(std::fs::read(ex.join("model.safetensors")).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&*d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // --init-from and --resume do not mix
    let o = run(trm()
        .args(["train", "--resume"])
        .arg(&r1)
        .arg("--init-from")
        .arg(&ex));
    assert!(!o.status.success());
}

/// The binary copied elsewhere, run from a folder outside the repository with no config, data or
/// tokenizer file: the built-in corpus, and every command on its run.
#[test]
fn the_installed_binary_works_outside_the_repository() {
    let d = temp("outside");
    let bin = d.join("bin/trm");
    std::fs::create_dir_all(d.join("bin")).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_trm"), &bin).unwrap();
    let work = d.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let trm_here = || {
        let mut c = Command::new(&bin);
        c.current_dir(&work);
        c
    };
    ok(&run(trm_here().args([
        "train",
        "--quiet",
        "--run-dir",
        "r",
        "--set",
        "train.steps=20",
        "--set",
        "train.eval_every=10",
        "--set",
        "train.eval_windows=8",
    ])));
    let config = std::fs::read_to_string(work.join("r/config.toml")).unwrap();
    assert!(config.contains("builtin:shakespeare"), "{config}");
    let text = ok(&run(trm_here().args([
        "sample",
        "--checkpoint",
        "r",
        "--prompt",
        "ROMEO.",
        "--max-new-tokens",
        "20",
    ])));
    assert!(text.starts_with("ROMEO."), "{text}");
    let eval = ok(&run(trm_here().args([
        "eval",
        "--checkpoint",
        "r",
        "--max-windows",
        "8",
    ])));
    assert!(eval.contains("| 2 |"), "{eval}");
    ok(&run(trm_here().args([
        "export",
        "--checkpoint",
        "r",
        "--out",
        "ex",
    ])));
    ok(&run(trm_here().args([
        "train",
        "--quiet",
        "--run-dir",
        "r2",
        "--init-from",
        "ex",
        "--set",
        "train.steps=2",
        "--set",
        "train.eval_windows=8",
    ])));
    // the config records where the weights came from, as an absolute path
    let config = std::fs::read_to_string(work.join("r2/config.toml")).unwrap();
    assert!(
        config.contains(&format!("init_from = \"{}\"", work.join("ex").display())),
        "{config}"
    );
}

/// The release binary links only the C library family (no fontconfig or freetype), so it starts on
/// a minimal image; `ldd` is the independent reader.
#[test]
fn the_binary_links_only_the_c_library() {
    let out = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_trm"))
        .output()
        .expect("ldd runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let allowed = [
        "linux-vdso",
        "libgcc_s",
        "libm.",
        "libc.",
        "ld-linux",
        "libpthread",
        "libdl.",
        "librt.",
    ];
    let others: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !allowed
                    .iter()
                    .any(|a| l.starts_with(a) || l.contains(&format!("/{a}")))
        })
        .collect();
    assert!(
        others.is_empty(),
        "unexpected libraries: {others:?}\n{text}"
    );
}

/// Crates with advisories or system libraries are out of the dependency tree: protobuf 2
/// (RUSTSEC-2024-0437), number_prefix (RUSTSEC-2025-0119), font-kit's fontconfig and freetype.
#[test]
fn the_dependency_tree_has_no_flagged_crates() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    for name in [
        "protobuf ",
        "number_prefix ",
        "font-kit ",
        "yeslogic-fontconfig-sys ",
        "freetype-sys ",
    ] {
        assert!(
            !tree.lines().any(|l| l.starts_with(name)),
            "{} is in the dependency tree",
            name.trim()
        );
    }
    assert!(
        tree.lines().any(|l| l.starts_with("indicatif v0.18")),
        "indicatif 0.18 expected"
    );
}
