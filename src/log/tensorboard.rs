//! TensorBoard event files: scalars and text summaries that TensorBoard's own reader accepts.
//!
//! The few messages needed (`Event`, `Summary`, `SessionLog`, a string `TensorProto`) are
//! encoded by hand in the Protocol Buffers wire format and framed as TFRecords (length,
//! data, masked CRC-32C), so no Protocol Buffers 2 runtime is needed (RUSTSEC-2024-0437);
//! `tensorboard-rs`, which pulled one in, also panicked on I/O errors. Here every I/O
//! error is returned.
//!
//! Scalars are a `simple_value` (`f32` precision). Text is a scalar-shaped `DT_STRING`
//! tensor with `plugin_data.plugin_name = "text"`, which is what `tf.summary.text` writes
//! and what TensorBoard's text plugin reads.
//!
//! Resuming into the same directory is supported: each writer opens a new file (never an
//! existing one) and TensorBoard merges all event files of a directory, reading them in
//! file-name order. File names start with the creation time in seconds and nanoseconds,
//! so that order is the order in which writers were opened.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};

/// Buffered events are written out at least this often (checked on each write), so a
/// running TensorBoard sees progress even if the caller never calls [`TbWriter::flush`].
const AUTO_FLUSH_EVERY: Duration = Duration::from_secs(10);

/// Distinguishes writers opened by one process within the same nanosecond-stamped name.
static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes scalars and text summaries into one new TensorBoard event file.
///
/// Not thread-safe by itself (`&mut self`); wrap it in a `Mutex` to share. Buffered data
/// is flushed on drop (errors there are ignored; call [`TbWriter::flush`] to see them).
pub struct TbWriter {
    path: PathBuf,
    writer: BufWriter<File>,
    last_flush: Instant,
    /// Set after the first failed write: the file may end in a partial record, and
    /// appending after it would make the rest unreadable, so later calls fail too.
    failed: Option<String>,
}

impl TbWriter {
    /// Creates `dir` (and parents) and a new `events.out.tfevents.*` file in it, starting
    /// with the `brain.Event:2` file-version event.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).with_context(|| {
            format!("cannot create TensorBoard log directory {}", dir.display())
        })?;
        let (file, path) = create_event_file(dir)?;
        let mut tb = TbWriter {
            path,
            writer: BufWriter::new(file),
            last_flush: Instant::now(),
            failed: None,
        };
        let event = encode::event(wall_time(), 0, encode::EVENT_FILE_VERSION, b"brain.Event:2");
        tb.write_event(&event)?;
        tb.flush()?;
        Ok(tb)
    }

    /// The event file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logs a scalar. TensorBoard stores scalars as `f32`, so `value` is rounded to `f32`.
    pub fn scalar(&mut self, tag: &str, value: f64, step: u64) -> anyhow::Result<()> {
        let summary = encode::scalar_summary(tag, value as f32);
        self.write_summary(&summary, step)
            .with_context(|| format!("TensorBoard scalar {tag:?} at step {step}"))
    }

    /// Logs a text summary (shown in TensorBoard's Text tab, rendered as Markdown there).
    pub fn text(&mut self, tag: &str, text: &str, step: u64) -> anyhow::Result<()> {
        let summary = encode::text_summary(tag, text);
        self.write_summary(&summary, step)
            .with_context(|| format!("TensorBoard text {tag:?} at step {step}"))
    }

    /// Marks a restart at `step` (a SessionLog START event): TensorBoard then drops the points
    /// at `step` and after that an interrupted earlier writer left, so a resumed run reads as one.
    pub fn session_start(&mut self, step: u64) -> anyhow::Result<()> {
        let event = encode::event(
            wall_time(),
            int64_step(step)?,
            encode::EVENT_SESSION_LOG,
            &encode::session_log_start(),
        );
        self.write_event(&event)
    }

    /// Writes buffered events to the file.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.check_ok()?;
        let result = self.writer.flush();
        self.last_flush = Instant::now();
        self.record_io(result)
    }

    fn write_summary(&mut self, summary: &[u8], step: u64) -> anyhow::Result<()> {
        let event = encode::event(
            wall_time(),
            int64_step(step)?,
            encode::EVENT_SUMMARY,
            summary,
        );
        self.write_event(&event)?;
        if self.last_flush.elapsed() >= AUTO_FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    fn write_event(&mut self, event: &[u8]) -> anyhow::Result<()> {
        self.check_ok()?;
        let result = write_record(&mut self.writer, event);
        self.record_io(result)
    }

    fn check_ok(&self) -> anyhow::Result<()> {
        match &self.failed {
            Some(msg) => bail!(
                "TensorBoard event file {} is unusable after an earlier error: {msg}",
                self.path.display()
            ),
            None => Ok(()),
        }
    }

    fn record_io(&mut self, result: std::io::Result<()>) -> anyhow::Result<()> {
        result.map_err(|e| {
            self.failed = Some(e.to_string());
            anyhow!(e).context(format!(
                "cannot write TensorBoard event file {}",
                self.path.display()
            ))
        })
    }
}

