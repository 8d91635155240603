//! The hostile-arguments walk (issue 11): every subcommand of a tool, every
//! option and the positionals, fed values an attacker or a tired operator
//! would pass. No run may panic (exit 101, "panicked" on stderr).

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Values no option should panic on: non-UTF-8 bytes, empty, `--`, junk,
/// `..`, unicode, huge and negative numbers, absurd durations, a very long
/// path. (An argument cannot hold a NUL.)
pub fn hostile_values() -> Vec<OsString> {
    let mut values: Vec<OsString> = [
        "",
        "--",
        "-",
        "..",
        "/a/../b",
        "/",
        "//",
        "/zookeeper/quota",
        "/ünïcødé/😀/\u{202e}rtl",
        "/\u{e000}private",
        "-1",
        "-9223372036854775809",
        "18446744073709551616",
        "18446744073709551615s",
        "5124095576030431h",
        "0",
        "0s",
        "1e999",
        "NaN",
        "%s%n%x%p",
        "$(true)",
        "'\"`\\",
        " \t\n",
        "digest:",
        "digest:user:",
        ":::",
        "tcp+tls://",
        "host:99999",
        "[::1",
        "{\"a\":",
        "{\"a\":1,\"a\":2}",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    values.push(OsString::from_vec(vec![0xff, 0xfe, b'/', 0x80]));
    values.push(OsString::from_vec(b"/\xc3\x28".to_vec()));
    values.push(OsString::from(format!("/{}", "a".repeat(60_000))));
    values.push(OsString::from(format!("/{}", "x/".repeat(3_000) + "y")));
    values
}

/// One run of the walk.
#[derive(Debug)]
pub struct Panic {
    pub args: Vec<OsString>,
    pub code: Option<i32>,
    pub stderr: String,
}

/// Runs `program` with `prefix` (e.g. `--zk HOST --connect-timeout 1s`)
/// and every argument list the clap definition `cmd` suggests: each
/// subcommand alone, with each hostile value as its positional and as the
/// value of each of its options, and each flag given twice. A run still
/// going after `patience` is stopped: a hang is not a panic, and a watch
/// given a valid value watches. Returns how many runs were made and the
/// ones that panicked.
pub fn walk(
    program: &str,
    cmd: &clap::Command,
    prefix: &[&str],
    patience: Duration,
) -> (usize, Vec<Panic>) {
    let mut runs: Vec<Vec<OsString>> = Vec::new();
    let mut paths: Vec<(Vec<String>, &clap::Command)> = vec![(Vec::new(), cmd)];
    let mut i = 0;
    while i < paths.len() {
        let (path, sub) = paths[i].clone();
        for child in sub.get_subcommands() {
            let mut longer = path.clone();
            longer.push(child.get_name().to_string());
            paths.push((longer, child));
        }
        i += 1;
    }
    let values = hostile_values();
    for (path, sub) in &paths {
        let base: Vec<OsString> = prefix
            .iter()
            .map(OsString::from)
            .chain(path.iter().map(OsString::from))
            .collect();
        runs.push(base.clone());
        let positional = sub.get_positionals().next().is_some();
        for value in &values {
            if positional {
                let mut args = base.clone();
                args.push(value.clone());
                runs.push(args);
            }
            for arg in sub.get_arguments().filter(|a| !a.is_positional()) {
                let Some(long) = arg.get_long() else { continue };
                if long == "help" || long == "version" || long == "generate" {
                    continue;
                }
                let takes_value = arg.get_action().takes_values();
                let mut args = base.clone();
                args.push(OsString::from(format!("--{long}")));
                if takes_value {
                    args.push(value.clone());
                } else {
                    // A flag given twice, then the value as a stray word.
                    args.push(OsString::from(format!("--{long}")));
                    args.push(value.clone());
                }
                args.push(OsString::from("/hostile-walk"));
                runs.push(args);
            }
        }
    }
    // Options that write files (--output, --events) would write where a
    // value says: every run works in a scratch directory, and an absolute
    // value for them is moved under it.
    let scratch = std::env::temp_dir().join(format!(
        "zk-hostile-walk-{}-{}",
        std::process::id(),
        cmd.get_name()
    ));
    std::fs::create_dir_all(&scratch).expect("create the walk's scratch directory");
    for args in &mut runs {
        for i in 1..args.len() {
            let writes = matches!(args[i - 1].to_str(), Some("--output" | "--events"));
            if writes && args[i].as_encoded_bytes().starts_with(b"/") {
                let mut inside = scratch.clone().into_os_string();
                inside.push(&args[i]);
                args[i] = inside;
            }
        }
    }
    let total = runs.len();
    let queue = Arc::new(Mutex::new(runs));
    let panics = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (queue, panics, program) = (queue.clone(), panics.clone(), program.to_string());
            let scratch = scratch.clone();
            std::thread::spawn(move || loop {
                let Some(args) = queue.lock().expect("queue").pop() else {
                    return;
                };
                if let Some(panic) = run_one(&program, args, patience, &scratch) {
                    panics.lock().expect("panics").push(panic);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a walk worker panicked");
    }
    let panics = std::mem::take(&mut *panics.lock().expect("panics"));
    let _ = std::fs::remove_dir_all(&scratch);
    (total, panics)
}

fn run_one(
    program: &str,
    args: Vec<OsString>,
    patience: Duration,
    scratch: &std::path::Path,
) -> Option<Panic> {
    let mut child = Command::new(program)
        .args(&args)
        .current_dir(scratch)
        .env_remove("ZK_AUTH")
        .env_remove("ZK_LOG")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tool");
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut bytes);
        bytes
    });
    let deadline = Instant::now() + patience;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => {
                // SIGTERM first, so what it queued is removed; then KILL.
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                std::thread::sleep(Duration::from_millis(500));
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let stderr = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    let code = status.and_then(|s| s.code());
    (code == Some(101) || stderr.contains("panicked")).then_some(Panic { args, code, stderr })
}

/// A chroot that puts PATH inside ZooKeeper's own tree (`--zk H/zookeeper`)
/// is a usage error, as `/zookeeper/...` itself is, and writes nothing
/// there: `program` run with `args` (its PATH and command) through the
/// shared server's `/zookeeper` chroot must exit 2 and leave `/zookeeper`
/// as it was.
pub fn assert_chroot_into_zookeeper_refused(program: &str, args: &[&str]) {
    let server = crate::shared().connect_string();
    let own_tree = || {
        crate::Zk::connect(server)
            .unwrap()
            .children("/zookeeper")
            .unwrap()
    };
    let before = own_tree();
    let ran = Command::new(program)
        .args(["--zk", &format!("{server}/zookeeper")])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("in ZooKeeper's own tree"), "{stderr}");
    assert_eq!(before, own_tree());
}
