//! Training windows from Parquet text: train/val split by hash, packing, bounded shuffle, exact resume.

use crate::rng::Rng;
use std::collections::VecDeque;
use std::path::PathBuf;

use anyhow::{anyhow, bail, ensure, Result};
use serde::{Deserialize, Serialize};

use super::parquet::{list_files, TextRows};
use super::split::{is_val, val_cutoff};
use super::tokenizer::TextTokenizer;

/// Which documents a loader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// Documents whose hash is not in the validation share.
    Train,
    /// The `val_fraction` share of documents, chosen by hash.
    Val,
    /// Every document (for separate validation files).
    All,
}

#[derive(Clone, Debug)]
pub struct LoaderConfig {
    pub files: Vec<PathBuf>,
    pub text_column: String,
    pub split: Split,
    /// Share of documents held out for validation when `split` is Train or Val.
    pub val_fraction: f64,
    pub batch_size: usize,
    pub seq_len: usize,
    /// Windows held for shuffling; 0 keeps corpus order.
    pub shuffle_buffer: usize,
    pub seed: u64,
}

/// Counters since the loader was created (carried through `state`/`restore`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderStats {
    pub rows_read: u64,
    pub null_rows: u64,
    /// Empty or whitespace-only rows.
    pub empty_rows: u64,
    /// Documents that belong to the other split.
    pub other_split_docs: u64,
    pub docs: u64,
    /// Tokens of the documents read, end-of-text tokens included.
    pub tokens: u64,
    /// Completed passes over the files.
    pub epoch: u64,
}

/// Everything needed to continue a `TokenLoader` exactly where it was. The tokens read but not
/// yet in a window are kept as the position they start at, not as tokens (one long document would
/// otherwise make every checkpoint's state as large as the document): a restore reads them again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoaderState {
    file_index: usize,
    next_row: u64,
    pass_docs: u64,
    /// Where the pending tokens start (None: there are none).
    #[serde(default)]
    pending_from: Option<PendingFrom>,
    /// The pending tokens themselves: only in states of older versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<u32>,
    shuffle: Vec<Vec<u32>>,
    rng: u64,
    stats: LoaderStats,
    /// Checked on restore: the state only makes sense for the same files, window and tokenizer.
    num_files: usize,
    seq_len: usize,
    tokenizer: String,
}

/// The first document whose tokens are pending, how many of its tokens are already in windows, and
/// how many documents the pending tokens span.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PendingFrom {
    file_index: usize,
    row: u64,
    offset: usize,
    docs: usize,
}

/// Endless stream of batches of packed, shuffled token windows.
pub struct TokenLoader {
    packer: Packer,
    shuffle: Vec<Vec<u32>>,
    shuffle_buffer: usize,
    rng: Rng,
    batch_size: usize,
    seq_len: usize,
}

impl TokenLoader {
    /// Checks the configuration and every file's column up front; reads nothing yet.
    pub fn new(cfg: LoaderConfig, tokenizer: TextTokenizer) -> Result<Self> {
        let packer = Packer::new(&cfg, tokenizer)?;
        Ok(Self {
            packer,
            shuffle: Vec::new(),
            shuffle_buffer: cfg.shuffle_buffer,
            rng: Rng::new(cfg.seed),
            batch_size: cfg.batch_size,
            seq_len: cfg.seq_len,
        })
    }

    /// `batch_size` windows of `seq_len + 1` tokens (inputs `row[..seq_len]`, targets `row[1..]`).
    pub fn next_batch(&mut self) -> Result<Vec<Vec<u32>>> {
        (0..self.batch_size).map(|_| self.next_window()).collect()
    }

    fn next_window(&mut self) -> Result<Vec<u32>> {
        if self.shuffle_buffer == 0 {
            return self.packer.next_window();
        }
        while self.shuffle.len() < self.shuffle_buffer {
            let window = self.packer.next_window()?;
            self.shuffle.push(window);
        }
        let pick = self.rng.below(self.shuffle.len() as u64) as usize;
        Ok(self.shuffle.swap_remove(pick))
    }

