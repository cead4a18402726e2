//! Text tokenizers: byte-level (257 ids) or a Hugging Face tokenizer.json, BPE training and streaming decode.

use std::fmt;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{anyhow, bail, ensure, Result};
use hf_hub::{Cache, Repo, RepoType};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::tokenizer::step_decode_stream;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

use super::parquet::{list_files, TextRows};
use super::split::{fnv1a64, held_out};

/// The end-of-text token that `train_bpe` adds, and the text the byte tokenizer decodes id 256 to.
const EOT_TEXT: &str = "<|endoftext|>";
/// End-of-text token names tried, in order, on a Hugging Face tokenizer.
const EOT_CANDIDATES: [&str; 4] = [EOT_TEXT, "</s>", "<eos>", "[SEP]"];
/// The byte tokenizer's end-of-text id; ids 0..=255 are the bytes themselves.
const BYTES_EOT: u32 = 256;
/// What `save` writes for the byte tokenizer, and what `from_file` recognises.
const BYTES_MARKER: &str = r#"{"trm_tokenizer":"bytes"}"#;
const BYTES_MARKER_KEY: &str = "trm_tokenizer";
/// Plain-text training input is fed to the BPE trainer in chunks of whole lines about this long.
const TEXT_CHUNK_BYTES: usize = 1 << 20;

/// A tokenizer for language modelling: cheap to clone, shareable across threads.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Bytes,
    Hf(Arc<HfTokenizer>),
}

struct HfTokenizer {
    tokenizer: Tokenizer,
    /// The tokenizer.json text, saved verbatim.
    json: String,
    /// Where it came from: a file path, a Hub id or "trained".
    source: String,
    eot: u32,
    vocab_size: usize,
    fingerprint: String,
    /// UTF-8 bytes of the text each id stands for, indexed by id (see `token_byte_lengths`).
    token_bytes: Vec<u32>,
}

impl TextTokenizer {
    /// Byte-level tokenizer: bytes 0..=255 are ids 0..=255, id 256 is end-of-text.
    pub fn bytes() -> Self {
        Self {
            inner: Inner::Bytes,
        }
    }

    /// "bytes", a tokenizer.json (or a folder holding one), or a Hugging Face model id found in
    /// the local hf-hub cache.
    pub fn from_spec(spec: &str) -> Result<Self> {
        if spec == "bytes" {
            return Ok(Self::bytes());
        }
        let path = Path::new(spec);
        if path.is_dir() {
            return Self::from_file(&path.join("tokenizer.json"));
        }
        if path.exists() {
            return Self::from_file(path);
        }
        ensure!(
            !spec.ends_with(".json"),
            "tokenizer file {spec} does not exist"
        );
        Self::from_hub_cache(spec)
    }

