//! Files other programs read while we rewrite them (node_exporter's
//! textfile collector, a load balancer's upstream list): replaced in one
//! rename, so a reader sees the old content or the new, never half.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::exit::{self, Failure};

/// The mode of a file that did not exist before: readable by the other
/// users a collector or proxy may run as.
pub const NEW_FILE_MODE: u32 = 0o644;

/// Replaces `file` with `contents`: written to a temporary file in the
/// same directory (a rename across file systems is not atomic), synced,
/// given the mode the old file had (0644 for a new one), then renamed over
/// it. Fails with exit 74, naming the file.
pub fn replace(file: &Path, contents: &[u8]) -> Result<(), Failure> {
    let failed = |what: &str, err: std::io::Error| {
        Failure::new(exit::IO, format!("{what} {}: {err}", file.display()))
    };
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mode = match std::fs::metadata(file) {
        Ok(old) => old.permissions().mode() & 0o7777,
        Err(_) => NEW_FILE_MODE,
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|err| failed("creating a temporary file next to", err))?;
    temp.write_all(contents)
        .and_then(|()| temp.as_file().sync_all())
        .and_then(|()| {
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
        })
        .map_err(|err| failed("writing", err))?;
    temp.persist(file)
        .map_err(|err| failed("replacing", err.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_file_is_0644_and_a_replaced_one_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zookeeper.prom");
        replace(&file, b"one\n").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"one\n");
        assert_eq!(mode(&file), 0o644);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace(&file, b"two\n").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two\n");
        assert_eq!(mode(&file), 0o640, "the operator's mode is kept");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_file() {
        let failure = replace(Path::new("/nonexistent/dir/x.prom"), b"x").unwrap_err();
        assert_eq!(failure.code, exit::IO);
        assert!(
            failure.message.contains("/nonexistent/dir/x.prom"),
            "{failure}"
        );
    }
}