    pub fn state(&self) -> LoaderState {
        let docs = &self.packer.docs;
        LoaderState {
            file_index: docs.file_index,
            next_row: docs.next_row,
            pass_docs: docs.pass_docs,
            pending_from: self
                .packer
                .origins
                .front()
                .map(|&(file_index, row, _)| PendingFrom {
                    file_index,
                    row,
                    offset: self.packer.first_offset,
                    docs: self.packer.origins.len(),
                }),
            // tokens restored from an older state have no origins: they are kept as tokens
            pending: if self.packer.origins.is_empty() {
                self.packer.pending.iter().copied().collect()
            } else {
                Vec::new()
            },
            shuffle: self.shuffle.clone(),
            rng: self.rng.state,
            stats: docs.stats.clone(),
            num_files: docs.files.len(),
            seq_len: self.seq_len,
            tokenizer: self.packer.tokenizer.fingerprint(),
        }
    }

    /// Continues from `state`: the following batches are those the saved loader would have given.
    pub fn restore(&mut self, state: LoaderState) -> Result<()> {
        self.check_state(&state)?;
        let packer = &mut self.packer;
        packer.pending = state.pending.into();
        packer.origins.clear();
        packer.first_offset = 0;
        if let Some(from) = &state.pending_from {
            packer.replay(from)?;
        }
        let docs = &mut packer.docs;
        // the replay read up to the saved position, where the saved loader stopped reading
        ensure!(
            state.pending_from.is_none()
                || (docs.file_index, docs.next_row) == (state.file_index, state.next_row),
            "the data files changed since the checkpoint: reading its pending documents again ended at file {} row {}, not file {} row {}",
            docs.file_index,
            docs.next_row,
            state.file_index,
            state.next_row
        );
        docs.file_index = state.file_index;
        docs.next_row = state.next_row;
        docs.pass_docs = state.pass_docs;
        docs.stats = state.stats;
        docs.rows = None;
        self.shuffle = state.shuffle;
        self.rng = Rng { state: state.rng };
        Ok(())
    }

    fn check_state(&self, state: &LoaderState) -> Result<()> {
        let num_files = self.packer.docs.files.len();
        ensure!(
            state.num_files == num_files && state.file_index < num_files,
            "loader state is for {} data files, this run has {num_files}",
            state.num_files
        );
        ensure!(
            state.seq_len == self.seq_len,
            "loader state is for seq_len {}, this run has {}",
            state.seq_len,
            self.seq_len
        );
        ensure!(
            state.tokenizer == self.packer.tokenizer.fingerprint(),
            "loader state was saved with another tokenizer (fingerprint {}, this run {})",
            state.tokenizer,
            self.packer.tokenizer.fingerprint()
        );
        let window = self.seq_len + 1;
        ensure!(
            state.shuffle.len() <= self.shuffle_buffer && state.shuffle.iter().all(|w| w.len() == window),
            "loader state holds {} shuffle windows, more than shuffle_buffer {} or not {window} tokens long",
            state.shuffle.len(),
            self.shuffle_buffer
        );
        Ok(())
    }

    pub fn stats(&self) -> LoaderStats {
        self.packer.docs.stats.clone()
    }
}

/// All non-overlapping windows of one pass over the split, in corpus order, at most `max_windows`.
pub fn eval_windows(
    cfg: &LoaderConfig,
    tokenizer: &TextTokenizer,
    max_windows: usize,
) -> Result<Vec<Vec<u32>>> {
    ensure!(max_windows > 0, "max_windows must be at least 1");
    let mut packer = Packer::new(cfg, tokenizer.clone())?;
    let mut windows = Vec::new();
    while windows.len() < max_windows {
        if let Some(window) = packer.take_window() {
            windows.push(window);
        } else if !packer.read_doc()? {
            break;
        }
    }
    if windows.is_empty() {
        let stats = &packer.docs.stats;
        bail!(
            "no evaluation window: the {:?} split has {} documents, {} tokens, fewer than one window of {} (files: {})",
            cfg.split,
            stats.docs,
            stats.tokens,
            cfg.seq_len + 1,
            list_files(&cfg.files)
        );
    }
    Ok(windows)
}