    /// Loads a Hugging Face tokenizer.json, or the byte tokenizer's marker file written by `save`.
    pub fn from_file(path: &Path) -> Result<Self> {
        // a FIFO or a device would block or never end
        if fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            bail!("tokenizer {} is not a regular file", path.display());
        }
        let json = fs::read_to_string(path)
            .map_err(|e| anyhow!("cannot read tokenizer file {}: {e}", path.display()))?;
        if is_bytes_marker(&json, path)? {
            return Ok(Self::bytes());
        }
        Self::from_hf_json(json, path.display().to_string())
    }

    fn from_hub_cache(model_id: &str) -> Result<Self> {
        let Some(dir) = hub_cache_dir(|key| std::env::var_os(key)) else {
            bail!("tokenizer '{model_id}' is not a file, and none of HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME or HOME is set to find the Hugging Face cache");
        };
        let cache = Cache::new(dir);
        let repo = Repo::with_revision(model_id.to_string(), RepoType::Model, "main".to_string());
        let repo_dir = cache.path().join(repo.folder_name());
        let file = cache.repo(repo).get("tokenizer.json").ok_or_else(|| {
            anyhow!(
                "tokenizer '{model_id}' is neither a file nor in the Hugging Face cache \
                 (looked for {}/refs/main -> snapshots/<hash>/tokenizer.json; set HF_HUB_CACHE \
                 or HF_HOME to another cache or pass a tokenizer.json path)",
                repo_dir.display()
            )
        })?;
        let json = fs::read_to_string(&file)
            .map_err(|e| anyhow!("cannot read tokenizer file {}: {e}", file.display()))?;
        Self::from_hf_json(json, model_id.to_string())
    }

    fn from_hf_json(json: String, source: String) -> Result<Self> {
        let tokenizer = Tokenizer::from_str(&json)
            .map_err(|e| anyhow!("{source}: not a Hugging Face tokenizer.json: {e}"))?;
        let eot = EOT_CANDIDATES
            .iter()
            .find_map(|name| tokenizer.token_to_id(name))
            .ok_or_else(|| {
                anyhow!(
                    "tokenizer {source} has no end-of-text token (looked for {})",
                    EOT_CANDIDATES.join(", ")
                )
            })?;
        let vocab_size = tokenizer
            .get_vocab(true)
            .into_values()
            .max()
            .map_or(0, |id| id as usize + 1);
        let canonical = tokenizer
            .to_string(false)
            .map_err(|e| anyhow!("{source}: cannot serialise tokenizer: {e}"))?;
        let fingerprint = hex_fingerprint(&canonical);
        if fingerprint == *bytes_equivalent_fingerprint() {
            // the byte tokenizer written as a Hugging Face tokenizer.json (`save`) reads back as
            // itself, so its fingerprint (and every run made with it) stays the same
            return Ok(Self::bytes());
        }
        let token_bytes = token_byte_lengths(&tokenizer, vocab_size, eot);
        let hf = HfTokenizer {
            tokenizer,
            json,
            source,
            eot,
            vocab_size,
            fingerprint,
            token_bytes,
        };
        Ok(Self {
            inner: Inner::Hf(Arc::new(hf)),
        })
    }

    /// Writes tokenizer.json verbatim; the byte tokenizer as an equivalent Hugging Face
    /// tokenizer.json (see [`bytes_tokenizer_json`]), so other tools load every run's tokenizer.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .map_err(|e| anyhow!("cannot create folder {}: {e}", dir.display()))?;
        }
        let text = match &self.inner {
            Inner::Bytes => bytes_tokenizer_json(),
            Inner::Hf(hf) => hf.json.clone(),
        };
        fs::write(path, text).map_err(|e| anyhow!("cannot write tokenizer {}: {e}", path.display()))
    }

    /// Token ids of `text`, no special tokens added; empty if the tokenizer fails (see `try_encode`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.try_encode(text).unwrap_or_default()
    }

    /// Token ids of `text`, no special tokens added.
    pub fn try_encode(&self, text: &str) -> Result<Vec<u32>> {
        match &self.inner {
            Inner::Bytes => Ok(text.bytes().map(u32::from).collect()),
            Inner::Hf(hf) => hf
                .tokenizer
                .encode_fast(text, false)
                .map(|encoding| encoding.get_ids().to_vec())
                .map_err(|e| anyhow!("tokenizer {} cannot encode text: {e}", hf.source)),
        }
    }

    /// Text of `ids`; special tokens are shown, incomplete UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        match &self.inner {
            Inner::Bytes => {
                let mut stream = StreamDecoder::new(self);
                let text: String = ids.iter().map(|&id| stream.push(id)).collect();
                text + &stream.finish()
            }
            Inner::Hf(hf) => hf_decode(hf, ids),
        }
    }

    /// Number of ids, including the end-of-text token.
    pub fn vocab_size(&self) -> usize {
        match &self.inner {
            Inner::Bytes => BYTES_EOT as usize + 1,
            Inner::Hf(hf) => hf.vocab_size,
        }
    }

    /// UTF-8 bytes of the text token `id` stands for, so that the tokens of a text add up to its
    /// length even where a token holds part of a character; 0 for end-of-text and other special
    /// tokens, which are not text, and for ids outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> usize {
        match &self.inner {
            Inner::Bytes => usize::from(id < BYTES_EOT),
            Inner::Hf(hf) => hf.token_bytes.get(id as usize).map_or(0, |&n| n as usize),
        }
    }

    pub fn eot_id(&self) -> u32 {
        match &self.inner {
            Inner::Bytes => BYTES_EOT,
            Inner::Hf(hf) => hf.eot,
        }
    }

    /// Stable hex hash of the canonical serialisation: equal vocab and merges give equal strings.
    pub fn fingerprint(&self) -> String {
        match &self.inner {
            Inner::Bytes => hex_fingerprint(BYTES_MARKER),
            Inner::Hf(hf) => hf.fingerprint.clone(),
        }
    }

    /// One line for logs, e.g. "bytes (257)" or "BPE gpt2 (50257)".
    pub fn describe(&self) -> String {
        match &self.inner {
            Inner::Bytes => format!("bytes ({})", self.vocab_size()),
            Inner::Hf(hf) => {
                format!(
                    "{} {} ({})",
                    model_kind(&hf.tokenizer),
                    hf.source,
                    hf.vocab_size
                )
            }
        }
    }
}

