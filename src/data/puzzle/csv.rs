//! CSV: the one reader of the project's CSV files, and the puzzle CSV format of Sudoku-Extreme
//! and Maze-Hard (`source,question,answer,rating`).
//!
//! Reading follows RFC 4180 as Python's `csv` module writes it: fields may be quoted (quotes
//! doubled inside), quoted fields may hold commas and line breaks, lines end in LF or CRLF, and
//! unquoted fields keep their spaces (maze rows start and end with spaces). Writing quotes a
//! field only when it must.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use crate::files::replace_with;

/// One puzzle: where it came from, the question and answer strings, and a difficulty rating.
#[derive(Clone, Debug, PartialEq)]
pub struct PuzzleRow {
    pub source: String,
    pub question: String,
    pub answer: String,
    pub rating: f64,
}

/// The columns every file must have (any order; extra columns are ignored), and the header we
/// write.
const COLUMNS: [&str; 4] = ["source", "question", "answer", "rating"];

/// One parsed record: its fields and the (1-based) line it starts on.
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A CSV file read one record at a time, whatever its columns (the first record is usually the
/// header). Empty lines are skipped; a UTF-8 byte-order mark at the start is dropped. Errors
/// name the file and the line: "FILE:LINE: message".
pub struct CsvFile {
    name: String,
    records: Records<BufReader<File>>,
}

impl CsvFile {
    /// Opens `path` for reading ("FILE: cannot read" when it cannot).
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("{name}: cannot read"))?;
        Ok(Self {
            name,
            records: Records::new(BufReader::new(file)),
        })
    }

    /// The next record that is not an empty line, or None at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        let name = &self.name;
        self.records
            .next_record()
            .map_err(|e| anyhow!("{name}:{e}"))
    }
}

/// Reads a puzzle CSV. The header must name the columns source, question, answer and rating;
/// every record must have as many fields as the header. Empty lines are skipped. The file is
/// read record by record, so only the rows are held in memory.
pub fn read_csv(path: &Path) -> Result<Vec<PuzzleRow>> {
    let name = path.display();
    let mut records = CsvFile::open(path)?;
    let Some(header) = records.next_record()? else {
        bail!(
            "{name}: empty file (expected a header {})",
            COLUMNS.join(",")
        );
    };
    let index = column_indices(&header.fields).with_context(|| format!("{name}:1"))?;
    let mut rows = Vec::new();
    while let Some(record) = records.next_record()? {
        let row = to_row(&record, &index, header.fields.len())
            .with_context(|| format!("{name}:{}", record.line))?;
        rows.push(row);
    }
    Ok(rows)
}

/// Where each of `COLUMNS` sits in the header.
fn column_indices(header: &[String]) -> Result<[usize; 4]> {
    let mut index = [0; 4];
    for (slot, column) in index.iter_mut().zip(COLUMNS) {
        *slot = header
            .iter()
            .position(|h| h.trim() == column)
            .with_context(|| {
                format!("header lacks column {column:?} (has {})", header.join(","))
            })?;
    }
    Ok(index)
}

/// Converts one record, checking its field count and rating.
fn to_row(record: &Record, index: &[usize; 4], width: usize) -> Result<PuzzleRow> {
    let fields = &record.fields;
    if fields.len() != width {
        bail!("expected {width} fields, got {}", fields.len());
    }
    let field = |i: usize| fields[index[i]].clone();
    let rating_text = fields[index[3]].trim();
    let rating = rating_text
        .parse::<f64>()
        .with_context(|| format!("rating {rating_text:?} is not a number"))?;
    Ok(PuzzleRow {
        source: field(0),
        question: field(1),
        answer: field(2),
        rating,
    })
}

/// Reads records one at a time; a record spans several lines only when a quoted field holds a
/// line break. Errors read "LINE: message".
struct Records<R> {
    reader: R,
    /// Lines read so far (so the number of the last line read).
    line: usize,
    text: String,
}

impl<R: std::io::BufRead> Records<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            text: String::new(),
        }
    }

    /// The next record that is not an empty line, or None at the end of the input.
    fn next_record(&mut self) -> std::result::Result<Option<Record>, String> {
        loop {
            self.text.clear();
            if !self.read_line()? {
                return Ok(None);
            }
            if self.line == 1 && self.text.starts_with('\u{feff}') {
                self.text.drain(..'\u{feff}'.len_utf8());
            }
            let start = self.line;
            let fields = loop {
                let parsed = parse_record(&self.text).map_err(|e| format!("{}: {e}", self.line))?;
                match parsed {
                    Some(fields) => break fields,
                    None if self.read_line()? => {}
                    None => return Err(format!("{start}: unterminated quoted field")),
                }
            };
            if fields.len() > 1 || !fields[0].is_empty() {
                return Ok(Some(Record {
                    line: start,
                    fields,
                }));
            }
        }
    }

    /// Appends the next line (with its line break) to `text`; false at the end of the input.
    fn read_line(&mut self) -> std::result::Result<bool, String> {
        let n = self
            .reader
            .read_line(&mut self.text)
            .map_err(|e| format!("{}: {e}", self.line + 1))?;
        self.line += usize::from(n > 0);
        Ok(n > 0)
    }
}

