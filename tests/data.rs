//! Integration tests of the data module: tokenizers, Parquet streaming, packing, resume, conversion.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use trm::data::{
    convert_to_parquet, eval_windows, expand_paths, train_bpe, DocSplit, LoaderConfig, LoaderState,
    Split, StreamDecoder, TextRows, TextTokenizer, TokenLoader,
};

mod common;
use common::{shared_data, temp};

const GPT2_TEXT: &str = "Hello world! The quick brown fox.";
const GPT2_IDS: [u32; 8] = [15496, 995, 0, 383, 2068, 7586, 21831, 13];
const MULTIBYTE: &str = "héllo 世界 🙂";
const EOT: &str = "<|endoftext|>";

// ---------- helpers ----------

#[track_caller]
fn gpt2() -> Option<PathBuf> {
    shared_data("tokenizer/gpt2/tokenizer.json")
}

const PYTHON_PRELUDE: &str = "import sys, json
try:
    import pyarrow as pa, pyarrow.parquet as pq
except ImportError:
    sys.exit(97)
data = json.load(sys.stdin)
";

/// Runs `code` in Python with pyarrow imported as `pa`/`pq` and `data` read from JSON; returns stdout.
fn python(code: &str, data: Value) -> String {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(format!("{PYTHON_PRELUDE}{code}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("these tests need python3 with pyarrow");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(data.to_string().as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(97),
        "pyarrow is not installed: run `pip install pyarrow`"
    );
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Writes one column `column` of pyarrow type `pa_type` (e.g. "string", "large_string").
fn write_column(
    path: &Path,
    column: &str,
    pa_type: &str,
    rows: &[Option<&str>],
    row_group_size: usize,
) {
    python(
        "t = pa.table({data['column']: pa.array(data['rows'], type=getattr(pa, data['type'])())})
pq.write_table(t, data['path'], row_group_size=data['rgs'])",
        json!({"path": path, "column": column, "type": pa_type, "rows": rows, "rgs": row_group_size}),
    );
}

fn write_texts(path: &Path, rows: &[&str], row_group_size: usize) {
    let rows: Vec<Option<&str>> = rows.iter().copied().map(Some).collect();
    write_column(path, "text", "string", &rows, row_group_size);
}

fn read_all(path: &Path, column: &str, start_row: u64) -> Vec<Option<String>> {
    let mut rows = TextRows::open(path, column, start_row).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next_row().unwrap() {
        out.push(row);
    }
    out
}

fn owned(rows: &[Option<&str>]) -> Vec<Option<String>> {
    rows.iter().map(|r| r.map(str::to_string)).collect()
}

fn config(
    files: Vec<PathBuf>,
    split: Split,
    seq_len: usize,
    batch_size: usize,
    shuffle_buffer: usize,
) -> LoaderConfig {
    LoaderConfig {
        files,
        text_column: "text".to_string(),
        split,
        val_fraction: 0.2,
        batch_size,
        seq_len,
        shuffle_buffer,
        seed: 7,
    }
}

fn error_of<T>(result: anyhow::Result<T>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn stream_decode(tok: &TextTokenizer, ids: &[u32]) -> String {
    let mut stream = StreamDecoder::new(tok);
    let mut text: String = ids.iter().map(|&id| stream.push(id)).collect();
    text.push_str(&stream.finish());
    text
}

/// A small English + multi-byte training text.
fn training_text() -> String {
    let line = format!("The quick brown fox jumps over the lazy dog. {MULTIBYTE} naïve café.\n");
    line.repeat(40)
}

fn trained_bpe(dir: &Path) -> TextTokenizer {
    let txt = dir.join("train.txt");
    fs::write(&txt, training_text()).unwrap();
    train_bpe(&[txt], "text", 300, 0.0).unwrap()
}

// ---------- tokenizers ----------

#[test]
fn gpt2_tokenizer_matches_reference_ids() {
    let Some(path) = gpt2() else { return };
    let tok = TextTokenizer::from_spec(path.to_str().unwrap()).unwrap();
    assert_eq!(tok.encode(GPT2_TEXT), GPT2_IDS);
    assert_eq!(tok.eot_id(), 50256);
    assert_eq!(tok.vocab_size(), 50257);
    assert_eq!(tok.decode(&GPT2_IDS), GPT2_TEXT);
    assert!(tok.describe().starts_with("BPE"), "{}", tok.describe());
}

#[test]
fn tokenizer_is_clone_send_and_sync() {
    fn shareable<T: Clone + Send + Sync>() {}
    shareable::<TextTokenizer>();
}

#[test]
fn bytes_tokenizer_ids_save_and_load() {
    let tok = TextTokenizer::from_spec("bytes").unwrap();
    assert_eq!(tok.encode("ab"), [97, 98]);
    assert_eq!((tok.eot_id(), tok.vocab_size()), (256, 257));
    assert_eq!(tok.decode(&[104, 105, 256]), format!("hi{EOT}"));
    assert_eq!(tok.describe(), "bytes (257)");

    let dir = temp("bytes-tokenizer");
    let path = dir.path().join("tok.json");
    tok.save(&path).unwrap();
    let loaded = TextTokenizer::from_file(&path).unwrap();
    assert_eq!(loaded.vocab_size(), 257);
    assert_eq!(loaded.fingerprint(), tok.fingerprint());
}

#[test]
fn hub_id_resolves_through_local_cache_only() {
    let Some(gpt2) = gpt2() else { return };
    let home = temp("hf-home");
    let repo = home.path().join("hub/models--openai-community--gpt2");
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::create_dir_all(repo.join("snapshots/0123abcd")).unwrap();
    fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    fs::copy(&gpt2, repo.join("snapshots/0123abcd/tokenizer.json")).unwrap();
    // The only test that reads HF_HOME.
    std::env::set_var("HF_HOME", home.path());

    let tok = TextTokenizer::from_spec("openai-community/gpt2").unwrap();
    assert_eq!(tok.encode(GPT2_TEXT), GPT2_IDS);
    assert_eq!(
        tok.fingerprint(),
        TextTokenizer::from_file(&gpt2).unwrap().fingerprint()
    );
    assert!(
        tok.describe().contains("openai-community/gpt2"),
        "{}",
        tok.describe()
    );

    let message = error_of(TextTokenizer::from_spec("nobody/missing-model"));
    assert!(
        message.contains(&home.path().join("hub").display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("models--nobody--missing-model"),
        "{message}"
    );
}

#[test]
fn bad_tokenizer_files_are_errors_naming_them() {
    let dir = temp("bad-tokenizer");
    let message = error_of(TextTokenizer::from_spec("no/such/tokenizer.json"));
    assert!(message.contains("no/such/tokenizer.json"), "{message}");

    let not_json = dir.path().join("garbage.json");
    fs::write(&not_json, "{ not json").unwrap();
    let message = error_of(TextTokenizer::from_file(&not_json));
    assert!(message.contains("garbage.json"), "{message}");

    let no_eot = dir.path().join("word_level.json");
    let json = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"}
    });
    fs::write(&no_eot, json.to_string()).unwrap();
    let message = error_of(TextTokenizer::from_file(&no_eot));
    assert!(
        message.contains("word_level.json") && message.contains("no end-of-text token"),
        "{message}"
    );
}

#[test]
fn trained_bpe_survives_save_and_load() {
    let dir = temp("bpe-save-load");
    let tok = trained_bpe(dir.path());
    assert!(
        tok.vocab_size() <= 300 && tok.vocab_size() > 257,
        "{}",
        tok.vocab_size()
    );
    assert_eq!(tok.encode(EOT), [tok.eot_id()]);

    let path = dir.path().join("out/tokenizer.json");
    tok.save(&path).unwrap();
    let loaded = TextTokenizer::from_file(&path).unwrap();
    for text in [GPT2_TEXT, MULTIBYTE, "The lazy dog.\n\nnaïve", ""] {
        assert_eq!(loaded.encode(text), tok.encode(text), "{text}");
        assert_eq!(loaded.decode(&tok.encode(text)), text);
    }
    assert_eq!(loaded.fingerprint(), tok.fingerprint());
    assert_eq!(
        (loaded.eot_id(), loaded.vocab_size()),
        (tok.eot_id(), tok.vocab_size())
    );
    // Saving is verbatim: a second save gives the same bytes.
    let again = dir.path().join("again.json");
    loaded.save(&again).unwrap();
    assert_eq!(fs::read(&path).unwrap(), fs::read(&again).unwrap());
}

#[test]
fn train_bpe_reads_parquet_text_column() {
    let dir = temp("bpe-parquet");
    let file = dir.path().join("corpus.parquet");
    let text = training_text();
    let rows: Vec<&str> = text.lines().collect();
    write_texts(&file, &rows, 16);
    let tok = train_bpe(std::slice::from_ref(&file), "text", 280, 0.0).unwrap();
    assert!(tok.encode("The quick brown fox").len() < "The quick brown fox".len());

    let message = error_of(train_bpe(&[file], "body", 280, 0.0));
    assert!(message.contains("no column 'body'"), "{message}");
}

#[test]
fn train_bpe_leaves_out_the_validation_split() {
    // One made-up word per row, repeated: a row the tokenizer reads has its word merged into one
    // or two tokens; a row held out (the loader's hash split) leaves its word in pieces.
    let dir = temp("bpe-val-split");
    let file = dir.path().join("corpus.parquet");
    let letters = b"bcdfghjklmnpqrstvwxz";
    let words: Vec<String> = (0..24usize)
        .map(|i| {
            (0..6)
                .map(|j| letters[(i * 7 + j * (i % 5 + 3)) % letters.len()] as char)
                .collect()
        })
        .collect();
    let rows: Vec<String> = words.iter().map(|w| format!("{w} ").repeat(40)).collect();
    let row_refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    write_texts(&file, &row_refs, 8);
    let val_fraction = 0.3;
    let held: Vec<bool> = rows
        .iter()
        .map(|r| trm::data::split::held_out(r, val_fraction))
        .collect();
    assert!(
        held.iter().any(|&h| h) && held.iter().any(|&h| !h),
        "{held:?}"
    );

    let split = train_bpe(std::slice::from_ref(&file), "text", 600, val_fraction).unwrap();
    let all = train_bpe(std::slice::from_ref(&file), "text", 600, 0.0).unwrap();
    for (word, &held) in words.iter().zip(&held) {
        let piece = format!(" {word}");
        assert!(
            all.encode(&piece).len() <= 2,
            "{word}: {:?}",
            all.encode(&piece)
        );
        let n = split.encode(&piece).len();
        if held {
            assert!(n >= 4, "held-out word {word} was learned: {n} tokens");
        } else {
            assert!(n <= 2, "training word {word} was not learned: {n} tokens");
        }
    }

    let txt = dir.path().join("plain.txt");
    fs::write(&txt, "some text\n").unwrap();
    let message = error_of(train_bpe(&[txt], "text", 300, 0.05));
    assert!(
        message.contains("plain.txt") && message.contains("no validation split"),
        "{message}"
    );
}

#[test]
fn stream_decoder_output_equals_decode() {
    let dir = temp("stream-decoder");
    let mut tokenizers = vec![TextTokenizer::bytes(), trained_bpe(dir.path())];
    if let Some(path) = gpt2() {
        tokenizers.push(TextTokenizer::from_file(&path).unwrap());
    }
    for tok in &tokenizers {
        let mut ids = tok.encode(MULTIBYTE);
        ids.push(tok.eot_id());
        ids.extend(tok.encode(MULTIBYTE));
        let expected = format!("{MULTIBYTE}{EOT}{MULTIBYTE}");
        assert_eq!(tok.decode(&ids), expected, "{}", tok.describe());
        assert_eq!(stream_decode(tok, &ids), expected, "{}", tok.describe());
    }
    // A cut-off character: held back while streaming, U+FFFD at the end, as in decode().
    let bytes = TextTokenizer::bytes();
    let ids = bytes.encode(MULTIBYTE);
    let cut = &ids[..ids.len() - 1];
    assert_eq!(stream_decode(&bytes, cut), bytes.decode(cut));
    assert!(bytes.decode(cut).ends_with('\u{FFFD}'));
    let mut stream = StreamDecoder::new(&bytes);
    let printed: Vec<String> = bytes
        .encode("é")
        .iter()
        .map(|&id| stream.push(id))
        .collect();
    assert_eq!(printed, ["", "é"]);
}

// ---------- Parquet ----------

#[test]
fn expand_paths_sorts_dedupes_and_names_missing_inputs() {
    let dir = temp("expand-paths");
    for name in ["b.parquet", "a.parquet", "notes.txt"] {
        fs::write(dir.path().join(name), "x").unwrap();
    }
    let d = dir.path().display();
    let files = expand_paths(&[format!("{d}/*.parquet"), format!("{d}/a.parquet")]).unwrap();
    assert_eq!(
        files,
        [dir.path().join("a.parquet"), dir.path().join("b.parquet")]
    );

    let message = error_of(expand_paths(&[format!("{d}/*.arrow")]));
    assert!(message.contains("*.arrow"), "{message}");
    let message = error_of(expand_paths(&[format!("{d}/missing.parquet")]));
    assert!(message.contains("missing.parquet"), "{message}");
}

#[test]
fn reads_utf8_large_utf8_and_utf8_view_columns() {
    let dir = temp("utf8-columns");
    let rows = [Some("first"), None, Some(""), Some(MULTIBYTE)];
    let mut types = vec!["string", "large_string"];
    if python("print(hasattr(pa, 'string_view'))", json!(null)).trim() == "True" {
        types.push("string_view");
    } else {
        eprintln!("skipping string_view: this pyarrow has no pa.string_view()");
    }
    for pa_type in types {
        let path = dir.path().join(format!("{pa_type}.parquet"));
        write_column(&path, "text", pa_type, &rows, 1024);
        assert_eq!(read_all(&path, "text", 0), owned(&rows), "{pa_type}");
        assert_eq!(TextRows::num_rows(&path, "text").unwrap(), 4);
    }
}

#[test]
fn reads_row_groups_in_order_and_starts_mid_file() {
    let dir = temp("row-groups");
    let path = dir.path().join("groups.parquet");
    let texts: Vec<String> = (0..10).map(|i| format!("row {i}")).collect();
    let rows: Vec<&str> = texts.iter().map(String::as_str).collect();
    write_texts(&path, &rows, 3);
    let groups = python("print(pq.ParquetFile(data).num_row_groups)", json!(path));
    assert_eq!(groups.trim(), "4");

    for start in [0, 2, 3, 4, 7, 9, 10, 12] {
        let expected: Vec<Option<String>> = texts.iter().skip(start).cloned().map(Some).collect();
        assert_eq!(
            read_all(&path, "text", start as u64),
            expected,
            "start {start}"
        );
    }
}

#[test]
fn bad_files_and_columns_are_errors_naming_them() {
    let dir = temp("bad-files");
    let good = dir.path().join("good.parquet");
    write_texts(&good, &["hello there"; 200], 1024);

    let message = error_of(TextRows::open(&good, "body", 0));
    assert!(
        message.contains("good.parquet") && message.contains("no column 'body' (columns: text)"),
        "{message}"
    );

    let ints = dir.path().join("ints.parquet");
    python(
        "pq.write_table(pa.table({'text': pa.array([1, 2], type=pa.int64())}), data)",
        json!(ints),
    );
    let message = error_of(TextRows::open(&ints, "text", 0));
    assert!(
        message.contains("ints.parquet")
            && message.contains("'text' is Int64, not a string column"),
        "{message}"
    );

    let bytes = fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.parquet");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let message = error_of(TextRows::open(&truncated, "text", 0));
    assert!(
        message.contains("truncated.parquet") && message.contains("not a readable Parquet file"),
        "{message}"
    );

    let missing = dir.path().join("missing.parquet");
    let message = error_of(TextRows::open(&missing, "text", 0));
    assert!(message.contains("missing.parquet"), "{message}");

    // The loader checks every file's column before reading anything.
    let cfg = config(vec![good.clone(), ints], Split::All, 4, 2, 0);
    let message = error_of(TokenLoader::new(cfg, TextTokenizer::bytes()));
    assert!(message.contains("ints.parquet"), "{message}");
}

#[test]
fn empty_corpus_is_an_error_with_counts() {
    let dir = temp("empty-corpus");
    let blank = dir.path().join("blank.parquet");
    write_column(
        &blank,
        "text",
        "string",
        &[None, Some(""), Some("  \n")],
        1024,
    );
    let no_rows = dir.path().join("no_rows.parquet");
    write_texts(&no_rows, &[], 1024);

    let cfg = config(vec![blank, no_rows], Split::All, 4, 2, 0);
    let mut loader = TokenLoader::new(cfg.clone(), TextTokenizer::bytes()).unwrap();
    let message = error_of(loader.next_batch());
    assert!(
        message.contains("no usable text: 3 rows read, 1 null, 2 empty"),
        "{message}"
    );
    assert!(
        message.contains("blank.parquet") && message.contains("no_rows.parquet"),
        "{message}"
    );
    let message = error_of(eval_windows(&cfg, &TextTokenizer::bytes(), 10));
    assert!(message.contains("no usable text"), "{message}");
}

// ---------- loader ----------

#[test]
fn byte_packing_matches_hand_computed_windows() {
    let dir = temp("byte-packing");
    let path = dir.path().join("tiny.parquet");
    write_texts(&path, &["ab", "c"], 1024);
    // Stream: a b EOT c EOT | a b EOT c EOT | ... cut into windows of seq_len + 1 = 3.
    let mut loader = TokenLoader::new(
        config(vec![path.clone()], Split::All, 2, 2, 0),
        TextTokenizer::bytes(),
    )
    .unwrap();
    assert_eq!(loader.next_batch().unwrap(), [[97, 98, 256], [99, 256, 97]]);
    assert_eq!(loader.next_batch().unwrap(), [[98, 256, 99], [256, 97, 98]]);
    let stats = loader.stats();
    assert_eq!((stats.docs, stats.tokens, stats.epoch), (5, 13, 2));

    let windows = eval_windows(
        &config(vec![path], Split::All, 1, 1, 0),
        &TextTokenizer::bytes(),
        100,
    )
    .unwrap();
    assert_eq!(windows, [[97, 98], [256, 99]]);
}

#[test]
fn nulls_and_empty_rows_are_skipped_and_counted() {
    let dir = temp("nulls");
    let path = dir.path().join("holes.parquet");
    write_column(
        &path,
        "text",
        "large_string",
        &[Some("x"), None, Some(""), Some(" \t"), Some("y")],
        2,
    );
    let mut loader = TokenLoader::new(
        config(vec![path], Split::All, 1, 2, 0),
        TextTokenizer::bytes(),
    )
    .unwrap();
    assert_eq!(loader.next_batch().unwrap(), [[120, 256], [121, 256]]);
    let stats = loader.stats();
    assert_eq!(
        (
            stats.rows_read,
            stats.null_rows,
            stats.empty_rows,
            stats.docs
        ),
        (5, 1, 2, 2)
    );
}

/// The documents in one pass of `split`, decoded from its windows (seq_len 1 loses at most the
/// final token, so only the last document may be cut).
fn split_docs(files: &[PathBuf], split: Split) -> Vec<String> {
    let bytes = TextTokenizer::bytes();
    let windows =
        eval_windows(&config(files.to_vec(), split, 1, 1, 0), &bytes, usize::MAX).unwrap();
    let text = bytes.decode(&windows.concat());
    let mut docs: Vec<String> = text.split(EOT).map(str::to_string).collect();
    docs.pop();
    docs
}

#[test]
fn train_and_val_never_share_a_document() {
    let dir = temp("train-val-split");
    let mut texts: Vec<String> = (0..300)
        .map(|i| format!("document {i}: some words"))
        .collect();
    texts.extend((0..20).map(|i| format!("document {i}: some words")));
    let (first, second) = texts.split_at(160);
    let files = [dir.path().join("p1.parquet"), dir.path().join("p2.parquet")];
    write_texts(
        &files[0],
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
        50,
    );
    write_texts(
        &files[1],
        &second.iter().map(String::as_str).collect::<Vec<_>>(),
        50,
    );

    let train = split_docs(&files, Split::Train);
    let val = split_docs(&files, Split::Val);
    let train_set: HashSet<&String> = train.iter().collect();
    assert!(
        val.iter().all(|doc| !train_set.contains(doc)),
        "a document is in both splits"
    );
    assert!(train.len() + val.len() >= texts.len() - 2);
    let share = val.len() as f64 / texts.len() as f64;
    assert!((0.1..0.3).contains(&share), "val share {share}");
    let all = split_docs(&files, Split::All);
    assert!(all.len() >= texts.len() - 1);
}

fn resume_corpus(dir: &Path) -> Vec<PathBuf> {
    (0..3)
        .map(|f| {
            let path = dir.join(format!("part{f}.parquet"));
            let texts: Vec<String> = (0..25)
                .map(|i| format!("file {f} doc {i} {}", "z".repeat(i % 7)))
                .collect();
            write_texts(
                &path,
                &texts.iter().map(String::as_str).collect::<Vec<_>>(),
                4,
            );
            path
        })
        .collect()
}

/// Takes batches `k..k + more` from a loader restored after `k` batches (its state through JSON).
fn batches_after_restore(
    cfg: &LoaderConfig,
    tok: &TextTokenizer,
    k: usize,
    more: usize,
) -> (Vec<Vec<Vec<u32>>>, Value) {
    let mut first = TokenLoader::new(cfg.clone(), tok.clone()).unwrap();
    for _ in 0..k {
        first.next_batch().unwrap();
    }
    let json = serde_json::to_value(first.state()).unwrap();
    let state: LoaderState = serde_json::from_value(json.clone()).unwrap();
    let mut second = TokenLoader::new(cfg.clone(), tok.clone()).unwrap();
    second.restore(state).unwrap();
    assert_eq!(second.stats(), first.stats());
    (
        (0..more).map(|_| second.next_batch().unwrap()).collect(),
        json,
    )
}

#[test]
fn restore_continues_exactly_mid_file_and_across_epochs() {
    let dir = temp("restore");
    let files = resume_corpus(dir.path());
    let tok = TextTokenizer::bytes();
    for shuffle in [0, 16] {
        let cfg = config(files.clone(), Split::Train, 12, 4, shuffle);
        let mut reference = TokenLoader::new(cfg.clone(), tok.clone()).unwrap();
        let all: Vec<_> = (0..60).map(|_| reference.next_batch().unwrap()).collect();
        assert!(reference.stats().epoch >= 2, "the run must cross epochs");

        let (mut saw_mid_file, mut saw_later_file) = (false, false);
        for k in [1, 5, 13, 22, 37, 45] {
            let (batches, state) = batches_after_restore(&cfg, &tok, k, 10);
            assert_eq!(
                batches,
                all[k..k + 10],
                "shuffle {shuffle}, restored after {k} batches"
            );
            saw_mid_file |= state["next_row"].as_u64().unwrap() > 0;
            saw_later_file |= state["file_index"].as_u64().unwrap() > 0;
        }
        assert!(saw_mid_file && saw_later_file);
    }
}

#[test]
fn shuffle_draws_from_a_bounded_window_of_the_stream() {
    let dir = temp("shuffle");
    let files = resume_corpus(dir.path());
    let first_windows = |shuffle, batches| {
        let cfg = config(files.clone(), Split::All, 8, 10, shuffle);
        let mut loader = TokenLoader::new(cfg, TextTokenizer::bytes()).unwrap();
        (0..batches)
            .flat_map(|_| loader.next_batch().unwrap())
            .collect::<Vec<_>>()
    };
    let plain = first_windows(0, 12);
    let shuffled = first_windows(20, 10);
    assert_ne!(shuffled, plain[..100]);
    // With 20 windows buffered, the first 100 draws all come from the first 120 windows.
    let mut unused = plain.clone();
    for window in &shuffled {
        let at = unused
            .iter()
            .position(|w| w == window)
            .expect("a shuffled window not in the stream");
        unused.swap_remove(at);
    }
}

#[test]
fn restore_rejects_a_state_from_another_setup() {
    let dir = temp("restore-rejects");
    let files = resume_corpus(dir.path());
    let mut loader = TokenLoader::new(
        config(files.clone(), Split::All, 8, 2, 4),
        TextTokenizer::bytes(),
    )
    .unwrap();
    loader.next_batch().unwrap();
    let state = loader.state();

    let mut other = TokenLoader::new(
        config(files.clone(), Split::All, 16, 2, 4),
        TextTokenizer::bytes(),
    )
    .unwrap();
    assert!(error_of(other.restore(state.clone())).contains("seq_len 8"));
    let mut fewer = TokenLoader::new(
        config(files[..2].to_vec(), Split::All, 8, 2, 4),
        TextTokenizer::bytes(),
    )
    .unwrap();
    assert!(error_of(fewer.restore(state)).contains("3 data files"));
}

#[test]
fn eval_windows_are_capped_and_need_one_full_window() {
    let dir = temp("eval-windows");
    let files = resume_corpus(dir.path());
    let tok = TextTokenizer::bytes();
    let cfg = config(files.clone(), Split::All, 8, 1, 0);
    assert_eq!(eval_windows(&cfg, &tok, 5).unwrap().len(), 5);
    let all = eval_windows(&cfg, &tok, usize::MAX).unwrap();
    assert!(all.iter().all(|w| w.len() == 9));
    assert!(tok.decode(&all[0]).starts_with("file 0 do"));

    let huge = config(files, Split::All, 100_000, 1, 0);
    let message = error_of(eval_windows(&huge, &tok, 5));
    assert!(
        message.contains("no evaluation window") && message.contains("part0.parquet"),
        "{message}"
    );
}

// ---------- conversion ----------

fn read_back(path: &Path) -> (Vec<String>, Value) {
    let out = python(
        "f = pq.ParquetFile(data)
print(json.dumps({'rows': f.read().column('text').to_pylist(),
                  'codec': f.metadata.row_group(0).column(0).compression,
                  'type': str(f.schema_arrow.field('text').type)}))",
        json!(path),
    );
    let value: Value = serde_json::from_str(&out).unwrap();
    let rows = serde_json::from_value(value["rows"].clone()).unwrap();
    (rows, value)
}

#[test]
fn converted_text_and_jsonl_read_back_identically_in_pyarrow() {
    let dir = temp("convert");
    let txt = dir.path().join("play.txt");
    fs::write(
        &txt,
        "Title line\nsecond line\n\n\n  \nNext paragraph\n\nLast\n",
    )
    .unwrap();
    let jsonl = dir.path().join("docs.jsonl");
    fs::write(
        &jsonl,
        format!(
            "{}\n\n{}\n",
            json!({"text": MULTIBYTE, "id": 1}),
            json!({"text": "two\nlines"})
        ),
    )
    .unwrap();
    let out = dir.path().join("sub/out.parquet");

    let stats = convert_to_parquet(
        &[txt.clone(), jsonl.clone()],
        &out,
        DocSplit::Paragraph,
        "text",
    )
    .unwrap();
    let expected = [
        "Title line\nsecond line",
        "Next paragraph",
        "Last",
        MULTIBYTE,
        "two\nlines",
    ];
    let (rows, meta) = read_back(&out);
    assert_eq!(rows, expected);
    assert_eq!(
        (meta["codec"].as_str(), meta["type"].as_str()),
        (Some("ZSTD"), Some("string"))
    );
    let bytes: usize = expected.iter().map(|s| s.len()).sum();
    assert_eq!((stats.files, stats.rows, stats.bytes), (2, 5, bytes));
    let ours: Vec<Option<String>> = expected.iter().map(|s| Some(s.to_string())).collect();
    assert_eq!(read_all(&out, "text", 0), ours);

    convert_to_parquet(std::slice::from_ref(&txt), &out, DocSplit::Line, "text").unwrap();
    assert_eq!(
        read_back(&out).0,
        ["Title line", "second line", "Next paragraph", "Last"]
    );
    convert_to_parquet(std::slice::from_ref(&txt), &out, DocSplit::File, "text").unwrap();
    assert_eq!(read_back(&out).0, [fs::read_to_string(&txt).unwrap()]);
    assert_eq!(
        fs::read_dir(dir.path().join("sub")).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn bad_jsonl_is_an_error_naming_file_and_line() {
    let dir = temp("bad-jsonl");
    let out = dir.path().join("out.parquet");
    let cases = [
        (
            "bad.jsonl",
            "{\"text\": \"ok\"}\n{oops\n",
            "bad.jsonl:2: not valid JSON",
        ),
        (
            "nofield.jsonl",
            "{\"body\": \"x\"}\n",
            "nofield.jsonl:1: no string field 'text'",
        ),
        (
            "number.jsonl",
            "{\"text\": 5}\n",
            "number.jsonl:1: field 'text' is not a string",
        ),
    ];
    for (name, content, wanted) in cases {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        let message = error_of(convert_to_parquet(
            &[path],
            &out,
            DocSplit::Paragraph,
            "text",
        ));
        assert!(message.contains(wanted), "{message}");
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        cases.len(),
        "no output or temporary file left"
    );
}

#[test]
fn every_parquet_compression_and_dictionary_strings_read_as_written() {
    let dir = temp("compressions");
    let rows = [
        Some("first row"),
        None,
        Some("dritte Zeile, ünïcödé"),
        Some("4"),
    ];
    for codec in ["none", "snappy", "gzip", "brotli", "lz4", "zstd"] {
        for dictionary in [false, true] {
            let path = dir.join(format!("{codec}-{dictionary}.parquet"));
            python(
                "arr = pa.array(data['rows'], type=pa.string())
if data['dict']:
    arr = arr.dictionary_encode()
pq.write_table(pa.table({'text': arr}), data['path'], compression=data['codec'])",
                json!({"path": path, "rows": rows, "codec": codec, "dict": dictionary}),
            );
            assert_eq!(
                read_all(&path, "text", 0),
                owned(&rows),
                "{codec}, dictionary column {dictionary}"
            );
            assert_eq!(read_all(&path, "text", 2), owned(&rows[2..]));
        }
    }
}