impl fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TextTokenizer({})", self.describe())
    }
}

/// The Hugging Face hub cache folder, found as Python's huggingface_hub finds it: `HF_HUB_CACHE`
/// (or its old name `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`, else
/// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. Empty values count as unset.
fn hub_cache_dir(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let var = |key: &str| var(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("HF_HUB_CACHE")
        .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| var("HF_HOME").map(|home| home.join("hub")))
        .or_else(|| var("XDG_CACHE_HOME").map(|c| c.join("huggingface/hub")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/huggingface/hub")))
}

/// The byte tokenizer as a Hugging Face tokenizer.json: a BPE without merges whose vocabulary is
/// the 256 bytes in GPT-2's byte-to-character alphabet (byte b has id b), a ByteLevel
/// pre-tokenizer without the split regex and a ByteLevel decoder, and `<|endoftext|>` as the
/// special token 256. It encodes any text to its UTF-8 bytes and decodes them back, as `bytes`
/// does (except that Hugging Face also matches the literal text `<|endoftext|>` as token 256).
pub fn bytes_tokenizer_json() -> String {
    let vocab: serde_json::Map<String, serde_json::Value> = (0..=255u8)
        .map(|b| (byte_char(b).to_string(), serde_json::Value::from(b)))
        .collect();
    let byte_level = serde_json::json!({
        "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false
    });
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [{
            "id": BYTES_EOT, "content": EOT_TEXT, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true
        }],
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": null,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": []
        }
    });
    serde_json::to_string_pretty(&json).expect("JSON serialises") + "\n"
}

/// GPT-2's printable stand-in for byte `b` (`bytes_to_unicode`): printable Latin-1 bytes stand for
/// themselves, the other 68 take the characters from U+0100 on, in byte order.
fn byte_char(b: u8) -> char {
    let printable = |x: u8| matches!(x, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return char::from(b);
    }
    let rank = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + rank).expect("a valid code point")
}

/// The fingerprint of [`bytes_tokenizer_json`] read as a Hugging Face tokenizer.
fn bytes_equivalent_fingerprint() -> &'static String {
    static FINGERPRINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        let tokenizer = Tokenizer::from_str(&bytes_tokenizer_json()).expect("valid tokenizer.json");
        hex_fingerprint(&tokenizer.to_string(false).expect("serialises"))
    })
}

/// True for the byte tokenizer's marker file; an error for a marker of an unknown kind.
fn is_bytes_marker(json: &str, path: &Path) -> Result<bool> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| anyhow!("{}: not a JSON tokenizer file: {e}", path.display()))?;
    match value.get(BYTES_MARKER_KEY) {
        None => Ok(false),
        Some(kind) if kind == "bytes" => Ok(true),
        Some(kind) => bail!("{}: unknown {BYTES_MARKER_KEY} kind {kind}", path.display()),
    }
}

