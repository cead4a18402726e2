//! Nothing lost: runs that go wrong keep a checkpoint that is really good, and say which.

mod common;

use common::{assert_clean_error, ok, run, sets, stderr, temp, tiny_args, trm};
use std::io::Write;
use std::path::Path;

fn pointer(run_dir: &Path, which: &str) -> Option<String> {
    std::fs::read_to_string(run_dir.join("checkpoints").join(which)).ok()
}

#[test]
fn a_poisoned_checkpoint_is_never_called_good() {
    let dir = temp("poisoned");
    // lr 1e30: the first update leaves huge but finite weights, which give NaN at the next step
    let run_dir = dir.join("blowup");
    let mut args = tiny_args(&run_dir, 10);
    args.extend(sets(&[
        "train.lr=1e30",
        "train.warmup=0",
        "model.n_sup=1",
        "train.checkpoint_every=1",
    ]));
    let out = run(trm().args(&args));
    assert_clean_error(&out, &["NaN", "Last good checkpoint: none yet"]);
    assert_eq!(
        pointer(&run_dir, "latest"),
        None,
        "the poisoned checkpoint is gone"
    );

    // a healthy run, then a resume that poisons its weights: the resume reports and keeps the
    // healthy checkpoint, and resuming from it works
    let run_dir = dir.join("healthy");
    let mut args = tiny_args(&run_dir, 4);
    args.extend(sets(&["model.n_sup=1", "train.checkpoint_every=1"]));
    ok(&run(trm().args(&args)));
    assert_eq!(pointer(&run_dir, "latest").as_deref(), Some("step-000004"));
    let resume = |extra: &[&str]| {
        run(trm()
            .args(["train", "--quiet", "--resume"])
            .arg(&run_dir)
            .args(sets(extra)))
    };
    let out = resume(&["train.steps=8", "train.lr=1e30", "train.warmup=0"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    // step 5 (from step 4's good weights) updates with lr 1e30 and is saved; step 6's loss is NaN
    assert!(err.contains("at step 6"), "{err}");
    assert!(
        !err.contains("step-000005") && err.contains("step-000004"),
        "{err}"
    );
    assert_eq!(pointer(&run_dir, "latest").as_deref(), Some("step-000004"));
    assert!(!run_dir.join("checkpoints/step-000005").exists());
    ok(&resume(&["train.steps=8", "train.lr=2e-3"]));
    assert_eq!(pointer(&run_dir, "latest").as_deref(), Some("step-000008"));
}

#[test]
fn two_processes_never_share_a_run_folder() {
    let dir = temp("lock");
    let run_dir = dir.join("run");
    let mut first = trm()
        .args(tiny_args(&run_dir, 100_000))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait until the first run holds the folder and has written its config
    let started = std::time::Instant::now();
    while !run_dir.join("metrics.jsonl").exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the first run did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = first.id().to_string();
    let second = run(trm().args(tiny_args(&run_dir, 4)));
    assert_clean_error(&second, &["in use by another trm process", &pid]);
    let resume = run(trm().args(["train", "--quiet", "--resume"]).arg(&run_dir));
    assert_clean_error(&resume, &["in use by another trm process", &pid]);
    first.kill().unwrap();
    first.wait().unwrap();
    // the OS released the lock with the process: the folder can be used again (resumed when the
    // killed run got to write a checkpoint, else started anew)
    let again = match pointer(&run_dir, "latest") {
        Some(latest) => {
            let step: u64 = latest.trim_start_matches("step-").parse().unwrap();
            run(trm()
                .args(["train", "--quiet", "--resume"])
                .arg(&run_dir)
                .args(sets(&[format!("train.steps={}", step + 1)])))
        }
        None => run(trm().args(tiny_args(&run_dir, 2))),
    };
    assert!(again.status.success(), "{}", stderr(&again));
}

#[test]
fn a_refused_start_leaves_no_run_folder_behind() {
    let dir = temp("refused");
    let run_dir = dir.join("run");
    let mut args = tiny_args(&run_dir, 4);
    args.extend(sets(&["data.train=[\"/nonexistent/data.parquet\"]"]));
    let out = run(trm().args(&args));
    assert_clean_error(&out, &["/nonexistent/data.parquet"]);
    assert!(
        !run_dir.exists(),
        "a failed start created {}",
        run_dir.display()
    );
}

#[test]
fn logs_read_back_once_per_interval_are_the_logs_read_every_step() {
    // the language model's numbers stay on the device between log steps (one read per
    // interval): the metrics must be exactly those of a run that reads every step
    let dir = temp("deferred");
    let lines = |log_every: u64| {
        let run_dir = dir.join(format!("every-{log_every}"));
        let mut args = tiny_args(&run_dir, 12);
        args.extend(sets(&[
            format!("train.log_every={log_every}"),
            "train.eval_every=12".into(),
            "train.checkpoint_every=12".into(),
        ]));
        ok(&run(trm().args(&args)));
        common::metrics(&run_dir)
            .into_iter()
            .map(|m| {
                let keep = ["step", "loss", "grad_norm", "lr", "tokens", "loss_per_step"];
                keep.map(|k| m[k].to_string()).join(" ")
            })
            .collect::<Vec<_>>()
    };
    let every_step = lines(1);
    assert_eq!(every_step.len(), 12);
    assert_eq!(lines(5), every_step);

    // a NaN inside an interval is still found, at its own step, before anything is saved
    let run_dir = dir.join("nan");
    let mut args = tiny_args(&run_dir, 10);
    args.extend(sets(&[
        "train.lr=1e30",
        "train.warmup=0",
        "model.n_sup=1",
        "train.log_every=5",
        "train.checkpoint_every=5",
        "train.eval_every=5",
    ]));
    let out = run(trm().args(&args));
    assert_clean_error(&out, &["at step 2", "Last good checkpoint: none yet"]);
    assert_eq!(pointer(&run_dir, "latest"), None);
}

#[test]
fn a_leftover_step_folder_is_rewritten_not_reused() {
    let dir = temp("leftover");
    let run_dir = dir.join("run");
    let mut args = tiny_args(&run_dir, 4);
    args.extend(sets(&["train.checkpoint_every=2"]));
    ok(&run(trm().args(&args)));
    let cks = run_dir.join("checkpoints");
    let old = std::fs::read(cks.join("step-000004/model.mpk")).unwrap();
    // step 2 is kept as the good checkpoint; resume from it with another learning rate while
    // the old step 4 is still on disk
    assert!(cks.join("step-000002/state.json").exists());
    std::fs::write(cks.join("latest"), "step-000002").unwrap();
    ok(&run(trm()
        .args(["train", "--quiet", "--resume"])
        .arg(&run_dir)
        .args(sets(&["train.lr=0.02"]))));
    let new = std::fs::read(cks.join("step-000004/model.mpk")).unwrap();
    assert_ne!(old, new, "step 4 kept the weights of the other trajectory");
}

#[test]
fn hostile_values_end_in_one_error_line_and_leave_nothing_behind() {
    let dir = temp("hostile");
    let run_dir = dir.join("run");
    for (set, needle) in [
        ("model.ffn_multiple=0", "model.ffn_multiple"),
        ("model.expansion=-1", "model.expansion"),
        ("model.expansion=nan", "NaN"),
        ("model.rope_theta=0", "model.rope_theta"),
        ("train.beta1=1.5", "train.beta1"),
        ("train.grad_clip=-1", "train.grad_clip"),
        ("train.weight_decay=inf", "train.weight_decay"),
        ("model.mixer=\"mlp_t\"", "mlp_t"),
    ] {
        let mut args = tiny_args(&run_dir, 2);
        args.extend(sets(&[set]));
        let out = run(trm().args(&args));
        assert_clean_error(&out, &[needle]);
        assert!(
            !run_dir.exists(),
            "{set}: a refused start created the run folder"
        );
    }
    // MLP-T with the masked head trained, then panicked when sampling another length
    let mut args = tiny_args(&run_dir, 2);
    args.extend(sets(&["model.mixer=\"mlp_t\"", "model.head=\"masked\""]));
    assert_clean_error(&run(trm().args(&args)), &["mlp_t"]);
    // generators with an attempt budget end in an error instead of looping or panicking
    let out = run(trm()
        .args([
            "data",
            "maze",
            "--side",
            "5",
            "--min-path",
            "8",
            "--count",
            "1",
            "--out",
        ])
        .arg(dir.join("m.csv")));
    assert_clean_error(&out, &["5x5", "8 cells"]);
    let out = run(trm()
        .args([
            "data",
            "sudoku",
            "--count",
            "1",
            "--max-blanks",
            "5",
            "--min-rating",
            "1",
        ])
        .arg("--out")
        .arg(dir.join("s.csv")));
    assert_clean_error(&out, &["rated 1 or more"]);
    assert!(!dir.join("m.csv").exists() && !dir.join("s.csv").exists());
}

#[test]
fn a_damaged_metrics_line_costs_only_itself_on_resume() {
    let dir = temp("metrics-utf8");
    let run_dir = dir.join("run");
    let mut args = tiny_args(&run_dir, 4);
    args.extend(sets(&["train.checkpoint_every=2"]));
    ok(&run(trm().args(&args)));
    let path = run_dir.join("metrics.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    // one invalid UTF-8 byte inside the first line
    let at = bytes.iter().position(|&b| b == b'"').unwrap() + 1;
    bytes.insert(at, 0xFF);
    std::fs::write(&path, &bytes).unwrap();
    ok(&run(trm()
        .args(["train", "--quiet", "--resume"])
        .arg(&run_dir)
        .args(sets(&["train.steps=6"]))));
    let after = std::fs::read(&path).unwrap();
    let lines: Vec<&[u8]> = after
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        6,
        "steps 1-4 kept (the damaged one too), 5-6 appended"
    );
    assert!(lines[0].contains(&0xFF));
}

#[test]
fn sampling_settings_that_mean_nothing_are_refused() {
    let dir = temp("sampling-values");
    let run_dir = dir.join("run");
    ok(&run(trm().args(tiny_args(&run_dir, 2))));
    for (flag, value, needle) in [
        ("--temperature", "nan", "--temperature"),
        ("--temperature", "-1", "--temperature"),
        ("--top-p", "0", "--top-p"),
        ("--exit", "halt:2", "--exit halt:2"),
        ("--exit", "kl:-1", "--exit kl:-1"),
        ("--exit", "stop:1", "--exit"),
    ] {
        let out = run(trm()
            .args(["sample", "--checkpoint"])
            .arg(&run_dir)
            .arg(format!("{flag}={value}")));
        assert_clean_error(&out, &[needle]);
    }
    let mut args = tiny_args(&dir.join("other"), 2);
    args.extend(sets(&["sample.temperature=nan"]));
    assert_clean_error(&run(trm().args(&args)), &["sample.temperature"]);
}

#[test]
fn huge_mask_counts_and_fifo_tokenizers_are_errors_not_aborts_or_hangs() {
    let dir = temp("huge-mask");
    let run_dir = dir.join("masked");
    let mut args = tiny_args(&run_dir, 2);
    args.extend(sets(&["model.head=masked"]));
    ok(&run(trm().args(&args)));
    for prompt in [
        "a[MASK:18446744073709551615]b",
        "[MASK:1000000000]",
        "x[MASK:99999999999999999999999]",
    ] {
        let out = run(trm()
            .args([
                "sample",
                "--max-new-tokens",
                "4",
                "--prompt",
                prompt,
                "--checkpoint",
            ])
            .arg(&run_dir));
        assert_clean_error(&out, &["[MASK]", "at most 32"]);
    }
    // a small gap still works
    ok(&run(trm()
        .args([
            "sample",
            "--max-new-tokens",
            "4",
            "--prompt",
            "to [MASK:3] or",
            "--checkpoint",
        ])
        .arg(&run_dir)));
    // a FIFO given as the tokenizer would block forever on read
    let fifo = dir.join("tokenizer.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let mut args = tiny_args(&dir.join("fifo-run"), 2);
        args.extend(sets(&[format!("data.tokenizer=\"{}\"", fifo.display())]));
        assert_clean_error(&run(trm().args(&args)), &["not a regular file"]);
    }
}

#[test]
fn weights_that_do_not_fit_the_config_are_an_error_everywhere() {
    let dir = temp("misfit");
    let run_dir = dir.join("run");
    ok(&run(trm().args(tiny_args(&run_dir, 2))));
    let config = run_dir.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("d_model = 32", "d_model = 16")).unwrap();
    let needles = ["does not fit the model", "`embed` is [257, 32]"];
    let sample = run(trm()
        .args(["sample", "--max-new-tokens", "2", "--checkpoint"])
        .arg(&run_dir));
    assert_clean_error(&sample, &needles);
    let eval = run(trm().args(["eval", "--checkpoint"]).arg(&run_dir));
    assert_clean_error(&eval, &needles);
    let resume = run(trm().args(["train", "--quiet", "--resume"]).arg(&run_dir));
    assert_clean_error(&resume, &needles);
}

#[test]
fn messages_say_what_is_wrong_with_a_path() {
    let dir = temp("paths");
    // a link loop is not "does not exist"
    std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
    let mut args = tiny_args(&dir.join("r1"), 1);
    args.extend(sets(&[format!(
        "data.train=[\"{}\"]",
        dir.join("loop").display()
    )]));
    assert_clean_error(&run(trm().args(&args)), &["symbolic links"]);
    // a file named like a glob is that file
    let odd = dir.join("data[1].parquet");
    std::fs::copy(common::corpus(), &odd).unwrap();
    let mut args = tiny_args(&dir.join("r2"), 1);
    args.extend(sets(&[format!("data.train=[\"{}\"]", odd.display())]));
    ok(&run(trm().args(&args)));
    // a folder given to `data convert`
    let folder = dir.join("texts");
    std::fs::create_dir_all(&folder).unwrap();
    let out = run(trm()
        .args(["data", "convert", "--input"])
        .arg(&folder)
        .arg("--out")
        .arg(dir.join("o.parquet")));
    assert_clean_error(&out, &["is a folder"]);
}

/// Deterministic bytes for the fuzz cases.
fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    }
}

