//! TbWriter checked against TensorBoard's own Python reader (`tools/read_tensorboard.py`,
//! which uses `EventAccumulator`). Needs `python3` with `pip install tensorboard`; without
//! it these tests fail (on purpose) rather than skip.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use trm::log::TbWriter;

mod common;
use common::{read_tensorboard, temp};

#[derive(Debug, PartialEq)]
enum Num {
    /// Value rounded to f32, which is what TensorBoard stores.
    F32(f32),
    NonFinite(String),
}

fn num(v: f64) -> Num {
    if v.is_nan() {
        Num::NonFinite("nan".into())
    } else if v.is_infinite() {
        Num::NonFinite(if v > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        Num::F32(v as f32)
    }
}

#[derive(Debug, Default, PartialEq)]
struct Read {
    scalars: BTreeMap<String, Vec<(u64, Num)>>,
    text: BTreeMap<String, Vec<(u64, String)>>,
}

/// Reads `dir` with TensorBoard's EventAccumulator via tools/read_tensorboard.py.
fn read_back(dir: &Path) -> Read {
    let json = read_tensorboard(dir);
    let mut read = Read::default();
    for (tag, points) in json["scalars"].as_object().expect("scalars object") {
        let points = points.as_array().unwrap().iter().map(|p| {
            let step = p[0].as_u64().expect("step");
            let v = match &p[1] {
                Value::String(s) => Num::NonFinite(s.clone()),
                v => Num::F32(v.as_f64().expect("number") as f32),
            };
            (step, v)
        });
        read.scalars.insert(tag.clone(), points.collect());
    }
    for (tag, points) in json["text"].as_object().expect("text object") {
        let points = points.as_array().unwrap().iter().map(|p| {
            let step = p[0].as_u64().expect("step");
            (
                step,
                p[1].as_str()
                    .expect("one string per text event")
                    .to_string(),
            )
        });
        read.text.insert(tag.clone(), points.collect());
    }
    read
}

fn event_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tfevents"))
        .collect();
    names.sort();
    names
}

fn scalars(points: &[(u64, f64)]) -> Vec<(u64, Num)> {
    points.iter().map(|&(s, v)| (s, num(v))).collect()
}

fn texts(points: &[(u64, &str)]) -> Vec<(u64, String)> {
    points.iter().map(|&(s, t)| (s, t.to_string())).collect()
}

#[test]
fn scalars_and_text_round_trip_through_tensorboard_reader() {
    let tmp = temp("tb-round-trip");
    let dir = tmp.path().join("run1");
    let loss = [
        (0, 0.1),
        (1, 1e-8),
        (2, 12345.678),
        (10, -3.5),
        (1 << 40, 0.0),
    ];
    let lr = [
        (0, 3e-4),
        (5, 1e-3),
        (7, f64::NAN),
        (8, f64::INFINITY),
        (9, f64::NEG_INFINITY),
    ];
    let one = [(3, 1.0)];
    let sample = [
        (0, "héllo 世界 🙂"),
        (1, "line one\nline two\n\n  indented | pipe\ttab"),
        (2, ""),
        (3, "**markdown** <b>html</b> \"quotes\" \\ backslash"),
    ];
    let cfg = [(0, "d_model = 512\nlr = 3e-4\n")];
    {
        let mut tb = TbWriter::new(&dir).unwrap();
        assert!(tb.path().starts_with(&dir));
        // Interleave tags the way a training loop would.
        for i in 0..5 {
            tb.scalar("train/loss", loss[i].1, loss[i].0).unwrap();
            tb.scalar("train/lr", lr[i].1, lr[i].0).unwrap();
            if i < sample.len() - 1 {
                tb.text("sample", sample[i].1, sample[i].0).unwrap();
            }
        }
        tb.scalar("eval/acc", one[0].1, one[0].0).unwrap();
        tb.text("sample", sample[3].1, sample[3].0).unwrap();
        tb.text("config", cfg[0].1, cfg[0].0).unwrap();
        tb.flush().unwrap();
    }
    assert_eq!(event_files(&dir).len(), 1);

    let read = read_back(&dir);
    let mut want = Read::default();
    want.scalars.insert("train/loss".into(), scalars(&loss));
    want.scalars.insert("train/lr".into(), scalars(&lr));
    want.scalars.insert("eval/acc".into(), scalars(&one));
    want.text.insert("sample".into(), texts(&sample));
    want.text.insert("config".into(), texts(&cfg));
    assert_eq!(read, want);
}