/// Parses one record from text ending at a line break (LF or CRLF) or at the end of the input
/// (RFC 4180: `""` inside a quoted field is one quote). Returns None when a quoted field is
/// still open at the end, i.e. the record continues on the next line.
fn parse_record(text: &str) -> std::result::Result<Option<Vec<String>>, String> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Ok(None),
                    Some('"') if chars.next_if_eq(&'"').is_none() => break,
                    Some(ch) => field.push(ch),
                }
            }
        } else {
            while let Some(ch) = chars.next_if(|&ch| !matches!(ch, ',' | '\r' | '\n')) {
                field.push(ch);
            }
        }
        fields.push(field);
        match chars.next() {
            Some(',') => {}
            None | Some('\n') => return Ok(Some(fields)),
            Some('\r') if matches!(chars.peek(), None | Some('\n')) => return Ok(Some(fields)),
            Some('\r') => return Err("carriage return inside an unquoted field".into()),
            Some(ch) => return Err(format!("unexpected {ch:?} after a closing quote")),
        }
    }
}

/// Writes rows with the header `source,question,answer,rating` (LF line ends), atomically
/// ([`replace_with`]): readers never see half a file.
pub fn write_csv(path: &Path, rows: &[PuzzleRow]) -> Result<()> {
    let records: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.source.clone(),
                r.question.clone(),
                r.answer.clone(),
                format_rating(r.rating),
            ]
        })
        .collect();
    write_table(path, &COLUMNS, &records)
}

/// Writes any table: a header and records of as many fields, quoted only where needed, LF line
/// ends, atomically ([`replace_with`]).
pub fn write_table(path: &Path, header: &[&str], records: &[Vec<String>]) -> Result<()> {
    replace_with(path, |tmp| {
        let write = || -> std::io::Result<()> {
            let mut out = std::io::BufWriter::new(File::create(tmp)?);
            writeln!(out, "{}", header.join(","))?;
            for record in records {
                let fields: Vec<_> = record.iter().map(|f| quote(f)).collect();
                writeln!(out, "{}", fields.join(","))?;
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()
        };
        write().with_context(|| format!("{}: cannot write", tmp.display()))
    })
}

/// The `source` and `question` of every row of a puzzle CSV whose other columns (an answer, a
/// rating) may be absent: what a solver reads. A missing `source` column numbers the rows.
pub fn read_questions(path: &Path) -> Result<Vec<(String, String)>> {
    let name = path.display();
    let mut records = CsvFile::open(path)?;
    let Some(header) = records.next_record()? else {
        bail!("{name}: empty file (expected a header with a question column)");
    };
    let find = |column: &str| header.fields.iter().position(|h| h.trim() == column);
    let question = find("question").with_context(|| {
        format!(
            "{name}:1: header lacks column \"question\" (has {})",
            header.fields.join(",")
        )
    })?;
    let source = find("source");
    let mut rows = Vec::new();
    while let Some(record) = records.next_record()? {
        if record.fields.len() != header.fields.len() {
            bail!(
                "{name}:{}: expected {} fields, got {}",
                record.line,
                header.fields.len(),
                record.fields.len()
            );
        }
        let id = match source {
            Some(i) => record.fields[i].clone(),
            None => format!("row{}", rows.len() + 1),
        };
        rows.push((id, record.fields[question].clone()));
    }
    Ok(rows)
}

/// A field as CSV: quoted (quotes doubled) only if it holds a comma, quote or line break, or
/// starts or ends with a space.
fn quote(field: &str) -> std::borrow::Cow<'_, str> {
    let needs =
        field.contains([',', '"', '\r', '\n']) || field.starts_with(' ') || field.ends_with(' ');
    if needs {
        format!("\"{}\"", field.replace('"', "\"\"")).into()
    } else {
        field.into()
    }
}