#[test]
fn corrupted_checkpoints_and_parquet_files_never_panic() {
    let dir = temp("fuzz");
    let run_dir = dir.join("run");
    ok(&run(trm().args(tiny_args(&run_dir, 2))));
    let latest = pointer(&run_dir, "latest").unwrap();
    let ema = run_dir.join("checkpoints").join(latest).join("ema.mpk");
    let good = std::fs::read(&ema).unwrap();
    for seed in 0..12u64 {
        let mut next = lcg(seed);
        let mut bytes = good.clone();
        if seed % 3 == 0 {
            bytes.truncate(next() as usize % bytes.len());
        } else {
            for _ in 0..1 + seed % 4 {
                let at = next() as usize % bytes.len();
                bytes[at] ^= 1 << (next() % 8);
            }
        }
        std::fs::write(&ema, &bytes).unwrap();
        let out = run(trm()
            .args(["sample", "--max-new-tokens", "2", "--checkpoint"])
            .arg(&run_dir));
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "seed {seed}: {err}");
        if !out.status.success() {
            assert_clean_error(&out, &["ema.mpk"]);
        }
    }
    std::fs::write(&ema, &good).unwrap();

    let corpus = std::fs::read(common::corpus()).unwrap();
    for seed in 0..12u64 {
        let mut next = lcg(100 + seed);
        let mut bytes = corpus.clone();
        if seed % 3 == 0 {
            bytes.truncate(next() as usize % bytes.len());
        } else {
            for _ in 0..1 + seed % 8 {
                let at = next() as usize % bytes.len();
                bytes[at] = next() as u8;
            }
        }
        let file = dir.join(format!("bad-{seed}.parquet"));
        std::fs::write(&file, &bytes).unwrap();
        let mut args = tiny_args(&dir.join(format!("p{seed}")), 1);
        args.extend(sets(&[format!("data.train=[\"{}\"]", file.display())]));
        let out = run(trm().args(&args));
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "seed {seed}: {err}");
        if !out.status.success() {
            assert_clean_error(&out, &[]);
        }
    }
}

