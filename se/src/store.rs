//! Durable state: one file, replaced atomically.
//!
//! Every save writes the whole state to a temporary file beside the state file, fsyncs it,
//! renames it over the state file and fsyncs the directory (POSIX rename is atomic). A process
//! killed at any moment leaves either the old file or the new one, never a mixture; a stale
//! temporary file is ignored and overwritten. This is the card's transaction mechanism: the
//! card saves before it answers, so an acknowledged command is on disk.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::state::CardState;

/// Errors loading or saving the state file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid state file.
    #[error("{path}: not a valid kazashi-se state file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file exists already (when creating a chip).
    #[error("{0}: a chip already exists there")]
    Exists(PathBuf),
}

/// A state file.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The state file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Creates the file with `state`; refuses to overwrite an existing chip.
    pub fn create(&self, state: &CardState) -> Result<(), StoreError> {
        if self.path.exists() {
            return Err(StoreError::Exists(self.path.clone()));
        }
        self.save(state)
    }

    /// Loads and validates the state.
    pub fn load(&self) -> Result<CardState, StoreError> {
        let text = Zeroizing::new(fs::read(&self.path).map_err(|e| self.io(e))?);
        CardState::from_json(&text).map_err(|e| StoreError::Invalid {
            path: self.path.clone(),
            reason: match e {
                crate::StateError::Version(v) => format!("unsupported version {v}"),
                crate::StateError::Invalid(reason) => reason,
            },
        })
    }

    /// Replaces the file with `state`, atomically and durably.
    pub fn save(&self, state: &CardState) -> Result<(), StoreError> {
        let bytes = state.to_json().map_err(|e| StoreError::Invalid {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = self.temp_path();
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600); // The file holds the card's keys.
        let mut file = options.open(&tmp).map_err(|e| self.io(e))?;
        file.write_all(&bytes).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        // The rename itself must reach the disk before the command is acknowledged.
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io(e))?;
        Ok(())
    }

    fn temp_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".tmp");
        self.path.with_file_name(name)
    }
}
