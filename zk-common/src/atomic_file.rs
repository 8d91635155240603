//! Files other programs read while we rewrite them (node_exporter's
//! textfile collector, a load balancer's upstream list): replaced in one
//! rename, so a reader sees the old content or the new, never half.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::exit::WriteError;

/// Replaces `file` with `contents` in one rename: written to a temporary
/// file in the same directory (a rename across file systems is not
/// atomic), synced, then renamed over it.
///
/// A symlink is written through: the rename replaces its target, in the
/// target's directory, and the link stays. An existing file keeps its mode
/// (a collector or load balancer running as another user must still read
/// it); a new one gets 0666 less the umask, as `>` in a shell would. Any
/// failure is a [`WriteError`] (exit 74) naming the file.
pub fn replace(file: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let failed = |err: std::io::Error| WriteError::new(file.display().to_string(), err);
    let target = resolve_symlinks(file).map_err(failed)?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mode = match std::fs::metadata(&target) {
        Ok(meta) => Some(meta.permissions()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(failed(err)),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        // Created with 0666: the kernel applies the umask.
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(failed)?;
    temp.write_all(contents).map_err(failed)?;
    if let Some(mode) = mode {
        temp.as_file().set_permissions(mode).map_err(failed)?;
    }
    temp.as_file().sync_all().map_err(failed)?;
    temp.persist(&target).map_err(|err| failed(err.error))?;
    Ok(())
}

/// The file a path finally names, following symlinks (also a dangling one,
/// whose target is then created).
fn resolve_symlinks(file: &Path) -> std::io::Result<PathBuf> {
    let mut path = file.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(path),
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mode in octal, as `ls` and `chmod` spell it.
    fn mode(path: &Path) -> String {
        format!(
            "{:04o}",
            std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
        )
    }

    /// This process's umask, from /proc: umask(2) would change it for
    /// every thread of the test binary while it is read.
    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .expect("a Umask line in /proc/self/status");
        u32::from_str_radix(umask.trim(), 8).unwrap()
    }

    #[test]
    fn a_new_file_is_0666_less_the_umask_and_a_replaced_one_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zookeeper.prom");
        replace(&file, b"one\n").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"one\n");
        let umask = umask();
        assert_eq!(
            mode(&file),
            format!("{:04o}", 0o666 & !umask),
            "a new file is 0666 less the umask ({umask:03o}), as `>` makes it"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace(&file, b"two\n").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two\n");
        assert_eq!(mode(&file), "0640", "the operator's mode is kept");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_file() {
        let failure = replace(Path::new("/nonexistent/dir/x.prom"), b"x").unwrap_err();
        assert_eq!(failure.target, "/nonexistent/dir/x.prom");
        let code = crate::exit::code_for(&anyhow::Error::new(failure));
        assert_eq!(code, crate::exit::IO_ERROR);
    }
}