#[test]
fn a_run_killed_anywhere_resumes() {
    let dir = temp("kill");
    // checkpoints every step, so the kills land inside checkpoint writes as well as between them
    for (i, delay_ms) in [40u64, 90, 150, 230, 330, 470].into_iter().enumerate() {
        let run_dir = dir.join(format!("run{i}"));
        let mut args = tiny_args(&run_dir, 100_000);
        args.extend(sets(&["train.checkpoint_every=1"]));
        let mut child = trm()
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let out = match pointer(&run_dir, "latest") {
            Some(latest) => {
                let step: u64 = latest.trim_start_matches("step-").parse().unwrap();
                let out = run(trm()
                    .args(["train", "--quiet", "--resume"])
                    .arg(&run_dir)
                    .args(sets(&[format!("train.steps={}", step + 2)])));
                // the resumed run wrote its two steps on top of the last complete checkpoint
                if out.status.success() {
                    assert_eq!(
                        pointer(&run_dir, "latest"),
                        Some(format!("step-{:06}", step + 2))
                    );
                }
                out
            }
            // killed before the first checkpoint: the folder is free for a new run
            None => run(trm().args(tiny_args(&run_dir, 2))),
        };
        assert!(
            out.status.success(),
            "kill after {delay_ms} ms: {}",
            stderr(&out)
        );
    }
}