/// `TextTokenizer::token_bytes` of every id below `vocab_size`. Byte-level BPE (GPT-2 style:
/// a ByteLevel decoder) maps each byte to one character of a 256-character alphabet, so a
/// token's bytes are its characters, counted as that decoder counts them (a token with a
/// character outside the alphabet stands for its own UTF-8 text). Decoding the token alone
/// instead would turn part of a character into U+FFFD (3 bytes). Other decoders: the UTF-8
/// length of the token decoded alone (exact where the decoder maps token by token).
fn token_byte_lengths(tokenizer: &Tokenizer, vocab_size: usize, eot: u32) -> Vec<u32> {
    use tokenizers::DecoderWrapper;
    let added = tokenizer.get_added_tokens_decoder();
    let byte_level = matches!(tokenizer.get_decoder(), Some(DecoderWrapper::ByteLevel(_)));
    let alphabet = ByteLevel::alphabet();
    let bytes_of = |id: u32| match (added.get(&id), tokenizer.id_to_token(id)) {
        _ if id == eot => 0,
        (Some(token), _) if token.special => 0,
        // added tokens are matched in the raw text, before the byte-level mapping
        (Some(token), _) => token.content.len(),
        (None, None) => 0,
        (None, Some(token)) if byte_level => {
            if token.chars().all(|c| alphabet.contains(&c)) {
                token.chars().count()
            } else {
                token.len()
            }
        }
        (None, Some(_)) => tokenizer.decode(&[id], false).map_or(0, |text| text.len()),
    };
    (0..vocab_size as u32)
        .map(|id| bytes_of(id) as u32)
        .collect()
}

fn model_kind(tokenizer: &Tokenizer) -> &'static str {
    use tokenizers::models::ModelWrapper;
    match tokenizer.get_model() {
        ModelWrapper::BPE(_) => "BPE",
        ModelWrapper::WordPiece(_) => "WordPiece",
        ModelWrapper::WordLevel(_) => "WordLevel",
        ModelWrapper::Unigram(_) => "Unigram",
    }
}

fn hex_fingerprint(text: &str) -> String {
    format!("{:016x}", fnv1a64(text.as_bytes()))
}

/// Incremental decoder for streaming generated text token by token.
pub struct StreamDecoder<'a> {
    state: StreamState<'a>,
}

enum StreamState<'a> {
    /// Bytes not yet printed because they may start a multi-byte character.
    Bytes(Vec<u8>),
    Hf(HfStream<'a>),
}

/// The window that `tokenizers::step_decode_stream` keeps between steps.
struct HfStream<'a> {
    hf: &'a HfTokenizer,
    ids: Vec<u32>,
    prefix: String,
    prefix_index: usize,
}

impl<'a> StreamDecoder<'a> {
    pub fn new(tok: &'a TextTokenizer) -> Self {
        let state = match &tok.inner {
            Inner::Bytes => StreamState::Bytes(Vec::new()),
            Inner::Hf(hf) => StreamState::Hf(HfStream {
                hf,
                ids: Vec::new(),
                prefix: String::new(),
                prefix_index: 0,
            }),
        };
        Self { state }
    }

    /// The new printable text after `id`; holds back an incomplete character until it completes.
    pub fn push(&mut self, id: u32) -> String {
        match &mut self.state {
            StreamState::Bytes(pending) => match u8::try_from(id) {
                Ok(byte) => {
                    pending.push(byte);
                    take_utf8(pending, false)
                }
                Err(_) => take_utf8(pending, true) + byte_special_text(id),
            },
            StreamState::Hf(stream) => stream.push(id),
        }
    }

    /// Whatever is still held back, incomplete characters as U+FFFD.
    pub fn finish(&mut self) -> String {
        match &mut self.state {
            StreamState::Bytes(pending) => take_utf8(pending, true),
            StreamState::Hf(stream) => stream.finish(),
        }
    }
}

impl HfStream<'_> {
    fn push(&mut self, id: u32) -> String {
        let step = step_decode_stream(
            &*self.hf.tokenizer,
            vec![id],
            false,
            &mut self.ids,
            &mut self.prefix,
            &mut self.prefix_index,
        );
        match step {
            Ok(text) => text.unwrap_or_default(),
            // The decoder rewrote earlier text: print the window afresh and start over.
            Err(_) => self.take_window(),
        }
    }

    fn finish(&mut self) -> String {
        let text = hf_decode(self.hf, &self.ids);
        let rest = text.strip_prefix(self.prefix.as_str()).map(str::to_string);
        let window = self.take_window();
        rest.unwrap_or(window)
    }

    /// Decodes the ids after the printed prefix and empties the window.
    fn take_window(&mut self) -> String {
        let text = hf_decode(self.hf, &self.ids[self.prefix_index..]);
        self.ids.clear();
        self.prefix.clear();
        self.prefix_index = 0;
        text
    }
}

