//! `--ready-file`: a file present exactly while this candidate leads, for a
//! readiness probe that must not open a ZooKeeper session per check
//! (Kubernetes: `exec: [test, -f, FILE]`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;
use zk_common::Failure;

/// The file while it exists; dropping it removes it.
#[derive(Debug)]
pub struct ReadyFile {
    path: PathBuf,
}

/// Removes what a crashed run may have left, before this one stands: a
/// stale file would say we lead. Anything but a regular file (or a link to
/// one) there is not ours to remove: a usage error, said before connecting.
pub fn clear_stale(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(Failure::usage(format!(
            "--ready-file {} is not a regular file",
            path.display()
        ))
        .into()),
        Ok(_) => std::fs::remove_file(path).map_err(|err| {
            Failure::usage(format!(
                "--ready-file {}: cannot remove it: {err}",
                path.display()
            ))
            .into()
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
                Err(Failure::usage(format!(
                    "--ready-file {}: no directory {}",
                    path.display(),
                    dir.display()
                ))
                .into())
            }
            _ => Ok(()),
        },
        Err(err) => Err(Failure::usage(format!("--ready-file {}: {err}", path.display())).into()),
    }
}

impl ReadyFile {
    /// Writes `record` (who leads, since when, the token) to `path` in one
    /// rename. A failure is said, not fatal: leadership does not depend on
    /// a probe's file, and a missing file only keeps traffic away.
    pub fn create(path: &Path, record: &Value) -> Option<ReadyFile> {
        let mut text = record.to_string();
        text.push('\n');
        match zk_common::atomic_file::replace(path, text.as_bytes()) {
            Ok(()) => Some(ReadyFile { path: path.into() }),
            Err(err) => {
                tracing::warn!("leading without --ready-file: {err}");
                None
            }
        }
    }
}

impl Drop for ReadyFile {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.path) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing --ready-file {}: {err}", self.path.display());
            }
        }
    }
}