#[test]
fn settings_that_cannot_fit_in_memory_are_refused_with_the_numbers() {
    if !Path::new("/proc/meminfo").exists() {
        eprintln!("SKIPPED: no /proc/meminfo to know this machine's memory");
        return;
    }
    let dir = temp("memory");
    let run_dir = dir.join("run");
    // each asks for terabytes, far beyond any machine this runs on
    for (set, needle) in [
        ("train.batch_size=100000000", "train.batch_size 100000000"),
        ("train.seq_len=40000", "train.seq_len 40000"),
        ("model.d_model=65536", "model.d_model 65536"),
    ] {
        let mut args = tiny_args(&run_dir, 2);
        args.extend(sets(&[set]));
        let out = run(trm().args(&args));
        assert_clean_error(&out, &["need at least", "GiB available", needle]);
        assert!(!run_dir.exists());
    }
    let out = run(trm()
        .args(["data", "maze", "--side", "100000", "--count", "1", "--out"])
        .arg(dir.join("m.csv")));
    assert_clean_error(&out, &["100000", "too large"]);
}

#[test]
fn a_tokenizer_trains_on_text_without_whitespace() {
    // a 2 MB row without a space was quadratic for the BPE trainer (it never finished)
    let dir = temp("nospace");
    let text: String = (0..2_000_000u64)
        .map(|i| (b'a' + ((i * 2654435761) % 10) as u8) as char)
        .collect();
    let input = dir.join("nospace.txt");
    std::fs::write(&input, text).unwrap();
    ok(&run(trm()
        .args(["tokenizer", "train", "--vocab-size", "400", "--data"])
        .arg(&input)
        .arg("--out")
        .arg(dir.join("tok.json"))));
    assert!(dir.join("tok.json").exists());
}

