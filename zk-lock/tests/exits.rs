//! Exit codes, signals, the command's environment, and no stray nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{lock, lock_with_long_session, wait_for_queue, wait_for_queue_to_shrink};
use nix::sys::signal::Signal;
use serde_json::Value;
use zk_testkit::{require_zookeeper, shared, Running, Zk};

const T: Duration = Duration::from_secs(20);

fn wait_for_file(path: &Path) -> String {
    zk_testkit::wait_for_file(path, T)
}

#[test]
fn passes_the_commands_status_through() {
    require_zookeeper!();
    let connect = shared().chroot("lock-status");
    let z = lock_with_long_session().zk(&connect);
    assert_eq!(z.run(&["/l", "--", "true"]).code(), 0);
    assert_eq!(z.run(&["/l", "-c", "exit 3"]).code(), 3);
    assert_eq!(
        z.run(&["/l", "--", "sh", "-c", "kill -TERM $$"]).code(),
        128 + 15
    );
    let not_executable = z.run(&["/l", "--", "/etc/passwd"]);
    assert_eq!(not_executable.code(), 126);
    assert!(
        not_executable
            .stderr()
            .contains("/etc/passwd: permission denied"),
        "{}",
        not_executable.stderr()
    );
    let missing = z.run(&["/l", "--", "no-such-command-zk"]);
    assert_eq!(missing.code(), 127);
    assert!(
        missing
            .stderr()
            .contains("no-such-command-zk: command not found"),
        "{}",
        missing.stderr()
    );
    // Every one of those released its lock (closed its session: none of
    // them could have expired yet): the queue is empty.
    assert_eq!(
        wait_for_queue_to_shrink(&connect, "/l", 0),
        serde_json::json!([])
    );
}

