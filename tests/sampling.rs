//! `trm sample` and `trm chat` end to end on a tiny trained run: the prompt from stdin, several
//! samples, stop strings, a closed pipe, test-time depth (`--steps`) and a chat session.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_clean_error, ok, run, sets, stderr, temp, tiny_args, trm, TempFolder};

/// A tiny causal run (20 steps, seconds to train) in a fresh folder.
fn causal_run() -> (TempFolder, PathBuf) {
    let dir = temp("sampling");
    let run_dir = dir.join("run");
    ok(&run(trm().args(tiny_args(&run_dir, 20))));
    (dir, run_dir)
}

const PROMPT: &str = "HAMLET.";

/// The flags every sample and chat here uses unless `extra` gives its own: 40 tokens at
/// temperature 1 among the 10 likeliest (varied text that rarely ends early: greedy decoding
/// of a 20-step model repeats one character), seed 7; then `extra`.
fn flags<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let defaults = [
        ("--max-new-tokens", "40"),
        ("--temperature", "1.0"),
        ("--top-k", "10"),
        ("--top-p", "1.0"),
        ("--seed", "7"),
    ];
    let mut args: Vec<&str> = defaults
        .iter()
        .filter(|(flag, _)| !extra.contains(flag))
        .flat_map(|&(flag, value)| [flag, value])
        .collect();
    args.extend(extra);
    args
}

/// `trm sample` on `run_dir` with [`flags`].
fn sample_cmd(run_dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = trm();
    cmd.args(["sample", "--checkpoint"]).arg(run_dir);
    cmd.args(flags(extra));
    cmd
}

fn sample(run_dir: &Path, extra: &[&str]) -> String {
    ok(&run(&mut sample_cmd(run_dir, extra)))
}

/// Run `cmd` with `input` on stdin.
fn with_stdin(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trm runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_prompt_can_come_from_stdin() {
    let (dir, r) = causal_run();
    let direct = sample(&r, &["--prompt", PROMPT]);
    assert!(direct.starts_with(PROMPT), "{direct}");
    let piped = with_stdin(&mut sample_cmd(&r, &["--prompt-file", "-"]), PROMPT);
    assert_eq!(ok(&piped), direct);
    // a file still works
    let file = dir.join("prompt.txt");
    std::fs::write(&file, PROMPT).unwrap();
    let mut cmd = sample_cmd(&r, &["--prompt-file"]);
    assert_eq!(ok(&run(cmd.arg(&file))), direct);
}

/// The samples of a `--num-samples` output: (header, body), the body as a single run prints it.
fn split_samples(out: &str) -> Vec<(String, String)> {
    let mut samples: Vec<(String, String)> = Vec::new();
    for line in out.split_inclusive('\n') {
        if line.starts_with("----- sample ") && line.trim_end().ends_with(" -----") {
            if let Some(last) = samples.last_mut() {
                // the blank line before a header belongs to the separator
                assert!(last.1.ends_with("\n\n"), "no blank line before {line:?}");
                last.1.pop();
            }
            samples.push((line.trim_end().to_string(), String::new()));
        } else {
            samples.last_mut().expect("a header first").1.push_str(line);
        }
    }
    samples
}

#[test]
fn several_samples_use_consecutive_seeds_and_are_kept_apart() {
    let (_dir, r) = causal_run();
    let out = sample(&r, &["--prompt", PROMPT, "--num-samples", "3"]);
    let samples = split_samples(&out);
    let headers: Vec<&str> = samples.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        headers,
        [
            "----- sample 1/3 (seed 7) -----",
            "----- sample 2/3 (seed 8) -----",
            "----- sample 3/3 (seed 9) -----",
        ],
        "{out}"
    );
    assert_eq!(samples[0].1, sample(&r, &["--prompt", PROMPT]));
    assert_eq!(
        samples[1].1,
        sample(&r, &["--prompt", PROMPT, "--seed", "8"])
    );
    assert_ne!(samples[0].1, samples[1].1);
    // a single sample has no header
    assert_eq!(
        sample(&r, &["--prompt", PROMPT, "--num-samples", "1"]),
        samples[0].1
    );
    assert_clean_error(
        &run(&mut sample_cmd(&r, &["--num-samples", "0"])),
        &["--num-samples"],
    );
}