#[test]
fn a_huge_document_keeps_the_checkpoint_state_small_and_resumes() {
    let dir = temp("huge-doc");
    // one 4 MB document (no blank line: one paragraph)
    let text: String = (0..4_000_000u64)
        .map(|i| {
            if i % 80 == 79 {
                '\n'
            } else {
                (b'a' + (i * 7 % 26) as u8) as char
            }
        })
        .collect();
    let txt = dir.join("doc.txt");
    std::fs::write(&txt, text).unwrap();
    let parquet = dir.join("doc.parquet");
    ok(&run(trm()
        .args(["data", "convert", "--input"])
        .arg(&txt)
        .arg("--out")
        .arg(&parquet)));
    let run_dir = dir.join("run");
    let mut args = tiny_args(&run_dir, 2);
    args.extend(sets(&[
        format!("data.train=[\"{}\"]", parquet.display()),
        "data.val_fraction=0".into(),
        format!("data.val=[\"{}\"]", parquet.display()),
        "train.checkpoint_every=2".into(),
    ]));
    ok(&run(trm().args(&args)));
    let state = run_dir.join("checkpoints/step-000002/state.json");
    let size = std::fs::metadata(&state).unwrap().len();
    // the pending 4 million tokens are a position, not a list (what remains is the shuffle
    // buffer: 2048 windows of 33 tokens)
    assert!(size < 1_000_000, "state.json is {size} bytes");
    ok(&run(trm()
        .args(["train", "--quiet", "--resume"])
        .arg(&run_dir)
        .args(sets(&["train.steps=4"]))));
    assert_eq!(pointer(&run_dir, "latest").as_deref(), Some("step-000004"));
}

