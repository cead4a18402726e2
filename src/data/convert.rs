//! Converts .txt and .jsonl files into a zstd Parquet file with one Utf8 column `text`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, ensure, Result};
use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::files::replace_with;

/// Rows per row group, at most.
const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Encoded bytes per row group, at most (keeps the writer's buffer bounded for long documents).
const ROW_GROUP_BYTES: usize = 64 << 20;
/// A record batch is handed to the writer once it holds this many rows or bytes.
const BATCH_ROWS: usize = 4096;
const BATCH_BYTES: usize = 8 << 20;
const ZSTD_LEVEL: i32 = 3;

/// How a text file becomes rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DocSplit {
    /// The whole file is one row.
    File,
    /// Blank-line separated paragraphs.
    Paragraph,
    /// Each non-blank line.
    Line,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertStats {
    pub files: usize,
    pub rows: usize,
    /// UTF-8 bytes of text written.
    pub bytes: usize,
}

/// Writes the rows of `inputs` to `out`, atomically ([`replace_with`]).
/// Text files are cut by `split`; .jsonl/.ndjson lines are JSON objects whose string field
/// `jsonl_field` becomes the row. Blank text pieces are skipped; JSONL rows are kept as they are.
pub fn convert_to_parquet(
    inputs: &[PathBuf],
    out: &Path,
    split: DocSplit,
    jsonl_field: &str,
) -> Result<ConvertStats> {
    ensure!(!inputs.is_empty(), "no input files to convert");
    replace_with(out, |tmp| write_rows(inputs, tmp, split, jsonl_field))
}

fn write_rows(
    inputs: &[PathBuf],
    path: &Path,
    split: DocSplit,
    jsonl_field: &str,
) -> Result<ConvertStats> {
    let mut writer = RowWriter::create(path)?;
    for input in inputs {
        let reader = open_input(input)?;
        if is_jsonl(input) {
            read_jsonl(reader, input, jsonl_field, &mut writer)?;
        } else {
            read_text(reader, input, split, &mut writer)?;
        }
        writer.stats.files += 1;
    }
    writer.finish()
}

fn open_input(path: &Path) -> Result<BufReader<File>> {
    if path.is_dir() {
        bail!(
            "input {} is a folder: give its files (e.g. {}/*.txt)",
            path.display(),
            path.display()
        );
    }
    let file =
        File::open(path).map_err(|e| anyhow!("cannot open input {}: {e}", path.display()))?;
    Ok(BufReader::new(file))
}

fn is_jsonl(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| ext.eq_ignore_ascii_case("jsonl") || ext.eq_ignore_ascii_case("ndjson"))
}

/// Lines of `reader` with their 1-based numbers; a read error (e.g. bad UTF-8) names file:line.
fn numbered_lines<'a>(
    reader: BufReader<File>,
    path: &'a Path,
) -> impl Iterator<Item = Result<(usize, String)>> + 'a {
    reader.lines().enumerate().map(move |(i, line)| {
        line.map(|text| (i + 1, text)).map_err(|e| {
            anyhow!(
                "{}:{}: cannot read as UTF-8 text: {e}",
                path.display(),
                i + 1
            )
        })
    })
}

fn read_jsonl(
    reader: BufReader<File>,
    path: &Path,
    field: &str,
    writer: &mut RowWriter,
) -> Result<()> {
    for line in numbered_lines(reader, path) {
        let (number, line) = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| anyhow!("{}:{number}: not valid JSON: {e}", path.display()))?;
        let text = match value.get(field) {
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(other) => anyhow::bail!(
                "{}:{number}: field '{field}' is not a string: {other}",
                path.display()
            ),
            None => anyhow::bail!("{}:{number}: no string field '{field}'", path.display()),
        };
        writer.push(text)?;
    }
    Ok(())
}

fn read_text(
    reader: BufReader<File>,
    path: &Path,
    split: DocSplit,
    writer: &mut RowWriter,
) -> Result<()> {
    match split {
        DocSplit::File => read_whole(reader, path, writer),
        DocSplit::Paragraph => read_paragraphs(reader, path, writer),
        DocSplit::Line => {
            for line in numbered_lines(reader, path) {
                writer.push_nonblank(line?.1)?;
            }
            Ok(())
        }
    }
}

fn read_whole(mut reader: BufReader<File>, path: &Path, writer: &mut RowWriter) -> Result<()> {
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| anyhow!("{}: cannot read as UTF-8 text: {e}", path.display()))?;
    writer.push_nonblank(text)
}

/// Rows are runs of non-blank lines, joined with "\n".
fn read_paragraphs(reader: BufReader<File>, path: &Path, writer: &mut RowWriter) -> Result<()> {
    let mut paragraph = String::new();
    for line in numbered_lines(reader, path) {
        let (_, line) = line?;
        if line.trim().is_empty() {
            writer.push_nonblank(std::mem::take(&mut paragraph))?;
            continue;
        }
        if !paragraph.is_empty() {
            paragraph.push('\n');
        }
        paragraph.push_str(&line);
    }
    writer.push_nonblank(paragraph)
}

/// Accumulates rows into record batches for an `ArrowWriter`.
struct RowWriter {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    path: PathBuf,
    batch: Vec<String>,
    batch_bytes: usize,
    stats: ConvertStats,
}

impl RowWriter {
    fn create(path: &Path) -> Result<Self> {
        let file =
            File::create(path).map_err(|e| anyhow!("cannot create {}: {e}", path.display()))?;
        let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, false)]));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| anyhow!("cannot start Parquet file {}: {e}", path.display()))?;
        let stats = ConvertStats::default();
        Ok(Self {
            writer,
            schema,
            path: path.to_path_buf(),
            batch: Vec::new(),
            batch_bytes: 0,
            stats,
        })
    }

    fn push_nonblank(&mut self, text: String) -> Result<()> {
        if text.trim().is_empty() {
            return Ok(());
        }
        self.push(text)
    }

    fn push(&mut self, text: String) -> Result<()> {
        self.stats.rows += 1;
        self.stats.bytes += text.len();
        self.batch_bytes += text.len();
        self.batch.push(text);
        if self.batch.len() >= BATCH_ROWS || self.batch_bytes >= BATCH_BYTES {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<()> {
        let rows = StringArray::from(std::mem::take(&mut self.batch));
        self.batch_bytes = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), vec![Arc::new(rows)])?;
        self.writer
            .write(&batch)
            .map_err(|e| anyhow!("cannot write {}: {e}", self.path.display()))
    }

    fn finish(mut self) -> Result<ConvertStats> {
        self.write_batch()?;
        self.writer
            .close()
            .map_err(|e| anyhow!("cannot finish {}: {e}", self.path.display()))?;
        Ok(self.stats)
    }
}