/// Generated text of a single sample: between the prompt and the final newline.
fn generated(out: &str) -> &str {
    out.strip_prefix(PROMPT)
        .and_then(|g| g.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("not prompt + text + newline: {out:?}"))
}

/// A stop string from the second half of `text` (three characters) that does not occur near its
/// start, so that cutting there leaves some text.
fn middle(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    assert!(chars.len() >= 8, "too little text to cut: {text:?}");
    let stop = (chars.len() / 2..chars.len() - 2)
        .map(|i| chars[i..i + 3].iter().collect::<String>())
        .max_by_key(|s| text.find(s.as_str()))
        .unwrap();
    assert!(text.find(&stop).unwrap() >= 3, "{stop:?} in {text:?}");
    stop
}

/// `--stop=STRING` (the `=` keeps a stop string that starts with `-` a value).
fn stop(s: &str) -> String {
    format!("--stop={s}")
}

/// With `flags`, a stop string from the middle of the unstopped text (seeded, so the same draws
/// up to the stop) cuts the output right before its first occurrence after the prompt; a stop
/// string that never occurs changes nothing.
fn check_stop(r: &Path, flags: &[&str]) {
    let base: Vec<&str> = [&["--prompt", PROMPT], flags].concat();
    let full = sample(r, &base);
    let text = generated(&full);
    let cut = middle(text);
    let want = format!("{PROMPT}{}\n", &text[..text.find(&cut).unwrap()]);
    let (at, never) = (stop(&cut), stop("\u{1}never"));
    assert_eq!(
        sample(r, &[&base[..], &[&at]].concat()),
        want,
        "--stop {cut:?} with {flags:?} on {full:?}"
    );
    // several stops: the first to occur wins; one that never occurs changes nothing
    assert_eq!(sample(r, &[&base[..], &[&never, &at]].concat()), want);
    assert_eq!(sample(r, &[&base[..], &[&never]].concat()), full);
}

#[test]
fn stop_strings_end_the_text_right_before_them() {
    let (_dir, r) = causal_run();
    check_stop(&r, &[]);
    check_stop(&r, &["--no-cache"]);
    check_stop(&r, &["--halt-threshold", "0.5"]);
    check_stop(&r, &["--steps", "3"]);
    assert_clean_error(&run(&mut sample_cmd(&r, &["--stop="])), &["--stop"]);
}

#[test]
fn stop_strings_cut_the_masked_head_s_block() {
    let dir = temp("sampling-masked");
    let run_dir = dir.join("run");
    let mut args = tiny_args(&run_dir, 20);
    args.extend(sets(&["model.head=masked"]));
    ok(&run(trm().args(&args)));
    let masked = |extra: &[&str]| {
        let mut cmd = trm();
        cmd.args(["sample", "--checkpoint"]).arg(&run_dir);
        cmd.args(["--prompt", PROMPT, "--max-new-tokens", "20"]);
        ok(&run(cmd.args(["--top-k", "10", "--seed", "7"]).args(extra)))
    };
    let full = masked(&["--unmask-steps", "4"]);
    // the old name still works
    assert_eq!(masked(&["--diffusion-steps", "4"]), full);
    let text = generated(&full);
    let cut = middle(text);
    let want = format!("{PROMPT}{}\n", &text[..text.find(&cut).unwrap()]);
    assert_eq!(masked(&["--unmask-steps", "4", &stop(&cut)]), want);
    // more supervision steps per unmasking step run too
    ok(&run(trm()
        .args(["sample", "--steps", "3", "--max-new-tokens", "8"])
        .arg("--checkpoint")
        .arg(&run_dir)));
}