#[test]
fn two_sequential_writers_in_one_dir_are_both_read_back() {
    let tmp = temp("tb-sequential");
    let dir = tmp.path();
    {
        let mut tb = TbWriter::new(dir).unwrap();
        for step in 0..3 {
            tb.scalar("loss", 1.0 / (step as f64 + 1.0), step).unwrap();
        }
        tb.text("note", "first run", 0).unwrap();
    } // dropped without an explicit flush: drop must write the buffer
    {
        // "Resumed" run, opened within the same second by the same process.
        let mut tb = TbWriter::new(dir).unwrap();
        for step in 3..6 {
            tb.scalar("loss", 1.0 / (step as f64 + 1.0), step).unwrap();
        }
        tb.text("note", "resumed", 3).unwrap();
        tb.flush().unwrap();
    }
    assert_eq!(event_files(dir).len(), 2, "{:?}", event_files(dir));

    let read = read_back(dir);
    let loss: Vec<(u64, f64)> = (0..6).map(|s| (s, 1.0 / (s as f64 + 1.0))).collect();
    let mut want = Read::default();
    want.scalars.insert("loss".into(), scalars(&loss));
    want.text
        .insert("note".into(), texts(&[(0, "first run"), (3, "resumed")]));
    assert_eq!(read, want);
}

#[test]
fn two_writers_open_at_once_write_separate_files() {
    let tmp = temp("tb-concurrent");
    let dir = tmp.path();
    let mut a = TbWriter::new(dir).unwrap();
    let mut b = TbWriter::new(dir).unwrap();
    assert_ne!(a.path(), b.path());
    for step in 0..4 {
        a.scalar("a", step as f64, step).unwrap();
        b.scalar("b", -(step as f64), step).unwrap();
    }
    a.text("t", "from a", 1).unwrap();
    a.flush().unwrap();
    b.flush().unwrap();
    assert_eq!(event_files(dir).len(), 2);

    let read = read_back(dir);
    let mut want = Read::default();
    want.scalars.insert(
        "a".into(),
        scalars(&[(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]),
    );
    want.scalars.insert(
        "b".into(),
        scalars(&[(0, 0.0), (1, -1.0), (2, -2.0), (3, -3.0)]),
    );
    want.text.insert("t".into(), texts(&[(1, "from a")]));
    assert_eq!(read, want);
}

#[test]
fn flush_makes_events_readable_while_the_writer_is_open() {
    let tmp = temp("tb-flush");
    let mut tb = TbWriter::new(tmp.path()).unwrap();
    // A fresh file (only the file-version event) reads as empty.
    assert_eq!(read_back(tmp.path()), Read::default());

    tb.scalar("loss", 2.5, 7).unwrap();
    tb.text("sample", "abc", 7).unwrap();
    tb.flush().unwrap();
    let read = read_back(tmp.path());
    assert_eq!(read.scalars["loss"], scalars(&[(7, 2.5)]));
    assert_eq!(read.text["sample"], texts(&[(7, "abc")]));

    tb.scalar("loss", 2.0, 8).unwrap();
    tb.flush().unwrap();
    assert_eq!(
        read_back(tmp.path()).scalars["loss"],
        scalars(&[(7, 2.5), (8, 2.0)])
    );
}

#[test]
fn new_fails_with_the_dir_in_the_error_when_it_cannot_be_created() {
    let tmp = temp("tb-bad-dir");
    let file = tmp.path().join("not_a_dir");
    std::fs::write(&file, b"x").unwrap();
    let dir = file.join("logs");
    let err = TbWriter::new(&dir).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&dir.display().to_string()),
        "error does not name the dir: {msg}"
    );
}

#[test]
fn step_beyond_int64_is_an_error_not_a_panic() {
    let tmp = temp("tb-big-step");
    let mut tb = TbWriter::new(tmp.path()).unwrap();
    assert!(tb.scalar("x", 1.0, u64::MAX).is_err());
    assert!(tb.text("x", "y", i64::MAX as u64 + 1).is_err());
    // The writer is still usable and the rejected events were not written.
    tb.scalar("x", 1.0, i64::MAX as u64).unwrap();
    tb.flush().unwrap();
    let read = read_back(tmp.path());
    assert_eq!(read.scalars["x"], scalars(&[(i64::MAX as u64, 1.0)]));
    assert!(read.text.is_empty());
}