fn hf_decode(hf: &HfTokenizer, ids: &[u32]) -> String {
    hf.tokenizer
        .decode(ids, false)
        .unwrap_or_else(|e| format!("<decode error: {e}>"))
}

/// Text for a byte tokenizer id above 255.
fn byte_special_text(id: u32) -> &'static str {
    if id == BYTES_EOT {
        EOT_TEXT
    } else {
        "\u{FFFD}"
    }
}

/// Removes and returns the printable prefix of `pending` (invalid bytes as U+FFFD, like
/// `String::from_utf8_lossy`); unless `flush`, keeps a trailing incomplete character.
fn take_utf8(pending: &mut Vec<u8>, flush: bool) -> String {
    let mut text = String::new();
    let mut held = 0;
    let mut chunks = pending.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        text.push_str(chunk.valid());
        let invalid = chunk.invalid();
        let at_end = chunks.peek().is_none();
        if at_end && !flush && is_incomplete_char(invalid) {
            held = invalid.len();
        } else if !invalid.is_empty() {
            text.push('\u{FFFD}');
        }
    }
    pending.drain(..pending.len() - held);
    text
}

/// True if `bytes` is the start of a valid multi-byte character, cut short.
fn is_incomplete_char(bytes: &[u8]) -> bool {
    !bytes.is_empty() && std::str::from_utf8(bytes).is_err_and(|e| e.error_len().is_none())
}

/// Trains a GPT-2 style byte-level BPE on the text column of Parquet files and/or plain-text
/// files, with "<|endoftext|>" as a special token. Parquet rows in the validation share
/// `val_fraction` (the loader's hash split, `data.val_fraction`) are left out, so the tokenizer
/// never sees held-out text; plain-text files have no such split and need `val_fraction` 0.
pub fn train_bpe(
    files: &[PathBuf],
    text_column: &str,
    vocab_size: usize,
    val_fraction: f64,
) -> Result<TextTokenizer> {
    let min_vocab = ByteLevel::alphabet().len() + 1;
    ensure!(
        vocab_size > min_vocab,
        "BPE vocab size must exceed {min_vocab} (256 byte symbols + end-of-text), got {vocab_size}"
    );
    ensure!(
        (0.0..1.0).contains(&val_fraction),
        "val_fraction must be in [0, 1), got {val_fraction}"
    );
    if val_fraction > 0.0 {
        if let Some(txt) = files.iter().find(|f| !is_parquet(f)) {
            bail!(
                "{}: a plain-text file has no validation split; convert it to Parquet first \
                 (trm data convert) or train with val_fraction 0",
                txt.display()
            );
        }
    }
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(EOT_TEXT, true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer =
        TokenizerBuilder::<BPE, NormalizerWrapper, ByteLevel, ByteLevel, ByteLevel>::new()
            .with_model(BPE::default())
            .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
            .with_post_processor(Some(ByteLevel::default()))
            .with_decoder(Some(ByteLevel::default()))
            .build()
            .map_err(|e| anyhow!("cannot build the BPE tokenizer: {e}"))?;

    let mut error = None;
    let mut pieces = 0;
    let text = TrainingText {
        files: files.iter(),
        column: text_column,
        val_fraction,
        source: None,
        error: &mut error,
        pieces: &mut pieces,
        parts: Default::default(),
    };
    let trained = tokenizer.train(&mut trainer, text).map(|_| ());
    if let Some(e) = error {
        return Err(e);
    }
    trained.map_err(|e| anyhow!("BPE training failed: {e}"))?;
    ensure!(
        pieces > 0,
        "no training text in {} (text column '{text_column}')",
        list_files(files)
    );

    let json = Tokenizer::from(tokenizer)
        .to_string(true)
        .map_err(|e| anyhow!("cannot serialise the trained tokenizer: {e}"))?;
    TextTokenizer::from_hf_json(json, "trained".to_string())
}

/// The training text of several files as one stream of strings; stops at the first error,
/// which it leaves in `error`.
struct TrainingText<'a> {
    files: std::slice::Iter<'a, PathBuf>,
    column: &'a str,
    val_fraction: f64,
    source: Option<TextSource>,
    error: &'a mut Option<anyhow::Error>,
    pieces: &'a mut usize,
    /// Parts of the current piece still to hand out (see [`cut_long_runs`]).
    parts: std::collections::VecDeque<String>,
}