/// A rating as text: an integer when it is one (e.g. "37", not "37.0"), else the shortest
/// decimal that reads back exactly.
fn format_rating(rating: f64) -> String {
    if rating.fract() == 0.0 && rating.abs() < 1e15 {
        format!("{}", rating as i64)
    } else {
        format!("{rating}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh, empty directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir =
                std::env::temp_dir().join(format!("trm-csv-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn row(source: &str, question: &str, answer: &str, rating: f64) -> PuzzleRow {
        PuzzleRow {
            source: source.into(),
            question: question.into(),
            answer: answer.into(),
            rating,
        }
    }

    /// Rows exercising every quoting rule.
    fn tricky_rows() -> Vec<PuzzleRow> {
        vec![
            row("puzzles0_kaggle", &"1.3".repeat(27), &"123".repeat(27), 0.0),
            row("maze", "# S  G #", "# Sooo G#", 0.0),
            row("maze", "  leading and trailing  ", " x ", 3.0),
            row("a,b", "say \"hi\"", "\"", 2.5),
            row("multi\nline", "cr\r\nlf", "", -7.0),
            row("", "", "", 1e20),
        ]
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let dir = TempDir::new("round-trip");
        let path = dir.0.join("rows.csv");
        let rows = tricky_rows();
        write_csv(&path, &rows).unwrap();
        assert_eq!(read_csv(&path).unwrap(), rows);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("source,question,answer,rating\n"));
        assert!(text.contains("maze,# S  G #,# Sooo G#,0\n"), "{text}");
        assert!(text.contains(",2.5\n"));
        assert!(text.contains("\"a,b\",\"say \"\"hi\"\"\",\"\"\"\",2.5"));
        // Only the file itself is left behind (the temporary one was renamed).
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);
    }

    #[test]
    fn reads_what_python_csv_writer_writes() {
        let dir = TempDir::new("python");
        let path = dir.0.join("py.csv");
        let script = r#"
import csv, sys
rows = [
    ["source", "question", "answer", "rating"],
    ["sudoku", "5.3" * 27, "523" * 27, 17],
    ["maze", " #  S #G  ", " #oooS#G  ", 0],
    ["has,comma", 'has "quote"', "", 2.5],
    ["new\nline", "x", "y", 1.0],
]
with open(sys.argv[1], "w", newline="") as f:
    csv.writer(f).writerows(rows)
"#;
        let status = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&path)
            .status()
            .unwrap_or_else(|e| panic!("this test needs python3 on PATH: {e}"));
        assert!(status.success(), "python3 failed: {status}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\r\n"), "csv.writer ends lines with CRLF");
        let expected = vec![
            row("sudoku", &"5.3".repeat(27), &"523".repeat(27), 17.0),
            row("maze", " #  S #G  ", " #oooS#G  ", 0.0),
            row("has,comma", "has \"quote\"", "", 2.5),
            row("new\nline", "x", "y", 1.0),
        ];
        assert_eq!(read_csv(&path).unwrap(), expected);
    }

    #[test]
    fn header_columns_may_come_in_any_order() {
        let dir = TempDir::new("order");
        let path = dir.0.join("o.csv");
        std::fs::write(&path, "rating,answer,extra,question,source\n4,A,z,Q,S\n\n").unwrap();
        assert_eq!(read_csv(&path).unwrap(), vec![row("S", "Q", "A", 4.0)]);
        // A byte-order mark, CRLF, no final line break, a quoted header name.
        let text = "\u{feff}source,\"question\",answer,rating\r\nS, Q ,A,1.5";
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_csv(&path).unwrap(), vec![row("S", " Q ", "A", 1.5)]);
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let dir = TempDir::new("errors");
        let path = dir.0.join("bad.csv");
        let error = |text: &str| {
            std::fs::write(&path, text).unwrap();
            format!("{:#}", read_csv(&path).unwrap_err())
        };
        let e = error("");
        assert!(e.contains("bad.csv") && e.contains("empty file"), "{e}");
        let e = error("source,question,rating\nx,y,1\n");
        assert!(e.contains("bad.csv:1") && e.contains("\"answer\""), "{e}");
        let e = error("source,question,answer,rating\na,b,c,1\na,b,1\n");
        assert!(
            e.contains("bad.csv:3") && e.contains("expected 4 fields, got 3"),
            "{e}"
        );
        let e = error("source,question,answer,rating\na,b,c,hard\n");
        assert!(e.contains("bad.csv:2") && e.contains("not a number"), "{e}");
        let e = error("source,question,answer,rating\na,\"b,c,1\n");
        assert!(e.contains("bad.csv:2") && e.contains("unterminated"), "{e}");
        let e = error("source,question,answer,rating\na,\"b\"x,c,1\n");
        assert!(
            e.contains("bad.csv:2") && e.contains("after a closing quote"),
            "{e}"
        );
        // Line numbers count the line breaks inside quoted fields.
        let e = error("source,question,answer,rating\n\"a\nb\",b,c,1\na,b,c\n");
        assert!(e.contains("bad.csv:4") && e.contains("got 3"), "{e}");
        let e = error("source,question,answer,rating\na,b\rc,c,1\n");
        assert!(
            e.contains("bad.csv:2") && e.contains("carriage return"),
            "{e}"
        );
        let e = format!("{:#}", read_csv(&dir.0.join("missing.csv")).unwrap_err());
        assert!(
            e.contains("missing.csv") && e.contains("cannot read"),
            "{e}"
        );
    }

    #[test]
    fn ratings_are_written_as_integers_when_integral() {
        assert_eq!(format_rating(0.0), "0");
        assert_eq!(format_rating(37.0), "37");
        assert_eq!(format_rating(-2.0), "-2");
        assert_eq!(format_rating(2.5), "2.5");
        assert_eq!(format_rating(0.1), "0.1");
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("in side"), "in side");
        assert_eq!(quote(" lead"), "\" lead\"");
        assert_eq!(quote("q\""), "\"q\"\"\"");
    }
}