#[test]
fn a_full_disk_names_the_file_and_keeps_the_last_checkpoint() {
    // a 1000 KiB tmpfs holds one checkpoint of this model (~660 KiB) but not two
    let dir = temp("full-disk");
    let mount = dir.join("small");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1000k", "tmpfs"])
        .arg(&mount)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        // straight to the real stderr, past the harness's capture
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED: a_full_disk_names_the_file_and_keeps_the_last_checkpoint needs to mount a small tmpfs (root)"
        );
        return;
    }
    let run_dir = mount.join("run");
    let mut args = tiny_args(&run_dir, 6);
    args.extend(sets(&["train.checkpoint_every=2"]));
    let out = run(trm().args(&args));
    let result = std::panic::catch_unwind(|| {
        assert_clean_error(&out, &["No space left on device", ".mpk"]);
        assert_eq!(pointer(&run_dir, "latest").as_deref(), Some("step-000002"));
        let leftovers: Vec<_> = std::fs::read_dir(run_dir.join("checkpoints"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "the failed write gave its space back");
        ok(&run(trm()
            .args(["sample", "--max-new-tokens", "4", "--checkpoint"])
            .arg(&run_dir)));
    });
    let _ = std::process::Command::new("umount").arg(&mount).status();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn zero_counts_on_the_command_line_are_refused() {
    let dir = temp("zero-flags");
    let run_dir = dir.join("run");
    ok(&run(trm().args(tiny_args(&run_dir, 2))));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "eval".into(),
                "--steps".into(),
                "0".into(),
                "--checkpoint".into(),
                run_dir.display().to_string(),
            ],
            "--steps",
        ),
        (
            vec![
                "eval".into(),
                "--max-windows".into(),
                "0".into(),
                "--checkpoint".into(),
                run_dir.display().to_string(),
            ],
            "max_windows",
        ),
        (
            vec![
                "bench".into(),
                "--config".into(),
                "configs/default.toml".into(),
                "--batches".into(),
                "0".into(),
                "--out".into(),
                dir.join("b.md").display().to_string(),
            ],
            "--batches",
        ),
        (
            vec![
                "data".into(),
                "sudoku".into(),
                "--count".into(),
                "0".into(),
                "--out".into(),
                dir.join("s.csv").display().to_string(),
            ],
            "--count",
        ),
    ];
    for (args, needle) in cases {
        let out = run(trm().current_dir(env!("CARGO_MANIFEST_DIR")).args(&args));
        assert_clean_error(&out, &[needle]);
    }
}

#[test]
fn bench_without_out_prints_and_leaves_the_committed_results_alone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read(root.join("eval/bench.md")).unwrap();
    let out = ok(&run(trm()
        .current_dir(root)
        .args([
            "bench",
            "--config",
            "configs/default.toml",
            "--batches",
            "1",
            "--sample-tokens",
            "1",
        ])
        .args(sets(&[
            "model.d_model=32",
            "model.n_heads=2",
            "train.batch_size=2",
            "train.seq_len=16",
        ]))));
    assert!(out.contains("| default | cpu |"), "{out}");
    assert_eq!(
        std::fs::read(root.join("eval/bench.md")).unwrap(),
        committed
    );
}