fn check_config(cfg: &LoaderConfig) -> Result<()> {
    ensure!(!cfg.files.is_empty(), "no data files given");
    ensure!(cfg.batch_size > 0, "batch_size must be at least 1");
    ensure!(cfg.seq_len > 0, "seq_len must be at least 1");
    ensure!(
        (0.0..1.0).contains(&cfg.val_fraction),
        "val_fraction must be in [0, 1), got {}",
        cfg.val_fraction
    );
    ensure!(
        cfg.split != Split::Val || val_cutoff(cfg.val_fraction) > 0,
        "the val split is empty: val_fraction {} holds out no documents",
        cfg.val_fraction
    );
    for file in &cfg.files {
        TextRows::num_rows(file, &cfg.text_column)?;
    }
    Ok(())
}

/// Tokenizes documents and cuts the token stream into consecutive windows.
struct Packer {
    docs: DocReader,
    tokenizer: TextTokenizer,
    /// Tokens read but not yet in a window.
    pending: VecDeque<u32>,
    /// The documents the pending tokens come from: (file, row, tokens with end-of-text).
    origins: VecDeque<(usize, u64, usize)>,
    /// Tokens of the first of `origins` already in windows.
    first_offset: usize,
    window: usize,
}

impl Packer {
    fn new(cfg: &LoaderConfig, tokenizer: TextTokenizer) -> Result<Self> {
        check_config(cfg)?;
        Ok(Self {
            docs: DocReader::new(cfg),
            tokenizer,
            pending: VecDeque::new(),
            origins: VecDeque::new(),
            first_offset: 0,
            window: cfg.seq_len + 1,
        })
    }

    /// Read again the documents `from` names, so that the pending tokens are what they were.
    fn replay(&mut self, from: &PendingFrom) -> Result<()> {
        let docs = &mut self.docs;
        ensure!(
            from.file_index < docs.files.len(),
            "loader state names data file {} of {}",
            from.file_index,
            docs.files.len()
        );
        docs.file_index = from.file_index;
        docs.next_row = from.row;
        docs.rows = None;
        // not an empty pass: the pass counter is restored after the replay
        docs.pass_docs = 1;
        let (mut read, mut pass_ends) = (0, 0);
        while read < from.docs {
            if self.read_doc()? {
                read += 1;
            } else {
                pass_ends += 1;
                ensure!(
                    pass_ends < 2,
                    "the data files changed since the checkpoint: its pending documents are gone"
                );
            }
        }
        let first = self.origins.front().map_or(0, |o| o.2);
        ensure!(
            from.offset < first.max(1),
            "the data files changed since the checkpoint: a pending document is shorter than before"
        );
        self.pending.drain(..from.offset);
        self.first_offset = from.offset;
        Ok(())
    }

    /// The next window, reading on through as many passes over the files as needed.
    fn next_window(&mut self) -> Result<Vec<u32>> {
        loop {
            if let Some(window) = self.take_window() {
                return Ok(window);
            }
            self.read_doc()?;
        }
    }

    fn take_window(&mut self) -> Option<Vec<u32>> {
        if self.pending.len() < self.window {
            return None;
        }
        let window = self.pending.drain(..self.window).collect();
        // the documents the window used up leave the origins
        let mut taken = self.window;
        while let Some(&(_, _, len)) = self.origins.front() {
            let left = len - self.first_offset;
            if taken < left {
                self.first_offset += taken;
                break;
            }
            taken -= left;
            self.origins.pop_front();
            self.first_offset = 0;
        }
        Some(window)
    }