/// Runs of non-whitespace longer than this are cut into separate training pieces.
const MAX_RUN: usize = 256;

/// `text` cut after every `MAX_RUN` characters of a run without whitespace. The BPE trainer
/// treats such a run as one word and its merges cost time in the word's length, so a long text
/// without spaces (a 400 KB row took a minute; 2 MB never ended) was quadratic; no merge of
/// ordinary text is longer than this.
fn cut_long_runs(text: String) -> Vec<String> {
    let mut run = 0;
    let mut cuts = Vec::new();
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            run = 0;
        } else {
            if run == MAX_RUN {
                cuts.push(i);
                run = 0;
            }
            run += 1;
        }
    }
    if cuts.is_empty() {
        return vec![text];
    }
    let mut parts = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        parts.push(text[start..cut].to_string());
        start = cut;
    }
    parts.push(text[start..].to_string());
    parts
}

enum TextSource {
    Parquet(TextRows),
    Text {
        path: PathBuf,
        reader: BufReader<File>,
    },
}

impl Iterator for TrainingText<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if let Some(part) = self.parts.pop_front() {
            return Some(part);
        }
        loop {
            if self.source.is_none() {
                let path = self.files.next()?;
                let opened = TextSource::open(path, self.column);
                self.source = Some(self.record(opened)?);
            }
            let piece = self.source.as_mut()?.next_piece();
            match self.record(piece)? {
                Some(piece) if held_out(&piece, self.val_fraction) => {}
                Some(piece) => {
                    *self.pieces += 1;
                    self.parts = cut_long_runs(piece).into();
                    return self.parts.pop_front();
                }
                None => self.source = None,
            }
        }
    }
}

impl TrainingText<'_> {
    fn record<T>(&mut self, result: Result<T>) -> Option<T> {
        result.map_err(|e| *self.error = Some(e)).ok()
    }
}

fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("parquet"))
}

impl TextSource {
    fn open(path: &Path, column: &str) -> Result<Self> {
        if is_parquet(path) {
            return Ok(Self::Parquet(TextRows::open(path, column, 0)?));
        }
        let file = File::open(path)
            .map_err(|e| anyhow!("cannot open text file {}: {e}", path.display()))?;
        Ok(Self::Text {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
        })
    }

    /// The next non-blank document (Parquet row) or chunk of whole lines (text file).
    fn next_piece(&mut self) -> Result<Option<String>> {
        match self {
            Self::Parquet(rows) => loop {
                match rows.next_row()? {
                    None => return Ok(None),
                    Some(Some(doc)) if !doc.trim().is_empty() => return Ok(Some(doc)),
                    Some(_) => {}
                }
            },
            Self::Text { path, reader } => read_line_chunk(reader, path),
        }
    }
}

fn read_line_chunk(reader: &mut BufReader<File>, path: &Path) -> Result<Option<String>> {
    let mut chunk = String::new();
    while chunk.len() < TEXT_CHUNK_BYTES {
        let read = reader
            .read_line(&mut chunk)
            .map_err(|e| anyhow!("{}: cannot read as UTF-8 text: {e}", path.display()))?;
        if read == 0 {
            break;
        }
    }
    Ok((!chunk.is_empty()).then_some(chunk))
}

#[cfg(test)]
mod cut_tests {
    use super::*;

