//! Streams one string column of a Parquet file row by row, one record batch in memory at a time.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Result};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::ChunkReader;

use crate::config::BUILTIN_CORPUS;

/// The built-in corpus (Tiny Shakespeare as Parquet, 440 KB), so that the installed binary trains
/// from any folder without data files.
static BUILTIN_BYTES: &[u8] = include_bytes!("../../corpora/shakespeare.parquet");

/// Rows decoded per record batch.
const BATCH_ROWS: usize = 1024;
/// Files named in error messages before "and N more".
const FILES_SHOWN: usize = 3;

/// Expands each entry (a path or a glob) into files: sorted, without duplicates.
pub fn expand_paths(patterns: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = BTreeSet::new();
    for pattern in patterns {
        if pattern == BUILTIN_CORPUS {
            files.insert(PathBuf::from(BUILTIN_CORPUS));
            continue;
        }
        // a file whose name holds glob characters (`data[1].parquet`) is itself, not a pattern
        let literal = std::fs::symlink_metadata(pattern).is_ok();
        if is_glob(pattern) && !literal {
            let matches = glob_files(pattern)?;
            ensure!(
                !matches.is_empty(),
                "data pattern '{pattern}' matches no file"
            );
            files.extend(matches);
        } else {
            let path = PathBuf::from(pattern);
            if let Err(e) = std::fs::metadata(&path) {
                if e.kind() == std::io::ErrorKind::NotFound && !literal {
                    bail!("data file {pattern} does not exist");
                }
                // a dangling link, a link loop, no permission: say what it is
                bail!("cannot read data file {pattern}: {e}");
            }
            ensure!(
                path.is_file(),
                "data path {pattern} is not a file (use a glob such as {pattern}/*.parquet)"
            );
            files.insert(path);
        }
    }
    Ok(files.into_iter().collect())
}

/// "a, b, c and 4 more": the first few files, for error messages.
pub(crate) fn list_files(files: &[PathBuf]) -> String {
    let shown: Vec<String> = files
        .iter()
        .take(FILES_SHOWN)
        .map(|f| f.display().to_string())
        .collect();
    let mut list = shown.join(", ");
    if files.len() > FILES_SHOWN {
        list.push_str(&format!(" and {} more", files.len() - FILES_SHOWN));
    }
    list
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

fn glob_files(pattern: &str) -> Result<Vec<PathBuf>> {
    let paths = glob::glob(pattern).map_err(|e| anyhow!("bad glob pattern '{pattern}': {e}"))?;
    let mut files = Vec::new();
    for path in paths {
        let path = path.map_err(|e| anyhow!("glob '{pattern}': {e}"))?;
        if path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

/// The rows of one Parquet file's string column, in order, from a starting row.
pub struct TextRows {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    batch: Option<ArrayRef>,
    /// Next row within `batch`.
    pos: usize,
}

impl TextRows {
    /// Opens `path` to read `column` from row `start_row` on (rows past the end read nothing).
    pub fn open(path: &Path, column: &str, start_row: u64) -> Result<Self> {
        match builtin(path) {
            Some(bytes) => Self::open_from(bytes, path, column, start_row),
            None => Self::open_from(open_file(path)?, path, column, start_row),
        }
    }

    fn open_from<R: ChunkReader + 'static>(
        source: R,
        path: &Path,
        column: &str,
        start_row: u64,
    ) -> Result<Self> {
        let (builder, root) = open_column(source, path, column)?;
        let (row_groups, skip) = row_groups_from(builder.metadata(), start_row);
        let mask = ProjectionMask::roots(builder.parquet_schema(), [root]);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .with_row_groups(row_groups)
            .with_offset(skip)
            .build()
            .map_err(|e| unreadable(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            batch: None,
            pos: 0,
        })
    }

    /// Row count from the file's metadata, after checking that `column` is a string column.
    pub fn num_rows(path: &Path, column: &str) -> Result<u64> {
        let metadata = match builtin(path) {
            Some(bytes) => open_column(bytes, path, column)?.0.metadata().clone(),
            None => open_column(open_file(path)?, path, column)?
                .0
                .metadata()
                .clone(),
        };
        Ok(metadata.file_metadata().num_rows().max(0) as u64)
    }

    /// The next row: `None` at the end of the file, `Some(None)` for a null.
    pub fn next_row(&mut self) -> Result<Option<Option<String>>> {
        loop {
            if let Some(batch) = self.batch.as_ref().filter(|b| self.pos < b.len()) {
                let cell = string_at(batch.as_ref(), self.pos).ok_or_else(|| {
                    anyhow!(
                        "{}: column changed to {} mid-file",
                        self.path.display(),
                        batch.data_type()
                    )
                })?;
                self.pos += 1;
                return Ok(Some(cell.map(str::to_string)));
            }
            match self.reader.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(unreadable(&self.path, e)),
                Some(Ok(batch)) => {
                    let column = batch.column(0).clone();
                    // a dictionary of strings (a categorical column) as the plain strings
                    let column = match column.data_type() {
                        DataType::Dictionary(_, _) => {
                            arrow::compute::cast(&column, &DataType::Utf8)
                                .map_err(|e| unreadable(&self.path, e))?
                        }
                        _ => column,
                    };
                    self.batch = Some(column);
                    self.pos = 0;
                }
            }
        }
    }
}

fn unreadable(path: &Path, error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{}: not a readable Parquet file: {error}", path.display())
}

/// The bytes of the built-in corpus when `path` names it.
fn builtin(path: &Path) -> Option<bytes::Bytes> {
    (path.as_os_str() == BUILTIN_CORPUS).then(|| bytes::Bytes::from_static(BUILTIN_BYTES))
}

fn open_file(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| anyhow!("cannot open data file {}: {e}", path.display()))
}

/// A reader builder for `source` (read from `path`) and the index of `column`, checked to be a
/// string column.
fn open_column<R: ChunkReader + 'static>(
    source: R,
    path: &Path,
    column: &str,
) -> Result<(ParquetRecordBatchReaderBuilder<R>, usize)> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(source).map_err(|e| unreadable(path, e))?;
    let schema = builder.schema();
    let Some((index, field)) = schema.fields().find(column) else {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        bail!(
            "{}: no column '{column}' (columns: {})",
            path.display(),
            names.join(", ")
        );
    };
    let string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    match field.data_type() {
        t if string(t) => Ok((builder, index)),
        DataType::Dictionary(_, values) if string(values) => Ok((builder, index)),
        other => bail!(
            "{}: column '{column}' is {other}, not a string column",
            path.display()
        ),
    }
}

/// The row groups that hold `start_row` and later rows, and how many rows to skip in the first.
fn row_groups_from(metadata: &ParquetMetaData, start_row: u64) -> (Vec<usize>, usize) {
    let mut skip = start_row;
    let mut groups = Vec::new();
    for (index, group) in metadata.row_groups().iter().enumerate() {
        let rows = group.num_rows().max(0) as u64;
        if groups.is_empty() && skip >= rows {
            skip -= rows;
        } else {
            groups.push(index);
        }
    }
    (groups, skip as usize)
}

/// Row `i` of a Utf8, LargeUtf8 or Utf8View array (`Some(None)` for a null); `None` for other types.
fn string_at(array: &dyn Array, i: usize) -> Option<Option<&str>> {
    if array.is_null(i) {
        return Some(None);
    }
    let text = if let Some(a) = array.as_string_opt::<i32>() {
        a.value(i)
    } else if let Some(a) = array.as_string_opt::<i64>() {
        a.value(i)
    } else {
        array.as_string_view_opt()?.value(i)
    };
    Some(Some(text))
}
