//! Files replaced whole or not at all: every file the project writes goes through here, so a
//! crash or a full disk never leaves half of one under its real name.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically: a temporary file beside it, fsynced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_with(path, |tmp| write_synced(tmp, bytes))
}

/// Produce `path` through `write`, which fills the temporary path it is given (streaming
/// writers: CSV, Parquet, JSON). The temporary file is synced and renamed into place when
/// `write` succeeds and removed when it fails; the parent folder is created if needed.
pub fn replace_with<T>(path: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = temporary(path);
    let written = write(&tmp).and_then(|value| {
        // Streaming writers may not sync: make the bytes durable before the name points at them.
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| {
            format!(
                "cannot move {} into place as {}",
                tmp.display(),
                path.display()
            )
        })?;
        // the rename itself lives in the folder: without this a power loss can undo it
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            sync_dir(dir)?;
        }
        Ok(value)
    });
    if written.is_err() {
        // Best effort: the first error is the useful one.
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// fsync a folder: the names created, renamed or removed in it become durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync folder {}", dir.display()))
}

/// fsync every file directly in `dir`, then `dir` itself (files written by other code, such
/// as burn's recorder, which does not sync).
pub fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("cannot sync {}", path.display()))?;
        }
    }
    sync_dir(dir)
}

/// Create (or truncate) `path`, write `bytes` and fsync it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f =
        fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `NAME.tmp-PID` beside `path`: unique per process, so two writers never share one.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_nothing_behind_on_failure() {
        let dir = std::env::temp_dir().join(format!("trm-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("sub/a.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "second");
        let failed = replace_with(&path, |tmp| -> Result<()> {
            fs::write(tmp, b"half")?;
            anyhow::bail!("disk full")
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "second");
        let names: Vec<_> = fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