#[test]
fn a_closed_pipe_ends_sampling_quietly_and_promptly() {
    let (_dir, r) = causal_run();
    // greedy decoding here never ends early: 100000 tokens would take about a minute
    let args = [
        "--prompt",
        PROMPT,
        "--temperature",
        "0",
        "--max-new-tokens",
        "100000",
    ];
    let mut child = sample_cmd(&r, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("still sampling 60 s after its stdout was closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?} to notice the closed pipe",
        t0.elapsed()
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "exit {status} on a closed pipe: {err}");
    assert_eq!(err, "", "nothing on stderr for a closed pipe");
    assert_eq!(&first[..PROMPT.len()], PROMPT.as_bytes());
}

#[test]
fn more_supervision_steps_than_trained_think_deeper() {
    let (_dir, r) = causal_run();
    // within the window (8 + 20 < 32 tokens), where the cache restarts nothing
    let with = |extra: &[&str]| {
        let base = ["--prompt", PROMPT, "--max-new-tokens", "20"];
        sample(&r, &[&base[..], extra].concat())
    };
    let default = with(&[]);
    assert_eq!(with(&["--steps", "2"]), default);
    let deeper = with(&["--steps", "3"]);
    assert!(deeper.starts_with(PROMPT), "{deeper}");
    assert_ne!(
        deeper, default,
        "a third supervision step changes the logits"
    );
    // the KV cache grows the slots of the extra step: the same text as recomputing
    assert_eq!(with(&["--steps", "3", "--no-cache"]), deeper);
    // adaptive depth: the cache keeps exited tokens' keys and values, so it gives the text of
    // recomputing; --halt-threshold P is the older spelling of --exit halt:P
    let adaptive = with(&["--steps", "4", "--exit", "kl:1e-2"]);
    assert!(adaptive.starts_with(PROMPT), "{adaptive}");
    assert_eq!(
        with(&["--steps", "4", "--exit", "kl:1e-2", "--no-cache"]),
        adaptive
    );
    assert_eq!(
        with(&["--steps", "4", "--halt-threshold", "0.9"]),
        with(&["--steps", "4", "--exit", "halt:0.9"])
    );
    assert_clean_error(&run(&mut sample_cmd(&r, &["--steps", "0"])), &["--steps"]);
}

/// `trm chat` on `run_dir` with [`flags`], `input` on stdin.
fn chat(run_dir: &Path, extra: &[&str], input: &str) -> Output {
    let mut cmd = trm();
    cmd.args(["chat", "--checkpoint"]).arg(run_dir);
    with_stdin(cmd.args(flags(extra)), input)
}

/// `trm sample --prompt PROMPT` with the same flags.
fn sample_as_chat(run_dir: &Path, prompt: &str, extra: &[&str]) -> String {
    sample(run_dir, &[&["--prompt", prompt], extra].concat())
}

#[test]
fn chat_continues_each_line_with_the_conversation_as_context() {
    let (_dir, r) = causal_run();
    // one reply per line (a newline stop string keeps each on one line), then a clean exit at
    // the end of input
    let session = "ROMEO. What\nJULIET. O\n";
    let o = chat(&r, &[&stop("\n")], session);
    let out = ok(&o);
    assert_eq!(
        stderr(&o),
        "",
        "no prompt marker when stdin is not a terminal"
    );
    assert_eq!(out.matches('\n').count(), 2, "{out:?}");
    let first = out.lines().next().unwrap();
    // the first reply is what `sample` prints after the same line, with the same seed and flags
    assert_eq!(
        sample_as_chat(&r, "ROMEO. What", &[&stop("\n")]),
        format!("ROMEO. What{first}\n")
    );
    // a session is reproducible
    assert_eq!(ok(&chat(&r, &[&stop("\n")], session)), out);

    // without a stop string: the first reply is the whole continuation sample prints
    let reply = sample_as_chat(&r, "ROMEO.", &[]);
    let reply = reply.strip_prefix("ROMEO.").unwrap();
    let out = ok(&chat(&r, &[], "ROMEO.\nJULIET.\n"));
    let second = out
        .strip_prefix(reply)
        .unwrap_or_else(|| panic!("chat {out:?} vs sample {reply:?}"));
    // the second turn, drawn with the next seed, sees the first: a fresh start reads otherwise
    let fresh = sample_as_chat(&r, "JULIET.", &["--seed", "8"]);
    let fresh = fresh.strip_prefix("JULIET.").unwrap();
    assert_ne!(second, fresh, "the second reply ignored the conversation");
    // after /reset it is exactly that fresh start
    let out = ok(&chat(&r, &[], "ROMEO.\n/reset\nJULIET.\n"));
    assert_eq!(out, format!("{reply}{fresh}"));

    // no input at all: a clean exit with nothing printed
    assert_eq!(ok(&chat(&r, &[], "")), "");
}