    /// Appends the next document's tokens and end-of-text; false at the end of a pass.
    fn read_doc(&mut self) -> Result<bool> {
        let Some(doc) = self.docs.next_doc()? else {
            return Ok(false);
        };
        let ids = self.tokenizer.try_encode(&doc).map_err(|e| {
            anyhow!(
                "{} row {}: {e}",
                self.docs.files[self.docs.file_index].display(),
                self.docs.next_row - 1
            )
        })?;
        self.docs.stats.tokens += ids.len() as u64 + 1;
        let row = self.docs.next_row - 1;
        self.origins
            .push_back((self.docs.file_index, row, ids.len() + 1));
        self.pending.extend(ids);
        self.pending.push_back(self.tokenizer.eot_id());
        Ok(true)
    }
}

/// Reads the documents of one split, file after file, and remembers where it is.
struct DocReader {
    files: Vec<PathBuf>,
    column: String,
    split: Split,
    val_cutoff: u64,
    file_index: usize,
    /// Rows of the current file already read.
    next_row: u64,
    /// Opened lazily at (`file_index`, `next_row`).
    rows: Option<TextRows>,
    /// Documents found in the current pass.
    pass_docs: u64,
    stats: LoaderStats,
}

impl DocReader {
    fn new(cfg: &LoaderConfig) -> Self {
        Self {
            files: cfg.files.clone(),
            column: cfg.text_column.clone(),
            split: cfg.split,
            val_cutoff: val_cutoff(cfg.val_fraction),
            file_index: 0,
            next_row: 0,
            rows: None,
            pass_docs: 0,
            stats: LoaderStats::default(),
        }
    }

    /// The next document of the split; `None` at the end of a pass, after which the next call
    /// starts the next epoch. A pass without any document is an error.
    fn next_doc(&mut self) -> Result<Option<String>> {
        while self.file_index < self.files.len() {
            match self.current_rows()?.next_row()? {
                Some(row) => {
                    self.next_row += 1;
                    if let Some(doc) = self.accept(row) {
                        return Ok(Some(doc));
                    }
                }
                None => {
                    self.rows = None;
                    self.file_index += 1;
                    self.next_row = 0;
                }
            }
        }
        ensure!(self.pass_docs > 0, "{}", self.no_text_message());
        self.file_index = 0;
        self.pass_docs = 0;
        self.stats.epoch += 1;
        Ok(None)
    }

    fn current_rows(&mut self) -> Result<&mut TextRows> {
        if self.rows.is_none() {
            let path = &self.files[self.file_index];
            self.rows = Some(TextRows::open(path, &self.column, self.next_row)?);
        }
        self.rows
            .as_mut()
            .ok_or_else(|| anyhow!("no open data file"))
    }

    /// Counts `row` and returns it if it is a document of this split.
    fn accept(&mut self, row: Option<String>) -> Option<String> {
        let stats = &mut self.stats;
        stats.rows_read += 1;
        let Some(text) = row else {
            stats.null_rows += 1;
            return None;
        };
        if text.trim().is_empty() {
            stats.empty_rows += 1;
            return None;
        }
        let is_val = is_val(&text, self.val_cutoff);
        let wanted = match self.split {
            Split::All => true,
            Split::Train => !is_val,
            Split::Val => is_val,
        };
        if !wanted {
            stats.other_split_docs += 1;
            return None;
        }
        stats.docs += 1;
        self.pass_docs += 1;
        Some(text)
    }

    fn no_text_message(&self) -> String {
        let s = &self.stats;
        format!(
            "corpus has no usable text: {} rows read, {} null, {} empty, {} outside the {:?} split (files: {})",
            s.rows_read,
            s.null_rows,
            s.empty_rows,
            s.other_split_docs,
            self.split,
            list_files(&self.files)
        )
    }
}