impl std::fmt::Debug for TbWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TbWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn int64_step(step: u64) -> anyhow::Result<i64> {
    i64::try_from(step).map_err(|_| anyhow!("step {step} does not fit TensorBoard's int64 step"))
}

/// Writes `data` as one TFRecord: length, its masked CRC, data, the data's masked CRC.
fn write_record(w: &mut impl Write, data: &[u8]) -> std::io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    w.write_all(&len)?;
    w.write_all(&masked_crc32c(&len).to_le_bytes())?;
    w.write_all(data)?;
    w.write_all(&masked_crc32c(data).to_le_bytes())
}

/// TFRecord's CRC: CRC-32C rotated and offset, so that a CRC stored inside checksummed
/// data does not checksum to something trivial.
fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// CRC-32C (Castagnoli), bytewise with a table built at compile time. A dozen lines here
/// beat a dependency: no new crate, no `unsafe`, and speed does not matter at a few
/// records per second.
fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = crc32c_table();
    let crc = data.iter().fold(!0u32, |crc, &b| {
        TABLE[usize::from(crc as u8 ^ b)] ^ (crc >> 8)
    });
    !crc
}

const fn crc32c_table() -> [u32; 256] {
    // Reflected form of the Castagnoli polynomial 0x1EDC6F41.
    const POLY: u32 = 0x82f6_3b78;
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// Protocol Buffers wire encoding of the few TensorBoard messages written here, field numbers as
/// in tensorflow's `event.proto`, `summary.proto`, `tensor.proto` and TensorBoard's
/// text `plugin_data.proto`. Fields are written in the order protoc-generated code
/// writes them, and proto3 rules apply: zero or empty scalars are left out, but a
/// submessage or oneof member that is set is written even when empty or zero.
mod encode {
    const VARINT: u32 = 0;
    const FIXED64: u32 = 1;
    const LEN: u32 = 2;
    const FIXED32: u32 = 5;

    /// `Event.what` members written here (all length-delimited).
    pub const EVENT_FILE_VERSION: u32 = 3;
    pub const EVENT_SUMMARY: u32 = 5;
    pub const EVENT_SESSION_LOG: u32 = 7;

    /// `DataType.DT_STRING` in `types.proto`.
    const DT_STRING: u64 = 7;
    /// `SessionLog.SessionStatus.START`.
    const SESSION_START: u64 = 1;

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn key(out: &mut Vec<u8>, field: u32, wire_type: u32) {
        varint(out, u64::from(field << 3 | wire_type));
    }

    fn len_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
        key(out, field, LEN);
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    /// `Event { wall_time = 1; step = 2; oneof what }`, `what` being the length-delimited
    /// member `what_field` (one of the `EVENT_*` constants).
    pub fn event(wall_time: f64, step: i64, what_field: u32, what: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(what.len() + 24);
        if wall_time != 0.0 {
            key(&mut out, 1, FIXED64);
            out.extend_from_slice(&wall_time.to_le_bytes());
        }
        if step != 0 {
            key(&mut out, 2, VARINT);
            // int64 is the two's complement as a varint.
            varint(&mut out, step as u64);
        }
        len_field(&mut out, what_field, what);
        out
    }

    /// `SessionLog { status = 1 }` with status START.
    pub fn session_log_start() -> Vec<u8> {
        let mut out = Vec::new();
        key(&mut out, 1, VARINT);
        varint(&mut out, SESSION_START);
        out
    }

    /// `Summary { value = 1 }` holding one `Value { tag = 1; simple_value = 2 }`.
    pub fn scalar_summary(tag: &str, value: f32) -> Vec<u8> {
        let mut v = Vec::new();
        tag_field(&mut v, tag);
        key(&mut v, 2, FIXED32);
        v.extend_from_slice(&value.to_le_bytes());
        summary(&v)
    }

    /// `Summary { value = 1 }` holding one `Value { tag = 1; metadata = 9; tensor = 8 }`
    /// with metadata `{ plugin_data = 1 { plugin_name = 1: "text" } }` (the
    /// `TextPluginData` content is version 0, which encodes to nothing) and a
    /// `TensorProto { dtype = 1: DT_STRING; tensor_shape = 2: {}; string_val = 8 }`,
    /// the empty shape meaning a scalar string, like `tf.summary.text` writes.
    pub fn text_summary(tag: &str, text: &str) -> Vec<u8> {
        let mut plugin_data = Vec::new();
        len_field(&mut plugin_data, 1, b"text");
        let mut metadata = Vec::new();
        len_field(&mut metadata, 1, &plugin_data);

        let mut tensor = Vec::new();
        key(&mut tensor, 1, VARINT);
        varint(&mut tensor, DT_STRING);
        len_field(&mut tensor, 2, &[]);
        len_field(&mut tensor, 8, text.as_bytes());

        let mut v = Vec::new();
        tag_field(&mut v, tag);
        len_field(&mut v, 9, &metadata);
        len_field(&mut v, 8, &tensor);
        summary(&v)
    }

    fn tag_field(value: &mut Vec<u8>, tag: &str) {
        if !tag.is_empty() {
            len_field(value, 1, tag.as_bytes());
        }
    }

    fn summary(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        len_field(&mut out, 1, value);
        out
    }
}

/// Opens a new, not previously existing event file in `dir`:
/// `events.out.tfevents.<secs:010>.<nanos:09>.<host>.<pid>.<seq>`.
fn create_event_file(dir: &Path) -> anyhow::Result<(File, PathBuf)> {
    let host = hostname();
    let pid = std::process::id();
    for _ in 0..1000 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seq = FILE_SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "events.out.tfevents.{:010}.{:09}.{host}.{pid}.{seq}",
            now.as_secs(),
            now.subsec_nanos()
        );
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(anyhow!(e).context(format!(
                    "cannot create TensorBoard event file in {}",
                    dir.display()
                )))
            }
        }
    }
    bail!(
        "cannot find an unused TensorBoard event file name in {}",
        dir.display()
    )
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Host name for the file name (informational only), restricted to `[A-Za-z0-9_-]`.
fn hostname() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() {
        "localhost".to_string()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected bytes below are what `tensorboard-rs` 0.5.9 (generated Protocol Buffers
    // 2 messages framed by its `RecordWriter`) wrote for the same calls, and TensorBoard's
    // Python reader parses them back to the same events.

    #[test]
    fn crc32c_check_values() {
        // The standard CRC-32C check value.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn scalar_record() {
        let event = encode::event(
            1.5,
            3,
            encode::EVENT_SUMMARY,
            &encode::scalar_summary("loss", 0.5),
        );
        let mut record = Vec::new();
        write_record(&mut record, &event).unwrap();
        #[rustfmt::skip]
        let expected = [
            0x1a, 0, 0, 0, 0, 0, 0, 0, // length 26
            0x12, 0x9b, 0xd8, 0x2d, // masked CRC of the length
            0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // wall_time 1.5
            0x10, 0x03, // step 3
            0x2a, 0x0d, 0x0a, 0x0b, // summary { value {
            0x0a, 0x04, b'l', b'o', b's', b's', // tag
            0x15, 0, 0, 0, 0x3f, // simple_value 0.5
            0x80, 0x65, 0x5e, 0xe3, // masked CRC of the data
        ];
        assert_eq!(record, expected);
    }

    #[test]
    fn text_event() {
        let event = encode::event(
            1.5,
            3,
            encode::EVENT_SUMMARY,
            &encode::text_summary("note", "hi"),
        );
        #[rustfmt::skip]
        let expected = [
            0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // wall_time 1.5
            0x10, 0x03, // step 3
            0x2a, 0x1c, 0x0a, 0x1a, // summary { value {
            0x0a, 0x04, b'n', b'o', b't', b'e', // tag
            0x4a, 0x08, 0x0a, 0x06, // metadata { plugin_data {
            0x0a, 0x04, b't', b'e', b'x', b't', // plugin_name; empty content left out
            0x42, 0x08, // tensor {
            0x08, 0x07, // dtype DT_STRING
            0x12, 0x00, // tensor_shape {} (set, so written though empty)
            0x42, 0x02, b'h', b'i', // string_val
        ];
        assert_eq!(event, expected);
    }

    #[test]
    fn file_version_and_session_log_events() {
        let event = encode::event(1.5, 0, encode::EVENT_FILE_VERSION, b"brain.Event:2");
        let mut expected = vec![0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x1a, 0x0d];
        expected.extend_from_slice(b"brain.Event:2");
        // Step 0 is proto3's default, so it is left out.
        assert_eq!(event, expected);

        let event = encode::event(
            1.5,
            300,
            encode::EVENT_SESSION_LOG,
            &encode::session_log_start(),
        );
        #[rustfmt::skip]
        let expected = [
            0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // wall_time 1.5
            0x10, 0xac, 0x02, // step 300, a two-byte varint
            0x3a, 0x02, 0x08, 0x01, // session_log { status START }
        ];
        assert_eq!(event, expected);
    }
}