#[test]
fn the_command_gets_node_token_session_and_connect_string() {
    require_zookeeper!();
    let connect = shared().chroot("lock-env");
    let ran = lock().zk(&connect).run(&[
        "--events",
        "-",
        "/l",
        "-c",
        "echo \"$ZK_NODE $ZK_FENCING_TOKEN $ZK_SESSION_ID $ZK_CONNECT\"",
    ]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let env: Vec<String> = ran.stdout().split_whitespace().map(String::from).collect();
    let events: Vec<Value> = ran
        .stderr()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let acquired = events
        .iter()
        .find(|e| e["event"] == "acquired")
        .expect("an acquired event on --events -");
    assert_eq!(env[0], acquired["node"].as_str().unwrap());
    assert!(
        env[0].starts_with("/l/_c_") && env[0].contains("-lock-"),
        "Curator layout: {}",
        env[0]
    );
    assert_eq!(env[1], acquired["token"].to_string());
    assert_eq!(env[2], acquired["session_id"].as_str().unwrap());
    assert_eq!(env[3], connect);
    let released = events
        .iter()
        .find(|e| e["event"] == "released")
        .expect("a released event");
    assert_eq!(released["token"], acquired["token"]);
}

#[test]
fn timeout_and_nonblock_exit_75_and_leave_no_node() {
    require_zookeeper!();
    let connect = shared().chroot("lock-busy");
    let holder = lock().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");

    let timed_out =
        lock_with_long_session()
            .zk(&connect)
            .run(&["--timeout", "300ms", "/l", "--", "true"]);
    assert_eq!(timed_out.code(), 75, "{}", timed_out.stderr());
    assert!(
        timed_out
            .stderr()
            .contains("timed out after 300ms waiting for the lock /l"),
        "{}",
        timed_out.stderr()
    );
    let busy = lock_with_long_session()
        .zk(&connect)
        .run(&["-n", "/l", "--", "true"]);
    assert_eq!(busy.code(), 75);
    assert!(busy.stderr().contains("/l is busy"), "{}", busy.stderr());
    let queue = wait_for_queue_to_shrink(&connect, "/l", 1);
    assert_eq!(queue[0]["state"], "holding");
}

/// A waiter whose queue node someone deletes never owned and ran nothing:
/// 75 (not acquired) with a message saying so, not 79 ("lost while the
/// command ran").
#[test]
fn a_waiter_whose_node_is_deleted_exits_75_and_runs_nothing() {
    require_zookeeper!();
    let connect = shared().chroot("lock-waiter-deleted");
    let holder = lock().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran");
    let mut waiter = lock()
        .zk(&connect)
        .spawn(&["/l", "--", "touch", ran.to_str().unwrap()]);
    let queue = wait_for_queue(&connect, "/l", 2);
    let waiting = queue[1]["node"].as_str().unwrap();
    zk_testkit::Zk::connect(&connect)
        .unwrap()
        .delete(waiting)
        .unwrap();
    // A waiter watches only the node before it (no herd), so it learns of
    // its own node's loss when that one goes.
    let mut holder = holder;
    holder.close_stdin();
    assert_eq!(waiter.wait(T).code(), Some(75));
    let said = waiter.stderr_so_far();
    assert!(
        said.contains("was deleted while we waited; nothing ran"),
        "{said}"
    );
    assert!(!ran.exists());
}

/// With no command the events are zk-lock's output: when stdout cannot
/// take them (`> /dev/full`), the run exits 74, as the README's table says,
/// not 0 after a warning; the lock is still released.
#[test]
fn lost_output_without_a_command_exits_74() {
    require_zookeeper!();
    let connect = shared().chroot("lock-dev-full");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = lock()
        .zk(&connect)
        .command(&["/l"])
        .stdin(std::process::Stdio::null())
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    assert!(stderr.contains("events are being lost"), "{stderr}");
    wait_for_queue_to_shrink(&connect, "/l", 0);
}

/// `-E N` (flock's flag) tells busy and timed out from a command's own 75;
/// "busy" names the holder from its node (id, host, pid, since, token),
/// escaped, and `-q` says nothing.
#[test]
fn conflict_exit_code_and_a_named_holder() {
    require_zookeeper!();
    let connect = shared().chroot("lock-conflict");
    let forged = "db1\nzk-lock: info: forged";
    let holder = lock().zk(&connect).spawn(&["--id", forged, "/l"]);
    let acquired = holder.next_json(T);
    assert_eq!(acquired["event"], "acquired");
    let token = acquired["token"].as_i64().unwrap();

    let busy = lock()
        .zk(&connect)
        .run(&["-E", "3", "-n", "/l", "--", "true"]);
    assert_eq!(busy.code(), 3, "{}", busy.stderr());
    let said = busy.stderr();
    assert_eq!(
        said.lines().count(),
        1,
        "one line, the holder's newline escaped: {said}"
    );
    assert!(
        said.contains(r"held by db1\nzk-lock: info: forged (host ")
            && said.contains(&format!(", token {token}")),
        "{said}"
    );
    let timed_out = lock().zk(&connect).run(&[
        "--conflict-exit-code",
        "0",
        "--timeout",
        "200ms",
        "/l",
        "--",
        "true",
    ]);
    assert_eq!(timed_out.code(), 0, "{}", timed_out.stderr());
    let quiet = lock().zk(&connect).run(&["-q", "-n", "/l", "--", "true"]);
    assert_eq!((quiet.code(), quiet.stderr().as_str()), (75, ""));
    // The command's own 75 stays 75; -E only renames "busy".
    let free = lock()
        .zk(&connect)
        .run(&["-E", "3", "/other", "--", "sh", "-c", "exit 75"]);
    assert_eq!(free.code(), 75, "{}", free.stderr());
    let refused = lock()
        .zk(&connect)
        .run(&["-E", "256", "-n", "/l", "--", "true"]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
}

#[test]
fn sigint_while_waiting_exits_130_and_removes_the_queued_node() {
    require_zookeeper!();
    let connect = shared().chroot("lock-sigint");
    let holder = lock().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let mut waiter = lock_with_long_session()
        .zk(&connect)
        .spawn(&["/l", "--", "true"]);
    wait_for_queue(&connect, "/l", 2);
    waiter.signal(Signal::SIGINT);
    assert_eq!(waiter.wait(T).code(), Some(130));
    wait_for_queue_to_shrink(&connect, "/l", 1);
}

#[test]
fn sigterm_is_forwarded_and_the_next_waiter_gets_the_lock_at_once() {
    require_zookeeper!();
    let connect = shared().chroot("lock-sigterm");
    let dir = tempfile::tempdir().unwrap();
    let (ready, trapped) = (dir.path().join("ready"), dir.path().join("trapped"));
    let script = format!(
        "trap 'echo TERM > {t}; exit 7' TERM; echo up > {r}; while :; do sleep 0.02; done",
        t = trapped.display(),
        r = ready.display()
    );
    // A 60 s session: if the release waited for expiry, the waiter's 15 s
    // timeout would run out first.
    let mut holder = lock()
        .zk(&connect)
        .spawn(&["--session-timeout", "60s", "/l", "-c", &script]);
    wait_for_file(&ready);
    let waiter = lock().zk(&connect).spawn(&["--timeout", "15s", "/l"]);
    wait_for_queue(&connect, "/l", 2);
    holder.signal(Signal::SIGTERM);
    assert_eq!(
        holder.wait(T).code(),
        Some(7),
        "the command's own status after the forwarded signal"
    );
    assert_eq!(wait_for_file(&trapped).trim(), "TERM");
    assert_eq!(waiter.next_json(T)["event"], "acquired");
}

#[test]
fn deleting_the_lock_node_stops_the_command_and_exits_79() {
    require_zookeeper!();
    let connect = shared().chroot("lock-deleted");
    let dir = tempfile::tempdir().unwrap();
    let (events, pid_file) = (dir.path().join("events"), dir.path().join("pid"));
    let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    let mut holder =
        lock()
            .zk(&connect)
            .spawn(&["--events", events.to_str().unwrap(), "/l", "-c", &script]);
    let command_pid: i32 = wait_for_file(&pid_file).trim().parse().unwrap();
    let acquired: Value =
        serde_json::from_str(wait_for_file(&events).lines().next().unwrap()).unwrap();
    Zk::connect(&connect)
        .unwrap()
        .delete(acquired["node"].as_str().unwrap())
        .unwrap();
    assert_eq!(holder.wait(T).code(), Some(79));
    assert!(
        !Path::new(&format!("/proc/{command_pid}")).exists(),
        "the command outlived the lock"
    );
    let last: Value = serde_json::from_str(
        std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["event"], "lost");
    assert!(
        last["reason"].as_str().unwrap().contains("deleted"),
        "{last}"
    );
}

/// A hostile client takes our node's name in one transaction: a setData
/// spends the holder's node watch (NodeDataChanged, which is no loss), and
/// the delete and create that follow fire nothing on it. Only the owner
/// check in the next round can tell the node is no longer ours.
#[test]
fn a_node_taken_over_under_our_name_stops_the_command_and_exits_79() {
    require_zookeeper!();
    let connect = shared().chroot("lock-taken-over");
    let dir = tempfile::tempdir().unwrap();
    let (events, pid_file) = (dir.path().join("events"), dir.path().join("pid"));
    let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    let mut holder =
        lock()
            .zk(&connect)
            .spawn(&["--events", events.to_str().unwrap(), "/l", "-c", &script]);
    let command_pid: i32 = wait_for_file(&pid_file).trim().parse().unwrap();
    let acquired: Value =
        serde_json::from_str(wait_for_file(&events).lines().next().unwrap()).unwrap();
    let node = acquired["node"].as_str().unwrap();

    let hostile = Zk::connect(&connect).unwrap();
    let ephemeral =
        zookeeper_client::CreateMode::Ephemeral.with_acls(zookeeper_client::Acls::anyone_all());
    let mut takeover = hostile.client().new_multi_writer();
    takeover
        .add_set_data(node, b"spend the watch", None)
        .unwrap();
    takeover.add_delete(node, None).unwrap();
    takeover.add_create(node, b"", &ephemeral).unwrap();
    hostile.block_on(takeover.commit()).unwrap();
    assert_ne!(
        hostile.get(node).unwrap().1.ephemeral_owner,
        0,
        "the hostile node was not created"
    );

    assert_eq!(
        holder.wait(T).code(),
        Some(79),
        "{}",
        holder.stderr_so_far()
    );
    assert!(
        !Path::new(&format!("/proc/{command_pid}")).exists(),
        "the command outlived the lock"
    );
    let log = std::fs::read_to_string(&events).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "lost", "{log}");
    assert!(
        last["reason"].as_str().unwrap().contains("deleted"),
        "{log}"
    );
}

/// `holders` tells an operator who to blame: by default the node names the
/// host, the pid, the user and the program (never its arguments, which may
/// hold a secret only `ps` here could see); the whole command line with
/// --record-command.
#[test]
fn holders_shows_who_holds_and_what_it_runs() {
    require_zookeeper!();
    let connect = shared().chroot("lock-holders-data");
    let host = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for (args, shown) in [
        (&["--", "sh", "-c", "sleep 60", "hunter2"][..], "sh"),
        (&["-c", "sleep 60; : hunter2"][..], "sh -c"),
        (&["--record-command", "--", "sleep", "60"][..], "sleep 60"),
        (
            &["--record-command", "-c", "sleep 60; true"][..],
            "sh -c \"sleep 60; true\"",
        ),
    ] {
        let mut holder = lock()
            .zk(&connect)
            .env("USER", "backup-operator")
            .spawn(&[&["/l"][..], args].concat());
        let holders = wait_for_queue(&connect, "/l", 1);
        let data = &holders[0]["data"];
        assert_eq!(data["command"], shown, "{holders}");
        assert!(!holders.to_string().contains("hunter2"), "{holders}");
        assert_eq!(data["host"], host.as_str(), "{holders}");
        assert_eq!(data["pid"], holder.pid(), "{holders}");
        assert_eq!(data["user"], "backup-operator", "{holders}");
        assert_eq!(data["id"], format!("{host}:{}", holder.pid()), "{holders}");
        assert_eq!(holders[0]["id"], data["id"], "{holders}");
        holder.signal(Signal::SIGTERM);
        assert_eq!(holder.wait(T).code(), Some(128 + 15));
    }
}

#[test]
fn without_a_command_it_holds_until_stdin_closes_or_sigterm() {
    require_zookeeper!();
    let connect = shared().chroot("lock-hold");
    let mut holder = lock_with_long_session().zk(&connect).spawn(&[
        "--id",
        "deploy-42",
        "--data",
        "{\"ticket\":7}",
        "/l",
    ]);
    let acquired = holder.next_json(T);
    assert_eq!(acquired["event"], "acquired");
    let holders = wait_for_queue(&connect, "/l", 1);
    assert_eq!(holders[0]["id"], "deploy-42");
    assert_eq!(holders[0]["data"]["data"]["ticket"], 7);
    assert_eq!(holders[0]["token"], acquired["token"]);
    assert_eq!(holders[0]["session_id"], acquired["session_id"]);
    assert_eq!(holders[0]["kind"], "exclusive");
    holder.close_stdin();
    assert_eq!(holder.next_json(T)["event"], "released");
    assert_eq!(holder.wait(T).code(), Some(0));

    let holder = lock_with_long_session().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    holder.signal(Signal::SIGTERM);
    assert_eq!(holder.next_json(T)["event"], "released");
    let mut holder = holder;
    assert_eq!(holder.wait(T).code(), Some(0));
    wait_for_queue_to_shrink(&connect, "/l", 0);
}

#[test]
fn bad_input_is_a_one_line_error_and_leaves_no_node() {
    require_zookeeper!();
    let connect = shared().chroot("lock-bad-input");
    let cases: &[(&[&str], i32, &str)] = &[
        (&["locks/x", "--", "true"], 2, "relative"),
        (&["/locks//x", "--", "true"], 2, "empty component"),
        (&["/locks/x/", "--", "true"], 2, "ends with '/'"),
        (
            &["--data", "{nope", "/locks/x", "--", "true"],
            2,
            "not JSON",
        ),
        (
            &["--timeout", "5", "/locks/x", "--", "true"],
            2,
            "--timeout",
        ),
        (
            &["--max-holders", "0", "/locks/x", "--", "true"],
            2,
            "--max-holders",
        ),
        (
            &["--shared", "--max-holders", "2", "/locks/x", "--", "true"],
            2,
            "cannot be used with",
        ),
        (
            &["-n", "--timeout", "1s", "/locks/x", "--", "true"],
            2,
            "cannot be used with",
        ),
        (
            &["/locks/x", "-c", "true", "--", "true"],
            2,
            "cannot be used with",
        ),
    ];
    for (args, code, needle) in cases {
        let ran = lock().zk(&connect).run(args);
        assert_eq!(ran.code(), *code, "{args:?}: {}", ran.stderr());
        let stderr = ran.stderr();
        assert_eq!(
            stderr
                .lines()
                .filter(|l| l.starts_with("zk-lock: "))
                .count(),
            1,
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(needle),
            "{args:?}: expected {needle:?} in {stderr}"
        );
    }
    let zk = Zk::connect(&connect).unwrap();
    assert!(
        !zk.exists("/locks/x").unwrap() || zk.children("/locks/x").unwrap().is_empty(),
        "a stray node"
    );

    let unreachable =
        lock()
            .zk("127.0.0.1:1")
            .run(&["--connect-timeout", "1s", "/locks/x", "--", "true"]);
    assert_eq!(unreachable.code(), 69);

    // A command line the lock node cannot hold (--record-command) is
    // refused before connecting, not resent to ZooKeeper forever.
    let word = "x".repeat(127);
    let mut huge = vec![
        "--connect-timeout",
        "30s",
        "--record-command",
        "/locks/x",
        "--",
        "true",
    ];
    huge.extend(std::iter::repeat(word.as_str()).take(9000));
    let refused = lock().zk(&connect).run(&huge);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("jute.maxbuffer"),
        "{}",
        refused.stderr()
    );
    assert_eq!(refused.stderr().lines().count(), 1, "{}", refused.stderr());
    assert!(
        !zk.exists("/locks/x").unwrap() || zk.children("/locks/x").unwrap().is_empty(),
        "a stray node"
    );
}

