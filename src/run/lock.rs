//! One training process per run folder: an exclusive lock on RUN/.lock (flock, through std's
//! `File::try_lock`), held for the whole run and released by the OS however the process ends.

use anyhow::{bail, Context, Result};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while a run trains. A new run's folder that this lock created is removed again when the
/// run never started (a refused start leaves nothing behind).
pub struct RunLock {
    file: Option<File>,
    path: PathBuf,
    created: Option<PathBuf>,
    started: bool,
}

impl RunLock {
    /// Lock `root`, creating it for a new run (`create`); a resume of a folder that does not
    /// exist gets an empty guard and fails on its own checks.
    pub fn acquire(root: &Path, create: bool) -> Result<Self> {
        let path = root.join(".lock");
        let mut created = None;
        if !root.exists() {
            if !create {
                return Ok(Self {
                    file: None,
                    path,
                    created,
                    started: false,
                });
            }
            fs::create_dir_all(root)
                .with_context(|| format!("cannot create run folder {}", root.display()))?;
            created = Some(root.to_path_buf());
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                bail!(
                    "{} is in use by another trm process{}: wait for it to finish, or give another --run-dir",
                    root.display(),
                    if holder.is_empty() { String::new() } else { format!(" (pid {holder})") }
                );
            }
            Err(TryLockError::Error(e)) => {
                bail!("cannot lock {}: {e}", path.display())
            }
        }
        // who holds it, for the message another process prints
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(Self {
            file: Some(file),
            path,
            created,
            started: false,
        })
    }

    /// The run has started: its folder stays whatever happens next.
    pub fn started(&mut self) {
        self.started = true;
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if self.started || self.file.is_none() {
            return;
        }
        if let Some(dir) = &self.created {
            let _ = fs::remove_file(&self.path);
            // only if nothing else was written into it
            let _ = fs::remove_dir(dir);
        }
    }
}