    #[test]
    fn the_hub_cache_is_found_as_huggingface_hub_finds_it() {
        let find = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            hub_cache_dir(|key| {
                vars.iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            })
        };
        let all = [
            ("HF_HUB_CACHE", "/hc"),
            ("HUGGINGFACE_HUB_CACHE", "/old"),
            ("HF_HOME", "/hh"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(find(&all), Some(PathBuf::from("/hc")));
        assert_eq!(find(&all[1..]), Some(PathBuf::from("/old")));
        assert_eq!(find(&all[2..]), Some(PathBuf::from("/hh/hub")));
        assert_eq!(find(&all[3..]), Some(PathBuf::from("/xdg/huggingface/hub")));
        assert_eq!(
            find(&all[4..]),
            Some(PathBuf::from("/home/u/.cache/huggingface/hub"))
        );
        assert_eq!(
            find(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/hh")]),
            Some(PathBuf::from("/hh/hub"))
        );
        assert_eq!(find(&[]), None);
    }

    #[test]
    fn the_byte_tokenizer_as_hugging_face_json_is_the_byte_tokenizer() {
        let hf = Tokenizer::from_str(&bytes_tokenizer_json()).unwrap();
        let text = "ROMEO.\nWhat light — ünïcode 🎭 through\tyonder\r\n\u{0}\u{7f} window?";
        let ids: Vec<u32> = hf.encode(text, false).unwrap().get_ids().to_vec();
        let bytes: Vec<u32> = text.bytes().map(u32::from).collect();
        assert_eq!(ids, bytes, "Hugging Face encodes to the UTF-8 bytes");
        assert_eq!(hf.decode(&ids, false).unwrap(), text);
        assert_eq!(hf.token_to_id(EOT_TEXT), Some(BYTES_EOT));
        // GPT-2's table: printable bytes stand for themselves, byte 0 is U+0100, space U+0120
        assert_eq!(byte_char(b'A'), 'A');
        assert_eq!(byte_char(0), '\u{100}');
        assert_eq!(byte_char(b' '), '\u{120}');
        assert_eq!(byte_char(0xAD), '\u{143}');
        // written by `save`, it reads back as the byte tokenizer, with its fingerprint
        let dir = std::env::temp_dir().join(format!("trm-bytes-json-{}", std::process::id()));
        let path = dir.join("tokenizer.json");
        TextTokenizer::bytes().save(&path).unwrap();
        let back = TextTokenizer::from_file(&path).unwrap();
        assert!(matches!(back.inner, Inner::Bytes));
        assert_eq!(back.fingerprint(), TextTokenizer::bytes().fingerprint());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_runs_are_cut_and_nothing_is_lost() {
        let text = format!("ab {} cd", "x".repeat(600));
        let parts = cut_long_runs(text.clone());
        assert_eq!(parts.concat(), text);
        let runs: Vec<usize> = parts.iter().map(|p| p.trim().chars().count()).collect();
        assert!(runs.iter().all(|&n| n <= MAX_RUN + 3), "{runs:?}");
        assert_eq!(parts.len(), 3);
        assert_eq!(
            cut_long_runs("short words only".into()),
            vec!["short words only"]
        );
        // multi-byte characters are cut at character boundaries
        let wide = "é".repeat(300);
        assert_eq!(cut_long_runs(wide.clone()).concat(), wide);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_utf8_matches_lossy_decoding_and_holds_back_a_cut_character() {
        // "a", an invalid byte, "世" cut before "b", then "世" cut at the end.
        let bytes = [b'a', 0xff, 0xe4, 0xb8, b'b', 0xe4, 0xb8];
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "a\u{FFFD}\u{FFFD}b\u{FFFD}"
        );
        let mut pending = bytes.to_vec();
        assert_eq!(take_utf8(&mut pending, false), "a\u{FFFD}\u{FFFD}b");
        assert_eq!(pending, [0xe4, 0xb8]);
        pending.push(0x96);
        assert_eq!(take_utf8(&mut pending, false), "世");
        pending.push(0xe4);
        assert_eq!(take_utf8(&mut pending, true), "\u{FFFD}");
        assert!(pending.is_empty());
    }

    #[test]
    fn byte_ids_above_the_end_of_text_decode_to_replacement_characters() {
        assert_eq!(
            TextTokenizer::bytes().decode(&[104, 999, 256]),
            "h\u{FFFD}<|endoftext|>"
        );
    }
}
