//! Files other programs read while we rewrite them (node_exporter's
//! textfile collector, a load balancer's upstream list): replaced in one
//! rename, so a reader sees the old content or the new, never half.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::exit::WriteError;

/// Replaces `file` with `contents` in one rename: written to a temporary
/// file in the same directory (a rename across file systems is not
/// atomic), synced, then renamed over it.
///
/// A symlink is written through: the rename replaces its target, in the
/// target's directory, and the link stays. An existing file keeps its mode
/// and its owner (a collector or load balancer running as another user must
/// still read it; a file we cannot give back to its owner is left alone).
/// A new one gets 0666 less the umask, as `>` in a shell would. Only a
/// regular file is replaced: a FIFO with a reader or a character device
/// (`/dev/stdout` on a terminal, `/dev/null`) is written into, as `>`
/// would, and anything else refused. Any failure is a [`WriteError`] (exit
/// 74) naming the file.
pub fn replace(file: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let failed = |err: std::io::Error| WriteError::new(file.display().to_string(), err);
    let target = resolve_symlinks(file).map_err(failed)?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let existing = match std::fs::metadata(&target) {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(failed(err)),
    };
    if let Some(meta) = &existing {
        let kind = meta.file_type();
        if kind.is_fifo() || kind.is_char_device() {
            return write_into(&target, contents).map_err(failed);
        }
        if !kind.is_file() {
            return Err(failed(std::io::Error::other(
                "not a regular file, a FIFO or a character device; left alone",
            )));
        }
    }
    let mode = existing.as_ref().map(|meta| meta.permissions());
    let owner = existing.as_ref().map(|meta| (meta.uid(), meta.gid()));
    let mut temp = tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        // Created with 0666: the kernel applies the umask.
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(failed)?;
    temp.write_all(contents).map_err(failed)?;
    if let Some((uid, gid)) = owner {
        let mine = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        if (uid, gid) != mine {
            std::os::unix::fs::fchown(temp.as_file(), Some(uid), Some(gid)).map_err(|err| {
                failed(std::io::Error::new(
                    err.kind(),
                    format!(
                        "it belongs to uid {uid} gid {gid}, and we cannot give the new file \
                         to them ({err}); left alone"
                    ),
                ))
            })?;
        }
    }
    if let Some(mode) = mode {
        temp.as_file().set_permissions(mode).map_err(failed)?;
    }
    temp.as_file().sync_all().map_err(failed)?;
    temp.persist(&target).map_err(|err| failed(err.error))?;
    Ok(())
}

/// Writes into a FIFO or a character device as `>` would, without creating
/// or truncating anything. A FIFO with no reader is an error at once
/// (ENXIO), not a wait.
fn write_into(target: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(target)
        .map_err(|err| match err.raw_os_error() {
            Some(nix::libc::ENXIO) => std::io::Error::other("a FIFO with no reader"),
            _ => err,
        })?;
    // Blocking again for the write itself: a full pipe waits for its reader.
    let flags = nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&out),
        nix::fcntl::FcntlArg::F_GETFL,
    )?;
    let blocking = nix::fcntl::OFlag::from_bits_truncate(flags) - nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&out),
        nix::fcntl::FcntlArg::F_SETFL(blocking),
    )?;
    out.write_all(contents)?;
    out.flush()
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
    fn a_fifo_is_written_into_when_read_and_refused_without_a_reader() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let failure = replace(&fifo, b"x").unwrap_err();
        assert!(
            failure.source.to_string().contains("no reader"),
            "{failure}"
        );
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        // The reader opens the FIFO at its own pace: try until it has.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while replace(&fifo, b"snapshot\n").is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the reader never opened"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(reader.join().unwrap(), b"snapshot\n");
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "the FIFO was replaced by a file");
    }

    #[test]
    fn a_device_is_written_into_never_replaced() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: making a device node needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // A private /dev/full (1, 7): every write fails with ENOSPC.
        let full = dir.path().join("full");
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
        let kind = nix::sys::stat::SFlag::S_IFCHR;
        nix::sys::stat::mknod(&full, kind, mode, nix::sys::stat::makedev(1, 7)).unwrap();
        let failure = replace(&full, b"x").unwrap_err();
        assert_eq!(failure.source.raw_os_error(), Some(nix::libc::ENOSPC));
        assert!(std::fs::metadata(&full)
            .unwrap()
            .file_type()
            .is_char_device());
        // A private /dev/null (1, 3) takes it.
        let null = dir.path().join("null");
        nix::sys::stat::mknod(&null, kind, mode, nix::sys::stat::makedev(1, 3)).unwrap();
        replace(&null, b"x").unwrap();
        assert!(std::fs::metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn another_users_file_keeps_its_owner() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: giving a file to another user needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("upstreams");
        std::fs::write(&file, b"old\n").unwrap();
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        replace(&file, b"new\n").unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(mode(&file), "0600");
        assert_eq!(std::fs::read(&file).unwrap(), b"new\n");
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_file() {
        let failure = replace(Path::new("/nonexistent/dir/x.prom"), b"x").unwrap_err();
        assert_eq!(failure.target, "/nonexistent/dir/x.prom");
        let code = crate::exit::code_for(&anyhow::Error::new(failure));
        assert_eq!(code, crate::exit::IO_ERROR);
    }
}
