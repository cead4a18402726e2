//! TensorBoard event files: scalars and text summaries that TensorBoard's own reader accepts.
//!
//! [`TbWriter`] writes one `events.out.tfevents.*` file per writer into a log directory.
//! Scalars go through `tensorboard_rs::summary::scalar` (a `simple_value`, so `f32`
//! precision); text is a `Summary` value holding a scalar-shaped `DT_STRING` `TensorProto`
//! with `SummaryMetadata.plugin_data.plugin_name = "text"`, which is what
//! `tf.summary.text` writes and what TensorBoard's text plugin reads.
//!
//! `tensorboard_rs`'s own writers are not used for the file itself: its `SummaryWriter`
//! hides its file writer and leaves `add_text` unimplemented, and its `EventFileWriter`
//! panics (in a background thread, then on the caller's side) on any I/O error and names
//! files by the second alone, so two writers opened in the same second by one process
//! would truncate each other. Instead the file is written here through
//! `tensorboard_rs::record_writer::RecordWriter` (TFRecord framing with masked CRC32C),
//! and every I/O error is returned.
//!
//! Resuming into the same directory is supported: each writer opens a new file (never an
//! existing one) and TensorBoard merges all event files of a directory, reading them in
//! file-name order. File names start with the creation time in seconds and nanoseconds,
//! so that order is the order in which writers were opened.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use protobuf::{Message, RepeatedField};
use tensorboard_proto::event::{Event, SessionLog, SessionLog_SessionStatus};
use tensorboard_proto::plugin_text::TextPluginData;
use tensorboard_proto::summary::{
    Summary, SummaryMetadata, SummaryMetadata_PluginData, Summary_Value,
};
use tensorboard_proto::tensor::TensorProto;
use tensorboard_proto::tensor_shape::TensorShapeProto;
use tensorboard_proto::types::DataType;
use tensorboard_rs::record_writer::RecordWriter;

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
    writer: RecordWriter<BufWriter<File>>,
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
            writer: RecordWriter::new(BufWriter::new(file)),
            last_flush: Instant::now(),
            failed: None,
        };
        let mut event = Event::new();
        event.set_wall_time(wall_time());
        event.set_file_version("brain.Event:2".to_string());
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
        let summary = tensorboard_rs::summary::scalar(tag, value as f32);
        self.write_summary(summary, step)
            .with_context(|| format!("TensorBoard scalar {tag:?} at step {step}"))
    }

    /// Logs a text summary (shown in TensorBoard's Text tab, rendered as Markdown there).
    pub fn text(&mut self, tag: &str, text: &str, step: u64) -> anyhow::Result<()> {
        let mut tensor = TensorProto::new();
        tensor.set_dtype(DataType::DT_STRING);
        // No dims: a scalar string, like `tf.summary.text` writes.
        tensor.set_tensor_shape(TensorShapeProto::new());
        tensor.set_string_val(RepeatedField::from_vec(vec![text.as_bytes().to_vec()]));

        let mut plugin_data = SummaryMetadata_PluginData::new();
        plugin_data.set_plugin_name("text".to_string());
        let content = TextPluginData::new()
            .write_to_bytes()
            .map_err(|e| anyhow!("cannot encode TextPluginData: {e}"))?;
        plugin_data.set_content(content);
        let mut metadata = SummaryMetadata::new();
        metadata.set_plugin_data(plugin_data);

        let mut value = Summary_Value::new();
        value.set_tag(tag.to_string());
        value.set_metadata(metadata);
        value.set_tensor(tensor);
        let mut summary = Summary::new();
        summary.set_value(RepeatedField::from_vec(vec![value]));
        self.write_summary(summary, step)
            .with_context(|| format!("TensorBoard text {tag:?} at step {step}"))
    }

    /// Marks a restart at `step` (a SessionLog START event): TensorBoard then drops the points
    /// at `step` and after that an interrupted earlier writer left, so a resumed run reads as one.
    pub fn session_start(&mut self, step: u64) -> anyhow::Result<()> {
        let step = i64::try_from(step)
            .map_err(|_| anyhow!("step {step} does not fit TensorBoard's int64 step"))?;
        let mut log = SessionLog::new();
        log.set_status(SessionLog_SessionStatus::START);
        let mut event = Event::new();
        event.set_wall_time(wall_time());
        event.set_step(step);
        event.set_session_log(log);
        self.write_event(&event)
    }

    /// Writes buffered events to the file.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.check_ok()?;
        let result = self.writer.flush();
        self.last_flush = Instant::now();
        self.record_io(result)
    }

    fn write_summary(&mut self, summary: Summary, step: u64) -> anyhow::Result<()> {
        let step = i64::try_from(step)
            .map_err(|_| anyhow!("step {step} does not fit TensorBoard's int64 step"))?;
        let mut event = Event::new();
        event.set_wall_time(wall_time());
        event.set_step(step);
        event.set_summary(summary);
        self.write_event(&event)?;
        if self.last_flush.elapsed() >= AUTO_FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    fn write_event(&mut self, event: &Event) -> anyhow::Result<()> {
        self.check_ok()?;
        let data = event
            .write_to_bytes()
            .map_err(|e| anyhow!("cannot encode TensorBoard event: {e}"))?;
        let result = self.writer.write(&data);
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