#[test]
fn sigkilled_zk_lock_takes_its_command_with_it() {
    require_zookeeper!();
    let connect = shared().chroot("lock-sigkill");
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    let mut holder = lock().zk(&connect).spawn(&["/l", "-c", &script]);
    let command_pid: i32 = wait_for_file(&pid_file).trim().parse().unwrap();
    holder.signal(Signal::SIGKILL);
    holder.wait(T);
    // The parent-death signal is SIGKILL: the command is gone (or a zombie
    // waiting for init to reap it), not running on without the lock.
    let deadline = Instant::now() + T;
    loop {
        let state =
            std::fs::read_to_string(format!("/proc/{command_pid}/stat")).unwrap_or_default();
        let running = state
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'));
        if state.is_empty() || !running {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the command outlived a SIGKILLed zk-lock: {state}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A command that cannot run is refused before anything waits for
/// ZooKeeper: 127 or 126 at once, even with ZooKeeper unreachable.
#[test]
fn a_missing_or_unexecutable_command_fails_before_connecting() {
    for (command, code) in [
        ("/nonexistent", 127),
        ("no-such-command-zk", 127),
        ("/etc/passwd", 126),
        ("/etc", 126),
    ] {
        let ran =
            lock()
                .zk("127.0.0.1:1")
                .run(&["--connect-timeout", "30s", "/locks/x", "--", command]);
        assert_eq!(ran.code(), code, "{command}: {}", ran.stderr());
        assert!(ran.elapsed < Duration::from_secs(10), "{command} waited");
        assert_eq!(ran.stderr().lines().count(), 1, "{}", ran.stderr());
        assert!(ran.stderr().contains(command), "{}", ran.stderr());
    }
}

/// A proxy to the shared ensemble's first server, and the absolute path of
/// `connect`'s chroot: the tool is given the proxy with no chroot and paths
/// under that one, so its requests are exactly the ones a test counts.
fn proxy_without_chroot(connect: &str) -> (zk_testkit::Proxy, &str) {
    let server = shared().connect_string().split(',').next().unwrap();
    let proxy = zk_testkit::Proxy::start(server).unwrap();
    (proxy, &connect[connect.find('/').unwrap()..])
}

/// A create whose connection breaks before the server gets it: the client
/// cannot know whether its node exists, so it looks for it (Curator's
/// protected mode), finds none, and queues again on the same session,
/// instead of failing. Each create is checked: the queue node's, in an
/// existing directory and in a missing one (where looking finds no
/// directory at all), and the lock directory's (a container node).
#[test]
fn a_create_lost_with_its_connection_is_looked_for_and_made_again() {
    require_zookeeper!();
    let connect = shared().chroot("lock-create-lost");
    let zk = Zk::connect(&connect).unwrap();
    // Through a proxy, with no chroot in --zk, the tool's requests are
    // numbered: 0 connect, 1 the ping zookeeper-client sends once connected,
    // 2 the queue node's create, then (when the directory is missing) 3 the
    // directory's.
    let (proxy, chroot) = proxy_without_chroot(&connect);
    let cases = [
        ("queue-node", 2, true),
        ("queue-node-in-a-missing-directory", 2, false),
        ("lock-directory", 3, false),
    ];
    for (what, request, existing_dir) in cases {
        if existing_dir {
            zk.create_all(&format!("/{what}")).unwrap();
        }
        proxy.cut_before_request(request);
        let ran =
            lock()
                .zk(&proxy.address())
                .run(&[&format!("{chroot}/{what}"), "--", "echo", "ran"]);
        assert!(proxy.cut_done(), "{what}: the connection was never cut");
        assert_eq!(ran.code(), 0, "{what}: {}", ran.stderr());
        assert_eq!(ran.stdout(), "ran\n", "{what}");
        // No stray node (an empty directory the tool made may already be
        // reaped; the one the test made stays).
        let left = zk.children(&format!("/{what}"));
        assert!(left.is_ok() || !existing_dir, "{what}: {left:?}");
        assert!(left.unwrap_or_default().is_empty(), "{what}");
    }
}

/// A waiter whose connection breaks keeps its place: it reconnects on the
/// same session, keeps waiting, and runs its command once the holder leaves.
#[test]
fn a_waiter_whose_connection_breaks_keeps_waiting() {
    require_zookeeper!();
    let connect = shared().chroot("lock-waiter-cut");
    let (proxy, chroot) = proxy_without_chroot(&connect);
    let mut holder = lock().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let mut waiter =
        lock()
            .zk(&proxy.address())
            .spawn(&[&format!("{chroot}/l"), "--", "echo", "ran"]);
    wait_for_queue(&connect, "/l", 2);
    for _ in 0..3 {
        proxy.reset();
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_for_queue(&connect, "/l", 2);
    the_holder_leaves_and_the_waiter_runs(&mut holder, &mut waiter, "cut while waiting");
}

/// The holder lets go; the waiter (running `echo ran`) takes its turn.
fn the_holder_leaves_and_the_waiter_runs(holder: &mut Running, waiter: &mut Running, what: &str) {
    holder.close_stdin();
    assert_eq!(holder.wait(T).code(), Some(0));
    assert_eq!(
        waiter.next_line(T).map(|l| l.trim().to_string()).as_deref(),
        Some("ran"),
        "{what}: {}",
        waiter.stderr_so_far()
    );
    assert_eq!(
        waiter.wait(T).code(),
        Some(0),
        "{what}: {}",
        waiter.stderr_so_far()
    );
}

/// A read of the wait lost with its connection is asked again, not taken
/// for an answer or a failure: the listing that finds the waiter's place
/// (request 3: 0 connect, 1 ping, 2 the queue node's create) and the watch
/// on the node ahead (request 4) each fail with the connection here, and the
/// waiter must keep its place and run its command once the holder leaves.
#[test]
fn a_wait_whose_request_is_lost_with_its_connection_asks_again() {
    require_zookeeper!();
    let connect = shared().chroot("lock-wait-request-lost");
    let (proxy, chroot) = proxy_without_chroot(&connect);
    for (what, request) in [("listing", 3), ("watch", 4)] {
        let mut holder = lock().zk(&connect).spawn(&["/l"]);
        assert_eq!(holder.next_json(T)["event"], "acquired");
        proxy.cut_before_request(request);
        let mut waiter =
            lock()
                .zk(&proxy.address())
                .spawn(&[&format!("{chroot}/l"), "--", "echo", "ran"]);
        zk_testkit::wait_until("the cut", T, || proxy.cut_done());
        // Queued again after the cut, on the same session.
        wait_for_queue(&connect, "/l", 2);
        the_holder_leaves_and_the_waiter_runs(&mut holder, &mut waiter, what);
    }
}

/// The lease's first confirmation lost with its connection is no answer,
/// not a loss: the tool asks again until the grace runs out, and runs its
/// command once a round comes back. For a free lock in an existing
/// directory the requests are 0 connect, 1 ping, 2 the queue node's
/// create, 3 the listing that finds it first, then the round: 4 the
/// quorum write (a `multi` of one version check) and 5 the read after it.
/// The cut before 4 fails both with the connection; a tool that took that
/// for a loss, or gave up at the first unanswered round, would exit 79
/// without running anything.
#[test]
fn a_first_confirmation_lost_with_its_connection_is_asked_again() {
    require_zookeeper!();
    let connect = shared().chroot("lock-first-round-lost");
    Zk::connect(&connect).unwrap().create_all("/l").unwrap();
    let (proxy, chroot) = proxy_without_chroot(&connect);
    proxy.cut_before_request(4);
    let ran = lock()
        .zk(&proxy.address())
        .run(&[&format!("{chroot}/l"), "--", "echo", "ran"]);
    assert!(proxy.cut_done(), "the connection was never cut");
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(ran.stdout(), "ran\n", "{}", ran.stderr());
}

/// A round the ensemble refuses is a loss, not silence: someone takes READ
/// away from the holder's node (setAcl), so the version check of the
/// lease's quorum write fails with NoAuth. The holder must stop on that
/// refusal, not take it for "no answer" and run on until the lease's
/// deadline, reported as a session the leader has not confirmed (which
/// would send an operator looking at the network).
#[test]
fn a_holder_whose_round_is_refused_stops_on_the_refusal() {
    require_zookeeper!();
    let connect = shared().chroot("lock-round-refused");
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let mut holder = lock().zk(&connect).spawn(&[
        "--events",
        events.to_str().unwrap(),
        "/l",
        "--",
        "sleep",
        "60",
    ]);
    zk_testkit::wait_until("the holder acquired the lock", T, || {
        std::fs::read_to_string(&events).is_ok_and(|l| l.contains(r#""event":"acquired""#))
    });
    let zk = Zk::connect(&connect).unwrap();
    let node = zk.children("/l").unwrap().pop().expect("the holder's node");
    let admin_only = [zookeeper_client::Acl::new(
        zookeeper_client::Permission::ADMIN,
        zookeeper_client::AuthId::new("world", "anyone"),
    )];
    zk.block_on(
        zk.client()
            .set_acl(&format!("/l/{node}"), &admin_only, None),
    )
    .unwrap();
    let status = holder.wait(T);
    let log = std::fs::read_to_string(&events).unwrap_or_default();
    assert_eq!(status.code(), Some(79), "events:\n{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.contains(r#""event":"lost""#)
            && last.contains("ZooKeeper refused to confirm our ownership"),
        "a refused round was not named as such:\n{log}"
    );
}

/// A script that `resolve` finds executable can still fail to start: its
/// `#!` interpreter is missing (127, as env(1) reports it) or not
/// executable (126). The error names the cause in one line, and the lock
/// taken for it is let go.
#[test]
fn a_script_whose_interpreter_cannot_run_is_named_and_lets_go() {
    require_zookeeper!();
    let connect = shared().chroot("lock-bad-interpreter");
    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("not-executable");
    std::fs::write(&not_executable, "").unwrap();
    for (interpreter, code, cause) in [
        (
            "/nonexistent/sh",
            127,
            "command not found (or its #! interpreter)",
        ),
        (
            not_executable.to_str().unwrap(),
            126,
            "permission denied (a noexec mount, or its #! interpreter)",
        ),
    ] {
        let script = dir.path().join("script");
        std::fs::write(&script, format!("#!{interpreter}\necho ran\n")).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let ran = lock()
            .zk(&connect)
            .run(&["/l", "--", script.to_str().unwrap()]);
        assert_eq!(ran.code(), code, "{interpreter}: {}", ran.stderr());
        assert_eq!(
            ran.stderr().trim_end(),
            format!("zk-lock: {}: {cause}", script.display()),
            "{interpreter}"
        );
        assert_eq!(ran.stdout(), "", "{interpreter}");
    }
    let left = Zk::connect(&connect).unwrap().children("/l");
    assert!(
        left.unwrap_or_default().is_empty(),
        "a node was left behind"
    );
}

/// `--timeout` is the whole wait, as flock's `-w`: 0 tries once (a free
/// lock is taken, a busy one is 75 at once), and a server that accepts but
/// never answers is "not acquired within DUR", not unreachable after the
/// longer --connect-timeout.
#[test]
fn timeout_zero_tries_once_and_a_timeout_bounds_connecting() {
    require_zookeeper!();
    let connect = shared().chroot("lock-timeout-zero");
    let free = lock()
        .zk(&connect)
        .run(&["--timeout", "0s", "/l", "--", "true"]);
    assert_eq!(free.code(), 0, "{}", free.stderr());
    let mut holder = lock().zk(&connect).spawn(&["/l", "--", "sleep", "60"]);
    wait_for_queue(&connect, "/l", 1);
    let busy = lock()
        .zk(&connect)
        .run(&["--timeout", "0", "/l", "--", "true"]);
    assert_eq!(busy.code(), 75, "{}", busy.stderr());
    assert!(busy.stderr().contains("busy"), "{}", busy.stderr());
    holder.signal(Signal::SIGTERM);
    holder.wait(T);

    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let ran = lock().zk(&address).run(&[
        "--connect-timeout",
        "30s",
        "--timeout",
        "1s",
        "/l",
        "--",
        "true",
    ]);
    assert_eq!(ran.code(), 75, "{}", ran.stderr());
    assert!(
        ran.stderr().contains("timed out after 1s connecting"),
        "{}",
        ran.stderr()
    );
    assert_eq!(ran.stderr().lines().count(), 1, "{}", ran.stderr());
    let told = lock()
        .zk(&address)
        .run(&["--timeout", "1s", "-E", "9", "-q", "/l", "--", "true"]);
    assert_eq!(told.code(), 9, "{}", told.stderr());
}
